/*
 * onnx_export.c - one fold of a loaded model as an ONNX file that ONNX Runtime, TensorRT and
 * nnedge itself run the same way (specified in docs/ONNX.md).
 *
 * DESIGN
 * The graph mirrors the forward pass of src/model.c node for node: encoder blocks Conv ->
 * InstanceNormalization -> LeakyRelu (the first conv of a stage strided), decoder
 * ConvTranspose (kernel = stride) -> Concat[upsampled, skip] -> blocks, and the 1x1x1 seg head
 * of the highest resolution only (deep supervision off), optionally followed by Softmax over
 * the classes. Node and value names are nnU-Net's module paths and the initializers carry its
 * state_dict keys, so a graph can be read against the checkpoint it came from.
 *
 * FP16: weights and biases of the convolutions are float16, activations between them too,
 * but every InstanceNormalization gets float32 input, scale and bias (a Cast before it, one
 * after the activation): its mean and variance over a whole volume are exactly what float16
 * cannot hold, the failure behind all-black FP16 engines. The graph input and output stay
 * float32.
 *
 * The protobuf is written in two passes over the same walk: nodes first, then initializers
 * (field order of GraphProto), so no tensor is copied twice. Fields are written with the
 * shortest encodings, in field number order except that ModelProto.graph comes last: a file
 * cut anywhere then always loses part of the graph, which every reader detects (a cut between
 * top-level fields is otherwise invisible in protobuf). Nothing depends on time or addresses:
 * the same model and parameters give the same bytes.
 * ref: onnx/onnx.proto; onnx/docs/Operators.md; onnx/docs/Versioning.md (IR version per
 *      opset); dynamic_network_architectures/architectures/unet.py (forward order).
 */
#include <cJSON.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "half.h"
#include "json.h"
#include "model.h"
#include "onnx.h"
#include "protobuf.h"

/* Field numbers of onnx.proto used below. */
enum {
    MODEL_IR_VERSION = 1, MODEL_PRODUCER_NAME = 2, MODEL_PRODUCER_VERSION = 3,
    MODEL_DOC = 6, MODEL_GRAPH = 7, MODEL_OPSET = 8, MODEL_META = 14,
    OPSET_DOMAIN = 1, OPSET_VERSION = 2,
    ENTRY_KEY = 1, ENTRY_VALUE = 2,
    GRAPH_NODE = 1, GRAPH_NAME = 2, GRAPH_INIT = 5, GRAPH_DOC = 10, GRAPH_INPUT = 11,
    GRAPH_OUTPUT = 12,
    NODE_INPUT = 1, NODE_OUTPUT = 2, NODE_NAME = 3, NODE_OP = 4, NODE_ATTR = 5,
    ATTR_NAME = 1, ATTR_F = 2, ATTR_I = 3, ATTR_S = 4, ATTR_INTS = 8, ATTR_TYPE = 20,
    TENSOR_DIMS = 1, TENSOR_TYPE = 2, TENSOR_NAME = 8, TENSOR_RAW = 9,
    VALUE_NAME = 1, VALUE_TYPE = 2, VALUE_DOC = 3,
    TYPE_TENSOR = 1, TTYPE_ELEM = 1, TTYPE_SHAPE = 2, SHAPE_DIM = 1, DIM_VALUE = 1,
    DIM_PARAM = 2
};

nne_onnx_export_params nne_onnx_export_default_params(void) {
    nne_onnx_export_params p;
    memset(&p, 0, sizeof p);
    p.opset = NNE_ONNX_OPSET_DEFAULT;
    return p;
}

/* IR version that goes with an opset (onnx/docs/Versioning.md). */
static int64_t ir_for_opset(int opset) {
    if (opset <= 14) return 7;
    if (opset <= 18) return 8;
    if (opset <= 20) return 9;
    return 10;
}

enum { PASS_NODES, PASS_INITS };

typedef struct emit {
    nne_pb_buf *b;
    int pass;
    int fp16;
    const nne_arch *a;
    const nne_fold_w *w;
} emit;

/* ---------------------------------------------------------------------------------------- */
/* Nodes                                                                                     */
/* ---------------------------------------------------------------------------------------- */

typedef struct attr_spec {
    const char *name;
    int type;         /* NNE_ONNX_ATTR_*      */
    int64_t i;
    float f;
    const char *s;
    int n;            /* INTS count            */
    int64_t ints[6];
} attr_spec;

static void put_attr(nne_pb_buf *b, const attr_spec *a) {
    size_t mk = nne_pb_begin(b, NODE_ATTR);
    nne_pb_str(b, ATTR_NAME, a->name);
    if (a->type == NNE_ONNX_ATTR_FLOAT) nne_pb_float(b, ATTR_F, a->f);
    if (a->type == NNE_ONNX_ATTR_INT) nne_pb_int(b, ATTR_I, a->i);
    if (a->type == NNE_ONNX_ATTR_STRING) nne_pb_str(b, ATTR_S, a->s);
    for (int k = 0; a->type == NNE_ONNX_ATTR_INTS && k < a->n; k++)
        nne_pb_int(b, ATTR_INTS, a->ints[k]);
    nne_pb_uint(b, ATTR_TYPE, (uint64_t)a->type);
    nne_pb_end(b, mk);
}

static void node(emit *e, const char *op, const char *name, const char *const *in, int n_in,
                 const char *out, const attr_spec *attrs, int n_attrs) {
    if (e->pass != PASS_NODES) return;
    nne_pb_buf *b = e->b;
    size_t mk = nne_pb_begin(b, GRAPH_NODE);
    for (int i = 0; i < n_in; i++) nne_pb_str(b, NODE_INPUT, in[i]);
    nne_pb_str(b, NODE_OUTPUT, out);
    nne_pb_str(b, NODE_NAME, name);
    nne_pb_str(b, NODE_OP, op);
    for (int i = 0; i < n_attrs; i++) put_attr(b, &attrs[i]);
    nne_pb_end(b, mk);
}

static void cast(emit *e, const char *in, const char *out, int to) {
    attr_spec at = {"to", NNE_ONNX_ATTR_INT, to, 0.0f, NULL, 0, {0}};
    node(e, "Cast", out, &in, 1, out, &at, 1);
}

/* ---------------------------------------------------------------------------------------- */
/* Initializers                                                                              */
/* ---------------------------------------------------------------------------------------- */

/* A float32 (or, with f16, float16) initializer of `n` values; NULL data means constant `fill`
 * (the affine parameters of a non-affine norm). */
static void init(emit *e, const char *name, int ndim, const int64_t *dims, const float *data,
                 float fill, int f16) {
    if (e->pass != PASS_INITS) return;
    nne_pb_buf *b = e->b;
    int64_t n = 1;
    for (int d = 0; d < ndim; d++) n *= dims[d];
    size_t mk = nne_pb_begin(b, GRAPH_INIT);
    for (int d = 0; d < ndim; d++) nne_pb_int(b, TENSOR_DIMS, dims[d]);
    nne_pb_uint(b, TENSOR_TYPE, f16 ? NNE_ONNX_FLOAT16 : NNE_ONNX_FLOAT);
    nne_pb_str(b, TENSOR_NAME, name);
    size_t rk = nne_pb_begin(b, TENSOR_RAW);
    unsigned char tmp[4096];
    size_t t = 0;
    for (int64_t i = 0; i < n; i++) {
        float v = data ? data[i] : fill;
        if (f16) {
            uint16_t h = nne_f32_to_f16(v);
            tmp[t++] = (unsigned char)h;
            tmp[t++] = (unsigned char)(h >> 8);
        } else {
            uint32_t bits;
            memcpy(&bits, &v, sizeof bits);
            for (int k = 0; k < 4; k++) tmp[t++] = (unsigned char)(bits >> (8 * k));
        }
        if (t == sizeof tmp) {
            nne_pb_raw(b, tmp, t);
            t = 0;
        }
    }
    nne_pb_raw(b, tmp, t);
    nne_pb_end(b, rk);
    nne_pb_end(b, mk);
}

/* ---------------------------------------------------------------------------------------- */
/* Network                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static void conv_attrs(attr_spec *at, const int k[3], const int stride[3]) {
    at[0] = (attr_spec){"kernel_shape", NNE_ONNX_ATTR_INTS, 0, 0.0f, NULL, 3,
                        {k[0], k[1], k[2]}};
    at[1] = (attr_spec){"pads", NNE_ONNX_ATTR_INTS, 0, 0.0f, NULL, 6,
                        {k[0] / 2, k[1] / 2, k[2] / 2, k[0] / 2, k[1] / 2, k[2] / 2}};
    at[2] = (attr_spec){"strides", NNE_ONNX_ATTR_INTS, 0, 0.0f, NULL, 3,
                        {stride[0], stride[1], stride[2]}};
}

/* One Conv -> InstanceNormalization -> activation block; returns its output name in out. */
static void block(emit *e, const char *prefix, const char *in, int64_t cin, int64_t cout,
                  const int k[3], const int stride[3], const nne_block_w *bw, char *out,
                  size_t out_n) {
    const nne_arch *a = e->a;
    char conv[128], convf[140], norm[128], act[128], wn[160], bn[160], gn[160], betan[160];
    snprintf(conv, sizeof conv, "%s.conv", prefix);
    snprintf(convf, sizeof convf, "%s.conv.fp32", prefix);
    snprintf(norm, sizeof norm, "%s.norm", prefix);
    snprintf(act, sizeof act, "%s.nonlin", prefix);
    snprintf(wn, sizeof wn, "%s.conv.weight", prefix);
    snprintf(bn, sizeof bn, "%s.conv.bias", prefix);
    snprintf(gn, sizeof gn, "%s.norm.weight", prefix);
    snprintf(betan, sizeof betan, "%s.norm.bias", prefix);

    const char *cin_names[3] = {in, wn, bn};
    attr_spec at[3];
    conv_attrs(at, k, stride);
    node(e, "Conv", conv, cin_names, a->conv_bias ? 3 : 2, conv, at, 3);
    int64_t wd[5] = {cout, cin, k[0], k[1], k[2]};
    init(e, wn, 5, wd, bw->w, 0.0f, e->fp16);
    if (a->conv_bias) init(e, bn, 1, &cout, bw->b, 0.0f, e->fp16);

    const char *nin = conv;
    if (e->fp16) {
        cast(e, conv, convf, NNE_ONNX_FLOAT);
        nin = convf;
    }
    const char *nin_names[3] = {nin, gn, betan};
    attr_spec eps = {"epsilon", NNE_ONNX_ATTR_FLOAT, 0, (float)a->norm_eps, NULL, 0, {0}};
    node(e, "InstanceNormalization", norm, nin_names, 3, norm, &eps, 1);
    init(e, gn, 1, &cout, a->norm_affine ? bw->g : NULL, 1.0f, 0);
    init(e, betan, 1, &cout, a->norm_affine ? bw->beta : NULL, 0.0f, 0);

    const char *ain = norm;
    if (a->leaky_slope == 0.0f) {
        node(e, "Relu", act, &ain, 1, act, NULL, 0);
    } else {
        attr_spec alpha = {"alpha", NNE_ONNX_ATTR_FLOAT, 0, a->leaky_slope, NULL, 0, {0}};
        node(e, "LeakyRelu", act, &ain, 1, act, &alpha, 1);
    }
    if (e->fp16) {
        snprintf(out, out_n, "%s.nonlin.fp16", prefix);
        cast(e, act, out, NNE_ONNX_FLOAT16);
    } else {
        snprintf(out, out_n, "%s", act);
    }
}

/* The whole network; `output` is the graph output's name. */
static void network(emit *e, int softmax, const char *output) {
    const nne_arch *a = e->a;
    const nne_fold_w *w = e->w;
    const int S = a->n_stages;
    static const int one3[3] = {1, 1, 1};
    char x[160], skip[NNE_MAX_STAGES][160], prefix[96], name[160];

    snprintf(x, sizeof x, "input");
    if (e->fp16) {
        cast(e, "input", "input.fp16", NNE_ONNX_FLOAT16);
        snprintf(x, sizeof x, "input.fp16");
    }
    int64_t cin = a->n_in;
    for (int s = 0; s < S; s++) {
        for (int j = 0; j < a->n_conv[s]; j++) {
            snprintf(prefix, sizeof prefix, "encoder.stages.%d.0.convs.%d", s, j);
            char in[160];
            snprintf(in, sizeof in, "%s", x);
            block(e, prefix, in, cin, a->features[s], a->kernel[s], j == 0 ? a->stride[s] : one3,
                  &w->enc[s][j], x, sizeof x);
            cin = a->features[s];
        }
        snprintf(skip[s], sizeof skip[s], "%s", x);
    }
    for (int d = 0; d < S - 1; d++) {
        const int L = S - 2 - d;
        const int64_t F = a->features[L];
        const int *st = a->stride[L + 1];
        char up[96], wn[128], bn[128], cat[96];
        snprintf(up, sizeof up, "decoder.transpconvs.%d", d);
        snprintf(wn, sizeof wn, "decoder.transpconvs.%d.weight", d);
        snprintf(bn, sizeof bn, "decoder.transpconvs.%d.bias", d);
        const char *tin[3] = {x, wn, bn};
        attr_spec at[2] = {
            {"kernel_shape", NNE_ONNX_ATTR_INTS, 0, 0.0f, NULL, 3, {st[0], st[1], st[2]}},
            {"strides", NNE_ONNX_ATTR_INTS, 0, 0.0f, NULL, 3, {st[0], st[1], st[2]}}};
        node(e, "ConvTranspose", up, tin, 3, up, at, 2);
        int64_t wd[5] = {cin, F, st[0], st[1], st[2]};
        init(e, wn, 5, wd, w->tw[d], 0.0f, e->fp16);
        init(e, bn, 1, &F, w->tb[d], 0.0f, e->fp16);

        snprintf(cat, sizeof cat, "decoder.stages.%d.concat", d);
        const char *cin_names[2] = {up, skip[L]};
        attr_spec axis = {"axis", NNE_ONNX_ATTR_INT, 1, 0.0f, NULL, 0, {0}};
        node(e, "Concat", cat, cin_names, 2, cat, &axis, 1);
        snprintf(x, sizeof x, "%s", cat);
        cin = 2 * F;
        for (int j = 0; j < a->n_conv_dec[d]; j++) {
            snprintf(prefix, sizeof prefix, "decoder.stages.%d.convs.%d", d, j);
            char in[160];
            snprintf(in, sizeof in, "%s", x);
            block(e, prefix, in, cin, F, a->kernel[L], one3, &w->dec[d][j], x, sizeof x);
            cin = F;
        }
    }
    /* Highest-resolution seg head. */
    char seg[96], wn[128], bn[128];
    snprintf(seg, sizeof seg, "decoder.seg_layers.%d", S - 2);
    snprintf(wn, sizeof wn, "decoder.seg_layers.%d.weight", S - 2);
    snprintf(bn, sizeof bn, "decoder.seg_layers.%d.bias", S - 2);
    const int64_t K = a->n_classes;
    const char *sin_names[3] = {x, wn, bn};
    attr_spec at[3];
    conv_attrs(at, one3, one3);
    const char *seg_out = (e->fp16 || softmax) ? seg : output;
    node(e, "Conv", seg, sin_names, 3, seg_out, at, 3);
    int64_t wd[5] = {K, cin, 1, 1, 1};
    init(e, wn, 5, wd, w->sw[S - 2], 0.0f, e->fp16);
    init(e, bn, 1, &K, w->sb[S - 2], 0.0f, e->fp16);
    const char *y = seg_out;
    if (e->fp16) {
        const char *c = softmax ? "decoder.seg_layers.fp32" : output;
        snprintf(name, sizeof name, "%s", c);
        cast(e, seg_out, name, NNE_ONNX_FLOAT);
        y = name;
    }
    if (softmax) {
        attr_spec axis = {"axis", NNE_ONNX_ATTR_INT, 1, 0.0f, NULL, 0, {0}};
        node(e, "Softmax", "softmax", &y, 1, output, &axis, 1);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Value infos and metadata                                                                  */
/* ---------------------------------------------------------------------------------------- */

static void value_info(nne_pb_buf *b, uint32_t field, const char *name, int64_t c,
                       const int64_t sp[3], int dynamic, const char *doc) {
    static const char *const sym[4] = {"batch", "depth", "height", "width"};
    size_t mk = nne_pb_begin(b, field);
    nne_pb_str(b, VALUE_NAME, name);
    size_t tk = nne_pb_begin(b, VALUE_TYPE);
    size_t tt = nne_pb_begin(b, TYPE_TENSOR);
    nne_pb_uint(b, TTYPE_ELEM, NNE_ONNX_FLOAT);
    size_t sk = nne_pb_begin(b, TTYPE_SHAPE);
    for (int d = 0; d < 5; d++) {
        size_t dk = nne_pb_begin(b, SHAPE_DIM);
        if (d == 1) nne_pb_int(b, DIM_VALUE, c);
        else if (dynamic) nne_pb_str(b, DIM_PARAM, sym[d == 0 ? 0 : d - 1]);
        else nne_pb_int(b, DIM_VALUE, d == 0 ? 1 : sp[d - 2]);
        nne_pb_end(b, dk);
    }
    nne_pb_end(b, sk);
    nne_pb_end(b, tt);
    nne_pb_end(b, tk);
    if (doc) nne_pb_str(b, VALUE_DOC, doc);
    nne_pb_end(b, mk);
}

static void meta(nne_pb_buf *b, const char *key, const char *value) {
    size_t mk = nne_pb_begin(b, MODEL_META);
    nne_pb_str(b, ENTRY_KEY, key);
    nne_pb_str(b, ENTRY_VALUE, value);
    nne_pb_end(b, mk);
}

/* A metadata entry holding `item` as JSON (skipped if item is NULL). Returns -1 on OOM. */
static int meta_json(nne_pb_buf *b, const char *key, const cJSON *item) {
    if (!item) return 0;
    char *t = cJSON_PrintUnformatted(item);
    if (!t) return -1;
    meta(b, key, t);
    free(t);
    return 0;
}

static int meta_ints(nne_pb_buf *b, const char *key, const int64_t *v, int n) {
    char t[200];
    size_t o = (size_t)snprintf(t, sizeof t, "[");
    for (int i = 0; i < n; i++)
        o += (size_t)snprintf(t + o, sizeof t - o, "%s%lld", i ? ", " : "", (long long)v[i]);
    snprintf(t + o, sizeof t - o, "]");
    meta(b, key, t);
    return 0;
}

/* The pipeline description of the model's header as metadata_props (docs/ONNX.md). */
static nne_status write_meta(nne_ctx *ctx, nne_pb_buf *b, const nne_model *m,
                             const nne_onnx_export_params *p, int softmax) {
    const cJSON *h = m->header;
    const cJSON *plans = cJSON_GetObjectItemCaseSensitive(h, "plans");
    const cJSON *cfgn = cJSON_GetObjectItemCaseSensitive(h, "configuration");
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(h, "dataset");
    cJSON *cfg = NULL;
    nne_status st = NNE_OK;
    if (!cJSON_IsString(cfgn) ||
        (st = nne_plans_resolve(ctx, plans, cfgn->valuestring, "model header", &cfg)))
        return st ? st : nne_fail(ctx, NNE_ERR_FORMAT, "model header: no configuration");
    int64_t ts[3];
    nne_arch_total_stride(&m->arch, ts);
    int bad = 0;
    meta(b, "nnedge.version", NNE_VERSION_STRING);
    meta(b, "nnedge.fold", m->fold_names[p->fold]);
    meta(b, "nnedge.output", softmax ? "probabilities" : "logits");
    meta(b, "nnedge.precision", p->fp16 ? "fp16" : "fp32");
    bad |= meta_ints(b, "nnedge.total_stride", ts, 3);
    meta(b, "nnunet.configuration", cfgn->valuestring);
    const cJSON *dn = cJSON_GetObjectItemCaseSensitive(plans, "dataset_name");
    if (cJSON_IsString(dn)) meta(b, "nnunet.dataset_name", dn->valuestring);
    bad |= meta_ints(b, "nnunet.patch_size", m->patch, 3);
    static const char *const cfg_keys[] = {"spacing", "normalization_schemes",
                                           "use_mask_for_norm", "resampling_fn_data_kwargs",
                                           "resampling_fn_seg_kwargs",
                                           "resampling_fn_probabilities_kwargs", NULL};
    char key[96];
    for (int k = 0; cfg_keys[k]; k++) {
        snprintf(key, sizeof key, "nnunet.%s", cfg_keys[k]);
        bad |= meta_json(b, key, cJSON_GetObjectItemCaseSensitive(cfg, cfg_keys[k]));
    }
    bad |= meta_json(b, "nnunet.transpose_forward",
                     cJSON_GetObjectItemCaseSensitive(plans, "transpose_forward"));
    bad |= meta_json(b, "nnunet.transpose_backward",
                     cJSON_GetObjectItemCaseSensitive(plans, "transpose_backward"));
    const cJSON *fip =
        cJSON_GetObjectItemCaseSensitive(plans, "foreground_intensity_properties_per_channel");
    if (!fip) /* the legacy key */
        fip = cJSON_GetObjectItemCaseSensitive(plans,
                                               "foreground_intensity_properties_by_modality");
    bad |= meta_json(b, "nnunet.foreground_intensity_properties_per_channel", fip);
    const cJSON *chn = cJSON_GetObjectItemCaseSensitive(ds, "channel_names");
    if (!chn) chn = cJSON_GetObjectItemCaseSensitive(ds, "modality");
    bad |= meta_json(b, "nnunet.channel_names", chn);
    bad |= meta_json(b, "nnunet.labels", cJSON_GetObjectItemCaseSensitive(ds, "labels"));
    const cJSON *fe = cJSON_GetObjectItemCaseSensitive(ds, "file_ending");
    if (cJSON_IsString(fe)) meta(b, "nnunet.file_ending", fe->valuestring);
    const cJSON *mir = cJSON_GetObjectItemCaseSensitive(h, "mirroring_axes");
    if (mir) bad |= meta_json(b, "nnunet.mirroring_axes", mir);
    else meta(b, "nnunet.mirroring_axes", "null");
    cJSON_Delete(cfg);
    return bad ? nne_fail(ctx, NNE_ERR_NOMEM, "out of memory") : NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry point                                                                               */
/* ---------------------------------------------------------------------------------------- */

static nne_status write_file(nne_ctx *ctx, const char *path, const void *data, size_t len) {
    size_t pl = strlen(path);
    char *tmp = malloc(pl + 16);
    if (!tmp) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        nne_status st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot create temporary file: %s", path,
                                 strerror(errno));
        free(tmp);
        return st;
    }
    FILE *f = fdopen(fd, "wb");
    int bad = !f;
    if (!f) close(fd);
    bad = bad || fwrite(data, 1, len, f) != len || fflush(f) || fsync(fileno(f));
    if (f && fclose(f)) bad = 1;
    if (bad || chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        nne_status st = nne_fail(ctx, NNE_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        unlink(tmp);
        free(tmp);
        return st;
    }
    free(tmp);
    return NNE_OK;
}

nne_status nne_onnx_export(nne_ctx *ctx, const nne_model *m, const nne_onnx_export_params *params,
                           const char *out_path) {
    nne_clear_error(ctx);
    nne_onnx_export_params p = params ? *params : nne_onnx_export_default_params();
    if (!m || !out_path) return nne_fail(ctx, NNE_ERR_ARG, "no model or output path");
    if (p.fold < 0 || p.fold >= m->n_folds)
        return nne_fail(ctx, NNE_ERR_ARG, "fold index %d out of range (model has %d)", p.fold,
                        m->n_folds);
    if (p.opset < NNE_ONNX_OPSET_MIN || p.opset > NNE_ONNX_OPSET_MAX)
        return nne_fail(ctx, NNE_ERR_ARG, "opset %d is not supported (%d..%d)", p.opset,
                        NNE_ONNX_OPSET_MIN, NNE_ONNX_OPSET_MAX);
    int given = p.shape[0] || p.shape[1] || p.shape[2];
    if (p.dynamic && given)
        return nne_fail(ctx, NNE_ERR_ARG, "a fixed shape and dynamic axes exclude each other");
    int64_t sp[3], ts[3];
    nne_arch_total_stride(&m->arch, ts);
    for (int x = 0; x < 3; x++) {
        sp[x] = given ? p.shape[x] : m->patch[x];
        if (!p.dynamic && (sp[x] < 1 || sp[x] > (1 << 16) || sp[x] % ts[x]))
            return nne_fail(ctx, NNE_ERR_SHAPE,
                            "shape %lldx%lldx%lld: axis %d must be a positive multiple of the "
                            "network's total stride %lld", (long long)sp[0], (long long)sp[1],
                            (long long)sp[2], x, (long long)ts[x]);
    }
    const char *output = p.softmax ? "probabilities" : "logits";
    nne_pb_buf b = {0};
    nne_status st;

    nne_pb_int(&b, MODEL_IR_VERSION, ir_for_opset(p.opset));
    nne_pb_str(&b, MODEL_PRODUCER_NAME, "nnedge");
    nne_pb_str(&b, MODEL_PRODUCER_VERSION, NNE_VERSION_STRING);
    char doc[512];
    snprintf(doc, sizeof doc,
             "nnU-Net v2 PlainConvUNet (fold %s), highest-resolution head; input [N, C, D, H, W] "
             "float32 after nnU-Net preprocessing, output %s [N, K, D, H, W]; %s",
             m->fold_names[p.fold], output,
             p.fp16 ? "float16 convolutions, float32 instance normalization" : "float32");
    nne_pb_str(&b, MODEL_DOC, doc);

    size_t ok = nne_pb_begin(&b, MODEL_OPSET);
    nne_pb_str(&b, OPSET_DOMAIN, "");
    nne_pb_int(&b, OPSET_VERSION, p.opset);
    nne_pb_end(&b, ok);
    if ((st = write_meta(ctx, &b, m, &p, p.softmax))) goto done;

    size_t gk = nne_pb_begin(&b, MODEL_GRAPH);
    emit e = {&b, PASS_NODES, p.fp16, &m->arch, &m->folds[p.fold]};
    network(&e, p.softmax, output);
    nne_pb_str(&b, GRAPH_NAME, "PlainConvUNet");
    e.pass = PASS_INITS;
    network(&e, p.softmax, output);
    char in_doc[200];
    snprintf(in_doc, sizeof in_doc, "spatial sizes must be multiples of %lld, %lld, %lld",
             (long long)ts[0], (long long)ts[1], (long long)ts[2]);
    value_info(&b, GRAPH_INPUT, "input", m->arch.n_in, sp, p.dynamic, in_doc);
    value_info(&b, GRAPH_OUTPUT, output, m->arch.n_classes, sp, p.dynamic, NULL);
    nne_pb_end(&b, gk);
    if (b.oom) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory writing the ONNX model");
        goto done;
    }
    if (b.len > 0x7fffffffu) {
        st = nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: %zu bytes exceed protobuf's 2 GB limit",
                      out_path, b.len);
        goto done;
    }
    st = write_file(ctx, out_path, b.data, b.len);
done:
    nne_pb_buf_free(&b);
    return st;
}
