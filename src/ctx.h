/*
 * ctx.h - the execution context (internal layout of the opaque public nne_ctx).
 *
 * A context owns the thread pool, points at the kernel table chosen once at init (src/cpu.c),
 * keeps the last error message and the activation-memory accounting of the last forward pass.
 */
#ifndef NNE_CTX_H
#define NNE_CTX_H

#include "common.h"
#include "alloc.h"
#include "cpu.h"
#include "threadpool.h"

#define NNE_ERRMSG_LEN 1024

enum { NNE_PREC_FP32 = 0, NNE_PREC_FP16 = 1, NNE_PREC_INT8 = 2 };

struct nne_ctx {
    nne_pool *pool;               /* persistent workers (n_threads - 1 of them)            */
    const nne_kernels *kernels;   /* static table for the chosen ISA                       */
    nne_arena arena;              /* activations, sized by the forward's dry run           */
    void *ws;                     /* conv workspace (owned, NNE_ALIGN aligned)             */
    size_t ws_size;               /* bytes in ws                                           */
    size_t peak_bytes;            /* activation peak of the last forward (arena + ws)      */
    int wino;                     /* Winograd in models loaded here: 0 never, 1 default    */
                                  /* ("auto"), 2 F(2x2x2) / 3 F(4x4x2) on every 3x3x3      */
                                  /* stride-1 layer (nne_conv3d_algo_pick)                 */
    int precision;                /* NNE_PREC_FP32 / FP16 (activation storage) / INT8     */
    struct nne_calib *calib;      /* owned: the INT8 activation ranges (precision INT8)   */
    int stream;                   /* 1: stream Winograd convolutions over slabs of planes  */
                                  /* in place (model.c); 0 ($NNE_STREAM=0): whole tensors */
    struct nne_profile *profile;  /* borrowed per-op timings of each forward, NULL = off  */
    char errmsg[NNE_ERRMSG_LEN];  /* last error, "" if none                                */
    /* Observer of every convolution's input (calibration, `nnedge calibrate`), NULL = off:
     * called by the forward on the calling thread before each conv with `layer` = the conv's
     * running index in forward order (encoder, decoder, seg head last) and its input
     * x [c][shape] (borrowed for the call). */
    void (*observe)(void *arg, int layer, const float *x, int64_t c, const int64_t shape[3]);
    void *observe_arg;
};

/* Attaches (or with fn NULL detaches) the convolution-input observer of ctx (see above); arg
 * is retained and passed back until detached. */
void nne_ctx_set_observer(nne_ctx *ctx,
                          void (*fn)(void *arg, int layer, const float *x, int64_t c,
                                     const int64_t shape[3]),
                          void *arg);

#endif /* NNE_CTX_H */
