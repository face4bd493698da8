"""The benchmark suite as a script: ``python benchmarks/suite.py [options]``.

The same as ``conv1d bench`` (see ``conv1d.bench`` for the options); kept here so the suite
can be run from a checkout without installing the console script.
"""

from conv1d.bench import main

if __name__ == "__main__":
    raise SystemExit(main())
