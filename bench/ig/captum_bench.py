#!/usr/bin/env python3
"""Captum Integrated Gradients on the CPU: time per explanation and completeness gap.

The peer figure for Prism's Integrated Gradients on the committed image models
(testdata/models/digits_cnn, testdata/models/resnet_small). For each model and
each step count (default 20, 50, 100) it explains the model's instances.jsonl
instances (cycling over them) at their argmax class from a zero baseline with
Captum's IntegratedGradients, method "gausslegendre", internal_batch_size 50,
in float32 on the torch module rebuilt from model.onnx's weights
(make_torch_models.torch_from_onnx: the function Prism runs). One JSON line
per (model, n_steps):

  ms_per_explanation  median / mean / min / p90 over --reps timed explanations
  approx_error        |delta| / |f(x) - f(b)| per instance (float32, as timed)
                      and the same in float64 (quadrature error alone)

One timed explanation = one forward pass for the argmax target, then
ig.attribute(..., return_convergence_delta=True), which also evaluates f(x)
and f(b) (what Prism needs for instanceOutputValue, baselineOutputValue and
approximationError). Not timed: imports, model loading, parsing instances.

Run from the repository root (see bench/ig/README.md):

    .venv-torch/bin/python bench/ig/captum_bench.py [--reps 200] [--threads 2]
"""

import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np
import torch

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "testdata"))
from make_torch_models import MODELS, torch_from_onnx  # noqa: E402

import captum  # noqa: E402
from captum.attr import IntegratedGradients  # noqa: E402


def load_instances(name):
    with open(os.path.join(MODELS, name, "instances.jsonl"), encoding="utf-8") as f:
        rows = [json.loads(line) for line in f if line.strip()]
    return [np.asarray(r["image"], dtype=np.float32) for r in rows]


def explain(ig, model, x, b, n_steps, batch):
    with torch.no_grad():
        k = int(model(x).argmax(1))
    attr, delta = ig.attribute(x, baselines=b, target=k, n_steps=n_steps,
                               method="gausslegendre", internal_batch_size=batch,
                               return_convergence_delta=True)
    return k, attr, float(delta[0])


def approx_errors(model, xs, n_steps, batch):
    ig = IntegratedGradients(model)
    out = []
    for x in xs:
        b = torch.zeros_like(x)
        k, _, delta = explain(ig, model, x, b, n_steps, batch)
        with torch.no_grad():
            gap = float(model(x)[0, k] - model(b)[0, k])
        out.append(abs(delta) / abs(gap))
    return out


def bench(name, n_steps, reps, warmup, batch, threads):
    model32 = torch_from_onnx(name).float().eval()
    model64 = torch_from_onnx(name).double().eval()
    xs = [torch.from_numpy(x)[None] for x in load_instances(name)]
    ig = IntegratedGradients(model32)
    zeros = [torch.zeros_like(x) for x in xs]
    for i in range(warmup):
        explain(ig, model32, xs[i % len(xs)], zeros[i % len(xs)], n_steps, batch)
    times = []
    for i in range(reps):
        x, b = xs[i % len(xs)], zeros[i % len(xs)]
        t0 = time.perf_counter()
        explain(ig, model32, x, b, n_steps, batch)
        times.append((time.perf_counter() - t0) * 1e3)
    err32 = approx_errors(model32, xs, n_steps, batch)
    err64 = approx_errors(model64, [x.double() for x in xs], n_steps, batch)
    times.sort()
    return {
        "model": name,
        "input_shape": list(xs[0].shape),
        "n_steps": n_steps,
        "method": "gausslegendre",
        "internal_batch_size": batch,
        "threads": threads,
        "dtype": "float32",
        "reps": reps,
        "ms_per_explanation": {
            "median": round(statistics.median(times), 3),
            "mean": round(statistics.fmean(times), 3),
            "min": round(times[0], 3),
            "p90": round(times[min(len(times) - 1, int(0.9 * len(times)))], 3),
        },
        "approx_error": {
            "float32": [float(f"{e:.3e}") for e in err32],
            "float32_max": float(f"{max(err32):.3e}"),
            "float64": [float(f"{e:.3e}") for e in err64],
            "float64_max": float(f"{max(err64):.3e}"),
        },
        "torch": torch.__version__.split("+")[0],
        "captum": captum.__version__,
        "cpu": platform.processor() or platform.machine(),
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--models", default="digits_cnn,resnet_small")
    ap.add_argument("--steps", default="20,50,100",
                    help="comma-separated n_steps values")
    ap.add_argument("--reps", type=int, default=200,
                    help="timed explanations per (model, n_steps)")
    ap.add_argument("--warmup", type=int, default=10)
    ap.add_argument("--batch", type=int, default=50, help="internal_batch_size")
    ap.add_argument("--threads", type=int, default=2, help="torch intra-op threads")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(0)
    for name in args.models.split(","):
        for n_steps in (int(s) for s in args.steps.split(",")):
            row = bench(name, n_steps, args.reps, args.warmup, args.batch, args.threads)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
