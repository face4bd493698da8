"""The native gradient kernels (``grad_input.c``, ``grad_weight.c``) on every instruction-set level.

tests/test_native.py runs the random oracle grid (forward and both gradients against PyTorch) on
every level; the cases here are chosen to reach each path of the two gradient kernels: channel
remainders of the register tiles, polyphase strides (interleaved, and one phase at a time past
8), positions no tap reaches, edge blocks that copy their gy window in blocks of output
channels, tap blocks of long kernels, the scalar paths (enormous dilation, non-finite weights),
partial vectors, work ranges and threads. Plus the float32 accuracy bound of issue 8.
"""

from __future__ import annotations

import numpy as np
import pytest

import conv1d
from conv1d import functional as F
from conv1d.algorithms import native, reference
from tests.oracle import check
from tests.test_algorithms import SUITE, _suite_case, _torch_all

LEVELS = native.available_levels() or ("none",)


@pytest.fixture(params=LEVELS)
def level(request):
    if request.param == "none":
        pytest.skip("native kernels not built")
    before = native.get_level()
    native.set_level(request.param)
    yield request.param
    native.set_level(before)


@pytest.mark.parametrize("case", list(SUITE))
def test_float32_gradient_error_within_1_5x_torch(level, case):
    """Max-abs error of both gradients against float64: at most 1.5x float32 PyTorch's."""
    x, w, kw = _suite_case(case)
    y = F.conv1d(x, w, **kw, algorithm="native")
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    g = F.conv1d_backward(gy, x, w, **kw, algorithm="native")
    exact = _torch_all(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), kw)
    theirs = _torch_all(x, w, gy, kw)
    for what, ours, ref, t32 in [("grad_input", g.input, exact[1], theirs[1]),
                                 ("grad_weight", g.weight, exact[2], theirs[2])]:
        floor = np.finfo(np.float32).eps * np.max(np.abs(ref))
        err, torch_err = np.max(np.abs(ours - ref)), max(np.max(np.abs(t32 - ref)), floor)
        assert err <= 1.5 * torch_err, (what, err, torch_err)


# name: (N, C_in, C_out, K, L, stride, (pad_left, pad_right), dilation, groups)
PATHS = {
    "channel_remainders": (2, 19, 21, 7, 203, 1, (3, 3), 1, 1),  # tiles of 8, 8, 2, 1 channels
    "few_channels": (3, 3, 32, 5, 100, 1, (2, 2), 1, 1),  # har_small-like: 2 + 1 channel tiles
    "stride_2": (2, 16, 24, 5, 131, 2, (2, 2), 1, 4),  # two interleaved phases
    "stride_5_dilated": (2, 1, 12, 10, 301, 5, (0, 4), 3, 1),  # wav2vec-like, gcd(s, d) = 1
    "stride_6_dilation_4": (2, 4, 6, 5, 150, 6, (7, 1), 4, 2),  # gcd 2: 3 phases with taps
    "stride_11": (2, 6, 6, 4, 180, 11, (5, 9), 3, 3),  # past 8 phases: one at a time
    "stride_beyond_span": (2, 4, 8, 2, 90, 7, (0, 0), 1, 1),  # samples no tap reaches
    "depthwise_multiplier": (2, 6, 18, 4, 257, 1, (3, 0), 1, 6),
    "depthwise_strided": (2, 8, 8, 3, 99, 3, (1, 1), 2, 8),
    "wide_edge_windows": (2, 5, 600, 9, 40, 1, (20, 20), 5, 1),  # gy window in channel blocks
    "pads_past_the_span": (1, 4, 4, 3, 10, 1, (9, 12), 1, 1),  # outputs reading only zeros
    "long_kernel": (1, 4, 6, 300, 700, 1, (150, 149), 1, 2),  # blocks of taps per partial
    "huge_dilation": (1, 3, 4, 3, 20010, 1, (2, 1), 10000, 1),  # scalar paths (no strip fits)
    "pointwise_strided": (2, 8, 16, 1, 77, 3, (0, 0), 1, 1),
    "rows_of_2_kib": (2, 16, 40, 3, 512, 1, (1, 1), 1, 1),  # gy rows copied (L1 set aliasing)
    "pointwise_2_kib": (1, 24, 80, 1, 1024, 1, (0, 0), 1, 1),
    # grad_weight_dense (>= a vector of output channels per group, >= 32 columns):
    "dense_gw_grouped_strided": (2, 32, 64, 5, 300, 2, (2, 1), 1, 2),
    "dense_gw_dilated_blocks": (1, 12, 40, 9, 500, 1, (8, 8), 2, 1),  # 40 = 2 vectors + 8
    "dense_gw_stride_3": (3, 8, 50, 4, 1000, 3, (0, 3), 1, 1),  # 3 blocks of positions
}


@pytest.mark.parametrize("name", list(PATHS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernel_paths_against_torch(level, name, dtype):
    n, cin, cout, k, length, stride, padding, dilation, groups = PATHS[name]
    rng = np.random.default_rng(len(name))
    x = rng.standard_normal((n, cin, length)).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype)
    check(x, w, b, algorithm="native", stride=stride, padding=padding, dilation=dilation,
          groups=groups)


@pytest.mark.parametrize("length", [1, 2, 15, 16, 17, 31, 47, 48, 49, 95, 97, 1023, 1025])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_partial_vectors_and_blocks(level, length, dtype):
    """Lengths around the vector, tile and block sizes of every level (4 to 16 lanes)."""
    rng = np.random.default_rng(length)
    x = rng.standard_normal((2, 9, length)).astype(dtype)
    w = rng.standard_normal((12, 9, 3)).astype(dtype)
    check(x, w, None, algorithm="native", padding=1)
    check(x, w[:, :3], None, algorithm="native", padding=(2, 0), stride=2, groups=3)


def _module(level):
    return native._LOADED[level]


def _dims(x, w, gy, stride, dilation, groups, pl):
    n, c_in, length = x.shape
    c_out, _, k = w.shape
    return (n, c_in, length, c_out, k, gy.shape[-1], stride, dilation, groups, pl)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_work_ranges_write_their_part_only(level, dtype):
    """grad_input writes exactly its work items' rows, grad_weight the rows [o0, o1)."""
    rng = np.random.default_rng(5)
    s, d, g, pl, pr = 2, 2, 2, 3, 1
    x = rng.standard_normal((5, 6, 61)).astype(dtype)
    w = rng.standard_normal((8, 3, 4)).astype(dtype)
    lo = (61 + pl + pr - d * 3 - 1) // s + 1
    gy = rng.standard_normal((5, 8, lo)).astype(dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pl, pr)))
    gx_ref = reference.grad_input(gy, w, xp.shape[-1], s, d, g)[..., pl:pl + 61]
    gw_ref = reference.grad_weight(gy, xp, 4, s, d, g)
    tol = 1e-4 if dtype == np.float32 else 1e-12
    mod, dims = _module(level), _dims(x, w, gy, s, d, g, pl)
    # grad_input's work items: (sample, group, block of channels), here one block per group
    cb = min(3, mod.GRAD_INPUT_BLOCK)
    wp = np.empty((g, -(-3 // cb), 4, 4, cb), dtype)
    mod.grad_input_pack(wp, w, 8, 3, 4, g, 0, g * wp.shape[1])
    gx = np.full(x.shape, np.nan, dtype)
    assert mod.grad_input(gx, gy, wp, None, *dims, 1, 3, 6)  # sample 1 group 1, sample 2
    mine = np.zeros(x.shape, bool)
    mine[1, 3:], mine[2] = True, True
    assert np.isnan(gx[~mine]).all()
    np.testing.assert_allclose(gx[mine], gx_ref[mine], rtol=0, atol=tol)
    gw = np.full(w.shape, np.nan, dtype)
    assert mod.grad_weight(gw, gy, x, *dims, pr, 3, 6)  # rows 3..5: across the two groups
    assert np.isnan(gw[:3]).all() and np.isnan(gw[6:]).all()
    np.testing.assert_allclose(gw[3:6], gw_ref[3:6], rtol=0, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_weight_lands_where_the_reference_puts_it(level, dtype):
    """A NaN/Inf weight tap meeting only zero padding makes no NaN in grad_input (no product)."""
    rng = np.random.default_rng(6)
    x = rng.standard_normal((2, 4, 40)).astype(dtype)
    w = rng.standard_normal((6, 2, 5)).astype(dtype)
    w[1, 0, 4], w[4, 1, 0] = np.nan, np.inf
    kw = dict(stride=2, padding=(6, 3), dilation=2, groups=2)
    y = F.conv1d(x, w, None, **kw, algorithm="reference")
    gy = rng.standard_normal(y.shape).astype(dtype)
    with np.errstate(all="ignore"):
        ours = F.conv1d_backward(gy, x, w, None, **kw, algorithm="native")
        ref = F.conv1d_backward(gy, x, w, None, **kw, algorithm="reference")
    np.testing.assert_array_equal(np.isfinite(ours.input), np.isfinite(ref.input))
    np.testing.assert_array_equal(np.isfinite(ours.weight), np.isfinite(ref.weight))
    assert not np.isfinite(ours.input).all()
    ok = np.isfinite(ref.input)
    np.testing.assert_allclose(ours.input[ok], ref.input[ok], rtol=1e-4, atol=1e-4)


@pytest.fixture
def restore_threads():
    before = conv1d.get_num_threads()
    yield
    conv1d.set_num_threads(before)


@pytest.mark.parametrize("groups", [1, 4])
def test_threads_split_without_changing_a_bit(level, groups, restore_threads):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((5, 32, 1500)).astype(np.float32)
    w = rng.standard_normal((64, 32 // groups, 5)).astype(np.float32)
    gy = rng.standard_normal((5, 64, 1500)).astype(np.float32)
    kw = dict(padding=2, groups=groups)
    results = []
    for threads in (1, 2, 3):
        conv1d.set_num_threads(threads)
        results.append(F.conv1d_backward(gy, x, w, None, **kw, algorithm="native"))
    for other in results[1:]:
        np.testing.assert_array_equal(other.input, results[0].input)
        np.testing.assert_array_equal(other.weight, results[0].weight)


def test_one_sample_splits_over_channel_blocks_without_changing_a_bit(level, restore_threads):
    """Batch 1: grad_input's work items are channel blocks, so threads share one sample."""
    rng = np.random.default_rng(8)
    x = rng.standard_normal((1, 40, 3000)).astype(np.float32)  # 40 channels: a partial block
    w = rng.standard_normal((64, 40, 4)).astype(np.float32)
    gy = rng.standard_normal((1, 64, 1499)).astype(np.float32)
    results = []
    for threads in (1, 2, 3):
        conv1d.set_num_threads(threads)
        results.append(native.grad_input(gy, w, 3000, 2, 1, 1, 1, 0))
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])
    xp = np.pad(x, ((0, 0), (0, 0), (1, 0)))
    ref = reference.grad_input(gy.astype(np.float64), w.astype(np.float64), xp.shape[-1], 2, 1,
                               1)[..., 1:]
    np.testing.assert_allclose(results[0], ref, rtol=0, atol=1e-3)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("stride", [1, 2, 3, 8, 11])
def test_bias_is_added_once_on_every_position(level, dtype, stride):
    """grad_input's bias (a transposed convolution's): equal to adding it afterwards, exactly,
    including positions no product reaches (before the first tap, and past the last)."""
    rng = np.random.default_rng(9)
    gy = rng.standard_normal((2, 6, 20)).astype(dtype)
    w = rng.standard_normal((6, 5, 3)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)
    length = 20 * stride + 7  # positions past the last tap's reach
    lo = (length + 4 - 2 - 1) // stride + 1
    gy = gy[..., :lo] if lo <= 20 else np.pad(gy, ((0, 0), (0, 0), (0, lo - 20)))
    gy = np.ascontiguousarray(gy)
    plain = native.grad_input(gy, w, length, stride, 1, 1, 4, 0)
    fused = native.grad_input(gy, w, length, stride, 1, 1, 4, 0, bias=b)
    np.testing.assert_array_equal(fused, plain + b[:, None])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dense_weight_gradient_writes_its_rows_only(level, dtype):
    """grad_weight_dense's rows [o0, o1), across a group boundary and partial vectors."""
    rng = np.random.default_rng(10)
    s, d, g, pl, pr = 2, 1, 2, 2, 1
    x = rng.standard_normal((3, 20, 150)).astype(dtype)
    w = rng.standard_normal((80, 10, 5)).astype(dtype)
    lo = (150 + pl + pr - d * 4 - 1) // s + 1
    gy = rng.standard_normal((3, 80, lo)).astype(dtype)
    xp = np.pad(x, ((0, 0), (0, 0), (pl, pr)))
    ref = reference.grad_weight(gy.astype(np.float64), xp.astype(np.float64), 5, s, d, g)
    mod, dims = _module(level), _dims(x, w, gy, s, d, g, pl)
    gw = np.full(w.shape, np.nan, dtype)
    mod.grad_weight_dense(gw, gy, x, *dims, 5, 57)  # 35 rows of group 0, 17 of group 1
    assert np.isnan(gw[:5]).all() and np.isnan(gw[57:]).all()
    tol = 1e-4 if dtype == np.float32 else 1e-11
    np.testing.assert_allclose(gw[5:57], ref[5:57], rtol=0, atol=tol)
