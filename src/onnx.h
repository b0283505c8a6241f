/*
 * onnx.h - ONNX models: a reader of the protobuf file into plain structs (src/onnx.c), the
 * mapping of a PlainConvUNet graph back to nnedge's network (src/onnx_import.c) and the
 * export of a loaded model (src/onnx_export.c). Specified in docs/ONNX.md.
 *
 * Only the parts of onnx.proto that a convolutional network without control flow needs are
 * kept: model (IR version, opsets, producer, metadata_props), graph (nodes, initializers,
 * inputs, outputs), node attributes, tensors (raw_data or the typed repeated fields) and tensor
 * value infos. Everything else is validated as wire format and skipped; subgraphs are walked
 * for their structure (depth-bounded) but not kept.
 * ref: onnx/onnx.proto (field numbers and semantics; no generated code).
 */
#ifndef NNE_ONNX_H
#define NNE_ONNX_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"
#include "plans.h"

/* TensorProto.DataType values nnedge reads or writes. */
#define NNE_ONNX_FLOAT 1
#define NNE_ONNX_INT32 6
#define NNE_ONNX_INT64 7
#define NNE_ONNX_FLOAT16 10
#define NNE_ONNX_DOUBLE 11

/* AttributeProto.AttributeType values. */
#define NNE_ONNX_ATTR_FLOAT 1
#define NNE_ONNX_ATTR_INT 2
#define NNE_ONNX_ATTR_STRING 3
#define NNE_ONNX_ATTR_TENSOR 4
#define NNE_ONNX_ATTR_GRAPH 5
#define NNE_ONNX_ATTR_FLOATS 6
#define NNE_ONNX_ATTR_INTS 7

#define NNE_ONNX_MAX_RANK 8   /* tensors and values of higher rank are refused              */
#define NNE_ONNX_MAX_DEPTH 16 /* subgraph nesting (If/Loop bodies) deeper than this is refused */

/* Opsets nnedge exports (the default domain); the reader accepts 7 and later. */
#define NNE_ONNX_OPSET_MIN 13
#define NNE_ONNX_OPSET_MAX 21
#define NNE_ONNX_OPSET_DEFAULT 17

typedef struct nne_onnx_tensor {
    const char *name;          /* owned by the model ("" if absent)                      */
    int dtype;                 /* TensorProto.DataType                                   */
    int ndim;
    int64_t dims[NNE_ONNX_MAX_RANK];
    int64_t nelem;
    const unsigned char *raw;  /* raw_data (borrowed from the input), NULL if absent     */
    size_t raw_len;
    void *typed;               /* owned values of float_data (float), int32_data or
                                  int64_data (int64_t), double_data (double); or NULL    */
    int64_t n_typed;
    int external;              /* data stored outside the file (refused when used)       */
} nne_onnx_tensor;

typedef struct nne_onnx_attr {
    const char *name;          /* owned by the model                        */
    int type;                  /* AttributeType as stored (0 if absent)     */
    int has_f, has_i, has_s;   /* which singular fields were present        */
    float f;
    int64_t i;
    const char *s;             /* owned by the model                        */
    int64_t *ints;             /* owned [n_ints]                            */
    int n_ints;
    float *floats;             /* owned [n_floats]                          */
    int n_floats;
    nne_onnx_tensor *t;        /* owned, or NULL                            */
    int n_graphs;              /* subgraphs present (walked, not kept)      */
} nne_onnx_attr;

typedef struct nne_onnx_node {
    const char *name, *op, *domain; /* owned by the model ("" if absent)   */
    const char **in;                /* owned array of model-owned strings  */
    int n_in;
    const char **out;
    int n_out;
    nne_onnx_attr *attrs;           /* owned [n_attrs]                     */
    int n_attrs;
} nne_onnx_node;

typedef struct nne_onnx_value {
    const char *name;
    int elem_type;                  /* 0 if unknown, -1 if not a tensor type        */
    int ndim;                       /* -1 if the shape is not given                 */
    int64_t dims[NNE_ONNX_MAX_RANK];  /* -1 where symbolic or unknown               */
    const char *params[NNE_ONNX_MAX_RANK]; /* dim_param, or NULL                    */
} nne_onnx_value;

typedef struct nne_onnx_model {
    int64_t ir_version;
    int64_t opset;                  /* default domain ("" or "ai.onnx"), 0 if absent */
    int n_opsets;                   /* opset_import entries (all domains)            */
    const char *producer_name, *producer_version;
    const char **meta_key, **meta_val; /* owned arrays [n_meta]                      */
    int n_meta;
    int has_graph;
    const char *graph_name;
    nne_onnx_node *nodes;
    int n_nodes;
    nne_onnx_tensor *inits;
    int n_inits;
    int n_sparse_inits;             /* sparse initializers (refused by the import)   */
    nne_onnx_value *inputs;
    int n_inputs;
    nne_onnx_value *outputs;
    int n_outputs;
    int n_functions;                /* model-local functions (refused by the import) */
    char **strs;                    /* every owned string, for freeing               */
    int n_strs, cap_strs;
} nne_onnx_model;

/* Parses an ONNX ModelProto from `buf` (borrowed: raw tensor data keep pointing into it, so
 * it must outlive the result). `label` names the input in messages. Malformed protobuf (bad
 * wire types, lengths past the end, over-long varints, subgraphs nested deeper than
 * NNE_ONNX_MAX_DEPTH, tensor data whose size disagrees with the shape) gives NNE_ERR_FORMAT
 * naming the message, field and byte offset. On success *out is owned (nne_onnx_free). */
nne_status nne_onnx_parse(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                          nne_onnx_model **out);

/* Releases a parsed model. Accepts NULL. */
void nne_onnx_free(nne_onnx_model *m);

/* Converts a FLOAT, FLOAT16 or DOUBLE tensor to float32 into dst [t->nelem]. External data
 * and other types give NNE_ERR_UNSUPPORTED naming the tensor. */
nne_status nne_onnx_tensor_f32(nne_ctx *ctx, const nne_onnx_tensor *t, const char *label,
                               float *dst);

/* The value of metadata_props entry `key`, or NULL. */
const char *nne_onnx_meta(const nne_onnx_model *m, const char *key);

/* 1 if `path` names an ONNX file (ends in ".onnx", any case). */
int nne_onnx_is_path(const char *path);

/* ---------------------------------------------------------------------------------------- */
/* Import (src/onnx_import.c)                                                                */
/* ---------------------------------------------------------------------------------------- */

/* A network recovered from an ONNX graph, ready to be written as `.nne` or loaded. */
typedef struct nne_onnx_import {
    char *header;          /* owned JSON header of the .nne model              */
    int n;                 /* parameter tensors (one fold)                     */
    nne_param_spec *specs; /* owned [n], nnU-Net order                         */
    float **data;          /* owned [n] float32 buffers                        */
    char **names;          /* owned [n] tensor names "fold<name>/<key>"        */
} nne_onnx_import;

/* Maps the graph of an ONNX file held in `buf` to a PlainConvUNet and builds the model
 * header from its nnU-Net metadata (when present). Unsupported operators, attributes or
 * topologies give NNE_ERR_UNSUPPORTED naming the node; malformed files NNE_ERR_FORMAT. On
 * success *out is filled (release with nne_onnx_import_free); on failure it is left zeroed. */
nne_status nne_onnx_import_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                               nne_onnx_import *out);

/* Same for a file. */
nne_status nne_onnx_import_file(nne_ctx *ctx, const char *path, nne_onnx_import *out);

/* Releases what an import owns. Accepts a zeroed struct. */
void nne_onnx_import_free(nne_onnx_import *imp);

/* Builds an in-memory model from an import (the parameters are moved into the model; `imp`
 * is emptied either way). `label` names it in messages. */
nne_status nne_onnx_model_from_import(nne_ctx *ctx, nne_onnx_import *imp, const char *label,
                                      nne_model **out);

/* Loads an ONNX file as a model (nne_model_load for paths ending in .onnx). */
nne_status nne_onnx_model_load(nne_ctx *ctx, const char *path, nne_model **out);

/* Writes the `.nne` model of an ONNX file to out_path atomically (nne_convert for inputs
 * ending in .onnx). */
nne_status nne_onnx_convert(nne_ctx *ctx, const char *onnx_path, const char *out_path);

#endif /* NNE_ONNX_H */
