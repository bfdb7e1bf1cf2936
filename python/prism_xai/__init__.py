"""prism_xai: explanations for ONNX models, on Prism's engine, with the
``explainable_ai_sdk`` API.

>>> import prism_xai
>>> model = prism_xai.load_model_from_local_path(
...     "testdata/models/peer_linear", prism_xai.SampledShapleyConfig(path_count=10))
>>> [e] = model.explain([{"x0": 30, "x1": 60, "x2": 30}])
>>> e.feature_importance()      # doctest: +SKIP
{'x0': 40.0, 'x1': 120.0, 'x2': 80.0}

See ``docs/python.md`` for a walkthrough.
"""

from ._native import __version__
from .baselines import (
    max_baseline,
    mean_baseline,
    median_baseline,
    min_baseline,
    random_baseline,
)
from .configs import Config, IntegratedGradientsConfig, SampledShapleyConfig, XraiConfig
from .endpoint import EndpointModel, load_model_from_endpoint
from .errors import (
    EndpointError,
    InvalidInstanceError,
    InvalidSpecError,
    ModelError,
    PrismError,
)
from .explanation import Attribution, Explanation
from .metadata import OnnxMetadataBuilder, to_legacy_metadata
from .model import LocalModel, Model, load_model_from_local_path

__all__ = [
    "__version__",
    "load_model_from_local_path",
    "load_model_from_endpoint",
    "Model",
    "LocalModel",
    "EndpointModel",
    "Config",
    "SampledShapleyConfig",
    "IntegratedGradientsConfig",
    "XraiConfig",
    "Explanation",
    "Attribution",
    "OnnxMetadataBuilder",
    "to_legacy_metadata",
    "median_baseline",
    "mean_baseline",
    "min_baseline",
    "max_baseline",
    "random_baseline",
    "PrismError",
    "InvalidSpecError",
    "InvalidInstanceError",
    "ModelError",
    "EndpointError",
]
