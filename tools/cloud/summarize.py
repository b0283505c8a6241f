#!/usr/bin/env python3
"""Summarizes an nnU-Net v2 training run as JSON (the log nnU-Net keeps inside its checkpoint).

usage: summarize.py FOLD_DIR [--out FILE.json] [--extra KEY=VALUE ...]

Reads FOLD_DIR/checkpoint_final.pth (or checkpoint_latest.pth) with torch and writes, per
epoch, the train and validation loss, nnU-Net's pseudo Dice and its moving average, the
learning rate and the epoch time, plus the trainer's schedule and the plans' configuration.
"""
import argparse
import json
import os
import sys

import torch


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("fold_dir")
    ap.add_argument("--out")
    ap.add_argument("--extra", action="append", default=[])
    a = ap.parse_args()
    ck = None
    for name in ("checkpoint_final.pth", "checkpoint_latest.pth"):
        p = os.path.join(a.fold_dir, name)
        if os.path.isfile(p):
            ck = torch.load(p, map_location="cpu", weights_only=False)
            break
    if ck is None:
        sys.exit(f"summarize.py: no checkpoint in {a.fold_dir}")
    log = ck["logging"]
    n = len(log["train_losses"])
    epochs = []
    for e in range(n):
        row = {"epoch": e,
               "train_loss": round(float(log["train_losses"][e]), 4),
               "val_loss": round(float(log["val_losses"][e]), 4),
               "pseudo_dice": [round(float(x), 4) for x in log["dice_per_class_or_region"][e]],
               "ema_pseudo_dice": round(float(log["ema_fg_dice"][e]), 4),
               "lr": float(log["lrs"][e])}
        if e < len(log["epoch_end_timestamps"]) and e < len(log["epoch_start_timestamps"]):
            row["seconds"] = round(float(log["epoch_end_timestamps"][e] - log["epoch_start_timestamps"][e]), 1)
        epochs.append(row)
    total = sum(r.get("seconds", 0.0) for r in epochs)
    out = {"trainer": ck.get("trainer_name"),
           "epochs_done": n,
           "train_seconds": round(total, 1),
           "final": epochs[-1] if epochs else None,
           "best_ema_pseudo_dice": round(float(ck.get("_best_ema") or 0.0), 4),
           "init_args": {k: (v if isinstance(v, (int, float, str, bool)) or v is None else str(v))
                         for k, v in ck.get("init_args", {}).items() if k not in ("plans", "dataset_json")},
           "epochs": epochs}
    for kv in a.extra:
        k, _, v = kv.partition("=")
        out[k] = v
    text = json.dumps(out, indent=1)
    if a.out:
        tmp = a.out + ".tmp"
        with open(tmp, "w") as f:
            f.write(text + "\n")
        os.replace(tmp, a.out)
    else:
        print(text)


if __name__ == "__main__":
    main()
