//! Whole models, intermediate `wrt` values (embeddings), and the errors.

use std::path::Path;

use prism_model::gradient::{add_gradients, grad_name, seed_name, GradientSpec};
use prism_model::{Model, ModelError, OnnxModel, Tensor};
use prost::Message;
use tract_onnx::pb;

use crate::harness::{
    ai, astr, check, check_against_rewritten, check_full, check_with, encode, FdStep, Graph, Rng,
    NETWORK_TOLERANCE,
};

fn spec(output: &str, wrt: &[&str]) -> GradientSpec {
    GradientSpec {
        output: output.into(),
        wrt: wrt.iter().map(|s| s.to_string()).collect(),
    }
}

#[test]
fn breast_cancer_mlp_probabilities_wrt_input() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../testdata/models/breast_cancer_mlp");
    let bytes = std::fs::read(dir.join("model.onnx")).unwrap();
    let model = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("expected_outputs.json")).unwrap())
            .unwrap();
    let rows = 4;
    let data: Vec<f32> = expected["inputs"]["input"]["data"]
        .as_array()
        .unwrap()
        .iter()
        .take(rows * 30)
        .map(|v| v.as_f64().unwrap() as f32)
        .collect();
    let x = Tensor::f32(vec![rows, 30], data).unwrap();
    // Step a hundredth of each feature's standard deviation (the model's own scaler), so
    // tiny and huge raw features are probed alike.
    let scale = model
        .graph
        .as_ref()
        .unwrap()
        .initializer
        .iter()
        .find(|t| t.name == "scaler_scale")
        .unwrap();
    let scale: Vec<f64> = if scale.float_data.is_empty() {
        scale
            .raw_data
            .chunks(4)
            .map(|b| f64::from(f32::from_le_bytes([b[0], b[1], b[2], b[3]])))
            .collect()
    } else {
        scale.float_data.iter().map(|v| f64::from(*v)).collect()
    };
    assert_eq!(scale.len(), 30);
    let steps = scale.iter().map(|s| 1e-2 * s).collect();
    check_with(
        &model,
        "probabilities",
        &["input"],
        &[x],
        FdStep::PerFeature(steps),
    );
}

/// Token ids select rows of an embedding table; the gradient is taken with respect to the
/// embedding output, which the rewritten model also exposes.
#[test]
fn embedding_output_as_wrt() {
    let (vocab, dim, len) = (10usize, 4usize, 5usize);
    let mut r = Rng::new(1);
    let table = r.vec(vocab * dim, -1.0, 1.0);
    let w1 = r.vec(dim * 3, -1.0, 1.0);
    // The part of the model after the embedding, shared by both graphs.
    let tail = |g: &mut Graph, emb: &str| {
        let w = g.init(&[dim as i64, 3], &w1);
        let h = g.op("MatMul", &[emb, &w], vec![]);
        let h = g.op("Tanh", &[&h], vec![]);
        let axes = g.init_i64(&[1], &[1]);
        let m = g.op("ReduceMean", &[&h, &axes], vec![ai("keepdims", 0)]);
        let p = g.op("Softmax", &[&m], vec![]);
        g.output_as(&p, "probs");
    };
    let mut full = Graph::new(18);
    let ids = full.input_i64("ids", &[-1, len as i64]);
    let t = full.init(&[vocab as i64, dim as i64], &table);
    let emb = full.op("Gather", &[&t, &ids], vec![]);
    tail(&mut full, &emb);
    let mut part = Graph::new(18);
    let e = part.input("e", &[-1, len as i64, dim as i64]);
    tail(&mut part, &e);

    let batch = 3;
    let ids_v: Vec<i64> = (0..batch * len).map(|i| (i * 7 % vocab) as i64).collect();
    let ids_t = Tensor::i64(vec![batch, len], ids_v.clone()).unwrap();
    assert_eq!(
        prism_model::gradient::embedding_outputs(&full.model(), "ids"),
        vec![emb.clone()]
    );
    let rewritten = add_gradients(&full.model(), &spec("probs", &[&emb])).unwrap();
    let m = OnnxModel::from_bytes(&encode(&rewritten)).unwrap();
    let sig = m.signature().clone();
    let seed = Tensor::f32(vec![batch, 3], r.vec(batch * 3, -1.0, 1.0)).unwrap();
    let outs = m.forward(&[ids_t, seed.clone()]).unwrap();
    let emb_v = outs[sig.output_index(&emb).expect("the embedding is exposed")].clone();
    assert_eq!(emb_v.shape, vec![batch, len, dim]);
    for (k, &id) in ids_v.iter().enumerate() {
        let row = &emb_v.as_f32().unwrap()[k * dim..(k + 1) * dim];
        assert_eq!(row, &table[id as usize * dim..(id as usize + 1) * dim]);
    }
    let g_full = outs[sig.output_index(&grad_name(&emb)).unwrap()].clone();

    // Cut at the embedding, the model takes it as an input (ids stay, unused).
    let cut = prism_model::gradient::cut_at(&full.model(), std::slice::from_ref(&emb)).unwrap();
    let names: Vec<&str> = cut
        .graph
        .as_ref()
        .unwrap()
        .input
        .iter()
        .map(|i| i.name.as_str())
        .collect();
    assert_eq!(names, ["ids", emb.as_str()]);
    assert!(cut
        .graph
        .as_ref()
        .unwrap()
        .node
        .iter()
        .all(|n| n.op_type != "Gather"));
    let ids_t = Tensor::i64(vec![batch, len], ids_v.clone()).unwrap();
    check(&cut, "probs", &[&emb], &[ids_t, emb_v.clone()]);

    // The same gradient from the tail graph taking the embedding as its input, which the
    // finite-difference check covers.
    check(&part.model(), "probs", &["e"], std::slice::from_ref(&emb_v));
    let rewritten = add_gradients(&part.model(), &spec("probs", &["e"])).unwrap();
    let m = OnnxModel::from_bytes(&encode(&rewritten)).unwrap();
    let outs = m.forward(&[emb_v.clone(), seed.clone()]).unwrap();
    let g_part = &outs[m.signature().output_index(&grad_name("e")).unwrap()];
    assert_eq!(g_full.shape, g_part.shape);
    for (a, b) in g_full
        .as_f32()
        .unwrap()
        .iter()
        .zip(g_part.as_f32().unwrap())
    {
        assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
    }

    // Offsets steer the embedding: ids in, embedding + offset used downstream. The model
    // reports the raw embedding, and output and gradient equal the tail graph's at the
    // steered point (what IG needs to walk embedding space with the ids fed as usual).
    use prism_model::gradient::{lean_gradient_model_with_offsets, offset_name, raw_name};
    let off = offset_name(&emb);
    let steer = lean_gradient_model_with_offsets(
        &encode(&full.model()),
        &spec("probs", &[&off]),
        std::slice::from_ref(&emb),
    )
    .unwrap();
    let sig = steer.signature().clone();
    let in_names: Vec<&str> = sig.inputs.iter().map(|i| i.name.as_str()).collect();
    assert_eq!(in_names, ["ids", off.as_str(), seed_name("probs").as_str()]);
    let out_names: Vec<&str> = sig.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(
        out_names,
        ["probs", raw_name(&emb).as_str(), grad_name(&off).as_str()]
    );
    let offset_v = r.vec(batch * len * dim, -0.5, 0.5);
    let target: Vec<f32> = emb_v
        .as_f32()
        .unwrap()
        .iter()
        .zip(&offset_v)
        .map(|(e, o)| e + o)
        .collect();
    let ids_t = Tensor::i64(vec![batch, len], ids_v.clone()).unwrap();
    let offset_t = Tensor::f32(vec![batch, len, dim], offset_v).unwrap();
    let steered = steer.forward(&[ids_t, offset_t, seed.clone()]).unwrap();
    assert_eq!(steered[1], emb_v, "the raw embedding is reported");
    let target_t = Tensor::f32(vec![batch, len, dim], target).unwrap();
    let at_target = m.forward(&[target_t, seed]).unwrap();
    let want_p = &at_target[m.signature().output_index("probs").unwrap()];
    let want_g = &at_target[m.signature().output_index(&grad_name("e")).unwrap()];
    for (got, want) in [(&steered[0], want_p), (&steered[2], want_g)] {
        for (a, b) in got.as_f32().unwrap().iter().zip(want.as_f32().unwrap()) {
            assert!((a - b).abs() <= 1e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

#[test]
fn several_wrt_unused_input_gets_zeros_and_other_outputs_stay() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let z = g.input("z", &[-1, 3]);
    let y = g.op("Mul", &[&x, &x], vec![]);
    g.output_as(&y, "y");
    let other = g.op("Add", &[&z, &x], vec![]);
    g.output_as(&other, "other");
    // An integer branch off the differentiated path.
    g.op("ArgMax", &[&y], vec![ai("axis", 1)]);
    let model = g.model();
    let rewritten = add_gradients(&model, &spec("y", &["x", "z"])).unwrap();
    let m = OnnxModel::from_bytes(&encode(&rewritten)).unwrap();
    let sig = m.signature().clone();
    let names: Vec<&str> = sig.outputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["y", "other", "x__grad", "z__grad"]);
    let names: Vec<&str> = sig.inputs.iter().map(|o| o.name.as_str()).collect();
    assert_eq!(names, ["x", "z", seed_name("y").as_str()]);
    let xv = Tensor::f32(vec![2, 3], vec![1.0, 2.0, 3.0, -1.0, 0.5, 0.0]).unwrap();
    let zv = Tensor::f32(vec![2, 3], vec![9.0; 6]).unwrap();
    let seed = Tensor::f32(vec![2, 3], vec![1.0, 1.0, 1.0, 2.0, 2.0, 2.0]).unwrap();
    let outs = m.forward(&[xv, zv, seed]).unwrap();
    assert_eq!(outs[2].as_f32().unwrap(), &[2.0, 4.0, 6.0, -4.0, 2.0, 0.0]);
    assert_eq!(outs[3].as_f32().unwrap(), &[0.0; 6]);
    assert_eq!(
        outs[1].as_f32().unwrap(),
        &[10.0, 11.0, 12.0, 8.0, 9.5, 9.0]
    );
}

#[test]
fn op_without_rule_is_named_in_the_error() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let s = g.op("Asinh", &[&x], vec![]);
    let y = g.op("Relu", &[&s], vec![]);
    g.output_as(&y, "y");
    let err = add_gradients(&g.model(), &spec("y", &["x"])).unwrap_err();
    match &err {
        ModelError::GradientUnsupported { op_type, node, .. } => {
            assert_eq!(op_type, "Asinh");
            assert!(node.starts_with("Asinh"), "{node}");
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert!(err.to_string().contains("Asinh"), "{err}");
}

#[test]
fn unsupported_use_of_an_op_is_explained() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let pads = g.init_i64(&[4], &[0, 1, 0, 1]);
    let p = g.op("Pad", &[&x, &pads], vec![astr("mode", "reflect")]);
    g.output_as(&p, "y");
    let err = add_gradients(&g.model(), &spec("y", &["x"])).unwrap_err();
    assert!(
        matches!(&err, ModelError::GradientUnsupported { op_type, reason, .. } if op_type == "Pad" && reason.contains("reflect")),
        "{err}"
    );
}

#[test]
fn bad_specs_are_rejected() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let ids = g.input_i64("ids", &[-1, 3]);
    let f = g.op("Cast", &[&ids], vec![ai("to", 1)]);
    let y = g.op("Mul", &[&x, &f], vec![]);
    g.output_as(&y, "y");
    let model = g.model();
    for s in [
        spec("nope", &["x"]),
        spec("y", &["nope"]),
        spec("y", &["ids"]),
        spec("y", &[]),
        spec("y", &["x", "x"]),
    ] {
        let err = add_gradients(&model, &s).unwrap_err();
        assert!(
            matches!(err, ModelError::InvalidGradientSpec(_)),
            "{s:?}: {err}"
        );
    }
}

#[test]
fn rewritten_model_round_trips_and_keeps_batch_symbolic() {
    // One rewritten model serves several batch sizes.
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4]);
    let w = g.init(&[4, 2], &[0.5, -1.0, 0.25, 2.0, -0.5, 1.0, 1.5, -2.0]);
    let h = g.op("MatMul", &[&x, &w], vec![]);
    let p = g.op("Softmax", &[&h], vec![]);
    g.output_as(&p, "p");
    let rewritten = add_gradients(&g.model(), &spec("p", &["x"])).unwrap();
    let bytes = encode(&rewritten);
    let again = pb::ModelProto::decode(bytes.as_slice()).unwrap();
    assert_eq!(again, rewritten);
    let m = prism_model::gradient::gradient_model(&encode(&g.model()), &spec("p", &["x"])).unwrap();
    assert_eq!(
        m.signature(),
        OnnxModel::from_bytes(&bytes).unwrap().signature()
    );
    for batch in [1usize, 5] {
        let mut r = Rng::new(batch as u64);
        let outs = m
            .forward(&[r.tensor(&[batch, 4]), r.tensor(&[batch, 2])])
            .unwrap();
        assert_eq!(outs[1].shape, vec![batch, 4]);
    }
}

fn init_random(g: &mut Graph, dims: &[i64], seed: u64, scale: f64) -> String {
    let n = dims.iter().product::<i64>() as usize;
    let v = Rng::new(seed).vec(n, -scale, scale);
    g.init(dims, &v)
}

/// A small CNN as torch.onnx exports one: Conv, BatchNormalization, Relu, MaxPool, a
/// residual block, GlobalAveragePool, Flatten, Gemm, Softmax.
#[test]
fn small_resnet_style_cnn() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 2, 8, 8]);
    let w1 = init_random(&mut g, &[4, 2, 3, 3], 1, 0.5);
    let b1 = init_random(&mut g, &[4], 2, 0.1);
    let c1 = g.op(
        "Conv",
        &[&x, &w1, &b1],
        vec![crate::harness::aints("pads", &[1, 1, 1, 1])],
    );
    let scale = g.init(&[4], &[1.0, 0.8, 1.2, 0.9]);
    let bias = g.init(&[4], &[0.1, -0.1, 0.0, 0.2]);
    let mean = g.init(&[4], &[0.0, 0.1, -0.1, 0.05]);
    let var = g.init(&[4], &[1.0, 0.5, 2.0, 1.5]);
    let bn = g.op(
        "BatchNormalization",
        &[&c1, &scale, &bias, &mean, &var],
        vec![],
    );
    let r1 = g.op("Relu", &[&bn], vec![]);
    let p1 = g.op(
        "MaxPool",
        &[&r1],
        vec![
            crate::harness::aints("kernel_shape", &[2, 2]),
            crate::harness::aints("strides", &[2, 2]),
        ],
    );
    let w2 = init_random(&mut g, &[4, 4, 3, 3], 3, 0.3);
    let c2 = g.op(
        "Conv",
        &[&p1, &w2],
        vec![crate::harness::aints("pads", &[1, 1, 1, 1])],
    );
    let r2 = g.op("Relu", &[&c2], vec![]);
    let res = g.op("Add", &[&r2, &p1], vec![]);
    let gap = g.op("GlobalAveragePool", &[&res], vec![]);
    let flat = g.op("Flatten", &[&gap], vec![]);
    let wf = init_random(&mut g, &[3, 4], 4, 1.0);
    let bf = init_random(&mut g, &[3], 5, 0.1);
    let logits = g.op("Gemm", &[&flat, &wf, &bf], vec![ai("transB", 1)]);
    g.output_as(&logits, "logits");
    let probs = g.op("Softmax", &[&logits], vec![]);
    g.output_as(&probs, "probs");
    // Logits: probabilities move too little for float32 finite differences.
    let x = Rng::new(6).tensor(&[2, 2, 8, 8]);
    check_full(
        &g.model(),
        "logits",
        &["x"],
        &[x],
        FdStep::Absolute(4e-3),
        NETWORK_TOLERANCE,
    );
}

/// A transformer-style block: LayerNormalization, self-attention (MatMul, Transpose,
/// Div, Softmax), a residual, a Gelu MLP written with Erf (as torch exports it).
#[test]
fn attention_block() {
    let (t, d) = (4i64, 6i64);
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, t, d]);
    let ln_s = g.init(&[d], &Rng::new(1).vec(d as usize, 0.5, 1.5));
    let ln_b = g.init(&[d], &Rng::new(2).vec(d as usize, -0.1, 0.1));
    let h = g.op(
        "LayerNormalization",
        &[&x, &ln_s, &ln_b],
        vec![ai("axis", -1)],
    );
    let wq = init_random(&mut g, &[d, d], 3, 0.5);
    let wk = init_random(&mut g, &[d, d], 4, 0.5);
    let wv = init_random(&mut g, &[d, d], 5, 0.5);
    let q = g.op("MatMul", &[&h, &wq], vec![]);
    let k = g.op("MatMul", &[&h, &wk], vec![]);
    let v = g.op("MatMul", &[&h, &wv], vec![]);
    let kt = g.op(
        "Transpose",
        &[&k],
        vec![crate::harness::aints("perm", &[0, 2, 1])],
    );
    let scores = g.op("MatMul", &[&q, &kt], vec![]);
    let sqrt_d = g.init(&[], &[(d as f32).sqrt()]);
    let scaled = g.op("Div", &[&scores, &sqrt_d], vec![]);
    let attn = g.op("Softmax", &[&scaled], vec![ai("axis", -1)]);
    let ctx = g.op("MatMul", &[&attn, &v], vec![]);
    let res = g.op("Add", &[&x, &ctx], vec![]);
    let w1 = init_random(&mut g, &[d, 8], 6, 0.5);
    let m1 = g.op("MatMul", &[&res, &w1], vec![]);
    // gelu(x) = x · 0.5 · (1 + erf(x / √2))
    let r2 = g.init(&[], &[std::f32::consts::SQRT_2]);
    let one = g.init(&[], &[1.0]);
    let half = g.init(&[], &[0.5]);
    let e = g.op("Div", &[&m1, &r2], vec![]);
    let e = g.op("Erf", &[&e], vec![]);
    let e = g.op("Add", &[&e, &one], vec![]);
    let e = g.op("Mul", &[&m1, &e], vec![]);
    let gelu = g.op("Mul", &[&e, &half], vec![]);
    let w2 = init_random(&mut g, &[8, d], 7, 0.5);
    let m2 = g.op("MatMul", &[&gelu, &w2], vec![]);
    let out = g.op("Add", &[&res, &m2], vec![]);
    let pooled = g.op(
        "ReduceMean",
        &[&out],
        vec![crate::harness::aints("axes", &[1]), ai("keepdims", 0)],
    );
    let wc = init_random(&mut g, &[d, 2], 8, 1.0);
    let logits = g.op("MatMul", &[&pooled, &wc], vec![]);
    let probs = g.op("Softmax", &[&logits], vec![]);
    g.output_as(&probs, "probs");
    check(
        &g.model(),
        "probs",
        &["x"],
        &[Rng::new(9).tensor(&[2, t as usize, d as usize])],
    );
}

/// The differentiated value may be an intermediate (here a hidden layer), and a graph
/// input may be differentiated alongside an intermediate downstream of it.
#[test]
fn intermediate_output_and_nested_wrt() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let w = g.init(&[3, 2], &[0.5, -1.0, 1.5, 0.25, -0.5, 2.0]);
    let h = g.op("MatMul", &[&x, &w], vec![]);
    let a = g.op("Tanh", &[&h], vec![]);
    let y = g.op("Mul", &[&a, &a], vec![]);
    g.output_as(&y, "y");
    let rewritten = add_gradients(&g.model(), &spec(&a, &[&x, &h])).unwrap();
    let m = OnnxModel::from_bytes(&encode(&rewritten)).unwrap();
    let sig = m.signature().clone();
    let xv = Tensor::f32(vec![1, 3], vec![0.2, -0.4, 0.6]).unwrap();
    let seed = Tensor::f32(vec![1, 2], vec![1.0, -2.0]).unwrap();
    let outs = m.forward(&[xv.clone(), seed]).unwrap();
    let hv = outs[sig.output_index(&h).unwrap()]
        .as_f32()
        .unwrap()
        .to_vec();
    let gh = outs[sig.output_index(&grad_name(&h)).unwrap()]
        .as_f32()
        .unwrap()
        .to_vec();
    let gx = outs[sig.output_index(&grad_name(&x)).unwrap()]
        .as_f32()
        .unwrap()
        .to_vec();
    // d(seed · tanh h)/dh = seed · (1 - tanh²h); dx = W · dh.
    let want_h: Vec<f32> = hv
        .iter()
        .zip([1.0f32, -2.0])
        .map(|(h, s)| s * (1.0 - h.tanh() * h.tanh()))
        .collect();
    for (a, b) in gh.iter().zip(&want_h) {
        assert!((a - b).abs() < 1e-6, "{gh:?} vs {want_h:?}");
    }
    let wv = [[0.5f32, -1.0], [1.5, 0.25], [-0.5, 2.0]];
    for i in 0..3 {
        let want = wv[i][0] * want_h[0] + wv[i][1] * want_h[1];
        assert!((gx[i] - want).abs() < 1e-6, "{gx:?}");
    }
}

/// Every op the gradient pass promises (those common exporters emit) has a rule.
#[test]
fn supported_ops_cover_the_exporters_list() {
    let ops = prism_model::gradient::supported_ops();
    for op in [
        "Gemm",
        "MatMul",
        "Add",
        "Sub",
        "Mul",
        "Div",
        "Relu",
        "Sigmoid",
        "Tanh",
        "Softmax",
        "LogSoftmax",
        "Exp",
        "Log",
        "Identity",
        "Dropout",
        "Flatten",
        "Reshape",
        "Transpose",
        "Squeeze",
        "Unsqueeze",
        "Concat",
        "LeakyRelu",
        "Clip",
        "Pow",
        "Sqrt",
        "Erf",
        "Gelu",
        "Conv",
        "MaxPool",
        "AveragePool",
        "GlobalAveragePool",
        "BatchNormalization",
        "Gather",
        "ReduceMean",
        "ReduceSum",
        "Slice",
        "Pad",
        "Split",
        "Where",
        "Expand",
        "PRelu",
        "LayerNormalization",
        "Resize",
        "ConvTranspose",
    ] {
        assert!(ops.contains(&op), "no rule for {op}");
    }
}

/// tract runs graphs whose nodes are not sorted; the backward walk sorts them first.
#[test]
fn unsorted_graph() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let a = g.op("Tanh", &[&x], vec![]);
    let b = g.op("Mul", &[&a, &x], vec![]);
    let c = g.op("Sigmoid", &[&b], vec![]);
    g.output_as(&c, "y");
    let mut model = g.model();
    model.graph.as_mut().unwrap().node.reverse();
    check(&model, "y", &["x"], &[Rng::new(3).tensor(&[2, 3])]);
}

/// A recurrent layer over a batch-first input [N, T, I] (transposed to the ONNX layout),
/// with outputs `y` (Y, batch first) and `h` (Y_h · Y_c for LSTM, Y_h for GRU).
fn recurrent(
    op: &str,
    direction: &str,
    extra: &[&str],
    attrs: Vec<pb::AttributeProto>,
) -> pb::ModelProto {
    use crate::harness::{aints, astr};
    let (t, i, h) = (4i64, 3i64, 2i64);
    let dirs = if direction == "bidirectional" { 2 } else { 1 };
    let gates = if op == "LSTM" { 4 } else { 3 };
    let mut g = Graph::new(14);
    // tract cannot run recurrent ops on a symbolic batch (it panics building zero initial
    // states, and fails to unify given ones with it): the batch is fixed at 2.
    let x = g.input("x", &[2, t, i]);
    let xt = g.op("Transpose", &[&x], vec![aints("perm", &[1, 0, 2])]);
    let w = init_random(&mut g, &[dirs, gates * h, i], 1, 0.6);
    let r = init_random(&mut g, &[dirs, gates * h, h], 2, 0.6);
    let b = init_random(&mut g, &[dirs, 2 * gates * h], 3, 0.3);
    let mut inputs = vec![xt, w, r, b, String::new()];
    for (k, name) in extra.iter().enumerate() {
        inputs.push(match *name {
            "initial" => init_random(&mut g, &[dirs, 2, h], 4 + k as u64, 0.5),
            "peepholes" => init_random(&mut g, &[dirs, 3 * h], 8, 0.5),
            _ => String::new(),
        });
    }
    let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut attrs = attrs;
    attrs.push(ai("hidden_size", h));
    attrs.push(astr("direction", direction));
    let n_out = if op == "LSTM" { 3 } else { 2 };
    let outs = g.op_n(op, &refs, n_out, attrs);
    let y = g.op("Transpose", &[&outs[0]], vec![aints("perm", &[2, 0, 1, 3])]);
    g.output_as(&y, "y");
    let yh = g.op("Transpose", &[&outs[1]], vec![aints("perm", &[1, 0, 2])]);
    let last = if op == "LSTM" {
        let yc = g.op("Transpose", &[&outs[2]], vec![aints("perm", &[1, 0, 2])]);
        g.op("Mul", &[&yh, &yc], vec![])
    } else {
        yh
    };
    g.output_as(&last, "h");
    g.model()
}

#[test]
fn lstm_unrolled() {
    let x = || Rng::new(70).tensor(&[2, 4, 3]);
    for (direction, extra) in [
        ("forward", vec![]),
        ("reverse", vec![]),
        ("bidirectional", vec!["initial", "initial", "peepholes"]),
    ] {
        let model = recurrent("LSTM", direction, &extra, vec![]);
        if direction == "forward" {
            check(&model, "y", &["x"], &[x()]);
            check(&model, "h", &["x"], &[x()]);
        } else {
            check_against_rewritten(&model, "y", &["x"], &[x()]);
            check_against_rewritten(&model, "h", &["x"], &[x()]);
        }
    }
}

#[test]
fn gru_unrolled() {
    let x = || Rng::new(71).tensor(&[2, 4, 3]);
    for (direction, lbr) in [("forward", 0), ("reverse", 1), ("bidirectional", 0)] {
        let extra: &[&str] = if direction == "bidirectional" {
            &["initial"]
        } else {
            &[]
        };
        let model = recurrent(
            "GRU",
            direction,
            extra,
            vec![ai("linear_before_reset", lbr)],
        );
        if direction == "forward" {
            check(&model, "y", &["x"], &[x()]);
            check(&model, "h", &["x"], &[x()]);
        } else {
            check_against_rewritten(&model, "y", &["x"], &[x()]);
            check_against_rewritten(&model, "h", &["x"], &[x()]);
        }
    }
}

/// tract cannot run an LSTM without initial states on a symbolic batch (it panics), but
/// the unrolled model can: its gradients equal those of the same model at a fixed batch.
#[test]
fn lstm_symbolic_batch_runs_once_unrolled() {
    let fixed = recurrent("LSTM", "forward", &[], vec![]);
    let mut symbolic = fixed.clone();
    let input = &mut symbolic.graph.as_mut().unwrap().input[0];
    if let Some(pb::type_proto::Value::TensorType(t)) =
        input.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        t.shape.as_mut().unwrap().dim[0].value = Some(
            pb::tensor_shape_proto::dimension::Value::DimParam("N".into()),
        );
    }
    let run = |model: &pb::ModelProto| {
        let rewritten = add_gradients(model, &spec("y", &["x"])).unwrap();
        let m = OnnxModel::from_bytes(&encode(&rewritten)).unwrap();
        let x = Rng::new(72).tensor(&[2, 4, 3]);
        let seed = Rng::new(73).tensor(&[2, 4, 1, 2]);
        let outs = m.forward(&[x, seed]).unwrap();
        outs[m.signature().output_index(&grad_name("x")).unwrap()].clone()
    };
    let (a, b) = (run(&fixed), run(&symbolic));
    assert_eq!(a.shape, b.shape);
    for (p, q) in a.as_f32().unwrap().iter().zip(b.as_f32().unwrap()) {
        assert!((p - q).abs() <= 1e-6, "{p} vs {q}");
    }
}

/// Exporters name the batch axis of outputs differently from the inputs' (tf2onnx writes
/// `unk__6`): the seed must still share the inputs' batch symbol.
#[test]
fn output_batch_axis_named_differently() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let w = g.init(&[3, 2], &[0.5, -1.0, 1.5, 0.25, -0.5, 2.0]);
    let h = g.op("MatMul", &[&x, &w], vec![]);
    let y = g.op("Tanh", &[&h], vec![]);
    g.output_as(&y, "y");
    let mut model = g.model();
    let out = &mut model.graph.as_mut().unwrap().output[0];
    if let Some(pb::type_proto::Value::TensorType(t)) =
        out.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        use pb::tensor_shape_proto::{dimension::Value, Dimension};
        let dim = |v| Dimension {
            value: Some(v),
            ..Default::default()
        };
        t.shape = Some(pb::TensorShapeProto {
            dim: vec![
                dim(Value::DimParam("unk__6".into())),
                dim(Value::DimValue(2)),
            ],
        });
    }
    check(&model, "y", &["x"], &[Rng::new(80).tensor(&[3, 3])]);
}
