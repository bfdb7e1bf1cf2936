//! Exact search: every allowed row is scored with the exact distance.
//!
//! The brute-force algorithm, the oracle every approximate search is tested against, and the
//! path a selective filter takes (scanning the allowed rows exactly keeps recall at 1).

use crate::bitset::Bitset;
use crate::collect::TopK;
use crate::distance::DistanceMeasure;
use crate::simd;
use crate::store::Store;

/// Scores the rows `allowed` holds (or every live row) into `top`.
pub(crate) fn scan(
    store: &Store,
    measure: DistanceMeasure,
    query: &[f32],
    query_norm: f32,
    allowed: Option<&Bitset>,
    top: &mut TopK<'_>,
) {
    let dims = store.dims();
    match allowed {
        Some(rows) => {
            // Allowed rows are scattered: request each row a few rows ahead of scoring it.
            const AHEAD: usize = 4;
            let mut ahead = rows.iter().skip(AHEAD);
            for row in rows.iter().take(AHEAD) {
                simd::prefetch(store.vector(row));
            }
            for row in rows.iter() {
                if let Some(next) = ahead.next() {
                    simd::prefetch(store.vector(next));
                }
                top.push(
                    measure.exact(query, query_norm, store.vector(row)),
                    row as u32,
                );
            }
        }
        None if store.live_count() == store.rows() => {
            for (row, x) in store.all_vectors().chunks_exact(dims).enumerate() {
                top.push(measure.exact(query, query_norm, x), row as u32);
            }
        }
        None => {
            for row in store.live().iter() {
                top.push(
                    measure.exact(query, query_norm, store.vector(row)),
                    row as u32,
                );
            }
        }
    }
}

/// Rows scored together against every query of a batch: 60 rows of 384 floats (90 KiB)
/// stay in a core's L2 cache while each query passes over them.
const BATCH_ROWS: usize = 60;

/// Scores every live row against several unfiltered queries at once, a block of rows at a
/// time, so that each row is read from memory once per batch instead of once per query.
/// `queries` holds each query and its norm; `tops` one collector per query.
pub(crate) fn scan_batch(
    store: &Store,
    measure: DistanceMeasure,
    queries: &[(Vec<f32>, f32)],
    tops: &mut [TopK<'_>],
) {
    let dims = store.dims();
    let rows = store.rows();
    let all_live = store.live_count() == rows;
    let mut norms = vec![0f32; BATCH_ROWS];
    let mut start = 0;
    while start < rows {
        let end = (start + BATCH_ROWS).min(rows);
        let block = &store.all_vectors()[start * dims..end * dims];
        let n = end - start;
        if matches!(
            measure,
            DistanceMeasure::SquaredL2 | DistanceMeasure::Cosine
        ) {
            for (v, x) in norms.iter_mut().zip(block.chunks_exact(dims)) {
                *v = simd::dot(x, x);
            }
        }
        let row = |i: usize| &block[i * dims..(i + 1) * dims];
        let score = |q_norm: f32, i: usize, dot: f32| -> f32 {
            match measure {
                DistanceMeasure::DotProduct => -dot,
                DistanceMeasure::SquaredL2 => (q_norm * q_norm + norms[i] - 2.0 * dot).max(0.0),
                _ => {
                    let x_norm = norms[i].sqrt();
                    if q_norm == 0.0 || x_norm == 0.0 {
                        1.0
                    } else {
                        1.0 - dot / (q_norm * x_norm)
                    }
                }
            }
        };
        let live = |i: usize| all_live || store.is_live(start + i);
        let mut g = 0;
        if measure != DistanceMeasure::L1 {
            // Four queries × three rows at a time (the last triple repeats its last row).
            while g + 4 <= queries.len() {
                let qs = [
                    queries[g].0.as_slice(),
                    queries[g + 1].0.as_slice(),
                    queries[g + 2].0.as_slice(),
                    queries[g + 3].0.as_slice(),
                ];
                let mut i = 0;
                while i < n {
                    let rows = [row(i), row((i + 1).min(n - 1)), row((i + 2).min(n - 1))];
                    let d = simd::dot_4x3(qs, rows);
                    for (t, d) in d.iter().enumerate() {
                        let top = &mut tops[g + t];
                        let q_norm = queries[g + t].1;
                        for (j, &dot) in d.iter().enumerate().take(n - i) {
                            if live(i + j) {
                                top.push(score(q_norm, i + j, dot), (start + i + j) as u32);
                            }
                        }
                    }
                    i += 3;
                }
                g += 4;
            }
        }
        for ((q, q_norm), top) in queries.iter().zip(tops.iter_mut()).skip(g) {
            for i in 0..n {
                if live(i) {
                    let d = if measure == DistanceMeasure::L1 {
                        simd::l1(q, row(i))
                    } else {
                        score(*q_norm, i, simd::dot(q, row(i)))
                    };
                    top.push(d, (start + i) as u32);
                }
            }
        }
        start = end;
    }
}
