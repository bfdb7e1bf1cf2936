"""Prism's Integrated Gradients against Captum's, side by side in one run.

For each image model and step count, Prism explains the model's instances (cycled to
--count lines) with `prism explain --spec` on --cores CPUs (instances in parallel), once per
backend in --backends (tract, and ort: ONNX Runtime loaded from ORT_DYLIB_PATH), and
Captum explains the same images one after another with torch on the same CPUs
(`captum_bench.py`, intra-op threads = --cores). Reported: milliseconds per explanation
(Prism: wall time of the run minus the wall time of a one-instance run, which holds process
start, model load and the gradient rewrite, divided by the other instances; best of
--repeats), the ratio, and both approximation errors (completeness gaps). Attributions of
the two agree to 1e-3 relative (tested in crates/attribution/tests/attribution/images.rs).

Run with the torch venv of testdata/make_torch_models.py:

    .venv-torch/bin/python bench/ig/compare.py            # appends to docs/benchmarks.md
    .venv-torch/bin/python bench/ig/compare.py --no-record --steps 50 --backends tract

The ort backend needs a binary built with the feature (the default build here adds it) and
ORT_DYLIB_PATH naming libonnxruntime.so (scripts/test.sh installs it into .venv-ort).
"""

import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "testdata" / "models"


def find_prism(args) -> Path:
    if args.prism_bin:
        return Path(args.prism_bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    print(f"building prism-cli (release) into {target} ...", flush=True)
    subprocess.run(["cargo", "build", "--release", "-p", "prism-cli", "--features", "ort"],
                   cwd=REPO, check=True,
                   env={**os.environ, "CARGO_TARGET_DIR": str(target)})
    return target / "release" / "prism"


def pin(cmd, cores):
    if cores and shutil.which("taskset"):
        return ["taskset", "-c", f"0-{cores - 1}"] + cmd
    return cmd


def prism_run(prism, model, instances, spec, out, cores, backend) -> float:
    cmd = pin([str(prism), "explain", str(MODELS / model), "--instances", str(instances),
               "--spec", str(spec), "--output", str(out), "--backend", backend], cores)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    return time.perf_counter() - t0


def prism_ms(prism, model, steps, count, repeats, cores, work: Path, backend):
    lines = (MODELS / model / "instances.jsonl").read_text().splitlines()
    many, one = work / f"{model}-many.jsonl", work / f"{model}-one.jsonl"
    many.write_text("\n".join(lines[i % len(lines)] for i in range(count)) + "\n")
    one.write_text(lines[0] + "\n")
    spec = work / f"ig{steps}.json"
    spec.write_text(json.dumps({"integratedGradientsAttribution": {"stepCount": steps}}))
    out = work / "out.jsonl"
    run = lambda f: prism_run(prism, model, f, spec, out, cores, backend)  # noqa: E731
    run(one)  # warm the page cache
    fixed = min(run(one) for _ in range(repeats))
    total = min(run(many) for _ in range(repeats))
    errors = [json.loads(l)["attributions"][0]["approximationError"]
              for l in out.read_text().splitlines()[: len(lines)]]
    return (total - fixed) / (count - 1) * 1e3, fixed, errors


def captum(model, steps, reps, cores):
    cmd = pin([sys.executable, str(REPO / "bench" / "ig" / "captum_bench.py"), "--models",
               model, "--steps", str(steps), "--reps", str(reps), "--threads", str(cores)],
              cores)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    return json.loads([l for l in out.splitlines() if l.startswith("{")][-1])


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prism-bin", help="a built prism binary (default: cargo build --release)")
    ap.add_argument("--models", default="digits_cnn,resnet_small")
    ap.add_argument("--steps", default="20,50,100")
    ap.add_argument("--backends", default="tract,ort", help="Prism backends to time")
    ap.add_argument("--count", type=int, default=120, help="Prism instances per run")
    ap.add_argument("--reps", type=int, default=100, help="Captum timed explanations")
    ap.add_argument("--repeats", type=int, default=3, help="Prism: best of this many runs")
    ap.add_argument("--cores", type=int, default=2)
    ap.add_argument("--no-record", action="store_true")
    args = ap.parse_args()
    cores = min(args.cores, os.cpu_count() or args.cores)
    prism = find_prism(args)
    backends = args.backends.split(",")
    if "ort" in backends and not os.environ.get("ORT_DYLIB_PATH"):
        sys.exit("the ort backend needs ORT_DYLIB_PATH (see scripts/test.sh)")
    work = Path(tempfile.mkdtemp(prefix="prism-ig-bench-"))
    load = os.getloadavg()[0]
    rows = []
    for model in args.models.split(","):
        for steps in (int(s) for s in args.steps.split(",")):
            c = captum(model, steps, args.reps, cores)
            c_ms = c["ms_per_explanation"]["median"]
            for backend in backends:
                p_ms, fixed, p_err = prism_ms(prism, model, steps, args.count, args.repeats,
                                              cores, work, backend)
                rows.append((model, steps, backend, p_ms, c_ms, c_ms / p_ms, max(p_err),
                             c["approx_error"]["float32_max"], fixed))
                print(f"{model} {steps} steps, {backend}: Prism {p_ms:.2f} ms, Captum "
                      f"{c_ms:.2f} ms ({c_ms / p_ms:.2f}x); errors {max(p_err):.4f} vs "
                      f"{c['approx_error']['float32_max']:.4f}", flush=True)
    git = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    lines = [
        f"### Integrated Gradients vs Captum — {datetime.date.today()}, commit "
        f"{git('rev-parse', '--short', 'HEAD')}",
        "",
        f"`bench/ig/compare.py`: {platform.machine()}, {cores} cores for each side "
        f"(Prism: instances in parallel; Captum {c['captum']} on torch {c['torch']}: "
        f"{cores} intra-op threads, internal_batch_size 50), load average {load:.1f} at "
        f"the start. ms per explanation (Prism: {args.count} instances, one-instance run "
        f"subtracted; Captum: median of {args.reps}); errors: the largest completeness gap "
        f"over the model's instances.",
        "",
        "| model | steps | Prism backend | Prism ms | Captum ms | Captum / Prism | Prism error "
        "| Captum error | Prism start + load + rewrite |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m, s, b, p, cm, r, pe, ce, fx in rows:
        lines.append(f"| {m} | {s} | {b} | {p:.2f} | {cm:.2f} | {r:.2f}x | {pe:.4f} "
                     f"| {ce:.4f} | {fx * 1e3:.0f} ms |")
    table = "\n".join(lines) + "\n"
    print(table)
    if not args.no_record:
        with (REPO / "docs" / "benchmarks.md").open("a") as f:
            f.write("\n" + table)


if __name__ == "__main__":
    main()
