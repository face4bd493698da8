/* grad_weight: the gradient of the weight, register-tiled over (output channel, column).
 *
 * Contract: kernels.h (grad_weight_*). gw (C_out, C_in/groups, K): the rows o in [o0, o1)
 * written fully, nothing else; gy (N, C_out, L_out) and x (N, C_in, L) unpadded read only:
 *     gw[o, c, k] = sum_{n, t} gy[n, o, t] * x[n, g*cg + c, t*s + k*d - pad_left],
 * x reading zero outside [0, L) (the padded input's zeros are multiplied, as the reference
 * pads and then correlates; pad_right shows only in L_out).
 *
 * A column is one (c, k) pair: the x samples t*s + k*d - pad_left for consecutive t. With
 * k*d = q_k*s + r_k they are x[(t + q_k)*s + r_k - pad_left], consecutive entries of the
 * phase-r_k row of x, so a block of (samples, t) first copies, for a block of input channels,
 * each phase row x[(t0 + u)*s + r - pad_left] into a stack strip (zeros outside [0, L): edge
 * and strided blocks alike); every column is then a pointer into the strip. The micro-kernel
 * holds OBT output channels x JT columns of vector accumulators, loads OBT gy vectors and JT
 * column vectors per step and does OBT*JT FMAs, over the block's samples and positions (a few
 * hundred terms per lane), then adds each accumulator's lane sum into gw: blocked
 * accumulation, so float32 error stays near PyTorch's (issue 8). The last partial vector of a
 * block is masked bit by bit (no 0 * Inf). Loops: (sample, position) blocks outside, channel
 * blocks inside, so a block's gy rows stay in L2 while every channel block's strip passes
 * over them, and gy and x are each read from memory once. Threads split over output
 * channels, each owning its gw rows.
 * Memory: stack only (GW_STRIP_BYTES plus a few hundred bytes); no allocation.
 */
#include <string.h>

#include "kernels.h"

/* Tile: 4 output channels x 6 columns (24 accumulators) with 32 vector registers, else 4 x 3. */
#define GW_OB_MAX 4
#if CONV1D_VEC_BYTES >= 64 || defined(__aarch64__)
#define GW_REGS32 1
#define GW_J_MAX 6
#else
#define GW_REGS32 0
#define GW_J_MAX 3
#endif
/* Output positions per block (at most, at least), the budget for one block's gy rows, and
 * the vector steps per sample block before the lane sums. */
#define GW_TB 1024
#define GW_TB_MIN 256
#define GW_GY_BYTES (1024 * 1024)
#ifndef GW_STEPS
#define GW_STEPS 32
#endif
#ifndef GW_STRIP_BYTES
#define GW_STRIP_BYTES (32 * 1024)
#endif

/* Lane sums by vector halves need __builtin_shufflevector (Clang, GCC 12+). */
#if defined(__clang__) || (defined(__GNUC__) && __GNUC__ >= 12)
#define GW_SHUFFLE 1
#else
#define GW_SHUFFLE 0
#endif

#define CONV1D_IMPL "grad_weight_impl.h"
#include "instantiate.h"
