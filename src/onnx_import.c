/*
 * onnx_import.c - an ONNX graph of a PlainConvUNet back to nnedge's network: `.nne` files
 * (nnedge convert model.onnx) and in-memory models (nne_model_load of a .onnx path).
 *
 * DESIGN
 * The graph is matched, not interpreted. After the protobuf reader (src/onnx.c) has produced
 * plain structs:
 * 1. Every node's operator must be one of Conv, InstanceNormalization, LeakyRelu, Relu,
 *    ConvTranspose, Concat, Softmax (the network) or Identity, Cast, Constant (glue that
 *    exporters insert: shared initializers, FP16 casts, folded constants). Glue is resolved
 *    away: a name produced by Identity or Cast stands for its input, a Constant's output for
 *    its tensor. Each name must be defined once (single assignment).
 * 2. Starting from the one graph input that is not an initializer, the encoder is walked as
 *    chains Conv -> InstanceNormalization -> LeakyRelu; a stage ends where its output also
 *    feeds a Concat (the skip) or a ConvTranspose (the bottleneck). The decoder is walked as
 *    ConvTranspose -> Concat[upsampled, skip] -> blocks, and ends at the 1x1x1 seg head conv
 *    (a conv whose output is not normalised), optionally followed by Softmax over axis 1.
 *    Every attribute is checked (padding k/2, kernel == stride for the transposed conv, no
 *    dilation or groups, ...); anything else is refused naming the node. Nodes the walk did
 *    not reach are refused too, so nothing in the file is silently ignored.
 * 3. The architecture found is written as nnU-Net plans arch_kwargs and cross-checked with the
 *    plans parser (src/plans.c), so the model loads exactly as an imported results folder.
 *    Weights are copied in nnU-Net's parameter order (float16 and double converted to
 *    float32). Deep-supervision heads below full resolution are not part of such a graph;
 *    they are stored as zeros (inference never uses them).
 * 4. The pipeline settings (spacing, patch size, normalization, intensity properties,
 *    transposes, channels, labels, mirroring axes) come from the metadata_props written by
 *    nnedge export-onnx (docs/ONNX.md); without them the model runs its forward pass but
 *    `predict` refuses it for lack of spacing and normalization.
 * Epsilon and negative slope are float attributes in ONNX; they are taken back as the
 * shortest decimal that rounds to the stored float (1e-05, 0.01), which recovers the plans'
 * values exactly, so an export -> import round trip computes bitwise the same forward.
 * ref: onnx/docs/Operators.md (Conv, ConvTranspose, InstanceNormalization, LeakyRelu, Concat,
 *      Softmax, Cast semantics); dynamic_network_architectures/architectures/unet.py.
 */
#include <cJSON.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "alloc.h"
#include "json.h"
#include "model.h"
#include "onnx.h"
#include "sha256.h"
#include "weights.h"

/* ---------------------------------------------------------------------------------------- */
/* Name table                                                                                */
/* ---------------------------------------------------------------------------------------- */

enum { DEF_INPUT, DEF_INIT, DEF_CONST, DEF_NODE, DEF_ALIAS };

typedef struct def {
    const char *name;
    int kind;  /* DEF_*                                                   */
    int idx;   /* input / initializer / node index                       */
    int n_use; /* consumers among the network nodes (after resolution)   */
    int *use;  /* node indices [n_use] (points into the shared use array) */
    int state; /* alias resolution: 0 pending, 1 in progress, 2 done     */
    struct def *target; /* DEF_ALIAS: the definition it stands for (NULL: cycle) */
} def;

enum op_kind {
    OP_CONV, OP_NORM, OP_LEAKY, OP_RELU, OP_TCONV, OP_CONCAT, OP_SOFTMAX, OP_IDENTITY, OP_CAST,
    OP_CONSTANT, OP_N
};
static const char *const op_names[OP_N] = {"Conv", "InstanceNormalization", "LeakyRelu", "Relu",
                                           "ConvTranspose", "Concat", "Softmax", "Identity",
                                           "Cast", "Constant"};

typedef struct graph {
    nne_ctx *ctx;
    const char *label;
    const nne_onnx_model *g;
    int *op;        /* [n_nodes] op_kind                  */
    def *defs;      /* sorted by name [n_defs]            */
    int n_defs;
    int *uses;      /* consumer lists                     */
    int *visited;   /* [n_nodes]                          */
} graph;

static int cmp_def(const void *a, const void *b) {
    return strcmp(((const def *)a)->name, ((const def *)b)->name);
}

static def *find(const graph *G, const char *name) {
    def key = {name, 0, 0, 0, NULL, 0, NULL};
    return bsearch(&key, G->defs, (size_t)G->n_defs, sizeof key, cmp_def);
}

/* "'name' (Op)" or "#index (Op)" for messages. */
static const char *node_desc(const graph *G, int i, char *buf, size_t n) {
    const nne_onnx_node *nd = &G->g->nodes[i];
    if (nd->name[0]) snprintf(buf, n, "node '%s' (%s)", nd->name, nd->op);
    else snprintf(buf, n, "node #%d (%s)", i, nd->op);
    return buf;
}

static nne_status refuse(const graph *G, int node, const char *fmt, ...) NNE_PRINTF(3, 4);
static nne_status refuse(const graph *G, int node, const char *fmt, ...) {
    char msg[512], nd[300];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: %s: %s", G->label,
                    node_desc(G, node, nd, sizeof nd), msg);
}

/* Follows the Identity/Cast chain from alias `d` once, recording the end in every alias on
 * the way (so a long chain costs linear time overall). NULL for a cycle or undefined name. */
static def *resolve_def(const graph *G, def *d) {
    def *cur = d;
    while (cur && cur->kind == DEF_ALIAS && cur->state != 2) {
        if (cur->state == 1) {
            cur = NULL; /* cycle */
            break;
        }
        cur->state = 1;
        cur = find(G, G->g->nodes[cur->idx].in[0]);
    }
    def *t = cur && cur->kind == DEF_ALIAS ? cur->target : cur;
    for (def *c = d; c && c->kind == DEF_ALIAS && c->state != 2;
         c = find(G, G->g->nodes[c->idx].in[0])) {
        c->target = t;
        c->state = 2;
    }
    return t;
}

/* The definition a name stands for once Identity/Cast aliases are followed; NULL if the name
 * is not defined. */
static def *resolve(const graph *G, const char *name) {
    def *d = find(G, name);
    return d && d->kind == DEF_ALIAS ? d->target : d;
}

/* 1 if node i takes definition d as its first (data) input. */
static int takes(const graph *G, int i, const def *d) {
    const nne_onnx_node *n = &G->g->nodes[i];
    return n->n_in >= 1 && n->in[0][0] && resolve(G, n->in[0]) == d;
}

static void graph_free(graph *G) {
    free(G->op);
    free(G->defs);
    free(G->uses);
    free(G->visited);
}

static const nne_onnx_attr *attr(const nne_onnx_node *n, const char *name) {
    for (int i = 0; i < n->n_attrs; i++)
        if (!strcmp(n->attrs[i].name, name)) return &n->attrs[i];
    return NULL;
}

/* Classifies the nodes, defines every name once, checks glue nodes and builds the consumer
 * lists of the network nodes. */
static nne_status build_graph(graph *G) {
    const nne_onnx_model *g = G->g;
    const int N = g->n_nodes;
    G->op = calloc((size_t)N + 1, sizeof *G->op);
    G->visited = calloc((size_t)N + 1, sizeof *G->visited);
    int64_t n_out = 0;
    for (int i = 0; i < N; i++) n_out += g->nodes[i].n_out;
    size_t cap = (size_t)(n_out + g->n_inits + g->n_inputs) + 1;
    G->defs = calloc(cap, sizeof *G->defs);
    if (!G->op || !G->visited || !G->defs) return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
    char nd[300];

    for (int i = 0; i < N; i++) {
        const nne_onnx_node *n = &g->nodes[i];
        int k = 0;
        while (k < OP_N && strcmp(n->op, op_names[k])) k++;
        if (k == OP_N || (n->domain[0] && strcmp(n->domain, "ai.onnx")))
            return refuse(G, i, "operator '%s%s%s' is not supported (nnedge imports Conv, "
                          "InstanceNormalization, LeakyRelu, Relu, ConvTranspose, Concat, "
                          "Softmax and Identity/Cast/Constant glue)", n->domain,
                          n->domain[0] ? "." : "", n->op);
        G->op[i] = k;
        if (n->n_out != 1 || !n->out[0][0]) return refuse(G, i, "expected exactly one output");
        static const int min_in[OP_N] = {2, 3, 1, 1, 2, 2, 1, 1, 1, 0};
        static const int max_in[OP_N] = {3, 3, 1, 1, 3, 2, 1, 1, 1, 0};
        if (n->n_in < min_in[k] || n->n_in > max_in[k])
            return refuse(G, i, "%d inputs (expected %d..%d)", n->n_in, min_in[k], max_in[k]);
        if (k == OP_IDENTITY || k == OP_CAST) {
            if (n->n_in != 1 || n->n_out != 1 || !n->in[0][0])
                return refuse(G, i, "expected one input and one output");
            if (k == OP_CAST) {
                const nne_onnx_attr *to = attr(n, "to");
                if (!to || !to->has_i ||
                    (to->i != NNE_ONNX_FLOAT && to->i != NNE_ONNX_FLOAT16))
                    return refuse(G, i, "only casts to float or float16 are supported");
            }
        }
        if (k == OP_CONSTANT) {
            const nne_onnx_attr *v = attr(n, "value");
            if (n->n_attrs != 1 || !v || !v->t)
                return refuse(G, i, "only Constant nodes with a 'value' tensor are supported");
        }
    }
    /* Definitions: initializers and node outputs, then the graph inputs that are not also
     * initializers (an input with an initializer of the same name is a constant, IR < 4). */
    int nd_ = 0;
    for (int i = 0; i < g->n_inits; i++)
        G->defs[nd_++] = (def){g->inits[i].name, DEF_INIT, i, 0, NULL, 0, NULL};
    for (int i = 0; i < N; i++) {
        int kind = G->op[i] == OP_IDENTITY || G->op[i] == OP_CAST ? DEF_ALIAS
                   : G->op[i] == OP_CONSTANT                        ? DEF_CONST
                                                                    : DEF_NODE;
        G->defs[nd_++] = (def){g->nodes[i].out[0], kind, i, 0, NULL, 0, NULL};
    }
    G->n_defs = nd_;
    qsort(G->defs, (size_t)nd_, sizeof *G->defs, cmp_def);
    int n_base = nd_;
    for (int i = 0; i < g->n_inputs; i++) {
        G->n_defs = n_base;
        const def *d = find(G, g->inputs[i].name);
        if (!d) G->defs[nd_++] = (def){g->inputs[i].name, DEF_INPUT, i, 0, NULL, 0, NULL};
        else if (d->kind != DEF_INIT)
            return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: graph input '%s' is also computed by "
                            "a node", G->label, g->inputs[i].name);
    }
    G->n_defs = nd_;
    for (int i = 0; i < nd_; i++)
        if (!G->defs[i].name[0])
            return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: an initializer or input has no name",
                            G->label);
    qsort(G->defs, (size_t)nd_, sizeof *G->defs, cmp_def);
    for (int i = 1; i < nd_; i++)
        if (!strcmp(G->defs[i].name, G->defs[i - 1].name))
            return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: value '%s' is defined more than once",
                            G->label, G->defs[i].name);
    /* Every input of every node must be defined; aliases must not form cycles. */
    for (int i = 0; i < N; i++) {
        const nne_onnx_node *n = &g->nodes[i];
        for (int j = 0; j < n->n_in; j++) {
            if (!n->in[j][0]) continue;
            if (!find(G, n->in[j]))
                return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: %s: input '%s' is not produced by "
                                "any node, initializer or graph input", G->label,
                                node_desc(G, i, nd, sizeof nd), n->in[j]);
        }
    }
    for (int i = 0; i < nd_; i++)
        if (G->defs[i].kind == DEF_ALIAS && !resolve_def(G, &G->defs[i]))
            return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: Identity/Cast cycle through '%s'",
                            G->label, G->defs[i].name);
    /* Consumer lists (network nodes only; glue is transparent). */
    int64_t total = 0;
    for (int i = 0; i < N; i++)
        if (G->op[i] < OP_IDENTITY)
            for (int j = 0; j < g->nodes[i].n_in; j++)
                if (g->nodes[i].in[j][0]) {
                    resolve(G, g->nodes[i].in[j])->n_use++;
                    total++;
                }
    G->uses = malloc(sizeof *G->uses * (size_t)(total + 1));
    if (!G->uses) return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
    int64_t off = 0;
    for (int i = 0; i < nd_; i++) {
        G->defs[i].use = G->uses + off;
        off += G->defs[i].n_use;
        G->defs[i].n_use = 0;
    }
    for (int i = 0; i < N; i++)
        if (G->op[i] < OP_IDENTITY)
            for (int j = 0; j < g->nodes[i].n_in; j++)
                if (g->nodes[i].in[j][0]) {
                    def *d = resolve(G, g->nodes[i].in[j]);
                    /* A node taking the same value twice is listed once. */
                    if (!d->n_use || d->use[d->n_use - 1] != i) d->use[d->n_use++] = i;
                }
    return NNE_OK;
}

/* The constant tensor behind input `j` of node `i` (NULL + error if it is computed or absent;
 * optional inputs give NULL with NNE_OK when `optional`). */
static nne_status const_input(const graph *G, int i, int j, int optional, const char *what,
                              const nne_onnx_tensor **out) {
    const nne_onnx_node *n = &G->g->nodes[i];
    *out = NULL;
    if (j >= n->n_in || !n->in[j][0]) {
        if (optional) return NNE_OK;
        return refuse(G, i, "missing %s input", what);
    }
    const def *d = resolve(G, n->in[j]);
    if (d->kind == DEF_INIT) *out = &G->g->inits[d->idx];
    else if (d->kind == DEF_CONST) *out = attr(&G->g->nodes[d->idx], "value")->t;
    else return refuse(G, i, "%s '%s' is computed in the graph, not a constant", what, n->in[j]);
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Layers                                                                                    */
/* ---------------------------------------------------------------------------------------- */

typedef struct conv_info {
    int node;
    int64_t cout, cin;
    int k[3], stride[3];
    int has_bias;
} conv_info;

static nne_status check_attrs(const graph *G, int i, const char *const *allowed) {
    const nne_onnx_node *n = &G->g->nodes[i];
    for (int a = 0; a < n->n_attrs; a++) {
        int ok = 0;
        for (int k = 0; allowed[k] && !ok; k++) ok = !strcmp(n->attrs[a].name, allowed[k]);
        if (!ok) return refuse(G, i, "attribute '%s' is not supported", n->attrs[a].name);
        if (n->attrs[a].n_graphs) return refuse(G, i, "subgraph attributes are not supported");
    }
    return NNE_OK;
}

/* An INTS attribute of exactly `n` values in [lo, hi], or `def` for every entry if absent. */
static nne_status ints_attr(const graph *G, int i, const char *name, int n, int64_t lo,
                            int64_t hi, int64_t dflt, int64_t *out) {
    const nne_onnx_attr *a = attr(&G->g->nodes[i], name);
    for (int k = 0; k < n; k++) out[k] = dflt;
    if (!a) return NNE_OK;
    if (a->n_ints != n) return refuse(G, i, "'%s' must have %d values", name, n);
    for (int k = 0; k < n; k++) {
        if (a->ints[k] < lo || a->ints[k] > hi)
            return refuse(G, i, "'%s' value %lld is not supported", name, (long long)a->ints[k]);
        out[k] = a->ints[k];
    }
    return NNE_OK;
}

static nne_status auto_pad_ok(const graph *G, int i, int *valid) {
    const nne_onnx_attr *a = attr(&G->g->nodes[i], "auto_pad");
    *valid = 0;
    if (!a || !a->has_s || !strcmp(a->s, "NOTSET")) return NNE_OK;
    if (!strcmp(a->s, "VALID")) {
        *valid = 1;
        return NNE_OK;
    }
    return refuse(G, i, "auto_pad '%s' is not supported (explicit pads only)", a->s);
}

static int tensor_is(const nne_onnx_tensor *t, int ndim, const int64_t *dims) {
    if (t->ndim != ndim) return 0;
    for (int d = 0; d < ndim; d++)
        if (t->dims[d] != dims[d]) return 0;
    return 1;
}

/* A Conv node: 3-D, weights constant, group 1, no dilation, symmetric padding k/2. */
static nne_status parse_conv(const graph *G, int i, int64_t cin, conv_info *c) {
    static const char *const allowed[] = {"auto_pad", "dilations", "group", "kernel_shape",
                                          "pads", "strides", NULL};
    nne_status st;
    if ((st = check_attrs(G, i, allowed))) return st;
    const nne_onnx_tensor *w, *b;
    if ((st = const_input(G, i, 1, 0, "weight", &w))) return st;
    if ((st = const_input(G, i, 2, 1, "bias", &b))) return st;
    if (w->ndim != 5) return refuse(G, i, "only 3-D convolutions are supported (weight rank %d)",
                                    w->ndim);
    memset(c, 0, sizeof *c);
    c->node = i;
    c->cout = w->dims[0];
    c->cin = w->dims[1];
    if (c->cin != cin)
        return nne_fail(G->ctx, NNE_ERR_SHAPE, "%s: node '%s': weight takes %lld channels, its "
                        "input has %lld", G->label, G->g->nodes[i].name, (long long)c->cin,
                        (long long)cin);
    if (c->cout < 1 || c->cout > NNE_MAX_FEATURES)
        return refuse(G, i, "%lld output channels", (long long)c->cout);
    int64_t v[6];
    const nne_onnx_attr *ga = attr(&G->g->nodes[i], "group");
    if (ga && (!ga->has_i || ga->i != 1)) return refuse(G, i, "grouped convolution");
    for (int x = 0; x < 3; x++) {
        if (w->dims[2 + x] < 1 || w->dims[2 + x] > 15 || w->dims[2 + x] % 2 == 0)
            return refuse(G, i, "kernel size %lld (odd sizes 1..15 supported)",
                          (long long)w->dims[2 + x]);
        c->k[x] = (int)w->dims[2 + x];
    }
    if ((st = ints_attr(G, i, "kernel_shape", 3, 1, 15, 0, v))) return st;
    if (attr(&G->g->nodes[i], "kernel_shape"))
        for (int x = 0; x < 3; x++)
            if (v[x] != c->k[x]) return refuse(G, i, "kernel_shape disagrees with the weight");
    if ((st = ints_attr(G, i, "dilations", 3, 1, 1, 1, v))) return st;
    if ((st = ints_attr(G, i, "strides", 3, 1, 8, 1, v))) return st;
    for (int x = 0; x < 3; x++) c->stride[x] = (int)v[x];
    int valid;
    if ((st = auto_pad_ok(G, i, &valid))) return st;
    if ((st = ints_attr(G, i, "pads", 6, 0, 64, 0, v))) return st;
    for (int x = 0; x < 3; x++) {
        int64_t want = valid ? 0 : c->k[x] / 2;
        if (valid && c->k[x] != 1) return refuse(G, i, "auto_pad VALID with kernel > 1");
        if (v[x] != want || v[3 + x] != want)
            return refuse(G, i, "padding [%lld, %lld, %lld, %lld, %lld, %lld] is not the "
                          "'same' padding k/2 that PlainConvUNet uses", (long long)v[0],
                          (long long)v[1], (long long)v[2], (long long)v[3], (long long)v[4],
                          (long long)v[5]);
    }
    if (b) {
        if (!tensor_is(b, 1, &c->cout)) return refuse(G, i, "bias shape does not match");
        c->has_bias = 1;
    }
    return NNE_OK;
}

/* The single network node consuming definition `d` (or -1 with *n set to the count). */
static int sole_use(const def *d) { return d->n_use == 1 ? d->use[0] : -1; }

static const char *out0(const graph *G, int i) { return G->g->nodes[i].out[0]; }

/* InstanceNormalization over `c` channels; returns its epsilon. */
static nne_status parse_norm(const graph *G, int i, int64_t c, float *eps) {
    static const char *const allowed[] = {"epsilon", NULL};
    nne_status st;
    if ((st = check_attrs(G, i, allowed))) return st;
    const nne_onnx_tensor *s, *b;
    if ((st = const_input(G, i, 1, 0, "scale", &s)) || (st = const_input(G, i, 2, 0, "bias", &b)))
        return st;
    if (!tensor_is(s, 1, &c) || !tensor_is(b, 1, &c))
        return refuse(G, i, "scale/bias must have %lld entries", (long long)c);
    const nne_onnx_attr *a = attr(&G->g->nodes[i], "epsilon");
    *eps = a && a->has_f ? a->f : 1e-5f;
    if (!(*eps > 0.0f && *eps < 1.0f)) return refuse(G, i, "epsilon out of range");
    return NNE_OK;
}

/* LeakyRelu (slope alpha) or Relu (slope 0). */
static nne_status parse_act(const graph *G, int i, float *slope) {
    static const char *const allowed[] = {"alpha", NULL};
    nne_status st;
    if ((st = check_attrs(G, i, allowed))) return st;
    if (G->op[i] == OP_RELU) {
        *slope = 0.0f;
        return NNE_OK;
    }
    const nne_onnx_attr *a = attr(&G->g->nodes[i], "alpha");
    *slope = a && a->has_f ? a->f : 0.01f;
    if (!(*slope >= 0.0f && *slope < 1.0f)) return refuse(G, i, "alpha out of range");
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* The walk                                                                                  */
/* ---------------------------------------------------------------------------------------- */

typedef struct block_ref {
    int conv, norm;
} block_ref;

typedef struct walk {
    nne_arch a;
    block_ref enc[NNE_MAX_STAGES][NNE_MAX_CONVS];
    block_ref dec[NNE_MAX_STAGES][NNE_MAX_CONVS];
    int tconv[NNE_MAX_STAGES];
    int seg, softmax;
    int any_bias, all_bias;
    float eps, slope;
    int n_eps;
    int input;            /* graph input index                 */
    int64_t in_dims[5];   /* -1 where symbolic                 */
} walk;

static const char *op_of(const graph *G, int i) { return i >= 0 ? G->g->nodes[i].op : "-"; }

/* Error for a value whose consumers do not fit the expected pattern. */
static nne_status unexpected_use(const graph *G, const def *d, const char *expected) {
    char list[256] = "";
    for (int k = 0; k < d->n_use && k < 4; k++) {
        size_t l = strlen(list);
        snprintf(list + l, sizeof list - l, "%s%s", k ? ", " : "", op_of(G, d->use[k]));
    }
    return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED,
                    "%s: value '%s' feeds %d node(s) (%s); a PlainConvUNet has %s there",
                    G->label, d->name, d->n_use, list[0] ? list : "none", expected);
}

/* One Conv -> InstanceNormalization -> activation block starting at conv node `ci`; on
 * success *out_val is the activation's output definition. */
static nne_status parse_block(const graph *G, walk *W, int ci, const def *in, int64_t cin,
                              conv_info *c, block_ref *ref, def **out_val) {
    nne_status st;
    if (!takes(G, ci, in)) return refuse(G, ci, "does not take '%s' as its data input", in->name);
    if ((st = parse_conv(G, ci, cin, c))) return st;
    W->any_bias |= c->has_bias;
    W->all_bias &= c->has_bias;
    def *cv = find(G, out0(G, ci));
    int ni = sole_use(cv);
    if (ni < 0 || G->op[ni] != OP_NORM || !takes(G, ni, cv))
        return unexpected_use(G, cv, "one InstanceNormalization");
    float eps = 0.0f, slope = 0.0f;
    if ((st = parse_norm(G, ni, c->cout, &eps))) return st;
    def *nv = find(G, out0(G, ni));
    int ai = sole_use(nv);
    if (ai < 0 || (G->op[ai] != OP_LEAKY && G->op[ai] != OP_RELU) || !takes(G, ai, nv))
        return unexpected_use(G, nv, "one LeakyRelu");
    if ((st = parse_act(G, ai, &slope))) return st;
    if (W->n_eps++ == 0) {
        W->eps = eps;
        W->slope = slope;
    } else if (eps != W->eps) {
        return refuse(G, ni, "epsilon %g differs from the first norm's %g", (double)eps,
                      (double)W->eps);
    } else if (slope != W->slope) {
        return refuse(G, ai, "slope %g differs from the first activation's %g", (double)slope,
                      (double)W->slope);
    }
    G->visited[ci] = G->visited[ni] = G->visited[ai] = 1;
    ref->conv = ci;
    ref->norm = ni;
    *out_val = find(G, out0(G, ai));
    return NNE_OK;
}

static int is_block_conv(const graph *G, int i) {
    if (i < 0 || G->op[i] != OP_CONV) return 0;
    def *d = find(G, out0(G, i));
    int u = sole_use(d);
    return u >= 0 && G->op[u] == OP_NORM;
}

/* The data input: the one graph input without an initializer, float [N, C, D, H, W]. */
static nne_status find_input(const graph *G, walk *W, def **out) {
    const nne_onnx_model *g = G->g;
    def *found = NULL;
    for (int i = 0; i < G->n_defs; i++) {
        if (G->defs[i].kind != DEF_INPUT) continue;
        if (found)
            return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: graph has several inputs ('%s', "
                            "'%s'); a PlainConvUNet has one", G->label, found->name,
                            G->defs[i].name);
        found = &G->defs[i];
    }
    if (!found) return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: graph has no input", G->label);
    const nne_onnx_value *v = &g->inputs[found->idx];
    if (v->elem_type != NNE_ONNX_FLOAT && v->elem_type != NNE_ONNX_FLOAT16)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: input '%s' is not a float tensor",
                        G->label, v->name);
    if (v->ndim != 5)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: input '%s' has rank %d; a 3-D "
                        "network takes [N, C, D, H, W]", G->label, v->name, v->ndim);
    if (v->dims[0] > 1)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: input '%s' has a fixed batch of "
                        "%lld (1 or symbolic supported)", G->label, v->name,
                        (long long)v->dims[0]);
    memcpy(W->in_dims, v->dims, sizeof W->in_dims);
    W->input = found->idx;
    *out = found;
    return NNE_OK;
}

static nne_status walk_graph(const graph *G, walk *W) {
    nne_arch *a = &W->a;
    nne_status st;
    memset(W, 0, sizeof *W);
    W->seg = W->softmax = -1;
    W->all_bias = 1;
    const nne_onnx_model *g = G->g;
    if (g->n_outputs != 1)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED,
                        "%s: graph has %d outputs; nnedge imports a network with one output "
                        "(the highest-resolution head). Several outputs usually mean deep "
                        "supervision was left on: export with "
                        "network.decoder.deep_supervision = False", G->label, g->n_outputs);
    def *x;
    if ((st = find_input(G, W, &x))) return st;
    int64_t ch = W->in_dims[1];
    if (ch < 0) { /* symbolic channels: take the first conv's */
        int u = sole_use(x);
        const nne_onnx_tensor *w = NULL;
        if (u >= 0 && G->op[u] == OP_CONV && const_input(G, u, 1, 0, "weight", &w) == NNE_OK &&
            w->ndim == 5)
            ch = w->dims[1];
    }
    if (ch < 1 || ch > NNE_MAX_CHANNELS)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: %lld input channels (1..%d)",
                        G->label, (long long)ch, NNE_MAX_CHANNELS);
    a->n_in = (int)ch;

    /* Encoder: blocks until a value feeds a Concat too (skip) or a ConvTranspose. */
    def *skip[NNE_MAX_STAGES];
    int s = 0, ci = sole_use(x);
    if (ci < 0 || G->op[ci] != OP_CONV) return unexpected_use(G, x, "one Conv");
    for (;; s++) {
        if (s == NNE_MAX_STAGES)
            return refuse(G, ci, "more than %d encoder stages", NNE_MAX_STAGES);
        int j = 0;
        for (;;) {
            if (j == NNE_MAX_CONVS)
                return refuse(G, ci, "more than %d convs in a stage", NNE_MAX_CONVS);
            conv_info c;
            if ((st = parse_block(G, W, ci, x, ch, &c, &W->enc[s][j], &x))) return st;
            if (j == 0) {
                memcpy(a->kernel[s], c.k, sizeof c.k);
                memcpy(a->stride[s], c.stride, sizeof c.stride);
                a->features[s] = (int)c.cout;
                if (s == 0 && (c.stride[0] != 1 || c.stride[1] != 1 || c.stride[2] != 1))
                    return refuse(G, ci, "the first stage's convolution is strided");
            } else if (memcmp(a->kernel[s], c.k, sizeof c.k) || c.stride[0] != 1 ||
                       c.stride[1] != 1 || c.stride[2] != 1 || c.cout != a->features[s]) {
                return refuse(G, ci, "kernel, stride or width differs from the stage's first "
                              "convolution (only the first one may be strided)");
            }
            ch = c.cout;
            j++;
            if (x->n_use != 1 || G->op[x->use[0]] != OP_CONV) break;
            ci = x->use[0];
        }
        a->n_conv[s] = j;
        skip[s] = x;
        if (x->n_use == 1 && G->op[x->use[0]] == OP_TCONV) break; /* the bottleneck */
        if (x->n_use != 2)
            return unexpected_use(G, x, "a Conv, a Conv and a Concat, or a ConvTranspose");
        int u0 = x->use[0], u1 = x->use[1];
        if (G->op[u0] == OP_CONV && G->op[u1] == OP_CONCAT) ci = u0;
        else if (G->op[u0] == OP_CONCAT && G->op[u1] == OP_CONV) ci = u1;
        else return unexpected_use(G, x, "a Conv and a Concat (skip connection)");
    }
    const int S = s + 1;
    if (S < 2) return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: no decoder", G->label);
    a->n_stages = S;

    /* Decoder: d = 0 is the lowest resolution, writing level L = S - 2 - d. */
    for (int d = 0; d < S - 1; d++) {
        const int L = S - 2 - d;
        const int64_t F = a->features[L];
        int ti = sole_use(x);
        if (ti < 0 || G->op[ti] != OP_TCONV || !takes(G, ti, x))
            return unexpected_use(G, x, "one ConvTranspose");
        static const char *const t_allowed[] = {"auto_pad", "dilations", "group",
                                                "kernel_shape", "output_padding", "pads",
                                                "strides", NULL};
        if ((st = check_attrs(G, ti, t_allowed))) return st;
        const nne_onnx_tensor *w, *b;
        if ((st = const_input(G, ti, 1, 0, "weight", &w)) ||
            (st = const_input(G, ti, 2, 1, "bias", &b)))
            return st;
        const int *sv = a->stride[L + 1];
        int64_t want[5] = {ch, F, sv[0], sv[1], sv[2]}, v[6];
        if (!tensor_is(w, 5, want))
            return refuse(G, ti, "weight must be [%lld, %lld, %d, %d, %d] (kernel = stride of "
                          "encoder stage %d)", (long long)ch, (long long)F, sv[0], sv[1], sv[2],
                          L + 1);
        if (b && !tensor_is(b, 1, &F)) return refuse(G, ti, "bias shape does not match");
        int valid;
        if ((st = auto_pad_ok(G, ti, &valid))) return st;
        const nne_onnx_attr *ga = attr(&G->g->nodes[ti], "group");
        if (ga && (!ga->has_i || ga->i != 1)) return refuse(G, ti, "grouped convolution");
        if ((st = ints_attr(G, ti, "dilations", 3, 1, 1, 1, v)) ||
            (st = ints_attr(G, ti, "pads", 6, 0, 0, 0, v)) ||
            (st = ints_attr(G, ti, "output_padding", 3, 0, 0, 0, v)))
            return st;
        if ((st = ints_attr(G, ti, "strides", 3, 1, 8, 1, v))) return st;
        for (int k = 0; k < 3; k++)
            if (v[k] != sv[k]) return refuse(G, ti, "strides differ from the kernel size");
        if ((st = ints_attr(G, ti, "kernel_shape", 3, 1, 8, 0, v))) return st;
        if (attr(&G->g->nodes[ti], "kernel_shape"))
            for (int k = 0; k < 3; k++)
                if (v[k] != sv[k]) return refuse(G, ti, "kernel_shape disagrees with the weight");
        G->visited[ti] = 1;
        W->tconv[d] = ti;

        def *up = find(G, out0(G, ti));
        int cc = sole_use(up);
        if (cc < 0 || G->op[cc] != OP_CONCAT) return unexpected_use(G, up, "one Concat");
        static const char *const c_allowed[] = {"axis", NULL};
        if ((st = check_attrs(G, cc, c_allowed))) return st;
        const nne_onnx_attr *ax = attr(&G->g->nodes[cc], "axis");
        const nne_onnx_node *cn = &G->g->nodes[cc];
        if (!ax || !ax->has_i || (ax->i != 1 && ax->i != -4))
            return refuse(G, cc, "concatenation must be over the channel axis 1");
        if (cn->n_in != 2 || resolve(G, cn->in[0]) != up || resolve(G, cn->in[1]) != skip[L])
            return refuse(G, cc, "inputs must be [upsampled, skip of encoder stage %d]", L);
        G->visited[cc] = 1;
        x = find(G, out0(G, cc));
        ch = 2 * F;
        int j = 0;
        while (is_block_conv(G, sole_use(x))) {
            ci = sole_use(x);
            if (j == NNE_MAX_CONVS)
                return refuse(G, ci, "more than %d convs in a stage", NNE_MAX_CONVS);
            conv_info c;
            if ((st = parse_block(G, W, ci, x, ch, &c, &W->dec[d][j], &x))) return st;
            if (c.cout != F || memcmp(c.k, a->kernel[L], sizeof c.k) || c.stride[0] != 1 ||
                c.stride[1] != 1 || c.stride[2] != 1)
                return refuse(G, ci, "decoder convolution must keep %lld channels, kernel and "
                              "stride 1 of encoder stage %d", (long long)F, L);
            ch = F;
            j++;
        }
        if (j == 0) return unexpected_use(G, x, "a Conv -> InstanceNormalization block");
        a->n_conv_dec[d] = j;
    }

    /* Seg head and optional Softmax. */
    int si = sole_use(x);
    if (si < 0 || G->op[si] != OP_CONV || !takes(G, si, x))
        return unexpected_use(G, x, "the 1x1x1 seg head Conv");
    conv_info c;
    if ((st = parse_conv(G, si, ch, &c))) return st;
    if (c.k[0] != 1 || c.k[1] != 1 || c.k[2] != 1 || c.stride[0] != 1 || c.stride[1] != 1 ||
        c.stride[2] != 1)
        return refuse(G, si, "the seg head must be a 1x1x1 convolution with stride 1");
    if (c.cout < 2 || c.cout > NNE_MAX_CLASSES)
        return refuse(G, si, "%lld classes (2..%d supported)", (long long)c.cout,
                      NNE_MAX_CLASSES);
    G->visited[si] = 1;
    W->seg = si;
    a->n_classes = (int)c.cout;
    def *y = find(G, out0(G, si));
    if (y->n_use == 1 && G->op[y->use[0]] == OP_SOFTMAX && takes(G, y->use[0], y)) {
        int sm = y->use[0];
        static const char *const s_allowed[] = {"axis", NULL};
        if ((st = check_attrs(G, sm, s_allowed))) return st;
        const nne_onnx_attr *ax = attr(&G->g->nodes[sm], "axis");
        /* Before opset 13 the default axis is 1; from 13 on it is -1. */
        int64_t axis = ax && ax->has_i ? ax->i : (g->opset < 13 ? 1 : -1);
        if (axis != 1 && axis != -4) return refuse(G, sm, "softmax must be over the classes (1)");
        G->visited[sm] = 1;
        W->softmax = sm;
        y = find(G, out0(G, sm));
    }
    if (y->n_use != 0) return unexpected_use(G, y, "no consumer (the graph output)");
    if (resolve(G, g->outputs[0].name) != y)
        return nne_fail(G->ctx, NNE_ERR_UNSUPPORTED, "%s: graph output '%s' is not the seg "
                        "head's result", G->label, g->outputs[0].name);
    for (int i = 0; i < g->n_nodes; i++)
        if (G->op[i] < OP_IDENTITY && !G->visited[i])
            return refuse(G, i, "not part of the PlainConvUNet pattern");

    a->conv_bias = W->any_bias;
    a->norm_affine = 1;
    /* A fixed input shape must be one the network can take. */
    int64_t ts[3];
    nne_arch_total_stride(a, ts);
    for (int k = 0; k < 3; k++)
        if (W->in_dims[2 + k] == 0 || (W->in_dims[2 + k] > 0 && W->in_dims[2 + k] % ts[k]))
            return nne_fail(G->ctx, NNE_ERR_SHAPE, "%s: input axis %d has size %lld, not a "
                            "multiple of the network's total stride %lld", G->label, 2 + k,
                            (long long)W->in_dims[2 + k], (long long)ts[k]);
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Weights                                                                                   */
/* ---------------------------------------------------------------------------------------- */

/* Copies the constant input j of node i (or zeros when it is absent) into dst. */
static nne_status copy_input(const graph *G, int i, int j, const nne_param_spec *spec,
                             float *dst) {
    const nne_onnx_tensor *t = NULL;
    nne_status st = i >= 0 ? const_input(G, i, j, 1, "weight", &t) : NNE_OK;
    if (st != NNE_OK) return st;
    if (!t) {
        memset(dst, 0, (size_t)spec->nelem * sizeof *dst);
        return NNE_OK;
    }
    if (t->nelem != spec->nelem)
        return refuse(G, i, "'%s' has %lld values, %s needs %lld", t->name, (long long)t->nelem,
                      spec->name, (long long)spec->nelem);
    return nne_onnx_tensor_f32(G->ctx, t, G->label, dst);
}

static nne_status fill_params(const graph *G, const walk *W, nne_onnx_import *imp,
                              const char *fold) {
    const int S = W->a.n_stages;
    nne_param_spec *specs = malloc(sizeof *specs * NNE_MAX_PARAMS);
    if (!specs) return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
    imp->specs = specs;
    imp->n = nne_arch_params(&W->a, specs);
    imp->data = calloc((size_t)imp->n, sizeof *imp->data);
    imp->names = calloc((size_t)imp->n, sizeof *imp->names);
    if (!imp->data || !imp->names) return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
    for (int k = 0; k < imp->n; k++) {
        const nne_param_spec *p = &specs[k];
        char tn[160];
        nne_model_tensor_name(tn, sizeof tn, fold, p->name);
        imp->names[k] = strdup(tn);
        imp->data[k] = malloc((size_t)p->nelem * sizeof(float) + 1);
        if (!imp->names[k] || !imp->data[k])
            return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
        int node = -1, j = 1;
        switch (p->part) {
        case NNE_PART_ENC:
        case NNE_PART_DEC: {
            const block_ref *b = p->part == NNE_PART_ENC ? &W->enc[p->stage][p->conv]
                                                         : &W->dec[p->stage][p->conv];
            node = p->kind == NNE_PKIND_W || p->kind == NNE_PKIND_B ? b->conv : b->norm;
            j = p->kind == NNE_PKIND_W || p->kind == NNE_PKIND_NORM_W ? 1 : 2;
            break;
        }
        case NNE_PART_TCONV:
            node = W->tconv[p->stage];
            j = p->kind == NNE_PKIND_W ? 1 : 2;
            break;
        case NNE_PART_SEG: /* lower-resolution deep-supervision heads are not in the graph */
            node = p->stage == S - 2 ? W->seg : -1;
            j = p->kind == NNE_PKIND_W ? 1 : 2;
            break;
        }
        nne_status st = copy_input(G, node, j, p, imp->data[k]);
        if (st != NNE_OK) return st;
    }
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Header                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* The shortest decimal that rounds to `f` (1e-05 for the float nearest 1e-5). */
static double shortest(float f) {
    char buf[40];
    for (int prec = 1; prec <= 9; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, (double)f);
        double d = strtod(buf, NULL);
        if ((float)d == f) return d;
    }
    return (double)f;
}

static cJSON *int_array(const int *v, int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, cJSON_CreateNumber(v[i]));
    return a;
}

static cJSON *vec_array(const int (*v)[3], int n) {
    cJSON *a = cJSON_CreateArray();
    for (int i = 0; a && i < n; i++) cJSON_AddItemToArray(a, int_array(v[i], 3));
    return a;
}

/* nnU-Net's architecture entry for the walked network. */
static cJSON *arch_json(const nne_arch *a, double eps, double slope) {
    cJSON *ar = cJSON_CreateObject();
    cJSON_AddStringToObject(ar, "network_class_name",
                            "dynamic_network_architectures.architectures.unet.PlainConvUNet");
    cJSON *kw = cJSON_AddObjectToObject(ar, "arch_kwargs");
    cJSON_AddNumberToObject(kw, "n_stages", a->n_stages);
    cJSON_AddItemToObject(kw, "features_per_stage", int_array(a->features, a->n_stages));
    cJSON_AddStringToObject(kw, "conv_op", "torch.nn.modules.conv.Conv3d");
    cJSON_AddItemToObject(kw, "kernel_sizes", vec_array(a->kernel, a->n_stages));
    cJSON_AddItemToObject(kw, "strides", vec_array(a->stride, a->n_stages));
    cJSON_AddItemToObject(kw, "n_conv_per_stage", int_array(a->n_conv, a->n_stages));
    cJSON_AddItemToObject(kw, "n_conv_per_stage_decoder",
                          int_array(a->n_conv_dec, a->n_stages - 1));
    cJSON_AddBoolToObject(kw, "conv_bias", a->conv_bias);
    cJSON_AddStringToObject(kw, "norm_op", "torch.nn.modules.instancenorm.InstanceNorm3d");
    cJSON *nk = cJSON_AddObjectToObject(kw, "norm_op_kwargs");
    cJSON_AddNumberToObject(nk, "eps", eps);
    cJSON_AddBoolToObject(nk, "affine", 1);
    cJSON_AddNullToObject(kw, "dropout_op");
    cJSON_AddNullToObject(kw, "dropout_op_kwargs");
    if (slope == 0.0) {
        cJSON_AddStringToObject(kw, "nonlin", "torch.nn.ReLU");
        cJSON_AddItemToObject(kw, "nonlin_kwargs", cJSON_CreateObject());
    } else {
        cJSON_AddStringToObject(kw, "nonlin", "torch.nn.LeakyReLU");
        cJSON *lk = cJSON_AddObjectToObject(kw, "nonlin_kwargs");
        cJSON_AddBoolToObject(lk, "inplace", 1);
        cJSON_AddNumberToObject(lk, "negative_slope", slope);
    }
    cJSON *req = cJSON_AddArrayToObject(ar, "_kw_requires_import");
    const char *r[] = {"conv_op", "norm_op", "dropout_op", "nonlin"};
    for (int i = 0; i < 4; i++) cJSON_AddItemToArray(req, cJSON_CreateString(r[i]));
    return ar;
}

/* Adds metadata entry `key` (JSON text) to obj under `name`; absent keys are skipped. */
static nne_status meta_json(const graph *G, cJSON *obj, const char *key, const char *name,
                            int type) {
    const char *v = nne_onnx_meta(G->g, key);
    if (!v) return NNE_OK;
    cJSON *j = cJSON_Parse(v);
    if (!j || !(j->type & type)) {
        cJSON_Delete(j);
        return nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: metadata '%s' is not valid JSON of the "
                        "expected type", G->label, key);
    }
    cJSON_AddItemToObject(obj, name, j);
    return NNE_OK;
}

static int count_labels(const cJSON *labels) {
    int n = 0;
    const cJSON *it;
    cJSON_ArrayForEach(it, labels) n += strcmp(it->string, "ignore") != 0;
    return n;
}

/* Builds the .nne JSON header. */
static nne_status make_header(const graph *G, const walk *W, const unsigned char *buf,
                              size_t len, char *fold_out, size_t fold_n, char **out) {
    const nne_arch *a = &W->a;
    nne_status st = NNE_OK;
    cJSON *h = cJSON_CreateObject(), *plans = cJSON_CreateObject(), *cfg = cJSON_CreateObject();
    cJSON *ds = cJSON_CreateObject(), *cfgs = NULL;
    if (!h || !plans || !cfg || !ds) {
        st = nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    const char *cfg_name = nne_onnx_meta(G->g, "nnunet.configuration");
    if (!cfg_name || !cfg_name[0] || strlen(cfg_name) > 64) cfg_name = "3d_fullres";
    const char *fold = nne_onnx_meta(G->g, "nnedge.fold");
    if (!fold || !fold[0] || strlen(fold) > 32 || strchr(fold, '/')) fold = "0";
    snprintf(fold_out, fold_n, "%s", fold);
    const char *dsn = nne_onnx_meta(G->g, "nnunet.dataset_name");
    if (dsn) cJSON_AddStringToObject(plans, "dataset_name", dsn);
    if ((st = meta_json(G, plans, "nnunet.transpose_forward", "transpose_forward", cJSON_Array)) ||
        (st = meta_json(G, plans, "nnunet.transpose_backward", "transpose_backward",
                        cJSON_Array)) ||
        (st = meta_json(G, plans, "nnunet.foreground_intensity_properties_per_channel",
                        "foreground_intensity_properties_per_channel", cJSON_Object)))
        goto done;
    /* Patch size: metadata, else the fixed input shape, else the total stride. */
    int64_t ts[3];
    nne_arch_total_stride(a, ts);
    if ((st = meta_json(G, cfg, "nnunet.patch_size", "patch_size", cJSON_Array))) goto done;
    if (!cJSON_GetObjectItemCaseSensitive(cfg, "patch_size")) {
        int patch[3];
        int fixed = W->in_dims[2] > 0 && W->in_dims[3] > 0 && W->in_dims[4] > 0;
        for (int x = 0; x < 3; x++) patch[x] = fixed ? (int)W->in_dims[2 + x] : (int)ts[x];
        cJSON_AddItemToObject(cfg, "patch_size", int_array(patch, 3));
    }
    static const char *const cfg_keys[] = {"spacing", "normalization_schemes",
                                           "use_mask_for_norm", NULL};
    for (int k = 0; cfg_keys[k]; k++) {
        char key[80];
        snprintf(key, sizeof key, "nnunet.%s", cfg_keys[k]);
        if ((st = meta_json(G, cfg, key, cfg_keys[k], cJSON_Array))) goto done;
    }
    static const char *const rs_keys[] = {"resampling_fn_data_kwargs", "resampling_fn_seg_kwargs",
                                          "resampling_fn_probabilities_kwargs", NULL};
    for (int k = 0; rs_keys[k]; k++) {
        char key[80];
        snprintf(key, sizeof key, "nnunet.%s", rs_keys[k]);
        if ((st = meta_json(G, cfg, key, rs_keys[k], cJSON_Object))) goto done;
    }
    cJSON_AddItemToObject(cfg, "architecture", arch_json(a, shortest(W->eps), shortest(W->slope)));
    cfgs = cJSON_AddObjectToObject(plans, "configurations");
    cJSON_AddItemToObject(cfgs, cfg_name, cfg);
    cfg = NULL;

    /* dataset.json subset: channels and labels must agree with the graph. */
    if ((st = meta_json(G, ds, "nnunet.channel_names", "channel_names", cJSON_Object)) ||
        (st = meta_json(G, ds, "nnunet.labels", "labels", cJSON_Object)))
        goto done;
    const char *fe = nne_onnx_meta(G->g, "nnunet.file_ending");
    if (fe) cJSON_AddStringToObject(ds, "file_ending", fe);
    const cJSON *chn = cJSON_GetObjectItemCaseSensitive(ds, "channel_names");
    if (!chn) {
        cJSON *c = cJSON_AddObjectToObject(ds, "channel_names");
        for (int i = 0; i < a->n_in; i++) {
            char k[16], v[24];
            snprintf(k, sizeof k, "%d", i);
            snprintf(v, sizeof v, "channel_%d", i);
            cJSON_AddStringToObject(c, k, v);
        }
    } else if (cJSON_GetArraySize(chn) != a->n_in) {
        st = nne_fail(G->ctx, NNE_ERR_SHAPE, "%s: metadata names %d channels, the graph takes "
                      "%d", G->label, cJSON_GetArraySize(chn), a->n_in);
        goto done;
    }
    const cJSON *lab = cJSON_GetObjectItemCaseSensitive(ds, "labels");
    if (!lab) {
        cJSON *l = cJSON_AddObjectToObject(ds, "labels");
        cJSON_AddNumberToObject(l, "background", 0);
        for (int i = 1; i < a->n_classes; i++) {
            char k[24];
            snprintf(k, sizeof k, "class_%d", i);
            cJSON_AddNumberToObject(l, k, i);
        }
    } else if (count_labels(lab) != a->n_classes) {
        st = nne_fail(G->ctx, NNE_ERR_SHAPE, "%s: metadata names %d labels, the graph's seg "
                      "head has %d classes", G->label, count_labels(lab), a->n_classes);
        goto done;
    }

    cJSON_AddStringToObject(h, "format", "nnedge-model");
    cJSON_AddNumberToObject(h, "format_version", NNE_WEIGHTS_VERSION);
    cJSON_AddStringToObject(h, "nnedge_version", NNE_VERSION_STRING);
    cJSON_AddStringToObject(h, "configuration", cfg_name);
    cJSON_AddItemToObject(h, "plans", plans);
    plans = NULL;
    cJSON_AddItemToObject(h, "dataset", ds);
    ds = NULL;
    const char *base = strrchr(G->label, '/');
    base = base ? base + 1 : G->label;
    unsigned char dig[NNE_SHA256_LEN];
    char hex[65];
    nne_sha256(buf, len, dig);
    nne_sha256_hex(dig, hex);
    cJSON *fo = cJSON_CreateObject();
    cJSON_AddStringToObject(fo, "name", fold);
    cJSON_AddStringToObject(fo, "checkpoint", base);
    cJSON_AddStringToObject(fo, "sha256", hex);
    cJSON_AddItemToArray(cJSON_AddArrayToObject(h, "folds"), fo);
    if ((st = meta_json(G, h, "nnunet.mirroring_axes", "mirroring_axes", cJSON_Array | cJSON_NULL)))
        goto done;
    if (!cJSON_GetObjectItemCaseSensitive(h, "mirroring_axes"))
        cJSON_AddNullToObject(h, "mirroring_axes");
    cJSON *src = cJSON_AddObjectToObject(h, "source");
    cJSON_AddStringToObject(src, "type", "onnx");
    cJSON_AddStringToObject(src, "file", base);
    char prod[200];
    snprintf(prod, sizeof prod, "%.90s%s%.90s", G->g->producer_name,
             G->g->producer_version[0] ? " " : "", G->g->producer_version);
    cJSON_AddStringToObject(src, "producer", prod);
    cJSON_AddNumberToObject(src, "ir_version", (double)G->g->ir_version);
    cJSON_AddNumberToObject(src, "opset", (double)G->g->opset);
    cJSON_AddStringToObject(src, "output", W->softmax >= 0 ? "softmax" : "logits");
    cJSON_AddBoolToObject(src, "pipeline_metadata", nne_onnx_meta(G->g, "nnunet.spacing") != NULL);
    *out = cJSON_PrintUnformatted(h);
    if (!*out) st = nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
done:
    cJSON_Delete(h);
    cJSON_Delete(plans);
    cJSON_Delete(cfg);
    cJSON_Delete(ds);
    return st;
}

/* The header's plans must describe exactly the walked network (src/plans.c is the parser the
 * model loader uses). */
static nne_status cross_check(const graph *G, const walk *W, const char *header) {
    cJSON *h = cJSON_Parse(header), *cfg = NULL;
    nne_status st = NNE_OK;
    nne_arch b;
    const cJSON *plans = cJSON_GetObjectItemCaseSensitive(h, "plans");
    const cJSON *name = cJSON_GetObjectItemCaseSensitive(h, "configuration");
    if (!h || !cJSON_IsString(name)) {
        cJSON_Delete(h);
        return nne_fail(G->ctx, NNE_ERR_NOMEM, "out of memory");
    }
    if ((st = nne_plans_resolve(G->ctx, plans, name->valuestring, G->label, &cfg)) ||
        (st = nne_plans_arch(G->ctx, cfg, cJSON_GetObjectItemCaseSensitive(h, "dataset"),
                             G->label, &b)))
        goto done;
    const nne_arch *a = &W->a;
    int same = a->n_stages == b.n_stages && a->n_in == b.n_in && a->n_classes == b.n_classes &&
               a->conv_bias == b.conv_bias && a->norm_affine == b.norm_affine &&
               (float)b.norm_eps == W->eps && b.leaky_slope == W->slope;
    for (int s = 0; same && s < a->n_stages; s++) {
        same = a->features[s] == b.features[s] && a->n_conv[s] == b.n_conv[s] &&
               !memcmp(a->kernel[s], b.kernel[s], sizeof a->kernel[s]) &&
               !memcmp(a->stride[s], b.stride[s], sizeof a->stride[s]) &&
               (s == a->n_stages - 1 || a->n_conv_dec[s] == b.n_conv_dec[s]);
    }
    if (!same)
        st = nne_fail(G->ctx, NNE_ERR_FORMAT, "%s: the network read back from the plans differs "
                      "from the graph", G->label);
done:
    cJSON_Delete(cfg);
    cJSON_Delete(h);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Entry points                                                                              */
/* ---------------------------------------------------------------------------------------- */

void nne_onnx_import_free(nne_onnx_import *imp) {
    if (!imp) return;
    for (int i = 0; i < imp->n; i++) {
        if (imp->data) free(imp->data[i]);
        if (imp->names) free(imp->names[i]);
    }
    free(imp->data);
    free(imp->names);
    free(imp->specs);
    free(imp->header);
    memset(imp, 0, sizeof *imp);
}

nne_status nne_onnx_import_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                               nne_onnx_import *out) {
    nne_onnx_import imp;
    memset(&imp, 0, sizeof imp);
    memset(out, 0, sizeof *out);
    nne_onnx_model *g = NULL;
    nne_status st = nne_onnx_parse(ctx, buf, len, label, &g);
    if (st != NNE_OK) return st;
    graph G = {ctx, label, g, NULL, NULL, 0, NULL, NULL};
    walk *W = calloc(1, sizeof *W);
    char fold[40];
    if (!W) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
        goto done;
    }
    if (g->n_functions || g->n_sparse_inits) {
        st = nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: model-local functions and sparse "
                      "initializers are not supported", label);
        goto done;
    }
    if (g->opset == 0) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: no opset_import for the default ONNX domain "
                      "(truncated or not an ONNX model?)", label);
        goto done;
    }
    if (g->opset < 7) {
        st = nne_fail(ctx, NNE_ERR_UNSUPPORTED, "%s: opset %lld is too old (7 or later)", label,
                      (long long)g->opset);
        goto done;
    }
    if ((st = build_graph(&G)) || (st = walk_graph(&G, W))) goto done;
    if ((st = make_header(&G, W, buf, len, fold, sizeof fold, &imp.header)) ||
        (st = cross_check(&G, W, imp.header)) || (st = fill_params(&G, W, &imp, fold)))
        goto done;
    *out = imp;
    memset(&imp, 0, sizeof imp);
done:
    nne_onnx_import_free(&imp);
    free(W);
    graph_free(&G);
    nne_onnx_free(g);
    return st;
}

nne_status nne_onnx_import_file(nne_ctx *ctx, const char *path, nne_onnx_import *out) {
    int fd = open(path, O_RDONLY);
    if (fd < 0) return nne_fail(ctx, NNE_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    struct stat sb;
    if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        close(fd);
        return nne_fail(ctx, NNE_ERR_IO, "%s: not a regular file", path);
    }
    size_t len = (size_t)sb.st_size;
    if (len == 0) {
        close(fd);
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: empty file", path);
    }
    void *map = mmap(NULL, len, PROT_READ, MAP_PRIVATE, fd, 0);
    close(fd);
    if (map == MAP_FAILED) return nne_fail(ctx, NNE_ERR_IO, "%s: mmap: %s", path, strerror(errno));
    nne_status st = nne_onnx_import_mem(ctx, map, len, path, out);
    munmap(map, len);
    return st;
}

nne_status nne_onnx_model_from_import(nne_ctx *ctx, nne_onnx_import *imp, const char *label,
                                      nne_model **out) {
    /* An in-memory container: one anonymous mapping holds every tensor at a 64-byte aligned
     * offset, so nne_weights_close releases it like a mapped file. */
    size_t total = 0;
    for (int i = 0; i < imp->n; i++) total += nne_align_up((size_t)imp->specs[i].nelem * 4);
    nne_wfile *f = calloc(1, sizeof *f);
    void *map = total ? mmap(NULL, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS,
                             -1, 0)
                      : MAP_FAILED;
    if (!f || map == MAP_FAILED) {
        free(f);
        nne_onnx_import_free(imp);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    f->map = map;
    f->map_size = total;
    f->header = imp->header;
    f->header_len = strlen(imp->header);
    imp->header = NULL;
    f->entries = calloc((size_t)imp->n, sizeof *f->entries);
    if (!f->entries) {
        nne_weights_close(f);
        nne_onnx_import_free(imp);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    size_t off = 0;
    for (int i = 0; i < imp->n; i++) {
        nne_wentry *e = &f->entries[i];
        const nne_param_spec *p = &imp->specs[i];
        size_t nb = (size_t)p->nelem * 4;
        e->name = imp->names[i];
        imp->names[i] = NULL;
        e->ndim = p->ndim;
        memcpy(e->shape, p->shape, sizeof p->shape);
        e->nelem = p->nelem;
        memcpy((char *)map + off, imp->data[i], nb);
        e->data = (const float *)(const void *)((char *)map + off);
        e->crc32 = nne_crc32(e->data, nb);
        f->n_entries = i + 1;
        off += nne_align_up(nb);
    }
    nne_onnx_import_free(imp);
    return nne_model_from_file(ctx, f, label, out);
}

nne_status nne_onnx_model_load(nne_ctx *ctx, const char *path, nne_model **out) {
    nne_onnx_import imp;
    nne_status st = nne_onnx_import_file(ctx, path, &imp);
    if (st != NNE_OK) return st;
    return nne_onnx_model_from_import(ctx, &imp, path, out);
}

nne_status nne_onnx_convert(nne_ctx *ctx, const char *onnx_path, const char *out_path) {
    nne_onnx_import imp;
    nne_status st = nne_onnx_import_file(ctx, onnx_path, &imp);
    if (st != NNE_OK) return st;
    nne_wtensor *t = calloc((size_t)imp.n, sizeof *t);
    if (!t) {
        nne_onnx_import_free(&imp);
        return nne_fail(ctx, NNE_ERR_NOMEM, "out of memory");
    }
    for (int i = 0; i < imp.n; i++) {
        t[i].name = imp.names[i];
        t[i].ndim = imp.specs[i].ndim;
        memcpy(t[i].shape, imp.specs[i].shape, sizeof imp.specs[i].shape);
        t[i].data = imp.data[i];
    }
    st = nne_weights_write(ctx, out_path, imp.header, t, imp.n);
    free(t);
    nne_onnx_import_free(&imp);
    return st;
}
