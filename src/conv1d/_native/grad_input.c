/* grad_input: the gradient of the input, a transposed direct convolution (no col2im); also
 * the forward of a transposed convolution (with its bias).
 *
 * Contract: kernels.h (grad_input_*). gx (N, C_in, L) unpadded, written fully for the work
 * items [u0, u1) (sample, group, cpi blocks of CB input channels) and nothing else; gy
 * (N, C_out, L_out) and the packed weight read only. With p = i + pad_left the padded
 * position of input sample i,
 *     gx[n, g*cg + c, i] = bias[g*cg + c] + sum over o < og, k < K with (p - k*d) % s == 0
 *                          and t = (p - k*d) / s in [0, L_out) of w[g*og + o, c, k] *
 *                          gy[n, g*og + o, t].
 *
 * Polyphase: the positions p = J*s + r of one residue r are reached only by the taps with
 * k*d = r (mod s), each reading gy at t = J - q_k, q_k = k*d / s, so for a fixed phase the
 * sum is a stride-1 correlation of the gy rows with those taps. The micro-kernel holds a
 * (CBT input channels) x (JVT vectors of J) tile in registers and, for every output channel o
 * and tap, loads JVT gy vectors and does CBT broadcast FMAs on each (the forward's tile with
 * the weight transposed). Its CBT weights are consecutive in the packed weight (K, og, CB) of
 * its channel block, and the o loop walks them in order. A work item's blocks (up to
 * ~256 KiB of packed weight, chosen by the caller) serve every position of its sample while
 * they stay in L2, and share each window of gy rows (unpacked, each of the tile's CBT weights
 * came from its own cache line, and every block of positions re-read the whole weight:
 * HiFi-GAN's 512 -> 256, K = 16 upsampler ran at 110-125 GF/s, 175-184 packed, one thread).
 * The partials are added into a small tile buffer every ~GI_BLOCK_TERMS products (blocked
 * accumulation: float32 error stays near PyTorch's, issue 8); after all phases and output
 * channels of a block of positions the buffer is interleaved into gx, the bias added there.
 * Blocks whose gy window lies inside [0, L_out) read the gy rows in place; the edges get
 * blocks of their own (one tile wide where possible) that first copy their window into a stack
 * strip with zeros outside [0, L_out), in blocks of output channels so the strip stays small;
 * when the output channels take several passes, the item's channel blocks go in batches whose
 * tile buffers fit together, each pass's window shared by the batch.
 *
 * Zeros in the strip are multiplied by the weights, so a non-finite weight would make NaN
 * where no product exists; items whose weights are not all finite take an exact scalar path
 * instead (the reference's NaN pattern), as do calls whose gy window would not fit the strip
 * (enormous dilation). Memory: stack only (GI_STRIP_BYTES + GI_TMP_BYTES, 64 KiB); no
 * allocation.
 */
#include <string.h>

#include "kernels.h"

/* 32 vector registers (AVX-512, NEON): tiles up to 8 channels x 3 vectors (24 accumulators);
 * 16 (AVX2, SSE2): up to 4 x 3. */
#define GI_CB_MAX GRAD_INPUT_BLOCK
#if GI_CB_MAX == 8
#define GI_REGS32 1
#define GI_JV_MAX 12
#else
#define GI_REGS32 0
#define GI_JV_MAX 6
#endif
/* Products (output channels x taps) accumulated in registers before the partials go to the
 * tile buffer: blocked accumulation, as CONV1D_BLOCK_TERMS in the forward. Measured max-abs
 * error / PyTorch's on the reduced suite (tests/test_native_grad.py): 128 gave up to 1.9x
 * (grouped_g8) and 1.7x (seed_example), 64 up to 1.7x, 48 at most 1.32x; 48 costs nothing
 * measurable against 128 on resnet1d_ecg/wavenet_dilated, 32 costs 10-15%. */
#ifndef GI_BLOCK_TERMS
#define GI_BLOCK_TERMS 48
#endif
/* Padded positions per block (all phases together); each block re-reads its gy window, which
 * should stay within GI_GY_BYTES (L2). */
#ifndef GI_POSITIONS
#define GI_POSITIONS 512
#endif
#ifndef GI_GY_BYTES
#define GI_GY_BYTES (256 * 1024)
#endif
/* Output channels per pass over a block's tiles: their gy window stays within
 * GI_WINDOW_BYTES (in L1) while every phase and tile reads it. */
#ifndef GI_WINDOW_BYTES
#define GI_WINDOW_BYTES (24 * 1024)
#endif
/* Stack strip for edge blocks' gy windows, and the tile buffer (CBT x phases x TB). */
#define GI_STRIP_BYTES (32 * 1024)
#ifndef GI_TMP_BYTES
#define GI_TMP_BYTES (32 * 1024)
#endif
/* Phases kept in the tile buffer at once; larger strides write each phase on its own. */
#define GI_MAX_PHASES 8

#define CONV1D_IMPL "grad_input_impl.h"
#include "instantiate.h"
