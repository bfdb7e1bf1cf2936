"""`prism_xai.ray.explain_dataset`: a local Ray job over 2,000 lines gives `prism batch`'s
lines byte for byte (results, errors, keys), in Vertex-named shards."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
import ray

from prism_xai.ray import explain_dataset

from conftest import (
    BAD_LINES,
    SCALE_LINES,
    SCALE_SPEC,
    BatchOutput,
    model_dir,
    read_job,
    scale_instances,
    without_place,
)

MODEL = model_dir("breast_cancer_mlp")


@pytest.fixture(scope="module")
def local_ray():
    """Ray on this machine: 2 CPUs, a small object store, no dashboard; results in input
    order so shards can be compared with the CLI's single file."""
    ray.init(
        num_cpus=2,
        object_store_memory=100 * 1024 * 1024,
        include_dashboard=False,
        log_to_driver=False,
    )
    ctx = ray.data.DataContext.get_current()
    ctx.execution_options.preserve_order = True
    ctx.enable_progress_bars = False
    yield ray
    ray.shutdown()


def test_text_lines_make_prism_batch_lines_in_shards(local_ray, scale_batch: BatchOutput, tmp_path: Path):
    ds = ray.data.read_text(str(scale_batch.input_path), override_num_blocks=3)
    started = time.perf_counter()
    results = explain_dataset(
        ds,
        MODEL,
        SCALE_SPEC,
        output_dir=tmp_path,
        job_id="ray-job",
        key_field="id",
        batch_size=100,
        concurrency=2,
        num_cpus=0.5,       # two actors on a 2-CPU machine, and CPUs left for the reads
    )
    elapsed = time.perf_counter() - started
    job = read_job(tmp_path / "ray-job")
    assert job["count"] >= 2, job["count"]
    # Every results line is byte for byte the CLI's, in input order across the shards.
    assert len(job["results"]) == SCALE_LINES - len(BAD_LINES)
    assert job["results"] == scale_batch.results
    errors = [json.loads(line) for line in job["errors"]]
    assert [without_place(e) for e in errors] == scale_batch.errors_without_place()
    assert [e["error"]["code"] for e in errors] == [3] * len(BAD_LINES)
    assert [e.get("key") for e in errors] == [None, "r611", "r1024", "r1500", None]
    assert errors[0]["error"]["message"].startswith("invalid JSON")
    assert errors[0]["instance"] == '{"id": "r137", "mean radius": 13.4,'
    assert "the key field \"id\" is missing" in errors[4]["error"]["message"]
    assert sum(int(s["completionStats"]["successfulCount"]) for s in job["stats"]) == SCALE_LINES - 5
    assert sum(int(s["completionStats"]["failedCount"]) for s in job["stats"]) == 5
    assert {s["jobId"] for s in job["stats"]} == {"ray-job"}

    # The returned Dataset holds the same rows.
    rows = results.take_all()
    assert len(rows) == SCALE_LINES
    ok = [r for r in rows if r["error"] is None]
    assert [json.loads(r["key"]) for r in ok] == [
        f"r{i}" for i in range(SCALE_LINES) if i not in BAD_LINES
    ]
    assert all(r["instance"] is None for r in ok)
    # The numbers are real: Shapley values add up to f(x) - f(baseline).
    a = json.loads(ok[5]["explanation"])["attributions"][0]
    total = sum(a["featureAttributions"].values())
    assert total == pytest.approx(a["instanceOutputValue"] - a["baselineOutputValue"], abs=1e-6)
    assert abs(total) > 1e-3
    print(f"ray: {SCALE_LINES} lines in {elapsed:.1f}s")


def test_feature_columns_and_key_column(local_ray, scale_batch: BatchOutput):
    instances = [i for n, i in enumerate(scale_instances(300)) if n not in BAD_LINES]
    ds = ray.data.from_items(instances)          # columns: id and the 30 features
    rows = explain_dataset(ds, MODEL, SCALE_SPEC, key_field="id", num_cpus=0.5).take_all()
    cli = {json.loads(line)["key"]: line for line in scale_batch.results}
    assert len(rows) == len(instances)
    for row in rows:
        assert row["error"] is None, row["error"]
        line = '{"key":%s,"prediction":%s,"explanation":%s}' % (row["key"], row["prediction"], row["explanation"])
        assert line == cli[json.loads(row["key"])]


def test_bad_rows_are_error_rows_and_bad_columns_are_named(local_ray):
    ds = ray.data.from_items([{"x0": 1.0, "x1": 2.0, "x2": 3.0}, {"x0": 1.0, "x1": float("nan"), "x2": 3.0}])
    rows = explain_dataset(ds, model_dir("peer_linear"), generate_explanation=False, num_cpus=0.5).take_all()
    assert json.loads(rows[0]["prediction"]) == {"y": [25.0]}       # 2·1 + 3·2 + 4·3 + 5
    assert rows[0]["explanation"] is None and rows[0]["error"] is None
    error = json.loads(rows[1]["error"])
    assert error["code"] == 3 and "not a finite number" in error["message"], error
    with pytest.raises(ValueError, match="names a feature"):
        explain_dataset(ray.data.from_items([{"a": 1, "b": 2}]), model_dir("peer_linear"))
    with pytest.raises(ValueError, match="no column 'nope'"):
        explain_dataset(ds, model_dir("peer_linear"), instance_column="nope")


def test_actors_taking_every_cpu_are_warned_of(local_ray):
    # Two 1-CPU actors on this 2-CPU cluster leave the read tasks no CPU: Ray would wait
    # forever, so the call says so (the Dataset is lazy: nothing runs here).
    ds = ray.data.from_items([{"x0": 1.0, "x1": 2.0, "x2": 3.0}])
    with pytest.warns(RuntimeWarning, match="take all 2 CPUs"):
        explain_dataset(ds, model_dir("peer_linear"), concurrency=2)

