/*
 * bench_q8.c - the INT8 convolution (src/conv3d_q8.c) against FP32 on the layers of a real
 * model (not a test: never asserts on time or accuracy).
 *
 *   bench_q8 [speed] [MODEL [D,H,W [THREADS [REPS]]]]
 *       Every convolution of fold 0 in forward order at the given patch (default: the plans'
 *       patch) on random inputs: best-of-REPS wall time of the FP32 algorithm the model uses
 *       (nne_conv3d_algo_pick: Winograd, im2col, direct or the GEMM of the seg head), of FP32
 *       im2col + packed GEMM (3x3x3 / 1x3x3 layers), and of the INT8 convolution (input
 *       quantization included). One JSON line per layer, then a total line.
 *       Default: models/demo.nne at its patch, 2 threads, 5 repetitions (taken in turns).
 *   bench_q8 accuracy MODEL CALIB.json CH0.nii.gz [CH1 ...]
 *       Captures the real input of every convolution of the first forward pass of the case
 *       (nnedge's preprocessing, first sliding-window tile, fold 0) and runs each layer in
 *       FP32 and in INT8 with two activation ranges from the calibration file: A = the
 *       observed [min, max], B = the file's percentile range [lo, hi]; prints the relative
 *       RMS error ||y_q8 - y_fp32|| / ||y_fp32|| and the largest error divided by the output's
 *       standard deviation, per layer and range. Use a case that was not calibrated on.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "alloc.h"
#include "calib.h"
#include "ctx.h"
#include "model.h"
#include "ops.h"
#include "quant.h"

#define MAX_LAYERS 64

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static void *xmalloc(size_t n) {
    void *p = nne_malloc(n ? n : 1);
    if (!p) {
        fprintf(stderr, "bench_q8: out of memory (%zu bytes)\n", n);
        exit(1);
    }
    return p;
}

/* One convolution of the network: geometry at the benchmark's patch and its weights. */
typedef struct conv_layer {
    char name[40];
    nne_conv3d_desc d;
    const float *w, *b;      /* original weights (mapped file)           */
    const nne_conv3d_w *pw;  /* the model's prepared FP32 weights        */
} conv_layer;

/* The convolutions of fold 0 in forward order (encoder, decoder, seg head), as model.c
 * visits them, with their geometry at `patch`. */
static int list_layers(const nne_model *m, const int64_t patch[3], conv_layer *L) {
    const nne_arch *a = &m->arch;
    const int S = a->n_stages;
    static const int one[3] = {1, 1, 1};
    int64_t lvl[NNE_MAX_STAGES][3];
    for (int s = 0; s < S; s++) nne_arch_stage_shape(a, s, patch, lvl[s]);
    const nne_fold_w *fw = &m->folds[0];
    int n = 0;
    for (int i = 0; i < 2 * S - 1; i++) {
        const int enc = i < S, s = enc ? i : i - S;
        const int lv = enc ? s : S - 2 - s;
        const int64_t F = a->features[lv];
        for (int j = 0; j < (enc ? a->n_conv[s] : a->n_conv_dec[s]); j++) {
            const nne_block_w *b = enc ? &fw->enc[s][j] : &fw->dec[s][j];
            const int64_t *in = (enc && j == 0) ? (s == 0 ? patch : lvl[s - 1]) : lvl[lv];
            const int64_t cin = j > 0 ? F : enc ? (s == 0 ? a->n_in : a->features[s - 1]) : 2 * F;
            nne_conv3d_desc_init(&L[n].d, cin, F, in, a->kernel[lv],
                                 (enc && j == 0) ? a->stride[s] : one);
            snprintf(L[n].name, sizeof L[n].name, "%s%d.conv%d", enc ? "enc" : "dec", lv, j);
            L[n].w = b->w;
            L[n].b = b->b;
            L[n].pw = &b->conv;
            n++;
        }
    }
    nne_conv3d_desc_init(&L[n].d, a->features[0], a->n_classes, patch, one, one);
    snprintf(L[n].name, sizeof L[n].name, "seg");
    L[n].w = fw->sw[S - 2];
    L[n].b = fw->sb[S - 2];
    L[n].pw = &fw->seg;
    return n + 1;
}

static const char *algo_name(nne_conv3d_algo a) {
    switch (a) {
    case NNE_CONV3D_DIRECT: return "direct";
    case NNE_CONV3D_GEMM: return "gemm";
    case NNE_CONV3D_WINO: return "winograd";
    case NNE_CONV3D_WINO4: return "winograd4";
    case NNE_CONV3D_WINO44: return "winograd44";
    case NNE_CONV3D_IM2COL: return "im2col";
    }
    return "?";
}

static int speed(int argc, char **argv) {
    const char *path = argc > 0 ? argv[0] : "models/demo.nne";
    const int nth = argc > 2 ? atoi(argv[2]) : 2, reps = argc > 3 ? atoi(argv[3]) : 5;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = nth;
    nne_ctx *ctx = NULL;
    nne_model *m = NULL;
    if (nne_ctx_init(&cp, &ctx) || nne_model_load(ctx, path, &m)) {
        fprintf(stderr, "bench_q8: cannot load %s (skipped)\n", path);
        nne_ctx_free(ctx);
        return 0;
    }
    int64_t patch[3];
    memcpy(patch, m->patch, sizeof patch);
    if (argc > 1 && sscanf(argv[1], "%ld,%ld,%ld", &patch[0], &patch[1], &patch[2]) != 3) return 2;
    conv_layer L[MAX_LAYERS];
    const int n = list_layers(m, patch, L);
    nne_pool *pool = ctx->pool;
    const nne_kernels *kt = ctx->kernels;
    double tot_f = 0, tot_i = 0, tot_q = 0, tot_f3 = 0, tot_q3 = 0;
    for (int i = 0; i < n; i++) {
        const nne_conv3d_desc *d = &L[i].d;
        const int64_t nin = d->c_in * d->in[0] * d->in[1] * d->in[2];
        const int64_t nout = d->c_out * d->out[0] * d->out[1] * d->out[2];
        float *x = xmalloc((size_t)nin * sizeof(float)), *y = xmalloc((size_t)nout * 4);
        uint32_t s = 12345u + (uint32_t)i;
        for (int64_t k = 0; k < nin; k++) { /* LeakyReLU-like values */
            s = s * 1664525u + 1013904223u;
            const float v = (float)(s >> 8) / 16777216.0f * 4.0f - 1.0f;
            x[k] = v < 0 ? 0.01f * v : v;
        }
        const nne_conv3d_w *pw = L[i].pw;
        const int k1 = d->k[0] * d->k[1] * d->k[2] == 1;
        /* FP32 with the model's algorithm, FP32 im2col (not for 1x1x1) and INT8, prepared
         * once, then run in turns so that the noise of a shared machine hits all alike */
        void *wsf = xmalloc(nne_conv3d_run_ws_bytes(d, pw->algo, nth));
        void *pmi = NULL, *wsi = NULL;
        nne_conv3d_w pi;
        if (!k1) {
            pmi = xmalloc(nne_conv3d_prep_bytes(d, NNE_CONV3D_IM2COL));
            nne_conv3d_prep(pool, &pi, d, NNE_CONV3D_IM2COL, L[i].w, L[i].b, pmi);
            wsi = xmalloc(nne_conv3d_run_ws_bytes(d, NNE_CONV3D_IM2COL, nth));
        }
        void *pmq = xmalloc(nne_conv3d_q8_prep_bytes(d));
        nne_conv3d_q8_w pq;
        nne_conv3d_q8_prep(&pq, d, L[i].w, L[i].b, pmq);
        void *wsq = xmalloc(nne_conv3d_q8_ws_bytes(d, nth));
        const nne_q8_act act = nne_q8_act_from_range(-0.01f, 3.0f);
        double tf = 1e30, ti = 1e30, tq = 1e30;
        for (int r = 0; r < reps; r++) {
            double t0 = now();
            nne_conv3d_run(pool, kt, y, x, pw, d, wsf);
            tf = fmin(tf, now() - t0);
            if (!k1) {
                t0 = now();
                nne_conv3d_run(pool, kt, y, x, &pi, d, wsi);
                ti = fmin(ti, now() - t0);
            }
            t0 = now();
            nne_conv3d_q8_run(pool, kt, y, x, &pq, d, act, wsq);
            tq = fmin(tq, now() - t0);
        }
        nne_free(wsf);
        nne_free(pmi);
        nne_free(wsi);
        nne_free(pmq);
        nne_free(wsq);
        const double gmac = (double)nout * (double)(d->c_in * d->k[0] * d->k[1] * d->k[2]) * 1e-9;
        printf("{\"layer\":\"%s\",\"c_in\":%lld,\"c_out\":%lld,\"in\":\"%lldx%lldx%lld\","
               "\"stride\":%d,\"gmac\":%.4f,\"fp32_algo\":\"%s\",\"fp32_ms\":%.3f,"
               "\"im2col_ms\":%.3f,\"q8_ms\":%.3f,\"q8_vs_fp32\":%.2f,\"q8_vs_im2col\":%.2f,"
               "\"q8_gmacs\":%.1f}\n",
               L[i].name, (long long)d->c_in, (long long)d->c_out, (long long)d->in[0],
               (long long)d->in[1], (long long)d->in[2], d->stride[0], gmac,
               algo_name(pw->algo), tf * 1e3, k1 ? 0.0 : ti * 1e3, tq * 1e3, tf / tq,
               k1 ? 0.0 : ti / tq, gmac / tq);
        fflush(stdout);
        tot_f += tf;
        tot_q += tq;
        tot_i += k1 ? tf : ti;
        if (!k1) {
            tot_f3 += tf;
            tot_q3 += tq;
        }
        nne_free(x);
        nne_free(y);
    }
    printf("{\"total\":\"%s\",\"patch\":\"%lldx%lldx%lld\",\"threads\":%d,\"isa\":\"%s\","
           "\"fp32_ms\":%.1f,\"im2col_ms\":%.1f,\"q8_ms\":%.1f,\"q8_vs_fp32\":%.2f,"
           "\"q8_vs_im2col\":%.2f,\"q8_vs_fp32_3x3x3_only\":%.2f}\n",
           path, (long long)patch[0], (long long)patch[1], (long long)patch[2], nth, kt->name,
           tot_f * 1e3, tot_i * 1e3, tot_q * 1e3, tot_f / tot_q, tot_i / tot_q, tot_f3 / tot_q3);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return 0;
}

/* Accuracy: copies of the conv inputs of the first forward pass. */
typedef struct capture {
    int n, done;
    float *x[MAX_LAYERS];
    int64_t c[MAX_LAYERS], sh[MAX_LAYERS][3];
} capture;

static void on_conv(void *arg, int layer, const float *x, int64_t c, const int64_t sh[3]) {
    capture *cp = arg;
    if (cp->done || layer >= MAX_LAYERS) return;
    if (layer < cp->n) { /* the second forward began */
        cp->done = 1;
        return;
    }
    const int64_t n = c * sh[0] * sh[1] * sh[2];
    cp->x[layer] = xmalloc((size_t)n * sizeof(float));
    memcpy(cp->x[layer], x, (size_t)n * sizeof(float));
    cp->c[layer] = c;
    memcpy(cp->sh[layer], sh, sizeof cp->sh[layer]);
    cp->n = layer + 1;
}

static int accuracy(int argc, char **argv) {
    if (argc < 3) {
        fprintf(stderr, "usage: bench_q8 accuracy MODEL CALIB.json CH0 [CH1 ...]\n");
        return 2;
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 2;
    nne_ctx *ctx = NULL;
    nne_model *m = NULL;
    nne_calib *cb = NULL;
    if (nne_ctx_init(&cp, &ctx) || nne_model_load(ctx, argv[0], &m) ||
        nne_calib_load(ctx, argv[1], &cb)) {
        fprintf(stderr, "bench_q8: %s\n", nne_ctx_last_error(ctx));
        return 1;
    }
    static capture cap;
    nne_ctx_set_observer(ctx, on_conv, &cap);
    nne_predict_params p = nne_predict_default_params();
    p.use_mirroring = 0;
    const char *const *chan = (const char *const *)(argv + 2);
    if (nne_predict_case(ctx, m, &p, chan, argc - 2, "/tmp/bench_q8_seg.nii.gz", NULL)) {
        fprintf(stderr, "bench_q8: %s\n", nne_ctx_last_error(ctx));
        return 1;
    }
    nne_ctx_set_observer(ctx, NULL, NULL);
    conv_layer L[MAX_LAYERS];
    const int n = list_layers(m, m->patch, L);
    printf("layer        cin cout  A: min/max range       rms A  max/std A | B: p%g range"
           "         rms B  max/std B\n", nne_calib_percentile(cb));
    double sa = 0, sb = 0;
    for (int i = 0; i < n && i < cap.n; i++) {
        nne_conv3d_desc d;
        nne_conv3d_desc_init(&d, cap.c[i], L[i].d.c_out, cap.sh[i], L[i].d.k, L[i].d.stride);
        const int64_t nout = d.c_out * d.out[0] * d.out[1] * d.out[2];
        float *yf = xmalloc((size_t)nout * 4), *yq = xmalloc((size_t)nout * 4);
        void *ws = xmalloc(nne_conv3d_run_ws_bytes(&d, L[i].pw->algo, 2));
        nne_conv3d_run(ctx->pool, ctx->kernels, yf, cap.x[i], L[i].pw, &d, ws);
        nne_free(ws);
        double mean = 0, var = 0;
        for (int64_t k = 0; k < nout; k++) mean += (double)yf[k];
        mean /= (double)nout;
        for (int64_t k = 0; k < nout; k++) var += ((double)yf[k] - mean) * ((double)yf[k] - mean);
        const double sd = sqrt(var / (double)nout);
        void *pm = xmalloc(nne_conv3d_q8_prep_bytes(&d));
        nne_conv3d_q8_w pq;
        nne_conv3d_q8_prep(&pq, &d, L[i].w, L[i].b, pm);
        ws = xmalloc(nne_conv3d_q8_ws_bytes(&d, 2));
        printf("%-11s %4lld %4lld", L[i].name, (long long)d.c_in, (long long)d.c_out);
        for (int v = 0; v < 2; v++) {
            const nne_calib_layer *cl = nne_calib_layer_at(cb, i);
            const float lo = v ? cl->lo : (float)cl->min, hi = v ? cl->hi : (float)cl->max;
            const nne_q8_act act = nne_q8_act_from_range(lo, hi);
            nne_conv3d_q8_run(ctx->pool, ctx->kernels, yq, cap.x[i], &pq, &d, act, ws);
            double num = 0, den = 0, mx = 0;
            for (int64_t k = 0; k < nout; k++) {
                const double e = (double)yq[k] - (double)yf[k];
                num += e * e;
                den += (double)yf[k] * (double)yf[k];
                mx = fmax(mx, fabs(e));
            }
            const double rms = sqrt(num / den);
            if (v) sb += rms;
            else sa += rms;
            printf(" %s[%7.3f, %7.3f] %9.5f %9.4f", v ? "| " : " ", (double)lo, (double)hi, rms,
                   mx / sd);
        }
        printf("\n");
        nne_free(ws);
        nne_free(pm);
        nne_free(yf);
        nne_free(yq);
    }
    printf("mean relative rms error over %d layers: A (min/max) %.5f, B (p%g) %.5f\n", cap.n,
           sa / cap.n, nne_calib_percentile(cb), sb / cap.n);
    for (int i = 0; i < cap.n; i++) nne_free(cap.x[i]);
    nne_calib_free(cb);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "accuracy")) return accuracy(argc - 2, argv + 2);
    if (argc > 1 && !strcmp(argv[1], "speed")) return speed(argc - 2, argv + 2);
    return speed(argc - 1, argv + 1);
}
