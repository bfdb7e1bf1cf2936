//! Row storage shared by every algorithm: vectors, ids, attributes, tombstones.
//!
//! Rows are numbered in insertion order and never move while an index is in memory: a
//! deleted row keeps its slot (a tombstone: its bit in `live` is cleared and its id leaves
//! the id table) until the index is saved, which writes live rows only.

use hashbrown::{DefaultHashBuilder, HashTable};
use std::collections::HashMap;
use std::hash::BuildHasher;

use crate::bitset::Bitset;
use crate::example::{Example, NumericRestrict, NumericValue, TokenRestrict};
use crate::mapped::MappedF32;
use crate::simd;

/// Marks a row without a crowding tag.
pub(crate) const NO_TAG: u32 = u32::MAX;

/// The most rows an index holds (row numbers are `u32`, and `u32::MAX` is reserved).
pub(crate) const MAX_ROWS: usize = u32::MAX as usize - 1;

/// The vectors, row after row: owned, borrowed from a mapped index file until the first
/// change, or scalar-quantised to one byte per component (see [`Sq8`]).
#[derive(Debug, Clone)]
pub(crate) enum Vectors {
    Owned(Vec<f32>),
    Mapped(MappedF32),
    Int8(Sq8),
}

/// Vectors scalar-quantised per dimension: component `d` of a row is stored as a byte `c`
/// and read back as `min[d] + scale[d] × c`, the 256 levels spanning the range of that
/// dimension over the rows seen when it was made (later rows are clamped to it).
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Sq8 {
    pub(crate) min: Vec<f32>,
    pub(crate) scale: Vec<f32>,
    pub(crate) codes: Vec<u8>,
}

impl Sq8 {
    /// Fits the per-dimension ranges to `vectors` (row-major, `dims` each) and encodes them.
    pub(crate) fn fit(vectors: &[f32], dims: usize) -> Sq8 {
        let mut lo = vec![f32::INFINITY; dims];
        let mut hi = vec![f32::NEG_INFINITY; dims];
        for x in vectors.chunks_exact(dims) {
            for ((l, h), &v) in lo.iter_mut().zip(hi.iter_mut()).zip(x) {
                *l = l.min(v);
                *h = h.max(v);
            }
        }
        let (min, scale): (Vec<f32>, Vec<f32>) = lo
            .iter()
            .zip(&hi)
            .map(|(&l, &h)| {
                if l.is_finite() && h > l {
                    (l, (h - l) / 255.0)
                } else if l.is_finite() {
                    (l, 0.0)
                } else {
                    (0.0, 0.0)
                }
            })
            .unzip();
        let mut sq = Sq8 {
            min,
            scale,
            codes: Vec::with_capacity(vectors.len()),
        };
        for x in vectors.chunks_exact(dims) {
            sq.push(x);
        }
        sq
    }

    /// Appends one row, each component rounded to the nearest level (clamped to the range).
    pub(crate) fn push(&mut self, x: &[f32]) {
        self.codes.extend(
            x.iter()
                .zip(&self.min)
                .zip(&self.scale)
                .map(|((&v, &lo), &s)| {
                    if s > 0.0 {
                        ((v - lo) / s + 0.5).clamp(0.0, 255.0) as u8
                    } else {
                        0
                    }
                }),
        );
    }

    /// Decodes the rows `codes` holds (a whole number of rows) into `out`.
    pub(crate) fn decode(&self, codes: &[u8], out: &mut [f32]) {
        let dims = self.min.len();
        for (o, c) in out.chunks_exact_mut(dims).zip(codes.chunks_exact(dims)) {
            simd::decode_u8(c, &self.min, &self.scale, o);
        }
    }
}

impl Vectors {
    /// The float vectors, or `None` when they are stored as int8.
    pub(crate) fn floats(&self) -> Option<&[f32]> {
        match self {
            Vectors::Owned(v) => Some(v),
            Vectors::Mapped(m) => Some(m.as_slice()),
            Vectors::Int8(_) => None,
        }
    }

    fn to_mut(&mut self) -> &mut Vec<f32> {
        if let Vectors::Mapped(m) = self {
            *self = Vectors::Owned(m.as_slice().to_vec());
        }
        match self {
            Vectors::Owned(v) => v,
            _ => unreachable!("int8 rows are appended with Sq8::push, mapped ones converted above"),
        }
    }
}

/// One attribute of a row, with namespaces and tokens interned in [`Strings`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Attr {
    Allow { ns: u32, token: u32 },
    Deny { ns: u32, token: u32 },
    Number { ns: u32, value: NumericValue },
}

/// Interned strings (namespaces, tokens, crowding tags).
#[derive(Debug, Clone, Default)]
pub(crate) struct Strings {
    pub(crate) names: Vec<String>,
    lookup: HashMap<String, u32>,
}

impl Strings {
    pub(crate) fn intern(&mut self, s: &str) -> u32 {
        if let Some(&i) = self.lookup.get(s) {
            return i;
        }
        let i = self.names.len() as u32;
        self.names.push(s.to_owned());
        self.lookup.insert(s.to_owned(), i);
        i
    }

    pub(crate) fn get(&self, s: &str) -> Option<u32> {
        self.lookup.get(s).copied()
    }

    pub(crate) fn name(&self, i: u32) -> &str {
        self.names.get(i as usize).map_or("", String::as_str)
    }

    pub(crate) fn from_names(names: Vec<String>) -> Self {
        let lookup = names
            .iter()
            .enumerate()
            .map(|(i, n)| (n.clone(), i as u32))
            .collect();
        Strings { names, lookup }
    }
}

/// The id-table hash of row `r`'s id (used when the table grows).
fn hash_row(hasher: &DefaultHashBuilder, id_bytes: &[u8], id_ends: &[u64], r: u32) -> u64 {
    let r = r as usize;
    let start = if r == 0 { 0 } else { id_ends[r - 1] as usize };
    hasher.hash_one(std::str::from_utf8(&id_bytes[start..id_ends[r] as usize]).unwrap_or(""))
}

/// Row storage.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dims: usize,
    vectors: Vectors,
    id_bytes: Vec<u8>,
    /// `id_ends[r]` is where row `r`'s id ends in `id_bytes`; it starts where row `r − 1`'s ends.
    id_ends: Vec<u64>,
    id_table: HashTable<u32>,
    hasher: DefaultHashBuilder,
    live: Bitset,
    live_count: usize,
    tags: Vec<u32>,
    pub(crate) tag_names: Strings,
    pub(crate) strings: Strings,
    /// `attr_ends[r]` is where row `r`'s attributes end in `attrs`.
    attr_ends: Vec<u32>,
    attrs: Vec<Attr>,
    /// Rows holding each (namespace, token) in their allow list, increasing.
    pub(crate) allow_postings: HashMap<(u32, u32), Vec<u32>>,
    /// Rows holding each (namespace, token) in their deny list, increasing.
    pub(crate) deny_postings: HashMap<(u32, u32), Vec<u32>>,
}

impl Store {
    pub(crate) fn new(dims: usize) -> Self {
        Store {
            dims,
            vectors: Vectors::Owned(Vec::new()),
            id_bytes: Vec::new(),
            id_ends: Vec::new(),
            id_table: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            live: Bitset::empty(0),
            live_count: 0,
            tags: Vec::new(),
            tag_names: Strings::default(),
            strings: Strings::default(),
            attr_ends: Vec::new(),
            attrs: Vec::new(),
            allow_postings: HashMap::new(),
            deny_postings: HashMap::new(),
        }
    }

    pub(crate) fn dims(&self) -> usize {
        self.dims
    }

    /// Rows, deleted ones included.
    pub(crate) fn rows(&self) -> usize {
        self.id_ends.len()
    }

    /// Rows not deleted.
    pub(crate) fn live_count(&self) -> usize {
        self.live_count
    }

    pub(crate) fn live(&self) -> &Bitset {
        &self.live
    }

    #[inline]
    pub(crate) fn is_live(&self, row: usize) -> bool {
        self.live.contains(row)
    }

    /// Every row's float vector, back to back; `None` when vectors are stored as int8.
    pub(crate) fn float_vectors(&self) -> Option<&[f32]> {
        self.vectors.floats()
    }

    /// The int8 copy, when vectors are stored that way.
    pub(crate) fn int8(&self) -> Option<&Sq8> {
        match &self.vectors {
            Vectors::Int8(q) => Some(q),
            _ => None,
        }
    }

    /// Rows `start..end`, back to back: borrowed float vectors, or int8 ones decoded into
    /// `scratch`.
    pub(crate) fn block<'s>(
        &'s self,
        start: usize,
        end: usize,
        scratch: &'s mut Vec<f32>,
    ) -> &'s [f32] {
        let (a, b) = (start * self.dims, end * self.dims);
        match &self.vectors {
            Vectors::Int8(q) => {
                scratch.resize(b - a, 0.0);
                q.decode(&q.codes[a..b], scratch);
                scratch
            }
            v => &v.floats().unwrap_or(&[])[a..b],
        }
    }

    /// Starts loading row `row`'s stored vector into the cache (a hint).
    #[inline]
    pub(crate) fn prefetch(&self, row: usize) {
        let (a, b) = (row * self.dims, (row + 1) * self.dims);
        match &self.vectors {
            Vectors::Int8(q) => {
                if let Some(codes) = q.codes.get(a..b) {
                    crate::simd::prefetch_all(codes);
                }
            }
            v => {
                if let Some(x) = v.floats().and_then(|f| f.get(a..b)) {
                    crate::simd::prefetch_all(x);
                }
            }
        }
    }

    /// Row `row`'s vector: borrowed, or decoded from int8 into `scratch`.
    #[inline]
    pub(crate) fn vector<'s>(&'s self, row: usize, scratch: &'s mut Vec<f32>) -> &'s [f32] {
        self.block(row, row + 1, scratch)
    }

    /// Replaces the float vectors by an int8 copy fitted to them (no-op if already int8).
    pub(crate) fn quantize_int8(&mut self) {
        if let Some(v) = self.vectors.floats() {
            self.vectors = Vectors::Int8(Sq8::fit(v, self.dims));
        }
    }

    pub(crate) fn id(&self, row: usize) -> &str {
        let end = self.id_ends.get(row).copied().unwrap_or(0) as usize;
        let start = if row == 0 {
            0
        } else {
            self.id_ends.get(row - 1).copied().unwrap_or(0) as usize
        };
        std::str::from_utf8(&self.id_bytes[start..end]).unwrap_or("")
    }

    #[inline]
    pub(crate) fn tag(&self, row: usize) -> u32 {
        self.tags.get(row).copied().unwrap_or(NO_TAG)
    }

    pub(crate) fn attrs(&self, row: usize) -> &[Attr] {
        let end = self.attr_ends.get(row).copied().unwrap_or(0) as usize;
        let start = if row == 0 {
            0
        } else {
            self.attr_ends.get(row - 1).copied().unwrap_or(0) as usize
        };
        &self.attrs[start..end]
    }

    /// The live row holding `id`.
    pub(crate) fn row_of(&self, id: &str) -> Option<usize> {
        let h = self.hasher.hash_one(id);
        self.id_table
            .find(h, |&r| self.id(r as usize) == id)
            .map(|&r| r as usize)
    }

    /// Appends a row. The caller has validated the vector (length, finite values, norm) and
    /// checked that `id` is not live. An empty `vector` appends no vector: the loader sets
    /// all vectors at once afterwards with [`Store::set_vectors`].
    pub(crate) fn push(&mut self, example: &Example, vector: &[f32]) -> usize {
        let row = self.rows();
        if !vector.is_empty() {
            match &mut self.vectors {
                Vectors::Int8(q) => q.push(vector),
                v => v.to_mut().extend_from_slice(vector),
            }
        }
        self.id_bytes.extend_from_slice(example.id.as_bytes());
        self.id_ends.push(self.id_bytes.len() as u64);
        let h = self.hasher.hash_one(example.id.as_str());
        let (ids, id_bytes, hasher) = (&self.id_ends, &self.id_bytes, &self.hasher);
        self.id_table
            .insert_unique(h, row as u32, |&r| hash_row(hasher, id_bytes, ids, r));
        self.live.grow(row + 1);
        self.live.insert(row);
        self.live_count += 1;
        let tag = match &example.crowding_tag {
            Some(t) => self.tag_names.intern(t),
            None => NO_TAG,
        };
        self.tags.push(tag);
        for r in &example.restricts {
            let ns = self.strings.intern(&r.namespace);
            for t in &r.allow {
                let token = self.strings.intern(t);
                self.attrs.push(Attr::Allow { ns, token });
                self.allow_postings
                    .entry((ns, token))
                    .or_default()
                    .push(row as u32);
            }
            for t in &r.deny {
                let token = self.strings.intern(t);
                self.attrs.push(Attr::Deny { ns, token });
                self.deny_postings
                    .entry((ns, token))
                    .or_default()
                    .push(row as u32);
            }
        }
        for n in &example.numeric_restricts {
            let ns = self.strings.intern(&n.namespace);
            self.attrs.push(Attr::Number { ns, value: n.value });
        }
        self.attr_ends.push(self.attrs.len() as u32);
        row
    }

    /// Makes room for `additional` more rows, so that a bulk insert allocates once.
    pub(crate) fn reserve(&mut self, additional: usize) {
        match &mut self.vectors {
            Vectors::Int8(q) => q.codes.reserve_exact(additional * self.dims),
            v => v.to_mut().reserve_exact(additional * self.dims),
        }
        self.id_ends.reserve_exact(additional);
        self.tags.reserve_exact(additional);
        self.attr_ends.reserve_exact(additional);
        let (ids, id_bytes, hasher) = (&self.id_ends, &self.id_bytes, &self.hasher);
        self.id_table
            .reserve(additional, |&r| hash_row(hasher, id_bytes, ids, r));
    }

    /// Deletes a live row (a tombstone). Returns false if it was not live.
    pub(crate) fn delete(&mut self, row: usize) -> bool {
        if !self.is_live(row) {
            return false;
        }
        let h = self.hasher.hash_one(self.id(row));
        if let Ok(entry) = self.id_table.find_entry(h, |&r| r as usize == row) {
            entry.remove();
        }
        self.live.remove(row);
        self.live_count -= 1;
        true
    }

    /// Rebuilds the example stored in `row` (its vector as stored, i.e. after the norm).
    pub(crate) fn example(&self, row: usize) -> Example {
        let mut restricts: Vec<TokenRestrict> = Vec::new();
        let mut numeric_restricts = Vec::new();
        let slot = |restricts: &mut Vec<TokenRestrict>, ns: u32| -> usize {
            let name = self.strings.name(ns);
            match restricts.iter().position(|r| r.namespace == name) {
                Some(i) => i,
                None => {
                    restricts.push(TokenRestrict {
                        namespace: name.to_owned(),
                        ..TokenRestrict::default()
                    });
                    restricts.len() - 1
                }
            }
        };
        for a in self.attrs(row) {
            match *a {
                Attr::Allow { ns, token } => {
                    let i = slot(&mut restricts, ns);
                    restricts[i].allow.push(self.strings.name(token).to_owned());
                }
                Attr::Deny { ns, token } => {
                    let i = slot(&mut restricts, ns);
                    restricts[i].deny.push(self.strings.name(token).to_owned());
                }
                Attr::Number { ns, value } => numeric_restricts.push(NumericRestrict {
                    namespace: self.strings.name(ns).to_owned(),
                    value,
                }),
            }
        }
        let tag = self.tag(row);
        Example {
            id: self.id(row).to_owned(),
            vector: self.vector(row, &mut Vec::new()).to_vec(),
            restricts,
            numeric_restricts,
            crowding_tag: (tag != NO_TAG).then(|| self.tag_names.name(tag).to_owned()),
        }
    }

    /// Sets the vectors of all rows pushed so far (the loader's second step).
    pub(crate) fn set_vectors(&mut self, vectors: Vectors) {
        self.vectors = vectors;
    }

    /// Whether the vectors are read from a mapped file.
    pub(crate) fn is_mapped(&self) -> bool {
        matches!(self.vectors, Vectors::Mapped(_))
    }

    /// Approximate heap bytes held, for statistics.
    pub(crate) fn heap_bytes(&self) -> usize {
        let vectors = match &self.vectors {
            Vectors::Owned(v) => v.capacity() * 4,
            Vectors::Mapped(_) => 0,
            Vectors::Int8(q) => q.codes.capacity() + q.min.len() * 8,
        };
        let postings: usize = self
            .allow_postings
            .values()
            .chain(self.deny_postings.values())
            .map(|v| v.capacity() * 4 + 40)
            .sum();
        vectors
            + self.id_bytes.capacity()
            + self.id_ends.capacity() * 8
            + self.id_table.capacity() * 5
            + self.tags.capacity() * 4
            + self.attr_ends.capacity() * 4
            + self.attrs.capacity() * std::mem::size_of::<Attr>()
            + postings
            + self.live.len() / 8
    }
}
