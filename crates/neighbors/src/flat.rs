//! Exact search: every allowed row is scored with the exact distance.
//!
//! The brute-force algorithm, the oracle every approximate search is tested against, and the
//! path a selective filter takes (scanning the allowed rows exactly keeps recall at 1).

use crate::bitset::Bitset;
use crate::collect::TopK;
use crate::distance::DistanceMeasure;
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
            for row in rows.iter() {
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
