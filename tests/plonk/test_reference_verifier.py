"""The plain reference verifier (snarkgpt/plonk/reference_verifier.py) against the fast one:
both accept every honest proof and both reject tampered proofs, wrong public inputs and
proofs for another key; the transcript challenges agree; its G1 and pairing arithmetic agree
with curve/."""
import random
import time
from dataclasses import dataclass

import numpy as np
import pytest

from snarkgpt.curve import g1, g2
from snarkgpt.curve import pairing as project_pairing
from snarkgpt.curve.msm import msm
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.plonk import reference_verifier as ref
from snarkgpt.plonk import transcript as transcript_mod
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci, MultiplyAccumulate, ProductCheck, RangeCheck
from snarkgpt.plonk.expression import Column, Selector
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.proof import HEADER
from snarkgpt.plonk.prover import prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import verify, verify_or_raise
from snarkgpt.plonk.reference_verifier import (ReferenceVerificationError, verify_reference,
                                               verify_reference_bool)

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")
P = FR_MODULUS


# ---------------------------------------------------------------------------------------
# The arithmetic
# ---------------------------------------------------------------------------------------
def test_g1_arithmetic_and_decompression():
    rnd = random.Random(1)
    scalars = [rnd.randrange(P) for _ in range(6)] + [1, P - 1]
    pts = g1.scalar_mul(np.stack([g1.generator()] * len(scalars)), scalars)
    expected = g1.to_affine_ints(pts)
    assert [ref.g1_msm([(ref.G1_GEN, s)]) for s in scalars] == expected
    # compressed bytes (curve/g1.py's encoding) decode to the same points, infinity included
    data = g1.compress(np.concatenate([pts, g1.identity(1)]))
    words = [data[i:i + 32] for i in range(0, len(data), 32)]
    assert [ref.g1_decompress(w) for w in words] == expected + [None]
    # a multi-scalar multiplication, with a repeated point and a point and its negative
    pts_i = expected + [expected[0], (expected[1][0], -expected[1][1] % ref.Q)]
    sc = [rnd.randrange(P) for _ in pts_i]
    want = g1.to_affine_ints(msm(g1.from_affine_ints(pts_i), Fr.from_ints(sc)))[0]
    assert ref.g1_msm(list(zip(pts_i, sc))) == want
    assert ref.g1_msm([(expected[0], 1), (expected[0], P - 1)]) is None
    # what the project's decoder refuses, the reference refuses too
    bad = [b"\x00" + words[0][1:],                      # uncompressed flag
           b"\x40" + b"\x00" * 30 + b"\x01",             # infinity with a non-zero body
           b"\xbf" + b"\xff" * 31]                       # x >= q
    for word in bad:
        with pytest.raises(ValueError):
            g1.decompress(word, 1)
        with pytest.raises(ValueError):
            ref.g1_decompress(word)


def test_g1_decompress_refuses_x_off_the_curve():
    for x in range(1, 50):
        word = bytes([0x80]) + x.to_bytes(31, "big")
        try:
            g1.decompress(word, 1)
            ok = True
        except ValueError:
            ok = False
        if ok:
            assert ref.g1_decompress(word)[0] == x
        else:
            with pytest.raises(ValueError, match="not on the curve"):
                ref.g1_decompress(word)


def test_pairing_matches_the_project_pairing():
    rnd = random.Random(2)
    a, b = rnd.randrange(1, P), rnd.randrange(1, P)
    Pa = g1.scalar_mul(g1.generator(), a)
    Qb = g2.scalar_mul(g2.generator(), b)
    x0, x1, y0, y1 = g2.to_affine_ints(Qb)[0]
    mine = ref.pairing(g1.to_affine_ints(Pa)[0], ((x0, x1), (y0, y1)))
    theirs = project_pairing.gt_to_py_ecc(project_pairing.pairing(Pa, Qb), optimized=False)
    assert mine == [int(c) for c in theirs.coeffs]
    # e(aG, bH) e(-abG, H) = 1, and not with ab + 1
    G, H = ref.G1_GEN, ((g2.GEN_INTS[0], g2.GEN_INTS[1]), (g2.GEN_INTS[2], g2.GEN_INTS[3]))
    aG = ref.g1_msm([(G, a)])
    Qb_ref = ((x0, x1), (y0, y1))
    assert ref.pairing_check([(aG, Qb_ref), (ref.g1_msm([(G, -a * b)]), H)])
    assert not ref.pairing_check([(aG, Qb_ref), (ref.g1_msm([(G, -a * b - 1)]), H)])
    assert ref.pairing_check([(None, H), (aG, None)])


# ---------------------------------------------------------------------------------------
# Proofs
# ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def srs():
    return SRS.dev(2 ** 9 + 1, seed=b"reference-verifier")


@pytest.fixture(scope="module")
def other_srs():
    return SRS.dev(2 ** 9 + 1, seed=b"reference-verifier-other")


def _keys(srs, circuit):
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    return cfg, pk, vk


def _agree(vk, instances, proof, expected: bool, match: str | None = None):
    """Both verifiers give ``expected``; a rejection's reason matches ``match``."""
    assert verify(vk, instances, proof) is expected
    if expected:
        verify_reference(vk, instances, proof)
    else:
        with pytest.raises(ReferenceVerificationError, match=match):
            verify_reference(vk, instances, proof)


def _flip(proof: bytes, at: int, mask: int) -> bytes:
    b = bytearray(proof)
    b[at] ^= mask
    return bytes(b)


def _flip_decodable(proof: bytes, at: int) -> bytes:
    """A flip of the low bits of the 32-byte point at ``at`` that still decodes to a curve
    point (so the rejection comes from the pairing, not from the parser)."""
    for byte in range(31, 0, -1):
        for bit in range(8):
            out = _flip(proof, at + byte, 1 << bit)
            try:
                g1.decompress(out[at:at + 32], 1)
                return out
            except ValueError:
                continue
    raise AssertionError("no decodable flip")      # pragma: no cover


def _offsets(vk):
    lay = vk.layout
    C, E = lay.commitment_count(), lay.evaluation_count()
    return HEADER, HEADER + 32 * C, HEADER + 32 * (C + E), C, E


def _tampered(vk, proof):
    """(name, tampered proof, the reason the reference verifier gives)."""
    start, ev, op, C, E = _offsets(vk)
    comm = start + 32 * vk.layout.committed_points           # the first advice commitment
    first_eval = ev + 32 * vk.layout.committed_scalars      # the opened values
    last_comm = start + 32 * (C - 1)                        # a quotient piece
    return [
        ("commitment negated", _flip(proof, comm, 0x40), "opening proofs"),
        ("commitment low bits", _flip_decodable(proof, comm), "opening proofs"),
        ("quotient piece", _flip_decodable(proof, last_comm), "opening proofs"),
        ("commitment off the curve", _undecodable(proof, comm + 32), "commitment"),
        ("evaluation", _flip(proof, first_eval, 0x01), "opening proofs"),
        ("last evaluation", _flip(proof, op - 32, 0x04), "opening proofs"),
        ("evaluation not canonical", _flip(proof, first_eval + 31, 0xF0), "canonical"),
        ("opening proof", _flip_decodable(proof, op), "opening proofs"),
        ("opening proof negated", _flip(proof, op + 32 * (len(vk.layout.rotations) - 1), 0x40),
         "opening proofs"),
        ("truncated", proof[:-1], "expects exactly"),
        ("extended", proof + b"\0", "expects exactly"),
        ("magic", b"XXXX" + proof[4:], "magic"),
    ]


def _undecodable(proof: bytes, at: int) -> bytes:
    for byte in range(31, 0, -1):
        for bit in range(8):
            out = _flip(proof, at + byte, 1 << bit)
            try:
                g1.decompress(out[at:at + 32], 1)
            except ValueError:
                return out
    raise AssertionError("every flip decodes")     # pragma: no cover


def _other_instances(instances):
    out = [list(c) for c in instances]
    out[0][-1] = (out[0][-1] + 1) % P
    return out


CIRCUITS = {
    "fibonacci": lambda: Fibonacci(steps=10, a0=2, b0=3),
    "range_shared_table": lambda: RangeCheck([0, 5, 17, 255, 3], [1, 1, 200], bits=8),
    "product_two_phases": lambda: ProductCheck([1, 2, 3, -4, 5], [6, 7, -8, 9, 10]),
    "mac": lambda: MultiplyAccumulate.random(40, seed=3, chunk=16),
}


@pytest.fixture(scope="module", params=sorted(CIRCUITS))
def example(request, srs):
    circuit = CIRCUITS[request.param]()
    cfg, pk, vk = _keys(srs, circuit)
    proof = prove(pk, circuit, cfg, rng=np.random.default_rng(0))
    return request.param, circuit, cfg, pk, vk, proof


def test_accepts_honest_proofs(example):
    name, circuit, cfg, pk, vk, proof = example
    verify_or_raise(vk, circuit.instances(), proof)
    verify_reference(vk, circuit.instances(), proof)
    assert verify_reference_bool(vk, circuit.instances(), proof)
    assert not verify_reference_bool(vk, circuit.instances(), proof[:-1])
    again = prove(pk, circuit, cfg)               # OS randomness: other bytes, still valid
    assert again != proof
    _agree(vk, circuit.instances(), again, True)


def test_rejects_tampered_proofs(example):
    name, circuit, cfg, pk, vk, proof = example
    for what, bad, reason in _tampered(vk, proof):
        assert bad != proof, what
        _agree(vk, circuit.instances(), bad, False, reason)


def test_rejects_wrong_public_inputs(example):
    name, circuit, cfg, pk, vk, proof = example
    inst = circuit.instances()
    if not inst:                 # ProductCheck has no public inputs
        _agree(vk, [[1]], proof, False, "instance columns")
        return
    _agree(vk, _other_instances(inst), proof, False, "opening proofs")
    _agree(vk, [list(c) + [0] for c in inst], proof, False, "has .* values")
    _agree(vk, [], proof, False, "instance columns")


def test_rejects_a_proof_for_another_key(example, other_srs):
    name, circuit, cfg, pk, vk, proof = example
    _, _, vk_other = _keys(other_srs, CIRCUITS[name]())     # same circuit, another setup
    assert vk_other.digest() != vk.digest()
    _agree(vk_other, circuit.instances(), proof, False, "opening proofs")
    if name != "fibonacci":                                 # another circuit, another shape
        _, _, vk_fib = _keys(other_srs, Fibonacci(steps=10, a0=2, b0=3))
        _agree(vk_fib, circuit.instances(), proof, False, None)


def test_rejects_a_broken_witness(srs):
    circuit = Fibonacci(steps=8)
    cfg, pk, vk = _keys(srs, circuit)

    def tamper(asg, phase):
        if phase == 0:
            asg.set_cell(cfg.c, 3, 1000)          # a + b != c on row 3
    bad = prove(pk, circuit, cfg, check=False, tamper=tamper)
    _agree(vk, circuit.instances(), bad, False, "opening proofs")


def _record_challenges(monkeypatch):
    seen = []
    orig = transcript_mod.Transcript.challenge

    def challenge(self, label):
        v = orig(self, label)
        seen.append((label, v))
        return v
    monkeypatch.setattr(transcript_mod.Transcript, "challenge", challenge)
    return seen


def test_challenges_agree_with_the_fast_verifier(example, monkeypatch):
    name, circuit, cfg, pk, vk, proof = example
    seen = _record_challenges(monkeypatch)
    verify_or_raise(vk, circuit.instances(), proof)
    fast = list(seen)
    seen.clear()
    verify_reference(vk, circuit.instances(), proof)
    assert seen == fast and [lbl for lbl, _ in fast][-3:] == ["x", "kzg.v", "kzg.u"]


# ---------------------------------------------------------------------------------------
# Committed columns
# ---------------------------------------------------------------------------------------
@dataclass
class _DotConfig:
    a: Column
    acc: Column
    w: Column
    io: Column
    q_first: Selector
    q_step: Selector


class CommittedDot:
    """acc_i = sum_{t <= i} a_t w_t with w a committed column (private weights); the a_t and
    the result are public (copied from the instance column)."""

    def __init__(self, xs, w):
        self.xs, self.w = np.asarray(xs, np.int64), np.asarray(w, np.int64)

    def instances(self):
        return [[int(x) % P for x in self.xs] + [int(np.sum(self.xs * self.w)) % P]]

    @staticmethod
    def configure(cs):
        a, acc, w = cs.advice_column("a"), cs.advice_column("acc"), cs.committed_column("w")
        io = cs.instance_column("io")
        for c in (a, acc, io):
            cs.enable_equality(c)
        q_first, q_step = cs.selector("q_first"), cs.selector("q_step")
        cs.create_gate("first", [acc.cur() - a.cur() * w.cur()], selector=q_first)
        cs.create_gate("step", [acc.cur() - acc.prev() - a.cur() * w.cur()], selector=q_step)
        return _DotConfig(a, acc, w, io, q_first, q_step)

    def synthesize(self, cfg, layouter):
        m = len(self.xs)

        def region(reg):
            a = reg.assign_advice_column(cfg.a, 0, self.xs)
            reg.assign_fixed_column(cfg.w, 0, self.w)
            acc = reg.assign_advice_column(cfg.acc, 0, np.cumsum(self.xs * self.w))
            reg.enable_selector(cfg.q_first, 0)
            reg.enable_selector(cfg.q_step, 1, m - 1)
            for t in range(m):
                reg.constrain_instance(a[t], cfg.io, t)
            reg.constrain_instance(acc[m - 1], cfg.io, m)
        layouter.assign_region("dot", region)


@pytest.fixture(scope="module")
def committed(srs):
    circuit = CommittedDot([5, -2, 7, 0, 11, 3], [3, 1, 4, 1, 5, 9])
    cfg, pk, vk = _keys(srs, circuit)
    assert vk.layout.committed and vk.blinding_basis is not None
    return circuit, cfg, pk, vk, prove(pk, circuit, cfg, rng=np.random.default_rng(1))


def test_committed_columns(committed, srs, monkeypatch):
    circuit, cfg, pk, vk, proof = committed
    inst = circuit.instances()
    _agree(vk, inst, proof, True)
    _agree(vk, inst, prove(pk, circuit, cfg), True)          # re-randomized: valid again
    lay = vk.layout
    comm, ev, *_ = _offsets(vk)
    # the re-randomization D_0, the proof-of-knowledge point A and response z_0
    _agree(vk, inst, _flip_decodable(proof, comm), False, "re-randomization")
    _agree(vk, inst, _flip_decodable(proof, comm + 32 * (lay.committed_points - 1)), False,
           "re-randomization")
    _agree(vk, inst, _flip(proof, ev, 0x01), False, "re-randomization")
    for what, bad, reason in _tampered(vk, proof):
        _agree(vk, inst, bad, False, reason)
    # the instances come first in the transcript: the representation proof's challenges
    # change, and that check (before the openings) fails first
    _agree(vk, _other_instances(inst), proof, False, "re-randomization")
    # the same weights committed again (fresh setup blinding): another key
    _, _, vk2 = _keys(srs, CommittedDot(circuit.xs, circuit.w))
    assert vk2.digest() != vk.digest()
    _agree(vk2, inst, proof, False, "re-randomization|opening proofs")
    seen = _record_challenges(monkeypatch)
    verify_or_raise(vk, inst, proof)
    fast = list(seen)
    seen.clear()
    verify_reference(vk, inst, proof)
    assert seen == fast and fast[0][0] == "committed.alpha"


# ---------------------------------------------------------------------------------------
# The tiny model: a generation statement
# ---------------------------------------------------------------------------------------
TINY = "n_layer=1,n_head=1,n_embd=4,block_size=4,vocab_size=8"
quiet = dict(progress=lambda *a: None)


def _model(tmp_path_factory, spec, weights="fixed"):
    from snarkgpt.model.keys import Prover, load_verifier, setup
    out = tmp_path_factory.mktemp("reference") / "keys"
    setup(spec, str(out), weights=weights, **quiet)
    prover = Prover(str(out), **quiet)
    st = prover.generate([1, 2], 2)
    return load_verifier(str(out))[1], st, prover.prove(st)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return _model(tmp_path_factory, f"random:{TINY},seed=1")


def test_tiny_model(tiny, tmp_path_factory, capsys):
    vk, st, proof = tiny
    inst = st.instances()
    t = time.perf_counter()
    verify_reference(vk, inst, proof)
    seconds = time.perf_counter() - t
    with capsys.disabled():
        print(f"\nreference verifier, tiny model ({len(proof)} bytes, k = {vk.k}): "
              f"{seconds:.2f} s")
    _agree(vk, inst, proof, True)
    # another output token
    tokens, flags = [list(c) for c in inst]
    last = st.n_prompt + st.n_new - 1
    tokens[last] = (tokens[last] + 1) % 8
    _agree(vk, [tokens, flags], proof, False, "opening proofs")
    for what, bad, reason in _tampered(vk, proof):
        _agree(vk, inst, bad, False, reason)
    # the proof against another model's key (same shape of statement)
    vk_other, st_other, proof_other = _model(tmp_path_factory, f"random:{TINY},seed=2")
    _agree(vk_other, inst, proof, False, None)
    _agree(vk, st_other.instances(), proof_other, False, None)
    _agree(vk_other, st_other.instances(), proof_other, True)


@pytest.mark.slow
def test_tiny_model_committed_weights(tmp_path_factory):
    vk, st, proof = _model(tmp_path_factory, f"random:{TINY},seed=1", weights="committed")
    assert vk.layout.committed
    inst = st.instances()
    _agree(vk, inst, proof, True)
    comm, *_ = _offsets(vk)
    _agree(vk, inst, _flip_decodable(proof, comm), False, "re-randomization")
    for what, bad, reason in _tampered(vk, proof):
        _agree(vk, inst, bad, False, reason)
