"""Per-call plans: everything that depends only on a call's signature, worked out once.

A call of :func:`conv1d.functional.conv1d`, :func:`~conv1d.functional.conv1d_backward` or a
:class:`~conv1d.Conv1d` layer does much the same work every time before any arithmetic:
validation, the :class:`~conv1d.spec.ConvSpec`, dtypes and casts, the output shape, the
padding amounts, the algorithm ``"auto"`` picks. On a small layer that work costs more than
the arithmetic. A :class:`ConvPlan` holds its results for one *signature* (the arrays'
shapes, strides and dtypes and every other argument), so a repeated call runs only the plan.

The key
-------
:func:`call_key` builds the functional calls' key from everything validation looks at: each
array's shape, strides and dtype, and every other argument with its type (``stride=True``
and ``stride=1.0`` compare equal to ``1`` but are refused, so they must not share ``1``'s
plan; tuples are keyed element by element). A plan is built only after the full validation
of :mod:`conv1d.functional` has passed, so a call that would fail never finds one and raises
exactly the error it always did. A layer keys its plans by the input's shape, strides and
dtype and checks that its spec, algorithm, layout, weight and bias are still the objects the
plan was built for (never their values: weights change in place between calls).

Bounds
------
:data:`FUNCTIONAL_PLANS` keeps the :data:`MAX_PLANS` most recently used plans (least recently
used out first); a layer keeps at most :data:`MAX_LAYER_PLANS` of its own. A plan holds no
array of its caller's. Small problems (all buffers within :data:`SMALL_BYTES`) run through
:class:`GemmKernel`, whose padded-input and column buffers are allocated once: each plan
keeps at most one idle set, so functional plans hold at most ``MAX_PLANS * SMALL_BYTES``
(32 MiB) of buffers, and a layer at most ``MAX_LAYER_PLANS * SMALL_BYTES`` (2 MiB).

Threads
-------
Plans are immutable once built, except :class:`GemmKernel`'s buffers, which a call takes from
the kernel's free list and gives back when done (a call that finds the list empty allocates
its own set): concurrent calls never share a buffer, and every output is a fresh array.

Exactness
---------
A plan computes what the unplanned path computes, bit for bit: the generic plan calls the
same data-path function (pad -> correlate -> bias) with the same arrays; with the native
algorithm and zero padding it calls :func:`conv1d.algorithms.native.run`, the function
``native.forward`` ends in, with the arguments it would work out (its checks done once); :class:`GemmKernel`
is the ``gemm`` algorithm's single-chunk case (:mod:`conv1d.algorithms.gemm`) with the same
BLAS products on the same operands, only its buffers and strided views made once.
``tests/test_plan.py`` checks both against the unplanned path with ``assert_array_equal``.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import as_strided

from . import algorithms as _algorithms
from .algorithms import ALGORITHMS, Algorithm, Problem, gemm
from .algorithms import native as _native
from .autotune import is_enabled as autotune_enabled
from .padding import edge_indices, pad_backward
from .spec import ConvSpec

__all__ = [
    "MAX_LAYER_PLANS",
    "MAX_PLANS",
    "SMALL_BYTES",
    "ConvPlan",
    "GemmKernel",
    "PlanCache",
    "call_key",
    "clear",
]

#: Functional plans kept (least recently used dropped first). A program calls few distinct
#: signatures; 64 covers a deep network's layers at a couple of batch shapes each, and a plan
#: dropped costs one rebuild (~50 us).
MAX_PLANS = 64
#: Plans one layer keeps (its usual one, plus e.g. a last, shorter batch or a validation size).
MAX_LAYER_PLANS = 4
#: Largest buffer set, in bytes, that :class:`GemmKernel` keeps between calls: it covers the
#: small layers where a call's overhead dominates (the seed example's set is 315 KiB) and is
#: well below ``gemm.CHUNK_BYTES``, so the kernel's one product is exactly ``gemm``'s one chunk.
SMALL_BYTES = 512 << 10


class PlanCache:
    """A bounded least-recently-used mapping from keys to plans; safe to share between threads.

    Examples
    --------
    >>> cache = PlanCache(2)
    >>> for key in "abc":
    ...     _ = cache.put(key, key.upper())
    >>> len(cache), cache.get("a"), cache.get("c")
    (2, None, 'C')
    """

    def __init__(self, maxsize: int) -> None:
        self.maxsize = maxsize
        self._plans: OrderedDict[Any, Any] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: Any) -> Any:
        """The plan for ``key`` (now the most recently used), or ``None``."""
        plan = self._plans.get(key)
        if plan is not None:
            try:
                self._plans.move_to_end(key)
            except KeyError:  # another thread evicted it meanwhile: still a valid plan
                pass
        return plan

    def put(self, key: Any, plan: Any) -> Any:
        """Store ``plan`` under ``key``, dropping the least recently used beyond ``maxsize``."""
        with self._lock:
            self._plans[key] = plan
            self._plans.move_to_end(key)
            while len(self._plans) > self.maxsize:
                self._plans.popitem(last=False)
        return plan

    def clear(self) -> None:
        with self._lock:
            self._plans.clear()

    def __len__(self) -> int:
        return len(self._plans)


#: The plans of :func:`conv1d.functional.conv1d` and ``conv1d_backward`` (they share them).
FUNCTIONAL_PLANS = PlanCache(MAX_PLANS)


def clear() -> None:
    """Forget every functional plan (layers' plans go with their layers).

    Examples
    --------
    >>> clear()
    >>> len(FUNCTIONAL_PLANS)
    0
    """
    FUNCTIONAL_PLANS.clear()


def _tagged(value: Any) -> Any:
    """``value`` with its type, element by element for tuples and lists (hashable or raises)."""
    if isinstance(value, (tuple, list)):
        return type(value), tuple(_tagged(v) for v in value)
    hash(value)  # unhashable (an array as an argument): TypeError, and no plan
    return type(value), value


def call_key(input: Any, weight: Any, bias: Any, args: tuple) -> tuple | None:
    """The plan key of a functional call, or ``None`` when it cannot have a plan.

    ``args`` is ``(stride, padding, dilation, groups, padding_mode, algorithm, data_format)``.
    Only NumPy arrays have plans (lists, dask arrays and other objects take the unplanned
    path). Plain ``int`` and ``str`` arguments are keyed as they are; anything else with its
    type, so that no value that validation refuses shares a key with one it accepts.

    Examples
    --------
    >>> x, w = np.zeros((1, 2, 8)), np.zeros((3, 2, 3))
    >>> args = (1, 0, 1, 1, "zeros", "auto", "channels_first")
    >>> call_key(x, w, None, args) == call_key(x, w, None, (True, *args[1:]))
    False
    >>> call_key([[0.0]], w, None, args) is None
    True
    """
    if not (isinstance(input, np.ndarray) and isinstance(weight, np.ndarray)
            and (bias is None or isinstance(bias, np.ndarray))):
        return None
    stride, padding, dilation, groups, padding_mode, algorithm, data_format = args
    if not (type(stride) is type(dilation) is type(groups) is int
            and type(padding_mode) is type(algorithm) is type(data_format) is str
            and (type(padding) is int or type(padding) is str)):
        try:
            args = _tagged(args)
        except TypeError:
            return None
    b = None if bias is None else (bias.shape, bias.strides, bias.dtype)
    return (input.shape, input.strides, input.dtype, weight.shape, weight.strides, weight.dtype,
            b, args)


def _blasable(a: np.ndarray) -> np.ndarray:
    """``a`` if its rows are contiguous, else a contiguous copy (``gemm``'s rule, mirrored)."""
    if a.strides[-1] == a.itemsize or a.shape[-1] <= 1:
        return a
    return np.ascontiguousarray(a)


class GemmKernel:
    """``gemm``'s forward and gradients for one small problem, buffers and views made once.

    The same im2col products as :mod:`conv1d.algorithms.gemm` on a problem that fits one of
    its chunks, with the padding built in: the input is copied into a persistent padded
    buffer (zeros at the edges stay zero; other modes copy their edge samples), one copy
    through a precomputed strided view writes the columns (with the row of ones for the bias
    written once), and one ``np.matmul`` writes the fresh output. Buffer sets come from a
    free list, so concurrent calls never share one; at most one idle set is kept.

    Parameters
    ----------
    spec : ConvSpec
        The convolution, with its padding.
    batch, length : int
        Samples and (unpadded) input length.
    dtype : numpy.dtype
        float32 or float64: what the products compute in.
    has_bias : bool
        Whether the forward takes a bias (its row of ones lives in the column buffer).
    fuse_bias : bool, default True
        ``False``: no row of ones; the bias is added to the product's output instead, which
        spares copying the weight into a matrix with the bias beside it (a stream, which
        need not round as ``gemm`` does, saves that copy per chunk).

    Examples
    --------
    >>> k = GemmKernel(ConvSpec(4, 8, 3, pad_left=1, pad_right=1), batch=1, length=32,
    ...                dtype=np.float32, has_bias=False)
    >>> x, w = np.ones((1, 4, 32), np.float32), np.ones((8, 4, 3), np.float32)
    >>> k.forward(x, w, None)[0, 0, :3]
    array([ 8., 12., 12.], dtype=float32)
    """

    def __init__(self, spec: ConvSpec, batch: int, length: int, dtype: np.dtype,
                 has_bias: bool, *, fuse_bias: bool = True) -> None:
        self.spec, self.dtype, self.has_bias = spec, np.dtype(dtype), has_bias
        self.ones = has_bias and fuse_bias
        self.batch, self.length = batch, length
        self.padded = length + spec.pad_left + spec.pad_right
        self.out_length = spec.output_length(length)
        g = spec.groups
        self.cg, self.og = spec.in_channels // g, spec.out_channels // g
        self.rows = self.cg * spec.kernel_size
        mode = spec.padding_mode
        self.edges = None
        if mode != "zeros" and (spec.pad_left or spec.pad_right):
            self.edges = edge_indices(length, spec.pad_left, spec.pad_right, mode)
        self._free: list[tuple] = []

    @staticmethod
    def nbytes(spec: ConvSpec, batch: int, length: int, itemsize: int) -> int:
        """Bytes of one buffer set: padded input and its gradient, two column buffers, weights."""
        cg, k = spec.in_channels // spec.groups, spec.kernel_size
        lo, lp = spec.output_length(length), length + spec.pad_left + spec.pad_right
        cols = batch * spec.groups * (cg * k + 1) * lo
        weights = spec.out_channels * (cg * k + 1)
        return itemsize * (2 * batch * spec.in_channels * lp + 2 * cols + weights)

    @classmethod
    def fits(cls, spec: ConvSpec, batch: int, length: int, dtype: np.dtype) -> bool:
        """Whether the kernel runs this problem: small, and ``gemm``'s one-chunk case.

        A 1x1 kernel at stride 1 is excluded (``gemm`` multiplies the input itself there).
        """
        if batch == 0 or (spec.kernel_size == 1 and spec.stride == 1):
            return False
        item = np.dtype(dtype).itemsize
        cg = spec.in_channels // spec.groups
        # gemm runs one chunk when the columns (forward, grad_input) and the per-sample
        # weight products (grad_weight) fit its CHUNK_BYTES; SMALL_BYTES is well below.
        cols = batch * spec.in_channels * spec.kernel_size * spec.output_length(length) * item
        prods = batch * spec.out_channels * cg * spec.kernel_size * item
        limit = min(SMALL_BYTES, gemm.CHUNK_BYTES)
        return max(cols, prods) <= limit and cls.nbytes(spec, batch, length, item) <= SMALL_BYTES

    def _buffers(self) -> tuple:
        """A buffer set and its views, made once (see :meth:`forward` and :meth:`backward`)."""
        sp, n, dt = self.spec, self.batch, self.dtype
        g, cg, k, lo, lp = sp.groups, self.cg, sp.kernel_size, self.out_length, self.padded
        left, s, d, rows = sp.pad_left, sp.stride, sp.dilation, self.rows
        xp = np.zeros((n, sp.in_channels, lp), dt)  # the padded input
        interior = xp[..., left : left + self.length]
        it = dt.itemsize
        # (N, C_in, Lp) -> (N, G, C_in/g, K, L_out): tap k, output t reads xp[..., k*d + s*t]
        src = as_strided(xp, (n, g, cg, k, lo),
                         (sp.in_channels * lp * it, cg * lp * it, lp * it, d * it, s * it),
                         writeable=False)
        cols = np.empty((n, g, rows + self.ones, lo), dt)  # + gemm's row of ones for bias
        if self.ones:
            cols[:, :, -1] = 1
        taps = cols[:, :, :rows].reshape(n, g, cg, k, lo)
        # gemm's weight matrix with the bias as its last column, and views to fill it.
        wb = np.empty((g, self.og, rows + 1), dt)
        w_view = wb[:, :, :rows].reshape(sp.out_channels, cg, k)
        b_view = wb[:, :, rows].reshape(sp.out_channels)
        # grad_input's columns, the padded gradient and one (gradient, columns) pair per tap.
        gcols = np.empty((n, g, rows, lo), dt)
        gxp = np.empty((n, sp.in_channels, lp), dt)
        gc = gcols.reshape(n, sp.in_channels, k, lo)
        col2im = [(gxp[:, :, t * d : t * d + s * (lo - 1) + 1 : s], gc[:, :, t]) for t in range(k)]
        return (xp, interior, src, cols, taps, wb, w_view, b_view, gcols, gxp, col2im,
                cols[:, :, :rows].transpose(0, 1, 3, 2), gxp[..., left : left + self.length])

    def _take(self) -> tuple:
        try:
            return self._free.pop()
        except IndexError:
            return self._buffers()

    def _give(self, bufs: tuple) -> None:
        if not self._free:
            self._free.append(bufs)

    def _columns(self, bufs: tuple, x: np.ndarray) -> np.ndarray:
        """Pad ``x`` into the buffer and write its columns; return the column buffer."""
        xp, interior, src, cols, taps = bufs[:5]
        np.copyto(interior, x)
        if self.edges is not None:  # as padding.pad: gather the copied edge samples
            left, li, ri = self.spec.pad_left, *self.edges
            xp[..., :left] = x[..., li]
            xp[..., left + self.length :] = x[..., ri]
        np.copyto(taps, src)
        return cols

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        """``gemm.forward(pad(x), w, ..., b)``: ``(N, C_in, L)`` -> ``(N, C_out, L_out)``."""
        bufs = self._take()
        self._columns(bufs, x)
        y = self._product(bufs, w, b)
        self._give(bufs)
        return y

    def forward_keep(self, x: np.ndarray, w: np.ndarray,
                     b: np.ndarray | None) -> tuple[np.ndarray, tuple]:
        """:meth:`forward`, keeping its buffer set (with ``x``'s columns) for :meth:`backward`.

        The caller owns the set until it passes it to :meth:`backward` or :meth:`release`.
        """
        bufs = self._take()
        self._columns(bufs, x)
        return self._product(bufs, w, b), bufs

    def release(self, bufs: tuple) -> None:
        """Give back a set kept by :meth:`forward_keep` that no backward will use."""
        self._give(bufs)

    def source(self, buf: np.ndarray, offset: int) -> np.ndarray:
        """A read-only strided view of the columns of ``buf[..., offset:]``, which must hold
        the already padded input ``(N, C_in, >= offset + L)``: for :meth:`forward_from`.

        A stream keeps its samples in such a buffer and makes the view once, which spares
        it a copy of the window per call.
        """
        sp = self.spec
        n_st, c_st, t_st = buf.strides
        return as_strided(buf[..., offset:], (self.batch, sp.groups, self.cg, sp.kernel_size,
                                              self.out_length),
                          (n_st, self.cg * c_st, c_st, sp.dilation * t_st, sp.stride * t_st),
                          writeable=False)

    def forward_from(self, src: np.ndarray, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        """:meth:`forward` of an already padded input, given as its :meth:`source` view."""
        bufs = self._take()
        np.copyto(bufs[4], src)
        y = self._product(bufs, w, b)
        self._give(bufs)
        return y

    def _product(self, bufs: tuple, w: np.ndarray, b: np.ndarray | None) -> np.ndarray:
        """The output from the columns in ``bufs``."""
        g, og, n, lo = self.spec.groups, self.og, self.batch, self.out_length
        if b is None or not self.ones:
            wg = np.ascontiguousarray(w).reshape(g, og, self.rows)
        else:  # gemm's np.concatenate([w, b], axis=2), into the set's own matrix
            wg = bufs[5]
            np.copyto(bufs[6], w)
            np.copyto(bufs[7], b)
        y = np.empty((n, self.spec.out_channels, lo), self.dtype)
        # (G, og, cg*K [+1]) @ (N, G, cg*K [+1], L_out) -> (N, G, og, L_out), written into y
        np.matmul(wg, bufs[3], out=y.reshape(n, g, og, lo))
        if b is not None and not self.ones:
            np.add(y, b[:, None], out=y)
        return y

    def backward(self, gy: np.ndarray, x: np.ndarray, w: np.ndarray, has_bias: bool,
                 kept: tuple | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """``(grad_input, grad_weight, grad_bias)`` as ``gemm``'s gradients and the padding's
        adjoint give them, in the compute dtype (``grad_bias`` not yet cast).

        ``kept``: the set :meth:`forward_keep` returned for this ``x``, whose columns then
        need no second copy (the set is given back).
        """
        sp, n, g, og, lo, rows = self.spec, self.batch, self.spec.groups, self.og, \
            self.out_length, self.rows
        bufs = self._take() if kept is None else kept
        gcols, gxp, col2im, cols_t, gx_interior = bufs[8:]
        gys = _blasable(gy).reshape(n, g, og, lo)
        # grad_input: gcols = W^T @ gy, then col2im, one strided add per tap (gemm's order).
        wt = np.ascontiguousarray(w).reshape(g, og, rows).transpose(0, 2, 1)
        np.matmul(wt, gys, out=gcols)
        gxp.fill(0)
        for dst, src in col2im:
            np.add(dst, src, out=dst)
        if self.edges is None:  # zeros: the adjoint drops the padded samples
            gx = gx_interior.copy()
        else:
            gx = pad_backward(gxp, sp.pad_left, sp.pad_right, sp.padding_mode)
        # grad_weight: sum_n gy[n, g] @ cols[n, g]^T, the columns without the bias row; gemm
        # adds the sum into zeros, which is adding zero (so -0.0 comes out as 0.0 there too).
        if kept is None:
            self._columns(bufs, x)
        prod = np.matmul(gys, cols_t)  # (N, G, og, cg*K)
        gw = prod[0] if n == 1 else prod.sum(axis=0)
        np.add(gw, 0, out=gw)
        self._give(bufs)
        gb = gy.sum(axis=(0, 2)) if has_bias else None
        return gx, gw.reshape(sp.out_channels, self.cg, sp.kernel_size), gb


class ConvPlan:
    """One call signature, validated and worked out: run it with :meth:`forward`/:meth:`backward`.

    Built by :mod:`conv1d.functional` (and the layer) after validation, from the validated
    batch ``x3`` ``(N, C_in, L)``, weight and bias in the compute dtype. The data-path steps
    come in as functions (``correlate``: pad -> correlate -> bias; ``correlate_backward``: its
    gradients; ``gradients``: the named tuple to return), so that this module imports nothing
    that imports it.

    Parameters
    ----------
    spec : ConvSpec
    x3, w : numpy.ndarray
        The first call's validated batch and weight (their shapes and dtypes are the plan's).
    has_bias : bool
    algorithm : str
        As given (``"auto"`` or a registered name).
    algo : Algorithm
        What :func:`conv1d.algorithms.get_algorithm` returned for this problem.
    data_format : str
    unbatched : bool
        Whether the caller's input is 2-D.
    cast_x : bool
        Whether the input must be cast to the compute dtype (a copy).
    correlate, correlate_backward, gradients : callable
        The data path's steps (see above).

    Examples
    --------
    >>> from conv1d import functional as F
    >>> x, w = np.ones((2, 4, 10), np.float32), np.ones((3, 4, 3), np.float32)
    >>> y = F.conv1d(x, w, algorithm="gemm")  # validates, builds this signature's plan, runs it
    >>> key = F.call_key(x, w, None, (1, 0, 1, 1, "zeros", "gemm", "channels_first"))
    >>> p = F.FUNCTIONAL_PLANS.get(key)
    >>> p.y_shape, p.algo.name, p.kernel is not None
    ((2, 3, 8), 'gemm', True)
    """

    def __init__(self, spec: ConvSpec, x3: np.ndarray, w: np.ndarray, has_bias: bool,
                 algorithm: str, algo: Algorithm, data_format: str, unbatched: bool,
                 cast_x: bool, correlate: Callable[..., np.ndarray],
                 correlate_backward: Callable[..., Any], gradients: Callable[..., Any]) -> None:
        self.spec, self.algorithm, self.data_format = spec, algorithm, data_format
        self.unbatched, self.last = unbatched, data_format == "channels_last"
        self.dtype, self.cast_x, self.has_bias = w.dtype, cast_x, has_bias
        n, _, length = x3.shape
        self.y3_shape = (n, spec.out_channels, spec.output_length(length))
        c_out, l_out = self.y3_shape[1:]
        y = (l_out, c_out) if self.last else (c_out, l_out)
        self.y_shape = y if unbatched else (n, *y)  # the output in the caller's layout
        # float16/bfloat16 are computed in float32 and rounded back (functional.forward).
        self.half = self.dtype.itemsize == 2
        compute = np.dtype(np.float32) if self.half else self.dtype
        self._correlate, self._correlate_backward = correlate, correlate_backward
        self._gradients = gradients
        # "auto" is resolved here unless autotune is on at call time (then it measures).
        self.auto = algorithm == "auto" and algo is ALGORITHMS["auto"]
        self.algo = algo
        self._choose = _algorithms.choose
        if self.auto:
            problem = Problem(n, spec.in_channels, spec.out_channels, spec.kernel_size,
                              length + spec.pad_left + spec.pad_right, spec.stride,
                              spec.dilation, spec.groups, compute.name)
            self.algo = ALGORITHMS[self._choose(problem)]
        self.kernel: GemmKernel | None = None
        if self.algo is gemm.ALGORITHM and GemmKernel.fits(spec, n, length, compute):
            self.kernel = GemmKernel(spec, n, length, compute, has_bias)
        # The native kernels read zero padding themselves: the plan calls them directly,
        # with what their entry point would check and work out done here once.
        self.native = (self.algo is ALGORITHMS.get("native") and self.algo.forward is
                       _native.forward and (spec.padding_mode == "zeros"
                                            or not (spec.pad_left or spec.pad_right)))
        # A layer's plan also records what it was built for (see conv1d.conv.Conv1d).
        # (weight, bias: the layer's Parameters; w, b: plain views of them; all None here.)
        self.weight: Any = None
        self.bias: Any = None
        self.w: Any = None
        self.b: Any = None

    def current(self) -> bool:
        """Whether the registry still holds the algorithm (and the choice) the plan was built
        with: one replaced or wrapped since (a test's spy, a new implementation) rebuilds it."""
        return (ALGORITHMS.get(self.algo.name) is self.algo
                and (not self.auto or _algorithms.choose is self._choose))

    def batch(self, x: np.ndarray) -> np.ndarray:
        """The caller's input as the validated ``(N, C_in, L)`` batch in the compute dtype."""
        x3 = x[None] if self.unbatched else x
        if self.last:
            x3 = x3.swapaxes(1, 2)
        return x3.astype(self.dtype) if self.cast_x else x3

    def run(self, x3: np.ndarray, w: np.ndarray, b: np.ndarray | None,
            out: np.ndarray | None = None) -> np.ndarray:
        """``functional.forward`` on a validated batch: ``(N, C_out, L_out)``.

        ``out``: a validated ``(N, C_out, L_out)`` view of the caller's output buffer. The
        native kernels write into it when it is C-contiguous in the compute dtype (then it is
        what comes back); every other path returns a fresh array for the caller to copy.
        """
        if self.half:
            x3, w = x3.astype(np.float32), w.astype(np.float32)
            b = None if b is None else b.astype(np.float32)
        if self.auto and autotune_enabled():
            y = self._correlate(x3, w, b, self.spec, ALGORITHMS["auto"])
        elif self.kernel is not None:
            y = self.kernel.forward(x3, w, b)
        elif self.native:  # what correlate -> native.forward runs, past their checks
            sp = self.spec
            into = out if out is not None and out.flags.c_contiguous else None
            y = _native.run(np.ascontiguousarray(x3), w, b, self.y3_shape[2], sp.stride,
                            sp.dilation, sp.groups, sp.pad_left, into)
        else:
            y = self._correlate(x3, w, b, self.spec, self.algo)
        return y.astype(self.dtype) if self.half else y

    def run_keep(self, x3: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                 ) -> tuple[np.ndarray, tuple | None]:
        """:meth:`run`, also returning what :meth:`run_backward` may reuse (or ``None``): the
        GEMM kernel's buffer set with the columns of ``x3``, as ``(kernel, set, x3)``."""
        if self.kernel is None or self.half or (self.auto and autotune_enabled()):
            return self.run(x3, w, b), None
        y, bufs = self.kernel.forward_keep(x3, w, b)
        return y, (self.kernel, bufs, x3)

    def output(self, y: np.ndarray) -> np.ndarray:
        """``(N, C_out, L_out)`` in the caller's layout (a view)."""
        if self.last:
            y = y.swapaxes(1, 2)
        return y[0] if self.unbatched else y

    def forward(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                out: np.ndarray | None = None) -> np.ndarray:
        """The whole functional call for arrays matching the plan's key.

        ``out``: the caller's output buffer, already checked against :attr:`y_shape` and the
        dtype (``conv1d.functional.check_out``); the result is written into it and it is
        returned. Only the native path writes in place (channels first, float32/float64);
        the others compute a fresh output and copy it in.
        """
        dt = self.dtype
        w = np.asarray(w).astype(dt, copy=False)
        b = None if b is None else np.asarray(b).astype(dt, copy=False)
        x3 = self.batch(np.asarray(x))
        if out is None:
            return self.output(self.run(x3, w, b))
        y3 = out[None] if self.unbatched else out  # (N, C_out, L_out), a view of out
        if self.last:
            y3 = y3.swapaxes(1, 2)
        y = self.run(x3, w, b, None if self.half else y3)
        if y is not y3:
            np.copyto(y3, y)
        return out

    def grad_batch(self, grad_output: Any) -> np.ndarray | None:
        """``grad_output`` as ``(N, C_out, L_out)`` in the compute dtype, or ``None`` when it
        is not a real array of the output's shape (the caller then raises the error)."""
        if (type(grad_output) is not np.ndarray or grad_output.shape != self.y_shape
                or grad_output.dtype.kind not in "fiu"):
            return None
        gy = grad_output[None] if self.unbatched else grad_output
        if self.last:
            gy = gy.swapaxes(1, 2)
        return gy.astype(self.dtype, copy=False)

    def run_backward(self, gy: np.ndarray, x3: np.ndarray, w: np.ndarray, has_bias: bool,
                     kept: tuple | None = None) -> Any:
        """``functional.backward`` on validated arrays: gradients ``(N, C_in, L)``, weight, bias.

        ``kept``: what :meth:`run_keep` returned for this very ``x3`` (anything else is
        released and ignored).
        """
        if kept is not None and (kept[0] is not self.kernel or kept[2] is not x3
                                 or (self.auto and autotune_enabled())):
            kept[0].release(kept[1])
            kept = None
        dt = self.dtype
        if self.half:
            gy, x3, w = gy.astype(np.float32), x3.astype(np.float32), w.astype(np.float32)
        if self.auto and autotune_enabled():
            gx, gw, gb = self._correlate_backward(gy, x3, w, has_bias, self.spec,
                                                  ALGORITHMS["auto"])
        elif self.kernel is not None:
            gx, gw, gb = self.kernel.backward(gy, x3, w, has_bias, None if kept is None else kept[1])
        else:
            gx, gw, gb = self._correlate_backward(gy, x3, w, has_bias, self.spec, self.algo)
        if gb is not None:
            gb = gb.astype(dt, copy=False)
        return self._gradients(gx.astype(dt, copy=False), gw.astype(dt, copy=False), gb)

    def backward(self, gy: np.ndarray, x: np.ndarray, w: np.ndarray,
                 b: np.ndarray | None) -> Any:
        """The whole ``conv1d_backward`` call, ``gy`` already checked by :meth:`grad_batch`."""
        w = np.asarray(w).astype(self.dtype, copy=False)
        grads = self.run_backward(gy, self.batch(np.asarray(x)), w, b is not None)
        return grads._replace(input=self.output(grads.input))
