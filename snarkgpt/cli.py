"""The `snarkgpt` command."""
import argparse
import sys


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="snarkgpt", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    bench = sub.add_parser("bench", help="benchmarks")
    bench.add_argument("what", choices=["primitives"])
    bench.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    if args.command == "bench":
        from .bench import primitives
        return primitives.main(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
