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
 * output columns of each tile into 16 consecutive voxels. wino_gemm keeps a 4 (output
 * channels, broadcast from the packed weights) x 24 (tiles, three vectors) register tile: per
 * input channel 3 loads + 4 broadcasts feed 12 FMAs.
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

/* Even and odd columns of the 16 floats at p: e = p[0, 2, .., 14], o = p[1, 3, .., 15]. */
static inline void deinterleave16(const float *p, __m256 *e, __m256 *o) {
    const __m256 a = _mm256_loadu_ps(p), b = _mm256_loadu_ps(p + 8);
    const __m256 ev = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(2, 0, 2, 0)); /* a0 a2 b0 b2 | ... */
    const __m256 od = _mm256_shuffle_ps(a, b, _MM_SHUFFLE(3, 1, 3, 1));
    *e = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(ev), _MM_SHUFFLE(3, 1, 2, 0)));
    *o = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(od), _MM_SHUFFLE(3, 1, 2, 0)));
}

#define WINO_ROW 18 /* input columns of one group's patch row: 2 * 8 tiles + 2 */

/* Transforms channel by channel: per z plane of the patch, the 4 rows give the w transform
 * (even/odd split) and the h transform in registers; the d transform combines the 4 planes
 * and writes the 64 positions. Rows outside the input are zero; rows that cross the left or
 * right edge go through a zero-padded copy. */
static void wino_in_avx2(const nne_wino_in *a) {
    const int64_t x0 = a->x0;
    const int interior_x = x0 >= 0 && x0 + WINO_ROW <= a->w;
    const __m256 zero = _mm256_setzero_ps();
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        __m256 pl[4][16]; /* [z][y * 4 + k]: w and h transformed planes */
        for (int i = 0; i < 4; i++) {
            const int64_t z = a->z0 + i;
            __m256 r[4][4]; /* [y][k] after the w transform */
            for (int j = 0; j < 4; j++) {
                const int64_t y = a->y0 + j;
                if (z < 0 || z >= a->d || y < 0 || y >= a->h) {
                    r[j][0] = r[j][1] = r[j][2] = r[j][3] = zero;
                    continue;
                }
                const float *base = s + (z * a->h + y) * a->w; /* input row, column 0 */
                const float *row;
                float pad[WINO_ROW]; /* zero-padded copy for rows crossing an edge */
                if (interior_x) {
                    row = base + x0;
                } else {
                    const int64_t xa = NNE_MAX(x0, (int64_t)0);
                    const int64_t xb = NNE_MIN(x0 + WINO_ROW, a->w);
                    memset(pad, 0, sizeof pad);
                    if (xb > xa) memcpy(pad + (xa - x0), base + xa, (size_t)(xb - xa) * sizeof(float));
                    row = pad;
                }
                __m256 e, o, e2, o2;
                deinterleave16(row, &e, &o);      /* columns 2l, 2l + 1     */
                deinterleave16(row + 2, &e2, &o2); /* columns 2l + 2, 2l + 3 */
                r[j][0] = _mm256_sub_ps(e, e2);
                r[j][1] = _mm256_add_ps(o, e2);
                r[j][2] = _mm256_sub_ps(e2, o);
                r[j][3] = _mm256_sub_ps(o, o2);
            }
            for (int k = 0; k < 4; k++) { /* along h */
                pl[i][0 * 4 + k] = _mm256_sub_ps(r[0][k], r[2][k]);
                pl[i][1 * 4 + k] = _mm256_add_ps(r[1][k], r[2][k]);
                pl[i][2 * 4 + k] = _mm256_sub_ps(r[2][k], r[1][k]);
                pl[i][3 * 4 + k] = _mm256_sub_ps(r[1][k], r[3][k]);
            }
        }
        float *v = a->v + c * a->v_cs;
        for (int q = 0; q < 16; q++) { /* along d; position p = i * 16 + q */
            _mm256_storeu_ps(v + (0 * 16 + q) * a->v_ps, _mm256_sub_ps(pl[0][q], pl[2][q]));
            _mm256_storeu_ps(v + (1 * 16 + q) * a->v_ps, _mm256_add_ps(pl[1][q], pl[2][q]));
            _mm256_storeu_ps(v + (2 * 16 + q) * a->v_ps, _mm256_sub_ps(pl[2][q], pl[1][q]));
            _mm256_storeu_ps(v + (3 * 16 + q) * a->v_ps, _mm256_sub_ps(pl[1][q], pl[3][q]));
        }
    }
}

/* GEMM register tile: 4 rows x NV vectors of 8 tiles; accumulators are separate locals. */
#define WG_DECL(r, q) __m256 c##r##q = acc ? _mm256_loadu_ps(m + (r)*m_cs + 8 * (q)) : zero;
#define WG_FMA(r, q) c##r##q = _mm256_fmadd_ps(u##r, v##q, c##r##q);
#define WG_STORE(r, q) _mm256_storeu_ps(m + (r)*m_cs + 8 * (q), c##r##q);
#define WG_ROWS(M, q) M(0, q) M(1, q) M(2, q) M(3, q)
#define WG_V1(M) WG_ROWS(M, 0)
#define WG_V2(M) WG_ROWS(M, 0) WG_ROWS(M, 1)
#define WG_V3(M) WG_ROWS(M, 0) WG_ROWS(M, 1) WG_ROWS(M, 2)
#define WG_LOADV(q) const __m256 v##q = _mm256_loadu_ps(vk + 8 * (q));
#define WG_LOADV1 WG_LOADV(0)
#define WG_LOADV2 WG_LOADV(0) WG_LOADV(1)
#define WG_LOADV3 WG_LOADV(0) WG_LOADV(1) WG_LOADV(2)
#define WINO_GEMM_TILE_FN(name, REPV, LOADV)                                                           static void name(float *m, int64_t m_cs, const float *u, const float *v, int64_t v_cs,                              int64_t c_in, int acc) {                                                              const __m256 zero = _mm256_setzero_ps();                                                           REPV(WG_DECL)                                                                                      for (int64_t ic = 0; ic < c_in; ic++) {                                                                const float *vk = v + ic * v_cs;                                                                   const float *uk = u + ic * NNE_WINO_OCR;                                                           LOADV                                                                                              const __m256 u0 = _mm256_broadcast_ss(uk + 0), u1 = _mm256_broadcast_ss(uk + 1);                   const __m256 u2 = _mm256_broadcast_ss(uk + 2), u3 = _mm256_broadcast_ss(uk + 3);                   REPV(WG_FMA)                                                                                   }                                                                                                  REPV(WG_STORE)                                                                                 }
WINO_GEMM_TILE_FN(wino_tile4x24, WG_V3, WG_LOADV3)
WINO_GEMM_TILE_FN(wino_tile4x16, WG_V2, WG_LOADV2)
WINO_GEMM_TILE_FN(wino_tile4x8, WG_V1, WG_LOADV1)

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

/* Stores the 16 voxels (even columns e, odd columns o interleaved) of one output row from
 * column x0, at most n of them. */
static inline void store_row16(float *d, __m256 e, __m256 o, int64_t n) {
    const __m256 lo = _mm256_unpacklo_ps(e, o), hi = _mm256_unpackhi_ps(e, o);
    const __m256 r0 = _mm256_permute2f128_ps(lo, hi, 0x20); /* e0 o0 e1 o1 e2 o2 e3 o3 */
    const __m256 r1 = _mm256_permute2f128_ps(lo, hi, 0x31); /* e4 o4 .. e7 o7          */
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

/* Channel by channel: the 64 positions are reduced along w, h and d in registers, the bias
 * added, and the 2 x 2 rows of 16 voxels stored (clipped at the volume's edges). */
static void wino_out_avx2(const nne_wino_out *a) {
    const int64_t nx = NNE_MIN((int64_t)2 * NNE_WINO_GT, a->w - a->x0);
    for (int64_t c = 0; c < a->nc; c++) {
        const float *m = a->m + c * a->m_cs;
        __m256 t[4][4][2]; /* [z][y][k] after the w and h transforms */
        for (int i = 0; i < 4; i++) {
            __m256 r[4][2]; /* [y][k] after the w transform */
            for (int j = 0; j < 4; j++) {
                const float *q = m + (i * 16 + j * 4) * a->m_ps;
                const __m256 m0 = _mm256_loadu_ps(q), m1 = _mm256_loadu_ps(q + a->m_ps);
                const __m256 m2 = _mm256_loadu_ps(q + 2 * a->m_ps);
                const __m256 m3 = _mm256_loadu_ps(q + 3 * a->m_ps);
                r[j][0] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
                r[j][1] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
            }
            for (int k = 0; k < 2; k++) {
                t[i][0][k] = _mm256_add_ps(_mm256_add_ps(r[0][k], r[1][k]), r[2][k]);
                t[i][1][k] = _mm256_sub_ps(_mm256_sub_ps(r[1][k], r[2][k]), r[3][k]);
            }
        }
        const __m256 bias = _mm256_set1_ps(a->bias[c]);
        float *dst = a->dst + c * a->dst_cs;
        for (int i = 0; i < 2; i++) {
            const int64_t z = a->z0 + i;
            if (z >= a->d) break;
            for (int j = 0; j < 2; j++) {
                const int64_t y = a->y0 + j;
                if (y >= a->h) break;
                __m256 y2[2];
                for (int k = 0; k < 2; k++) {
                    const __m256 s = i == 0 ? _mm256_add_ps(_mm256_add_ps(t[0][j][k], t[1][j][k]),
                                                            t[2][j][k])
                                            : _mm256_sub_ps(_mm256_sub_ps(t[1][j][k], t[2][j][k]),
                                                            t[3][j][k]);
                    y2[k] = _mm256_add_ps(s, bias);
                }
                store_row16(dst + (z * a->h + y) * a->w + a->x0, y2[0], y2[1], nx);
            }
        }
    }
}

/* Selected by nne_cpu_select only when the CPU reports AVX2 and FMA. */
const nne_kernels nne_kernels_avx2 = {
    .name = "avx2",
    .axpy_rows = axpy_rows_avx2,
    .leaky_relu = leaky_relu_avx2,
    .conv3d_row = conv3d_row_avx2,
    .gemm_rows = gemm_rows_avx2,
    .sum_f64 = sum_f64_avx2,
    .sumsq_dev_f64 = sumsq_dev_f64_avx2,
    .norm_apply = norm_apply_avx2,
    .wino_in = wino_in_avx2,
    .wino_gemm = wino_gemm_avx2,
    .wino_out = wino_out_avx2,
};
#else
typedef int nne_x86_avx2_empty; /* ISO C forbids an empty translation unit */
#endif
