/* Body of grad_input.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f) (suffixed
 * name). Included once per dtype; the algorithm is described in grad_input.c. */

static inline V NAME(gi_load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NAME(gi_store_)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* The register tile. For c < CBT, v < JVT, lane < LN:
 *   tmp[c*ts + v*LN + lane] += sum_{o < no} sum_{k = kf, kf + ks, ... < K}
 *                              w[o*wos + c*K + k] * src[o*rs - q_k + v*LN + lane],
 * q_k = qf + (k - kf) / ks * qs. Register partials go into tmp every ~GI_BLOCK_TERMS products. */
static inline __attribute__((always_inline)) void NAME(gi_tile_)(
    const T *src, ptrdiff_t rs, ptrdiff_t no, const T *w, ptrdiff_t wos, ptrdiff_t K,
    ptrdiff_t kf, ptrdiff_t ks, ptrdiff_t qf, ptrdiff_t qs, T *tmp, ptrdiff_t ts, const int CBT,
    const int JVT)
{
    /* register partials of about GI_BLOCK_TERMS products: oflush channels x kb taps */
    const ptrdiff_t nt = (K - 1 - kf) / ks + 1;
    ptrdiff_t oflush = GI_BLOCK_TERMS / nt, kb = nt;
    if (oflush < 1) oflush = 1, kb = GI_BLOCK_TERMS;
    for (ptrdiff_t oa = 0; oa < no; oa += oflush)
    for (ptrdiff_t ka = kf, qa = qf; ka < K; ka += kb * ks, qa += kb * qs) {
        const ptrdiff_t ob = (no - oa < oflush) ? no : oa + oflush;
        const ptrdiff_t ke = (K - ka < kb * ks) ? K : ka + kb * ks;
        V acc[GI_CB_MAX][GI_JV_MAX];
#pragma GCC unroll 8
        for (int c = 0; c < CBT; c++)
#pragma GCC unroll 12
            for (int v = 0; v < JVT; v++) acc[c][v] = (V){0};
        for (ptrdiff_t k = ka, q = qa; k < ke; k += ks, q += qs) {
            const T *sp = src + oa * rs - q;
            const T *wk = w + oa * wos + k;
            for (ptrdiff_t o = oa; o < ob; o++, sp += rs, wk += wos) {
                V xv[GI_JV_MAX];
#pragma GCC unroll 12
                for (int v = 0; v < JVT; v++) xv[v] = NAME(gi_load_)(sp + v * LN);
#pragma GCC unroll 8
                for (int c = 0; c < CBT; c++) {
                    const V wv = wk[c * K] - (V){0}; /* x - 0 == x: a plain broadcast */
#pragma GCC unroll 12
                    for (int v = 0; v < JVT; v++) acc[c][v] += wv * xv[v];
                }
            }
        }
#pragma GCC unroll 8
        for (int c = 0; c < CBT; c++)
#pragma GCC unroll 12
            for (int v = 0; v < JVT; v++) {
                T *tp = tmp + c * ts + v * LN;
                NAME(gi_store_)(tp, NAME(gi_load_)(tp) + acc[c][v]);
            }
    }
}

#define GI_ARGS src, rs, no, w, wos, K, kf, ks, qf, qs, tmp, ts
#define GI_CASE(a, b)                           \
    case (a) * 100 + (b):                       \
        NAME(gi_tile_)(GI_ARGS, (a), (b));      \
        break;

/* The tile for (cbt, jv), with constant sizes so that the accumulators live in registers. */
static void NAME(gi_tile_run_)(int cbt, int jv, const T *src, ptrdiff_t rs, ptrdiff_t no,
                               const T *w, ptrdiff_t wos, ptrdiff_t K, ptrdiff_t kf,
                               ptrdiff_t ks, ptrdiff_t qf, ptrdiff_t qs, T *tmp, ptrdiff_t ts)
{
    switch (cbt * 100 + jv) {
#if GI_REGS32
        GI_CASE(8, 3) GI_CASE(7, 3) GI_CASE(6, 3) GI_CASE(5, 3)
        GI_CASE(4, 3) GI_CASE(3, 3) GI_CASE(2, 3) GI_CASE(1, 3)
        GI_CASE(6, 4) GI_CASE(5, 4) GI_CASE(4, 6) GI_CASE(3, 8) GI_CASE(2, 8) GI_CASE(1, 12)
#else
        GI_CASE(4, 3) GI_CASE(3, 3) GI_CASE(2, 3) GI_CASE(1, 3)
        GI_CASE(3, 4) GI_CASE(2, 4) GI_CASE(1, 6)
#endif
    default:
        break;
    }
}
#undef GI_CASE
#undef GI_ARGS

/* Exact scalar path: only the products that exist (the reference's NaN pattern). */
static void NAME(gi_scalar_)(T *gx, const T *gy, const T *w, ptrdiff_t C_in, ptrdiff_t L,
                             ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out, ptrdiff_t s,
                             ptrdiff_t d, ptrdiff_t groups, ptrdiff_t pl, ptrdiff_t n0,
                             ptrdiff_t n1)
{
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    for (ptrdiff_t n = n0; n < n1; n++) {
        memset(gx + n * C_in * L, 0, (size_t)(C_in * L) * sizeof(T));
        for (ptrdiff_t o = 0; o < C_out; o++) {
            const T *gyo = gy + (n * C_out + o) * L_out;
            const ptrdiff_t g = o / og;
            for (ptrdiff_t c = 0; c < cg; c++) {
                T *gxc = gx + (n * C_in + g * cg + c) * L;
                const T *wc = w + (o * cg + c) * K;
                for (ptrdiff_t k = 0; k < K; k++) {
                    /* t such that 0 <= i = t*s + k*d - pl < L */
                    const ptrdiff_t off = k * d - pl;
                    ptrdiff_t t = off >= 0 ? 0 : (-off + s - 1) / s;
                    for (ptrdiff_t i = t * s + off; t < L_out && i < L; t++, i += s)
                        gxc[i] += wc[k] * gyo[t];
                }
            }
        }
    }
}

/* row[i] (first: =, else +=) tile[r*TB + j] for i = base + j*s + r in [ilo, ihi), j < bs,
 * r < s: the phases of one block interleaved back into an input row. */
static void NAME(gi_put_)(T *row, const T *tile, ptrdiff_t TB, ptrdiff_t base, ptrdiff_t s,
                          ptrdiff_t bs, ptrdiff_t ilo, ptrdiff_t ihi, int first)
{
    if (s == 1) {
        const T *tp = tile - base;
        if (first)
            memcpy(row + ilo, tp + ilo, (size_t)(ihi - ilo) * sizeof(T));
        else
            for (ptrdiff_t i = ilo; i < ihi; i++) row[i] += tp[i];
        return;
    }
    /* whole groups of s samples inside [ilo, ihi): j in [ja, jb) */
    ptrdiff_t ja = ilo - base > 0 ? (ilo - base + s - 1) / s : 0;
    ptrdiff_t jb = (ihi - base) / s;
    if (jb > bs) jb = bs;
    if (jb < ja) jb = ja;
    for (ptrdiff_t j = 0; j < bs; j++) {
        if (j == ja) {
            if (s == 2) {
                const T *t0 = tile, *t1 = tile + TB;
                T *o = row + base;
                if (first)
                    for (ptrdiff_t u = ja; u < jb; u++) o[2 * u] = t0[u], o[2 * u + 1] = t1[u];
                else
                    for (ptrdiff_t u = ja; u < jb; u++) o[2 * u] += t0[u], o[2 * u + 1] += t1[u];
            } else {
                for (ptrdiff_t u = ja; u < jb; u++)
                    for (ptrdiff_t r = 0; r < s; r++) {
                        T *o = row + base + u * s + r;
                        *o = first ? tile[r * TB + u] : *o + tile[r * TB + u];
                    }
            }
            j = jb;
            if (j >= bs) break;
        }
        for (ptrdiff_t r = 0; r < s; r++) {
            const ptrdiff_t i = base + j * s + r;
            if (i >= ilo && i < ihi) row[i] = first ? tile[r * TB + j] : row[i] + tile[r * TB + j];
        }
    }
}

int NAME(grad_input_)(T *gx, const T *gy, const T *w, ptrdiff_t N, ptrdiff_t C_in, ptrdiff_t L,
                      ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out, ptrdiff_t s, ptrdiff_t d,
                      ptrdiff_t groups, ptrdiff_t pl, ptrdiff_t n0, ptrdiff_t n1)
{
    (void)N;
    if (n0 >= n1 || C_in == 0 || L == 0) return 0;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    if (L_out <= 0 || og == 0 || K == 0) {
        memset(gx + n0 * C_in * L, 0, (size_t)((n1 - n0) * C_in * L) * sizeof(T));
        return 0;
    }
    /* Tile shape from the channels per group: all of them when they fit one tile (about 24
     * accumulators with 32 registers, 12 with 16), else blocks of the widest tile and the
     * remainder in one tile of the same width. */
    int cbm, jv;
#if GI_REGS32
    static const int JV_OF[8] = {0, 12, 8, 8, 6, 4, 4, 3};
    cbm = cg >= 8 ? 8 : (int)cg;
    jv = cg >= 8 ? 3 : JV_OF[cbm];
#else
    static const int JV_OF[4] = {0, 6, 4, 4};
    cbm = cg >= 4 ? 4 : (int)cg;
    jv = cg >= 4 ? 3 : JV_OF[cbm];
#endif
    const ptrdiff_t W = (ptrdiff_t)jv * LN;              /* positions J per tile */
    const ptrdiff_t SP = s <= GI_MAX_PHASES ? s : 1;     /* phases held in tmp */
    const ptrdiff_t Js = pl / s, Je = (pl + L - 1) / s + 1; /* blocks cover p in [pl, pl+L) */
    ptrdiff_t m = GI_POSITIONS / (SP * W);
    if (m < 1) m = 1;
    ptrdiff_t TB = m * W;
    const ptrdiff_t span = (Je - Js + W - 1) / W * W;
    if (TB > span) TB = span;
    const ptrdiff_t qmax = (K - 1) * d / s;
    /* a block's gy window (og rows) within GI_GY_BYTES, so that it stays in L2 while every
     * channel tile passes over it (pointwise, og = 512: 480 -> 96 positions, 148 -> 200 GF/s) */
    const ptrdiff_t fit = ((ptrdiff_t)(GI_GY_BYTES / sizeof(T)) / og - qmax) / W * W;
    if (TB > fit) TB = fit > W ? fit : W;
    const ptrdiff_t SWmax = TB + qmax; /* longest strip row */
    int finite = 1;
    for (ptrdiff_t e = 0; e < C_out * cg * K; e++) finite &= (w[e] - w[e] == 0);
    if (!finite || SWmax > (ptrdiff_t)(GI_STRIP_BYTES / sizeof(T))) {
        NAME(gi_scalar_)(gx, gy, w, C_in, L, C_out, K, L_out, s, d, groups, pl, n0, n1);
        return 0;
    }
    const ptrdiff_t strip_items = (ptrdiff_t)(GI_STRIP_BYTES / sizeof(T));
    const ptrdiff_t ks = s / conv1d_gcd(s, d), qs = ks * d / s; /* taps of one phase: k += ks */
    const ptrdiff_t nph = K < ks ? K : ks;                  /* phases that have taps */
    T strip[GI_STRIP_BYTES / sizeof(T)];
    T tmp[GI_TMP_ELEMS];
    const ptrdiff_t ts = SP * TB; /* tmp: (cbt, SP, TB) */
    for (ptrdiff_t n = n0; n < n1; n++) {
        for (ptrdiff_t g = 0; g < groups; g++) {
            const T *gyg = gy + (n * C_out + g * og) * L_out;
            T *gxg = gx + (n * C_in + g * cg) * L;
            const T *wg = w + g * og * cg * K;
            ptrdiff_t bs;
            for (ptrdiff_t Jb = Js; Jb < Je; Jb += bs) {
                /* Block [Jb, Jb + bs) of whole tiles. Blocks whose gy window [Jb - qmax,
                 * Jb + bs) lies inside [0, L_out) read gy in place; the edges get blocks of
                 * their own, as small as the tiles allow, that copy their window. */
                if (Jb < qmax) {
                    bs = (qmax - Jb + W - 1) / W * W;
                } else {
                    bs = (L_out - Jb) / W * W;
                    if (bs < W) bs = W;
                }
                if (bs > TB) bs = TB;
                if (bs > (Je - Jb + W - 1) / W * W) bs = (Je - Jb + W - 1) / W * W;
                /* In place unless the window needs zeros, or the row stride is a multiple of
                 * 2 KiB: then the rows one tile walks share L1 sets and evict each other
                 * (pointwise, L = 2048, AVX2: 74 -> 105 GF/s; AVX-512 unchanged). */
                const int direct = Jb - qmax >= 0 && Jb + bs <= L_out &&
                                   (L_out * (ptrdiff_t)sizeof(T)) % 2048 != 0;
                const ptrdiff_t SW = bs + qmax; /* strip row: gy[t], t in [Jb - qmax, Jb + bs) */
                ptrdiff_t oblk = direct ? og : strip_items / SW;
                if (oblk > og) oblk = og;
                /* input positions i of this block */
                ptrdiff_t ilo = Jb * s - pl, ihi = (Jb + bs) * s - pl;
                if (ilo < 0) ilo = 0;
                if (ihi > L) ihi = L;
                for (ptrdiff_t o0 = 0; o0 < og; o0 += oblk) {
                    const ptrdiff_t no = (og - o0 < oblk) ? og - o0 : oblk;
                    const T *src;
                    ptrdiff_t rs;
                    if (direct) {
                        src = gyg + o0 * L_out + Jb;
                        rs = L_out;
                    } else {
                        /* strip[o][u] = gy[t = Jb - qmax + u], zeros outside [0, L_out) */
                        const ptrdiff_t t0 = Jb - qmax;
                        ptrdiff_t ua = -t0, ub = L_out - t0;
                        if (ua < 0) ua = 0;
                        if (ua > SW) ua = SW;
                        if (ub > SW) ub = SW;
                        if (ub < ua) ub = ua;
                        for (ptrdiff_t o = 0; o < no; o++) {
                            T *row = strip + o * SW;
                            memset(row, 0, (size_t)ua * sizeof(T));
                            memcpy(row + ua, gyg + (o0 + o) * L_out + t0 + ua,
                                   (size_t)(ub - ua) * sizeof(T));
                            memset(row + ub, 0, (size_t)(SW - ub) * sizeof(T));
                        }
                        src = strip + qmax;
                        rs = SW;
                    }
                    const int first = o0 == 0;
                    int cbt;
                    for (ptrdiff_t c0 = 0; c0 < cg; c0 += cbt) {
                        cbt = cg - c0 < cbm ? (int)(cg - c0) : cbm;
                        const T *wc = wg + (o0 * cg + c0) * K;
                        T *gxc = gxg + c0 * L;
                        if (SP == s) {
                            for (int c = 0; c < cbt; c++)
                                for (ptrdiff_t r = 0; r < s; r++)
                                    memset(tmp + c * ts + r * TB, 0, (size_t)bs * sizeof(T));
                            for (ptrdiff_t kf = 0; kf < nph; kf++) {
                                const ptrdiff_t r = kf * d % s, qf = kf * d / s;
                                for (ptrdiff_t j = 0; j < bs; j += W)
                                    NAME(gi_tile_run_)(cbt, jv, src + j, rs, no, wc, cg * K, K,
                                                       kf, ks, qf, qs, tmp + r * TB + j, ts);
                            }
                            /* (cbt, s, TB) -> gx rows: i = (Jb + j)*s + r - pl */
                            for (int c = 0; c < cbt; c++)
                                NAME(gi_put_)(gxc + c * L, tmp + c * ts, TB, Jb * s - pl, s, bs,
                                              ilo, ihi, first);
                        } else {
                            /* large stride: one phase at a time, written with stride s */
                            if (first)
                                for (int c = 0; c < cbt; c++)
                                    memset(gxc + c * L + ilo, 0, (size_t)(ihi - ilo) * sizeof(T));
                            for (ptrdiff_t kf = 0; kf < nph; kf++) {
                                const ptrdiff_t r = kf * d % s, qf = kf * d / s;
                                for (int c = 0; c < cbt; c++)
                                    memset(tmp + c * ts, 0, (size_t)bs * sizeof(T));
                                for (ptrdiff_t j = 0; j < bs; j += W)
                                    NAME(gi_tile_run_)(cbt, jv, src + j, rs, no, wc, cg * K, K,
                                                       kf, ks, qf, qs, tmp + j, ts);
                                for (int c = 0; c < cbt; c++) {
                                    T *row = gxc + c * L;
                                    for (ptrdiff_t j = 0; j < bs; j++) {
                                        const ptrdiff_t i = (Jb + j) * s + r - pl;
                                        if (i >= ilo && i < ihi) row[i] += tmp[c * ts + j];
                                    }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
    return 0;
}
