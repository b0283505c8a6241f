#!/usr/bin/env python3
"""Trains one fold of an nnU-Net v2 configuration with a short, fixed schedule.

usage: train.py DATASET_ID CONFIG FOLD [--epochs N] [--iters N] [--val-iters N]
                [--device cpu|cuda] [--threads N] [--continue] [--validate]

This is nnU-Net v2's own nnUNetTrainer (same loss, optimizer, poly learning rate, data
augmentation and deep supervision); only the schedule is shortened: `--epochs` epochs of
`--iters` training iterations each (nnU-Net's defaults are 1000 x 250). The trainer class,
trainers/nnUNetTrainerShort.py, is named so its results folder does not collide with a default
run; set nnUNet_extTrainer to that folder when nnU-Net itself must find it (nnUNetPredictor).
nnU-Net's final sliding-window validation is skipped unless --validate is given; nnedge's own
evaluation (`nnedge predict` + `nnedge evaluate`) measures the model on held-out cases.
Environment: nnUNet_raw, nnUNet_preprocessed, nnUNet_results as for nnU-Net.
"""
import argparse
import multiprocessing
import os
import sys

import torch
from batchgenerators.utilities.file_and_folder_operations import join, load_json
from nnunetv2.paths import nnUNet_preprocessed
from nnunetv2.utilities.dataset_name_id_conversion import maybe_convert_to_dataset_name

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "trainers"))
from nnUNetTrainerShort import nnUNetTrainerShort  # noqa: E402


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dataset")
    ap.add_argument("config")
    ap.add_argument("fold")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--iters", type=int, default=80)
    ap.add_argument("--val-iters", type=int, default=10)
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--threads", type=int, default=multiprocessing.cpu_count())
    ap.add_argument("--continue", dest="cont", action="store_true")
    ap.add_argument("--validate", action="store_true")
    a = ap.parse_args()
    os.environ["NNEDGE_EPOCHS"] = str(a.epochs)
    os.environ["NNEDGE_ITERS"] = str(a.iters)
    os.environ["NNEDGE_VAL_ITERS"] = str(a.val_iters)

    fold = a.fold if a.fold == "all" else int(a.fold)
    name = maybe_convert_to_dataset_name(int(a.dataset) if a.dataset.isdigit() else a.dataset)
    base = join(nnUNet_preprocessed, name)
    plans = load_json(join(base, "nnUNetPlans.json"))
    plans["continue_training"] = a.cont  # read (and removed) by nnUNetTrainer.__init__
    dataset_json = load_json(join(base, "dataset.json"))
    if a.device == "cpu":
        torch.set_num_threads(a.threads)
        torch.set_num_interop_threads(1)
        device = torch.device("cpu")
    else:
        device = torch.device("cuda")
    trainer = nnUNetTrainerShort(plans=plans, configuration=a.config, fold=fold,
                                 dataset_json=dataset_json, device=device)
    if a.cont:
        for ck in ("checkpoint_final.pth", "checkpoint_latest.pth"):
            p = join(trainer.output_folder, ck)
            if os.path.isfile(p):
                trainer.load_checkpoint(p)
                break
    trainer.run_training()
    if a.validate:
        trainer.perform_actual_validation(False)
    print(trainer.output_folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
