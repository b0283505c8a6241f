/*
 * conv3d.c - 3-D convolution forward with PyTorch Conv3d semantics (cross-correlation, zero
 * padding k/2 per axis, dilation 1, optional bias), NCDHW with N = 1, float32.
 *
 * DESIGN. Weights are prepared once per layer (nne_conv3d_prep, at model load) for one of
 * three algorithms: Winograd F(2x2x2, 3x3x3) for the stride-1 3x3x3 layers where it wins
 * (src/conv3d_wino.c), a plain matrix product for 1x1x1 stride 1, and direct convolution for
 * the rest. nne_conv3d_fwd is the one-shot direct path (packing into its workspace first)
 * that tests and benchmarks use without a model.
 * Direct convolution, no im2col buffer. The weights [c_out][c_in][kd][kh][kw] are packed as
 * blocks of NNE_CONV_OCB output channels, [c_out / OCB][c_in][kd][kh][kw][OCB] (the last block
 * zero padded), so that one tap of a whole block is one vector; the bias is padded the same
 * way. The output is then partitioned into
 * work items (output plane z, group of channel blocks); a thread owns whole items and never
 * shares an output element with another thread. A group holds as many channel blocks as keep
 * their packed weights within CONV_WGROUP_BYTES (cache blocking). For every output row of an
 * item, and every block of CONV_ICB input channels, the input rows the row needs are copied
 * into the thread's zero-padded row buffer (part of the workspace); the kernel table's
 * conv3d_row microkernel then computes the row for each channel block of the group without
 * meeting any w padding. Padding along d and h is resolved by clipping the tap range per row.
 * Input-channel blocks after the first continue from the partial sums stored in dst (a float
 * round trip is exact), so the summation order of an output element is always bias, then
 * (ic, kd, kh, kw) ascending: the result is bitwise identical for every thread count.
 * 1x1x1 stride-1 convolutions (the segmentation heads) are a plain matrix product and go
 * through gemm_rows over fixed voxel chunks instead (no workspace used).
 * ref: torch.nn.Conv3d documentation (output size formula); spec/nnunet-v2.md section 8.1.
 */
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "ops.h"

#ifndef CONV_ICB
#define CONV_ICB 32 /* input channels per microkernel call (cache blocking) */
#endif
#define PAD_TILE 12 /* widest register tile of any conv3d_row variant (columns) */
#ifndef CONV_WGROUP_BYTES
#define CONV_WGROUP_BYTES (4 << 20) /* packed weight bytes per work item, at most */
#endif
#define GEMM_VOX_CHUNK 512 /* voxels per work item of the 1x1x1 path (fixed: determinism) */

void nne_conv3d_desc_init(nne_conv3d_desc *d, int64_t c_in, int64_t c_out, const int64_t in[3],
                          const int k[3], const int stride[3]) {
    NNE_ASSERT(c_in > 0 && c_out > 0);
    memset(d, 0, sizeof *d);
    d->c_in = c_in;
    d->c_out = c_out;
    for (int i = 0; i < 3; i++) {
        NNE_ASSERT(in[i] > 0 && k[i] > 0 && stride[i] > 0);
        d->in[i] = in[i];
        d->k[i] = k[i];
        d->stride[i] = stride[i];
        d->pad[i] = k[i] / 2;
        d->out[i] = (in[i] + 2 * d->pad[i] - k[i]) / stride[i] + 1;
    }
}

static int64_t n_oc_blocks(const nne_conv3d_desc *d) {
    return (d->c_out + NNE_CONV_OCB - 1) / NNE_CONV_OCB;
}

/* Floats of the packed weights (without the bias). */
static int64_t packed_floats(const nne_conv3d_desc *d) {
    return n_oc_blocks(d) * NNE_CONV_OCB * d->c_in * d->k[0] * d->k[1] * d->k[2];
}

/* Width of a zero-padded input row in the row buffer: pad on the left, and on the right
 * enough for register tiles (up to PAD_TILE columns) that run past the last output column. */
static int64_t padded_width(const nne_conv3d_desc *d) {
    return (d->out[2] + PAD_TILE) * d->stride[2] + d->k[2];
}

/* Floats of one thread's row buffer [CONV_ICB][kd][kh][padded_width]. */
static int64_t rowbuf_floats(const nne_conv3d_desc *d) {
    return (int64_t)NNE_MIN(d->c_in, (int64_t)CONV_ICB) * d->k[0] * d->k[1] * padded_width(d);
}

static int is_pointwise(const nne_conv3d_desc *d) {
    return d->k[0] == 1 && d->k[1] == 1 && d->k[2] == 1 && d->stride[0] == 1 &&
           d->stride[1] == 1 && d->stride[2] == 1;
}

/* Where Winograd replaces the direct kernels by default: outputs at least 8 wide (a tile
 * group covers 16 columns; at 4 columns three quarters of its lanes would idle and the direct
 * kernels are as fast) and at least 16^3 voxels, so that each transformed weight (2.4x the
 * bytes of a packed one) serves enough work: the 8^3 and 4^3 levels of the reference network
 * (most of its weights, under 2 % of its work) keep weights of the packed size. The default
 * Winograd variant is F(2x2x2): F(4x4x2) is faster still (bench_kernels) but rounds about 4x
 * worse and needs 2.25x its weight memory, so it is opt-in (wino == 3), as is F(4x4x4)
 * (wino == 4; src/model.c picks both for the thin top levels). The 2-channel first
 * layer has too few input channels to amortize the transforms. The other 3x3x3
 * layers at least 8 wide with stride 1 or 2 along w (the strided layers, the small levels) go
 * through im2col + the packed GEMM, 1.1-1.6x faster than the direct row kernels there; rows
 * of 4 stay direct. Measured on the development machine with bench_kernels and nnedge
 * bench. */
#ifndef WINO_MIN_WOUT
#define WINO_MIN_WOUT 8
#endif
#ifndef WINO_MIN_VOXELS
#define WINO_MIN_VOXELS 4096
#endif
#ifndef WINO_MIN_CIN
#define WINO_MIN_CIN 8 /* below, the per-channel transforms cost as much as they save */
#endif

nne_conv3d_algo nne_conv3d_algo_pick(const nne_conv3d_desc *d, int wino) {
    if (is_pointwise(d)) return NNE_CONV3D_GEMM;
    if (wino == 0) return NNE_CONV3D_DIRECT;
    const int k3 = d->k[0] == 3 && d->k[1] == 3 && d->k[2] == 3;
    const int s1 = d->stride[0] == 1 && d->stride[1] == 1 && d->stride[2] == 1;
    const int64_t vox = d->out[0] * d->out[1] * d->out[2];
    if (k3 && s1 && wino == 2) return NNE_CONV3D_WINO;
    if (k3 && s1 && wino == 3) return NNE_CONV3D_WINO4;
    if (k3 && s1 && wino == 4) return NNE_CONV3D_WINO44;
    if (k3 && s1 && d->out[2] >= WINO_MIN_WOUT && vox >= WINO_MIN_VOXELS &&
        d->c_in >= WINO_MIN_CIN)
        return NNE_CONV3D_WINO;
    if (k3 && d->out[2] >= WINO_MIN_WOUT && (d->stride[2] == 1 || d->stride[2] == 2))
        return NNE_CONV3D_IM2COL;
    return NNE_CONV3D_DIRECT;
}

/* Bytes of the direct algorithm's packed weights and padded bias. */
static size_t direct_prep_bytes(const nne_conv3d_desc *d) {
    return nne_align_up((size_t)packed_floats(d) * sizeof(float)) +
           nne_align_up((size_t)(n_oc_blocks(d) * NNE_CONV_OCB) * sizeof(float));
}

static size_t direct_ws_bytes(const nne_conv3d_desc *d, int nth) {
    return (size_t)nth * nne_align_up((size_t)rowbuf_floats(d) * sizeof(float));
}

size_t nne_conv3d_prep_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo) {
    switch (algo) {
    case NNE_CONV3D_DIRECT: return direct_prep_bytes(d);
    case NNE_CONV3D_WINO:
    case NNE_CONV3D_WINO4:
    case NNE_CONV3D_WINO44: return nne_conv3d_wino_prep_bytes(d, algo);
    case NNE_CONV3D_IM2COL: return nne_conv3d_im2col_prep_bytes(d);
    case NNE_CONV3D_GEMM: break;
    }
    return 0;
}

size_t nne_conv3d_run_ws_bytes(const nne_conv3d_desc *d, nne_conv3d_algo algo, int nth) {
    NNE_ASSERT(nth >= 1);
    switch (algo) {
    case NNE_CONV3D_DIRECT: return direct_ws_bytes(d, nth);
    case NNE_CONV3D_WINO:
    case NNE_CONV3D_WINO4:
    case NNE_CONV3D_WINO44: return nne_conv3d_wino_ws_bytes(d, algo, nth);
    case NNE_CONV3D_IM2COL: return nne_conv3d_im2col_ws_bytes(d, nth);
    case NNE_CONV3D_GEMM: break;
    }
    return 0;
}

size_t nne_conv3d_ws_bytes(const nne_conv3d_desc *d, int nth) {
    NNE_ASSERT(nth >= 1);
    return direct_prep_bytes(d) + direct_ws_bytes(d, nth);
}

/* Everything the work functions need; lives on the caller's stack for one call. */
typedef struct conv_job {
    const nne_kernels *kt;
    const nne_conv3d_desc *d;
    float *dst;        /* [c_out][out d][out h][out w]                */
    const float *src;  /* [c_in][in d][in h][in w]                    */
    const float *w;    /* GEMM: [c_out][c_in]                         */
    const float *bias; /* GEMM: [c_out] or NULL                       */
    const float *wp;   /* packed [n_ocb][c_in][kd][kh][kw][OCB]       */
    const float *bp;   /* packed [n_ocb * OCB]                        */
    char *rowbufs;     /* per thread [CONV_ICB][kd][kh][padded width] */
    size_t rowbuf_bytes;
} conv_job;

/* Weight packing: PyTorch layout in, direct-kernel blocks out. */
typedef struct pack_job {
    const nne_conv3d_desc *d;
    const float *w;    /* [c_out][c_in][kd][kh][kw] (PyTorch layout)  */
    const float *bias; /* [c_out] or NULL                             */
    float *wp;         /* packed [n_ocb][c_in][kd][kh][kw][OCB]       */
    float *bp;         /* packed [n_ocb * OCB]                        */
} pack_job;

/* Packs the weight blocks [lo, hi) of this thread's share; zero-fills the channel tail. */
static void conv_pack_task(void *arg, int ith, int nth) {
    const pack_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const int64_t kvol = (int64_t)d->k[0] * d->k[1] * d->k[2];
    int64_t lo, hi;
    nne_chunk_range(n_oc_blocks(d), ith, nth, &lo, &hi);
    for (int64_t b = lo; b < hi; b++) {
        float *blk = j->wp + b * d->c_in * kvol * NNE_CONV_OCB; /* [c_in][kvol][OCB] */
        for (int o = 0; o < NNE_CONV_OCB; o++) {
            const int64_t oc = b * NNE_CONV_OCB + o;
            j->bp[oc] = (oc < d->c_out && j->bias) ? j->bias[oc] : 0.0f;
            for (int64_t ic = 0; ic < d->c_in; ic++) {
                const float *ws = j->w + (oc * d->c_in + ic) * kvol;
                float *wd = blk + ic * kvol * NNE_CONV_OCB + o;
                for (int64_t t = 0; t < kvol; t++)
                    wd[t * NNE_CONV_OCB] = oc < d->c_out ? ws[t] : 0.0f;
            }
        }
    }
}

/* Clips the taps of output index `o` along one axis to the input: first valid tap and count. */
static void clip_taps(int64_t o, int stride, int pad, int k, int64_t in, int *t0, int *nt) {
    const int64_t i0 = o * stride - pad; /* input index of tap 0 */
    int64_t lo = i0 < 0 ? -i0 : 0;
    int64_t hi = in - i0 < k ? in - i0 : k;
    if (hi < lo) hi = lo;
    *t0 = (int)lo;
    *nt = (int)(hi - lo);
}

/* Output channel blocks per work item: the input rows copied for one output row serve every
 * block of the group, so larger groups copy less; but the group's packed weights are
 * streamed once per register tile, so they must stay within the outer caches
 * (CONV_WGROUP_BYTES, tuned on Zen 3). Groups are balanced: sizes differ by at most one. */
static int64_t oc_blocks_per_group(const nne_conv3d_desc *d) {
    const int64_t blk =
        d->c_in * d->k[0] * d->k[1] * d->k[2] * NNE_CONV_OCB * (int64_t)sizeof(float);
    const int64_t max_per = NNE_MAX(1, (int64_t)CONV_WGROUP_BYTES / blk);
    const int64_t n_grp = (n_oc_blocks(d) + max_per - 1) / max_per;
    return (n_oc_blocks(d) + n_grp - 1) / n_grp;
}

/* Copies the input rows one output row needs for channels [ic0, ic0 + nc) into the thread's
 * row buffer, each at its fixed place [ic][kd][kh] (only the nkd x nkh valid taps), behind pw
 * zeros. The zero columns around each row were written once and are never overwritten. */
static void fill_rowbuf(float *buf, const conv_job *j, int64_t ic0, int64_t nc, int64_t zi, int kd0,
                        int nkd, int64_t yi, int kh0, int nkh) {
    const nne_conv3d_desc *d = j->d;
    const int64_t wp = padded_width(d), ivol = d->in[0] * d->in[1] * d->in[2];
    for (int64_t ic = 0; ic < nc; ic++) {
        for (int kd = 0; kd < nkd; kd++) {
            for (int kh = 0; kh < nkh; kh++) {
                const float *s =
                    j->src + (ic0 + ic) * ivol + ((zi + kd) * d->in[1] + yi + kh) * d->in[2];
                float *r = buf + ((ic * d->k[0] + kd0 + kd) * d->k[1] + kh0 + kh) * wp + d->pad[2];
                memcpy(r, s, (size_t)d->in[2] * sizeof(float));
            }
        }
    }
}

/* Work items are (output plane z, group of channel blocks g), item = z * n_grp + g. For each
 * output row and block of CONV_ICB input channels the needed input rows are first copied into
 * a zero-padded row buffer (a few percent of the work), so that the microkernel never meets
 * the w padding and runs its unchecked register tiles everywhere. */
static void conv_row_task(void *arg, int ith, int nth) {
    const conv_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const int64_t n_ocb = n_oc_blocks(d);
    const int64_t per_grp = oc_blocks_per_group(d);
    const int64_t n_grp = (n_ocb + per_grp - 1) / per_grp;
    const int64_t ovol = d->out[0] * d->out[1] * d->out[2];
    const int64_t ohw = d->out[1] * d->out[2];
    const int64_t kvol = (int64_t)d->k[0] * d->k[1] * d->k[2];
    const int64_t wp = padded_width(d);
    float *buf = (float *)(j->rowbufs + (size_t)ith * j->rowbuf_bytes);
    int64_t lo, hi;
    nne_chunk_range(d->out[0] * n_grp, ith, nth, &lo, &hi);
    if (lo < hi) memset(buf, 0, (size_t)rowbuf_floats(d) * sizeof(float));

    nne_conv3d_row r;
    r.dst_cs = ovol;
    r.src_hs = wp; /* the row buffer: [ic][kd][kh][wp], column 0 = input column -pw */
    r.src_ds = d->k[1] * wp;
    r.src_cs = d->k[0] * d->k[1] * wp;
    r.win = wp;
    r.pw = 0;
    r.w_cs = kvol * NNE_CONV_OCB;
    r.w_ds = (int64_t)d->k[1] * d->k[2] * NNE_CONV_OCB;
    r.w_hs = (int64_t)d->k[2] * NNE_CONV_OCB;
    r.kw = d->k[2];
    r.sw = d->stride[2];
    r.wout = d->out[2];
    for (int64_t it = lo; it < hi; it++) {
        const int64_t z = it / n_grp, g = it % n_grp;
        const int64_t b_end = NNE_MIN(n_ocb, (g + 1) * per_grp);
        int kd0, nkd;
        clip_taps(z, d->stride[0], d->pad[0], d->k[0], d->in[0], &kd0, &nkd);
        const int64_t zi = z * d->stride[0] - d->pad[0] + kd0; /* first valid input plane */
        r.nkd = nkd;
        for (int64_t y = 0; y < d->out[1]; y++) {
            int kh0, nkh;
            clip_taps(y, d->stride[1], d->pad[1], d->k[1], d->in[1], &kh0, &nkh);
            const int64_t yi = y * d->stride[1] - d->pad[1] + kh0;
            r.nkh = nkh;
            r.src = buf + kd0 * r.src_ds + kh0 * r.src_hs;
            /* Input channels in blocks: the partial sums pass through dst as floats, which
             * is exact, so the result equals one pass over all channels in order. */
            for (int64_t ic0 = 0; ic0 < d->c_in; ic0 += CONV_ICB) {
                r.c_in = NNE_MIN(d->c_in - ic0, (int64_t)CONV_ICB);
                r.accumulate = ic0 > 0;
                fill_rowbuf(buf, j, ic0, r.c_in, zi, kd0, nkd, yi, kh0, nkh);
                for (int64_t b = g * per_grp; b < b_end; b++) {
                    const int64_t oc0 = b * NNE_CONV_OCB;
                    r.noc = (int)NNE_MIN(d->c_out - oc0, (int64_t)NNE_CONV_OCB);
                    r.bias = j->bp + oc0;
                    r.dst = j->dst + oc0 * ovol + z * ohw + y * d->out[2];
                    r.w = j->wp + (b * d->c_in + ic0) * kvol * NNE_CONV_OCB + kd0 * r.w_ds +
                          kh0 * r.w_hs;
                    j->kt->conv3d_row(&r);
                }
            }
        }
    }
}

/* 1x1x1, stride 1: dst[oc][v] = bias[oc] + sum_ic w[oc][ic] src[ic][v], fixed voxel chunks. */
static void conv_1x1_task(void *arg, int ith, int nth) {
    const conv_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const int64_t vol = d->in[0] * d->in[1] * d->in[2];
    const int64_t n_chunks = (vol + GEMM_VOX_CHUNK - 1) / GEMM_VOX_CHUNK;
    int64_t lo, hi;
    nne_chunk_range(n_chunks, ith, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        const int64_t v0 = c * GEMM_VOX_CHUNK;
        const int64_t n = NNE_MIN(vol - v0, (int64_t)GEMM_VOX_CHUNK);
        j->kt->gemm_rows(j->dst + v0, vol, j->src + v0, vol, j->w, 1, d->c_in, j->bias, d->c_out,
                         d->c_in, n);
    }
}

void nne_conv3d_prep(nne_pool *pool, nne_conv3d_w *out, const nne_conv3d_desc *d,
                     nne_conv3d_algo algo, const float *w, const float *bias, void *mem) {
    NNE_ASSERT(out && d && w);
    memset(out, 0, sizeof *out);
    out->algo = algo;
    out->c_in = d->c_in;
    out->c_out = d->c_out;
    memcpy(out->k, d->k, sizeof out->k);
    memcpy(out->stride, d->stride, sizeof out->stride);
    if (algo == NNE_CONV3D_GEMM) {
        NNE_ASSERT(is_pointwise(d));
        out->w = w;
        out->bias = bias;
        return;
    }
    NNE_ASSERT(mem);
    float *wp = mem;
    if (algo == NNE_CONV3D_WINO || algo == NNE_CONV3D_WINO4 || algo == NNE_CONV3D_WINO44) {
        float *bp = NULL;
        nne_conv3d_wino_prep(pool, mem, d, algo, w, bias, &wp, &bp);
        out->packed = wp;
        out->bias = bp;
        return;
    }
    if (algo == NNE_CONV3D_IM2COL) {
        float *bp = NULL;
        nne_conv3d_im2col_prep(mem, d, w, bias, &wp, &bp);
        out->packed = wp;
        out->bias = bp;
        return;
    }
    pack_job j = {.d = d, .w = w, .bias = bias, .wp = wp};
    j.bp = (float *)((char *)mem + nne_align_up((size_t)packed_floats(d) * sizeof(float)));
    nne_pool_run(pool, conv_pack_task, &j);
    out->packed = j.wp;
    out->bias = j.bp;
}

void nne_conv3d_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                    const nne_conv3d_w *pw, const nne_conv3d_desc *d, void *ws) {
    NNE_ASSERT(kt && dst && src && pw && d);
    NNE_ASSERT(pw->c_in == d->c_in && pw->c_out == d->c_out);
    for (int i = 0; i < 3; i++) {
        NNE_ASSERT(d->k[i] % 2 == 1 && d->pad[i] == d->k[i] / 2);
        NNE_ASSERT(pw->k[i] == d->k[i] && pw->stride[i] == d->stride[i]);
    }
    if (pw->algo == NNE_CONV3D_WINO || pw->algo == NNE_CONV3D_WINO4 ||
        pw->algo == NNE_CONV3D_WINO44) {
        NNE_ASSERT(ws);
        nne_conv3d_wino_run(pool, kt, dst, src, pw->packed, pw->bias, d, pw->algo, ws);
        return;
    }
    if (pw->algo == NNE_CONV3D_IM2COL) {
        NNE_ASSERT(ws);
        nne_conv3d_im2col_run(pool, kt, dst, src, pw->packed, pw->bias, d, ws);
        return;
    }
    conv_job j = {.kt = kt, .d = d, .dst = dst, .src = src, .w = pw->w, .bias = pw->bias};
    if (pw->algo == NNE_CONV3D_GEMM) {
        nne_pool_run(pool, conv_1x1_task, &j);
        return;
    }
    NNE_ASSERT(ws);
    j.wp = pw->packed;
    j.bp = pw->bias;
    j.rowbufs = ws;
    j.rowbuf_bytes = nne_align_up((size_t)rowbuf_floats(d) * sizeof(float));
    nne_pool_run(pool, conv_row_task, &j);
}

void nne_conv3d_fwd(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                    const float *w, const float *bias, const nne_conv3d_desc *d, void *ws) {
    NNE_ASSERT(kt && dst && src && w && d);
    nne_conv3d_w pw;
    if (is_pointwise(d)) {
        nne_conv3d_prep(pool, &pw, d, NNE_CONV3D_GEMM, w, bias, NULL);
        nne_conv3d_run(pool, kt, dst, src, &pw, d, NULL);
        return;
    }
    NNE_ASSERT(ws);
    nne_conv3d_prep(pool, &pw, d, NNE_CONV3D_DIRECT, w, bias, ws);
    nne_conv3d_run(pool, kt, dst, src, &pw, d, (char *)ws + direct_prep_bytes(d));
}
