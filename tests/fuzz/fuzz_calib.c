/*
 * fuzz_calib.c - libFuzzer target for the calibration file loader (src/calib.c). Any input
 * must give NNE_OK or an error status, never a crash, leak or out-of-bounds access; a file
 * that loads must serialize again and load back to the same ranges.
 * Seed: tests/fuzz/corpus/fuzz_calib/demo.json (nnedge calibrate on the demo model).
 */
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "common.h"

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
    nne_calib *c = NULL;
    if (nne_calib_from_json(ctx, (const char *)data, size, "fuzz", &c) != NNE_OK) return 0;
    char *s = nne_calib_to_json(c, "fuzz");
    nne_calib *d = NULL;
    if (s && nne_calib_from_json(ctx, s, strlen(s), "fuzz again", &d) == NNE_OK) {
        if (nne_calib_n_layers(c) != nne_calib_n_layers(d)) abort();
        for (int i = 0; i < nne_calib_n_layers(c); i++) {
            const nne_calib_layer *a = nne_calib_layer_at(c, i), *b = nne_calib_layer_at(d, i);
            if (memcmp(&a->lo, &b->lo, sizeof a->lo) || memcmp(&a->hi, &b->hi, sizeof a->hi))
                abort();
        }
    } else if (s) {
        abort(); /* what we write must load */
    }
    nne_calib_free(d);
    free(s);
    nne_calib_free(c);
    return 0;
}
