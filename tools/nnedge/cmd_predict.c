/*
 * cmd_predict.c - `nnedge predict`: nnU-Net v2 inference on NIfTI files.
 *
 *   nnedge predict -m MODEL.nne -o OUT.nii.gz --case DWI.nii.gz ADC.nii.gz
 *   nnedge predict -m MODEL.nne -i IN_DIR -o OUT_DIR   (every case in nnU-Net naming)
 * (Channel files may also be given as plain positional arguments.)
 *
 * Batch mode finds cases as nnU-Net does: files CASE_XXXX<file_ending> (file_ending from the
 * model's dataset.json), channels ordered by XXXX; outputs OUT_DIR/CASE<file_ending>. When
 * some cases fail and others succeed it exits with 3 (partial success).
 *
 * --report writes the stroke report (src/report.h, docs/REPORT.md) of each predicted mask next
 * to it: OUT_STEM_report.json and OUT_STEM_report.png, with DWI = channel 0 and ADC = channel 1
 * when the model has two or more channels. A failed report fails its case.
 */
#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"
#include "model.h"
#include "nifti.h"

#define MAX_CASES 100000

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static void print_report(const char *name, const nne_predict_report *r, int json, int K) {
    double lesion = 0;
    for (int k = 1; k < K && k < 8; k++) lesion += (double)r->voxels_per_class[k];
    if (json) {
        printf("{\"case\": \"%s\", \"foreground_voxels\": %.0f, \"foreground_ml\": %.4f, "
               "\"tiles\": %lld, \"forward_passes\": %lld, \"shape_original\": [%lld, %lld, %lld], "
               "\"shape_network\": [%lld, %lld, %lld], \"t_read\": %.3f, \"t_preprocess\": %.3f, "
               "\"t_network\": %.3f, \"t_export\": %.3f, \"t_write\": %.3f, \"t_total\": %.3f, "
               "\"export_peak_mb\": %.1f}\n",
               name, lesion, lesion * r->voxel_volume_ml, (long long)r->n_tiles,
               (long long)r->n_forward, (long long)r->shape_original[0],
               (long long)r->shape_original[1], (long long)r->shape_original[2],
               (long long)r->shape_network[0], (long long)r->shape_network[1],
               (long long)r->shape_network[2], r->t_read, r->t_preprocess, r->t_network,
               r->t_export, r->t_write, r->t_total, (double)r->peak_export_bytes / 1048576.0);
    } else {
        printf("%s: foreground %.0f voxels = %.2f mL; %lld tiles, %lld forward passes; %.2f s "
               "(read %.2f, preprocess %.2f, network %.2f, export %.2f, write %.2f)\n",
               name, lesion, lesion * r->voxel_volume_ml, (long long)r->n_tiles,
               (long long)r->n_forward, r->t_total, r->t_read, r->t_preprocess, r->t_network,
               r->t_export, r->t_write);
    }
    fflush(stdout);
}

typedef struct progress_state {
    int case_k, n_cases;
    double t0;
    int last_len;
} progress_state;

/* "case k/n  fold f/F  tile t/T  elapsed  ETA" on one terminal line. */
static void on_progress(void *user, int fold, int n_folds, int64_t tile, int64_t n_tiles) {
    progress_state *ps = user;
    double el = cli_now_s() - ps->t0;
    double done = ((double)(fold - 1) * (double)n_tiles + (double)tile) /
                  ((double)n_folds * (double)n_tiles);
    double eta = done > 0 ? el / done - el : 0.0;
    fprintf(stderr, "\rcase %d/%d  fold %d/%d  tile %lld/%lld  elapsed %.0f s  ETA %.0f s   ",
            ps->case_k, ps->n_cases, fold, n_folds, (long long)tile, (long long)n_tiles, el, eta);
    fflush(stderr);
}

/* One object of the --timing-json array. */
static void timing_json(FILE *f, const char *name, const nne_predict_report *r, int first) {
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    fprintf(f, "%s\n  {\"case\": \"%s\", \"t_read\": %.4f, \"t_preprocess\": %.4f, "
               "\"t_network\": %.4f, \"t_export\": %.4f, \"t_write\": %.4f, \"t_total\": %.4f, "
               "\"tiles\": %lld, \"forward_passes\": %lld, "
               "\"shape_network\": [%lld, %lld, %lld], \"peak_rss_mb\": %.1f, "
               "\"export_peak_mb\": %.1f}",
            first ? "" : ",", name, r->t_read, r->t_preprocess, r->t_network, r->t_export,
            r->t_write, r->t_total, (long long)r->n_tiles, (long long)r->n_forward,
            (long long)r->shape_network[0], (long long)r->shape_network[1],
            (long long)r->shape_network[2], (double)ru.ru_maxrss / 1024.0,
            (double)r->peak_export_bytes / 1048576.0);
}

/* Fold names ("0,1") -> indices into the model's folds. */
static int parse_folds(const nne_model *m, const char *spec, int *ids, int *n) {
    *n = 0;
    char buf[256];
    snprintf(buf, sizeof buf, "%s", spec);
    for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
        int found = -1;
        for (int i = 0; i < m->n_folds; i++)
            if (!strcmp(m->fold_names[i], tok)) found = i;
        if (found < 0 || *n == 64) {
            fprintf(stderr, "nnedge predict: the model has no fold '%s'\n", tok);
            return -1;
        }
        ids[(*n)++] = found;
    }
    return *n ? 0 : -1;
}

/* The stroke report of the mask just written to mask_path (borrowed), with DWI = chan[0] and
 * ADC = chan[1] when n_chan >= 2, written as STEM_report.json / .png where STEM is mask_path
 * without ".nii.gz" / ".nii". Returns an exit code (CLI_EXIT_OK on success). */
static int write_case_report(nne_ctx *ctx, const char *mask_path, const char *const *chan,
                             int n_chan, const char *model) {
    char prefix[4200];
    size_t L = strlen(mask_path);
    size_t cut = (L > 7 && !strcmp(mask_path + L - 7, ".nii.gz")) ? L - 7
                 : (L > 4 && !strcmp(mask_path + L - 4, ".nii")) ? L - 4 : L;
    snprintf(prefix, sizeof prefix, "%.*s_report", (int)cut, mask_path);
    nne_image *mask = NULL, *dwi = NULL, *adc = NULL;
    nne_status st;
    int rc;
    if ((st = nne_image_read(ctx, mask_path, &mask)) != NNE_OK ||
        (n_chan >= 1 && (st = nne_image_read(ctx, chan[0], &dwi)) != NNE_OK) ||
        (n_chan >= 2 && (st = nne_image_read(ctx, chan[1], &adc)) != NNE_OK))
        rc = cli_fail("predict", ctx, st);
    else
        rc = cli_report_write(ctx, "predict", mask, dwi, adc, 0, mask_path,
                              n_chan >= 1 ? chan[0] : NULL, n_chan >= 2 ? chan[1] : NULL, model,
                              prefix, 0);
    nne_image_free(mask);
    nne_image_free(dwi);
    nne_image_free(adc);
    return rc;
}

int cmd_predict(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *folds = NULL, *acc = "fp16", *mode = "sliding";
    const char *precision = NULL, *calibration = NULL, *isa = NULL, *step_s = NULL, *in_dir = NULL, *timing = NULL;
    int threads = 0, no_tta = 0, probs = 0, json = 0, want_help = 0, is_case = 0, quiet = 0;
    int nan0 = 0, report = 0;
    FILE *tf = NULL;
    const cli_opt opts[] = {
        {"--model", "-m", CLI_STR, &model, "model file (.nne)"},
        {"--output", "-o", CLI_STR, &out, "output NIfTI (one case) or folder (batch)"},
        {"--folds", "-f", CLI_STR, &folds, "fold names to ensemble, e.g. 0,1 (default: all)"},
        {"--step-size", NULL, CLI_STR, &step_s, "sliding-window step, fraction of patch (0.5)"},
        {"--disable-tta", NULL, CLI_FLAG, &no_tta, "no test-time mirroring"},
        {"--accumulate", NULL, CLI_STR, &acc, "fp16 (nnU-Net, default) or fp32"},
        {"--mode", NULL, CLI_STR, &mode, "sliding (nnU-Net) or fixed (one centred patch)"},
        {"--save-probabilities", NULL, CLI_FLAG, &probs,
         "also write <out>_probabilities.nii.gz/.npz/.json"},
        {"--threads", "-t", CLI_INT, &threads, "threads (default: all CPUs)"},
        {"--isa", NULL, CLI_STR, &isa, "kernel variant: auto, ref, avx2, neon"},
        {"--precision", NULL, CLI_STR, &precision,
         "fp32 (default), fp16 (binary16 storage) or int8 (needs --calibration)"},
        {"--calibration", NULL, CLI_STR, &calibration, "int8: the file nnedge calibrate wrote"},
        {"--json", NULL, CLI_FLAG, &json, "one JSON line per case on stdout"},
        {"--input", "-i", CLI_STR, &in_dir, "folder of cases in nnU-Net naming (CASE_0000...)"},
        {"--case", NULL, CLI_FLAG, &is_case, "the positional arguments are one case's channels"},
        {"--quiet", "-q", CLI_FLAG, &quiet, "no per-case summary and no progress line"},
        {"--timing-json", NULL, CLI_STR, &timing, "write per-case stage timings to FILE (JSON)"},
        {"--nan-to-zero", NULL, CLI_FLAG, &nan0, "replace NaN/Inf input voxels by 0"},
        {"--report", NULL, CLI_FLAG, &report,
         "also write OUT_report.json/.png: lesion volume, count, ADC (not for clinical use)"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[64];
    int npos = 0;
    int bad = cli_parse(argc, argv, 2, opts, n_opts, pos, 64, &npos, &want_help);
    double step = 0.5;
    if (!bad && step_s) {
        char *end;
        step = strtod(step_s, &end);
        bad = *end || !(step > 0.0 && step <= 1.0);
        if (bad) fprintf(stderr, "nnedge predict: --step-size must be in (0, 1]\n");
    }
    if (!bad && strcmp(acc, "fp16") && strcmp(acc, "fp32")) {
        fprintf(stderr, "nnedge predict: --accumulate must be fp16 or fp32\n");
        bad = 1;
    }
    if (!bad && strcmp(mode, "sliding") && strcmp(mode, "fixed")) {
        fprintf(stderr, "nnedge predict: --mode must be sliding or fixed\n");
        bad = 1;
    }
    if (!bad && in_dir) {
        if (npos) {
            fprintf(stderr, "nnedge predict: -i DIR takes no channel files\n");
            bad = 1;
        } else {
            pos[npos++] = in_dir;
        }
    }
    if (bad || want_help || !model || !out || npos < 1) {
        fprintf(stderr, "usage: nnedge predict -m MODEL.nne -o OUT.nii.gz --case CH0.nii.gz "
                        "[CH1 ...]\n"
                        "       nnedge predict -m MODEL.nne -i IN_DIR -o OUT_DIR\n");
        cli_print_opts(opts, n_opts);
        return want_help && !bad ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = threads;
    cp.isa = isa;
    cp.precision = precision;
    cp.calibration = calibration;
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("predict", NULL, st);
    nne_model *m = NULL;
    int rc = CLI_EXIT_OK;
    char **names = NULL;
    int n_names = 0;
    if ((st = nne_model_load(ctx, model, &m))) {
        rc = cli_fail("predict", ctx, st);
        goto done;
    }
    nne_predict_params p = nne_predict_default_params();
    int fold_ids[64], nf = 0;
    if (folds) {
        if (parse_folds(m, folds, fold_ids, &nf)) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        p.folds = fold_ids;
        p.n_folds = nf;
    }
    p.step_size = step;
    p.use_mirroring = !no_tta;
    p.accumulate_fp32 = !strcmp(acc, "fp32");
    p.fixed_mode = !strcmp(mode, "fixed");
    p.nan_to_zero = nan0;
    progress_state ps = {0, 1, 0.0, 0};
    if (!quiet && isatty(2)) {
        p.progress = on_progress;
        p.progress_user = &ps;
    }
    if (timing) {
        tf = fopen(timing, "w");
        if (!tf) {
            fprintf(stderr, "nnedge predict: %s: cannot write the timing file\n", timing);
            rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
            goto done;
        }
        fprintf(tf, "[");
    }
    int n_timed = 0;
    const int C = nne_model_n_channels(m), K = nne_model_n_classes(m);
    char probpath[4096];

    if (is_case || !(npos == 1 && is_dir(pos[0]))) { /* one case: the channel files */
        if (npos != C) {
            fprintf(stderr, "nnedge predict: the model expects %d channel files, %d given\n", C,
                    npos);
            rc = CLI_EXIT_USAGE;
            goto done;
        }
        if (probs) {
            size_t L = strlen(out);
            size_t cut = (L > 7 && !strcmp(out + L - 7, ".nii.gz")) ? L - 7
                         : (L > 4 && !strcmp(out + L - 4, ".nii")) ? L - 4 : L;
            snprintf(probpath, sizeof probpath, "%.*s_probabilities.nii.gz", (int)cut, out);
            p.prob_path = probpath;
        }
        nne_predict_report r;
        ps.case_k = 1;
        ps.t0 = cli_now_s();
        st = nne_predict_case(ctx, m, &p, pos, npos, out, &r);
        if (p.progress) fprintf(stderr, "\n");
        if (st != NNE_OK) {
            rc = cli_fail("predict", ctx, st);
            goto done;
        }
        if (!quiet || json) print_report(out, &r, json, K);
        if (tf) timing_json(tf, out, &r, n_timed++ == 0);
        if (report) rc = write_case_report(ctx, out, pos, npos, model);
        goto done;
    }

    /* Batch: IN_DIR in nnU-Net naming. */
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(m->header, "dataset");
    const cJSON *fe = ds ? cJSON_GetObjectItemCaseSensitive(ds, "file_ending") : NULL;
    const char *ending = cJSON_IsString(fe) ? fe->valuestring : ".nii.gz";
    DIR *d = opendir(pos[0]);
    if (!d) {
        fprintf(stderr, "nnedge predict: %s: cannot open directory\n", pos[0]);
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
        goto done;
    }
    names = calloc(MAX_CASES, sizeof *names);
    size_t el = strlen(ending);
    struct dirent *e;
    while (names && (e = readdir(d)) && n_names < MAX_CASES) {
        size_t l = strlen(e->d_name);
        if (l <= el + 5 || strcmp(e->d_name + l - el, ending) != 0) continue;
        if (strncmp(e->d_name + l - el - 5, "_0000", 5) != 0) continue;
        names[n_names] = strndup(e->d_name, l - el - 5);
        if (names[n_names]) n_names++;
    }
    closedir(d);
    if (!names || n_names == 0) {
        fprintf(stderr, "nnedge predict: %s: no CASE_0000%s files\n", pos[0], ending);
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
        goto done;
    }
    qsort(names, (size_t)n_names, sizeof *names, cmp_str);
    if (!is_dir(out) && mkdir(out, 0755) != 0) {
        fprintf(stderr, "nnedge predict: %s: cannot create the output folder\n", out);
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
        goto done;
    }
    int n_ok = 0, n_bad = 0, fail_rc = CLI_EXIT_INTERNAL;
    for (int i = 0; i < n_names; i++) {
        char *files[64];
        const char *cfiles[64];
        int okc = 1;
        for (int c = 0; c < C && c < 64; c++) {
            size_t L = strlen(pos[0]) + strlen(names[i]) + el + 16;
            files[c] = malloc(L);
            if (!files[c]) {
                okc = 0;
                for (int j = 0; j < c; j++) free(files[j]);
                break;
            }
            snprintf(files[c], L, "%s/%s_%04d%s", pos[0], names[i], c, ending);
            cfiles[c] = files[c];
        }
        if (!okc) {
            fprintf(stderr, "nnedge predict: out of memory\n");
            fail_rc = CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
            n_bad++;
            continue;
        }
        char op[4096];
        snprintf(op, sizeof op, "%s/%s%s", out, names[i], ending);
        if (probs) {
            snprintf(probpath, sizeof probpath, "%s/%s_probabilities.nii.gz", out, names[i]);
            p.prob_path = probpath;
        }
        nne_predict_report r;
        ps.case_k = i + 1;
        ps.n_cases = n_names;
        ps.t0 = cli_now_s();
        st = nne_predict_case(ctx, m, &p, cfiles, C, op, &r);
        if (p.progress) fprintf(stderr, "\n");
        int rrc = CLI_EXIT_OK;
        if (st == NNE_OK && report &&
            (rrc = write_case_report(ctx, op, cfiles, C, model)) != CLI_EXIT_OK) {
            fail_rc = rrc;
            n_bad++;
        } else if (st != NNE_OK) {
            fail_rc = cli_fail("predict", ctx, st);
            n_bad++;
        } else {
            if (!quiet || json) print_report(names[i], &r, json, K);
            if (tf) timing_json(tf, names[i], &r, n_timed++ == 0);
            n_ok++;
        }
        for (int c = 0; c < C; c++) free(files[c]);
    }
    if (n_bad) {
        fprintf(stderr, "nnedge predict: %d of %d cases failed\n", n_bad, n_names);
        rc = n_ok ? CLI_EXIT_PARTIAL : fail_rc;
    }
done:
    if (tf) {
        fprintf(tf, "\n]\n");
        fclose(tf);
    }
    for (int i = 0; i < n_names; i++) free(names[i]);
    free(names);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return rc;
}
