"""Pictures of explanations with matplotlib (imported only when a picture is asked for).

Figures are built with ``matplotlib.figure.Figure`` directly, not through pyplot: nothing
global is touched, no display is needed, and a notebook shows the returned figure.

- images (modality ``image``): the image, the attribution heat map, and the heat map over
  the image, following the input's ``visualization`` metadata (polarity, colour map,
  clipping percentiles, overlay type);
- text (modality ``text``): the tokens on backgrounds shaded by attribution (green
  positive, pink negative);
- everything else: bars, one per feature (or per position of an array feature).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

    from .explanation import Explanation, LabelIndex

Vocabulary = Union[Mapping[int, str], Sequence[str]]

_DIVERGING = {
    "PINK_GREEN": "PiYG",
    "PINK_WHITE_GREEN": "PiYG",
    "RED_GREEN": "RdYlGn",
    "VIRIDIS": "viridis",
    "RED": "Reds",
    "GREEN": "Greens",
}


def _figure(width: float, height: float) -> "Figure":
    try:
        from matplotlib.figure import Figure
    except ImportError as e:  # pragma: no cover - depends on the environment
        raise ImportError(
            "pictures need matplotlib: pip install matplotlib (or prism-xai[viz])"
        ) from e
    return Figure(figsize=(width, height), layout="constrained")


def _title(explanation: "Explanation", label_index: "Optional[LabelIndex]") -> str:
    a = explanation.get_attribution(label_index)
    label = a.output_display_name or (a.label_index if a.label_index is not None else "")
    return (
        f"{a.output_name} {label}: output {a.instance_output_value:.4g} "
        f"(baseline {a.baseline_output_value:.4g})"
    ).strip()


def top_k_features(
    explanation: "Explanation", k: int, label_index: "Optional[LabelIndex]"
) -> "Figure":
    """Horizontal bars of the ``k`` features with the largest total attribution."""
    importance = explanation.feature_importance(label_index)
    names = explanation.get_top_k_features(k, label_index)
    values = [importance[n] for n in names]
    fig = _figure(7, 0.4 * max(len(names), 1) + 1.2)
    ax = fig.add_subplot()
    colors = ["#1a9641" if v >= 0 else "#d01c8b" for v in values]
    ax.barh(range(len(names)), values, color=colors)
    ax.set_yticks(range(len(names)), labels=names)
    ax.invert_yaxis()
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_xlabel("attribution")
    ax.set_title(_title(explanation, label_index), fontsize=10)
    return fig


def _input_metadata(explanation: "Explanation") -> Dict[str, Dict[str, Any]]:
    return dict(explanation.metadata.get("inputs") or {})


def _feature_value(explanation: "Explanation", name: str) -> Any:
    instance = explanation.instance
    if isinstance(instance, Mapping):
        return instance.get(name)
    # A bare instance belongs to the model's only feature.
    if len(explanation.feature_names()) == 1:
        return instance
    return None


def attributions(
    explanation: "Explanation",
    label_index: "Optional[LabelIndex]",
    vocabulary: Optional[Vocabulary],
) -> "Figure":
    """Every feature drawn by modality; scalar features share one bar chart."""
    tensors = explanation.as_tensors(label_index)
    inputs = _input_metadata(explanation)
    panels: List[Tuple[str, str, np.ndarray]] = []  # (kind, name, attribution)
    scalars: Dict[str, float] = {}
    for name, t in tensors.items():
        modality = (inputs.get(name) or {}).get("modality", "numeric")
        if modality == "image" and t.ndim >= 2:
            panels.append(("image", name, t))
        elif modality == "text" and t.ndim == 1:
            panels.append(("text", name, t))
        elif t.ndim == 0:
            scalars[name] = float(t)
        else:
            panels.append(("bars", name, t))
    rows = len(panels) + (1 if scalars else 0)
    heights = [3.2 if kind == "image" else 1.0 if kind == "text" else 2.8 for kind, _, _ in panels]
    if scalars:
        heights.append(0.35 * len(scalars) + 1.0)
    fig = _figure(10, sum(heights) + 0.6)
    grid = fig.add_gridspec(max(rows, 1), 1, height_ratios=heights or [1])
    for row, (kind, name, t) in enumerate(panels):
        if kind == "image":
            sub = grid[row].subgridspec(1, 3)
            axes = [fig.add_subplot(sub[0, i]) for i in range(3)]
            _draw_image(axes, name, t, _feature_value(explanation, name), inputs.get(name) or {})
        elif kind == "text":
            _draw_text(fig.add_subplot(grid[row]), name, t, _feature_value(explanation, name), vocabulary)
        else:
            ax = fig.add_subplot(grid[row])
            flat = t.reshape(-1)
            ax.bar(range(len(flat)), flat, color=["#1a9641" if v >= 0 else "#d01c8b" for v in flat])
            ax.axhline(0, color="black", linewidth=0.8)
            ax.set_title(name, fontsize=10)
            ax.set_xlabel("position")
    if scalars:
        ax = fig.add_subplot(grid[len(panels)])
        names = list(scalars)
        values = [scalars[n] for n in names]
        ax.barh(range(len(names)), values, color=["#1a9641" if v >= 0 else "#d01c8b" for v in values])
        ax.set_yticks(range(len(names)), labels=names)
        ax.invert_yaxis()
        ax.axvline(0, color="black", linewidth=0.8)
        ax.set_xlabel("attribution")
    fig.suptitle(_title(explanation, label_index), fontsize=11)
    return fig


def _to_2d(t: np.ndarray) -> Tuple[np.ndarray, str]:
    """Attributions (or pixels) as height × width, channels summed; the layout found."""
    if t.ndim == 2:
        return t, "hw"
    if t.ndim == 3 and t.shape[-1] in (1, 3, 4):
        return t.sum(axis=-1), "hwc"
    if t.ndim == 3 and t.shape[0] in (1, 3, 4):
        return t.sum(axis=0), "chw"
    return t.reshape(t.shape[0], -1), "hw"


def _image_pixels(value: Any, layout: str) -> Optional[np.ndarray]:
    if value is None:
        return None
    img = np.asarray(value, dtype=np.float64)
    if layout == "chw":
        img = np.moveaxis(img, 0, -1)
    if img.ndim == 3 and img.shape[-1] == 1:
        img = img[..., 0]
    if img.ndim == 3 and img.shape[-1] == 4:
        img = img[..., :3]
    lo, hi = float(img.min()), float(img.max())
    return (img - lo) / (hi - lo) if hi > lo else np.zeros_like(img)


def heatmap(t: np.ndarray, visualization: Mapping[str, Any]) -> Tuple[np.ndarray, str, bool]:
    """The attribution heat map: height × width in [0, 1] (in [-1, 1] for polarity BOTH),
    after polarity and percentile clipping; also the colour map name and whether the map
    is signed."""
    a, _ = _to_2d(np.asarray(t, dtype=np.float64))
    polarity = str(visualization.get("polarity", "POSITIVE")).upper()
    upper = float(visualization.get("clipPercentUpperbound", 99.9))
    lower = float(visualization.get("clipPercentLowerbound", 62.0))
    color_map = str(visualization.get("colorMap", "PINK_GREEN")).upper()
    signed = polarity == "BOTH"
    if polarity == "NEGATIVE":
        mag = np.maximum(-a, 0.0)
    elif signed:
        mag = np.abs(a)
    else:
        mag = np.maximum(a, 0.0)
    hi = float(np.percentile(mag, upper)) if mag.size else 0.0
    lo = float(np.percentile(mag, lower)) if mag.size else 0.0
    if hi <= lo:
        scaled = np.where(mag > 0, 1.0, 0.0) if hi <= 0 else (mag >= hi).astype(np.float64)
    else:
        scaled = np.clip((mag - lo) / (hi - lo), 0.0, 1.0)
    if signed:
        scaled = scaled * np.sign(a)
        cmap = _DIVERGING.get(color_map, "PiYG")
    elif polarity == "NEGATIVE":
        cmap = "RdPu" if color_map in ("PINK_GREEN", "PINK_WHITE_GREEN") else "Reds"
    else:
        cmap = {"VIRIDIS": "viridis", "RED": "Reds"}.get(color_map, "Greens")
    return scaled, cmap, signed


def _draw_image(axes: List[Any], name: str, t: np.ndarray, value: Any, meta: Mapping[str, Any]) -> None:
    visualization = meta.get("visualization") or {}
    scaled, cmap, signed = heatmap(t, visualization)
    _, layout = _to_2d(t)
    pixels = _image_pixels(value, layout)
    vmin = -1.0 if signed else 0.0
    if pixels is not None:
        axes[0].imshow(pixels, cmap="gray" if pixels.ndim == 2 else None)
    axes[0].set_title(f"{name}", fontsize=9)
    axes[1].imshow(scaled, cmap=cmap, vmin=vmin, vmax=1.0)
    axes[1].set_title("attribution", fontsize=9)
    overlay = str(visualization.get("overlayType", "GRAYSCALE")).upper()
    if pixels is not None and overlay != "NONE":
        if overlay == "MASK_BLACK":
            mask = np.abs(scaled)
            shown = pixels * (mask if pixels.ndim == 2 else mask[..., None])
            axes[2].imshow(shown, cmap="gray" if shown.ndim == 2 else None)
        else:
            base = pixels
            if overlay == "GRAYSCALE" and base.ndim == 3:
                base = base.mean(axis=-1)
            axes[2].imshow(base, cmap="gray" if base.ndim == 2 else None)
            alpha = np.clip(np.abs(scaled), 0.0, 1.0) * 0.8
            axes[2].imshow(scaled, cmap=cmap, vmin=vmin, vmax=1.0, alpha=alpha)
    else:
        axes[2].imshow(scaled, cmap=cmap, vmin=vmin, vmax=1.0)
    axes[2].set_title("overlay", fontsize=9)
    for ax in axes:
        ax.set_xticks([])
        ax.set_yticks([])


def token_labels(value: Any, count: int, vocabulary: Optional[Vocabulary]) -> List[str]:
    """The words of a text feature: strings as they are, token ids through ``vocabulary``
    (a dict id → word, or a list indexed by id), else the ids themselves."""
    items = list(np.asarray(value).reshape(-1)) if value is not None else list(range(count))
    labels = []
    for item in items[:count]:
        if isinstance(item, (str, np.str_)):
            labels.append(str(item))
            continue
        token = int(item)
        word: Optional[str] = None
        if isinstance(vocabulary, Mapping):
            word = vocabulary.get(token, vocabulary.get(str(token)))  # type: ignore[call-overload]
        elif vocabulary is not None and 0 <= token < len(vocabulary):
            word = vocabulary[token]
        labels.append(word if word is not None else str(token))
    return labels + [""] * (count - len(labels))


def _draw_text(ax: Any, name: str, t: np.ndarray, value: Any, vocabulary: Optional[Vocabulary]) -> None:
    from matplotlib import colormaps

    words = token_labels(value, len(t), vocabulary)
    peak = float(np.abs(t).max()) if t.size else 0.0
    cmap = colormaps["PiYG"]
    ax.set_axis_off()
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    x, y, per_char, line = 0.01, 0.7, 0.011, 0.3
    for word, v in zip(words, t):
        width = per_char * (len(word) + 2)
        if x + width > 1.0 and x > 0:
            x, y = 0.01, y - line
        shade = 0.5 + 0.5 * (float(v) / peak if peak > 0 else 0.0)
        ax.text(
            x,
            y,
            word,
            fontsize=10,
            va="center",
            color="white" if abs(shade - 0.5) > 0.3 else "black",
            bbox={"facecolor": cmap(shade), "edgecolor": "none", "boxstyle": "round,pad=0.2"},
        )
        x += width
    ax.set_title(f"{name} (green raises the output, pink lowers it)", fontsize=9)
