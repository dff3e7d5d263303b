"""Batched NTTs over Fr with AVX-512 IFMA: eight columns transformed at once, one per lane.

The prover transforms hundreds of columns of the same size (the quotient alone runs four
transforms per committed column). The scalar transform (ntt.py) spends ~36 64-bit multiplies
per Montgomery product. AVX-512 IFMA (`vpmadd52luq` / `vpmadd52huq`: eight 52 x 52-bit
products added to eight 64-bit accumulators per instruction) does the same product for
eight elements in about 105 instructions, about a quarter of the time per element here.

Representation
    A batch of eight columns is held as a (n, 5, 8) uint64 array: row i, limb l, lane c is
    limb l (52 bits, least significant first) of element i of column c. Values are the
    usual Montgomery residues a*2^256 mod p (the same integers as the (n, 4) arrays, only
    split into 52-bit limbs), so conversion is shifts and masks, with no multiplication.

Montgomery product with 52-bit limbs
    Five-limb CIOS divides by 2^260, not 2^256. The multipliers (twiddles, coset powers)
    are therefore stored times 16: mont52(a R, 16 b R) = 16 a b R^2 / 2^260 = a b R. The
    product is lazily reduced: for a < 4p (any five normalized limbs below 2^256) and b < p
    it lands in [0, 2p), the same invariant as the scalar butterfly (Harvey's, values in
    [0, 4p) between stages).

Every lane runs the same transform, so there are no shuffles: a butterfly stage is the
scalar one with each element replaced by an eight-lane vector, and each twiddle by its
broadcast. Where IFMA is missing (`available()` is False: another CPU, or Numba told to
compile for a generic one), the callers use the scalar transform.
"""
import functools
import os

import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from . import Fr
from .ntt import _rev_table, twiddle_table
from .params import FR_MODULUS as P

LANES = 8
# below this many columns the scalar transform is as fast (a batch costs about 2.5 of them)
MIN_COLUMNS = 3
LIMBS = 5
_M52 = (1 << 52) - 1
_I64 = ir.IntType(64)
_V8 = ir.VectorType(_I64, LANES)


def _pinv52(modulus: int) -> int:
    """-1/modulus mod 2^52, the Montgomery reduction digit factor."""
    return (-pow(modulus, -1, 1 << 52)) % (1 << 52)


_PINV52 = _pinv52(P)


def _limbs52(v: int) -> list:
    """The five 52-bit limbs of v < 2^260 (v >= 0), least significant first."""
    return [(v >> (52 * i)) & _M52 for i in range(LIMBS)]


@functools.cache
def _cpu_has_ifma() -> bool:
    """Whether the CPU Numba compiles for has AVX-512 IFMA (asked once per process)."""
    try:
        from numba.core.registry import cpu_target
        feats = cpu_target.target_context.codegen()._tm_features.split(",")
    except Exception:           # pragma: no cover - another Numba layout: stay scalar
        return False
    return "+avx512ifma" in feats and "+avx512f" in feats


def available() -> bool:
    """True when Numba compiles for a CPU with AVX-512 IFMA (and SNARKGPT_IFMA is not 0)."""
    return os.environ.get("SNARKGPT_IFMA", "1") != "0" and _cpu_has_ifma()


# ---- LLVM IR emitters on eight-lane vectors of 52-bit limbs ---------------------------------
def _splat(c: int):
    return ir.Constant(_V8, [ir.Constant(_I64, int(c))] * LANES)


def _madd(builder, which: str, acc, x, y):
    """acc + (low or high 52 bits of x[51:0] * y[51:0]), lane by lane."""
    fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_V8, [_V8, _V8, _V8]),
                                        f"llvm.x86.avx512.vpmadd52{which}.uq.512")
    return builder.call(fn, [acc, x, y])


def _emit_mont(b, x, y, modulus: int = P):
    """x y / 2^260 mod p in [0, 2p) as normalized limbs (x < 2^256 normalized, y < p; or
    both below 2p). ``modulus``: p (Fr, default) or any other odd prime below 2^254.

    CIOS, one 52-bit word of y per round: the column sums stay below 2^57 (at most 20
    terms below 2^52 each reach one accumulator), so carries are propagated only once,
    at the end."""
    zero = _splat(0)
    p = [_splat(v) for v in _limbs52(modulus)]
    pinv = _splat(_pinv52(modulus))
    sh = _splat(52)
    t = [zero] * (LIMBS + 1)
    for i in range(LIMBS):
        for j in range(LIMBS):
            t[j] = _madd(b, "l", t[j], x[j], y[i])
            t[j + 1] = _madd(b, "h", t[j + 1], x[j], y[i])
        m = _madd(b, "l", zero, t[0], pinv)         # t0 + m p0 = 0 mod 2^52
        for j in range(LIMBS):
            t[j] = _madd(b, "l", t[j], m, p[j])
            t[j + 1] = _madd(b, "h", t[j + 1], m, p[j])
        carry = b.lshr(t[0], sh)
        t = t[1:] + [zero]
        t[0] = b.add(t[0], carry)
    return _normalize(b, t[:LIMBS])


def _normalize(b, t, signed: bool = False):
    """Carry-propagate limbs so that limbs 0..3 are < 2^52: non-negative limbs (each
    < 2^63), or with ``signed`` any signed limbs (the top limb keeps the sign of the value)."""
    mask, sh = _splat(_M52), _splat(52)
    t = list(t)
    for l in range(LIMBS - 1):
        t[l + 1] = b.add(t[l + 1], (b.ashr if signed else b.lshr)(t[l], sh))
        t[l] = b.and_(t[l], mask)
    return t


def _signed_chain(b, d):
    """`_normalize` of signed limbs."""
    return _normalize(b, d, signed=True)


def _emit_csub(b, x, q: int):
    """x - q where x >= q, else x (lane by lane, no branch)."""
    d = _signed_chain(b, [b.sub(x[l], _splat(v)) for l, v in enumerate(_limbs52(q))])
    neg = b.icmp_signed("<", d[-1], _splat(0))
    return [b.select(neg, x[l], d[l]) for l in range(LIMBS)]


def _emit_add(b, x, y):
    return _normalize(b, [b.add(x[l], y[l]) for l in range(LIMBS)])


def _emit_sub_2p(b, x, y, modulus: int = P):
    """x - y + 2p for x, y in [0, 2p): in (0, 4p)."""
    twop = _limbs52(2 * modulus)
    return _signed_chain(b, [b.add(b.sub(x[l], y[l]), _splat(twop[l])) for l in range(LIMBS)])


def _emit_bfly(b, x, y, w):
    """Harvey's DIT butterfly (x + w y, x - w y) for x, y in [0, 4p): outputs in [0, 4p).
    w None: twiddle 1."""
    x = _emit_csub(b, x, 2 * P)
    t = _emit_csub(b, y, 2 * P) if w is None else _emit_mont(b, y, w)
    return _emit_add(b, x, t), _emit_sub_2p(b, x, t)


# ---- memory access: rows of a (n, 5, 8) buffer, broadcast rows of a (m, 5) table ------------
def _row_ptr(context, builder, aryty, ary, i):
    arr = context.make_array(aryty)(context, builder, value=ary)
    idx = [context.cast(builder, i, types.intp, types.intp)] + \
        [context.get_constant(types.intp, 0)] * (aryty.ndim - 1)
    return cgutils.get_item_pointer(context, builder, aryty, arr, idx)


def _load_row(builder, ptr):
    return [builder.load(builder.bitcast(builder.gep(ptr, [ir.Constant(_I64, LANES * l)]),
                                         _V8.as_pointer()), align=8) for l in range(LIMBS)]


def _store_row(builder, ptr, v):
    for l in range(LIMBS):
        builder.store(v[l], builder.bitcast(builder.gep(ptr, [ir.Constant(_I64, LANES * l)]),
                                            _V8.as_pointer()), align=8)


def _load_bcast(builder, ptr):
    out = []
    for l in range(LIMBS):
        s = builder.load(builder.gep(ptr, [ir.Constant(_I64, l)]))
        v = builder.insert_element(ir.Constant(_V8, ir.Undefined), s, ir.Constant(ir.IntType(32), 0))
        out.append(builder.shuffle_vector(v, v, ir.Constant(ir.VectorType(ir.IntType(32), LANES),
                                                            [0] * LANES)))
    return out


def _bfly_codegen(with_twiddle: bool):
    def codegen(context, builder, signature, args):
        bt = signature.args[0]
        pi = _row_ptr(context, builder, bt, args[0], args[1])
        pj = _row_ptr(context, builder, bt, args[0], args[2])
        w = (_load_bcast(builder, _row_ptr(context, builder, signature.args[3], args[3], args[4]))
             if with_twiddle else None)
        u, v = _emit_bfly(builder, _load_row(builder, pi), _load_row(builder, pj), w)
        _store_row(builder, pi, u)
        _store_row(builder, pj, v)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _vbfly(typingctx, buf, i, j, tw, t):
    """buf[i], buf[j] = butterfly(buf[i], buf[j], tw[t] broadcast)."""
    return types.void(buf, types.intp, types.intp, tw, types.intp), _bfly_codegen(True)


@intrinsic
def _vbfly1(typingctx, buf, i, j):
    """buf[i], buf[j] = butterfly with twiddle 1."""
    return types.void(buf, types.intp, types.intp), _bfly_codegen(False)


# ---- conversion between eight (n, 4) columns and one (n, 5, 8) buffer -----------------------
def _to52(b, x):
    """Four vectors of 64-bit limbs -> five vectors of 52-bit limbs."""
    m = _splat(_M52)

    def sh(v, op, k):
        return op(v, _splat(k))
    return [b.and_(x[0], m),
            b.and_(b.or_(sh(x[0], b.lshr, 52), sh(x[1], b.shl, 12)), m),
            b.and_(b.or_(sh(x[1], b.lshr, 40), sh(x[2], b.shl, 24)), m),
            b.and_(b.or_(sh(x[2], b.lshr, 28), sh(x[3], b.shl, 36)), m),
            sh(x[3], b.lshr, 16)]


def _to64(b, l):
    """Five vectors of normalized 52-bit limbs (value < 2^256) -> four of 64-bit limbs."""
    def sh(v, op, k):
        return op(v, _splat(k))
    return [b.or_(l[0], sh(l[1], b.shl, 52)),
            b.or_(sh(l[1], b.lshr, 12), sh(l[2], b.shl, 40)),
            b.or_(sh(l[2], b.lshr, 24), sh(l[3], b.shl, 28)),
            b.or_(sh(l[3], b.lshr, 36), sh(l[4], b.shl, 16))]


def _lane_ptrs(context, builder, colty, colsty, cols, arr, idx):
    """Pointers to arr[cols[c], idx, 0] for the eight lanes c."""
    ptrs = []
    for c in range(LANES):
        cp = _row_ptr(context, builder, colsty, cols, ir.Constant(_I64, c))
        col = builder.load(cp)
        a = context.make_array(colty)(context, builder, value=arr)
        ptrs.append(cgutils.get_item_pointer(context, builder, colty, a,
                                             [col, idx, context.get_constant(types.intp, 0)]))
    return ptrs


_V4 = ir.VectorType(_I64, 4)


def _transpose_in(builder, rows):
    """Eight <4 x i64> rows -> four <8 x i64> vectors (vector k holds limb k of every row)."""
    i32 = ir.IntType(32)

    def cat(a, b, n):
        return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, 2 * n), list(range(2 * n))))
    w = [cat(rows[2 * i], rows[2 * i + 1], 4) for i in range(4)]
    u = [cat(w[0], w[1], 8), cat(w[2], w[3], 8)]
    allv = cat(u[0], u[1], 16)
    return [builder.shuffle_vector(allv, allv, ir.Constant(ir.VectorType(i32, LANES),
                                                           [4 * c + k for c in range(LANES)]))
            for k in range(4)]


def _transpose_out(builder, x):
    """Four <8 x i64> vectors -> eight <4 x i64> rows (the inverse of _transpose_in)."""
    i32 = ir.IntType(32)

    def cat(a, b, n):
        return builder.shuffle_vector(a, b, ir.Constant(ir.VectorType(i32, 2 * n), list(range(2 * n))))
    allv = cat(cat(x[0], x[1], 8), cat(x[2], x[3], 8), 16)     # allv[8 k + c] = x_k[c]
    return [builder.shuffle_vector(allv, allv, ir.Constant(ir.VectorType(i32, 4),
                                                           [8 * k + c for k in range(4)]))
            for c in range(LANES)]


def _gather_codegen(with_mul):
    def codegen(context, builder, signature, args):
        bt, _, st, ct, _ = signature.args[:5]
        ptrs = _lane_ptrs(context, builder, st, ct, args[3], args[2], args[4])
        rows = [builder.load(builder.bitcast(p, _V4.as_pointer()), align=8) for p in ptrs]
        v = _to52(builder, _transpose_in(builder, rows))
        if with_mul:
            w = _load_bcast(builder, _row_ptr(context, builder, signature.args[5], args[5], args[6]))
            v = _emit_mont(builder, v, w)
        _store_row(builder, _row_ptr(context, builder, bt, args[0], args[1]), v)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _vgather(typingctx, buf, i, src, cols, s):
    """buf[i, :, c] = src[cols[c], s] in 52-bit limbs, for the eight lanes c."""
    return types.void(buf, types.intp, src, cols, types.intp), _gather_codegen(False)


@intrinsic
def _vgather_mul(typingctx, buf, i, src, cols, s, tw, t):
    """buf[i, :, c] = src[cols[c], s] * tw[t] (in [0, 2p)), for the eight lanes c."""
    return (types.void(buf, types.intp, src, cols, types.intp, tw, types.intp),
            _gather_codegen(True))


def _scatter_codegen(with_mul):
    def codegen(context, builder, signature, args):
        bt, _, ot, ct = signature.args[:4]
        v = _load_row(builder, _row_ptr(context, builder, bt, args[0], args[1]))
        v = _emit_csub(builder, _emit_csub(builder, v, 2 * P), P)
        if with_mul:
            w = _load_bcast(builder, _row_ptr(context, builder, signature.args[4], args[4], args[5]))
            v = _emit_csub(builder, _emit_mont(builder, v, w), P)
        rows = _transpose_out(builder, _to64(builder, v))
        ptrs = _lane_ptrs(context, builder, ot, ct, args[3], args[2], args[1])
        for r, p in zip(rows, ptrs):
            builder.store(r, builder.bitcast(p, _V4.as_pointer()), align=8)
        return context.get_dummy_value()
    return codegen


@intrinsic
def _vscatter(typingctx, buf, i, out, cols):
    """out[cols[c], i] = buf[i, :, c] brought from [0, 4p) to [0, p), for the eight lanes c
    (lanes sharing a column must hold equal values)."""
    return types.void(buf, types.intp, out, cols), _scatter_codegen(False)


@intrinsic
def _vscatter_mul(typingctx, buf, i, out, cols, tw, t):
    """As _vscatter, times tw[t]."""
    return types.void(buf, types.intp, out, cols, tw, types.intp), _scatter_codegen(True)


# ---- the transform ------------------------------------------------------------------------
_JIT = dict(cache=True, nogil=True)


@nb.njit(**_JIT)
def _gather(src, cols, buf, rev, negate, pre, pre_mode):
    """buf[rev[j]] = x_j of the columns `cols` (one per lane), where x_j = src[c, -j mod n]
    if negate else src[c, j], times pre[0] or pre[j] (pre_mode 1, 2)."""
    n = src.shape[1]
    mask = n - 1
    for j in range(n):
        s = ((n - j) & mask) if negate else j
        if pre_mode == 0:
            _vgather(buf, rev[j], src, cols, s)
        else:
            _vgather_mul(buf, rev[j], src, cols, s, pre, j if pre_mode == 2 else 0)


@nb.njit(**_JIT)
def _block_pass(buf, tw, base, L1):
    """All stages with pair distance < 2^L1 on rows base .. base + 2^L1 - 1."""
    B = 1 << L1
    m = 1
    while m < B:
        for g in range(base, base + B, 2 * m):
            _vbfly1(buf, g, g + m)
            for q in range(1, m):
                _vbfly(buf, g + q, g + q + m, tw, m - 1 + q)
        m *= 2


@nb.njit(**_JIT)
def _mid_tile(buf, tw, base, M0, r, C):
    """Stages with pair distance M0 .. M0 2^(r-1) on rows base + mid M0 + lo (mid < 2^r,
    lo < C): C adjacent independent sub-transforms, kept in cache together."""
    R = 1 << r
    half = 1
    while half < R:
        m = M0 * half
        for g in range(0, R, 2 * half):
            for q in range(half):
                i0 = base + (g + q) * M0
                t0 = m - 1 + (i0 & (m - 1))
                for lo in range(C):
                    _vbfly(buf, i0 + lo, i0 + lo + m, tw, t0 + lo)
        half *= 2


@nb.njit(**_JIT)
def _scatter(buf, out, cols, post, post_mode):
    """out[c, i] = buf[i, :, lane of c] in [0, p) (times post[i] when post_mode is 2)."""
    for i in range(buf.shape[0]):
        if post_mode == 2:
            _vscatter_mul(buf, i, out, cols, post, i)
        else:
            _vscatter(buf, i, out, cols)


@nb.njit(cache=True, nogil=True, parallel=True)
def _transform_many(src, out, bufs, tw, rev, L, L1, passes, negate, pre, pre_mode, post,
                    post_mode):
    """out[c] = NTT of src[c] for every column, eight columns per batch; worker w (one per
    buffer in bufs) takes batches w, w + workers, ..."""
    ncols = src.shape[0]
    nbatch = (ncols + LANES - 1) // LANES
    workers = bufs.shape[0]
    n = 1 << L
    for w in nb.prange(workers):
        buf = bufs[w]
        for b in range(w, nbatch, workers):
            cols = np.empty(LANES, dtype=np.int64)
            for c in range(LANES):      # lanes past the last column repeat it
                cols[c] = min(b * LANES + c, ncols - 1)
            _gather(src, cols, buf, rev, negate, pre, pre_mode)
            for base in range(0, n, 1 << L1):
                _block_pass(buf, tw, base, L1)
            for p in range(passes.shape[0]):
                s0 = passes[p, 0]
                r = passes[p, 1]
                C = passes[p, 2]
                M0 = 1 << s0
                for h in range(n >> (s0 + r)):
                    for l0 in range(0, M0, C):
                        _mid_tile(buf, tw, h * (M0 << r) + l0, M0, r, C)
            _scatter(buf, out, cols, post, post_mode)


# ---- tables and the Python entry point ------------------------------------------------------
def to_limbs52(a: np.ndarray, times16: bool = False) -> np.ndarray:
    """(m, 4) Montgomery Fr array -> (m, 5) 52-bit limbs (of 16 a, reduced, if times16)."""
    if times16:
        a = Fr.scale(a, 16)
    a = a.astype(np.uint64)
    m = np.uint64(_M52)
    out = np.empty((a.shape[0], LIMBS), dtype=np.uint64)
    out[:, 0] = a[:, 0] & m
    out[:, 1] = ((a[:, 0] >> np.uint64(52)) | (a[:, 1] << np.uint64(12))) & m
    out[:, 2] = ((a[:, 1] >> np.uint64(40)) | (a[:, 2] << np.uint64(24))) & m
    out[:, 3] = ((a[:, 2] >> np.uint64(28)) | (a[:, 3] << np.uint64(36))) & m
    out[:, 4] = a[:, 3] >> np.uint64(16)
    return out


@nb.njit(inline="always")
def lane_get(v, c):
    """Lane c of a (5, 8) block of 52-bit limbs as four 64-bit limbs (the value < 2^256)."""
    l0, l1, l2, l3, l4 = v[0, c], v[1, c], v[2, c], v[3, c], v[4, c]
    return (l0 | (l1 << np.uint64(52)), (l1 >> np.uint64(12)) | (l2 << np.uint64(40)),
            (l2 >> np.uint64(24)) | (l3 << np.uint64(28)), (l3 >> np.uint64(36)) | (l4 << np.uint64(16)))


@nb.njit(inline="always")
def lane_set(v, c, a):
    """Lane c of a (5, 8) block of 52-bit limbs = the four 64-bit limbs a."""
    m = np.uint64(_M52)
    v[0, c] = a[0] & m
    v[1, c] = ((a[0] >> np.uint64(52)) | (a[1] << np.uint64(12))) & m
    v[2, c] = ((a[1] >> np.uint64(40)) | (a[2] << np.uint64(24))) & m
    v[3, c] = ((a[2] >> np.uint64(28)) | (a[3] << np.uint64(36))) & m
    v[4, c] = a[3] >> np.uint64(16)


class Tables:
    """The twiddles (x16, 52-bit limbs), bit reversal and pass plan of a size-2^k batch."""

    def __init__(self, k: int):
        self.k = k
        self.n = 1 << k
        self.tw = to_limbs52(twiddle_table(k), times16=True)
        self.rev = _rev_table(k)
        # blocks of 2^8 rows (80 KiB), then passes of at most 8 stages in tiles of C * 2^r
        # rows (C 320-byte rows side by side: 4 * 256 rows = 320 KiB)
        self.L1 = min(k, 8)
        passes = []
        s0 = self.L1
        while s0 < k:
            r = min(8, k - s0)
            passes.append((s0, r, min(1 << s0, 4)))
            s0 += r
        self.passes = np.array(passes, dtype=np.int64).reshape(-1, 3)


_TABLES: dict = {}
_SCALED: dict = {}
_DUMMY = np.zeros((1, LIMBS), dtype=np.uint64)


def tables(k: int) -> Tables:
    t = _TABLES.get(k)
    if t is None:
        t = _TABLES[k] = Tables(k)
    return t


def scaled(a: np.ndarray) -> np.ndarray:
    """to_limbs52(a, times16=True), cached for the last few multiplier tables seen (by
    identity: the cache holds the table, so its id is not reused; the domains' tables are
    never modified)."""
    hit = _SCALED.get(id(a))
    if hit is None or hit[0] is not a:
        while len(_SCALED) >= 8:
            _SCALED.pop(next(iter(_SCALED)))
        hit = _SCALED[id(a)] = (a, to_limbs52(a, times16=True))
    return hit[1]


def transform_many(src: np.ndarray, out: np.ndarray, *, negate: bool = False, pre=None,
                   post=None) -> np.ndarray:
    """out[c] = ntt.transform(src[c], negate=, pre=, post=) for every column c of the
    (c, n, 4) array src (same semantics, eight columns at a time). Needs available()."""
    cols, n = src.shape[0], src.shape[1]
    k = n.bit_length() - 1
    t = tables(k)
    pre_s = _DUMMY if pre is None else scaled(pre)
    post_s = _DUMMY if post is None else scaled(post)
    pre_mode = 0 if pre is None else (1 if pre.shape[0] == 1 else 2)
    post_mode = 0 if post is None else 2
    workers = min(nb.get_num_threads(), max(1, -(-cols // LANES)))
    bufs = np.empty((workers, n, LIMBS, LANES), dtype=np.uint64)
    _transform_many(src, out, bufs, t.tw, t.rev, k, t.L1, t.passes, negate, pre_s, pre_mode,
                    post_s, post_mode)
    return out


# ---- registers of eight rows, for the constraint evaluator (plonk/expression.py) ----------
# A register file is a (num_regs, V, 5, 8) uint64 array: register d holds 8 V consecutive
# rows, row 8 v + c in vector v, lane c. Values are kept in [0, 2p) with normalized limbs,
# in the "x16" Montgomery form x 2^260 mod p (16 times the usual residue), in which the
# 52-bit Montgomery product needs no correction: (a 2^260)(b 2^260) / 2^260 = ab 2^260.
def _reg_ptr(context, builder, sig_ty, regs, d, v):
    arr = context.make_array(sig_ty)(context, builder, value=regs)
    zero = context.get_constant(types.intp, 0)
    return cgutils.get_item_pointer(context, builder, sig_ty, arr, [d, v, zero, zero])


def _reg_binop(body):
    def typer(typingctx, regs, d, a, b, v):
        def codegen(context, builder, signature, args):
            rt = signature.args[0]
            x = _load_row(builder, _reg_ptr(context, builder, rt, args[0], args[2], args[4]))
            y = _load_row(builder, _reg_ptr(context, builder, rt, args[0], args[3], args[4]))
            _store_row(builder, _reg_ptr(context, builder, rt, args[0], args[1], args[4]),
                       body(builder, x, y))
            return context.get_dummy_value()
        return types.void(regs, types.intp, types.intp, types.intp, types.intp), codegen
    return intrinsic(typer)


# regs[d, v] = regs[a, v] (op) regs[b, v]
vreg_add = _reg_binop(lambda b, x, y: _emit_csub(b, _emit_add(b, x, y), 2 * P))
vreg_sub = _reg_binop(lambda b, x, y: _emit_csub(b, _emit_sub_2p(b, x, y), 2 * P))
vreg_mul = _reg_binop(_emit_mont)
# regs[d, v] = -regs[a, v] (b ignored)
vreg_neg = _reg_binop(lambda b, x, y: _emit_csub(
    b, _signed_chain(b, [b.sub(_splat(t), x[l]) for l, t in enumerate(_limbs52(2 * P))]), 2 * P))


@intrinsic
def vreg_bcast(typingctx, regs, d, v, table, t):
    """regs[d, v] = table[t] ((m, 5) 52-bit limbs) on every lane."""
    def codegen(context, builder, signature, args):
        rt, _, _, tt, _ = signature.args
        w = _load_bcast(builder, _row_ptr(context, builder, tt, args[3], args[4]))
        _store_row(builder, _reg_ptr(context, builder, rt, args[0], args[1], args[2]), w)
        return context.get_dummy_value()
    return types.void(regs, types.intp, types.intp, table, types.intp), codegen


@intrinsic
def vreg_load(typingctx, regs, d, v, cols, c, start):
    """regs[d, v] = rows start .. start + 7 (mod n) of column cols[c] ((k, n, 4), values < p)."""
    def codegen(context, builder, signature, args):
        rt, _, _, ct, _, _ = signature.args
        arr = context.make_array(ct)(context, builder, value=args[3])
        n = builder.extract_value(arr.shape, 1)
        zero = context.get_constant(types.intp, 0)
        rows = []
        for lane in range(LANES):
            r = builder.add(args[5], ir.Constant(_I64, lane))
            r = builder.select(builder.icmp_signed(">=", r, n), builder.sub(r, n), r)
            p = cgutils.get_item_pointer(context, builder, ct, arr, [args[4], r, zero])
            rows.append(builder.load(builder.bitcast(p, _V4.as_pointer()), align=8))
        v = _to52(builder, _transpose_in(builder, rows))
        _store_row(builder, _reg_ptr(context, builder, rt, args[0], args[1], args[2]), v)
        return context.get_dummy_value()
    return types.void(regs, types.intp, types.intp, cols, types.intp, types.intp), codegen


@intrinsic
def vreg_store(typingctx, regs, a, v, out, k, start):
    """out[k, start .. start + 7] = regs[a, v] brought to [0, p) (start + 7 < n)."""
    def codegen(context, builder, signature, args):
        rt, _, _, ot, _, _ = signature.args
        x = _load_row(builder, _reg_ptr(context, builder, rt, args[0], args[1], args[2]))
        rows = _transpose_out(builder, _to64(builder, _emit_csub(builder, x, P)))
        arr = context.make_array(ot)(context, builder, value=args[3])
        zero = context.get_constant(types.intp, 0)
        for lane in range(LANES):
            r = builder.add(args[5], ir.Constant(_I64, lane))
            p = cgutils.get_item_pointer(context, builder, ot, arr, [args[4], r, zero])
            builder.store(rows[lane], builder.bitcast(p, _V4.as_pointer()), align=8)
        return context.get_dummy_value()
    return types.void(regs, types.intp, types.intp, out, types.intp, types.intp), codegen
