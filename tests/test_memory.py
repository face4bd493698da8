"""Bounded memory: each algorithm's extra working memory per call is at most
max(64 MiB, the result's size), measured with tracemalloc (NumPy reports its array buffers to
it) on an input whose full im2col matrix would be 160 MiB.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from conv1d.algorithms import ALGORITHMS, FALLBACK, Problem, get_algorithm

MIB = 1 << 20
# One sample, 16 channels of 2**19 float32 samples (32 MiB), a 5-tap kernel to 2 outputs: the
# output (4 MiB), the weight gradient and the input gradient (32 MiB) are all below the 64 MiB
# floor, which is then the bound, while unchunked columns (5 x 32 MiB) would exceed it.
N, C_IN, C_OUT, K, LENGTH = 1, 16, 2, 5, 1 << 19


@pytest.fixture(scope="module")
def arrays():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((N, C_IN, LENGTH), dtype=np.float32)
    w = rng.standard_normal((C_OUT, C_IN, K), dtype=np.float32)
    lo = LENGTH - K + 1
    gy = rng.standard_normal((N, C_OUT, lo), dtype=np.float32)
    return x, w, gy


def _extra_memory(fn) -> tuple[int, int]:
    """Peak bytes allocated during ``fn()`` beyond what was live before, and the result's size."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        out = fn()
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    return peak - base - out.nbytes, out.nbytes


@pytest.mark.parametrize("which", ["forward", "grad_input", "grad_weight"])
@pytest.mark.parametrize("algorithm", [n for n in ALGORITHMS if n != FALLBACK])
def test_extra_memory_is_bounded(algorithm, which, arrays):
    x, w, gy = arrays
    problem = Problem.of(x, w, 1, 1, 1)
    if ALGORITHMS[algorithm].unsupported(problem) is not None:
        pytest.skip(ALGORITHMS[algorithm].unsupported(problem))
    algo = get_algorithm(algorithm, problem)
    run = {
        "forward": lambda: algo.forward(x, w, 1, 1, 1),
        "grad_input": lambda: algo.grad_input(gy, w, LENGTH, 1, 1, 1),
        "grad_weight": lambda: algo.grad_weight(gy, x, K, 1, 1, 1),
    }[which]
    extra, result = _extra_memory(run)
    assert extra <= max(64 * MIB, result), f"{extra / MIB:.1f} MiB extra for a {result / MIB:.1f} MiB result"
