"""The proof's binary format: round trip and strict parsing."""
import numpy as np
import pytest

from snarkgpt.field import FR_MODULUS
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.proof import HEADER, Proof, ProofFormatError, proof_size
from snarkgpt.plonk.prover import prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import parse_proof, verify, verify_or_raise

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")


@pytest.fixture(scope="module")
def made():
    srs = SRS.dev(2 ** 5 + 1, seed=b"format-tests")
    circuit = Fibonacci(steps=5)
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(2))
    return circuit, vk, proof


def test_round_trip(made):
    circuit, vk, proof = made
    lay = vk.layout
    assert len(proof) == proof_size(lay.commitment_count(), len(lay.queries), len(lay.rotations))
    parsed = parse_proof(vk, proof)
    assert parsed.to_bytes() == proof
    assert proof[:4] == b"SGPF"


def _reject(vk, inst, data, match):
    with pytest.raises(ProofFormatError, match=match):
        verify_or_raise(vk, inst, data)
    assert not verify(vk, inst, data)


def test_truncated_and_extended(made):
    circuit, vk, proof = made
    inst = circuit.instances()
    _reject(vk, inst, proof[:-1], "truncated")
    _reject(vk, inst, proof[:HEADER], "truncated")
    _reject(vk, inst, proof + b"\0", "extra bytes")
    _reject(vk, inst, b"", "magic")
    _reject(vk, inst, b"SGPX" + proof[4:], "magic")
    _reject(vk, inst, proof[:4] + b"\x02\x00" + proof[6:], "version")


def test_non_canonical_scalar(made):
    circuit, vk, proof = made
    lay = vk.layout
    off = HEADER + 32 * lay.commitment_count()
    v = int.from_bytes(proof[off:off + 32], "little") + FR_MODULUS
    if v < 1 << 256:
        bad = proof[:off] + v.to_bytes(32, "little") + proof[off + 32:]
        _reject(vk, circuit.instances(), bad, f"evaluation 0 at byte {off}.*canonical")
    bad = proof[:off] + b"\xff" * 32 + proof[off + 32:]
    _reject(vk, circuit.instances(), bad, "canonical")


def test_bad_points(made):
    circuit, vk, proof = made
    inst = circuit.instances()
    # flag bits 0b00 (uncompressed) are not valid in a compressed point
    bad = bytearray(proof)
    bad[HEADER] &= 0x3F
    _reject(vk, inst, bytes(bad), "commitment 0 at byte 6")
    # an x that is not on the curve (x^3 + 3 a non-square): try small x until one is off
    from snarkgpt.curve import g1
    for x in range(1, 50):
        raw = bytearray(x.to_bytes(32, "big"))
        raw[0] |= 0x80
        try:
            g1.decompress(bytes(raw), 1)
        except ValueError:
            break
    lay = vk.layout
    off = HEADER + 32 * (lay.commitment_count() + len(lay.queries))
    bad = proof[:off] + bytes(raw) + proof[off + 32:]
    _reject(vk, inst, bad, f"opening proof 0 at byte {off}.*curve")
    # a non-canonical infinity encoding
    bad = proof[:HEADER] + b"\x40" + b"\x00" * 30 + b"\x01" + proof[HEADER + 32:]
    _reject(vk, inst, bad, "infinity")


def test_proof_object(made):
    circuit, vk, proof = made
    p = parse_proof(vk, proof)
    assert isinstance(p, Proof) and all(0 <= v < FR_MODULUS for v in p.evaluations)
    with pytest.raises(ProofFormatError):
        Proof.from_bytes(proof, len(p.commitments) + 1, len(p.evaluations), len(p.openings))
