/*
 * context.c - creation and queries of the execution context (struct in ctx.h).
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "calib.h"
#include "ctx.h"

nne_ctx_params nne_ctx_default_params(void) {
    nne_ctx_params p;
    memset(&p, 0, sizeof p);
    p.n_threads = 0;
    p.isa = NULL;
    p.conv = NULL;
    p.precision = NULL;
    p.calibration = NULL;
    return p;
}

nne_status nne_ctx_init(const nne_ctx_params *params, nne_ctx **out) {
    nne_ctx_params p = params ? *params : nne_ctx_default_params();
    const nne_kernels *k = NULL;
    nne_status st = nne_cpu_select(p.isa, &k);
    if (st != NNE_OK) {
        nne_log(NNE_LOG_LEVEL_ERROR, "kernel variant '%s' is unknown or not supported here",
                p.isa ? p.isa : getenv("NNE_ISA"));
        return st;
    }
    const char *conv = p.conv;
    if (!conv || !strcmp(conv, "auto")) {
        const char *env = getenv("NNE_CONV");
        conv = (env && *env) ? env : "auto";
    }
    const int wino = !strcmp(conv, "auto")        ? 1
                     : !strcmp(conv, "direct")    ? 0
                     : !strcmp(conv, "winograd2") ? 2
                     : !strcmp(conv, "winograd4") ? 3
                     : !strcmp(conv, "winograd44") ? 4
                                                  : -1;
    if (wino < 0) {
        nne_log(NNE_LOG_LEVEL_ERROR, "convolution algorithm '%s' is unknown (auto, direct, "
                "winograd2, winograd4, winograd44)", conv);
        return NNE_ERR_ARG;
    }
    const char *prec = p.precision;
    if (!prec) {
        const char *env = getenv("NNE_PRECISION");
        prec = (env && *env) ? env : "fp32";
    }
    const int precision = !strcmp(prec, "fp32") ? NNE_PREC_FP32
                          : !strcmp(prec, "fp16") ? NNE_PREC_FP16
                          : !strcmp(prec, "int8") ? NNE_PREC_INT8
                                                  : -1;
    if (precision < 0) {
        nne_log(NNE_LOG_LEVEL_ERROR, "precision '%s' is unknown (fp32, fp16, int8)", prec);
        return NNE_ERR_ARG;
    }
    const char *calib_path = p.calibration;
    if (!calib_path) calib_path = getenv("NNE_CALIBRATION");
    if (precision == NNE_PREC_INT8 && !(calib_path && *calib_path)) {
        nne_log(NNE_LOG_LEVEL_ERROR, "precision int8 needs a calibration file (nnedge calibrate)");
        return NNE_ERR_ARG;
    }
    int nth = p.n_threads;
    if (nth <= 0) {
        long n = sysconf(_SC_NPROCESSORS_ONLN);
        nth = n > 0 ? (int)n : 1;
    }
    if (nth > 256) return NNE_ERR_ARG;
    nne_ctx *ctx = calloc(1, sizeof *ctx);
    if (!ctx) return NNE_ERR_NOMEM;
    ctx->kernels = k;
    ctx->wino = wino;
    ctx->precision = precision;
    const char *stream = getenv("NNE_STREAM");
    ctx->stream = !(stream && !strcmp(stream, "0"));
    st = nne_pool_init(nth, &ctx->pool);
    if (st != NNE_OK) {
        free(ctx);
        return st;
    }
    if (precision == NNE_PREC_INT8) {
        st = nne_calib_load(ctx, calib_path, &ctx->calib);
        if (st != NNE_OK) {
            nne_log(NNE_LOG_LEVEL_ERROR, "%s", ctx->errmsg);
            nne_pool_free(ctx->pool);
            free(ctx);
            return st;
        }
    }
    *out = ctx;
    return NNE_OK;
}

void nne_ctx_free(nne_ctx *ctx) {
    if (!ctx) return;
    nne_pool_free(ctx->pool);
    nne_arena_free(&ctx->arena);
    nne_free(ctx->ws);
    nne_calib_free(ctx->calib);
    free(ctx);
}

int nne_ctx_n_threads(const nne_ctx *ctx) { return nne_pool_n_threads(ctx->pool); }

const char *nne_ctx_isa(const nne_ctx *ctx) { return ctx->kernels->name; }

const char *nne_ctx_precision(const nne_ctx *ctx) {
    return ctx->precision == NNE_PREC_FP16 ? "fp16" : ctx->precision == NNE_PREC_INT8 ? "int8"
                                                                                       : "fp32";
}

size_t nne_ctx_peak_bytes(const nne_ctx *ctx) { return ctx->peak_bytes; }

void nne_ctx_set_observer(nne_ctx *ctx,
                          void (*fn)(void *arg, int layer, const float *x, int64_t c,
                                     const int64_t shape[3]),
                          void *arg) {
    ctx->observe = fn;
    ctx->observe_arg = fn ? arg : NULL;
}
