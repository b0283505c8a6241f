/*
 * conv3d_wino.c - 3x3x3 stride-1 convolution (PyTorch Conv3d semantics, padding 1) by the
 * Winograd minimal filtering algorithm, F(2x2x2, 3x3x3), F(4x4x2, 3x3x3) or F(4x4x4, 3x3x3),
 * NCDHW with N = 1, float32.
 *
 * DESIGN. The output is cut into tiles of 2x2x2 (4x4x2, 4x4x4) voxels. With the 1-D matrices
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1],  G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1],
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * a tile is Y = A3^T [ sum_ic (G3 g[oc][ic]) . (B3^T d[ic]) ] (. elementwise over the 64
 * transform positions, X3 = X x X x X applied along d, h and w), which takes 64 products per
 * (oc, ic) and tile instead of the direct 8 x 27 = 216: 3.375x fewer multiplications.
 * F(4x4x2) uses the 6-point F(4, 3) matrices along d and h (cpu.h): 144 products per 32
 * outputs, 6x fewer than direct. F(4x4x4) uses them along all three axes: 216 products per
 * 64 outputs, 8x fewer than direct and 1.33x fewer than F(4x4x2); per output its
 * transforms take slightly fewer arithmetic operations and 25 % fewer V and M accesses (a
 * 6-point transform yields 4 outputs along w instead of a 4-point one yielding 2), at the
 * price of an in-register transpose per patch row; a tile group covers 32 columns.
 * The weights are transformed once (nne_conv3d_wino_prep, in double, at model load) into
 * u[p][oc / OCR][ic][oc % OCR]. A forward then works on blocks of tiles: tiles are taken in
 * groups of NNE_WINO_GT consecutive tiles of one tile row (the vector lanes of the transform
 * kernels), and a block is `ng` consecutive groups in (tz, ty, group) order. For a block the
 * kernel table's wino_in writes the transformed input V[p][ic][t] of every input channel,
 * wino_gemm computes, for each position, the product M[p][oc][t] = U[p][oc][.] V[p][.][t],
 * and wino_out turns M[.][oc][t] into the block's output voxels and adds the bias. Only one
 * block of V and M per thread exists at any time (at most a few MiB for 512 input channels,
 * sized by nne_conv3d_wino_ws_bytes), never a whole transformed volume. Groups per block
 * (ng) are set per variant: enough tiles for the GEMM's 24- or 16-wide register tiles, few
 * enough that V and M of the large top levels stay near the 1 MiB L2 (measured with
 * bench_kernels: F(4x4x4) with one group per block, an 8-wide GEMM tile, is 20-40 % slower;
 * three groups are no faster than two). Input channels may
 * be split into slices of WINO_ICB (M then accumulates through memory); measured, the M
 * round trips cost more than a larger V, so the default slice holds every channel of the
 * reference network.
 * Threads own contiguous ranges of blocks, and every output voxel is computed by one thread
 * in a fixed order (ic ascending), so the result is bitwise identical for every thread count.
 * Accuracy, measured in tests/test_ops.c (worst max |err| / (max |ref| + 1) against a float64
 * direct convolution on random data): direct 1.5e-6, F(2x2x2) 6e-7, F(4x4x2) 2.7e-6,
 * F(4x4x4) 7.8e-6 (the third F(4, 3) axis multiplies the rounding again); over the
 * whole reference network (bench_accuracy, 64^3, logits against direct convolution with the
 * ref kernels) F(2x2x2) moves the logits by 4e-6 x their range.
 * ref: A. Lavin, S. Gray, "Fast Algorithms for Convolutional Neural Networks", CVPR 2016
 *      (F(m x m, r x r) nested from 1-D F(m, r)); the 3-D case nests the same 1-D transforms
 *      along the third axis. B. Barabasz, A. Anderson, K. Soodhalter, D. Gregg, "Error
 *      Analysis and Improving the Accuracy of Winograd Convolution for Deep Neural Networks",
 *      ACM TOMS 2020 (the choice of interpolation points 0, 1, -1, 1/2, -2 for F(4, 3)).
 */
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "ops.h"

#ifndef WINO_NG
#define WINO_NG 3 /* F(2x2x2) tile groups per block: 24 tiles, the AVX2 GEMM tile's width */
#endif
#ifndef WINO4_NG
#define WINO4_NG 2 /* F(4x4x2) tile groups per block: 144 positions make V and M 2.25x larger */
#endif
#ifndef WINO44_NG
#define WINO44_NG 2 /* F(4x4x4) tile groups per block (216 positions) */
#endif
#ifndef WINO_ICB
#define WINO_ICB 1024 /* input channels per transform slice */
#endif

/* The block geometry of one convolution: outputs per tile m along d and h and mw along w
 * (F(2x2x2): 2, 2; F(4x4x2): 4, 2; F(4x4x4): 4, 4). */
typedef struct wino_plan {
    nne_conv3d_algo algo;  /* WINO, WINO4 or WINO44                               */
    int m, mw;             /* tile extent along d and h, along w                  */
    int64_t npos;          /* transform positions: 64, 144 or 216                 */
    int64_t ntz, nty, ngx; /* tiles along d and h, tile groups along w           */
    int64_t n_groups;      /* ntz * nty * ngx                                     */
    int64_t ng;            /* tile groups per block                               */
    int64_t n_blocks;      /* blocks of ng groups (the last may be partial)       */
    int64_t nt;            /* tile columns of V and M: ng * NNE_WINO_GT           */
    int64_t icb;           /* input channels per slice                            */
    int64_t n_ocr;         /* output channel blocks of NNE_WINO_OCR               */
    int64_t v_ps, v_cs;    /* V strides per position and channel (floats)         */
    int64_t m_ps, m_cs;    /* M strides per position and channel (floats)         */
    size_t v_bytes;        /* per thread: V [npos][icb][nt] (position stride padded) */
    size_t m_bytes;        /* per thread: M [npos][n_ocr * OCR][nt] (same)        */
    size_t u_bytes;        /* per thread: one position's row block of binary16    */
                           /* weights widened, [icb][OCR]                          */
} wino_plan;

/* A position stride of at least n floats spanning an odd number of 64-byte lines: the
 * positions of one tile then fall into different cache sets instead of the few a stride of
 * a power-of-two multiple of lines would give (1.5 KiB, 3 KiB, ... alias badly in L1). */
static int64_t odd_lines(int64_t n) {
    int64_t lines = (n + 15) / 16;
    if (lines % 2 == 0) lines++;
    return lines * 16;
}

static int64_t n_positions(nne_conv3d_algo algo) {
    NNE_ASSERT(algo == NNE_CONV3D_WINO || algo == NNE_CONV3D_WINO4 || algo == NNE_CONV3D_WINO44);
    return algo == NNE_CONV3D_WINO ? NNE_WINO_NPOS
           : algo == NNE_CONV3D_WINO4 ? NNE_WINO4_NPOS
                                      : NNE_WINO44_NPOS;
}

/* Tile extent along d and h (along w it is 4 for WINO44, else 2). */
static int tile_m(nne_conv3d_algo algo) {
    return algo == NNE_CONV3D_WINO ? 2 : 4;
}

static void plan_init(wino_plan *p, const nne_conv3d_desc *d, nne_conv3d_algo algo) {
    NNE_ASSERT(d->k[0] == 3 && d->k[1] == 3 && d->k[2] == 3);
    NNE_ASSERT(d->stride[0] == 1 && d->stride[1] == 1 && d->stride[2] == 1);
    const int m = tile_m(algo);
    p->algo = algo;
    p->m = m;
    p->mw = algo == NNE_CONV3D_WINO44 ? 4 : 2;
    p->npos = n_positions(algo);
    const int64_t ntx = (d->out[2] + p->mw - 1) / p->mw;
    p->ntz = (d->out[0] + m - 1) / m;
    p->nty = (d->out[1] + m - 1) / m;
    p->ngx = (ntx + NNE_WINO_GT - 1) / NNE_WINO_GT;
    p->n_groups = p->ntz * p->nty * p->ngx;
    p->ng = algo == NNE_CONV3D_WINO ? WINO_NG : algo == NNE_CONV3D_WINO4 ? WINO4_NG : WINO44_NG;
    p->n_blocks = (p->n_groups + p->ng - 1) / p->ng;
    p->nt = p->ng * NNE_WINO_GT;
    p->icb = NNE_MIN(d->c_in, (int64_t)WINO_ICB);
    p->n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    p->v_cs = p->nt;
    p->v_ps = odd_lines(p->icb * p->nt);
    p->m_cs = p->nt;
    p->m_ps = odd_lines(p->n_ocr * NNE_WINO_OCR * p->nt);
    p->v_bytes = nne_align_up((size_t)(p->npos * p->v_ps) * sizeof(float));
    p->m_bytes = nne_align_up((size_t)(p->npos * p->m_ps) * sizeof(float));
    p->u_bytes = nne_align_up((size_t)(p->icb * NNE_WINO_OCR) * sizeof(float));
}

/* Floats of the transformed weights (without the bias). */
static int64_t u_floats(const nne_conv3d_desc *d, nne_conv3d_algo algo) {
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    return n_positions(algo) * n_ocr * NNE_WINO_OCR * d->c_in;
}

static size_t bias_bytes(const nne_conv3d_desc *d) {
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    return nne_align_up((size_t)(n_ocr * NNE_WINO_OCR) * sizeof(float));
}

size_t nne_conv3d_wino_prep_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo) {
    return nne_align_up((size_t)u_floats(d, algo) * sizeof(float)) + bias_bytes(d);
}

size_t nne_conv3d_wino_ws_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo, int nth) {
    NNE_ASSERT(nth >= 1);
    wino_plan p;
    plan_init(&p, d, algo);
    return (size_t)nth * (p.v_bytes + p.m_bytes + p.u_bytes);
}

/* ---- weight transform ------------------------------------------------------------------ */

typedef struct prep_job {
    const nne_conv3d_desc *d;
    nne_conv3d_algo algo; /* WINO, WINO4 or WINO44                */
    const float *w;    /* [c_out][c_in][3][3][3] (PyTorch layout) */
    const float *bias; /* [c_out] or NULL                         */
    float *u;          /* [npos][n_ocr][c_in][OCR]                */
    float *bp;         /* [n_ocr * OCR]                           */
} prep_job;

/* The G matrices in double: F(2, 3) (4 x 3) and F(4, 3) (6 x 3), as documented in cpu.h. */
static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
static const double g4[6][3] = {{1, 0, 0},
                                {1.0 / 3, 1.0 / 3, 1.0 / 3},
                                {-1.0 / 3, 1.0 / 3, -1.0 / 3},
                                {-16.0 / 15, -8.0 / 15, -4.0 / 15},
                                {1.0 / 15, -2.0 / 15, 4.0 / 15},
                                {0, 0, 1}};

/* Transforms the output channel blocks of this thread's share, (Gd x Gh x Gw) g in double
 * and rounded once; padding channels get zeros. */
static void prep_task(void *arg, int ith, int nth) {
    const prep_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const int n = tile_m(j->algo) + 2;                  /* transform size along d and h */
    const int nw = j->algo == NNE_CONV3D_WINO44 ? 6 : 4; /* along w                     */
    const double(*gdh)[3] = n == 4 ? g2 : g4;
    const double(*gw)[3] = nw == 4 ? g2 : g4;
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    const int64_t u_ps = n_ocr * d->c_in * NNE_WINO_OCR;
    int64_t lo, hi;
    nne_chunk_range(n_ocr, ith, nth, &lo, &hi);
    for (int64_t b = lo; b < hi; b++) {
        for (int r = 0; r < NNE_WINO_OCR; r++) {
            const int64_t oc = b * NNE_WINO_OCR + r;
            j->bp[oc] = (oc < d->c_out && j->bias) ? j->bias[oc] : 0.0f;
            for (int64_t ic = 0; ic < d->c_in; ic++) {
                double g[3][3][3] = {{{0}}}, t1[3][3][6], t2[3][6][6];
                if (oc < d->c_out) {
                    const float *q = j->w + (oc * d->c_in + ic) * 27;
                    for (int t = 0; t < 27; t++) g[t / 9][(t / 3) % 3][t % 3] = (double)q[t];
                }
                for (int i = 0; i < 3; i++) /* along w */
                    for (int k = 0; k < 3; k++)
                        for (int x = 0; x < nw; x++)
                            t1[i][k][x] = gw[x][0] * g[i][k][0] + gw[x][1] * g[i][k][1] +
                                          gw[x][2] * g[i][k][2];
                for (int i = 0; i < 3; i++) /* along h */
                    for (int y = 0; y < n; y++)
                        for (int x = 0; x < nw; x++)
                            t2[i][y][x] = gdh[y][0] * t1[i][0][x] + gdh[y][1] * t1[i][1][x] +
                                          gdh[y][2] * t1[i][2][x];
                for (int z = 0; z < n; z++) /* along d, then store */
                    for (int y = 0; y < n; y++)
                        for (int x = 0; x < nw; x++) {
                            const double v = gdh[z][0] * t2[0][y][x] + gdh[z][1] * t2[1][y][x] +
                                             gdh[z][2] * t2[2][y][x];
                            const int64_t p = (z * n + y) * nw + x;
                            j->u[p * u_ps + (b * d->c_in + ic) * NNE_WINO_OCR + r] = (float)v;
                        }
            }
        }
    }
}

void nne_conv3d_wino_prep(nne_pool *pool, void *mem, const nne_conv3d_desc *d,
                          nne_conv3d_algo algo, const float *w, const float *bias, float **u,
                          float **bias_p) {
    NNE_ASSERT(mem && d && w && u && bias_p);
    n_positions(algo); /* checks the algorithm */
    prep_job j = {.d = d, .algo = algo, .w = w, .bias = bias, .u = mem};
    j.bp = (float *)((char *)mem + nne_align_up((size_t)u_floats(d, algo) * sizeof(float)));
    nne_pool_run(pool, prep_task, &j);
    *u = j.u;
    *bias_p = j.bp;
}

/* ---- forward --------------------------------------------------------------------------- */

typedef struct wino_job {
    const nne_kernels *kt;
    const nne_conv3d_desc *d;
    const wino_plan *p;
    float *dst;                   /* [c_out][oz1 - oz0][h][w]  */
    const nne_conv3d_part *parts; /* the input channels        */
    int n_parts;
    int64_t oz0, oz1;            /* output planes computed    */
    int64_t tz0;                 /* first tile along d        */
    const float *u;              /* [npos][n_ocr][c_in][OCR]  */
    const uint16_t *u16;         /* the same in binary16, or NULL */
    const float *bias;           /* [n_ocr * OCR]             */
    char *ws;                    /* per thread: V, then M     */
} wino_job;

/* Blocks [lo, hi) of this thread: per input-channel slice transform the block's groups and
 * accumulate the products of every position, then transform the block back into the
 * output. */
static void wino_task(void *arg, int ith, int nth) {
    const wino_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const wino_plan *p = j->p;
    const int64_t ovol = (j->oz1 - j->oz0) * d->out[1] * d->out[2];
    float *v = (float *)(void *)(j->ws + (size_t)ith * (p->v_bytes + p->m_bytes + p->u_bytes));
    float *m = (float *)(void *)((char *)v + p->v_bytes);
    float *ub = (float *)(void *)((char *)m + p->m_bytes);
    void (*const wino_in)(const nne_wino_in *) = p->algo == NNE_CONV3D_WINO ? j->kt->wino_in
                                                 : p->algo == NNE_CONV3D_WINO4
                                                     ? j->kt->wino4_in
                                                     : j->kt->wino44_in;
    void (*const wino_out)(const nne_wino_out *) = p->algo == NNE_CONV3D_WINO ? j->kt->wino_out
                                                   : p->algo == NNE_CONV3D_WINO4
                                                       ? j->kt->wino4_out
                                                       : j->kt->wino44_out;
    const int64_t tm = p->m;                  /* tile extent along d and h */
    const int64_t gw = p->mw * NNE_WINO_GT;   /* columns of a tile group   */
    int64_t lo, hi;
    nne_chunk_range(p->n_blocks, ith, nth, &lo, &hi);

    nne_wino_in wi;
    wi.v_ps = p->v_ps;
    wi.v_cs = p->v_cs;
    wi.nc = 1;
    wi.h = d->in[1];
    wi.w = d->in[2];
    nne_wino_gemm wg;
    wg.m = m;
    wg.m_ps = p->m_ps;
    wg.m_cs = p->m_cs;
    wg.u_ps = p->n_ocr * d->c_in * NNE_WINO_OCR;
    wg.u_bs = d->c_in * NNE_WINO_OCR;
    wg.v = v;
    wg.v_ps = wi.v_ps;
    wg.v_cs = wi.v_cs;
    wg.npos = p->npos;
    wg.nb = p->n_ocr;
    nne_wino_out wo;
    wo.dst_cs = ovol;
    wo.m_ps = wg.m_ps;
    wo.m_cs = wg.m_cs;
    wo.nc = 1;
    wo.d = j->oz1 - j->oz0;
    wo.h = d->out[1];
    wo.w = d->out[2];

    for (int64_t blk = lo; blk < hi; blk++) {
        const int64_t g0 = blk * p->ng;
        const int64_t ng = NNE_MIN(p->ng, p->n_groups - g0);
        for (int64_t ic0 = 0; ic0 < d->c_in; ic0 += p->icb) {
            const int64_t nc = NNE_MIN(p->icb, d->c_in - ic0);
            /* Channel by channel, the block's groups in row order: consecutive groups read
             * neighbouring columns of the same input rows while those are still cached. */
            for (int64_t c = 0; c < nc; c++) {
                const int64_t ic = ic0 + c;
                const int second = j->n_parts > 1 && ic >= j->parts[0].c;
                const nne_conv3d_part *pt = &j->parts[second];
                wi.src = pt->src + (ic - (second ? j->parts[0].c : 0)) * pt->cs;
                wi.src_cs = pt->cs;
                wi.d = pt->nz;
                for (int64_t gi = 0; gi < ng; gi++) {
                    const int64_t g = g0 + gi;
                    wi.v = v + c * p->v_cs + gi * NNE_WINO_GT;
                    wi.z0 = tm * (j->tz0 + g / (p->nty * p->ngx)) - 1 - pt->z_base;
                    wi.y0 = tm * ((g / p->ngx) % p->nty) - 1;
                    wi.x0 = gw * (g % p->ngx) - 1;
                    wino_in(&wi);
                }
            }
            wg.c_in = nc;
            wg.nt = ng * NNE_WINO_GT;
            wg.accumulate = ic0 > 0;
            if (!j->u16) {
                wg.u = j->u + ic0 * NNE_WINO_OCR;
                j->kt->wino_gemm(&wg);
                continue;
            }
            /* binary16 weights: widen one position's row block at a time, then the same
             * product for that position and block alone */
            nne_wino_gemm g1 = wg;
            g1.npos = 1;
            g1.nb = 1;
            g1.u = ub;
            for (int64_t pp = 0; pp < p->npos; pp++) {
                for (int64_t b = 0; b < p->n_ocr; b++) {
                    j->kt->f16_to_f32(ub, j->u16 + pp * wg.u_ps + b * wg.u_bs +
                                              ic0 * NNE_WINO_OCR, nc * NNE_WINO_OCR);
                    g1.m = m + pp * p->m_ps + b * NNE_WINO_OCR * p->m_cs;
                    g1.v = v + pp * p->v_ps;
                    j->kt->wino_gemm(&g1);
                }
            }
        }
        for (int64_t c = 0; c < d->c_out; c++) {
            wo.dst = j->dst + c * ovol;
            wo.bias = j->bias + c;
            for (int64_t gi = 0; gi < ng; gi++) {
                const int64_t g = g0 + gi;
                wo.m = m + c * p->m_cs + gi * NNE_WINO_GT;
                wo.z0 = tm * (j->tz0 + g / (p->nty * p->ngx)) - j->oz0;
                wo.y0 = tm * ((g / p->ngx) % p->nty);
                wo.x0 = gw * (g % p->ngx);
                wino_out(&wo);
            }
        }
    }
}

void nne_conv3d_wino_run_z(nne_pool *pool, const nne_kernels *kt, float *dst,
                           const nne_conv3d_part *parts, int n_parts, const float *u,
                           const uint16_t *u16, const float *bias_p, const nne_conv3d_desc *d,
                           nne_conv3d_algo algo, void *ws, int64_t oz0, int64_t oz1) {
    NNE_ASSERT(kt && dst && parts && (u || u16) && bias_p && d && ws);
    const int m = tile_m(algo);
    NNE_ASSERT(n_parts == 1 || n_parts == 2);
    NNE_ASSERT(0 <= oz0 && oz0 < oz1 && oz1 <= d->out[0] && oz0 % m == 0);
    NNE_ASSERT(oz1 % m == 0 || oz1 == d->out[0]);
    int64_t channels = 0;
    for (int i = 0; i < n_parts; i++) {
        NNE_ASSERT(parts[i].src && parts[i].c > 0 && parts[i].nz > 0);
        NNE_ASSERT(parts[i].cs >= parts[i].nz * d->in[1] * d->in[2]);
        channels += parts[i].c;
    }
    NNE_ASSERT(channels == d->c_in);
    wino_plan p;
    plan_init(&p, d, algo);
    /* only the tiles of output planes [oz0, oz1) */
    const int64_t tz0 = oz0 / m, tz1 = (oz1 + m - 1) / m;
    p.ntz = tz1 - tz0;
    p.n_groups = p.ntz * p.nty * p.ngx;
    p.n_blocks = (p.n_groups + p.ng - 1) / p.ng;
    wino_job j = {.kt = kt, .d = d, .p = &p, .dst = dst, .parts = parts, .n_parts = n_parts,
                  .oz0 = oz0, .oz1 = oz1, .tz0 = tz0, .u = u, .u16 = u16, .bias = bias_p,
                  .ws = ws};
    nne_pool_run(pool, wino_task, &j);
}

void nne_conv3d_wino_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                         const float *u, const float *bias_p, const nne_conv3d_desc *d,
                         nne_conv3d_algo algo, void *ws) {
    NNE_ASSERT(src);
    const nne_conv3d_part whole = {.src = src, .c = d->c_in,
                                   .cs = d->in[0] * d->in[1] * d->in[2], .z_base = 0,
                                   .nz = d->in[0]};
    nne_conv3d_wino_run_z(pool, kt, dst, &whole, 1, u, NULL, bias_p, d, algo, ws, 0, d->out[0]);
}

void nne_conv3d_run_z(nne_pool *pool, const nne_kernels *kt, float *dst,
                      const nne_conv3d_part *parts, int n_parts, const nne_conv3d_w *pw,
                      const nne_conv3d_desc *d, void *ws, int64_t oz0, int64_t oz1) {
    NNE_ASSERT(pw && (pw->algo == NNE_CONV3D_WINO || pw->algo == NNE_CONV3D_WINO4 ||
                      pw->algo == NNE_CONV3D_WINO44));
    NNE_ASSERT(pw->c_in == d->c_in && pw->c_out == d->c_out);
    nne_conv3d_wino_run_z(pool, kt, dst, parts, n_parts, pw->packed, pw->packed16, pw->bias, d,
                          pw->algo, ws, oz0, oz1);
}
