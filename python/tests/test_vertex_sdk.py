"""Google's own client library (google-cloud-aiplatform, GAPIC clients on the REST transport,
anonymous credentials) against a real `prism serve`: upload_model, get_operation,
create_endpoint, deploy_model, predict and explain work unchanged, and give the numbers the
server's own REST API gives; update_model, list_model_versions and update_endpoint (field
masks) too.

The high-level `aiplatform.Model.upload` is not used: it copies a local `artifact_uri` to a
Cloud Storage staging bucket first, which needs Google's network. The GAPIC call it ends in
(`ModelServiceClient.upload_model`) is what is tested.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Iterator

import pytest

from google.auth.credentials import AnonymousCredentials
from google.cloud import aiplatform_v1 as v1
from google.cloud.aiplatform_v1.services.endpoint_service.transports.rest import (
    EndpointServiceRestTransport,
)
from google.cloud.aiplatform_v1.services.model_service.transports.rest import (
    ModelServiceRestTransport,
)
from google.cloud.aiplatform_v1.services.prediction_service.transports.rest import (
    PredictionServiceRestTransport,
)
from google.protobuf import field_mask_pb2, json_format, struct_pb2

from conftest import model_dir, read_instances
from test_endpoint import Server

PARENT = "projects/sdk-project/locations/us-central1"


@pytest.fixture(scope="module")
def server(prism_bin: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    s = Server(prism_bin, tmp_path_factory.mktemp("sdk"))
    try:
        yield s
    finally:
        s.stop()


def clients(server: Server):
    options = dict(
        host=server.base.removeprefix("http://"),
        url_scheme="http",
        credentials=AnonymousCredentials(),
    )
    return (
        v1.ModelServiceClient(transport=ModelServiceRestTransport(**options)),
        v1.EndpointServiceClient(transport=EndpointServiceRestTransport(**options)),
        v1.PredictionServiceClient(transport=PredictionServiceRestTransport(**options)),
    )


def test_the_vertex_sdk_drives_prism_unchanged(server: Server):
    models, endpoints, prediction = clients(server)
    directory = model_dir("breast_cancer_mlp")
    metadata = v1.ExplanationMetadata.from_json(
        (directory / "explanation_metadata.json").read_text()
    )
    spec = v1.ExplanationSpec(
        parameters=v1.ExplanationParameters(
            sampled_shapley_attribution=v1.SampledShapleyAttribution(path_count=10)
        ),
        metadata=metadata,
    )
    upload = models.upload_model(
        request=v1.UploadModelRequest(
            parent=PARENT,
            model_id="mlp",
            model=v1.Model(display_name="mlp", artifact_uri=str(directory), explanation_spec=spec),
        )
    )
    assert upload.operation.name.startswith(f"{PARENT}/models/mlp/operations/")
    uploaded = upload.result(timeout=60)
    assert uploaded.model == f"{PARENT}/models/mlp"

    operation = models.get_operation(request={"name": upload.operation.name})
    assert operation.done
    model = models.get_model(name=uploaded.model)
    assert model.display_name == "mlp"
    assert model.explanation_spec.parameters.sampled_shapley_attribution.path_count == 10

    endpoint = endpoints.create_endpoint(
        request=v1.CreateEndpointRequest(
            parent=PARENT, endpoint=v1.Endpoint(display_name="ep"), endpoint_id="ep"
        )
    ).result(timeout=60)
    assert endpoint.name == f"{PARENT}/endpoints/ep"
    deployed = endpoints.deploy_model(
        endpoint=endpoint.name,
        deployed_model=v1.DeployedModel(
            model=uploaded.model,
            dedicated_resources=v1.DedicatedResources(
                machine_spec=v1.MachineSpec(machine_type="n1-standard-2"), min_replica_count=1
            ),
        ),
        traffic_split={"0": 100},
    ).result(timeout=60)
    deployed_id = deployed.deployed_model.id
    assert endpoints.get_endpoint(name=endpoint.name).traffic_split[deployed_id] == 100

    instances = read_instances("breast_cancer_mlp")[:3]
    values = [json_format.ParseDict(i, struct_pb2.Value()) for i in instances]
    want_predict = server.call("POST", f"{endpoint.name}:predict", {"instances": instances})
    got = prediction.predict(endpoint=endpoint.name, instances=values)
    assert got.deployed_model_id == deployed_id
    assert [json_format.MessageToDict(p) for p in got._pb.predictions] == want_predict["predictions"]

    want = server.call("POST", f"{endpoint.name}:explain", {"instances": instances})
    got = prediction.explain(endpoint=endpoint.name, instances=values)
    assert got.deployed_model_id == deployed_id
    assert len(got.explanations) == 3
    for sdk, rest in zip(got.explanations, want["explanations"]):
        a, b = sdk.attributions[0], rest["attributions"][0]
        assert a.instance_output_value == pytest.approx(b["instanceOutputValue"], rel=1e-12)
        assert a.baseline_output_value == pytest.approx(b["baselineOutputValue"], rel=1e-12)
        attributions = json_format.MessageToDict(a._pb.feature_attributions)
        assert attributions.keys() == b["featureAttributions"].keys()
        for name, value in b["featureAttributions"].items():
            assert attributions[name] == pytest.approx(value, rel=1e-12, abs=1e-15)
        # Sampled Shapley adds up: baseline + Σ attributions = instance output.
        total = a.baseline_output_value + sum(attributions.values())
        assert total == pytest.approx(a.instance_output_value, abs=1e-5)


def test_the_vertex_sdk_updates_models_and_endpoints(server: Server):
    models, endpoints, _ = clients(server)
    uploaded = models.upload_model(
        request=v1.UploadModelRequest(
            parent=PARENT,
            model_id="lin",
            model=v1.Model(display_name="lin", artifact_uri=str(model_dir("peer_linear"))),
        )
    ).result(timeout=60)
    updated = models.update_model(
        model=v1.Model(name=uploaded.model, display_name="renamed", labels={"team": "risk"}),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "labels"]),
    )
    assert (updated.display_name, dict(updated.labels)) == ("renamed", {"team": "risk"})
    assert models.get_model(name=uploaded.model).display_name == "renamed"
    assert [m.name for m in models.list_model_versions(name=uploaded.model)] == [uploaded.model]

    endpoint = endpoints.create_endpoint(
        request=v1.CreateEndpointRequest(
            parent=PARENT, endpoint=v1.Endpoint(display_name="ep2"), endpoint_id="ep2"
        )
    ).result(timeout=60)
    updated = endpoints.update_endpoint(
        endpoint=v1.Endpoint(name=endpoint.name, display_name="moved", description="for the test"),
        update_mask=field_mask_pb2.FieldMask(paths=["display_name", "description"]),
    )
    assert (updated.display_name, updated.description) == ("moved", "for the test")
    assert endpoints.get_endpoint(name=endpoint.name).display_name == "moved"

