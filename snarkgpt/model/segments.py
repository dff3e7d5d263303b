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

A model that fits one circuit is one segment, `Segment.whole`: the circuit of an unsplit
key, without link columns.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

__all__ = ["Segment", "SegmentError", "split", "segment_instances", "boundary_name"]


class SegmentError(ValueError):
    """A split that is not a chain of segments of the model (a gap, an overlap, a bad count)."""


def boundary_name(b: int) -> str:
    """The link column holding the residual stream entering block ``b`` (b = n_layer: the
    head's input)."""
    return f"link.{b}"


@dataclass(frozen=True)
class Segment:
    """Segment ``index`` of ``count``: blocks [start, stop), with the embedding when it is the
    first and the head when it is the last."""
    index: int
    count: int
    start: int
    stop: int

    @property
    def embed(self) -> bool:
        return self.index == 0

    @property
    def head(self) -> bool:
        return self.index == self.count - 1

    @property
    def link_in(self) -> str | None:
        """The link column this segment reads its input from (None: the embedding)."""
        return None if self.embed else boundary_name(self.start)

    @property
    def link_out(self) -> str | None:
        """The link column this segment writes its output to (None: the head)."""
        return None if self.head else boundary_name(self.stop)

    @property
    def n_blocks(self) -> int:
        return self.stop - self.start

    @classmethod
    def whole(cls, n_layer: int) -> "Segment":
        return cls(0, 1, 0, n_layer)

    def describe(self) -> str:
        parts = (["embed"] if self.embed else []) + (
            [f"h.{self.start}" + (f"-{self.stop - 1}" if self.n_blocks > 1 else "")]
            if self.n_blocks else []) + (["head"] if self.head else [])
        return "+".join(parts)

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d) -> "Segment":
        if not isinstance(d, dict) or set(d) != {"index", "count", "start", "stop"} or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in d.values()):
            raise SegmentError(f"not a segment: {d!r}")
        return cls(**d)


def split(n_layer: int, layers_per_segment: int) -> list:
    """Blocks in runs of ``layers_per_segment`` (the last run may be shorter); the embedding
    goes with the first run, the head with the last."""
    if not isinstance(layers_per_segment, int) or layers_per_segment < 1:
        raise SegmentError(f"layers per segment must be a positive integer, got {layers_per_segment!r}")
    starts = list(range(0, n_layer, layers_per_segment)) or [0]
    count = len(starts)
    return [Segment(i, count, s, min(n_layer, s + layers_per_segment)) for i, s in enumerate(starts)]


def check_chain(segments, n_layer: int) -> None:
    """Refuse a list that is not a chain covering blocks 0 .. n_layer - 1 in order."""
    if not segments:
        raise SegmentError("a chain needs at least one segment")
    pos = 0
    for i, s in enumerate(segments):
        if s.index != i or s.count != len(segments):
            raise SegmentError(f"segment {i} says it is {s.index} of {s.count}")
        if s.start != pos or s.stop < s.start:
            raise SegmentError(f"segment {i} covers blocks [{s.start}, {s.stop}), expected to "
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
