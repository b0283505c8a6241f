/*
 * cmd_export_onnx.c - `nnedge export-onnx`: one fold of a model as an ONNX file for ONNX
 * Runtime, TensorRT (trtexec) or nnedge itself (docs/ONNX.md).
 *
 *   nnedge export-onnx MODEL.nne -o MODEL.onnx [--fold K] [--shape D,H,W | --dynamic]
 *                      [--fp16] [--opset N] [--softmax]
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model.h"

static void help(const cli_opt *o, int n) {
    fprintf(stderr,
            "usage: nnedge export-onnx MODEL.nne -o MODEL.onnx [--fold K] [--shape D,H,W | "
            "--dynamic]\n"
            "                          [--fp16] [--opset N] [--softmax]\n\n"
            "Writes the network of one fold (highest-resolution head, deep supervision off) and\n"
            "the nnU-Net pipeline settings (metadata_props) as ONNX. The input is fixed to the\n"
            "plans' patch size unless --shape or --dynamic is given; spatial sizes must be\n"
            "multiples of the network's total stride. --fp16 keeps instance normalization in\n"
            "float32. See docs/ONNX.md for ONNX Runtime and trtexec.\n\n");
    cli_print_opts(o, n);
}

int cmd_export_onnx(int argc, char **argv) {
    const char *out = NULL, *fold = NULL, *shape_s = NULL;
    int dynamic = 0, fp16 = 0, softmax = 0, opset = 17, want_help = 0;
    const cli_opt opts[] = {
        {"--output", "-o", CLI_STR, &out, "output ONNX file"},
        {"--fold", "-f", CLI_STR, &fold, "fold name to export (default: the first)"},
        {"--shape", NULL, CLI_STR, &shape_s, "fixed input D,H,W (default: the patch size)"},
        {"--dynamic", NULL, CLI_FLAG, &dynamic, "symbolic batch and spatial axes"},
        {"--fp16", NULL, CLI_FLAG, &fp16, "float16 convolutions, float32 instance norm"},
        {"--opset", NULL, CLI_INT, &opset, "ONNX opset, 13..21 (default 17)"},
        {"--softmax", NULL, CLI_FLAG, &softmax, "append Softmax: output probabilities"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos = 0;
    if (cli_parse(argc, argv, 2, opts, n_opts, pos, 1, &npos, &want_help)) {
        help(opts, n_opts);
        return CLI_EXIT_USAGE;
    }
    if (want_help) {
        help(opts, n_opts);
        return CLI_EXIT_OK;
    }
    nne_onnx_export_params p = nne_onnx_export_default_params();
    if (!out || npos != 1) {
        fprintf(stderr, "nnedge export-onnx: give MODEL and -o OUT.onnx\n");
        help(opts, n_opts);
        return CLI_EXIT_USAGE;
    }
    if (shape_s && dynamic) {
        fprintf(stderr, "nnedge export-onnx: --shape and --dynamic exclude each other\n");
        return CLI_EXIT_USAGE;
    }
    if (shape_s && cli_parse_shape(shape_s, p.shape)) {
        fprintf(stderr, "nnedge export-onnx: --shape needs D,H,W (positive integers)\n");
        return CLI_EXIT_USAGE;
    }
    p.dynamic = dynamic;
    p.fp16 = fp16;
    p.opset = opset;
    p.softmax = softmax;
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 1;
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("export-onnx", NULL, st);
    nne_model *m = NULL;
    int rc = CLI_EXIT_OK;
    if ((st = nne_model_load(ctx, pos[0], &m))) {
        rc = cli_fail("export-onnx", ctx, st);
        goto done;
    }
    if (fold) {
        p.fold = -1;
        for (int i = 0; i < m->n_folds; i++)
            if (!strcmp(m->fold_names[i], fold)) p.fold = i;
        if (p.fold < 0) {
            fprintf(stderr, "nnedge export-onnx: %s has no fold '%s'\n", pos[0], fold);
            rc = CLI_EXIT_STATUS_BASE + NNE_ERR_ARG;
            goto done;
        }
    }
    if ((st = nne_onnx_export(ctx, m, &p, out))) {
        rc = cli_fail("export-onnx", ctx, st);
        goto done;
    }
    if (dynamic) {
        int64_t ts[3];
        nne_model_total_stride(m, ts);
        fprintf(stderr, "nnedge export-onnx: wrote %s (fold %s, input [batch, %d, depth, height, "
                "width] with sizes multiples of %lld,%lld,%lld; %s, opset %d)\n", out,
                m->fold_names[p.fold], nne_model_n_channels(m), (long long)ts[0],
                (long long)ts[1], (long long)ts[2], fp16 ? "fp16" : "fp32", opset);
    } else {
        int64_t sp[3];
        nne_model_patch_size(m, sp);
        if (shape_s) memcpy(sp, p.shape, sizeof sp);
        fprintf(stderr, "nnedge export-onnx: wrote %s (fold %s, input [1, %d, %lld, %lld, %lld]; "
                "%s, opset %d)\n", out, m->fold_names[p.fold], nne_model_n_channels(m),
                (long long)sp[0], (long long)sp[1], (long long)sp[2], fp16 ? "fp16" : "fp32",
                opset);
    }
done:
    nne_model_free(m);
    nne_ctx_free(ctx);
    return rc;
}
