/*
 * cmd_bench.c - `nnedge bench`: forward passes of one fold on a fixed random input (or a given
 * one); prints JSON with median/min/max seconds, GMAC, GFLOP/s, the machine's FMA peak
 * measured in the same run and the share of it reached, peak RSS, activation memory, threads,
 * ISA. A benchmark, not a test: it never judges the numbers (STYLE 3.9).
 *
 * --per-layer attaches a profile (src/profile.h) to every timed pass and adds, per op, the
 * median over the passes (shapes, GMAC, seconds, GFLOP/s, % of peak), the same grouped by
 * resolution level and by op kind; the table goes to stderr so stdout stays one JSON object.
 * --input/--logits/--sync let bench/peers.py run nnedge next to other systems on the same
 * input: the logits of the first pass are written for comparison, and with --sync each timed
 * pass waits for a line on stdin (the driver alternates systems) and reports its time on a
 * JSON line of its own.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "cli.h"
#include "cpu.h"
#include "profile.h"
#include "rng.h"

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* CPU seconds of the whole process (all threads): next to wall time, it shows how much of a
 * pass the machine's other jobs took away (and how much waiting threads spun). */
static double cpu_now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Median of v[0..n) (sorts v). */
static double median(double *v, int n) {
    qsort(v, (size_t)n, sizeof *v, cmp_double);
    return n % 2 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

/* Reads exactly n float32 values (native = little-endian byte order) from path; returns an
 * exit code. */
static int read_input(const char *path, float *dst, int64_t n) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(stderr, "nnedge bench: cannot open input '%s'\n", path);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
    }
    size_t got = fread(dst, sizeof *dst, (size_t)n, f);
    int extra = fgetc(f) != EOF;
    fclose(f);
    if (got != (size_t)n || extra) {
        fprintf(stderr, "nnedge bench: input '%s' does not hold %lld float32 values "
                        "([C, D, H, W] of the patch)\n", path, (long long)n);
        return CLI_EXIT_STATUS_BASE + NNE_ERR_SHAPE;
    }
    return CLI_EXIT_OK;
}

static const char *kind_name(nne_prof_kind k) {
    switch (k) {
    case NNE_PROF_KIND_CONV3D: return "conv3d";
    case NNE_PROF_KIND_NORM_LRELU: return "norm_lrelu";
    case NNE_PROF_KIND_CONVT3D: return "convt3d";
    }
    return "?";
}

/* Per-op medians over the timed passes and their sums per level and per kind. */
typedef struct layer_sum {
    const nne_profile *shape; /* the first pass's records (names, shapes, MACs)   */
    double *sec;              /* [n] median seconds per op                        */
    int n;
    double total;             /* sum of sec                                       */
    double lvl_sec[NNE_MAX_STAGES], lvl_macs[NNE_MAX_STAGES];
    int64_t lvl_shape[NNE_MAX_STAGES][3];
    int n_levels;
    double kind_sec[3];
} layer_sum;

static int layer_sum_init(layer_sum *ls, const nne_profile *runs, int repeat) {
    memset(ls, 0, sizeof *ls);
    ls->shape = &runs[0];
    ls->n = runs[0].n;
    ls->sec = malloc(sizeof *ls->sec * (size_t)(ls->n ? ls->n : 1));
    double *v = malloc(sizeof *v * (size_t)repeat);
    if (!ls->sec || !v) {
        free(ls->sec);
        free(v);
        return -1;
    }
    for (int i = 0; i < ls->n; i++) {
        for (int r = 0; r < repeat; r++) v[r] = runs[r].ops[i].seconds;
        const nne_prof_op *o = &runs[0].ops[i];
        ls->sec[i] = median(v, repeat);
        ls->total += ls->sec[i];
        if (o->level >= 0 && o->level < NNE_MAX_STAGES) {
            ls->lvl_sec[o->level] += ls->sec[i];
            ls->lvl_macs[o->level] += o->macs;
            if (o->level >= ls->n_levels) ls->n_levels = o->level + 1;
            if (o->kind != NNE_PROF_KIND_CONVT3D || ls->lvl_shape[o->level][0] == 0)
                memcpy(ls->lvl_shape[o->level], o->out, sizeof o->out);
        }
        ls->kind_sec[o->kind] += ls->sec[i];
    }
    free(v);
    return 0;
}

static double gflops(double macs, double s) { return s > 0.0 ? 2.0 * macs / s * 1e-9 : 0.0; }

/* The per-layer table, execution order, then the levels and kinds. */
static void print_layers_text(FILE *out, const layer_sum *ls, double peak, double fwd_med) {
    fprintf(out, "%-12s %-10s %3s %16s %11s %8s %9s %8s %6s %6s\n", "op", "kind", "lvl",
            "output", "channels", "GMAC", "ms", "GFLOP/s", "%peak", "%time");
    for (int i = 0; i < ls->n; i++) {
        const nne_prof_op *o = &ls->shape->ops[i];
        char shp[48], ch[32];
        snprintf(shp, sizeof shp, "%lldx%lldx%lld", (long long)o->out[0], (long long)o->out[1],
                 (long long)o->out[2]);
        snprintf(ch, sizeof ch, "%lld->%lld", (long long)o->c_in, (long long)o->c_out);
        double g = gflops(o->macs, ls->sec[i]);
        fprintf(out, "%-12s %-10s %3d %16s %11s %8.2f %9.2f %8.1f %6.1f %6.1f\n", o->name,
                kind_name(o->kind), o->level, shp, ch, o->macs * 1e-9, ls->sec[i] * 1e3, g,
                peak > 0.0 ? 100.0 * g / peak : 0.0, 100.0 * ls->sec[i] / ls->total);
    }
    fprintf(out, "\n%-5s %16s %9s %9s %8s %6s %6s\n", "level", "shape", "GMAC", "ms", "GFLOP/s",
            "%peak", "%time");
    for (int l = 0; l < ls->n_levels; l++) {
        char shp[48];
        snprintf(shp, sizeof shp, "%lldx%lldx%lld", (long long)ls->lvl_shape[l][0],
                 (long long)ls->lvl_shape[l][1], (long long)ls->lvl_shape[l][2]);
        double g = gflops(ls->lvl_macs[l], ls->lvl_sec[l]);
        fprintf(out, "%-5d %16s %9.2f %9.1f %8.1f %6.1f %6.1f\n", l, shp, ls->lvl_macs[l] * 1e-9,
                ls->lvl_sec[l] * 1e3, g, peak > 0.0 ? 100.0 * g / peak : 0.0,
                100.0 * ls->lvl_sec[l] / ls->total);
    }
    fprintf(out, "\nconv3d %.1f ms, norm_lrelu %.1f ms, convt3d %.1f ms; ops sum %.1f ms of a "
                 "%.1f ms forward (median)\n",
            ls->kind_sec[0] * 1e3, ls->kind_sec[1] * 1e3, ls->kind_sec[2] * 1e3, ls->total * 1e3,
            fwd_med * 1e3);
}

static void print_shape3(const char *key, const int64_t v[3]) {
    printf("\"%s\": [%lld, %lld, %lld]", key, (long long)v[0], (long long)v[1], (long long)v[2]);
}

/* The "layers", "levels" and "kinds" members (no surrounding braces). */
static void print_layers_json(const layer_sum *ls, double peak) {
    printf(", \"layers\": [");
    for (int i = 0; i < ls->n; i++) {
        const nne_prof_op *o = &ls->shape->ops[i];
        double g = gflops(o->macs, ls->sec[i]);
        printf("%s{\"name\": \"%s\", \"kind\": \"%s\", \"level\": %d, \"c_in\": %lld, "
               "\"c_out\": %lld, ",
               i ? ", " : "", o->name, kind_name(o->kind), o->level, (long long)o->c_in,
               (long long)o->c_out);
        print_shape3("in", o->in);
        printf(", ");
        print_shape3("out", o->out);
        printf(", \"k\": [%d, %d, %d], \"stride\": [%d, %d, %d], \"gmac\": %.4f, "
               "\"seconds_median\": %.6f, \"gflops\": %.2f, \"pct_of_peak\": %.2f}",
               o->k[0], o->k[1], o->k[2], o->stride[0], o->stride[1], o->stride[2],
               o->macs * 1e-9, ls->sec[i], g, peak > 0.0 ? 100.0 * g / peak : 0.0);
    }
    printf("], \"levels\": [");
    for (int l = 0; l < ls->n_levels; l++) {
        double g = gflops(ls->lvl_macs[l], ls->lvl_sec[l]);
        printf("%s{\"level\": %d, ", l ? ", " : "", l);
        print_shape3("shape", ls->lvl_shape[l]);
        printf(", \"gmac\": %.4f, \"seconds\": %.6f, \"gflops\": %.2f, \"pct_of_peak\": %.2f, "
               "\"share_of_time\": %.4f}",
               ls->lvl_macs[l] * 1e-9, ls->lvl_sec[l], g, peak > 0.0 ? 100.0 * g / peak : 0.0,
               ls->total > 0.0 ? ls->lvl_sec[l] / ls->total : 0.0);
    }
    printf("], \"kinds\": {\"conv3d_s\": %.6f, \"norm_lrelu_s\": %.6f, \"convt3d_s\": %.6f}, "
           "\"layers_seconds_sum\": %.6f",
           ls->kind_sec[0], ls->kind_sec[1], ls->kind_sec[2], ls->total);
}

int cmd_bench(int argc, char **argv) {
    const char *model = NULL, *patch_s = NULL, *isa = NULL, *input = NULL, *logits_path = NULL;
    const char *precision = NULL, *calibration = NULL;
    int threads = 0, repeat = 3, warmup = 1, fold = 0, json = 0, want_help = 0;
    int per_layer = 0, sync = 0;
    const cli_opt opts[] = {
        {"--model", "-m", CLI_STR, &model, "model file (.nne)"},
        {"--patch", NULL, CLI_STR, &patch_s, "D,H,W (default: the plans' patch size)"},
        {"--threads", "-t", CLI_INT, &threads, "threads (default: all CPUs)"},
        {"--repeat", "-r", CLI_INT, &repeat, "timed forward passes (default 3)"},
        {"--warmup", NULL, CLI_INT, &warmup, "untimed passes first (default 1)"},
        {"--fold", NULL, CLI_INT, &fold, "fold index (default 0)"},
        {"--isa", NULL, CLI_STR, &isa, "kernel variant: auto, ref, avx2, neon"},
        {"--precision", NULL, CLI_STR, &precision,
         "fp32 (default), fp16 (binary16 storage) or int8 (needs --calibration)"},
        {"--calibration", NULL, CLI_STR, &calibration, "int8: the file nnedge calibrate wrote"},
        {"--per-layer", NULL, CLI_FLAG, &per_layer,
         "time every op (table on stderr, \"layers\"/\"levels\" in the JSON)"},
        {"--input", "-i", CLI_STR, &input,
         "raw float32 little-endian [C, D, H, W] input (default: seeded N(0,1))"},
        {"--logits", NULL, CLI_STR, &logits_path,
         "write the first pass's logits here (raw float32 [K, D, H, W])"},
        {"--sync", NULL, CLI_FLAG, &sync,
         "wait for a stdin line before each timed pass; one JSON line per pass"},
        {"--json", NULL, CLI_FLAG, &json, "JSON output (the default; kept for scripts)"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos = 0;
    int bad = cli_parse(argc, argv, 2, opts, n_opts, pos, 1, &npos, &want_help);
    if (!bad && npos == 1 && !model) model = pos[0];
    if (bad || want_help || !model || repeat < 1 || warmup < 0) {
        fprintf(stderr, "usage: nnedge bench --model MODEL.nne [--patch D,H,W] [--threads N] "
                        "[--repeat R] [--per-layer] [--json]\n");
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
    if (st != NNE_OK) return cli_fail("bench", NULL, st);
    nne_model *m = NULL;
    float *in = NULL, *out = NULL;
    double *times = NULL, *sorted = NULL;
    nne_profile *runs = NULL; /* [repeat] per-op records of each timed pass (--per-layer) */
    layer_sum ls = {0};
    int rc = CLI_EXIT_OK;
    if ((st = nne_model_load(ctx, model, &m))) {
        rc = cli_fail("bench", ctx, st);
        goto done;
    }
    int64_t patch[3];
    nne_model_patch_size(m, patch);
    if (patch_s && cli_parse_shape(patch_s, patch)) {
        fprintf(stderr, "nnedge bench: --patch wants D,H,W with positive integers\n");
        rc = CLI_EXIT_USAGE;
        goto done;
    }
    int64_t vox = patch[0] * patch[1] * patch[2];
    int C = nne_model_n_channels(m), K = nne_model_n_classes(m);
    in = malloc(sizeof *in * (size_t)(vox * C));
    out = malloc(sizeof *out * (size_t)(vox * K));
    times = malloc(sizeof *times * (size_t)repeat);
    sorted = malloc(sizeof *sorted * (size_t)repeat);
    if (per_layer) runs = calloc((size_t)repeat, sizeof *runs);
    if (!in || !out || !times || !sorted || (per_layer && !runs)) {
        fprintf(stderr, "nnedge bench: out of memory\n");
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
        goto done;
    }
    if (input) {
        if ((rc = read_input(input, in, vox * C)) != CLI_EXIT_OK) goto done;
    } else {
        nne_rng r = nne_rng_init(1);
        for (int64_t i = 0; i < vox * C; i++) in[i] = (float)nne_rng_normal(&r);
    }
    /* The machine's peak, measured in this process through the same kernel table, before
     * the passes and after them. */
    nne_fma_peak peak;
    nne_profile_fma_peak(ctx, &peak);
    for (int i = 0; i < warmup + repeat; i++) {
        if (sync && i == warmup) {
            printf("{\"event\": \"ready\"}\n");
            fflush(stdout);
        }
        if (sync && i >= warmup) {
            char line[64];
            if (!fgets(line, sizeof line, stdin)) {
                fprintf(stderr, "nnedge bench: --sync: end of input before pass %d of %d\n",
                        i - warmup + 1, repeat);
                rc = CLI_EXIT_USAGE;
                goto done;
            }
        }
        nne_profile_attach(ctx, runs && i >= warmup ? &runs[i - warmup] : NULL);
        double c0 = cpu_now_s(), t0 = cli_now_s();
        st = nne_model_forward(ctx, m, fold, in, patch, out);
        double t1 = cli_now_s(), c1 = cpu_now_s();
        if (st != NNE_OK) {
            rc = cli_fail("bench", ctx, st);
            goto done;
        }
        if (i >= warmup) times[i - warmup] = t1 - t0;
        if (sync && i >= warmup) {
            printf("{\"event\": \"run\", \"i\": %d, \"seconds\": %.6f, \"cpu_seconds\": %.6f}\n",
                   i - warmup, t1 - t0, c1 - c0);
            fflush(stdout);
        }
        if (i == 0 && logits_path &&
            cli_write_atomic(logits_path, out, sizeof *out * (size_t)(vox * K)) != 0) {
            fprintf(stderr, "nnedge bench: cannot write logits to '%s'\n", logits_path);
            rc = CLI_EXIT_STATUS_BASE + NNE_ERR_IO;
            goto done;
        }
    }
    nne_profile_attach(ctx, NULL);
    /* Again after the passes, keeping the better of the two: on a shared machine a burst of
     * other work during one measurement would otherwise understate the peak. */
    nne_fma_peak peak2;
    nne_profile_fma_peak(ctx, &peak2);
    if (peak2.gflops_1t > peak.gflops_1t) peak.gflops_1t = peak2.gflops_1t;
    if (peak2.gflops_all > peak.gflops_all) peak.gflops_all = peak2.gflops_all;
    double sum = 0.0;
    for (int i = 0; i < repeat; i++) sum += times[i];
    memcpy(sorted, times, sizeof *sorted * (size_t)repeat);
    double med = median(sorted, repeat);
    double macs = nne_model_macs(m, patch);
    double gf = gflops(macs, med);
    if (runs && layer_sum_init(&ls, runs, repeat) != 0) {
        fprintf(stderr, "nnedge bench: out of memory\n");
        rc = CLI_EXIT_STATUS_BASE + NNE_ERR_NOMEM;
        goto done;
    }
    if (runs) print_layers_text(stderr, &ls, peak.gflops_all, med);
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("{\"tool\": \"nnedge bench\", \"nnedge_version\": \"%s\", \"model\": \"%s\", "
           "\"cpu\": \"%s\", \"isa\": \"%s\", \"precision\": \"%s\", \"threads\": %d, "
           "\"fold\": %d, "
           "\"patch\": [%lld, %lld, %lld], \"input\": \"%s\", \"repeat\": %d, \"warmup\": %d, "
           "\"forward_s_median\": %.4f, \"forward_s_min\": %.4f, \"forward_s_max\": %.4f, "
           "\"forward_s_mean\": %.4f, \"forward_s\": [",
           nne_version(), model, nne_cpu_describe(), nne_ctx_isa(ctx), nne_ctx_precision(ctx),
           nne_ctx_n_threads(ctx),
           fold, (long long)patch[0], (long long)patch[1], (long long)patch[2],
           input ? input : "N(0,1) seed 1", repeat, warmup, med, sorted[0], sorted[repeat - 1],
           sum / repeat);
    for (int i = 0; i < repeat; i++) printf("%s%.4f", i ? ", " : "", times[i]);
    printf("], \"gmac\": %.3f, \"gflops\": %.2f, \"fma_peak_gflops_1t\": %.2f, "
           "\"fma_peak_gflops\": %.2f, \"pct_of_peak\": %.2f, \"params\": %lld, "
           "\"peak_rss_mb\": %.1f, \"activation_peak_mb\": %.1f",
           macs / 1e9, gf, peak.gflops_1t, peak.gflops_all,
           peak.gflops_all > 0.0 ? 100.0 * gf / peak.gflops_all : 0.0,
           (long long)nne_model_n_params(m), (double)ru.ru_maxrss / 1024.0,
           (double)nne_ctx_peak_bytes(ctx) / (1024.0 * 1024.0));
    if (runs) print_layers_json(&ls, peak.gflops_all);
    printf("}\n");
done:
    free(ls.sec);
    free(runs);
    free(in);
    free(out);
    free(times);
    free(sorted);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return rc;
}
