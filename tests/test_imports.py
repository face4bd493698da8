"""The package's imports: ``import conv1d`` stays lean, and its modules depend on each other as a tree.

The import graph is read from the source (``ast``), so it sees imports inside functions too:
a lazy import still makes one module depend on another. Imports under ``if TYPE_CHECKING:``
are left out (they never run). A subpackage (``algorithms/``, ``bench/``) counts as one node:
its ``__init__`` and its modules form one unit (the registry imports the algorithms that
build on its classes).
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from pathlib import Path

import pytest

import conv1d
from conv1d.algorithms.fft import next_fast_len

PACKAGE = Path(conv1d.__file__).parent


def run_python(code: str) -> str:
    """Run ``code`` in a fresh interpreter importing this checkout's conv1d; return its stdout."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_import_conv1d_imports_no_scipy_nor_optional_dependency():
    out = run_python(
        "import sys, conv1d\n"
        f"assert conv1d.__file__.startswith({str(PACKAGE)!r}), conv1d.__file__\n"
        "heavy = ('scipy', 'torch', 'dask', 'matplotlib', 'safetensors', 'ml_dtypes')\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & set(heavy)))"
    )
    assert out.strip() == "[]"


def test_the_cost_model_runs_without_scipy():
    """``"auto"`` plans every algorithm, FFT included, on each new shape: that must not need SciPy."""
    out = run_python(
        "import sys, numpy as np, conv1d\n"
        "conv1d.functional.conv1d(np.ones((1, 2, 50), np.float32), np.ones((3, 2, 3), np.float32))\n"
        "print('scipy' in sys.modules)"
    )
    assert out.strip() == "False"


def test_fft_imports_scipy_when_it_runs():
    out = run_python(
        "import sys, numpy as np, conv1d\n"
        "y = conv1d.functional.conv1d(np.ones((1, 1, 64)), np.ones((1, 1, 5)), algorithm='fft')\n"
        "print('scipy.fft' in sys.modules, float(y[0, 0, 0]))"
    )
    assert out.split() == ["True", "5.0"]


def test_next_fast_len_is_scipys():
    scipy_fft = pytest.importorskip("scipy.fft")
    targets = [*range(0, 3000), 4097, 65535, 65537, 3**11 + 1, 2**20 + 1, 10**7 + 3]
    ours = [next_fast_len(t) for t in targets]
    assert ours == [scipy_fft.next_fast_len(t, real=True) for t in targets]
    assert all(t <= f for t, f in zip(targets, ours, strict=True))


# ------------------------------------------------------------------------------ import graph


def _node(module: str, subpackages: set[str]) -> str:
    head = ".".join(module.split(".")[:2])
    return head if head in subpackages else module


def _type_checking_lines(tree: ast.Module) -> set[int]:
    """Line numbers inside ``if TYPE_CHECKING:`` blocks."""
    lines: set[int] = set()
    for n in ast.walk(tree):
        if isinstance(n, ast.If) and "TYPE_CHECKING" in ast.unparse(n.test):
            for stmt in n.body:
                lines.update(range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """``{module: modules of conv1d it imports}``, subpackages collapsed to one node each."""
    files = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    subpackages = {m for m, p in files.items() if p.name == "__init__.py" and m != "conv1d"}
    graph: dict[str, set[str]] = {_node(m, subpackages): set() for m in files}
    for module, path in files.items():
        package = module if path.name == "__init__.py" else module.rpartition(".")[0]
        tree = ast.parse(path.read_text(encoding="utf-8"))
        skip = _type_checking_lines(tree)
        for n in ast.walk(tree):
            if isinstance(n, ast.Import) and n.lineno not in skip:
                targets = [a.name for a in n.names]
            elif isinstance(n, ast.ImportFrom) and n.lineno not in skip:
                if n.level:
                    base = package.split(".")[: len(package.split(".")) - n.level + 1]
                    origin = ".".join([*base, *([n.module] if n.module else [])])
                else:
                    origin = n.module or ""
                targets = [f"{origin}.{a.name}" if f"{origin}.{a.name}" in files else origin
                           for a in n.names]
            else:
                continue
            for target in targets:
                while target and target not in files:  # a name inside a module: the module
                    target = target.rpartition(".")[0]
                if target:
                    graph[_node(module, subpackages)].add(_node(target, subpackages))
    for node, targets in graph.items():
        targets.discard(node)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one node (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_cycle_finder_finds_cycles():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_import_graph_is_read():
    graph = import_graph()
    assert "conv1d.algorithms.fft" not in graph  # collapsed into its subpackage
    assert {"conv1d.algorithms", "conv1d.padding", "conv1d.spec"} <= graph["conv1d.functional"]
    assert "conv1d.functional" in graph["conv1d.dask"]


@pytest.mark.parametrize(("low", "high"), [
    ("conv1d.functional", "conv1d.dask"),
    ("conv1d.algorithms", "conv1d.autotune"),
])
def test_a_module_never_imports_what_builds_on_it(low, high):
    graph = import_graph()
    assert low in graph[high]
    assert not any(low in c and high in c for c in cycles(graph)), cycles(graph)


# Where a module must reach one that builds on it (functional -> functional_transpose's
# re-export, functional_transpose -> dask_transpose, Module.stream -> graph_stream, optim ->
# lr_scheduler), the higher module fills a slot in the lower one when the package imports it.
def test_import_graph_is_a_tree():
    assert cycles(import_graph()) == []


def test_importtime_lists_no_scipy():
    """``python -X importtime -c "import conv1d"`` names no SciPy module (the issue's check)."""
    env = {**os.environ, "PYTHONPATH": str(PACKAGE.parent)}
    done = subprocess.run([sys.executable, "-X", "importtime", "-c", "import conv1d"],
                          capture_output=True, text=True, env=env, timeout=120)
    modules = [line.rsplit("|", 1)[-1].strip() for line in done.stderr.splitlines()]
    assert "conv1d" in modules
    assert not [m for m in modules if m.split(".")[0] == "scipy"]
