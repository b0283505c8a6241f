/*
 * cmd_info.c - `nnedge info MODEL`: topology table, parameters, GMAC at the patch size,
 * channels, labels, folds and checksum status (loading verifies every tensor's CRC32).
 */
#include <cJSON.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"
#include "model.h"

static void print_kv_object(const char *title, const cJSON *obj) {
    printf("%s", title);
    const cJSON *it;
    int first = 1;
    cJSON_ArrayForEach(it, obj) {
        if (cJSON_IsString(it)) printf("%s%s=%s", first ? "" : ", ", it->string, it->valuestring);
        else if (cJSON_IsNumber(it)) printf("%s%s=%g", first ? "" : ", ", it->string, it->valuedouble);
        else printf("%s%s", first ? "" : ", ", it->string);
        first = 0;
    }
    printf("\n");
}

int cmd_info(int argc, char **argv) {
    int want_help = 0, json = 0, memory = 0, threads = 0;
    const char *patch_s = NULL, *precision = NULL;
    const cli_opt opts[] = {
        {"--json", NULL, CLI_FLAG, &json, "print the model's JSON header instead"},
        {"--memory", NULL, CLI_FLAG, &memory,
         "print the forward pass's activation memory plan and peak bytes"},
        {"--patch", NULL, CLI_STR, &patch_s, "D,H,W for --memory (default: the plans' patch)"},
        {"--threads", "-t", CLI_INT, &threads, "threads the workspace is sized for (default all)"},
        {"--precision", NULL, CLI_STR, &precision, "fp32 (default) or fp16, for --memory"},
    };
    const int n_opts = (int)(sizeof opts / sizeof opts[0]);
    const char *pos[1];
    int npos = 0;
    if (cli_parse(argc, argv, 2, opts, n_opts, pos, 1, &npos, &want_help) || npos != 1) {
        fprintf(stderr, "usage: nnedge info MODEL.nne [--json] [--memory [--patch D,H,W]]\n");
        cli_print_opts(opts, n_opts);
        return want_help && npos == 0 ? CLI_EXIT_OK : CLI_EXIT_USAGE;
    }
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = memory ? threads : 1;
    cp.precision = precision;
    nne_ctx *ctx = NULL;
    nne_status st = nne_ctx_init(&cp, &ctx);
    if (st != NNE_OK) return cli_fail("info", NULL, st);
    nne_model *m = NULL;
    st = nne_model_load(ctx, pos[0], &m);
    if (st != NNE_OK) {
        int rc = cli_fail("info", ctx, st);
        nne_ctx_free(ctx);
        return rc;
    }
    if (memory) {
        int64_t shape[3];
        nne_model_patch_size(m, shape);
        if (patch_s && cli_parse_shape(patch_s, shape)) {
            fprintf(stderr, "nnedge info: --patch wants D,H,W\n");
            nne_model_free(m);
            nne_ctx_free(ctx);
            return CLI_EXIT_USAGE;
        }
        nne_memplan plan;
        st = nne_model_memplan(ctx, m, shape, &plan);
        if (st != NNE_OK) {
            int rc = cli_fail("info", ctx, st);
            nne_model_free(m);
            nne_ctx_free(ctx);
            return rc;
        }
        printf("memory plan of one forward at %lld x %lld x %lld (allocation order; a buffer "
               "reuses the bytes of buffers freed before it)\n\n",
               (long long)shape[0], (long long)shape[1], (long long)shape[2]);
        printf("  %-26s %5s %8s  %-15s %12s %12s\n", "buffer", "level", "channels", "shape",
               "offset MiB", "size MiB");
        for (int i = 0; i < plan.n; i++) {
            const nne_membuf *b = &plan.bufs[i];
            char sh[48];
            snprintf(sh, sizeof sh, "%lldx%lldx%lld", (long long)b->shape[0],
                     (long long)b->shape[1], (long long)b->shape[2]);
            printf("  %-26s %5d %8lld  %-15s %12.1f %12.1f\n", b->what, b->level,
                   (long long)b->channels, sh, (double)b->offset / 1048576.0,
                   (double)b->bytes / 1048576.0);
        }
        printf("\nactivation arena peak  %.1f MiB\nconv workspace         %.1f MiB (%d threads)\n"
               "total activations      %.1f MiB (weights are mapped from the file: %.1f MiB per "
               "fold)\nprepared conv weights  %.1f MiB (packed/transformed at load, all folds)\n",
               (double)plan.arena_peak / 1048576.0, (double)plan.workspace / 1048576.0,
               nne_ctx_n_threads(ctx), (double)(plan.arena_peak + plan.workspace) / 1048576.0,
               (double)nne_model_n_params(m) * 4.0 / 1048576.0,
               (double)plan.prepared / 1048576.0);
        nne_model_free(m);
        nne_ctx_free(ctx);
        return CLI_EXIT_OK;
    }
    if (json) {
        printf("%s\n", nne_model_header_json(m));
        nne_model_free(m);
        nne_ctx_free(ctx);
        return CLI_EXIT_OK;
    }
    const nne_arch *a = &m->arch;
    const cJSON *h = m->header;
    printf("model         %s\n", pos[0]);
    printf("network       PlainConvUNet, %d stages, configuration %s\n", a->n_stages,
           cJSON_GetObjectItemCaseSensitive(h, "configuration")->valuestring);
    printf("patch size    %lld x %lld x %lld\n", (long long)m->patch[0], (long long)m->patch[1],
           (long long)m->patch[2]);
    printf("\n stage  features  kernel   stride   enc convs  dec convs  output at patch\n");
    for (int s = 0; s < a->n_stages; s++) {
        int64_t sh[3];
        nne_arch_stage_shape(a, s, m->patch, sh);
        char dec[8] = "-";
        if (s < a->n_stages - 1) snprintf(dec, sizeof dec, "%d", a->n_conv_dec[a->n_stages - 2 - s]);
        printf(" %5d  %8d  %dx%dx%d    %dx%dx%d    %9d  %9s  %lldx%lldx%lld\n", s, a->features[s],
               a->kernel[s][0], a->kernel[s][1], a->kernel[s][2], a->stride[s][0],
               a->stride[s][1], a->stride[s][2], a->n_conv[s], dec, (long long)sh[0],
               (long long)sh[1], (long long)sh[2]);
    }
    printf("\nparameters    %lld per fold\n", (long long)nne_model_n_params(m));
    printf("GMAC          %.3f per forward at the patch size (%.3f TFLOP)\n",
           nne_model_macs(m, m->patch) / 1e9, 2.0 * nne_model_macs(m, m->patch) / 1e12);
    printf("norm          InstanceNorm eps %g%s; LeakyReLU slope %g\n", a->norm_eps,
           a->norm_affine ? " affine" : "", (double)a->leaky_slope);
    const cJSON *ds = cJSON_GetObjectItemCaseSensitive(h, "dataset");
    const cJSON *ch = ds ? cJSON_GetObjectItemCaseSensitive(ds, "channel_names") : NULL;
    if (!ch && ds) ch = cJSON_GetObjectItemCaseSensitive(ds, "modality");
    printf("channels      %d", a->n_in);
    if (ch) print_kv_object(": ", ch);
    else printf("\n");
    const cJSON *lb = ds ? cJSON_GetObjectItemCaseSensitive(ds, "labels") : NULL;
    printf("classes       %d", a->n_classes);
    if (lb) print_kv_object(": ", lb);
    else printf("\n");
    const cJSON *mir = cJSON_GetObjectItemCaseSensitive(h, "mirroring_axes");
    printf("mirroring     ");
    if (cJSON_IsArray(mir)) {
        const cJSON *it;
        int first = 1;
        cJSON_ArrayForEach(it, mir) {
            printf("%s%d", first ? "" : ",", it->valueint);
            first = 0;
        }
        printf(first ? "none\n" : "\n");
    } else {
        printf("disabled\n");
    }
    printf("folds         %d\n", m->n_folds);
    const cJSON *fo;
    cJSON_ArrayForEach(fo, cJSON_GetObjectItemCaseSensitive(h, "folds")) {
        const cJSON *nm = cJSON_GetObjectItemCaseSensitive(fo, "name");
        const cJSON *ck = cJSON_GetObjectItemCaseSensitive(fo, "checkpoint");
        const cJSON *sh = cJSON_GetObjectItemCaseSensitive(fo, "sha256");
        const cJSON *ep = cJSON_GetObjectItemCaseSensitive(fo, "current_epoch");
        printf("  fold %-6s %s", cJSON_IsString(nm) ? nm->valuestring : "?",
               cJSON_IsString(ck) ? ck->valuestring : "(random init)");
        if (cJSON_IsNumber(ep)) printf(", epoch %d", ep->valueint);
        if (cJSON_IsString(sh)) printf(", sha256 %.16s...", sh->valuestring);
        printf("\n");
    }
    printf("checksums     ok (CRC32 of all %d tensors verified)\n", m->file->n_entries);
    nne_model_free(m);
    nne_ctx_free(ctx);
    return CLI_EXIT_OK;
}
