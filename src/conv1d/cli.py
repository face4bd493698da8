"""The ``conv1d`` console command: ``conv1d demo``, ``conv1d bench`` and ``conv1d --version``.

Each command lives in its own module with a ``main(argv) -> int``; this one only dispatches,
so ``conv1d --help`` and ``conv1d --version`` import neither the demo nor the benchmarks.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from . import __version__

#: ``name -> (module, one-line help)``: ``conv1d NAME ...`` runs ``module.main([...])``.
COMMANDS = {
    "demo": ("conv1d.demo", "run the seed example, then train a small classifier and plot it"),
    "bench": ("conv1d.bench", "time conv1d against PyTorch's CPU conv1d and write BENCHMARKS.md"),
}

DESCRIPTION = "PyTorch's Conv1d layer on NumPy arrays: a demo and benchmarks."
EPILOG = "Run 'conv1d COMMAND --help' for a command's options."


def parser() -> argparse.ArgumentParser:
    """The top-level parser: the command's name, ``--help`` and ``--version``.

    Examples
    --------
    >>> print(parser().format_usage().strip())
    usage: conv1d [-h] [--version] COMMAND ...
    """
    p = argparse.ArgumentParser(prog="conv1d", description=DESCRIPTION, epilog=EPILOG)
    p.add_argument("--version", action="version", version=f"conv1d {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, (_, text) in COMMANDS.items():
        # add_help=False: the command's own parser answers 'conv1d NAME --help'.
        sub.add_parser(name, help=text, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    """Run ``conv1d COMMAND [options]``; return the exit status.

    With no command, print the help and return 2 (a usage error, as argparse's). ``--help``
    and ``--version`` print and return 0; an unknown command prints the choices and returns 2.

    Examples
    --------
    >>> main(["--version"])  # doctest: +ELLIPSIS
    conv1d ...
    0
    """
    argv = sys.argv[1:] if argv is None else list(argv)
    p = parser()
    if not argv:
        p.print_help()
        return 2
    if argv[0] not in COMMANDS:
        try:
            p.parse_args(argv[:1])  # --help, --version, or an error naming the choices
        except SystemExit as e:  # argparse has printed what it had to say
            return e.code if isinstance(e.code, int) else 2
        return 2
    module = importlib.import_module(COMMANDS[argv[0]][0])
    try:
        return int(module.main(argv[1:]) or 0)
    except KeyboardInterrupt:
        print("conv1d: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
