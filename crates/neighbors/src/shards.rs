//! Sharded indexes (Vertex's `shardSize`): a large index split into shards that are built,
//! searched and saved separately, their answers merged.
//!
//! A [`ShardedIndex`] holds `⌈estimated bytes / shard bytes⌉` [`Index`]es with one
//! configuration (at least one). A row goes to the shard chosen by a fixed hash (FNV-1a) of
//! its crowding tag, or of its id when it has none, so that all rows of a tag share a shard:
//! each shard then answers exactly the rows of its tags, and the merged answer, the `k`
//! nearest of the shards' answers ordered by distance then id, is the answer one index over
//! every row gives, crowding included (for brute force: identical; for tree-AH each shard
//! has its own partitions and quantiser, trained on its rows). The shard count is fixed
//! when the index is built; [`ShardedIndex::add`] routes new rows with the same hash.
//!
//! Saved as a directory of `shard-NNNNN.prism` files, one per shard (the `format` module's
//! files), which [`ShardedIndex::load`] maps back.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::error::{NeighborsError, Result};
use crate::example::{Example, Neighbor, Query};
use crate::index::{Index, IndexConfig, IndexStats};

/// The size of one shard (Vertex's `shardSize`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ShardSize {
    /// `SHARD_SIZE_SMALL`: 2 GiB per shard.
    Small,
    /// `SHARD_SIZE_MEDIUM`: 20 GiB per shard.
    Medium,
    /// `SHARD_SIZE_LARGE`: 50 GiB per shard.
    Large,
    /// A given number of bytes per shard (not a Vertex value; for tests and tuning).
    Bytes(u64),
}

impl ShardSize {
    /// Bytes of one shard.
    pub fn bytes(self) -> u64 {
        const GIB: u64 = 1 << 30;
        match self {
            ShardSize::Small => 2 * GIB,
            ShardSize::Medium => 20 * GIB,
            ShardSize::Large => 50 * GIB,
            ShardSize::Bytes(b) => b.max(1),
        }
    }

    /// Parses a Vertex AI name (`SHARD_SIZE_SMALL`, `SHARD_SIZE_MEDIUM`, `SHARD_SIZE_LARGE`).
    pub fn from_vertex_name(name: &str) -> Option<Self> {
        match name {
            "SHARD_SIZE_SMALL" => Some(ShardSize::Small),
            "SHARD_SIZE_MEDIUM" => Some(ShardSize::Medium),
            "SHARD_SIZE_LARGE" => Some(ShardSize::Large),
            _ => None,
        }
    }

    /// The shards `count` examples of `dimensions` floats need: their float32 vectors plus
    /// about 100 bytes of codes, ids and tables each, over the shard size (at least one).
    pub fn shards_for(self, count: usize, dimensions: usize) -> usize {
        let per_example = dimensions as u64 * 4 + 100;
        let total = count as u64 * per_example;
        usize::try_from(total.div_ceil(self.bytes()).max(1)).unwrap_or(usize::MAX)
    }
}

/// FNV-1a: a fixed hash, so that a row goes to the same shard in every process.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// An index split into shards searched together (see the module documentation).
#[derive(Debug, Clone)]
pub struct ShardedIndex {
    shards: Vec<Index>,
}

impl ShardedIndex {
    /// Builds `shard_size.shards_for(examples.len(), dimensions)` shards over `examples`.
    pub fn build(
        config: IndexConfig,
        shard_size: ShardSize,
        examples: Vec<Example>,
    ) -> Result<ShardedIndex> {
        let count = shard_size.shards_for(examples.len(), config.dimensions);
        Self::build_with_shards(config, count, examples)
    }

    /// Builds exactly `count` shards (at least one) over `examples`.
    pub fn build_with_shards(
        config: IndexConfig,
        count: usize,
        examples: Vec<Example>,
    ) -> Result<ShardedIndex> {
        config.validate()?;
        let count = count.max(1);
        check_batch(&examples, config.dimensions)?;
        let mut parts: Vec<Vec<Example>> = vec![Vec::new(); count];
        for e in examples {
            parts[shard_of(&e, count)].push(e);
        }
        let shards = parts
            .into_iter()
            .map(|part| Index::build(config.clone(), part))
            .collect::<Result<Vec<_>>>()?;
        Ok(ShardedIndex { shards })
    }

    /// One index as a single shard.
    pub fn single(index: Index) -> ShardedIndex {
        ShardedIndex {
            shards: vec![index],
        }
    }

    /// The shards, in order.
    pub fn shards(&self) -> &[Index] {
        &self.shards
    }

    /// The configuration every shard shares.
    pub fn config(&self) -> &IndexConfig {
        self.shards[0].config()
    }

    /// How many examples a search can return.
    pub fn len(&self) -> usize {
        self.shards.iter().map(Index::len).sum()
    }

    /// Whether no shard holds an example.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Counts over all shards.
    pub fn stats(&self) -> IndexStats {
        let mut total = IndexStats {
            live: 0,
            deleted: 0,
            partitions: 0,
            heap_bytes: 0,
            mapped: true,
        };
        for s in &self.shards {
            let st = s.stats();
            total.live += st.live;
            total.deleted += st.deleted;
            total.partitions += st.partitions;
            total.heap_bytes += st.heap_bytes;
            total.mapped &= st.mapped;
        }
        total
    }

    /// Whether an example with this id is in some shard.
    pub fn contains(&self, id: &str) -> bool {
        self.shards.iter().any(|s| s.contains(id))
    }

    /// The stored example with this id.
    pub fn get(&self, id: &str) -> Option<Example> {
        self.shards.iter().find_map(|s| s.get(id))
    }

    /// The nearest examples over all shards, nearest first, ties broken by id.
    pub fn search(&self, query: &Query<'_>) -> Result<Vec<Neighbor>> {
        let mut all = Vec::new();
        for s in &self.shards {
            all.extend(s.search(query)?);
        }
        Ok(merge(all, query.k))
    }

    /// The exact answer over all shards.
    pub fn search_exact(&self, query: &Query<'_>) -> Result<Vec<Neighbor>> {
        let mut all = Vec::new();
        for s in &self.shards {
            all.extend(s.search_exact(query)?);
        }
        Ok(merge(all, query.k))
    }

    /// Answers several queries, each shard with [`Index::search_batch`].
    pub fn search_batch(&self, queries: &[Query<'_>]) -> Result<Vec<Vec<Neighbor>>> {
        let mut all: Vec<Vec<Neighbor>> = vec![Vec::new(); queries.len()];
        for s in &self.shards {
            for (a, found) in all.iter_mut().zip(s.search_batch(queries)?) {
                a.extend(found);
            }
        }
        Ok(all
            .into_iter()
            .zip(queries)
            .map(|(a, q)| merge(a, q.k))
            .collect())
    }

    /// Adds examples to their shards. An id already in the index is an error; on any error
    /// nothing is added.
    pub fn add(&mut self, examples: Vec<Example>) -> Result<()> {
        check_batch(&examples, self.config().dimensions)?;
        if let Some(e) = examples.iter().find(|e| self.contains(&e.id)) {
            return Err(NeighborsError::DuplicateId { id: e.id.clone() });
        }
        for (shard, part) in self.route(examples) {
            self.shards[shard].add(part)?;
        }
        Ok(())
    }

    /// Adds examples, replacing those whose ids are already in the index (in whichever
    /// shard). On any error nothing changes.
    pub fn upsert(&mut self, examples: Vec<Example>) -> Result<()> {
        check_batch(&examples, self.config().dimensions)?;
        let count = self.shards.len();
        for e in &examples {
            let home = shard_of(e, count);
            for (i, s) in self.shards.iter_mut().enumerate() {
                if i != home {
                    s.delete(&[e.id.as_str()]);
                }
            }
        }
        for (shard, part) in self.route(examples) {
            self.shards[shard].upsert(part)?;
        }
        Ok(())
    }

    /// Deletes the examples with these ids; returns how many were in the index.
    pub fn delete<S: AsRef<str>>(&mut self, ids: &[S]) -> usize {
        self.shards.iter_mut().map(|s| s.delete(ids)).sum()
    }

    fn route(&self, examples: Vec<Example>) -> Vec<(usize, Vec<Example>)> {
        let count = self.shards.len();
        let mut parts: Vec<Vec<Example>> = vec![Vec::new(); count];
        for e in examples {
            parts[shard_of(&e, count)].push(e);
        }
        parts
            .into_iter()
            .enumerate()
            .filter(|(_, p)| !p.is_empty())
            .collect()
    }

    /// Saves every shard into the directory `dir` (created if needed) as
    /// `shard-NNNNN.prism`, and removes shard files of an earlier save beyond the count.
    pub fn save(&self, dir: impl AsRef<Path>) -> Result<()> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|source| NeighborsError::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        for (i, s) in self.shards.iter().enumerate() {
            s.save(shard_path(dir, i))?;
        }
        for stale in shard_files(dir)?.into_iter().skip(self.shards.len()) {
            std::fs::remove_file(&stale).map_err(|source| NeighborsError::Io {
                path: stale.clone(),
                source,
            })?;
        }
        Ok(())
    }

    /// Loads the shards [`ShardedIndex::save`] wrote into `dir`. Missing shards, shards
    /// with different configurations or an id in two shards are a
    /// [`NeighborsError::Corrupt`] error.
    pub fn load(dir: impl AsRef<Path>) -> Result<ShardedIndex> {
        let dir = dir.as_ref();
        let files = shard_files(dir)?;
        let corrupt = |reason: String| NeighborsError::Corrupt {
            path: dir.to_path_buf(),
            reason,
        };
        if files.is_empty() {
            return Err(corrupt("no shard-NNNNN.prism file".into()));
        }
        let mut shards = Vec::with_capacity(files.len());
        for (i, f) in files.iter().enumerate() {
            if *f != shard_path(dir, i) {
                return Err(corrupt(format!("shard {i} is missing")));
            }
            shards.push(Index::load(f)?);
        }
        if shards.iter().any(|s| s.config() != shards[0].config()) {
            return Err(corrupt("the shards have different configurations".into()));
        }
        Ok(ShardedIndex { shards })
    }
}

fn shard_path(dir: &Path, i: usize) -> PathBuf {
    dir.join(format!("shard-{i:05}.prism"))
}

/// The `shard-NNNNN.prism` files of `dir`, sorted.
fn shard_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io = |source| NeighborsError::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("shard-") && n.ends_with(".prism"))
        })
        .collect();
    files.sort();
    Ok(files)
}

/// The shard of an example: by its crowding tag, or by its id without one.
fn shard_of(e: &Example, count: usize) -> usize {
    let key = e.crowding_tag.as_deref().unwrap_or(&e.id);
    (fnv1a(key.as_bytes()) % count as u64) as usize
}

/// Checks what one shard could only check for its own part: ids unique in the batch, and
/// every vector's length and values (so that no shard changes before another refuses).
fn check_batch(examples: &[Example], dims: usize) -> Result<()> {
    let mut seen = HashSet::with_capacity(examples.len());
    for (position, e) in examples.iter().enumerate() {
        if e.id.is_empty() {
            return Err(NeighborsError::EmptyId { position });
        }
        if !seen.insert(e.id.as_str()) {
            return Err(NeighborsError::DuplicateId { id: e.id.clone() });
        }
        if e.vector.len() != dims {
            return Err(NeighborsError::DimensionMismatch {
                what: format!("example {:?}", e.id),
                expected: dims,
                got: e.vector.len(),
            });
        }
        if let Some(component) = e.vector.iter().position(|x| !x.is_finite()) {
            return Err(NeighborsError::NonFinite {
                what: format!("example {:?}", e.id),
                component,
            });
        }
    }
    Ok(())
}

/// The `k` nearest of the shards' answers, nearest first, ties broken by id.
fn merge(mut all: Vec<Neighbor>, k: usize) -> Vec<Neighbor> {
    all.sort_by(|a, b| {
        a.distance
            .total_cmp(&b.distance)
            .then_with(|| a.id.cmp(&b.id))
    });
    all.truncate(k);
    all
}
