"""Signals larger than memory: :func:`conv1d` on Dask arrays, lazily, one block at a time.

``conv1d.functional.conv1d`` and ``Conv1d`` hand a ``dask.array.Array`` input to this module
and return a ``dask.array.Array``; nothing is computed until the result is. Dask is an
optional dependency (``pip install conv1d[dask]``): it is imported inside the functions that
need it, so ``import conv1d`` never imports it. (``import dask`` below means the top-level
``dask`` package: imports are absolute in Python 3.)

How the blocks are built
------------------------
The output is chunked along batch like the input, not at all along channels (the input is
rechunked to one chunk along channels: every output channel reads every input channel of its
group), and along length by choosing the output chunks first:

1. Input chunks shorter than ``max(span, stride)`` are grouped with their neighbours (the
   input itself is never rechunked along length), so no output block is empty and each one
   reads a bounded number of input blocks.
2. Output ``t`` belongs to the group holding input sample ``t*stride``, so the output chunk
   boundary for a group starting at input sample ``a`` is ``ceil(a / stride)``: the chunks
   line up with the stride, and for stride 1 with ``"same"`` or ``"causal"`` padding the
   output is chunked exactly like the input.
3. Output block ``[t0, t1)`` reads exactly ``[t0*stride - pad_left,
   (t1-1)*stride - pad_left + span)``: its group's samples, ``pad_left`` samples before them
   and ``span - 1 - pad_left`` after them (for stride 1). Positions outside the
   signal are the padding, filled by ``padding_mode`` only at the signal's true ends, from
   the same source indices as :func:`conv1d.padding.pad` (``circular`` reads blocks at the
   other end of the signal).

Each output block is one task on exactly the input blocks it reads, plus the weight and bias,
stored once in the graph. The block runs the ordinary in-memory path
(:func:`conv1d.functional.forward` with no padding), so it gives the in-memory result.
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from .algorithms import Problem, get_algorithm
from .functional import is_dask_array
from .padding import edge_indices
from .spec import ConvSpec, check_data_format

if TYPE_CHECKING:
    import dask.array

__all__ = ["conv1d", "forward", "is_dask_array", "plan_blocks"]


@dataclass(frozen=True)
class Block:
    """One output block along length: outputs ``[t0, t1)`` read input ``[lo, hi)``.

    ``lo`` is negative and ``hi`` past the signal's length where the block reads padding;
    ``sources`` are the indices of the input chunks it reads (sorted).
    """

    t0: int
    t1: int
    lo: int
    hi: int
    sources: tuple[int, ...]


def plan_blocks(chunks: tuple[int, ...], spec: ConvSpec) -> list[Block]:
    """The output blocks along length for an input chunked as ``chunks`` (see the module notes).

    Parameters
    ----------
    chunks : tuple of int
        The input's chunk sizes along length (``x.chunks[-1]``).
    spec : ConvSpec
        The convolution; the signal's length must be valid for it.

    Returns
    -------
    list of Block
        Consecutive, non-empty, covering ``[0, spec.output_length(sum(chunks)))``.

    Examples
    --------
    Chunks of 4 samples, kernel 3, stride 2, padding 1: output ``t`` reads
    ``[2t - 1, 2t + 2)``, and the block for the chunk starting at 4 starts at output
    ``ceil(4 / 2) = 2``.

    >>> spec = ConvSpec.from_args(1, 1, 3, stride=2, padding=1)
    >>> for blk in plan_blocks((4, 4, 4), spec):
    ...     print(blk.t0, blk.t1, blk.lo, blk.hi, blk.sources)
    0 2 -1 4 (0,)
    2 4 3 8 (0, 1)
    4 6 7 12 (1, 2)
    """
    bounds = np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)]).tolist()
    length = bounds[-1]
    n_out = spec.output_length(length)
    s, pl = spec.stride, spec.pad_left
    # Group small chunks: every group but a short signal's only one spans >= min_len.
    min_len = max(spec.span, s)
    starts = [0]
    for b in bounds[1:-1]:
        if b - starts[-1] >= min_len and length - b >= min_len:
            starts.append(b)
    cuts = sorted({0, n_out, *(min(n_out, -(-a // s)) for a in starts[1:])})
    li, ri = edge_indices(length, pl, spec.pad_right, spec.padding_mode)
    blocks = []
    for t0, t1 in itertools.pairwise(cuts):
        lo, hi = t0 * s - pl, (t1 - 1) * s - pl + spec.span
        # Input samples read: the part inside the signal, and the sources of the padding.
        src = {
            *li[max(lo, -pl) + pl : max(min(hi, 0), -pl) + pl].tolist(),
            *ri[max(lo, length) - length : max(hi, length) - length].tolist(),
        }
        a, b = max(lo, 0), min(hi, length)
        if a < b:
            src.update((a, b - 1))
        ids = {bisect.bisect_right(bounds, i) - 1 for i in src}
        if a < b:  # every chunk between the first and the last sample read inside
            ids.update(range(bisect.bisect_right(bounds, a) - 1, bisect.bisect_right(bounds, b - 1)))
        if not ids:  # a window of zero padding only: any chunk gives the block's shape
            ids = {0 if lo < 0 else len(chunks) - 1}
        blocks.append(Block(t0, t1, lo, hi, tuple(sorted(ids))))
    return blocks


def _conv_block(
    w: np.ndarray,
    b: np.ndarray | None,
    spec: ConvSpec,
    algorithm: str,
    length: int,
    block: Block,
    starts: tuple[int, ...],
    *pieces: np.ndarray,
) -> np.ndarray:
    """One output block: gather its padded window from ``pieces`` (chunks starting at
    ``starts``), then the in-memory convolution with no padding."""
    lo, hi = block.lo, block.hi
    first = pieces[0]
    if len(pieces) == 1 and starts[0] <= lo and hi <= starts[0] + first.shape[-1]:
        window = first[..., lo - starts[0] : hi - starts[0]]  # a view: no copy
    else:
        window = np.empty((*first.shape[:2], hi - lo), first.dtype)
        inside = max(lo, 0), min(hi, length)
        pos = np.arange(lo, hi)
        src = pos.copy()  # the input sample each window position holds, -1 for a zero
        li, ri = edge_indices(length, spec.pad_left, spec.pad_right, spec.padding_mode)
        left, right = pos < 0, pos >= length
        src[left] = li[pos[left] + spec.pad_left] if li.size else -1
        src[right] = ri[pos[right] - length] if ri.size else -1
        window[..., src < 0] = 0
        for start, piece in zip(starts, pieces, strict=True):
            stop = start + piece.shape[-1]
            first_in, end_in = max(inside[0], start), min(inside[1], stop)
            if first_in < end_in:  # the contiguous inside part: slices
                window[..., first_in - lo : end_in - lo] = piece[..., first_in - start : end_in - start]
            edge = (left | right) & (src >= start) & (src < stop)
            if edge.any():  # the padding this chunk is the source of
                window[..., edge] = piece[..., src[edge] - start]
    return F.forward(window, w, b, replace(spec, pad_left=0, pad_right=0), algorithm)


def check_input(input: Any) -> None:
    """Raise unless ``input`` is a Dask array of real numbers with known chunk sizes.

    Raises
    ------
    TypeError
        If ``input`` is not a Dask array of real numbers.
    ValueError
        For unknown chunk sizes.

    Examples
    --------
    >>> import dask.array as da
    >>> check_input(da.ones((2, 8), chunks=4))
    >>> check_input(np.ones((2, 8)))
    Traceback (most recent call last):
    ...
    TypeError: input must be a dask.array.Array, got ndarray
    """
    import dask.array as da

    if not isinstance(input, da.Array):
        raise TypeError(f"input must be a dask.array.Array, got {type(input).__name__}")
    F.as_real_array("input", np.empty(0, input.dtype))  # the dtype check, on no data
    if any(math.isnan(c) for c in input.shape):
        raise ValueError(
            f"input must have known chunk sizes, got shape {input.shape}; "
            "call input.compute_chunk_sizes() first"
        )


def block_graph(kind: str, block_fn: Any, args: tuple[Any, ...], x: Any, weight: np.ndarray,
                bias: np.ndarray | None, blocks: Sequence[Any], widths: tuple[int, ...],
                out_channels: int, data_format: str, unbatched: bool) -> Any:
    """The lazy output: one task ``block_fn(weight, bias, *args, block, starts, *pieces)`` per
    batch chunk of ``x`` (N, C_in, L) and block of ``blocks`` (``widths`` output samples each).

    Each block has the ``sources`` (indices of ``x``'s length chunks) that ``pieces`` are,
    starting at ``starts``; ``kind`` prefixes the graph's keys. The result is in
    ``data_format``, unbatched when ``unbatched``.
    """
    import dask.array as da
    from dask.base import tokenize
    from dask.highlevelgraph import HighLevelGraph

    name = f"{kind}-{tokenize(x, weight, bias, *args)}"
    wkey, bkey = f"{name}-weight", f"{name}-bias"
    dsk: dict[Any, Any] = {wkey: weight}
    if bias is not None:
        dsk[bkey] = bias
    starts = np.concatenate([[0], np.cumsum(x.chunks[2])]).tolist()
    for i in range(len(x.chunks[0])):
        for j, blk in enumerate(blocks):
            dsk[(name, i, 0, j)] = (
                block_fn, wkey, None if bias is None else bkey, *args, blk,
                [starts[k] for k in blk.sources], *[(x.name, i, 0, k) for k in blk.sources],
            )
    graph = HighLevelGraph.from_collections(name, dsk, dependencies=[x])
    array: Any = da.Array  # pyright reads Array.__new__ (dask has no stubs) as object's
    y: Any = array(graph, name, (x.chunks[0], (out_channels,), widths),
                   meta=np.empty((0, 0, 0), weight.dtype))
    y = F.to_format(y, data_format)
    return y[0] if unbatched else y


def forward(
    input: dask.array.Array,
    weight: np.ndarray,
    bias: np.ndarray | None,
    spec: ConvSpec,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> dask.array.Array:
    """Lazy convolution of a Dask array by a validated spec and its (in-memory) parameters.

    ``input`` is checked against ``spec`` and cast to ``weight``'s dtype, as
    :class:`~conv1d.Conv1d` casts its input; :func:`conv1d` and ``Conv1d.forward`` end here.
    ``data_format`` is :func:`conv1d.functional.conv1d`'s.

    Raises
    ------
    TypeError
        If ``input`` is not a Dask array of real numbers.
    ValueError
        For a bad shape, unknown chunk sizes, or an algorithm that cannot run a block.

    Examples
    --------
    >>> import dask.array as da
    >>> from conv1d.spec import ConvSpec
    >>> spec = ConvSpec.from_args(2, 3, 5, padding=2)
    >>> x = da.ones((1, 2, 40), chunks=(1, 2, 15))
    >>> y = forward(x, np.ones((3, 2, 5)), None, spec)
    >>> y.shape, y.chunks[-1], float(y[0, 0, 20].compute())
    ((1, 3, 40), (15, 15, 10), 10.0)
    """
    check_input(input)
    # as_batch and to_format need only what Dask arrays share with ndarrays (ndim, shape,
    # indexing, swapaxes); they are typed for NumPy, so the Dask arrays pass through as Any.
    lazy: Any = input
    x: Any
    x, unbatched = F.as_batch(lazy, spec, data_format)
    # Snapshots: the graph must not see later in-place updates (an optimiser's step).
    weight, bias = np.array(weight), None if bias is None else np.array(bias)
    x = x.astype(weight.dtype).rechunk({1: -1})  # (N, C_in, L), one chunk along channels
    length = x.shape[2]
    blocks = plan_blocks(x.chunks[2], spec)
    # Check the algorithm now, on every block shape, not on a worker at compute time.
    dtype = "float32" if F.is_half(weight.dtype) else weight.dtype.name  # what blocks run in
    for n in set(x.chunks[0]):
        for width in {blk.hi - blk.lo for blk in blocks}:
            get_algorithm(algorithm, Problem(
                n, spec.in_channels, spec.out_channels, spec.kernel_size, width, spec.stride,
                spec.dilation, spec.groups, dtype,
            ))

    widths = tuple(blk.t1 - blk.t0 for blk in blocks)
    return block_graph("conv1d", _conv_block, (spec, algorithm, length), x, weight, bias, blocks,
                       widths, spec.out_channels, data_format, unbatched)


def conv1d(
    input: dask.array.Array,
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
) -> dask.array.Array:
    """:func:`conv1d.functional.conv1d` on a Dask array: lazy, block by block, same result.

    ``conv1d.functional.conv1d`` calls this for a Dask ``input``; the arguments and the
    result's shape and dtype are the same. ``weight`` and ``bias`` are small: they are
    turned into NumPy arrays (a Dask ``weight`` is computed) and stored once in the graph.

    Returns
    -------
    dask.array.Array, shape (N, C_out, L_out) or (C_out, L_out)
        Chunked like ``input`` along batch, one chunk along channels, and along length in
        blocks lined up with the stride (see :func:`plan_blocks`).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from conv1d.functional import conv1d as conv
    >>> x = da.ones((4, 2, 100), chunks=(2, 2, 30))
    >>> y = conv(x, np.ones((3, 2, 5)), padding=2, padding_mode="reflect")
    >>> type(y).__name__, y.shape, y.chunks
    ('Array', (4, 3, 100), ((2, 2), (3,), (30, 30, 30, 10)))
    >>> float(y.sum().compute())
    12000.0
    """
    if not is_dask_array(input):
        raise TypeError(f"input must be a dask.array.Array, got {type(input).__name__}")
    check_data_format(data_format)
    w, b, spec = F.prepare_weights(input.dtype, weight, bias, stride, padding, dilation, groups,
                                   padding_mode)
    return forward(input, w, b, spec, algorithm, data_format)


# functional.conv1d hands Dask input to conv1d above through this slot (it never imports this
# module, which builds on it); the package's __init__ imports this module, so it is always set.
F.dask_conv1d = conv1d
