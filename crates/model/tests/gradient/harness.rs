//! Test support: a tiny ONNX graph builder, a seeded generator, and the check that compares
//! the rewritten model's gradients with finite differences of the forward model.

use prism_model::gradient::{add_gradients, grad_name, seed_name, GradientSpec};
use prism_model::{Model, OnnxModel, Tensor};
use prost::Message;
use tract_onnx::pb;

/// Base step of the finite differences, scaled by max(1, |x|) per coordinate.
pub const FD_STEP: f64 = 1e-2;

/// Allowed |analytic − numeric| per coordinate, relative to the larger of |numeric| and a
/// tenth of the tensor's largest |numeric| (float32 forward passes make the differences of
/// tiny entries noisy; a wrong rule is off by the gradient's own size).
pub const GRAD_TOLERANCE: f64 = 1e-3;

/// [`GRAD_TOLERANCE`] for whole networks with Relu and max-pool kinks, whose float32
/// objective is noisier. With this tolerance, coordinates whose finite differences at
/// steps h and 2h disagree (a kink lies within the stencil) are skipped, at most a tenth
/// of them.
pub const NETWORK_TOLERANCE: f64 = 5e-3;

// ---------------------------------------------------------------- graph builder

/// Builds a ModelProto node by node; graph inputs have a symbolic batch axis `N`.
pub struct Graph {
    opset: i64,
    nodes: Vec<pb::NodeProto>,
    inits: Vec<pb::TensorProto>,
    inputs: Vec<pb::ValueInfoProto>,
    outputs: Vec<pb::ValueInfoProto>,
    counter: usize,
}

fn value_info(name: &str, elem_type: i32, dims: Option<&[i64]>) -> pb::ValueInfoProto {
    use pb::tensor_shape_proto::{dimension::Value, Dimension};
    let shape = dims.map(|dims| pb::TensorShapeProto {
        dim: dims
            .iter()
            .enumerate()
            .map(|(i, &d)| Dimension {
                value: Some(if i == 0 && d < 0 {
                    Value::DimParam("N".into())
                } else {
                    Value::DimValue(d)
                }),
                ..Default::default()
            })
            .collect(),
    });
    pb::ValueInfoProto {
        name: name.into(),
        r#type: Some(pb::TypeProto {
            value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                elem_type,
                shape,
            })),
            ..Default::default()
        }),
        ..Default::default()
    }
}

impl Graph {
    pub fn new(opset: i64) -> Self {
        Self {
            opset,
            nodes: vec![],
            inits: vec![],
            inputs: vec![],
            outputs: vec![],
            counter: 0,
        }
    }

    fn fresh(&mut self, hint: &str) -> String {
        self.counter += 1;
        format!("{hint}_{}", self.counter)
    }

    /// A float32 graph input; a negative first dimension is the symbolic batch `N`.
    pub fn input(&mut self, name: &str, dims: &[i64]) -> String {
        self.inputs.push(value_info(name, 1, Some(dims)));
        name.into()
    }

    /// An int64 graph input.
    pub fn input_i64(&mut self, name: &str, dims: &[i64]) -> String {
        self.inputs.push(value_info(name, 7, Some(dims)));
        name.into()
    }

    /// Declares `name` a float32 graph output (shape left to inference).
    pub fn output(&mut self, name: &str) {
        self.outputs.push(value_info(name, 1, None));
    }

    /// A float32 initializer.
    pub fn init(&mut self, dims: &[i64], data: &[f32]) -> String {
        let name = self.fresh("w");
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: 1,
            float_data: data.to_vec(),
            ..Default::default()
        });
        name
    }

    /// An int64 initializer.
    pub fn init_i64(&mut self, dims: &[i64], data: &[i64]) -> String {
        let name = self.fresh("k");
        self.inits.push(pb::TensorProto {
            name: name.clone(),
            dims: dims.to_vec(),
            data_type: 7,
            int64_data: data.to_vec(),
            ..Default::default()
        });
        name
    }

    /// Adds a node and returns its (single) output.
    pub fn op(&mut self, op: &str, inputs: &[&str], attrs: Vec<pb::AttributeProto>) -> String {
        self.op_n(op, inputs, 1, attrs).remove(0)
    }

    /// Adds a node with `n` outputs.
    pub fn op_n(
        &mut self,
        op: &str,
        inputs: &[&str],
        n: usize,
        attrs: Vec<pb::AttributeProto>,
    ) -> Vec<String> {
        let outputs: Vec<String> = (0..n).map(|_| self.fresh(&op.to_lowercase())).collect();
        let name = self.fresh(op);
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: outputs.clone(),
            name,
            op_type: op.into(),
            attribute: attrs,
            ..Default::default()
        });
        outputs
    }

    /// A tensor of shape `dims` made of row `row`, columns `offset..`, of the rank-2 input
    /// `src`: operands of any shape whose gradient the test still checks through `src`
    /// (graph inputs must all share their first, batch, dimension).
    pub fn carve(&mut self, src: &str, row: i64, offset: i64, dims: &[i64]) -> String {
        let n: i64 = dims.iter().product();
        let starts = self.init_i64(&[2], &[row, offset]);
        let ends = self.init_i64(&[2], &[row + 1, offset + n]);
        let axes = self.init_i64(&[2], &[0, 1]);
        let piece = self.op("Slice", &[src, &starts, &ends, &axes], vec![]);
        let shape = self.init_i64(&[dims.len() as i64], dims);
        self.op("Reshape", &[&piece, &shape], vec![])
    }

    /// `Identity(value)` named `name`, declared a graph output.
    pub fn output_as(&mut self, value: &str, name: &str) {
        self.nodes.push(pb::NodeProto {
            input: vec![value.into()],
            output: vec![name.into()],
            name: format!("{name}_identity"),
            op_type: "Identity".into(),
            ..Default::default()
        });
        self.output(name);
    }

    pub fn model(&self) -> pb::ModelProto {
        pb::ModelProto {
            ir_version: 8,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: self.opset,
            }],
            producer_name: "prism-gradient-tests".into(),
            graph: Some(pb::GraphProto {
                node: self.nodes.clone(),
                name: "test".into(),
                initializer: self.inits.clone(),
                input: self.inputs.clone(),
                output: self.outputs.clone(),
                ..Default::default()
            }),
            ..Default::default()
        }
    }
}

fn attr(name: &str, ty: pb::attribute_proto::AttributeType) -> pb::AttributeProto {
    pb::AttributeProto {
        name: name.into(),
        r#type: ty as i32,
        ..Default::default()
    }
}

pub fn ai(name: &str, v: i64) -> pb::AttributeProto {
    pb::AttributeProto {
        i: v,
        ..attr(name, pb::attribute_proto::AttributeType::Int)
    }
}

pub fn af(name: &str, v: f32) -> pb::AttributeProto {
    pb::AttributeProto {
        f: v,
        ..attr(name, pb::attribute_proto::AttributeType::Float)
    }
}

pub fn aints(name: &str, v: &[i64]) -> pb::AttributeProto {
    pb::AttributeProto {
        ints: v.to_vec(),
        ..attr(name, pb::attribute_proto::AttributeType::Ints)
    }
}

pub fn astr(name: &str, v: &str) -> pb::AttributeProto {
    pb::AttributeProto {
        s: v.as_bytes().to_vec(),
        ..attr(name, pb::attribute_proto::AttributeType::String)
    }
}

// ---------------------------------------------------------------- random data

/// splitmix64: a seeded, dependency-free generator.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [lo, hi).
    pub fn uniform(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// `n` values uniform in [lo, hi).
    pub fn vec(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n).map(|_| self.uniform(lo, hi) as f32).collect()
    }

    /// `n` values with |v| in [lo, hi) and a random sign: away from kinks at zero.
    pub fn signed(&mut self, n: usize, lo: f64, hi: f64) -> Vec<f32> {
        (0..n)
            .map(|_| {
                let v = self.uniform(lo, hi);
                if self.next_u64() & 1 == 0 {
                    v as f32
                } else {
                    -v as f32
                }
            })
            .collect()
    }

    /// A random float tensor with values in [-1, 1).
    pub fn tensor(&mut self, dims: &[usize]) -> Tensor {
        let n = dims.iter().product();
        Tensor::f32(dims.to_vec(), self.vec(n, -1.0, 1.0)).unwrap()
    }

    /// A float tensor of distinct values (a shuffled grid in [-1, 1)): no ties for max
    /// pooling and no coordinate near another.
    pub fn distinct(&mut self, dims: &[usize]) -> Tensor {
        let n: usize = dims.iter().product();
        let mut v: Vec<f32> = (0..n)
            .map(|i| (-1.0 + 2.0 * i as f64 / n as f64) as f32)
            .collect();
        for i in (1..n).rev() {
            let j = (self.next_u64() % (i as u64 + 1)) as usize;
            v.swap(i, j);
        }
        Tensor::f32(dims.to_vec(), v).unwrap()
    }
}

// ---------------------------------------------------------------- the check

pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}

/// Σ seed · output of the forward model, in f64.
fn objective(model: &OnnxModel, inputs: &[Tensor], out_ix: usize, seed: &[f32]) -> f64 {
    let outputs = model.forward(inputs).expect("forward pass");
    let y = outputs[out_ix].as_f32().expect("float output");
    y.iter()
        .zip(seed)
        .map(|(a, b)| f64::from(*a) * f64::from(*b))
        .sum()
}

/// The finite-difference step for each coordinate.
#[derive(Debug, Clone)]
pub enum FdStep {
    /// `FD_STEP · max(1, |x|)`.
    Scaled,
    /// The same absolute step everywhere (e.g. below the spacing of max-pool inputs).
    Absolute(f64),
    /// One step per coordinate of the (single) `wrt` input's example, repeated over the
    /// batch (e.g. a fraction of each feature's standard deviation).
    PerFeature(Vec<f64>),
}

/// Rewrites `model` for d(seed · `output`)/d(`wrt`), runs it on tract, and compares every
/// gradient coordinate with a Richardson-extrapolated central difference of the forward
/// model. `inputs` follow the graph inputs; each `wrt` must be a graph input.
pub fn check(model: &pb::ModelProto, output: &str, wrt: &[&str], inputs: &[Tensor]) {
    check_with(model, output, wrt, inputs, FdStep::Scaled);
}

/// [`check`] with an explicit finite-difference step.
pub fn check_with(
    model: &pb::ModelProto,
    output: &str,
    wrt: &[&str],
    inputs: &[Tensor],
    step: FdStep,
) {
    check_full(model, output, wrt, inputs, step, GRAD_TOLERANCE);
}

/// [`check`] with an explicit finite-difference step and tolerance.
pub fn check_full(
    model: &pb::ModelProto,
    output: &str,
    wrt: &[&str],
    inputs: &[Tensor],
    step: FdStep,
    tolerance: f64,
) {
    check_impl(
        model,
        output,
        wrt,
        inputs,
        step,
        tolerance,
        Reference::Original,
    );
}

/// [`check`] for graphs whose ops the pass rewrites (recurrent ops, unrolled) where tract's
/// own kernel is not the reference (tract's reverse LSTM and GRU ignore the direction):
/// finite differences of the rewritten model's forward outputs, whose agreement with
/// ONNX Runtime `ort_replay.py` checks.
pub fn check_against_rewritten(
    model: &pb::ModelProto,
    output: &str,
    wrt: &[&str],
    inputs: &[Tensor],
) {
    check_impl(
        model,
        output,
        wrt,
        inputs,
        FdStep::Scaled,
        GRAD_TOLERANCE,
        Reference::Rewritten,
    );
}

/// Which forward model finite differences run on.
#[derive(Clone, Copy, PartialEq)]
enum Reference {
    Original,
    Rewritten,
}

fn check_impl(
    model: &pb::ModelProto,
    output: &str,
    wrt: &[&str],
    inputs: &[Tensor],
    step: FdStep,
    tolerance: f64,
    reference: Reference,
) {
    let rng_seed = 7;
    let forward = OnnxModel::from_bytes(&encode(model)).expect("forward model loads");
    let sig = forward.signature().clone();
    let out_ix = sig.output_index(output).expect("output is a graph output");
    let y = &forward.forward(inputs).expect("forward pass")[out_ix];
    let mut rng = Rng::new(rng_seed);
    let seed = rng.vec(y.len(), -1.0, 1.0);
    let seed_t = Tensor::f32(y.shape.clone(), seed.clone()).unwrap();

    let spec = GradientSpec {
        output: output.into(),
        wrt: wrt.iter().map(|s| s.to_string()).collect(),
    };
    let rewritten = add_gradients(model, &spec).expect("gradient pass");
    let grad_model = OnnxModel::from_bytes(&encode(&rewritten)).expect("gradient model loads");
    let gsig = grad_model.signature().clone();
    assert_eq!(gsig.inputs.last().unwrap().name, seed_name(output));
    let mut all = inputs.to_vec();
    all.push(seed_t);
    let outs = grad_model.forward(&all).expect("gradient model runs");
    dump(model, &rewritten, &gsig, &all, &outs);
    // The forward outputs are unchanged.
    let y2 = &outs[gsig.output_index(output).unwrap()];
    assert_eq!(y2.shape, y.shape);
    let same = reference == Reference::Original;
    for (a, b) in y2
        .as_f32()
        .unwrap()
        .iter()
        .zip(y.as_f32().unwrap())
        .filter(|_| same)
    {
        assert!(
            (a - b).abs() <= 1e-5 * b.abs().max(1.0),
            "the rewritten model computes {output} differently: {:?} vs {:?}",
            y2.as_f32().unwrap(),
            y.as_f32().unwrap()
        );
    }

    for w in wrt {
        let wi = sig.input_index(w).expect("wrt is a graph input");
        let g = &outs[gsig.output_index(&grad_name(w)).expect("gradient output")];
        assert_eq!(g.shape, inputs[wi].shape, "gradient shape of {w}");
        let g = g.as_f32().unwrap();
        let x = inputs[wi].as_f32().unwrap().to_vec();
        let mut fd = vec![0f64; x.len()];
        // |D(h) - D(2h)|: O(h²) where the objective is smooth, large across a kink.
        let mut kinked = vec![0f64; x.len()];
        for j in 0..x.len() {
            let h = match &step {
                FdStep::Scaled => FD_STEP * f64::from(x[j].abs()).max(1.0),
                FdStep::Absolute(h) => *h,
                FdStep::PerFeature(h) => h[j % h.len()],
            };
            let at = |k: f64| {
                let mut xs = inputs.to_vec();
                let mut v = x.clone();
                v[j] = (f64::from(x[j]) + k * h) as f32;
                let actual = f64::from(v[j]);
                xs[wi] = Tensor::f32(inputs[wi].shape.clone(), v).unwrap();
                let value = match reference {
                    Reference::Original => objective(&forward, &xs, out_ix, &seed),
                    Reference::Rewritten => {
                        let zeros = Tensor::f32(y.shape.clone(), vec![0.0; y.len()]).unwrap();
                        xs.push(zeros);
                        let ix = gsig.output_index(output).unwrap();
                        objective(&grad_model, &xs, ix, &seed)
                    }
                };
                (actual, value)
            };
            let (p1, m1, p2, m2) = (at(1.0), at(-1.0), at(2.0), at(-2.0));
            let d1 = (p1.1 - m1.1) / (p1.0 - m1.0);
            let d2 = (p2.1 - m2.1) / (p2.0 - m2.0);
            fd[j] = (4.0 * d1 - d2) / 3.0;
            kinked[j] = (d1 - d2).abs();
        }
        let largest = fd.iter().fold(0f64, |m, v| m.max(v.abs()));
        assert!(
            largest > 1e-4,
            "{w}: the numeric gradient is (nearly) zero, the test checks nothing"
        );
        let mut skipped = 0;
        for j in 0..x.len() {
            let scale = fd[j].abs().max(0.1 * largest);
            if tolerance >= NETWORK_TOLERANCE && kinked[j] > tolerance * scale {
                // A Relu or max-pool kink lies within the stencil.
                skipped += 1;
                continue;
            }
            let err = (f64::from(g[j]) - fd[j]).abs();
            assert!(
                err <= tolerance * scale,
                "d{output}/d{w}[{j}]: analytic {} vs numeric {} (error {err:.3e}, allowed {:.3e})\n\
                 analytic {:?}\nnumeric {:?}",
                g[j],
                fd[j],
                tolerance * scale,
                g,
                fd
            );
        }
        assert!(
            skipped * 10 <= x.len(),
            "{w}: {skipped} of {} coordinates sit on kinks",
            x.len()
        );
    }
}

/// With `PRISM_GRAD_DUMP=DIR`, writes each rewritten model with its inputs and tract's
/// outputs (`DIR/<test>-<n>.onnx` and `.json`), and the original model
/// (`<test>-<n>.orig.onnx`), to replay them on another runtime.
fn dump(
    original: &pb::ModelProto,
    model: &pb::ModelProto,
    sig: &prism_model::Signature,
    inputs: &[Tensor],
    outputs: &[Tensor],
) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    static COUNT: AtomicUsize = AtomicUsize::new(0);
    let Ok(dir) = std::env::var("PRISM_GRAD_DUMP") else {
        return;
    };
    let test = std::thread::current()
        .name()
        .unwrap_or("test")
        .replace("::", "-");
    let stem = format!("{dir}/{test}-{}", COUNT.fetch_add(1, Ordering::SeqCst));
    std::fs::write(format!("{stem}.onnx"), encode(model)).unwrap();
    std::fs::write(format!("{stem}.orig.onnx"), encode(original)).unwrap();
    let tensor = |t: &Tensor| {
        let data: Vec<f64> = t
            .to_f32_vec()
            .unwrap()
            .iter()
            .map(|v| f64::from(*v))
            .collect();
        let dtype = if t.as_f32().is_some() {
            "float32"
        } else {
            "int64"
        };
        serde_json::json!({"shape": t.shape, "dtype": dtype, "data": data})
    };
    let ins: serde_json::Map<String, serde_json::Value> = sig
        .inputs
        .iter()
        .zip(inputs)
        .map(|(i, t)| (i.name.clone(), tensor(t)))
        .collect();
    let outs: serde_json::Map<String, serde_json::Value> = sig
        .outputs
        .iter()
        .zip(outputs)
        .filter(|(_, t)| t.as_f32().is_some())
        .map(|(o, t)| (o.name.clone(), tensor(t)))
        .collect();
    let doc = serde_json::json!({"inputs": ins, "outputs": outs});
    std::fs::write(format!("{stem}.json"), doc.to_string()).unwrap();
}
