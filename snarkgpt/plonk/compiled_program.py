"""The verifier's constraint program (`expression.IntProgram`) run by one Numba kernel.

`IntProgram.run` and `IntProgram.cell_gradients` are the readable definition: a pass over a
flat list of operations on Python ints mod r, forward for the values, backward for the
derivatives. The verifier runs that pair on every proof (`linearization.split`), and for a
model circuit the list holds thousands of operations, so the Python loop costs milliseconds.
`CompiledProgram` runs the same operations, in the same order, on Montgomery-form limbs:

* the operation list becomes an (n, 3) int64 array (code, a, b) once per layout; constants
  and scale factors go to a table, cells and challenges get slots;
* per call, the opened cell values and the challenges enter as two small Montgomery arrays,
  and one kernel does the forward pass, the weighted sum A = sum_j y^(N-1-j) C_j of the roots
  and the reverse pass; A and the derivatives of the wanted cells come back as ints.

The tests check it against the Python definition on random values and on real layouts.
"""
from __future__ import annotations

import numba as nb
import numpy as np

from snarkgpt.field import Fr
from snarkgpt.field.arith import fr_add, fr_mul, fr_neg, fr_sub, is_zero, load, store
from snarkgpt.field.params import FR_ONE

from .int_program import IntProgram

# operation codes of the kernel (IntProgram's own codes, so the arrays read like its ops)
_CONST, _QUERY, _CHAL, _NEG, _SUM, _PROD, _SCALE = (
    IntProgram._CONST, IntProgram._QUERY, IntProgram._CHAL, IntProgram._NEG, IntProgram._SUM,
    IntProgram._PROD, IntProgram._SCALE)


@nb.njit(cache=True, nogil=True)
def _split_kernel(code, consts, cells, chals, roots, y, vals, grad, cell_grad, acc):
    """Forward pass into vals, acc[0] = sum_j y^(R-1-j) vals[roots[j]], then the reverse pass:
    cell_grad[s] = d acc / d cells[s]. All values are Fr in Montgomery form."""
    n = code.shape[0]
    for i in range(n):
        op = code[i, 0]
        a = code[i, 1]
        b = code[i, 2]
        if op == _PROD:
            store(vals, i, fr_mul(load(vals, a), load(vals, b)))
        elif op == _SUM:
            store(vals, i, fr_add(load(vals, a), load(vals, b)))
        elif op == _QUERY:
            store(vals, i, load(cells, a))
        elif op == _CONST:
            store(vals, i, load(consts, a))
        elif op == _CHAL:
            store(vals, i, load(chals, a))
        elif op == _NEG:
            store(vals, i, fr_neg(load(vals, a)))
        else:  # _SCALE: factor in consts[b]
            store(vals, i, fr_mul(load(vals, a), load(consts, b)))
    # the roots' weights y^(R-1-j), last root first
    grad[:] = 0
    cell_grad[:] = 0
    w = FR_ONE
    total = (np.uint64(0), np.uint64(0), np.uint64(0), np.uint64(0))
    for j in range(roots.shape[0] - 1, -1, -1):
        r = roots[j]
        total = fr_add(total, fr_mul(w, load(vals, r)))
        store(grad, r, fr_add(load(grad, r), w))
        w = fr_mul(w, y)
    store(acc, 0, total)
    for i in range(n - 1, -1, -1):
        g = load(grad, i)
        if is_zero(g):
            continue
        op = code[i, 0]
        a = code[i, 1]
        b = code[i, 2]
        if op == _PROD:
            store(grad, a, fr_add(load(grad, a), fr_mul(g, load(vals, b))))
            store(grad, b, fr_add(load(grad, b), fr_mul(g, load(vals, a))))
        elif op == _SUM:
            store(grad, a, fr_add(load(grad, a), g))
            store(grad, b, fr_add(load(grad, b), g))
        elif op == _QUERY:
            store(cell_grad, a, fr_add(load(cell_grad, a), g))
        elif op == _NEG:
            store(grad, a, fr_sub(load(grad, a), g))
        elif op == _SCALE:
            store(grad, a, fr_add(load(grad, a), fr_mul(g, load(consts, b))))


class CompiledProgram:
    """An `IntProgram` as arrays for `_split_kernel` (built once per layout)."""

    def __init__(self, program: IntProgram):
        self.program = program
        self.cells = list(program.cells)
        cell_slot = {key: i for i, key in enumerate(self.cells)}
        self.challenges = list(dict.fromkeys(a for op, a, _ in program.ops if op == _CHAL))
        chal_slot = {c: i for i, c in enumerate(self.challenges)}
        consts: list[int] = []
        code = np.zeros((len(program.ops), 3), np.int64)
        for i, (op, a, b) in enumerate(program.ops):
            if op == _CONST:
                code[i] = (op, len(consts), 0)
                consts.append(a)
            elif op == _QUERY:
                code[i] = (op, cell_slot[a], 0)
            elif op == _CHAL:
                code[i] = (op, chal_slot[a], 0)
            elif op == _SCALE:
                code[i] = (op, a, len(consts))
                consts.append(b)
            else:
                code[i] = (op, a, -1 if b is None else b)
        self.code = code
        self.consts = _fr(consts)
        self.roots = np.asarray(program.roots, np.int64)

    def split(self, cells: dict, challenges: dict, keys, y: int):
        """(A, {key: c_key}) with sum_j y^(N-1-j) C_j = A + sum_key c_key * cell[key] for the
        program's roots C_j, every cell in ``keys`` read as 0 and every other cell taken from
        ``cells`` (a missing cell or challenge raises KeyError naming it)."""
        cell_vals = [0 if key in keys else cells[key] for key in self.cells]
        A, cell_grad = self.split_array(_fr(cell_vals), challenges, y)
        wanted = [i for i, key in enumerate(self.cells) if key in keys]
        coeff = dict(zip((self.cells[i] for i in wanted), Fr.to_ints(cell_grad[wanted])))
        return A, coeff

    def split_array(self, cells: np.ndarray, challenges: dict, y: int):
        """`split` on arrays: the cells' values as an Fr array in ``self.cells`` order (the
        linearized ones already 0); returns (A, dA/dcell for every cell as an Fr array)."""
        if cells.shape[0] != max(1, len(self.cells)):
            raise ValueError(f"split_array: {cells.shape[0]} cell values for "
                             f"{len(self.cells)} cells")
        chal_vals = [challenges[c] for c in self.challenges]
        n = self.code.shape[0]
        vals = np.empty((n, 4), np.uint64)
        grad = np.empty((n, 4), np.uint64)
        cell_grad = np.empty((max(1, len(self.cells)), 4), np.uint64)
        acc = np.empty((1, 4), np.uint64)
        _split_kernel(self.code, self.consts, np.ascontiguousarray(cells), _fr(chal_vals),
                      self.roots, Fr.from_int(y), vals, grad, cell_grad, acc)
        return Fr.to_ints(acc)[0], cell_grad


def _fr(values: list) -> np.ndarray:
    """Python ints -> a Montgomery array with at least one row (kernels index it)."""
    return Fr.from_ints(values) if values else np.zeros((1, 4), np.uint64)


def compiled(program: IntProgram) -> CompiledProgram:
    """The program's `CompiledProgram`, built on first use and kept on the program."""
    if program._compiled is None:
        program._compiled = CompiledProgram(program)
    return program._compiled
