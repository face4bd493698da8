"""``benchmarks/calibrate.py`` covers every constant of every cost model, and runs."""

from __future__ import annotations

import ast
import importlib.util
import inspect
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import conv1d
from conv1d.algorithms import ALGORITHMS, Problem

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "calibrate.py"


@pytest.fixture(scope="module")
def calibrate():
    spec = importlib.util.spec_from_file_location("calibrate", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["calibrate"] = module  # dataclasses look their module up there
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        del sys.modules["calibrate"]


def cost_constants() -> set[tuple[str, str]]:
    """``(module, NAME)`` of each module-level UPPER_CASE number a registered ``cost`` reads."""
    found = set()
    for algo in ALGORITHMS.values():
        fn = algo.cost
        if fn.__name__ == "<lambda>":  # the default: no model
            continue
        module = sys.modules[fn.__module__]
        tree = ast.parse(textwrap.dedent(inspect.getsource(fn)))
        for node in ast.walk(tree):
            if (isinstance(node, ast.Name) and node.id.isupper()
                    and isinstance(getattr(module, node.id, None), (int, float))):
                found.add((fn.__module__, node.id))
    return found


def test_every_cost_constant_is_calibrated(calibrate):
    constants = cost_constants()
    assert ("conv1d.algorithms.gemm", "GEMM_FLOPS") in constants  # the scan sees them
    registered = {(c.module, c.name) for c in calibrate.CONSTANTS}
    assert constants - registered == set()


def test_every_cost_constant_comment_names_the_command():
    """Each constant's comment says how to re-measure it, inside the repository."""
    for module_name, name in cost_constants():
        source = inspect.getsource(sys.modules[module_name])
        lines = source.splitlines()
        at = next(i for i, line in enumerate(lines) if line.startswith(f"{name} ="))
        comment = []
        for line in reversed(lines[:at]):
            if not line.startswith("#"):
                break
            comment.append(line)
        block = " ".join(comment)
        assert "/work/" not in block and "scratch" not in block, (module_name, name)
        assert "benchmarks/calibrate.py" in source, module_name
    for path in Path(conv1d.__file__).parent.rglob("*.py"):
        assert "/work/scratch" not in path.read_text(encoding="utf-8"), path


def test_fit_inverts_the_model(calibrate):
    """A time the model predicts gives back the constant it was predicted with."""
    ctx = calibrate.Context(quick=True, measured={})
    from conv1d.algorithms import gemm

    before = gemm.CALL_OVERHEAD_S
    p = Problem(1, 4, 8, 3, 20)
    predicted = gemm.cost(p)
    assert calibrate.fit(ctx, "conv1d.algorithms.gemm", "CALL_OVERHEAD_S", p, predicted) == (
        pytest.approx(gemm.CALL_OVERHEAD_S))
    big = Problem(8, 128, 128, 7, 1006)
    assert calibrate.fit(ctx, "conv1d.algorithms.gemm", "GEMM_FLOPS", big, gemm.cost(big),
                         inverse=True) == pytest.approx(gemm.GEMM_FLOPS)
    assert gemm.CALL_OVERHEAD_S == before  # the module's constants are restored


def test_quick_run_prints_shipped_and_measured():
    env = {**os.environ, "PYTHONPATH": str(Path(conv1d.__file__).parents[1])}
    r = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--only", "FLOAT64_FACTOR"],
                       capture_output=True, text=True, env=env, timeout=300)
    assert r.returncode == 0, r.stderr
    rows = [line.split() for line in r.stdout.splitlines() if "FLOAT64_FACTOR" in line]
    from conv1d.algorithms import native

    assert len(rows) == 3 + native.AVAILABLE  # gemm, direct, fft (and native when built)
    for row in rows:
        shipped, measured = float(row[1]), float(row[2])
        assert shipped > 1 and 0 < measured < 20  # a time ratio (noisy on a busy machine)


def test_no_match_is_an_error():
    env = {**os.environ, "PYTHONPATH": str(Path(conv1d.__file__).parents[1])}
    r = subprocess.run([sys.executable, str(SCRIPT), "--only", "NO_SUCH_CONSTANT"],
                       capture_output=True, text=True, env=env, timeout=120)
    assert r.returncode == 2 and "no constant matches" in r.stderr
