/* grad_weight_dense: the weight gradient for layers with many output channels per group,
 * vectorised over output channels (grad_weight.c vectorises over positions instead, for
 * depthwise-like layers).
 *
 * Contract: kernels.h (grad_weight_dense_*). gw (C_out, C_in/groups, K): the rows o in
 * [o0, o1) written fully, nothing else; gy (N, C_out, L_out) and x (N, C_in, L) unpadded read
 * only:  gw[o, c, k] = sum_{n, t} gy[n, o, t] * x[n, g*cg + c, t*s + k*d - pad_left],
 * x reading zero outside [0, L) (the zeros are multiplied, as the reference pads first).
 *
 * A column is one (c, k) pair. The sum over (n, t) is the reduction, so the register tile
 * holds GWD_JC columns x OV vectors of output channels, and per position t it loads OV vectors
 * of gy (a transposed block gyT[t][o], so that a vector is LN consecutive output channels) and
 * broadcasts one input sample per column, x[t*s + k*d - pad_left]: the forward's tile with the
 * roles of positions and channels swapped, and no lane sums at all. Each (sample, block of
 * GWD_TB positions) copies its input window for the group's channels into a strip with zeros
 * where the padding is (so every column reads it at stride s); each block of up to 3 vectors
 * of output channels transposes its gy block once, then every column tile passes over it and
 * adds its partials (GWD_TB products per lane: blocked accumulation, float32 error near
 * PyTorch's) into gwT, the transposed gradient (column, output channel), which is written
 * into gw at the end. Threads split over output channels.
 * Memory: scratch from the caller, grad_weight_dense_scratch(...) bytes.
 */
#include <string.h>

#include "kernels.h"

/* Columns per tile: 8 x 3 vectors = 24 accumulators with 32 vector registers, 4 x 3 with 16. */
#if CONV1D_VEC_BYTES >= 64 || defined(__aarch64__)
#define GWD_JC 8
#else
#define GWD_JC 4
#endif
/* Vectors of output channels per tile (at most). */
#define GWD_OV 3
/* Positions per block: the products each register partial sums per lane. */
#ifndef GWD_TB
#define GWD_TB 128
#endif

/* Output channels per pass: GWD_OV vectors. */
static ptrdiff_t gwd_ow(int itemsize) { return GWD_OV * (CONV1D_VEC_BYTES / itemsize); }

/* Strip row: the input samples one block of positions reads. */
static ptrdiff_t gwd_seg(ptrdiff_t K, ptrdiff_t s, ptrdiff_t d)
{
    return (GWD_TB - 1) * s + (K - 1) * d + 1;
}

size_t grad_weight_dense_scratch(ptrdiff_t C_in, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t s,
                                 ptrdiff_t d, ptrdiff_t groups, ptrdiff_t o0, ptrdiff_t o1,
                                 int itemsize)
{
    const ptrdiff_t cg = C_in / groups, og = C_out / groups, ow = gwd_ow(itemsize);
    ptrdiff_t rows = o1 - o0 < og ? o1 - o0 : og; /* the longest group segment */
    rows = (rows + ow - 1) / ow * ow;
    const ptrdiff_t items = cg * K * rows          /* gwT */
                            + GWD_TB * ow          /* gyT */
                            + cg * gwd_seg(K, s, d); /* strip */
    return (size_t)items * (size_t)itemsize;
}

#define CONV1D_IMPL "grad_weight_dense_impl.h"
#include "instantiate.h"
