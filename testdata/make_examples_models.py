"""Make the example-based test model: the digits CNN's latent space over real digits.

Run from the repository root after make_torch_models.py (it reuses digits_cnn's model and
data preparation; torch is only needed for the same bilinear upsampling):

    .venv-torch/bin/python testdata/make_examples_models.py

Writes ``testdata/models/digits_examples/``:

* ``model.onnx`` -- digits_cnn's model, byte for byte;
* ``explanation_metadata.json`` -- the image input and ``latentSpaceSource`` =
  ``/Flatten_output_0``, the 784-wide input of the classifier layer;
* ``explanation_spec.json`` -- ``examples`` with the IMAGE preset and 5 neighbours;
* ``examples.jsonl`` -- 200 training digits (20 per class) as dataset lines with an id,
  a ``label`` restrict and the label as crowding tag, values rounded to 2 decimals;
* ``instances.jsonl`` -- 3 test digits (labels 2, 8, 6);
* ``expected_neighbors.json`` -- per instance, the exact nearest examples by onnxruntime
  embeddings and numpy (dot product of L2-normalised vectors, the IMAGE preset's ranking).
"""

import json
import os
import shutil

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from make_models import write_json, write_jsonl
from make_torch_models import MODELS, digits_images, nested, distinct_label_rows

NAME = "digits_examples"
LATENT = "/Flatten_output_0"
PER_CLASS = 20
K = 5


def embeddings(model_path, images):
    """onnxruntime values of LATENT for images [n, 28, 28, 1]."""
    m = onnx.load(model_path)
    m.graph.output.append(helper.make_tensor_value_info(LATENT, onnx.TensorProto.FLOAT, None))
    sess = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return sess.run([LATENT], {"image": images.astype(np.float32)})[0].astype(np.float64)


def main():
    src = os.path.join(MODELS, "digits_cnn", "model.onnx")
    d = os.path.join(MODELS, NAME)
    os.makedirs(d, exist_ok=True)
    shutil.copyfile(src, os.path.join(d, "model.onnx"))
    X_tr, X_te, y_tr, y_te = digits_images(28)
    pick = []
    for label in range(10):
        pick += [i for i in range(len(y_tr)) if y_tr[i] == label][:PER_CLASS]
    examples = np.round(X_tr[pick].astype(np.float64), 2)[..., None]
    labels = y_tr[pick]
    lines = [{"id": f"train-{i}", "image": x.tolist(),
              "restricts": [{"namespace": "label", "allow": [str(int(y))]}],
              "crowding_tag": str(int(y))}
             for i, x, y in zip(pick, examples, labels)]
    write_jsonl(os.path.join(d, "examples.jsonl"), lines)
    inst_rows = distinct_label_rows(y_te)
    instances = X_te[inst_rows][..., None]
    write_jsonl(os.path.join(d, "instances.jsonl"), [{"image": nested(x)} for x in instances])
    metadata = {
        "inputs": {"image": {"inputTensorName": "image", "modality": "image"}},
        "outputs": {"probabilities": {"outputTensorName": "probabilities"}},
        "latentSpaceSource": LATENT,
    }
    write_json(os.path.join(d, "explanation_metadata.json"), metadata)
    write_json(os.path.join(d, "explanation_spec.json"),
               {"examples": {"presets": {"modality": "IMAGE"}, "neighborCount": K}})

    path = os.path.join(d, "model.onnx")
    e = embeddings(path, examples)
    q = embeddings(path, np.asarray(nested(instances), dtype=np.float32))
    unit = lambda a: a / np.linalg.norm(a, axis=1, keepdims=True)  # noqa: E731
    scores = unit(q) @ unit(e).T
    expected = []
    for i, row in enumerate(scores):
        order = np.argsort(-row, kind="stable")[:K]
        expected.append({
            "label": int(y_te[inst_rows[i]]),
            "neighbors": [{"id": lines[j]["id"], "distance": float(-row[j]),
                           "label": int(labels[j])} for j in order],
        })
        print(f"[{NAME}] instance {i} (label {y_te[inst_rows[i]]}): neighbour labels "
              f"{[int(labels[j]) for j in order]}")
    write_json(os.path.join(d, "expected_neighbors.json"),
               {"distance": "DOT_PRODUCT_DISTANCE on UNIT_L2_NORM vectors (the IMAGE preset)",
                "latent": LATENT, "instances": expected})
    print(f"[{NAME}] {len(lines)} examples, {os.path.getsize(os.path.join(d, 'examples.jsonl'))} "
          "bytes of examples.jsonl")


if __name__ == "__main__":
    main()
