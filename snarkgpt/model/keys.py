"""Setting up, proving and verifying generation proofs for one model: the key directory.

    KEYDIR/card.json   public: fingerprint, config, quantization settings, max tokens, k,
                       the setup's provenance (ceremony file or INSECURE development setup),
                       the tokenizer's alphabet when the model has one
    KEYDIR/vk.bin      public: the verifying key; its SHA-256 digest is the model fingerprint
                       (a segmented model: the chain key, `chain.ChainKey`, the card's bound
                       parameters and every segment's verifying key in order)
    KEYDIR/model.npz   private (prover only): the model's weights
    KEYDIR/srs.npz     prover only: the SRS powers and Lagrange basis used by the key
    KEYDIR/committed.npz  private (prover only, committed weights mode): the random blinding
                       rows of the weights' hiding commitments; without it no proof can be
                       made against the published key, and it must never be published

A verifier needs card.json and vk.bin and nothing else; `load_verifier` checks that the
verifying key's digest is the fingerprint the card announces and that the card agrees with
the statement parameters the key binds (`keyspec`: length, kind, vocabulary, tokenizer,
quantization, setup provenance). The proving key is rebuilt from the model and the SRS when
a prover starts (it is deterministic).
"""
import gc
import json
import os
import shutil
import tempfile
import time
import warnings

import numpy as np

from . import keyspec
from .statement import EvalStatement, Statement, StatementError

CARD = "card.json"
VK = "vk.bin"
MODEL = "model.npz"
SRS_FILE = "srs.npz"
COMMITTED_FILE = "committed.npz"
CARD_VERSION = 2        # 2: the card's statement fields are bound in the verifying key
STATEMENTS = ("generate", "eval")
LAYOUTS = ("auto", "banked", "compact")       # setup --layout


class KeyDirError(ValueError):
    """A key directory that is missing, incomplete, inconsistent or for another model."""


class SegmentFailure(ValueError):
    """A witness that fails a constraint (`Prover.mock_check`), named by segment and op."""


def _atomic_dir(out):
    """A temporary sibling directory, renamed onto `out` by the caller on success."""
    parent = os.path.dirname(os.path.abspath(out)) or "."
    os.makedirs(parent, exist_ok=True)
    return tempfile.mkdtemp(prefix=".setup-", dir=parent)


def _check_out(out):
    """`out` may be replaced only if it is absent, an empty folder or a key directory: setup
    never deletes a folder that holds anything else (a mistyped --out must not lose data)."""
    if not os.path.lexists(out):
        return
    if os.path.islink(out) or not os.path.isdir(out):
        raise KeyDirError(f"{out} exists and is not a folder: choose another --out")
    entries = os.listdir(out)
    if entries and CARD not in entries:
        raise KeyDirError(f"{out} exists and is not a key directory (no {CARD}): refusing to "
                        "overwrite it; choose another --out")


def setup(model_spec="bundled", out="keys", srs_path=None, max_tokens=None, progress=print,
          statement="generate", weights="fixed", layout="auto", layers_per_segment=None,
          memory_budget=None, weight_width="auto", scale_bits=None, embed_chunk=None,
          head_chunk=None):
    """Calibrate the quantization, build the circuit, generate keys, write KEYDIR atomically.

    ``scale_bits``: the fixed-point scale 2^s of the activations (default: calibrate's
    choice, the largest whose tables fit the rows the circuit needs anyway).

    ``weights``: "fixed" (the verifying key commits the weights, binding but not hiding) or
    "committed" (a hiding commitment, re-randomized in every proof; the blinding is written
    to the private committed.npz). See docs/committed-weights.md.

    ``statement``: "generate" (greedy generation proofs) or "eval" (accuracy over a public
    window; a different circuit, hence its own fingerprint).

    ``layout``: "auto" (the layout cheapest to prove, `choose_layout`), "compact" (fewest
    columns: the smallest proofs and fastest verification) or "banked" (the cheapest banked
    one).

    ``layers_per_segment`` (blocks per segment proof) or ``memory_budget`` (bytes; default:
    what this machine can spare) split a model too large for one circuit into a chain of
    segments (segments.py, chain.py); a model that fits stays one circuit.

    ``weight_width``: fixed weights per row of the matmuls' section B.r (gadgets/matmul.py,
    "Wide rows"); "auto" (`segment_plan.best_width`: the cheapest estimate, which keeps the
    narrow rows where they do not set k), None (narrow) or a positive integer. Recorded in
    the card and bound in the key when not None. Returns the card (dict)."""
    from ..plonk.circuit import ConstraintSystem
    from ..plonk.keygen import keygen
    from .circuit import choose_layout, layout_candidates, layout_costs
    from .quantize import calibrate, quantize_model
    from .weights import load_model

    t0 = time.perf_counter()
    _check_out(out)
    if srs_path is not None and not os.path.isfile(srs_path):
        raise KeyDirError(f"{srs_path}: no such ceremony file")
    # weights are read one tensor at a time when asked for (a safetensors folder or an npz),
    # and quantized per tensor once the integer model outgrows a quarter of the budget
    # (quantize.stream_cap): setup never holds a large model whole
    model = load_model(model_spec, lazy=True)
    cfg = model.config
    if statement not in STATEMENTS:
        raise KeyDirError(f"unknown statement kind {statement!r}: use one of {', '.join(STATEMENTS)}")
    # an eval window of L tokens needs a forward pass over L - 1 positions
    top = cfg.block_size + 1 if statement == "eval" else cfg.block_size
    L = int(top if max_tokens is None else max_tokens)
    if not 2 <= L <= top:
        what = "the block size + 1, for an eval key" if statement == "eval" else "the block size"
        raise StatementError(f"max tokens must be in [2, {top}] ({what}), got {L}")
    from .circuit import WEIGHT_MODES
    if weights not in WEIGHT_MODES:
        raise KeyDirError(f"unknown weights mode {weights!r}: use one of {', '.join(WEIGHT_MODES)}")
    if layout not in LAYOUTS:
        raise KeyDirError(f"unknown layout {layout!r}: use one of {', '.join(LAYOUTS)}")
    # the split first: a budget too small for one block is an error before any work
    from .segment_plan import BudgetError, best_width, plan_segments
    if weight_width != "auto" and weight_width is not None and (
            isinstance(weight_width, bool) or not isinstance(weight_width, int) or weight_width < 1):
        raise KeyDirError(f"weight width must be 'auto', None or a positive integer, got "
                          f"{weight_width!r}")
    from .segments import SegmentError
    for what, size in (("embedding", embed_chunk), ("head", head_chunk)):
        if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
            raise KeyDirError(f"{what} chunk size must be a positive integer (tokens per "
                              f"chunk), got {size!r}")
    # a split by memory is checked again once the circuit's real k is known (`_check_built`)
    budget = None
    if layers_per_segment is None:
        from .memory import default_budget, parse_size
        budget = default_budget() if memory_budget is None else parse_size(memory_budget)
    try:
        segments = plan_segments(cfg, L, layers_per_segment,
                                 memory_budget if budget is None else budget, progress,
                                 embed_chunk=embed_chunk, head_chunk=head_chunk)
    except SegmentError as e:
        if isinstance(e, BudgetError):
            raise
        raise KeyDirError(str(e)) from None
    width_auto = weight_width == "auto"
    if width_auto:
        weight_width = best_width(cfg, L - 1, segments)
    if weight_width is not None:
        progress(f"fixed weights in wide rows of {weight_width} (gadgets/matmul.py)")
    progress(f"calibrating quantization for {cfg} ...")
    # calibrated on the lengths it proves
    from .memory import parse_size
    from .quantize import stream_cap
    stream = stream_cap(cfg, None if memory_budget is None else parse_size(memory_budget))
    if stream is not None:
        from .memory import format_size
        progress(f"weights quantized per tensor as needed (a cache of {format_size(stream)})")
    settings, report = calibrate(model, max_tokens=L, scale_bits=scale_bits, stream=stream)
    qmodel = quantize_model(model, settings, stream=stream)
    make = lambda lay: keygen_circuit(qmodel, settings, L, compact=lay[0], mm_lanes=lay[1],  # noqa: E731
                                      statement=statement, weights=weights,
                                      weight_width=weight_width)
    T = L - 1                   # positions of the forward pass (both statement kinds)
    candidates = [lay for lay in layout_candidates(cfg, T)
                  if layout == "auto" or lay[0] == (layout == "compact")]
    while True:
        try:
            if len(segments) > 1:
                return _setup_chain(model, model_spec, qmodel, settings, report, L, statement,
                                    weights, candidates, segments, srs_path, out, progress, t0,
                                    weight_width, budget)
            costs = layout_costs(make, candidates)
            layout = choose_layout(costs)
            _check_built(cfg, L, segments, costs[layout][1], weight_width, budget)
            break
        except _Replan as e:
            # the circuit needs more rows than the plan estimated: fewer blocks a segment
            progress(str(e))
            segments = plan_segments(cfg, L, None, budget, progress, embed_chunk=embed_chunk,
                                     head_chunk=head_chunk, max_blocks=e.blocks - 1)
            if width_auto:      # `make` reads weight_width when called
                weight_width = best_width(cfg, L - 1, segments)
    compact, mm_lanes = layout
    circuit = make(layout)
    k = costs[layout][1]
    progress(f"circuit: k = {k} ({1 << k} rows); loading the SRS ...")
    srs, insecure = _make_srs(srs_path, k)
    progress("generating keys ...")
    card = _card(model, model_spec, settings, report, statement, weights, L, k, compact,
                 mm_lanes, srs, insecure, weight_width)
    cs = ConstraintSystem()
    config = circuit.configure(cs)
    pk, vk = keygen(srs, cs, circuit, config, k=k, precompute=False,  # setup never proves
                    statement=keyspec.encode(keyspec.spec_from_card(card)))
    card["fingerprint"] = vk.digest().hex()
    blinding = None if pk.committed_blinding is None else {"blinding": pk.committed_blinding}
    _write_keydir(out, card, vk.to_bytes(), model, srs, k, insecure, blinding, t0)
    return card


def _make_srs(srs_path, k: int):
    """(SRS with 2^k + 1 powers, insecure): from the ceremony file, or a development SRS
    whose secret dies with this process."""
    from ..plonk.srs import SRS, InsecureSetupWarning
    n = (1 << k) + 1
    if srs_path is not None:
        srs = SRS.from_ptau(srs_path, n=None)
        if srs.n < n:
            raise KeyDirError(f"{srs_path}: {srs.n} powers, the circuit needs {n}")
        return srs.truncate(n), False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", InsecureSetupWarning)
        srs = SRS.dev(n, seed=os.urandom(32))  # the secret dies with this process
    # the dev SRS names its seed, from which tau follows: never write it to the key files
    srs.source = "dev (random seed, discarded after setup; nothing proves it was)"
    return srs, True


def _card(model, model_spec, settings, report, statement, weights, L, k, compact, mm_lanes,
          srs, insecure, weight_width=None) -> dict:
    card = {
        "version": CARD_VERSION, "fingerprint": None, "model": str(model_spec),
        "config": model.config.to_dict(), "gelu": model.gelu,
        "quant_settings": json.loads(settings.to_json()),
        "statement": statement,
        "weights": weights,
        "max_tokens": L, "k": k, "compact_layout": compact, "mm_lanes": mm_lanes, "srs": srs.source, "insecure_setup": insecure,
        "tokenizer": getattr(model.tokenizer, "chars", None) if model.tokenizer else None,
        "quantization": {"max_logit_error": report.max_logit_error if report else None,
                         "top1_agreement": report.top1_agreement if report else None},
        "srs_digest": srs.digest().hex(),
        "setup_seconds": None,
    }
    if weight_width is not None:        # absent: the narrow rows (keys made before it existed)
        card["weight_width"] = int(weight_width)
    return card


def _write_keydir(out, card, vk_bytes, model, srs, k, insecure, blinding, t0):
    """Write KEYDIR atomically (a temporary sibling renamed onto ``out``): nothing
    half-written is left on failure. ``blinding``: {name: committed-column blinding} or None."""
    from .weights import save_npz
    tmp = _atomic_dir(out)
    try:
        with open(os.path.join(tmp, VK), "wb") as f:
            f.write(vk_bytes)
        save_npz(model, os.path.join(tmp, MODEL))
        if blinding:
            from ..field import Fr
            np.savez(os.path.join(tmp, COMMITTED_FILE),
                     **{name: Fr.to_canonical(b.reshape(-1, 4)).reshape(b.shape)
                        for name, b in blinding.items()})
        np.savez(os.path.join(tmp, SRS_FILE), g1=srs.g1, g2=srs.g2, lagrange=srs.lagrange(k),
                 k=np.array(k), insecure=np.array(insecure), source=np.array(srs.source))
        card["setup_seconds"] = time.perf_counter() - t0
        with open(os.path.join(tmp, CARD), "w") as f:
            json.dump(card, f, indent=1, sort_keys=True)
        _check_out(out)
        if os.path.exists(out):
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            shutil.rmtree(tmp)


def _common_k(rows: int, blinding: int) -> int:
    """The k of a chain's common domain: its tallest segment's rows under the common
    blinding rows."""
    from ..plonk.circuit import ConstraintSystem
    common = ConstraintSystem()
    common.min_blinding_rows = blinding
    return common.minimum_k(rows)


class _Replan(Exception):
    """The circuit built needs more rows than the plan: plan again with fewer than
    ``blocks`` blocks a segment (`_check_built`)."""

    def __init__(self, blocks: int, message: str):
        super().__init__(message)
        self.blocks = blocks


def _check_built(cfg, L: int, segments, k: int, weight_width, budget) -> None:
    """With a split made by memory (``budget`` bytes), check the planner's estimate again at
    the k the circuit really needs, where that k is above the planned one: the rows model can
    fall short (it once missed the GELU's bank: 3 GPT-2 blocks a segment with weights 256 a
    row planned k = 17 and built k = 18, twice the memory), and large lookup tables (a scale
    given by hand) raise k past it. Over budget: `_Replan` while a segment holds more than
    one block, else `BudgetError`."""
    if budget is None:
        return
    from .memory import format_size
    from .segment_plan import BudgetError, _k, estimate_bytes, segment_rows
    blocks = [s for s in segments if not s.chunk] or segments
    planned = max(_k(segment_rows(cfg, L - 1, s, weight_width), 16) for s in blocks)
    need = max(estimate_bytes(cfg, L - 1, s, k, weight_width) for s in blocks)
    if k <= planned or need <= budget:
        return
    most = max(s.n_blocks for s in blocks)
    msg = (f"the circuit needs k = {k}, more rows than planned: about {format_size(need)} a "
           f"segment, over the memory budget {format_size(budget)}")
    if most > 1:
        raise _Replan(most, f"{msg}; planning again with at most {most - 1} block(s) a segment")
    raise BudgetError(f"{msg}; raise --memory-budget, or lower --max-tokens")


def _setup_chain(model, model_spec, qmodel, settings, report, L, statement, weights, candidates,
                 segments, srs_path, out, progress, t0, weight_width=None, budget=None):
    """Setup of a segmented model (segments.py): one layout for every segment (the cheapest
    for the last, the largest), one domain (the largest segment's k) and one count of
    blinding rows, so that neighbours lay their links out alike; then one verifying key per
    segment, bound to its place, folded into the chain key (chain.py)."""

    from ..plonk.circuit import ConstraintSystem
    from ..plonk.keygen import keygen
    from ..progress import steps
    from .chain import ChainKey, segment_statement
    from .circuit import build, choose_layout, layout_costs
    from .segments import Segment
    shape = keygen_circuit(qmodel, settings, L, statement=statement, weights=weights,
                           segment=segments[-1], weight_width=weight_width)
    fw = shape.forward

    def make(lay, seg):
        return keygen_circuit(qmodel, settings, L, compact=lay[0], mm_lanes=lay[1],
                              statement=statement, weights=weights, segment=seg, forward=fw,
                              weight_width=weight_width)
    # the layout of the largest segment of blocks (vocabulary chunks use one matmul lane)
    largest = [s for s in segments if not s.chunk][-1]
    compact, mm_lanes = choose_layout(layout_costs(lambda lay: make(lay, largest), candidates))
    rows, blind = [], 0
    for seg in segments:
        cs, _, asg = build(make((compact, mm_lanes), seg), first_pass_only=True)
        rows.append(asg.rows_used)
        blind = max(blind, cs.blinding_rows)
        del cs, asg
        gc.collect()
    # one domain for all: the tallest segment's rows, under the common blinding rows
    k = _common_k(max(rows), blind)
    _check_built(model.config, L, segments, k, weight_width, budget)
    progress(f"{len(segments)} segments ({', '.join(s.describe() for s in segments)}): "
             f"k = {k} ({1 << k} rows) each; loading the SRS ...")
    srs, insecure = _make_srs(srs_path, k)
    card = _card(model, model_spec, settings, report, statement, weights, L, k, compact,
                 mm_lanes, srs, insecure, weight_width)
    card["segments"] = [s.to_dict() for s in segments]
    spec_bytes = keyspec.encode(keyspec.spec_from_card(card))
    vks, blinding = [], {}
    for seg in steps(segments, "keys for segment", progress, Segment.describe):
        circuit = make((compact, mm_lanes), seg)
        cs = ConstraintSystem()
        cs.min_blinding_rows = blind
        config = circuit.configure(cs)
        pk, vk = keygen(srs, cs, circuit, config, k=k, precompute=False,
                        statement=segment_statement(spec_bytes, seg))
        vks.append(vk)
        if pk.committed_blinding is not None:
            blinding[f"blinding_{seg.index}"] = pk.committed_blinding
        del pk, circuit, cs, config
        gc.collect()
    chain = ChainKey(spec_bytes, vks)
    card["fingerprint"] = chain.digest().hex()
    _write_keydir(out, card, chain.to_bytes(), model, srs, k, insecure, blinding, t0)
    return card


def keygen_circuit(qmodel, settings, L, compact=False, statement="generate", weights="fixed",
                   mm_lanes=None, segment=None, forward=None, weight_width=None):
    """A circuit of the key's shape: prompt = L-1 zero tokens, output = their greedy next token
    (keygen uses only the fixed columns and copy constraints, which do not depend on it); for
    an eval key, a window of L zero tokens."""
    from .circuit import ModelCircuit
    from .integer_forward import integer_forward
    kw = dict(compact=compact, weights=weights, mm_lanes=mm_lanes, segment=segment, forward=forward,
              weight_width=weight_width)
    if statement == "eval":
        return ModelCircuit(qmodel, settings, eval_statement(qmodel, [0] * L, L), **kw)
    prompt = [0] * (L - 1)
    nxt = int(integer_forward(qmodel, np.array(prompt), np.array([L - 2])).next_tokens[-1])
    return ModelCircuit(qmodel, settings, Statement(tuple(prompt), (nxt,), L), **kw)


def eval_statement(qmodel, window, L) -> EvalStatement:
    """The true eval statement for ``window`` (its count of correct greedy predictions under
    the quantized model), for a key of length L."""
    from .circuit import _check_eval_tokens
    from .evaluation import count_correct
    from .integer_forward import integer_forward
    window = [int(t) for t in window]
    EvalStatement(tuple(window), L, 0)  # length checks
    toks = _check_eval_tokens(qmodel.config, window)
    fw = integer_forward(qmodel, toks[:-1], np.arange(toks.size - 1))
    return EvalStatement(tuple(window), L, count_correct(toks, [1] * toks.size, fw.next_tokens))


def statement_kind(card) -> str:
    """The key's statement kind, "generate" or "eval" (cards written before eval keys existed
    are generation keys)."""
    return card.get("statement", "generate")


def kind_error(key_kind: str) -> str:
    """The message for a request that the key's statement kind cannot prove."""
    if key_kind == "eval":
        return ("this is an eval key (made by `snarkgpt setup --eval`): it proves accuracy over a "
                "window with `snarkgpt prove-eval`, not generations; use a generation key")
    return ("this is a generation key: it cannot prove accuracy; make an eval key with "
            "`snarkgpt setup --eval` and use it with `snarkgpt prove-eval`")


def read_card(keydir) -> dict:
    path = os.path.join(keydir, CARD)
    try:
        with open(path) as f:
            card = json.load(f)
    except OSError as e:
        raise KeyDirError(f"{path}: cannot read: {e.strerror}") from None
    except ValueError as e:
        raise KeyDirError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(card, dict):
        raise KeyDirError(f"{path}: not a model card (a JSON object)")
    if card.get("version") != CARD_VERSION:
        raise KeyDirError(f"{path}: card version {card.get('version')!r}, this snarkgpt reads "
                        f"version {CARD_VERSION}: the keys were made by another version; run "
                        "`snarkgpt setup` again")
    return card


def parse_verifying_key(data: bytes):
    """A model's verifying key from vk.bin's bytes: a `VerifyingKey`, or a `chain.ChainKey`
    for a segmented model; `KeyFormatError` when it is neither."""
    from ..plonk.keygen import VerifyingKey
    from .chain import ChainKey, is_chain_key
    return ChainKey.from_bytes(data) if is_chain_key(data) else VerifyingKey.from_bytes(data)


def load_verifier(keydir):
    """(card, verifying key), after `check_published`: digest(vk) == the card's fingerprint,
    and the card agrees with every parameter the key binds."""
    from ..plonk.description import KeyFormatError
    card = read_card(keydir)
    path = os.path.join(keydir, VK)
    try:
        data = open(path, "rb").read()
    except OSError as e:
        raise KeyDirError(f"{path}: cannot read: {e.strerror}") from None
    try:
        vk = parse_verifying_key(data)
    except KeyFormatError as e:
        raise KeyDirError(f"{path}: {e}") from None
    check_published(card, vk, keydir)
    return card, vk


def check_published(card: dict, vk, where="the key") -> dict:
    """The key's bound parameters (`keyspec`), after checking that the card's fingerprint is
    digest(vk) and that the card says nothing the key does not bind; KeyDirError otherwise.
    Every verifier (verify, audit, the client, the server) goes through this."""
    fp = card.get("fingerprint")
    if vk.digest().hex() != fp:
        raise KeyDirError(f"{where}: the verifying key's digest {vk.digest().hex()[:16]}... does not "
                        f"match the card's fingerprint {str(fp)[:16]}...")
    try:
        spec = keyspec.decode(vk.statement)
        keyspec.check_card(card, spec, vk)
    except keyspec.KeySpecError as e:
        raise KeyDirError(f"{where}: {e}") from None
    return spec


class Prover:
    """Holds the proving key for one key directory (built once, reused for every proof)."""

    def __init__(self, keydir, progress=print, keep_keys: bool = True):
        from ..plonk.srs import SRS
        from .quantize import QuantSettings, quantize_model
        from .weights import load_model
        self.card, self.vk = load_verifier(keydir)
        missing = [f for f in (MODEL, SRS_FILE) if not os.path.isfile(os.path.join(keydir, f))]
        if missing:
            raise KeyDirError(f"{keydir}: prover files missing ({', '.join(missing)}): this is the "
                            "public half of a key directory; prove with the full one, or run setup again")
        try:
            model = load_model(os.path.join(keydir, MODEL), lazy=True)
            z = np.load(os.path.join(keydir, SRS_FILE), allow_pickle=False)
        except OSError as e:
            raise KeyDirError(f"{keydir}: prover files missing ({e}); run setup again") from None
        self.model = model
        self.settings = QuantSettings.from_json(json.dumps(self.card["quant_settings"]))
        self.qmodel = quantize_model(model, self.settings)
        self.L = int(self.card["max_tokens"])
        k = int(self.card["k"])
        srs = SRS(z["g1"], z["g2"], str(z["source"]), bool(z["insecure"]))
        srs._lagrange[k] = z["lagrange"]
        progress("building the proving key ...")
        self.compact = bool(self.card.get("compact_layout", False))
        self.mm_lanes = int(self.card.get("mm_lanes", 2))
        self.kind = statement_kind(self.card)
        self.weights = self.card.get("weights", "fixed")
        # bound in the key when present (keyspec): the prover rebuilds the same circuit
        self.weight_width = self.card.get("weight_width")
        blinding = None
        if self.weights == "committed":
            blinding = _read_blinding(keydir, self.vk)
        self.srs, self.k, self.keydir = srs, k, keydir
        self.segments = getattr(self.vk, "segments", None)     # a chain key's segments
        if self.segments is None:
            self.pk, self.cs, self.config, _ = self._segment_key(None, self.vk, blinding)
            return
        # a segmented model: each segment's proving key, built when first needed (and kept
        # only with ``keep_keys``: then peak memory is all the keys')
        self.keep_keys = keep_keys
        self._keys = [None] * len(self.segments)
        self._blinding = blinding
        self._keygen_forward = None

    def _segment_key(self, segment, vk, blinding, forward=None):
        """(ProvingKey, cs, config) rebuilt from the model and the SRS, checked to be ``vk``."""
        from ..plonk.circuit import CircuitError, ConstraintSystem
        from ..plonk.keygen import keygen
        circuit = keygen_circuit(self.qmodel, self.settings, self.L, compact=self.compact,
                                 statement=self.kind, weights=self.weights, mm_lanes=self.mm_lanes,
                                 segment=segment, forward=forward, weight_width=self.weight_width)
        cs = ConstraintSystem()
        cs.min_blinding_rows = vk.layout.desc.n - vk.layout.desc.usable_rows - 1
        config = circuit.configure(cs)
        mismatch = (f"{self.keydir}: the model or SRS files do not produce the published key "
                    "(fingerprint mismatch): the key directory is inconsistent")
        try:
            # the published key's commitments, checked against the rebuilt columns in one
            # batch (plonk.keygen.matches_commitments) rather than recomputed column by column
            pk, again = keygen(self.srs, cs, circuit, config, k=self.k,
                               committed_blinding=blinding, published=vk, statement=vk.statement)
        except CircuitError as e:
            raise KeyDirError(f"{mismatch} ({e})") from None
        except ValueError as e:
            raise KeyDirError(f"{self.keydir}: {e}") from None
        if again.digest() != vk.digest():
            raise KeyDirError(mismatch)
        return pk, cs, config, circuit.forward

    def generate(self, prompt_tokens, max_new_tokens: int) -> Statement:
        """The quantized model's greedy continuation (the tokens the proof will attest)."""
        from .integer_forward import check_tokens, integer_forward
        self._require("generate")
        prompt = [int(t) for t in prompt_tokens]
        if max_new_tokens < 1:
            raise StatementError(f"max new tokens must be at least 1, got {max_new_tokens}")
        Statement(tuple(prompt), (0,) * max_new_tokens, self.L)  # length checks
        check_tokens(self.model.config, prompt)
        toks = list(prompt)
        for _ in range(max_new_tokens):
            fw = integer_forward(self.qmodel, np.array(toks), np.array([len(toks) - 1]))
            toks.append(int(fw.next_tokens[-1]))
        return Statement(tuple(prompt), tuple(toks[len(prompt):]), self.L)

    def evaluate(self, window) -> EvalStatement:
        """The eval statement for ``window``: its count of correct next-token predictions."""
        self._require("eval")
        return eval_statement(self.qmodel, window, self.L)

    def _require(self, kind: str):
        if self.kind != kind:
            raise KeyDirError(kind_error(self.kind))

    def prove(self, statement: Statement, stats=None, progress=None) -> bytes:
        """The proof of ``statement``: one PLONK proof, or for a segmented model a chain
        proof (chain.py) of one proof per segment, linked by a fresh secret seed."""
        from ..plonk.prover import prove
        from .circuit import ModelCircuit
        self._require(statement.kind)
        if self.segments is None:
            circuit = ModelCircuit(self.qmodel, self.settings, statement, compact=self.compact,
                                   weights=self.weights, mm_lanes=self.mm_lanes,
                                   weight_width=self.weight_width)
            return prove(self.pk, circuit, self.config, instances=statement.instances(), stats=stats)
        from ..progress import steps
        from .chain import ChainProof
        from .segments import Segment
        seed = new_link_seed()
        forward = self.forward(statement)
        proofs = []
        for seg in steps(self.segments, "proving segment", progress, Segment.describe):
            seg_stats = {} if stats is not None else None
            proofs.append(self.prove_segment(seg.index, statement, seed, forward, seg_stats))
            if stats is not None:
                for name, t in seg_stats.items():
                    stats[name] = stats.get(name, 0.0) + t
                stats.setdefault("segments", []).append(sum(seg_stats.values()))
        return ChainProof(proofs).to_bytes()

    def forward(self, statement):
        """The integer forward pass of ``statement`` (every segment's witness starts from it:
        `prove_segment` reads its residual stream at the segment's input)."""
        from .circuit import ModelCircuit
        return ModelCircuit(self.qmodel, self.settings, statement, compact=self.compact,
                            weights=self.weights, mm_lanes=self.mm_lanes,
                            segment=self.segments[-1] if self.segments else None,
                            weight_width=self.weight_width).forward

    def prove_segment(self, i: int, statement, seed: bytes, forward=None, stats=None) -> bytes:
        """Segment i's proof of ``statement``, its links blinded from ``seed`` (every segment
        of one chain proof takes the same seed, `new_link_seed`); ``forward``: the statement's
        integer forward (`forward`), computed once for all segments. Independent of the
        other segments' proofs: they may run anywhere, in any order."""
        from ..plonk.prover import prove
        from .circuit import ModelCircuit
        self._require(statement.kind)
        seg = self.segments[i]
        circuit = ModelCircuit(self.qmodel, self.settings, statement, segment=seg,
                               forward=forward, compact=self.compact, weights=self.weights,
                               mm_lanes=self.mm_lanes, weight_width=self.weight_width)
        pk, _, config = self._key(i)
        try:
            return prove(pk, circuit, config, instances=circuit.instances(), stats=stats,
                         link_seed=seed)
        finally:
            del pk, config, circuit
            if not self.keep_keys:
                self._keys[i] = None
            # a circuit's regions and its assignment hold each other (later phases' callbacks):
            # collect them now, or the next segment's key and witness would come on top
            gc.collect()

    def mock_check(self, statement, tamper=None) -> None:
        """Run the mock prover on every segment's witness for ``statement`` (the whole circuit
        for an unsplit key); `SegmentFailure` names the first failing segment, the model op
        and the constraint. ``tamper(segment, assignment)`` may break a witness (tests)."""
        from ..plonk.mock import ConstraintFailure, MockProver
        from .circuit import ModelCircuit, _op_of, build
        from .segments import Segment
        kw = dict(compact=self.compact, weights=self.weights, mm_lanes=self.mm_lanes,
                  weight_width=self.weight_width)
        forward = None
        for seg in self.segments or [Segment.whole(self.model.config.n_layer)]:
            circuit = ModelCircuit(self.qmodel, self.settings, statement, segment=seg,
                                   forward=forward, **kw)
            forward = circuit.forward
            cs, _, asg = build(circuit)
            if tamper is not None:
                tamper(seg, asg)
            try:
                MockProver(cs, asg, instances=circuit.instances()).assert_satisfied()
            except ConstraintFailure as e:
                first = e.failures[0]
                op = _op_of(first.region) if first.region else "no region"
                raise SegmentFailure(f"segment {seg.index} ({seg.describe()}), op {op}: {e}") from None

    def _key(self, i: int):
        """Segment i's (ProvingKey, cs, config); the key circuits share one integer forward."""
        if self._keys[i] is None:
            blinding = None if self._blinding is None else self._blinding[i]
            self._keys[i] = self._segment_key(self.segments[i], self.vk.vks[i], blinding,
                                              self._keygen_forward)
            self._keygen_forward = self._keys[i][3]
        return self._keys[i][:3]


def new_link_seed() -> bytes:
    """A fresh secret seed for one chain proof's links (plonk/links.py): never reuse it."""
    from ..plonk.links import SEED_BYTES
    return os.urandom(SEED_BYTES)


def _read_blinding(keydir, vk):
    """The committed weights' setup blinding (Montgomery form) from KEYDIR/committed.npz: one
    array, or for a segmented model one per segment (a list)."""
    from ..field import Fr
    path = os.path.join(keydir, COMMITTED_FILE)
    segments = getattr(vk, "segments", None)
    names = ["blinding"] if segments is None else [f"blinding_{s.index}" for s in segments]
    out = []
    try:
        z = np.load(path, allow_pickle=False)
        raws = [z[n] for n in names]
    except (OSError, ValueError, KeyError) as e:
        raise KeyDirError(f"{path}: cannot read the committed weights' blinding ({e}); without it "
                        "no proof can be made for this key: restore it or run setup again") from None
    for raw in raws:
        if raw.ndim != 3 or raw.shape[2] != 4 or raw.dtype != np.uint64:
            raise KeyDirError(f"{path}: not a blinding array (shape {raw.shape}, {raw.dtype})")
        out.append(Fr.from_canonical(raw.reshape(-1, 4)).reshape(raw.shape))
    return out[0] if segments is None else out


def rejection(vk, statement, proof: bytes, fingerprint=None) -> str | None:
    """Why the proof of ``statement`` is rejected under ``vk`` (None: it verifies): the
    statement must be one of the key's (`keyspec.statement_problem`: kind, exact length,
    tokens in the vocabulary), ``fingerprint`` (a proof file's header) the key's, and the
    proof valid for the statement's public inputs."""
    from ..plonk.proof import ProofFormatError
    from ..plonk.verifier import VerificationError, verify_or_raise
    try:
        spec = keyspec.decode(vk.statement)
    except keyspec.KeySpecError as e:
        return str(e)
    problem = keyspec.statement_problem(spec, statement)
    if problem:
        return problem
    if fingerprint is not None and fingerprint != vk.digest().hex():
        return (f"the proof is for model {str(fingerprint)[:16]}..., this key is "
                f"{vk.digest().hex()[:16]}...")
    from .chain import ChainError, ChainKey, verify as verify_chain
    try:
        if isinstance(vk, ChainKey):
            verify_chain(vk, statement, proof)
        else:
            verify_or_raise(vk, statement.instances(), proof)
    except (VerificationError, ProofFormatError, ChainError) as e:
        return f"the proof does not verify ({e})"
    return None


def verify_statement(vk, statement: Statement, proof: bytes) -> bool:
    """True if ``proof`` proves ``statement`` under ``vk`` (`rejection` says why not)."""
    return rejection(vk, statement, proof) is None
