"""The permutation argument's products: one running product per chunk, chained end to start
(z_c starts where z_{c-1} ends). Checked against a plain-integer reference, for what the
proof opens, for the columns' order, and for tampering with a product column (refused by the
prover, rejected by the verifier)."""
import numpy as np
import pytest

from snarkgpt.field import FR_MODULUS, Fr
from snarkgpt.plonk.permutation import prover as prover_mod   # the permutation argument's round
from snarkgpt.plonk.circuit import ConstraintSystem
from snarkgpt.plonk.examples import Fibonacci
from snarkgpt.plonk.keygen import keygen
from snarkgpt.plonk.permutation.keygen import DELTA, build_sigmas
from snarkgpt.plonk.permutation.prover import grand_products
from snarkgpt.plonk.prover import ProverError, prove
from snarkgpt.plonk.srs import SRS
from snarkgpt.plonk.verifier import VerificationError, verify_or_raise
from snarkgpt.plonk.expression import ADVICE

pytestmark = pytest.mark.filterwarnings("ignore::snarkgpt.plonk.srs.InsecureSetupWarning")
P = FR_MODULUS


def _reference(vals, sig, omega, chunk, beta, gamma, u):
    """z as plain ints, straight from the definition (permutation/prover.py)."""
    m, n = len(vals), len(omega)
    s = -(-m // chunk)

    def ratio(c, i):
        num = den = 1
        for j in range(c * chunk, min(m, (c + 1) * chunk)):
            num = num * (vals[j][i] + beta * pow(DELTA, j, P) * omega[i] + gamma) % P
            den = den * (vals[j][i] + beta * sig[j][i] + gamma) % P
        return num * pow(den, -1, P) % P

    z = [[None] * n for _ in range(s)]
    start = 1
    for c in range(s):
        z[c][0] = start
        for i in range(u):
            z[c][i + 1] = z[c][i] * ratio(c, i) % P
        start = z[c][u]
    return z


@pytest.mark.parametrize("m,chunk", [(1, 2), (4, 1), (5, 2), (7, 3)])
@pytest.mark.parametrize("hold", [True, False])
def test_products_match_the_definition(m, chunk, hold):
    n, u = 16, 12
    rng = np.random.default_rng(m * 10 + chunk)
    w = pow(5, (P - 1) // n, P)
    omega = [pow(w, i, P) for i in range(n)]
    # copies between random cells of the usable rows; values equal along each cycle
    vals = [[int(x) for x in rng.integers(0, 1 << 60, n)] for _ in range(m)]
    copies, root = [], {}

    def find(cell):
        while root.get(cell, cell) != cell:
            cell = root[cell]
        return cell
    for _ in range(6):
        a = (int(rng.integers(0, m)), int(rng.integers(0, u)))
        b = (int(rng.integers(0, m)), int(rng.integers(0, u)))
        if a != b:
            copies.append((*a, *b))
            root[find(b)] = find(a)
    for j in range(m):
        for i in range(u):
            r = find((j, i))
            vals[j][i] = vals[r[0]][r[1]]
    if not hold and copies:
        a0, a1, b0, b1 = copies[0]
        vals[b0][b1] = (vals[b0][b1] + 1) % P
    sig_arr = build_sigmas(m, Fr.from_ints(omega), np.array(copies, dtype=np.int64).reshape(-1, 4))
    sig = [Fr.to_ints(sig_arr[j]) for j in range(m)]
    beta, gamma = 1234567, 7654321
    z, last = grand_products([Fr.from_ints(v) for v in vals], list(sig_arr), Fr.from_ints(omega),
                             chunk, beta, gamma, u, rng=np.random.default_rng(0))
    want = _reference(vals, sig, omega, chunk, beta, gamma, u)
    assert z.shape[0] == len(want) == -(-m // chunk)
    got = [Fr.to_ints(z[c]) for c in range(z.shape[0])]
    for c in range(len(want)):
        assert got[c][:u + 1] == want[c][:u + 1]
    assert last == want[-1][u]
    assert (last == 1) == (hold or not copies)


@pytest.fixture(scope="module")
def toy():
    srs = SRS.dev(2 ** 6 + 1, seed=b"permutation-tests")
    circuit = Fibonacci(steps=8)          # a, b, c and the instance column, copies between rows
    cs = ConstraintSystem()
    cfg = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, cfg, degree=3)     # one column per chunk: 4 products
    return circuit, cfg, pk, vk


def test_each_product_is_opened_at_its_rows_and_the_last(toy):
    """Every z at x and omega x, and every z but the last at omega^u x (where the next one
    starts). (A query at x may be linearized instead of opened: the verifier then folds the
    commitment at x.)"""
    _, _, _, vk = toy
    lay = vk.layout
    assert len(lay.z_cols) >= 3
    z_idx = {c.index: i for i, c in enumerate(lay.z_cols)}
    rots = {}
    for kind, idx, rot in lay.queries + [(code, idx, 0) for code, idx in lay.linearized]:
        if kind == ADVICE and idx in z_idx:
            rots.setdefault(z_idx[idx], set()).add(rot)
    last = lay.u - lay.desc.n
    assert all(rots[i] == {0, 1, last} for i in range(len(lay.z_cols) - 1))
    assert rots[len(lay.z_cols) - 1] == {0, 1}


def test_columns_are_ordered_by_copies():
    """keygen keeps the equality columns that have copies, fewest copies first (ties in
    column order), so that sparsely copied columns share products that change on few rows;
    the copies are re-indexed over the kept columns."""
    from types import SimpleNamespace
    from snarkgpt.plonk.keygen import _columns_with_copies
    cs = SimpleNamespace(permutation_columns=["c0", "c1", "c2", "c3", "c4"])
    # (column, row, column, row): c0 in 3 copy ends, c2 in 1, c3 in 3, c4 in 1, c1 in none
    copies = np.array([[0, 1, 3, 1], [0, 2, 3, 2], [0, 3, 2, 0], [4, 5, 3, 6]], dtype=np.int64)
    cols, out = _columns_with_copies(cs, copies)
    assert cols == ["c2", "c4", "c0", "c3"]
    back = np.array([cs.permutation_columns.index(cols[i]) for i in range(len(cols))])
    assert np.array_equal(back[out[:, [0, 2]]], copies[:, [0, 2]])
    assert np.array_equal(out[:, [1, 3]], copies[:, [1, 3]])


def test_sparse_products_change_on_few_rows():
    """A chunk whose columns have no copy on a row has ratio exactly 1 there, so its product
    is constant between copy rows (what makes its commitment cheap)."""
    n, u = 32, 26
    w = pow(5, (P - 1) // n, P)
    omega = Fr.from_ints([pow(w, i, P) for i in range(n)])
    rng = np.random.default_rng(7)
    vals = [Fr.from_ints([int(v) for v in rng.integers(0, 1 << 60, n)]) for _ in range(4)]
    vals[1][3] = vals[0][9]                               # one copy: (0, 9) -- (1, 3)
    sig = build_sigmas(4, omega, np.array([[0, 9, 1, 3]], dtype=np.int64))
    z, last = grand_products(vals, list(sig), omega, 2, 99, 1234, u, rng=rng)
    assert last == 1
    changes = [np.flatnonzero((z[c, 1:u + 1] != z[c, :u]).any(axis=1)) for c in range(2)]
    assert set(changes[0]) <= {3, 9} and len(changes[0]) > 0
    assert len(changes[1]) == 0                           # no copy in the second chunk


@pytest.mark.parametrize("which,row", [(0, 2), (1, 0), (2, 3), (-1, 1)])
def test_a_tampered_product_is_refused_and_rejected(toy, monkeypatch, which, row):
    """Changing one product cell breaks its two identities: the honest prover refuses, and a
    proof made anyway does not verify."""
    circuit, cfg, pk, vk = toy
    zs_seen = []

    def tampered(*args, **kw):
        z, last = grand_products(*args, **kw)
        c = which % z.shape[0]
        z[c, row] = Fr.add(z[c, row:row + 1], Fr.from_ints([1]))[0]
        zs_seen.append(c)
        return z, last

    monkeypatch.setattr(prover_mod, "grand_products", tampered)
    with pytest.raises(ProverError):
        prove(pk, circuit, cfg, rng=np.random.default_rng(1))
    bad = prove(pk, circuit, cfg, check=False, rng=np.random.default_rng(2))
    with pytest.raises(VerificationError):
        verify_or_raise(vk, circuit.instances(), bad)
    monkeypatch.undo()
    verify_or_raise(vk, circuit.instances(), prove(pk, circuit, cfg, rng=np.random.default_rng(3)))
    assert zs_seen
