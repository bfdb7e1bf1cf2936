"""Turning what users pass as ``instances`` into a list of instances."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, List

import numpy as np


def as_instance_list(instances: Any) -> List[Any]:
    """The instances as a list.

    - a numpy array: one instance per row (its first axis), each a bare array — for models
      with one input feature;
    - a pandas DataFrame (anything with ``to_dict(orient="records")`` and ``columns``): one
      dict per row;
    - a single mapping: one instance;
    - any other iterable: its items.
    """
    if isinstance(instances, np.ndarray):
        if instances.ndim == 0:
            raise TypeError("instances: a 0-d array is one value, not a list of instances")
        return list(instances)
    if hasattr(instances, "columns") and hasattr(instances, "to_dict"):
        return list(instances.to_dict(orient="records"))
    if isinstance(instances, Mapping):
        return [instances]
    if isinstance(instances, (str, bytes)):
        raise TypeError("instances: expected a list of instances, got a string")
    return list(instances)


def to_jsonable(value: Any) -> Any:
    """Plain JSON values: numpy arrays and scalars become lists and numbers."""
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if isinstance(value, (np.ndarray, np.generic)):
        return value.tolist()
    return value
