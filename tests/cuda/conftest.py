"""CUDA kernel tests run in the numba.cuda simulator (no GPU needed).

The simulator must be chosen before numba.cuda is first imported. If some earlier test in the
same process already imported numba.cuda without it, the test modules here skip and
test_cuda_field.py::test_cuda_suite_in_subprocess reruns this folder in a fresh process."""
from snarkgpt import device

SIM_OK = device.enable_simulator()
