"""Replays the gradient tests' rewritten models on ONNX Runtime.

    PRISM_GRAD_DUMP=/tmp/graddump cargo test -p prism-model --test gradient
    python3 crates/model/tests/gradient/ort_replay.py /tmp/graddump

Each dumped model (`<test>-<n>.onnx`, with its inputs and tract's outputs in `.json`) is
checked with the ONNX checker and run on onnxruntime's CPU provider; every float output
(forward outputs and `<input>__grad`) must match tract's to 1e-4 relative to max(1, |x|).
The original model (`<test>-<n>.orig.onnx`) also runs on onnxruntime: its outputs must
match the rewritten model's (this checks the unrolling of LSTM and GRU against
onnxruntime's own kernels).
Needs `pip install onnxruntime onnx numpy`. The checker's complaint that a graph output
has no shape is ignored: the tests' graphs declare outputs without one.
"""
import glob
import json
import sys

import numpy as np
import onnx
import onnxruntime as ort

TOLERANCE = 1e-4
ort.set_default_logger_severity(3)
ok = bad = 0
for path in sorted(p for p in glob.glob(sys.argv[1] + "/*.onnx") if not p.endswith(".orig.onnx")):
    doc = json.load(open(path[:-5] + ".json"))
    model = onnx.load(path)
    problems = []
    try:
        onnx.checker.check_model(model)
    except Exception as e:
        message = str(e).splitlines()[0]
        if "Field 'shape' of 'type' is required" not in message:
            problems.append(f"checker: {message[:200]}")
    try:
        session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
        feeds = {
            k: np.array(v["data"], dtype=v["dtype"]).reshape(v["shape"])
            for k, v in doc["inputs"].items()
        }
        names = [o.name for o in session.get_outputs()]
        got = dict(zip(names, session.run(None, feeds)))
        for k, v in doc["outputs"].items():
            want = np.array(v["data"]).reshape(v["shape"])
            have = got[k].astype(np.float64)
            err = np.max(np.abs(have - want) / np.maximum(1.0, np.abs(want))) if want.size else 0
            if not err <= TOLERANCE:
                problems.append(f"{k}: max relative difference {err:.3e}")
        original = ort.InferenceSession(path[:-5] + ".orig.onnx", providers=["CPUExecutionProvider"])
        orig_feeds = {i.name: feeds[i.name] for i in original.get_inputs()}
        for o, value in zip(original.get_outputs(), original.run(None, orig_feeds)):
            if value.dtype.kind != "f":
                continue
            have = got[o.name].astype(np.float64)
            err = np.max(np.abs(have - value) / np.maximum(1.0, np.abs(value))) if value.size else 0
            if not err <= TOLERANCE:
                problems.append(f"original {o.name}: max relative difference {err:.3e}")
    except Exception as e:
        problems.append(f"onnxruntime: {str(e).splitlines()[0][:300]}")
    if problems:
        bad += 1
        print(path.split("/")[-1], "; ".join(problems))
    else:
        ok += 1
print(f"{ok} passed, {bad} failed")
sys.exit(1 if bad else 0)
