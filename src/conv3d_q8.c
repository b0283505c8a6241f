/*
 * conv3d_q8.c - 3-D convolution (PyTorch Conv3d semantics, zero padding k/2) with int8
 * weights, uint8 activations and int32 accumulation, NCDHW with N = 1.
 *
 * DESIGN. Quantization:
 * - Weights: symmetric per output channel, scale_w[oc] = max|w[oc]| / 127, w_q = round(w /
 *   scale_w) in -127..127 (the value -128 is never used, so |w_q| <= 127 bounds every sum).
 * - Activations: per tensor, asymmetric uint8 with a zero point (nne_q8_act). Nearly every
 *   conv input of PlainConvUNet is a LeakyReLU output (slope 0.01), whose negative part is
 *   about a hundredth of its positive part: a symmetric int8 grid would spend half its 255
 *   steps on the negative side, an asymmetric grid spends about 99 % of them on [0, hi], so
 *   the step is about 2x finer for the same 8 bits. The exceptions (the normalized image of
 *   the first layer, the transposed-conv half of the decoder concats) are signed and get a
 *   zero point near the middle, which is the symmetric case. 0.0 maps exactly to q = zp,
 *   so the zero padding is the quantized value of 0.0.
 * - Centring: the GEMM multiplies (q - zp) (-255..255) by w_q, so the padding is plain 0
 *   and no zero-point correction term is needed.
 * Computation: the input is quantized once into the workspace (one byte per voxel, kernel
 * q8_quantize). Work items are (output plane z, block of output rows) as in
 * conv3d_im2col.c: per item the thread gathers the K = c_in * kd * kh * kw input rows of the
 * block's columns as bytes (padding = zp; K rounded up to even with a zp row), turns row pairs
 * (2p, 2p + 1) into centred int16 pairs (q8_pairs), and multiplies them with the packed
 * weights [c_out / OCR][kp][OCR][2] (q8_gemm, see nne_q8_gemm in cpu.h). Results are exact
 * integers, so they do not depend on the order of summation, the thread split or the kernel
 * table; the dequantization dst = acc * (scale_x * scale_w[oc]) + bias[oc] is plain C shared
 * by all tables. Everything is therefore bitwise identical across thread counts and ISAs.
 * ref: B. Jacob et al., "Quantization and Training of Neural Networks for Efficient
 *      Integer-Arithmetic-Only Inference" (CVPR 2018), asymmetric uint8 with zero point;
 *      K. Chellapilla et al. (2006), the im2col formulation.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "quant.h"

#ifndef Q8_COLS
#define Q8_COLS 96 /* columns per block the row count aims at */
#endif
#define Q8_QCHUNK 65536 /* voxels per work item of the input quantization */

nne_q8_act nne_q8_act_from_range(float lo, float hi) {
    nne_q8_act a = {1.0f, 0};
    if (!isfinite(lo) || !isfinite(hi)) return a;
    const double l = lo < 0.0f ? (double)lo : 0.0, h = hi > 0.0f ? (double)hi : 0.0;
    if (!(h - l > 0.0)) return a;
    const double s = (h - l) / 255.0;
    double zp = nearbyint(-l / s);
    zp = zp < 0.0 ? 0.0 : zp > 255.0 ? 255.0 : zp;
    a.scale = (float)s;
    a.zp = (int32_t)zp;
    return a;
}

/* The block geometry of one convolution. */
typedef struct q8_plan {
    int64_t kdim;   /* K = c_in * kd * kh * kw                    */
    int64_t kp;     /* K pairs, ceil(K / 2)                       */
    int64_t wp;     /* output width rounded up to NNE_Q8_NTM      */
    int64_t rows;   /* output rows per block                      */
    int64_t nt;     /* columns of a block: rows * wp              */
    int64_t n_rb;   /* row blocks per output plane                */
    int64_t n_ocr;  /* output channel blocks of NNE_Q8_OCR        */
    size_t in_bytes; /* shared: quantized input [c_in][in vol]    */
    size_t xb_bytes; /* per thread: bytes  [2 kp][nt]             */
    size_t xp_bytes; /* per thread: pairs  [kp][nt][2] int16      */
    size_t c_bytes;  /* per thread: results [n_ocr * OCR][nt]     */
} q8_plan;

static void plan_init(q8_plan *p, const nne_conv3d_desc *d) {
    p->kdim = d->c_in * d->k[0] * d->k[1] * d->k[2];
    p->kp = (p->kdim + 1) / 2;
    p->wp = (d->out[2] + NNE_Q8_NTM - 1) / NNE_Q8_NTM * NNE_Q8_NTM;
    p->rows = NNE_MAX((int64_t)1, NNE_MIN(d->out[1], (int64_t)Q8_COLS / p->wp));
    p->nt = p->rows * p->wp;
    p->n_rb = (d->out[1] + p->rows - 1) / p->rows;
    p->n_ocr = (d->c_out + NNE_Q8_OCR - 1) / NNE_Q8_OCR;
    p->in_bytes = nne_align_up((size_t)(d->c_in * d->in[0] * d->in[1] * d->in[2]));
    p->xb_bytes = nne_align_up((size_t)(2 * p->kp * p->nt));
    p->xp_bytes = nne_align_up((size_t)(2 * p->kp * p->nt) * sizeof(int16_t));
    p->c_bytes = nne_align_up((size_t)(p->n_ocr * NNE_Q8_OCR * p->nt) * sizeof(int32_t));
}

static size_t thread_bytes(const q8_plan *p) { return p->xb_bytes + p->xp_bytes + p->c_bytes; }

size_t nne_conv3d_q8_ws_bytes(const nne_conv3d_desc *d, int nth) {
    NNE_ASSERT(d && nth >= 1);
    q8_plan p;
    plan_init(&p, d);
    return p.in_bytes + (size_t)nth * thread_bytes(&p);
}

static size_t w_bytes(const q8_plan *p) {
    return nne_align_up((size_t)(p->n_ocr * NNE_Q8_OCR * p->kp * 2) * sizeof(int16_t));
}

size_t nne_conv3d_q8_prep_bytes(const nne_conv3d_desc *d) {
    NNE_ASSERT(d);
    q8_plan p;
    plan_init(&p, d);
    return w_bytes(&p) + 2 * nne_align_up((size_t)(p.n_ocr * NNE_Q8_OCR) * sizeof(float));
}

void nne_conv3d_q8_prep(nne_conv3d_q8_w *out, const nne_conv3d_desc *d, const float *w,
                        const float *bias, void *mem) {
    NNE_ASSERT(out && d && w && mem);
    q8_plan p;
    plan_init(&p, d);
    const int64_t n_oc = p.n_ocr * NNE_Q8_OCR;
    int16_t *wq = mem;                                           /* [n_ocr][kp][OCR][2] */
    float *sw = (float *)(void *)((char *)mem + w_bytes(&p));    /* [n_oc]              */
    float *bp = (float *)(void *)((char *)sw + nne_align_up((size_t)n_oc * sizeof(float)));
    memset(wq, 0, w_bytes(&p));
    for (int64_t oc = 0; oc < n_oc; oc++) {
        const int64_t b = oc / NNE_Q8_OCR, r = oc % NNE_Q8_OCR;
        sw[oc] = 0.0f;
        bp[oc] = (oc < d->c_out && bias) ? bias[oc] : 0.0f;
        if (oc >= d->c_out) continue;
        const float *row = w + oc * p.kdim; /* PyTorch's [oc][ic][kd][kh][kw] is [oc][k] */
        double amax = 0.0;
        for (int64_t k = 0; k < p.kdim; k++) amax = fmax(amax, fabs((double)row[k]));
        if (!(amax > 0.0) || !isfinite(amax)) continue; /* all-zero row: scale 0, weights 0 */
        const double s = amax / 127.0;
        sw[oc] = (float)s;
        for (int64_t k = 0; k < p.kdim; k++) {
            double q = nearbyint((double)row[k] / s);
            q = q < -127.0 ? -127.0 : q > 127.0 ? 127.0 : q;
            wq[((b * p.kp + k / 2) * NNE_Q8_OCR + r) * 2 + k % 2] = (int16_t)q;
        }
    }
    memset(out, 0, sizeof *out);
    out->c_in = d->c_in;
    out->c_out = d->c_out;
    memcpy(out->k, d->k, sizeof out->k);
    memcpy(out->stride, d->stride, sizeof out->stride);
    out->kp = p.kp;
    out->w = wq;
    out->scale_w = sw;
    out->bias = bp;
}

typedef struct q8_job {
    const nne_kernels *kt;
    const nne_conv3d_desc *d;
    const q8_plan *p;
    const nne_conv3d_q8_w *pw;
    nne_q8_act act;
    float *dst;        /* [c_out][out d][out h][out w]                 */
    const float *src;  /* [c_in][in d][in h][in w]                     */
    uint8_t *qin;      /* [c_in][in d][in h][in w] quantized input     */
    char *tws;         /* per thread: bytes, pairs, results            */
} q8_job;

/* Input quantization over fixed voxel chunks (elementwise: any split gives the same bytes). */
static void quantize_task(void *arg, int ith, int nth) {
    const q8_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const int64_t n = d->c_in * d->in[0] * d->in[1] * d->in[2];
    const int64_t n_chunks = (n + Q8_QCHUNK - 1) / Q8_QCHUNK;
    const float inv = 1.0f / j->act.scale;
    int64_t lo, hi;
    nne_chunk_range(n_chunks, ith, nth, &lo, &hi);
    for (int64_t c = lo; c < hi; c++) {
        const int64_t i0 = c * Q8_QCHUNK;
        j->kt->q8_quantize(j->qin + i0, j->src + i0, NNE_MIN((int64_t)Q8_QCHUNK, n - i0), inv,
                           j->act.zp);
    }
}

/* Output columns [*lo, *hi) whose tap kw lies inside the input row (the others read zp). */
static void valid_cols(const nne_conv3d_desc *d, int kw, int64_t *lo, int64_t *hi) {
    const int64_t s = d->stride[2], off = kw - d->pad[2]; /* input column = x * s + off */
    int64_t a = off >= 0 ? 0 : (-off + s - 1) / s;
    int64_t b = d->in[2] - off <= 0 ? 0 : (d->in[2] - off + s - 1) / s;
    if (b > d->out[2]) b = d->out[2];
    if (a > b) a = b;
    *lo = a;
    *hi = b;
}

/* Gathers the byte rows of output plane z, rows y0 .. y0 + nr - 1: row k = ((ic * kd + a) *
 * kh + b) * kw + c, column r * wp + x; padding, columns past the output width and the extra
 * row of an odd K hold zp (centred: 0). */
static void gather(uint8_t *x, const q8_job *j, int64_t z, int64_t y0, int64_t nr) {
    const nne_conv3d_desc *d = j->d;
    const q8_plan *p = j->p;
    const int64_t ivol = d->in[0] * d->in[1] * d->in[2], sw = d->stride[2];
    const uint8_t zp = (uint8_t)j->act.zp;
    int64_t lo[16], hi[16]; /* per kw (kernels up to 15 wide) */
    NNE_ASSERT(d->k[2] <= 16);
    for (int c = 0; c < d->k[2]; c++) valid_cols(d, c, &lo[c], &hi[c]);
    int64_t k = 0;
    for (int64_t ic = 0; ic < d->c_in; ic++) {
        for (int a = 0; a < d->k[0]; a++) {
            const int64_t zi = z * d->stride[0] - d->pad[0] + a;
            for (int b = 0; b < d->k[1]; b++) {
                for (int c = 0; c < d->k[2]; c++, k++) {
                    uint8_t *xr = x + k * p->nt;
                    for (int64_t r = 0; r < nr; r++) {
                        uint8_t *o = xr + r * p->wp;
                        const int64_t yi = (y0 + r) * d->stride[1] - d->pad[1] + b;
                        if (zi < 0 || zi >= d->in[0] || yi < 0 || yi >= d->in[1]) {
                            memset(o, zp, (size_t)p->wp);
                            continue;
                        }
                        const uint8_t *s =
                            j->qin + ic * ivol + (zi * d->in[1] + yi) * d->in[2] + c - d->pad[2];
                        memset(o, zp, (size_t)lo[c]);
                        if (sw == 1) {
                            memcpy(o + lo[c], s + lo[c], (size_t)(hi[c] - lo[c]));
                        } else {
                            for (int64_t xx = lo[c]; xx < hi[c]; xx++) o[xx] = s[xx * sw];
                        }
                        memset(o + hi[c], zp, (size_t)(p->wp - hi[c]));
                    }
                }
            }
        }
    }
    if (p->kdim % 2) memset(x + p->kdim * p->nt, zp, (size_t)p->nt);
}

static void conv_task(void *arg, int ith, int nth) {
    const q8_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const q8_plan *p = j->p;
    const int64_t ovol = d->out[0] * d->out[1] * d->out[2];
    char *base = j->tws + (size_t)ith * thread_bytes(p);
    uint8_t *xb = (uint8_t *)base;                                            /* [2 kp][nt]  */
    int16_t *xp = (int16_t *)(void *)(base + p->xb_bytes);                    /* [kp][nt][2] */
    int32_t *cr = (int32_t *)(void *)(base + p->xb_bytes + p->xp_bytes);      /* [oc][nt]    */
    nne_q8_gemm g = {.c = cr, .c_rs = p->nt, .w = j->pw->w, .x = xp, .nb = p->n_ocr,
                     .kp = p->kp};
    int64_t lo, hi;
    nne_chunk_range(d->out[0] * p->n_rb, ith, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t z = it / p->n_rb, y0 = it % p->n_rb * p->rows;
        const int64_t nr = NNE_MIN(p->rows, d->out[1] - y0);
        const int64_t nt = nr * p->wp;
        gather(xb, j, z, y0, nr);
        for (int64_t q = 0; q < p->kp; q++)
            j->kt->q8_pairs(xp + q * nt * 2, xb + 2 * q * p->nt, xb + (2 * q + 1) * p->nt, nt,
                            j->act.zp);
        g.nt = nt;
        j->kt->q8_gemm(&g);
        for (int64_t oc = 0; oc < d->c_out; oc++) {
            const float m = j->act.scale * j->pw->scale_w[oc], b = j->pw->bias[oc];
            for (int64_t r = 0; r < nr; r++) {
                float *o = j->dst + oc * ovol + (z * d->out[1] + y0 + r) * d->out[2];
                const int32_t *c = cr + oc * p->nt + r * p->wp;
                for (int64_t xx = 0; xx < d->out[2]; xx++) o[xx] = (float)c[xx] * m + b;
            }
        }
    }
}

void nne_conv3d_q8_run(nne_pool *pool, const nne_kernels *kt, float *dst, const float *src,
                       const nne_conv3d_q8_w *pw, const nne_conv3d_desc *d, nne_q8_act act,
                       void *ws) {
    NNE_ASSERT(kt && dst && src && pw && d && ws);
    NNE_ASSERT(pw->c_in == d->c_in && pw->c_out == d->c_out);
    NNE_ASSERT(act.scale > 0.0f && act.zp >= 0 && act.zp <= 255);
    for (int i = 0; i < 3; i++) {
        NNE_ASSERT(d->k[i] % 2 == 1 && d->pad[i] == d->k[i] / 2);
        NNE_ASSERT(pw->k[i] == d->k[i] && pw->stride[i] == d->stride[i]);
    }
    q8_plan p;
    plan_init(&p, d);
    NNE_ASSERT(p.kp == pw->kp);
    q8_job j = {.kt = kt, .d = d, .p = &p, .pw = pw, .act = act, .dst = dst, .src = src,
                .qin = ws, .tws = (char *)ws + p.in_bytes};
    nne_pool_run(pool, quantize_task, &j);
    nne_pool_run(pool, conv_task, &j);
}
