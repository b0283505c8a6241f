/*
 * calib.c - per-layer activation statistics and ranges for INT8 inference (see calib.h).
 *
 * DESIGN. Histogram bins come straight from the IEEE-754 bits of |x|: bin = bits >> 16, i.e.
 * exponent and the top 7 mantissa bits, NNE_CALIB_BINS bins covering every finite positive
 * float with a relative width of at most 2^-7 (0.8 %). No range has to be known in advance
 * (activations of unseen cases can be anywhere), counts are integers, so merging is exact and
 * independent of the order of the cases and of the observation calls. A bin's upper edge is the
 * float whose bits are (bin + 1) << 16 (the next bin's first value); the percentile search
 * returns such an edge, capped at the exact observed extreme. Zeros count towards the total
 * but fall in no side's histogram. Histograms are allocated on a layer's first observation;
 * layers loaded from a file carry only their ranges.
 * ref: the percentile calibration of H. Wu et al., "Integer Quantization for Deep Learning
 *      Inference: Principles and Empirical Evaluation" (2020), section 4.
 */
#include "calib.h"

#include <cJSON.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common.h"
#include "json.h"

#define CALIB_FORMAT "nnedge-calibration"
#define CALIB_VERSION 1
#define NNE_CALIB_BINS 32640 /* (0x7F7FFFFF >> 16) + 1: every finite positive float */

typedef struct calib_hist {
    uint64_t pos[NNE_CALIB_BINS]; /* counts of x > 0 by bin of x   */
    uint64_t neg[NNE_CALIB_BINS]; /* counts of x < 0 by bin of -x  */
} calib_hist;

struct nne_calib {
    int n_layers;             /* highest layer index seen + 1     */
    int cap;                  /* entries allocated in the arrays  */
    nne_calib_layer *layers;  /* [cap]                            */
    calib_hist **hist;        /* [cap], NULL until observed       */
    double percentile;        /* of the last finalize / the file  */
};

nne_status nne_calib_init(nne_calib **out) {
    nne_calib *c = calloc(1, sizeof *c);
    if (!c) return NNE_ERR_NOMEM;
    *out = c;
    return NNE_OK;
}

void nne_calib_free(nne_calib *c) {
    if (!c) return;
    for (int i = 0; i < c->cap; i++) free(c->hist[i]);
    free(c->hist);
    free(c->layers);
    free(c);
}

/* Makes room for layers [0, n); new entries are zero. */
static nne_status grow(nne_calib *c, int n) {
    if (n <= c->cap) return NNE_OK;
    int cap = c->cap ? c->cap : 32;
    while (cap < n) cap *= 2;
    if (cap > NNE_CALIB_MAX_LAYERS) cap = NNE_CALIB_MAX_LAYERS;
    nne_calib_layer *l = realloc(c->layers, (size_t)cap * sizeof *l);
    if (!l) return NNE_ERR_NOMEM;
    c->layers = l;
    calib_hist **h = realloc(c->hist, (size_t)cap * sizeof *h);
    if (!h) return NNE_ERR_NOMEM;
    c->hist = h;
    memset(c->layers + c->cap, 0, (size_t)(cap - c->cap) * sizeof *l);
    memset(c->hist + c->cap, 0, (size_t)(cap - c->cap) * sizeof *h);
    c->cap = cap;
    return NNE_OK;
}

static uint32_t float_bits(float f) {
    uint32_t u;
    memcpy(&u, &f, sizeof u);
    return u;
}

static float bits_float(uint32_t u) {
    float f;
    memcpy(&f, &u, sizeof f);
    return f;
}

nne_status nne_calib_observe(nne_calib *c, int layer, const float *x, int64_t n) {
    if (!c || layer < 0 || layer >= NNE_CALIB_MAX_LAYERS || n < 0 || (n > 0 && !x))
        return NNE_ERR_ARG;
    if (grow(c, layer + 1)) return NNE_ERR_NOMEM;
    if (!c->hist[layer]) {
        c->hist[layer] = calloc(1, sizeof(calib_hist));
        if (!c->hist[layer]) return NNE_ERR_NOMEM;
    }
    if (layer >= c->n_layers) c->n_layers = layer + 1;
    nne_calib_layer *l = &c->layers[layer];
    calib_hist *h = c->hist[layer];
    double mn = l->count ? l->min : (double)INFINITY, mx = l->count ? l->max : -(double)INFINITY;
    int64_t cnt = 0, bad = 0;
    float fmn = INFINITY, fmx = -INFINITY;
    for (int64_t i = 0; i < n; i++) {
        const float v = x[i];
        const uint32_t u = float_bits(v), a = u & 0x7FFFFFFFu;
        if (a >= 0x7F800000u) { /* Inf or NaN */
            bad++;
            continue;
        }
        cnt++;
        fmn = v < fmn ? v : fmn;
        fmx = v > fmx ? v : fmx;
        if (a == 0) continue;
        if (u >> 31) h->neg[a >> 16]++;
        else h->pos[a >> 16]++;
    }
    if (cnt) {
        mn = fmin(mn, (double)fmn);
        mx = fmax(mx, (double)fmx);
        l->min = mn;
        l->max = mx;
    }
    l->count += cnt;
    l->n_nonfinite += bad;
    return NNE_OK;
}

void nne_calib_set_channels(nne_calib *c, int layer, int64_t channels) {
    if (!c || layer < 0 || layer >= c->cap) return;
    c->layers[layer].channels = channels;
}

/* The upper edge of the smallest bin b with at most `allow` of the side's values in bins
 * above b; 0 when the side is empty. */
static double side_edge(const uint64_t *bins, uint64_t allow) {
    uint64_t above = 0;
    int b = NNE_CALIB_BINS - 1;
    for (; b >= 0; b--) {
        if (bins[b] == 0) continue;
        if (above + bins[b] > allow) break;
        above += bins[b];
    }
    if (b < 0) return 0.0;
    return (double)bits_float((uint32_t)(b + 1) << 16);
}

nne_status nne_calib_finalize(nne_calib *c, double percentile) {
    if (!c || !(percentile > 0.0 && percentile <= 100.0)) return NNE_ERR_ARG;
    c->percentile = percentile;
    for (int i = 0; i < c->n_layers; i++) {
        nne_calib_layer *l = &c->layers[i];
        const calib_hist *h = c->hist[i];
        if (!h) continue;
        if (l->count == 0) {
            l->lo = l->hi = 0.0f;
            continue;
        }
        /* values allowed outside the range, per side: floor(count * (1 - p / 100)) */
        const uint64_t allow = (uint64_t)floor((double)l->count * (100.0 - percentile) / 100.0);
        double hi = side_edge(h->pos, allow), lo = -side_edge(h->neg, allow);
        hi = fmin(hi, fmax(l->max, 0.0));
        lo = fmax(lo, fmin(l->min, 0.0));
        l->hi = (float)hi; /* hi and lo are floats already (edges or observed values) */
        l->lo = (float)lo;
    }
    return NNE_OK;
}

int nne_calib_n_layers(const nne_calib *c) { return c ? c->n_layers : 0; }

const nne_calib_layer *nne_calib_layer_at(const nne_calib *c, int i) {
    return (c && i >= 0 && i < c->n_layers) ? &c->layers[i] : NULL;
}

double nne_calib_percentile(const nne_calib *c) { return c ? c->percentile : 0.0; }

char *nne_calib_to_json(const nne_calib *c, const char *model) {
    if (!c) return NULL;
    cJSON *root = cJSON_CreateObject(), *arr = NULL;
    if (!root) return NULL;
    int ok = cJSON_AddStringToObject(root, "format", CALIB_FORMAT) &&
             cJSON_AddNumberToObject(root, "version", CALIB_VERSION) &&
             cJSON_AddNumberToObject(root, "percentile", c->percentile) &&
             (!model || cJSON_AddStringToObject(root, "model", model)) &&
             (arr = cJSON_AddArrayToObject(root, "layers"));
    for (int i = 0; ok && i < c->n_layers; i++) {
        const nne_calib_layer *l = &c->layers[i];
        cJSON *o = cJSON_CreateObject();
        ok = o && cJSON_AddItemToArray(arr, o);
        if (!ok) {
            cJSON_Delete(o);
            break;
        }
        ok = cJSON_AddNumberToObject(o, "layer", i) &&
             cJSON_AddNumberToObject(o, "channels", (double)l->channels) &&
             cJSON_AddNumberToObject(o, "count", (double)l->count) &&
             cJSON_AddNumberToObject(o, "min", l->min) &&
             cJSON_AddNumberToObject(o, "max", l->max) &&
             cJSON_AddNumberToObject(o, "lo", (double)l->lo) &&
             cJSON_AddNumberToObject(o, "hi", (double)l->hi);
    }
    char *s = ok ? cJSON_Print(root) : NULL;
    cJSON_Delete(root);
    return s;
}

nne_status nne_calib_save(nne_ctx *ctx, const nne_calib *c, const char *model,
                          const char *path) {
    if (!c || c->n_layers == 0) return nne_fail(ctx, NNE_ERR_ARG, "%s: no layers observed", path);
    char *s = nne_calib_to_json(c, model);
    if (!s) return nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory", path);
    /* written to PATH.tmp.PID and renamed: a failed save leaves nothing at PATH */
    char tmp[4096];
    nne_status st = NNE_OK;
    if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid()) >= sizeof tmp) {
        free(s);
        return nne_fail(ctx, NNE_ERR_ARG, "%s: path too long", path);
    }
    FILE *f = fopen(tmp, "wb");
    if (!f) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot open for writing", path);
    } else {
        const size_t n = strlen(s);
        int bad = fwrite(s, 1, n, f) != n || fputc('\n', f) == EOF;
        bad |= fclose(f) != 0;
        if (bad) st = nne_fail(ctx, NNE_ERR_IO, "%s: write error", path);
        else if (rename(tmp, path) != 0)
            st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot rename the temporary file", path);
        if (st != NNE_OK) remove(tmp);
    }
    free(s);
    return st;
}

/* Fails unless every member of `obj` is one of the `n` names in `keys`. */
static nne_status only_keys(nne_ctx *ctx, const cJSON *obj, const char *const *keys, int n,
                            const char *what) {
    const cJSON *it;
    cJSON_ArrayForEach(it, obj) {
        int known = 0;
        for (int i = 0; i < n && !known; i++) known = it->string && !strcmp(it->string, keys[i]);
        if (!known)
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: unknown field '%s'", what,
                            it->string ? it->string : "(none)");
    }
    return NNE_OK;
}

/* A finite number member within float range. */
static nne_status float_num(nne_ctx *ctx, const cJSON *o, const char *key, const char *what,
                            double *out) {
    nne_status st = nne_json_num(ctx, o, key, what, out);
    if (st) return st;
    if (!(fabs(*out) <= 3.4028234663852886e38))
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: '%s' is outside the float range", what, key);
    return NNE_OK;
}

nne_status nne_calib_from_json(nne_ctx *ctx, const char *text, size_t len, const char *what,
                               nne_calib **out) {
    static const char *const root_keys[] = {"format", "version", "percentile", "model",
                                            "layers"};
    static const char *const layer_keys[] = {"layer", "channels", "count", "min", "max", "lo",
                                             "hi"};
    cJSON *root = NULL;
    nne_calib *c = NULL;
    nne_status st;
    if ((st = nne_json_parse(ctx, text, len, what, &root))) return st;
    const char *fmt;
    const cJSON *layers, *model;
    int64_t version;
    double pct;
    if (!cJSON_IsObject(root)) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: not a JSON object", what);
        goto fail;
    }
    if ((st = only_keys(ctx, root, root_keys, 5, what))) goto fail;
    if ((st = nne_json_str(ctx, root, "format", what, &fmt))) goto fail;
    if (strcmp(fmt, CALIB_FORMAT) != 0) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: format '%s' is not '%s'", what, fmt,
                      CALIB_FORMAT);
        goto fail;
    }
    if ((st = nne_json_int(ctx, root, "version", CALIB_VERSION, CALIB_VERSION, what, &version)))
        goto fail;
    if ((st = nne_json_num(ctx, root, "percentile", what, &pct))) goto fail;
    if (!(pct > 0.0 && pct <= 100.0)) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: percentile %g is not in (0, 100]", what, pct);
        goto fail;
    }
    model = cJSON_GetObjectItemCaseSensitive(root, "model");
    if (model && !cJSON_IsString(model)) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: 'model' must be a string", what);
        goto fail;
    }
    if ((st = nne_json_member(ctx, root, "layers", cJSON_Array, what, &layers))) goto fail;
    const int n = cJSON_GetArraySize(layers);
    if (n < 1 || n > NNE_CALIB_MAX_LAYERS) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: %d layers (1..%d allowed)", what, n,
                      NNE_CALIB_MAX_LAYERS);
        goto fail;
    }
    if ((st = nne_calib_init(&c)) || (st = grow(c, n))) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory", what);
        goto fail;
    }
    c->n_layers = n;
    c->percentile = pct;
    int i = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, layers) {
        char lw[300];
        snprintf(lw, sizeof lw, "%s: layers[%d]", what, i);
        if (!cJSON_IsObject(it)) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s is not an object", lw);
            goto fail;
        }
        nne_calib_layer *l = &c->layers[i];
        int64_t idx;
        double mn, mx, lo, hi;
        if ((st = only_keys(ctx, it, layer_keys, 7, lw)) ||
            (st = nne_json_int(ctx, it, "layer", i, i, lw, &idx)) ||
            (st = nne_json_int(ctx, it, "channels", 0, 1 << 20, lw, &l->channels)) ||
            (st = nne_json_int(ctx, it, "count", 0, INT64_C(1) << 53, lw, &l->count)) ||
            (st = float_num(ctx, it, "min", lw, &mn)) || (st = float_num(ctx, it, "max", lw, &mx)) ||
            (st = float_num(ctx, it, "lo", lw, &lo)) || (st = float_num(ctx, it, "hi", lw, &hi)))
            goto fail;
        if (mn > mx || lo > 0.0 || hi < 0.0) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: needs min <= max and lo <= 0 <= hi", lw);
            goto fail;
        }
        l->min = mn;
        l->max = mx;
        l->lo = (float)lo; /* cJSON writes >= 15 digits: a saved float reads back exactly */
        l->hi = (float)hi;
        i++;
    }
    cJSON_Delete(root);
    *out = c;
    return NNE_OK;
fail:
    cJSON_Delete(root);
    nne_calib_free(c);
    return st;
}

nne_status nne_calib_load(nne_ctx *ctx, const char *path, nne_calib **out) {
    char *text = NULL;
    size_t len = 0;
    nne_status st = nne_file_read_all(ctx, path, NNE_CALIB_MAX_BYTES, &text, &len);
    if (st) return st;
    st = nne_calib_from_json(ctx, text, len, path, out);
    free(text);
    return st;
}
