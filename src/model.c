/*
 * model.c - PlainConvUNet inference: loading a `.nne` file and the forward pass.
 *
 * DESIGN
 * The forward pass follows dynamic-network-architectures' PlainConvUNet (deep supervision
 * off): encoder stages of Conv -> InstanceNorm -> LeakyReLU blocks (the first conv of a stage
 * carries the stride), a decoder of transposed conv, concat [upsampled, skip], conv blocks,
 * and the 1x1x1 seg head of the highest resolution.
 *
 * Memory is a stack discipline on one arena: for every resolution level but the bottleneck the
 * decoder's concat buffer [2F, level] is allocated before the encoder reaches that level, and
 * the encoder writes its skip output directly into the buffer's second half, so no concat copy
 * exists. The decoder writes the transposed conv into the first half and then frees everything
 * above the buffer. Decoder convs ping-pong between one temporary and that first half (the
 * concat input is dead after the first conv). A dry run with the same code computes the
 * arena's peak before the real run, so the compute path cannot fail (STYLE 3.4).
 *
 * Convolution weights are prepared once at load (prepare_convs): every conv is assigned its
 * algorithm (nne_conv3d_algo_pick at the plans' patch size: Winograd for the large stride-1
 * 3x3x3 layers, im2col + packed GEMM for the other 3x3x3 layers, direct otherwise, a GEMM for
 * the seg head) and its weights are
 * packed or transformed into one model-owned block, so a forward never repacks weights; the
 * mapped originals of those weights are then released from the resident set
 * (nne_weights_release), so the prepared copy does not double their memory.
 * ref: dynamic_network_architectures/architectures/unet.py PlainConvUNet.forward;
 *      building_blocks/unet_decoder.py UNetDecoder.forward (torch.cat((x, skip), 1)).
 */
#include "model.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "alloc.h"
#include "ctx.h"
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

/* Walks every convolution of every fold in forward order with its geometry at the plans'
 * patch size. Without `mem` it only adds up the prepared bytes; with it, it prepares each
 * layer's weights into consecutive slices of `mem`. */
static size_t prepare_convs(nne_ctx *ctx, nne_model *m, unsigned char *mem) {
    const nne_arch *a = &m->arch;
    const int S = a->n_stages;
    const int wino = ctx ? ctx->wino : 1;
    nne_pool *pool = ctx ? ctx->pool : NULL;
    static const int one[3] = {1, 1, 1};
    int64_t lvl[NNE_MAX_STAGES][3];
    for (int s = 0; s < S; s++) nne_arch_stage_shape(a, s, m->patch, lvl[s]);
    size_t off = 0;
    for (int fo = 0; fo < m->n_folds; fo++) {
        nne_fold_w *fw = &m->folds[fo];
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
                const nne_conv3d_algo algo = nne_conv3d_algo_pick(&d, wino);
                if (mem && fo == 0)
                    nne_log(NNE_LOG_LEVEL_DEBUG, "%s stage %d conv %d: %lld -> %lld, %s", enc ?
                            "encoder" : "decoder", s, j, (long long)cin, (long long)F,
                            algo == NNE_CONV3D_WINO    ? "winograd F(2x2x2)"
                            : algo == NNE_CONV3D_WINO4  ? "winograd F(4x4x2)"
                            : algo == NNE_CONV3D_IM2COL ? "im2col + packed GEMM"
                                                        : "direct");
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
    m->prep_bytes = prepare_convs(ctx, m, NULL);
    m->prep = nne_malloc(m->prep_bytes);
    if (!m->prep) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: cannot allocate %zu bytes of prepared weights",
                      label, m->prep_bytes);
        goto fail;
    }
    prepare_convs(ctx, m, m->prep);
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
    int n_obs;        /* real run: convs passed to ctx->observe so far (ctx.h) */
} fwd;

static unsigned char dry_dummy[NNE_ALIGN];

static float *take(fwd *f, int64_t c, const int64_t sh[3], const char *what, int level) {
    size_t bytes = (size_t)(c * sh[0] * sh[1] * sh[2]) * sizeof(float);
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
    size_t ws = nne_conv3d_run_ws_bytes(&d, pw->algo, nne_pool_n_threads(pool));
    if (ws > f->ws_need) f->ws_need = ws;
    if (f->dry) return;
    const nne_kernels *kt = f->ctx->kernels;
    const double t0 = f->prof ? nne_profile_now() : 0.0;
    nne_conv3d_run(pool, kt, dst, src, pw, &d, f->ctx->ws);
    const double t1 = f->prof ? nne_profile_now() : 0.0;
    if (norm)
        nne_instnorm_fwd(pool, kt, dst, g, beta, cout, d.out[0] * d.out[1] * d.out[2],
                         f->a->norm_eps, 1, f->a->leaky_slope);
    if (f->prof) prof_block(f, &d, norm, t0, t1);
}

static const int one3[3] = {1, 1, 1};

static void run(fwd *f, const float *input, const int64_t shape[3], float *logits) {
    const nne_arch *a = f->a;
    const nne_fold_w *w = f->w;
    const int S = a->n_stages;
    float *cat[NNE_MAX_STAGES];       /* [2 F_s, level s]: [upsampled, skip]    */
    size_t cat_mark[NNE_MAX_STAGES];  /* arena position right after cat[s]      */
    int64_t lvl[NNE_MAX_STAGES][3];   /* spatial shape of each level            */
    int64_t o[3];

    /* Encoder. */
    const float *x = input;
    int64_t xc = a->n_in, sh[3] = {shape[0], shape[1], shape[2]};
    float *bott = NULL;
    for (int s = 0; s < S; s++) {
        const int64_t F = a->features[s];
        nne_arch_stage_shape(a, s, shape, lvl[s]);
        float *final;
        if (s < S - 1) {
            cat[s] = take(f, 2 * F, lvl[s], "concat [upsampled, skip]", s);
            cat_mark[s] = nne_arena_mark(f->arena);
            final = f->dry ? cat[s] : cat[s] + F * lvl[s][0] * lvl[s][1] * lvl[s][2];
        } else {
            cat_mark[s] = nne_arena_mark(f->arena);
            final = bott = take(f, F, lvl[s], "bottleneck output", s);
        }
        size_t mark = nne_arena_mark(f->arena);
        const int n = a->n_conv[s];
        float *t = n > 1 ? take(f, F, lvl[s], "encoder temporary", s) : NULL;
        const float *src = x;
        int64_t cin = xc, in_sh[3] = {sh[0], sh[1], sh[2]};
        for (int j = 0; j < n; j++) {
            float *dst = ((n - 1 - j) % 2 == 0) ? final : t;
            const nne_block_w *bw = &w->enc[s][j];
            prof_at(f, "enc", s, j);
            conv_block(f, dst, src, cin, in_sh, F, a->kernel[s], j == 0 ? a->stride[s] : one3,
                       &bw->conv, bw->g, bw->beta, 1, o);
            NNE_ASSERT(o[0] == lvl[s][0] && o[1] == lvl[s][1] && o[2] == lvl[s][2]);
            src = dst;
            cin = F;
            memcpy(in_sh, lvl[s], sizeof in_sh);
        }
        nne_arena_pop(f->arena, mark);
        x = final;
        xc = F;
        memcpy(sh, lvl[s], sizeof sh);
    }

    /* Decoder: s = 0 is the lowest resolution, writing into level L = S - 2 - s. */
    const float *prev = bott;
    int64_t prev_c = a->features[S - 1];
    for (int s = 0; s < S - 1; s++) {
        const int L = S - 2 - s;
        const int64_t F = a->features[L];
        const double t_up = f->prof ? nne_profile_now() : 0.0;
        if (!f->dry)
            nne_convt3d_fwd(f->ctx->pool, f->ctx->kernels, cat[L], prev, w->tw[s], w->tb[s], prev_c,
                            F, lvl[L + 1], a->stride[L + 1]);
        if (f->prof) {
            char name[32];
            snprintf(name, sizeof name, "dec%d.up", L);
            nne_profile_convt(f->prof, name, L, prev_c, F, lvl[L + 1], a->stride[L + 1],
                              nne_profile_now() - t_up);
        }
        nne_arena_pop(f->arena, cat_mark[L]); /* frees deeper levels and `prev` */
        float *t = take(f, F, lvl[L], "decoder temporary", L);
        float *half = cat[L]; /* first half of the concat buffer, dead after conv 0 */
        const float *src = cat[L];
        int64_t cin = 2 * F;
        for (int j = 0; j < a->n_conv_dec[s]; j++) {
            float *dst = (j % 2 == 0) ? t : half;
            const nne_block_w *bw = &w->dec[s][j];
            prof_at(f, "dec", L, j);
            conv_block(f, dst, src, cin, lvl[L], F, a->kernel[L], one3, &bw->conv, bw->g,
                       bw->beta, 1, o);
            src = dst;
            cin = F;
        }
        prev = src;
        prev_c = F;
    }
    /* Highest-resolution seg head, straight into the caller's buffer. */
    prof_at(f, "seg", 0, -1);
    conv_block(f, logits, prev, prev_c, lvl[0], a->n_classes, one3, one3, &w->seg, NULL, NULL,
               0, o);
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
    run(&f, input, shape, logits);
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
    run(&f, input, shape, logits);
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
    run(&f, dummy_in, shape, dummy_out);
    plan->arena_peak = probe.peak;
    plan->workspace = f.ws_need;
    plan->prepared = m->prep_bytes;
    return NNE_OK;
}
