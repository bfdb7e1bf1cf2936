//! Resize (nearest, linear, cubic; any coordinate transformation but crop-and-resize).
//!
//! Every supported Resize is separable: along each resized axis it multiplies by a fixed
//! [in, out] interpolation matrix, and its adjoint multiplies by the transpose. The matrix
//! comes from the graph itself: the same Resize (same attributes, same per-axis scale or
//! size) applied to an identity laid out along that axis, so it matches the runtime's
//! interpolation exactly, whatever the mode.

use tract_onnx::prelude::DatumType;

use super::{InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::{attr_ints, Emitter};

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("Resize", resize);
}

fn resize(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    if e.opset < 11 {
        return Err(s.unsupported("Resize before opset 11".into()));
    }
    let ctm = s.string("coordinate_transformation_mode", "half_pixel");
    if ctm == "tf_crop_and_resize" {
        return Err(s.unsupported("coordinate_transformation_mode 'tf_crop_and_resize'".into()));
    }
    if s.string("keep_aspect_ratio_policy", "stretch") != "stretch" || s.ints("axes").is_some() {
        return Err(s.unsupported("keep_aspect_ratio_policy or axes".into()));
    }
    let (x, y, dy) = (s.input(0)?, s.output(0)?, s.dy()?);
    let dt = e.facts.datum_type(x)?;
    let rank = e.facts.rank(x)?;
    let x_shape = e.facts.shape(x)?.to_vec();
    let y_shape = e.facts.shape(y)?.to_vec();
    let scales = if s.has_input(2) {
        match e.facts.const_f64s(s.input(2)?) {
            Some(v) if !v.is_empty() => Some(v),
            Some(_) => None,
            None => return Err(s.unsupported("scales must be a constant".into())),
        }
    } else {
        None
    };
    let mut g = dy.to_string();
    for axis in 0..rank {
        let scale = scales.as_ref().map(|v| v[axis]);
        let (xd, yd) = (&x_shape[axis], &y_shape[axis]);
        // Unchanged axes, and the symbolic batch axis (sizes may spell out its run-time
        // value), are left alone.
        if scale.is_none_or(|k| k == 1.0) && (xd == yd || xd.to_i64().is_err()) {
            continue;
        }
        let (n_in, n_out) = (e.facts.dim(x, axis)?, e.facts.dim(y, axis)?);
        let other = if axis == 0 { 1 } else { 0 };
        if rank < 2 {
            return Err(s.unsupported("1-D Resize".into()));
        }
        // Identity: n_in one-hot rows laid out on `other`, the hot position on `axis`.
        let mut dims = vec![1i64; rank];
        dims[other] = n_in;
        dims[axis] = n_in;
        let eye: Vec<f64> = (0..n_in * n_in)
            .map(|k| if k / n_in == k % n_in { 1.0 } else { 0.0 })
            .collect();
        let eye = e.const_float(dt, &dims, &eye)?;
        // tract drops empty input names before matching positions, so absent optional
        // inputs before a present one are spelled as empty tensors.
        let roi = if s.has_input(1) {
            s.input(1)?.to_string()
        } else {
            e.const_float(DatumType::F32, &[0], &[])?
        };
        let resized = match scale {
            Some(k) => {
                let mut sc = vec![1.0f64; rank];
                sc[axis] = k;
                let sc = e.const_float(DatumType::F32, &[rank as i64], &sc)?;
                e.op("Resize", &[&eye, &roi, &sc], s.attributes())
            }
            None => {
                let mut sz = vec![1i64; rank];
                sz[other] = n_in;
                sz[axis] = n_out;
                let sz = e.const_i64(&sz);
                let no_scales = e.const_float(DatumType::F32, &[0], &[])?;
                e.op("Resize", &[&eye, &roi, &no_scales, &sz], s.attributes())
            }
        };
        // Mᵀ[o, k]: weight of input k in output o.
        let mt = if other < axis {
            let shape = e.const_i64(&[n_in, n_out]);
            let m = e.op("Reshape", &[&resized, &shape], vec![]);
            e.op("Transpose", &[&m], vec![attr_ints("perm", &[1, 0])])
        } else {
            let shape = e.const_i64(&[n_out, n_in]);
            e.op("Reshape", &[&resized, &shape], vec![])
        };
        // Move `axis` last, contract with Mᵀ, move it back.
        let mut perm: Vec<i64> = (0..rank as i64).filter(|a| *a != axis as i64).collect();
        perm.push(axis as i64);
        let mut inverse = vec![0i64; rank];
        for (i, p) in perm.iter().enumerate() {
            inverse[*p as usize] = i as i64;
        }
        let moved = e.op("Transpose", &[&g], vec![attr_ints("perm", &perm)]);
        let back = e.op("MatMul", &[&moved, &mt], vec![]);
        g = e.op("Transpose", &[&back], vec![attr_ints("perm", &inverse)]);
    }
    Ok(vec![(0, g)])
}
