"""Baselines computed from a training array, for ``input_baselines``.

Each helper takes an array whose first axis is the examples (``x.shape == (n, *feature)``)
and returns ONE baseline shaped like a feature (``x.shape[1:]``), ready for the metadata
builder's ``input_baselines`` (an array there is one baseline; pass a list of them for
several, which Prism averages over).
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["median_baseline", "mean_baseline", "min_baseline", "max_baseline", "random_baseline"]


def _examples(x: Any) -> np.ndarray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError("baselines need an array of examples (first axis), got no examples")
    return a


def median_baseline(x: Any) -> np.ndarray:
    """The per-position median of the examples (the usual tabular baseline)."""
    return np.median(_examples(x), axis=0)


def mean_baseline(x: Any) -> np.ndarray:
    """The per-position mean of the examples."""
    return np.mean(_examples(x), axis=0)


def min_baseline(x: Any) -> np.ndarray:
    """The per-position minimum (e.g. a black image for images scaled to [0, 1])."""
    return np.min(_examples(x), axis=0)


def max_baseline(x: Any) -> np.ndarray:
    """The per-position maximum (e.g. a white image)."""
    return np.max(_examples(x), axis=0)


def random_baseline(x: Any, seed: int = 0) -> np.ndarray:
    """Uniform noise between the per-position minimum and maximum of the examples,
    seeded: the same ``seed`` gives the same baseline."""
    a = _examples(x)
    lo, hi = a.min(axis=0), a.max(axis=0)
    rng = np.random.default_rng(seed)
    return lo + (hi - lo) * rng.random(lo.shape)
