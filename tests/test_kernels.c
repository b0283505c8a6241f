/*
 * test_kernels.c - every microkernel of every ISA variant this machine can run, against its
 * portable `_ref` twin, on random shapes including odd sizes, tails and borders.
 *
 * Accuracy is judged by the normalized mean squared error sum((a - b)^2) / sum(b^2) against
 * the reference output (threshold NMSE_MAX), as ggml's test-backend-ops does: variants may
 * sum in a different order or fuse multiply-adds, so bitwise equality is not expected here.
 * Output buffers are surrounded by sentinel values that must survive, which catches writes
 * outside the documented range. Needs only the kernel objects (no I/O libraries), so it also
 * runs under qemu for the NEON table.
 */
#include <stdint.h>
#include <string.h>

#include "cpu.h"
#include "test.h"

#define NMSE_MAX 1e-10
#define SENTINEL 12345.0f
#define N_TRIALS 300

/* Deterministic inputs: the same shapes and values on every run and machine. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;

static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t rnd_int(int64_t lo, int64_t hi) { /* inclusive */
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}
static float rnd_f(void) {
    return (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2 - 1);
}
static void fill(float *x, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        x[i] = rnd_f();
}
static void fill_const(float *x, int64_t n, float v) {
    for (int64_t i = 0; i < n; i++)
        x[i] = v;
}

/* Normalized MSE of a against the reference b (absolute MSE when b is all zero). */
static double nmse(const float *a, const float *b, int64_t n) {
    double num = 0.0, den = 0.0;
    for (int64_t i = 0; i < n; i++) {
        const double d = (double)a[i] - (double)b[i];
        num += d * d;
        den += (double)b[i] * (double)b[i];
    }
    return den > 0.0 ? num / den : num;
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) abort();
    return p;
}

/* conv3d_row on random geometry: 1..12 input channels, kernel widths 1/3/5, 0..3 valid d/h
 * taps, strides 1..3, rows of 1..45 columns (so every tile width, the row tails and both
 * borders occur), 1..8 valid output channels, odd strides between rows/planes/channels, with
 * and without accumulation into dst, and in the padded-row mode conv3d.c uses (pw = 0,
 * rows longer than the output). Sentinels check that nothing outside the row is written. */
static void test_conv3d_row(const nne_kernels *kt) {
    int worst_ok = 1;
    for (int t = 0; t < N_TRIALS; t++) {
        nne_conv3d_row r;
        memset(&r, 0, sizeof r);
        const int64_t c_in = rnd_int(1, 12);
        r.kw = (int)(2 * rnd_int(0, 2) + 1);
        r.nkd = (int)rnd_int(t == 0 ? 0 : 1, 3);
        r.nkh = (int)rnd_int(1, 3);
        r.sw = (int)rnd_int(1, 3);
        r.pw = r.kw / 2;
        r.win = rnd_int(1, 45);
        r.wout = (r.win + 2 * r.pw - r.kw) / r.sw + 1;
        if (rnd_int(0, 2) == 0) { /* conv3d.c's zero-padded row buffer: no padding, long rows */
            r.wout = rnd_int(1, 40);
            r.pw = 0;
            r.win = (r.wout + 12) * r.sw + r.kw;
        }
        r.noc = (int)rnd_int(1, NNE_CONV_OCB);
        r.c_in = c_in;
        r.src_hs = r.win + rnd_int(0, 3);
        r.src_ds = 3 * r.src_hs + rnd_int(0, 3);
        r.src_cs = 3 * r.src_ds + rnd_int(0, 3);
        r.w_hs = (int64_t)r.kw * NNE_CONV_OCB;
        r.w_ds = 3 * r.w_hs;
        r.w_cs = 3 * r.w_ds;
        r.dst_cs = r.wout + rnd_int(0, 5);
        const int64_t nsrc = c_in * r.src_cs, nw = c_in * r.w_cs;
        const int64_t ndst = (int64_t)NNE_CONV_OCB * r.dst_cs;
        float *src = xmalloc((size_t)nsrc * sizeof(float));
        float *w = xmalloc((size_t)nw * sizeof(float));
        float bias[NNE_CONV_OCB];
        float *d_ref = xmalloc((size_t)ndst * sizeof(float));
        float *d_var = xmalloc((size_t)ndst * sizeof(float));
        fill(src, nsrc);
        fill(w, nw);
        fill(bias, NNE_CONV_OCB);
        fill_const(d_ref, ndst, SENTINEL);
        r.accumulate = (int)rnd_int(0, 1); /* continue from partial sums already in dst */
        if (r.accumulate) {
            for (int o = 0; o < r.noc; o++)
                fill(d_ref + o * r.dst_cs, r.wout);
        }
        memcpy(d_var, d_ref, (size_t)ndst * sizeof(float));
        r.src = src;
        r.w = w;
        r.bias = bias;
        r.dst = d_ref;
        nne_kernels_ref.conv3d_row(&r);
        r.dst = d_var;
        kt->conv3d_row(&r);
        const double e = nmse(d_var, d_ref, ndst);
        int sentinels = 1;
        for (int64_t i = 0; i < ndst; i++) {
            const int inside = i / r.dst_cs < r.noc && i % r.dst_cs < r.wout;
            if (!inside && d_var[i] != SENTINEL) sentinels = 0;
        }
        if (!(e <= NMSE_MAX && sentinels)) worst_ok = 0;
        TEST_CHECK(e <= NMSE_MAX && sentinels,
                   "%s conv3d_row c_in %lld kw %d nkd %d nkh %d sw %d win %lld noc %d acc %d:"
                   " nmse %.3g sentinels %d",
                   kt->name, (long long)c_in, r.kw, r.nkd, r.nkh, r.sw, (long long)r.win, r.noc,
                   r.accumulate, e, sentinels);
        free(src);
        free(w);
        free(d_ref);
        free(d_var);
    }
    printf("  %s conv3d_row: %d random shapes %s\n", kt->name, N_TRIALS, worst_ok ? "ok" : "FAIL");
}

/* gemm_rows with weights read both ways ([k][j] as the transposed convolution does, [j][k]
 * as the 1x1x1 convolution does), 1..20 rows (full 6-row tiles and remainders), 1..70
 * columns (tails below and above the vector tile), optional bias, padded row strides. */
static void test_gemm_rows(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t m = rnd_int(1, 20), nk = rnd_int(1, 40), n = rnd_int(1, 70);
        const int transposed = (int)rnd_int(0, 1); /* w as [k][j] or as [j][k] */
        const int64_t w_ks = transposed ? 1 : m + rnd_int(0, 2);
        const int64_t w_js = transposed ? nk + rnd_int(0, 2) : 1;
        const int64_t src_ks = n + rnd_int(0, 3), dst_rs = n + rnd_int(0, 3);
        const int64_t nw = transposed ? m * w_js : nk * w_ks;
        float *w = xmalloc((size_t)nw * sizeof(float));
        float *src = xmalloc((size_t)(nk * src_ks) * sizeof(float));
        float *bias = xmalloc((size_t)m * sizeof(float));
        float *d_ref = xmalloc((size_t)(m * dst_rs) * sizeof(float));
        float *d_var = xmalloc((size_t)(m * dst_rs) * sizeof(float));
        fill(w, nw);
        fill(src, nk * src_ks);
        fill(bias, m);
        fill_const(d_ref, m * dst_rs, SENTINEL);
        fill_const(d_var, m * dst_rs, SENTINEL);
        const float *b = rnd_int(0, 1) ? bias : NULL;
        nne_kernels_ref.gemm_rows(d_ref, dst_rs, src, src_ks, w, w_ks, w_js, b, m, nk, n);
        kt->gemm_rows(d_var, dst_rs, src, src_ks, w, w_ks, w_js, b, m, nk, n);
        int sentinels = 1;
        for (int64_t i = 0; i < m * dst_rs; i++)
            if (i % dst_rs >= n && d_var[i] != SENTINEL) sentinels = 0;
        const double e = nmse(d_var, d_ref, m * dst_rs);
        TEST_CHECK(e <= NMSE_MAX && sentinels, "%s gemm_rows m %lld nk %lld n %lld: nmse %.3g",
                   kt->name, (long long)m, (long long)nk, (long long)n, e);
        free(w);
        free(src);
        free(bias);
        free(d_ref);
        free(d_var);
    }
}

/* convt_rows: 1..10 groups (full 3-group tiles and remainders), 1..40 input channels, 1..50
 * columns (short rows, tails, several tiles), taps s = 1..3 (2 has the fast paths), padded
 * strides, optional bias; the gap between rows must keep its sentinel. One trial in 16 has
 * rows 256 Ki floats apart and more (the streaming stores of the large decoder levels). */
static void test_convt_rows(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t m = rnd_int(1, 10), nk = rnd_int(1, 40), n = rnd_int(1, 50);
        const int s = (int)(rnd_int(0, 2) ? 2 : rnd_int(1, 3));
        const int64_t w_gs = s + rnd_int(0, 3), w_ks = m * w_gs + rnd_int(0, 2);
        const int64_t src_ks = n + rnd_int(0, 3);
        const int64_t dst_rs = t % 16 == 0 ? (256 << 10) + rnd_int(0, 9) : n * s + rnd_int(0, 3);
        float *w = xmalloc((size_t)(nk * w_ks) * sizeof(float));
        float *src = xmalloc((size_t)(nk * src_ks) * sizeof(float));
        float *bias = xmalloc((size_t)m * sizeof(float));
        float *d_ref = xmalloc((size_t)(m * dst_rs) * sizeof(float));
        float *d_var = xmalloc((size_t)(m * dst_rs) * sizeof(float));
        fill(w, nk * w_ks);
        fill(src, nk * src_ks);
        fill(bias, m);
        fill_const(d_ref, m * dst_rs, SENTINEL);
        fill_const(d_var, m * dst_rs, SENTINEL);
        const float *b = rnd_int(0, 1) ? bias : NULL;
        nne_kernels_ref.convt_rows(d_ref, dst_rs, src, src_ks, w, w_ks, w_gs, b, m, nk, n, s);
        kt->convt_rows(d_var, dst_rs, src, src_ks, w, w_ks, w_gs, b, m, nk, n, s);
        int sentinels = 1;
        for (int64_t i = 0; i < m * dst_rs; i++)
            if (i % dst_rs >= n * s && d_var[i] != SENTINEL) sentinels = 0;
        const double e = nmse(d_var, d_ref, m * dst_rs);
        TEST_CHECK(e <= NMSE_MAX && sentinels,
                   "%s convt_rows m %lld nk %lld n %lld s %d: nmse %.3g sentinels %d", kt->name,
                   (long long)m, (long long)nk, (long long)n, s, e, sentinels);
        free(w);
        free(src);
        free(bias);
        free(d_ref);
        free(d_var);
    }
}

/* convt_s2: 1..10 channels (full 3-channel tiles and remainders), 1..40 input channels,
 * 1..30 columns (short rows, tails), padded strides between the output rows, planes and
 * channels, optional bias; everything but the outputs must keep its sentinel. */
static void test_convt_s2(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t m = rnd_int(1, 10), nk = rnd_int(1, 40), n = rnd_int(1, 30);
        const int64_t w_ks = m * 8 + 8 * rnd_int(0, 2), src_ks = n + rnd_int(0, 3);
        const int64_t dst_hs = 2 * n + rnd_int(0, 3), dst_ds = 2 * dst_hs + rnd_int(0, 3);
        const int64_t dst_cs = 2 * dst_ds + rnd_int(0, 3), nd = m * dst_cs;
        float *w = xmalloc((size_t)(nk * w_ks) * sizeof(float));
        float *src = xmalloc((size_t)(nk * src_ks) * sizeof(float));
        float *bias = xmalloc((size_t)m * sizeof(float));
        float *d_ref = xmalloc((size_t)nd * sizeof(float));
        float *d_var = xmalloc((size_t)nd * sizeof(float));
        fill(w, nk * w_ks);
        fill(src, nk * src_ks);
        fill(bias, m);
        fill_const(d_ref, nd, SENTINEL);
        fill_const(d_var, nd, SENTINEL);
        const float *b = rnd_int(0, 1) ? bias : NULL;
        nne_kernels_ref.convt_s2(d_ref, dst_cs, dst_ds, dst_hs, src, src_ks, w, w_ks, b, m, nk, n);
        kt->convt_s2(d_var, dst_cs, dst_ds, dst_hs, src, src_ks, w, w_ks, b, m, nk, n);
        int sentinels = 1;
        for (int64_t i = 0; i < nd; i++) {
            const int64_t r = i % dst_cs, a = r / dst_ds, bb = r % dst_ds / dst_hs;
            const int inside = a < 2 && bb < 2 && r % dst_ds % dst_hs < 2 * n;
            if (!inside && d_var[i] != SENTINEL) sentinels = 0;
        }
        const double e = nmse(d_var, d_ref, nd);
        TEST_CHECK(e <= NMSE_MAX && sentinels, "%s convt_s2 m %lld nk %lld n %lld: nmse %.3g "
                   "sentinels %d", kt->name, (long long)m, (long long)nk, (long long)n, e,
                   sentinels);
        free(w);
        free(src);
        free(bias);
        free(d_ref);
        free(d_var);
    }
}

/* bias_rows: 1..9 rows of 0..70 columns at padded strides (every tail and alignment of the
 * vector paths), with and without `stream`; exact sums, the gap after each row must keep its
 * sentinel. */
static void test_bias_rows(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t m = rnd_int(1, 9), n = rnd_int(0, 70);
        const int64_t src_rs = n + rnd_int(0, 3), dst_rs = n + rnd_int(1, 9);
        const int64_t off = rnd_int(0, 7); /* dst misaligned by a few floats */
        float *src = xmalloc((size_t)(m * src_rs) * sizeof(float));
        float *bias = xmalloc((size_t)m * sizeof(float));
        float *dst = xmalloc((size_t)(m * dst_rs + off) * sizeof(float));
        fill(src, m * src_rs);
        fill(bias, m);
        fill_const(dst, m * dst_rs + off, SENTINEL);
        const int stream = (int)rnd_int(0, 1);
        kt->bias_rows(dst + off, dst_rs, src, src_rs, bias, m, n, stream);
        int ok = 1;
        for (int64_t r = 0; r < m; r++)
            for (int64_t i = 0; i < dst_rs; i++) {
                const float v = dst[off + r * dst_rs + i];
                ok = ok && (i < n ? v == src[r * src_rs + i] + bias[r] : v == SENTINEL);
            }
        for (int64_t i = 0; i < off; i++) ok = ok && dst[i] == SENTINEL;
        TEST_CHECK(ok, "%s bias_rows m %lld n %lld stream %d", kt->name, (long long)m,
                   (long long)n, stream);
        free(src);
        free(bias);
        free(dst);
    }
}

/* im2col_s2 on rows of 1..100 input columns and 0..60 output columns (every tail length of
 * the vector paths, outputs past the row's end reading the padding); exact copies, the
 * element after each output must keep its sentinel. */
static void test_im2col_s2(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t w = rnd_int(1, 100);
        const int64_t n = rnd_int(0, 1) ? (w + 1) / 2 : rnd_int(0, 60);
        float *src = xmalloc((size_t)w * sizeof(float));
        float *o[3], *r[3];
        for (int c = 0; c < 3; c++) {
            o[c] = xmalloc((size_t)(n + 1) * sizeof(float));
            r[c] = xmalloc((size_t)(n + 1) * sizeof(float));
            o[c][n] = r[c][n] = SENTINEL;
        }
        fill(src, w);
        nne_kernels_ref.im2col_s2(r[0], r[1], r[2], src, w, n);
        kt->im2col_s2(o[0], o[1], o[2], src, w, n);
        int ok = 1;
        for (int c = 0; c < 3; c++)
            for (int64_t x = 0; x <= n; x++) ok = ok && o[c][x] == r[c][x];
        for (int64_t x = 0; x < n; x++) /* the reference itself, against the contract */
            ok = ok && r[1][x] == (2 * x < w ? src[2 * x] : 0.0f) &&
                 r[0][x] == (x > 0 && 2 * x - 1 < w ? src[2 * x - 1] : 0.0f);
        TEST_CHECK(ok, "%s im2col_s2 w %lld n %lld", kt->name, (long long)w, (long long)n);
        free(src);
        for (int c = 0; c < 3; c++) {
            free(o[c]);
            free(r[c]);
        }
    }
}

/* The instance-norm kernels and LeakyReLU on 0..300 elements (all tail lengths) around
 * offsets up to +-1000: double sums to 1e-12 relative, apply step by NMSE, LeakyReLU exact. */
static void test_elementwise(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t n = rnd_int(0, 300);
        float *x = xmalloc((size_t)(n + 1) * sizeof(float));
        float *a = xmalloc((size_t)(n + 1) * sizeof(float));
        float *b = xmalloc((size_t)(n + 1) * sizeof(float));
        const float offset = (float)rnd_int(-1000, 1000);
        for (int64_t i = 0; i < n; i++)
            x[i] = rnd_f() * 3.0f + offset;
        a[n] = b[n] = SENTINEL;

        /* sums in double */
        const double s_ref = nne_kernels_ref.sum_f64(x, n), s_var = kt->sum_f64(x, n);
        TEST_CHECK(fabs(s_var - s_ref) <= 1e-12 * (fabs(s_ref) + 1.0), "%s sum_f64 n %lld",
                   kt->name, (long long)n);
        const double mean = n ? s_ref / (double)n : 0.0;
        const double q_ref = nne_kernels_ref.sumsq_dev_f64(x, n, mean);
        const double q_var = kt->sumsq_dev_f64(x, n, mean);
        TEST_CHECK(fabs(q_var - q_ref) <= 1e-12 * (q_ref + 1e-30),
                   "%s sumsq_dev_f64 n %lld: "
                   "%.17g vs %.17g",
                   kt->name, (long long)n, q_var, q_ref);

        /* normalize + leaky */
        const float m_hi = (float)mean, m_lo = (float)(mean - (double)m_hi);
        const float scale = rnd_f() * 2.0f, shift = rnd_f();
        const int leaky = (int)rnd_int(0, 1);
        memcpy(a, x, (size_t)n * sizeof(float));
        memcpy(b, x, (size_t)n * sizeof(float));
        nne_kernels_ref.norm_apply(a, n, m_hi, m_lo, scale, shift, leaky, 0.01f);
        kt->norm_apply(b, n, m_hi, m_lo, scale, shift, leaky, 0.01f);
        TEST_CHECK(nmse(b, a, n) <= NMSE_MAX && b[n] == SENTINEL, "%s norm_apply n %lld", kt->name,
                   (long long)n);

        /* leaky relu (exact: one multiply per element) */
        for (int64_t i = 0; i < n; i++)
            a[i] = b[i] = rnd_f();
        nne_kernels_ref.leaky_relu(a, n, 0.01f);
        kt->leaky_relu(b, n, 0.01f);
        TEST_CHECK(memcmp(a, b, (size_t)(n + 1) * sizeof(float)) == 0, "%s leaky_relu n %lld",
                   kt->name, (long long)n);
        free(x);
        free(a);
        free(b);
    }
}

/* axpy_rows on 1..10 source rows of 1..90 columns. */
static void test_axpy_rows(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS; t++) {
        const int64_t nk = rnd_int(1, 10), n = rnd_int(1, 90), stride = n + rnd_int(0, 3);
        float *src = xmalloc((size_t)(nk * stride) * sizeof(float));
        float w[10];
        float *a = xmalloc((size_t)(n + 1) * sizeof(float));
        float *b = xmalloc((size_t)(n + 1) * sizeof(float));
        fill(src, nk * stride);
        fill(w, nk);
        fill(a, n);
        memcpy(b, a, (size_t)n * sizeof(float));
        a[n] = b[n] = SENTINEL;
        nne_kernels_ref.axpy_rows(a, src, stride, w, nk, n);
        kt->axpy_rows(b, src, stride, w, nk, n);
        TEST_CHECK(nmse(b, a, n) <= NMSE_MAX && b[n] == SENTINEL, "%s axpy_rows nk %lld n %lld",
                   kt->name, (long long)nk, (long long)n);
        free(src);
        free(a);
        free(b);
    }
}

/* The variant's name suffix, transform positions and group width in columns. */
static const char *wino_name(int variant) {
    return variant == 2 ? "" : variant == 4 ? "4" : "44";
}
static int64_t wino_npos(int variant) {
    return variant == 2 ? NNE_WINO_NPOS : variant == 4 ? NNE_WINO4_NPOS : NNE_WINO44_NPOS;
}
static int64_t wino_group_w(int variant) {
    return (variant == 44 ? 4 : 2) * NNE_WINO_GT;
}

/* Winograd input transform (F(2x2x2), F(4x4x2) or F(4x4x4), `variant` 2, 4 or 44) of one tile
 * group at random corners of random volumes (1..9 voxels along d and h, 1..40 along w, 1..80
 * for F(4x4x4)'s 32-column groups: groups inside, across the left/right/top/bottom edges and
 * partly or wholly outside), 1..5 channels, padded position and channel strides; every V
 * entry against the reference, the padding between strides must keep its sentinel. */
static void test_wino_in(const nne_kernels *kt, int variant) {
    const int64_t npos = wino_npos(variant), gw = wino_group_w(variant);
    void (*const f_ref)(const nne_wino_in *) = variant == 2   ? nne_kernels_ref.wino_in
                                               : variant == 4 ? nne_kernels_ref.wino4_in
                                                              : nne_kernels_ref.wino44_in;
    void (*const f_var)(const nne_wino_in *) = variant == 2   ? kt->wino_in
                                               : variant == 4 ? kt->wino4_in
                                                              : kt->wino44_in;
    for (int t = 0; t < N_TRIALS; t++) {
        nne_wino_in a;
        memset(&a, 0, sizeof a);
        a.d = rnd_int(1, 9);
        a.h = rnd_int(1, 9);
        a.w = rnd_int(1, variant == 44 ? 80 : 40);
        a.nc = rnd_int(1, 5);
        a.z0 = rnd_int(-1, a.d);
        a.y0 = rnd_int(-1, a.h);
        a.x0 = rnd_int(0, 1) ? gw * rnd_int(0, (a.w + gw - 1) / gw) - 1 : rnd_int(-1, a.w);
        a.src_cs = a.d * a.h * a.w + rnd_int(0, 3);
        a.v_cs = NNE_WINO_GT + 8 * rnd_int(0, 2);
        a.v_ps = a.nc * a.v_cs + rnd_int(0, 5);
        const int64_t nsrc = a.nc * a.src_cs, nv = npos * a.v_ps;
        float *src = xmalloc((size_t)nsrc * sizeof(float));
        float *v_ref = xmalloc((size_t)nv * sizeof(float));
        float *v_var = xmalloc((size_t)nv * sizeof(float));
        fill(src, nsrc);
        fill_const(v_ref, nv, SENTINEL);
        fill_const(v_var, nv, SENTINEL);
        a.src = src;
        a.v = v_ref;
        f_ref(&a);
        a.v = v_var;
        f_var(&a);
        int sentinels = 1;
        for (int64_t i = 0; i < nv; i++) {
            const int64_t r = i % a.v_ps;
            const int inside = r < a.nc * a.v_cs && r % a.v_cs < NNE_WINO_GT;
            if (!inside && v_var[i] != SENTINEL) sentinels = 0;
        }
        const double e = nmse(v_var, v_ref, nv);
        TEST_CHECK(e <= NMSE_MAX && sentinels,
                   "%s wino%s_in vol %lldx%lldx%lld corner %lld,%lld,%lld nc %lld: nmse %.3g "
                   "sentinels %d",
                   kt->name, wino_name(variant), (long long)a.d, (long long)a.h,
                   (long long)a.w, (long long)a.z0,
                   (long long)a.y0, (long long)a.x0, (long long)a.nc, e, sentinels);
        free(src);
        free(v_ref);
        free(v_var);
    }
}

/* Winograd transform-domain GEMM: 1..64 positions, 1..5 row blocks, 1..40 input channels,
 * 8..48 tiles (every register-tile remainder), padded strides, with and without accumulation;
 * columns past nt must keep their sentinel. */
static void test_wino_gemm(const nne_kernels *kt) {
    for (int t = 0; t < N_TRIALS / 3; t++) {
        nne_wino_gemm a;
        memset(&a, 0, sizeof a);
        a.npos = rnd_int(0, 1) ? NNE_WINO_NPOS : rnd_int(1, 64);
        a.nb = rnd_int(1, 5);
        a.c_in = rnd_int(1, 40);
        a.nt = NNE_WINO_GT * rnd_int(1, 6);
        a.m_cs = a.nt + 8 * rnd_int(0, 1);
        a.m_ps = a.nb * NNE_WINO_OCR * a.m_cs + rnd_int(0, 3);
        a.v_cs = a.nt + 8 * rnd_int(0, 1);
        a.v_ps = a.c_in * a.v_cs + rnd_int(0, 3);
        a.u_bs = (a.c_in + rnd_int(0, 2)) * NNE_WINO_OCR;
        a.u_ps = a.nb * a.u_bs + rnd_int(0, 3);
        a.accumulate = (int)rnd_int(0, 1);
        const int64_t nm = a.npos * a.m_ps, nv = a.npos * a.v_ps, nu = a.npos * a.u_ps;
        float *u = xmalloc((size_t)nu * sizeof(float));
        float *v = xmalloc((size_t)nv * sizeof(float));
        float *m_ref = xmalloc((size_t)nm * sizeof(float));
        float *m_var = xmalloc((size_t)nm * sizeof(float));
        fill(u, nu);
        fill(v, nv);
        fill_const(m_ref, nm, SENTINEL);
        for (int64_t i = 0; i < nm; i++) {
            const int64_t r = i % a.m_ps;
            if (r < a.nb * NNE_WINO_OCR * a.m_cs && r % a.m_cs < a.nt) m_ref[i] = rnd_f();
        }
        memcpy(m_var, m_ref, (size_t)nm * sizeof(float));
        a.u = u;
        a.v = v;
        a.m = m_ref;
        nne_kernels_ref.wino_gemm(&a);
        a.m = m_var;
        kt->wino_gemm(&a);
        int sentinels = 1;
        for (int64_t i = 0; i < nm; i++) {
            const int64_t r = i % a.m_ps;
            const int inside = r < a.nb * NNE_WINO_OCR * a.m_cs && r % a.m_cs < a.nt;
            if (!inside && m_var[i] != SENTINEL) sentinels = 0;
        }
        const double e = nmse(m_var, m_ref, nm);
        TEST_CHECK(e <= NMSE_MAX && sentinels,
                   "%s wino_gemm npos %lld nb %lld c_in %lld nt %lld acc %d: nmse %.3g "
                   "sentinels %d",
                   kt->name, (long long)a.npos, (long long)a.nb, (long long)a.c_in,
                   (long long)a.nt, a.accumulate, e, sentinels);
        free(u);
        free(v);
        free(m_ref);
        free(m_var);
    }
}

/* Winograd output transform (`variant` 2, 4 or 44) of one tile group at random tile corners
 * of random output volumes (1..9 along d and h, 1..40 along w, 1..80 for F(4x4x4), so the
 * group is clipped on any side), 1..5 channels; every output voxel against the reference,
 * every voxel outside the group's valid ones untouched. */
static void test_wino_out(const nne_kernels *kt, int variant) {
    const int64_t npos = wino_npos(variant), te = variant == 2 ? 2 : 4;
    const int64_t gw = wino_group_w(variant);
    void (*const f_ref)(const nne_wino_out *) = variant == 2   ? nne_kernels_ref.wino_out
                                                : variant == 4 ? nne_kernels_ref.wino4_out
                                                               : nne_kernels_ref.wino44_out;
    void (*const f_var)(const nne_wino_out *) = variant == 2   ? kt->wino_out
                                                : variant == 4 ? kt->wino4_out
                                                               : kt->wino44_out;
    for (int t = 0; t < N_TRIALS; t++) {
        nne_wino_out a;
        memset(&a, 0, sizeof a);
        a.d = rnd_int(1, 9);
        a.h = rnd_int(1, 9);
        a.w = rnd_int(1, variant == 44 ? 80 : 40);
        a.nc = rnd_int(1, 5);
        a.z0 = te * rnd_int(0, (a.d - 1) / te);
        a.y0 = te * rnd_int(0, (a.h - 1) / te);
        a.x0 = gw * rnd_int(0, (a.w - 1) / gw);
        a.dst_cs = a.d * a.h * a.w + rnd_int(0, 3);
        a.m_cs = NNE_WINO_GT + 8 * rnd_int(0, 2);
        a.m_ps = a.nc * a.m_cs + rnd_int(0, 5);
        const int64_t nm = npos * a.m_ps, nd = a.nc * a.dst_cs;
        float *m = xmalloc((size_t)nm * sizeof(float));
        float bias[5];
        float *d_ref = xmalloc((size_t)nd * sizeof(float));
        float *d_var = xmalloc((size_t)nd * sizeof(float));
        fill(m, nm);
        fill(bias, 5);
        fill_const(d_ref, nd, SENTINEL);
        fill_const(d_var, nd, SENTINEL);
        a.m = m;
        a.bias = bias;
        a.dst = d_ref;
        f_ref(&a);
        a.dst = d_var;
        f_var(&a);
        int sentinels = 1, written = 1;
        for (int64_t i = 0; i < nd; i++) {
            const int64_t r = i % a.dst_cs;
            const int64_t z = r / (a.h * a.w), y = (r / a.w) % a.h, x = r % a.w;
            const int inside = r < a.d * a.h * a.w && z >= a.z0 && z < a.z0 + te &&
                               y >= a.y0 && y < a.y0 + te && x >= a.x0 &&
                               x < a.x0 + gw;
            if (!inside && d_var[i] != SENTINEL) sentinels = 0;
            if (inside && d_var[i] == SENTINEL) written = 0;
        }
        const double e = nmse(d_var, d_ref, nd);
        TEST_CHECK(e <= NMSE_MAX && sentinels && written,
                   "%s wino%s_out vol %lldx%lldx%lld corner %lld,%lld,%lld nc %lld: nmse %.3g "
                   "sentinels %d written %d",
                   kt->name, wino_name(variant), (long long)a.d, (long long)a.h,
                   (long long)a.w, (long long)a.z0,
                   (long long)a.y0, (long long)a.x0, (long long)a.nc, e, sentinels, written);
        free(m);
        free(d_ref);
        free(d_var);
    }
}

/* Runs every check for every table this machine can execute (ref included, which also
 * checks the harness: ref against itself must be exact). */
int main(void) {
    const nne_kernels *tabs[8];
    const int n = nne_cpu_available(tabs, 8);
    printf("variants:");
    for (int i = 0; i < n; i++)
        printf(" %s", tabs[i]->name);
    printf("\n");
    for (int i = 0; i < n; i++) { /* ref against itself checks the harness and sentinels */
        test_conv3d_row(tabs[i]);
        test_gemm_rows(tabs[i]);
        test_convt_rows(tabs[i]);
        test_convt_s2(tabs[i]);
        test_im2col_s2(tabs[i]);
        test_bias_rows(tabs[i]);
        test_elementwise(tabs[i]);
        test_axpy_rows(tabs[i]);
        test_wino_in(tabs[i], 2);
        test_wino_in(tabs[i], 4);
        test_wino_in(tabs[i], 44);
        test_wino_gemm(tabs[i]);
        test_wino_out(tabs[i], 2);
        test_wino_out(tabs[i], 4);
        test_wino_out(tabs[i], 44);
    }
    return TEST_SUMMARY();
}
