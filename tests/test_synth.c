/*
 * test_synth.c - synthetic stroke cases (src/synth.c) and `nnedge synth`: determinism, the
 * manifest's volume and affine against the files written, lesion contrast (DWI up, ADC
 * down against the surrounding normal tissue), traps labelled 0 with their own contrast
 * (shine-through, chronic infarct, bright CSF artefact), every territory including the
 * posterior fossa (lesion inside cerebellum / brainstem), trap-only cases (empty mask, traps
 * present), int16 storage (round trip within one scale step), the FLAIR on its own grid
 * (geometry, read back, contrast at the same world points), both layouts, and the isles22
 * layout read by `nnedge dataset isles22`. Uses the SMALL grids (~0.03 s per case).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli_run.h"
#include "json.h"
#include "nifti.h"
#include "synth.h"
#include "test.h"

static nne_ctx *ctx;

static double dot3t(const double a[3], const double b[3]) {
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
}
static const char *cli;

static int same_image(const nne_image *a, const nne_image *b) {
    int64_t n = nne_image_n_voxels(a);
    return n == nne_image_n_voxels(b) && !memcmp(a->data, b->data, (size_t)n * sizeof(float));
}

/* Mean DWI / ADC over the lesion and over normal tissue (brain, not CSF-like, not lesion,
 * not trap) within `ring` voxels of it. Returns the number of ring voxels. */
static int64_t lesion_contrast(const nne_synth_result *r, const nne_image *sel, int label,
                               int ring, double m[4]) {
    const int64_t X = r->mask->dim[1], Y = r->mask->dim[2], Z = r->mask->dim[3];
    double s[4] = {0, 0, 0, 0};
    int64_t n_in = 0, n_ring = 0;
    for (int64_t k = 0; k < Z; k++)
        for (int64_t j = 0; j < Y; j++)
            for (int64_t i = 0; i < X; i++) {
                int64_t v = (k * Y + j) * X + i;
                if ((int)sel->data[v] == label) {
                    s[0] += (double)r->dwi->data[v], s[1] += (double)r->adc->data[v], n_in++;
                    continue;
                }
                if (r->dwi->data[v] <= 0 || r->adc->data[v] > 1.3f || r->mask->data[v] != 0 ||
                    r->traps->data[v] != 0)
                    continue;
                int near = 0;
                for (int64_t dk = -ring; dk <= ring && !near; dk++)
                    for (int64_t dj = -ring; dj <= ring && !near; dj++)
                        for (int64_t di = -ring; di <= ring && !near; di++) {
                            int64_t a = i + di, b = j + dj, c = k + dk;
                            if (a >= 0 && b >= 0 && c >= 0 && a < X && b < Y && c < Z &&
                                (int)sel->data[(c * Y + b) * X + a] == label)
                                near = 1;
                        }
                if (near)
                    s[2] += (double)r->dwi->data[v], s[3] += (double)r->adc->data[v], n_ring++;
            }
    m[0] = n_in ? s[0] / (double)n_in : 0, m[1] = n_in ? s[1] / (double)n_in : 0;
    m[2] = n_ring ? s[2] / (double)n_ring : 0, m[3] = n_ring ? s[3] / (double)n_ring : 0;
    return n_ring;
}

/* World point of voxel (i, j, k) of an affine. */
static void vox_to_world(const double a[4][4], double i, double j, double k, double p[3]) {
    for (int r = 0; r < 3; r++) p[r] = a[r][0] * i + a[r][1] * j + a[r][2] * k + a[r][3];
}

/* Inverse of the 3x3 part of a (cofactors); returns 0 if singular. */
static int invert3(const double a[4][4], double inv[3][3]) {
    double det = a[0][0] * (a[1][1] * a[2][2] - a[1][2] * a[2][1]) -
                 a[0][1] * (a[1][0] * a[2][2] - a[1][2] * a[2][0]) +
                 a[0][2] * (a[1][0] * a[2][1] - a[1][1] * a[2][0]);
    if (fabs(det) < 1e-12) return 0;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 3; c++) {
            int r1 = (c + 1) % 3, r2 = (c + 2) % 3, c1 = (r + 1) % 3, c2 = (r + 2) % 3;
            inv[r][c] = (a[r1][c1] * a[r2][c2] - a[r1][c2] * a[r2][c1]) / det;
        }
    return 1;
}

/* Mean FLAIR (nearest voxel) at the world points of the DWI-grid voxels selected by `pick`
 * (1 = take); returns the number of voxels that fell inside the FLAIR grid. */
static int64_t flair_mean(const nne_synth_result *r, const unsigned char *pick, double *mean) {
    double inv[3][3], s = 0;
    int64_t n = 0;
    *mean = 0;
    if (!invert3(r->flair_affine, inv)) return 0;
    const int64_t X = r->mask->dim[1], Y = r->mask->dim[2], Z = r->mask->dim[3];
    const int64_t FX = r->flair->dim[1], FY = r->flair->dim[2], FZ = r->flair->dim[3];
    for (int64_t k = 0; k < Z; k++)
        for (int64_t j = 0; j < Y; j++)
            for (int64_t i = 0; i < X; i++) {
                if (!pick[(k * Y + j) * X + i]) continue;
                double p[3], d[3], f[3];
                vox_to_world(r->affine, (double)i, (double)j, (double)k, p);
                for (int c = 0; c < 3; c++) d[c] = p[c] - r->flair_affine[c][3];
                for (int c = 0; c < 3; c++) f[c] = floor(dot3t(inv[c], d) + 0.5);
                if (f[0] < 0 || f[1] < 0 || f[2] < 0 || f[0] >= (double)FX ||
                    f[1] >= (double)FY || f[2] >= (double)FZ)
                    continue;
                int64_t v = ((int64_t)f[2] * FY + (int64_t)f[1]) * FX + (int64_t)f[0];
                s += (double)r->flair->data[v], n++;
            }
    if (n) *mean = s / (double)n;
    return n;
}

/* Voxels of `sel` equal to `label` (1), or, with ring > 0, normal tissue within `ring`
 * voxels of them (brain, ADC <= 1.3, not lesion, not trap). Returns an owned 0/1 array. */
static unsigned char *select_voxels(const nne_synth_result *r, const nne_image *sel, int label,
                                    int ring) {
    const int64_t X = r->mask->dim[1], Y = r->mask->dim[2], Z = r->mask->dim[3];
    unsigned char *out = calloc((size_t)(X * Y * Z), 1);
    if (!out) return NULL;
    for (int64_t k = 0; k < Z; k++)
        for (int64_t j = 0; j < Y; j++)
            for (int64_t i = 0; i < X; i++) {
                int64_t v = (k * Y + j) * X + i;
                if (ring == 0) {
                    out[v] = (int)sel->data[v] == label;
                    continue;
                }
                if ((int)sel->data[v] == label || r->dwi->data[v] <= 0 ||
                    r->adc->data[v] > 1.3f || r->mask->data[v] != 0 || r->traps->data[v] != 0)
                    continue;
                for (int64_t dk = -ring; dk <= ring && !out[v]; dk++)
                    for (int64_t dj = -ring; dj <= ring && !out[v]; dj++)
                        for (int64_t di = -ring; di <= ring && !out[v]; di++) {
                            int64_t a = i + di, b = j + dj, c = k + dk;
                            if (a >= 0 && b >= 0 && c >= 0 && a < X && b < Y && c < Z &&
                                (int)sel->data[(c * Y + b) * X + a] == label)
                                out[v] = 1;
                        }
            }
    return out;
}

/* FLAIR at the lesion / a trap (label of sel) against the normal tissue around it, both
 * looked up through the two affines: *in_mean and *ring_mean. Returns the ring count. */
static int64_t flair_contrast(const nne_synth_result *r, const nne_image *sel, int label,
                              double *in_mean, double *ring_mean) {
    unsigned char *in = select_voxels(r, sel, label, 0), *ring = select_voxels(r, sel, label, 2);
    int64_t n = 0;
    *in_mean = *ring_mean = 0;
    if (in && ring && flair_mean(r, in, in_mean) > 0) n = flair_mean(r, ring, ring_mean);
    free(in);
    free(ring);
    return n;
}

/* Checks common to every generated case: mask binary, inside the brain, consistent with the
 * result's counts and volume, traps never labelled lesion. */
static void check_result(const nne_synth_result *r, const char *tn) {
    int64_t n = nne_image_n_voxels(r->mask), cnt = 0, outside = 0, odd = 0, bad_trap = 0;
    for (int64_t v = 0; v < n; v++) {
        float mv = r->mask->data[v];
        cnt += mv == 1.0f;
        odd += mv != 0.0f && mv != 1.0f;
        outside += mv != 0.0f && !(r->dwi->data[v] > 0);
        bad_trap += r->traps->data[v] != 0.0f && mv != 0.0f;
    }
    double vv = r->mask->pixdim[1] * r->mask->pixdim[2] * r->mask->pixdim[3];
    TEST_CHECK(cnt == r->lesion_voxels, "%s: %lld mask voxels, result says %lld", tn,
               (long long)cnt, (long long)r->lesion_voxels);
    TEST_NEAR(r->lesion_ml, (double)cnt * vv / 1000, 1e-6 * (1 + r->lesion_ml));
    TEST_CHECK(odd == 0 && outside == 0, "%s: %lld non-binary, %lld outside brain", tn,
               (long long)odd, (long long)outside);
    TEST_CHECK(bad_trap == 0, "%s: %lld trap voxels labelled lesion", tn, (long long)bad_trap);
}

static void test_library(void) {
    nne_synth_params p = nne_synth_default_params();
    nne_synth_result a, b;
    TEST_CHECK(nne_synth_case(ctx, &p, 42, 3, &a) == NNE_OK, "%s", nne_ctx_last_error(ctx));
    TEST_CHECK(nne_synth_case(ctx, &p, 42, 3, &b) == NNE_OK, "%s", nne_ctx_last_error(ctx));
    TEST_CHECK(same_image(a.dwi, b.dwi) && same_image(a.adc, b.adc) &&
               same_image(a.mask, b.mask), "same (seed, index) -> identical images");
    nne_synth_result_free(&b);
    TEST_CHECK(nne_synth_case(ctx, &p, 42, 4, &b) == NNE_OK, "%s", nne_ctx_last_error(ctx));
    TEST_CHECK(!same_image(a.dwi, b.dwi) || !same_image(a.mask, b.mask), "cases differ");
    nne_synth_result_free(&b);
    nne_synth_result_free(&a);

    /* Every territory once, with every trap forced on. */
    p.p_shine = p.p_chronic = p.p_csf = 1;
    int seen = 0, traps_seen = 0;
    for (int idx = 0; idx < 60 && seen != (1 << NNE_SYNTH_TERR_COUNT) - 1; idx++) {
        nne_synth_result r;
        if (nne_synth_case(ctx, &p, 5, idx, &r) != NNE_OK) {
            TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
            break;
        }
        const char *tn = nne_synth_territory_name(r.territory);
        TEST_CHECK(r.territory >= 0, "trap-only case with p_trap_only 0");
        check_result(&r, tn);
        /* Tiny lesions can fall below half a voxel on these coarse grids: take the first
         * case of each territory that has a mask. */
        if (r.territory < 0 || (seen & (1 << r.territory)) || r.lesion_voxels == 0) {
            nne_synth_result_free(&r);
            continue;
        }
        seen |= 1 << r.territory;
        double m[4];
        int64_t nr = lesion_contrast(&r, r.mask, 1, 2, m);
        TEST_CHECK(nr > 0 && m[0] > 1.2 * m[2] && m[1] < 0.95 * m[3],
                   "%s: lesion DWI %.1f vs %.1f, ADC %.3f vs %.3f (%lld ring voxels)", tn, m[0],
                   m[2], m[1], m[3], (long long)nr);
        if (r.traps_present & NNE_SYNTH_TRAP_SHINE) {
            nr = lesion_contrast(&r, r.traps, NNE_SYNTH_TRAP_SHINE, 2, m);
            TEST_CHECK(nr > 0 && m[0] > 1.2 * m[2] && m[1] > 0.95 * m[3],
                       "%s: shine-through DWI %.1f vs %.1f, ADC %.3f vs %.3f", tn, m[0], m[2],
                       m[1], m[3]);
            traps_seen |= NNE_SYNTH_TRAP_SHINE;
        }
        if (r.traps_present & NNE_SYNTH_TRAP_CHRONIC) {
            nr = lesion_contrast(&r, r.traps, NNE_SYNTH_TRAP_CHRONIC, 2, m);
            TEST_CHECK(nr > 0 && m[0] < m[2] && m[1] > 1.5 * m[3],
                       "%s: chronic DWI %.1f vs %.1f, ADC %.3f vs %.3f", tn, m[0], m[2], m[1],
                       m[3]);
            traps_seen |= NNE_SYNTH_TRAP_CHRONIC;
        }
        if (r.traps_present & NNE_SYNTH_TRAP_CSF) {
            /* Bright on DWI, yet the ADC of CSF: well above the tissue around it. */
            nr = lesion_contrast(&r, r.traps, NNE_SYNTH_TRAP_CSF, 2, m);
            TEST_CHECK(nr > 0 && m[0] > 1.2 * m[2] && m[1] > 2.0 * m[3],
                       "%s: bright CSF DWI %.1f vs %.1f, ADC %.3f vs %.3f", tn, m[0], m[2], m[1],
                       m[3]);
            traps_seen |= NNE_SYNTH_TRAP_CSF;
        }
        /* Posterior fossa: every lesion voxel is cerebellar / brainstem grey or white matter
         * (anat), and lies in the lower back of the head (world z < 0, y < 0). */
        int64_t n = nne_image_n_voxels(r.mask);
        if (r.territory == NNE_SYNTH_TERR_POSTERIOR) {
            int64_t off = 0, high = 0;
            const int64_t X = r.mask->dim[1], Y = r.mask->dim[2];
            for (int64_t v = 0; v < n; v++) {
                if (r.mask->data[v] == 0) continue;
                int an = (int)r.anat->data[v];
                off += !(an & NNE_SYNTH_ANAT_FOSSA) || (an & 3) == NNE_SYNTH_ANAT_CSF ||
                       (an & 3) == 0;
                double w[3];
                vox_to_world((const double(*)[4])r.affine, (double)(v % X), (double)(v / X % Y),
                             (double)(v / (X * Y)), w);
                high += w[2] >= 0 || w[1] >= 0;
            }
            TEST_CHECK(off == 0 && high == 0 && r.posterior_site != 0,
                       "posterior fossa: %lld lesion voxels outside cerebellum/brainstem "
                       "tissue, %lld above/in front of it, site %d", (long long)off,
                       (long long)high, r.posterior_site);
        }
        /* Tissue ADC in ISLES units: the brain median-ish value is WM/GM, not CSF. */
        double sa = 0;
        int64_t nb = 0;
        for (int64_t v = 0; v < n; v++)
            if (r.dwi->data[v] > 0 && r.mask->data[v] == 0 && r.adc->data[v] < 1.3f)
                sa += (double)r.adc->data[v], nb++;
        TEST_CHECK(nb > 0 && sa / (double)nb > 0.6 && sa / (double)nb < 0.95,
                   "%s: mean tissue ADC %.3f", tn, nb ? sa / (double)nb : 0);
        nne_synth_result_free(&r);
    }
    TEST_CHECK(seen == (1 << NNE_SYNTH_TERR_COUNT) - 1, "territories seen: 0x%x", seen);
    TEST_CHECK(traps_seen == 7, "traps seen: %d", traps_seen);
}

/* Trap-only cases: no lesion, an empty mask, shine-through always, chronic about half of
 * the time, the manifest saying so. */
static void test_trap_only(void) {
    nne_synth_params p = nne_synth_default_params();
    p.p_trap_only = 1;
    int n_chronic = 0, n_csf = 0;
    const int n_cases = 24;
    for (int idx = 0; idx < n_cases; idx++) {
        nne_synth_result r;
        if (nne_synth_case(ctx, &p, 11, idx, &r) != NNE_OK) {
            TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
            return;
        }
        check_result(&r, "trap-only");
        TEST_CHECK(r.territory == NNE_SYNTH_TERR_NONE && r.lesion_voxels == 0 &&
                       r.lesion_ml == 0 && r.target_ml == 0 && r.n_emboli == 0,
                   "case %d: territory %d, %lld lesion voxels", idx, r.territory,
                   (long long)r.lesion_voxels);
        TEST_CHECK(r.traps_present & NNE_SYNTH_TRAP_SHINE, "case %d: no shine-through", idx);
        n_chronic += (r.traps_present & NNE_SYNTH_TRAP_CHRONIC) != 0;
        n_csf += (r.traps_present & NNE_SYNTH_TRAP_CSF) != 0;
        if (idx == 0) {
            char *man = nne_synth_manifest(&r, "x");
            cJSON *j = man ? cJSON_Parse(man) : NULL;
            const cJSON *t = cJSON_GetObjectItem(j, "territory");
            const cJSON *ml = cJSON_GetObjectItem(j, "lesion_ml");
            const cJSON *tr = cJSON_GetObjectItem(j, "traps");
            TEST_CHECK(cJSON_IsString(t) && !strcmp(t->valuestring, "none") &&
                           cJSON_IsNumber(ml) && ml->valuedouble == 0 &&
                           cJSON_GetArraySize(tr) >= 1,
                       "trap-only manifest: %s", man ? man : "(null)");
            cJSON_Delete(j);
            free(man);
        }
        nne_synth_result_free(&r);
    }
    TEST_CHECK(n_chronic >= n_cases / 4 && n_chronic <= 3 * n_cases / 4,
               "chronic infarct in %d of %d trap-only cases (p = 0.5)", n_chronic, n_cases);
    TEST_CHECK(n_csf < n_cases, "bright CSF artefact in %d of %d cases (p = 0.3)", n_csf,
               n_cases);
}

/* FLAIR: its own grid; the DWI/ADC/mask do not change when it is made; contrast at the same
 * world points: acute lesion above the tissue around it, chronic infarct clearly above,
 * CSF dark. */
static void test_flair(void) {
    nne_synth_params p = nne_synth_default_params();
    p.p_chronic = 1;
    int checked = 0;
    for (int idx = 0; idx < 8 && checked < 3; idx++) {
        nne_synth_result a, r;
        p.flair = 0;
        if (nne_synth_case(ctx, &p, 21, idx, &a) != NNE_OK) break;
        p.flair = 1;
        if (nne_synth_case(ctx, &p, 21, idx, &r) != NNE_OK) {
            nne_synth_result_free(&a);
            break;
        }
        TEST_CHECK(!a.flair && r.flair, "FLAIR only when asked");
        TEST_CHECK(same_image(a.dwi, r.dwi) && same_image(a.adc, r.adc) &&
                       same_image(a.mask, r.mask), "case %d: DWI/ADC/mask depend on --flair",
                   idx);
        nne_synth_result_free(&a);
        double fd = 0;
        for (int i = 0; i < 4; i++)
            for (int c = 0; c < 4; c++) fd = fmax(fd, fabs(r.flair_affine[i][c] - r.affine[i][c]));
        TEST_CHECK(fd > 1e-3, "case %d: FLAIR affine equals the DWI affine", idx);
        double lin, lring, cin, cring;
        if (r.lesion_voxels > 20 && flair_contrast(&r, r.mask, 1, &lin, &lring) > 0 &&
            (r.traps_present & NNE_SYNTH_TRAP_CHRONIC) &&
            flair_contrast(&r, r.traps, NNE_SYNTH_TRAP_CHRONIC, &cin, &cring) > 0) {
            TEST_CHECK(lin > 1.05 * lring, "case %d: FLAIR lesion %.1f vs around %.1f", idx,
                       lin, lring);
            TEST_CHECK(cin > 1.3 * cring, "case %d: FLAIR chronic %.1f vs around %.1f", idx,
                       cin, cring);
            checked++;
        }
        nne_synth_result_free(&r);
    }
    TEST_CHECK(checked == 3, "FLAIR contrast checked on %d cases", checked);

    /* CSF dark: one full-size case, where the ventricles are several voxels wide; nearly
     * pure CSF voxels of the DWI grid (ADC > 2.5) against all normal tissue. */
    nne_synth_result r;
    p.size = NNE_SYNTH_SIZE_FULL;
    if (nne_synth_case(ctx, &p, 21, 0, &r) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return;
    }
    int64_t n = nne_image_n_voxels(r.mask);
    unsigned char *csf = calloc((size_t)n, 1), *tis = calloc((size_t)n, 1);
    if (csf && tis) {
        for (int64_t v = 0; v < n; v++) {
            int an = (int)r.anat->data[v];
            csf[v] = an == NNE_SYNTH_ANAT_CSF && r.adc->data[v] > 2.5f && r.traps->data[v] == 0;
            tis[v] = (an == NNE_SYNTH_ANAT_GM || an == NNE_SYNTH_ANAT_WM) &&
                     r.mask->data[v] == 0 && r.traps->data[v] == 0;
        }
        double mc, mt;
        int64_t nc = flair_mean(&r, csf, &mc), nt = flair_mean(&r, tis, &mt);
        TEST_CHECK(nc > 100 && nt > 0 && mc < 0.5 * mt, "FLAIR CSF %.1f (%lld voxels) vs "
                   "tissue %.1f", mc, (long long)nc, mt);
    }
    free(csf);
    free(tis);
    nne_synth_result_free(&r);
}

/* Reads `path` and checks its affine against the manifest's, its datatype and, for int16,
 * its scl_slope against `slope` (the manifest's). */
static void check_file(const char *path, const cJSON *aff, int datatype, const cJSON *slope,
                       nne_image **keep) {
    nne_image *im = NULL;
    if (nne_image_read(ctx, path, &im) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return;
    }
    double m[4][4], err = 0;
    nne_image_affine(im, m);
    for (int r = 0; r < 4; r++)
        for (int c = 0; c < 4; c++) {
            const cJSON *v = cJSON_GetArrayItem(cJSON_GetArrayItem(aff, r), c);
            double e = cJSON_IsNumber(v) ? v->valuedouble : 1e9;
            err = fmax(err, fabs(e - m[r][c]));
        }
    TEST_CHECK(err < 1e-9, "%s: affine differs from the manifest by %g", path, err);
    double qm[4][4], sm[4][4], qs = 0;
    nne_image_qform_matrix(im, qm);
    nne_image_sform_matrix(im, sm);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) qs = fmax(qs, fabs(qm[r][c] - sm[r][c]));
    TEST_CHECK(qs < 1e-5, "%s: qform and sform differ by %g", path, qs);
    TEST_CHECK(im->datatype == datatype, "%s: datatype %d, expected %d", path, im->datatype,
               datatype);
    if (datatype == NNE_DT_INT16)
        TEST_CHECK(cJSON_IsNumber(slope) && /* cJSON prints 15 digits when they are close */
                       fabs(im->scl_slope - slope->valuedouble) <= 1e-14 * im->scl_slope &&
                       im->scl_inter == 0,
                   "%s: scl_slope %.9g / scl_inter %g vs manifest %.9g", path, im->scl_slope,
                   im->scl_inter, cJSON_IsNumber(slope) ? slope->valuedouble : -1);
    if (keep) *keep = im;
    else nne_image_free(im);
}

/* The manifest of case `id` (owned) or NULL. */
static cJSON *read_manifest(const char *dir, const char *id) {
    char path[1024];
    snprintf(path, sizeof path, "%s/manifest/%s.json", dir, id);
    cJSON *man = NULL;
    if (nne_json_read_file(ctx, path, &man) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return NULL;
    }
    return man;
}

/* One written case against its manifest: geometry, storage, volume; trap-only cases have an
 * empty mask; the FLAIR (flair != NULL) has the manifest's own geometry. */
static void check_case(const char *dir, const char *id, const char *dwi, const char *adc,
                       const char *msk, const char *flair) {
    cJSON *man = read_manifest(dir, id);
    if (!man) return;
    const cJSON *aff = cJSON_GetObjectItem(man, "affine");
    const cJSON *ml = cJSON_GetObjectItem(man, "lesion_ml");
    const cJSON *sto = cJSON_GetObjectItem(man, "storage");
    const cJSON *ter = cJSON_GetObjectItem(man, "territory");
    const cJSON *slopes = cJSON_GetObjectItem(man, "scl_slope");
    int i16 = cJSON_IsString(sto) && !strcmp(sto->valuestring, "int16");
    TEST_CHECK(cJSON_IsString(sto) && (i16 || !strcmp(sto->valuestring, "float64")),
               "%s: storage", id);
    int dt = i16 ? NNE_DT_INT16 : NNE_DT_FLOAT64;
    nne_image *mask = NULL;
    check_file(dwi, aff, dt, cJSON_GetObjectItem(slopes, "dwi"), NULL);
    check_file(adc, aff, dt, cJSON_GetObjectItem(slopes, "adc"), NULL);
    check_file(msk, aff, NNE_DT_UINT8, NULL, &mask);
    if (mask && cJSON_IsNumber(ml)) {
        int64_t cnt = 0, n = nne_image_n_voxels(mask);
        for (int64_t v = 0; v < n; v++) cnt += mask->data[v] != 0;
        double vv = mask->pixdim[1] * mask->pixdim[2] * mask->pixdim[3];
        TEST_NEAR(ml->valuedouble, (double)cnt * vv / 1000, 1e-6 * (1 + ml->valuedouble));
        if (cJSON_IsString(ter) && !strcmp(ter->valuestring, "none"))
            TEST_CHECK(cnt == 0 && cJSON_GetArraySize(cJSON_GetObjectItem(man, "traps")) > 0,
                       "%s: trap-only case with %lld mask voxels or no traps", id,
                       (long long)cnt);
    }
    const cJSON *fl = cJSON_GetObjectItem(man, "flair");
    TEST_CHECK(!flair == !fl, "%s: FLAIR file and manifest entry disagree", id);
    if (flair && fl) {
        nne_image *f = NULL;
        check_file(flair, cJSON_GetObjectItem(fl, "affine"), dt,
                   cJSON_GetObjectItem(slopes, "flair"), &f);
        const cJSON *shape = cJSON_GetObjectItem(fl, "shape");
        if (f && mask) {
            int same_geom = 1;
            for (int i = 1; i <= 3; i++) {
                const cJSON *d = cJSON_GetArrayItem(shape, i - 1);
                TEST_CHECK(cJSON_IsNumber(d) && (int64_t)d->valuedouble == f->dim[i],
                           "%s: FLAIR dim[%d] %lld vs manifest", id, i, (long long)f->dim[i]);
                same_geom &= f->dim[i] == mask->dim[i];
            }
            double fa[4][4], ma[4][4], d = 0;
            nne_image_affine(f, fa);
            nne_image_affine(mask, ma);
            for (int r = 0; r < 3; r++)
                for (int c = 0; c < 4; c++) d = fmax(d, fabs(fa[r][c] - ma[r][c]));
            TEST_CHECK(!same_geom || d > 1e-3, "%s: FLAIR on the DWI grid", id);
        }
        nne_image_free(f);
    }
    nne_image_free(mask);
    cJSON_Delete(man);
}

/* An int16 case read back against the library's float32 images of the same (params, seed,
 * index): every voxel within one scale step. */
static void check_int16_round_trip(const char *dwi, const char *adc, const char *flair,
                                   const nne_synth_params *p, uint64_t seed, int index) {
    nne_synth_result r;
    if (nne_synth_case(ctx, p, seed, index, &r) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return;
    }
    TEST_CHECK(r.storage == NNE_SYNTH_STORAGE_INT16 && r.dwi_slope > 0 && r.adc_slope > 0,
               "int16 result: storage %d, slopes %g %g", r.storage, r.dwi_slope, r.adc_slope);
    const char *paths[3] = {dwi, adc, flair};
    const nne_image *ref[3] = {r.dwi, r.adc, r.flair};
    const double slope[3] = {r.dwi_slope, r.adc_slope, r.flair_slope};
    for (int m = 0; m < 3; m++) {
        nne_image *im = NULL;
        if (!paths[m] || !ref[m]) continue;
        if (nne_image_read(ctx, paths[m], &im) != NNE_OK) {
            TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
            continue;
        }
        int64_t n = nne_image_n_voxels(im);
        double err = 0;
        if (n == nne_image_n_voxels(ref[m]))
            for (int64_t v = 0; v < n; v++)
                err = fmax(err, fabs((double)im->data[v] - (double)ref[m]->data[v]));
        TEST_CHECK(n == nne_image_n_voxels(ref[m]) && err <= slope[m],
                   "%s: int16 round trip error %g, scale step %g", paths[m], err, slope[m]);
        nne_image_free(im);
    }
    nne_synth_result_free(&r);
}

static int same_bytes(const char *a, const char *b) {
    size_t na = 0, nb = 0;
    char *x = test_read_file(a, &na), *y = test_read_file(b, &nb);
    int same = x && y && na == nb && !memcmp(x, y, na);
    free(x);
    free(y);
    return same;
}

static void rm_rf(const char *dir) {
    pid_t pid = fork();
    if (pid == 0) {
        execlp("rm", "rm", "-rf", dir, (char *)NULL);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
}

/* Paths of isles22 case c under root: dwi, adc, msk, flair. */
static void isles_paths(const char *root, int c, char id[32], char p[4][1024]) {
    snprintf(id, 32, "sub-strokecase%04d", c);
    snprintf(p[0], 1024, "%s/rawdata/%s/ses-0001/dwi/%s_ses-0001_dwi.nii.gz", root, id, id);
    snprintf(p[1], 1024, "%s/rawdata/%s/ses-0001/dwi/%s_ses-0001_adc.nii.gz", root, id, id);
    snprintf(p[2], 1024, "%s/derivatives/%s/ses-0001/%s_ses-0001_msk.nii.gz", root, id, id);
    snprintf(p[3], 1024, "%s/rawdata/%s/ses-0001/anat/%s_ses-0001_FLAIR.nii.gz", root, id, id);
}

static void test_cli(const char *tmp) {
    char o1[512], o2[512], o3[512], o4[512], o5[512], o6[512];
    snprintf(o1, sizeof o1, "%s/nn1", tmp);
    snprintf(o2, sizeof o2, "%s/nn2", tmp);
    snprintf(o3, sizeof o3, "%s/isles", tmp);
    snprintf(o4, sizeof o4, "%s/ingested", tmp);
    snprintf(o5, sizeof o5, "%s/flair", tmp);
    snprintf(o6, sizeof o6, "%s/ingested_flair", tmp);
    const char *a1[] = {"synth", "-n", "3", "-o", o1, "--size", "small", "--seed", "77",
                        "--trap-only", "0.3", "-q", NULL};
    const char *a2[] = {"synth", "-n", "3", "-o", o2, "--size", "small", "--seed", "77",
                        "--trap-only", "0.3", "-q", NULL};
    const char *a3[] = {"synth", "-n", "5", "-o", o3, "--size", "small", "--layout",
                        "isles22", "--seed", "5", "-q", NULL};
    const char *a5[] = {"synth", "-n", "5", "-o", o5, "--size", "small", "--layout",
                        "isles22", "--seed", "9", "--flair", "--storage", "int16",
                        "--trap-only", "0.5", "-q", NULL};
    TEST_CHECK(cli_run(cli, a1) == 0, "synth nnunet: %s", cli_err);
    TEST_CHECK(cli_run(cli, a2) == 0, "synth nnunet (again): %s", cli_err);
    TEST_CHECK(cli_run(cli, a3) == 0, "synth isles22: %s", cli_err);
    TEST_CHECK(cli_run(cli, a5) == 0, "synth isles22 --flair --storage int16: %s", cli_err);
    char p[6][1024], q[1024];
    for (int c = 1; c <= 3; c++) {
        char id[32];
        snprintf(id, sizeof id, "synth_%04d", c);
        snprintf(p[0], sizeof p[0], "%s/imagesTr/%s_0000.nii.gz", o1, id);
        snprintf(p[1], sizeof p[1], "%s/imagesTr/%s_0001.nii.gz", o1, id);
        snprintf(p[2], sizeof p[2], "%s/labelsTr/%s.nii.gz", o1, id);
        snprintf(p[3], sizeof p[3], "%s/manifest/%s.json", o1, id);
        check_case(o1, id, p[0], p[1], p[2], NULL);
        for (int f = 0; f < 4; f++) {
            snprintf(q, sizeof q, "%s%s", o2, p[f] + strlen(o1));
            TEST_CHECK(same_bytes(p[f], q), "rerun differs: %s", p[f]);
        }
    }
    snprintf(p[0], sizeof p[0], "%s/dataset.json", o1);
    TEST_CHECK(access(p[0], R_OK) == 0, "nnunet layout has dataset.json");
    for (int c = 1; c <= 5; c++) {
        char id[32], ip[4][1024];
        isles_paths(o3, c, id, ip);
        check_case(o3, id, ip[0], ip[1], ip[2], NULL);
        TEST_CHECK(access(ip[3], F_OK) != 0, "%s: FLAIR written without --flair", id);
    }
    /* FLAIR + int16 + trap-only: files against manifests, and against the library. */
    nne_synth_params sp = nne_synth_default_params();
    sp.storage = NNE_SYNTH_STORAGE_INT16;
    sp.p_trap_only = 0.5;
    sp.flair = 1;
    for (int c = 1; c <= 5; c++) {
        char id[32], ip[4][1024];
        isles_paths(o5, c, id, ip);
        check_case(o5, id, ip[0], ip[1], ip[2], ip[3]);
        check_int16_round_trip(ip[0], ip[1], ip[3], &sp, 9, c - 1);
    }
    const char *a4[] = {"dataset", "isles22", "--root", o3, "--out", o4, "--split", "5/0/0",
                        NULL};
    TEST_CHECK(cli_run(cli, a4) == 0, "dataset isles22 on the synth tree: %s", cli_err);
    const char *a6[] = {"dataset", "isles22", "--root", o5, "--out", o6, "--split", "5/0/0",
                        NULL};
    TEST_CHECK(cli_run(cli, a6) == 0, "dataset isles22 on the FLAIR/int16 tree: %s", cli_err);
    snprintf(p[0], sizeof p[0], "%s/imagesTr", o6);
    snprintf(p[1], sizeof p[1], "%s/imagesTr/sub-strokecase0001_0002.nii.gz", o6);
    TEST_CHECK(access(p[0], F_OK) == 0 && access(p[1], F_OK) != 0,
               "ingest: DWI/ADC channels only, FLAIR ignored");
    const char *bad[] = {"synth", "-n", "1", "-o", o1, "--layout", "bids", NULL};
    TEST_CHECK(cli_run(cli, bad) == 2, "unknown layout is a usage error");
    const char *bad2[] = {"synth", "-n", "1", "-o", o1, "--flair", NULL};
    TEST_CHECK(cli_run(cli, bad2) == 2 && strstr(cli_err, "isles22"),
               "--flair with the nnunet layout is refused: %s", cli_err);
    const char *bad3[] = {"synth", "-n", "1", "-o", o1, "--trap-only", "1.5", NULL};
    TEST_CHECK(cli_run(cli, bad3) == 2, "--trap-only 1.5 is a usage error");
    const char *bad4[] = {"synth", "-n", "1", "-o", o1, "--storage", "int8", NULL};
    TEST_CHECK(cli_run(cli, bad4) == 2, "--storage int8 is a usage error");
}

int main(void) {
    nne_ctx_params cp = nne_ctx_default_params();
    cp.n_threads = 1;
    if (nne_ctx_init(&cp, &ctx) != NNE_OK) return 1;
    test_library();
    test_trap_only();
    test_flair();
    cli = getenv("NNE_CLI") ? getenv("NNE_CLI") : "build/nnedge";
    if (access(cli, X_OK) != 0) {
        test_skip("nnedge binary not built");
    } else {
        char tmp[] = "/tmp/nne_test_synth_XXXXXX";
        if (mkdtemp(tmp) == NULL) {
            TEST_CHECK(0, "mkdtemp");
        } else {
            test_cli(tmp);
            rm_rf(tmp);
        }
    }
    nne_ctx_free(ctx);
    return TEST_SUMMARY();
}
