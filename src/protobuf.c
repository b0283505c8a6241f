/*
 * protobuf.c - Protocol Buffers wire format writer and bounded reader (see protobuf.h).
 *
 * DESIGN
 * The writer grows its buffer geometrically and records allocation failure instead of
 * returning it from every call; the reader is a cursor over a borrowed byte range that checks
 * every length against the bytes that remain before it moves, so a hostile length can never
 * make it read or allocate beyond the input.
 */
#include "protobuf.h"

#include <stdlib.h>
#include <string.h>

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */
/* ---------------------------------------------------------------------------------------- */

void nne_pb_buf_free(nne_pb_buf *b) {
    free(b->data);
    memset(b, 0, sizeof *b);
}

/* Makes room for `n` more bytes; returns 0, or -1 (and sets oom). */
static int reserve(nne_pb_buf *b, size_t n) {
    if (b->oom) return -1;
    if (n <= b->cap - b->len) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) {
            b->oom = 1;
            return -1;
        }
        cap *= 2;
    }
    unsigned char *d = realloc(b->data, cap);
    if (!d) {
        b->oom = 1;
        return -1;
    }
    b->data = d;
    b->cap = cap;
    return 0;
}

/* Encodes v as a varint into out (at least 10 bytes); returns the byte count. */
static size_t encode_varint(unsigned char *out, uint64_t v) {
    size_t n = 0;
    while (v >= 0x80) {
        out[n++] = (unsigned char)(v | 0x80);
        v >>= 7;
    }
    out[n++] = (unsigned char)v;
    return n;
}

void nne_pb_raw(nne_pb_buf *b, const void *p, size_t n) {
    if (n == 0 || reserve(b, n)) return;
    memcpy(b->data + b->len, p, n);
    b->len += n;
}

static void put_varint(nne_pb_buf *b, uint64_t v) {
    unsigned char tmp[10];
    nne_pb_raw(b, tmp, encode_varint(tmp, v));
}

static void put_tag(nne_pb_buf *b, uint32_t field, int wire) {
    NNE_ASSERT(field >= 1 && field <= NNE_PB_MAX_FIELD);
    put_varint(b, ((uint64_t)field << 3) | (uint64_t)wire);
}

void nne_pb_uint(nne_pb_buf *b, uint32_t field, uint64_t v) {
    put_tag(b, field, NNE_PB_VARINT);
    put_varint(b, v);
}

void nne_pb_int(nne_pb_buf *b, uint32_t field, int64_t v) { nne_pb_uint(b, field, (uint64_t)v); }

void nne_pb_float(nne_pb_buf *b, uint32_t field, float v) {
    uint32_t bits;
    memcpy(&bits, &v, sizeof bits);
    unsigned char le[4];
    for (int i = 0; i < 4; i++) le[i] = (unsigned char)(bits >> (8 * i));
    put_tag(b, field, NNE_PB_I32);
    nne_pb_raw(b, le, 4);
}

void nne_pb_bytes(nne_pb_buf *b, uint32_t field, const void *p, size_t n) {
    put_tag(b, field, NNE_PB_LEN);
    put_varint(b, n);
    nne_pb_raw(b, p, n);
}

void nne_pb_str(nne_pb_buf *b, uint32_t field, const char *s) {
    nne_pb_bytes(b, field, s, strlen(s));
}

size_t nne_pb_begin(nne_pb_buf *b, uint32_t field) {
    put_tag(b, field, NNE_PB_LEN);
    return b->len;
}

void nne_pb_end(nne_pb_buf *b, size_t mark) {
    if (b->oom) return;
    NNE_ASSERT(mark <= b->len);
    size_t body = b->len - mark;
    unsigned char tmp[10];
    size_t k = encode_varint(tmp, body);
    if (reserve(b, k)) return;
    memmove(b->data + mark + k, b->data + mark, body);
    memcpy(b->data + mark, tmp, k);
    b->len += k;
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                    */
/* ---------------------------------------------------------------------------------------- */

nne_pb_reader nne_pb_reader_init(const void *data, size_t len) {
    nne_pb_reader r;
    r.base = data;
    r.p = data;
    r.end = r.p + len;
    r.err = NULL;
    r.err_off = 0;
    return r;
}

nne_pb_reader nne_pb_reader_sub(const nne_pb_reader *parent, const nne_pb_field *f) {
    nne_pb_reader r;
    r.base = parent->base;
    r.p = f->data;
    r.end = f->data + f->len;
    r.err = NULL;
    r.err_off = 0;
    return r;
}

int nne_pb_varint(const unsigned char **p, const unsigned char *end, uint64_t *v) {
    uint64_t x = 0;
    const unsigned char *q = *p;
    for (int i = 0; i < 10; i++) {
        if (q >= end) return -1;
        unsigned char c = *q++;
        /* The tenth byte may only carry the top bit of a 64-bit value. */
        if (i == 9 && c > 1) return -1;
        x |= (uint64_t)(c & 0x7f) << (7 * i);
        if (!(c & 0x80)) {
            *p = q;
            *v = x;
            return 0;
        }
    }
    return -1;
}

static int fail(nne_pb_reader *r, const unsigned char *at, const char *what) {
    r->err = what;
    r->err_off = (size_t)(at - r->base);
    return -1;
}

int nne_pb_next(nne_pb_reader *r, nne_pb_field *f) {
    if (r->p >= r->end) return 0;
    const unsigned char *start = r->p, *q = r->p;
    uint64_t tag;
    if (nne_pb_varint(&q, r->end, &tag))
        return fail(r, start, "truncated or over-long field tag");
    if (tag >> 3 == 0 || tag >> 3 > NNE_PB_MAX_FIELD)
        return fail(r, start, "invalid field number");
    f->num = (uint32_t)(tag >> 3);
    f->wire = (int)(tag & 7);
    f->off = (size_t)(start - r->base);
    f->u = 0;
    f->data = NULL;
    f->len = 0;
    switch (f->wire) {
    case NNE_PB_VARINT:
        if (nne_pb_varint(&q, r->end, &f->u)) return fail(r, q, "truncated or over-long varint");
        break;
    case NNE_PB_I64:
    case NNE_PB_I32: {
        size_t n = f->wire == NNE_PB_I64 ? 8 : 4;
        if ((size_t)(r->end - q) < n) return fail(r, q, "fixed-width value past the end");
        for (size_t i = 0; i < n; i++) f->u |= (uint64_t)q[i] << (8 * i);
        q += n;
        break;
    }
    case NNE_PB_LEN: {
        uint64_t n;
        if (nne_pb_varint(&q, r->end, &n)) return fail(r, q, "truncated or over-long length");
        if (n > (uint64_t)(r->end - q)) return fail(r, q, "length past the end of the message");
        f->data = q;
        f->len = (size_t)n;
        q += n;
        break;
    }
    default:
        return fail(r, start, f->wire == 3 || f->wire == 4 ? "group wire type (not supported)"
                                                            : "invalid wire type");
    }
    r->p = q;
    return 1;
}

const char *nne_pb_wire_name(int wire) {
    switch (wire) {
    case NNE_PB_VARINT: return "varint";
    case NNE_PB_I64: return "fixed64";
    case NNE_PB_LEN: return "length-delimited";
    case NNE_PB_I32: return "fixed32";
    default: return "invalid";
    }
}
