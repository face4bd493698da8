"""``conv1d.functional.conv1d(..., out=buf)``: the result written into a caller's buffer.

Every algorithm gives exactly the no-``out`` result (bit for bit: ``out`` only changes where
the result lands), on the first call (validation, plan built) and on the repeated one (the
plan's fast path); every refused ``out`` leaves the buffer unchanged; the native kernels
write straight into ``out`` without an output-sized temporary.
"""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from conv1d import functional as F
from conv1d import plan
from conv1d.algorithms import ALGORITHMS

# (input shape, weight shape, keyword arguments); shapes in channels-first order.
CASES = {
    "zeros": ((2, 4, 37), (6, 4, 5), dict(padding=2)),
    "reflect": ((2, 4, 37), (6, 4, 5), dict(padding=(3, 1), padding_mode="reflect")),
    "stride_dilation_groups": ((3, 6, 50), (9, 2, 3), dict(stride=2, dilation=3, groups=3,
                                                           padding=4)),
    "depthwise": ((2, 8, 41), (8, 1, 4), dict(groups=8, padding="causal")),
    "pointwise": ((2, 5, 30), (7, 5, 1), {}),
}
ALGOS = sorted(ALGORITHMS)


def operands(case: str, dtype, bias: bool, seed: int = 0):
    xs, ws, kw = CASES[case]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b, kw


def run_both(x, w, b, kw, **more):
    """The no-``out`` result, and ``out`` (NaN-filled first) after the same call into it."""
    y = F.conv1d(x, w, b, **kw, **more)
    out = np.full(y.shape, np.nan, y.dtype)
    got = F.conv1d(x, w, b, **kw, **more, out=out)
    assert got is out
    return y, out


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equal_to_fresh_output(algorithm, case, layout, dtype):
    x, w, b, kw = operands(case, dtype, bias=True)
    if layout == "channels_last":
        x = np.ascontiguousarray(x.transpose(0, 2, 1))
    for fresh_plans in (True, False):  # the validating first call, then the plan's fast path
        if fresh_plans:
            plan.clear()
        y, out = run_both(x, w, b, kw, algorithm=algorithm, data_format=layout)
        np.testing.assert_array_equal(out, y, strict=True)
        assert out.flags.c_contiguous


@pytest.mark.parametrize("algorithm", ALGOS)
@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_unbatched(algorithm, layout):
    x, w, b, kw = operands("stride_dilation_groups", np.float32, bias=False)
    x2 = x[0] if layout == "channels_first" else np.ascontiguousarray(x[0].T)
    y, out = run_both(x2, w, b, kw, algorithm=algorithm, data_format=layout)
    assert out.ndim == 2
    np.testing.assert_array_equal(out, y, strict=True)
    # a wrong, batched out for an unbatched call is refused
    with pytest.raises(ValueError, match=r"out must have the result's shape"):
        F.conv1d(x2, w, b, **kw, algorithm=algorithm, data_format=layout, out=out[None])


def test_unplanned_input():
    """A list input takes the path without plans: the result is copied into ``out``."""
    x, w, b, kw = operands("reflect", np.float64, bias=True)
    y, out = run_both(x.tolist(), w, b, kw)
    np.testing.assert_array_equal(out, y, strict=True)


@pytest.mark.parametrize("layout", ["channels_first", "channels_last"])
def test_half_precision(layout):
    x, w, b, kw = operands("zeros", np.float16, bias=True)
    if layout == "channels_last":
        x = x.transpose(0, 2, 1)
    y, out = run_both(x, w, b, kw, data_format=layout)
    assert out.dtype == np.float16
    np.testing.assert_array_equal(out, y, strict=True)


def test_promoted_dtype_is_required():
    """float32 input with a float64 weight gives float64: out must be float64."""
    x, w, _, kw = operands("zeros", np.float32, bias=False)
    w64 = w.astype(np.float64)
    y, out = run_both(x, w64, None, kw)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, y, strict=True)
    with pytest.raises(ValueError, match=r"out must have the result's dtype float64 "
                                         r"\(no casting\), got float32"):
        F.conv1d(x, w64, None, **kw, out=np.zeros(y.shape, np.float32))


def bad_outs():
    """(name, make(x, w, b, y) -> (out, operands to call with), exception, message)."""
    return {
        "list": (lambda x, w, b, y: (y.tolist(), (x, w, b)), TypeError,
                 r"out must be a numpy.ndarray, got list"),
        "shape": (lambda x, w, b, y: (np.zeros((*y.shape[:-1], y.shape[-1] + 1), y.dtype),
                                      (x, w, b)), ValueError,
                  r"out must have the result's shape \(2, 6, 37\), got \(2, 6, 38\)"),
        "dtype": (lambda x, w, b, y: (np.zeros(y.shape, np.float64), (x, w, b)), ValueError,
                  r"out must have the result's dtype float32 \(no casting\), got float64"),
        "fortran": (lambda x, w, b, y: (np.zeros(y.shape, y.dtype, order="F"), (x, w, b)),
                    ValueError, r"out must be C-contiguous in the result's layout"),
        "strided": (lambda x, w, b, y: (np.zeros((*y.shape[:-1], 2 * y.shape[-1]),
                                                 y.dtype)[..., ::2], (x, w, b)),
                    ValueError, r"out must be C-contiguous"),
        "read_only": (lambda x, w, b, y: (read_only(np.zeros(y.shape, y.dtype)), (x, w, b)),
                      ValueError, r"out must be writeable"),
        "is_input": (lambda x, w, b, y: (x, (x, w, b)), ValueError,
                     r"out must not share memory with input, weight or bias"),
        "overlaps_weight": (overlapping_weight, ValueError, r"out must not share memory"),
        "overlaps_bias": (overlapping_bias, ValueError, r"out must not share memory"),
    }


def read_only(a):
    a.flags.writeable = False
    return a


def overlapping_weight(x, w, b, y):
    out = np.zeros(y.shape, y.dtype)
    w2 = out.reshape(-1)[: w.size].reshape(w.shape)  # the weight lives inside out
    w2[...] = w
    return out, (x, w2, b)


def overlapping_bias(x, w, b, y):
    out = np.zeros(y.shape, y.dtype)
    b2 = out[1, 2, 3 : 3 + b.size]
    b2[...] = b
    return out, (x, w, b2)


@pytest.mark.parametrize("warm", [False, True], ids=["first_call", "planned"])
@pytest.mark.parametrize("algorithm", ["native", "gemm"])
@pytest.mark.parametrize("bad", sorted(bad_outs()))
def test_refused_out_is_unchanged(bad, algorithm, warm):
    if algorithm not in ALGORITHMS:
        pytest.skip(f"{algorithm} not registered")
    make, exc, message = bad_outs()[bad]
    x, w, b, _ = operands("zeros", np.float32, bias=True)
    kw = dict(padding=2, algorithm=algorithm)  # same length out: out may alias the input
    w = w[:4]  # 4 -> 4 channels, so that out can be the input itself
    b = b[:4]
    y = F.conv1d(x, w, b, **kw)
    assert y.shape == x.shape == (2, 4, 37)
    if bad == "shape":
        y = np.zeros((2, 6, 37), np.float32)  # the message names this shape
        w, b = np.ones((6, 4, 5), np.float32), np.ones(6, np.float32)
    plan.clear()
    out, (xi, wi, bi) = make(x, w, b, y)
    if warm:  # the signature's plan exists: the fast path must refuse it too
        F.conv1d(xi, wi, bi, **kw)
    before = np.array(out, copy=True)
    plans = len(plan.FUNCTIONAL_PLANS)
    with pytest.raises(exc, match=message):
        F.conv1d(xi, wi, bi, **kw, out=out)
    np.testing.assert_array_equal(np.asarray(out), before, strict=True)
    assert len(plan.FUNCTIONAL_PLANS) == plans  # a refused first call builds no plan


def test_dask_input_refuses_out():
    da = pytest.importorskip("dask.array")
    x = da.from_array(np.ones((2, 3, 20), np.float32), chunks=(1, 3, 20))
    out = np.zeros((2, 4, 18), np.float32)
    with pytest.raises(TypeError, match=r"out cannot be used with a dask input"):
        F.conv1d(x, np.ones((4, 3, 3), np.float32), out=out)
    assert not out.any()


def test_out_is_not_in_the_plan_key():
    x, w, b, kw = operands("zeros", np.float32, bias=True)
    plan.clear()
    y = F.conv1d(x, w, b, **kw)
    out = np.empty_like(y)
    F.conv1d(x, w, b, **kw, out=out)
    F.conv1d(x, w, b, **kw, out=np.empty_like(y))
    assert len(plan.FUNCTIONAL_PLANS) == 1


@pytest.mark.skipif("native" not in ALGORITHMS, reason="native kernels not built")
@pytest.mark.parametrize("unbatched", [False, True])
def test_native_writes_in_place(unbatched, monkeypatch):
    """No output-sized array is allocated: the kernels get ``out``'s memory itself."""
    from conv1d.algorithms import native

    n = 1 if unbatched else 2
    x = np.random.default_rng(1).standard_normal((n, 16, 20000)).astype(np.float32)
    w = np.random.default_rng(2).standard_normal((64, 16, 5)).astype(np.float32)
    x = x[0] if unbatched else x
    y = F.conv1d(x, w, padding=2, algorithm="native")  # builds the plan
    out = np.empty_like(y)
    seen = []
    real_run = native.run

    def spy(*args, **kwargs):
        result = real_run(*args, **kwargs)
        seen.append(np.shares_memory(result, out))
        return result

    monkeypatch.setattr(native, "run", spy)
    tracemalloc.start()
    try:
        F.conv1d(x, w, padding=2, algorithm="native", out=out)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seen == [True]  # the kernels' result is out's memory
    assert peak < out.nbytes // 4, (peak, out.nbytes)
    np.testing.assert_array_equal(out, y, strict=True)
    # without out the same call allocates the output (the measurement sees a fresh one)
    tracemalloc.start()
    try:
        F.conv1d(x, w, padding=2, algorithm="native")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak >= out.nbytes
