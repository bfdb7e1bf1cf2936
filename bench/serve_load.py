#!/usr/bin/env python3
"""Load test of `prism serve`: wrk from a second process on loopback.

Issue #5: requests/s and p50/p99 latency of :predict and of :explain (Sampled Shapley,
pathCount 10, the breast-cancer MLP) at concurrency 1, 8 and 64; that nothing fails and the
server's memory stays flat over a long run (5 minutes by default); and explain throughput
over HTTP against the same work through the CLI (`prism explain` on a file of the same
instances), which should be within 1.3x.

Needs wrk (Debian: apt-get install wrk) and a release build:

    cargo build --release -p prism-cli
    python3 bench/serve_load.py --prism-bin target/release/prism [--seconds 20] [--soak 300]

Only the standard library is used. The server runs with --max-concurrent 64 so that every
concurrency level measured here queues inside Prism's own bound rather than getting 429.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
MODEL_DIR = REPO / "testdata" / "models" / "breast_cancer_mlp"
DOC = REPO / "docs" / "benchmarks.md"
PARENT = "projects/bench/locations/local"

WRK_SCRIPT = r"""
local bodies = {}
for line in io.lines(os.getenv("BODIES")) do bodies[#bodies + 1] = line end
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
request = function()
  i = i % #bodies + 1
  return wrk.format(nil, nil, nil, bodies[i])
end
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'RESULT {"requests": %d, "seconds": %f, "p50_ms": %f, "p99_ms": %f, "mean_ms": %f, ' ..
    '"non_2xx": %d, "socket_errors": %d}\n',
    summary.requests, summary.duration / 1e6, latency:percentile(50) / 1e3,
    latency:percentile(99) / 1e3, latency.mean / 1e3, e.status,
    e.connect + e.read + e.write + e.timeout))
end
"""


def call(base: str, method: str, path: str, body=None) -> dict:
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(f"{base}/v1/{path}", data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=120) as r:
        return json.loads(r.read() or b"null")


def wait(base: str, op: dict) -> dict:
    while not op.get("done"):
        op = call(base, "POST", f"{op['name']}:wait", {"timeout": "10s"})
    if "error" in op:
        sys.exit(f"operation failed: {op['error']}")
    return op


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def start_server(prism: Path, data_dir: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(
        [str(prism), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir),
         "--max-concurrent", "64"],
        stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
        env={**os.environ, "RUST_LOG": "warn"})
    for line in proc.stderr:
        m = re.match(r"prism serve: listening on (\S+)", line)
        if m:
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
            return proc, m.group(1)
    sys.exit("the server did not start")


def deploy(base: str) -> None:
    wait(base, call(base, "POST", f"{PARENT}/models:upload", {
        "modelId": "mlp", "model": {"displayName": "breast cancer mlp",
                                    "artifactUri": str(MODEL_DIR)}}))
    wait(base, call(base, "POST", f"{PARENT}/endpoints?endpointId=mlp", {"displayName": "mlp"}))
    wait(base, call(base, "POST", f"{PARENT}/endpoints/mlp:deployModel", {
        "deployedModel": {"model": f"{PARENT}/models/mlp"}, "trafficSplit": {"0": 100}}))


def run_wrk(url: str, bodies: Path, script: Path, connections: int, seconds: int) -> dict:
    out = subprocess.run(
        ["wrk", "-t", str(min(connections, 2)), "-c", str(connections), "-d", f"{seconds}s",
         "--timeout", "60s", "-s", str(script), url],
        check=True, capture_output=True, text=True, env={**os.environ, "BODIES": str(bodies)})
    line = next(l for l in out.stdout.splitlines() if l.startswith("RESULT "))
    r = json.loads(line[len("RESULT "):])
    r["rps"] = r["requests"] / r["seconds"]
    return r


def cli_rate(prism: Path, instances: list[dict], work: Path) -> float:
    """Explanations/s of `prism explain` over the same instances (best of 3)."""
    path = work / "cli.jsonl"
    lines = [json.dumps(instances[i % len(instances)]) for i in range(2000)]
    path.write_text("\n".join(lines) + "\n")
    best = 0.0
    for _ in range(3):
        t0 = time.perf_counter()
        subprocess.run([str(prism), "explain", str(MODEL_DIR), "--instances", str(path),
                        "--output", str(work / "cli.out")], check=True)
        best = max(best, len(lines) / (time.perf_counter() - t0))
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--prism-bin", type=Path, default=REPO / "target" / "release" / "prism")
    ap.add_argument("--seconds", type=int, default=20, help="per concurrency level")
    ap.add_argument("--soak", type=int, default=300, help="seconds of explain at c=8")
    ap.add_argument("--no-record", action="store_true")
    ap.add_argument("--binary-commit", help="the commit the binary was built from (default HEAD)")
    args = ap.parse_args()
    instances = [json.loads(l) for l in (MODEL_DIR / "instances.jsonl").read_text().splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        script = work / "post.lua"
        script.write_text(WRK_SCRIPT)
        predict_bodies = work / "predict.jsonl"
        predict_bodies.write_text("".join(json.dumps({"instances": [i]}) + "\n" for i in instances))
        explain_bodies = work / "explain.jsonl"
        # The model directory's spec is Sampled Shapley with pathCount 10: the same work
        # as `prism explain` on that directory, so no override.
        explain_bodies.write_text("".join(json.dumps({"instances": [i]}) + "\n"
                                          for i in instances))
        # Clients that send several instances per request: 8 here.
        explain8_bodies = work / "explain8.jsonl"
        explain8_bodies.write_text("".join(
            json.dumps({"instances": [instances[(j + k) % len(instances)] for k in range(8)]}) + "\n"
            for j in range(len(instances))))
        proc, base = start_server(args.prism_bin, work / "data")
        try:
            deploy(base)
            endpoint = f"{base}/v1/{PARENT}/endpoints/mlp"
            rows = []
            for verb, bodies, per in [("predict", predict_bodies, 1), ("explain", explain_bodies, 1),
                                      ("explain", explain8_bodies, 8)]:
                run_wrk(f"{endpoint}:{verb}", bodies, script, 8, 3)  # warm up
                for c in (1, 8, 64):
                    r = run_wrk(f"{endpoint}:{verb}", bodies, script, c, args.seconds)
                    r["per_request"] = per
                    r["instances_per_s"] = r["rps"] * per
                    rows.append((verb, c, r))
                    print(f"{verb:8} x{per} c={c:<3} {r['rps']:9.0f} req/s  p50 {r['p50_ms']:7.2f} ms"
                          f"  p99 {r['p99_ms']:7.2f} ms  non-2xx {r['non_2xx']}"
                          f"  socket errors {r['socket_errors']}", flush=True)
            # Soak: explain at c=8, RSS sampled every 5 s.
            samples: list[tuple[float, int]] = []
            stop = threading.Event()

            def sample():
                t0 = time.time()
                while not stop.wait(5):
                    samples.append((time.time() - t0, rss_kib(proc.pid)))
            rss_before = rss_kib(proc.pid)
            sampler = threading.Thread(target=sample, daemon=True)
            sampler.start()
            soak = run_wrk(f"{endpoint}:explain", explain_bodies, script, 8, args.soak)
            stop.set()
            sampler.join()
            first = [k for t, k in samples if t <= args.soak / 5] or [rss_before]
            last = [k for t, k in samples if t >= args.soak * 4 / 5] or [rss_kib(proc.pid)]
            print(f"soak {args.soak}s explain c=8: {soak['rps']:.0f} req/s, "
                  f"{soak['requests']} requests, non-2xx {soak['non_2xx']}, socket errors "
                  f"{soak['socket_errors']}; RSS first fifth {max(first) / 1024:.1f} MiB, "
                  f"last fifth {max(last) / 1024:.1f} MiB, max {max(k for _, k in samples) / 1024:.1f} MiB",
                  flush=True)
        finally:
            proc.terminate()
            proc.wait(timeout=60)
        cli = cli_rate(args.prism_bin, instances, work)
        http_best = max(r["instances_per_s"] for verb, _, r in rows if verb == "explain")
        print(f"CLI prism explain: {cli:.0f} explanations/s; best HTTP explain {http_best:.0f}/s;"
              f" CLI/HTTP = {cli / http_best:.2f}x (target <= 1.3x)")
    if args.no_record:
        return
    cpu = next((l.split(":", 1)[1].strip() for l in Path("/proc/cpuinfo").read_text().splitlines()
                if l.startswith("model name")), platform.processor())
    commit = args.binary_commit or subprocess.run(
        ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
        capture_output=True, text=True).stdout.strip()
    lines = [
        "", f"### prism serve under load — {dt.date.today()} (commit {commit})", "",
        f"`python3 bench/serve_load.py` (wrk on loopback, {args.seconds} s per level; server "
        f"`--max-concurrent 64`, tract backend; explain = Sampled "
        f"Shapley pathCount 10, breast-cancer MLP). {os.cpu_count()} cores, {cpu}.", "",
        "| call | instances per request | connections | requests/s | instances/s | p50 ms | p99 ms | non-2xx | socket errors |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for verb, c, r in rows:
        lines.append(f"| :{verb} | {r['per_request']} | {c} | {r['rps']:.0f} | {r['instances_per_s']:.0f} "
                     f"| {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {r['non_2xx']} | {r['socket_errors']} |")
    lines += [
        "",
        f"Soak: {args.soak} s of :explain at 8 connections: {soak['requests']} requests "
        f"({soak['rps']:.0f}/s), {soak['non_2xx']} non-2xx, {soak['socket_errors']} socket "
        f"errors; server RSS {max(first) / 1024:.1f} MiB in the first fifth, "
        f"{max(last) / 1024:.1f} MiB in the last.",
        "",
        f"HTTP against CLI: `prism explain` on 2,000 lines of the same instances does "
        f"{cli:.0f} explanations/s; the best HTTP :explain rate is {http_best:.0f} explanations/s: "
        f"**CLI/HTTP = {cli / http_best:.2f}x** (target ≤ 1.3x).",
    ]
    with DOC.open("a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
