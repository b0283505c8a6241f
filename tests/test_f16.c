/*
 * test_f16.c - FP16 activation storage: the binary16 row conversions of every kernel table
 * against the portable conversions of half.c (themselves checked against numpy in
 * test_core), exactly, on every binary16 value, on rounding ties and overflow, and on every
 * row length up to past two vector widths (tails).
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "cpu.h"
#include "half.h"
#include "test.h"

static uint64_t rng_state = 0xbb67ae8584caa73bull;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}

static int same_f32(float a, float b) {
    if (a != a || b != b) return a != a && b != b;
    uint32_t ua, ub;
    memcpy(&ua, &a, 4);
    memcpy(&ub, &b, 4);
    return ua == ub;
}

static int same_f16(uint16_t a, uint16_t b) {
    const int na = (a & 0x7c00u) == 0x7c00u && (a & 0x3ffu), nb = (b & 0x7c00u) == 0x7c00u && (b & 0x3ffu);
    if (na || nb) return na && nb && (a & 0x8000u) == (b & 0x8000u);
    return a == b;
}

static void test_table(const nne_kernels *kt) {
    /* every binary16 value, widened */
    enum { NH = 65536 };
    uint16_t *h = nne_malloc(NH * sizeof *h);
    float *f = nne_malloc(NH * sizeof *f);
    for (int i = 0; i < NH; i++)
        h[i] = (uint16_t)i;
    kt->f16_to_f32(f, h, NH);
    int bad = 0;
    for (int i = 0; i < NH; i++)
        bad += !same_f32(f[i], nne_f16_to_f32(h[i]));
    TEST_CHECK(bad == 0, "%s f16_to_f32: %d of 65536 values differ from half.c", kt->name, bad);

    /* narrowing: every binary16 value, the midpoints between neighbours (ties to even), one
     * ulp of float either side of them, overflow, infinities and random floats */
    float *src = nne_malloc(8 * NH * sizeof *src);
    uint16_t *got = nne_malloc(8 * NH * sizeof *got);
    int64_t n = 0;
    for (int i = 0; i < 0x7c00; i++) {
        const float a = nne_f16_to_f32((uint16_t)i), b = nne_f16_to_f32((uint16_t)(i + 1));
        const float mid = (float)(((double)a + (double)b) / 2);
        src[n++] = a;
        src[n++] = -mid;
        src[n++] = nextafterf(mid, 0.0f);
        src[n++] = nextafterf(mid, INFINITY);
    }
    const float special[] = {65504.0f, 65519.99f, 65520.0f, 1e6f, INFINITY, -INFINITY,
                             NAN,      -0.0f,     1e-8f,    3e-8f, -2.98e-8f, 1.0f};
    for (int i = 0; i < (int)NNE_ARRAY_LEN(special); i++)
        src[n++] = special[i];
    while (n < 8 * NH) {
        const uint32_t u = (uint32_t)rng_next();
        float x;
        memcpy(&x, &u, 4);
        src[n++] = x;
    }
    kt->f32_to_f16(got, src, n);
    bad = 0;
    for (int64_t i = 0; i < n; i++)
        bad += !same_f16(got[i], nne_f32_to_f16(src[i]));
    TEST_CHECK(bad == 0, "%s f32_to_f16: %d of %lld values differ from half.c", kt->name, bad,
               (long long)n);

    /* every length up to 40 at every start offset 0..3: no write outside [0, n) */
    for (int64_t len = 0; len <= 40; len++) {
        for (int off = 0; off < 4; off++) {
            uint16_t hb[48];
            float fb[48];
            for (int i = 0; i < 48; i++) {
                hb[i] = 0xabcd;
                fb[i] = 777.0f;
            }
            kt->f32_to_f16(hb + off, src + 1000, len);
            kt->f16_to_f32(fb + off, h + 15000, len);
            int ok = 1;
            for (int i = 0; i < 48; i++) {
                const int in = i >= off && i < off + len;
                ok &= in ? hb[i] == nne_f32_to_f16(src[1000 + i - off]) : hb[i] == 0xabcd;
                ok &= in ? same_f32(fb[i], nne_f16_to_f32(h[15000 + i - off])) : fb[i] == 777.0f;
            }
            TEST_CHECK(ok, "%s f16 rows: length %lld offset %d", kt->name, (long long)len, off);
        }
    }
    nne_free(h);
    nne_free(f);
    nne_free(src);
    nne_free(got);
}

/* copy_f32 (the slab write-back, streaming stores on AVX2): every length up to 100 at every
 * destination alignment 0..7 floats, with NaN payloads and signed zeros copied bit for bit
 * and nothing written outside [0, n). */
static void test_copy(const nne_kernels *kt) {
    float src[100], dst[120] __attribute__((aligned(32)));
    for (int i = 0; i < 100; i++) {
        const uint32_t u = 0x7fc00000u + (uint32_t)i * 2654435761u % 4096u;
        float v = (float)i * -1.25f;
        if (i % 7 == 3) memcpy(&v, &u, sizeof v); /* quiet NaNs with payloads */
        if (i % 11 == 5) v = -0.0f;
        src[i] = v;
    }
    int bad = 0;
    for (int len = 0; len <= 100; len++) {
        for (int off = 0; off < 8; off++) {
            for (int i = 0; i < 120; i++) dst[i] = 555.0f;
            kt->copy_f32(dst + off, src, len);
            for (int i = 0; i < 120; i++) {
                const int in = i >= off && i < off + len;
                bad += in ? memcmp(&dst[i], &src[i - off], sizeof(float)) != 0 : dst[i] != 555.0f;
            }
        }
    }
    TEST_CHECK(bad == 0, "%s copy_f32: %d wrong elements", kt->name, bad);
}

int main(void) {
    const nne_kernels *tabs[8];
    const int n_tabs = nne_cpu_available(tabs, 8);
    for (int t = 0; t < n_tabs; t++) {
        test_table(tabs[t]);
        test_copy(tabs[t]);
    }
    printf("  binary16 rows: %d kernel tables, all 65536 halves, ties and tails\n", n_tabs);
    return TEST_SUMMARY();
}
