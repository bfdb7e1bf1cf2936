//! Activations: Relu, LeakyRelu, PRelu, Elu, Sigmoid, Tanh, Softplus, HardSigmoid,
//! HardSwish, Clip, Gelu, Softmax, LogSoftmax.

use super::{norm_axis, InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::Emitter;

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("Relu", relu);
    t.add("LeakyRelu", leaky_relu);
    t.add("PRelu", prelu);
    t.add("Sigmoid", sigmoid);
    t.add("Tanh", tanh);
    t.add("Clip", clip);
    t.add("Gelu", gelu);
    t.add("Softmax", softmax);
    t.add("LogSoftmax", log_softmax);
    t.add("Softplus", softplus);
    t.add("Elu", elu);
    t.add("HardSigmoid", hard_sigmoid);
    t.add("HardSwish", hard_swish);
}

/// `x > 0` as a boolean value.
fn positive(e: &mut Emitter<'_>, x: &str) -> Result<String> {
    let zero = e.scalar_like(x, 0.0)?;
    Ok(e.op("Greater", &[x, &zero], vec![]))
}

fn relu(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let x = s.input(0)?;
    let pos = positive(e, x)?;
    let zero = e.scalar_like(x, 0.0)?;
    Ok(vec![(0, e.select(&pos, s.dy()?, &zero, x)?)])
}

fn leaky_relu(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (x, dy) = (s.input(0)?, s.dy()?);
    let pos = positive(e, x)?;
    let alpha = e.scalar_like(x, f64::from(s.float("alpha", 0.01)))?;
    let neg = e.mul(dy, &alpha);
    Ok(vec![(0, e.select(&pos, dy, &neg, x)?)])
}

/// y = x for x > 0, slope · x otherwise (slope broadcasts to x).
fn prelu(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (x, slope, dy) = (s.input(0)?, s.input(1)?, s.dy()?);
    let pos = positive(e, x)?;
    let mut grads = vec![];
    if s.wants(0) {
        let neg = e.mul(dy, slope);
        grads.push((0, e.select(&pos, dy, &neg, x)?));
    }
    if s.wants(1) {
        let zero = e.scalar_like(x, 0.0)?;
        let dx = e.mul(dy, x);
        let g = e.select(&pos, &zero, &dx, x)?;
        let y_shape = e.facts.shape(s.output(0)?)?.to_vec();
        grads.push((1, e.sum_to(&g, &y_shape, slope)?));
    }
    Ok(grads)
}

/// dx = dy · y · (1 - y).
fn sigmoid(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let y = s.output(0)?;
    let one = e.scalar_like(y, 1.0)?;
    let c = e.sub(&one, y);
    let d = e.mul(y, &c);
    Ok(vec![(0, e.mul(s.dy()?, &d))])
}

/// dx = dy · (1 - y²).
fn tanh(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let y = s.output(0)?;
    let one = e.scalar_like(y, 1.0)?;
    let y2 = e.mul(y, y);
    let d = e.sub(&one, &y2);
    Ok(vec![(0, e.mul(s.dy()?, &d))])
}

/// The gradient passes where min ≤ x ≤ max (bounds from inputs since opset 11, attributes
/// before); the bounds themselves get none.
fn clip(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    s.only_wants(&[0])?;
    let (x, dy) = (s.input(0)?, s.dy()?);
    let (lo, hi) = if e.opset >= 11 {
        (
            s.has_input(1).then(|| s.node.input[1].clone()),
            s.has_input(2).then(|| s.node.input[2].clone()),
        )
    } else {
        let lo = s.float("min", f32::MIN);
        let hi = s.float("max", f32::MAX);
        (
            Some(e.scalar_like(x, f64::from(lo))?),
            Some(e.scalar_like(x, f64::from(hi))?),
        )
    };
    let zero = e.scalar_like(x, 0.0)?;
    let mut g = dy.to_string();
    if let Some(hi) = hi {
        let above = e.op("Greater", &[x, &hi], vec![]);
        g = e.select(&above, &zero, &g, x)?;
    }
    if let Some(lo) = lo {
        let below = e.op("Less", &[x, &lo], vec![]);
        g = e.select(&below, &zero, &g, x)?;
    }
    Ok(vec![(0, g)])
}

/// Exact: dx = dy · (Φ(x) + x·φ(x)); tanh approximation: the derivative of
/// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))).
fn gelu(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (x, dy) = (s.input(0)?, s.dy()?);
    let half = e.scalar_like(x, 0.5)?;
    let one = e.scalar_like(x, 1.0)?;
    let d = match s.string("approximate", "none").as_str() {
        "tanh" => {
            let k = (2.0 / std::f64::consts::PI).sqrt();
            let c = e.scalar_like(x, 0.044715)?;
            let c3 = e.scalar_like(x, 3.0 * 0.044715)?;
            let kk = e.scalar_like(x, k)?;
            let x2 = e.mul(x, x);
            let x3 = e.mul(&x2, x);
            let cx3 = e.mul(&c, &x3);
            let inner = e.add(x, &cx3);
            let u = e.mul(&kk, &inner);
            let t = e.op("Tanh", &[&u], vec![]);
            let onept = e.add(&one, &t);
            let first = e.mul(&half, &onept);
            let t2 = e.mul(&t, &t);
            let sech2 = e.sub(&one, &t2);
            let c3x2 = e.mul(&c3, &x2);
            let du = e.add(&one, &c3x2);
            let du = e.mul(&kk, &du);
            let hx = e.mul(&half, x);
            let second = e.mul(&hx, &sech2);
            let second = e.mul(&second, &du);
            e.add(&first, &second)
        }
        _ => {
            let r2 = e.scalar_like(x, std::f64::consts::FRAC_1_SQRT_2)?;
            let xr = e.mul(x, &r2);
            let erf = e.op("Erf", &[&xr], vec![]);
            let onep = e.add(&one, &erf);
            let cdf = e.mul(&half, &onep);
            let x2 = e.mul(x, x);
            let mhalf = e.scalar_like(x, -0.5)?;
            let ex = e.mul(&x2, &mhalf);
            let ex = e.op("Exp", &[&ex], vec![]);
            let norm = e.scalar_like(x, 1.0 / (2.0 * std::f64::consts::PI).sqrt())?;
            let pdf = e.mul(&ex, &norm);
            let xpdf = e.mul(x, &pdf);
            e.add(&cdf, &xpdf)
        }
    };
    Ok(vec![(0, e.mul(dy, &d))])
}

/// The axes Softmax and LogSoftmax normalise over: one axis (default -1) since opset 13;
/// before, the input is flattened to 2-D at `axis` (default 1), i.e. all axes from it on.
fn softmax_axes(e: &Emitter<'_>, s: &Step<'_>) -> Result<Vec<i64>> {
    let rank = e.facts.rank(s.input(0)?)?;
    Ok(if e.opset >= 13 {
        vec![norm_axis(s.int("axis", -1), rank)]
    } else {
        (norm_axis(s.int("axis", 1), rank)..rank as i64).collect()
    })
}

/// dx = y · (dy - Σ dy·y).
fn softmax(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let axes = softmax_axes(e, s)?;
    let (y, dy) = (s.output(0)?, s.dy()?);
    let p = e.mul(dy, y);
    let sum = e.reduce_sum(&p, &axes, true);
    let d = e.sub(dy, &sum);
    Ok(vec![(0, e.mul(y, &d))])
}

/// dx = dy - exp(y) · Σ dy.
fn log_softmax(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let axes = softmax_axes(e, s)?;
    let (y, dy) = (s.output(0)?, s.dy()?);
    let sum = e.reduce_sum(dy, &axes, true);
    let p = e.op("Exp", &[y], vec![]);
    let t = e.mul(&p, &sum);
    Ok(vec![(0, e.sub(dy, &t))])
}

/// y = ln(1 + eˣ): dx = dy · σ(x).
fn softplus(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let sig = e.op("Sigmoid", &[s.input(0)?], vec![]);
    Ok(vec![(0, e.mul(s.dy()?, &sig))])
}

/// y = x for x > 0, α(eˣ - 1) otherwise: dx = dy for x > 0, dy · (y + α) otherwise.
fn elu(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (x, y, dy) = (s.input(0)?, s.output(0)?, s.dy()?);
    let pos = positive(e, x)?;
    let alpha = e.scalar_like(x, f64::from(s.float("alpha", 1.0)))?;
    let ya = e.add(y, &alpha);
    let neg = e.mul(dy, &ya);
    Ok(vec![(0, e.select(&pos, dy, &neg, x)?)])
}

/// dy · α where 0 < αx + β < 1, else 0.
fn hard_sigmoid_slope(e: &mut Emitter<'_>, x: &str, alpha: f64, beta: f64) -> Result<String> {
    let a = e.scalar_like(x, alpha)?;
    let b = e.scalar_like(x, beta)?;
    let zero = e.scalar_like(x, 0.0)?;
    let one = e.scalar_like(x, 1.0)?;
    let ax = e.mul(x, &a);
    let u = e.add(&ax, &b);
    let above = e.op("Greater", &[&u, &zero], vec![]);
    let below = e.op("Less", &[&u, &one], vec![]);
    let inside = e.op("And", &[&above, &below], vec![]);
    e.select(&inside, &a, &zero, x)
}

fn hard_sigmoid(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let x = s.input(0)?;
    let alpha = f64::from(s.float("alpha", 0.2));
    let beta = f64::from(s.float("beta", 0.5));
    let slope = hard_sigmoid_slope(e, x, alpha, beta)?;
    Ok(vec![(0, e.mul(s.dy()?, &slope))])
}

/// y = x · hardsigmoid(x) (α = 1/6, β = 1/2): dx = dy · (hardsigmoid(x) + x · slope).
fn hard_swish(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let x = s.input(0)?;
    let hs = e.op(
        "HardSigmoid",
        &[x],
        vec![
            crate::gradient::emit::attr_float("alpha", 1.0 / 6.0),
            crate::gradient::emit::attr_float("beta", 0.5),
        ],
    );
    let slope = hard_sigmoid_slope(e, x, 1.0 / 6.0, 0.5)?;
    let xs = e.mul(x, &slope);
    let d = e.add(&hs, &xs);
    Ok(vec![(0, e.mul(s.dy()?, &d))])
}
