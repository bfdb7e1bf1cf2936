#!/usr/bin/env python3
"""Batch explanations: `prism batch` against a Python loop over the same file with shap.

Issue: lines/s of a batch job on the breast-cancer MLP with Sampled Shapley (pathCount 10)
against a Python loop that reads the same JSONL file line by line and explains each
instance with shap's PermutationExplainer on ONNX Runtime (the same model, baseline and
number of paths, as in shapley_vs_shap.py), writing one result line per input line; and the
resident memory (peak RSS) of both. Also Prism's lines/s on the digits CNN with Integrated
Gradients (50 steps), which shap cannot run (no peer line there).

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
import shapley_vs_shap as base  # noqa: E402  (model, metadata and shap helpers)

DOC = REPO / "docs" / "benchmarks.md"


def shap_loop(path: Path, out: Path) -> None:
    """The peer: read each line, explain it with shap, write a result line (run in a child)."""
    import numpy as np
    import shap

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
    ap.add_argument("--shap-lines", type=int, default=2_000,
                    help="lines the shap loop explains (its rate is per line)")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--child-shap", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child_shap:
        shap_loop(Path(args.child_shap[0]), Path(args.child_shap[1]))
        return
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
    load = os.getloadavg()[0]

    def prism(model: str, path: Path, out: str) -> tuple[float, float, float]:
        return timed(pin + [args.prism_bin, "batch", str(REPO / "testdata/models" / model),
                            "--input", str(path), "--output", str(work / out), "--explain",
                            "--progress-interval", "3600"])

    print(f"prism batch, {args.lines} MLP lines ...", flush=True)
    p_wall, p_cpu, p_rss = prism("breast_cancer_mlp", mlp, "out-mlp")
    print(f"shap loop, {args.shap_lines} lines ...", flush=True)
    s_wall, s_cpu, s_rss = timed(pin + [sys.executable, __file__, "--prism-bin",
                                        args.prism_bin, "--child-shap", str(shap_in),
                                        str(work / "shap-out.jsonl")])
    print(f"prism batch, {args.cnn_lines} CNN lines (IG, 50 steps) ...", flush=True)
    c_wall, c_cpu, c_rss = prism("digits_cnn", cnn, "out-cnn")
    results = list((work / "out-mlp").glob("*/prediction.results-*"))
    assert sum(len(p.read_text().splitlines()) for p in results) == args.lines, results

    p_rate, s_rate = args.lines / p_wall, args.shap_lines / s_wall
    rows = [
        ("Prism `prism batch --explain`, breast_cancer_mlp, Sampled Shapley pathCount 10",
         f"{args.lines:,}", f"{p_rate:,.0f}", f"{args.lines / p_cpu:,.0f}", f"{p_rss:,.0f}"),
        ("Python loop: json per line + shap PermutationExplainer on ONNX Runtime (1 thread)",
         f"{args.shap_lines:,}", f"{s_rate:,.0f}", f"{args.shap_lines / s_cpu:,.0f}",
         f"{s_rss:,.0f}"),
        ("Prism `prism batch --explain`, digits_cnn, Integrated Gradients 50 steps",
         f"{args.cnn_lines:,}", f"{args.cnn_lines / c_wall:,.0f}",
         f"{args.cnn_lines / c_cpu:,.0f}", f"{c_rss:,.0f}"),
    ]
    ratio = p_rate / s_rate
    ratio_cpu = (args.lines / p_cpu) / (args.shap_lines / s_cpu)
    lines = [
        f"\n## Batch explanations: `prism batch` vs a shap loop "
        f"({dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')})\n",
        f"- Machine: {platform.machine()}, {cores} cores (both sides pinned to them), load "
        f"average {load:.1f} at the start, {os.getloadavg()[0]:.1f} at the end",
        f"- Command: `.venv-bench/bin/python bench/batch_vs_shap.py --prism-bin "
        f"{args.prism_bin} --lines {args.lines}`",
        f"- **Prism / shap loop: {ratio:.1f}x lines/s** (target ≥ 10x: "
        f"{'met' if ratio >= 10 else 'NOT met'}); {ratio_cpu:.1f}x in CPU time; peak RSS "
        f"{p_rss:,.0f} MiB vs {s_rss:,.0f} MiB",
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
