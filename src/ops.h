/*
 * ops.h - the network operators of PlainConvUNet inference, FP32, NCDHW with N = 1.
 *
 * Each op lives in its own file (conv3d.c, convt3d.c, instnorm.c, act.c, softmax.c) and
 * computes through the context's kernel table and thread pool. Ops never allocate: scratch
 * memory, where needed, is passed in and sized by the matching `_ws_bytes` function. Every op
 * gives bitwise-identical results for every thread count (outputs are partitioned, never
 * summed across threads; reductions use NNE_REDUCE_CHUNKS fixed chunks).
 */
#ifndef NNE_OPS_H
#define NNE_OPS_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "threadpool.h"

/* Geometry of a 3-D convolution with PyTorch semantics (padding k//2 per axis, dilation 1). */
typedef struct nne_conv3d_desc {
    int64_t c_in, c_out;
    int64_t in[3];  /* input d, h, w                       */
    int k[3];       /* kernel kd, kh, kw (odd or 1)        */
    int stride[3];  /* sd, sh, sw                          */
    int pad[3];     /* k/2 per axis                        */
    int64_t out[3]; /* (in + 2 pad - k) / stride + 1       */
} nne_conv3d_desc;

/* Fills `d` from the arguments (pad = k/2, out from the PyTorch formula). */
void nne_conv3d_desc_init(nne_conv3d_desc *d, int64_t c_in, int64_t c_out, const int64_t in[3],
                          const int k[3], const int stride[3]);

/* How a convolution is computed; chosen once per layer (nne_conv3d_algo_pick) because the
 * weights are prepared for one algorithm (nne_conv3d_prep). */
typedef enum nne_conv3d_algo {
    NNE_CONV3D_DIRECT = 0, /* packed direct convolution: any odd kernel, any stride          */
    NNE_CONV3D_GEMM = 1,   /* 1x1x1 stride 1: a matrix product over voxels                   */
    NNE_CONV3D_WINO = 2,   /* Winograd F(2x2x2, 3x3x3), 3x3x3 stride 1 (src/conv3d_wino.c)   */
    NNE_CONV3D_WINO4 = 3,  /* Winograd F(4x4x2, 3x3x3), 3x3x3 stride 1: 2.25x fewer products */
    NNE_CONV3D_IM2COL = 4, /* gathered input rows x packed weights (src/conv3d_im2col.c)      */
    NNE_CONV3D_WINO44 = 5, /* Winograd F(4x4x4, 3x3x3), 3x3x3 stride 1: 1/8 of the products  */
} nne_conv3d_algo;

/* The weights of one convolution prepared for its algorithm by nne_conv3d_prep: views into
 * memory the caller owns (nne_conv3d_prep_bytes of it), or, for GEMM, the borrowed original
 * weights. Immutable after preparation, so one prepared layer serves any number of forwards
 * and threads. */
typedef struct nne_conv3d_w {
    nne_conv3d_algo algo;
    int64_t c_in, c_out;
    int k[3], stride[3];
    const float *w;    /* GEMM: [c_out][c_in] as given (borrowed); else NULL                  */
    const float *bias; /* GEMM: [c_out] or NULL (borrowed); else the padded bias below        */
    float *packed;     /* DIRECT: [c_out / OCB][c_in][kd][kh][kw][NNE_CONV_OCB]               */
                       /* WINO: [64][c_out / OCR][c_in][NNE_WINO_OCR] (G x G x G) g         */
                       /* WINO4: the same with 144 positions (G4 x G4 x G) g                */
                       /* WINO44: the same with 216 positions (G4 x G4 x G4) g              */
                       /* IM2COL: [c_out / OCR][c_in * kd * kh * kw][NNE_WINO_OCR]           */
                       /* (channel counts rounded up, padding zero)                           */
    const uint16_t *packed16; /* the same in IEEE binary16 instead (FP16 weight storage, set by */
                              /* the model loader; then `packed` is NULL). nne_conv3d_run_z    */
                              /* widens WINO/WINO4 weights on the fly; the other algorithms    */
                              /* are widened by the caller (src/model.c)                       */
    const struct nne_conv3d_q8_w *q8; /* INT8 instead (src/quant.h, set by the model loader):  */
    float act_scale;                  /* nne_conv3d_q8_run with the input quantized by         */
    int32_t act_zp;                   /* (act_scale, act_zp); `packed` is NULL then            */
} nne_conv3d_w;

/* The algorithm for a convolution of geometry `d`: GEMM for 1x1x1 stride 1; DIRECT for
 * everything else when `wino` is 0. Otherwise, for 3x3x3 kernels: stride 1 with `wino` 2, 3
 * or 4 WINO, WINO4 or WINO44; stride 1 with at least 8 input channels, 8 output columns and
 * 16^3 voxels WINO; at least 8
 * columns and stride 1 or 2 along w IM2COL; the rest DIRECT (see conv3d.c). The spatial size
 * in `d` only steers the choice: prepared weights work for any input size. */
nne_conv3d_algo nne_conv3d_algo_pick(const nne_conv3d_desc *d, int wino);

/* Bytes (NNE_ALIGN aligned) nne_conv3d_prep needs for `algo` (0 for GEMM). */
size_t nne_conv3d_prep_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo);

/* Prepares the weights w [c_out, c_in, kd, kh, kw] and bias [c_out] (may be NULL) of a
 * convolution with geometry `d` for `algo` into `mem` (nne_conv3d_prep_bytes, NNE_ALIGN
 * aligned, retained by `out` until the caller frees it; GEMM retains w and bias instead).
 * WINO needs 3x3x3 stride 1; the Winograd weight transform is computed in double. */
void nne_conv3d_prep(nne_pool *pool, nne_conv3d_w *out, const nne_conv3d_desc *d,
                     nne_conv3d_algo algo, const float *w, const float *bias, void *mem);

/* Scratch bytes nne_conv3d_run needs with a pool of `nth` threads (>= 1): DIRECT one
 * zero-padded input row buffer per thread, WINO one transform-domain tile block per thread,
 * GEMM none. */
size_t nne_conv3d_run_ws_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo, int nth);

/* dst [c_out, out] = conv(src [c_in, in], prepared weights) + bias. `pw` must have been
 * prepared for a geometry with the same channels, kernel and stride as `d` (the spatial size
 * may differ). `ws` holds nne_conv3d_run_ws_bytes(d, pw->algo, nth) bytes (NNE_ALIGN
 * aligned) with nth >= nne_pool_n_threads(pool). dst must not alias src. Bitwise identical
 * for every thread count. */
void nne_conv3d_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                    const nne_conv3d_w *pw, const nne_conv3d_desc *d, void *ws);

/* One part of a streamed convolution's input (model.c): input channels [first, first + c) of
 * the convolution, stored as [c][nz][h][w] with channel stride cs (>= nz * h * w), holding the
 * input planes z_base .. z_base + nz - 1. Planes outside the part read as zero, so a part must
 * hold every plane inside the volume that the computed outputs need. */
typedef struct nne_conv3d_part {
    const float *src;
    int64_t c, cs;
    int64_t z_base, nz;
} nne_conv3d_part;

/* Output planes [oz0, oz1) of a Winograd convolution (pw->algo WINO, WINO4 or WINO44) of
 * geometry `d` whose input channels come in `n_parts` (1 or 2, channels in order, adding up
 * to c_in) parts: dst [c_out][oz1 - oz0][out h][out w]. oz0 is a multiple of 4, and so is
 * oz1 unless it is out[0]. Every voxel gets exactly the value nne_conv3d_run gives it; `ws`
 * as for nne_conv3d_run. This lets a convolution run over slabs of planes and write in
 * place. */
void nne_conv3d_run_z(nne_pool *pool, const nne_kernels *kt, float *dst,
                      const nne_conv3d_part *parts, int n_parts, const nne_conv3d_w *pw,
                      const nne_conv3d_desc *d, void *ws, int64_t oz0, int64_t oz1);

/* Scratch bytes nne_conv3d_fwd needs with a pool of `nth` threads (>= 1): the packed weights
 * and bias of the direct algorithm plus its run workspace. */
size_t nne_conv3d_ws_bytes(const nne_conv3d_desc *d, int nth);

/* One-shot direct convolution without prepared weights (tests, benchmarks): packs w and
 * bias into `ws`, then runs as nne_conv3d_run. dst [c_out, out] = conv(src [c_in, in],
 * w [c_out, c_in, kd, kh, kw]) + bias [c_out] (bias may be NULL). `ws` holds
 * nne_conv3d_ws_bytes(d, nth) bytes (NNE_ALIGN aligned) with nth >= nne_pool_n_threads(pool);
 * 1x1x1 stride-1 convolutions do not touch it. Kernel sizes must be odd (padding k/2 keeps
 * PyTorch's output size). dst must not alias src. */
void nne_conv3d_fwd(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                    const float *w, const float *bias, const nne_conv3d_desc *d, void *ws);

/* im2col internals (src/conv3d_im2col.c), called through the functions above. */
size_t nne_conv3d_im2col_prep_bytes(const nne_conv3d_desc *d);
void nne_conv3d_im2col_prep(void *mem, const nne_conv3d_desc *d, const float *w,
                            const float *bias, float **u, float **bias_p);
size_t nne_conv3d_im2col_ws_bytes(const nne_conv3d_desc *d, int nth);
void nne_conv3d_im2col_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                           const float *u, const float *bias_p, const nne_conv3d_desc *d,
                           void *ws);

/* Winograd internals (src/conv3d_wino.c), called through the functions above; `algo` is the
 * variant: WINO, WINO4 or WINO44. */
size_t nne_conv3d_wino_prep_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo);
void nne_conv3d_wino_prep(nne_pool *pool, void *mem, const nne_conv3d_desc *d,
                          nne_conv3d_algo algo, const float *w, const float *bias, float **u,
                          float **bias_p);
size_t nne_conv3d_wino_ws_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo, int nth);
void nne_conv3d_wino_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                         const float *u, const float *bias_p, const nne_conv3d_desc *d,
                         nne_conv3d_algo algo, void *ws);
void nne_conv3d_wino_run_z(nne_pool *pool, const nne_kernels *kt, float *dst,
                           const nne_conv3d_part *parts, int n_parts, const float *u,
                           const uint16_t *u16, const float *bias_p, const nne_conv3d_desc *d,
                           nne_conv3d_algo algo, void *ws, int64_t oz0, int64_t oz1);

/* Transposed convolution with kernel == stride, padding 0, PyTorch weight layout
 * w [c_in, c_out, s0, s1, s2]: dst [c_out, in*stride] from src [c_in, in], plus bias [c_out]
 * (may be NULL). Every output voxel receives exactly one kernel tap per input channel. */
void nne_convt3d_fwd(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                     const float *w, const float *bias, int64_t c_in, int64_t c_out,
                     const int64_t in[3], const int stride[3]);
/* The same with explicit channel strides (floats): dst channel oc at dst + oc * dst_cs,
 * src channel ic at src + ic * src_cs (each at least the dense volume). */
void nne_convt3d_fwd_cs(nne_pool *pool, const nne_kernels *kt, float *dst, int64_t dst_cs,
                        const float *src, int64_t src_cs, const float *w, const float *bias,
                        int64_t c_in, int64_t c_out, const int64_t in[3], const int stride[3]);

/* Instance normalization in place over x [c, nvox], per channel: biased mean/variance
 * accumulated in double over NNE_REDUCE_CHUNKS fixed chunks, y = (x - mean) / sqrt(var + eps)
 * * gamma + beta (gamma/beta may be NULL for non-affine), then LeakyReLU with `slope` when
 * `leaky` is non-zero. */
void nne_instnorm_fwd(nne_pool *pool, const nne_kernels *kt, float *x, const float *gamma,
                      const float *beta, int64_t c, int64_t nvox, double eps, int leaky,
                      float slope);

/* LeakyReLU in place over n elements. */
void nne_leaky_relu_fwd(nne_pool *pool, const nne_kernels *kt, float *x, int64_t n, float slope);

/* Softmax over channels: dst [c, nvox] from src [c, nvox] (may alias). */
void nne_softmax_fwd(nne_pool *pool, float *dst, const float *src, int64_t c, int64_t nvox);

/* Argmax over channels (first maximum wins, as numpy/torch): dst [nvox] from src [c, nvox]. */
void nne_argmax_fwd(nne_pool *pool, uint8_t *dst, const float *src, int64_t c, int64_t nvox);

#endif /* NNE_OPS_H */
