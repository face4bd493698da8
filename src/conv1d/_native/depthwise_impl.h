/* Body of depthwise.c for one dtype: T, V, LN, NAME(f) as in forward_impl.h. */

static inline V NAME(dw_load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

void NAME(forward_rows_)(const T *x, const T *w, const T *bias, T *y, ptrdiff_t N,
                         ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,
                         ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,
                         ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0, ptrdiff_t n1,
                         ptrdiff_t o0, ptrdiff_t o1, ptrdiff_t t0, ptrdiff_t t1, T *scratch)
{
    (void)N;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    const ptrdiff_t P = RV * LN;
    const ptrdiff_t kb = K < CONV1D_BLOCK_TERMS ? K : CONV1D_BLOCK_TERMS;
    const ptrdiff_t cb = K * CB <= CONV1D_BLOCK_TERMS ? CB : (CONV1D_BLOCK_TERMS / K > 1 ? CONV1D_BLOCK_TERMS / K : 1);
    for (ptrdiff_t n = n0; n < n1; n++) {
        for (ptrdiff_t o = o0; o < o1; o++) {
            const T *xg = x + (n * C_in + (o / og) * cg) * L;
            const T *wo = w + o * cg * K;
            const T b = bias ? bias[o] : (T)0;
            T *yo = y + (n * C_out + o) * L_out;
            for (ptrdiff_t tt = t0; tt < t1; tt += P) {
                const ptrdiff_t npos = (t1 - tt < P) ? t1 - tt : P;
                const ptrdiff_t lo_in = tt * stride - pad_left;
                const ptrdiff_t hi_in = (tt + P - 1) * stride + (K - 1) * dilation - pad_left;
                const int inplace = stride == 1 && lo_in >= 0 && hi_in < L;
                V tot[RV];
#pragma GCC unroll 4
                for (int v = 0; v < RV; v++) tot[v] = (V){0} + b;
                for (ptrdiff_t c0 = 0; c0 < cg; c0 += cb) {
                    const ptrdiff_t nc = (cg - c0 < cb) ? cg - c0 : cb;
                    const T *xb;
                    ptrdiff_t cs, ks;
                    if (inplace) {
                        xb = xg + c0 * L + lo_in;
                        cs = L;
                        ks = dilation;
                    } else {
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
                        const ptrdiff_t k1 = (K - k0 < kb) ? K : k0 + kb;
                        V acc[RV];
#pragma GCC unroll 4
                        for (int v = 0; v < RV; v++) acc[v] = (V){0};
                        for (ptrdiff_t c = 0; c < nc; c++) {
                            const T *xc = xb + c * cs;
                            const T *wc = wo + (c0 + c) * K;
                            for (ptrdiff_t k = k0; k < k1; k++) {
                                const V wv = wc[k] - (V){0}; /* broadcast, see forward_impl.h */
#pragma GCC unroll 4
                                for (int v = 0; v < RV; v++)
                                    acc[v] += wv * NAME(dw_load_)(xc + k * ks + v * LN);
                            }
                        }
#pragma GCC unroll 4
                        for (int v = 0; v < RV; v++) tot[v] += acc[v];
                    }
                }
                if (npos == P) {
#pragma GCC unroll 4
                    for (int v = 0; v < RV; v++) memcpy(yo + tt + v * LN, &tot[v], sizeof(V));
                } else {
                    T buf[RV * LN];
                    memcpy(buf, tot, sizeof buf);
                    for (ptrdiff_t p = 0; p < npos; p++) yo[tt + p] = buf[p];
                }
            }
        }
    }
}
