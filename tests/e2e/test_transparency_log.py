"""The transparency log without a server: the RFC 9162 tree and its proofs, signed heads,
the SQLite store (durable appends, group commits) and its start-up check, which refuses a
log it cannot vouch for. Every check has its negative side."""
import base64
import json
import os
import random
import sqlite3
import threading

import pytest

pytest.importorskip("cryptography")

from snarkgpt.model.statement import Statement, write_proof_file  # noqa: E402
from snarkgpt.transparency import heads  # noqa: E402
from snarkgpt.transparency.check import (LogCheckError, verify_answer,  # noqa: E402
                                         verify_heads_consistent)
from snarkgpt.transparency.entries import EntryError, check_entry, make_leaf  # noqa: E402
from snarkgpt.transparency.merkle import (EMPTY_ROOT, ProofError, Tree, leaf_hash,  # noqa: E402
                                          node_hash, root_of, verify_consistency,
                                          verify_inclusion)
from snarkgpt.transparency.store import LogError, TransparencyLog  # noqa: E402

FP = "aa" * 32
# the test vectors of the Certificate Transparency reference implementations: eight leaves
# and the roots of their first 1..8
KAT_LEAVES = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
              bytes(range(0x50, 0x58)), bytes(range(0x60, 0x70))]
KAT_ROOTS = ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
             "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
             "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
             "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
             "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
             "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
             "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
             "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"]


def tree_of(n, tag=b"leaf"):
    t, hs = Tree(), []
    for i in range(n):
        hs.append(leaf_hash(tag + i.to_bytes(4, "big")))
        t.append(hs[-1])
    return t, hs


def proof_blob(tmp_path, i, fingerprint=FP, size=2000):
    """A proof file (its PLONK bytes are filler: the store checks digests, not proofs)."""
    p = tmp_path / f"p{i}.sgp"
    filler = (b"PROOF-%06d-" % i) * (size // 12)
    write_proof_file(p, fingerprint, Statement((1, 2), (i % 8,), 8), filler)
    return p.read_bytes()


# ------------------------------------------------------------------------------ the tree

def test_known_roots_and_the_definition():
    t = Tree()
    assert t.root() == EMPTY_ROOT
    for i, leaf in enumerate(KAT_LEAVES):
        t.append(leaf_hash(leaf))
        assert t.root().hex() == KAT_ROOTS[i]
    t2, hs = tree_of(70)
    for n in range(71):
        assert t2.root(n) == root_of(hs[:n])


def test_roots_agree_with_pymerkle():
    """pymerkle (an independent implementation, tests only) computes the same roots."""
    pymerkle = pytest.importorskip("pymerkle")
    ours, theirs = Tree(), pymerkle.InmemoryTree()
    for i in range(40):
        entry = b"entry %d" % i
        ours.append(leaf_hash(entry))
        theirs.append_entry(entry)
        assert ours.root() == theirs.get_root()


def test_every_inclusion_and_consistency_proof_verifies():
    t, hs = tree_of(33)
    for n in range(1, 34):
        for i in range(n):
            verify_inclusion(hs[i], i, n, t.inclusion_proof(i, n), t.root(n))
        for m in range(1, n + 1):
            verify_consistency(m, t.root(m), n, t.root(n), t.consistency_proof(m, n))


def test_wrong_inclusion_proofs_are_rejected():
    t, hs = tree_of(16)
    n, i = 13, 6
    path, root = t.inclusion_proof(i, n), t.root(n)
    bad = [
        (leaf_hash(b"tampered"), i, n, path, root),          # another leaf
        (hs[i], i + 1, n, path, root),                       # another index
        (hs[i], i, n + 1, path, t.root(n + 1)),              # another signed size
        (hs[i], i, n, path[:-1], root),                      # a hash dropped
        (hs[i], i, n, path + [path[0]], root),               # a hash added
        (hs[i], i, n, [path[1], path[0]] + path[2:], root),  # hashes swapped
        (hs[i], i, n, [bytes(32)] + path[1:], root),         # a hash changed
        (hs[i], i, n, path, t.root(12)),                     # another root
        (hs[i], n, n, path, root),                           # index out of the tree
    ]
    for args in bad:
        with pytest.raises(ProofError):
            verify_inclusion(*args)
    with pytest.raises(ProofError, match="outside"):
        t.inclusion_proof(13, 13)
    with pytest.raises(ProofError, match="outside"):
        t.inclusion_proof(0, 17)


def test_inconsistent_heads_are_rejected():
    t, _ = tree_of(20)
    fork, _ = tree_of(20, tag=b"fork")
    m, n = 7, 20
    path = t.consistency_proof(m, n)
    verify_consistency(m, t.root(m), n, t.root(n), path)
    for args in [(m, fork.root(m), n, t.root(n), path),       # another old history
                 (m, t.root(m), n, fork.root(n), path),       # another new history
                 (m, t.root(m), n, t.root(n), path[:-1]),
                 (m, t.root(m), n, t.root(n), path + [path[0]]),
                 (m + 1, t.root(m), n, t.root(n), path),
                 (m, t.root(m), n, t.root(n), []),
                 (n, t.root(n), n, fork.root(n), []),         # same size, two roots
                 (n, t.root(n), m, t.root(m), path)]:         # new before old
        with pytest.raises(ProofError):
            verify_consistency(*args)
    # a fork of the first 7 leaves cannot be proven consistent with any later tree
    with pytest.raises(ProofError):
        verify_consistency(m, fork.root(m), n, t.root(n), fork.consistency_proof(m, n))


def test_truncate_undoes_appends():
    t, _ = tree_of(20)
    r = t.root(11)
    t.truncate(11)
    assert t.size == 11 and t.root() == r
    t.append(leaf_hash(b"x"))
    assert t.root() == node_hash(t.root(8), root_of(t.levels[0][8:]))


# ------------------------------------------------------------------------------ heads

def test_signed_heads_verify_and_forgeries_do_not(tmp_path):
    key = heads.SigningKey.load_or_create(tmp_path / "k.key")
    other = heads.SigningKey.load_or_create(tmp_path / "other.key")
    assert oct(os.stat(tmp_path / "k.key").st_mode & 0o777) == "0o600"
    assert heads.SigningKey.load_or_create(tmp_path / "k.key").public_key == key.public_key
    h = key.sign_head(FP, 5, b"\x11" * 32, 1234)
    assert heads.verify(h, key.public_key)["size"] == 5
    with pytest.raises(heads.HeadError, match="another key"):
        heads.verify(other.sign_head(FP, 5, b"\x11" * 32, 1234), key.public_key)
    # the right log id but another key's signature
    forged = dict(h, signature=other.sign_head(FP, 5, b"\x11" * 32, 1234)["signature"])
    with pytest.raises(heads.HeadError, match="bad signature"):
        heads.verify(forged, key.public_key)
    for field, value in [("size", 6), ("root", "22" * 32), ("fingerprint", "bb" * 32), ("time", 1)]:
        with pytest.raises(heads.HeadError, match="bad signature"):
            heads.verify(dict(h, **{field: value}), key.public_key)
    for broken in [dict(h, size="5"), dict(h, size=True), dict(h, root="XY"), dict(h, extra=1),
                   {k: v for k, v in h.items() if k != "time"}, dict(h, signature="!!"), []]:
        with pytest.raises(heads.HeadError):
            heads.verify(broken, key.public_key)


def test_an_unreadable_key_file_is_refused(tmp_path):
    (tmp_path / "bad.key").write_text("not a key")
    with pytest.raises(heads.HeadError, match="not a readable Ed25519 private key"):
        heads.SigningKey.load_or_create(tmp_path / "bad.key")


# ------------------------------------------------------------------------------ entries

def test_a_leaf_names_exactly_its_proof_file(tmp_path):
    a, b = proof_blob(tmp_path, 1), proof_blob(tmp_path, 2)
    leaf = make_leaf(a)
    assert check_entry(leaf, a)[0]["fingerprint"] == FP
    with pytest.raises(EntryError, match="digest"):
        check_entry(leaf, b)
    rec = json.loads(leaf)
    with pytest.raises(EntryError, match="canonical"):
        check_entry(json.dumps(rec, indent=1).encode(), a)
    with pytest.raises(EntryError):
        check_entry(json.dumps(dict(rec, extra="x"), sort_keys=True,
                               separators=(",", ":")).encode(), a)
    with pytest.raises(EntryError, match="not JSON"):
        check_entry(b"\xff", a)


# ------------------------------------------------------------------------------ the store

@pytest.fixture
def filled(tmp_path):
    """A closed log of 40 entries (proof files of ~6 KB: the database spans many pages)."""
    path = tmp_path / "log.db"
    log = TransparencyLog(path, FP)
    blobs = [proof_blob(tmp_path, i, size=6000) for i in range(40)]
    for b in blobs:
        log.append(make_leaf(b), b)
    head = log.head
    log.close()
    return path, blobs, head


def test_appends_survive_a_reopen_and_heads_extend(filled, tmp_path):
    path, blobs, head = filled
    assert not os.path.exists(str(path) + "-wal")            # closed cleanly: checkpointed
    log = TransparencyLog(path, FP)
    try:
        assert log.size == 40 and log.head == head
        key = log.key.public_key
        b = proof_blob(tmp_path, 99)
        idx, new = log.append(make_leaf(b), b)
        assert idx == 40 and new["size"] == 41
        h_old, h_new = heads.verify(head, key), heads.verify(new, key)
        verify_heads_consistent(h_old, h_new, [x.hex() for x in log.consistency_proof(40, 41)])
        rows = log.entries(38, 100)
        assert [r[0] for r in rows] == [38, 39, 40] and rows[2][2] == b
        # an answer's log entry, as the server sends it, checks; tampered ones do not
        info = {"index": idx, "leaf": base64.b64encode(make_leaf(b)).decode(), "head": new,
                "inclusion": [x.hex() for x in log.inclusion_proof(idx, 41)]}
        info["leaf"] = base64.b64encode(log.entries(40, 41)[0][1]).decode()
        assert verify_answer(info, key, FP, b)["index"] == 40
        with pytest.raises(LogCheckError, match="not this answer"):
            verify_answer(info, key, FP, blobs[0])
        with pytest.raises(LogCheckError, match="not in the log"):
            verify_answer(dict(info, index=39), key, FP, b)
        with pytest.raises(LogCheckError, match="not in the log"):
            verify_answer(dict(info, inclusion=info["inclusion"][::-1]), key, FP, b)
        with pytest.raises(LogCheckError, match="model change"):
            verify_answer(info, key, "bb" * 32, b)
        # the log refuses to edit history even through SQL
        with pytest.raises(sqlite3.DatabaseError, match="append-only"):
            log.con.execute("UPDATE entries SET leaf = x'00' WHERE idx = 0")
    finally:
        log.close()


def test_concurrent_appends_share_commits(tmp_path):
    log = TransparencyLog(tmp_path / "log.db", FP)
    blob = proof_blob(tmp_path, 0)
    out = []

    def worker():
        for _ in range(25):
            out.append(log.append(make_leaf(blob), blob))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    [t.start() for t in threads]
    [t.join() for t in threads]
    try:
        assert sorted(i for i, _ in out) == list(range(200)) and log.size == 200
        assert log.commits < 200        # waiting appends were committed together
        for i, head in out:
            assert head["size"] > i
            lh = leaf_hash(log.entries(i, i + 1)[0][1])
            verify_inclusion(lh, i, head["size"], log.inclusion_proof(i, head["size"]),
                             bytes.fromhex(head["root"]))
    finally:
        log.close()


def _refused(path, words, fingerprint=FP):
    with pytest.raises(LogError) as e:
        TransparencyLog(path, fingerprint).close()
    assert any(w in str(e.value) for w in words), str(e.value)
    return str(e.value)


def test_a_truncated_database_is_refused(filled):
    path = filled[0]
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.truncate(size // 2)
    msg = _refused(path, ["corrupted", "unreadable", "missing"])
    assert "refusing to serve" in msg


def test_every_corrupted_page_is_refused(filled, tmp_path):
    """Each page of the database in turn overwritten with random bytes (b-tree pages, index
    pages, the overflow pages holding proof files): the start-up check refuses every one."""
    path = filled[0]
    good = open(path, "rb").read()
    page = 4096
    assert len(good) % page == 0 and len(good) // page > 20
    rng = random.Random(1)
    for p in range(len(good) // page):
        bad = bytearray(good)
        bad[p * page:(p + 1) * page] = rng.randbytes(page)
        open(path, "wb").write(bytes(bad))
        _refused(path, ["corrupted", "unreadable", "entry", "root", "head"])


def test_a_flipped_byte_inside_a_proof_is_refused(filled):
    path, blobs, _ = filled
    data = bytearray(open(path, "rb").read())
    at = data.find(b"PROOF-000017-")
    assert at > 0
    data[at + 3] ^= 1
    open(path, "wb").write(bytes(data))
    _refused(path, ["entry 17"])


def test_an_edited_or_deleted_entry_is_refused(filled, tmp_path):
    path, blobs, _ = filled
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER entries_no_update")
    # another, well-formed leaf for the same proof file: only the signed root catches it
    con.execute("UPDATE entries SET leaf = ? WHERE idx = 5", (make_leaf(blobs[5], time="1999"),))
    con.commit()
    con.close()
    _refused(path, ["an entry was changed"])
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER entries_no_delete")
    con.execute("DELETE FROM entries WHERE idx = 39")
    con.commit()
    con.close()
    _refused(path, ["holds 39 entries, its latest signed head 40"])


def test_another_key_or_model_or_file_is_refused(filled, tmp_path):
    path, _, _ = filled
    _refused(path, ["belongs to model"], fingerprint="bb" * 32)
    os.replace(str(path) + ".key", tmp_path / "saved.key")
    _refused(path, ["signing key", "is missing"])
    assert not os.path.exists(str(path) + ".key")        # no new key made in its place
    heads.SigningKey.load_or_create(str(path) + ".key")  # another key
    _refused(path, ["not the log's key"])
    os.replace(tmp_path / "saved.key", str(path) + ".key")
    TransparencyLog(path, FP).close()
    text = tmp_path / "notes.txt"
    text.write_text("hello\n" * 1000)
    _refused(text, ["not an SQLite database"])
    with pytest.raises(LogError, match="does not exist"):
        TransparencyLog(tmp_path / "nowhere" / "log.db", FP)
    assert not os.path.exists(tmp_path / "nowhere")
    with pytest.raises(LogError, match="is a folder"):
        TransparencyLog(tmp_path, FP)
