"""Explanations over a Spark DataFrame: :func:`explain_dataframe`.

``DataFrame.mapInArrow`` hands each partition's Arrow batches to Prism's engine in the
executor's Python worker, which loads the model directory once (a module-level cache:
Spark reuses its Python workers across tasks). Every row becomes the line ``prism batch``
writes for the same instance (the same numbers: Sampled Shapley is seeded), and a bad row
becomes an error row rather than a failed job. With ``output_dir`` the results are also
written as a Vertex job folder of ``prediction.results-0000i-of-0000N`` /
``prediction.errors_stats-0000i-of-0000N`` shards, one per partition, with their
``stats-0000i-of-0000N.json``.

PySpark is imported when :func:`explain_dataframe` is called (``pip install pyspark``).
"""

from __future__ import annotations

import logging
import os
import uuid
from typing import Any, Iterator, List, Optional, Sequence, Union

from . import _native
from . import _scale
from ._scale import RESULT_COLUMNS, Plan, Resolved, Spec

__all__ = ["explain_dataframe", "RESULT_COLUMNS", "RESULT_SCHEMA"]

log = logging.getLogger("prism_xai")

#: The schema of the results, as a Spark DDL string.
RESULT_SCHEMA = ", ".join(f"{c} string" for c in RESULT_COLUMNS)


def _pyspark() -> Any:
    try:
        import pyspark
        from pyspark import StorageLevel  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"prism_xai.spark needs PySpark: pip install pyspark (importing it failed: {e})"
        ) from e
    return pyspark


class _ExplainPartition:
    """The function of ``mapInArrow``: explains a partition's batches, ``batch_size`` rows
    per engine call; with a job folder, also writes the partition as its shard."""

    def __init__(
        self,
        model_dir: str,
        spec: Resolved,
        plan: Plan,
        batch_size: int,
        job: Optional[tuple] = None,
    ):
        self.model_dir = model_dir
        self.spec = spec
        self.plan = plan
        self.batch_size = batch_size
        #: (job_dir, job_id, shard count, run tag) when writing shards.
        self.job = job

    def __call__(self, batches: Iterator[Any]) -> Iterator[Any]:
        from pyspark import TaskContext

        explainer = _scale.load_explainer(self.model_dir, self.spec)
        ctx = TaskContext.get()
        partition = ctx.partitionId() if ctx is not None else 0
        writer = None
        if self.job is not None:
            job_dir, _, _, run = self.job
            attempt = ctx.attemptNumber() if ctx is not None else 0
            writer = _scale.ShardWriter(job_dir, f"{run}-{partition:06d}-{attempt}")
        row = 0
        try:
            for batch in batches:
                for offset, length in _scale.chunks(batch.num_rows, self.batch_size):
                    piece = batch.slice(offset, length)
                    places: List[Optional[str]] = [
                        f"partition {partition} row {row + i}" for i in range(length)
                    ]
                    row += length
                    columns = _scale.explain_arrow(explainer, piece, self.plan, places)
                    if writer is not None:
                        writer.write_columns(columns)
                    yield _scale.result_batch(columns)
            if writer is not None:
                job_dir, job_id, count, _ = self.job
                writer.finish(job_id, partition, count)
                writer = None
        finally:
            if writer is not None:
                writer.discard()


def explain_dataframe(
    df: Any,
    model_dir: Union[str, "os.PathLike[str]"],
    spec: Spec = None,
    *,
    output_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    job_id: Optional[str] = None,
    batch_size: int = 64,
    key_field: Optional[str] = None,
    instance_column: Optional[str] = None,
    included_fields: Optional[Sequence[str]] = None,
    excluded_fields: Optional[Sequence[str]] = None,
    generate_explanation: bool = True,
) -> Any:
    """Explains every row of the Spark DataFrame ``df`` with the model directory
    ``model_dir`` (a path every executor can read).

    Rows become instances as ``prism batch`` makes JSONL lines into instances:

    - a column of whole instances — JSON text (``spark.read.text``'s ``value``) or
      structs — named by ``instance_column``, or found as the only column that is not a
      feature name of the metadata;
    - otherwise each row's columns are the instance's fields (named like the metadata's
      features: input names or ``indexFeatureMapping`` entries).

    ``key_field`` (Vertex ``instanceConfig.keyField``) is a field of the instance or a
    column beside the instance column: results carry its value as ``key`` in place of the
    instance. ``included_fields`` / ``excluded_fields`` are Vertex's too. ``spec``: a
    method config, an ExplanationSpecOverride dict (or a dict of parameters to override),
    a JSON string, or the path of a JSON file (``prism batch --spec``).

    Returns a DataFrame with the string columns ``instance`` (results rows without a key,
    and error rows), ``key``, ``prediction``, ``explanation`` (JSON text, as in the
    results file) and ``error`` (``{"code", "message"}`` JSON, or null), partitioned like
    ``df``. A bad row becomes an error row (its message names its partition and row); the
    job goes on. ``batch_size`` rows go to the engine at a time.

    With ``output_dir``, the job runs now: the results are persisted (memory and disk)
    and each partition is written as shard ``i`` of ``N`` (``N`` the partition count) of
    the Vertex job folder ``output_dir/job_id`` (``job_id`` defaults to
    ``prediction-<model>-<UTC time>``); the persisted DataFrame is returned. Without it
    the DataFrame is lazy, like any other.
    """
    pyspark = _pyspark()
    batch_size = _scale.check_batch_size(batch_size)
    model_dir = os.fspath(model_dir)
    # Load once here: a bad directory or spec fails now, with its own error, not in an
    # executor.
    explainer = _native.Explainer.load(model_dir)
    resolved = _scale.resolve_spec(explainer, spec)
    explainer = _scale._apply(explainer, resolved)
    plan = _scale.plan(
        df.columns,
        explainer.spec(),
        instance_column=instance_column,
        key_field=key_field,
        included_fields=included_fields,
        excluded_fields=excluded_fields,
        generate_explanation=generate_explanation,
    )
    if output_dir is None:
        return df.mapInArrow(_ExplainPartition(model_dir, resolved, plan, batch_size), RESULT_SCHEMA)
    job_id = job_id or _scale.new_job_id(model_dir)
    job_dir = _scale.prepare_job_dir(output_dir, job_id)
    count = df.rdd.getNumPartitions()
    job = (job_dir, job_id, count, uuid.uuid4().hex[:8])
    results = df.mapInArrow(_ExplainPartition(model_dir, resolved, plan, batch_size, job), RESULT_SCHEMA)
    results = results.persist(pyspark.StorageLevel.MEMORY_AND_DISK)
    results.count()
    if count == 0:
        _scale.write_empty_job(job_dir, job_id)
    missing = [
        i
        for i in range(count)
        if not os.path.exists(os.path.join(job_dir, f"stats{_scale.suffix(i, count)}.json"))
    ]
    if missing:
        raise RuntimeError(
            f"prism_xai.spark: shards {missing} of {count} were not written to {job_dir} "
            "(is output_dir a folder every executor shares with the driver?)"
        )
    log.info("prism_xai.spark: wrote job folder %s", job_dir)
    return results
