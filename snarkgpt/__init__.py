"""snarkgpt: zk-SNARK proofs that a GPT generated a text, written in Python with Numba kernels."""
import os as _os

# Numba's OpenMP threading layer spins between parallel regions by default; with more threads
# than free cores (a busy laptop, CI, several processes) each small parallel call then costs
# milliseconds instead of microseconds. Passive waiting keeps small calls cheap. Must be set
# before the OpenMP runtime loads, so it lives here; a user's own setting wins.
_os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
