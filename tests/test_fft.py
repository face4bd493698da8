"""The FFT algorithm: long kernels against PyTorch and the reference, accuracy, blocks, memory."""

import tracemalloc

import numpy as np
import pytest
import scipy.fft
import torch
import torch.nn.functional as TF

from conv1d.algorithms import ALGORITHMS, Problem, choose, fft, get_algorithm
from tests.oracle import check

# Reduced versions of the benchmark's long-kernel cases (same structure: depthwise with a kernel
# spanning most of the signal, and dense with few channels), plus stride, dilation, multiplier.
LONG = {
    "long_depthwise": dict(n=2, c_in=8, c_out=8, k=255, length=2048, padding=127, groups=8),
    "long_dense": dict(n=2, c_in=4, c_out=4, k=129, length=4096, padding=64, groups=1),
    "strided_dilated": dict(n=2, c_in=6, c_out=4, k=65, length=3000, padding=7, groups=2,
                            stride=3, dilation=2),
    "multiplier": dict(n=1, c_in=4, c_out=8, k=100, length=1500, padding=0, groups=4, stride=2),
}


def make(case, dtype, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((case["n"], case["c_in"], case["length"])).astype(dtype)
    w = rng.standard_normal((case["c_out"], case["c_in"] // case["groups"], case["k"])).astype(dtype)
    conv = dict(padding=case["padding"], groups=case["groups"], stride=case.get("stride", 1),
                dilation=case.get("dilation", 1))
    return x, w, conv


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("name", list(LONG))
def test_long_kernels_match_torch(name, dtype):
    x, w, conv = make(LONG[name], dtype)
    check(x, w, np.ones(w.shape[0], dtype), algorithm="fft", **conv)


def _three(algo, x, w, gy, conv):
    """Forward, grad_input, grad_weight of one algorithm on a pre-padded signal."""
    s, d, g = conv["stride"], conv["dilation"], conv["groups"]
    return (algo.forward(x, w, s, d, g), algo.grad_input(gy, w, x.shape[-1], s, d, g),
            algo.grad_weight(gy, x, w.shape[-1], s, d, g))


def _torch_three(x, w, gy, conv):
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    y = TF.conv1d(xt, wt, None, conv["stride"], 0, conv["dilation"], conv["groups"])
    y.backward(torch.from_numpy(gy))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("name", list(LONG))
def test_float32_error_at_most_4x_torch(name):
    """Max-abs error against a float64 reference: FFT's float32 within 4x of PyTorch's float32."""
    x, w, conv = make(LONG[name], np.float32, seed=1)
    x = np.pad(x, ((0, 0), (0, 0), (conv["padding"], conv["padding"])))
    lo = (x.shape[-1] - conv["dilation"] * (w.shape[-1] - 1) - 1) // conv["stride"] + 1
    gy = np.random.default_rng(2).standard_normal((x.shape[0], w.shape[0], lo)).astype(np.float32)
    exact = _three(ALGORITHMS["reference"], x.astype(np.float64), w.astype(np.float64),
                   gy.astype(np.float64), conv)
    ours = _three(ALGORITHMS["fft"], x, w, gy, conv)
    theirs = _torch_three(x, w, gy, conv)
    for what, e, a, t in zip(("output", "input", "weight"), exact, ours, theirs, strict=True):
        assert a.dtype == np.float32
        err, err_torch = np.abs(a - e).max(), np.abs(t - e).max()
        assert err <= 4 * err_torch, f"{what}: fft error {err:.3g}, torch {err_torch:.3g}"


@pytest.mark.parametrize("conv", [
    dict(stride=1, dilation=1, groups=1), dict(stride=2, dilation=3, groups=3),
    dict(stride=4, dilation=2, groups=1), dict(stride=3, dilation=1, groups=3),
])
def test_many_blocks_and_chunks_equal_reference(monkeypatch, conv):
    """Tiny chunks force every block-edge path: partial blocks, chunks inside a row, threads."""
    monkeypatch.setattr(fft, "CHUNK_BYTES", 3000)
    monkeypatch.setattr(fft, "MIN_FFT", 16)
    monkeypatch.setattr(fft, "_workers", lambda: 2)
    rng = np.random.default_rng(3)
    g = conv["groups"]
    x = rng.standard_normal((3, 2 * g, 500))[:, :, ::-1]  # non-contiguous view
    w = rng.standard_normal((3 * g, 2, 9))
    lo = (500 - conv["dilation"] * 8 - 1) // conv["stride"] + 1
    gy = rng.standard_normal((3, 3 * g, lo))
    ours = _three(ALGORITHMS["fft"], x, w, gy, conv)
    exact = _three(ALGORITHMS["reference"], x, w, gy, conv)
    for a, e in zip(ours, exact, strict=True):
        np.testing.assert_allclose(a, e, rtol=1e-10, atol=1e-10 * np.abs(e).max())


def test_empty_batch():
    x, w = np.zeros((0, 4, 50), np.float32), np.ones((2, 4, 20), np.float32)
    algo = ALGORITHMS["fft"]
    y = algo.forward(x, w, 1, 1, 1)
    assert y.shape == (0, 2, 31) and y.dtype == np.float32
    assert algo.grad_input(y, w, 50, 1, 1, 1).shape == (0, 4, 50)
    gw = algo.grad_weight(y, x, 20, 1, 1, 1)
    assert gw.shape == (2, 4, 20) and not gw.any()


def test_nan_stays_in_its_receptive_field_across_blocks(monkeypatch):
    """One NaN in a long signal: only the outputs (and gradients) that read it are NaN."""
    monkeypatch.setattr(fft, "MIN_FFT", 128)  # several blocks
    rng = np.random.default_rng(4)
    x = rng.standard_normal((2, 2, 3000))
    w = rng.standard_normal((2, 1, 101))
    x[1, 0, 1234] = np.nan
    x[0, 1, 2999] = np.inf
    y = fft.forward(x, w, 2, 1, 2)
    gy = rng.standard_normal(y.shape)
    gy[0, 0, 700] = np.nan
    for a, e in zip(_three(ALGORITHMS["fft"], x, w, gy, dict(stride=2, dilation=1, groups=2)),
                    _three(ALGORITHMS["reference"], x, w, gy, dict(stride=2, dilation=1, groups=2)),
                    strict=True):
        np.testing.assert_array_equal(np.isfinite(a), np.isfinite(e))
        ok = np.isfinite(e)
        np.testing.assert_allclose(a[ok], e[ok], rtol=1e-9, atol=1e-9)


def test_plan_blocks_fit_the_kernel():
    for span_m, out_len in [(0, 1), (2, 10), (1022, 16384), (512, 65536), (5000, 100)]:
        f, hop = fft.plan(span_m, out_len)
        assert hop == f - span_m >= 1
        assert scipy.fft.next_fast_len(f, real=True) == f
        assert f <= fft.MAX_FFT or f == scipy.fft.next_fast_len(span_m + 1, real=True)


def test_working_memory_is_bounded():
    """Extra memory of a long-depthwise call stays under max(64 MiB, the output's size)."""
    x, w, _ = make(dict(n=4, c_in=64, c_out=64, k=1023, length=16384 + 1022, padding=0,
                        groups=64), np.float32)
    y = fft.forward(x, w, 1, 1, 64)
    for call, out_bytes in [(lambda: fft.forward(x, w, 1, 1, 64), y.nbytes),
                            (lambda: fft.grad_input(y, w, x.shape[-1], 1, 1, 64), x.nbytes),
                            (lambda: fft.grad_weight(y, x, 1023, 1, 1, 64), w.nbytes)]:
        tracemalloc.start()
        try:
            call()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak - out_bytes <= max(64 << 20, out_bytes)


def test_too_large_a_kernel_spectrum_is_refused():
    problem = Problem(1, 512, 512, 1023, 4096)
    assert "spectrum" in fft.unsupported(problem)
    with pytest.raises(ValueError, match="cannot run this convolution"):
        get_algorithm("fft", problem)


BENCH_LONG = [Problem(4, 64, 64, 1023, 16384 + 1022, groups=64), Problem(2, 8, 8, 513, 65536 + 512)]
BENCH_SHORT = [Problem(20, 16, 33, 3, 50, stride=2), Problem(8, 512, 512, 4, 4096 + 6, groups=512),
               Problem(32, 128, 128, 7, 1000 + 6)]


def test_cost_model_prefers_fft_for_long_kernels_only():
    long, short = (np.array([fft.cost(p) / p.flops for p in ps]) for ps in (BENCH_LONG, BENCH_SHORT))
    assert long.max() < short.min()  # seconds per flop: FFT is cheap only when K is long
    others = [a for name, a in ALGORITHMS.items() if name not in ("auto", "fft", "reference")]
    if not others:
        pytest.skip("no other algorithm with a cost model is registered yet")
    assert all(choose(p) == "fft" for p in BENCH_LONG)
    assert all(choose(p) != "fft" for p in BENCH_SHORT)
