#!/usr/bin/env python3
"""nnU-Net v2's own prediction of the demo case, for the demo's fidelity check.

usage: gen_demo_golden.py RESULTS_DIR DEMO_DIR

Runs nnunetv2's nnUNetPredictor (fold 0, checkpoint_final.pth, default step size 0.5, mirroring
on, CPU) on DEMO_DIR/demo_0000.nii.gz + demo_0001.nii.gz and writes DEMO_DIR/demo_nnunet.nii.gz.
`make demo` compares nnedge's mask of the same case against it voxel for voxel.
"""
import os
import shutil
import sys
import tempfile

os.environ.setdefault("nnUNet_extTrainer", os.path.join(os.path.dirname(os.path.abspath(__file__)), "trainers"))
import torch  # noqa: E402
from nnunetv2.inference.predict_from_raw_data import nnUNetPredictor


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    results, demo = sys.argv[1], sys.argv[2]
    torch.set_num_threads(os.cpu_count() or 1)
    p = nnUNetPredictor(tile_step_size=0.5, use_gaussian=True, use_mirroring=True,
                        perform_everything_on_device=False, device=torch.device("cpu"),
                        verbose=False, verbose_preprocessing=False, allow_tqdm=False)
    p.initialize_from_trained_model_folder(results, use_folds=(0,), checkpoint_name="checkpoint_final.pth")
    with tempfile.TemporaryDirectory() as tmp:
        p.predict_from_files([[os.path.join(demo, "demo_0000.nii.gz"), os.path.join(demo, "demo_0001.nii.gz")]],
                             [os.path.join(tmp, "demo_nnunet")], save_probabilities=False,
                             overwrite=True, num_processes_preprocessing=1,
                             num_processes_segmentation_export=1)
        shutil.copyfile(os.path.join(tmp, "demo_nnunet.nii.gz"), os.path.join(demo, "demo_nnunet.nii.gz"))
    print("wrote", os.path.join(demo, "demo_nnunet.nii.gz"))


if __name__ == "__main__":
    main()
