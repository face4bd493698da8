/* grad_input kernels: placeholder until nativegrad's land (contract: kernels.h). Returning
 * nonzero tells the Python side to fall back to the gemm algorithm's grad_input. */
#include "kernels.h"

int grad_input_f32(float *gx, const float *gy, const float *w, ptrdiff_t N, ptrdiff_t C_in,
                   ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out, ptrdiff_t stride,
                   ptrdiff_t dilation, ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0,
                   ptrdiff_t n1)
{
    (void)gx, (void)gy, (void)w, (void)N, (void)C_in, (void)L, (void)C_out, (void)K;
    (void)L_out, (void)stride, (void)dilation, (void)groups, (void)pad_left, (void)n0, (void)n1;
    return 1;
}

int grad_input_f64(double *gx, const double *gy, const double *w, ptrdiff_t N, ptrdiff_t C_in,
                   ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out, ptrdiff_t stride,
                   ptrdiff_t dilation, ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0,
                   ptrdiff_t n1)
{
    (void)gx, (void)gy, (void)w, (void)N, (void)C_in, (void)L, (void)C_out, (void)K;
    (void)L_out, (void)stride, (void)dilation, (void)groups, (void)pad_left, (void)n0, (void)n1;
    return 1;
}
