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
