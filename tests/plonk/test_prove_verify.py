"""Completeness of the PLONKish proof system on the example circuits, zero knowledge smoke
test, verifying-key encoding, prover stage timings."""
import numpy as np
import pytest

from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck
from snarkgpt.plonk.description import KeyFormatError
from snarkgpt.plonk.keygen import VerifyingKey, keygen
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import verify, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")


@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 9 + 1, seed=b"plonk-tests")


def setup(srs, circuit):
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    return cs, cfg, pk, vk


CIRCUITS = {
    "fibonacci": lambda: Fibonacci(steps=10, a0=2, b0=3),
    "range_shared_table": lambda: RangeCheck([0, 5, 17, 255, 3], [1, 1, 200], bits=7 + 1),
    "product_two_phases": lambda: ProductCheck([1, 2, 3, -4, 5], [6, 7, -8, 9, 10]),
    "mac": lambda: MultiplyAccumulate.random(40, seed=3, chunk=16),
}


@pytest.mark.parametrize("name", sorted(CIRCUITS))
def test_complete(srs, name):
    circuit = CIRCUITS[name]()
    cs, cfg, pk, vk = setup(srs, circuit)
    stats = {}
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(0), stats=stats)
    verify_or_raise(vk, circuit.instances(), proof)
    assert verify(vk, circuit.instances(), proof)
    for stage in ("witness", "commit phase 0", "lookups", "permutation", "quotient",
                  "evaluations", "openings"):
        assert stage in stats
    if name == "product_two_phases":
        assert "commit phase 1" in stats


def test_zero_knowledge_smoke(srs):
    circuit = Fibonacci(steps=6)
    cs, cfg, pk, vk = setup(srs, circuit)
    p1 = prove(pk, circuit, cfg)          # OS randomness
    p2 = prove(pk, circuit, cfg)
    assert p1 != p2 and len(p1) == len(p2)
    assert verify(vk, circuit.instances(), p1) and verify(vk, circuit.instances(), p2)
    # a seeded generator reproduces the proof exactly
    p3 = prove(pk, circuit, cfg, rng=np.random.default_rng(7))
    p4 = prove(pk, circuit, cfg, rng=np.random.default_rng(7))
    assert p3 == p4


def test_verifying_key_bytes(srs):
    circuit = MultiplyAccumulate.random(20, seed=1, chunk=8)
    cs, cfg, pk, vk = setup(srs, circuit)
    data = vk.to_bytes()
    vk2 = VerifyingKey.from_bytes(data)
    assert vk2.to_bytes() == data and vk2.digest() == vk.digest()
    # the decoded key verifies the same proofs
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(1))
    assert verify(vk2, circuit.instances(), proof)
    # digest is stable across key generations and differs between circuits
    _, _, _, vk3 = setup(srs, MultiplyAccumulate.random(20, seed=1, chunk=8))
    assert vk3.digest() == vk.digest()
    _, _, _, vk4 = setup(srs, Fibonacci(steps=4))
    assert vk4.digest() != vk.digest()
    for bad, msg in [(data[:-1], "truncated"), (data + b"\0", "trailing"),
                     (b"XXXX" + data[4:], "magic"), (data[:4] + b"\x09\x00" + data[6:], "version")]:
        with pytest.raises(KeyFormatError, match=msg):
            VerifyingKey.from_bytes(bad)


def test_prover_refuses_other_fixed_columns(srs):
    circuit = RangeCheck([1, 2, 3], bits=8)
    cs, cfg, pk, vk = setup(srs, circuit)
    other = RangeCheck([1, 2, 3, 4, 5, 6], bits=8)     # selectors on more rows
    with pytest.raises(ProverError, match="fixed column"):
        prove(pk, other, cfg)


class SquaresWithChallenge:
    """(a, b) in the 2-column table {(x, x^2)} (a tuple lookup: theta compression), and a
    phase-1 column c = a * r for a challenge r (gate "scale"); the sum of c is not public."""

    def __init__(self, a):
        self.a = list(a)

    def configure(self, cs):
        a, b = cs.advice_column("a"), cs.advice_column("b")
        r = cs.challenge(after_phase=0, name="r")
        c = cs.advice_column("c", phase=1)
        q = cs.selector("q")
        table = cs.lookup_table("squares", ["x", "x2"])
        cs.lookup("square", [a.cur(), b.cur()], table, selector=q)
        cs.create_gate("scale", [("c = a r", c.cur() - a.cur() * r)], selector=q)
        return dict(a=a, b=b, c=c, r=r, q=q, table=table)

    def instances(self):
        return []

    def synthesize(self, cfg, layouter):
        xs = np.arange(16, dtype=np.int64)

        def fill(t):
            t.assign_column(cfg["table"].columns[0], xs)
            t.assign_column(cfg["table"].columns[1], xs * xs)
        layouter.assign_table("squares", fill)
        a = np.array(self.a, dtype=np.int64)

        def region(reg):
            reg.assign_advice_column(cfg["a"], 0, a)
            reg.assign_advice_column(cfg["b"], 0, a * a)
            reg.enable_selector(cfg["q"], 0, len(a))

            def phase1(reg, ch):
                from snarkgpt.field import FR_MODULUS
                reg.assign_advice_column(cfg["c"], 0, np.array(
                    [int(v) * ch[cfg["r"]] % FR_MODULUS for v in a], dtype=object))
            reg.after_challenges(phase1, phase=1)
        layouter.assign_region("squares", region)


def test_tuple_lookup_and_phase1(srs):
    circuit = SquaresWithChallenge([3, 0, 15, 3, 7])
    cs, cfg, pk, vk = setup(srs, circuit)
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(4))
    verify_or_raise(vk, [], proof)

    def tamper(asg, phase):
        if phase == 0:
            asg.set_cell(cfg["b"], 1, 1)       # (0, 1) is not a row of the table
    with pytest.raises(ValueError, match="square"):
        prove(pk, circuit, cfg, tamper=tamper)
    assert not verify(vk, [], prove(pk, circuit, cfg, tamper=tamper, check=False))


@pytest.mark.slow
def test_k16_mac():
    import time
    k = 16
    srs = SRS.dev((1 << k) + 1)
    circuit = MultiplyAccumulate.random((1 << k) - 64, seed=2, chunk=4096)
    cs, cfg, pk, vk = setup(srs, circuit)
    stats = {}
    t = time.perf_counter()
    proof = prove(pk, circuit, cfg, stats=stats)
    print(f"k=16 prove {time.perf_counter() - t:.2f}s", stats, len(proof))
    assert verify(vk, circuit.instances(), proof)


class _FibonacciWithSpareColumn(Fibonacci):
    """Fibonacci plus an equality-enabled advice column that carries no copy constraint."""

    def configure(self, cs):
        cfg = super().configure(cs)
        cs.enable_equality(cs.advice_column("spare"))
        return cfg


def test_columns_without_copies_leave_the_permutation(srs):
    circuit = _FibonacciWithSpareColumn(steps=10, a0=2, b0=3)
    cs, cfg, pk, vk = setup(srs, circuit)
    names = [c.name for c in vk.desc.permutation]
    assert "spare" not in names and len(names) == len(cs.permutation_columns) - 1
    proof = prove(pk, circuit, cfg)
    assert verify(vk, circuit.instances(), proof)
    # the copies that remain are still enforced: a wrong public output is rejected
    bad = [list(col) for col in circuit.instances()]
    bad[0][-1] += 1
    assert not verify(vk, bad, proof)


@pytest.mark.parametrize("degree", [4, 5, 6])
def test_higher_degree_packs_the_permutation_and_still_proves(srs, degree):
    """Proving at degree D puts D - 2 columns in each grand product; the quotient then has
    D - 1 pieces, computed on D - 1 cosets (not a power of two for D = 4 and 6)."""
    circuit = CIRCUITS["mac"]()
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg, degree=degree)
    lay = vk.layout
    M = len(vk.desc.permutation)
    assert lay.chunk == degree - 2 and len(lay.z_cols) == -(-M // (degree - 2))
    # (the layout's degree is that of its largest constraint: at most D)
    assert lay.quotient_pieces == lay.degree - 1 and 3 <= lay.degree <= degree
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(degree))
    verify_or_raise(vk, circuit.instances(), proof)
    bad = [list(col) for col in circuit.instances()]
    bad[0][0] = (bad[0][0] + 1)
    assert not verify(vk, bad, proof)
    flipped = bytearray(proof)
    flipped[len(flipped) // 2] ^= 1
    assert not verify(vk, circuit.instances(), bytes(flipped))
    with pytest.raises(Exception):
        keygen(srs, cs, circuit, cfg, degree=2)


def test_choose_degree_trades_grand_products_for_quotient_cosets():
    from snarkgpt.plonk.circuit import choose_degree
    # few copy-carrying columns: degree 3 (one more coset would cost more than it saves)
    assert choose_degree(3, 3, 10) == 3
    # the model circuits: many columns with copies and logUp helpers (tiny: 29 copy columns,
    # 33 fractions; base at 64 tokens: 177 copy columns, 66 fractions), two fractions per
    # helper at degree 4, three at degree 5: degree 4 (measured fastest on the base model)
    tiny = {3: 33, 4: 17, 5: 11}
    assert choose_degree(3, 29, 135, tiny.get) == 4
    base = {3: 66, 4: 33, 5: 22}
    assert choose_degree(3, 177, 508, base.get) == 4
    # without helpers, a few copy columns do not pay for a fourth coset
    assert choose_degree(3, 29, 170) == 3
    # never below the circuit's own degree
    assert choose_degree(5, 0, 10) == 5


def test_batched_lagrange_values_match_the_closed_form():
    """The verifier's L_i(x) for many rows with one inversion (Domain.lagranges_at) equals
    the one-row formula omega^i (x^n - 1) / (n (x - omega^i)), sums to 1 over the whole
    domain, and is the unit vector on the domain."""
    from snarkgpt.field import FR_MODULUS as P
    from snarkgpt.field import Fr
    from snarkgpt.field.domain import Domain
    dom = Domain(4)
    x = 1234567
    zh = (pow(x, dom.n, P) - 1) % P
    # gaps, runs, a repeated row and rows out of order (omega^i is stepped from row to row)
    for rows in ([0, 3, 7, 15], [2, 3, 4, 9, 10, 10, 1, 0, 14]):
        one_by_one = [pow(dom.omega, i, P) * zh * pow(dom.n * (x - pow(dom.omega, i, P)), -1, P)
                      % P for i in rows]
        assert Fr.to_ints(dom.lagranges_at(rows, x)) == one_by_one
        assert one_by_one == [dom.lagrange_at(i, x) for i in rows]
    assert sum(Fr.to_ints(dom.lagranges_at(range(dom.n), x))) % P == 1
    assert dom.lagranges_at([], x).shape == (0, 4)
    # x = omega^5 lies in the domain: L_i(x) = [i == 5]
    assert Fr.to_ints(dom.lagranges_at([5, 0, 5, 15], dom.element(5))) == [1, 0, 1, 0]


def test_keygen_against_a_published_key(srs):
    """Rebuilding a proving key against its published verifying key reuses the key's
    commitments after one batched check: the same key comes out and proves; a published key
    with one commitment changed, or for another circuit, is refused."""
    from snarkgpt.curve import g1
    from snarkgpt.plonk.circuit import CircuitError
    from snarkgpt.plonk.keygen import matches_commitments
    circuit = CIRCUITS["mac"]()
    cs, cfg, pk, vk = setup(srs, circuit)
    cs2 = ConstraintSystem()
    cfg2 = circuit.configure(cs2)
    pk2, vk2 = keygen(srs, cs2, circuit, cfg2, published=vk)
    assert vk2.digest() == vk.digest()
    proof = prove(pk2, circuit, cfg2, rng=np.random.default_rng(1))
    assert verify(vk, circuit.instances(), proof)

    for which in ("fixed", "sigma"):
        bad = VerifyingKey.from_bytes(vk.to_bytes())
        comms = bad.fixed_commitments if which == "fixed" else bad.sigma_commitments
        comms[0] = g1.add(comms[0], g1.generator())
        cs_bad = ConstraintSystem()
        with pytest.raises(CircuitError, match="do not open to the published key"):
            keygen(srs, cs_bad, circuit, circuit.configure(cs_bad), published=bad)
    # columns and commitments that differ only in order, or in number
    cols = [pk.fixed_values[i] for i in range(len(pk.fixed_values))]
    comms = vk.fixed_commitments
    k = vk.layout.desc.k
    assert matches_commitments(srs, k, cols, comms)
    j = next(j for j in range(1, len(cols)) if not np.array_equal(cols[0], cols[j]))
    swapped = list(cols)
    swapped[0], swapped[j] = cols[j], cols[0]
    assert not matches_commitments(srs, k, swapped, comms)
    assert not matches_commitments(srs, k, cols[:-1], comms)
    other = CIRCUITS["fibonacci"]()
    cs3 = ConstraintSystem()
    with pytest.raises(CircuitError, match="do not open to the published key"):
        keygen(srs, cs3, other, other.configure(cs3), published=vk)


@pytest.mark.parametrize("name", ["mac", "product_two_phases"])
def test_ifma_and_scalar_quotients_give_the_same_proof(srs, name, monkeypatch):
    """The AVX-512 IFMA path (batched transforms, x16 evaluator) and the scalar path compute
    the same quotient: with the same randomness the proofs are byte for byte equal. On a CPU
    without IFMA both runs take the scalar path (and the comparison is trivially equal)."""
    circuit = CIRCUITS[name]()
    cs, cfg, pk, vk = setup(srs, circuit)
    proofs = {}
    for flag in ("0", "1"):
        monkeypatch.setenv("SNARKGPT_IFMA", flag)
        proofs[flag] = prove(pk, circuit, cfg, rng=np.random.default_rng(4))
        assert verify(vk, circuit.instances(), proofs[flag])
    assert proofs["0"] == proofs["1"]
    # a flipped bit in the last opening proof is still rejected
    bad = bytearray(proofs["1"])
    bad[-40] ^= 1
    assert not verify(vk, circuit.instances(), bytes(bad))
