/*
 * test_calib.c - calibration statistics (src/calib.c): exact min/max ranges, percentile
 * clipping of outliers, independence of the observation order and chunking, NaN/Inf
 * handling, the JSON round trip, the strict loader rejecting malformed files, and
 * `nnedge calibrate` on the demo model with one small synthetic case (the CLI from $NNE_CLI,
 * default build/nnedge; skipped when models/demo.nne is missing).
 */
#include <string.h>
#include <unistd.h>

#include "calib.h"
#include "cli_run.h"
#include "test.h"

static uint64_t rng_state = 0x1234567887654321ull;
static uint64_t rng_next(void) { /* splitmix64 */
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ull);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
    return z ^ (z >> 31);
}
static float rnd_u(void) { return (float)((double)(rng_next() >> 11) / 9007199254740992.0); }

static void test_ranges(void) {
    enum { N = 100000 };
    float *x = malloc(N * sizeof(float));
    for (int i = 0; i < N; i++) {
        const float v = rnd_u() * 4.0f - 1.0f;
        x[i] = v < 0 ? v * 0.01f : v; /* LeakyReLU-like: [-0.01, 3) */
    }
    x[777] = 1000.0f; /* one outlier on each side */
    x[4242] = -50.0f;
    nne_calib *a = NULL, *b = NULL;
    TEST_CHECK(nne_calib_init(&a) == NNE_OK && nne_calib_init(&b) == NNE_OK, "init");
    /* a: all at once into layer 2; b: reversed chunks of odd sizes */
    TEST_CHECK(nne_calib_observe(a, 2, x, N) == NNE_OK, "observe");
    for (int64_t hi = N; hi > 0;) {
        const int64_t lo = hi > 997 ? hi - 997 : 0;
        TEST_CHECK(nne_calib_observe(b, 2, x + lo, hi - lo) == NNE_OK, "observe chunk");
        hi = lo;
    }
    TEST_CHECK(nne_calib_n_layers(a) == 3, "layers %d", nne_calib_n_layers(a));
    TEST_CHECK(nne_calib_finalize(a, 100.0) == NNE_OK, "finalize");
    const nne_calib_layer *l = nne_calib_layer_at(a, 2);
    TEST_CHECK(l->count == N && l->lo == -50.0f && l->hi == 1000.0f, "max: [%g, %g]",
               (double)l->lo, (double)l->hi);
    TEST_CHECK(nne_calib_layer_at(a, 0)->count == 0, "unobserved layer");
    TEST_CHECK(nne_calib_finalize(a, 99.99) == NNE_OK, "finalize");
    l = nne_calib_layer_at(a, 2);
    TEST_CHECK(l->hi >= 2.99f && l->hi < 3.0f * 1.01f, "p99.99 hi %g", (double)l->hi);
    TEST_CHECK(l->lo <= -0.0099f && l->lo > -0.0102f, "p99.99 lo %g", (double)l->lo);
    TEST_CHECK(nne_calib_finalize(b, 99.99) == NNE_OK, "finalize b");
    char *ja = nne_calib_to_json(a, "m"), *jb = nne_calib_to_json(b, "m");
    TEST_CHECK(ja && jb && !strcmp(ja, jb), "order/chunking changed the result");
    /* save / load: ranges bit-exact */
    char path[] = "/tmp/nne_calib_XXXXXX";
    int fd = mkstemp(path);
    TEST_CHECK(fd >= 0, "mkstemp");
    if (fd >= 0) close(fd);
    TEST_CHECK(nne_calib_save(NULL, a, "demo", path) == NNE_OK, "save");
    nne_calib *c = NULL;
    TEST_CHECK(nne_calib_load(NULL, path, &c) == NNE_OK, "load");
    if (c) {
        const nne_calib_layer *m = nne_calib_layer_at(c, 2);
        TEST_CHECK(nne_calib_n_layers(c) == 3 && m->lo == l->lo && m->hi == l->hi &&
                       m->count == l->count && m->min == l->min && m->max == l->max,
                   "round trip");
        TEST_NEAR(nne_calib_percentile(c), 99.99, 0);
        /* finalize keeps loaded ranges (no histograms) */
        TEST_CHECK(nne_calib_finalize(c, 100.0) == NNE_OK && nne_calib_layer_at(c, 2)->hi == l->hi,
                   "loaded range kept");
    }
    unlink(path);
    /* NaN / Inf are counted apart */
    const float odd[4] = {NAN, INFINITY, -INFINITY, 2.0f};
    TEST_CHECK(nne_calib_observe(c, 0, odd, 4) == NNE_OK, "observe odd");
    TEST_CHECK(nne_calib_layer_at(c, 0)->n_nonfinite == 3, "nonfinite");
    TEST_CHECK(nne_calib_observe(c, -1, odd, 4) == NNE_ERR_ARG, "bad layer");
    TEST_CHECK(nne_calib_observe(c, NNE_CALIB_MAX_LAYERS, odd, 4) == NNE_ERR_ARG, "bad layer");
    TEST_CHECK(nne_calib_finalize(c, 0.0) == NNE_ERR_ARG, "bad percentile");
    free(ja);
    free(jb);
    nne_calib_free(a);
    nne_calib_free(b);
    nne_calib_free(c);
    free(x);
}

static void test_loader(void) {
    static const char *const bad[] = {
        "",
        "[]",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[]}",
        "{\"format\":\"other\",\"version\":1,\"percentile\":100,\"layers\":[{\"layer\":0,"
        "\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":2,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":0,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"extra\":1,"
        "\"layers\":[{\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,"
        "\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":1,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0.5,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1e39}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":2,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":-1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,\"hi\":-0.1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[{"
        "\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"model\":3,"
        "\"layers\":[{\"layer\":0,\"channels\":1,\"count\":1,\"min\":0,\"max\":1,\"lo\":0,"
        "\"hi\":1}]}",
        "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":100,\"layers\":[7]}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        nne_calib *c = NULL;
        const nne_status st = nne_calib_from_json(NULL, bad[i], strlen(bad[i]), "bad", &c);
        TEST_CHECK(st == NNE_ERR_FORMAT && c == NULL, "case %zu: status %d", i, (int)st);
    }
    const char *good = "{\"format\":\"nnedge-calibration\",\"version\":1,\"percentile\":99.5,"
                       "\"layers\":[{\"layer\":0,\"channels\":2,\"count\":10,\"min\":-1,"
                       "\"max\":1,\"lo\":-0.5,\"hi\":0.75}]}";
    nne_calib *c = NULL;
    TEST_CHECK(nne_calib_from_json(NULL, good, strlen(good), "good", &c) == NNE_OK, "good");
    TEST_CHECK(c && nne_calib_layer_at(c, 0)->hi == 0.75f && nne_calib_layer_at(c, 0)->channels == 2,
               "good values");
    nne_calib_free(c);
}

static void test_cli(void) {
    const char *cli = getenv("NNE_CLI") ? getenv("NNE_CLI") : "build/nnedge";
    if (access("models/demo.nne", R_OK) != 0 || access(cli, X_OK) != 0) {
        test_skip("models/demo.nne or the CLI missing");
        return;
    }
    char dir[] = "/tmp/nne_calib_cli_XXXXXX";
    if (!mkdtemp(dir)) return;
    char cases[128], out[128], case0[160], cmd[512];
    snprintf(cases, sizeof cases, "%s/cases", dir);
    snprintf(out, sizeof out, "%s/calib.json", dir);
    snprintf(case0, sizeof case0, "%s/imagesTr/synth_0001_0000.nii.gz", cases);
    const char *synth[] = {"synth", "-n", "1", "-o", cases, "--size", "small", "-q", NULL};
    TEST_CHECK(cli_run(cli, synth) == 0, "synth: %s", cli_err);
    const char *usage[] = {"calibrate", "-m", "models/demo.nne", NULL};
    TEST_CHECK(cli_run(cli, usage) == 2, "missing -o must be a usage error");
    const char *cal[] = {"calibrate", "-m", "models/demo.nne", "-o", out, "--disable-tta",
                         "-q", case0, NULL};
    TEST_CHECK(cli_run(cli, cal) == 0, "calibrate: %s", cli_err);
    nne_calib *c = NULL;
    TEST_CHECK(nne_calib_load(NULL, out, &c) == NNE_OK, "load the written file");
    if (c) { /* demo: 10 encoder + 8 decoder convs + the seg head */
        TEST_CHECK(nne_calib_n_layers(c) == 19, "%d layers", nne_calib_n_layers(c));
        TEST_NEAR(nne_calib_percentile(c), 100.0, 0);
        const nne_calib_layer *l0 = nne_calib_layer_at(c, 0), *l18 = nne_calib_layer_at(c, 18);
        TEST_CHECK(l0 && l0->channels == 2 && l0->count > 0 && l0->lo < 0 && l0->hi > 0,
                   "layer 0");
        TEST_CHECK(l0 && (double)l0->lo == l0->min && (double)l0->hi == l0->max, "p100 = min/max");
        TEST_CHECK(l18 && l18->channels == 8, "seg head input channels");
    }
    nne_calib_free(c);
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    TEST_CHECK(system(cmd) == 0, "cleanup");
}

int main(void) {
    nne_log_set_level(NNE_LOG_LEVEL_ERROR + 1);
    test_ranges();
    test_loader();
    test_cli();
    return TEST_SUMMARY();
}
