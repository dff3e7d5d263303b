"""The Merkle tree of RFC 9162 (Certificate Transparency 2.0), section 2.1, over SHA-256.

    leaf hash      SHA-256(0x00 || entry)
    node hash      SHA-256(0x01 || left || right)
    MTH(D[n])      SHA-256() for n = 0; the leaf hash for n = 1; otherwise the node hash of
                   MTH(D[0:k]) and MTH(D[k:n]) with k the largest power of two below n

Inclusion proofs (audit paths, `PATH`) and consistency proofs (`PROOF`) are lists of 32-byte
hashes exactly as the RFC defines them, so any RFC 9162 / RFC 6962 verifier checks them; the
verification algorithms below are the RFC's (sections 2.1.3.2 and 2.1.4.2), step for step.

`Tree` keeps every complete perfect subtree's hash in memory (`levels[h][i]` covers leaves
[i 2^h, (i+1) 2^h)), so an append costs one hash amortized and a root or a proof O(log^2 n)
hashes at most, whatever the size: 32 bytes per leaf and as much again for the inner nodes.
"""
import hashlib

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()


class ProofError(ValueError):
    """A Merkle proof that does not check out (or a request for an impossible one)."""


def leaf_hash(entry: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + entry).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_of(leaf_hashes) -> bytes:
    """MTH over a list of leaf hashes (the definition, for checking and for small lists)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root_of(leaf_hashes[:k]), root_of(leaf_hashes[k:]))


class Tree:
    """An append-only RFC 9162 tree in memory: roots and proofs for every size so far."""

    def __init__(self):
        self.levels = [[]]

    @property
    def size(self) -> int:
        return len(self.levels[0])

    def append(self, lh: bytes):
        """Add one leaf hash; complete every perfect subtree it closes."""
        self.levels[0].append(lh)
        i, h = self.size - 1, 0
        while i & 1:        # the leaf closes a pair at level h: its parent is complete
            if len(self.levels) == h + 1:
                self.levels.append([])
            self.levels[h + 1].append(node_hash(self.levels[h][i - 1], self.levels[h][i]))
            i, h = i >> 1, h + 1

    def truncate(self, n: int):
        """Forget every leaf from index n on (undo appends that were not made durable)."""
        for h, level in enumerate(self.levels):
            del level[n >> h:]

    def _mth(self, start: int, end: int) -> bytes:
        """MTH of leaves [start, end): a stored node when the range is a perfect aligned
        subtree, else split as the RFC does (ranges met by the RFC's recursion are aligned)."""
        w = end - start
        if w & (w - 1) == 0:
            h = w.bit_length() - 1
            return self.levels[h][start >> h]
        k = _split(w)
        return node_hash(self._mth(start, start + k), self._mth(start + k, end))

    def _check_size(self, n: int):
        if not 0 <= n <= self.size:
            raise ProofError(f"tree size {n} is outside [0, {self.size}]")

    def root(self, n: int = None) -> bytes:
        n = self.size if n is None else n
        self._check_size(n)
        return EMPTY_ROOT if n == 0 else self._mth(0, n)

    def inclusion_proof(self, index: int, n: int) -> list:
        """PATH(index, D[n]) of RFC 9162 section 2.1.3.1: sibling hashes, leaf to root."""
        self._check_size(n)
        if not 0 <= index < n:
            raise ProofError(f"leaf index {index} is outside a tree of size {n}")
        path, start, end = [], 0, n
        while end - start > 1:
            k = _split(end - start)
            if index < start + k:
                path.append(self._mth(start + k, end))
                end = start + k
            else:
                path.append(self._mth(start, start + k))
                start += k
        return path[::-1]

    def consistency_proof(self, m: int, n: int) -> list:
        """PROOF(m, D[n]) of RFC 9162 section 2.1.4.1, for 0 < m <= n (empty when m = n)."""
        self._check_size(n)
        if not 0 < m <= n:
            raise ProofError(f"a consistency proof needs 0 < old <= new, got old {m}, new {n}")
        out = []

        def sub(m, start, end, whole):
            # SUBPROOF(m, D[start:end], whole); m counts leaves from `start`
            n = end - start
            if m == n:
                if not whole:
                    out.append(self._mth(start, end))
                return
            k = _split(n)
            if m <= k:
                sub(m, start, start + k, whole)
                out.append(self._mth(start + k, end))
            else:
                sub(m - k, start + k, end, False)
                out.append(self._mth(start, start + k))

        sub(m, 0, n, True)
        return out


def _check_hashes(path, what):
    if not isinstance(path, list) or not all(isinstance(p, bytes) and len(p) == HASH_SIZE
                                             for p in path):
        raise ProofError(f"{what}: not a list of {HASH_SIZE}-byte hashes")


def verify_inclusion(lh: bytes, index: int, size: int, path: list, root: bytes):
    """RFC 9162 section 2.1.3.2: the leaf with hash `lh` is leaf `index` of the tree of `size`
    leaves whose root is `root`. ProofError otherwise."""
    _check_hashes(path, "inclusion proof")
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of size {size}")
    fn, sn, r = index, size - 1, lh
    for p in path:
        if sn == 0:
            raise ProofError("the inclusion proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the inclusion proof is shorter than the tree is deep")
    if r != root:
        raise ProofError(f"the inclusion proof of leaf {index} does not lead to the root of the "
                         f"tree of size {size}")


def verify_consistency(m: int, old_root: bytes, n: int, new_root: bytes, path: list):
    """RFC 9162 section 2.1.4.2: the tree of size `n` with root `new_root` extends the tree of
    size `m` with root `old_root` (the first m leaves are the same). ProofError otherwise."""
    _check_hashes(path, "consistency proof")
    if not 0 < m <= n:
        raise ProofError(f"a consistency proof needs 0 < old <= new, got old {m}, new {n}")
    if m == n:
        if path:
            raise ProofError("a consistency proof between equal sizes must be empty")
        if old_root != new_root:
            raise ProofError(f"two different roots for the same tree size {m}")
        return
    if not path:
        raise ProofError("empty consistency proof between different sizes")
    if m & (m - 1) == 0:
        path = [old_root] + path
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("the consistency proof is longer than the tree is deep")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("the consistency proof is shorter than the tree is deep")
    if fr != old_root:
        raise ProofError(f"the consistency proof does not lead to the old root (size {m})")
    if sr != new_root:
        raise ProofError(f"the consistency proof does not lead to the new root (size {n})")
