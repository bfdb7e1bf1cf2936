"""`prism_xai.spark.explain_dataframe`: a local Spark job over 2,000 lines gives `prism
batch`'s lines byte for byte (results, errors, keys), one Vertex-named shard per partition."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

import pytest

from prism_xai import spark as prism_spark

from conftest import (
    BAD_LINES,
    SCALE_LINES,
    SCALE_SPEC,
    BatchOutput,
    model_dir,
    read_job,
    scale_instances,
    scale_lines,
    without_place,
)

MODEL = model_dir("breast_cancer_mlp")


@pytest.fixture(scope="module")
def spark():
    """Spark on this machine: local[2], bound to the loopback, no UI, this Python."""
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    os.environ["PYSPARK_PYTHON"] = sys.executable
    os.environ["PYSPARK_DRIVER_PYTHON"] = sys.executable
    from pyspark.sql import SparkSession

    session = (
        SparkSession.builder.master("local[2]")
        .appName("prism-xai-tests")
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .config("spark.sql.shuffle.partitions", "2")
        .config("spark.driver.memory", "1g")
        .getOrCreate()
    )
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


def test_text_lines_make_prism_batch_lines_per_partition(spark, scale_batch: BatchOutput, tmp_path: Path):
    lines = scale_lines()
    df = spark.createDataFrame(spark.sparkContext.parallelize([(line,) for line in lines], 3), "value string")
    started = time.perf_counter()
    results = prism_spark.explain_dataframe(
        df, MODEL, SCALE_SPEC, output_dir=tmp_path, job_id="spark-job", key_field="id", batch_size=100
    )
    elapsed = time.perf_counter() - started
    job = read_job(tmp_path / "spark-job")
    assert job["count"] == 3
    assert job["results"] == scale_batch.results
    errors = [json.loads(line) for line in job["errors"]]
    assert [without_place(e) for e in errors] == scale_batch.errors_without_place()
    # Each error names its partition and its row there.
    sizes = df.rdd.glom().map(len).collect()
    starts = [sum(sizes[:k]) for k in range(len(sizes))]
    for e, i in zip(errors, sorted(BAD_LINES)):
        p = max(k for k, s in enumerate(starts) if s <= i)
        assert e["error"]["message"].startswith(f"partition {p} row {i - starts[p]}: "), e
    stats = job["stats"]
    assert [s["shardIndex"] for s in stats] == [0, 1, 2]
    assert sum(int(s["completionStats"]["successfulCount"]) for s in stats) == SCALE_LINES - 5
    assert sum(int(s["completionStats"]["failedCount"]) for s in stats) == 5

    # The returned DataFrame (persisted: no second run) holds the same rows.
    assert results.columns == ["instance", "key", "prediction", "explanation", "error"]
    assert results.count() == SCALE_LINES
    assert results.filter("error IS NOT NULL").count() == 5
    row = results.filter("key = '\"r5\"'").first()
    a = json.loads(row["explanation"])["attributions"][0]
    total = sum(a["featureAttributions"].values())
    assert total == pytest.approx(a["instanceOutputValue"] - a["baselineOutputValue"], abs=1e-6)
    assert abs(total) > 1e-3
    print(f"spark: {SCALE_LINES} lines in {elapsed:.1f}s")


def test_key_column_beside_json_instances(spark, scale_batch: BatchOutput):
    rows = []
    for n, inst in enumerate(scale_instances(300)):
        if n in BAD_LINES:
            continue
        key = inst.pop("id")
        rows.append((key, json.dumps(inst)))
    df = spark.createDataFrame(rows, "id string, instance string")
    out = prism_spark.explain_dataframe(df, MODEL, SCALE_SPEC, key_field="id").collect()
    cli = {json.loads(line)["key"]: line for line in scale_batch.results}
    assert len(out) == len(rows)
    for r in out:
        assert r["error"] is None, r["error"]
        line = '{"key":%s,"prediction":%s,"explanation":%s}' % (r["key"], r["prediction"], r["explanation"])
        assert line == cli[json.loads(r["key"])]


def test_feature_columns_and_bad_values(spark):
    df = spark.createDataFrame(
        [(1.0, 2.0, 3.0), (1.0, None, 3.0), (30.0, 60.0, 30.0)], "x0 double, x1 double, x2 double"
    )
    out = prism_spark.explain_dataframe(df, model_dir("peer_linear")).collect()
    assert json.loads(out[0]["prediction"]) == {"y": [25.0]}        # 2·1 + 3·2 + 4·3 + 5
    assert json.loads(out[1]["error"])["code"] == 3
    assert out[1]["prediction"] is None
    # y = 2 x0 + 3 x1 + 4 x2 + 5 with baseline [10, 20, 10]: Shapley values w·(x − b).
    a = json.loads(out[2]["explanation"])["attributions"][0]
    assert a["featureAttributions"] == pytest.approx({"x0": 40.0, "x1": 120.0, "x2": 80.0})
    with pytest.raises(ValueError, match="names a feature"):
        prism_spark.explain_dataframe(spark.createDataFrame([(1, 2)], "a int, b int"), model_dir("peer_linear"))
    # Blank lines are not records, as in prism batch (spark.read.text keeps them).
    text = spark.createDataFrame([("",), ('{"x0": 1, "x1": 2, "x2": 3}',), ("  ",)], "value string")
    out = prism_spark.explain_dataframe(text, model_dir("peer_linear"), generate_explanation=False).collect()
    assert [json.loads(r["prediction"]) for r in out] == [{"y": [25.0]}]

