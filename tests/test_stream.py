"""Causal and asymmetric padding, the layer's introspection, and exact streaming.

Streaming is checked against the layer itself on the whole signal (which
``test_against_torch`` checks against PyTorch): for every argument of the grid and random
chunkings (empty chunks, chunks of one sample, chunks shorter than the kernel or the stride).

Tolerances: a streamed output sample is the same sum of products as the offline one, but
the algorithm may sum it in another order (``"auto"`` can pick a different algorithm for a
short window than for the whole signal; BLAS blocks differently). float64 must agree to
1e-12 relative to the size of the terms; float32 within the bound on two summation orders
that ``tests.oracle.tolerance`` derives (the same bound the torch comparison uses).
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conv1d import Conv1d, GlobalAvgPool1d, ReLU, Sequential
from conv1d import functional as F
from conv1d.algorithms import native
from tests.oracle import check, tolerance
from tests.strategies import conv_cases

GRID = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
STACKS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
MODES = ("zeros", "reflect", "replicate")


# ---------------------------------------------------------------------------------------
# helpers


def layer_for(x, w, b, kwargs, **extra):
    """A Conv1d holding ``w`` and ``b``, in ``x``'s dtype, with conv_cases' arguments."""
    c_out, cg, k = w.shape
    g = kwargs.get("groups", 1)
    m = Conv1d(cg * g, c_out, k, kwargs["stride"], kwargs["padding"], kwargs["dilation"], g,
               b is not None, kwargs["padding_mode"], dtype=x.dtype, **extra)
    m.weight[...] = w
    if b is not None:
        m.bias[...] = b
    return m


@st.composite
def cuts(draw, length):
    """Chunk boundaries ``0 = c_0 <= c_1 <= ... = length``: repeats are empty chunks."""
    kind = draw(st.sampled_from(["random", "random", "ones", "whole"]))
    if kind == "ones":
        return [0, *range(length + 1)]  # an empty chunk first, then one sample at a time
    if kind == "whole":
        return [0, length]
    inner = draw(st.lists(st.integers(0, length), max_size=10))
    return sorted([0, *inner, length])


def stream_all(s, x, boundaries, axis=-1):
    """Everything the stream returns for ``x`` cut at ``boundaries``, then flush."""
    parts = []
    for a, b in itertools.pairwise(boundaries):
        parts.append(s(np.take(x, np.arange(a, b), axis=axis)))
    parts.append(s.flush())
    return parts


def assert_close(got, want, x, w, b):
    """Within the tolerance of two summation orders (see the module docstring)."""
    assert got.shape == want.shape and got.dtype == want.dtype
    n_terms = w.shape[1] * w.shape[2] + 1
    bias = 0.0 if b is None else float(np.max(np.abs(b), initial=0))
    if want.dtype == np.float64:
        scale = n_terms * float(np.max(np.abs(x), initial=0) * np.max(np.abs(w))) + bias
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * scale + 1e-300)
    else:
        tol = tolerance(want.dtype, n_terms, x, w)
        tol["atol"] += 4 * float(np.finfo(want.dtype).eps) * bias
        np.testing.assert_allclose(got, want, **tol)


def emission(stream_layers, j):
    """Input sample whose arrival returns output ``j`` (-1: the first call), from the specs.

    Per layer, output ``j`` needs input sample ``j*stride + delay`` and, before its left
    padding exists, the samples it copies: none (zeros), sample 0 (replicate), sample
    ``pad_left`` (reflect). Layers compose: the stack's output ``j`` needs layer ``n``'s
    output ``e_n(j)``, which needs layer ``n-1``'s ``e_{n-1}(e_n(j))``, and so on.
    """
    for m in reversed(stream_layers):
        if j < 0:
            return -1
        if isinstance(m, Conv1d):
            sp = m.spec
            hold = -1 if sp.pad_left == 0 or sp.padding_mode == "zeros" else (
                0 if sp.padding_mode == "replicate" else sp.pad_left)
            j = max(j * sp.stride + sp.span - 1 - sp.pad_left, hold)
    return j


# ---------------------------------------------------------------------------------------
# causal and asymmetric padding


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 3])
def test_causal_every_mode_and_stride_against_torch(mode, stride, dilation):
    rng = np.random.default_rng(stride * 10 + dilation)
    x = rng.standard_normal((2, 4, 23))
    w = rng.standard_normal((6, 2, 3))
    check(x, w, rng.standard_normal(6), padding="causal", stride=stride, dilation=dilation,
          groups=2, padding_mode=mode)


@pytest.mark.parametrize("stride", [1, 2, 3])
@pytest.mark.parametrize("dilation", [1, 2])
@pytest.mark.parametrize("kernel_size", [1, 2, 4])
def test_causal_is_keras(stride, dilation, kernel_size):
    """Keras' Conv1D(padding="causal"): ``y[t] = b + sum_k w[k] x[t*s - (K-1-k)*d]``, x<0 = 0.

    Keras' output length is ``ceil(L / stride)`` (``conv_utils.conv_output_length``).
    """
    rng = np.random.default_rng(0)
    length = 17
    x = rng.standard_normal((3, length))
    w = rng.standard_normal((2, 3, kernel_size))
    b = rng.standard_normal(2)
    y = F.conv1d(x, w, b, stride=stride, dilation=dilation, padding="causal")
    want = np.empty((2, -(-length // stride)))
    for t in range(want.shape[1]):
        for o in range(2):
            want[o, t] = b[o] + sum(
                w[o, c, k] * x[c, t * stride - (kernel_size - 1 - k) * dilation]
                for c in range(3) for k in range(kernel_size)
                if t * stride - (kernel_size - 1 - k) * dilation >= 0
            )
    np.testing.assert_allclose(y, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("stride", [1, 2])
def test_causal_output_never_sees_the_future(mode, stride):
    """Output ``j`` reads input up to ``j*stride`` only, except reflect's left padding,
    which copies ``x[1 : pad_left + 1]`` (so there: up to ``max(j*stride, pad_left)``)."""
    rng = np.random.default_rng(1)
    m = Conv1d(2, 3, 3, stride, "causal", dilation=2, padding_mode=mode, dtype=np.float64, rng=0)
    x = rng.standard_normal((2, 20))
    y = m(x)
    for j in range(y.shape[1]):
        last = max(j * stride, m.padding_amounts[0]) if mode == "reflect" else j * stride
        x2 = x.copy()
        x2[:, last + 1:] = rng.standard_normal((2, 20 - last - 1))
        np.testing.assert_array_equal(m(x2)[:, j], y[:, j])


def test_causal_is_the_pair_left_total_right_zero():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 3, 15)), rng.standard_normal((4, 3, 3))
    for mode in MODES:
        np.testing.assert_array_equal(
            F.conv1d(x, w, padding="causal", dilation=2, padding_mode=mode),
            F.conv1d(x, w, padding=(4, 0), dilation=2, padding_mode=mode))


# ---------------------------------------------------------------------------------------
# introspection


@pytest.mark.parametrize(("padding", "kernel_size", "dilation", "amounts"), [
    (0, 3, 1, (0, 0)), (2, 3, 1, (2, 2)), ((3,), 3, 1, (3, 3)), ((1, 4), 3, 1, (1, 4)),
    ("valid", 5, 2, (0, 0)), ("same", 5, 1, (2, 2)), ("same", 4, 1, (1, 2)),
    ("same", 4, 3, (4, 5)), ("causal", 3, 1, (2, 0)), ("causal", 4, 3, (9, 0)),
])
def test_padding_amounts_receptive_field_output_length(padding, kernel_size, dilation, amounts):
    m = Conv1d(2, 3, kernel_size, padding=padding, dilation=dilation, rng=0)
    assert m.padding_amounts == amounts
    assert m.receptive_field == dilation * (kernel_size - 1) + 1
    for length in (m.receptive_field, 30, 31):
        assert m.output_length(length) == m(np.zeros((2, length))).shape[-1]


def test_output_length_errors():
    m = Conv1d(1, 1, 5)
    with pytest.raises(ValueError, match="kernel size can't be greater"):
        m.output_length(4)
    with pytest.raises(ValueError, match="length must be >= 0, got -1"):
        m.output_length(-1)
    with pytest.raises(TypeError, match="length must be an int"):
        m.output_length(4.0)
    with pytest.raises(ValueError, match="reflect"):
        Conv1d(1, 1, 3, padding=3, padding_mode="reflect").output_length(3)


# ---------------------------------------------------------------------------------------
# streaming equals offline


@GRID
@given(case=conv_cases(modes=(*MODES, "circular")), data=st.data())
def test_stream_equals_offline_on_the_grid(case, data):
    x, w, b, kwargs = case
    m = layer_for(x, w, b, kwargs)
    if kwargs["padding_mode"] == "circular" and any(m.padding_amounts):
        with pytest.raises(ValueError, match="padding_mode='circular' cannot stream"):
            m.stream()
        return
    s = m.stream()
    boundaries = data.draw(cuts(x.shape[-1]))
    parts = stream_all(s, x, boundaries)
    assert all(p.shape[:-1] == parts[-1].shape[:-1] for p in parts)
    assert_close(np.concatenate(parts, axis=-1), m(x), x, w, b)
    # A second signal after reset, in other chunks: the state starts afresh.
    s.reset()
    assert_close(np.concatenate(stream_all(s, x, [0, 1, 1, x.shape[-1]]), axis=-1), m(x), x, w, b)


@st.composite
def stacks(draw):
    """A random Sequential of 1-3 Conv1d (ReLU between, maybe after) and a signal for it."""
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    channels = draw(st.integers(1, 3))
    layers = []
    for i in range(draw(st.integers(1, 3))):
        if i:
            layers.append(ReLU())
        k, stride, dilation = draw(st.integers(1, 4)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
        padding = draw(st.sampled_from(
            [0, 1, 3, (0, 2), (3, 1), "valid", "causal"] + (["same"] if stride == 1 else [])))
        out = draw(st.integers(1, 3))
        layers.append(Conv1d(channels, out, k, stride, padding, dilation,
                             padding_mode=draw(st.sampled_from(MODES)), dtype=np.float64,
                             rng=rng))
        channels = out
    if draw(st.booleans()):
        layers.append(ReLU())
    net = Sequential(*layers)
    batch = draw(st.sampled_from([None, 1, 2]))
    length = draw(st.integers(1, 60))
    c_in = layers[0].in_channels
    x = rng.standard_normal((c_in, length) if batch is None else (batch, c_in, length))
    return net, x


@STACKS
@given(case=stacks(), data=st.data())
def test_stack_stream_equals_offline(case, data):
    net, x = case
    try:
        want = net(x)
    except ValueError:  # the signal is too short for some layer: streaming must say so too
        s = net.stream()
        s(x)
        with pytest.raises(ValueError):
            s.flush()
        return
    s = net.stream()
    got = np.concatenate(stream_all(s, x, data.draw(cuts(x.shape[-1]))), axis=-1)
    assert got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * (1 + np.max(np.abs(want))))


@pytest.mark.parametrize("dtype", [np.float32, np.float16])
def test_float32_and_half_layers(dtype):
    rng = np.random.default_rng(3)
    m = Conv1d(4, 5, 3, padding="same", dilation=2, padding_mode="reflect", dtype=dtype, rng=0)
    x = rng.standard_normal((2, 4, 200)).astype(dtype)
    got = np.concatenate(stream_all(m.stream(), x, [0, 5, 6, 70, 70, 199, 200]), axis=-1)
    want = m(x)
    assert got.dtype == want.dtype == dtype
    # float16 output: float32 sums, each rounded once to float16; two orders may round apart.
    atol = 2 * float(np.finfo(dtype).eps) * float(np.max(np.abs(want))) if dtype == np.float16 else 0
    if dtype == np.float32:
        assert_close(got, want, x, np.asarray(m.weight), np.asarray(m.bias))
    else:
        np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), atol=atol)


def test_channels_last_layer_streams_channels_last_chunks():
    rng = np.random.default_rng(4)
    m = Conv1d(3, 2, 4, stride=2, padding=(3, 1), padding_mode="replicate", dtype=np.float64,
               data_format="channels_last", rng=0)
    x = rng.standard_normal((2, 41, 3))  # (N, L, C)
    parts = stream_all(m.stream(), x, [0, 1, 2, 9, 40, 41], axis=1)
    assert all(p.shape[0] == 2 and p.shape[2] == 2 for p in parts)
    np.testing.assert_allclose(np.concatenate(parts, axis=1), m(x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("kernel_size", "stride", "padding"), [
    (1, 1, (0, 4)), (1, 3, (2, 5)), (2, 2, (1, 4)), (3, 4, (0, 3)),
])
def test_right_padding_wider_than_the_kernel(mode, kernel_size, stride, padding):
    """The right padding copies more samples than the windows keep: they must be kept too."""
    m = Conv1d(2, 2, kernel_size, stride, padding, padding_mode=mode, dtype=np.float64, rng=0)
    x = np.random.default_rng(12).standard_normal((2, 2, 23))
    for boundaries in ([0, *range(24)], [0, 5, 6, 20, 23], [0, 22, 23]):
        got = np.concatenate(stream_all(m.stream(), x, boundaries), axis=-1)
        np.testing.assert_allclose(got, m(x), rtol=1e-12, atol=1e-12)


def test_circular_without_padding_streams():
    m = Conv1d(2, 2, 3, padding_mode="circular", dtype=np.float64, rng=0)
    x = np.random.default_rng(5).standard_normal((2, 30))
    np.testing.assert_allclose(np.concatenate(stream_all(m.stream(), x, [0, 2, 17, 30]), axis=-1),
                               m(x), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# latency and bounded state


@pytest.mark.parametrize("net", [
    Conv1d(1, 1, 3, padding="causal"),
    Conv1d(1, 1, 5, padding="same", padding_mode="reflect"),
    Conv1d(1, 1, 4, padding="same", dilation=3, padding_mode="replicate"),
    Conv1d(1, 1, 3, stride=3, padding="valid"),
    Conv1d(1, 1, 2, stride=3, padding=(4, 2), padding_mode="reflect"),
    Conv1d(1, 1, 3, padding=(6, 1)),  # wider than the span: the first outputs need no input
    Conv1d(1, 1, 3, stride=2, padding=(5, 0), padding_mode="replicate"),
    Sequential(Conv1d(1, 2, 3, padding="causal", dilation=2), ReLU(),
               Conv1d(2, 1, 3, stride=2, padding=1, padding_mode="reflect")),
    Sequential(Conv1d(1, 1, 2, stride=2, padding=(3, 0)), ReLU(),
               Conv1d(1, 1, 3, stride=2, padding=(2, 2), padding_mode="reflect"),
               Conv1d(1, 1, 5, padding="causal", padding_mode="replicate")),
], ids=lambda n: repr(n).replace("\n", ""))
def test_delay_says_when_each_output_comes(net):
    """Fed one sample per call, output ``j`` comes with sample ``j*stride + delay``."""
    layers = list(net) if isinstance(net, Sequential) else [net]
    convs = [m for m in layers if isinstance(m, Conv1d)]
    s = net.stream()
    want_delay, stride = 0, 1
    for m in convs:
        want_delay += stride * (m.spec.span - 1 - m.spec.pad_left)
        stride *= m.spec.stride
    assert (s.delay, s.stride) == (want_delay, stride)
    x = np.random.default_rng(6).standard_normal((1, 40))
    came = []  # came[j]: the sample whose call returned output j (40: flush)
    for i in range(40):
        came += [i] * s(x[:, i : i + 1]).shape[-1]
    came += [40] * s.flush().shape[-1]
    assert len(came) == net(x).shape[-1]
    for j, i in enumerate(came):
        assert i == min(max(emission(layers, j), 0), 40), j
    steady = [j for j in range(len(came)) if 0 <= j * stride + s.delay < 40
              and emission(layers, j) == j * stride + s.delay]
    assert steady and all(came[j] == j * stride + s.delay for j in steady)


@pytest.mark.parametrize("net", [
    Conv1d(3, 4, 5, stride=2, padding=(7, 3), dilation=3, padding_mode="reflect"),
    Conv1d(3, 4, 2, stride=7, padding=(1, 6), padding_mode="replicate"),
    Sequential(Conv1d(3, 8, 3, padding="causal", dilation=4), ReLU(),
               Conv1d(8, 8, 3, padding="same", dilation=8, padding_mode="reflect"), ReLU(),
               Conv1d(8, 2, 4, stride=3, padding=2)),
], ids=["reflect", "stride-over-span", "stack"])
def test_state_stays_bounded_by_span_and_padding(net):
    convs = [net] if isinstance(net, Conv1d) else [m for m in net if isinstance(m, Conv1d)]
    # Documented in conv1d.stream: per layer, max(span - 1, pad_left, pad_right + 1) samples.
    bound = sum(max(m.receptive_field - 1, m.padding_amounts[0], m.padding_amounts[1] + 1)
                for m in convs)
    rng = np.random.default_rng(7)
    x = rng.standard_normal((2, 3, 6000)).astype(np.float32)
    s = net.stream()
    i, parts = 0, []
    while i < x.shape[-1]:
        n = int(rng.integers(0, 50))
        parts.append(s(x[..., i : i + n]))
        i += n
        assert s.buffered <= bound
    parts.append(s.flush())
    assert np.concatenate(parts, axis=-1).shape == net(x).shape


# ---------------------------------------------------------------------------------------
# errors and state handling


def make(**kw):
    return Conv1d(2, 3, 3, dtype=np.float64, rng=0, **kw)


def test_circular_with_padding_cannot_stream():
    with pytest.raises(ValueError, match=r"padding_mode='circular' cannot stream.*\(1, 1\)"):
        make(padding=1, padding_mode="circular").stream()
    with pytest.raises(ValueError, match="Sequential position 2: padding_mode='circular'"):
        Sequential(make(), ReLU(), Conv1d(3, 1, 3, padding="causal", padding_mode="circular")).stream()


def test_modules_that_cannot_stream_say_so():
    with pytest.raises(TypeError, match="GlobalAvgPool1d cannot stream"):
        GlobalAvgPool1d().stream()
    with pytest.raises(TypeError, match="Sequential position 1: GlobalAvgPool1d cannot stream"):
        Sequential(make(), GlobalAvgPool1d()).stream()


@pytest.mark.parametrize(("first", "bad", "match"), [
    ((2, 5), (3, 5), "chunk must have 2 channels"),
    ((1, 2, 5), (1, 3, 5), "chunk must have 2 channels"),
    ((1, 2, 5), (2, 2, 5), r"match the first chunk of the signal \(batch size 1\)"),
    ((2, 5), (1, 2, 5), r"match the first chunk of the signal \(unbatched"),
    ((2, 5), (2,), "chunk must be 2-D"),
    ((2, 5), (1, 1, 2, 5), "chunk must be 2-D"),
])
def test_chunk_errors_change_nothing(first, bad, match):
    m = make(padding=(2, 1), padding_mode="reflect")
    rng = np.random.default_rng(8)
    x = rng.standard_normal((*first[:-1], 12))
    s = m.stream()
    parts = [s(x[..., :5])]
    with pytest.raises(ValueError, match=match):
        s(np.zeros(bad))
    parts += [s(x[..., 5:]), s.flush()]
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), m(x), rtol=1e-12, atol=1e-12)


def test_chunk_type_errors():
    s = make().stream()
    with pytest.raises(TypeError, match="chunk must be a real"):
        s(np.zeros((2, 3), complex))


def test_flush_twice_and_reset():
    m = make(padding="same")
    x = np.random.default_rng(9).standard_normal((2, 10))
    s = m.stream()
    with pytest.raises(ValueError, match=r"flush\(\) before any chunk"):
        s.flush()
    y = np.concatenate([s(x), s.flush()], axis=-1)
    with pytest.raises(RuntimeError, match=r"flushed.*reset\(\)"):
        s.flush()
    with pytest.raises(RuntimeError, match=r"flushed.*reset\(\)"):
        s(x)
    s.reset()
    y2 = np.concatenate([s(x[None]), s.flush()], axis=-1)  # a new signal may change shape
    np.testing.assert_array_equal(y2[0], y)


@pytest.mark.parametrize("kwargs", [dict(), dict(padding=(3, 3), padding_mode="reflect"),
                                    dict(padding=1, padding_mode="replicate")])
def test_too_short_signal_fails_at_flush_as_offline_and_keeps_the_state(kwargs):
    m = Conv1d(1, 1, 5, dtype=np.float64, rng=0, **kwargs)
    x = np.random.default_rng(10).standard_normal((1, 7))
    s = m.stream()
    s(x[:, :3]) if kwargs.get("padding_mode") == "reflect" else s(x[:, :0])
    with pytest.raises(ValueError) as offline:
        m(x[:, :3] if kwargs.get("padding_mode") == "reflect" else x[:, :0])
    with pytest.raises(ValueError) as streamed:
        s.flush()
    assert str(streamed.value) == str(offline.value)
    rest = x[:, 3:] if kwargs.get("padding_mode") == "reflect" else x
    got = np.concatenate([s(rest), s.flush()], axis=-1)
    np.testing.assert_allclose(got, m(x), rtol=1e-12, atol=1e-12)


def test_stack_flush_fails_before_any_layer_ends():
    net = Sequential(ReLU(), Conv1d(1, 1, 3, padding="causal"), ReLU(), Conv1d(1, 1, 5))
    s = net.stream()
    s(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="kernel size can't be greater"):
        s.flush()
    y = np.concatenate([s(np.ones((1, 2))), s.flush()], axis=-1)
    assert y.shape == net(np.zeros((1, 5))).shape


def test_streaming_keeps_the_layers_backward_state_and_the_callers_chunks():
    net = Sequential(make(), ReLU())  # no padding: the first chunk itself is what it keeps
    x = np.random.default_rng(11).standard_normal((1, 2, 16))
    y = net(x)
    chunk = np.empty((1, 2, 4))
    s = net.stream()
    parts = []
    for i in range(0, 16, 4):
        chunk[...] = x[..., i : i + 4]
        parts.append(s(chunk))
        chunk[...] = np.nan  # a reused buffer: the stream must have copied what it keeps
    parts.append(s.flush())
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), y, rtol=1e-12, atol=1e-12)
    assert net.backward(np.ones_like(y)).shape == x.shape  # still the offline forward's
    assert net[0]._input.shape == x.shape and net[1]._mask.shape == y.shape


def test_nested_sequential_too_short_fails_before_any_layer_flushes():
    inner = Sequential(Conv1d(2, 2, 5, rng=1), ReLU())
    net = Sequential(Conv1d(1, 2, 3, padding="causal", rng=0), inner)
    s = net.stream()
    x = np.random.default_rng(0).standard_normal((1, 1, 12))
    parts = [s(x[..., :3])]
    with pytest.raises(ValueError, match="kernel size can't be greater than the padded input"):
        s.flush()  # 3 samples: the inner kernel of 5 cannot run
    parts += [s(x[..., 3:]), s.flush()]  # nothing had ended: the signal goes on
    np.testing.assert_allclose(np.concatenate(parts, axis=-1), net(x), rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# the engine: preallocated state, per-width kernels, no layer classes imported


def test_stream_module_imports_no_layer_class():
    """Each layer makes its own stream (issue 12): stream.py imports none of them."""
    import ast

    import conv1d.stream as stream_module

    tree = ast.parse(open(stream_module.__file__).read())
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
    imported |= {a.name for node in ast.walk(tree) if isinstance(node, ast.Import) for a in node.names}
    assert not imported & {"conv", "layers", "module", "conv1d.conv", "conv1d.layers",
                           "conv1d.module"}, imported


def test_state_buffer_is_allocated_once_per_signal_shape():
    m = Conv1d(8, 8, 3, padding="causal", dilation=4, rng=0)
    x = np.random.default_rng(13).standard_normal((1, 8, 64 * 20)).astype(np.float32)
    s = m.stream()
    parts = [s(x[..., :64])]
    buf = s._buf
    for i in range(64, x.shape[-1], 64):
        parts.append(s(x[..., i : i + 64]))
        assert s._buf is buf and s.buffered == 8  # the same memory; span - 1 samples kept
    parts.append(s.flush())
    assert_close(np.concatenate(parts, axis=-1), m(x), x, np.asarray(m.weight), np.asarray(m.bias))
    s.reset()
    s(x[..., :64])
    assert s._buf is buf  # a new signal of the same shape reuses it


def test_weight_updates_apply_from_the_next_chunk():
    m = Conv1d(2, 3, 3, padding="causal", dtype=np.float64, rng=0)
    x = np.random.default_rng(14).standard_normal((2, 40))
    s = m.stream()
    np.testing.assert_allclose(s(x[:, :20]), m(x)[:, :20], rtol=1e-12, atol=1e-12)
    m.weight *= -1  # an in-place update between chunks
    m.bias[...] = 0.5
    rest = np.concatenate([s(x[:, 20:]), s.flush()], axis=-1)
    np.testing.assert_allclose(rest, m(x)[:, 20:], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("algorithm", ["auto", "gemm", "direct", "fft", "reference"])
def test_every_algorithm_streams_with_chunk_sizes_that_keep_changing(algorithm):
    m = Conv1d(3, 4, 4, stride=2, padding=(3, 2), dilation=2, padding_mode="replicate",
               dtype=np.float64, algorithm=algorithm, rng=0)
    x = np.random.default_rng(15).standard_normal((2, 3, 400))
    bounds = np.cumsum([0, *np.random.default_rng(16).integers(0, 25, 40)])
    bounds = [int(b) for b in bounds if b < 400] + [400]
    got = np.concatenate(stream_all(m.stream(), x, bounds), axis=-1)
    np.testing.assert_allclose(got, m(x), rtol=1e-12, atol=1e-12)


def test_bias_removed_mid_stream():
    m = Conv1d(2, 2, 3, padding="causal", dtype=np.float64, rng=0)
    x = np.random.default_rng(17).standard_normal((2, 30))
    s = m.stream()
    s(x[:, :10])
    m.bias = None
    np.testing.assert_allclose(s(x[:, 10:]), m(x)[:, 10:], rtol=1e-12, atol=1e-12)


# ---------------------------------------------------------------------------------------
# the fast paths: native kernels reading the state buffer, ReLU in place


@pytest.mark.skipif(not native.AVAILABLE, reason="native kernels not built")
@pytest.mark.parametrize("groups, c_out", [(1, 16), (4, 4)])  # the dense tile; the row kernel
@pytest.mark.parametrize("stride, dilation", [(1, 1), (2, 3)])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_native_window_read_in_place_equals_a_copied_window(groups, c_out, stride, dilation,
                                                            dtype):
    """``forward_window`` (what a stream calls on its buffer) is ``forward`` on the window
    sliced out, bit for bit: the same kernel, only the offset differs."""
    rng = np.random.default_rng(21)
    x = rng.standard_normal((2, 8, 300)).astype(dtype)
    w = rng.standard_normal((c_out, 8 // groups, 3)).astype(dtype)
    b = rng.standard_normal(c_out).astype(dtype)
    span = dilation * 2 + 1
    for start, count in [(0, 1), (5, 40), (131, 64), (300 - span - 10 * stride, 11)]:
        width = (count - 1) * stride + span
        got = native.forward_window(x, start, count, w, b, stride, dilation, groups)
        want = native.forward(np.ascontiguousarray(x[..., start : start + width]), w, stride,
                              dilation, groups, b)
        np.testing.assert_array_equal(got, want)


def test_relu_after_a_conv_works_in_place_on_that_output_only():
    """In a stack, a ReLU right after a Conv1d writes into the convolution's fresh output; a
    ReLU fed the caller's chunk never writes into it. Bit for bit what each layer's own
    stream gives in turn, and the offline result."""
    net = Sequential(ReLU(), Conv1d(3, 16, 3, padding="causal", rng=0), ReLU(),
                     Conv1d(16, 4, 3, padding="causal", dilation=2, rng=1), ReLU())
    s = net.stream()
    assert [step is st for step, st in zip(s._steps, s._streams, strict=True)] == [
        True, True, False, True, False]
    alone = [m.stream() for m in net]
    x = np.random.default_rng(22).standard_normal((1, 3, 100)).astype(np.float32)
    before = x.copy()
    got, want = [], []
    for a, b in itertools.pairwise([0, 1, 17, 17, 64, 100]):
        got.append(s(x[..., a:b]))
        y = x[..., a:b]
        for one in alone:
            y = one(y)
        want.append(y)
    got.append(s.flush())
    y = alone[0].flush()  # the stack's flush: each layer's, fed through the rest
    for one in alone[1:]:
        y = np.concatenate((one(y), one.flush()), axis=-1)
    want.append(y)
    np.testing.assert_array_equal(x, before)
    np.testing.assert_array_equal(np.concatenate(got, axis=-1), np.concatenate(want, axis=-1))
    assert_close(np.concatenate(got, axis=-1), net(x), x, np.asarray(net[3].weight),
                 np.asarray(net[3].bias))


def test_dense_native_stream_sees_in_place_weight_updates():
    m = Conv1d(16, 16, 3, padding="causal", rng=0)  # the dense tile: a packed weight kept
    x = np.random.default_rng(23).standard_normal((1, 16, 200)).astype(np.float32)
    want_first = m(x)[..., :120]
    s = m.stream()
    first = s(x[..., :120])
    m.weight *= -1
    m.bias[...] = 0.5
    rest = np.concatenate([s(x[..., 120:]), s.flush()], axis=-1)
    w, b = np.asarray(m.weight), np.asarray(m.bias)
    assert_close(first, want_first, x, w, b)
    assert_close(rest, m(x)[..., 120:], x, w, b)
