"""BN254 fields: Fr (scalars, circuit values) and Fq (curve coordinates).

`Fr` and `Fq` are `PrimeField` instances working on (n, 4) uint64 Montgomery arrays;
`arith` holds the scalar limb kernels for use inside other Numba kernels.
"""
from .params import FQ, FQ_MODULUS, FR, FR_MODULUS
from .prime_field import PrimeField

Fr = PrimeField(FR)
Fq = PrimeField(FQ)

__all__ = ["Fr", "Fq", "PrimeField", "FR", "FQ", "FR_MODULUS", "FQ_MODULUS"]
