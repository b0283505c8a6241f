/*
 * protobuf.h - the Protocol Buffers wire format, written and read without generated code: a
 * writer into a growable buffer and a bounded reader over a byte range. Used by the ONNX
 * export and import (src/onnx_export.c, src/onnx.c).
 *
 * DESIGN
 * A message is a sequence of fields, each a varint tag (field number << 3 | wire type)
 * followed by a payload whose form the wire type gives: VARINT (0), I64 (1, 8 bytes
 * little-endian), LEN (2, a varint byte count then that many bytes: strings, bytes, nested
 * messages, packed repeated scalars) and I32 (5, 4 bytes little-endian). The group wire types
 * (3, 4) are obsolete and refused.
 *
 * Writer: nested messages are written in place. nne_pb_begin emits the tag and remembers
 * where the body starts; nne_pb_end moves the body up by the size of its length varint and
 * stores the length in front of it, so no second buffer or size pre-pass is needed and the
 * output is the canonical (shortest) encoding. Allocation failures are sticky (`oom`): the
 * caller checks once at the end.
 *
 * Reader: nne_pb_next never reads past `end`, rejects varints longer than 10 bytes, field
 * number 0, unknown wire types and lengths beyond the remaining bytes, and describes the
 * problem (with the byte offset in the whole input) in `err` for the caller's message.
 * Nested messages are read with a reader over the LEN payload; the caller bounds the depth.
 * ref: https://protobuf.dev/programming-guides/encoding/ (behaviour only).
 */
#ifndef NNE_PROTOBUF_H
#define NNE_PROTOBUF_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

typedef enum nne_pb_wire {
    NNE_PB_VARINT = 0,
    NNE_PB_I64 = 1,
    NNE_PB_LEN = 2,
    NNE_PB_I32 = 5
} nne_pb_wire;

#define NNE_PB_MAX_FIELD 536870911u /* 2^29 - 1 */

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct nne_pb_buf {
    unsigned char *data; /* owned [cap]                         */
    size_t len, cap;
    int oom;             /* 1 after any allocation failure      */
} nne_pb_buf;

/* Releases the buffer (the struct itself is the caller's). Accepts an empty buffer. */
void nne_pb_buf_free(nne_pb_buf *b);

/* Appends raw bytes (no tag). */
void nne_pb_raw(nne_pb_buf *b, const void *p, size_t n);

/* A VARINT field; int64 values are written as their two's-complement uint64 (10 bytes when
 * negative), as protobuf's int64 type requires. */
void nne_pb_uint(nne_pb_buf *b, uint32_t field, uint64_t v);
void nne_pb_int(nne_pb_buf *b, uint32_t field, int64_t v);

/* An I32 field holding a float's bits. */
void nne_pb_float(nne_pb_buf *b, uint32_t field, float v);

/* A LEN field: bytes or a NUL-terminated string. */
void nne_pb_bytes(nne_pb_buf *b, uint32_t field, const void *p, size_t n);
void nne_pb_str(nne_pb_buf *b, uint32_t field, const char *s);

/* Opens a nested message as field `field`; returns the mark to pass to nne_pb_end. */
size_t nne_pb_begin(nne_pb_buf *b, uint32_t field);

/* Closes the message opened at `mark` (inserts its length). Messages must be closed in
 * reverse order of opening. */
void nne_pb_end(nne_pb_buf *b, size_t mark);

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct nne_pb_reader {
    const unsigned char *base; /* start of the whole input (for offsets in messages) */
    const unsigned char *p;    /* next byte                                         */
    const unsigned char *end;  /* one past the last byte of this message            */
    const char *err;           /* static description of the last error, or NULL      */
    size_t err_off;            /* offset of the bad bytes from `base`                */
} nne_pb_reader;

typedef struct nne_pb_field {
    uint32_t num;              /* field number (>= 1)                         */
    int wire;                  /* nne_pb_wire                                 */
    uint64_t u;                /* VARINT value, or the I64 / I32 bits         */
    const unsigned char *data; /* LEN payload (borrowed from the input)       */
    size_t len;                /* LEN payload bytes                           */
    size_t off;                /* offset of the field's tag from `base`       */
} nne_pb_field;

/* A reader over the whole input (borrowed; must outlive the reader). */
nne_pb_reader nne_pb_reader_init(const void *data, size_t len);

/* A reader over the payload of a LEN field read by `parent`. */
nne_pb_reader nne_pb_reader_sub(const nne_pb_reader *parent, const nne_pb_field *f);

/* Reads the next field into *f. Returns 1 on success, 0 at the end of the message, -1 on
 * malformed bytes (r->err and r->err_off describe them; the reader stays at the error). */
int nne_pb_next(nne_pb_reader *r, nne_pb_field *f);

/* Decodes one varint from [*p, end), advancing *p. Returns 0, or -1 if it is truncated or
 * longer than 10 bytes. For packed repeated fields. */
int nne_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v);

/* Name of a wire type for messages ("varint", "len", ...; "invalid" otherwise). */
const char *nne_pb_wire_name(int wire);

#endif /* NNE_PROTOBUF_H */
