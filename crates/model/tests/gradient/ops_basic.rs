//! Matrix products, element-wise arithmetic (with broadcasting) and activations.

use prism_model::Tensor;

use crate::harness::{af, ai, astr, check, Graph, Rng};

const B: usize = 3;

fn t(dims: &[usize], data: Vec<f32>) -> Tensor {
    Tensor::f32(dims.to_vec(), data).unwrap()
}

#[test]
fn gemm_all_transposes_with_broadcast_bias() {
    for (ta, tb) in [(0, 0), (0, 1), (1, 0), (1, 1)] {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 4]);
        let w = g.input("w", &[-1, 20]);
        let a = if ta == 1 {
            g.op("Transpose", &[&x], vec![])
        } else {
            x.clone()
        };
        let bm = if tb == 1 {
            g.carve(&w, 1, 0, &[5, 4])
        } else {
            g.carve(&w, 1, 0, &[4, 5])
        };
        let c = g.carve(&w, 2, 0, &[5]);
        let y = g.op(
            "Gemm",
            &[&a, &bm, &c],
            vec![
                af("alpha", 0.7),
                af("beta", 1.3),
                ai("transA", ta),
                ai("transB", tb),
            ],
        );
        g.output_as(&y, "y");
        let mut r = Rng::new(1);
        check(
            &g.model(),
            "y",
            &["x", "w"],
            &[r.tensor(&[B, 4]), r.tensor(&[B, 20])],
        );
    }
}

#[test]
fn gemm_without_bias() {
    let mut g = Graph::new(11);
    let x = g.input("x", &[-1, 4]);
    let w = g.init(&[4, 2], &[0.1, -0.2, 0.3, 0.4, -0.5, 0.6, 0.7, -0.8]);
    let y = g.op("Gemm", &[&x, &w], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[Rng::new(2).tensor(&[B, 4])]);
}

#[test]
fn matmul_matrix_by_matrix() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4]);
    let w = g.input("w", &[-1, 20]);
    let m = g.carve(&w, 0, 0, &[4, 5]);
    let y = g.op("MatMul", &[&x, &m], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(3);
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[B, 4]), r.tensor(&[B, 20])],
    );
}

#[test]
fn matmul_batched_left_broadcasts_right() {
    // [N, 2, 3, 4] @ [4, 5] and [N, 3, 4] @ [1, 4, 2]
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 2, 3, 4]);
    let w = g.input("w", &[-1, 20]);
    let m = g.carve(&w, 0, 0, &[4, 5]);
    let y = g.op("MatMul", &[&x, &m], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(4);
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[2, 2, 3, 4]), r.tensor(&[2, 20])],
    );

    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4]);
    let w = g.input("w", &[-1, 8]);
    let m = g.carve(&w, 1, 0, &[1, 4, 2]);
    let y = g.op("MatMul", &[&x, &m], vec![]);
    g.output_as(&y, "y");
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[2, 3, 4]), r.tensor(&[2, 8])],
    );
}

#[test]
fn matmul_batched_right_broadcasts_left() {
    // [3, 4] @ [N, 4, 5]
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 5]);
    let w = g.input("w", &[-1, 12]);
    let a = g.carve(&w, 0, 0, &[3, 4]);
    let y = g.op("MatMul", &[&a, &x], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(5);
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[2, 4, 5]), r.tensor(&[2, 12])],
    );
}

#[test]
fn matmul_with_vectors() {
    // [4] @ [N, 4, 5] -> [N, 5] and [N, 3, 4] @ [4] -> [N, 3]
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 5]);
    let w = g.input("w", &[-1, 4]);
    let v = g.carve(&w, 1, 0, &[4]);
    let y = g.op("MatMul", &[&v, &x], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(6);
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[2, 4, 5]), r.tensor(&[2, 4])],
    );

    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4]);
    let w = g.input("w", &[-1, 4]);
    let v = g.carve(&w, 0, 0, &[4]);
    let y = g.op("MatMul", &[&x, &v], vec![]);
    g.output_as(&y, "y");
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[2, 3, 4]), r.tensor(&[2, 4])],
    );
}

#[derive(Clone, Copy)]
enum Values {
    Any,
    AwayFromZero,
    Positive,
}

/// `op(x, b)` and `op(b, x)` for broadcast operands b of several shapes, `op(x, z)` of
/// equal shapes, and `op(x, x)`.
fn binary_cases(op: &str, opset: i64, values: Values) {
    let gen = |r: &mut Rng, n: usize| match values {
        Values::Any => r.vec(n, -1.0, 1.0),
        Values::AwayFromZero => r.signed(n, 0.5, 1.5),
        Values::Positive => r.vec(n, 0.5, 1.5),
    };
    for (i, bshape) in [vec![4i64], vec![3, 1], vec![1, 1, 4], vec![1, 3, 4]]
        .into_iter()
        .enumerate()
    {
        for swap in [false, true] {
            let mut g = Graph::new(opset);
            let x = g.input("x", &[-1, 3, 4]);
            let w = g.input("w", &[-1, 12]);
            let b = g.carve(&w, 1, 0, &bshape);
            let y = if swap {
                g.op(op, &[&b, &x], vec![])
            } else {
                g.op(op, &[&x, &b], vec![])
            };
            g.output_as(&y, "y");
            let mut r = Rng::new(10 + i as u64);
            let xs = t(&[B, 3, 4], gen(&mut r, B * 12));
            let ws = t(&[B, 12], gen(&mut r, B * 12));
            check(&g.model(), "y", &["x", "w"], &[xs, ws]);
        }
    }
    let mut g = Graph::new(opset);
    let x = g.input("x", &[-1, 3, 4]);
    let z = g.input("z", &[-1, 3, 4]);
    let y = g.op(op, &[&x, &z], vec![]);
    // x reaches the output twice: the contributions add up.
    let y2 = g.op("Mul", &[&y, &x], vec![]);
    g.output_as(&y2, "y");
    let mut r = Rng::new(20);
    let xs = t(&[B, 3, 4], gen(&mut r, B * 12));
    let zs = t(&[B, 3, 4], gen(&mut r, B * 12));
    check(&g.model(), "y", &["x", "z"], &[xs, zs]);
}

#[test]
fn add_broadcasting() {
    binary_cases("Add", 17, Values::Any);
}

#[test]
fn add_broadcasting_opset_11() {
    // ReduceSum takes its axes as an attribute before opset 13.
    binary_cases("Add", 11, Values::Any);
}

#[test]
fn sub_broadcasting() {
    binary_cases("Sub", 17, Values::Any);
}

#[test]
fn mul_broadcasting() {
    binary_cases("Mul", 17, Values::Any);
}

#[test]
fn div_broadcasting() {
    binary_cases("Div", 17, Values::AwayFromZero);
}

#[test]
fn pow_base_and_exponent() {
    binary_cases("Pow", 17, Values::Positive);
    // An integer constant exponent, any sign of base.
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3]);
    let k = g.init_i64(&[], &[3]);
    let y = g.op("Pow", &[&x, &k], vec![]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[Rng::new(21).tensor(&[B, 3])]);
}

#[test]
fn sum_of_three_with_broadcast() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4]);
    let w = g.input("w", &[-1, 4]);
    let b = g.carve(&w, 0, 0, &[4]);
    let y = g.op("Sum", &[&x, &b, &x], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(22);
    check(
        &g.model(),
        "y",
        &["x", "w"],
        &[r.tensor(&[B, 3, 4]), r.tensor(&[B, 4])],
    );
}

/// `op(x)` on [N, 3, 4] with the given input values.
fn unary(op: &str, attrs: Vec<tract_onnx::pb::AttributeProto>, values: Vec<f32>) {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4]);
    let y = g.op(op, &[&x], attrs);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[t(&[B, 3, 4], values)]);
}

#[test]
fn relu() {
    unary("Relu", vec![], Rng::new(30).signed(B * 12, 0.05, 1.0));
}

#[test]
fn leaky_relu() {
    unary(
        "LeakyRelu",
        vec![af("alpha", 0.2)],
        Rng::new(31).signed(B * 12, 0.05, 1.0),
    );
    unary("LeakyRelu", vec![], Rng::new(32).signed(B * 12, 0.05, 1.0));
}

#[test]
fn relu_and_leaky_relu_before_where() {
    // Opset 8 has no Where: the rules select with masks.
    let mut g = Graph::new(8);
    let x = g.input("x", &[-1, 6]);
    let a = g.op("Relu", &[&x], vec![]);
    let b = g.op("LeakyRelu", &[&x], vec![af("alpha", 0.3)]);
    let y = g.op("Mul", &[&a, &b], vec![]);
    let y = g.op("Add", &[&y, &b], vec![]);
    g.output_as(&y, "y");
    check(
        &g.model(),
        "y",
        &["x"],
        &[t(&[B, 6], Rng::new(46).signed(B * 6, 0.05, 1.0))],
    );
}

#[test]
fn sigmoid() {
    unary("Sigmoid", vec![], Rng::new(33).vec(B * 12, -3.0, 3.0));
}

#[test]
fn tanh() {
    unary("Tanh", vec![], Rng::new(34).vec(B * 12, -2.0, 2.0));
}

#[test]
fn exp() {
    unary("Exp", vec![], Rng::new(35).vec(B * 12, -2.0, 2.0));
}

#[test]
fn log() {
    unary("Log", vec![], Rng::new(36).vec(B * 12, 0.5, 3.0));
}

#[test]
fn sqrt() {
    unary("Sqrt", vec![], Rng::new(37).vec(B * 12, 0.5, 3.0));
}

#[test]
fn reciprocal() {
    unary("Reciprocal", vec![], Rng::new(38).signed(B * 12, 0.5, 2.0));
}

#[test]
fn neg() {
    unary("Neg", vec![], Rng::new(39).vec(B * 12, -1.0, 1.0));
}

#[test]
fn sin_and_cos() {
    unary("Sin", vec![], Rng::new(41).vec(B * 12, -4.0, 4.0));
    unary("Cos", vec![], Rng::new(42).vec(B * 12, -4.0, 4.0));
}

#[test]
fn erf() {
    unary("Erf", vec![], Rng::new(40).vec(B * 12, -2.0, 2.0));
}

#[test]
fn gelu_exact_and_tanh() {
    let mut g = Graph::new(20);
    let x = g.input("x", &[-1, 5]);
    let y = g.op("Gelu", &[&x], vec![]);
    let z = g.op("Gelu", &[&x], vec![astr("approximate", "tanh")]);
    let s = g.op("Add", &[&y, &z], vec![]);
    g.output_as(&s, "y");
    check(
        &g.model(),
        "y",
        &["x"],
        &[t(&[B, 5], Rng::new(41).vec(B * 5, -3.0, 3.0))],
    );
}

#[test]
fn softmax_axes_and_opsets() {
    // opset 13+: one axis (default -1); before: flattened from `axis` (default 1) on.
    for (opset, axis) in [(17, None), (17, Some(1)), (11, None), (11, Some(2))] {
        let mut g = Graph::new(opset);
        let x = g.input("x", &[-1, 3, 5]);
        let attrs = axis.map(|a| vec![ai("axis", a)]).unwrap_or_default();
        let y = g.op("Softmax", &[&x], attrs);
        g.output_as(&y, "y");
        check(
            &g.model(),
            "y",
            &["x"],
            &[t(&[B, 3, 5], Rng::new(42).vec(B * 15, -2.0, 2.0))],
        );
    }
}

#[test]
fn log_softmax_axes_and_opsets() {
    for (opset, axis) in [(17, None), (17, Some(1)), (11, None)] {
        let mut g = Graph::new(opset);
        let x = g.input("x", &[-1, 3, 5]);
        let attrs = axis.map(|a| vec![ai("axis", a)]).unwrap_or_default();
        let y = g.op("LogSoftmax", &[&x], attrs);
        g.output_as(&y, "y");
        check(
            &g.model(),
            "y",
            &["x"],
            &[t(&[B, 3, 5], Rng::new(43).vec(B * 15, -2.0, 2.0))],
        );
    }
}

#[test]
fn prelu_input_and_slope() {
    // Slope per channel [3, 1] broadcast over [N, 3, 4].
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4]);
    let w = g.input("w", &[-1, 3]);
    let slope = g.carve(&w, 0, 0, &[3, 1]);
    let y = g.op("PRelu", &[&x, &slope], vec![]);
    g.output_as(&y, "y");
    let mut r = Rng::new(44);
    let xs = t(&[B, 3, 4], r.signed(B * 12, 0.05, 1.0));
    check(&g.model(), "y", &["x", "w"], &[xs, r.tensor(&[B, 3])]);
}

#[test]
fn clip_inputs_and_attributes() {
    // opset 11+: bounds as (optional) inputs.
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 8]);
    let lo = g.init(&[], &[-0.5]);
    let hi = g.init(&[], &[0.5]);
    let a = g.op("Clip", &[&x, &lo, &hi], vec![]);
    let b = g.op("Clip", &[&x, "", &hi], vec![]);
    let y = g.op("Add", &[&a, &b], vec![]);
    g.output_as(&y, "y");
    // Stay away from the bounds (the kinks).
    let vals: Vec<f32> = Rng::new(45)
        .vec(B * 8, -1.0, 1.0)
        .into_iter()
        .map(|v| {
            if (v.abs() - 0.5).abs() < 0.05 {
                v * 0.5
            } else {
                v
            }
        })
        .collect();
    check(&g.model(), "y", &["x"], &[t(&[B, 8], vals.clone())]);
    // opset 10: bounds as attributes.
    let mut g = Graph::new(10);
    let x = g.input("x", &[-1, 8]);
    let y = g.op("Clip", &[&x], vec![af("min", -0.5), af("max", 0.5)]);
    g.output_as(&y, "y");
    check(&g.model(), "y", &["x"], &[t(&[B, 8], vals)]);
}

#[test]
fn abs() {
    unary("Abs", vec![], Rng::new(50).signed(B * 12, 0.05, 1.0));
}

#[test]
fn softplus_elu_hard_sigmoid() {
    unary("Softplus", vec![], Rng::new(51).vec(B * 12, -3.0, 3.0));
    unary(
        "Elu",
        vec![af("alpha", 0.7)],
        Rng::new(52).signed(B * 12, 0.05, 2.0),
    );
    // Keep αx + β away from 0 and 1 (x = ±2.5 with the defaults).
    let vals: Vec<f32> = Rng::new(53)
        .vec(B * 12, -4.0, 4.0)
        .into_iter()
        .map(|v| {
            if (v.abs() - 2.5).abs() < 0.1 {
                v * 0.8
            } else {
                v
            }
        })
        .collect();
    unary("HardSigmoid", vec![], vals);
}

#[test]
fn hard_swish() {
    let mut g = Graph::new(14);
    let x = g.input("x", &[-1, 3, 4]);
    let y = g.op("HardSwish", &[&x], vec![]);
    g.output_as(&y, "y");
    // Keep x away from the kinks at ±3.
    let vals: Vec<f32> = Rng::new(54)
        .vec(B * 12, -5.0, 5.0)
        .into_iter()
        .map(|v| {
            if (v.abs() - 3.0).abs() < 0.1 {
                v * 0.8
            } else {
                v
            }
        })
        .collect();
    check(&g.model(), "y", &["x"], &[t(&[B, 3, 4], vals)]);
}

#[test]
fn max_min_mean_variadic_broadcasting() {
    for op in ["Max", "Min", "Mean"] {
        let mut g = Graph::new(13);
        let x = g.input("x", &[-1, 3, 4]);
        let z = g.input("z", &[-1, 3, 4]);
        let w = g.input("w", &[-1, 4]);
        let b = g.carve(&w, 1, 0, &[4]);
        let y = g.op(op, &[&x, &z, &b], vec![]);
        let y = g.op("Mul", &[&y, &x], vec![]);
        g.output_as(&y, "y");
        // Distinct values far apart relative to the steps, so the winner never changes.
        let mut r = Rng::new(55);
        let mut all = r.distinct(&[B * 12 * 2 + B * 4]).as_f32().unwrap().to_vec();
        for v in &mut all {
            *v *= 8.0;
        }
        let xs = t(&[B, 3, 4], all[..B * 12].to_vec());
        let zs = t(&[B, 3, 4], all[B * 12..B * 24].to_vec());
        let ws = t(&[B, 4], all[B * 24..].to_vec());
        check(&g.model(), "y", &["x", "z", "w"], &[xs, zs, ws]);
    }
}

/// Property: for random shapes and broadcast patterns, every binary op's gradient matches
/// finite differences for both operands.
#[test]
fn broadcasting_property() {
    let mut r = Rng::new(99);
    for case in 0..24 {
        let op = ["Add", "Sub", "Mul", "Div"][case % 4];
        let rank = 1 + (r.uniform(0.0, 3.0) as usize).min(2);
        let dims: Vec<i64> = (0..rank).map(|_| 1 + r.uniform(0.0, 3.0) as i64).collect();
        // The other operand: some leading axes dropped, some axes of size 1.
        let drop = r.uniform(0.0, rank as f64 + 1.0) as usize;
        let other: Vec<i64> = dims[drop.min(rank)..]
            .iter()
            .map(|&d| if r.uniform(0.0, 1.0) < 0.4 { 1 } else { d })
            .collect();
        let mut full = vec![-1i64];
        full.extend(&dims);
        let n: i64 = dims.iter().product();
        let m: i64 = other.iter().product::<i64>().max(1);
        let mut g = Graph::new(17);
        let x = g.input("x", &full);
        let w = g.input("w", &[-1, m]);
        let b = if other.is_empty() {
            let s = g.carve(&w, 0, 0, &[1]);
            let shape = g.init_i64(&[0], &[]);
            g.op("Reshape", &[&s, &shape], vec![])
        } else {
            g.carve(&w, 0, 0, &other)
        };
        let swap = r.uniform(0.0, 1.0) < 0.5;
        let y = if swap {
            g.op(op, &[&b, &x], vec![])
        } else {
            g.op(op, &[&x, &b], vec![])
        };
        let y = g.op("Mul", &[&y, &y], vec![]);
        g.output_as(&y, "y");
        let xs = t(
            &[B].iter()
                .copied()
                .chain(dims.iter().map(|d| *d as usize))
                .collect::<Vec<_>>(),
            r.signed(B * n as usize, 0.5, 1.5),
        );
        let ws = t(&[B, m as usize], r.signed(B * m as usize, 0.5, 1.5));
        check(&g.model(), "y", &["x", "w"], &[xs, ws]);
    }
}

#[test]
fn einsum_products_reductions_attention() {
    // (equation, shape of x (batch first), shape of the carved second operand or none)
    type Case = (&'static str, Vec<i64>, Option<Vec<i64>>);
    let cases: [Case; 5] = [
        ("bij,jk->bik", vec![-1, 2, 3], Some(vec![3, 4])),
        ("bij->bj", vec![-1, 3, 4], None),
        ("bij,j->bi", vec![-1, 3, 4], Some(vec![4])),
        ("bqd,kd->bqk", vec![-1, 2, 3], Some(vec![4, 3])),
        ("bij,jk", vec![-1, 2, 3], Some(vec![3, 2])),
    ];
    for (eq, xdims, wdims) in cases {
        let mut g = Graph::new(12);
        let x = g.input("x", &xdims);
        let w = g.input("w", &[-1, 12]);
        let mut ins = vec![x.clone()];
        if let Some(d) = &wdims {
            ins.push(g.carve(&w, 0, 0, d));
        }
        let refs: Vec<&str> = ins.iter().map(String::as_str).collect();
        let y = g.op("Einsum", &refs, vec![astr("equation", eq)]);
        let y = g.op("Mul", &[&y, &y], vec![]);
        g.output_as(&y, "y");
        let shape: Vec<usize> = std::iter::once(B)
            .chain(xdims[1..].iter().map(|d| *d as usize))
            .collect();
        let mut r = Rng::new(60);
        let xs = r.tensor(&shape);
        let ws = r.tensor(&[B, 12]);
        let wrt: &[&str] = if wdims.is_some() { &["x", "w"] } else { &["x"] };
        check(&g.model(), "y", wrt, &[xs, ws]);
    }
}
