"""The ``conv1d`` command, run as a user runs it: a subprocess, read from its output."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import conv1d

SRC = str(Path(conv1d.__file__).parent.parent)

#: Run the command line with matplotlib made unimportable (``sys.modules[name] = None`` makes
#: ``import name`` raise ImportError), as on an install without the ``plot`` extra.
NO_MATPLOTLIB = (
    "import sys; sys.modules['matplotlib'] = None; from conv1d.cli import main; "
    "raise SystemExit(main(sys.argv[1:]))"
)


def conv1d_command(*args: str, block_matplotlib: bool = False) -> subprocess.CompletedProcess:
    """``conv1d ARGS`` in a fresh interpreter on this checkout's source."""
    env = {**os.environ, "PYTHONPATH": SRC}
    head = ["-c", NO_MATPLOTLIB] if block_matplotlib else ["-m", "conv1d.cli"]
    return subprocess.run([sys.executable, *head, *args], capture_output=True, text=True,
                          env=env, timeout=300)


def test_version_is_the_package_version():
    r = conv1d_command("--version")
    assert r.returncode == 0
    assert r.stdout.strip() == f"conv1d {conv1d.__version__}"
    assert re.fullmatch(r"\d+\.\d+\.\d+\S*", conv1d.__version__)


@pytest.mark.parametrize("args", [["--help"], ["demo", "--help"]])
def test_help_is_plain_words(args):
    r = conv1d_command(*args)
    assert r.returncode == 0
    assert "usage: conv1d" in r.stdout
    for markup in ("``", ":func:", ":class:", ":mod:", ".. "):  # reStructuredText
        assert markup not in r.stdout, markup


def test_help_lists_every_command():
    out = conv1d_command("--help").stdout
    assert "demo" in out and "bench" in out and "--version" in out


def test_no_command_prints_help_and_fails():
    r = conv1d_command()
    assert r.returncode == 2 and "usage: conv1d" in r.stdout


def test_unknown_command_names_the_choices():
    r = conv1d_command("nonsense")
    assert r.returncode == 2
    assert "invalid choice: 'nonsense'" in r.stderr and "demo" in r.stderr
    assert "Traceback" not in r.stderr


def test_demo_without_matplotlib_says_so_first_and_trains(tmp_path):
    out = tmp_path / "demo.png"
    r = conv1d_command("demo", "--epochs", "1", "--output", str(out), block_matplotlib=True)
    assert r.returncode == 0, r.stderr
    note = [line for line in r.stderr.splitlines() if "matplotlib" in line]
    assert len(note) == 1 and "pip install 'conv1d[plot]'" in note[0]
    # The note comes before any work: before the progress bar's first line.
    assert r.stderr.index(note[0]) < r.stderr.index("training")
    assert "final held-out accuracy" in r.stdout
    assert not out.exists()


def test_demo_with_matplotlib_refuses_an_unwritable_path_at_once(tmp_path):
    pytest.importorskip("matplotlib")
    r = conv1d_command("demo", "--output", str(tmp_path / "missing" / "demo.png"))
    assert r.returncode == 2
    assert "does not exist" in r.stderr and "training" not in r.stderr


def test_bad_epochs_is_a_usage_error():
    r = conv1d_command("demo", "--epochs", "0")
    assert r.returncode == 2 and "--epochs must be positive, got 0" in r.stderr


def test_version_has_one_source():
    """pyproject.toml reads the version from ``conv1d.__version__`` instead of repeating it."""
    tomllib = pytest.importorskip("tomllib")  # Python >= 3.11
    project = tomllib.loads((Path(__file__).resolve().parents[1] / "pyproject.toml").read_text())
    assert "version" not in project["project"] and "version" in project["project"]["dynamic"]
    attr = project["tool"]["setuptools"]["dynamic"]["version"]["attr"]
    assert attr == "conv1d.__version__"
