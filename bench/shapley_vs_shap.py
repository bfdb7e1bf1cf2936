#!/usr/bin/env python3
"""Prism's Sampled Shapley against shap's PermutationExplainer on ONNX Runtime.

The foundation benchmark: on the breast-cancer MLP with pathCount 10, explain 1,000
instances with `prism explain` (end to end: process start, model load, JSON in and out) and
with shap's PermutationExplainer calling ONNX Runtime on the same model.onnx, the same
baseline (the metadata's medians, a background of one row) and as close to the same number
of model evaluations as shap's API allows. Also measures ONNX Runtime's raw forward cost per
row at Prism's batch size, and checks that both tools give similar attributions.

Run it through `bench/run.sh` (which makes the virtual environment); see bench/README.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort
import shap
import sklearn
from sklearn.datasets import load_breast_cancer

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "testdata" / "models" / "breast_cancer_mlp"
DOC = REPO / "docs" / "benchmarks.md"

N_INSTANCES = 1000
PATH_COUNT = 10  # Prism's pathCount: 5 antithetic pairs (a permutation and its reverse)
SANITY_INSTANCES = 20


# ---------------------------------------------------------------------------------------
# Inputs


def load_metadata():
    md = json.loads((MODEL_DIR / "explanation_metadata.json").read_text())
    (feat,) = md["inputs"].values()
    names = feat["indexFeatureMapping"]
    baseline = np.asarray(feat["inputBaselines"], dtype=np.float32).reshape(1, -1)
    input_name = feat["inputTensorName"]
    (out,) = md["outputs"].values()
    return names, baseline, input_name, out["outputTensorName"]


def make_instances(names: list[str]) -> np.ndarray:
    """sklearn's 569 breast-cancer rows, then the first 431 again: 1,000 rows."""
    data = load_breast_cancer()
    if list(data.feature_names) != names:
        sys.exit("sklearn's feature names differ from the metadata's indexFeatureMapping")
    x = np.concatenate([data.data, data.data[: N_INSTANCES - len(data.data)]])
    assert x.shape == (N_INSTANCES, len(names))
    return x


def write_jsonl(path: Path, x: np.ndarray, names: list[str]) -> None:
    with path.open("w") as f:
        for row in x:
            f.write(json.dumps(dict(zip(names, (float(v) for v in row)))) + "\n")


# ---------------------------------------------------------------------------------------
# Prism


def find_prism(args) -> Path:
    if args.prism_bin:
        return Path(args.prism_bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    print(f"building prism-cli (release) into {target} ...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "-p", "prism-cli", "--features", "ort"],
        cwd=REPO,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
    )
    return target / "release" / "prism"


def prism_label(args) -> str:
    if args.prism_label:
        return args.prism_label
    if args.prism_bin:
        return f"binary {args.prism_bin}"
    git = lambda *a: subprocess.run(["git", *a], cwd=REPO, capture_output=True,  # noqa: E731
                                    text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "crates", "Cargo.toml", "Cargo.lock")
    return f"commit {git('rev-parse', '--short', 'HEAD')}" + (" plus uncommitted changes"
                                                              if dirty else "")


def find_tract_forward(args) -> Path | None:
    """bench/tract_forward: prism-model's forward pass alone (tract backend), built on demand."""
    if args.no_tract:
        return None
    if args.tract_bin:
        return Path(args.tract_bin)
    target = Path(os.environ.get("CARGO_TARGET_DIR", REPO / "target"))
    print(f"building bench/tract_forward (release) into {target} ...", flush=True)
    subprocess.run(
        ["cargo", "build", "--release", "--manifest-path",
         str(REPO / "bench" / "tract_forward" / "Cargo.toml")],
        cwd=REPO,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": str(target)},
    )
    return target / "release" / "tract-forward"


def tract_raw(binary: Path, rows: np.ndarray, work: Path, threads: int, calls: int,
              repeats: int, cores) -> tuple[float, float]:
    """Best (wall, CPU) seconds per row of prism-model's forward on `rows`, `calls` times."""
    path = work / "rows.f32"
    np.ascontiguousarray(rows, dtype="<f4").tofile(path)
    cmd = pin([str(binary), str(MODEL_DIR / "model.onnx"), str(path), str(rows.shape[1]),
               str(calls), str(threads), str(repeats)], cores)
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout.split()
    return float(out[0]), float(out[1])


def pin(cmd: list[str], cores: int | None) -> list[str]:
    if cores and shutil.which("taskset"):
        return ["taskset", "-c", f"0-{cores - 1}"] + cmd
    return cmd


def run_prism(prism: Path, instances: Path, output: Path, cores, extra=(), backend="tract"):
    """Runs `prism explain`; returns (wall seconds, CPU seconds: user + system)."""
    cmd = pin([str(prism), "explain", str(MODEL_DIR), "--instances", str(instances),
               "--output", str(output), "--backend", backend, *extra], cores)
    r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    wall = time.perf_counter() - t0
    r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def read_prism(output: Path, names: list[str]):
    """Per line: (explained output index, baseline output, instance output, attributions)."""
    rows = []
    for line in output.read_text().splitlines():
        att = json.loads(line)["attributions"][0]
        fa = att["featureAttributions"]
        rows.append((att["outputIndex"][0], att["baselineOutputValue"],
                     att["instanceOutputValue"], np.array([fa[n] for n in names])))
    return rows


# ---------------------------------------------------------------------------------------
# ONNX Runtime and shap


def session(threads: int) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    return ort.InferenceSession(str(MODEL_DIR / "model.onnx"), so,
                                providers=["CPUExecutionProvider"])


class CountingModel:
    """The model function shap calls: ONNX Runtime's class probabilities, rows counted."""

    def __init__(self, sess, input_name, output_name):
        self.sess, self.input_name, self.output_name = sess, input_name, output_name
        self.rows = 0
        self.calls = 0

    def __call__(self, x):
        self.rows += len(x)
        self.calls += 1
        return self.sess.run([self.output_name],
                             {self.input_name: np.asarray(x, dtype=np.float32)})[0]


def shap_max_evals(players: int, path_count: int) -> int:
    # PermutationExplainer.explain_row: npermutations = max_evals // (2*M + 1), and each
    # permutation is walked forward and backward (two paths) in one call of 2*M + 1 rows.
    return (path_count // 2) * (2 * players + 1)


def run_shap(x, baseline, model: CountingModel, max_evals: int, public_api: bool, seed=0):
    """Explains every row of x; returns (wall s, CPU s, values [n, M, outputs], base values)."""
    c0 = time.process_time()
    t0 = time.perf_counter()
    masker = shap.maskers.Independent(baseline, max_samples=1)
    explainer = shap.PermutationExplainer(model, masker, seed=seed)
    if public_api:
        r = explainer(x, max_evals=max_evals, silent=True)
        values, base = r.values, r.base_values
    else:
        # explain_row is what explainer(x) runs per row, without its collection overhead and
        # without the extra main-effects evaluations shap 0.54.1's __call__ adds (see README).
        vals, bases = [], []
        for row in x:
            r = explainer.explain_row(row, max_evals=max_evals, main_effects=False,
                                      error_bounds=False, batch_size="auto", outputs=None,
                                      silent=True)
            vals.append(r["values"])
            bases.append(r["expected_values"])
        values, base = np.stack(vals), np.stack(bases)
    return time.perf_counter() - t0, time.process_time() - c0, values, base


def ort_raw(rows: np.ndarray, input_name: str, output_names: list[str], threads: int,
            calls: int, repeats: int = 3, workers: int = 1) -> tuple[float, float]:
    """Best (wall, CPU) seconds per row for `calls` forward calls of the batch `rows`."""
    sessions = [session(threads) for _ in range(workers)]
    feed = {input_name: rows}
    for s in sessions:
        for _ in range(20):
            s.run(output_names, feed)
    best = best_cpu = float("inf")
    for _ in range(repeats):
        def loop(s, n):
            for _ in range(n):
                s.run(output_names, feed)
        per = calls // workers
        threads_ = [threading.Thread(target=loop, args=(s, per)) for s in sessions]
        c0 = time.process_time()
        t0 = time.perf_counter()
        for t in threads_:
            t.start()
        for t in threads_:
            t.join()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    n = per * workers * len(rows)
    return best / n, best_cpu / n


def path_rows(x: np.ndarray, baseline: np.ndarray, path_count: int, seed=0) -> np.ndarray:
    """The (path_count * (M-1)) intermediate rows Prism evaluates for one instance."""
    rng = np.random.default_rng(seed)
    m = x.shape[0]
    out = []
    perm = rng.permutation(m)
    for k in range(path_count):
        perm = rng.permutation(m) if k % 2 == 0 else perm[::-1]
        state = baseline[0].copy()
        for p in perm[: m - 1]:
            state[p] = x[p]
            out.append(state.copy())
    return np.asarray(out, dtype=np.float32)


# ---------------------------------------------------------------------------------------
# Sanity check


def compare(prism_rows, shap_values, shap_base, probs, n):
    """Σ|prism − shap| / Σ|shap| over the first n instances, on each one's argmax class."""
    diff = scale = 0.0
    out_err = 0.0
    for i in range(n):
        c, b_out, x_out, p = prism_rows[i]
        if c != int(np.argmax(probs[i])):
            raise SystemExit(f"instance {i}: Prism explained output {c}, not the argmax")
        s = shap_values[i][:, c]
        diff += np.abs(p - s).sum()
        scale += np.abs(s).sum()
        out_err = max(out_err, abs(b_out - shap_base[i][c]), abs(x_out - probs[i][c]))
    return diff / scale, out_err


# ---------------------------------------------------------------------------------------


def machine() -> str:
    model = "unknown"
    try:
        for line in subprocess.run(["lscpu"], capture_output=True, text=True).stdout.splitlines():
            if line.startswith("Model name:"):
                model = line.split(":", 1)[1].strip()
    except OSError:
        pass
    nproc = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return f"{model}, nproc {nproc}, {platform.system()} {platform.machine()}"


def cpu_pressure() -> str:
    """The kernel's CPU pressure: the share of time some runnable task waited for a CPU."""
    try:
        some = Path("/proc/pressure/cpu").read_text().splitlines()[0].split()
        return dict(f.split("=") for f in some[1:])["avg60"] + "%"
    except (OSError, IndexError, KeyError, ValueError):
        return "n/a"


def autogroup_nice() -> str:
    """The scheduler priority of this process's autogroup (its share against other sessions)."""
    try:
        return Path("/proc/self/autogroup").read_text().split("nice")[1].strip()
    except (OSError, IndexError):
        return "n/a"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--prism-bin", help="a built prism binary (default: cargo build --release)")
    ap.add_argument("--prism-label",
                    help="how docs/benchmarks.md names the Prism build (default: the commit)")
    ap.add_argument("--tract-bin",
                    help="a built bench/tract_forward binary (default: cargo build --release)")
    ap.add_argument("--no-tract", action="store_true",
                    help="skip timing prism-model's forward pass on its own")
    ap.add_argument("--cores", type=int, default=2,
                    help="pin both sides to the first N CPUs and give ONNX Runtime N threads")
    ap.add_argument("--repeats", type=int, default=3, help="best of this many runs")
    ap.add_argument("--backends", default=None,
                    help="Prism backends to time, e.g. tract,ort (default: tract, and ort "
                         "when ORT_DYLIB_PATH is set)")
    ap.add_argument("--no-record", action="store_true",
                    help="print the table only; do not append to docs/benchmarks.md")
    args = ap.parse_args()

    cores = min(args.cores, os.cpu_count() or args.cores)
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(range(cores)))
    prism = find_prism(args)
    tract = find_tract_forward(args)
    names, baseline, input_name, output_name = load_metadata()
    m = len(names)
    x64 = make_instances(names)
    x = x64.astype(np.float32)
    work = Path(tempfile.mkdtemp(prefix="prism-bench-"))
    inst = work / "instances.jsonl"
    write_jsonl(inst, x64, names)

    prism_evals = PATH_COUNT * (m - 1) + 2
    max_evals = shap_max_evals(m, PATH_COUNT)
    load = os.getloadavg()[0]
    pressure = cpu_pressure()

    # -- Prism, end to end, per backend -------------------------------------------------
    backends = (args.backends.split(",") if args.backends
                else ["tract"] + (["ort"] if os.environ.get("ORT_DYLIB_PATH") else []))
    timed = {}  # backend -> (best wall s, best CPU s)
    for backend in backends:
        print(f"prism explain --backend {backend} x{args.repeats} ...", flush=True)
        out = work / f"prism-{backend}.jsonl"
        run_prism(prism, inst, out, cores, backend=backend)  # page cache, not counted
        runs = [run_prism(prism, inst, out, cores, backend=backend)
                for _ in range(args.repeats)]
        timed[backend] = (min(w for w, _ in runs), min(c for _, c in runs))
    prism_s, prism_cpu = timed[backends[0]]
    prism_rows = read_prism(work / f"prism-{backends[0]}.jsonl", names)
    # The backends run the same paths: their attributions agree to float precision.
    backend_gap = max((np.abs(a[3] - b[3]).max() for other in backends[1:]
                       for a, b in zip(prism_rows,
                                       read_prism(work / f"prism-{other}.jsonl", names))),
                      default=0.0)

    # -- shap on ONNX Runtime ----------------------------------------------------------
    # label -> dict(wall, cpu, values, base, evals, calls), best wall and best CPU of repeats
    shap_runs = {}
    for label, threads, public in [("explain_row loop, ORT 1 thread", 1, False),
                                   (f"explain_row loop, ORT {cores} threads", cores, False),
                                   (f"explainer(X) public API, ORT {cores} threads", cores,
                                    True)]:
        best = None
        for _ in range(args.repeats):
            model = CountingModel(session(threads), input_name, output_name)
            secs, cpu, values, base = run_shap(x, baseline, model, max_evals, public)
            if best is None or secs < best["wall"]:
                best = dict(wall=secs, cpu=min(cpu, best["cpu"]) if best else cpu,
                            values=values, base=base, evals=model.rows / len(x),
                            calls=model.calls / len(x))
            else:
                best["cpu"] = min(best["cpu"], cpu)
        shap_runs[label] = best
        print(f"  shap {label}: {len(x) / best['wall']:.1f} instances/s, "
              f"{best['evals']:.1f} evaluations/instance", flush=True)
    head_label = min((k for k in shap_runs if "explain_row" in k),
                     key=lambda k: shap_runs[k]["wall"])
    head = shap_runs[head_label]

    # -- ONNX Runtime raw forward cost ------------------------------------------------
    print("ONNX Runtime and prism-model forward loops ...", flush=True)
    rows292 = np.concatenate([path_rows(x[0], baseline, PATH_COUNT), baseline, x[:1]])
    assert len(rows292) == prism_evals
    rows61 = rows292[: 2 * m + 1]
    probs = session(1).run([output_name], {input_name: x})[0]
    all_outputs = [o.name for o in session(1).get_outputs()]
    ort1 = ort_raw(rows292, input_name, all_outputs, 1, N_INSTANCES, args.repeats)
    ortn = ort_raw(rows292, input_name, all_outputs, cores, N_INSTANCES, args.repeats)
    ortp = ort_raw(rows292, input_name, all_outputs, 1, N_INSTANCES, args.repeats,
                   workers=cores)
    ort61 = ort_raw(rows61, input_name, [output_name], 1, 5 * N_INSTANCES, args.repeats)
    tract1 = tractn = None
    if tract:
        tract1 = tract_raw(tract, rows292, work, 1, N_INSTANCES, args.repeats, cores)
        tractn = tract_raw(tract, rows292, work, cores, N_INSTANCES, args.repeats, cores)

    # -- sanity: the same numbers, up to sampling noise --------------------------------
    print("attribution check ...", flush=True)
    n = SANITY_INSTANCES
    rel10, out_err = compare(prism_rows, head["values"], head["base"], probs, n)
    sub = work / "sub.jsonl"
    write_jsonl(sub, x64[:n], names)
    run_prism(prism, sub, work / "p50.jsonl", cores, ["--path-count", "50"])
    _, _, v50, b50 = run_shap(x[:n], baseline,
                              CountingModel(session(1), input_name, output_name),
                              shap_max_evals(m, 50), False)
    rel50, _ = compare(read_prism(work / "p50.jsonl", names), v50, b50, probs, n)
    # Prism against itself with another seed: the sampling noise at pathCount 10
    run_prism(prism, sub, work / "s2.jsonl", cores, ["--seed", "2"])
    p_s2 = read_prism(work / "s2.jsonl", names)
    self_noise = (sum(np.abs(prism_rows[i][3] - p_s2[i][3]).sum() for i in range(n))
                  / sum(np.abs(p_s2[i][3]).sum() for i in range(n)))

    # -- report ------------------------------------------------------------------------
    evals_total = N_INSTANCES * prism_evals
    us = lambda s: f"{s * 1e6:.3f} µs"  # noqa: E731
    ips = lambda secs: f"{N_INSTANCES / secs:,.0f}/s ({secs:.2f} s)"  # noqa: E731
    ratio = lambda a, b: (f"{a[0] / b[0]:.2f}x", f"{a[1] / b[1]:.2f}x")  # noqa: E731
    verdict = lambda ok: "met" if ok else "NOT met"  # noqa: E731

    per_eval_rows = []
    for b, (w, c) in timed.items():
        per_eval = (w / evals_total, c / evals_total)
        per_eval_rows += [
            (f"**Prism ({b}) per evaluation / ONNX Runtime per row, 1 thread**",
             *(f"**{r}**" for r in ratio(per_eval, ort1))),
            (f"**Prism ({b}) per evaluation / ONNX Runtime per row, {cores} intra-op "
             "threads**",
             f"**{per_eval[0] / ortn[0]:.2f}x** (≤ 2x: {verdict(per_eval[0] / ortn[0] <= 2)})",
             f"**{per_eval[1] / ortn[1]:.2f}x**"),
            (f"Prism ({b}) per evaluation / ONNX Runtime per row, {cores} one-thread sessions",
             *ratio(per_eval, ortp)),
        ]

    # (measure, wall clock, CPU time: user + system of every thread)
    table = [
        *[(f"Prism `prism explain --backend {b}`, end to end, best of {args.repeats}: "
           "instances per second", ips(w), ips(c)) for b, (w, c) in timed.items()],
        *[(f"shap PermutationExplainer, {k}: instances per second", ips(v["wall"]),
           ips(v["cpu"])) for k, v in shap_runs.items()],
        *[(f"**Prism ({b}) / shap ({head_label})**",
           f"**{head['wall'] / w:.1f}x** (≥ 10x: {verdict(head['wall'] / w >= 10)})",
           f"**{head['cpu'] / c:.1f}x**") for b, (w, c) in timed.items()],
        ("Model evaluations per instance",
         f"Prism {prism_evals} ({PATH_COUNT} paths × {m - 1} + 2, in 2 calls); shap "
         f"{head['evals']:.1f} (max_evals={max_evals}: {PATH_COUNT // 2} permutations × "
         f"(2×{m}+1), {head['calls']:.0f} calls of {2 * m + 1} rows)", ""),
        *[(f"Prism ({b}) per model evaluation (time / (1,000 × {prism_evals}))",
           us(w / evals_total), us(c / evals_total)) for b, (w, c) in timed.items()],
        ("ONNX Runtime forward per row, batch 292, 1 thread", us(ort1[0]), us(ort1[1])),
        (f"ONNX Runtime forward per row, batch 292, {cores} intra-op threads",
         us(ortn[0]), us(ortn[1])),
        (f"ONNX Runtime forward per row, batch 292, {cores} one-thread sessions in parallel",
         us(ortp[0]), us(ortp[1])),
        ("ONNX Runtime forward per row, batch 61 (shap's calls), 1 thread",
         us(ort61[0]), us(ort61[1])),
        *([("prism-model forward alone per row (tract backend; this MLP runs on Prism's "
            "dense evaluator), batch 292, 1 thread", us(tract1[0]), us(tract1[1])),
           (f"prism-model forward alone per row, batch 292, {cores} threads",
            us(tractn[0]), us(tractn[1])),
           ("prism-model forward alone / ONNX Runtime, 1 thread", *ratio(tract1, ort1))]
          if tract1 else []),
        *per_eval_rows,
        (f"Attribution gap Σ|Prism − shap| / Σ|shap|, first {n} instances, argmax class",
         f"{rel10:.3f} at pathCount 10, {rel50:.3f} at pathCount 50; Prism seed 0 vs "
         f"seed 2 at pathCount 10: {self_noise:.3f}", ""),
        ("Largest difference of f(x), f(baseline): Prism vs ONNX Runtime",
         f"{out_err:.1e}", ""),
        *([(f"Largest attribution difference between Prism's backends "
            f"({', '.join(backends)})", f"{backend_gap:.1e}", "")]
          if len(backends) > 1 else []),
    ]

    plain = [(a.replace("**", ""), b.replace("**", ""), c.replace("**", ""))
             for a, b, c in table]
    w0 = max(len(a) for a, _, _ in plain)
    w1 = max(len(b) for _, b, _ in plain)
    print(f"\n{'measure':<{w0}}  {'wall clock':<{w1}}  CPU time")
    for a, b, c in plain:
        print(f"{a:<{w0}}  {b:<{w1}}  {c}")

    shutil.rmtree(work, ignore_errors=True)
    if args.no_record:
        return
    cmd = shlex.join(["bash", "bench/run.sh", *sys.argv[1:]])
    git = prism_label(args)
    section = [
        f"\n## Sampled Shapley: Prism vs shap's PermutationExplainer on breast_cancer_mlp "
        f"({dt.datetime.now().astimezone().strftime('%Y-%m-%d %H:%M %Z')})\n",
        "The foundation benchmark: 1,000 instances at pathCount 10, `prism explain` end to "
        "end against shap's PermutationExplainer on ONNX Runtime with the same model, "
        "baseline and paths. Targets: at least 10x shap's instances/s on 2 cores; Prism's "
        "cost per model evaluation at most 2x ONNX Runtime's raw forward cost per row at "
        "batch 292. How it is run and what each line means: `bench/README.md`.\n",
        f"- Machine: {machine()}; pinned to {cores} core(s); 1-minute load average "
        f"{load:.2f} at the start, {os.getloadavg()[0]:.2f} at the end; CPU pressure (time "
        f"some task waited for a CPU, last minute) {pressure} at the start, {cpu_pressure()} "
        f"at the end; this run's autogroup nice {autogroup_nice()}. Other work on the machine "
        f"slows both sides' wall clock: compare the CPU time too",
        f"- Command: `{cmd}` (Prism: {git})",
        f"- Versions: Python {platform.python_version()}, shap {shap.__version__}, "
        f"onnxruntime {ort.__version__}, numpy {np.__version__}, "
        f"scikit-learn {sklearn.__version__}",
        f"- Workload: {N_INSTANCES:,} breast-cancer instances (sklearn's 569 rows, then the "
        f"first {N_INSTANCES - 569} again), {m} features, median baseline (one background "
        f"row), pathCount {PATH_COUNT} = {PATH_COUNT // 2} antithetic pairs; each tool "
        f"explains the argmax class's probability",
        "",
        "| measure | wall clock | CPU time (user + system) |",
        "| --- | --- | --- |",
        *["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |"
          for row in table],
        "",
    ]
    if not DOC.exists():
        DOC.parent.mkdir(parents=True, exist_ok=True)
        DOC.write_text(DOC_HEADER)
    with DOC.open("a") as f:
        f.write("\n".join(section))
    print(f"\nappended to {DOC.relative_to(REPO)}")


DOC_HEADER = """# Benchmarks

Results appended by `bash bench/run.sh` (see `bench/README.md`), newest last.
"""

if __name__ == "__main__":
    main()
