"""Hypothesis strategies over every argument of the layer at once."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from conv1d.spec import ConvSpec


@st.composite
def conv_cases(draw, modes=("zeros", "reflect", "replicate", "circular"), max_length=24,
               paddings=("int", "tuple", "valid", "same", "causal", "pair")):
    """``(x, w, b, kwargs)`` for one random valid convolution."""
    groups = draw(st.integers(1, 3))
    cin = groups * draw(st.integers(1, 3))
    cout = groups * draw(st.integers(1, 3))
    k = draw(st.integers(1, 5))
    stride = draw(st.integers(1, 3))
    dilation = draw(st.integers(1, 3))
    kind = draw(st.sampled_from([p for p in paddings if not (p == "same" and stride > 1)]))
    padding = {
        "int": lambda: draw(st.integers(0, 4)),
        "tuple": lambda: (draw(st.integers(0, 4)),),
        "pair": lambda: (draw(st.integers(0, 4)), draw(st.integers(0, 4))),
    }.get(kind, lambda: kind)()
    mode = draw(st.sampled_from(modes))
    spec = ConvSpec.from_args(cin, cout, k, stride, padding, dilation, groups, mode)
    pad = max(spec.pad_left, spec.pad_right)
    min_len = max(1, spec.span - spec.pad_left - spec.pad_right,
                  pad + 1 if mode == "reflect" else pad if mode == "circular" else 1)
    length = draw(st.integers(min_len, max(min_len, max_length)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    batch = draw(st.sampled_from([None, 0, 1, 2, 3]))
    bias = draw(st.booleans())
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    shape = (cin, length) if batch is None else (batch, cin, length)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((cout, cin // groups, k)).astype(dtype)
    b = rng.standard_normal(cout).astype(dtype) if bias else None
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups,
                  padding_mode=mode)
    if draw(st.booleans()):  # tuples where PyTorch takes them
        kwargs.update(stride=(stride,), dilation=(dilation,))
    return x, w, b, kwargs
