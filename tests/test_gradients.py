"""Gradients checked without PyTorch: finite differences and the adjoint identity."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from conv1d import functional as F
from conv1d.padding import pad, pad_backward
from tests.strategies import conv_cases


@settings(max_examples=40, deadline=None)
@given(case=conv_cases(max_length=12), seed=st.integers(0, 2**16))
def test_finite_differences(case, seed):
    """Central differences of ``<gy, conv(x, w, b)>`` in float64 match every gradient."""
    x, w, b, kwargs = case
    x, w = x.astype(np.float64), w.astype(np.float64)
    b = None if b is None else b.astype(np.float64)
    rng = np.random.default_rng(seed)
    gy = rng.standard_normal(F.conv1d(x, w, b, **kwargs).shape)
    grads = F.conv1d_backward(gy, x, w, b, **kwargs)

    def loss(xx, ww, bb):
        return float(np.sum(gy * F.conv1d(xx, ww, bb, **kwargs)))

    # The loss is linear in each argument, so the central difference is exact up to
    # rounding: h = 1 keeps that rounding at the level of the loss itself.
    for i, (name, arr) in enumerate((("input", x), ("weight", w), ("bias", b))):
        if arr is None or arr.size == 0:
            continue
        direction = rng.standard_normal(arr.shape)
        plus, minus = [x, w, b], [x, w, b]
        plus[i], minus[i] = arr + direction, arr - direction
        numeric = (loss(*plus) - loss(*minus)) / 2
        analytic = float(np.sum(getattr(grads, name) * direction))
        scale = np.abs(gy).sum() * (np.abs(x).max(initial=0) + 1) * (np.abs(w).sum() + 1) + 1
        assert abs(numeric - analytic) <= 1e-12 * scale, name


PAD_CASES = [
    (mode, length, left, right)
    for mode in ("zeros", "reflect", "replicate", "circular")
    for length, left, right in [(5, 2, 3), (5, 4, 0), (3, 0, 3), (1, 0, 0), (4, 3, 3), (4, 4, 1)]
    # PyTorch's limits: reflect needs padding < length, circular padding <= length.
    if not (mode == "reflect" and max(left, right) >= length)
    and not (mode == "circular" and max(left, right) > length)
]


@pytest.mark.parametrize(("mode", "length", "left", "right"), PAD_CASES)
def test_pad_matches_numpy_and_its_adjoint(mode, length, left, right):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((2, 3, length))
    np_mode = {"zeros": "constant", "reflect": "reflect", "replicate": "edge",
               "circular": "wrap"}[mode]
    np.testing.assert_array_equal(pad(x, left, right, mode),
                                  np.pad(x, ((0, 0), (0, 0), (left, right)), mode=np_mode))
    # <pad(x), g> == <x, pad_backward(g)> for every x, g: the adjoint.
    g = rng.standard_normal((2, 3, length + left + right))
    np.testing.assert_allclose(np.sum(pad(x, left, right, mode) * g),
                               np.sum(x * pad_backward(g, left, right, mode)), rtol=1e-12)
