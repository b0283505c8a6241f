/*
 * nifti.h - NIfTI-1 / NIfTI-2 images: strict reader, atomic writer, and the geometry
 * conventions of SimpleITK (which nnU-Net v2 reads its inputs with).
 *
 * DATA LAYOUT
 * `data` holds every voxel as float32 with scl_slope/scl_inter already applied, in the order
 * of the file: index i (dim[1]) fastest, then j, k, t, ... . A 3-D volume is therefore the C
 * array data[k][j][i] of shape (dim[3], dim[2], dim[1]) = (z, y, x). That is exactly the array
 * nnU-Net v2 gets from SimpleITK's GetArrayFromImage, so no transposition is needed:
 *
 *     nnU-Net array axis 0 (z) = NIfTI k = ITK index 2 = dim[3]
 *     nnU-Net array axis 1 (y) = NIfTI j = ITK index 1 = dim[2]
 *     nnU-Net array axis 2 (x) = NIfTI i = ITK index 0 = dim[1]
 *     nnU-Net "spacing" = [sz, sy, sx] = ITK GetSpacing() reversed
 *                       = (spacing[2], spacing[1], spacing[0]) of nne_image_itk_geometry.
 *
 * A 4-D file (dim[4] = T) is T such volumes one after the other: data[t][k][j][i].
 *
 * GEOMETRY
 * nne_image_qform_matrix / nne_image_sform_matrix give the two NIfTI voxel -> world (RAS+, mm)
 * matrices from the header fields, whatever their codes (as nibabel's get_qform/get_sform).
 * nne_image_affine picks the one a NIfTI-aware tool uses (sform if sform_code > 0, else qform
 * if qform_code > 0, else the pixdim diagonal), which is nibabel's `affine`.
 * nne_image_itk_geometry reproduces what SimpleITK 2.x / ITK 5.4 report (spacing, origin,
 * direction in LPS); its rules are documented at its definition and in docs/NIFTI.md.
 *
 * Ownership: images returned by the readers are owned by the caller and released with
 * nne_image_free; `data` is malloc'ed and owned by the image.
 * ref: NIfTI-1 header (nifti1.h field list, NIMH DFWG 2004); NIfTI-2 header (540 bytes,
 * DFWG 2011); ITK Modules/IO/NIFTI itkNiftiImageIO.cxx (behaviour, verified with SimpleITK).
 */
#ifndef NNE_NIFTI_H
#define NNE_NIFTI_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* NIfTI datatype codes (nifti1.h DT_*). */
enum {
    NNE_DT_UINT8 = 2,
    NNE_DT_INT16 = 4,
    NNE_DT_INT32 = 8,
    NNE_DT_FLOAT32 = 16,
    NNE_DT_COMPLEX64 = 32,
    NNE_DT_FLOAT64 = 64,
    NNE_DT_RGB24 = 128,
    NNE_DT_INT8 = 256,
    NNE_DT_UINT16 = 512,
    NNE_DT_UINT32 = 768,
    NNE_DT_INT64 = 1024,
    NNE_DT_UINT64 = 1280,
    NNE_DT_FLOAT128 = 1536,
    NNE_DT_COMPLEX128 = 1792,
    NNE_DT_COMPLEX256 = 2048,
    NNE_DT_RGBA32 = 2304
};

/* qform_code / sform_code values (nifti1.h NIFTI_XFORM_*; 5 was added by NIfTI in 2019). */
enum {
    NNE_XFORM_UNKNOWN = 0,
    NNE_XFORM_SCANNER_ANAT = 1,
    NNE_XFORM_ALIGNED_ANAT = 2,
    NNE_XFORM_TALAIRACH = 3,
    NNE_XFORM_MNI_152 = 4,
    NNE_XFORM_TEMPLATE_OTHER = 5
};

/* One image: header fields as read (NIfTI-1 float/short fields widened to double/int64) and
 * the voxels as float32. Every field the writer puts back in a header is here. */
typedef struct nne_image {
    int version;               /* 1 or 2: NIfTI version read; the writer writes the same   */
    int ndim;                  /* dim[0]: number of dimensions, 1..7                       */
    int64_t dim[8];            /* dim[0] = ndim, dim[1..ndim] >= 1, dim[ndim+1..7] = 1      */
    double pixdim[8];          /* pixdim[0] = qfac (-1 or 1 in valid files), [1..7] sizes   */
    float *data;               /* owned, float32 [dim7..dim1], dim[1] fastest, scaled      */
    int datatype;              /* NNE_DT_* of the file (informational; writer takes its own)*/
    int bitpix;                /* bits per voxel of the file                               */
    double scl_slope;          /* as read (already applied to data)                        */
    double scl_inter;          /* as read (already applied to data)                        */
    double cal_min, cal_max;   /* display range                                            */
    int qform_code;            /* NNE_XFORM_*                                              */
    int sform_code;            /* NNE_XFORM_*                                              */
    double quatern_b, quatern_c, quatern_d; /* qform rotation (quaternion without a)        */
    double qoffset_x, qoffset_y, qoffset_z; /* qform translation, mm                        */
    double srow[3][4];         /* sform rows x, y, z                                       */
    int xyzt_units;            /* NIFTI_UNITS_* space | time bits                          */
    int intent_code;           /* NIFTI_INTENT_*                                           */
    double intent_p1, intent_p2, intent_p3;
    char intent_name[17];      /* NUL-terminated (16 bytes in the file)                    */
    char descrip[81];          /* NUL-terminated (80 bytes in the file)                    */
    char aux_file[25];         /* NUL-terminated (24 bytes in the file)                    */
    int dim_info;              /* freq/phase/slice dimension bits                          */
    int slice_code;            /* NIFTI_SLICE_*                                            */
    int64_t slice_start, slice_end;
    double slice_duration;
    double toffset;
    int64_t vox_offset;        /* data offset in the file read (informational)            */
    int n_extensions;          /* header extensions skipped while reading (informational) */
} nne_image;

/* Reads a .nii or .nii.gz (gzip is detected from the content, not the name). On success *out
 * is an owned image (nne_image_free). The header is validated field by field (see
 * docs/NIFTI.md); the voxels are converted to float32 with scaling applied.
 * Returns NNE_ERR_IO (cannot open/read), NNE_ERR_FORMAT (malformed header, truncated data,
 * corrupt gzip), NNE_ERR_UNSUPPORTED (hdr/img pairs, complex/RGB/float128 datatypes, images
 * over the size cap), NNE_ERR_NOMEM. Messages name `path` and the offending field. */
nne_status nne_image_read(nne_ctx *ctx, const char *path, nne_image **out);

/* Same as nne_image_read from a memory buffer (borrowed) holding the bytes of a .nii or a
 * .nii.gz. `label` names the buffer in messages. */
nne_status nne_image_read_mem(nne_ctx *ctx, const void *buf, size_t len, const char *label,
                              nne_image **out);

/* Writes `img` (borrowed) to `path`: gzip-compressed if the name ends in ".gz", NIfTI-1 or
 * NIfTI-2 per img->version, little-endian, voxels stored as `datatype` (NNE_DT_UINT8, INT8,
 * INT16, UINT16, INT32, UINT32, INT64, UINT64, FLOAT32 or FLOAT64). Integer types get values
 * rounded to nearest (ties to even) and range-checked: a NaN or out-of-range voxel is
 * NNE_ERR_ARG naming the voxel. Integer files get scl_slope 1 / scl_inter 0, float files 0 / 0
 * (no scaling). Geometry (qform/sform codes and parameters, pixdim, xyzt_units), intent,
 * descrip, aux_file, slice fields and dim_info are kept; cal_min/cal_max only when `datatype`
 * equals img->datatype. The dims written are img->ndim/img->dim, which the caller may change
 * (e.g. dim[4] = number of classes) as long as `data` holds that many voxels. Header values
 * the reader would refuse (non-finite or, for NIfTI-1, beyond float32/int16 range, a
 * singular active sform, codes outside 0..5) are NNE_ERR_ARG: nothing unreadable is written.
 * The file appears atomically: a temporary file in the same directory is written, synced and
 * renamed; on any failure nothing is left at `path` and no temporary file remains.
 * Returns NNE_ERR_ARG (bad dims/datatype/values), NNE_ERR_IO, NNE_ERR_NOMEM. */
nne_status nne_image_write(nne_ctx *ctx, const char *path, const nne_image *img, int datatype);

/* nne_image_write with scaling: an integer `datatype` stores round((value - inter) / slope)
 * and the header gets scl_slope = slope, scl_inter = inter, so readers that apply the
 * scaling get each value back to within half a slope step (NIfTI-1 stores slope and inter
 * as float32; the quantisation uses those rounded values). Float datatypes take only
 * slope 1 / inter 0. nne_image_write is this function with slope 1 and inter 0.
 * Returns NNE_ERR_ARG also for a slope that is not finite and > 0 or a non-finite inter. */
nne_status nne_image_write_scaled(nne_ctx *ctx, const char *path, const nne_image *img,
                                  int datatype, double slope, double inter);

/* Releases an image and its data. Accepts NULL. */
void nne_image_free(nne_image *img);

/* Allocates an image with the header of `like` (borrowed; geometry, units, codes, strings)
 * and a zero-filled data buffer for `ndim`/`dim` (dim[1..ndim] used). On success *out is
 * owned. Returns NNE_ERR_ARG (bad dims), NNE_ERR_NOMEM. */
nne_status nne_image_alloc_like(nne_ctx *ctx, const nne_image *like, int ndim,
                                const int64_t dim[8], nne_image **out);

/* Allocates a NIfTI-1 float32 3-D image of dim[0..2] = (i, j, k) voxels with zero-filled
 * data and the geometry of `affine` (borrowed; row-major voxel -> world RAS+ mm): sform rows
 * = affine, pixdim = column norms, qform = the nearest rotation (qfac -1 when the determinant
 * is negative) with the same offset, both codes NNE_XFORM_SCANNER_ANAT, units mm. The
 * columns are expected to be orthogonal (otherwise only the sform is exact). On success
 * *out is owned (nne_image_free). Returns NNE_ERR_ARG (bad dims, zero or non-finite column),
 * NNE_ERR_NOMEM. */
nne_status nne_image_init_3d(nne_ctx *ctx, const int64_t dim[3], const double affine[4][4],
                             nne_image **out);

/* Number of voxels (product of dim[1..ndim]). */
int64_t nne_image_n_voxels(const nne_image *img);

/* Short name of a datatype code ("uint8", "float64", ...; "unknown" for others). */
const char *nne_image_datatype_name(int datatype);

/* The qform voxel -> world matrix (row-major 4x4) computed from quatern_*, qoffset_*,
 * pixdim[1..3] and qfac (pixdim[0] < 0 flips k), regardless of qform_code. */
void nne_image_qform_matrix(const nne_image *img, double m[4][4]);

/* The sform matrix: rows srow[0..2] and (0, 0, 0, 1), regardless of sform_code. */
void nne_image_sform_matrix(const nne_image *img, double m[4][4]);

/* The matrix a NIfTI reader applies: sform if sform_code > 0, else qform if qform_code > 0,
 * else diag(pixdim[1], pixdim[2], pixdim[3], 1) (nibabel's `affine`). */
void nne_image_affine(const nne_image *img, double m[4][4]);

/* What SimpleITK 2.x (ITK 5.4 NiftiImageIO) reports for the same file: spacing (x, y, z; mm),
 * origin (LPS, mm) and direction (row-major 3x3, columns = LPS direction of the i, j, k axes,
 * i.e. SimpleITK's GetDirection() tuple). For images with fewer than 3 dimensions the missing
 * axes get spacing pixdim (1 if unset), origin 0 and identity direction rows/columns.
 * SimpleITK 2.5 cannot open NIfTI-2 files at all; for them the same rules are applied in
 * double precision (what ITK reports for a NIfTI-1 file with the same fields).
 * Returns NNE_ERR_UNSUPPORTED when ITK would refuse the file (an sform with shear and no
 * qform: "No orthonormal definition found", see docs/NIFTI.md). */
nne_status nne_image_itk_geometry(nne_ctx *ctx, const nne_image *img, double spacing[3],
                                  double origin[3], double direction[9]);

#endif /* NNE_NIFTI_H */
