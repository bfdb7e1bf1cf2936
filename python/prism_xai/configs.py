"""Explanation method configs, named as in ``explainable_ai_sdk``.

Each config is one attribution method and its settings; ``to_parameters()`` gives the
method's entry of Vertex ``ExplanationParameters``. A config given to
``load_model_from_local_path`` or ``Model.explain`` replaces the model directory's method
and keeps its output selection (``topK`` / ``outputIndices``) and ``seed``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Dict, Mapping, Optional, Union

__all__ = [
    "Config",
    "SampledShapleyConfig",
    "IntegratedGradientsConfig",
    "XraiConfig",
]

NoiseSigma = Union[float, Mapping[str, float]]


class Config:
    """Base class of the method configs."""

    #: The method's key in ``ExplanationParameters``.
    method_key: str = ""

    def method_settings(self) -> Dict[str, Any]:
        """The method's settings, as Vertex JSON."""
        raise NotImplementedError

    def to_parameters(self) -> Dict[str, Any]:
        """``{method_key: settings}``: ExplanationParameters holding only the method."""
        return {self.method_key: self.method_settings()}


@dataclass(frozen=True)
class SampledShapleyConfig(Config):
    """Sampled Shapley: ``path_count`` random feature permutations (1..50)."""

    path_count: int = 10
    method_key = "sampledShapleyAttribution"

    def method_settings(self) -> Dict[str, Any]:
        return {"pathCount": self.path_count}


def _gradient_settings(
    step_count: int,
    noise_sigma: Optional[NoiseSigma],
    noisy_sample_count: Optional[int],
    blur_max_sigma: Optional[float],
) -> Dict[str, Any]:
    settings: Dict[str, Any] = {"stepCount": step_count}
    if noise_sigma is not None or noisy_sample_count is not None:
        smooth: Dict[str, Any] = {}
        if isinstance(noise_sigma, Mapping):
            smooth["featureNoiseSigma"] = {
                "noiseSigma": [
                    {"name": name, "sigma": float(sigma)}
                    for name, sigma in noise_sigma.items()
                ]
            }
        elif noise_sigma is not None:
            smooth["noiseSigma"] = float(noise_sigma)
        if noisy_sample_count is not None:
            smooth["noisySampleCount"] = noisy_sample_count
        settings["smoothGradConfig"] = smooth
    if blur_max_sigma is not None:
        settings["blurBaselineConfig"] = {"maxBlurSigma": float(blur_max_sigma)}
    return settings


@dataclass(frozen=True)
class IntegratedGradientsConfig(Config):
    """Integrated Gradients with ``step_count`` quadrature steps (1..100).

    ``smoothgrad_noise_sigma`` (one sigma, or a dict feature name → sigma) and
    ``smoothgrad_noisy_sample_count`` turn on SmoothGrad; ``blur_max_sigma`` turns on Blur IG
    (image inputs).
    """

    step_count: int = 50
    smoothgrad_noise_sigma: Optional[NoiseSigma] = None
    smoothgrad_noisy_sample_count: Optional[int] = None
    blur_max_sigma: Optional[float] = None
    method_key = "integratedGradientsAttribution"

    def method_settings(self) -> Dict[str, Any]:
        return _gradient_settings(
            self.step_count,
            self.smoothgrad_noise_sigma,
            self.smoothgrad_noisy_sample_count,
            self.blur_max_sigma,
        )


@dataclass(frozen=True)
class XraiConfig(Config):
    """XRAI (one image input) with ``step_count`` Integrated Gradients steps; SmoothGrad and
    Blur IG settings as in :class:`IntegratedGradientsConfig`."""

    step_count: int = 50
    smoothgrad_noise_sigma: Optional[NoiseSigma] = None
    smoothgrad_noisy_sample_count: Optional[int] = None
    blur_max_sigma: Optional[float] = None
    method_key = "xraiAttribution"

    def method_settings(self) -> Dict[str, Any]:
        return _gradient_settings(
            self.step_count,
            self.smoothgrad_noise_sigma,
            self.smoothgrad_noisy_sample_count,
            self.blur_max_sigma,
        )
