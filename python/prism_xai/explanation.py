"""``Explanation`` and ``Attribution``: one instance's explanation, as Python objects.

An :class:`Explanation` wraps one Vertex ``Explanation`` JSON object (``to_json()`` gives
it back unchanged) together with the instance it explains and the model's explanation
metadata, which the plots need (which feature is an image, which is text).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Dict, List, Optional, Tuple, Union

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from matplotlib.figure import Figure

__all__ = ["Attribution", "Explanation", "LabelIndex"]

#: How a caller names an explained output: its index (``3``), its index tuple for a
#: multi-dimensional output (``(0, 3)``), or its display name (``"positive"``).
LabelIndex = Union[int, Sequence[int], str]


def _copy_json(value: Any) -> Any:
    """A copy of a JSON document (dicts, lists and scalars): ``copy.deepcopy`` for JSON,
    several times faster."""
    if isinstance(value, dict):
        return {k: _copy_json(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_copy_json(v) for v in value]
    return value


def _double(v: Any) -> float:
    # proto3 JSON writes non-finite doubles as "NaN", "Infinity", "-Infinity".
    return float(v) if v is not None else 0.0


class Attribution:
    """The attribution of one output (Vertex ``Attribution``).

    Vertex names and ``explainable_ai_sdk`` names are both available:
    ``baseline_output_value`` / ``baseline_score``, ``instance_output_value`` /
    ``example_score``, ``approximation_error`` / ``approx_error``, ``output_index`` /
    ``label_index``.
    """

    def __init__(self, data: Mapping[str, Any]):
        self._data = dict(data)
        self.baseline_output_value: float = _double(data.get("baselineOutputValue"))
        self.instance_output_value: float = _double(data.get("instanceOutputValue"))
        self.approximation_error: float = _double(data.get("approximationError"))
        self.feature_attributions: Dict[str, Any] = dict(data.get("featureAttributions") or {})
        index = data.get("outputIndex")
        self.output_index: Optional[List[int]] = list(index) if index is not None else None
        self.output_display_name: Optional[str] = data.get("outputDisplayName")
        self.output_name: str = data.get("outputName", "")

    @property
    def baseline_score(self) -> float:
        """The output at the baseline (``explainable_ai_sdk`` name)."""
        return self.baseline_output_value

    @property
    def example_score(self) -> float:
        """The output at the instance (``explainable_ai_sdk`` name)."""
        return self.instance_output_value

    @property
    def approx_error(self) -> float:
        """The approximation error (``explainable_ai_sdk`` name)."""
        return self.approximation_error

    @property
    def label_index(self) -> Optional[Union[int, Tuple[int, ...]]]:
        """The explained output's index: an ``int`` for a vector output, a tuple for higher
        ranks, ``None`` for a scalar output."""
        if self.output_index is None:
            return None
        if len(self.output_index) == 1:
            return self.output_index[0]
        return tuple(self.output_index)

    def matches(self, label: LabelIndex) -> bool:
        """Whether this is the output named by ``label`` (index, index tuple, display name)."""
        if isinstance(label, str):
            return self.output_display_name == label
        if isinstance(label, (int, np.integer)):
            return self.output_index == [int(label)]
        return self.output_index == [int(i) for i in label]

    def to_json(self) -> Dict[str, Any]:
        """The Vertex ``Attribution`` JSON object."""
        return _copy_json(self._data)

    def __repr__(self) -> str:
        label = self.output_display_name or self.label_index
        return (
            f"Attribution(output={self.output_name!r}, label={label!r}, "
            f"instance_output_value={self.instance_output_value:.6g}, "
            f"baseline_output_value={self.baseline_output_value:.6g}, "
            f"features={len(self.feature_attributions)})"
        )


class Explanation:
    """The explanation of one instance (Vertex ``Explanation``).

    ``attributions`` holds one :class:`Attribution` per explained output (the argmax by
    default; several with ``topK`` / ``outputIndices``); ``neighbors`` the nearest examples
    of example-based models (dicts with ``neighborId`` and ``neighborDistance``).
    """

    def __init__(
        self,
        data: Mapping[str, Any],
        instance: Any = None,
        metadata: Optional[Mapping[str, Any]] = None,
    ):
        self._data: Optional[Dict[str, Any]] = dict(data)
        self._text: Optional[str] = None
        self.instance = instance
        self.metadata: Dict[str, Any] = dict(metadata or {})
        self._attributions: Optional[List[Attribution]] = None
        self._neighbors: Optional[List[Dict[str, Any]]] = None

    @classmethod
    def _from_text(
        cls, text: str, instance: Any = None, metadata: Optional[Mapping[str, Any]] = None
    ) -> "Explanation":
        """An explanation from its Vertex JSON text, parsed when first needed: the engine
        writes explanations as text in its parallel pass."""
        e = cls({}, instance, metadata)
        e._data = None
        e._text = text
        return e

    def _json(self) -> Dict[str, Any]:
        if self._data is None:
            self._data = json.loads(self._text)
        return self._data

    @property
    def attributions(self) -> List[Attribution]:
        """One :class:`Attribution` per explained output, in response order."""
        if self._attributions is None:
            self._attributions = [Attribution(a) for a in self._json().get("attributions") or []]
        return self._attributions

    @property
    def neighbors(self) -> List[Dict[str, Any]]:
        """The nearest examples (example-based models): dicts with ``neighborId`` and
        ``neighborDistance``."""
        if self._neighbors is None:
            self._neighbors = [dict(n) for n in self._json().get("neighbors") or []]
        return self._neighbors

    # -- choosing an output -------------------------------------------------------------

    def label_indices(self) -> List[Optional[Union[int, Tuple[int, ...]]]]:
        """The ``label_index`` of every explained output, in response order."""
        return [a.label_index for a in self.attributions]

    def get_attribution(self, label_index: Optional[LabelIndex] = None) -> Attribution:
        """The attribution of one explained output: the first one (the argmax, or the top
        output with ``topK``) when ``label_index`` is ``None``; else the output with that
        index, index tuple or display name. Raises ``KeyError`` for an output that was not
        explained."""
        if not self.attributions:
            raise KeyError("this explanation has no attributions (an example-based model?)")
        if label_index is None:
            return self.attributions[0]
        for a in self.attributions:
            if a.matches(label_index):
                return a
        raise KeyError(
            f"output {label_index!r} was not explained; explained: {self.label_indices()} "
            "(ask for more with the topK or outputIndices parameters)"
        )

    # -- numbers ------------------------------------------------------------------------

    def feature_names(self) -> List[str]:
        """The attributed features (or groups), in response order."""
        if not self.attributions:
            return []
        return list(self.attributions[0].feature_attributions)

    def as_tensors(self, label_index: Optional[LabelIndex] = None) -> Dict[str, np.ndarray]:
        """Feature name → attribution as a float64 array shaped like the feature (0-d for a
        scalar feature)."""
        attribution = self.get_attribution(label_index)
        return {
            name: np.asarray(value, dtype=np.float64)
            for name, value in attribution.feature_attributions.items()
        }

    def feature_importance(self, label_index: Optional[LabelIndex] = None) -> Dict[str, float]:
        """Feature name → its total attribution (the sum over its values for array
        features such as images and token lists)."""
        return {
            name: float(t.sum()) for name, t in self.as_tensors(label_index).items()
        }

    def get_top_k_indices(self, k: int = 10, label_index: Optional[LabelIndex] = None) -> List[int]:
        """Positions of the ``k`` largest attributions by magnitude, largest first.

        Positions index the attributions of every feature flattened and concatenated in
        :meth:`feature_names` order: for scalar features, position ``i`` is feature
        ``feature_names()[i]``; for one array feature (an image), it is the flat index into
        that array (``numpy.unravel_index`` gives its coordinates).
        """
        tensors = self.as_tensors(label_index)
        if not tensors:
            return []
        flat = np.concatenate([t.reshape(-1) for t in tensors.values()])
        order = np.argsort(-np.abs(flat), kind="stable")
        return [int(i) for i in order[: max(k, 0)]]

    def get_top_k_features(self, k: int = 10, label_index: Optional[LabelIndex] = None) -> List[str]:
        """Names of the ``k`` features with the largest total attribution by magnitude."""
        importance = self.feature_importance(label_index)
        ranked = sorted(importance, key=lambda n: -abs(importance[n]))
        return ranked[: max(k, 0)]

    # -- pictures -----------------------------------------------------------------------

    def visualize_top_k_features(
        self, k: int = 10, label_index: Optional[LabelIndex] = None
    ) -> "Figure":
        """A bar chart of the ``k`` features with the largest total attribution (matplotlib
        ``Figure``; needs matplotlib)."""
        from . import visualize

        return visualize.top_k_features(self, k, label_index)

    def visualize_attributions(
        self,
        label_index: Optional[LabelIndex] = None,
        vocabulary: Optional[Union[Mapping[int, str], Sequence[str]]] = None,
    ) -> "Figure":
        """Every feature's attributions drawn the way its modality calls for: images as a
        heat map over the image, text as shaded tokens (token ids are shown through
        ``vocabulary`` when given), other features as bars. Returns a matplotlib
        ``Figure``; needs matplotlib."""
        from . import visualize

        return visualize.attributions(self, label_index, vocabulary)

    # -- JSON ---------------------------------------------------------------------------

    def to_json(self) -> Dict[str, Any]:
        """The Vertex ``Explanation`` JSON object (a new one on every call)."""
        if self._data is None and self._text is not None:
            return json.loads(self._text)
        return _copy_json(self._json())

    def __repr__(self) -> str:
        if self.neighbors:
            return f"Explanation(neighbors={len(self.neighbors)})"
        return f"Explanation(attributions={self.attributions!r})"
