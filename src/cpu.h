/*
 * cpu.h - the kernel table and CPU feature detection.
 *
 * Every microkernel exists as a portable `_ref` twin (src/arch/generic.c) and optionally as
 * ISA variants (src/arch/x86_avx2.c, src/arch/arm_neon.c). Each arch file defines one const
 * `nne_kernels` table; nne_cpu_select picks one table once, at context init, from the CPU's
 * features, an explicit request or the NNE_ISA environment variable. Ops call kernels only
 * through the table, so tests can run every variant on the same inputs.
 * ref: ggml-cpu arch/<isa> + simd-mappings; redis bitops.c runtime dispatch.
 */
#ifndef NNE_CPU_H
#define NNE_CPU_H

#include <stdint.h>

#include "nnedge.h"

/* Output channels per packed convolution weight block (the same for every ISA, so weight
 * packing in conv3d.c is ISA independent; AVX2 holds a block in one register, NEON in two). */
#define NNE_CONV_OCB 8

/* Winograd F(2x2x2, 3x3x3) (src/conv3d_wino.c). A tile is 2x2x2 outputs computed from a
 * 4x4x4 input patch; its transform has NNE_WINO_NPOS = 64 positions p = (pd * 4 + ph) * 4 + pw.
 * Tiles are handled in groups of NNE_WINO_GT consecutive tiles along w (one tile row); the
 * transform kernels work on one group (the group's tiles are the vector lanes), the GEMM on
 * blocks of whole groups. Transformed weights are packed in blocks of NNE_WINO_OCR output
 * channels: u[p][oc / OCR][ic][oc % OCR]. Lane l of a group holds tile NNE_WINO_LANE_TILE(l)
 * of the group: bits 1 and 2 of l swapped (tiles 0 1 4 5 2 3 6 7), the order in which even/odd
 * shuffles inside 128-bit halves deliver the tiles of 16 columns, so no lane-crossing
 * permutes are needed; the GEMM does not care about the order. All constants are the same for
 * every ISA, so the weight transform and the buffer layouts are ISA independent. */
#define NNE_WINO_NPOS 64
#define NNE_WINO_GT 8
#define NNE_WINO_OCR 4
#define NNE_WINO_LANE_TILE(l) (((l)&1) | (((l) >> 1 & 1) << 2) | (((l) >> 2 & 1) << 1))

/* Input transform of one tile group, V = (B^T x B^T x B^T) d per channel, with
 *   B^T = [1 0 -1 0; 0 1 1 0; 0 -1 1 0; 0 1 0 -1]
 * applied along d, then h, then w. Tile t of the group (t < NNE_WINO_GT, in lane l with
 * t = NNE_WINO_LANE_TILE(l)) reads the input patch z0..z0+3, y0..y0+3, x0+2t..x0+2t+3;
 * voxels outside [0,d) x [0,h) x [0,w) are zero (padding), so tiles past the end of a row
 * transform zeros. Writes
 *   v[p * v_ps + c * v_cs + l]   for p < 64, c < nc, l < NNE_WINO_GT. */
typedef struct nne_wino_in {
    float *v;          /* [64][nc][..] transformed group: position stride v_ps, channel v_cs */
    int64_t v_ps, v_cs;
    const float *src;  /* input [nc][d][h][w] (channel 0)                                    */
    int64_t src_cs;    /* channel stride (d * h * w)                                         */
    int64_t nc;        /* channels                                                           */
    int64_t d, h, w;   /* input size                                                         */
    int64_t z0, y0, x0; /* input corner of tile 0's patch (2 tz - 1, ...; may be -1)         */
} nne_wino_in;

/* Output transform of one tile group, Y = (A^T x A^T x A^T) M + bias per channel, with
 *   A^T = [1 1 1 0; 0 1 -1 -1]
 * applied along d, then h, then w: reads m[p * m_ps + c * m_cs + l] and writes the 2x2x2
 * outputs of tile t = NNE_WINO_LANE_TILE(l) at
 * dst[c * dst_cs + ((z0 + a) * h + y0 + b) * w + x0 + 2 t + e] for the voxels inside
 * [0,d) x [0,h) x [0,w) only (nothing else is written). */
typedef struct nne_wino_out {
    float *dst;        /* output [nc][d][h][w] (channel 0)                                   */
    int64_t dst_cs;    /* channel stride (d * h * w)                                         */
    const float *m;    /* [64][nc][..] transform-domain results of the group                 */
    int64_t m_ps, m_cs;
    const float *bias; /* [nc], never NULL                                                   */
    int64_t nc;        /* channels                                                           */
    int64_t d, h, w;   /* output size                                                        */
    int64_t z0, y0, x0; /* output corner of tile 0 (2 tz, 2 ty, 2 tx)                        */
} nne_wino_out;

/* Winograd F(4x4x2, 3x3x3): tiles of 4 (d) x 4 (h) x 2 (w) outputs from 6 x 6 x 4 input
 * patches, with NNE_WINO4_NPOS = 144 positions p = (pd * 6 + ph) * 4 + pw. Along d and h the
 * F(4, 3) Toom-Cook matrices for the interpolation points 0, 1, -1, 1/2, -2 (more accurate
 * than Lavin & Gray's 0, 1, -1, 2, -2: about 3x smaller worst-case rounding error in 3-D)
 *   B4^T = [1 -3/2 -2 3/2 1 0; 0 -1 1/2 5/2 1 0; 0 1 -5/2 1/2 1 0; 0 -2 -1 2 1 0;
 *           0 1/2 -1 -1/2 1 0; 0 1 -3/2 -2 3/2 1],
 *   G4 = [1 0 0; 1/3 1/3 1/3; -1/3 1/3 -1/3; -16/15 -8/15 -4/15; 1/15 -2/15 4/15; 0 0 1],
 *   A4^T = [1 1 1 1 1 0; 0 1 -1 1/2 -2 0; 0 1 1 1/4 4 0; 0 1 -1 1/8 -8 1],
 * along w F(2, 3)'s. Tile groups, lane order, the GEMM and the weight packing are those of
 * F(2x2x2): the same nne_wino_in / nne_wino_out arguments describe one group, with the
 * patch z0..z0+5, y0..y0+5 (corner 4 tz - 1, 4 ty - 1, 16 gx - 1) and the outputs
 * z0..z0+3, y0..y0+3, and v/m holding 144 positions. 2.25x fewer products than F(2x2x2)
 * for a larger rounding error; see src/conv3d_wino.c. */
#define NNE_WINO4_NPOS 144

/* Winograd F(4x4x4, 3x3x3): tiles of 4x4x4 outputs from 6x6x6 input patches, the F(4, 3)
 * matrices above along all three axes, NNE_WINO44_NPOS = 216 positions
 * p = (pd * 6 + ph) * 6 + pw: 3.375 products per output against F(4x4x2)'s 4.5. A group of
 * NNE_WINO_GT tiles covers 32 columns: tile t reads the patch z0..z0+5, y0..y0+5,
 * x0+4t..x0+4t+5 (corner 4 tz - 1, 4 ty - 1, 32 gx - 1; 34 input columns per patch row) and
 * writes the outputs z0..z0+3, y0..y0+3, x0+4t..x0+4t+3, with the same nne_wino_in /
 * nne_wino_out arguments, GEMM and weight packing as the other variants. Lane l of a group
 * holds tile NNE_WINO44_LANE_TILE(l) = 2 (l mod 4) + l / 4 (tiles 0 2 4 6 1 3 5 7): an in-lane
 * 4x4 transpose of the four 8-column vectors of a 32-column row gives, in each 128-bit half,
 * column k of every other tile, so no lane-crossing permutes are needed (NEON takes the two
 * halves as its two vectors). The same order for every ISA. */
#define NNE_WINO44_NPOS 216
#define NNE_WINO44_LANE_TILE(l) ((((l)&3) << 1) | ((l) >> 2 & 1))

/* The transform-domain products of a block of tiles, for every position p < npos:
 *   m[p * m_ps + (b * OCR + r) * m_cs + t] = (accumulate ? that value : 0)
 *       + sum_{ic < c_in} u[p * u_ps + b * u_bs + ic * OCR + r] * v[p * v_ps + ic * v_cs + t]
 * for row blocks b < nb, r < NNE_WINO_OCR, tiles t < nt (a multiple of NNE_WINO_GT), summed in
 * increasing ic. Rows of zero-padded output channels are computed like the others. */
typedef struct nne_wino_gemm {
    float *m;
    int64_t m_ps, m_cs;
    const float *u;    /* packed [p][b][ic][OCR] transformed weights                         */
    int64_t u_ps, u_bs;
    const float *v;    /* [p][ic][t] transformed input                                       */
    int64_t v_ps, v_cs;
    int64_t npos, nb, c_in, nt;
    int accumulate;
} nne_wino_gemm;

/* One output row of a direct 3-D convolution for one block of NNE_CONV_OCB output channels:
 *   dst[o * dst_cs + x] = bias[o] + sum_{ic, kd, kh, kw} w[ic][kd][kh][kw][o] *
 *       src[ic * src_cs + kd * src_ds + kh * src_hs + x * sw + kw - pw]
 * for o < noc, x in [0, wout); with `accumulate`, dst's previous value replaces bias. Taps
 * whose input column falls outside [0, win) are skipped (zero padding). The caller resolves
 * the d/h padding: `src` and `w` already point at the first valid (kd, kh) tap and nkd x nkh
 * taps are valid. Per output element the summation order is fixed (ic, then kd, kh, kw),
 * whatever the tiling, so results never depend on the thread split. conv3d.c passes
 * zero-padded copies of the input rows (pw = 0, win covering every column a register tile
 * may compute past wout), so the unchecked tiles apply everywhere; the range checks exist
 * for generality and for tests. Columns >= wout are never written. */
typedef struct nne_conv3d_row {
    float *dst;        /* [noc][dst_cs] output row at x = 0                             */
    int64_t dst_cs;    /* output channel stride (output voxels)                         */
    int noc;           /* valid output channels of the block, 1..NNE_CONV_OCB           */
    const float *src;  /* input at (ic 0, first valid kd, first valid kh, column 0)     */
    int64_t src_cs;    /* input channel stride (input voxels)                           */
    int64_t src_ds;    /* input plane stride (h * w)                                    */
    int64_t src_hs;    /* input row stride (w)                                          */
    int64_t win;       /* input width                                                   */
    const float *w;    /* packed [c_in][kd][kh][kw][OCB] at the first valid (kd, kh)    */
    int64_t w_cs;      /* packed stride per input channel (kd * kh * kw * OCB)          */
    int64_t w_ds;      /* packed stride per kd (kh * kw * OCB)                          */
    int64_t w_hs;      /* packed stride per kh (kw * OCB)                               */
    int64_t c_in;      /* input channels                                                */
    int nkd, nkh;      /* valid taps along d and h for this row                         */
    int kw;            /* kernel width (all kw taps, checked per column)                */
    int sw, pw;        /* stride and padding along w                                    */
    int64_t wout;      /* output width                                                  */
    const float *bias; /* [OCB] (zero padded), never NULL                               */
    int accumulate;    /* 0: start from bias; 1: continue from the values in dst (a     */
                       /* previous call summed the preceding input channels)            */
} nne_conv3d_row;

/* One output row of the INT8 direct convolution (src/conv3d_q8.c), int32 results for nb
 * blocks of NNE_Q8_OCB output channels:
 *   dst[(b * OCB + o) * dst_cs + x] = sum_{p < cp, a < kd, e < kh, c < kw, i < 2}
 *       w[b * w_bs + ((((p * kd + a) * kh + e) * kw + c) * OCB + o) * 2 + i]
 *     * src[p * src_ps + a * src_ds + e * src_hs + (x * sw + c) * 2 + i]
 * for b < nb, o < OCB, x < wout (nothing else is written). Input channels are paired:
 * src holds the centred activations (q - zp, -255..255) of channels 2p and 2p + 1 side by side
 * as int16, already zero padded on every side (no bounds checks; a kernel may read up to
 * NNE_Q8_SLACK columns past the last one wout needs), and w the int8 weights (-127..127) of
 * the same two channels, so one 32-bit lane of a 16-bit multiply-add (AVX2 vpmaddwd) takes
 * the two products of a pair. |sum| <= cp * kd * kh * kw * 2 * 127 * 255 < 2^31 for the
 * 3x3x3 x 640 channels of the plans (and up to 33000 pairs), so the int32 sums never
 * overflow: every variant is exact and returns the `_ref` values. */
#define NNE_Q8_OCB 8
#define NNE_Q8_SLACK 16
typedef struct nne_q8_row {
    int32_t *dst;       /* [nb * OCB][dst_cs] results at column 0                            */
    int64_t dst_cs;
    const int16_t *src; /* padded pairs at (pair 0, first tap plane, first tap row, column 0) */
    int64_t src_ps;     /* stride per channel pair (int16 elements)                          */
    int64_t src_ds;     /* stride per kd (padded plane)                                      */
    int64_t src_hs;     /* stride per kh (padded row)                                        */
    const int16_t *w;   /* packed [nb][cp][kd][kh][kw][OCB][2]                               */
    int64_t w_bs;       /* stride per output block (cp * kd * kh * kw * OCB * 2)            */
    int64_t cp;         /* channel pairs                                                     */
    int kd, kh, kw, sw; /* kernel and stride along w                                         */
    int64_t wout;       /* output columns                                                    */
    int64_t nb;         /* output channel blocks                                             */
} nne_q8_row;

typedef struct nne_kernels {
    const char *name; /* "ref", "avx2", "neon" */

    /* dst[i] += sum_k w[k] * src[k * src_stride + i] for i in [0, n), k in [0, nk).
     * The inner "axpy over a row" building block of direct convolution. */
    void (*axpy_rows)(float *restrict dst, const float *restrict src, int64_t src_stride,
                      const float *restrict w, int64_t nk, int64_t n);

    /* x[i] = x[i] >= 0 ? x[i] : x[i] * slope, in place. */
    void (*leaky_relu)(float *x, int64_t n, float slope);

    /* One row of direct convolution, see nne_conv3d_row. */
    void (*conv3d_row)(const nne_conv3d_row *a);

    /* A small GEMM over rows (transposed convolution, 1x1x1 convolution):
     *   dst[j * dst_rs + i] = (bias ? bias[j] : 0) + sum_k w[k * w_ks + j * w_js]
     *                                                  * src[k * src_ks + i]
     * for j in [0, m), i in [0, n), k in [0, nk) summed in increasing k. */
    void (*gemm_rows)(float *restrict dst, int64_t dst_rs, const float *restrict src,
                      int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_js,
                      const float *restrict bias, int64_t m, int64_t nk, int64_t n);

    /* The rows of a transposed convolution with kernel == stride along w (convt3d.c): for
     * groups g < m, columns i < n and taps c < s,
     *   dst[g * dst_rs + i * s + c] = (bias ? bias[g] : 0)
     *       + sum_k w[k * w_ks + g * w_gs + c] * src[k * src_ks + i]
     * summed in increasing k: the s taps of one input column land side by side, so the
     * output row is written contiguously (s = 2 has fast paths, other s work everywhere). */
    void (*convt_rows)(float *restrict dst, int64_t dst_rs, const float *restrict src,
                       int64_t src_ks, const float *restrict w, int64_t w_ks, int64_t w_gs,
                       const float *restrict bias, int64_t m, int64_t nk, int64_t n, int s);

    /* One input row of a transposed convolution with kernel == stride == 2 along every axis
     * (convt3d.c, the narrow rows of the deep decoder levels): for output channels g < m,
     * input columns x < n and taps a, b, c < 2,
     *   dst[g * dst_cs + a * dst_ds + b * dst_hs + 2 x + c] = (bias ? bias[g] : 0)
     *       + sum_k w[k * w_ks + g * 8 + (a * 2 + b) * 2 + c] * src[k * src_ks + x]
     * summed in increasing k: PyTorch's weights [c_in][c_out][2][2][2] with w_ks = c_out * 8,
     * so the 8 taps of one channel are one contiguous vector. */
    void (*convt_s2)(float *restrict dst, int64_t dst_cs, int64_t dst_ds, int64_t dst_hs,
                     const float *restrict src, int64_t src_ks, const float *restrict w,
                     int64_t w_ks, const float *restrict bias, int64_t m, int64_t nk, int64_t n);

    /* The three taps along w of a width-3, stride-2 kernel with padding 1 over one input row
     * of width w (the stride-2 gathers of conv3d_im2col.c): for x < n,
     *   t0[x] = src[2 x - 1],  t1[x] = src[2 x],  t2[x] = src[2 x + 1],
     * where src[-1] and src[i] for i >= w read as 0 (the padding); reads src[0, w) only. */
    void (*im2col_s2)(float *restrict t0, float *restrict t1, float *restrict t2,
                      const float *restrict src, int64_t w, int64_t n);

    /* Output rows with their bias: dst[r * dst_rs + i] = src[r * src_rs + i] + bias[r] for
     * r < m, i < n (the last step of conv3d_im2col.c). With `stream` the destination may be
     * written around the caches (non-temporal stores, the same values): for outputs too
     * large to be read again from the caches, so their lines are not read before being
     * written. */
    void (*bias_rows)(float *restrict dst, int64_t dst_rs, const float *restrict src,
                      int64_t src_rs, const float *restrict bias, int64_t m, int64_t n,
                      int stream);

    /* Sum of x[0..n) accumulated in double. */
    double (*sum_f64)(const float *x, int64_t n);

    /* Sum of (x[i] - mean)^2 over [0, n), differences and accumulation in double. */
    double (*sumsq_dev_f64)(const float *x, int64_t n, double mean);

    /* Normalization apply, in place: y = ((x - m_hi) - m_lo) * scale + shift, then
     * LeakyReLU(slope) if `leaky`. The mean is split into m_hi = (float)mean and
     * m_lo = (float)(mean - m_hi) so that a large mean offset does not cost precision. */
    void (*norm_apply)(float *x, int64_t n, float m_hi, float m_lo, float scale, float shift,
                       int leaky, float slope);

    /* Winograd F(2x2x2, 3x3x3): input transform, transform-domain GEMM and output transform
     * (see nne_wino_in, nne_wino_gemm, nne_wino_out). */
    void (*wino_in)(const nne_wino_in *a);
    void (*wino_gemm)(const nne_wino_gemm *a);
    void (*wino_out)(const nne_wino_out *a);
    /* Winograd F(4x4x2, 3x3x3) input and output transforms (see NNE_WINO4_NPOS). */
    void (*wino4_in)(const nne_wino_in *a);
    void (*wino4_out)(const nne_wino_out *a);
    /* Winograd F(4x4x4, 3x3x3) input and output transforms (see NNE_WINO44_NPOS). */
    void (*wino44_in)(const nne_wino_in *a);
    void (*wino44_out)(const nne_wino_out *a);
    /* Peak-FLOP probe, not a network kernel: `iters` rounds of a register-resident loop of
     * independent multiply-add chains (as many as the ISA needs to hide the FMA latency on
     * every pipe), no memory traffic. The chains start from *sink (any finite value, e.g. 1;
     * unknown to the compiler, so the loop cannot be folded) and a value depending on every
     * chain is written back to *sink. Returns the FLOPs performed (2 per multiply-add and
     * lane). nnedge bench divides the network's GFLOP/s by what this reaches (src/profile.c). */
    double (*fma_peak)(int64_t iters, float *sink);

    /* IEEE binary16 rows (FP16 activation storage): dst[i] = src[i] for i < n, converted;
     * to binary16 rounds to nearest, ties to even, overflowing to +-inf, exactly as
     * nne_f32_to_f16 (src/half.h). The hardware conversions (F16C, NEON) round the same way. */
    void (*f16_to_f32)(float *restrict dst, const uint16_t *restrict src, int64_t n);
    void (*f32_to_f16)(uint16_t *restrict dst, const float *restrict src, int64_t n);
    /* dst[i] = src[i] for i < n (no overlap), for rows written back to a large tensor that is
     * not read again soon: the AVX2 variant uses streaming stores, which skip reading the
     * destination lines into the cache first (src/model.c's slab write-back). */
    void (*copy_f32)(float *restrict dst, const float *restrict src, int64_t n);
    /* ---- INT8 convolution (src/conv3d_q8.c; layouts at nne_q8_row) ---- */
    /* Activation quantization: dst[i] = clamp(rint(src[i] * inv_scale), -zp, 255 - zp) + zp
     * for i < n, the clamp applied in float before rounding (round half to even), so every
     * variant gives the same bytes; NaN maps to 0. */
    void (*q8_quantize)(uint8_t *restrict dst, const float *restrict src, int64_t n,
                        float inv_scale, int32_t zp);
    /* Two quantized rows as centred int16 pairs: dst[2 i] = a[i] - zp, dst[2 i + 1] =
     * b[i] - zp for i < n. */
    void (*q8_pairs)(int16_t *restrict dst, const uint8_t *restrict a, const uint8_t *restrict b,
                     int64_t n, int32_t zp);
    /* One output row of the INT8 direct convolution (see nne_q8_row). Exact: every variant
     * returns the same int32 values. */
    void (*q8_conv_row)(const struct nne_q8_row *a);
} nne_kernels;

/* Tables defined by the arch files (only those compiled for this target exist). */
extern const nne_kernels nne_kernels_ref;
#if defined(__x86_64__) && !defined(NNE_ISA_REF_ONLY)
extern const nne_kernels nne_kernels_avx2;
#endif
#if defined(__aarch64__) && !defined(NNE_ISA_REF_ONLY)
extern const nne_kernels nne_kernels_neon;
#endif

/* Chooses the kernel table: `isa` NULL or "auto" = $NNE_ISA if set, else the best the CPU
 * supports; otherwise "ref", "avx2" or "neon". Returns NNE_ERR_ARG for an unknown name or a
 * variant this CPU or build cannot run. */
nne_status nne_cpu_select(const char *isa, const nne_kernels **out);

/* Lists the tables this build and CPU can run (ref first), for tests iterating over every
 * variant. Returns the count (<= max). */
int nne_cpu_available(const nne_kernels **tables, int max);

/* A short description of the CPU ("AMD EPYC ... avx2 fma f16c"), static storage. */
const char *nne_cpu_describe(void);

#endif /* NNE_CPU_H */
