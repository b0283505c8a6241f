#!/usr/bin/env python3
"""Checks nnedge's ONNX exports with the independent implementations: onnx's full checker and
ONNX Runtime.

Run from the repository root after `make` (needs build/nnedge and build/libnnedge.so):

    build/venv/bin/python tools/check_onnx.py            # golden models + full 3d_fullres model
    build/venv/bin/python tools/check_onnx.py --quick    # golden models and torch fixtures only

For each model (tests/golden/iso3 and aniso4 converted from their PyTorch checkpoints, and the
full-size reference network of tests/data/plans_3d_fullres_ref.json, He-initialised by
`nnedge convert --random-init`), `nnedge export-onnx` writes:

  fp32     fixed shape (the golden input shape / the 128^3 patch)
  dynamic  symbolic axes, run at another shape
  softmax  fixed shape with Softmax appended
  fp16     float16 convolutions, float32 instance normalization

Each file must pass onnx.checker.check_model(full_check=True) (which includes strict shape
inference). ONNX Runtime (CPU) then runs it and is compared with nnedge's own forward pass of
the .nne model, called through build/libnnedge.so (ctypes):

  fp32, dynamic   max |d| <= 1e-4 x range of nnedge's logits
  softmax         max |d| <= 0.5e-4 x logit range against the softmax of nnedge's logits
                  (what the logit criterion implies: softmax is 1/2-Lipschitz in max norm)
  fp16            argmax masks: Dice >= 0.999 for every foreground class
                  (against nnedge's float32 masks)

For the golden models ONNX Runtime is also compared with PyTorch's logits stored next to them.
The PyTorch exports of tests/data/onnx (tools/gen_onnx_fixtures.py) are loaded by nnedge
directly from the .onnx file and compared with ONNX Runtime on the same file. Exits 1 if any
check fails. Nothing is written outside a temporary folder (and build/ref_random.nne, reused).
"""

import argparse
import ctypes
import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np
import onnx
import onnxruntime as ort

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CLI = os.path.join(ROOT, "build", "nnedge")
LIB = os.path.join(ROOT, "build", "libnnedge.so")


# ---------------------------------------------------------------------------------------------
# nnedge through its shared library


class CtxParams(ctypes.Structure):
    _fields_ = [("n_threads", ctypes.c_int), ("isa", ctypes.c_char_p)]


class Nnedge:
    def __init__(self, threads):
        lib = ctypes.CDLL(LIB)
        lib.nne_ctx_default_params.restype = CtxParams
        lib.nne_ctx_init.argtypes = [ctypes.POINTER(CtxParams), ctypes.POINTER(ctypes.c_void_p)]
        lib.nne_ctx_last_error.restype = ctypes.c_char_p
        lib.nne_ctx_last_error.argtypes = [ctypes.c_void_p]
        lib.nne_model_load.argtypes = [ctypes.c_void_p, ctypes.c_char_p,
                                       ctypes.POINTER(ctypes.c_void_p)]
        lib.nne_model_forward.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int,
                                          ctypes.c_void_p, ctypes.c_void_p, ctypes.c_void_p]
        for f in ("nne_model_n_classes", "nne_model_n_channels"):
            getattr(lib, f).argtypes = [ctypes.c_void_p]
        lib.nne_model_free.argtypes = [ctypes.c_void_p]
        lib.nne_ctx_free.argtypes = [ctypes.c_void_p]
        p = lib.nne_ctx_default_params()
        p.n_threads = threads
        self.ctx = ctypes.c_void_p()
        if lib.nne_ctx_init(ctypes.byref(p), ctypes.byref(self.ctx)) != 0:
            raise RuntimeError("nne_ctx_init failed")
        self.lib = lib

    def forward(self, model_path, x):
        """Logits [K, D, H, W] of fold 0 for x [C, D, H, W] (float32)."""
        lib = self.lib
        m = ctypes.c_void_p()
        if lib.nne_model_load(self.ctx, model_path.encode(), ctypes.byref(m)) != 0:
            raise RuntimeError(lib.nne_ctx_last_error(self.ctx).decode())
        try:
            k = lib.nne_model_n_classes(m)
            x = np.ascontiguousarray(x, dtype=np.float32)
            shape = np.array(x.shape[1:], dtype=np.int64)
            y = np.zeros([k] + list(x.shape[1:]), dtype=np.float32)
            rc = lib.nne_model_forward(self.ctx, m, 0, x.ctypes.data, shape.ctypes.data,
                                       y.ctypes.data)
            if rc != 0:
                raise RuntimeError(lib.nne_ctx_last_error(self.ctx).decode())
            return y
        finally:
            lib.nne_model_free(m)


# ---------------------------------------------------------------------------------------------
# helpers


def run(args):
    r = subprocess.run([CLI] + args, capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError("nnedge %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr))


def ort_run(path, x, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    s = ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])
    return s.run(None, {s.get_inputs()[0].name: x[None].astype(np.float32)})[0][0]


def dice_per_class(a, b, k):
    out = []
    for c in range(1, k):
        pa, pb = a == c, b == c
        den = int(pa.sum()) + int(pb.sum())
        out.append(1.0 if den == 0 else 2.0 * int((pa & pb).sum()) / den)
    return out


def softmax(y):
    e = np.exp(y - y.max(0, keepdims=True))
    return e / e.sum(0, keepdims=True)


def phantom(c, shape, seed):
    """A smooth synthetic volume (Gaussian blobs over a gradient, light noise) per channel."""
    rng = np.random.RandomState(seed)
    zz, yy, xx = np.meshgrid(*[np.linspace(-1, 1, n) for n in shape], indexing="ij")
    out = np.empty([c] + list(shape), np.float32)
    for ch in range(c):
        v = 0.3 * zz + 0.2 * yy - 0.1 * xx
        for _ in range(6):
            ctr = rng.uniform(-0.7, 0.7, 3)
            r = rng.uniform(0.1, 0.35)
            amp = rng.uniform(-2, 2)
            v += amp * np.exp(-((zz - ctr[0]) ** 2 + (yy - ctr[1]) ** 2 + (xx - ctr[2]) ** 2)
                              / (2 * r * r))
        v += 0.05 * rng.standard_normal(shape)
        out[ch] = v
    return out


class Report:
    def __init__(self):
        self.bad = 0

    def line(self, ok, model, variant, text):
        self.bad += not ok
        print("%-4s %-14s %-8s %s" % ("ok" if ok else "FAIL", model, variant, text), flush=True)


# ---------------------------------------------------------------------------------------------
# checks


def check_model(rep, nn, name, nne, x, other_shape, torch_logits, tmp, threads):
    c = x.shape[0]
    shape = list(x.shape[1:])
    t0 = time.time()
    ref = nn.forward(nne, x)
    t_nne = time.time() - t0
    k = ref.shape[0]
    rng = float(ref.max() - ref.min())
    ref_mask = ref.argmax(0)
    sh = ",".join(str(s) for s in shape)
    variants = [("fp32", ["--shape", sh]), ("dynamic", ["--dynamic"]),
                ("softmax", ["--shape", sh, "--softmax"]), ("fp16", ["--shape", sh, "--fp16"])]
    for variant, flags in variants:
        path = os.path.join(tmp, "%s_%s.onnx" % (name, variant))
        run(["export-onnx", nne, "-o", path] + flags)
        onnx.checker.check_model(onnx.load(path), full_check=True)
        size = os.path.getsize(path)
        xin, want = x, ref
        if variant == "dynamic":
            xin = phantom(c, other_shape, 7)
            want = nn.forward(nne, xin)
        t0 = time.time()
        y = ort_run(path, xin, threads)
        t_ort = time.time() - t0
        r = float(want.max() - want.min())
        info = "checker ok, %.1f MB, ORT %.1f s (nnedge %.1f s)" % (size / 1e6, t_ort, t_nne)
        if variant in ("fp32", "dynamic"):
            d = float(np.abs(y - want).max())
            ok = d <= 1e-4 * r
            rep.line(ok, name, variant, "max |d| %.3g = %.2e x range %.3g at %s; %s" % (
                d, d / r, r, "x".join(map(str, want.shape[1:])), info))
            if variant == "fp32" and torch_logits is not None:
                dt = float(np.abs(y - torch_logits).max())
                rt = float(torch_logits.max() - torch_logits.min())
                rep.line(dt <= 1e-4 * rt, name, "pytorch",
                         "ORT vs PyTorch logits max |d| %.3g = %.2e x range" % (dt, dt / rt))
        elif variant == "softmax":
            # Softmax is 1/2-Lipschitz in the max norm, so the FP32 logit criterion implies
            # max |d| <= 0.5e-4 x logit range for the probabilities.
            d = float(np.abs(y - softmax(ref)).max())
            tol = 0.5e-4 * rng
            rep.line(d <= tol, name, variant, "max |d| %.3g vs softmax(nnedge) (tol %.3g); %s" % (
                d, tol, info))
        else:
            mask = y.argmax(0)
            dice = dice_per_class(mask, ref_mask, k)
            d = float(np.abs(y - ref).max())
            rep.line(min(dice) >= 0.999, name, variant,
                     "Dice %s vs nnedge fp32 masks, %d/%d voxels differ, max |d| %.3g = %.2e x "
                     "range; %s" % ("/".join("%.5f" % v for v in dice), int((mask != ref_mask).sum()),
                                    mask.size, d, d / rng, info))
        os.remove(path)


def check_torch_fixtures(rep, nn, threads):
    d = os.path.join(ROOT, "tests", "data", "onnx")
    meta = json.load(open(os.path.join(d, "meta.json")))
    for name, spec in meta["nets"].items():
        path = os.path.join(d, name + ".onnx")
        if not spec["test_shape"]:
            try:
                nn.forward(path, np.zeros([spec["in"], 4, 4, 4], np.float32))
                rep.line(False, name, "refused", "was imported")
            except RuntimeError as e:
                rep.line("deep supervision" in str(e), name, "refused", str(e)[:90] + "...")
            continue
        x = np.fromfile(os.path.join(d, name + ".input.f32"), "<f4")
        x = x.reshape([spec["in"]] + spec["test_shape"])
        y_nn = nn.forward(path, x)
        y = ort_run(path, x, threads)
        if spec["softmax"]:
            y_nn = softmax(y_nn)
        dd = float(np.abs(y - y_nn).max())
        r = float(y.max() - y.min())
        rep.line(dd <= 1e-4 * r, name, "import", "nnedge (from .onnx) vs ORT max |d| %.3g = %.2e x "
                 "range" % (dd, dd / r))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="skip the full 3d_fullres model")
    ap.add_argument("--threads", type=int, default=2)
    a = ap.parse_args()
    for p in (CLI, LIB):
        if not os.path.exists(p):
            print("missing %s: run make first" % p)
            return 1
    print("onnx %s, onnxruntime %s" % (onnx.__version__, ort.__version__))
    nn = Nnedge(a.threads)
    rep = Report()
    with tempfile.TemporaryDirectory() as tmp:
        for topo in ("iso3", "aniso4"):
            g = os.path.join(ROOT, "tests", "golden", topo)
            meta = json.load(open(os.path.join(g, "meta.json")))
            shp = meta["input_shape"]
            nne = os.path.join(tmp, topo + ".nne")
            run(["convert", os.path.join(g, "results"), "-f", "0", "-o", nne])
            x = np.fromfile(os.path.join(g, "input.f32"), "<f4").reshape(shp)
            t = np.fromfile(os.path.join(g, "logits_fold0.f32"), "<f4")
            t = t.reshape([meta["n_classes"]] + shp[1:])
            other = [2 * s for s in shp[1:]]
            check_model(rep, nn, topo, nne, x, other, t, tmp, a.threads)
        check_torch_fixtures(rep, nn, a.threads)
        if not a.quick:
            nne = os.path.join(ROOT, "build", "ref_random.nne")
            if not os.path.exists(nne):
                run(["convert", "--random-init",
                     os.path.join(ROOT, "tests", "data", "plans_3d_fullres_ref.json"),
                     "--dataset", os.path.join(ROOT, "tests", "data", "dataset_ref.json"),
                     "-o", nne])
            x = phantom(2, [128, 128, 128], 1)
            check_model(rep, nn, "ref_3d_fullres", nne, x, [64, 96, 64], None, tmp, a.threads)
    print("%s: %d check(s) failed" % ("FAIL" if rep.bad else "PASS", rep.bad))
    return 1 if rep.bad else 0


if __name__ == "__main__":
    sys.exit(main())
