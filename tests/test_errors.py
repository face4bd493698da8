"""Bad input: a clear ValueError/TypeError naming the argument and value; nothing changes."""

import re

import numpy as np
import pytest

import conv1d
from conv1d import functional as F

X = np.zeros((2, 4, 10), np.float32)
W = np.zeros((6, 4, 3), np.float32)

CONSTRUCTOR_ERRORS = [
    (dict(kernel_size=0), ValueError, "kernel_size must be positive, got 0"),
    (dict(kernel_size=-2), ValueError, "kernel_size must be positive, got -2"),
    (dict(kernel_size=(3, 3)), ValueError, "kernel_size must be an int or a 1-tuple"),
    (dict(kernel_size=2.5), TypeError, "kernel_size must be an int or a 1-tuple of int, got 2.5"),
    (dict(kernel_size=True), TypeError, "kernel_size must be an int"),
    (dict(stride=0), ValueError, "stride must be positive, got 0"),
    (dict(stride="2"), TypeError, "stride must be an int"),
    (dict(dilation=0), ValueError, "dilation must be positive, got 0"),
    (dict(dilation=(-1,)), ValueError, r"dilation must be positive, got \(-1,\)"),
    (dict(groups=0), ValueError, "groups must be positive, got 0"),
    (dict(groups=(2,)), TypeError, "groups must be an int"),
    (dict(groups=3), ValueError, "in_channels must be divisible by groups, got 4 and groups=3"),
    (dict(out_channels=5, groups=2), ValueError,
     "out_channels must be divisible by groups, got 5 and groups=2"),
    (dict(in_channels=0), ValueError, "in_channels must be positive, got 0"),
    (dict(out_channels=-1), ValueError, "out_channels must be positive, got -1"),
    (dict(padding=-1), ValueError, "padding must be >= 0, got -1"),
    (dict(padding=(1, -1)), ValueError, "padding must be >= 0, got -1"),
    (dict(padding=(1, 2, 3)), ValueError, "padding must be an int or a 1-tuple"),
    (dict(padding="full"), ValueError,
     "padding must be an int, a (left, right) pair or one of ('valid', 'same', 'causal'), got 'full'"),
    (dict(padding=1.0), TypeError, "padding must be an int or a 1-tuple of int, got 1.0"),
    (dict(padding="same", stride=2), ValueError, "padding='same' is not supported for strided"),
    (dict(padding_mode="xyz"), ValueError,
     "padding_mode must be one of ('zeros', 'reflect', 'replicate', 'circular'), got 'xyz'"),
    (dict(padding_mode=None), ValueError, "padding_mode must be one of"),
    (dict(bias="yes"), TypeError, "bias must be True or False, got 'yes'"),
    (dict(dtype=np.int32), ValueError, "dtype must be float16, bfloat16, float32 or float64, got int32"),
    (dict(dtype="nonsense"), TypeError, "dtype must be a NumPy floating dtype, got 'nonsense'"),
    (dict(rng="seed"), TypeError, "rng must be None, an int seed or a numpy.random.Generator"),
    (dict(algorithm=3), TypeError, "algorithm must be a string, got 3"),
]


@pytest.mark.parametrize(("kwargs", "exc", "message"), CONSTRUCTOR_ERRORS)
def test_constructor_errors(kwargs, exc, message):
    args = dict(in_channels=4, out_channels=6, kernel_size=3) | kwargs
    with pytest.raises(exc, match=re.escape(message) if "\\" not in message else message):
        conv1d.Conv1d(**args)


CALL_ERRORS = [
    # (layer kwargs, input, exception, message)
    ({}, np.zeros((4,), np.float32), ValueError,
     "expected a 2-D (C_in, L) or 3-D (N, C_in, L) input, got shape (4,)"),
    ({}, np.zeros((1, 2, 4, 10)), ValueError, "expected a 2-D (C_in, L) or 3-D"),
    ({}, np.zeros((2, 5, 10)), ValueError,
     "expected input with 4 channels (in_channels=4, groups=1), got input of shape (2, 5, 10)"),
    ({}, np.zeros((3, 10)), ValueError, "expected input with 4 channels"),
    ({}, np.zeros((2, 4, 2)), ValueError,
     "kernel size can't be greater than the padded input: padded input length 2"),
    ({"dilation": 5}, np.zeros((2, 4, 10)), ValueError, "kernel span 11"),
    ({"padding": 3, "padding_mode": "reflect"}, np.zeros((2, 4, 3)), ValueError,
     "padding_mode='reflect' needs padding < input length, got padding (3, 3) for length 3"),
    ({"padding": 4, "padding_mode": "circular"}, np.zeros((2, 4, 3)), ValueError,
     "padding_mode='circular' needs padding <= input length, got padding (4, 4) for length 3"),
    ({}, np.zeros((2, 4, 10), complex), TypeError,
     "input must be a real floating-point or integer array, got dtype complex128"),
    ({}, np.zeros((2, 4, 10), bool), TypeError, "got dtype bool"),
    ({}, np.array([["a"] * 10] * 4), TypeError, "got dtype <U1"),
    ({}, np.empty((2, 4, 10), object), TypeError, "got dtype object"),
]


@pytest.mark.parametrize(("kwargs", "x", "exc", "message"), CALL_ERRORS)
def test_call_errors_leave_the_layer_unchanged(kwargs, x, exc, message):
    m = conv1d.Conv1d(4, 6, 3, rng=0, **kwargs)
    m(np.ones((2, 4, 12)))
    m.backward(np.ones((2, 6, m.spec.output_length(12))))
    before = {k: v.copy() for k, v in m.state_dict().items()}
    grads = [p.grad.copy() for p in m.parameters()]
    with pytest.raises(exc, match=re.escape(message)):
        m(x)
    # The failed call changed nothing: parameters, gradients, and the remembered input.
    for k, v in m.state_dict().items():
        np.testing.assert_array_equal(v, before[k])
    for p, g in zip(m.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, g)
    m.backward(np.ones((2, 6, m.spec.output_length(12))))
    for p, g in zip(m.parameters(), grads, strict=True):
        np.testing.assert_array_equal(p.grad, 2 * g)


@pytest.mark.parametrize(("kwargs", "x", "exc", "message"), CALL_ERRORS)
def test_functional_call_errors(kwargs, x, exc, message):
    w = np.zeros((6, 4, 3))
    with pytest.raises(exc, match=re.escape(message)):
        F.conv1d(x, w, **kwargs)
    with pytest.raises(exc, match=re.escape(message)):
        F.conv1d_backward(np.zeros((2, 6, 8)), x, w, **kwargs)


@pytest.mark.parametrize(
    ("w", "b", "exc", "message"),
    [
        (np.zeros((6, 4)), None, ValueError,
         "weight must be 3-D (out_channels, in_channels/groups, kernel_size), got shape (6, 4)"),
        (np.zeros((6, 4, 3, 1)), None, ValueError, "weight must be 3-D"),
        (np.zeros((6, 4, 3)), np.zeros(5), ValueError, "bias must have shape (6,), got (5,)"),
        (np.zeros((6, 4, 3)), np.zeros((6, 1)), ValueError, "bias must have shape (6,), got (6, 1)"),
        (np.zeros((6, 4, 3), complex), None, TypeError, "weight must be a real floating-point"),
        (np.zeros((6, 4, 3)), np.zeros(6, bool), TypeError, "bias must be a real floating-point"),
        (np.zeros((6, 4, 0)), None, ValueError, "kernel_size must be positive, got 0"),
    ],
)
def test_functional_weight_and_bias_errors(w, b, exc, message):
    with pytest.raises(exc, match=re.escape(message)):
        F.conv1d(X, w, b)


def test_functional_groups_errors():
    with pytest.raises(ValueError, match=re.escape(
            "expected input with 8 channels (in_channels=8, groups=2), got input of shape (2, 4, 10)")):
        F.conv1d(X, np.zeros((6, 4, 3)), groups=2)
    with pytest.raises(ValueError, match="out_channels must be divisible by groups, got 5"):
        F.conv1d(X, np.zeros((5, 2, 3)), groups=2)


def test_unknown_algorithm():
    with pytest.raises(ValueError, match=r"algorithm must be one of \('auto', 'reference'"):
        F.conv1d(X, W, algorithm="winograd-9000")
    m = conv1d.Conv1d(4, 6, 3, algorithm="nope", rng=0)
    with pytest.raises(ValueError, match="algorithm must be one of"):
        m(X)


def test_grad_output_shape_errors():
    m = conv1d.Conv1d(4, 6, 3, rng=0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        m.backward(np.zeros((2, 6, 8)))
    m(X)
    with pytest.raises(ValueError, match=re.escape(
            "grad_output must have the last output's shape (2, 6, 8), got (2, 6, 7)")):
        m.backward(np.zeros((2, 6, 7)))
    assert m.weight.grad is None and m.bias.grad is None
    with pytest.raises(ValueError, match=re.escape(
            "grad_output must have the output's shape (2, 6, 8), got (6, 8)")):
        F.conv1d_backward(np.zeros((6, 8)), X, W)
    with pytest.raises(TypeError, match="grad_output must be a real floating-point"):
        F.conv1d_backward(np.zeros((2, 6, 8), complex), X, W)


def test_load_state_dict_errors_leave_the_module_unchanged():
    m = conv1d.Conv1d(4, 6, 3, rng=0)
    before = m.state_dict()
    good_w = np.ones((6, 4, 3))
    cases = [
        ({"weight": good_w}, KeyError, "missing keys ['bias']"),
        ({"weight": good_w, "bias": np.ones(6), "extra": np.ones(1)}, KeyError,
         "unexpected keys ['extra']"),
        ({"weight": np.ones((6, 4, 2)), "bias": np.ones(6)}, ValueError,
         "'weight' must have shape (6, 4, 3), got (6, 4, 2)"),
        ({"weight": good_w, "bias": np.ones(6, np.int64)}, TypeError,
         "'bias' must be a floating-point array, got dtype int64"),
        ([("weight", good_w)], TypeError, "state_dict must be a mapping, got list"),
    ]
    for d, exc, message in cases:
        with pytest.raises(exc, match=re.escape(message)):
            m.load_state_dict(d)
        for k, v in m.state_dict().items():
            np.testing.assert_array_equal(v, before[k])
