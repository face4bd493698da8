/* Row-by-row forward for depthwise and few-channels-per-group layers.
 *
 * Contract: kernels.h (forward_rows_*). Each output row y[n, o, :] is its own sum over the
 * C_in/groups input rows of its group and the K taps, so the work is one pass over x and y
 * (memory-bound for depthwise layers). Positions go in blocks of RV vectors held in registers;
 * for every (c, k) the block loads RV input vectors and does RV FMAs with the broadcast weight.
 * Stride-1 blocks that need no padding read the input row in place; the others (edges,
 * strides) first gather their inputs into the scratch panel (CHANNEL_BLOCK, K, RV*LANES), zeros
 * where the padding is. Partials go into a second register set every CHANNEL_BLOCK channels.
 */
#include <string.h>

#include "kernels.h"

#define CB CONV1D_CHANNEL_BLOCK
/* Vectors of positions per register block: 4 accumulators + 4 totals + 4 inputs. */
#define RV 4

ptrdiff_t depthwise_scratch(ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t K, ptrdiff_t dilation)
{
    (void)L_out, (void)stride, (void)dilation;
    return (ptrdiff_t)CB * K * RV * (CONV1D_VEC_BYTES / 4);
}

#define CONV1D_IMPL "depthwise_impl.h"
#include "instantiate.h"
