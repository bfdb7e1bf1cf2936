//! A fixed-size set of row numbers.

/// A set of rows `0..len` as one bit per row.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Bitset {
    words: Vec<u64>,
    len: usize,
}

impl Bitset {
    /// An empty set over `len` rows.
    pub(crate) fn empty(len: usize) -> Self {
        Bitset {
            words: vec![0; len.div_ceil(64)],
            len,
        }
    }

    /// The set of all `len` rows.
    pub(crate) fn full(len: usize) -> Self {
        let mut s = Bitset {
            words: vec![u64::MAX; len.div_ceil(64)],
            len,
        };
        s.clear_tail();
        s
    }

    fn clear_tail(&mut self) {
        let r = self.len % 64;
        if r != 0 {
            if let Some(last) = self.words.last_mut() {
                *last &= (1u64 << r) - 1;
            }
        }
    }

    /// How many rows the set ranges over.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Grows the range to `len` rows; new rows are absent.
    pub(crate) fn grow(&mut self, len: usize) {
        if len > self.len {
            self.words.resize(len.div_ceil(64), 0);
            self.len = len;
        }
    }

    #[inline]
    pub(crate) fn contains(&self, i: usize) -> bool {
        self.words
            .get(i / 64)
            .is_some_and(|w| w & (1u64 << (i % 64)) != 0)
    }

    #[inline]
    pub(crate) fn insert(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w |= 1u64 << (i % 64);
        }
    }

    #[inline]
    pub(crate) fn remove(&mut self, i: usize) {
        if let Some(w) = self.words.get_mut(i / 64) {
            *w &= !(1u64 << (i % 64));
        }
    }

    /// Keeps only rows also in `other`.
    pub(crate) fn intersect(&mut self, other: &Bitset) {
        for (a, b) in self.words.iter_mut().zip(&other.words) {
            *a &= b;
        }
        let n = other.words.len();
        if self.words.len() > n {
            self.words[n..].fill(0);
        }
    }

    /// The number of rows in the set.
    pub(crate) fn count(&self) -> usize {
        self.words.iter().map(|w| w.count_ones() as usize).sum()
    }

    /// The rows in the set, in increasing order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = usize> + '_ {
        self.words.iter().enumerate().flat_map(|(wi, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                if w == 0 {
                    None
                } else {
                    let b = w.trailing_zeros() as usize;
                    w &= w - 1;
                    Some(wi * 64 + b)
                }
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        let mut s = Bitset::empty(130);
        s.insert(0);
        s.insert(64);
        s.insert(129);
        s.insert(500);
        assert_eq!(s.iter().collect::<Vec<_>>(), vec![0, 64, 129]);
        assert_eq!(s.count(), 3);
        s.remove(64);
        assert!(!s.contains(64));
        let f = Bitset::full(130);
        assert_eq!(f.count(), 130);
        let mut g = Bitset::full(70);
        g.grow(200);
        assert_eq!(g.count(), 70);
        g.intersect(&s);
        assert_eq!(g.iter().collect::<Vec<_>>(), vec![0]);
    }
}
