""":func:`conv_transpose1d` on Dask arrays: lazy, one block at a time, exact halos.

``conv1d.functional.conv_transpose1d`` and ``ConvTranspose1d`` hand a ``dask.array.Array``
input here (Dask is imported inside the functions, as in :mod:`conv1d.dask`).

How the blocks are built
------------------------
Input sample ``t`` reaches the full (uncropped) outputs ``[t*stride, t*stride + span)``, and
output ``j`` is full output ``j + left``. The output is cut where the input is: the input
chunk starting at sample ``a`` starts the output block at ``a*stride - left`` (clipped to
``[0, L_out]``, equal cuts merged, so no block is empty). Output block ``[j0, j1)`` reads
exactly the inputs that reach its full outputs ``[f0, f1) = [j0 + left, j1 + left)``:
``t`` from ``ceil((f0 - span + 1) / stride)`` to ``floor((f1 - 1) / stride)``, clipped to the
signal: its own chunk's samples plus a halo of ``ceil((span - stride) / stride)`` samples
before them. The block runs the in-memory path on that window
(:func:`conv1d.functional_transpose.full`) and keeps its part; outputs no sample reaches
(``output_padding`` past the full output) are zeros plus the bias.
"""

from __future__ import annotations

import bisect
import itertools
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from . import functional as F
from . import functional_transpose as FT
from .algorithms import get_algorithm
from .dask import block_graph, check_input
from .spec import check_data_format

if TYPE_CHECKING:
    import dask.array

__all__ = ["conv_transpose1d", "forward", "plan_blocks"]


@dataclass(frozen=True)
class Block:
    """Outputs ``[j0, j1)`` from inputs ``[lo, hi)`` (empty when ``lo >= hi``), in chunks
    ``sources``."""

    j0: int
    j1: int
    lo: int
    hi: int
    sources: tuple[int, ...]


def plan_blocks(chunks: tuple[int, ...], spec: FT.ConvTransposeSpec) -> list[Block]:
    """The output blocks along length for an input chunked as ``chunks``.

    Examples
    --------
    Stride 2, kernel 4, padding 1: output ``j`` is full output ``j + 1``, which inputs
    ``ceil((j - 2) / 2)`` to ``floor((j + 1) / 2)`` reach.

    >>> spec = FT.ConvTransposeSpec.from_args(1, 1, 4, stride=2, padding=1)
    >>> for blk in plan_blocks((3, 3), spec):
    ...     print(blk.j0, blk.j1, blk.lo, blk.hi, blk.sources)
    0 5 0 3 (0,)
    5 12 2 6 (0, 1)
    """
    bounds = np.concatenate([[0], np.cumsum(chunks, dtype=np.int64)]).tolist()
    length = bounds[-1]
    n_out = spec.output_length(length)
    s, left = spec.stride, spec.pad_left
    cuts = sorted({0, n_out, *(min(max(a * s - left, 0), n_out) for a in bounds[1:-1])})
    blocks = []
    for j0, j1 in itertools.pairwise(cuts):
        f0, f1 = j0 + left, j1 + left
        lo = max(0, -((spec.span - 1 - f0) // s))  # ceil((f0 - span + 1) / s)
        hi = min(length, (f1 - 1) // s + 1)
        if lo < hi:
            ids = tuple(range(bisect.bisect_right(bounds, lo) - 1,
                              bisect.bisect_right(bounds, hi - 1)))
        else:  # no input reaches these outputs: any chunk gives the block's batch size
            ids = (len(chunks) - 1,)
        blocks.append(Block(j0, j1, lo, hi, ids))
    return blocks


def _block(w: np.ndarray, b: np.ndarray | None, spec: FT.ConvTransposeSpec, algorithm: str,
           block: Block, starts: tuple[int, ...], *pieces: np.ndarray) -> np.ndarray:
    """One output block: its input window gathered from ``pieces``, then the in-memory path."""
    out_dtype = pieces[0].dtype
    w, b = FT.up(w), None if b is None else FT.up(b)
    n, length = pieces[0].shape[0], block.j1 - block.j0
    if block.lo < block.hi:
        parts = [p[..., max(block.lo - a, 0) : block.hi - a]
                 for a, p in zip(starts, pieces, strict=True)]
        window = parts[0] if len(parts) == 1 else np.concatenate(parts, axis=-1)
        part = FT.full(FT.up(window), w, spec, algorithm)  # full outputs from lo*stride on
        y = FT.crop(part, block.j0 + spec.pad_left - block.lo * spec.stride, length)
    else:
        y = np.zeros((n, spec.out_channels, length), w.dtype)
    if b is not None:
        y = y + b[:, None]
    return np.ascontiguousarray(y.astype(out_dtype, copy=False))


def forward(
    input: dask.array.Array,
    weight: np.ndarray,
    bias: np.ndarray | None,
    spec: FT.ConvTransposeSpec,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> dask.array.Array:
    """Lazy transposed convolution of a Dask array by a validated spec and its parameters.

    Raises
    ------
    TypeError
        If ``input`` is not a Dask array of real numbers.
    ValueError
        For a bad shape, unknown chunk sizes, or an algorithm that cannot run a block.

    Examples
    --------
    >>> import dask.array as da
    >>> spec = FT.ConvTransposeSpec.from_args(2, 3, 4, stride=2)
    >>> x = da.ones((1, 2, 30), chunks=(1, 2, 10))
    >>> y = forward(x, np.ones((2, 3, 4)), None, spec)
    >>> y.shape, float(y[0, 0, 30].compute())  # each inner output: 2 taps x 2 channels
    ((1, 3, 62), 4.0)
    """
    check_input(input)
    x: Any
    x, unbatched = FT.as_batch(input, spec, data_format)  # type: ignore[arg-type]
    weight, bias = np.array(weight), None if bias is None else np.array(bias)
    x = x.astype(weight.dtype).rechunk({1: -1})  # (N, C_in, L), one chunk along channels
    blocks = plan_blocks(x.chunks[2], spec)
    dtype = np.dtype(np.float32) if F.is_half(weight.dtype) else weight.dtype
    for n in set(x.chunks[0]):  # the algorithm checked on every block shape, now
        for width in {blk.hi - blk.lo for blk in blocks if blk.hi > blk.lo}:
            get_algorithm(algorithm, spec.problem(n, width, dtype))

    widths = tuple(blk.j1 - blk.j0 for blk in blocks)
    return block_graph("conv-transpose1d", _block, (spec, algorithm), x, weight, bias, blocks,
                       widths, spec.out_channels, data_format, unbatched)


def conv_transpose1d(
    input: dask.array.Array,
    weight: Any,
    bias: Any = None,
    stride: int | tuple[int] = 1,
    padding: int | tuple[int] | tuple[int, int] = 0,
    output_padding: int | tuple[int] = 0,
    groups: int = 1,
    dilation: int | tuple[int] = 1,
    *,
    algorithm: str = "auto",
    data_format: str = "channels_first",
) -> dask.array.Array:
    """:func:`conv1d.functional.conv_transpose1d` on a Dask array: lazy, same result.

    Returns
    -------
    dask.array.Array, shape (N, C_out, L_out) or (C_out, L_out)
        Chunked like ``input`` along batch, one chunk along channels, and along length
        ``stride`` times the input's chunks (see :func:`plan_blocks`).

    Examples
    --------
    >>> import numpy as np, dask.array as da
    >>> from conv1d.functional import conv_transpose1d as convt
    >>> x = da.ones((4, 2, 100), chunks=(2, 2, 30))
    >>> y = convt(x, np.ones((2, 3, 4)), stride=2, padding=1)
    >>> type(y).__name__, y.shape, y.chunks
    ('Array', (4, 3, 200), ((2, 2), (3,), (59, 60, 60, 21)))
    """
    if not F.is_dask_array(input):
        raise TypeError(f"input must be a dask.array.Array, got {type(input).__name__}")
    check_data_format(data_format)
    w, b, spec = FT.check_weights(input.dtype, weight, bias, stride, padding, output_padding,
                                  groups, dilation)
    return forward(input, w, b, spec, algorithm, data_format)


# functional_transpose.conv_transpose1d hands Dask input to conv_transpose1d above through this
# slot (it never imports this module, which builds on it); the package's __init__ imports this
# module, so it is always set.
FT.dask_conv_transpose1d = conv_transpose1d
