"""Type checks: the package under mypy and pyright (settings in pyproject.toml), and what a
user's own type checker sees of the public API."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"


def run(command: list[str], cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "MYPYPATH": str(SRC), "PYTHONPATH": str(SRC)}
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("checker", [["mypy"], ["pyright"]])
def test_package_type_checks_clean(checker):
    if shutil.which(checker[0]) is None:
        pytest.skip(f"{checker[0]} is not installed (it is in the `test` extra)")
    r = run([sys.executable, "-m", "mypy"] if checker == ["mypy"] else checker, ROOT)
    assert r.returncode == 0, r.stdout[-5000:] + r.stderr[-2000:]


def test_user_code_sees_the_types_it_passes(tmp_path):
    """``conv1d.load`` returns the caller's own module type, not ``Module``."""
    pytest.importorskip("mypy")
    (tmp_path / "user.py").write_text(textwrap.dedent("""
        import conv1d

        def restore(path: str) -> conv1d.Conv1d:
            return conv1d.load(conv1d.Conv1d(2, 3, 5), path)

        reveal_type(conv1d.load(conv1d.Sequential(conv1d.ReLU()), "x"))
        reveal_type(conv1d.__version__)
    """))
    r = run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
             "user.py"], tmp_path)
    assert 'Revealed type is "conv1d.module.Sequential"' in r.stdout, r.stdout
    assert 'Revealed type is "str"' in r.stdout, r.stdout
    assert "Success: no issues found" in r.stdout, r.stdout
