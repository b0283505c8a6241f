/*
 * onnx.c - reads an ONNX ModelProto (protobuf) into the plain structs of onnx.h.
 *
 * DESIGN
 * One function per message walks its fields with the bounded reader of src/protobuf.c. Every
 * field nnedge uses is checked for its wire type (repeated scalars are accepted packed and
 * unpacked, as protobuf requires); unknown fields are skipped, which the wire format allows
 * and which keeps files from newer ONNX versions readable. Strings are copied and
 * NUL-terminated; tensor raw_data stays in the caller's buffer (validated against the shape,
 * never copied here). Counts are capped so that a small hostile file cannot make the parser
 * allocate far more than its own size, and subgraphs (If/Loop bodies) are walked only for
 * their structure with an explicit depth bound, so a recursion bomb is an error, not a stack
 * overflow. Every error names the message path and the byte offset.
 * ref: onnx/onnx.proto (ModelProto, GraphProto, NodeProto, AttributeProto, TensorProto,
 *      ValueInfoProto, TypeProto, TensorShapeProto field numbers).
 */
#include "onnx.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "half.h"
#include "protobuf.h"

#define MAX_NODES 200000
#define MAX_INITS 200000
#define MAX_VALUES 100000
#define MAX_META 4096
#define MAX_NODE_IO 4096
#define MAX_ATTRS 256
#define MAX_LIST 1048576       /* ints / floats of one attribute                 */
#define MAX_TYPED (1LL << 28)  /* typed tensor values (float_data, int64_data...) */
#define MAX_STRING (64u << 20) /* one string (metadata values hold plans JSON)    */

typedef struct parser {
    nne_ctx *ctx;
    const char *label;
    nne_onnx_model *m;
} parser;

static nne_status bad(parser *P, size_t off, const char *fmt, ...) NNE_PRINTF(3, 4);
static nne_status bad(parser *P, size_t off, const char *fmt, ...) {
    char msg[600];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nne_fail(P->ctx, NNE_ERR_FORMAT, "%s: ONNX: %s (byte %zu)", P->label, msg, off);
}

static nne_status nomem(parser *P) { return nne_fail(P->ctx, NNE_ERR_NOMEM, "out of memory"); }

/* The reader's error, reported inside message `where`. */
static nne_status wire_error(parser *P, const nne_pb_reader *r, const char *where) {
    return bad(P, r->err_off, "%s: %s", where, r->err);
}

static nne_status expect(parser *P, const nne_pb_field *f, int wire, const char *where,
                         const char *field) {
    if (f->wire == wire) return NNE_OK;
    return bad(P, f->off, "%s.%s (field %u) has wire type %s, expected %s", where, field, f->num,
               nne_pb_wire_name(f->wire), nne_pb_wire_name(wire));
}

/* Grows an array of `esz`-byte elements so that index n fits. */
static int grow(void *arrp, int *cap, int n, size_t esz, int max) {
    void **arr = arrp;
    if (n < *cap) return 0;
    if (n >= max) return -1;
    int nc = *cap ? *cap * 2 : 4;
    if (nc > max) nc = max;
    void *p = realloc(*arr, (size_t)nc * esz);
    if (!p) return -2;
    memset((char *)p + (size_t)*cap * esz, 0, (size_t)(nc - *cap) * esz);
    *arr = p;
    *cap = nc;
    return 0;
}

/* Copies a LEN payload into an owned NUL-terminated string. */
static nne_status str_field(parser *P, const nne_pb_field *f, const char *where,
                            const char *field, const char **out) {
    nne_status st = expect(P, f, NNE_PB_LEN, where, field);
    if (st != NNE_OK) return st;
    if (f->len > MAX_STRING) return bad(P, f->off, "%s.%s: string too long", where, field);
    if (memchr(f->data, '\0', f->len))
        return bad(P, f->off, "%s.%s: NUL byte inside a string", where, field);
    nne_onnx_model *m = P->m;
    if (m->n_strs == m->cap_strs) {
        int nc = m->cap_strs ? m->cap_strs * 2 : 64;
        char **s = realloc(m->strs, sizeof *s * (size_t)nc);
        if (!s) return nomem(P);
        m->strs = s;
        m->cap_strs = nc;
    }
    char *s = malloc(f->len + 1);
    if (!s) return nomem(P);
    memcpy(s, f->data, f->len);
    s[f->len] = '\0';
    m->strs[m->n_strs++] = s;
    *out = s;
    return NNE_OK;
}

static nne_status varint_field(parser *P, const nne_pb_field *f, const char *where,
                               const char *field, int64_t *out) {
    nne_status st = expect(P, f, NNE_PB_VARINT, where, field);
    if (st == NNE_OK) *out = (int64_t)f->u;
    return st;
}

/* Appends the values of a repeated integer field (packed LEN or one VARINT) to *arr. */
static nne_status int_list(parser *P, const nne_pb_field *f, const char *where,
                           const char *field, int64_t **arr, int64_t *n, int64_t max) {
    if (f->wire == NNE_PB_VARINT) {
        if (*n >= max) return bad(P, f->off, "%s.%s: too many values", where, field);
        if (*n % 64 == 0) {
            int64_t *p = realloc(*arr, sizeof *p * (size_t)(*n + 64));
            if (!p) return nomem(P);
            *arr = p;
        }
        (*arr)[(*n)++] = (int64_t)f->u;
        return NNE_OK;
    }
    if (f->wire != NNE_PB_LEN)
        return bad(P, f->off, "%s.%s (field %u) has wire type %s, expected varint or packed",
                   where, field, f->num, nne_pb_wire_name(f->wire));
    /* Count first, so one allocation bounded by the payload size suffices. */
    int64_t cnt = 0;
    const unsigned char *q = f->data, *end = f->data + f->len;
    uint64_t v;
    while (q < end) {
        if (nne_pb_varint(&q, end, &v))
            return bad(P, f->off, "%s.%s: truncated packed varint", where, field);
        cnt++;
    }
    if (cnt > max - *n) return bad(P, f->off, "%s.%s: too many values", where, field);
    int64_t *p = realloc(*arr, sizeof *p * (size_t)(*n + cnt + 64));
    if (!p) return nomem(P);
    *arr = p;
    for (q = f->data; q < end;) {
        nne_pb_varint(&q, end, &v);
        p[(*n)++] = (int64_t)v;
    }
    return NNE_OK;
}

/* Appends fixed-width values (4 or 8 bytes) of a repeated float/double field. */
static nne_status fixed_list(parser *P, const nne_pb_field *f, int width, const char *where,
                             const char *field, unsigned char **arr, int64_t *n, int64_t max) {
    const unsigned char *src;
    int64_t cnt;
    unsigned char one[8];
    if (f->wire == (width == 4 ? NNE_PB_I32 : NNE_PB_I64)) {
        for (int i = 0; i < width; i++) one[i] = (unsigned char)(f->u >> (8 * i));
        src = one;
        cnt = 1;
    } else if (f->wire == NNE_PB_LEN) {
        if (f->len % (size_t)width)
            return bad(P, f->off, "%s.%s: packed length %zu is not a multiple of %d", where,
                       field, f->len, width);
        src = f->data;
        cnt = (int64_t)(f->len / (size_t)width);
    } else {
        return bad(P, f->off, "%s.%s (field %u) has wire type %s, expected %s or packed", where,
                   field, f->num, nne_pb_wire_name(f->wire), width == 4 ? "fixed32" : "fixed64");
    }
    if (cnt > max - *n) return bad(P, f->off, "%s.%s: too many values", where, field);
    unsigned char *p = realloc(*arr, (size_t)(*n + cnt) * (size_t)width + 1);
    if (!p) return nomem(P);
    *arr = p;
    /* Values are little-endian on the wire; nnedge runs on little-endian hosts only. */
    memcpy(p + (size_t)*n * (size_t)width, src, (size_t)cnt * (size_t)width);
    *n += cnt;
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Tensors                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static int elem_size(int dtype) {
    switch (dtype) {
    case 2: case 3: case 9: return 1;        /* uint8, int8, bool   */
    case 4: case 5: case NNE_ONNX_FLOAT16: case 16: return 2; /* (u)int16, f16, bf16 */
    case NNE_ONNX_FLOAT: case NNE_ONNX_INT32: case 12: return 4;
    case NNE_ONNX_INT64: case NNE_ONNX_DOUBLE: case 13: return 8;
    default: return 0;
    }
}

static const char *dtype_name(int dtype) {
    switch (dtype) {
    case NNE_ONNX_FLOAT: return "float";
    case NNE_ONNX_FLOAT16: return "float16";
    case NNE_ONNX_DOUBLE: return "double";
    case NNE_ONNX_INT32: return "int32";
    case NNE_ONNX_INT64: return "int64";
    default: return "other";
    }
}

static nne_status parse_tensor(parser *P, const nne_pb_reader *parent, const nne_pb_field *pf,
                               const char *where, nne_onnx_tensor *t) {
    nne_pb_reader r = nne_pb_reader_sub(parent, pf);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int64_t *dims = NULL, nd = 0, *ints = NULL, n_ints = 0;
    unsigned char *fl = NULL, *db = NULL;
    int64_t n_fl = 0, n_db = 0;
    int rc, has_i32 = 0, has_i64 = 0, has_raw = 0, segmented = 0;
    memset(t, 0, sizeof *t);
    t->name = "";
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        int64_t v;
        switch (f.num) {
        case 1: st = int_list(P, &f, where, "dims", &dims, &nd, NNE_ONNX_MAX_RANK + 1); break;
        case 2:
            if ((st = varint_field(P, &f, where, "data_type", &v)) == NNE_OK) t->dtype = (int)v;
            break;
        case 3: segmented = 1; break;
        case 4: st = fixed_list(P, &f, 4, where, "float_data", &fl, &n_fl, MAX_TYPED); break;
        case 5:
            has_i32 = 1;
            st = int_list(P, &f, where, "int32_data", &ints, &n_ints, MAX_TYPED);
            break;
        case 7:
            has_i64 = 1;
            st = int_list(P, &f, where, "int64_data", &ints, &n_ints, MAX_TYPED);
            break;
        case 8: st = str_field(P, &f, where, "name", &t->name); break;
        case 9:
            if ((st = expect(P, &f, NNE_PB_LEN, where, "raw_data")) == NNE_OK) {
                t->raw = f.data;
                t->raw_len = f.len;
                has_raw = 1;
            }
            break;
        case 10: st = fixed_list(P, &f, 8, where, "double_data", &db, &n_db, MAX_TYPED); break;
        case 13: t->external = 1; break;
        case 14:
            if ((st = varint_field(P, &f, where, "data_location", &v)) == NNE_OK && v == 1)
                t->external = 1;
            break;
        default: break; /* string_data, uint64_data, doc_string, ...: not used */
        }
        if (st != NNE_OK) goto done;
    }
    if (rc < 0) {
        st = wire_error(P, &r, where);
        goto done;
    }
    if (nd > NNE_ONNX_MAX_RANK) {
        st = bad(P, pf->off, "%s '%s': rank %lld exceeds %d", where, t->name, (long long)nd,
                 NNE_ONNX_MAX_RANK);
        goto done;
    }
    if (segmented) {
        st = bad(P, pf->off, "%s '%s': segmented tensors are not supported", where, t->name);
        goto done;
    }
    t->ndim = (int)nd;
    t->nelem = 1;
    for (int i = 0; i < t->ndim; i++) {
        t->dims[i] = dims[i];
        if (dims[i] < 0 || nne_mul_i64(t->nelem, dims[i], &t->nelem) || t->nelem > (1LL << 40)) {
            st = bad(P, pf->off, "%s '%s': invalid dimension %lld", where, t->name,
                     (long long)dims[i]);
            goto done;
        }
    }
    /* Exactly one data encoding, of the size the shape implies. */
    int n_enc = has_raw + (n_fl > 0) + has_i32 + has_i64 + (n_db > 0);
    if (n_enc > 1) {
        st = bad(P, pf->off, "%s '%s': data given in more than one field", where, t->name);
        goto done;
    }
    /* The typed field must be the one the data type uses (float_data for float, int32_data
     * for float16 and the small integers, int64_data for int64, double_data for double). */
    int t_float = t->dtype == NNE_ONNX_FLOAT, t_double = t->dtype == NNE_ONNX_DOUBLE;
    int t_i64 = t->dtype == NNE_ONNX_INT64;
    if ((n_fl && !t_float) || (n_db && !t_double) || (has_i64 && !t_i64) ||
        (has_i32 && (t_float || t_double || t_i64))) {
        st = bad(P, pf->off, "%s '%s': values stored in a field that does not match data type %d",
                 where, t->name, t->dtype);
        goto done;
    }
    if (t->external) goto done;
    if (has_raw) {
        int es = elem_size(t->dtype);
        if (es && (uint64_t)t->raw_len != (uint64_t)t->nelem * (uint64_t)es)
            st = bad(P, pf->off, "%s '%s': raw_data has %zu bytes, its shape of %lld %s values "
                     "needs %lld", where, t->name, t->raw_len, (long long)t->nelem,
                     dtype_name(t->dtype), (long long)(t->nelem * es));
    } else if (n_enc == 1) {
        int64_t n = n_fl ? n_fl : n_db ? n_db : n_ints;
        if (n != t->nelem)
            st = bad(P, pf->off, "%s '%s': %lld stored values, its shape needs %lld", where,
                     t->name, (long long)n, (long long)t->nelem);
        t->n_typed = n;
        if (n_fl) { /* ownership moves to the tensor */
            t->typed = fl;
            fl = NULL;
        } else if (n_db) {
            t->typed = db;
            db = NULL;
        } else {
            t->typed = ints;
            ints = NULL;
        }
    } else if (t->nelem != 0) {
        st = bad(P, pf->off, "%s '%s': no data for %lld values", where, t->name,
                 (long long)t->nelem);
    }
done:
    free(dims);
    free(ints);
    free(fl);
    free(db);
    if (st != NNE_OK) {
        free(t->typed);
        t->typed = NULL;
    }
    return st;
}

static void tensor_free(nne_onnx_tensor *t) {
    if (t) free(t->typed);
}

nne_status nne_onnx_tensor_f32(nne_ctx *ctx, const nne_onnx_tensor *t, const char *label,
                               float *dst) {
    if (t->external)
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "%s: tensor '%s' keeps its data in an external file (save the model "
                        "with its data inside)", label, t->name);
    const int64_t n = t->nelem;
    if (t->dtype == NNE_ONNX_FLOAT) {
        const unsigned char *src = t->raw ? t->raw : (const unsigned char *)t->typed;
        if (n) memcpy(dst, src, (size_t)n * sizeof(float));
        return NNE_OK;
    }
    if (t->dtype == NNE_ONNX_FLOAT16) {
        for (int64_t i = 0; i < n; i++) {
            uint16_t h = t->raw ? (uint16_t)(t->raw[2 * i] | (t->raw[2 * i + 1] << 8))
                                : (uint16_t)((const int64_t *)t->typed)[i];
            dst[i] = nne_f16_to_f32(h);
        }
        return NNE_OK;
    }
    if (t->dtype == NNE_ONNX_DOUBLE) {
        const unsigned char *src = t->raw ? t->raw : (const unsigned char *)t->typed;
        for (int64_t i = 0; i < n; i++) {
            double d;
            memcpy(&d, src + 8 * i, sizeof d);
            dst[i] = (float)d;
        }
        return NNE_OK;
    }
    return nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: tensor '%s' has data type %d (%s); nnedge "
                    "reads float, float16 and double weights", label, t->name, t->dtype,
                    dtype_name(t->dtype));
}

/* ---------------------------------------------------------------------------------------- */
/* Subgraphs: structure only, depth-bounded                                                  */
/* ---------------------------------------------------------------------------------------- */

static nne_status skim_graph(parser *P, const nne_pb_reader *parent, const nne_pb_field *gf,
                             int depth);

static nne_status skim_attr_graphs(parser *P, const nne_pb_reader *parent,
                                   const nne_pb_field *af, int depth, int *n_graphs) {
    nne_pb_reader r = nne_pb_reader_sub(parent, af);
    nne_pb_field f;
    int rc;
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        if (f.num != 6 && f.num != 11) continue;
        nne_status st = expect(P, &f, NNE_PB_LEN, "AttributeProto", f.num == 6 ? "g" : "graphs");
        if (st == NNE_OK) st = skim_graph(P, &r, &f, depth + 1);
        if (st != NNE_OK) return st;
        if (n_graphs) (*n_graphs)++;
    }
    return rc < 0 ? wire_error(P, &r, "AttributeProto") : NNE_OK;
}

static nne_status skim_graph(parser *P, const nne_pb_reader *parent, const nne_pb_field *gf,
                             int depth) {
    if (depth > NNE_ONNX_MAX_DEPTH)
        return bad(P, gf->off, "subgraphs nested deeper than %d levels", NNE_ONNX_MAX_DEPTH);
    nne_pb_reader r = nne_pb_reader_sub(parent, gf);
    nne_pb_field f;
    int rc;
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        if (f.num != 1) continue; /* node */
        nne_status st = expect(P, &f, NNE_PB_LEN, "GraphProto", "node");
        if (st != NNE_OK) return st;
        nne_pb_reader nr = nne_pb_reader_sub(&r, &f);
        nne_pb_field nf;
        int nrc;
        while ((nrc = nne_pb_next(&nr, &nf)) == 1) {
            if (nf.num != 5) continue; /* attribute */
            if ((st = expect(P, &nf, NNE_PB_LEN, "NodeProto", "attribute")) != NNE_OK ||
                (st = skim_attr_graphs(P, &nr, &nf, depth, NULL)) != NNE_OK)
                return st;
        }
        if (nrc < 0) return wire_error(P, &nr, "NodeProto");
    }
    return rc < 0 ? wire_error(P, &r, "GraphProto") : NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Nodes and attributes                                                                      */
/* ---------------------------------------------------------------------------------------- */

static nne_status parse_attr(parser *P, const nne_pb_reader *parent, const nne_pb_field *af,
                             int depth, nne_onnx_attr *a) {
    nne_pb_reader r = nne_pb_reader_sub(parent, af);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int64_t n_ints = 0, n_fl = 0;
    unsigned char *fl = NULL;
    const char *W = "AttributeProto";
    int rc;
    memset(a, 0, sizeof *a);
    a->name = "";
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        int64_t v;
        switch (f.num) {
        case 1: st = str_field(P, &f, W, "name", &a->name); break;
        case 20:
            if ((st = varint_field(P, &f, W, "type", &v)) == NNE_OK) a->type = (int)v;
            break;
        case 2:
            if ((st = expect(P, &f, NNE_PB_I32, W, "f")) == NNE_OK) {
                uint32_t bits = (uint32_t)f.u;
                memcpy(&a->f, &bits, sizeof a->f);
                a->has_f = 1;
            }
            break;
        case 3:
            if ((st = varint_field(P, &f, W, "i", &a->i)) == NNE_OK) a->has_i = 1;
            break;
        case 4:
            if ((st = str_field(P, &f, W, "s", &a->s)) == NNE_OK) a->has_s = 1;
            break;
        case 5:
            if ((st = expect(P, &f, NNE_PB_LEN, W, "t")) != NNE_OK) break;
            if (a->t) {
                st = bad(P, f.off, "%s '%s': tensor given twice", W, a->name);
                break;
            }
            if (!(a->t = calloc(1, sizeof *a->t))) {
                st = nomem(P);
                break;
            }
            st = parse_tensor(P, &r, &f, "AttributeProto.t", a->t);
            break;
        case 7: st = fixed_list(P, &f, 4, W, "floats", &fl, &n_fl, MAX_LIST); break;
        case 8: st = int_list(P, &f, W, "ints", &a->ints, &n_ints, MAX_LIST); break;
        default: break;
        }
        if (st != NNE_OK) break;
    }
    if (st == NNE_OK && rc < 0) st = wire_error(P, &r, W);
    /* Subgraphs (If/Loop bodies): walked for structure and depth, not kept. */
    if (st == NNE_OK) st = skim_attr_graphs(P, parent, af, depth, &a->n_graphs);
    a->n_ints = (int)n_ints;
    a->floats = (float *)(void *)fl;
    a->n_floats = (int)n_fl;
    return st;
}

static void attr_free(nne_onnx_attr *a) {
    free(a->ints);
    free(a->floats);
    if (a->t) tensor_free(a->t);
    free(a->t);
}

static nne_status add_name(parser *P, const nne_pb_field *f, const char *field,
                           const char ***arr, int *n, int *cap) {
    const char *s;
    nne_status st = str_field(P, f, "NodeProto", field, &s);
    if (st != NNE_OK) return st;
    int g = grow(arr, cap, *n, sizeof **arr, MAX_NODE_IO);
    if (g == -1) return bad(P, f->off, "NodeProto.%s: too many names", field);
    if (g) return nomem(P);
    (*arr)[(*n)++] = s;
    return NNE_OK;
}

static nne_status parse_node(parser *P, const nne_pb_reader *parent, const nne_pb_field *nf,
                             nne_onnx_node *n) {
    nne_pb_reader r = nne_pb_reader_sub(parent, nf);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int cap_in = 0, cap_out = 0, cap_attr = 0, rc;
    const char *W = "NodeProto";
    memset(n, 0, sizeof *n);
    n->name = n->op = n->domain = "";
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1: st = add_name(P, &f, "input", &n->in, &n->n_in, &cap_in); break;
        case 2: st = add_name(P, &f, "output", &n->out, &n->n_out, &cap_out); break;
        case 3: st = str_field(P, &f, W, "name", &n->name); break;
        case 4: st = str_field(P, &f, W, "op_type", &n->op); break;
        case 7: st = str_field(P, &f, W, "domain", &n->domain); break;
        case 5: {
            if ((st = expect(P, &f, NNE_PB_LEN, W, "attribute")) != NNE_OK) break;
            int g = grow(&n->attrs, &cap_attr, n->n_attrs, sizeof *n->attrs, MAX_ATTRS);
            if (g) {
                st = g == -1 ? bad(P, f.off, "node '%s': too many attributes", n->name)
                             : nomem(P);
                break;
            }
            st = parse_attr(P, &r, &f, 0, &n->attrs[n->n_attrs]);
            n->n_attrs++; /* counted even on failure so that its buffers are freed */
            break;
        }
        default: break;
        }
        if (st != NNE_OK) return st;
    }
    return rc < 0 ? wire_error(P, &r, W) : NNE_OK;
}

static void node_free(nne_onnx_node *n) {
    free(n->in);
    free(n->out);
    for (int i = 0; i < n->n_attrs; i++) attr_free(&n->attrs[i]);
    free(n->attrs);
}

/* ---------------------------------------------------------------------------------------- */
/* Value infos                                                                               */
/* ---------------------------------------------------------------------------------------- */

static nne_status parse_shape(parser *P, const nne_pb_reader *parent, const nne_pb_field *sf,
                              nne_onnx_value *v) {
    nne_pb_reader r = nne_pb_reader_sub(parent, sf);
    nne_pb_field f;
    int rc;
    v->ndim = 0;
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        if (f.num != 1) continue;
        nne_status st = expect(P, &f, NNE_PB_LEN, "TensorShapeProto", "dim");
        if (st != NNE_OK) return st;
        if (v->ndim == NNE_ONNX_MAX_RANK)
            return bad(P, f.off, "value '%s': rank exceeds %d", v->name, NNE_ONNX_MAX_RANK);
        int k = v->ndim++;
        v->dims[k] = -1;
        v->params[k] = NULL;
        nne_pb_reader dr = nne_pb_reader_sub(&r, &f);
        nne_pb_field df;
        int drc;
        while ((drc = nne_pb_next(&dr, &df)) == 1) {
            if (df.num == 1) {
                int64_t x;
                if ((st = varint_field(P, &df, "Dimension", "dim_value", &x))) return st;
                if (x < 0) return bad(P, df.off, "value '%s': negative dimension", v->name);
                v->dims[k] = x;
                v->params[k] = NULL;
            } else if (df.num == 2) {
                if ((st = str_field(P, &df, "Dimension", "dim_param", &v->params[k]))) return st;
                v->dims[k] = -1;
            }
        }
        if (drc < 0) return wire_error(P, &dr, "TensorShapeProto.Dimension");
    }
    return rc < 0 ? wire_error(P, &r, "TensorShapeProto") : NNE_OK;
}

static nne_status parse_value(parser *P, const nne_pb_reader *parent, const nne_pb_field *vf,
                              nne_onnx_value *v) {
    nne_pb_reader r = nne_pb_reader_sub(parent, vf);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int rc;
    memset(v, 0, sizeof *v);
    v->name = "";
    v->ndim = -1;
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        if (f.num == 1) {
            if ((st = str_field(P, &f, "ValueInfoProto", "name", &v->name))) return st;
        } else if (f.num == 2) {
            if ((st = expect(P, &f, NNE_PB_LEN, "ValueInfoProto", "type"))) return st;
            nne_pb_reader tr = nne_pb_reader_sub(&r, &f);
            nne_pb_field tf;
            int trc;
            while ((trc = nne_pb_next(&tr, &tf)) == 1) {
                if (tf.num == 4 || tf.num == 5 || tf.num == 7 || tf.num == 8 || tf.num == 9) {
                    v->elem_type = -1; /* sequence, map, opaque, sparse, optional */
                    continue;
                }
                if (tf.num != 1) continue;
                if ((st = expect(P, &tf, NNE_PB_LEN, "TypeProto", "tensor_type"))) return st;
                nne_pb_reader ttr = nne_pb_reader_sub(&tr, &tf);
                nne_pb_field ttf;
                int ttrc;
                while ((ttrc = nne_pb_next(&ttr, &ttf)) == 1) {
                    int64_t x;
                    if (ttf.num == 1) {
                        if ((st = varint_field(P, &ttf, "TypeProto.Tensor", "elem_type", &x)))
                            return st;
                        v->elem_type = (int)x;
                    } else if (ttf.num == 2) {
                        if ((st = expect(P, &ttf, NNE_PB_LEN, "TypeProto.Tensor", "shape")) ||
                            (st = parse_shape(P, &ttr, &ttf, v)))
                            return st;
                    }
                }
                if (ttrc < 0) return wire_error(P, &ttr, "TypeProto.Tensor");
            }
            if (trc < 0) return wire_error(P, &tr, "TypeProto");
        }
    }
    return rc < 0 ? wire_error(P, &r, "ValueInfoProto") : NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Graph and model                                                                           */
/* ---------------------------------------------------------------------------------------- */

static nne_status parse_graph(parser *P, const nne_pb_reader *parent, const nne_pb_field *gf) {
    nne_onnx_model *m = P->m;
    nne_pb_reader r = nne_pb_reader_sub(parent, gf);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int cap_n = 0, cap_i = 0, cap_in = 0, cap_out = 0, rc, g;
    const char *W = "GraphProto";
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1:
            if ((st = expect(P, &f, NNE_PB_LEN, W, "node"))) return st;
            if ((g = grow(&m->nodes, &cap_n, m->n_nodes, sizeof *m->nodes, MAX_NODES)))
                return g == -1 ? bad(P, f.off, "more than %d nodes", MAX_NODES) : nomem(P);
            st = parse_node(P, &r, &f, &m->nodes[m->n_nodes]);
            m->n_nodes++;
            break;
        case 2: st = str_field(P, &f, W, "name", &m->graph_name); break;
        case 5:
            if ((st = expect(P, &f, NNE_PB_LEN, W, "initializer"))) return st;
            if ((g = grow(&m->inits, &cap_i, m->n_inits, sizeof *m->inits, MAX_INITS)))
                return g == -1 ? bad(P, f.off, "more than %d initializers", MAX_INITS)
                               : nomem(P);
            st = parse_tensor(P, &r, &f, "initializer", &m->inits[m->n_inits]);
            if (st == NNE_OK) m->n_inits++;
            break;
        case 15: m->n_sparse_inits++; break;
        case 11:
        case 12: {
            nne_onnx_value **arr = f.num == 11 ? &m->inputs : &m->outputs;
            int *n = f.num == 11 ? &m->n_inputs : &m->n_outputs;
            int *cap = f.num == 11 ? &cap_in : &cap_out;
            if ((st = expect(P, &f, NNE_PB_LEN, W, f.num == 11 ? "input" : "output"))) return st;
            if ((g = grow(arr, cap, *n, sizeof **arr, MAX_VALUES)))
                return g == -1 ? bad(P, f.off, "too many graph inputs/outputs") : nomem(P);
            st = parse_value(P, &r, &f, &(*arr)[*n]);
            (*n)++;
            break;
        }
        default: break; /* value_info, doc_string, quantization_annotation, ... */
        }
        if (st != NNE_OK) return st;
    }
    return rc < 0 ? wire_error(P, &r, W) : NNE_OK;
}

static nne_status parse_pair(parser *P, const nne_pb_reader *parent, const nne_pb_field *pf,
                             const char *W, int key_field, int val_field, const char **key,
                             const char **val, int64_t *ival) {
    nne_pb_reader r = nne_pb_reader_sub(parent, pf);
    nne_pb_field f;
    nne_status st;
    int rc;
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        if ((int)f.num == key_field) {
            if ((st = str_field(P, &f, W, "key", key))) return st;
        } else if ((int)f.num == val_field) {
            st = val ? str_field(P, &f, W, "value", val) : varint_field(P, &f, W, "version", ival);
            if (st != NNE_OK) return st;
        }
    }
    return rc < 0 ? wire_error(P, &r, W) : NNE_OK;
}

static nne_status parse_model(parser *P, const void *buf, size_t len) {
    nne_onnx_model *m = P->m;
    nne_pb_reader r = nne_pb_reader_init(buf, len);
    nne_pb_field f;
    nne_status st = NNE_OK;
    int cap_meta = 0, cap_meta_v = 0, rc, g;
    const char *W = "ModelProto";
    while ((rc = nne_pb_next(&r, &f)) == 1) {
        switch (f.num) {
        case 1: st = varint_field(P, &f, W, "ir_version", &m->ir_version); break;
        case 2: st = str_field(P, &f, W, "producer_name", &m->producer_name); break;
        case 3: st = str_field(P, &f, W, "producer_version", &m->producer_version); break;
        case 7:
            if ((st = expect(P, &f, NNE_PB_LEN, W, "graph"))) return st;
            if (m->has_graph) return bad(P, f.off, "ModelProto.graph appears twice");
            m->has_graph = 1;
            st = parse_graph(P, &r, &f);
            break;
        case 8: {
            if ((st = expect(P, &f, NNE_PB_LEN, W, "opset_import"))) return st;
            const char *dom = "";
            int64_t ver = 0;
            if ((st = parse_pair(P, &r, &f, "OperatorSetIdProto", 1, 2, &dom, NULL, &ver)))
                return st;
            if (++m->n_opsets > 1000) return bad(P, f.off, "too many opset imports");
            if (!strcmp(dom, "") || !strcmp(dom, "ai.onnx")) m->opset = ver;
            break;
        }
        case 14: {
            if ((st = expect(P, &f, NNE_PB_LEN, W, "metadata_props"))) return st;
            if ((g = grow(&m->meta_key, &cap_meta, m->n_meta, sizeof *m->meta_key, MAX_META)) ||
                (g = grow(&m->meta_val, &cap_meta_v, m->n_meta, sizeof *m->meta_val, MAX_META)))
                return g == -1 ? bad(P, f.off, "too many metadata_props") : nomem(P);
            const char *k = "", *v = "";
            if ((st = parse_pair(P, &r, &f, "StringStringEntryProto", 1, 2, &k, &v, NULL)))
                return st;
            m->meta_key[m->n_meta] = k;
            m->meta_val[m->n_meta] = v;
            m->n_meta++;
            break;
        }
        case 25: m->n_functions++; break;
        default: break; /* domain, model_version, doc_string, training_info, ... */
        }
        if (st != NNE_OK) return st;
    }
    if (rc < 0) return wire_error(P, &r, W);
    if (!m->has_graph) return bad(P, len, "no graph (not an ONNX model file?)");
    return NNE_OK;
}

nne_status nne_onnx_parse(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                          nne_onnx_model **out) {
    if (len > 0x7fffffffu)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: %zu bytes exceed protobuf's 2 GB limit", label,
                        len);
    nne_onnx_model *m = calloc(1, sizeof *m);
    if (!m) return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    m->producer_name = m->producer_version = m->graph_name = "";
    parser P = {ctx, label, m};
    nne_status st = parse_model(&P, buf, len);
    if (st != NNE_OK) {
        nne_onnx_free(m);
        return st;
    }
    *out = m;
    return NNE_OK;
}

void nne_onnx_free(nne_onnx_model *m) {
    if (!m) return;
    for (int i = 0; i < m->n_nodes; i++) node_free(&m->nodes[i]);
    free(m->nodes);
    for (int i = 0; i < m->n_inits; i++) tensor_free(&m->inits[i]);
    free(m->inits);
    free(m->inputs);
    free(m->outputs);
    free(m->meta_key);
    free(m->meta_val);
    for (int i = 0; i < m->n_strs; i++) free(m->strs[i]);
    free(m->strs);
    free(m);
}

const char *nne_onnx_meta(const nne_onnx_model *m, const char *key) {
    const char *v = NULL;
    for (int i = 0; i < m->n_meta; i++) /* the last entry wins, as for protobuf scalars */
        if (!strcmp(m->meta_key[i], key)) v = m->meta_val[i];
    return v;
}

int nne_onnx_is_path(const char *path) {
    size_t n = path ? strlen(path) : 0;
    return n > 5 && !strcasecmp(path + n - 5, ".onnx");
}
