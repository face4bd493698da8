"""The ``conv1d`` console command: ``conv1d demo`` and ``conv1d bench``."""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "demo": ("conv1d.demo", "run the seed example and train a small classifier"),
    "bench": ("conv1d.bench", "benchmark against PyTorch's CPU conv1d, write BENCHMARKS.md"),
}


def main(argv: list[str] | None = None) -> int:
    """Dispatch ``conv1d COMMAND [options]`` to ``COMMAND``'s module ``main(argv)``."""
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(prog="conv1d", description=__doc__)
    parser.add_argument("command", choices=sorted(COMMANDS),
                        help="; ".join(f"{k}: {v[1]}" for k, v in COMMANDS.items()))
    if not argv or argv[0] in ("-h", "--help"):
        parser.print_help()
        return 0 if argv else 2
    args = parser.parse_args(argv[:1])
    module = importlib.import_module(COMMANDS[args.command][0])
    try:
        return int(module.main(argv[1:]) or 0)
    except KeyboardInterrupt:
        print("conv1d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
