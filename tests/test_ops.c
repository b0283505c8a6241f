/*
 * test_ops.c - the network operators (src/ops.h) for every ISA variant and thread count.
 *
 * Each op is checked against a naive implementation written independently here (direct
 * nested loops accumulating in double), on shapes covering 3x3x3 / 1x3x3 / 3x1x1 / 1x1x1 /
 * 5x5x5 kernels, strides 1 / 2 / (1,2,2) / (2,1,1), odd sizes 1..9, channel counts with tails,
 * and against PyTorch goldens from tools/gen_ops_golden.py (tests/golden/ops/). Outputs for
 * 1, 2 and 3 threads must be bitwise identical; output buffers carry a trailing sentinel.
 * Cross check on AArch64 (NEON) without cJSON, from the repository root:
 *   aarch64-linux-gnu-gcc -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -O2 -static
 *     -DNNE_TEST_NO_JSON -Iinclude -Isrc -Itests tests/test_ops.c src/{conv3d,convt3d,instnorm,
 *     act,softmax,cpu,threadpool,alloc,status}.c src/arch/{generic,arm_neon}.c -lpthread -lm
 *   qemu-aarch64 ./a.out
 */
#ifndef NNE_TEST_NO_JSON
#include <cJSON.h>
#endif
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "ops.h"
#include "test.h"

#define N_POOLS 3 /* thread counts 1, 2, 3 */
#define SENTINEL 12345.0f
#define GOLDEN_DIR "tests/golden/ops/"

/* Pools of 1, 2 and 3 threads (index + 1) and the kernel tables this machine can run. */
static nne_pool *pools[N_POOLS];
static const nne_kernels *tabs[8];
static int n_tabs;

/* Deterministic inputs (splitmix64): the same cases on every run. */
static uint64_t rng_state = 0x2545f4914f6cdd1dull;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t rnd_int(int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}
static float rnd_f(void) {
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2 - 1);
}
static int64_t pick(const int64_t *v, int n) { return v[rnd_int(0, n - 1)]; }

/* All outputs get one extra element set to SENTINEL, checked after every op call. */
static float *falloc(int64_t n) { /* n floats + one sentinel, aligned */
    float *p = nne_malloc((size_t)(n + 1) * sizeof(float));
    if (!p) abort();
    for (int64_t i = 0; i <= n; i++)
        p[i] = SENTINEL;
    return p;
}
static float *frand(int64_t n, float scale, float offset) {
    float *p = falloc(n);
    for (int64_t i = 0; i < n; i++)
        p[i] = rnd_f() * scale + offset;
    return p;
}

/* Error of `got` against the double reference: max |err| relative to max |ref|, and NMSE. */
typedef struct err_stats {
    double max_abs, max_ref, nmse;
} err_stats;
static err_stats compare(const float *got, const double *ref, int64_t n) {
    err_stats e = {0, 0, 0};
    double num = 0, den = 0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)got[i] - ref[i];
        if (fabs(d) > e.max_abs || d != d) e.max_abs = d != d ? (double)INFINITY : fabs(d);
        if (fabs(ref[i]) > e.max_ref) e.max_ref = fabs(ref[i]);
        num += d * d;
        den += ref[i] * ref[i];
    }
    e.nmse = den > 0 ? num / den : num;
    return e;
}

/* ---- conv3d ---------------------------------------------------------------------------- */

/* Direct definition: out[oc][z][y][x] = b[oc] + sum w[oc][ic][a][b][c] * in[ic][z*s-p+a]... */
static void conv_naive(double *out, const float *in, const float *w, const float *b,
                       const nne_conv3d_desc *d) {
    const int64_t *I = d->in, *O = d->out;
    const int *K = d->k, *S = d->stride, *P = d->pad;
    for (int64_t oc = 0; oc < d->c_out; oc++)
        for (int64_t z = 0; z < O[0]; z++)
            for (int64_t y = 0; y < O[1]; y++)
                for (int64_t x = 0; x < O[2]; x++) {
                    double acc = b ? (double)b[oc] : 0.0;
                    for (int64_t ic = 0; ic < d->c_in; ic++)
                        for (int a = 0; a < K[0]; a++)
                            for (int bb = 0; bb < K[1]; bb++)
                                for (int c = 0; c < K[2]; c++) {
                                    const int64_t zi = z * S[0] - P[0] + a;
                                    const int64_t yi = y * S[1] - P[1] + bb;
                                    const int64_t xi = x * S[2] - P[2] + c;
                                    if (zi < 0 || zi >= I[0] || yi < 0 || yi >= I[1] || xi < 0 ||
                                        xi >= I[2])
                                        continue;
                                    const double wv = (double)
                                        w[(((oc * d->c_in + ic) * K[0] + a) * K[1] + bb) * K[2] +
                                          c];
                                    acc +=
                                        wv * (double)in[((ic * I[0] + zi) * I[1] + yi) * I[2] + xi];
                                }
                    out[((oc * O[0] + z) * O[1] + y) * O[2] + x] = acc;
                }
}

/* Runs conv for every variant and thread count; checks against `ref` and bitwise equality. */
static void check_conv(const char *what, const nne_conv3d_desc *d, const float *src, const float *w,
                       const float *bias, const double *ref, double tol_rel) {
    const int64_t n_out = d->c_out * d->out[0] * d->out[1] * d->out[2];
    size_t wsb = 0;
    for (int p = 0; p < N_POOLS; p++) {
        const size_t b = nne_conv3d_ws_bytes(d, p + 1);
        if (b > wsb) wsb = b;
    }
    void *ws = nne_malloc(wsb);
    float *out1 = falloc(n_out), *out = falloc(n_out);
    for (int t = 0; t < n_tabs; t++) {
        for (int p = 0; p < N_POOLS; p++) {
            float *o = p == 0 ? out1 : out;
            nne_conv3d_fwd(pools[p], tabs[t], o, src, w, bias, d, ws);
            TEST_CHECK(o[n_out] == SENTINEL, "%s %s: wrote past the output", what, tabs[t]->name);
            if (p == 0) {
                const err_stats e = compare(o, ref, n_out);
                TEST_CHECK(e.max_abs <= tol_rel * (e.max_ref + 1.0) && e.nmse <= 1e-10,
                           "%s %s: max err %.3g (max |ref| %.3g) nmse %.3g", what, tabs[t]->name,
                           e.max_abs, e.max_ref, e.nmse);
            } else {
                TEST_CHECK(!memcmp(out1, out, (size_t)n_out * sizeof(float)),
                           "%s %s: %d threads differ from 1 thread", what, tabs[t]->name, p + 1);
            }
        }
    }
    nne_free(ws);
    nne_free(out1);
    nne_free(out);
}

/* Convolution: every kernel shape x every stride x 3 random cases (sizes 1..9, c_in from
 * {1, 2, 3, 17}, c_out from {1, 5, 8, 9, 33}, one case without bias), the tiniest volumes
 * explicitly, then wide rows; against conv_naive for every ISA, bitwise across threads. */
static void test_conv3d(void) {
    static const int kernels[][3] = {{3, 3, 3}, {1, 3, 3}, {3, 1, 1}, {1, 1, 1}, {5, 5, 5}};
    static const int strides[][3] = {{1, 1, 1}, {2, 2, 2}, {1, 2, 2}, {2, 1, 1}};
    static const int64_t cins[] = {1, 2, 3, 17}, couts[] = {1, 5, 8, 9, 33};
    int n_cases = 0;
    for (int ki = 0; ki < (int)NNE_ARRAY_LEN(kernels); ki++) {
        for (int si = 0; si < (int)NNE_ARRAY_LEN(strides); si++) {
            for (int rep = 0; rep < 3; rep++) {
                int64_t in[3] = {rnd_int(1, 9), rnd_int(1, 9), rnd_int(1, 9)};
                int64_t c_in = pick(cins, 4), c_out = pick(couts, 5);
                if (kernels[ki][0] == 5) c_in = NNE_MIN(c_in, 3); /* keep the oracle quick */
                if (rep == 0 && ki == 0) { /* the smallest sizes explicitly */
                    in[0] = 1 + (int64_t)si % 3;
                    in[1] = 1;
                    in[2] = 3;
                }
                nne_conv3d_desc d;
                nne_conv3d_desc_init(&d, c_in, c_out, in, kernels[ki], strides[si]);
                const int64_t kv = (int64_t)d.k[0] * d.k[1] * d.k[2];
                float *src = frand(c_in * in[0] * in[1] * in[2], 1.0f, 0.0f);
                float *w = frand(c_out * c_in * kv, 1.0f, 0.0f);
                float *bias = frand(c_out, 1.0f, 0.0f);
                const int64_t n_out = c_out * d.out[0] * d.out[1] * d.out[2];
                double *ref = malloc((size_t)n_out * sizeof(double));
                const int with_bias = rep != 1;
                conv_naive(ref, src, w, with_bias ? bias : NULL, &d);
                char what[128];
                snprintf(what, sizeof what, "conv k%dx%dx%d s%dx%dx%d in %lldx%lldx%lld %lld->%lld",
                         d.k[0], d.k[1], d.k[2], d.stride[0], d.stride[1], d.stride[2],
                         (long long)in[0], (long long)in[1], (long long)in[2], (long long)c_in,
                         (long long)c_out);
                check_conv(what, &d, src, w, with_bias ? bias : NULL, ref, 1e-5);
                n_cases++;
                free(ref);
                nne_free(src);
                nne_free(w);
                nne_free(bias);
            }
        }
    }
    /* Wide rows (several register tiles per row), stride 1 and 2, and more input channels than
     * one cache block of conv3d.c (partial sums carried through dst). */
    static const int64_t wide[][5] = {{32, 16, 3, 4, 40}, {70, 9, 2, 3, 29}, {40, 24, 3, 2, 13}};
    for (int i = 0; i < (int)NNE_ARRAY_LEN(wide); i++) {
        for (int s = 1; s <= 2; s++) {
            const int k[3] = {3, 3, 3}, st[3] = {s, s, s};
            const int64_t in[3] = {wide[i][2], wide[i][3], wide[i][4]};
            nne_conv3d_desc d;
            nne_conv3d_desc_init(&d, wide[i][0], wide[i][1], in, k, st);
            float *src = frand(d.c_in * in[0] * in[1] * in[2], 1.0f, 0.0f);
            float *w = frand(d.c_out * d.c_in * 27, 1.0f, 0.0f);
            float *bias = frand(d.c_out, 1.0f, 0.0f);
            const int64_t n_out = d.c_out * d.out[0] * d.out[1] * d.out[2];
            double *ref = malloc((size_t)n_out * sizeof(double));
            conv_naive(ref, src, w, bias, &d);
            check_conv("conv wide", &d, src, w, bias, ref, 1e-5);
            n_cases++;
            free(ref);
            nne_free(src);
            nne_free(w);
            nne_free(bias);
        }
    }
    printf("  conv3d: %d shapes x %d variants x %d thread counts\n", n_cases, n_tabs, N_POOLS);
}

/* Runs a prepared convolution (`algo`) for every variant and thread count: weights prepared
 * once, checked against `ref` (max error within tol_rel of max |ref| + 1, NMSE <= nmse_max)
 * and bitwise across thread counts. Returns the worst max |err| / (max |ref| + 1) seen. */
static double check_conv_prepared(const char *what, const nne_conv3d_desc *d, nne_conv3d_algo algo,
                                  const float *src, const float *w, const float *bias,
                                  const double *ref, double tol_rel, double nmse_max) {
    const int64_t n_out = d->c_out * d->out[0] * d->out[1] * d->out[2];
    void *prep = nne_malloc(nne_conv3d_prep_bytes(d, algo));
    nne_conv3d_w pw;
    nne_conv3d_prep(pools[1], &pw, d, algo, w, bias, prep);
    TEST_CHECK(pw.algo == algo, "%s: prepared algorithm", what);
    void *ws = nne_malloc(nne_conv3d_run_ws_bytes(d, algo, N_POOLS));
    float *out1 = falloc(n_out), *out = falloc(n_out);
    double worst = 0.0;
    for (int t = 0; t < n_tabs; t++) {
        for (int p = 0; p < N_POOLS; p++) {
            float *o = p == 0 ? out1 : out;
            nne_conv3d_run(pools[p], tabs[t], o, src, &pw, d, ws);
            TEST_CHECK(o[n_out] == SENTINEL, "%s %s: wrote past the output", what, tabs[t]->name);
            if (p == 0) {
                const err_stats e = compare(o, ref, n_out);
                const double rel = e.max_abs / (e.max_ref + 1.0);
                if (rel > worst || rel != rel) worst = rel != rel ? (double)INFINITY : rel;
                TEST_CHECK(rel <= tol_rel && e.nmse <= nmse_max,
                           "%s %s: max err %.3g (max |ref| %.3g) nmse %.3g", what, tabs[t]->name,
                           e.max_abs, e.max_ref, e.nmse);
            } else {
                TEST_CHECK(!memcmp(out1, out, (size_t)n_out * sizeof(float)),
                           "%s %s: %d threads differ from 1 thread", what, tabs[t]->name, p + 1);
            }
        }
    }
    nne_free(prep);
    nne_free(ws);
    nne_free(out1);
    nne_free(out);
    return worst;
}

/* Prepared weights: Winograd F(2x2x2, 3x3x3) on random volumes of 1..21 voxels per axis (odd
 * sizes: partial tiles; widths past 16: several tile groups per row and interior groups),
 * input channels around the slice size (1, 2, 3, 17, 31, 32, 33, 70) and output channels with
 * tails (1, 3, 4, 5, 9, 33), one case in three without bias; the direct algorithm through the
 * prepared path on the same shapes. Against conv_naive (double), bitwise across threads. */
static void test_conv3d_prepared(void) {
    static const int64_t cins[] = {1, 2, 3, 17, 31, 32, 33, 70};
    static const int64_t couts[] = {1, 3, 4, 5, 9, 33};
    const int k[3] = {3, 3, 3}, s1[3] = {1, 1, 1};
    double worst_wino = 0.0, worst_wino4 = 0.0, worst_wino44 = 0.0, worst_direct = 0.0;
    double worst_im2col = 0.0;
    /* fixed shapes first (tiny volumes, partial F(4x4x4) tiles and groups on every axis),
     * then random ones */
    static const int64_t fixed[][3] = {{1, 1, 1}, {3, 5, 7}, {4, 4, 32}, {5, 9, 33}, {6, 7, 65}};
    const int n_fixed = (int)NNE_ARRAY_LEN(fixed);
    int n_cases = 0;
    for (int rep = 0; rep < 24 + n_fixed; rep++) {
        int64_t in[3] = {rnd_int(1, 9), rnd_int(1, 12), rnd_int(1, 21)};
        if (rep % 4 == 0) in[2] = rnd_int(30, 40); /* two or three tile groups per row */
        if (rep % 8 == 2) in[2] = rnd_int(60, 72); /* two or three F(4x4x4) groups per row */
        if (rep >= 24) memcpy(in, fixed[rep - 24], sizeof in);
        const int64_t c_in = pick(cins, 8), c_out = pick(couts, 6);
        nne_conv3d_desc d;
        nne_conv3d_desc_init(&d, c_in, c_out, in, k, s1);
        float *src = frand(c_in * in[0] * in[1] * in[2], 1.0f, 0.0f);
        float *w = frand(c_out * c_in * 27, 1.0f, 0.0f);
        float *bias = frand(c_out, 1.0f, 0.0f);
        const int64_t n_out = c_out * d.out[0] * d.out[1] * d.out[2];
        double *ref = malloc((size_t)n_out * sizeof(double));
        const float *b = rep % 3 == 1 ? NULL : bias;
        conv_naive(ref, src, w, b, &d);
        char what[128];
        snprintf(what, sizeof what, "conv %s in %lldx%lldx%lld %lld->%lld", "%s",
                 (long long)in[0], (long long)in[1], (long long)in[2], (long long)c_in,
                 (long long)c_out);
        char wn[160];
        snprintf(wn, sizeof wn, what, "wino");
        double e = check_conv_prepared(wn, &d, NNE_CONV3D_WINO, src, w, b, ref, 1e-5, 1e-10);
        if (e > worst_wino) worst_wino = e;
        snprintf(wn, sizeof wn, what, "wino4");
        e = check_conv_prepared(wn, &d, NNE_CONV3D_WINO4, src, w, b, ref, 1e-4, 1e-9);
        if (e > worst_wino4) worst_wino4 = e;
        snprintf(wn, sizeof wn, what, "wino44");
        e = check_conv_prepared(wn, &d, NNE_CONV3D_WINO44, src, w, b, ref, 1e-4, 1e-9);
        if (e > worst_wino44) worst_wino44 = e;
        snprintf(wn, sizeof wn, what, "direct (prepared)");
        e = check_conv_prepared(wn, &d, NNE_CONV3D_DIRECT, src, w, b, ref, 1e-5, 1e-10);
        if (e > worst_direct) worst_direct = e;
        snprintf(wn, sizeof wn, what, "im2col");
        e = check_conv_prepared(wn, &d, NNE_CONV3D_IM2COL, src, w, b, ref, 1e-5, 1e-10);
        if (e > worst_im2col) worst_im2col = e;
        n_cases++;
        free(ref);
        nne_free(src);
        nne_free(w);
        nne_free(bias);
    }
    printf("  conv3d prepared: %d shapes x %d variants x %d thread counts; worst max err / "
           "(max |ref| + 1): winograd F(2x2x2) %.3g, F(4x4x2) %.3g, F(4x4x4) %.3g, direct "
           "%.3g, im2col %.3g\n",
           n_cases, n_tabs, N_POOLS, worst_wino, worst_wino4, worst_wino44, worst_direct,
           worst_im2col);
    /* im2col on every kernel shape and stride of test_conv3d (its generic gathers), odd
     * sizes, and 3x3x3 stride 2 with even and odd widths (the even/odd split) */
    static const int kernels[][3] = {{3, 3, 3}, {1, 3, 3}, {3, 1, 1}, {5, 5, 5}};
    static const int strides[][3] = {{1, 1, 1}, {2, 2, 2}, {1, 2, 2}, {2, 1, 1}};
    double worst = 0.0;
    int n_im = 0;
    for (int ki = 0; ki < (int)NNE_ARRAY_LEN(kernels); ki++) {
        for (int si = 0; si < (int)NNE_ARRAY_LEN(strides); si++) {
            for (int rep = 0; rep < 2; rep++) {
                int64_t in[3] = {rnd_int(1, 9), rnd_int(1, 9), rnd_int(1, 40)};
                const int64_t c_in = ki == 3 ? rnd_int(1, 3) : rnd_int(1, 40);
                const int64_t c_out = rnd_int(1, 37);
                nne_conv3d_desc d;
                nne_conv3d_desc_init(&d, c_in, c_out, in, kernels[ki], strides[si]);
                const int64_t kv = (int64_t)d.k[0] * d.k[1] * d.k[2];
                float *src = frand(c_in * in[0] * in[1] * in[2], 1.0f, 0.0f);
                float *w = frand(c_out * c_in * kv, 1.0f, 0.0f);
                float *bias = frand(c_out, 1.0f, 0.0f);
                const int64_t n_out = c_out * d.out[0] * d.out[1] * d.out[2];
                double *ref = malloc((size_t)n_out * sizeof(double));
                const float *b = rep ? bias : NULL;
                conv_naive(ref, src, w, b, &d);
                char wn[160];
                snprintf(wn, sizeof wn,
                         "conv im2col k%dx%dx%d s%dx%dx%d in %lldx%lldx%lld %lld->%lld", d.k[0],
                         d.k[1], d.k[2], d.stride[0], d.stride[1], d.stride[2], (long long)in[0],
                         (long long)in[1], (long long)in[2], (long long)c_in, (long long)c_out);
                const double e =
                    check_conv_prepared(wn, &d, NNE_CONV3D_IM2COL, src, w, b, ref, 1e-5, 1e-10);
                if (e > worst) worst = e;
                n_im++;
                free(ref);
                nne_free(src);
                nne_free(w);
                nne_free(bias);
            }
        }
    }
    printf("  conv3d im2col: %d more shapes (kernels 3x3x3, 1x3x3, 3x1x1, 5x5x5, 4 strides); "
           "worst %.3g\n", n_im, worst);
}

/* ---- convt3d --------------------------------------------------------------------------- */

/* Direct definition of the kernel == stride transposed convolution: output voxel (z, y, x)
 * takes tap (z % s0, y % s1, x % s2) of input voxel (z / s0, y / s1, x / s2). */
static void convt_naive(double *out, const float *in, const float *w, const float *b, int64_t c_in,
                        int64_t c_out, const int64_t I[3], const int S[3]) {
    const int64_t O[3] = {I[0] * S[0], I[1] * S[1], I[2] * S[2]};
    for (int64_t oc = 0; oc < c_out; oc++)
        for (int64_t z = 0; z < O[0]; z++)
            for (int64_t y = 0; y < O[1]; y++)
                for (int64_t x = 0; x < O[2]; x++) {
                    double acc = b ? (double)b[oc] : 0.0;
                    const int64_t zi = z / S[0], yi = y / S[1], xi = x / S[2];
                    const int a = (int)(z % S[0]), bb = (int)(y % S[1]), c = (int)(x % S[2]);
                    for (int64_t ic = 0; ic < c_in; ic++)
                        acc += (double)w[(((ic * c_out + oc) * S[0] + a) * S[1] + bb) * S[2] + c] *
                               (double)in[((ic * I[0] + zi) * I[1] + yi) * I[2] + xi];
                    out[((oc * O[0] + z) * O[1] + y) * O[2] + x] = acc;
                }
}

static void check_convt(const char *what, int64_t c_in, int64_t c_out, const int64_t in[3],
                        const int s[3], const float *src, const float *w, const float *bias,
                        const double *ref, double tol_rel) {
    const int64_t n_out = c_out * in[0] * s[0] * in[1] * s[1] * in[2] * s[2];
    float *out1 = falloc(n_out), *out = falloc(n_out);
    for (int t = 0; t < n_tabs; t++) {
        for (int p = 0; p < N_POOLS; p++) {
            float *o = p == 0 ? out1 : out;
            nne_convt3d_fwd(pools[p], tabs[t], o, src, w, bias, c_in, c_out, in, s);
            TEST_CHECK(o[n_out] == SENTINEL, "%s %s: wrote past the output", what, tabs[t]->name);
            if (p == 0) {
                const err_stats e = compare(o, ref, n_out);
                TEST_CHECK(e.max_abs <= tol_rel * (e.max_ref + 1.0) && e.nmse <= 1e-10,
                           "%s %s: max err %.3g nmse %.3g", what, tabs[t]->name, e.max_abs, e.nmse);
            } else {
                TEST_CHECK(!memcmp(out1, out, (size_t)n_out * sizeof(float)),
                           "%s %s: %d threads differ from 1 thread", what, tabs[t]->name, p + 1);
            }
        }
        /* explicit channel strides (a few floats of gap per channel on both sides): the same
         * bits as the dense call, and the gaps untouched */
        const int64_t ivol = in[0] * in[1] * in[2], ovol = n_out / c_out;
        const int64_t scs = ivol + 3, dcs = ovol + 5;
        float *ps = falloc(c_in * scs), *pd = falloc(c_out * dcs);
        for (int64_t i = 0; i < c_in * scs; i++) ps[i] = SENTINEL;
        for (int64_t i = 0; i < c_out * dcs; i++) pd[i] = SENTINEL;
        for (int64_t c = 0; c < c_in; c++)
            memcpy(ps + c * scs, src + c * ivol, (size_t)ivol * sizeof(float));
        nne_convt3d_fwd_cs(pools[N_POOLS - 1], tabs[t], pd, dcs, ps, scs, w, bias, c_in, c_out,
                           in, s);
        int same = 1, gaps = 1;
        for (int64_t c = 0; c < c_out; c++) {
            same &= !memcmp(pd + c * dcs, out1 + c * ovol, (size_t)ovol * sizeof(float));
            for (int64_t i = ovol; i < dcs; i++) gaps &= pd[c * dcs + i] == SENTINEL;
        }
        TEST_CHECK(same, "%s %s: channel strides change the result", what, tabs[t]->name);
        TEST_CHECK(gaps, "%s %s: channel strides: wrote into a gap", what, tabs[t]->name);
        nne_free(ps);
        nne_free(pd);
    }
    nne_free(out1);
    nne_free(out);
}

/* Transposed convolution for the strides nnU-Net uses (and 1x1x1, anisotropic), random
 * sizes 1..9 plus rows of 70 columns (more than one column chunk), 1..17 or 300 input
 * channels (300: the input panel holds 13 columns of a row at a time), one case without
 * bias. */
static void test_convt3d(void) {
    static const int strides[][3] = {{1, 2, 2}, {2, 2, 2}, {2, 1, 1}, {1, 1, 1}, {2, 2, 1}};
    static const int64_t cins[] = {1, 2, 3, 17, 300}, couts[] = {1, 5, 8, 9, 33};
    int n_cases = 0;
    for (int si = 0; si < (int)NNE_ARRAY_LEN(strides); si++) {
        for (int rep = 0; rep < 5; rep++) {
            int64_t in[3] = {rnd_int(1, 9), rnd_int(1, 9), rnd_int(1, 9)};
            if (rep == 4) in[2] = 70; /* more than one column chunk per row */
            const int64_t c_in = pick(cins, 5), c_out = pick(couts, 5);
            const int *s = strides[si];
            const int64_t taps = (int64_t)s[0] * s[1] * s[2];
            const int64_t n_out = c_out * taps * in[0] * in[1] * in[2];
            float *src = frand(c_in * in[0] * in[1] * in[2], 1.0f, 0.0f);
            float *w = frand(c_in * c_out * taps, 1.0f, 0.0f);
            float *bias = frand(c_out, 1.0f, 0.0f);
            double *ref = malloc((size_t)n_out * sizeof(double));
            const float *b = rep == 2 ? NULL : bias;
            convt_naive(ref, src, w, b, c_in, c_out, in, s);
            char what[128];
            snprintf(what, sizeof what, "convt s%dx%dx%d in %lldx%lldx%lld %lld->%lld", s[0], s[1],
                     s[2], (long long)in[0], (long long)in[1], (long long)in[2], (long long)c_in,
                     (long long)c_out);
            check_convt(what, c_in, c_out, in, s, src, w, b, ref, 1e-5);
            n_cases++;
            free(ref);
            nne_free(src);
            nne_free(w);
            nne_free(bias);
        }
    }
    printf("  convt3d: %d shapes x %d variants x %d thread counts\n", n_cases, n_tabs, N_POOLS);
}

/* ---- instance norm, leaky relu --------------------------------------------------------- */

/* Instance norm in double with the textbook two-pass formulas (biased variance). */
static void norm_naive(double *out, const float *x, const float *g, const float *b, int64_t c,
                       int64_t nvox, double eps, int leaky, double slope) {
    for (int64_t ch = 0; ch < c; ch++) {
        const float *xc = x + ch * nvox;
        double mean = 0, var = 0;
        for (int64_t i = 0; i < nvox; i++)
            mean += (double)xc[i];
        mean /= (double)nvox;
        for (int64_t i = 0; i < nvox; i++)
            var += ((double)xc[i] - mean) * ((double)xc[i] - mean);
        var /= (double)nvox;
        for (int64_t i = 0; i < nvox; i++) {
            double y = ((double)xc[i] - mean) / sqrt(var + eps) * (g ? (double)g[ch] : 1.0) +
                       (b ? (double)b[ch] : 0.0);
            if (leaky && y < 0) y *= slope;
            out[ch * nvox + i] = y;
        }
    }
}

/* Instance norm on channel sizes around the chunking boundaries (1, 63/64/65, ...), with
 * zero, large positive and large negative offsets, affine or not, with and without LeakyReLU;
 * max error within 1e-5 of the largest output against the double reference. */
static void test_instnorm(void) {
    static const int64_t nvoxes[] = {1, 2, 7, 63, 64, 65, 129, 1000, 4913};
    int n_cases = 0;
    for (int vi = 0; vi < (int)NNE_ARRAY_LEN(nvoxes); vi++) {
        for (int rep = 0; rep < 3; rep++) {
            const int64_t c = rnd_int(1, 5), nvox = nvoxes[vi], n = c * nvox;
            const float offset = rep == 0 ? 0.0f : rep == 1 ? 1000.0f : -3000.0f;
            float *x0 = frand(n, rep == 2 ? 0.01f : 2.0f, offset);
            float *g = frand(c, 1.0f, 1.0f), *b = frand(c, 1.0f, 0.0f);
            const int affine = rep != 1, leaky = rep != 0;
            double *ref = malloc((size_t)n * sizeof(double));
            norm_naive(ref, x0, affine ? g : NULL, affine ? b : NULL, c, nvox, 1e-5, leaky, 0.01);
            float *x = falloc(n), *x1 = falloc(n);
            for (int t = 0; t < n_tabs; t++) {
                for (int p = 0; p < N_POOLS; p++) {
                    float *o = p == 0 ? x1 : x;
                    memcpy(o, x0, (size_t)n * sizeof(float));
                    nne_instnorm_fwd(pools[p], tabs[t], o, affine ? g : NULL, affine ? b : NULL, c,
                                     nvox, 1e-5, leaky, 0.01f);
                    TEST_CHECK(o[n] == SENTINEL, "instnorm wrote past the end");
                    if (p == 0) {
                        const err_stats e = compare(o, ref, n);
                        TEST_CHECK(e.max_abs <= 1e-5 * (e.max_ref + 1.0),
                                   "instnorm %s c %lld nvox %lld offset %g: max err %.3g",
                                   tabs[t]->name, (long long)c, (long long)nvox, (double)offset,
                                   e.max_abs);
                    } else {
                        TEST_CHECK(!memcmp(x1, x, (size_t)n * sizeof(float)),
                                   "instnorm %s: %d threads differ", tabs[t]->name, p + 1);
                    }
                }
            }
            n_cases++;
            free(ref);
            nne_free(x0);
            nne_free(x);
            nne_free(x1);
            nne_free(g);
            nne_free(b);
        }
    }
    printf("  instnorm: %d shapes x %d variants x %d thread counts\n", n_cases, n_tabs, N_POOLS);
}

/* LeakyReLU must equal the scalar definition exactly (including +0 and -0). */
static void test_leaky(void) {
    const int64_t n = 1031;
    float *x0 = frand(n, 5.0f, 0.0f), *x = falloc(n);
    x0[0] = 0.0f;
    x0[1] = -0.0f;
    for (int t = 0; t < n_tabs; t++) {
        for (int p = 0; p < N_POOLS; p++) {
            memcpy(x, x0, (size_t)n * sizeof(float));
            nne_leaky_relu_fwd(pools[p], tabs[t], x, n, 0.01f);
            int ok = x[n] == SENTINEL;
            for (int64_t i = 0; i < n; i++) {
                const float want = x0[i] >= 0.0f ? x0[i] : x0[i] * 0.01f;
                if (x[i] != want) ok = 0;
            }
            TEST_CHECK(ok, "leaky_relu %s %d threads", tabs[t]->name, p + 1);
        }
    }
    nne_free(x0);
    nne_free(x);
}

/* ---- softmax, argmax ------------------------------------------------------------------- */

/* Softmax against double exp / sum, rows summing to 1, a 1e30 logit (overflow guard),
 * in-place use, argmax against a scalar first-maximum scan, explicit ties. */
static void test_softmax_argmax(void) {
    static const int64_t cs[] = {1, 2, 3, 7}, nvoxes[] = {1, 5, 255, 256, 257, 1000};
    for (int ci = 0; ci < (int)NNE_ARRAY_LEN(cs); ci++) {
        for (int vi = 0; vi < (int)NNE_ARRAY_LEN(nvoxes); vi++) {
            const int64_t c = cs[ci], nvox = nvoxes[vi], n = c * nvox;
            float *src = frand(n, 30.0f, 0.0f);
            src[0] = 1e30f; /* large logits must not overflow */
            float *d1 = falloc(n), *d = falloc(n);
            uint8_t *l1 = malloc((size_t)nvox + 1), *l = malloc((size_t)nvox + 1);
            double max_err = 0, max_sum_err = 0;
            int lab_ok = 1;
            for (int p = 0; p < N_POOLS; p++) {
                float *o = p == 0 ? d1 : d;
                uint8_t *lo = p == 0 ? l1 : l;
                lo[nvox] = 0xAB;
                nne_softmax_fwd(pools[p], o, src, c, nvox);
                nne_argmax_fwd(pools[p], lo, src, c, nvox);
                TEST_CHECK(o[n] == SENTINEL && lo[nvox] == 0xAB, "softmax/argmax past the end");
                if (p > 0) {
                    TEST_CHECK(!memcmp(d1, d, (size_t)n * sizeof(float)) && !memcmp(l1, l, nvox),
                               "softmax/argmax: %d threads differ", p + 1);
                }
            }
            for (int64_t v = 0; v < nvox; v++) {
                double mx = (double)src[v], s = 0, sum_out = 0;
                int64_t best = 0;
                for (int64_t k = 1; k < c; k++) {
                    if ((double)src[k * nvox + v] > mx) {
                        mx = (double)src[k * nvox + v];
                        best = k;
                    }
                }
                for (int64_t k = 0; k < c; k++)
                    s += exp((double)src[k * nvox + v] - mx);
                for (int64_t k = 0; k < c; k++) {
                    const double want = exp((double)src[k * nvox + v] - mx) / s;
                    const double e = fabs((double)d1[k * nvox + v] - want);
                    if (e > max_err) max_err = e;
                    sum_out += (double)d1[k * nvox + v];
                }
                if (fabs(sum_out - 1.0) > max_sum_err) max_sum_err = fabs(sum_out - 1.0);
                if (l1[v] != best) lab_ok = 0;
            }
            TEST_CHECK(max_err <= 1e-7 && max_sum_err <= 1e-6,
                       "softmax c %lld nvox %lld: max err %.3g, |sum - 1| %.3g", (long long)c,
                       (long long)nvox, max_err, max_sum_err);
            TEST_CHECK(lab_ok, "argmax c %lld nvox %lld", (long long)c, (long long)nvox);
            /* in place (dst == src) gives the same result */
            float *inplace = falloc(n);
            memcpy(inplace, src, (size_t)n * sizeof(float));
            nne_softmax_fwd(pools[1], inplace, inplace, c, nvox);
            TEST_CHECK(!memcmp(inplace, d1, (size_t)n * sizeof(float)), "softmax in place");
            nne_free(inplace);
            nne_free(src);
            nne_free(d1);
            nne_free(d);
            free(l1);
            free(l);
        }
    }
    /* ties: the first maximum wins */
    const float tie[3 * 4] = {1, 5, 2, -1, /* c0 */ 1, 5, 3, -1, /* c1 */ 0, 5, 3, -1 /* c2 */};
    uint8_t lab[4];
    for (int p = 0; p < N_POOLS; p++) {
        nne_argmax_fwd(pools[p], lab, tie, 3, 4);
        TEST_CHECK(lab[0] == 0 && lab[1] == 0 && lab[2] == 1 && lab[3] == 0,
                   "argmax ties: %d %d %d %d", lab[0], lab[1], lab[2], lab[3]);
    }
}

/* ---- PyTorch goldens ------------------------------------------------------------------- */
/* Built without cJSON (-DNNE_TEST_NO_JSON, e.g. for a static cross build run under qemu) the
 * golden cases are skipped. */
#ifdef NNE_TEST_NO_JSON
/* Every case of tests/golden/ops/index.json, for every ISA and thread count. */
static void test_golden(void) { test_skip("built without cJSON: PyTorch goldens not checked"); }
#else

/* Reads exactly n little-endian floats of a golden file (NULL if missing or another size). */
static float *read_f32(const char *file, int64_t n) {
    char path[512];
    snprintf(path, sizeof path, GOLDEN_DIR "%s", file);
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *p = falloc(n);
    const size_t got = fread(p, sizeof(float), (size_t)n + 1, f);
    fclose(f);
    if (got != (size_t)n) { /* exactly n floats, not more */
        nne_free(p);
        return NULL;
    }
    p[n] = SENTINEL;
    return p;
}

static int64_t json_int(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsNumber(v) ? (int64_t)v->valuedouble : -1;
}
static void json_vec(const cJSON *o, const char *k, int64_t v[3]) {
    const cJSON *a = cJSON_GetObjectItemCaseSensitive(o, k);
    for (int i = 0; i < 3; i++) {
        const cJSON *e = cJSON_GetArrayItem(a, i);
        v[i] = cJSON_IsNumber(e) ? (int64_t)e->valuedouble : 1;
    }
}
static const char *json_str(const cJSON *o, const char *k) {
    const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, k);
    return cJSON_IsString(v) ? v->valuestring : "";
}

/* Compares against the PyTorch output: max |err| <= 1e-5 * range of the expected values. */
static void golden_check(const char *name, const char *isa, int threads, const float *got,
                         const float *want, int64_t n) {
    float lo = want[0], hi = want[0];
    double max_err = 0;
    for (int64_t i = 0; i < n; i++) {
        lo = want[i] < lo ? want[i] : lo;
        hi = want[i] > hi ? want[i] : hi;
        const double e = fabs((double)got[i] - (double)want[i]);
        if (e > max_err || e != e) max_err = e != e ? (double)INFINITY : e;
    }
    const double range = (double)hi - (double)lo;
    TEST_CHECK(max_err <= 1e-5 * range && got[n] == SENTINEL,
               "golden %s %s: max |err| %.3g > 1e-5 * range %.3g", name, isa, max_err, range);
    if (threads == 1)
        printf("  golden %-22s %-4s max |err| %.3g = %.2g x range\n", name, isa, max_err,
               max_err / (range > 0 ? range : 1));
}

static void test_golden(void) {
    FILE *f = fopen(GOLDEN_DIR "index.json", "rb");
    if (!f) {
        test_skip("tests/golden/ops/index.json missing (run tools/gen_ops_golden.py)");
        return;
    }
    char *text = malloc(1 << 16);
    const size_t len = fread(text, 1, (1 << 16) - 1, f);
    fclose(f);
    text[len] = '\0';
    cJSON *root = cJSON_Parse(text);
    free(text);
    TEST_CHECK(root != NULL, "golden index parses");
    const cJSON *cases = cJSON_GetObjectItemCaseSensitive(root, "cases"), *cs;
    cJSON_ArrayForEach(cs, cases) {
        const char *name = json_str(cs, "name"), *op = json_str(cs, "op");
        int64_t in[3], out[3];
        json_vec(cs, "in", in);
        json_vec(cs, "out", out);
        if (!strcmp(op, "conv3d") || !strcmp(op, "convt3d")) {
            const int conv = !strcmp(op, "conv3d");
            const int64_t c_in = json_int(cs, "c_in"), c_out = json_int(cs, "c_out");
            int64_t k64[3], s64[3];
            json_vec(cs, conv ? "k" : "stride", k64);
            json_vec(cs, "stride", s64);
            const int k[3] = {(int)k64[0], (int)k64[1], (int)k64[2]};
            const int s[3] = {(int)s64[0], (int)s64[1], (int)s64[2]};
            const int64_t n_in = c_in * in[0] * in[1] * in[2];
            const int64_t n_out = c_out * out[0] * out[1] * out[2];
            const int64_t n_w = c_in * c_out * k[0] * k[1] * k[2];
            float *src = read_f32(json_str(cs, "src"), n_in), *w = read_f32(json_str(cs, "w"), n_w);
            float *b = read_f32(json_str(cs, "bias"), c_out);
            float *want = read_f32(json_str(cs, "expected"), n_out);
            TEST_CHECK(src && w && b && want, "golden %s: files readable with expected sizes",
                       name);
            if (src && w && b && want) {
                nne_conv3d_desc d;
                if (conv) nne_conv3d_desc_init(&d, c_in, c_out, in, k, s);
                void *ws = conv ? nne_malloc(nne_conv3d_ws_bytes(&d, N_POOLS)) : NULL;
                float *got = falloc(n_out);
                for (int t = 0; t < n_tabs; t++) {
                    for (int p = 0; p < N_POOLS; p++) {
                        if (conv) {
                            TEST_CHECK(d.out[0] == out[0] && d.out[1] == out[1] &&
                                           d.out[2] == out[2],
                                       "golden %s: output size", name);
                            nne_conv3d_fwd(pools[p], tabs[t], got, src, w, b, &d, ws);
                        } else {
                            nne_convt3d_fwd(pools[p], tabs[t], got, src, w, b, c_in, c_out, in, s);
                        }
                        golden_check(name, tabs[t]->name, p + 1, got, want, n_out);
                    }
                }
                nne_free(ws);
                nne_free(got);
            }
            nne_free(src);
            nne_free(w);
            nne_free(b);
            nne_free(want);
        } else if (!strcmp(op, "instnorm")) {
            const int64_t c = json_int(cs, "c"), nvox = in[0] * in[1] * in[2];
            const cJSON *eps = cJSON_GetObjectItemCaseSensitive(cs, "eps");
            const cJSON *slope = cJSON_GetObjectItemCaseSensitive(cs, "slope");
            const int leaky = (int)json_int(cs, "leaky");
            float *src = read_f32(json_str(cs, "src"), c * nvox);
            float *g = read_f32(json_str(cs, "gamma"), c), *b = read_f32(json_str(cs, "beta"), c);
            float *want = read_f32(json_str(cs, "expected"), c * nvox);
            TEST_CHECK(src && g && b && want && cJSON_IsNumber(eps) && cJSON_IsNumber(slope),
                       "golden %s: files readable", name);
            if (src && g && b && want && cJSON_IsNumber(eps) && cJSON_IsNumber(slope)) {
                float *x = falloc(c * nvox);
                for (int t = 0; t < n_tabs; t++) {
                    for (int p = 0; p < N_POOLS; p++) {
                        memcpy(x, src, (size_t)(c * nvox) * sizeof(float));
                        nne_instnorm_fwd(pools[p], tabs[t], x, g, b, c, nvox, eps->valuedouble,
                                         leaky, (float)slope->valuedouble);
                        golden_check(name, tabs[t]->name, p + 1, x, want, c * nvox);
                    }
                }
                nne_free(x);
            }
            nne_free(src);
            nne_free(g);
            nne_free(b);
            nne_free(want);
        } else {
            TEST_CHECK(0, "golden %s: unknown op %s", name, op);
        }
    }
    cJSON_Delete(root);
}
#endif

/* One pool per thread count for the whole run; tests share them. */
int main(void) {
    n_tabs = nne_cpu_available(tabs, 8);
    for (int p = 0; p < N_POOLS; p++) {
        if (nne_pool_init(p + 1, &pools[p]) != NNE_OK) {
            fprintf(stderr, "cannot create a pool of %d threads\n", p + 1);
            return 1;
        }
    }
    test_conv3d();
    test_conv3d_prepared();
    test_convt3d();
    test_instnorm();
    test_leaky();
    test_softmax_argmax();
    test_golden();
    for (int p = 0; p < N_POOLS; p++)
        nne_pool_free(pools[p]);
    return TEST_SUMMARY();
}
