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
