"""Make Prism's committed test models (ONNX) and their explanation fixtures.

Run from the repository root:

    python3 -m venv .venv-testdata
    .venv-testdata/bin/pip install -r testdata/requirements.txt
    .venv-testdata/bin/python testdata/make_models.py

Everything is deterministic (fixed seeds, fixed splits); re-running rewrites
byte-identical files. Each model gets a folder ``testdata/models/<name>/`` with
``model.onnx``, ``explanation_metadata.json`` (Vertex ExplanationMetadata,
camelCase), ``explanation_spec.json`` (ExplanationParameters),
``instances.jsonl`` (example instances keyed by feature name) and
``expected_outputs.json`` (onnxruntime outputs on a fixed batch, every graph
output in graph order).

Models and what they are for:

* ``breast_cancer_mlp`` -- a real classifier: sklearn MLPClassifier (32, 16)
  on the 30 breast-cancer features, exported by hand with standard ai.onnx ops
  only (Sub/Div standardisation, MatMul, Add, Relu, Sigmoid, Concat, ArgMax),
  so both onnxruntime and tract run it. Sampled Shapley / IG on real data.
* ``breast_cancer_gbt`` -- GradientBoostingClassifier exported by skl2onnx
  (ai.onnx.ml TreeEnsembleClassifier, no ZipMap): a non-differentiable model
  for Sampled Shapley and for the ai.onnx.ml op path of the runtimes.
* ``diabetes_rf`` / ``diabetes_gbr`` -- RandomForestRegressor and
  GradientBoostingRegressor on sklearn's diabetes data, skl2onnx
  TreeEnsembleRegressor (ai.onnx.ml opset 3); a scalar regression output
  ([N, 1]); the GBR one has a non-zero base value.
* ``peer_relu``, ``peer_linear``, ``peer_interaction``, ``peer_null`` -- tiny
  hand-built models reproducing the public peer checks (exact Shapley values
  known in closed form; see shared/reference/explanations.md).
* ``peer_ig_relu`` / ``peer_ig_relu_twin`` -- the IG paper's two functionally
  equivalent networks, relu(relu(x0) - 1 - relu(x1)) and
  relu(relu(x0 - 1) - relu(x1)): at x = (3, 1), baseline 0, Integrated
  Gradients gives [1.5, -0.5] for both (implementation invariance).
* ``peer_ig_field`` -- f = 5 x0 + x1^2 + sin x2 (gradient field
  [5, 2 x1, cos x2]): at x = (1, 2, 3), baseline (0.5, 1, 1), IG gives
  [2.5, 3, sin 3 - sin 1 = -0.70035].
* ``peer_embedding`` -- token ids [N, 4] (int64) -> embedding Gather (table
  6 x 2, output ``embedding``) -> linear: f = sum_l E[id_l] . w. IG attributed
  at ``embedding`` (encodedTensorName) has the closed form
  (E[x_l] - E[b_l]) . w per token.
* ``multi_input`` -- two input tensors (``numeric`` [N,3], ``extra`` [N,2]),
  three-class softmax output; ``extra``'s features form one Shapley group.
* ``list_feature`` -- one input tensor described by a single list-valued
  feature (no indexFeatureMapping): instances are ``{"vec": [..4 numbers..]}``.
"""

import json
import os
import sys

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper
from sklearn.datasets import load_breast_cancer, load_diabetes
from sklearn.ensemble import (
    GradientBoostingClassifier,
    GradientBoostingRegressor,
    RandomForestRegressor,
)
from sklearn.model_selection import train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import StandardScaler
from skl2onnx import convert_sklearn
from skl2onnx.common.data_types import FloatTensorType

HERE = os.path.dirname(os.path.abspath(__file__))
MODELS = os.path.join(HERE, "models")

# Hand-built graphs: opset 17 with IR version 8 (the IR that goes with opsets
# 14..18). onnx 1.23 would write IR 14 by default, which onnxruntime 1.31
# (<= 13) and tract cannot read.
HAND_OPSET = 17
HAND_IR = 8
# skl2onnx graphs: ai.onnx 15 + ai.onnx.ml 3 (TreeEnsembleClassifier /
# TreeEnsembleRegressor, not the newer ai.onnx.ml 5 TreeEnsemble); IR 8.
TREE_OPSET = {"": 15, "ai.onnx.ml": 3}
TREE_IR = 8

SPEC = {"sampledShapleyAttribution": {"pathCount": 10}}
N_REAL_ROWS = 16
N_HAND_ROWS = 8

def log(*parts):
    line = " ".join(str(p) for p in parts)
    print(line)


# --------------------------------------------------------------------------
# writing helpers


def write_json(path, obj):
    with open(path, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2, ensure_ascii=False, allow_nan=False)
        f.write("\n")


def write_jsonl(path, rows):
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, ensure_ascii=False, allow_nan=False))
            f.write("\n")


def tensor_json(arr):
    arr = np.asarray(arr)
    if arr.dtype == np.float32:
        dtype = "float32"
        # float(np.float32) is the exact value of the float32 as a double;
        # its repr round-trips and parses back to the same f32.
        data = [float(v) for v in arr.reshape(-1)]
    elif arr.dtype == np.int64:
        dtype = "int64"
        data = [int(v) for v in arr.reshape(-1)]
    else:
        raise TypeError(f"unexpected dtype {arr.dtype}")
    return {"dtype": dtype, "shape": [int(d) for d in arr.shape], "data": data}


def run_ort(model_path, feeds):
    sess = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    names = [o.name for o in sess.get_outputs()]
    outs = sess.run(names, feeds)
    return names, outs


def check_model(model):
    onnx.checker.check_model(model, full_check=True)
    assert model.ir_version <= 10, model.ir_version


def save_model_dir(name, model, metadata, instances, feeds, spec=SPEC):
    """Write one model folder; returns the onnxruntime outputs on `feeds`."""
    d = os.path.join(MODELS, name)
    os.makedirs(d, exist_ok=True)
    check_model(model)
    path = os.path.join(d, "model.onnx")
    with open(path, "wb") as f:
        f.write(model.SerializeToString(deterministic=True))
    write_json(os.path.join(d, "explanation_metadata.json"), metadata)
    write_json(os.path.join(d, "explanation_spec.json"), spec)
    write_jsonl(os.path.join(d, "instances.jsonl"), instances)

    graph_inputs = [i.name for i in model.graph.input]
    assert list(feeds) == graph_inputs, (list(feeds), graph_inputs)
    names, outs = run_ort(path, feeds)
    assert names == [o.name for o in model.graph.output]
    expected = {
        "inputs": {k: tensor_json(v) for k, v in feeds.items()},
        "outputs": {n: tensor_json(o) for n, o in zip(names, outs)},
    }
    write_json(os.path.join(d, "expected_outputs.json"), expected)

    sig_in = ", ".join(f"{i.name}:{_sig(i)}" for i in model.graph.input)
    sig_out = ", ".join(f"{o.name}:{_sig(o)}" for o in model.graph.output)
    log(f"[{name}] inputs {sig_in} -> outputs {sig_out}; "
        f"ir {model.ir_version}, opsets "
        + ", ".join(f"{o.domain or 'ai.onnx'}:{o.version}" for o in model.opset_import)
        + f"; {os.path.getsize(path)} bytes")
    return dict(zip(names, outs))


def _sig(vi):
    t = vi.type.tensor_type
    dt = TensorProto.DataType.Name(t.elem_type).lower()
    dims = []
    for dim in t.shape.dim:
        if dim.HasField("dim_value"):
            dims.append(str(dim.dim_value))
        elif dim.HasField("dim_param"):
            dims.append(repr(dim.dim_param))
        else:
            dims.append("None")
    return f"{dt}[{', '.join(dims)}]"


def features_metadata(names, baseline, output_name, display=None):
    inp = {
        "inputTensorName": "input",
        "encoding": "IDENTITY",
        "modality": "numeric",
        "indexFeatureMapping": list(names),
        "inputBaselines": [[float(v) for v in baseline]],
    }
    out = {"outputTensorName": output_name}
    if display is not None:
        out["indexDisplayNameMapping"] = list(display)
    return {"inputs": {"features": inp}, "outputs": {output_name: out}}


def instances_from_rows(names, rows):
    return [{n: float(v) for n, v in zip(names, row)} for row in rows]


def finish_skl2onnx(onx):
    """Pin the IR version and give the graph a stable name/doc."""
    onx.ir_version = TREE_IR
    onx.producer_version = ""  # don't bake the skl2onnx version into bytes
    # skl2onnx 1.20 lists the default domain twice for the regressors
    # ([ai.onnx.ml 1, "" 15, "" 15]); keep one import per domain.
    versions = {}
    for o in onx.opset_import:
        versions[o.domain] = max(versions.get(o.domain, 0), o.version)
    del onx.opset_import[:]
    for domain in sorted(versions):
        onx.opset_import.append(helper.make_opsetid(domain, versions[domain]))
    return onx


def op_summary(model):
    ops = []
    for n in model.graph.node:
        ops.append(f"{n.domain + '.' if n.domain else ''}{n.op_type}")
    return ops


# --------------------------------------------------------------------------
# real-data models


def breast_cancer():
    data = load_breast_cancer()
    names = [str(n) for n in data.feature_names]
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0)
    return names, X_tr, X_te, y_tr, y_te, [str(t) for t in data.target_names]


def make_breast_cancer_mlp():
    names, X_tr, X_te, y_tr, y_te, target_names = breast_cancer()
    assert target_names == ["malignant", "benign"], target_names
    scaler = StandardScaler().fit(X_tr)
    clf = MLPClassifier(hidden_layer_sizes=(32, 16), max_iter=1000,
                        random_state=0)
    clf.fit(scaler.transform(X_tr), y_tr)
    assert clf.out_activation_ == "logistic" and clf.activation == "relu"
    acc = clf.score(scaler.transform(X_te), y_te)
    log(f"[breast_cancer_mlp] sklearn test accuracy {acc:.4f} "
        f"({clf.n_iter_} iterations)")

    f32 = lambda a: np.asarray(a, dtype=np.float32)
    inits = [
        numpy_helper.from_array(f32(scaler.mean_), "scaler_mean"),
        numpy_helper.from_array(f32(scaler.scale_), "scaler_scale"),
        numpy_helper.from_array(np.array([1.0], dtype=np.float32), "one"),
    ]
    nodes = [
        helper.make_node("Sub", ["input", "scaler_mean"], ["centered"]),
        helper.make_node("Div", ["centered", "scaler_scale"], ["z0"]),
    ]
    prev = "z0"
    n_layers = len(clf.coefs_)
    for i, (W, b) in enumerate(zip(clf.coefs_, clf.intercepts_)):
        inits.append(numpy_helper.from_array(f32(W), f"W{i}"))
        inits.append(numpy_helper.from_array(f32(b), f"b{i}"))
        nodes.append(helper.make_node("MatMul", [prev, f"W{i}"], [f"mm{i}"]))
        nodes.append(helper.make_node("Add", [f"mm{i}", f"b{i}"], [f"pre{i}"]))
        if i < n_layers - 1:
            nodes.append(helper.make_node("Relu", [f"pre{i}"], [f"h{i}"]))
            prev = f"h{i}"
    last = f"pre{n_layers - 1}"
    nodes += [
        helper.make_node("Sigmoid", [last], ["p_benign"]),
        helper.make_node("Sub", ["one", "p_benign"], ["p_malignant"]),
        helper.make_node("Concat", ["p_malignant", "p_benign"],
                         ["probabilities"], axis=1),
        helper.make_node("ArgMax", ["probabilities"], ["label"], axis=1,
                         keepdims=0),
    ]
    graph = helper.make_graph(
        nodes, "breast_cancer_mlp",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, [None, 30])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, [None, 2]),
         helper.make_tensor_value_info("label", TensorProto.INT64, [None])],
        initializer=inits)
    model = helper.make_model(graph, producer_name="prism-testdata",
                              opset_imports=[helper.make_opsetid("", HAND_OPSET)])
    model.ir_version = HAND_IR

    rows = X_te[:N_REAL_ROWS]
    feeds = {"input": rows.astype(np.float32)}
    metadata = features_metadata(names, np.median(X_tr, axis=0),
                                 "probabilities", ["malignant", "benign"])
    outs = save_model_dir("breast_cancer_mlp", model, metadata,
                          instances_from_rows(names, X_te[:4]), feeds)

    # onnxruntime (float32) vs sklearn (float64) on the whole test split.
    _, (ort_p, ort_l) = run_ort(os.path.join(MODELS, "breast_cancer_mlp", "model.onnx"),
                                {"input": X_te.astype(np.float32)})
    sk_p = clf.predict_proba(scaler.transform(X_te.astype(np.float32).astype(np.float64)))
    err = float(np.max(np.abs(ort_p - sk_p)))
    log(f"[breast_cancer_mlp] max |ort - sklearn predict_proba| = {err:.3g}")
    assert err < 1e-5, err
    assert np.array_equal(ort_l, clf.predict(scaler.transform(X_te))), "labels"
    assert np.allclose(outs["probabilities"], sk_p[:N_REAL_ROWS], atol=1e-5)


def make_breast_cancer_gbt():
    names, X_tr, X_te, y_tr, y_te, _ = breast_cancer()
    clf = GradientBoostingClassifier(n_estimators=50, max_depth=3,
                                     random_state=0).fit(X_tr, y_tr)
    log(f"[breast_cancer_gbt] sklearn test accuracy {clf.score(X_te, y_te):.4f}")
    onx = convert_sklearn(
        clf, "breast_cancer_gbt",
        initial_types=[("input", FloatTensorType([None, 30]))],
        options={id(clf): {"zipmap": False}},
        target_opset=TREE_OPSET)
    onx = finish_skl2onnx(onx)
    log(f"[breast_cancer_gbt] node op types: {op_summary(onx)}")
    for n in onx.graph.node:
        if n.op_type == "TreeEnsembleClassifier":
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            log(f"[breast_cancer_gbt] TreeEnsembleClassifier post_transform="
                f"{attrs['post_transform'].decode()} "
                f"base_values={list(attrs['base_values'])} "
                f"classlabels_int64s={list(attrs['classlabels_int64s'])} "
                f"class_ids used={sorted(set(attrs['class_ids']))} "
                f"trees={len(set(attrs['nodes_treeids']))}")
    out_names = [o.name for o in onx.graph.output]
    prob_name = out_names[1] if len(out_names) > 1 else out_names[0]
    assert "prob" in prob_name, out_names

    feeds = {"input": X_te[:N_REAL_ROWS].astype(np.float32)}
    metadata = features_metadata(names, np.median(X_tr, axis=0), prob_name,
                                 ["malignant", "benign"])
    save_model_dir("breast_cancer_gbt", onx, metadata,
                   instances_from_rows(names, X_te[:4]), feeds)
    _, outs = run_ort(os.path.join(MODELS, "breast_cancer_gbt", "model.onnx"),
                      {"input": X_te.astype(np.float32)})
    ort_p = outs[out_names.index(prob_name)]
    sk_p = clf.predict_proba(X_te.astype(np.float32))
    err = float(np.max(np.abs(ort_p - sk_p)))
    log(f"[breast_cancer_gbt] max |ort - sklearn predict_proba| = {err:.3g}")
    assert err < 1e-4, err


def make_diabetes(name, reg):
    # Raw (unscaled) features, so instances read naturally ("age": 59,
    # "sex": 2, "bmi": 32.1, ...); trees do not care about scale.
    data = load_diabetes(scaled=False)
    names = [str(n) for n in data.feature_names]
    X_tr, X_te, y_tr, y_te = train_test_split(
        data.data, data.target, test_size=0.25, random_state=0)
    reg.fit(X_tr, y_tr)
    log(f"[{name}] sklearn test R^2 {reg.score(X_te, y_te):.4f}")
    onx = convert_sklearn(
        reg, name, initial_types=[("input", FloatTensorType([None, 10]))],
        target_opset=TREE_OPSET)
    onx = finish_skl2onnx(onx)
    log(f"[{name}] node op types: {op_summary(onx)}")
    for n in onx.graph.node:
        if n.op_type == "TreeEnsembleRegressor":
            attrs = {a.name: helper.get_attribute_value(a) for a in n.attribute}
            log(f"[{name}] TreeEnsembleRegressor aggregate_function="
                f"{attrs.get('aggregate_function', b'SUM').decode()} "
                f"post_transform={attrs.get('post_transform', b'NONE').decode()} "
                f"base_values={list(attrs.get('base_values', []))} "
                f"n_nodes={len(attrs['nodes_nodeids'])}")
    out_name = onx.graph.output[0].name
    feeds = {"input": X_te[:N_REAL_ROWS].astype(np.float32)}
    metadata = features_metadata(names, np.median(X_tr, axis=0), out_name)
    save_model_dir(name, onx, metadata, instances_from_rows(names, X_te[:4]), feeds)
    _, outs = run_ort(os.path.join(MODELS, name, "model.onnx"),
                      {"input": X_te.astype(np.float32)})
    sk = reg.predict(X_te.astype(np.float32)).reshape(-1, 1)
    err = float(np.max(np.abs(outs[0] - sk) / np.maximum(1.0, np.abs(sk))))
    log(f"[{name}] max relative |ort - sklearn predict| = {err:.3g}")
    assert err < 1e-5, err


# --------------------------------------------------------------------------
# hand-built models


def exact_shapley(name, x, baseline, groups=None):
    """Exact Shapley values of output 0 by enumerating every coalition with
    onnxruntime (single-input models). `groups` lists players as lists of
    feature indices; each member gets its group's value."""
    x = np.asarray(x, dtype=np.float64)
    b = np.asarray(baseline, dtype=np.float64)
    k = len(x)
    players = groups if groups is not None else [[i] for i in range(k)]
    p = len(players)
    masks = np.array([[(m >> j) & 1 for j in range(p)] for m in range(2 ** p)])
    rows = np.repeat(b[None, :], 2 ** p, axis=0)
    for j, members in enumerate(players):
        for i in members:
            rows[masks[:, j] == 1, i] = x[i]
    path = os.path.join(MODELS, name, "model.onnx")
    sess = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    inp = sess.get_inputs()[0].name
    v = sess.run(None, {inp: rows.astype(np.float32)})[0].reshape(2 ** p).astype(np.float64)
    from math import factorial
    phi = np.zeros(p)
    for m in range(2 ** p):
        size = int(masks[m].sum())
        for j in range(p):
            if not masks[m, j]:
                w = factorial(size) * factorial(p - size - 1) / factorial(p)
                phi[j] += w * (v[m | (1 << j)] - v[m])
    out = np.zeros(k)
    for j, members in enumerate(players):
        out[members] = phi[j]
    return out


def hand_model(name, nodes, inputs, outputs, inits):
    graph = helper.make_graph(nodes, name, inputs, outputs, initializer=inits)
    model = helper.make_model(graph, producer_name="prism-testdata",
                              opset_imports=[helper.make_opsetid("", HAND_OPSET)])
    model.ir_version = HAND_IR
    return model


def fx(k):
    return helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", k])


def fy():
    return helper.make_tensor_value_info("y", TensorProto.FLOAT, ["N", 1])


def const(name, values, dtype=np.float32):
    return numpy_helper.from_array(np.asarray(values, dtype=dtype), name)


def x_metadata(k, baseline=None):
    names = [f"x{i}" for i in range(k)]
    return {
        "inputs": {"x": {
            "inputTensorName": "x",
            "encoding": "IDENTITY",
            "modality": "numeric",
            "indexFeatureMapping": names,
            "inputBaselines": [list(baseline) if baseline is not None else [0] * k],
        }},
        "outputs": {"y": {"outputTensorName": "y"}},
    }


def batch(seed, fixed_rows, k, scale=10.0):
    """N_HAND_ROWS rows: the fixed ones first, then seeded random ones."""
    rng = np.random.default_rng(seed)
    rand = rng.normal(0.0, scale, size=(N_HAND_ROWS - len(fixed_rows), k))
    rows = np.concatenate([np.asarray(fixed_rows, dtype=np.float64).reshape(-1, k),
                           np.round(rand, 3)])
    return rows.astype(np.float32)


def make_peer_relu():
    nodes = [
        helper.make_node("MatMul", ["x", "ones"], ["s"]),
        helper.make_node("Sub", ["s", "ten"], ["s_minus_10"]),
        helper.make_node("Relu", ["s_minus_10"], ["r1"]),
        helper.make_node("Add", ["s", "one"], ["s_plus_1"]),
        helper.make_node("Relu", ["s_plus_1"], ["r2"]),
        helper.make_node("Mul", ["r2", "three"], ["r2x3"]),
        helper.make_node("Add", ["r1", "r2x3"], ["sum"]),
        helper.make_node("Sub", ["sum", "one"], ["y"]),
    ]
    inits = [const("ones", np.ones((3, 1))), const("ten", [10.0]),
             const("one", [1.0]), const("three", [3.0])]
    model = hand_model("peer_relu", nodes, [fx(3)], [fy()], inits)
    instances = [{"x0": 20, "x1": 50, "x2": 30},
                 {"x0": 4, "x1": 4, "x2": 4},
                 {"x0": -3, "x1": 1, "x2": 0.5}]
    feeds = {"x": batch(1, [[20, 50, 30], [0, 0, 0], [4, 4, 4]], 3, scale=20)}
    outs = save_model_dir("peer_relu", model, x_metadata(3), instances, feeds)
    s = feeds["x"].astype(np.float64).sum(1, keepdims=True)
    ref = np.maximum(s - 10, 0) + 3 * np.maximum(s + 1, 0) - 1
    assert np.allclose(outs["y"], ref, atol=1e-4)
    assert outs["y"][0, 0] == 392.0 and outs["y"][1, 0] == 2.0
    # the public peer check (explanations.md, check 1)
    x = [20, 50, 30]
    phi = exact_shapley("peer_relu", x, [0, 0, 0])
    assert np.allclose(phi, [76.6666667, 196.6666667, 116.6666667], atol=1e-3), phi
    phi = exact_shapley("peer_relu", x, [0, 0, 0], groups=[[0, 1], [2]])
    assert np.allclose(phi, [275, 275, 115], atol=1e-3), phi
    phi = exact_shapley("peer_relu", x, [4, 4, 4], groups=[[0, 1], [2]])
    assert np.allclose(phi, [248, 248, 104], atol=1e-3), phi
    log("[peer_relu] exact Shapley checks pass: [76.667, 196.667, 116.667]; "
        "grouped {x0,x1}: [275, 275, 115]; grouped, baseline 4: [248, 248, 104]")


def make_peer_linear():
    nodes = [helper.make_node("Gemm", ["x", "w", "b"], ["y"])]
    inits = [const("w", [[2.0], [3.0], [4.0]]), const("b", [5.0])]
    model = hand_model("peer_linear", nodes, [fx(3)], [fy()], inits)
    instances = [{"x0": 30, "x1": 60, "x2": 30},
                 {"x0": 10, "x1": 20, "x2": 10},
                 {"x0": -1.5, "x1": 0, "x2": 2.25}]
    feeds = {"x": batch(2, [[30, 60, 30], [10, 20, 10]], 3)}
    outs = save_model_dir("peer_linear", model, x_metadata(3, [10, 20, 10]),
                          instances, feeds)
    ref = feeds["x"].astype(np.float64) @ np.array([[2.0], [3.0], [4.0]]) + 5
    assert np.allclose(outs["y"], ref, atol=1e-4)
    assert outs["y"][0, 0] == 365.0 and outs["y"][1, 0] == 125.0
    phi = exact_shapley("peer_linear", [30, 60, 30], [10, 20, 10])
    assert np.allclose(phi, [40, 120, 80], atol=1e-4), phi
    log("[peer_linear] exact Shapley check passes: [40, 120, 80]")


def make_peer_interaction():
    nodes = []
    inits = []
    for i in range(4):  # x4 is never read: a dummy feature
        inits.append(const(f"idx{i}", [i], dtype=np.int64))
        nodes.append(helper.make_node("Gather", ["x", f"idx{i}"], [f"x{i}"], axis=1))
    nodes += [
        helper.make_node("Mul", ["x0", "x2"], ["x0x2"]),
        helper.make_node("Mul", ["x2", "x3"], ["x2x3"]),
        helper.make_node("Add", ["x0x2", "x1"], ["t1"]),
        helper.make_node("Add", ["t1", "x2"], ["t2"]),
        helper.make_node("Add", ["t2", "x2x3"], ["y"]),
    ]
    model = hand_model("peer_interaction", nodes, [fx(5)], [fy()], inits)
    instances = [{"x0": 1, "x1": 2, "x2": 3, "x3": 4, "x4": 5},
                 {"x0": 2, "x1": -1, "x2": 0.5, "x3": 2, "x4": -7},
                 {"x0": -3, "x1": 4, "x2": 2, "x3": -3, "x4": 100}]
    feeds = {"x": batch(3, [[1, 2, 3, 4, 5], [2, -1, 0.5, 2, -7]], 5, scale=3)}
    outs = save_model_dir("peer_interaction", model, x_metadata(5), instances, feeds)
    x = feeds["x"].astype(np.float64)
    ref = x[:, 0] * x[:, 2] + x[:, 1] + x[:, 2] + x[:, 2] * x[:, 3]
    assert np.allclose(outs["y"][:, 0], ref, atol=1e-4)
    assert outs["y"][0, 0] == 20.0
    for inst in instances:
        x0, x1, x2, x3, _ = (inst[f"x{i}"] for i in range(5))
        want = [x0 * x2 / 2, x1, x2 + x0 * x2 / 2 + x2 * x3 / 2, x2 * x3 / 2, 0]
        phi = exact_shapley("peer_interaction", [inst[f"x{i}"] for i in range(5)],
                            [0] * 5)
        assert np.allclose(phi, want, atol=1e-4), (phi, want)
    log("[peer_interaction] exact Shapley checks pass, e.g. x=(1,2,3,4,5): "
        "[1.5, 2, 10.5, 6, 0]")


def make_peer_null():
    nodes = [
        helper.make_node("Mul", ["x", "zero"], ["zeros"]),
        helper.make_node("ReduceSum", ["zeros", "axes"], ["y"], keepdims=1),
    ]
    inits = [const("zero", [0.0]), const("axes", [1], dtype=np.int64)]
    model = hand_model("peer_null", nodes, [fx(4)], [fy()], inits)
    instances = [{"x0": 1, "x1": 2, "x2": 3, "x3": 4},
                 {"x0": -5.5, "x1": 0, "x2": 12, "x3": 0.25},
                 {"x0": 100, "x1": -100, "x2": 1e-3, "x3": 7}]
    feeds = {"x": batch(4, [[1, 2, 3, 4]], 4)}
    outs = save_model_dir("peer_null", model, x_metadata(4), instances, feeds)
    assert np.all(outs["y"] == 0.0)
    for inst in instances:
        phi = exact_shapley("peer_null", [inst[f"x{i}"] for i in range(4)], [0] * 4)
        assert np.all(phi == 0.0), phi


IG_SPEC = {"integratedGradientsAttribution": {"stepCount": 50}}


def make_peer_ig_relu(name, twin):
    if twin:  # relu(relu(x0 - 1) - relu(x1))
        nodes = [
            helper.make_node("Gather", ["x", "i0"], ["x0"], axis=1),
            helper.make_node("Gather", ["x", "i1"], ["x1"], axis=1),
            helper.make_node("Sub", ["x0", "one"], ["x0m1"]),
            helper.make_node("Relu", ["x0m1"], ["h1"]),
            helper.make_node("Relu", ["x1"], ["h2"]),
            helper.make_node("Sub", ["h1", "h2"], ["d"]),
            helper.make_node("Relu", ["d"], ["y"]),
        ]
    else:  # relu(relu(x0) - 1 - relu(x1))
        nodes = [
            helper.make_node("Gather", ["x", "i0"], ["x0"], axis=1),
            helper.make_node("Gather", ["x", "i1"], ["x1"], axis=1),
            helper.make_node("Relu", ["x0"], ["h1"]),
            helper.make_node("Relu", ["x1"], ["h2"]),
            helper.make_node("Sub", ["h1", "one"], ["h1m1"]),
            helper.make_node("Sub", ["h1m1", "h2"], ["d"]),
            helper.make_node("Relu", ["d"], ["y"]),
        ]
    inits = [const("i0", [0], dtype=np.int64), const("i1", [1], dtype=np.int64),
             const("one", [1.0])]
    model = hand_model(name, nodes, [fx(2)], [fy()], inits)
    instances = [{"x0": 3, "x1": 1}, {"x0": 5, "x1": 0.5}, {"x0": 0.5, "x1": 2}]
    feeds = {"x": batch(5, [[3, 1], [5, 0.5], [0.5, 2]], 2, scale=3)}
    outs = save_model_dir(name, model, x_metadata(2), instances, feeds, spec=IG_SPEC)
    x = feeds["x"].astype(np.float64)
    ref = np.maximum(np.maximum(x[:, 0], 0) - 1 - np.maximum(x[:, 1], 0), 0)
    assert np.allclose(outs["y"][:, 0], ref, atol=1e-5)
    assert outs["y"][0, 0] == 1.0


def make_peer_ig_field():
    nodes = [
        helper.make_node("Gather", ["x", "i0"], ["x0"], axis=1),
        helper.make_node("Gather", ["x", "i1"], ["x1"], axis=1),
        helper.make_node("Gather", ["x", "i2"], ["x2"], axis=1),
        helper.make_node("Mul", ["x0", "five"], ["t0"]),
        helper.make_node("Mul", ["x1", "x1"], ["t1"]),
        helper.make_node("Sin", ["x2"], ["t2"]),
        helper.make_node("Add", ["t0", "t1"], ["t01"]),
        helper.make_node("Add", ["t01", "t2"], ["y"]),
    ]
    inits = [const(f"i{i}", [i], dtype=np.int64) for i in range(3)] + [const("five", [5.0])]
    model = hand_model("peer_ig_field", nodes, [fx(3)], [fy()], inits)
    instances = [{"x0": 1, "x1": 2, "x2": 3}, {"x0": -2, "x1": 0.5, "x2": 0.25}]
    feeds = {"x": batch(6, [[1, 2, 3], [-2, 0.5, 0.25]], 3, scale=2)}
    outs = save_model_dir("peer_ig_field", model, x_metadata(3, [0.5, 1, 1]),
                          instances, feeds, spec=IG_SPEC)
    x = feeds["x"].astype(np.float64)
    ref = 5 * x[:, 0] + x[:, 1] ** 2 + np.sin(x[:, 2])
    assert np.allclose(outs["y"][:, 0], ref, atol=1e-5)


EMB_TABLE = [[0.0, 0.0], [1.0, 2.0], [-1.0, 0.5], [3.0, -2.0], [0.25, 0.25], [-2.0, -1.0]]
EMB_W = [[1.5], [-0.5]]


def make_peer_embedding():
    nodes = [
        helper.make_node("Gather", ["table", "ids"], ["embedding"], axis=0),
        helper.make_node("MatMul", ["embedding", "w"], ["per_token"]),
        helper.make_node("ReduceSum", ["per_token", "axes"], ["y"], keepdims=0),
    ]
    inits = [const("table", EMB_TABLE), const("w", EMB_W),
             const("axes", [1], dtype=np.int64)]
    ids = helper.make_tensor_value_info("ids", TensorProto.INT64, ["N", 4])
    model = hand_model("peer_embedding", nodes, [ids], [fy()], inits)
    metadata = {
        "inputs": {"ids": {
            "inputTensorName": "ids",
            "modality": "text",
            "encodedTensorName": "embedding",
            "inputBaselines": [0],
        }},
        "outputs": {"y": {"outputTensorName": "y"}},
    }
    instances = [{"ids": [1, 2, 3, 0]}, {"ids": [5, 5, 4, 1]}]
    feeds = {"ids": np.array([[1, 2, 3, 0], [5, 5, 4, 1], [0, 0, 0, 0]], dtype=np.int64)}
    outs = save_model_dir("peer_embedding", model, metadata, instances, feeds, spec=IG_SPEC)
    table, w = np.array(EMB_TABLE), np.array(EMB_W)
    ref = (table[feeds["ids"]] @ w).sum(1)
    assert np.allclose(outs["y"], ref, atol=1e-6), (outs["y"], ref)


MULTI_W = [
    # low  mid  high
    [1.0, 0.0, -1.0],   # a
    [0.0, 1.0, 0.0],    # b
    [-1.0, 0.0, 1.0],   # c
    [0.5, -0.5, 0.0],   # d
    [0.0, 0.5, -0.5],   # e
]
MULTI_B = [0.1, 0.0, -0.1]


def make_multi_input():
    nodes = [
        helper.make_node("Concat", ["numeric", "extra"], ["joined"], axis=1),
        helper.make_node("MatMul", ["joined", "W"], ["logits0"]),
        helper.make_node("Add", ["logits0", "b"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["scores"], axis=1),
    ]
    inits = [const("W", MULTI_W), const("b", MULTI_B)]
    model = hand_model(
        "multi_input", nodes,
        [helper.make_tensor_value_info("numeric", TensorProto.FLOAT, ["N", 3]),
         helper.make_tensor_value_info("extra", TensorProto.FLOAT, ["N", 2])],
        [helper.make_tensor_value_info("scores", TensorProto.FLOAT, ["N", 3])],
        inits)
    metadata = {
        "inputs": {
            "numeric": {
                "inputTensorName": "numeric",
                "encoding": "IDENTITY",
                "modality": "numeric",
                "indexFeatureMapping": ["a", "b", "c"],
                "inputBaselines": [[0, 0, 0]],
            },
            "extra": {
                "inputTensorName": "extra",
                "encoding": "IDENTITY",
                "modality": "numeric",
                "indexFeatureMapping": ["d", "e"],
                "inputBaselines": [[0, 0]],
                "groupName": "extra_group",
            },
        },
        "outputs": {"scores": {"outputTensorName": "scores",
                               "indexDisplayNameMapping": ["low", "mid", "high"]}},
    }
    instances = [{"a": 3, "b": 0, "c": 0, "d": 1, "e": 0},     # argmax low
                 {"a": 0, "b": 3, "c": 0, "d": 0, "e": 1},     # argmax mid
                 {"a": 0, "b": 0, "c": 3, "d": 0, "e": -1},    # argmax high
                 {"a": 1, "b": 1.5, "c": 0.5, "d": -2, "e": 2}]
    inst = np.array([[r[k] for k in "abcde"] for r in instances], dtype=np.float64)
    rng = np.random.default_rng(5)
    rest = np.round(rng.normal(0.0, 2.0, size=(N_HAND_ROWS - len(inst), 5)), 3)
    rows = np.concatenate([inst, rest]).astype(np.float32)
    feeds = {"numeric": rows[:, :3], "extra": rows[:, 3:]}
    outs = save_model_dir("multi_input", model, metadata, instances, feeds)
    logits = rows.astype(np.float64) @ np.array(MULTI_W) + np.array(MULTI_B)
    ref = np.exp(logits - logits.max(1, keepdims=True))
    ref /= ref.sum(1, keepdims=True)
    assert np.allclose(outs["scores"], ref, atol=1e-6)
    argmax = list(outs["scores"][:3].argmax(1))
    assert argmax == [0, 1, 2], argmax
    log(f"[multi_input] argmax of the batch: {[int(i) for i in outs['scores'].argmax(1)]}")


LIST_C = [1.0, -2.0, 0.5, 3.0]


def make_list_feature():
    nodes = [
        helper.make_node("Mul", ["vec", "vec"], ["sq"]),
        helper.make_node("Mul", ["sq", "c"], ["weighted"]),
        helper.make_node("ReduceSum", ["weighted", "axes"], ["y"], keepdims=1),
    ]
    inits = [const("c", LIST_C), const("axes", [1], dtype=np.int64)]
    model = hand_model(
        "list_feature", nodes,
        [helper.make_tensor_value_info("vec", TensorProto.FLOAT, ["N", 4])],
        [fy()], inits)
    metadata = {
        "inputs": {"vec": {
            "inputTensorName": "vec",
            "encoding": "IDENTITY",
            "modality": "numeric",
            "inputBaselines": [[0, 0, 0, 0]],
        }},
        "outputs": {"y": {"outputTensorName": "y"}},
    }
    instances = [{"vec": [1, 2, 3, 4]},
                 {"vec": [0.5, -1, 2, 0]},
                 {"vec": [-3, 0.25, 1, -1]}]
    rng = np.random.default_rng(6)
    fixed = np.array([r["vec"] for r in instances], dtype=np.float64)
    rest = np.round(rng.normal(0.0, 2.0, size=(N_HAND_ROWS - len(fixed), 4)), 3)
    feeds = {"vec": np.concatenate([fixed, rest]).astype(np.float32)}
    outs = save_model_dir("list_feature", model, metadata, instances, feeds)
    ref = (feeds["vec"].astype(np.float64) ** 2 * np.array(LIST_C)).sum(1)
    assert np.allclose(outs["y"][:, 0], ref, atol=1e-4)
    assert outs["y"][0, 0] == 1 - 8 + 4.5 + 48


def main():
    os.makedirs(MODELS, exist_ok=True)
    log(f"numpy {np.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__}, skl2onnx {sys.modules['skl2onnx'].__version__}, "
        f"scikit-learn {sys.modules['sklearn'].__version__}")
    make_breast_cancer_mlp()
    make_breast_cancer_gbt()
    make_diabetes("diabetes_rf", RandomForestRegressor(
        n_estimators=20, max_depth=6, random_state=0))
    make_diabetes("diabetes_gbr", GradientBoostingRegressor(
        n_estimators=30, max_depth=3, random_state=0))
    make_peer_relu()
    make_peer_linear()
    make_peer_interaction()
    make_peer_null()
    make_peer_ig_relu("peer_ig_relu", twin=False)
    make_peer_ig_relu("peer_ig_relu_twin", twin=True)
    make_peer_ig_field()
    make_peer_embedding()
    make_multi_input()
    make_list_feature()
    log("done")


if __name__ == "__main__":
    main()
