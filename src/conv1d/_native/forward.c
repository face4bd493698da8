/* Dense and grouped forward: a register-tiled direct convolution (no im2col).
 *
 * Contract: kernels.h (forward_dense_*). The micro-kernel holds an OUT_BLOCK output channels x
 * POS_VECS vectors of positions tile in registers and accumulates over (input channel, tap):
 * for each (c, k) it loads POS_VECS input vectors once and does OUT_BLOCK broadcast FMAs on
 * each. Input rows are read in place when the tile needs no zero padding and the stride is 1;
 * edge tiles, partial tiles and strided inputs are first packed into the small scratch panel
 * (CHANNEL_BLOCK, K, POS_VECS*LANES), zeros where the padding is. After every CHANNEL_BLOCK
 * input channels the register partials are added into the output (blocked accumulation: the
 * float32 error stays near PyTorch's, issue 8). The 1D form of LIBXSMM's batch-reduce GEMM
 * micro-kernel (Georganas et al., arXiv:2104.08002).
 */
#include <string.h>

#include "kernels.h"

#define OB CONV1D_OUT_BLOCK
#define NV CONV1D_POS_VECS
#define CB CONV1D_CHANNEL_BLOCK

ptrdiff_t forward_dense_scratch(ptrdiff_t K, int itemsize)
{
    return (ptrdiff_t)CB * K * NV * (CONV1D_VEC_BYTES / itemsize);
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
