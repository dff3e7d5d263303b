"""The Fiat-Shamir transcript binds challenges to every absorbed message."""
import numpy as np

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.plonk.transcript import Transcript


def run(messages):
    t = Transcript(b"test")
    for label, data in messages:
        t.absorb_bytes(label, data)
    return t.challenge("x")


def test_deterministic_and_in_range():
    m = [("a", b"hello"), ("b", b"world")]
    assert run(m) == run(m)
    assert 0 <= run(m) < FR_MODULUS


def test_every_change_changes_the_challenge():
    base = [("a", b"hello"), ("b", b"world")]
    variants = [
        [("a", b"hellp"), ("b", b"world")],       # data
        [("a", b"hello"), ("c", b"world")],       # label
        [("a", b"hellow"), ("b", b"orld")],       # framing: same concatenation, other split
        [("b", b"world"), ("a", b"hello")],       # order
        [("a", b"hello")],                        # missing message
    ]
    c = run(base)
    assert all(run(v) != c for v in variants)


def test_challenges_chain_and_scalars_bind():
    t1, t2 = Transcript(), Transcript()
    assert t1.challenges("r", 3) == t2.challenges("r", 3)
    a, b = t1.challenge("s"), t1.challenge("s")
    assert a != b  # a challenge is absorbed, so the next differs
    t3, t4 = Transcript(), Transcript()
    t3.absorb_scalars("v", Fr.from_ints([1, 2, 3]))
    t4.absorb_scalars("v", [1, 2, 3])
    assert t3.challenge("c") == t4.challenge("c")
    t6, t7 = Transcript(), Transcript()
    t6.absorb_scalars("v", [1, 2, 3])
    t7.absorb_scalars("v", [1, 2, 4])
    assert t6.challenge("c") != t7.challenge("c")


def test_points_bind():
    p = np.zeros((1, 8), dtype=np.uint64)
    q = p.copy()
    q[0, 0] = 1
    t1, t2 = Transcript(), Transcript()
    t1.absorb_points("P", p)
    t2.absorb_points("P", q)
    assert t1.challenge("c") != t2.challenge("c")
