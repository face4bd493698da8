/* grad_weight kernels: placeholder until nativegrad's land (contract: kernels.h). Returning
 * nonzero tells the Python side to fall back to the gemm algorithm's grad_weight. */
#include "kernels.h"

int grad_weight_f32(float *gw, const float *gy, const float *x, ptrdiff_t N, ptrdiff_t C_in,
                    ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,
                    ptrdiff_t stride, ptrdiff_t dilation, ptrdiff_t groups, ptrdiff_t pad_left,
                    ptrdiff_t pad_right, ptrdiff_t o0, ptrdiff_t o1)
{
    (void)gw, (void)gy, (void)x, (void)N, (void)C_in, (void)L, (void)C_out, (void)K;
    (void)L_out, (void)stride, (void)dilation, (void)groups, (void)pad_left, (void)pad_right;
    (void)o0, (void)o1;
    return 1;
}

int grad_weight_f64(double *gw, const double *gy, const double *x, ptrdiff_t N,
                    ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,
                    ptrdiff_t stride, ptrdiff_t dilation, ptrdiff_t groups, ptrdiff_t pad_left,
                    ptrdiff_t pad_right, ptrdiff_t o0, ptrdiff_t o1)
{
    (void)gw, (void)gy, (void)x, (void)N, (void)C_in, (void)L, (void)C_out, (void)K;
    (void)L_out, (void)stride, (void)dilation, (void)groups, (void)pad_left, (void)pad_right;
    (void)o0, (void)o1;
    return 1;
}
