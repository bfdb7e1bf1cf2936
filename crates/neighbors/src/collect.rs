//! Keeping the k nearest rows, with or without crowding.
//!
//! Rows are pushed with their distance; the collector keeps a pool and, when it fills,
//! sorts it (distance, then id) and keeps the current answer: the first `k` rows, or with
//! crowding the first `k` rows taken greedily so that at most `crowding` share a tag. That
//! greedy answer over all rows equals the `k` nearest of "each tag's `crowding` nearest rows
//! plus every untagged row", and its k-th distance can only shrink as rows arrive, so rows
//! farther than it are dropped at once and the result is exact.

use std::cmp::Ordering;

use crate::store::{Store, NO_TAG};

/// A key whose integer order is `(distance.total_cmp, row)`'s order.
#[inline]
fn sort_key(distance: f32, row: u32) -> u64 {
    let bits = distance.to_bits();
    let ordered = if bits >> 31 == 1 {
        !bits
    } else {
        bits | 0x8000_0000
    };
    (u64::from(ordered) << 32) | u64::from(row)
}

/// Rows taken per tag during one crowding compaction: a small open-addressing table (at
/// most `k` tags are ever in it), cleared by a fill rather than reallocated.
#[derive(Default)]
struct TagCounts {
    /// `tag << 32 | count`, or `u64::MAX` for an empty slot.
    slots: Vec<u64>,
}

impl TagCounts {
    /// Empties the table, sized for up to `k` tags.
    fn reset(&mut self, k: usize) {
        let size = (2 * k).next_power_of_two().max(16);
        self.slots.clear();
        self.slots.resize(size, u64::MAX);
    }

    /// Counts one more row of `tag` if fewer than `limit` are counted; false otherwise.
    #[inline]
    fn take(&mut self, tag: u32, limit: usize) -> bool {
        let mask = self.slots.len() - 1;
        let mut i = (tag.wrapping_mul(0x9e37_79b9) >> 8) as usize & mask;
        loop {
            let slot = self.slots[i];
            if slot == u64::MAX {
                if limit == 0 {
                    return false;
                }
                self.slots[i] = (u64::from(tag) << 32) | 1;
                return true;
            }
            if (slot >> 32) as u32 == tag {
                if (slot & 0xffff_ffff) as usize >= limit {
                    return false;
                }
                self.slots[i] = slot + 1;
                return true;
            }
            i = (i + 1) & mask;
        }
    }
}

/// The k nearest rows seen so far.
pub(crate) struct TopK<'a> {
    store: &'a Store,
    k: usize,
    crowding: Option<usize>,
    pool: Vec<(f32, u32)>,
    threshold: f32,
    cap: usize,
    ties_by_id: bool,
    /// Rows kept per tag during a crowding compaction (kept between compactions so that
    /// its table is allocated once).
    counts: TagCounts,
}

impl<'a> TopK<'a> {
    pub(crate) fn new(store: &'a Store, k: usize, crowding: Option<usize>) -> Self {
        let cap = (2 * k).max(k + 64);
        TopK {
            store,
            k,
            crowding,
            pool: Vec::with_capacity(cap),
            threshold: f32::INFINITY,
            cap,
            ties_by_id: true,
            counts: TagCounts::default(),
        }
    }

    /// Breaks ties by row number instead of id: cheaper, for candidate stages whose order
    /// is not returned.
    pub(crate) fn ties_by_row(mut self) -> Self {
        self.ties_by_id = false;
        self
    }

    /// Rows farther than this cannot enter the answer.
    #[inline]
    pub(crate) fn threshold(&self) -> f32 {
        self.threshold
    }

    #[inline]
    pub(crate) fn push(&mut self, distance: f32, row: u32) {
        if distance <= self.threshold {
            self.pool.push((distance, row));
            if self.pool.len() >= self.cap {
                self.compact();
            }
        }
    }

    fn order(store: Option<&Store>, a: &(f32, u32), b: &(f32, u32)) -> Ordering {
        a.0.total_cmp(&b.0).then_with(|| match store {
            Some(s) => s.id(a.1 as usize).cmp(s.id(b.1 as usize)),
            None => a.1.cmp(&b.1),
        })
    }

    fn compact(&mut self) {
        let store = self.store;
        let ids = self.ties_by_id.then_some(store);
        match self.crowding {
            None => {
                if self.pool.len() > self.k && self.k > 0 {
                    self.pool
                        .select_nth_unstable_by(self.k - 1, |a, b| Self::order(ids, a, b));
                    self.pool.truncate(self.k);
                } else if self.k == 0 {
                    self.pool.clear();
                }
            }
            Some(limit) => {
                if ids.is_some() {
                    self.pool.sort_unstable_by(|a, b| Self::order(ids, a, b));
                } else {
                    // (distance, row) as one integer key: the same order, sorted faster.
                    self.pool.sort_unstable_by_key(|&(d, row)| sort_key(d, row));
                }
                // Greedy, nearest first: at most `limit` rows per tag, `k` in all.
                let counts = &mut self.counts;
                counts.reset(self.k);
                let mut taken = 0;
                for i in 0..self.pool.len() {
                    if taken >= self.k {
                        break;
                    }
                    let entry = self.pool[i];
                    let tag = store.tag(entry.1 as usize);
                    if tag == NO_TAG || counts.take(tag, limit) {
                        self.pool[taken] = entry;
                        taken += 1;
                    }
                }
                self.pool.truncate(taken);
            }
        }
        if self.pool.len() == self.k && self.k > 0 {
            self.threshold = self
                .pool
                .iter()
                .map(|p| p.0)
                .fold(f32::NEG_INFINITY, f32::max);
        }
    }

    /// The answer, nearest first, ties broken by id.
    pub(crate) fn into_sorted(mut self) -> Vec<(f32, u32)> {
        self.compact();
        let ids = self.ties_by_id.then_some(self.store);
        self.pool.sort_by(|a, b| Self::order(ids, a, b));
        self.pool
    }
}
