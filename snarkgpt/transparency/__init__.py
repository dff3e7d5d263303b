"""A transparency log of every served answer, after RFC 9162 (Certificate Transparency).

    merkle.py    the RFC 9162 tree: leaf and node hashes, roots, inclusion and consistency
                 proofs and their verification
    heads.py     signed tree heads (Ed25519, naming the model fingerprint) and the provider key
    entries.py   a log entry: the leaf (a canonical record) and the proof file it names
    store.py     the log on disk (SQLite, WAL, synchronous group commits) and its start-up check
    check.py     what clients and monitors verify: an answer's inclusion, consistency between
                 heads, a whole log

`snarkgpt serve --transparency-log PATH` keeps the log; `snarkgpt ask` checks its answer is
in it; `snarkgpt audit --log-url URL` monitors it. docs/transparency.md says what it proves.
Nothing in plonk/, model/, field/ or curve/ imports this package.
"""
