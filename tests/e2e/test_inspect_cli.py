"""`snarkgpt inspect`: example circuits and model circuits, as text and JSON."""
import json

from snarkgpt.cli import main

TINY = "random:n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8,seed=1"


def test_inspect_example_circuit(capsys):
    assert main(["inspect", "--circuit", "fibonacci"]) == 0
    out = capsys.readouterr().out
    assert "Gates" in out and "fib" in out and "Permutation" in out
    assert main(["inspect", "--circuit", "range", "--json"]) == 0
    desc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert desc["lookups"] and desc["columns"]


def test_inspect_model_circuit_names_ops(capsys):
    assert main(["inspect", "--model", TINY, "--json"]) == 0
    desc = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    text = json.dumps(desc)
    for op in ("embed", "h.0.attn.softmax", "h.0.mlp.gelu", "lm_head", "generate.argmax",
               "generate.bind"):
        assert op in text, op


def test_inspect_bad_input(capsys):
    assert main(["inspect", "--circuit", "nope"]) == 2
    assert "unknown circuit" in capsys.readouterr().err
    assert main(["inspect", "--model", "random:n_layer=x"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snarkgpt:") and "Traceback" not in err


def test_every_example_circuit_inspects(capsys):
    from snarkgpt.cli import EXAMPLES
    for name in EXAMPLES:
        assert main(["inspect", "--circuit", name]) == 0, name
    capsys.readouterr()
