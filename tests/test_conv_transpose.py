"""ConvTranspose1d against PyTorch: every argument at once, every algorithm, every gradient.

The oracle is ``torch.nn.functional.conv_transpose1d`` (``torch.nn.ConvTranspose1d`` for the
layer). A ``(left, right)`` padding pair, which PyTorch lacks, is checked against PyTorch's
uncropped output cropped by ``torch.nn.functional.pad`` with negative amounts.
"""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import conv1d
from conv1d import functional as F
from conv1d.algorithms import ALGORITHMS
from conv1d.functional_transpose import ConvTransposeSpec
from tests.oracle import tolerance

GRID = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@st.composite
def transpose_cases(draw, max_length=12):
    """``(x, w, b, kwargs)`` for one random valid transposed convolution."""
    if draw(st.booleans()):  # depthwise, with a channel multiplier
        groups = cin = draw(st.integers(1, 4))
        cout = cin * draw(st.integers(1, 2))
    else:
        groups = draw(st.integers(1, 3))
        cin, cout = groups * draw(st.integers(1, 3)), groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 5))
    stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 3))
    op = draw(st.integers(0, max(stride, dilation) - 1))
    length = draw(st.integers(1, max_length))
    full = (length - 1) * stride + dilation * (k - 1) + 1
    # Any padding that leaves L_out >= 1.
    kind = draw(st.sampled_from(["int", "tuple", "pair"]))
    if kind == "pair":
        left = draw(st.integers(0, full + op - 1))
        padding = (left, draw(st.integers(0, full + op - 1 - left)))
    else:
        p = draw(st.integers(0, (full + op - 1) // 2))
        padding = p if kind == "int" else (p,)
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    batch = draw(st.sampled_from([None, 0, 1, 2, 3]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (cin, length) if batch is None else (batch, cin, length)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((cin, cout // groups, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if draw(st.booleans()) else None
    kwargs = dict(stride=stride, padding=padding, output_padding=op, groups=groups,
                  dilation=dilation)
    if draw(st.booleans()):
        kwargs.update(stride=(stride,), dilation=(dilation,), output_padding=(op,))
    return x, w, b, kwargs


def torch_transpose(x, w, b, gy, *, stride=1, padding=0, output_padding=0, groups=1,
                    dilation=1):
    """PyTorch's output and ``(grad_input, grad_weight, grad_bias)`` as NumPy arrays."""
    xt = torch.from_numpy(np.ascontiguousarray(x)).requires_grad_()
    wt = torch.from_numpy(np.ascontiguousarray(w)).requires_grad_()
    bt = None if b is None else torch.from_numpy(np.ascontiguousarray(b)).requires_grad_()
    if isinstance(padding, tuple) and len(padding) == 2:
        # PyTorch has no asymmetric padding: its full output, the output padding's zeros added,
        # cropped, then the bias everywhere, as the layer defines it.
        op = output_padding[0] if isinstance(output_padding, tuple) else output_padding
        yf = TF.pad(TF.conv_transpose1d(xt, wt, None, stride, 0, 0, groups, dilation), (0, op))
        y = yf[..., padding[0] : yf.shape[-1] - padding[1]]
        if bt is not None:
            y = y + bt[:, None]
    else:
        y = TF.conv_transpose1d(xt, wt, bt, stride, padding, output_padding, groups, dilation)
    y.backward(torch.from_numpy(np.ascontiguousarray(gy)))
    return y.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy(),
                                None if bt is None else bt.grad.numpy())


def check(x, w, b, *, algorithm="auto", seed=0, **kw):
    """Forward and all gradients of :func:`conv_transpose1d` against PyTorch."""
    y = F.conv_transpose1d(x, w, b, **kw, algorithm=algorithm)
    gy = np.random.default_rng(seed).standard_normal(y.shape).astype(y.dtype)
    g = F.conv_transpose1d_backward(gy, x, w, b, **kw, algorithm=algorithm)
    y_t, (gx_t, gw_t, gb_t) = torch_transpose(x, w, b, gy, **kw)
    assert y.dtype == y_t.dtype and y.shape == y_t.shape
    c_in, og, k = w.shape
    groups = kw.get("groups", 1)
    # Each output sums at most C_in/g * K products (plus the bias); each input gradient
    # C_out/g * K; each weight gradient N * L_in; the bias's N * L_out.
    tol = tolerance(y.dtype, c_in // groups * k + 1, x, w)
    tol["atol"] += 4 * float(np.finfo(y.dtype).eps) * float(np.max(np.abs(b), initial=0) if b
                                                             is not None else 0)
    np.testing.assert_allclose(y, y_t, **tol, err_msg="output")
    np.testing.assert_allclose(g.input, gx_t, **tolerance(y.dtype, og * k, gy, w), err_msg="input")
    n_in = x.size // c_in
    np.testing.assert_allclose(g.weight, gw_t, **tolerance(y.dtype, n_in, gy, x), err_msg="weight")
    if b is None:
        assert g.bias is None
    else:
        n_out = y.size // y.shape[-2 if y.ndim == 3 else 0]
        np.testing.assert_allclose(g.bias, gb_t, **tolerance(y.dtype, n_out, gy, np.ones(1)),
                                   err_msg="bias")
    return y, g


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@GRID
@given(case=transpose_cases())
def test_grid(algorithm, case):
    x, w, b, kwargs = case
    check(x, w, b, algorithm=algorithm, **kwargs)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
def test_issue_shapes_small(algorithm):
    """The issue's bench cases, shrunk in batch, length and channels."""
    rng = np.random.default_rng(0)
    for cin, cout, k, s, p, op, g in [(16, 8, 16, 8, 4, 0, 1), (16, 1, 16, 8, 0, 0, 1),
                                      (8, 4, 4, 2, 1, 0, 1), (16, 16, 5, 2, 2, 1, 8)]:
        x = rng.standard_normal((2, cin, 20))
        w = rng.standard_normal((cin, cout // g, k))
        check(x, w, rng.standard_normal(cout), algorithm=algorithm, stride=s, padding=p,
              output_padding=op, groups=g)


def test_long_kernel_auto_can_choose_fft():
    """A long depthwise kernel: auto picks what it picks for the equivalent convolution."""
    from conv1d.algorithms import choose

    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 8, 600)), rng.standard_normal((8, 1, 511))
    # Only a long signal makes the FFT the clear choice (the native row kernel is level with it
    # on short ones); the check below runs whatever auto picks for the short one.
    spec = ConvTransposeSpec.from_args(8, 8, 1023, groups=8)
    assert choose(spec.problem(2, 16384, np.dtype(np.float64))) == "fft"
    check(x, w, None, groups=8)


def test_non_contiguous_inputs():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 40, 6)).transpose(0, 2, 1)[:, :, ::2]
    w = np.asfortranarray(rng.standard_normal((6, 4, 3)))
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    check(x, w, rng.standard_normal(4), stride=2, padding=1)


# ------------------------------------------------------------------------------- errors


@pytest.mark.parametrize("kwargs, exc, match", [
    (dict(output_padding=2, stride=2), ValueError, "output_padding must be smaller than either "
                                                    "stride or dilation.*output_padding=2"),
    (dict(output_padding=1), ValueError, "output_padding.*stride=1 and dilation=1"),
    (dict(output_padding=-1), ValueError, "output_padding must be >= 0"),
    (dict(padding_mode="reflect"), ValueError, "padding_mode must be 'zeros'.*'reflect'"),
    (dict(padding_mode="xyz"), ValueError, "padding_mode.*'xyz'"),
    (dict(padding="same"), ValueError, "padding must be an int.*'same'"),
    (dict(padding=-1), ValueError, "padding must be >= 0"),
    (dict(padding=1.5), TypeError, "padding must be an int"),
    (dict(stride=0), ValueError, "stride must be positive"),
    (dict(dilation=(1, 2)), ValueError, "dilation must be an int or a 1-tuple"),
    (dict(groups=4), ValueError, "in_channels must be divisible by groups"),
    (dict(groups=2, in_channels=4), ValueError, "out_channels must be divisible by groups"),
    (dict(kernel_size=0), ValueError, "kernel_size must be positive"),
    (dict(bias=1), TypeError, "bias must be True or False"),
    (dict(dtype=np.int32), ValueError, "dtype must be"),
    (dict(algorithm=3), TypeError, "algorithm must be a string"),
    (dict(data_format="NCL"), ValueError, "data_format must be one of"),
])
def test_constructor_errors(kwargs, exc, match):
    args = dict(in_channels=2, out_channels=3, kernel_size=3)
    args.update(kwargs)
    with pytest.raises(exc, match=match):
        conv1d.ConvTranspose1d(**args)


def test_pytorch_refuses_what_we_refuse():
    """The rules above are PyTorch's: it raises on the same arguments."""
    x, w = torch.zeros(1, 2, 5), torch.zeros(2, 3, 3)
    for kw in (dict(output_padding=2, stride=2), dict(output_padding=1)):
        with pytest.raises(RuntimeError, match="output padding must be smaller"):
            TF.conv_transpose1d(x, w, **kw)
    with pytest.raises(ValueError, match="zeros"):
        torch.nn.ConvTranspose1d(2, 3, 3, padding_mode="reflect")


def test_call_errors_leave_the_layer_unchanged():
    m = conv1d.ConvTranspose1d(2, 3, 3, stride=2, rng=0)
    x = np.ones((1, 2, 5), np.float32)
    m(x)
    before = (m.weight.copy(), m._input)
    cases = [
        (np.ones((1, 3, 5)), ValueError, "expected input with 2 channels"),
        (np.ones((1, 2, 0)), ValueError, "input of length >= 1"),
        (np.ones(5), ValueError, "2-D or 3-D"),
        (np.ones((1, 2, 5), complex), TypeError, "input must be a real"),
    ]
    for bad, exc, match in cases:
        with pytest.raises(exc, match=match):
            m(bad)
    with pytest.raises(ValueError, match=r"output_size: requested an output length of 13, but "
                                         r"valid lengths range from 11 to 12"):
        m(x, output_size=[13])
    with pytest.raises(ValueError, match="output_size must have 1 or 3 elements"):
        m(x, output_size=(1, 11))
    with pytest.raises(ValueError, match=r"grad_output must have the last output's shape \(1, 3, 11\)"):
        m.backward(np.ones((1, 3, 12)))
    assert np.array_equal(m.weight, before[0]) and m._input is before[1] and m.weight.grad is None


def test_functional_errors():
    x, w = np.ones((1, 4, 5)), np.ones((4, 3, 2))
    with pytest.raises(ValueError, match=r"weight must be 3-D \(in_channels, out_channels/groups"):
        F.conv_transpose1d(x, w[0])
    with pytest.raises(ValueError, match=r"bias must have shape \(6,\)"):
        F.conv_transpose1d(x, w, np.ones(3), groups=2)
    with pytest.raises(ValueError, match="crops all of the output"):
        F.conv_transpose1d(x, w, padding=4)  # (5-1) + 2 - 8 = -2
    with pytest.raises(ValueError, match="algorithm must be one of"):
        F.conv_transpose1d(x, w, algorithm="winograd")
    with pytest.raises(ValueError, match=r"grad_output must have the output's shape \(1, 3, 6\)"):
        F.conv_transpose1d_backward(np.ones((1, 3, 5)), x, w)
    with pytest.raises(TypeError, match="weight must be a real"):
        F.conv_transpose1d(x, w.astype(bool))


def test_empty_output_is_refused_as_pytorch_does():
    x, w = np.ones((1, 3, 1)), np.ones((3, 2, 2))
    with pytest.raises(ValueError, match="L_out must be >= 1"):
        F.conv_transpose1d(x, w, padding=1)  # L_out = 0 + 1 + 1 - 2 = 0
    with pytest.raises(RuntimeError, match="Output size is too small"):
        TF.conv_transpose1d(torch.ones(1, 3, 1), torch.ones(3, 2, 2), padding=1)


# -------------------------------------------------------------------------------- layer


@pytest.mark.parametrize("args, kwargs", [
    ((16, 33, 3), dict(stride=2)),
    ((4, 6, 3), dict(stride=2, padding=1, output_padding=1, groups=2, bias=False, dilation=2)),
    ((512, 256, 16), dict(stride=8, padding=4)),
    ((8, 8, 5), dict(groups=8, dilation=3, output_padding=2)),
])
def test_layer_matches_torch_module(args, kwargs):
    """repr, parameter shapes, state-dict keys, initial scale, output_size and all gradients."""
    ours = conv1d.ConvTranspose1d(*args, **kwargs, dtype=np.float64, rng=0)
    theirs = torch.nn.ConvTranspose1d(*args, **kwargs, dtype=torch.float64)
    assert repr(ours) == repr(theirs)
    sd = theirs.state_dict()
    assert list(ours.state_dict()) == list(sd)
    assert all(ours.state_dict()[k].shape == tuple(v.shape) for k, v in sd.items())
    # Initialisation: PyTorch's bound, 1/sqrt(fan_in) with fan_in = weight.size(1) * K.
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(theirs.weight)
    bound = 1 / np.sqrt(fan_in)
    assert np.abs(ours.weight).max() <= bound and np.abs(ours.weight).max() > 0.9 * bound
    ours.load_state_dict({k: v.numpy() for k, v in sd.items()})
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, args[0], 7))
    for size in (None, "max"):
        xt = torch.from_numpy(x).requires_grad_()
        out_size = None
        if size == "max":
            out_size = [theirs(xt).shape[-1] - theirs.output_padding[0] + theirs.stride[0] - 1]
        yt = theirs(xt, output_size=out_size)
        y = ours(x, output_size=out_size)
        np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-10)
        assert ours.output_length(7, out_size) == y.shape[-1]
        gy = rng.standard_normal(y.shape)
        theirs.zero_grad()
        ours.zero_grad()
        yt.backward(torch.from_numpy(gy))
        gx = ours.backward(gy)
        np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-10)
        np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(), rtol=1e-10,
                                   atol=1e-10)
        if ours.bias is not None:
            np.testing.assert_allclose(ours.bias.grad, theirs.bias.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=transpose_cases(), data=st.data())
def test_layer_grid_with_output_size(algorithm, case, data):
    """The layer against torch.nn.ConvTranspose1d, ``output_size`` drawn from PyTorch's range."""
    x, w, b, kw = case
    padding = kw["padding"] if isinstance(kw["padding"], int) else kw["padding"][0]  # symmetric
    stride, dilation = (kw[k] if isinstance(kw[k], int) else kw[k][0] for k in ("stride", "dilation"))
    op = kw["output_padding"] if isinstance(kw["output_padding"], int) else kw["output_padding"][0]
    c_in, og, k = w.shape
    length = x.shape[-1]
    # PyTorch's range for output_size: [L_min, L_min + stride - 1], L_min without output padding.
    low = (length - 1) * stride - 2 * padding + dilation * (k - 1) + 1
    size = data.draw(st.sampled_from([None, *range(max(low, 1), low + stride)]))
    if size is None and low + op < 1:
        return
    args = (c_in, og * kw["groups"], k, stride, padding, op, kw["groups"], b is not None, dilation)
    ours = conv1d.ConvTranspose1d(*args, dtype=x.dtype, algorithm=algorithm)
    theirs = torch.nn.ConvTranspose1d(*args, dtype=torch.from_numpy(x).dtype)
    ours.load_state_dict({name: v.detach().numpy() for name, v in theirs.state_dict().items()})
    xt = torch.from_numpy(x).requires_grad_()
    out_size = None if size is None else [size]
    yt = theirs(xt, output_size=out_size)
    y = ours(x, output_size=out_size)
    assert y.shape == tuple(yt.shape) and y.dtype == x.dtype
    wn = np.asarray(ours.weight)
    tol = tolerance(x.dtype, c_in // kw["groups"] * k + 1, x, wn)
    tol["atol"] += 1e-6 if x.dtype == np.float32 else 1e-14  # the bias (|b| < 1)
    np.testing.assert_allclose(y, yt.detach().numpy(), **tol)
    gy = np.random.default_rng(0).standard_normal(y.shape).astype(x.dtype)
    yt.backward(torch.from_numpy(gy))
    gx = ours.backward(gy)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **tolerance(x.dtype, og * k, gy, wn))
    np.testing.assert_allclose(ours.weight.grad, theirs.weight.grad.numpy(),
                               **tolerance(x.dtype, x.size // c_in, gy, x))


def test_output_size_can_rescue_a_too_short_output():
    """PyTorch checks the length with the output padding output_size implies, not the layer's."""
    m = conv1d.ConvTranspose1d(1, 1, 2, stride=3, padding=1, dtype=np.float64, rng=0)
    x = np.ones((1, 1, 1))
    with pytest.raises(ValueError, match="L_out must be >= 1"):
        m(x)  # 0 + 2 - 2 = 0
    t = torch.nn.ConvTranspose1d(1, 1, 2, stride=3, padding=1, dtype=torch.float64)
    yt = t(torch.ones(1, 1, 1, dtype=torch.float64), output_size=[2])
    assert m(x, output_size=[2]).shape == tuple(yt.shape) == (1, 1, 2)
    assert m.output_length(1, output_size=2) == 2


def test_layer_unbatched_and_output_size_forms():
    m = conv1d.ConvTranspose1d(3, 2, 4, stride=3, dtype=np.float64, rng=0)
    x = np.random.default_rng(0).standard_normal((3, 6))
    y = m(x)
    assert y.shape == (2, 19)
    np.testing.assert_allclose(y, m(x[None])[0], rtol=0, atol=0)
    for size in (21, [21], (2, 21), np.array([21])):
        assert m(x, output_size=size).shape == (2, 21)
    gx = m.backward(np.ones((2, 21)))
    assert gx.shape == (3, 6)


def test_gradients_accumulate_and_pickle_drops_the_input():
    import pickle

    m = conv1d.ConvTranspose1d(2, 2, 3, rng=0)
    x = np.ones((1, 2, 4), np.float32)
    m.backward(np.ones_like(m(x)))
    g1 = m.weight.grad.copy()
    m.backward(np.ones_like(m(x)))
    np.testing.assert_allclose(m.weight.grad, 2 * g1)
    clone = pickle.loads(pickle.dumps(m))
    assert clone._input is None and np.array_equal(clone.weight, m.weight)


def test_in_a_sequential_with_conv1d_trains():
    """An autoencoder: Conv1d down, ConvTranspose1d up; SGD lowers the loss."""
    net = conv1d.Sequential(conv1d.Conv1d(1, 4, 4, stride=2, padding=1, rng=0), conv1d.ReLU(),
                            conv1d.ConvTranspose1d(4, 1, 4, stride=2, padding=1, rng=1))
    x = np.sin(np.linspace(0, 20, 64, dtype=np.float32))[None, None].repeat(4, 0)
    opt = conv1d.optim.SGD(net.parameters(), lr=0.05)
    losses = []
    for _ in range(30):
        y = net(x)
        losses.append(float(((y - x) ** 2).mean()))
        net.zero_grad()
        net.backward(2 * (y - x) / y.size)
        opt.step()
    assert y.shape == x.shape and losses[-1] < 0.5 * losses[0]


# ---------------------------------------------------------------- half and channels-last


@pytest.mark.parametrize("dtype", [np.float16, ml_dtypes.bfloat16], ids=["float16", "bfloat16"])
def test_half_is_float32_rounded_once(dtype):
    """Half layers compute in float32 and round each result once: within an ulp of float64."""
    m = conv1d.ConvTranspose1d(8, 4, 5, stride=2, padding=1, output_padding=1, dtype=dtype, rng=0)
    ref = conv1d.ConvTranspose1d(8, 4, 5, stride=2, padding=1, output_padding=1,
                                 dtype=np.float64, rng=0)
    ref.load_state_dict({k: v.astype(np.float64) for k, v in m.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, 8, 30)).astype(dtype)
    y = m(x)
    assert y.dtype == np.dtype(dtype)
    y64 = ref(x.astype(np.float64))
    eps = float(ml_dtypes.finfo(dtype).eps)
    np.testing.assert_allclose(y.astype(np.float64), y64, rtol=eps, atol=eps * 1e-2)
    gy = np.random.default_rng(1).standard_normal(y.shape).astype(dtype)
    gx = m.backward(gy)
    gx64 = ref.backward(gy.astype(np.float64))
    assert gx.dtype == np.dtype(dtype) and m.weight.grad.dtype == np.dtype(dtype)
    np.testing.assert_allclose(gx.astype(np.float64), gx64, rtol=eps, atol=eps * 1e-2)
    np.testing.assert_allclose(m.weight.grad.astype(np.float64), ref.weight.grad, rtol=eps,
                               atol=eps * 1e-2 * np.abs(ref.weight.grad).max())


def test_functional_half_promotion():
    x, w = np.ones((1, 2, 5), np.float16), np.ones((2, 3, 3), np.float16)
    assert F.conv_transpose1d(x, w).dtype == np.float16
    assert F.conv_transpose1d(x, w.astype(np.float32)).dtype == np.float32


def test_channels_last_layer_and_functional():
    rng = np.random.default_rng(0)
    kw = dict(stride=3, padding=2, output_padding=1, groups=2, dilation=2)
    first = conv1d.ConvTranspose1d(4, 6, 3, **kw, dtype=np.float64, rng=0)
    last = conv1d.ConvTranspose1d(4, 6, 3, **kw, dtype=np.float64, rng=0,
                                  data_format="channels_last")
    assert repr(last).endswith("data_format=channels_last)")
    x = rng.standard_normal((2, 4, 9))
    y = first(x)
    yl = last(x.transpose(0, 2, 1))
    np.testing.assert_allclose(yl, y.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    gy = rng.standard_normal(y.shape)
    gx = first.backward(gy)
    gxl = last.backward(gy.transpose(0, 2, 1))
    np.testing.assert_allclose(gxl, gx.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(last.weight.grad, first.weight.grad, rtol=1e-12)
    w = np.asarray(first.weight)
    np.testing.assert_allclose(F.conv_transpose1d(x[0].T, w, **kw, data_format="channels_last"),
                               F.conv_transpose1d(x[0], w, **kw).T, rtol=1e-12, atol=1e-12)
    g = F.conv_transpose1d_backward(gy.transpose(0, 2, 1), x.transpose(0, 2, 1), w, **kw,
                                    data_format="channels_last")
    np.testing.assert_allclose(g.input, gx.transpose(0, 2, 1), rtol=1e-12, atol=1e-12)
