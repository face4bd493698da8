"""conv1d.Residual: forward and backward against PyTorch, streaming against offline."""

import numpy as np
import pytest
import torch

import conv1d
from conv1d import Conv1d, ReLU, Residual, Sequential


class TorchResidual(torch.nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def block_pair(stride=1, c_in=3, c_out=5, shortcut=True):
    torch.manual_seed(0)
    t = TorchResidual(
        torch.nn.Sequential(torch.nn.Conv1d(c_in, c_out, 3, stride=stride, padding=1),
                            torch.nn.ReLU(), torch.nn.Conv1d(c_out, c_out, 3, padding=1)),
        torch.nn.Conv1d(c_in, c_out, 1, stride=stride) if shortcut else None,
    ).double()
    ours = Residual(
        Sequential(Conv1d(c_in, c_out, 3, stride=stride, padding=1, dtype=np.float64), ReLU(),
                   Conv1d(c_out, c_out, 3, padding=1, dtype=np.float64)),
        Conv1d(c_in, c_out, 1, stride=stride, dtype=np.float64) if shortcut else None,
    )
    ours.load_state_dict({k: v.numpy() for k, v in t.state_dict().items()})
    return t, ours


@pytest.mark.parametrize(("stride", "c_in", "c_out", "shortcut"),
                         [(1, 3, 5, True), (2, 3, 5, True), (1, 4, 4, False)])
def test_forward_and_backward_match_torch(stride, c_in, c_out, shortcut):
    t, ours = block_pair(stride, c_in, c_out, shortcut)
    assert list(ours.state_dict()) == list(t.state_dict())
    x = np.random.default_rng(0).standard_normal((2, c_in, 17))
    xt = torch.from_numpy(x).requires_grad_()
    yt = t(xt)
    y = ours(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-12, atol=1e-12)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    yt.backward(torch.from_numpy(gy))
    gx = ours.backward(gy)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-12, atol=1e-12)
    tgrads = dict(t.named_parameters())
    for name, p in ours.named_parameters():
        np.testing.assert_allclose(p.grad, tgrads[name].grad.numpy(), rtol=1e-12, atol=1e-12,
                                   err_msg=name)


def test_shape_errors():
    block = Residual(Conv1d(3, 5, 3, padding=1))
    with pytest.raises(ValueError, match=r"body\(x\) has shape \(1, 5, 8\) but the input "
                                         r"\(identity shortcut\) has shape \(1, 3, 8\)"):
        block(np.zeros((1, 3, 8)))
    with pytest.raises(RuntimeError, match="before forward"):
        block.backward(np.zeros((1, 5, 8)))
    ok = Residual(Conv1d(3, 3, 3, padding=1))
    ok(np.zeros((1, 3, 8)))
    with pytest.raises(ValueError, match=r"grad_output must have the last output's shape \(1, 3, 8\)"):
        ok.backward(np.zeros((3, 8)))
    with pytest.raises(TypeError, match=r"body must be a conv1d\.Module"):
        Residual(lambda x: x)


def stream_all(s, x, sizes, axis=-1):
    ys, i = [], 0
    for n in sizes:
        ys.append(s(x[..., i : i + n] if axis == -1 else x[:, i : i + n]))
        i += n
    rest = x[..., i:] if axis == -1 else x[:, i:]
    ys += [s(rest), s.flush()]
    return np.concatenate(ys, axis=axis)


@pytest.mark.parametrize("sizes", [[1] * 40, [7, 3, 11, 1, 0, 9], [64]])
def test_stream_equal_delays_causal_tcn_block(sizes):
    body = Sequential(Conv1d(2, 4, 3, padding="causal", dilation=2, rng=0), ReLU(),
                      Conv1d(4, 4, 3, padding="causal", dilation=2, rng=1))
    block = Residual(body, Conv1d(2, 4, 1, rng=2))
    s = block.stream()
    assert (s.delay, s.stride) == (0, 1)
    x = np.random.default_rng(0).standard_normal((3, 2, 50)).astype(np.float32)
    np.testing.assert_allclose(stream_all(s, x, sizes), block(x), rtol=1e-5, atol=1e-6)
    s.reset()
    np.testing.assert_allclose(stream_all(s, x, [5] * 10), block(x), rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("sizes", [[1] * 30, [4, 9, 2], [2, 2, 2]])
def test_stream_unequal_delays_buffers_the_early_branch(sizes):
    # A "same" body (delay 3) beside an identity shortcut (delay 0), and a "valid" one.
    same = Residual(Sequential(Conv1d(2, 2, 7, padding=3, padding_mode="reflect", rng=0), ReLU()))
    x = np.random.default_rng(1).standard_normal((2, 2, 30))
    s = same.stream()
    assert s.delay == 3
    np.testing.assert_allclose(stream_all(s, x, sizes), same(x), rtol=1e-5, atol=1e-6)
    valid = Residual(Conv1d(2, 3, 5, rng=0), shortcut=Conv1d(2, 3, 3, dilation=2, rng=1))
    s = valid.stream()
    assert s.delay == 4
    np.testing.assert_allclose(stream_all(s, x, sizes), valid(x), rtol=1e-5, atol=1e-6)


def test_sequential_of_residuals_streams_with_strides_and_channels_last():
    net = Sequential(
        Residual(Conv1d(2, 4, 4, stride=2, padding="causal", rng=0, data_format="channels_last"),
                 Conv1d(2, 4, 1, stride=2, rng=1, data_format="channels_last")),
        ReLU(),
        Residual(Conv1d(4, 4, 3, padding="causal", rng=2, data_format="channels_last")),
    )
    x = np.random.default_rng(2).standard_normal((2, 41, 2)).astype(np.float32)
    s = net.stream()
    assert s.stride == 2
    ys = [s(x[:, i : i + 5]) for i in range(0, 41, 5)]
    out = np.concatenate(ys, axis=1)
    y = net(x)
    np.testing.assert_allclose(out, y[:, : out.shape[1]], rtol=1e-5, atol=1e-6)
    assert out.shape[1] >= y.shape[1] - 1


def test_stream_errors():
    block = Residual(Conv1d(2, 2, 3, stride=2, padding="causal"))
    with pytest.raises(ValueError, match="body's stride 2 differs from the shortcut's 1"):
        block.stream()
    circ = Residual(Conv1d(2, 2, 3, padding=1, padding_mode="circular"))
    with pytest.raises(ValueError, match="Residual body: padding_mode='circular' cannot stream"):
        circ.stream()
    mismatch = Residual(Conv1d(2, 2, 3, rng=0), Conv1d(2, 2, 1, rng=1))  # lengths L-2 and L
    s = mismatch.stream()
    s(np.zeros((1, 2, 10)))
    with pytest.raises(ValueError, match="shortcut gave more outputs"):
        s.flush()
    assert conv1d.Residual is Residual
