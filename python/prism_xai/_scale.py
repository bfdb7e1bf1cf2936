"""What the Ray and Spark adapters share: loading the model once per process, making Arrow
batches of rows into instances and results, and writing Vertex-named shards.

The engine makes every row into the line ``prism batch`` writes for the same instance
(``Explainer.process_records``); this module only moves columns in and out.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Tuple, Union

from . import _native
from .configs import Config
from .model import Params, override_of, parameters_with_method

#: The columns of the results: JSON text, or null where a row has none.
RESULT_COLUMNS: Tuple[str, ...] = ("instance", "key", "prediction", "explanation", "error")

#: A spec ready to cross to workers: ("parameters", dict), ("override", dict) or None.
Resolved = Optional[Tuple[str, Dict[str, Any]]]

#: What ``spec=`` takes: what ``Model.explain(params=...)`` takes, or the path of a JSON
#: file holding an ExplanationSpecOverride (what ``prism batch --spec`` reads).
Spec = Union[Params, "os.PathLike[str]"]


def resolve_spec(explainer: "_native.Explainer", spec: Spec) -> Resolved:
    """``spec`` as plain JSON that workers can apply to the model they load."""
    if spec is None:
        return None
    if isinstance(spec, os.PathLike):
        with open(spec, encoding="utf-8") as f:
            spec = json.load(f)
    if isinstance(spec, Config):
        return ("parameters", parameters_with_method(explainer.spec()["parameters"], spec))
    return ("override", override_of(spec))


def _apply(explainer: "_native.Explainer", spec: Resolved) -> "_native.Explainer":
    if spec is None:
        return explainer
    kind, doc = spec
    return explainer.with_parameters(doc) if kind == "parameters" else explainer.with_override(doc)


_CACHE: Dict[Tuple[str, str], "_native.Explainer"] = {}
_CACHE_LOCK = threading.Lock()


def load_explainer(model_dir: str, spec: Resolved) -> "_native.Explainer":
    """The model directory with ``spec`` applied, loaded once per process (Spark reuses its
    Python workers across tasks; a Ray actor calls this once)."""
    key = (model_dir, json.dumps(spec, sort_keys=True))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is None:
            cached = _apply(_native.Explainer.load(model_dir), spec)
            _CACHE[key] = cached
        return cached


def feature_names(spec: Mapping[str, Any]) -> List[str]:
    """The names an instance object may use: input names and indexFeatureMapping entries."""
    names: List[str] = []
    for name, meta in ((spec.get("metadata") or {}).get("inputs") or {}).items():
        names.append(name)
        names.extend(str(n) for n in (meta or {}).get("indexFeatureMapping") or [])
    return names


@dataclass(frozen=True)
class Plan:
    """How a dataset's rows become instances."""

    #: The column holding whole instances (JSON text or dicts); ``None``: each row's
    #: columns are the instance's fields.
    instance_column: Optional[str]
    #: The key field (Vertex ``instanceConfig.keyField``), or ``None``.
    key_field: Optional[str]
    #: Whether the key is a column beside ``instance_column`` (rather than a field of the
    #: instance).
    key_apart: bool
    #: Vertex ``instanceConfig`` for the engine.
    instance_config: Dict[str, Any]
    generate_explanation: bool


def plan(
    columns: Sequence[str],
    spec: Mapping[str, Any],
    *,
    instance_column: Optional[str],
    key_field: Optional[str],
    included_fields: Optional[Sequence[str]],
    excluded_fields: Optional[Sequence[str]],
    generate_explanation: bool,
) -> Plan:
    """Decides how rows become instances, from the dataset's columns.

    - ``instance_column`` given: that column holds each instance (JSON text, or a
      struct/dict).
    - else, when the only column (besides ``key_field``) is not a feature name of the
      metadata, it holds the instances (``ray.data.read_text``'s ``text``, Spark
      ``read.text``'s ``value``);
    - else each row's columns are the instance's fields (by the metadata's feature names).
    """
    columns = list(columns)
    config: Dict[str, Any] = {}
    if key_field is not None:
        config["keyField"] = key_field
    if included_fields:
        config["includedFields"] = list(included_fields)
    if excluded_fields:
        config["excludedFields"] = list(excluded_fields)
    features = set(feature_names(spec))
    others = [c for c in columns if c != key_field]
    if instance_column is None and len(others) == 1 and others[0] not in features:
        instance_column = others[0]
    if instance_column is not None:
        if instance_column not in columns:
            raise ValueError(
                f"instance_column: the dataset has no column {instance_column!r} "
                f"(its columns: {columns})"
            )
        key_apart = key_field is not None and key_field in columns and key_field != instance_column
        return Plan(instance_column, key_field, key_apart, config, generate_explanation)
    if not features.intersection(others):
        raise ValueError(
            f"none of the dataset's columns {columns} names a feature of the model "
            f"({sorted(features)}); give instance_column= for a column holding whole "
            "instances (JSON text or dicts)"
        )
    if key_field is not None and key_field not in columns:
        raise ValueError(f"key_field: the dataset has no column {key_field!r} (its columns: {columns})")
    return Plan(None, key_field, False, config, generate_explanation)


def explain_arrow(
    explainer: "_native.Explainer",
    batch: Any,
    plan: Plan,
    places: Optional[List[Optional[str]]] = None,
) -> Dict[str, List[Optional[str]]]:
    """Explains the rows of an Arrow table or record batch: the result columns. Blank JSON
    text (an empty line) is not a record, as in ``prism batch``: it has no result row."""
    keys = batch.column(plan.key_field).to_pylist() if plan.key_apart else None
    if plan.instance_column is not None:
        records = batch.column(plan.instance_column).to_pylist()
        keep = [i for i, r in enumerate(records) if not (isinstance(r, (str, bytes)) and not r.strip())]
        if len(keep) < len(records):
            records = [records[i] for i in keep]
            keys = [keys[i] for i in keep] if keys is not None else None
            places = [places[i] for i in keep] if places else places
    else:
        records = batch.to_pylist()
    return explainer.process_records(
        records,
        generate_explanation=plan.generate_explanation,
        instance_config=plan.instance_config,
        keys=keys,
        places=places,
    )


def result_schema() -> Any:
    import pyarrow as pa

    return pa.schema([(c, pa.string()) for c in RESULT_COLUMNS])


def result_table(columns: Mapping[str, List[Optional[str]]]) -> Any:
    import pyarrow as pa

    return pa.table({c: pa.array(columns[c], type=pa.string()) for c in RESULT_COLUMNS})


def result_batch(columns: Mapping[str, List[Optional[str]]]) -> Any:
    import pyarrow as pa

    return pa.RecordBatch.from_arrays(
        [pa.array(columns[c], type=pa.string()) for c in RESULT_COLUMNS], schema=result_schema()
    )


def output_line(row: Mapping[str, Optional[str]]) -> Tuple[bool, str]:
    """The line ``prism batch`` writes for a results row: ``(is_error, line)``.

    The parts are the engine's JSON text, so joining them gives the bytes serde_json
    writes for the whole line (compact, fields in this order, absent ones left out).
    """
    if row.get("error") is not None:
        parts = (("instance", row.get("instance")), ("key", row.get("key")), ("error", row["error"]))
        error = True
    else:
        parts = (
            ("instance", row.get("instance")),
            ("key", row.get("key")),
            ("prediction", row.get("prediction")),
            ("explanation", row.get("explanation")),
        )
        error = False
    return error, "{" + ",".join(f'"{n}":{v}' for n, v in parts if v is not None) + "}"


def model_folder_name(model_dir: str) -> str:
    """The model's name in job folder names, as ``prism batch`` makes it."""
    name = os.path.basename(os.path.normpath(model_dir))
    cleaned = "".join(c if (c.isalnum() or c in "-_.") else "_" for c in name)
    return cleaned or "model"


def new_job_id(model_dir: str) -> str:
    """``prediction-<model>-<YYYY-MM-DDThh:mm:ss.sssZ>`` (UTC), Vertex's job folder name."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now))
    return f"prediction-{model_folder_name(model_dir)}-{stamp}.{int(now * 1000) % 1000:03d}Z"


def prepare_job_dir(output_dir: Union[str, "os.PathLike[str]"], job_id: str) -> str:
    """Creates the job folder; refuses one that already holds a job's outputs."""
    if not job_id or job_id in (".", "..") or re.search(r"[/\\]", job_id):
        raise ValueError(f"job_id: {job_id!r} must be a plain folder name")
    job_dir = os.path.join(os.fspath(output_dir), job_id)
    os.makedirs(job_dir, exist_ok=True)
    taken = [n for n in os.listdir(job_dir) if n.startswith(("prediction.", "stats-", "checkpoint-"))]
    if taken:
        raise FileExistsError(
            f"{job_dir} already holds a job's outputs ({sorted(taken)[0]}, …): "
            "give another job_id or output_dir"
        )
    return job_dir


def suffix(index: int, count: int) -> str:
    return f"-{index:05d}-of-{count:05d}"


class ShardWriter:
    """Writes one shard's results and errors lines into temporary files, then moves them
    to their Vertex names (``prediction.results-0000i-of-0000N``, …) with the shard's
    stats file beside them."""

    def __init__(self, job_dir: str, tag: str):
        self.job_dir = job_dir
        self.tag = tag
        self._tmp = temporary_paths(job_dir, tag)
        self._files = {kind: open(path, "w", encoding="utf-8") for kind, path in self._tmp.items()}
        self.successful = 0
        self.failed = 0

    def write_columns(self, columns: Mapping[str, List[Optional[str]]]) -> None:
        n = len(columns["error"])
        results = self._files["prediction.results"]
        errors = self._files["prediction.errors_stats"]
        for i in range(n):
            is_error, line = output_line({c: columns[c][i] for c in RESULT_COLUMNS})
            if is_error:
                errors.write(line + "\n")
                self.failed += 1
            else:
                results.write(line + "\n")
                self.successful += 1

    def close(self) -> None:
        for f in self._files.values():
            if not f.closed:
                f.flush()
                os.fsync(f.fileno())
                f.close()

    def discard(self) -> None:
        self.close()
        for path in self._tmp.values():
            if os.path.exists(path):
                os.remove(path)

    def finish(self, job_id: str, index: int, count: int) -> None:
        """Moves the files to shard ``index`` of ``count`` and writes its stats."""
        self.close()
        move_shard(self.job_dir, self.tag, job_id, index, count, self.successful, self.failed)


_KINDS = ("prediction.results", "prediction.errors_stats")


def temporary_paths(job_dir: str, tag: str) -> Dict[str, str]:
    """Where a shard's files are written before the shard count is known."""
    return {kind: os.path.join(job_dir, f".{kind}.{tag}.tmp") for kind in _KINDS}


def move_shard(
    job_dir: str, tag: str, job_id: str, index: int, count: int, successful: int, failed: int
) -> None:
    """Gives the files a :class:`ShardWriter` wrote (``tag``) their Vertex names as shard
    ``index`` of ``count``, and writes the shard's stats."""
    for kind, path in temporary_paths(job_dir, tag).items():
        os.replace(path, os.path.join(job_dir, kind + suffix(index, count)))
    write_stats(job_dir, job_id, index, count, successful, failed)


def write_stats(job_dir: str, job_id: str, index: int, count: int, successful: int, failed: int) -> None:
    """``stats-0000i-of-0000N.json`` as ``prism batch`` writes it (so ``prism batch
    merge-stats`` adds the shards up)."""
    stats = {
        "jobId": job_id,
        "state": "JOB_STATE_SUCCEEDED",
        "shardIndex": index,
        "shardCount": count,
        "completionStats": {
            "successfulCount": str(successful),
            "failedCount": str(failed),
            "incompleteCount": "0",
        },
    }
    path = os.path.join(job_dir, f"stats{suffix(index, count)}.json")
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write(json.dumps(stats, indent=2) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_empty_job(job_dir: str, job_id: str) -> None:
    """A job over no rows: one empty shard."""
    for kind in _KINDS:
        open(os.path.join(job_dir, kind + suffix(0, 1)), "w").close()
    write_stats(job_dir, job_id, 0, 1, 0, 0)


def chunks(n: int, size: int) -> Iterable[Tuple[int, int]]:
    """``(offset, length)`` pieces of ``n`` rows, ``size`` at most each."""
    for start in range(0, n, size):
        yield start, min(size, n - start)


def check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise ValueError(f"batch_size: expected a positive int, got {batch_size!r}")
    return batch_size
