/*
 * test_predict.c - end-to-end parity with nnU-Net v2's own predictor: for every case of
 * tests/golden/predict/index.json (written by tools/gen_predict_golden.py, which runs
 * nnUNetPredictor on CPU on real NIfTI files and real checkpoints), nnedge converts the same
 * results folder, predicts the same files with the same settings, and must produce the same
 * segmentation voxel for voxel; probabilities must agree within the tolerance below. Also checks
 * bitwise-identical output for 1 and 2 threads and that a failing case writes nothing.
 * The bundled demo model (models/demo.nne, trained with nnU-Net v2) must also reproduce, on the
 * demo case, the mask nnUNetPredictor wrote from the same checkpoint
 * (data/demo/demo_nnunet.nii.gz, tools/cloud/gen_demo_golden.py).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "json.h"
#include "half.h"
#include "nifti.h"
#include "predict.h"
#include "test.h"

#define G "tests/golden/predict"
#define PROB_TOL 1e-3
/* The network's fp32 sums follow another order than PyTorch's kernels (~1e-6 relative), so an
 * fp16 tile logit may round to the neighbouring fp16 value; on the rare affected values the
 * ensembled logits differ by about one fp16 ulp of the tile sums. */
#define LOGIT_TOL 1e-3 /* x logit range */ /* fp16 logits: one ulp at |logit| ~ 2 moves a probability by ~5e-4 */

static float *read_f32(const char *path, int64_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    float *b = malloc(sizeof *b * (size_t)n);
    size_t r = fread(b, sizeof *b, (size_t)n, f);
    fclose(f);
    if (r != (size_t)n) {
        free(b);
        return NULL;
    }
    return b;
}

static void run_case(const cJSON *c, const char *tmp) {
    const char *name = cJSON_GetObjectItem(c, "name")->valuestring;
    const char *mf = cJSON_GetObjectItem(c, "model_folder")->valuestring;
    const cJSON *files = cJSON_GetObjectItem(c, "files");
    const cJSON *folds = cJSON_GetObjectItem(c, "folds");
    char fl[64] = "", p[600], model[600], out[600], prob[600];
    const cJSON *it;
    cJSON_ArrayForEach(it, folds) {
        char x[16];
        snprintf(x, sizeof x, "%s%d", fl[0] ? "," : "", it->valueint);
        strcat(fl, x);
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 2;
    nne_ctx *ctx = NULL;
    nne_ctx_init(&cp, &ctx);
    snprintf(model, sizeof model, "%s/%s.nne", tmp, name);
    nne_convert_params cv = nne_convert_default_params();
    cv.results_dir = mf;
    cv.folds = fl;
    nne_status st = nne_convert(ctx, &cv, model);
    TEST_CHECK(st == NNE_OK, "%s: convert %s: %s", name, mf, nne_ctx_last_error(ctx));
    nne_model *m = NULL;
    if (st == NNE_OK) st = nne_model_load(ctx, model, &m);
    if (st != NNE_OK) {
        nne_ctx_free(ctx);
        return;
    }
    const cJSON *ins = cJSON_GetObjectItem(files, "inputs");
    char paths[8][600];
    const char *inputs[8];
    int n = 0;
    cJSON_ArrayForEach(it, ins) {
        snprintf(paths[n], sizeof paths[n], G "/%s", it->valuestring);
        inputs[n] = paths[n];
        n++;
    }
    nne_predict_params pp = nne_predict_default_params();
    pp.step_size = cJSON_GetObjectItem(c, "tile_step_size")->valuedouble;
    pp.use_mirroring = cJSON_IsTrue(cJSON_GetObjectItem(c, "use_mirroring"));
    pp.use_gaussian = cJSON_IsTrue(cJSON_GetObjectItem(c, "use_gaussian"));
    int want_probs = cJSON_IsTrue(cJSON_GetObjectItem(c, "save_probabilities"));
    snprintf(out, sizeof out, "%s/%s.nii.gz", tmp, name);
    snprintf(prob, sizeof prob, "%s/%s_prob.nii.gz", tmp, name);
    pp.prob_path = want_probs ? prob : NULL;
    nne_predict_report rep;
    nne_predict_probe probe;
    st = nne_predict_case_probe(ctx, m, &pp, inputs, n, out, &rep, &probe);
    TEST_CHECK(st == NNE_OK, "%s: predict: %s", name, nne_ctx_last_error(ctx));
    if (st == NNE_OK) {
        /* Stage by stage: the preprocessed network input is nnU-Net's bit for bit; the fp16
         * logits may differ by a few fp16 steps on under 2% of values (see LOGIT_STEPS). */
        const cJSON *pre = cJSON_GetObjectItem(files, "preprocessed");
        snprintf(p, sizeof p, G "/%s", pre->valuestring);
        float *want = read_f32(p, probe.pre_n);
        int64_t nd = 0;
        for (int64_t i = 0; want && i < probe.pre_n; i++) nd += memcmp(&want[i], &probe.pre[i], 4) != 0;
        printf("%s: preprocessed input: %lld of %lld values differ from nnU-Net's\n", name,
               (long long)nd, (long long)probe.pre_n);
        TEST_CHECK(want && nd == 0, "%s: preprocessed input differs in %lld values", name,
                   (long long)nd);
        free(want);
        snprintf(p, sizeof p, G "/%s", cJSON_GetObjectItem(files, "logits")->valuestring);
        FILE *lf = fopen(p, "rb");
        uint16_t *wl = malloc(sizeof *wl * (size_t)probe.logits_n);
        size_t got = lf && wl ? fread(wl, 2, (size_t)probe.logits_n, lf) : 0;
        if (lf) fclose(lf);
        int64_t n_diff = 0;
        double max_d = 0.0, lo = 0.0, hi = 0.0;
        for (int64_t i = 0; got == (size_t)probe.logits_n && i < probe.logits_n; i++) {
            double a = nne_f16_to_f64(wl[i]), b = nne_f16_to_f64(probe.logits[i]);
            lo = i ? fmin(lo, a) : a;
            hi = i ? fmax(hi, a) : a;
            n_diff += wl[i] != probe.logits[i];
            max_d = fmax(max_d, fabs(a - b));
        }
        printf("%s: fp16 logits: %lld of %lld differ, max |diff| %.3g (range %.3g)\n", name,
               (long long)n_diff, (long long)probe.logits_n, max_d, hi - lo);
        TEST_CHECK(got == (size_t)probe.logits_n && max_d <= LOGIT_TOL * (hi - lo) &&
                       n_diff * 50 <= probe.logits_n,
                   "%s: logits: %lld differ, max |diff| %.3g (range %.3g)", name,
                   (long long)n_diff, max_d, hi - lo);
        free(wl);
        free(probe.pre);
        free(probe.logits);
    }
    if (st == NNE_OK) {
        nne_image *ours = NULL, *ref = NULL;
        snprintf(p, sizeof p, G "/%s", cJSON_GetObjectItem(files, "segmentation")->valuestring);
        TEST_CHECK(nne_image_read(ctx, out, &ours) == NNE_OK, "%s: read ours", name);
        TEST_CHECK(nne_image_read(ctx, p, &ref) == NNE_OK, "%s: read golden", name);
        if (ours && ref) {
            int64_t nv = nne_image_n_voxels(ref), diff = 0, fg = 0;
            TEST_CHECK(nne_image_n_voxels(ours) == nv, "%s: voxel count", name);
            for (int64_t i = 0; i < nv && nne_image_n_voxels(ours) == nv; i++) {
                diff += ours->data[i] != ref->data[i];
                fg += ref->data[i] != 0.0f;
            }
            printf("%s: %lld of %lld voxels differ from nnU-Net (%lld foreground), %lld tiles, "
                   "%.2f s\n", name, (long long)diff, (long long)nv, (long long)fg,
                   (long long)rep.n_tiles, rep.t_total);
            TEST_CHECK(diff == 0, "%s: %lld voxels differ from nnU-Net's segmentation", name,
                       (long long)diff);
            TEST_CHECK(fg > 100, "%s: golden has foreground", name);
            TEST_CHECK(ours->datatype == NNE_DT_UINT8, "%s: uint8 output", name);
        }
        if (want_probs && ref) {
            int64_t K = cJSON_GetObjectItem(c, "num_classes")->valueint;
            int64_t nv = nne_image_n_voxels(ref);
            snprintf(p, sizeof p, G "/%s", cJSON_GetObjectItem(files, "probabilities")->valuestring);
            float *want = read_f32(p, K * nv);
            nne_image *pi = NULL;
            TEST_CHECK(want && nne_image_read(ctx, prob, &pi) == NNE_OK, "%s: probabilities", name);
            if (want && pi && nne_image_n_voxels(pi) == K * nv) {
                double md = 0.0;
                for (int64_t i = 0; i < K * nv; i++) md = fmax(md, fabs((double)pi->data[i] - (double)want[i]));
                printf("%s: probabilities max |diff| %.3g\n", name, md);
                TEST_CHECK(md <= PROB_TOL, "%s: probabilities differ by %.3g", name, md);
            }
            nne_image_free(pi);
            free(want);
        }
        /* --accumulate fp32: not nnU-Net's arithmetic, but Dice >= 0.999 against its mask. */
        {
            char o32[600];
            snprintf(o32, sizeof o32, "%s/%s_fp32.nii.gz", tmp, name);
            nne_predict_params p32 = pp;
            p32.accumulate_fp32 = 1;
            p32.prob_path = NULL;
            nne_image *a32 = NULL;
            TEST_CHECK(nne_predict_case(ctx, m, &p32, inputs, n, o32, NULL) == NNE_OK &&
                           nne_image_read(ctx, o32, &a32) == NNE_OK,
                       "%s: fp32 accumulation", name);
            if (a32 && ref && nne_image_n_voxels(a32) == nne_image_n_voxels(ref)) {
                double inter = 0, sa = 0, sb = 0;
                for (int64_t i = 0; i < nne_image_n_voxels(ref); i++) {
                    int x = a32->data[i] != 0.0f, y = ref->data[i] != 0.0f;
                    inter += x && y;
                    sa += x;
                    sb += y;
                }
                double dice = 2.0 * inter / (sa + sb);
                printf("%s: fp32 accumulation Dice vs nnU-Net %.6f\n", name, dice);
                TEST_CHECK(dice >= 0.999, "%s: fp32 Dice %.6f", name, dice);
            }
            nne_image_free(a32);
            unlink(o32);
        }
        /* Thread-count determinism: one thread gives the same file content. */
        nne_ctx *c1 = NULL;
        cp.n_threads = 1;
        nne_ctx_init(&cp, &c1);
        char out1[600];
        snprintf(out1, sizeof out1, "%s/%s_t1.nii.gz", tmp, name);
        pp.prob_path = NULL;
        TEST_CHECK(nne_predict_case(c1, m, &pp, inputs, n, out1, NULL) == NNE_OK, "%s: 1 thread",
                   name);
        nne_image *a = NULL;
        if (nne_image_read(c1, out1, &a) == NNE_OK && ours) {
            TEST_CHECK(!memcmp(a->data, ours->data,
                               sizeof(float) * (size_t)nne_image_n_voxels(ours)),
                       "%s: 1 and 2 threads differ", name);
        }
        nne_image_free(a);
        nne_ctx_free(c1);
        unlink(out1);
        nne_image_free(ours);
        nne_image_free(ref);
    }
    /* A missing channel file: error, nothing written. */
    char bad_out[600];
    snprintf(bad_out, sizeof bad_out, "%s/%s_bad.nii.gz", tmp, name);
    const char *bad_in[8];
    for (int i = 0; i < n; i++) bad_in[i] = inputs[i];
    bad_in[n - 1] = G "/no_such_file.nii.gz";
    TEST_CHECK(nne_predict_case(ctx, m, &pp, bad_in, n, bad_out, NULL) == NNE_ERR_IO &&
                   access(bad_out, F_OK) != 0,
               "%s: missing input -> IO error, no output", name);
    unlink(out);
    unlink(prob);
    char stem[600];
    snprintf(stem, sizeof stem, "%s/%s_prob.npz", tmp, name);
    unlink(stem);
    snprintf(stem, sizeof stem, "%s/%s_prob.json", tmp, name);
    unlink(stem);
    unlink(model);
    nne_model_free(m);
    nne_ctx_free(ctx);
}

/* The demo model on the demo case, default settings (step 0.5, Gaussian, mirroring), against
 * nnU-Net v2's own prediction from the checkpoint the model was converted from: in FP32 every
 * voxel equal; with FP16 storage ("fp16") and INT8 ("int8", with the bundled calibration) a
 * Dice of at least 0.995. The demo's layers are too small for the default INT8 choice (every
 * one stays float32 at its 48x64x48 patch), so INT8 runs with $NNE_INT8=all: every conv but
 * the first and the seg head quantized. */
static void demo_case(const char *tmp, const char *precision) {
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 2;
    cp.precision = precision;
    if (!strcmp(precision, "int8")) cp.calibration = "models/demo.calibration.json";
    nne_ctx *ctx = NULL;
    nne_model *m = NULL;
    if (nne_ctx_init(&cp, &ctx) != NNE_OK) return;
    const int q8_all = !strcmp(precision, "int8");
    if (q8_all) setenv("NNE_INT8", "all", 1); /* read while the model is loaded */
    TEST_CHECK(nne_model_load(ctx, "models/demo.nne", &m) == NNE_OK, "demo: load: %s",
               nne_ctx_last_error(ctx));
    if (q8_all) unsetenv("NNE_INT8");
    const char *inputs[2] = {"data/demo/demo_0000.nii.gz", "data/demo/demo_0001.nii.gz"};
    char out[600];
    snprintf(out, sizeof out, "%s/demo.nii.gz", tmp);
    nne_predict_params pp = nne_predict_default_params();
    nne_predict_report rep;
    nne_image *ours = NULL, *ref = NULL;
    if (m) {
        nne_status st = nne_predict_case(ctx, m, &pp, inputs, 2, out, &rep);
        TEST_CHECK(st == NNE_OK, "demo: predict: %s", nne_ctx_last_error(ctx));
        if (st == NNE_OK) {
            TEST_CHECK(nne_image_read(ctx, out, &ours) == NNE_OK, "demo: read ours");
            TEST_CHECK(nne_image_read(ctx, "data/demo/demo_nnunet.nii.gz", &ref) == NNE_OK,
                       "demo: read nnU-Net's mask");
        }
    }
    if (ours && ref) {
        int64_t nv = nne_image_n_voxels(ref), diff = 0, fg = 0, both = 0, ours_fg = 0;
        TEST_CHECK(nne_image_n_voxels(ours) == nv, "demo: voxel count");
        for (int64_t i = 0; i < nv && nne_image_n_voxels(ours) == nv; i++) {
            diff += ours->data[i] != ref->data[i];
            fg += ref->data[i] != 0.0f;
            ours_fg += ours->data[i] != 0.0f;
            both += ours->data[i] != 0.0f && ref->data[i] != 0.0f;
        }
        const double dice = fg + ours_fg ? 2.0 * (double)both / (double)(fg + ours_fg) : 1.0;
        printf("demo %s: %lld of %lld voxels differ from nnU-Net (%lld foreground, Dice %.5f), "
               "%.2f s\n", precision, (long long)diff, (long long)nv, (long long)fg, dice,
               rep.t_total);
        if (!strcmp(precision, "fp32"))
            TEST_CHECK(diff == 0, "demo: %lld voxels differ from nnU-Net's mask",
                       (long long)diff);
        else
            TEST_CHECK(dice >= 0.995, "demo %s: Dice %.5f against nnU-Net's mask", precision,
                       dice);
        TEST_CHECK(fg > 500, "demo: nnU-Net's mask has a lesion");
    }
    nne_image_free(ours);
    nne_image_free(ref);
    unlink(out);
    nne_model_free(m);
    nne_ctx_free(ctx);
}

int main(void) {
    nne_log_set_level(NNE_LOG_LEVEL_ERROR);
    cJSON *idx = NULL;
    if (nne_json_read_file(NULL, G "/index.json", &idx) != NNE_OK) {
        test_skip("tests/golden/predict/index.json missing");
        return TEST_SUMMARY();
    }
    char tmp[] = "/tmp/nne_test_predict_XXXXXX";
    if (!mkdtemp(tmp)) return 1;
    const cJSON *c;
    cJSON_ArrayForEach(c, cJSON_GetObjectItem(idx, "cases")) run_case(c, tmp);
    demo_case(tmp, "fp32");
    demo_case(tmp, "fp16");
    demo_case(tmp, "int8");
    { /* INT8 without a calibration file, or with a file that is not one: refused at init */
        nne_ctx_params cp = nne_ctx_default_params();
        nne_ctx *ctx = NULL;
        cp.precision = "int8";
        TEST_CHECK(nne_ctx_init(&cp, &ctx) == NNE_ERR_ARG && !ctx, "int8 without calibration");
        cp.calibration = "models/demo.nne";
        TEST_CHECK(nne_ctx_init(&cp, &ctx) == NNE_ERR_FORMAT && !ctx, "int8, not a calibration");
        cp.precision = "fp8";
        TEST_CHECK(nne_ctx_init(&cp, &ctx) == NNE_ERR_ARG && !ctx, "unknown precision");
    }
    rmdir(tmp);
    cJSON_Delete(idx);
    return TEST_SUMMARY();
}
