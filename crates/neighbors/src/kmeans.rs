//! Seeded k-means (k-means++ seeding, Lloyd iterations) under squared Euclidean distance.

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::simd;

/// The nearest of `k` centroids (row-major, `dims` each) to `x`, given each centroid's
/// squared norm; returns its index and `‖c‖² − 2 x·c` (the squared distance minus ‖x‖²).
#[inline]
pub(crate) fn nearest(centroids: &[f32], norms: &[f32], dims: usize, x: &[f32]) -> (usize, f32) {
    let mut best = (0usize, f32::INFINITY);
    let k = norms.len().min(centroids.len() / dims.max(1));
    let c = |j: usize| &centroids[j * dims..(j + 1) * dims];
    let mut j = 0;
    while j + 4 <= k {
        let d = simd::dot4(x, [c(j), c(j + 1), c(j + 2), c(j + 3)]);
        for t in 0..4 {
            let v = norms[j + t] - 2.0 * d[t];
            if v < best.1 {
                best = (j + t, v);
            }
        }
        j += 4;
    }
    for (j, n) in norms.iter().enumerate().take(k).skip(j) {
        let v = n - 2.0 * simd::dot(x, c(j));
        if v < best.1 {
            best = (j, v);
        }
    }
    best
}

/// Squared norms of each `dims`-long row.
pub(crate) fn row_norms(rows: &[f32], dims: usize) -> Vec<f32> {
    rows.chunks_exact(dims).map(|c| simd::dot(c, c)).collect()
}

/// How the first centroids are chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Init {
    /// k-means++: each next centroid drawn with probability ∝ squared distance (costs about
    /// one Lloyd iteration).
    PlusPlus,
    /// `k` distinct points drawn uniformly (as faiss does).
    Random,
}

/// Trains `k` centroids on `n = data.len() / dims` points (`k` is lowered to `n` if
/// larger). Returns the centroids, row-major.
pub(crate) fn train(
    data: &[f32],
    dims: usize,
    k: usize,
    iterations: usize,
    init: Init,
    seed: u64,
) -> Vec<f32> {
    let n = data.len() / dims;
    let k = k.min(n).max(1);
    if n == 0 {
        return vec![0.0; dims];
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let point = |i: usize| &data[i * dims..(i + 1) * dims];

    let mut centroids = Vec::with_capacity(k * dims);
    if init == Init::Random {
        for i in rand::seq::index::sample(&mut rng, n, k) {
            centroids.extend_from_slice(point(i));
        }
    } else {
        centroids.extend_from_slice(point(rng.random_range(0..n)));
    }
    // k-means++ seeding: each next centroid is drawn with probability ∝ D(x)².
    let mut d2: Vec<f32> = (0..n)
        .map(|i| simd::l2sq(point(i), &centroids[..dims]))
        .collect();
    while centroids.len() < k * dims {
        let total: f64 = d2.iter().map(|&d| f64::from(d)).sum();
        let pick = if total > 0.0 {
            let mut target = rng.random_range(0.0..total);
            let mut chosen = n - 1;
            for (i, &d) in d2.iter().enumerate() {
                target -= f64::from(d);
                if target <= 0.0 {
                    chosen = i;
                    break;
                }
            }
            chosen
        } else {
            rng.random_range(0..n)
        };
        let start = centroids.len();
        centroids.extend_from_slice(point(pick));
        let c = centroids[start..start + dims].to_vec();
        for (i, d) in d2.iter_mut().enumerate() {
            let nd = simd::l2sq(point(i), &c);
            if nd < *d {
                *d = nd;
            }
        }
    }

    // Lloyd iterations.
    let mut assign = vec![0usize; n];
    for _ in 0..iterations {
        let norms = row_norms(&centroids, dims);
        for (i, a) in assign.iter_mut().enumerate() {
            *a = nearest(&centroids, &norms, dims, point(i)).0;
        }
        let mut sums = vec![0f64; k * dims];
        let mut counts = vec![0usize; k];
        for (i, &a) in assign.iter().enumerate() {
            counts[a] += 1;
            for (s, &x) in sums[a * dims..(a + 1) * dims].iter_mut().zip(point(i)) {
                *s += f64::from(x);
            }
        }
        for j in 0..k {
            if counts[j] > 0 {
                for (c, s) in centroids[j * dims..(j + 1) * dims]
                    .iter_mut()
                    .zip(&sums[j * dims..(j + 1) * dims])
                {
                    *c = (*s / counts[j] as f64) as f32;
                }
            } else {
                // An empty cluster takes over a random point of the largest one.
                let largest = (0..k).max_by_key(|&c| counts[c]).unwrap_or(0);
                let members: Vec<usize> = (0..n).filter(|&i| assign[i] == largest).collect();
                if let Some(&i) = members.get(rng.random_range(0..members.len().max(1))) {
                    centroids[j * dims..(j + 1) * dims].copy_from_slice(point(i));
                    assign[i] = j;
                    counts[largest] -= 1;
                    counts[j] = 1;
                }
            }
        }
    }
    centroids
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_two_obvious_clusters() {
        let mut data = Vec::new();
        for i in 0..50 {
            let e = i as f32 * 0.001;
            data.extend_from_slice(&[e, e]);
            data.extend_from_slice(&[10.0 + e, 10.0 - e]);
        }
        let c = train(&data, 2, 2, 5, Init::PlusPlus, 1);
        let mut xs: Vec<f32> = c.chunks(2).map(|p| p[0]).collect();
        xs.sort_by(f32::total_cmp);
        assert!(xs[0] < 0.1 && xs[1] > 9.9, "{c:?}");
        // More clusters than points.
        assert_eq!(train(&data[..4], 2, 8, 3, Init::PlusPlus, 1).len(), 4);
        assert_eq!(train(&data, 2, 8, 3, Init::Random, 1).len(), 16);
    }
}
