/*
 * bench_accuracy.c - how far the fast convolution algorithms move a whole network's logits:
 * one forward of a model on a fixed random input with the reference configuration (direct
 * convolution everywhere; pass REF_ISA ref for the portable `ref` kernels, about 30x slower)
 * and one with the candidate (the default choice: Winograd where it is faster, the best
 * kernels), then max |dlogit|, the
 * logit range, their ratio and the number of voxels whose argmax differs. A measurement, not
 * a test: it never judges the numbers (the bound is max |dlogit| <= 1e-3 x range).
 *
 *   bench_accuracy [MODEL.nne [D,H,W [THREADS [REF_ISA [REF_CONV [ISA [CONV]]]]]]]
 *
 * Defaults: build/ref_random.nne, 64,64,64, 2 threads, reference auto/direct, candidate
 * auto/auto. Prints one JSON line; exits 0 without output when the default model is missing.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "nnedge.h"

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* One forward with the given kernels and convolution mode; returns 0 on success. */
static int forward(const char *model, const char *isa, const char *conv, int threads,
                   const float *in, const int64_t shape[3], float *out, double *seconds) {
    nne_ctx_params p = nne_ctx_default_params();
    p.n_threads = threads;
    p.isa = isa;
    p.conv = conv;
    nne_ctx *ctx = NULL;
    if (nne_ctx_init(&p, &ctx) != NNE_OK) return 1;
    nne_model *m = NULL;
    nne_status st = nne_model_load(ctx, model, &m);
    if (st == NNE_OK) {
        const double t0 = now();
        st = nne_model_forward(ctx, m, 0, in, shape, out);
        *seconds = now() - t0;
    }
    if (st != NNE_OK) fprintf(stderr, "bench_accuracy: %s\n", nne_ctx_last_error(ctx));
    nne_model_free(m);
    nne_ctx_free(ctx);
    return st != NNE_OK;
}

int main(int argc, char **argv) {
    const char *model = argc > 1 ? argv[1] : "build/ref_random.nne";
    int64_t shape[3] = {64, 64, 64};
    if (argc > 2 &&
        sscanf(argv[2], "%lld,%lld,%lld", (long long *)&shape[0], (long long *)&shape[1],
               (long long *)&shape[2]) != 3) {
        fprintf(stderr, "bench_accuracy: shape wants D,H,W\n");
        return 2;
    }
    const int threads = argc > 3 ? atoi(argv[3]) : 2;
    const char *ref_isa = argc > 4 ? argv[4] : "auto", *ref_conv = argc > 5 ? argv[5] : "direct";
    const char *isa = argc > 6 ? argv[6] : "auto", *conv = argc > 7 ? argv[7] : "auto";
    FILE *f = fopen(model, "rb");
    if (!f) {
        if (argc > 1) fprintf(stderr, "bench_accuracy: cannot open %s\n", model);
        return argc > 1;
    }
    fclose(f);
    nne_log_set_level(NNE_LOG_LEVEL_ERROR);

    /* The model's channel and class counts come from a context-free peek at the model. */
    nne_ctx *ctx = NULL;
    nne_model *m = NULL;
    if (nne_ctx_init(NULL, &ctx) != NNE_OK || nne_model_load(ctx, model, &m) != NNE_OK) {
        fprintf(stderr, "bench_accuracy: cannot load %s\n", model);
        return 1;
    }
    const int64_t C = nne_model_n_channels(m), K = nne_model_n_classes(m);
    nne_model_free(m);
    nne_ctx_free(ctx);
    const int64_t vox = shape[0] * shape[1] * shape[2];
    float *in = malloc(sizeof *in * (size_t)(C * vox));
    float *a = malloc(sizeof *a * (size_t)(K * vox)), *b = malloc(sizeof *b * (size_t)(K * vox));
    if (!in || !a || !b) return 1;
    uint32_t s = 2463534242u; /* xorshift32: a normalized-looking input in about [-2, 2] */
    for (int64_t i = 0; i < C * vox; i++) {
        s ^= s << 13;
        s ^= s >> 17;
        s ^= s << 5;
        in[i] = (float)((double)s / 4294967296.0 * 4.0 - 2.0);
    }
    double t_ref = 0, t_new = 0;
    if (forward(model, ref_isa, ref_conv, threads, in, shape, a, &t_ref) ||
        forward(model, isa, conv, threads, in, shape, b, &t_new))
        return 1;
    double lo = (double)a[0], hi = (double)a[0], maxd = 0;
    int64_t argmax_diff = 0;
    for (int64_t i = 0; i < K * vox; i++) {
        lo = fmin(lo, (double)a[i]);
        hi = fmax(hi, (double)a[i]);
        maxd = fmax(maxd, fabs((double)a[i] - (double)b[i]));
    }
    for (int64_t v = 0; v < vox; v++) {
        int ka = 0, kb = 0;
        for (int64_t k = 1; k < K; k++) {
            if (a[k * vox + v] > a[ka * vox + v]) ka = (int)k;
            if (b[k * vox + v] > b[kb * vox + v]) kb = (int)k;
        }
        argmax_diff += ka != kb;
    }
    printf("{\"model\":\"%s\",\"shape\":[%lld,%lld,%lld],\"threads\":%d,\"ref\":\"%s/%s\","
           "\"candidate\":\"%s/%s\",\"max_abs_dlogit\":%.6g,\"logit_range\":%.6g,"
           "\"ratio_to_range\":%.6g,\"argmax_differences\":%lld,\"ref_seconds\":%.3f,"
           "\"candidate_seconds\":%.3f}\n",
           model, (long long)shape[0], (long long)shape[1], (long long)shape[2], threads, ref_isa,
           ref_conv, isa, conv, maxd, hi - lo, maxd / (hi - lo), (long long)argmax_diff, t_ref,
           t_new);
    free(in);
    free(a);
    free(b);
    return 0;
}
