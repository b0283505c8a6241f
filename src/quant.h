/*
 * quant.h - INT8 building blocks of the `--precision int8` inference mode: the quantized 3-D
 * convolution (src/conv3d_q8.c) and the activation quantization parameters it runs with.
 *
 * Weights are quantized symmetric per output channel to int8 at prepare time; activations
 * per tensor, asymmetric uint8 with a zero point, from a range [lo, hi] measured by
 * calibration (src/calib.h). Products are summed in int32 (exact), then dequantized and
 * biased in float. See src/conv3d_q8.c and docs/INT8.md.
 */
#ifndef NNE_QUANT_H
#define NNE_QUANT_H

#include <stddef.h>
#include <stdint.h>

#include "cpu.h"
#include "ops.h"
#include "threadpool.h"

/* Activation quantization of one tensor: q = clamp(round(x / scale) + zp, 0, 255), value
 * x' = scale * (q - zp). 0.0 is exactly representable (q = zp), so zero padding is exact. */
typedef struct nne_q8_act {
    float scale; /* > 0                                          */
    int32_t zp;  /* zero point, 0..255                           */
} nne_q8_act;

/* The parameters covering [lo, hi] (lo is raised to at most 0 and hi to at least 0 first, so
 * 0.0 is inside): scale = (hi - lo) / 255, zp = round(-lo / scale). A degenerate or non-finite
 * range gives scale 1, zp 0. */
nne_q8_act nne_q8_act_from_range(float lo, float hi);

/* The weights of one convolution prepared for nne_conv3d_q8_run: views into memory the caller
 * owns (nne_conv3d_q8_prep_bytes of it). Immutable after preparation. */
typedef struct nne_conv3d_q8_w {
    int64_t c_in, c_out;
    int k[3], stride[3];
    int64_t cp;            /* input channel pairs: ceil(c_in / 2)                          */
    const int16_t *w;      /* [c_out / OCB][cp][kd][kh][kw][OCB][2] int8 values (channels  */
                           /* zero padded to whole blocks and pairs)                       */
    const float *scale_w;  /* [c_out rounded up to OCB] max|w[oc]| / 127 (0: all-zero row) */
    const float *bias;     /* [c_out rounded up to OCB] (zeros when the conv has none)     */
} nne_conv3d_q8_w;

/* Bytes (NNE_ALIGN aligned) nne_conv3d_q8_prep needs. */
size_t nne_conv3d_q8_prep_bytes(const nne_conv3d_desc *d);

/* Quantizes w [c_out, c_in, kd, kh, kw] (PyTorch layout) per output channel and copies bias
 * [c_out] (may be NULL) into `mem` (nne_conv3d_q8_prep_bytes, NNE_ALIGN aligned, retained by
 * `out` until the caller frees it). Any odd kernel and any stride. Computed in double, so the
 * result does not depend on the machine. */
void nne_conv3d_q8_prep(nne_conv3d_q8_w *out, const nne_conv3d_desc *d, const float *w,
                        const float *bias, void *mem);

/* Scratch bytes nne_conv3d_q8_run needs with a pool of `nth` threads (>= 1): the quantized,
 * zero-padded input as centred int16 channel pairs (two bytes per input voxel plus padding)
 * plus per thread two byte rows and one row of int32 results per output channel group. */
size_t nne_conv3d_q8_ws_bytes(const nne_conv3d_desc *d, int nth);

/* dst [c_out, out] = dequantized conv(quantize(src [c_in, in], act), prepared weights) +
 * bias: src is quantized with `act` (values outside its range are clipped), the products
 * summed in int32, then dst = acc * (act.scale * scale_w[oc]) + bias[oc] in float. `pw` must
 * have been prepared for the channels, kernel and stride of `d` (any spatial size). `ws`
 * holds nne_conv3d_q8_ws_bytes(d, nth) bytes (NNE_ALIGN aligned) with
 * nth >= nne_pool_n_threads(pool). dst must not alias src. Bitwise identical for every thread
 * count and every kernel table. */
void nne_conv3d_q8_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                       const nne_conv3d_q8_w *pw, const nne_conv3d_desc *d, nne_q8_act act,
                       void *ws);

#endif /* NNE_QUANT_H */
