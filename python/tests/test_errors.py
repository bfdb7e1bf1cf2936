"""Errors: distinct classes, field paths, instance positions."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from prism_xai import (
    IntegratedGradientsConfig,
    InvalidInstanceError,
    InvalidSpecError,
    ModelError,
    PrismError,
    SampledShapleyConfig,
    load_model_from_local_path,
)

from conftest import model_dir


def test_classes():
    for cls in (InvalidSpecError, InvalidInstanceError, ModelError):
        assert issubclass(cls, PrismError)
        assert issubclass(cls, Exception)
    assert InvalidSpecError.__module__ == "prism_xai"


def test_invalid_config_names_the_field():
    with pytest.raises(InvalidSpecError) as e:
        load_model_from_local_path(model_dir("peer_linear"), SampledShapleyConfig(path_count=0))
    assert e.value.field_path == "sampledShapleyAttribution.pathCount"
    assert "must be in 1..=50" in str(e.value)
    with pytest.raises(InvalidSpecError) as e:
        load_model_from_local_path(model_dir("peer_linear"), IntegratedGradientsConfig(step_count=1000))
    assert e.value.field_path == "integratedGradientsAttribution.stepCount"


def test_invalid_params_name_the_field():
    model = load_model_from_local_path(model_dir("peer_linear"))
    with pytest.raises(InvalidSpecError) as e:
        model.explain([[1, 2, 3]], params={"topK": 1, "outputIndices": [0]})
    assert e.value.field_path is not None and e.value.field_path.startswith("parameters")
    with pytest.raises(InvalidSpecError) as e:
        model.explain([[1, 2, 3]], params={"pathCont": 3})
    assert e.value.field_path == "parameters.pathCont"
    with pytest.raises(TypeError):
        model.explain([[1, 2, 3]], params=42)  # type: ignore[arg-type]


def test_bad_instances_name_the_field_and_the_instance():
    model = load_model_from_local_path(model_dir("list_feature"))
    with pytest.raises(InvalidInstanceError) as e:
        model.explain([{"vec": [1, 2, 3, 4]}, {"vec": [1, 2]}])
    assert e.value.instance_index == 1
    assert e.value.field_path is not None and e.value.field_path.startswith("vec")
    assert str(e.value).startswith("instances[1]: ")
    with pytest.raises(InvalidInstanceError) as e:
        model.explain([{"vector": [1, 2, 3, 4]}])
    assert e.value.instance_index == 0
    # JSON has no NaN: refused before the engine, naming the value.
    with pytest.raises(InvalidInstanceError) as e:
        model.explain([{"vec": np.array([1.0, np.nan, 3.0, 4.0])}])
    assert e.value.field_path == "instances[0].vec[1]"
    # Plain Python values convert on a quicker path; its refusals name the place too.
    with pytest.raises(InvalidInstanceError) as e:
        model.explain([{"vec": [1.0, 2.0, 3.0, 4.0]}, {"vec": [1.0, 2.0, float("inf"), 4.0]}])
    assert e.value.field_path == "instances[1].vec[2]"
    with pytest.raises(InvalidInstanceError) as e:
        model.explain([{"vec": object()}])
    assert e.value.field_path == "instances[0].vec"


def test_bad_metadata_names_the_field(tmp_path: Path):
    bad = tmp_path / "bad"
    shutil.copytree(model_dir("peer_linear"), bad)
    metadata = json.loads((bad / "explanation_metadata.json").read_text())
    metadata["inputs"]["x"]["encoding"] = "SPARKLY"
    (bad / "explanation_metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(InvalidSpecError) as e:
        load_model_from_local_path(bad)
    assert e.value.field_path == "inputs.x.encoding"
    assert "explanation_metadata.json" in str(e.value)
    metadata["inputs"]["x"]["encoding"] = "IDENTITY"
    metadata["inputs"]["x"]["inputTensorName"] = "nope"
    (bad / "explanation_metadata.json").write_text(json.dumps(metadata))
    with pytest.raises(InvalidSpecError) as e:
        load_model_from_local_path(bad)
    assert e.value.field_path is not None and "inputTensorName" in e.value.field_path


def test_model_errors(tmp_path: Path):
    with pytest.raises(ModelError) as e:
        load_model_from_local_path(tmp_path / "missing")
    assert e.value.field_path is None
    broken = tmp_path / "broken"
    shutil.copytree(model_dir("peer_linear"), broken)
    (broken / "model.onnx").write_bytes(b"not an onnx model")
    with pytest.raises(ModelError):
        load_model_from_local_path(broken)


def test_gradients_of_trees_are_refused():
    with pytest.raises(PrismError) as e:
        load_model_from_local_path(model_dir("breast_cancer_gbt"), IntegratedGradientsConfig())
    assert isinstance(e.value, (ModelError, InvalidSpecError))
