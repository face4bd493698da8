"""The layers around Conv1d against ``torch.nn``: forward, input and parameter gradients,
running statistics, repr, state-dict keys, errors, half precision, channels-last, streaming.

Tolerances (:func:`assert_close`). float64: relative 1e-10, far above the few ulps by which
two implementations of the same formula differ. float32: the two sides may sum ``n`` terms in
different orders (BLAS in Linear, reductions in the norms) and call different ``exp``/``tanh``/
``erf`` implementations (a few ulp each), so we allow ``8 * max(n, 4) * eps`` at the scale of
the terms (Higham's bound ``2 n eps max|term|`` for two summation orders, eq. 3.5 of "Accuracy
and Stability of Numerical Algorithms", times 4 for the libm results the terms go through).
"""

from __future__ import annotations

import pickle

import ml_dtypes
import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import layers

GRID = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
TORCH = {np.dtype(np.float32): torch.float32, np.dtype(np.float64): torch.float64}
dtypes = st.sampled_from([np.dtype(np.float32), np.dtype(np.float64)])


def assert_close(ours, theirs, dtype, n_terms=1, scale=0.0, what=""):
    """``ours`` in ``dtype`` and within the module docstring's tolerance of ``theirs``."""
    ours = np.asarray(ours)
    assert ours.dtype == dtype, (what, ours.dtype, dtype)
    theirs = np.asarray(theirs, np.float64)
    scale = max(float(np.max(np.abs(theirs), initial=0)), scale, 1e-30)
    if dtype == np.float64:
        tol = {"rtol": 1e-10, "atol": 1e-12 * scale}
    else:
        tol = {"rtol": 0, "atol": 8 * max(n_terms, 4) * float(np.finfo(np.float32).eps) * scale}
    np.testing.assert_allclose(ours.astype(np.float64), theirs, **tol, err_msg=what)


def copy_from_torch(tm, m):
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def run_both(m, tm, x, *, swap=False, seed=0):
    """Forward and backward of ``m`` and ``tm`` on ``x``; the outputs and input gradients.

    ``tm`` runs channels first: with ``swap`` (a channels-last ``m``), its input, output and
    gradients have their last two axes swapped.
    """
    def t(a):
        return np.ascontiguousarray(a.swapaxes(-1, -2) if swap else a)

    xt = torch.from_numpy(t(x)).requires_grad_()
    yt = tm(xt)
    yt = yt[0] if isinstance(yt, tuple) else yt
    y = m(x)
    y = y[0] if isinstance(y, tuple) else y
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    yt.backward(torch.from_numpy(t(gy)))
    gx = m.backward(gy)
    out_t, gx_t = t(yt.detach().numpy()), t(xt.grad.numpy())
    assert y.shape == out_t.shape and gx.shape == x.shape
    return (y, out_t), (gx, gx_t), gy


def compare_params(m, tm, dtype, n_terms, scale=0.0):
    """Parameter gradients and state (buffers too) equal PyTorch's, under PyTorch's keys."""
    grads = dict(m.named_parameters())
    for name, p in tm.named_parameters():
        assert_close(grads[name].grad, p.grad.numpy(), dtype, n_terms, scale, what=name + ".grad")
    ours = m.state_dict()
    assert list(ours) == list(tm.state_dict())
    for key, value in tm.state_dict().items():
        if value.dtype == torch.int64:
            assert ours[key].dtype == np.int64 and ours[key] == value.item(), key
        else:
            assert_close(ours[key], value.numpy(), dtype, n_terms, what=key)


# -- activations ---------------------------------------------------------------------------

ACTIVATIONS = {
    "ReLU": ({}, {"inplace": True}),
    "Tanh": ({},),
    "Sigmoid": ({},),
    "SiLU": ({}, {"inplace": True}),
    "GELU": ({}, {"approximate": "tanh"}),
    # PyTorch's in-place LeakyReLU has no backward for a negative slope; ours has.
    "LeakyReLU": ({}, {"negative_slope": -1.5}, {"negative_slope": 0.3, "inplace": True}),
    "ELU": ({}, {"alpha": 0.5}, {"alpha": 2.0, "inplace": True}),
    "Identity": ({},),
}
ACTIVATION_CASES = [(name, kw) for name, kws in ACTIVATIONS.items() for kw in kws]


@st.composite
def arrays(draw, min_dims=1, max_dims=3):
    shape = tuple(draw(st.lists(st.integers(0, 5), min_size=min_dims, max_size=max_dims)))
    dtype = draw(dtypes)
    scale = draw(st.sampled_from([1.0, 4.0, 30.0]))  # 30: the saturated tails
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = (rng.standard_normal(shape) * scale).astype(dtype)
    if x.size and draw(st.booleans()):
        x.flat[0] = 0.0  # the kink of ReLU, LeakyReLU, ELU
    return x


@GRID
@given(case=st.sampled_from(ACTIVATION_CASES), x=arrays())
def test_activations_match_torch(case, x):
    name, kw = case
    m, tm = getattr(conv1d, name)(**kw), getattr(torch.nn, name)(**kw)
    assert repr(m) == repr(tm)
    x_in = x.copy()
    xt = torch.from_numpy(x.copy()).requires_grad_()
    # PyTorch refuses in-place on a leaf that requires grad: run it on a copy.
    yt = tm(xt.clone() if kw.get("inplace") else xt)
    y = m(x_in)
    if kw.get("inplace") and x.size:
        assert y is x_in  # written into the input
    gy = np.random.default_rng(1).standard_normal(x.shape).astype(x.dtype)
    yt.backward(torch.from_numpy(gy))
    gx = m.backward(gy)
    # PyTorch's float32 GELU rounds 1 + erf, so its error is at the scale of x: below about
    # -5.5 it gives 0 where ours gives x * Phi(x) (see test_gelu_float32_is_as_accurate_as_torchs).
    scale = float(np.max(np.abs(x), initial=0)) if name == "GELU" else 0.0
    assert_close(y, yt.detach().numpy(), x.dtype, scale=scale, what="output")
    # Tanh' and Sigmoid' are 1 - y^2 and (1 - y) y: cancellation, so the scale is gy's.
    assert_close(gx, xt.grad.numpy(), x.dtype, scale=float(np.max(np.abs(gy), initial=0)),
                 what="input gradient")


@pytest.mark.parametrize("name", ["ReLU", "Tanh", "Sigmoid", "SiLU", "GELU", "LeakyReLU", "ELU"])
def test_activation_nonfinite_values_as_torch(name):
    x = np.array([np.nan, np.inf, -np.inf, 800.0, -800.0, 0.0])
    with np.errstate(all="raise"):  # no warnings from the saturated branches
        y = getattr(conv1d, name)()(x)
    np.testing.assert_array_equal(y, getattr(torch.nn, name)()(torch.from_numpy(x)).numpy())


def test_gelu_float32_is_as_accurate_as_torchs():
    # Independent of both: Phi from SciPy's ndtr in float64.
    from scipy.special import ndtr

    x = np.linspace(-12, 12, 100_001).astype(np.float32)
    x64 = x.astype(np.float64)
    exact = x64 * ndtr(x64)
    exact_grad = ndtr(x64) + x64 * np.exp(-0.5 * x64**2) / np.sqrt(2 * np.pi)
    m = conv1d.GELU()
    y = m(x).astype(np.float64)
    g = m.backward(np.ones_like(x)).astype(np.float64)
    xt = torch.from_numpy(x).requires_grad_()
    yt = torch.nn.functional.gelu(xt)
    yt.backward(torch.ones_like(yt))
    for ours, theirs, ref in [(y, yt.detach().double().numpy(), exact),
                              (g, xt.grad.double().numpy(), exact_grad)]:
        # Absolute error at the scale of x (both round 1 + erf, or x * Phi, in float32).
        scale = np.maximum(np.abs(x64), 1)
        assert (np.abs(ours - ref) / scale).max() <= 2 * (np.abs(theirs - ref) / scale).max()
        pos = x64 > 0.1
        assert (np.abs(ours[pos] - ref[pos]) / np.abs(ref[pos])).max() < 1e-6


def test_integer_input_becomes_float64():
    assert conv1d.Tanh()(np.array([0, 1])).dtype == np.float64
    assert conv1d.ReLU()(np.array([-1, 1])).tolist() == [0.0, 1.0]


@pytest.mark.parametrize("name", ["Tanh", "GELU", "SiLU", "Sigmoid"])
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_activations_in_half_round_once(name, dtype):
    x = (np.random.default_rng(0).standard_normal(200) * 3).astype(dtype)
    y = getattr(conv1d, name)()(x)
    assert y.dtype == dtype
    tdtype = torch.float16 if dtype == np.float16 else torch.bfloat16
    theirs = getattr(torch.nn, name)()(torch.from_numpy(x.astype(np.float32)).to(tdtype))
    theirs = theirs.float().numpy().astype(np.float64)
    # Both compute in float32 and round once: at most one ulp apart (where the float32
    # results straddle a rounding boundary), plus float32's own error near zero.
    info = ml_dtypes.finfo(dtype)
    ulp = np.exp2(np.floor(np.log2(np.maximum(np.abs(theirs), float(info.smallest_normal)))))
    err = np.abs(y.astype(np.float64) - theirs)
    assert (err <= ulp * float(info.eps) + 1e-6).all()


# -- Linear --------------------------------------------------------------------------------


@GRID
@given(n_in=st.integers(1, 6), n_out=st.integers(1, 6), lead=st.lists(st.integers(0, 4), max_size=2),
       bias=st.booleans(), dtype=dtypes, seed=st.integers(0, 1000))
def test_linear_matches_torch(n_in, n_out, lead, bias, dtype, seed):
    torch.manual_seed(seed)
    tm = torch.nn.Linear(n_in, n_out, bias, dtype=TORCH[dtype])
    m = conv1d.Linear(n_in, n_out, bias, dtype=dtype)
    copy_from_torch(tm, m)
    x = np.random.default_rng(seed).standard_normal((*lead, n_in)).astype(dtype)
    (y, y_t), (gx, gx_t), gy = run_both(m, tm, x)
    assert_close(y, y_t, dtype, n_in + 1, what="output")
    assert_close(gx, gx_t, dtype, n_out, what="input gradient")
    rows = int(np.prod(lead))
    compare_params(m, tm, dtype, rows, scale=float(np.max(np.abs(gy), initial=0)))
    m.backward(gy)  # accumulates, as PyTorch's .grad
    assert_close(m.weight.grad, 2 * tm.weight.grad.numpy(), dtype, rows, what="accumulated")


def test_linear_initialisation_bound_and_rng():
    m = conv1d.Linear(64, 500, rng=0)
    bound = 1 / np.sqrt(64)
    w = np.asarray(m.weight)
    assert np.abs(w).max() <= bound and np.abs(w).max() > 0.99 * bound
    assert abs(w.mean()) < 5 * bound / np.sqrt(3 * w.size)
    assert np.abs(m.bias).max() <= bound
    np.testing.assert_array_equal(m.weight, conv1d.Linear(64, 500, rng=0).weight)
    assert not np.array_equal(m.weight, conv1d.Linear(64, 500, rng=1).weight)


# -- normalisation -------------------------------------------------------------------------


@GRID
@given(c=st.integers(1, 4), n=st.integers(1, 4), length=st.sampled_from([None, 1, 5]),
       momentum=st.sampled_from([0.1, 0.5, None]), affine=st.booleans(), track=st.booleans(),
       bias=st.booleans(), dtype=dtypes, channels_last=st.booleans(), seed=st.integers(0, 1000))
def test_batchnorm_matches_torch_in_training_and_eval(c, n, length, momentum, affine, track,
                                                      bias, dtype, channels_last, seed):
    if n * (length or 1) < 2:
        n = 2  # training needs more than one value per channel
    fmt = "channels_last" if channels_last else "channels_first"
    torch.manual_seed(seed)
    tm = torch.nn.BatchNorm1d(c, 1e-3, momentum, affine, track, bias=bias, dtype=TORCH[dtype])
    m = conv1d.BatchNorm1d(c, 1e-3, momentum, affine, track, bias=bias, dtype=dtype,
                           data_format=fmt)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 2)
    copy_from_torch(tm, m)
    rng = np.random.default_rng(seed)
    shape = (n, c) if length is None else (n, length, c) if channels_last else (n, c, length)
    count = n * (length or 1)
    for step, training in enumerate([True, True, False]):
        m.train(training)
        tm.train(training)
        x = (rng.standard_normal(shape) * 3 + 2).astype(dtype)
        swap = channels_last and x.ndim == 3
        x3 = (x.swapaxes(1, 2) if swap else x).reshape(n, c, -1).astype(np.float64)
        if training or not track:  # the statistics the layer normalises with
            mean, var = x3.mean(axis=(0, 2)), x3.var(axis=(0, 2))
        else:
            mean, var = tm.running_mean.double().numpy(), tm.running_var.double().numpy()
        (y, y_t), (gx, gx_t), gy = run_both(m, tm, x, swap=swap, seed=step)
        xhat = (x3 - mean[:, None]) / np.sqrt(var[:, None] + 1e-3)
        s = norm_scales(gy, x3, xhat, var, tm.weight)
        assert_close(y, y_t, dtype, count, scale=s["output"], what=f"output, step {step}")
        assert_close(gx, gx_t, dtype, count, scale=s["input"], what=f"input gradient, step {step}")
        compare_params(m, tm, dtype, count, scale=s["params"])


def norm_scales(gy, x, xhat, var, weight):
    """The magnitude of the terms each result of a normalisation sums (see assert_close).

    PyTorch computes with ``x / std`` where we use ``xhat = (x - mean) / std``: the output
    is ``x * weight / std`` plus a shift, the weight's gradient ``sum(gy * x) / std`` minus a
    correction, so both are rounded at the scale of ``|x| / std``, not only ``|xhat|``. The
    input gradient sums ``count`` terms of size ``|gy| * |weight| / std`` (and cancels, so
    its own size is no guide).
    """
    w = 1.0 if weight is None else float(np.max(np.abs(weight.detach().numpy())))
    g = float(np.max(np.abs(gy), initial=0))
    invstd = float(np.max(1 / np.sqrt(var + 1e-3)))
    h = max(float(np.max(np.abs(xhat), initial=0)), float(np.max(np.abs(x), initial=0)) * invstd,
            1.0)
    return {"output": w * h, "input": g * w * invstd, "params": g * h}


@GRID
@given(groups=st.integers(1, 3), per_group=st.integers(1, 3), n=st.integers(1, 3),
       length=st.sampled_from([None, 1, 6]), affine=st.booleans(), bias=st.booleans(),
       dtype=dtypes, channels_last=st.booleans(), seed=st.integers(0, 1000))
def test_groupnorm_matches_torch(groups, per_group, n, length, affine, bias, dtype, channels_last,
                                 seed):
    c = groups * per_group
    # PyTorch refuses a single value per group (it reuses BatchNorm's check); ours gives
    # the bias there (x - mean = 0).
    assume(n * per_group * (length or 1) > 1)
    fmt = "channels_last" if channels_last else "channels_first"
    tm = torch.nn.GroupNorm(groups, c, 1e-3, affine, bias=bias, dtype=TORCH[dtype])
    m = conv1d.GroupNorm(groups, c, 1e-3, affine, bias=bias, dtype=dtype, data_format=fmt)
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 2)
    copy_from_torch(tm, m)
    rng = np.random.default_rng(seed)
    shape = (n, c) if length is None else (n, length, c) if channels_last else (n, c, length)
    x = (rng.standard_normal(shape) * 2 - 1).astype(dtype)
    swap = channels_last and x.ndim == 3
    (y, y_t), (gx, gx_t), gy = run_both(m, tm, x, swap=swap)
    xg = (x.swapaxes(1, 2) if swap else x).reshape(n, groups, -1).astype(np.float64)
    var = xg.var(axis=2, keepdims=True)
    xhat = (xg - xg.mean(axis=2, keepdims=True)) / np.sqrt(var + 1e-3)
    s = norm_scales(gy, xg, xhat, var, tm.weight)
    count = per_group * (length or 1)
    assert_close(y, y_t, dtype, count, scale=s["output"], what="output")
    assert_close(gx, gx_t, dtype, count, scale=s["input"], what="input gradient")
    compare_params(m, tm, dtype, n * (length or 1), scale=s["params"])


def test_batchnorm_running_statistics_and_modes():
    m = conv1d.BatchNorm1d(3, momentum=None, dtype=np.float64)
    rng = np.random.default_rng(0)
    xs = [rng.standard_normal((4, 3, 5)) + i for i in range(3)]
    for x in xs:
        m(x)
    assert m.num_batches_tracked.dtype == np.int64 and int(m.num_batches_tracked) == 3
    # momentum=None: the cumulative average of the batch means and unbiased variances.
    np.testing.assert_allclose(m.running_mean, np.mean([x.mean(axis=(0, 2)) for x in xs], 0))
    np.testing.assert_allclose(m.running_var,
                               np.mean([x.var(axis=(0, 2), ddof=1) for x in xs], 0))
    m.eval()
    x = rng.standard_normal((2, 3, 4))
    expected = (x - m.running_mean[:, None]) / np.sqrt(m.running_var[:, None] + 1e-5)
    np.testing.assert_allclose(m(x), expected, rtol=1e-12)
    assert int(m.num_batches_tracked) == 3  # eval leaves the statistics alone
    assert list(dict(m.named_parameters())) == ["weight", "bias"]  # buffers aren't parameters
    m.reset_running_stats()
    assert int(m.num_batches_tracked) == 0 and (m.running_var == 1).all()
    blob = pickle.loads(pickle.dumps(m))
    np.testing.assert_array_equal(blob.running_var, m.running_var)


def test_batchnorm_state_dict_round_trip_with_torch():
    tm = torch.nn.BatchNorm1d(4).double()
    tm(torch.randn(8, 4, 3, dtype=torch.float64))
    m = conv1d.BatchNorm1d(4, dtype=np.float64)
    copy_from_torch(tm, m)
    assert int(m.num_batches_tracked) == 1
    np.testing.assert_array_equal(m.running_mean, tm.running_mean.numpy())
    tm2 = torch.nn.BatchNorm1d(4).double()
    tm2.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in m.state_dict().items()})
    assert tm2.num_batches_tracked.item() == 1


def test_batchnorm_without_running_stats_has_no_buffers():
    m = conv1d.BatchNorm1d(3, affine=False, track_running_stats=False)
    assert m.state_dict() == {} and list(m.parameters()) == []
    m.eval()  # still batch statistics
    y = m(np.random.default_rng(0).standard_normal((5, 3)))
    np.testing.assert_allclose(y.mean(axis=0), 0, atol=1e-6)


# -- pooling -------------------------------------------------------------------------------


@st.composite
def pool_cases(draw, dilation=True):
    k = draw(st.integers(1, 5))
    return dict(
        kernel_size=draw(st.sampled_from([k, (k,)])),
        stride=draw(st.sampled_from([None, 1, 2, 3])),
        padding=draw(st.integers(0, k // 2)),
        **({"dilation": draw(st.integers(1, 3))} if dilation else {}),
        ceil_mode=draw(st.booleans()),
    )


def pool_input(draw_length, c, n, dtype, channels_last, seed, ties=False):
    rng = np.random.default_rng(seed)
    if n is None:
        shape = (draw_length, c) if channels_last else (c, draw_length)
    else:
        shape = (n, draw_length, c) if channels_last else (n, c, draw_length)
    x = rng.standard_normal(shape)
    if ties:
        x = np.round(x)  # many equal values: the first maximum must win, as in PyTorch
        # NaN wins over any number (the last NaN of a window), -inf loses to all.
        x.flat[rng.integers(0, x.size, 2)] = rng.choice([np.nan, -np.inf, np.inf], 2)
    return x.astype(dtype)


def torch_accepts(tm, x):
    """Whether PyTorch computes ``tm`` on ``x`` (it refuses windows that leave no output)."""
    try:
        tm(torch.from_numpy(np.ascontiguousarray(x)))
    except RuntimeError:
        return False
    return True


@GRID
@given(args=pool_cases(), indices=st.booleans(), length=st.integers(1, 12),
       c=st.integers(1, 3), n=st.sampled_from([None, 1, 3]), dtype=dtypes,
       channels_last=st.booleans(), ties=st.booleans(), seed=st.integers(0, 1000))
def test_maxpool_matches_torch(args, indices, length, c, n, dtype, channels_last, ties, seed):
    fmt = "channels_last" if channels_last else "channels_first"
    m = conv1d.MaxPool1d(**args, return_indices=indices, data_format=fmt)
    tm = torch.nn.MaxPool1d(**args, return_indices=indices)
    assert channels_last or repr(m) == repr(tm)
    x = pool_input(length, c, n, dtype, channels_last, seed, ties)
    xt = x.swapaxes(-1, -2) if channels_last else x
    try:
        m(x)
    except ValueError as e:
        # A window of only padding: PyTorch reads out of bounds there (a heap corruption in
        # torch 2.13, e.g. MaxPool1d(2, padding=1, dilation=3, ceil_mode=True) on length 1).
        if "holds no input sample" in str(e):
            return
        assert "too short" in str(e) and not torch_accepts(tm, xt)
        return
    (y, y_t), (gx, gx_t), _ = run_both(m, tm, x, swap=channels_last)
    np.testing.assert_array_equal(y, y_t)  # a maximum is exact
    assert y.dtype == dtype
    assert_close(gx, gx_t, dtype, 3, what="input gradient")
    if indices:
        idx_t = tm(torch.from_numpy(np.ascontiguousarray(xt)))[1].numpy()
        idx = m(x)[1]
        assert idx.dtype == np.int64
        np.testing.assert_array_equal(idx.swapaxes(-1, -2) if channels_last else idx, idx_t)


@GRID
@given(args=pool_cases(dilation=False), include=st.booleans(), length=st.integers(1, 12),
       c=st.integers(1, 3), n=st.sampled_from([None, 1, 3]), dtype=dtypes,
       channels_last=st.booleans(), seed=st.integers(0, 1000))
def test_avgpool_matches_torch(args, include, length, c, n, dtype, channels_last, seed):
    fmt = "channels_last" if channels_last else "channels_first"
    m = conv1d.AvgPool1d(**args, count_include_pad=include, data_format=fmt)
    tm = torch.nn.AvgPool1d(**args, count_include_pad=include)
    x = pool_input(length, c, n, dtype, channels_last, seed)
    if not torch_accepts(tm, x.swapaxes(-1, -2) if channels_last else x):
        with pytest.raises(ValueError, match="too short"):
            m(x)
        return
    (y, y_t), (gx, gx_t), gy = run_both(m, tm, x, swap=channels_last)
    k = m.kernel_size[0]
    assert_close(y, y_t, dtype, k, scale=float(np.max(np.abs(x))), what="output")
    assert_close(gx, gx_t, dtype, k, scale=float(np.max(np.abs(gy))), what="input gradient")


@GRID
@given(size=st.integers(1, 14), length=st.integers(1, 12), n=st.sampled_from([None, 2]),
       dtype=dtypes, channels_last=st.booleans(), seed=st.integers(0, 1000))
def test_adaptive_avgpool_matches_torch(size, length, n, dtype, channels_last, seed):
    fmt = "channels_last" if channels_last else "channels_first"
    m = conv1d.AdaptiveAvgPool1d(size, data_format=fmt)
    tm = torch.nn.AdaptiveAvgPool1d(size)
    assert channels_last or repr(m) == repr(tm)
    x = pool_input(length, 3, n, dtype, channels_last, seed)
    (y, y_t), (gx, gx_t), gy = run_both(m, tm, x, swap=channels_last)
    n_terms = -(-length // size) + 1
    assert_close(y, y_t, dtype, n_terms, scale=float(np.max(np.abs(x))), what="output")
    assert_close(gx, gx_t, dtype, n_terms, scale=float(np.max(np.abs(gy))), what="input gradient")


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_pools_in_half(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 17)).astype(dtype)
    x64 = torch.from_numpy(x.astype(np.float64))
    for m, tm in [(conv1d.MaxPool1d(3, 2), torch.nn.MaxPool1d(3, 2)),
                  (conv1d.AvgPool1d(4, 3, 2), torch.nn.AvgPool1d(4, 3, 2)),
                  (conv1d.AdaptiveAvgPool1d(5), torch.nn.AdaptiveAvgPool1d(5))]:
        y = m(x)
        assert y.dtype == dtype and m.backward(np.ones_like(y)).dtype == dtype
        exact = tm(x64).numpy()
        info = ml_dtypes.finfo(dtype)
        # Rounded once from float32: within half an ulp of the exact value (plus float32's).
        ulp = np.exp2(np.floor(np.log2(np.maximum(np.abs(exact), float(info.smallest_normal)))))
        assert (np.abs(y.astype(np.float64) - exact) <= ulp * float(info.eps) * 0.5 + 1e-6).all()


HALF_LAYERS = {
    "Linear": (lambda dt: conv1d.Linear(6, 4, dtype=dt, rng=0), lambda: torch.nn.Linear(6, 4),
               (3, 5, 6)),
    "BatchNorm1d": (lambda dt: conv1d.BatchNorm1d(4, dtype=dt), lambda: torch.nn.BatchNorm1d(4),
                    (5, 4, 7)),
    "GroupNorm": (lambda dt: conv1d.GroupNorm(2, 4, dtype=dt), lambda: torch.nn.GroupNorm(2, 4),
                  (5, 4, 7)),
}


@pytest.mark.parametrize("name", list(HALF_LAYERS))
@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_layers_with_parameters_in_half(name, dtype):
    make, make_torch, shape = HALF_LAYERS[name]
    m, tm = make(dtype), make_torch().double()
    with torch.no_grad():
        for p in tm.parameters():
            p.uniform_(0.5, 2)
    for name_, p in tm.named_parameters():  # rounded to half
        getattr(m, name_)[...] = p.detach().numpy()
    tm.load_state_dict({k: torch.from_numpy(np.asarray(v).astype(np.float64))
                        if v.dtype != np.int64 else torch.from_numpy(v)
                        for k, v in m.state_dict().items()})
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    gy = rng.standard_normal((*shape[:-1], 4) if name == "Linear" else shape).astype(dtype)
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    yt = tm(xt)
    yt.backward(torch.from_numpy(gy.astype(np.float64)))
    y = m(x)
    gx = m.backward(gy)
    eps = float(ml_dtypes.finfo(dtype).eps)
    # Computed in float32 and rounded once to half: within one ulp of half at the scale.
    for ours, ref, what in [(y, yt, "output"), (gx, xt.grad, "input gradient")] + [
            (p.grad, tp.grad, name) for (name, p), tp in zip(m.named_parameters(),
                                                              tm.parameters(), strict=True)]:
        assert ours.dtype == dtype, what
        ref = ref.detach().numpy()
        np.testing.assert_allclose(ours.astype(np.float64), ref, rtol=0,
                                   atol=eps * float(np.max(np.abs(ref))), err_msg=what)
    for key, value in m.state_dict().items():
        assert value.dtype == (np.int64 if key == "num_batches_tracked" else dtype), key


def test_global_avg_pool_channels_last_bug():
    # The case: a channels-last Conv1d before GlobalAvgPool1d gave (4, 2044).
    net = conv1d.Sequential(conv1d.Conv1d(1, 8, 5, data_format="channels_last", rng=0),
                            conv1d.ReLU(), conv1d.GlobalAvgPool1d(data_format="channels_last"))
    x = np.random.default_rng(0).standard_normal((4, 2048, 1)).astype(np.float32)
    y = net(x)
    assert y.shape == (4, 8)
    first = conv1d.Sequential(net[0], net[1])(x)  # (4, 2044, 8)
    np.testing.assert_allclose(y, first.mean(axis=1), rtol=1e-5)
    gx = net.backward(np.ones((4, 8), np.float32))
    assert gx.shape == x.shape
    tm = torch.nn.AdaptiveAvgPool1d(1)
    xt = torch.from_numpy(np.ascontiguousarray(first.transpose(0, 2, 1))).requires_grad_()
    tm(xt)[..., 0].backward(torch.ones(4, 8))
    m = net[2]
    m(first)
    np.testing.assert_allclose(m.backward(np.ones((4, 8), np.float32)),
                               xt.grad.numpy().transpose(0, 2, 1), rtol=1e-6)


def test_global_avg_pool_refuses_other_ranks():
    with pytest.raises(ValueError, match=r"GlobalAvgPool1d expects a 3-D input \(\(N, L, C\)"):
        conv1d.GlobalAvgPool1d(data_format="channels_last")(np.zeros((3, 4)))
    with pytest.raises(ValueError, match="data_format must be one of"):
        conv1d.GlobalAvgPool1d(data_format="NLC")


# -- wrong-shaped gradients (each broadcast silently before) ---------------------------------


def test_relu_backward_refuses_a_wrong_shaped_gradient():
    m = conv1d.ReLU()
    m(np.ones((2, 3)))
    for bad in (np.ones(3), np.ones((1, 3)), np.ones((2, 3, 1))):
        with pytest.raises(ValueError, match=r"ReLU.backward: grad_output must have the last "
                                             r"output's shape \(2, 3\), got"):
            m.backward(bad)


def test_global_avg_pool_backward_refuses_a_wrong_shaped_gradient():
    m = conv1d.GlobalAvgPool1d()
    m(np.ones((2, 3, 5)))
    for bad in (np.ones(3), np.ones((1, 3)), np.ones((2, 1))):
        with pytest.raises(ValueError, match=r"grad_output must have the last output's shape "
                                             r"\(2, 3\)"):
            m.backward(bad)


WRONG_GRAD_CASES = [
    (lambda: conv1d.Tanh(), (2, 3)),
    (lambda: conv1d.GELU(), (2, 3)),
    (lambda: conv1d.Dropout(0.5, rng=0), (2, 3)),
    (lambda: conv1d.Identity(), (2, 3)),
    (lambda: conv1d.Flatten(), (2, 3, 4)),
    (lambda: conv1d.Linear(3, 2), (4, 3)),
    (lambda: conv1d.BatchNorm1d(3), (4, 3, 5)),
    (lambda: conv1d.GroupNorm(1, 3), (4, 3, 5)),
    (lambda: conv1d.MaxPool1d(2), (4, 3, 6)),
    (lambda: conv1d.AvgPool1d(2), (4, 3, 6)),
    (lambda: conv1d.AdaptiveAvgPool1d(2), (4, 3, 6)),
]


@pytest.mark.parametrize(("make", "shape"), WRONG_GRAD_CASES)
def test_every_backward_checks_the_gradient_shape(make, shape):
    m = make()
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward(np.ones(shape))
    y = m(np.ones(shape, np.float32))
    bad = np.ones((*y.shape[:-1], y.shape[-1] + 1))
    with pytest.raises(ValueError, match="grad_output must have the last output's shape"):
        m.backward(bad)
    with pytest.raises(ValueError, match="grad_output must have the last output's shape"):
        m.backward(np.ones(y.shape[1:]))
    assert m.backward(np.ones(y.shape)).shape == shape  # the failures changed nothing


# -- Dropout, Flatten, Identity --------------------------------------------------------------


def test_dropout_training_eval_and_rng():
    x = np.random.default_rng(0).standard_normal((50, 400))
    m = conv1d.Dropout(0.3, rng=5)
    assert repr(m) == repr(torch.nn.Dropout(0.3)) == "Dropout(p=0.3, inplace=False)"
    y = m(x)
    kept = y != 0
    # Bernoulli(0.7) over 20000 elements: 5 standard deviations.
    assert abs(kept.mean() - 0.7) < 5 * np.sqrt(0.21 / x.size)
    np.testing.assert_allclose(y[kept], x[kept] / 0.7, rtol=1e-15)
    gy = np.random.default_rng(1).standard_normal(x.shape)
    np.testing.assert_allclose(m.backward(gy), np.where(kept, gy / 0.7, 0), rtol=1e-15)
    np.testing.assert_array_equal(conv1d.Dropout(0.3, rng=5)(x), y)  # seeded
    assert not np.array_equal(m(x), y)  # a new mask each call
    m.eval()
    assert m(x) is x and m.backward(gy) is gy  # the identity
    m.train()
    np.testing.assert_array_equal(conv1d.Dropout(1.0)(x), 0)
    np.testing.assert_array_equal(conv1d.Dropout(0.0)(x), x)
    # PyTorch's rule on a given mask: y = x * mask / (1 - p).
    xt = torch.from_numpy(x)
    torch.manual_seed(0)
    yt = torch.nn.functional.dropout(xt, 0.3, True).numpy()
    np.testing.assert_allclose(yt[yt != 0], x[yt != 0] / 0.7, rtol=1e-15)


@pytest.mark.parametrize(("start", "end", "shape"),
                         [(1, -1, (2, 3, 4)), (0, -1, (2, 3, 4)), (0, 1, (2, 3, 4)),
                          (-2, -1, (5, 2, 3)), (1, 1, (2, 3)), (0, 0, ())])
def test_flatten_matches_torch(start, end, shape):
    m, tm = conv1d.Flatten(start, end), torch.nn.Flatten(start, end)
    assert repr(m) == repr(tm)
    x = np.random.default_rng(0).standard_normal(shape)
    (y, y_t), (gx, gx_t), _ = run_both(m, tm, x)
    np.testing.assert_array_equal(y, y_t)
    np.testing.assert_array_equal(gx, gx_t)


def test_identity_returns_its_input():
    x = np.ones((2, 3))
    m = conv1d.Identity(3, foo="bar")
    assert m(x) is x and repr(m) == "Identity()"
    np.testing.assert_array_equal(m.backward(2 * x), 2 * x)


# -- repr, state dict, errors ----------------------------------------------------------------

REPR_CASES = [
    ("Linear", (3, 4), {}), ("Linear", (3, 4, False), {}),
    ("BatchNorm1d", (4,), {}), ("BatchNorm1d", (4, 1e-3, None, False, False), {}),
    ("BatchNorm1d", (4,), {"bias": False}),
    ("GroupNorm", (2, 4), {}), ("GroupNorm", (1, 3, 0.1, False), {}),
    ("MaxPool1d", (3,), {}), ("MaxPool1d", ((3,), 1, 1, 2, True, True), {}),
    ("AvgPool1d", (3,), {}), ("AvgPool1d", (4, 2, 2, True, False), {}),
    ("AdaptiveAvgPool1d", (5,), {}), ("AdaptiveAvgPool1d", ((5,),), {}),
    ("ReLU", (True,), {}), ("GELU", ("tanh",), {}), ("LeakyReLU", (0.2, True), {}),
    ("ELU", (0.5,), {}), ("SiLU", (), {}), ("Dropout", (0.1, True), {}), ("Flatten", (0, 2), {}),
]


@pytest.mark.parametrize(("name", "args", "kwargs"), REPR_CASES)
def test_repr_attributes_and_state_dict_keys_match_torch(name, args, kwargs):
    m, tm = getattr(conv1d, name)(*args, **kwargs), getattr(torch.nn, name)(*args, **kwargs)
    assert repr(m) == repr(tm)
    assert list(m.state_dict()) == list(tm.state_dict())
    for key, value in tm.state_dict().items():
        assert m.state_dict()[key].shape == tuple(value.shape)
    for attr in ("in_features", "out_features", "num_features", "eps", "momentum", "affine",
                 "track_running_stats", "num_groups", "num_channels", "kernel_size", "stride",
                 "padding", "dilation", "ceil_mode", "count_include_pad", "return_indices",
                 "output_size", "negative_slope", "alpha", "approximate", "p", "inplace",
                 "start_dim", "end_dim"):
        if hasattr(tm, attr):
            assert getattr(m, attr) == getattr(tm, attr), attr


def test_sequential_of_new_layers_matches_torch_repr_and_keys():
    ours = conv1d.Sequential(conv1d.Conv1d(1, 4, 3), conv1d.BatchNorm1d(4), conv1d.ReLU(),
                             conv1d.MaxPool1d(2), conv1d.Dropout(0.2), conv1d.Flatten(),
                             conv1d.Linear(8, 2))
    theirs = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.BatchNorm1d(4),
                                 torch.nn.ReLU(), torch.nn.MaxPool1d(2), torch.nn.Dropout(0.2),
                                 torch.nn.Flatten(), torch.nn.Linear(8, 2))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_channels_last_shows_in_repr():
    assert repr(conv1d.MaxPool1d(2, data_format="channels_last")).endswith(
        "ceil_mode=False, data_format=channels_last)")
    assert repr(conv1d.GroupNorm(1, 2, data_format="channels_last")).endswith(
        "bias=True, data_format=channels_last)")


ERROR_CASES = [
    (lambda: conv1d.Linear(0.5, 2), TypeError, "in_features must be an int"),
    (lambda: conv1d.Linear(2, -1), ValueError, "out_features must be >= 0, got -1"),
    (lambda: conv1d.Linear(2, 3, bias="yes"), TypeError, "bias must be True or False"),
    (lambda: conv1d.Linear(2, 3, dtype=np.int32), ValueError, "dtype must be"),
    (lambda: conv1d.Linear(2, 3, rng=-1), ValueError, "rng"),
    (lambda: conv1d.BatchNorm1d(0), ValueError, "num_features must be positive, got 0"),
    (lambda: conv1d.BatchNorm1d(3, eps=-1), ValueError, r"eps must be a finite number in \[0, inf\)"),
    (lambda: conv1d.BatchNorm1d(3, momentum=2), ValueError, r"momentum must be .* \[0, 1\], got 2"),
    (lambda: conv1d.BatchNorm1d(3, momentum="0.1"), TypeError, "momentum must be a real number"),
    (lambda: conv1d.BatchNorm1d(3, affine=1), TypeError, "affine must be True or False, got 1"),
    (lambda: conv1d.BatchNorm1d(3, data_format="NLC"), ValueError, "data_format must be one of"),
    (lambda: conv1d.GroupNorm(2, 5), ValueError, "num_channels must be divisible by num_groups"),
    (lambda: conv1d.GroupNorm(0, 4), ValueError, "num_groups must be positive"),
    (lambda: conv1d.MaxPool1d(3, padding=2), ValueError, r"padding must be at most half of kernel_size"),
    (lambda: conv1d.MaxPool1d(0), ValueError, "kernel_size must be positive, got 0"),
    (lambda: conv1d.MaxPool1d(2, dilation=0), ValueError, "dilation must be positive"),
    (lambda: conv1d.MaxPool1d(2, ceil_mode=None), TypeError, "ceil_mode must be True or False"),
    (lambda: conv1d.AvgPool1d(2, stride=(1, 2)), ValueError, "stride must be an int or a 1-tuple"),
    (lambda: conv1d.AvgPool1d(2, count_include_pad=0), TypeError, "count_include_pad must be True"),
    (lambda: conv1d.AdaptiveAvgPool1d(-1), ValueError, "output_size must be >= 0, got -1"),
    (lambda: conv1d.AdaptiveAvgPool1d(None), TypeError, "output_size must be an int"),
    (lambda: conv1d.GELU("fast"), ValueError, r"approximate must be one of \('none', 'tanh'\), got 'fast'"),
    (lambda: conv1d.LeakyReLU("0.1"), TypeError, "negative_slope must be a real number"),
    (lambda: conv1d.ELU(float("nan")), ValueError, "alpha must be a finite number"),
    (lambda: conv1d.ReLU(inplace=1), TypeError, "inplace must be True or False, got 1"),
    (lambda: conv1d.Dropout(1.5), ValueError, r"dropout probability p must be in \[0, 1\], got 1.5"),
    (lambda: conv1d.Dropout("0.5"), TypeError, "p must be a real number"),
    (lambda: conv1d.Dropout(0.5, rng="seed"), TypeError, "rng must be None, an int seed"),
    (lambda: conv1d.Flatten(1.0), TypeError, "start_dim must be an int, got 1.0"),
]


@pytest.mark.parametrize(("make", "exc", "match"), ERROR_CASES)
def test_constructor_errors_name_the_argument(make, exc, match):
    with pytest.raises(exc, match=match):
        make()


FORWARD_ERRORS = [
    (conv1d.Linear(3, 2), np.ones((4, 2)), "last axis has in_features=3 elements, got shape"),
    (conv1d.BatchNorm1d(3), np.ones((4, 2, 5)), "num_features=3 channels on its second axis"),
    (conv1d.BatchNorm1d(3, data_format="channels_last"), np.ones((4, 5, 2)), "on its last axis"),
    (conv1d.BatchNorm1d(3), np.ones((1, 3)), "more than 1 value per channel when training"),
    (conv1d.BatchNorm1d(3), np.ones((2, 3, 4, 5)), "expects a 2-D or 3-D input"),
    (conv1d.GroupNorm(1, 3), np.ones(3), "expects a 2-D or 3-D input"),
    (conv1d.MaxPool1d(5), np.ones((1, 2, 3)), "too short for a pooling window of 5 samples"),
    (conv1d.MaxPool1d(2, padding=1, dilation=3, ceil_mode=True), np.ones((2, 1)),
     "window 0 of the output holds no input sample"),
    (conv1d.AvgPool1d(2), np.ones(3), "expects a 2-D or 3-D input"),
    (conv1d.Flatten(2), np.ones((2, 3)), "start_dim=2 and end_dim=-1 must be axes"),
    (conv1d.Flatten(-1, 0), np.ones((2, 3)), "must not come after end_dim"),
    (conv1d.Tanh(), np.array(["a"]), "input must be a real floating-point or integer array"),
]


@pytest.mark.parametrize(("m", "x", "match"), FORWARD_ERRORS)
def test_forward_errors_leave_the_layer_unchanged(m, x, match):
    state = {k: v.copy() for k, v in m.state_dict().items()}
    exc = TypeError if x.dtype.kind == "U" else ValueError
    with pytest.raises(exc, match=match):
        m(x)
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, state[k])


# -- streaming -------------------------------------------------------------------------------


def test_pointwise_layers_stream_inside_a_causal_stack():
    net = conv1d.Sequential(
        conv1d.Conv1d(2, 4, 3, padding="causal", dtype=np.float64, rng=0),
        conv1d.BatchNorm1d(4, dtype=np.float64), conv1d.GELU(), conv1d.Dropout(0.5),
        conv1d.Conv1d(4, 3, 2, padding="causal", dilation=2, dtype=np.float64, rng=1),
        conv1d.Tanh(), conv1d.LeakyReLU(0.1), conv1d.ELU(), conv1d.SiLU(), conv1d.Sigmoid(),
        conv1d.Identity(),
    )
    x = np.random.default_rng(0).standard_normal((2, 2, 40))
    net(x)  # training: running statistics move off their start
    with pytest.raises(ValueError, match="position 1: BatchNorm1d streams in eval mode"):
        net.stream()
    net.eval()
    y = net(x)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    gx = net.backward(gy)
    s = net.stream()
    assert s.delay == 0
    parts = [s(x[..., i : i + 7]) for i in range(0, 40, 7)] + [s.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), y, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(net.backward(gy), gx)  # streaming left backward's state alone


def test_layers_that_cannot_stream_say_so():
    for m in (conv1d.MaxPool1d(2), conv1d.AvgPool1d(2), conv1d.GroupNorm(1, 2), conv1d.Flatten(),
              conv1d.Linear(2, 2)):
        with pytest.raises(TypeError, match="cannot stream"):
            m.stream()
    with pytest.raises(ValueError, match="Dropout streams in eval mode only"):
        conv1d.Dropout().stream()


def test_pointwise_layers_take_dask_arrays_lazily():
    da = pytest.importorskip("dask.array")
    x = np.random.default_rng(0).standard_normal((2, 3, 50))
    for m in (conv1d.ReLU(), conv1d.GELU(), conv1d.Tanh(), conv1d.Identity()):
        y = m(da.from_array(x, chunks=(1, 3, 20)))
        assert isinstance(y, da.Array)
        np.testing.assert_allclose(y.compute(), type(m)()(x), rtol=1e-15)


def test_old_import_paths_still_work():
    assert layers.ReLU is conv1d.ReLU and layers.GlobalAvgPool1d is conv1d.GlobalAvgPool1d
    assert layers.CrossEntropyLoss is conv1d.CrossEntropyLoss


def test_layers_pickle_without_their_cache():
    for m in (conv1d.Linear(4, 3, rng=0), conv1d.BatchNorm1d(4), conv1d.GELU(),
              conv1d.MaxPool1d(2), conv1d.Dropout(rng=0)):
        m(np.ones((100, 4, 200)) if not isinstance(m, conv1d.Linear) else np.ones((100, 200, 4)))
        assert len(pickle.dumps(m)) < 10_000


def test_a_small_ecg_style_network_trains_as_in_torch():
    def build(lib, **kw):
        nn = lib if lib is conv1d else lib.nn
        return nn.Sequential(
            nn.Conv1d(2, 8, 7, padding=3, **kw), nn.BatchNorm1d(8, **kw), nn.ReLU(),
            nn.MaxPool1d(3, 2, 1), nn.Conv1d(8, 8, 3, padding=1, bias=False, **kw),
            nn.GroupNorm(2, 8, **kw), nn.GELU(approximate="tanh"), nn.Dropout(0.0),
            nn.AvgPool1d(2), nn.AdaptiveAvgPool1d(4), nn.Flatten(), nn.Linear(32, 3, **kw),
            nn.ELU(), nn.Identity(),
        )

    torch.manual_seed(0)
    tnet, net = build(torch, dtype=torch.float64), build(conv1d, dtype=np.float64)
    assert repr(net) == repr(tnet)
    copy_from_torch(tnet, net)
    rng = np.random.default_rng(0)
    for training in (True, False):
        net.train(training)
        tnet.train(training)
        x = rng.standard_normal((4, 2, 40))
        (y, y_t), (gx, gx_t), _ = run_both(net, tnet, x)
        np.testing.assert_allclose(y, y_t, rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(gx, gx_t, rtol=1e-9, atol=1e-12)
        grads = dict(net.named_parameters())
        for name, p in tnet.named_parameters():
            np.testing.assert_allclose(grads[name].grad, p.grad.numpy(), rtol=1e-9, atol=1e-12,
                                       err_msg=name)
        for key, value in tnet.state_dict().items():
            np.testing.assert_allclose(net.state_dict()[key], value.numpy(), rtol=1e-12,
                                       err_msg=key)


def test_an_in_place_layer_after_another_leaves_its_gradient_right():
    # Tanh and MaxPool1d keep their input, not their output, which LeakyReLU(inplace=True)
    # overwrites here (PyTorch refuses such a graph; ours computes it).
    x = np.random.default_rng(0).standard_normal((2, 3, 12))
    for make in (conv1d.Tanh, lambda: conv1d.MaxPool1d(2)):
        alone = make()
        y = alone(x)
        gy = np.random.default_rng(1).standard_normal(y.shape)
        expected = alone.backward(gy * np.where(y > 0, 1, 0.5))
        net = conv1d.Sequential(make(), conv1d.LeakyReLU(0.5, inplace=True))
        net(x)
        np.testing.assert_allclose(net.backward(gy), expected, rtol=1e-15)
