/*
 * x86_avx2.c - AVX2 + FMA microkernels (compiled with -mavx2 -mfma; selected at run time only
 * when the CPU reports both features). Each kernel matches its `_ref` twin in generic.c
 * within the accuracy contract of tests/test_kernels.c.
 *
 * DESIGN (conv3d_row). Output channels are the vector lanes: the weights of one block of
 * NNE_CONV_OCB = 8 output channels are packed so that one tap of all 8 channels is one
 * contiguous 256-bit load. A register tile holds 12 (or 8, 4) output columns x 8 channels;
 * every tap loads one weight vector and broadcasts one input value per column, so the loop
 * does 12 FMAs per 13 loads and is FMA bound (Zen 3: 2 FMA + 3 loads per cycle). Tiles cover
 * the row from x = 0 without overlap. Tiles whose taps all lie inside the input row run
 * without checks (strides 1 and 2 get their own copies so input offsets are immediates);
 * tiles touching the padding or running past the row end apply a tap to a column only when
 * its bit in a per-tap column mask is set. Every output element sums its start value (bias,
 * or the partial sum already in dst), then taps in (ic, kd, kh, kw) order, on every path.
 *
 * DESIGN (Winograd). The tiles of a group are the 8 lanes. wino_in loads each input row of the
 * group's patch as 16 + 2 columns and splits them into even and odd columns (shuffle +
 * permute), which gives the four w-taps of all 8 tiles as four vectors; the h and d
 * transforms are then lane-wise adds. wino_out runs the inverse way and re-interleaves the two
 * output columns of each tile into 16 consecutive voxels. F(4x4x4) (wino44_in/out) reads
 * each patch row as columns 0-31 and 2-33 and transposes 4x4 blocks inside the 128-bit
 * halves (tiles in lane order 0 2 4 6 1 3 5 7), which gives the six columns of all 8 tiles;
 * the output runs the same transpose back. wino_gemm keeps a 4 (output channels, broadcast
 * from the packed weights) x 24 (tiles, three vectors) register tile: per input channel
 * 3 loads + 4 broadcasts feed 12 FMAs.
 *
 * DESIGN (convt_rows). 3 groups x 2 taps x 16 columns of accumulators (6 groups x 8 or 4
 * columns for narrow rows); the two taps are interleaved with in-lane unpacks so that each
 * output row is written contiguously, with non-temporal stores for outputs too large to
 * stay cached (CONVT_STREAM_RS).
 *
 * DESIGN (gemm_rows). 6 rows (j) x 16 columns (i) of accumulators (remainder rows one at a
 * time); per k two loads of the source row and six broadcasts of weights. The column tail is
 * handled by a last tile aligned to the row end (gemm_rows never accumulates, so recomputing
 * columns is harmless).
 */
#if defined(__x86_64__)
#include <math.h>
#include <string.h>

#include "../common.h"
#include "../cpu.h"
#include "../half.h"
#include "simd.h"

/* 8 columns per step, weights broadcast; the scalar tail matches the reference loop. */
static void axpy_rows_avx2(float *restrict dst, const float *restrict src, int64_t src_stride,
                           const float *restrict w, int64_t nk, int64_t n) {
    for (int64_t k = 0; k < nk; k++) {
        const __m256 wk = _mm256_set1_ps(w[k]);
        const float *s = src + k * src_stride;
        int64_t i = 0;
        for (; i + 8 <= n; i += 8)
            _mm256_storeu_ps(dst + i,
                             _mm256_fmadd_ps(wk, _mm256_loadu_ps(s + i), _mm256_loadu_ps(dst + i)));
        for (; i < n; i++)
            dst[i] += w[k] * s[i];
    }
}

/* Select between x and x * slope on the sign mask (x < 0 ordered: NaN keeps x). */
static void leaky_relu_avx2(float *x, int64_t n, float slope) {
    const __m256 vs = _mm256_set1_ps(slope), z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 v = _mm256_loadu_ps(x + i);
        __m256 neg = _mm256_cmp_ps(v, z, _CMP_LT_OQ);
        _mm256_storeu_ps(x + i, _mm256_blendv_ps(v, _mm256_mul_ps(v, vs), neg));
    }
    for (; i < n; i++)
        x[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

/* ---- conv3d_row ------------------------------------------------------------------------ */

/* Widest tile; the tile buffers of conv_store/conv_load are sized by it. */
#define CONV_NX 12 /* output columns per register tile */

/* Writes acc[j] (8 channel lanes of column x + j) to the channel-major output. */
static void conv_store(const nne_conv3d_row *a, int64_t x, const __m256 *acc, int nx) {
    float tmp[CONV_NX][NNE_CONV_OCB]; /* [column][channel], 384 bytes */
    for (int j = 0; j < nx; j++)
        _mm256_storeu_ps(tmp[j], acc[j]);
    for (int o = 0; o < a->noc; o++) {
        float *d = a->dst + o * a->dst_cs + x;
        for (int j = 0; j < nx; j++)
            d[j] = tmp[j][o];
    }
}

/* Starts acc[0..nx) from the bias, or from dst's current values when accumulating (only the
 * first nld columns exist in dst; the others start from zero and are never stored). */
static void conv_load(const nne_conv3d_row *a, int64_t x, __m256 *acc, int nx, int nld) {
    if (!a->accumulate) {
        const __m256 b = _mm256_loadu_ps(a->bias);
        for (int j = 0; j < nx; j++)
            acc[j] = b;
        return;
    }
    float tmp[CONV_NX][NNE_CONV_OCB] = {{0}}; /* [column][channel] */
    for (int o = 0; o < a->noc; o++) {
        const float *d = a->dst + o * a->dst_cs + x;
        for (int j = 0; j < nld; j++)
            tmp[j][o] = d[j];
    }
    for (int j = 0; j < nx; j++)
        acc[j] = _mm256_loadu_ps(tmp[j]);
}

/* Macro repetition over the columns of a tile (the column index must be a literal). */
#define REP12(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7) M(8) M(9) M(10) M(11)
#define REP4(M) M(0) M(1) M(2) M(3)
/* The accumulators are separate locals (acc0 .. acc11), never an array whose address is
 * passed on: otherwise compilers keep them in memory and store each one after every FMA. */
#define ACC_DECL(j) __m256 acc##j = init[j];
#define ACC_SAVE(j) fin[j] = acc##j;
#define FMA_COL(j) acc##j = _mm256_fmadd_ps(wv, _mm256_broadcast_ss(p + (j)*SW), acc##j);

/* Defines a tile function over NX interior columns starting at x, for stride SW (an
 * expression: a literal for the specialized copies, a->sw for the generic one). */
#define CONV_TILE_FN(name, NX, REP, SW_EXPR)                                                       \
    static void name(const nne_conv3d_row *a, int64_t x, int nst) {                                \
        const int64_t SW = (SW_EXPR);                                                              \
        __m256 init[NX], fin[NX];                                                                  \
        conv_load(a, x, init, NX, nst);                                                            \
        REP(ACC_DECL)                                                                              \
        const float *s0 = a->src + x * SW - a->pw;                                                 \
        for (int64_t ic = 0; ic < a->c_in; ic++) {                                                 \
            for (int kd = 0; kd < a->nkd; kd++) {                                                  \
                for (int kh = 0; kh < a->nkh; kh++) {                                              \
                    const float *s = s0 + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;        \
                    const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;            \
                    for (int kw = 0; kw < a->kw; kw++) {                                           \
                        const __m256 wv = _mm256_loadu_ps(w + kw * NNE_CONV_OCB);                  \
                        const float *p = s + kw;                                                   \
                        REP(FMA_COL)                                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        REP(ACC_SAVE)                                                                              \
        conv_store(a, x, fin, nst);                                                                \
    }

#define REP8(M) M(0) M(1) M(2) M(3) M(4) M(5) M(6) M(7)

CONV_TILE_FN(conv_tile12_s1, 12, REP12, 1)
CONV_TILE_FN(conv_tile12_s2, 12, REP12, 2)
CONV_TILE_FN(conv_tile12_sn, 12, REP12, a->sw)
CONV_TILE_FN(conv_tile8_s1, 8, REP8, 1)
CONV_TILE_FN(conv_tile8_s2, 8, REP8, 2)
CONV_TILE_FN(conv_tile8_sn, 8, REP8, a->sw)
CONV_TILE_FN(conv_tile4_sn, 4, REP4, a->sw)

#define CHK_KW_MAX 16 /* widest kernel the checked tiles handle (wider: one column at a time) */

/* Checked tile: like CONV_TILE_FN, but a tap is applied to column j only when its input
 * column lies inside the row (bit j of msk[kw]); used where a tile touches the padding.
 * Only the first `nst` columns are stored (tiles wider than the row). */
#define FMA_CHK(j)                                                                                 \
    if (m >> (j)&1u)                                                                               \
        acc##j = _mm256_fmadd_ps(wv, _mm256_broadcast_ss(s + (xb + kw + (j)*sw)), acc##j);

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
        __m256 init[NX], fin[NX];                                                                  \
        conv_load(a, x, init, NX, nst);                                                            \
        REP(ACC_DECL)                                                                              \
        for (int64_t ic = 0; ic < a->c_in; ic++) {                                                 \
            for (int kd = 0; kd < a->nkd; kd++) {                                                  \
                for (int kh = 0; kh < a->nkh; kh++) {                                              \
                    const float *s = a->src + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;    \
                    const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;            \
                    for (int kw = 0; kw < a->kw; kw++) {                                           \
                        const __m256 wv = _mm256_loadu_ps(w + kw * NNE_CONV_OCB);                  \
                        const uint32_t m = msk[kw];                                                \
                        REP(FMA_CHK)                                                               \
                    }                                                                              \
                }                                                                                  \
            }                                                                                      \
        }                                                                                          \
        REP(ACC_SAVE)                                                                              \
        conv_store(a, x, fin, nst);                                                                \
    }

CONV_TILE_CHK_FN(conv_tile12_chk, 12, REP12)
CONV_TILE_CHK_FN(conv_tile8_chk, 8, REP8)
CONV_TILE_CHK_FN(conv_tile4_chk, 4, REP4)

/* One column with per-tap range checks (kernels wider than CHK_KW_MAX). */
static void conv_col(const nne_conv3d_row *a, int64_t x) {
    __m256 acc[1];
    conv_load(a, x, acc, 1, 1);
    const int64_t x0 = x * a->sw - a->pw;
    for (int64_t ic = 0; ic < a->c_in; ic++) {
        for (int kd = 0; kd < a->nkd; kd++) {
            for (int kh = 0; kh < a->nkh; kh++) {
                const float *s = a->src + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;
                const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;
                for (int kw = 0; kw < a->kw; kw++) {
                    const int64_t xi = x0 + kw;
                    if (xi < 0 || xi >= a->win) continue;
                    acc[0] = _mm256_fmadd_ps(_mm256_loadu_ps(w + kw * NNE_CONV_OCB),
                                             _mm256_broadcast_ss(s + xi), acc[0]);
                }
            }
        }
    }
    conv_store(a, x, acc, 1);
}

/* Covers the row with tiles of nx columns from x = 0; tiles inside the interior [lo, hi) run
 * unchecked, the others (padding, or a last tile running past the row end) checked. Tiles
 * never overlap: with `accumulate` a column must be read and written exactly once. The
 * width (12, 8 or 4) is the one computing the fewest wasted columns, weighted by speed. */
/* The width estimate favours 12 (fastest per column); 8 wins when it computes clearly
 * fewer columns (rows of 16, 32, 40 ...), 4 only for very short rows. */
static void conv3d_row_avx2(const nne_conv3d_row *a) {
    if (a->kw > CHK_KW_MAX) {
        for (int64_t x = 0; x < a->wout; x++)
            conv_col(a, x);
        return;
    }
    const int64_t lo = (a->pw + a->sw - 1) / a->sw; /* interior: all kw taps inside [0, win) */
    const int64_t lim = a->win - a->kw + a->pw;
    const int64_t hi = lim < 0 ? 0 : lim / a->sw + 1; /* may exceed wout (padded rows) */
    const int64_t wo = a->wout;
    /* Tile width: least estimated cost, columns computed x relative cost per column. */
    static const int widths[3] = {12, 8, 4}, cost[3] = {10, 11, 16};
    int nx = 12;
    int64_t best = INT64_MAX;
    for (int i = 0; i < 3; i++) {
        const int64_t c = (wo + widths[i] - 1) / widths[i] * widths[i] * cost[i];
        if (c < best) {
            best = c;
            nx = widths[i];
        }
    }
    void (*fast)(const nne_conv3d_row *, int64_t, int);
    void (*chk)(const nne_conv3d_row *, int64_t, int);
    if (nx == 12) {
        fast = a->sw == 1 ? conv_tile12_s1 : a->sw == 2 ? conv_tile12_s2 : conv_tile12_sn;
        chk = conv_tile12_chk;
    } else if (nx == 8) {
        fast = a->sw == 1 ? conv_tile8_s1 : a->sw == 2 ? conv_tile8_s2 : conv_tile8_sn;
        chk = conv_tile8_chk;
    } else {
        fast = conv_tile4_sn;
        chk = conv_tile4_chk;
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

/* Rows per full gemm tile: 6 x 2 ymm accumulators + 2 source vectors + 1 weight < 16. */
#define GEMM_JB 6

/* Rows j0..j0+jb-1 (jb == 6 or 1), 16 columns from i; accumulators are register locals. */
#define GEMM_DECL(j) __m256 x##j = _mm256_set1_ps(bias ? bias[j] : 0.0f), y##j = x##j;
#define GEMM_FMA(j)                                                                                \
    {                                                                                              \
        const __m256 wv = _mm256_broadcast_ss(wk + (j)*w_js);                                      \
        x##j = _mm256_fmadd_ps(wv, s0, x##j);                                                      \
        y##j = _mm256_fmadd_ps(wv, s1, y##j);                                                      \
    }
#define GEMM_STORE(j)                                                                              \
    _mm256_storeu_ps(dst + (j)*dst_rs + i, x##j);                                                  \
    _mm256_storeu_ps(dst + (j)*dst_rs + i + 8, y##j);
#define REP6(M) M(0) M(1) M(2) M(3) M(4) M(5)
#define REP1(M) M(0)
#define GEMM_TILE_FN(name, REP)                                                                    \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(GEMM_DECL)                                                                             \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const __m256 s0 = _mm256_loadu_ps(src + k * src_ks + i);                               \
            const __m256 s1 = _mm256_loadu_ps(src + k * src_ks + i + 8);                           \
            const float *wk = w + k * w_ks;                                                        \
            REP(GEMM_FMA)                                                                          \
        }                                                                                          \
        REP(GEMM_STORE)                                                                            \
    }
GEMM_TILE_FN(gemm_tile6x16, REP6)
GEMM_TILE_FN(gemm_tile1x16, REP1)

/* One row j, columns [i0, i1) (i1 - i0 < 16): 8-wide where possible, then scalar. */
static void gemm_row_tail(float *restrict dst, const float *restrict src, int64_t src_ks,
                          const float *restrict w, int64_t w_ks, float b, int64_t nk, int64_t i0,
                          int64_t i1) {
    int64_t i = i0;
    for (; i + 8 <= i1; i += 8) {
        __m256 acc = _mm256_set1_ps(b);
        for (int64_t k = 0; k < nk; k++)
            acc = _mm256_fmadd_ps(_mm256_broadcast_ss(w + k * w_ks),
                                  _mm256_loadu_ps(src + k * src_ks + i), acc);
        _mm256_storeu_ps(dst + i, acc);
    }
    for (; i < i1; i++) {
        float acc = b;
        for (int64_t k = 0; k < nk; k++)
            acc = fmaf(w[k * w_ks], src[k * src_ks + i], acc);
        dst[i] = acc; /* fused like the vector paths */
    }
}

/* Tiles of 6 rows x 16 columns; with n >= 16 the last tile is aligned to the row end
 * (overlapping, recomputing identical values); shorter rows use gemm_row_tail. */
static void gemm_rows_avx2(float *restrict dst, int64_t dst_rs, const float *restrict src,
                           int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,
                           const float *restrict bias, int64_t m, int64_t nk, int64_t n) {
    for (int64_t j0 = 0; j0 < m; j0 += GEMM_JB) {
        const int jb = (int)(m - j0 < GEMM_JB ? m - j0 : GEMM_JB);
        float *d = dst + j0 * dst_rs;
        const float *wj = w + j0 * w_js;
        const float *bj = bias ? bias + j0 : NULL;
        if (n >= 16) {
            for (int64_t i = 0;; i += 16) {
                if (i + 16 > n) i = n - 16; /* overlap: same values recomputed */
                if (jb == GEMM_JB) {
                    gemm_tile6x16(d, dst_rs, src, src_ks, wj, w_ks, w_js, bj, nk, i);
                } else {
                    for (int j = 0; j < jb; j++)
                        gemm_tile1x16(d + j * dst_rs, dst_rs, src, src_ks, wj + j * w_js, w_ks,
                                      w_js, bj ? bj + j : NULL, nk, i);
                }
                if (i + 16 >= n) break;
            }
        } else {
            for (int j = 0; j < jb; j++)
                gemm_row_tail(d + j * dst_rs, src, src_ks, wj + j * w_js, w_ks, bj ? bj[j] : 0.0f,
                              nk, 0, n);
        }
    }
}

/* ---- convt_rows ------------------------------------------------------------------------ */

/* 3 groups x 2 taps x 16 columns of accumulators (a: tap 0, b: tap 1; suffix 0/1: columns
 * 0-7/8-15); per k two source loads and, per group, two weight broadcasts used right away. */
#define CT_DECL(g)                                                                                 \
    __m256 a##g##0 = _mm256_set1_ps(bias ? bias[g] : 0.0f), a##g##1 = a##g##0, b##g##0 = a##g##0,  \
           b##g##1 = a##g##0;
#define CT_FMA(g)                                                                                  \
    {                                                                                              \
        const __m256 wa = _mm256_broadcast_ss(wk + (g)*w_gs);                                      \
        a##g##0 = _mm256_fmadd_ps(wa, s0, a##g##0);                                                \
        a##g##1 = _mm256_fmadd_ps(wa, s1, a##g##1);                                                \
        const __m256 wb = _mm256_broadcast_ss(wk + (g)*w_gs + 1);                                  \
        b##g##0 = _mm256_fmadd_ps(wb, s0, b##g##0);                                                \
        b##g##1 = _mm256_fmadd_ps(wb, s1, b##g##1);                                                \
    }
/* Interleaves taps 0 and 1 of 8 columns into 16 consecutive outputs. */
#define CT_ST2(d, x, y)                                                                            \
    {                                                                                              \
        const __m256 lo = _mm256_unpacklo_ps(x, y), hi = _mm256_unpackhi_ps(x, y);                 \
        _mm256_storeu_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));                                 \
        _mm256_storeu_ps((d) + 8, _mm256_permute2f128_ps(lo, hi, 0x31));                           \
    }
#define CT_STORE(g)                                                                                \
    CT_ST2(dst + (g)*dst_rs + 2 * i, a##g##0, b##g##0)                                             \
    CT_ST2(dst + (g)*dst_rs + 2 * i + 16, a##g##1, b##g##1)
/* The same with non-temporal stores where the 32 outputs are 32-byte aligned. */
#define CT_ST2_NT(d, x, y)                                                                         \
    {                                                                                              \
        const __m256 lo = _mm256_unpacklo_ps(x, y), hi = _mm256_unpackhi_ps(x, y);                 \
        _mm256_stream_ps(d, _mm256_permute2f128_ps(lo, hi, 0x20));                                 \
        _mm256_stream_ps((d) + 8, _mm256_permute2f128_ps(lo, hi, 0x31));                           \
    }
#define CT_STORE_NT(g)                                                                             \
    if (((uintptr_t)(dst + (g)*dst_rs + 2 * i) & 31) == 0) {                                       \
        CT_ST2_NT(dst + (g)*dst_rs + 2 * i, a##g##0, b##g##0)                                      \
        CT_ST2_NT(dst + (g)*dst_rs + 2 * i + 16, a##g##1, b##g##1)                                 \
    } else {                                                                                       \
        CT_STORE(g)                                                                                \
    }
#define REP3(M) M(0) M(1) M(2)
#define CONVT_TILE_FN(name, REP, STORE)                                                            \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(CT_DECL)                                                                               \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const __m256 s0 = _mm256_loadu_ps(src + k * src_ks + i);                               \
            const __m256 s1 = _mm256_loadu_ps(src + k * src_ks + i + 8);                           \
            const float *wk = w + k * w_ks;                                                        \
            REP(CT_FMA)                                                                            \
        }                                                                                          \
        REP(STORE)                                                                                 \
    }
#define REP2(M) M(0) M(1)
CONVT_TILE_FN(convt_tile3x16, REP3, CT_STORE)
CONVT_TILE_FN(convt_tile2x16, REP2, CT_STORE)
CONVT_TILE_FN(convt_tile1x16, REP1, CT_STORE)
CONVT_TILE_FN(convt_tile3x16_nt, REP3, CT_STORE_NT)
CONVT_TILE_FN(convt_tile2x16_nt, REP2, CT_STORE_NT)
CONVT_TILE_FN(convt_tile1x16_nt, REP1, CT_STORE_NT)

/* Narrow rows (the deep levels: 8 or 4 input columns): 6 groups x 2 taps x 8 columns (one
 * ymm each) or x 4 columns (one xmm each). */
#define CTN_DECL(g) V a##g = SET1(bias ? bias[g] : 0.0f), b##g = a##g;
#define CTN_FMA(g)                                                                                 \
    a##g = FMADD(BCAST(wk + (g)*w_gs), s0, a##g);                                                  \
    b##g = FMADD(BCAST(wk + (g)*w_gs + 1), s0, b##g);
#define CONVT_NARROW_FN(name, REP, STORE)                                                          \
    static void name(float *restrict dst, int64_t dst_rs, const float *restrict src,               \
                     int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,          \
                     const float *restrict bias, int64_t nk, int64_t i) {                          \
        REP(CTN_DECL)                                                                              \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const V s0 = LOAD(src + k * src_ks + i);                                               \
            const float *wk = w + k * w_ks;                                                        \
            REP(CTN_FMA)                                                                           \
        }                                                                                          \
        REP(STORE)                                                                                 \
    }
#define V __m256
#define SET1 _mm256_set1_ps
#define FMADD _mm256_fmadd_ps
#define BCAST _mm256_broadcast_ss
#define LOAD _mm256_loadu_ps
#define CTN_ST8(g) CT_ST2(dst + (g)*dst_rs + 2 * i, a##g, b##g)
CONVT_NARROW_FN(convt_tile6x8, REP6, CTN_ST8)
CONVT_NARROW_FN(convt_tile1x8, REP1, CTN_ST8)
#undef V
#undef SET1
#undef FMADD
#undef BCAST
#undef LOAD
#define V __m128
#define SET1 _mm_set1_ps
#define FMADD _mm_fmadd_ps
#define BCAST _mm_broadcast_ss
#define LOAD _mm_loadu_ps
#define CTN_ST4(g)                                                                                 \
    _mm_storeu_ps(dst + (g)*dst_rs + 2 * i, _mm_unpacklo_ps(a##g, b##g));                          \
    _mm_storeu_ps(dst + (g)*dst_rs + 2 * i + 4, _mm_unpackhi_ps(a##g, b##g));
CONVT_NARROW_FN(convt_tile6x4, REP6, CTN_ST4)
CONVT_NARROW_FN(convt_tile1x4, REP1, CTN_ST4)
#undef V
#undef SET1
#undef FMADD
#undef BCAST
#undef LOAD

/* Output groups at least this many floats apart (the output volume per channel: 1 MiB and
 * more, the two largest decoder levels, whose outputs exceed the caches) are written with
 * non-temporal stores: they skip reading each line before writing it, about a fifth of the
 * time of those layers. Smaller outputs stay cached for the convolution that reads them. */
#ifndef CONVT_STREAM_RS
#define CONVT_STREAM_RS (256 << 10)
#endif

typedef void (*convt_tile_fn)(float *restrict, int64_t, const float *restrict, int64_t,
                              const float *restrict, int64_t, int64_t, const float *restrict,
                              int64_t, int64_t);

/* s == 2: column tiles of 16 (3 groups), 8 or 4 (6 groups) by the row width, the last one
 * aligned to the row end (recomputing identical values); rows shorter than 4 and other
 * strides column by column. */
static void convt_rows_avx2(float *restrict dst, int64_t dst_rs, const float *restrict src,
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
    const int64_t nx = n >= 16 ? 16 : n >= 8 ? 8 : 4; /* columns per tile */
    const int gt = nx == 16 ? 3 : 6;                   /* groups per full tile */
    const int nt = nx == 16 && dst_rs >= CONVT_STREAM_RS;
    const convt_tile_fn full = nt         ? convt_tile3x16_nt
                               : nx == 16 ? convt_tile3x16
                               : nx == 8  ? convt_tile6x8
                                          : convt_tile6x4;
    const convt_tile_fn one = nt         ? convt_tile1x16_nt
                              : nx == 16 ? convt_tile1x16
                              : nx == 8  ? convt_tile1x8
                                         : convt_tile1x4;
    for (int64_t g0 = 0; g0 < m; g0 += gt) {
        const int gb = (int)(m - g0 < gt ? m - g0 : gt);
        float *d = dst + g0 * dst_rs;
        const float *wg = w + g0 * w_gs;
        const float *bg = bias ? bias + g0 : NULL;
        for (int64_t i = 0;; i += nx) {
            if (i + nx > n) i = n - nx; /* overlap: same values recomputed */
            if (gb == gt) {
                full(d, dst_rs, src, src_ks, wg, w_ks, w_gs, bg, nk, i);
            } else if (gb == 2 && nx == 16) { /* 8 accumulators: two single tiles' 4 each */
                (nt ? convt_tile2x16_nt : convt_tile2x16)(d, dst_rs, src, src_ks, wg, w_ks, w_gs,
                                                          bg, nk, i);
            } else {
                for (int g = 0; g < gb; g++)
                    one(d + g * dst_rs, dst_rs, src, src_ks, wg + g * w_gs, w_ks, w_gs,
                        bg ? bg + g : NULL, nk, i);
            }
            if (i + nx >= n) break;
        }
    }
    if (nt) _mm_sfence(); /* order the streamed stores before the pool's barrier */
}

/* ---- convt_s2 -------------------------------------------------------------------------- */

/* The 8 taps of one output channel are the lanes: per input channel, one weight vector per
 * channel of the tile and one broadcast input value per column (3 channels x 4 columns: 12
 * accumulators, 3 loads + 4 broadcasts per 12 FMAs, whatever the row width). Each
 * accumulator holds the tap pairs (a, b) = 0..3 of one column as 64-bit lanes, so a 4 x 4
 * transpose of 64-bit lanes gives, per (a, b), the 8 consecutive outputs of the 4 columns. */
#define CS_DECL(g)                                                                                 \
    __m256 c##g##0 = _mm256_set1_ps(bias ? bias[g] : 0.0f), c##g##1 = c##g##0, c##g##2 = c##g##0, \
           c##g##3 = c##g##0;
#define CS_LOADW(g) const __m256 w##g = _mm256_loadu_ps(wk + (g)*8);
#define CS_FMA(g, j) c##g##j = _mm256_fmadd_ps(w##g, sv, c##g##j);
#define CS_COL(G, j)                                                                               \
    {                                                                                              \
        const __m256 sv = _mm256_broadcast_ss(sk + (j));                                           \
        G(CS_FMA, j)                                                                               \
    }
#define CS_STORE(g)                                                                                \
    {                                                                                              \
        const __m256d a0 = _mm256_castps_pd(c##g##0), a1 = _mm256_castps_pd(c##g##1);             \
        const __m256d a2 = _mm256_castps_pd(c##g##2), a3 = _mm256_castps_pd(c##g##3);             \
        const __m256d t0 = _mm256_unpacklo_pd(a0, a1), t1 = _mm256_unpackhi_pd(a0, a1);           \
        const __m256d t2 = _mm256_unpacklo_pd(a2, a3), t3 = _mm256_unpackhi_pd(a2, a3);           \
        float *d = dst + (g)*dst_cs + 2 * x;                                                       \
        _mm256_storeu_ps(d, _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x20)));               \
        _mm256_storeu_ps(d + dst_hs, _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x20)));      \
        _mm256_storeu_ps(d + dst_ds, _mm256_castpd_ps(_mm256_permute2f128_pd(t0, t2, 0x31)));      \
        _mm256_storeu_ps(d + dst_ds + dst_hs,                                                      \
                         _mm256_castpd_ps(_mm256_permute2f128_pd(t1, t3, 0x31)));                  \
    }
#define CS_G3(M, ...) M(0, __VA_ARGS__) M(1, __VA_ARGS__) M(2, __VA_ARGS__)
#define CS_G2(M, ...) M(0, __VA_ARGS__) M(1, __VA_ARGS__)
#define CS_G1(M, ...) M(0, __VA_ARGS__)
#define CS_R3(M) M(0) M(1) M(2)
#define CS_R2(M) M(0) M(1)
#define CS_R1(M) M(0)
#define CONVT_S2_TILE_FN(name, G, R)                                                               \
    static void name(float *restrict dst, int64_t dst_cs, int64_t dst_ds, int64_t dst_hs,          \
                     const float *restrict src, int64_t src_ks, const float *restrict w,           \
                     int64_t w_ks, const float *restrict bias, int64_t nk, int64_t x) {            \
        R(CS_DECL)                                                                                 \
        for (int64_t k = 0; k < nk; k++) {                                                         \
            const float *wk = w + k * w_ks, *sk = src + k * src_ks + x;                            \
            R(CS_LOADW)                                                                            \
            CS_COL(G, 0) CS_COL(G, 1) CS_COL(G, 2) CS_COL(G, 3)                                    \
        }                                                                                          \
        R(CS_STORE)                                                                                \
    }
CONVT_S2_TILE_FN(convt_s2_tile3, CS_G3, CS_R3)
CONVT_S2_TILE_FN(convt_s2_tile2, CS_G2, CS_R2)
CONVT_S2_TILE_FN(convt_s2_tile1, CS_G1, CS_R1)

/* Tiles of 3 (then 2 or 1) channels x 4 columns, the last column tile aligned to the row end
 * (recomputing identical values); rows shorter than 4 element by element. */
static void convt_s2_avx2(float *restrict dst, int64_t dst_cs, int64_t dst_ds, int64_t dst_hs,
                          const float *restrict src, int64_t src_ks, const float *restrict w,
                          int64_t w_ks, const float *restrict bias, int64_t m, int64_t nk,
                          int64_t n) {
    if (n < 4) {
        for (int64_t g = 0; g < m; g++)
            for (int t = 0; t < 8; t++) {
                float *d = dst + g * dst_cs + (t >> 2) * dst_ds + (t >> 1 & 1) * dst_hs + (t & 1);
                for (int64_t x = 0; x < n; x++) {
                    float acc = bias ? bias[g] : 0.0f;
                    for (int64_t k = 0; k < nk; k++)
                        acc = fmaf(w[k * w_ks + g * 8 + t], src[k * src_ks + x], acc);
                    d[2 * x] = acc;
                }
            }
        return;
    }
    for (int64_t g0 = 0; g0 < m; g0 += 3) {
        const int64_t gb = NNE_MIN(m - g0, (int64_t)3);
        float *d = dst + g0 * dst_cs;
        const float *wg = w + g0 * 8, *bg = bias ? bias + g0 : NULL;
        for (int64_t x = 0;; x += 4) {
            if (x + 4 > n) x = n - 4; /* overlap: same values recomputed */
            if (gb == 3)
                convt_s2_tile3(d, dst_cs, dst_ds, dst_hs, src, src_ks, wg, w_ks, bg, nk, x);
            else if (gb == 2)
                convt_s2_tile2(d, dst_cs, dst_ds, dst_hs, src, src_ks, wg, w_ks, bg, nk, x);
            else
                convt_s2_tile1(d, dst_cs, dst_ds, dst_hs, src, src_ks, wg, w_ks, bg, nk, x);
            if (x + 4 >= n) break;
        }
    }
}

/* ---- im2col_s2 ------------------------------------------------------------------------- */

/* 8 columns per step from 16 input values: in-lane even/odd shuffles and a permute give the
 * even (t1) and odd (t2) columns in order; t0 is the odd vector moved up one lane with the
 * previous odd value (src[2 x - 1]) in lane 0. The tail goes column by column as in the
 * reference. */
static void im2col_s2_avx2(float *restrict t0, float *restrict t1, float *restrict t2,
                           const float *restrict src, int64_t w, int64_t n) {
    const __m256i up1 = _mm256_setr_epi32(0, 0, 1, 2, 3, 4, 5, 6);
    int64_t x = 0;
    for (; x + 8 <= n && 2 * x + 16 <= w; x += 8) {
        const __m256 a = _mm256_loadu_ps(src + 2 * x), b = _mm256_loadu_ps(src + 2 * x + 8);
        const __m256 e = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0))),
            _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 o = _mm256_castpd_ps(_mm256_permute4x64_pd(
            _mm256_castps_pd(_mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1))),
            _MM_SHUFFLE(3, 1, 2, 0)));
        const __m256 prev = _mm256_set1_ps(x > 0 ? src[2 * x - 1] : 0.0f);
        _mm256_storeu_ps(t0 + x, _mm256_blend_ps(_mm256_permutevar8x32_ps(o, up1), prev, 1));
        _mm256_storeu_ps(t1 + x, e);
        _mm256_storeu_ps(t2 + x, o);
    }
    for (; x < n; x++) {
        t0[x] = x > 0 && 2 * x - 1 < w ? src[2 * x - 1] : 0.0f;
        t1[x] = 2 * x < w ? src[2 * x] : 0.0f;
        t2[x] = 2 * x + 1 < w ? src[2 * x + 1] : 0.0f;
    }
}

/* ---- bias_rows ------------------------------------------------------------------------- */

/* 8 columns per step; with `stream`, scalar columns up to a 32-byte boundary of dst, then
 * non-temporal stores, and an sfence at the end so the streamed rows are ordered before the
 * pool's barrier. */
static void bias_rows_avx2(float *restrict dst, int64_t dst_rs, const float *restrict src,
                           int64_t src_rs, const float *restrict bias, int64_t m, int64_t n,
                           int stream) {
    for (int64_t r = 0; r < m; r++) {
        float *d = dst + r * dst_rs;
        const float *s = src + r * src_rs;
        const float b = bias[r];
        const __m256 vb = _mm256_set1_ps(b);
        int64_t i = 0;
        if (stream) {
            for (; i < n && ((uintptr_t)(d + i) & 31) != 0; i++) d[i] = s[i] + b;
            for (; i + 8 <= n; i += 8)
                _mm256_stream_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(s + i), vb));
        } else {
            for (; i + 8 <= n; i += 8)
                _mm256_storeu_ps(d + i, _mm256_add_ps(_mm256_loadu_ps(s + i), vb));
        }
        for (; i < n; i++) d[i] = s[i] + b;
    }
    if (stream) _mm_sfence();
}

/* ---- instance-norm reductions and apply ------------------------------------------------ */

/* Horizontal sum of 4 doubles ((v0 + v2) + (v1 + v3)). */
static double hsum_pd(__m256d v) {
    __m128d lo = _mm256_castpd256_pd128(v), hi = _mm256_extractf128_pd(v, 1);
    lo = _mm_add_pd(lo, hi);
    return _mm_cvtsd_f64(_mm_add_sd(lo, _mm_unpackhi_pd(lo, lo)));
}

/* Two accumulators of 4 doubles each (8 floats converted per step), reduced at the end:
 * a fixed order, so a given chunk always sums to the same value. */
static double sum_f64_avx2(const float *x, int64_t n) {
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        s0 = _mm256_add_pd(s0, _mm256_cvtps_pd(_mm_loadu_ps(x + i)));
        s1 = _mm256_add_pd(s1, _mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)));
    }
    double s = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < n; i++)
        s += (double)x[i];
    return s;
}

/* Same layout as sum_f64_avx2, with (x - mean)^2 fused into the double accumulators. */
static double sumsq_dev_f64_avx2(const float *x, int64_t n, double mean) {
    const __m256d m = _mm256_set1_pd(mean);
    __m256d s0 = _mm256_setzero_pd(), s1 = _mm256_setzero_pd();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256d d0 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i)), m);
        __m256d d1 = _mm256_sub_pd(_mm256_cvtps_pd(_mm_loadu_ps(x + i + 4)), m);
        s0 = _mm256_fmadd_pd(d0, d0, s0);
        s1 = _mm256_fmadd_pd(d1, d1, s1);
    }
    double s = hsum_pd(_mm256_add_pd(s0, s1));
    for (; i < n; i++) {
        const double d = (double)x[i] - mean;
        s += d * d;
    }
    return s;
}

/* slope 1 when LeakyReLU is off keeps one branch-free loop for both cases. */
static void norm_apply_avx2(float *x, int64_t n, float m_hi, float m_lo, float scale, float shift,
                            int leaky, float slope) {
    const __m256 vh = _mm256_set1_ps(m_hi), vl = _mm256_set1_ps(m_lo);
    const __m256 vs = _mm256_set1_ps(scale), vb = _mm256_set1_ps(shift);
    const __m256 vk = _mm256_set1_ps(leaky ? slope : 1.0f), z = _mm256_setzero_ps();
    int64_t i = 0;
    for (; i + 8 <= n; i += 8) {
        __m256 d = _mm256_sub_ps(_mm256_sub_ps(_mm256_loadu_ps(x + i), vh), vl);
        __m256 y = _mm256_fmadd_ps(d, vs, vb);
        y = _mm256_blendv_ps(y, _mm256_mul_ps(y, vk), _mm256_cmp_ps(y, z, _CMP_LT_OQ));
        _mm256_storeu_ps(x + i, y);
    }
    for (; i < n; i++) {
        float y = ((x[i] - m_hi) - m_lo) * scale + shift;
        if (leaky && y < 0.0f) y *= slope;
        x[i] = y;
    }
}

/* ---- Winograd F(2x2x2, 3x3x3) ---------------------------------------------------------- */

#define WINO_ROW 18 /* input columns of one group's patch row: 2 * 8 tiles + 2 */
/* Groups are transformed along the row one after the other, each adding one cache line per
 * input row (and per output row) to what the previous one touched: the transforms prefetch
 * that line for the group WINO_PF_GROUPS ahead (the hardware prefetchers cannot follow the
 * many row streams of a block). */
#define WINO_PF_GROUPS 3
#define WINO_PF_IN (WINO_ROW - 1 + 2 * NNE_WINO_GT * WINO_PF_GROUPS)
#define WINO_PF_OUT (2 * NNE_WINO_GT * WINO_PF_GROUPS)

/* The patch row of a plane or row off the volume (read with or without masks). */
static const float wino_zero_row[WINO_ROW];

/* The four vectors of one patch row the w transform needs: columns 0-7, 8-15, 2-9, 10-17
 * (suffixes 0-3 of the name Q). */
#define WI_LOAD(R, K, OFF)                                                                         \
    (edge ? _mm256_maskload_ps((R) + (OFF), mk[K]) : _mm256_loadu_ps((R) + (OFF)))
#define WI_LD(Q, R)                                                                                \
    const __m256 Q##0 = WI_LOAD(R, 0, 0), Q##1 = WI_LOAD(R, 1, 8);                                 \
    const __m256 Q##2 = WI_LOAD(R, 2, 2), Q##3 = WI_LOAD(R, 3, 10);
/* D = X OP Y over the four vectors. */
#define WI_OP(D, X, OP, Y)                                                                         \
    const __m256 D##0 = OP(X##0, Y##0), D##1 = OP(X##1, Y##1), D##2 = OP(X##2, Y##2),              \
                 D##3 = OP(X##3, Y##3);
/* The w transform of one d- and h-transformed row H (four vectors) and the stores of its four
 * positions from P. In-lane shuffles give the even and odd columns with the tiles in lane
 * order 0 1 4 5 2 3 6 7 (NNE_WINO_LANE_TILE). */
#define WI_W(H, P)                                                                                 \
    {                                                                                              \
        const __m256 e = _mm256_shuffle_ps(H##0, H##1, _MM_SHUFFLE(2, 0, 2, 0));                   \
        const __m256 o = _mm256_shuffle_ps(H##0, H##1, _MM_SHUFFLE(3, 1, 3, 1));                   \
        const __m256 e2 = _mm256_shuffle_ps(H##2, H##3, _MM_SHUFFLE(2, 0, 2, 0));                  \
        const __m256 o2 = _mm256_shuffle_ps(H##2, H##3, _MM_SHUFFLE(3, 1, 3, 1));                  \
        _mm256_storeu_ps(v + ((P) + 0) * v_ps, _mm256_sub_ps(e, e2));                              \
        _mm256_storeu_ps(v + ((P) + 1) * v_ps, _mm256_add_ps(o, e2));                              \
        _mm256_storeu_ps(v + ((P) + 2) * v_ps, _mm256_sub_ps(e2, o));                              \
        _mm256_storeu_ps(v + ((P) + 3) * v_ps, _mm256_sub_ps(o, o2));                              \
    }
/* Patch row J of the d-transformed plane Q = plane I1 OP plane I2. */
#define WI_D(Q, J, I1, OP, I2)                                                                     \
    WI_LD(Q##x, row[I1][J])                                                                        \
    WI_LD(Q##y, row[I2][J])                                                                        \
    WI_OP(Q, Q##x, OP, Q##y)
/* All positions PD * 16 + ..: the d combination of two planes per row, then the h transform
 * of those rows, each result row going through the w transform. Rows are combined in the
 * order that keeps the fewest vectors alive. */
#define WI_PD(PD, I1, OP, I2)                                                                      \
    {                                                                                              \
        WI_D(r0, 0, I1, OP, I2)                                                                    \
        WI_D(r2, 2, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r0, _mm256_sub_ps, r2)                                                        \
            WI_W(h, (PD)*16 + 0)                                                                   \
        }                                                                                          \
        WI_D(r1, 1, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r1, _mm256_add_ps, r2)                                                        \
            WI_W(h, (PD)*16 + 4)                                                                   \
        }                                                                                          \
        {                                                                                          \
            WI_OP(h, r2, _mm256_sub_ps, r1)                                                        \
            WI_W(h, (PD)*16 + 8)                                                                   \
        }                                                                                          \
        WI_D(r3, 3, I1, OP, I2)                                                                    \
        {                                                                                          \
            WI_OP(h, r1, _mm256_sub_ps, r3)                                                        \
            WI_W(h, (PD)*16 + 12)                                                                  \
        }                                                                                          \
    }

/* One channel: the 16 patch rows are located first (input rows; the zero row for rows off
 * the volume), then each of the four d positions combines two planes row by row and runs
 * the h and w transforms in registers, storing the 64 positions directly. With `edge` (a
 * group crossing the left or right end of the rows) every load is masked to the columns
 * inside [0, w) (mk[k] for the load at column offset 0, 8, 2, 10), so no padded copy is
 * made; masked-off lanes are never accessed. Also prefetches, per row, the cache line the
 * group WINO_PF_GROUPS ahead adds (wrapping to the next tile row at the row end). */
static inline __attribute__((always_inline)) void wino_in_channel(const nne_wino_in *a,
                                                                   const float *s, float *v,
                                                                   const int edge,
                                                                   const __m256i mk[4]) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int64_t w16 = (a->w + 15) / 16 * 16; /* columns of a tile row's groups */
    const int64_t pf = x0 + WINO_PF_IN < a->w ? x0 + WINO_PF_IN : x0 + WINO_PF_IN - w16;
    const int pf_dy = x0 + WINO_PF_IN < a->w ? 0 : 2;
    const float *row[4][4]; /* [z][y]: column x0 of each patch row */
    for (int i = 0; i < 4; i++) {
        for (int j = 0; j < 4; j++) {
            const int64_t z = a->z0 + i, y = a->y0 + j;
            if (z < 0 || z >= a->d || y < 0 || y >= a->h) {
                row[i][j] = wino_zero_row;
                continue;
            }
            const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
            if (pf >= 0 && pf < a->w && y + pf_dy < a->h)
                _mm_prefetch((const char *)(base + pf_dy * a->w + pf), _MM_HINT_T0);
            /* column x0 may be -1: formed as an address, only read through masks */
            row[i][j] = (const float *)((uintptr_t)base + (uintptr_t)x0 * sizeof(float));
        }
    }
    WI_PD(0, 0, _mm256_sub_ps, 2)
    WI_PD(1, 1, _mm256_add_ps, 2)
    WI_PD(2, 2, _mm256_sub_ps, 1)
    WI_PD(3, 1, _mm256_sub_ps, 3)
}

/* mk[k]: the lanes of a load at column x0 + offs[k] that lie inside [0, w). */
static inline void col_masks_avx2(__m256i *mk, const int *offs, int n, int64_t x0, int64_t w) {
    for (int k = 0; k < n; k++) {
        const __m256i col = _mm256_add_epi32(_mm256_set1_epi32((int)(x0 + offs[k])),
                                             _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
        const __m256i ge0 = _mm256_cmpgt_epi32(col, _mm256_set1_epi32(-1));
        const __m256i ltw = _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), col);
        mk[k] = _mm256_and_si256(ge0, ltw);
    }
}

static void wino_in_avx2(const nne_wino_in *a) {
    const int64_t x0 = a->x0;
    const int edge = !(x0 >= 0 && x0 + WINO_ROW <= a->w);
    __m256i mk[4]; /* lanes of the loads at column offsets 0, 8, 2, 10 inside [0, w) */
    static const int offs[4] = {0, 8, 2, 10};
    col_masks_avx2(mk, offs, 4, x0, a->w);
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        float *v = a->v + c * a->v_cs;
        if (edge)
            wino_in_channel(a, s, v, 1, mk);
        else
            wino_in_channel(a, s, v, 0, mk);
    }
}

/* GEMM register tile: 4 rows x NV vectors of 8 tiles; accumulators are separate locals. Per
 * input channel the NV tile vectors are loaded once and each row's weight is broadcast right
 * before its NV FMAs: 12 accumulators + 3 tile vectors + 1 weight = all 16 registers, so the
 * compiler keeps the tile vectors in registers instead of reloading them as FMA operands. */
#define WG_DECL(r, q) __m256 c##r##q = acc ? _mm256_loadu_ps(m + (r)*m_cs + 8 * (q)) : zero;
#define WG_STORE(r, q) _mm256_storeu_ps(m + (r)*m_cs + 8 * (q), c##r##q);
#define WG_ROWS(M, q) M(0, q) M(1, q) M(2, q) M(3, q)
#define WG_V1(M) WG_ROWS(M, 0)
#define WG_V2(M) WG_ROWS(M, 0) WG_ROWS(M, 1)
#define WG_V3(M) WG_ROWS(M, 0) WG_ROWS(M, 1) WG_ROWS(M, 2)
#define WG_LOADV(q) const __m256 v##q = _mm256_loadu_ps(vk + 8 * (q));
#define WG_LOADV1 WG_LOADV(0)
#define WG_LOADV2 WG_LOADV(0) WG_LOADV(1)
#define WG_LOADV3 WG_LOADV(0) WG_LOADV(1) WG_LOADV(2)
#define WG_F1(r) c##r##0 = _mm256_fmadd_ps(ur, v0, c##r##0);
#define WG_F2(r) WG_F1(r) c##r##1 = _mm256_fmadd_ps(ur, v1, c##r##1);
#define WG_F3(r) WG_F2(r) c##r##2 = _mm256_fmadd_ps(ur, v2, c##r##2);
#define WG_ROW(F, r)                                                                               \
    {                                                                                              \
        const __m256 ur = _mm256_broadcast_ss(uk + (r));                                           \
        F(r)                                                                                       \
    }
#define WG_FMA1 WG_ROW(WG_F1, 0) WG_ROW(WG_F1, 1) WG_ROW(WG_F1, 2) WG_ROW(WG_F1, 3)
#define WG_FMA2 WG_ROW(WG_F2, 0) WG_ROW(WG_F2, 1) WG_ROW(WG_F2, 2) WG_ROW(WG_F2, 3)
#define WG_FMA3 WG_ROW(WG_F3, 0) WG_ROW(WG_F3, 1) WG_ROW(WG_F3, 2) WG_ROW(WG_F3, 3)
#define WINO_GEMM_TILE_FN(name, REPV, LOADV, FMAS)                                                 \
    static void name(float *m, int64_t m_cs, const float *u, const float *v, int64_t v_cs,         \
                     int64_t c_in, int acc) {                                                      \
        const __m256 zero = _mm256_setzero_ps();                                                   \
        REPV(WG_DECL)                                                                              \
        for (int64_t ic = 0; ic < c_in; ic++) {                                                    \
            const float *vk = v + ic * v_cs;                                                       \
            const float *uk = u + ic * NNE_WINO_OCR;                                               \
            LOADV                                                                                  \
            FMAS                                                                                   \
        }                                                                                          \
        REPV(WG_STORE)                                                                             \
    }
WINO_GEMM_TILE_FN(wino_tile4x24, WG_V3, WG_LOADV3, WG_FMA3)
WINO_GEMM_TILE_FN(wino_tile4x16, WG_V2, WG_LOADV2, WG_FMA2)
WINO_GEMM_TILE_FN(wino_tile4x8, WG_V1, WG_LOADV1, WG_FMA1)

/* Per position and row block, the tiles in chunks of 24 (then 16 or 8). */
static void wino_gemm_avx2(const nne_wino_gemm *a) {
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

/* Stores the 16 voxels of one output row from column x0 (at most n of them): e holds the even
 * and o the odd columns of the tiles in lane order 0 1 4 5 2 3 6 7, so the in-lane unpacks
 * already give columns 0-7 and 8-15 in order. */
static inline void store_row16(float *d, __m256 e, __m256 o, int64_t n) {
    const __m256 r0 = _mm256_unpacklo_ps(e, o), r1 = _mm256_unpackhi_ps(e, o);
    if (n >= 16) {
        _mm256_storeu_ps(d, r0);
        _mm256_storeu_ps(d + 8, r1);
        return;
    }
    float tmp[16];
    _mm256_storeu_ps(tmp, r0);
    _mm256_storeu_ps(tmp + 8, r1);
    for (int64_t x = 0; x < n; x++)
        d[x] = tmp[x];
}

/* M at position (i, j, l) of this channel. */
#define WO_M(i, j, l) _mm256_loadu_ps(m + ((i)*16 + (j)*4 + (l)) * m_ps)
/* One w position l of both output rows (b = 0, 1) of output plane a: the d reduction of
 * the four patch rows (a = 0: planes 0 + 1 + 2; a = 1: planes 1 - 2 - 3), then the h one. */
#define WO_L(a, l)                                                                                 \
    {                                                                                              \
        __m256 q[4];                                                                               \
        for (int j = 0; j < 4; j++)                                                                \
            q[j] = (a) == 0 ? _mm256_add_ps(_mm256_add_ps(WO_M(0, j, l), WO_M(1, j, l)),           \
                                            WO_M(2, j, l))                                         \
                            : _mm256_sub_ps(_mm256_sub_ps(WO_M(1, j, l), WO_M(2, j, l)),           \
                                            WO_M(3, j, l));                                        \
        t0##l = _mm256_add_ps(_mm256_add_ps(q[0], q[1]), q[2]);                                    \
        t1##l = _mm256_sub_ps(_mm256_sub_ps(q[1], q[2]), q[3]);                                    \
    }

/* Channel by channel and output plane by plane: the d and h reductions per w position keep
 * 8 + 4 vectors alive, the w reduction, the bias and the interleaving stores follow; no
 * intermediate buffer. Rows past the volume's end are skipped, columns clipped. */
static void wino_out_avx2(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)2 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    for (int64_t c = 0; c < a->nc; c++) {
        const float *m = a->m + c * a->m_cs;
        const __m256 bias = _mm256_set1_ps(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        for (int i = 0; i < 2 && a->z0 + i < a->d; i++) {
            __m256 t00, t01, t02, t03, t10, t11, t12, t13; /* [row b][w position l] */
            if (i == 0) {
                WO_L(0, 0) WO_L(0, 1) WO_L(0, 2) WO_L(0, 3)
            } else {
                WO_L(1, 0) WO_L(1, 1) WO_L(1, 2) WO_L(1, 3)
            }
            const __m256 e0 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t00, t01), t02), bias);
            const __m256 o0 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t01, t02), t03), bias);
            const __m256 e1 = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(t10, t11), t12), bias);
            const __m256 o1 = _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(t11, t12), t13), bias);
            for (int j = 0; j < 2 && a->y0 + j < a->h; j++) {
                float *row = dst + ((a->z0 + i) * a->h + a->y0 + j) * a->w; /* column 0 */
                if (a->x0 + WINO_PF_OUT < a->w)
                    _mm_prefetch((const char *)(row + a->x0 + WINO_PF_OUT), _MM_HINT_T0);
                store_row16(row + a->x0, j == 0 ? e0 : e1, j == 0 ? o0 : o1, nx);
            }
        }
    }
}

/* ---- Winograd F(4x4x2, 3x3x3) ---------------------------------------------------------- */

/* B4^T of six vectors (cpu.h), factored into 16 operations (t and a shared). */
static inline void wino_bt4_avx2(__m256 o[6], __m256 d0, __m256 d1, __m256 d2, __m256 d3,
                                 __m256 d4, __m256 d5) {
    const __m256 t = _mm256_sub_ps(d3, d1), a = _mm256_sub_ps(d4, d2);
    const __m256 c2 = _mm256_set1_ps(2.0f), ch = _mm256_set1_ps(0.5f);
    const __m256 c15 = _mm256_set1_ps(1.5f), c25 = _mm256_set1_ps(2.5f);
    o[0] = _mm256_fmadd_ps(c15, t, _mm256_fnmadd_ps(c2, d2, _mm256_add_ps(d0, d4)));
    o[1] = _mm256_fmadd_ps(c25, d3, _mm256_fmadd_ps(ch, d2, _mm256_sub_ps(d4, d1)));
    o[2] = _mm256_fmadd_ps(ch, d3, _mm256_fnmadd_ps(c25, d2, _mm256_add_ps(d4, d1)));
    o[3] = _mm256_fmadd_ps(c2, t, a);
    o[4] = _mm256_fnmadd_ps(ch, t, a);
    o[5] = _mm256_fmadd_ps(c15, a, _mm256_fnmadd_ps(c2, d3, _mm256_add_ps(d1, d5)));
}

/* A4^T of six vectors (cpu.h). */
static inline void wino_at4_avx2(__m256 o[4], __m256 m0, __m256 m1, __m256 m2, __m256 m3,
                                 __m256 m4, __m256 m5) {
    const __m256 s12 = _mm256_add_ps(m1, m2), d12 = _mm256_sub_ps(m1, m2);
    o[0] = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(m0, s12), m3), m4);
    o[1] = _mm256_fnmadd_ps(_mm256_set1_ps(2.0f), m4,
                            _mm256_fmadd_ps(_mm256_set1_ps(0.5f), m3, d12));
    o[2] = _mm256_fmadd_ps(_mm256_set1_ps(4.0f), m4,
                           _mm256_fmadd_ps(_mm256_set1_ps(0.25f), m3, s12));
    o[3] = _mm256_add_ps(_mm256_fnmadd_ps(_mm256_set1_ps(8.0f), m4,
                                          _mm256_fmadd_ps(_mm256_set1_ps(0.125f), m3, d12)),
                         m5);
}

/* The F(4, 3) passes shared by F(4x4x2) (nw = 4 w positions) and F(4x4x4) (nw = 6): of the
 * w-transformed patch t[z][y][pw], B4^T along d in place, then B4^T along h straight into
 * positions (pd * 6 + ph) * nw + pw of v. */
static inline __attribute__((always_inline)) void wino_bt4_dh_avx2(__m256 *t, float *v,
                                                                   int64_t v_ps, const int nw) {
    const int pl = 6 * nw; /* vectors per plane */
    for (int q = 0; q < pl; q++) { /* along d: column (y, pw) = q of every plane */
        __m256 o[6];
        wino_bt4_avx2(o, t[q], t[pl + q], t[2 * pl + q], t[3 * pl + q], t[4 * pl + q],
                      t[5 * pl + q]);
        for (int pd = 0; pd < 6; pd++) t[pd * pl + q] = o[pd];
    }
    for (int pd = 0; pd < 6; pd++) { /* along h */
        for (int pw = 0; pw < nw; pw++) {
            const __m256 *tt = t + pd * pl + pw;
            __m256 o[6];
            wino_bt4_avx2(o, tt[0], tt[nw], tt[2 * nw], tt[3 * nw], tt[4 * nw], tt[5 * nw]);
            for (int ph = 0; ph < 6; ph++)
                _mm256_storeu_ps(v + ((pd * 6 + ph) * nw + pw) * v_ps, o[ph]);
        }
    }
}

/* A4^T along d of the products m (positions (pd * 6 + ph) * nw + pw) into t[a][ph][pw]. */
static inline __attribute__((always_inline)) void wino_at4_d_avx2(__m256 *t, const float *m,
                                                                  int64_t m_ps, const int nw) {
    const int pl = 6 * nw;
    for (int q = 0; q < pl; q++) { /* column (ph, pw) = q */
        __m256 o[4];
        wino_at4_avx2(o, _mm256_loadu_ps(m + q * m_ps), _mm256_loadu_ps(m + (pl + q) * m_ps),
                      _mm256_loadu_ps(m + (2 * pl + q) * m_ps),
                      _mm256_loadu_ps(m + (3 * pl + q) * m_ps),
                      _mm256_loadu_ps(m + (4 * pl + q) * m_ps),
                      _mm256_loadu_ps(m + (5 * pl + q) * m_ps));
        for (int i = 0; i < 4; i++) t[i * pl + q] = o[i];
    }
}

/* One channel of a group: the w transform of each of the 36 patch rows (even/odd shuffles as
 * in wino_in_channel, masked loads at the edges) into t[z][y][pw], then B4^T along d in place,
 * then B4^T along h straight into the 144 positions of v. */
static inline __attribute__((always_inline)) void wino4_in_channel(const nne_wino_in *a,
                                                                    const float *s, float *v,
                                                                    const int edge,
                                                                    const __m256i mk[4],
                                                                    __m256 *t) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int64_t w16 = (a->w + 15) / 16 * 16; /* columns of a tile row's groups */
    const int64_t pf = x0 + WINO_PF_IN < a->w ? x0 + WINO_PF_IN : x0 + WINO_PF_IN - w16;
    const int pf_dy = x0 + WINO_PF_IN < a->w ? 0 : 4;
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) {
            const int64_t z = a->z0 + i, y = a->y0 + j;
            const float *r = wino_zero_row;
            if (z >= 0 && z < a->d && y >= 0 && y < a->h) {
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                if (pf >= 0 && pf < a->w && y + pf_dy < a->h)
                    _mm_prefetch((const char *)(base + pf_dy * a->w + pf), _MM_HINT_T0);
                /* column x0 may be -1: formed as an address, only read through masks */
                r = (const float *)((uintptr_t)base + (uintptr_t)x0 * sizeof(float));
            }
            const __m256 q0 = WI_LOAD(r, 0, 0), q1 = WI_LOAD(r, 1, 8);
            const __m256 q2 = WI_LOAD(r, 2, 2), q3 = WI_LOAD(r, 3, 10);
            const __m256 e = _mm256_shuffle_ps(q0, q1, _MM_SHUFFLE(2, 0, 2, 0));
            const __m256 o = _mm256_shuffle_ps(q0, q1, _MM_SHUFFLE(3, 1, 3, 1));
            const __m256 e2 = _mm256_shuffle_ps(q2, q3, _MM_SHUFFLE(2, 0, 2, 0));
            const __m256 o2 = _mm256_shuffle_ps(q2, q3, _MM_SHUFFLE(3, 1, 3, 1));
            __m256 *tt = t + (i * 6 + j) * 4;
            tt[0] = _mm256_sub_ps(e, e2);
            tt[1] = _mm256_add_ps(o, e2);
            tt[2] = _mm256_sub_ps(e2, o);
            tt[3] = _mm256_sub_ps(o, o2);
        }
    }
    wino_bt4_dh_avx2(t, v, v_ps, 4);
}

static void wino4_in_avx2(const nne_wino_in *a) {
    const int64_t x0 = a->x0;
    const int edge = !(x0 >= 0 && x0 + WINO_ROW <= a->w);
    __m256i mk[4]; /* lanes of the loads at column offsets 0, 8, 2, 10 inside [0, w) */
    static const int offs[4] = {0, 8, 2, 10};
    col_masks_avx2(mk, offs, 4, x0, a->w);
    __m256 t[NNE_WINO4_NPOS]; /* [z or pd][y][pw] of one channel, 4.5 KiB */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        float *v = a->v + c * a->v_cs;
        if (edge)
            wino4_in_channel(a, s, v, 1, mk, t);
        else
            wino4_in_channel(a, s, v, 0, mk, t);
    }
}

/* Channel by channel: A4^T along d into t[a][ph][pw], then per output plane A4^T along h, the
 * w reduction, the bias and the interleaving stores of its 4 rows (clipped at the edges). */
static void wino4_out_avx2(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)2 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    __m256 t[96]; /* [a][ph][pw] of one channel, 3 KiB */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *m = a->m + c * a->m_cs;
        const __m256 bias = _mm256_set1_ps(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        wino_at4_d_avx2(t, m, m_ps, 4);
        for (int i = 0; i < 4 && a->z0 + i < a->d; i++) {
            __m256 r[4][4]; /* [output row b][w position pw] */
            for (int pw = 0; pw < 4; pw++) { /* along h */
                const __m256 *tt = t + i * 24 + pw;
                __m256 o[4];
                wino_at4_avx2(o, tt[0], tt[4], tt[8], tt[12], tt[16], tt[20]);
                for (int b = 0; b < 4; b++) r[b][pw] = o[b];
            }
            for (int b = 0; b < 4 && a->y0 + b < a->h; b++) { /* along w, bias, store */
                const __m256 e =
                    _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(r[b][0], r[b][1]), r[b][2]), bias);
                const __m256 o =
                    _mm256_add_ps(_mm256_sub_ps(_mm256_sub_ps(r[b][1], r[b][2]), r[b][3]), bias);
                float *row = dst + ((a->z0 + i) * a->h + a->y0 + b) * a->w; /* column 0 */
                if (a->x0 + WINO_PF_OUT < a->w)
                    _mm_prefetch((const char *)(row + a->x0 + WINO_PF_OUT), _MM_HINT_T0);
                store_row16(row + a->x0, e, o, nx);
            }
        }
    }
}

/* ---- Winograd F(4x4x4, 3x3x3) ---------------------------------------------------------- */

#define WINO44_ROW 34 /* input columns of one group's patch row: 4 * 8 tiles + 2 */
#define WINO44_PF_IN (WINO44_ROW - 1 + 4 * NNE_WINO_GT) /* prefetch: the next group's end */
#define WINO44_PF_OUT (4 * NNE_WINO_GT)

/* The patch row of a plane or row off the volume (read with or without masks). */
static const float wino44_zero_row[40];

/* In-lane 4x4 transpose: with a, b, c, d four 8-column vectors of a 32-column row (two tiles
 * of 4 columns each), o[k] holds column k of the tiles 0 2 4 6 (low half) and 1 3 5 7 (high
 * half), the lane order NNE_WINO44_LANE_TILE. The transpose is its own inverse: from the
 * four columns of the tiles in lane order it gives the row's 32 columns in order. */
static inline void tr4_avx2(__m256 o[4], __m256 a, __m256 b, __m256 c, __m256 d) {
    const __m256 t0 = _mm256_unpacklo_ps(a, b), t1 = _mm256_unpackhi_ps(a, b);
    const __m256 t2 = _mm256_unpacklo_ps(c, d), t3 = _mm256_unpackhi_ps(c, d);
    o[0] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(1, 0, 1, 0));
    o[1] = _mm256_shuffle_ps(t0, t2, _MM_SHUFFLE(3, 2, 3, 2));
    o[2] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(1, 0, 1, 0));
    o[3] = _mm256_shuffle_ps(t1, t3, _MM_SHUFFLE(3, 2, 3, 2));
}

/* Patch row load at column offset OFF with mask K (masked at the group's edges). */
#define W44_LOAD(R, K, OFF)                                                                        \
    (edge ? _mm256_maskload_ps((R) + (OFF), mk[K]) : _mm256_loadu_ps((R) + (OFF)))

/* One channel of a group: each of the 36 patch rows is loaded as columns 0-31 and 2-33 (eight
 * vectors), transposed in-lane into the six tile columns and transformed along w into
 * t[z][y][pw]; then B4^T along d in place and B4^T along h straight into the 216 positions
 * of v. */
static inline __attribute__((always_inline)) void wino44_in_channel(const nne_wino_in *a,
                                                                     const float *s, float *v,
                                                                     const int edge,
                                                                     const __m256i mk[8],
                                                                     __m256 *t) {
    const int64_t x0 = a->x0, v_ps = a->v_ps;
    const int64_t pf = x0 + WINO44_PF_IN;
    for (int i = 0; i < 6; i++) {
        for (int j = 0; j < 6; j++) {
            const int64_t z = a->z0 + i, y = a->y0 + j;
            const float *r = wino44_zero_row;
            if (z >= 0 && z < a->d && y >= 0 && y < a->h) {
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                if (pf < a->w) _mm_prefetch((const char *)(base + pf), _MM_HINT_T0);
                /* column x0 may be -1: formed as an address, only read through masks */
                r = (const float *)((uintptr_t)base + (uintptr_t)x0 * sizeof(float));
            }
            __m256 c[6], hi[4];
            tr4_avx2(c, W44_LOAD(r, 0, 0), W44_LOAD(r, 1, 8), W44_LOAD(r, 2, 16),
                     W44_LOAD(r, 3, 24));
            tr4_avx2(hi, W44_LOAD(r, 4, 2), W44_LOAD(r, 5, 10), W44_LOAD(r, 6, 18),
                     W44_LOAD(r, 7, 26));
            c[4] = hi[2]; /* columns 4t + 4 */
            c[5] = hi[3]; /* columns 4t + 5 */
            wino_bt4_avx2(t + (i * 6 + j) * 6, c[0], c[1], c[2], c[3], c[4], c[5]);
        }
    }
    wino_bt4_dh_avx2(t, v, v_ps, 6);
}

static void wino44_in_avx2(const nne_wino_in *a) {
    const int64_t x0 = a->x0;
    const int edge = !(x0 >= 0 && x0 + WINO44_ROW <= a->w);
    __m256i mk[8]; /* lanes of the loads at column offsets 0, 8, 16, 24, 2, 10, 18, 26 */
    static const int offs[8] = {0, 8, 16, 24, 2, 10, 18, 26};
    col_masks_avx2(mk, offs, 8, x0, a->w);
    __m256 t[NNE_WINO44_NPOS]; /* [z or pd][y][pw] of one channel, 6.75 KiB */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        float *v = a->v + c * a->v_cs;
        if (edge)
            wino44_in_channel(a, s, v, 1, mk, t);
        else
            wino44_in_channel(a, s, v, 0, mk, t);
    }
}

/* Channel by channel: A4^T along d into t[a][ph][pw], then per output plane A4^T along h and
 * along w, the bias, the in-lane transpose back into 32 consecutive columns per row and the
 * stores of its 4 rows (clipped at the edges). */
static void wino44_out_avx2(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)4 * NNE_WINO_GT, a->w - a->x0), m_ps = a->m_ps;
    __m256 t[144]; /* [a][ph][pw] of one channel, 4.5 KiB */
    for (int64_t c = 0; c < a->nc; c++) {
        const float *m = a->m + c * a->m_cs;
        const __m256 bias = _mm256_set1_ps(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        wino_at4_d_avx2(t, m, m_ps, 6);
        for (int i = 0; i < 4 && a->z0 + i < a->d; i++) {
            __m256 r[4][6]; /* [output row b][w position pw] */
            for (int pw = 0; pw < 6; pw++) { /* along h */
                const __m256 *tt = t + i * 36 + pw;
                __m256 o[4];
                wino_at4_avx2(o, tt[0], tt[6], tt[12], tt[18], tt[24], tt[30]);
                for (int b = 0; b < 4; b++) r[b][pw] = o[b];
            }
            for (int b = 0; b < 4 && a->y0 + b < a->h; b++) { /* along w, bias, store */
                __m256 o[4], q[4];
                wino_at4_avx2(o, r[b][0], r[b][1], r[b][2], r[b][3], r[b][4], r[b][5]);
                tr4_avx2(q, _mm256_add_ps(o[0], bias), _mm256_add_ps(o[1], bias),
                         _mm256_add_ps(o[2], bias), _mm256_add_ps(o[3], bias));
                float *row = dst + ((a->z0 + i) * a->h + a->y0 + b) * a->w; /* column 0 */
                if (a->x0 + WINO44_PF_OUT < a->w)
                    _mm_prefetch((const char *)(row + a->x0 + WINO44_PF_OUT), _MM_HINT_T0);
                float *d = row + a->x0;
                if (nx >= 32) {
                    for (int k = 0; k < 4; k++) _mm256_storeu_ps(d + 8 * k, q[k]);
                } else {
                    float tmp[32];
                    for (int k = 0; k < 4; k++) _mm256_storeu_ps(tmp + 8 * k, q[k]);
                    for (int64_t x = 0; x < nx; x++) d[x] = tmp[x];
                }
            }
        }
    }
}

/* Selected by nne_cpu_select only when the CPU reports AVX2 and FMA. */
/* Peak probe: 12 independent 8-lane FMA chains in ymm registers. Zen 3 and Intel cores since
 * Haswell issue two FMAs per cycle with a latency of 4 to 5 cycles, so at least 8 to 10 chains
 * are needed to keep both pipes busy; 12 leave room and still fit the 16 registers with the
 * two constants. */
static double fma_peak_avx2(int64_t iters, float *sink) {
    const __m256 m = _mm256_set1_ps(0.99999988f), a = _mm256_set1_ps(1e-7f);
    const __m256 s0 = _mm256_set1_ps(*sink), d = _mm256_set1_ps(0.01f);
    __m256 x0 = s0, x1 = _mm256_add_ps(x0, d), x2 = _mm256_add_ps(x1, d);
    __m256 x3 = _mm256_add_ps(x2, d), x4 = _mm256_add_ps(x3, d), x5 = _mm256_add_ps(x4, d);
    __m256 x6 = _mm256_add_ps(x5, d), x7 = _mm256_add_ps(x6, d), x8 = _mm256_add_ps(x7, d);
    __m256 x9 = _mm256_add_ps(x8, d), x10 = _mm256_add_ps(x9, d), x11 = _mm256_add_ps(x10, d);
    for (int64_t i = 0; i < iters; i++) {
        x0 = _mm256_fmadd_ps(x0, m, a);
        x1 = _mm256_fmadd_ps(x1, m, a);
        x2 = _mm256_fmadd_ps(x2, m, a);
        x3 = _mm256_fmadd_ps(x3, m, a);
        x4 = _mm256_fmadd_ps(x4, m, a);
        x5 = _mm256_fmadd_ps(x5, m, a);
        x6 = _mm256_fmadd_ps(x6, m, a);
        x7 = _mm256_fmadd_ps(x7, m, a);
        x8 = _mm256_fmadd_ps(x8, m, a);
        x9 = _mm256_fmadd_ps(x9, m, a);
        x10 = _mm256_fmadd_ps(x10, m, a);
        x11 = _mm256_fmadd_ps(x11, m, a);
    }
    __m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(x0, x1), _mm256_add_ps(x2, x3)),
                             _mm256_add_ps(_mm256_add_ps(x4, x5), _mm256_add_ps(x6, x7)));
    s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(x8, x9), _mm256_add_ps(x10, x11)));
    float v[8];
    _mm256_storeu_ps(v, s);
    *sink = v[0] + v[7];
    return 2.0 * 12 * 8 * (double)iters;
}

/* binary16 rows with F16C, 8 at a time; the tail through half.c (same rounding). */
static void f16_to_f32_avx2(float *restrict dst, const uint16_t *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm256_storeu_ps(dst + i, _mm256_cvtph_ps(_mm_loadu_si128((const __m128i *)(src + i))));
    for (; i < n; i++)
        dst[i] = nne_f16_to_f32(src[i]);
}

/* Streaming stores from the first 32-byte aligned element of dst, four vectors per step. */
static void copy_f32_avx2(float *restrict dst, const float *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i < n && ((uintptr_t)(dst + i) & 31) != 0; i++) dst[i] = src[i];
    for (; i + 32 <= n; i += 32) {
        const __m256 a = _mm256_loadu_ps(src + i), b = _mm256_loadu_ps(src + i + 8);
        const __m256 c = _mm256_loadu_ps(src + i + 16), d = _mm256_loadu_ps(src + i + 24);
        _mm256_stream_ps(dst + i, a);
        _mm256_stream_ps(dst + i + 8, b);
        _mm256_stream_ps(dst + i + 16, c);
        _mm256_stream_ps(dst + i + 24, d);
    }
    for (; i + 8 <= n; i += 8) _mm256_stream_ps(dst + i, _mm256_loadu_ps(src + i));
    for (; i < n; i++) dst[i] = src[i];
    _mm_sfence();
}

static void f32_to_f16_avx2(uint16_t *restrict dst, const float *restrict src, int64_t n) {
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        _mm_storeu_si128((__m128i *)(dst + i),
                         _mm256_cvtps_ph(_mm256_loadu_ps(src + i), _MM_FROUND_TO_NEAREST_INT));
    for (; i < n; i++)
        dst[i] = nne_f32_to_f16(src[i]);
}

/* ---- INT8 convolution (src/conv3d_q8.c) ------------------------------------------------
 *
 * DESIGN (q8_conv_row). Zen 3 has no VNNI, so the products come from vpmaddwd
 * (_mm256_madd_epi16): 16-bit x 16-bit products, adjacent pairs summed into 32-bit lanes,
 * exact for every input (|a b + c d| <= 2 * 32768^2 fits int32; our operands are far
 * smaller). vpmaddubsw (u8 x s8) would take 32 products per instruction, but it sums pairs
 * into int16 with saturation: 255 * 127 * 2 = 64770 overflows, so it is exact only with
 * 7-bit activations (half the resolution), and its int16 pairs need a second vpmaddwd against
 * ones to widen, so it issues the same two multiply-pipe instructions per 32 products as
 * vpmaddwd + vpaddd. The operands are therefore int16: the input is quantized once into a
 * zero-padded buffer of centred channel pairs, and one 32-bit broadcast of a pair meets one
 * vector of packed weights (8 output channels x the same 2 input channels). Lanes are output
 * channels, as in conv3d_row: a register tile holds 2 blocks (16 channels) x 5 columns or
 * 1 block x 12 columns; per tap and channel pair 2 (1) weight loads and 5 (12) broadcasts feed
 * 10 (12) vpmaddwd + as many vpaddd. Integer sums are exact, so any order gives the `_ref` values. */

/* 32 floats per step: scale, clamp (max/min return the second operand for NaN, as the
 * reference's comparisons do), round to even (cvtps uses MXCSR's default rounding), pack with
 * saturation (values are already in range) and undo the per-lane order of the packs. */
static void q8_quantize_avx2(uint8_t *restrict dst, const float *restrict src, int64_t n,
                             float inv_scale, int32_t zp) {
    const __m256 s = _mm256_set1_ps(inv_scale);
    const __m256 lo = _mm256_set1_ps((float)-zp), hi = _mm256_set1_ps((float)(255 - zp));
    const __m256i z = _mm256_set1_epi32(zp), perm = _mm256_setr_epi32(0, 4, 1, 5, 2, 6, 3, 7);
    int64_t i = 0;
    for (; i + 32 <= n; i += 32) {
        __m256i q[4];
        for (int j = 0; j < 4; j++) {
            __m256 v = _mm256_mul_ps(_mm256_loadu_ps(src + i + 8 * j), s);
            v = _mm256_min_ps(_mm256_max_ps(v, lo), hi);
            q[j] = _mm256_add_epi32(_mm256_cvtps_epi32(v), z);
        }
        const __m256i a = _mm256_packs_epi32(q[0], q[1]), b = _mm256_packs_epi32(q[2], q[3]);
        const __m256i u = _mm256_permutevar8x32_epi32(_mm256_packus_epi16(a, b), perm);
        _mm256_storeu_si256((__m256i *)(void *)(dst + i), u);
    }
    const float lof = (float)-zp, hif = (float)(255 - zp);
    for (; i < n; i++) {
        float v = src[i] * inv_scale;
        v = v > lof ? v : lof;
        v = v < hif ? v : hif;
        dst[i] = (uint8_t)((int32_t)rintf(v) + zp);
    }
}

/* 16 columns per step: byte interleave, zero-extend to 16 bits, subtract the zero point. */
static void q8_pairs_avx2(int16_t *restrict dst, const uint8_t *restrict a,
                          const uint8_t *restrict b, int64_t n, int32_t zp) {
    const __m256i z = _mm256_set1_epi16((short)zp);
    int64_t i = 0;
    for (; i + 16 <= n; i += 16) {
        const __m128i va = _mm_loadu_si128((const __m128i *)(const void *)(a + i));
        const __m128i vb = _mm_loadu_si128((const __m128i *)(const void *)(b + i));
        const __m256i l = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpacklo_epi8(va, vb)), z);
        const __m256i h = _mm256_sub_epi16(_mm256_cvtepu8_epi16(_mm_unpackhi_epi8(va, vb)), z);
        _mm256_storeu_si256((__m256i *)(void *)(dst + 2 * i), l);
        _mm256_storeu_si256((__m256i *)(void *)(dst + 2 * i + 16), h);
    }
    for (; i < n; i++) {
        dst[2 * i] = (int16_t)(a[i] - zp);
        dst[2 * i + 1] = (int16_t)(b[i] - zp);
    }
}

/* The 32-bit pair at p (two int16) as one integer, for the broadcast. */
static inline int32_t pair32(const int16_t *p) {
    int32_t v;
    memcpy(&v, p, sizeof v);
    return v;
}

/* Scatters a tile's results t[j][o] (8 output channels of column col0 + j) into dst [o][x],
 * columns col0 .. col0 + n - 1 only. The accumulators are first stored to t by the tile
 * itself (named stores: an array of __m256i would make the compiler keep them in memory). */
static inline void q8_row_store(const nne_q8_row *a, int64_t b, int64_t col0,
                                const int32_t (*t)[NNE_Q8_OCB], int64_t n) {
    for (int o = 0; o < NNE_Q8_OCB; o++) {
        int32_t *d = a->dst + (b * NNE_Q8_OCB + o) * a->dst_cs + col0;
        for (int64_t j = 0; j < n; j++) d[j] = t[j][o];
    }
}

#define Q8R_SA(j) _mm256_storeu_si256((__m256i *)(void *)ta[j], a##j);
#define Q8R_SB(j) _mm256_storeu_si256((__m256i *)(void *)tb[j], b##j);
#define Q8R_Z(j) __m256i a##j = _mm256_setzero_si256(), b##j = _mm256_setzero_si256();
#define Q8R_Z1(j) __m256i a##j = _mm256_setzero_si256();
#define Q8R_X(j) const __m256i x##j = _mm256_set1_epi32(pair32(s + (j) * step));
#define Q8R_M2(j)                                                                                  \
    a##j = _mm256_add_epi32(a##j, _mm256_madd_epi16(wa, x##j));                                    \
    b##j = _mm256_add_epi32(b##j, _mm256_madd_epi16(wb, x##j));
#define Q8R_M1(j) a##j = _mm256_add_epi32(a##j, _mm256_madd_epi16(wa, x##j));
#define Q8R_5(M) M(0) M(1) M(2) M(3) M(4)
#define Q8R_12(M) Q8R_5(M) M(5) M(6) M(7) M(8) M(9) M(10) M(11)

/* Two output blocks (16 channels) x 5 columns from col0: per tap and channel pair 2 weight
 * loads + 5 broadcasts feed 10 vpmaddwd (10 accumulators, the two weight vectors, one
 * broadcast and one product: 14 of the 16 registers; 6 columns would spill). */
static void q8_row_2x5(const nne_q8_row *a, int64_t b, int64_t col0) {
    Q8R_5(Q8R_Z)
    const int64_t step = (int64_t)a->sw * 2;
    const int16_t *wa_p = a->w + b * a->w_bs, *wb_p = wa_p + a->w_bs;
    const int16_t *sx = a->src + col0 * step;
    for (int64_t p = 0; p < a->cp; p++)
        for (int kd = 0; kd < a->kd; kd++)
            for (int kh = 0; kh < a->kh; kh++) {
                const int16_t *s = sx + p * a->src_ps + kd * a->src_ds + kh * a->src_hs;
                for (int c = 0; c < a->kw; c++, s += 2, wa_p += 16, wb_p += 16) {
                    const __m256i wa = _mm256_loadu_si256((const __m256i *)(const void *)wa_p);
                    const __m256i wb = _mm256_loadu_si256((const __m256i *)(const void *)wb_p);
                    Q8R_5(Q8R_X)
                    Q8R_5(Q8R_M2)
                }
            }
    const int64_t n = NNE_MIN((int64_t)5, a->wout - col0);
    int32_t ta[5][NNE_Q8_OCB], tb[5][NNE_Q8_OCB];
    Q8R_5(Q8R_SA)
    Q8R_5(Q8R_SB)
    q8_row_store(a, b, col0, (const int32_t(*)[NNE_Q8_OCB])ta, n);
    q8_row_store(a, b + 1, col0, (const int32_t(*)[NNE_Q8_OCB])tb, n);
}

/* One output block (8 channels) x 12 columns from col0. */
static void q8_row_1x12(const nne_q8_row *a, int64_t b, int64_t col0) {
    Q8R_12(Q8R_Z1)
    const int64_t step = (int64_t)a->sw * 2;
    const int16_t *wa_p = a->w + b * a->w_bs;
    const int16_t *sx = a->src + col0 * step;
    for (int64_t p = 0; p < a->cp; p++)
        for (int kd = 0; kd < a->kd; kd++)
            for (int kh = 0; kh < a->kh; kh++) {
                const int16_t *s = sx + p * a->src_ps + kd * a->src_ds + kh * a->src_hs;
                for (int c = 0; c < a->kw; c++, s += 2, wa_p += 16) {
                    const __m256i wa = _mm256_loadu_si256((const __m256i *)(const void *)wa_p);
                    Q8R_12(Q8R_X)
                    Q8R_12(Q8R_M1)
                }
            }
    int32_t ta[12][NNE_Q8_OCB];
    Q8R_12(Q8R_SA)
    q8_row_store(a, b, col0, (const int32_t(*)[NNE_Q8_OCB])ta, NNE_MIN((int64_t)12, a->wout - col0));
}

/* Block pairs outermost (their weights stay in L2 across the row), column tiles inside; an
 * odd last block takes 12-column tiles. Tiles past wout compute on padding and store only
 * the valid columns. */
static void q8_conv_row_avx2(const nne_q8_row *a) {
    int64_t b = 0;
    for (; b + 2 <= a->nb; b += 2)
        for (int64_t col0 = 0; col0 < a->wout; col0 += 5) q8_row_2x5(a, b, col0);
    if (b < a->nb)
        for (int64_t col0 = 0; col0 < a->wout; col0 += 12) q8_row_1x12(a, b, col0);
}

const nne_kernels nne_kernels_avx2 = {
    .name = "avx2",
    .axpy_rows = axpy_rows_avx2,
    .leaky_relu = leaky_relu_avx2,
    .conv3d_row = conv3d_row_avx2,
    .gemm_rows = gemm_rows_avx2,
    .convt_rows = convt_rows_avx2,
    .convt_s2 = convt_s2_avx2,
    .im2col_s2 = im2col_s2_avx2,
    .bias_rows = bias_rows_avx2,
    .sum_f64 = sum_f64_avx2,
    .sumsq_dev_f64 = sumsq_dev_f64_avx2,
    .norm_apply = norm_apply_avx2,
    .wino_in = wino_in_avx2,
    .wino_gemm = wino_gemm_avx2,
    .wino_out = wino_out_avx2,
    .wino4_in = wino4_in_avx2,
    .wino4_out = wino4_out_avx2,
    .wino44_in = wino44_in_avx2,
    .wino44_out = wino44_out_avx2,
    .fma_peak = fma_peak_avx2,
    .f16_to_f32 = f16_to_f32_avx2,
    .f32_to_f16 = f32_to_f16_avx2,
    .copy_f32 = copy_f32_avx2,
    /* INT8 convolution */
    .q8_quantize = q8_quantize_avx2,
    .q8_pairs = q8_pairs_avx2,
    .q8_conv_row = q8_conv_row_avx2,
};
#else
typedef int nne_x86_avx2_empty; /* ISO C forbids an empty translation unit */
#endif
