/*
 * conv3d_im2col.c - 3-D convolution (PyTorch Conv3d semantics, padding k/2) as a matrix
 * product of packed weights and gathered input rows, NCDHW with N = 1, float32; used for the
 * strided 3x3x3 layers, where Winograd does not apply and the direct row kernels run at about
 * half the FMA peak.
 *
 * DESIGN. With K = c_in * kd * kh * kw, the output rows of one block are
 *   Y[oc][col] = bias[oc] + sum_k W[oc][k] * X[k][col]
 * where column col = r * wp + x is output column x of the block's r-th output row (wp: the
 * output width rounded up to 8) and X[k][col] is the input voxel tap k of that output reads
 * (zero in the padding). The weights are packed once (nne_conv3d_im2col_prep) into
 * u[oc / OCR][k][oc % OCR], the layout of the Winograd GEMM, so the kernel table's
 * wino_gemm (one position) computes the product with its register-blocked micro-kernel.
 * A work item is one output plane z and a block of `rows` output rows, chosen so a block has
 * about 64 columns (the weights are streamed once per block: 32 FLOPs per weight byte). Per
 * item the thread gathers X (K x nt floats, its own workspace), multiplies, and copies the
 * result rows to the output with the bias. Each output element is computed by one thread
 * with the sum over k in order, so results do not depend on the thread count.
 * Gathering costs one copy per (k, column) against c_out multiply-adds: a few percent for
 * the 64..320 output channels of the strided layers.
 * ref: the im2col formulation of K. Chellapilla et al., "High Performance Convolutional
 *      Neural Networks for Document Processing" (2006); torch.nn.Conv3d (output size).
 */
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "ops.h"

#define IM2COL_COLS 64 /* columns per block the row count aims at */
/* Outputs of at least this many bytes (the 128^3 and 64^3 levels: 268 and 67 MB) are larger
 * than the last-level cache, so the next layer reads them from memory anyway: they are written
 * with streaming stores from Y rather than summed in place, which would read every output
 * line from memory before writing it. */
#ifndef IM2COL_STREAM_BYTES
#define IM2COL_STREAM_BYTES (48 << 20)
#endif
#ifndef IM2COL_PANEL_BYTES
#define IM2COL_PANEL_BYTES (48 << 10) /* X panel per input-channel chunk (L1 to L2 sized) */
#endif

/* The block geometry of one convolution. */
typedef struct im2col_plan {
    int64_t kdim;   /* K = c_in * kd * kh * kw                 */
    int64_t kvol;   /* kd * kh * kw                            */
    int64_t icc;    /* input channels per chunk (X panel)      */
    int64_t wp;     /* output width rounded up to 8            */
    int64_t rows;   /* output rows per block                   */
    int64_t nt;     /* columns of a block: rows * wp           */
    int64_t n_rb;   /* row blocks per output plane             */
    int64_t n_ocr;  /* output channel blocks of NNE_WINO_OCR   */
    size_t x_bytes; /* per thread: X [icc * kvol][nt]          */
    size_t y_bytes; /* per thread: Y [n_ocr * OCR][nt]         */
} im2col_plan;

static void plan_init(im2col_plan *p, const nne_conv3d_desc *d) {
    p->kvol = (int64_t)d->k[0] * d->k[1] * d->k[2];
    p->kdim = d->c_in * p->kvol;
    p->wp = (d->out[2] + NNE_WINO_GT - 1) / NNE_WINO_GT * NNE_WINO_GT;
    p->rows = NNE_MAX((int64_t)1, NNE_MIN(d->out[1], (int64_t)IM2COL_COLS / p->wp));
    p->nt = p->rows * p->wp;
    p->n_rb = (d->out[1] + p->rows - 1) / p->rows;
    p->n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    const int64_t per_ic = p->kvol * p->nt * (int64_t)sizeof(float);
    p->icc = NNE_MIN(d->c_in, NNE_MAX((int64_t)1, (int64_t)IM2COL_PANEL_BYTES / per_ic));
    p->x_bytes = nne_align_up((size_t)(p->icc * p->kvol * p->nt) * sizeof(float));
    p->y_bytes = nne_align_up((size_t)(p->n_ocr * NNE_WINO_OCR * p->nt) * sizeof(float));
}

static size_t u_bytes(const nne_conv3d_desc *d) {
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    const int64_t kdim = d->c_in * d->k[0] * d->k[1] * d->k[2];
    return nne_align_up((size_t)(n_ocr * NNE_WINO_OCR * kdim) * sizeof(float));
}

size_t nne_conv3d_im2col_prep_bytes(const nne_conv3d_desc *d) {
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    return u_bytes(d) + nne_align_up((size_t)(n_ocr * NNE_WINO_OCR) * sizeof(float));
}

size_t nne_conv3d_im2col_ws_bytes(const nne_conv3d_desc *d, int nth) {
    NNE_ASSERT(nth >= 1);
    im2col_plan p;
    plan_init(&p, d);
    return (size_t)nth * (p.x_bytes + p.y_bytes);
}

void nne_conv3d_im2col_prep(void *mem, const nne_conv3d_desc *d, const float *w,
                            const float *bias, float **u, float **bias_p) {
    NNE_ASSERT(mem && d && w && u && bias_p);
    const int64_t n_ocr = (d->c_out + NNE_WINO_OCR - 1) / NNE_WINO_OCR;
    const int64_t kdim = d->c_in * d->k[0] * d->k[1] * d->k[2];
    float *up = mem;                                     /* [n_ocr][K][OCR]  */
    float *bp = (float *)((char *)mem + u_bytes(d));     /* [n_ocr * OCR]    */
    for (int64_t oc = 0; oc < n_ocr * NNE_WINO_OCR; oc++) {
        const int64_t b = oc / NNE_WINO_OCR, r = oc % NNE_WINO_OCR;
        bp[oc] = (oc < d->c_out && bias) ? bias[oc] : 0.0f;
        for (int64_t k = 0; k < kdim; k++) /* PyTorch's [oc][ic][kd][kh][kw] is [oc][k] */
            up[(b * kdim + k) * NNE_WINO_OCR + r] = oc < d->c_out ? w[oc * kdim + k] : 0.0f;
    }
    *u = up;
    *bias_p = bp;
}

typedef struct im2col_job {
    const nne_kernels *kt;
    const nne_conv3d_desc *d;
    const im2col_plan *p;
    float *dst;        /* [c_out][out d][out h][out w]   */
    const float *src;  /* [c_in][in d][in h][in w]       */
    const float *u;    /* [n_ocr][K][OCR]                */
    const float *bias; /* [n_ocr * OCR]                  */
    char *ws;          /* per thread: X, then Y          */
    int stream;        /* output larger than the caches  */
} im2col_job;

/* Output columns [*lo, *hi) whose tap kw lies inside the input row (the others read 0). */
static void valid_cols(const nne_conv3d_desc *d, int kw, int64_t *lo, int64_t *hi) {
    const int64_t s = d->stride[2], off = kw - d->pad[2]; /* input column = x * s + off */
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = d->in[2] - off <= 0 ? 0 : (d->in[2] - off + s - 1) / s;
    if (b > d->out[2]) b = d->out[2];
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* The three kw taps of one output row of a width-3 stride-2 kernel (padding 1), X rows
 * o0, o1, o2 = o0 + nt, o0 + 2 nt, from the input row s: tap 1 reads the even columns 2 x,
 * tap 2 the odd columns 2 x + 1, tap 0 the odd columns shifted by one output (2 x - 1), all
 * in one pass (im2col_s2). Columns past the output width are zero. */
static void s2_taps(const im2col_job *j, float *o0, int64_t nt, const float *s) {
    const nne_conv3d_desc *d = j->d;
    const int64_t wo = d->out[2], wp = j->p->wp;
    float *o1 = o0 + nt, *o2 = o1 + nt;
    j->kt->im2col_s2(o0, o1, o2, s, d->in[2], wo);
    for (int64_t x = wo; x < wp; x++) o0[x] = o1[x] = o2[x] = 0.0f;
}

/* Gathers the X panel of input channels [ic0, ic0 + nc) for output plane z and rows
 * y0 .. y0 + nr - 1: row k = (((ic - ic0) * kd + a) * kh + b) * kw + c, column r * wp + x.
 * Columns past the output width are zero (computed, never stored). */
static void gather(float *x, const im2col_job *j, int64_t z, int64_t y0, int64_t nr, int64_t ic0,
                   int64_t nc) {
    const nne_conv3d_desc *d = j->d;
    const im2col_plan *p = j->p;
    const int64_t ivol = d->in[0] * d->in[1] * d->in[2], sw = d->stride[2];
    int64_t lo[16], hi[16]; /* per kw (kernels up to 15 wide) */
    NNE_ASSERT(d->k[2] <= 16);
    for (int c = 0; c < d->k[2]; c++) valid_cols(d, c, &lo[c], &hi[c]);
    const int fast_s2 = d->k[2] == 3 && d->stride[2] == 2 && d->pad[2] == 1;
    int64_t k = 0;
    for (int64_t ic = ic0; ic < ic0 + nc; ic++) {
        for (int a = 0; a < d->k[0]; a++) {
            const int64_t zi = z * d->stride[0] - d->pad[0] + a;
            for (int b = 0; b < d->k[1]; b++) {
                for (int c = 0; c < d->k[2]; c++, k++) {
                    float *xr = x + k * p->nt;
                    for (int64_t r = 0; r < nr; r++) {
                        float *o = xr + r * p->wp;
                        const int64_t yi = (y0 + r) * d->stride[1] - d->pad[1] + b;
                        if (zi < 0 || zi >= d->in[0] || yi < 0 || yi >= d->in[1]) {
                            memset(o, 0, (size_t)p->wp * sizeof(float));
                            continue;
                        }
                        const float *row = j->src + ic * ivol + (zi * d->in[1] + yi) * d->in[2];
                        if (fast_s2) { /* all three kw taps from one even/odd split */
                            if (c == 0) s2_taps(j, xr + r * p->wp, p->nt, row);
                            continue;
                        }
                        const float *s = row + c - d->pad[2];
                        int64_t xx = 0;
                        for (; xx < lo[c]; xx++) o[xx] = 0.0f;
                        if (sw == 1) {
                            memcpy(o + lo[c], s + lo[c], (size_t)(hi[c] - lo[c]) * sizeof(float));
                            xx = hi[c];
                        } else {
                            for (; xx < hi[c]; xx++) o[xx] = s[xx * sw];
                        }
                        for (; xx < p->wp; xx++) o[xx] = 0.0f;
                    }
                }
            }
        }
    }
}

static void im2col_task(void *arg, int ith, int nth) {
    const im2col_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const im2col_plan *p = j->p;
    const int64_t ovol = d->out[0] * d->out[1] * d->out[2];
    float *x = (float *)(void *)(j->ws + (size_t)ith * (p->x_bytes + p->y_bytes));
    float *y = (float *)(void *)((char *)x + p->x_bytes);
    nne_wino_gemm g;
    memset(&g, 0, sizeof g);
    g.u_bs = p->kdim * NNE_WINO_OCR;
    g.v = x;
    g.v_cs = p->nt;
    g.npos = 1;
    g.nb = p->n_ocr;
    int64_t lo, hi;
    nne_chunk_range(d->out[0] * p->n_rb, ith, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t z = it / p->n_rb, y0 = it % p->n_rb * p->rows;
        const int64_t nr = NNE_MIN(p->rows, d->out[1] - y0);
        g.nt = nr * p->wp;
        /* A block of one whole output row (no padded columns) whose output channels fill
         * the register tiles is summed straight into the output rows, started from the
         * bias; otherwise into Y, copied out with the bias after the last chunk. */
        const int in_place =
            !j->stream && nr == 1 && d->out[2] == p->wp && d->c_out % NNE_WINO_OCR == 0;
        float *const orow = j->dst + (z * d->out[1] + y0) * d->out[2]; /* channel 0 */
        if (in_place) {
            for (int64_t oc = 0; oc < d->c_out; oc++) {
                float *o = orow + oc * ovol;
                for (int64_t xx = 0; xx < d->out[2]; xx++) o[xx] = j->bias[oc];
            }
            g.m = orow;
            g.m_cs = ovol;
        } else {
            g.m = y;
            g.m_cs = p->nt;
        }
        /* Input channels in chunks whose X panel stays in L1 while every output channel
         * block passes over it; the partial sums pass through memory as floats (exact), so
         * the sum of each output runs over k in order as in one pass. */
        for (int64_t ic0 = 0; ic0 < d->c_in; ic0 += p->icc) {
            const int64_t nc = NNE_MIN(p->icc, d->c_in - ic0);
            gather(x, j, z, y0, nr, ic0, nc);
            g.u = j->u + ic0 * p->kvol * NNE_WINO_OCR;
            g.c_in = nc * p->kvol;
            g.accumulate = in_place || ic0 > 0;
            j->kt->wino_gemm(&g);
        }
        if (in_place) continue;
        for (int64_t r = 0; r < nr; r++)
            j->kt->bias_rows(orow + r * d->out[2], ovol, y + r * p->wp, p->nt, j->bias,
                             d->c_out, d->out[2], j->stream);
    }
}

void nne_conv3d_im2col_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                           const float *u, const float *bias_p, const nne_conv3d_desc *d,
                           void *ws) {
    NNE_ASSERT(kt && dst && src && u && bias_p && d && ws);
    im2col_plan p;
    plan_init(&p, d);
    im2col_job j = {.kt = kt, .d = d, .p = &p, .dst = dst, .src = src, .u = u, .bias = bias_p,
                    .ws = ws};
    j.stream = (double)d->c_out * (double)(d->out[0] * d->out[1] * d->out[2]) *
                   (double)sizeof(float) >= (double)IM2COL_STREAM_BYTES;
    nne_pool_run(pool, im2col_task, &j);
}
