//! A shard's durable state: its checkpoint and its two output files.
//!
//! The checkpoint records how far the input was read and how many bytes of each output
//! file hold the lines written for it. The protocol that makes every record appear exactly
//! once, whatever moment the process is killed at:
//!
//! 1. append a batch's lines to the results and errors files; flush and fsync them;
//! 2. write the new checkpoint to a temporary file, fsync it, rename it over the old one,
//!    and fsync the folder.
//!
//! On start, the outputs are cut back to the lengths in the checkpoint (lines written after
//! it belong to a batch that will be done again) and reading resumes at its position. No
//! checkpoint means nothing was committed: the outputs are cut to zero.
//!
//! The folder is fsynced when the output files are created and when a shard ends, not
//! after every checkpoint: should a machine crash lose the last rename, the previous
//! checkpoint comes back, and any older checkpoint is a valid one (the outputs only grow,
//! and are cut back to it), so only work is lost, never exactness.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::batch::input::{InputFile, Position};
use crate::batch::lines::OutLine;
use crate::batch::{InputFormat, InstanceConfig, JobState, OutputFormat, Shard, Status};
use crate::error::EngineError;

/// The version of the checkpoint layout.
const CHECKPOINT_VERSION: u32 = 1;

/// What a job is: a checkpoint only resumes the job it was written for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct JobKey {
    pub(crate) model: String,
    pub(crate) inputs: Vec<InputFile>,
    pub(crate) format: InputFormat,
    pub(crate) instance_config: InstanceConfig,
    pub(crate) generate_explanation: bool,
    /// How results are written.
    #[serde(default)]
    pub(crate) output_format: OutputFormat,
    /// The explanation spec in force (null for predictions only).
    pub(crate) spec: Value,
    pub(crate) shard: Shard,
}

impl JobKey {
    /// The first field in which two keys differ, for the error message.
    pub(crate) fn difference(&self, other: &JobKey) -> Option<&'static str> {
        if self.model != other.model {
            Some("model")
        } else if self.inputs != other.inputs {
            Some("input files (names or sizes)")
        } else if self.format != other.format {
            Some("format")
        } else if self.instance_config != other.instance_config {
            Some("instance config")
        } else if self.generate_explanation != other.generate_explanation {
            Some("explain flag")
        } else if self.output_format != other.output_format {
            Some("output format")
        } else if self.spec != other.spec {
            Some("explanation spec")
        } else if self.shard != other.shard {
            Some("shard")
        } else {
            None
        }
    }
}

/// A shard's committed progress.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Checkpoint {
    pub(crate) version: u32,
    pub(crate) job: JobKey,
    /// Where reading resumes.
    pub(crate) position: Position,
    /// Committed length of the results file.
    pub(crate) results_bytes: u64,
    /// Committed length of the errors file.
    pub(crate) errors_bytes: u64,
    pub(crate) successful: u64,
    pub(crate) failed: u64,
    /// Whether the input was read to its end (only then is the incomplete count known).
    #[serde(default)]
    pub(crate) input_done: bool,
    /// Running, or the state the shard ended in (then there is nothing left to do).
    pub(crate) state: JobState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<Status>,
    /// The columns of CSV results, once the header is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) csv_header: Option<Vec<String>>,
}

impl Checkpoint {
    /// The state of a job not started.
    pub(crate) fn new(job: JobKey) -> Self {
        Self {
            version: CHECKPOINT_VERSION,
            job,
            position: Position::default(),
            results_bytes: 0,
            errors_bytes: 0,
            successful: 0,
            failed: 0,
            input_done: false,
            state: JobState::Running,
            error: None,
            csv_header: None,
        }
    }

    /// Reads a checkpoint; `None` when there is none.
    pub(crate) fn load(path: &Path) -> Result<Option<Self>, EngineError> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(source) => {
                return Err(EngineError::Io {
                    path: path.display().to_string(),
                    source,
                })
            }
        };
        let checkpoint: Checkpoint =
            serde_json::from_str(&text).map_err(|e| EngineError::Checkpoint {
                path: path.display().to_string(),
                message: e.to_string(),
            })?;
        if checkpoint.version != CHECKPOINT_VERSION {
            return Err(EngineError::Checkpoint {
                path: path.display().to_string(),
                message: format!("version {} is not {CHECKPOINT_VERSION}", checkpoint.version),
            });
        }
        Ok(Some(checkpoint))
    }

    /// Writes the checkpoint durably (see the module doc).
    pub(crate) fn save(&self, path: &Path) -> Result<(), EngineError> {
        let bytes = serde_json::to_vec_pretty(self).map_err(|e| EngineError::Checkpoint {
            path: path.display().to_string(),
            message: e.to_string(),
        })?;
        write_durably(path, &bytes)
    }
}

/// Replaces `path` with `bytes` so that a crash leaves either the old or the new content:
/// a temporary file beside it, fsync, rename.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> Result<(), EngineError> {
    let io = |p: &Path| {
        let p = p.display().to_string();
        move |source| EngineError::Io { path: p, source }
    };
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    let mut file = File::create(&temp).map_err(io(&temp))?;
    file.write_all(bytes).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io(path))
}

/// Makes a folder's entries (new and renamed files) durable.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), EngineError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|source| EngineError::Io {
            path: dir.display().to_string(),
            source,
        })
}

/// Held while a process runs a shard, so that a second process started on the same shard
/// (a restarted worker whose predecessor still runs) is refused rather than interleaving
/// its lines. An advisory `flock`, released by the OS when the process dies, however it
/// dies; other platforms run without it.
pub(crate) struct ShardLock {
    _file: File,
}

impl ShardLock {
    /// Takes the lock, or fails at once with [`EngineError::ShardBusy`].
    pub(crate) fn acquire(path: &Path) -> Result<Self, EngineError> {
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path)
            .map_err(|source| EngineError::Io {
                path: path.display().to_string(),
                source,
            })?;
        #[cfg(unix)]
        {
            use rustix::fs::{flock, FlockOperation};
            match flock(&file, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                Err(rustix::io::Errno::WOULDBLOCK) => {
                    return Err(EngineError::ShardBusy {
                        path: path.display().to_string(),
                    })
                }
                Err(e) => {
                    return Err(EngineError::Io {
                        path: path.display().to_string(),
                        source: e.into(),
                    })
                }
            }
        }
        Ok(Self { _file: file })
    }
}

/// One output file of a shard, appended to.
struct OutputFile {
    path: PathBuf,
    writer: BufWriter<File>,
    /// Bytes in the file, written or buffered.
    len: u64,
    /// Whether bytes were written since the last sync.
    dirty: bool,
}

impl OutputFile {
    /// Opens (or creates) the file and cuts it to the committed length.
    fn open(path: PathBuf, committed: u64) -> Result<Self, EngineError> {
        let io = |source| EngineError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(io)?;
        let len = file.metadata().map_err(io)?.len();
        if len < committed {
            return Err(EngineError::Checkpoint {
                path: path.display().to_string(),
                message: format!(
                    "the file holds {len} bytes but the checkpoint committed {committed}; \
                     it was changed after the job wrote it"
                ),
            });
        }
        if len > committed {
            file.set_len(committed).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        file.seek(SeekFrom::Start(committed)).map_err(io)?;
        Ok(Self {
            path,
            writer: BufWriter::with_capacity(256 * 1024, file),
            len: committed,
            dirty: false,
        })
    }

    fn append(&mut self, line: &[u8]) -> Result<(), EngineError> {
        self.writer
            .write_all(line)
            .and_then(|()| self.writer.write_all(b"\n"))
            .map_err(|source| EngineError::Io {
                path: self.path.display().to_string(),
                source,
            })?;
        self.len += line.len() as u64 + 1;
        self.dirty = true;
        Ok(())
    }

    /// Flushes and fsyncs what was appended since the last sync.
    fn sync(&mut self) -> Result<(), EngineError> {
        if !self.dirty {
            return Ok(());
        }
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data())
            .map_err(|source| EngineError::Io {
                path: self.path.display().to_string(),
                source,
            })?;
        self.dirty = false;
        Ok(())
    }
}

/// A shard's results and errors files.
pub(crate) struct ShardOutputs {
    results: OutputFile,
    errors: OutputFile,
}

impl ShardOutputs {
    /// Opens both files, cut back to the checkpoint's lengths, and makes their names durable.
    pub(crate) fn open(
        results: PathBuf,
        errors: PathBuf,
        checkpoint: &Checkpoint,
    ) -> Result<Self, EngineError> {
        let dir = results.parent().map(Path::to_path_buf).unwrap_or_default();
        let outputs = Self {
            results: OutputFile::open(results, checkpoint.results_bytes)?,
            errors: OutputFile::open(errors, checkpoint.errors_bytes)?,
        };
        sync_dir(&dir)?;
        Ok(outputs)
    }

    /// Appends a line (without its newline) to the results file.
    pub(crate) fn result(&mut self, line: &[u8]) -> Result<(), EngineError> {
        self.results.append(line)
    }

    /// Appends a line (without its newline) to the errors file.
    pub(crate) fn error(&mut self, line: &[u8]) -> Result<(), EngineError> {
        self.errors.append(line)
    }

    /// Makes everything appended durable; returns the lengths to commit.
    pub(crate) fn sync(&mut self) -> Result<(u64, u64), EngineError> {
        self.results.sync()?;
        self.errors.sync()?;
        Ok((self.results.len, self.errors.len))
    }
}

/// A computed batch on its way to the disk.
pub(crate) struct Commit {
    /// Its lines, in input order.
    pub(crate) lines: Vec<OutLine>,
    /// Where reading goes on after it.
    pub(crate) position: Position,
    /// The columns of CSV results, when this batch wrote the header.
    pub(crate) csv_header: Option<Vec<String>>,
}

/// Commits batches as they come (append, fsync, checkpoint: see the module doc) until the
/// channel closes; returns the last checkpoint.
pub(crate) fn commit_batches(
    mut cp: Checkpoint,
    mut outputs: ShardOutputs,
    path: &Path,
    commits: std::sync::mpsc::Receiver<Commit>,
) -> Result<Checkpoint, EngineError> {
    for commit in commits {
        for line in &commit.lines {
            match line {
                OutLine::Result(bytes) => {
                    outputs.result(bytes)?;
                    cp.successful += 1;
                }
                OutLine::Error(bytes) => {
                    outputs.error(bytes)?;
                    cp.failed += 1;
                }
                OutLine::Header(bytes) => outputs.result(bytes)?,
            }
        }
        let (results_bytes, errors_bytes) = outputs.sync()?;
        cp.results_bytes = results_bytes;
        cp.errors_bytes = errors_bytes;
        cp.position = commit.position;
        if commit.csv_header.is_some() {
            cp.csv_header = commit.csv_header;
        }
        cp.save(path)?;
    }
    Ok(cp)
}
