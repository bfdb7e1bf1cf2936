"""Make Prism's image and text test models with PyTorch, plus Captum peer numbers.

Run from the repository root (torch's PyPI wheel pulls several GB of CUDA
libraries, so use a scratch virtual environment, never the test command):

    python3 -m venv .venv-torch
    .venv-torch/bin/pip install -r testdata/requirements-torch.txt
    .venv-torch/bin/python testdata/make_torch_models.py

It reuses the conventions and helpers of ``make_models.py`` (opset 17, IR 8,
``save_model_dir``). Training runs on the CPU with one thread, fixed seeds and
``torch.use_deterministic_algorithms(True)``; re-running rewrites identical
files with the pinned versions. Models (folders under ``testdata/models/``):

* ``digits_cnn`` -- a small CNN trained on scikit-learn's 8x8 digits,
  bilinearly upsampled to 28x28, values in [0, 1] rounded to 4 decimals.
  Input ``image`` float32 [N, 28, 28, 1] (channels-last; the graph transposes
  to NCHW), output ``probabilities`` float32 [N, 10].
* ``text_sentiment`` -- token ids -> Embedding(60, 8) -> mean over the 12
  positions -> Linear -> Softmax, trained on a generated sentiment corpus.
  Input ``tokens`` int64 [N, 12], output ``probabilities`` float32 [N, 2];
  the embedding Gather's output is named ``token_embeddings`` (the metadata's
  ``encodedTensorName``); ``vocab.json`` maps id -> word.
* ``resnet_small`` -- a ResNet-style net (stem + 3 residual blocks with
  BatchNorm, folded into the convolutions on export) on the digits upsampled
  to 32x32 and repeated over 3 channels. Input ``image`` float32
  [N, 3, 32, 32] (channels-first), output ``probabilities`` float32 [N, 10].
  For speed benchmarks.

Besides the ``save_model_dir`` files, each folder gets ``captum_ig.json``:
Captum's Integrated Gradients (Gauss-Legendre, 50 steps, zero baseline;
``LayerIntegratedGradients`` on the embedding for the text model, summed over
the embedding dimension) for each instance of ``instances.jsonl`` at its
argmax class, computed in float64 on a torch module rebuilt from the exported
ONNX initializers (``torch_from_onnx``), i.e. on exactly the function the
float32 ONNX model computes, evaluated in double precision.
"""

import copy
import hashlib
import io
import json
import os
import sys
import warnings

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from make_models import (  # noqa: E402
    HAND_IR,
    HAND_OPSET,
    IG_SPEC,
    MODELS,
    log,
    op_summary,
    save_model_dir,
    write_json,
)

IG_STEPS = 50
IG_METHOD = "gausslegendre"
ORT_TOL = 1e-5

VISUALIZATION = {
    "type": "PIXELS",
    "polarity": "POSITIVE",
    "colorMap": "PINK_GREEN",
    "clipPercentUpperbound": 99.9,
    "clipPercentLowerbound": 70,
    "overlayType": "GRAYSCALE",
}
DIGIT_NAMES = [str(i) for i in range(10)]


def setup_torch():
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.benchmark = False


# --------------------------------------------------------------------------
# architectures


class DigitsCNN(nn.Module):
    """[N, 28, 28, 1] channels-last image -> [N, 10] probabilities."""

    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 8, 3, padding=1)
        self.conv2 = nn.Conv2d(8, 16, 3, padding=1)
        self.fc = nn.Linear(16 * 7 * 7, 10)

    def logits(self, image):
        x = image.permute(0, 3, 1, 2)  # NHWC -> NCHW: a Transpose in the graph
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        x = F.max_pool2d(F.relu(self.conv2(x)), 2)
        return self.fc(torch.flatten(x, 1))

    def forward(self, image):
        return torch.softmax(self.logits(image), dim=1)


class TextSentiment(nn.Module):
    """[N, 12] int64 token ids -> [N, 2] probabilities (negative, positive).

    The mean runs over all 12 positions; the pad embedding (id 0) is the
    zero vector (``padding_idx``), so pads add nothing and the model is a
    function of the embeddings alone (no mask computed from the ids): the
    all-pad baseline maps to the zero embedding.
    """

    def __init__(self, vocab_size, dim=8):
        super().__init__()
        self.embedding = nn.Embedding(vocab_size, dim, padding_idx=0)
        self.fc = nn.Linear(dim, 2)

    def logits(self, tokens):
        return self.fc(self.embedding(tokens).mean(dim=1))

    def forward(self, tokens):
        return torch.softmax(self.logits(tokens), dim=1)

    def head(self, embeddings):
        """Probabilities as a function of the [N, 12, 8] embeddings."""
        return torch.softmax(self.fc(embeddings.mean(dim=1)), dim=1)


class Block(nn.Module):
    def __init__(self, cin, cout, stride, bn=True):
        super().__init__()
        norm = (lambda c: nn.BatchNorm2d(c)) if bn else (lambda c: nn.Identity())
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=not bn)
        self.bn1 = norm(cout)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=not bn)
        self.bn2 = norm(cout)
        if stride != 1 or cin != cout:
            self.down = nn.Conv2d(cin, cout, 1, stride, bias=not bn)
            self.down_bn = norm(cout)
        else:
            self.down = None

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        short = x if self.down is None else self.down_bn(self.down(x))
        return F.relu(out + short)


class ResNetSmall(nn.Module):
    """[N, 3, 32, 32] -> [N, 10] probabilities. ``bn=False`` is the exported
    (inference) form: BatchNorm folded into conv weights and biases."""

    def __init__(self, bn=True):
        super().__init__()
        self.stem = nn.Conv2d(3, 16, 3, 1, 1, bias=not bn)
        self.stem_bn = nn.BatchNorm2d(16) if bn else nn.Identity()
        self.block1 = Block(16, 16, 1, bn)
        self.block2 = Block(16, 32, 2, bn)
        self.block3 = Block(32, 64, 2, bn)
        self.fc = nn.Linear(64, 10)

    def logits(self, image):
        x = F.relu(self.stem_bn(self.stem(image)))
        x = self.block3(self.block2(self.block1(x)))
        x = F.adaptive_avg_pool2d(x, 1)
        return self.fc(torch.flatten(x, 1))

    def forward(self, image):
        return torch.softmax(self.logits(image), dim=1)


def new_module(name):
    """The inference-form module for a model folder (weights unset)."""
    if name == "digits_cnn":
        return DigitsCNN()
    if name == "text_sentiment":
        return TextSentiment(len(VOCAB))
    if name == "resnet_small":
        return ResNetSmall(bn=False)
    raise KeyError(name)


def torch_from_onnx(name, models_dir=MODELS):
    """Rebuild the torch module of testdata/models/<name>/model.onnx from its
    initializers (conv/linear/embedding weights), so that it computes exactly
    the exported function. Node names carry the module scope
    (``/block1/conv1/Conv`` -> ``block1.conv1``)."""
    model = onnx.load(os.path.join(models_dir, name, "model.onnx"))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    module = new_module(name).eval()
    params = dict(module.named_parameters())
    loaded = set()

    def put(pname, arr):
        p = params[pname]
        assert tuple(p.shape) == arr.shape, (pname, p.shape, arr.shape)
        with torch.no_grad():
            p.copy_(torch.from_numpy(np.array(arr)))
        loaded.add(pname)

    for node in model.graph.node:
        scope = ".".join(node.name.strip("/").split("/")[:-1])
        if node.op_type == "Conv":
            put(scope + ".weight", inits[node.input[1]])
            put(scope + ".bias", inits[node.input[2]])
        elif node.op_type == "Gemm":
            attrs = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
            w = inits[node.input[1]]
            put(scope + ".weight", w if attrs.get("transB", 0) else w.T)
            put(scope + ".bias", inits[node.input[2]])
        elif node.op_type == "Gather" and node.input[0] in inits:
            put(scope + ".weight", inits[node.input[0]])
    missing = set(params) - loaded
    assert not missing, f"{name}: parameters not found in the ONNX graph: {missing}"
    return module


# --------------------------------------------------------------------------
# training, export, checks


def train(model, X, y, epochs, lr, batch=32, seed=0, shift_dims=None, shift=2):
    """AdamW with a one-cycle learning rate; for images, each batch is rolled
    by a random -shift..shift pixels along ``shift_dims`` (the digits'
    borders are mostly empty, so rolling is close to a translation)."""
    g = torch.Generator().manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    steps = epochs * ((len(X) + batch - 1) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps)
    X = torch.as_tensor(X)
    y = torch.as_tensor(y)
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(X), generator=g)
        total = 0.0
        for i in range(0, len(X), batch):
            idx = perm[i:i + batch]
            xb = X[idx]
            if shift_dims is not None:
                s = torch.randint(-shift, shift + 1, (2,), generator=g)
                xb = torch.roll(xb, shifts=(int(s[0]), int(s[1])), dims=shift_dims)
            opt.zero_grad()
            loss = F.cross_entropy(model.logits(xb), y[idx])
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        log(f"  epoch {epoch + 1}/{epochs}: train loss {total / len(X):.4f}")
    model.eval()
    return model


@torch.no_grad()
def accuracy(model, X, y):
    model.eval()
    pred = model(torch.as_tensor(X)).argmax(1).numpy()
    return float((pred == np.asarray(y)).mean())


def export(model, name, example, input_name, output_name="probabilities"):
    """torch.onnx.export (TorchScript exporter, opset 17) -> onnx.ModelProto."""
    buf = io.BytesIO()
    with warnings.catch_warnings():
        # "You are using the legacy TorchScript-based ONNX export" -- on purpose.
        warnings.simplefilter("ignore", DeprecationWarning)
        torch.onnx.export(
            model, (example,), buf,
            dynamo=False,  # the dynamo exporter needs onnxscript; targets opset 18
            opset_version=HAND_OPSET,
            do_constant_folding=True,  # folds BatchNorm into Conv (eval mode)
            input_names=[input_name],
            output_names=[output_name],
            dynamic_axes={input_name: {0: "N"}, output_name: {0: "N"}},
        )
    onx = onnx.load_from_string(buf.getvalue())
    onx.ir_version = HAND_IR
    onx.producer_version = ""  # don't bake the torch version into the bytes
    onx.graph.name = name
    assert [(o.domain, o.version) for o in onx.opset_import] == [("", HAND_OPSET)], \
        onx.opset_import
    log(f"[{name}] torch.onnx emitted: {op_summary(onx)}")
    return onx


def ort_session(path):
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1
    so.inter_op_num_threads = 1
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


@torch.no_grad()
def check_ort(name, model, X):
    """onnxruntime on the written model.onnx == torch (float32) to ORT_TOL."""
    sess = ort_session(os.path.join(MODELS, name, "model.onnx"))
    inp = sess.get_inputs()[0].name
    got = sess.run(None, {inp: np.asarray(X)})[0]
    want = model(torch.as_tensor(X)).numpy()
    err = float(np.max(np.abs(got - want)))
    log(f"[{name}] max |onnxruntime - torch| over {len(X)} rows = {err:.3g}")
    assert err < ORT_TOL, err
    return got


# --------------------------------------------------------------------------
# Captum peer numbers


def direct_ig(f, x, b, k, n_steps=IG_STEPS):
    """Gauss-Legendre IG of f(.)[:, k] from b to x, in float64 throughout:
    nodes alpha_i = (1 + t_i) / 2 and weights w_i / 2 from numpy's leggauss
    (Captum's "gausslegendre" rule)."""
    t, w = np.polynomial.legendre.leggauss(n_steps)
    alphas = torch.as_tensor((t + 1) / 2).reshape(-1, *[1] * x.dim())
    weights = torch.as_tensor(w / 2).reshape(-1, *[1] * x.dim())
    path = (b[None] + alphas * (x - b)[None]).requires_grad_(True)
    grads, = torch.autograd.grad(f(path)[:, k].sum(), path)
    return (x - b) * (weights * grads).sum(0)


def captum_ig(name, instances_x, baseline_x, text=False, extra=None):
    """Captum IG (float64, module rebuilt from model.onnx) for each instance at
    its argmax class; writes captum_ig.json. Cross-checks each result against
    ``direct_ig``."""
    import captum
    from captum.attr import IntegratedGradients, LayerIntegratedGradients

    model = torch_from_onnx(name).double().eval()
    if not text:
        ig = IntegratedGradients(model)
        cast = lambda a: torch.as_tensor(np.asarray(a, dtype=np.float32)).double()
    else:
        ig = LayerIntegratedGradients(model, model.embedding)
        cast = lambda a: torch.as_tensor(np.asarray(a, dtype=np.int64))
    rows = []
    for x in instances_x:
        x = cast(x)[None]
        b = cast(baseline_x)[None]
        with torch.no_grad():
            out = model(x)[0]
            base = model(b)[0]
        k = int(out.argmax())
        attr, delta = ig.attribute(x, baselines=b, target=k, n_steps=IG_STEPS,
                                   method=IG_METHOD, return_convergence_delta=True)
        attr = attr[0].detach()
        if text:  # one number per token: sum over the embedding dim
            emb = model.embedding.weight.detach()
            direct = direct_ig(model.head, emb[x[0]], emb[b[0]], k).sum(-1)
            attr = attr.sum(-1)
        else:
            direct = direct_ig(model, x[0], b[0], k)
        gap = float(out[k] - base[k])
        delta = float(delta[0])
        # Captum's delta = sum(attributions) - (f(x) - f(b)); check it ourselves.
        assert abs(float(attr.sum()) - gap - delta) < 1e-9, (attr.sum(), gap, delta)
        # Captum scales the gradients by float32 quadrature weights
        # (torch.tensor(step_sizes).float()), so it is ~1e-8 (relative) off an
        # exact float64 sum; anything larger would be a real disagreement.
        scale = float(attr.abs().max())
        diff = float((attr - direct).abs().max())
        assert diff <= 1e-6 * scale, (diff, scale)
        rows.append({
            "target": k,
            "attributions": attr.numpy().tolist(),
            "delta": delta,
            "output": float(out[k]),
            "baseline_output": float(base[k]),
            "approximation_error": abs(delta) / abs(gap),
        })
        log(f"[{name}] captum IG target {k}: f(x) {float(out[k]):.6f}, "
            f"f(b) {float(base[k]):.6f}, sum(attr) {float(attr.sum()):.6f}, "
            f"delta {delta:.3e}, |delta|/|f(x)-f(b)| {abs(delta) / abs(gap):.3e}; "
            f"max |captum - direct float64 GL| {diff:.2g} (max |attr| {scale:.3g})")
    doc = {
        "captum_version": captum.__version__,
        "torch_version": torch.__version__.split("+")[0],
        "method": IG_METHOD,
        "n_steps": IG_STEPS,
        "dtype": "float64",
        **(extra or {}),
        "note": "module rebuilt from model.onnx's float32 weights, run in float64; "
                "Captum multiplies the gradients by float32 Gauss-Legendre weights, "
                "so these agree with an exact float64 quadrature to ~1e-8 relative",
        "instances": rows,
    }
    write_json(os.path.join(MODELS, name, "captum_ig.json"), doc)
    return rows


# --------------------------------------------------------------------------
# data


def digits_images(size):
    """sklearn digits scaled to [0, 1], bilinearly upsampled to size x size,
    rounded to 4 decimals (the values instances carry). Returns
    (X_train, X_test, y_train, y_test) with X as float32 [n, size, size]."""
    data = load_digits()
    X = torch.as_tensor(data.images / 16.0, dtype=torch.float64)[:, None]
    X = F.interpolate(X, size=(size, size), mode="bilinear", align_corners=False)
    X = np.round(X[:, 0].numpy(), 4)
    assert X.min() >= 0.0 and X.max() <= 1.0
    X_tr, X_te, y_tr, y_te = train_test_split(
        X, data.target, test_size=0.25, random_state=0)
    return (X_tr.astype(np.float32), X_te.astype(np.float32),
            y_tr.astype(np.int64), y_te.astype(np.int64))


def distinct_label_rows(y, n=3):
    """Indices of the first n rows whose labels are pairwise distinct."""
    rows, seen = [], set()
    for i, label in enumerate(y):
        if int(label) not in seen:
            rows.append(i)
            seen.add(int(label))
        if len(rows) == n:
            return rows
    raise ValueError("not enough labels")


def nested(arr):
    """float32 array of 4-decimal values -> nested lists of those decimals."""
    return np.round(np.asarray(arr, dtype=np.float64), 4).tolist()


PAD = "<pad>"
NEUTRAL = ["the", "a", "this", "that", "movie", "film", "story", "plot",
           "acting", "actors", "music", "ending", "scenes", "characters",
           "director", "was", "is", "were", "and", "but", "with", "very",
           "really", "quite", "it", "i", "found", "thought", "overall", "to"]
POSITIVE = ["good", "great", "excellent", "wonderful", "amazing", "brilliant",
            "enjoyable", "fun", "beautiful", "charming", "delightful", "superb",
            "moving", "funny", "loved"]
NEGATIVE = ["bad", "terrible", "awful", "boring", "dull", "poor", "weak",
            "horrible", "disappointing", "slow", "mess", "hated", "worst",
            "bland"]
VOCAB = [PAD] + NEUTRAL + POSITIVE + NEGATIVE
WORD_ID = {w: i for i, w in enumerate(VOCAB)}
SEQ_LEN = 12
TEXT_LABELS = ["negative", "positive"]
TEXT_INSTANCES = [
    "the movie was great and the acting was wonderful",
    "this film was boring and the plot was terrible",
    "the story was good but the ending was bad and slow",
]


def encode(sentence):
    ids = [WORD_ID[w] for w in sentence.split()]
    assert len(ids) <= SEQ_LEN, sentence
    return ids + [0] * (SEQ_LEN - len(ids))


def sentiment_corpus(n, seed):
    """n sentences of 3..12 words: fillers plus 1..4 sentiment words, label =
    1 if positive words outnumber negative ones (no ties)."""
    rng = np.random.default_rng(seed)
    X = np.zeros((n, SEQ_LEN), dtype=np.int64)
    y = np.zeros(n, dtype=np.int64)
    for r in range(n):
        length = int(rng.integers(3, SEQ_LEN + 1))
        n_sent = int(rng.integers(1, min(4, length) + 1))
        while True:
            n_pos = int(rng.integers(0, n_sent + 1))
            if 2 * n_pos != n_sent:
                break
        words = ([POSITIVE[i] for i in rng.integers(0, len(POSITIVE), n_pos)]
                 + [NEGATIVE[i] for i in rng.integers(0, len(NEGATIVE), n_sent - n_pos)]
                 + [NEUTRAL[i] for i in rng.integers(0, len(NEUTRAL), length - n_sent)])
        words = [words[i] for i in rng.permutation(length)]
        X[r, :length] = [WORD_ID[w] for w in words]
        y[r] = int(2 * n_pos > n_sent)
    return X, y


# --------------------------------------------------------------------------
# models


def image_metadata(visualization=True):
    inp = {
        "inputTensorName": "image",
        "modality": "image",
        "inputBaselines": [0],
    }
    if visualization:
        inp["visualization"] = dict(VISUALIZATION)
    return {
        "inputs": {"image": inp},
        "outputs": {"probabilities": {"outputTensorName": "probabilities",
                                      "indexDisplayNameMapping": DIGIT_NAMES}},
    }


def make_digits_cnn():
    name = "digits_cnn"
    X_tr, X_te, y_tr, y_te = digits_images(28)
    X_tr, X_te = X_tr[..., None], X_te[..., None]  # NHWC, C = 1
    torch.manual_seed(0)
    model = train(DigitsCNN(), X_tr, y_tr, epochs=15, lr=3e-3, shift_dims=(1, 2))
    acc = accuracy(model, X_te, y_te)
    log(f"[{name}] test accuracy {acc:.4f} ({len(X_te)} test images)")
    assert acc > 0.95, acc

    onx = export(model, name, torch.as_tensor(X_te[:1]), "image")
    pick = distinct_label_rows(y_te)
    log(f"[{name}] instances: test rows {pick}, labels {y_te[pick].tolist()}")
    inst = X_te[pick]
    instances = [{"image": nested(x)} for x in inst]
    save_model_dir(name, onx, image_metadata(), instances, {"image": inst},
                   spec=IG_SPEC)
    check_ort(name, model, X_te)
    rebuilt_check(name, model, X_te)
    captum_ig(name, inst, np.zeros_like(inst[0]), extra={"baseline": "zeros"})
    return acc


def make_text_sentiment():
    name = "text_sentiment"
    X_tr, y_tr = sentiment_corpus(2000, seed=1)
    X_te, y_te = sentiment_corpus(500, seed=2)
    log(f"[{name}] corpus: {len(X_tr)} train / {len(X_te)} test sentences, "
        f"{y_tr.mean():.3f} positive; vocabulary {len(VOCAB)} words")
    torch.manual_seed(0)
    model = train(TextSentiment(len(VOCAB)), X_tr, y_tr, epochs=30, lr=1e-2)
    assert float(model.embedding.weight.detach()[0].abs().max()) == 0.0  # pad row
    acc = accuracy(model, X_te, y_te)
    log(f"[{name}] test accuracy {acc:.4f}")
    assert acc > 0.95, acc

    onx = export(model, name, torch.as_tensor(X_te[:1]), "tokens")
    # Give the embedding lookup's output a stable name: the encoded tensor.
    gathers = [n for n in onx.graph.node if n.op_type == "Gather"
               and n.input[0] in {i.name for i in onx.graph.initializer}]
    assert len(gathers) == 1, gathers
    old = gathers[0].output[0]
    log(f"[{name}] embedding Gather {gathers[0].name!r}: output {old!r} "
        f"renamed 'token_embeddings'")
    encoded = "token_embeddings"
    for node in onx.graph.node:
        for i, v in enumerate(node.input):
            if v == old:
                node.input[i] = encoded
        for i, v in enumerate(node.output):
            if v == old:
                node.output[i] = encoded
    for vi in onx.graph.value_info:
        if vi.name == old:
            vi.name = encoded

    inst = np.array([encode(s) for s in TEXT_INSTANCES], dtype=np.int64)
    instances = [{"tokens": [int(t) for t in row]} for row in inst]
    metadata = {
        "inputs": {"tokens": {
            "inputTensorName": "tokens",
            "encodedTensorName": encoded,
            "modality": "text",
            "inputBaselines": [0],
        }},
        "outputs": {"probabilities": {"outputTensorName": "probabilities",
                                      "indexDisplayNameMapping": TEXT_LABELS}},
    }
    feeds = {"tokens": np.concatenate(
        [inst, np.zeros((1, SEQ_LEN), np.int64), X_te[:4]])}
    save_model_dir(name, onx, metadata, instances, feeds, spec=IG_SPEC)
    write_json(os.path.join(MODELS, name, "vocab.json"),
               {str(i): w for i, w in enumerate(VOCAB)})
    check_ort(name, model, X_te)
    rebuilt_check(name, model, X_te)
    rows = captum_ig(name, inst, np.zeros(SEQ_LEN, np.int64),
                     text=True,
                     extra={"baseline": "token ids 0 (all <pad>)",
                            "layer": "embedding (LayerIntegratedGradients), "
                                     "attributions summed over the embedding dim"})
    for s, r in zip(TEXT_INSTANCES, rows):
        words = s.split()
        top = sorted(zip(r["attributions"], words), reverse=True)
        log(f"[{name}] {TEXT_LABELS[r['target']]}: '{s}' -> "
            + ", ".join(f"{w} {a:+.3f}" for a, w in top[:3]) + " ... "
            + ", ".join(f"{w} {a:+.3f}" for a, w in top[-2:]))
    return acc


def make_resnet_small():
    name = "resnet_small"
    X_tr, X_te, y_tr, y_te = digits_images(32)
    X_tr = np.repeat(X_tr[:, None], 3, axis=1)  # NCHW, 3 equal channels
    X_te = np.repeat(X_te[:, None], 3, axis=1)
    torch.manual_seed(0)
    model = train(ResNetSmall(), X_tr, y_tr, epochs=8, lr=3e-3, shift_dims=(2, 3))
    acc = accuracy(model, X_te, y_te)
    log(f"[{name}] test accuracy {acc:.4f}")
    assert acc > 0.95, acc

    onx = export(model, name, torch.as_tensor(X_te[:1]), "image")
    assert not any(n.op_type == "BatchNormalization" for n in onx.graph.node)
    pick = distinct_label_rows(y_te)
    log(f"[{name}] instances: test rows {pick}, labels {y_te[pick].tolist()}")
    inst = X_te[pick]
    instances = [{"image": nested(x)} for x in inst]
    save_model_dir(name, onx, image_metadata(visualization=False), instances,
                   {"image": inst}, spec=IG_SPEC)
    check_ort(name, model, X_te)
    rebuilt_check(name, model, X_te)
    captum_ig(name, inst, np.zeros_like(inst[0]), extra={"baseline": "zeros"})
    return acc


@torch.no_grad()
def rebuilt_check(name, model, X):
    """torch_from_onnx(name) computes the trained model's function."""
    rebuilt = torch_from_onnx(name)
    a = rebuilt(torch.as_tensor(X)).numpy()
    b = model(torch.as_tensor(X)).numpy()
    err = float(np.max(np.abs(a - b)))
    log(f"[{name}] max |torch_from_onnx - trained torch| = {err:.3g}")
    assert err < ORT_TOL, err


def digest(name):
    d = os.path.join(MODELS, name)
    parts = []
    for f in sorted(os.listdir(d)):
        with open(os.path.join(d, f), "rb") as fh:
            data = fh.read()
        parts.append(f"{f} {len(data)} {hashlib.sha256(data).hexdigest()[:12]}")
    return "; ".join(parts)


def main():
    setup_torch()
    import captum
    log(f"torch {torch.__version__}, captum {captum.__version__}, "
        f"numpy {np.__version__}, onnx {onnx.__version__}, "
        f"onnxruntime {ort.__version__}, "
        f"scikit-learn {sys.modules['sklearn'].__version__}")
    os.makedirs(MODELS, exist_ok=True)
    make_digits_cnn()
    make_text_sentiment()
    make_resnet_small()
    for name in ("digits_cnn", "text_sentiment", "resnet_small"):
        log(f"[{name}] files: {digest(name)}")
    log("done")


if __name__ == "__main__":
    main()
