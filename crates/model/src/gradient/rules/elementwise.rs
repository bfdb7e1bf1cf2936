//! Element-wise arithmetic with numpy broadcasting (Add, Sub, Mul, Div, Pow, Sum, Mean,
//! Max, Min) and element-wise functions (Neg, Abs, Exp, Log, Sqrt, Reciprocal, Erf).

use super::{InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::{onnx_type, Emitter};

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("Add", add);
    t.add("Sub", sub);
    t.add("Mul", mul);
    t.add("Div", div);
    t.add("Pow", pow);
    t.add("Sum", sum);
    t.add("Neg", neg);
    t.add("Exp", exp);
    t.add("Log", log);
    t.add("Sqrt", sqrt);
    t.add("Sin", sin);
    t.add("Cos", cos);
    t.add("Reciprocal", reciprocal);
    t.add("Erf", erf);
    t.add("Abs", abs);
    t.add("Max", max_min);
    t.add("Min", max_min);
    t.add("Mean", mean);
}

/// Sums `g` (shaped like output 0) back to input `ix`'s shape.
fn back(e: &mut Emitter<'_>, s: &Step<'_>, g: &str, ix: usize) -> Result<(usize, String)> {
    let y_shape = e.facts.shape(s.output(0)?)?.to_vec();
    Ok((ix, e.sum_to(g, &y_shape, s.input(ix)?)?))
}

fn add(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let mut grads = vec![];
    for ix in 0..2 {
        if s.wants(ix) {
            grads.push(back(e, s, dy, ix)?);
        }
    }
    Ok(grads)
}

fn sub(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let mut grads = vec![];
    if s.wants(0) {
        grads.push(back(e, s, dy, 0)?);
    }
    if s.wants(1) {
        let g = e.neg(dy);
        grads.push(back(e, s, &g, 1)?);
    }
    Ok(grads)
}

fn sum(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let mut grads = vec![];
    for ix in 0..s.node.input.len() {
        if s.wants(ix) {
            grads.push(back(e, s, dy, ix)?);
        }
    }
    Ok(grads)
}

fn mul(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let (a, b) = (s.input(0)?, s.input(1)?);
    let mut grads = vec![];
    if s.wants(0) {
        let g = e.mul(dy, b);
        grads.push(back(e, s, &g, 0)?);
    }
    if s.wants(1) {
        let g = e.mul(dy, a);
        grads.push(back(e, s, &g, 1)?);
    }
    Ok(grads)
}

/// y = a / b: da = dy / b, db = -dy · y / b.
fn div(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let b = s.input(1)?;
    let mut grads = vec![];
    let dy_b = e.div(dy, b);
    if s.wants(0) {
        grads.push(back(e, s, &dy_b, 0)?);
    }
    if s.wants(1) {
        let t = e.mul(&dy_b, s.output(0)?);
        let g = e.neg(&t);
        grads.push(back(e, s, &g, 1)?);
    }
    Ok(grads)
}

/// y = a ^ b: da = dy · b · a^(b-1), db = dy · y · ln a.
fn pow(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let (a, b) = (s.input(0)?, s.input(1)?);
    let mut grads = vec![];
    if s.wants(0) {
        // An integer exponent is cast to the base's type.
        let bf = if e.facts.is_float(b) {
            b.to_string()
        } else {
            let dt = e.facts.datum_type(a)?;
            let to = onnx_type(dt).ok_or_else(|| s.unsupported(format!("base type {dt:?}")))?;
            e.cast(b, to)
        };
        let one = e.scalar_like(a, 1.0)?;
        let bm1 = e.sub(&bf, &one);
        let p = e.op("Pow", &[a, &bm1], vec![]);
        let t = e.mul(&p, &bf);
        let g = e.mul(dy, &t);
        grads.push(back(e, s, &g, 0)?);
    }
    if s.wants(1) {
        let ln = e.op("Log", &[a], vec![]);
        let t = e.mul(s.output(0)?, &ln);
        let g = e.mul(dy, &t);
        grads.push(back(e, s, &g, 1)?);
    }
    Ok(grads)
}

fn neg(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    Ok(vec![(0, e.neg(s.dy()?))])
}

/// y = exp x: dx = dy · y.
fn exp(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    Ok(vec![(0, e.mul(s.dy()?, s.output(0)?))])
}

/// y = ln x: dx = dy / x.
fn log(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    Ok(vec![(0, e.div(s.dy()?, s.input(0)?))])
}

/// y = sin x: dx = dy · cos x.
fn sin(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let c = e.op("Cos", &[s.input(0)?], vec![]);
    Ok(vec![(0, e.mul(s.dy()?, &c))])
}

/// y = cos x: dx = −dy · sin x.
fn cos(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let sn = e.op("Sin", &[s.input(0)?], vec![]);
    let t = e.mul(s.dy()?, &sn);
    Ok(vec![(0, e.neg(&t))])
}

/// y = √x: dx = dy · 0.5 / y.
fn sqrt(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let y = s.output(0)?;
    let half = e.scalar_like(y, 0.5)?;
    let t = e.div(&half, y);
    Ok(vec![(0, e.mul(s.dy()?, &t))])
}

/// y = 1/x: dx = -dy · y².
fn reciprocal(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let y = s.output(0)?;
    let y2 = e.mul(y, y);
    let t = e.mul(s.dy()?, &y2);
    Ok(vec![(0, e.neg(&t))])
}

/// y = erf x: dx = dy · 2/√π · exp(-x²).
fn erf(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let x = s.input(0)?;
    let x2 = e.mul(x, x);
    let nx2 = e.neg(&x2);
    let ex = e.op("Exp", &[&nx2], vec![]);
    let k = e.scalar_like(x, std::f64::consts::FRAC_2_SQRT_PI)?;
    let t = e.mul(&ex, &k);
    Ok(vec![(0, e.mul(s.dy()?, &t))])
}

/// dx = dy · sign(x) (0 at 0 counts as positive).
fn abs(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (x, dy) = (s.input(0)?, s.dy()?);
    let zero = e.scalar_like(x, 0.0)?;
    let neg = e.op("Less", &[x, &zero], vec![]);
    let ndy = e.neg(dy);
    Ok(vec![(0, e.select(&neg, &ndy, dy, x)?)])
}

/// Each input receives dy where it equals the result (ties, of probability zero for real
/// data, each receive it).
fn max_min(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (y, dy) = (s.output(0)?, s.dy()?);
    let zero = e.scalar_like(y, 0.0)?;
    let mut grads = vec![];
    for ix in 0..s.node.input.len() {
        if s.wants(ix) {
            let hit = e.op("Equal", &[s.input(ix)?, y], vec![]);
            let g = e.select(&hit, dy, &zero, y)?;
            grads.push(back(e, s, &g, ix)?);
        }
    }
    Ok(grads)
}

/// y = (Σ xᵢ) / n: each input receives dy / n.
fn mean(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let (y, dy) = (s.output(0)?, s.dy()?);
    let k = e.scalar_like(y, 1.0 / s.node.input.len() as f64)?;
    let g = e.mul(dy, &k);
    let mut grads = vec![];
    for ix in 0..s.node.input.len() {
        if s.wants(ix) {
            grads.push(back(e, s, &g, ix)?);
        }
    }
    Ok(grads)
}
