"""`load_model_from_local_path`: the engine in-process, checked against closed forms, Captum
and the `prism` CLI on the same work."""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np
import pytest

import prism_xai
from prism_xai import (
    IntegratedGradientsConfig,
    SampledShapleyConfig,
    XraiConfig,
    load_model_from_local_path,
)

from conftest import MODELS, assert_same_explanation, model_dir, read_instances

LINEAR = {"x0": 30, "x1": 60, "x2": 30}


def test_peer_linear_closed_form():
    # y = 2 x0 + 3 x1 + 4 x2 + 5, baseline [10, 20, 10]: Shapley values are w·(x − b).
    model = load_model_from_local_path(model_dir("peer_linear"))
    [e] = model.explain([LINEAR])
    assert e.feature_importance() == pytest.approx({"x0": 40.0, "x1": 120.0, "x2": 80.0}, abs=1e-9)
    a = e.get_attribution()
    assert a.instance_output_value == pytest.approx(365.0)
    assert a.baseline_output_value == pytest.approx(125.0)
    assert a.baseline_score == a.baseline_output_value
    assert a.example_score == a.instance_output_value
    assert a.approx_error == a.approximation_error == pytest.approx(0.0, abs=1e-9)
    assert a.output_name == "y"
    # Integrated Gradients is exact on a linear model too.
    ig = load_model_from_local_path(model_dir("peer_linear"), IntegratedGradientsConfig(step_count=10))
    [e] = ig.explain([LINEAR])
    assert e.feature_importance() == pytest.approx({"x0": 40.0, "x1": 120.0, "x2": 80.0}, rel=1e-6)
    assert "integratedGradientsAttribution" in ig.spec["parameters"]


def test_single_input_models_take_bare_lists_and_numpy_rows():
    model = load_model_from_local_path(model_dir("peer_linear"))
    rows = np.array([[30.0, 60.0, 30.0], [10.0, 20.0, 10.0]], dtype=np.float32)
    explanations = model.explain(rows)
    assert len(explanations) == 2
    t = explanations[0].as_tensors()["x"]
    assert t.shape == (3,)
    np.testing.assert_allclose(t, [40.0, 120.0, 80.0])
    np.testing.assert_allclose(explanations[1].as_tensors()["x"], [0.0, 0.0, 0.0], atol=1e-9)
    # A list of arrays, and dicts holding numpy values, work the same.
    [e] = model.explain([np.array([30, 60, 30])])
    np.testing.assert_allclose(e.as_tensors()["x"], [40.0, 120.0, 80.0])
    [e] = model.explain([{"x0": np.float32(30), "x1": np.int64(60), "x2": 30.0}])
    assert e.feature_importance()["x1"] == pytest.approx(120.0)


@pytest.mark.parametrize("name", ["peer_linear", "peer_relu", "peer_interaction", "breast_cancer_mlp", "multi_input", "list_feature"])
def test_shapley_matches_the_cli(cli, name):
    instances = read_instances(name)
    model = load_model_from_local_path(model_dir(name))
    got = [e.to_json() for e in model.explain(instances)]
    want = cli.explain(model_dir(name), instances)
    assert len(got) == len(want) == len(instances)
    for g, w in zip(got, want):
        assert_same_explanation(g, w)


def test_breast_cancer_explanation_api(cli):
    instances = read_instances("breast_cancer_mlp")
    model = load_model_from_local_path(model_dir("breast_cancer_mlp"), SampledShapleyConfig(path_count=4))
    explanations = model.explain(instances)
    want = cli.explain(model_dir("breast_cancer_mlp"), instances, "--path-count", "4")
    for e, w in zip(explanations, want):
        assert_same_explanation(e.to_json(), w)
    e = explanations[0]
    importance = e.feature_importance()
    assert len(importance) == 30 and list(importance)[0] == "mean radius"
    tensors = e.as_tensors()
    assert all(t.shape == () and t.dtype == np.float64 for t in tensors.values())
    # Efficiency: the attributions add up to the change of the output.
    a = e.get_attribution()
    assert sum(importance.values()) == pytest.approx(a.instance_output_value - a.baseline_output_value, abs=1e-6)
    top = e.get_top_k_indices(5)
    names = e.feature_names()
    assert [names[i] for i in top] == e.get_top_k_features(5)
    magnitudes = [abs(importance[names[i]]) for i in top]
    assert magnitudes == sorted(magnitudes, reverse=True)
    assert magnitudes[0] == max(abs(v) for v in importance.values())
    assert a.output_display_name in ("malignant", "benign")
    assert e.get_attribution(a.output_display_name) is a
    assert e.get_attribution(a.label_index) is a


def test_top_k_and_output_indices_params(cli):
    instances = read_instances("breast_cancer_mlp")[:2]
    model = load_model_from_local_path(model_dir("breast_cancer_mlp"))
    [e] = model.explain(instances[:1], params={"topK": 2})
    assert len(e.attributions) == 2
    assert sorted(e.label_indices()) == [0, 1]
    scores = [a.instance_output_value for a in e.attributions]
    assert scores == sorted(scores, reverse=True)
    assert e.get_attribution(0).label_index == 0 and e.get_attribution(1).label_index == 1
    [e] = model.explain(instances[:1], params={"outputIndices": [0]})
    assert e.label_indices() == [0]
    with pytest.raises(KeyError):
        e.get_attribution(1)
    # The same as the CLI's --output-indices, and a JSON string works too.
    [got] = model.explain(instances[:1], params='{"parameters": {"outputIndices": [0]}}')
    [want] = cli.explain(model_dir("breast_cancer_mlp"), instances[:1], "--output-indices", "[0]")
    assert_same_explanation(got.to_json(), want)
    # Overrides leave the model as it was.
    [plain] = model.explain(instances[:1])
    assert len(plain.attributions) == 1


def test_baseline_override_params():
    model = load_model_from_local_path(model_dir("peer_linear"))
    override = {"metadata": {"inputs": {"x": {"inputBaselines": [[0, 0, 0]]}}}}
    [e] = model.explain([LINEAR], params=override)
    assert e.feature_importance() == pytest.approx({"x0": 60.0, "x1": 180.0, "x2": 120.0})


def _captum_relative_error(got: np.ndarray, want: np.ndarray) -> float:
    return float(np.abs(got - want).max() / np.abs(want).max())


def test_digits_ig_matches_captum():
    captum = json.loads((MODELS / "digits_cnn" / "captum_ig.json").read_text())
    instances = read_instances("digits_cnn")
    model = load_model_from_local_path(model_dir("digits_cnn"))
    assert model.metadata["inputs"]["image"]["modality"] == "image"
    for instance, ref in zip(instances, captum["instances"]):
        [e] = model.explain([instance], params={"outputIndices": [ref["target"]]})
        got = e.as_tensors(ref["target"])["image"]
        want = np.asarray(ref["attributions"], dtype=np.float64)
        assert got.shape == want.shape == (28, 28, 1)
        assert _captum_relative_error(got, want) < 1e-3
        a = e.get_attribution(ref["target"])
        assert a.instance_output_value == pytest.approx(ref["output"], rel=1e-4)
        assert a.baseline_output_value == pytest.approx(ref["baseline_output"], rel=1e-3, abs=1e-6)


def test_digits_numpy_batch_matches_the_cli(cli):
    instances = read_instances("digits_cnn")
    # float64 holds the instances' decimals exactly as the CLI reads them.
    images = np.stack([np.asarray(i["image"], dtype=np.float64) for i in instances])
    model = load_model_from_local_path(model_dir("digits_cnn"))
    got = model.explain(images)
    assert model.explain(images.astype(np.float32))[0].as_tensors()["image"].shape == (28, 28, 1)
    want = cli.explain(model_dir("digits_cnn"), instances)
    for g, w in zip(got, want):
        # Bare rows are reported under the model's one feature, like named ones.
        assert_same_explanation(g.to_json(), w, rel=1e-6)


def test_text_ig_matches_captum_and_the_cli(cli):
    captum = json.loads((MODELS / "text_sentiment" / "captum_ig.json").read_text())
    instances = read_instances("text_sentiment")
    model = load_model_from_local_path(model_dir("text_sentiment"))
    explanations = model.explain(instances, params={"outputIndices": [1]})
    want = cli.explain(model_dir("text_sentiment"), instances, "--output-indices", "[1]")
    for e, w, ref in zip(explanations, want, captum["instances"]):
        assert_same_explanation(e.to_json(), w)
        if ref["target"] == 1:
            got = e.as_tensors(1)["tokens"]
            assert got.shape == (12,)
            assert _captum_relative_error(got, np.asarray(ref["attributions"])) < 1e-3
        assert e.get_attribution("positive").label_index == 1


def test_smoothgrad_and_blur_configs_match_the_cli(cli, tmp_path: Path):
    instances = read_instances("digits_cnn")[:1]
    config = IntegratedGradientsConfig(step_count=8, smoothgrad_noise_sigma=0.1, smoothgrad_noisy_sample_count=3)
    model = load_model_from_local_path(model_dir("digits_cnn"), config)
    spec = tmp_path / "params.json"
    spec.write_text(json.dumps(config.to_parameters()))
    assert_same_explanation(model.explain(instances)[0].to_json(), cli.explain(model_dir("digits_cnn"), instances, "--spec", str(spec))[0], rel=1e-6)
    blur = IntegratedGradientsConfig(step_count=8, blur_max_sigma=3.0)
    spec.write_text(json.dumps(blur.to_parameters()))
    got = model.explain(instances, params=None)  # the loaded config still applies
    assert got[0].to_json() == model.explain(instances)[0].to_json()
    blurred = load_model_from_local_path(model_dir("digits_cnn"), blur).explain(instances)[0]
    assert_same_explanation(blurred.to_json(), cli.explain(model_dir("digits_cnn"), instances, "--spec", str(spec))[0], rel=1e-6)
    assert config.to_parameters() == {
        "integratedGradientsAttribution": {
            "stepCount": 8,
            "smoothGradConfig": {"noiseSigma": 0.1, "noisySampleCount": 3},
        }
    }
    per_feature = IntegratedGradientsConfig(smoothgrad_noise_sigma={"image": 0.2})
    assert per_feature.to_parameters()["integratedGradientsAttribution"]["smoothGradConfig"] == {
        "featureNoiseSigma": {"noiseSigma": [{"name": "image", "sigma": 0.2}]}
    }


def test_xrai_config(cli, tmp_path: Path):
    instances = read_instances("digits_cnn")[:1]
    config = XraiConfig(step_count=10)
    model = load_model_from_local_path(model_dir("digits_cnn"), config)
    [e] = model.explain(instances)
    t = e.as_tensors()["image"]
    assert t.shape == (28, 28, 1)
    spec = tmp_path / "xrai.json"
    spec.write_text(json.dumps(config.to_parameters()))
    [want] = cli.explain(model_dir("digits_cnn"), instances, "--spec", str(spec))
    assert_same_explanation(e.to_json(), want, rel=1e-6)
    # A config given to explain replaces the method for that call only.
    [ig] = model.explain(instances, params=IntegratedGradientsConfig(step_count=10))
    assert not np.allclose(ig.as_tensors()["image"], t)


def test_predict():
    model = load_model_from_local_path(model_dir("peer_linear"))
    [p] = model.predict([[1, 1, 1]])
    assert list(p) == ["y"]
    np.testing.assert_allclose(p["y"], [14.0])
    expected = json.loads((MODELS / "breast_cancer_mlp" / "expected_outputs.json").read_text())
    rows = np.asarray(expected["inputs"]["input"]["data"], dtype=np.float32).reshape(expected["inputs"]["input"]["shape"])
    predictions = load_model_from_local_path(model_dir("breast_cancer_mlp")).predict(rows)
    probs = np.asarray(expected["outputs"]["probabilities"]["data"]).reshape(expected["outputs"]["probabilities"]["shape"])
    np.testing.assert_allclose(np.stack([p["probabilities"] for p in predictions]), probs, rtol=1e-5, atol=1e-6)


def test_threads_share_a_model():
    # The engine releases the GIL; threads sharing one model get the serial answers.
    instances = read_instances("breast_cancer_mlp")
    model = load_model_from_local_path(model_dir("breast_cancer_mlp"), SampledShapleyConfig(path_count=2))
    serial = [e.to_json() for e in model.explain(instances)]
    results: dict = {}
    errors: list = []

    def work(k: int) -> None:
        try:
            params = {"topK": 1} if k % 2 else None
            results[k] = [e.to_json() for e in model.explain(instances, params=params)]
        except Exception as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(results) == 6
    for k, got in results.items():
        assert got == serial, k


def test_model_repr_and_signature():
    model = load_model_from_local_path(model_dir("digits_cnn"))
    sig = model.signature
    assert sig["inputs"][0]["name"] == "image"
    assert sig["inputs"][0]["dtype"] == "float32"
    assert sig["inputs"][0]["shape"][1:] == [28, 28, 1]
    assert "LocalModel" in repr(model)
    assert prism_xai.__version__
