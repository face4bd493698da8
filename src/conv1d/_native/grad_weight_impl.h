/* Body of grad_weight.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f) (suffixed
 * name). Included once per dtype; the algorithm is described in grad_weight.c. */

static inline V NAME(gw_load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* The first n < LN items at p, zeros after them. */
static inline V NAME(gw_load_part_)(const T *p, ptrdiff_t n)
{
    T buf[LN] = {0};
    memcpy(buf, p, (size_t)n * sizeof(T));
    return NAME(gw_load_)(buf);
}

/* Sum of the lanes, pairwise: halves added as vectors (shuffles) where the compiler has
 * __builtin_shufflevector, else lane by lane. */
static inline T NAME(gw_hsum_)(V v)
{
#if GW_SHUFFLE
    typedef T h1 __attribute__((vector_size(sizeof(T))));
    typedef T h2 __attribute__((vector_size(2 * sizeof(T))));
#if LN >= 4
    typedef T h4 __attribute__((vector_size(4 * sizeof(T))));
#endif
#if LN >= 8
    typedef T h8 __attribute__((vector_size(8 * sizeof(T))));
#endif
#if LN == 16
    h8 a8 = __builtin_shufflevector(v, v, 0, 1, 2, 3, 4, 5, 6, 7) +
            __builtin_shufflevector(v, v, 8, 9, 10, 11, 12, 13, 14, 15);
#elif LN == 8
    h8 a8 = v;
#endif
#if LN >= 8
    h4 a4 = __builtin_shufflevector(a8, a8, 0, 1, 2, 3) +
            __builtin_shufflevector(a8, a8, 4, 5, 6, 7);
#elif LN == 4
    h4 a4 = v;
#endif
#if LN >= 4
    h2 a2 = __builtin_shufflevector(a4, a4, 0, 1) + __builtin_shufflevector(a4, a4, 2, 3);
#else
    h2 a2 = v;
#endif
    h1 a1 = __builtin_shufflevector(a2, a2, 0) + __builtin_shufflevector(a2, a2, 1);
    return a1[0];
#else
    T b[LN];
    memcpy(b, &v, sizeof v);
    for (int w = LN / 2; w >= 1; w /= 2)
        for (int i = 0; i < w; i++) b[i] += b[i + w];
    return b[0];
#endif
}

/* The register tile. For o < OBT, j < JT:
 *   out[o*gwo + cidx[j]] += sum_{b < nb} sum_{u < nv*LN + tail}
 *                           g[o*gos + b*gs + u] * cp[j][b*cs + u].
 * Columns may be read up to the next whole vector (the strip is that long); gy rows too,
 * masked, except where that would pass gend, the end of gy. */
static inline __attribute__((always_inline)) void NAME(gw_tile_)(
    const T *g, ptrdiff_t gos, ptrdiff_t gs, const T *gend, const T *const *cp, ptrdiff_t cs,
    ptrdiff_t nb, ptrdiff_t nv, ptrdiff_t tail, T *out, ptrdiff_t gwo, const ptrdiff_t *cidx,
    const int OBT, const int JT)
{
    V acc[GW_OB_MAX][GW_J_MAX];
#pragma GCC unroll 4
    for (int o = 0; o < OBT; o++)
#pragma GCC unroll 6
        for (int j = 0; j < JT; j++) acc[o][j] = (V){0};
    VI mask;
    {
        IT m[LN];
        for (int i = 0; i < LN; i++) m[i] = i < tail ? (IT)-1 : 0;
        memcpy(&mask, m, sizeof mask);
    }
    for (ptrdiff_t b = 0; b < nb; b++) {
        const T *gb = g + b * gs;
        const T *cb[GW_J_MAX];
#pragma GCC unroll 6
        for (int j = 0; j < JT; j++) cb[j] = cp[j] + b * cs;
        for (ptrdiff_t u = 0; u < nv * LN; u += LN) {
            V cv[GW_J_MAX];
#pragma GCC unroll 6
            for (int j = 0; j < JT; j++) cv[j] = NAME(gw_load_)(cb[j] + u);
#pragma GCC unroll 4
            for (int o = 0; o < OBT; o++) {
                const V gv = NAME(gw_load_)(gb + o * gos + u);
#pragma GCC unroll 6
                for (int j = 0; j < JT; j++) acc[o][j] += gv * cv[j];
            }
        }
        if (tail) {
            /* lanes past the tail are zeroed bit by bit (no 0 * Inf) */
            const ptrdiff_t u = nv * LN;
            V cv[GW_J_MAX];
#pragma GCC unroll 6
            for (int j = 0; j < JT; j++) cv[j] = (V)((VI)NAME(gw_load_)(cb[j] + u) & mask);
#pragma GCC unroll 4
            for (int o = 0; o < OBT; o++) {
                const T *gp = gb + o * gos + u;
                const V gv = gp + LN <= gend ? (V)((VI)NAME(gw_load_)(gp) & mask)
                                             : NAME(gw_load_part_)(gp, tail);
#pragma GCC unroll 6
                for (int j = 0; j < JT; j++) acc[o][j] += gv * cv[j];
            }
        }
    }
    for (int o = 0; o < OBT; o++)
        for (int j = 0; j < JT; j++) out[o * gwo + cidx[j]] += NAME(gw_hsum_)(acc[o][j]);
}

#define GW_ARGS g, gos, gs, gend, cp, cs, nb, nv, tail, out, gwo, cidx
#define GW_CASE(a, b)                           \
    case (a) * 100 + (b):                       \
        NAME(gw_tile_)(GW_ARGS, (a), (b));      \
        break;
#if GW_REGS32
#define GW_ROW(a) \
    GW_CASE(a, 1) GW_CASE(a, 2) GW_CASE(a, 3) GW_CASE(a, 4) GW_CASE(a, 5) GW_CASE(a, 6)
#else
#define GW_ROW(a) GW_CASE(a, 1) GW_CASE(a, 2) GW_CASE(a, 3)
#endif

/* The tile for (obt, jt), with constant sizes so that the accumulators live in registers. */
static void NAME(gw_tile_run_)(int obt, int jt, const T *g, ptrdiff_t gos, ptrdiff_t gs,
                               const T *gend, const T *const *cp, ptrdiff_t cs,
                               ptrdiff_t nb, ptrdiff_t nv, ptrdiff_t tail, T *out,
                               ptrdiff_t gwo, const ptrdiff_t *cidx)
{
    switch (obt * 100 + jt) {
        GW_ROW(1) GW_ROW(2) GW_ROW(3) GW_ROW(4)
    default:
        break;
    }
}
#undef GW_ROW
#undef GW_CASE
#undef GW_ARGS

/* Plain loops, for windows too wide for the strip (enormous dilation). */
static void NAME(gw_scalar_)(T *gw, const T *gy, const T *x, ptrdiff_t N, ptrdiff_t C_in,
                             ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,
                             ptrdiff_t s, ptrdiff_t d, ptrdiff_t groups, ptrdiff_t pl,
                             ptrdiff_t o0, ptrdiff_t o1)
{
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    for (ptrdiff_t o = o0; o < o1; o++) {
        const ptrdiff_t g = o / og;
        for (ptrdiff_t c = 0; c < cg; c++)
            for (ptrdiff_t k = 0; k < K; k++) {
                double acc = 0;
                for (ptrdiff_t n = 0; n < N; n++) {
                    const T *gyo = gy + (n * C_out + o) * L_out;
                    const T *xc = x + (n * C_in + g * cg + c) * L;
                    T part = 0;
                    for (ptrdiff_t t = 0, i = k * d - pl; t < L_out; t++, i += s)
                        part += gyo[t] * ((i >= 0 && i < L) ? xc[i] : (T)0);
                    acc += part;
                }
                gw[(o * cg + c) * K + k] = (T)acc;
            }
    }
}

/* strip[u] = row[base + u*s] for u < n, zeros where the index is outside [0, L). */
static void NAME(gw_gather_)(T *strip, const T *row, ptrdiff_t L, ptrdiff_t base, ptrdiff_t s,
                             ptrdiff_t n)
{
    ptrdiff_t ua = base >= 0 ? 0 : (-base + s - 1) / s;
    ptrdiff_t ub = base < L ? (L - base + s - 1) / s : 0;
    if (ua > n) ua = n;
    if (ub > n) ub = n;
    if (ub < ua) ub = ua;
    memset(strip, 0, (size_t)ua * sizeof(T));
    const T *src = row + base;
    /* constant small strides: the compiler turns these into vector loads and permutes */
    switch (s) {
    case 1:
        memcpy(strip + ua, src + ua, (size_t)(ub - ua) * sizeof(T));
        break;
    case 2:
        for (ptrdiff_t u = ua; u < ub; u++) strip[u] = src[u * 2];
        break;
    case 3:
        for (ptrdiff_t u = ua; u < ub; u++) strip[u] = src[u * 3];
        break;
    case 4:
        for (ptrdiff_t u = ua; u < ub; u++) strip[u] = src[u * 4];
        break;
    default:
        for (ptrdiff_t u = ua; u < ub; u++) strip[u] = src[u * s];
    }
    memset(strip + ub, 0, (size_t)(n - ub) * sizeof(T));
}

int NAME(grad_weight_)(T *gw, const T *gy, const T *x, ptrdiff_t N, ptrdiff_t C_in, ptrdiff_t L,
                       ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out, ptrdiff_t s, ptrdiff_t d,
                       ptrdiff_t groups, ptrdiff_t pl, ptrdiff_t pr, ptrdiff_t o0, ptrdiff_t o1)
{
    (void)pr;
    const ptrdiff_t cg = C_in / groups, og = C_out / groups;
    if (o0 >= o1) return 0;
    memset(gw + o0 * cg * K, 0, (size_t)((o1 - o0) * cg * K) * sizeof(T));
    if (N == 0 || L_out <= 0 || cg == 0 || K == 0) return 0;
    const ptrdiff_t ks = s / conv1d_gcd(s, d);  /* taps k and k + ks share a phase */
    const ptrdiff_t nph = K < ks ? K : ks;   /* phase rows per channel */
    const ptrdiff_t qmax = (K - 1) * d / s;
    const ptrdiff_t cap = (ptrdiff_t)(GW_STRIP_BYTES / sizeof(T));
    /* positions per block: long (fewer lane sums), but the block's gy rows of this call's
     * output channels within GW_GY_BYTES (they stay in L2 while the strips pass over them) */
    const ptrdiff_t orows = (o1 - o0 < og) ? o1 - o0 : og;
    ptrdiff_t TB = (ptrdiff_t)(GW_GY_BYTES / sizeof(T)) / orows;
    if (TB > GW_TB) TB = GW_TB;
    if (TB < GW_TB_MIN) TB = GW_TB_MIN;
    if (TB > L_out) TB = L_out;
    ptrdiff_t tbv = (TB + LN - 1) / LN * LN;
    while (nph * (tbv + qmax) > cap && TB > LN) {
        TB = (TB + 1) / 2;
        tbv = (TB + LN - 1) / LN * LN;
    }
    const ptrdiff_t SWw = tbv + qmax;  /* strip row: u < tbv plus the taps' offsets */
    const ptrdiff_t per = nph * SWw;   /* strip items per (sample, channel) */
    if (per > cap) {
        NAME(gw_scalar_)(gw, gy, x, N, C_in, L, C_out, K, L_out, s, d, groups, pl, o0, o1);
        return 0;
    }
    ptrdiff_t NB = (GW_STEPS + tbv / LN - 1) / (tbv / LN);
    if (NB > N) NB = N;
    if (NB > cap / per) NB = cap / per;
    if (NB < 1) NB = 1;
    ptrdiff_t CB = cap / (NB * per);
    if (CB > cg) CB = cg;
    /* fewer channels if that fills the column tiles better: least padding per column */
    if (CB * K > GW_J_MAX) {
        ptrdiff_t best = CB;
        for (ptrdiff_t c = CB - 1; c * 2 > CB; c--) {
            const ptrdiff_t pc = (GW_J_MAX - c * K % GW_J_MAX) % GW_J_MAX;
            const ptrdiff_t pb = (GW_J_MAX - best * K % GW_J_MAX) % GW_J_MAX;
            if (pc * best < pb * c) best = c;
        }
        CB = best;
    }
    T strip[GW_STRIP_BYTES / sizeof(T)];
    const T *const gend = gy + N * C_out * L_out;
    const T *cp[GW_J_MAX];
    ptrdiff_t cidx[GW_J_MAX];
    for (ptrdiff_t g = o0 / og; g < groups && g * og < o1; g++) {
        const ptrdiff_t oa = o0 > g * og ? o0 : g * og;
        const ptrdiff_t ob = o1 < (g + 1) * og ? o1 : (g + 1) * og;
        /* (samples, positions) blocks outside the channel blocks: the block's gy rows stay
         * in L2 while every channel block's strip passes over them */
        for (ptrdiff_t nb0 = 0; nb0 < N; nb0 += NB) {
            const ptrdiff_t nb = (N - nb0 < NB) ? N - nb0 : NB;
            for (ptrdiff_t t0 = 0; t0 < L_out; t0 += TB) {
                const ptrdiff_t tb = (L_out - t0 < TB) ? L_out - t0 : TB;
                for (ptrdiff_t c0 = 0; c0 < cg; c0 += CB) {
                    const ptrdiff_t nc = (cg - c0 < CB) ? cg - c0 : CB, ncol = nc * K;
                    const ptrdiff_t cs = nc * per; /* strip: (nb, nc, nph, SWw) */
                    for (ptrdiff_t b = 0; b < nb; b++)
                        for (ptrdiff_t c = 0; c < nc; c++) {
                            const T *row = x + ((nb0 + b) * C_in + g * cg + c0 + c) * L;
                            for (ptrdiff_t sl = 0; sl < nph; sl++)
                                NAME(gw_gather_)(strip + b * cs + (c * nph + sl) * SWw, row, L,
                                                 t0 * s + sl * d % s - pl, s, SWw);
                        }
                    /* o tiles outside: the tile's gy rows stay in L1 across the columns */
                    for (ptrdiff_t ot = oa; ot < ob; ot += GW_OB_MAX) {
                        const int obt = (int)((ob - ot < GW_OB_MAX) ? ob - ot : GW_OB_MAX);
                        for (ptrdiff_t j0 = 0; j0 < ncol; j0 += GW_J_MAX) {
                            const int jt = (int)((ncol - j0 < GW_J_MAX) ? ncol - j0 : GW_J_MAX);
                            for (int j = 0; j < jt; j++) {
                                const ptrdiff_t c = (j0 + j) / K, k = (j0 + j) % K;
                                cp[j] = strip + (c * nph + k % ks) * SWw + k * d / s;
                                cidx[j] = (c0 + c) * K + k;
                            }
                            NAME(gw_tile_run_)(obt, jt, gy + (nb0 * C_out + ot) * L_out + t0,
                                               L_out, C_out * L_out, gend, cp, cs, nb, tb / LN,
                                               tb % LN, gw + ot * cg * K, cg * K, cidx);
                        }
                    }
                }
            }
        }
    }
    return 0;
}
