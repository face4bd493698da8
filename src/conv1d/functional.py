"""Stateless convolution: ``conv1d`` and its gradients, ``conv1d_backward``.

The data path is one line: validate once (:class:`~conv1d.spec.ConvSpec`) -> pad -> correlate
(the chosen algorithm) -> add the bias. The backward pass runs it in reverse: the
algorithm's gradients on the padded signal -> the adjoint of the padding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, overload

import numpy as np

from .algorithms import Algorithm, Problem, _dtype_name, forward_with_bias, get_algorithm
from .padding import pad, pad_backward
from .plan import FUNCTIONAL_PLANS, ConvPlan, call_key
from .spec import ConvSpec, as_groups, check_data_format

if TYPE_CHECKING:
    import dask.array

__all__ = ["Gradients", "conv1d", "conv1d_backward"]

#: The dtypes the algorithms compute in.
COMPUTE_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))
#: Storage-only dtypes: the data path upcasts them to float32 at its entry and rounds its
#: results back at its exit, so the algorithms never see them. bfloat16 is ml_dtypes' and is
#: recognised by name, so that nothing here imports ml_dtypes unless asked for a bfloat16.
HALF_DTYPE_NAMES = ("float16", "bfloat16")
SUPPORTED_DTYPES = "float16, bfloat16, float32 or float64"


def is_half(dtype: np.dtype) -> bool:
    """Whether ``dtype`` is float16 or bfloat16, i.e. stored in half but computed in float32."""
    dtype = np.dtype(dtype)
    # itemsize first: dtype.name is slow (~2 us), and this runs on every call's arrays.
    return dtype.itemsize == 2 and dtype.name in HALF_DTYPE_NAMES


def bfloat16() -> np.dtype:
    """ml_dtypes' bfloat16 dtype, importing ml_dtypes on first use."""
    try:
        import ml_dtypes
    except ImportError:
        raise ImportError(
            "bfloat16 needs the ml_dtypes package: pip install ml_dtypes (or conv1d[half])"
        ) from None
    return np.dtype(ml_dtypes.bfloat16)


@overload
def upcast_half(array: np.ndarray) -> np.ndarray: ...
@overload
def upcast_half(array: None) -> None: ...
def upcast_half(array: np.ndarray | None) -> np.ndarray | None:
    """``array`` cast to float32 if it is float16/bfloat16 (same memory layout), else as given.

    Examples
    --------
    >>> upcast_half(np.ones(2, np.float16)).dtype, upcast_half(None)
    (dtype('float32'), None)
    """
    return array.astype(np.float32) if array is not None and is_half(array.dtype) else array


def upcast(*arrays: np.ndarray | None) -> list[np.ndarray | None]:
    """The arrays with float16/bfloat16 ones cast to float32 (same memory layout); others as given."""
    return [upcast_half(a) for a in arrays]


class Gradients(NamedTuple):
    """Gradients of a convolution's loss; ``bias`` is ``None`` when there is no bias.

    What :func:`conv1d_backward` returns: each gradient has its argument's shape.

    Examples
    --------
    >>> g = conv1d_backward(np.ones((1, 2, 3)), np.ones((1, 1, 5)), np.ones((2, 1, 3)))
    >>> type(g).__name__, g.input.shape, g.weight.shape, g.bias
    ('Gradients', (1, 1, 5), (2, 1, 3), None)
    >>> gx, gw, gb = g  # a tuple, unpacked in this order
    >>> gx[0, 0].tolist()  # how many outputs read each input sample, times 2 channels
    [2.0, 4.0, 6.0, 4.0, 2.0]
    """

    input: np.ndarray
    weight: np.ndarray
    bias: np.ndarray | None


#: :func:`conv1d.dask.conv1d`, which takes a Dask ``input`` off :func:`conv1d`'s hands. A slot
#: that conv1d.dask fills when imported (the package's ``__init__`` imports it), not an import
#: of it, because conv1d.dask builds on this module; imports stay a tree.
dask_conv1d: Callable[..., Any] | None = None


def is_dask_array(value: Any) -> bool:
    """Whether ``value`` is a ``dask.array.Array`` (never imports dask to find out).

    Examples
    --------
    >>> import numpy as np
    >>> is_dask_array(np.zeros(3))
    False
    """
    da = sys.modules.get("dask.array")
    return da is not None and isinstance(value, da.Array)


def as_real_array(name: str, value: Any) -> np.ndarray:
    """``np.asarray(value)``, refusing what a convolution cannot take (bool, complex, text)."""
    arr = np.asarray(value)
    if arr.dtype.kind not in "iuf" and arr.dtype.name != "bfloat16":
        raise TypeError(
            f"{name} must be a real floating-point or integer array, got dtype {arr.dtype}"
        )
    return arr


def compute_dtype(*arrays: np.ndarray) -> np.dtype:
    """The result's dtype: NumPy's promotion of the operands, extended to bfloat16.

    Integers alone promote to float64. float16 promotes as NumPy promotes it (with float32 to
    float32; with int8 to float16, int16 to float32, wider integers to float64). bfloat16
    promotes exactly as float16 would, except that bfloat16 with float16 gives float32, the
    smallest type holding both (JAX's rule too); NumPy itself refuses most of these pairs.

    Examples
    --------
    >>> import numpy as np
    >>> compute_dtype(np.zeros(1, np.float16), np.zeros(1, np.float32))
    dtype('float32')
    >>> compute_dtype(np.zeros(1, np.float16), np.zeros(1, np.int8))
    dtype('float16')
    """
    dtypes = [a.dtype for a in arrays]
    if all(d in COMPUTE_DTYPES for d in dtypes):  # the common case, without the name look-ups
        return np.result_type(*dtypes)
    names = {a.dtype.name for a in arrays}
    # float16 stands in for bfloat16: same promotion, and NumPy knows float16's.
    dt = np.result_type(*(np.float16 if a.dtype.name == "bfloat16" else a.dtype for a in arrays))
    if dt.kind in "iu":
        return np.dtype(np.float64)
    if dt == np.float16 and "bfloat16" in names:
        dt = np.dtype(np.float32) if "float16" in names else bfloat16()
    if dt not in COMPUTE_DTYPES and not is_half(dt):
        raise TypeError(f"supported floating dtypes are {SUPPORTED_DTYPES}, got {dt}")
    return dt


def to_format(a: np.ndarray, data_format: str) -> np.ndarray:
    """Swap the channel and length axes for ``"channels_last"``: a view, never a copy.

    The swap is its own inverse: ``(N, L, C) -> (N, C, L)`` at the data path's entry,
    ``(N, C, L) -> (N, L, C)`` at its exit (and ``(L, C) <-> (C, L)`` unbatched).
    """
    return a.swapaxes(-1, -2) if data_format == "channels_last" else a


def as_batch(
    x: np.ndarray, spec: ConvSpec, data_format: str = "channels_first"
) -> tuple[np.ndarray, bool]:
    """Check an input against ``spec``; return it as ``(N, C_in, L)`` and whether it was 2-D.

    A ``"channels_last"`` input ``(N, L, C_in)`` comes back as a transposed view.
    """
    last = data_format == "channels_last"
    if x.ndim not in (2, 3):
        if last:
            raise ValueError(
                f"expected a 2-D (L, C_in) or 3-D (N, L, C_in) input "
                f"(data_format='channels_last'), got shape {x.shape}"
            )
        raise ValueError(
            f"expected a 2-D (C_in, L) or 3-D (N, C_in, L) input, got shape {x.shape}"
        )
    unbatched = x.ndim == 2
    x3 = to_format(x[None] if unbatched else x, data_format)
    if x3.shape[1] != spec.in_channels:
        if last:
            raise ValueError(
                f"expected input with {spec.in_channels} channels on its last axis "
                f"(in_channels={spec.in_channels}, groups={spec.groups}, "
                f"data_format='channels_last'), got input of shape {x.shape}"
            )
        raise ValueError(
            f"expected input with {spec.in_channels} channels (in_channels={spec.in_channels}, "
            f"groups={spec.groups}), got input of shape {x.shape}"
        )
    spec.check_length(x3.shape[2])
    return x3, unbatched


def check_bias(b: np.ndarray | None, out_channels: int) -> None:
    if b is not None and b.shape != (out_channels,):
        raise ValueError(f"bias must have shape ({out_channels},), got {b.shape}")


def padded_problem(x: np.ndarray, w: np.ndarray, spec: ConvSpec) -> Problem:
    """The correlation the algorithms see for a batch ``(N, C_in, L)``: on the padded length."""
    return Problem.of(x, w, spec.stride, spec.dilation, spec.groups,
                      spec.pad_left + spec.pad_right)


def correlate(x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec,
              algo: Algorithm) -> np.ndarray:
    """Pad -> correlate -> bias: the step between validation and the output.

    ``x`` is a validated ``(N, C_in, L)`` batch and ``w``, ``b`` its weight and bias, all in
    float32 or float64; ``algo`` comes from :func:`~conv1d.algorithms.get_algorithm`. Every
    forward pass runs through here (the plans of :mod:`conv1d.plan` too, except the small
    problems their own GEMM kernel runs). An algorithm whose ``zero_pads`` is true (the native
    kernels) takes zero padding as arguments instead of a padded copy.
    """
    args, pads = (spec.stride, spec.dilation, spec.groups), (spec.pad_left, spec.pad_right)
    if spec.padding_mode == "zeros" and algo.zero_pads:
        return forward_with_bias(algo, x, w, b, *args, *pads)  # it reads the zeros itself
    xp = pad(x, *pads, spec.padding_mode)
    return forward_with_bias(algo, xp, w, b, *args)


def correlate_backward(gy: np.ndarray, x: np.ndarray, w: np.ndarray, has_bias: bool,
                       spec: ConvSpec, algo: Algorithm) -> Gradients:
    """:func:`correlate` in reverse: the algorithm's gradients -> the padding's adjoint.

    Returns the gradients in the compute dtype (the bias's is ``gy`` summed over batch and
    time, ``None`` without a bias).
    """
    args, pads = (spec.stride, spec.dilation, spec.groups), (spec.pad_left, spec.pad_right)
    if spec.padding_mode == "zeros" and algo.zero_pads:
        gx = algo.grad_input(gy, w, x.shape[-1], *args, *pads)  # it reads the zeros itself
        gw = algo.grad_weight(gy, x, spec.kernel_size, *args, *pads)
    else:
        xp = pad(x, *pads, spec.padding_mode)
        gxp = algo.grad_input(gy, w, xp.shape[-1], *args)
        gx = pad_backward(gxp, *pads, spec.padding_mode)
        gw = algo.grad_weight(gy, xp, spec.kernel_size, *args)
    return Gradients(gx, gw, gy.sum(axis=(0, 2)) if has_bias else None)


def forward(
    x: np.ndarray, w: np.ndarray, b: np.ndarray | None, spec: ConvSpec, algorithm: str = "auto"
) -> np.ndarray:
    """Convolve a validated ``(N, C_in, L)`` input (the layer and ``conv1d`` both end here).

    float16/bfloat16 operands are upcast to float32 here and the output is rounded to ``x``'s
    dtype once, at the end: the algorithms accumulate in float32 and never see half types.
    """
    out_dtype = x.dtype
    x, w, b = upcast_half(x), upcast_half(w), upcast_half(b)
    algo = get_algorithm(algorithm, padded_problem(x, w, spec))
    return correlate(x, w, b, spec, algo).astype(out_dtype, copy=False)


def backward(
    gy: np.ndarray,
    x: np.ndarray,
    w: np.ndarray,
    has_bias: bool,
    spec: ConvSpec,
    algorithm: str = "auto",
) -> Gradients:
    """Gradients for a validated input: :func:`forward` in reverse.

    As in :func:`forward`, half-precision operands are computed in float32; each gradient is
    rounded once, at the end, to its argument's dtype (the bias's to the weight's).
    """
    x_dtype, w_dtype = x.dtype, w.dtype
    gy, x, w = upcast_half(gy), upcast_half(x), upcast_half(w)
    algo = get_algorithm(algorithm, padded_problem(x, w, spec))
    gx, gw, gb = correlate_backward(gy, x, w, has_bias, spec, algo)
    gb = None if gb is None else gb.astype(w_dtype, copy=False)
    return Gradients(gx.astype(x_dtype, copy=False), gw.astype(w_dtype, copy=False), gb)


def prepare_weights(
    input_dtype: np.dtype, weight, bias, stride, padding, dilation, groups, padding_mode
) -> tuple[np.ndarray, np.ndarray | None, ConvSpec]:
    """Validate ``weight``, ``bias`` and the arguments; cast both to the computation's dtype.

    Shared by the in-memory path and :mod:`conv1d.dask`, which has no input array to hand.
    """
    w = as_real_array("weight", weight)
    b = None if bias is None else as_real_array("bias", bias)
    if w.ndim != 3:
        raise ValueError(
            f"weight must be 3-D (out_channels, in_channels/groups, kernel_size), "
            f"got shape {w.shape}"
        )
    dtype = compute_dtype(np.empty(0, input_dtype), w, *([] if b is None else [b]))
    c_out, cg, kernel = w.shape
    g = as_groups(groups)
    spec = ConvSpec.from_args(cg * g, c_out, kernel, stride, padding, dilation, g, padding_mode)
    check_bias(b, spec.out_channels)
    return w.astype(dtype, copy=False), None if b is None else b.astype(dtype, copy=False), spec


def _prepare(input, weight, bias, stride, padding, dilation, groups, padding_mode, data_format):
    check_data_format(data_format)
    x = as_real_array("input", input)
    w, b, spec = prepare_weights(x.dtype, weight, bias, stride, padding, dilation, groups,
                                 padding_mode)
    x3, unbatched = as_batch(x, spec, data_format)
    return x3.astype(w.dtype, copy=False), w, b, spec, unbatched


def make_plan(input: np.ndarray, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
              spec: ConvSpec, unbatched: bool, algorithm: str, data_format: str) -> ConvPlan:
    """The :class:`~conv1d.plan.ConvPlan` of a call that :func:`_prepare` has validated.

    ``input`` is the caller's array; ``x``, ``w``, ``b`` what :func:`_prepare` made of it (or,
    for a layer, the batch and the layer's parameters). Raises what :func:`forward` would
    (an algorithm that cannot run the problem).
    """
    compute = np.dtype(np.float32) if is_half(w.dtype) else w.dtype
    problem = Problem(x.shape[0], spec.in_channels, spec.out_channels, spec.kernel_size,
                      x.shape[2] + spec.pad_left + spec.pad_right, spec.stride, spec.dilation,
                      spec.groups, _dtype_name(compute))
    algo = get_algorithm(algorithm, problem)
    return ConvPlan(spec, x, w, b is not None, algorithm, algo, data_format, unbatched,
                    np.asarray(input).dtype != w.dtype, correlate, correlate_backward, Gradients)


def output_shape(x: np.ndarray, spec: ConvSpec, unbatched: bool,
                 data_format: str) -> tuple[int, ...]:
    """The shape of the output of ``x`` (N, C_in, L) in the caller's layout.

    Examples
    --------
    >>> spec = ConvSpec(4, 8, 3)
    >>> output_shape(np.zeros((2, 4, 10)), spec, False, "channels_last")
    (2, 8, 8)
    >>> output_shape(np.zeros((1, 4, 10)), spec, True, "channels_first")
    (8, 8)
    """
    c_out, l_out = spec.out_channels, spec.output_length(x.shape[2])
    shape: tuple[int, ...] = (c_out, l_out) if data_format == "channels_first" else (l_out, c_out)
    return shape if unbatched else (x.shape[0], *shape)


def check_out(out: Any, shape: tuple[int, ...], dtype: np.dtype, *operands: Any) -> None:
    """Refuse an ``out`` that cannot take a result of ``shape`` and ``dtype`` as it is.

    ``out`` must be a writeable, C-contiguous ``numpy.ndarray`` of exactly that shape and
    dtype (no casting), sharing no memory with any of the ``operands`` that are arrays (the
    kernels read them while they write ``out``).

    Raises
    ------
    TypeError
        ``out`` is not an ndarray.
    ValueError
        Any other rule broken; the message names ``out``, what it is and what is needed.

    Examples
    --------
    >>> check_out(np.empty((2, 3), np.float32), (2, 3), np.dtype(np.float32))
    >>> check_out(np.empty((3, 2), np.float32), (2, 3), np.dtype(np.float32))
    Traceback (most recent call last):
    ...
    ValueError: out must have the result's shape (2, 3), got (3, 2)
    """
    if not isinstance(out, np.ndarray):
        raise TypeError(f"out must be a numpy.ndarray, got {type(out).__name__}")
    if out.shape != shape:
        raise ValueError(f"out must have the result's shape {shape}, got {out.shape}")
    if out.dtype != dtype:
        raise ValueError(f"out must have the result's dtype {dtype} (no casting), "
                         f"got {out.dtype}")
    if not out.flags.c_contiguous:
        raise ValueError(f"out must be C-contiguous in the result's layout (shape {shape}), "
                         f"got strides {out.strides}")
    if not out.flags.writeable:
        raise ValueError("out must be writeable, got a read-only array")
    for a in operands:
        if isinstance(a, np.ndarray) and np.shares_memory(out, a):
            raise ValueError("out must not share memory with input, weight or bias, "
                             f"got one that overlaps an operand of shape {a.shape}")


def grad_output_batch(grad_output: Any, x: np.ndarray, spec: ConvSpec, unbatched: bool,
                      data_format: str, what: str = "the output's shape") -> np.ndarray:
    """Check ``grad_output`` against the output of ``x`` (N, C_in, L); return it (N, C_out, L_out).

    ``what`` names the shape expected in the error message.
    """
    gy = as_real_array("grad_output", grad_output)
    expected = output_shape(x, spec, unbatched, data_format)
    if gy.shape != expected:
        raise ValueError(f"grad_output must have {what} {expected}, got {gy.shape}")
    return to_format(gy[None] if unbatched else gy, data_format).astype(x.dtype, copy=False)


# NumPy in, NumPy out; dask in, dask out. The ndarray overload comes first so that it holds
# where dask is not installed (its Array is then unknown to the type checker).
@overload
def conv1d(
    input: np.ndarray | Sequence[Any],
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int] = ...,
    padding: int | tuple[int] | tuple[int, int] | str = ...,
    dilation: int | tuple[int] = ...,
    groups: int = ...,
    padding_mode: str = ...,
    *,
    algorithm: str = ...,
    data_format: str = ...,
    out: np.ndarray | None = ...,
) -> np.ndarray: ...
@overload
def conv1d(
    input: dask.array.Array,
    weight: Any,
    bias: Any = ...,
    stride: int | tuple[int] = ...,
    padding: int | tuple[int] | tuple[int, int] | str = ...,
    dilation: int | tuple[int] = ...,
    groups: int = ...,
    padding_mode: str = ...,
    *,
    algorithm: str = ...,
    data_format: str = ...,
    out: None = ...,
) -> dask.array.Array: ...


def conv1d(
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str = "auto",
    data_format: str = "channels_first",
    out: np.ndarray | None = None,
) -> np.ndarray | dask.array.Array:
    """1D cross-correlation of ``input`` with ``weight``, as ``torch.nn.functional.conv1d``.

    Parameters
    ----------
    input : array_like, shape (N, C_in, L) or (C_in, L)
        The signal (``(N, L, C_in)`` or ``(L, C_in)`` when ``data_format="channels_last"``).
        Integer input is promoted like NumPy promotes it with ``weight``. A
        ``dask.array.Array`` gives a lazy ``dask.array.Array`` (see :mod:`conv1d.dask`).
    weight : array_like, shape (C_out, C_in / groups, K)
        The filters.
    bias : array_like, shape (C_out,), optional
        Added to every output sample of each channel.
    stride, dilation : int or 1-tuple
        Step between outputs; spacing between kernel taps.
    padding : int, 1-tuple, (left, right) pair, or {"valid", "same", "causal"}
        Samples added to each end. ``"same"`` adds ``dilation*(K-1)`` in total, the odd one on
        the right (stride 1 only); ``"causal"`` adds all of it on the left.
    groups : int
        Blocked connections: ``C_in`` and ``C_out`` both split into ``groups`` parts.
    padding_mode : {"zeros", "reflect", "replicate", "circular"}
        What the padded samples hold.
    algorithm : str
        ``"auto"`` or a name from ``conv1d.algorithms.ALGORITHMS``.
    data_format : {"channels_first", "channels_last"}
        Layout of ``input`` and of the result: ``(N, C, L)`` as PyTorch, or ``(N, L, C)`` as
        Keras, TF and JAX allow. ``weight`` keeps PyTorch's layout either way.
    out : ndarray, optional
        Where to write the result, which is then ``out`` itself: a writeable, C-contiguous
        array of exactly the result's shape (in ``data_format``'s layout; unbatched input,
        unbatched shape) and dtype (no casting), sharing no memory with ``input``,
        ``weight`` or ``bias``. Reusing one buffer spares a large output's allocation and
        page faults on every call. Not with a Dask ``input`` (TypeError).

    Returns
    -------
    ndarray, shape (N, C_out, L_out) or (C_out, L_out)
        ``(N, L_out, C_out)`` or ``(L_out, C_out)`` for ``"channels_last"``;
        ``L_out = floor((L + left + right - dilation*(K-1) - 1) / stride) + 1``, in the
        promoted dtype (see :func:`compute_dtype`: float16, bfloat16, float32 or float64).
        ``out`` when given.

    Notes
    -----
    float16 and bfloat16 (ml_dtypes') are storage types: the operands are upcast to float32,
    accumulated in float32 and the result is rounded once to the promoted dtype.

    ``"channels_last"`` swaps axes at the boundary, as views: the algorithm sees the input as
    a transposed ``(N, C, L)`` view and the result is the transposed view of its
    ``(N, C_out, L_out)`` output (C-contiguous exactly when the algorithm wrote it channels
    last; ``np.ascontiguousarray`` if you need it so). Copies happen only inside: padding
    writes the padded input channels-first, the half-precision upcast keeps the layout, and an
    algorithm may copy a strided view it cannot use as it is.

    With ``out``, the native algorithm writes straight into ``out`` (channels first, float32
    or float64, zero padding or none: no output-sized temporary); the other algorithms,
    channels-last and half-precision results, and other padding modes compute a fresh
    output and copy it into ``out``. ``out``'s contents never matter, and a call refused
    for a bad argument leaves it unchanged.

    Examples
    --------
    >>> import numpy as np
    >>> x = np.ones((20, 16, 50), np.float32)
    >>> w = np.ones((33, 16, 3), np.float32)
    >>> y = conv1d(x, w, stride=2)
    >>> y.shape, y.dtype, float(y[0, 0, 0])
    ((20, 33, 24), dtype('float32'), 48.0)
    >>> conv1d(x.transpose(0, 2, 1), w, stride=2, data_format="channels_last").shape
    (20, 24, 33)
    >>> conv1d(x.astype(np.float16), w.astype(np.float16)).dtype
    dtype('float16')
    >>> buf = np.empty((20, 33, 24), np.float32)  # reused by every call
    >>> conv1d(x, w, stride=2, out=buf) is buf, float(buf[0, 0, 0])
    (True, 48.0)
    """
    args = (stride, padding, dilation, groups, padding_mode, algorithm, data_format)
    key = call_key(input, weight, bias, args)
    plan = None if key is None else FUNCTIONAL_PLANS.get(key)
    if plan is not None and plan.current():  # a signature validated before: run its plan
        if out is not None:
            check_out(out, plan.y_shape, plan.dtype, input, weight, bias)
        return plan.forward(input, weight, bias, out)
    if is_dask_array(input):
        if out is not None:
            raise TypeError("out cannot be used with a dask input (its result is a lazy "
                            "dask array): compute the input first, or drop out")
        if dask_conv1d is not None:  # lazy, block by block: conv1d.dask
            return dask_conv1d(input, weight, bias, stride, padding, dilation, groups,
                               padding_mode, algorithm=algorithm, data_format=data_format)
    x, w, b, spec, unbatched = _prepare(input, weight, bias, *args[:5], data_format)
    if out is not None:  # the plan's key leaves out aside: it never changes what runs
        check_out(out, output_shape(x, spec, unbatched, data_format), w.dtype, input, weight,
                  bias)
    if key is not None:
        plan = FUNCTIONAL_PLANS.put(key, make_plan(input, x, w, b, spec, unbatched, *args[-2:]))
        return plan.forward(input, weight, bias, out)
    y = to_format(forward(x, w, b, spec, algorithm), data_format)
    y = y[0] if unbatched else y
    if out is None:
        return y
    np.copyto(out, y)
    return out


def conv1d_backward(
    grad_output: Any,
    input: Any,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] | str = 0,
    dilation: int | tuple[int] = 1,
    groups: int = 1,
    padding_mode: str = "zeros",
    *,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> Gradients:
    """Gradients of a loss through :func:`conv1d`, given ``grad_output = dloss/dy``.

    Takes :func:`conv1d`'s arguments after ``grad_output`` (shaped like its output, in
    ``data_format``'s layout).

    Returns
    -------
    Gradients
        Named tuple ``(input, weight, bias)``, each shaped like its argument (``input``'s in
        ``data_format``'s layout, a transposed view for ``"channels_last"``); ``bias`` is
        ``None`` when ``bias`` is ``None``. Padded samples fold their gradient back onto the
        samples they copy (reflect, replicate, circular). Half-precision operands are
        computed in float32 and each gradient is rounded once to the promoted dtype.

    Examples
    --------
    >>> import numpy as np
    >>> x, w = np.ones((2, 4, 10)), np.ones((3, 4, 3))
    >>> g = conv1d_backward(np.ones((2, 3, 8)), x, w, np.zeros(3))
    >>> g.input.shape, g.weight.shape, g.bias.shape
    ((2, 4, 10), (3, 4, 3), (3,))
    >>> xl, gyl = x.transpose(0, 2, 1), np.ones((2, 8, 3))
    >>> conv1d_backward(gyl, xl, w, data_format="channels_last").input.shape
    (2, 10, 4)
    """
    args = (stride, padding, dilation, groups, padding_mode, algorithm, data_format)
    key = call_key(input, weight, bias, args)
    plan = None if key is None else FUNCTIONAL_PLANS.get(key)
    if plan is not None and not plan.current():
        plan = None
    if plan is not None:  # the signature is valid; grad_output is checked against its output
        gy = plan.grad_batch(grad_output)
        if gy is not None:
            return plan.backward(gy, input, weight, bias)
    if any(is_dask_array(a) for a in (grad_output, input, weight, bias)):
        raise TypeError(
            "conv1d_backward needs in-memory arrays, got a dask array: compute it first "
            "(e.g. x.compute()) or process the signal in in-memory pieces"
        )
    x, w, b, spec, unbatched = _prepare(input, weight, bias, *args[:5], data_format)
    gy = grad_output_batch(grad_output, x, spec, unbatched, data_format)
    if key is not None:
        if plan is None:
            plan = make_plan(input, x, w, b, spec, unbatched, algorithm, data_format)
            FUNCTIONAL_PLANS.put(key, plan)
        return plan.backward(gy, input, weight, bias)
    grads = backward(gy, x, w, b is not None, spec, algorithm)
    gx = to_format(grads.input, data_format)
    return grads._replace(input=gx[0] if unbatched else gx)


# The transposed convolution runs the same algorithms through their gradients, in a module of
# its own that builds on this one: conv1d.functional_transpose puts its two functions here
# when imported (the package's __init__ imports it), as torch.nn.functional offers them.
# Type checkers see them through this import; imports stay a tree.
if TYPE_CHECKING:
    from .functional_transpose import conv_transpose1d, conv_transpose1d_backward

__all__ += ["conv_transpose1d", "conv_transpose1d_backward"]
