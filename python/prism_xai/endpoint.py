"""A model deployed on a running ``prism serve``, reached over its Vertex REST API.

:func:`load_model_from_endpoint` gives a model whose ``explain`` posts to the endpoint's
``:explain`` and whose ``predict`` posts to ``:predict``, returning the same
:class:`Explanation` objects as a local model. Only the standard library is used
(``urllib``).
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
from typing import Any, Dict, List, Optional

import numpy as np

from ._instances import as_instance_list, to_jsonable
from .configs import Config
from .errors import (
    EndpointError,
    InvalidInstanceError,
    InvalidSpecError,
    PrismError,
    make_error,
)
from .explanation import Explanation
from .model import Model, Params, _predictions, override_of

__all__ = ["EndpointModel", "load_model_from_endpoint"]

_INSTANCE = re.compile(r"^(?:instances\[(\d+)\]: )?instance (.+?): ")
_OVERRIDE_PATH = re.compile(r"^(explanationSpecOverride[^\s:]*): ")


class EndpointModel(Model):
    """An endpoint of a running ``prism serve`` (Vertex REST ``…/endpoints/{id}``)."""

    def __init__(self, url: str, endpoint: str, token: Optional[str] = None, timeout: float = 300.0):
        base = url.rstrip("/")
        endpoint = endpoint.strip("/")
        if endpoint.startswith(("http://", "https://")):
            self.endpoint_url = endpoint
            self.base_url = endpoint.split("/v1/", 1)[0]
        else:
            if not endpoint.startswith("projects/") or "/endpoints/" not in endpoint:
                raise ValueError(
                    "endpoint: expected the endpoint's resource name, "
                    f"projects/PROJECT/locations/LOCATION/endpoints/ID, got {endpoint!r}"
                )
            self.endpoint_url = f"{base}/v1/{endpoint}"
            self.base_url = base
        self.token = token
        self.timeout = timeout
        self._metadata: Optional[Dict[str, Any]] = None
        self._spec: Optional[Dict[str, Any]] = None

    # -- HTTP ---------------------------------------------------------------------------

    def _call(self, method: str, url: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(url, data=data, method=method)
        request.add_header("Accept", "application/json")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        if self.token:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise _error_from_response(e.code, e.read()) from None
        except urllib.error.URLError as e:
            err = make_error(EndpointError, f"cannot reach {url}: {e.reason}")
            err.code = None
            raise err from e

    # -- the spec, for pictures ---------------------------------------------------------

    @property
    def spec(self) -> Dict[str, Any]:
        """The explanation spec of the model the endpoint serves (its first deployed
        model), read once from the server."""
        if self._spec is None:
            endpoint = self._call("GET", self.endpoint_url)
            deployed = endpoint.get("deployedModels") or []
            if not deployed:
                raise make_error(EndpointError, f"{self.endpoint_url} has no deployed model")
            model = deployed[0].get("model", "")
            doc = self._call("GET", f"{self.base_url}/v1/{model}")
            self._spec = dict(doc.get("explanationSpec") or {})
        return json.loads(json.dumps(self._spec))

    def _metadata_or_none(self) -> Optional[Dict[str, Any]]:
        try:
            return self.metadata
        except PrismError:
            return None

    # -- the calls ----------------------------------------------------------------------

    def explain(self, instances: Any, params: Params = None) -> List[Explanation]:
        items = as_instance_list(instances)
        body: Dict[str, Any] = {"instances": to_jsonable(items)}
        if isinstance(params, Config):
            body["explanationSpecOverride"] = {"parameters": params.to_parameters()}
        elif params is not None:
            body["explanationSpecOverride"] = to_jsonable(override_of(params))
        response = self._call("POST", f"{self.endpoint_url}:explain", body)
        metadata = self._metadata_or_none()
        return [
            Explanation(e, instance=i, metadata=metadata)
            for e, i in zip(response.get("explanations") or [], items)
        ]

    def predict(self, instances: Any) -> List[Dict[str, np.ndarray]]:
        items = as_instance_list(instances)
        response = self._call("POST", f"{self.endpoint_url}:predict", {"instances": to_jsonable(items)})
        return _predictions(response.get("predictions") or [])

    def __repr__(self) -> str:
        return f"EndpointModel({self.endpoint_url!r})"


def _error_from_response(code: int, body: bytes) -> PrismError:
    """The exception for an error response in the google.rpc shape."""
    try:
        error = json.loads(body).get("error") or {}
    except (ValueError, AttributeError):
        error = {}
    message = str(error.get("message") or body[:500].decode(errors="replace") or f"HTTP {code}")
    status = error.get("status")
    if status == "INVALID_ARGUMENT":
        m = _INSTANCE.match(message)
        if m:
            index = int(m.group(1)) if m.group(1) else None
            return make_error(InvalidInstanceError, message, m.group(2), index)
        m = _OVERRIDE_PATH.match(message)
        if m:
            return make_error(InvalidSpecError, message, m.group(1))
    err = make_error(EndpointError, f"HTTP {code} {status or ''}: {message}".replace("  ", " "))
    err.code = code
    err.status = status
    return err


def load_model_from_endpoint(
    url: str, endpoint: str, token: Optional[str] = None, timeout: float = 300.0
) -> EndpointModel:
    """A model served by ``prism serve`` at ``url`` (e.g. ``http://127.0.0.1:8080``).

    ``endpoint`` is the endpoint's resource name,
    ``projects/PROJECT/locations/LOCATION/endpoints/ID`` (or its full URL, in which case
    ``url`` is ignored). ``token``, when given, is sent as ``Authorization: Bearer``.
    ``explain`` posts to ``…:explain`` (a config or params becomes the request's
    ``explanationSpecOverride``: the server keeps the deployed method) and returns the same
    :class:`Explanation` objects as a local model.
    """
    return EndpointModel(url, endpoint, token=token, timeout=timeout)
