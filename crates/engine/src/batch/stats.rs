//! Completion stats: one file per shard, written when a run ends, and their sum.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::batch::{JobState, Status};
use crate::error::EngineError;

/// The start of a stats file's name: `stats-0000i-of-0000N.json`.
pub(crate) const STATS_PREFIX: &str = "stats";

/// How many of a job's instances ended where (Vertex `completionStats`; the counts are
/// int64, written as JSON strings like Vertex does, read as strings or numbers).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CompletionStats {
    /// Instances written to the results files.
    #[serde(with = "int64")]
    pub successful_count: i64,
    /// Instances written to the errors files.
    #[serde(with = "int64")]
    pub failed_count: i64,
    /// Instances not processed; -1 when unknown (a job that stopped before the end of its
    /// input).
    #[serde(with = "int64")]
    pub incomplete_count: i64,
}

/// A shard's stats file: how its last run ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchStats {
    /// The job's id (its folder's name).
    pub job_id: String,
    /// How the shard's run ended.
    pub state: JobState,
    /// The shard.
    pub shard_index: u32,
    /// How many shards the job has.
    pub shard_count: u32,
    /// The shard's counts.
    pub completion_stats: CompletionStats,
    /// Why the shard failed, if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Status>,
}

/// The stats of a sharded job: the sum of its shards'.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MergedStats {
    /// Failed if any shard failed, else cancelled if any was, else running if a shard is
    /// missing or running, else succeeded.
    pub state: JobState,
    /// How many shards the job has.
    pub shard_count: u32,
    /// The shards whose stats were found.
    pub shards: Vec<u32>,
    /// The shards whose stats were not found.
    pub missing_shards: Vec<u32>,
    /// The sum of the shards' counts (incomplete -1 when any is unknown).
    pub completion_stats: CompletionStats,
    /// The errors of failed shards (Vertex `partialFailures`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub partial_failures: Vec<Status>,
}

/// A stats file's bytes.
pub(crate) fn to_bytes(stats: &BatchStats) -> Result<Vec<u8>, EngineError> {
    let mut bytes = serde_json::to_vec_pretty(stats).map_err(|e| EngineError::Io {
        path: "stats".into(),
        source: std::io::Error::other(e),
    })?;
    bytes.push(b'\n');
    Ok(bytes)
}

/// Writes a stats file durably.
pub(crate) fn write(path: &Path, stats: &BatchStats) -> Result<(), EngineError> {
    let bytes = to_bytes(stats)?;
    super::checkpoint::write_durably(path, &bytes)?;
    super::checkpoint::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Reads stats: a stats file, or every `stats-*.json` file in a folder.
pub fn read_stats(path: &Path) -> Result<Vec<BatchStats>, EngineError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| EngineError::Io { path: p, source }
    };
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).map_err(io(path))? {
            let p = entry.map_err(io(path))?.path();
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if name.starts_with(&format!("{STATS_PREFIX}-")) && name.ends_with(".json") {
                files.push(p);
            }
        }
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    files
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).map_err(io(p))?;
            serde_json::from_str(&text).map_err(|e| EngineError::InvalidBatchOptions {
                message: format!("{} is not a stats file: {e}", p.display()),
            })
        })
        .collect()
}

/// Adds up the stats of a job's shards. All must be of one job with one shard count, and
/// no shard may appear twice.
pub fn merge_stats(stats: &[BatchStats]) -> Result<MergedStats, EngineError> {
    let bad = |message: String| Err(EngineError::InvalidBatchOptions { message });
    let Some(first) = stats.first() else {
        return bad("no stats files found".into());
    };
    let mut shards = Vec::new();
    let mut total = CompletionStats::default();
    let mut partial_failures = Vec::new();
    let (mut failed, mut cancelled, mut running) = (false, false, false);
    for s in stats {
        if s.shard_count != first.shard_count || s.job_id != first.job_id {
            return bad(format!(
                "shard {} of {} of job {} does not belong with shard {} of {} of job {}",
                s.shard_index,
                s.shard_count,
                s.job_id,
                first.shard_index,
                first.shard_count,
                first.job_id
            ));
        }
        if shards.contains(&s.shard_index) {
            return bad(format!("shard {} appears twice", s.shard_index));
        }
        shards.push(s.shard_index);
        let c = &s.completion_stats;
        total.successful_count += c.successful_count;
        total.failed_count += c.failed_count;
        total.incomplete_count = if total.incomplete_count < 0 || c.incomplete_count < 0 {
            -1
        } else {
            total.incomplete_count + c.incomplete_count
        };
        match s.state {
            JobState::Failed => failed = true,
            JobState::Cancelled => cancelled = true,
            JobState::Running => running = true,
            JobState::Succeeded => {}
        }
        partial_failures.extend(s.error.clone());
    }
    shards.sort_unstable();
    let missing_shards: Vec<u32> = (0..first.shard_count)
        .filter(|i| !shards.contains(i))
        .collect();
    if !missing_shards.is_empty() {
        total.incomplete_count = -1;
    }
    let state = if failed {
        JobState::Failed
    } else if cancelled {
        JobState::Cancelled
    } else if running || !missing_shards.is_empty() {
        JobState::Running
    } else {
        JobState::Succeeded
    };
    Ok(MergedStats {
        state,
        shard_count: first.shard_count,
        shards,
        missing_shards,
        completion_stats: total,
        partial_failures,
    })
}

/// int64 fields as proto3 JSON writes them (decimal strings), read from strings or numbers.
mod int64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(v: &i64, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(v)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Int {
            Number(i64),
            Text(String),
        }
        match Int::deserialize(d)? {
            Int::Number(n) => Ok(n),
            Int::Text(t) => t.parse().map_err(serde::de::Error::custom),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shard(index: u32, state: JobState, ok: i64, bad: i64) -> BatchStats {
        BatchStats {
            job_id: "j".into(),
            state,
            shard_index: index,
            shard_count: 3,
            completion_stats: CompletionStats {
                successful_count: ok,
                failed_count: bad,
                incomplete_count: 0,
            },
            error: None,
        }
    }

    #[test]
    fn counts_are_int64_strings() {
        let s = shard(0, JobState::Succeeded, 990, 10);
        let v = serde_json::to_value(&s).unwrap();
        assert_eq!(v["completionStats"]["successfulCount"], "990");
        assert_eq!(v["state"], "JOB_STATE_SUCCEEDED");
        let text = r#"{"jobId": "j", "state": "JOB_STATE_FAILED", "shardIndex": 1, "shardCount": 3,
            "completionStats": {"successfulCount": 5, "failedCount": "7", "incompleteCount": "-1"}}"#;
        let back: BatchStats = serde_json::from_str(text).unwrap();
        assert_eq!(back.completion_stats.failed_count, 7);
        assert_eq!(back.completion_stats.incomplete_count, -1);
    }

    #[test]
    fn merging_sums_and_names_missing_shards() {
        let all = [
            shard(0, JobState::Succeeded, 10, 1),
            shard(2, JobState::Succeeded, 20, 2),
        ];
        let m = merge_stats(&all).unwrap();
        assert_eq!(m.completion_stats.successful_count, 30);
        assert_eq!(m.completion_stats.failed_count, 3);
        assert_eq!(m.missing_shards, vec![1]);
        assert_eq!(m.completion_stats.incomplete_count, -1);
        assert_eq!(m.state, JobState::Running);
        let mut all = all.to_vec();
        all.push(shard(1, JobState::Succeeded, 5, 0));
        let m = merge_stats(&all).unwrap();
        assert_eq!(m.state, JobState::Succeeded);
        assert_eq!(m.completion_stats.incomplete_count, 0);
        assert_eq!(m.shards, vec![0, 1, 2]);
        all.push(shard(1, JobState::Succeeded, 5, 0));
        assert!(merge_stats(&all).is_err());
    }
}
