//! Data movement: Identity, Dropout, Cast, Flatten, Reshape, Squeeze, Unsqueeze, Transpose,
//! Concat, Split, Slice, Pad, Gather, Expand, Where, Tile.

use tract_onnx::prelude::Datum;

use super::{norm_axis, InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::{attr_int, attr_ints, onnx_type, Emitter};

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("Identity", identity);
    t.add("Dropout", dropout);
    t.add("Cast", cast);
    t.add("Flatten", reshape_back);
    t.add("Reshape", reshape_back);
    t.add("Squeeze", reshape_back);
    t.add("Unsqueeze", reshape_back);
    t.add("Transpose", transpose);
    t.add("Concat", concat);
    t.add("Split", split);
    t.add("Slice", slice);
    t.add("Pad", pad);
    t.add("Gather", gather);
    t.add("Expand", expand);
    t.add("Where", where_);
    t.add("Tile", tile);
}

/// Slice ends at or past this are "to the end of the axis".
const TO_END: i64 = i64::MAX / 2;

fn identity(_: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    Ok(vec![(0, s.dy()?.to_string())])
}

/// Inference-mode dropout is the identity (tract and ONNX Runtime run it that way).
fn dropout(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    if s.has_input(2) && e.facts.const_i64s(s.input(2)?) != Some(vec![0]) {
        return Err(s.unsupported("training-mode dropout is not differentiable".into()));
    }
    Ok(vec![(0, s.dy()?.to_string())])
}

/// A float-to-float cast: cast the gradient back.
fn cast(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let x = s.input(0)?;
    let dt = e.facts.datum_type(x)?;
    let to = onnx_type(dt).ok_or_else(|| s.unsupported(format!("input type {dt:?}")))?;
    Ok(vec![(0, e.cast(s.dy()?, to))])
}

/// Ops that only change the shape: dx = Reshape(dy, Shape(x)).
fn reshape_back(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    Ok(vec![(0, e.reshape_like(s.dy()?, s.input(0)?))])
}

fn transpose(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let rank = e.facts.rank(s.input(0)?)?;
    let perm = s
        .ints("perm")
        .unwrap_or_else(|| (0..rank as i64).rev().collect());
    let mut inverse = vec![0i64; perm.len()];
    for (i, &p) in perm.iter().enumerate() {
        inverse[norm_axis(p, rank) as usize] = i as i64;
    }
    Ok(vec![(
        0,
        e.op("Transpose", &[s.dy()?], vec![attr_ints("perm", &inverse)]),
    )])
}

/// Each operand gets its slice of dy along the axis (sizes from the static shapes).
fn concat(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let rank = e.facts.rank(s.output(0)?)?;
    let axis = norm_axis(s.int("axis", 0), rank);
    let mut start = 0;
    let mut grads = vec![];
    for (ix, input) in s.node.input.iter().enumerate() {
        let size = e.facts.dim(input, axis as usize)?;
        if s.wants(ix) {
            grads.push((ix, e.slice(dy, &[start], &[start + size], &[axis], None)));
        }
        start += size;
    }
    Ok(grads)
}

/// dx = Concat of the outputs' gradients (zeros for outputs no gradient reaches).
fn split(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let rank = e.facts.rank(s.input(0)?)?;
    let axis = norm_axis(s.int("axis", 0), rank);
    let mut parts = vec![];
    for (ix, dy) in s.dys.iter().enumerate() {
        parts.push(match dy {
            Some(dy) => dy.clone(),
            None => e.zeros_like(s.output(ix)?)?,
        });
    }
    let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
    Ok(vec![(
        0,
        e.op("Concat", &refs, vec![attr_int("axis", axis)]),
    )])
}

/// Unit-step slices: dx = dy padded with zeros back to x's extent.
fn slice(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let x = s.input(0)?;
    let rank = e.facts.rank(x)?;
    let constant = |ix: usize| -> Result<Option<Vec<i64>>> {
        if !s.has_input(ix) {
            return Ok(None);
        }
        e.facts
            .const_i64s(s.input(ix)?)
            .map(Some)
            .ok_or_else(|| s.unsupported(format!("input {ix} must be a constant")))
    };
    let (starts, ends, axes, steps) = if e.opset >= 10 {
        let starts = constant(1)?.unwrap_or_default();
        let ends = constant(2)?.unwrap_or_default();
        (starts, ends, constant(3)?, constant(4)?)
    } else {
        (
            s.ints("starts").unwrap_or_default(),
            s.ints("ends").unwrap_or_default(),
            s.ints("axes"),
            None,
        )
    };
    let axes: Vec<i64> = axes
        .unwrap_or_else(|| (0..starts.len() as i64).collect())
        .into_iter()
        .map(|a| norm_axis(a, rank))
        .collect();
    if let Some(steps) = steps.filter(|st| st.iter().any(|k| *k != 1)) {
        let g = strided_slice_grad(e, s, &starts, &ends, &axes, &steps)?;
        return Ok(vec![(0, g)]);
    }
    let mut pads = vec![0i64; 2 * rank];
    let mut symbolic = vec![];
    for (i, &axis) in axes.iter().enumerate() {
        let axis = axis as usize;
        let (start, end) = (starts[i], ends[i]);
        match e.facts.dim(x, axis) {
            Ok(d) => {
                let start = if start < 0 { start + d } else { start }.clamp(0, d);
                let end = if end < 0 { end + d } else { end }.clamp(0, d);
                pads[axis] = start;
                pads[rank + axis] = d - end.max(start);
            }
            Err(_) => symbolic.push((axis, start, end)),
        }
    }
    let mut g = s.dy()?.to_string();
    if pads.iter().any(|p| *p != 0) {
        g = e.pad_zeros(&g, &pads);
    }
    // A symbolic axis (the batch): Pad needs constant sizes there, so concatenate zeros
    // shaped like the parts of x the slice left out, x[..start] and x[end..].
    match symbolic[..] {
        [] => {}
        [(axis, start, end)] => {
            let mut parts = vec![];
            if start != 0 {
                let before = e.slice(x, &[0], &[start], &[axis as i64], None);
                parts.push(e.zeros_like_of(&before, x)?);
            }
            parts.push(g);
            if end < TO_END {
                let after = e.slice(x, &[end], &[i64::MAX], &[axis as i64], None);
                parts.push(e.zeros_like_of(&after, x)?);
            }
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            g = e.op("Concat", &refs, vec![attr_int("axis", axis as i64)]);
        }
        _ => return Err(s.unsupported("slicing several symbolic axes".into())),
    }
    Ok(vec![(0, g)])
}

/// Slices with any steps (negative included): scatter dy back one sliced axis at a time,
/// at the positions the slice took, into zeros shaped like x sliced on the axes not yet
/// undone. The sliced axes must have fixed sizes.
fn strided_slice_grad(
    e: &mut Emitter<'_>,
    s: &Step<'_>,
    starts: &[i64],
    ends: &[i64],
    axes: &[i64],
    steps: &[i64],
) -> Result<String> {
    let x = s.input(0)?;
    let rank = e.facts.rank(x)?;
    let mut g = s.dy()?.to_string();
    for k in (0..axes.len()).rev() {
        let (axis, step) = (axes[k], steps[k]);
        if step == 0 {
            return Err(s.unsupported("a zero step".into()));
        }
        let d = e.facts.dim(x, axis as usize)?;
        let wrap = |v: i64| if v < 0 { v + d } else { v };
        let positions: Vec<i64> = if step > 0 {
            let (start, end) = (wrap(starts[k]).clamp(0, d), wrap(ends[k]).clamp(0, d));
            (start..end).step_by(step as usize).collect()
        } else {
            let (start, end) = (
                wrap(starts[k]).clamp(0, d - 1),
                wrap(ends[k]).clamp(-1, d - 1),
            );
            let mut p = vec![];
            let mut i = start;
            while i > end {
                p.push(i);
                i += step;
            }
            p
        };
        let zeros = if k == 0 {
            e.zeros_like(x)?
        } else {
            let part = e.slice(x, &starts[..k], &ends[..k], &axes[..k], Some(&steps[..k]));
            e.zeros_like_of(&part, x)?
        };
        let mut dims = vec![1i64; rank];
        dims[axis as usize] = positions.len() as i64;
        let idx = e.const_i64_shaped(&dims, &positions);
        let full = e.shape(&g);
        let idx = e.op("Expand", &[&idx, &full], vec![]);
        g = e.scatter_add(&zeros, &idx, &g, axis, true)?;
    }
    Ok(g)
}

/// Constant-mode padding: dx = dy cropped back (and zero-padded where the forward pad
/// was negative, i.e. cropped).
fn pad(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let mode = s.string("mode", "constant");
    if mode != "constant" {
        return Err(s.unsupported(format!("mode '{mode}'")));
    }
    let x = s.input(0)?;
    let rank = e.facts.rank(x)?;
    let (pads, axes) = if e.opset >= 11 {
        let pads = e
            .facts
            .const_i64s(s.input(1)?)
            .ok_or_else(|| s.unsupported("pads must be a constant".into()))?;
        let axes = if s.has_input(3) {
            e.facts
                .const_i64s(s.input(3)?)
                .ok_or_else(|| s.unsupported("axes must be a constant".into()))?
        } else {
            (0..rank as i64).collect()
        };
        (pads, axes)
    } else {
        let pads = s.ints("pads").unwrap_or_default();
        (pads, (0..rank as i64).collect())
    };
    let n = axes.len();
    let mut full = vec![0i64; 2 * rank];
    for (i, &axis) in axes.iter().enumerate() {
        let axis = norm_axis(axis, rank) as usize;
        full[axis] = pads[i];
        full[rank + axis] = pads[n + i];
    }
    // Crop the axes that were padded (only those: an open end on the symbolic batch axis
    // does not translate in tract's opset-1 Slice).
    let cropped: Vec<usize> = (0..rank)
        .filter(|&a| full[a] > 0 || full[rank + a] > 0)
        .collect();
    let mut g = s.dy()?.to_string();
    if !cropped.is_empty() {
        let axes: Vec<i64> = cropped.iter().map(|&a| a as i64).collect();
        let starts: Vec<i64> = cropped.iter().map(|&a| full[a].max(0)).collect();
        let ends: Vec<i64> = cropped
            .iter()
            .map(|&a| {
                if full[rank + a] > 0 {
                    -full[rank + a]
                } else {
                    i64::MAX
                }
            })
            .collect();
        g = e.slice(&g, &starts, &ends, &axes, None);
    }
    if full.iter().any(|p| *p < 0) {
        let back: Vec<i64> = full.iter().map(|p| (-p).max(0)).collect();
        g = e.pad_zeros(&g, &back);
    }
    Ok(vec![(0, g)])
}

/// Gather from a float tensor that depends on the input (not an embedding table, which is
/// a constant): scatter-add dy back into zeros shaped like the data.
fn gather(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let (x, indices, dy) = (s.input(0)?, s.input(1)?, s.dy()?);
    let rank = e.facts.rank(x)?;
    let axis = norm_axis(s.int("axis", 0), rank) as usize;
    let ind_shape = e.facts.shape(indices)?.to_vec();
    let mut k = 1i64;
    for d in &ind_shape {
        k *= d
            .to_i64()
            .map_err(|_| s.unsupported("the indices must have a fixed shape".into()))?;
    }
    // dy: x[..axis] ++ indices.shape ++ x[axis+1..]  →  x[..axis] ++ [K] ++ x[axis+1..].
    let mut target = vec![0i64; axis];
    target.push(k);
    target.extend(e.facts.dims_from(x, axis + 1)?);
    let target = e.const_i64(&target);
    let dy_r = e.op("Reshape", &[dy, &target], vec![]);
    let mut idx_shape = vec![1i64; rank];
    idx_shape[axis] = k;
    let idx_shape = e.const_i64(&idx_shape);
    let mut idx = e.op("Reshape", &[indices, &idx_shape], vec![]);
    if e.facts.datum_type(indices)? != i64::datum_type() {
        idx = e.cast(&idx, tract_onnx::pb::tensor_proto::DataType::Int64 as i32);
    }
    let full = e.shape(&dy_r);
    let idx = e.op("Expand", &[&idx, &full], vec![]);
    let unique = match (e.facts.const_i64s(indices), e.facts.dim(x, axis)) {
        (Some(v), Ok(d)) => {
            let mut seen: Vec<i64> = v.iter().map(|i| if *i < 0 { i + d } else { *i }).collect();
            seen.sort_unstable();
            seen.windows(2).all(|w| w[0] != w[1])
        }
        _ => false,
    };
    let zeros = e.zeros_like(x)?;
    let g = e.scatter_add(&zeros, &idx, &dy_r, axis as i64, unique)?;
    Ok(vec![(0, g)])
}

fn expand(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let y_shape = e.facts.shape(s.output(0)?)?.to_vec();
    Ok(vec![(0, e.sum_to(s.dy()?, &y_shape, s.input(0)?)?)])
}

/// y = cond ? a : b (all three broadcast).
fn where_(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (cond, dy) = (s.input(0)?, s.dy()?);
    let y_shape = e.facts.shape(s.output(0)?)?.to_vec();
    let zero = e.scalar_like(s.output(0)?, 0.0)?;
    let mut grads = vec![];
    if s.wants(1) {
        let g = e.op("Where", &[cond, dy, &zero], vec![]);
        grads.push((1, e.sum_to(&g, &y_shape, s.input(1)?)?));
    }
    if s.wants(2) {
        let g = e.op("Where", &[cond, &zero, dy], vec![]);
        grads.push((2, e.sum_to(&g, &y_shape, s.input(2)?)?));
    }
    Ok(grads)
}

/// y repeats x `repeats[i]` times along each axis: view dy as [r₀, d₀, r₁, d₁, …] and sum
/// the repeat axes. At most one axis (the batch) may be symbolic, and it must not repeat.
fn tile(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let x = s.input(0)?;
    let repeats = e
        .facts
        .const_i64s(s.input(1)?)
        .ok_or_else(|| s.unsupported("repeats must be a constant".into()))?;
    let shape = e.facts.shape(x)?.to_vec();
    let mut view = vec![];
    let mut symbolic = 0;
    for (d, r) in shape.iter().zip(&repeats) {
        view.push(*r);
        match d.to_i64() {
            Ok(d) => view.push(d),
            Err(_) if *r == 1 => {
                symbolic += 1;
                view.push(-1);
            }
            Err(_) => return Err(s.unsupported("repeating a symbolic axis".into())),
        }
    }
    if symbolic > 1 {
        return Err(s.unsupported("several symbolic axes".into()));
    }
    let view = e.const_i64(&view);
    let v = e.op("Reshape", &[s.dy()?, &view], vec![]);
    let axes: Vec<i64> = (0..repeats.len() as i64).map(|i| 2 * i).collect();
    Ok(vec![(0, e.reduce_sum(&v, &axes, false))])
}
