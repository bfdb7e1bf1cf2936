"""`Explanation` and `Attribution` read from Vertex JSON, without a model."""

from __future__ import annotations

import math

import numpy as np
import pytest

from prism_xai import Explanation
from prism_xai._instances import as_instance_list, to_jsonable


def test_vertex_json_round_trip():
    data = {
        "attributions": [
            {
                "baselineOutputValue": 0.5,
                "instanceOutputValue": "Infinity",
                "featureAttributions": {"grid": [[1.0, -2.0], [3.0, 0.5]], "age": -4.0},
                "outputIndex": [1, 2],
                "approximationError": "NaN",
                "outputName": "scores",
            }
        ]
    }
    e = Explanation(data)
    a = e.get_attribution()
    assert a.label_index == (1, 2)
    assert e.get_attribution((1, 2)) is a
    assert math.isinf(a.instance_output_value) and math.isnan(a.approx_error)
    assert e.to_json() == data
    assert e.to_json() is not data
    # A copy all the way down: changing what to_json gave changes nothing else.
    copy = e.to_json()
    copy["attributions"][0]["featureAttributions"]["grid"][0][0] = 99.0
    assert e.to_json() == data and data["attributions"][0]["featureAttributions"]["grid"][0][0] == 1.0
    assert e.get_attribution().feature_attributions["grid"][0][0] == 1.0
    tensors = e.as_tensors()
    assert tensors["grid"].shape == (2, 2) and tensors["age"].shape == ()
    assert e.feature_importance() == {"grid": 2.5, "age": -4.0}
    # Flattened in feature order: grid's four values, then age.
    assert e.get_top_k_indices(2) == [4, 2]
    assert e.get_top_k_features(1) == ["age"]
    with pytest.raises(KeyError):
        e.get_attribution(3)


def test_an_explanation_from_the_engines_text_reads_the_same():
    """The engine hands explanations over as JSON text, parsed when first asked."""
    import json

    data = {
        "attributions": [
            {
                "baselineOutputValue": 0.1,
                "instanceOutputValue": 0.9,
                "featureAttributions": {"a": 0.5, "b": [0.25, 0.05]},
                "outputIndex": [1],
                "approximationError": 0.0,
                "outputName": "p",
            }
        ]
    }
    text = json.dumps(data)
    e = Explanation._from_text(text, instance={"a": 1, "b": [2, 3]}, metadata={"inputs": {}})
    first, second = e.to_json(), e.to_json()
    assert first == second == data and first is not second
    first["attributions"].clear()
    assert e.get_attribution(1).feature_attributions == {"a": 0.5, "b": [0.25, 0.05]}
    assert e.feature_importance() == {"a": 0.5, "b": pytest.approx(0.3)}
    assert e.to_json() == data and e.instance == {"a": 1, "b": [2, 3]}


def test_neighbors_of_example_based_models():
    e = Explanation({"neighbors": [{"neighborId": "7", "neighborDistance": 0.25}]})
    assert e.neighbors == [{"neighborId": "7", "neighborDistance": 0.25}]
    assert e.attributions == [] and e.feature_names() == []
    with pytest.raises(KeyError):
        e.get_attribution()
    assert "neighbors=1" in repr(e)


def test_instance_lists():
    assert len(as_instance_list(np.zeros((3, 4)))) == 3
    assert as_instance_list({"a": 1}) == [{"a": 1}]
    assert as_instance_list(({"a": 1}, {"a": 2})) == [{"a": 1}, {"a": 2}]
    with pytest.raises(TypeError):
        as_instance_list("not instances")

    class Frame:  # what pandas offers
        columns = ["a"]

        def to_dict(self, orient: str):
            assert orient == "records"
            return [{"a": 1}, {"a": 2}]

    assert as_instance_list(Frame()) == [{"a": 1}, {"a": 2}]
    assert to_jsonable({"x": np.arange(3), "y": (np.float32(1.5),)}) == {"x": [0, 1, 2], "y": [1.5]}
