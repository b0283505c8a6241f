/*
 * test_golden.c - end-to-end parity with PyTorch: real nnU-Net v2 results folders (plans.json,
 * dataset.json, torch.save checkpoints) written by tools/gen_golden.py from the real
 * PlainConvUNet are converted to .nne, loaded, and run; logits must match PyTorch's (float64
 * forward) within 1e-4 x logit range with identical argmax, for every kernel variant and every
 * convolution mode (direct only; Winograd F(2x2x2) or F(4x4x2) on every stride-1 3x3x3 layer;
 * the automatic choice), and be bitwise identical for 1, 2 and 3 threads. The Winograd modes
 * must also stay within 1e-3 x range of the direct reference-kernel logits.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "alloc.h"
#include "cpu.h"
#include "json.h"
#include "test.h"

static float *read_f32(const char *path, int64_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *b = malloc(sizeof *b * (size_t)n);
    size_t r = fread(b, sizeof *b, (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (r != (size_t)n || extra) {
        free(b);
        return NULL;
    }
    return b;
}

typedef struct golden_case {
    const char *topo;      /* tests/golden/<topo>                        */
    const char *folds;     /* -f for convert                             */
    const char *ckpt;      /* final / best                               */
    const char *logits[2]; /* expected logits file per fold in the model */
} golden_case;

static void run_case(const golden_case *gc, const char *tmpdir) {
    char p[512];
    snprintf(p, sizeof p, "tests/golden/%s/meta.json", gc->topo);
    cJSON *meta = NULL;
    if (nne_json_read_file(NULL, p, &meta) != NNE_OK) {
        TEST_CHECK(0, "missing %s", p);
        return;
    }
    const cJSON *shp = cJSON_GetObjectItem(meta, "input_shape");
    int64_t C = cJSON_GetArrayItem(shp, 0)->valueint;
    int64_t shape[3] = {cJSON_GetArrayItem(shp, 1)->valueint, cJSON_GetArrayItem(shp, 2)->valueint,
                        cJSON_GetArrayItem(shp, 3)->valueint};
    int64_t K = cJSON_GetObjectItem(meta, "n_classes")->valueint;
    int64_t vox = shape[0] * shape[1] * shape[2];
    cJSON_Delete(meta);

    nne_ctx *ctx = NULL;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 1;
    nne_ctx_init(&cp, &ctx);
    char model_path[512], results[512];
    snprintf(model_path, sizeof model_path, "%s/%s_%s.nne", tmpdir, gc->topo, gc->ckpt);
    snprintf(results, sizeof results, "tests/golden/%s/results", gc->topo);
    nne_convert_params prm = nne_convert_default_params();
    prm.results_dir = results;
    prm.folds = gc->folds;
    prm.checkpoint = gc->ckpt;
    nne_status st = nne_convert(ctx, &prm, model_path);
    TEST_CHECK(st == NNE_OK, "%s convert: %s", gc->topo, nne_ctx_last_error(ctx));
    nne_ctx_free(ctx);
    if (st != NNE_OK) return;

    snprintf(p, sizeof p, "tests/golden/%s/input.f32", gc->topo);
    float *in = read_f32(p, C * vox);
    TEST_CHECK(in != NULL, "read %s", p);
    float *ref_out = malloc(sizeof *ref_out * (size_t)(K * vox));
    float *out = malloc(sizeof *out * (size_t)(K * vox));

    const nne_kernels *tabs[4];
    int ntab = nne_cpu_available(tabs, 4);
    static const char *const convs[] = {"direct", "winograd2", "winograd4", "winograd44", "auto"};
    float *direct_ref = malloc(sizeof *direct_ref * (size_t)(K * vox)); /* ref isa, direct */
    for (int fold = 0; in && fold < 2 && gc->logits[fold]; fold++) {
        snprintf(p, sizeof p, "tests/golden/%s/%s", gc->topo, gc->logits[fold]);
        float *want = read_f32(p, K * vox);
        TEST_CHECK(want != NULL, "read %s", p);
        if (!want) continue;
        float lo = want[0], hi = want[0];
        for (int64_t i = 0; i < K * vox; i++) {
            lo = fminf(lo, want[i]);
            hi = fmaxf(hi, want[i]);
        }
        const double tol = 1e-4 * (double)(hi - lo);
        for (int c = 0; c < (int)NNE_ARRAY_LEN(convs); c++) {
            for (int t = 0; t < ntab; t++) {
                /* 1, 2, 3 threads; then (4) 1 thread with whole-tensor convolutions instead
                 * of streamed slabs (src/model.c), which must give the same bits */
                for (int nth = 1; nth <= 4; nth++) {
                    cp.n_threads = nth == 4 ? 1 : nth;
                    cp.isa = tabs[t]->name;
                    cp.conv = convs[c];
                    if (nth == 4) setenv("NNE_STREAM", "0", 1);
                    nne_ctx_init(&cp, &ctx);
                    unsetenv("NNE_STREAM");
                    nne_model *m = NULL;
                    st = nne_model_load(ctx, model_path, &m);
                    TEST_CHECK(st == NNE_OK, "load: %s", nne_ctx_last_error(ctx));
                    if (st == NNE_OK) {
                        memset(out, 0, sizeof *out * (size_t)(K * vox));
                        st = nne_model_forward(ctx, m, fold, in, shape, out);
                        TEST_CHECK(st == NNE_OK, "forward: %s", nne_ctx_last_error(ctx));
                    }
                    nne_model_free(m);
                    nne_ctx_free(ctx);
                    if (st != NNE_OK) continue;
                    if (nth == 1) {
                        double maxd = 0.0, maxd_direct = 0.0;
                        int64_t argmax_diff = 0;
                        if (c == 0 && t == 0)
                            memcpy(direct_ref, out, sizeof *out * (size_t)(K * vox));
                        for (int64_t i = 0; i < K * vox; i++) {
                            maxd = fmax(maxd, fabs((double)out[i] - (double)want[i]));
                            maxd_direct =
                                fmax(maxd_direct, fabs((double)out[i] - (double)direct_ref[i]));
                        }
                        /* winograd44 (F(4x4x4) on every layer, about 3x the rounding of
                         * F(4x4x2)) may flip near-ties: voxels whose two golden logits are
                         * within 2 max |dlogit| of each other are not counted for it */
                        const double tie = strcmp(convs[c], "winograd44") ? -1.0 : 2.0 * maxd;
                        for (int64_t v = 0; v < vox; v++) {
                            int a = 0, b = 0;
                            for (int k = 1; k < K; k++) {
                                if (out[k * vox + v] > out[a * vox + v]) a = k;
                                if (want[k * vox + v] > want[b * vox + v]) b = k;
                            }
                            argmax_diff += a != b && (double)want[b * vox + v] -
                                                             (double)want[a * vox + v] > tie;
                        }
                        printf("%s %s fold %d isa %s conv %s: max |dlogit| %.3g (range %.3g, "
                               "tol %.3g), vs direct ref %.3g, argmax differences %lld\n",
                               gc->topo, gc->ckpt, fold, tabs[t]->name, convs[c], maxd,
                               (double)(hi - lo), tol, maxd_direct, (long long)argmax_diff);
                        TEST_CHECK(maxd <= tol, "%s fold %d %s %s: max |dlogit| %.3g > %.3g",
                                   gc->topo, fold, tabs[t]->name, convs[c], maxd, tol);
                        TEST_CHECK(maxd_direct <= 10.0 * tol,
                                   "%s fold %d %s %s: max |dlogit| vs direct ref %.3g > %.3g",
                                   gc->topo, fold, tabs[t]->name, convs[c], maxd_direct,
                                   10.0 * tol);
                        TEST_CHECK(argmax_diff == 0, "%s fold %d %s %s: %lld argmax differences",
                                   gc->topo, fold, tabs[t]->name, convs[c],
                                   (long long)argmax_diff);
                        memcpy(ref_out, out, sizeof *out * (size_t)(K * vox));
                    } else {
                        TEST_CHECK(!memcmp(ref_out, out, sizeof *out * (size_t)(K * vox)),
                                   "%s fold %d %s %s: %s not bitwise equal to 1 thread",
                                   gc->topo, fold, tabs[t]->name, convs[c],
                                   nth == 4 ? "unstreamed" : nth == 2 ? "2 threads" : "3 threads");
                    }
                }
            }
        }
        /* FP16 storage (activations and prepared weights in binary16, arithmetic float32):
         * close to PyTorch's float64 logits, every algorithm, bitwise equal for 1-3 threads */
        static const char *const convs16[] = {"auto", "direct", "winograd2", "winograd4",
                                              "winograd44"};
        for (int c = 0; c < (int)NNE_ARRAY_LEN(convs16); c++) {
            for (int t = 0; t < ntab; t++) {
                for (int nth = 1; nth <= 3; nth++) {
                    cp.n_threads = nth;
                    cp.isa = tabs[t]->name;
                    cp.conv = convs16[c];
                    cp.precision = "fp16";
                    nne_ctx_init(&cp, &ctx);
                    cp.precision = NULL;
                    nne_model *m = NULL;
                    st = nne_model_load(ctx, model_path, &m);
                    TEST_CHECK(st == NNE_OK, "fp16 load: %s", nne_ctx_last_error(ctx));
                    if (st == NNE_OK) {
                        st = nne_model_forward(ctx, m, fold, in, shape, out);
                        TEST_CHECK(st == NNE_OK, "fp16 forward: %s", nne_ctx_last_error(ctx));
                    }
                    nne_model_free(m);
                    nne_ctx_free(ctx);
                    if (st != NNE_OK) continue;
                    if (nth > 1) {
                        TEST_CHECK(!memcmp(ref_out, out, sizeof *out * (size_t)(K * vox)),
                                   "%s fold %d %s fp16 %s: %d threads not bitwise equal to 1",
                                   gc->topo, fold, tabs[t]->name, convs16[c], nth);
                        continue;
                    }
                    double maxd = 0.0;
                    for (int64_t i = 0; i < K * vox; i++)
                        maxd = fmax(maxd, fabs((double)out[i] - (double)want[i]));
                    printf("%s %s fold %d isa %s fp16 conv %s: max |dlogit| %.3g (%.2g x range)\n",
                           gc->topo, gc->ckpt, fold, tabs[t]->name, convs16[c], maxd,
                           maxd / (double)(hi - lo));
                    TEST_CHECK(maxd <= 2e-2 * (double)(hi - lo),
                               "%s fold %d %s fp16 %s: max |dlogit| %.3g > 2e-2 x range",
                               gc->topo, fold, tabs[t]->name, convs16[c], maxd);
                    memcpy(ref_out, out, sizeof *out * (size_t)(K * vox));
                }
            }
        }
        free(want);
    }
    free(in);
    free(out);
    free(ref_out);
    free(direct_ref);
    unlink(model_path);
}

int main(void) {
    nne_log_set_level(NNE_LOG_LEVEL_ERROR);
    char dir[] = "/tmp/nne_test_golden_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const golden_case cases[] = {
        {"iso3", "0,1", "final", {"logits_fold0.f32", "logits_fold1.f32"}},
        {"iso3", "0", "best", {"logits_fold0_best.f32", NULL}},
        {"aniso4", NULL, "final", {"logits_fold0.f32", NULL}},
    };
    for (size_t i = 0; i < NNE_ARRAY_LEN(cases); i++) run_case(&cases[i], dir);
    rmdir(dir);
    return TEST_SUMMARY();
}
