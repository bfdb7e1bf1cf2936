"""Lines per second of the scale-out adapters against the native `prism batch` on the same
file: breast_cancer_mlp, Sampled Shapley (pathCount 10, the directory's spec), N lines
keyed by `id` (the test data of python/tests/conftest.py, made bigger).

    PRISM_BIN=target/debug/prism .venv-python/bin/python bench/scale_out.py --lines 5000

Prints one line per run (the wall time of the whole job, start-up included, and lines/s)
and checks the three jobs wrote the same results lines. Needs the packages of
python/requirements-test.txt (Ray and PySpark) and Java 17 for Spark.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "python" / "tests"))

from conftest import read_job, scale_lines  # noqa: E402

MODEL = REPO / "testdata" / "models" / "breast_cancer_mlp"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--lines", type=int, default=5000)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--prism", default=os.environ.get("PRISM_BIN", str(REPO / "target" / "debug" / "prism")))
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="prism-scale-"))
    lines = scale_lines(args.lines)
    path = work / "lines.jsonl"
    path.write_text("".join(line + "\n" for line in lines))
    n = len(lines)
    rows = []

    t = time.perf_counter()
    subprocess.run(
        [args.prism, "batch", str(MODEL), "-i", str(path), "-o", str(work / "cli"), "--job-id", "job",
         "--explain", "--key-field", "id", "--batch-size", str(args.batch_size)],
        check=False, capture_output=True,
    )
    rows.append(("prism batch (" + Path(args.prism).parent.name + ")", time.perf_counter() - t))
    cli = (work / "cli" / "job" / "prediction.results-00000-of-00001").read_text().splitlines()

    import ray

    from prism_xai.ray import explain_dataset

    t = time.perf_counter()
    ray.init(num_cpus=2, object_store_memory=100 * 2**20, include_dashboard=False, log_to_driver=False)
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    started = time.perf_counter()
    explain_dataset(ray.data.read_text(str(path)), MODEL, output_dir=work / "ray", job_id="job",
                    key_field="id", batch_size=args.batch_size, concurrency=2, num_cpus=0.5)
    rows.append(("ray, 2 actors x 0.5 CPU (ray.init not counted)", time.perf_counter() - started))
    ray.shutdown()
    assert read_job(work / "ray" / "job")["results"] == cli

    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    from prism_xai.spark import explain_dataframe

    spark = (SparkSession.builder.master("local[2]").config("spark.ui.enabled", "false")
             .config("spark.driver.host", "127.0.0.1").getOrCreate())
    spark.sparkContext.setLogLevel("ERROR")
    df = spark.createDataFrame(spark.sparkContext.parallelize([(line,) for line in lines], 2), "value string")
    started = time.perf_counter()
    explain_dataframe(df, MODEL, output_dir=work / "spark", job_id="job", key_field="id",
                      batch_size=args.batch_size)
    rows.append(("spark local[2], 2 partitions (session start not counted)", time.perf_counter() - started))
    spark.stop()
    assert read_job(work / "spark" / "job")["results"] == cli

    for name, seconds in rows:
        print(json.dumps({"run": name, "lines": n, "seconds": round(seconds, 2), "lines_per_s": round(n / seconds, 1)}))


if __name__ == "__main__":
    main()
