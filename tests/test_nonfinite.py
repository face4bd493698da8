"""NaN and Inf reach exactly the outputs and gradients whose receptive field holds them.

Every registered algorithm is compared with PyTorch on where the non-finite values land. This
matters most for the FFT, where one NaN spreads over a whole block unless it is routed around.
"""

import zlib

import numpy as np
import pytest

from conv1d import functional as F
from conv1d.algorithms import ALGORITHMS
from tests.oracle import torch_conv

CONFIGS = [
    dict(stride=1, padding=2, dilation=1, groups=1),
    dict(stride=2, padding=(3, 1), dilation=2, groups=2),
    dict(stride=3, padding=0, dilation=1, groups=4),  # depthwise
]


def _case(config, seed):
    rng = np.random.default_rng(seed)
    g = config["groups"]
    x = rng.standard_normal((2, 4, 200))
    w = rng.standard_normal((4, 4 // g, 5))
    y = F.conv1d(x, w, None, **config, algorithm="reference")
    gy = rng.standard_normal(y.shape)
    return rng, x, w, gy


def _poison(rng, a, values):
    """Put each of ``values`` at a random position of ``a`` (a copy)."""
    a = a.copy()
    for v in values:
        a[tuple(int(rng.integers(s)) for s in a.shape)] = v
    return a


@pytest.mark.parametrize("algorithm", list(ALGORITHMS))
@pytest.mark.parametrize("config", CONFIGS)
@pytest.mark.parametrize("where", ["input", "weight", "grad_output", "input_edges"])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_non_finite_lands_where_torch_puts_it(algorithm, config, where, dtype):
    rng, x, w, gy = _case(config, seed=zlib.crc32(f"{where}{config}".encode()))
    if where == "input":
        x = _poison(rng, x, [np.nan, np.inf, -np.inf])
    elif where == "input_edges":  # first and last samples: partial blocks, padding, leftovers
        x[0, 1, 0] = np.nan
        x[1, 2, -1] = np.inf
    elif where == "weight":
        w = _poison(rng, w, [np.nan])
    else:
        gy = _poison(rng, gy, [np.nan, np.inf])
    x, w, gy = x.astype(dtype), w.astype(dtype), gy.astype(dtype)
    with np.errstate(all="ignore"):
        y = F.conv1d(x, w, None, **config, algorithm=algorithm)
        g = F.conv1d_backward(gy, x, w, None, **config, algorithm=algorithm)
    # A non-finite weight tap meeting zero padding: torch's float64 CPU path multiplies (NaN * 0
    # is NaN, IEEE 754), its float32 path skips the padding (finite). conv1d pads, then
    # correlates, like the float64 path, so that is the one the pattern is compared with.
    as_torch = np.float64 if where == "weight" else dtype
    y_t, (gx_t, gw_t, _) = torch_conv(*(a.astype(as_torch) for a in (x, w)), None,
                                      gy.astype(as_torch), **config)
    for what, ours, theirs in [("output", y, y_t), ("input", g.input, gx_t),
                               ("weight", g.weight, gw_t)]:
        assert ours.dtype == dtype
        np.testing.assert_array_equal(np.isfinite(ours), np.isfinite(theirs), err_msg=what)
        # the finite values are still right
        ok = np.isfinite(theirs)
        tol = 1e-3 if dtype == np.float32 else 1e-9
        np.testing.assert_allclose(ours[ok], theirs[ok], rtol=tol, atol=tol, err_msg=what)
