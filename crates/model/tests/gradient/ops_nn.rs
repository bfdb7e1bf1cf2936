//! Convolutions, pooling and normalisation.

use prism_model::Tensor;

use tract_onnx::pb;

use crate::harness::{af, ai, aints, astr, check, check_with, FdStep, Graph, Rng};

const B: usize = 2;

fn weights(g: &mut Graph, dims: &[i64], seed: u64) -> String {
    let n: i64 = dims.iter().product();
    let w = Rng::new(seed).vec(n as usize, -1.0, 1.0);
    g.init(dims, &w)
}

/// Squares the result so the gradient depends on the values, not only the seed.
fn square_out(g: &mut Graph, y: &str) {
    let sq = g.op("Mul", &[y, y], vec![]);
    g.output_as(&sq, "y");
}

#[test]
fn conv_groups_strides_pads_dilations() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 7, 6]);
    let w = weights(&mut g, &[6, 2, 3, 3], 1);
    let y = g.op(
        "Conv",
        &[&x, &w],
        vec![
            ai("group", 2),
            aints("strides", &[2, 1]),
            aints("pads", &[1, 0, 1, 2]),
            aints("dilations", &[1, 2]),
            aints("kernel_shape", &[3, 3]),
        ],
    );
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(2).tensor(&[B, 4, 7, 6])],
    );
}

#[test]
fn conv_unit_strides_groups_dilations_asymmetric_pads() {
    // Unit strides take the Conv-with-flipped-kernel adjoint.
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 7, 6]);
    let w = weights(&mut g, &[6, 2, 3, 2], 11);
    let y = g.op(
        "Conv",
        &[&x, &w],
        vec![
            ai("group", 2),
            aints("pads", &[2, 0, 1, 1]),
            aints("dilations", &[1, 2]),
        ],
    );
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(12).tensor(&[B, 4, 7, 6])],
    );
}

#[test]
fn conv_same_padding_and_bias_from_input() {
    for auto_pad in ["SAME_UPPER", "SAME_LOWER", "VALID"] {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 3, 5, 6]);
        let z = g.input("z", &[-1, 4]);
        let w = weights(&mut g, &[4, 3, 2, 3], 3);
        let bias = g.carve(&z, 0, 0, &[4]);
        let y = g.op(
            "Conv",
            &[&x, &w, &bias],
            vec![astr("auto_pad", auto_pad), aints("strides", &[2, 2])],
        );
        square_out(&mut g, &y);
        let mut r = Rng::new(4);
        check(
            &g.model(),
            "y",
            &["x", "z"],
            &[r.tensor(&[B, 3, 5, 6]), r.tensor(&[B, 4])],
        );
    }
}

#[test]
fn conv_1d_depthwise() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 9]);
    let w = weights(&mut g, &[3, 1, 3], 5);
    let y = g.op(
        "Conv",
        &[&x, &w],
        vec![ai("group", 3), aints("pads", &[1, 1])],
    );
    square_out(&mut g, &y);
    check(&g.model(), "y", &["x"], &[Rng::new(6).tensor(&[B, 3, 9])]);
}

#[test]
fn conv_transpose_strides_pads_output_padding_groups() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 3, 4]);
    let w = weights(&mut g, &[4, 3, 3, 3], 7);
    let y = g.op(
        "ConvTranspose",
        &[&x, &w],
        vec![
            aints("strides", &[2, 2]),
            aints("pads", &[1, 0, 0, 1]),
            aints("output_padding", &[1, 0]),
        ],
    );
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(8).tensor(&[B, 4, 3, 4])],
    );

    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 4, 3, 4]);
    let w = weights(&mut g, &[4, 2, 2, 2], 9);
    let y = g.op(
        "ConvTranspose",
        &[&x, &w],
        vec![
            ai("group", 2),
            aints("dilations", &[1, 2]),
            aints("strides", &[1, 2]),
        ],
    );
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(10).tensor(&[B, 4, 3, 4])],
    );
}

/// Distinct values 0.06 apart, so no perturbation of [`POOL_STEP`] changes which element a
/// max pool picks.
fn spaced(dims: &[usize], seed: u64) -> Tensor {
    let t = Rng::new(seed).distinct(dims);
    let n = t.len() as f32;
    let v = t.as_f32().unwrap().iter().map(|v| v * n * 0.03).collect();
    Tensor::f32(dims.to_vec(), v).unwrap()
}

/// Finite-difference step for max-pool inputs: 2 steps stay well below their spacing.
const POOL_STEP: f64 = 4e-3;

fn check_pool(model: &pb::ModelProto, x: Tensor) {
    check_with(model, "y", &["x"], &[x], FdStep::Absolute(POOL_STEP));
}

#[test]
fn max_pool_disjoint_overlapping_padded_ceil() {
    let cases = vec![
        vec![aints("kernel_shape", &[2, 2]), aints("strides", &[2, 2])],
        vec![
            aints("kernel_shape", &[3, 3]),
            aints("strides", &[2, 2]),
            aints("pads", &[1, 1, 1, 1]),
        ],
        vec![
            aints("kernel_shape", &[3, 2]),
            aints("strides", &[2, 1]),
            ai("ceil_mode", 1),
        ],
        vec![aints("kernel_shape", &[2, 2]), aints("dilations", &[2, 1])],
    ];
    for (i, attrs) in cases.into_iter().enumerate() {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 2, 6, 6]);
        let y = g.op("MaxPool", &[&x], attrs);
        square_out(&mut g, &y);
        check_pool(&g.model(), spaced(&[B, 2, 6, 6], 11 + i as u64));
    }
}

#[test]
fn max_pool_1d() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 8]);
    let y = g.op(
        "MaxPool",
        &[&x],
        vec![aints("kernel_shape", &[3]), aints("strides", &[2])],
    );
    square_out(&mut g, &y);
    check_pool(&g.model(), spaced(&[B, 3, 8], 15));
}

#[test]
fn average_pool_pads_counts_ceil() {
    let cases = vec![
        vec![aints("kernel_shape", &[2, 2]), aints("strides", &[2, 2])],
        vec![
            aints("kernel_shape", &[3, 2]),
            aints("strides", &[2, 2]),
            aints("pads", &[1, 0, 1, 1]),
        ],
        vec![
            aints("kernel_shape", &[3, 2]),
            aints("strides", &[2, 2]),
            aints("pads", &[1, 0, 1, 1]),
            ai("count_include_pad", 1),
        ],
        vec![
            aints("kernel_shape", &[3, 3]),
            aints("strides", &[2, 2]),
            ai("ceil_mode", 1),
        ],
    ];
    for (i, attrs) in cases.into_iter().enumerate() {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 2, 7, 6]);
        let y = g.op("AveragePool", &[&x], attrs);
        square_out(&mut g, &y);
        check(
            &g.model(),
            "y",
            &["x"],
            &[Rng::new(20 + i as u64).tensor(&[B, 2, 7, 6])],
        );
    }
}

#[test]
fn global_average_and_max_pool() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4, 5]);
    let a = g.op("GlobalAveragePool", &[&x], vec![]);
    let m = g.op("GlobalMaxPool", &[&x], vec![]);
    let y = g.op("Mul", &[&a, &m], vec![]);
    g.output_as(&y, "y");
    check_pool(&g.model(), spaced(&[B, 3, 4, 5], 30));
}

#[test]
fn batch_normalization_inference() {
    for dims in [vec![-1i64, 3, 4, 4], vec![-1, 3]] {
        let mut g = Graph::new(15);
        let x = g.input("x", &dims);
        let scale = g.init(&[3], &[0.5, -1.5, 2.0]);
        let bias = g.init(&[3], &[0.1, 0.2, -0.3]);
        let mean = g.init(&[3], &[0.3, -0.1, 0.0]);
        let var = g.init(&[3], &[0.8, 1.7, 0.4]);
        let y = g.op(
            "BatchNormalization",
            &[&x, &scale, &bias, &mean, &var],
            vec![af("epsilon", 1e-3)],
        );
        square_out(&mut g, &y);
        let shape: Vec<usize> = std::iter::once(B)
            .chain(dims[1..].iter().map(|d| *d as usize))
            .collect();
        check(&g.model(), "y", &["x"], &[Rng::new(31).tensor(&shape)]);
    }
}

#[test]
fn layer_normalization_last_and_two_axes() {
    for axis in [-1i64, 1] {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 3, 4]);
        let sdims: Vec<i64> = if axis == -1 { vec![4] } else { vec![3, 4] };
        let n = sdims.iter().product::<i64>() as usize;
        let scale = g.init(&sdims, &Rng::new(32).vec(n, 0.5, 1.5));
        let bias = g.init(&sdims, &Rng::new(33).vec(n, -0.5, 0.5));
        let y = g.op(
            "LayerNormalization",
            &[&x, &scale, &bias],
            vec![ai("axis", axis), af("epsilon", 1e-5)],
        );
        // Weighted so the output's gradient is not symmetric in the normalised values.
        let w = g.init(&sdims, &Rng::new(34).vec(n, -1.0, 1.0));
        let y = g.op("Mul", &[&y, &w], vec![]);
        square_out(&mut g, &y);
        check(&g.model(), "y", &["x"], &[Rng::new(35).tensor(&[B, 3, 4])]);
    }
}

#[test]
fn resize_modes_scales_and_sizes() {
    let cases: Vec<(Vec<pb::AttributeProto>, Vec<f32>)> = vec![
        (
            vec![
                astr("mode", "nearest"),
                astr("coordinate_transformation_mode", "asymmetric"),
                astr("nearest_mode", "floor"),
            ],
            vec![1.0, 1.0, 2.0, 3.0],
        ),
        (vec![astr("mode", "nearest")], vec![1.0, 1.0, 1.5, 0.5]),
        (vec![astr("mode", "linear")], vec![1.0, 1.0, 1.5, 0.75]),
        (
            vec![
                astr("mode", "linear"),
                astr("coordinate_transformation_mode", "align_corners"),
            ],
            vec![1.0, 1.0, 2.0, 2.0],
        ),
        (vec![astr("mode", "cubic")], vec![1.0, 1.0, 2.0, 1.5]),
    ];
    for (attrs, scales) in cases {
        let mut g = Graph::new(13);
        let x = g.input("x", &[-1, 2, 3, 4]);
        let sc = g.init(&[4], &scales);
        let y = g.op("Resize", &[&x, "", &sc], attrs);
        square_out(&mut g, &y);
        check(
            &g.model(),
            "y",
            &["x"],
            &[Rng::new(40).tensor(&[B, 2, 3, 4])],
        );
    }
    // opset 11 with sizes (and the mandatory roi input), spelling out the batch.
    let mut g = Graph::new(11);
    let x = g.input("x", &[-1, 2, 3, 4]);
    let roi = g.init(&[0], &[]);
    let scales = g.init(&[0], &[]);
    let sizes = g.init_i64(&[4], &[B as i64, 2, 5, 7]);
    let y = g.op(
        "Resize",
        &[&x, &roi, &scales, &sizes],
        vec![
            astr("mode", "linear"),
            astr("coordinate_transformation_mode", "pytorch_half_pixel"),
        ],
    );
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(41).tensor(&[B, 2, 3, 4])],
    );
}

#[test]
fn max_pool_overlapping_before_opset_16() {
    // No ScatterElements reduction before opset 16: disjoint groups are scattered apart.
    for attrs in [
        vec![
            aints("kernel_shape", &[3, 3]),
            aints("strides", &[2, 2]),
            aints("pads", &[1, 1, 1, 1]),
        ],
        vec![aints("kernel_shape", &[3, 2]), aints("strides", &[1, 1])],
    ] {
        let mut g = Graph::new(13);
        let x = g.input("x", &[-1, 2, 6, 5]);
        let y = g.op("MaxPool", &[&x], attrs);
        square_out(&mut g, &y);
        check_pool(&g.model(), spaced(&[B, 2, 6, 5], 16));
    }
}

#[test]
fn instance_normalization() {
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4, 5]);
    let scale = g.init(&[3], &[0.5, -1.5, 2.0]);
    let bias = g.init(&[3], &[0.1, 0.2, -0.3]);
    let y = g.op(
        "InstanceNormalization",
        &[&x, &scale, &bias],
        vec![af("epsilon", 1e-5)],
    );
    let w = weights(&mut g, &[3, 4, 5], 36);
    let y = g.op("Mul", &[&y, &w], vec![]);
    square_out(&mut g, &y);
    check(
        &g.model(),
        "y",
        &["x"],
        &[Rng::new(37).tensor(&[B, 3, 4, 5])],
    );
}

#[test]
fn symbolic_spatial_axes_unit_stride_conv_and_global_pool() {
    // Fully convolutional models may leave the image size symbolic.
    let mut g = Graph::new(17);
    let x = g.input("x", &[-1, 3, 4, 5]);
    let mut model = {
        let w = weights(&mut g, &[4, 3, 3, 3], 39);
        let c = g.op("Conv", &[&x, &w], vec![aints("pads", &[1, 1, 1, 1])]);
        let r = g.op("Tanh", &[&c], vec![]);
        let a = g.op("GlobalAveragePool", &[&r], vec![]);
        square_out(&mut g, &a);
        g.model()
    };
    let dims = &mut model.graph.as_mut().unwrap().input[0];
    if let Some(pb::type_proto::Value::TensorType(t)) =
        dims.r#type.as_mut().and_then(|t| t.value.as_mut())
    {
        for (i, d) in t.shape.as_mut().unwrap().dim.iter_mut().enumerate().skip(2) {
            d.value = Some(pb::tensor_shape_proto::dimension::Value::DimParam(format!(
                "s{i}"
            )));
        }
    }
    check(&model, "y", &["x"], &[Rng::new(38).tensor(&[B, 3, 4, 5])]);
}

#[test]
fn auto_pad_same_for_conv_transpose_and_pools() {
    for auto_pad in ["SAME_UPPER", "SAME_LOWER"] {
        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 2, 3, 4]);
        let w = weights(&mut g, &[2, 3, 3, 3], 50);
        let y = g.op(
            "ConvTranspose",
            &[&x, &w],
            vec![astr("auto_pad", auto_pad), aints("strides", &[2, 2])],
        );
        square_out(&mut g, &y);
        check(
            &g.model(),
            "y",
            &["x"],
            &[Rng::new(51).tensor(&[B, 2, 3, 4])],
        );

        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 2, 7, 6]);
        let y = g.op(
            "AveragePool",
            &[&x],
            vec![
                astr("auto_pad", auto_pad),
                aints("kernel_shape", &[3, 2]),
                aints("strides", &[2, 2]),
            ],
        );
        square_out(&mut g, &y);
        check(
            &g.model(),
            "y",
            &["x"],
            &[Rng::new(52).tensor(&[B, 2, 7, 6])],
        );

        let mut g = Graph::new(17);
        let x = g.input("x", &[-1, 2, 7, 6]);
        let y = g.op(
            "MaxPool",
            &[&x],
            vec![
                astr("auto_pad", auto_pad),
                aints("kernel_shape", &[3, 3]),
                aints("strides", &[2, 2]),
            ],
        );
        square_out(&mut g, &y);
        check_pool(&g.model(), spaced(&[B, 2, 7, 6], 53));
    }
}
