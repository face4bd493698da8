/* Body of forward.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f) (suffixed name).
 * Included once per dtype; see forward.c for the algorithm and kernels.h for the contract. */

static inline V NAME(load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NAME(store_)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* acc[o][v] = sum_{c < nc, k < nk} wp[(c*K + k)*OB + o] * xb[c*cs + k*ks + v*LN + lane], then
 * y[o*ys + p] = acc + bias[o] (first) or y[o*ys + p] += acc, for o < nout, p < npos. */
static inline void NAME(tile_)(const T *xb, ptrdiff_t cs, ptrdiff_t ks, const T *wp,
                               ptrdiff_t nc, ptrdiff_t nk, ptrdiff_t K, T *y, ptrdiff_t ys,
                               ptrdiff_t nout, ptrdiff_t npos, int first, const T *bias)
{
    V acc[OB][NV];
#pragma GCC unroll 8
    for (int o = 0; o < OB; o++)
#pragma GCC unroll 4
        for (int v = 0; v < NV; v++) acc[o][v] = (V){0};
    for (ptrdiff_t c = 0; c < nc; c++) {
        const T *xc = xb + c * cs;
        const T *wc = wp + c * K * OB;
        for (ptrdiff_t k = 0; k < nk; k++) {
            V xv[NV];
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) xv[v] = NAME(load_)(xc + k * ks + v * LN);
            const T *wk = wc + k * OB;
#pragma GCC unroll 8
            for (int o = 0; o < OB; o++) {
                V wv = (V){0} + wk[o];
#pragma GCC unroll 4
                for (int v = 0; v < NV; v++) acc[o][v] += wv * xv[v];
            }
        }
    }
    if (npos == NV * LN) {
        for (ptrdiff_t o = 0; o < nout; o++) {
            T *yo = y + o * ys;
#pragma GCC unroll 4
            for (int v = 0; v < NV; v++) {
                V r = acc[o][v];
                if (!first)
                    r += NAME(load_)(yo + v * LN);
                else if (bias)
                    r += bias[o];
                NAME(store_)(yo + v * LN, r);
            }
        }
    } else {
        T buf[NV * LN];
        for (ptrdiff_t o = 0; o < nout; o++) {
            T *yo = y + o * ys;
            for (int v = 0; v < NV; v++) NAME(store_)(buf + v * LN, acc[o][v]);
            for (ptrdiff_t p = 0; p < npos; p++)
                yo[p] = first ? buf[p] + (bias ? bias[o] : (T)0) : yo[p] + buf[p];
        }
    }
}

void NAME(forward_dense_)(const T *x, const T *wp, const T *bias, T *y, ptrdiff_t N,
                          ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,
                          ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,
                          ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0, ptrdiff_t n1,
                          ptrdiff_t t0, ptrdiff_t t1, T *scratch)
{
    (void)N;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    const ptrdiff_t nob = (og + OB - 1) / OB;
    const ptrdiff_t P = NV * LN;
    /* Terms per register partial: whole channel blocks of all K taps, or tap blocks */
    const ptrdiff_t kb = K < CONV1D_BLOCK_TERMS ? K : CONV1D_BLOCK_TERMS;
    const ptrdiff_t cb = K * CB <= CONV1D_BLOCK_TERMS ? CB : (CONV1D_BLOCK_TERMS / K > 1 ? CONV1D_BLOCK_TERMS / K : 1);
    for (ptrdiff_t n = n0; n < n1; n++) {
        for (ptrdiff_t g = 0; g < groups; g++) {
            const T *xg = x + (n * C_in + g * cg) * L;
            T *yg = y + (n * C_out + g * og) * L_out;
            const T *wg = wp + g * nob * cg * K * OB;
            const T *bg = bias ? bias + g * og : NULL;
            for (ptrdiff_t tt = t0; tt < t1; tt += P) {
                const ptrdiff_t npos = (t1 - tt < P) ? t1 - tt : P;
                const ptrdiff_t lo_in = tt * stride - pad_left;
                const ptrdiff_t hi_in = (tt + P - 1) * stride + (K - 1) * dilation - pad_left;
                const int inplace = stride == 1 && lo_in >= 0 && hi_in < L;
                for (ptrdiff_t c0 = 0; c0 < cg; c0 += cb) {
                    const ptrdiff_t nc = (cg - c0 < cb) ? cg - c0 : cb;
                    const T *xb;
                    ptrdiff_t cs, ks;
                    if (inplace) {
                        xb = xg + c0 * L + lo_in;
                        cs = L;
                        ks = dilation;
                    } else {
                        /* (nc, K, P) panel: input positions of this tile, zeros outside [0, L) */
                        for (ptrdiff_t c = 0; c < nc; c++) {
                            const T *row = xg + (c0 + c) * L;
                            for (ptrdiff_t k = 0; k < K; k++) {
                                T *dst = scratch + (c * K + k) * P;
                                ptrdiff_t pos = lo_in + k * dilation;
                                for (ptrdiff_t p = 0; p < P; p++, pos += stride)
                                    dst[p] = (p < npos && pos >= 0 && pos < L) ? row[pos] : (T)0;
                            }
                        }
                        xb = scratch;
                        cs = K * P;
                        ks = P;
                    }
                    for (ptrdiff_t k0 = 0; k0 < K; k0 += kb) {
                        const ptrdiff_t nk = (K - k0 < kb) ? K - k0 : kb;
                        for (ptrdiff_t ob = 0; ob < nob; ob++) {
                            const ptrdiff_t nout = (og - ob * OB < OB) ? og - ob * OB : OB;
                            NAME(tile_)(xb + k0 * ks, cs, ks, wg + ((ob * cg + c0) * K + k0) * OB,
                                        nc, nk, K, yg + ob * OB * L_out + tt, L_out, nout, npos,
                                        c0 == 0 && k0 == 0, bg ? bg + ob * OB : NULL);
                        }
                    }
                }
            }
        }
    }
}
