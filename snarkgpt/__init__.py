"""snarkgpt: zk-SNARK proofs that a GPT generated a text, written in Python with Numba kernels."""
__version__ = "0.1.0"
