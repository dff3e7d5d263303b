"""Curve points as rows of uint64 limbs: the argument check shared by G1 (8 limbs a point,
g1_formulas.py) and G2 (16 limbs a point, g2.py)."""
import numpy as np


def point_rows(a, width: int, group: str, name: str = "points"):
    """(array (n, width), was a single (width,) point) for a point argument of `group`;
    raises TypeError or ValueError naming the group and the argument."""
    a = np.asarray(a)
    if a.dtype != np.uint64:
        raise TypeError(f"{group} {name}: expected uint64 limbs, got {a.dtype}")
    if a.ndim == 1 and a.shape[0] == width:
        return np.ascontiguousarray(a.reshape(1, width)), True
    if a.ndim != 2 or a.shape[1] != width:
        raise ValueError(f"{group} {name}: expected shape (n, {width}) or ({width},), got {a.shape}")
    return np.ascontiguousarray(a), False
