"""Explanation metadata for ONNX models: :class:`OnnxMetadataBuilder`.

The builder starts from what the graph says (one input entry per model input, with a
modality guess, and the first floating-point output — the engine's ``infer_metadata``,
the same as ``prism metadata infer``) and lets you describe each input the way
``explainable_ai_sdk``'s builders did. ``save_metadata`` writes Vertex
``ExplanationMetadata`` JSON (camelCase), or with ``legacy=True`` the old SDK's
snake_case ``explanation_metadata.json``; Prism reads both.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Dict, List, Optional, Union

import numpy as np

from . import _native
from ._instances import to_jsonable
from .configs import Config
from .errors import InvalidSpecError, make_error

__all__ = ["OnnxMetadataBuilder", "to_legacy_metadata", "METADATA_FILE", "MODEL_FILE", "SPEC_FILE"]

MODEL_FILE = "model.onnx"
METADATA_FILE = "explanation_metadata.json"
SPEC_FILE = "explanation_spec.json"

Baselines = Union[np.ndarray, Sequence[Any], float, int]
PathLike = Union[str, "os.PathLike[str]"]


def _camel(key: str) -> str:
    head, *rest = key.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def _snake(key: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", key).lower()


def _baselines(value: Optional[Baselines]) -> Optional[List[Any]]:
    """Metadata ``inputBaselines``: a numpy array or a number is ONE baseline; a list or
    tuple is a list of baselines (each a number, a nested list or an array)."""
    if value is None:
        return None
    if isinstance(value, (np.ndarray, np.generic, int, float)):
        return [to_jsonable(value)]
    return [to_jsonable(v) for v in value]


class OnnxMetadataBuilder:
    """Builds ``explanation_metadata.json`` for an ONNX model.

    Inputs are named by the model input they feed (``input_name``) or by their current
    feature name; ``new_name`` renames the feature (the model input it feeds stays the
    same). Every setter returns the builder, so calls chain.
    """

    def __init__(self, model_path: PathLike):
        self.model_path = Path(model_path)
        inferred = _native.infer_metadata(os.fspath(self.model_path))
        self._inputs: Dict[str, Dict[str, Any]] = dict(inferred.get("inputs") or {})
        self._outputs: Dict[str, Dict[str, Any]] = dict(inferred.get("outputs") or {})

    # -- finding entries ----------------------------------------------------------------

    def _key(self, name: str) -> str:
        if name in self._inputs:
            return name
        for key, entry in self._inputs.items():
            if entry.get("inputTensorName") == name:
                return key
        raise make_error(
            InvalidSpecError,
            f"inputs: no input named {name!r} (inputs: {', '.join(self._inputs) or 'none'})",
            f"inputs.{name}",
        )

    def _update(
        self,
        input_name: str,
        new_name: Optional[str],
        modality: str,
        fields: Mapping[str, Any],
    ) -> "OnnxMetadataBuilder":
        key = self._key(input_name)
        entry = dict(self._inputs[key])
        entry.setdefault("inputTensorName", key)
        entry["modality"] = modality
        for field, value in fields.items():
            if value is not None:
                entry[field] = value
        if new_name is not None and new_name != key:
            if new_name in self._inputs:
                raise make_error(
                    InvalidSpecError, f"inputs: {new_name!r} is already an input", f"inputs.{new_name}"
                )
            self._inputs = {(new_name if k == key else k): (entry if k == key else v) for k, v in self._inputs.items()}
        else:
            self._inputs[key] = entry
        return self

    # -- inputs -------------------------------------------------------------------------

    def set_numeric_metadata(
        self,
        input_name: str,
        new_name: Optional[str] = None,
        input_baselines: Optional[Baselines] = None,
        index_feature_mapping: Optional[Sequence[str]] = None,
        group_name: Optional[str] = None,
        domain: Optional[Mapping[str, float]] = None,
        encoding: Optional[str] = None,
    ) -> "OnnxMetadataBuilder":
        """A numeric input. ``index_feature_mapping`` names the columns of a tensor holding
        several scalar features; ``domain`` is ``{"min", "max", "original_mean",
        "original_stddev"}`` (any subset)."""
        return self._update(
            input_name,
            new_name,
            "numeric",
            {
                "inputBaselines": _baselines(input_baselines),
                "indexFeatureMapping": list(index_feature_mapping) if index_feature_mapping else None,
                "groupName": group_name,
                "featureValueDomain": _domain(domain),
                "encoding": encoding.upper() if encoding else None,
            },
        )

    def set_categorical_metadata(
        self,
        input_name: str,
        new_name: Optional[str] = None,
        encoded_tensor_name: Optional[str] = None,
        encoding: Optional[str] = None,
        input_baselines: Optional[Baselines] = None,
        encoded_baselines: Optional[Baselines] = None,
        index_feature_mapping: Optional[Sequence[str]] = None,
        group_name: Optional[str] = None,
    ) -> "OnnxMetadataBuilder":
        """A categorical input: category ids, or a one-hot / bag-of-features tensor
        (``encoding`` ``"INDICATOR"`` / ``"BAG_OF_FEATURES"`` with
        ``index_feature_mapping``). Gradient methods attribute ids at
        ``encoded_tensor_name`` (the embedding output)."""
        return self._update(
            input_name,
            new_name,
            "categorical",
            {
                "encodedTensorName": encoded_tensor_name,
                "encoding": encoding.upper() if encoding else None,
                "inputBaselines": _baselines(input_baselines),
                "encodedBaselines": _baselines(encoded_baselines),
                "indexFeatureMapping": list(index_feature_mapping) if index_feature_mapping else None,
                "groupName": group_name,
            },
        )

    def set_image_metadata(
        self,
        input_name: str,
        new_name: Optional[str] = None,
        input_baselines: Optional[Baselines] = None,
        visualization: Optional[Mapping[str, Any]] = None,
        domain: Optional[Mapping[str, float]] = None,
    ) -> "OnnxMetadataBuilder":
        """An image input. ``visualization`` takes Vertex's fields in camelCase or
        snake_case: ``type`` (``"PIXELS"``/``"OUTLINES"``), ``polarity``, ``color_map``,
        ``clip_percent_upperbound``, ``clip_percent_lowerbound``, ``overlay_type``."""
        viz = None
        if visualization is not None:
            viz = {_camel(k): (v.upper() if isinstance(v, str) else v) for k, v in visualization.items()}
        return self._update(
            input_name,
            new_name,
            "image",
            {
                "inputBaselines": _baselines(input_baselines),
                "visualization": viz,
                "featureValueDomain": _domain(domain),
            },
        )

    def set_text_metadata(
        self,
        input_name: str,
        new_name: Optional[str] = None,
        encoded_tensor_name: Optional[str] = None,
        input_baselines: Optional[Baselines] = None,
        encoded_baselines: Optional[Baselines] = None,
    ) -> "OnnxMetadataBuilder":
        """A text input of token ids; gradient methods attribute them at
        ``encoded_tensor_name`` (the float tensor the embedding lookup produces)."""
        return self._update(
            input_name,
            new_name,
            "text",
            {
                "encodedTensorName": encoded_tensor_name,
                "inputBaselines": _baselines(input_baselines),
                "encodedBaselines": _baselines(encoded_baselines),
            },
        )

    def remove_input_metadata(self, name: str) -> "OnnxMetadataBuilder":
        """Drops an input from the metadata."""
        del self._inputs[self._key(name)]
        return self

    # -- the output ---------------------------------------------------------------------

    def set_output_metadata(
        self,
        output_name: str,
        new_name: Optional[str] = None,
        index_display_name_mapping: Optional[Sequence[str]] = None,
        display_name_mapping_key: Optional[str] = None,
    ) -> "OnnxMetadataBuilder":
        """The explained output (Vertex explains exactly one): the model output
        ``output_name``, reported as ``new_name``, with display names for its positions."""
        entry: Dict[str, Any] = {"outputTensorName": output_name}
        if index_display_name_mapping is not None:
            entry["indexDisplayNameMapping"] = list(index_display_name_mapping)
        if display_name_mapping_key is not None:
            entry["displayNameMappingKey"] = display_name_mapping_key
        self._outputs = {new_name or output_name: entry}
        return self

    # -- results ------------------------------------------------------------------------

    def get_metadata(self) -> Dict[str, Any]:
        """The metadata as Vertex ``ExplanationMetadata`` JSON (a fresh dict)."""
        return {"inputs": copy.deepcopy(self._inputs), "outputs": copy.deepcopy(self._outputs)}

    def validate(self) -> Dict[str, Any]:
        """Checks the metadata with Prism's parser; raises :class:`InvalidSpecError` naming
        the field (``metadata.inputs.x.encoding``); returns the metadata."""
        metadata = self.get_metadata()
        _native.validate_spec({"parameters": {"sampledShapleyAttribution": {}}, "metadata": metadata})
        return metadata

    def save_metadata(self, output_dir: PathLike, legacy: bool = False) -> Path:
        """Writes ``explanation_metadata.json`` into ``output_dir`` (created if needed):
        Vertex JSON, or the ``explainable_ai_sdk`` format with ``legacy=True``. Returns the
        file's path."""
        metadata = self.validate()
        document = to_legacy_metadata(metadata) if legacy else metadata
        out = Path(output_dir)
        out.mkdir(parents=True, exist_ok=True)
        path = out / METADATA_FILE
        path.write_text(json.dumps(document, indent=2) + "\n")
        return path

    def save_model_with_metadata(
        self,
        output_dir: PathLike,
        legacy: bool = False,
        config: Optional[Union[Config, Mapping[str, Any]]] = None,
    ) -> Path:
        """Writes a whole model directory: ``model.onnx`` (copied), the metadata, and with
        ``config`` (a method config or an ExplanationParameters dict)
        ``explanation_spec.json``. Returns the directory."""
        out = Path(output_dir)
        self.save_metadata(out, legacy=legacy)
        shutil.copyfile(self.model_path, out / MODEL_FILE)
        if config is not None:
            parameters = config.to_parameters() if isinstance(config, Config) else dict(config)
            _native.validate_spec({"parameters": parameters})
            (out / SPEC_FILE).write_text(json.dumps(parameters, indent=2) + "\n")
        return out


def _domain(domain: Optional[Mapping[str, float]]) -> Optional[Dict[str, float]]:
    if domain is None:
        return None
    names = {"min": "minValue", "max": "maxValue"}
    return {names.get(k, _camel(k)): float(v) for k, v in domain.items()}


# -- the legacy explainable_ai_sdk format ---------------------------------------------------

# Vertex field → legacy field, where the legacy spelling is not plain snake_case
# (prism_spec's `legacy` module lists the same aliases for reading).
_LEGACY_INPUT = {"featureValueDomain": "domain"}
_LEGACY_DOMAIN = {"minValue": "min", "maxValue": "max"}
_LEGACY_VISUALIZATION = {
    "clipPercentUpperbound": "clip_above_percentile",
    "clipPercentLowerbound": "clip_below_percentile",
}
_LEGACY_OUTPUT = {
    "indexDisplayNameMapping": "index_name_mapping",
    "displayNameMappingKey": "index_name_mapping_key",
}
# Enum fields, written in lower case as the SDK did.
_ENUM_FIELDS = {"encoding", "modality", "type", "polarity", "colorMap", "overlayType"}


def _legacy_entry(entry: Mapping[str, Any], aliases: Mapping[str, str]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for key, value in entry.items():
        if key in _ENUM_FIELDS and isinstance(value, str):
            value = "mask" if value == "MASK_BLACK" else value.lower()
        if key == "featureValueDomain" and isinstance(value, Mapping):
            value = {_LEGACY_DOMAIN.get(k, _snake(k)): v for k, v in value.items()}
        elif key == "visualization" and isinstance(value, Mapping):
            value = _legacy_entry(value, _LEGACY_VISUALIZATION)
        out[aliases.get(key, _snake(key))] = value
    return out


def to_legacy_metadata(metadata: Mapping[str, Any]) -> Dict[str, Any]:
    """Vertex ``ExplanationMetadata`` JSON in the ``explainable_ai_sdk`` file format:
    snake_case fields, lower-case enums, ``domain{min, max, …}``,
    ``clip_above_percentile``/``clip_below_percentile``, ``index_name_mapping``, and the
    ``framework``/``tags`` header (which Prism reads and ignores)."""
    inputs = {name: _legacy_entry(e, _LEGACY_INPUT) for name, e in (metadata.get("inputs") or {}).items()}
    outputs = {name: _legacy_entry(e, _LEGACY_OUTPUT) for name, e in (metadata.get("outputs") or {}).items()}
    return {
        "framework": "onnx",
        "tags": ["explainable_ai_sdk", "prism_xai"],
        "inputs": inputs,
        "outputs": outputs,
    }
