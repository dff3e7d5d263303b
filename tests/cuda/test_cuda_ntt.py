"""Device NTTs (field/cuda.py) against the CPU NTT, bit for bit, in the CUDA simulator."""
import numpy as np
import pytest

from snarkgpt import device
from snarkgpt.field import Fr
from snarkgpt.field import ntt as cpu

pytestmark = pytest.mark.skipif(not device.simulator_active(),
                                reason="numba.cuda imported without the simulator")


@pytest.mark.parametrize("k,shared", [(3, None), (4, 0), (5, 2), (6, None), (6, 3)])
def test_cuda_ntt_and_intt_match_cpu(k, shared):
    from snarkgpt.field import cuda as fc
    a = Fr.random(1 << k, rng=np.random.default_rng(k))
    fwd = fc.ntt(a, shared_log=shared)
    assert np.array_equal(fwd, cpu.ntt(a))
    back = fc.intt(fwd, shared_log=shared)
    assert np.array_equal(back, cpu.intt(fwd))
    assert np.array_equal(back, a)


@pytest.mark.parametrize("k,shift", [(3, 5), (5, 7)])
def test_cuda_coset_ntt_matches_cpu(k, shift):
    from snarkgpt.field import cuda as fc
    a = Fr.random(1 << k, rng=np.random.default_rng(10 + k))
    ev = fc.coset_ntt(a, shift, shared_log=2)
    assert np.array_equal(ev, cpu.coset_ntt(a, shift))
    assert np.array_equal(fc.coset_intt(ev, shift), a)


def test_cuda_ntt_small_polynomial_values():
    """p(x) = 1 + 2x evaluated on the 8th roots of unity, checked with Python ints."""
    from snarkgpt.field import cuda as fc
    from snarkgpt.field import FR_MODULUS
    a = Fr.from_ints([1, 2] + [0] * 6)
    w = cpu.root_of_unity(3)
    assert Fr.to_ints(fc.ntt(a)) == [(1 + 2 * pow(w, i, FR_MODULUS)) % FR_MODULUS
                                     for i in range(8)]


def test_cuda_backend_dispatch_ntt():
    a = Fr.random(16, rng=np.random.default_rng(99))
    assert np.array_equal(device.ntt(a, device="cuda"), device.ntt(a, device="cpu"))


def test_cuda_transform_matches_ntt_transform():
    """field.cuda.transform: ntt.transform's arguments (negate, pre constant or table, post
    table, out), bit for bit (what device.use routes the domain transforms to)."""
    from snarkgpt.field import cuda as fc
    rng = np.random.default_rng(21)
    a, pre, post = (Fr.random(16, rng=rng) for _ in range(3))
    for kw in (dict(negate=True, pre=pre[:1]), dict(pre=pre), dict(negate=True, post=post)):
        out = np.empty_like(a)
        assert fc.transform(a, out, **kw) is out
        assert np.array_equal(out, cpu.transform(a, **kw))
