#!/usr/bin/env python3
"""check_synth.py - independent check of an `nnedge synth` folder with nibabel.

For every manifest in DIR/manifest/*.json, opens the case's DWI, ADC and mask (nnunet or
isles22 layout, detected from the folder) and its FLAIR when the manifest lists one, and
checks that
  - the affine nibabel reports equals the manifest's `affine` (and the qform agrees with the
    sform to 1e-5),
  - the shape equals `shape`, the voxel sizes equal `spacing`,
  - DWI/ADC are stored as the manifest's `storage` says: float64 without scaling, or int16
    whose scl_slope equals the manifest's `scl_slope` (scl_inter 0), with the largest DWI
    stored near 32000 and, through nibabel's scaling, ADC back in 10^-3 mm^2/s (normal
    tissue 0.5-1.0, CSF above 2);
  - the mask is uint8 with values in {0, 1},
  - `lesion_ml` equals mask voxels x voxel volume / 1000 and `lesion_voxels` the count,
  - the mask lies inside the brain (DWI > 0), and the lesion's median DWI is above and median
    ADC below the brain's (excluding CSF-like ADC > 1.3) for lesions of 30 voxels or more,
  - trap-only cases (`territory` "none") have an empty mask and at least one trap listed,
  - posterior-fossa lesions lie in the lower back of the head (world y < 0 and z < 0),
  - the FLAIR has the manifest's own geometry (`flair.affine`, `flair.shape`,
    `flair.spacing`), not the DWI grid, the same storage, and is dark where the DWI grid
    shows CSF (ADC > 2.5), compared with normal tissue, at the same world points (nearest
    FLAIR voxel through the two affines).
Prints one line per case and exits 1 if anything fails. Not part of `make test` (needs
nibabel: build/venv/bin/python tools/check_synth.py DIR).
"""
import glob
import json
import os
import sys

import nibabel as nib
import numpy as np


def case_paths(root, cid):
    if cid.startswith("sub-"):
        d = os.path.join(root, "rawdata", cid, "ses-0001")
        m = os.path.join(root, "derivatives", cid, "ses-0001")
        return (os.path.join(d, "dwi", f"{cid}_ses-0001_dwi.nii.gz"),
                os.path.join(d, "dwi", f"{cid}_ses-0001_adc.nii.gz"),
                os.path.join(m, f"{cid}_ses-0001_msk.nii.gz"),
                os.path.join(d, "anat", f"{cid}_ses-0001_FLAIR.nii.gz"))
    return (os.path.join(root, "imagesTr", f"{cid}_0000.nii.gz"),
            os.path.join(root, "imagesTr", f"{cid}_0001.nii.gz"),
            os.path.join(root, "labelsTr", f"{cid}.nii.gz"), None)


def check_geometry(img, name, aff, shape, spacing, errs):
    if not np.allclose(img.affine, aff, rtol=0, atol=1e-9):
        errs.append(f"{name}: affine {img.affine.tolist()} != manifest")
    if np.abs(img.get_qform() - img.get_sform()).max() > 1e-5:
        errs.append(f"{name}: qform and sform disagree")
    if list(img.shape) != [int(v) for v in shape]:
        errs.append(f"{name}: shape {img.shape} != {shape}")
    if not np.allclose(img.header.get_zooms()[:3], spacing, atol=1e-6):
        errs.append(f"{name}: zooms {img.header.get_zooms()} != {spacing}")


def check_storage(img, name, man, errs):
    """dtype and scaling as the manifest's storage says; returns the stored integers."""
    slope, inter = img.dataobj.slope, img.dataobj.inter
    if man["storage"] == "float64":
        if img.get_data_dtype() != np.float64 or slope != 1 or inter != 0:
            errs.append(f"{name}: {img.get_data_dtype()} slope {slope} inter {inter}, "
                        "expected float64 without scaling")
        return None
    want = man["scl_slope"][name]
    if img.get_data_dtype() != np.int16 or abs(slope - want) > 1e-14 * want or inter != 0:
        errs.append(f"{name}: {img.get_data_dtype()} slope {slope} inter {inter}, expected "
                    f"int16 with slope {want}")
    return np.asarray(img.dataobj.get_unscaled())


def flair_at(flair, src_affine, shape, sel):
    """FLAIR values (nearest voxel) at the world points of the voxels `sel` of a grid."""
    ijk = np.argwhere(sel)
    world = np.c_[ijk, np.ones(len(ijk))] @ src_affine.T
    f = np.rint((world @ np.linalg.inv(flair.affine).T)[:, :3]).astype(int)
    ok = np.all((f >= 0) & (f < np.array(flair.shape)), axis=1)
    data = np.asarray(flair.dataobj, dtype=np.float64)
    return data[f[ok, 0], f[ok, 1], f[ok, 2]]


def check(root, man_path):
    man = json.load(open(man_path))
    cid = man["case"]
    errs = []
    p_dwi, p_adc, p_msk, p_flair = case_paths(root, cid)
    imgs = [nib.load(p) for p in (p_dwi, p_adc, p_msk)]
    aff = np.array(man["affine"], dtype=np.float64)
    for img, name in zip(imgs, ("dwi", "adc", "mask")):
        check_geometry(img, name, aff, man["shape"], man["spacing"], errs)
    raw_dwi = check_storage(imgs[0], "dwi", man, errs)
    check_storage(imgs[1], "adc", man, errs)
    if imgs[2].get_data_dtype() != np.uint8:
        errs.append(f"mask: dtype {imgs[2].get_data_dtype()}")
    dwi, adc = (np.asarray(i.dataobj, dtype=np.float64) for i in imgs[:2])
    if raw_dwi is not None and not 31000 <= raw_dwi.max() <= 32767:
        errs.append(f"dwi: largest stored int16 {raw_dwi.max()}, expected about 32000")
    msk = np.asarray(imgs[2].dataobj)
    if not set(np.unique(msk).tolist()) <= {0, 1}:
        errs.append("mask values not in {0, 1}")
    n = int((msk > 0).sum())
    vv = float(np.prod(imgs[2].header.get_zooms()[:3]))
    if n != man["lesion_voxels"] or abs(n * vv / 1000 - man["lesion_ml"]) > 1e-6 * (1 + n):
        errs.append(f"lesion {n} voxels / {n * vv / 1000:.6f} mL vs manifest "
                    f"{man['lesion_voxels']} / {man['lesion_ml']}")
    if n and (dwi[msk > 0] <= 0).any():
        errs.append("mask outside the brain")
    brain = (dwi > 0) & (adc < 1.3) & (msk == 0)
    if not 0.5 < adc[brain].mean() < 1.0 or not (adc > 2).any():
        errs.append(f"ADC units: normal tissue mean {adc[brain].mean():.3f} (expected "
                    "0.5-1.0 x 1e-3 mm^2/s), CSF above 2")
    # medians, and only from 30 voxels: lesion voxels next to CSF are partly CSF (partial
    # volume, their ADC high), which dominates tiny cortical lesions on coarse grids
    if n >= 30 and not (np.median(dwi[msk > 0]) > np.median(dwi[brain]) and
                  np.median(adc[msk > 0]) < np.median(adc[brain])):
        errs.append("lesion contrast: median DWI not above or median ADC not below normal "
                    "tissue")
    if man["territory"] == "none" and (n or man["lesion_ml"] != 0 or not man["traps"]):
        errs.append(f"trap-only case with {n} mask voxels or no traps listed")
    if man["territory"] == "posterior_fossa" and n:
        world = np.c_[np.argwhere(msk > 0), np.ones(n)] @ aff.T
        if (world[:, 1] >= 0).any() or (world[:, 2] >= 0).any():
            errs.append("posterior-fossa lesion voxels with world y >= 0 or z >= 0")
    extra = ""
    if "flair" in man:
        fm = man["flair"]
        if p_flair is None or not os.path.exists(p_flair):
            errs.append("manifest lists a FLAIR but there is no FLAIR file")
        else:
            fl = nib.load(p_flair)
            check_geometry(fl, "flair", np.array(fm["affine"]), fm["shape"], fm["spacing"], errs)
            check_storage(fl, "flair", man, errs)
            if fl.shape == imgs[0].shape and np.allclose(fl.affine, aff, atol=1e-3):
                errs.append("flair: on the DWI grid")
            csf = flair_at(fl, aff, dwi.shape, adc > 2.5)
            tis = flair_at(fl, aff, dwi.shape, brain & (adc > 0.5))
            if len(csf) == 0 or len(tis) == 0 or not csf.mean() < 0.6 * tis.mean():
                errs.append(f"flair: CSF {csf.mean() if len(csf) else 0:.1f} not darker "
                            f"than tissue {tis.mean() if len(tis) else 0:.1f}")
            extra = f" FLAIR {tuple(fl.shape)}"
    elif p_flair is not None and os.path.exists(p_flair):
        errs.append("FLAIR file not in the manifest")
    print(f"{'FAIL' if errs else 'ok  '} {cid}: {man['territory']:15s} {man['lesion_ml']:8.2f} mL "
          f"{tuple(imgs[0].shape)} {man['storage']:7s} traps={man['traps']}{extra}"
          + "".join("\n    " + e for e in errs))
    return not errs


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: check_synth.py DIR")
    root = sys.argv[1]
    mans = sorted(glob.glob(os.path.join(root, "manifest", "*.json")))
    if not mans:
        sys.exit(f"{root}: no manifest/*.json")
    ok = [check(root, m) for m in mans]
    print(f"{sum(ok)}/{len(ok)} cases ok")
    sys.exit(0 if all(ok) else 1)


if __name__ == "__main__":
    main()
