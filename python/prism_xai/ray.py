"""Explanations over a Ray Dataset: :func:`explain_dataset`.

Each actor of a ``map_batches`` pool loads the model directory once and runs Prism's
engine on Arrow batches of rows; every row becomes the line ``prism batch`` writes for the
same instance (the same numbers: Sampled Shapley is seeded), and a bad row becomes an
error row rather than a failed job. With ``output_dir`` the results are also written as a
Vertex job folder of ``prediction.results-0000i-of-0000N`` /
``prediction.errors_stats-0000i-of-0000N`` shards (one per write task) and their
``stats-0000i-of-0000N.json``.

Ray is imported when :func:`explain_dataset` is called (``pip install "ray[data]"``).
"""

from __future__ import annotations

import logging
import os
import uuid
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

from . import _native
from . import _scale
from ._scale import RESULT_COLUMNS, Plan, Resolved, Spec

__all__ = ["explain_dataset", "RESULT_COLUMNS"]

log = logging.getLogger("prism_xai")


def _ray() -> Any:
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "prism_xai.ray needs Ray Data: pip install 'ray[data]' "
            f"(importing it failed: {e})"
        ) from e
    return ray


class _ExplainBatches:
    """The callable class of ``map_batches``: one model per actor, one engine call per
    batch."""

    def __init__(self, model_dir: str, spec: Resolved, plan: Plan):
        self._explainer = _scale.load_explainer(model_dir, spec)
        self._plan = plan

    def __call__(self, batch: Any) -> Any:
        return _scale.result_table(_scale.explain_arrow(self._explainer, batch, self._plan))


def explain_dataset(
    ds: Any,
    model_dir: Union[str, "os.PathLike[str]"],
    spec: Spec = None,
    *,
    output_dir: Optional[Union[str, "os.PathLike[str]"]] = None,
    job_id: Optional[str] = None,
    batch_size: int = 64,
    concurrency: Union[int, tuple] = 1,
    num_cpus: Optional[float] = None,
    key_field: Optional[str] = None,
    instance_column: Optional[str] = None,
    included_fields: Optional[Sequence[str]] = None,
    excluded_fields: Optional[Sequence[str]] = None,
    generate_explanation: bool = True,
) -> Any:
    """Explains every row of the Ray Dataset ``ds`` with the model directory ``model_dir``.

    Rows become instances as ``prism batch`` makes JSONL lines into instances:

    - a column of whole instances — JSON text (``ray.data.read_text``'s ``text``) or
      dicts — named by ``instance_column``, or found as the only column that is not a
      feature name of the metadata;
    - otherwise each row's columns are the instance's fields (named like the metadata's
      features: input names or ``indexFeatureMapping`` entries).

    ``key_field`` (Vertex ``instanceConfig.keyField``) is a field of the instance or a
    column beside the instance column: results carry its value as ``key`` in place of the
    instance. ``included_fields`` / ``excluded_fields`` are Vertex's too. ``spec``: a
    method config, an ExplanationSpecOverride dict (or a dict of parameters to override),
    a JSON string, or the path of a JSON file (``prism batch --spec``).

    Returns a Dataset with the string columns ``instance`` (results rows without a key,
    and error rows), ``key``, ``prediction``, ``explanation`` (JSON text, as in the
    results file) and ``error`` (``{"code", "message"}`` JSON, or null). A bad row (not
    JSON, a missing feature, a value the model rejects) becomes an error row; the job
    goes on.

    ``batch_size`` rows go to the engine at a time (it runs them in parallel on the
    actor's cores); ``concurrency`` actors run at once, each reserving ``num_cpus`` CPUs
    (default 1). On a small machine give fractional CPUs (``num_cpus=0.5`` for two actors
    on one core's worth) or Ray waits forever for CPUs its other tasks hold.

    With ``output_dir``, the job runs now: its results are materialized and written as a
    Vertex job folder ``output_dir/job_id`` (``job_id`` defaults to
    ``prediction-<model>-<UTC time>``), one shard per write task; the materialized
    Dataset is returned. Without it the Dataset is lazy, like any Ray Dataset.
    """
    ray = _ray()
    batch_size = _scale.check_batch_size(batch_size)
    model_dir = os.fspath(model_dir)
    # Load once here: a bad directory or spec fails now, with its own error, not in a
    # worker.
    explainer = _native.Explainer.load(model_dir)
    resolved = _scale.resolve_spec(explainer, spec)
    explainer = _scale._apply(explainer, resolved)
    plan = _scale.plan(
        ds.columns(),
        explainer.spec(),
        instance_column=instance_column,
        key_field=key_field,
        included_fields=included_fields,
        excluded_fields=excluded_fields,
        generate_explanation=generate_explanation,
    )
    remote_args: Dict[str, Any] = {}
    if num_cpus is not None:
        remote_args["num_cpus"] = num_cpus
    _warn_if_actors_take_every_cpu(ray, concurrency, 1.0 if num_cpus is None else num_cpus)
    results = ds.map_batches(
        _ExplainBatches,
        fn_constructor_args=(model_dir, resolved, plan),
        batch_size=batch_size,
        batch_format="pyarrow",
        zero_copy_batch=True,
        compute=_actor_pool(ray, concurrency),
        **remote_args,
    )
    if output_dir is None:
        return results
    job_id = job_id or _scale.new_job_id(model_dir)
    job_dir = _scale.prepare_job_dir(output_dir, job_id)
    results = results.materialize()
    results.write_datasink(_shard_sink(job_dir, job_id))
    log.info("prism_xai.ray: wrote job folder %s", job_dir)
    return results


def _warn_if_actors_take_every_cpu(ray: Any, concurrency: Union[int, tuple], num_cpus: float) -> None:
    """Actors that reserve every CPU of the cluster leave none to the tasks that read the
    data: Ray then waits forever, silently. Say so before it happens."""
    actors = concurrency[1] if isinstance(concurrency, tuple) else concurrency
    try:
        total = float(ray.cluster_resources().get("CPU", 0.0)) if ray.is_initialized() else 0.0
    except Exception:  # pragma: no cover - a cluster that cannot say: nothing to check
        return
    if total and actors * num_cpus >= total:
        warnings.warn(
            f"prism_xai.ray: {actors} actor(s) x {num_cpus:g} CPU take all {total:g} CPUs of "
            "the Ray cluster, leaving none for the tasks that read the dataset: the job may "
            "wait forever. Give actors fractional CPUs (num_cpus=0.5) or fewer actors.",
            RuntimeWarning,
            stacklevel=3,
        )


def _actor_pool(ray: Any, concurrency: Union[int, tuple]) -> Any:
    """``concurrency`` (a size, or a ``(min, max)`` range) as Ray's actor pool."""
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1:
        return ray.data.ActorPoolStrategy(size=concurrency)
    if (
        isinstance(concurrency, tuple)
        and len(concurrency) == 2
        and all(isinstance(c, int) and c >= 1 for c in concurrency)
    ):
        return ray.data.ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    raise ValueError(f"concurrency: expected a positive int or a (min, max) pair, got {concurrency!r}")


def _shard_sink(job_dir: str, job_id: str) -> Any:
    from ray.data import Datasink

    class _ShardSink(Datasink):
        """Each write task writes its rows as one shard under a temporary name; when all
        are done, the shards get their Vertex names (numbered in task order)."""

        def __init__(self) -> None:
            self.run = uuid.uuid4().hex[:8]

        def write(self, blocks: Any, ctx: Any) -> Dict[str, Any]:
            import pyarrow as pa

            tag = f"{self.run}-{ctx.task_idx:06d}"
            writer = _scale.ShardWriter(job_dir, tag)
            try:
                for block in blocks:
                    table = block if isinstance(block, pa.Table) else pa.Table.from_pandas(block)
                    writer.write_columns({c: table.column(c).to_pylist() for c in RESULT_COLUMNS})
                writer.close()
            except BaseException:
                writer.discard()
                raise
            return {"tag": tag, "task": ctx.task_idx, "ok": writer.successful, "failed": writer.failed}

        def on_write_complete(self, write_result: Any) -> None:
            returns: List[Dict[str, Any]] = sorted(
                (r for r in write_result.write_returns if r), key=lambda r: r["task"]
            )
            if not returns:
                _scale.write_empty_job(job_dir, job_id)
                return
            count = len(returns)
            for index, r in enumerate(returns):
                _scale.move_shard(job_dir, r["tag"], job_id, index, count, r["ok"], r["failed"])

    return _ShardSink()
