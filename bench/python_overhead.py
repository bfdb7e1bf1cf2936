"""The Python layer's overhead: the same explanations through `prism_xai` (in-process, the
explainable_ai_sdk API, dicts in and Explanation objects out) and through `prism explain`
(a process reading and writing JSONL), on breast_cancer_mlp with the directory's spec
(Sampled Shapley, pathCount 10). Target (issue): prism_xai within 1.2x of the CLI.

    PRISM_BIN=target/debug/prism .venv-python/bin/python bench/python_overhead.py [--count 1000]

Both sides use the same build profile of the same engine (maturin develop builds the dev
profile, like target/debug/prism; pass a release CLI only with a release wheel). Timed:
for prism_xai, loading the model and `model.explain(instances)`, plus converting every
Explanation to its Vertex JSON object (`to_json`, a dict): both sides end with every
explanation in Vertex's shape; for the CLI, the whole process (JSON text in and out). Best of --repeats; prints one line per side and the ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import tempfile
import time
from pathlib import Path

import prism_xai

REPO = Path(__file__).resolve().parents[1]
MODEL = REPO / "testdata" / "models" / "breast_cancer_mlp"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--count", type=int, default=1000)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--prism", default=os.environ.get("PRISM_BIN",
                                                      str(REPO / "target" / "debug" / "prism")))
    args = ap.parse_args()
    lines = [l for l in (MODEL / "instances.jsonl").read_text().splitlines() if l.strip()]
    instances = [json.loads(lines[i % len(lines)]) for i in range(args.count)]
    work = Path(tempfile.mkdtemp(prefix="prism-py-overhead-"))
    path = work / "instances.jsonl"
    path.write_text("".join(json.dumps(i) + "\n" for i in instances))

    def cli() -> float:
        t0 = time.perf_counter()
        subprocess.run([args.prism, "explain", str(MODEL), "--instances", str(path),
                        "--output", str(work / "out.jsonl")], check=True)
        return time.perf_counter() - t0

    def python() -> float:
        t0 = time.perf_counter()
        model = prism_xai.load_model_from_local_path(
            str(MODEL), prism_xai.SampledShapleyConfig(path_count=10))
        explanations = model.explain(instances)
        objects = [e.to_json() for e in explanations]
        assert len(objects) == args.count
        return time.perf_counter() - t0

    cli(), python()  # warm the page cache and the imports
    c = min(cli() for _ in range(args.repeats))
    p = min(python() for _ in range(args.repeats))
    # The same numbers on both sides (the directory's seed and paths).
    first_cli = json.loads((work / "out.jsonl").read_text().splitlines()[0])
    model = prism_xai.load_model_from_local_path(
        str(MODEL), prism_xai.SampledShapleyConfig(path_count=10))
    first_py = model.explain(instances[:1])[0].to_json()
    a, b = (x["attributions"][0]["featureAttributions"] for x in (first_cli, first_py))
    gap = max(abs(a[k] - b[k]) for k in a)
    print(f"prism explain (CLI, {args.prism}): {args.count / c:,.0f} instances/s ({c:.3f} s)")
    print(f"prism_xai (in-process): {args.count / p:,.0f} instances/s ({p:.3f} s)")
    print(f"prism_xai / CLI time: {p / c:.2f}x (target ≤ 1.2x: "
          f"{'met' if p / c <= 1.2 else 'NOT met'}); largest attribution difference {gap:.1e}")


if __name__ == "__main__":
    main()
