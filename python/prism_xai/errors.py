"""Prism's exception classes.

Every error Prism raises is a :class:`PrismError`; the engine's errors carry
``field_path``, the JSON field at fault (``"sampledShapleyAttribution.pathCount"``,
``"metadata.inputs.x.inputTensorName"``, ``"vec[2]"``), or ``None`` where none is known,
and ``instance_index``, the position of the failing instance in the list given to
``explain`` or ``predict``.

- :class:`InvalidSpecError`: a spec, metadata or parameters document is invalid or does
  not fit the model.
- :class:`InvalidInstanceError`: an instance does not fit the metadata or the model.
- :class:`ModelError`: the model cannot be read, loaded, differentiated or run.
- :class:`EndpointError`: a ``prism serve`` endpoint answered with an error the classes
  above do not describe (``code`` is the HTTP status, ``status`` the google.rpc name), or
  could not be reached.
"""

from __future__ import annotations

from typing import Optional, Type, TypeVar

from ._native import InvalidInstanceError, InvalidSpecError, ModelError, PrismError

__all__ = [
    "PrismError",
    "InvalidSpecError",
    "InvalidInstanceError",
    "ModelError",
    "EndpointError",
]


class EndpointError(PrismError):
    """A remote endpoint failed; ``code`` is the HTTP status (``None`` when unreachable),
    ``status`` the google.rpc status name."""

    code: Optional[int] = None
    status: Optional[str] = None


E = TypeVar("E", bound=BaseException)


def make_error(
    cls: Type[E],
    message: str,
    field_path: Optional[str] = None,
    instance_index: Optional[int] = None,
) -> E:
    """An exception of ``cls`` with Prism's attributes set."""
    err = cls(message)
    setattr(err, "field_path", field_path)
    setattr(err, "instance_index", instance_index)
    return err
