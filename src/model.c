/*
 * model.c - PlainConvUNet inference: loading a `.nne` file and the forward pass.
 *
 * DESIGN
 * The forward pass follows dynamic-network-architectures' PlainConvUNet (deep supervision
 * off): encoder stages of Conv -> InstanceNorm -> LeakyReLU blocks (the first conv of a stage
 * carries the stride), a decoder of transposed conv, concat [upsampled, skip], conv blocks,
 * and the 1x1x1 seg head of the highest resolution.
 *
 * Memory is a stack discipline on one arena, planned by a dry run of the same code before the
 * real run, so the compute path cannot fail (STYLE 3.4). The encoder output of every level (the
 * skip) lives until the decoder consumes it; everything else is transient:
 *  - Streaming. A Winograd convolution (nne_conv3d_run_z) runs over slabs of output planes
 *    (a multiple of 4, about STREAM_SLAB_BYTES per slab), which lets it write in place: a slab
 *    reads one plane beyond either end, so slab k is copied over its input planes once slab
 *    k + 1 has been computed, and only two slabs of output exist besides the tensor. Every
 *    stage's first conv writes the level's buffer; the others work in place in it.
 *  - Fused upsampling. The decoder's first conv reads [upsampled, skip] as two input parts:
 *    the skip in place, the upsampled half made slab by slab by the transposed conv of the
 *    planes of the level below that the slab needs (the upsampled planes shared with the next
 *    slab are kept, so each plane is upsampled once), so neither the upsampled tensor nor the
 *    concat exists; its output is written over the skip.
 *  At 128^3 on the reference network the arena peak falls from 768 MiB (whole tensors) to 356
 *  MiB: the level-0 skip (256 MiB), the level-1 output (64 MiB) and the slabs. Slabs give the
 *  same bits as whole tensors (tests/test_stream.c, test_golden with $NNE_STREAM=0).
 *  Convolutions of other algorithms keep whole tensors: a temporary (copied back) for
 *  in-place blocks, and for a decoder level whose first conv is not Winograd the concat
 *  buffer [2F, level] allocated before the encoder reaches the level, with the encoder
 *  writing its skip into the second half (no concat copy); $NNE_STREAM=0 forces that
 *  layout everywhere.
 * Convolution weights are prepared once at load (prepare_convs): every conv is assigned its
 * algorithm (nne_conv3d_algo_pick at the plans' patch size: Winograd for the large stride-1
 * 3x3x3 layers, im2col + packed GEMM for the other 3x3x3 layers, direct otherwise, a GEMM for
 * the seg head) and its weights are
 * packed or transformed into one model-owned block, so a forward never repacks weights; the
 * mapped originals of those weights are then released from the resident set
 * (nne_weights_release), so the prepared copy does not double their memory. The few other
 * tensors a forward reads are copied too (pin_tensors) and the whole mapping is released, so
 * a forward never touches the file's pages.
 * ref: dynamic_network_architectures/architectures/unet.py PlainConvUNet.forward;
 *      building_blocks/unet_decoder.py UNetDecoder.forward (torch.cat((x, skip), 1)).
 */
#include "model.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "calib.h"
#include "ctx.h"
#include "half.h"
#include "json.h"
#include "onnx.h"
#include "ops.h"
#include "profile.h"

void nne_model_tensor_name(char *buf, size_t n, const char *fold, const char *key) {
    snprintf(buf, n, "fold%s/%s", fold, key);
}

void nne_model_free(nne_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_folds; i++) free(m->fold_names[i]);
    free(m->fold_names);
    free(m->folds);
    nne_free(m->prep);
    nne_free(m->pinned);
    cJSON_Delete(m->header);
    nne_weights_close(m->file);
    free(m);
}

static void bind(nne_fold_w *w, const nne_param_spec *p, const float *data) {
    nne_block_w *b = NULL;
    switch (p->part) {
    case NNE_PART_ENC: b = &w->enc[p->stage][p->conv]; break;
    case NNE_PART_DEC: b = &w->dec[p->stage][p->conv]; break;
    case NNE_PART_TCONV:
        if (p->kind == NNE_PKIND_W) w->tw[p->stage] = data;
        else w->tb[p->stage] = data;
        return;
    case NNE_PART_SEG:
        if (p->kind == NNE_PKIND_W) w->sw[p->stage] = data;
        else w->sb[p->stage] = data;
        return;
    }
    switch (p->kind) {
    case NNE_PKIND_W: b->w = data; break;
    case NNE_PKIND_B: b->b = data; break;
    case NNE_PKIND_NORM_W: b->g = data; break;
    case NNE_PKIND_NORM_B: b->beta = data; break;
    }
}

/* The algorithm of one layer: nne_conv3d_algo_pick, except that with the default choice
 * (wino 1) a Winograd layer whose F(4x4x4) weights stay within WINO4_MAX_BYTES takes
 * F(4x4x4), else one whose F(4x4x2) weights do takes F(4x4x2): those are the thin, large top
 * levels (32 and 64 channels at 128^3 and 64^3 in the reference network), where most of the
 * time goes; F(4x4x4) does them with 1/8, F(4x4x2) with 1/6 of the direct products, for a
 * few MiB of weights (docs/CONVOLUTION.md). $NNE_WINO44=0 keeps F(4x4x2) there (A/B
 * measurements). */
#ifndef WINO4_MAX_BYTES
#define WINO4_MAX_BYTES ((size_t)8 << 20)
#endif
static nne_conv3d_algo layer_algo(const nne_conv3d_desc *d, int wino, int f16) {
    const nne_conv3d_algo algo = nne_conv3d_algo_pick(d, wino);
    /* binary16 weights never take F(4x4x4) (the FP16 slab path streams F(2x2x2) and
     * F(4x4x2) only): an explicit winograd44 request gets F(4x4x2) there */
    if (f16 && algo == NNE_CONV3D_WINO44) return NNE_CONV3D_WINO4;
    /* not with binary16 weights: the larger transform coefficients of F(4, 3) multiply their
     * rounding (test_golden: 7e-3 x range with F(4x4x2) against 2e-3 with F(2x2x2)) */
    if (wino != 1 || f16 || algo != NNE_CONV3D_WINO) return algo;
    const char *env = getenv("NNE_WINO44");
    if (!(env && !strcmp(env, "0")) &&
        nne_conv3d_prep_bytes(d, NNE_CONV3D_WINO44) <= WINO4_MAX_BYTES)
        return NNE_CONV3D_WINO44;
    if (nne_conv3d_prep_bytes(d, NNE_CONV3D_WINO4) <= WINO4_MAX_BYTES) return NNE_CONV3D_WINO4;
    return algo;
}

/* FP16 weight storage: the prepared layout of `algo` with the packed weights in binary16 and
 * the (padded) bias in float32. Bytes of one layer, NNE_ALIGN aligned parts. */
static size_t f16_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo) {
    const size_t pb = nne_conv3d_prep_bytes(d, algo); /* float32 packed + bias */
    const size_t bias = nne_align_up((size_t)(d->c_out + 64) * sizeof(float));
    return nne_align_up(pb / 2) + bias;
}

/* Prepares one layer in float32 into `scratch`, then stores it in binary16 (bias float32)
 * at `mem`. Returns the bytes used (at most f16_bytes). */
static size_t prep_f16(nne_pool *pool, nne_conv3d_w *pw, const nne_conv3d_desc *d,
                       nne_conv3d_algo algo, const float *w, const float *bias, void *scratch,
                       unsigned char *mem) {
    nne_conv3d_prep(pool, pw, d, algo, w, bias, scratch);
    const int64_t n_packed = pw->bias - pw->packed; /* the bias follows the packed weights */
    const int64_t n_bias = (int64_t)(nne_conv3d_prep_bytes(d, algo) / sizeof(float)) - n_packed;
    NNE_ASSERT(n_packed > 0 && n_bias >= d->c_out && n_bias <= d->c_out + 64);
    uint16_t *h = (uint16_t *)(void *)mem;
    for (int64_t i = 0; i < n_packed; i++)
        h[i] = nne_f32_to_f16(pw->packed[i]);
    const size_t hb = nne_align_up((size_t)n_packed * sizeof(uint16_t));
    float *b = (float *)(void *)(mem + hb);
    memcpy(b, pw->bias, (size_t)n_bias * sizeof(float));
    pw->packed = NULL;
    pw->packed16 = h;
    pw->bias = b;
    return hb + nne_align_up((size_t)n_bias * sizeof(float));
}

/* Walks every convolution of every fold in forward order with its geometry at the plans'
 * patch size. Without `mem` it only adds up the prepared bytes; with it, it prepares each
 * layer's weights into consecutive slices of `mem`. */
/* INT8 takes a non-Winograd layer with at least Q8_MIN_OUT_VOX output voxels (for speed) or
 * at least Q8_MIN_W_BYTES of float32 weights (for memory: int8 weights are 4x smaller).
 * Measured at 128^3 (--per-layer, INT8 against FP32): the stride-2 layers at 64^3 and 32^3
 * gain (143 vs 186 ms, 74 vs 82 ms); the 16^3 and 8^3 layers lose to the float32 im2col GEMM
 * (62 vs 39 ms, 49 vs 36 ms: small blocks for the int8 kernel's setup), but at 8^3 and 4^3
 * they hold most of the network's weights (the 16^3 stride-2 layer only 3.5 MB). */
#ifndef Q8_MIN_OUT_VOX
#define Q8_MIN_OUT_VOX ((int64_t)32 * 32 * 32)
#endif
#ifndef Q8_MIN_W_BYTES
#define Q8_MIN_W_BYTES ((size_t)8 << 20)
#endif

static size_t prepare_convs(nne_ctx *ctx, nne_model *m, unsigned char *mem, int f16,
                            void *scratch, size_t *scratch_bytes) {
    const nne_arch *a = &m->arch;
    const int S = a->n_stages;
    const int wino = ctx ? ctx->wino : 1;
    nne_pool *pool = ctx ? ctx->pool : NULL;
    /* INT8: the convs whose float32 algorithm is not Winograd with at least Q8_MIN_OUT_VOX
     * outputs, except the first (its input is the image) and the seg head (docs/INT8.md);
     * $NNE_INT8=all: every other conv too */
    const int q8 = ctx && ctx->precision == NNE_PREC_INT8;
    const char *q8_env = getenv("NNE_INT8");
    const int q8_all = q8_env && !strcmp(q8_env, "all");
    static const int one[3] = {1, 1, 1};
    int64_t lvl[NNE_MAX_STAGES][3];
    for (int s = 0; s < S; s++) nne_arch_stage_shape(a, s, m->patch, lvl[s]);
    size_t off = 0;
    for (int fo = 0; fo < m->n_folds; fo++) {
        nne_fold_w *fw = &m->folds[fo];
        int layer = 0; /* conv index in forward order, as `nnedge calibrate` numbers them */
        for (int i = 0; i < 2 * S; i++) { /* encoder stages, then decoder stages */
            const int enc = i < S, s = enc ? i : i - S;
            if (!enc && s >= S - 1) continue;
            const int L = enc ? s : S - 2 - s; /* resolution level */
            const int64_t F = a->features[L];
            for (int j = 0; j < (enc ? a->n_conv[s] : a->n_conv_dec[s]); j++) {
                nne_block_w *b = enc ? &fw->enc[s][j] : &fw->dec[s][j];
                const int64_t *in = (enc && j == 0) ? (s == 0 ? m->patch : lvl[s - 1]) : lvl[L];
                const int64_t cin = j > 0 ? F : enc ? (s == 0 ? a->n_in : a->features[s - 1])
                                                    : 2 * F;
                nne_conv3d_desc d;
                nne_conv3d_desc_init(&d, cin, F, in, a->kernel[L],
                                     (enc && j == 0) ? a->stride[s] : one);
                const nne_conv3d_algo algo = layer_algo(&d, wino, f16);
                if (mem && fo == 0)
                    nne_log(NNE_LOG_LEVEL_DEBUG, "%s stage %d conv %d: %lld -> %lld, %s", enc ?
                            "encoder" : "decoder", s, j, (long long)cin, (long long)F,
                            algo == NNE_CONV3D_WINO    ? "winograd F(2x2x2)"
                            : algo == NNE_CONV3D_WINO4  ? "winograd F(4x4x2)"
                            : algo == NNE_CONV3D_WINO44 ? "winograd F(4x4x4)"
                            : algo == NNE_CONV3D_IM2COL ? "im2col + packed GEMM"
                                                        : "direct");
                if (q8) { /* INT8 where it beats the layer's float32 algorithm */
                    const int64_t ovox = d.out[0] * d.out[1] * d.out[2];
                    const size_t wbytes = (size_t)(F * cin * d.k[0] * d.k[1] * d.k[2]) * 4;
                    const int use = layer > 0 && (q8_all || (algo != NNE_CONV3D_WINO &&
                                                             algo != NNE_CONV3D_WINO4 &&
                                                             algo != NNE_CONV3D_WINO44 &&
                                                             (ovox >= Q8_MIN_OUT_VOX ||
                                                              wbytes >= Q8_MIN_W_BYTES)));
                    const int li = layer++;
                    if (use) {
                        if (mem) {
                            const nne_calib_layer *cl = nne_calib_layer_at(ctx->calib, li);
                            NNE_ASSERT(cl); /* checked by check_calib */
                            nne_conv3d_q8_prep(&b->q8, &d, b->w, b->b, mem + off);
                            const nne_q8_act act = nne_q8_act_from_range(cl->lo, cl->hi);
                            memset(&b->conv, 0, sizeof b->conv);
                            b->conv.algo = algo;
                            b->conv.c_in = cin;
                            b->conv.c_out = F;
                            memcpy(b->conv.k, d.k, sizeof d.k);
                            memcpy(b->conv.stride, d.stride, sizeof d.stride);
                            b->conv.q8 = &b->q8;
                            b->conv.act_scale = act.scale;
                            b->conv.act_zp = act.zp;
                            nne_weights_release(m->file, b->w,
                                                (size_t)(F * cin * d.k[0] * d.k[1] * d.k[2]) *
                                                    sizeof(float));
                        }
                        off += nne_conv3d_q8_prep_bytes(&d);
                        continue;
                    }
                }
                if (mem && f16) {
                    off += prep_f16(pool, &b->conv, &d, algo, b->w, b->b, scratch, mem + off);
                    nne_weights_release(m->file, b->w,
                                        (size_t)(F * cin * d.k[0] * d.k[1] * d.k[2]) *
                                            sizeof(float));
                    continue;
                }
                if (f16) { /* sizing: binary16 packed weights, float32 bias */
                    off += f16_bytes(&d, algo);
                    const size_t pb = nne_conv3d_prep_bytes(&d, algo);
                    if (pb > *scratch_bytes) *scratch_bytes = pb;
                    continue;
                }
                if (mem) {
                    nne_conv3d_prep(pool, &b->conv, &d, algo, b->w, b->b, mem + off);
                    /* the forward reads only the prepared copy from now on */
                    nne_weights_release(m->file, b->w,
                                        (size_t)(F * cin * d.k[0] * d.k[1] * d.k[2]) *
                                            sizeof(float));
                }
                off += nne_conv3d_prep_bytes(&d, algo);
            }
        }
        nne_conv3d_desc d;
        nne_conv3d_desc_init(&d, a->features[0], a->n_classes, m->patch, one, one);
        if (mem) nne_conv3d_prep(pool, &fw->seg, &d, NNE_CONV3D_GEMM, fw->sw[S - 2], fw->sb[S - 2],
                                 NULL);
    }
    return off;
}

/* The tensors a forward reads besides the prepared convolutions (norm gamma/beta, transposed
 * conv weights and biases, the seg head) are copied into m->pinned (`dst` NULL: counted only),
 * the fold's pointers moved to the copies, and then the whole file mapping is dropped from the
 * resident set. Otherwise a forward would keep touching the mapped file, whose page cache may
 * hold large folios: touching one small tensor then maps a large block of the file (measured:
 * 7 to 22 MB of mapped file in the resident set for the same network, depending on how the
 * file's pages were cached). Later readers of the original tensors (ONNX export) fault them
 * back in from the file. Returns the floats needed. */
static int64_t pin_tensors(nne_model *m, float *dst) {
    const nne_arch *a = &m->arch;
    const int S = a->n_stages;
    int64_t n = 0;
#define PIN(ptr, count)                                                                            \
    do {                                                                                           \
        if (ptr) {                                                                                 \
            const int64_t c_ = (count);                                                            \
            if (dst) {                                                                             \
                memcpy(dst + n, (ptr), (size_t)c_ * sizeof(float));                                \
                (ptr) = dst + n;                                                                   \
            }                                                                                      \
            n += (c_ + 15) / 16 * 16; /* keep every copy 64-byte aligned */                       \
        }                                                                                          \
    } while (0)
    for (int fo = 0; fo < m->n_folds; fo++) {
        nne_fold_w *fw = &m->folds[fo];
        for (int s = 0; s < S; s++)
            for (int j = 0; j < a->n_conv[s]; j++) {
                PIN(fw->enc[s][j].g, a->features[s]);
                PIN(fw->enc[s][j].beta, a->features[s]);
            }
        for (int s = 0; s < S - 1; s++) {
            const int L = S - 2 - s;
            const int64_t F = a->features[L];
            for (int j = 0; j < a->n_conv_dec[s]; j++) {
                PIN(fw->dec[s][j].g, F);
                PIN(fw->dec[s][j].beta, F);
            }
            const int *st = a->stride[L + 1];
            PIN(fw->tw[s], a->features[L + 1] * F * st[0] * st[1] * st[2]);
            PIN(fw->tb[s], F);
        }
        PIN(fw->sw[S - 2], a->n_classes * a->features[0]);
        PIN(fw->sb[S - 2], a->n_classes);
        if (dst) {
            fw->seg.w = fw->sw[S - 2];
            fw->seg.bias = fw->sb[S - 2];
        }
    }
#undef PIN
    return n;
}

/* INT8: the calibration must describe this network: one layer per conv in forward order
 * (encoder, decoder, seg head) with the conv's input channels. */
static nne_status check_calib(nne_ctx *ctx, const nne_model *m, const char *label) {
    const nne_arch *a = &m->arch;
    const int S = a->n_stages;
    int64_t cin[NNE_CALIB_MAX_LAYERS];
    int n = 0;
    for (int s = 0; s < S; s++)
        for (int j = 0; j < a->n_conv[s] && n < NNE_CALIB_MAX_LAYERS; j++)
            cin[n++] = j ? a->features[s] : s ? a->features[s - 1] : a->n_in;
    for (int s = 0; s < S - 1; s++)
        for (int j = 0; j < a->n_conv_dec[s] && n < NNE_CALIB_MAX_LAYERS; j++)
            cin[n++] = (j ? 1 : 2) * (int64_t)a->features[S - 2 - s];
    if (n < NNE_CALIB_MAX_LAYERS) cin[n++] = a->features[0];
    const int nl = nne_calib_n_layers(ctx->calib);
    if (nl != n)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: the calibration has %d layers, the network %d "
                        "convolutions (calibrate with this model)", label, nl, n);
    for (int i = 0; i < n; i++) {
        const nne_calib_layer *l = nne_calib_layer_at(ctx->calib, i);
        if (l->channels != 0 && l->channels != cin[i])
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: calibration layer %d has %lld channels, "
                            "the network's conv %lld (calibrate with this model)", label, i,
                            (long long)l->channels, (long long)cin[i]);
    }
    return NNE_OK;
}

nne_status nne_model_from_file(nne_ctx *ctx, nne_wfile *f, const char *label, nne_model **out) {
    nne_status st;
    nne_param_spec *specs = NULL;
    cJSON *config = NULL;
    nne_model *m = calloc(1, sizeof *m);
    if (!m) {
        nne_weights_close(f);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    m->file = f;
    char what[512];
    snprintf(what, sizeof what, "%s: JSON header", label);
    if ((st = nne_json_parse(ctx, f->header, f->header_len, what, &m->header))) goto fail;
    const cJSON *plans, *folds, *dataset = cJSON_GetObjectItemCaseSensitive(m->header, "dataset");
    const char *cfg_name;
    if ((st = nne_json_str(ctx, m->header, "configuration", what, &cfg_name))) goto fail;
    if ((st = nne_json_member(ctx, m->header, "plans", cJSON_Object, what, &plans))) goto fail;
    if ((st = nne_plans_resolve(ctx, plans, cfg_name, what, &config))) goto fail;
    if ((st = nne_plans_arch(ctx, config, cJSON_IsObject(dataset) ? dataset : NULL, what,
                             &m->arch)))
        goto fail;
    int64_t tmp[3];
    if ((st = nne_json_int_array(ctx, config, "patch_size", 3, 3, 1, 1 << 16, what, tmp, NULL)))
        goto fail;
    memcpy(m->patch, tmp, sizeof tmp);
    if ((st = nne_json_member(ctx, m->header, "folds", cJSON_Array, what, &folds))) goto fail;
    int nf = cJSON_GetArraySize(folds);
    if (nf < 1 || nf > 64) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: %d folds (1..64 allowed)", what, nf);
        goto fail;
    }
    m->fold_names = calloc((size_t)nf, sizeof *m->fold_names);
    m->folds = calloc((size_t)nf, sizeof *m->folds);
    specs = malloc(sizeof *specs * NNE_MAX_PARAMS);
    if (!m->fold_names || !m->folds || !specs) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto fail;
    }
    int np = nne_arch_params(&m->arch, specs);
    const cJSON *it;
    cJSON_ArrayForEach(it, folds) {
        const char *name;
        if ((st = nne_json_str(ctx, it, "name", what, &name))) goto fail;
        if (strlen(name) == 0 || strlen(name) > 32 || strchr(name, '/')) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: bad fold name '%s'", what, name);
            goto fail;
        }
        int k = m->n_folds;
        m->fold_names[k] = strdup(name);
        if (!m->fold_names[k]) {
            st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
            goto fail;
        }
        m->n_folds++;
        for (int i = 0; i < np; i++) {
            char tn[160];
            nne_model_tensor_name(tn, sizeof tn, name, specs[i].name);
            const nne_wentry *e = nne_weights_find(f, tn);
            if (!e) {
                st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: tensor '%s' is missing", label, tn);
                goto fail;
            }
            int ok = e->ndim == specs[i].ndim;
            for (int d = 0; ok && d < e->ndim; d++) ok = e->shape[d] == specs[i].shape[d];
            if (!ok) {
                st = nne_fail(ctx, NNE_ERR_SHAPE, "%s: tensor '%s' has the wrong shape", label,
                              tn);
                goto fail;
            }
            bind(&m->folds[k], &specs[i], e->data);
        }
    }
    if (f->n_entries != np * m->n_folds) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: %d tensors stored, %d expected", label,
                      f->n_entries, np * m->n_folds);
        goto fail;
    }
    if (ctx && ctx->precision == NNE_PREC_INT8 && (st = check_calib(ctx, m, label)))
        goto fail;
    m->f16 = ctx && ctx->precision == NNE_PREC_FP16;
    size_t scratch_bytes = 0;
    m->prep_bytes = prepare_convs(ctx, m, NULL, m->f16, NULL, &scratch_bytes);
    m->prep = nne_malloc(m->prep_bytes);
    void *scratch = m->f16 ? nne_malloc(scratch_bytes) : NULL;
    if (!m->prep || (m->f16 && !scratch)) {
        nne_free(scratch);
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: cannot allocate %zu bytes of prepared weights",
                      label, m->prep_bytes + scratch_bytes);
        goto fail;
    }
    m->prep_bytes = prepare_convs(ctx, m, m->prep, m->f16, scratch, NULL);
    nne_free(scratch);
    const int64_t n_pin = pin_tensors(m, NULL);
    m->pinned = nne_malloc((size_t)n_pin * sizeof(float));
    if (!m->pinned) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: cannot allocate %lld bytes of weights", label,
                      (long long)n_pin * 4);
        goto fail;
    }
    pin_tensors(m, m->pinned);
    nne_weights_release(m->file, m->file->map, m->file->map_size);
    free(specs);
    cJSON_Delete(config);
    *out = m;
    return NNE_OK;
fail:
    free(specs);
    cJSON_Delete(config);
    nne_model_free(m);
    return st;
}

nne_status nne_model_load(nne_ctx *ctx, const char *path, nne_model **out) {
    nne_clear_error(ctx);
    if (nne_onnx_is_path(path)) return nne_onnx_model_load(ctx, path, out); /* docs/ONNX.md */
    nne_wfile *f = NULL;
    nne_status st = nne_weights_open(ctx, path, 1, &f);
    if (st != NNE_OK) return st;
    return nne_model_from_file(ctx, f, path, out);
}

int nne_model_n_channels(const nne_model *m) { return m->arch.n_in; }
int nne_model_n_classes(const nne_model *m) { return m->arch.n_classes; }
int nne_model_n_folds(const nne_model *m) { return m->n_folds; }
void nne_model_patch_size(const nne_model *m, int64_t patch[3]) {
    memcpy(patch, m->patch, sizeof m->patch);
}
void nne_model_total_stride(const nne_model *m, int64_t stride[3]) {
    nne_arch_total_stride(&m->arch, stride);
}
int64_t nne_model_n_params(const nne_model *m) { return nne_arch_n_params(&m->arch); }
double nne_model_macs(const nne_model *m, const int64_t shape[3]) {
    return nne_arch_macs(&m->arch, shape);
}
const char *nne_model_header_json(const nne_model *m) { return m->file->header; }

/* ---------------------------------------------------------------------------------------- */
/* Forward                                                                                   */
/* ---------------------------------------------------------------------------------------- */

typedef struct fwd {
    nne_ctx *ctx;
    const nne_arch *a;
    const nne_fold_w *w;
    nne_arena *arena;
    int dry;          /* 1: only account memory, compute nothing   */
    size_t ws_need;   /* max conv workspace over the whole network */
    nne_memplan *plan; /* dry run: records every buffer when not NULL */
    nne_profile *prof; /* real run: per-op timings when the context has a profile */
    const char *prof_part; /* the conv block being run: "enc", "dec" or "seg", */
    int prof_level, prof_j; /* its resolution level and conv index            */
    double prof_t0;         /* start of a streamed conv (its upsampling excluded) */
    int n_obs;        /* real run: convs passed to ctx->observe so far (ctx.h) */
} fwd;

static unsigned char dry_dummy[NNE_ALIGN];

/* A buffer of c x sh elements of `esize` bytes from the arena (accounted in a dry run). */
static float *take_e(fwd *f, int64_t c, const int64_t sh[3], size_t esize, const char *what,
                     int level) {
    size_t bytes = (size_t)(c * sh[0] * sh[1] * sh[2]) * esize;
    if (f->dry && f->plan && f->plan->n < NNE_MEMPLAN_MAX) {
        nne_membuf *b = &f->plan->bufs[f->plan->n++];
        snprintf(b->what, sizeof b->what, "%s", what);
        b->level = level;
        b->channels = c;
        memcpy(b->shape, sh, sizeof b->shape);
        b->offset = f->arena->used;
        b->bytes = nne_align_up(bytes);
    }
    if (f->dry) {
        f->arena->used += nne_align_up(bytes);
        if (f->arena->used > f->arena->peak) f->arena->peak = f->arena->used;
        return (float *)(void *)dry_dummy;
    }
    float *p = nne_arena_alloc(f->arena, bytes);
    NNE_ASSERT(p != NULL); /* the arena was sized by the dry run */
    return p;
}

static float *take(fwd *f, int64_t c, const int64_t sh[3], const char *what, int level) {
    return take_e(f, c, sh, sizeof(float), what, level);
}

/* Profiling (profile.h): names the next conv block; free when no profile is attached. */
static void prof_at(fwd *f, const char *part, int level, int j) {
    if (!f->prof) return;
    f->prof_part = part;
    f->prof_level = level;
    f->prof_j = j;
}

/* Records the conv [t0, t1) and the norm [t1, now) of the block named by prof_at. */
static void prof_block(fwd *f, const nne_conv3d_desc *d, int norm, double t0, double t1) {
    char name[32];
    if (f->prof_j < 0) snprintf(name, sizeof name, "%s", f->prof_part);
    else snprintf(name, sizeof name, "%s%d.conv%d", f->prof_part, f->prof_level, f->prof_j);
    nne_profile_conv(f->prof, name, f->prof_level, d, t1 - t0);
    if (!norm) return;
    snprintf(name, sizeof name, "%s%d.norm%d", f->prof_part, f->prof_level, f->prof_j);
    nne_profile_norm(f->prof, name, f->prof_level, d->c_out, d->out, nne_profile_now() - t1);
}

/* One Conv -> InstanceNorm -> LeakyReLU block (or a plain conv for the seg head). */
static void conv_block(fwd *f, float *dst, const float *src, int64_t cin, const int64_t in[3],
                       int64_t cout, const int k[3], const int stride[3],
                       const nne_conv3d_w *pw, const float *g, const float *beta, int norm,
                       int64_t out[3]) {
    if (!f->dry && f->ctx->observe) /* calibration: the input of every conv (ctx.h) */
        f->ctx->observe(f->ctx->observe_arg, f->n_obs++, src, cin, in);
    nne_conv3d_desc d;
    nne_conv3d_desc_init(&d, cin, cout, in, k, stride);
    memcpy(out, d.out, sizeof d.out);
    nne_pool *pool = f->ctx->pool;
    size_t ws = pw->q8 ? nne_conv3d_q8_ws_bytes(&d, nne_pool_n_threads(pool))
                       : nne_conv3d_run_ws_bytes(&d, pw->algo, nne_pool_n_threads(pool));
    if (ws > f->ws_need) f->ws_need = ws;
    if (f->dry) return;
    const nne_kernels *kt = f->ctx->kernels;
    const double t0 = f->prof ? nne_profile_now() : 0.0;
    if (pw->q8)
        nne_conv3d_q8_run(pool, kt, dst, src, pw->q8, &d,
                          (nne_q8_act){.scale = pw->act_scale, .zp = pw->act_zp}, f->ctx->ws);
    else
        nne_conv3d_run(pool, kt, dst, src, pw, &d, f->ctx->ws);
    const double t1 = f->prof ? nne_profile_now() : 0.0;
    if (norm)
        nne_instnorm_fwd(pool, kt, dst, g, beta, cout, d.out[0] * d.out[1] * d.out[2],
                         f->a->norm_eps, 1, f->a->leaky_slope);
    if (f->prof) prof_block(f, &d, norm, t0, t1);
}

static const int one3[3] = {1, 1, 1};

/* Whether a convolution can run over slabs of planes (nne_conv3d_run_z). */
static int streams(const fwd *f, const nne_conv3d_w *pw) {
    /* an observer (calibration) sees every conv's whole input: no streaming then */
    return f->ctx->stream && !f->ctx->observe && !pw->q8 &&
           (pw->algo == NNE_CONV3D_WINO || pw->algo == NNE_CONV3D_WINO4 ||
            pw->algo == NNE_CONV3D_WINO44);
}

/* Output planes per slab of a streamed convolution: a multiple of 4 (both Winograd tiles)
 * keeping one output slab within STREAM_SLAB_BYTES, at least 4. */
#define STREAM_SLAB_BYTES ((size_t)4 << 20)
/* Streamed outputs larger than this are written back with streaming stores (copy_f32). */
#ifndef STREAM_WB_NT_BYTES
#define STREAM_WB_NT_BYTES ((size_t)48 << 20)
#endif
static int64_t slab_planes(int64_t c, const int64_t sh[3]) {
    const size_t plane = (size_t)(c * sh[1] * sh[2]) * sizeof(float);
    int64_t n = (int64_t)(STREAM_SLAB_BYTES / plane) / 4 * 4;
    if (n < 4) n = 4;
    return NNE_MIN(n, (sh[0] + 3) / 4 * 4);
}

/* Copies n elements of each of c channels between channel strides, threads over channels:
 * mode 0 widens binary16 to float32, 1 copies float32 (a channel's source and destination
 * may overlap), 3 copies float32 past the caches (no overlap; the slab write-back), 2 rounds float32 to binary16 and adds
 * each channel's sum and sum of squares (double) to sum/sq when they are not NULL. */
typedef struct h_copy_job {
    const nne_kernels *kt;
    void *dst;
    const void *src;
    int64_t dst_cs, src_cs, n, c; /* strides and counts in elements */
    int mode;                     /* 0 f16 -> f32, 1, 3 f32 -> f32, 2 f32 -> f16 (+ stats) */
    double *sum, *sq;             /* mode 2: per channel, added to (may be NULL)           */
} h_copy_job;

static void h_copy_task(void *arg, int ith, int nth) {
    const h_copy_job *j = arg;
    int64_t lo, hi;
    nne_chunk_range(j->c, ith, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        if (j->mode == 0) {
            j->kt->f16_to_f32((float *)j->dst + c * j->dst_cs,
                              (const uint16_t *)j->src + c * j->src_cs, j->n);
        } else if (j->mode == 3) {
            j->kt->copy_f32((float *)j->dst + c * j->dst_cs, (const float *)j->src + c * j->src_cs,
                            j->n);
        } else if (j->mode == 1) {
            memmove((float *)j->dst + c * j->dst_cs, (const float *)j->src + c * j->src_cs,
                    (size_t)j->n * sizeof(float));
        } else {
            const float *s = (const float *)j->src + c * j->src_cs;
            j->kt->f32_to_f16((uint16_t *)j->dst + c * j->dst_cs, s, j->n);
            if (j->sum) {
                j->sum[c] += j->kt->sum_f64(s, j->n);
                j->sq[c] += j->kt->sumsq_dev_f64(s, j->n, 0.0);
            }
        }
    }
}

static void h_copy(fwd *f, int mode, void *dst, int64_t dst_cs, const void *src, int64_t src_cs,
                   int64_t c, int64_t n, double *sum, double *sq) {
    h_copy_job j = {.kt = f->ctx->kernels, .dst = dst, .src = src, .dst_cs = dst_cs,
                    .src_cs = src_cs, .n = n, .c = c, .mode = mode, .sum = sum, .sq = sq};
    nne_pool_run(f->ctx->pool, h_copy_task, &j);
}

/* The decoder's upsampled input, made slab by slab: the transposed convolution of `prev`. */
typedef struct upsample {
    const float *prev;  /* [pc][pin]: the level below's output  */
    const uint16_t *prev16; /* the same in binary16 (FP16 storage) */
    int64_t pc, pin[3];
    const int *s;       /* stride of the transposed convolution */
    const float *w, *b;
    int64_t c;          /* output channels                      */
    float *pbuf;        /* gathered planes of prev              */
    float *ubuf;        /* upsampled planes                     */
} upsample;

/* Convolution `pw` of geometry `d` (stride 1, same size), computed over slabs of output planes
 * into `out` [c_out][d->out]: the input is `parts` (the whole tensors; `up`, when not NULL,
 * makes part 0 slab by slab), and `out` may hold an input part's planes, because a slab is
 * written back only after the next one is computed, when no later slab reads the planes it
 * covers (a slab reads one plane beyond either end). Two slabs of output are buffered. */
static void stream_conv(fwd *f, float *out, nne_conv3d_part *parts, int n_parts, upsample *up,
                        const nne_conv3d_desc *d, const nne_conv3d_w *pw, int level) {
    nne_pool *pool = f->ctx->pool;
    const size_t ws = nne_conv3d_run_ws_bytes(d, pw->algo, nne_pool_n_threads(pool));
    if (ws > f->ws_need) f->ws_need = ws;
    const int64_t D = d->out[0], hw = d->out[1] * d->out[2];
    const int64_t nz = slab_planes(d->c_out, d->out);
    const int64_t sh[3] = {nz, d->out[1], d->out[2]};
    float *ring[2] = {take(f, d->c_out, sh, "streamed output slab", level),
                      take(f, d->c_out, sh, "streamed output slab", level)};
    /* The upsampled planes [u0, u1) are kept across slabs in ubuf (channel stride ucap planes):
     * a slab drops the planes below its halo (moving the rest to the front) and appends the
     * planes of the prev planes it needs that are not there yet, so every prev plane is
     * upsampled once. u1 stays a multiple of the stride; at most nz + 2 s0 planes are held. */
    int64_t ucap = 0, u0 = 0, u1 = 0;
    if (up) {
        NNE_ASSERT(up->pin[0] * up->s[0] == D);
        ucap = NNE_MIN(nz + 2 * (int64_t)up->s[0], D);
        const int64_t ush[3] = {ucap, d->out[1], d->out[2]};
        up->ubuf = take(f, up->c, ush, "streamed upsampled planes", level);
    }
    if (f->dry) return;
    const nne_kernels *kt = f->ctx->kernels;
    const double t0 = f->prof ? nne_profile_now() : 0.0;
    double t_up = 0.0;
    const int64_t n_slabs = (D + nz - 1) / nz;
    /* tensors beyond the caches are written back past them (no read of the lines first) */
    const int wb_mode = (size_t)(d->c_out * D * hw) * sizeof(float) > STREAM_WB_NT_BYTES ? 3 : 1;
    for (int64_t k = 0; k <= n_slabs; k++) {
        const int64_t z0 = k * nz, z1 = NNE_MIN(D, z0 + nz);
        if (k < n_slabs) {
            if (up) {
                const double tu = f->prof ? nne_profile_now() : 0.0;
                const int64_t s0 = up->s[0], a = NNE_MAX(z0 - 1, (int64_t)0);
                const int64_t b = NNE_MIN(D, z1 + 1), uc = ucap * hw;
                const int64_t pplane = up->pin[1] * up->pin[2];
                if (u1 <= a) {
                    u0 = u1 = a / s0 * s0;
                } else if (u0 < a) {
                    h_copy(f, 1, up->ubuf, uc, up->ubuf + (a - u0) * hw, uc, up->c,
                           (u1 - a) * hw, NULL, NULL);
                    u0 = a;
                }
                const int64_t pa = u1 / s0, pb = NNE_MIN(up->pin[0], (b + s0 - 1) / s0);
                if (pb > pa) {
                    const int64_t pin[3] = {pb - pa, up->pin[1], up->pin[2]};
                    nne_convt3d_fwd_cs(pool, kt, up->ubuf + (u1 - u0) * hw, uc,
                                       up->prev + pa * pplane, up->pin[0] * pplane, up->w,
                                       up->b, up->pc, up->c, pin, up->s);
                    u1 = pb * s0;
                }
                NNE_ASSERT(u0 <= a && b <= u1 && u1 - u0 <= ucap);
                parts[0] = (nne_conv3d_part){.src = up->ubuf, .c = up->c, .cs = uc,
                                             .z_base = u0, .nz = u1 - u0};
                if (f->prof) t_up += nne_profile_now() - tu;
            }
            nne_conv3d_run_z(pool, kt, ring[k % 2], parts, n_parts, pw, d, f->ctx->ws, z0, z1);
        }
        if (k > 0) { /* slab k - 1 */
            const int64_t y0 = (k - 1) * nz, y1 = NNE_MIN(D, y0 + nz);
            h_copy(f, wb_mode, out + y0 * hw, D * hw, ring[(k - 1) % 2], (y1 - y0) * hw,
                   d->c_out, (y1 - y0) * hw, NULL, NULL);
        }
    }
    if (f->prof && up) {
        char name[32];
        snprintf(name, sizeof name, "dec%d.up", level);
        nne_profile_convt(f->prof, name, level, up->pc, up->c, up->pin, up->s, t_up);
    }
    if (f->prof) f->prof_t0 = t0 + t_up; /* the block's conv time excludes the upsampling */
}

/* The convolution block `bw` (Conv -> InstanceNorm -> LeakyReLU, stride 1) applied in place
 * to x [c][sh]: streamed when the algorithm allows, else through a temporary. */
static void block_inplace(fwd *f, float *x, int64_t c, const int64_t sh[3], const int k[3],
                          const nne_block_w *bw, int level) {
    const size_t mark = nne_arena_mark(f->arena);
    int64_t o[3];
    if (streams(f, &bw->conv)) {
        nne_conv3d_desc d;
        nne_conv3d_desc_init(&d, c, c, sh, k, one3);
        nne_conv3d_part part = {.src = x, .c = c, .cs = sh[0] * sh[1] * sh[2], .z_base = 0,
                                .nz = sh[0]};
        stream_conv(f, x, &part, 1, NULL, &d, &bw->conv, level);
        nne_arena_pop(f->arena, mark);
        if (f->dry) return;
        const double t1 = f->prof ? nne_profile_now() : 0.0;
        nne_instnorm_fwd(f->ctx->pool, f->ctx->kernels, x, bw->g, bw->beta, c,
                         sh[0] * sh[1] * sh[2], f->a->norm_eps, 1, f->a->leaky_slope);
        if (f->prof) prof_block(f, &d, 1, f->prof_t0, t1);
        return;
    }
    float *t = take(f, c, sh, "temporary", level);
    conv_block(f, t, x, c, sh, c, k, one3, &bw->conv, bw->g, bw->beta, 1, o);
    if (!f->dry)
        h_copy(f, 1, x, sh[0] * sh[1] * sh[2], t, sh[0] * sh[1] * sh[2], c,
               sh[0] * sh[1] * sh[2], NULL, NULL);
    nne_arena_pop(f->arena, mark);
}

static void run(fwd *f, const float *input, const int64_t shape[3], float *logits) {
    const nne_arch *a = f->a;
    const nne_fold_w *w = f->w;
    const int S = a->n_stages;
    float *skip[NNE_MAX_STAGES] = {0}; /* encoder output of each level                       */
    float *cat[NNE_MAX_STAGES] = {0};  /* unfused levels: [2 F_s, level s] = [upsampled, skip] */
    int fused[NNE_MAX_STAGES] = {0};   /* decoder conv 0 streamed, upsampling made per slab    */
    size_t mark[NNE_MAX_STAGES] = {0}; /* arena position right after level s's buffer         */
    int64_t lvl[NNE_MAX_STAGES][3];   /* spatial shape of each level                        */
    int64_t o[3];

    /* Encoder. Each stage's first conv writes its output buffer, the others work in place. */
    const float *x = input;
    int64_t xc = a->n_in, sh[3] = {shape[0], shape[1], shape[2]};
    for (int s = 0; s < S; s++) {
        const int64_t F = a->features[s];
        nne_arch_stage_shape(a, s, shape, lvl[s]);
        fused[s] = s < S - 1 && streams(f, &w->dec[S - 2 - s][0].conv);
        if (s < S - 1 && !fused[s]) { /* the skip is the concat buffer's second half */
            cat[s] = take(f, 2 * F, lvl[s], "concat [upsampled, skip]", s);
            skip[s] = f->dry ? cat[s] : cat[s] + F * lvl[s][0] * lvl[s][1] * lvl[s][2];
        } else {
            skip[s] = take(f, F, lvl[s], s < S - 1 ? "skip" : "bottleneck output", s);
        }
        mark[s] = nne_arena_mark(f->arena);
        const nne_block_w *bw = &w->enc[s][0];
        prof_at(f, "enc", s, 0);
        conv_block(f, skip[s], x, xc, sh, F, a->kernel[s], a->stride[s], &bw->conv, bw->g,
                   bw->beta, 1, o);
        NNE_ASSERT(o[0] == lvl[s][0] && o[1] == lvl[s][1] && o[2] == lvl[s][2]);
        for (int j = 1; j < a->n_conv[s]; j++) {
            prof_at(f, "enc", s, j);
            block_inplace(f, skip[s], F, lvl[s], a->kernel[s], &w->enc[s][j], s);
        }
        x = skip[s];
        xc = F;
        memcpy(sh, lvl[s], sizeof sh);
    }

    /* Decoder: s = 0 is the lowest resolution, writing into level L = S - 2 - s. */
    const float *prev = skip[S - 1];
    int64_t prev_c = a->features[S - 1];
    for (int s = 0; s < S - 1; s++) {
        const int L = S - 2 - s;
        const int64_t F = a->features[L];
        const nne_block_w *bw = &w->dec[s][0];
        float *out;
        prof_at(f, "dec", L, 0);
        if (fused[L]) {
            /* conv 0 over [transposed conv of prev, skip], made slab by slab, its output
             * written over the skip */
            nne_conv3d_desc d;
            nne_conv3d_desc_init(&d, 2 * F, F, lvl[L], a->kernel[L], one3);
            upsample up = {.prev = prev, .pc = prev_c, .s = a->stride[L + 1], .w = w->tw[s],
                           .b = w->tb[s], .c = F};
            memcpy(up.pin, lvl[L + 1], sizeof up.pin);
            nne_conv3d_part parts[2] = {
                {.c = F}, {.src = skip[L], .c = F, .cs = lvl[L][0] * lvl[L][1] * lvl[L][2],
                           .z_base = 0, .nz = lvl[L][0]}};
            stream_conv(f, skip[L], parts, 2, &up, &d, &bw->conv, L);
            nne_arena_pop(f->arena, mark[L]); /* frees deeper levels, `prev` and the slabs */
            if (!f->dry) {
                const double t1 = f->prof ? nne_profile_now() : 0.0;
                nne_instnorm_fwd(f->ctx->pool, f->ctx->kernels, skip[L], bw->g, bw->beta, F,
                                 lvl[L][0] * lvl[L][1] * lvl[L][2], a->norm_eps, 1,
                                 a->leaky_slope);
                if (f->prof) prof_block(f, &d, 1, f->prof_t0, t1);
            }
            out = skip[L];
        } else {
            const double t_up = f->prof ? nne_profile_now() : 0.0;
            if (!f->dry)
                nne_convt3d_fwd(f->ctx->pool, f->ctx->kernels, cat[L], prev, w->tw[s],
                                w->tb[s], prev_c, F, lvl[L + 1], a->stride[L + 1]);
            if (f->prof) {
                char name[32];
                snprintf(name, sizeof name, "dec%d.up", L);
                nne_profile_convt(f->prof, name, L, prev_c, F, lvl[L + 1], a->stride[L + 1],
                                  nne_profile_now() - t_up);
            }
            nne_arena_pop(f->arena, mark[L]); /* frees deeper levels and `prev` */
            float *t = take(f, F, lvl[L], "decoder output", L);
            conv_block(f, t, cat[L], 2 * F, lvl[L], F, a->kernel[L], one3, &bw->conv, bw->g,
                       bw->beta, 1, o);
            out = t;
            /* the concat buffer is dead now: the other convs ping-pong with its first half */
            for (int j = 1; j < a->n_conv_dec[s]; j++) {
                const nne_block_w *bj = &w->dec[s][j];
                prof_at(f, "dec", L, j);
                if (streams(f, &bj->conv)) {
                    block_inplace(f, out, F, lvl[L], a->kernel[L], bj, L);
                    continue;
                }
                float *dst = out == t ? cat[L] : t;
                conv_block(f, dst, out, F, lvl[L], F, a->kernel[L], one3, &bj->conv, bj->g,
                           bj->beta, 1, o);
                out = dst;
            }
            prev = out;
            prev_c = F;
            continue;
        }
        for (int j = 1; j < a->n_conv_dec[s]; j++) {
            prof_at(f, "dec", L, j);
            block_inplace(f, out, F, lvl[L], a->kernel[L], &w->dec[s][j], L);
        }
        prev = out;
        prev_c = F;
    }
    /* Highest-resolution seg head, straight into the caller's buffer. */
    prof_at(f, "seg", 0, -1);
    conv_block(f, logits, prev, prev_c, lvl[0], a->n_classes, one3, one3, &w->seg, NULL, NULL,
               0, o);
}

/* ---------------------------------------------------------------------------------------- */
/* FP16 activation storage                                                                   */
/* ---------------------------------------------------------------------------------------- */
/*
 * With ctx->precision NNE_PREC_FP16 every activation tensor lives in the arena as IEEE
 * binary16 (half the bytes) and every convolution runs slab by slab in float32: the input
 * planes a slab of output needs are converted into a float32 slab (with the upsampling made
 * per slab as above), the convolution runs on it (Winograd through nne_conv3d_run_z; the other
 * algorithms on the slab as a small volume, whose outputs next to a cut plane are discarded),
 * and the float32 result is rounded to binary16 on write-back, one slab late so it may
 * overwrite its own input. The instance norm's statistics are summed in double from the
 * float32 results during write-back (never from rounded values); normalization and LeakyReLU
 * then run in place over the binary16 tensor. Arithmetic stays float32: Zen 3 and ARMv8.0
 * have no FP16 arithmetic, so FP16 here buys memory, not speed.
 */

/* One input part of a slab convolution: a whole tensor [c][d][h][w] in binary16 or float32. */
typedef struct h_part {
    const void *p;
    int f32; /* 1: float32 (the network input), 0: binary16 */
    int64_t c;
} h_part;

typedef struct h_norm_job {
    const nne_kernels *kt;
    uint16_t *x;                  /* [c][nvox] binary16, in place      */
    int64_t nvox, c;
    const double *sum, *sq;       /* per channel, over the float32 values */
    const float *gamma, *beta;
    double eps;
    float slope;
} h_norm_job;

#define H_NORM_CHUNK 2048
static void h_norm_task(void *arg, int ith, int nth) {
    const h_norm_job *j = arg;
    float buf[H_NORM_CHUNK];
    int64_t lo, hi;
    nne_chunk_range(j->c, ith, nth, &lo, &hi);
    for (int64_t ch = lo; ch < hi; ch++) {
        const double mean = j->sum[ch] / (double)j->nvox;
        double var = j->sq[ch] / (double)j->nvox - mean * mean;
        if (var < 0.0) var = 0.0;
        const double g = j->gamma ? (double)j->gamma[ch] : 1.0;
        const float scale = (float)(g / sqrt(var + j->eps));
        const float shift = j->beta ? j->beta[ch] : 0.0f;
        const float m_hi = (float)mean, m_lo = (float)(mean - (double)m_hi);
        uint16_t *x = j->x + ch * j->nvox;
        for (int64_t i = 0; i < j->nvox; i += H_NORM_CHUNK) {
            const int64_t n = NNE_MIN((int64_t)H_NORM_CHUNK, j->nvox - i);
            j->kt->f16_to_f32(buf, x + i, n);
            j->kt->norm_apply(buf, n, m_hi, m_lo, scale, shift, 1, j->slope);
            j->kt->f32_to_f16(x + i, buf, n);
        }
    }
}

/* Output planes per slab of a slab convolution: a multiple of 4 keeping the float32 output
 * slab within STREAM_SLAB_BYTES and the gathered input within twice that, at least 4, at
 * most the depth rounded up to 4 (one slab for small volumes). */
static int64_t h_slab_planes(const nne_conv3d_desc *d, int wino) {
    const size_t oplane = (size_t)(d->c_out * d->out[1] * d->out[2]) * sizeof(float);
    const size_t iplane = (size_t)(d->c_in * d->in[1] * d->in[2]) * sizeof(float) *
                          (size_t)d->stride[0];
    /* other algorithms recompute the outputs next to a cut: the first layer (a few input
     * channels, cheap to gather, two of every four output planes recomputed at 4) takes
     * larger slabs; its outputs are made before the peak of the plan */
    const size_t budget = (!wino && 4 * iplane <= oplane) ? 4 * STREAM_SLAB_BYTES
                                                          : STREAM_SLAB_BYTES;
    int64_t n = (int64_t)NNE_MIN(budget / oplane, 2 * budget / iplane);
    n = n / 4 * 4;
    if (n < 4) n = 4;
    return NNE_MIN(n, (d->out[0] + 3) / 4 * 4);
}

/* Output channels per block of a packed (im2col or direct) layout, and floats per block. */
static int64_t packed_rows(const nne_conv3d_w *pw) {
    return pw->algo == NNE_CONV3D_IM2COL ? NNE_WINO_OCR : NNE_CONV_OCB;
}
static int64_t packed_block_floats(const nne_conv3d_w *pw) {
    return pw->c_in * pw->k[0] * pw->k[1] * pw->k[2] * packed_rows(pw);
}

/* Widened-weight chunk: whole blocks, about H_JIT_BYTES, at least one block. */
#define H_JIT_BYTES ((int64_t)2 << 20)
static int64_t jit_chunk_floats(const nne_conv3d_w *pw) {
    const int64_t bf = packed_block_floats(pw);
    const int64_t nb = (pw->c_out + packed_rows(pw) - 1) / packed_rows(pw);
    const int64_t per = NNE_MAX((int64_t)1, H_JIT_BYTES / (int64_t)sizeof(float) / bf);
    return NNE_MIN(per, nb) * bf;
}

/* nne_conv3d_run for binary16 im2col / direct weights: the packed layouts hold blocks of
 * output channels one after the other ([c_out / R][...][R]), so a chunk of blocks is the
 * prepared weights of a convolution with fewer output channels; each chunk is widened into
 * `jit` and run into its output channels. Same sums per output as the float32 weights would
 * give with the widened values. */
static void run_widened(fwd *f, float *dst, const float *src, const nne_conv3d_w *pw,
                        const nne_conv3d_desc *d, float *jit, int64_t jit_floats) {
    const int64_t R = packed_rows(pw), bf = packed_block_floats(pw);
    const int64_t nb = (pw->c_out + R - 1) / R, per = jit_floats / bf;
    /* the stored size matches the assumed layout (the bias follows the packed blocks) */
    const ptrdiff_t stored = (const char *)(const void *)pw->bias -
                             (const char *)(const void *)pw->packed16;
    NNE_ASSERT(per >= 1 && stored >= nb * bf * 2 && stored < nb * bf * 2 + NNE_ALIGN);
    const int64_t ovol = d->out[0] * d->out[1] * d->out[2];
    for (int64_t b0 = 0; b0 < nb; b0 += per) {
        const int64_t n = NNE_MIN(per, nb - b0), oc0 = b0 * R;
        h_copy(f, 0, jit, 0, pw->packed16 + b0 * bf, 0, 1, n * bf, NULL, NULL);
        nne_conv3d_w cw = *pw;
        cw.packed = jit;
        cw.packed16 = NULL;
        cw.c_out = NNE_MIN(pw->c_out - oc0, n * R);
        cw.bias = pw->bias + oc0;
        nne_conv3d_desc cd;
        nne_conv3d_desc_init(&cd, d->c_in, cw.c_out, d->in, d->k, d->stride);
        nne_conv3d_run(f->ctx->pool, f->ctx->kernels, dst + oc0 * ovol, src, &cw, &cd,
                       f->ctx->ws);
    }
}

/* Convolution `pw` of geometry `d` over the input parts `in` (channels in order; when `up`
 * is not NULL it replaces part 0, made per slab) into `out`: binary16 [c_out][out] with the
 * instance norm applied (gamma/beta of `bw`) when `bw` is not NULL, else float32 (the seg
 * head's logits). `out` may be one of the parts. */
static void conv16(fwd *f, void *out, const h_part *in, int n_in, upsample *up,
                   const nne_conv3d_desc *d, const nne_conv3d_w *pw, const nne_block_w *bw,
                   int level) {
    nne_pool *pool = f->ctx->pool;
    const nne_kernels *kt = f->ctx->kernels;
    const int wino = pw->algo == NNE_CONV3D_WINO || pw->algo == NNE_CONV3D_WINO4;
    const int64_t nz = h_slab_planes(d, wino);
    const int64_t k0 = d->k[0], s0 = d->stride[0], p0 = d->pad[0];
    const int64_t zback = (p0 + s0 - 1) / s0; /* output planes a slab starts early by */
    const int64_t ihw = d->in[1] * d->in[2], ohw = d->out[1] * d->out[2];
    const int64_t D = d->out[0], Din = d->in[0];
    /* input planes of one slab, at most: from s0 (z0 - zback) to s0 (z1 - 1) - p0 + k0 */
    const int64_t gmax = NNE_MIN(Din, s0 * (nz - 1 + zback) + k0);
    /* result planes per slab: exactly the slab (Winograd) or the slab's volume's outputs */
    nne_conv3d_desc gd;
    const int64_t gin[3] = {gmax, d->in[1], d->in[2]};
    nne_conv3d_desc_init(&gd, d->c_in, d->c_out, gin, d->k, d->stride);
    const int64_t rmax = wino ? nz : gd.out[0];
    const size_t wsb = nne_conv3d_run_ws_bytes(&gd, pw->algo, nne_pool_n_threads(pool));
    if (wsb > f->ws_need) f->ws_need = wsb;
    const size_t wsf = nne_conv3d_run_ws_bytes(d, pw->algo, nne_pool_n_threads(pool));
    if (wsf > f->ws_need) f->ws_need = wsf;
    const int64_t gsh[3] = {gmax, d->in[1], d->in[2]}, rsh[3] = {rmax, d->out[1], d->out[2]};
    const int64_t c_up = up ? up->c : 0;
    float *g = take(f, d->c_in - (wino ? c_up : 0), gsh, "slab input (float32)", level);
    float *r[2] = {take(f, d->c_out, rsh, "slab output (float32)", level),
                   take(f, d->c_out, rsh, "slab output (float32)", level)};
    int64_t pmax = 0;
    if (up) {
        pmax = NNE_MIN((gmax + up->s[0] - 1) / up->s[0] + 1, up->pin[0]);
        const int64_t psh[3] = {pmax, up->pin[1], up->pin[2]};
        const int64_t ush[3] = {pmax * up->s[0], d->in[1], d->in[2]};
        up->pbuf = take(f, up->pc, psh, "slab input planes (float32)", level + 1);
        up->ubuf = take(f, up->c, ush, "slab upsampled planes (float32)", level);
    }
    /* binary16 weights of other algorithms are widened a chunk of output channels at a time */
    const int64_t jit_floats = (!wino && pw->packed16) ? jit_chunk_floats(pw) : 0;
    const int64_t jit_sh[3] = {1, 1, jit_floats};
    float *jit = jit_floats ? take(f, 1, jit_sh, "widened weights (float32)", level) : NULL;
    const int64_t stat_sh[3] = {1, 1, 2 * d->c_out};
    double *stats = bw ? (double *)(void *)take(f, 2, stat_sh, "norm statistics", level) : NULL;
    if (f->dry) return;
    if (stats) memset(stats, 0, (size_t)(4 * d->c_out) * sizeof(float));
    double *sum = stats, *sq = stats ? stats + d->c_out : NULL;
    const double t0 = f->prof ? nne_profile_now() : 0.0;
    double t_up = 0.0;
    const int64_t n_slabs = (D + nz - 1) / nz;
    int64_t roff[2] = {0, 0}, rcs[2] = {0, 0}; /* wanted planes' offset and channel stride */
    for (int64_t k = 0; k <= n_slabs; k++) {
        const int64_t z0 = k * nz, z1 = NNE_MIN(D, z0 + nz);
        if (k < n_slabs) {
            const int64_t zs = NNE_MAX((int64_t)0, z0 - zback);
            const int64_t a = s0 * zs, b = NNE_MIN(Din, s0 * (z1 - 1) - p0 + k0);
            NNE_ASSERT(b - a <= gmax);
            nne_conv3d_part parts[2];
            int np = 0;
            int64_t ch = 0; /* channels gathered into g so far */
            if (up) {
                const double tu = f->prof ? nne_profile_now() : 0.0;
                const int64_t su = up->s[0], pa = a / su;
                const int64_t pb = NNE_MIN(up->pin[0], (b + su - 1) / su);
                const int64_t pplane = up->pin[1] * up->pin[2];
                NNE_ASSERT(pb - pa <= pmax);
                h_copy(f, 0, up->pbuf, (pb - pa) * pplane, (const uint16_t *)up->prev16 +
                       pa * pplane, up->pin[0] * pplane, up->pc, (pb - pa) * pplane, NULL, NULL);
                const int64_t pin[3] = {pb - pa, up->pin[1], up->pin[2]};
                nne_convt3d_fwd(pool, kt, up->ubuf, up->pbuf, up->w, up->b, up->pc, up->c, pin,
                                up->s);
                const int64_t ucs = (pb - pa) * su * ihw;
                if (wino) {
                    parts[np++] = (nne_conv3d_part){.src = up->ubuf, .c = up->c, .cs = ucs,
                                                    .z_base = pa * su, .nz = (pb - pa) * su};
                } else {
                    h_copy(f, 1, g, (b - a) * ihw, up->ubuf + (a - pa * su) * ihw, ucs, up->c,
                           (b - a) * ihw, NULL, NULL);
                    ch = up->c;
                }
                if (f->prof) t_up += nne_profile_now() - tu;
            }
            for (int i = up ? 1 : 0; i < n_in; i++) {
                const int64_t icv = Din * ihw;
                if (in[i].f32)
                    h_copy(f, 1, g + ch * (b - a) * ihw, (b - a) * ihw,
                           (const float *)in[i].p + a * ihw, icv, in[i].c, (b - a) * ihw, NULL,
                           NULL);
                else
                    h_copy(f, 0, g + ch * (b - a) * ihw, (b - a) * ihw,
                           (const uint16_t *)in[i].p + a * ihw, icv, in[i].c, (b - a) * ihw,
                           NULL, NULL);
                ch += in[i].c;
            }
            float *rk = r[k % 2];
            if (wino) {
                parts[np++] = (nne_conv3d_part){.src = g, .c = ch, .cs = (b - a) * ihw,
                                                .z_base = a, .nz = b - a};
                nne_conv3d_run_z(pool, kt, rk, parts, np, pw, d, f->ctx->ws, z0, z1);
                roff[k % 2] = 0;
                rcs[k % 2] = (z1 - z0) * ohw;
            } else {
                nne_conv3d_desc sd;
                const int64_t sin[3] = {b - a, d->in[1], d->in[2]};
                nne_conv3d_desc_init(&sd, d->c_in, d->c_out, sin, d->k, d->stride);
                NNE_ASSERT(sd.out[0] <= rmax && z1 - zs <= sd.out[0]);
                if (pw->packed16)
                    run_widened(f, rk, g, pw, &sd, jit, jit_floats);
                else
                    nne_conv3d_run(pool, kt, rk, g, pw, &sd, f->ctx->ws);
                roff[k % 2] = (z0 - zs) * ohw;
                rcs[k % 2] = sd.out[0] * ohw;
            }
        }
        if (k > 0) { /* write back slab k - 1 */
            const int k1 = (int)((k - 1) % 2);
            const int64_t y0 = (k - 1) * nz, y1 = NNE_MIN(D, y0 + nz);
            if (bw)
                h_copy(f, 2, (uint16_t *)out + y0 * ohw, D * ohw, r[k1] + roff[k1], rcs[k1],
                       d->c_out, (y1 - y0) * ohw, sum, sq);
            else
                h_copy(f, 1, (float *)out + y0 * ohw, D * ohw, r[k1] + roff[k1], rcs[k1],
                       d->c_out, (y1 - y0) * ohw, NULL, NULL);
        }
    }
    const double t1 = f->prof ? nne_profile_now() : 0.0;
    if (bw) {
        h_norm_job j = {.kt = kt, .x = out, .nvox = D * ohw, .c = d->c_out, .sum = sum,
                        .sq = sq, .gamma = bw->g, .beta = bw->beta, .eps = f->a->norm_eps,
                        .slope = f->a->leaky_slope};
        nne_pool_run(pool, h_norm_task, &j);
    }
    if (f->prof) {
        if (up) {
            char name[32];
            snprintf(name, sizeof name, "dec%d.up", level);
            nne_profile_convt(f->prof, name, level, up->pc, up->c, up->pin, up->s, t_up);
        }
        prof_block(f, d, bw != NULL, t0 + t_up, t1);
    }
}

static void run_f16(fwd *f, const float *input, const int64_t shape[3], float *logits) {
    const nne_arch *a = f->a;
    const nne_fold_w *w = f->w;
    const int S = a->n_stages;
    uint16_t *skip[NNE_MAX_STAGES] = {0};
    size_t mark[NNE_MAX_STAGES] = {0};
    int64_t lvl[NNE_MAX_STAGES][3];
    h_part x = {.p = input, .f32 = 1, .c = a->n_in};
    int64_t sh[3] = {shape[0], shape[1], shape[2]};
    for (int s = 0; s < S; s++) {
        const int64_t F = a->features[s];
        nne_arch_stage_shape(a, s, shape, lvl[s]);
        skip[s] = (uint16_t *)(void *)take_e(f, F, lvl[s], 2, s < S - 1 ? "skip (binary16)" :
                                             "bottleneck output (binary16)", s);
        mark[s] = nne_arena_mark(f->arena);
        for (int j = 0; j < a->n_conv[s]; j++) {
            const nne_block_w *bw = &w->enc[s][j];
            nne_conv3d_desc d;
            nne_conv3d_desc_init(&d, j ? F : x.c, F, j ? lvl[s] : sh, a->kernel[s],
                                 j ? one3 : a->stride[s]);
            const h_part in = j ? (h_part){.p = skip[s], .f32 = 0, .c = F} : x;
            prof_at(f, "enc", s, j);
            conv16(f, skip[s], &in, 1, NULL, &d, &bw->conv, bw, s);
            nne_arena_pop(f->arena, mark[s]);
        }
        x = (h_part){.p = skip[s], .f32 = 0, .c = F};
        memcpy(sh, lvl[s], sizeof sh);
    }
    const uint16_t *prev = skip[S - 1];
    int64_t prev_c = a->features[S - 1];
    for (int s = 0; s < S - 1; s++) {
        const int L = S - 2 - s;
        const int64_t F = a->features[L];
        for (int j = 0; j < a->n_conv_dec[s]; j++) {
            const nne_block_w *bw = &w->dec[s][j];
            nne_conv3d_desc d;
            nne_conv3d_desc_init(&d, j ? F : 2 * F, F, lvl[L], a->kernel[L], one3);
            prof_at(f, "dec", L, j);
            if (j == 0) {
                upsample up = {.prev16 = prev, .pc = prev_c, .s = a->stride[L + 1],
                               .w = w->tw[s], .b = w->tb[s], .c = F};
                memcpy(up.pin, lvl[L + 1], sizeof up.pin);
                const h_part in[2] = {{.c = F}, {.p = skip[L], .f32 = 0, .c = F}};
                conv16(f, skip[L], in, 2, &up, &d, &bw->conv, bw, L);
            } else {
                const h_part in = {.p = skip[L], .f32 = 0, .c = F};
                conv16(f, skip[L], &in, 1, NULL, &d, &bw->conv, bw, L);
            }
            nne_arena_pop(f->arena, mark[L]); /* frees deeper levels and the slabs */
        }
        prev = skip[L];
        prev_c = F;
    }
    prof_at(f, "seg", 0, -1);
    nne_conv3d_desc d;
    nne_conv3d_desc_init(&d, prev_c, a->n_classes, lvl[0], one3, one3);
    const h_part in = {.p = prev, .f32 = 0, .c = prev_c};
    conv16(f, logits, &in, 1, NULL, &d, &w->seg, NULL, 0);
}

nne_status nne_model_forward(nne_ctx *ctx, const nne_model *m, int fold, const float *input,
                             const int64_t shape[3], float *logits) {
    nne_clear_error(ctx);
    if (fold < 0 || fold >= m->n_folds)
        return nne_fail(ctx, NNE_ERR_ARG, "fold index %d out of range (model has %d)", fold,
                        m->n_folds);
    if (!input || !logits) return nne_fail(ctx, NNE_ERR_ARG, "NULL input or output");
    int64_t ts[3];
    nne_arch_total_stride(&m->arch, ts);
    for (int x = 0; x < 3; x++) {
        if (shape[x] < 1 || shape[x] % ts[x] != 0 || shape[x] > (1 << 20))
            return nne_fail(ctx, NNE_ERR_SHAPE,
                            "input shape %lldx%lldx%lld: axis %d must be a positive multiple of "
                            "the network's total stride %lld",
                            (long long)shape[0], (long long)shape[1], (long long)shape[2], x,
                            (long long)ts[x]);
    }
    /* Dry run: size the arena and the conv workspace. */
    nne_arena probe = {0};
    fwd f = {.ctx = ctx, .a = &m->arch, .w = &m->folds[fold], .arena = &probe, .dry = 1};
    void (*const run_fn)(fwd *, const float *, const int64_t *, float *) =
        m->f16 ? run_f16 : run;
    run_fn(&f, input, shape, logits);
    size_t need = probe.peak;
    if (ctx->arena.size < need) {
        nne_arena_free(&ctx->arena);
        if (nne_arena_init(&ctx->arena, need))
            return nne_fail(ctx, NNE_ERR_NOMEM, "cannot allocate %zu bytes of activations", need);
    }
    if (ctx->ws_size < f.ws_need) {
        nne_free(ctx->ws);
        ctx->ws = nne_malloc(f.ws_need);
        ctx->ws_size = ctx->ws ? f.ws_need : 0;
        if (!ctx->ws)
            return nne_fail(ctx, NNE_ERR_NOMEM, "cannot allocate %zu bytes of workspace",
                            f.ws_need);
    }
    nne_arena_reset(&ctx->arena);
    ctx->arena.peak = 0;
    f.arena = &ctx->arena;
    f.dry = 0;
    f.prof = ctx->profile;
    if (f.prof) f.prof->n = 0;
    run_fn(&f, input, shape, logits);
    ctx->peak_bytes = ctx->arena.peak + ctx->ws_size;
    return NNE_OK;
}

nne_status nne_model_memplan(nne_ctx *ctx, const nne_model *m, const int64_t shape[3],
                             nne_memplan *plan) {
    int64_t ts[3];
    nne_arch_total_stride(&m->arch, ts);
    for (int x = 0; x < 3; x++)
        if (shape[x] < 1 || shape[x] % ts[x] != 0)
            return nne_fail(ctx, NNE_ERR_SHAPE, "axis %d of the shape is not a multiple of the "
                            "total stride %lld", x, (long long)ts[x]);
    memset(plan, 0, sizeof *plan);
    nne_arena probe = {0};
    fwd f = {.ctx = ctx, .a = &m->arch, .w = &m->folds[0], .arena = &probe, .dry = 1, .plan = plan};
    static const float dummy_in[1];
    float dummy_out[1];
    (m->f16 ? run_f16 : run)(&f, dummy_in, shape, dummy_out);
    plan->arena_peak = probe.peak;
    plan->workspace = f.ws_need;
    plan->prepared = m->prep_bytes;
    return NNE_OK;
}
