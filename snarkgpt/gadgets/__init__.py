"""Fixed-point transformer operations as circuit chips.

Conventions (chips, `Assigned` vectors, `GadgetRangeError`, shared columns and tables) are in
`snarkgpt.gadgets.base`; integer references of these chips in `snarkgpt.gadgets.reference`.

* `fixedpoint`: quantize/dequantize, `LinearChip` (add, sub, neg, multiply by a constant),
  `RescaleChip` (product + floor rescale, standalone rescale);
* `range`: `RangeChip` (x in [lo, hi), a >= b), `ClampChip`, `ArgmaxChip` (row max, argmax);
* `division`: `DivChip` (by a constant, by a witness, reciprocal);
* `nonlinear`: `FunctionChip` with tables for exp, GELU, rsqrt, reciprocal.
"""
from .base import Assigned, Cost, GadgetRangeError  # noqa: F401


def catalogue(scale_bits: int = 12, bits: int = 24, limb_bits: int = 12) -> dict:
    """Cost per element of each chip of fixedpoint/range/division/nonlinear for the given
    parameters: {name: Cost.as_dict()} (for the gadget catalogue in docs/gadgets.md)."""
    from .division import DivChip
    from .fixedpoint import LinearChip, RescaleChip
    from .nonlinear import FunctionChip
    from .range import ArgmaxChip, ClampChip, RangeChip
    return {
        "linear (add/sub/neg/mul_const)": LinearChip.COST.as_dict(),
        f"mul_rescale / rescale (s={scale_bits})": RescaleChip.COST.as_dict(),
        f"range check ({bits} bits, {limb_bits}-bit limbs)": RangeChip.cost(bits, limb_bits).as_dict(),
        f"clamp ({bits} bits)": ClampChip.cost(bits, limb_bits).as_dict(),
        f"row max / argmax ({bits}-bit spread)": ArgmaxChip.cost(bits, limb_bits).as_dict(),
        f"division ({bits}-bit divisor)": DivChip.cost(bits, limb_bits).as_dict(),
        "lookup function (input in domain)": FunctionChip.cost().as_dict(),
        f"lookup function (clamped, {bits} bits)": FunctionChip.cost(bits, limb_bits).as_dict(),
    }
