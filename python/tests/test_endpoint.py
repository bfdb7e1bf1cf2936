"""`load_model_from_endpoint` against a real `prism serve` on a loopback port."""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any, Dict, Iterator, Optional

import numpy as np
import pytest

from prism_xai import (
    EndpointError,
    InvalidInstanceError,
    InvalidSpecError,
    SampledShapleyConfig,
    load_model_from_endpoint,
    load_model_from_local_path,
)

from conftest import assert_same_explanation, model_dir, read_instances

PARENT = "projects/demo/locations/local"


class Server:
    def __init__(self, binary: Path, data_dir: Path, env: Optional[Dict[str, str]] = None):
        self.process = subprocess.Popen(
            [str(binary), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(data_dir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**(os.environ if env is None else env), "RUST_LOG": "warn"},
        )
        assert self.process.stderr is not None
        deadline = time.monotonic() + 60
        self.base = ""
        for line in self.process.stderr:
            if line.startswith("prism serve: listening on "):
                self.base = line.split("listening on ", 1)[1].strip()
                break
            assert time.monotonic() < deadline, "server did not start"
        assert self.base, "server exited before listening"
        # Keep draining stderr so the server never blocks on a full pipe.
        threading.Thread(target=lambda: [None for _ in self.process.stderr], daemon=True).start()  # type: ignore[union-attr]

    def call(self, method: str, path: str, body: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.base}/v1/{path}", data=data, method=method)
        request.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(request, timeout=120) as r:
            return json.loads(r.read())

    def wait(self, op: Dict[str, Any]) -> Dict[str, Any]:
        done = self.call("POST", f"{op['name']}:wait", {"timeout": "60s"})
        assert done.get("done") is True, done
        assert "error" not in done, done
        return done

    def deploy(self, model_id: str, model: str, endpoint_id: str) -> str:
        self.wait(
            self.call(
                "POST",
                f"{PARENT}/models:upload",
                {"modelId": model_id, "model": {"displayName": model, "artifactUri": str(model_dir(model))}},
            )
        )
        self.call("POST", f"{PARENT}/endpoints?endpointId={endpoint_id}", {"displayName": endpoint_id})
        endpoint = f"{PARENT}/endpoints/{endpoint_id}"
        self.wait(self.call("POST", f"{endpoint}:deployModel", {"deployedModel": {"model": f"{PARENT}/models/{model_id}"}}))
        return endpoint

    def stop(self) -> None:
        self.process.kill()
        self.process.wait(timeout=30)


@pytest.fixture(scope="module")
def server(prism_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(prism_bin, tmp_path_factory.mktemp("serve"))
    try:
        s.deploy("mlp", "breast_cancer_mlp", "mlp-ep")
        s.deploy("digits", "digits_cnn", "digits-ep")
        yield s
    finally:
        s.stop()


def test_explain_matches_local(server: Server):
    instances = read_instances("breast_cancer_mlp")
    remote = load_model_from_endpoint(server.base, f"{PARENT}/endpoints/mlp-ep")
    local = load_model_from_local_path(model_dir("breast_cancer_mlp"))
    got = remote.explain(instances)
    want = local.explain(instances)
    assert len(got) == len(instances)
    for g, w in zip(got, want):
        assert_same_explanation(g.to_json(), w.to_json())
        assert g.feature_importance() == pytest.approx(w.feature_importance())
    # The deployed model's metadata comes along, for pictures and modality.
    assert remote.metadata["outputs"]["probabilities"]["indexDisplayNameMapping"] == ["malignant", "benign"]
    # A config becomes the request's override (the deployed method is kept).
    [g] = remote.explain(instances[:1], params=SampledShapleyConfig(path_count=3))
    [w] = local.explain(instances[:1], params=SampledShapleyConfig(path_count=3))
    assert_same_explanation(g.to_json(), w.to_json())
    [g] = remote.explain(instances[:1], params={"topK": 2})
    assert len(g.attributions) == 2


def test_predict_and_numpy_instances(server: Server):
    remote = load_model_from_endpoint(server.base.rstrip("/") + "/", f"{server.base}/v1/{PARENT}/endpoints/digits-ep")
    instances = read_instances("digits_cnn")[:2]
    images = np.stack([np.asarray(i["image"], dtype=np.float32) for i in instances])
    local = load_model_from_local_path(model_dir("digits_cnn"))
    for g, w in zip(remote.explain(images), local.explain(images)):
        assert_same_explanation(g.to_json(), w.to_json(), rel=1e-6)
        assert g.as_tensors()["image"].shape == (28, 28, 1)
    predictions = remote.predict(images)
    np.testing.assert_allclose(predictions[0]["probabilities"], local.predict(images)[0]["probabilities"], rtol=1e-6)
    pytest.importorskip("matplotlib")
    fig = remote.explain(images[:1])[0].visualize_attributions()
    assert len(fig.axes) == 3


def test_errors(server: Server):
    remote = load_model_from_endpoint(server.base, f"{PARENT}/endpoints/mlp-ep")
    with pytest.raises(InvalidInstanceError) as e:
        remote.explain([{"mean radius": 1.0}])
    assert e.value.field_path
    with pytest.raises(InvalidSpecError) as e:
        remote.explain([[0.0] * 30], params={"pathCont": 2})
    assert e.value.field_path == "explanationSpecOverride.parameters.pathCont"
    missing = load_model_from_endpoint(server.base, f"{PARENT}/endpoints/nope")
    with pytest.raises(EndpointError) as e:
        missing.explain([[0.0] * 30])
    assert e.value.code == 404 and e.value.status == "NOT_FOUND"
    with pytest.raises(ValueError):
        load_model_from_endpoint(server.base, "mlp-ep")
    unreachable = load_model_from_endpoint("http://127.0.0.1:9", f"{PARENT}/endpoints/x", timeout=5)
    with pytest.raises(EndpointError) as e:
        unreachable.predict([[0.0] * 30])
    assert e.value.code is None


def test_token_is_sent_as_bearer():
    # A stand-in server that records the request and answers like :explain.
    import http.server

    seen: Dict[str, Any] = {}
    answer = {"explanations": [{"attributions": [{"featureAttributions": {"x": 1.0}, "outputName": "y"}]}]}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            seen["path"] = self.path
            seen["auth"] = self.headers.get("Authorization")
            seen["body"] = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            body = json.dumps(answer).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:  # noqa: N802
            self.send_response(404)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    httpd = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{httpd.server_address[1]}"
        model = load_model_from_endpoint(url, f"{PARENT}/endpoints/e", token="s3cret")
        [e] = model.explain(np.array([[1.0, 2.0]]))
        assert seen["auth"] == "Bearer s3cret"
        assert seen["path"] == f"/v1/{PARENT}/endpoints/e:explain"
        assert seen["body"] == {"instances": [[1.0, 2.0]]}
        assert e.feature_importance() == {"x": 1.0}
        assert e.metadata == {}  # the stand-in has no model to read it from
    finally:
        httpd.shutdown()
