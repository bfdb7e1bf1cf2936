//! Data movement and reductions.

use prism_model::Tensor;

use crate::harness::{ai, aints, astr, check, Graph, Rng};

const B: usize = 2;

fn x(dims: &[usize], seed: u64) -> Tensor {
    Rng::new(seed).tensor(dims)
}

#[test]
fn identity_dropout_cast() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 3]);
    let a = g.op("Identity", &[&xi], vec![]);
    let b = g.op("Dropout", &[&a], vec![]);
    let c = g.op("Cast", &[&b], vec![ai("to", 11)]);
    let d = g.op("Mul", &[&c, &c], vec![]);
    let e = g.op("Cast", &[&d], vec![ai("to", 1)]);
    g.output_as(&e, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 3], 1)]);
    // Dropout with an explicit ratio and training_mode = false.
    let mut g = Graph::new(13);
    let xi = g.input("x", &[-1, 3]);
    let ratio = g.init(&[], &[0.5]);
    let off = g.op("Constant", &[], vec![tensor_attr_bool(false)]);
    let outs = g.op_n("Dropout", &[&xi, &ratio, &off], 2, vec![]);
    let y = g.op("Mul", &[&outs[0], &xi], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 3], 2)]);
}

fn tensor_attr_bool(v: bool) -> tract_onnx::pb::AttributeProto {
    tract_onnx::pb::AttributeProto {
        name: "value".into(),
        r#type: tract_onnx::pb::attribute_proto::AttributeType::Tensor as i32,
        t: Some(tract_onnx::pb::TensorProto {
            dims: vec![],
            data_type: 9,
            int32_data: vec![v as i32],
            ..Default::default()
        }),
        ..Default::default()
    }
}

/// `f(x) * x` so the gradient is not just the seed rearranged.
fn times_input(g: &mut Graph, y: &str, like: &str) -> String {
    let shape = shape_of(g, like);
    let r = g.op("Reshape", &[y, &shape], vec![]);
    g.op("Mul", &[&r, like], vec![])
}

fn shape_of(g: &mut Graph, v: &str) -> String {
    g.op("Shape", &[v], vec![])
}

#[test]
fn flatten_reshape_squeeze_unsqueeze() {
    for opset in [11, 17] {
        let mut g = Graph::new(opset);
        let xi = g.input("x", &[-1, 2, 3, 1]);
        let f = g.op("Flatten", &[&xi], vec![ai("axis", 2)]);
        let shape = g.init_i64(&[3], &[-1, 3, 2]);
        let r = g.op("Reshape", &[&f, &shape], vec![]);
        let sq = if opset >= 13 {
            let axes = g.init_i64(&[1], &[-1]);
            g.op("Squeeze", &[&xi, &axes], vec![])
        } else {
            g.op("Squeeze", &[&xi], vec![aints("axes", &[3])])
        };
        let un = if opset >= 13 {
            let axes = g.init_i64(&[2], &[1, 4]);
            g.op("Unsqueeze", &[&sq, &axes], vec![])
        } else {
            g.op("Unsqueeze", &[&sq], vec![aints("axes", &[1, 4])])
        };
        let a = times_input(&mut g, &r, &xi);
        let b = times_input(&mut g, &un, &xi);
        let y = g.op("Add", &[&a, &b], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 2, 3, 1], 3)]);
    }
}

#[test]
fn transpose_with_and_without_perm() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 2, 3]);
    let a = g.op("Transpose", &[&xi], vec![aints("perm", &[0, 2, 1])]);
    let b = g.op("Transpose", &[&xi], vec![]);
    let w = g.init(&[3, 2, 1], &[0.5, -1.0, 2.0, 0.25, -0.75, 1.5]);
    let bw = g.op("Mul", &[&b, &w], vec![]);
    let b2 = g.op("Transpose", &[&bw], vec![]);
    let b3 = g.op("Transpose", &[&b2], vec![aints("perm", &[0, 2, 1])]);
    let y = g.op("Add", &[&a, &b3], vec![]);
    let y = g.op("Mul", &[&y, &a], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 2, 3], 4)]);
}

#[test]
fn concat_along_features() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 3]);
    let z = g.input("z", &[-1, 2]);
    let w = g.init(&[1, 2], &[0.5, -1.5]);
    let wz = g.op("Mul", &[&z, &w], vec![]);
    let c = g.op("Concat", &[&xi, &wz, &xi], vec![ai("axis", -1)]);
    let y = g.op("Mul", &[&c, &c], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(5);
    check(
        &g.model(),
        "y",
        &["x", "z"],
        &[r.tensor(&[B, 3]), r.tensor(&[B, 2])],
    );
}

#[test]
fn split_outputs_some_unused() {
    for opset in [11, 17] {
        let mut g = Graph::new(opset);
        let xi = g.input("x", &[-1, 7]);
        let outs = if opset >= 13 {
            let sizes = g.init_i64(&[3], &[2, 3, 2]);
            g.op_n("Split", &[&xi, &sizes], 3, vec![ai("axis", 1)])
        } else {
            g.op_n(
                "Split",
                &[&xi],
                3,
                vec![ai("axis", 1), aints("split", &[2, 3, 2])],
            )
        };
        // The middle piece is not used.
        let a = g.op("Mul", &[&outs[0], &outs[2]], vec![]);
        let y = g.op("Mul", &[&a, &outs[0]], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 7], 6)]);
    }
}

#[test]
fn slice_unit_steps() {
    for opset in [9, 17] {
        let mut g = Graph::new(opset);
        let xi = g.input("x", &[-1, 6, 5]);
        let s = if opset >= 10 {
            let starts = g.init_i64(&[3], &[0, 1, -4]);
            let ends = g.init_i64(&[3], &[i64::MAX, 5, -1]);
            let axes = g.init_i64(&[3], &[0, 1, 2]);
            let steps = g.init_i64(&[3], &[1, 1, 1]);
            g.op("Slice", &[&xi, &starts, &ends, &axes, &steps], vec![])
        } else {
            g.op(
                "Slice",
                &[&xi],
                vec![
                    aints("starts", &[1, -4]),
                    aints("ends", &[5, -1]),
                    aints("axes", &[1, 2]),
                ],
            )
        };
        let y = g.op("Mul", &[&s, &s], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 6, 5], 7)]);
    }
}

#[test]
fn slice_any_steps() {
    // Positive and negative steps (a reversal), several axes, unit-step axes mixed in.
    // (starts, ends, axes, steps)
    type Case<'a> = (&'a [i64], &'a [i64], &'a [i64], &'a [i64]);
    let cases: [Case; 3] = [
        (&[0, 4], &[6, 0], &[1, 2], &[2, -1]),
        (&[-1], &[i64::MIN], &[1], &[-1]),
        (&[1, 0], &[5, 5], &[2, 1], &[3, 1]),
    ];
    for (starts, ends, axes, steps) in cases {
        let mut g = Graph::new(17);
        let xi = g.input("x", &[-1, 6, 5]);
        let st = g.init_i64(&[starts.len() as i64], starts);
        let en = g.init_i64(&[ends.len() as i64], ends);
        let ax = g.init_i64(&[axes.len() as i64], axes);
        let sp = g.init_i64(&[steps.len() as i64], steps);
        let sl = g.op("Slice", &[&xi, &st, &en, &ax, &sp], vec![]);
        let y = g.op("Mul", &[&sl, &sl], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 6, 5], 17)]);
    }
}

#[test]
fn pad_constant() {
    // Negative pads (cropping) are handled by the rule but tract cannot run them forward.
    for opset in [9, 17, 18] {
        let mut g = Graph::new(opset);
        let xi = g.input("x", &[-1, 3, 4]);
        let p = match opset {
            9 => g.op(
                "Pad",
                &[&xi],
                vec![aints("pads", &[0, 1, 0, 0, 2, 1]), astr("mode", "constant")],
            ),
            17 => {
                let pads = g.init_i64(&[6], &[0, 1, 0, 0, 2, 1]);
                let v = g.init(&[], &[0.5]);
                g.op("Pad", &[&xi, &pads, &v], vec![])
            }
            _ => {
                let pads = g.init_i64(&[2], &[2, 1]);
                let axes = g.init_i64(&[1], &[-1]);
                g.op("Pad", &[&xi, &pads, "", &axes], vec![])
            }
        };
        let y = g.op("Mul", &[&p, &p], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 3, 4], 8)]);
    }
}

#[test]
fn gather_from_computed_tensor() {
    // Unique constant indices (plain scatter) and repeated ones (scatter-add).
    for (indices, dims) in [(vec![2i64, 0], vec![2i64]), (vec![1, -1, 1, 0], vec![2, 2])] {
        let mut g = Graph::new(17);
        let xi = g.input("x", &[-1, 3, 4]);
        let idx = g.init_i64(&dims, &indices);
        let s = g.op("Gather", &[&xi, &idx], vec![ai("axis", 1)]);
        let y = g.op("Mul", &[&s, &s], vec![]);
        g.output_as(&y, "y");
        check(&g.model(), "y", &["x"], &[x(&[B, 3, 4], 9)]);
    }
    // Along the last axis, scalar index.
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 3, 4]);
    let idx = g.init_i64(&[], &[2]);
    let s = g.op("Gather", &[&xi, &idx], vec![ai("axis", 2)]);
    let y = g.op("Mul", &[&s, &s], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 3, 4], 10)]);
}

#[test]
fn expand_broadcasts() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 1, 4]);
    let shape = g.init_i64(&[3], &[1, 3, 1]);
    let e = g.op("Expand", &[&xi, &shape], vec![]);
    let w = g.init(&[3, 1], &[1.0, -2.0, 0.5]);
    let y = g.op("Mul", &[&e, &w], vec![]);
    let y = g.op("Mul", &[&y, &e], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 1, 4], 11)]);
}

#[test]
fn where_both_branches_broadcast() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 3, 4]);
    let z = g.input("z", &[-1, 4]);
    let b = g.carve(&z, 0, 0, &[4]);
    let zero = g.init(&[], &[0.0]);
    let cond = g.op("Greater", &[&xi, &zero], vec![]);
    let xx = g.op("Mul", &[&xi, &xi], vec![]);
    let y = g.op("Where", &[&cond, &b, &xx], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(12);
    let xs = Tensor::f32(vec![B, 3, 4], r.signed(B * 12, 0.05, 1.0)).unwrap();
    check(&g.model(), "y", &["x", "z"], &[xs, r.tensor(&[B, 4])]);
}

#[test]
fn reduce_sum_and_mean() {
    for opset in [11, 17, 18] {
        for keepdims in [0, 1] {
            for op in ["ReduceSum", "ReduceMean"] {
                let mut g = Graph::new(opset);
                let xi = g.input("x", &[-1, 3, 4]);
                let axes_input = (op == "ReduceSum" && opset >= 13) || opset >= 18;
                let r = if axes_input {
                    let axes = g.init_i64(&[2], &[-1, 1]);
                    g.op(op, &[&xi, &axes], vec![ai("keepdims", keepdims)])
                } else {
                    g.op(
                        op,
                        &[&xi],
                        vec![aints("axes", &[-1, 1]), ai("keepdims", keepdims)],
                    )
                };
                let y = g.op("Mul", &[&r, &r], vec![]);
                g.output_as(&y, "y");
                check(&g.model(), "y", &["x"], &[x(&[B, 3, 4], 13)]);
            }
        }
    }
    // All axes (including the batch): a keepdims result [1, 1, 1] broadcast back.
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 3, 4]);
    let m = g.op("ReduceMean", &[&xi], vec![]);
    let y = g.op("Mul", &[&xi, &m], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 3, 4], 14)]);
}

#[test]
fn tile_repeats() {
    let mut g = Graph::new(17);
    let xi = g.input("x", &[-1, 2, 3]);
    let reps = g.init_i64(&[3], &[1, 3, 2]);
    let t = g.op("Tile", &[&xi, &reps], vec![]);
    let w = g.init(&[6, 6], &Rng::new(15).vec(36, -1.0, 1.0));
    let y = g.op("Mul", &[&t, &w], vec![]);
    let y = g.op("Mul", &[&y, &t], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[x(&[B, 2, 3], 16)]);
}

#[test]
fn reduce_max_and_min() {
    for (opset, keepdims) in [(13, 0), (13, 1), (18, 0)] {
        for op in ["ReduceMax", "ReduceMin"] {
            let mut g = Graph::new(opset);
            let xi = g.input("x", &[-1, 3, 4]);
            let r = if opset >= 18 {
                let axes = g.init_i64(&[1], &[-1]);
                g.op(op, &[&xi, &axes], vec![ai("keepdims", keepdims)])
            } else {
                g.op(
                    op,
                    &[&xi],
                    vec![aints("axes", &[-1]), ai("keepdims", keepdims)],
                )
            };
            let y = g.op("Mul", &[&r, &r], vec![]);
            g.output_as(&y, "y");
            // Distinct values 0.08 apart: no perturbation changes the extremum.
            let t = Rng::new(17).distinct(&[B, 3, 4]);
            let v = t
                .as_f32()
                .unwrap()
                .iter()
                .map(|v| v * 24.0 * 0.04 * 2.0)
                .collect();
            check(
                &g.model(),
                "y",
                &["x"],
                &[Tensor::f32(vec![B, 3, 4], v).unwrap()],
            );
        }
    }
}
