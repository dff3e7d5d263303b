"""Device G1 formulas and MSM (curve/cuda.py) against the CPU kernels, in the CUDA simulator."""
import numpy as np
import pytest

from snarkgpt import device
from snarkgpt.curve import g1
from snarkgpt.curve import msm as cpu
from snarkgpt.field import FR_MODULUS, Fr

pytestmark = pytest.mark.skipif(not device.simulator_active(),
                                reason="numba.cuda imported without the simulator")


@pytest.fixture(scope="module")
def pts():
    return cpu.random_points(32, rng=np.random.default_rng(7))


def test_cuda_point_formulas(pts):
    from snarkgpt.curve import cuda as gc
    a, b = pts[:6].copy(), pts[6:12].copy()
    b[0] = a[0]                       # P + P
    b[1] = g1.neg(a[1])               # P + (-P)
    a[2] = 0                          # O + Q
    b[3] = 0                          # P + O
    a[4] = 0
    b[4] = 0                          # O + O
    r = gc.point_ops(a, b)
    s, d = g1.add(a, b), g1.add(a, a)
    for f in (0, 1):                  # via Jacobian, via XYZZ
        assert np.array_equal(r[:, 0, f], s)
        assert np.array_equal(r[:, 1, f], s)
        assert np.array_equal(r[:, 2, f], d)


@pytest.mark.parametrize("n,bits", [(4, 8), (16, 16), (32, 12)])
def test_cuda_msm_small_scalars(pts, n, bits):
    from snarkgpt.curve import cuda as gc
    sc = cpu.random_scalars(n, bits, rng=np.random.default_rng(n))   # signed: r - v folds
    assert np.array_equal(gc.msm(pts[:n], sc), cpu.msm(pts[:n], sc))


def test_cuda_msm_full_scalars(pts):
    from snarkgpt.curve import cuda as gc
    sc = cpu.random_scalars(6, None, rng=np.random.default_rng(3))
    assert np.array_equal(gc.msm(pts[:6], sc), cpu.msm(pts[:6], sc))


def test_cuda_msm_infinity_duplicates_and_zero(pts):
    from snarkgpt.curve import cuda as gc
    p = pts[:12].copy()
    p[3] = 0                          # points at infinity
    p[7] = 0
    p[5] = p[4]                       # duplicates: same point, same and opposite scalars
    p[6] = p[4]
    p[8] = g1.neg(p[9])
    vals = [3, 0, 1000, 77, 5, 5, -5, 1, 9, 9, FR_MODULUS - 1, 4000]
    sc = Fr.from_ints([v % FR_MODULUS for v in vals])
    assert np.array_equal(gc.msm(p, sc), cpu.msm(p, sc))
    assert np.array_equal(gc.msm(p, Fr.from_ints([0] * 12)), np.zeros(8, np.uint64))
    assert np.array_equal(gc.msm(p[:0], sc[:0]), np.zeros(8, np.uint64))
    # result independent of the window width
    assert np.array_equal(gc.msm(p, sc, c=3), cpu.msm(p, sc))


def test_cuda_msm_dispatch(pts):
    sc = cpu.random_scalars(5, 10, rng=np.random.default_rng(5))
    assert np.array_equal(device.msm(pts[:5], sc, device="cuda"), device.msm(pts[:5], sc))
