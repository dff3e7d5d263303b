"""Completeness of the PLONKish proof system on the example circuits, zero knowledge smoke
test, verifying-key encoding, prover stage timings."""
import numpy as np
import pytest

from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck
from snarkgpt.plonk.keygen import KeyFormatError, VerifyingKey, keygen
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
