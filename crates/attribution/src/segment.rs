//! Image helpers for XRAI: Felzenszwalb–Huttenlocher graph segmentation, bilinear and
//! nearest resizing, and binary dilation by a disk.
//!
//! Images are `H × W × C` row-major `f64` slices; label maps and masks are `H × W`.

/// Felzenszwalb & Huttenlocher (2004), as scikit-image's `segmentation.felzenszwalb` runs
/// it: each channel is smoothed by a Gaussian of `sigma` (edges reflected); the pixels form
/// a graph with edges to their right, lower, lower-right and upper-right neighbours, weighted
/// by the Euclidean distance of their colours; edges are visited by increasing weight and
/// join two components when the weight is below both components' internal difference
/// plus `k / size`, where `k = scale / 255` (scikit-image's rescaling to match the reference
/// implementation on 0..255 images); then components smaller than `min_size` are merged
/// along the same edge order. Returns a label per pixel, numbered from 0 in first-seen
/// order.
pub fn felzenszwalb(
    image: &[f64],
    (h, w, c): (usize, usize, usize),
    scale: f64,
    sigma: f64,
    min_size: usize,
) -> Vec<usize> {
    let smooth = smooth_reflect(image, (h, w, c), sigma);
    let px = |y: usize, x: usize| &smooth[(y * w + x) * c..(y * w + x + 1) * c];
    let dist = |a: &[f64], b: &[f64]| {
        a.iter()
            .zip(b)
            .map(|(p, q)| (p - q) * (p - q))
            .sum::<f64>()
            .sqrt()
    };
    // Right, down, down-right and up-right edges, in that order (scikit-image's).
    let mut edges: Vec<(f64, u32, u32)> = Vec::with_capacity(h * w * 4);
    let directions: [(isize, isize); 4] = [(0, 1), (1, 0), (1, 1), (-1, 1)];
    for (dy, dx) in directions {
        for y in 0..h {
            for x in 0..w {
                let (yy, xx) = (y as isize + dy, x as isize + dx);
                if yy < 0 || yy >= h as isize || xx >= w as isize {
                    continue;
                }
                let (yy, xx) = (yy as usize, xx as usize);
                let cost = dist(px(y, x), px(yy, xx));
                edges.push((cost, (y * w + x) as u32, (yy * w + xx) as u32));
            }
        }
    }
    let k = scale / 255.0;
    // A stable sort keeps equal weights in scan order, so results are reproducible.
    edges.sort_by(|p, q| p.0.total_cmp(&q.0));
    let mut sets = DisjointSets::new(h * w);
    let mut internal = vec![0f64; h * w];
    for &(cost, a, b) in &edges {
        let (ra, rb) = (sets.find(a as usize), sets.find(b as usize));
        if ra == rb {
            continue;
        }
        let limit_a = internal[ra] + k / sets.size[ra] as f64;
        let limit_b = internal[rb] + k / sets.size[rb] as f64;
        if cost < limit_a.min(limit_b) {
            let root = sets.union(ra, rb);
            internal[root] = cost;
        }
    }
    for &(_, a, b) in &edges {
        let (ra, rb) = (sets.find(a as usize), sets.find(b as usize));
        if ra != rb && (sets.size[ra] < min_size || sets.size[rb] < min_size) {
            sets.union(ra, rb);
        }
    }
    let mut labels = vec![usize::MAX; h * w];
    let mut next = 0;
    let mut of_root = std::collections::HashMap::new();
    for (p, label) in labels.iter_mut().enumerate() {
        let root = sets.find(p);
        *label = *of_root.entry(root).or_insert_with(|| {
            next += 1;
            next - 1
        });
    }
    labels
}

struct DisjointSets {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl DisjointSets {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins two roots; returns the new root.
    fn union(&mut self, a: usize, b: usize) -> usize {
        let (big, small) = if self.size[a] >= self.size[b] {
            (a, b)
        } else {
            (b, a)
        };
        self.parent[small] = big;
        self.size[big] += self.size[small];
        big
    }
}

/// Per-channel Gaussian smoothing with reflected edges (`scipy.ndimage` mode "reflect",
/// truncate 4).
fn smooth_reflect(image: &[f64], (h, w, c): (usize, usize, usize), sigma: f64) -> Vec<f64> {
    if sigma <= 0.0 {
        return image.to_vec();
    }
    let radius = (4.0 * sigma + 0.5).floor() as isize;
    let mut k: Vec<f64> = (-radius..=radius)
        .map(|i| (-0.5 * (i * i) as f64 / (sigma * sigma)).exp())
        .collect();
    let sum: f64 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    // scipy's "reflect" mirrors about the edge, repeating the edge pixel: (d c b a | a b c d).
    let reflect = |i: isize, n: usize| -> usize {
        let n = n as isize;
        let mut i = i;
        loop {
            if i < 0 {
                i = -i - 1;
            } else if i >= n {
                i = 2 * n - i - 1;
            } else {
                return i as usize;
            }
        }
    };
    let mut tmp = vec![0f64; image.len()];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let mut acc = 0.0;
                for (ki, wt) in k.iter().enumerate() {
                    let xx = reflect(x as isize + ki as isize - radius, w);
                    acc += wt * image[(y * w + xx) * c + ch];
                }
                tmp[(y * w + x) * c + ch] = acc;
            }
        }
    }
    let mut out = vec![0f64; image.len()];
    for y in 0..h {
        for x in 0..w {
            for ch in 0..c {
                let mut acc = 0.0;
                for (ki, wt) in k.iter().enumerate() {
                    let yy = reflect(y as isize + ki as isize - radius, h);
                    acc += wt * tmp[(yy * w + x) * c + ch];
                }
                out[(y * w + x) * c + ch] = acc;
            }
        }
    }
    out
}

/// Bilinear resize of an `H × W × C` image (pixel centres aligned, as most libraries do).
pub fn resize_bilinear(
    image: &[f64],
    (h, w, c): (usize, usize, usize),
    (nh, nw): (usize, usize),
) -> Vec<f64> {
    let coord = |i: usize, n: usize, m: usize| -> (usize, usize, f64) {
        let s = ((i as f64 + 0.5) * n as f64 / m as f64 - 0.5).clamp(0.0, (n - 1) as f64);
        let lo = s.floor() as usize;
        (lo, (lo + 1).min(n - 1), s - lo as f64)
    };
    let mut out = vec![0f64; nh * nw * c];
    for y in 0..nh {
        let (y0, y1, fy) = coord(y, h, nh);
        for x in 0..nw {
            let (x0, x1, fx) = coord(x, w, nw);
            for ch in 0..c {
                let at = |yy: usize, xx: usize| image[(yy * w + xx) * c + ch];
                let top = at(y0, x0) * (1.0 - fx) + at(y0, x1) * fx;
                let bottom = at(y1, x0) * (1.0 - fx) + at(y1, x1) * fx;
                out[(y * nw + x) * c + ch] = top * (1.0 - fy) + bottom * fy;
            }
        }
    }
    out
}

/// Nearest-neighbour resize of a label map.
pub fn resize_nearest(
    labels: &[usize],
    (h, w): (usize, usize),
    (nh, nw): (usize, usize),
) -> Vec<usize> {
    let mut out = vec![0; nh * nw];
    for y in 0..nh {
        let sy = (((y as f64 + 0.5) * h as f64 / nh as f64) as usize).min(h - 1);
        for x in 0..nw {
            let sx = (((x as f64 + 0.5) * w as f64 / nw as f64) as usize).min(w - 1);
            out[y * nw + x] = labels[sy * w + sx];
        }
    }
    out
}

/// Binary dilation of an `H × W` mask by a disk of `radius` (the offsets with
/// dy² + dx² ≤ radius², like scikit-image's `disk`).
pub fn dilate_disk(mask: &[bool], (h, w): (usize, usize), radius: usize) -> Vec<bool> {
    let r = radius as isize;
    let offsets: Vec<(isize, isize)> = (-r..=r)
        .flat_map(|dy| (-r..=r).map(move |dx| (dy, dx)))
        .filter(|(dy, dx)| dy * dy + dx * dx <= r * r)
        .collect();
    let mut out = vec![false; mask.len()];
    for y in 0..h as isize {
        for x in 0..w as isize {
            if !mask[(y * w as isize + x) as usize] {
                continue;
            }
            for &(dy, dx) in &offsets {
                let (yy, xx) = (y + dy, x + dx);
                if yy >= 0 && xx >= 0 && (yy as usize) < h && (xx as usize) < w {
                    out[yy as usize * w + xx as usize] = true;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn two_flat_halves_are_two_segments() {
        // Left half dark, right half bright, a little noise-free: any scale splits them, and
        // no segment is smaller than min_size.
        let (h, w) = (20, 20);
        let img: Vec<f64> = (0..h * w)
            .map(|i| if i % w < 10 { -1.0 } else { 1.0 })
            .collect();
        let labels = felzenszwalb(&img, (h, w, 1), 100.0, 0.0, 20);
        assert_eq!(labels[0], 0);
        assert!(labels.iter().all(|&l| l < 2));
        for (i, &l) in labels.iter().enumerate() {
            assert_eq!(l, usize::from(i % w >= 10), "pixel {i}");
        }
    }

    #[test]
    fn larger_scale_merges_more_and_min_size_is_honoured() {
        // Four quadrants with close grey levels: a small scale keeps them apart, a huge one
        // merges everything.
        let (h, w) = (16, 16);
        let img: Vec<f64> = (0..h * w)
            .map(|i| {
                let (y, x) = (i / w, i % w);
                0.1 * (usize::from(y >= 8) * 2 + usize::from(x >= 8)) as f64
            })
            .collect();
        let count = |labels: &[usize]| labels.iter().max().unwrap() + 1;
        let fine = felzenszwalb(&img, (h, w, 1), 0.5, 0.0, 1);
        assert_eq!(count(&fine), 4);
        let coarse = felzenszwalb(&img, (h, w, 1), 1e6, 0.0, 1);
        assert_eq!(count(&coarse), 1);
        let big_min = felzenszwalb(&img, (h, w, 1), 0.5, 0.0, 100);
        let mut sizes = vec![0; count(&big_min)];
        big_min.iter().for_each(|&l| sizes[l] += 1);
        assert!(sizes.iter().all(|&s| s >= 100), "{sizes:?}");
    }

    #[test]
    fn resizes_and_dilation() {
        let img = vec![0.0, 1.0, 2.0, 3.0]; // 2×2
        let up = resize_bilinear(&img, (2, 2, 1), (4, 4));
        assert_eq!(up[0], 0.0);
        assert_eq!(up[15], 3.0);
        assert!((up[1] - 0.25).abs() < 1e-12);
        let labels = resize_nearest(&[0, 1, 2, 3], (2, 2), (4, 4));
        assert_eq!(labels, [0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3]);
        let mut mask = vec![false; 11 * 11];
        mask[5 * 11 + 5] = true;
        let d = dilate_disk(&mask, (11, 11), 2);
        // disk(2) has 13 pixels.
        assert_eq!(d.iter().filter(|&&b| b).count(), 13);
        assert!(d[3 * 11 + 5] && !d[3 * 11 + 4]);
    }
}
