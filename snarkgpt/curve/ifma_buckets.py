"""The MSM's bucket trees with AVX-512 IFMA: eight affine additions at once.

A level of the bucket trees (msm.py, `_bucket_trees`) adds many independent pairs of affine
points with one shared inversion (Montgomery's trick): a forward pass multiplies the
denominators x2 - x1 into a running product, a backward pass peels each inverse off it.
Here the pairs of a level are taken eight at a time, one per vector lane: eight running
products side by side, one inversion for the eight of them (scalar), and every other
product (about six per addition) done with the 52-bit IFMA Montgomery product of
field/ifma.py, on Fq.

Coordinates are kept in the x16 form (16 x mod q in Montgomery form, field/ifma.py), in
which that product needs no correction: the MSM converts its points once (`to_x16`) and
each bucket's sum back once (`from_x16_row`). Pairs that need a special case (equal x:
a doubling or P + (-P); a point at infinity) are flagged by the vector pass, which gives
them a denominator of 1, and redone by the scalar formulas afterwards.
"""
import numba as nb
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from ..field import FQ_MODULUS as Q
from ..field import ifma as _v
from ..field.arith import fq_mul, load, store
from ..field.params import to_limbs
from .g1_formulas import _JIT, _R, ONE, aff_den, aff_finish, aff_load, aff_store, fq_inv

C16 = to_limbs(16 * _R % Q)                  # Montgomery form of 16: x -> 16 x
C_INV16 = to_limbs(pow(16, -1, Q) * _R % Q)  # and of 1/16
_ONE16 = 16 * _R % Q                         # 1 in the x16 form
_ONE16_52 = np.array(_v._limbs52(_ONE16), dtype=np.uint64)


# ---- IR helpers on eight-lane vectors of Fq -----------------------------------------------
def _sub_mod(b, x, y):
    """x - y mod q for x, y in [0, q): in [0, q)."""
    d = _v._signed_chain(b, [b.add(b.sub(x[l], y[l]), _v._splat(t))
                             for l, t in enumerate(_v._limbs52(Q))])
    return _v._emit_csub(b, d, Q)


def _is_zero(b, x):
    acc = x[0]
    for l in range(1, _v.LIMBS):
        acc = b.or_(acc, x[l])
    return b.icmp_unsigned("==", acc, _v._splat(0))


def _load_points(context, builder, st, src, pt, pairs, g, col):
    """x, y (five 52-bit limbs each) of src[pairs[8 g + c, col]] for the lanes c."""
    parr = context.make_array(pt)(context, builder, value=pairs)
    sarr = context.make_array(st)(context, builder, value=src)
    zero = context.get_constant(types.intp, 0)
    xs, ys = [], []
    for c in range(_v.LANES):
        j = builder.add(builder.mul(g, ir.Constant(_v._I64, _v.LANES)), ir.Constant(_v._I64, c))
        row = builder.load(cgutils.get_item_pointer(context, builder, pt, parr,
                                                    [j, context.get_constant(types.intp, col)]))
        p = cgutils.get_item_pointer(context, builder, st, sarr, [row, zero])
        xs.append(builder.load(builder.bitcast(p, _v._V4.as_pointer()), align=8))
        py = builder.gep(p, [ir.Constant(_v._I64, 4)])
        ys.append(builder.load(builder.bitcast(py, _v._V4.as_pointer()), align=8))
    return (_v._to52(builder, _v._transpose_in(builder, xs)),
            _v._to52(builder, _v._transpose_in(builder, ys)))


def _den(b, x1, y1, x2, y2):
    """(denominator x2 - x1 with 1 on special lanes, special-lane mask)."""
    den = _sub_mod(b, x2, x1)
    special = b.or_(_is_zero(b, den), b.or_(b.and_(_is_zero(b, x1), _is_zero(b, y1)),
                                           b.and_(_is_zero(b, x2), _is_zero(b, y2))))
    one = _v._limbs52(_ONE16)
    return [b.select(special, _v._splat(one[l]), den[l]) for l in range(_v.LIMBS)], special


@intrinsic
def _vfwd(typingctx, src, pairs, g, acc, prefix, flags):
    """Forward pass, pairs 8g .. 8g + 7: prefix[g] = acc; acc *= den; flags[g] = special."""
    sig = types.void(src, pairs, types.intp, acc, prefix, flags)

    def codegen(context, builder, signature, args):
        st, pt, _, at, prt, ft = signature.args
        x1, y1 = _load_points(context, builder, st, args[0], pt, args[1], args[2], 0)
        x2, y2 = _load_points(context, builder, st, args[0], pt, args[1], args[2], 1)
        den, special = _den(builder, x1, y1, x2, y2)
        pa = _v._row_ptr(context, builder, at, args[3], context.get_constant(types.intp, 0))
        a = _v._load_row(builder, pa)
        _v._store_row(builder, _v._row_ptr(context, builder, prt, args[4], args[2]), a)
        _v._store_row(builder, pa, _v._emit_mont(builder, a, den, Q))
        fp = _v._row_ptr(context, builder, ft, args[5], args[2])
        builder.store(builder.zext(special, _v._V8), builder.bitcast(fp, _v._V8.as_pointer()),
                      align=8)
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _vbwd(typingctx, src, dst, pairs, g, inv, prefix):
    """Backward pass, pairs 8g .. 8g + 7: dst[pairs[j, 2]] = src[pairs[j, 0]] +
    src[pairs[j, 1]] (affine, canonical x16 coordinates; special lanes write dst's last
    row instead), and inv *= den."""
    sig = types.void(src, dst, pairs, types.intp, inv, prefix)

    def codegen(context, builder, signature, args):
        st, dt, pt, _, it, prt = signature.args
        b = builder
        x1, y1 = _load_points(context, b, st, args[0], pt, args[2], args[3], 0)
        x2, y2 = _load_points(context, b, st, args[0], pt, args[2], args[3], 1)
        den, special = _den(b, x1, y1, x2, y2)
        pi = _v._row_ptr(context, b, it, args[4], context.get_constant(types.intp, 0))
        inv = _v._load_row(b, pi)
        invd = _v._emit_mont(b, inv, _v._load_row(b, _v._row_ptr(context, b, prt, args[5], args[3])), Q)
        _v._store_row(b, pi, _v._emit_mont(b, inv, den, Q))
        lam = _v._emit_mont(b, _sub_mod(b, y2, y1), invd, Q)             # [0, 2q)
        t = _v._emit_mont(b, lam, lam, Q)                                  # [0, 2q)
        q2 = _v._limbs52(2 * Q)
        x3 = _v._signed_chain(b, [b.add(b.sub(b.sub(t[l], x1[l]), x2[l]), _v._splat(q2[l]))
                                  for l in range(_v.LIMBS)])               # (0, 4q)
        x3 = _v._emit_csub(b, _v._emit_csub(b, x3, 2 * Q), Q)
        u = _v._emit_mont(b, lam, _v._emit_sub_2p(b, x1, x3, Q), Q)       # [0, 2q)
        qv = _v._limbs52(Q)
        y3 = _v._signed_chain(b, [b.add(b.sub(u[l], y1[l]), _v._splat(qv[l]))
                                  for l in range(_v.LIMBS)])               # (0, 3q)
        y3 = _v._emit_csub(b, _v._emit_csub(b, y3, 2 * Q), Q)
        xs = _v._transpose_out(b, _v._to64(b, x3))
        ys = _v._transpose_out(b, _v._to64(b, y3))
        parr = context.make_array(pt)(context, b, value=args[2])
        darr = context.make_array(dt)(context, b, value=args[1])
        zero = context.get_constant(types.intp, 0)
        two = context.get_constant(types.intp, 2)
        # special lanes write the scratch row (dst's last): dst may be src, whose rows the
        # scalar fix-up reads afterwards
        scratch = b.sub(b.extract_value(darr.shape, 0), ir.Constant(_v._I64, 1))
        for c in range(_v.LANES):
            j = b.add(b.mul(args[3], ir.Constant(_v._I64, _v.LANES)), ir.Constant(_v._I64, c))
            row = b.load(cgutils.get_item_pointer(context, b, pt, parr, [j, two]))
            row = b.select(b.extract_element(special, ir.Constant(ir.IntType(32), c)), scratch, row)
            p = cgutils.get_item_pointer(context, b, dt, darr, [row, zero])
            b.store(xs[c], b.bitcast(p, _v._V4.as_pointer()), align=8)
            b.store(ys[c], b.bitcast(b.gep(p, [ir.Constant(_v._I64, 4)]), _v._V4.as_pointer()),
                    align=8)
        return context.get_dummy_value()

    return sig, codegen


# ---- the tree levels ----------------------------------------------------------------------
@nb.njit(inline="always")
def _times(x, y, c):
    return fq_mul(x, c), fq_mul(y, c)


@nb.njit(**_JIT)
def _lane_inverses(acc, inv):
    """inv[0, :, c] = 1 / acc[0, :, c] for the eight lanes (x16 form in and out), with one
    field inversion for all eight (Montgomery's trick again)."""
    vals = np.empty((8, 4), np.uint64)
    pre = np.empty((8, 4), np.uint64)
    run = ONE
    for c in range(8):
        a = fq_mul(_v.lane_get(acc[0], c), C_INV16)   # a (< 2q) is 16 A: now A
        store(vals, c, a)
        store(pre, c, run)                # A_0 ... A_(c-1)
        run = fq_mul(run, a)
    t = fq_inv(run)
    for c in range(7, -1, -1):
        _v.lane_set(inv[0], c, fq_mul(fq_mul(t, load(pre, c)), C16))     # 16 / A_c
        t = fq_mul(t, load(vals, c))


@nb.njit(inline="always")
def _fixup(src, dst, a, b, d):
    """dst[d] = src[a] + src[b] by the scalar formulas (any case), x16 in and out."""
    x1, y1 = aff_load(src, a)
    x1, y1 = _times(x1, y1, C_INV16)
    x2, y2 = aff_load(src, b)
    x2, y2 = _times(x2, y2, C_INV16)
    den, case = aff_den(x1, y1, x2, y2)
    inv = fq_inv(den) if case <= 1 else den         # cases 2-4 do not use it
    x3, y3 = aff_finish(x1, y1, x2, y2, case, inv)
    x3, y3 = _times(x3, y3, C16)
    aff_store(dst, d, x3, y3)


@nb.njit(**_JIT)
def _level(src, dst, pairs, npairs, acc, prefix, flags, inv):
    """dst[pairs[j, 2]] = src[pairs[j, 0]] + src[pairs[j, 1]] for j < npairs, one shared
    inversion per lane (rows of pairs up to a multiple of 8 are padding, written to dst's
    last row, a scratch row). dst may be src when no pair writes a row another pair reads."""
    G = (npairs + 7) // 8
    for l in range(5):
        for c in range(8):
            acc[0, l, c] = _ONE16_52[l]
    for g in range(G):
        _vfwd(src, pairs, g, acc, prefix, flags)
    _lane_inverses(acc, inv)
    for g in range(G - 1, -1, -1):
        _vbwd(src, dst, pairs, g, inv, prefix)
    for j in range(npairs):
        if flags[j >> 3, j & 7]:
            _fixup(src, dst, pairs[j, 0], pairs[j, 1], pairs[j, 2])


@nb.njit(**_JIT)
def bucket_trees_x16(src, dst, cnt, start, nstart, pairs, acc, prefix, flags, inv, nbuckets):
    """`msm._bucket_trees` on x16 coordinates, eight additions at a time. src and dst each
    need one spare last row (the padding's scratch row); pairs, acc, prefix, flags, inv
    from `work_arrays`. Returns the array holding the sums."""
    while True:
        j = 0
        s = 0
        for b in range(1, nbuckets + 1):
            nstart[b] = s
            cb = cnt[b]
            base = start[b]
            for t in range(cb >> 1):
                pairs[j, 0] = base + 2 * t
                pairs[j, 1] = base + 2 * t + 1
                pairs[j, 2] = s + t
                j += 1
            if cb & 1:
                for q in range(8):
                    dst[s + (cb >> 1), q] = src[base + cb - 1, q]
            s += (cb + 1) >> 1
        if j == 0:
            break
        npairs = j
        scratch = dst.shape[0] - 1
        while j & 7:
            pairs[j, 0] = pairs[0, 0]
            pairs[j, 1] = pairs[0, 1]
            pairs[j, 2] = scratch
            j += 1
        _level(src, dst, pairs, npairs, acc, prefix, flags, inv)
        for b in range(1, nbuckets + 1):
            cnt[b] = (cnt[b] + 1) >> 1
            start[b] = nstart[b]
        tmp = src
        src = dst
        dst = tmp
    return src


@nb.njit(inline="always")
def work_arrays(m, vec):
    """(pairs, acc, prefix, flags, inv) for trees over m points (placeholders if not vec)."""
    G = (m // 2 + 7) // 8 + 1 if vec else 1
    return (np.empty((8 * G, 3), np.int64), np.empty((1, 5, 8), np.uint64),
            np.empty((G, 5, 8), np.uint64), np.empty((G, 8), np.int64),
            np.empty((1, 5, 8), np.uint64))


@nb.njit(**_JIT)
def to_x16(pts, out):
    """out = pts with both coordinates times 16 (affine rows; infinity stays zero)."""
    for i in range(pts.shape[0]):
        x, y = aff_load(pts, i)
        x, y = _times(x, y, C16)
        aff_store(out, i, x, y)


@nb.njit(inline="always")
def from_x16_row(arr, i):
    """arr[i] from the x16 form back to Montgomery form."""
    x, y = aff_load(arr, i)
    x, y = _times(x, y, C_INV16)
    aff_store(arr, i, x, y)


@nb.njit(**_JIT)
def lanes_x16(work, nb_, L, pairs, acc, prefix, flags, inv):
    """The lane phase of `msm._bucket_reduce_lanes` on x16 rows of one array: work[1 .. nb_]
    holds the bucket sums (zero rows: empty), rows nb_ + 1 + l and nb_ + 1 + L + l the lane
    sums R_l and U_l (zeroed here), row nb_ + 1 + 2 L a scratch row. Each step adds a bucket
    to every R_l, then every R_l to its U_l: L independent additions, one inversion per
    vector lane."""
    K = nb_ // L
    r0 = nb_ + 1
    u0 = r0 + L
    for i in range(r0, u0 + L):
        for q in range(8):
            work[i, q] = 0
    scratch = u0 + L
    npad = (L + 7) & ~7
    for t in range(K):
        for l in range(npad):
            if l < L:
                pairs[l, 0] = r0 + l
                pairs[l, 1] = l * K + K - t
                pairs[l, 2] = r0 + l
            else:
                pairs[l, 0] = r0
                pairs[l, 1] = 1
                pairs[l, 2] = scratch
        _level(work, work, pairs, L, acc, prefix, flags, inv)
        for l in range(npad):
            if l < L:
                pairs[l, 0] = u0 + l
                pairs[l, 1] = r0 + l
                pairs[l, 2] = u0 + l
            else:
                pairs[l, 0] = u0
                pairs[l, 1] = r0
                pairs[l, 2] = scratch
        _level(work, work, pairs, L, acc, prefix, flags, inv)
    for i in range(r0, u0 + L):
        from_x16_row(work, i)
