/*
 * test_stream.c - streamed convolution (nne_conv3d_run_z): slabs of output planes computed
 * from input parts must equal, bit for bit, the whole convolution of nne_conv3d_run.
 *
 * The forward pass (src/model.c) runs the large Winograd layers slab by slab, writing in place
 * and making the decoder's upsampled half of the concat one slab at a time. This test builds
 * the same situations from the primitive: random volumes (odd depths, partial tiles), random
 * channel splits between a slab-local part (the planes a slab needs and its one-plane halo,
 * sometimes with extra planes either side, as the upsampling gives) and a whole-tensor part,
 * slabs of 4, 8 and 12 planes, for F(2x2x2), F(4x4x2) and F(4x4x4), every kernel table here
 * and 1, 2 and 3 threads. Nothing is compared with a tolerance: the values must be identical.
 */
#include <stdint.h>
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "ops.h"
#include "test.h"

#define N_POOLS 3

static nne_pool *pools[N_POOLS];
static const nne_kernels *tabs[8];
static int n_tabs;

static uint64_t rng_state = 0x6a09e667f3bcc909ull;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static int64_t rnd_int(int64_t lo, int64_t hi) {
    return lo + (int64_t)(rng_next() % (uint64_t)(hi - lo + 1));
}
static float *frand(int64_t n) {
    float *p = nne_malloc((size_t)n * sizeof(float));
    if (!p) abort();
    for (int64_t i = 0; i < n; i++)
        p[i] = (float)((double)(rng_next() >> 11) / 9007199254740992.0 * 2 - 1);
    return p;
}

/* One shape: whole convolution vs slabs, for one algorithm. */
static void check_case(int rep, nne_conv3d_algo algo) {
    /* F(4x4x4) groups are 32 columns wide: rows of up to 70 give two or three */
    const int64_t in[3] = {rnd_int(1, 21), rnd_int(1, 11),
                           rnd_int(1, algo == NNE_CONV3D_WINO44 ? 70 : 37)};
    const int64_t c_in = rnd_int(2, 40), c_out = rnd_int(1, 13);
    const int64_t c0 = rnd_int(1, c_in - 1); /* channels of the slab-local part */
    const int k[3] = {3, 3, 3}, s1[3] = {1, 1, 1};
    nne_conv3d_desc d;
    nne_conv3d_desc_init(&d, c_in, c_out, in, k, s1);
    const int64_t D = in[0], hw = in[1] * in[2], vol = D * hw;
    float *src = frand(c_in * vol), *w = frand(c_out * c_in * 27), *bias = frand(c_out);
    void *prep = nne_malloc(nne_conv3d_prep_bytes(&d, algo));
    nne_conv3d_w pw;
    nne_conv3d_prep(pools[0], &pw, &d, algo, w, rep % 3 ? bias : NULL, prep);
    void *ws = nne_malloc(nne_conv3d_run_ws_bytes(&d, algo, N_POOLS));
    float *whole = nne_malloc((size_t)(c_out * vol) * sizeof(float));
    float *got = nne_malloc((size_t)(c_out * vol) * sizeof(float));
    float *slab_in = nne_malloc((size_t)(c0 * vol) * sizeof(float)); /* at most every plane */
    static const int64_t slabs[] = {4, 8, 12};
    for (int t = 0; t < n_tabs; t++) {
        nne_conv3d_run(pools[0], tabs[t], whole, src, &pw, &d, ws);
        for (int p = 0; p < N_POOLS; p++) {
            const int64_t nz = slabs[rnd_int(0, 2)];
            memset(got, 0, (size_t)(c_out * vol) * sizeof(float));
            for (int64_t z0 = 0; z0 < D; z0 += nz) {
                const int64_t z1 = NNE_MIN(D, z0 + nz);
                /* the needed planes [z0 - 1, z1 + 1) inside the volume, widened at random */
                const int64_t wa = rnd_int(0, 1), wb = rnd_int(0, 1);
                const int64_t a = NNE_MAX((int64_t)0, z0 - 1 - wa);
                const int64_t b = NNE_MIN(D, z1 + 1 + wb);
                for (int64_t c = 0; c < c0; c++)
                    memcpy(slab_in + c * (b - a) * hw, src + c * vol + a * hw,
                           (size_t)((b - a) * hw) * sizeof(float));
                const nne_conv3d_part parts[2] = {
                    {.src = slab_in, .c = c0, .cs = (b - a) * hw, .z_base = a, .nz = b - a},
                    {.src = src + c0 * vol, .c = c_in - c0, .cs = vol, .z_base = 0, .nz = D}};
                float *slab_out = nne_malloc((size_t)(c_out * (z1 - z0) * hw) * sizeof(float));
                nne_conv3d_run_z(pools[p], tabs[t], slab_out, parts, 2, &pw, &d, ws, z0, z1);
                for (int64_t c = 0; c < c_out; c++)
                    memcpy(got + c * vol + z0 * hw, slab_out + c * (z1 - z0) * hw,
                           (size_t)((z1 - z0) * hw) * sizeof(float));
                nne_free(slab_out);
            }
            TEST_CHECK(!memcmp(got, whole, (size_t)(c_out * vol) * sizeof(float)),
                       "%s %s %d threads: in %lldx%lldx%lld, %lld (%lld + %lld) -> %lld, slabs "
                       "of %lld: streamed result differs from the whole convolution",
                       algo == NNE_CONV3D_WINO    ? "F(2x2x2)"
                       : algo == NNE_CONV3D_WINO4 ? "F(4x4x2)"
                                                  : "F(4x4x4)",
                       tabs[t]->name, p + 1,
                       (long long)in[0], (long long)in[1], (long long)in[2], (long long)c_in,
                       (long long)c0, (long long)(c_in - c0), (long long)c_out, (long long)nz);
        }
    }
    nne_free(src);
    nne_free(w);
    nne_free(bias);
    nne_free(prep);
    nne_free(ws);
    nne_free(whole);
    nne_free(got);
    nne_free(slab_in);
}

int main(void) {
    for (int i = 0; i < N_POOLS; i++)
        if (nne_pool_init(i + 1, &pools[i]) != NNE_OK) return 1;
    n_tabs = nne_cpu_available(tabs, 8);
    for (int rep = 0; rep < 30; rep++) {
        check_case(rep, NNE_CONV3D_WINO);
        check_case(rep, NNE_CONV3D_WINO4);
        check_case(rep, NNE_CONV3D_WINO44);
    }
    printf("  streamed convolution: 30 shapes x F(2x2x2), F(4x4x2), F(4x4x4) x %d kernel tables "
           "x %d thread counts, bitwise\n", n_tabs, N_POOLS);
    for (int i = 0; i < N_POOLS; i++)
        nne_pool_free(pools[i]);
    return TEST_SUMMARY();
}
