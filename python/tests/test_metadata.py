"""`OnnxMetadataBuilder` and the baselines helpers: metadata built from the graph, saved in
both formats, explained in-process and by `prism explain` with the same numbers."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from prism_xai import (
    IntegratedGradientsConfig,
    InvalidSpecError,
    OnnxMetadataBuilder,
    load_model_from_local_path,
    max_baseline,
    mean_baseline,
    median_baseline,
    min_baseline,
    random_baseline,
)

from conftest import MODELS, assert_same_explanation, model_dir, read_instances


def _original(name: str) -> dict:
    return json.loads((MODELS / name / "explanation_metadata.json").read_text())


def test_inferred_metadata():
    b = OnnxMetadataBuilder(model_dir("peer_linear") / "model.onnx")
    assert b.get_metadata() == {
        "inputs": {"x": {"inputTensorName": "x", "encoding": "IDENTITY", "modality": "numeric"}},
        "outputs": {"y": {"outputTensorName": "y"}},
    }
    assert OnnxMetadataBuilder(model_dir("digits_cnn") / "model.onnx").get_metadata()["inputs"]["image"]["modality"] == "image"
    # Fixed-length int64 ids read as categorical until set_text_metadata says otherwise.
    tokens = OnnxMetadataBuilder(model_dir("text_sentiment") / "model.onnx")
    assert tokens.get_metadata()["inputs"]["tokens"]["modality"] == "categorical"
    assert tokens.set_text_metadata("tokens").get_metadata()["inputs"]["tokens"]["modality"] == "text"


def _linear_builder() -> OnnxMetadataBuilder:
    b = OnnxMetadataBuilder(model_dir("peer_linear") / "model.onnx")
    b.set_numeric_metadata("x", index_feature_mapping=["x0", "x1", "x2"], input_baselines=np.array([10, 20, 10]))
    b.set_output_metadata("y")
    return b


def test_peer_linear_round_trip(cli, tmp_path: Path):
    b = _linear_builder()
    assert b.get_metadata() == _original("peer_linear")
    instances = read_instances("peer_linear")
    want = [e.to_json() for e in load_model_from_local_path(model_dir("peer_linear")).explain(instances)]
    for legacy in (False, True):
        out = b.save_model_with_metadata(tmp_path / f"linear-{legacy}", legacy=legacy)
        assert (out / "model.onnx").read_bytes() == (model_dir("peer_linear") / "model.onnx").read_bytes()
        saved = json.loads((out / "explanation_metadata.json").read_text())
        if legacy:
            assert saved["framework"] == "onnx"
            assert saved["inputs"]["x"]["index_feature_mapping"] == ["x0", "x1", "x2"]
            assert saved["inputs"]["x"]["input_tensor_name"] == "x"
            assert saved["inputs"]["x"]["encoding"] == "identity"
            assert saved["outputs"]["y"] == {"output_tensor_name": "y"}
        else:
            assert saved == _original("peer_linear")
        got = load_model_from_local_path(out).explain(instances)
        by_cli = cli.explain(out, instances)
        for g, c, w in zip(got, by_cli, want):
            assert_same_explanation(g.to_json(), w)
            assert_same_explanation(c, w)
    assert got[0].feature_importance() == pytest.approx({"x0": 40.0, "x1": 120.0, "x2": 80.0})


def test_breast_cancer_round_trip(cli, tmp_path: Path):
    original = _original("breast_cancer_mlp")
    features = original["inputs"]["features"]
    b = OnnxMetadataBuilder(model_dir("breast_cancer_mlp") / "model.onnx")
    b.set_numeric_metadata(
        "input",
        new_name="features",
        index_feature_mapping=features["indexFeatureMapping"],
        input_baselines=np.asarray(features["inputBaselines"][0]),
    )
    b.set_output_metadata("probabilities", index_display_name_mapping=["malignant", "benign"])
    assert b.get_metadata() == original
    out = b.save_model_with_metadata(tmp_path / "mlp", legacy=True)
    instances = read_instances("breast_cancer_mlp")
    want = cli.explain(model_dir("breast_cancer_mlp"), instances)
    for g, c, w in zip(load_model_from_local_path(out).explain(instances), cli.explain(out, instances), want):
        assert_same_explanation(g.to_json(), w)
        assert_same_explanation(c, w)
    saved = json.loads((out / "explanation_metadata.json").read_text())
    assert saved["outputs"]["probabilities"]["index_name_mapping"] == ["malignant", "benign"]


def test_text_and_image_round_trip(cli, tmp_path: Path):
    t = OnnxMetadataBuilder(model_dir("text_sentiment") / "model.onnx")
    t.set_text_metadata("tokens", encoded_tensor_name="token_embeddings", input_baselines=0)
    t.set_output_metadata("probabilities", index_display_name_mapping=["negative", "positive"])
    out = t.save_model_with_metadata(tmp_path / "text", config=IntegratedGradientsConfig(step_count=50))
    instances = read_instances("text_sentiment")
    for g, w in zip(load_model_from_local_path(out).explain(instances), cli.explain(model_dir("text_sentiment"), instances)):
        assert_same_explanation(g.to_json(), w)
    assert json.loads((out / "explanation_spec.json").read_text()) == {"integratedGradientsAttribution": {"stepCount": 50}}

    i = OnnxMetadataBuilder(model_dir("digits_cnn") / "model.onnx")
    i.set_image_metadata(
        "image",
        input_baselines=0,
        visualization={
            "type": "pixels",
            "polarity": "positive",
            "color_map": "pink_green",
            "clip_percent_upperbound": 99.9,
            "clip_percent_lowerbound": 70,
            "overlay_type": "grayscale",
        },
    )
    i.set_output_metadata("probabilities", index_display_name_mapping=[str(d) for d in range(10)])
    built = i.get_metadata()
    assert built["inputs"]["image"].pop("encoding") == "IDENTITY"  # the default, spelled out
    assert built == _original("digits_cnn")
    out = i.save_model_with_metadata(tmp_path / "digits", legacy=True, config={"integratedGradientsAttribution": {"stepCount": 50}})
    viz = json.loads((out / "explanation_metadata.json").read_text())["inputs"]["image"]["visualization"]
    assert viz == {
        "type": "pixels",
        "polarity": "positive",
        "color_map": "pink_green",
        "clip_above_percentile": 99.9,
        "clip_below_percentile": 70,
        "overlay_type": "grayscale",
    }
    model = load_model_from_local_path(out)
    assert model.metadata["inputs"]["image"]["visualization"]["clipPercentLowerbound"] == 70
    instances = read_instances("digits_cnn")[:1]
    [g] = model.explain(instances)
    [w] = cli.explain(model_dir("digits_cnn"), instances)
    assert_same_explanation(g.to_json(), w, rel=1e-6)


def test_builder_edits_and_errors(tmp_path: Path):
    b = OnnxMetadataBuilder(model_dir("multi_input") / "model.onnx")
    assert list(b.get_metadata()["inputs"]) == ["numeric", "extra"]
    b.set_numeric_metadata("extra", new_name="more", group_name="g", domain={"min": 0, "max": 1, "original_mean": 0.5})
    m = b.get_metadata()["inputs"]
    assert list(m) == ["numeric", "more"]
    assert m["more"]["inputTensorName"] == "extra"
    assert m["more"]["featureValueDomain"] == {"minValue": 0.0, "maxValue": 1.0, "originalMean": 0.5}
    b.set_numeric_metadata("more", input_baselines=[[0, 0], [1, 1]])  # by feature name; two baselines
    assert b.get_metadata()["inputs"]["more"]["inputBaselines"] == [[0, 0], [1, 1]]
    b.remove_input_metadata("extra")  # by tensor name
    assert list(b.get_metadata()["inputs"]) == ["numeric"]
    with pytest.raises(InvalidSpecError) as e:
        b.set_numeric_metadata("nope")
    assert e.value.field_path == "inputs.nope"
    b.set_categorical_metadata("numeric", encoding="bag_of_features")  # needs indexFeatureMapping
    with pytest.raises(InvalidSpecError) as e:
        b.save_metadata(tmp_path)
    assert e.value.field_path == "metadata.inputs.numeric.indexFeatureMapping"
    legacy_domain = OnnxMetadataBuilder(model_dir("peer_linear") / "model.onnx")
    legacy_domain.set_numeric_metadata("x", domain={"min": -1, "max": 1})
    path = legacy_domain.save_metadata(tmp_path / "legacy", legacy=True)
    assert json.loads(path.read_text())["inputs"]["x"]["domain"] == {"min": -1.0, "max": 1.0}
    _check_legacy_dir(path.parent)


def _check_legacy_dir(directory: Path) -> None:
    # The saved legacy metadata loads next to the model.
    (directory / "model.onnx").write_bytes((model_dir("peer_linear") / "model.onnx").read_bytes())
    model = load_model_from_local_path(directory)
    assert model.metadata["inputs"]["x"]["featureValueDomain"] == {"minValue": -1.0, "maxValue": 1.0}


def test_baselines():
    x = np.array([[1.0, 10.0], [2.0, 30.0], [4.0, 20.0]])
    np.testing.assert_allclose(median_baseline(x), [2.0, 20.0])
    np.testing.assert_allclose(mean_baseline(x), [7 / 3, 20.0])
    np.testing.assert_allclose(min_baseline(x), [1.0, 10.0])
    np.testing.assert_allclose(max_baseline(x), [4.0, 30.0])
    r = random_baseline(x, seed=3)
    assert r.shape == (2,)
    assert np.all(r >= [1.0, 10.0]) and np.all(r <= [4.0, 30.0])
    np.testing.assert_array_equal(r, random_baseline(x, seed=3))
    assert not np.array_equal(r, random_baseline(x, seed=4))
    images = np.random.default_rng(0).random((5, 28, 28, 1))
    assert min_baseline(images).shape == (28, 28, 1)
    with pytest.raises(ValueError):
        median_baseline(np.zeros((0, 3)))
