//! Fixtures and an independent reference implementation of the search semantics.

use std::collections::HashMap;

use prism_neighbors::{
    DistanceMeasure, Example, FeatureNorm, Neighbor, NumericOp, NumericValue, Query,
};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` vectors around `clusters` random centres (Gaussian-ish noise), seeded.
pub fn clustered(n: usize, dims: usize, clusters: usize, spread: f32, seed: u64) -> Vec<Vec<f32>> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let centres: Vec<Vec<f32>> = (0..clusters)
        .map(|_| (0..dims).map(|_| rng.random_range(-1.0f32..1.0)).collect())
        .collect();
    (0..n)
        .map(|_| {
            let c = &centres[rng.random_range(0..clusters)];
            c.iter()
                .map(|&x| {
                    let noise: f32 =
                        (0..4).map(|_| rng.random_range(-1.0f32..1.0)).sum::<f32>() * 0.5;
                    x + spread * noise
                })
                .collect()
        })
        .collect()
}

/// Examples "0", "1", … over the vectors.
pub fn examples(vectors: &[Vec<f32>]) -> Vec<Example> {
    vectors
        .iter()
        .enumerate()
        .map(|(i, v)| Example::new(i.to_string(), v.clone()))
        .collect()
}

fn normalised(v: &[f32], norm: FeatureNorm) -> Vec<f64> {
    let v: Vec<f64> = v.iter().map(|&x| f64::from(x)).collect();
    if norm == FeatureNorm::UnitL2 {
        let n = v.iter().map(|x| x * x).sum::<f64>().sqrt();
        if n > 0.0 {
            return v.iter().map(|x| x / n).collect();
        }
    }
    v
}

/// The distance, computed plainly in f64.
pub fn distance(measure: DistanceMeasure, q: &[f64], x: &[f64]) -> f64 {
    let dot: f64 = q.iter().zip(x).map(|(a, b)| a * b).sum();
    match measure {
        DistanceMeasure::SquaredL2 => q.iter().zip(x).map(|(a, b)| (a - b) * (a - b)).sum(),
        DistanceMeasure::L1 => q.iter().zip(x).map(|(a, b)| (a - b).abs()).sum(),
        DistanceMeasure::DotProduct => -dot,
        DistanceMeasure::Cosine => {
            let nq = q.iter().map(|a| a * a).sum::<f64>().sqrt();
            let nx = x.iter().map(|a| a * a).sum::<f64>().sqrt();
            if nq == 0.0 || nx == 0.0 {
                1.0
            } else {
                1.0 - dot / (nq * nx)
            }
        }
        _ => unreachable!(),
    }
}

fn num(v: NumericValue) -> f64 {
    match v {
        NumericValue::Int(i) => i as f64,
        NumericValue::Float(f) => f64::from(f),
        NumericValue::Double(d) => d,
    }
}

/// Whether `e` passes the query's filters, written from the documented semantics.
pub fn passes(e: &Example, q: &Query<'_>) -> bool {
    for r in &q.restrictions {
        let mine: Vec<&String> = e
            .restricts
            .iter()
            .filter(|t| t.namespace == r.namespace)
            .flat_map(|t| t.allow.iter())
            .collect();
        let my_deny: Vec<&String> = e
            .restricts
            .iter()
            .filter(|t| t.namespace == r.namespace)
            .flat_map(|t| t.deny.iter())
            .collect();
        if !r.allow.is_empty() && !r.allow.iter().any(|a| mine.contains(&a)) {
            return false;
        }
        if r.allow.iter().any(|a| my_deny.contains(&a)) {
            return false;
        }
        if r.deny.iter().any(|d| mine.contains(&d)) {
            return false;
        }
    }
    for n in &q.numeric_restrictions {
        let ok = e
            .numeric_restricts
            .iter()
            .filter(|v| v.namespace == n.namespace)
            .any(|v| {
                let (a, b) = (num(v.value), num(n.value));
                match n.op {
                    NumericOp::Less => a < b,
                    NumericOp::LessEqual => a <= b,
                    NumericOp::Equal => a == b,
                    NumericOp::GreaterEqual => a >= b,
                    NumericOp::Greater => a > b,
                    NumericOp::NotEqual => a != b,
                    _ => unreachable!(),
                }
            });
        if !ok {
            return false;
        }
    }
    true
}

/// The exact answer, computed independently: filter, score in f64, sort by (distance, id),
/// take greedily under crowding.
pub fn reference(
    examples: &[Example],
    measure: DistanceMeasure,
    norm: FeatureNorm,
    q: &Query<'_>,
) -> Vec<(String, f64)> {
    let qv = normalised(q.vector, norm);
    let mut all: Vec<(f64, &Example)> = examples
        .iter()
        .filter(|e| passes(e, q))
        .map(|e| (distance(measure, &qv, &normalised(&e.vector, norm)), e))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.id.cmp(&b.1.id)));
    let mut counts: HashMap<&str, usize> = HashMap::new();
    let mut out = Vec::new();
    for (d, e) in all {
        if out.len() == q.k {
            break;
        }
        if let (Some(tag), Some(limit)) = (&e.crowding_tag, q.crowding_count) {
            let c = counts.entry(tag.as_str()).or_insert(0);
            if *c >= limit {
                continue;
            }
            *c += 1;
        }
        out.push((e.id.clone(), d));
    }
    out
}

/// Asserts that `got` is the reference answer: same length, distances within `tol`, and
/// the same ids except where the reference's own distances are within `tol` (a tie the f32
/// arithmetic may order either way).
pub fn assert_matches(got: &[Neighbor], want: &[(String, f64)], tol: f64) {
    assert_eq!(got.len(), want.len(), "got {got:?}\nwant {want:?}");
    for (i, (g, w)) in got.iter().zip(want).enumerate() {
        assert!(
            (f64::from(g.distance) - w.1).abs() <= tol * (1.0 + w.1.abs()),
            "rank {i}: distance {} vs {}",
            g.distance,
            w.1
        );
        if g.id != w.0 {
            let near_tie = want
                .iter()
                .any(|o| o.0 == g.id && (o.1 - w.1).abs() <= tol * (1.0 + w.1.abs()));
            assert!(
                near_tie,
                "rank {i}: id {} vs {}\ngot {got:?}\nwant {want:?}",
                g.id, w.0
            );
        }
    }
}

/// recall@k of `got` against the exact ids.
pub fn recall(got: &[Neighbor], exact: &[Neighbor]) -> f64 {
    if exact.is_empty() {
        return 1.0;
    }
    let hits = exact
        .iter()
        .filter(|e| got.iter().any(|g| g.id == e.id))
        .count();
    hits as f64 / exact.len() as f64
}
