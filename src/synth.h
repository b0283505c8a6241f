/*
 * synth.h - synthetic acute-stroke cases: a procedural skull-stripped brain with a vascular-
 * territory lesion, DWI (b = 1000) and ADC (10^-3 mm^2/s, ISLES'22 units) on an oblique grid,
 * a lesion mask and a manifest, optionally a FLAIR on its own grid. Used by `nnedge synth`,
 * tests and the bundled demo.
 *
 * DESIGN
 * Everything is defined in a continuous "phantom space" (RAS+, mm, brain centred at the
 * origin) and sampled through the image affine, so the same anatomy can be acquired at any
 * spacing and obliquity. Each voxel is the mean of its sub-samples (2 along every axis of
 * 1.5 mm or more: partial volume); the mask is the set of voxels whose sub-samples are at
 * least half lesion, and the manifest volume is computed from that mask. A case depends
 * only on (seed, index, params), through one counter-based RNG stream, so the same inputs
 * give bit-identical images.
 * See docs/SYNTH.md for the model, its parameters and what is not simulated.
 */
#ifndef NNE_SYNTH_H
#define NNE_SYNTH_H

#include <stdint.h>

#include "common.h"
#include "nifti.h"

/* Grid size class. SMALL: ~48x56x40 voxels at 3.5-4.5 mm (tests, fast); FULL: ISLES-like
 * (112x112x73 at 2 mm, 224x224x30 at 1x1x5 mm, 248x248x49 at 0.9x0.9x3 mm). */
enum { NNE_SYNTH_SIZE_SMALL = 0, NNE_SYNTH_SIZE_FULL = 1 };

/* Territories of the lesion (nne_synth_result.territory). Drawn with the weights of
 * docs/SYNTH.md (MCA 40 %, PCA 15 %, embolic 13 %, posterior fossa 12 %, ACA 10 %,
 * lacunar 10 %); NONE for a trap-only case. */
enum {
    NNE_SYNTH_TERR_NONE = -1,     /* trap-only case: no lesion, empty mask                  */
    NNE_SYNTH_TERR_MCA = 0,       /* lateral cortical/subcortical wedge (middle cerebral)   */
    NNE_SYNTH_TERR_ACA = 1,       /* medial frontal/parietal strip (anterior cerebral)      */
    NNE_SYNTH_TERR_PCA = 2,       /* occipital wedge (posterior cerebral)                   */
    NNE_SYNTH_TERR_LACUNAR = 3,   /* one small deep lesion (basal ganglia / deep WM)        */
    NNE_SYNTH_TERR_EMBOLIC = 4,   /* a shower of several small lesions, both hemispheres    */
    NNE_SYNTH_TERR_POSTERIOR = 5, /* vertebrobasilar: cerebellar hemisphere and/or brainstem */
    NNE_SYNTH_TERR_COUNT = 6      /* number of lesion territories                           */
};

/* Where a posterior-fossa lesion was seeded (nne_synth_result.posterior_site, OR-ed). */
enum { NNE_SYNTH_FOSSA_CEREBELLUM = 1, NNE_SYNTH_FOSSA_BRAINSTEM = 2 };

/* Trap bits (nne_synth_result.traps_present and the values of nne_synth_result.traps):
 * look-alikes that are labelled 0 in the mask. */
enum {
    NNE_SYNTH_TRAP_SHINE = 1,   /* T2 shine-through: bright DWI, normal/high ADC          */
    NNE_SYNTH_TRAP_CHRONIC = 2, /* chronic infarct: high ADC, normal/low DWI              */
    NNE_SYNTH_TRAP_CSF = 4      /* bright CSF artefact: bright DWI band in CSF, high ADC  */
};

/* How the images are meant to be stored (nne_synth_params.storage, result.storage). */
enum {
    NNE_SYNTH_STORAGE_FLOAT64 = 0, /* float64, no scaling (as ISLES'22)                     */
    NNE_SYNTH_STORAGE_INT16 = 1,   /* int16 with scl_slope (result.*_slope), scl_inter 0    */
    NNE_SYNTH_STORAGE_MIXED = 2    /* params only: int16 with probability p_int16 per case  */
};

/* Voxel codes of nne_synth_result.anat: the tissue of at least half of the voxel's
 * sub-samples (0 if none reaches half), plus NNE_SYNTH_ANAT_FOSSA when at least half of
 * them lie in the cerebellum or brainstem. */
enum {
    NNE_SYNTH_ANAT_CSF = 1,
    NNE_SYNTH_ANAT_GM = 2,
    NNE_SYNTH_ANAT_WM = 3,
    NNE_SYNTH_ANAT_FOSSA = 4
};

typedef struct nne_synth_params {
    int size;            /* NNE_SYNTH_SIZE_*                                               */
    double p_shine;      /* probability of a T2 shine-through trap (default 0.4)           */
    double p_chronic;    /* probability of a chronic-lesion trap (default 0.3)             */
    double min_ml;       /* territorial lesion volume range, log-uniform (0.2 .. 150 mL)   */
    double max_ml;
    double p_csf;        /* probability of a bright CSF artefact trap (default 0.3)        */
    double p_trap_only;  /* probability that a case is trap-only: no lesion, shine-through
                          * always, chronic with p = 0.5, CSF artefact with p_csf (0)      */
    int storage;         /* NNE_SYNTH_STORAGE_* (default MIXED)                            */
    double p_int16;      /* MIXED: probability of int16 storage per case (default 0.3)     */
    int flair;           /* 1: also a FLAIR image on its own grid (default 0)              */
} nne_synth_params;

/* One generated case. Images are owned by the result (nne_synth_result_free). */
typedef struct nne_synth_result {
    nne_image *dwi;        /* float32 (i, j, k) DWI b=1000, arbitrary units, 0 outside brain */
    nne_image *adc;        /* float32 ADC, 10^-3 mm^2/s, 0 outside brain                     */
    nne_image *mask;       /* 0/1 lesion mask on the same grid                               */
    nne_image *traps;      /* 0 / NNE_SYNTH_TRAP_* per voxel (not written; for checks)        */
    nne_image *anat;       /* NNE_SYNTH_ANAT_* per voxel (not written; for checks)           */
    nne_image *flair;      /* NULL unless params.flair: FLAIR, arbitrary units, own grid     */
    int territory;         /* NNE_SYNTH_TERR_*                                               */
    int side;              /* +1 right, -1 left hemisphere (EMBOLIC: where the first lands;
                            * NONE: the hemisphere the traps avoid)                          */
    int n_emboli;          /* number of lesion seeds: EMBOLIC emboli, POSTERIOR 1-2, NONE 0,
                            * else 1                                                         */
    int posterior_site;    /* POSTERIOR: OR of NNE_SYNTH_FOSSA_* seeded, else 0              */
    int traps_present;     /* OR of NNE_SYNTH_TRAP_* actually visible (>= 1 trap voxel)      */
    double target_ml;      /* volume drawn before fitting to the territory (NONE: 0)         */
    double lesion_ml;      /* mask voxels x voxel volume / 1000                              */
    int64_t lesion_voxels; /* number of mask voxels                                          */
    double spacing[3];     /* voxel size (i, j, k), mm                                       */
    double affine[4][4];   /* voxel -> world (RAS+, mm) written as sform (float32-exact)     */
    double oblique_deg;    /* rotation angle of the grid                                     */
    double dwi_scale;      /* per-case DWI intensity scale                                   */
    double snr;            /* white-matter DWI signal / Rician sigma                         */
    int storage;           /* NNE_SYNTH_STORAGE_FLOAT64 or _INT16                            */
    double dwi_slope;      /* INT16: scl_slope for DWI (float32-exact, max DWI / 32000);
                            * FLOAT64: 0                                                     */
    double adc_slope;      /* INT16: 0.001 (ADC stored in 10^-6 mm^2/s); FLOAT64: 0          */
    double flair_slope;    /* INT16 with FLAIR: scl_slope for FLAIR; else 0                  */
    double flair_spacing[3];     /* FLAIR voxel size, mm (when flair != NULL)                */
    double flair_affine[4][4];   /* FLAIR voxel -> world, its own grid (float32-exact)       */
    double flair_oblique_deg;    /* rotation angle of the FLAIR grid                         */
    uint64_t seed;
    int index;
} nne_synth_result;

/* Defaults: SMALL grid, p_shine 0.4, p_chronic 0.3, 0.2 .. 150 mL, p_csf 0.3, no trap-only
 * cases, MIXED storage with p_int16 0.3, no FLAIR. */
nne_synth_params nne_synth_default_params(void);

/* Generates case `index` of the stream `seed` with params `p` (borrowed) into *out (fields
 * overwritten; owned by the caller, release with nne_synth_result_free). Deterministic:
 * the same (p, seed, index) gives bit-identical images. Returns NNE_ERR_ARG (bad params),
 * NNE_ERR_NOMEM; on failure *out holds no images. Thread-safe for distinct outputs. */
nne_status nne_synth_case(nne_ctx *ctx, const nne_synth_params *p, uint64_t seed, int index,
                          nne_synth_result *out);

/* Releases the images of a result (the struct itself is the caller's). Accepts NULL. */
void nne_synth_result_free(nne_synth_result *r);

/* Name of a territory ("MCA", "ACA", "PCA", "lacunar", "embolic", "posterior_fossa";
 * "none" for NNE_SYNTH_TERR_NONE). */
const char *nne_synth_territory_name(int territory);

/* The manifest of `r` (borrowed) as a NUL-terminated JSON text (returns owned, free()), with
 * `case_id` (may be NULL). NULL when out of memory. */
char *nne_synth_manifest(const nne_synth_result *r, const char *case_id);

#endif /* NNE_SYNTH_H */
