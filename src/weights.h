/*
 * weights.h - the `.nne` model container: a fixed 128-byte preamble, a JSON header, a tensor
 * table and 64-byte-aligned tensor data with a CRC32 per tensor. Specified byte by byte in
 * docs/MODEL_FORMAT.md. The reader maps the file read-only and validates every offset and
 * size against the file length before anything is used; the writer writes a temporary file
 * in the destination directory and renames it into place, so no partial file is ever left.
 */
#ifndef NNE_WEIGHTS_H
#define NNE_WEIGHTS_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

#define NNE_WEIGHTS_MAGIC "NNEMODEL"
#define NNE_WEIGHTS_VERSION 1u
#define NNE_WEIGHTS_PREAMBLE 128
#define NNE_WEIGHTS_MAX_DIM 5
#define NNE_WEIGHTS_DTYPE_F32 0

/* A tensor to write (all pointers borrowed). */
typedef struct nne_wtensor {
    const char *name;                   /* 1..255 bytes, unique                 */
    int ndim;                           /* 0..NNE_WEIGHTS_MAX_DIM               */
    int64_t shape[NNE_WEIGHTS_MAX_DIM];
    const float *data;                  /* float32 [prod(shape)]                */
} nne_wtensor;

/* A tensor of an opened file. */
typedef struct nne_wentry {
    char *name;                         /* owned                                */
    int ndim;
    int64_t shape[NNE_WEIGHTS_MAX_DIM];
    int64_t nelem;
    const float *data;                  /* points into the mapping/buffer       */
    uint32_t crc32;                     /* stored checksum                      */
} nne_wentry;

typedef struct nne_wfile {
    void *map;              /* owned mapping (NULL when opened from memory) */
    size_t map_size;
    char *header;           /* owned NUL-terminated copy of the JSON header  */
    size_t header_len;
    int n_entries;
    nne_wentry *entries;    /* owned [n_entries]                             */
} nne_wfile;

/* Writes `header_json` and the tensors to `path` atomically (temporary file + rename). */
nne_status nne_weights_write(nne_ctx *ctx, const char *path, const char *header_json,
                             const nne_wtensor *tensors, int n);

/* Maps and validates a model file; with `verify_crc` every tensor's CRC32 is checked
 * (NNE_ERR_CHECKSUM names the tensor). On success *out is owned (nne_weights_close). */
nne_status nne_weights_open(nne_ctx *ctx, const char *path, int verify_crc, nne_wfile **out);

/* Same validation over a caller buffer (borrowed; must outlive the result and be 64-byte
 * aligned for the data pointers to be aligned). `label` names it in messages. */
nne_status nne_weights_open_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                                int verify_crc, nne_wfile **out);

/* Releases an opened file. Accepts NULL. */
void nne_weights_close(nne_wfile *f);

/* Tells the OS that the bytes [p, p + n) of the mapping of `f` are not needed any more (a
 * model that copied them into prepared weights): the whole pages inside the range leave the
 * resident set. They stay mapped and readable (a later read faults them back in from the
 * file). No effect on files opened from memory or ranges outside the mapping. */
void nne_weights_release(const nne_wfile *f, const void *p, size_t n);

/* The entry named `name`, or NULL. */
const nne_wentry *nne_weights_find(const nne_wfile *f, const char *name);

/* CRC32 (zlib polynomial) of a buffer of any size. */
uint32_t nne_crc32(const void *buf, size_t len);

#endif /* NNE_WEIGHTS_H */
