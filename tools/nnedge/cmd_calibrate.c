/*
 * cmd_calibrate.c - `nnedge calibrate`: activation ranges for INT8 inference.
 *
 *   nnedge calibrate -m MODEL.nne -o CALIB.json -i CASES_DIR
 *   nnedge calibrate -m MODEL.nne -o CALIB.json A_0000.nii.gz B_0000.nii.gz ...
 *
 * Runs nnedge's normal prediction of every case (the preprocessing, sliding window, mirroring
 * and folds of `nnedge predict`, same options) with an observer on the context that feeds the
 * input of every convolution to an nne_calib (src/calib.h), then writes the per-layer ranges
 * at --percentile (100 by default = the observed min/max; see docs/INT8.md for why) as
 * CALIB.json. Cases are given as
 * folders in nnU-Net naming (every CASE_0000<file_ending>) or as their channel-0 files
 * (CASE_0000<file_ending>; the other channels are CASE_000c<file_ending> next to it). The
 * segmentations themselves go to a temporary folder and are deleted.
 */
#include <cJSON.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "calib.h"
#include "cli.h"
#include "ctx.h"
#include "model.h"

#define MAX_CASES 100000

typedef struct calib_obs {
    nne_calib *c;
    nne_status st; /* first failure of an observation */
} calib_obs;

/* The forward's observer (ctx.h): every conv input goes into the statistics. */
static void observe(void *arg, int layer, const float *x, int64_t c, const int64_t sh[3]) {
    calib_obs *o = arg;
    nne_status st = nne_calib_observe(o->c, layer, x, c * sh[0] * sh[1] * sh[2]);
    if (st != NNE_OK && o->st == NNE_OK) o->st = st;
    nne_calib_set_channels(o->c, layer, c);
}

static int cmp_str(const void *a, const void *b) {
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int is_dir(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0 && S_ISDIR(sb.st_mode);
}

/* Appends the channel-0 files of `arg` (a folder: its CASE_0000<ending> files, sorted; a file:
 * itself) to list. Returns 0, or -1 with a message. */
static int add_cases(const char *arg, const char *ending, char **list, int *n) {
    const size_t el = strlen(ending);
    if (!is_dir(arg)) {
        const size_t l = strlen(arg);
        if (l <= el + 5 || strcmp(arg + l - el, ending) || strncmp(arg + l - el - 5, "_0000", 5)) {
            fprintf(stderr, "nnedge calibrate: %s: not a folder or a CASE_0000%s file\n", arg,
                    ending);
            return -1;
        }
        if (*n >= MAX_CASES || !(list[*n] = strdup(arg))) return -1;
        (*n)++;
        return 0;
    }
    DIR *d = opendir(arg);
    if (!d) {
        fprintf(stderr, "nnedge calibrate: %s: cannot open directory\n", arg);
        return -1;
    }
    const int first = *n;
    struct dirent *e;
    while ((e = readdir(d)) && *n < MAX_CASES) {
        const size_t l = strlen(e->d_name);
        if (l <= el + 5 || strcmp(e->d_name + l - el, ending) ||
            strncmp(e->d_name + l - el - 5, "_0000", 5))
            continue;
        const size_t L = strlen(arg) + l + 2;
        if (!(list[*n] = malloc(L))) break;
        snprintf(list[*n], L, "%s/%s", arg, e->d_name);
        (*n)++;
    }
    closedir(d);
    qsort(list + first, (size_t)(*n - first), sizeof *list, cmp_str);
    if (*n == first) {
        fprintf(stderr, "nnedge calibrate: %s: no CASE_0000%s files\n", arg, ending);
        return -1;
    }
    return 0;
}

int cmd_calibrate(int argc, char **argv) {
    const char *model = NULL, *out = NULL, *in_dir = NULL, *isa = NULL, *pct_s = NULL;
    const char *step_s = NULL;
    int threads = 0, no_tta = 0, quiet = 0, want_help = 0;
    const cli_opt opts[] = {
        {"--model", "-m", CLI_STR, &model, "model file (.nne)"},
        {"--output", "-o", CLI_STR, &out, "calibration file to write (JSON)"},
        {"--input", "-i", CLI_STR, &in_dir, "folder of cases in nnU-Net naming (CASE_0000...)"},
        {"--percentile", "-p", CLI_STR, &pct_s,
         "range = this percentile of |x| per side (default 100 = min/max, e.g. 99.999)"},
        {"--step-size", NULL, CLI_STR, &step_s, "sliding-window step, fraction of patch (0.5)"},
        {"--disable-tta", NULL, CLI_FLAG, &no_tta, "no test-time mirroring"},
        {"--threads", "-t", CLI_INT, &threads, "threads (default: all CPUs)"},
        {"--isa", NULL, CLI_STR, &isa, "kernel variant: auto, ref, avx2, neon"},
        {"--quiet", "-q", CLI_FLAG, &quiet, "no per-layer table on stdout"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[256];
    int npos = 0;
    int bad = cli_parse(argc, argv, 2, opts, n_opts, pos, 255, &npos, &want_help);
    double pct = 100.0, step = 0.5;
    char *end;
    if (!bad && pct_s) {
        pct = strtod(pct_s, &end);
        bad = *end || !(pct > 0.0 && pct <= 100.0);
        if (bad) fprintf(stderr, "nnedge calibrate: --percentile must be in (0, 100]\n");
    }
    if (!bad && step_s) {
        step = strtod(step_s, &end);
        bad = *end || !(step > 0.0 && step <= 1.0);
        if (bad) fprintf(stderr, "nnedge calibrate: --step-size must be in (0, 1]\n");
    }
    if (!bad && in_dir) pos[npos++] = in_dir;
    if (bad || want_help || !model || !out || npos < 1) {
        fprintf(stderr, "usage: nnedge calibrate -m MODEL.nne -o CALIB.json -i CASES_DIR\n"
                        "       nnedge calibrate -m MODEL.nne -o CALIB.json CASE_0000.nii.gz "
                        "...\n");
        cli_print_opts(opts, n_opts);
        return want_help && !bad ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = threads;
    cp.isa = isa;
    cp.precision = "fp32"; /* the observer sees float32 tensors (FP16 forwards do not call it) */
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("calibrate", NULL, st);
    nne_model *m = NULL;
    nne_calib *cal = NULL;
    char **cases = NULL;
    int n_cases = 0, rc = CLI_EXIT_OK;
    char tmpdir[4096] = "", segpath[4200] = "";
    if ((st = nne_model_load(ctx, model, &m)) || (st = nne_calib_init(&cal))) {
        rc = cli_fail("calibrate", ctx, st);
        goto done;
    }
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(m->header, "dataset");
    const cJSON *fe = ds ? cJSON_GetObjectItemCaseSensitive(ds, "file_ending") : NULL;
    const char *ending = cJSON_IsString(fe) ? fe->valuestring : ".nii.gz";
    cases = calloc(MAX_CASES, sizeof *cases);
    if (!cases) {
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
        goto done;
    }
    for (int i = 0; i < npos; i++) {
        if (add_cases(pos[i], ending, cases, &n_cases)) {
            rc = CLI_EXIT_USAGE;
            goto done;
        }
    }
    const char *tmp = getenv("TMPDIR");
    snprintf(tmpdir, sizeof tmpdir, "%s/nnedge-calib-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(tmpdir)) {
        fprintf(stderr, "nnedge calibrate: cannot create a temporary folder\n");
        tmpdir[0] = '\0';
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
        goto done;
    }
    snprintf(segpath, sizeof segpath, "%s/seg%s", tmpdir, ending);
    nne_predict_params p = nne_predict_default_params();
    p.step_size = step;
    p.use_mirroring = !no_tta;
    calib_obs obs = {cal, NNE_OK};
    nne_ctx_set_observer(ctx, observe, &obs);
    const int C = nne_model_n_channels(m);
    const size_t el = strlen(ending);
    const double t0 = cli_now_s();
    for (int i = 0; i < n_cases && rc == CLI_EXIT_OK; i++) {
        char *files[64];
        const char *cfiles[64];
        const size_t L = strlen(cases[i]);
        int nf = 0;
        for (; nf < C && nf < 64; nf++) {
            if (!(files[nf] = strdup(cases[i]))) break;
            char num[8];
            snprintf(num, sizeof num, "%04d", nf % 10000);
            memcpy(files[nf] + L - el - 4, num, 4);
            cfiles[nf] = files[nf];
        }
        if (nf == C) {
            nne_predict_report r;
            st = nne_predict_case(ctx, m, &p, cfiles, C, segpath, &r);
            if (st == NNE_OK) st = obs.st;
            if (st != NNE_OK) {
                fprintf(stderr, "nnedge calibrate: %s: ", cases[i]);
                rc = cli_fail("calibrate", ctx, st);
            } else if (!quiet) {
                fprintf(stderr, "calibrate: %d/%d %s: %lld forward passes, %.1f s\n", i + 1,
                        n_cases, cases[i], (long long)r.n_forward, cli_now_s() - t0);
            }
            unlink(segpath);
        } else {
            rc = CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
        }
        for (int c = 0; c < nf; c++) free(files[c]);
    }
    nne_ctx_set_observer(ctx, NULL, NULL);
    if (rc != CLI_EXIT_OK) goto done;
    if (!quiet) { /* both candidate ranges side by side, then the chosen one is saved */
        nne_calib_finalize(cal, 100.0);
        const int nl = nne_calib_n_layers(cal);
        float *mx = malloc(sizeof(float) * 2 * (size_t)(nl > 0 ? nl : 1));
        for (int i = 0; mx && i < nl; i++) {
            mx[2 * i] = nne_calib_layer_at(cal, i)->lo;
            mx[2 * i + 1] = nne_calib_layer_at(cal, i)->hi;
        }
        nne_calib_finalize(cal, pct);
        printf("layer channels        values          min/max range      p%g range\n", pct);
        for (int i = 0; mx && i < nl; i++) {
            const nne_calib_layer *l = nne_calib_layer_at(cal, i);
            printf("%5d %8lld %14lld  [%8.4f, %8.4f]  [%8.4f, %8.4f]\n", i,
                   (long long)l->channels, (long long)l->count, (double)mx[2 * i],
                   (double)mx[2 * i + 1], (double)l->lo, (double)l->hi);
        }
        free(mx);
    }
    if ((st = nne_calib_finalize(cal, pct)) || (st = nne_calib_save(ctx, cal, model, out)))
        rc = cli_fail("calibrate", ctx, st);
done:
    if (tmpdir[0]) rmdir(tmpdir);
    for (int i = 0; i < n_cases; i++) free(cases[i]);
    free(cases);
    nne_calib_free(cal);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return rc;
}
