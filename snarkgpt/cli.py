"""The `snarkgpt` command: benchmarks, circuit inspection, and (as they land) setup/prove/verify.

Every sub-command exits 0 on success, 1 when a check fails (e.g. a proof is rejected) and 2 on
bad input, printing one line that names the problem on stderr.
"""
import argparse
import importlib
import json
import sys

EXAMPLES = {
    "fibonacci": ("Fibonacci", {"steps": 16}),
    "range": ("RangeCheck", {}),
    "product": ("ProductCheck", {}),
    "mac": ("MultiplyAccumulate", {}),
}


class UsageError(Exception):
    """Bad input from the command line: reported in one line, exit code 2."""


def load_circuit(spec: str):
    """A circuit object from an example name or `module:attribute` (a class or instance)."""
    if spec in EXAMPLES:
        from .plonk import examples
        name, kwargs = EXAMPLES[spec]
        return getattr(examples, name)(**kwargs)
    if ":" not in spec:
        raise UsageError(f"unknown circuit {spec!r}: use one of {', '.join(EXAMPLES)} or module:attribute")
    module, attr = spec.split(":", 1)
    try:
        obj = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as e:
        raise UsageError(f"cannot load circuit {spec!r}: {e}") from None
    return obj() if isinstance(obj, type) else obj


def cmd_inspect(args) -> int:
    from .plonk.examples import build
    from .plonk.inspect import describe, format_text
    circuit = load_circuit(args.circuit)
    cs, _, asg = build(circuit, k=args.k)
    desc = describe(cs, asg)
    if args.json:
        print(json.dumps(desc))
    else:
        print(format_text(desc))
    return 0


def cmd_bench(args) -> int:
    if args.what == "primitives":
        from .bench import primitives
        return primitives.main(args)
    if args.what == "prover":
        from .bench import prover
        return prover.main(args)
    raise UsageError(f"unknown benchmark {args.what!r}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snarkgpt", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    bench = sub.add_parser("bench", help="benchmarks (medians of several runs)")
    bench.add_argument("what", choices=["primitives", "prover"])
    bench.add_argument("--k", type=int, default=16, help="rows 2^k (bench prover)")
    bench.add_argument("--json", action="store_true", help="one JSON object on the last line")
    bench.set_defaults(func=cmd_bench)

    insp = sub.add_parser("inspect", help="print a circuit's columns, gates, lookups and regions")
    insp.add_argument("--circuit", default="fibonacci",
                      help=f"an example ({', '.join(EXAMPLES)}) or module:attribute")
    insp.add_argument("--k", type=int, default=None, help="rows 2^k (default: the smallest that fits)")
    insp.add_argument("--json", action="store_true")
    insp.set_defaults(func=cmd_inspect)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as e:
        print(f"snarkgpt: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
