"""Circuit descriptions: JSON-ready dicts and text reports."""
import json

from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, build
from snarkgpt.plonk.describe import describe, format_text


def test_describe_without_assignment():
    cs = ConstraintSystem()
    Fibonacci.configure(cs)
    d = describe(cs)
    json.dumps(d)
    assert d["summary"]["advice_columns"] == 3 and d["summary"]["degree"] == 3
    assert [c["name"] for c in d["columns"]["advice"]] == ["a", "b", "c"]
    assert all(c["equality"] for c in d["columns"]["advice"])
    assert d["columns"]["fixed"][0] == {"name": "q_fib", "kind": "fixed", "index": 0,
                                        "role": "selector", "equality": False}
    (gate,) = d["gates"]
    assert gate["name"] == "fib" and gate["selector"] == "q_fib"
    assert gate["constraints"] == [{"name": "a + b = c", "expression": "a[0] + b[0] - c[0]", "degree": 2}]
    assert d["permutation"]["columns"] == ["a", "b", "c", "out"]
    assert "layout" not in d and "cost" not in d and d["summary"]["k"] is None
    build(Fibonacci(steps=4))                       # another cs: this one is unchanged
    assert describe(cs)["summary"]["k"] is None


def test_describe_after_synthesis_knows_k():
    cs, cfg, asg = build(Fibonacci(steps=20))
    d = describe(cs)
    assert d["summary"]["k"] == asg.k == 5 and d["summary"]["rows_used"] == 20
    assert d["cost"]["n"] == 32


def test_describe_with_assignment_and_lookups():
    cs, cfg, asg = build(MultiplyAccumulate.random(100, chunk=40))
    d = describe(cs, asg)
    json.dumps(d)
    assert d["layout"]["k"] == asg.k and d["layout"]["usable_rows"] == asg.usable_rows
    assert d["rows_per_region"] == {"mac.chunk.0": 41, "mac.chunk.1": 41, "mac.chunk.2": 21}
    assert [r["start"] for r in d["regions"]] == [0, 41, 82]
    assert [(lk["name"], lk["inputs"], lk["table"], lk["table_size"]) for lk in d["lookups"]] == [
        ("mac.range.a", ["a[0]"], "u8", 256), ("mac.range.b", ["b[0]"], "u8", 256)]
    assert d["tables"] == [{"name": "u8", "columns": ["u8[0]"], "lookups": ["mac.range.a", "mac.range.b"],
                            "size": 256}]
    assert d["permutation"]["copies"] == 3
    assert d["cost"]["degree"] == 3 and d["cost"]["quotient_cosets"] == 2


def test_describe_regions_truncated():
    cs, cfg, asg = build(Fibonacci(steps=30))
    d = describe(cs, asg, max_regions=10)
    assert len(d["regions"]) == 10 and d["regions_truncated"] == 20
    assert len(d["rows_per_region"]) == 30


def test_format_text():
    cs, cfg, asg = build(ProductCheck([1, 2], [3, 4]))
    text = format_text(describe(cs, asg))
    for piece in ["Constraint system", "rpow", "r: squeezed after phase 0",
                  "product.step (selector q_step, degree 4)",
                  "acc' = acc + rpow * (c - a * b):  acc[1] - acc[0] - rpow[0] * (c[0] - a[0] * b[0]) = 0",
                  "Rows per region", "product  3", "Estimated cost"]:
        assert piece in text, piece
    text = format_text(describe(*build(MultiplyAccumulate.random(10))[::2]))
    assert "mac.range.a: (a[0]) in u8, 256 rows when q_range != 0" in text
