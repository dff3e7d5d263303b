"""Fr / Fq device arithmetic (field/cuda.py) against Python integers, in the CUDA simulator."""
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from snarkgpt import device
from snarkgpt.field import FQ_MODULUS, FR_MODULUS, Fq, Fr

SIM = device.simulator_active()
needs_sim = pytest.mark.skipif(not SIM, reason="numba.cuda was imported without the simulator "
                                               "(see test_cuda_suite_in_subprocess)")

EDGE = [0, 1, 2, -1, -2, 1 << 64, (1 << 128) - 1, (1 << 192) + 7, 3 ** 150]


def _vals(p, n, seed):
    rng = np.random.default_rng(seed)
    vals = [v % p for v in EDGE]
    vals += [int.from_bytes(rng.bytes(32), "little") % p for _ in range(n - len(vals))]
    return vals


@needs_sim
@pytest.mark.parametrize("name", ["fr", "fq"])
def test_cuda_field_ops_match_python_ints(name):
    from snarkgpt.field import cuda as fc
    F, p, dev = (Fr, FR_MODULUS, fc.FR_GPU) if name == "fr" else (Fq, FQ_MODULUS, fc.FQ_GPU)
    xs = _vals(p, 16, 1)
    ys = list(reversed(_vals(p, 16, 2)))
    a, b = F.from_ints(xs), F.from_ints(ys)
    assert F.to_ints(dev.mul(a, b)) == [x * y % p for x, y in zip(xs, ys)]
    assert F.to_ints(dev.add(a, b)) == [(x + y) % p for x, y in zip(xs, ys)]
    assert F.to_ints(dev.sub(a, b)) == [(x - y) % p for x, y in zip(xs, ys)]
    c = p - 12345
    assert F.to_ints(dev.scale(a, c)) == [x * c % p for x in xs]
    # bit for bit against the CPU kernels as well
    assert np.array_equal(dev.mul(a, b), F.mul(a, b))


@needs_sim
@pytest.mark.parametrize("chunk", [1, 3, 16])
def test_cuda_batch_inverse(chunk):
    from snarkgpt.field import cuda as fc
    xs = _vals(FR_MODULUS, 10, 3)
    xs[4] = 0
    got = Fr.to_ints(fc.FR_GPU.batch_inverse(Fr.from_ints(xs), chunk=chunk))
    assert got == [pow(x, -1, FR_MODULUS) if x else 0 for x in xs]


@needs_sim
def test_cuda_batch_inverse_fq_and_empty():
    from snarkgpt.field import cuda as fc
    xs = _vals(FQ_MODULUS, 5, 4)
    xs[0] = 0
    got = Fq.to_ints(fc.FQ_GPU.batch_inverse(Fq.from_ints(xs)))
    assert got == [pow(x, -1, FQ_MODULUS) if x else 0 for x in xs]
    assert fc.FR_GPU.batch_inverse(np.zeros((0, 4), np.uint64)).shape == (0, 4)


@needs_sim
def test_cuda_device_selection():
    assert "cuda" in device.available()
    assert device.select("cpu").name == "cpu"
    assert device.select("auto").name == "cpu"          # the simulator never wins "auto"
    assert device.select("cuda").name == "cuda"
    with pytest.raises(ValueError):
        device.select("tpu")


def test_cuda_suite_in_subprocess():
    """If this process could not switch numba.cuda to the simulator, run tests/cuda anew."""
    if SIM:
        pytest.skip("simulator active in this process; the tests above ran here")
    root = Path(__file__).resolve().parents[2]
    env = dict(os.environ, NUMBA_ENABLE_CUDASIM="1")
    r = subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider",
                        str(Path(__file__).parent)], cwd=root, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-2000:]
