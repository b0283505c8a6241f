/*
 * profile.h - measuring the forward pass: per-op timings of one nne_model_forward, and the
 * machine's FMA peak measured through the kernel table (for `nnedge bench`).
 *
 * DESIGN. A caller that wants per-op timings attaches an nne_profile to the context
 * (nne_profile_attach). nne_model_forward then clears it at the start of its real run (never
 * during the dry run that sizes the arena) and appends one record per op in execution order:
 * every convolution, every instance norm + LeakyReLU, every transposed convolution and the
 * segmentation head, each with its shapes, multiply-adds and wall time. Times are taken on the
 * calling thread around the op; the pool's run returns only when every thread has finished,
 * so an op's time covers all of its threads. Without a profile the forward pays one pointer
 * test per op (about 40 per forward) and nothing else.
 *
 * The FMA peak is what a register-resident loop of independent multiply-add chains reaches
 * through the context's kernel table (`fma_peak` in cpu.h): on one thread and on all of the
 * context's threads, best of a few short trials. It is measured in the same process and run
 * as the benchmark it is compared with, because on a shared machine a number from another run
 * says little (spec/performance.md).
 */
#ifndef NNE_PROFILE_H
#define NNE_PROFILE_H

#include <stdint.h>

#include "nnedge.h"
#include "ops.h"
#include "plans.h"

typedef enum nne_prof_kind {
    NNE_PROF_KIND_CONV3D = 0,     /* convolution with bias (3x3x3, or the 1x1x1 seg head) */
    NNE_PROF_KIND_NORM_LRELU = 1, /* instance normalization + LeakyReLU, in place         */
    NNE_PROF_KIND_CONVT3D = 2     /* transposed convolution (decoder upsampling)          */
} nne_prof_kind;

/* One op of one forward pass. Decoder ops are named by the resolution level they compute at
 * (dec2 runs at the same resolution as enc2); nnU-Net's decoder.stages index of decL is
 * n_stages - 2 - L. */
typedef struct nne_prof_op {
    char name[32];       /* "enc3.conv1", "enc3.norm1", "dec2.up", "dec2.conv0", "seg"      */
    nne_prof_kind kind;
    int level;           /* resolution level of the output (0 = full resolution)            */
    int64_t c_in, c_out; /* channels (norm: c_in = c_out)                                   */
    int64_t in[3];       /* spatial input d, h, w                                           */
    int64_t out[3];      /* spatial output d, h, w                                          */
    int k[3];            /* kernel (norm: 1, 1, 1)                                          */
    int stride[3];       /* stride (norm: 1, 1, 1)                                          */
    double macs;         /* multiply-adds (0 for norm)                                      */
    double seconds;      /* wall time                                                       */
} nne_prof_op;

/* Upper bound on the ops of one forward: conv + norm per conv of encoder and decoder, one
 * transposed conv per decoder stage, one seg head. */
#define NNE_PROFILE_MAX (4 * NNE_MAX_STAGES * NNE_MAX_CONVS + NNE_MAX_STAGES + 1)

typedef struct nne_profile {
    int n;                            /* ops recorded by the last forward */
    nne_prof_op ops[NNE_PROFILE_MAX]; /* in execution order               */
} nne_profile;

/* Attaches `p` to the context (retains it: it must outlive the attachment) so that every
 * following nne_model_forward on ctx overwrites it with that forward's ops. NULL detaches.
 * Not thread-safe with respect to a forward running on the same context. */
void nne_profile_attach(nne_ctx *ctx, nne_profile *p);

/* The profile attached to ctx, or NULL. */
nne_profile *nne_profile_attached(const nne_ctx *ctx);

/* Monotonic wall-clock seconds. */
double nne_profile_now(void);

/* Recorders used by the forward pass; each appends one op (silently ignored once the profile
 * is full, which the bound above rules out for valid architectures). `name` is copied. */
void nne_profile_conv(nne_profile *p, const char *name, int level, const nne_conv3d_desc *d,
                      double seconds);
void nne_profile_norm(nne_profile *p, const char *name, int level, int64_t c,
                      const int64_t shape[3], double seconds);
void nne_profile_convt(nne_profile *p, const char *name, int level, int64_t c_in, int64_t c_out,
                       const int64_t in[3], const int stride[3], double seconds);

/* Machine FMA peak as reached through ctx's kernel table. */
typedef struct nne_fma_peak {
    double gflops_1t;  /* one thread (the caller)                    */
    double gflops_all; /* all of the context's threads together      */
    int n_threads;     /* the context's thread count                 */
    double seconds;    /* wall time the measurement took             */
} nne_fma_peak;

/* Measures the peak (about 0.2 s: a short calibration, then the best of a few trials of
 * about 20 ms each, on one thread and on the pool). Cannot fail. */
void nne_profile_fma_peak(nne_ctx *ctx, nne_fma_peak *out);

#endif /* NNE_PROFILE_H */
