/*
 * nnedge.h - the public interface of libnnedge.
 *
 * nnedge runs 3-D nnU-Net v2 segmentation models (PlainConvUNet, 3d_fullres) on CPUs without
 * Python: it imports an nnU-Net v2 results folder into a single `.nne` model file and computes
 * the network's logits with its own kernels (portable C, x86 AVX2/FMA, ARM NEON).
 *
 * Usage sketch:
 *
 *     nne_ctx_params p = nne_ctx_default_params();
 *     p.n_threads = 2;
 *     nne_ctx *ctx = NULL;
 *     if (nne_ctx_init(&p, &ctx) != NNE_OK) return 1;
 *     nne_model *m = NULL;
 *     if (nne_model_load(ctx, "model.nne", &m) != NNE_OK)
 *         fprintf(stderr, "%s\n", nne_ctx_last_error(ctx));
 *     int64_t shape[3] = {128, 128, 128};                    // D, H, W of one patch
 *     float *logits = malloc(nne_model_n_classes(m) * 128 * 128 * 128 * sizeof(float));
 *     nne_model_forward(ctx, m, 0, input, shape, logits);    // input: [C, D, H, W] float32
 *     nne_model_free(m);
 *     nne_ctx_free(ctx);
 *
 * Conventions: every function that can fail returns an `nne_status`; results come back through
 * out-parameters placed last and are left untouched on failure; a human-readable message is kept
 * in the context (`nne_ctx_last_error`). The library never exits the process and never writes to
 * stdout; text goes through the log callback (stderr by default). Pointer arguments are borrowed
 * for the duration of the call unless the documentation says "takes ownership" or "retains".
 */
#ifndef NNEDGE_H
#define NNEDGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(_WIN32) && defined(NNE_SHARED)
#  ifdef NNE_BUILD
#    define NNE_API __declspec(dllexport)
#  else
#    define NNE_API __declspec(dllimport)
#  endif
#elif defined(__GNUC__)
#  define NNE_API __attribute__((visibility("default")))
#else
#  define NNE_API
#endif

/* ============================================================================================== */
/* Version                                                                                         */
/* ============================================================================================== */

#define NNE_VERSION_MAJOR 0
#define NNE_VERSION_MINOR 1
#define NNE_VERSION_PATCH 0
#define NNE_VERSION_STRING "0.1.0"

/* Returns the library's version string ("MAJOR.MINOR.PATCH"); static storage, never NULL. */
NNE_API const char *nne_version(void);

/* ============================================================================================== */
/* Status                                                                                          */
/* ============================================================================================== */

/* Result of every fallible call. The numeric values are stable (the CLI derives its exit codes
 * from them, see docs/EXIT_CODES.md). */
typedef enum nne_status {
    NNE_OK = 0,
    NNE_ERR_NOMEM = 1,       /* an allocation failed                                        */
    NNE_ERR_IO = 2,          /* a file could not be opened, read, written or renamed       */
    NNE_ERR_FORMAT = 3,      /* malformed input bytes (JSON, pickle, zip, model file, ...) */
    NNE_ERR_SHAPE = 4,       /* tensor shapes do not agree with what the model expects     */
    NNE_ERR_ARG = 5,         /* an invalid argument or option                              */
    NNE_ERR_UNSUPPORTED = 6, /* valid input that nnedge does not handle (e.g. a 2d model)  */
    NNE_ERR_CHECKSUM = 7,    /* stored checksum does not match the data                    */
    NNE_ERR_ABORTED = 8      /* stopped by the caller                                      */
} nne_status;

/* Returns a short constant description of a status ("format error", ...); never NULL. */
NNE_API const char *nne_status_str(nne_status s);

/* ============================================================================================== */
/* Logging (process-wide)                                                                          */
/* ============================================================================================== */

typedef enum nne_log_level {
    NNE_LOG_LEVEL_DEBUG = 0,
    NNE_LOG_LEVEL_INFO = 1,
    NNE_LOG_LEVEL_WARN = 2,
    NNE_LOG_LEVEL_ERROR = 3
} nne_log_level;

/* A log sink. `msg` is one line without the trailing newline; it is valid only during the call. */
typedef void (*nne_log_fn)(nne_log_level level, const char *msg, void *user);

/* Installs a process-wide log sink (NULL restores the default: stderr, INFO and above).
 * `user` is retained and passed back to every call. Not thread-safe with respect to concurrent
 * logging; call it once at start-up. */
NNE_API void nne_log_set(nne_log_fn fn, void *user);

/* Sets the minimum level the default sink prints (process-wide). */
NNE_API void nne_log_set_level(nne_log_level level);

/* ============================================================================================== */
/* Context                                                                                         */
/* ============================================================================================== */

/* An execution context: a thread pool, the kernel table chosen for this CPU and the last error.
 * One context must not be used by two threads at the same time; distinct contexts are
 * independent. */
typedef struct nne_ctx nne_ctx;

typedef struct nne_ctx_params {
    int n_threads;   /* worker threads including the caller; 0 = number of online CPUs      */
    const char *isa; /* kernel variant: NULL/"auto" = best available (or $NNE_ISA if set),
                        "ref" = portable reference, "avx2", "neon". Borrowed during init.   */
    const char *conv; /* convolution algorithms of models loaded with this context:
                        NULL/"auto" = the default per layer (or $NNE_CONV if set): Winograd
                        F(2x2x2,3x3x3) for the stride-1 3x3x3 layers of 16^3 voxels and more
                        with 8 input channels or more, packed-GEMM convolution (im2col) for
                        the other 3x3x3 layers, direct convolution for the rest; "direct" =
                        direct convolution everywhere (the reference for accuracy checks);
                        "winograd2" / "winograd4" / "winograd44" = as auto, but Winograd
                        F(2x2x2,3x3x3) / F(4x4x2,3x3x3) / F(4x4x4,3x3x3) on every stride-1
                        3x3x3 layer (F(4x4x2): 2.25x fewer products, about 4x the rounding
                        error, 2.25x the prepared weight memory; F(4x4x4): 3x fewer products,
                        about 15x the rounding error, 3.4x the memory). With float32 weights,
                        auto takes F(4x4x4) on the layers whose transformed weights stay
                        within 8 MiB (the thin, large top levels). Borrowed during init.     */
    const char *precision; /* precision of models loaded with this context:
                        NULL/"fp32" = float32 (or $NNE_PRECISION if set); "fp16" = IEEE
                        binary16 activations and weights (half the memory; the arithmetic, the
                        instance norm's statistics and the logits stay float32;
                        docs/MEMORY.md); "int8" = int8 weights and uint8 activations for the
                        convolutions where that is faster than their float32 algorithm on this
                        CPU, with the activation ranges of `calibration` (docs/INT8.md).
                        Borrowed during init.                                                */
    const char *calibration; /* "int8": the file `nnedge calibrate` wrote for the model
                        (required; or $NNE_CALIBRATION). Read during init.                  */
} nne_ctx_params;

/* Returns the defaults: n_threads 0 (all CPUs), isa NULL (auto), conv NULL (auto), precision
 * NULL (fp32), calibration NULL. */
NNE_API nne_ctx_params nne_ctx_default_params(void);

/* Creates a context. `params` may be NULL for the defaults. On success *out is an owned
 * context, released with nne_ctx_free. Returns NNE_ERR_ARG for an unknown or unavailable
 * isa or an unknown conv, NNE_ERR_NOMEM if threads or memory cannot be had. */
NNE_API nne_status nne_ctx_init(const nne_ctx_params *params, nne_ctx **out);

/* Releases a context and joins its threads. Accepts NULL. */
NNE_API void nne_ctx_free(nne_ctx *ctx);

/* The message describing the last failure on this context ("" if none). Owned by the
 * context, valid until the next call that takes the context. */
NNE_API const char *nne_ctx_last_error(const nne_ctx *ctx);

/* Number of threads the context computes with. */
NNE_API int nne_ctx_n_threads(const nne_ctx *ctx);

/* Name of the kernel variant in use ("ref", "avx2", "neon"); static storage. */
NNE_API const char *nne_ctx_isa(const nne_ctx *ctx);

/* The precision of models loaded with this context: "fp32", "fp16" or "int8". */
NNE_API const char *nne_ctx_precision(const nne_ctx *ctx);

/* ============================================================================================== */
/* Model                                                                                           */
/* ============================================================================================== */

/* A loaded `.nne` model: the network topology, one weight set per fold and the metadata
 * needed by the pipeline (see docs/MODEL_FORMAT.md). Read-only after loading; may be shared by
 * several contexts used from different threads. */
typedef struct nne_model nne_model;

/* Maps and validates a `.nne` file: magic, version, every offset and size against the file
 * length, the JSON header, the topology, and the CRC32 of every tensor. On success *out is an
 * owned model (release with nne_model_free).
 * Returns NNE_ERR_IO (cannot open/map), NNE_ERR_FORMAT (malformed), NNE_ERR_CHECKSUM (CRC
 * mismatch), NNE_ERR_UNSUPPORTED (newer format version or unsupported network). */
NNE_API nne_status nne_model_load(nne_ctx *ctx, const char *path, nne_model **out);

/* Releases a model (unmaps the file). Accepts NULL. */
NNE_API void nne_model_free(nne_model *m);

/* Number of input channels the network expects. */
NNE_API int nne_model_n_channels(const nne_model *m);

/* Number of output classes (segmentation heads), background included. */
NNE_API int nne_model_n_classes(const nne_model *m);

/* Number of folds (weight sets) stored in the model. */
NNE_API int nne_model_n_folds(const nne_model *m);

/* The patch size of the plans ([D, H, W] in the plans' transposed axis order). */
NNE_API void nne_model_patch_size(const nne_model *m, int64_t patch[3]);

/* Product of the strides of all stages per axis: every spatial size fed to
 * nne_model_forward must be a multiple of it. */
NNE_API void nne_model_total_stride(const nne_model *m, int64_t stride[3]);

/* Number of learnable parameters of one fold's network. */
NNE_API int64_t nne_model_n_params(const nne_model *m);

/* Multiply-accumulates of convolutions and transposed convolutions for one forward pass at
 * the given spatial shape (the seg head included). */
NNE_API double nne_model_macs(const nne_model *m, const int64_t shape[3]);

/* The model's JSON header (metadata) as stored in the file; owned by the model. */
NNE_API const char *nne_model_header_json(const nne_model *m);

/* Runs the network (highest-resolution head only) of fold `fold` on one patch.
 * `input` (borrowed) is float32 [C, D, H, W] contiguous, with C = nne_model_n_channels and
 * (D, H, W) = `shape`, each a multiple of nne_model_total_stride. `logits` (borrowed) receives
 * float32 [K, D, H, W], K = nne_model_n_classes. The result is bitwise identical for every
 * thread count. Returns NNE_ERR_ARG (bad fold), NNE_ERR_SHAPE (shape not divisible),
 * NNE_ERR_NOMEM. */
NNE_API nne_status nne_model_forward(nne_ctx *ctx, const nne_model *m, int fold,
                                     const float *input, const int64_t shape[3], float *logits);

/* Peak bytes of activation memory the last nne_model_forward on this context used. */
NNE_API size_t nne_ctx_peak_bytes(const nne_ctx *ctx);


/* ============================================================================================== */
/* Predict                                                                                         */
/* ============================================================================================== */

/* How nne_predict_case runs nnU-Net v2's inference (defaults = nnUNetv2_predict's). */
typedef struct nne_predict_params {
    double step_size;        /* sliding-window step as a fraction of the patch (0.5)          */
    int use_mirroring;       /* test-time mirroring over the model's allowed axes (1)         */
    int use_gaussian;        /* Gaussian importance weighting of tiles (1)                    */
    int accumulate_fp32;     /* 0: float16 accumulators exactly as nnU-Net (default), 1: fp32 */
    int fixed_mode;          /* 1: the study's fixed-shape mode: one patch centred on the
                                cropped brain, no sliding window                                */
    const int *folds;        /* indices into the model's folds (borrowed), NULL = all         */
    int n_folds;
    const char *prob_path;   /* write softmax probabilities as float32 4-D NIfTI here (and
                                `<stem>.npz` + `<stem>.json` next to it) when not NULL        */
    int nan_to_zero;         /* 1: replace NaN/Inf input voxels by 0; 0: refuse them (default) */
    /* Called after every tile (fold f of n_folds, tile t of n_tiles, both 1-based) on the
     * calling thread; NULL for none. `progress_user` is passed back. */
    void (*progress)(void *progress_user, int fold, int n_folds, int64_t tile, int64_t n_tiles);
    void *progress_user;
} nne_predict_params;

/* Timings and facts of one case (seconds; shapes in the plans' transposed axis order). */
typedef struct nne_predict_report {
    double t_read, t_preprocess, t_network, t_export, t_write, t_total;
    int64_t n_tiles;              /* tiles per fold                                           */
    int64_t n_forward;            /* network evaluations (tiles x mirrors x folds)            */
    int64_t shape_original[3];    /* the input as read (z, y, x)                              */
    int64_t shape_cropped[3];     /* after crop to nonzero                                    */
    int64_t shape_network[3];     /* after resampling to the plans' spacing                   */
    double spacing[3];            /* input spacing (z, y, x), mm                              */
    int64_t voxels_per_class[8];  /* predicted voxels of labels 0..7 at the original grid     */
    double voxel_volume_ml;       /* volume of one input voxel, mL                            */
    size_t peak_export_bytes;     /* largest buffer set held by the export step               */
} nne_predict_report;

/* Returns the defaults (step 0.5, mirroring, Gaussian, fp16 accumulation, all folds). */
NNE_API nne_predict_params nne_predict_default_params(void);

/* Predicts one case as nnU-Net v2 does: reads the channel files (NIfTI, `n_inputs` must equal
 * nne_model_n_channels; all borrowed), transposes, crops to nonzero, normalizes, resamples to
 * the plans' spacing, runs the sliding window with mirroring over the folds, resamples the
 * logits back, takes the argmax and writes a uint8 (uint16 for >= 255 labels) NIfTI with the
 * first input's geometry to `out_path` atomically. `report` may be NULL.
 * Input voxels that are NaN or infinite are refused (NNE_ERR_FORMAT with their count) unless
 * params->nan_to_zero is set. Channels must share the grid: same dimensions, spacing, origin
 * and direction (NNE_ERR_SHAPE naming both files).
 * Returns NNE_ERR_IO, NNE_ERR_FORMAT (bad NIfTI), NNE_ERR_SHAPE (channels disagree),
 * NNE_ERR_ARG (bad params), NNE_ERR_UNSUPPORTED (normalization scheme, 2-D input),
 * NNE_ERR_NOMEM. Nothing is written on failure. */
NNE_API nne_status nne_predict_case(nne_ctx *ctx, const nne_model *m,
                                    const nne_predict_params *params,
                                    const char *const *inputs, int n_inputs,
                                    const char *out_path, nne_predict_report *report);

/* ============================================================================================== */
/* Import                                                                                          */
/* ============================================================================================== */

/* What nne_convert reads. Exactly one of `results_dir` and `random_init_plans` is set. */
typedef struct nne_convert_params {
    const char *results_dir;         /* nnU-Net v2 results folder holding plans.json,
                                        dataset.json and fold_X/checkpoint_*.pth, or an
                                        ONNX file (path ending in .onnx, see ONNX below)   */
    const char *configuration;       /* default "3d_fullres"                                */
    const char *folds;               /* "0", "0,1,2,3,4", "all" (= folder fold_all) or
                                        NULL for every fold_N folder that has the checkpoint */
    const char *checkpoint;          /* "final" (default), "best" or "latest"               */
    const char *random_init_plans;   /* plans.json for a randomly initialised model         */
    const char *random_init_dataset; /* optional dataset.json for random init               */
    uint64_t seed;                   /* random init seed (default 0)                        */
} nne_convert_params;

/* Returns the defaults (everything NULL/0; configuration "3d_fullres", checkpoint "final"). */
NNE_API nne_convert_params nne_convert_default_params(void);

/* Imports an nnU-Net v2 result (or He-initialises a network from plans) and writes a `.nne`
 * model to `out_path` atomically: nothing is left at out_path on failure. Checkpoints are read
 * with a restricted unpickler that executes nothing. Every tensor the plans imply must be
 * present with its shape; nnU-Net's duplicate state_dict entries must agree with the primary
 * ones. Returns NNE_ERR_IO, NNE_ERR_FORMAT, NNE_ERR_SHAPE, NNE_ERR_UNSUPPORTED (network class,
 * 2d, cascade, foreign pickle globals), NNE_ERR_ARG. */
NNE_API nne_status nne_convert(nne_ctx *ctx, const nne_convert_params *params,
                               const char *out_path);

/* ============================================================================================== */
/* ONNX                                                                                            */
/* ============================================================================================== */

/* ONNX files are read wherever a model path is taken: nne_model_load of a path ending in
 * ".onnx" maps its graph (nnedge's export, or torch.onnx.export of a PlainConvUNet with deep
 * supervision off) to the network in memory, and nne_convert with `results_dir` naming a
 * ".onnx" file writes it as `.nne`. Unsupported operators or topologies give
 * NNE_ERR_UNSUPPORTED naming the node; malformed protobuf gives NNE_ERR_FORMAT. The pipeline
 * settings `nne_predict_case` needs come from the file's metadata_props (docs/ONNX.md). */

/* What nne_onnx_export writes. */
typedef struct nne_onnx_export_params {
    int fold;          /* index of the model's fold to export (0)                          */
    int64_t shape[3];  /* fixed input D, H, W; all 0 = the plans' patch size (default)     */
    int dynamic;       /* 1: symbolic batch and spatial axes (sizes must then be multiples
                          of nne_model_total_stride; recorded in the metadata)             */
    int fp16;          /* 1: float16 weights and convolutions; instance normalization and
                          its statistics stay float32 (Cast nodes around it); the graph's
                          input and output stay float32                                    */
    int opset;         /* default-domain opset, 13..21 (17)                                */
    int softmax;       /* 1: append Softmax over the classes (output "probabilities")       */
} nne_onnx_export_params;

/* Returns the defaults: fold 0, the patch size, fixed shape, float32, opset 17, logits. */
NNE_API nne_onnx_export_params nne_onnx_export_default_params(void);

/* Writes fold `params->fold` of `m` as an ONNX model to `out_path` atomically (temporary file
 * and rename; nothing is left on failure): Conv, InstanceNormalization, LeakyRelu (Relu),
 * ConvTranspose, Concat and optionally Softmax, highest-resolution head only, weights as
 * initializers named by their nnU-Net state_dict keys, and metadata_props with everything
 * nne_predict_case needs. The output is deterministic (same model and params, same bytes).
 * `params` may be NULL for the defaults. Returns NNE_ERR_ARG (fold, opset, shape with
 * dynamic), NNE_ERR_SHAPE (shape not a multiple of the total stride), NNE_ERR_IO,
 * NNE_ERR_NOMEM. */
NNE_API nne_status nne_onnx_export(nne_ctx *ctx, const nne_model *m,
                                   const nne_onnx_export_params *params, const char *out_path);

#ifdef __cplusplus
}
#endif

#endif /* NNEDGE_H */
