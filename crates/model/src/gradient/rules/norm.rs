//! Normalisation: BatchNormalization (inference), LayerNormalization,
//! InstanceNormalization.

use super::{norm_axis, InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::Emitter;

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("BatchNormalization", batch_norm);
    t.add("LayerNormalization", layer_norm);
    t.add("InstanceNormalization", instance_norm);
}

/// Inference mode: y = (x - mean) · scale / √(var + ε) + B, an affine map per channel, so
/// dx = dy · scale / √(var + ε) (reshaped to broadcast along axis 1).
fn batch_norm(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    if s.int("training_mode", 0) != 0 || s.dys.iter().skip(1).any(Option::is_some) {
        return Err(s.unsupported("training-mode batch normalisation".into()));
    }
    let (x, scale, var) = (s.input(0)?, s.input(1)?, s.input(4)?);
    let rank = e.facts.rank(x)?;
    let eps = e.scalar_like(var, f64::from(s.float("epsilon", 1e-5)))?;
    let v = e.add(var, &eps);
    let sd = e.op("Sqrt", &[&v], vec![]);
    let k = e.div(scale, &sd);
    // Per channel (k broadcast along axis 1), or before opset 9 with spatial = 0 per
    // activation (k already shaped like one example).
    let k = if s.int("spatial", 1) != 0 {
        let mut shape = vec![-1i64];
        shape.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
        let shape = e.const_i64(&shape);
        e.op("Reshape", &[&k, &shape], vec![])
    } else {
        k
    };
    Ok(vec![(0, e.mul(s.dy()?, &k))])
}

/// y = x̂ · scale + B with x̂ = (x - μ) / σ over the axes from `axis` on:
/// dx = (g - mean(g) - x̂ · mean(g · x̂)) / σ with g = dy · scale.
fn layer_norm(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let (x, scale, dy) = (s.input(0)?, s.input(1)?, s.dy()?);
    let rank = e.facts.rank(x)?;
    let axes: Vec<i64> = (norm_axis(s.int("axis", -1), rank)..rank as i64).collect();
    let eps = f64::from(s.float("epsilon", 1e-5));
    Ok(vec![(0, normalized_grad(e, x, scale, dy, &axes, eps)?)])
}

/// Per sample and channel over the spatial axes, scale and B per channel.
fn instance_norm(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let (x, scale, dy) = (s.input(0)?, s.input(1)?, s.dy()?);
    let rank = e.facts.rank(x)?;
    let axes: Vec<i64> = (2..rank as i64).collect();
    let mut shape = vec![-1i64];
    shape.extend(std::iter::repeat_n(1, rank.saturating_sub(2)));
    let shape = e.const_i64(&shape);
    let scale = e.op("Reshape", &[scale, &shape], vec![]);
    let eps = f64::from(s.float("epsilon", 1e-5));
    Ok(vec![(0, normalized_grad(e, x, &scale, dy, &axes, eps)?)])
}

/// The gradient of x ↦ x̂ · scale, x̂ = (x - mean) / √(var + ε) over `axes`:
/// (g - mean(g) - x̂ · mean(g · x̂)) / σ with g = dy · scale.
fn normalized_grad(
    e: &mut Emitter<'_>,
    x: &str,
    scale: &str,
    dy: &str,
    axes: &[i64],
    eps: f64,
) -> Result<String> {
    let mu = e.reduce_mean(x, axes, true);
    let xc = e.sub(x, &mu);
    let sq = e.mul(&xc, &xc);
    let var = e.reduce_mean(&sq, axes, true);
    let eps = e.scalar_like(x, eps)?;
    let v = e.add(&var, &eps);
    let sd = e.op("Sqrt", &[&v], vec![]);
    let inv = e.op("Reciprocal", &[&sd], vec![]);
    let xhat = e.mul(&xc, &inv);
    let g = e.mul(dy, scale);
    let mg = e.reduce_mean(&g, axes, true);
    let gx = e.mul(&g, &xhat);
    let mgx = e.reduce_mean(&gx, axes, true);
    let t = e.mul(&xhat, &mgx);
    let d = e.sub(&g, &mg);
    let d = e.sub(&d, &t);
    Ok(e.mul(&d, &inv))
}
