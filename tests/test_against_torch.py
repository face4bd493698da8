"""Every algorithm, every argument together: output and all gradients equal PyTorch's."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings

from conv1d.algorithms import ALGORITHMS
from tests.oracle import check
from tests.strategies import conv_cases

GRID = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@GRID
@given(case=conv_cases())
def test_grid(algorithm, case):
    x, w, b, kwargs = case
    check(x, w, b, algorithm=algorithm, **kwargs)


@pytest.mark.parametrize("mode", ["zeros", "reflect", "replicate", "circular"])
@pytest.mark.parametrize("padding", [0, 1, 3, "same", "valid"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_seed_example_every_mode(mode, padding, dtype):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((20, 16, 50)).astype(dtype)
    w = rng.standard_normal((33, 16, 3)).astype(dtype)
    b = rng.standard_normal(33).astype(dtype)
    check(x, w, b, padding=padding, padding_mode=mode)


@pytest.mark.parametrize("multiplier", [1, 2, 3])
def test_depthwise_with_multiplier(multiplier):
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 8, 40))
    w = rng.standard_normal((8 * multiplier, 1, 5))
    check(x, w, None, groups=8, padding=2, dilation=2, stride=2)


def test_non_contiguous_and_fortran_order():
    rng = np.random.default_rng(3)
    base = rng.standard_normal((4, 30, 6, 2))
    x = base[..., 0].transpose(0, 2, 1)[:, :, ::2]  # strided, transposed view
    w = np.asfortranarray(rng.standard_normal((5, 6, 3)))
    assert not x.flags.c_contiguous and not w.flags.c_contiguous
    check(x, w, rng.standard_normal(5), padding=1, padding_mode="reflect")


def test_even_kernel_same_padding_puts_extra_on_the_right():
    rng = np.random.default_rng(4)
    check(rng.standard_normal((2, 3, 11)), rng.standard_normal((4, 3, 4)), None,
          padding="same", dilation=3, padding_mode="replicate")
