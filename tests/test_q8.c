/*
 * test_q8.c - the INT8 convolution (src/conv3d_q8.c) and its kernels.
 *
 * 1. Kernels: q8_quantize, q8_pairs and q8_conv_row of every variant this machine can run against
 *    the `_ref` twins on random shapes with odd sizes and tails, compared exactly (integer
 *    results and quantized bytes have no rounding freedom). Sentinels around the outputs
 *    catch writes outside the documented range.
 * 2. The whole convolution on random geometries (3x3x3 and 1x3x3 kernels, strides 1 and 2,
 *    1..640 input channels, odd sizes): bitwise identical for every kernel table and thread
 *    count; equal, up to float rounding of the dequantization, to a float64 evaluation of the
 *    same quantized math; and within the error bound implied by the scales of the FP32
 *    convolution: per output, sum over taps of |w| s_x / 2 + |x| s_w / 2 + s_w s_x / 4.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "cpu.h"
#include "ops.h"
#include "quant.h"
#include "test.h"
#include "threadpool.h"

static uint64_t rng_state = 0x2545f4914f6cdd1dull;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t rnd_int(int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}
static float rnd_f(void) { /* [-1, 1) */
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2 - 1);
}
static void *xmalloc(size_t n) {
    void *p = nne_malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* ---- kernels ---------------------------------------------------------------------------- */

static void test_quantize(const nne_kernels *kt) {
    int bad = 0;
    for (int trial = 0; trial < 200 && !bad; trial++) {
        const int64_t n = rnd_int(0, 150);
        const float scale = 0.001f + (rnd_f() + 1.0f) * 0.5f;
        const int32_t zp = (int32_t)rnd_int(0, 255);
        float *x = xmalloc((size_t)n * sizeof(float) + 4);
        uint8_t *a = xmalloc((size_t)n + 16), *b = xmalloc((size_t)n + 16);
        for (int64_t i = 0; i < n; i++) {
            x[i] = rnd_f() * 300.0f * scale;
            const int64_t s = rnd_int(0, 40);
            if (s == 0) x[i] = NAN;
            if (s == 1) x[i] = INFINITY;
            if (s == 2) x[i] = -INFINITY;
            if (s == 3) x[i] = ((float)rnd_int(-300, 300) + 0.5f) * scale; /* ties */
        }
        memset(a, 0xA5, (size_t)n + 16);
        memset(b, 0xA5, (size_t)n + 16);
        nne_kernels_ref.q8_quantize(a, x, n, 1.0f / scale, zp);
        kt->q8_quantize(b, x, n, 1.0f / scale, zp);
        bad = memcmp(a, b, (size_t)n + 16) != 0;
        TEST_CHECK(!bad, "%s q8_quantize n %lld zp %d differs", kt->name, (long long)n, zp);
        nne_free(x);
        nne_free(a);
        nne_free(b);
    }
}

static void test_pairs(const nne_kernels *kt) {
    int bad = 0;
    for (int trial = 0; trial < 200 && !bad; trial++) {
        const int64_t n = rnd_int(0, 120);
        const int32_t zp = (int32_t)rnd_int(0, 255);
        uint8_t *s0 = xmalloc((size_t)n + 1), *s1 = xmalloc((size_t)n + 1);
        for (int64_t i = 0; i < n; i++) {
            s0[i] = (uint8_t)rng_next();
            s1[i] = (uint8_t)rng_next();
        }
        const size_t bytes = (size_t)(2 * n + 8) * sizeof(int16_t);
        int16_t *a = xmalloc(bytes), *b = xmalloc(bytes);
        memset(a, 0x5A, bytes);
        memset(b, 0x5A, bytes);
        nne_kernels_ref.q8_pairs(a, s0, s1, n, zp);
        kt->q8_pairs(b, s0, s1, n, zp);
        bad = memcmp(a, b, bytes) != 0;
        TEST_CHECK(!bad, "%s q8_pairs n %lld differs", kt->name, (long long)n);
        nne_free(s0);
        nne_free(s1);
        nne_free(a);
        nne_free(b);
    }
}

static void test_conv_row(const nne_kernels *kt) {
    int bad = 0;
    for (int trial = 0; trial < 150 && !bad; trial++) {
        nne_q8_row r;
        r.cp = trial == 0 ? 320 : rnd_int(1, 20); /* once the widest input of the plans */
        r.kd = rnd_int(0, 2) ? 3 : 1;
        r.kh = rnd_int(0, 4) ? 3 : 1;
        r.kw = rnd_int(0, 4) ? 3 : 1;
        r.sw = (int)rnd_int(1, 2);
        r.wout = trial == 0 ? 5 : rnd_int(1, 40);
        r.nb = trial == 0 ? 3 : rnd_int(1, 5);
        r.dst_cs = r.wout + rnd_int(0, 4);
        const int64_t taps = (int64_t)r.kd * r.kh * r.kw;
        const int64_t rowlen = (r.wout + NNE_Q8_SLACK) * r.sw + r.kw; /* pairs */
        r.src_hs = rowlen * 2;
        r.src_ds = r.kh * r.src_hs + 2 * rnd_int(0, 3);
        r.src_ps = r.kd * r.src_ds + 2 * rnd_int(0, 3);
        r.w_bs = r.cp * taps * NNE_Q8_OCB * 2;
        const int64_t ns = r.cp * r.src_ps, nw = r.nb * r.w_bs;
        const int64_t nc = r.nb * NNE_Q8_OCB * r.dst_cs;
        int16_t *src = xmalloc((size_t)ns * sizeof(int16_t));
        int16_t *w = xmalloc((size_t)nw * sizeof(int16_t));
        int32_t *ca = xmalloc((size_t)nc * sizeof(int32_t)), *cb = xmalloc((size_t)nc * 4);
        const int extreme = trial % 4 == 0; /* all at the bounds: the largest sums */
        for (int64_t i = 0; i < nw; i++)
            w[i] = (int16_t)(extreme ? (i % 3 ? 127 : -127) : rnd_int(-127, 127));
        for (int64_t i = 0; i < ns; i++)
            src[i] = (int16_t)(extreme ? (i % 3 ? 255 : -255) : rnd_int(-255, 255));
        for (int64_t i = 0; i < nc; i++) ca[i] = cb[i] = 0x7777;
        r.src = src;
        r.w = w;
        r.dst = ca;
        nne_kernels_ref.q8_conv_row(&r);
        r.dst = cb;
        kt->q8_conv_row(&r);
        bad = memcmp(ca, cb, (size_t)nc * sizeof(int32_t)) != 0;
        TEST_CHECK(!bad, "%s q8_conv_row cp %lld k %dx%dx%d sw %d wout %lld nb %lld differs",
                   kt->name, (long long)r.cp, r.kd, r.kh, r.kw, r.sw, (long long)r.wout,
                   (long long)r.nb);
        for (int64_t o = 0; o < r.nb * NNE_Q8_OCB && !bad; o++)
            for (int64_t x = r.wout; x < r.dst_cs; x++) bad |= cb[o * r.dst_cs + x] != 0x7777;
        TEST_CHECK(!bad, "%s q8_conv_row wrote past wout", kt->name);
        nne_free(src);
        nne_free(w);
        nne_free(ca);
        nne_free(cb);
    }
}

/* ---- the convolution -------------------------------------------------------------------- */

typedef struct geom {
    int64_t c_in, c_out, in[3];
    int k[3], stride[3];
} geom;

static void random_geom(geom *g, int trial) {
    g->c_in = trial % 7 == 0 ? rnd_int(1, 3) : rnd_int(1, 24);
    g->c_out = rnd_int(2, 21);
    for (int i = 0; i < 3; i++) g->in[i] = rnd_int(1, 11);
    const int flat = rnd_int(0, 3) == 0; /* 1x3x3 (anisotropic plans) */
    g->k[0] = flat ? 1 : 3;
    g->k[1] = g->k[2] = 3;
    const int64_t s = rnd_int(0, 3);
    g->stride[0] = s == 1 && !flat ? 2 : 1;
    g->stride[1] = g->stride[2] = s >= 1 ? 2 : 1;
    if (s == 3) g->stride[0] = 1; /* (1, 2, 2), as after an anisotropic first stage */
}

/* float64 evaluation of the quantized math: the bytes of the reference quantizer, the
 * prepared int8 weights, exact sums, the same dequantization in double. */
static void conv_q8_f64(double *y, const uint8_t *q, const nne_conv3d_q8_w *pw,
                        const nne_conv3d_desc *d, nne_q8_act act) {
    const int64_t K = d->c_in * d->k[0] * d->k[1] * d->k[2];
    for (int64_t oc = 0; oc < d->c_out; oc++)
        for (int64_t z = 0; z < d->out[0]; z++)
            for (int64_t yy = 0; yy < d->out[1]; yy++)
                for (int64_t xx = 0; xx < d->out[2]; xx++) {
                    double acc = 0.0;
                    for (int64_t k = 0; k < K; k++) {
                        const int64_t ic = k / (d->k[0] * d->k[1] * d->k[2]);
                        const int64_t t = k % (d->k[0] * d->k[1] * d->k[2]);
                        const int64_t a = t / (d->k[1] * d->k[2]), b = t / d->k[2] % d->k[1];
                        const int64_t c = t % d->k[2];
                        const int64_t zi = z * d->stride[0] - d->pad[0] + a;
                        const int64_t yi = yy * d->stride[1] - d->pad[1] + b;
                        const int64_t xi = xx * d->stride[2] - d->pad[2] + c;
                        if (zi < 0 || zi >= d->in[0] || yi < 0 || yi >= d->in[1] || xi < 0 ||
                            xi >= d->in[2])
                            continue;
                        const int64_t b8 = oc / NNE_Q8_OCB, o = oc % NNE_Q8_OCB;
                        const int64_t kv = (int64_t)d->k[0] * d->k[1] * d->k[2];
                        const double wq =
                            pw->w[(((b8 * pw->cp + ic / 2) * kv + t) * NNE_Q8_OCB + o) * 2 + ic % 2];
                        const double xq =
                            q[((ic * d->in[0] + zi) * d->in[1] + yi) * d->in[2] + xi] - act.zp;
                        acc += wq * xq;
                    }
                    y[((oc * d->out[0] + z) * d->out[1] + yy) * d->out[2] + xx] =
                        acc * ((double)act.scale * (double)pw->scale_w[oc]) +
                        (double)pw->bias[oc];
                }
}

/* The error bound of the quantized conv against exact FP32 inputs/weights, per output. */
static void conv_bound(double *bnd, const float *x, const float *w, const nne_conv3d_q8_w *pw,
                       const nne_conv3d_desc *d, nne_q8_act act) {
    const int64_t kv = (int64_t)d->k[0] * d->k[1] * d->k[2];
    for (int64_t oc = 0; oc < d->c_out; oc++)
        for (int64_t z = 0; z < d->out[0]; z++)
            for (int64_t yy = 0; yy < d->out[1]; yy++)
                for (int64_t xx = 0; xx < d->out[2]; xx++) {
                    double e = 0.0, mag = 0.0;
                    const double sx = (double)act.scale, sw = (double)pw->scale_w[oc];
                    for (int64_t ic = 0; ic < d->c_in; ic++)
                        for (int64_t t = 0; t < kv; t++) {
                            const int64_t a = t / (d->k[1] * d->k[2]), b = t / d->k[2] % d->k[1];
                            const int64_t c = t % d->k[2];
                            const int64_t zi = z * d->stride[0] - d->pad[0] + a;
                            const int64_t yi = yy * d->stride[1] - d->pad[1] + b;
                            const int64_t xi = xx * d->stride[2] - d->pad[2] + c;
                            if (zi < 0 || zi >= d->in[0] || yi < 0 || yi >= d->in[1] ||
                                xi < 0 || xi >= d->in[2])
                                continue;
                            const double wv = fabs((double)w[(oc * d->c_in + ic) * kv + t]);
                            const double xv = fabs(
                                (double)x[((ic * d->in[0] + zi) * d->in[1] + yi) * d->in[2] + xi]);
                            /* weight step: s_w / 2, plus 127 ulp of the stored float scale */
                            e += wv * sx / 2 + xv * (sw / 2 + 127 * sw * 6e-8) +
                                 sx * sw / 4;
                            mag += wv * xv;
                        }
                    /* + float rounding of the FP32 conv and of the dequantization */
                    bnd[((oc * d->out[0] + z) * d->out[1] + yy) * d->out[2] + xx] =
                        e * (1 + 1e-6) + 1e-5 * mag + 1e-6;
                }
}

static void test_conv(const nne_kernels *const *tabs, int n_tabs) {
    nne_pool *pools[3] = {NULL, NULL, NULL};
    const int nths[3] = {1, 2, 3};
    for (int i = 0; i < 3; i++)
        if (nne_pool_init(nths[i], &pools[i]) != NNE_OK) abort();
    int bad_bits = 0, bad_f64 = 0, bad_fp32 = 0, n_trials = 0;
    for (int trial = 0; trial < 60; trial++) {
        geom g;
        random_geom(&g, trial);
        if (trial == 0) { /* the widest layer of the plans: 640 = 2 x 320 decoder input */
            g.c_in = 640;
            g.c_out = 5;
            g.in[0] = 2;
            g.in[1] = 3;
            g.in[2] = 9;
        }
        nne_conv3d_desc d;
        nne_conv3d_desc_init(&d, g.c_in, g.c_out, g.in, g.k, g.stride);
        const int64_t kv = (int64_t)g.k[0] * g.k[1] * g.k[2];
        const int64_t nin = g.c_in * g.in[0] * g.in[1] * g.in[2];
        const int64_t nout = g.c_out * d.out[0] * d.out[1] * d.out[2];
        const int64_t nw = g.c_out * g.c_in * kv;
        float *x = xmalloc((size_t)nin * sizeof(float));
        float *w = xmalloc((size_t)nw * sizeof(float)), *bias = xmalloc((size_t)g.c_out * 4);
        /* LeakyReLU-like inputs (mostly) or signed ones; per-channel weight magnitudes */
        const int leaky = trial % 3 != 0;
        float lo = 0.0f, hi = 0.0f;
        for (int64_t i = 0; i < nin; i++) {
            float v = rnd_f() * 3.0f;
            if (leaky && v < 0) v *= 0.01f;
            x[i] = v;
            lo = v < lo ? v : lo;
            hi = v > hi ? v : hi;
        }
        for (int64_t oc = 0; oc < g.c_out; oc++) {
            const float mag = oc == 1 ? 0.0f : 0.05f + (rnd_f() + 1.0f); /* oc 1: all-zero row */
            for (int64_t i = 0; i < g.c_in * kv; i++) w[oc * g.c_in * kv + i] = rnd_f() * mag;
            bias[oc] = rnd_f();
        }
        const nne_q8_act act = nne_q8_act_from_range(lo, hi);
        void *pmem = xmalloc(nne_conv3d_q8_prep_bytes(&d));
        nne_conv3d_q8_w pw;
        nne_conv3d_q8_prep(&pw, &d, w, trial % 5 ? bias : NULL, pmem);
        void *ws = xmalloc(nne_conv3d_q8_ws_bytes(&d, 3));
        float *y0 = xmalloc((size_t)nout * sizeof(float)), *y1 = xmalloc((size_t)nout * 4);
        nne_conv3d_q8_run(pools[0], &nne_kernels_ref, y0, x, &pw, &d, act, ws);
        for (int t = 0; t < n_tabs; t++)
            for (int p = 0; p < 3; p++) {
                memset(y1, 0xCC, (size_t)nout * sizeof(float));
                nne_conv3d_q8_run(pools[p], tabs[t], y1, x, &pw, &d, act, ws);
                if (memcmp(y0, y1, (size_t)nout * sizeof(float)) != 0) {
                    bad_bits++;
                    fprintf(stderr, "trial %d: %s with %d threads differs\n", trial,
                            tabs[t]->name, nths[p]);
                }
            }
        /* float64 of the quantized math */
        uint8_t *q = xmalloc((size_t)nin);
        nne_kernels_ref.q8_quantize(q, x, nin, 1.0f / act.scale, act.zp);
        double *yd = xmalloc((size_t)nout * sizeof(double));
        conv_q8_f64(yd, q, &pw, &d, act);
        for (int64_t i = 0; i < nout; i++) {
            const double tol = 4e-7 * fabs(yd[i]) + 2e-7 * fabs((double)pw.bias[i / (nout / g.c_out)]) + 1e-30;
            if (fabs((double)y0[i] - yd[i]) > tol + 1e-6 * fabs(yd[i])) {
                if (!bad_f64)
                    fprintf(stderr, "trial %d: out %lld %.9g vs f64 %.9g\n", trial,
                            (long long)i, (double)y0[i], yd[i]);
                bad_f64++;
                break;
            }
        }
        /* against the FP32 convolution, within the bound of the scales */
        void *fws = xmalloc(nne_conv3d_ws_bytes(&d, 1));
        nne_conv3d_fwd(pools[0], &nne_kernels_ref, y1, x, w, trial % 5 ? bias : NULL, &d, fws);
        double *bnd = xmalloc((size_t)nout * sizeof(double));
        conv_bound(bnd, x, w, &pw, &d, act);
        for (int64_t i = 0; i < nout; i++) {
            if (fabs((double)y0[i] - (double)y1[i]) > bnd[i]) {
                if (!bad_fp32)
                    fprintf(stderr, "trial %d: out %lld q8 %.9g fp32 %.9g bound %.3g\n", trial,
                            (long long)i, (double)y0[i], (double)y1[i], bnd[i]);
                bad_fp32++;
                break;
            }
        }
        n_trials++;
        nne_free(x);
        nne_free(w);
        nne_free(bias);
        nne_free(pmem);
        nne_free(ws);
        nne_free(y0);
        nne_free(y1);
        nne_free(q);
        nne_free(yd);
        nne_free(fws);
        nne_free(bnd);
    }
    TEST_CHECK(bad_bits == 0, "%d conv trials not bitwise identical across tables/threads",
               bad_bits);
    TEST_CHECK(bad_f64 == 0, "%d conv trials off the float64 quantized reference", bad_f64);
    TEST_CHECK(bad_fp32 == 0, "%d conv trials outside the quantization bound", bad_fp32);
    TEST_CHECK(n_trials == 60, "ran %d trials", n_trials);
    for (int i = 0; i < 3; i++) nne_pool_free(pools[i]);
}

static void test_act(void) {
    nne_q8_act a = nne_q8_act_from_range(-0.05f, 5.0f);
    TEST_NEAR(a.scale, 5.05 / 255, 1e-7);
    TEST_CHECK(a.zp == 3, "zp %d", a.zp);
    a = nne_q8_act_from_range(-2.0f, 2.0f);
    TEST_CHECK(a.zp == 128, "symmetric zp %d", a.zp);
    a = nne_q8_act_from_range(1.0f, 3.0f); /* 0 is always inside */
    TEST_CHECK(a.zp == 0 && fabs((double)a.scale - 3.0 / 255) < 1e-7, "zp %d", a.zp);
    a = nne_q8_act_from_range(0.0f, 0.0f);
    TEST_CHECK(a.scale == 1.0f && a.zp == 0, "degenerate");
    a = nne_q8_act_from_range(-INFINITY, 1.0f);
    TEST_CHECK(a.scale == 1.0f && a.zp == 0, "non-finite");
    /* 0.0 quantizes to zp exactly */
    a = nne_q8_act_from_range(-0.37f, 11.0f);
    uint8_t q;
    const float zero = 0.0f;
    nne_kernels_ref.q8_quantize(&q, &zero, 1, 1.0f / a.scale, a.zp);
    TEST_CHECK(q == a.zp, "0.0 -> %d, zp %d", q, a.zp);
}

int main(void) {
    const nne_kernels *tabs[4];
    const int n = nne_cpu_available(tabs, 4);
    test_act();
    for (int i = 0; i < n; i++) {
        test_quantize(tabs[i]);
        test_pairs(tabs[i]);
        test_conv_row(tabs[i]);
    }
    test_conv(tabs, n);
    return TEST_SUMMARY();
}
