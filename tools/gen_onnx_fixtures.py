#!/usr/bin/env python3
"""ONNX import fixtures: PyTorch's own exports of nnU-Net's PlainConvUNet, with the logits they
must give.

Run from the repository root:

    build/venv/bin/python tools/gen_onnx_fixtures.py          # regenerate
    build/venv/bin/python tools/gen_onnx_fixtures.py --check  # verify what is on disk

Writes tests/data/onnx/:

  torch_classic.onnx      torch.onnx.export(dynamo=False), opset 17, dynamic batch and spatial
                          axes: 2 channels, 3 classes, 3 anisotropic stages, uneven conv
                          counts, LeakyReLU 0.01 (Identity nodes for shared initializers)
  torch_dynamo.onnx       torch.onnx.export(dynamo=True), fixed shape, opset 18: 1 channel,
                          2 classes, conv_bias=False, LeakyReLU 0.02, eps 1e-3, followed by
                          Softmax over the classes
  torch_ds.onnx           deep supervision left on (two outputs): must be refused
  <name>.input.f32        float32 LE [C, D, H, W] test input (a different shape from the one
                          exported with, for the dynamic file)
  <name>.logits.f32       float32 LE [K, D, H, W] PyTorch logits (before any Softmax) from a
                          float64 forward of the float32 weights, rounded once
  meta.json               networks, shapes, exporter settings, library versions

The networks are dynamic-network-architectures' PlainConvUNet with every parameter redrawn
from fixed seeds (conv and norm biases and scales non-trivial). nnedge is not involved: these
files are the oracle. --check reloads each file with onnx (full checker), runs it with ONNX
Runtime and compares with the stored logits.
"""

import copy
import importlib.metadata
import json
import math
import os
import sys
import warnings

import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "tests", "data", "onnx")

NETS = {
    "torch_classic": {
        "in": 2, "classes": 3, "features": [4, 8, 16],
        "kernels": [[1, 3, 3], [3, 3, 3], [3, 3, 3]],
        "strides": [[1, 1, 1], [1, 2, 2], [2, 2, 2]],
        "n_conv": [2, 1, 2], "n_conv_dec": [1, 2],
        "conv_bias": True, "eps": 1e-5, "slope": 0.01, "softmax": False,
        "deep_supervision": False, "dynamo": False, "opset": 17, "dynamic": True,
        "export_shape": [4, 8, 8], "test_shape": [6, 12, 16], "seed": 3100,
    },
    "torch_dynamo": {
        "in": 1, "classes": 2, "features": [3, 6, 12],
        "kernels": [[3, 3, 3], [3, 3, 3], [3, 3, 3]],
        "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2]],
        "n_conv": [2, 2, 2], "n_conv_dec": [2, 2],
        "conv_bias": False, "eps": 1e-3, "slope": 0.02, "softmax": True,
        "deep_supervision": False, "dynamo": True, "opset": 18, "dynamic": False,
        "export_shape": [8, 8, 12], "test_shape": [8, 8, 12], "seed": 3200,
    },
    "torch_ds": {
        "in": 1, "classes": 2, "features": [2, 4, 4],
        "kernels": [[3, 3, 3], [3, 3, 3], [1, 1, 1]],
        "strides": [[1, 1, 1], [2, 2, 2], [2, 2, 2]],
        "n_conv": [1, 1, 1], "n_conv_dec": [1, 1],
        "conv_bias": True, "eps": 1e-5, "slope": 0.01, "softmax": False,
        "deep_supervision": True, "dynamo": False, "opset": 17, "dynamic": False,
        "export_shape": [8, 8, 8], "test_shape": None, "seed": 3300,
    },
}


def build(spec):
    from dynamic_network_architectures.architectures.unet import PlainConvUNet
    net = PlainConvUNet(
        spec["in"], len(spec["features"]), spec["features"], torch.nn.Conv3d, spec["kernels"],
        spec["strides"], spec["n_conv"], spec["classes"], spec["n_conv_dec"],
        conv_bias=spec["conv_bias"], norm_op=torch.nn.InstanceNorm3d,
        norm_op_kwargs={"eps": spec["eps"], "affine": True}, dropout_op=None,
        nonlin=torch.nn.LeakyReLU, nonlin_kwargs={"inplace": True, "negative_slope": spec["slope"]},
        deep_supervision=spec["deep_supervision"])
    g = torch.Generator().manual_seed(spec["seed"])
    modules = dict(net.named_modules())
    with torch.no_grad():
        for name, p in net.named_parameters():
            mod_name, kind = name.rsplit(".", 1)
            mod = modules[mod_name]
            z = torch.randn(p.shape, generator=g, dtype=torch.float64)
            if isinstance(mod, torch.nn.modules.conv._ConvTransposeNd) and kind == "weight":
                v = z * math.sqrt(2.0 / p.shape[0])
            elif isinstance(mod, torch.nn.modules.conv._ConvNd) and kind == "weight":
                v = z * math.sqrt(2.0 / (p.shape[1] * math.prod(p.shape[2:])))
            elif isinstance(mod, torch.nn.modules.instancenorm._InstanceNorm) and kind == "weight":
                v = 1.0 + 0.1 * z
            else:
                v = 0.1 * z
            p.copy_(v.to(p.dtype))
    net.eval()
    if spec["softmax"]:
        return net, torch.nn.Sequential(net, torch.nn.Softmax(dim=1)).eval()
    return net, net


def forward64(net, x32):
    m = copy.deepcopy(net).double().eval()
    with torch.no_grad():
        return m(x32.double()).float()


def export(model, spec, path):
    x = torch.zeros([1, spec["in"]] + spec["export_shape"])
    kw = {"opset_version": spec["opset"], "input_names": ["input"], "dynamo": spec["dynamo"]}
    if not spec["deep_supervision"]:
        kw["output_names"] = ["logits"]
    if spec["dynamic"]:
        axes = {0: "batch", 2: "depth", 3: "height", 4: "width"}
        kw["dynamic_axes"] = {"input": axes, "logits": axes}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(model, (x,), path, **kw)
    # The dynamo exporter may write weights to a side file; keep everything in one file.
    import onnx
    m = onnx.load(path)
    for p in (path + ".data",):
        if os.path.exists(p):
            os.remove(p)
    m.producer_version = torch.__version__.split("+")[0]
    onnx.save(m, path)


def write_f32(path, arr):
    with open(path, "wb") as f:
        f.write(np.ascontiguousarray(np.asarray(arr, dtype="<f4")).tobytes())


def generate():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    os.makedirs(OUT, exist_ok=True)
    meta = {"torch_version": torch.__version__,
            "dna_version": importlib.metadata.version("dynamic-network-architectures"),
            "onnx_version": importlib.metadata.version("onnx"),
            "dtype": "float32 little-endian, C-order [C, D, H, W] / [classes, D, H, W]",
            "logits": "PlainConvUNet output before any Softmax; float64 forward, rounded to "
                      "float32",
            "nets": {}}
    for name, spec in NETS.items():
        net, model = build(spec)
        export(model, spec, os.path.join(OUT, name + ".onnx"))
        entry = dict(spec)
        if spec["test_shape"]:
            rng = np.random.RandomState(spec["seed"] + 1)
            x = rng.standard_normal([1, spec["in"]] + spec["test_shape"]).astype("<f4")
            y = forward64(net, torch.from_numpy(x))
            write_f32(os.path.join(OUT, name + ".input.f32"), x[0])
            write_f32(os.path.join(OUT, name + ".logits.f32"), y[0].numpy())
        entry["bytes"] = os.path.getsize(os.path.join(OUT, name + ".onnx"))
        meta["nets"][name] = entry
        print("%-14s %7d bytes" % (name, entry["bytes"]))
    with open(os.path.join(OUT, "meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
        f.write("\n")
    return 0


def check():
    import onnx
    import onnxruntime as ort
    meta = json.load(open(os.path.join(OUT, "meta.json")))
    bad = 0
    for name, spec in meta["nets"].items():
        path = os.path.join(OUT, name + ".onnx")
        onnx.checker.check_model(onnx.load(path), full_check=True)
        outs = [o.name for o in onnx.load(path).graph.output]
        if not spec["test_shape"]:
            print("ok  %-14s %d outputs (deep supervision)" % (name, len(outs)))
            continue
        x = np.fromfile(os.path.join(OUT, name + ".input.f32"), "<f4")
        x = x.reshape([1, spec["in"]] + spec["test_shape"])
        want = np.fromfile(os.path.join(OUT, name + ".logits.f32"), "<f4")
        want = want.reshape([spec["classes"]] + spec["test_shape"])
        s = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        y = s.run(None, {s.get_inputs()[0].name: x})[0][0]
        if spec["softmax"]:
            e = np.exp(want - want.max(0))
            want = e / e.sum(0)
        d = float(np.abs(y - want).max())
        tol = 1e-4 * float(want.max() - want.min())
        ok = d <= tol
        bad += not ok
        print("%s  %-14s ONNX Runtime vs PyTorch max |d| %.3g (tol %.3g)" % (
            "ok" if ok else "BAD", name, d, tol))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(check() if "--check" in sys.argv[1:] else generate())
