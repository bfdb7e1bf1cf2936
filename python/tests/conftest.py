"""Shared fixtures: the test models, the `prism` binary, and helpers to compare with it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Dict, List, Optional, Sequence

import numpy as np
import pytest

os.environ.setdefault("MPLBACKEND", "Agg")

REPO = Path(__file__).resolve().parents[2]
MODELS = REPO / "testdata" / "models"


def model_dir(name: str) -> Path:
    return MODELS / name


def read_instances(name: str) -> List[Dict[str, Any]]:
    lines = (MODELS / name / "instances.jsonl").read_text().splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def _find_prism() -> Optional[Path]:
    """The `prism` binary: $PRISM_BIN, else a cargo build under $CARGO_TARGET_DIR or target/."""
    explicit = os.environ.get("PRISM_BIN")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise RuntimeError(f"PRISM_BIN={explicit} does not exist")
        return path
    roots = [Path(os.environ["CARGO_TARGET_DIR"])] if os.environ.get("CARGO_TARGET_DIR") else []
    roots.append(REPO / "target")
    for root in roots:
        for profile in ("debug", "release"):
            candidate = root / profile / "prism"
            if candidate.is_file():
                return candidate
    found = shutil.which("prism")
    return Path(found) if found else None


@pytest.fixture(scope="session")
def prism_bin() -> Path:
    path = _find_prism()
    if path is None:
        pytest.skip("no prism binary (build it with `cargo build -p prism-cli`, or set PRISM_BIN)")
    return path


class Cli:
    """Runs `prism explain` / `prism predict` on instances and parses the JSONL it writes."""

    def __init__(self, binary: Path):
        self.binary = binary

    def run(self, command: str, directory: Path, instances: Sequence[Any], *args: str) -> List[Dict[str, Any]]:
        text = "".join(json.dumps(i) + "\n" for i in instances)
        result = subprocess.run(
            [str(self.binary), command, str(directory), "--instances", "-", *args],
            input=text,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert result.returncode == 0, result.stderr
        return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]

    def explain(self, directory: Path, instances: Sequence[Any], *args: str) -> List[Dict[str, Any]]:
        return self.run("explain", directory, instances, *args)


@pytest.fixture(scope="session")
def cli(prism_bin: Path) -> Cli:
    return Cli(prism_bin)


def assert_same_explanation(got: Dict[str, Any], want: Dict[str, Any], rel: float = 1e-9) -> None:
    """Two Vertex Explanation JSON objects agree: same structure, numbers within `rel`."""
    assert len(got["attributions"]) == len(want["attributions"])
    for a, b in zip(got["attributions"], want["attributions"]):
        assert a.get("outputIndex") == b.get("outputIndex")
        assert a.get("outputDisplayName") == b.get("outputDisplayName")
        assert a["outputName"] == b["outputName"]
        for key in ("baselineOutputValue", "instanceOutputValue", "approximationError"):
            assert float(a[key]) == pytest.approx(float(b[key]), rel=rel, abs=1e-12), key
        assert list(a["featureAttributions"]) == list(b["featureAttributions"])
        for name, value in a["featureAttributions"].items():
            np.testing.assert_allclose(
                np.asarray(value, dtype=float),
                np.asarray(b["featureAttributions"][name], dtype=float),
                rtol=rel,
                atol=1e-12,
                err_msg=name,
            )


# --- Batch jobs over many lines: the data and `prism batch`'s output the Ray and Spark
# adapters are compared with (tests/test_ray.py, tests/test_spark.py).

#: The Sampled Shapley override every scale-out test uses (the CLI reads the same file).
SCALE_SPEC = {"parameters": {"sampledShapleyAttribution": {"pathCount": 4}}}
SCALE_LINES = 2000
#: Lines that are not valid instances, by position: each makes an errors line.
BAD_LINES = {
    137: '{"id": "r137", "mean radius": 13.4,',                  # not JSON
    611: '{"id": "r611", "mean radius": 13.4}',                  # 29 features missing
    1024: None,                                                  # "mean texture" is a string
    1500: None,                                                  # an unknown field
    1777: None,                                                  # no key field
}


def scale_instances(n: int) -> List[Dict[str, Any]]:
    """`n` breast_cancer_mlp instances keyed `r0`, `r1`, …: the 4 shipped ones, each
    feature scaled by a deterministic factor in [0.95, 1.05]."""
    base = read_instances("breast_cancer_mlp")
    out = []
    for i in range(n):
        b = base[i % len(base)]
        inst: Dict[str, Any] = {"id": f"r{i}"}
        for j, (name, value) in enumerate(b.items()):
            inst[name] = round(value * (1 + ((i * 7 + j * 3) % 11 - 5) / 100), 6)
        out.append(inst)
    return out


def scale_lines(n: int = SCALE_LINES) -> List[str]:
    lines = []
    for i, inst in enumerate(scale_instances(n)):
        if i in BAD_LINES and BAD_LINES[i] is not None:
            lines.append(BAD_LINES[i])
            continue
        if i == 1024:
            inst["mean texture"] = "twenty"
        elif i == 1500:
            inst["colour"] = 3
        elif i == 1777:
            del inst["id"]
        lines.append(json.dumps(inst))
    return lines


class BatchOutput:
    """A `prism batch --explain --key-field id` job's lines over `scale_lines()`."""

    def __init__(self, input_path: Path, results: List[str], errors: List[str]):
        self.input_path = input_path
        self.results = results
        self.errors = errors

    def errors_without_place(self) -> List[Dict[str, Any]]:
        return [without_place(json.loads(line)) for line in self.errors]


def without_place(error_line: Dict[str, Any]) -> Dict[str, Any]:
    """An errors line less the place its message starts with (`FILE line N: `,
    `partition P row R: `)."""
    message = error_line["error"]["message"]
    for marker in (" line ", " row "):
        head, sep, rest = message.partition(marker)
        if sep and ": " in rest and rest.split(": ", 1)[0].isdigit():
            message = rest.split(": ", 1)[1]
            break
    return {**error_line, "error": {**error_line["error"], "message": message}}


@pytest.fixture(scope="session")
def scale_batch(prism_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> BatchOutput:
    """Runs `prism batch` once over `scale_lines()` (key field `id`, SCALE_SPEC)."""
    d = tmp_path_factory.mktemp("scale")
    input_path = d / "lines.jsonl"
    input_path.write_text("".join(line + "\n" for line in scale_lines()))
    spec = d / "spec.json"
    spec.write_text(json.dumps(SCALE_SPEC))
    result = subprocess.run(
        [
            str(prism_bin), "batch", str(model_dir("breast_cancer_mlp")),
            "--input", str(input_path), "--output", str(d / "out"), "--job-id", "cli",
            "--explain", "--spec", str(spec), "--key-field", "id",
        ],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 2, result.stderr       # 2: some records failed
    job = d / "out" / "cli"
    return BatchOutput(
        input_path,
        (job / "prediction.results-00000-of-00001").read_text().splitlines(),
        (job / "prediction.errors_stats-00000-of-00001").read_text().splitlines(),
    )


def read_job(job_dir: Path) -> Dict[str, Any]:
    """A job folder written by an adapter: its shard count and the shards' lines in shard
    order; asserts the files are exactly the Vertex-named shards and their stats."""
    names = sorted(p.name for p in job_dir.iterdir())
    counts = {n.rsplit("-of-", 1)[1].split(".")[0] for n in names}
    assert len(counts) == 1, names
    count = int(counts.pop())
    expected = sorted(
        f"{kind}-{i:05d}-of-{count:05d}{ext}"
        for i in range(count)
        for kind, ext in (("prediction.results", ""), ("prediction.errors_stats", ""), ("stats", ".json"))
    )
    assert names == expected
    results: List[str] = []
    errors: List[str] = []
    stats = []
    for i in range(count):
        s = f"-{i:05d}-of-{count:05d}"
        results += (job_dir / f"prediction.results{s}").read_text().splitlines()
        errors += (job_dir / f"prediction.errors_stats{s}").read_text().splitlines()
        stats.append(json.loads((job_dir / f"stats{s}.json").read_text()))
    return {"count": count, "results": results, "errors": errors, "stats": stats}
