"""Streaming of user-written modules (conv1d.graph_stream): chunked output equals offline."""

import numpy as np
import pytest

import conv1d
from conv1d import Conv1d, Module, ModuleList, ReLU, Residual, Sequential


class WaveNet(Module):
    """Causal, dilated, gated, with residual and skip sums (as Neural Amp Modeler's WaveNet)."""

    def __init__(self, channels=4, dilations=(1, 2, 4, 8), kernel=3, data_format="channels_first",
                 dtype=np.float32):
        kw = dict(padding="causal", data_format=data_format, dtype=dtype)
        self.data_format = data_format
        self.rechannel = Conv1d(1, channels, 1, rng=0, data_format=data_format, dtype=dtype)
        self.filters = ModuleList([Conv1d(channels, channels, kernel, dilation=d, rng=10 + i, **kw)
                                   for i, d in enumerate(dilations)])
        self.gates = ModuleList([Conv1d(channels, channels, kernel, dilation=d, rng=20 + i, **kw)
                                 for i, d in enumerate(dilations)])
        self.mixers = ModuleList([Conv1d(channels, channels, 1, rng=30 + i, data_format=data_format,
                                         dtype=dtype) for i in range(len(dilations))])
        self.head = Sequential(
            Conv1d(channels, channels, 1, rng=40, data_format=data_format, dtype=dtype), ReLU(),
            Conv1d(channels, 1, 1, rng=41, data_format=data_format, dtype=dtype))

    def forward(self, x):
        h = self.rechannel(x)
        skip = 0
        for f, g, mix in zip(self.filters, self.gates, self.mixers, strict=True):
            z = np.tanh(f(h)) * (1 / (1 + np.exp(-g(h))))
            skip = skip + z
            h = h + mix(z)
        return self.head(skip)


def chunks_of(x, sizes, axis=-1):
    out, i = [], 0
    for n in sizes:
        out.append(np.take(x, range(i, min(i + n, x.shape[axis])), axis=axis))
        i += n
    out.append(np.take(x, range(min(i, x.shape[axis]), x.shape[axis]), axis=axis))
    return out


def run_stream(s, x, sizes, axis=-1):
    ys = [s(c) for c in chunks_of(x, sizes, axis)] + [s.flush()]
    return np.concatenate(ys, axis=axis)


@pytest.mark.parametrize("sizes", [[64] * 4, [1] * 70, [5, 0, 17, 3, 64, 1]])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_wavenet_streams_exactly(sizes, dtype):
    net = WaveNet(dtype=dtype)
    x = np.random.default_rng(0).standard_normal((2, 1, 200)).astype(dtype)
    s = net.stream()
    assert (s.delay, s.stride) == (0, 1)
    y = net(x)
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(run_stream(s, x, sizes), y, rtol=tol, atol=tol)
    s.reset()  # a new signal, of another batch size
    x2 = x[:1, :, :90]
    s(x2[..., :10])
    assert s.buffered > 0
    s.reset()
    np.testing.assert_allclose(run_stream(s, x2, [7] * 13), net(x2), rtol=tol, atol=tol)
    # The net itself is untouched: its layers are back and backward still sees its forward.
    assert isinstance(net.filters[0], Conv1d) and isinstance(net.head, Sequential)


def test_channels_last_and_unbatched():
    net = WaveNet(dilations=(1, 3), data_format="channels_last")
    # (stream.py's Sequential flush concatenates along the last axis, so no Sequential here.)
    net.head = Conv1d(4, 1, 1, rng=0, data_format="channels_last")
    x = np.random.default_rng(1).standard_normal((80, 1)).astype(np.float32)
    s = net.stream()
    np.testing.assert_allclose(run_stream(s, x, [9] * 9, axis=0), net(x), rtol=1e-5, atol=1e-6)


def test_layer_used_twice_keeps_one_state_per_place():
    class Twice(Module):
        def __init__(self):
            self.conv = Conv1d(2, 2, 3, padding="causal", rng=0)
            self.act = ReLU()

        def forward(self, x):
            return self.conv(self.act(self.conv(x))) + x

    net = Twice()
    x = np.random.default_rng(2).standard_normal((1, 2, 40))
    np.testing.assert_allclose(run_stream(net.stream(), x, [3] * 14), net(x), rtol=1e-6, atol=1e-6)


class Nested(Module):
    """A user block inside a user module, a Residual and a Sequential beside it."""

    class Block(Module):
        def __init__(self, seed):
            self.a = Conv1d(3, 3, 2, padding="causal", dilation=2, rng=seed)
            self.b = Conv1d(3, 3, 1, rng=seed + 1)

        def forward(self, x):
            return np.maximum(self.a(x), 0) * self.b(x)

    def __init__(self):
        self.block = self.Block(0)
        self.res = Residual(Sequential(Conv1d(3, 3, 3, padding="causal", rng=5), ReLU()))
        self.out = Conv1d(6, 2, 1, rng=6)

    def forward(self, x):
        return self.out(np.concatenate([self.block(x), self.res(x)], axis=1))


def test_nested_user_modules_residual_and_backward_cache_kept():
    net = Nested()
    x = np.random.default_rng(3).standard_normal((2, 3, 33))
    y = net(x)
    gx = net.out.backward(np.ones_like(y))  # the forward's cache, before streaming
    s = net.stream()
    np.testing.assert_allclose(run_stream(s, x, [4, 4, 1, 10]), y, rtol=1e-6, atol=1e-6)
    net.zero_grad()
    np.testing.assert_array_equal(net.out.backward(np.ones_like(y)), gx)  # cache untouched


@pytest.mark.parametrize(("layer", "error", "message"), [
    (Conv1d(2, 2, 3, padding=1), ValueError, r"Bad\.layer \(Conv1d\) streams with delay 1 and stride 1"),
    (Conv1d(2, 2, 3, stride=2, padding="causal"), ValueError, "delay 0 and stride 2"),
    (conv1d.GlobalAvgPool1d(), TypeError, r"Bad\.layer \(GlobalAvgPool1d\) cannot stream"),
    (Conv1d(2, 2, 3, padding=2, padding_mode="circular"), ValueError, "circular"),
    (ModuleList([Conv1d(2, 2, 1), Conv1d(2, 2, 3)]), ValueError, r"Bad\.layer\.1 \(Conv1d\)"),
])
def test_layers_that_cannot_stream_inside_a_module_fail_at_stream(layer, error, message):
    class Bad(Module):
        def __init__(self):
            self.layer = layer

        def forward(self, x):
            return x + self.layer(x)

    with pytest.raises(error, match=message):
        Bad().stream()


def test_modules_without_forward_or_children():
    class Empty(Module):
        def forward(self, x):
            return x

    with pytest.raises(TypeError, match="Empty cannot stream"):
        Empty().stream()
    with pytest.raises(TypeError, match="ModuleList cannot stream: it has no forward"):
        ModuleList([Conv1d(1, 1, 1)]).stream()


def test_sequential_subclass_with_own_forward_streams_its_forward():
    class Doubled(Sequential):
        def forward(self, x):
            return 2 * super().forward(x) + x

    net = Doubled(Conv1d(2, 2, 3, padding="causal", rng=0), ReLU())
    x = np.random.default_rng(4).standard_normal((1, 2, 20))
    np.testing.assert_allclose(run_stream(net.stream(), x, [3] * 7), net(x), rtol=1e-6, atol=1e-6)
