/*
 * generic.c - the portable reference microkernels (`_ref`), always compiled.
 *
 * They are the test oracle for every ISA variant and the fallback on CPUs without one. Plain
 * C, no intrinsics; summation order is the natural loop order, written to be read, not to be
 * fast. The contracts of every kernel are documented on the table fields in src/cpu.h.
 */
#include "../cpu.h"

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
    .sum_f64 = sum_f64_ref,
    .sumsq_dev_f64 = sumsq_dev_f64_ref,
    .norm_apply = norm_apply_ref,
    .fma_peak = fma_peak_ref,
};
