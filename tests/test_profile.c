/*
 * test_profile.c - the measurement hooks of nnedge bench (src/profile.h): a forward with a
 * profile attached records every op once, in execution order, with MACs that add up to
 * nne_model_macs and names that follow the network (enc<L>.conv<j>, dec<L>.up, seg); the
 * logits are bitwise identical with and without the profile; a detached profile is left
 * alone. The FMA peak probe of every kernel variant counts its FLOPs exactly and yields a
 * positive rate through nne_profile_fma_peak.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cpu.h"
#include "ctx.h"
#include "model.h"
#include "profile.h"
#include "rng.h"
#include "test.h"

/* Expected op count: conv + norm per conv, one transposed conv per decoder stage, seg head. */
static int expected_ops(const nne_arch *a) {
    int n = 1;
    for (int s = 0; s < a->n_stages; s++) n += 2 * a->n_conv[s];
    for (int s = 0; s < a->n_stages - 1; s++) n += 1 + 2 * a->n_conv_dec[s];
    return n;
}

/* After load, no tensor a forward reads lies in the mapped file (model.c pin_tensors): norm
 * affine, transposed convs and the seg head point at copies holding the file's values. */
static int outside_map(const nne_model *m, const float *p) {
    const char *lo = (const char *)m->file->map, *hi = lo + m->file->map_size;
    return !p || (const char *)p < lo || (const char *)p >= hi;
}

static void check_pinned(const char *topo, const nne_model *m) {
    const nne_arch *a = &m->arch;
    const nne_fold_w *fw = &m->folds[0];
    int ok = 1, n = 0;
    for (int s = 0; s < a->n_stages; s++)
        for (int j = 0; j < a->n_conv[s]; j++, n += 2)
            ok &= outside_map(m, fw->enc[s][j].g) && outside_map(m, fw->enc[s][j].beta);
    for (int s = 0; s < a->n_stages - 1; s++) {
        for (int j = 0; j < a->n_conv_dec[s]; j++, n += 2)
            ok &= outside_map(m, fw->dec[s][j].g) && outside_map(m, fw->dec[s][j].beta);
        ok &= outside_map(m, fw->tw[s]) && outside_map(m, fw->tb[s]);
        n += 2;
    }
    ok &= outside_map(m, fw->seg.w) && outside_map(m, fw->seg.bias) && fw->seg.w != NULL;
    TEST_CHECK(ok && n > 0, "%s: a forward still reads tensors of the mapped file", topo);
}

static void check_topology(const char *topo, const int64_t shape[3], const char *tmpdir) {
    char results[512], model_path[512];
    snprintf(results, sizeof results, "tests/golden/%s/results", topo);
    snprintf(model_path, sizeof model_path, "%s/%s.nne", tmpdir, topo);
    nne_ctx *ctx = NULL;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 2;
    TEST_CHECK(nne_ctx_init(&cp, &ctx) == NNE_OK, "ctx");
    nne_convert_params prm = nne_convert_default_params();
    prm.results_dir = results;
    prm.folds = "0";
    nne_model *m = NULL;
    if (nne_convert(ctx, &prm, model_path) != NNE_OK ||
        nne_model_load(ctx, model_path, &m) != NNE_OK) {
        TEST_CHECK(0, "%s: convert/load: %s", topo, nne_ctx_last_error(ctx));
        nne_ctx_free(ctx);
        return;
    }
    check_pinned(topo, m);
    const int64_t vox = shape[0] * shape[1] * shape[2];
    const int C = nne_model_n_channels(m), K = nne_model_n_classes(m);
    float *in = malloc(sizeof *in * (size_t)(vox * C));
    float *a = malloc(sizeof *a * (size_t)(vox * K)), *b = malloc(sizeof *b * (size_t)(vox * K));
    nne_profile *p = calloc(1, sizeof *p);
    nne_rng r = nne_rng_init(7);
    for (int64_t i = 0; i < vox * C; i++) in[i] = (float)nne_rng_normal(&r);

    TEST_CHECK(nne_model_forward(ctx, m, 0, in, shape, a) == NNE_OK, "%s: plain forward", topo);
    nne_profile_attach(ctx, p);
    TEST_CHECK(nne_profile_attached(ctx) == p, "attached");
    TEST_CHECK(nne_model_forward(ctx, m, 0, in, shape, b) == NNE_OK, "%s: profiled forward",
               topo);
    TEST_CHECK(memcmp(a, b, sizeof *a * (size_t)(vox * K)) == 0,
               "%s: profiling changes the logits", topo);

    const nne_arch *arch = &m->arch;
    TEST_CHECK(p->n == expected_ops(arch), "%s: %d ops recorded, %d expected", topo, p->n,
               expected_ops(arch));
    double macs = 0.0;
    int ok_sec = 1, ok_lvl = 1;
    for (int i = 0; i < p->n; i++) {
        macs += p->ops[i].macs;
        ok_sec &= p->ops[i].seconds >= 0.0 && p->ops[i].seconds < 60.0;
        ok_lvl &= p->ops[i].level >= 0 && p->ops[i].level < arch->n_stages;
    }
    TEST_CHECK(ok_sec && ok_lvl, "%s: seconds and levels in range", topo);
    TEST_CHECK(fabs(macs - nne_model_macs(m, shape)) <= 1e-9 * macs, "%s: MACs %.0f vs %.0f",
               topo, macs, nne_model_macs(m, shape));
    if (p->n >= 4) {
        const nne_prof_op *first = &p->ops[0], *last = &p->ops[p->n - 1];
        TEST_CHECK(!strcmp(first->name, "enc0.conv0") && first->kind == NNE_PROF_KIND_CONV3D &&
                       first->c_in == C && first->out[0] == shape[0],
                   "%s: first op %s", topo, first->name);
        TEST_CHECK(!strcmp(p->ops[1].name, "enc0.norm0") &&
                       p->ops[1].kind == NNE_PROF_KIND_NORM_LRELU && p->ops[1].macs == 0.0,
                   "%s: second op %s", topo, p->ops[1].name);
        TEST_CHECK(!strcmp(last->name, "seg") && last->c_out == K && last->k[0] == 1 &&
                       last->level == 0,
                   "%s: last op %s", topo, last->name);
        /* The deepest decoder stage starts with the transposed conv into level S - 2. */
        char up[32];
        snprintf(up, sizeof up, "dec%d.up", arch->n_stages - 2);
        int found = 0;
        for (int i = 0; i < p->n; i++)
            if (!strcmp(p->ops[i].name, up)) {
                found = 1;
                const nne_prof_op *o = &p->ops[i];
                TEST_CHECK(o->kind == NNE_PROF_KIND_CONVT3D && o->level == arch->n_stages - 2 &&
                               o->c_in == arch->features[arch->n_stages - 1] &&
                               o->out[1] == o->in[1] * o->stride[1],
                           "%s: %s fields", topo, up);
                char enc_last[32];
                snprintf(enc_last, sizeof enc_last, "enc%d.norm%d", arch->n_stages - 1,
                         arch->n_conv[arch->n_stages - 1] - 1);
                TEST_CHECK(i > 0 && !strcmp(p->ops[i - 1].name, enc_last),
                           "%s: %s follows %s", topo, up, i > 0 ? p->ops[i - 1].name : "-");
            }
        TEST_CHECK(found, "%s: no %s op", topo, up);
    }
    /* Detached: the next forward leaves the old records alone. */
    nne_profile_attach(ctx, NULL);
    p->n = -1;
    TEST_CHECK(nne_model_forward(ctx, m, 0, in, shape, b) == NNE_OK && p->n == -1,
               "%s: detached profile untouched", topo);
    free(in);
    free(a);
    free(b);
    free(p);
    nne_model_free(m);
    nne_ctx_free(ctx);
    unlink(model_path);
}

static void check_peak(void) {
    const nne_kernels *tabs[4];
    int n = nne_cpu_available(tabs, 4);
    for (int i = 0; i < n; i++) {
        float sink = 1.0f;
        double f1 = tabs[i]->fma_peak(1, &sink), f1000 = tabs[i]->fma_peak(1000, &sink);
        TEST_CHECK(f1 > 0.0 && f1000 == 1000.0 * f1 && isfinite(sink) && sink > 0.0f,
                   "%s: fma_peak counts %g / %g FLOPs, sink %g", tabs[i]->name, f1, f1000,
                   (double)sink);
        TEST_CHECK(tabs[i]->fma_peak(0, &sink) == 0.0, "%s: zero rounds, zero FLOPs",
                   tabs[i]->name);
    }
    nne_ctx *ctx = NULL;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 2;
    TEST_CHECK(nne_ctx_init(&cp, &ctx) == NNE_OK, "ctx");
    nne_fma_peak pk;
    nne_profile_fma_peak(ctx, &pk);
    TEST_CHECK(pk.gflops_1t > 0.0 && pk.gflops_all > 0.0 && pk.n_threads == 2 &&
                   pk.seconds > 0.0 && pk.seconds < 30.0,
               "peak: 1t %.1f, all %.1f GFLOP/s, %d threads, %.2f s", pk.gflops_1t,
               pk.gflops_all, pk.n_threads, pk.seconds);
    printf("fma peak (%s): %.1f GFLOP/s on 1 thread, %.1f on %d\n", nne_ctx_isa(ctx),
           pk.gflops_1t, pk.gflops_all, pk.n_threads);
    nne_ctx_free(ctx);
}

int main(void) {
    char dir[] = "/tmp/nne_test_profile_XXXXXX";
    if (!mkdtemp(dir)) return 1;
    const int64_t iso[3] = {16, 20, 24}, aniso[3] = {8, 24, 40};
    check_topology("iso3", iso, dir);
    check_topology("aniso4", aniso, dir);
    check_peak();
    rmdir(dir);
    return TEST_SUMMARY();
}
