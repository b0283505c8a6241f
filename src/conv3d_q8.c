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
 * Computation: a direct convolution (no im2col gather). The input is quantized once into
 * the workspace as centred int16 (q - zp) with input channels paired, [c_in / 2][d + 2 pd]
 * [h + 2 ph][w'][2], zero on every padded side (w' adds the column slack the register tiles
 * may read past the row), by the kernels q8_quantize (float -> uint8) and q8_pairs (two
 * channels' bytes -> centred pairs). Weights are packed [c_out / 8][c_in / 2][kd][kh][kw][8][2]
 * (an odd channel count gets a zero partner channel), so one tap of 8 output channels x one
 * channel pair is one vector and a 32-bit broadcast of an input pair meets it in a 16-bit
 * multiply-add (q8_conv_row, see nne_q8_row in cpu.h). Work items are (group of output channel
 * blocks, output plane, output row), groups keeping their packed weights within
 * Q8_WGROUP_BYTES so that they stay in L2 while a thread walks its consecutive rows. Results
 * are exact integers, so they do not depend on the order of summation, the thread split or the
 * kernel table; the dequantization dst = acc * (scale_x * scale_w[oc]) + bias[oc] is plain C
 * shared by all tables. Everything is therefore bitwise identical across thread counts and
 * ISAs. An earlier im2col form (byte gather, pair packing, int GEMM) spent as long gathering
 * as multiplying at the 8..32 channels of small networks; the direct form has no gather.
 * ref: B. Jacob et al., "Quantization and Training of Neural Networks for Efficient
 *      Integer-Arithmetic-Only Inference" (CVPR 2018), asymmetric uint8 with zero point;
 *      K. Chellapilla et al. (2006), the im2col formulation.
 */
#include <math.h>
#include <string.h>

#include "alloc.h"
#include "common.h"
#include "quant.h"

#ifndef Q8_WGROUP_BYTES
#define Q8_WGROUP_BYTES (256 << 10) /* packed weight bytes per output channel group, at most */
#endif

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

/* The buffer geometry of one convolution. */
typedef struct q8_plan {
    int64_t cp;       /* input channel pairs, ceil(c_in / 2)                 */
    int64_t taps;     /* kd * kh * kw                                        */
    int64_t n_ocb;    /* output channel blocks of NNE_Q8_OCB                 */
    int64_t per_grp;  /* blocks per work group                               */
    int64_t n_grp;    /* groups                                              */
    int64_t pd, ph, pw; /* padded input size (pw with the tiles' slack)       */
    size_t in_bytes;  /* shared: padded pairs [cp][pd][ph][pw][2] int16       */
    size_t row_bytes; /* per thread: two byte rows [2][in w]                  */
    size_t res_bytes; /* per thread: results [per_grp * OCB][out w] int32     */
} q8_plan;

static void plan_init(q8_plan *p, const nne_conv3d_desc *d) {
    p->cp = (d->c_in + 1) / 2;
    p->taps = (int64_t)d->k[0] * d->k[1] * d->k[2];
    p->n_ocb = (d->c_out + NNE_Q8_OCB - 1) / NNE_Q8_OCB;
    const int64_t blk = p->cp * p->taps * NNE_Q8_OCB * 2 * (int64_t)sizeof(int16_t);
    const int64_t max_per = NNE_MAX((int64_t)2, (int64_t)Q8_WGROUP_BYTES / blk);
    p->n_grp = (p->n_ocb + max_per - 1) / max_per;
    p->per_grp = (p->n_ocb + p->n_grp - 1) / p->n_grp;
    p->pd = d->in[0] + 2 * d->pad[0];
    p->ph = d->in[1] + 2 * d->pad[1];
    p->pw = NNE_MAX(d->in[2] + 2 * d->pad[2], (d->out[2] + NNE_Q8_SLACK) * d->stride[2] + d->k[2]);
    p->in_bytes = nne_align_up((size_t)(p->cp * p->pd * p->ph * p->pw * 2) * sizeof(int16_t));
    p->row_bytes = nne_align_up((size_t)(2 * d->in[2]));
    p->res_bytes = nne_align_up((size_t)(p->per_grp * NNE_Q8_OCB * d->out[2]) * sizeof(int32_t));
}

static size_t thread_bytes(const q8_plan *p) { return p->row_bytes + p->res_bytes; }

size_t nne_conv3d_q8_ws_bytes(const nne_conv3d_desc *d, int nth) {
    NNE_ASSERT(d && nth >= 1);
    q8_plan p;
    plan_init(&p, d);
    return p.in_bytes + (size_t)nth * thread_bytes(&p);
}

static size_t w_bytes(const q8_plan *p) {
    return nne_align_up((size_t)(p->n_ocb * p->cp * p->taps * NNE_Q8_OCB * 2) * sizeof(int16_t));
}

size_t nne_conv3d_q8_prep_bytes(const nne_conv3d_desc *d) {
    NNE_ASSERT(d);
    q8_plan p;
    plan_init(&p, d);
    return w_bytes(&p) + 2 * nne_align_up((size_t)(p.n_ocb * NNE_Q8_OCB) * sizeof(float));
}

void nne_conv3d_q8_prep(nne_conv3d_q8_w *out, const nne_conv3d_desc *d, const float *w,
                        const float *bias, void *mem) {
    NNE_ASSERT(out && d && w && mem);
    q8_plan p;
    plan_init(&p, d);
    const int64_t n_oc = p.n_ocb * NNE_Q8_OCB, kdim = d->c_in * p.taps;
    int16_t *wq = mem;                                        /* [n_ocb][cp][taps][OCB][2] */
    float *sw = (float *)(void *)((char *)mem + w_bytes(&p)); /* [n_oc]                    */
    float *bp = (float *)(void *)((char *)sw + nne_align_up((size_t)n_oc * sizeof(float)));
    memset(wq, 0, w_bytes(&p));
    for (int64_t oc = 0; oc < n_oc; oc++) {
        const int64_t b = oc / NNE_Q8_OCB, o = oc % NNE_Q8_OCB;
        sw[oc] = 0.0f;
        bp[oc] = (oc < d->c_out && bias) ? bias[oc] : 0.0f;
        if (oc >= d->c_out) continue;
        const float *row = w + oc * kdim; /* PyTorch's [oc][ic][kd][kh][kw] */
        double amax = 0.0;
        for (int64_t k = 0; k < kdim; k++) amax = fmax(amax, fabs((double)row[k]));
        if (!(amax > 0.0) || !isfinite(amax)) continue; /* all-zero row: scale 0, weights 0 */
        const double s = amax / 127.0;
        sw[oc] = (float)s;
        for (int64_t ic = 0; ic < d->c_in; ic++)
            for (int64_t t = 0; t < p.taps; t++) {
                double q = nearbyint((double)row[ic * p.taps + t] / s);
                q = q < -127.0 ? -127.0 : q > 127.0 ? 127.0 : q;
                wq[(((b * p.cp + ic / 2) * p.taps + t) * NNE_Q8_OCB + o) * 2 + ic % 2] =
                    (int16_t)q;
            }
    }
    memset(out, 0, sizeof *out);
    out->c_in = d->c_in;
    out->c_out = d->c_out;
    memcpy(out->k, d->k, sizeof out->k);
    memcpy(out->stride, d->stride, sizeof out->stride);
    out->cp = p.cp;
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
    int16_t *qin;      /* padded centred pairs [cp][pd][ph][pw][2]      */
    char *tws;         /* per thread: byte rows, results               */
} q8_job;

/* Quantizes the input into the padded pair buffer, one padded plane (pair, z) per item; the
 * padding is written too (zeros), so the buffer needs no clearing. Elementwise: any split
 * gives the same bytes. */
static void fill_task(void *arg, int ith, int nth) {
    const q8_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const q8_plan *p = j->p;
    const int64_t ivol = d->in[0] * d->in[1] * d->in[2], iw = d->in[2];
    const float inv = 1.0f / j->act.scale;
    uint8_t *ra = (uint8_t *)(j->tws + (size_t)ith * thread_bytes(p)), *rb = ra + iw;
    int64_t lo, hi;
    nne_chunk_range(p->cp * p->pd, ith, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t q = it / p->pd, zz = it % p->pd, z = zz - d->pad[0];
        int16_t *plane = j->qin + it * p->ph * p->pw * 2;
        if (z < 0 || z >= d->in[0]) {
            memset(plane, 0, (size_t)(p->ph * p->pw * 2) * sizeof(int16_t));
            continue;
        }
        for (int64_t yy = 0; yy < p->ph; yy++) {
            const int64_t y = yy - d->pad[1];
            int16_t *row = plane + yy * p->pw * 2;
            if (y < 0 || y >= d->in[1]) {
                memset(row, 0, (size_t)(p->pw * 2) * sizeof(int16_t));
                continue;
            }
            const float *s0 = j->src + 2 * q * ivol + (z * d->in[1] + y) * iw;
            j->kt->q8_quantize(ra, s0, iw, inv, j->act.zp);
            if (2 * q + 1 < d->c_in) j->kt->q8_quantize(rb, s0 + ivol, iw, inv, j->act.zp);
            else memset(rb, j->act.zp, (size_t)iw); /* the zero partner of an odd channel */
            memset(row, 0, (size_t)(d->pad[2] * 2) * sizeof(int16_t));
            j->kt->q8_pairs(row + d->pad[2] * 2, ra, rb, iw, j->act.zp);
            memset(row + (d->pad[2] + iw) * 2, 0,
                   (size_t)((p->pw - d->pad[2] - iw) * 2) * sizeof(int16_t));
        }
    }
}

/* Work items (group g, output plane z, output row y), item = (g * out d + z) * out h + y:
 * consecutive items of a thread share the group's weights. */
static void conv_task(void *arg, int ith, int nth) {
    const q8_job *j = arg;
    const nne_conv3d_desc *d = j->d;
    const q8_plan *p = j->p;
    const int64_t ovol = d->out[0] * d->out[1] * d->out[2], wo = d->out[2];
    int32_t *res = (int32_t *)(void *)(j->tws + (size_t)ith * thread_bytes(p) + p->row_bytes);
    nne_q8_row r;
    r.dst = res; /* [per_grp * OCB][out w] */
    r.dst_cs = wo;
    r.src_ps = p->pd * p->ph * p->pw * 2;
    r.src_ds = p->ph * p->pw * 2;
    r.src_hs = p->pw * 2;
    r.w_bs = p->cp * p->taps * NNE_Q8_OCB * 2;
    r.cp = p->cp;
    r.kd = d->k[0];
    r.kh = d->k[1];
    r.kw = d->k[2];
    r.sw = d->stride[2];
    r.wout = wo;
    int64_t lo, hi;
    nne_chunk_range(p->n_grp * d->out[0] * d->out[1], ith, nth, &lo, &hi);
    for (int64_t it = lo; it < hi; it++) {
        const int64_t y = it % d->out[1], z = it / d->out[1] % d->out[0];
        const int64_t g = it / (d->out[1] * d->out[0]);
        const int64_t b0 = g * p->per_grp, b1 = NNE_MIN(p->n_ocb, b0 + p->per_grp);
        r.nb = b1 - b0;
        r.w = j->pw->w + b0 * r.w_bs;
        r.src = j->qin + (z * d->stride[0]) * r.src_ds + (y * d->stride[1]) * r.src_hs;
        j->kt->q8_conv_row(&r);
        const int64_t oc1 = NNE_MIN(d->c_out, b1 * NNE_Q8_OCB);
        for (int64_t oc = b0 * NNE_Q8_OCB; oc < oc1; oc++) {
            const float m = j->act.scale * j->pw->scale_w[oc], b = j->pw->bias[oc];
            const int32_t *c = res + (oc - b0 * NNE_Q8_OCB) * wo;
            float *o = j->dst + oc * ovol + (z * d->out[1] + y) * wo;
            for (int64_t xx = 0; xx < wo; xx++) o[xx] = (float)c[xx] * m + b;
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
    NNE_ASSERT(p.cp == pw->cp);
    q8_job j = {.kt = kt, .d = d, .p = &p, .pw = pw, .act = act, .dst = dst, .src = src,
                .qin = ws, .tws = (char *)ws + p.in_bytes};
    nne_pool_run(pool, fill_task, &j);
    nne_pool_run(pool, conv_task, &j);
}
