//! Binary-mask steps of `OUTLINES`, applied to the shown pixels of one sign, after the
//! Integrated Gradients authors' visualisation library (`Outlines` in
//! `VisualizationLibrary/visualization_lib.py`, ankurtaly/Integrated-Gradients), which
//! uses scipy.ndimage:
//!
//! 1. fill holes (`binary_fill_holes`: background not 4-connected to the image edge
//!    becomes foreground);
//! 2. label connected components with 8-connectivity (`label` with a 3×3 structure);
//! 3. keep the largest components, in decreasing size, until they hold
//!    [`COMPONENT_PERCENTAGE`] % of the mask's pixels, but at most
//!    [`MAX_COMPONENTS`] of them (ties keep raster order);
//! 4. the outline is the kept region minus its erosion by the 4-neighbour cross
//!    (`binary_erosion` with the default structure and border value 0): kept pixels with a
//!    4-neighbour outside the region or outside the image.

use std::collections::VecDeque;

/// Share of the mask's pixels the kept components must reach (the library's
/// `outlines_component_percentage` default).
pub const COMPONENT_PERCENTAGE: f64 = 90.0;
/// At most this many components are outlined (the library caps `cutoff_idx` at 2).
pub const MAX_COMPONENTS: usize = 3;

/// A binary mask over a `width × height` grid, row by row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mask {
    pub(crate) width: usize,
    pub(crate) height: usize,
    pub(crate) bits: Vec<bool>,
}

impl Mask {
    fn neighbours4(&self, i: usize) -> impl Iterator<Item = usize> {
        let (w, h) = (self.width, self.height);
        let (x, y) = (i % w, i / w);
        [
            (x > 0).then(|| i - 1),
            (x + 1 < w).then(|| i + 1),
            (y > 0).then(|| i - w),
            (y + 1 < h).then(|| i + w),
        ]
        .into_iter()
        .flatten()
    }

    fn neighbours8(&self, i: usize) -> impl Iterator<Item = usize> {
        let (w, h) = (self.width as isize, self.height as isize);
        let (x, y) = ((i % self.width) as isize, (i / self.width) as isize);
        (-1..=1)
            .flat_map(move |dy| (-1..=1).map(move |dx| (dx, dy)))
            .filter(|&(dx, dy)| dx != 0 || dy != 0)
            .filter_map(move |(dx, dy)| {
                let (nx, ny) = (x + dx, y + dy);
                (nx >= 0 && ny >= 0 && nx < w && ny < h).then(|| (ny * w + nx) as usize)
            })
    }

    /// Sets every background pixel that is not 4-connected to the edge.
    pub(crate) fn fill_holes(&self) -> Mask {
        let (w, h) = (self.width, self.height);
        let mut outside = vec![false; self.bits.len()];
        let mut queue = VecDeque::new();
        for (i, (&bit, out)) in self.bits.iter().zip(outside.iter_mut()).enumerate() {
            let (x, y) = (i % w, i / w);
            let edge = x == 0 || y == 0 || x + 1 == w || y + 1 == h;
            if edge && !bit {
                *out = true;
                queue.push_back(i);
            }
        }
        while let Some(i) = queue.pop_front() {
            for n in self.neighbours4(i) {
                if !self.bits[n] && !outside[n] {
                    outside[n] = true;
                    queue.push_back(n);
                }
            }
        }
        Mask {
            width: w,
            height: h,
            bits: outside.iter().map(|&o| !o).collect(),
        }
    }

    /// 8-connected components, numbered from 0 in raster order of their first pixel:
    /// `(label per pixel, size per label)`.
    fn components(&self) -> (Vec<Option<usize>>, Vec<usize>) {
        let mut labels = vec![None; self.bits.len()];
        let mut sizes = Vec::new();
        let mut queue = VecDeque::new();
        for start in 0..self.bits.len() {
            if !self.bits[start] || labels[start].is_some() {
                continue;
            }
            let label = sizes.len();
            let mut size = 0;
            labels[start] = Some(label);
            queue.push_back(start);
            while let Some(i) = queue.pop_front() {
                size += 1;
                for n in self.neighbours8(i) {
                    if self.bits[n] && labels[n].is_none() {
                        labels[n] = Some(label);
                        queue.push_back(n);
                    }
                }
            }
            sizes.push(size);
        }
        (labels, sizes)
    }

    /// The largest components holding [`COMPONENT_PERCENTAGE`] % of the pixels (at most
    /// [`MAX_COMPONENTS`]).
    pub(crate) fn largest_components(&self) -> Mask {
        let (labels, sizes) = self.components();
        let total: usize = sizes.iter().sum();
        let mut order: Vec<usize> = (0..sizes.len()).collect();
        // Stable: equal sizes keep raster order.
        order.sort_by(|&a, &b| sizes[b].cmp(&sizes[a]));
        let cutoff = COMPONENT_PERCENTAGE * total as f64 / 100.0;
        let mut kept = vec![false; sizes.len()];
        let mut sum = 0usize;
        for &label in order.iter().take(MAX_COMPONENTS) {
            kept[label] = true;
            sum += sizes[label];
            if sum as f64 >= cutoff {
                break;
            }
        }
        Mask {
            width: self.width,
            height: self.height,
            bits: labels.iter().map(|l| l.is_some_and(|l| kept[l])).collect(),
        }
    }

    /// Pixels of the mask with a 4-neighbour outside it or outside the grid.
    pub(crate) fn border(&self) -> Mask {
        let bits = (0..self.bits.len())
            .map(|i| {
                if !self.bits[i] {
                    return false;
                }
                let inner = self.neighbours4(i).filter(|&n| self.bits[n]).count() == 4;
                !inner
            })
            .collect();
        Mask {
            width: self.width,
            height: self.height,
            bits,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A mask from rows of `#` (set) and `.` (clear).
    pub(crate) fn mask(rows: &[&str]) -> Mask {
        Mask {
            width: rows[0].len(),
            height: rows.len(),
            bits: rows
                .iter()
                .flat_map(|r| r.chars().map(|c| c == '#'))
                .collect(),
        }
    }

    fn show(m: &Mask) -> Vec<String> {
        m.bits
            .chunks(m.width)
            .map(|r| r.iter().map(|&b| if b { '#' } else { '.' }).collect())
            .collect()
    }

    #[test]
    fn fills_only_enclosed_holes() {
        // The hole at (2, 2) is enclosed; the gap at (2, 4)..(2, 5) touches the edge.
        let m = mask(&[
            "......", //
            ".###..", //
            ".#.#..", //
            ".###..", //
            ".#.#..", //
            ".#.#..", //
        ]);
        assert_eq!(
            show(&m.fill_holes()),
            vec!["......", ".###..", ".###..", ".###..", ".#.#..", ".#.#.."]
        );
    }

    #[test]
    fn diagonal_pixels_are_one_component_for_labels_but_holes_need_4_connectivity() {
        // A diagonal ring: background inside is 4-connected to... nothing outside, since the
        // diagonal wall blocks 4-moves: scipy fills it.
        let m = mask(&[
            ".....", //
            "..#..", //
            ".#.#.", //
            "..#..", //
            ".....", //
        ]);
        let filled = m.fill_holes();
        assert!(filled.bits[2 * 5 + 2]);
        let (_, sizes) = m.components();
        assert_eq!(sizes, vec![4]);
    }

    #[test]
    fn keeps_components_up_to_90_percent_and_at_most_three() {
        // Sizes 6, 2, 1 (total 9): 6 < 8.1, 6 + 2 = 8 < 8.1, 9 ≥ 8.1 → all three.
        let m = mask(&[
            "###.#.#", //
            "###.#..", //
        ]);
        assert_eq!(show(&m.largest_components()), show(&m));
        // Sizes 12, 1, 1 (total 14): 12 < 12.6, 13 ≥ 12.6 → the big one and the first
        // single pixel in raster order.
        let m = mask(&[
            "######.#", //
            "######..", //
            "........", //
            ".......#", //
        ]);
        assert_eq!(
            show(&m.largest_components()),
            vec!["######.#", "######..", "........", "........"]
        );
        // Five single pixels: at most three are kept, in raster order.
        let m = mask(&["#.#.#.#.#"]);
        assert_eq!(show(&m.largest_components()), vec!["#.#.#...."]);
    }

    #[test]
    fn border_is_the_mask_minus_its_cross_erosion() {
        let m = mask(&[
            "#####.", //
            "#####.", //
            "#####.", //
            "#####.", //
        ]);
        // Row 0 and column 0 touch the image edge; interior (1..=2, 1..=3) survives erosion.
        assert_eq!(
            show(&m.border()),
            vec!["#####.", "#...#.", "#...#.", "#####."]
        );
    }
}
