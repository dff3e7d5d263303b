"""BN254 field constants, as Python ints and as 4x64-bit little-endian limb tuples.

Fr is the scalar field (the field of circuit values); Fq is the base field of the curve.
Both moduli are below 2^254, which lets the Montgomery kernels use a single final
conditional subtraction and skip the carry out of the top limb (see arith.py).
"""
import numpy as np

FR_MODULUS = 21888242871839275222246405745257275088548364400416034343698204186575808495617
FQ_MODULUS = 21888242871839275222246405745257275088696311157297823662689037894645226208583

MASK64 = (1 << 64) - 1


def to_limbs(v: int) -> tuple:
    """A non-negative int below 2^256 as a tuple of four np.uint64, least significant first."""
    if not 0 <= v < 1 << 256:
        raise ValueError(f"value {v} does not fit in 256 bits")
    return tuple(np.uint64((v >> (64 * i)) & MASK64) for i in range(4))


def from_limbs(limbs) -> int:
    """The int held by four little-endian 64-bit limbs."""
    return sum(int(limbs[i]) << (64 * i) for i in range(4))


class FieldParams:
    """Constants of one prime field for the Montgomery kernels (R = 2^256)."""

    def __init__(self, name: str, modulus: int):
        self.name = name
        self.modulus = modulus
        self.p = to_limbs(modulus)
        # -p^-1 mod 2^64, the CIOS reduction factor
        self.inv = np.uint64((-pow(modulus, -1, 1 << 64)) % (1 << 64))
        self.r = (1 << 256) % modulus           # Montgomery form of 1
        self.r2 = (1 << 512) % modulus          # converts into Montgomery form
        self.one = to_limbs(self.r)
        self.r2_limbs = to_limbs(self.r2)
        self.bits = modulus.bit_length()


FR = FieldParams("Fr", FR_MODULUS)
FQ = FieldParams("Fq", FQ_MODULUS)

# Fr has 2-adicity 28: r - 1 = 2^28 * t, t odd; 5 generates Fr^* (a quadratic non-residue).
FR_TWO_ADICITY = 28
FR_GENERATOR = 5
assert (FR_MODULUS - 1) % (1 << FR_TWO_ADICITY) == 0 and ((FR_MODULUS - 1) >> FR_TWO_ADICITY) & 1

# Module-level tuples that Numba freezes as compile-time constants inside kernels.
FR_P = FR.p
FR_INV = FR.inv
FR_ONE = FR.one
FR_R2 = FR.r2_limbs
FQ_P = FQ.p
FQ_INV = FQ.inv
FQ_ONE = FQ.one
FQ_R2 = FQ.r2_limbs
