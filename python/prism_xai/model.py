"""Models: :func:`load_model_from_local_path` runs Prism's engine in this process."""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Mapping
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np

from . import _native
from ._instances import as_instance_list
from .configs import Config
from .explanation import Explanation

__all__ = ["Model", "LocalModel", "load_model_from_local_path", "Params"]

#: What ``explain(params=...)`` takes: a method config (replaces the method, keeps the
#: output selection and seed); a Vertex ``ExplanationSpecOverride`` dict
#: (``{"parameters": ..., "metadata": {"inputs": {name: {"inputBaselines": ...}}}}``); or
#: a dict of ExplanationParameters fields to override (``{"topK": 2}``,
#: ``{"sampledShapleyAttribution": {"pathCount": 25}}``), read as that override's
#: ``parameters``. A JSON string of either dict works too.
Params = Union[Config, Mapping[str, Any], str, None]

_METHOD_KEYS = (
    "sampledShapleyAttribution",
    "integratedGradientsAttribution",
    "xraiAttribution",
    "examples",
)
_OVERRIDE_KEYS = {"parameters", "metadata", "examplesOverride"}


def override_of(params: Union[Mapping[str, Any], str]) -> Dict[str, Any]:
    """The ExplanationSpecOverride a dict (or JSON string) of ``params`` stands for."""
    if isinstance(params, str):
        params = json.loads(params)
    if not isinstance(params, Mapping):
        raise TypeError(f"params: expected a config, a dict or a JSON string, got {type(params).__name__}")
    if params and set(params) <= _OVERRIDE_KEYS:
        return dict(params)
    return {"parameters": dict(params)}


def parameters_with_method(parameters: Mapping[str, Any], config: Config) -> Dict[str, Any]:
    """``parameters`` with its method replaced by ``config``'s (output selection and seed
    kept)."""
    kept = {k: v for k, v in parameters.items() if k not in _METHOD_KEYS}
    return {**config.to_parameters(), **kept}


class Model:
    """What every Prism model offers: ``explain`` and ``predict``."""

    def explain(self, instances: Any, params: Params = None) -> List[Explanation]:
        """Explains each instance; one :class:`Explanation` per instance, in order.

        ``instances``: a list of instances — dicts of feature name → number, list or
        numpy array, or (for a model with one input feature) bare lists or arrays — or a
        numpy array with one instance per row. ``params``: see :data:`Params`.
        """
        raise NotImplementedError

    def predict(self, instances: Any) -> List[Dict[str, np.ndarray]]:
        """Runs the model on each instance: one dict of output name → array per instance."""
        raise NotImplementedError

    @property
    def spec(self) -> Dict[str, Any]:
        """The ExplanationSpec in force, as Vertex JSON."""
        raise NotImplementedError

    @property
    def metadata(self) -> Dict[str, Any]:
        """The explanation metadata (inputs and output), as Vertex JSON."""
        return dict(self.spec.get("metadata") or {})


def _predictions(raw: Sequence[Mapping[str, Any]]) -> List[Dict[str, np.ndarray]]:
    return [{name: np.asarray(value) for name, value in p.items()} for p in raw]


class LocalModel(Model):
    """A model directory explained in this process by Prism's engine.

    Thread-safe: the engine computes without holding the GIL, so several threads can
    explain with one model at once (the engine itself already uses every core for a list
    of instances).
    """

    def __init__(self, explainer: "_native.Explainer", model_dir: Optional[str] = None):
        self._explainer = explainer
        self.model_dir = model_dir
        self._spec = explainer.spec()
        self._variants: Dict[Any, "_native.Explainer"] = {}
        self._lock = threading.Lock()

    @property
    def spec(self) -> Dict[str, Any]:
        return json.loads(json.dumps(self._spec))

    @property
    def signature(self) -> Dict[str, List[Dict[str, Any]]]:
        """The ONNX model's inputs and outputs (name, dtype, shape)."""
        return self._explainer.signature()

    def with_config(self, config: Config) -> "LocalModel":
        """The same model explained with another method (output selection and seed kept)."""
        return LocalModel(self._explainer_for(config), self.model_dir)

    def _explainer_for(self, params: Params) -> "_native.Explainer":
        if params is None:
            return self._explainer
        if isinstance(params, Config):
            key: Any = ("config", json.dumps(params.to_parameters(), sort_keys=True))
        else:
            key = ("override", json.dumps(override_of(params), sort_keys=True, default=_jsonable))
        with self._lock:
            cached = self._variants.get(key)
        if cached is not None:
            return cached
        if isinstance(params, Config):
            variant = self._explainer.with_parameters(
                parameters_with_method(self._spec["parameters"], params)
            )
        else:
            variant = self._explainer.with_override(json.loads(key[1]))
        with self._lock:
            if len(self._variants) >= 16:
                self._variants.clear()
            self._variants[key] = variant
        return variant

    def explain(self, instances: Any, params: Params = None) -> List[Explanation]:
        explainer = self._explainer_for(params)
        items = as_instance_list(instances)
        raw = explainer.explain(items)
        metadata = explainer.spec().get("metadata") if params is not None else self._spec.get("metadata")
        return [Explanation._from_text(r, instance=i, metadata=metadata) for r, i in zip(raw, items)]

    def predict(self, instances: Any) -> List[Dict[str, np.ndarray]]:
        return _predictions(self._explainer.predict(as_instance_list(instances)))

    def __repr__(self) -> str:
        method = next((k for k in self._spec.get("parameters", {}) if k in _METHOD_KEYS), "?")
        return f"LocalModel({self.model_dir!r}, method={method})"


def _jsonable(value: Any) -> Any:
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    raise TypeError(f"cannot write a {type(value).__name__} as JSON")


def load_model_from_local_path(
    model_dir: Union[str, "os.PathLike[str]"], config: Optional[Config] = None
) -> LocalModel:
    """Loads a model directory — ``model.onnx``, ``explanation_metadata.json`` (Vertex or
    legacy ``explainable_ai_sdk`` format), optional ``explanation_spec.json`` — to explain
    in this process.

    ``config`` (:class:`SampledShapleyConfig`, :class:`IntegratedGradientsConfig`,
    :class:`XraiConfig`) replaces the directory's method; without it the directory's spec
    is used (Sampled Shapley with 10 paths when it has none). Raises
    :class:`InvalidSpecError` for a bad spec or metadata, :class:`ModelError` for a model
    that cannot be read or run.
    """
    path = os.fspath(model_dir)
    explainer = _native.Explainer.load(path)
    if config is not None:
        if not isinstance(config, Config):
            raise TypeError(
                "config: expected SampledShapleyConfig, IntegratedGradientsConfig or XraiConfig, "
                f"got {type(config).__name__}"
            )
        explainer = explainer.with_parameters(
            parameters_with_method(explainer.spec()["parameters"], config)
        )
    return LocalModel(explainer, path)
