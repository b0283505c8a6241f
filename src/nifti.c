/*
 * nifti.c - strict NIfTI-1 / NIfTI-2 reader and atomic writer, plus voxel->world geometry in
 * NIfTI's and in SimpleITK's conventions (see nifti.h for the data layout).
 *
 * DESIGN
 * Reading is one pass over a byte stream (src/gz.c) that is either a plain or a gzip file or a
 * memory buffer, so the file reader and the fuzzed memory reader share every check:
 *   1. The first 4 bytes (sizeof_hdr) select the version and the byte order: 348 means
 *      NIfTI-1, 540 NIfTI-2, read little- or big-endian, whichever gives one of them.
 *   2. The rest of the header is read and every field the image depends on is validated:
 *      magic, dim[0] in 1..7, dim[1..ndim] >= 1, the voxel count and byte count fit int64 and
 *      the size cap, datatype known and convertible, bitpix consistent, pixdim finite,
 *      vox_offset integral and >= the header size, xform codes in 0..5, the parameters of an
 *      active qform/sform finite, an active sform non-singular.
 *   3. The 4-byte extender and the extensions (esize >= 16, a multiple of 16, inside
 *      vox_offset) are skipped; bytes up to vox_offset are discarded.
 *   4. The data is read in chunks of at most 1 MiB and converted to float32 with
 *      scl_slope/scl_inter applied (NIfTI: slope 0 or non-finite means "no scaling").
 *      When the stream size is known (plain file or buffer) it is checked against the header
 *      before anything is allocated; for gzip the output grows with the data actually
 *      inflated, so a hostile header cannot make us allocate more than the data justifies.
 *      Short data is "data truncated: expected N bytes, got M".
 * Writing converts float32 to the requested datatype into a temporary file next to the target
 * (mkstemp), then fsync + rename, so readers never see a partial file; any failure unlinks it.
 *
 * SIMPLEITK GEOMETRY (nne_image_itk_geometry; verified with SimpleITK 2.5 / ITK 5.4, see
 * tools/gen_nifti_fixtures.py and docs/NIFTI.md)
 *   - spacing = pixdim[1..3] (0 read as 1), times 1000 for meters and 0.001 for microns
 *     (xyzt_units; the origin is scaled alike); never the sform's column norms, even when
 *     they differ (ITK only warns).
 *   - The transform is the sform when (a) qform_code == 0 and sform_code > 0, or
 *     (b) sform_code == 1 (SCANNER_ANAT), or (c) both codes > 0 and the two matrices agree
 *     within 1e-4 (ITK compares float SVDs, we compare normalised columns, norms and offsets:
 *     the same decision unless two voxel sizes are equal, where ITK's SVD is ill-defined and
 *     the two matrices are within 1e-4 anyway) - provided the sform has no shear: its
 *     column-normalised 3x3 R must satisfy |R R^T - I| <= 1e-4 element-wise. Also when the
 *     qform and sform 4x4 agree within 1e-5 (translation within 1e-7). Otherwise the qform
 *     is used if qform_code > 0; otherwise ITK throws ("No orthonormal definition found"),
 *     which we report as NNE_ERR_UNSUPPORTED.
 *   - Neither code set: origin 0 and identity direction.
 *   - origin = (-m03, -m13, m23) and direction column c = normalise(-m0c, -m1c, m2c): RAS to
 *     LPS by negating the first two rows. The matrices are rounded to float32 first for
 *     NIfTI-1, as ITK's nifti library stores them (bitwise agreement of origins).
 * ref: nifti1.h / nifti2.h field lists (NIfTI DFWG); ITK itkNiftiImageIO.cxx
 * SetImageIOOrientationFromNIfTI (behaviour only); nibabel Nifti1Header.get_qform (oracle).
 */
#include "nifti.h"

#include "bytes.h"

#include <errno.h>
#include <float.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "gz.h"

/* Largest image accepted, in bytes of file data and of float32 output. Fuzz builds use a
 * smaller cap so that hostile headers cannot exhaust the fuzzer's memory limit. */
#ifdef FUZZING_BUILD_MODE_UNSAFE_FOR_PRODUCTION
#define MAX_BYTES ((int64_t)1 << 30)
#else
#define MAX_BYTES ((int64_t)8 << 30)
#endif

#define CHUNK ((size_t)1 << 20)          /* bytes of file data converted per step    */
#define GROW_START ((int64_t)1 << 22)    /* voxels allocated first for gzip streams   */
#define HDR1 348                         /* NIfTI-1 header bytes                      */
#define HDR2 540                         /* NIfTI-2 header bytes                      */

/* ---------------------------------------------------------------------------------------- */
/* Datatypes                                                                                 */
/* ---------------------------------------------------------------------------------------- */

typedef struct dtinfo {
    int code;         /* NNE_DT_*                                   */
    const char *name; /* for messages                              */
    int size;         /* bytes per voxel                           */
    int ok;           /* 1 if we convert it to float32             */
} dtinfo;

static const dtinfo DTYPES[] = {
    {NNE_DT_UINT8, "uint8", 1, 1},          {NNE_DT_INT8, "int8", 1, 1},
    {NNE_DT_INT16, "int16", 2, 1},          {NNE_DT_UINT16, "uint16", 2, 1},
    {NNE_DT_INT32, "int32", 4, 1},          {NNE_DT_UINT32, "uint32", 4, 1},
    {NNE_DT_INT64, "int64", 8, 1},          {NNE_DT_UINT64, "uint64", 8, 1},
    {NNE_DT_FLOAT32, "float32", 4, 1},      {NNE_DT_FLOAT64, "float64", 8, 1},
    {NNE_DT_COMPLEX64, "complex64", 8, 0},  {NNE_DT_COMPLEX128, "complex128", 16, 0},
    {NNE_DT_COMPLEX256, "complex256", 32, 0}, {NNE_DT_FLOAT128, "float128", 16, 0},
    {NNE_DT_RGB24, "rgb24", 3, 0},          {NNE_DT_RGBA32, "rgba32", 4, 0},
};

static const dtinfo *dt_find(int code) {
    for (size_t i = 0; i < NNE_ARRAY_LEN(DTYPES); i++)
        if (DTYPES[i].code == code) return &DTYPES[i];
    return NULL;
}

const char *nne_image_datatype_name(int datatype) {
    const dtinfo *d = dt_find(datatype);
    return d ? d->name : "unknown";
}

/* ---------------------------------------------------------------------------------------- */
/* Byte access (explicit byte order, no struct overlays)                                      */
/* ---------------------------------------------------------------------------------------- */

static uint16_t ld16(const unsigned char *p, int be) {
    return be ? (uint16_t)(p[0] << 8 | p[1]) : (uint16_t)(p[1] << 8 | p[0]);
}
static uint32_t ld32(const unsigned char *p, int be) {
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) v |= (uint32_t)p[be ? 3 - i : i] << (8 * i);
    return v;
}
static uint64_t ld64(const unsigned char *p, int be) {
    uint64_t v = 0;
    for (int i = 0; i < 8; i++) v |= (uint64_t)p[be ? 7 - i : i] << (8 * i);
    return v;
}
static int16_t ldi16(const unsigned char *p, int be) { return (int16_t)ld16(p, be); }
static int32_t ldi32(const unsigned char *p, int be) { return (int32_t)ld32(p, be); }
static int64_t ldi64(const unsigned char *p, int be) { return (int64_t)ld64(p, be); }
/* A float32 field, widened exactly to double. */
static float ldf32f(const unsigned char *p, int be) {
    uint32_t u = ld32(p, be);
    float f;
    memcpy(&f, &u, 4);
    return f;
}
static double ldf32(const unsigned char *p, int be) { return (double)ldf32f(p, be); }
static double ldf64(const unsigned char *p, int be) {
    uint64_t u = ld64(p, be);
    double d;
    memcpy(&d, &u, 8);
    return d;
}

/* double -> float32 without undefined behaviour: values beyond the float range become
 * +-infinity (a plain cast of such a value is undefined in C). */
static float to_f32(double d) {
    if (d > (double)FLT_MAX) return INFINITY;
    if (d < -(double)FLT_MAX) return -INFINITY;
    return (float)d; /* NaN and in-range values convert as usual */
}

static void st16(unsigned char *p, int16_t v) { nne_st_u16le(p, (uint16_t)v); }
static void stf32(unsigned char *p, double d) {
    float f = to_f32(d);
    uint32_t u;
    memcpy(&u, &f, 4);
    nne_st_u32le(p, u);
}
static void stf64(unsigned char *p, double d) {
    uint64_t u;
    memcpy(&u, &d, 8);
    nne_st_u64le(p, u);
}

/* Copies a fixed-size, possibly unterminated header string. */
static void ldstr(char *dst, const unsigned char *src, size_t n) {
    size_t k = 0;
    while (k < n && src[k]) k++;
    memcpy(dst, src, k);
    dst[k] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Header parsing                                                                            */
/* ---------------------------------------------------------------------------------------- */

/*
 * Header layouts (byte offset: field, type). All multi-byte fields in the file's byte order.
 *
 *   NIfTI-1 (348 bytes)                      NIfTI-2 (540 bytes)
 *     0 sizeof_hdr     int32 = 348             0 sizeof_hdr     int32 = 540
 *     4 data_type, db_name, extents,           4 magic          char[8] "n+2\0\r\n\032\n"
 *       session_error, regular (unused)       12 datatype       int16
 *    39 dim_info       uint8                  14 bitpix         int16
 *    40 dim[8]         int16                  16 dim[8]         int64
 *    56 intent_p1..p3  float32                80 intent_p1..p3  float64
 *    68 intent_code    int16                 104 pixdim[8]      float64
 *    70 datatype       int16                 168 vox_offset     int64
 *    72 bitpix         int16                 176 scl_slope      float64
 *    74 slice_start    int16                 184 scl_inter      float64
 *    76 pixdim[8]      float32               192 cal_max        float64
 *   108 vox_offset     float32               200 cal_min        float64
 *   112 scl_slope      float32               208 slice_duration float64
 *   116 scl_inter      float32               216 toffset        float64
 *   120 slice_end      int16                 224 slice_start    int64
 *   122 slice_code     uint8                 232 slice_end      int64
 *   123 xyzt_units     uint8                 240 descrip        char[80]
 *   124 cal_max        float32               320 aux_file       char[24]
 *   128 cal_min        float32               344 qform_code     int32
 *   132 slice_duration float32               348 sform_code     int32
 *   136 toffset        float32               352 quatern_b,c,d  float64
 *   140 glmax, glmin   int32 (unused)        376 qoffset_x,y,z  float64
 *   148 descrip        char[80]              400 srow_x,y,z     float64[4] each
 *   228 aux_file       char[24]              496 slice_code     int32
 *   252 qform_code     int16                 500 xyzt_units     int32
 *   254 sform_code     int16                 504 intent_code    int32
 *   256 quatern_b,c,d  float32               508 intent_name    char[16]
 *   268 qoffset_x,y,z  float32               524 dim_info       uint8
 *   280 srow_x,y,z     float32[4] each       525 unused         char[15]
 *   328 intent_name    char[16]
 *   344 magic          char[4] "n+1\0"
 *
 * A single-file image continues with a 4-byte extender (byte 0 non-zero: extensions follow),
 * the extensions (int32 esize, int32 ecode, esize - 8 bytes of payload; esize a multiple of
 * 16) and the voxel data at vox_offset.
 */

/* Fills img from a complete header `h` (HDR1 or HDR2 bytes) and validates it. Returns the
 * byte count of the voxel data in *nbytes. Checks are ordered so that every message names
 * the first field that is wrong. */
static nne_status parse_header(nne_ctx *ctx, const char *label, const unsigned char *h,
                               int version, int be, nne_image *img, int64_t *nbytes) {
    int64_t dim[8];
    double pixdim[8];
    double vox_off;
    if (version == 1) {
        if (memcmp(h + 344, "ni1\0", 4) == 0)
            return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                            "%s: magic \"ni1\": separate .hdr/.img NIfTI-1 pairs are not "
                            "supported (convert to a single .nii)", label);
        if (memcmp(h + 344, "n+1\0", 4) != 0)
            return nne_fail(ctx, NNE_ERR_FORMAT,
                            "%s: bad magic %02x %02x %02x %02x (expected \"n+1\")", label,
                            h[344], h[345], h[346], h[347]);
        for (int i = 0; i < 8; i++) {
            dim[i] = ldi16(h + 40 + 2 * i, be);
            pixdim[i] = ldf32(h + 76 + 4 * i, be);
        }
        img->dim_info = h[39];
        img->intent_p1 = ldf32(h + 56, be);
        img->intent_p2 = ldf32(h + 60, be);
        img->intent_p3 = ldf32(h + 64, be);
        img->intent_code = ldi16(h + 68, be);
        img->datatype = ldi16(h + 70, be);
        img->bitpix = ldi16(h + 72, be);
        img->slice_start = ldi16(h + 74, be);
        vox_off = ldf32(h + 108, be);
        img->scl_slope = ldf32(h + 112, be);
        img->scl_inter = ldf32(h + 116, be);
        img->slice_end = ldi16(h + 120, be);
        img->slice_code = h[122];
        img->xyzt_units = h[123];
        img->cal_max = ldf32(h + 124, be);
        img->cal_min = ldf32(h + 128, be);
        img->slice_duration = ldf32(h + 132, be);
        img->toffset = ldf32(h + 136, be);
        ldstr(img->descrip, h + 148, 80);
        ldstr(img->aux_file, h + 228, 24);
        img->qform_code = ldi16(h + 252, be);
        img->sform_code = ldi16(h + 254, be);
        img->quatern_b = ldf32(h + 256, be);
        img->quatern_c = ldf32(h + 260, be);
        img->quatern_d = ldf32(h + 264, be);
        img->qoffset_x = ldf32(h + 268, be);
        img->qoffset_y = ldf32(h + 272, be);
        img->qoffset_z = ldf32(h + 276, be);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) img->srow[r][c] = ldf32(h + 280 + 16 * r + 4 * c, be);
        ldstr(img->intent_name, h + 328, 16);
    } else {
        if (memcmp(h + 4, "ni2\0", 4) == 0)
            return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                            "%s: magic \"ni2\": separate .hdr/.img NIfTI-2 pairs are not "
                            "supported (convert to a single .nii)", label);
        if (memcmp(h + 4, "n+2\0", 4) != 0)
            return nne_fail(ctx, NNE_ERR_FORMAT,
                            "%s: bad magic %02x %02x %02x %02x (expected \"n+2\")", label, h[4],
                            h[5], h[6], h[7]);
        if (memcmp(h + 8, "\r\n\032\n", 4) != 0)
            return nne_fail(ctx, NNE_ERR_FORMAT,
                            "%s: magic: the NIfTI-2 line-ending check bytes are altered (file "
                            "transferred in text mode?)", label);
        img->datatype = ldi16(h + 12, be);
        img->bitpix = ldi16(h + 14, be);
        for (int i = 0; i < 8; i++) {
            dim[i] = ldi64(h + 16 + 8 * i, be);
            pixdim[i] = ldf64(h + 104 + 8 * i, be);
        }
        img->intent_p1 = ldf64(h + 80, be);
        img->intent_p2 = ldf64(h + 88, be);
        img->intent_p3 = ldf64(h + 96, be);
        int64_t vo = ldi64(h + 168, be);
        if (vo < 0 || vo > ((int64_t)1 << 52))
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: vox_offset %lld out of range", label,
                            (long long)vo);
        vox_off = (double)vo;
        img->scl_slope = ldf64(h + 176, be);
        img->scl_inter = ldf64(h + 184, be);
        img->cal_max = ldf64(h + 192, be);
        img->cal_min = ldf64(h + 200, be);
        img->slice_duration = ldf64(h + 208, be);
        img->toffset = ldf64(h + 216, be);
        img->slice_start = ldi64(h + 224, be);
        img->slice_end = ldi64(h + 232, be);
        ldstr(img->descrip, h + 240, 80);
        ldstr(img->aux_file, h + 320, 24);
        img->qform_code = ldi32(h + 344, be);
        img->sform_code = ldi32(h + 348, be);
        img->quatern_b = ldf64(h + 352, be);
        img->quatern_c = ldf64(h + 360, be);
        img->quatern_d = ldf64(h + 368, be);
        img->qoffset_x = ldf64(h + 376, be);
        img->qoffset_y = ldf64(h + 384, be);
        img->qoffset_z = ldf64(h + 392, be);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) img->srow[r][c] = ldf64(h + 400 + 32 * r + 8 * c, be);
        img->slice_code = ldi32(h + 496, be);
        img->xyzt_units = ldi32(h + 500, be);
        img->intent_code = ldi32(h + 504, be);
        ldstr(img->intent_name, h + 508, 16);
        img->dim_info = h[524];
    }
    img->version = version;

    /* Dimensions: dim[0] is the count, every used dim must be positive. */
    if (dim[0] < 1 || dim[0] > 7)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: dim[0] = %lld, expected 1..7", label,
                        (long long)dim[0]);
    img->ndim = (int)dim[0];
    int64_t nvox = 1;
    for (int i = 1; i <= 7; i++) {
        if (i <= img->ndim) {
            if (dim[i] < 1)
                return nne_fail(ctx, NNE_ERR_FORMAT, "%s: dim[%d] = %lld, must be >= 1", label,
                                i, (long long)dim[i]);
            if (nne_mul_i64(nvox, dim[i], &nvox))
                return nne_fail(ctx, NNE_ERR_FORMAT, "%s: dim: voxel count overflows", label);
            img->dim[i] = dim[i];
        } else {
            img->dim[i] = 1; /* unused dimensions are 1, whatever the file holds */
        }
    }
    img->dim[0] = img->ndim;

    /* Datatype: known, convertible, bitpix consistent with it. */
    const dtinfo *dt = dt_find(img->datatype);
    if (!dt)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: datatype %d is not a NIfTI datatype", label,
                        img->datatype);
    if (!dt->ok)
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "%s: datatype %s (%d) is not supported (scalar types only)", label,
                        dt->name, dt->code);
    if (img->bitpix != 8 * dt->size)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: bitpix = %d, but datatype %s has %d bits",
                        label, img->bitpix, dt->name, 8 * dt->size);
    int64_t nb;
    if (nne_mul_i64(nvox, dt->size, &nb))
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: dim: data size overflows", label);
    if (nb > MAX_BYTES || nvox > MAX_BYTES / 4)
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "%s: image of %lld voxels (%s) exceeds the %lld-byte limit", label,
                        (long long)nvox, dt->name, (long long)MAX_BYTES);

    /* pixdim: finite for the qfac, every used dimension and the three spatial ones. */
    int npix = img->ndim > 3 ? img->ndim : 3;
    for (int i = 0; i < 8; i++) {
        if (i <= npix && !isfinite(pixdim[i]))
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: pixdim[%d] is not finite", label, i);
        img->pixdim[i] = pixdim[i];
    }

    /* vox_offset: an integral byte offset at or after the header. */
    int hsize = version == 1 ? HDR1 : HDR2;
    if (!isfinite(vox_off) || vox_off != floor(vox_off) || vox_off < hsize ||
        vox_off > 4503599627370496.0)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: vox_offset = %g, expected an integer >= %d",
                        label, vox_off, hsize);
    img->vox_offset = (int64_t)vox_off;

    /* Transforms: known codes, finite parameters when in use, a non-singular sform. */
    if (img->qform_code < 0 || img->qform_code > NNE_XFORM_TEMPLATE_OTHER)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: qform_code = %d, expected 0..5", label,
                        img->qform_code);
    if (img->sform_code < 0 || img->sform_code > NNE_XFORM_TEMPLATE_OTHER)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: sform_code = %d, expected 0..5", label,
                        img->sform_code);
    if (img->qform_code > 0) {
        const double q[6] = {img->quatern_b, img->quatern_c, img->quatern_d,
                             img->qoffset_x, img->qoffset_y, img->qoffset_z};
        for (int i = 0; i < 6; i++)
            if (!isfinite(q[i]))
                return nne_fail(ctx, NNE_ERR_FORMAT,
                                "%s: qform parameters (quatern_*/qoffset_*) are not finite",
                                label);
    }
    if (img->sform_code > 0) {
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++)
                if (!isfinite(img->srow[r][c]))
                    return nne_fail(ctx, NNE_ERR_FORMAT, "%s: srow_%c[%d] is not finite",
                                    label, "xyz"[r], c);
        double(*s)[4] = img->srow;
        double det = s[0][0] * (s[1][1] * s[2][2] - s[1][2] * s[2][1]) -
                     s[0][1] * (s[1][0] * s[2][2] - s[1][2] * s[2][0]) +
                     s[0][2] * (s[1][0] * s[2][1] - s[1][1] * s[2][0]);
        if (det == 0.0 || !isfinite(det))
            return nne_fail(ctx, NNE_ERR_FORMAT, "%s: sform (srow_x/y/z) is singular", label);
    }
    *nbytes = nb;
    return NNE_OK;
}

/* ---------------------------------------------------------------------------------------- */
/* Voxel conversion                                                                          */
/* ---------------------------------------------------------------------------------------- */

/* Converts n voxels of datatype `dt` (file byte order `be`) at `src` to float32 in `dst`,
 * applying y = slope * x + inter in double when `scale` is set. */
static void convert_in(float *dst, const unsigned char *src, int64_t n, int dt, int be,
                       int scale, double slope, double inter) {
    for (int64_t i = 0; i < n; i++) {
        double v;
        switch (dt) {
        case NNE_DT_UINT8: v = src[i]; break;
        case NNE_DT_INT8: v = (int8_t)src[i]; break;
        case NNE_DT_INT16: v = ldi16(src + 2 * i, be); break;
        case NNE_DT_UINT16: v = ld16(src + 2 * i, be); break;
        case NNE_DT_INT32: v = ldi32(src + 4 * i, be); break;
        case NNE_DT_UINT32: v = ld32(src + 4 * i, be); break;
        case NNE_DT_INT64: v = (double)ldi64(src + 8 * i, be); break;
        case NNE_DT_UINT64: v = (double)ld64(src + 8 * i, be); break;
        case NNE_DT_FLOAT32:
            if (!scale) { /* no detour through double: keeps NaN payloads and -0 as stored */
                dst[i] = ldf32f(src + 4 * i, be);
                continue;
            }
            v = ldf32(src + 4 * i, be);
            break;
        default: v = ldf64(src + 8 * i, be); break; /* NNE_DT_FLOAT64 */
        }
        dst[i] = to_f32(scale ? v * slope + inter : v);
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Reader                                                                                    */
/* ---------------------------------------------------------------------------------------- */

void nne_image_free(nne_image *img) {
    if (!img) return;
    free(img->data);
    free(img);
}

int64_t nne_image_n_voxels(const nne_image *img) {
    int64_t n = 1;
    for (int i = 1; i <= img->ndim; i++) n *= img->dim[i];
    return n;
}

/* Reads exactly n bytes or fails with "<what> truncated". */
static nne_status read_exact(nne_ctx *ctx, nne_gz *s, const char *label, void *buf, size_t n,
                             const char *what) {
    size_t got = 0;
    nne_status st = nne_gz_read(ctx, s, buf, n, &got);
    if (st != NNE_OK) return st;
    if (got != n)
        return nne_fail(ctx, NNE_ERR_FORMAT, "%s: %s truncated: expected %zu bytes, got %zu",
                        label, what, n, got);
    return NNE_OK;
}

/* Discards n bytes (extension payloads, padding before vox_offset). */
static nne_status skip_bytes(nne_ctx *ctx, nne_gz *s, const char *label, int64_t n,
                             unsigned char *scratch, const char *what) {
    while (n > 0) {
        size_t k = (size_t)NNE_MIN(n, (int64_t)CHUNK);
        nne_status st = read_exact(ctx, s, label, scratch, k, what);
        if (st != NNE_OK) return st;
        n -= (int64_t)k;
    }
    return NNE_OK;
}

static nne_status read_stream(nne_ctx *ctx, nne_gz *s, const char *label, nne_image **out) {
    nne_status st = NNE_OK;
    nne_image *img = NULL;
    unsigned char *buf = NULL; /* CHUNK bytes: header, skipped bytes, raw voxel chunks */
    float *data = NULL;        /* output voxels, [cap] of which [nvox_done] filled   */
    int64_t nbytes = 0;

    buf = malloc(CHUNK);
    img = calloc(1, sizeof *img);
    if (!buf || !img) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory", label);
        goto fail;
    }

    /* 1. sizeof_hdr selects version and byte order. NIfTI has no byte-order flag: a reader
     *    tries both orders and takes the one giving 348 or 540 (nifti1.h recommends testing
     *    dim[0] instead; sizeof_hdr is unambiguous for both versions and checked first). The
     *    first read asks for 348 bytes, enough to decide, then a NIfTI-2 header is completed. */
    size_t got = 0;
    st = nne_gz_read(ctx, s, buf, HDR1, &got);
    if (st != NNE_OK) goto fail;
    if (got < 4) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: header truncated: expected 348 bytes, got %zu",
                      label, got);
        goto fail;
    }
    int version, be;
    int32_t le_size = ldi32(buf, 0), be_size = ldi32(buf, 1);
    if (le_size == HDR1 || le_size == HDR2) {
        version = le_size == HDR1 ? 1 : 2;
        be = 0;
    } else if (be_size == HDR1 || be_size == HDR2) {
        version = be_size == HDR1 ? 1 : 2;
        be = 1;
    } else {
        st = nne_fail(ctx, NNE_ERR_FORMAT,
                      "%s: sizeof_hdr = %d (byte-swapped %d): not a NIfTI-1 (348) or NIfTI-2 "
                      "(540) file", label, le_size, be_size);
        goto fail;
    }
    int hsize = version == 1 ? HDR1 : HDR2;
    if (got < HDR1) {
        st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: header truncated: expected %d bytes, got %zu",
                      label, hsize, got);
        goto fail;
    }
    if (version == 2) {
        size_t more = 0;
        st = nne_gz_read(ctx, s, buf + HDR1, HDR2 - HDR1, &more);
        if (st != NNE_OK) goto fail;
        if (more != HDR2 - HDR1) {
            st = nne_fail(ctx, NNE_ERR_FORMAT,
                          "%s: header truncated: expected 540 bytes, got %zu", label,
                          HDR1 + more);
            goto fail;
        }
    }

    /* 2. Header fields: parse_header validates and fills img; dt is known to be convertible
     *    and nvox * size (= nbytes) within the cap from here on. */
    st = parse_header(ctx, label, buf, version, be, img, &nbytes);
    if (st != NNE_OK) goto fail;
    const dtinfo *dt = dt_find(img->datatype);
    int64_t nvox = nne_image_n_voxels(img);

    /* A plain stream of known size must hold the whole data: check before allocating. */
    int64_t psize = nne_gz_plain_size(s);
    if (psize >= 0) {
        if (img->vox_offset > psize) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: vox_offset = %lld is beyond the end of the "
                          "file (%lld bytes)", label, (long long)img->vox_offset,
                          (long long)psize);
            goto fail;
        }
        if (psize - img->vox_offset < nbytes) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: data truncated: expected %lld bytes, got "
                          "%lld", label, (long long)nbytes,
                          (long long)(psize - img->vox_offset));
            goto fail;
        }
    }

    /* 3. Extender and extensions, then padding up to vox_offset. */
    int64_t pos = hsize;
    if (img->vox_offset >= pos + 4) {
        st = read_exact(ctx, s, label, buf, 4, "extender");
        if (st != NNE_OK) goto fail;
        pos += 4;
        if (buf[0] != 0) {
            while (pos + 8 <= img->vox_offset) {
                st = read_exact(ctx, s, label, buf, 8, "extension header");
                if (st != NNE_OK) goto fail;
                int32_t esize = ldi32(buf, be), ecode = ldi32(buf + 4, be);
                if (esize == 0 && ecode == 0) { /* zero padding before the data */
                    pos += 8;
                    break;
                }
                if (esize < 16 || esize % 16 != 0 || esize > img->vox_offset - pos) {
                    st = nne_fail(ctx, NNE_ERR_FORMAT,
                                  "%s: extension %d: esize = %d (must be a multiple of 16, "
                                  ">= 16, and end before vox_offset %lld)", label,
                                  img->n_extensions, esize, (long long)img->vox_offset);
                    goto fail;
                }
                st = skip_bytes(ctx, s, label, esize - 8, buf, "extension");
                if (st != NNE_OK) goto fail;
                pos += esize;
                img->n_extensions++;
            }
        }
    }
    if (pos < img->vox_offset) {
        size_t skipped = 0;
        int64_t left = img->vox_offset - pos;
        while (left > 0) {
            size_t k = (size_t)NNE_MIN(left, (int64_t)CHUNK);
            st = nne_gz_read(ctx, s, buf, k, &skipped);
            if (st != NNE_OK) goto fail;
            left -= (int64_t)skipped;
            if (skipped < k) {
                st = nne_fail(ctx, NNE_ERR_FORMAT,
                              "%s: vox_offset = %lld is beyond the end of the data (%lld bytes)",
                              label, (long long)img->vox_offset,
                              (long long)(img->vox_offset - left));
                goto fail;
            }
        }
    }

    /* 4. Voxels, chunk by chunk. The output grows with the data for gzip streams: a 100-byte
     *    hostile .gz claiming 1e9 voxels costs at most GROW_START floats before it runs dry.
     *    Scaling: NIfTI says slope 0 means "unscaled"; an identity scaling is skipped so that
     *    float32 data is copied bit for bit. */
    int scale = isfinite(img->scl_slope) && img->scl_slope != 0.0;
    double slope = scale ? img->scl_slope : 1.0;
    double inter = scale && isfinite(img->scl_inter) ? img->scl_inter : 0.0;
    if (slope == 1.0 && inter == 0.0) scale = 0;
    int64_t cap = psize >= 0 ? nvox : NNE_MIN(nvox, GROW_START);
    data = malloc((size_t)NNE_MAX(cap, 1) * sizeof(float));
    if (!data) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory for %lld voxels", label,
                      (long long)nvox);
        goto fail;
    }
    size_t per_chunk = CHUNK / (size_t)dt->size; /* voxels per chunk */
    int64_t done = 0;                             /* voxels converted */
    while (done < nvox) {
        int64_t want = NNE_MIN(nvox - done, (int64_t)per_chunk);
        size_t k = (size_t)want * (size_t)dt->size;
        st = nne_gz_read(ctx, s, buf, k, &got);
        if (st != NNE_OK) goto fail;
        if (got < k) {
            st = nne_fail(ctx, NNE_ERR_FORMAT, "%s: data truncated: expected %lld bytes, got "
                          "%lld%s", label, (long long)nbytes,
                          (long long)(done * dt->size + (int64_t)got),
                          nne_gz_truncated(s) ? " (gzip stream ends early)" : "");
            goto fail;
        }
        if (done + want > cap) {
            int64_t ncap = NNE_MIN(nvox, NNE_MAX(cap * 2, done + want));
            float *nd = realloc(data, (size_t)ncap * sizeof(float));
            if (!nd) {
                st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory for %lld voxels", label,
                              (long long)ncap);
                goto fail;
            }
            data = nd;
            cap = ncap;
        }
        convert_in(data + done, buf, want, img->datatype, be, scale, slope, inter);
        done += want;
    }
    img->data = data;
    free(buf);
    *out = img;
    return NNE_OK;
fail:
    free(data);
    free(buf);
    free(img);
    return st;
}

nne_status nne_image_read(nne_ctx *ctx, const char *path, nne_image **out) {
    nne_gz *s = NULL;
    nne_status st = nne_gz_open_file(ctx, path, &s);
    if (st != NNE_OK) return st;
    st = read_stream(ctx, s, path, out);
    nne_gz_close(s);
    return st;
}

nne_status nne_image_read_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                              nne_image **out) {
    nne_gz *s = NULL;
    if (!label) label = "(memory)";
    nne_status st = nne_gz_open_mem(ctx, buf, len, label, &s);
    if (st != NNE_OK) return st;
    st = read_stream(ctx, s, label, out);
    nne_gz_close(s);
    return st;
}

nne_status nne_image_alloc_like(nne_ctx *ctx, const nne_image *like, int ndim,
                                const int64_t dim[8], nne_image **out) {
    if (ndim < 1 || ndim > 7)
        return nne_fail(ctx, NNE_ERR_ARG, "image: ndim = %d, expected 1..7", ndim);
    int64_t n = 1;
    for (int i = 1; i <= ndim; i++)
        if (dim[i] < 1 || nne_mul_i64(n, dim[i], &n) || n > MAX_BYTES / 4)
            return nne_fail(ctx, NNE_ERR_ARG, "image: dim[%d] = %lld invalid or too large", i,
                            (long long)dim[i]);
    nne_image *img = malloc(sizeof *img);
    float *data = calloc((size_t)n, sizeof(float));
    if (!img || !data) {
        free(img);
        free(data);
        return nne_fail(ctx, NNE_ERR_NOMEM, "image: out of memory for %lld voxels",
                        (long long)n);
    }
    *img = *like;
    img->data = data;
    img->ndim = ndim;
    img->dim[0] = ndim;
    for (int i = 1; i <= 7; i++) img->dim[i] = i <= ndim ? dim[i] : 1;
    *out = img;
    return NNE_OK;
}

/* Quaternion (a >= 0, b, c, d) of the proper rotation r (row-major 3x3), by the branch on
 * the largest diagonal term that keeps the square root well conditioned. */
static void rot_to_quat(double r[3][3], double q[4]) {
    double t = r[0][0] + r[1][1] + r[2][2], s;
    if (t > 0) {
        s = 2 * sqrt(t + 1);
        q[0] = 0.25 * s, q[1] = (r[2][1] - r[1][2]) / s;
        q[2] = (r[0][2] - r[2][0]) / s, q[3] = (r[1][0] - r[0][1]) / s;
    } else if (r[0][0] > r[1][1] && r[0][0] > r[2][2]) {
        s = 2 * sqrt(1 + r[0][0] - r[1][1] - r[2][2]);
        q[0] = (r[2][1] - r[1][2]) / s, q[1] = 0.25 * s;
        q[2] = (r[0][1] + r[1][0]) / s, q[3] = (r[0][2] + r[2][0]) / s;
    } else if (r[1][1] > r[2][2]) {
        s = 2 * sqrt(1 + r[1][1] - r[0][0] - r[2][2]);
        q[0] = (r[0][2] - r[2][0]) / s, q[1] = (r[0][1] + r[1][0]) / s;
        q[2] = 0.25 * s, q[3] = (r[1][2] + r[2][1]) / s;
    } else {
        s = 2 * sqrt(1 + r[2][2] - r[0][0] - r[1][1]);
        q[0] = (r[1][0] - r[0][1]) / s, q[1] = (r[0][2] + r[2][0]) / s;
        q[2] = (r[1][2] + r[2][1]) / s, q[3] = 0.25 * s;
    }
    if (q[0] < 0)
        for (int i = 0; i < 4; i++) q[i] = -q[i];
}

nne_status nne_image_init_3d(nne_ctx *ctx, const int64_t dim[3], const double affine[4][4],
                             nne_image **out) {
    double r[3][3], sp[3];
    for (int c = 0; c < 3; c++) {
        sp[c] = sqrt(affine[0][c] * affine[0][c] + affine[1][c] * affine[1][c] +
                     affine[2][c] * affine[2][c]);
        if (!(sp[c] > 0) || !isfinite(sp[c]))
            return nne_fail(ctx, NNE_ERR_ARG, "image: affine column %d is zero or not finite",
                            c);
        for (int row = 0; row < 3; row++) r[row][c] = affine[row][c] / sp[c];
    }
    double det = r[0][0] * (r[1][1] * r[2][2] - r[1][2] * r[2][1]) -
                 r[0][1] * (r[1][0] * r[2][2] - r[1][2] * r[2][0]) +
                 r[0][2] * (r[1][0] * r[2][1] - r[1][1] * r[2][0]);
    double qfac = det < 0 ? -1.0 : 1.0;
    for (int row = 0; row < 3; row++) r[row][2] *= qfac; /* k flipped by qfac: proper R */
    nne_image like;
    memset(&like, 0, sizeof like);
    like.version = 1;
    like.datatype = NNE_DT_FLOAT32;
    like.bitpix = 32;
    like.pixdim[0] = qfac;
    for (int i = 1; i <= 7; i++) like.pixdim[i] = i <= 3 ? sp[i - 1] : 1.0;
    double q[4];
    rot_to_quat(r, q);
    like.quatern_b = q[1], like.quatern_c = q[2], like.quatern_d = q[3];
    like.qoffset_x = affine[0][3], like.qoffset_y = affine[1][3], like.qoffset_z = affine[2][3];
    for (int row = 0; row < 3; row++)
        for (int c = 0; c < 4; c++) like.srow[row][c] = affine[row][c];
    like.qform_code = NNE_XFORM_SCANNER_ANAT;
    like.sform_code = NNE_XFORM_SCANNER_ANAT;
    like.xyzt_units = 2; /* NIFTI_UNITS_MM, no time unit */
    int64_t d8[8] = {3, dim[0], dim[1], dim[2], 1, 1, 1, 1};
    return nne_image_alloc_like(ctx, &like, 3, d8, out);
}

/* ---------------------------------------------------------------------------------------- */
/* Writer                                                                                    */
/* ---------------------------------------------------------------------------------------- */

/* Serialises the header (+ 4 zero extender bytes) little-endian into h; returns its size.
 * Unused NIfTI-1 fields (data_type, db_name, extents, session_error, regular, glmax, glmin)
 * are zero, as nibabel writes them; strings are NUL-padded, never NUL-terminated beyond
 * their field. Offsets: see the layout table above parse_header. */
static size_t build_header(unsigned char *h, const nne_image *img, int dt, int bitpix,
                           double slope, double inter, double cal_min, double cal_max) {
    if (img->version == 1) {
        memset(h, 0, HDR1 + 4);
        nne_st_u32le(h, HDR1);
        h[39] = (unsigned char)img->dim_info;
        st16(h + 40, (int16_t)img->ndim);
        for (int i = 1; i < 8; i++) st16(h + 40 + 2 * i, (int16_t)img->dim[i]);
        stf32(h + 56, img->intent_p1);
        stf32(h + 60, img->intent_p2);
        stf32(h + 64, img->intent_p3);
        st16(h + 68, (int16_t)img->intent_code);
        st16(h + 70, (int16_t)dt);
        st16(h + 72, (int16_t)bitpix);
        st16(h + 74, (int16_t)img->slice_start);
        for (int i = 0; i < 8; i++) stf32(h + 76 + 4 * i, img->pixdim[i]);
        stf32(h + 108, HDR1 + 4);
        stf32(h + 112, slope);
        stf32(h + 116, inter);
        st16(h + 120, (int16_t)img->slice_end);
        h[122] = (unsigned char)img->slice_code;
        h[123] = (unsigned char)img->xyzt_units;
        stf32(h + 124, cal_max);
        stf32(h + 128, cal_min);
        stf32(h + 132, img->slice_duration);
        stf32(h + 136, img->toffset);
        memcpy(h + 148, img->descrip, strnlen(img->descrip, 80));
        memcpy(h + 228, img->aux_file, strnlen(img->aux_file, 24));
        st16(h + 252, (int16_t)img->qform_code);
        st16(h + 254, (int16_t)img->sform_code);
        stf32(h + 256, img->quatern_b);
        stf32(h + 260, img->quatern_c);
        stf32(h + 264, img->quatern_d);
        stf32(h + 268, img->qoffset_x);
        stf32(h + 272, img->qoffset_y);
        stf32(h + 276, img->qoffset_z);
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 4; c++) stf32(h + 280 + 16 * r + 4 * c, img->srow[r][c]);
        memcpy(h + 328, img->intent_name, strnlen(img->intent_name, 16));
        memcpy(h + 344, "n+1\0", 4);
        return HDR1 + 4;
    }
    memset(h, 0, HDR2 + 4);
    nne_st_u32le(h, HDR2);
    memcpy(h + 4, "n+2\0\r\n\032\n", 8);
    st16(h + 12, (int16_t)dt);
    st16(h + 14, (int16_t)bitpix);
    nne_st_u64le(h + 16, (uint64_t)img->ndim);
    for (int i = 1; i < 8; i++) nne_st_u64le(h + 16 + 8 * i, (uint64_t)img->dim[i]);
    stf64(h + 80, img->intent_p1);
    stf64(h + 88, img->intent_p2);
    stf64(h + 96, img->intent_p3);
    for (int i = 0; i < 8; i++) stf64(h + 104 + 8 * i, img->pixdim[i]);
    nne_st_u64le(h + 168, HDR2 + 4);
    stf64(h + 176, slope);
    stf64(h + 184, inter);
    stf64(h + 192, cal_max);
    stf64(h + 200, cal_min);
    stf64(h + 208, img->slice_duration);
    stf64(h + 216, img->toffset);
    nne_st_u64le(h + 224, (uint64_t)img->slice_start);
    nne_st_u64le(h + 232, (uint64_t)img->slice_end);
    memcpy(h + 240, img->descrip, strnlen(img->descrip, 80));
    memcpy(h + 320, img->aux_file, strnlen(img->aux_file, 24));
    nne_st_u32le(h + 344, (uint32_t)img->qform_code);
    nne_st_u32le(h + 348, (uint32_t)img->sform_code);
    stf64(h + 352, img->quatern_b);
    stf64(h + 360, img->quatern_c);
    stf64(h + 368, img->quatern_d);
    stf64(h + 376, img->qoffset_x);
    stf64(h + 384, img->qoffset_y);
    stf64(h + 392, img->qoffset_z);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) stf64(h + 400 + 32 * r + 8 * c, img->srow[r][c]);
    nne_st_u32le(h + 496, (uint32_t)img->slice_code);
    nne_st_u32le(h + 500, (uint32_t)img->xyzt_units);
    nne_st_u32le(h + 504, (uint32_t)img->intent_code);
    memcpy(h + 508, img->intent_name, strnlen(img->intent_name, 16));
    h[524] = (unsigned char)img->dim_info;
    return HDR2 + 4;
}

/* Range of each integer output type, as doubles (exactly representable bounds). */
static void int_range(int dt, double *lo, double *hi) {
    switch (dt) {
    case NNE_DT_UINT8: *lo = 0; *hi = 255; break;
    case NNE_DT_INT8: *lo = -128; *hi = 127; break;
    case NNE_DT_INT16: *lo = -32768; *hi = 32767; break;
    case NNE_DT_UINT16: *lo = 0; *hi = 65535; break;
    case NNE_DT_INT32: *lo = -2147483648.0; *hi = 2147483647.0; break;
    case NNE_DT_UINT32: *lo = 0; *hi = 4294967295.0; break;
    /* 2^63 and 2^64 are not valid values; every float32 below them is. */
    case NNE_DT_INT64: *lo = -9223372036854775808.0; *hi = 9223372036854774784.0; break;
    default: *lo = 0; *hi = 18446744073709549568.0; break; /* NNE_DT_UINT64 */
    }
}

/* Converts n floats to the output type (little-endian) into dst; integer types store
 * (value - inter) / slope rounded to nearest. Returns the index of the first value that cannot
 * be represented (NaN, infinite, out of range), or -1. */
static int64_t convert_out(unsigned char *dst, const float *src, int64_t n, int dt, double slope,
                           double inter) {
    double lo = 0, hi = 0;
    int is_int = dt != NNE_DT_FLOAT32 && dt != NNE_DT_FLOAT64;
    if (is_int) int_range(dt, &lo, &hi);
    for (int64_t i = 0; i < n; i++) {
        if (dt == NNE_DT_FLOAT32) {
            uint32_t u;
            memcpy(&u, &src[i], 4);
            nne_st_u32le(dst + 4 * i, u);
            continue;
        }
        if (dt == NNE_DT_FLOAT64) {
            stf64(dst + 8 * i, (double)src[i]);
            continue;
        }
        /* ties to even (default rounding mode); slope 1 / inter 0 is exact */
        double v = nearbyint(((double)src[i] - inter) / slope);
        if (!(v >= lo && v <= hi)) return i;  /* also catches NaN */
        switch (dt) {
        case NNE_DT_UINT8: dst[i] = (unsigned char)v; break;
        case NNE_DT_INT8: dst[i] = (unsigned char)(int8_t)v; break;
        case NNE_DT_INT16: st16(dst + 2 * i, (int16_t)v); break;
        case NNE_DT_UINT16: st16(dst + 2 * i, (int16_t)(uint16_t)v); break;
        case NNE_DT_INT32: nne_st_u32le(dst + 4 * i, (uint32_t)(int32_t)v); break;
        case NNE_DT_UINT32: nne_st_u32le(dst + 4 * i, (uint32_t)v); break;
        case NNE_DT_INT64: nne_st_u64le(dst + 8 * i, (uint64_t)(int64_t)v); break;
        default: nne_st_u64le(dst + 8 * i, (uint64_t)v); break;
        }
    }
    return -1;
}

/* The header fields the reader validates must be valid in what we write, and NIfTI-1's
 * float32/int16/uint8 fields must hold their values. Returns NNE_ERR_ARG naming the field. */
static nne_status check_writable(nne_ctx *ctx, const char *path, const nne_image *img) {
    int v1 = img->version == 1;
    const double lim = v1 ? (double)FLT_MAX : DBL_MAX;
    const char *why = v1 ? " (out of NIfTI-1 float32 range: write NIfTI-2?)" : "";
    int npix = img->ndim > 3 ? img->ndim : 3;
    for (int i = 0; i <= npix; i++)
        if (!isfinite(img->pixdim[i]) || fabs(img->pixdim[i]) > lim)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: pixdim[%d] = %g is not writable%s", path, i,
                            img->pixdim[i], why);
    if (img->qform_code < 0 || img->qform_code > 5 || img->sform_code < 0 ||
        img->sform_code > 5)
        return nne_fail(ctx, NNE_ERR_ARG, "%s: qform_code %d / sform_code %d, expected 0..5",
                        path, img->qform_code, img->sform_code);
    const double q[6] = {img->quatern_b, img->quatern_c, img->quatern_d,
                         img->qoffset_x, img->qoffset_y, img->qoffset_z};
    for (int i = 0; i < 6; i++)
        if (img->qform_code > 0 && (!isfinite(q[i]) || fabs(q[i]) > lim))
            return nne_fail(ctx, NNE_ERR_ARG, "%s: qform parameter %d = %g is not writable%s",
                            path, i, q[i], why);
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++)
            if (img->sform_code > 0 && (!isfinite(img->srow[r][c]) || fabs(img->srow[r][c]) > lim))
                return nne_fail(ctx, NNE_ERR_ARG, "%s: srow_%c[%d] = %g is not writable%s",
                                path, "xyz"[r], c, img->srow[r][c], why);
    if (img->sform_code > 0) {
        /* The sform as it will be stored must be non-singular (the reader checks it). */
        double m[3][3];
        for (int r = 0; r < 3; r++)
            for (int c = 0; c < 3; c++)
                m[r][c] = v1 ? (double)to_f32(img->srow[r][c]) : img->srow[r][c];
        double det = m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
                     m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
                     m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
        if (det == 0.0 || !isfinite(det))
            return nne_fail(ctx, NNE_ERR_ARG, "%s: sform is singular", path);
    }
    if (v1) {
        const double other[7] = {img->intent_p1, img->intent_p2, img->intent_p3, img->cal_min,
                                 img->cal_max, img->slice_duration, img->toffset};
        for (int i = 0; i < 7; i++)
            if (isfinite(other[i]) && fabs(other[i]) > lim)
                return nne_fail(ctx, NNE_ERR_ARG, "%s: a float header field (intent_p, cal, "
                                "slice_duration, toffset) is out of NIfTI-1 range", path);
        if (img->slice_start < INT16_MIN || img->slice_start > INT16_MAX ||
            img->slice_end < INT16_MIN || img->slice_end > INT16_MAX ||
            img->intent_code < INT16_MIN || img->intent_code > INT16_MAX ||
            img->slice_code < 0 || img->slice_code > 255 || img->xyzt_units < 0 ||
            img->xyzt_units > 255)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: slice_start/slice_end/intent_code/"
                            "slice_code/xyzt_units out of NIfTI-1 range", path);
    }
    return NNE_OK;
}

static int ends_with(const char *s, const char *suffix) {
    size_t n = strlen(s), k = strlen(suffix);
    return n >= k && strcmp(s + n - k, suffix) == 0;
}

nne_status nne_image_write(nne_ctx *ctx, const char *path, const nne_image *img, int datatype) {
    return nne_image_write_scaled(ctx, path, img, datatype, 1.0, 0.0);
}

nne_status nne_image_write_scaled(nne_ctx *ctx, const char *path, const nne_image *img,
                                  int datatype, double slope, double inter) {
    nne_status st = NNE_OK;
    char *tmp = NULL;           /* temporary file name, unlinked on failure */
    nne_gzw *w = NULL;
    unsigned char *buf = NULL;  /* CHUNK bytes: header, then converted voxels */

    /* Arguments: a writable datatype, a consistent image. */
    const dtinfo *dt = dt_find(datatype);
    if (!dt || !dt->ok)
        return nne_fail(ctx, NNE_ERR_ARG, "%s: cannot write datatype %d (%s)", path, datatype,
                        nne_image_datatype_name(datatype));
    if (!img || !img->data || (img->version != 1 && img->version != 2))
        return nne_fail(ctx, NNE_ERR_ARG, "%s: image has no data or version is not 1 or 2",
                        path);
    if (img->ndim < 1 || img->ndim > 7 || img->dim[0] != img->ndim)
        return nne_fail(ctx, NNE_ERR_ARG, "%s: ndim = %d / dim[0] = %lld, expected 1..7", path,
                        img->ndim, (long long)img->dim[0]);
    int64_t nvox = 1;
    for (int i = 1; i <= 7; i++) {
        int64_t d = img->dim[i];
        if (i > img->ndim && d != 1)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: dim[%d] = %lld beyond ndim %d, must be 1",
                            path, i, (long long)d, img->ndim);
        if (d < 1 || nne_mul_i64(nvox, d, &nvox) || nvox > MAX_BYTES)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: dim[%d] = %lld invalid or too large", path,
                            i, (long long)d);
        if (img->version == 1 && d > 32767)
            return nne_fail(ctx, NNE_ERR_ARG, "%s: dim[%d] = %lld does not fit NIfTI-1 "
                            "(max 32767); write NIfTI-2 (version 2)", path, i, (long long)d);
    }

    st = check_writable(ctx, path, img);
    if (st != NNE_OK) return st;

    /* Header: integer data with scl_slope/scl_inter (1 / 0 unless scaled), float data with
     * slope 0 (= no scaling). The values are quantised with the slope and intercept as the
     * header stores them (float32 in NIfTI-1), so a reader gets each value back to within
     * half a slope step. */
    int is_float = datatype == NNE_DT_FLOAT32 || datatype == NNE_DT_FLOAT64;
    if (img->version == 1) slope = (double)to_f32(slope), inter = (double)to_f32(inter);
    if (!isfinite(slope) || slope <= 0 || !isfinite(inter) ||
        (is_float && (slope != 1.0 || inter != 0.0)))
        return nne_fail(ctx, NNE_ERR_ARG, "%s: scl_slope %g / scl_inter %g not writable as %s "
                        "(integer types: finite slope > 0; float types: 1 / 0)", path, slope,
                        inter, dt->name);
    int keep = datatype == img->datatype;
    buf = malloc(CHUNK);
    if (!buf) return nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory", path);
    size_t hlen = build_header(buf, img, datatype, 8 * dt->size, is_float ? 0.0 : slope,
                               is_float ? 0.0 : inter,
                               keep ? img->cal_min : 0.0, keep ? img->cal_max : 0.0);

    /* Temporary file next to the destination (same file system, so rename() is atomic),
     * renamed into place at the end; mkstemp creates it 0600, chmod makes it 0644 like the
     * other files nnedge writes. */
    size_t pl = strlen(path);
    tmp = malloc(pl + 16);
    if (!tmp) {
        st = nne_fail(ctx, NNE_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    snprintf(tmp, pl + 16, "%s.tmp.XXXXXX", path);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot create temporary file: %s", path,
                      strerror(errno));
        free(tmp);
        tmp = NULL;
        goto fail;
    }
    st = nne_gzw_open_fd(ctx, fd, ends_with(path, ".gz"), 1, path, &w);
    if (st != NNE_OK) goto fail;
    st = nne_gzw_write(ctx, w, buf, hlen);
    if (st != NNE_OK) goto fail;

    /* Voxels, converted chunk by chunk into buf (CHUNK bytes). A value that does not fit the
     * integer type stops the write; the temporary file is then removed (fail path). */
    int64_t per_chunk = (int64_t)(CHUNK / (size_t)dt->size);
    for (int64_t done = 0; done < nvox; done += per_chunk) {
        int64_t n = NNE_MIN(per_chunk, nvox - done);
        int64_t bad = convert_out(buf, img->data + done, n, datatype, slope, inter);
        if (bad >= 0) {
            st = nne_fail(ctx, NNE_ERR_ARG, "%s: voxel %lld = %g cannot be stored as %s", path,
                          (long long)(done + bad), (double)img->data[done + bad], dt->name);
            goto fail;
        }
        st = nne_gzw_write(ctx, w, buf, (size_t)n * (size_t)dt->size);
        if (st != NNE_OK) goto fail;
    }
    st = nne_gzw_close(ctx, w);
    w = NULL;
    if (st != NNE_OK) goto fail;
    if (chmod(tmp, 0644) != 0 || rename(tmp, path) != 0) {
        st = nne_fail(ctx, NNE_ERR_IO, "%s: cannot rename temporary file: %s", path,
                      strerror(errno));
        goto fail;
    }
    free(tmp);
    free(buf);
    return NNE_OK;
fail:
    if (w) nne_gzw_close(NULL, w);
    if (tmp) {
        unlink(tmp);
        free(tmp);
    }
    free(buf);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Geometry                                                                                  */
/* ---------------------------------------------------------------------------------------- */

/* qform matrix as NIfTI defines it from the quaternion, the offsets and voxel sizes
 * dx, dy, dz; non-positive sizes count as 1 (as in the NIfTI reference library). */
static void qform_from(const nne_image *img, double dx, double dy, double dz, double m[4][4]) {
    double b = img->quatern_b, c = img->quatern_c, d = img->quatern_d;
    double a = 1.0 - (b * b + c * c + d * d);
    if (a < 1e-7) { /* 180-degree rotation: renormalise (b, c, d), a = 0 */
        double n = sqrt(b * b + c * c + d * d);
        if (n > 0) {
            b /= n;
            c /= n;
            d /= n;
        }
        a = 0.0;
    } else {
        a = sqrt(a);
    }
    double qfac = img->pixdim[0] < 0 ? -1.0 : 1.0;
    double xd = dx > 0 ? dx : 1.0, yd = dy > 0 ? dy : 1.0, zd = (dz > 0 ? dz : 1.0) * qfac;
    m[0][0] = (a * a + b * b - c * c - d * d) * xd;
    m[0][1] = 2.0 * (b * c - a * d) * yd;
    m[0][2] = 2.0 * (b * d + a * c) * zd;
    m[1][0] = 2.0 * (b * c + a * d) * xd;
    m[1][1] = (a * a + c * c - b * b - d * d) * yd;
    m[1][2] = 2.0 * (c * d - a * b) * zd;
    m[2][0] = 2.0 * (b * d - a * c) * xd;
    m[2][1] = 2.0 * (c * d + a * b) * yd;
    m[2][2] = (a * a + d * d - c * c - b * b) * zd;
    m[0][3] = img->qoffset_x;
    m[1][3] = img->qoffset_y;
    m[2][3] = img->qoffset_z;
    m[3][0] = m[3][1] = m[3][2] = 0.0;
    m[3][3] = 1.0;
}

void nne_image_qform_matrix(const nne_image *img, double m[4][4]) {
    qform_from(img, img->pixdim[1], img->pixdim[2], img->pixdim[3], m);
}

void nne_image_sform_matrix(const nne_image *img, double m[4][4]) {
    for (int r = 0; r < 3; r++)
        for (int c = 0; c < 4; c++) m[r][c] = img->srow[r][c];
    m[3][0] = m[3][1] = m[3][2] = 0.0;
    m[3][3] = 1.0;
}

void nne_image_affine(const nne_image *img, double m[4][4]) {
    if (img->sform_code > 0) {
        nne_image_sform_matrix(img, m);
    } else if (img->qform_code > 0) {
        nne_image_qform_matrix(img, m);
    } else {
        memset(m, 0, 16 * sizeof(double));
        for (int i = 0; i < 3; i++) m[i][i] = img->pixdim[i + 1];
        m[3][3] = 1.0;
    }
}

static double col_norm(double m[4][4], int c) {
    return sqrt(m[0][c] * m[0][c] + m[1][c] * m[1][c] + m[2][c] * m[2][c]);
}

/* ITK's test that the sform decomposes into rotation * scale without shear: invertible, and
 * the column-normalised 3x3 R has R R^T = I within 1e-4 element-wise. */
static int sform_orthonormal(double s[4][4]) {
    double det = s[0][0] * (s[1][1] * s[2][2] - s[1][2] * s[2][1]) -
                 s[0][1] * (s[1][0] * s[2][2] - s[1][2] * s[2][0]) +
                 s[0][2] * (s[1][0] * s[2][1] - s[1][1] * s[2][0]);
    double n[3] = {col_norm(s, 0), col_norm(s, 1), col_norm(s, 2)};
    if (!(fabs(det) > 1e-12 * n[0] * n[1] * n[2]) || !isfinite(det)) return 0;
    double r[3][3];
    for (int i = 0; i < 3; i++)
        for (int c = 0; c < 3; c++) r[i][c] = s[i][c] / n[c];
    for (int i = 0; i < 3; i++)
        for (int j = 0; j < 3; j++) {
            double dot = r[i][0] * r[j][0] + r[i][1] * r[j][1] + r[i][2] * r[j][2];
            if (fabs(dot - (i == j ? 1.0 : 0.0)) > 1e-4) return 0;
        }
    return 1;
}

nne_status nne_image_itk_geometry(nne_ctx *ctx, const nne_image *img, double spacing[3],
                                  double origin[3], double direction[9]) {
    /* Voxel sizes as the NIfTI library hands them to ITK (0 or non-finite read as 1). */
    double d[3];
    for (int i = 0; i < 3; i++) {
        double p = img->pixdim[i + 1];
        d[i] = (p == 0.0 || !isfinite(p)) ? 1.0 : p;
    }
    double unit = 1.0;
    switch (img->xyzt_units & 7) {
    case 1: unit = 1e3; break;  /* meter  */
    case 3: unit = 1e-3; break; /* micron */
    default: break;             /* mm or unknown */
    }
    for (int i = 0; i < 3; i++) spacing[i] = fabs(d[i]) * unit;

    for (int i = 0; i < 9; i++) direction[i] = (i % 4 == 0) ? 1.0 : 0.0;
    origin[0] = origin[1] = origin[2] = 0.0;
    int qc = img->qform_code, sc = img->sform_code;
    if (qc == 0 && sc == 0) return NNE_OK;

    /* The two candidate matrices as ITK's NIfTI library stores them: qto (identity scaled
     * by pixdim if qform_code is 0) and sto (zero if sform_code is 0), float32 for NIfTI-1. */
    double q[4][4], s[4][4];
    if (qc > 0) {
        qform_from(img, d[0], d[1], d[2], q);
    } else {
        memset(q, 0, sizeof q);
        for (int i = 0; i < 3; i++) q[i][i] = d[i];
        q[3][3] = 1.0;
    }
    memset(s, 0, sizeof s);
    if (sc > 0) nne_image_sform_matrix(img, s);
    s[3][3] = 1.0;
    if (img->version == 1)
        for (int r = 0; r < 4; r++)
            for (int c = 0; c < 4; c++) {
                q[r][c] = (double)to_f32(q[r][c]);
                s[r][c] = (double)to_f32(s[r][c]);
            }

    /* Element-wise equality of the two (ITK: 1e-5 on the 3x3, 1e-7 on the translation). This
     * is ITK's fast path: with matching matrices the sform's extra precision is preferred. */
    int similar = 1;
    double tdiff = 0.0;
    for (int r = 0; r < 3; r++) {
        for (int c = 0; c < 3; c++)
            if (fabs(s[r][c] - q[r][c]) > 1e-5) similar = 0;
        tdiff += fabs(s[r][3] - q[r][3]);
    }
    if (tdiff > 1e-7) similar = 0;

    int use_sform = similar;
    if ((!use_sform || sc != 0) && sc != 0 && sform_orthonormal(s)) {
        if (qc == 0 || sc == NNE_XFORM_SCANNER_ANAT) {
            use_sform = 1;
        } else {
            /* Both set and the sform is not SCANNER_ANAT: the sform only if the two describe
             * the same geometry (directions, voxel sizes and offsets within 1e-4). */
            int same = 1;
            for (int c = 0; c < 3; c++) {
                double ns = col_norm(s, c), nq = col_norm(q, c);
                if (fabs(ns - nq) > 1e-4) same = 0;
                for (int r = 0; r < 3; r++)
                    if (fabs(s[r][c] / ns - q[r][c] / nq) > 1e-4) same = 0;
            }
            for (int r = 0; r < 3; r++)
                if (fabs(s[r][3] - q[r][3]) > 1e-4) same = 0;
            use_sform = same;
        }
    }
    double(*m)[4];
    if (use_sform) {
        m = s;
    } else if (qc > 0) {
        m = q;
    } else {
        return nne_fail(ctx, NNE_ERR_UNSUPPORTED,
                        "image: sform (sform_code %d) has shear and there is no qform: ITK "
                        "refuses such files (no orthonormal definition)", sc);
    }

    /* RAS -> LPS: negate rows 0 and 1; normalise the direction columns. The origin is scaled
     * to mm like the spacing (checked with SimpleITK on a file in meters). */
    origin[0] = -m[0][3] * unit;
    origin[1] = -m[1][3] * unit;
    origin[2] = m[2][3] * unit;
    for (int c = 0; c < 3; c++) {
        double v[3] = {-m[0][c], -m[1][c], m[2][c]};
        double n = sqrt(v[0] * v[0] + v[1] * v[1] + v[2] * v[2]);
        for (int r = 0; r < 3; r++) direction[3 * r + c] = n > 0 ? v[r] / n : v[r];
    }
    return NNE_OK;
}
