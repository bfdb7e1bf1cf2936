"""Type stub of ``prism_xai._native``, the Rust layer under ``prism_xai``."""

from os import PathLike
from typing import Any, Dict, List, Optional, Sequence, Union

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
    def process_records(
        self,
        records: Sequence[Any],
        generate_explanation: bool = True,
        instance_config: Optional[Dict[str, Any]] = None,
        keys: Optional[Sequence[Any]] = None,
        places: Optional[Sequence[Optional[str]]] = None,
    ) -> Dict[str, List[Optional[str]]]:
        """Records (JSON text, or values) made into ``prism batch``'s lines, never raising
        for a bad record: the columns ``instance``, ``key``, ``prediction``,
        ``explanation``, ``error`` of JSON text (``None`` where a line has no such part)."""
    def spec(self) -> Dict[str, Any]: ...
    def signature(self) -> Dict[str, List[Dict[str, Any]]]: ...

def infer_metadata(model_path: Union[str, "PathLike[str]"]) -> Dict[str, Any]: ...
def validate_spec(spec: Dict[str, Any]) -> Dict[str, Any]: ...
