"""The fully connected layer: :class:`Linear`, PyTorch's ``torch.nn.Linear`` on NumPy arrays."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._layer import as_bool, as_input, check_grad, compute_dtype_of, remembered
from .conv import as_param_dtype, as_rng, init_uniform
from .module import Module, Parameter
from .spec import as_int

__all__ = ["Linear"]


class Linear(Module):
    """``y = x @ weight.T + bias`` over the last axis, as ``torch.nn.Linear``.

    Parameters
    ----------
    in_features, out_features : int
        Size of the input's and of the output's last axis.
    bias : bool, default True
        Whether to learn an additive bias.
    dtype : float16, bfloat16, float32 or float64, keyword-only, default float32
        Dtype of the parameters, of the output and of the gradients: input is cast to it.
        float16 and bfloat16 are stored in half and computed in float32.
    rng : None, int or numpy.random.Generator, keyword-only
        Source of the initial weights, for reproducible initialisation.

    Attributes
    ----------
    weight : Parameter, shape (out_features, in_features)
    bias : Parameter, shape (out_features,), or None

    Shape
    -----
    Input ``(*, in_features)``, any leading axes (none included); output ``(*, out_features)``.

    Examples
    --------
    >>> import numpy as np
    >>> m = Linear(20, 30, rng=0)
    >>> m
    Linear(in_features=20, out_features=30, bias=True)
    >>> y = m(np.zeros((128, 20)))
    >>> y.shape, y.dtype
    ((128, 30), dtype('float32'))
    >>> m.backward(np.ones_like(y)).shape, m.weight.grad.shape
    ((128, 20), (30, 20))
    """

    _transient = ("_input",)

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 dtype: Any = np.float32, rng: Any = None) -> None:
        n_in = as_int("in_features", in_features, minimum=0)
        n_out = as_int("out_features", out_features, minimum=0)
        bias = as_bool("bias", bias)
        dt = as_param_dtype(dtype)
        gen = as_rng(rng)
        super().__init__()
        self.in_features, self.out_features = n_in, n_out
        self._input: np.ndarray | None = None
        self.weight = Parameter(np.empty((n_out, n_in), dt))
        self.bias = Parameter(np.empty(n_out, dt)) if bias else None
        self.reset_parameters(gen)

    def reset_parameters(self, rng: Any = None) -> None:
        """Draw weight and bias from U(-1/sqrt(in_features), 1/sqrt(in_features)).

        PyTorch's default: Kaiming-uniform with ``a = sqrt(5)`` reduces to this bound for the
        weight, and the bias uses the same ``1 / sqrt(fan_in)`` (0 when ``in_features == 0``).

        Examples
        --------
        >>> m = Linear(4, 3)
        >>> m.reset_parameters(rng=0)
        >>> bool(abs(m.weight).max() <= 0.5)
        True
        """
        bound = 1.0 / math.sqrt(self.in_features) if self.in_features else 0.0
        init_uniform(self.weight, self.bias, bound, rng)

    def forward(self, input: Any) -> np.ndarray:
        """``input @ weight.T + bias``, remembering ``input`` for :meth:`backward`.

        Examples
        --------
        >>> import numpy as np
        >>> Linear(4, 3, rng=0)(np.ones((2, 5, 4))).shape
        (2, 5, 3)
        """
        x = as_input(input, self.weight.dtype)
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects input whose last axis has in_features={self.in_features} "
                f"elements, got shape {x.shape}"
            )
        self._input = x
        cdt = compute_dtype_of(x.dtype)
        y = x.astype(cdt, copy=False) @ np.asarray(self.weight, cdt).T  # (*, in) -> (*, out)
        if self.bias is not None:
            y += np.asarray(self.bias, cdt)
        return y.astype(x.dtype, copy=False)

    def backward(self, grad_output: Any) -> np.ndarray:
        """Gradient w.r.t. the last input; adds into ``weight.grad`` and ``bias.grad``.

        Examples
        --------
        >>> import numpy as np
        >>> m = Linear(4, 3, rng=0)
        >>> _ = m(np.ones((2, 4)))
        >>> gx = m.backward(np.ones((2, 3)))
        >>> gx.shape, m.bias.grad.tolist()
        ((2, 4), [2.0, 2.0, 2.0])
        """
        x = remembered(self, self._input)
        cdt = compute_dtype_of(x.dtype)
        gy = check_grad(self, grad_output, (*x.shape[:-1], self.out_features), cdt)
        xc, w = x.astype(cdt, copy=False), np.asarray(self.weight, cdt)
        g2 = gy.reshape(-1, self.out_features)  # (*, out) -> (M, out)
        self.weight.accumulate((g2.T @ xc.reshape(-1, self.in_features)).astype(x.dtype))
        if self.bias is not None:
            self.bias.accumulate(g2.sum(axis=0).astype(x.dtype))
        return (gy @ w).astype(x.dtype, copy=False)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> Linear(4, 3, bias=False).extra_repr()
        'in_features=4, out_features=3, bias=False'
        """
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
