"""What a user's type checker (mypy, pyright) sees of the module system (issue 12).

``m(x)`` has the type of ``m.forward(x)``, for our layers and for a user's own ``Module``;
``net[0].weight`` type-checks; ``m.stream()`` is a ``Stream``; NumPy input gives an
``ndarray`` and dask input a ``dask.array.Array``.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"

USER_CODE = textwrap.dedent("""
    import numpy as np
    import dask.array as da
    import conv1d
    from conv1d.functional_transpose import conv_transpose1d


    class Net(conv1d.Module):
        def __init__(self) -> None:
            self.conv = conv1d.Conv1d(2, 3, 5)

        def forward(self, x: np.ndarray, *, scale: float = 1.0) -> tuple[np.ndarray, float]:
            return self.conv(x), scale


    def check(x: np.ndarray, lazy: da.Array) -> None:
        net = conv1d.Sequential(conv1d.Conv1d(2, 3, 5), conv1d.ReLU())
        reveal_type(Net()(x, scale=2.0))  # R1
        reveal_type(net[:1])  # R2
        reveal_type(net.stream())  # R3
        reveal_type(conv1d.ConvTranspose1d(2, 3, 4)(x))  # R4
        reveal_type(conv1d.ConvTranspose1d(2, 3, 4)(lazy))  # R5
        reveal_type(conv_transpose1d(lazy, np.ones((2, 3, 4))))  # R6
        reveal_type(conv1d.Residual(net).stream())  # R7
        reveal_type(conv1d.Conv1d(2, 3, 5)(x))  # R8
        reveal_type(conv1d.Conv1d(2, 3, 5)(lazy))  # R9
        reveal_type(conv1d.functional.conv1d(x, np.ones((3, 2, 5))))  # R10
        reveal_type(conv1d.functional.conv1d(lazy, np.ones((3, 2, 5))))  # R11
        reveal_type(conv1d.Conv1d(2, 3, 5).stream())  # R12
        reveal_type(conv1d.functional.conv_transpose1d(lazy, np.ones((2, 3, 4))))  # R13
        reveal_type(conv1d.optim.lr_scheduler.StepLR(conv1d.optim.SGD(net.parameters()), 1))  # R14
        shape: tuple[int, ...] = net[0].weight.shape
        Net()(x, 3)  # E1: scale is keyword-only
""")

#: The marker comment of each revealed line, and what its type must contain.
EXPECTED = {
    "R1": "tuple[", "R2": "Sequential", "R3": "Stream", "R4": "ndarray", "R5": "Array",
    "R6": "Array", "R7": "ResidualStream", "R8": "ndarray", "R9": "Array", "R10": "ndarray",
    "R11": "Array", "R12": "ConvStream", "R13": "Array", "R14": "StepLR",
}


def _lines(code: str, marker: str) -> int:
    return next(i for i, line in enumerate(code.splitlines(), 1) if f"# {marker}" in line)


def _check(output: str, pattern: str) -> None:
    for marker, wanted in EXPECTED.items():
        line = _lines(USER_CODE, marker)
        found = [m.group(1) for m in re.finditer(pattern.format(line=line), output)]
        assert found and wanted in found[0], (marker, wanted, found, output)
    error_line = _lines(USER_CODE, "E1")
    errors = [ln for ln in output.splitlines() if "user.py:" in ln and " error" in ln]
    assert len(errors) == 1 and f":{error_line}:" in errors[0], output


@pytest.fixture()
def user_file(tmp_path: Path) -> Path:
    pytest.importorskip("dask.array")
    path = tmp_path / "user.py"
    path.write_text(USER_CODE)
    return path


def _run(command: list[str], cwd: Path) -> str:
    env = {**os.environ, "MYPYPATH": str(SRC), "PYTHONPATH": str(SRC)}
    r = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=env, timeout=600)
    return r.stdout + r.stderr


def test_mypy_sees_forward_types(user_file: Path):
    pytest.importorskip("mypy")
    out = _run([sys.executable, "-m", "mypy", "--no-incremental", "--follow-imports=silent",
                "--ignore-missing-imports", user_file.name], user_file.parent)
    _check(out, r'user\.py:{line}: note: Revealed type is "([^"]*)"')


def test_pyright_sees_forward_types(user_file: Path):
    if shutil.which("pyright") is None:
        pytest.skip("pyright is not installed (it is in the `test` extra)")
    out = _run(["pyright", "--pythonpath", sys.executable, user_file.name], user_file.parent)
    _check(out, r'user\.py:{line}:\d+ - information: Type of "[^\n]*" is "([^\n]*)"')
