/*
 * synth.c - synthetic acute-stroke cases (see synth.h for the contract, docs/SYNTH.md for
 * the model and its limits).
 *
 * DESIGN
 * 1. Draw a phantom: brain shape and size, a smooth random warp, sulci, ventricles, deep grey
 *    nuclei, cerebellum and brainstem, tissue ADC / T2 signal, the lesion territory and
 *    volume (or none: trap-only case), traps, and the acquisition (spacing, obliquity, bias,
 *    scale, SNR, storage).
 * 2. Fit the lesion size parameter t in [0, 1] so that the lesion volume, measured on a
 *    3 mm world grid, matches the drawn target (each point's entry threshold is ranked).
 * 3. Sample the phantom through the float32-rounded affine: sub-samples per voxel (2 along
 *    every axis of 1.5 mm or more, so 2x2x2 at 2 mm, 1x1x2 at 0.9x0.9x3 mm) give
 *    partial-volume intensities and the lesion fraction; mask = fraction >= 1/2.
 * 4. Bias field and scale (DWI), Rician noise (DWI), Gaussian noise (ADC), 0 outside brain.
 * 5. Optionally a FLAIR of the same phantom on its own grid (own spacing, obliquity, offset,
 *    bias, scale and noise), drawn from a second sub-stream so that DWI, ADC and mask are
 *    the same with or without it.
 *
 * Phantom space: RAS+ mm; the cerebrum is an ellipsoid centred at (0, 0, 10). Tissue
 * values: ADC CSF ~3.0, GM 0.80-0.90, WM 0.65-0.75 (10^-3 mm^2/s, as ISLES'22 ADC maps);
 * DWI = S0 * exp(-b * ADC) with b = 1000 s/mm^2 and a T2 weight S0 per tissue, so CSF is
 * dark and grey matter slightly brighter than white matter, as on clinical b = 1000 images.
 *
 * SPEED
 * The warp is a sum of sinusoids; for the sub-samples of a voxel the phase offsets from the
 * voxel centre are the same for every voxel of a grid, so each sub-sample's warp follows from
 * the centre's sin/cos by the angle-addition formula (2 libm calls per component and voxel
 * instead of 8). Rows of the grid are clipped to the world-space hull of the brain (bounded
 * through the warp amplitude), and lesion membership rejects points far from the lesion
 * before evaluating its irregular boundary. None of this changes which voxels are drawn, so
 * the random stream is consumed in the same order.
 *
 * Every random draw comes from one counter-based stream positioned at index << 32 of
 * `seed` (the FLAIR at (index << 32) + 2^31), consumed in a fixed order, so a case does not
 * depend on any other case.
 */
#include "synth.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "rng.h"

#define PI 3.14159265358979323846
#define N_WARP 4     /* sinusoidal components of the anatomical warp          */
#define MAX_SULCI 16 /* sulcal sheets                                          */
#define MAX_EMB 10   /* emboli of a shower                                     */
#define N_IRR 3      /* components of a lesion's boundary irregularity         */
#define CAL_STEP 3.0 /* mm: world grid used to fit the lesion volume           */
#define N_SUB 8      /* most sub-samples per voxel (2x2x2)                     */
#define SULC_HALF 0.8 /* mm: half-width of a sulcus' CSF sheet                 */
#define INT16_TOP 32000.0 /* largest stored value of an int16 image              */

enum { T_BG = 0, T_CSF = 1, T_GM = 2, T_WM = 3 };
/* Trap slots (phantom.trap_on, per-voxel counts). */
enum { TR_SHINE = 0, TR_CHRONIC = 1, TR_CSF = 2, N_TRAP = 3 };
static const int TRAP_BIT[N_TRAP] = {NNE_SYNTH_TRAP_SHINE, NNE_SYNTH_TRAP_CHRONIC,
                                     NNE_SYNTH_TRAP_CSF};
enum { ART_VENTRICLE = 0, ART_SULCUS = 1 }; /* where the bright CSF artefact is */

/* Axis-aligned ellipsoid: centre c, semi-axes r (mm). */
typedef struct blob {
    double c[3], r[3];
} blob;

/* One warp component: displacement amp[] * sin(k . p + phase). */
typedef struct wave {
    double k[3], amp[3], phase;
} wave;

/* A sulcus: a CSF sheet (half-width `half`) through the origin with normal v, within the cone
 * of half-angle acos(cosr) around direction u, down to `depth` mm from the brain surface. */
typedef struct sulcus {
    double u[3], v[3], cosr, depth, half;
} sulcus;

/* Smooth multiplicative bias field exp(sum amp sin(k . p + ph)). */
typedef struct field {
    double k[3][3], ph[3], amp[3];
} field;

/* Where a phantom point lies, beyond its tissue class (tissue()). */
typedef struct site {
    int fossa; /* 0 cerebrum / outside, NNE_SYNTH_FOSSA_CEREBELLUM or _BRAINSTEM      */
    int vent;  /* lateral ventricle holding the point, or -1                         */
    int sulc;  /* sulcus whose CSF sheet or grey lining holds the point, or -1       */
} site;

typedef struct phantom {
    double scale[3];          /* per-axis brain size factor                              */
    wave warp[N_WARP];        /* smooth deformation of all structures                    */
    sulcus sul[MAX_SULCI];
    int n_sul;
    double sul_depth;         /* deepest sulcus, mm                                      */
    blob vent[2];             /* lateral ventricles ([0] left, [1] right)                */
    blob deep[2];             /* deep grey nuclei (thalamus / lentiform as one blob)     */
    double cortex;            /* cortical ribbon thickness, mm                           */
    double adc[4], s0[4];     /* per tissue (T_*): ADC (10^-3 mm^2/s) and T2 weight      */
    double dwi0[4];           /* per tissue: s0 exp(-b adc)                              */
    /* lesion */
    int terr, side, has_lesion;
    double apex[3], axis[3];  /* territory cone (MCA/ACA/PCA)                            */
    double alpha_max, d0_max; /* half-angle at t = 1 (rad) and inner radius at t = 0      */
    blob emb[MAX_EMB];        /* lacunar (1) / emboli / posterior seeds: radii at t = 1  */
    int emb_site[MAX_EMB];    /* POSTERIOR: NNE_SYNTH_FOSSA_* the seed is confined to    */
    int n_emb, fossa_sites;
    double irr_k[N_IRR][3], irr_ph[N_IRR];
    double t;                 /* fitted size parameter                                   */
    double rej_cos, rej_ell;  /* early rejection at t: cone cos bound, blob ell bound    */
    double les_dwi, les_adc;  /* lesion multipliers                                      */
    /* traps */
    blob trap[2];             /* [TR_SHINE], [TR_CHRONIC]                                */
    int trap_on[N_TRAP];
    double shine_dwi, shine_adc, chr_dwi, chr_adc;
    int art_kind, art_idx;    /* CSF artefact: ART_*, ventricle or sulcus index          */
    double art_u[3], art_cos; /* its cone: direction and cos of the half-angle           */
    double art_in;            /* ventricle: inner normalised radius of the band          */
    double art_dwi, art_adc;  /* its multipliers                                         */
    /* FLAIR contrast (drawn only with params.flair) */
    double fl[4];             /* per tissue signal                                       */
    double fl_les, fl_shine, fl_chr;
} phantom;

static double uni(nne_rng *r, double a, double b) { return a + (b - a) * nne_rng_uniform(r); }
static double dot3(const double a[3], const double b[3]) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
static double norm3(const double a[3]) { return sqrt(dot3(a, a)); }
static void unit_vec(nne_rng *r, double u[3]) {
    double n;
    do {
        for (int i = 0; i < 3; i++) u[i] = nne_rng_normal(r);
        n = norm3(u);
    } while (n < 1e-6);
    for (int i = 0; i < 3; i++) u[i] /= n;
}
static void normalize3(double u[3]) {
    double n = norm3(u);
    for (int i = 0; i < 3; i++) u[i] /= n;
}
/* Squared normalised distance of q to ellipsoid b (< 1 inside). */
static double ell(const blob *b, const double q[3]) {
    double s = 0;
    for (int i = 0; i < 3; i++) {
        double d = (q[i] - b->c[i]) / b->r[i];
        s += d * d;
    }
    return s;
}

/* ---------------------------------------------------------------------------------------- */
/* Anatomy                                                                                   */
/* ---------------------------------------------------------------------------------------- */

static const blob CEREBRUM = {{0, 0, 10}, {68, 85, 60}};
static const blob CEREBELLUM = {{0, -54, -38}, {50, 32, 22}};
static const blob BRAINSTEM = {{0, -22, -45}, {11, 12, 24}};
#define N_BRAIN_BLOBS 3
static const blob *const BRAIN_BLOBS[N_BRAIN_BLOBS] = {&CEREBRUM, &CEREBELLUM, &BRAINSTEM};

/* Phantom coordinates q of world point p: warp, then size normalisation. */
static void to_phantom(const phantom *ph, const double p[3], double q[3]) {
    double w[3] = {p[0], p[1], p[2]};
    for (int n = 0; n < N_WARP; n++) {
        double s = sin(dot3(ph->warp[n].k, p) + ph->warp[n].phase);
        for (int i = 0; i < 3; i++) w[i] += ph->warp[n].amp[i] * s;
    }
    for (int i = 0; i < 3; i++) q[i] = w[i] / ph->scale[i];
}

/* Largest normalised radius of brain blob b that a point within `reach` mm of brain can have:
 * 1 + reach / smallest semi-axis. */
static double blob_lim(const blob *b, double reach) {
    return 1 + reach / fmin(b->r[0], fmin(b->r[1], b->r[2]));
}

/* True when no point within `reach` mm of q can be brain (conservative bound per blob). */
static int far_outside(const double q[3], double reach) {
    for (int i = 0; i < N_BRAIN_BLOBS; i++) {
        double lim = blob_lim(BRAIN_BLOBS[i], reach);
        if (ell(BRAIN_BLOBS[i], q) < lim * lim) return 0;
    }
    return 1;
}

/* Tissue label at phantom point q; *st tells which structure holds it. */
static int tissue(const phantom *ph, const double q[3], site *st) {
    st->fossa = 0, st->vent = st->sulc = -1;
    double e = ell(&CEREBRUM, q);
    if (e >= 1) {
        double ec = ell(&CEREBELLUM, q);
        if (ec < 1) {
            st->fossa = NNE_SYNTH_FOSSA_CEREBELLUM;
            return (1 - sqrt(ec)) * CEREBELLUM.r[2] < 5 ? T_GM : T_WM;
        }
        if (ell(&BRAINSTEM, q) < 1) {
            st->fossa = NNE_SYNTH_FOSSA_BRAINSTEM;
            return T_WM;
        }
        return T_BG;
    }
    /* Depth below the surface, approximated along the radius with the smallest semi-axis. */
    double depth = (1 - sqrt(e)) * CEREBRUM.r[2];
    for (int v = 0; v < 2; v++)
        if (ell(&ph->vent[v], q) < 1) {
            st->vent = v;
            return T_CSF;
        }
    /* Interhemispheric fissure above the corpus callosum and at the poles, medial cortex. */
    double ax = fabs(q[0]);
    if (q[2] > 22 || fabs(q[1]) > 50) {
        if (ax < 1.0) return T_CSF;
        if (ax < 1.0 + ph->cortex) return T_GM;
    }
    double c[3] = {q[0] - CEREBRUM.c[0], q[1] - CEREBRUM.c[1], q[2] - CEREBRUM.c[2]};
    double cn = depth > ph->sul_depth ? 0 : norm3(c); /* below every sulcus: skip them */
    if (cn > 1e-9) {
        double n[3] = {c[0] / cn, c[1] / cn, c[2] / cn};
        for (int s = 0; s < ph->n_sul; s++) {
            const sulcus *su = &ph->sul[s];
            if (depth > su->depth || dot3(n, su->u) < su->cosr) continue;
            double d = fabs(dot3(c, su->v));
            if (d < su->half + ph->cortex) {
                st->sulc = s;
                return d < su->half ? T_CSF : T_GM;
            }
        }
    }
    for (int g = 0; g < 2; g++)
        if (ell(&ph->deep[g], q) < 1) return T_GM;
    return depth < ph->cortex ? T_GM : T_WM;
}

/* ---------------------------------------------------------------------------------------- */
/* Lesions and traps                                                                         */
/* ---------------------------------------------------------------------------------------- */

/* Boundary irregularity in [-1, 1] for direction n (unit). */
static double irregular(const phantom *ph, const double n[3]) {
    double s = 0;
    for (int i = 0; i < N_IRR; i++) s += sin(dot3(ph->irr_k[i], n) + ph->irr_ph[i]);
    return s / N_IRR;
}

static int is_blob_territory(int terr) {
    return terr == NNE_SYNTH_TERR_LACUNAR || terr == NNE_SYNTH_TERR_EMBOLIC ||
           terr == NNE_SYNTH_TERR_POSTERIOR;
}

/* May seed e hold the point (tissue, structure and side)? Posterior seeds stay in their own
 * structure (cerebellar ones in their own hemisphere, brainstem ones paramedian); the other
 * territories stay in the cerebrum. */
static int seed_allows(const phantom *ph, int e, const double q[3], const site *st) {
    if (ph->terr != NNE_SYNTH_TERR_POSTERIOR) return st->fossa == 0;
    if (st->fossa != ph->emb_site[e]) return 0;
    return q[0] * ph->side > (st->fossa == NNE_SYNTH_FOSSA_BRAINSTEM ? -1.0 : 0.0);
}

/* The smallest size parameter t at which phantom point q (of tissue `lab`, site st) joins
 * the lesion; HUGE_VAL if never. The lesion at t is {q : lesion_t(q) < t}, so it grows
 * monotonically with t and the volume can be fitted by ranking these thresholds.
 * Cones (MCA/ACA/PCA): the half-angle grows as alpha_max (0.15 + 0.85 t) (1 + irregularity/4)
 * and the inner radius shrinks as (1 - t) d0_max. Blobs: semi-axes scale with t (1 + irr/5),
 * so a blob point joins at t = sqrt(ell) / f0 with f0 in [0.8, 1.2]. */
static double lesion_t(const phantom *ph, const double q[3], int lab, const site *st) {
    if (lab != T_GM && lab != T_WM) return HUGE_VAL;
    if (is_blob_territory(ph->terr)) {
        double best = HUGE_VAL;
        for (int e = 0; e < ph->n_emb; e++) {
            if (!seed_allows(ph, e, q, st)) continue;
            const blob *b = &ph->emb[e];
            double d[3] = {q[0] - b->c[0], q[1] - b->c[1], q[2] - b->c[2]}, dn = norm3(d);
            double f0 = 1;
            if (dn > 1e-9) {
                double n[3] = {d[0] / dn, d[1] / dn, d[2] / dn};
                f0 = 1 + 0.2 * irregular(ph, n);
            }
            best = fmin(best, sqrt(ell(b, q)) / f0);
        }
        return best;
    }
    if (st->fossa || q[0] * ph->side < 0.5) return HUGE_VAL; /* own hemisphere, cerebrum */
    double w[3] = {q[0] - ph->apex[0], q[1] - ph->apex[1], q[2] - ph->apex[2]};
    double dist = norm3(w);
    if (dist < 1e-9) return HUGE_VAL;
    double n[3] = {w[0] / dist, w[1] / dist, w[2] / dist};
    double c = dot3(n, ph->axis);
    double ang = acos(c > 1 ? 1 : c < -1 ? -1 : c);
    double t_ang = (ang / (ph->alpha_max * (1 + 0.25 * irregular(ph, n))) - 0.15) / 0.85;
    double t_rad = 1 - dist / ph->d0_max;
    return fmax(t_ang, t_rad);
}

/* Sets the early-rejection bounds for the fitted t: a cone point needs an angle below
 * alpha_max * 1.25 * (0.15 + 0.85 t) (irregularity at most +1) and a blob point
 * ell < (1.2 t)^2 (f0 at most 1.2); both with a relative margin of 1e-6. */
static void set_reject(phantom *ph) {
    double amax = ph->alpha_max * 1.25 * (0.15 + 0.85 * ph->t) * (1 + 1e-6);
    ph->rej_cos = amax >= PI ? -2 : cos(amax);
    double rb = 1.2 * ph->t * (1 + 1e-6);
    ph->rej_ell = rb * rb;
}

/* lesion_t(q) < t, with exact early rejections (set_reject) in front of the costly part. */
static int in_lesion(const phantom *ph, const double q[3], int lab, const site *st) {
    if (!ph->has_lesion || (lab != T_GM && lab != T_WM)) return 0;
    if (is_blob_territory(ph->terr)) {
        int near = 0;
        for (int e = 0; e < ph->n_emb && !near; e++) near = ell(&ph->emb[e], q) < ph->rej_ell;
        if (!near) return 0;
    } else {
        if (st->fossa || q[0] * ph->side < 0.5) return 0;
        double w[3] = {q[0] - ph->apex[0], q[1] - ph->apex[1], q[2] - ph->apex[2]};
        double dist = norm3(w);
        if (1 - dist / ph->d0_max >= ph->t) return 0;
        if (dist > 1e-9 && dot3(w, ph->axis) < ph->rej_cos * dist) return 0;
    }
    return lesion_t(ph, q, lab, st) < ph->t;
}

/* Trap slot + 1 at q (0 if none). Tissue traps: chronic takes precedence over
 * shine-through. The CSF artefact is a band of CSF: the outer part of one ventricle or the
 * CSF sheet of one sulcus, within a cone. */
static int in_trap(const phantom *ph, const double q[3], int lab, const site *st) {
    if (lab == T_GM || lab == T_WM) {
        if (ph->trap_on[TR_CHRONIC] && ell(&ph->trap[TR_CHRONIC], q) < 1) return TR_CHRONIC + 1;
        if (ph->trap_on[TR_SHINE] && ell(&ph->trap[TR_SHINE], q) < 1) return TR_SHINE + 1;
        return 0;
    }
    if (lab != T_CSF || !ph->trap_on[TR_CSF]) return 0;
    double d[3];
    if (ph->art_kind == ART_VENTRICLE) {
        if (st->vent != ph->art_idx) return 0;
        const blob *b = &ph->vent[st->vent];
        for (int i = 0; i < 3; i++) d[i] = (q[i] - b->c[i]) / b->r[i];
        double e = dot3(d, d);
        if (e < ph->art_in * ph->art_in) return 0;
        return dot3(d, ph->art_u) > ph->art_cos * sqrt(e) ? TR_CSF + 1 : 0;
    }
    if (st->sulc != ph->art_idx) return 0;
    for (int i = 0; i < 3; i++) d[i] = q[i] - CEREBRUM.c[i];
    return dot3(d, ph->art_u) > ph->art_cos * norm3(d) ? TR_CSF + 1 : 0;
}

/* What a sub-sample sees: tissue, structure, lesion or trap. */
typedef struct probe {
    int lab, fossa, lesion, trap; /* T_*, NNE_SYNTH_FOSSA_* or 0, 0/1, slot + 1 or 0 */
} probe;

static void look(const phantom *ph, const double q[3], probe *pr) {
    site st;
    pr->lab = tissue(ph, q, &st);
    pr->fossa = st.fossa;
    pr->lesion = pr->trap = 0;
    if (pr->lab == T_BG) return;
    if (in_lesion(ph, q, pr->lab, &st)) pr->lesion = 1;
    else pr->trap = in_trap(ph, q, pr->lab, &st);
}

/* ---------------------------------------------------------------------------------------- */
/* Drawing a phantom                                                                         */
/* ---------------------------------------------------------------------------------------- */

static void draw_anatomy(phantom *ph, nne_rng *r) {
    for (int i = 0; i < 3; i++) ph->scale[i] = uni(r, 0.9, 1.08);
    for (int n = 0; n < N_WARP; n++) {
        double u[3];
        unit_vec(r, u);
        double lambda = uni(r, 80, 200); /* wavelength, mm */
        for (int i = 0; i < 3; i++) {
            ph->warp[n].k[i] = u[i] * 2 * PI / lambda;
            ph->warp[n].amp[i] = uni(r, -3.5, 3.5);
        }
        ph->warp[n].phase = uni(r, 0, 2 * PI);
    }
    ph->n_sul = 8 + (int)(nne_rng_uniform(r) * (MAX_SULCI - 7));
    for (int s = 0; s < ph->n_sul; s++) {
        sulcus *su = &ph->sul[s];
        unit_vec(r, su->u);
        if (su->u[2] < -0.5) su->u[2] = -su->u[2]; /* mostly lateral / superior surfaces */
        double a[3];
        unit_vec(r, a);
        double p = dot3(a, su->u); /* sheet normal v: perpendicular to u */
        for (int i = 0; i < 3; i++) su->v[i] = a[i] - p * su->u[i];
        if (norm3(su->v) < 1e-3) su->v[0] = 1, su->v[1] = su->v[2] = 0;
        normalize3(su->v);
        su->cosr = cos(uni(r, 0.25, 0.5));
        su->depth = uni(r, 8, 18);
        su->half = SULC_HALF;
        ph->sul_depth = fmax(ph->sul_depth, su->depth);
    }
    double vs = uni(r, 0.7, 1.6); /* ventricle size (atrophy) */
    for (int v = 0; v < 2; v++) {
        double sx = v ? 1 : -1;
        ph->vent[v] = (blob){{sx * 8 * sqrt(vs), 2 + uni(r, -2, 2), 15},
                             {4.5 * vs, 22 * sqrt(vs), 8 * sqrt(vs)}};
        ph->deep[v] = (blob){{sx * 20, -2, 4}, {9, 16, 9}};
    }
    ph->cortex = uni(r, 2.5, 3.5);
    ph->adc[T_BG] = 0, ph->adc[T_CSF] = uni(r, 2.8, 3.2);
    ph->adc[T_GM] = uni(r, 0.80, 0.90), ph->adc[T_WM] = uni(r, 0.65, 0.75);
    ph->s0[T_BG] = 0, ph->s0[T_CSF] = uni(r, 2.0, 2.6);
    ph->s0[T_GM] = uni(r, 1.15, 1.3), ph->s0[T_WM] = 1.0;
    for (int t = 0; t < 4; t++) ph->dwi0[t] = ph->s0[t] * exp(-ph->adc[t]);
}

/* Territory weights in percent, in NNE_SYNTH_TERR_* order (docs/SYNTH.md). */
static const int TERR_WEIGHT[NNE_SYNTH_TERR_COUNT] = {40, 10, 15, 10, 13, 12};

/* Lesion geometry at t = 1 and the target volume (mL); 0 for a trap-only case. */
static double draw_lesion(phantom *ph, const nne_synth_params *p, nne_rng *r) {
    int trap_only = nne_rng_uniform(r) < p->p_trap_only;
    double u = nne_rng_uniform(r) * 100;
    ph->terr = NNE_SYNTH_TERR_COUNT - 1;
    for (int k = 0, acc = 0; k < NNE_SYNTH_TERR_COUNT; k++)
        if (u < (acc += TERR_WEIGHT[k])) {
            ph->terr = k;
            break;
        }
    ph->side = nne_rng_uniform(r) < 0.5 ? -1 : 1;
    double s = ph->side, target;
    for (int i = 0; i < N_IRR; i++) {
        unit_vec(r, ph->irr_k[i]);
        double f = uni(r, 2, 5);
        for (int k = 0; k < 3; k++) ph->irr_k[i][k] *= f;
        ph->irr_ph[i] = uni(r, 0, 2 * PI);
    }
    double ax[3] = {1, 0, 0};
    ph->alpha_max = 0, ph->d0_max = 1;
    switch (ph->terr) {
    case NNE_SYNTH_TERR_MCA: /* from the lentiform nucleus outwards, lateral */
        ph->apex[0] = s * 18, ph->apex[1] = uni(r, -5, 10), ph->apex[2] = uni(r, 0, 10);
        ax[0] = s, ax[1] = uni(r, -0.5, 0.5), ax[2] = uni(r, -0.1, 0.6);
        ph->alpha_max = 60 * PI / 180, ph->d0_max = 55;
        break;
    case NNE_SYNTH_TERR_ACA: /* medial frontal / parietal, superior */
        ph->apex[0] = s * 2, ph->apex[1] = uni(r, 5, 20), ph->apex[2] = uni(r, 0, 10);
        ax[0] = s * 0.15, ax[1] = uni(r, 0.3, 0.8), ax[2] = 1;
        ph->alpha_max = 38 * PI / 180, ph->d0_max = 55;
        break;
    case NNE_SYNTH_TERR_PCA: /* occipital lobe */
        ph->apex[0] = s * 10, ph->apex[1] = -20, ph->apex[2] = uni(r, -5, 10);
        ax[0] = s * 0.3, ax[1] = -1, ax[2] = uni(r, -0.2, 0.3);
        ph->alpha_max = 45 * PI / 180, ph->d0_max = 50;
        break;
    default:
        break;
    }
    for (int i = 0; i < 3; i++) ph->axis[i] = ax[i];
    normalize3(ph->axis);
    if (ph->terr == NNE_SYNTH_TERR_LACUNAR) {
        target = exp(uni(r, log(0.2), log(2.0)));
        double rad = cbrt(3 * target * 1000 / (4 * PI)) * 1.6; /* t = 1: ~4x the target */
        ph->n_emb = 1;
        ph->emb[0] = (blob){{s * uni(r, 12, 26), uni(r, -15, 12), uni(r, 0, 22)},
                            {rad * uni(r, 0.8, 1.2), rad * uni(r, 0.8, 1.5), rad}};
    } else if (ph->terr == NNE_SYNTH_TERR_EMBOLIC) {
        target = exp(uni(r, log(0.3), log(20.0)));
        ph->n_emb = 3 + (int)(nne_rng_uniform(r) * (MAX_EMB - 2));
        double rad = cbrt(3 * target * 1000 / (4 * PI * ph->n_emb)) * 1.6;
        for (int e = 0; e < ph->n_emb; e++) {
            double v[3];
            unit_vec(r, v); /* cortical / subcortical, inside the cerebrum */
            double d = uni(r, 0.55, 0.9);
            for (int i = 0; i < 3; i++) ph->emb[e].c[i] = CEREBRUM.c[i] + v[i] * d * CEREBRUM.r[i];
            if (ph->emb[e].c[2] < -10) ph->emb[e].c[2] = -ph->emb[e].c[2];
            double re = rad * uni(r, 0.6, 1.4);
            for (int i = 0; i < 3; i++) ph->emb[e].r[i] = re * uni(r, 0.8, 1.2);
        }
        ph->side = ph->emb[0].c[0] < 0 ? -1 : 1;
    } else if (ph->terr == NNE_SYNTH_TERR_POSTERIOR) {
        /* Vertebrobasilar: a cerebellar hemisphere (PICA/SCA, 60 %), the brainstem (pons,
         * 25 %) or both (15 %); each seed confined to its structure (seed_allows), so large
         * draws saturate at the size of that structure. */
        target = exp(uni(r, log(0.2), log(40.0)));
        double w = nne_rng_uniform(r);
        ph->fossa_sites = w < 0.60 ? NNE_SYNTH_FOSSA_CEREBELLUM
                          : w < 0.85 ? NNE_SYNTH_FOSSA_BRAINSTEM
                                     : NNE_SYNTH_FOSSA_CEREBELLUM | NNE_SYNTH_FOSSA_BRAINSTEM;
        int both = ph->fossa_sites == (NNE_SYNTH_FOSSA_CEREBELLUM | NNE_SYNTH_FOSSA_BRAINSTEM);
        double cb_ml = both ? 0.75 * target : target, bs_ml = both ? 0.25 * target : target;
        ph->n_emb = 0;
        if (ph->fossa_sites & NNE_SYNTH_FOSSA_CEREBELLUM) {
            double rad = cbrt(3 * cb_ml * 1000 / (4 * PI)) * 1.6;
            ph->emb_site[ph->n_emb] = NNE_SYNTH_FOSSA_CEREBELLUM;
            ph->emb[ph->n_emb++] =
                (blob){{s * uni(r, 14, 30), uni(r, -68, -50), uni(r, -50, -40)},
                       {rad * uni(r, 0.8, 1.2), rad * uni(r, 0.8, 1.3), rad * uni(r, 0.7, 1.0)}};
        }
        if (ph->fossa_sites & NNE_SYNTH_FOSSA_BRAINSTEM) {
            double rad = fmin(cbrt(3 * bs_ml * 1000 / (4 * PI)) * 1.6, 16);
            ph->emb_site[ph->n_emb] = NNE_SYNTH_FOSSA_BRAINSTEM;
            ph->emb[ph->n_emb++] =
                (blob){{s * uni(r, 1, 5), uni(r, -26, -18), uni(r, -60, -52)},
                       {rad * uni(r, 0.6, 0.9), rad * uni(r, 0.6, 0.9), rad * uni(r, 0.9, 1.3)}};
        }
    } else {
        target = exp(uni(r, log(p->min_ml), log(p->max_ml)));
    }
    ph->les_dwi = uni(r, 1.3, 3.0);
    ph->les_adc = uni(r, 0.45, 0.75);
    ph->has_lesion = !trap_only;
    if (trap_only) {
        ph->terr = NNE_SYNTH_TERR_NONE;
        ph->n_emb = 0, ph->fossa_sites = 0;
        target = 0;
    }
    return target;
}

/* Traps, in the hemisphere opposite to the lesion and clear of emboli. A trap-only case
 * always has a (slightly larger) shine-through and a chronic infarct with p = 0.5. */
static void draw_traps(phantom *ph, const nne_synth_params *p, nne_rng *r) {
    const int none = ph->terr == NNE_SYNTH_TERR_NONE;
    const double o = -ph->side, grow = none ? 1.3 : 1.0;
    ph->trap_on[TR_SHINE] = nne_rng_uniform(r) < (none ? 1.0 : p->p_shine);
    ph->trap[TR_SHINE] = (blob){{o * uni(r, 18, 34), uni(r, -30, 35), uni(r, 5, 35)},
                                {grow * uni(r, 4, 10), grow * uni(r, 4, 12), grow * uni(r, 4, 9)}};
    ph->trap_on[TR_CHRONIC] = nne_rng_uniform(r) < (none ? 0.5 : p->p_chronic);
    ph->trap[TR_CHRONIC] = (blob){{o * uni(r, 35, 50), uni(r, -50, 40), uni(r, -5, 30)},
                                  {uni(r, 5, 12), uni(r, 5, 14), uni(r, 5, 12)}};
    if (ph->terr == NNE_SYNTH_TERR_EMBOLIC) /* emboli are in both hemispheres: keep clear */
        for (int k = 0; k < 2; k++)
            for (int e = 0; e < ph->n_emb; e++) {
                double d[3], rr = 0;
                for (int i = 0; i < 3; i++) {
                    d[i] = ph->trap[k].c[i] - ph->emb[e].c[i];
                    rr = fmax(rr, ph->trap[k].r[i] + ph->emb[e].r[i]);
                }
                if (norm3(d) < rr + 4) ph->trap_on[k] = 0;
            }
    ph->shine_dwi = uni(r, 1.4, 2.2), ph->shine_adc = uni(r, 1.0, 1.25);
    ph->chr_dwi = uni(r, 0.4, 0.9), ph->chr_adc = uni(r, 2.0, 3.0);

    /* Bright CSF artefact (flow / Gibbs-like): a band of bright DWI with CSF-high ADC, either
     * along the outer wall of the ventricle on the trap side, or in a lateral sulcus on that
     * side, which is then widened (atrophy-like) so the band is a few voxels thick. */
    ph->trap_on[TR_CSF] = nne_rng_uniform(r) < p->p_csf;
    ph->art_kind = nne_rng_uniform(r) < 0.5 ? ART_VENTRICLE : ART_SULCUS;
    double pick = nne_rng_uniform(r);
    int cand[MAX_SULCI], n_cand = 0;
    for (int s = 0; s < ph->n_sul; s++)
        if (ph->sul[s].u[0] * o > 0.3) cand[n_cand++] = s;
    if (n_cand == 0) ph->art_kind = ART_VENTRICLE;
    unit_vec(r, ph->art_u);
    double half_angle = uni(r, 0.6, 1.0), widen = uni(r, 1.6, 2.4);
    ph->art_in = uni(r, 0.4, 0.65);
    if (ph->art_kind == ART_VENTRICLE) {
        ph->art_idx = o > 0 ? 1 : 0;
        ph->art_cos = cos(half_angle);
    } else {
        ph->art_idx = cand[(int)(pick * n_cand)];
        sulcus *su = &ph->sul[ph->art_idx];
        memcpy(ph->art_u, su->u, sizeof ph->art_u);
        ph->art_cos = cos(acos(su->cosr) * half_angle * 0.8);
        if (ph->trap_on[TR_CSF]) su->half = widen;
    }
    ph->art_dwi = uni(r, 2.5, 4.0) * ph->dwi0[T_WM] / ph->dwi0[T_CSF];
    ph->art_adc = uni(r, 0.8, 1.0);
}

/* FLAIR contrast: CSF dark, GM above WM; acute lesion mildly bright (DWI-FLAIR mismatch of
 * early stroke), chronic infarct and shine-through (T2-bright) clearly bright. */
static void draw_flair_contrast(phantom *ph, nne_rng *r) {
    ph->fl[T_BG] = 0, ph->fl[T_CSF] = uni(r, 0.08, 0.2);
    ph->fl[T_GM] = uni(r, 1.15, 1.35), ph->fl[T_WM] = 1.0;
    ph->fl_les = uni(r, 1.1, 1.4);
    ph->fl_shine = uni(r, 1.4, 2.0);
    ph->fl_chr = uni(r, 1.8, 2.6);
}

static int cmp_double(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* World-space box [bmin, bmax] outside which lesion_t > 1 for sure: the phantom-space box of
 * every seed at t = 1 (blobs: 1.2 x semi-axes) or of the cerebrum (cones), mapped through
 * p = scale * q - warp with |warp_i| <= sum of the amplitudes. */
static void lesion_box(const phantom *ph, double bmin[3], double bmax[3]) {
    double wsum[3] = {0, 0, 0};
    for (int n = 0; n < N_WARP; n++)
        for (int i = 0; i < 3; i++) wsum[i] += fabs(ph->warp[n].amp[i]);
    const int blobs = is_blob_territory(ph->terr);
    const int nb = blobs ? ph->n_emb : 1;
    for (int i = 0; i < 3; i++) bmin[i] = HUGE_VAL, bmax[i] = -HUGE_VAL;
    for (int e = 0; e < nb; e++) {
        const blob *b = blobs ? &ph->emb[e] : &CEREBRUM;
        const double f = blobs ? 1.2 : 1.0;
        for (int i = 0; i < 3; i++) {
            double lo = ph->scale[i] * (b->c[i] - f * b->r[i]) - wsum[i];
            double hi = ph->scale[i] * (b->c[i] + f * b->r[i]) + wsum[i];
            bmin[i] = fmin(bmin[i], lo), bmax[i] = fmax(bmax[i], hi);
        }
    }
}

/* Fits ph->t in [0, 1] so that the lesion volume on a CAL_STEP world grid is closest to
 * target_ml: the thresholds lesion_t of the tissue points are ranked and t is put midway
 * between the k-th and (k+1)-th, k = target / grid-point volume (capped at t = 1). Only the
 * grid points inside lesion_box are evaluated (the others cannot join the lesion). */
static nne_status fit_lesion(nne_ctx *ctx, phantom *ph, double target_ml) {
    const double lo[3] = {-90, -105, -80}, hi[3] = {90, 105, 85};
    int64_t n[3], a[3], b[3], cnt = 0;
    double bmin[3], bmax[3];
    lesion_box(ph, bmin, bmax);
    for (int i = 0; i < 3; i++) {
        n[i] = (int64_t)((hi[i] - lo[i]) / CAL_STEP) + 1;
        a[i] = (int64_t)fmax(0, floor((bmin[i] - lo[i]) / CAL_STEP));
        b[i] = (int64_t)fmin((double)(n[i] - 1), ceil((bmax[i] - lo[i]) / CAL_STEP));
    }
    int64_t tot = n[0] * n[1] * n[2];
    double *th = malloc((size_t)tot * sizeof *th); /* [cnt] thresholds <= 1 */
    if (!th) return nne_fail(ctx, NNE_ERR_NOMEM, "synth: out of memory (calibration grid)");
    for (int64_t k = a[2]; k <= b[2]; k++)
        for (int64_t j = a[1]; j <= b[1]; j++)
            for (int64_t i = a[0]; i <= b[0]; i++) {
                double pw[3] = {lo[0] + (double)i * CAL_STEP, lo[1] + (double)j * CAL_STEP,
                                lo[2] + (double)k * CAL_STEP}, q[3];
                to_phantom(ph, pw, q);
                site st;
                int lab = tissue(ph, q, &st);
                double t = lesion_t(ph, q, lab, &st);
                if (t <= 1) th[cnt++] = t;
            }
    qsort(th, (size_t)cnt, sizeof *th, cmp_double);
    const double dv = CAL_STEP * CAL_STEP * CAL_STEP / 1000; /* mL per grid point */
    int64_t want = (int64_t)(target_ml / dv + 0.5);
    if (want < 1) want = 1;
    if (cnt == 0 || want >= cnt) ph->t = 1;
    else ph->t = 0.5 * (th[want - 1] + th[want]);
    if (ph->t < 0) ph->t = 0;
    free(th);
    set_reject(ph);
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Acquisition                                                                               */
/* ---------------------------------------------------------------------------------------- */

typedef struct grid_choice {
    double sp[3];
    int64_t dim[3];
} grid_choice;

/* (i, j, k) spacing and dims: 2 mm isotropic, 1x1x5 mm, 0.9x0.9x3 mm (FULL) and their
 * coarse versions with the same anisotropy pattern (SMALL). */
static const grid_choice GRIDS[2][3] = {
    {{{4, 4, 4}, {48, 56, 42}}, {{3.5, 3.5, 6}, {55, 64, 28}}, {{3.6, 3.6, 4.5}, {53, 62, 37}}},
    {{{2, 2, 2}, {112, 112, 73}}, {{1, 1, 5}, {224, 224, 30}}, {{0.9, 0.9, 3}, {248, 248, 49}}},
};

/* FLAIR grids: 3-D 1 mm isotropic, 2-D 0.9x0.9x3 mm and 0.7x0.7x6 mm (FULL) and coarse
 * versions (SMALL). */
static const grid_choice FLAIR_GRIDS[2][3] = {
    {{{3, 3, 3}, {60, 72, 56}}, {{3.6, 3.6, 6}, {53, 62, 28}}, {{2.8, 2.8, 7}, {68, 80, 24}}},
    {{{1, 1, 1}, {176, 208, 160}}, {{0.9, 0.9, 3}, {208, 240, 54}},
     {{0.7, 0.7, 6}, {260, 300, 27}}},
};

/* Builds the voxel -> world affine (float32-exact entries) of a random oblique grid. The
 * rotation is defined by a quaternion with float32 (b, c, d) (returned in bcd) and
 * a = sqrt(1 - b^2 - c^2 - d^2) as a NIfTI reader recomputes it; set_quatern stores exactly
 * these (b, c, d) in the images, so the qform written agrees with the sform to float32
 * rounding even near 180 degrees (LPS-like storage), where a quaternion re-derived from the
 * rounded matrix can be off by one float32 step in (b, c, d) and a is ill-conditioned. */
static double draw_affine(const grid_choice *g, nne_rng *r, double a[4][4], double bcd[3]) {
    double u[3];
    unit_vec(r, u);
    double th = uni(r, 0, 15) * PI / 180, sh = sin(th / 2), ch = cos(th / 2);
    double q[4] = {ch, u[0] * sh, u[1] * sh, u[2] * sh}; /* (a, b, c, d) */
    if (nne_rng_uniform(r) < 0.5) { /* LPS-like storage: then 180 degrees about k */
        double t[4] = {-q[3], q[2], -q[1], q[0]};
        memcpy(q, t, sizeof t);
    }
    if (q[0] < 0)
        for (int i = 0; i < 4; i++) q[i] = -q[i];
    /* Readers treat a tiny a differently: NIfTI's reference code sets a = 0 and normalises
     * (b, c, d) when a^2 < 1e-7, nibabel sets a = 0 below a^2 = 3 float32 eps (3.6e-7).
     * A rotation within 0.1 degree of 180 degrees is therefore made exactly 180 degrees
     * (a = 0), with |(b, c, d)| = 1 + 5e-8 before float32 rounding (which moves |.|^2 by
     * at most 1.2e-7), so a^2 = 1 - |(b, c, d)|^2 lies in [-2.2e-7, 2e-8], where every reader
     * agrees on a = 0. */
    if (q[0] < 1e-3) {
        double n = sqrt(q[1] * q[1] + q[2] * q[2] + q[3] * q[3]) / (1 + 5e-8);
        q[0] = 0, q[1] /= n, q[2] /= n, q[3] /= n;
    }
    double b = (double)(float)q[1], c = (double)(float)q[2], d = (double)(float)q[3];
    bcd[0] = b, bcd[1] = c, bcd[2] = d;
    double qa = 1 - (b * b + c * c + d * d);
    if (qa < 1e-7) { /* a = 0: (b, c, d) normalised, as the NIfTI reference reader does */
        double n = sqrt(b * b + c * c + d * d);
        qa = 0, b /= n, c /= n, d /= n;
    } else {
        qa = sqrt(qa);
    }
    double rot[3][3] = {
        {qa * qa + b * b - c * c - d * d, 2 * (b * c - qa * d), 2 * (b * d + qa * c)},
        {2 * (b * c + qa * d), qa * qa + c * c - b * b - d * d, 2 * (c * d - qa * b)},
        {2 * (b * d - qa * c), 2 * (c * d + qa * b), qa * qa + d * d - c * c - b * b}};
    double shift[3] = {uni(r, -6, 6), uni(r, -6, 6), uni(r, -6, 6) + 5};
    for (int row = 0; row < 3; row++) {
        double t = shift[row];
        for (int col = 0; col < 3; col++) {
            a[row][col] = (double)(float)(rot[row][col] * g->sp[col]);
            t -= a[row][col] * 0.5 * (double)(g->dim[col] - 1);
        }
        a[row][3] = (double)(float)t;
    }
    a[3][0] = a[3][1] = a[3][2] = 0, a[3][3] = 1;
    return th * 180 / PI;
}

/* Puts the quaternion of draw_affine into an image made by nne_image_init_3d from the same
 * affine (proper rotation, qfac 1). */
static void set_quatern(nne_image *img, const double bcd[3]) {
    img->quatern_b = bcd[0], img->quatern_c = bcd[1], img->quatern_d = bcd[2];
}

static void draw_field(field *f, nne_rng *r) {
    for (int i = 0; i < 3; i++) {
        double u[3];
        unit_vec(r, u);
        double lambda = uni(r, 150, 350);
        for (int k = 0; k < 3; k++) f->k[i][k] = u[k] * 2 * PI / lambda;
        f->ph[i] = uni(r, 0, 2 * PI);
        f->amp[i] = uni(r, 0, 0.08);
    }
}

/* Smooth multiplicative bias field at world point p (about 0.8 .. 1.2). */
static double bias(const field *f, const double p[3]) {
    double s = 0;
    for (int i = 0; i < 3; i++) s += f->amp[i] * sin(dot3(f->k[i], p) + f->ph[i]);
    return exp(s);
}

/* A grid being sampled: geometry plus what is constant over its voxels. */
typedef struct sampler {
    double a[4][4];                       /* voxel -> world                             */
    int64_t dim[3];
    int n_sub;                            /* sub-samples per voxel: 1, 2, 4 or N_SUB    */
    double off[N_SUB][3];                 /* world offset of each sub-sample            */
    double cd[N_WARP][N_SUB], sd[N_WARP][N_SUB]; /* cos / sin of its warp phase offset  */
    double reach;                         /* phantom-space reach of a sub-sample        */
    blob hull[N_BRAIN_BLOBS];             /* world ellipsoids outside which a voxel
                                           * centre is far_outside for sure             */
} sampler;

/* Sub-samples per voxel: 2 along every axis whose spacing is at least SUB_MIN_MM, else 1
 * (partial volume matters where voxels are coarse; fine axes are point-sampled). */
#define SUB_MIN_MM 1.5

static void sampler_init(const phantom *ph, const grid_choice *g, const double a[4][4],
                         sampler *sm) {
    memcpy(sm->a, a, sizeof sm->a);
    int ns[3];
    for (int i = 0; i < 3; i++) {
        sm->dim[i] = g->dim[i];
        ns[i] = g->sp[i] >= SUB_MIN_MM ? 2 : 1;
    }
    sm->n_sub = ns[0] * ns[1] * ns[2];
    for (int s = 0; s < sm->n_sub; s++) {
        const int c[3] = {s % ns[0], (s / ns[0]) % ns[1], s / (ns[0] * ns[1])};
        double v[3];
        for (int i = 0; i < 3; i++) v[i] = ns[i] == 1 ? 0 : c[i] ? 0.25 : -0.25;
        for (int row = 0; row < 3; row++)
            sm->off[s][row] = a[row][0] * v[0] + a[row][1] * v[1] + a[row][2] * v[2];
        for (int n = 0; n < N_WARP; n++) {
            double d = dot3(ph->warp[n].k, sm->off[s]);
            sm->cd[n][s] = cos(d), sm->sd[n][s] = sin(d);
        }
    }
    /* Phantom-space reach of a sub-sample from its voxel centre: offset x (1 + warp
     * Lipschitz bound) / smallest size factor, with a factor 2 of safety. */
    double lip = 0, half = 0;
    for (int n = 0; n < N_WARP; n++) lip += norm3(ph->warp[n].k) * norm3(ph->warp[n].amp);
    for (int c = 0; c < 3; c++)
        if (ns[c] == 2) half += 0.0625 * g->sp[c] * g->sp[c];
    sm->reach = 2 * sqrt(half) * (1 + lip) / 0.9;
    /* World hull: q in lim * blob means scale * q in an ellipsoid E; the world point is
     * scale * q - warp with |warp| <= wn, so it lies in E grown by the factor
     * 1 + wn / (smallest semi-axis of E) (an ellipsoid plus a ball lies in a scaled copy). */
    double wsum[3] = {0, 0, 0};
    for (int n = 0; n < N_WARP; n++)
        for (int i = 0; i < 3; i++) wsum[i] += fabs(ph->warp[n].amp[i]);
    double wn = norm3(wsum);
    for (int b = 0; b < N_BRAIN_BLOBS; b++) {
        const blob *bb = BRAIN_BLOBS[b];
        double lim = blob_lim(bb, sm->reach), rmin = HUGE_VAL;
        for (int i = 0; i < 3; i++) rmin = fmin(rmin, ph->scale[i] * bb->r[i] * lim);
        for (int i = 0; i < 3; i++) {
            sm->hull[b].c[i] = ph->scale[i] * bb->c[i];
            sm->hull[b].r[i] = ph->scale[i] * bb->r[i] * lim * (1 + wn / rmin) * 1.001 + 1e-3;
        }
    }
}

/* The range [*lo, *hi] of i on row (j, k) whose voxel centres may be near the brain (empty
 * when *lo > *hi): the union hull of the row's intersections with the world hulls, widened
 * by one voxel. */
static void row_range(const sampler *sm, int64_t j, int64_t k, int64_t *lo, int64_t *hi) {
    double b0[3];
    for (int row = 0; row < 3; row++)
        b0[row] = sm->a[row][1] * (double)j + sm->a[row][2] * (double)k + sm->a[row][3];
    double imin = HUGE_VAL, imax = -HUGE_VAL;
    for (int b = 0; b < N_BRAIN_BLOBS; b++) {
        double qa = 0, qb = 0, qc = -1;
        for (int m = 0; m < 3; m++) {
            double u = (b0[m] - sm->hull[b].c[m]) / sm->hull[b].r[m];
            double v = sm->a[m][0] / sm->hull[b].r[m];
            qa += v * v, qb += u * v, qc += u * u;
        }
        double disc = qb * qb - qa * qc;
        if (qa <= 0 || disc < 0) continue;
        double sq = sqrt(disc);
        imin = fmin(imin, (-qb - sq) / qa);
        imax = fmax(imax, (-qb + sq) / qa);
    }
    if (imin > imax) {
        *lo = 0, *hi = -1;
        return;
    }
    double last = (double)(sm->dim[0] - 1);
    *lo = (int64_t)fmax(0, floor(imin) - 1);
    *hi = (int64_t)fmin(last, ceil(imax) + 1);
}

/* Phantom points of the sub-samples of the voxel centred at world point pc. Returns 0 (and
 * leaves qs unset) when the voxel is far outside the brain. The warp of a sub-sample is
 * sin(theta + delta) = sin(theta) cos(delta) + cos(theta) sin(delta), delta per grid. */
static int voxel_points(const phantom *ph, const sampler *sm, const double pc[3],
                        double qs[N_SUB][3]) {
    double st[N_WARP], ct[N_WARP], qc[3] = {pc[0], pc[1], pc[2]};
    for (int n = 0; n < N_WARP; n++) {
        double th = dot3(ph->warp[n].k, pc) + ph->warp[n].phase;
        st[n] = sin(th), ct[n] = cos(th);
        for (int i = 0; i < 3; i++) qc[i] += ph->warp[n].amp[i] * st[n];
    }
    for (int i = 0; i < 3; i++) qc[i] /= ph->scale[i];
    if (far_outside(qc, sm->reach)) return 0;
    for (int s = 0; s < sm->n_sub; s++) {
        double w[3];
        for (int i = 0; i < 3; i++) w[i] = pc[i] + sm->off[s][i];
        for (int n = 0; n < N_WARP; n++) {
            double sn = st[n] * sm->cd[n][s] + ct[n] * sm->sd[n][s];
            for (int i = 0; i < 3; i++) w[i] += ph->warp[n].amp[i] * sn;
        }
        for (int i = 0; i < 3; i++) qs[s][i] = w[i] / ph->scale[i];
    }
    return 1;
}

/* World point of voxel (i, j, k). */
static void voxel_world(const double a[4][4], int64_t i, int64_t j, int64_t k, double p[3]) {
    for (int row = 0; row < 3; row++)
        p[row] = a[row][0] * (double)i + a[row][1] * (double)j + a[row][2] * (double)k +
                 a[row][3];
}

/* Rician magnitude of signal s with noise sigma (two normal draws). */
static double rician(nne_rng *r, double s, double sigma) {
    double n1 = nne_rng_normal(r) * sigma, n2 = nne_rng_normal(r) * sigma;
    return sqrt((s + n1) * (s + n1) + n2 * n2);
}

/* Per-case acquisition draws of the DWI/ADC grid. */
typedef struct acq {
    field bias;
    double scale, snr, adc_sigma;
} acq;

/* Counts gathered while sampling the DWI/ADC grid. */
typedef struct tally {
    int64_t lesion, trap[N_TRAP];
} tally;

/* Samples DWI, ADC, mask, traps and anat (img[0..4], zero-filled) of grid sm. */
static void acquire_dwi(const phantom *ph, const sampler *sm, const acq *aq, nne_rng *r,
                        nne_image *const img[5], tally *tl) {
    const double sigma = ph->dwi0[T_WM] / aq->snr; /* Rician sigma, before scaling */
    const int64_t X = sm->dim[0], Y = sm->dim[1], half = sm->n_sub / 2;
    double qs[N_SUB][3];
    memset(tl, 0, sizeof *tl);
    for (int64_t k = 0; k < sm->dim[2]; k++)
        for (int64_t j = 0; j < Y; j++) {
            int64_t lo, hi;
            row_range(sm, j, k, &lo, &hi);
            for (int64_t i = lo; i <= hi; i++) {
                const int64_t idx = (k * Y + j) * X + i;
                double pc[3];
                voxel_world(sm->a, i, j, k, pc);
                if (!voxel_points(ph, sm, pc, qs)) continue; /* no sub-sample in the brain */
                double sd = 0, sa = 0;
                int nb = 0, nl = 0, nf = 0, nt[N_TRAP] = {0, 0, 0}, nlab[4] = {0, 0, 0, 0};
                for (int s = 0; s < sm->n_sub; s++) {
                    probe pr;
                    look(ph, qs[s], &pr);
                    if (pr.lab == T_BG) continue;
                    nb++, nlab[pr.lab]++, nf += pr.fossa != 0;
                    double adc = ph->adc[pr.lab], dwi = ph->dwi0[pr.lab];
                    if (pr.lesion) {
                        nl++;
                        dwi *= ph->les_dwi, adc *= ph->les_adc;
                    } else if (pr.trap) {
                        nt[pr.trap - 1]++;
                        dwi *= pr.trap - 1 == TR_SHINE     ? ph->shine_dwi
                               : pr.trap - 1 == TR_CHRONIC ? ph->chr_dwi
                                                           : ph->art_dwi;
                        adc *= pr.trap - 1 == TR_SHINE     ? ph->shine_adc
                               : pr.trap - 1 == TR_CHRONIC ? ph->chr_adc
                                                           : ph->art_adc;
                    }
                    sd += dwi;
                    sa += adc;
                }
                if (nb == 0) continue; /* skull-stripped: 0 outside the brain */
                double dw = rician(r, sd / sm->n_sub * bias(&aq->bias, pc), sigma) * aq->scale;
                double ad = sa / sm->n_sub + nne_rng_normal(r) * aq->adc_sigma;
                img[0]->data[idx] = (float)dw;
                img[1]->data[idx] = (float)(ad > 0 ? ad : 0);
                if (nl >= half) {
                    img[2]->data[idx] = 1;
                    tl->lesion++;
                } else if (nl == 0) {
                    static const int order[N_TRAP] = {TR_CHRONIC, TR_SHINE, TR_CSF};
                    for (int o = 0; o < N_TRAP; o++)
                        if (nt[order[o]] >= half) {
                            img[3]->data[idx] = (float)TRAP_BIT[order[o]];
                            tl->trap[order[o]]++;
                            break;
                        }
                }
                int best = 0;
                for (int t = T_CSF; t <= T_WM; t++)
                    if (nlab[t] >= half && nlab[t] > nlab[best]) best = t;
                img[4]->data[idx] = (float)(best + (nf >= half ? NNE_SYNTH_ANAT_FOSSA : 0));
            }
        }
}

/* Per-case acquisition draws of the FLAIR grid. */
typedef struct flair_acq {
    field bias;
    double scale, snr;
} flair_acq;

/* Samples the FLAIR (zero-filled img) of grid sm. */
static void acquire_flair(const phantom *ph, const sampler *sm, const flair_acq *aq, nne_rng *r,
                          nne_image *img) {
    const double sigma = ph->fl[T_WM] / aq->snr;
    const int64_t X = sm->dim[0], Y = sm->dim[1];
    double qs[N_SUB][3];
    for (int64_t k = 0; k < sm->dim[2]; k++)
        for (int64_t j = 0; j < Y; j++) {
            int64_t lo, hi;
            row_range(sm, j, k, &lo, &hi);
            for (int64_t i = lo; i <= hi; i++) {
                double pc[3];
                voxel_world(sm->a, i, j, k, pc);
                if (!voxel_points(ph, sm, pc, qs)) continue;
                double sf = 0;
                int nb = 0;
                for (int s = 0; s < sm->n_sub; s++) {
                    probe pr;
                    look(ph, qs[s], &pr);
                    if (pr.lab == T_BG) continue;
                    nb++;
                    double f = ph->fl[pr.lab];
                    if (pr.lesion) f *= ph->fl_les;
                    else if (pr.trap - 1 == TR_SHINE) f *= ph->fl_shine;
                    else if (pr.trap - 1 == TR_CHRONIC) f *= ph->fl_chr;
                    sf += f; /* the CSF artefact is a DWI artefact: CSF stays dark */
                }
                if (nb == 0) continue;
                img->data[(k * Y + j) * X + i] =
                    (float)(rician(r, sf / sm->n_sub * bias(&aq->bias, pc), sigma) * aq->scale);
            }
        }
}

/* scl_slope that maps the largest value of img to INT16_TOP, rounded to float32 (as a
 * NIfTI-1 header stores it). */
static double int16_slope(const nne_image *img) {
    double mx = 0;
    int64_t n = nne_image_n_voxels(img);
    for (int64_t v = 0; v < n; v++) mx = fmax(mx, (double)img->data[v]);
    return mx > 0 ? (double)(float)(mx / INT16_TOP) : 1.0;
}

/* ---------------------------------------------------------------------------------------- */
/* Public                                                                                    */
/* ---------------------------------------------------------------------------------------- */

nne_synth_params nne_synth_default_params(void) {
    nne_synth_params p = {.size = NNE_SYNTH_SIZE_SMALL,
                          .p_shine = 0.4,
                          .p_chronic = 0.3,
                          .min_ml = 0.2,
                          .max_ml = 150.0,
                          .p_csf = 0.3,
                          .p_trap_only = 0.0,
                          .storage = NNE_SYNTH_STORAGE_MIXED,
                          .p_int16 = 0.3,
                          .flair = 0};
    return p;
}

const char *nne_synth_territory_name(int territory) {
    static const char *const names[NNE_SYNTH_TERR_COUNT] = {
        "MCA", "ACA", "PCA", "lacunar", "embolic", "posterior_fossa"};
    if (territory == NNE_SYNTH_TERR_NONE) return "none";
    return territory >= 0 && territory < NNE_SYNTH_TERR_COUNT ? names[territory] : "unknown";
}

void nne_synth_result_free(nne_synth_result *r) {
    if (!r) return;
    nne_image_free(r->dwi);
    nne_image_free(r->adc);
    nne_image_free(r->mask);
    nne_image_free(r->traps);
    nne_image_free(r->anat);
    nne_image_free(r->flair);
    r->dwi = r->adc = r->mask = r->traps = r->anat = r->flair = NULL;
}

static int prob_ok(double p) { return p >= 0 && p <= 1; }

nne_status nne_synth_case(nne_ctx *ctx, const nne_synth_params *p, uint64_t seed, int index,
                          nne_synth_result *out) {
    if (!p || !out || index < 0 ||
        (p->size != NNE_SYNTH_SIZE_SMALL && p->size != NNE_SYNTH_SIZE_FULL) ||
        !(p->min_ml > 0) || !(p->max_ml >= p->min_ml) || !prob_ok(p->p_shine) ||
        !prob_ok(p->p_chronic) || !prob_ok(p->p_csf) || !prob_ok(p->p_trap_only) ||
        !prob_ok(p->p_int16) || p->storage < NNE_SYNTH_STORAGE_FLOAT64 ||
        p->storage > NNE_SYNTH_STORAGE_MIXED || (p->flair != 0 && p->flair != 1))
        return nne_fail(ctx, NNE_ERR_ARG, "synth: invalid parameters or index %d", index);
    memset(out, 0, sizeof *out);
    nne_rng rng = nne_rng_init(seed);
    rng.counter = (uint64_t)index << 32; /* a disjoint sub-stream per case */
    nne_rng *r = &rng;

    phantom *ph = calloc(1, sizeof *ph);
    sampler *sm = calloc(1, sizeof *sm);
    nne_image *img[6] = {NULL, NULL, NULL, NULL, NULL, NULL}; /* dwi adc mask traps anat flair */
    nne_status st = NNE_OK;
    if (!ph || !sm) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "synth: out of memory");
        goto fail;
    }
    draw_anatomy(ph, r);
    double target = draw_lesion(ph, p, r);
    draw_traps(ph, p, r);
    const grid_choice *g = &GRIDS[p->size][(int)(nne_rng_uniform(r) * 3)];
    double a[4][4], bcd[3], fbcd[3];
    out->oblique_deg = draw_affine(g, r, a, bcd);
    acq aq;
    draw_field(&aq.bias, r);
    aq.scale = exp(uni(r, log(100.0), log(2000.0)));
    aq.snr = uni(r, 12, 40), aq.adc_sigma = uni(r, 0.02, 0.06);
    double u_store = nne_rng_uniform(r);
    int int16 = p->storage == NNE_SYNTH_STORAGE_INT16 ||
                (p->storage == NNE_SYNTH_STORAGE_MIXED && u_store < p->p_int16);
    if (ph->has_lesion && (st = fit_lesion(ctx, ph, target)) != NNE_OK) goto fail;

    for (int m = 0; m < 5; m++) {
        if ((st = nne_image_init_3d(ctx, g->dim, (const double(*)[4])a, &img[m])) != NNE_OK)
            goto fail;
        set_quatern(img[m], bcd);
    }
    sampler_init(ph, g, (const double(*)[4])a, sm);
    tally tl;
    acquire_dwi(ph, sm, &aq, r, img, &tl);

    if (p->flair) {
        /* Own sub-stream: DWI/ADC/mask do not depend on whether a FLAIR is made. */
        nne_rng rf = nne_rng_init(seed);
        rf.counter = ((uint64_t)index << 32) | ((uint64_t)1 << 31);
        draw_flair_contrast(ph, &rf);
        const grid_choice *gf = &FLAIR_GRIDS[p->size][(int)(nne_rng_uniform(&rf) * 3)];
        out->flair_oblique_deg = draw_affine(gf, &rf, out->flair_affine, fbcd);
        flair_acq fa;
        draw_field(&fa.bias, &rf);
        fa.scale = exp(uni(&rf, log(100.0), log(1000.0)));
        fa.snr = uni(&rf, 15, 40);
        if ((st = nne_image_init_3d(ctx, gf->dim, (const double(*)[4])out->flair_affine,
                                    &img[5])) != NNE_OK)
            goto fail;
        set_quatern(img[5], fbcd);
        sampler_init(ph, gf, (const double(*)[4])out->flair_affine, sm);
        acquire_flair(ph, sm, &fa, &rf, img[5]);
        for (int i = 0; i < 3; i++) out->flair_spacing[i] = gf->sp[i];
    }

    out->dwi = img[0], out->adc = img[1], out->mask = img[2], out->traps = img[3];
    out->anat = img[4], out->flair = img[5];
    out->territory = ph->terr;
    out->side = ph->side;
    out->n_emboli = ph->terr == NNE_SYNTH_TERR_NONE ? 0 : is_blob_territory(ph->terr) &&
                    ph->terr != NNE_SYNTH_TERR_LACUNAR ? ph->n_emb : 1;
    out->posterior_site = ph->terr == NNE_SYNTH_TERR_POSTERIOR ? ph->fossa_sites : 0;
    for (int t = 0; t < N_TRAP; t++)
        if (tl.trap[t]) out->traps_present |= TRAP_BIT[t];
    out->target_ml = target;
    out->lesion_voxels = tl.lesion;
    double vv = g->sp[0] * g->sp[1] * g->sp[2]; /* mm^3 per voxel */
    out->lesion_ml = (double)tl.lesion * vv / 1000;
    for (int i = 0; i < 3; i++) out->spacing[i] = g->sp[i];
    memcpy(out->affine, a, sizeof a);
    out->dwi_scale = aq.scale;
    out->snr = aq.snr;
    out->storage = int16 ? NNE_SYNTH_STORAGE_INT16 : NNE_SYNTH_STORAGE_FLOAT64;
    if (int16) {
        out->dwi_slope = int16_slope(img[0]);
        out->adc_slope = (double)(float)0.001; /* 10^-6 mm^2/s integers */
        if (img[5]) out->flair_slope = int16_slope(img[5]);
    }
    out->seed = seed;
    out->index = index;
    free(sm);
    free(ph);
    return NNE_OK;
fail:
    for (int m = 0; m < 6; m++) nne_image_free(img[m]);
    free(sm);
    free(ph);
    memset(out, 0, sizeof *out);
    return st;
}

static void add_affine(cJSON *j, const char *key, const double a[4][4]) {
    cJSON *arr = cJSON_AddArrayToObject(j, key);
    if (arr)
        for (int row = 0; row < 4; row++)
            cJSON_AddItemToArray(arr, cJSON_CreateDoubleArray(a[row], 4));
}

static void add_shape(cJSON *j, const nne_image *im) {
    double d[3] = {(double)im->dim[1], (double)im->dim[2], (double)im->dim[3]};
    cJSON_AddItemToObject(j, "shape", cJSON_CreateDoubleArray(d, 3));
}

char *nne_synth_manifest(const nne_synth_result *r, const char *case_id) {
    cJSON *j = cJSON_CreateObject(), *arr;
    if (!j) return NULL;
    const int none = r->territory == NNE_SYNTH_TERR_NONE;
    if (case_id) cJSON_AddStringToObject(j, "case", case_id);
    char seed[32];
    snprintf(seed, sizeof seed, "%llu", (unsigned long long)r->seed);
    cJSON_AddStringToObject(j, "seed", seed); /* string: 64-bit seeds do not fit a double */
    cJSON_AddNumberToObject(j, "index", r->index);
    cJSON_AddStringToObject(j, "territory", nne_synth_territory_name(r->territory));
    if (r->territory == NNE_SYNTH_TERR_POSTERIOR) {
        int cb = r->posterior_site & NNE_SYNTH_FOSSA_CEREBELLUM;
        int bs = r->posterior_site & NNE_SYNTH_FOSSA_BRAINSTEM;
        cJSON_AddStringToObject(j, "posterior_site", cb && bs ? "cerebellum+brainstem"
                                                     : cb     ? "cerebellum"
                                                              : "brainstem");
    }
    cJSON_AddStringToObject(j, "side", none ? "none" : r->side > 0 ? "right" : "left");
    cJSON_AddNumberToObject(j, "n_lesion_seeds", r->n_emboli);
    cJSON_AddNumberToObject(j, "target_ml", r->target_ml);
    cJSON_AddNumberToObject(j, "lesion_ml", r->lesion_ml);
    cJSON_AddNumberToObject(j, "lesion_voxels", (double)r->lesion_voxels);
    if ((arr = cJSON_AddArrayToObject(j, "traps")) != NULL) {
        if (r->traps_present & NNE_SYNTH_TRAP_SHINE)
            cJSON_AddItemToArray(arr, cJSON_CreateString("t2_shine_through"));
        if (r->traps_present & NNE_SYNTH_TRAP_CHRONIC)
            cJSON_AddItemToArray(arr, cJSON_CreateString("chronic_lesion"));
        if (r->traps_present & NNE_SYNTH_TRAP_CSF)
            cJSON_AddItemToArray(arr, cJSON_CreateString("bright_csf"));
    }
    cJSON_AddItemToObject(j, "spacing", cJSON_CreateDoubleArray(r->spacing, 3));
    if (r->dwi) add_shape(j, r->dwi);
    add_affine(j, "affine", r->affine);
    cJSON_AddNumberToObject(j, "oblique_deg", r->oblique_deg);
    cJSON_AddNumberToObject(j, "dwi_scale", r->dwi_scale);
    cJSON_AddNumberToObject(j, "snr", r->snr);
    cJSON_AddStringToObject(j, "adc_units", "1e-3 mm^2/s");
    const int i16 = r->storage == NNE_SYNTH_STORAGE_INT16;
    cJSON_AddStringToObject(j, "storage", i16 ? "int16" : "float64");
    if (i16) {
        cJSON *sl = cJSON_AddObjectToObject(j, "scl_slope");
        if (sl) {
            cJSON_AddNumberToObject(sl, "dwi", r->dwi_slope);
            cJSON_AddNumberToObject(sl, "adc", r->adc_slope);
            if (r->flair) cJSON_AddNumberToObject(sl, "flair", r->flair_slope);
        }
    }
    if (r->flair) {
        cJSON *f = cJSON_AddObjectToObject(j, "flair");
        if (f) {
            cJSON_AddItemToObject(f, "spacing", cJSON_CreateDoubleArray(r->flair_spacing, 3));
            add_shape(f, r->flair);
            add_affine(f, "affine", r->flair_affine);
            cJSON_AddNumberToObject(f, "oblique_deg", r->flair_oblique_deg);
        }
    }
    char *text = cJSON_Print(j);
    cJSON_Delete(j);
    return text;
}
