"""Segments: a model's forward pass split at residual-stream boundaries into a chain of circuits.

One circuit per generation stops scaling when its proving key and quotient outgrow memory.
A *segment* is a contiguous run of the forward pass: the embedding (first segment only),
transformer blocks ``start .. stop - 1``, and the head (final LayerNorm, lm_head, argmax;
last segment only). Between two segments the residual stream x (T x d integers, the input of
block b) sits in the link column ``link.{b}`` of both (`plonk.links`): the same rows, the
same domain, the same blinding (from the generation's link seed), hence the same commitment,
which the chain verifier compares (snarkgpt.model.chain).

The public statement is bound where it is read: the prompt tokens by the embedding (first
segment), the next tokens and generation flags by the argmax binding (last segment).
`segment_instances` hands each segment the statement's columns it has, with every row it
does not read set to 0 (the verifier refuses a non-zero value on a row no constraint reads,
`plonk.description.check_instance_shapes`); `unbound_rows` checks that every public value is
read by some segment.

Where the embedding or the head does not fit the blocks' domain (GPT-2's vocabulary of
50,257: a wte lookup table of 38.6M rows, 754K logits), it is split over *vocabulary chunks*
(``Segment.role``): embedding chunks first, each adding its rows of wte to a running sum
(link ``embed.{v}``), the last one adding wpe and writing ``link.0``; head chunks last, the
first computing the final LayerNorm from ``link.{n_layer}``, each proving its logits and
updating the running (max, argmax) handed on with the normalized hidden state in link
``head.{v}``; the last binds the argmax to the statement. Every embedding chunk reads the
prompt tokens (its one-hot is fixed by them); only the last head chunk reads the next tokens.

A model that fits one circuit is one segment, `Segment.whole`: the circuit of an unsplit
key, without link columns.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Segment", "SegmentError", "split", "segment_instances", "boundary_name",
           "chunk_ranges"]


class SegmentError(ValueError):
    """A split that is not a chain of segments of the model (a gap, an overlap, a bad count)."""


def boundary_name(b: int) -> str:
    """The link column holding the residual stream entering block ``b`` (b = n_layer: the
    head's input)."""
    return f"link.{b}"


@dataclass(frozen=True)
class Segment:
    """Segment ``index`` of ``count``: blocks [start, stop), with the embedding when it is the
    first and the head when it is the last.

    A *vocabulary chunk* (``role`` "embed" or "head", vocabulary range [v0, v1) of
    ``vocab``) holds no block (start = stop): an embedding chunk adds the rows v0 .. v1 - 1
    of wte to the running embedding sum (the last one also adds wpe and hands on the
    residual stream ``link.0``); a head chunk proves the logits of its vocabulary range
    and updates the running (max, argmax) per position (the first one also computes the
    final LayerNorm; the last one binds the argmax to the statement). The gadgets:
    `snarkgpt.gadgets.vocab`; the protocol: docs/protocol.md, "Segments and links"."""
    index: int
    count: int
    start: int
    stop: int
    role: str | None = None     # None: blocks (with the whole embedding / head at the ends)
    v0: int = 0
    v1: int = 0
    vocab: int = 0

    @property
    def chunk(self) -> bool:
        """A vocabulary chunk of the embedding or the head."""
        return self.role is not None

    @property
    def embed(self) -> bool:
        """Holds the embedding, or a chunk of it (reads the prompt tokens)."""
        return self.role == "embed" or (self.role is None and self.index == 0)

    @property
    def head(self) -> bool:
        """Holds the head's binding to the statement (the whole head, or its last chunk):
        reads the next tokens and flags."""
        return self.index == self.count - 1

    @property
    def link_in(self) -> str | None:
        """The link column this segment reads its input from (None: the embedding)."""
        if self.role == "embed":
            return None if self.v0 == 0 else f"embed.{self.v0}"
        if self.role == "head":
            return boundary_name(self.start) if self.v0 == 0 else f"head.{self.v0}"
        return None if self.embed else boundary_name(self.start)

    @property
    def link_out(self) -> str | None:
        """The link column this segment writes its output to (None: the head)."""
        if self.role == "embed":
            return boundary_name(0) if self.v1 == self.vocab else f"embed.{self.v1}"
        if self.role == "head":
            return None if self.head else f"head.{self.v1}"
        return None if self.head else boundary_name(self.stop)

    @property
    def n_blocks(self) -> int:
        return self.stop - self.start

    @classmethod
    def whole(cls, n_layer: int) -> "Segment":
        return cls(0, 1, 0, n_layer)

    def describe(self) -> str:
        if self.chunk:
            return f"{self.role}[{self.v0}:{self.v1}]"
        parts = (["embed"] if self.embed else []) + (
            [f"h.{self.start}" + (f"-{self.stop - 1}" if self.n_blocks > 1 else "")]
            if self.n_blocks else []) + (["head"] if self.head else [])
        return "+".join(parts)

    def to_dict(self) -> dict:
        d = asdict(self)
        if self.role is None:       # a block segment: the fields it has always had
            for key in ("role", "v0", "v1", "vocab"):
                d.pop(key)
        return d

    @classmethod
    def from_dict(cls, d) -> "Segment":
        base = {"index", "count", "start", "stop"}
        if not isinstance(d, dict) or set(d) not in (base, base | {"role", "v0", "v1", "vocab"}):
            raise SegmentError(f"not a segment: {d!r}")
        ints = {k: v for k, v in d.items() if k != "role"}
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in ints.values()):
            raise SegmentError(f"not a segment: {d!r}")
        if "role" in d:
            if d["role"] not in ("embed", "head"):
                raise SegmentError(f"not a segment: {d!r} (role is 'embed' or 'head')")
            if not (0 <= d["v0"] < d["v1"] <= d["vocab"]) or d["start"] != d["stop"]:
                raise SegmentError(f"not a vocabulary chunk: {d!r}")
        return cls(**d)


def chunk_ranges(vocab: int, size: int) -> list:
    """[v0, v1) ranges of ``size`` tokens (the last may be shorter) covering [0, vocab)."""
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise SegmentError(f"a vocabulary chunk size must be a positive integer, got {size!r}")
    if vocab < 1:
        raise SegmentError(f"the vocabulary must be non-empty, got {vocab!r}")
    return [(v, min(vocab, v + size)) for v in range(0, vocab, size)]


def split(n_layer: int, layers_per_segment: int, vocab: int | None = None,
          embed_chunk: int | None = None, head_chunk: int | None = None) -> list:
    """Blocks in runs of ``layers_per_segment`` (the last run may be shorter); the embedding
    goes with the first run, the head with the last; or, with ``embed_chunk`` (``head_chunk``)
    tokens, the embedding (head) in vocabulary chunks of that many tokens of ``vocab``, each
    its own segment before (after) the blocks."""
    if not isinstance(layers_per_segment, int) or layers_per_segment < 1:
        raise SegmentError(f"layers per segment must be a positive integer, got {layers_per_segment!r}")
    if (embed_chunk is not None or head_chunk is not None) and not vocab:
        raise SegmentError("vocabulary chunks need the vocabulary size")
    starts = list(range(0, n_layer, layers_per_segment)) or [0]
    emb = chunk_ranges(vocab, embed_chunk) if embed_chunk is not None else []
    head = chunk_ranges(vocab, head_chunk) if head_chunk is not None else []
    count = len(emb) + len(starts) + len(head)
    out = [Segment(i, count, 0, 0, "embed", v0, v1, vocab) for i, (v0, v1) in enumerate(emb)]
    out += [Segment(len(out) + i, count, s, min(n_layer, s + layers_per_segment))
            for i, s in enumerate(starts)]
    out += [Segment(len(out) + i, count, n_layer, n_layer, "head", v0, v1, vocab)
            for i, (v0, v1) in enumerate(head)]
    return out


def check_chain(segments, n_layer: int, vocab: int | None = None) -> None:
    """Refuse a list that is not a chain: embedding chunks covering [0, vocab) in order (or
    none), block segments covering blocks 0 .. n_layer - 1 in order, head chunks covering
    [0, vocab) in order (or none)."""
    if not segments:
        raise SegmentError("a chain needs at least one segment")
    for i, s in enumerate(segments):
        if s.index != i or s.count != len(segments):
            raise SegmentError(f"segment {i} says it is {s.index} of {s.count}")
    emb = [s for s in segments if s.role == "embed"]
    head = [s for s in segments if s.role == "head"]
    body = [s for s in segments if s.role is None]
    if segments != emb + body + head:
        raise SegmentError("a chain is its embedding chunks, its blocks, then its head chunks")
    if not body:
        raise SegmentError("a chain needs at least one segment of blocks")
    for what, chunks in (("embedding", emb), ("head", head)):
        pos = 0
        for s in chunks:
            if vocab is not None and s.vocab != vocab:
                raise SegmentError(f"segment {s.index} chunks a vocabulary of {s.vocab}, the "
                                   f"model's has {vocab}")
            if s.v0 != pos or s.v1 <= s.v0:
                raise SegmentError(f"segment {s.index} covers tokens [{s.v0}, {s.v1}) of the "
                                   f"{what}, expected to start at {pos}")
            if s.start != s.stop or s.start != (0 if what == "embedding" else n_layer):
                raise SegmentError(f"segment {s.index}, a {what} chunk, holds blocks")
            pos = s.v1
        if chunks and pos != chunks[0].vocab:
            raise SegmentError(f"the {what} chunks cover {pos} tokens of {chunks[0].vocab}")
    pos = 0
    for s in body:
        if s.start != pos or s.stop < s.start:
            raise SegmentError(f"segment {s.index} covers blocks [{s.start}, {s.stop}), expected to "
                               f"start at {pos}")
        pos = s.stop
    if pos != n_layer:
        raise SegmentError(f"the segments cover {pos} blocks of {n_layer}")


def statement_columns(statement) -> list:
    """The statement's public columns by name, in the unsplit circuit's order."""
    names = ("tokens", "scored", "count") if statement.kind == "eval" else ("tokens", "gen")
    return list(zip(names, statement.instances()))


def segment_instances(segment: Segment, statement, names) -> list:
    """The public values of ``segment`` for ``statement``: its instance columns ``names``
    (from its circuit), each the statement's column with the rows the segment does not read
    set to 0: the last token unless it holds the head (only the argmax binding reads it), the
    first unless it holds the embedding (only the embedding reads it)."""
    cols = dict(statement_columns(statement))
    out = []
    for name in names:
        if name not in cols:
            raise SegmentError(f"segment {segment.index} has an instance column {name!r} the "
                               "statement does not")
        vals = [int(v) for v in cols[name]]
        if name == "tokens":
            if not segment.head:
                vals[-1] = 0
            if not segment.embed:
                vals[0] = 0
        out.append(vals)
    return out
