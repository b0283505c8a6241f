"""nnUNetTrainerShort: nnU-Net v2's default trainer with a short schedule for CPU training.

Everything (loss, optimizer, poly learning rate, augmentation, deep supervision) is
nnUNetTrainer's; only the schedule changes, read from the environment:
NNEDGE_EPOCHS (default 24), NNEDGE_ITERS (training iterations per epoch, default 80),
NNEDGE_VAL_ITERS (default 10). nnU-Net finds this class through nnUNet_extTrainer
(set it to this folder), both for training and for nnUNetPredictor.
"""
import os

import torch
from nnunetv2.training.nnUNetTrainer.nnUNetTrainer import nnUNetTrainer


class nnUNetTrainerShort(nnUNetTrainer):
    def __init__(self, plans: dict, configuration: str, fold: int, dataset_json: dict,
                 device: torch.device = torch.device("cuda")):
        super().__init__(plans, configuration, fold, dataset_json, device)
        self.num_epochs = int(os.environ.get("NNEDGE_EPOCHS", "24"))
        self.num_iterations_per_epoch = int(os.environ.get("NNEDGE_ITERS", "80"))
        self.num_val_iterations_per_epoch = int(os.environ.get("NNEDGE_VAL_ITERS", "10"))
        self.save_every = 5
