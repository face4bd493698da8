/* conv1d native kernels: declarations, vector types and the one contract every kernel follows.
 *
 * One source, three instruction-set levels. setup.py compiles the same .c files three times,
 * into conv1d._native_avx512 (-mavx512f -mfma), conv1d._native_avx2 (-mavx2 -mfma) and
 * conv1d._native_base (the compiler's default target: SSE2 on x86-64, NEON on ARM64), each with
 *   -DCONV1D_MODULE=<module name>  -DCONV1D_VEC_BYTES=<64|32|16>
 * and Python (conv1d.algorithms.native) imports the best one the CPU supports. Vectors are
 * GCC/Clang vector extensions (__attribute__((vector_size))), so the kernels are plain C.
 *
 * Common contract of every kernel below:
 *   - Arrays are C-contiguous, in the dtype the suffix names (_f32: float, _f64: double).
 *     Layouts: x and gx (N, C_in, L) UNPADDED; w and gw (C_out, C_in/groups, K);
 *     y and gy (N, C_out, L_out); bias (C_out,) or NULL.
 *   - Zero padding is implicit: output t, tap k reads input position t*stride + k*dilation -
 *     pad_left, and a position outside [0, L) reads 0. (The pre-padded contract is
 *     pad_left = 0 with L the padded length.) L_out is given; pad_right only shows in it.
 *   - All sizes and indices are int64 (ptrdiff_t). The caller (Python) has validated shapes,
 *     dtypes, contiguity and that L_out = (L + pad_left + pad_right - dilation*(K-1) - 1) /
 *     stride + 1 >= 0; kernels never re-validate, never allocate, never touch Python objects,
 *     and run with the GIL released. Work ranges let threads split one call: two calls with
 *     disjoint ranges write disjoint memory.
 */
#ifndef CONV1D_KERNELS_H
#define CONV1D_KERNELS_H

#include <stddef.h>
#include <stdint.h>

#ifndef CONV1D_VEC_BYTES
#define CONV1D_VEC_BYTES 16
#endif

typedef float vf32 __attribute__((vector_size(CONV1D_VEC_BYTES)));
typedef double vf64 __attribute__((vector_size(CONV1D_VEC_BYTES)));
#define LANES_F32 (CONV1D_VEC_BYTES / 4)
#define LANES_F64 (CONV1D_VEC_BYTES / 8)
/* Integer vectors of the same shape, for the lane masks of partial vectors. */
typedef int32_t vi32 __attribute__((vector_size(CONV1D_VEC_BYTES)));
typedef int64_t vi64 __attribute__((vector_size(CONV1D_VEC_BYTES)));

/* Greatest common divisor of two positive sizes (the phases of strided, dilated taps). */
static inline ptrdiff_t conv1d_gcd(ptrdiff_t a, ptrdiff_t b)
{
    while (b) {
        ptrdiff_t r = a % b;
        a = b;
        b = r;
    }
    return a;
}

/* Output channels per register tile of the dense forward kernel: 8 x 3 vectors = 24
 * accumulators when there are 32 vector registers (AVX-512, NEON), 4 x 3 = 12 of 16 otherwise. */
#if CONV1D_VEC_BYTES >= 64 || defined(__aarch64__)
#define CONV1D_OUT_BLOCK 8
#else
#define CONV1D_OUT_BLOCK 4
#endif
/* Vectors of output positions per register tile. */
#define CONV1D_POS_VECS 3
/* Input channels accumulated in registers before the partials are added into the output by
 * the row kernel (the dense kernel blocks by CONV1D_BLOCK_TERMS products instead): blocked
 * accumulation keeps float32 rounding error near PyTorch's (see issue 8). */
#define CONV1D_CHANNEL_BLOCK 16
/* At most this many products (channels x taps) go into one register partial: long kernels
 * split their taps into blocks too (a 4104-term chain, long_dense, was 5x PyTorch's error). */
#define CONV1D_BLOCK_TERMS 128

/* ---------------------------------------------------------------- forward (forward.c)
 * Dense / grouped forward, register-tiled. Writes y[n, :, t0:t1] for n in [n0, n1) fully
 * (bias added when bias != NULL). wp is the weight packed by forward_dense_pack_* (or the same
 * layout from Python): w (C_out, C_in/groups, K) ->
 * (groups, ceil(og / OUT_BLOCK), C_in/groups, K, OUT_BLOCK), zero-filled past og = C_out/groups;
 * a pack call writes the blocks q = g*ceil(og / OUT_BLOCK) + b in [q0, q1).
 * scratch: forward_dense_scratch(..., positions = t1 - t0, ...) bytes, private to this call
 * (tap offsets and the packed input panels). */
size_t forward_dense_scratch(ptrdiff_t C_in, ptrdiff_t groups, ptrdiff_t K, ptrdiff_t stride,
                             ptrdiff_t dilation, ptrdiff_t positions, int itemsize);
#define DECLARE_FORWARD_DENSE(T, S)                                                          \
    void forward_dense_pack_##S(T *wp, const T *w, ptrdiff_t C_out, ptrdiff_t cg, ptrdiff_t K, \
                                ptrdiff_t groups, ptrdiff_t q0, ptrdiff_t q1);               \
    void forward_dense_##S(const T *x, const T *wp, const T *bias, T *y, ptrdiff_t N,        \
                           ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,        \
                           ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,            \
                           ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0, ptrdiff_t n1, \
                           ptrdiff_t t0, ptrdiff_t t1, void *scratch);
DECLARE_FORWARD_DENSE(float, f32)
DECLARE_FORWARD_DENSE(double, f64)

/* ------------------------------------------------------------ forward (depthwise.c)
 * Row-by-row forward for depthwise and few-channels-per-group layers (memory-bound: one pass
 * over x and y). w unpacked (C_out, C_in/groups, K). Writes y[n, o, t0:t1] for n in [n0, n1),
 * o in [o0, o1), bias added when bias != NULL. scratch: depthwise_scratch(...) elements. */
ptrdiff_t depthwise_scratch(ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t K, ptrdiff_t dilation);
#define DECLARE_FORWARD_ROWS(T, S)                                                           \
    void forward_rows_##S(const T *x, const T *w, const T *bias, T *y, ptrdiff_t N,          \
                          ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,         \
                          ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,             \
                          ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0, ptrdiff_t n1,  \
                          ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t t0, ptrdiff_t t1, T *scratch);
DECLARE_FORWARD_ROWS(float, f32)
DECLARE_FORWARD_ROWS(double, f64)

/* ------------------------------------------------------------ grad_input (grad_input.c)
 * gx (N, C_in, L) UNPADDED; gy (N, C_out, L_out); bias (C_in,) or NULL. Implicit zero padding:
 * gx[n, c, i] = bias[c] + sum over (o, k, t) with t*stride + k*dilation - pad_left == i of
 * w[o, c - g*cg, k] * gy[n, o, t] (bias: 0 when NULL; a transposed convolution's forward is
 * this with its own bias). The weight comes packed by grad_input_pack_*: w (C_out, cg, K) ->
 * wp (groups, ncb, K, og, CB), CB = min(cg, GRAD_INPUT_BLOCK) input channels per block,
 * ncb = ceil(cg / CB), zeros past cg (a pack call writes the blocks g*ncb + cb in [q0, q1)); og = C_out / groups. Work item u = (n*groups + g)*ngi + i
 * is sample n, group g, channel blocks [i*cpi, min((i+1)*cpi, ncb)) (ngi = ceil(ncb / cpi),
 * cpi >= 1 chosen by the caller: the blocks of one item share each gy window, the items each
 * keep their blocks' weights); a call writes, fully, the gx rows of the items [u0, u1) and
 * nothing else. Returns 0 when done, nonzero if the kernel is not built (gx untouched). */
#if CONV1D_VEC_BYTES >= 64 || defined(__aarch64__)
#define GRAD_INPUT_BLOCK 8
#else
#define GRAD_INPUT_BLOCK 4
#endif
#define DECLARE_GRAD_INPUT(T, S)                                                             \
    void grad_input_pack_##S(T *wp, const T *w, ptrdiff_t C_out, ptrdiff_t cg, ptrdiff_t K,  \
                             ptrdiff_t groups, ptrdiff_t q0, ptrdiff_t q1);                  \
    int grad_input_##S(T *gx, const T *gy, const T *wp, const T *bias, ptrdiff_t N,          \
                       ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,            \
                       ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,                \
                       ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t cpi, ptrdiff_t u0,  \
                       ptrdiff_t u1);
DECLARE_GRAD_INPUT(float, f32)
DECLARE_GRAD_INPUT(double, f64)

/* ---------------------------------------------------------- grad_weight (grad_weight.c)
 * gw (C_out, C_in/groups, K): rows o in [o0, o1) written fully (sum over every sample n and
 * output position t); gy (N, C_out, L_out); x (N, C_in, L) UNPADDED with pad_left zeros
 * before it and pad_right = (L_out-1)*stride + (K-1)*dilation + 1 - L - pad_left (or more)
 * after. gw[o, c, k] = sum_{n,t} gy[n, o, t] * x[n, g*cg + c, t*stride + k*dilation -
 * pad_left]. Returns 0 when done, nonzero if not built (gw untouched). */
#define DECLARE_GRAD_WEIGHT(T, S)                                                            \
    int grad_weight_##S(T *gw, const T *gy, const T *x, ptrdiff_t N, ptrdiff_t C_in,         \
                        ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,          \
                        ptrdiff_t stride, ptrdiff_t dilation, ptrdiff_t groups,              \
                        ptrdiff_t pad_left, ptrdiff_t pad_right, ptrdiff_t o0, ptrdiff_t o1);
DECLARE_GRAD_WEIGHT(float, f32)
DECLARE_GRAD_WEIGHT(double, f64)

/* ---------------------------------------------- grad_weight_dense (grad_weight_dense.c)
 * The same gradient as grad_weight_* (same arrays, same sum, rows o in [o0, o1) written fully
 * and nothing else), vectorised over output channels: for layers with many output channels
 * per group (grad_weight_* suits depthwise-like ones). scratch: grad_weight_dense_scratch(...)
 * bytes for this call's [o0, o1), private to it. */
size_t grad_weight_dense_scratch(ptrdiff_t C_in, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t s,
                                 ptrdiff_t d, ptrdiff_t groups, ptrdiff_t o0, ptrdiff_t o1,
                                 int itemsize);
#define DECLARE_GRAD_WEIGHT_DENSE(T, S)                                                      \
    void grad_weight_dense_##S(T *gw, const T *gy, const T *x, ptrdiff_t N, ptrdiff_t C_in,  \
                               ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,   \
                               ptrdiff_t stride, ptrdiff_t dilation, ptrdiff_t groups,       \
                               ptrdiff_t pad_left, ptrdiff_t o0, ptrdiff_t o1, void *scratch);
DECLARE_GRAD_WEIGHT_DENSE(float, f32)
DECLARE_GRAD_WEIGHT_DENSE(double, f64)

/* ------------------------------------------------------------------ fma_loop (module.c)
 * fma_loop(iterations): runs `iterations` rounds of independent float32 vector FMA chains held
 * in registers (no memory traffic) and returns the float32 FLOPs done (2 per lane per FMA), so
 * that flops / seconds is one thread's FMA peak at this level. The GIL is released while it
 * runs, so one call per thread, timed together, gives the machine's peak. */
double fma_loop_f32(int64_t iterations);

#endif
