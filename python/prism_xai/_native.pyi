"""Type stub of ``prism_xai._native``, the Rust layer under ``prism_xai``."""

from os import PathLike
from typing import Any, Dict, List, Optional, Union

__version__: str

class PrismError(Exception):
    """Base class of every error Prism raises."""

    #: The JSON field at fault (``"sampledShapleyAttribution.pathCount"``, ``"vec[2]"``),
    #: or ``None`` when the engine names none.
    field_path: Optional[str]
    #: The position of the failing instance in the list given to explain/predict.
    instance_index: Optional[int]

class InvalidSpecError(PrismError):
    """A spec, metadata or parameters document is invalid or does not fit the model."""

class InvalidInstanceError(PrismError):
    """An instance does not fit the model's metadata or inputs."""

class ModelError(PrismError):
    """The model cannot be read, loaded, differentiated or run."""

class Explainer:
    """A loaded model directory; immutable, thread-safe, computes without the GIL."""

    @staticmethod
    def load(
        model_dir: Union[str, "PathLike[str]"], spec: Optional[Dict[str, Any]] = None
    ) -> "Explainer": ...
    def with_parameters(self, parameters: Dict[str, Any]) -> "Explainer": ...
    def with_override(self, override_: Dict[str, Any]) -> "Explainer": ...
    def explain(self, instances: Any) -> List[Dict[str, Any]]: ...
    def predict(self, instances: Any) -> List[Dict[str, Any]]: ...
    def spec(self) -> Dict[str, Any]: ...
    def signature(self) -> Dict[str, List[Dict[str, Any]]]: ...

def infer_metadata(model_path: Union[str, "PathLike[str]"]) -> Dict[str, Any]: ...
def validate_spec(spec: Dict[str, Any]) -> Dict[str, Any]: ...
