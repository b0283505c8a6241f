/*
 * synth_anat.c - anatomy maps for synthetic cases (`nnedge synth --anatomy DIR`): a T1, a
 * grey-matter and a white-matter probability map on one grid (the MNI ICBM152 2009 maps that
 * tools/fetch_mni.sh takes from the nilearn wheel), sampled by src/synth.c instead of its
 * procedural phantom. See synth.h for the contract and docs/SYNTH.md for the model.
 *
 * DESIGN
 * The maps are read with our NIfTI reader and checked to share one grid (dims, affine to
 * 1e-4 mm). GM and WM are kept as float32 probabilities; the T1 is reduced to a brain mask
 * (T1 > 0: the template is brain-extracted), which also covers the CSF the maps do not
 * label (ventricles, sulci, cisterns). A point m (template mm) is mapped to voxel
 * coordinates through the inverse affine and the three maps are sampled trilinearly (0
 * outside the grid); CSF = max(0, brain - GM - WM), so partial volume of CSF against tissue
 * and background follows from the maps themselves.
 *
 * The maps label neither the cerebellum nor the brainstem, so nne_synth_mni_fossa draws them
 * with a fixed geometric rule in MNI space, fitted by eye to the ICBM152 2009 template
 * (midline profiles of GM + WM at z = -15 .. -65 mm):
 *   brainstem   -80 < z < -8 and within an elliptic cylinder around the axis x = 0,
 *               y = -25 (z >= -30) or -25 + 0.5 (z + 30) (below: the medulla leans back),
 *               semi-axes 15 x 12 mm (x, y) above z = -42, 11 x 10 mm below;
 *   cerebellum  not brainstem, below the tentorium z < -4 - 0.35 max(0, -55 - y) - 0.3 |x|
 *               and behind the petrous ridge y < -38 - 0.5 max(0, |x| - 20).
 * Both are approximations (a few mm at the boundaries), good enough to confine posterior-
 * fossa lesions and to keep supratentorial ones out.
 *
 * Memory: two float32 maps and one byte mask, 9 bytes per template voxel (78 MB for the
 * 197 x 233 x 189 MNI grid).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "sha256.h"
#include "synth.h"

#define GRID_TOL 1e-4 /* mm: largest affine difference between maps on "one grid"     */

struct nne_synth_anatomy {
    int64_t dim[3];       /* i, j, k voxels of the common grid                           */
    float *gm, *wm;       /* [dim2][dim1][dim0] probabilities in [0, 1]                  */
    unsigned char *brain; /* [dim2][dim1][dim0] 1 where T1 > 0                           */
    double inv[3][4];     /* template mm -> voxel (inverse of the affine)                */
    double lo[3], hi[3];  /* template box holding every non-zero sample                  */
    char sha[3][65];      /* sha256 hex of the T1, GM, WM files                          */
};

static const char *const MAP_NAME[3] = {"mni_t1.nii.gz", "mni_gm.nii.gz", "mni_wm.nii.gz"};

/* sha256 of a file into hex[65]; returns 0 on success. */
static int file_sha256(const char *path, char hex[65]) {
    FILE *f = fopen(path, "rb");
    if (!f) return -1;
    unsigned char buf[65536], d[NNE_SHA256_LEN];
    nne_sha256_state s;
    nne_sha256_init(&s);
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) nne_sha256_update(&s, buf, n);
    int bad = ferror(f);
    fclose(f);
    if (bad) return -1;
    nne_sha256_final(&s, d);
    nne_sha256_hex(d, hex);
    return 0;
}

/* Inverse of the voxel -> world affine a (rows 0..2) into inv; returns 0 if singular. */
static int invert_affine(const double a[4][4], double inv[3][4]) {
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                 a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if (!(fabs(det) > 1e-12)) return 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
            inv[r][c] = (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]) / det;
        }
    for (int r = 0; r < 3; r++)
        inv[r][3] = -(inv[r][0] * a[0][3] + inv[r][1] * a[1][3] + inv[r][2] * a[2][3]);
    return 1;
}

/* Checks that a probability map holds values in [0, 1] (or [0, 255] for uint8, then
 * divided by 255 in place). */
static nne_status check_prob(nne_ctx *ctx, const char *path, nne_image *im) {
    const int64_t n = nne_image_n_voxels(im);
    float lo = 0, hi = 0;
    for (int64_t v = 0; v < n; v++) {
        float x = im->data[v];
        if (!(x >= lo)) lo = x; /* catches NaN too */
        if (x > hi) hi = x;
    }
    if (!(lo >= 0))
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: probability map has values below 0 or NaN",
                        path);
    if (im->datatype == NNE_DT_UINT8 && hi > 1.0f) {
        for (int64_t v = 0; v < n; v++) im->data[v] /= 255.0f;
        return NNE_OK;
    }
    if (hi > 1.0f + 1e-5f)
        return nne_fail(ctx, NNE_ERR_FORMAT,
                        "%s: probability map has values up to %g (expected 0..1, or 0..255 "
                        "as uint8)",
                        path, (double)hi);
    return NNE_OK;
}

void nne_synth_anatomy_free(nne_synth_anatomy *a) {
    if (!a) return;
    free(a->gm);
    free(a->wm);
    free(a->brain);
    free(a);
}

nne_status nne_synth_anatomy_load(nne_ctx *ctx, const char *dir, nne_synth_anatomy **out) {
    nne_image *im[3] = {NULL, NULL, NULL}; /* t1 gm wm */
    nne_synth_anatomy *a = calloc(1, sizeof *a);
    char path[3][4200];
    double aff[3][4][4];
    nne_status st = NNE_OK;
    if (!a) return nne_fail(ctx, NNE_ERR_NOMEM, "anatomy: out of memory");
    for (int m = 0; m < 3; m++) {
        snprintf(path[m], sizeof path[m], "%s/%s", dir, MAP_NAME[m]);
        if ((st = nne_image_read(ctx, path[m], &im[m])) != NNE_OK) goto fail;
        if (im[m]->ndim < 3 || im[m]->ndim > 4 || (im[m]->ndim == 4 && im[m]->dim[4] != 1)) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: anatomy map must be 3-D (ndim %d)",
                          path[m], im[m]->ndim);
            goto fail;
        }
        nne_image_affine(im[m], aff[m]);
        if (m == 0) continue;
        double d = 0;
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) d = fmax(d, fabs(aff[m][r][c] - aff[0][r][c]));
        if (im[m]->dim[1] != im[0]->dim[1] || im[m]->dim[2] != im[0]->dim[2] ||
            im[m]->dim[3] != im[0]->dim[3] || !(d <= GRID_TOL)) {
            st = nne_fail(ctx, NNE_ERR_FORMAT,
                          "anatomy: %s (%lldx%lldx%lld) and %s (%lldx%lldx%lld) are not on one "
                          "grid (affines differ by %g mm)",
                          path[m], (long long)im[m]->dim[1], (long long)im[m]->dim[2],
                          (long long)im[m]->dim[3], path[0], (long long)im[0]->dim[1],
                          (long long)im[0]->dim[2], (long long)im[0]->dim[3], d);
            goto fail;
        }
        if ((st = check_prob(ctx, path[m], im[m])) != NNE_OK) goto fail;
    }
    if (!invert_affine((const double(*)[4])aff[0], a->inv)) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: singular affine", path[0]);
        goto fail;
    }
    for (int m = 0; m < 3; m++)
        if (file_sha256(path[m], a->sha[m])) {
            st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot read for its sha256", path[m]);
            goto fail;
        }
    for (int i = 0; i < 3; i++) a->dim[i] = im[0]->dim[i + 1];
    const int64_t n = a->dim[0] * a->dim[1] * a->dim[2];
    a->brain = malloc((size_t)n);
    if (!a->brain) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "anatomy: out of memory");
        goto fail;
    }
    /* Voxel box of everything non-zero, grown by one voxel (the reach of trilinear
     * sampling), mapped to a template box through its 8 corners. */
    int64_t vlo[3] = {a->dim[0], a->dim[1], a->dim[2]}, vhi[3] = {-1, -1, -1};
    for (int64_t v = 0; v < n; v++) {
        a->brain[v] = im[0]->data[v] > 0;
        if (!a->brain[v] && im[1]->data[v] <= 0 && im[2]->data[v] <= 0) continue;
        const int64_t ijk[3] = {v % a->dim[0], (v / a->dim[0]) % a->dim[1],
                                v / (a->dim[0] * a->dim[1])};
        for (int i = 0; i < 3; i++) {
            if (ijk[i] < vlo[i]) vlo[i] = ijk[i];
            if (ijk[i] > vhi[i]) vhi[i] = ijk[i];
        }
    }
    if (vhi[0] < 0) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "anatomy: no brain voxel (T1 > 0, GM or WM > 0) in %s",
                      dir);
        goto fail;
    }
    for (int i = 0; i < 3; i++) a->lo[i] = HUGE_VAL, a->hi[i] = -HUGE_VAL;
    for (int c = 0; c < 8; c++) {
        double v[3];
        for (int i = 0; i < 3; i++) v[i] = (double)((c >> i & 1) ? vhi[i] + 1 : vlo[i] - 1);
        for (int r = 0; r < 3; r++) {
            double w = aff[0][r][0] * v[0] + aff[0][r][1] * v[1] + aff[0][r][2] * v[2] +
                       aff[0][r][3];
            a->lo[r] = fmin(a->lo[r], w), a->hi[r] = fmax(a->hi[r], w);
        }
    }
    a->gm = im[1]->data, im[1]->data = NULL; /* taken over from the images */
    a->wm = im[2]->data, im[2]->data = NULL;
    for (int m = 0; m < 3; m++) nne_image_free(im[m]);
    *out = a;
    return NNE_OK;
fail:
    for (int m = 0; m < 3; m++) nne_image_free(im[m]);
    nne_synth_anatomy_free(a);
    return st;
}

void nne_synth_anatomy_sample(const nne_synth_anatomy *a, const double m[3], double f[3]) {
    f[0] = f[1] = f[2] = 0;
    double v[3];
    for (int r = 0; r < 3; r++)
        v[r] = a->inv[r][0] * m[0] + a->inv[r][1] * m[1] + a->inv[r][2] * m[2] + a->inv[r][3];
    int64_t i0[3];
    double w1[3];
    for (int i = 0; i < 3; i++) {
        if (!(v[i] > -1 && v[i] < (double)a->dim[i])) return; /* also NaN */
        double fl = floor(v[i]);
        i0[i] = (int64_t)fl, w1[i] = v[i] - fl;
    }
    double g = 0, w = 0, b = 0;
    for (int c = 0; c < 8; c++) {
        int64_t ix[3];
        double wt = 1;
        for (int i = 0; i < 3; i++) {
            int hi = c >> i & 1;
            ix[i] = i0[i] + hi;
            wt *= hi ? w1[i] : 1 - w1[i];
        }
        if (wt == 0 || ix[0] < 0 || ix[1] < 0 || ix[2] < 0 || ix[0] >= a->dim[0] ||
            ix[1] >= a->dim[1] || ix[2] >= a->dim[2])
            continue; /* outside the grid: 0 */
        const int64_t idx = (ix[2] * a->dim[1] + ix[1]) * a->dim[0] + ix[0];
        g += wt * (double)a->gm[idx];
        w += wt * (double)a->wm[idx];
        b += wt * (double)a->brain[idx];
    }
    double t = g + w;
    if (t > 1) g /= t, w /= t, t = 1;
    f[0] = b > t ? b - t : 0, f[1] = g, f[2] = w;
}

void nne_synth_anatomy_box(const nne_synth_anatomy *a, double lo[3], double hi[3]) {
    for (int i = 0; i < 3; i++) lo[i] = a->lo[i], hi[i] = a->hi[i];
}

const char *nne_synth_anatomy_sha256(const nne_synth_anatomy *a, int i) {
    return i >= 0 && i < 3 ? a->sha[i] : "";
}

int nne_synth_mni_fossa(const double m[3]) {
    const double x = m[0], y = m[1], z = m[2], ax = fabs(x);
    if (z > -80 && z < -8) {
        double yc = z >= -30 ? -25 : -25 + 0.5 * (z + 30);
        double rx = z >= -42 ? 15 : 11, ry = z >= -42 ? 12 : 10;
        double dx = x / rx, dy = (y - yc) / ry;
        if (dx * dx + dy * dy < 1) return NNE_SYNTH_FOSSA_BRAINSTEM;
    }
    double tent = -4 - 0.35 * fmax(0, -55 - y) - 0.3 * ax;
    if (z < tent && y < -38 - 0.5 * fmax(0, ax - 20)) return NNE_SYNTH_FOSSA_CEREBELLUM;
    return 0;
}
