"""Key generation: the proving key and the verifying key.

`keygen(srs, cs, circuit, config)` runs the circuit's synthesize once (challenges random:
only the fixed columns and the copy constraints are kept, and they must not depend on the
witness), then computes

* the fixed columns (selectors, tables, constants) as values, coefficients and commitments;
* the permutation's sigma columns from the copy-constraint cycles (permutation/keygen.py);
* the Lagrange polynomials l_0, l_last (row u = usable_rows), l_active (1 on rows < u) and
  the identity X, which the prover's quotient needs and the verifier computes at x itself.

The verifying key holds the `CircuitDescription` (description.py), from which both sides
derive the `Layout` (layout.py). `VerifyingKey.to_bytes()` is versioned (magic b"SGVK");
`digest()` is the sha256 of those bytes, the circuit's (model's) fingerprint. `from_bytes`
refuses malformed input with `KeyFormatError`.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import numpy as np

from snarkgpt.curve import g1
from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.field.domain import Domain

from .circuit import Assignment, CircuitError, ConstraintSystem, choose_degree
from .committed.keygen import blind_committed, blinding_basis, committed_indices
from .description import CircuitDescription, KeyFormatError, Reader, Writer, instance_shapes
from .kzg import VerifierKey, commit_values
from .layout import Layout, lookup_groups
from .lookup.constraints import pack_fractions
from .permutation.keygen import build_sigmas

P = FR_MODULUS
VK_MAGIC = b"SGVK"
VK_VERSION = 3        # 2: exact instance shapes, the application's statement bytes; 3: advice roles (link columns)

__all__ = ["CircuitDescription", "Layout", "ProvingKey", "VerifyingKey", "KeyFormatError",
           "keygen", "commit_values"]


class VerifyingKey:
    """What the verifier needs: the description, fixed and sigma commitments, SRS G2 points.

    ``srs_digest`` names the setup: it must be `srs_digest(g2)` (checked here), so a label
    that names a ceremony is tied to the G2 points the pairing check really uses.
    ``statement``: the application's public parameters (for a model key: the statement kind
    and length, the vocabulary, the tokenizer's digest, the quantization, the setup's
    provenance; `snarkgpt.model.keyspec`), opaque to the proof system but inside the
    fingerprinted bytes, hence bound in every proof's transcript."""

    def __init__(self, desc: CircuitDescription, fixed_commitments, sigma_commitments, g2,
                 srs_digest: bytes, blinding_basis=None, statement: bytes = b""):
        self.desc = desc
        self.fixed_commitments = np.ascontiguousarray(fixed_commitments, dtype=np.uint64).reshape(-1, 8)
        self.sigma_commitments = np.ascontiguousarray(sigma_commitments, dtype=np.uint64).reshape(-1, 8)
        self.g2 = np.ascontiguousarray(g2, dtype=np.uint64).reshape(2, 16)
        self.srs_digest = bytes(srs_digest)
        if self.srs_digest != srs_digest_of(self.g2):
            raise KeyFormatError("verifying key: the SRS digest does not name its G2 points")
        self.statement = bytes(statement)
        # [L_j(tau)]G1 for rows j >= usable: only with committed columns (committed/)
        self.blinding_basis = (None if blinding_basis is None else
                               np.ascontiguousarray(blinding_basis, dtype=np.uint64).reshape(-1, 8))
        self._layout = None
        self._bytes = None

    @property
    def k(self) -> int:
        return self.desc.k

    @property
    def n(self) -> int:
        return self.desc.n

    @property
    def layout(self) -> Layout:
        if self._layout is None:
            self._layout = Layout(self.desc)
        return self._layout

    @property
    def kzg(self) -> VerifierKey:
        """The KZG verifier key: [1]G1 and the setup's G2 points."""
        return VerifierKey.from_g2(self.g2)

    def to_bytes(self) -> bytes:
        if self._bytes is None:
            w = Writer()
            w.raw(VK_MAGIC)
            w.u16(VK_VERSION)
            self.desc.encode(w)
            w.raw(g1.compress(self.fixed_commitments) if len(self.fixed_commitments) else b"")
            w.raw(g1.compress(self.sigma_commitments) if len(self.sigma_commitments) else b"")
            w.raw(self.g2.astype("<u8").tobytes())
            w.raw(self.srs_digest)
            if self.blinding_basis is not None:
                w.raw(g1.compress(self.blinding_basis))
            w.u32(len(self.statement))
            w.raw(self.statement)
            self._bytes = w.bytes()
        return self._bytes

    @classmethod
    def from_bytes(cls, data: bytes) -> "VerifyingKey":
        r = Reader(data)
        if r.take(4, "magic") != VK_MAGIC:
            r.pos = 0
            r.fail("bad magic (not a snarkgpt verifying key)")
        version = r.u16("version")
        if version != VK_VERSION:
            r.fail(f"unsupported version {version} (this build reads {VK_VERSION})")
        desc = CircuitDescription.decode(r)
        fixed = r.points(len(desc.fixed), "fixed commitments")
        sigma = r.points(len(desc.permutation), "sigma commitments")
        g2 = np.frombuffer(r.take(256, "G2 points"), dtype="<u8").astype(np.uint64).reshape(2, 16)
        digest = r.take(32, "SRS digest")
        basis = None
        if committed_indices(desc.fixed):
            basis = r.points(desc.n - desc.usable_rows, "blinding basis")
        statement = r.take(r.count("statement length"), "statement")
        r.end()
        try:
            vk = cls(desc, fixed, sigma, g2, digest, basis, statement)
        except KeyFormatError:
            raise
        except ValueError as e:
            raise KeyFormatError(f"verifying key: {e}") from None
        if vk.to_bytes() != bytes(data):
            raise KeyFormatError("verifying key: encoding is not canonical")
        return vk

    def digest(self) -> bytes:
        """sha256 of `to_bytes()`: the circuit's fingerprint (absorbed first by every proof)."""
        return hashlib.sha256(self.to_bytes()).digest()

    def __eq__(self, other):
        return isinstance(other, VerifyingKey) and other.to_bytes() == self.to_bytes()

    def __repr__(self):
        d = self.desc
        return (f"VerifyingKey(k={d.k}, {len(d.advice)} advice, {len(d.fixed)} fixed, "
                f"{len(d.gates)} gate polynomials, {len(d.lookups)} lookups, "
                f"digest {self.digest().hex()[:16]})")


@dataclass
class ProvingKey:
    vk: VerifyingKey
    srs: object
    cs: ConstraintSystem
    domain: Domain
    fixed_values: np.ndarray     # (F, n, 4)
    fixed_coeffs: np.ndarray     # (F, n, 4)
    sigma_values: np.ndarray     # (M, n, 4)
    sigma_coeffs: np.ndarray     # (M, n, 4)
    virtual_coeffs: np.ndarray   # (4, n, 4): l_0, l_last, l_active, X
    virtual_values: np.ndarray   # (4, n, 4): the same on the domain
    copies_digest: bytes
    committed_blinding: np.ndarray = None   # (C, n - u, 4): the setup blinding (private)
    # built on first use (vanishing.prover.fixed_polys, committed.prover.basis_coeffs)
    fixed_polys: tuple = None    # (coefficients, coset values or None, x16 form?)
    basis_coeffs: list = None    # coefficients of L_j, j >= u (committed columns)

    @property
    def layout(self) -> Layout:
        return self.vk.layout

    @property
    def committed(self) -> list:
        """Fixed-column indices of the committed columns. Their rows >= u in
        ``fixed_values`` / ``fixed_coeffs`` are re-drawn by every proof (prover.py), so
        anything cached from those columns must be recomputed per proof."""
        return self.layout.committed


def srs_digest_of(g2) -> bytes:
    """The digest that names a setup (`SRS.digest`): of [1]G1 and the G2 points [1]G2,
    [tau]G2, the only SRS points a verifier uses."""
    from .srs import SRS
    return SRS(g1.generator().reshape(1, 8), np.asarray(g2, dtype=np.uint64).reshape(2, 16),
               "verifying key", False).digest()


def copies_digest(copies: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(copies, dtype="<i8").tobytes()).digest()


def _columns_with_copies(cs: ConstraintSystem, copies: np.ndarray):
    """The equality-enabled columns that carry at least one copy constraint, and the copies
    re-indexed over them.

    A column without copies is its own cycle on every row: sigma = identity, so its factors in
    the grand product cancel and leaving it out changes nothing the argument proves, while each
    column kept costs the prover a grand-product commitment (one per column at degree 3)."""
    if not len(copies):
        return [], copies
    ends = np.concatenate([copies[:, 0], copies[:, 2]])
    count = np.bincount(ends, minlength=len(cs.permutation_columns))
    # fewest copies first, so that sparsely copied columns share grand products, which then
    # change on few rows and commit cheaply (permutation/constraints.py)
    used = np.flatnonzero(count)
    used = used[np.argsort(count[used], kind="stable")]
    remap = np.full(len(cs.permutation_columns), -1, dtype=np.int64)
    remap[used] = np.arange(len(used))
    out = copies.copy()
    out[:, 0] = remap[copies[:, 0]]
    out[:, 2] = remap[copies[:, 2]]
    return [cs.permutation_columns[i] for i in used], out


def matches_commitments(srs, k: int, columns, commitments, rng=None) -> bool:
    """True if each column (its values on the size-2^k domain) commits to the matching point.

    Checked all at once: sum_i rho_i [col_i] == [sum_i rho_i col_i] for random rho_i, one
    MSM over the domain and one over the commitments instead of one MSM over the domain per
    column. A column that does not match its commitment passes with probability 1/r (the
    rho_i come from the OS, or from ``rng`` in tests)."""
    from snarkgpt.curve.msm import msm
    from snarkgpt.field import poly
    commitments = np.asarray(commitments)
    if len(columns) != commitments.shape[0]:
        return False
    if not len(columns):
        return True
    rho = Fr.random(len(columns), rng)
    combined = poly.linear_combination(list(columns), Fr.to_ints(rho))
    return g1.equal(commit_values(srs, k, combined), msm(np.ascontiguousarray(commitments), rho))


def keygen(srs, cs: ConstraintSystem, circuit=None, config=None, k: int | None = None,
           assignment: Assignment | None = None, instances=None, committed_blinding=None,
           rng=None, degree: int | None = None, published: VerifyingKey | None = None,
           precompute: bool = True, statement: bytes = b""):
    """(ProvingKey, VerifyingKey) for ``cs`` (configured) and ``circuit`` (synthesized once
    with random challenges: only its fixed columns and copy constraints are used), or for a
    given complete ``assignment``.

    Committed columns (`ConstraintSystem.committed_column`) get random rows >= u, drawn here
    (OS randomness; ``rng``: a numpy Generator, tests only) or given as
    ``committed_blinding`` (``pk.committed_blinding`` of an earlier call, to rebuild the
    same keys); the key owner must keep them private.

    degree: the constraint degree to prove at (>= the circuit's; it sets how many columns
    share a grand product); default: `choose_degree`'s estimate of the cheapest.

    published: the verifying key these columns were published under (a prover rebuilding
    its key from a key directory): its fixed and sigma commitments are reused after one
    batched check that the columns open to them (`matches_commitments`), instead of one MSM
    per column; CircuitError if they do not. The caller still compares the digests.

    precompute: evaluate the fixed columns on the quotient's cosets now (about a third of
    the quotient's NTTs, and most of the proving key's memory) rather than on the first
    proof; False when only the verifying key is wanted (setup).

    statement: the application's public parameters, written into the verifying key
    (`VerifyingKey.statement`) and so into its digest."""
    if assignment is None:
        if circuit is None:
            raise CircuitError("keygen needs the circuit (or an assignment)")
        assignment = Assignment.first_pass(cs, circuit, config, instances, k)
        assignment.complete()
    asg = assignment
    if not asg.is_complete:
        asg.complete()
    k, n, u = asg.k, asg.n, asg.usable_rows
    if srs.n < n + 1:
        raise CircuitError(f"the SRS has {srs.n} powers; k = {k} needs {n + 1}")
    dom = Domain(k)
    fixed_values = np.ascontiguousarray(asg.fixed.copy())
    desc = CircuitDescription.from_cs(cs, k, u, fixed_values)
    desc.instance_shapes = instance_shapes(cs, asg.instance_values, asg.copies, desc)
    desc.permutation, copies = _columns_with_copies(cs, asg.copies)
    committed = committed_indices(desc.fixed)
    if committed:
        committed_blinding = blind_committed(fixed_values, committed, u, committed_blinding, rng)
    elif committed_blinding is not None and len(committed_blinding):
        raise CircuitError("committed_blinding given but the circuit has no committed column")
    M = len(desc.permutation)
    if degree is None:
        G = desc.num_groups()
        others = len(desc.advice) + G + (1 if G else 0) + len(desc.fixed) + M + 4
        groups = lookup_groups(desc)
        degree = choose_degree(desc.degree, M, others,
                               lambda D: len(pack_fractions(groups, D)))
    if degree < desc.degree:
        raise CircuitError(f"degree {degree} is below the circuit's constraint degree {desc.degree}")
    desc.degree = degree
    omega = dom.elements()
    sig = build_sigmas(M, omega, copies) if M else np.zeros((0, n, 4), dtype=np.uint64)
    fixed_coeffs = dom.intt_many(fixed_values)
    sigma_coeffs = dom.intt_many(sig)
    virt = np.zeros((4, n, 4), dtype=np.uint64)
    one = np.array(Fr.one_limbs, dtype=np.uint64)
    ev = np.zeros((3, n, 4), dtype=np.uint64)
    ev[0, 0] = one
    ev[1, u] = one
    ev[2, :u] = one
    for i in range(3):
        virt[i] = dom.intt(ev[i])
    virt[3, 1] = one
    virt_values = np.concatenate([ev, omega.reshape(1, n, 4)])
    if published is not None:
        fixed_comms, sigma_comms = published.fixed_commitments, published.sigma_commitments
        if not matches_commitments(srs, k, list(fixed_values) + list(sig),
                                   np.concatenate([fixed_comms, sigma_comms]), rng):
            raise CircuitError("the fixed or sigma columns do not open to the published "
                               "key's commitments")
    else:
        fixed_comms = (np.stack([commit_values(srs, k, c) for c in fixed_values])
                       if len(fixed_values) else np.zeros((0, 8), dtype=np.uint64))
        sigma_comms = (np.stack([commit_values(srs, k, c) for c in sig])
                       if M else np.zeros((0, 8), dtype=np.uint64))
    vk = VerifyingKey(desc, fixed_comms, sigma_comms, srs.g2, srs.digest(),
                      blinding_basis(srs, k, u) if committed else None, statement)
    pk = ProvingKey(vk, srs, cs, dom, fixed_values, fixed_coeffs, sig, sigma_coeffs, virt, virt_values,
                    copies_digest(asg.copies), committed_blinding if committed else None)
    vk.layout           # refuses here, at setup, a weight column a proof would open
    if precompute:
        from .vanishing.prover import fixed_polys
        fixed_polys(pk)        # the fixed columns on the quotient's cosets, once per key
    return pk, vk
