"""The protocol's Fiat-Shamir schedule, written once: the prover and the verifier both run it.

A proof is a sequence of rounds (docs/protocol.md, "The prover, round by round"). Before a
round, the transcript squeezes the challenges that round depends on; then the round sends
its message (G1 points, or scalars), which the transcript absorbs under the round's name:

    start         absorb vk.digest() and every instance value
    links         the link columns (only in a segment of a chain: docs/protocol.md,
                  "Segments and links"), before any challenge
    committed.D   the committed columns' re-randomizations D_c     (only with committed columns)
    committed.pok.A   alpha; the representation proof's A
    committed.pok.z   e; its responses z (scalars)
    advice.phase0     the phase-0 advice columns
    advice.phase{p}   the challenges declared after phase p - 1; the phase-p columns
    lookup.m          the challenges after the last phase, theta; one multiplicity per table
    lookup.h_phi      beta; the logUp helpers and the running sum
    perm.z            beta', gamma; the grand products
    quotient          y; the quotient's pieces
    evaluations       x; every opened evaluation (scalars)

then the KZG multi-opening (kzg.batch_open / batch_verify: its own challenges v and u).
A round that has nothing to send (no lookups, no copy constraints, no phase-1 columns) is not
absorbed; its challenges are squeezed all the same.

`run(layout, transcript, play)` walks that schedule: ``play(round, challenges)`` returns
what the round sends. The prover's `play` computes and commits it (prover.py, the argument
folders' prover.py); the verifier's reads it from the proof (verifier.py). Neither side
spells out a label or an order of its own, so they cannot drift apart.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .transcript import Transcript

PROTOCOL = b"snarkgpt-plonk-v5"

__all__ = ["PROTOCOL", "Round", "rounds", "run", "start", "absorb_instances"]


@dataclass(frozen=True)
class Round:
    """One message of the proof: its transcript label, the challenges squeezed before it as
    (label, circuit challenge index or None), how many items it sends, and whether they are
    scalars (else G1 points). A challenge with an index is one the constraints read."""
    name: str
    squeeze: tuple = ()
    count: int = 0
    scalars: bool = False


def absorb_instances(transcript: Transcript, instances):
    transcript.absorb_bytes("instance.columns", len(instances).to_bytes(4, "little"))
    for i, col in enumerate(instances):
        transcript.absorb_scalars(f"instance.{i}", [int(v) for v in col])


def start(vk, instances) -> Transcript:
    """The transcript after the statement: the verifying key's digest (which binds the
    circuit, the key's commitments and the application's statement parameters), then every
    public value."""
    tr = Transcript(PROTOCOL)
    tr.absorb_bytes("vk", vk.digest())
    absorb_instances(tr, instances)
    return tr


def rounds(lay) -> list:
    """The rounds of a proof for layout ``lay``, in transcript order."""
    d = lay.desc
    after = {}
    for ch in d.challenges:
        after.setdefault(ch.after_phase, []).append((f"challenge.{ch.name}", ch.index))
    out = [Round("links", (), len(lay.links))] if lay.links else []
    if lay.committed:
        out += [Round("committed.D", (), len(lay.committed)),
                Round("committed.pok.A", (("committed.alpha", None),), 1),
                Round("committed.pok.z", (("committed.e", None),), lay.committed_scalars, True)]
    for p in range(lay.num_phases):
        out.append(Round(f"advice.phase{p}", tuple(after.get(p - 1, ())),
                         len(lay.phase_columns(p))))
    last = tuple(after.get(lay.num_phases - 1, ()))
    out += [Round("lookup.m", last + (("theta", lay.theta.index),), len(lay.m_cols)),
            Round("lookup.h_phi", (("beta", lay.beta.index),), len(lay.h_cols) + len(lay.phi_cols)),
            Round("perm.z", (("beta'", lay.beta_p.index), ("gamma", lay.gamma.index)), len(lay.z_cols)),
            Round("quotient", (("y", lay.y.index),), lay.quotient_pieces),
            Round("evaluations", (("x", None),), len(lay.queries), True)]
    return out


def run(lay, transcript: Transcript, play) -> tuple:
    """Walk the schedule: for each round squeeze its challenges, get its message from
    ``play(round, challenges, values)`` and absorb it. ``challenges`` holds the circuit
    challenges so far ({index: value}, what the constraints read), ``values`` every value
    squeezed so far by its transcript label ("beta", "committed.alpha", "x", ...). Returns both.

    A message is an (m, 8) array of G1 points, or scalars: Python ints (the prover) or their
    canonical 32-byte encodings as a proof holds them (the verifier); both absorb alike."""
    chal, values = {}, {}
    for rnd in rounds(lay):
        for label, index in rnd.squeeze:
            values[label] = transcript.challenge(label)
            if index is not None:
                chal[index] = values[label]
        sent = play(rnd, chal, values)
        if rnd.scalars:
            if isinstance(sent, (bytes, bytearray)):
                transcript.absorb_bytes_as_scalars(rnd.name, sent)
            else:
                transcript.absorb_scalars(rnd.name, sent)
        elif rnd.count:
            transcript.absorb_points(rnd.name, np.asarray(sent).reshape(rnd.count, 8))
    return chal, values
