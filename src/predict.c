/*
 * predict.c - nnU-Net v2 inference for one case: NIfTI channels in, segmentation NIfTI out.
 *
 * DESIGN
 * The steps and their order are nnU-Net's (spec nnunet-v2.md sections 4-6):
 *   read (SimpleITK conventions: array (z, y, x), spacing reversed)   src/nifti.c
 *   transpose by transpose_forward
 *   crop to the filled nonzero mask of all channels                  src/crop.c
 *   normalize per channel (scheme, use_mask_for_norm)                 src/normalize.c
 *   resample to the plans' spacing (order 3, separate-z rule)         src/resample.c
 *   sliding window: pad, tiles, Gaussian, mirroring, fp16 sums        src/window.c, fp16acc.c
 *   fold ensemble: fp16 logits summed in fold order, divided by n
 *   export: logits resampled back (order 1, fp16 storage), argmax,
 *           inserted into the crop box, transposed back, written       src/resample.c, crop.c
 * Export keeps its memory to about two classes at the cropped original size: logits are
 * resampled class by class into one buffer and folded into a running maximum and argmax
 * (nnU-Net resamples every class at once, its documented RAM peak). Only with probabilities
 * requested are all classes kept, because the softmax needs them together.
 * The "fixed" mode is the study's deployment: after preprocessing, one patch centred on the
 * cropped volume (cropped or zero-padded per axis), one forward (with mirroring unless
 * disabled), voxels outside that patch are background.
 * ref: nnunetv2/inference/predict_from_raw_data.py (nnUNetPredictor.predict_from_files,
 *      predict_logits_from_preprocessed_data, predict_sliding_window_return_logits,
 *      _internal_maybe_mirror_and_predict); preprocessing/preprocessors/default_preprocessor.py
 *      (run_case_npy); inference/export_prediction.py
 *      (convert_predicted_logits_to_segmentation_with_correct_shape, export_prediction_from_logits).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zip.h>

#include "alloc.h"
#include "crop.h"
#include "ctx.h"
#include "fp16acc.h"
#include "half.h"
#include "json.h"
#include "model.h"
#include "nifti.h"
#include "normalize.h"
#include "ops.h"
#include "predict.h"
#include "resample.h"
#include "window.h"

#define MAX_STEPS 4096

nne_predict_params nne_predict_default_params(void) {
    nne_predict_params p;
    memset(&p, 0, sizeof p);
    p.step_size = 0.5;
    p.use_mirroring = 1;
    p.use_gaussian = 1;
    return p;
}

static double now_s(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int64_t vol3(const int64_t s[3]) { return s[0] * s[1] * s[2]; }

/* ---------------------------------------------------------------------------------------- */
/* Pipeline settings from the model header                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct resample_cfg {
    int order, order_z, force_sep; /* force_sep: -1 None, 0, 1 */
} resample_cfg;

typedef struct pipeline {
    int tf[3], tb[3];                          /* transpose_forward / backward      */
    double spacing[3];                         /* target spacing (transposed order) */
    int64_t patch[3];
    int n_ch, n_cls;
    nne_norm_scheme scheme[NNE_MAX_CHANNELS];
    int use_mask[NNE_MAX_CHANNELS];
    nne_norm_props props[NNE_MAX_CHANNELS];
    int has_props[NNE_MAX_CHANNELS];
    resample_cfg data_rs, prob_rs;
    int mirror_axes[3], n_mirror;
} pipeline;

static nne_status read_resample_kwargs(nne_ctx *ctx, const cJSON *cfg, const char *key,
                                       int def_order, resample_cfg *out) {
    out->order = def_order;
    out->order_z = 0;
    out->force_sep = -1;
    const cJSON *kw = cJSON_GetObjectItemCaseSensitive(cfg, key);
    if (!cJSON_IsObject(kw)) return NNE_OK;
    const cJSON *o = cJSON_GetObjectItemCaseSensitive(kw, "order");
    const cJSON *oz = cJSON_GetObjectItemCaseSensitive(kw, "order_z");
    const cJSON *fs = cJSON_GetObjectItemCaseSensitive(kw, "force_separate_z");
    if (cJSON_IsNumber(o)) out->order = o->valueint;
    if (cJSON_IsNumber(oz)) out->order_z = oz->valueint;
    if (cJSON_IsBool(fs)) out->force_sep = cJSON_IsTrue(fs) ? 1 : 0;
    if (!(out->order == 0 || out->order == 1 || out->order == 3) ||
        !(out->order_z == 0 || out->order_z == 1))
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "plans: %s order %d / order_z %d (supported: order 0, 1, 3; order_z 0, 1)",
                        key, out->order, out->order_z);
    return NNE_OK;
}

static nne_status load_pipeline(nne_ctx *ctx, const nne_model *m, pipeline *pl) {
    memset(pl, 0, sizeof *pl);
    const char *what = "model header";
    nne_status st;
    const cJSON *plans = cJSON_GetObjectItemCaseSensitive(m->header, "plans");
    const cJSON *cfgname = cJSON_GetObjectItemCaseSensitive(m->header, "configuration");
    const cJSON *src = cJSON_GetObjectItemCaseSensitive(m->header, "source");
    if (cJSON_IsFalse(cJSON_GetObjectItemCaseSensitive(src, "pipeline_metadata")))
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "%s: the ONNX file has no nnU-Net pipeline metadata (spacing, "
                        "normalization, transposes); it runs forward passes only (docs/ONNX.md)",
                        what);
    const cJSON *cfgs = cJSON_GetObjectItemCaseSensitive(plans, "configurations");
    const cJSON *cfg = cJSON_IsString(cfgname)
                           ? cJSON_GetObjectItemCaseSensitive(cfgs, cfgname->valuestring)
                           : NULL;
    if (!cJSON_IsObject(cfg)) return nne_fail(ctx, NNE_ERR_FORMAT, "%s: no configuration", what);
    int64_t v[3];
    if ((st = nne_json_int_array(ctx, plans, "transpose_forward", 3, 3, 0, 2, what, v, NULL)))
        return st;
    for (int i = 0; i < 3; i++) pl->tf[i] = (int)v[i];
    if ((st = nne_json_int_array(ctx, plans, "transpose_backward", 3, 3, 0, 2, what, v, NULL)))
        return st;
    for (int i = 0; i < 3; i++) pl->tb[i] = (int)v[i];
    for (int i = 0; i < 3; i++)
        if (pl->tb[pl->tf[i]] != i)
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: transpose_backward is not the inverse", what);
    const cJSON *sp;
    if ((st = nne_json_member(ctx, cfg, "spacing", cJSON_Array, what, &sp))) return st;
    if (cJSON_GetArraySize(sp) != 3)
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: spacing must have 3 entries", what);
    for (int i = 0; i < 3; i++) {
        const cJSON *x = cJSON_GetArrayItem(sp, i);
        if (!cJSON_IsNumber(x) || !(x->valuedouble > 0) || !isfinite(x->valuedouble))
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: bad spacing", what);
        pl->spacing[i] = x->valuedouble;
    }
    memcpy(pl->patch, m->patch, sizeof pl->patch);
    pl->n_ch = m->arch.n_in;
    pl->n_cls = m->arch.n_classes;
    const cJSON *ns, *um;
    if ((st = nne_json_member(ctx, cfg, "normalization_schemes", cJSON_Array, what, &ns))) return st;
    if ((st = nne_json_member(ctx, cfg, "use_mask_for_norm", cJSON_Array, what, &um))) return st;
    if (cJSON_GetArraySize(ns) != pl->n_ch || cJSON_GetArraySize(um) != pl->n_ch)
        return nne_fail(ctx, NNE_ERR_FORMAT,
                        "%s: normalization_schemes/use_mask_for_norm need %d entries", what,
                        pl->n_ch);
    const cJSON *fip = cJSON_GetObjectItemCaseSensitive(plans,
                                                        "foreground_intensity_properties_per_channel");
    if (!fip) fip = cJSON_GetObjectItemCaseSensitive(plans, "foreground_intensity_properties_by_modality");
    for (int c = 0; c < pl->n_ch; c++) {
        const cJSON *s = cJSON_GetArrayItem(ns, c), *u = cJSON_GetArrayItem(um, c);
        if (!cJSON_IsString(s)) return nne_fail(ctx, NNE_ERR_FORMAT, "%s: bad scheme", what);
        if ((st = nne_norm_scheme_from_name(s->valuestring, &pl->scheme[c])))
            return nne_fail(ctx, st, "%s: normalization scheme '%s' is not supported", what,
                            s->valuestring);
        pl->use_mask[c] = cJSON_IsTrue(u);
        char key[16];
        snprintf(key, sizeof key, "%d", c);
        const cJSON *pr = cJSON_GetObjectItemCaseSensitive(fip, key);
        if (cJSON_IsObject(pr)) {
            const char *names[4] = {"mean", "std", "percentile_00_5", "percentile_99_5"};
            double vals[4];
            int ok = 1;
            for (int k = 0; k < 4; k++) {
                const cJSON *x = cJSON_GetObjectItemCaseSensitive(pr, names[k]);
                ok &= cJSON_IsNumber(x);
                vals[k] = ok ? x->valuedouble : 0.0;
            }
            if (ok) {
                pl->props[c] = (nne_norm_props){vals[0], vals[1], vals[2], vals[3]};
                pl->has_props[c] = 1;
            }
        }
        if (pl->scheme[c] == NNE_NORM_CT && !pl->has_props[c])
            return nne_fail(ctx, NNE_ERR_FORMAT,
                            "%s: CTNormalization of channel %d needs its intensity properties",
                            what, c);
    }
    if ((st = read_resample_kwargs(ctx, cfg, "resampling_fn_data_kwargs", 3, &pl->data_rs)))
        return st;
    if ((st = read_resample_kwargs(ctx, cfg, "resampling_fn_probabilities_kwargs", 1,
                                   &pl->prob_rs)))
        return st;
    const cJSON *mir = cJSON_GetObjectItemCaseSensitive(m->header, "mirroring_axes");
    if (cJSON_IsArray(mir)) {
        const cJSON *it;
        cJSON_ArrayForEach(it, mir) {
            if (!cJSON_IsNumber(it) || it->valueint < 0 || it->valueint > 2 || pl->n_mirror == 3)
                return nne_fail(ctx, NNE_ERR_FORMAT, "%s: bad mirroring_axes", what);
            pl->mirror_axes[pl->n_mirror++] = it->valueint;
        }
    }
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Array helpers                                                                             */
/* ---------------------------------------------------------------------------------------- */

/* dst[c] = src[c].transpose(perm): dst shape[i] = src shape[perm[i]] (numpy semantics). */
static void transpose3(void *dst, const void *src, size_t esz, int64_t c, const int64_t in[3],
                       const int perm[3]) {
    int64_t out[3], sin[3] = {in[1] * in[2], in[2], 1}, so[3];
    for (int i = 0; i < 3; i++) out[i] = in[perm[i]];
    for (int i = 0; i < 3; i++) so[i] = sin[perm[i]]; /* input stride of output axis i */
    const int64_t n = vol3(in);
    for (int64_t ch = 0; ch < c; ch++) {
        const unsigned char *s = (const unsigned char *)src + (size_t)(ch * n) * esz;
        unsigned char *d = (unsigned char *)dst + (size_t)(ch * n) * esz;
        for (int64_t a = 0; a < out[0]; a++)
            for (int64_t b = 0; b < out[1]; b++)
                for (int64_t x = 0; x < out[2]; x++) {
                    int64_t idx = a * so[0] + b * so[1] + x * so[2];
                    memcpy(d, s + (size_t)idx * esz, esz);
                    d += esz;
                }
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Sliding window over one fold                                                              */
/* ---------------------------------------------------------------------------------------- */

typedef struct window_plan {
    int64_t padded[3], lo[3];          /* padding of the network-resolution image            */
    int64_t nsteps[3];
    int64_t *steps[3];                 /* owned [nsteps[a]] tile origins per axis            */
    uint16_t *gauss;                   /* owned [patch] fp16 importance map, NULL if disabled */
    unsigned masks[NNE_WINDOW_MAX_MIRRORS];
    int n_masks;
} window_plan;

static void window_plan_free(window_plan *w) {
    for (int a = 0; a < 3; a++) free(w->steps[a]);
    nne_free(w->gauss);
    memset(w, 0, sizeof *w);
}

/* Tile logits [K][patch] for input tile x [C][patch]: network + mirrored passes, averaged. */
static nne_status tile_predict(nne_ctx *ctx, const nne_model *m, int fold, const window_plan *w,
                               const int64_t patch[3], float *x, float *xf, float *pred,
                               float *tmp, int64_t *n_forward) {
    nne_status st = nne_model_forward(ctx, m, fold, x, patch, pred);
    if (st != NNE_OK) return st;
    (*n_forward)++;
    for (int i = 0; i < w->n_masks; i++) {
        nne_window_flip(ctx->pool, xf, x, m->arch.n_in, patch, w->masks[i]);
        if ((st = nne_model_forward(ctx, m, fold, xf, patch, tmp))) return st;
        (*n_forward)++;
        nne_window_flip_add(ctx->pool, pred, tmp, m->arch.n_classes, patch, w->masks[i]);
    }
    if (w->n_masks) nne_window_div(ctx->pool, pred, m->arch.n_classes * vol3(patch),
                                   (float)(w->n_masks + 1));
    return NNE_OK;
}

/* Copies the tile at `off` of data [C][shape] into x [C][patch]. */
static void gather_tile(float *x, const float *data, int64_t c, const int64_t shape[3],
                        const int64_t off[3], const int64_t p[3]) {
    for (int64_t ch = 0; ch < c; ch++)
        for (int64_t a = 0; a < p[0]; a++)
            for (int64_t b = 0; b < p[1]; b++)
                memcpy(x + ((ch * p[0] + a) * p[1] + b) * p[2],
                       data + ((ch * shape[0] + off[0] + a) * shape[1] + off[1] + b) * shape[2] +
                           off[2],
                       sizeof(float) * (size_t)p[2]);
}

/* One fold's sliding window over data [C][padded]: fp16 (or fp32) logits [K][padded]. */
static nne_status run_fold(nne_ctx *ctx, const nne_model *m, int fold, const window_plan *w,
                           const int64_t patch[3], const float *data, int fp32, void *logits,
                           void *count, float *bufs, nne_predict_report *rep,
                           const nne_predict_params *prm, int fi, int nf) {
    const int64_t C = m->arch.n_in, K = m->arch.n_classes, pv = vol3(patch);
    const int64_t nvox = vol3(w->padded);
    float *x = bufs, *xf = x + C * pv, *pred = xf + C * pv, *tmp = pred + K * pv;
    memset(logits, 0, (size_t)(K * nvox) * (fp32 ? 4 : 2));
    memset(count, 0, (size_t)nvox * (fp32 ? 4 : 2));
    const int64_t *steps[3] = {w->steps[0], w->steps[1], w->steps[2]};
    const int64_t nt = w->nsteps[0] * w->nsteps[1] * w->nsteps[2];
    float *gf = NULL;
    if (fp32 && w->gauss) {
        gf = malloc(sizeof *gf * (size_t)pv);
        if (!gf) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        for (int64_t i = 0; i < pv; i++) gf[i] = nne_f16_to_f32(w->gauss[i]);
    }
    for (int64_t t = 0; t < nt; t++) {
        int64_t off[3];
        nne_window_tile_origin(off, steps, w->nsteps, t);
        gather_tile(x, data, C, w->padded, off, patch);
        nne_status st = tile_predict(ctx, m, fold, w, patch, x, xf, pred, tmp, &rep->n_forward);
        if (st != NNE_OK) {
            free(gf);
            return st;
        }
        if (prm->progress) prm->progress(prm->progress_user, fi + 1, nf, t + 1, nt);
        nne_acc_tile tile = {K, {w->padded[0], w->padded[1], w->padded[2]},
                             {off[0], off[1], off[2]}, {patch[0], patch[1], patch[2]}, pred,
                             w->gauss};
        if (!fp32) {
            nne_fp16acc_add_tile(ctx->pool, logits, count, &tile);
        } else {
            /* fp32 accumulation: same order of operations, float weights */
            float *L = logits, *N = count;
            for (int64_t k = 0; k < K; k++)
                for (int64_t a = 0; a < patch[0]; a++)
                    for (int64_t b = 0; b < patch[1]; b++)
                        for (int64_t c = 0; c < patch[2]; c++) {
                            int64_t pi = (a * patch[1] + b) * patch[2] + c;
                            int64_t gi = ((k * w->padded[0] + off[0] + a) * w->padded[1] + off[1] +
                                          b) * w->padded[2] + off[2] + c;
                            float g = gf ? gf[pi] : 1.0f;
                            L[gi] += pred[k * pv + pi] * g;
                            if (k == 0) N[gi - k * nvox] += g;
                        }
        }
    }
    free(gf);
    int64_t n_inf = fp32 ? nne_f32acc_finish(ctx->pool, logits, count, K, nvox)
                         : nne_fp16acc_finish(ctx->pool, logits, count, K, nvox);
    if (n_inf > 0)
        return nne_fail(ctx, NNE_ERR_FORMAT,
                        "fold %d: %lld logits overflowed float16 (nnU-Net raises here too; try "
                        "--accumulate fp32)", fold, (long long)n_inf);
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Probabilities (.nii.gz float32 4-D, .npz, .json)                                          */
/* ---------------------------------------------------------------------------------------- */

/* Writes `arr` [K][z][y][x] float32 as np.savez_compressed would: a zip holding
 * probabilities.npy (NPY 1.0, '<f4', C order). Atomic through a temporary name. */
static nne_status write_npz(nne_ctx *ctx, const char *path, const float *arr, const int64_t sh[4]) {
    char hdr[256];
    int n = snprintf(hdr, sizeof hdr,
                     "{'descr': '<f4', 'fortran_order': False, 'shape': (%lld, %lld, %lld, %lld), }",
                     (long long)sh[0], (long long)sh[1], (long long)sh[2], (long long)sh[3]);
    int total = 10 + n + 1;
    int pad = (64 - total % 64) % 64;
    size_t hlen = (size_t)(n + pad + 1);
    size_t nbytes = (size_t)(sh[0] * sh[1] * sh[2] * sh[3]) * sizeof(float);
    unsigned char *buf = malloc(10 + hlen + nbytes);
    if (!buf) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    memcpy(buf, "\x93NUMPY\x01\x00", 8);
    buf[8] = (unsigned char)(hlen & 0xff);
    buf[9] = (unsigned char)(hlen >> 8);
    memcpy(buf + 10, hdr, (size_t)n);
    memset(buf + 10 + n, ' ', (size_t)pad);
    buf[10 + hlen - 1] = '\n';
    memcpy(buf + 10 + hlen, arr, nbytes);
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 8);
    if (!tmp) {
        free(buf);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    snprintf(tmp, pl + 8, "%s.tmp", path);
    int err = 0;
    zip_t *z = zip_open(tmp, ZIP_CREATE | ZIP_TRUNCATE, &err);
    zip_source_t *src = z ? zip_source_buffer(z, buf, 10 + hlen + nbytes, 0) : NULL;
    zip_int64_t idx = src ? zip_file_add(z, "probabilities.npy", src, ZIP_FL_ENC_UTF_8) : -1;
    if (idx < 0 || zip_set_file_compression(z, (zip_uint64_t)idx, ZIP_CM_DEFLATE, 0) != 0 ||
        zip_close(z) != 0) {
        if (src && idx < 0) zip_source_free(src);
        if (z) zip_discard(z);
        remove(tmp);
        free(tmp);
        free(buf);
        return nne_fail(ctx, NNE_ERR_IO, "%s: cannot write the npz archive", path);
    }
    free(buf);
    if (rename(tmp, path) != 0) {
        remove(tmp);
        free(tmp);
        return nne_fail(ctx, NNE_ERR_IO, "%s: cannot rename the temporary file", path);
    }
    free(tmp);
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The case                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct case_bufs {
    nne_image *img[NNE_MAX_CHANNELS];
    float *raw, *tr, *crop, *net, *padded;
    uint8_t *mask;
    int8_t *seg;
    void *ws;
    void *logits, *count, *ens;
    float *tilebufs;
    uint16_t *cls_lr, *cls_hr;
    float *maxv;
    uint8_t *lab, *lab_full, *lab_tr;
    float *probs, *probs_full, *probs_tr;
    uint16_t *all_hr;
    nne_image *out;
    window_plan w;
} case_bufs;

static void case_bufs_free(case_bufs *b, int n_ch) {
    for (int c = 0; c < n_ch; c++) nne_image_free(b->img[c]);
    void *ps[] = {b->raw, b->tr, b->crop, b->net, b->padded, b->mask, b->seg, b->ws, b->logits,
                  b->count, b->ens, b->tilebufs, b->cls_lr, b->cls_hr, b->maxv, b->lab,
                  b->lab_full, b->lab_tr, b->probs, b->probs_full, b->probs_tr, b->all_hr};
    for (size_t i = 0; i < sizeof ps / sizeof ps[0]; i++) nne_free(ps[i]);
    nne_image_free(b->out);
    window_plan_free(&b->w);
}

#define ALLOC(ptr, bytes)                                                                        \
    do {                                                                                         \
        (ptr) = nne_malloc(bytes);                                                               \
        if (!(ptr)) {                                                                            \
            st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory (%zu bytes)", (size_t)(bytes));      \
            goto done;                                                                           \
        }                                                                                        \
    } while (0)

nne_status nne_predict_case(nne_ctx *ctx, const nne_model *m, const nne_predict_params *params,
                            const char *const *inputs, int n_inputs, const char *out_path,
                            nne_predict_report *report) {
    return nne_predict_case_probe(ctx, m, params, inputs, n_inputs, out_path, report, NULL);
}

/* Copies n elements of size esz into a malloc'ed buffer (NULL on failure). */
static void *dup_bytes(const void *src, int64_t n, size_t esz) {
    void *d = malloc((size_t)n * esz);
    if (d) memcpy(d, src, (size_t)n * esz);
    return d;
}

nne_status nne_predict_case_probe(nne_ctx *ctx, const nne_model *m,
                                  const nne_predict_params *params, const char *const *inputs,
                                  int n_inputs, const char *out_path, nne_predict_report *report,
                                  nne_predict_probe *probe) {
    nne_clear_error(ctx);
    if (probe) memset(probe, 0, sizeof *probe);
    nne_predict_params prm = params ? *params : nne_predict_default_params();
    nne_predict_report rep_local, *rep = report ? report : &rep_local;
    memset(rep, 0, sizeof *rep);
    double t0 = now_s(), t;
    pipeline pl;
    case_bufs b;
    memset(&b, 0, sizeof b);
    nne_status st = load_pipeline(ctx, m, &pl);
    if (st != NNE_OK) return st;
    if (n_inputs != pl.n_ch)
        return nne_fail(ctx, NNE_ERR_ARG, "the model expects %d input channels, %d given",
                        pl.n_ch, n_inputs);
    if (!(prm.step_size > 0.0 && prm.step_size <= 1.0))
        return nne_fail(ctx, NNE_ERR_ARG, "step size %g outside (0, 1]", prm.step_size);
    int fold_ids[64], nf = 0;
    if (prm.folds) {
        if (prm.n_folds < 1 || prm.n_folds > 64)
            return nne_fail(ctx, NNE_ERR_ARG, "bad fold count %d", prm.n_folds);
        for (int i = 0; i < prm.n_folds; i++) {
            if (prm.folds[i] < 0 || prm.folds[i] >= m->n_folds)
                return nne_fail(ctx, NNE_ERR_ARG, "fold index %d out of range", prm.folds[i]);
            fold_ids[nf++] = prm.folds[i];
        }
    } else {
        for (int i = 0; i < m->n_folds && i < 64; i++) fold_ids[nf++] = i;
    }
    const int64_t C = pl.n_ch, K = pl.n_cls;
    nne_pool *pool = ctx->pool;
    const int nth = nne_pool_n_threads(pool);

    /* 1. Read: every channel must have the first one's grid. */
    int64_t shape[3];
    double sp_itk[3], origin[3], dir[9];
    for (int c = 0; c < C; c++) {
        if ((st = nne_image_read(ctx, inputs[c], &b.img[c]))) goto done;
        nne_image *im = b.img[c];
        int ndim_ok = im->ndim == 3 || (im->ndim == 4 && im->dim[4] == 1);
        if (!ndim_ok) {
            st = nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: %d-D image (3-D channels expected)",
                          inputs[c], im->ndim);
            goto done;
        }
        if (c == 0) {
            shape[0] = im->dim[3];
            shape[1] = im->dim[2];
            shape[2] = im->dim[1];
            if ((st = nne_image_itk_geometry(ctx, im, sp_itk, origin, dir))) goto done;
        } else {
            double sp2[3], o2[3], d2[9];
            if (im->dim[3] != shape[0] || im->dim[2] != shape[1] || im->dim[1] != shape[2]) {
                st = nne_fail(ctx, NNE_ERR_SHAPE, "%s has %lldx%lldx%lld voxels, %s has "
                              "%lldx%lldx%lld", inputs[c], (long long)im->dim[1],
                              (long long)im->dim[2], (long long)im->dim[3], inputs[0],
                              (long long)shape[2], (long long)shape[1], (long long)shape[0]);
                goto done;
            }
            if ((st = nne_image_itk_geometry(ctx, im, sp2, o2, d2))) goto done;
            int same = 1;
            for (int i = 0; i < 3; i++) {
                same &= fabs(sp2[i] - sp_itk[i]) <= 1e-5 * fabs(sp_itk[i]);
                same &= fabs(o2[i] - origin[i]) <= 1e-3;
            }
            for (int i = 0; i < 9; i++) same &= fabs(d2[i] - dir[i]) <= 1e-4;
            if (!same) {
                st = nne_fail(ctx, NNE_ERR_SHAPE,
                              "%s and %s: the channels have different affines (spacing, origin "
                              "or direction)", inputs[0], inputs[c]);
                goto done;
            }
        }
        /* NaN/Inf voxels: nnU-Net would propagate them into every tile they touch. */
        int64_t n_bad = 0, nv = nne_image_n_voxels(im);
        for (int64_t i = 0; i < nv; i++) {
            if (!isfinite(im->data[i])) {
                n_bad++;
                if (prm.nan_to_zero) im->data[i] = 0.0f;
            }
        }
        if (n_bad && !prm.nan_to_zero) {
            st = nne_fail(ctx, NNE_ERR_FORMAT,
                          "%s: %lld NaN/Inf voxels (use --nan-to-zero to replace them by 0)",
                          inputs[c], (long long)n_bad);
            goto done;
        }
    }
    const int64_t nvox = vol3(shape);
    double spacing[3] = {sp_itk[2], sp_itk[1], sp_itk[0]}; /* nnU-Net (z, y, x) */
    memcpy(rep->shape_original, shape, sizeof shape);
    memcpy(rep->spacing, spacing, sizeof spacing);
    rep->voxel_volume_ml = spacing[0] * spacing[1] * spacing[2] / 1000.0;
    t = now_s();
    rep->t_read = t - t0;

    /* 2. Transpose. */
    int64_t shape_t[3];
    double sp_t[3];
    for (int i = 0; i < 3; i++) {
        shape_t[i] = shape[pl.tf[i]];
        sp_t[i] = spacing[pl.tf[i]];
    }
    ALLOC(b.raw, sizeof(float) * (size_t)(C * nvox));
    for (int c = 0; c < C; c++)
        memcpy(b.raw + c * nvox, b.img[c]->data, sizeof(float) * (size_t)nvox);
    const float *data_t = b.raw;
    if (pl.tf[0] != 0 || pl.tf[1] != 1 || pl.tf[2] != 2) {
        ALLOC(b.tr, sizeof(float) * (size_t)(C * nvox));
        transpose3(b.tr, b.raw, sizeof(float), C, shape, pl.tf);
        data_t = b.tr;
    }

    /* 3. Crop to the filled nonzero mask. */
    nne_box bbox;
    ALLOC(b.mask, (size_t)nvox);
    if ((st = nne_crop_bbox(pool, &bbox, b.mask, data_t, C, shape_t))) goto done;
    int64_t cs[3];
    nne_crop_shape(cs, &bbox);
    const int64_t cvox = vol3(cs);
    memcpy(rep->shape_cropped, cs, sizeof cs);
    ALLOC(b.crop, sizeof(float) * (size_t)(C * cvox));
    nne_crop_apply(pool, b.crop, data_t, sizeof(float), C, shape_t, &bbox);
    ALLOC(b.seg, (size_t)cvox);
    nne_crop_seg(b.seg, b.mask, shape_t, &bbox);
    nne_free(b.tr);
    b.tr = NULL;

    /* 4. Normalize each channel (before resampling, as nnU-Net). */
    /* nnU-Net normalizes a strided view of the transposed, cropped reader array; its numpy
     * statistics depend on that view's memory layout, which the layout describes. */
    nne_norm_layout lay;
    nne_norm_layout_init(&lay, pl.tf, shape_t, &bbox);
    for (int c = 0; c < C; c++)
        if ((st = nne_normalize_layout(pool, b.crop + c * cvox, cvox, pl.scheme[c],
                                       pl.use_mask[c], b.seg,
                                       pl.has_props[c] ? &pl.props[c] : NULL, &lay, NULL)))
            goto done;

    /* 5. Resample to the plans' spacing. */
    int64_t ns[3];
    nne_resample_new_shape(cs, sp_t, pl.spacing, ns);
    memcpy(rep->shape_network, ns, sizeof ns);
    const int64_t nsvox = vol3(ns);
    int sep = 0, axis = -1;
    nne_resample_decide(sp_t, pl.spacing, pl.data_rs.force_sep, NNE_RESAMPLE_ANISO_THRESHOLD,
                        &sep, &axis);
    ALLOC(b.net, sizeof(float) * (size_t)(C * nsvox));
    size_t wsb = nne_resample_ws_bytes(ns, cs, pl.data_rs.order, sep, axis, pl.data_rs.order_z,
                                       nth);
    if (wsb) ALLOC(b.ws, wsb);
    for (int c = 0; c < C; c++)
        nne_resample_volume(pool, b.net + c * nsvox, ns, b.crop + c * cvox, cs, pl.data_rs.order,
                            sep, axis, pl.data_rs.order_z, b.ws);
    if (probe) {
        probe->pre = dup_bytes(b.net, C * nsvox, sizeof(float));
        probe->pre_n = probe->pre ? C * nsvox : 0;
    }
    nne_free(b.ws);
    b.ws = NULL;
    nne_free(b.crop);
    b.crop = NULL;
    rep->t_preprocess = now_s() - t;
    t = now_s();

    /* 6. Sliding window (or the fixed single patch), per fold, then the fold ensemble. */
    window_plan *w = &b.w;
    const int64_t *patch = pl.patch;
    const int fp32 = prm.accumulate_fp32;
    const size_t es = fp32 ? 4 : 2;
    const float *netdata;
    int64_t fixed_off[3] = {0, 0, 0}; /* fixed mode: where the padded window sits in ns   */
    if (!prm.fixed_mode) {
        nne_window_pad_shape(w->padded, w->lo, ns, patch);
        if (vol3(w->padded) != nsvox) {
            ALLOC(b.padded, sizeof(float) * (size_t)(C * vol3(w->padded)));
            nne_window_pad(pool, b.padded, b.net, C, ns, w->padded, w->lo);
            netdata = b.padded;
        } else {
            netdata = b.net;
        }
        for (int a = 0; a < 3; a++) {
            int64_t n = 0;
            if ((st = nne_window_steps(NULL, 0, &n, w->padded[a], patch[a], prm.step_size)))
                goto done;
            if (n > MAX_STEPS) {
                st = nne_fail(ctx, NNE_ERR_ARG, "too many tiles along axis %d", a);
                goto done;
            }
            w->steps[a] = malloc(sizeof(int64_t) * (size_t)n);
            if (!w->steps[a]) {
                st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
                goto done;
            }
            if ((st = nne_window_steps(w->steps[a], n, &w->nsteps[a], w->padded[a], patch[a],
                                       prm.step_size)))
                goto done;
        }
    } else {
        /* The study's mode: the patch centred on the cropped brain, cropped or zero-padded. */
        for (int a = 0; a < 3; a++) {
            w->padded[a] = patch[a];
            w->nsteps[a] = 1;
            w->steps[a] = calloc(1, sizeof(int64_t));
            if (!w->steps[a]) {
                st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
                goto done;
            }
            /* window origin in ns coordinates (negative = padding below) */
            fixed_off[a] = ns[a] >= patch[a] ? (ns[a] - patch[a]) / 2
                                             : -((patch[a] - ns[a]) / 2);
        }
        ALLOC(b.padded, sizeof(float) * (size_t)(C * vol3(patch)));
        memset(b.padded, 0, sizeof(float) * (size_t)(C * vol3(patch)));
        for (int64_t c = 0; c < C; c++)
            for (int64_t z = 0; z < patch[0]; z++)
                for (int64_t y = 0; y < patch[1]; y++)
                    for (int64_t x = 0; x < patch[2]; x++) {
                        int64_t sz = z + fixed_off[0], sy = y + fixed_off[1], sx = x + fixed_off[2];
                        if (sz < 0 || sy < 0 || sx < 0 || sz >= ns[0] || sy >= ns[1] || sx >= ns[2])
                            continue;
                        b.padded[((c * patch[0] + z) * patch[1] + y) * patch[2] + x] =
                            b.net[((c * ns[0] + sz) * ns[1] + sy) * ns[2] + sx];
                    }
        netdata = b.padded;
    }
    rep->n_tiles = w->nsteps[0] * w->nsteps[1] * w->nsteps[2];
    if (prm.use_gaussian && !prm.fixed_mode) {
        ALLOC(w->gauss, sizeof(uint16_t) * (size_t)vol3(patch));
        if ((st = nne_window_gaussian(w->gauss, patch, 1.0 / 8.0, 10.0))) goto done;
    }
    if (prm.use_mirroring) w->n_masks = nne_window_mirror_masks(w->masks, pl.mirror_axes, pl.n_mirror);
    const int64_t pvox = vol3(w->padded);
    ALLOC(b.logits, es * (size_t)(K * pvox));
    ALLOC(b.count, es * (size_t)pvox);
    ALLOC(b.tilebufs, sizeof(float) * (size_t)((2 * C + 2 * K) * vol3(patch)));
    /* ens: the unpadded fold ensemble [K][ns] in the accumulation type */
    ALLOC(b.ens, es * (size_t)(K * nsvox));
    for (int f = 0; f < nf; f++) {
        if ((st = run_fold(ctx, m, fold_ids[f], w, patch, netdata, fp32, b.logits, b.count,
                           b.tilebufs, rep, &prm, f, nf)))
            goto done;
        if (f == 1) ALLOC(b.cls_lr, es * (size_t)(K * nsvox));
        void *dst = f == 0 ? b.ens : b.cls_lr; /* later folds: unpad into a scratch */
        if (!prm.fixed_mode) {
            nne_window_unpad(pool, dst, b.logits, es, K, w->padded, w->lo, ns);
        } else {
            /* inside the window: the prediction; outside: background */
            for (int64_t k = 0; k < K; k++)
                for (int64_t z = 0; z < ns[0]; z++)
                    for (int64_t y = 0; y < ns[1]; y++)
                        for (int64_t x = 0; x < ns[2]; x++) {
                            int64_t wz = z - fixed_off[0], wy = y - fixed_off[1],
                                    wx = x - fixed_off[2];
                            int64_t di = ((k * ns[0] + z) * ns[1] + y) * ns[2] + x;
                            int in = wz >= 0 && wy >= 0 && wx >= 0 && wz < patch[0] &&
                                     wy < patch[1] && wx < patch[2];
                            int64_t si = ((k * patch[0] + wz) * patch[1] + wy) * patch[2] + wx;
                            if (fp32)
                                ((float *)dst)[di] = in ? ((float *)b.logits)[si]
                                                        : (k == 0 ? 0.0f : -1000.0f);
                            else
                                ((uint16_t *)dst)[di] = in ? ((uint16_t *)b.logits)[si]
                                                           : nne_f32_to_f16(k == 0 ? 0.0f : -1000.0f);
                        }
        }
        if (f > 0) { /* fold sum in the accumulation precision, fold order */
            for (int64_t i = 0; i < K * nsvox; i++) {
                if (fp32)
                    ((float *)b.ens)[i] += ((float *)b.cls_lr)[i];
                else
                    ((uint16_t *)b.ens)[i] = nne_f32_to_f16(nne_f16_to_f32(((uint16_t *)b.ens)[i]) +
                                                            nne_f16_to_f32(((uint16_t *)b.cls_lr)[i]));
            }
        }
    }
    if (nf > 1) {
        for (int64_t i = 0; i < K * nsvox; i++) {
            if (fp32)
                ((float *)b.ens)[i] /= (float)nf;
            else
                ((uint16_t *)b.ens)[i] =
                    nne_f32_to_f16(nne_f16_to_f32(((uint16_t *)b.ens)[i]) / (float)nf);
        }
    }
    nne_free(b.logits);
    nne_free(b.count);
    nne_free(b.padded);
    nne_free(b.net);
    nne_free(b.tilebufs);
    b.logits = b.count = NULL;
    b.padded = b.net = b.tilebufs = NULL;
    rep->t_network = now_s() - t;
    t = now_s();

    /* 7. Export: fp16 logits back to the cropped original grid, class by class. */
    nne_resample_decide(pl.spacing, sp_t, pl.prob_rs.force_sep, NNE_RESAMPLE_ANISO_THRESHOLD,
                        &sep, &axis);
    wsb = nne_resample_ws_bytes(cs, ns, pl.prob_rs.order, sep, axis, pl.prob_rs.order_z, nth);
    if (wsb) ALLOC(b.ws, wsb);
    if (fp32) { /* the resampler's fp16 path is nnU-Net's; fp32 logits are rounded to it */
        uint16_t *h = b.ens;
        for (int64_t i = 0; i < K * nsvox; i++) h[i] = nne_f32_to_f16(((float *)b.ens)[i]);
    }
    const uint16_t *ens16 = b.ens;
    if (probe) {
        probe->logits = dup_bytes(ens16, K * nsvox, sizeof(uint16_t));
        probe->logits_n = probe->logits ? K * nsvox : 0;
    }
    const int want_probs = prm.prob_path != NULL;
    ALLOC(b.lab, (size_t)cvox);
    size_t export_bytes = 0;
    if (!want_probs) {
        ALLOC(b.cls_hr, sizeof(uint16_t) * (size_t)cvox);
        ALLOC(b.maxv, sizeof(float) * (size_t)cvox);
        export_bytes = sizeof(uint16_t) * (size_t)cvox + sizeof(float) * (size_t)cvox + (size_t)cvox;
        for (int64_t k = 0; k < K; k++) {
            nne_resample_volume_f16(pool, b.cls_hr, cs, ens16 + k * nsvox, ns, pl.prob_rs.order,
                                    sep, axis, pl.prob_rs.order_z, b.ws);
            for (int64_t i = 0; i < cvox; i++) {
                float v = nne_f16_to_f32(b.cls_hr[i]);
                if (k == 0 || v > b.maxv[i]) { /* first maximum wins, as numpy/torch argmax */
                    b.maxv[i] = v;
                    b.lab[i] = (uint8_t)k;
                }
            }
        }
    } else {
        ALLOC(b.all_hr, sizeof(uint16_t) * (size_t)(K * cvox));
        for (int64_t k = 0; k < K; k++)
            nne_resample_volume_f16(pool, b.all_hr + k * cvox, cs, ens16 + k * nsvox, ns,
                                    pl.prob_rs.order, sep, axis, pl.prob_rs.order_z, b.ws);
        /* softmax in float32 of the fp16 logits, then argmax of the probabilities (nnU-Net's
         * path when probabilities are saved) */
        ALLOC(b.probs, sizeof(float) * (size_t)(K * cvox));
        for (int64_t k = 0; k < K; k++)
            for (int64_t i = 0; i < cvox; i++)
                b.probs[k * cvox + i] = nne_f16_to_f32(b.all_hr[k * cvox + i]);
        nne_free(b.all_hr);
        b.all_hr = NULL;
        nne_softmax_fwd(pool, b.probs, b.probs, K, cvox);
        for (int64_t i = 0; i < cvox; i++) {
            int best = 0;
            for (int64_t k = 1; k < K; k++)
                if (b.probs[k * cvox + i] > b.probs[best * cvox + i]) best = (int)k;
            b.lab[i] = (uint8_t)best;
        }
        export_bytes = sizeof(float) * (size_t)(K * cvox) + (size_t)cvox;
    }
    nne_free(b.ws);
    b.ws = NULL;
    nne_free(b.ens);
    b.ens = NULL;
    /* Insert into the crop box, transpose back. */
    ALLOC(b.lab_full, (size_t)nvox);
    nne_uncrop_seg_u8(pool, b.lab_full, b.lab, shape_t, &bbox);
    const uint8_t *lab_orig = b.lab_full;
    if (pl.tf[0] != 0 || pl.tf[1] != 1 || pl.tf[2] != 2) {
        ALLOC(b.lab_tr, (size_t)nvox);
        transpose3(b.lab_tr, b.lab_full, 1, 1, shape_t, pl.tb);
        lab_orig = b.lab_tr;
    }
    rep->peak_export_bytes = export_bytes + 2 * (size_t)nvox;
    rep->t_export = now_s() - t;
    t = now_s();

    /* 8. Write (the first channel's header and geometry, uint8 labels). */
    int64_t dims[8] = {3, shape[2], shape[1], shape[0], 1, 1, 1, 1};
    if ((st = nne_image_alloc_like(ctx, b.img[0], 3, dims, &b.out))) goto done;
    for (int64_t i = 0; i < nvox; i++) {
        b.out->data[i] = (float)lab_orig[i];
        if (lab_orig[i] < 8) rep->voxels_per_class[lab_orig[i]]++;
    }
    if ((st = nne_image_write(ctx, out_path, b.out, K >= 255 ? NNE_DT_UINT16 : NNE_DT_UINT8)))
        goto done;
    if (want_probs) {
        /* [K][cropped] -> [K][transposed full] (background 1 outside) -> [K][original] */
        ALLOC(b.probs_full, sizeof(float) * (size_t)(K * nvox));
        nne_uncrop_probs(pool, b.probs_full, b.probs, K, shape_t, &bbox, 1);
        float *po = b.probs_full;
        if (pl.tf[0] != 0 || pl.tf[1] != 1 || pl.tf[2] != 2) {
            ALLOC(b.probs_tr, sizeof(float) * (size_t)(K * nvox));
            transpose3(b.probs_tr, b.probs_full, sizeof(float), K, shape_t, pl.tb);
            po = b.probs_tr;
        }
        nne_image *pimg = NULL;
        int64_t pd[8] = {4, shape[2], shape[1], shape[0], K, 1, 1, 1};
        if ((st = nne_image_alloc_like(ctx, b.img[0], 4, pd, &pimg))) goto done;
        memcpy(pimg->data, po, sizeof(float) * (size_t)(K * nvox));
        st = nne_image_write(ctx, prm.prob_path, pimg, NNE_DT_FLOAT32);
        nne_image_free(pimg);
        if (st != NNE_OK) goto done;
        /* .npz + .json next to it: <stem>.npz where stem drops .nii.gz / .nii */
        size_t L = strlen(prm.prob_path);
        char *stem = malloc(L + 8);
        if (!stem) {
            st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
            goto done;
        }
        memcpy(stem, prm.prob_path, L + 1);
        if (L > 7 && !strcmp(stem + L - 7, ".nii.gz")) stem[L - 7] = '\0';
        else if (L > 4 && !strcmp(stem + L - 4, ".nii")) stem[L - 4] = '\0';
        char *npz = malloc(strlen(stem) + 8), *js = malloc(strlen(stem) + 8);
        if (npz && js) {
            sprintf(npz, "%s.npz", stem);
            sprintf(js, "%s.json", stem);
            int64_t psh[4] = {K, shape[0], shape[1], shape[2]};
            st = write_npz(ctx, npz, po, psh);
            if (st == NNE_OK) {
                FILE *f = fopen(js, "w");
                if (!f) {
                    st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot write", js);
                } else {
                    fprintf(f,
                            "{\"spacing\": [%.17g, %.17g, %.17g], "
                            "\"shape_before_cropping\": [%lld, %lld, %lld], "
                            "\"bbox_used_for_cropping\": [[%lld, %lld], [%lld, %lld], [%lld, %lld]], "
                            "\"shape_after_cropping_and_before_resampling\": [%lld, %lld, %lld], "
                            "\"sitk_stuff\": {\"spacing\": [%.17g, %.17g, %.17g], "
                            "\"origin\": [%.17g, %.17g, %.17g], \"direction\": [",
                            spacing[0], spacing[1], spacing[2], (long long)shape_t[0],
                            (long long)shape_t[1], (long long)shape_t[2], (long long)bbox.lo[0],
                            (long long)bbox.hi[0], (long long)bbox.lo[1], (long long)bbox.hi[1],
                            (long long)bbox.lo[2], (long long)bbox.hi[2], (long long)cs[0],
                            (long long)cs[1], (long long)cs[2], sp_itk[0], sp_itk[1], sp_itk[2],
                            origin[0], origin[1], origin[2]);
                    for (int i = 0; i < 9; i++) fprintf(f, "%s%.17g", i ? ", " : "", dir[i]);
                    fprintf(f, "]}}\n");
                    if (fclose(f) != 0) st = nne_fail(ctx, NNE_ERR_IO, "%s: write failed", js);
                }
            }
        } else {
            st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        }
        free(stem);
        free(npz);
        free(js);
        if (st != NNE_OK) goto done;
    }
    rep->t_write = now_s() - t;
    rep->t_total = now_s() - t0;
done:
    case_bufs_free(&b, (int)C);
    if (st != NNE_OK && probe) {
        free(probe->pre);
        free(probe->logits);
        memset(probe, 0, sizeof *probe);
    }
    return st;
}
