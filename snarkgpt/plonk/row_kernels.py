"""The row evaluator: a compiled `Program` (row_program.py) run over whole columns.

``evaluate_rows(program, advice, fixed, instance, challenges, n, rotation_stride)`` runs a
single-output program over whole columns with a compiled Numba kernel (``prange`` over
chunks of rows; every instruction runs over a chunk of rows at a time so the interpreter
overhead is paid once per chunk, not per row). ``evaluate_rows_multi`` returns every output,
``evaluate_rows_x16`` does the same with AVX-512 IFMA, eight rows at a time, and
``evaluate_rows_naive`` is the reference with Python ints, row by row.

Columns are (n, 4) uint64 arrays of Fr elements in Montgomery form (see snarkgpt.field). A
query at rotation ``rot`` on row ``i`` reads row ``(i + rot * rotation_stride) mod n``: on
the base domain the stride is 1; on an extended coset domain of size ``n = 2^j * 2^k`` the
prover passes ``rotation_stride = 2^j`` and the coset evaluations of every column, and gets
the coset evaluations of the expression.

Each kind of column is passed as one C-contiguous (num_columns, n, 4) uint64 array (the
layout `Assignment` stores); lists of (n, 4) columns are accepted and stacked (a copy).
"""
from __future__ import annotations

import numba as nb
import numpy as np

from snarkgpt.field import Fr, ifma
from snarkgpt.field.arith import fr_add, fr_mul, fr_neg, fr_sub, load, store

from .expression import ADVICE, FIXED, INSTANCE, Expression, as_expr
from .row_program import Program, challenge_dict

__all__ = ["evaluate_rows", "evaluate_rows_multi", "evaluate_rows_x16", "evaluate_rows_naive"]

CHUNK_ROWS = 256


@nb.njit(cache=True, nogil=True)
def _eval_chunk(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk, ci):
    """Run the program on rows [ci * chunk, min(n, (ci + 1) * chunk))."""
    ncode = code.shape[0]
    lo = ci * chunk
    m = min(n, lo + chunk) - lo
    regs = np.empty((max(nregs, 1), chunk, 4), dtype=np.uint64)
    for pc in range(ncode):
        op = code[pc, 0]
        d = code[pc, 1]
        a = code[pc, 2]
        b = code[pc, 3]
        if op <= 3:
            if op == 1:
                col = advice[a]
            elif op == 2:
                col = fixed[a]
            else:
                col = instance[a]
            idx = (lo + b * stride) % n
            z = regs[d]
            for r in range(m):
                z[r, 0] = col[idx, 0]
                z[r, 1] = col[idx, 1]
                z[r, 2] = col[idx, 2]
                z[r, 3] = col[idx, 3]
                idx += 1
                if idx == n:
                    idx = 0
        elif op == 4:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_add(load(x, r), load(y, r)))
        elif op == 5:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_sub(load(x, r), load(y, r)))
        elif op == 6:
            x = regs[a]
            y = regs[b]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_mul(load(x, r), load(y, r)))
        elif op == 7:
            x = regs[a]
            z = regs[d]
            for r in range(m):
                store(z, r, fr_neg(load(x, r)))
        elif op == 8:
            s = load(scalars, a)
            z = regs[d]
            for r in range(m):
                store(z, r, s)
        else:
            x = regs[a]
            o = out[d]
            for r in range(m):
                o[lo + r, 0] = x[r, 0]
                o[lo + r, 1] = x[r, 1]
                o[lo + r, 2] = x[r, 2]
                o[lo + r, 3] = x[r, 3]


@nb.njit(parallel=True, cache=True, nogil=True)
def _eval_kernel(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk):
    """The row evaluator: chunks of rows in parallel (the chunk body is a separate function,
    which keeps the parallel region small and quick to compile)."""
    nchunks = (n + chunk - 1) // chunk
    for ci in nb.prange(nchunks):
        _eval_chunk(code, scalars, advice, fixed, instance, out, n, stride, nregs, chunk, ci)


# The same evaluator with AVX-512 IFMA (field/ifma.py): eight rows per vector, in the x16
# Montgomery form. Its inputs come from transforms that produce that form at no cost (a
# coset NTT's multiplier table times 16, vanishing/prover.py).
IFMA_CHUNK_VECTORS = 16        # 128 rows: registers of 5 KiB, the working set in L2


@nb.njit(cache=True, nogil=True)
def _eval_chunk_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V, ci):
    """Run the program on rows [ci * 8 V, (ci + 1) * 8 V) (n a multiple of 8 V)."""
    lo = ci * 8 * V
    regs = np.empty((max(nregs, 1), V, 5, 8), dtype=np.uint64)
    for pc in range(code.shape[0]):
        op = code[pc, 0]
        d = code[pc, 1]
        a = code[pc, 2]
        b = code[pc, 3]
        if op <= 3:
            start = (lo + b * stride) % n
            for v in range(V):
                s = start + 8 * v
                if s >= n:
                    s -= n
                if op == 1:
                    ifma.vreg_load(regs, d, v, advice, a, s)
                elif op == 2:
                    ifma.vreg_load(regs, d, v, fixed, a, s)
                else:
                    ifma.vreg_load(regs, d, v, instance, a, s)
        elif op == 4:
            for v in range(V):
                ifma.vreg_add(regs, d, a, b, v)
        elif op == 5:
            for v in range(V):
                ifma.vreg_sub(regs, d, a, b, v)
        elif op == 6:
            for v in range(V):
                ifma.vreg_mul(regs, d, a, b, v)
        elif op == 7:
            for v in range(V):
                ifma.vreg_neg(regs, d, a, a, v)
        elif op == 8:
            for v in range(V):
                ifma.vreg_bcast(regs, d, v, scalars, a)
        else:
            for v in range(V):
                ifma.vreg_store(regs, a, v, out, d, lo + 8 * v)


@nb.njit(parallel=True, cache=True, nogil=True)
def _eval_kernel_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V):
    for ci in nb.prange(n // (8 * V)):
        _eval_chunk_x16(code, scalars, advice, fixed, instance, out, n, stride, nregs, V, ci)


def evaluate_rows_x16(program: Program, advice, fixed, instance, challenges=None, n=None,
                      rotation_stride: int = 1) -> np.ndarray:
    """`evaluate_rows_multi` on columns in the x16 Montgomery form (each value 16 x mod p
    in Montgomery form; field/ifma.py), with the outputs in that form too, computed with
    AVX-512 IFMA eight rows at a time. Needs ifma.available() and n a multiple of 8."""
    adv = _as_columns(advice, n, "advice")
    fix = _as_columns(fixed, n, "fixed")
    ins = _as_columns(instance, n, "instance")
    _check_columns(program, adv, fix, ins)
    if n % 8:
        raise ValueError(f"evaluate_rows_x16 needs n a multiple of 8, got {n}")
    scal = ifma.to_limbs52(program.scalars(challenges), times16=True)
    out = np.empty((program.num_outputs, n, 4), dtype=np.uint64)
    V = IFMA_CHUNK_VECTORS          # vectors per chunk: a power of two dividing n / 8
    while (n // 8) % V:
        V //= 2
    if n and program.num_outputs:
        _eval_kernel_x16(program.code, scal, adv, fix, ins, out, n, int(rotation_stride),
                         program.num_regs, V)
    return out


def _as_columns(cols, n: int, what: str) -> np.ndarray:
    """A (c, >= n, 4) uint64 array (used as is), or a list / tuple of (>= n, 4) uint64
    columns (stacked into one, a copy: pass a 3-D array to avoid it)."""
    if cols is None:
        return np.zeros((0, max(n, 1), 4), dtype=np.uint64)
    if isinstance(cols, np.ndarray):
        if cols.ndim != 3 or cols.shape[2] != 4 or cols.dtype != np.uint64:
            raise TypeError(f"{what}: pass a list of (n, 4) columns or a (num_columns, n, 4) "
                            f"uint64 array, not {cols.dtype} {cols.shape}")
        if cols.shape[0] and cols.shape[1] < n:
            raise ValueError(f"{what} columns have {cols.shape[1]} rows, fewer than n = {n}")
        return np.ascontiguousarray(cols)
    cols = list(cols)
    if not cols:
        return np.zeros((0, max(n, 1), 4), dtype=np.uint64)
    for i, c in enumerate(cols):
        if not (isinstance(c, np.ndarray) and c.dtype == np.uint64 and c.ndim == 2 and c.shape[1] == 4):
            raise TypeError(f"{what}[{i}]: expected an (n, 4) uint64 array")
        if c.shape[0] < n:
            raise ValueError(f"{what}[{i}] has {c.shape[0]} rows, fewer than n = {n}")
    return np.stack([c[:n] for c in cols])


def _check_columns(program: Program, adv, fix, ins):
    counts = {ADVICE: len(adv), FIXED: len(fix), INSTANCE: len(ins)}
    for kind, col, _rot in program.queries:
        if col >= counts[kind]:
            raise ValueError(f"program reads {kind} column {col} but only {counts[kind]} were given")


def evaluate_rows_multi(program: Program, advice, fixed, instance, challenges=None, n=None,
                        rotation_stride: int = 1, out=None) -> np.ndarray:
    """Every output of ``program`` on rows 0..n-1: a (num_outputs, n, 4) Fr array.

    advice / fixed / instance: (c, n, 4) arrays of Montgomery values, or lists of (n, 4)
    columns (stacked, a copy), or None (no columns of that kind);
    challenges: mapping Challenge-or-index -> int, or a sequence by index; n defaults to the
    length of the first column; a query at rotation rot reads row (i + rot*stride) mod n."""
    if n is None:
        for group in (advice, fixed, instance):
            if group is not None and len(group):
                n = (group.shape[1] if isinstance(group, np.ndarray) else group[0].shape[0])
                break
        else:
            raise ValueError("n is required when no column is given")
    n = int(n)
    adv = _as_columns(advice, n, "advice")
    fix = _as_columns(fixed, n, "fixed")
    ins = _as_columns(instance, n, "instance")
    _check_columns(program, adv, fix, ins)
    scal = program.scalars(challenges)
    if out is None:
        out = np.empty((program.num_outputs, n, 4), dtype=np.uint64)
    if n and program.num_outputs:
        _eval_kernel(program.code, scal, adv, fix, ins, out, n, int(rotation_stride),
                     program.num_regs, CHUNK_ROWS)
    return out


def evaluate_rows(program: Program, advice, fixed, instance, challenges=None, n=None,
                  rotation_stride: int = 1) -> np.ndarray:
    """A single-output program on rows 0..n-1 as an (n, 4) Fr array (see
    `evaluate_rows_multi`)."""
    if program.num_outputs != 1:
        raise ValueError(f"program has {program.num_outputs} outputs: use evaluate_rows_multi")
    return evaluate_rows_multi(program, advice, fixed, instance, challenges, n, rotation_stride)[0]


def evaluate_rows_naive(expr: Expression, advice, fixed, instance, challenges=None, n=None,
                        rotation_stride: int = 1, rows=None) -> list[int]:
    """Reference evaluator with Python ints, row by row (slow; for tests and audits).

    Returns canonical ints for ``rows`` (default: all n rows)."""
    expr = as_expr(expr)
    groups = {ADVICE: advice, FIXED: fixed, INSTANCE: instance}
    if n is None:
        n = next(g[0].shape[0] for g in groups.values() if g is not None and len(g))
    cache: dict[tuple, list[int] | int] = {}

    def column_ints(kind, idx):
        key = (kind, idx)
        if key not in cache:
            cache[key] = Fr.to_ints(np.ascontiguousarray(groups[kind][idx][:n]))
        return cache[key]

    def one_int(kind, idx, row):
        # a few given rows (keygen asks about the 5 or 6 blinding rows): convert only the
        # cells they read, not every column in full
        key = (kind, idx, row)
        if key not in cache:
            cache[key] = Fr.to_int(groups[kind][idx][row])
        return cache[key]

    read = one_int if rows is not None else (lambda kind, idx, row: column_ints(kind, idx)[row])
    chal = challenge_dict(challenges)
    out = []
    for i in (range(n) if rows is None else rows):
        def cell(q, i=i):
            return read(q.column.kind, q.column.index, (i + q.rotation * rotation_stride) % n)
        out.append(expr.evaluate_int(cell, lambda c: chal[c.index]))
    return out
