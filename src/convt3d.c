/*
 * convt3d.c - transposed 3-D convolution forward for the U-Net decoder's upsampling, with
 * kernel == stride and padding 0 (PyTorch ConvTranspose3d as nnU-Net builds it).
 *
 * With kernel == stride the taps never overlap: every output voxel receives exactly one tap
 * per input channel,
 *   out[oc][z*s0 + a][y*s1 + b][x*s2 + c] = bias[oc] + sum_ic in[ic][z][y][x] * w[ic][oc][a][b][c].
 * DESIGN. For one input row (z, y) and one tap (a, b) along d and h, the outputs it feeds
 * form a matrix product whose rows are output channels and whose columns interleave the s2
 * taps along w:
 *   out[oc][z*s0 + a][y*s1 + b][x*s2 + c] = bias[oc] + sum_ic W[ic][oc][a][b][c] * in[ic][z][y][x],
 * and PyTorch's weight layout [c_in][c_out][s0][s1][s2] already gives W with row stride
 * c_out*s0*s1*s2 and the s2 taps adjacent, so no packing is needed. The kernel table's
 * convt_rows computes such a product straight into the output rows (the taps of one input
 * column side by side, so stores are contiguous); for s2 == 1 it is a plain gemm_rows. For
 * 2x2x2 kernels (every upsampling of nnU-Net's 3-D U-Nets) convt_s2 computes all 8 taps of
 * a row at once instead, with the 8 taps of one channel as one weight vector. Work items are
 * (input row, block of CONVT_OCB output channels) with all (a, b) taps; the row's input
 * values are first copied into a small panel on the stack (see convt_task). Each output
 * element belongs to exactly one item and its sum runs over ic in order, so the result does
 * not depend on the thread count.
 * ref: torch.nn.ConvTranspose3d documentation (output size (in - 1) * stride + kernel).
 */
#include <string.h>

#include "common.h"
#include "ops.h"

#define CONVT_OCB 24 /* output channels per work item */
/* Kernels 2x2x2 go through convt_s2 (all 8 taps of a channel per weight vector, 1.1-3.5x
 * the rate of convt_rows on the decoder shapes) unless the output volume per channel
 * reaches CONVT_S2_MAX_OVOL floats: those outputs (67 and 268 MB at the two largest levels)
 * exceed the caches and go through convt_rows, whose long contiguous rows the AVX2 variant
 * writes with streaming stores (x86_avx2.c, CONVT_STREAM_RS). */
#ifndef CONVT_S2_MAX_OVOL
#define CONVT_S2_MAX_OVOL (256 << 10)
#endif
#ifndef CONVT_PANEL
#define CONVT_PANEL 4096 /* floats of the per-call input panel on the stack (16 KiB) */
#endif

typedef struct convt_job {
    const nne_kernels *kt;
    float *dst;        /* [c_out][in d*s0][in h*s1][in w*s2]  */
    const float *src;  /* [c_in][in d][in h][in w]            */
    int64_t dst_cs, src_cs; /* channel strides (floats)       */
    const float *w;    /* [c_in][c_out][s0][s1][s2]           */
    const float *bias; /* [c_out] or NULL                     */
    int64_t c_in, c_out;
    int64_t in[3];
    int s[3];
} convt_job;

static void convt_task(void *arg, int ith, int nth) {
    const convt_job *j = arg;
    const int64_t taps = (int64_t)j->s[0] * j->s[1] * j->s[2];
    const int64_t n_ob = (j->c_out + CONVT_OCB - 1) / CONVT_OCB;
    const int64_t ivol = j->src_cs, ocs = j->dst_cs;
    const int64_t oh = j->in[1] * j->s[1], ow = j->in[2] * j->s[2];
    const int64_t ovol = j->in[0] * j->s[0] * oh * ow;
    /* Columns per panel: the columns [x0, x0 + nx) of the input row of every input channel
     * are copied side by side ([c_in][nx]), so the microkernel's source rows are adjacent
     * instead of a volume apart (which maps them all to the same cache sets). Rows with more
     * input channels than the panel holds columns for are read in place. */
    const int64_t ncol = NNE_MIN(j->in[2], (int64_t)CONVT_PANEL / j->c_in);
    const int use_s2 =
        j->s[0] == 2 && j->s[1] == 2 && j->s[2] == 2 && ovol < (int64_t)CONVT_S2_MAX_OVOL;
    float panel[CONVT_PANEL]; /* [c_in][nx] */
    int64_t lo, hi;
    nne_chunk_range(j->in[0] * j->in[1] * n_ob, ith, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t row = it / n_ob, oc0 = it % n_ob * CONVT_OCB;
        const int64_t z = row / j->in[1], y = row % j->in[1];
        const int64_t mb = NNE_MIN(j->c_out - oc0, (int64_t)CONVT_OCB);
        const float *srow = j->src + (z * j->in[1] + y) * j->in[2];
        const float *bias = j->bias ? j->bias + oc0 : NULL;
        for (int64_t x0 = 0; x0 < j->in[2];) {
            const float *sp = srow + x0;
            int64_t sp_ks = ivol, nx = j->in[2] - x0;
            if (ncol > 0) {
                nx = NNE_MIN(ncol, nx);
                for (int64_t ic = 0; ic < j->c_in; ic++)
                    memcpy(panel + ic * nx, srow + ic * ivol + x0, (size_t)nx * sizeof(float));
                sp = panel;
                sp_ks = nx;
            }
            if (use_s2) {
                j->kt->convt_s2(j->dst + oc0 * ocs + 2 * z * oh * ow + 2 * y * ow + 2 * x0, ocs,
                                oh * ow, ow, sp, sp_ks, j->w + oc0 * taps, j->c_out * taps, bias,
                                mb, j->c_in, nx);
                x0 += nx;
                continue;
            }
            for (int a = 0; a < j->s[0]; a++) {
                for (int b = 0; b < j->s[1]; b++) {
                    float *d = j->dst + oc0 * ocs + (z * j->s[0] + a) * oh * ow +
                               (y * j->s[1] + b) * ow + x0 * j->s[2];
                    const float *w = j->w + oc0 * taps + (a * j->s[1] + b) * j->s[2];
                    if (j->s[2] == 1)
                        j->kt->gemm_rows(d, ocs, sp, sp_ks, w, j->c_out * taps, taps, bias, mb,
                                         j->c_in, nx);
                    else
                        j->kt->convt_rows(d, ocs, sp, sp_ks, w, j->c_out * taps, taps, bias,
                                          mb, j->c_in, nx, j->s[2]);
                }
            }
            x0 += nx;
        }
    }
}

void nne_convt3d_fwd_cs(nne_pool *pool, const nne_kernels *kt, float *dst, int64_t dst_cs,
                        const float *src, int64_t src_cs, const float *w, const float *bias,
                        int64_t c_in, int64_t c_out, const int64_t in[3], const int stride[3]) {
    NNE_ASSERT(kt && dst && src && w && c_in > 0 && c_out > 0);
    convt_job j = {.kt = kt, .dst = dst, .src = src, .dst_cs = dst_cs, .src_cs = src_cs,
                   .w = w, .bias = bias, .c_in = c_in, .c_out = c_out};
    for (int i = 0; i < 3; i++) {
        NNE_ASSERT(in[i] > 0 && stride[i] > 0);
        j.in[i] = in[i];
        j.s[i] = stride[i];
    }
    NNE_ASSERT(src_cs >= in[0] * in[1] * in[2]);
    NNE_ASSERT(dst_cs >= in[0] * stride[0] * in[1] * stride[1] * in[2] * stride[2]);
    nne_pool_run(pool, convt_task, &j);
}

void nne_convt3d_fwd(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                     const float *w, const float *bias, int64_t c_in, int64_t c_out,
                     const int64_t in[3], const int stride[3]) {
    NNE_ASSERT(in && stride);
    const int64_t ivol = in[0] * in[1] * in[2];
    const int64_t ovol = ivol * stride[0] * stride[1] * stride[2];
    nne_convt3d_fwd_cs(pool, kt, dst, ovol, src, ivol, w, bias, c_in, c_out, in, stride);
}
