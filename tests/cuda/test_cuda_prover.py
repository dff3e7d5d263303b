"""The prover routed to the device (device.use) gives the CPU's proof bytes, in the simulator.

Same circuit, same keys, same randomness: the device's NTTs and MSMs are bit-identical to the
CPU's, so the proofs must be byte-identical. The simulator runs a full-scalar MSM in about 15 s,
so the default test routes every transform and only the cheap MSMs; the `slow` one routes all.
"""
import numpy as np
import pytest

from snarkgpt import device

pytestmark = [pytest.mark.skipif(not device.simulator_active(),
                                 reason="numba.cuda imported without the simulator"),
              pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")]


@pytest.fixture(scope="module")
def fib():
    from snarkgpt.plonk.circuit import ConstraintSystem
    from snarkgpt.plonk.examples import Fibonacci
    from snarkgpt.plonk.keygen import keygen
    from snarkgpt.plonk.prover import prove
    from snarkgpt.plonk.srs import SRS
    srs = SRS.dev(2 ** 5 + 1, seed=b"device-tests")
    circuit = Fibonacci(steps=5)
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg)
    cpu_proof = prove(pk, circuit, cfg, rng=np.random.default_rng(2))
    return circuit, cfg, pk, vk, cpu_proof


def _device_proof(fib, **thresholds):
    from snarkgpt.plonk.prover import prove
    circuit, cfg, pk, _, _ = fib
    with device.use("cuda", **thresholds) as be:
        proof = prove(pk, circuit, cfg, rng=np.random.default_rng(2))
        calls = dict(be.calls)
    return proof, calls


def test_prover_on_device_transforms_same_bytes(fib):
    """Every domain transform on the device (and MSMs of at least 16 points)."""
    from snarkgpt.plonk.verifier import verify
    circuit, _, _, vk, cpu_proof = fib
    proof, calls = _device_proof(fib, min_ntt=1, min_msm=1 << 30)
    assert calls["ntt"] > 0 and calls["msm"] == 0
    assert proof == cpu_proof
    assert verify(vk, circuit.instances(), proof)


def test_use_restores_the_cpu_path(fib):
    from snarkgpt.curve import msm
    from snarkgpt.field import domain
    with device.use("cpu") as be:
        assert be.name == "cpu" and msm.offload is None and domain.offload is None
    with device.use("cuda", min_ntt=1):
        assert msm.offload is not None and domain.offload is not None
    assert msm.offload is None and domain.offload is None
    with pytest.raises(ValueError):
        with device.use("tpu"):
            pass


def test_requested_is_the_device_asked_for_not_resolved(monkeypatch):
    """`device.requested`: what `--cluster` sends to its tasks, which resolve it on their own
    node: the innermost `use` block's device as asked, else $SNARKGPT_DEVICE, else cpu."""
    monkeypatch.delenv(device.ENV, raising=False)
    assert device.requested() == "cpu"
    monkeypatch.setenv(device.ENV, "auto")
    assert device.requested() == "auto"
    with device.use("cpu"):
        assert device.requested() == "cpu"
        with device.use("auto") as be:
            assert device.requested() == "auto" and be.name == "cpu"     # no GPU here
            with device.use("cuda"):                                     # the simulator
                assert device.requested() == "cuda"
            assert device.requested() == "auto"
    assert device.requested() == "auto"
    with pytest.raises(ValueError):
        with device.use("tpu"):
            pass
    assert device.requested() == "auto"     # a refused device is not left behind


@pytest.mark.slow
def test_prover_on_device_everything_same_bytes(fib):
    """Every MSM (commitments, opening proofs) and transform on the device (minutes)."""
    circuit, _, _, vk, cpu_proof = fib
    proof, calls = _device_proof(fib, min_ntt=1, min_msm=1)
    assert calls["ntt"] > 0 and calls["msm"] > 0
    assert proof == cpu_proof


def test_cli_device_cuda_without_gpu_is_a_usage_error():
    """`--device cuda` where numba.cuda finds no GPU: one line on stderr, exit status 2."""
    import os
    import subprocess
    import sys
    if device.gpu_present():
        pytest.skip("this machine has a GPU")
    env = {k: v for k, v in os.environ.items() if k != "NUMBA_ENABLE_CUDASIM"}
    r = subprocess.run([sys.executable, "-m", "snarkgpt.cli", "prove", "--keys", "no-such-keys",
                        "--prompt-tokens", "1", "--max-new-tokens", "1", "--out", "x.sgp",
                        "--device", "cuda"], env=env, capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stderr
    assert "no CUDA GPU" in r.stderr and "Traceback" not in r.stderr
