/*
 * profile.c - per-op timing records of the forward pass and the FMA peak probe (profile.h).
 *
 * MAC counts follow nne_arch_macs (src/plans.c) and tools/gen_golden.py count_macs, so the
 * per-op numbers add up to nne_model_macs: a convolution costs c_out * c_in * kd * kh * kw
 * per output voxel, a transposed convolution with kernel == stride c_in * c_out * s0 * s1 * s2
 * per input voxel.
 */
#include "profile.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "ctx.h"

void nne_profile_attach(nne_ctx *ctx, nne_profile *p) { ctx->profile = p; }

nne_profile *nne_profile_attached(const nne_ctx *ctx) { return ctx->profile; }

double nne_profile_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

/* Next free record with the common fields filled, or NULL when the profile is full. */
static nne_prof_op *append(nne_profile *p, const char *name, nne_prof_kind kind, int level,
                           double seconds) {
    if (p->n >= NNE_PROFILE_MAX) return NULL;
    nne_prof_op *o = &p->ops[p->n++];
    memset(o, 0, sizeof *o);
    snprintf(o->name, sizeof o->name, "%s", name);
    o->kind = kind;
    o->level = level;
    o->seconds = seconds;
    return o;
}

void nne_profile_conv(nne_profile *p, const char *name, int level, const nne_conv3d_desc *d,
                      double seconds) {
    nne_prof_op *o = append(p, name, NNE_PROF_KIND_CONV3D, level, seconds);
    if (!o) return;
    o->c_in = d->c_in;
    o->c_out = d->c_out;
    for (int i = 0; i < 3; i++) {
        o->in[i] = d->in[i];
        o->out[i] = d->out[i];
        o->k[i] = d->k[i];
        o->stride[i] = d->stride[i];
    }
    o->macs = (double)d->c_out * (double)d->c_in * d->k[0] * d->k[1] * d->k[2] *
              (double)(d->out[0] * d->out[1] * d->out[2]);
}

void nne_profile_norm(nne_profile *p, const char *name, int level, int64_t c,
                      const int64_t shape[3], double seconds) {
    nne_prof_op *o = append(p, name, NNE_PROF_KIND_NORM_LRELU, level, seconds);
    if (!o) return;
    o->c_in = o->c_out = c;
    for (int i = 0; i < 3; i++) {
        o->in[i] = o->out[i] = shape[i];
        o->k[i] = o->stride[i] = 1;
    }
}

void nne_profile_convt(nne_profile *p, const char *name, int level, int64_t c_in, int64_t c_out,
                       const int64_t in[3], const int stride[3], double seconds) {
    nne_prof_op *o = append(p, name, NNE_PROF_KIND_CONVT3D, level, seconds);
    if (!o) return;
    o->c_in = c_in;
    o->c_out = c_out;
    for (int i = 0; i < 3; i++) {
        o->in[i] = in[i];
        o->out[i] = in[i] * stride[i];
        o->k[i] = o->stride[i] = stride[i];
    }
    o->macs = (double)c_in * (double)c_out * stride[0] * stride[1] * stride[2] *
              (double)(in[0] * in[1] * in[2]);
}

/* ------------------------------------------------------------------------------------------ */
/* FMA peak                                                                                    */
/* ------------------------------------------------------------------------------------------ */

#define PEAK_TRIAL_S 0.02 /* target seconds of one trial                                  */
#define PEAK_TRIALS 5     /* best of this many trials, per thread setting                 */

typedef struct peak_job {
    const nne_kernels *kt;
    int64_t iters;
    double flops_per_thread; /* written by thread 0 (every thread does the same work) */
} peak_job;

static void peak_task(void *arg, int ith, int nth) {
    peak_job *j = arg;
    float sink = 1.0f;
    NNE_UNUSED(nth);
    const double flops = j->kt->fma_peak(j->iters, &sink);
    if (ith == 0) j->flops_per_thread = flops;
}

/* One trial: GFLOP/s of `iters` rounds on one thread (the caller) or on every thread of the
 * pool; its wall time goes to *secs. */
static double trial(nne_ctx *ctx, int all, int64_t iters, double *secs) {
    peak_job j = {ctx->kernels, iters, 0.0};
    double flops, t0 = nne_profile_now();
    if (all) {
        nne_pool_run(ctx->pool, peak_task, &j);
        flops = j.flops_per_thread * nne_pool_n_threads(ctx->pool);
    } else {
        peak_task(&j, 0, 1);
        flops = j.flops_per_thread;
    }
    *secs = nne_profile_now() - t0;
    return *secs > 0.0 ? flops / *secs * 1e-9 : 0.0;
}

void nne_profile_fma_peak(nne_ctx *ctx, nne_fma_peak *out) {
    const double t_start = nne_profile_now();
    double secs = 0.0;
    int64_t iters = 1 << 12;
    /* Calibrate on one thread: double the rounds until a trial lasts PEAK_TRIAL_S. */
    while (iters < ((int64_t)1 << 40)) {
        trial(ctx, 0, iters, &secs);
        if (secs >= PEAK_TRIAL_S) break;
        iters *= secs > 0.0 && secs < PEAK_TRIAL_S / 16 ? 8 : 2;
    }
    memset(out, 0, sizeof *out);
    out->n_threads = nne_pool_n_threads(ctx->pool);
    for (int t = 0; t < PEAK_TRIALS; t++) {
        double g1 = trial(ctx, 0, iters, &secs);
        double ga = trial(ctx, 1, iters, &secs);
        if (g1 > out->gflops_1t) out->gflops_1t = g1;
        if (ga > out->gflops_all) out->gflops_all = ga;
    }
    out->seconds = nne_profile_now() - t_start;
}
