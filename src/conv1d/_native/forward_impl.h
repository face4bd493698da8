/* Body of forward.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f) (suffixed name).
 * Included once per dtype; see forward.c for the algorithm and kernels.h for the contract. */

static inline V NAME(load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NAME(store_)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* acc[o][v] = sum_{c < nc, k < nk} wp[(c*K + k)*OB + o] * xb[c*cs + koff[k] + v*LN + lane],
 * then y[o*ys + p] = acc + bias[o] (first) or y[o*ys + p] += acc, for o < nout, p < npos,
 * with nv = ceil(npos / LN) <= NV vectors (a compile-time constant after inlining). */
static inline __attribute__((always_inline)) void NAME(tile_)(
    const int nv, const T *xb, ptrdiff_t cs, const ptrdiff_t *koff, const T *wp, ptrdiff_t nc,
    ptrdiff_t nk, ptrdiff_t K, T *y, ptrdiff_t ys, ptrdiff_t nout, ptrdiff_t npos, int first,
    const T *bias)
{
    V acc[OB][NV];
#pragma GCC unroll 8
    for (int o = 0; o < OB; o++)
#pragma GCC unroll 4
        for (int v = 0; v < nv; v++) acc[o][v] = (V){0};
    for (ptrdiff_t c = 0; c < nc; c++) {
        const T *xc = xb + c * cs;
        const T *wc = wp + c * K * OB;
        for (ptrdiff_t k = 0; k < nk; k++) {
            V xv[NV];
            const T *xk = xc + koff[k];
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) xv[v] = NAME(load_)(xk + v * LN);
            const T *wk = wc + k * OB;
#pragma GCC unroll 8
            for (int o = 0; o < OB; o++) {
                V wv = wk[o] - (V){0}; /* a broadcast (x - 0 == x exactly; 0 + x is not, for -0) */
#pragma GCC unroll 4
                for (int v = 0; v < nv; v++) acc[o][v] += wv * xv[v];
            }
        }
    }
    if (npos == nv * LN) {
        for (ptrdiff_t o = 0; o < nout; o++) {
            T *yo = y + o * ys;
#pragma GCC unroll 4
            for (int v = 0; v < nv; v++) {
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
            for (int v = 0; v < nv; v++) NAME(store_)(buf + v * LN, acc[o][v]);
            for (ptrdiff_t p = 0; p < npos; p++)
                yo[p] = first ? buf[p] + (bias ? bias[o] : (T)0) : yo[p] + buf[p];
        }
    }
}

/* The tile for npos positions: 3, 2 or 1 vectors wide (NV = 3). */
static void NAME(tiles_)(const T *xb, ptrdiff_t cs, const ptrdiff_t *koff, const T *wp,
                         ptrdiff_t nc, ptrdiff_t nk, ptrdiff_t K, T *y, ptrdiff_t ys,
                         ptrdiff_t nout, ptrdiff_t npos, int first, const T *bias)
{
    _Static_assert(NV == 3, "tiles_ dispatches 1 to 3 vectors");
    if (npos > 2 * LN)
        NAME(tile_)(3, xb, cs, koff, wp, nc, nk, K, y, ys, nout, npos, first, bias);
    else if (npos > LN)
        NAME(tile_)(2, xb, cs, koff, wp, nc, nk, K, y, ys, nout, npos, first, bias);
    else
        NAME(tile_)(1, xb, cs, koff, wp, nc, nk, K, y, ys, nout, npos, first, bias);
}

/* dst[j] = row[pos0 + j*stride] for j < J, zero where that is outside [0, L). */
static inline void NAME(gather_)(T *dst, const T *row, ptrdiff_t L, ptrdiff_t pos0,
                                 ptrdiff_t stride, ptrdiff_t J)
{
    /* valid j: 0 <= pos0 + j*stride < L */
    ptrdiff_t ja = pos0 >= 0 ? 0 : (-pos0 + stride - 1) / stride;
    ptrdiff_t jb = pos0 >= L ? 0 : (L - pos0 + stride - 1) / stride;
    if (ja > J) ja = J;
    if (jb > J) jb = J;
    if (jb < ja) jb = ja;
    for (ptrdiff_t j = 0; j < ja; j++) dst[j] = 0;
    if (stride == 1) {
        if (jb > ja) memcpy(dst + ja, row + pos0 + ja, (size_t)(jb - ja) * sizeof(T));
    } else {
        const T *src = row + pos0 + ja * stride;
        T *d = dst + ja;
        const ptrdiff_t m = jb - ja;
        /* constant strides let the compiler vectorise the deinterleave */
        switch (stride) {
        case 2: for (ptrdiff_t j = 0; j < m; j++) d[j] = src[2 * j]; break;
        case 3: for (ptrdiff_t j = 0; j < m; j++) d[j] = src[3 * j]; break;
        case 4: for (ptrdiff_t j = 0; j < m; j++) d[j] = src[4 * j]; break;
        case 5: for (ptrdiff_t j = 0; j < m; j++) d[j] = src[5 * j]; break;
        default: for (ptrdiff_t j = 0; j < m; j++) d[j] = src[j * stride];
        }
    }
    for (ptrdiff_t j = jb; j < J; j++) dst[j] = 0;
}

void NAME(forward_dense_pack_)(T *wp, const T *w, ptrdiff_t C_out, ptrdiff_t cg, ptrdiff_t K,
                               ptrdiff_t groups, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t og = C_out / groups, nob = (og + OB - 1) / OB, row = cg * K;
    for (ptrdiff_t q = q0; q < q1; q++) {
        const ptrdiff_t g = q / nob, b = q % nob;
        /* OB rows of w (zeros past og), interleaved: wp[i*OB + o] = w[o][i], i < cg*K */
        T *dst = wp + (g * nob + b) * row * OB;
        const ptrdiff_t o0 = b * OB, no = og - o0 < OB ? og - o0 : OB;
        const T *src = w + (g * og + o0) * row;
        if (no == OB) {
            for (ptrdiff_t i = 0; i < row; i++)
#pragma GCC unroll 8
                for (int o = 0; o < OB; o++) dst[i * OB + o] = src[o * row + i];
        } else {
            for (ptrdiff_t i = 0; i < row; i++)
                for (ptrdiff_t o = 0; o < OB; o++)
                    dst[i * OB + o] = o < no ? src[o * row + i] : (T)0;
        }
    }
}

void NAME(forward_dense_)(const T *x, const T *wp, const T *bias, T *y, ptrdiff_t N,
                          ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K,
                          ptrdiff_t L_out, ptrdiff_t stride, ptrdiff_t dilation,
                          ptrdiff_t groups, ptrdiff_t pad_left, ptrdiff_t n0, ptrdiff_t n1,
                          ptrdiff_t t0, ptrdiff_t t1, void *scratch)
{
    (void)N;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    const ptrdiff_t nob = (og + OB - 1) / OB;
    const ptrdiff_t P = NV * LN;
    /* Terms per register partial: whole channel blocks of all K taps, or tap blocks. */
    const ptrdiff_t kb = K < CONV1D_BLOCK_TERMS ? K : CONV1D_BLOCK_TERMS;
    const ptrdiff_t cb = (cg + (cg + channel_block(K) - 1) / channel_block(K) - 1) /
                         ((cg + channel_block(K) - 1) / channel_block(K)); /* balanced blocks */
    /* Polyphase panel: tap k reads x[(t + q_k)*stride + r_k - pad_left] with k*dilation =
     * q_k*stride + r_k, i.e. phase r_k at offset q_k. Phases (rows of J samples) are packed
     * for r < nph; koff_panel[k] = r_k*J + q_k. In place (stride 1): koff_row[k] = k*dilation. */
    const ptrdiff_t span = (K - 1) * dilation + 1;
    const ptrdiff_t nph = stride < span ? stride : span;
    const ptrdiff_t J = P + (K - 1) * dilation / stride;
    /* Per-tile panels of huge dilations would copy mostly unused samples: then one row of P
     * samples per tap instead, (nc, K, P), koff_panel[k] = k*P. */
    const int pertap = nph * J > K * P;
    ptrdiff_t *koff_panel = scratch, *koff_row = koff_panel + K, *koff_whole = koff_row + K;
    T *panel = (T *)(koff_whole + K);
    const ptrdiff_t chunk = row_chunk(cg, K, stride, dilation, t1 - t0, (int)sizeof(T));
    const ptrdiff_t Jr = row_panel_len(K, stride, dilation, chunk, (int)sizeof(T));
    for (ptrdiff_t k = 0; k < K; k++) {
        koff_panel[k] = pertap ? k * P : (k * dilation % stride) * J + k * dilation / stride;
        koff_row[k] = k * dilation;
        koff_whole[k] = (k * dilation % stride) * Jr + k * dilation / stride;
    }
    if (chunk) { /* whole-row panels, output-channel blocks outer (see forward.c) */
        for (ptrdiff_t n = n0; n < n1; n++) {
            for (ptrdiff_t g = 0; g < groups; g++) {
                const T *xg = x + (n * C_in + g * cg) * L;
                T *yg = y + (n * C_out + g * og) * L_out;
                const T *wg = wp + g * nob * cg * K * OB;
                const T *bg = bias ? bias + g * og : NULL;
                for (ptrdiff_t u0 = t0; u0 < t1; u0 += chunk) {
                    const ptrdiff_t u1 = (t1 - u0 < chunk) ? t1 : u0 + chunk;
                    for (ptrdiff_t c = 0; c < cg; c++)
                        for (ptrdiff_t r = 0; r < nph; r++)
                            NAME(gather_)(panel + (c * nph + r) * Jr, xg + c * L, L,
                                          u0 * stride - pad_left + r, stride, Jr);
                    for (ptrdiff_t ob = 0; ob < nob; ob++) {
                        const ptrdiff_t nout = (og - ob * OB < OB) ? og - ob * OB : OB;
                        for (ptrdiff_t tt = u0; tt < u1; tt += P) {
                            const ptrdiff_t npos = (u1 - tt < P) ? u1 - tt : P;
                            /* the output tile stays in L1 while the partials add into it */
                            for (ptrdiff_t c0 = 0; c0 < cg; c0 += cb) {
                                const ptrdiff_t nc = (cg - c0 < cb) ? cg - c0 : cb;
                                for (ptrdiff_t k0 = 0; k0 < K; k0 += kb) {
                                    const ptrdiff_t nk = (K - k0 < kb) ? K - k0 : kb;
                                    NAME(tiles_)(panel + c0 * nph * Jr + (tt - u0), nph * Jr,
                                                 koff_whole + k0,
                                                 wg + ((ob * cg + c0) * K + k0) * OB, nc, nk, K,
                                                 yg + ob * OB * L_out + tt, L_out, nout, npos,
                                                 c0 == 0 && k0 == 0, bg ? bg + ob * OB : NULL);
                                }
                            }
                        }
                    }
                }
            }
        }
        return;
    }
    /* Rows a multiple of 4 KiB apart alias in L1 (same sets): copy them instead. */
    const ptrdiff_t row_bytes = (L * (ptrdiff_t)sizeof(T)) % 4096;
    const int row_ok = row_bytes > 256 && row_bytes < 4096 - 256;
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
                const int inplace = CONV1D_INPLACE && row_ok && stride == 1 && lo_in >= 0 && hi_in < L;
                for (ptrdiff_t c0 = 0; c0 < cg; c0 += cb) {
                    const ptrdiff_t nc = (cg - c0 < cb) ? cg - c0 : cb;
                    const T *xb;
                    const ptrdiff_t *koff;
                    ptrdiff_t cs;
                    if (inplace) {
                        xb = xg + c0 * L + lo_in;
                        cs = L;
                        koff = koff_row;
                    } else {
                        /* (nc, nph, J) or (nc, K, P) panel of this tile's inputs, zeros
                         * outside [0, L) */
                        for (ptrdiff_t c = 0; c < nc; c++) {
                            const T *row = xg + (c0 + c) * L;
                            if (pertap)
                                for (ptrdiff_t k = 0; k < K; k++)
                                    NAME(gather_)(panel + (c * K + k) * P, row, L,
                                                  lo_in + k * dilation, stride, P);
                            else
                                for (ptrdiff_t r = 0; r < nph; r++)
                                    NAME(gather_)(panel + (c * nph + r) * J, row, L, lo_in + r,
                                                  stride, J);
                        }
                        xb = panel;
                        cs = pertap ? K * P : nph * J;
                        koff = koff_panel;
                    }
                    for (ptrdiff_t k0 = 0; k0 < K; k0 += kb) {
                        const ptrdiff_t nk = (K - k0 < kb) ? K - k0 : kb;
                        for (ptrdiff_t ob = 0; ob < nob; ob++) {
                            const ptrdiff_t nout = (og - ob * OB < OB) ? og - ob * OB : OB;
                            NAME(tiles_)(xb, cs, koff + k0, wg + ((ob * cg + c0) * K + k0) * OB,
                                        nc, nk, K, yg + ob * OB * L_out + tt, L_out, nout, npos,
                                        c0 == 0 && k0 == 0, bg ? bg + ob * OB : NULL);
                        }
                    }
                }
            }
        }
    }
}
