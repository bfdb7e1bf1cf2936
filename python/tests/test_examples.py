"""Example-based models through prism_xai: the nearest training digits in the CNN's latent
space, with the index built by `prism index build`, equal the committed reference
(`expected_neighbors.json`, computed with numpy) and the CLI's answers."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import prism_xai

from conftest import model_dir, read_instances


@pytest.fixture(scope="module")
def indexed(prism_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("examples") / "digits_examples"
    shutil.copytree(model_dir("digits_examples"), directory)
    subprocess.run(
        [str(prism_bin), "index", "build", str(directory), "--examples",
         str(directory / "examples.jsonl")],
        check=True,
        capture_output=True,
    )
    return directory


def test_neighbours_equal_the_reference_and_the_cli(indexed: Path, cli):
    model = prism_xai.load_model_from_local_path(indexed)
    instances = read_instances("digits_examples")
    explanations = model.explain(instances)
    expected = json.loads((indexed / "expected_neighbors.json").read_text())["instances"]
    from_cli = cli.explain(indexed, instances)
    assert len(explanations) == len(expected) == len(from_cli)
    for e, want, line in zip(explanations, expected, from_cli):
        assert repr(e) == f"Explanation(neighbors={len(e.neighbors)})"
        got = [n["neighborId"] for n in e.neighbors]
        assert len(got) >= 3, e.neighbors
        assert got == [n["id"] for n in want["neighbors"]][: len(got)]
        for n, w in zip(e.neighbors, want["neighbors"]):
            assert n["neighborDistance"] == pytest.approx(w["distance"], abs=1e-5)
        assert e.to_json() == line


def test_examples_override_counts_neighbours(indexed: Path):
    model = prism_xai.load_model_from_local_path(indexed)
    [e] = model.explain(read_instances("digits_examples")[:1],
                        params={"examplesOverride": {"neighborCount": 3}})
    assert len(e.neighbors) == 3
