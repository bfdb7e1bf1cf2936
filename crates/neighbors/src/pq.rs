//! Product quantisation with 4-bit codes: 16 centroids per sub-space ("block") of `dsub`
//! dimensions (2 by default, as ScaNN's and faiss's fast-scan codes; 3 or 4 halve or
//! third the code at a coarser approximation).
//!
//! A `dims`-long vector is cut into `⌈dims / dsub⌉` sub-spaces of `dsub` dimensions (the last
//! one holds fewer if `dsub` does not divide `dims`; missing components read as 0), rounded up
//! to an even count `m` so that sub-spaces pair up in the SIMD scan (an extra sub-space, if
//! any, has an all-zero codebook). Each sub-space has 16 centroids trained by k-means on a
//! sample of residuals (vectors minus their partition's centroid), and a vector's code is the
//! index of the nearest centroid in each sub-space (or the one the anisotropic loss prefers).

use crate::kmeans;

/// Rounds of coordinate descent of the anisotropic encoding (most codes settle in the
/// first).
const ANISOTROPIC_ROUNDS: usize = 2;

/// Lloyd iterations of each sub-space's k-means.
const SUB_ITERATIONS: usize = 10;

/// The most dimensions one sub-space may have.
pub const MAX_DIMS_PER_BLOCK: usize = 8;

/// 16 centroids of `dsub`-d points: k-means++ seeding (shared with the partition k-means) then
/// Lloyd iterations written out for small dimensions, which is what makes training fast.
/// Fewer distinct points than 16 repeat centroids.
fn train_subspace(points: &[f32], dsub: usize, seed: u64) -> Vec<f32> {
    let seeded = kmeans::train(points, dsub, KSUB, 0, kmeans::Init::PlusPlus, seed);
    let mut c = vec![0f32; KSUB * dsub];
    for j in 0..KSUB {
        let src = if (j + 1) * dsub <= seeded.len() { j } else { 0 };
        for d in 0..dsub {
            c[j * dsub + d] = seeded.get(src * dsub + d).copied().unwrap_or(0.0);
        }
    }
    if points.is_empty() {
        return c;
    }
    let mut sums = vec![0f64; KSUB * dsub];
    // The centroids coordinate by coordinate (16 first coordinates, then 16 second ones, …),
    // so that the distances to all 16 vectorise.
    let mut soa = vec![0f32; KSUB * dsub];
    for _ in 0..SUB_ITERATIONS {
        sums.iter_mut().for_each(|s| *s = 0.0);
        for j in 0..KSUB {
            for d in 0..dsub {
                soa[d * KSUB + j] = c[j * dsub + d];
            }
        }
        let mut counts = [0usize; KSUB];
        for p in points.chunks_exact(dsub) {
            let mut dist = [0f32; KSUB];
            for (&x, cd) in p.iter().zip(soa.chunks_exact(KSUB)) {
                for j in 0..KSUB {
                    let e = x - cd[j];
                    dist[j] += e * e;
                }
            }
            let best = argmin16(&dist);
            counts[best] += 1;
            for (s, &x) in sums[best * dsub..(best + 1) * dsub].iter_mut().zip(p) {
                *s += f64::from(x);
            }
        }
        for j in 0..KSUB {
            if counts[j] > 0 {
                for d in 0..dsub {
                    c[j * dsub + d] = (sums[j * dsub + d] / counts[j] as f64) as f32;
                }
            }
        }
    }
    c
}

/// The smallest of 16 values: a tree of element-wise minima over halves (which the
/// compiler vectorises) rather than a chain of 15 dependent comparisons; plain comparisons,
/// the values are finite.
#[inline]
fn min16(v: &[f32; KSUB]) -> f32 {
    let mut lo = [0f32; KSUB / 2];
    for j in 0..KSUB / 2 {
        let (a, b) = (v[j], v[j + KSUB / 2]);
        lo[j] = if a < b { a } else { b };
    }
    let mut width = KSUB / 4;
    while width >= 1 {
        for j in 0..width {
            let (a, b) = (lo[j], lo[j + width]);
            lo[j] = if a < b { a } else { b };
        }
        width /= 2;
    }
    lo[0]
}

/// The position of the first of 16 values equal to `value` (16 when none is).
#[inline]
fn position16(v: &[f32; KSUB], value: f32) -> usize {
    let mut mask = 0u32;
    for (j, &x) in v.iter().enumerate() {
        mask |= u32::from(x == value) << j;
    }
    mask.trailing_zeros() as usize
}

/// The position of the smallest of 16 values (the first of equals; 0 where the minimum is
/// NaN).
#[inline]
fn argmin16(v: &[f32; KSUB]) -> usize {
    match position16(v, min16(v)) {
        p if p < KSUB => p,
        _ => 0,
    }
}

/// Dimensions per sub-space unless configured otherwise.
pub const DEFAULT_DIMS_PER_BLOCK: usize = 2;
/// Centroids per sub-space (4-bit codes).
pub(crate) const KSUB: usize = 16;

/// A trained product quantiser.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Pq {
    pub(crate) dims: usize,
    /// Dimensions per sub-space.
    pub(crate) dsub: usize,
    /// Sub-spaces, even.
    pub(crate) m: usize,
    /// `m × KSUB × dsub` floats; components past `dims` are 0.
    pub(crate) codebooks: Vec<f32>,
    /// The same, sub-space by sub-space as the 16 first coordinates, then the 16 second
    /// ones, and so on, so that the anisotropic encoding's loops over 16 centroids
    /// vectorise.
    soa: Vec<f32>,
}

/// The sub-spaces a `dims`-long vector is cut into with `dsub` dimensions each, rounded up
/// to even.
pub(crate) fn subspaces(dims: usize, dsub: usize) -> usize {
    let m = dims.div_ceil(dsub.max(1));
    m + (m % 2)
}

impl Pq {
    /// A quantiser from its codebooks (`m × KSUB × dsub` floats).
    pub(crate) fn new(dims: usize, dsub: usize, m: usize, codebooks: Vec<f32>) -> Pq {
        let mut soa = vec![0f32; codebooks.len()];
        for (book, out) in codebooks
            .chunks_exact(KSUB * dsub)
            .zip(soa.chunks_exact_mut(KSUB * dsub))
        {
            for j in 0..KSUB {
                for d in 0..dsub {
                    out[d * KSUB + j] = book[j * dsub + d];
                }
            }
        }
        Pq {
            dims,
            dsub,
            m,
            codebooks,
            soa,
        }
    }

    /// Trains on `data` (row-major, `dims` each) with `dsub` dimensions per sub-space.
    pub(crate) fn train(data: &[f32], dims: usize, dsub: usize, seed: u64) -> Pq {
        let m = subspaces(dims, dsub);
        let mut codebooks = vec![0f32; m * KSUB * dsub];
        let mut sub = Vec::with_capacity(data.len() / dims.max(1) * dsub);
        for s in 0..m {
            let lo = s * dsub;
            if lo >= dims {
                continue;
            }
            sub.clear();
            for x in data.chunks_exact(dims) {
                for d in 0..dsub {
                    sub.push(x.get(lo + d).copied().unwrap_or(0.0));
                }
            }
            let c = train_subspace(&sub, dsub, seed ^ (s as u64).wrapping_mul(0x9e37_79b9));
            codebooks[s * KSUB * dsub..(s + 1) * KSUB * dsub].copy_from_slice(&c);
        }
        Pq::new(dims, dsub, m, codebooks)
    }

    /// Centroid `j` of sub-space `s`.
    #[cfg(test)]
    pub(crate) fn centroid(&self, s: usize, j: usize) -> &[f32] {
        &self.codebooks[(s * KSUB + j) * self.dsub..(s * KSUB + j + 1) * self.dsub]
    }

    /// Component `d` of sub-space `s` of `x` (0 past its end).
    #[inline]
    fn at(&self, x: &[f32], s: usize, d: usize) -> f32 {
        x.get(s * self.dsub + d).copied().unwrap_or(0.0)
    }

    /// `‖x_s − c_j‖²` and `⟨x_s − c_j, dir_s⟩` for the 16 centroids of sub-space `s`
    /// (`along` only when `dir` is given).
    #[inline]
    fn sub_errors(
        &self,
        x: &[f32],
        dir: Option<&[f32]>,
        s: usize,
        dist: &mut [f32; KSUB],
        along: &mut [f32; KSUB],
    ) {
        let dsub = self.dsub;
        let book = &self.soa[s * KSUB * dsub..(s + 1) * KSUB * dsub];
        *dist = [0.0; KSUB];
        *along = [0.0; KSUB];
        for (d, c) in book.chunks_exact(KSUB).enumerate() {
            let xd = self.at(x, s, d);
            let dd = dir.map_or(0.0, |dir| self.at(dir, s, d));
            for j in 0..KSUB {
                let e = xd - c[j];
                dist[j] += e * e;
                along[j] += e * dd;
            }
        }
    }

    /// The code (one per sub-space, values 0..16) of `x`.
    pub(crate) fn encode(&self, x: &[f32], codes: &mut [u8]) {
        let (mut dist, mut along) = ([0f32; KSUB], [0f32; KSUB]);
        for (s, code) in codes.iter_mut().enumerate().take(self.m) {
            self.sub_errors(x, None, s, &mut dist, &mut along);
            *code = argmin16(&dist) as u8;
        }
    }

    /// The code of `x` under ScaNN's score-aware (anisotropic) loss (Guo et al.,
    /// "Accelerating Large-Scale Inference with Anisotropic Vector Quantization", ICML 2020):
    /// the quantisation error `e` is weighted `η` along `dir` (the unit direction of the
    /// datapoint, which inner products with queries are most sensitive to) and 1 across it,
    /// loss `‖e‖² + (η − 1) ⟨e, dir⟩²`. Starts from the nearest centroids, then a few
    /// rounds of coordinate descent over the sub-spaces (the loss couples them through
    /// `⟨e, dir⟩`), as ScaNN encodes.
    pub(crate) fn encode_anisotropic(&self, x: &[f32], dir: &[f32], eta: f32, codes: &mut [u8]) {
        let w = eta - 1.0;
        if w <= 0.0 || !w.is_finite() {
            self.encode(x, codes);
            return;
        }
        let m = self.m.min(codes.len());
        // Each sub-space's errors are computed once (32 floats per sub-space, 24 KiB at
        // 384 dimensions: they stay in cache); the rounds only re-weigh them.
        let mut dist = vec![[0f32; KSUB]; m];
        let mut along = vec![[0f32; KSUB]; m];
        let mut par = vec![0f32; m];
        for s in 0..m {
            self.sub_errors(x, Some(dir), s, &mut dist[s], &mut along[s]);
            let best = argmin16(&dist[s]);
            codes[s] = best as u8;
            par[s] = along[s][best];
        }
        let mut total: f32 = par.iter().sum();
        for _ in 0..ANISOTROPIC_ROUNDS {
            let mut changed = false;
            for s in 0..m {
                let rest = total - par[s];
                let (dist, along) = (&dist[s], &along[s]);
                let mut loss = [0f32; KSUB];
                for j in 0..KSUB {
                    let a = rest + along[j];
                    loss[j] = dist[j] + w * a * a;
                }
                // The current code unless another is strictly better (then the first of
                // the best).
                let current = usize::from(codes[s]) % KSUB;
                let lowest = min16(&loss);
                let best = if loss[current] <= lowest {
                    current
                } else {
                    match position16(&loss, lowest) {
                        p if p < KSUB => p,
                        _ => current,
                    }
                };
                if best != current {
                    codes[s] = best as u8;
                    changed = true;
                }
                par[s] = along[best];
                total = rest + along[best];
            }
            if !changed {
                break;
            }
        }
    }

    /// The lookup table of `q` (`m × 16` floats into `out`): `−q_s·c_j` for every centroid
    /// `c_j` of every sub-space `s`, or `‖q_s − c_j‖₁` with `l1`. Components past the end of
    /// `q` read as 0, as the codebooks are 0 there too. Written over the 16 centroids of a
    /// sub-space at a time (the `soa` layout), which the compiler vectorises.
    pub(crate) fn lut(&self, q: &[f32], l1: bool, out: &mut [f32]) {
        let dsub = self.dsub;
        for ((s, t), book) in out
            .chunks_exact_mut(KSUB)
            .enumerate()
            .zip(self.soa.chunks_exact(KSUB * dsub))
        {
            let t: &mut [f32; KSUB] = t.try_into().expect("chunks of KSUB");
            *t = [0.0; KSUB];
            for (d, c) in book.chunks_exact(KSUB).enumerate() {
                let c: &[f32; KSUB] = c.try_into().expect("chunks of KSUB");
                let qd = self.at(q, s, d);
                if l1 {
                    for j in 0..KSUB {
                        t[j] += (qd - c[j]).abs();
                    }
                } else {
                    for j in 0..KSUB {
                        t[j] -= qd * c[j];
                    }
                }
            }
        }
    }

    /// Reconstructs a vector from its codes.
    #[cfg(test)]
    pub(crate) fn decode(&self, codes: &[u8]) -> Vec<f32> {
        let mut out = vec![0f32; self.m * self.dsub];
        for (s, &c) in codes.iter().enumerate().take(self.m) {
            out[s * self.dsub..(s + 1) * self.dsub]
                .copy_from_slice(self.centroid(s, usize::from(c)));
        }
        out.truncate(self.dims);
        out
    }
}

/// A per-query lookup table, quantised to bytes for the SIMD scan.
#[derive(Debug, Clone)]
pub(crate) struct Lut {
    /// `m × 16` entries.
    pub(crate) bytes: Vec<u8>,
    /// Sum of each sub-space's smallest float entry.
    pub(crate) bias: f32,
    /// Float value of one step of the byte entries.
    pub(crate) step: f32,
}

impl Lut {
    /// Quantises `m × 16` float entries so that `Σ float ≈ bias + step × Σ byte`, with every
    /// byte entry at most `u16::MAX / m` so that 16-bit sums cannot overflow.
    pub(crate) fn quantize(floats: &[f32], m: usize) -> Lut {
        let max_entry = ((u16::MAX as usize) / m.max(1)).min(255) as f32;
        let mut bias = 0f32;
        let mut range = 0f32;
        let mut mins = vec![0f32; m];
        for (s, t) in floats.chunks_exact(KSUB).enumerate().take(m) {
            // Minimum and maximum as a tree of element-wise operations on halves (which the
            // compiler vectorises) rather than a chain of 15 dependent comparisons; plain
            // comparisons, not f32::min, and entries are finite.
            let (mut lo, mut hi) = ([0f32; KSUB / 2], [0f32; KSUB / 2]);
            for j in 0..KSUB / 2 {
                let (a, b) = (t[j], t[j + KSUB / 2]);
                lo[j] = if a < b { a } else { b };
                hi[j] = if a > b { a } else { b };
            }
            let mut width = KSUB / 4;
            while width >= 1 {
                for j in 0..width {
                    let (a, b) = (lo[j], lo[j + width]);
                    lo[j] = if a < b { a } else { b };
                    let (a, b) = (hi[j], hi[j + width]);
                    hi[j] = if a > b { a } else { b };
                }
                width /= 2;
            }
            mins[s] = lo[0];
            bias += lo[0];
            range = range.max(hi[0] - lo[0]);
        }
        let step = if range > 0.0 { range / max_entry } else { 1.0 };
        let inv = 1.0 / step;
        let mut bytes = vec![0u8; m * KSUB];
        for ((out, t), &lo) in bytes
            .chunks_exact_mut(KSUB)
            .zip(floats.chunks_exact(KSUB))
            .zip(&mins)
        {
            let t: &[f32; KSUB] = t.try_into().expect("chunks of KSUB");
            let out: &mut [u8; KSUB] = out.try_into().expect("chunks of KSUB");
            crate::simd::quantize16(t, lo, inv, max_entry, out);
        }
        Lut { bytes, bias, step }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn quantisation_error_is_small() {
        let mut rng = ChaCha8Rng::seed_from_u64(3);
        let dims = 9;
        let data: Vec<f32> = (0..dims * 500)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let pq = Pq::train(&data, dims, 2, 1);
        assert_eq!(pq.m, 6);
        let mut codes = vec![0u8; pq.m];
        let mut err = 0f32;
        let mut energy = 0f32;
        for x in data.chunks_exact(dims) {
            pq.encode(x, &mut codes);
            let y = pq.decode(&codes);
            err += x
                .iter()
                .zip(&y)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>();
            energy += x.iter().map(|a| a * a).sum::<f32>();
        }
        assert!(err / energy < 0.1, "relative error {}", err / energy);
    }

    #[test]
    fn anisotropic_codes_lower_the_score_aware_loss() {
        let mut rng = ChaCha8Rng::seed_from_u64(5);
        let dims = 32;
        let data: Vec<f32> = (0..dims * 400)
            .map(|_| rng.random_range(-1.0..1.0))
            .collect();
        let pq = Pq::train(&data, dims, 2, 2);
        let eta = 8.0;
        let (mut iso_par, mut aniso_par) = (0f32, 0f32);
        for x in data.chunks_exact(dims) {
            let norm = x.iter().map(|v| v * v).sum::<f32>().sqrt();
            let dir: Vec<f32> = x.iter().map(|v| v / norm).collect();
            let loss = |codes: &[u8]| {
                let e: Vec<f32> = x.iter().zip(pq.decode(codes)).map(|(a, b)| a - b).collect();
                let par: f32 = e.iter().zip(&dir).map(|(a, b)| a * b).sum();
                (
                    e.iter().map(|v| v * v).sum::<f32>() + (eta - 1.0) * par * par,
                    par * par,
                )
            };
            let (mut iso, mut aniso) = (vec![0u8; pq.m], vec![0u8; pq.m]);
            pq.encode(x, &mut iso);
            pq.encode_anisotropic(x, &dir, eta, &mut aniso);
            let (li, pi) = loss(&iso);
            let (la, pa) = loss(&aniso);
            assert!(la <= li * (1.0 + 1e-5), "{la} > {li}");
            iso_par += pi;
            aniso_par += pa;
        }
        // The error along the datapoints shrinks a lot.
        assert!(aniso_par < 0.5 * iso_par, "{aniso_par} vs {iso_par}");
    }

    #[test]
    fn argmin16_is_the_first_smallest() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for round in 0..2_000 {
            // Few distinct values, so that ties are common.
            let v: [f32; KSUB] =
                std::array::from_fn(|_| f32::from(rng.random_range(0u8..(2 + round % 6) as u8)));
            let lowest = v.iter().copied().fold(f32::INFINITY, f32::min);
            let first = v.iter().position(|&x| x == lowest).unwrap_or(0);
            assert_eq!(argmin16(&v), first, "{v:?}");
            assert_eq!(min16(&v), lowest);
        }
    }

    #[test]
    fn lut_quantisation_round_trips() {
        let floats: Vec<f32> = (0..4 * KSUB).map(|i| (i as f32 * 0.37).sin()).collect();
        let lut = Lut::quantize(&floats, 4);
        for (s, t) in floats.chunks(KSUB).enumerate() {
            for (j, &v) in t.iter().enumerate() {
                let lo = t.iter().copied().fold(f32::INFINITY, f32::min);
                let back = lo + lut.step * f32::from(lut.bytes[s * KSUB + j]);
                assert!((back - v).abs() <= lut.step * 0.51);
            }
        }
    }
}
