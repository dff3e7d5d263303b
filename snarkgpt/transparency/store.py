"""The log on disk: an SQLite database (WAL, synchronous commits) and the tree in memory.

    PATH        the database: meta (format, fingerprint, public key, latest signed head) and
                entries (index, leaf, proof file), append-only (triggers refuse UPDATE and
                DELETE)
    PATH.key    the provider's Ed25519 private key, made on first start (mode 0600)

Appends go through one writer thread that commits them in groups: every append queued while
a commit is under way goes into the next one (one fsync for the group), and the group's
signed head is written in the same transaction as its leaves. `append` returns, and
`submit`'s callback runs, only after that commit, so a leaf is on disk before its answer
leaves the server, and every head ever handed out is backed by leaves on disk. The
in-memory tree grows only after the commit; readers never see more than what is durable.

Opening a log (`TransparencyLog(path, fingerprint)`) refuses one it cannot vouch for: the
file must be an SQLite database whose quick_check passes, every entry's leaf must describe
its proof file, the entries must be numbered 0..n-1, and their root must be the root of the
latest signed head, whose signature must verify with the key file, for the model being
served. A corrupted page, a truncated file, an edited or deleted entry, a missing key file or
a key or model that is not the log's is a `LogError` naming it (no key is made then).
"""
import base64
import json
import os
import queue
import sqlite3
import threading
import time

from . import heads as heads_mod
from .entries import EntryError, check_entry
from .merkle import ProofError, Tree, leaf_hash

FORMAT = "snarkgpt-transparency-log/1"
MAX_BATCH = 256          # appends committed together at most

SCHEMA = """
CREATE TABLE meta(key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE entries(idx INTEGER PRIMARY KEY, leaf BLOB NOT NULL, proof BLOB NOT NULL);
CREATE TRIGGER entries_no_update BEFORE UPDATE ON entries
    BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
CREATE TRIGGER entries_no_delete BEFORE DELETE ON entries
    BEGIN SELECT RAISE(ABORT, 'the log is append-only'); END;
"""


class LogError(ValueError):
    """A transparency log that cannot be opened or trusted, or an append that failed."""


def _now_ms() -> int:
    return int(time.time() * 1000)


def _connect(path):
    con = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30)
    con.execute("PRAGMA journal_mode=WAL")
    # FULL: in WAL mode every commit syncs the WAL, so a committed leaf survives a crash
    # (of the process, and of the machine)
    con.execute("PRAGMA synchronous=FULL")
    return con


class TransparencyLog:
    """One model's log. `append` is thread-safe; proofs and pages may be read from any thread."""

    def __init__(self, path, fingerprint: str, key_path=None):
        self.path = os.fspath(path)
        self.fingerprint = fingerprint
        self.key_path = os.fspath(key_path) if key_path else self.path + ".key"
        folder = os.path.dirname(os.path.abspath(self.path))
        if not os.path.isdir(folder):
            raise LogError(f"{self.path}: the folder {folder} does not exist")
        if os.path.isdir(self.path):
            raise LogError(f"{self.path} is a folder: give the log database's file name")
        if not os.path.exists(self.path) and os.path.exists(self.path + "-wal"):
            raise LogError(f"{self.path} is missing but its write-ahead log {self.path}-wal is "
                           "there: the database was deleted or moved; refusing to start a new log")
        exists = os.path.exists(self.path)
        if exists:
            with open(self.path, "rb") as f:
                if f.read(16) != b"SQLite format 3\x00":
                    raise LogError(f"{self.path}: not a transparency log (not an SQLite database); "
                                   "refusing to serve on a log that cannot be vouched for")
            if not os.path.exists(self.key_path):
                # a new key would sign heads no client has seen from this log: never make one here
                raise LogError(f"{self.path}: the log's signing key {self.key_path} is missing: "
                               "restore it (the log cannot be continued without it)")
        try:
            self.key = heads_mod.SigningKey.load_or_create(self.key_path)
        except heads_mod.HeadError as e:
            raise LogError(str(e)) from None
        except ImportError:
            raise LogError("a transparency log needs the cryptography package: "
                           "pip install 'snarkgpt[serve]'") from None
        if not exists:
            self._create()
        self.tree = Tree()
        self._lock = threading.Lock()            # the reader connection
        self.appends, self.commits = 0, 0
        try:
            self.con = _connect(self.path)
            self.head = self._check()
            self.reader = _connect(self.path)
        except sqlite3.DatabaseError as e:
            raise LogError(f"{self.path}: the database is unreadable ({e}): the file is corrupted "
                           "or truncated, or is not a transparency log; refusing to serve on a log "
                           "that cannot be vouched for") from None
        self.size = self.head["size"]
        self._queue = queue.Queue()
        self._writer = threading.Thread(target=self._write_loop, name="transparency-log",
                                        daemon=True)
        self._writer.start()

    # -- creation and the start-up check
    def _create(self):
        """A new, empty log with a signed head of size 0, made under a temporary name and
        renamed into place, so a failed creation leaves nothing at PATH."""
        tmp = f"{self.path}.new-{os.getpid()}"
        for p in (tmp, tmp + "-journal"):
            if os.path.exists(p):
                os.remove(p)
        try:
            con = sqlite3.connect(tmp, isolation_level=None)
            con.execute("PRAGMA synchronous=FULL")
            con.execute("BEGIN")
            for statement in _statements(SCHEMA):    # not executescript: it would commit
                con.execute(statement)
            head = self.key.sign_head(self.fingerprint, 0, Tree().root(), _now_ms())
            for k, v in (("format", FORMAT), ("fingerprint", self.fingerprint),
                         ("public_key", self.key.public_key.hex()),
                         ("head", heads_mod.canonical(head).decode())):
                con.execute("INSERT INTO meta(key, value) VALUES (?, ?)", (k, v))
            con.execute("COMMIT")
            con.close()
            os.replace(tmp, self.path)
            heads_mod.fsync_dir(self.path)
        finally:
            for p in (tmp, tmp + "-journal"):
                if os.path.exists(p):
                    os.remove(p)

    def _check(self) -> dict:
        """Every check made on opening (see the module docstring); returns the latest head."""
        where = self.path

        def bad(msg):
            return LogError(f"{where}: {msg}; refusing to serve on a log that cannot be vouched for")

        rows = self.con.execute("PRAGMA quick_check").fetchall()
        if rows != [("ok",)]:
            raise bad("the database is corrupted (SQLite quick_check: "
                      + "; ".join(r[0] for r in rows[:3]) + ")")
        tables = {r[0] for r in
                  self.con.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "entries"} <= tables:
            raise bad("not a transparency log (no meta/entries tables)")
        meta = dict(self.con.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise bad(f"not a transparency log of format {FORMAT} (found {meta.get('format')!r})")
        if meta.get("fingerprint") != self.fingerprint:
            raise LogError(f"{where}: this log belongs to model {str(meta.get('fingerprint'))[:16]}"
                           f"..., the server's model is {self.fingerprint[:16]}...: a log serves "
                           "one model; start a new log for a new model")
        if meta.get("public_key") != self.key.public_key.hex():
            signer = heads_mod.log_id(bytes.fromhex(meta["public_key"]))
            raise LogError(f"{where}: the key in {self.key_path} is not the log's key (the log "
                           f"was signed by {signer[:16]}...): restore the log's key file")
        try:
            head = heads_mod.verify(json.loads(meta["head"]), self.key.public_key)
        except (ValueError, KeyError) as e:
            raise bad(f"the latest signed head does not verify ({e})") from None
        n = 0
        rows = self.con.execute("SELECT idx, leaf, proof FROM entries ORDER BY idx")
        for idx, leaf, proof in rows:
            if idx != n:
                raise bad(f"entry {n} is missing (the next one is {idx})")
            try:
                rec = check_entry(bytes(leaf), bytes(proof))[0]
            except EntryError as e:
                raise bad(f"entry {idx}: {e}") from None
            if rec["fingerprint"] != self.fingerprint:
                raise bad(f"entry {idx} is for another model")
            self.tree.append(leaf_hash(bytes(leaf)))
            n += 1
        if n != head["size"]:
            raise bad(f"the log holds {n} entries, its latest signed head {head['size']}")
        if self.tree.root(n).hex() != head["root"]:
            raise bad(f"the root of the {n} entries is not the root of the latest signed head "
                      "(an entry was changed)")
        return dict(head, signature=base64.b64encode(head["signature"]).decode())

    # -- appends
    def submit(self, leaf: bytes, proof_file: bytes, callback):
        """Queue one entry; `callback(index, head, None)` runs in the writer thread once it is
        durable (with the signed head of the commit that holds it), or `callback(None, None,
        reason)` if it could not be committed (nothing is logged then). Never blocks."""
        if self._writer is None:
            raise LogError("the transparency log is closed")
        self._queue.put({"leaf": bytes(leaf), "proof": bytes(proof_file), "callback": callback})

    def append(self, leaf: bytes, proof_file: bytes, timeout=60.0):
        """Log one entry; returns (its index, the signed head of the commit that holds it)
        once it is durable. LogError if it could not be committed (nothing is logged then)."""
        done, out = threading.Event(), []
        self.submit(leaf, proof_file, lambda *r: (out.extend(r), done.set()))
        if not done.wait(timeout):
            raise LogError(f"the transparency log did not commit within {timeout:.0f} s")
        index, head, error = out
        if error is not None:
            raise LogError(f"the transparency log could not record the entry: {error}")
        return index, head

    def _write_loop(self):
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    self._queue.put(None)       # stop after this group
                    break
                batch.append(nxt)
            self._commit(batch)

    def _commit(self, batch):
        n0 = self.tree.size
        try:
            for s in batch:
                self.tree.append(leaf_hash(s["leaf"]))
            n = self.tree.size
            head = self.key.sign_head(self.fingerprint, n, self.tree.root(n), _now_ms())
            con = self.con
            con.execute("BEGIN IMMEDIATE")
            try:
                con.executemany("INSERT INTO entries(idx, leaf, proof) VALUES (?, ?, ?)",
                                [(n0 + i, s["leaf"], s["proof"]) for i, s in enumerate(batch)])
                con.execute("UPDATE meta SET value = ? WHERE key = 'head'",
                            (heads_mod.canonical(head).decode(),))
                con.execute("COMMIT")
            except BaseException:
                if con.in_transaction:
                    con.execute("ROLLBACK")
                raise
        except Exception as e:          # nothing of the group is logged: undo it in memory
            self.tree.truncate(n0)
            for s in batch:
                _call(s["callback"], None, None, f"{type(e).__name__}: {e}")
            return
        self.head, self.size = head, n          # published only now: durable
        self.appends += len(batch)
        self.commits += 1
        for i, s in enumerate(batch):
            _call(s["callback"], n0 + i, head, None)

    # -- reads
    def inclusion_proof(self, index: int, size: int) -> list:
        if size > self.size:
            raise ProofError(f"tree size {size} is beyond the log's size {self.size}")
        return self.tree.inclusion_proof(index, size)

    def consistency_proof(self, old: int, new: int) -> list:
        if new > self.size:
            raise ProofError(f"tree size {new} is beyond the log's size {self.size}")
        return self.tree.consistency_proof(old, new)

    def entries(self, start: int, end: int) -> list:
        """[(index, leaf, proof file)] for start <= index < min(end, size)."""
        end = min(end, self.size)
        with self._lock:
            rows = self.reader.execute("SELECT idx, leaf, proof FROM entries WHERE idx >= ? AND "
                                       "idx < ? ORDER BY idx", (start, end)).fetchall()
        return [(i, bytes(leaf), bytes(proof)) for i, leaf, proof in rows]

    def close(self):
        w, self._writer = self._writer, None
        if w is None:
            return
        self._queue.put(None)
        w.join(timeout=30)
        with self._lock:
            self.reader.close()
        self.con.close()


def _call(callback, *args):
    """Run an append's callback; its failure is its caller's, never the writer's."""
    try:
        callback(*args)
    except Exception as e:  # noqa: BLE001 - reported, and the writer goes on
        print(f"snarkgpt: transparency log callback failed: {type(e).__name__}: {e}", flush=True)


def _statements(script):
    """The statements of SCHEMA (triggers hold semicolons inside BEGIN ... END)."""
    out, cur = [], []
    for line in script.strip().splitlines():
        cur.append(line)
        text = "\n".join(cur)
        if sqlite3.complete_statement(text):
            out.append(text)
            cur = []
    return out
