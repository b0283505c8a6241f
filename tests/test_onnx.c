/*
 * test_onnx.c - ONNX export and import (src/protobuf.c, src/onnx*.c, nnedge export-onnx).
 *
 * - The protobuf writer against the encoding examples of the protobuf documentation, and the
 *   reader's refusal of malformed bytes (over-long varints, lengths past the end, group and
 *   invalid wire types, field 0).
 * - Round trip: the golden PyTorch models (tests/golden/{iso3,aniso4}) converted to .nne,
 *   exported to ONNX (fixed, dynamic, opset 13 and 21, with Softmax) and read back give a
 *   forward bitwise equal to the .nne model's, and within 1e-4 x range of PyTorch's logits;
 *   `nnedge convert x.onnx` gives the same; the FP16 export stays close; exports are
 *   byte-for-byte deterministic and carry the pipeline metadata back.
 * - PyTorch's own exports (tests/data/onnx, tools/gen_onnx_fixtures.py: the classic and the
 *   dynamo exporter) import and match PyTorch's logits; deep supervision left on is refused.
 * - Hostile files: every truncation of an export, byte flips, wrong wire types, lengths past
 *   the end, a recursion bomb of nested subgraphs, tensor data of the wrong size, external
 *   data, an unsupported operator and a dilated convolution: a clear error naming the place,
 *   never a crash.
 * - The CLI: exit codes, nothing left behind, and `predict` from the ONNX file giving the same
 *   mask as from the .nne file.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_run.h"
#include "json.h"
#include "model.h"
#include "nifti.h"
#include "onnx.h"
#include "protobuf.h"
#include "test.h"

static nne_ctx *ctx;
static char dir[] = "/tmp/nne_test_onnx_XXXXXX";

static float *read_f32(const char *path, int64_t n) {
    size_t len = 0;
    char *b = test_read_file(path, &len);
    if (!b || len != (size_t)n * sizeof(float)) {
        free(b);
        return NULL;
    }
    return (float *)(void *)b;
}

static float *forward(const char *model, int fold, const float *in, const int64_t shape[3],
                      int *n_classes) {
    nne_model *m = NULL;
    nne_status st = nne_model_load(ctx, model, &m);
    TEST_CHECK(st == NNE_OK, "load %s: %s", model, nne_ctx_last_error(ctx));
    if (st != NNE_OK) return NULL;
    int K = nne_model_n_classes(m);
    float *out = calloc((size_t)(K * shape[0] * shape[1] * shape[2]), sizeof *out);
    st = nne_model_forward(ctx, m, fold, in, shape, out);
    TEST_CHECK(st == NNE_OK, "forward %s: %s", model, nne_ctx_last_error(ctx));
    nne_model_free(m);
    if (n_classes) *n_classes = K;
    if (st != NNE_OK) {
        free(out);
        return NULL;
    }
    return out;
}

/* max |a - b| over n values, and the argmax disagreements over K classes. */
static double max_diff(const float *a, const float *b, int64_t n) {
    double d = 0.0;
    for (int64_t i = 0; i < n; i++) d = fmax(d, fabs((double)a[i] - (double)b[i]));
    return d;
}

static int64_t argmax_diff(const float *a, const float *b, int K, int64_t vox) {
    int64_t n = 0;
    for (int64_t v = 0; v < vox; v++) {
        int ia = 0, ib = 0;
        for (int k = 1; k < K; k++) {
            if (a[k * vox + v] > a[ia * vox + v]) ia = k;
            if (b[k * vox + v] > b[ib * vox + v]) ib = k;
        }
        n += ia != ib;
    }
    return n;
}

static double range(const float *a, int64_t n) {
    float lo = a[0], hi = a[0];
    for (int64_t i = 0; i < n; i++) {
        lo = fminf(lo, a[i]);
        hi = fmaxf(hi, a[i]);
    }
    return (double)(hi - lo);
}

/* ---------------------------------------------------------------------------------------- */
/* Protobuf                                                                                  */
/* ---------------------------------------------------------------------------------------- */

static void test_protobuf(void) {
    /* protobuf.dev/programming-guides/encoding: field 1 = 150 is 08 96 01; field 2 = "testing"
     * is 12 07 74 65 73 74 69 6e 67; field 3 holding that first message is 1a 03 08 96 01. */
    nne_pb_buf b = {0};
    nne_pb_uint(&b, 1, 150);
    nne_pb_str(&b, 2, "testing");
    size_t mk = nne_pb_begin(&b, 3);
    nne_pb_uint(&b, 1, 150);
    nne_pb_end(&b, mk);
    nne_pb_int(&b, 4, -2);
    nne_pb_float(&b, 5, 1.0f);
    static const unsigned char want[] = {
        0x08, 0x96, 0x01, 0x12, 0x07, 't', 'e', 's', 't', 'i', 'n', 'g', 0x1a, 0x03, 0x08, 0x96,
        0x01, 0x20, 0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01, 0x2d, 0x00, 0x00,
        0x80, 0x3f};
    TEST_CHECK(!b.oom && b.len == sizeof want && !memcmp(b.data, want, sizeof want),
               "writer bytes (%zu)", b.len);
    /* Read back. */
    nne_pb_reader r = nne_pb_reader_init(b.data, b.len);
    nne_pb_field f;
    int n = 0, ok = 1;
    while (nne_pb_next(&r, &f) == 1) {
        n++;
        if (f.num == 1) ok &= f.wire == NNE_PB_VARINT && f.u == 150;
        if (f.num == 2) ok &= f.wire == NNE_PB_LEN && f.len == 7 && !memcmp(f.data, "testing", 7);
        if (f.num == 3) {
            nne_pb_reader s = nne_pb_reader_sub(&r, &f);
            nne_pb_field g;
            ok &= nne_pb_next(&s, &g) == 1 && g.num == 1 && g.u == 150 && g.off == 14;
            ok &= nne_pb_next(&s, &g) == 0;
        }
        if (f.num == 4) ok &= (int64_t)f.u == -2;
        if (f.num == 5) ok &= f.wire == NNE_PB_I32 && f.u == 0x3f800000u;
    }
    TEST_CHECK(ok && n == 5 && r.err == NULL, "reader round trip (%d fields)", n);
    /* A long nested body gets a multi-byte length. */
    nne_pb_buf big = {0};
    size_t bk = nne_pb_begin(&big, 7);
    for (int i = 0; i < 300; i++) nne_pb_uint(&big, 1, 1);
    nne_pb_end(&big, bk);
    TEST_CHECK(big.len == 603 && big.data[0] == 0x3a && big.data[1] == 0xd8 && big.data[2] == 0x04,
               "nested length 600 as d8 04");
    nne_pb_buf_free(&big);
    nne_pb_buf_free(&b);

    struct {
        const char *what;
        unsigned char bytes[16];
        size_t n;
    } bad[] = {
        {"over-long varint",
         {0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 11},
        {"truncated varint", {0x08, 0x96}, 2},
        {"length past the end", {0x12, 0x08, 'a', 'b'}, 4},
        {"group wire type", {0x0b, 0x0c}, 2},
        {"invalid wire type 6", {0x0e, 0x00}, 2},
        {"field number 0", {0x00, 0x01}, 2},
        {"fixed32 past the end", {0x0d, 0x00, 0x00}, 3},
    };
    for (size_t i = 0; i < NNE_ARRAY_LEN(bad); i++) {
        nne_pb_reader rr = nne_pb_reader_init(bad[i].bytes, bad[i].n);
        int rc;
        while ((rc = nne_pb_next(&rr, &f)) == 1) {
        }
        TEST_CHECK(rc == -1 && rr.err != NULL, "%s: rc %d", bad[i].what, rc);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Hand-built ONNX files                                                                     */
/* ---------------------------------------------------------------------------------------- */

/* A ModelProto around graph bytes `g` (opset 17). */
static void model_bytes(nne_pb_buf *out, const nne_pb_buf *g) {
    nne_pb_int(out, 1, 8);
    size_t ok = nne_pb_begin(out, 8);
    nne_pb_str(out, 1, "");
    nne_pb_int(out, 2, 17);
    nne_pb_end(out, ok);
    nne_pb_bytes(out, 7, g->data, g->len);
}

static void value_5d(nne_pb_buf *g, uint32_t field, const char *name) {
    size_t vk = nne_pb_begin(g, field);
    nne_pb_str(g, 1, name);
    size_t tk = nne_pb_begin(g, 2);
    size_t tt = nne_pb_begin(g, 1);
    nne_pb_int(g, 1, 1);
    size_t sk = nne_pb_begin(g, 2);
    for (int d = 0; d < 5; d++) {
        size_t dk = nne_pb_begin(g, 1);
        nne_pb_int(g, 1, d < 2 ? 1 : 4);
        nne_pb_end(g, dk);
    }
    nne_pb_end(g, sk);
    nne_pb_end(g, tt);
    nne_pb_end(g, tk);
    nne_pb_end(g, vk);
}

static void simple_node(nne_pb_buf *g, const char *op, const char *name, const char *in,
                        const char *out) {
    size_t nk = nne_pb_begin(g, 1);
    nne_pb_str(g, 1, in);
    nne_pb_str(g, 2, out);
    nne_pb_str(g, 3, name);
    nne_pb_str(g, 4, op);
    nne_pb_end(g, nk);
}

/* Imports bytes; expects status `want` and every `needle` (NULL-terminated) in the message. */
static void expect_import(const char *what, const nne_pb_buf *b, nne_status want,
                          const char *needle) {
    nne_onnx_import imp;
    nne_status st = nne_onnx_import_mem(ctx, b->data, b->len, what, &imp);
    const char *msg = nne_ctx_last_error(ctx);
    TEST_CHECK(st == want, "%s: status %d (want %d): %s", what, st, want, msg);
    TEST_CHECK(!needle || strstr(msg, needle), "%s: message lacks '%s': %s", what, needle, msg);
    if (st == NNE_OK) nne_onnx_import_free(&imp);
}

static void test_hostile_handmade(void) {
    nne_pb_buf g = {0}, m = {0};
    /* An unsupported operator is named. */
    value_5d(&g, 11, "x");
    simple_node(&g, "MaxPool", "pool1", "x", "y");
    value_5d(&g, 12, "y");
    model_bytes(&m, &g);
    expect_import("maxpool", &m, NNE_ERR_UNSUPPORTED, "pool1");
    nne_pb_buf_free(&m);

    /* No opset_import (a file cut between top-level fields). */
    nne_pb_bytes(&m, 7, g.data, g.len);
    expect_import("no opset", &m, NNE_ERR_FORMAT, "opset_import");
    nne_pb_buf_free(&m);
    nne_pb_buf_free(&g);

    /* ModelProto.graph with the wrong wire type. */
    nne_pb_int(&m, 1, 8);
    nne_pb_uint(&m, 7, 5);
    expect_import("graph as varint", &m, NNE_ERR_FORMAT, "wire type");
    nne_pb_buf_free(&m);

    /* A length past the end inside the graph. */
    static const unsigned char cut[] = {0x08, 0x08, 0x3a, 0x04, 0x0a, 0x10, 0x0a, 0x01};
    nne_pb_raw(&m, cut, sizeof cut);
    expect_import("length past end", &m, NNE_ERR_FORMAT, "past the end");
    nne_pb_buf_free(&m);

    /* Tensor data sizes: raw_data of 20 bytes for a [2, 3] float, 5 float_data values for 6. */
    for (int variant = 0; variant < 3; variant++) {
        size_t ik = nne_pb_begin(&g, 5);
        nne_pb_int(&g, 1, 2);
        nne_pb_int(&g, 1, 3);
        nne_pb_int(&g, 2, variant == 2 ? NNE_ONNX_FLOAT16 : NNE_ONNX_FLOAT);
        nne_pb_str(&g, 8, "w_bad");
        float vals[6] = {0};
        if (variant == 0) nne_pb_bytes(&g, 9, vals, 20);
        if (variant == 1) nne_pb_bytes(&g, 4, vals, 20);
        if (variant == 2) nne_pb_bytes(&g, 4, vals, 24); /* float_data for a float16 tensor */
        nne_pb_end(&g, ik);
        model_bytes(&m, &g);
        expect_import("tensor size", &m, NNE_ERR_FORMAT, "w_bad");
        nne_pb_buf_free(&m);
        nne_pb_buf_free(&g);
    }
    /* A rank above 8 and a negative dimension. */
    size_t ik = nne_pb_begin(&g, 5);
    for (int d = 0; d < 9; d++) nne_pb_int(&g, 1, 1);
    nne_pb_str(&g, 8, "w_rank");
    nne_pb_end(&g, ik);
    model_bytes(&m, &g);
    expect_import("rank 9", &m, NNE_ERR_FORMAT, "rank");
    nne_pb_buf_free(&m);
    nne_pb_buf_free(&g);
    ik = nne_pb_begin(&g, 5);
    nne_pb_int(&g, 1, -4);
    nne_pb_str(&g, 8, "w_neg");
    nne_pb_end(&g, ik);
    model_bytes(&m, &g);
    expect_import("negative dim", &m, NNE_ERR_FORMAT, "w_neg");
    nne_pb_buf_free(&m);
    nne_pb_buf_free(&g);

    /* External data parses (the file may be fine) but is refused, by name, when used. */
    ik = nne_pb_begin(&g, 5);
    nne_pb_int(&g, 1, 4);
    nne_pb_int(&g, 2, NNE_ONNX_FLOAT);
    nne_pb_str(&g, 8, "w_ext");
    size_t ek = nne_pb_begin(&g, 13);
    nne_pb_str(&g, 1, "location");
    nne_pb_str(&g, 2, "weights.bin");
    nne_pb_end(&g, ek);
    nne_pb_int(&g, 14, 1);
    nne_pb_end(&g, ik);
    model_bytes(&m, &g);
    nne_onnx_model *om = NULL;
    nne_status st = nne_onnx_parse(ctx, m.data, m.len, "ext", &om);
    TEST_CHECK(st == NNE_OK && om->n_inits == 1 && om->inits[0].external, "external: parse %d",
               st);
    if (st == NNE_OK) {
        float v[4];
        st = nne_onnx_tensor_f32(ctx, &om->inits[0], "ext", v);
        TEST_CHECK(st == NNE_ERR_UNSUPPORTED && strstr(nne_ctx_last_error(ctx), "w_ext"),
                   "external data: %d %s", st, nne_ctx_last_error(ctx));
    }
    nne_onnx_free(om);
    nne_pb_buf_free(&m);
    nne_pb_buf_free(&g);

    /* Recursion bomb: subgraphs nested 64 deep through If-like attributes. */
    nne_pb_buf inner = {0};
    for (int level = 0; level < 64; level++) {
        nne_pb_buf outer = {0};
        size_t nk = nne_pb_begin(&outer, 1);
        nne_pb_str(&outer, 4, "If");
        size_t ak = nne_pb_begin(&outer, 5);
        nne_pb_str(&outer, 1, "then_branch");
        nne_pb_bytes(&outer, 6, inner.data, inner.len);
        nne_pb_int(&outer, 20, NNE_ONNX_ATTR_GRAPH);
        nne_pb_end(&outer, ak);
        nne_pb_end(&outer, nk);
        nne_pb_buf_free(&inner);
        inner = outer;
    }
    model_bytes(&m, &inner);
    expect_import("recursion bomb", &m, NNE_ERR_FORMAT, "nested deeper");
    nne_pb_buf_free(&m);
    nne_pb_buf_free(&inner);
}

/* ---------------------------------------------------------------------------------------- */
/* Round trips on the golden models                                                          */
/* ---------------------------------------------------------------------------------------- */

static int export_file(const char *nne, const char *onnx, const nne_onnx_export_params *p) {
    nne_model *m = NULL;
    nne_status st = nne_model_load(ctx, nne, &m);
    if (st == NNE_OK) st = nne_onnx_export(ctx, m, p, onnx);
    TEST_CHECK(st == NNE_OK, "export %s: %s", onnx, nne_ctx_last_error(ctx));
    nne_model_free(m);
    return st == NNE_OK;
}

/* The pipeline entries of two model headers must agree. */
static void check_metadata(const char *a_path, const char *b_path) {
    nne_model *a = NULL, *b = NULL;
    if (nne_model_load(ctx, a_path, &a) != NNE_OK || nne_model_load(ctx, b_path, &b) != NNE_OK) {
        TEST_CHECK(0, "metadata: load");
        nne_model_free(a);
        return;
    }
    const char *paths[][2] = {{"plans", "transpose_forward"},
                              {"plans", "transpose_backward"},
                              {"plans", "foreground_intensity_properties_per_channel"},
                              {"dataset", "channel_names"},
                              {"dataset", "labels"},
                              {"dataset", "file_ending"},
                              {NULL, "mirroring_axes"},
                              {NULL, "configuration"}};
    for (size_t i = 0; i < NNE_ARRAY_LEN(paths); i++) {
        const cJSON *pa = paths[i][0] ? cJSON_GetObjectItem(a->header, paths[i][0]) : a->header;
        const cJSON *pb = paths[i][0] ? cJSON_GetObjectItem(b->header, paths[i][0]) : b->header;
        const cJSON *x = cJSON_GetObjectItem(pa, paths[i][1]);
        const cJSON *y = cJSON_GetObjectItem(pb, paths[i][1]);
        TEST_CHECK(x && y && cJSON_Compare(x, y, 1), "metadata %s differs", paths[i][1]);
    }
    const char *cfg_keys[] = {"spacing", "patch_size", "normalization_schemes",
                              "use_mask_for_norm", "resampling_fn_data_kwargs",
                              "resampling_fn_probabilities_kwargs"};
    const cJSON *ca = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(a->header,
                                          "plans"), "configurations"), "3d_fullres");
    const cJSON *cb = cJSON_GetObjectItem(cJSON_GetObjectItem(cJSON_GetObjectItem(b->header,
                                          "plans"), "configurations"), "3d_fullres");
    for (size_t i = 0; i < NNE_ARRAY_LEN(cfg_keys); i++) {
        const cJSON *x = cJSON_GetObjectItem(ca, cfg_keys[i]);
        const cJSON *y = cJSON_GetObjectItem(cb, cfg_keys[i]);
        TEST_CHECK(x && y && cJSON_Compare(x, y, 1), "metadata %s differs", cfg_keys[i]);
    }
    nne_model_free(a);
    nne_model_free(b);
}

static void round_trip(const char *topo, int C, int K, const int64_t shape[3],
                       const int64_t big[3]) {
    char results[256], nne[300], onnx[300], p[300];
    snprintf(results, sizeof results, "tests/golden/%s/results", topo);
    snprintf(nne, sizeof nne, "%s/%s.nne", dir, topo);
    nne_convert_params cp = nne_convert_default_params();
    cp.results_dir = results;
    cp.folds = "0";
    nne_status st = nne_convert(ctx, &cp, nne);
    TEST_CHECK(st == NNE_OK, "convert %s: %s", topo, nne_ctx_last_error(ctx));
    if (st != NNE_OK) return;
    const int64_t vox = shape[0] * shape[1] * shape[2];
    snprintf(p, sizeof p, "tests/golden/%s/input.f32", topo);
    float *in = read_f32(p, C * vox);
    snprintf(p, sizeof p, "tests/golden/%s/logits_fold0.f32", topo);
    float *torch = read_f32(p, K * vox);
    TEST_CHECK(in && torch, "%s: golden data", topo);
    float *ref = in ? forward(nne, 0, in, shape, NULL) : NULL;
    if (!ref || !torch) goto done;

    /* FP32 fixed shape: bitwise equal to the .nne model, close to PyTorch. */
    snprintf(onnx, sizeof onnx, "%s/%s.onnx", dir, topo);
    nne_onnx_export_params ep = nne_onnx_export_default_params();
    if (export_file(nne, onnx, &ep)) {
        float *y = forward(onnx, 0, in, shape, NULL);
        TEST_CHECK(y && !memcmp(y, ref, sizeof *y * (size_t)(K * vox)),
                   "%s: ONNX forward not bitwise equal to .nne", topo);
        double d = y ? max_diff(y, torch, K * vox) : 1e30, tol = 1e-4 * range(torch, K * vox);
        printf("%s: ONNX round trip bitwise %s; vs PyTorch max |d| %.3g (tol %.3g)\n", topo,
               y && !memcmp(y, ref, sizeof *y * (size_t)(K * vox)) ? "equal" : "DIFFERENT", d,
               tol);
        TEST_CHECK(d <= tol, "%s: vs PyTorch %.3g > %.3g", topo, d, tol);
        free(y);
        check_metadata(nne, onnx);
        /* convert .onnx -> .nne */
        char nne2[300];
        snprintf(nne2, sizeof nne2, "%s/%s_back.nne", dir, topo);
        nne_convert_params c2 = nne_convert_default_params();
        c2.results_dir = onnx;
        st = nne_convert(ctx, &c2, nne2);
        TEST_CHECK(st == NNE_OK, "convert %s: %s", onnx, nne_ctx_last_error(ctx));
        y = st == NNE_OK ? forward(nne2, 0, in, shape, NULL) : NULL;
        TEST_CHECK(y && !memcmp(y, ref, sizeof *y * (size_t)(K * vox)),
                   "%s: .onnx -> .nne forward not bitwise equal", topo);
        free(y);
        /* Exporting the re-imported model gives the same graph bytes again. */
        char onnx2[300];
        snprintf(onnx2, sizeof onnx2, "%s/%s_again.onnx", dir, topo);
        size_t la = 0, lb = 0;
        char *a = NULL, *b = NULL;
        if (export_file(nne, onnx2, &ep)) {
            a = test_read_file(onnx, &la);
            b = test_read_file(onnx2, &lb);
        }
        TEST_CHECK(a && b && la == lb && !memcmp(a, b, la), "%s: export not deterministic",
                   topo);
        free(a);
        free(b);
        unlink(nne2);
        unlink(onnx2);
    }
    /* Other opsets and Softmax: the same network. */
    const int opsets[2] = {13, 21};
    for (int i = 0; i < 2; i++) {
        ep = nne_onnx_export_default_params();
        ep.opset = opsets[i];
        ep.softmax = i == 1;
        snprintf(p, sizeof p, "%s/%s_op%d.onnx", dir, topo, opsets[i]);
        if (!export_file(nne, p, &ep)) continue;
        float *y = forward(p, 0, in, shape, NULL);
        TEST_CHECK(y && !memcmp(y, ref, sizeof *y * (size_t)(K * vox)),
                   "%s: opset %d%s forward differs", topo, opsets[i], ep.softmax ? "+softmax" : "");
        free(y);
        unlink(p);
    }
    /* Dynamic axes: a larger input, bitwise equal to the .nne model at that shape. */
    ep = nne_onnx_export_default_params();
    ep.dynamic = 1;
    snprintf(p, sizeof p, "%s/%s_dyn.onnx", dir, topo);
    if (export_file(nne, p, &ep)) {
        const int64_t bv = big[0] * big[1] * big[2];
        float *bin = malloc(sizeof *bin * (size_t)(C * bv));
        for (int64_t i = 0; i < C * bv; i++) bin[i] = (float)sin(0.37 * (double)i);
        float *y0 = forward(nne, 0, bin, big, NULL), *y1 = forward(p, 0, bin, big, NULL);
        TEST_CHECK(y0 && y1 && !memcmp(y0, y1, sizeof *y0 * (size_t)(K * bv)),
                   "%s: dynamic export differs at %lldx%lldx%lld", topo, (long long)big[0],
                   (long long)big[1], (long long)big[2]);
        free(bin);
        free(y0);
        free(y1);
        unlink(p);
    }
    /* FP16: weights rounded to float16; logits stay close, masks nearly identical. */
    ep = nne_onnx_export_default_params();
    ep.fp16 = 1;
    snprintf(p, sizeof p, "%s/%s_fp16.onnx", dir, topo);
    if (export_file(nne, p, &ep)) {
        float *y = forward(p, 0, in, shape, NULL);
        double d = y ? max_diff(y, ref, K * vox) : 1e30, r = range(ref, K * vox);
        int64_t am = y ? argmax_diff(y, ref, K, vox) : vox;
        printf("%s: FP16 export read back: max |d| %.3g of range %.3g, %lld/%lld argmax "
               "changes\n", topo, d, r, (long long)am, (long long)vox);
        TEST_CHECK(d <= 2e-2 * r && am <= vox / 100, "%s: fp16 import too far", topo);
        free(y);
        unlink(p);
    }
done:
    free(in);
    free(torch);
    free(ref);
    unlink(nne);
}

/* ---------------------------------------------------------------------------------------- */
/* PyTorch exports                                                                           */
/* ---------------------------------------------------------------------------------------- */

static void torch_fixture(const char *name) {
    cJSON *meta = NULL;
    if (nne_json_read_file(ctx, "tests/data/onnx/meta.json", &meta) != NNE_OK) {
        TEST_CHECK(0, "tests/data/onnx/meta.json: %s", nne_ctx_last_error(ctx));
        return;
    }
    const cJSON *spec = cJSON_GetObjectItem(cJSON_GetObjectItem(meta, "nets"), name);
    const cJSON *ts = cJSON_GetObjectItem(spec, "test_shape");
    int C = cJSON_GetObjectItem(spec, "in")->valueint;
    int K = cJSON_GetObjectItem(spec, "classes")->valueint;
    int64_t shape[3];
    for (int i = 0; i < 3; i++) shape[i] = cJSON_GetArrayItem(ts, i)->valueint;
    cJSON_Delete(meta);
    const int64_t vox = shape[0] * shape[1] * shape[2];
    char p[300], q[300];
    snprintf(p, sizeof p, "tests/data/onnx/%s.input.f32", name);
    snprintf(q, sizeof q, "tests/data/onnx/%s.logits.f32", name);
    float *in = read_f32(p, C * vox), *want = read_f32(q, K * vox);
    TEST_CHECK(in && want, "%s: fixture data", name);
    snprintf(p, sizeof p, "tests/data/onnx/%s.onnx", name);
    int k = 0;
    float *y = in ? forward(p, 0, in, shape, &k) : NULL;
    if (y && want && k == K) {
        double d = max_diff(y, want, K * vox), tol = 1e-4 * range(want, K * vox);
        int64_t am = argmax_diff(y, want, K, vox);
        printf("%s: PyTorch export imported: max |d| %.3g (tol %.3g), %lld argmax differences\n",
               name, d, tol, (long long)am);
        TEST_CHECK(d <= tol && am == 0, "%s: %.3g > %.3g or %lld argmax", name, d, tol,
                   (long long)am);
    } else {
        TEST_CHECK(0, "%s: import (classes %d vs %d)", name, k, K);
    }
    free(in);
    free(want);
    free(y);
}

/* ---------------------------------------------------------------------------------------- */
/* Truncation and byte flips of a real export                                                */
/* ---------------------------------------------------------------------------------------- */

static void test_corruption(const char *onnx_path, int patch_dilation) {
    size_t len = 0;
    char *buf = test_read_file(onnx_path, &len);
    TEST_CHECK(buf != NULL, "read %s", onnx_path);
    if (!buf) return;
    int n_ok = 0, n_tried = 0, silent = 0;
    for (size_t cut = 0; cut < len; cut += cut < 256 ? 1 : 61) {
        nne_onnx_import imp;
        nne_status st = nne_onnx_import_mem(ctx, buf, cut, "cut", &imp);
        n_tried++;
        if (st == NNE_OK) {
            n_ok++;
            nne_onnx_import_free(&imp);
        } else if (!nne_ctx_last_error(ctx)[0]) {
            silent++;
        }
    }
    TEST_CHECK(n_ok == 0 && silent == 0, "truncations: %d of %d accepted, %d without message",
               n_ok, n_tried, silent);
    /* A dilated convolution (the first Conv's dilations [1,1,1] patched to 2 in place) is
     * refused, naming the attribute; torch writes attribute name, ints, type in that order. */
    static const char pat[] = "\x0a\x09" "dilations\x40\x01";
    char *hit = NULL;
    for (size_t i = 0; patch_dilation && !hit && i + sizeof pat - 1 <= len; i++)
        if (!memcmp(buf + i, pat, sizeof pat - 1)) hit = buf + i;
    if (patch_dilation) TEST_CHECK(hit != NULL, "%s: no dilations attribute to patch", onnx_path);
    if (hit) {
        nne_pb_buf b = {0};
        nne_pb_raw(&b, buf, len);
        b.data[(hit - buf) + sizeof pat - 2] = 2;
        expect_import("dilation", &b, NNE_ERR_UNSUPPORTED, "dilations");
        nne_pb_buf_free(&b);
    }
    /* Byte flips: any status, never a crash (sanitizers watch). */
    unsigned char *m = malloc(len);
    int flips = 0;
    for (size_t pos = 0; pos < len; pos += 1 + pos / 50) {
        memcpy(m, buf, len);
        m[pos] ^= (unsigned char)(0x55 + pos);
        nne_onnx_import imp;
        if (nne_onnx_import_mem(ctx, m, len, "flip", &imp) == NNE_OK) nne_onnx_import_free(&imp);
        flips++;
    }
    printf("corruption: %d truncations refused, %d byte flips survived\n", n_tried, flips);
    free(m);
    free(buf);
}

/* ---------------------------------------------------------------------------------------- */
/* CLI                                                                                       */
/* ---------------------------------------------------------------------------------------- */

static void test_cli(void) {
    const char *cli = getenv("NNE_CLI") ? getenv("NNE_CLI") : "build/nnedge";
    if (access(cli, X_OK) != 0) {
        test_skip("nnedge binary not built");
        return;
    }
    char nne[300], onnx[300], out_a[300], out_b[300];
    snprintf(nne, sizeof nne, "%s/cli.nne", dir);
    snprintf(onnx, sizeof onnx, "%s/cli.onnx", dir);
    snprintf(out_a, sizeof out_a, "%s/a.nii.gz", dir);
    snprintf(out_b, sizeof out_b, "%s/b.nii.gz", dir);
    const char *conv[] = {"convert", "tests/golden/iso3/results", "-f", "0,1", "-o", nne, NULL};
    TEST_CHECK(cli_run(cli, conv) == 0, "convert: %s", cli_err);

    struct {
        const char *args[8];
        int code;
    } bad[] = {
        {{"export-onnx", nne, NULL}, 2},
        {{"export-onnx", nne, "-o", onnx, "--shape", "16,20,24", "--dynamic", NULL}, 2},
        {{"export-onnx", nne, "-o", onnx, "--shape", "16,20,25", NULL}, 14},
        {{"export-onnx", nne, "-o", onnx, "--fold", "7", NULL}, 15},
        {{"export-onnx", nne, "-o", onnx, "--opset", "9", NULL}, 15},
        {{"export-onnx", "tests/data/onnx/torch_ds.onnx", "-o", onnx, NULL}, 16},
        {{"convert", "tests/data/onnx/torch_ds.onnx", "-o", out_a, NULL}, 16},
    };
    for (size_t i = 0; i < NNE_ARRAY_LEN(bad); i++) {
        int rc = cli_run(cli, bad[i].args);
        TEST_CHECK(rc == bad[i].code, "case %zu: exit %d, want %d: %s", i, rc, bad[i].code,
                   cli_err);
        TEST_CHECK(access(onnx, F_OK) != 0 && access(out_a, F_OK) != 0,
                   "case %zu: output left behind", i);
    }
    const char *ex[] = {"export-onnx", nne, "--fold", "1", "-o", onnx, NULL};
    TEST_CHECK(cli_run(cli, ex) == 0 && strstr(cli_err, "fold 1"), "export: %s", cli_err);
    const char *info[] = {"info", onnx, NULL};
    TEST_CHECK(cli_run(cli, info) == 0 && strstr(cli_out, "21648") && strstr(cli_out, "cli.onnx"),
               "info of the ONNX file: %s%s", cli_out, cli_err);

    /* predict from the ONNX file alone equals predict from the .nne (fold 1). */
    const char *g0 = "tests/golden/predict/iso_aniso_input_0000.nii.gz";
    const char *g1 = "tests/golden/predict/iso_aniso_input_0001.nii.gz";
    const char *pa[] = {"predict", "-m", nne, "-f", "1", "-o", out_a, "-t", "1", "--case", g0, g1,
                        NULL};
    const char *pb[] = {"predict", "-m", onnx, "-o", out_b, "-t", "1", "--case", g0, g1, NULL};
    TEST_CHECK(cli_run(cli, pa) == 0, "predict .nne: %s", cli_err);
    TEST_CHECK(cli_run(cli, pb) == 0, "predict .onnx: %s", cli_err);
    nne_image *ia = NULL, *ib = NULL;
    if (nne_image_read(ctx, out_a, &ia) == NNE_OK && nne_image_read(ctx, out_b, &ib) == NNE_OK) {
        int64_t n = ia->dim[1] * ia->dim[2] * ia->dim[3], diff = 0, fg = 0;
        for (int64_t i = 0; i < n; i++) {
            diff += ia->data[i] != ib->data[i];
            fg += ia->data[i] != 0;
        }
        printf("predict from ONNX: %lld voxels differ (%lld foreground)\n", (long long)diff,
               (long long)fg);
        TEST_CHECK(diff == 0 && fg > 0, "masks differ in %lld voxels", (long long)diff);
    } else {
        TEST_CHECK(0, "read predictions: %s", nne_ctx_last_error(ctx));
    }
    nne_image_free(ia);
    nne_image_free(ib);
    /* A model without pipeline metadata runs forward but cannot predict. */
    const char *pc[] = {"predict", "-m", "tests/data/onnx/torch_dynamo.onnx", "-o", out_a, "--case",
                        g0, NULL};
    unlink(out_a);
    int rc = cli_run(cli, pc);
    TEST_CHECK(rc == 16 && access(out_a, F_OK) != 0, "predict without metadata: exit %d: %s", rc,
               cli_err);
    unlink(out_b);
    unlink(onnx);
    unlink(nne);
}

int main(void) {
    nne_log_set_level(NNE_LOG_LEVEL_ERROR);
    if (!mkdtemp(dir)) return 1;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 1;
    if (nne_ctx_init(&cp, &ctx) != NNE_OK) return 1;

    test_protobuf();
    test_hostile_handmade();
    const int64_t iso[3] = {16, 20, 24}, iso_big[3] = {24, 28, 20};
    const int64_t an[3] = {8, 24, 40}, an_big[3] = {4, 32, 24};
    round_trip("iso3", 2, 2, iso, iso_big);
    round_trip("aniso4", 2, 3, an, an_big);
    torch_fixture("torch_classic");
    torch_fixture("torch_dynamo");
    nne_model *m = NULL;
    nne_status st = nne_model_load(ctx, "tests/data/onnx/torch_ds.onnx", &m);
    TEST_CHECK(st == NNE_ERR_UNSUPPORTED && strstr(nne_ctx_last_error(ctx), "deep supervision"),
               "deep supervision: %d %s", st, nne_ctx_last_error(ctx));
    nne_model_free(m);
    test_corruption("tests/data/onnx/torch_classic.onnx", 1);

    /* Our own export cut anywhere is refused too. */
    char nne[300], onnx[300];
    snprintf(nne, sizeof nne, "%s/c.nne", dir);
    snprintf(onnx, sizeof onnx, "%s/c.onnx", dir);
    nne_convert_params c = nne_convert_default_params();
    c.results_dir = "tests/golden/iso3/results";
    c.folds = "0";
    if (nne_convert(ctx, &c, nne) == NNE_OK) {
        nne_onnx_export_params ep = nne_onnx_export_default_params();
        if (export_file(nne, onnx, &ep)) test_corruption(onnx, 0);
    }
    unlink(nne);
    unlink(onnx);
    test_cli();
    nne_ctx_free(ctx);
    rmdir(dir);
    return TEST_SUMMARY();
}
