//! Reductions: ReduceSum, ReduceMean, ReduceMax, ReduceMin.

use super::{norm_axis, InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::{onnx_type, Emitter};

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("ReduceSum", reduce_sum);
    t.add("ReduceMean", reduce_mean);
    t.add("ReduceMax", reduce_extremum);
    t.add("ReduceMin", reduce_extremum);
}

/// The reduced axes (normalised, sorted), or `None` for the identity
/// (`noop_with_empty_axes` with no axes). Axes moved from an attribute to an input in opset
/// `axes_input_since`.
fn reduced_axes(e: &Emitter<'_>, s: &Step<'_>, axes_input_since: i64) -> Result<Option<Vec<i64>>> {
    let rank = e.facts.rank(s.input(0)?)?;
    let axes = if e.opset >= axes_input_since {
        if s.has_input(1) {
            Some(
                e.facts
                    .const_i64s(s.input(1)?)
                    .ok_or_else(|| s.unsupported("axes must be a constant".into()))?,
            )
        } else {
            None
        }
    } else {
        s.ints("axes")
    };
    let axes = match axes {
        Some(a) if !a.is_empty() => a,
        _ if s.int("noop_with_empty_axes", 0) != 0 => return Ok(None),
        _ => (0..rank as i64).collect(),
    };
    let mut axes: Vec<i64> = axes.into_iter().map(|a| norm_axis(a, rank)).collect();
    axes.sort_unstable();
    axes.dedup();
    Ok(Some(axes))
}

/// dy broadcast back over the reduced axes: Unsqueeze(dy) when not keepdims, plus zeros
/// shaped like x. (Not `Expand`: tract 0.23 folds an Expand into a following MatMul's
/// row axis and computes the wrong shape, e.g. for ReduceSum(MatMul(e, w)) over tokens.)
fn spread(e: &mut Emitter<'_>, s: &Step<'_>, axes: &[i64]) -> Result<String> {
    let (x, dy) = (s.input(0)?, s.dy()?);
    let kept = if s.int("keepdims", 1) != 0 {
        dy.to_string()
    } else {
        e.unsqueeze(dy, axes)
    };
    let zeros = e.zeros_like(x)?;
    Ok(e.op("Add", &[&kept, &zeros], vec![]))
}

fn reduce_sum(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let Some(axes) = reduced_axes(e, s, 13)? else {
        return Ok(vec![(0, s.dy()?.to_string())]);
    };
    Ok(vec![(0, spread(e, s, &axes)?)])
}

fn reduce_mean(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let Some(axes) = reduced_axes(e, s, 18)? else {
        return Ok(vec![(0, s.dy()?.to_string())]);
    };
    let g = spread(e, s, &axes)?;
    let x = s.input(0)?;
    let count: Result<i64> = axes.iter().map(|&a| e.facts.dim(x, a as usize)).product();
    let scale = match count {
        Ok(n) => e.scalar_like(x, 1.0 / n as f64)?,
        // A symbolic reduced axis: 1/count = Size(y) / Size(x), in the graph.
        Err(_) => {
            let dt = e.facts.datum_type(x)?;
            let to = onnx_type(dt).ok_or_else(|| s.unsupported(format!("type {dt:?}")))?;
            let ny = e.op("Size", &[s.output(0)?], vec![]);
            let nx = e.op("Size", &[x], vec![]);
            let ny = e.cast(&ny, to);
            let nx = e.cast(&nx, to);
            e.div(&ny, &nx)
        }
    };
    Ok(vec![(0, e.mul(&g, &scale))])
}

/// dy flows to the elements equal to the result (ties each receive it). Axes moved to an
/// input in opset 18.
fn reduce_extremum(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let Some(axes) = reduced_axes(e, s, 18)? else {
        return Ok(vec![(0, s.dy()?.to_string())]);
    };
    let (x, y) = (s.input(0)?, s.output(0)?);
    let g = spread(e, s, &axes)?;
    let y_kept = if s.int("keepdims", 1) != 0 {
        y.to_string()
    } else {
        e.unsqueeze(y, &axes)
    };
    let hit = e.op("Equal", &[x, &y_kept], vec![]);
    let zero = e.scalar_like(x, 0.0)?;
    Ok(vec![(0, e.select(&hit, &g, &zero, x)?)])
}
