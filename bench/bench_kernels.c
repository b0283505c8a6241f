/*
 * bench_kernels.c - throughput probe for the network operators (not a test: never asserts on
 * time). Prints one JSON line per (op, shape, isa, threads) with the best of a few runs:
 *   {"op":..., "shape":..., "isa":..., "threads":..., "seconds":..., "gflops":...}
 * Shapes are the convolutions of the reference 128^3 PlainConvUNet (features 32-64-128-256-
 * 320-320, 3x3x3, stride 2 from stage 1), cut to a slab of output planes where the full level
 * would take long; GFLOP/s counts 2 FLOPs per multiply-add of the slab actually computed.
 * Convolutions run several ways: "conv3d" is the one-shot direct path (weights packed on every
 * call, as before prepared weights existed); "conv3d_direct", "conv3d_im2col" (3x3x3 only)
 * and "conv3d_wino" (stride-1 3x3x3 only) run weights prepared once (nne_conv3d_prep) with the
 * direct, the im2col + packed GEMM and the Winograd F(2x2x2, 3x3x3) algorithm;
 * "conv3d_wino4" F(4x4x2, 3x3x3) and "conv3d_wino44" F(4x4x4, 3x3x3). A line's
 * "default" field is 1 for the algorithm a model uses for that shape by default
 * (nne_conv3d_algo_pick). All report effective GFLOP/s: the direct convolution's
 * multiply-adds x 2 / time, so Winograd's fewer multiplications show as a higher rate.
 * Options: bench_kernels [max_threads] [isa] [filter]   (default 2 threads, every variant;
 * a max_threads below 0 runs only -max_threads threads; `filter` keeps the shapes whose
 * name contains it).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "cpu.h"
#include "ops.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* CPU time of the whole process: on a shared machine, wall time includes the time slices
 * given to other processes; with one thread CPU time is the steadier comparison. */
static double cpu_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Best wall and CPU time over `reps` calls of the benchmark body. */
typedef struct timing {
    double wall, cpu;
} timing;
#define TIME_BEST(t, reps, body)                                                                   \
    do {                                                                                           \
        (t).wall = (t).cpu = 1e30;                                                                 \
        for (int r_ = 0; r_ < (reps); r_++) {                                                      \
            const double w0_ = now(), c0_ = cpu_now();                                             \
            body;                                                                                  \
            const double w_ = now() - w0_, c_ = cpu_now() - c0_;                                   \
            if (w_ < (t).wall) (t).wall = w_;                                                      \
            if (c_ < (t).cpu) (t).cpu = c_;                                                        \
        }                                                                                          \
    } while (0)

static void print_line_d(const char *op, const char *shape, const char *isa, int nth, timing t,
                         double flops, int dflt) {
    printf("{\"op\":\"%s\",\"shape\":\"%s\",\"isa\":\"%s\",\"threads\":%d,\"seconds\":%.6f,"
           "\"gflops\":%.2f,\"cpu_seconds\":%.6f,\"cpu_gflops_per_thread\":%.2f",
           op, shape, isa, nth, t.wall, flops / t.wall * 1e-9, t.cpu, flops / (t.cpu / nth) * 1e-9);
    if (dflt >= 0) printf(",\"default\":%d", dflt);
    printf("}\n");
    fflush(stdout);
}

static void print_line(const char *op, const char *shape, const char *isa, int nth, timing t,
                       double flops) {
    print_line_d(op, shape, isa, nth, t, flops, -1);
}

/* Inputs in [-0.5, 0.5) from an LCG: values do not matter for speed, only denormals would. */
static float *frand(int64_t n) {
    float *p = nne_malloc((size_t)n * sizeof(float));
    if (!p) exit(1);
    uint32_t s = 12345u;
    for (int64_t i = 0; i < n; i++) {
        s = s * 1664525u + 1013904223u;
        p[i] = (float)(s >> 8) / 16777216.0f - 0.5f;
    }
    return p;
}

/* A convolution of the reference network, possibly cut to a slab of planes. */
typedef struct conv_shape {
    const char *name;
    int64_t c_in, c_out;
    int64_t in[3]; /* input slab (d is cut for the big levels) */
    int k[3], s[3];
} conv_shape;

static const conv_shape convs[] = {
    {"enc0 2->32 k3 s1 @128^3 slab d6", 2, 32, {6, 128, 128}, {3, 3, 3}, {1, 1, 1}},
    {"enc0 32->32 k3 s1 @128^3 slab d6", 32, 32, {6, 128, 128}, {3, 3, 3}, {1, 1, 1}},
    {"dec0 64->32 k3 s1 @128^3 slab d6", 64, 32, {6, 128, 128}, {3, 3, 3}, {1, 1, 1}},
    {"enc1 32->64 k3 s2 @128->64 slab", 32, 64, {10, 128, 128}, {3, 3, 3}, {2, 2, 2}},
    {"enc1 64->64 k3 s1 @64^3 slab d8", 64, 64, {8, 64, 64}, {3, 3, 3}, {1, 1, 1}},
    {"dec 128->64 k3 s1 @64^3 slab d4", 128, 64, {4, 64, 64}, {3, 3, 3}, {1, 1, 1}},
    {"enc2 64->128 k3 s2 @64->32 slab", 64, 128, {16, 64, 64}, {3, 3, 3}, {2, 2, 2}},
    {"enc2 128->128 k3 s1 @32^3", 128, 128, {32, 32, 32}, {3, 3, 3}, {1, 1, 1}},
    {"dec2 256->128 k3 s1 @32^3 slab d8", 256, 128, {8, 32, 32}, {3, 3, 3}, {1, 1, 1}},
    {"enc3 256->256 k3 s1 @16^3", 256, 256, {16, 16, 16}, {3, 3, 3}, {1, 1, 1}},
    {"dec3 512->256 k3 s1 @16^3", 512, 256, {16, 16, 16}, {3, 3, 3}, {1, 1, 1}},
    {"enc4 320->320 k3 s1 @8^3", 320, 320, {8, 8, 8}, {3, 3, 3}, {1, 1, 1}},
    {"enc5 320->320 k3 s1 @4^3", 320, 320, {4, 4, 4}, {3, 3, 3}, {1, 1, 1}},
    {"seg 32->2 k1 @128^3 slab d16", 32, 2, {16, 128, 128}, {1, 1, 1}, {1, 1, 1}},
};

/* Times one convolution shape; FLOPs count every tap (border taps included). */
static void bench_conv(const conv_shape *cs, const nne_kernels *kt, nne_pool *pool, int nth) {
    nne_conv3d_desc d;
    nne_conv3d_desc_init(&d, cs->c_in, cs->c_out, cs->in, cs->k, cs->s);
    const int64_t kv = (int64_t)cs->k[0] * cs->k[1] * cs->k[2];
    const int64_t ovol = d.out[0] * d.out[1] * d.out[2];
    float *src = frand(cs->c_in * cs->in[0] * cs->in[1] * cs->in[2]);
    float *w = frand(cs->c_out * cs->c_in * kv), *b = frand(cs->c_out);
    float *dst = nne_malloc((size_t)(cs->c_out * ovol) * sizeof(float));
    void *ws = nne_malloc(nne_conv3d_ws_bytes(&d, nth));
    /* MACs actually performed, border taps excluded (counted as a full kernel: upper bound). */
    const double flops = 2.0 * (double)cs->c_in * (double)cs->c_out * (double)kv * (double)ovol;
    timing t;
    TIME_BEST(t, 3, nne_conv3d_fwd(pool, kt, dst, src, w, b, &d, ws));
    print_line("conv3d", cs->name, kt->name, nth, t, flops);
    static const nne_conv3d_algo algos[5] = {NNE_CONV3D_DIRECT, NNE_CONV3D_IM2COL,
                                             NNE_CONV3D_WINO, NNE_CONV3D_WINO4,
                                             NNE_CONV3D_WINO44};
    static const char *const names[5] = {"conv3d_direct", "conv3d_im2col", "conv3d_wino",
                                         "conv3d_wino4", "conv3d_wino44"};
    const int k3 = cs->k[0] == 3 && cs->k[1] == 3 && cs->k[2] == 3;
    const int k3s1 = k3 && cs->s[0] == 1 && cs->s[1] == 1 && cs->s[2] == 1;
    for (int a = 0; a < 5 && nne_conv3d_algo_pick(&d, 0) == NNE_CONV3D_DIRECT; a++) {
        if (algos[a] == NNE_CONV3D_IM2COL && !k3) continue;
        if ((algos[a] == NNE_CONV3D_WINO || algos[a] == NNE_CONV3D_WINO4 ||
             algos[a] == NNE_CONV3D_WINO44) &&
            !k3s1)
            continue;
        void *prep = nne_malloc(nne_conv3d_prep_bytes(&d, algos[a]));
        void *rws = nne_malloc(nne_conv3d_run_ws_bytes(&d, algos[a], nth));
        nne_conv3d_w pw;
        nne_conv3d_prep(pool, &pw, &d, algos[a], w, b, prep);
        TIME_BEST(t, 3, nne_conv3d_run(pool, kt, dst, src, &pw, &d, rws));
        print_line_d(names[a], cs->name, kt->name, nth, t, flops,
                     nne_conv3d_algo_pick(&d, 1) == algos[a]);
        nne_free(prep);
        nne_free(rws);
    }
    nne_free(src);
    nne_free(w);
    nne_free(b);
    nne_free(dst);
    nne_free(ws);
}

/* The transposed convolutions of the decoder (2x2x2, stride 2), the two largest as slabs. */
typedef struct convt_shape {
    const char *name;
    int64_t c_in, c_out;
    int64_t in[3]; /* input (slab) */
} convt_shape;

static const convt_shape convts[] = {
    {"64->32 s2 @64^3->128^3 slab d8", 64, 32, {8, 64, 64}},
    {"128->64 s2 @32^3->64^3 slab d8", 128, 64, {8, 32, 32}},
    {"256->128 s2 @16^3->32^3", 256, 128, {16, 16, 16}},
    {"320->256 s2 @8^3->16^3", 320, 256, {8, 8, 8}},
    {"320->320 s2 @4^3->8^3", 320, 320, {4, 4, 4}},
};

static void bench_convt(const convt_shape *cs, const nne_kernels *kt, nne_pool *pool, int nth) {
    const int64_t c_in = cs->c_in, c_out = cs->c_out, *in = cs->in;
    const int64_t vol = in[0] * in[1] * in[2];
    const int s[3] = {2, 2, 2};
    float *src = frand(c_in * vol), *w = frand(c_in * c_out * 8);
    float *b = frand(c_out);
    float *dst = nne_malloc((size_t)(c_out * 8 * vol) * sizeof(float));
    const double flops = 2.0 * (double)(c_in * c_out * 8 * vol);
    timing t;
    TIME_BEST(t, 3, nne_convt3d_fwd(pool, kt, dst, src, w, b, c_in, c_out, in, s));
    print_line("convt3d", cs->name, kt->name, nth, t, flops);
    nne_free(src);
    nne_free(w);
    nne_free(b);
    nne_free(dst);
}

/* Instance norm + LeakyReLU over 32 channels of a 32 x 128 x 128 slab. */
static void bench_norm(const nne_kernels *kt, nne_pool *pool, int nth) {
    const int64_t c = 32, nvox = 32 * 128 * 128;
    float *x = frand(c * nvox);
    timing t;
    TIME_BEST(t, 3, nne_instnorm_fwd(pool, kt, x, NULL, NULL, c, nvox, 1e-5, 1, 0.01f));
    /* Memory bound (3 reads + 1 write per element): "gflops" here is Gelements/s. */
    print_line("instnorm_leaky", "32 x 32x128x128 (Gelem/s)", kt->name, nth, t, (double)(c * nvox));
    nne_free(x);
}

int main(int argc, char **argv) {
    int max_threads = argc > 1 ? atoi(argv[1]) : 2, min_threads = 1;
    if (max_threads < 0) max_threads = min_threads = -max_threads;
    const char *only = argc > 2 && strcmp(argv[2], "all") ? argv[2] : NULL;
    const char *filter = argc > 3 ? argv[3] : NULL;
    const int quick_ref = 1; /* ref is slow: run it on the small shapes only */
    const nne_kernels *tabs[8];
    const int n = nne_cpu_available(tabs, 8);
    fprintf(stderr, "cpu: %s\n", nne_cpu_describe());
    for (int nth = min_threads; nth <= max_threads; nth++) {
        nne_pool *pool = NULL;
        if (nne_pool_init(nth, &pool) != NNE_OK) return 1;
        for (int t = 0; t < n; t++) {
            if (only && strcmp(only, tabs[t]->name)) continue;
            const int is_ref = !strcmp(tabs[t]->name, "ref");
            for (size_t i = 0; i < sizeof convs / sizeof convs[0]; i++) {
                if (is_ref && quick_ref && i < 11) continue; /* the 8^3, 4^3, seg shapes */
                if (filter && !strstr(convs[i].name, filter)) continue;
                bench_conv(&convs[i], tabs[t], pool, nth);
            }
            for (size_t i = 0; i < sizeof convts / sizeof convts[0]; i++)
                if (!filter || strstr("convt3d", filter) || strstr(convts[i].name, filter))
                    bench_convt(&convts[i], tabs[t], pool, nth);
            if (!filter || strstr("instnorm", filter)) bench_norm(tabs[t], pool, nth);
        }
        nne_pool_free(pool);
    }
    return 0;
}
