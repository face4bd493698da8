"""Pointwise layers, as ``torch.nn``'s: activations, ``Dropout``, ``Identity``, and ``Flatten``.

Each maps every element alone, so each streams with no delay (``m.stream()``, a
:class:`conv1d.stream.ElementwiseStream`; ``Dropout`` in eval mode only) and takes dask
arrays lazily. The output has the input's dtype (integers become float64); float16 and
bfloat16 are computed in float32 and rounded once. ``backward(grad_output)`` checks the
gradient's shape against the last output's and returns the input's gradient in its dtype.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ._layer import as_bool, as_dim, as_input, as_real, check_grad, compute_dtype_of, remembered, select
from .conv import as_rng
from .functional import is_dask_array
from .module import Module

__all__ = ["ELU", "GELU", "Dropout", "Flatten", "Identity", "LeakyReLU", "ReLU", "SiLU",
           "Sigmoid", "Tanh"]


#: Saturated tails (exp overflowing or underflowing, -inf * 0 in GELU) give IEEE's results,
#: which are PyTorch's, without NumPy's warnings.
def _ieee() -> np.errstate:
    return np.errstate(over="ignore", under="ignore", invalid="ignore")


class _Pointwise(Module):
    """Base of the elementwise layers: subclasses give ``_value``, ``_keep`` and ``_grad``.

    ``_value(x)`` computes the output from ``x`` in the computation's dtype; ``_keep(x, y)``
    returns what ``backward`` needs (``x`` by default; never ``y``, which the caller owns and
    a following in-place layer may overwrite); ``_grad(kept, gy)`` the input's gradient.
    """

    _transient: tuple[str, ...] = ("_kept", "_shape", "_dtype")
    inplace = False
    #: Whether ``_value`` may overflow or meet ``inf * 0`` (``exp``, products), so that it
    #: runs under :func:`_ieee` (an ``errstate`` costs about 1 us a call).
    _quiet = True
    #: Whether an in-place forward must copy what it keeps (ReLU's input may become its output).
    _copy_kept = True

    def __init__(self) -> None:
        super().__init__()
        self._kept: Any = None
        self._shape: tuple[int, ...] | None = None
        self._dtype: np.dtype | None = None

    def _value(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _keep(self, x: np.ndarray, y: np.ndarray) -> Any:
        return x

    def _grad(self, kept: Any, gy: np.ndarray, /) -> np.ndarray:
        raise NotImplementedError

    def _rounded(self, x: np.ndarray) -> np.ndarray:
        with _ieee():
            return self._value(x.astype(compute_dtype_of(x.dtype), copy=False)).astype(x.dtype,
                                                                                  copy=False)

    def forward(self, input: Any) -> Any:
        """The layer on ``input``, remembering what :meth:`backward` needs.

        A ``dask.array.Array`` gives a lazy ``dask.array.Array`` (block by block) and
        nothing is remembered.
        """
        if is_dask_array(input):
            self._kept = None
            dtype = np.dtype(np.float64) if input.dtype.kind in "iu" else input.dtype
            return input.astype(dtype).map_blocks(self._rounded, dtype=dtype)
        x = as_input(input)
        cdt = compute_dtype_of(x.dtype)
        xc = x if x.dtype == cdt else x.astype(cdt)
        if self._quiet:
            with _ieee():
                y = self._value(xc)
        else:
            y = self._value(xc)
        kept = self._keep(xc, y)
        if (self.inplace and self._copy_kept and isinstance(kept, np.ndarray)
                and np.may_share_memory(kept, input)):
            kept = kept.copy()  # the input is about to be overwritten
        # Straight into __dict__: Module.__setattr__'s checks (parameters, buffers, lists of
        # modules) never apply to these caches, and this runs on every call.
        self.__dict__.update(_kept=kept, _shape=x.shape, _dtype=x.dtype)
        y = y.astype(x.dtype, copy=False)
        if (self.inplace and isinstance(input, np.ndarray) and input.dtype == y.dtype
                and input.flags.writeable):
            input[...] = y
            return input
        return y

    def backward(self, grad_output: Any) -> np.ndarray:
        """``dloss/dinput`` from ``grad_output = dloss/doutput`` (the last output's shape)."""
        kept = remembered(self, self._kept)
        assert self._shape is not None and self._dtype is not None
        gy = check_grad(self, grad_output, self._shape, compute_dtype_of(self._dtype))
        with _ieee():
            return self._grad(kept, gy).astype(self._dtype, copy=False)

    def stream(self) -> Any:
        """Pointwise, so it streams with no delay: a :class:`conv1d.stream.ElementwiseStream`."""
        from .stream import ElementwiseStream

        if type(self).forward is not _Pointwise.forward:
            return ElementwiseStream(self)
        # forward's arithmetic without what it remembers for backward (nor an in-place write).
        return ElementwiseStream(self, lambda x: self._rounded(as_input(x)))

    def extra_repr(self) -> str:
        return "inplace=True" if self.inplace else ""


def _inplace(value: Any) -> bool:
    return as_bool("inplace", value)


#: Rows at least this long get a zeros row broadcast against them (see :func:`_zeros`).
_ZEROS_ROW_MIN = 512


def _zeros(x: np.ndarray) -> np.ndarray:
    """Zeros that broadcast against ``x``, for ``np.maximum(x, _zeros(x))`` (ReLU).

    NumPy 2.4's ``maximum`` and ``minimum`` with a scalar take a loop ~6x slower than with an
    array (25 us against 4 us for 64,000 float32, x86-64 with AVX-512). A row of zeros along
    the last axis takes the fast loop at the cost of one outer iteration (~0.1 us) a row, so
    long rows of a C-contiguous array get that row instead of a whole zeros array (which
    costs a pass of its own).
    """
    if x.ndim and x.shape[-1] >= _ZEROS_ROW_MIN and x.flags.c_contiguous:
        return np.zeros(x.shape[-1], x.dtype)
    return np.zeros_like(x)


#: Zeros arrays kept for :func:`_relu_into` (chunk-sized: at most this many, each at most
#: :data:`_RELU_ZEROS_SIZE` elements).
_RELU_ZEROS_KEPT = 16
_RELU_ZEROS_SIZE = 1 << 16
_relu_zeros: dict[tuple, np.ndarray] = {}


def _relu_into(y: np.ndarray) -> None:
    """ReLU written into ``y`` (a stream's fresh chunk): ``np.maximum`` against kept zeros."""
    if y.size > _RELU_ZEROS_SIZE:
        np.maximum(y, _zeros(y), out=y)
        return
    key = (y.shape, y.dtype)
    z = _relu_zeros.get(key)
    if z is None:
        if len(_relu_zeros) >= _RELU_ZEROS_KEPT:
            _relu_zeros.clear()
        z = np.zeros(y.shape, y.dtype)
        z.flags.writeable = False
        _relu_zeros[key] = z
    np.maximum(y, z, out=y)


class ReLU(_Pointwise):
    """``max(x, 0)`` elementwise, as ``torch.nn.ReLU``; the gradient passes where ``x > 0``.

    Parameters
    ----------
    inplace : bool, default False
        Write the result into the input (when it is a writable array of the output's dtype).

    Examples
    --------
    >>> import numpy as np
    >>> m = ReLU()
    >>> m(np.array([-1.0, 2.0]))
    array([0., 2.])
    >>> m.backward(np.ones(2))
    array([0., 1.])
    """

    _copy_kept = False
    _quiet = False  # max(x, 0) raises no floating-point flag

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def stream(self) -> Any:
        """Pointwise, as for every elementwise layer; in a stack, right after a ``Conv1d``, it
        works in place on that layer's fresh outputs (see :class:`conv1d.stream.ElementwiseStream`).

        Examples
        --------
        >>> ReLU().stream().delay
        0
        """
        from .stream import ElementwiseStream

        if type(self).forward is not _Pointwise.forward or type(self)._value is not ReLU._value:
            return super().stream()
        return ElementwiseStream(self, lambda x: self._rounded(as_input(x)), into=_relu_into)

    @property
    def _mask(self) -> np.ndarray | None:
        """Where the gradient passes (ReLU kept this mask before; now it keeps the input)."""
        return None if self._kept is None else ~(self._kept <= 0)

    def _value(self, x: np.ndarray) -> np.ndarray:
        return np.maximum(x, _zeros(x))  # NaN stays NaN, as in PyTorch

    def _keep(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # The input, not a mask: nothing to compute until backward. In place, the input
        # becomes the output, which gives the same mask (relu(relu(x)) = relu(x)).
        return x

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        return select(~(x <= 0), gy, 0)  # PyTorch's threshold_backward: NaN passes it


class Tanh(_Pointwise):
    """``tanh(x)`` elementwise, as ``torch.nn.Tanh``; gradient ``1 - tanh(x)**2``.

    Examples
    --------
    >>> import numpy as np
    >>> Tanh()(np.zeros((2, 3, 4))).shape
    (2, 3, 4)
    """

    def _value(self, x: np.ndarray) -> np.ndarray:
        return np.tanh(x)

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        # The input is kept, not the output, which a following in-place layer may overwrite;
        # tanh(x) again gives the same output, and PyTorch's gradient from it.
        y = np.tanh(x)
        return gy * (1 - y * y)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` in four passes over one new array (exp(-x) = inf for x << 0 gives
    the limit 0)."""
    y = np.negative(x)
    np.exp(y, out=y)
    y += 1
    return np.divide(1, y, out=y)


class Sigmoid(_Pointwise):
    """``1 / (1 + exp(-x))`` elementwise, as ``torch.nn.Sigmoid``.

    Examples
    --------
    >>> import numpy as np
    >>> Sigmoid()(np.zeros(2))
    array([0.5, 0.5])
    """

    def _value(self, x: np.ndarray) -> np.ndarray:
        return _sigmoid(x)

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        y = _sigmoid(x)  # recomputed from the kept input, as in Tanh
        return gy * (1 - y) * y


class SiLU(_Pointwise):
    """``x * sigmoid(x)`` elementwise (swish), as ``torch.nn.SiLU``.

    Parameters
    ----------
    inplace : bool, default False
        Write the result into the input (when it is a writable array of the output's dtype).

    Examples
    --------
    >>> import numpy as np
    >>> SiLU()(np.zeros(2))
    array([0., 0.])
    """

    def __init__(self, inplace: bool = False) -> None:
        super().__init__()
        self.inplace = _inplace(inplace)

    def _value(self, x: np.ndarray) -> np.ndarray:
        y = np.negative(x)  # x / (1 + exp(-x)), in place after the first pass
        np.exp(y, out=y)
        y += 1
        return np.divide(x, y, out=y)

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        s = _sigmoid(x)
        return gy * s * (1 + x * (1 - s))


#: GELU's constants as PyTorch writes them (aten/src/ATen/native/cpu/Activation.cpp).
_SQRT1_2 = 1 / math.sqrt(2)
_PDF_SCALE = 2 / math.sqrt(math.pi) * _SQRT1_2 * 0.5  # 1 / sqrt(2 pi)
_TANH_BETA = math.sqrt(2) * 2 / math.sqrt(math.pi) * 0.5  # sqrt(2 / pi)
_TANH_KAPPA = 0.044715


#: erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z / 2), for z >= 0: relative error below 1.2e-7
#: everywhere (a Chebyshev fit; Press et al., "Numerical Recipes in C", 2nd ed., 6.2, erfcc).
_ERFC_P = (0.17087277, -0.82215223, 1.48851587, -1.13520398, 0.27886807, -0.18628806,
           0.09678418, 0.37409196, 1.00002368, -1.26551223)  # highest power first


def _normal_cdf(x: np.ndarray) -> np.ndarray:
    """``Phi(x) = 0.5 * (1 + erf(x / sqrt(2)))`` in ``x``'s dtype (float32 or float64).

    float64: SciPy's ``erf``. float32: the ``erfc`` fit above, evaluated in float32 (30 NumPy
    passes, ~3x faster than SciPy's ``erf`` at 25 ns an element): GELU from it is within
    4.3e-7 relatively of the exact value for x > 0, as PyTorch's float32 GELU is (3.7e-7), both
    measured on a grid of [-12, 12]. The tail ``x < 0`` is ``erfc(|z|) / 2`` itself, with no
    cancellation in ``1 + erf`` (where PyTorch's float32 result loses all its digits).
    """
    if x.dtype != np.float32:
        from scipy.special import erf  # a dependency; imported lazily

        return 0.5 * (1 + erf(x * _SQRT1_2))
    f = np.float32
    z = np.abs(x) * f(_SQRT1_2)
    t = 1 / (1 + f(0.5) * z)
    poly = f(_ERFC_P[0])
    for c in _ERFC_P[1:]:
        poly = poly * t + f(c)
    erfc = t * np.exp(poly - z * z)  # erfc(|z|), in [0, 1]
    return f(0.5) * select(x >= 0, 2 - erfc, erfc)


#: The fit's coefficients, the constant term plus ``log(1/2)``, all times ``log2(e)``: ``exp2``
#: of the fit then gives ``erfc / 2``. (NumPy 2.4's float32 ``exp2`` takes 10 us for 64,000
#: elements against 24 us for ``exp``, x86-64 with AVX-512, and the scaled argument is rounded
#: as often as the unscaled one.)
_HALF_ERFC_P2 = tuple(c / math.log(2) for c in (*_ERFC_P[:-1], _ERFC_P[-1] + math.log(0.5)))

#: Elements per block in :func:`_gelu_float32`: its four scratch arrays of 256 KiB stay in
#: a core's L2 cache through the 30 passes, which on larger arrays would each go to memory.
_GELU_BLOCK = 65536


def _gelu_float32(x: np.ndarray) -> np.ndarray:
    """``x * Phi(x)`` for float32 ``x``, from the ``erfc`` fit of :func:`_normal_cdf`.

    With ``h = erfc(|x| / sqrt(2)) / 2 = Phi(-|x|)``, ``x * Phi(x) = max(x, 0) - |x| * h``:
    ``x - x * h`` for ``x >= 0`` and ``x * h`` itself below (no cancellation in the tail),
    with no select. 30 passes, each writing into one of four scratch arrays, block by block.
    """
    y = np.empty(x.shape, np.float32)
    flat_x, flat_y = np.ravel(x), y.reshape(-1)  # (a copy of x when it is not contiguous)
    n = flat_x.size
    scratch = np.empty((4, min(n, _GELU_BLOCK)), np.float32)
    for i in range(0, n, _GELU_BLOCK):
        j = min(n, i + _GELU_BLOCK)
        a, z2, t, p = scratch[:, : j - i]
        _gelu_block(flat_x[i:j], flat_y[i:j], a, z2, t, p)
    return y


def _gelu_block(x: np.ndarray, y: np.ndarray, a: np.ndarray, z2: np.ndarray, t: np.ndarray,
                p: np.ndarray) -> None:
    """:func:`_gelu_float32` on 1-D ``x`` into ``y``, with the scratch arrays ``a`` to ``p``."""
    f = np.float32
    np.abs(x, out=a)
    np.multiply(a, a, out=z2)
    z2 *= f(0.5 / math.log(2))  # z^2 log2(e), z = |x| / sqrt(2)
    np.multiply(a, f(_SQRT1_2 * 0.5), out=t)
    t += f(1)
    np.divide(f(1), t, out=t)  # t = 1 / (1 + z / 2)
    np.multiply(t, f(_HALF_ERFC_P2[0]), out=p)
    p += f(_HALF_ERFC_P2[1])
    for c in _HALF_ERFC_P2[2:]:  # Horner
        p *= t
        p += f(c)
    p -= z2
    np.exp2(p, out=p)
    p *= t  # h = erfc(z) / 2
    p *= a
    if not a.max(initial=0) < np.inf:  # inf (or NaN) in x: h(inf) * inf = 0 * inf is NaN,
        p[x == np.inf] = 0  # the limit 0 for GELU(inf) = inf; GELU(-inf) stays NaN (PyTorch's)
    z2.fill(0)
    np.maximum(x, z2, out=y)
    y -= p


class GELU(_Pointwise):
    """Gaussian error linear unit ``x * Phi(x)``, as ``torch.nn.GELU``.

    Parameters
    ----------
    approximate : {"none", "tanh"}, default "none"
        ``"none"``: ``Phi`` is the normal CDF, ``0.5 * (1 + erf(x / sqrt(2)))`` (in float32,
        to within float32's rounding: see ``_normal_cdf``). ``"tanh"``:
        ``0.5 * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)))`` (Hendrycks & Gimpel,
        arXiv:1606.08415).

    Examples
    --------
    >>> import numpy as np
    >>> GELU(approximate="tanh")
    GELU(approximate='tanh')
    >>> GELU()(np.array([0.0, 10.0]))
    array([ 0., 10.])
    """

    def __init__(self, approximate: str = "none") -> None:
        super().__init__()
        if approximate not in ("none", "tanh"):
            raise ValueError(f"approximate must be one of ('none', 'tanh'), got {approximate!r}")
        self.approximate = approximate

    def _value(self, x: np.ndarray) -> np.ndarray:
        if self.approximate == "tanh":
            inner = _TANH_BETA * (x + _TANH_KAPPA * x * x * x)
            return 0.5 * x * (1 + np.tanh(inner))
        if x.dtype == np.float32:
            return _gelu_float32(x)
        return x * _normal_cdf(x)

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        if self.approximate == "tanh":
            x_sq = x * x
            t = np.tanh(_TANH_BETA * (x + _TANH_KAPPA * x_sq * x))
            left_derivative = 0.5 * (1 + t)
            right_derivative = 0.5 * x * (1 - t * t) * _TANH_BETA * (1 + 3 * _TANH_KAPPA * x_sq)
            return gy * (left_derivative + right_derivative)
        cdf = _normal_cdf(x)
        pdf = np.exp(-0.5 * x * x) * _PDF_SCALE
        return gy * (cdf + x * pdf)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> GELU().extra_repr()
        "approximate='none'"
        """
        return f"approximate={self.approximate!r}"


class LeakyReLU(_Pointwise):
    """``x`` where ``x > 0``, else ``negative_slope * x``, as ``torch.nn.LeakyReLU``.

    Parameters
    ----------
    negative_slope : float, default 0.01
    inplace : bool, default False
        Write the result into the input (when it is a writable array of the output's dtype).

    Examples
    --------
    >>> import numpy as np
    >>> LeakyReLU(0.5)(np.array([-2.0, 2.0]))
    array([-1.,  2.])
    """

    def __init__(self, negative_slope: float = 0.01, inplace: bool = False) -> None:
        super().__init__()
        self.negative_slope = as_real("negative_slope", negative_slope)
        self.inplace = _inplace(inplace)

    def _value(self, x: np.ndarray) -> np.ndarray:
        slope = x.dtype.type(self.negative_slope)
        y = np.multiply(x, slope)
        if slope == 0:  # x * 0 is NaN at x = inf, and -inf * 0 is NaN as in PyTorch
            return select(x > 0, x, y)
        # x and slope * x have opposite signs or are both x: the larger one (for slope < 1)
        # or the smaller one (slope > 1) is the result, exactly, with NaN kept.
        return np.maximum(x, y, out=y) if slope < 1 else np.minimum(x, y, out=y)

    def _keep(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        # The input (nothing to compute until backward), or the mask in place, where the
        # input is about to become the output.
        return x > 0 if self.inplace else x

    def _grad(self, kept: np.ndarray, gy: np.ndarray) -> np.ndarray:
        positive = kept if kept.dtype == bool else kept > 0
        return select(positive, gy, gy * gy.dtype.type(self.negative_slope))

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> LeakyReLU(0.2, inplace=True).extra_repr()
        'negative_slope=0.2, inplace=True'
        """
        s = f"negative_slope={self.negative_slope}"
        return s + (", inplace=True" if self.inplace else "")


class ELU(_Pointwise):
    """``x`` where ``x > 0``, else ``alpha * (exp(x) - 1)``, as ``torch.nn.ELU``.

    Parameters
    ----------
    alpha : float, default 1.0
    inplace : bool, default False
        Write the result into the input (when it is a writable array of the output's dtype).

    Examples
    --------
    >>> import numpy as np
    >>> ELU()(np.array([0.0, 1.0]))
    array([0., 1.])
    """

    def __init__(self, alpha: float = 1.0, inplace: bool = False) -> None:
        super().__init__()
        self.alpha = as_real("alpha", alpha)
        self.inplace = _inplace(inplace)

    def _value(self, x: np.ndarray) -> np.ndarray:
        # max(x, 0) + alpha * expm1(min(x, 0)): one term is exactly 0 (or -0) and the other
        # the result, with no select; NaN is kept.
        zeros = _zeros(x)
        y = np.minimum(x, zeros)
        np.expm1(y, out=y)
        if self.alpha != 1:
            y *= x.dtype.type(self.alpha)
        y += np.maximum(x, zeros)
        return y

    def _grad(self, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
        a = x.dtype.type(self.alpha)
        # PyTorch: alpha at x == 0.
        return select(x <= 0, gy * a * np.exp(np.minimum(x, np.zeros_like(x))), gy)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> ELU(0.5).extra_repr()
        'alpha=0.5'
        """
        return f"alpha={self.alpha}" + (", inplace=True" if self.inplace else "")


class Identity(_Pointwise):
    """The input, unchanged (any arguments are accepted and ignored, as ``torch.nn.Identity``).

    Examples
    --------
    >>> import numpy as np
    >>> Identity(54, unused="x")(np.ones(2))
    array([1., 1.])
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__()

    def forward(self, input: Any) -> Any:
        """``input`` itself (no copy); its shape and dtype are kept for :meth:`backward`.

        Examples
        --------
        >>> import numpy as np
        >>> x = np.ones(3)
        >>> Identity()(x) is x
        True
        """
        if is_dask_array(input):
            self._kept = None
            return input
        x = np.asarray(input)
        self._kept, self._shape, self._dtype = True, x.shape, x.dtype
        return input

    def backward(self, grad_output: Any) -> np.ndarray:
        """``grad_output``, checked against the last input's shape.

        Examples
        --------
        >>> import numpy as np
        >>> m = Identity()
        >>> _ = m(np.ones(3))
        >>> m.backward(np.full(3, 2.0))
        array([2., 2., 2.])
        """
        remembered(self, self._kept)
        assert self._shape is not None and self._dtype is not None
        dtype = self._dtype if self._dtype.kind == "f" or self._dtype.name == "bfloat16" else None
        return check_grad(self, grad_output, self._shape,
                          dtype or np.asarray(grad_output).dtype)


class Dropout(_Pointwise):
    """Zero each element with probability ``p`` in training, scale the rest by ``1 / (1 - p)``.

    As ``torch.nn.Dropout``: the identity in eval mode (``m.eval()``). The mask is drawn from
    the layer's own generator, so ``rng=`` makes training reproducible.

    Parameters
    ----------
    p : float, default 0.5
        Probability of zeroing an element, in [0, 1].
    inplace : bool, default False
        Write the result into the input (when it is a writable array of the output's dtype).
    rng : None, int or numpy.random.Generator, keyword-only
        Source of the masks.

    Examples
    --------
    >>> import numpy as np
    >>> m = Dropout(0.25, rng=0)
    >>> y = m(np.ones((4, 1000)))
    >>> sorted(set(np.unique(y).tolist()))
    [0.0, 1.3333333333333333]
    >>> m.backward(np.ones((4, 1000))).shape
    (4, 1000)
    """

    _transient = (*_Pointwise._transient, "_scale")

    def __init__(self, p: float = 0.5, inplace: bool = False, *, rng: Any = None) -> None:
        super().__init__()
        if isinstance(p, (bool, np.bool_)) or not isinstance(p, (int, float, np.integer,
                                                                 np.floating)):
            raise TypeError(f"p must be a real number, got {p!r}")
        if not 0 <= p <= 1:
            raise ValueError(f"dropout probability p must be in [0, 1], got {p!r}")
        self.p = float(p)
        self.inplace = _inplace(inplace)
        self.rng = as_rng(rng)
        self._scale: Any = None

    def _active(self) -> bool:
        return bool(getattr(self, "training", True)) and self.p > 0

    def _value(self, x: np.ndarray) -> np.ndarray:
        if not self._active():
            self._scale = None
            return x
        # mask / (1 - p), as PyTorch (zero everywhere when p == 1).
        keep = self.rng.random(x.shape) >= self.p
        scale = x.dtype.type(0 if self.p == 1 else 1 / (1 - self.p))
        self._scale = keep * scale  # (bool * scalar: no np.where, slow on a random mask)
        return x * self._scale

    def _keep(self, x: np.ndarray, y: np.ndarray) -> Any:
        return True if self._scale is None else self._scale

    def _grad(self, scale: Any, gy: np.ndarray) -> np.ndarray:
        return gy if scale is True else gy * scale

    def stream(self) -> Any:
        """In eval mode the identity, so it streams with no delay; in training it cannot.

        Examples
        --------
        >>> Dropout().eval().stream().delay
        0
        """
        if self._active():
            raise ValueError(
                "Dropout streams in eval mode only (call .eval() on the model first): "
                "in training it draws a new mask for every call"
            )
        return super().stream()

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> Dropout(0.1).extra_repr()
        'p=0.1, inplace=False'
        """
        return f"p={self.p}, inplace={self.inplace}"


class Flatten(Module):
    """Merge the axes ``start_dim`` to ``end_dim`` into one, as ``torch.nn.Flatten``.

    Parameters
    ----------
    start_dim : int, default 1
    end_dim : int, default -1
        Negative numbers count from the last axis.

    Examples
    --------
    >>> import numpy as np
    >>> m = Flatten()
    >>> m(np.zeros((2, 3, 4))).shape
    (2, 12)
    >>> m.backward(np.ones((2, 12))).shape
    (2, 3, 4)
    """

    _transient = ("_shape", "_out_shape")

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim = as_dim("start_dim", start_dim)
        self.end_dim = as_dim("end_dim", end_dim)
        self._shape: tuple[int, ...] | None = None
        self._out_shape: tuple[int, ...] = ()

    def forward(self, input: Any) -> np.ndarray:
        """``input`` reshaped (a view when its layout allows, as ``torch.flatten``).

        Examples
        --------
        >>> import numpy as np
        >>> Flatten(0, 1)(np.zeros((2, 3, 4))).shape
        (6, 4)
        """
        x = np.asarray(input)
        nd = max(x.ndim, 1)  # a 0-d array flattens to (1,), as in PyTorch
        start, end = self.start_dim, self.end_dim
        if not (-nd <= start < nd and -nd <= end < nd):
            raise ValueError(
                f"Flatten: start_dim={start} and end_dim={end} must be axes of the "
                f"{x.ndim}-D input of shape {x.shape} (in [{-nd}, {nd - 1}])"
            )
        start, end = start % nd, end % nd
        if start > end:
            raise ValueError(
                f"Flatten: start_dim={self.start_dim} must not come after end_dim={self.end_dim} "
                f"for a {x.ndim}-D input"
            )
        shape = x.shape if x.ndim else (1,)
        out = (*shape[:start], math.prod(shape[start:end + 1]), *shape[end + 1:])
        self._shape, self._out_shape = x.shape, out
        return x.reshape(out)

    def backward(self, grad_output: Any) -> np.ndarray:
        """``grad_output`` (the last output's shape) reshaped to the input's shape.

        Examples
        --------
        >>> import numpy as np
        >>> m = Flatten()
        >>> _ = m(np.zeros((2, 3, 4)))
        >>> m.backward(np.ones((2, 12))).shape
        (2, 3, 4)
        """
        shape = remembered(self, self._shape)
        gy = check_grad(self, grad_output, self._out_shape, np.asarray(grad_output).dtype)
        return gy.reshape(shape)

    def extra_repr(self) -> str:
        """The arguments ``repr`` shows, as PyTorch's.

        Examples
        --------
        >>> Flatten().extra_repr()
        'start_dim=1, end_dim=-1'
        """
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
