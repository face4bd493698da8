"""data_format="channels_last": (N, L, C) in and out, the channels-first result transposed."""

import dataclasses
import pickle
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings

import conv1d
from conv1d import functional as F
from conv1d import plan
from conv1d.algorithms import ALGORITHMS, Problem
from conv1d.spec import DATA_FORMATS, ConvSpec
from tests.oracle import tolerance
from tests.strategies import conv_cases

GRID = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def assert_close(a, b, n_terms, u, v, what):
    # Same sums, possibly another summation order (the algorithm sees a strided view).
    assert a.shape == b.shape and a.dtype == b.dtype, what
    np.testing.assert_allclose(a, b, **tolerance(a.dtype, n_terms, u, v), err_msg=what)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@GRID
@given(case=conv_cases())
def test_channels_last_is_channels_first_transposed(algorithm, case):
    x, w, b, kwargs = case
    spec = ConvSpec.from_args(w.shape[1] * kwargs["groups"], w.shape[0], w.shape[2],
                              kwargs["stride"], kwargs["padding"], kwargs["dilation"],
                              kwargs["groups"], kwargs["padding_mode"])
    x3 = x if x.ndim == 3 else x[None]
    problem = Problem(x3.shape[0], spec.in_channels, spec.out_channels, spec.kernel_size,
                      x3.shape[2] + spec.pad_left + spec.pad_right, spec.stride, spec.dilation,
                      spec.groups, x.dtype.name)
    assume(ALGORITHMS[algorithm].unsupported(problem) is None)
    kwargs["algorithm"] = algorithm
    xl = x.swapaxes(-1, -2)  # (N, L, C_in): a view, as NumPy time-series code holds it

    y = F.conv1d(x, w, b, **kwargs)
    yl = F.conv1d(xl, w, b, data_format="channels_last", **kwargs)
    assert yl.shape == y.swapaxes(-1, -2).shape
    assert_close(yl, y.swapaxes(-1, -2), w.shape[1] * w.shape[2] + 1, x, w, "output")

    gy = np.random.default_rng(0).standard_normal(y.shape).astype(y.dtype)
    g = F.conv1d_backward(gy, x, w, b, **kwargs)
    gl = F.conv1d_backward(gy.swapaxes(-1, -2), xl, w, b, data_format="channels_last", **kwargs)
    fold = 1 + spec.pad_left + spec.pad_right
    assert_close(gl.input, g.input.swapaxes(-1, -2),
                 fold * (spec.out_channels // spec.groups) * spec.kernel_size, gy, w, "input")
    n_lo = y.size // spec.out_channels
    assert_close(gl.weight, g.weight, n_lo, gy, x, "weight")
    if b is None:
        assert gl.bias is None
    else:
        assert_close(gl.bias, g.bias, n_lo, gy, np.ones(1), "bias")


def test_no_copy_at_the_boundary(monkeypatch, request):
    """With nothing to pad, the algorithm gets the caller's memory; the result is its output."""
    # Plans keep what get_algorithm returned: start without one, leave none holding the spy.
    plan.clear()
    request.addfinalizer(plan.clear)
    seen = {}
    real = F.get_algorithm

    def get_algorithm(name, problem):
        algo = real(name, problem)

        def forward(x, w, *args):
            seen["x"], seen["y"] = x, algo.forward(x, w, *args)
            return seen["y"]

        return dataclasses.replace(algo, forward=forward)

    monkeypatch.setattr(F, "get_algorithm", get_algorithm)
    xl = np.random.default_rng(0).standard_normal((2, 30, 4))
    yl = F.conv1d(xl, np.ones((5, 4, 3)), data_format="channels_last")
    assert seen["x"].shape == (2, 4, 30) and np.shares_memory(seen["x"], xl)
    assert yl.shape == (2, 28, 5) and np.shares_memory(yl, seen["y"])


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_unbatched_and_half_channels_last(dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((3, 17)).astype(dtype)
    w = rng.standard_normal((4, 3, 5)).astype(dtype)
    y = F.conv1d(x, w, padding="same", padding_mode="reflect")
    yl = F.conv1d(x.T, w, padding="same", padding_mode="reflect", data_format="channels_last")
    assert yl.dtype == dtype
    np.testing.assert_array_equal(yl, y.T)  # float16 rounds the same float32 sums
    g = F.conv1d_backward(np.ones_like(y), x, w, padding=2)
    gl = F.conv1d_backward(np.ones_like(y.T), x.T, w, padding=2, data_format="channels_last")
    np.testing.assert_array_equal(gl.input, g.input.T)
    np.testing.assert_allclose(gl.weight, g.weight, rtol=1e-3 if dtype == np.float16 else 1e-6)


def pair(**kwargs):
    """A channels-first and a channels-last layer with the same weights."""
    cf = conv1d.Conv1d(4, 6, 3, dtype=np.float64, rng=0, **kwargs)
    cl = conv1d.Conv1d(4, 6, 3, dtype=np.float64, rng=0, data_format="channels_last", **kwargs)
    return cf, cl


def test_module_channels_last_trains_like_channels_first():
    cf, cl = pair(stride=2, padding=2, padding_mode="circular", groups=2)
    rng = np.random.default_rng(2)
    opts = [conv1d.optim.SGD(m.parameters(), lr=0.1, momentum=0.5) for m in (cf, cl)]
    for _ in range(3):
        x = rng.standard_normal((5, 4, 21))
        y, yl = cf(x), cl(x.transpose(0, 2, 1))
        np.testing.assert_allclose(yl, y.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
        gy = rng.standard_normal(y.shape)
        # Two backward passes accumulate, as PyTorch's do.
        for _ in range(2):
            gx, gxl = cf.backward(gy), cl.backward(gy.transpose(0, 2, 1))
            np.testing.assert_allclose(gxl, gx.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
        for a, b in zip(cf.parameters(), cl.parameters(), strict=True):
            np.testing.assert_allclose(b.grad, a.grad, rtol=1e-12, atol=1e-12)
        single = conv1d.functional.conv1d_backward(
            gy, x, np.asarray(cf.weight), np.asarray(cf.bias), stride=2, padding=2,
            padding_mode="circular", groups=2)
        np.testing.assert_allclose(cl.weight.grad, 2 * single.weight, rtol=1e-12, atol=1e-12)
        for opt in opts:
            opt.step()
            opt.zero_grad()
    for a, b in zip(cf.parameters(), cl.parameters(), strict=True):
        np.testing.assert_allclose(b, a, rtol=1e-12, atol=1e-12)


def test_module_unbatched_channels_last():
    cf, cl = pair(padding="causal")
    x = np.random.default_rng(3).standard_normal((4, 12))
    y, yl = cf(x), cl(x.T)
    assert yl.shape == (12, 6)
    np.testing.assert_allclose(yl, y.T, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(cl.backward(np.ones_like(yl)), cf.backward(np.ones_like(y)).T,
                               rtol=1e-12, atol=1e-12)


def test_repr_and_pickle():
    m = conv1d.Conv1d(4, 6, 3, padding=1, data_format="channels_last")
    assert repr(m) == "Conv1d(4, 6, kernel_size=(3,), stride=(1,), padding=(1,), data_format=channels_last)"
    assert "data_format" not in repr(conv1d.Conv1d(4, 6, 3, data_format="channels_first"))
    m2 = pickle.loads(pickle.dumps(m))
    assert m2.data_format == "channels_last" and m2(np.ones((10, 4))).shape == (10, 6)
    assert list(m.state_dict()) == ["weight", "bias"]
    assert m.weight.shape == (6, 4, 3)  # PyTorch's layout whatever the data's


BAD_FORMATS = ["NLC", "channels-last", None, 1, ("channels_last",)]
MESSAGE = f"data_format must be one of {DATA_FORMATS}, got "


@pytest.mark.parametrize("bad", BAD_FORMATS)
def test_bad_data_format(bad):
    x, w = np.ones((2, 4, 10)), np.ones((3, 4, 3))
    for call in (lambda: F.conv1d(x, w, data_format=bad),
                 lambda: F.conv1d_backward(np.ones((2, 3, 8)), x, w, data_format=bad),
                 lambda: conv1d.Conv1d(4, 3, 3, data_format=bad)):
        with pytest.raises(ValueError, match=re.escape(MESSAGE)):
            call()


def test_data_format_is_keyword_only():
    with pytest.raises(TypeError):
        F.conv1d(np.ones((1, 4, 10)), np.ones((3, 4, 3)), None, 1, 0, 1, 1, "zeros", "auto",
                 "channels_last")
    with pytest.raises(TypeError):
        conv1d.Conv1d(4, 3, 3, 1, 0, 1, 1, True, "zeros", "channels_last")


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ((2, 10, 4), "expected input with 10 channels on its last axis (in_channels=10, groups=1, "
                     "data_format='channels_last'), got input of shape (2, 10, 4)"),
        ((4, 7), "expected input with 10 channels on its last axis"),
        ((10,), "expected a 2-D (L, C_in) or 3-D (N, L, C_in) input (data_format='channels_last'), "
                "got shape (10,)"),
    ],
)
def test_channel_errors_name_the_last_axis(shape, message):
    m = conv1d.Conv1d(10, 3, 3, data_format="channels_last", rng=0)
    w = np.array(m.weight)
    with pytest.raises(ValueError, match=re.escape(message)):
        m(np.ones(shape))
    assert m._input is None and np.array_equal(m.weight, w)  # nothing changed
    with pytest.raises(ValueError, match=r"channels on its last axis|3-D \(N, L, C_in\)"):
        F.conv1d(np.ones(shape), w, data_format="channels_last")


def test_grad_output_shape_error_is_in_the_layout():
    m = conv1d.Conv1d(4, 6, 3, data_format="channels_last", rng=0)
    m(np.ones((2, 10, 4)))
    with pytest.raises(ValueError, match=r"last output's shape \(2, 8, 6\), got \(2, 6, 8\)"):
        m.backward(np.ones((2, 6, 8)))
    assert m.weight.grad is None
    with pytest.raises(ValueError, match=r"output's shape \(2, 8, 6\), got \(2, 6, 8\)"):
        F.conv1d_backward(np.ones((2, 6, 8)), np.ones((2, 10, 4)), np.ones((6, 4, 3)),
                          data_format="channels_last")
