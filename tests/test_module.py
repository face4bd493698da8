"""The layer API: PyTorch's attributes, repr, initialisation, state dicts, training pieces."""

import pickle

import numpy as np
import pytest
import torch
from scipy import stats

import conv1d
from conv1d import functional as F


def from_torch(tm: torch.nn.Module, m: conv1d.Module) -> None:
    m.load_state_dict({k: v.detach().numpy() for k, v in tm.state_dict().items()})


def test_seed_example():
    m = conv1d.Conv1d(16, 33, 3, stride=2)
    x = np.random.default_rng(0).standard_normal((20, 16, 50), dtype=np.float32)
    y = m(x)
    assert y.shape == (20, 33, 24) and y.dtype == np.float32
    gx = m.backward(np.ones_like(y))
    assert gx.shape == x.shape and gx.dtype == np.float32
    assert m.weight.grad.shape == (33, 16, 3) and m.bias.grad.shape == (33,)


@pytest.mark.parametrize(
    "args",
    [
        (16, 33, 3, 2),
        (4, 8, (5,), 1, 2, 1, 2),
        (4, 8, 3, 1, "same", 3, 4, False, "reflect"),
        (4, 4, 2, 1, "valid", 1, 1, True, "circular"),
        (6, 12, 1, (3,), (1,), (2,), 3, True, "replicate"),
    ],
)
def test_repr_and_attributes_match_torch(args):
    ours, theirs = conv1d.Conv1d(*args), torch.nn.Conv1d(*args)
    assert repr(ours) == repr(theirs)
    for name in ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
                 "groups", "padding_mode"):
        assert getattr(ours, name) == getattr(theirs, name), name
    assert ours.weight.shape == tuple(theirs.weight.shape)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_sequential_repr_matches_torch():
    ours = conv1d.Sequential(conv1d.Conv1d(1, 4, 3), conv1d.ReLU(), conv1d.Conv1d(4, 2, 3))
    theirs = torch.nn.Sequential(torch.nn.Conv1d(1, 4, 3), torch.nn.ReLU(),
                                 torch.nn.Conv1d(4, 2, 3))
    assert repr(ours) == repr(theirs)
    assert list(ours.state_dict()) == list(theirs.state_dict())


@pytest.mark.parametrize(("c_in", "c_out", "k", "groups"), [(64, 256, 5, 4), (3, 512, 10, 1)])
def test_initialisation_is_uniform_with_pytorch_bound(c_in, c_out, k, groups):
    m = conv1d.Conv1d(c_in, c_out, k, groups=groups, rng=123)
    bound = np.sqrt(groups / (c_in * k))
    w = np.asarray(m.weight).ravel().astype(np.float64)
    assert np.abs(w).max() <= bound
    assert np.abs(w).max() > 0.99 * bound  # the whole interval is used
    # Moments of U(-a, a): mean 0, variance a^2/3; allow 5 standard errors.
    n = w.size
    assert abs(w.mean()) < 5 * bound / np.sqrt(3 * n)
    var_se = bound**2 * np.sqrt(4 / 45 / n)  # sd of the sample variance of U(-a, a)
    assert abs(w.var() - bound**2 / 3) < 5 * var_se
    assert stats.kstest(w, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    b = np.asarray(m.bias)
    assert np.abs(b).max() <= bound


def test_rng_makes_initialisation_reproducible():
    a, b = conv1d.Conv1d(4, 6, 3, rng=7), conv1d.Conv1d(4, 6, 3, rng=7)
    c = conv1d.Conv1d(4, 6, 3, rng=np.random.default_rng(8))
    np.testing.assert_array_equal(a.weight, b.weight)
    assert not np.array_equal(a.weight, c.weight)
    a.reset_parameters(rng=8)
    np.testing.assert_array_equal(a.weight, c.weight)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_module_computes_in_its_dtype(dtype):
    m = conv1d.Conv1d(2, 3, 3, dtype=dtype, rng=0)
    assert m.weight.dtype == dtype and m.bias.dtype == dtype
    for x in (np.ones((1, 2, 8), np.float32), np.ones((1, 2, 8), np.float64),
              np.ones((1, 2, 8), np.int64), [[[1] * 8] * 2]):
        y = m(x)
        assert y.dtype == dtype
        assert m.backward(np.ones_like(y)).dtype == dtype


def test_functional_follows_numpy_promotion():
    x32, w32 = np.ones((1, 2, 8), np.float32), np.ones((3, 2, 3), np.float32)
    assert F.conv1d(x32, w32).dtype == np.float32
    assert F.conv1d(x32.astype(np.float64), w32).dtype == np.float64
    assert F.conv1d(x32.astype(np.int16), w32).dtype == np.float32
    assert F.conv1d(x32.astype(np.int64), w32.astype(np.int64)).dtype == np.float64


def test_unbatched_and_empty_batch():
    m = conv1d.Conv1d(3, 5, 3, padding=1, padding_mode="reflect", rng=0)
    x = np.random.default_rng(1).standard_normal((3, 12)).astype(np.float32)
    y = m(x)
    assert y.shape == (5, 12)
    np.testing.assert_array_equal(y, m(x[None])[0])
    m.zero_grad()
    m(x)
    gx = m.backward(np.ones_like(y))
    assert gx.shape == (3, 12)
    y0 = m(np.zeros((0, 3, 12), np.float32))
    assert y0.shape == (0, 5, 12)
    m.zero_grad()
    assert m.backward(np.zeros_like(y0)).shape == (0, 3, 12)
    np.testing.assert_array_equal(m.weight.grad, 0)


def test_module_matches_torch_and_accumulates_gradients():
    tm = torch.nn.Conv1d(4, 6, 5, stride=2, padding=3, dilation=2, groups=2,
                         padding_mode="circular", dtype=torch.float64)
    m = conv1d.Conv1d(4, 6, 5, stride=2, padding=3, dilation=2, groups=2,
                      padding_mode="circular", dtype=np.float64)
    from_torch(tm, m)
    x = np.random.default_rng(0).standard_normal((3, 4, 20))
    xt = torch.from_numpy(x).requires_grad_()
    yt = tm(xt)
    y = m(x)
    np.testing.assert_allclose(y, yt.detach().numpy(), rtol=1e-10, atol=1e-12)
    gy = np.random.default_rng(1).standard_normal(y.shape)
    yt.backward(torch.from_numpy(gy))
    assert m.weight.grad is None
    gx = m.backward(gy)
    np.testing.assert_allclose(gx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.weight.grad, tm.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(m.bias.grad, tm.bias.grad.numpy(), rtol=1e-10, atol=1e-12)
    m.backward(gy)  # gradients accumulate until zero_grad, as in PyTorch
    np.testing.assert_allclose(m.weight.grad, 2 * tm.weight.grad.numpy(), rtol=1e-10, atol=1e-12)
    m.zero_grad()
    assert m.weight.grad is None and m.bias.grad is None


def test_no_bias():
    m = conv1d.Conv1d(2, 4, 3, bias=False, rng=0)
    assert m.bias is None and list(m.state_dict()) == ["weight"]
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    y = m(np.ones((1, 2, 6)))
    m.backward(np.ones_like(y))
    assert m.weight.grad is not None


def test_state_dict_round_trip_and_copies():
    a, b = conv1d.Conv1d(4, 6, 3, rng=0), conv1d.Conv1d(4, 6, 3, rng=1)
    sd = a.state_dict()
    sd["weight"][...] = 0  # a copy: the layer is untouched
    assert np.abs(a.weight).max() > 0
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a.weight, b.weight)
    assert isinstance(b.weight, conv1d.Parameter)
    assert [p.shape for p in a.parameters()] == [(6, 4, 3), (6,)]
    b.load_state_dict({"weight": np.zeros((6, 4, 3))}, strict=False)
    np.testing.assert_array_equal(b.weight, 0)
    np.testing.assert_array_equal(b.bias, a.bias)


def test_layers_pickle_without_their_cache():
    m = conv1d.Conv1d(4, 6, 3, rng=0)
    m(np.ones((100, 4, 1000)))
    blob = pickle.dumps(m)
    assert len(blob) < 10_000  # the remembered input is not shipped
    m2 = pickle.loads(blob)
    np.testing.assert_array_equal(m2(np.ones((1, 4, 9))), m(np.ones((1, 4, 9))))


def test_parameter_is_an_array_with_grad():
    m = conv1d.Conv1d(2, 3, 3, rng=0)
    w = m.weight
    assert type(np.asarray(w)) is np.ndarray and w.grad is None
    assert type(w * 2) is np.ndarray
    w -= 0.5  # in place: still the layer's parameter
    assert m.weight is w and isinstance(m.weight, conv1d.Parameter)


def make_pair(seed=0):
    torch.manual_seed(seed)
    tnet = torch.nn.Sequential(
        torch.nn.Conv1d(2, 8, 5, padding=2, padding_mode="reflect"), torch.nn.ReLU(),
        torch.nn.Conv1d(8, 3, 3, stride=2, groups=1), torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
    ).double()
    net = conv1d.Sequential(
        conv1d.Conv1d(2, 8, 5, padding=2, padding_mode="reflect", dtype=np.float64),
        conv1d.ReLU(), conv1d.Conv1d(8, 3, 3, stride=2, dtype=np.float64),
        conv1d.GlobalAvgPool1d(),
    )
    from_torch(tnet, net)
    return tnet, net


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_training_steps_match_torch(optimizer):
    tnet, net = make_pair()
    rng = np.random.default_rng(0)
    x = rng.standard_normal((6, 2, 30))
    target = rng.integers(0, 3, 6)
    if optimizer == "sgd":
        topt = torch.optim.SGD(tnet.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
        opt = conv1d.optim.SGD(net.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-3)
    else:
        topt = torch.optim.Adam(tnet.parameters(), lr=0.01)
        opt = conv1d.optim.Adam(net.parameters(), lr=0.01)
    tloss_fn, loss_fn = torch.nn.CrossEntropyLoss(), conv1d.CrossEntropyLoss()
    for _ in range(5):
        topt.zero_grad()
        tloss = tloss_fn(tnet(torch.from_numpy(x)), torch.from_numpy(target))
        tloss.backward()
        topt.step()
        opt.zero_grad()
        loss = loss_fn(net(x), target)
        net.backward(loss_fn.backward())
        opt.step()
        assert loss == pytest.approx(tloss.item(), rel=1e-9)
    for (k, p), (tk, tp) in zip(net.state_dict().items(), tnet.state_dict().items(), strict=True):
        assert k == tk
        np.testing.assert_allclose(p, tp.numpy(), rtol=1e-8, atol=1e-10)


def test_cross_entropy_errors():
    loss = conv1d.CrossEntropyLoss()
    with pytest.raises(ValueError, match="logits must be"):
        loss(np.zeros(3), np.zeros(3, int))
    with pytest.raises(ValueError, match="target must be integer class indices"):
        loss(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ValueError, match=r"target values must be in \[0, 2\)"):
        loss(np.zeros((3, 2)), np.array([0, 1, 2]))


def test_optimizer_errors():
    p = conv1d.Parameter(np.zeros(2))
    with pytest.raises(ValueError, match="lr must be >= 0, got -1"):
        conv1d.optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="momentum must be in"):
        conv1d.optim.SGD([p], lr=0.1, momentum=1.5)
    with pytest.raises(TypeError, match=r"parameters must be conv1d\.Parameter"):
        conv1d.optim.Adam([np.zeros(2)])
    with pytest.raises(ValueError, match="empty parameter list"):
        conv1d.optim.Adam([])
    with pytest.raises(TypeError, match="Sequential takes Modules"):
        conv1d.Sequential(conv1d.ReLU(), "relu")


def test_adam_on_float16_parameters_with_default_eps_stays_finite():
    # Zero gradients make float16 moments exactly 0 and eps=1e-8 rounds to 0 in float16;
    # the moments are kept in float32 so the update stays finite (torch's Adam gives NaN here).
    m = conv1d.Conv1d(2, 3, 3, dtype=np.float16, rng=0)
    x = np.random.default_rng(0).standard_normal((4, 2, 20)).astype(np.float16)
    opt = conv1d.optim.Adam(m.parameters(), lr=1e-2)
    for _ in range(3):
        opt.zero_grad()
        y = m(x)
        m.backward(np.sign(y).astype(np.float16))
        m.weight.grad[0] = 0
        opt.step()
    assert m.weight.dtype == np.float16 and np.isfinite(m.weight).all()


# -- buffers, train/eval --------------------------------------------------------------------


class ToyNorm(conv1d.Module):
    """BatchNorm1d's parameters and buffers, without calling super().__init__()."""

    def __init__(self, c):
        self.weight = conv1d.Parameter(np.ones(c))
        self.bias = conv1d.Parameter(np.zeros(c))
        self.register_buffer("running_mean", np.zeros(c))
        self.register_buffer("running_var", np.ones(c))
        self.register_buffer("num_batches_tracked", np.array(0, dtype=np.int64))
        self.register_buffer("scratch", np.zeros(c), persistent=False)


def test_buffers_are_state_but_not_parameters_with_torchs_keys():
    ours = conv1d.Sequential(conv1d.Conv1d(2, 3, 3), ToyNorm(3))
    theirs = torch.nn.Sequential(torch.nn.Conv1d(2, 3, 3), torch.nn.BatchNorm1d(3))
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    assert [n for n, _ in ours.named_buffers()] == [n for n, _ in theirs.named_buffers()] + ["1.scratch"]
    assert len(list(ours.buffers())) == 4
    sd = {k: v.numpy() for k, v in theirs.state_dict().items()}
    sd["1.running_mean"] = np.arange(3.0)
    sd["1.num_batches_tracked"] = np.array(7)
    ours.load_state_dict(sd)
    np.testing.assert_array_equal(ours[1].running_mean, [0, 1, 2])
    assert ours[1].num_batches_tracked == 7 and ours[1].num_batches_tracked.dtype == np.int64
    with pytest.raises(KeyError, match=r"missing keys \['1.running_var'\]"):
        ours.load_state_dict({k: v for k, v in sd.items() if k != "1.running_var"})
    with pytest.raises(TypeError, match=r"'1\.num_batches_tracked' must be an integer array"):
        ours.load_state_dict({**sd, "1.num_batches_tracked": np.array(1.5)})
    np.testing.assert_array_equal(ours[1].running_mean, [0, 1, 2])  # unchanged by the failures
    ours[1].running_mean = np.full(3, 5.0)  # assigning a new array keeps it a buffer
    assert ours.state_dict()["1.running_mean"].tolist() == [5, 5, 5]
    with pytest.raises(TypeError, match="as buffer 'running_mean'"):
        ours[1].running_mean = [1.0, 2.0, 3.0]


def test_register_buffer_errors():
    m = conv1d.Conv1d(1, 1, 1)
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", np.zeros(1))
    with pytest.raises(KeyError, match=r"contain no '\.'"):
        m.register_buffer("a.b", np.zeros(1))
    with pytest.raises(TypeError, match=r"numpy\.ndarray or None expected"):
        m.register_buffer("b", [1.0])
    m.register_buffer("b", None)
    assert "b" not in m.state_dict()


def test_train_eval_recursive_default_true():
    net = conv1d.Sequential(conv1d.Conv1d(1, 1, 1), conv1d.ReLU(), ToyNorm(1))
    assert all(m.training for m in net.modules())  # layers never calling super().__init__()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net and all(m.training for m in net.modules())
    net[2].train(False)
    assert net.training and not net[2].training
    with pytest.raises(TypeError, match="mode must be True or False"):
        net.train("no")


# -- module tree, containers and assignment rules (issue 10's silent wrong results) ---------


def test_assigning_an_array_to_a_parameter_name_is_refused_as_in_torch():
    m = conv1d.Conv1d(2, 3, 3, rng=0)
    before = m.weight
    with pytest.raises(TypeError, match=r"cannot assign numpy\.ndarray as parameter 'weight' "
                                        r"\(conv1d\.Parameter or None expected\)"):
        m.weight = np.zeros((3, 2, 3))
    assert m.weight is before and "weight" in m.state_dict()  # never silently dropped
    m.bias = None  # None is allowed, as in PyTorch
    assert list(m.state_dict()) == ["weight"]
    m.weight = conv1d.Parameter(np.ones((3, 2, 3)))
    np.testing.assert_array_equal(m(np.ones((1, 2, 3))), 6)


def test_wrong_shaped_parameter_names_the_expected_shape():
    m = conv1d.Conv1d(8, 1, 13, rng=0)
    with pytest.raises(ValueError, match=r"Conv1d\.weight must have shape .* = \(1, 8, 13\), "
                                         r"got a Parameter of shape \(1, 7, 8\)"):
        m.weight = conv1d.Parameter(np.zeros((1, 7, 8), np.float32))
    with pytest.raises(ValueError, match=r"Conv1d\.bias must have shape \(out_channels,\) = \(1,\)"):
        m.bias = conv1d.Parameter(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match=r"Conv1d\.weight must have dtype"):
        m.weight = conv1d.Parameter(np.zeros((1, 8, 13), np.int32))
    assert m(np.ones((1, 8, 20), np.float32)).shape == (1, 1, 8)  # unchanged, still works


def test_rng_must_be_a_valid_seed():
    with pytest.raises(ValueError, match=r"rng must be a non-negative int seed.*got -1"):
        conv1d.Conv1d(1, 1, 3, rng=-1)
    with pytest.raises(TypeError, match="rng must be"):
        conv1d.Conv1d(1, 1, 3, rng=1.5)


def test_plain_list_of_modules_points_to_module_list():
    class Net(conv1d.Module):
        def __init__(self):
            self.blocks = [conv1d.Conv1d(1, 1, 3)]

    with pytest.raises(TypeError, match=r"plain list of modules to 'blocks'.*conv1d\.ModuleList"):
        Net()
    m = conv1d.Module()
    m.sizes = [1, 2, 3]  # lists of other things are ordinary attributes
    assert m.sizes == [1, 2, 3]


def test_sequential_indexing_and_slicing_as_torch():
    layers = [conv1d.Conv1d(1, 2, 3), conv1d.ReLU(), conv1d.Conv1d(2, 1, 3)]
    net = conv1d.Sequential(*layers)
    head = net[0:2]
    assert isinstance(head, conv1d.Sequential) and list(head) == layers[:2]
    assert list(head.state_dict()) == ["0.weight", "0.bias"]
    assert net[-1] is layers[2] and net[-3] is layers[0] and len(net) == 3
    assert list(net[::-1]) == layers[::-1]
    with pytest.raises(IndexError, match="index 3 is out of range for Sequential of length 3"):
        net[3]
    with pytest.raises(TypeError, match="indices must be integers or slices"):
        net["0"]
    x = np.random.default_rng(0).standard_normal((2, 1, 10))
    np.testing.assert_array_equal(net[1:](net[:1](x)), net(x))
    net.append(conv1d.ReLU())
    del net[1]
    assert [type(m).__name__ for m in net] == ["Conv1d", "Conv1d", "ReLU"]
    assert list(net.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
    net.insert(0, conv1d.ReLU())
    net[1] = layers[0]
    assert [type(m).__name__ for m in net] == ["ReLU", "Conv1d", "Conv1d", "ReLU"]


def test_module_list_matches_torch():
    ours = conv1d.ModuleList([conv1d.Conv1d(2, 2, 3) for _ in range(3)] + [conv1d.ReLU()])
    theirs = torch.nn.ModuleList([torch.nn.Conv1d(2, 2, 3) for _ in range(3)] + [torch.nn.ReLU()])
    assert repr(ours) == repr(theirs)
    assert repr(conv1d.ModuleList()) == repr(torch.nn.ModuleList())

    class Ours(conv1d.Module):
        def __init__(self):
            self.blocks = ours

    class Theirs(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = theirs

    assert list(Ours().state_dict()) == list(Theirs().state_dict())
    assert isinstance(ours[1:], conv1d.ModuleList) and len(ours[1:]) == 3
    ours += [conv1d.ReLU()]
    assert len(ours) == 5 and len(list(ours.parameters())) == 6
    with pytest.raises(TypeError, match="ModuleList takes Modules, got int at position 0"):
        conv1d.ModuleList([1])


class Block(conv1d.Module):
    def __init__(self, lib):
        self.conv = lib.Conv1d(2, 2, 3)
        self.act = lib.ReLU()


class TorchBlock(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv1d(2, 2, 3)
        self.act = torch.nn.ReLU()


def test_module_tree_walks_as_torch():
    ours = conv1d.Sequential(Block(conv1d), conv1d.Sequential(Block(conv1d), conv1d.ReLU()))
    theirs = torch.nn.Sequential(TorchBlock(), torch.nn.Sequential(TorchBlock(), torch.nn.ReLU()))
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    assert [type(m).__name__ for m in ours.children()] == ["Block", "Sequential"]
    assert len(list(ours.modules())) == len(list(theirs.modules()))
    order, torder = [], []
    assert ours.apply(lambda m: order.append(type(m).__name__)) is ours
    theirs.apply(lambda m: torder.append(type(m).__name__.replace("Torch", "")))
    assert order == torder
    # A shared layer is one module and its parameters are listed once, as in torch.
    shared = conv1d.Conv1d(1, 1, 1)
    tied = conv1d.Sequential(shared, shared)
    assert len(list(tied.modules())) == 2 and len(list(tied.parameters())) == 2
    assert list(tied.state_dict()) == ["0.weight", "0.bias", "1.weight", "1.bias"]
