//! Matrix products: Gemm, MatMul (numpy batching, 1-D operands), Einsum.

use tract_onnx::prelude::TDim;

use super::{InputGrads, RuleTable, Step};
use crate::error::Result;
use crate::gradient::emit::{attr_float, attr_int, attr_ints, attr_string, Emitter};

pub(super) fn register_all(t: &mut RuleTable) {
    t.add("Gemm", gemm);
    t.add("MatMul", matmul);
    t.add("Einsum", einsum);
}

/// Y = alpha·A'·B' + beta·C with A' = A or Aᵀ (transA), B' likewise.
fn gemm(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let (a, b) = (s.input(0)?, s.input(1)?);
    let alpha = s.float("alpha", 1.0);
    let beta = s.float("beta", 1.0);
    let (ta, tb) = (s.int("transA", 0) != 0, s.int("transB", 0) != 0);
    let gemm = |e: &mut Emitter<'_>, x: &str, y: &str, tx: bool, ty: bool| {
        e.op(
            "Gemm",
            &[x, y],
            vec![
                attr_float("alpha", alpha),
                attr_int("transA", tx as i64),
                attr_int("transB", ty as i64),
            ],
        )
    };
    let mut grads = vec![];
    if s.wants(0) {
        // dA' = alpha·dY·B'ᵀ; when transA, dA = dA'ᵀ = alpha·B'·dYᵀ.
        let g = if ta {
            gemm(e, b, dy, tb, true)
        } else {
            gemm(e, dy, b, false, !tb)
        };
        grads.push((0, g));
    }
    if s.wants(1) {
        // dB' = alpha·A'ᵀ·dY; when transB, dB = alpha·dYᵀ·A'.
        let g = if tb {
            gemm(e, dy, a, true, ta)
        } else {
            gemm(e, a, dy, !ta, false)
        };
        grads.push((1, g));
    }
    if s.wants(2) {
        let mut g = dy.to_string();
        if beta != 1.0 {
            let k = e.scalar_like(s.output(0)?, f64::from(beta))?;
            g = e.mul(&g, &k);
        }
        let y_shape = e.facts.shape(s.output(0)?)?.to_vec();
        grads.push((2, e.sum_to(&g, &y_shape, s.input(2)?)?));
    }
    Ok(grads)
}

/// Swaps the last two axes of a value of rank `rank` (≥ 2).
fn transpose_last(e: &mut Emitter<'_>, x: &str, rank: usize) -> String {
    let mut perm: Vec<i64> = (0..rank as i64).collect();
    perm.swap(rank - 2, rank - 1);
    e.op("Transpose", &[x], vec![attr_ints("perm", &perm)])
}

/// numpy matmul: 1-D operands are promoted to matrices (A to [1, K], B to [K, 1]) and the
/// promoted axis is dropped from Y; leading (batch) axes broadcast.
fn matmul(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let (a, b) = (s.input(0)?, s.input(1)?);
    let (ra, rb) = (e.facts.rank(a)?, e.facts.rank(b)?);
    // Promote Y (and dY) to keep both matrix axes.
    let mut y_shape = e.facts.shape(s.output(0)?)?.to_vec();
    let mut dy2 = dy.to_string();
    if rb == 1 {
        dy2 = e.unsqueeze(&dy2, &[y_shape.len() as i64]);
        y_shape.push(TDim::Val(1));
    }
    if ra == 1 {
        let at = y_shape.len() - 1;
        dy2 = e.unsqueeze(&dy2, &[at as i64]);
        y_shape.insert(at, TDim::Val(1));
    }
    let mut a_shape = e.facts.shape(a)?.to_vec();
    let mut b_shape = e.facts.shape(b)?.to_vec();
    let a2 = if ra == 1 {
        a_shape.insert(0, TDim::Val(1));
        e.unsqueeze(a, &[0])
    } else {
        a.to_string()
    };
    let b2 = if rb == 1 {
        b_shape.push(TDim::Val(1));
        e.unsqueeze(b, &[1])
    } else {
        b.to_string()
    };
    let n = y_shape.len();
    let mut grads = vec![];
    if s.wants(0) {
        // dA = dY·Bᵀ, summed over the batch axes A was broadcast along.
        let bt = transpose_last(e, &b2, b_shape.len());
        let g = e.op("MatMul", &[&dy2, &bt], vec![]);
        let mut g_shape = y_shape.clone();
        g_shape[n - 1] = a_shape[a_shape.len() - 1].clone();
        let mut g = e.sum_to_shape(&g, &g_shape, &a_shape)?;
        if g_shape.len() != ra {
            g = e.reshape_like(&g, a);
        }
        grads.push((0, g));
    }
    if s.wants(1) {
        // dB = Aᵀ·dY, summed over the batch axes B was broadcast along.
        let at = transpose_last(e, &a2, a_shape.len());
        let g = e.op("MatMul", &[&at, &dy2], vec![]);
        let mut g_shape = y_shape.clone();
        g_shape[n - 2] = b_shape[b_shape.len() - 2].clone();
        let mut g = e.sum_to_shape(&g, &g_shape, &b_shape)?;
        if g_shape.len() != rb {
            g = e.reshape_like(&g, b);
        }
        grads.push((1, g));
    }
    Ok(grads)
}

/// Einsum without ellipses or repeated subscripts within an operand: the gradient of
/// operand i is the einsum of dy with the other operands into i's subscripts; subscripts
/// only operand i has (summed out by the forward pass) are broadcast back with Expand.
fn einsum(e: &mut Emitter<'_>, s: &Step<'_>) -> Result<InputGrads> {
    let dy = s.dy()?;
    let equation: String = s
        .string("equation", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if equation.contains('.') {
        return Err(s.unsupported("ellipses in the equation".into()));
    }
    let (lhs, out) = match equation.split_once("->") {
        Some((l, o)) => (l.to_string(), o.to_string()),
        None => {
            // Implicit output: the subscripts that appear once, in alphabetical order.
            let mut once: Vec<char> = equation
                .chars()
                .filter(|c| c.is_alphabetic() && equation.matches(*c).count() == 1)
                .collect();
            once.sort_unstable();
            (equation.clone(), once.into_iter().collect())
        }
    };
    let terms: Vec<&str> = lhs.split(',').collect();
    if terms.len() != s.node.input.len() {
        return Err(s.unsupported("the equation does not match the inputs".into()));
    }
    for t in &terms {
        let mut seen = std::collections::HashSet::new();
        if !t.chars().all(|c| seen.insert(c)) {
            return Err(s.unsupported(format!("repeated subscripts in '{t}'")));
        }
    }
    let mut grads = vec![];
    for (i, term) in terms.iter().enumerate() {
        if !s.wants(i) {
            continue;
        }
        let others: Vec<usize> = (0..terms.len()).filter(|j| *j != i).collect();
        let reachable = |c: char| out.contains(c) || others.iter().any(|j| terms[*j].contains(c));
        let kept: String = term.chars().filter(|c| reachable(*c)).collect();
        let mut inputs: Vec<&str> = vec![dy];
        let mut subs = vec![out.as_str()];
        for &j in &others {
            inputs.push(s.input(j)?);
            subs.push(terms[j]);
        }
        let eq = format!("{}->{}", subs.join(","), kept);
        let mut g = e.op("Einsum", &inputs, vec![attr_string("equation", &eq)]);
        if kept.len() != term.len() {
            let missing: Vec<i64> = term
                .chars()
                .enumerate()
                .filter(|(_, c)| !reachable(*c))
                .map(|(k, _)| k as i64)
                .collect();
            let u = e.unsqueeze(&g, &missing);
            let shape = e.shape(s.input(i)?);
            g = e.op("Expand", &[&u, &shape], vec![]);
        }
        grads.push((i, g));
    }
    Ok(grads)
}
