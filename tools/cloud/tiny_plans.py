#!/usr/bin/env python3
"""Adds nnedge's training presets to an nnU-Net v2 plans file.

usage: tiny_plans.py PLANS.json [--preset tiny] [--spacing 2] [--patch 48,64,48]

The `tiny` preset is a configuration named `3d_tiny` derived from the planner's own
`3d_fullres` entry (same normalization, resampling functions and transpose axes) with:
  * isotropic target spacing (default 2 mm),
  * a small patch (default 48 x 64 x 48 voxels, each a multiple of 16),
  * five stages with 8-16-32-64-128 features, 3x3x3 kernels, strides 1,2,2,2,2,
    two convolutions per stage in the encoder and the decoder,
  * batch size 2.
It trains on two CPU cores in well under an hour on ~100 synthetic cases. The file is
rewritten in place (a copy of the original is kept as PLANS.orig.json).
"""
import argparse
import copy
import json
import os
import shutil
import sys


def tiny_config(base, spacing, patch, features):
    cfg = copy.deepcopy(base)
    n = len(features)
    cfg["data_identifier"] = "nnUNetPlans_3d_tiny"
    cfg["spacing"] = [float(spacing)] * 3
    cfg["patch_size"] = list(patch)
    cfg["batch_size"] = 2
    arch = cfg["architecture"]
    kw = arch["arch_kwargs"]
    kw["n_stages"] = n
    kw["features_per_stage"] = list(features)
    kw["kernel_sizes"] = [[3, 3, 3]] * n
    kw["strides"] = [[1, 1, 1]] + [[2, 2, 2]] * (n - 1)
    kw["n_conv_per_stage"] = [2] * n
    kw["n_conv_per_stage_decoder"] = [2] * (n - 1)
    # the planner's estimate of the median shape at the new spacing (informational only)
    if "median_image_size_in_voxels" in base:
        old = base["spacing"]
        cfg["median_image_size_in_voxels"] = [
            round(m * s / float(spacing)) for m, s in zip(base["median_image_size_in_voxels"], old)]
    return cfg


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("plans")
    ap.add_argument("--preset", default="tiny", choices=["tiny"])
    ap.add_argument("--spacing", type=float, default=2.0)
    ap.add_argument("--patch", default="48,64,48")
    ap.add_argument("--features", default="8,16,32,64,128")
    a = ap.parse_args()
    patch = [int(x) for x in a.patch.split(",")]
    feats = [int(x) for x in a.features.split(",")]
    stride = 2 ** (len(feats) - 1)
    if len(patch) != 3 or any(p % stride for p in patch):
        sys.exit(f"tiny_plans.py: every patch size must be a multiple of {stride}")
    with open(a.plans) as f:
        plans = json.load(f)
    if "3d_fullres" not in plans["configurations"]:
        sys.exit("tiny_plans.py: the plans have no 3d_fullres configuration to derive from")
    orig = os.path.splitext(a.plans)[0] + ".orig.json"
    if not os.path.exists(orig):
        shutil.copyfile(a.plans, orig)
    plans["configurations"]["3d_tiny"] = tiny_config(plans["configurations"]["3d_fullres"],
                                                     a.spacing, patch, feats)
    tmp = a.plans + ".tmp"
    with open(tmp, "w") as f:
        json.dump(plans, f, indent=4, sort_keys=False)
    os.replace(tmp, a.plans)
    c = plans["configurations"]["3d_tiny"]
    print(f"3d_tiny: spacing {c['spacing']} patch {c['patch_size']} features {feats}")


if __name__ == "__main__":
    main()
