/*
 * test_nifti.c - NIfTI reader/writer against nibabel and SimpleITK.
 *
 * Fixtures and expectations come from tools/gen_nifti_fixtures.py (nibabel writes the files;
 * nibabel's get_fdata/get_qform/get_sform/affine and SimpleITK's spacing/origin/direction are
 * the expected values in tests/data/nifti/expect.json). Checks:
 *   - every good fixture: header fields, every voxel (float32 of nibabel's float64 within one
 *     ulp), qform/sform/affine within 1e-6, SimpleITK geometry within 1e-6; the same through
 *     the memory reader;
 *   - every malformed fixture: the expected status, a message naming the file and the field;
 *   - round trips through the writer (.nii/.nii.gz, NIfTI-1/2, native and float32 types);
 *   - nnedge-written files against nibabel-written oracle files (same geometry, same bytes);
 *   - failing writes leave nothing behind (and keep an existing file intact);
 *   - scaled integer writes (scl_slope/scl_inter) read back within half a slope step.
 * Files for the reverse check (nibabel/SimpleITK reading what we wrote) are left in
 * $NNE_NIFTI_WRITTEN_DIR when it is set; see tools/README.md.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "json.h"
#include "nifti.h"
#include "test.h"

#define DATA "tests/data/nifti"

static nne_ctx *ctx;
static char tmpdir[256];

/* Reads a whole file (for the memory reader and byte comparisons); NULL if missing. */
static unsigned char *slurp(const char *path, size_t *len) {
    FILE *f = fopen(path, "rb");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    unsigned char *b = malloc((size_t)n + 1);
    if (b && fread(b, 1, (size_t)n, f) != (size_t)n) {
        free(b);
        b = NULL;
    }
    fclose(f);
    *len = (size_t)n;
    return b;
}

static int file_exists(const char *p) {
    struct stat sb;
    return stat(p, &sb) == 0;
}

/* Number of leftover temporary files ("*.tmp.*") in tmpdir. */
static int count_tmp_files(void) {
    int n = 0;
    DIR *d = opendir(tmpdir);
    if (!d) return -1;
    struct dirent *e;
    while ((e = readdir(d)))
        if (strstr(e->d_name, ".tmp.")) n++;
    closedir(d);
    return n;
}

static void rm_tmpdir(void) {
    DIR *d = opendir(tmpdir);
    if (!d) return;
    struct dirent *e;
    char p[512];
    while ((e = readdir(d))) {
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
        snprintf(p, sizeof p, "%s/%s", tmpdir, e->d_name);
        unlink(p);
    }
    closedir(d);
    rmdir(tmpdir);
}

static double jnum(const cJSON *a, int i) { return cJSON_GetArrayItem(a, i)->valuedouble; }

/* |a - b| within one float32 ulp of b (values are float32 roundings of float64 results). */
static int ulp_close(float a, double b) {
    float fb = (float)b;
    if (a == fb) return 1;
    if (isnan(a) && isnan(b)) return 1;
    return nextafterf(fb, INFINITY) == a || nextafterf(fb, -INFINITY) == a;
}

static void check_matrix(const char *name, const char *what, double m[4][4], const cJSON *a,
                         double tol) {
    double worst = 0;
    for (int i = 0; i < 16; i++) worst = fmax(worst, fabs(m[i / 4][i % 4] - jnum(a, i)));
    TEST_CHECK(worst <= tol, "%s: %s max |delta| %.3g", name, what, worst);
}

/* Compares an image with its expect.json entry. */
static void check_image(const char *name, const nne_image *img, const cJSON *e) {
    TEST_CHECK(img->version == cJSON_GetObjectItem(e, "version")->valueint, "%s: version", name);
    TEST_CHECK(img->datatype == cJSON_GetObjectItem(e, "datatype")->valueint, "%s: datatype %d",
               name, img->datatype);
    const cJSON *dim = cJSON_GetObjectItem(e, "dim");
    TEST_CHECK(img->ndim == cJSON_GetArraySize(dim), "%s: ndim %d", name, img->ndim);
    for (int i = 0; i < img->ndim && i < cJSON_GetArraySize(dim); i++)
        TEST_CHECK(img->dim[i + 1] == (int64_t)jnum(dim, i), "%s: dim[%d]", name, i + 1);
    const cJSON *pd = cJSON_GetObjectItem(e, "pixdim");
    for (int i = 0; i < 8; i++)
        TEST_CHECK(img->pixdim[i] == jnum(pd, i), "%s: pixdim[%d] %g vs %g", name, i,
                   img->pixdim[i], jnum(pd, i));
    TEST_CHECK(img->qform_code == cJSON_GetObjectItem(e, "qform_code")->valueint, "%s: qcode",
               name);
    TEST_CHECK(img->sform_code == cJSON_GetObjectItem(e, "sform_code")->valueint, "%s: scode",
               name);
    TEST_CHECK(img->xyzt_units == cJSON_GetObjectItem(e, "xyzt_units")->valueint, "%s: units",
               name);

    /* Every voxel: float32 of nibabel's float64 value (within one ulp). */
    const cJSON *v = cJSON_GetObjectItem(e, "values");
    int64_t n = nne_image_n_voxels(img);
    TEST_CHECK(n == cJSON_GetArraySize(v), "%s: %lld voxels vs %d", name, (long long)n,
               cJSON_GetArraySize(v));
    int64_t bad = 0, first = -1;
    const cJSON *it = v ? v->child : NULL;
    for (int64_t i = 0; i < n && it; i++, it = it->next)
        if (!ulp_close(img->data[i], it->valuedouble)) {
            if (first < 0) first = i;
            bad++;
        }
    TEST_CHECK(bad == 0, "%s: %lld voxels differ (first %lld)", name, (long long)bad,
               (long long)first);

    double m[4][4];
    nne_image_qform_matrix(img, m);
    check_matrix(name, "qform", m, cJSON_GetObjectItem(e, "qform"), 1e-6);
    nne_image_sform_matrix(img, m);
    check_matrix(name, "sform", m, cJSON_GetObjectItem(e, "sform"), 1e-9);
    /* Without any transform nibabel returns its own centred "base affine" and we return NIfTI
     * method 1 (the pixdim diagonal): compare only when a code is set. */
    nne_image_affine(img, m);
    if (img->qform_code > 0 || img->sform_code > 0)
        check_matrix(name, "affine", m, cJSON_GetObjectItem(e, "affine"), 1e-6);

    /* SimpleITK geometry (absent for NIfTI-2 without twin; "error..." when ITK refuses). */
    const cJSON *itk = cJSON_GetObjectItem(e, "itk");
    double sp[3], org[3], dir[9];
    nne_status st = nne_image_itk_geometry(ctx, img, sp, org, dir);
    if (cJSON_IsString(itk)) {
        TEST_CHECK(st == NNE_ERR_UNSUPPORTED, "%s: ITK refuses this geometry, we gave %d", name,
                   st);
    } else if (cJSON_IsObject(itk)) {
        TEST_CHECK(st == NNE_OK, "%s: itk_geometry: %s", name, nne_ctx_last_error(ctx));
        const cJSON *s = cJSON_GetObjectItem(itk, "spacing");
        const cJSON *o = cJSON_GetObjectItem(itk, "origin");
        const cJSON *d = cJSON_GetObjectItem(itk, "direction"); /* row-major, nd x nd */
        int nd = cJSON_GetArraySize(s); /* 2 for 2-D images */
        double worst = 0;
        for (int i = 0; i < nd; i++) {
            worst = fmax(worst, fabs(sp[i] - jnum(s, i)));
            worst = fmax(worst, fabs(org[i] - jnum(o, i)));
            for (int j = 0; j < nd; j++)
                worst = fmax(worst, fabs(dir[3 * i + j] - jnum(d, nd * i + j)));
        }
        TEST_CHECK(worst <= 1e-6, "%s: SimpleITK geometry max |delta| %.3g", name, worst);
    }
}

/* Every good fixture through the file reader, then through the memory reader (which must
 * agree bit for bit: both share read_stream, but gzip goes through zlib's gzFile in one case
 * and through our z_stream loop in the other). */
static void test_good(const cJSON *good) {
    char path[512];
    for (const cJSON *e = good->child; e; e = e->next) {
        snprintf(path, sizeof path, DATA "/good/%s", e->string);
        nne_image *img = NULL;
        nne_status st = nne_image_read(ctx, path, &img);
        TEST_CHECK(st == NNE_OK, "%s: %s", e->string, nne_ctx_last_error(ctx));
        if (st != NNE_OK) continue;
        check_image(e->string, img, e);
        /* The memory reader gives the same image (gzip inflated by the z_stream path). */
        size_t len = 0;
        unsigned char *buf = slurp(path, &len);
        nne_image *m = NULL;
        st = nne_image_read_mem(ctx, buf, len, e->string, &m);
        TEST_CHECK(st == NNE_OK, "%s (mem): %s", e->string, nne_ctx_last_error(ctx));
        if (st == NNE_OK) {
            int64_t n = nne_image_n_voxels(img);
            TEST_CHECK(nne_image_n_voxels(m) == n &&
                           !memcmp(m->data, img->data, (size_t)n * sizeof(float)),
                       "%s: memory and file readers differ", e->string);
        }
        nne_image_free(m);
        free(buf);
        nne_image_free(img);
    }
}

static nne_status status_of(const char *s) {
    if (!strcmp(s, "FORMAT")) return NNE_ERR_FORMAT;
    if (!strcmp(s, "UNSUPPORTED")) return NNE_ERR_UNSUPPORTED;
    return NNE_ERR_IO;
}

/* Every malformed fixture: the expected status from both readers, no output, and a message
 * that names the file and contains the expected fragment (the field or the byte counts). */
static void test_bad(const cJSON *bad) {
    char path[512];
    for (const cJSON *e = bad->child; e; e = e->next) {
        snprintf(path, sizeof path, DATA "/bad/%s", e->string);
        nne_status want = status_of(cJSON_GetObjectItem(e, "status")->valuestring);
        const char *contains = cJSON_GetObjectItem(e, "contains")->valuestring;
        nne_image *img = NULL;
        nne_status st = nne_image_read(ctx, path, &img);
        const char *msg = nne_ctx_last_error(ctx);
        TEST_CHECK(st == want, "%s: status %d, want %d (%s)", e->string, st, want, msg);
        TEST_CHECK(img == NULL, "%s: output set on failure", e->string);
        TEST_CHECK(strstr(msg, e->string) != NULL, "%s: message lacks the file name: %s",
                   e->string, msg);
        TEST_CHECK(strstr(msg, contains) != NULL, "%s: message lacks \"%s\": %s", e->string,
                   contains, msg);
        size_t len = 0;
        unsigned char *buf = slurp(path, &len);
        st = nne_image_read_mem(ctx, buf ? buf : (unsigned char *)"", len, e->string, &img);
        TEST_CHECK(st == want, "%s (mem): status %d, want %d (%s)", e->string, st, want,
                   nne_ctx_last_error(ctx));
        TEST_CHECK(img == NULL, "%s (mem): output set on failure", e->string);
        free(buf);
    }
}

/* Header geometry and strings equal (pixdim/xform in float precision when one side is v1). */
static void check_same_header(const char *what, const nne_image *a, const nne_image *b) {
    double tol = (a->version == 1 || b->version == 1) ? 1e-6 : 0.0;
#define REL(x, y) (fabs((x) - (y)) <= tol * fmax(1.0, fabs(y)))
    TEST_CHECK(a->ndim == b->ndim, "%s: ndim", what);
    for (int i = 0; i < 8; i++) {
        TEST_CHECK(a->dim[i] == b->dim[i], "%s: dim[%d]", what, i);
        TEST_CHECK(REL(a->pixdim[i], b->pixdim[i]), "%s: pixdim[%d] %.9g vs %.9g", what, i,
                   a->pixdim[i], b->pixdim[i]);
    }
    TEST_CHECK(a->qform_code == b->qform_code && a->sform_code == b->sform_code, "%s: codes",
               what);
    TEST_CHECK(REL(a->quatern_b, b->quatern_b) && REL(a->quatern_c, b->quatern_c) &&
                   REL(a->quatern_d, b->quatern_d) && REL(a->qoffset_x, b->qoffset_x) &&
                   REL(a->qoffset_y, b->qoffset_y) && REL(a->qoffset_z, b->qoffset_z),
               "%s: qform parameters", what);
    int srow_ok = 1;
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) srow_ok &= REL(a->srow[r][c], b->srow[r][c]);
    TEST_CHECK(srow_ok, "%s: srow", what);
    TEST_CHECK(a->xyzt_units == b->xyzt_units, "%s: xyzt_units", what);
    TEST_CHECK(!strcmp(a->descrip, b->descrip), "%s: descrip", what);
#undef REL
}

/* Compression is detected from the bytes, not the name; missing files are I/O errors. */
static void test_names(void) {
    char p1[512], p2[512];
    size_t la = 0, lb = 0;
    unsigned char *gz = slurp(DATA "/good/dt_int16.nii.gz", &la);
    unsigned char *raw = slurp(DATA "/good/dt_int16.nii", &lb);
    snprintf(p1, sizeof p1, "%s/gzip_named.nii", tmpdir);
    snprintf(p2, sizeof p2, "%s/plain_named.nii.gz", tmpdir);
    FILE *f1 = fopen(p1, "wb"), *f2 = fopen(p2, "wb");
    if (f1 && gz) fwrite(gz, 1, la, f1);
    if (f2 && raw) fwrite(raw, 1, lb, f2);
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    nne_image *a = NULL, *b = NULL;
    TEST_CHECK(nne_image_read(ctx, p1, &a) == NNE_OK, "gzip named .nii: %s",
               nne_ctx_last_error(ctx));
    TEST_CHECK(nne_image_read(ctx, p2, &b) == NNE_OK, "plain named .nii.gz: %s",
               nne_ctx_last_error(ctx));
    if (a && b)
        TEST_CHECK(!memcmp(a->data, b->data, (size_t)nne_image_n_voxels(a) * 4),
                   "gzip and plain copies differ");
    nne_image_free(a);
    nne_image_free(b);
    free(gz);
    free(raw);
    unlink(p1);
    unlink(p2);
    nne_status st = nne_image_read(ctx, DATA "/good/no_such_file.nii.gz", &a);
    TEST_CHECK(st == NNE_ERR_IO && strstr(nne_ctx_last_error(ctx), "no_such_file.nii.gz"),
               "missing file: %d %s", st, nne_ctx_last_error(ctx));
    st = nne_image_read(ctx, DATA "/good", &a);
    TEST_CHECK(st == NNE_ERR_IO || st == NNE_ERR_FORMAT, "directory: %d %s", st,
               nne_ctx_last_error(ctx));
}

/* Read -> write (NIfTI-1 and -2, .nii and .nii.gz, as float32 and, for unscaled files, in
 * the datatype read) -> read: geometry, codes, units, descrip and every voxel must survive.
 * Integer types are only written natively when the file was unscaled, since scaled values
 * are not integers. */
static void test_round_trips(void) {
    static const char *names[] = {"dt_uint8.nii", "dt_int8.nii", "dt_int16.nii.gz",
                                  "dt_uint16.nii", "dt_float32.nii", "dt_float64.nii.gz",
                                  "be_int16.nii", "n2_be_float64.nii", "isles_dwi.nii.gz",
                                  "isles_msk.nii.gz", "4d_float32.nii.gz", "scl_int16.nii",
                                  "qfac_neg.nii", "ext_two.nii.gz", "2d_uint8.nii"};
    char in[512], out[512];
    for (size_t f = 0; f < NNE_ARRAY_LEN(names); f++) {
        snprintf(in, sizeof in, DATA "/good/%s", names[f]);
        nne_image *img = NULL;
        if (nne_image_read(ctx, in, &img) != NNE_OK) {
            TEST_CHECK(0, "%s: %s", names[f], nne_ctx_last_error(ctx));
            continue;
        }
        int native = img->scl_slope == 0 || !isfinite(img->scl_slope) ||
                     (img->scl_slope == 1 && img->scl_inter == 0);
        int orig_version = img->version;
        for (int version = 1; version <= 2; version++) {
            for (int gz = 0; gz <= 1; gz++) {
                for (int as_native = 0; as_native <= native; as_native++) {
                    int dt = as_native ? img->datatype : NNE_DT_FLOAT32;
                    img->version = version;
                    snprintf(out, sizeof out, "%s/rt.nii%s", tmpdir, gz ? ".gz" : "");
                    nne_status st = nne_image_write(ctx, out, img, dt);
                    TEST_CHECK(st == NNE_OK, "%s -> v%d %s: %s", names[f], version,
                               nne_image_datatype_name(dt), nne_ctx_last_error(ctx));
                    nne_image *back = NULL;
                    if (st == NNE_OK && nne_image_read(ctx, out, &back) == NNE_OK) {
                        char what[300];
                        snprintf(what, sizeof what, "%s v%d%s %s", names[f], version,
                                 gz ? " gz" : "", nne_image_datatype_name(dt));
                        img->version = orig_version;
                        check_same_header(what, back, img);
                        img->version = version;
                        TEST_CHECK(back->version == version && back->datatype == dt,
                                   "%s: version/datatype", what);
                        int64_t n = nne_image_n_voxels(img);
                        TEST_CHECK(!memcmp(back->data, img->data, (size_t)n * sizeof(float)),
                                   "%s: values differ", what);
                        double a[4][4], b[4][4];
                        nne_image_affine(img, a);
                        nne_image_affine(back, b);
                        double w = 0;
                        for (int i = 0; i < 16; i++)
                            w = fmax(w, fabs(a[i / 4][i % 4] - b[i / 4][i % 4]));
                        TEST_CHECK(w <= 1e-5, "%s: affine max |delta| %.3g", what, w);
                    } else {
                        TEST_CHECK(0, "%s: cannot read back: %s", out, nne_ctx_last_error(ctx));
                    }
                    nne_image_free(back);
                }
            }
        }
        nne_image_free(img);
    }
}

/* nnedge's writer against nibabel's for the same image: same header geometry, same values,
 * and (uncompressed) identical data bytes. */
static void test_oracle(const cJSON *oracle) {
    nne_image *msk = NULL, *dwi = NULL, *o = NULL, *ours = NULL;
    char out[512];
    if (nne_image_read(ctx, DATA "/good/isles_msk.nii.gz", &msk) != NNE_OK ||
        nne_image_read(ctx, DATA "/good/isles_dwi.nii.gz", &dwi) != NNE_OK) {
        TEST_CHECK(0, "oracle inputs: %s", nne_ctx_last_error(ctx));
        goto done;
    }
    /* uint16 mask written as uint8 (what predictions are written as). */
    snprintf(out, sizeof out, "%s/msk_u8.nii", tmpdir);
    TEST_CHECK(nne_image_write(ctx, out, msk, NNE_DT_UINT8) == NNE_OK, "%s",
               nne_ctx_last_error(ctx));
    TEST_CHECK(nne_image_read(ctx, DATA "/oracle/isles_msk_u8.nii", &o) == NNE_OK, "%s",
               nne_ctx_last_error(ctx));
    TEST_CHECK(nne_image_read(ctx, out, &ours) == NNE_OK, "%s", nne_ctx_last_error(ctx));
    if (o && ours) {
        check_image("ours vs nibabel isles_msk_u8", ours,
                    cJSON_GetObjectItem(oracle, "isles_msk_u8.nii"));
        check_same_header("ours vs nibabel mask", ours, o);
        TEST_CHECK(!memcmp(ours->data, msk->data, (size_t)nne_image_n_voxels(msk) * 4),
                   "uint8 mask differs from the uint16 input");
        size_t la = 0, lb = 0;
        unsigned char *a = slurp(out, &la);
        unsigned char *b = slurp(DATA "/oracle/isles_msk_u8.nii", &lb);
        size_t nb = (size_t)nne_image_n_voxels(msk);
        TEST_CHECK(a && b && la >= 352 + nb && lb >= (size_t)o->vox_offset + nb &&
                       !memcmp(a + 352, b + o->vox_offset, nb),
                   "uint8 data bytes differ from nibabel's");
        free(a);
        free(b);
    }
    nne_image_free(o);
    nne_image_free(ours);
    o = ours = NULL;
    /* float64 DWI written as float32 .nii.gz. */
    snprintf(out, sizeof out, "%s/dwi_f32.nii.gz", tmpdir);
    TEST_CHECK(nne_image_write(ctx, out, dwi, NNE_DT_FLOAT32) == NNE_OK, "%s",
               nne_ctx_last_error(ctx));
    TEST_CHECK(nne_image_read(ctx, DATA "/oracle/isles_dwi_f32.nii.gz", &o) == NNE_OK, "%s",
               nne_ctx_last_error(ctx));
    TEST_CHECK(nne_image_read(ctx, out, &ours) == NNE_OK, "%s", nne_ctx_last_error(ctx));
    if (o && ours) {
        check_image("ours vs nibabel isles_dwi_f32", ours,
                    cJSON_GetObjectItem(oracle, "isles_dwi_f32.nii.gz"));
        check_same_header("ours vs nibabel dwi", ours, o);
        TEST_CHECK(!memcmp(ours->data, o->data, (size_t)nne_image_n_voxels(o) * 4),
                   "float32 values differ from nibabel's");
    }
done:
    nne_image_free(o);
    nne_image_free(ours);
    nne_image_free(msk);
    nne_image_free(dwi);
}

/* Failing writes: right status, nothing at the path, no temporary file, old file intact. */
static void test_write_errors(void) {
    nne_image *img = NULL;
    char out[512];
    if (nne_image_read(ctx, DATA "/good/dt_float32.nii", &img) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return;
    }
    snprintf(out, sizeof out, "%s/err.nii.gz", tmpdir);
    unlink(out);
    /* Out-of-range values for uint8 (the fixture spans about +-3000). */
    nne_status st = nne_image_write(ctx, out, img, NNE_DT_UINT8);
    TEST_CHECK(st == NNE_ERR_ARG && strstr(nne_ctx_last_error(ctx), "err.nii.gz"),
               "out of range: %d %s", st, nne_ctx_last_error(ctx));
    TEST_CHECK(!file_exists(out), "partial file left at %s", out);
    TEST_CHECK(count_tmp_files() == 0, "temporary file left behind");
    /* NaN into int16, with an existing file at the path: it must survive unchanged. */
    FILE *f = fopen(out, "wb");
    if (f) {
        fputs("old", f);
        fclose(f);
    }
    for (int64_t i = 0; i < nne_image_n_voxels(img); i++) img->data[i] = (float)(i % 7);
    img->data[17] = NAN;
    st = nne_image_write(ctx, out, img, NNE_DT_INT16);
    img->data[17] = 0.0f;
    TEST_CHECK(st == NNE_ERR_ARG && strstr(nne_ctx_last_error(ctx), "voxel 17"), "NaN: %d %s",
               st, nne_ctx_last_error(ctx));
    size_t len = 0;
    unsigned char *b = slurp(out, &len);
    TEST_CHECK(b && len == 3 && !memcmp(b, "old", 3), "existing file modified by failed write");
    free(b);
    unlink(out);
    TEST_CHECK(count_tmp_files() == 0, "temporary file left behind");
    /* Unsupported datatype, missing directory, NIfTI-1 dim limit. */
    st = nne_image_write(ctx, out, img, NNE_DT_COMPLEX64);
    TEST_CHECK(st == NNE_ERR_ARG, "complex64 output: %d", st);
    st = nne_image_write(ctx, "/nonexistent-nnedge-dir/x.nii", img, NNE_DT_FLOAT32);
    TEST_CHECK(st == NNE_ERR_IO && strstr(nne_ctx_last_error(ctx), "x.nii"), "no dir: %d %s",
               st, nne_ctx_last_error(ctx));
    nne_image big = *img;
    big.dim[1] = 40000;
    st = nne_image_write(ctx, out, &big, NNE_DT_FLOAT32);
    TEST_CHECK(st == NNE_ERR_ARG && strstr(nne_ctx_last_error(ctx), "NIfTI-2"), "dim: %d %s",
               st, nne_ctx_last_error(ctx));
    /* A NIfTI-2 sform value beyond float32 cannot be written as NIfTI-1. */
    big = *img;
    big.sform_code = 1;
    big.srow[0][3] = 1e300;
    st = nne_image_write(ctx, out, &big, NNE_DT_FLOAT32);
    TEST_CHECK(st == NNE_ERR_ARG && strstr(nne_ctx_last_error(ctx), "srow_x[3]"), "srow: %d %s",
               st, nne_ctx_last_error(ctx));
    TEST_CHECK(!file_exists(out) && count_tmp_files() == 0, "files left after failed writes");
    nne_image_free(img);
}

/* Scaled integer writes: the header carries scl_slope/scl_inter (float32-rounded in NIfTI-1)
 * and every value reads back within half a slope step; bad slopes are refused. */
static void test_write_scaled(void) {
    nne_image *img = NULL, *back = NULL;
    char out[512];
    if (nne_image_read(ctx, DATA "/good/dt_float32.nii", &img) != NNE_OK) {
        TEST_CHECK(0, "%s", nne_ctx_last_error(ctx));
        return;
    }
    snprintf(out, sizeof out, "%s/scaled.nii.gz", tmpdir);
    const int64_t n = nne_image_n_voxels(img);
    /* (version, slope, inter, value divisor): exact binary slope; ADC-like 0.001 (not a
     * float32 value) for NIfTI-1 and NIfTI-2. */
    const double cases[3][4] = {{1, 0.125, 7, 1}, {1, 0.001, 0, 1000}, {2, 0.001, -0.5, 1000}};
    for (int c = 0; c < 3; c++) {
        nne_image *src = NULL;
        if (nne_image_read(ctx, DATA "/good/dt_float32.nii", &src) != NNE_OK) break;
        src->version = (int)cases[c][0];
        for (int64_t i = 0; i < n; i++) /* about +-900, spread over the voxels */
            src->data[i] = (float)((double)((i * 7919) % 6001 - 3000) * 0.3 / cases[c][3]);
        nne_status st = nne_image_write_scaled(ctx, out, src, NNE_DT_INT16, cases[c][1],
                                               cases[c][2]);
        TEST_CHECK(st == NNE_OK, "write_scaled case %d: %s", c, nne_ctx_last_error(ctx));
        if (st == NNE_OK && nne_image_read(ctx, out, &back) == NNE_OK) {
            double slope = c < 2 ? (double)(float)cases[c][1] : cases[c][1];
            double inter = c < 2 ? (double)(float)cases[c][2] : cases[c][2];
            TEST_CHECK(back->datatype == NNE_DT_INT16 && back->scl_slope == slope &&
                           back->scl_inter == inter,
                       "case %d: datatype %d slope %.9g inter %.9g", c, back->datatype,
                       back->scl_slope, back->scl_inter);
            double err = 0;
            for (int64_t i = 0; i < n; i++)
                err = fmax(err, fabs((double)back->data[i] - (double)src->data[i]));
            TEST_CHECK(err <= 0.5 * slope * (1 + 1e-5) + 1e-6 * fabs(inter) + 1e-7,
                       "case %d: max error %g for slope %g", c, err, slope);
        }
        nne_image_free(back);
        back = NULL;
        nne_image_free(src);
    }
    /* Refused: float types with scaling, non-positive or non-finite slopes, and a value that
     * does not fit after scaling (nothing left behind). */
    unlink(out);
    for (int64_t i = 0; i < n; i++) img->data[i] = (float)((i * 7919) % 6001 - 3000);
    nne_status st = nne_image_write_scaled(ctx, out, img, NNE_DT_FLOAT32, 2.0, 0.0);
    TEST_CHECK(st == NNE_ERR_ARG, "float32 with slope 2: %d", st);
    st = nne_image_write_scaled(ctx, out, img, NNE_DT_INT16, 0.0, 0.0);
    TEST_CHECK(st == NNE_ERR_ARG, "slope 0: %d", st);
    st = nne_image_write_scaled(ctx, out, img, NNE_DT_INT16, (double)NAN, 0.0);
    TEST_CHECK(st == NNE_ERR_ARG, "slope NaN: %d", st);
    st = nne_image_write_scaled(ctx, out, img, NNE_DT_INT16, 0.05, 0.0); /* +-3000 / 0.05 */
    TEST_CHECK(st == NNE_ERR_ARG && strstr(nne_ctx_last_error(ctx), "int16"),
               "out of range after scaling: %d %s", st, nne_ctx_last_error(ctx));
    TEST_CHECK(!file_exists(out) && count_tmp_files() == 0, "files left after failed writes");
    nne_image_free(img);
}

/* Writes one file for the reverse check plus its .txt/.f32 sidecars. */
static void export_one(const char *dir, const char *name, nne_image *img, int version, int dt) {
    char p[512];
    img->version = version;
    snprintf(p, sizeof p, "%s/%s", dir, name);
    nne_status st = nne_image_write(ctx, p, img, dt);
    TEST_CHECK(st == NNE_OK, "export %s: %s", name, nne_ctx_last_error(ctx));
    if (st != NNE_OK) return;
    char stem[256];
    snprintf(stem, sizeof stem, "%s", name);
    char *dot = strstr(stem, ".nii");
    if (dot) *dot = '\0';
    snprintf(p, sizeof p, "%s/%s.f32", dir, stem);
    FILE *f = fopen(p, "wb");
    if (!f) return;
    int64_t n = nne_image_n_voxels(img);
    for (int64_t i = 0; i < n; i++) { /* the values as stored in `dt` (rounded for ints) */
        float v = img->data[i];
        if (dt != NNE_DT_FLOAT32 && dt != NNE_DT_FLOAT64) v = nearbyintf(v);
        fwrite(&v, 4, 1, f);
    }
    fclose(f);
    snprintf(p, sizeof p, "%s/%s.txt", dir, stem);
    f = fopen(p, "w");
    if (!f) return;
    fprintf(f, "datatype %s\nshape", nne_image_datatype_name(dt));
    for (int i = 1; i <= img->ndim; i++) fprintf(f, " %lld", (long long)img->dim[i]);
    double m[4][4], sp[3], org[3], dir9[9];
    nne_image_affine(img, m);
    fprintf(f, "\naffine");
    for (int i = 0; i < 16; i++) fprintf(f, " %.17g", m[i / 4][i % 4]);
    if (nne_image_itk_geometry(ctx, img, sp, org, dir9) == NNE_OK) {
        fprintf(f, "\nitk");
        for (int i = 0; i < 3; i++) fprintf(f, " %.17g", sp[i]);
        for (int i = 0; i < 3; i++) fprintf(f, " %.17g", org[i]);
        for (int i = 0; i < 9; i++) fprintf(f, " %.17g", dir9[i]);
    }
    fprintf(f, "\n");
    fclose(f);
}

/* Files for the reverse check by nibabel/SimpleITK (tools/gen_nifti_fixtures.py
 * --check-written): a uint8 mask (NIfTI-1 .nii.gz and NIfTI-2 .nii), float32 and float64 DWI,
 * int16 re-written little-endian from a big-endian file, and a 4-D float32 probability map
 * built with nne_image_alloc_like (dim[4] = 3 classes). */
static void test_export(void) {
    const char *dir = getenv("NNE_NIFTI_WRITTEN_DIR");
    if (!dir || !*dir) dir = tmpdir;
    mkdir(dir, 0755);
    nne_image *dwi = NULL, *msk = NULL, *i16 = NULL, *prob = NULL;
    if (nne_image_read(ctx, DATA "/good/isles_dwi.nii.gz", &dwi) != NNE_OK ||
        nne_image_read(ctx, DATA "/good/isles_msk.nii.gz", &msk) != NNE_OK ||
        nne_image_read(ctx, DATA "/good/be_int16.nii", &i16) != NNE_OK) {
        TEST_CHECK(0, "export inputs: %s", nne_ctx_last_error(ctx));
        goto done;
    }
    export_one(dir, "mask_u8.nii.gz", msk, 1, NNE_DT_UINT8);
    export_one(dir, "mask_u8_v2.nii", msk, 2, NNE_DT_UINT8);
    export_one(dir, "dwi_f32.nii", dwi, 1, NNE_DT_FLOAT32);
    export_one(dir, "dwi_f64_v2.nii.gz", dwi, 2, NNE_DT_FLOAT64);
    export_one(dir, "int16_from_be.nii", i16, 1, NNE_DT_INT16);
    /* A 4-D float32 "probability" map with the DWI's geometry and 3 classes. */
    int64_t d[8] = {4, dwi->dim[1], dwi->dim[2], dwi->dim[3], 3, 1, 1, 1};
    if (nne_image_alloc_like(ctx, dwi, 4, d, &prob) == NNE_OK) {
        int64_t n = nne_image_n_voxels(prob);
        for (int64_t i = 0; i < n; i++) prob->data[i] = (float)(i % 101) / 100.0f;
        prob->pixdim[4] = 1.0;
        export_one(dir, "prob_4d.nii.gz", prob, 1, NNE_DT_FLOAT32);
        nne_image *back = NULL;
        char p[512];
        snprintf(p, sizeof p, "%s/prob_4d.nii.gz", dir);
        TEST_CHECK(nne_image_read(ctx, p, &back) == NNE_OK && back->ndim == 4 &&
                       back->dim[4] == 3 && !memcmp(back->data, prob->data, (size_t)n * 4),
                   "4-D probability map round trip");
        nne_image_free(back);
    } else {
        TEST_CHECK(0, "alloc_like: %s", nne_ctx_last_error(ctx));
    }
done:
    nne_image_free(dwi);
    nne_image_free(msk);
    nne_image_free(i16);
    nne_image_free(prob);
}

int main(void) {
    nne_log_set_level(NNE_LOG_LEVEL_ERROR);
    nne_ctx_params p = nne_ctx_default_params();
    p.n_threads = 1;
    if (nne_ctx_init(&p, &ctx) != NNE_OK) return 1;
    cJSON *expect = NULL;
    if (nne_json_read_file(ctx, DATA "/expect.json", &expect) != NNE_OK) {
        test_skip("tests/data/nifti/expect.json missing (tools/gen_nifti_fixtures.py)");
        nne_ctx_free(ctx);
        return TEST_SUMMARY();
    }
    snprintf(tmpdir, sizeof tmpdir, "/tmp/nne_nifti_XXXXXX");
    if (!mkdtemp(tmpdir)) return 1;

    test_good(cJSON_GetObjectItem(expect, "good"));
    test_bad(cJSON_GetObjectItem(expect, "bad"));
    test_names();
    test_round_trips();
    test_oracle(cJSON_GetObjectItem(expect, "oracle"));
    test_write_errors();
    test_write_scaled();
    test_export();

    rm_tmpdir();
    cJSON_Delete(expect);
    nne_ctx_free(ctx);
    return TEST_SUMMARY();
}
