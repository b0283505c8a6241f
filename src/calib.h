/*
 * calib.h - activation statistics for INT8 inference: per-layer ranges observed on real cases
 * (`nnedge calibrate`) and the activation quantization ranges derived from them, saved as a
 * small JSON file (format below, docs/INT8.md).
 *
 * A layer is one convolution of the forward pass, numbered in forward order (encoder stages,
 * decoder stages, seg head), and the statistics are those of the convolution's input. An
 * nne_calib observes float tensors per layer: it keeps the count, min and max, and two
 * histograms (positive values, magnitudes of negative values) with logarithmic bins taken from
 * the float's exponent and top 7 mantissa bits (relative bin width 2^-7), so observing is
 * order independent and the result is deterministic whatever the order of the cases.
 * nne_calib_finalize then sets each layer's range [lo, hi]: the values at a percentile of |x|
 * on each side (100 = the observed min and max).
 *
 * JSON file:
 *   {"format": "nnedge-calibration", "version": 1, "percentile": 99.99, "model": "...",
 *    "layers": [{"layer": 0, "channels": 2, "count": 123, "min": -1.5, "max": 4.2,
 *                "lo": -1.4, "hi": 3.9}, ...]}
 * "model" is optional; layers are listed in order from 0. The loader is strict (the file is
 * untrusted): every field present with its type and range, no unknown keys, lo <= 0 <= hi,
 * min <= max, all finite and within float range (lo and hi are rounded to float).
 */
#ifndef NNE_CALIB_H
#define NNE_CALIB_H

#include <stddef.h>
#include <stdint.h>

#include "nnedge.h"

#define NNE_CALIB_MAX_LAYERS 1024
#define NNE_CALIB_MAX_BYTES (16u << 20) /* largest calibration file accepted */

typedef struct nne_calib nne_calib;

/* The statistics and range of one layer. */
typedef struct nne_calib_layer {
    int64_t channels;    /* channels of the observed tensors (0 = unknown)            */
    int64_t count;       /* finite values observed                                   */
    int64_t n_nonfinite; /* NaN / Inf values seen (not counted, not saved)           */
    double min, max;     /* of the finite values (0 when count is 0)                 */
    float lo, hi;        /* activation range, lo <= 0 <= hi (nne_calib_finalize)      */
} nne_calib_layer;

/* Creates an empty calibration (layers appear as they are observed). Returns owned *out,
 * released with nne_calib_free; NNE_ERR_NOMEM. */
nne_status nne_calib_init(nne_calib **out);

/* Frees c and everything it owns; accepts NULL. */
void nne_calib_free(nne_calib *c);

/* Adds n values of x (borrowed) to layer `layer` (0 <= layer < NNE_CALIB_MAX_LAYERS; a new
 * layer index extends the table). Returns NNE_ERR_ARG for a bad layer or n < 0, NNE_ERR_NOMEM
 * (the statistics are unchanged on failure). Not thread-safe for one c. */
nne_status nne_calib_observe(nne_calib *c, int layer, const float *x, int64_t n);

/* Records the channel count of layer `layer`'s tensors (informational, saved). */
void nne_calib_set_channels(nne_calib *c, int layer, int64_t channels);

/* Sets every layer's [lo, hi] from its histograms: hi = the smallest bin edge with at most
 * (1 - percentile / 100) of the layer's values above it on the positive side, capped at max,
 * lo likewise from the negative side (never below min). percentile in (0, 100]; 100 gives
 * [min(min, 0), max(max, 0)]. Layers loaded from a file (no histograms) keep their range.
 * Returns NNE_ERR_ARG for a bad percentile. */
nne_status nne_calib_finalize(nne_calib *c, double percentile);

/* Number of layers (highest observed index + 1). */
int nne_calib_n_layers(const nne_calib *c);

/* Layer i's statistics (borrowed, valid until the next call on c), NULL if out of range. */
const nne_calib_layer *nne_calib_layer_at(const nne_calib *c, int i);

/* The percentile of the last finalize (or of the loaded file); 0 before either. */
double nne_calib_percentile(const nne_calib *c);

/* Serializes c (after nne_calib_finalize) as JSON; `model` (may be NULL) is recorded.
 * Returns an owned string (free()) or NULL when out of memory. */
char *nne_calib_to_json(const nne_calib *c, const char *model);

/* Writes nne_calib_to_json to `path`. NNE_ERR_IO, NNE_ERR_NOMEM, NNE_ERR_ARG (no layers). */
nne_status nne_calib_save(nne_ctx *ctx, const nne_calib *c, const char *model,
                          const char *path);

/* Parses and validates a calibration file's text (len bytes, need not be NUL terminated);
 * `what` names the source in messages. Returns owned *out, or NNE_ERR_FORMAT naming the
 * field, NNE_ERR_NOMEM. */
nne_status nne_calib_from_json(nne_ctx *ctx, const char *text, size_t len, const char *what,
                               nne_calib **out);

/* Reads and validates a calibration file (at most NNE_CALIB_MAX_BYTES). NNE_ERR_IO, plus the
 * statuses of nne_calib_from_json. */
nne_status nne_calib_load(nne_ctx *ctx, const char *path, nne_calib **out);

#endif /* NNE_CALIB_H */
