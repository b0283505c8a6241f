/*
 * fuzz_onnx.c - libFuzzer target for the ONNX reader and importer: protobuf wire format
 * (src/protobuf.c), ModelProto structs (src/onnx.c), graph matching, metadata and model
 * construction (src/onnx_import.c). Any input must give NNE_OK or an error status, never a
 * crash, leak, out-of-bounds access or timeout. When a model builds, a forward pass on one
 * total-stride-sized input exercises the imported weights.
 * Seeds: tests/fuzz/corpus/fuzz_onnx/ (nnedge export-onnx of the tiny random-init model of
 * tests/fuzz/plans_tiny.json, fp32 and fp16/dynamic/softmax; a two-output torch export).
 */
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "onnx.h"

static nne_ctx *ctx;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    if (!ctx) {
        nne_log_set_level(NNE_LOG_LEVEL_ERROR + 1);
        nne_ctx_params p = nne_ctx_default_params();
        p.n_threads = 1;
        p.isa = "ref";
        if (nne_ctx_init(&p, &ctx) != NNE_OK) abort();
    }
    nne_onnx_import imp;
    if (nne_onnx_import_mem(ctx, data, size, "fuzz.onnx", &imp) != NNE_OK) return 0;
    nne_model *m = NULL;
    if (nne_onnx_model_from_import(ctx, &imp, "fuzz.onnx", &m) == NNE_OK) {
        int64_t ts[3];
        nne_model_total_stride(m, ts);
        if (ts[0] * ts[1] * ts[2] <= 4096 && nne_model_n_params(m) < (1 << 20)) {
            int64_t vox = ts[0] * ts[1] * ts[2];
            float *in = calloc((size_t)(vox * nne_model_n_channels(m)), sizeof(float));
            float *out = calloc((size_t)(vox * nne_model_n_classes(m)), sizeof(float));
            if (in && out) nne_model_forward(ctx, m, 0, in, ts, out);
            free(in);
            free(out);
        }
        nne_model_free(m);
    }
    return 0;
}
