//! Keeping the k nearest rows, with or without crowding.
//!
//! Rows are pushed with their distance; the collector keeps a pool and, when it fills,
//! sorts it (distance, then id) and keeps the current answer: the first `k` rows, or with
//! crowding the first `k` rows taken greedily so that at most `crowding` share a tag. That
//! greedy answer over all rows equals the `k` nearest of "each tag's `crowding` nearest rows
//! plus every untagged row", and its k-th distance can only shrink as rows arrive, so rows
//! farther than it are dropped at once and the result is exact.

use std::cmp::Ordering;
use std::collections::HashMap;

use crate::store::{Store, NO_TAG};

/// The k nearest rows seen so far.
pub(crate) struct TopK<'a> {
    store: &'a Store,
    k: usize,
    crowding: Option<usize>,
    pool: Vec<(f32, u32)>,
    threshold: f32,
    cap: usize,
    ties_by_id: bool,
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
                self.pool.sort_by(|a, b| Self::order(ids, a, b));
                let mut counts: HashMap<u32, usize> = HashMap::new();
                let k = self.k;
                let mut taken = 0;
                self.pool.retain(|&(_, row)| {
                    if taken >= k {
                        return false;
                    }
                    let tag = store.tag(row as usize);
                    if tag != NO_TAG {
                        let c = counts.entry(tag).or_insert(0);
                        if *c >= limit {
                            return false;
                        }
                        *c += 1;
                    }
                    taken += 1;
                    true
                });
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
