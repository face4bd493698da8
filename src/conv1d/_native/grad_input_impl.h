/* Body of grad_input.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f) (suffixed
 * name). Included once per dtype; the algorithm is described in grad_input.c. */

static inline V NAME(gi_load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NAME(gi_store_)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* The register tile, on one channel block's packed weights wp (K, og, CB). For c < CBT,
 * v < JVT, lane < LN:
 *   tmp[c*ts + v*LN + lane] += sum_{o < no} sum_{k = kf, kf + ks, ... < K}
 *                              wp[(k*og + o)*CB + c] * src[o*rs - q_k + v*LN + lane],
 * q_k = qf + (k - kf) / ks * qs. Register partials go into tmp every ~GI_BLOCK_TERMS products. */
static inline __attribute__((always_inline)) void NAME(gi_tile_)(
    const T *src, ptrdiff_t rs, ptrdiff_t no, const T *wp, ptrdiff_t og, ptrdiff_t CB,
    ptrdiff_t K, ptrdiff_t kf, ptrdiff_t ks, ptrdiff_t qf, ptrdiff_t qs, T *tmp, ptrdiff_t ts,
    const int CBT, const int JVT)
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
            const T *wk = wp + (k * og + oa) * CB;
            for (ptrdiff_t o = oa; o < ob; o++, sp += rs, wk += CB) {
                V xv[GI_JV_MAX];
#pragma GCC unroll 12
                for (int v = 0; v < JVT; v++) xv[v] = NAME(gi_load_)(sp + v * LN);
#pragma GCC unroll 8
                for (int c = 0; c < CBT; c++) {
                    const V wv = wk[c] - (V){0}; /* x - 0 == x: a plain broadcast */
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

#define GI_ARGS src, rs, no, wp, og, CB, K, kf, ks, qf, qs, tmp, ts
#define GI_CASE(a, b)                           \
    case (a) * 100 + (b):                       \
        NAME(gi_tile_)(GI_ARGS, (a), (b));      \
        break;

/* The tile for (cbt, jv), with constant sizes so that the accumulators live in registers. */
static void NAME(gi_tile_run_)(int cbt, int jv, const T *src, ptrdiff_t rs, ptrdiff_t no,
                               const T *wp, ptrdiff_t og, ptrdiff_t CB, ptrdiff_t K,
                               ptrdiff_t kf, ptrdiff_t ks, ptrdiff_t qf, ptrdiff_t qs, T *tmp,
                               ptrdiff_t ts)
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

/* Exact scalar path for one work item: only the products that exist (the reference's NaN
 * pattern). gxc: its cbt rows of L; gyg: the group's og rows of L_out; wp: the block's packed
 * weights (K, og, CB); bias: its cbt values or NULL. */
static void NAME(gi_scalar_)(T *gxc, const T *gyg, const T *wp, const T *bias, int cbt,
                             ptrdiff_t CB, ptrdiff_t L, ptrdiff_t og, ptrdiff_t K,
                             ptrdiff_t L_out, ptrdiff_t s, ptrdiff_t d, ptrdiff_t pl)
{
    for (int c = 0; c < cbt; c++) {
        T *row = gxc + c * L;
        for (ptrdiff_t i = 0; i < L; i++) row[i] = bias ? bias[c] : (T)0;
        for (ptrdiff_t o = 0; o < og; o++) {
            const T *gyo = gyg + o * L_out;
            for (ptrdiff_t k = 0; k < K; k++) {
                const T wk = wp[(k * og + o) * CB + c];
                /* t such that 0 <= i = t*s + k*d - pl < L */
                const ptrdiff_t off = k * d - pl;
                ptrdiff_t t = off >= 0 ? 0 : (-off + s - 1) / s;
                for (ptrdiff_t i = t * s + off; t < L_out && i < L; t++, i += s)
                    row[i] += wk * gyo[t];
            }
        }
    }
}

/* row[i] = tile[r*TB + j] (+ *b when b != NULL) for i = base + j*s + r in [ilo, ihi), j < bs,
 * r < s: the phases of one block interleaved back into an input row. Whole groups of s
 * outputs go through an interleaving loop with s constant where s is 1, 2, 4 or 8 (the
 * compiler vectorises it with permutes: scalar stride-s stores cost grouped_up2, s = 2, 30%);
 * the partial groups at the ends, and other strides, one phase at a time. */
#define GI_PUT_GROUPS(S)                                                          \
    for (ptrdiff_t u = ga; u < gb; u++)                                           \
        for (ptrdiff_t r = 0; r < (S); r++) o[u * (S) + r] = tile[r * TB + u] + bv;
static void NAME(gi_put_)(T *row, const T *tile, ptrdiff_t TB, ptrdiff_t base, ptrdiff_t s,
                          ptrdiff_t bs, ptrdiff_t ilo, ptrdiff_t ihi, const T *b)
{
    /* whole groups u in [ga, gb): base + u*s + [0, s) inside [ilo, ihi) */
    ptrdiff_t ga = ilo - base > 0 ? (ilo - base + s - 1) / s : 0;
    ptrdiff_t gb = ihi - base >= 0 ? (ihi - base) / s : 0;
    if (gb > bs) gb = bs;
    if (gb < ga || !(s == 1 || s == 2 || s == 4 || s == 8)) gb = ga;
    T *o = row + base;
    if (b) {
        const T bv = *b;
        switch (s) {
        case 1: GI_PUT_GROUPS(1) break;
        case 2: GI_PUT_GROUPS(2) break;
        case 4: GI_PUT_GROUPS(4) break;
        case 8: GI_PUT_GROUPS(8) break;
        }
    } else {
        const T bv = 0; /* x + 0 is not x for x = -0: keep the tile's value as it is */
        (void)bv;
#undef GI_PUT_GROUPS
#define GI_PUT_GROUPS(S)                                                          \
    for (ptrdiff_t u = ga; u < gb; u++)                                           \
        for (ptrdiff_t r = 0; r < (S); r++) o[u * (S) + r] = tile[r * TB + u];
        switch (s) {
        case 1: GI_PUT_GROUPS(1) break;
        case 2: GI_PUT_GROUPS(2) break;
        case 4: GI_PUT_GROUPS(4) break;
        case 8: GI_PUT_GROUPS(8) break;
        }
    }
#undef GI_PUT_GROUPS
    /* the rest: j outside [ga, gb), one phase at a time */
    for (ptrdiff_t r = 0; r < s; r++) {
        /* j with ilo <= base + j*s + r < ihi (floor division of possibly negative values) */
        const ptrdiff_t lo = ilo - base - r, hi = ihi - base - r;
        ptrdiff_t ja = lo > 0 ? (lo + s - 1) / s : 0, jb = hi > 0 ? (hi + s - 1) / s : 0;
        if (jb > bs) jb = bs;
        T *orow = o + r;
        const T *t = tile + r * TB;
        for (ptrdiff_t j = ja; j < jb; j++) {
            if (j == ga && gb > ga) j = gb;
            if (j >= jb) break;
            orow[j * s] = b ? t[j] + *b : t[j];
        }
    }
}

/* Channels per work item (and per packed block): all of a group's when they fit one tile
 * (about 24 accumulators with 32 registers, 12 with 16), else GI_CB_MAX. */
static inline ptrdiff_t NAME(gi_block_)(ptrdiff_t cg) { return cg < GI_CB_MAX ? cg : GI_CB_MAX; }

void NAME(grad_input_pack_)(T *wp, const T *w, ptrdiff_t C_out, ptrdiff_t cg, ptrdiff_t K,
                            ptrdiff_t groups, ptrdiff_t q0, ptrdiff_t q1)
{
    const ptrdiff_t og = C_out / groups, CB = NAME(gi_block_)(cg);
    const ptrdiff_t ncb = (cg + CB - 1) / CB;
    for (ptrdiff_t q = q0; q < q1; q++) {
        const ptrdiff_t g = q / ncb, cb = q % ncb;
        T *dst = wp + (g * ncb + cb) * K * og * CB;
        const ptrdiff_t c0 = cb * CB, nc = cg - c0 < CB ? cg - c0 : CB;
        for (ptrdiff_t o = 0; o < og; o++) {
            const T *src = w + ((g * og + o) * cg + c0) * K; /* nc rows of K, contiguous */
            for (ptrdiff_t k = 0; k < K; k++) {
                T *d = dst + (k * og + o) * CB;
                for (ptrdiff_t c = 0; c < nc; c++) d[c] = src[c * K + k];
                for (ptrdiff_t c = nc; c < CB; c++) d[c] = 0;
            }
        }
    }
}

int NAME(grad_input_)(T *gx, const T *gy, const T *wp, const T *bias, ptrdiff_t N,
                      ptrdiff_t C_in, ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,
                      ptrdiff_t s, ptrdiff_t d, ptrdiff_t groups, ptrdiff_t pl, ptrdiff_t cpi,
                      ptrdiff_t u0, ptrdiff_t u1)
{
    (void)N;
    if (u0 >= u1 || C_in == 0 || L == 0) return 0;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    const ptrdiff_t CB = NAME(gi_block_)(cg), ncb = (cg + CB - 1) / CB;
    const ptrdiff_t ngi = (ncb + cpi - 1) / cpi; /* items per (sample, group) */
    if (L_out <= 0 || og == 0 || K == 0) {
        for (ptrdiff_t u = u0; u < u1; u++) {
            const ptrdiff_t n = u / (groups * ngi), g = u / ngi % groups, gi = u % ngi;
            const ptrdiff_t ca = gi * cpi * CB;
            const ptrdiff_t cz = (gi + 1) * cpi * CB < cg ? (gi + 1) * cpi * CB : cg;
            for (ptrdiff_t c = ca; c < cz; c++) {
                T *row = gx + (n * C_in + g * cg + c) * L;
                const T b = bias ? bias[g * cg + c] : (T)0;
                for (ptrdiff_t i = 0; i < L; i++) row[i] = b;
            }
        }
        return 0;
    }
    /* Tile width from the channels per block: narrow blocks get wider tiles. */
    int jv;
#if GI_REGS32
    static const int JV_OF[9] = {0, 12, 8, 8, 6, 4, 4, 3, 3};
#else
    static const int JV_OF[5] = {0, 6, 4, 4, 3};
#endif
    jv = JV_OF[CB];
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
     * tap passes over it (pointwise, og = 512: 480 -> 96 positions, 148 -> 200 GF/s) */
    const ptrdiff_t fit = ((ptrdiff_t)(GI_GY_BYTES / sizeof(T)) / og - qmax) / W * W;
    if (TB > fit) TB = fit > W ? fit : W;
    const ptrdiff_t SWmax = TB + qmax; /* longest strip row */
    const ptrdiff_t strip_items = (ptrdiff_t)(GI_STRIP_BYTES / sizeof(T));
    const ptrdiff_t ks = s / conv1d_gcd(s, d), qs = ks * d / s; /* taps of one phase: k += ks */
    const ptrdiff_t nph = K < ks ? K : ks;                  /* phases that have taps */
    /* output channels per register partial of the phase with the most taps (gi_tile_) */
    const ptrdiff_t fg = GI_BLOCK_TERMS / ((K + ks - 1) / ks) > 1
                             ? GI_BLOCK_TERMS / ((K + ks - 1) / ks) : 1;
    T strip[GI_STRIP_BYTES / sizeof(T)];
    T tmp[GI_TMP_BYTES / sizeof(T)];
    const ptrdiff_t ts = SP * TB; /* tmp: (cbt, SP, TB) */
    for (ptrdiff_t u = u0; u < u1; u++) {
        /* work item u: sample n, group g, channel blocks [cba, cbb) of the group */
        const ptrdiff_t n = u / (groups * ngi), g = u / ngi % groups, gi = u % ngi;
        const ptrdiff_t cba = gi * cpi, cbb = cba + cpi < ncb ? cba + cpi : ncb;
        const T *gyg = gy + (n * C_out + g * og) * L_out;
        const T *wg = wp + g * ncb * K * og * CB;
        int finite = 1;
        for (ptrdiff_t e = cba * K * og * CB; e < cbb * K * og * CB; e++)
            finite &= (wg[e] - wg[e] == 0);
        if (!finite || SWmax > strip_items) {
            for (ptrdiff_t cb = cba; cb < cbb; cb++) {
                const ptrdiff_t c0 = cb * CB;
                NAME(gi_scalar_)(gx + (n * C_in + g * cg + c0) * L, gyg, wg + cb * K * og * CB,
                                 bias ? bias + g * cg + c0 : NULL,
                                 cg - c0 < CB ? (int)(cg - c0) : (int)CB, CB, L, og, K, L_out, s,
                                 d, pl);
            }
            continue;
        }
        const ptrdiff_t tmp_items = (ptrdiff_t)(GI_TMP_BYTES / sizeof(T)), per = CB * ts;
        ptrdiff_t bs;
        for (ptrdiff_t Jb = Js; Jb < Je; Jb += bs) {
            /* Block [Jb, Jb + bs) of whole tiles. Blocks whose gy window [Jb - qmax, Jb + bs)
             * lies inside [0, L_out) read gy in place; the edges get blocks of their own, as
             * small as the tiles allow, that copy their window. */
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
            /* Output channels per pass over the tiles: all of them, or for narrow channel
             * blocks (each gy vector feeds only CB FMAs) as many as keep their gy window in L1
             * (GI_WINDOW_BYTES), in whole register partials, so that every phase and tile
             * re-reads it from there (tasnet_decoder, CB = 1: 3.9 -> 3.3 ms; with CB = 8 the
             * passes cost more than they save: unet_up2 5.2 -> 5.6 ms). The strip holds at
             * most strip_items. */
            ptrdiff_t oblk = og;
            if (2 * CB <= GI_CB_MAX) {
                oblk = (ptrdiff_t)(GI_WINDOW_BYTES / sizeof(T)) / SW;
                if (oblk > fg) oblk = oblk / fg * fg;
            }
            if (!direct && oblk > strip_items / SW) oblk = strip_items / SW;
            if (oblk < 1) oblk = 1;
            if (oblk > og) oblk = og;
            /* input positions i of this block */
            ptrdiff_t ilo = Jb * s - pl, ihi = (Jb + bs) * s - pl;
            if (ilo < 0) ilo = 0;
            if (ihi > L) ihi = L;
            /* src: the gy window of output channels [o0, o0 + no), in place or in the strip
             * (strip[o][u] = gy[t = Jb - qmax + u], zeros outside [0, L_out)) */
            const T *src = NULL;
            ptrdiff_t rs = L_out;
#define GI_WINDOW(o0, no)                                                                 \
    do {                                                                                  \
        if (direct) {                                                                     \
            src = gyg + (o0) * L_out + Jb;                                                \
            rs = L_out;                                                                   \
            break;                                                                        \
        }                                                                                 \
        const ptrdiff_t t0 = Jb - qmax;                                                   \
        ptrdiff_t ua = -t0, ub = L_out - t0;                                              \
        if (ua < 0) ua = 0;                                                               \
        if (ua > SW) ua = SW;                                                             \
        if (ub > SW) ub = SW;                                                             \
        if (ub < ua) ub = ua;                                                             \
        for (ptrdiff_t o = 0; o < (no); o++) {                                            \
            T *row = strip + o * SW;                                                      \
            memset(row, 0, (size_t)ua * sizeof(T));                                       \
            memcpy(row + ua, gyg + ((o0) + o) * L_out + t0 + ua,                          \
                   (size_t)(ub - ua) * sizeof(T));                                        \
            memset(row + ub, 0, (size_t)(SW - ub) * sizeof(T));                           \
        }                                                                                 \
        src = strip + qmax;                                                               \
        rs = SW;                                                                          \
    } while (0)
            /* One pass over the output channels: the item's channel blocks one by one on
             * the same window (read or copied once). Several passes: the blocks in batches
             * whose tile buffers fit tmp together, each pass's window shared by a batch. */
            const int one_pass = oblk >= og;
            if (one_pass) GI_WINDOW(0, og);
            const ptrdiff_t batch = one_pass ? 1 : (tmp_items / per > 1 ? tmp_items / per : 1);
            for (ptrdiff_t ba = cba; ba < cbb; ba += batch) {
                const ptrdiff_t bz = ba + batch < cbb ? ba + batch : cbb;
                if (SP == s)
                    for (ptrdiff_t c = 0; c < (bz - ba) * CB; c++)
                        for (ptrdiff_t r = 0; r < s; r++)
                            memset(tmp + c * ts + r * TB, 0, (size_t)bs * sizeof(T));
                for (ptrdiff_t o0 = 0; o0 < og; o0 += oblk) {
                    const ptrdiff_t no = (og - o0 < oblk) ? og - o0 : oblk;
                    if (!one_pass) GI_WINDOW(o0, no);
                    for (ptrdiff_t cb = ba; cb < bz; cb++) {
                        const ptrdiff_t c0 = cb * CB;
                        const int cbt = cg - c0 < CB ? (int)(cg - c0) : (int)CB;
                        const T *wo = wg + cb * K * og * CB + o0 * CB; /* (K, og, CB) from o0 */
                        T *tb = tmp + (cb - ba) * per;
                        if (SP == s) {
                            for (ptrdiff_t kf = 0; kf < nph; kf++) {
                                const ptrdiff_t r = kf * d % s, qf = kf * d / s;
                                for (ptrdiff_t j = 0; j < bs; j += W)
                                    NAME(gi_tile_run_)(cbt, jv, src + j, rs, no, wo, og, CB, K,
                                                       kf, ks, qf, qs, tb + r * TB + j, ts);
                            }
                            continue;
                        }
                        /* large stride: one phase at a time, written with stride s */
                        T *gxc = gx + (n * C_in + g * cg + c0) * L;
                        if (o0 == 0)
                            for (int c = 0; c < cbt; c++) {
                                T *row = gxc + c * L;
                                const T b = bias ? bias[g * cg + c0 + c] : (T)0;
                                for (ptrdiff_t i = ilo; i < ihi; i++) row[i] = b;
                            }
                        for (ptrdiff_t kf = 0; kf < nph; kf++) {
                            const ptrdiff_t r = kf * d % s, qf = kf * d / s;
                            for (int c = 0; c < cbt; c++)
                                memset(tb + c * ts, 0, (size_t)bs * sizeof(T));
                            for (ptrdiff_t j = 0; j < bs; j += W)
                                NAME(gi_tile_run_)(cbt, jv, src + j, rs, no, wo, og, CB, K, kf,
                                                   ks, qf, qs, tb + j, ts);
                            for (int c = 0; c < cbt; c++) {
                                T *row = gxc + c * L;
                                for (ptrdiff_t j = 0; j < bs; j++) {
                                    const ptrdiff_t i = (Jb + j) * s + r - pl;
                                    if (i >= ilo && i < ihi) row[i] += tb[c * ts + j];
                                }
                            }
                        }
                    }
                }
                /* (cbt, s, TB) -> gx rows: i = (Jb + j)*s + r - pl */
                if (SP == s)
                    for (ptrdiff_t cb = ba; cb < bz; cb++) {
                        const ptrdiff_t c0 = cb * CB;
                        const int cbt = cg - c0 < CB ? (int)(cg - c0) : (int)CB;
                        T *gxc = gx + (n * C_in + g * cg + c0) * L;
                        const T *tb = tmp + (cb - ba) * per;
                        for (int c = 0; c < cbt; c++)
                            NAME(gi_put_)(gxc + c * L, tb + c * ts, TB, Jb * s - pl, s, bs, ilo,
                                          ihi, bias ? bias + g * cg + c0 + c : NULL);
                    }
            }
#undef GI_WINDOW
        }
    }
    return 0;
}
