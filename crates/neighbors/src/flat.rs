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
    let floats = store.float_vectors();
    let mut scratch = Vec::new();
    match allowed {
        Some(rows) => {
            // Allowed rows are scattered: request each row a few rows ahead of scoring it.
            const AHEAD: usize = 4;
            let prefetch = |row: usize| {
                if let Some(all) = floats {
                    simd::prefetch(&all[row * dims..(row + 1) * dims]);
                }
            };
            let mut ahead = rows.iter().skip(AHEAD);
            for row in rows.iter().take(AHEAD) {
                prefetch(row);
            }
            for row in rows.iter() {
                if let Some(next) = ahead.next() {
                    prefetch(next);
                }
                top.push(
                    measure.exact(query, query_norm, store.vector(row, &mut scratch)),
                    row as u32,
                );
            }
        }
        None if store.live_count() == store.rows() && floats.is_some() => {
            for (row, x) in floats.unwrap_or(&[]).chunks_exact(dims).enumerate() {
                top.push(measure.exact(query, query_norm, x), row as u32);
            }
        }
        None => {
            for row in store.live().iter() {
                top.push(
                    measure.exact(query, query_norm, store.vector(row, &mut scratch)),
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
    // Whole panels of queries go through the matrix-product kernel (a last panel too when
    // it is at least half full); the few left over take the 4 × 3 path.
    let width = simd::panel_width();
    let full = queries.len() / width * width;
    let panelled = match measure {
        DistanceMeasure::L1 => 0,
        _ if (queries.len() - full) * 2 >= width => queries.len(),
        _ => full,
    };
    if panelled > 0 {
        scan_panels(
            store,
            measure,
            &queries[..panelled],
            &mut tops[..panelled],
            width,
        );
    }
    scan_blocks(store, measure, &queries[panelled..], &mut tops[panelled..]);
}

/// Rows scored together by the panel kernel: 48 rows of 384 floats (72 KiB) stay in L2
/// while every panel of queries passes over them.
const PANEL_BLOCK_ROWS: usize = 48;

/// The batched exact scan as a matrix product: queries packed in panels of `width`, rows
/// a block at a time, inner products from [`simd::panel_dots`], then each row's distances
/// to a panel's queries compared with their collectors' thresholds at once, so that only
/// rows that can enter some answer are pushed.
fn scan_panels(
    store: &Store,
    measure: DistanceMeasure,
    queries: &[(Vec<f32>, f32)],
    tops: &mut [TopK<'_>],
    width: usize,
) {
    let dims = store.dims();
    let rows = store.rows();
    let all_live = store.live_count() == rows;
    let refs: Vec<&[f32]> = queries.iter().map(|q| q.0.as_slice()).collect();
    let panels = simd::pack_panels(&refs, dims, width);
    // Per-query terms of the distance: ‖q‖² (SquaredL2) or ‖q‖ (Cosine).
    let q_term: Vec<f32> = queries
        .iter()
        .map(|(_, n)| match measure {
            DistanceMeasure::SquaredL2 => n * n,
            _ => *n,
        })
        .collect();
    let mut dots = vec![0f32; PANEL_BLOCK_ROWS * width];
    let mut scratch = Vec::new();
    let mut x_term = [0f32; PANEL_BLOCK_ROWS];
    let mut dist = vec![0f32; width];
    let mut thr = vec![0f32; width];
    let mut start = 0;
    while start < rows {
        let end = (start + PANEL_BLOCK_ROWS).min(rows);
        let n = end - start;
        let block = store.block(start, end, &mut scratch);
        match measure {
            DistanceMeasure::SquaredL2 => {
                for (t, x) in x_term.iter_mut().zip(block.chunks_exact(dims)) {
                    *t = simd::dot(x, x);
                }
            }
            DistanceMeasure::Cosine => {
                for (t, x) in x_term.iter_mut().zip(block.chunks_exact(dims)) {
                    *t = simd::dot(x, x).sqrt();
                }
            }
            _ => {}
        }
        for (p, panel) in panels.chunks_exact(width * dims).enumerate() {
            let q0 = p * width;
            let qn = (queries.len() - q0).min(width);
            let (tops, q_term) = (&mut tops[q0..q0 + qn], &q_term[q0..q0 + qn]);
            let (dist, thr) = (&mut dist[..qn], &mut thr[..qn]);
            simd::panel_dots(panel, width, block, dims, &mut dots[..n * width]);
            for (t, top) in thr.iter_mut().zip(tops.iter()) {
                *t = top.threshold();
            }
            for (i, d) in dots[..n * width].chunks_exact(width).enumerate() {
                if !all_live && !store.is_live(start + i) {
                    continue;
                }
                let d = &d[..qn];
                let x = x_term[i];
                match measure {
                    DistanceMeasure::SquaredL2 => {
                        for ((o, &dot), &q) in dist.iter_mut().zip(d).zip(q_term) {
                            *o = (q + x - 2.0 * dot).max(0.0);
                        }
                    }
                    DistanceMeasure::Cosine => {
                        for ((o, &dot), &q) in dist.iter_mut().zip(d).zip(q_term) {
                            *o = if q == 0.0 || x == 0.0 {
                                1.0
                            } else {
                                1.0 - dot / (q * x)
                            };
                        }
                    }
                    _ => {
                        for (o, &dot) in dist.iter_mut().zip(d) {
                            *o = -dot;
                        }
                    }
                }
                // Branch-free test first: most rows enter no answer.
                if !dist
                    .iter()
                    .zip(thr.iter())
                    .fold(false, |a, (d, t)| a | (d <= t))
                {
                    continue;
                }
                let row = (start + i) as u32;
                for ((&d, t), top) in dist.iter().zip(thr.iter_mut()).zip(tops.iter_mut()) {
                    if d <= *t {
                        top.push(d, row);
                        *t = top.threshold();
                    }
                }
            }
        }
        start = end;
    }
}

/// The 4 queries × 3 rows path of [`scan_batch`], for queries too few to fill a panel and
/// for `L1`.
fn scan_blocks(
    store: &Store,
    measure: DistanceMeasure,
    queries: &[(Vec<f32>, f32)],
    tops: &mut [TopK<'_>],
) {
    if queries.is_empty() {
        return;
    }
    let dims = store.dims();
    let rows = store.rows();
    let all_live = store.live_count() == rows;
    let mut norms = vec![0f32; BATCH_ROWS];
    let mut scratch = Vec::new();
    let mut start = 0;
    while start < rows {
        let end = (start + BATCH_ROWS).min(rows);
        let block = store.block(start, end, &mut scratch);
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
