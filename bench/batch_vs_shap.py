#!/usr/bin/env python3
"""Batch explanations: `prism batch` against a Python loop over the same file with shap.

Issue: lines/s of a batch job on the breast-cancer MLP with Sampled Shapley (pathCount 10)
against a Python loop that reads the same JSONL file line by line and explains each
instance with shap's PermutationExplainer on ONNX Runtime (the same model, baseline and
number of paths, as in shapley_vs_shap.py), writing one result line per input line; and the
resident memory (peak RSS) of both.

The same on the digits CNN with Integrated Gradients (50 steps, Gauss-Legendre, zero
baseline, argmax class), which shap cannot run: there the peer is a Python loop over the
same file calling Captum's IntegratedGradients on the torch module rebuilt from model.onnx
(as bench/ig/captum_bench.py does), with the same cores as torch intra-op threads. It runs
under --torch-python (default .venv-torch, see bench/ig/README.md) and is left out, with a
line saying so, when that interpreter is missing. Prism's CNN run is timed on tract, and on
ONNX Runtime too when ORT_DYLIB_PATH is set (a binary built with --features ort).

Run through bench/run.sh's virtual environment:

    bash bench/run.sh --no-record >/dev/null    # once: makes .venv-bench
    .venv-bench/bin/python bench/batch_vs_shap.py --prism-bin target/release/prism [--lines 20000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "bench"))

DOC = REPO / "docs" / "benchmarks.md"
CNN_STEPS = 50  # digits_cnn's explanation_spec.json


def shap_loop(path: Path, out: Path) -> None:
    """The peer: read each line, explain it with shap, write a result line (run in a child)."""
    import numpy as np
    import shap
    import shapley_vs_shap as base  # model, metadata and shap helpers

    names, baseline, input_name, output_name = base.load_metadata()
    model = base.CountingModel(base.session(1), input_name, output_name)
    explainer = shap.PermutationExplainer(model, shap.maskers.Independent(baseline,
                                                                           max_samples=1))
    max_evals = base.shap_max_evals(len(names), base.PATH_COUNT)
    with path.open() as f, out.open("w") as w:
        for line in f:
            instance = json.loads(line)
            row = np.array([instance[n] for n in names], dtype=np.float32)
            r = explainer.explain_row(row, max_evals=max_evals, main_effects=False,
                                      error_bounds=False, batch_size="auto", outputs=None,
                                      silent=True)
            k = int(np.argmax(model(row[None, :])[0]))
            w.write(json.dumps({"instance": instance, "explanation": {
                "attributions": [dict(zip(names, map(float, r["values"][:, k])))]}}) + "\n")


def captum_loop(path: Path, out: Path, threads: int) -> None:
    """The CNN peer: read each line, explain it with Captum IG, write a result line (run in
    a child under the torch interpreter)."""
    import numpy as np
    import torch

    sys.path.insert(0, str(REPO / "bench" / "ig"))
    import captum_bench  # the IG call (and the torch model) the per-explanation benchmark times

    torch.set_num_threads(threads)
    torch.set_num_interop_threads(1)
    model = captum_bench.torch_from_onnx("digits_cnn").float().eval()
    ig = captum_bench.IntegratedGradients(model)
    with path.open() as f, out.open("w") as w:
        for line in f:
            instance = json.loads(line)
            x = torch.from_numpy(np.asarray(instance["image"], dtype=np.float32))[None]
            k, attr, delta = captum_bench.explain(ig, model, x, torch.zeros_like(x), CNN_STEPS,
                                                  CNN_STEPS)
            w.write(json.dumps({"instance": instance, "explanation": {
                "attributions": [{"image": attr[0].tolist(), "outputIndex": [k],
                                  "approximationError": abs(delta)}]}}) + "\n")


def captum_agreement(prism_out: Path, captum_out: Path) -> tuple[int, float, int]:
    """(lines compared, largest |Prism - Captum| over the largest |Captum| attribution of the
    line, lines whose explained class differs): the two must explain the same thing."""
    import numpy as np

    prism_lines = [json.loads(line) for p in sorted(prism_out.glob("*/prediction.results-*"))
                   for line in p.read_text().splitlines()]
    worst, other_class, n = 0.0, 0, 0
    for captum_line, prism_line in zip(captum_out.read_text().splitlines(), prism_lines):
        c = json.loads(captum_line)["explanation"]["attributions"][0]
        p = prism_line["explanation"]["attributions"][0]
        n += 1
        if c["outputIndex"] != p["outputIndex"]:
            other_class += 1
            continue
        ca = np.asarray(c["image"], dtype=np.float64)
        pa = np.asarray(p["featureAttributions"]["image"], dtype=np.float64)
        worst = max(worst, float(np.abs(pa - ca).max() / np.abs(ca).max()))
    return n, worst, other_class


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """Runs cmd; (wall s, CPU s, peak RSS MiB) of that command alone. GNU time measures
    the peak: a child forked from this Python process would count its parent's pages."""
    with tempfile.NamedTemporaryFile("r") as report:
        t0 = time.perf_counter()
        subprocess.run(["/usr/bin/time", "-o", report.name, "-f", "%U %S %M", *cmd],
                       check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        user, system, kib = report.read().split()[-3:]
    return wall, float(user) + float(system), int(kib) / 1024


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prism-bin", required=True, help="a release prism binary")
    ap.add_argument("--lines", type=int, default=20_000, help="input lines (MLP)")
    ap.add_argument("--cnn-lines", type=int, default=600, help="input lines (CNN, IG)")
    ap.add_argument("--shap-lines", type=int, default=5_000,
                    help="lines the shap loop explains (its rate is per line)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--captum-lines", type=int, default=600,
                    help="lines the Captum loop explains (its rate is per line)")
    ap.add_argument("--torch-python", default=str(REPO / ".venv-torch/bin/python"),
                    help="a Python with torch, captum and onnx (the CNN peer)")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--child-shap", nargs=2, help=argparse.SUPPRESS)
    ap.add_argument("--child-captum", nargs=3, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_shap:
        shap_loop(Path(args.child_shap[0]), Path(args.child_shap[1]))
        return
    if args.child_captum:
        captum_loop(Path(args.child_captum[1]), Path(args.child_captum[2]),
                    int(args.child_captum[0]))
        return
    import shapley_vs_shap as base  # not in the Captum child: its interpreter has no shap

    cores = min(args.cores, os.cpu_count() or args.cores)
    pin = ["taskset", "-c", f"0-{cores - 1}"] if shutil.which("taskset") else []
    work = Path(tempfile.mkdtemp(prefix="prism-batch-bench-"))
    names, *_ = base.load_metadata()
    x = base.make_instances(names)
    mlp = work / "mlp.jsonl"
    with mlp.open("w") as f:
        for i in range(args.lines):
            f.write(json.dumps(dict(zip(names, map(float, x[i % len(x)])))) + "\n")
    shap_in = work / "shap.jsonl"
    shap_in.write_text("".join(mlp.read_text().splitlines(True)[: args.shap_lines]))
    cnn_lines = (REPO / "testdata/models/digits_cnn/instances.jsonl").read_text().splitlines()
    cnn = work / "cnn.jsonl"
    cnn.write_text("".join(cnn_lines[i % len(cnn_lines)] + "\n"
                           for i in range(args.cnn_lines)))
    captum_in = work / "captum.jsonl"
    captum_in.write_text("".join(cnn.read_text().splitlines(True)[: args.captum_lines]))
    load = os.getloadavg()[0]

    def prism(model: str, path: Path, out: str,
              backend: str = "tract") -> tuple[float, float, float]:
        return timed(pin + [args.prism_bin, "batch", str(REPO / "testdata/models" / model),
                            "--input", str(path), "--output", str(work / out), "--explain",
                            "--backend", backend, "--progress-interval", "3600"])

    def peer(child: list[str], path: Path, count: int) -> tuple[float, float, float, float]:
        """A Python loop's (lines/s wall, lines/s CPU, peak RSS MiB, start-up s). Its rates
        leave out the interpreter's start-up and imports (a one-line run's time), which a
        long job would not notice: the peer's best case, while Prism's rates include its own
        start-up."""
        one = path.with_suffix(".one.jsonl")
        one.write_text(path.read_text().splitlines(True)[0])
        w1, c1, _ = timed(pin + child + [str(one), str(one.with_suffix(".out"))])
        wall, cpu, rss = timed(pin + child + [str(path), str(path.with_suffix(".out"))])
        if wall - w1 < 0.5 * wall:
            sys.exit(f"{path.name}: {count} lines took {wall:.1f} s against {w1:.1f} s for one: "
                     "too few to tell the loop's rate from its start-up; give it more lines")
        return (count - 1) / (wall - w1), (count - 1) / (cpu - c1), rss, w1

    print(f"prism batch, {args.lines} MLP lines ...", flush=True)
    p_wall, p_cpu, p_rss = prism("breast_cancer_mlp", mlp, "out-mlp")
    p_rate, p_rate_cpu = args.lines / p_wall, args.lines / p_cpu
    print(f"shap loop, {args.shap_lines} lines ...", flush=True)
    s_rate, s_rate_cpu, s_rss, s_start = peer(
        [sys.executable, __file__, "--prism-bin", args.prism_bin, "--child-shap"], shap_in,
        args.shap_lines)
    cnn_runs = []
    for backend in ["tract", "ort"] if os.environ.get("ORT_DYLIB_PATH") else ["tract"]:
        print(f"prism batch --backend {backend}, {args.cnn_lines} CNN lines (IG) ...", flush=True)
        wall, cpu, rss = prism("digits_cnn", cnn, f"out-cnn-{backend}", backend)
        cnn_runs.append((backend, args.cnn_lines / wall, args.cnn_lines / cpu, rss))
    captum = None
    if Path(args.torch_python).exists():
        print(f"Captum loop, {args.captum_lines} CNN lines ...", flush=True)
        captum = peer([args.torch_python, __file__, "--prism-bin", args.prism_bin,
                       "--child-captum", str(cores)], captum_in, args.captum_lines)
    for out, count in [("out-mlp", args.lines),
                       *[(f"out-cnn-{b}", args.cnn_lines) for b, *_ in cnn_runs]]:
        results = list((work / out).glob("*/prediction.results-*"))
        assert sum(len(p.read_text().splitlines()) for p in results) == count, results

    rows = [
        ("Prism `prism batch --explain`, breast_cancer_mlp, Sampled Shapley pathCount 10",
         f"{args.lines:,}", f"{p_rate:,.0f}", f"{p_rate_cpu:,.0f}", f"{p_rss:,.0f}"),
        ("Python loop: json per line + shap PermutationExplainer on ONNX Runtime (1 thread)",
         f"{args.shap_lines:,}", f"{s_rate:,.0f}", f"{s_rate_cpu:,.0f}", f"{s_rss:,.0f}"),
        *[(f"Prism `prism batch --explain --backend {b}`, digits_cnn, Integrated Gradients "
           f"{CNN_STEPS} steps", f"{args.cnn_lines:,}", f"{rate:,.1f}", f"{rate_cpu:,.1f}",
           f"{rss:,.0f}") for b, rate, rate_cpu, rss in cnn_runs],
    ]
    cnn_read = "- CNN: no Captum line (no torch interpreter at --torch-python)"
    if captum:
        k_rate, k_rate_cpu, k_rss, k_start = captum
        rows.append((f"Python loop: json per line + Captum IntegratedGradients {CNN_STEPS} "
                     f"steps on torch ({cores} threads)", f"{args.captum_lines:,}",
                     f"{k_rate:,.1f}", f"{k_rate_cpu:,.1f}", f"{k_rss:,.0f}"))
        n, worst, other_class = captum_agreement(work / "out-cnn-tract",
                                                 captum_in.with_suffix(".out"))
        cnn_read = "- **CNN, Prism / Captum loop:** " + "; ".join(
            f"{b} **{rate / k_rate:.1f}x** lines/s ({rate_cpu / k_rate_cpu:.1f}x in CPU time)"
            for b, rate, rate_cpu, _ in cnn_runs) + \
            f"; peak RSS {k_rss:,.0f} MiB for Captum (start-up {k_start:.1f} s, left out). " \
            f"Same answers: over {n} lines the largest pixel difference is {worst:.1e} of " \
            f"the line's largest attribution ({other_class} lines explained another class)"
    ratio = p_rate / s_rate
    ratio_cpu = p_rate_cpu / s_rate_cpu
    lines = [
        f"\n## Batch explanations: `prism batch` vs a shap loop "
        f"({dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')})\n",
        f"- Machine: {platform.machine()}, {cores} cores (both sides pinned to them), load "
        f"average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        f"- Command: `{'ORT_DYLIB_PATH=… ' if len(cnn_runs) > 1 else ''}.venv-bench/bin/python "
        f"bench/batch_vs_shap.py {' '.join(sys.argv[1:])}`",
        f"- **Prism / shap loop: {ratio:.1f}x lines/s** (target ≥ 10x: "
        f"{'met' if ratio >= 10 else 'NOT met'}); {ratio_cpu:.1f}x in CPU time; peak RSS "
        f"{p_rss:,.0f} MiB vs {s_rss:,.0f} MiB (the loop's start-up, {s_start:.1f} s, left out)",
        cnn_read,
        "",
        "| run | lines | lines/s (wall) | lines/s (CPU) | peak RSS MiB |",
        "|---|---|---|---|---|",
        *["| " + " | ".join(r) + " |" for r in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    shutil.rmtree(work, ignore_errors=True)
    if not args.no_record:
        with DOC.open("a") as f:
            f.write(text)


if __name__ == "__main__":
    main()
