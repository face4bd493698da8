"""Every registered algorithm: the guarantees beyond equality on the grid (test_against_torch).

NaN/Inf stay inside their receptive fields, float32 accuracy against a float64 reference is
within 4x PyTorch's, views are read as they are, the cost model never picks the reference when
a fast algorithm applies, and threads / autotune do what they say.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

import conv1d
from conv1d import functional as F
from conv1d import threads
from conv1d.algorithms import ALGORITHMS, FALLBACK, Problem, candidates, choose, get_algorithm
from conv1d.autotune import tuned
from conv1d.spec import ConvSpec
from tests.oracle import check

NAMES = list(ALGORITHMS)
FAST = [n for n in NAMES if n != FALLBACK]

# The benchmark suite (issue 3) at reduced sizes: N, C_in, C_out, K, L, stride, padding,
# dilation, groups, mode. Lengths and batches are cut so that the whole file stays fast; channel
# counts and kernels, which set the summation lengths and so the rounding error, are kept.
SUITE = {
    "seed_example": (20, 16, 33, 3, 50, 2, 0, 1, 1, "zeros"),
    "wavenet_dilated": (2, 64, 64, 3, 300, 1, 8, 8, 1, "zeros"),
    "resnet1d_ecg": (2, 128, 128, 7, 200, 1, 3, 1, 1, "zeros"),
    "depthwise_k4": (2, 512, 512, 4, 256, 1, 3, 1, 512, "zeros"),
    "pointwise": (2, 256, 512, 1, 128, 1, 0, 1, 1, "zeros"),
    "long_depthwise": (1, 64, 64, 1023, 1500, 1, 511, 1, 64, "zeros"),
    "long_dense": (1, 8, 8, 513, 2048, 1, 256, 1, 1, "zeros"),
    "wav2vec_stem": (1, 1, 512, 10, 2000, 5, 0, 1, 1, "zeros"),
    "har_small": (16, 3, 32, 5, 256, 1, 2, 1, 1, "zeros"),
    "reflect_pad": (2, 64, 64, 7, 512, 1, 3, 1, 1, "reflect"),
    "grouped_g8": (2, 256, 256, 5, 256, 2, 2, 1, 8, "zeros"),
}


def _suite_case(name, dtype=np.float32, seed=0):
    n, cin, cout, k, length, stride, padding, dilation, groups, mode = SUITE[name]
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, cin, length)).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, k)).astype(dtype)
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups, padding_mode=mode)
    return x, w, kw


def _problem(x, w, kw) -> Problem:
    spec = ConvSpec.from_args(x.shape[1], w.shape[0], w.shape[2], kw["stride"], kw["padding"],
                              kw["dilation"], kw["groups"], kw["padding_mode"])
    length = x.shape[-1] + spec.pad_left + spec.pad_right
    return Problem(x.shape[0], x.shape[1], w.shape[0], w.shape[2], length, spec.stride,
                   spec.dilation, spec.groups, x.dtype.name)


def _supported_or_skip(name, problem):
    reason = ALGORITHMS[name].unsupported(problem)
    if reason is not None:
        with pytest.raises(ValueError, match="cannot run"):
            get_algorithm(name, problem)
        pytest.skip(f"{name}: {reason}")


# ------------------------------------------------------------------------------- accuracy


def _torch_all(x, w, gy, kw):
    """PyTorch's output and gradients (input, weight) for float arrays of one dtype."""
    xt = torch.from_numpy(x).requires_grad_()
    wt = torch.from_numpy(w).requires_grad_()
    spec = ConvSpec.from_args(x.shape[1], w.shape[0], w.shape[2], kw["stride"], kw["padding"],
                              kw["dilation"], kw["groups"], kw["padding_mode"])
    mode = {"zeros": "constant"}.get(spec.padding_mode, spec.padding_mode)
    xp = torch.nn.functional.pad(xt, (spec.pad_left, spec.pad_right), mode)
    y = torch.nn.functional.conv1d(xp, wt, None, spec.stride, 0, spec.dilation, spec.groups)
    y.backward(torch.from_numpy(gy))
    return y.detach().numpy(), xt.grad.numpy(), wt.grad.numpy()


@pytest.mark.parametrize("case", list(SUITE))
@pytest.mark.parametrize("algorithm", NAMES)
def test_float32_error_within_4x_torch(algorithm, case):
    """Max-abs error against float64 PyTorch: at most 4x float32 PyTorch's on the same data."""
    x, w, kw = _suite_case(case)
    _supported_or_skip(algorithm, _problem(x, w, kw))
    y = F.conv1d(x, w, **kw, algorithm=algorithm)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(np.float32)
    g = F.conv1d_backward(gy, x, w, **kw, algorithm=algorithm)
    exact = _torch_all(x.astype(np.float64), w.astype(np.float64), gy.astype(np.float64), kw)
    torch32 = _torch_all(x, w, gy, kw)
    for what, ours, ref, theirs in zip(("output", "grad_input", "grad_weight"),
                                       (y, g.input, g.weight), exact, torch32, strict=True):
        err = np.max(np.abs(ours - ref))
        # The floor, one float32 ulp of the result's scale, only matters where PyTorch happens
        # to be exact (a 1-term sum): then "4x zero" would demand bit-equality.
        floor = np.finfo(np.float32).eps * np.max(np.abs(ref))
        assert err <= 4 * max(np.max(np.abs(theirs - ref)), floor), (what, err)


# --------------------------------------------------------------------------- NaN and Inf


@pytest.mark.parametrize("algorithm", NAMES)
@pytest.mark.parametrize("conf", [
    dict(stride=1, dilation=1, groups=1), dict(stride=2, dilation=3, groups=2),
    dict(stride=3, dilation=1, groups=4),
])
def test_non_finite_stays_in_its_receptive_field(algorithm, conf):
    rng = np.random.default_rng(5)
    n, cin, cout, k, length = 2, 4, 8, 3, 97
    x = rng.standard_normal((n, cin, length))
    w = rng.standard_normal((cout, cin // conf["groups"], k))
    x[0, 1, 40], x[1, 3, 7] = np.nan, np.inf
    p = Problem.of(x, w, **conf)
    _supported_or_skip(algorithm, p)
    algo, ref = ALGORITHMS[algorithm], ALGORITHMS[FALLBACK]
    args = (conf["stride"], conf["dilation"], conf["groups"])

    y, y_ref = algo.forward(x, w, *args), ref.forward(x, w, *args)
    np.testing.assert_array_equal(np.isfinite(y), np.isfinite(y_ref))
    np.testing.assert_allclose(y[np.isfinite(y_ref)], y_ref[np.isfinite(y_ref)], atol=1e-9)

    gy = rng.standard_normal(y.shape)
    gy[1, 5, 10], gy[0, 0, 3] = np.nan, -np.inf
    gx, gx_ref = algo.grad_input(gy, w, length, *args), ref.grad_input(gy, w, length, *args)
    np.testing.assert_array_equal(np.isfinite(gx), np.isfinite(gx_ref))
    np.testing.assert_allclose(gx[np.isfinite(gx_ref)], gx_ref[np.isfinite(gx_ref)], atol=1e-9)

    gy = rng.standard_normal(y.shape)  # x still holds its NaN and Inf
    gw, gw_ref = algo.grad_weight(gy, x, k, *args), ref.grad_weight(gy, x, k, *args)
    np.testing.assert_array_equal(np.isfinite(gw), np.isfinite(gw_ref))
    np.testing.assert_allclose(gw[np.isfinite(gw_ref)], gw_ref[np.isfinite(gw_ref)], atol=1e-9)


# ----------------------------------------------------------------------- views and dtypes


@pytest.mark.parametrize("algorithm", NAMES)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_strided_views_without_padding(algorithm, dtype):
    """With no padding the algorithm gets the caller's view itself: transposed and strided."""
    rng = np.random.default_rng(7)
    base = rng.standard_normal((3, 2 * 61, 6)).astype(dtype)
    x = base.transpose(0, 2, 1)[:, :, ::2]  # (3, 6, 61), neither C- nor F-contiguous
    w = rng.standard_normal((4, 3, 5)).astype(dtype)[:, :, ::-1]  # reversed view
    _supported_or_skip(algorithm, Problem.of(x, w, 2, 2, 2))
    check(x, w, None, stride=2, dilation=2, groups=2, algorithm=algorithm)


@pytest.mark.parametrize("algorithm", NAMES)
def test_empty_batch(algorithm):
    x, w = np.zeros((0, 4, 20), np.float32), np.ones((6, 2, 3), np.float32)
    _supported_or_skip(algorithm, Problem.of(x, w, 1, 1, 2))
    y = F.conv1d(x, w, groups=2, algorithm=algorithm)
    g = F.conv1d_backward(y, x, w, groups=2, algorithm=algorithm)
    assert y.shape == (0, 6, 18) and g.input.shape == x.shape
    np.testing.assert_array_equal(g.weight, 0)


# -------------------------------------------------------------------------- the chooser


@pytest.mark.parametrize("case", list(SUITE))
def test_choose_never_picks_the_reference_when_a_fast_algorithm_applies(case):
    x, w, kw = _suite_case(case)
    p = _problem(x, w, kw)
    costs = candidates(p)
    assert costs and all(np.isfinite(c) and c > 0 for c in costs.values())
    assert choose(p) in costs and choose(p) != FALLBACK
    assert ALGORITHMS[choose(p)].unsupported(p) is None


@pytest.mark.parametrize("name", FAST[1:])
def test_every_algorithm_has_a_positive_cost(name):
    p = Problem(4, 8, 8, 5, 1000)
    assert 0 < ALGORITHMS[name].cost(p) < float("inf")


def test_unknown_algorithm_is_a_value_error():
    with pytest.raises(ValueError, match="algorithm must be one of"):
        F.conv1d(np.ones((1, 2, 8)), np.ones((2, 2, 3)), algorithm="winograd?")


# ------------------------------------------------------------------------------- threads


@pytest.fixture
def restore_threads():
    before = conv1d.get_num_threads()
    yield
    conv1d.set_num_threads(before)


@pytest.mark.parametrize("bad, error", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                        ("2", TypeError), (True, TypeError), (None, TypeError)])
def test_set_num_threads_validates(bad, error, restore_threads):
    before = conv1d.get_num_threads()
    with pytest.raises(error, match="set_num_threads"):
        conv1d.set_num_threads(bad)
    assert conv1d.get_num_threads() == before  # a failed call changes nothing


def test_set_num_threads_takes_effect(restore_threads):
    conv1d.set_num_threads(1)
    assert conv1d.get_num_threads() == 1 and threads.workers == 1
    blas = [i for i in threadpool_info() if i["user_api"] == "blas"]
    assert blas and all(i["num_threads"] == 1 for i in blas)
    x = np.random.default_rng(0).standard_normal((2, 64, 3000)).astype(np.float32)
    w = np.random.default_rng(1).standard_normal((64, 1, 4)).astype(np.float32)
    one = F.conv1d(x, w, groups=64, algorithm="direct")
    conv1d.set_num_threads(2)
    assert all(i["num_threads"] == 2 for i in threadpool_info() if i["user_api"] == "blas")
    np.testing.assert_array_equal(F.conv1d(x, w, groups=64, algorithm="direct"), one)


# ------------------------------------------------------------------------------ autotune


@pytest.fixture
def autotuning():
    conv1d.autotune(True, reset=True)
    yield
    conv1d.autotune(False, reset=True)


def test_autotune_measures_once_per_shape_and_pass(autotuning):
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 8, 200)), rng.standard_normal((8, 1, 4))
    y = F.conv1d(x, w, groups=8)
    F.conv1d_backward(y, x, w, groups=8)
    winners = tuned()
    assert sorted(kind for kind, _ in winners) == ["forward", "grad_input", "grad_weight"]
    for (_, problem), name in winners.items():
        assert name in candidates(problem)
    F.conv1d(x, w, groups=8)  # same shape: remembered, nothing new
    assert tuned() == winners
    check(x, w, None, groups=8)  # and still right


def test_autotune_off_means_the_cost_model():
    conv1d.autotune(False, reset=True)
    F.conv1d(np.ones((1, 2, 9)), np.ones((3, 2, 2)))
    assert tuned() == {}


def test_autotune_validates():
    from conv1d.autotune import is_enabled

    with pytest.raises(TypeError, match="enabled must be a bool"):
        conv1d.autotune("yes")
    with pytest.raises(TypeError, match="reset must be a bool"):
        conv1d.autotune(True, reset=1)
    assert not is_enabled()  # a failed call changes nothing
