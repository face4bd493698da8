/* Dense and grouped forward: a register-tiled direct convolution (no im2col).
 *
 * Contract: kernels.h (forward_dense_*). The micro-kernel holds an OUT_BLOCK output channels x
 * POS_VECS vectors of positions tile in registers and accumulates over (input channel, tap):
 * for each (c, k) it loads POS_VECS input vectors once and does OUT_BLOCK broadcast FMAs on
 * each. Input rows are read in place when the tile needs no zero padding and the stride is 1;
 * edge tiles, strided inputs, and rows a multiple of 4 KiB apart (which would share L1 sets)
 * are first copied into a small polyphase panel per CHANNEL_BLOCK channels: one row per
 * stride phase, zeros where the padding is, so every tap still reads contiguous vectors. After every CHANNEL_BLOCK
 * input channels the register partials are added into the output (blocked accumulation: the
 * float32 error stays near PyTorch's, issue 8). The 1D form of LIBXSMM's batch-reduce GEMM
 * micro-kernel (Georganas et al., arXiv:2104.08002).
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

size_t forward_dense_scratch(ptrdiff_t K, ptrdiff_t stride, ptrdiff_t dilation, int itemsize)
{
    const ptrdiff_t span = (K - 1) * dilation + 1, P = NV * (CONV1D_VEC_BYTES / itemsize);
    const ptrdiff_t nph = stride < span ? stride : span;
    const ptrdiff_t J = P + (K - 1) * dilation / stride;
    return 2 * (size_t)K * sizeof(ptrdiff_t) + (size_t)(channel_block(K) * nph * J) * (size_t)itemsize;
}

#define CAT_(a, b) a##b
#define CAT(a, b) CAT_(a, b)
#define NAME(f) CAT(f, SUFFIX)

#define T float
#define V vf32
#define LN LANES_F32
#define SUFFIX f32
#include "forward_impl.h"
#undef T
#undef V
#undef LN
#undef SUFFIX

#define T double
#define V vf64
#define LN LANES_F64
#define SUFFIX f64
#include "forward_impl.h"
