/*
 * cmd_convert.c - `nnedge convert`: nnU-Net v2 results folder (or random-init plans) -> .nne.
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static void help(const cli_opt *o, int n) {
    fprintf(stderr,
            "usage: nnedge convert RESULTS_DIR [-c CONFIG] [-f FOLDS] [--checkpoint final|best]"
            " -o MODEL.nne\n"
            "       nnedge convert --random-init PLANS.json [--dataset DATASET.json] [-c CONFIG]"
            " [--seed S] -o MODEL.nne\n"
            "       nnedge convert MODEL.onnx -o MODEL.nne\n\n"
            "RESULTS_DIR is nnU-Net's trainer folder (plans.json, dataset.json, fold_X/).\n"
            "MODEL.onnx: a PlainConvUNet graph (nnedge export-onnx, torch.onnx.export); see\n"
            "docs/ONNX.md.\n"
            "FOLDS: 0 | 0,1,2,3,4 | all (the fold_all folder); default: every fold_N present.\n\n");
    cli_print_opts(o, n);
}

int cmd_convert(int argc, char **argv) {
    const char *cfg = "3d_fullres", *folds = NULL, *ckpt = "final", *out = NULL;
    const char *rnd = NULL, *ds = NULL;
    int seed = 0, threads = 1, want_help = 0;
    const cli_opt opts[] = {
        {"--configuration", "-c", CLI_STR, &cfg, "configuration (default 3d_fullres)"},
        {"--folds", "-f", CLI_STR, &folds, "folds to import"},
        {"--checkpoint", NULL, CLI_STR, &ckpt, "final (default), best or latest"},
        {"--output", "-o", CLI_STR, &out, "output model file"},
        {"--random-init", NULL, CLI_STR, &rnd, "plans.json: He-initialised model, no checkpoint"},
        {"--dataset", NULL, CLI_STR, &ds, "dataset.json for --random-init"},
        {"--seed", NULL, CLI_INT, &seed, "random-init seed (default 0)"},
        {"--threads", "-t", CLI_INT, &threads, "threads (default 1)"},
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
    if (!out || (npos == 1) == (rnd != NULL) || (ds && !rnd)) {
        fprintf(stderr, "nnedge convert: give RESULTS_DIR or --random-init PLANS, and -o\n");
        help(opts, n_opts);
        return CLI_EXIT_USAGE;
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = threads;
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("convert", NULL, st);
    nne_convert_params p = nne_convert_default_params();
    p.results_dir = npos ? pos[0] : NULL;
    p.configuration = cfg;
    p.folds = folds;
    p.checkpoint = ckpt;
    p.random_init_plans = rnd;
    p.random_init_dataset = ds;
    p.seed = (uint64_t)seed;
    st = nne_convert(ctx, &p, out);
    if (st != NNE_OK) {
        int rc = cli_fail("convert", ctx, st);
        nne_ctx_free(ctx);
        return rc;
    }
    nne_model *m = NULL;
    st = nne_model_load(ctx, out, &m);
    if (st != NNE_OK) {
        int rc = cli_fail("convert", ctx, st);
        nne_ctx_free(ctx);
        return rc;
    }
    fprintf(stderr, "nnedge convert: wrote %s (%d fold%s, %lld parameters each)\n", out,
            nne_model_n_folds(m), nne_model_n_folds(m) == 1 ? "" : "s",
            (long long)nne_model_n_params(m));
    nne_model_free(m);
    nne_ctx_free(ctx);
    return CLI_EXIT_OK;
}
