"""Pictures: figures are returned (no display needed) and show what they should."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from matplotlib.figure import Figure  # noqa: E402

from prism_xai import load_model_from_local_path  # noqa: E402
from prism_xai.visualize import heatmap, token_labels  # noqa: E402

from conftest import MODELS, model_dir, read_instances  # noqa: E402


def _png(fig: Figure) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    data = buf.getvalue()
    assert data.startswith(b"\x89PNG")
    return data


def test_tabular_top_k_bars():
    model = load_model_from_local_path(model_dir("breast_cancer_mlp"))
    [e] = model.explain(read_instances("breast_cancer_mlp")[:1])
    fig = e.visualize_top_k_features(5)
    assert isinstance(fig, Figure)
    [ax] = fig.axes
    assert len(ax.patches) == 5
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == e.get_top_k_features(5)
    widths = [p.get_width() for p in ax.patches]
    importance = e.feature_importance()
    assert widths == pytest.approx([importance[n] for n in labels])
    _png(fig)
    # Every feature in one bar chart.
    fig = e.visualize_attributions()
    assert len(fig.axes) == 1 and len(fig.axes[0].patches) == 30
    _png(fig)


def test_image_heatmap_overlay():
    model = load_model_from_local_path(model_dir("digits_cnn"))
    [e] = model.explain(read_instances("digits_cnn")[:1])
    fig = e.visualize_attributions()
    assert len(fig.axes) == 3  # image, heat map, overlay
    image_ax, heat_ax, overlay_ax = fig.axes
    assert len(image_ax.images) == 1 and image_ax.images[0].get_array().shape == (28, 28)
    assert len(heat_ax.images) == 1
    assert len(overlay_ax.images) == 2  # grayscale image + heat map on top
    _png(fig)


def test_heatmap_follows_the_visualization_settings():
    a = np.zeros((4, 4, 1))
    a[0, 0, 0] = 2.0
    a[1, 1, 0] = -3.0
    scaled, cmap, signed = heatmap(a, {"polarity": "POSITIVE", "clipPercentLowerbound": 0, "clipPercentUpperbound": 100})
    assert not signed and scaled[0, 0] == 1.0 and scaled[1, 1] == 0.0 and cmap == "Greens"
    scaled, _, _ = heatmap(a, {"polarity": "NEGATIVE", "clipPercentLowerbound": 0, "clipPercentUpperbound": 100})
    assert scaled[1, 1] == 1.0 and scaled[0, 0] == 0.0
    scaled, cmap, signed = heatmap(a, {"polarity": "BOTH", "clipPercentLowerbound": 0, "clipPercentUpperbound": 100})
    assert signed and cmap == "PiYG"
    assert scaled[1, 1] == -1.0 and scaled[0, 0] == pytest.approx(2 / 3)


def test_text_tokens_are_shaded():
    vocab = json.loads((MODELS / "text_sentiment" / "vocab.json").read_text())
    model = load_model_from_local_path(model_dir("text_sentiment"))
    instance = read_instances("text_sentiment")[0]
    [e] = model.explain([instance])
    fig = e.visualize_attributions(vocabulary={int(k): v for k, v in vocab.items()})
    [ax] = fig.axes
    words = [t.get_text() for t in ax.texts]
    assert words == [vocab[str(i)] for i in instance["tokens"]]
    faces = [t.get_bbox_patch().get_facecolor() for t in ax.texts]
    t = e.as_tensors()["tokens"]
    # The token of the largest attribution gets the end of the colour map of its sign.
    from matplotlib import colormaps

    peak = int(np.argmax(np.abs(t)))
    assert faces[peak] == pytest.approx(colormaps["PiYG"](1.0 if t[peak] > 0 else 0.0))
    _png(fig)
    assert token_labels([3, 99], 2, ["a", "b", "c", "d"]) == ["d", "99"]
