//! The on-disk format: one file per index, little-endian, checksummed, memory-mapped on load.
//!
//! ```text
//! offset  size  field
//! ------  ----  ---------------------------------------------------------------
//!      0     8  magic  b"PRSMNBRS"
//!      8     4  FORMAT_VERSION (u32, currently 3; versions 1 and 2 are read too)
//!     12     4  header length (u32, 64)
//!     16     4  section count S (u32)
//!     20     4  flags (u32, 0)
//!     24     8  file length in bytes (u64): a shorter file is truncated
//!     32     4  CRC-32 of the section table (u32)
//!     36    24  reserved, zero
//!     60     4  CRC-32 of bytes 0..60 (u32)
//!     64  32×S  section table, one entry per section:
//!               kind u32 | CRC-32 of the payload u32 | offset u64 | length u64 | reserved u64
//!      …        payloads, each starting at a multiple of 64 bytes, zero padding between
//! ```
//!
//! Sections (kind: content), every number little-endian (version 3; version 1 and 2 files,
//! which differ where noted, still load):
//! 1. **config**: dimensions u32, distance u8 (0 SquaredL2, 1 L1, 2 DotProduct, 3 Cosine),
//!    norm u8 (0 None, 1 UnitL2), algorithm u8 (0 brute force, 1 tree-AH), tree present u8,
//!    seed u64, leaf_node_embedding_count u64, fraction_leaf_nodes_to_search f64,
//!    approximate_neighbors_count u64, rows n u64, spill u8 (1: tree-AH stores each row in
//!    one or two partitions), vector storage u8 (0 float32, 1 int8), anisotropic
//!    quantisation threshold f32 (0: none) (these two absent in version 1), dimensions per
//!    code sub-space u8 (absent before version 3, where it is 2).
//! 2. **ids**: n lengths as LEB128 varints, then the UTF-8 ids back to back (version 1: n
//!    end offsets u64).
//! 3. **vectors** (float32 storage): n × dimensions f32, row-major (after the feature norm).
//!    Mapped, not copied, on load.
//! 7. **int8 vectors** (int8 storage, instead of 3): dimensions × f32 minima, dimensions ×
//!    f32 steps, then n × dimensions u8 codes, row-major (component = minimum + step × code).
//! 4. **tags**: has-tags u8 (absent in version 1), then if 1 (always in version 1) n × u32
//!    crowding tag numbers (0xFFFF_FFFF: none), then a string table.
//! 5. **attributes**: a string table (namespaces and tokens), has-attributes u8 (absent in
//!    version 1), then if 1 (always in version 1) n end offsets u32 into the records that
//!    follow, then 16-byte records: kind u8 (0 allow token, 1 deny token, 2 int, 3 float,
//!    4 double), 3 zero bytes, namespace u32, value u64 (token number, i64, f32 bits in the
//!    low half, or f64 bits).
//! 6. **tree** (tree-AH only, once trained): partitions P u32, sub-spaces m u32, P ×
//!    dimensions f32 centroids, m × 16 × b f32 codebooks (b: dimensions per sub-space), then
//!    per partition:
//!    - versions 2 and 3: home count h u32, extra count e u32, e extra row numbers u32; the
//!      partition holds rows `s .. s + h` (`s`: the home counts of the partitions before it;
//!      rows are saved grouped by their first partition, so the home counts add up to n)
//!      then the extra rows (a spilled row's second copy), c = h + e in all; its codes:
//!      ⌊c / 32⌋ full blocks of m / 2 × 32 bytes (the `simd` layout) then c mod 32 codes
//!      of m / 2 bytes (sub-space 2i in the low nibble of byte i, 2i + 1 in the high one),
//!      so that no padding is stored; for SquaredL2, c × f32 squared norms.
//!    - version 1: count c u32, c row numbers u32, ⌈c / 32⌉ blocks of codes, the last one
//!      zero-padded, and for SquaredL2 c × f32 squared norms.
//!
//!    Every row appears in exactly one partition, or with spill in one or two.
//!
//! A string table is: count u32, count end offsets u64, then the UTF-8 strings back to back.
//!
//! Saving writes live rows only (deleted rows are dropped, rows renumbered and, for tree-AH,
//! grouped by partition, which also makes re-ordering read nearby rows), to a temporary
//! file in the same directory that is synced and then renamed over the target, so readers
//! see the old file or the new one, never a mix. Loading checks the magic, version, lengths,
//! every CRC-32 and every cross-reference, and refuses the file whole on any mismatch.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use crate::distance::{DistanceMeasure, FeatureNorm};
use crate::error::{NeighborsError, Result};
use crate::example::{Example, NumericRestrict, NumericValue, TokenRestrict};
use crate::index::{Algorithm, Index, IndexConfig, VectorStorage};
use crate::mapped::{MappedF32, MappedFile};
use crate::pq::{subspaces, Pq, KSUB};
use crate::simd::BLOCK;
use crate::store::{Attr, Sq8, Store, Strings, Vectors, NO_TAG};
use crate::tree_ah::{put_code, Partition, TreeAh};

/// The first 8 bytes of every index file.
pub const MAGIC: [u8; 8] = *b"PRSMNBRS";
/// The format version this build writes; it reads this one and versions 1 and 2.
pub const FORMAT_VERSION: u32 = 3;
/// The oldest format version this build reads.
pub const OLDEST_READABLE_VERSION: u32 = 1;
const HEADER_LEN: usize = 64;
const ENTRY_LEN: usize = 32;
const ALIGN: usize = 64;

const CONFIG: u32 = 1;
const IDS: u32 = 2;
const VECTORS: u32 = 3;
const TAGS: u32 = 4;
const ATTRS: u32 = 5;
const TREE: u32 = 6;
const VECTORS_INT8: u32 = 7;

fn section_name(kind: u32) -> &'static str {
    match kind {
        CONFIG => "config",
        IDS => "ids",
        VECTORS => "vectors",
        TAGS => "tags",
        ATTRS => "attributes",
        TREE => "tree",
        VECTORS_INT8 => "int8 vectors",
        _ => "unknown",
    }
}

#[derive(Default)]
struct Buf(Vec<u8>);

impl Buf {
    fn u8(&mut self, v: u8) {
        self.0.push(v);
    }
    fn u32(&mut self, v: u32) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn u64(&mut self, v: u64) {
        self.0.extend_from_slice(&v.to_le_bytes());
    }
    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.0.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.0.push(v as u8);
    }
    fn f32s(&mut self, v: &[f32]) {
        self.0.reserve(v.len() * 4);
        for x in v {
            self.0.extend_from_slice(&x.to_le_bytes());
        }
    }
    fn strings(&mut self, names: &[String]) {
        self.u32(names.len() as u32);
        let mut end = 0u64;
        for n in names {
            end += n.len() as u64;
            self.u64(end);
        }
        for n in names {
            self.0.extend_from_slice(n.as_bytes());
        }
    }
}

/// Writes `index` to `path` atomically (temporary file, sync, rename).
pub(crate) fn save(index: &Index, path: &Path) -> Result<()> {
    let io = |source| NeighborsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let sections = encode(index);
    let mut table = Buf::default();
    let mut offset = HEADER_LEN + ENTRY_LEN * sections.len();
    let mut placed = Vec::with_capacity(sections.len());
    for (kind, payload) in &sections {
        offset = offset.next_multiple_of(ALIGN);
        table.u32(*kind);
        table.u32(crc32fast::hash(payload));
        table.u64(offset as u64);
        table.u64(payload.len() as u64);
        table.u64(0);
        placed.push(offset);
        offset += payload.len();
    }
    let file_len = offset;
    let mut header = Buf::default();
    header.0.extend_from_slice(&MAGIC);
    header.u32(FORMAT_VERSION);
    header.u32(HEADER_LEN as u32);
    header.u32(sections.len() as u32);
    header.u32(0);
    header.u64(file_len as u64);
    header.u32(crc32fast::hash(&table.0));
    header.0.resize(60, 0);
    let crc = crc32fast::hash(&header.0);
    header.u32(crc);

    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp: PathBuf = dir.join(format!(".{name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(File::create(&tmp)?);
        f.write_all(&header.0)?;
        f.write_all(&table.0)?;
        let mut at = HEADER_LEN + table.0.len();
        for ((_, payload), &start) in sections.iter().zip(&placed) {
            f.write_all(&vec![0u8; start - at])?;
            f.write_all(payload)?;
            at = start + payload.len();
        }
        let f = f.into_inner().map_err(|e| e.into_error())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        // Make the rename itself durable; not every platform can open a directory.
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(io)
}

fn encode(index: &Index) -> Vec<(u32, Vec<u8>)> {
    let store = &index.store;
    let config = &index.config;
    let dims = config.dimensions;
    // The live rows in their new order: grouped by the first partition holding them (so that
    // each partition's home rows are a range), or as they are without a tree.
    let mut order: Vec<usize> = Vec::with_capacity(store.live_count());
    let mut renumber = vec![u32::MAX; store.rows()];
    let mut home_counts = Vec::new();
    if let Some(tree) = &index.tree {
        for part in &tree.partitions {
            let before = order.len();
            for &row in &part.rows {
                let row = row as usize;
                if store.is_live(row) && renumber[row] == u32::MAX {
                    renumber[row] = order.len() as u32;
                    order.push(row);
                }
            }
            home_counts.push(order.len() - before);
        }
    }
    for row in store.live().iter() {
        if renumber[row] == u32::MAX {
            renumber[row] = order.len() as u32;
            order.push(row);
        }
    }
    let n = order.len();

    let mut c = Buf::default();
    c.u32(dims as u32);
    c.u8(config.distance.code());
    c.u8(config.norm.code());
    let (alg, leaf, fraction, approx) = match config.algorithm {
        Algorithm::BruteForce => (0u8, 0u64, 0f64, 0u64),
        Algorithm::TreeAh {
            leaf_node_embedding_count,
            fraction_leaf_nodes_to_search,
            approximate_neighbors_count,
        } => (
            1,
            leaf_node_embedding_count as u64,
            fraction_leaf_nodes_to_search,
            approximate_neighbors_count as u64,
        ),
    };
    c.u8(alg);
    c.u8(u8::from(index.tree.is_some()));
    c.u64(config.seed);
    c.u64(leaf);
    c.0.extend_from_slice(&fraction.to_le_bytes());
    c.u64(approx);
    c.u64(n as u64);
    c.u8(u8::from(config.spill));
    let int8 = store.int8();
    c.u8(u8::from(int8.is_some()));
    c.0.extend_from_slice(&config.anisotropic.unwrap_or(0.0).to_le_bytes());
    c.u8(config.dims_per_block as u8);

    let mut ids = Buf::default();
    for &r in &order {
        ids.varint(store.id(r).len() as u64);
    }
    for &r in &order {
        ids.0.extend_from_slice(store.id(r).as_bytes());
    }

    let vectors = match int8 {
        Some(q) => {
            let mut v = Buf::default();
            v.f32s(&q.min);
            v.f32s(&q.scale);
            v.0.reserve(n * dims);
            for &r in &order {
                v.0.extend_from_slice(&q.codes[r * dims..(r + 1) * dims]);
            }
            (VECTORS_INT8, v.0)
        }
        None => {
            let mut v = Buf::default();
            v.0.reserve(n * dims * 4);
            let mut scratch = Vec::new();
            for &r in &order {
                v.f32s(store.vector(r, &mut scratch));
            }
            (VECTORS, v.0)
        }
    };

    let mut tags = Buf::default();
    let tagged = order.iter().any(|&r| store.tag(r) != NO_TAG);
    tags.u8(u8::from(tagged));
    if tagged {
        for &r in &order {
            tags.u32(store.tag(r));
        }
    }
    tags.strings(&store.tag_names.names);

    let mut attrs = Buf::default();
    attrs.strings(&store.strings.names);
    let has_attrs = order.iter().any(|&r| !store.attrs(r).is_empty());
    attrs.u8(u8::from(has_attrs));
    if has_attrs {
        let mut end = 0u32;
        for &r in &order {
            end += store.attrs(r).len() as u32;
            attrs.u32(end);
        }
    }
    for &r in &order {
        for a in store.attrs(r) {
            let (kind, ns, value) = match *a {
                Attr::Allow { ns, token } => (0u8, ns, u64::from(token)),
                Attr::Deny { ns, token } => (1, ns, u64::from(token)),
                Attr::Number { ns, value } => match value {
                    NumericValue::Int(v) => (2, ns, v as u64),
                    NumericValue::Float(v) => (3, ns, u64::from(v.to_bits())),
                    NumericValue::Double(v) => (4, ns, v.to_bits()),
                },
            };
            attrs.u8(kind);
            attrs.0.extend_from_slice(&[0, 0, 0]);
            attrs.u32(ns);
            attrs.u64(value);
        }
    }

    let mut sections = vec![
        (CONFIG, c.0),
        (IDS, ids.0),
        vectors,
        (TAGS, tags.0),
        (ATTRS, attrs.0),
    ];
    if let Some(tree) = &index.tree {
        let mut t = Buf::default();
        t.u32(tree.partitions.len() as u32);
        t.u32(tree.pq.m as u32);
        t.f32s(&tree.centroids);
        t.f32s(&tree.pq.codebooks);
        let l2 = tree.measure == DistanceMeasure::SquaredL2;
        let block_bytes = tree.pq.m / 2 * BLOCK;
        let mut start = 0u32;
        for (p, part) in tree.partitions.iter().enumerate() {
            // Home rows (a range, in order) first, then the extra copies.
            let home = home_counts[p] as u32;
            let range = start..start + home;
            start += home;
            let mut entries: Vec<(u32, usize)> = part
                .rows
                .iter()
                .enumerate()
                .map(|(slot, &row)| (renumber[row as usize], slot))
                .filter(|&(new, _)| new != u32::MAX)
                .collect();
            entries.sort_by_key(|&(new, _)| (!range.contains(&new), new));
            let extras: Vec<u32> = entries
                .iter()
                .map(|e| e.0)
                .filter(|r| !range.contains(r))
                .collect();
            t.u32(home);
            t.u32(extras.len() as u32);
            for &r in &extras {
                t.u32(r);
            }
            let full = entries.len() / BLOCK;
            let mut blocks = Vec::with_capacity(full * block_bytes);
            for (i, &(_, slot)) in entries[..full * BLOCK].iter().enumerate() {
                put_code(&mut blocks, i, tree.pq.m, &tree.codes_of(p, slot));
            }
            t.0.extend_from_slice(&blocks);
            for &(_, slot) in &entries[full * BLOCK..] {
                let codes = tree.codes_of(p, slot);
                for pair in codes.chunks(2) {
                    t.u8(pair[0] | (pair.get(1).copied().unwrap_or(0) << 4));
                }
            }
            if l2 {
                for &(_, slot) in &entries {
                    t.f32s(&[part.sq_norms.get(slot).copied().unwrap_or(0.0)]);
                }
            }
        }
        sections.push((TREE, t.0));
    }
    sections
}

/// A bounds-checked little-endian reader over one section.
struct Reader<'a> {
    bytes: &'a [u8],
    at: usize,
    section: &'static str,
}

type Parse<T> = std::result::Result<T, String>;

impl<'a> Reader<'a> {
    fn new(bytes: &'a [u8], section: &'static str) -> Self {
        Reader {
            bytes,
            at: 0,
            section,
        }
    }
    fn take(&mut self, n: usize) -> Parse<&'a [u8]> {
        let end = self
            .at
            .checked_add(n)
            .filter(|&e| e <= self.bytes.len())
            .ok_or_else(|| format!("section {} is shorter than its content", self.section))?;
        let s = &self.bytes[self.at..end];
        self.at = end;
        Ok(s)
    }
    fn u8(&mut self) -> Parse<u8> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> Parse<u32> {
        let b = self.take(4)?;
        Ok(u32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }
    fn u64(&mut self) -> Parse<u64> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(u64::from_le_bytes(a))
    }
    fn usize(&mut self) -> Parse<usize> {
        usize::try_from(self.u64()?)
            .map_err(|_| format!("section {}: a length overflows", self.section))
    }
    fn varint(&mut self) -> Parse<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(format!("section {}: a varint is too long", self.section))
    }
    fn f32s(&mut self, n: usize) -> Parse<Vec<f32>> {
        let bytes = self.take(n.checked_mul(4).ok_or("a length overflows")?)?;
        Ok(bytes
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            .collect())
    }
    fn count(&mut self, max: usize, what: &str) -> Parse<usize> {
        let n = self.u32()? as usize;
        if n > max {
            return Err(format!(
                "section {}: {what} {n} is impossible here",
                self.section
            ));
        }
        Ok(n)
    }
    fn strings(&mut self) -> Parse<Vec<String>> {
        let remaining = self.bytes.len() - self.at;
        let count = self.count(remaining / 8, "string count")?;
        let mut ends = Vec::with_capacity(count);
        for _ in 0..count {
            ends.push(self.usize()?);
        }
        let total = ends.last().copied().unwrap_or(0);
        let bytes = self.take(total)?;
        let mut out = Vec::with_capacity(count);
        let mut start = 0;
        for end in ends {
            if end < start || end > total {
                return Err(format!(
                    "section {}: string offsets out of order",
                    self.section
                ));
            }
            let s = std::str::from_utf8(&bytes[start..end])
                .map_err(|_| format!("section {}: a string is not UTF-8", self.section))?;
            out.push(s.to_owned());
            start = end;
        }
        Ok(out)
    }
    fn finish(&self) -> Parse<()> {
        if self.at != self.bytes.len() {
            return Err(format!(
                "section {} has {} trailing bytes",
                self.section,
                self.bytes.len() - self.at
            ));
        }
        Ok(())
    }
}

/// Loads an index file, mapping it and reading vectors in place.
pub(crate) fn load(path: &Path) -> Result<Index> {
    let corrupt = |reason: String| NeighborsError::Corrupt {
        path: path.to_path_buf(),
        reason,
    };
    let io = |source| NeighborsError::Io {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(io)?;
    let len = file.metadata().map_err(io)?.len();
    if len < HEADER_LEN as u64 {
        return Err(corrupt(format!(
            "truncated: {len} bytes, the header alone is {HEADER_LEN}"
        )));
    }
    let mapped = MappedFile::map(&file).map_err(io)?;
    let index = decode(&mapped).map_err(corrupt)?;
    Ok(index)
}

/// A row of a partition's last, partial block of codes: row, codes, squared norm.
type TailEntry = (u32, Vec<u8>, Option<f32>);

fn decode(mapped: &std::sync::Arc<MappedFile>) -> Parse<Index> {
    let bytes = mapped.bytes();
    let mut h = Reader::new(&bytes[..HEADER_LEN], "header");
    if h.take(8)? != MAGIC {
        return Err("not a Prism index file (bad magic)".into());
    }
    let version = h.u32()?;
    if !(OLDEST_READABLE_VERSION..=FORMAT_VERSION).contains(&version) {
        return Err(format!(
            "format version {version}, this build reads versions \
             {OLDEST_READABLE_VERSION} to {FORMAT_VERSION}"
        ));
    }
    let v1 = version == 1;
    if crc32fast::hash(&bytes[..60])
        != u32::from_le_bytes([bytes[60], bytes[61], bytes[62], bytes[63]])
    {
        return Err("the header fails its CRC-32".into());
    }
    let header_len = h.u32()? as usize;
    let count = h.u32()? as usize;
    let _flags = h.u32()?;
    let file_len = h.u64()?;
    let table_crc = h.u32()?;
    if header_len != HEADER_LEN {
        return Err(format!("header length {header_len}, expected {HEADER_LEN}"));
    }
    if (bytes.len() as u64) < file_len {
        return Err(format!("truncated: {} bytes of {file_len}", bytes.len()));
    }
    if bytes.len() as u64 != file_len {
        return Err(format!("{} bytes, the header says {file_len}", bytes.len()));
    }
    let table_end = HEADER_LEN
        .checked_add(
            count
                .checked_mul(ENTRY_LEN)
                .ok_or("section count overflows")?,
        )
        .filter(|&e| e <= bytes.len())
        .ok_or("the section table runs past the end of the file")?;
    let table = &bytes[HEADER_LEN..table_end];
    if crc32fast::hash(table) != table_crc {
        return Err("the section table fails its CRC-32".into());
    }
    let mut sections: Vec<(u32, usize, &[u8])> = Vec::with_capacity(count);
    let mut t = Reader::new(table, "table");
    for _ in 0..count {
        let kind = t.u32()?;
        let crc = t.u32()?;
        let offset = t.usize()?;
        let len = t.usize()?;
        let _ = t.u64()?;
        let payload = offset
            .checked_add(len)
            .filter(|&e| offset >= table_end && e <= bytes.len())
            .map(|e| &bytes[offset..e])
            .ok_or_else(|| {
                format!(
                    "section {} runs past the end of the file",
                    section_name(kind)
                )
            })?;
        if crc32fast::hash(payload) != crc {
            return Err(format!("section {} fails its CRC-32", section_name(kind)));
        }
        sections.push((kind, offset, payload));
    }
    // Bytes outside the header, the table and the payloads are padding and must be zero, so
    // that no byte of the file escapes a check.
    let mut covered: Vec<(usize, usize)> =
        sections.iter().map(|s| (s.1, s.1 + s.2.len())).collect();
    covered.sort_unstable();
    let mut at = table_end;
    for (start, end) in covered.into_iter().chain([(bytes.len(), bytes.len())]) {
        if start < at {
            return Err("sections overlap".into());
        }
        if bytes[at..start].iter().any(|&b| b != 0) {
            return Err(format!("padding at bytes {at}..{start} is not zero"));
        }
        at = end;
    }
    let find = |kind: u32| -> Parse<(usize, &[u8])> {
        sections
            .iter()
            .find(|s| s.0 == kind)
            .map(|s| (s.1, s.2))
            .ok_or_else(|| format!("section {} is missing", section_name(kind)))
    };

    // Config.
    let mut c = Reader::new(find(CONFIG)?.1, "config");
    let dims = c.u32()? as usize;
    let distance = DistanceMeasure::from_code(c.u8()?).ok_or("unknown distance measure")?;
    let norm = FeatureNorm::from_code(c.u8()?).ok_or("unknown feature norm")?;
    let alg = c.u8()?;
    let has_tree = c.u8()? != 0;
    let seed = c.u64()?;
    let leaf = c.usize()?;
    let fraction = f64::from_le_bytes(c.take(8)?.try_into().map_err(|_| "config")?);
    let approx = c.usize()?;
    let n = c.usize()?;
    let spill = c.u8()? != 0;
    let storage = if v1 { 0 } else { c.u8()? };
    let anisotropic = if v1 {
        None
    } else {
        let t = f32::from_le_bytes(c.take(4)?.try_into().map_err(|_| "config")?);
        (t != 0.0).then_some(t)
    };
    let dims_per_block = if version >= 3 {
        usize::from(c.u8()?)
    } else {
        crate::pq::DEFAULT_DIMS_PER_BLOCK
    };
    c.finish()?;
    let vector_storage = match storage {
        0 => VectorStorage::Float32,
        1 => VectorStorage::Int8,
        other => return Err(format!("unknown vector storage {other}")),
    };
    let algorithm = match alg {
        0 => Algorithm::BruteForce,
        1 => Algorithm::TreeAh {
            leaf_node_embedding_count: leaf,
            fraction_leaf_nodes_to_search: fraction,
            approximate_neighbors_count: approx,
        },
        other => return Err(format!("unknown algorithm {other}")),
    };
    let config = IndexConfig {
        dimensions: dims,
        distance,
        norm,
        algorithm,
        seed,
        spill,
        vectors: vector_storage,
        anisotropic,
        dims_per_block,
    };
    config.validate().map_err(|e| e.to_string())?;
    if n > crate::store::MAX_ROWS {
        return Err(format!("{n} rows is more than an index holds"));
    }

    // Vectors.
    let floats = n.checked_mul(dims).ok_or("vector count overflows")?;
    let vectors = match vector_storage {
        VectorStorage::Float32 => {
            let (vec_offset, vec_bytes) = find(VECTORS)?;
            if vec_bytes.len() != floats * 4 {
                return Err(format!(
                    "section vectors holds {} bytes, {n} rows × {dims} dimensions need {}",
                    vec_bytes.len(),
                    floats * 4
                ));
            }
            let vectors = match MappedF32::new(mapped.clone(), vec_offset, floats) {
                Some(m) => Vectors::Mapped(m),
                None => Vectors::Owned(Reader::new(vec_bytes, "vectors").f32s(floats)?),
            };
            if let Some(i) = vectors
                .floats()
                .unwrap_or(&[])
                .iter()
                .position(|x| !x.is_finite())
            {
                return Err(format!(
                    "section vectors: row {} has a non-finite value",
                    i / dims
                ));
            }
            vectors
        }
        VectorStorage::Int8 => {
            let mut r = Reader::new(find(VECTORS_INT8)?.1, "int8 vectors");
            let min = r.f32s(dims)?;
            let scale = r.f32s(dims)?;
            if min.iter().chain(&scale).any(|x| !x.is_finite()) {
                return Err("section int8 vectors: a range is not finite".into());
            }
            let codes = r.take(floats)?.to_vec();
            r.finish()?;
            Vectors::Int8(Sq8 { min, scale, codes })
        }
    };

    // Ids.
    let mut r = Reader::new(find(IDS)?.1, "ids");
    let mut id_ends = Vec::with_capacity(n);
    let mut end = 0usize;
    for _ in 0..n {
        if v1 {
            id_ends.push(r.usize()?);
        } else {
            let len =
                usize::try_from(r.varint()?).map_err(|_| "section ids: a length overflows")?;
            end = end
                .checked_add(len)
                .ok_or("section ids: lengths overflow")?;
            id_ends.push(end);
        }
    }
    let id_bytes = r.take(id_ends.last().copied().unwrap_or(0))?;
    r.finish()?;

    // Tags.
    let mut r = Reader::new(find(TAGS)?.1, "tags");
    let tagged = v1 || r.u8()? != 0;
    let mut tags = Vec::with_capacity(n);
    for _ in 0..n {
        tags.push(if tagged { r.u32()? } else { NO_TAG });
    }
    let tag_names = r.strings()?;
    r.finish()?;

    // Attributes.
    let mut r = Reader::new(find(ATTRS)?.1, "attributes");
    let strings = Strings::from_names(r.strings()?);
    let has_attrs = v1 || r.u8()? != 0;
    let mut attr_ends = Vec::with_capacity(n);
    for _ in 0..n {
        attr_ends.push(if has_attrs { r.u32()? as usize } else { 0 });
    }
    let total_attrs = attr_ends.last().copied().unwrap_or(0);
    let mut attrs = Vec::with_capacity(total_attrs);
    for _ in 0..total_attrs {
        let kind = r.u8()?;
        r.take(3)?;
        let ns = r.u32()?;
        let value = r.u64()?;
        let name = |i: u64| -> Parse<String> {
            u32::try_from(i)
                .ok()
                .filter(|&i| (i as usize) < strings.names.len())
                .map(|i| strings.name(i).to_owned())
                .ok_or_else(|| "section attributes: a string number is out of range".to_owned())
        };
        let ns_name = name(u64::from(ns))?;
        attrs.push(match kind {
            0 => (ns_name, Ok(name(value)?), true),
            1 => (ns_name, Ok(name(value)?), false),
            2 => (ns_name, Err(NumericValue::Int(value as i64)), true),
            3 => (
                ns_name,
                Err(NumericValue::Float(f32::from_bits(value as u32))),
                true,
            ),
            4 => (
                ns_name,
                Err(NumericValue::Double(f64::from_bits(value))),
                true,
            ),
            other => return Err(format!("section attributes: unknown record kind {other}")),
        });
    }
    r.finish()?;

    // Rebuild the store row by row (ids, tags, attributes, inverted lists), then attach
    // the mapped vectors.
    let mut store = Store::new(dims);
    let mut start = 0usize;
    let mut attr_start = 0usize;
    for row in 0..n {
        let end = id_ends[row];
        if end < start || end > id_bytes.len() {
            return Err("section ids: offsets out of order".into());
        }
        let id = std::str::from_utf8(&id_bytes[start..end])
            .map_err(|_| "section ids: an id is not UTF-8")?;
        start = end;
        if id.is_empty() || store.row_of(id).is_some() {
            return Err(format!("section ids: id {id:?} is empty or repeated"));
        }
        let tag = tags[row];
        let crowding_tag = if tag == NO_TAG {
            None
        } else {
            Some(
                tag_names
                    .get(tag as usize)
                    .ok_or("section tags: a tag number is out of range")?
                    .clone(),
            )
        };
        let attr_end = attr_ends[row];
        if attr_end < attr_start || attr_end > attrs.len() {
            return Err("section attributes: offsets out of order".into());
        }
        let mut restricts: Vec<TokenRestrict> = Vec::new();
        let mut numeric_restricts = Vec::new();
        for (ns, value, allow) in &attrs[attr_start..attr_end] {
            match value {
                Ok(token) => {
                    let i = match restricts.iter().position(|r| &r.namespace == ns) {
                        Some(i) => i,
                        None => {
                            restricts.push(TokenRestrict {
                                namespace: ns.clone(),
                                ..TokenRestrict::default()
                            });
                            restricts.len() - 1
                        }
                    };
                    if *allow {
                        restricts[i].allow.push(token.clone());
                    } else {
                        restricts[i].deny.push(token.clone());
                    }
                }
                Err(v) => numeric_restricts.push(NumericRestrict {
                    namespace: ns.clone(),
                    value: *v,
                }),
            }
        }
        attr_start = attr_end;
        let example = Example {
            id: id.to_owned(),
            vector: Vec::new(),
            restricts,
            numeric_restricts,
            crowding_tag,
        };
        store.push(&example, &[]);
    }
    store.set_vectors(vectors);

    // Tree.
    let tree = if has_tree {
        let mut r = Reader::new(find(TREE)?.1, "tree");
        let parts = r.count(n.max(1), "partition count")?;
        let m = r.u32()? as usize;
        if m != subspaces(dims, dims_per_block) {
            return Err(format!(
                "section tree: {m} sub-spaces, {dims} dimensions in blocks of {dims_per_block} need {}",
                subspaces(dims, dims_per_block)
            ));
        }
        let centroids = r.f32s(parts * dims)?;
        let codebooks = r.f32s(m * KSUB * dims_per_block)?;
        if centroids.iter().chain(&codebooks).any(|x| !x.is_finite()) {
            return Err("section tree: a centroid is not finite".into());
        }
        let block_bytes = m / 2 * BLOCK;
        // Each row is in one partition, or with spilling in one or two.
        let copies = if spill { 2u8 } else { 1 };
        let mut seen = vec![0u8; n];
        let mut partitions = Vec::with_capacity(parts);
        // Version 2: codes of the last, partial block of each partition, appended below.
        let mut tails: Vec<(usize, Vec<TailEntry>)> = Vec::new();
        let mut home_start = 0usize;
        for p in 0..parts {
            let mut rows = Vec::new();
            if v1 {
                let c = r.count(n, "partition size")?;
                for _ in 0..c {
                    rows.push(r.u32()?);
                }
            } else {
                let home = r.count(n - home_start, "home row count")?;
                let extra = r.count(n, "extra row count")?;
                rows.extend((home_start..home_start + home).map(|r| r as u32));
                home_start += home;
                for _ in 0..extra {
                    rows.push(r.u32()?);
                }
            }
            for &row in &rows {
                let slot = seen
                    .get_mut(row as usize)
                    .ok_or("section tree: a row number is out of range")?;
                if *slot >= copies {
                    return Err("section tree: a row is in too many partitions".into());
                }
                *slot += 1;
            }
            let c = rows.len();
            let full = if v1 { c.div_ceil(BLOCK) } else { c / BLOCK };
            let codes = r.take(full * block_bytes)?.to_vec();
            let tail_codes = if v1 {
                Vec::new()
            } else {
                r.take((c - full * BLOCK) * (m / 2))?.to_vec()
            };
            let mut sq_norms = if distance == DistanceMeasure::SquaredL2 {
                r.f32s(c)?
            } else {
                Vec::new()
            };
            if !v1 && c > full * BLOCK {
                let tail: Vec<TailEntry> = rows[full * BLOCK..]
                    .iter()
                    .zip(tail_codes.chunks_exact(m / 2))
                    .enumerate()
                    .map(|(i, (&row, packed))| {
                        let codes = packed.iter().flat_map(|&b| [b & 15, b >> 4]).collect();
                        (row, codes, sq_norms.get(full * BLOCK + i).copied())
                    })
                    .collect();
                rows.truncate(full * BLOCK);
                sq_norms.truncate(full * BLOCK);
                tails.push((p, tail));
            }
            partitions.push(Partition {
                rows,
                codes,
                sq_norms,
            });
        }
        r.finish()?;
        if seen.contains(&0) {
            return Err("section tree: a row is in no partition".into());
        }
        if !v1 && home_start != n {
            return Err("section tree: the home rows do not cover every row".into());
        }
        let centroid_norms = crate::kmeans::row_norms(&centroids, dims);
        Some(TreeAh {
            measure: distance,
            spill,
            unit_vectors: norm == FeatureNorm::UnitL2 || distance == DistanceMeasure::Cosine,
            dims,
            centroids,
            centroid_norms,
            pq: Pq::new(dims, dims_per_block, m, codebooks),
            partitions,
            gram: Vec::new(),
            anisotropic,
        })
        .map(|mut tree| {
            for (p, tail) in tails {
                for (row, codes, sq) in tail {
                    tree.append(p, row, &codes, sq);
                }
            }
            tree
        })
    } else {
        None
    };
    Ok(Index {
        config,
        store,
        tree,
    })
}
