/*
 * model.h - the loaded network (internal layout of the opaque public nne_model).
 */
#ifndef NNE_MODEL_H
#define NNE_MODEL_H

#include <cJSON.h>

#include "ops.h"
#include "plans.h"
#include "quant.h"
#include "weights.h"

/* The four tensors of one conv block (NULL where the architecture has none), and the conv
 * weights prepared for their algorithm at load (views into nne_model.prep). */
typedef struct nne_block_w {
    const float *w;    /* [cout, cin, kd, kh, kw] */
    const float *b;    /* [cout] conv bias        */
    const float *g;    /* [cout] norm weight      */
    const float *beta; /* [cout] norm bias        */
    nne_conv3d_w conv; /* w and b prepared        */
    nne_conv3d_q8_w q8; /* INT8 layers: the int8 weights conv.q8 points at */
} nne_block_w;

/* One fold's weights, pointing into the mapped file. Decoder index s as nnU-Net (0 = lowest
 * resolution). */
typedef struct nne_fold_w {
    nne_block_w enc[NNE_MAX_STAGES][NNE_MAX_CONVS];
    nne_block_w dec[NNE_MAX_STAGES][NNE_MAX_CONVS];
    const float *tw[NNE_MAX_STAGES]; /* [cin, cout, s0, s1, s2] transposed conv */
    const float *tb[NNE_MAX_STAGES]; /* [cout]                                  */
    const float *sw[NNE_MAX_STAGES]; /* [K, F, 1, 1, 1] seg heads               */
    const float *sb[NNE_MAX_STAGES]; /* [K]                                     */
    nne_conv3d_w seg;                /* the highest-resolution seg head, prepared */
} nne_fold_w;

struct nne_model {
    nne_wfile *file;     /* owned mapping + tensor table       */
    cJSON *header;       /* owned parsed JSON header           */
    nne_arch arch;
    int64_t patch[3];    /* plans patch_size                   */
    int n_folds;
    char **fold_names;   /* owned [n_folds] ("0", "all", ...)  */
    nne_fold_w *folds;   /* owned [n_folds]                    */
    void *prep;          /* owned: every fold's prepared conv weights (NNE_ALIGN aligned) */
    size_t prep_bytes;   /* bytes in prep                      */
    float *pinned;       /* owned: copies of the unprepared tensors a forward reads (norm */
                         /* affine, transposed convs, seg head); see pin_tensors        */
    int f16;             /* 1: prepared weights stored in binary16 (loaded by an FP16  */
                         /* context); forwards then keep FP16 activations too          */
};

/* One activation buffer of the forward pass's memory plan. */
typedef struct nne_membuf {
    char what[40];     /* role, e.g. "concat [upsampled, skip]"          */
    int level;         /* resolution level (0 = full resolution)         */
    int64_t channels;
    int64_t shape[3];
    size_t offset;     /* byte offset in the activation arena            */
    size_t bytes;      /* size, rounded up to the arena alignment        */
} nne_membuf;

#define NNE_MEMPLAN_MAX 64
typedef struct nne_memplan {
    int n;
    nne_membuf bufs[NNE_MEMPLAN_MAX];
    size_t arena_peak; /* activation arena size the forward needs              */
    size_t workspace;  /* conv workspace (per context, sized for its threads)   */
    size_t prepared;   /* conv weights prepared at load, all folds (model-owned) */
} nne_memplan;

/* The memory plan of one forward at `shape` (what nne_model_forward would allocate, in
 * allocation order; buffers above a freed point reuse its bytes). The workspace is sized for
 * ctx's thread count. Returns NNE_ERR_SHAPE for a shape the network cannot take. */
nne_status nne_model_memplan(nne_ctx *ctx, const nne_model *m, const int64_t shape[3],
                             nne_memplan *plan);

/* Builds a model over an opened file; takes ownership of `f` (closed on failure too). */
nne_status nne_model_from_file(nne_ctx *ctx, nne_wfile *f, const char *label, nne_model **out);

/* Tensor name of a parameter in the model file: "fold<name>/<nnU-Net key>". */
void nne_model_tensor_name(char *buf, size_t n, const char *fold, const char *key);

#endif /* NNE_MODEL_H */
