/*
 * generic.c - the portable reference microkernels (`_ref`), always compiled.
 *
 * They are the test oracle for every ISA variant and the fallback on CPUs without one. Plain
 * C, no intrinsics; summation order is the natural loop order, written to be read, not to be
 * fast. The contracts of every kernel are documented on the table fields in src/cpu.h.
 */
#include <math.h>

#include "../cpu.h"
#include "../half.h"

/* dst[i] += sum_k w[k] * src[k * src_stride + i]: one row at a time, k outermost. */
static void axpy_rows_ref(float *restrict dst, const float *restrict src, int64_t src_stride,
                          const float *restrict w, int64_t nk, int64_t n) {
    for (int64_t k = 0; k < nk; k++) {
        const float wk = w[k];
        const float *s = src + k * src_stride;
        for (int64_t i = 0; i < n; i++)
            dst[i] += wk * s[i];
    }
}

/* max(x, 0) + slope * min(x, 0) written as a select; NaN stays NaN (x * slope). */
static void leaky_relu_ref(float *x, int64_t n, float slope) {
    for (int64_t i = 0; i < n; i++)
        x[i] = x[i] >= 0.0f ? x[i] : x[i] * slope;
}

/* One output element at a time: bias, then every valid tap in (ic, kd, kh, kw) order. */
static void conv3d_row_ref(const nne_conv3d_row *a) {
    for (int64_t x = 0; x < a->wout; x++) {
        const int64_t x0 = x * a->sw - a->pw; /* input column of tap kw = 0 */
        for (int o = 0; o < a->noc; o++) {
            float acc = a->accumulate ? a->dst[o * a->dst_cs + x] : a->bias[o];
            for (int64_t ic = 0; ic < a->c_in; ic++) {
                for (int kd = 0; kd < a->nkd; kd++) {
                    for (int kh = 0; kh < a->nkh; kh++) {
                        const float *s = a->src + ic * a->src_cs + kd * a->src_ds + kh * a->src_hs;
                        const float *w = a->w + ic * a->w_cs + kd * a->w_ds + kh * a->w_hs;
                        for (int kw = 0; kw < a->kw; kw++) {
                            const int64_t xi = x0 + kw;
                            if (xi < 0 || xi >= a->win) continue; /* zero padding */
                            acc += w[kw * NNE_CONV_OCB + o] * s[xi];
                        }
                    }
                }
            }
            a->dst[o * a->dst_cs + x] = acc;
        }
    }
}

/* Every output element separately: start value, then k ascending. The strides let the same
 * kernel read weights as [k][j] (transposed convolution) or [j][k] (1x1x1 convolution). */
static void gemm_rows_ref(float *restrict dst, int64_t dst_rs, const float *restrict src,
                          int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,
                          const float *restrict bias, int64_t m, int64_t nk, int64_t n) {
    for (int64_t j = 0; j < m; j++) {
        for (int64_t i = 0; i < n; i++) {
            float acc = bias ? bias[j] : 0.0f;
            for (int64_t k = 0; k < nk; k++)
                acc += w[k * w_ks + j * w_js] * src[k * src_ks + i];
            dst[j * dst_rs + i] = acc;
        }
    }
}

/* Every output element separately: start value, then k ascending. */
static void convt_rows_ref(float *restrict dst, int64_t dst_rs, const float *restrict src,
                           int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,
                           const float *restrict bias, int64_t m, int64_t nk, int64_t n, int s) {
    for (int64_t g = 0; g < m; g++) {
        for (int64_t i = 0; i < n; i++) {
            for (int c = 0; c < s; c++) {
                float acc = bias ? bias[g] : 0.0f;
                for (int64_t k = 0; k < nk; k++)
                    acc += w[k * w_ks + g * w_gs + c] * src[k * src_ks + i];
                dst[g * dst_rs + i * s + c] = acc;
            }
        }
    }
}

/* Every output element separately: start value, then k ascending. */
static void convt_s2_ref(float *restrict dst, int64_t dst_cs, int64_t dst_ds, int64_t dst_hs,
                         const float *restrict src, int64_t src_ks, const float *restrict w,
                         int64_t w_ks, const float *restrict bias, int64_t m, int64_t nk,
                         int64_t n) {
    for (int64_t g = 0; g < m; g++)
        for (int t = 0; t < 8; t++) {
            float *d = dst + g * dst_cs + (t >> 2) * dst_ds + (t >> 1 & 1) * dst_hs + (t & 1);
            for (int64_t x = 0; x < n; x++) {
                float acc = bias ? bias[g] : 0.0f;
                for (int64_t k = 0; k < nk; k++)
                    acc += w[k * w_ks + g * 8 + t] * src[k * src_ks + x];
                d[2 * x] = acc;
            }
        }
}

/* One output column at a time, each tap range-checked. */
static void im2col_s2_ref(float *restrict t0, float *restrict t1, float *restrict t2,
                          const float *restrict src, int64_t w, int64_t n) {
    for (int64_t x = 0; x < n; x++) {
        t0[x] = x > 0 && 2 * x - 1 < w ? src[2 * x - 1] : 0.0f;
        t1[x] = 2 * x < w ? src[2 * x] : 0.0f;
        t2[x] = 2 * x + 1 < w ? src[2 * x + 1] : 0.0f;
    }
}

/* Row by row; `stream` is only a cache hint. */
static void bias_rows_ref(float *restrict dst, int64_t dst_rs, const float *restrict src,
                          int64_t src_rs, const float *restrict bias, int64_t m, int64_t n,
                          int stream) {
    (void)stream;
    for (int64_t r = 0; r < m; r++)
        for (int64_t i = 0; i < n; i++)
            dst[r * dst_rs + i] = src[r * src_rs + i] + bias[r];
}

/* Plain left-to-right sum in double (exact for up to 2^29 float terms of equal sign and
 * exponent range; variants may reassociate within the chunk). */
static double sum_f64_ref(const float *x, int64_t n) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++)
        s += (double)x[i];
    return s;
}

/* Second pass of the two-pass variance: deviations from the already known mean, so there
 * is no cancellation between two large sums. */
static double sumsq_dev_f64_ref(const float *x, int64_t n, double mean) {
    double s = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)x[i] - mean;
        s += d * d;
    }
    return s;
}

/* The subtraction of the mean is split in two float steps (hi, then lo) so that a mean far
 * from zero keeps its low bits; then one multiply-add and the optional LeakyReLU. */
static void norm_apply_ref(float *x, int64_t n, float m_hi, float m_lo, float scale, float shift,
                           int leaky, float slope) {
    for (int64_t i = 0; i < n; i++) {
        float y = ((x[i] - m_hi) - m_lo) * scale + shift;
        if (leaky && y < 0.0f) y *= slope;
        x[i] = y;
    }
}

/* ---- Winograd F(2x2x2, 3x3x3) ---------------------------------------------------------- */

/* 1-D input transform B^T d of four values (the same formulas as the vector variants). */
static void wino_bt(float o[4], float d0, float d1, float d2, float d3) {
    o[0] = d0 - d2;
    o[1] = d1 + d2;
    o[2] = d2 - d1;
    o[3] = d1 - d3;
}

/* One tile at a time: gather the zero-padded 4x4x4 patch, transform along d, h, w. */
static void wino_in_ref(const nne_wino_in *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO_LANE_TILE(l);
            float t[4][4][4]; /* [z][y][x] patch, then transformed in place axis by axis */
            for (int i = 0; i < 4; i++) {
                for (int j = 0; j < 4; j++) {
                    for (int k = 0; k < 4; k++) {
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 2 * tile + k;
                        const int in = z >= 0 && z < a->d && y >= 0 && y < a->h && x >= 0 &&
                                       x < a->w;
                        t[i][j][k] = in ? s[(z * a->h + y) * a->w + x] : 0.0f;
                    }
                }
            }
            float o[4];
            for (int j = 0; j < 4; j++) /* along d */
                for (int k = 0; k < 4; k++) {
                    wino_bt(o, t[0][j][k], t[1][j][k], t[2][j][k], t[3][j][k]);
                    for (int i = 0; i < 4; i++) t[i][j][k] = o[i];
                }
            for (int i = 0; i < 4; i++) /* along h */
                for (int k = 0; k < 4; k++) {
                    wino_bt(o, t[i][0][k], t[i][1][k], t[i][2][k], t[i][3][k]);
                    for (int j = 0; j < 4; j++) t[i][j][k] = o[j];
                }
            for (int i = 0; i < 4; i++) /* along w */
                for (int j = 0; j < 4; j++) {
                    wino_bt(o, t[i][j][0], t[i][j][1], t[i][j][2], t[i][j][3]);
                    for (int k = 0; k < 4; k++) t[i][j][k] = o[k];
                }
            for (int p = 0; p < NNE_WINO_NPOS; p++)
                a->v[p * a->v_ps + c * a->v_cs + l] = t[p / 16][(p / 4) % 4][p % 4];
        }
    }
}

/* Every product separately: start value, then ic ascending. */
static void wino_gemm_ref(const nne_wino_gemm *a) {
    for (int64_t p = 0; p < a->npos; p++) {
        for (int64_t b = 0; b < a->nb; b++) {
            for (int r = 0; r < NNE_WINO_OCR; r++) {
                float *m = a->m + p * a->m_ps + (b * NNE_WINO_OCR + r) * a->m_cs;
                const float *u = a->u + p * a->u_ps + b * a->u_bs + r;
                for (int64_t t = 0; t < a->nt; t++) {
                    float acc = a->accumulate ? m[t] : 0.0f;
                    for (int64_t ic = 0; ic < a->c_in; ic++)
                        acc += u[ic * NNE_WINO_OCR] * a->v[p * a->v_ps + ic * a->v_cs + t];
                    m[t] = acc;
                }
            }
        }
    }
}

/* 1-D output transform A^T m of four values. */
static void wino_at(float o[2], float m0, float m1, float m2, float m3) {
    o[0] = m0 + m1 + m2;
    o[1] = m1 - m2 - m3;
}

/* One tile at a time: transform along d, h, w, add the bias, store the voxels inside. */
static void wino_out_ref(const nne_wino_out *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        float *dst = a->dst + c * a->dst_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO_LANE_TILE(l);
            float t[4][4][4], u[2][4][4], v[2][2][4], o[2];
            for (int p = 0; p < NNE_WINO_NPOS; p++)
                t[p / 16][(p / 4) % 4][p % 4] = a->m[p * a->m_ps + c * a->m_cs + l];
            for (int j = 0; j < 4; j++) /* along d */
                for (int k = 0; k < 4; k++) {
                    wino_at(o, t[0][j][k], t[1][j][k], t[2][j][k], t[3][j][k]);
                    u[0][j][k] = o[0];
                    u[1][j][k] = o[1];
                }
            for (int i = 0; i < 2; i++) /* along h */
                for (int k = 0; k < 4; k++) {
                    wino_at(o, u[i][0][k], u[i][1][k], u[i][2][k], u[i][3][k]);
                    v[i][0][k] = o[0];
                    v[i][1][k] = o[1];
                }
            for (int i = 0; i < 2; i++) /* along w, then bias and store */
                for (int j = 0; j < 2; j++) {
                    wino_at(o, v[i][j][0], v[i][j][1], v[i][j][2], v[i][j][3]);
                    for (int k = 0; k < 2; k++) {
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 2 * tile + k;
                        if (z < a->d && y < a->h && x < a->w)
                            dst[(z * a->h + y) * a->w + x] = o[k] + a->bias[c];
                    }
                }
        }
    }
}

/* F(4, 3) along d and h (points 0, 1, -1, 1/2, -2), as in cpu.h. */
static const float wino_bt4[6][6] = {{1, -1.5f, -2, 1.5f, 1, 0}, {0, -1, 0.5f, 2.5f, 1, 0},
                                     {0, 1, -2.5f, 0.5f, 1, 0}, {0, -2, -1, 2, 1, 0},
                                     {0, 0.5f, -1, -0.5f, 1, 0}, {0, 1, -1.5f, -2, 1.5f, 1}};
static const float wino_at4[4][6] = {
    {1, 1, 1, 1, 1, 0}, {0, 1, -1, 0.5f, -2, 0}, {0, 1, 1, 0.25f, 4, 0}, {0, 1, -1, 0.125f, -8, 1}};

/* One tile at a time: the zero-padded 6x6x4 patch, B4^T along d, B4^T along h, B^T along w
 * (each output a dot product over the axis, products and sums in order). */
static void wino4_in_ref(const nne_wino_in *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO_LANE_TILE(l);
            float t[6][6][4], u[6][6][4];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    for (int k = 0; k < 4; k++) {
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 2 * tile + k;
                        const int in = z >= 0 && z < a->d && y >= 0 && y < a->h && x >= 0 &&
                                       x < a->w;
                        t[i][j][k] = in ? s[(z * a->h + y) * a->w + x] : 0.0f;
                    }
            for (int pd = 0; pd < 6; pd++) /* along d */
                for (int j = 0; j < 6; j++)
                    for (int k = 0; k < 4; k++) {
                        float acc = 0.0f;
                        for (int i = 0; i < 6; i++) acc += wino_bt4[pd][i] * t[i][j][k];
                        u[pd][j][k] = acc;
                    }
            for (int pd = 0; pd < 6; pd++) /* along h */
                for (int ph = 0; ph < 6; ph++)
                    for (int k = 0; k < 4; k++) {
                        float acc = 0.0f;
                        for (int j = 0; j < 6; j++) acc += wino_bt4[ph][j] * u[pd][j][k];
                        t[pd][ph][k] = acc;
                    }
            for (int pd = 0; pd < 6; pd++) /* along w, then store */
                for (int ph = 0; ph < 6; ph++) {
                    float o[4];
                    wino_bt(o, t[pd][ph][0], t[pd][ph][1], t[pd][ph][2], t[pd][ph][3]);
                    for (int pw = 0; pw < 4; pw++)
                        a->v[((pd * 6 + ph) * 4 + pw) * a->v_ps + c * a->v_cs + l] = o[pw];
                }
        }
    }
}

/* One tile at a time: A4^T along d, A4^T along h, A^T along w, the bias, the voxels inside. */
static void wino4_out_ref(const nne_wino_out *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        float *dst = a->dst + c * a->dst_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO_LANE_TILE(l);
            float t[6][6][4], u[4][6][4], v[4][4][4];
            for (int p = 0; p < NNE_WINO4_NPOS; p++)
                t[p / 24][(p / 4) % 6][p % 4] = a->m[p * a->m_ps + c * a->m_cs + l];
            for (int i = 0; i < 4; i++) /* along d */
                for (int ph = 0; ph < 6; ph++)
                    for (int k = 0; k < 4; k++) {
                        float acc = 0.0f;
                        for (int pd = 0; pd < 6; pd++) acc += wino_at4[i][pd] * t[pd][ph][k];
                        u[i][ph][k] = acc;
                    }
            for (int i = 0; i < 4; i++) /* along h */
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 4; k++) {
                        float acc = 0.0f;
                        for (int ph = 0; ph < 6; ph++) acc += wino_at4[j][ph] * u[i][ph][k];
                        v[i][j][k] = acc;
                    }
            for (int i = 0; i < 4; i++) /* along w, then bias and store */
                for (int j = 0; j < 4; j++) {
                    float o[2];
                    wino_at(o, v[i][j][0], v[i][j][1], v[i][j][2], v[i][j][3]);
                    for (int k = 0; k < 2; k++) {
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 2 * tile + k;
                        if (z < a->d && y < a->h && x < a->w)
                            dst[(z * a->h + y) * a->w + x] = o[k] + a->bias[c];
                    }
                }
        }
    }
}

/* ---- Winograd F(4x4x4, 3x3x3) ---------------------------------------------------------- */

/* One tile at a time: the zero-padded 6x6x6 patch, B4^T along d, h and w (each output a dot
 * product over the axis, products and sums in order). */
static void wino44_in_ref(const nne_wino_in *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        const float *s = a->src + c * a->src_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO44_LANE_TILE(l);
            float t[6][6][6], u[6][6][6];
            for (int i = 0; i < 6; i++)
                for (int j = 0; j < 6; j++)
                    for (int k = 0; k < 6; k++) {
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 4 * tile + k;
                        const int in = z >= 0 && z < a->d && y >= 0 && y < a->h && x >= 0 &&
                                       x < a->w;
                        t[i][j][k] = in ? s[(z * a->h + y) * a->w + x] : 0.0f;
                    }
            for (int pd = 0; pd < 6; pd++) /* along d */
                for (int j = 0; j < 6; j++)
                    for (int k = 0; k < 6; k++) {
                        float acc = 0.0f;
                        for (int i = 0; i < 6; i++) acc += wino_bt4[pd][i] * t[i][j][k];
                        u[pd][j][k] = acc;
                    }
            for (int pd = 0; pd < 6; pd++) /* along h */
                for (int ph = 0; ph < 6; ph++)
                    for (int k = 0; k < 6; k++) {
                        float acc = 0.0f;
                        for (int j = 0; j < 6; j++) acc += wino_bt4[ph][j] * u[pd][j][k];
                        t[pd][ph][k] = acc;
                    }
            for (int pd = 0; pd < 6; pd++) /* along w, then store */
                for (int ph = 0; ph < 6; ph++)
                    for (int pw = 0; pw < 6; pw++) {
                        float acc = 0.0f;
                        for (int k = 0; k < 6; k++) acc += wino_bt4[pw][k] * t[pd][ph][k];
                        a->v[((pd * 6 + ph) * 6 + pw) * a->v_ps + c * a->v_cs + l] = acc;
                    }
        }
    }
}

/* One tile at a time: A4^T along d, h and w, the bias, the voxels inside. */
static void wino44_out_ref(const nne_wino_out *a) {
    for (int64_t c = 0; c < a->nc; c++) {
        float *dst = a->dst + c * a->dst_cs;
        for (int l = 0; l < NNE_WINO_GT; l++) {
            const int tile = NNE_WINO44_LANE_TILE(l);
            float t[6][6][6], u[4][6][6], v[4][4][6];
            for (int p = 0; p < NNE_WINO44_NPOS; p++)
                t[p / 36][(p / 6) % 6][p % 6] = a->m[p * a->m_ps + c * a->m_cs + l];
            for (int i = 0; i < 4; i++) /* along d */
                for (int ph = 0; ph < 6; ph++)
                    for (int k = 0; k < 6; k++) {
                        float acc = 0.0f;
                        for (int pd = 0; pd < 6; pd++) acc += wino_at4[i][pd] * t[pd][ph][k];
                        u[i][ph][k] = acc;
                    }
            for (int i = 0; i < 4; i++) /* along h */
                for (int j = 0; j < 4; j++)
                    for (int k = 0; k < 6; k++) {
                        float acc = 0.0f;
                        for (int ph = 0; ph < 6; ph++) acc += wino_at4[j][ph] * u[i][ph][k];
                        v[i][j][k] = acc;
                    }
            for (int i = 0; i < 4; i++) /* along w, then bias and store */
                for (int j = 0; j < 4; j++)
                    for (int e = 0; e < 4; e++) {
                        float acc = 0.0f;
                        for (int pw = 0; pw < 6; pw++) acc += wino_at4[e][pw] * v[i][j][pw];
                        const int64_t z = a->z0 + i, y = a->y0 + j, x = a->x0 + 4 * tile + e;
                        if (z < a->d && y < a->h && x < a->w)
                            dst[(z * a->h + y) * a->w + x] = acc + a->bias[c];
                    }
        }
    }
}

/* binary16 rows through the portable conversions of half.c. */
static void f16_to_f32_ref(float *restrict dst, const uint16_t *restrict src, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = nne_f16_to_f32(src[i]);
}

static void copy_f32_ref(float *restrict dst, const float *restrict src, int64_t n) {
    for (int64_t i = 0; i < n; i++) dst[i] = src[i];
}

static void f32_to_f16_ref(uint16_t *restrict dst, const float *restrict src, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        dst[i] = nne_f32_to_f16(src[i]);
}

/* ---- INT8 convolution (src/conv3d_q8.c) ------------------------------------------------ */

/* Scale, clamp in float (NaN fails both comparisons and lands on the lower bound), round half
 * to even with rintf in the default rounding mode, shift by the zero point. */
static void q8_quantize_ref(uint8_t *restrict dst, const float *restrict src, int64_t n,
                            float inv_scale, int32_t zp) {
    const float lo = (float)-zp, hi = (float)(255 - zp);
    for (int64_t i = 0; i < n; i++) {
        float v = src[i] * inv_scale;
        v = v > lo ? v : lo;
        v = v < hi ? v : hi;
        dst[i] = (uint8_t)((int32_t)rintf(v) + zp);
    }
}

static void q8_pairs_ref(int16_t *restrict dst, const uint8_t *restrict a,
                         const uint8_t *restrict b, int64_t n, int32_t zp) {
    for (int64_t i = 0; i < n; i++) {
        dst[2 * i] = (int16_t)(a[i] - zp);
        dst[2 * i + 1] = (int16_t)(b[i] - zp);
    }
}

/* Every result separately, in int32 (exact: see nne_q8_row for the bound). */
static void q8_conv_row_ref(const nne_q8_row *a) {
    const int64_t taps = (int64_t)a->kd * a->kh * a->kw;
    for (int64_t b = 0; b < a->nb; b++) {
        for (int o = 0; o < NNE_Q8_OCB; o++) {
            for (int64_t x = 0; x < a->wout; x++) {
                int32_t acc = 0;
                for (int64_t p = 0; p < a->cp; p++) {
                    for (int64_t t = 0; t < taps; t++) {
                        const int64_t kd = t / (a->kh * a->kw), kh = t / a->kw % a->kh;
                        const int64_t kw = t % a->kw;
                        const int16_t *w =
                            a->w + b * a->w_bs + ((p * taps + t) * NNE_Q8_OCB + o) * 2;
                        const int16_t *s = a->src + p * a->src_ps + kd * a->src_ds +
                                           kh * a->src_hs + (x * a->sw + kw) * 2;
                        acc += (int32_t)w[0] * s[0] + (int32_t)w[1] * s[1];
                    }
                }
                a->dst[(b * NNE_Q8_OCB + o) * a->dst_cs + x] = acc;
            }
        }
    }
}

/* The reference table: every field set, always compiled, the oracle of test_kernels.c. */
/* Peak probe of the portable path: 8 independent chains x = x * m + a in plain C, written
 * out so they stay in registers (ISO C without -ffp-contract: one multiply and one add, 2
 * FLOPs). Whatever the compiler makes of it is the peak the `_ref` kernels can hope for.
 * m < 1 and a > 0 keep x near a / (1 - m), far from overflow and denormals. */
static double fma_peak_ref(int64_t iters, float *sink) {
    const float m = 0.99999988f, a = 1e-7f, d = 0.01f;
    float x0 = *sink, x1 = x0 + d, x2 = x1 + d, x3 = x2 + d;
    float x4 = x3 + d, x5 = x4 + d, x6 = x5 + d, x7 = x6 + d;
    for (int64_t i = 0; i < iters; i++) {
        x0 = x0 * m + a;
        x1 = x1 * m + a;
        x2 = x2 * m + a;
        x3 = x3 * m + a;
        x4 = x4 * m + a;
        x5 = x5 * m + a;
        x6 = x6 * m + a;
        x7 = x7 * m + a;
    }
    *sink = ((x0 + x1) + (x2 + x3)) + ((x4 + x5) + (x6 + x7));
    return 2.0 * 8 * (double)iters;
}

const nne_kernels nne_kernels_ref = {
    .name = "ref",
    .axpy_rows = axpy_rows_ref,
    .leaky_relu = leaky_relu_ref,
    .conv3d_row = conv3d_row_ref,
    .gemm_rows = gemm_rows_ref,
    .convt_rows = convt_rows_ref,
    .convt_s2 = convt_s2_ref,
    .im2col_s2 = im2col_s2_ref,
    .bias_rows = bias_rows_ref,
    .sum_f64 = sum_f64_ref,
    .sumsq_dev_f64 = sumsq_dev_f64_ref,
    .norm_apply = norm_apply_ref,
    .wino_in = wino_in_ref,
    .wino_gemm = wino_gemm_ref,
    .wino_out = wino_out_ref,
    .wino4_in = wino4_in_ref,
    .wino4_out = wino4_out_ref,
    .wino44_in = wino44_in_ref,
    .wino44_out = wino44_out_ref,
    .fma_peak = fma_peak_ref,
    .f16_to_f32 = f16_to_f32_ref,
    .f32_to_f16 = f32_to_f16_ref,
    .copy_f32 = copy_f32_ref,
    /* INT8 convolution */
    .q8_quantize = q8_quantize_ref,
    .q8_pairs = q8_pairs_ref,
    .q8_conv_row = q8_conv_row_ref,
};
