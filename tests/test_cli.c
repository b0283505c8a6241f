/*
 * test_cli.c - the nnedge command line as a user meets it: exit codes of docs/EXIT_CODES.md,
 * exactly one clear line on stderr for bad input, no output file left behind, and the JSON of
 * `nnedge bench`. The binary is $NNE_CLI (set by tests/run.sh) or build/nnedge.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "json.h"
#include "nifti.h"
#include "cli_run.h"
#include "test.h"

static const char *cli;



static int lines(const char *s) {
    int n = 0;
    for (; *s; s++) n += *s == '\n';
    return n;
}

static void copy_file(const char *from, const char *to, long cut, long flip) {
    FILE *a = fopen(from, "rb"), *b = fopen(to, "wb");
    long i = 0;
    int c;
    while (a && b && (c = fgetc(a)) != EOF && (cut < 0 || i < cut)) {
        fputc(i == flip ? c ^ 0x40 : c, b);
        i++;
    }
    if (a) fclose(a);
    if (b) fclose(b);
}

int main(void) {
    cli = getenv("NNE_CLI") ? getenv("NNE_CLI") : "build/nnedge";
    if (access(cli, X_OK) != 0) {
        test_skip("nnedge binary not built");
        return TEST_SUMMARY();
    }
    char dir[] = "/tmp/nne_test_cli_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    char model[300], bad[300], p[300];
    snprintf(model, sizeof model, "%s/iso3.nne", dir);
    snprintf(bad, sizeof bad, "%s/bad.nne", dir);

    struct {
        const char *case_dir;
        int code;
    } convert_bad[] = {{"truncated", 13}, {"foreign_global", 16}, {"wrong_shape", 14},
                       {"missing_tensor", 13}, {"dup_mismatch", 13}, {"unknown_class", 16},
                       {"config_2d", 15}};
    for (size_t i = 0; i < sizeof convert_bad / sizeof convert_bad[0]; i++) {
        snprintf(p, sizeof p, "tests/data/bad/%s", convert_bad[i].case_dir);
        const char *a[] = {"convert", p, "-o", model, NULL};
        int rc = cli_run(cli, a);
        TEST_CHECK(rc == convert_bad[i].code, "convert %s: exit %d, want %d (%s)",
                   convert_bad[i].case_dir, rc, convert_bad[i].code, cli_err);
        TEST_CHECK(lines(cli_err) == 1 && strncmp(cli_err, "nnedge convert: ", 16) == 0,
                   "convert %s: one stderr line, got: %s", convert_bad[i].case_dir, cli_err);
        TEST_CHECK(access(model, F_OK) != 0, "convert %s: output left behind",
                   convert_bad[i].case_dir);
    }
    const char *usage[] = {"convert", "-o", NULL};
    TEST_CHECK(cli_run(cli, usage) == 2, "usage error exit 2");
    const char *unknown[] = {"frobnicate", NULL};
    TEST_CHECK(cli_run(cli, unknown) == 2, "unknown command exit 2");

    const char *conv[] = {"convert", "tests/golden/iso3/results", "-f", "0,1", "-o", model, NULL};
    TEST_CHECK(cli_run(cli, conv) == 0, "convert iso3: %s", cli_err);
    const char *info[] = {"info", model, NULL};
    TEST_CHECK(cli_run(cli, info) == 0 && strstr(cli_out, "21648") && strstr(cli_out, "checksums     ok"),
               "info: %s%s", cli_out, cli_err);
    const char *mem[] = {"info", model, "--memory", "--patch", "16,20,24", "-t", "1", NULL};
    int mrc = cli_run(cli, mem);
    TEST_CHECK(mrc == 0 && strstr(cli_out, "concat [upsampled, skip]") &&
                   strstr(cli_out, "activation arena peak"),
               "info --memory: %d %s %s", mrc, cli_out, cli_err);
    const char *mem_bad[] = {"info", model, "--memory", "--patch", "15,20,24", NULL};
    TEST_CHECK(cli_run(cli, mem_bad) == 14, "info --memory with an indivisible patch: exit 14");
    const char *bench[] = {"bench", "--model", model, "--patch", "16,20,24", "--threads", "2",
                           "--repeat", "2", "--json", NULL};
    int rc = cli_run(cli, bench);
    TEST_CHECK(rc == 0 && strstr(cli_out, "\"forward_s_median\"") && strstr(cli_out, "\"gmac\"") &&
                   strstr(cli_out, "\"peak_rss_mb\"") && strstr(cli_out, "\"threads\": 2") &&
                   strstr(cli_out, "\"isa\""),
               "bench JSON: %s %s", cli_out, cli_err);
    TEST_CHECK(strstr(cli_out, "\"fma_peak_gflops\"") && strstr(cli_out, "\"pct_of_peak\"") &&
                   !strstr(cli_out, "\"layers\""),
               "bench JSON has the FMA peak, no layers without --per-layer: %s", cli_out);
    {
        /* --per-layer: the table on stderr, layers/levels in the JSON; --input/--logits: the
         * logits of a given input equal an in-process forward of it. */
        char in_p[300], lg_p[300], sync_p[300];
        snprintf(in_p, sizeof in_p, "%s/in.f32", dir);
        snprintf(lg_p, sizeof lg_p, "%s/logits.f32", dir);
        snprintf(sync_p, sizeof sync_p, "%s/sync.txt", dir);
        const int64_t shp[3] = {16, 20, 24}, nv = 16 * 20 * 24;
        float *xin = malloc(sizeof *xin * (size_t)(2 * nv));
        float *ref = malloc(sizeof *ref * (size_t)(2 * nv));
        float *got = malloc(sizeof *got * (size_t)(2 * nv));
        for (int64_t i = 0; i < 2 * nv; i++) xin[i] = (float)((i * 37) % 101) / 50.0f - 1.0f;
        FILE *f = fopen(in_p, "wb");
        if (f) {
            fwrite(xin, sizeof *xin, (size_t)(2 * nv), f);
            fclose(f);
        }
        const char *pl[] = {"bench", "--model", model, "--patch", "16,20,24", "-t", "2",
                            "--repeat", "2", "--per-layer", "--input", in_p, "--logits", lg_p,
                            NULL};
        rc = cli_run(cli, pl);
        TEST_CHECK(rc == 0 && strstr(cli_out, "\"layers\": [{\"name\": \"enc0.conv0\"") &&
                       strstr(cli_out, "\"levels\": [{\"level\": 0") &&
                       strstr(cli_out, "\"name\": \"seg\"") && strstr(cli_err, "enc0.norm0") &&
                       strstr(cli_err, "GFLOP/s") && lines(cli_out) == 1,
                   "bench --per-layer: %d %s %s", rc, cli_out, cli_err);
        nne_ctx *c2 = NULL;
        nne_model *m2 = NULL;
        nne_ctx_params cp2 = nne_ctx_default_params();
        cp2.n_threads = 1;
        int ok = nne_ctx_init(&cp2, &c2) == NNE_OK && nne_model_load(c2, model, &m2) == NNE_OK &&
                 nne_model_forward(c2, m2, 0, xin, shp, ref) == NNE_OK;
        size_t glen = 0;
        char *lg = test_read_file(lg_p, &glen);
        TEST_CHECK(ok && lg && glen == sizeof *got * (size_t)(2 * nv) &&
                       memcmp(lg, ref, glen) == 0,
                   "bench --logits equals the in-process forward (%zu bytes)", glen);
        free(lg);
        nne_model_free(m2);
        nne_ctx_free(c2);
        /* --sync: "ready", one line per pass as stdin lines arrive; end of input -> exit 2. */
        f = fopen(sync_p, "wb");
        if (f) {
            fputs("go\ngo\n", f);
            fclose(f);
        }
        const char *sy[] = {"bench", "--model", model, "--patch", "16,20,24", "-t", "1",
                            "--repeat", "2", "--sync", NULL};
        rc = cli_run_stdin(cli, sy, sync_p);
        TEST_CHECK(rc == 0 && strstr(cli_out, "{\"event\": \"ready\"}\n{\"event\": \"run\", "
                                              "\"i\": 0") &&
                       strstr(cli_out, "\"i\": 1") && lines(cli_out) == 4,
                   "bench --sync: %d %s %s", rc, cli_out, cli_err);
        const char *sy3[] = {"bench", "--model", model, "--patch", "16,20,24", "-t", "1",
                             "--repeat", "3", "--sync", NULL};
        rc = cli_run_stdin(cli, sy3, sync_p);
        TEST_CHECK(rc == 2 && lines(cli_err) == 1, "bench --sync, short input: %d %s", rc,
                   cli_err);
        const char *short_in[] = {"bench", "--model", model, "--patch", "16,20,20", "--input",
                                  in_p, NULL};
        rc = cli_run(cli, short_in);
        TEST_CHECK(rc == 14 && lines(cli_err) == 1, "bench --input of the wrong size: %d %s", rc,
                   cli_err);
        unlink(in_p);
        unlink(lg_p);
        unlink(sync_p);
        free(xin);
        free(ref);
        free(got);
    }
    const char *bench_bad[] = {"bench", "--model", model, "--patch", "15,20,24", NULL};
    TEST_CHECK(cli_run(cli, bench_bad) == 14 && lines(cli_err) == 1, "indivisible patch: exit 14: %s",
               cli_err);

    /* Corrupted model files: flipped data byte -> checksum (17); truncated -> format (13). */
    copy_file(model, bad, -1, 4096 + 100);
    const char *info_bad[] = {"info", bad, NULL};
    rc = cli_run(cli, info_bad);
    TEST_CHECK(rc == 17 && lines(cli_err) == 1, "bad CRC: exit %d: %s", rc, cli_err);
    copy_file(model, bad, 3000, -1);
    rc = cli_run(cli, info_bad);
    TEST_CHECK(rc == 13 && lines(cli_err) == 1, "truncated model: exit %d: %s", rc, cli_err);
    const char *info_missing[] = {"info", "/nonexistent/m.nne", NULL};
    TEST_CHECK(cli_run(cli, info_missing) == 12, "missing model: exit 12");

    /* nnedge predict: bad inputs, each with its exit code, one stderr line, no output. */
    const char *g0 = "tests/golden/predict/iso_aniso_input_0000.nii.gz";
    const char *g1 = "tests/golden/predict/iso_aniso_input_0001.nii.gz";
    char out[300], f_nan[300], f_4d[300], f_aff[300], f_trunc[300];
    snprintf(out, sizeof out, "%s/pred.nii.gz", dir);
    snprintf(f_nan, sizeof f_nan, "%s/nan_0001.nii.gz", dir);
    snprintf(f_4d, sizeof f_4d, "%s/fourd_0001.nii.gz", dir);
    snprintf(f_aff, sizeof f_aff, "%s/shifted_0001.nii.gz", dir);
    snprintf(f_trunc, sizeof f_trunc, "%s/trunc_0001.nii.gz", dir);
    nne_image *img = NULL, *x = NULL;
    TEST_CHECK(nne_image_read(NULL, g1, &img) == NNE_OK, "read golden channel");
    if (img) {
        img->data[100] = 0.0f / 0.0f;
        img->data[200] = 1.0f / 0.0f;
        TEST_CHECK(nne_image_write(NULL, f_nan, img, NNE_DT_FLOAT32) == NNE_OK, "write NaN file");
        int64_t d4[8] = {4, img->dim[1], img->dim[2], img->dim[3], 2, 1, 1, 1};
        if (nne_image_alloc_like(NULL, img, 4, d4, &x) == NNE_OK) {
            nne_image_write(NULL, f_4d, x, NNE_DT_FLOAT32);
            nne_image_free(x);
        }
        img->data[100] = img->data[200] = 1.0f;
        img->qoffset_x += 5.0;
        img->srow[0][3] += 5.0;
        TEST_CHECK(nne_image_write(NULL, f_aff, img, NNE_DT_FLOAT32) == NNE_OK, "write shifted");
        nne_image_free(img);
    }
    copy_file(g1, f_trunc, 3000, -1);
    struct {
        const char *c1, *flag, *needle;
        int code;
    } pbad[] = {{f_nan, NULL, "2 NaN/Inf voxels", 13}, {f_4d, NULL, "4-D", 16},
                {f_aff, NULL, "different affines", 14},
                {f_trunc, NULL, "trunc_0001", 13},
                {"tests/golden/predict/small_pad_0001.nii.gz", NULL, "voxels", 14},
                {"/nonexistent/x_0001.nii.gz", NULL, "nonexistent", 12}};
    for (size_t i = 0; i < sizeof pbad / sizeof pbad[0]; i++) {
        const char *a[] = {"predict", "-m", model, "-o", out, "--case", g0, pbad[i].c1, NULL};
        rc = cli_run(cli, a);
        TEST_CHECK(rc == pbad[i].code && lines(cli_err) == 1 && strstr(cli_err, pbad[i].needle),
                   "predict bad %zu: exit %d (want %d): %s", i, rc, pbad[i].code, cli_err);
        TEST_CHECK(access(out, F_OK) != 0, "predict bad %zu: output left behind", i);
    }
    /* Both file names are named when the grids differ. */
    {
        const char *a[] = {"predict", "-m", model, "-o", out, "--case", g0, f_aff, NULL};
        cli_run(cli, a);
        TEST_CHECK(strstr(cli_err, "iso_aniso_input_0000") && strstr(cli_err, "shifted_0001"),
                   "affine mismatch names both files: %s", cli_err);
    }
    {
        const char *a[] = {"predict", "-m", model, "-o", out, "--nan-to-zero", "--case", g0, f_nan,
                           NULL};
        TEST_CHECK(cli_run(cli, a) == 0 && access(out, F_OK) == 0, "--nan-to-zero accepts NaN: %s",
                   cli_err);
        unlink(out);
    }
    {
        const char *a[] = {"predict", "-m", model, "-o", out, "--case", g0, NULL};
        TEST_CHECK(cli_run(cli, a) == 2, "channel count mismatch is a usage error");
        const char *b[] = {"predict", "-m", model, "-o", "/nonexistent/dir/o.nii.gz", "--case", g0,
                           g1, NULL};
        rc = cli_run(cli, b);
        TEST_CHECK(rc == 12 && lines(cli_err) == 1, "unwritable output: exit %d: %s", rc, cli_err);
    }
    /* A folder with one good and one bad case: the good one is written, exit 3 (partial). */
    char in_dir[300], out_dir[300], l0[512], l1[512], b0[512], b1[512], o_good[512];
    snprintf(in_dir, sizeof in_dir, "%s/in", dir);
    snprintf(out_dir, sizeof out_dir, "%s/out", dir);
    mkdir(in_dir, 0755);
    snprintf(l0, sizeof l0, "%s/good_0000.nii.gz", in_dir);
    snprintf(l1, sizeof l1, "%s/good_0001.nii.gz", in_dir);
    snprintf(b0, sizeof b0, "%s/bad_0000.nii.gz", in_dir);
    snprintf(b1, sizeof b1, "%s/bad_0001.nii.gz", in_dir);
    copy_file(g0, l0, -1, -1);
    copy_file(g1, l1, -1, -1);
    copy_file(g0, b0, -1, -1);
    copy_file(f_nan, b1, -1, -1);
    const char *batch[] = {"predict", "-m", model, "-i", in_dir, "-o", out_dir, "-q", NULL};
    rc = cli_run(cli, batch);
    snprintf(o_good, sizeof o_good, "%s/good.nii.gz", out_dir);
    TEST_CHECK(rc == 3 && access(o_good, F_OK) == 0, "partial batch: exit %d: %s", rc, cli_err);
    char o_bad[512];
    snprintf(o_bad, sizeof o_bad, "%s/bad.nii.gz", out_dir);
    TEST_CHECK(access(o_bad, F_OK) != 0, "failed case writes nothing");
    const char *rmv[] = {l0, l1, b0, b1, o_good, f_nan, f_4d, f_aff, f_trunc};
    for (size_t i = 0; i < sizeof rmv / sizeof rmv[0]; i++) unlink(rmv[i]);
    rmdir(in_dir);
    rmdir(out_dir);

    /* nnedge evaluate: pairing by name, a skipped mismatch and unpaired files -> exit 3; the
     * four outputs; a prediction equal to its ground truth has Dice 1 (metric values
     * themselves are checked against sklearn/scipy in test_metrics). */
    char ev[300], evg[400], evp[400], evo[400], evi[400], f[600];
    snprintf(ev, sizeof ev, "%s/ev", dir);
    snprintf(evg, sizeof evg, "%s/gt", ev);
    snprintf(evp, sizeof evp, "%s/pred", ev);
    snprintf(evo, sizeof evo, "%s/out", ev);
    snprintf(evi, sizeof evi, "%s/images", ev);
    mkdir(ev, 0755);
    mkdir(evi, 0755);
    mkdir(evg, 0755);
    mkdir(evp, 0755);
    const char *gsrc[3] = {"tests/golden/predict/iso_aniso_input.nii.gz",
                           "tests/golden/predict/transposed.nii.gz",
                           "tests/golden/predict/small_pad.nii.gz"};
    snprintf(f, sizeof f, "%s/a.nii.gz", evg);
    copy_file(gsrc[0], f, -1, -1);
    snprintf(f, sizeof f, "%s/b.nii.gz", evg);
    copy_file(gsrc[1], f, -1, -1);
    snprintf(f, sizeof f, "%s/c.nii.gz", evg);
    copy_file(gsrc[2], f, -1, -1);
    snprintf(f, sizeof f, "%s/a.nii.gz", evp);
    copy_file(gsrc[0], f, -1, -1);
    snprintf(f, sizeof f, "%s/b.nii.gz", evp);
    copy_file(gsrc[0], f, -1, -1); /* wrong grid for b */
    snprintf(f, sizeof f, "%s/a_0000.nii.gz", evi);
    copy_file(gsrc[0], f, -1, -1); /* the "DWI" of case a, for the overlays */
    const char *eva[] = {"evaluate", "--pred", evp, "--gt", evg, "--images", evi, "-o", evo, NULL};
    rc = cli_run(cli, eva);
    TEST_CHECK(rc == 3 && strstr(cli_err, "b: skipped") && strstr(cli_err, "c: ground truth without"),
               "evaluate partial: exit %d: %s", rc, cli_err);
    const char *outs[4] = {"per_case.csv", "per_case.json", "summary.json", "summary.md"};
    for (int i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s/%s", evo, outs[i]);
        TEST_CHECK(access(f, F_OK) == 0, "evaluate wrote %s", outs[i]);
    }
    snprintf(f, sizeof f, "%s/per_case.csv", evo);
    char csv[4096];
    cli_slurp(f, csv, sizeof csv);
    TEST_CHECK(strstr(csv, "\na,1,1,1,1,1,1,") != NULL, "identical masks: Dice 1: %s", csv);
    /* --images: overlays/a.png and overlays/a_3view.png (PNG signature). */
    const char *ovs[2] = {"a.png", "a_3view.png"};
    for (int i = 0; i < 2; i++) {
        snprintf(f, sizeof f, "%s/overlays/%s", evo, ovs[i]);
#ifndef NNE_NO_CAIRO
        char sig[16] = {0};
        cli_slurp(f, sig, sizeof sig);
        TEST_CHECK(!memcmp(sig, "\x89PNG\r\n", 6), "evaluate --images wrote overlays/%s", ovs[i]);
#endif
        unlink(f);
    }
    snprintf(f, sizeof f, "%s/overlays", evo);
    rmdir(f);
    snprintf(f, sizeof f, "%s/a_0000.nii.gz", evi);
    unlink(f);
    rmdir(evi);
    for (int i = 0; i < 4; i++) {
        snprintf(f, sizeof f, "%s/%s", evo, outs[i]);
        unlink(f);
    }
    const char *rm3[] = {"a", "b", "c"};
    for (int i = 0; i < 3; i++) {
        snprintf(f, sizeof f, "%s/%s.nii.gz", evg, rm3[i]);
        unlink(f);
        snprintf(f, sizeof f, "%s/%s.nii.gz", evp, rm3[i]);
        unlink(f);
    }
    rmdir(evo);
    rmdir(evg);
    rmdir(evp);
    rmdir(ev);

    /* nnedge compare against scipy's numbers (tools/gen_compare_golden.py). */
    {
        char cmp[300];
        snprintf(cmp, sizeof cmp, "%s/cmp", dir);
        const char *ca[] = {"compare", "cloud=tests/golden/eval/compare/cloud",
                            "fp32=tests/golden/eval/compare/fp32",
                            "fp16=tests/golden/eval/compare/fp16", "--metrics",
                            "dice,hd95_monai_mm", "--holm", "-o", cmp, NULL};
        rc = cli_run(cli, ca);
        TEST_CHECK(rc == 3 && strstr(cli_err, "extra_case"), "compare: unpaired case -> exit 3: %d %s",
                   rc, cli_err);
        char jp[400];
        snprintf(jp, sizeof jp, "%s/compare.json", cmp);
        cJSON *got = NULL, *want = NULL;
        TEST_CHECK(nne_json_read_file(NULL, jp, &got) == NNE_OK, "compare.json");
        TEST_CHECK(nne_json_read_file(NULL, "tests/golden/eval/compare/expected.json", &want) ==
                       NNE_OK, "expected.json");
        const char *ms[2] = {"dice", "hd95_monai_mm"};
        const char *cs[3] = {"cloud", "fp32", "fp16"};
        const char *fs[4] = {"mean", "sd", "wilcoxon_p", "wilcoxon_p_holm"};
        int checked = 0;
        for (int mi = 0; got && want && mi < 2; mi++) {
            const cJSON *gm = cJSON_GetObjectItem(cJSON_GetObjectItem(got, "metrics"), ms[mi]);
            const cJSON *wm = cJSON_GetObjectItem(cJSON_GetObjectItem(want, "metrics"), ms[mi]);
            const char *top[2] = {"friedman_chi2", "friedman_p"};
            for (int t = 0; t < 2; t++) {
                double g = cJSON_GetObjectItem(gm, top[t])->valuedouble;
                double w = cJSON_GetObjectItem(wm, top[t])->valuedouble;
                TEST_CHECK(fabs(g - w) <= 1e-9 * fabs(w), "%s %s: %.17g vs scipy %.17g", ms[mi],
                           top[t], g, w);
                checked++;
            }
            for (int ci = 0; ci < 3; ci++) {
                const cJSON *gc = cJSON_GetObjectItem(cJSON_GetObjectItem(gm, "configurations"), cs[ci]);
                const cJSON *wc = cJSON_GetObjectItem(cJSON_GetObjectItem(wm, "configurations"), cs[ci]);
                for (int fi = 0; fi < 4; fi++) {
                    const cJSON *w = cJSON_GetObjectItem(wc, fs[fi]), *g = cJSON_GetObjectItem(gc, fs[fi]);
                    if (!w) continue;
                    TEST_CHECK(g && fabs(g->valuedouble - w->valuedouble) <= 1e-9 * fabs(w->valuedouble),
                               "%s %s %s: %.17g vs scipy %.17g", ms[mi], cs[ci], fs[fi],
                               g ? g->valuedouble : -1.0, w->valuedouble);
                    checked++;
                }
            }
        }
        TEST_CHECK(checked == 24, "compare: %d values checked", checked);
        cJSON_Delete(got);
        cJSON_Delete(want);
        const char *cf[7] = {"compare.md", "compare.csv", "compare.json", "fig_metrics.png",
                             "fig_metrics.svg", "fig_dice_box.png", "fig_dice_box.svg"};
#ifdef NNE_NO_CAIRO
        const int n_cf = 3;
#else
        const int n_cf = 7;
#endif
        for (int i = 0; i < 7; i++) {
            snprintf(jp, sizeof jp, "%s/%s", cmp, cf[i]);
            if (i < n_cf) TEST_CHECK(access(jp, F_OK) == 0, "compare wrote %s", cf[i]);
            unlink(jp);
        }
        /* --no-figures: no fig_* file. */
        const char *cn[] = {"compare", "cloud=tests/golden/eval/compare/cloud",
                            "fp32=tests/golden/eval/compare/fp32", "--no-figures", "-o", cmp,
                            NULL};
        rc = cli_run(cli, cn);
        snprintf(jp, sizeof jp, "%s/fig_metrics.png", cmp);
        TEST_CHECK(rc == 0 && access(jp, F_OK) != 0, "--no-figures: exit %d", rc);
        for (int i = 0; i < 7; i++) {
            snprintf(jp, sizeof jp, "%s/%s", cmp, cf[i]);
            unlink(jp);
        }
        rmdir(cmp);
    }

    unlink(model);
    unlink(bad);
    rmdir(dir);
    return TEST_SUMMARY();
}
