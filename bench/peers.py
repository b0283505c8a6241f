#!/usr/bin/env python3
"""peers.py - nnedge next to ONNX Runtime and PyTorch, on one machine, in one run.

Run from the repository root (or `make bench-peers`, which passes PEERS_ARGS):

    build/venv/bin/python bench/peers.py [--patch 64,64,64] [--threads 2] [--repeat 3]
                                         [--model M.nne] [--onnx M.onnx] [--out R.json]

The protocol of spec/performance.md:

- Same weights. Without --model, an nnU-Net-style results folder is generated from the
  reference plans (tests/data/plans_3d_fullres_ref.json) with the tools of tools/gen_golden.py:
  the PlainConvUNet of dynamic-network-architectures, every parameter redrawn from
  --weights-seed, saved as a real checkpoint_final.pth, then imported with `nnedge convert`.
  PyTorch builds the same PlainConvUNet from the plans stored in the .nne file (deep
  supervision off) and loads the very tensors nnedge runs, read from the .nne file; ONNX
  Runtime runs that module exported with torch.onnx.export, or the model given by --onnx
  (e.g. nnedge's own ONNX export).
- Same input: N(0, 1) float32 [1, C, D, H, W] from numpy's RandomState(--seed), one file.
- Each system runs in its own process (a worker) that does nothing else, so its peak RSS
  (getrusage ru_maxrss, read by this driver with wait4) is that system's. nnedge's worker is
  `nnedge bench --sync`; the others are this script with --worker.
- Each worker loads, runs --warmup untimed passes and writes the logits of the first one.
  Before anything is timed the logits are compared with PyTorch's: max |delta logit| must be
  <= --tol x (logit range); otherwise the run stops and nothing is timed.
- Then --repeat rounds; in each round every system runs one timed forward while the others
  wait, and the order rotates from round to round. Reported: median, min and max seconds, peak
  RSS, GFLOP/s from nnedge's MAC count, and the ratios peer median / nnedge median of this run.

Python runs only this benchmark; nnedge's build and tests never need it. The JSON goes to
stdout (and to --out); progress goes to stderr.
"""

import argparse
import json
import os
import platform
import struct
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORK = os.path.join(ROOT, "build", "peers")
REF_PLANS = os.path.join(ROOT, "tests", "data", "plans_3d_fullres_ref.json")
REF_DATASET = os.path.join(ROOT, "tests", "data", "dataset_ref.json")
SYSTEMS = ("nnedge", "onnxruntime", "torch")


def log(msg):
    print("peers: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# The .nne file (docs/MODEL_FORMAT.md), read with numpy: header JSON and one fold's tensors.


def read_nne(path, fold_index=0):
    """Returns (header dict, {nnU-Net state_dict key: float32 ndarray}) of one fold."""
    import numpy as np

    with open(path, "rb") as f:
        buf = f.read()
    magic, version, endian = struct.unpack_from("<8sII", buf, 0)
    (file_size, header_off, header_len, table_off, table_len, n_tensors, data_off,
     data_len) = struct.unpack_from("<8Q", buf, 16)
    if magic != b"NNEMODEL" or version != 1 or endian != 0x01020304 or file_size != len(buf):
        raise ValueError("%s: not a version 1 .nne file" % path)
    header = json.loads(buf[header_off:header_off + header_len].decode("utf-8"))
    fold = header["folds"][fold_index]["name"]
    prefix = "fold%s/" % fold
    tensors = {}
    pos = table_off
    for _ in range(n_tensors):
        (name_len,) = struct.unpack_from("<H", buf, pos)
        name = buf[pos + 2:pos + 2 + name_len].decode("utf-8")
        pos += 2 + name_len
        dtype, ndim = struct.unpack_from("<BB", buf, pos)
        pos += 2
        shape = struct.unpack_from("<%dQ" % ndim, buf, pos)
        pos += 8 * ndim
        offset, nbytes, _crc = struct.unpack_from("<QQI", buf, pos)
        pos += 20
        if dtype != 0:
            raise ValueError("%s: tensor %s has dtype %d" % (path, name, dtype))
        if name.startswith(prefix):
            a = np.frombuffer(buf, dtype="<f4", count=nbytes // 4, offset=data_off + offset)
            tensors[name[len(prefix):]] = a.reshape(shape).copy()
    if pos != table_off + table_len:
        raise ValueError("%s: tensor table length mismatch" % path)
    return header, tensors


def torch_module_from_nne(path):
    """The PlainConvUNet of the .nne file's plans, deep supervision off, with the file's
    tensors. nnU-Net's alias keys (all_modules.*, decoder.encoder.*) share storage with the
    stored primaries, so they are the only keys allowed to be missing."""
    import torch

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gen_golden

    header, tensors = read_nne(path)
    net = gen_golden.build_network(header["plans"], header["dataset"], header["configuration"],
                                   deep_supervision=False)
    sd = {k: torch.from_numpy(v) for k, v in tensors.items()}
    missing, unexpected = net.load_state_dict(sd, strict=False)
    bad = [k for k in missing if ".all_modules." not in k and not k.startswith("decoder.encoder.")]
    if bad or unexpected:
        raise ValueError("%s: state_dict mismatch: missing %s, unexpected %s"
                         % (path, bad[:5], list(unexpected)[:5]))
    return net.eval(), header


# ---------------------------------------------------------------------------------------------
# Workers: one process per system; protocol on stdin/stdout, one JSON object per line.


def emit(obj):
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def worker_loop(run, x, args):
    import numpy as np

    y = None
    for i in range(args.warmup):
        y = run(x)
        if i == 0:
            np.ascontiguousarray(y, dtype="<f4").tofile(args.logits)
    emit({"event": "ready"})
    for i in range(args.repeat):
        if not sys.stdin.readline():
            sys.exit(2)
        c0, t0 = time.process_time(), time.perf_counter()
        run(x)
        t1, c1 = time.perf_counter(), time.process_time()
        emit({"event": "run", "i": i, "seconds": t1 - t0, "cpu_seconds": c1 - c0})


def load_input(args, channels):
    import numpy as np

    d, h, w = args.patch
    return np.fromfile(args.input, dtype="<f4").reshape(1, channels, d, h, w)


def worker_onnxruntime(args):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = args.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(args.onnx, so, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0]
    x = load_input(args, inp.shape[1])

    def run(v):
        return sess.run(None, {inp.name: v})[0][0]

    worker_loop(run, x, args)
    emit({"event": "done", "version": "onnxruntime " + ort.__version__})


def worker_torch(args):
    import torch

    torch.set_num_threads(args.threads)
    net, header = torch_module_from_nne(args.model)
    x = torch.from_numpy(load_input(args, len(header["dataset"]["channel_names"])))

    def run(v):
        with torch.inference_mode():
            return net(v)[0].numpy()

    worker_loop(run, x, args)
    emit({"event": "done", "version": "torch " + torch.__version__})


def worker_export(args):
    """torch.onnx.export of the .nne file's module at the benchmark's static input shape."""
    import torch

    torch.set_num_threads(args.threads)
    net, header = torch_module_from_nne(args.model)
    c = len(header["dataset"]["channel_names"])
    x = torch.zeros((1, c) + tuple(args.patch), dtype=torch.float32)
    tmp = args.onnx + ".tmp"
    with torch.inference_mode():
        torch.onnx.export(net, (x,), tmp, input_names=["input"], output_names=["logits"],
                          dynamo=True, external_data=False)
    os.replace(tmp, args.onnx)


def worker_checkpoint(args):
    """An nnU-Net v2 results folder with one randomly initialised fold (tools/gen_golden.py:
    build_network, randomize, make_checkpoint), from the reference plans."""
    import torch

    sys.path.insert(0, os.path.join(ROOT, "tools"))
    import gen_golden

    torch.set_num_threads(args.threads)
    plans = json.load(open(REF_PLANS))
    dsj = json.load(open(REF_DATASET))
    net = gen_golden.make_trained_net(plans, dsj, args.weights_seed)
    # The optimizer state of the checkpoint comes from one SGD step on a small patch: twice
    # the total stride, so that the bottleneck keeps more than one voxel (InstanceNorm in
    # training mode needs it).
    ts = gen_golden.total_stride(plans["configurations"]["3d_fullres"]["architecture"]
                                 ["arch_kwargs"]["strides"])
    x = torch.from_numpy(gen_golden.make_input([len(dsj["channel_names"])] + [2 * t for t in ts],
                                               args.weights_seed))
    ckpt = gen_golden.make_checkpoint(net, plans, dsj, 0, x, args.weights_seed)
    res = args.results
    gen_golden.write_json(os.path.join(res, "plans.json"), plans)
    gen_golden.write_json(os.path.join(res, "dataset.json"), dsj)
    gen_golden.save_checkpoint(ckpt, os.path.join(res, "fold_0", "checkpoint_final.pth"))


WORKERS = {"onnxruntime": worker_onnxruntime, "torch": worker_torch, "export": worker_export,
           "checkpoint": worker_checkpoint}


# ---------------------------------------------------------------------------------------------
# Driver


def run_checked(cmd, what):
    log("%s: %s" % (what, " ".join(cmd)))
    r = subprocess.run(cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if r.returncode != 0:
        sys.stderr.write(r.stdout + r.stderr)
        raise SystemExit("peers: %s failed (exit %d)" % (what, r.returncode))
    return r.stdout


def self_cmd(args, worker, **extra):
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", worker,
           "--threads", str(args.threads), "--patch", ",".join(map(str, args.patch)),
           "--repeat", str(args.repeat), "--warmup", str(args.warmup)]
    for k, v in extra.items():
        cmd += ["--" + k.replace("_", "-"), str(v)]
    return cmd


def prepare_model(args):
    """The .nne model: --model, or the reference network with seeded weights through a real
    checkpoint and `nnedge convert` (cached in build/peers)."""
    if args.model:
        return os.path.abspath(args.model), "given: " + args.model
    results = os.path.join(WORK, "ref_results_seed%d" % args.weights_seed)
    model = os.path.join(WORK, "ref_seed%d.nne" % args.weights_seed)
    pth = os.path.join(results, "fold_0", "checkpoint_final.pth")
    if not os.path.exists(pth):
        run_checked(self_cmd(args, "checkpoint", results=results,
                             weights_seed=args.weights_seed), "checkpoint")
    if not os.path.exists(model) or os.path.getmtime(model) < os.path.getmtime(pth):
        run_checked([args.nnedge, "convert", results, "-f", "0", "-o", model], "convert")
    return model, ("reference plans, weights from seed %d via %s and nnedge convert"
                   % (args.weights_seed, os.path.relpath(pth, ROOT)))


def prepare_onnx(args, model):
    if args.onnx:
        return os.path.abspath(args.onnx), "given: " + args.onnx
    stem = os.path.splitext(os.path.basename(model))[0]
    path = os.path.join(WORK, "%s_%s.onnx" % (stem, "x".join(map(str, args.patch))))
    if not os.path.exists(path) or os.path.getmtime(path) < os.path.getmtime(model):
        run_checked(self_cmd(args, "export", model=model, onnx=path), "onnx export")
    return path, "torch.onnx.export (dynamo) of the PlainConvUNet loaded from the .nne file"


def prepare_input(args, channels):
    import numpy as np

    path = os.path.join(WORK, "input_%dx%s_seed%d.f32" % (channels, "x".join(map(str, args.patch)),
                                                         args.seed))
    if not os.path.exists(path):
        rng = np.random.RandomState(args.seed)
        x = rng.standard_normal(size=[1, channels] + list(args.patch)).astype("<f4")
        x.tofile(path + ".tmp")
        os.replace(path + ".tmp", path)
    return path


class Worker:
    """One system's process; lines of JSON on stdout, 'go' lines on stdin."""

    def __init__(self, name, cmd, logits):
        self.name, self.cmd, self.logits = name, cmd, logits
        self.err_path = os.path.join(WORK, "run", name + ".err")
        self.err = open(self.err_path, "w")
        self.proc = subprocess.Popen(cmd, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=self.err, text=True, bufsize=1)
        self.times = []
        self.cpu_times = []
        self.final = {}
        self.rusage = None

    def read_event(self, want):
        while True:
            line = self.proc.stdout.readline()
            if not line:
                self.fail("exited before '%s'" % want)
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") == want:
                return ev

    def fail(self, why):
        self.err.flush()
        tail = open(self.err_path).read()[-3000:]
        self.proc.kill()
        raise SystemExit("peers: %s %s\n%s" % (self.name, why, tail))

    def timed_run(self):
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        ev = self.read_event("run")
        self.times.append(ev["seconds"])
        self.cpu_times.append(ev.get("cpu_seconds"))

    def finish(self):
        self.proc.stdin.close()
        for line in self.proc.stdout:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if ev.get("event") in (None, "done"):
                self.final = ev
        _, status, ru = os.wait4(self.proc.pid, 0)
        self.proc.returncode = os.waitstatus_to_exitcode(status)
        self.rusage = ru
        self.err.close()
        if self.proc.returncode != 0:
            raise SystemExit("peers: %s exited %d (see %s)"
                             % (self.name, self.proc.returncode, self.err_path))


def compare(ref, y):
    import numpy as np

    d = float(np.max(np.abs(ref.astype(np.float64) - y.astype(np.float64))))
    rng = float(ref.max() - ref.min())
    agree_argmax = float(np.mean(ref.argmax(0) == y.argmax(0)))
    return {"max_abs_diff": d, "logit_range": rng, "rel_diff": d / rng if rng > 0 else d,
            "argmax_agreement": agree_argmax}


def stats(times):
    s = sorted(times)
    n = len(s)
    med = s[n // 2] if n % 2 else 0.5 * (s[n // 2 - 1] + s[n // 2])
    return {"median_s": round(med, 4), "min_s": round(s[0], 4), "max_s": round(s[-1], 4),
            "runs_s": [round(t, 4) for t in times]}


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def driver(args):
    import numpy as np

    os.makedirs(os.path.join(WORK, "run"), exist_ok=True)
    systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    for s in systems:
        if s not in SYSTEMS:
            raise SystemExit("peers: unknown system '%s' (known: %s)" % (s, ", ".join(SYSTEMS)))
    if "nnedge" not in systems:
        raise SystemExit("peers: nnedge must be one of the systems (ratios are peer/nnedge)")
    model, model_note = prepare_model(args)
    header, _ = read_nne(model)
    channels = len(header["dataset"]["channel_names"])
    if args.patch is None:
        args.patch = list(header["plans"]["configurations"][header["configuration"]]["patch_size"])
    onnx, onnx_note = (prepare_onnx(args, model) if "onnxruntime" in systems else (None, None))
    inp = prepare_input(args, channels)

    workers = {}
    for s in systems:
        logits = os.path.join(WORK, "run", "logits_%s.f32" % s)
        if os.path.exists(logits):
            os.remove(logits)
        if s == "nnedge":
            cmd = [args.nnedge, "bench", "--model", model, "--patch",
                   ",".join(map(str, args.patch)), "--threads", str(args.threads), "--repeat",
                   str(args.repeat), "--warmup", str(max(args.warmup, 1)), "--input", inp,
                   "--logits", logits, "--sync"]
        elif s == "onnxruntime":
            cmd = self_cmd(args, "onnxruntime", onnx=onnx, input=inp, logits=logits)
        else:
            cmd = self_cmd(args, "torch", model=model, input=inp, logits=logits)
        log("start %s (load + %d warm-up pass%s)" % (s, args.warmup, "" if args.warmup == 1
                                                      else "es"))
        t0 = time.perf_counter()
        w = Worker(s, cmd, logits)
        w.read_event("ready")
        log("%s ready after %.1f s" % (s, time.perf_counter() - t0))
        workers[s] = w

    # Agreement before any timing.
    d, h, wd = args.patch
    out = {}
    for s, w in workers.items():
        out[s] = np.fromfile(w.logits, dtype="<f4").reshape(-1, d, h, wd)
    ref_name = "torch" if "torch" in out else "onnxruntime" if "onnxruntime" in out else "nnedge"
    agreement = {"reference": ref_name, "tolerance_rel": args.tol}
    ok = True
    for s in out:
        if s == ref_name:
            continue
        c = compare(out[ref_name], out[s])
        c["agree"] = c["rel_diff"] <= args.tol
        c["within_abs_1e-3"] = c["max_abs_diff"] <= 1e-3
        ok &= c["agree"]
        agreement[s] = c
    if ref_name != "nnedge" and "onnxruntime" in out and ref_name != "onnxruntime":
        agreement["onnxruntime_vs_nnedge"] = compare(out["nnedge"], out["onnxruntime"])
    result = {"tool": "bench/peers.py", "cpu": cpu_name(), "nproc": os.cpu_count(),
              "patch": list(args.patch), "threads": args.threads, "repeat": args.repeat,
              "warmup": args.warmup, "input": "N(0,1) float32, numpy RandomState(%d)" % args.seed,
              "model": os.path.relpath(model, ROOT), "weights": model_note,
              "onnx": os.path.relpath(onnx, ROOT) if onnx else None, "onnx_source": onnx_note,
              "agreement": agreement}
    if not ok:
        for w in workers.values():
            w.proc.kill()
        result["error"] = "outputs disagree beyond the tolerance; nothing was timed"
        emit_result(args, result)
        return 1
    log("outputs agree (%s)" % ", ".join("%s rel %.2e" % (s, agreement[s]["rel_diff"])
                                         for s in out if s != ref_name))

    order = []
    for r in range(args.repeat):
        k = r % len(systems)
        rnd = systems[k:] + systems[:k]
        order.append(rnd)
        for s in rnd:
            workers[s].timed_run()
            log("round %d/%d: %-11s %.3f s" % (r + 1, args.repeat, s, workers[s].times[-1]))
    for w in workers.values():
        w.finish()

    nne_final = workers["nnedge"].final
    gmac = nne_final.get("gmac")
    sysres = {}
    for s, w in workers.items():
        st = stats(w.times)
        if None not in w.cpu_times:
            st["cpu_s_median"] = stats(w.cpu_times)["median_s"]
        st["peak_rss_mb"] = round(w.rusage.ru_maxrss / 1024.0, 1)
        if gmac:
            st["gflops"] = round(2.0 * gmac / st["median_s"], 2)
        if s == "nnedge":
            st["version"] = "nnedge " + nne_final.get("nnedge_version", "?")
            st["isa"] = nne_final.get("isa")
            for k in ("fma_peak_gflops_1t", "fma_peak_gflops", "pct_of_peak",
                      "activation_peak_mb"):
                st[k] = nne_final.get(k)
        else:
            st["version"] = w.final.get("version")
        sysres[s] = st
    result["gmac"] = gmac
    result["systems"] = sysres
    base = sysres["nnedge"]["median_s"]
    result["ratios"] = {"%s/nnedge" % s: round(sysres[s]["median_s"] / base, 3)
                        for s in sysres if s != "nnedge"}
    # Two readings that resist a shared machine's bursts: the fastest runs (least disturbed),
    # and the median of the ratios within each round (the runs closest in time).
    result["ratios_min"] = {"%s/nnedge" % s: round(sysres[s]["min_s"] / sysres["nnedge"]["min_s"],
                                                   3)
                            for s in sysres if s != "nnedge"}
    result["ratios_paired_median"] = {
        "%s/nnedge" % s: round(stats([a / b for a, b in zip(workers[s].times,
                                                             workers["nnedge"].times)])["median_s"],
                               3)
        for s in sysres if s != "nnedge"}
    result["round_order"] = order
    result["note"] = ("one run on a shared machine: compare the ratios of this run, not absolute "
                      "times across runs")
    emit_result(args, result)
    return 0


def emit_result(args, result):
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text + "\n")


def parse_patch(s):
    v = [int(x) for x in s.split(",")]
    if len(v) != 3 or min(v) < 1:
        raise argparse.ArgumentTypeError("--patch wants D,H,W")
    return v


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--patch", type=parse_patch, default=None,
                    help="D,H,W (default: the model's plans patch size)")
    ap.add_argument("--threads", type=int, default=os.cpu_count(),
                    help="threads of every system (default: all CPUs)")
    ap.add_argument("--repeat", type=int, default=3, help="timed rounds (default 3)")
    ap.add_argument("--warmup", type=int, default=1, help="untimed passes per system (default 1)")
    ap.add_argument("--seed", type=int, default=0, help="input seed (default 0)")
    ap.add_argument("--weights-seed", type=int, default=1, help="random weights seed (default 1)")
    ap.add_argument("--model", help=".nne model (default: the reference network, seeded weights)")
    ap.add_argument("--onnx", help="ONNX model for ONNX Runtime (default: exported from PyTorch)")
    ap.add_argument("--systems", default=",".join(SYSTEMS),
                    help="comma-separated subset of %s" % ",".join(SYSTEMS))
    ap.add_argument("--tol", type=float, default=1e-3,
                    help="max |delta logit| / logit range allowed before timing (default 1e-3)")
    ap.add_argument("--nnedge", default=os.path.join(ROOT, "build", "nnedge"),
                    help="nnedge binary (default build/nnedge)")
    ap.add_argument("--out", help="also write the JSON here")
    ap.add_argument("--worker", choices=sorted(WORKERS), help=argparse.SUPPRESS)
    ap.add_argument("--input", help=argparse.SUPPRESS)
    ap.add_argument("--logits", help=argparse.SUPPRESS)
    ap.add_argument("--results", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.repeat < 1 or args.warmup < 1 or args.threads < 1:
        ap.error("--repeat, --warmup and --threads must be >= 1")
    if args.worker:
        WORKERS[args.worker](args)
        return 0
    return driver(args)


if __name__ == "__main__":
    sys.exit(main())
