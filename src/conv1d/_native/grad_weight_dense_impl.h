/* Body of grad_weight_dense.c for one dtype: T (scalar), V (vector), LN (lanes), NAME(f)
 * (suffixed name). Included once per dtype; the algorithm is described in grad_weight_dense.c. */

static inline V NAME(gwd_load_)(const T *p)
{
    V v;
    memcpy(&v, p, sizeof v);
    return v;
}

static inline void NAME(gwd_store_)(T *p, V v) { memcpy(p, &v, sizeof v); }

/* The register tile: for j < JC, v < OV,
 *   out[j*ors + v*LN + lane] += sum_{t < nt} g[t*OW + v*LN + lane] * col[j][t*s],
 * OW = GWD_OV * LN (the gyT row), ors the gwT row stride. */
static inline __attribute__((always_inline)) void NAME(gwd_tile_)(
    const T *g, const T *const *col, ptrdiff_t s, ptrdiff_t nt, T *out, ptrdiff_t ors,
    const int JC, const int OV)
{
    V acc[GWD_JC][GWD_OV];
#pragma GCC unroll 8
    for (int j = 0; j < JC; j++)
#pragma GCC unroll 3
        for (int v = 0; v < OV; v++) acc[j][v] = (V){0};
    const T *cp[GWD_JC];
#pragma GCC unroll 8
    for (int j = 0; j < JC; j++) cp[j] = col[j];
    const ptrdiff_t OW = GWD_OV * LN;
    for (ptrdiff_t t = 0; t < nt; t++) {
        V gv[GWD_OV];
#pragma GCC unroll 3
        for (int v = 0; v < OV; v++) gv[v] = NAME(gwd_load_)(g + t * OW + v * LN);
#pragma GCC unroll 8
        for (int j = 0; j < JC; j++) {
            const V xv = cp[j][t * s] - (V){0}; /* a broadcast (x - 0 == x exactly) */
#pragma GCC unroll 3
            for (int v = 0; v < OV; v++) acc[j][v] += gv[v] * xv;
        }
    }
#pragma GCC unroll 8
    for (int j = 0; j < JC; j++)
#pragma GCC unroll 3
        for (int v = 0; v < OV; v++) {
            T *p = out + j * ors + v * LN;
            NAME(gwd_store_)(p, NAME(gwd_load_)(p) + acc[j][v]);
        }
}

#define GWD_ARGS g, col, s, nt, out, ors
#define GWD_CASE(a, b)                          \
    case (a) * 10 + (b):                        \
        NAME(gwd_tile_)(GWD_ARGS, (a), (b));    \
        break;
#if GWD_JC == 8
#define GWD_COL(b)                                                                       \
    GWD_CASE(1, b) GWD_CASE(2, b) GWD_CASE(3, b) GWD_CASE(4, b) GWD_CASE(5, b) GWD_CASE(6, b) \
    GWD_CASE(7, b) GWD_CASE(8, b)
#else
#define GWD_COL(b) GWD_CASE(1, b) GWD_CASE(2, b) GWD_CASE(3, b) GWD_CASE(4, b)
#endif

/* The tile for (jc, ov), with constant sizes so that the accumulators live in registers. */
static void NAME(gwd_tile_run_)(int jc, int ov, const T *g, const T *const *col, ptrdiff_t s,
                                ptrdiff_t nt, T *out, ptrdiff_t ors)
{
    switch (jc * 10 + ov) {
        GWD_COL(1) GWD_COL(2) GWD_COL(3)
    default:
        break;
    }
}
#undef GWD_COL
#undef GWD_CASE
#undef GWD_ARGS

void NAME(grad_weight_dense_)(T *gw, const T *gy, const T *x, ptrdiff_t N, ptrdiff_t C_in,
                              ptrdiff_t L, ptrdiff_t C_out, ptrdiff_t K, ptrdiff_t L_out,
                              ptrdiff_t s, ptrdiff_t d, ptrdiff_t groups, ptrdiff_t pl,
                              ptrdiff_t o0, ptrdiff_t o1, void *scratch)
{
    const ptrdiff_t cg = C_in / groups, og = C_out / groups, ncol = cg * K;
    if (o0 >= o1) return;
    if (N == 0 || L_out <= 0 || ncol == 0) {
        memset(gw + o0 * ncol, 0, (size_t)((o1 - o0) * ncol) * sizeof(T));
        return;
    }
    const ptrdiff_t OW = GWD_OV * LN, SEG = (GWD_TB - 1) * s + (K - 1) * d + 1;
    ptrdiff_t rows = o1 - o0 < og ? o1 - o0 : og;
    rows = (rows + OW - 1) / OW * OW;
    T *gwT = scratch;            /* (ncol, rows): the segment's gradient, transposed */
    T *gyT = gwT + ncol * rows;  /* (GWD_TB, OW) */
    T *strip = gyT + GWD_TB * OW; /* (cg, SEG) */
    const T *col[GWD_JC];
    for (ptrdiff_t g = o0 / og; g < groups && g * og < o1; g++) {
        const ptrdiff_t oa = o0 > g * og ? o0 : g * og;
        const ptrdiff_t ob = o1 < (g + 1) * og ? o1 : (g + 1) * og;
        memset(gwT, 0, (size_t)(ncol * rows) * sizeof(T));
        for (ptrdiff_t n = 0; n < N; n++) {
            const T *xg = x + (n * C_in + g * cg) * L;
            for (ptrdiff_t t0 = 0; t0 < L_out; t0 += GWD_TB) {
                const ptrdiff_t nt = L_out - t0 < GWD_TB ? L_out - t0 : GWD_TB;
                /* strip[c][u] = x[c, t0*s - pl + u], zeros outside [0, L) */
                const ptrdiff_t base = t0 * s - pl, seg = (nt - 1) * s + (K - 1) * d + 1;
                ptrdiff_t ua = -base, ub = L - base;
                if (ua < 0) ua = 0;
                if (ua > seg) ua = seg;
                if (ub > seg) ub = seg;
                if (ub < ua) ub = ua;
                for (ptrdiff_t c = 0; c < cg; c++) {
                    T *row = strip + c * SEG;
                    memset(row, 0, (size_t)ua * sizeof(T));
                    memcpy(row + ua, xg + c * L + base + ua, (size_t)(ub - ua) * sizeof(T));
                    memset(row + ub, 0, (size_t)(seg - ub) * sizeof(T));
                }
                for (ptrdiff_t p0 = oa; p0 < ob; p0 += OW) {
                    const ptrdiff_t np = ob - p0 < OW ? ob - p0 : OW;
                    const int ov = (int)((np + LN - 1) / LN);
                    /* gyT[t][p] = gy[n, p0 + p, t0 + t], zeros past np */
                    const T *gyp = gy + (n * C_out + p0) * L_out + t0;
                    for (ptrdiff_t p = 0; p < np; p++) {
                        const T *src = gyp + p * L_out;
                        for (ptrdiff_t t = 0; t < nt; t++) gyT[t * OW + p] = src[t];
                    }
                    for (ptrdiff_t t = 0; t < nt && np < ov * LN; t++)
                        memset(gyT + t * OW + np, 0, (size_t)(ov * LN - np) * sizeof(T));
                    T *out = gwT + (p0 - oa);
                    for (ptrdiff_t j0 = 0; j0 < ncol; j0 += GWD_JC) {
                        const int jc = (int)(ncol - j0 < GWD_JC ? ncol - j0 : GWD_JC);
                        for (int j = 0; j < jc; j++) {
                            const ptrdiff_t c = (j0 + j) / K, k = (j0 + j) % K;
                            col[j] = strip + c * SEG + k * d;
                        }
                        NAME(gwd_tile_run_)(jc, ov, gyT, col, s, nt, out + j0 * rows, rows);
                    }
                }
            }
        }
        /* gw[o][col] = gwT[col][o - oa] */
        for (ptrdiff_t o = oa; o < ob; o++) {
            T *dst = gw + o * ncol;
            const T *src = gwT + (o - oa);
            for (ptrdiff_t j = 0; j < ncol; j++) dst[j] = src[j * rows];
        }
    }
}
