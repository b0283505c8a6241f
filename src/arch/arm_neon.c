/*
 * arm_neon.c - AArch64 NEON microkernels (NEON is baseline on AArch64, so this table is always
 * usable there). Each kernel matches its `_ref` twin in generic.c within the accuracy contract
 * of tests/test_kernels.c.
 *
 * DESIGN. The same algorithms as x86_avx2.c with 4-lane vectors: a block of NNE_CONV_OCB = 8
 * output channels is two q registers, and the conv3d_row register tile is 8 output columns x
 * 8 channels (16 accumulators of the 32 vector registers); every tap loads two weight vectors
 * and broadcasts 8 input values. Tiles cover the row without overlap; tiles touching the
 * padding or the row end use per-column tap masks.
 * gemm_rows uses 6 rows x 8 columns. The per-element summation order is the same on all
 * paths (bias, then taps / k in order, fused multiply-add).
 * Winograd: a group of 8 tiles is two halves of 4 lanes (tiles 0 1 4 5 and 2 3 6 7, the lane
 * order of cpu.h); uzp splits a row into even and odd columns and zip interleaves the output
 * columns again. F(4x4x4) transposes 4x4 blocks (trn1/trn2) to get the tile columns of each
 * half (tiles 0 2 4 6 and 1 3 5 7). wino_gemm keeps 4 output channels x 24 tiles
 * (24 accumulators) and multiplies by lane of one 4-weight vector. convt_rows writes both w taps with vst2q.
 */
#if defined(__aarch64__)
#include <math.h>
#include <string.h>

#include "../common.h"
#include "../cpu.h"
#include "../half.h"
#include "simd.h"

/* 4 columns per step, weight duplicated; the scalar tail matches the reference loop. */
static void axpy_rows_neon(float *restrict dst, const float *restrict src, int64_t src_stride,
                           const float *restrict w, int64_t nk, int64_t n) {
    for (int64_t k = 0; k < nk; k++) {
        const float32x4_t wk = vdupq_n_f32(w[k]);
        const float *s = src + k * src_stride;
        int64_t i = 0;
        for (; i + 4 <= n; i += 4)
            vst1q_f32(dst + i, vfmaq_f32(vld1q_f32(dst + i), wk, vld1q_f32(s + i)));
        for (; i < n; i++)
            dst[i] += w[k] * s[i];
    }
}

/* Bit-select between x and x * slope on the sign mask (x < 0: NaN keeps x). */
static void leaky_relu_neon(float *x, int64_t n, float slope) {
    const float32x4_t vs = vdupq_n_f32(slope), z = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        float32x4_t v = vld1q_f32(x + i);
        uint32x4_t neg = vcltq_f32(v, z);
        vst1q_f32(x + i, vbslq_f32(neg, vmulq_f32(v, vs), v));
    }
    for (; i < n; i++)
        x[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

/* ---- conv3d_row ------------------------------------------------------------------------ */

/* Widest tile; the tile buffers of conv_store/conv_load are sized by it. */
#define CONV_NX 8 /* output columns per register tile */

/* Writes acc0/acc1[j] (channels 0-3 / 4-7 of column x + j) to the channel-major output. */
static void conv_store(const nne_conv3d_row *a, int64_t x, const float32x4_t *acc0,
                       const float32x4_t *acc1, int nx) {
    float tmp[CONV_NX][NNE_CONV_OCB]; /* [column][channel], 256 bytes */
    for (int j = 0; j < nx; j++) {
        vst1q_f32(tmp[j], acc0[j]);
        vst1q_f32(tmp[j] + 4, acc1[j]);
    }
    for (int o = 0; o < a->noc; o++) {
        float *d = a->dst + o * a->dst_cs + x;
        for (int j = 0; j < nx; j++)
            d[j] = tmp[j][o];
    }
}

/* Starts the accumulators from the bias, or from dst's current values when accumulating
 * (only the first nld columns exist in dst; the others start from zero, never stored). */
static void conv_load(const nne_conv3d_row *a, int64_t x, float32x4_t *acc0, float32x4_t *acc1,
                      int nx, int nld) {
    if (!a->accumulate) {
        const float32x4_t b0 = vld1q_f32(a->bias), b1 = vld1q_f32(a->bias + 4);
        for (int j = 0; j < nx; j++) {
            acc0[j] = b0;
            acc1[j] = b1;
        }
        return;
    }
    float tmp[CONV_NX][NNE_CONV_OCB] = {{0}}; /* [column][channel] */
    for (int o = 0; o < a->noc; o++) {
        const float *d = a->dst + o * a->dst_cs + x;
        for (int j = 0; j < nld; j++)
            tmp[j][o] = d[j];
    }
    for (int j = 0; j < nx; j++) {
        acc0[j] = vld1q_f32(tmp[j]);
        acc1[j] = vld1q_f32(tmp[j] + 4);
    }
}

/* Macro repetition over the columns of a tile (the column index must be a literal). */
#define REP8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)
#define REP4(M) M(0) M(1) M(2) M(3)
/* The accumulators are separate locals (lo0, hi0, ...), never an array whose address is
 * passed on: otherwise compilers keep them in memory. */
#define ACC_DECL(j) float32x4_t lo##j = init0[j], hi##j = init1[j];
#define ACC_SAVE(j)                                                                                \
    fin0[j] = lo##j;                                                                               \
    fin1[j] = hi##j;
#define FMA_COL(j)                                                                                 \
    {                                                                                              \
        const float32x4_t v = vld1q_dup_f32(p + (j)*SW);                                           \
        lo##j = vfmaq_f32(lo##j, w0, v);                                                           \
        hi##j = vfmaq_f32(hi##j, w1, v);                                                           \
    }

/* Interior tile: NX columns from x, every tap inside the row. */
#define CONV_TILE_FN(name, NX, REP, SW_EXPR)                                                       \
    static void name(const nne_conv3d_row *a, int64_t x, int nst) {                                \
        const int64_t SW = (SW_EXPR);                                                              \
        float32x4_t init0[NX], init1[NX], fin0[NX], fin1[NX];                                      \
        conv_load(a, x, init0, init1, NX, nst);                                                    \
        REP(ACC_DECL)                                                                              \
        const float *s0 = a->src + x * SW - a->pw;                                                 \
        for (int64_t ic = 0; ic < a->c_in; ic++) {                                                 \
            for (int kd = 0; kd < a->nkd; kd++) {                                                  \
                for (int kh = 0; kh < a->nkh; kh++) {                                              \
                    const float *s = s0 + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;        \
                    const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;            \
                    for (int kw = 0; kw < a->kw; kw++) {                                           \
                        const float32x4_t w0 = vld1q_f32(w + kw * NNE_CONV_OCB);                   \
                        const float32x4_t w1 = vld1q_f32(w + kw * NNE_CONV_OCB + 4);               \
                        const float *p = s + kw;                                                   \
                        REP(FMA_COL)                                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        REP(ACC_SAVE)                                                                              \
        conv_store(a, x, fin0, fin1, nst);                                                         \
    }

CONV_TILE_FN(conv_tile8_s1, 8, REP8, 1)
CONV_TILE_FN(conv_tile8_s2, 8, REP8, 2)
CONV_TILE_FN(conv_tile8_sn, 8, REP8, a->sw)
CONV_TILE_FN(conv_tile4_sn, 4, REP4, a->sw)

#define CHK_KW_MAX 16 /* widest kernel the checked tiles handle (wider: one column at a time) */

/* Checked tile: tap kw reaches column j only when bit j of msk[kw] says its input column is
 * inside the row; only the first `nst` columns are stored. */
#define FMA_CHK(j)                                                                                 \
    if (m >> (j)&1u) {                                                                             \
        const float32x4_t v = vld1q_dup_f32(s + (xb + kw + (j)*sw));                               \
        lo##j = vfmaq_f32(lo##j, w0, v);                                                           \
        hi##j = vfmaq_f32(hi##j, w1, v);                                                           \
    }

#define CONV_TILE_CHK_FN(name, NX, REP)                                                            \
    static void name(const nne_conv3d_row *a, int64_t x, int nst) {                                \
        const int64_t sw = a->sw, xb = x * sw - a->pw;                                             \
        uint32_t msk[CHK_KW_MAX];                                                                  \
        for (int kw = 0; kw < a->kw; kw++) {                                                       \
            msk[kw] = 0;                                                                           \
            for (int j = 0; j < NX; j++) {                                                         \
                const int64_t xi = xb + kw + j * sw;                                               \
                if (xi >= 0 && xi < a->win) msk[kw] |= 1u << j;                                    \
            }                                                                                      \
        }                                                                                          \
        float32x4_t init0[NX], init1[NX], fin0[NX], fin1[NX];                                      \
        conv_load(a, x, init0, init1, NX, nst);                                                    \
        REP(ACC_DECL)                                                                              \
        for (int64_t ic = 0; ic < a->c_in; ic++) {                                                 \
            for (int kd = 0; kd < a->nkd; kd++) {                                                  \
                for (int kh = 0; kh < a->nkh; kh++) {                                              \
                    const float *s = a->src + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;    \
                    const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;            \
                    for (int kw = 0; kw < a->kw; kw++) {                                           \
                        const float32x4_t w0 = vld1q_f32(w + kw * NNE_CONV_OCB);                   \
                        const float32x4_t w1 = vld1q_f32(w + kw * NNE_CONV_OCB + 4);               \
                        const uint32_t m = msk[kw];                                                \
                        REP(FMA_CHK)                                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        REP(ACC_SAVE)                                                                              \
        conv_store(a, x, fin0, fin1, nst);                                                         \
    }

CONV_TILE_CHK_FN(conv_tile8_chk, 8, REP8)
CONV_TILE_CHK_FN(conv_tile4_chk, 4, REP4)

/* One column with per-tap range checks (kernels wider than CHK_KW_MAX). */
static void conv_col(const nne_conv3d_row *a, int64_t x) {
    float32x4_t acc0[1], acc1[1];
    conv_load(a, x, acc0, acc1, 1, 1);
    const int64_t x0 = x * a->sw - a->pw;
    for (int64_t ic = 0; ic < a->c_in; ic++) {
        for (int kd = 0; kd < a->nkd; kd++) {
            for (int kh = 0; kh < a->nkh; kh++) {
                const float *s = a->src + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;
                const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;
                for (int kw = 0; kw < a->kw; kw++) {
                    const int64_t xi = x0 + kw;
                    if (xi < 0 || xi >= a->win) continue;
                    const float32x4_t v = vld1q_dup_f32(s + xi);
                    acc0[0] = vfmaq_f32(acc0[0], vld1q_f32(w + kw * NNE_CONV_OCB), v);
                    acc1[0] = vfmaq_f32(acc1[0], vld1q_f32(w + kw * NNE_CONV_OCB + 4), v);
                }
            }
        }
    }
    conv_store(a, x, acc0, acc1, 1);
}

/* Covers the row with tiles of 8 (or 4 for rows of <= 4) columns from x = 0; tiles inside the
 * interior run unchecked, the others (padding, or past the row end) checked. Tiles never
 * overlap: with `accumulate` a column must be read and written exactly once. */
static void conv3d_row_neon(const nne_conv3d_row *a) {
    if (a->kw > CHK_KW_MAX) {
        for (int64_t x = 0; x < a->wout; x++)
            conv_col(a, x);
        return;
    }
    const int64_t lo = (a->pw + a->sw - 1) / a->sw;
    const int64_t lim = a->win - a->kw + a->pw;
    const int64_t hi = lim < 0 ? 0 : lim / a->sw + 1; /* may exceed wout (padded rows) */
    const int64_t wo = a->wout;
    const int nx = wo > 4 ? 8 : 4;
    void (*fast)(const nne_conv3d_row *, int64_t, int) = conv_tile4_sn;
    void (*chk)(const nne_conv3d_row *, int64_t, int) = conv_tile4_chk;
    if (nx == 8) {
        fast = a->sw == 1 ? conv_tile8_s1 : a->sw == 2 ? conv_tile8_s2 : conv_tile8_sn;
        chk = conv_tile8_chk;
    }
    for (int64_t x = 0; x < wo; x += nx) {
        const int nst = (int)NNE_MIN((int64_t)nx, wo - x); /* columns to store */
        if (x >= lo && x + nx <= hi)
            fast(a, x, nst); /* every tap of every computed column inside the row */
        else
            chk(a, x, nst);
    }
}

/* ---- gemm_rows ------------------------------------------------------------------------- */

/* Rows per full gemm tile: 6 x 2 q accumulators, the source row as 2 q registers. */
#define GEMM_JB 6

/* Rows j0..j0+jb-1 (jb == 6 or 1), 8 columns from i; accumulators are register locals. */
#define GEMM_DECL(j) float32x4_t x##j = vdupq_n_f32(bias ? bias[j] : 0.0f), y##j = x##j;
#define GEMM_FMA(j)                                                                                \
    {                                                                                              \
        const float32x4_t wv = vld1q_dup_f32(wk + (j)*w_js);                                       \
        x##j = vfmaq_f32(x##j, wv, s0);                                                            \
        y##j = vfmaq_f32(y##j, wv, s1);                                                            \
    }
#define GEMM_STORE(j)                                                                              \
    vst1q_f32(dst + (j)*dst_rs + i, x##j);                                                         \
    vst1q_f32(dst + (j)*dst_rs + i + 4, y##j);
#define REP6(M) M(0) M(1) M(2) M(3) M(4) M(5)
#define REP1(M) M(0)
#define GEMM_TILE_FN(name, REP)                                                                    \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(GEMM_DECL)                                                                             \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const float32x4_t s0 = vld1q_f32(src + k * src_ks + i);                                \
            const float32x4_t s1 = vld1q_f32(src + k * src_ks + i + 4);                            \
            const float *wk = w + k * w_ks;                                                        \
            REP(GEMM_FMA)                                                                          \
        }                                                                                          \
        REP(GEMM_STORE)                                                                            \
    }
GEMM_TILE_FN(gemm_tile6x8, REP6)
GEMM_TILE_FN(gemm_tile1x8, REP1)

/* Tiles of 6 rows x 8 columns; with n >= 8 the last tile is aligned to the row end
 * (overlapping, recomputing identical values); shorter rows use fused scalar loops. */
static void gemm_rows_neon(float *restrict dst, int64_t dst_rs, const float *restrict src,
                           int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,
                           const float *restrict bias, int64_t m, int64_t nk, int64_t n) {
    for (int64_t j0 = 0; j0 < m; j0 += GEMM_JB) {
        const int jb = (int)(m - j0 < GEMM_JB ? m - j0 : GEMM_JB);
        float *d = dst + j0 * dst_rs;
        const float *wj = w + j0 * w_js;
        const float *bj = bias ? bias + j0 : NULL;
        if (n >= 8) {
            for (int64_t i = 0;; i += 8) {
                if (i + 8 > n) i = n - 8; /* overlap: same values recomputed */
                if (jb == GEMM_JB) {
                    gemm_tile6x8(d, dst_rs, src, src_ks, wj, w_ks, w_js, bj, nk, i);
                } else {
                    for (int j = 0; j < jb; j++)
                        gemm_tile1x8(d + j * dst_rs, dst_rs, src, src_ks, wj + j * w_js, w_ks, w_js,
                                     bj ? bj + j : NULL, nk, i);
                }
                if (i + 8 >= n) break;
            }
        } else {
            for (int j = 0; j < jb; j++) {
                for (int64_t i = 0; i < n; i++) {
                    float acc = bj ? bj[j] : 0.0f;
                    for (int64_t k = 0; k < nk; k++)
                        acc = fmaf(wj[k * w_ks + j * w_js], src[k * src_ks + i], acc);
                    d[j * dst_rs + i] = acc;
                }
            }
        }
    }
}

/* ---- convt_rows ------------------------------------------------------------------------ */

/* 3 groups x 2 taps x 8 columns of accumulators (a: tap 0, b: tap 1; suffix 0/1: columns
 * 0-3/4-7); vst2q interleaves the two taps into 16 consecutive outputs. */
#define CT_DECL(g)                                                                                 \
    float32x4_t a##g##0 = vdupq_n_f32(bias ? bias[g] : 0.0f), a##g##1 = a##g##0;                   \
    float32x4_t b##g##0 = a##g##0, b##g##1 = a##g##0;
#define CT_FMA(g)                                                                                  \
    {                                                                                              \
        const float32x4_t wa = vld1q_dup_f32(wk + (g)*w_gs);                                       \
        const float32x4_t wb = vld1q_dup_f32(wk + (g)*w_gs + 1);                                   \
        a##g##0 = vfmaq_f32(a##g##0, wa, s0);                                                      \
        a##g##1 = vfmaq_f32(a##g##1, wa, s1);                                                      \
        b##g##0 = vfmaq_f32(b##g##0, wb, s0);                                                      \
        b##g##1 = vfmaq_f32(b##g##1, wb, s1);                                                      \
    }
#define CT_STORE(g)                                                                                \
    {                                                                                              \
        const float32x4x2_t p0 = {{a##g##0, b##g##0}}, p1 = {{a##g##1, b##g##1}};                  \
        vst2q_f32(dst + (g)*dst_rs + 2 * i, p0);                                                   \
        vst2q_f32(dst + (g)*dst_rs + 2 * i + 8, p1);                                               \
    }
#define REP3(M) M(0) M(1) M(2)
#define CONVT_TILE_FN(name, REP)                                                                   \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(CT_DECL)                                                                               \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const float32x4_t s0 = vld1q_f32(src + k * src_ks + i);                                \
            const float32x4_t s1 = vld1q_f32(src + k * src_ks + i + 4);                            \
            const float *wk = w + k * w_ks;                                                        \
            REP(CT_FMA)                                                                            \
        }                                                                                          \
        REP(CT_STORE)                                                                              \
    }
CONVT_TILE_FN(convt_tile3x8, REP3)
CONVT_TILE_FN(convt_tile1x8, REP1)

/* Narrow rows (4 input columns at the deepest level): 6 groups x 2 taps x 4 columns. */
#define CTN_DECL(g) float32x4_t a##g = vdupq_n_f32(bias ? bias[g] : 0.0f), b##g = a##g;
#define CTN_FMA(g)                                                                                 \
    a##g = vfmaq_f32(a##g, vld1q_dup_f32(wk + (g)*w_gs), s0);                                      \
    b##g = vfmaq_f32(b##g, vld1q_dup_f32(wk + (g)*w_gs + 1), s0);
#define CTN_STORE(g)                                                                               \
    {                                                                                              \
        const float32x4x2_t p0 = {{a##g, b##g}};                                                   \
        vst2q_f32(dst + (g)*dst_rs + 2 * i, p0);                                                   \
    }
#define CONVT_NARROW_FN(name, REP)                                                                 \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(CTN_DECL)                                                                              \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const float32x4_t s0 = vld1q_f32(src + k * src_ks + i);                                \
            const float *wk = w + k * w_ks;                                                        \
            REP(CTN_FMA)                                                                           \
        }                                                                                          \
        REP(CTN_STORE)                                                                             \
    }
CONVT_NARROW_FN(convt_tile6x4, REP6)
CONVT_NARROW_FN(convt_tile1x4, REP1)

typedef void (*convt_tile_fn)(float *restrict, int64_t, const float *restrict, int64_t,
                              const float *restrict, int64_t, int64_t, const float *restrict,
                              int64_t, int64_t);

/* s == 2: column tiles of 8 (3 groups) or 4 (6 groups) by the row width, the last one aligned
 * to the row end; rows shorter than 4 and other strides column by column. */
static void convt_rows_neon(float *restrict dst, int64_t dst_rs, const float *restrict src,
                            int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,
                            const float *restrict bias, int64_t m, int64_t nk, int64_t n, int s) {
    if (s != 2 || n < 4) {
        for (int64_t g = 0; g < m; g++)
            for (int64_t i = 0; i < n; i++)
                for (int c = 0; c < s; c++) {
                    float acc = bias ? bias[g] : 0.0f;
                    for (int64_t k = 0; k < nk; k++)
                        acc = fmaf(w[k * w_ks + g * w_gs + c], src[k * src_ks + i], acc);
                    dst[g * dst_rs + i * s + c] = acc;
                }
        return;
    }
    const int64_t nx = n >= 8 ? 8 : 4; /* columns per tile */
    const int gt = nx == 8 ? 3 : 6;    /* groups per full tile */
    const convt_tile_fn full = nx == 8 ? convt_tile3x8 : convt_tile6x4;
    const convt_tile_fn one = nx == 8 ? convt_tile1x8 : convt_tile1x4;
    for (int64_t g0 = 0; g0 < m; g0 += gt) {
        const int gb = (int)(m - g0 < gt ? m - g0 : gt);
        float *d = dst + g0 * dst_rs;
        const float *wg = w + g0 * w_gs;
        const float *bg = bias ? bias + g0 : NULL;
        for (int64_t i = 0;; i += nx) {
            if (i + nx > n) i = n - nx; /* overlap: same values recomputed */
            if (gb == gt) {
                full(d, dst_rs, src, src_ks, wg, w_ks, w_gs, bg, nk, i);
            } else {
                for (int g = 0; g < gb; g++)
                    one(d + g * dst_rs, dst_rs, src, src_ks, wg + g * w_gs, w_ks, w_gs,
                        bg ? bg + g : NULL, nk, i);
            }
            if (i + nx >= n) break;
        }
    }
}

/* ---- convt_s2 -------------------------------------------------------------------------- */

/* One output channel x 4 columns per tile: the 8 taps of the channel are two vectors
 * (pairs (a, b) = 0, 1 and 2, 3), multiplied by lane of the 4 input values of the columns;
 * 8 accumulators, 2 weight loads + 1 input load per 8 FMAs. The stores take the 64-bit pair
 * (a, b) of each column: the 8 consecutive outputs of the 4 columns in one output row. */
static void convt_s2_tile1x4(float *restrict dst, int64_t dst_ds, int64_t dst_hs,
                             const float *restrict src, int64_t src_ks, const float *restrict w,
                             int64_t w_ks, float b, int64_t nk, int64_t x) {
    float32x4_t lo0 = vdupq_n_f32(b), lo1 = lo0, lo2 = lo0, lo3 = lo0; /* pairs 0, 1 */
    float32x4_t hi0 = lo0, hi1 = lo0, hi2 = lo0, hi3 = lo0;              /* pairs 2, 3 */
    for (int64_t k = 0; k < nk; k++) {
        const float32x4_t wl = vld1q_f32(w + k * w_ks), wh = vld1q_f32(w + k * w_ks + 4);
        const float32x4_t sv = vld1q_f32(src + k * src_ks + x);
        lo0 = vfmaq_laneq_f32(lo0, wl, sv, 0);
        hi0 = vfmaq_laneq_f32(hi0, wh, sv, 0);
        lo1 = vfmaq_laneq_f32(lo1, wl, sv, 1);
        hi1 = vfmaq_laneq_f32(hi1, wh, sv, 1);
        lo2 = vfmaq_laneq_f32(lo2, wl, sv, 2);
        hi2 = vfmaq_laneq_f32(hi2, wh, sv, 2);
        lo3 = vfmaq_laneq_f32(lo3, wl, sv, 3);
        hi3 = vfmaq_laneq_f32(hi3, wh, sv, 3);
    }
    float *d = dst + 2 * x;
    vst1q_f32(d, vcombine_f32(vget_low_f32(lo0), vget_low_f32(lo1)));
    vst1q_f32(d + 4, vcombine_f32(vget_low_f32(lo2), vget_low_f32(lo3)));
    vst1q_f32(d + dst_hs, vcombine_f32(vget_high_f32(lo0), vget_high_f32(lo1)));
    vst1q_f32(d + dst_hs + 4, vcombine_f32(vget_high_f32(lo2), vget_high_f32(lo3)));
    vst1q_f32(d + dst_ds, vcombine_f32(vget_low_f32(hi0), vget_low_f32(hi1)));
    vst1q_f32(d + dst_ds + 4, vcombine_f32(vget_low_f32(hi2), vget_low_f32(hi3)));
    vst1q_f32(d + dst_ds + dst_hs, vcombine_f32(vget_high_f32(hi0), vget_high_f32(hi1)));
    vst1q_f32(d + dst_ds + dst_hs + 4, vcombine_f32(vget_high_f32(hi2), vget_high_f32(hi3)));
}

/* Channel by channel, column tiles of 4 with the last one aligned to the row end
 * (recomputing identical values); rows shorter than 4 element by element. */
static void convt_s2_neon(float *restrict dst, int64_t dst_cs, int64_t dst_ds, int64_t dst_hs,
                          const float *restrict src, int64_t src_ks, const float *restrict w,
                          int64_t w_ks, const float *restrict bias, int64_t m, int64_t nk,
                          int64_t n) {
    for (int64_t g = 0; g < m; g++) {
        const float b = bias ? bias[g] : 0.0f;
        if (n < 4) {
            for (int t = 0; t < 8; t++) {
                float *d = dst + g * dst_cs + (t >> 2) * dst_ds + (t >> 1 & 1) * dst_hs + (t & 1);
                for (int64_t x = 0; x < n; x++) {
                    float acc = b;
                    for (int64_t k = 0; k < nk; k++)
                        acc = fmaf(w[k * w_ks + g * 8 + t], src[k * src_ks + x], acc);
                    d[2 * x] = acc;
                }
            }
            continue;
        }
        for (int64_t x = 0;; x += 4) {
            if (x + 4 > n) x = n - 4; /* overlap: same values recomputed */
            convt_s2_tile1x4(dst + g * dst_cs, dst_ds, dst_hs, src, src_ks, w + g * 8, w_ks, b,
                             nk, x);
            if (x + 4 >= n) break;
        }
    }
}

/* ---- im2col_s2 ------------------------------------------------------------------------- */

/* 4 columns per step: vld2q splits 8 input values into even (t1) and odd (t2) columns; t0
 * is the odd vector moved up one lane behind the previous step's last odd value (src[2 x - 1],
 * zero before the row). The tail goes column by column as in the reference. */
static void im2col_s2_neon(float *restrict t0, float *restrict t1, float *restrict t2,
                           const float *restrict src, int64_t w, int64_t n) {
    float32x4_t prev = vdupq_n_f32(0.0f); /* lane 3: src[2 x - 1] */
    int64_t x = 0;
    for (; x + 4 <= n && 2 * x + 8 <= w; x += 4) {
        const float32x4x2_t v = vld2q_f32(src + 2 * x);
        vst1q_f32(t0 + x, vextq_f32(prev, v.val[1], 3));
        vst1q_f32(t1 + x, v.val[0]);
        vst1q_f32(t2 + x, v.val[1]);
        prev = v.val[1];
    }
    for (; x < n; x++) {
        t0[x] = x > 0 && 2 * x - 1 < w ? src[2 * x - 1] : 0.0f;
        t1[x] = 2 * x < w ? src[2 * x] : 0.0f;
        t2[x] = 2 * x + 1 < w ? src[2 * x + 1] : 0.0f;
    }
}

/* ---- bias_rows ------------------------------------------------------------------------- */

/* 4 columns per step; `stream` is ignored (plain stores: NEON's non-temporal pair stores
 * are only a hint and need not help). */
static void bias_rows_neon(float *restrict dst, int64_t dst_rs, const float *restrict src,
                           int64_t src_rs, const float *restrict bias, int64_t m, int64_t n,
                           int stream) {
    (void)stream;
    for (int64_t r = 0; r < m; r++) {
        float *d = dst + r * dst_rs;
        const float *s = src + r * src_rs;
        const float b = bias[r];
        const float32x4_t vb = vdupq_n_f32(b);
        int64_t i = 0;
        for (; i + 4 <= n; i += 4) vst1q_f32(d + i, vaddq_f32(vld1q_f32(s + i), vb));
        for (; i < n; i++) d[i] = s[i] + b;
    }
}

/* ---- instance-norm reductions and apply ------------------------------------------------ */

/* Two float64x2 accumulators (4 floats widened per step), reduced at the end in a fixed
 * order, so a given chunk always sums to the same value. */
static double sum_f64_neon(const float *x, int64_t n) {
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        s0 = vaddq_f64(s0, vcvt_f64_f32(vget_low_f32(v)));
        s1 = vaddq_f64(s1, vcvt_high_f64_f32(v));
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++)
        s += (double)x[i];
    return s;
}

/* Same layout as sum_f64_neon, with (x - mean)^2 fused into the double accumulators. */
static double sumsq_dev_f64_neon(const float *x, int64_t n, double mean) {
    const float64x2_t m = vdupq_n_f64(mean);
    float64x2_t s0 = vdupq_n_f64(0.0), s1 = vdupq_n_f64(0.0);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t v = vld1q_f32(x + i);
        const float64x2_t d0 = vsubq_f64(vcvt_f64_f32(vget_low_f32(v)), m);
        const float64x2_t d1 = vsubq_f64(vcvt_high_f64_f32(v), m);
        s0 = vfmaq_f64(s0, d0, d0);
        s1 = vfmaq_f64(s1, d1, d1);
    }
    double s = vaddvq_f64(vaddq_f64(s0, s1));
    for (; i < n; i++) {
        const double d = (double)x[i] - mean;
        s += d * d;
    }
    return s;
}

/* slope 1 when LeakyReLU is off keeps one branch-free loop for both cases. */
static void norm_apply_neon(float *x, int64_t n, float m_hi, float m_lo, float scale, float shift,
                            int leaky, float slope) {
    const float32x4_t vh = vdupq_n_f32(m_hi), vl = vdupq_n_f32(m_lo);
    const float32x4_t vs = vdupq_n_f32(scale), vb = vdupq_n_f32(shift);
    const float32x4_t vk = vdupq_n_f32(leaky ? slope : 1.0f), z = vdupq_n_f32(0.0f);
    int64_t i = 0;
    for (; i + 4 <= n; i += 4) {
        const float32x4_t d = vsubq_f32(vsubq_f32(vld1q_f32(x + i), vh), vl);
        const float32x4_t y = vfmaq_f32(vb, d, vs);
        vst1q_f32(x + i, vbslq_f32(vcltq_f32(y, z), vmulq_f32(y, vk), y));
    }
    for (; i < n; i++) {
        float y = ((x[i] - m_hi) - m_lo) * scale + shift;
        if (leaky && y < 0.0f) y *= slope;
        x[i] = y;
    }
}

/* ---- Winograd F(2x2x2, 3x3x3) ---------------------------------------------------------- */

#define WINO_ROW 18 /* input columns of one group's patch row: 2 * 8 tiles + 2 */

static const float wino_zero_row[WINO_ROW]; /* the patch row of a plane or row off the volume */

/* The four vectors of one patch row the w transform of half hf needs: columns 4 hf + 0-3,
 * 4 hf + 8-11, 4 hf + 2-5, 4 hf + 10-13 (suffixes 0-3 of the name Q). */
#define WI_LD(Q, R)                                                                                \
    const float32x4_t Q##0 = vld1q_f32((R) + 4 * hf), Q##1 = vld1q_f32((R) + 4 * hf + 8);          \
    const float32x4_t Q##2 = vld1q_f32((R) + 4 * hf + 2), Q##3 = vld1q_f32((R) + 4 * hf + 10);
/* D = X OP Y over the four vectors. */
#define WI_OP(D, X, OP, Y)                                                                         \
    const float32x4_t D##0 = OP(X##0, Y##0), D##1 = OP(X##1, Y##1), D##2 = OP(X##2, Y##2),         \
                      D##3 = OP(X##3, Y##3);
/* The w transform of one d- and h-transformed row H and the stores of its four positions
 * from P: uzp gives the even and odd columns of tiles 0 1 4 5 (half 0) or 2 3 6 7 (half 1),
 * the lane order NNE_WINO_LANE_TILE. */
#define WI_W(H, P)                                                                                 \
    {                                                                                              \
        const float32x4_t e = vuzp1q_f32(H##0, H##1), o = vuzp2q_f32(H##0, H##1);                  \
        const float32x4_t e2 = vuzp1q_f32(H##2, H##3), o2 = vuzp2q_f32(H##2, H##3);                \
        vst1q_f32(v + ((P) + 0) * v_ps, vsubq_f32(e, e2));                                         \
        vst1q_f32(v + ((P) + 1) * v_ps, vaddq_f32(o, e2));                                         \
        vst1q_f32(v + ((P) + 2) * v_ps, vsubq_f32(e2, o));                                         \
        vst1q_f32(v + ((P) + 3) * v_ps, vsubq_f32(o, o2));                                         \
    }
/* Patch row J of the d-transformed plane Q = plane I1 OP plane I2. */
#define WI_D(Q, J, I1, OP, I2)                                                                     \
    WI_LD(Q##x, row[I1][J])                                                                        \
    WI_LD(Q##y, row[I2][J])                                                                        \
    WI_OP(Q, Q##x, OP, Q##y)
/* All positions PD * 16 + ..: the d combination of two planes per row, then the h transform
 * of those rows, each result row going through the w transform. */
#define WI_PD(PD, I1, OP, I2)                                                                      \
    {                                                                                              \
        WI_D(r0, 0, I1, OP, I2)                                                                    \
        WI_D(r2, 2, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r0, vsubq_f32, r2)                                                            \
            WI_W(h, (PD)*16 + 0)                                                                   \
        }                                                                                          \
        WI_D(r1, 1, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r1, vaddq_f32, r2)                                                            \
            WI_W(h, (PD)*16 + 4)                                                                   \
        }                                                                                          \
        {                                                                                          \
            WI_OP(h, r2, vsubq_f32, r1)                                                            \
            WI_W(h, (PD)*16 + 8)                                                                   \
        }                                                                                          \
        WI_D(r3, 3, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r1, vsubq_f32, r3)                                                            \
            WI_W(h, (PD)*16 + 12)                                                                  \
        }                                                                                          \
    }

/* Per channel: the 16 patch rows are located (input rows, the zero row off the volume,
 * zero-padded copies for groups crossing the left or right edge), then per half group the
 * d, h and w transforms run in registers and the 64 positions are stored directly. */
static void wino_in_neon(const nne_wino_in *a) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int interior_x = x0 >= 0 && x0 + WINO_ROW <= a->w;
    float pad[4][4][WINO_ROW]; /* zero-padded copies of the patch rows at the edges */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        const float *row[4][4]; /* [z][y]: column x0 of each patch row */
        for (int i = 0; i < 4; i++) {
            for (int j = 0; j < 4; j++) {
                const int64_t z = a->z0 + i, y = a->y0 + j;
                if (z < 0 || z >= a->d || y < 0 || y >= a->h) {
                    row[i][j] = wino_zero_row;
                    continue;
                }
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                if (interior_x) {
                    row[i][j] = base + x0;
                } else {
                    const int64_t xa = NNE_MAX(x0, (int64_t)0);
                    const int64_t xb = NNE_MIN(x0 + WINO_ROW, a->w);
                    memset(pad[i][j], 0, sizeof pad[i][j]);
                    if (xb > xa)
                        memcpy(pad[i][j] + (xa - x0), base + xa, (size_t)(xb - xa) * sizeof(float));
                    row[i][j] = pad[i][j];
                }
            }
        }
        for (int hf = 0; hf < 2; hf++) {
            float *v = a->v + c * a->v_cs + 4 * hf;
            WI_PD(0, 0, vsubq_f32, 2)
            WI_PD(1, 1, vaddq_f32, 2)
            WI_PD(2, 2, vsubq_f32, 1)
            WI_PD(3, 1, vsubq_f32, 3)
        }
    }
}

/* GEMM register tile: 4 rows x NV q vectors of 4 tiles, by lane of the 4 packed weights. */
#define WG_DECL(r, q) float32x4_t c##r##q = acc ? vld1q_f32(m + (r)*m_cs + 4 * (q)) : zero;
#define WG_FMA(r, q) c##r##q = vfmaq_laneq_f32(c##r##q, v##q, uv, r);
#define WG_STORE(r, q) vst1q_f32(m + (r)*m_cs + 4 * (q), c##r##q);
#define WG_Q(M, r) M(r, 0) M(r, 1)
#define WG_Q4(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3)
#define WG_Q6(M, r) M(r, 0) M(r, 1) M(r, 2) M(r, 3) M(r, 4) M(r, 5)
#define WG_R2(M) WG_Q(M, 0) WG_Q(M, 1) WG_Q(M, 2) WG_Q(M, 3)
#define WG_R4(M) WG_Q4(M, 0) WG_Q4(M, 1) WG_Q4(M, 2) WG_Q4(M, 3)
#define WG_R6(M) WG_Q6(M, 0) WG_Q6(M, 1) WG_Q6(M, 2) WG_Q6(M, 3)
#define WG_LOADV(q) const float32x4_t v##q = vld1q_f32(vk + 4 * (q));
#define WG_LOADV2 WG_LOADV(0) WG_LOADV(1)
#define WG_LOADV4 WG_LOADV2 WG_LOADV(2) WG_LOADV(3)
#define WG_LOADV6 WG_LOADV4 WG_LOADV(4) WG_LOADV(5)
#define WINO_GEMM_TILE_FN(name, REPV, LOADV)                                                       \
    static void name(float *m, int64_t m_cs, const float *u, const float *v, int64_t v_cs,         \
                     int64_t c_in, int acc) {                                                      \
        const float32x4_t zero = vdupq_n_f32(0.0f);                                                \
        REPV(WG_DECL)                                                                              \
        for (int64_t ic = 0; ic < c_in; ic++) {                                                    \
            const float *vk = v + ic * v_cs;                                                       \
            const float32x4_t uv = vld1q_f32(u + ic * NNE_WINO_OCR);                               \
            LOADV                                                                                  \
            REPV(WG_FMA)                                                                           \
        }                                                                                          \
        REPV(WG_STORE)                                                                             \
    }
WINO_GEMM_TILE_FN(wino_tile4x24, WG_R6, WG_LOADV6)
WINO_GEMM_TILE_FN(wino_tile4x16, WG_R4, WG_LOADV4)
WINO_GEMM_TILE_FN(wino_tile4x8, WG_R2, WG_LOADV2)

/* Per position and row block, the tiles in chunks of 24 (then 16 or 8). */
static void wino_gemm_neon(const nne_wino_gemm *a) {
    for (int64_t p = 0; p < a->npos; p++) {
        const float *v = a->v + p * a->v_ps;
        for (int64_t b = 0; b < a->nb; b++) {
            float *m = a->m + p * a->m_ps + b * NNE_WINO_OCR * a->m_cs;
            const float *u = a->u + p * a->u_ps + b * a->u_bs;
            int64_t t = 0;
            for (; t + 24 <= a->nt; t += 24)
                wino_tile4x24(m + t, a->m_cs, u, v + t, a->v_cs, a->c_in, a->accumulate);
            if (a->nt - t == 16)
                wino_tile4x16(m + t, a->m_cs, u, v + t, a->v_cs, a->c_in, a->accumulate);
            else if (a->nt - t == 8)
                wino_tile4x8(m + t, a->m_cs, u, v + t, a->v_cs, a->c_in, a->accumulate);
        }
    }
}

/* M at position (i, j, l) of this channel and half. */
#define WO_M(i, j, l) vld1q_f32(m + ((i)*16 + (j)*4 + (l)) * m_ps)

/* Per channel, half group and output plane: the d and h reductions per w position, the w
 * reduction and the bias; zip re-interleaves the two columns of each tile (half 0 holds
 * tiles 0 1 4 5: columns 0-3 and 8-11; half 1 tiles 2 3 6 7: columns 4-7 and 12-15) into
 * the group's rows, which are stored clipped to the volume. */
static void wino_out_neon(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)2 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    for (int64_t c = 0; c < a->nc; c++) {
        const float32x4_t bias = vdupq_n_f32(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        float rows[2][2][2 * NNE_WINO_GT]; /* [z][y][x] of the group */
        for (int hf = 0; hf < 2; hf++) {
            const float *m = a->m + c * a->m_cs + 4 * hf;
            for (int i = 0; i < 2; i++) {
                float32x4_t t[2][4]; /* [output row b][w position l] */
                for (int l = 0; l < 4; l++) {
                    float32x4_t q[4];
                    for (int j = 0; j < 4; j++)
                        q[j] = i == 0 ? vaddq_f32(vaddq_f32(WO_M(0, j, l), WO_M(1, j, l)),
                                                  WO_M(2, j, l))
                                      : vsubq_f32(vsubq_f32(WO_M(1, j, l), WO_M(2, j, l)),
                                                  WO_M(3, j, l));
                    t[0][l] = vaddq_f32(vaddq_f32(q[0], q[1]), q[2]);
                    t[1][l] = vsubq_f32(vsubq_f32(q[1], q[2]), q[3]);
                }
                for (int j = 0; j < 2; j++) {
                    const float32x4_t e =
                        vaddq_f32(vaddq_f32(vaddq_f32(t[j][0], t[j][1]), t[j][2]), bias);
                    const float32x4_t o =
                        vaddq_f32(vsubq_f32(vsubq_f32(t[j][1], t[j][2]), t[j][3]), bias);
                    vst1q_f32(rows[i][j] + 4 * hf, vzip1q_f32(e, o));
                    vst1q_f32(rows[i][j] + 4 * hf + 8, vzip2q_f32(e, o));
                }
            }
        }
        for (int i = 0; i < 2 && a->z0 + i < a->d; i++)
            for (int j = 0; j < 2 && a->y0 + j < a->h; j++)
                memcpy(dst + ((a->z0 + i) * a->h + a->y0 + j) * a->w + a->x0, rows[i][j],
                       (size_t)nx * sizeof(float));
    }
}

/* ---- Winograd F(4x4x2, 3x3x3) ---------------------------------------------------------- */

/* B4^T of six vectors (cpu.h), factored into 16 operations (t and a shared). */
static inline void wino_bt4_neon(float32x4_t o[6], float32x4_t d0, float32x4_t d1, float32x4_t d2,
                                 float32x4_t d3, float32x4_t d4, float32x4_t d5) {
    const float32x4_t t = vsubq_f32(d3, d1), a = vsubq_f32(d4, d2);
    o[0] = vfmaq_n_f32(vfmsq_n_f32(vaddq_f32(d0, d4), d2, 2.0f), t, 1.5f);
    o[1] = vfmaq_n_f32(vfmaq_n_f32(vsubq_f32(d4, d1), d2, 0.5f), d3, 2.5f);
    o[2] = vfmaq_n_f32(vfmsq_n_f32(vaddq_f32(d4, d1), d2, 2.5f), d3, 0.5f);
    o[3] = vfmaq_n_f32(a, t, 2.0f);
    o[4] = vfmsq_n_f32(a, t, 0.5f);
    o[5] = vfmaq_n_f32(vfmsq_n_f32(vaddq_f32(d1, d5), d3, 2.0f), a, 1.5f);
}

/* A4^T of six vectors (cpu.h). */
static inline void wino_at4_neon(float32x4_t o[4], float32x4_t m0, float32x4_t m1, float32x4_t m2,
                                 float32x4_t m3, float32x4_t m4, float32x4_t m5) {
    const float32x4_t s12 = vaddq_f32(m1, m2), d12 = vsubq_f32(m1, m2);
    o[0] = vaddq_f32(vaddq_f32(vaddq_f32(m0, s12), m3), m4);
    o[1] = vfmsq_n_f32(vfmaq_n_f32(d12, m3, 0.5f), m4, 2.0f);
    o[2] = vfmaq_n_f32(vfmaq_n_f32(s12, m3, 0.25f), m4, 4.0f);
    o[3] = vaddq_f32(vfmsq_n_f32(vfmaq_n_f32(d12, m3, 0.125f), m4, 8.0f), m5);
}

/* The F(4, 3) passes shared by F(4x4x2) (nw = 4 w positions) and F(4x4x4) (nw = 6): of the
 * w-transformed patch t[z][y][pw] of a half group, B4^T along d in place, then B4^T along h
 * straight into positions (pd * 6 + ph) * nw + pw of v. */
static inline __attribute__((always_inline)) void wino_bt4_dh_neon(float32x4_t *t, float *v,
                                                                   int64_t v_ps, const int nw) {
    const int pl = 6 * nw; /* vectors per plane */
    for (int q = 0; q < pl; q++) { /* along d */
        float32x4_t o[6];
        wino_bt4_neon(o, t[q], t[pl + q], t[2 * pl + q], t[3 * pl + q], t[4 * pl + q],
                      t[5 * pl + q]);
        for (int pd = 0; pd < 6; pd++) t[pd * pl + q] = o[pd];
    }
    for (int pd = 0; pd < 6; pd++) { /* along h */
        for (int pw = 0; pw < nw; pw++) {
            const float32x4_t *tt = t + pd * pl + pw;
            float32x4_t o[6];
            wino_bt4_neon(o, tt[0], tt[nw], tt[2 * nw], tt[3 * nw], tt[4 * nw], tt[5 * nw]);
            for (int ph = 0; ph < 6; ph++) vst1q_f32(v + ((pd * 6 + ph) * nw + pw) * v_ps, o[ph]);
        }
    }
}

/* A4^T along d of a half group's products m (positions (pd * 6 + ph) * nw + pw) into
 * t[a][ph][pw]. */
static inline __attribute__((always_inline)) void wino_at4_d_neon(float32x4_t *t, const float *m,
                                                                  int64_t m_ps, const int nw) {
    const int pl = 6 * nw;
    for (int q = 0; q < pl; q++) {
        float32x4_t o[4];
        wino_at4_neon(o, vld1q_f32(m + q * m_ps), vld1q_f32(m + (pl + q) * m_ps),
                      vld1q_f32(m + (2 * pl + q) * m_ps), vld1q_f32(m + (3 * pl + q) * m_ps),
                      vld1q_f32(m + (4 * pl + q) * m_ps), vld1q_f32(m + (5 * pl + q) * m_ps));
        for (int i = 0; i < 4; i++) t[i * pl + q] = o[i];
    }
}

/* Per channel: the 36 patch rows located (zero rows off the volume, zero-padded copies at
 * the left/right edges); per half group the w transform of every row into t[z][y][pw], B4^T
 * along d in place, B4^T along h into the 144 positions. */
static void wino4_in_neon(const nne_wino_in *a) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int interior_x = x0 >= 0 && x0 + WINO_ROW <= a->w;
    float pad[6][6][WINO_ROW]; /* zero-padded copies of the patch rows at the edges */
    float32x4_t t[NNE_WINO4_NPOS]; /* [z or pd][y][pw] of one half group */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        const float *row[6][6];
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 6; j++) {
                const int64_t z = a->z0 + i, y = a->y0 + j;
                if (z < 0 || z >= a->d || y < 0 || y >= a->h) {
                    row[i][j] = wino_zero_row;
                    continue;
                }
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                if (interior_x) {
                    row[i][j] = base + x0;
                } else {
                    const int64_t xa = NNE_MAX(x0, (int64_t)0);
                    const int64_t xb = NNE_MIN(x0 + WINO_ROW, a->w);
                    memset(pad[i][j], 0, sizeof pad[i][j]);
                    if (xb > xa)
                        memcpy(pad[i][j] + (xa - x0), base + xa, (size_t)(xb - xa) * sizeof(float));
                    row[i][j] = pad[i][j];
                }
            }
        }
        for (int hf = 0; hf < 2; hf++) {
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 6; j++) {
                    const float *r = row[i][j] + 4 * hf;
                    const float32x4_t q0 = vld1q_f32(r), q1 = vld1q_f32(r + 8);
                    const float32x4_t q2 = vld1q_f32(r + 2), q3 = vld1q_f32(r + 10);
                    const float32x4_t e = vuzp1q_f32(q0, q1), o = vuzp2q_f32(q0, q1);
                    const float32x4_t e2 = vuzp1q_f32(q2, q3), o2 = vuzp2q_f32(q2, q3);
                    float32x4_t *tt = t + (i * 6 + j) * 4;
                    tt[0] = vsubq_f32(e, e2);
                    tt[1] = vaddq_f32(o, e2);
                    tt[2] = vsubq_f32(e2, o);
                    tt[3] = vsubq_f32(o, o2);
                }
            }
            wino_bt4_dh_neon(t, a->v + c * a->v_cs + 4 * hf, v_ps, 4);
        }
    }
}

/* Per channel and half group: A4^T along d, then per output plane A4^T along h, the w
 * reduction and the bias; zip re-interleaves the tile columns into the group's rows (as in
 * wino_out_neon), stored clipped to the volume. */
static void wino4_out_neon(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)2 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    float32x4_t t[96]; /* [a][ph][pw] of one half group */
    for (int64_t c = 0; c < a->nc; c++) {
        const float32x4_t bias = vdupq_n_f32(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        float rows[4][4][2 * NNE_WINO_GT]; /* [z][y][x] of the group */
        for (int hf = 0; hf < 2; hf++) {
            const float *m = a->m + c * a->m_cs + 4 * hf;
            wino_at4_d_neon(t, m, m_ps, 4);
            for (int i = 0; i < 4; i++) {
                float32x4_t r[4][4]; /* [output row b][pw] */
                for (int pw = 0; pw < 4; pw++) { /* along h */
                    const float32x4_t *tt = t + i * 24 + pw;
                    float32x4_t o[4];
                    wino_at4_neon(o, tt[0], tt[4], tt[8], tt[12], tt[16], tt[20]);
                    for (int b = 0; b < 4; b++) r[b][pw] = o[b];
                }
                for (int b = 0; b < 4; b++) { /* along w, bias */
                    const float32x4_t e =
                        vaddq_f32(vaddq_f32(vaddq_f32(r[b][0], r[b][1]), r[b][2]), bias);
                    const float32x4_t o =
                        vaddq_f32(vsubq_f32(vsubq_f32(r[b][1], r[b][2]), r[b][3]), bias);
                    vst1q_f32(rows[i][b] + 4 * hf, vzip1q_f32(e, o));
                    vst1q_f32(rows[i][b] + 4 * hf + 8, vzip2q_f32(e, o));
                }
            }
        }
        for (int i = 0; i < 4 && a->z0 + i < a->d; i++)
            for (int b = 0; b < 4 && a->y0 + b < a->h; b++)
                memcpy(dst + ((a->z0 + i) * a->h + a->y0 + b) * a->w + a->x0, rows[i][b],
                       (size_t)nx * sizeof(float));
    }
}

/* ---- Winograd F(4x4x4, 3x3x3) ---------------------------------------------------------- */

#define WINO44_ROW 34 /* input columns of one group's patch row: 4 * 8 tiles + 2 */

static const float wino44_zero_row[WINO44_ROW]; /* a patch row off the volume */

/* 4x4 transpose: o[k] = {a[k], b[k], c[k], d[k]}; its own inverse. */
static inline void tr4_neon(float32x4_t o[4], float32x4_t a, float32x4_t b, float32x4_t c,
                            float32x4_t d) {
    const float64x2_t t0 = vreinterpretq_f64_f32(vtrn1q_f32(a, b));
    const float64x2_t t1 = vreinterpretq_f64_f32(vtrn2q_f32(a, b));
    const float64x2_t t2 = vreinterpretq_f64_f32(vtrn1q_f32(c, d));
    const float64x2_t t3 = vreinterpretq_f64_f32(vtrn2q_f32(c, d));
    o[0] = vreinterpretq_f32_f64(vtrn1q_f64(t0, t2));
    o[1] = vreinterpretq_f32_f64(vtrn1q_f64(t1, t3));
    o[2] = vreinterpretq_f32_f64(vtrn2q_f64(t0, t2));
    o[3] = vreinterpretq_f32_f64(vtrn2q_f64(t1, t3));
}

/* Per channel: the 36 patch rows located (zero rows off the volume, zero-padded copies at
 * the left/right edges); per half group hf (the tiles 2 i + hf, lane order
 * NNE_WINO44_LANE_TILE) the four tiles' 4-column pieces of every row are transposed into
 * tile columns, then B4^T along w into t[z][y][pw], along d in place, along h into the 216
 * positions. */
static void wino44_in_neon(const nne_wino_in *a) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int interior_x = x0 >= 0 && x0 + WINO44_ROW <= a->w;
    float pad[6][6][WINO44_ROW];    /* zero-padded copies of the patch rows at the edges */
    float32x4_t t[NNE_WINO44_NPOS]; /* [z or pd][y][pw] of one half group */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        const float *row[6][6];
        for (int i = 0; i < 6; i++) {
            for (int j = 0; j < 6; j++) {
                const int64_t z = a->z0 + i, y = a->y0 + j;
                if (z < 0 || z >= a->d || y < 0 || y >= a->h) {
                    row[i][j] = wino44_zero_row;
                    continue;
                }
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                if (interior_x) {
                    row[i][j] = base + x0;
                } else {
                    const int64_t xa = NNE_MAX(x0, (int64_t)0);
                    const int64_t xb = NNE_MIN(x0 + WINO44_ROW, a->w);
                    memset(pad[i][j], 0, sizeof pad[i][j]);
                    if (xb > xa)
                        memcpy(pad[i][j] + (xa - x0), base + xa, (size_t)(xb - xa) * sizeof(float));
                    row[i][j] = pad[i][j];
                }
            }
        }
        for (int hf = 0; hf < 2; hf++) {
            for (int i = 0; i < 6; i++) {
                for (int j = 0; j < 6; j++) {
                    const float *r = row[i][j] + 4 * hf;
                    float32x4_t q[4], e[4];
                    tr4_neon(q, vld1q_f32(r), vld1q_f32(r + 8), vld1q_f32(r + 16),
                             vld1q_f32(r + 24));
                    tr4_neon(e, vld1q_f32(r + 2), vld1q_f32(r + 10), vld1q_f32(r + 18),
                             vld1q_f32(r + 26));
                    wino_bt4_neon(t + (i * 6 + j) * 6, q[0], q[1], q[2], q[3], e[2], e[3]);
                }
            }
            wino_bt4_dh_neon(t, a->v + c * a->v_cs + 4 * hf, v_ps, 6);
        }
    }
}

/* Per channel and half group: A4^T along d, then per output plane along h and w, the bias
 * and the transpose back into the tiles' 4-column pieces of the group's rows, stored clipped
 * to the volume. */
static void wino44_out_neon(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)4 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    float32x4_t t[144]; /* [a][ph][pw] of one half group */
    for (int64_t c = 0; c < a->nc; c++) {
        const float32x4_t bias = vdupq_n_f32(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        float rows[4][4][4 * NNE_WINO_GT]; /* [z][y][x] of the group */
        for (int hf = 0; hf < 2; hf++) {
            const float *m = a->m + c * a->m_cs + 4 * hf;
            wino_at4_d_neon(t, m, m_ps, 6);
            for (int i = 0; i < 4; i++) {
                float32x4_t r[4][6]; /* [output row b][pw] */
                for (int pw = 0; pw < 6; pw++) { /* along h */
                    const float32x4_t *tt = t + i * 36 + pw;
                    float32x4_t o[4];
                    wino_at4_neon(o, tt[0], tt[6], tt[12], tt[18], tt[24], tt[30]);
                    for (int b = 0; b < 4; b++) r[b][pw] = o[b];
                }
                for (int b = 0; b < 4; b++) { /* along w, bias, back to columns */
                    float32x4_t o[4], q[4];
                    wino_at4_neon(o, r[b][0], r[b][1], r[b][2], r[b][3], r[b][4], r[b][5]);
                    tr4_neon(q, vaddq_f32(o[0], bias), vaddq_f32(o[1], bias),
                             vaddq_f32(o[2], bias), vaddq_f32(o[3], bias));
                    for (int k = 0; k < 4; k++) vst1q_f32(rows[i][b] + 8 * k + 4 * hf, q[k]);
                }
            }
        }
        for (int i = 0; i < 4 && a->z0 + i < a->d; i++)
            for (int b = 0; b < 4 && a->y0 + b < a->h; b++)
                memcpy(dst + ((a->z0 + i) * a->h + a->y0 + b) * a->w + a->x0, rows[i][b],
                       (size_t)nx * sizeof(float));
    }
}

/* Peak probe: 16 independent 4-lane FMA chains (NEON FMLA), written out so they stay in
 * registers. Cortex-A76/A78 and Carmel issue two 128-bit FMAs per cycle, Neoverse V1/V2 and
 * Cortex-X cores four, at a latency of 4, so up to 16 chains are needed; with the two
 * constants they fit the 32 vector registers. */
static double fma_peak_neon(int64_t iters, float *sink) {
    const float32x4_t m = vdupq_n_f32(0.99999988f), a = vdupq_n_f32(1e-7f);
    const float32x4_t d = vdupq_n_f32(0.01f);
    float32x4_t x0 = vdupq_n_f32(*sink), x1 = vaddq_f32(x0, d), x2 = vaddq_f32(x1, d);
    float32x4_t x3 = vaddq_f32(x2, d), x4 = vaddq_f32(x3, d), x5 = vaddq_f32(x4, d);
    float32x4_t x6 = vaddq_f32(x5, d), x7 = vaddq_f32(x6, d), x8 = vaddq_f32(x7, d);
    float32x4_t x9 = vaddq_f32(x8, d), x10 = vaddq_f32(x9, d), x11 = vaddq_f32(x10, d);
    float32x4_t x12 = vaddq_f32(x11, d), x13 = vaddq_f32(x12, d), x14 = vaddq_f32(x13, d);
    float32x4_t x15 = vaddq_f32(x14, d);
    for (int64_t i = 0; i < iters; i++) {
        x0 = vfmaq_f32(a, x0, m);
        x1 = vfmaq_f32(a, x1, m);
        x2 = vfmaq_f32(a, x2, m);
        x3 = vfmaq_f32(a, x3, m);
        x4 = vfmaq_f32(a, x4, m);
        x5 = vfmaq_f32(a, x5, m);
        x6 = vfmaq_f32(a, x6, m);
        x7 = vfmaq_f32(a, x7, m);
        x8 = vfmaq_f32(a, x8, m);
        x9 = vfmaq_f32(a, x9, m);
        x10 = vfmaq_f32(a, x10, m);
        x11 = vfmaq_f32(a, x11, m);
        x12 = vfmaq_f32(a, x12, m);
        x13 = vfmaq_f32(a, x13, m);
        x14 = vfmaq_f32(a, x14, m);
        x15 = vfmaq_f32(a, x15, m);
    }
    float32x4_t s = vaddq_f32(vaddq_f32(vaddq_f32(x0, x1), vaddq_f32(x2, x3)),
                              vaddq_f32(vaddq_f32(x4, x5), vaddq_f32(x6, x7)));
    s = vaddq_f32(s, vaddq_f32(vaddq_f32(vaddq_f32(x8, x9), vaddq_f32(x10, x11)),
                               vaddq_f32(vaddq_f32(x12, x13), vaddq_f32(x14, x15))));
    *sink = vaddvq_f32(s);
    return 2.0 * 16 * 4 * (double)iters;
}

/* ---- INT8 convolution (src/conv3d_q8.c) ------------------------------------------------
 *
 * DESIGN (q8_conv_row). Widening multiply-accumulate (vmlal_s16 / vmlal_high_s16) of the
 * centred int16 channel pairs of nne_q8_row: a q register of packed weights holds 4 output
 * channels x the 2 channels of a pair, the input pair is duplicated over the lanes, so each
 * 32-bit accumulator lane collects one of the two products of a pair; a final pairwise add
 * (vpaddq_s32) joins them. Each lane sums at most cp * taps products of |.| <= 127 * 255, so
 * nothing overflows and the result equals `_ref` exactly. Register tile: 8 output channels x
 * 4 columns (16 accumulators). The dot-product extension (sdot, 4 int8 products per lane)
 * would need int8 operands instead of the centred int16 ones; it is not used. */

/* 16 floats per step; the clamp uses explicit compares + selects (vmaxq/vminq would propagate
 * NaN), so NaN lands on the lower bound as in the reference; vcvtnq rounds half to even. */
static void q8_quantize_neon(uint8_t *restrict dst, const float *restrict src, int64_t n,
                             float inv_scale, int32_t zp) {
    const float lof = (float)-zp, hif = (float)(255 - zp);
    const float32x4_t lo = vdupq_n_f32(lof), hi = vdupq_n_f32(hif);
    const int32x4_t z = vdupq_n_s32(zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        int16x8_t h[2];
        for (int j = 0; j < 2; j++) {
            int32x4_t q[2];
            for (int k = 0; k < 2; k++) {
                float32x4_t v = vmulq_n_f32(vld1q_f32(src + i + 8 * j + 4 * k), inv_scale);
                v = vbslq_f32(vcgtq_f32(v, lo), v, lo);
                v = vbslq_f32(vcltq_f32(v, hi), v, hi);
                q[k] = vaddq_s32(vcvtnq_s32_f32(v), z);
            }
            h[j] = vcombine_s16(vmovn_s32(q[0]), vmovn_s32(q[1]));
        }
        vst1q_u8(dst + i, vcombine_u8(vqmovun_s16(h[0]), vqmovun_s16(h[1])));
    }
    for (; i < n; i++) {
        float v = src[i] * inv_scale;
        v = v > lof ? v : lof;
        v = v < hif ? v : hif;
        dst[i] = (uint8_t)((int32_t)rintf(v) + zp);
    }
}

/* 8 columns per step: widen, subtract the zero point, store interleaved (vst2q). */
static void q8_pairs_neon(int16_t *restrict dst, const uint8_t *restrict a,
                          const uint8_t *restrict b, int64_t n, int32_t zp) {
    const int16x8_t z = vdupq_n_s16((int16_t)zp);
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        int16x8x2_t v;
        v.val[0] = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vld1_u8(a + i))), z);
        v.val[1] = vsubq_s16(vreinterpretq_s16_u16(vmovl_u8(vld1_u8(b + i))), z);
        vst2q_s16(dst + 2 * i, v);
    }
    for (; i < n; i++) {
        dst[2 * i] = (int16_t)(a[i] - zp);
        dst[2 * i + 1] = (int16_t)(b[i] - zp);
    }
}

/* One output block (8 channels) x 4 columns from x0: per tap and channel pair two weight
 * vectors (channels 0-3 and 4-7, each with both products of the pair) and one duplicated
 * input pair per column feed 4 widening multiply-accumulates per column; the pair products
 * stay apart in the lanes until the final pairwise adds. Columns past wout are computed on
 * the padding and not stored. */
static void q8_row_1x4(const nne_q8_row *a, int64_t b, int64_t x0) {
    int32x4_t acc[4][4]; /* [column][channels 0-1, 2-3, 4-5, 6-7, unreduced] */
    for (int j = 0; j < 4; j++)
        for (int q = 0; q < 4; q++) acc[j][q] = vdupq_n_s32(0);
    const int64_t step = (int64_t)a->sw * 2;
    const int16_t *wp = a->w + b * a->w_bs;
    const int16_t *sx = a->src + x0 * step;
    for (int64_t p = 0; p < a->cp; p++)
        for (int kd = 0; kd < a->kd; kd++)
            for (int kh = 0; kh < a->kh; kh++) {
                const int16_t *s = sx + p * a->src_ps + kd * a->src_ds + kh * a->src_hs;
                for (int c = 0; c < a->kw; c++, s += 2, wp += 16) {
                    const int16x8_t w0 = vld1q_s16(wp), w1 = vld1q_s16(wp + 8);
                    for (int j = 0; j < 4; j++) {
                        int32_t v;
                        memcpy(&v, s + j * step, sizeof v);
                        const int16x8_t x = vreinterpretq_s16_s32(vdupq_n_s32(v));
                        acc[j][0] = vmlal_s16(acc[j][0], vget_low_s16(w0), vget_low_s16(x));
                        acc[j][1] = vmlal_high_s16(acc[j][1], w0, x);
                        acc[j][2] = vmlal_s16(acc[j][2], vget_low_s16(w1), vget_low_s16(x));
                        acc[j][3] = vmlal_high_s16(acc[j][3], w1, x);
                    }
                }
            }
    const int64_t n = NNE_MIN((int64_t)4, a->wout - x0);
    int32_t t[4][NNE_Q8_OCB];
    for (int j = 0; j < 4; j++) {
        vst1q_s32(t[j], vpaddq_s32(acc[j][0], acc[j][1]));
        vst1q_s32(t[j] + 4, vpaddq_s32(acc[j][2], acc[j][3]));
    }
    for (int o = 0; o < NNE_Q8_OCB; o++) {
        int32_t *d = a->dst + (b * NNE_Q8_OCB + o) * a->dst_cs + x0;
        for (int64_t j = 0; j < n; j++) d[j] = t[j][o];
    }
}

static void q8_conv_row_neon(const nne_q8_row *a) {
    for (int64_t b = 0; b < a->nb; b++)
        for (int64_t x0 = 0; x0 < a->wout; x0 += 4) q8_row_1x4(a, b, x0);
}

/* NEON is architectural on AArch64: this table is always available there. */
/* binary16 rows with the NEON conversions (FPCR rounding: nearest, ties to even), 4 at a
 * time; the tail through half.c. */
static void f16_to_f32_neon(float *restrict dst, const uint16_t *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1q_f32(dst + i, vcvt_f32_f16(vreinterpret_f16_u16(vld1_u16(src + i))));
    for (; i < n; i++)
        dst[i] = nne_f16_to_f32(src[i]);
}

static void copy_f32_neon(float *restrict dst, const float *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        vst1q_f32(dst + i, vld1q_f32(src + i));
        vst1q_f32(dst + i + 4, vld1q_f32(src + i + 4));
    }
    for (; i < n; i++) dst[i] = src[i];
}

static void f32_to_f16_neon(uint16_t *restrict dst, const float *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 4 <= n; i += 4)
        vst1_u16(dst + i, vreinterpret_u16_f16(vcvt_f16_f32(vld1q_f32(src + i))));
    for (; i < n; i++)
        dst[i] = nne_f32_to_f16(src[i]);
}

const nne_kernels nne_kernels_neon = {
    .name = "neon",
    .axpy_rows = axpy_rows_neon,
    .leaky_relu = leaky_relu_neon,
    .conv3d_row = conv3d_row_neon,
    .gemm_rows = gemm_rows_neon,
    .convt_rows = convt_rows_neon,
    .convt_s2 = convt_s2_neon,
    .im2col_s2 = im2col_s2_neon,
    .bias_rows = bias_rows_neon,
    .sum_f64 = sum_f64_neon,
    .sumsq_dev_f64 = sumsq_dev_f64_neon,
    .norm_apply = norm_apply_neon,
    .wino_in = wino_in_neon,
    .wino_gemm = wino_gemm_neon,
    .wino_out = wino_out_neon,
    .wino4_in = wino4_in_neon,
    .wino4_out = wino4_out_neon,
    .wino44_in = wino44_in_neon,
    .wino44_out = wino44_out_neon,
    .fma_peak = fma_peak_neon,
    .f16_to_f32 = f16_to_f32_neon,
    .f32_to_f16 = f32_to_f16_neon,
    .copy_f32 = copy_f32_neon,
    /* INT8 convolution */
    .q8_quantize = q8_quantize_neon,
    .q8_pairs = q8_pairs_neon,
    .q8_conv_row = q8_conv_row_neon,
};
#else
typedef int nne_arm_neon_empty; /* ISO C forbids an empty translation unit */
#endif
