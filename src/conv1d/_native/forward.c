/* Dense and grouped forward: a register-tiled direct convolution (no im2col).
 *
 * Contract: kernels.h (forward_dense_*). The micro-kernel (tile_) holds an OUT_BLOCK output
 * channels x POS_VECS vectors of positions tile in registers and accumulates over (input
 * channel, tap): for each (c, k) it loads POS_VECS input vectors once and does OUT_BLOCK
 * broadcast FMAs on each. After at most CONV1D_BLOCK_TERMS products (channels x taps) the
 * register partials are added into the output (blocked accumulation: the float32 error stays
 * near PyTorch's, issue 8). The 1D form of LIBXSMM's batch-reduce GEMM micro-kernel
 * (Georganas et al., arXiv:2104.08002). The input reaches it in one of two ways:
 *   - whole-row panels (the usual path): per (sample, group, chunk of positions) the group's
 *     input rows are copied once into a polyphase panel, one row per stride phase with zeros
 *     where the padding is, so that every tap of every stride reads contiguous vectors; the
 *     chunk is sized to stay in L2 (ROW_PANEL_BYTES). Loops: output-channel block, positions,
 *     channel blocks; the output is written row after row and each tile stays in L1.
 *   - per-tile panels (1x1 kernels over many channels, or groups too wide for a useful
 *     chunk): per (tile, channel block) the same polyphase copy of just that tile's inputs,
 *     or the rows read in place at stride 1 when no padding is needed and the rows are not a
 *     multiple of 4 KiB apart (such rows share L1 sets). Loops: positions, channel blocks,
 *     output-channel blocks, so the input tile stays in L1.
 */
#include <string.h>

#include "kernels.h"

#define OB CONV1D_OUT_BLOCK
#define NV CONV1D_POS_VECS

#ifndef CONV1D_INPLACE
#define CONV1D_INPLACE 1
#endif

/* Input channels per register partial: as many as keep it within CONV1D_BLOCK_TERMS products
 * (all K taps each), at least one: 128 channels for pointwise layers, 18 for K = 7. */
static ptrdiff_t channel_block(ptrdiff_t K)
{
    return K < CONV1D_BLOCK_TERMS ? CONV1D_BLOCK_TERMS / K : 1;
}

/* Whole-row panels: a group's polyphase input rows for a chunk of positions, sized to fit
 * ROW_PANEL_BYTES (about L2); each (sample, group, chunk) packs them once and the loops run
 * output-channel block, then positions, then channel blocks: the output is written row after
 * row (OUT_BLOCK streams, not C_out: wav2vec_stem), each output tile stays in L1 across its
 * channel blocks, and one block's weights stay in L1 across the positions. */
#define ROW_PANEL_BYTES (1 << 20)

/* Positions per whole-row panel chunk for a call over `positions` outputs: all of them, or as
 * many whole tiles as fit ROW_PANEL_BYTES; 0 (use per-tile panels) below 4 tiles. */
static ptrdiff_t row_chunk(ptrdiff_t cg, ptrdiff_t K, ptrdiff_t stride, ptrdiff_t dilation,
                           ptrdiff_t positions, int itemsize)
{
    const ptrdiff_t span = (K - 1) * dilation + 1, P = NV * (CONV1D_VEC_BYTES / itemsize);
    const ptrdiff_t nph = stride < span ? stride : span;
    const ptrdiff_t extra = (K - 1) * dilation / stride + P;
    /* 1x1 kernels over several channel blocks: each panel vector feeds only OUT_BLOCK FMAs,
     * from L2; per-tile panels keep them in L1 (pointwise: 43 against 48 ms). */
    if (K == 1 && cg > channel_block(K)) return 0;
    const ptrdiff_t fit = ROW_PANEL_BYTES / (cg * nph * itemsize) - extra;
    if (positions <= fit) return positions;
    return fit >= 4 * P ? fit / P * P : 0;
}

/* Length of one phase row of a whole-row panel for chunks of `chunk` positions. */
static ptrdiff_t row_panel_len(ptrdiff_t K, ptrdiff_t stride, ptrdiff_t dilation,
                               ptrdiff_t chunk, int itemsize)
{
    return chunk + (K - 1) * dilation / stride + NV * (CONV1D_VEC_BYTES / itemsize);
}

size_t forward_dense_scratch(ptrdiff_t C_in, ptrdiff_t groups, ptrdiff_t K, ptrdiff_t stride,
                             ptrdiff_t dilation, ptrdiff_t positions, int itemsize)
{
    const ptrdiff_t cg = C_in / groups;
    const ptrdiff_t span = (K - 1) * dilation + 1, P = NV * (CONV1D_VEC_BYTES / itemsize);
    const ptrdiff_t nph = stride < span ? stride : span;
    const ptrdiff_t J = P + (K - 1) * dilation / stride;
    const ptrdiff_t chunk = row_chunk(cg, K, stride, dilation, positions, itemsize);
    const ptrdiff_t Jr = row_panel_len(K, stride, dilation, chunk, itemsize);
    const ptrdiff_t tile = nph * J < K * P ? nph * J : K * P; /* polyphase or per-tap */
    const ptrdiff_t elems = chunk ? cg * nph * Jr : channel_block(K) * tile;
    /* (the per-tile panel never holds more than channel_block(K) channels) */
    return 3 * (size_t)K * sizeof(ptrdiff_t) + (size_t)elems * (size_t)itemsize;
}

#define CONV1D_IMPL "forward_impl.h"
#include "instantiate.h"
