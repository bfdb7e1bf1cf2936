//! Batch inputs: URIs and globs resolved into files, and records read from a position.
//!
//! A job's input is an ordered list of local files (objects of `s3://` and `gs://` are
//! downloaded into the job's local folder first, see [`fetch`]). Records are numbered across all of
//! them in order (0, 1, 2, …): a JSONL or file-list record is a non-blank line, a CSV
//! record is a row after the file's header. A [`Position`] (file, byte offset, line,
//! record number) is where reading goes on, so a checkpoint can resume a job in the middle
//! of a file without reading what came before it.

use std::fs::File;
use std::io::{BufRead, BufReader, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::batch::InputFormat;
use crate::error::EngineError;
use crate::storage::{self, Location, StorageError};

/// One input file and its size when the job started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct InputFile {
    /// The absolute path of the local file read (for an object, where it is downloaded).
    pub(crate) path: PathBuf,
    /// Its size in bytes.
    pub(crate) size: u64,
    /// The object (`s3://…`, `gs://…`) the file is a copy of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
}

impl InputFile {
    /// The name users know the file by: its URL, or its path.
    pub(crate) fn name(&self) -> String {
        match &self.url {
            Some(url) => url.clone(),
            None => self.path.display().to_string(),
        }
    }
}

/// Where reading goes on: before the record numbered `record`, which starts at byte
/// `offset` of file `file` (an index into the job's files).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Position {
    /// Index of the current file.
    pub(crate) file: usize,
    /// Byte offset in the current file.
    pub(crate) offset: u64,
    /// Lines of the current file before `offset` (Parquet: rows of the file before the
    /// position).
    pub(crate) line: u64,
    /// Number of the next record, counted across all files.
    pub(crate) record: u64,
}

/// The files that input URIs name: local paths, `file://` URIs, `s3://` and `gs://`
/// objects, and glob patterns (`*`, `?`, `[...]`) of any of them, in the order given,
/// each pattern's matches sorted, duplicates dropped. Objects get no local path here
/// (see [`fetch`]).
pub(crate) fn resolve(uris: &[String]) -> Result<Vec<InputFile>, EngineError> {
    if uris.is_empty() {
        return Err(EngineError::InvalidBatchOptions {
            message: "no input given".into(),
        });
    }
    let mut files: Vec<InputFile> = Vec::new();
    for uri in uris {
        if storage::is_remote(uri) {
            let found = Location::expand(uri).map_err(|e| match e {
                StorageError::NoMatch { .. } => EngineError::NoInput { uri: uri.clone() },
                other => other.into(),
            })?;
            for f in found {
                let url = f.location.url().to_string();
                if !files.iter().any(|known| known.url.as_ref() == Some(&url)) {
                    files.push(InputFile {
                        path: PathBuf::new(),
                        size: f.size,
                        url: Some(url),
                    });
                }
            }
            continue;
        }
        let path = local_path(uri)?;
        let text = path.to_string_lossy();
        let matches: Vec<PathBuf> = if storage::is_pattern(&text) {
            let paths = glob::glob(&text).map_err(|e| EngineError::InvalidBatchOptions {
                message: format!("bad input pattern {uri}: {e}"),
            })?;
            let mut found = Vec::new();
            for entry in paths {
                let p = entry.map_err(|e| EngineError::Io {
                    path: e.path().display().to_string(),
                    source: e.into(),
                })?;
                if p.is_file() {
                    found.push(p);
                }
            }
            found.sort();
            found
        } else {
            vec![path]
        };
        if matches.is_empty() {
            return Err(EngineError::NoInput { uri: uri.clone() });
        }
        for p in matches {
            let io = |source| EngineError::Io {
                path: p.display().to_string(),
                source,
            };
            let path = std::fs::canonicalize(&p).map_err(io)?;
            let meta = std::fs::metadata(&path).map_err(io)?;
            if !meta.is_file() {
                return Err(EngineError::InvalidBatchOptions {
                    message: format!("input {} is not a file", p.display()),
                });
            }
            if !files.iter().any(|f| f.path == path) {
                files.push(InputFile {
                    path,
                    size: meta.len(),
                    url: None,
                });
            }
        }
    }
    Ok(files)
}

/// Gives the objects among `files` their local copies' paths: `<dir>/<index>-<name>`.
pub(crate) fn place_downloads(files: &mut [InputFile], dir: &Path) {
    for (i, f) in files.iter_mut().enumerate() {
        if let Some(url) = &f.url {
            let name = url.rsplit('/').next().unwrap_or("object");
            f.path = dir.join(format!("{i:05}-{name}"));
        }
    }
}

/// Downloads the objects among `files` that have no complete local copy yet (a copy is
/// written beside its name and renamed when complete), and checks that each object still
/// has the size it had when the job started.
pub(crate) fn fetch(files: &[InputFile]) -> Result<(), EngineError> {
    for f in files {
        let Some(url) = &f.url else { continue };
        let have = std::fs::metadata(&f.path).map(|m| m.len()).ok();
        if have == Some(f.size) {
            continue;
        }
        if let Some(dir) = f.path.parent() {
            std::fs::create_dir_all(dir).map_err(|source| EngineError::Io {
                path: dir.display().to_string(),
                source,
            })?;
        }
        let got = Location::parse(url)?.download(&f.path)?;
        if got != f.size {
            return Err(EngineError::Checkpoint {
                path: url.clone(),
                message: format!(
                    "the object holds {got} bytes, not the {} it held when the job started; \
                     it changed: run the job with a new job id",
                    f.size
                ),
            });
        }
    }
    Ok(())
}

/// The local path a URI names: a plain path or `file://`; other schemes are refused.
pub(crate) fn local_path(uri: &str) -> Result<PathBuf, EngineError> {
    let location = Location::parse(uri)?;
    match location.local_path() {
        Some(p) => Ok(p.to_path_buf()),
        None => Err(EngineError::UnsupportedInput {
            uri: uri.into(),
            reason: "an object store URL cannot be read as a local file here",
        }),
    }
}

/// A record as read, before it becomes an instance.
#[derive(Debug)]
pub(crate) struct RawRecord {
    /// Its number across all files (shards split on it).
    pub(crate) number: u64,
    /// The index of its file.
    pub(crate) file: usize,
    /// Its line in that file (1-based).
    pub(crate) line: u64,
    /// Its content.
    pub(crate) body: RawBody,
}

/// The content of a record.
#[derive(Debug)]
pub(crate) enum RawBody {
    /// A JSONL or file-list line, without its line ending.
    Line(Vec<u8>),
    /// A Parquet row: its columns by name, as JSON (numbers, strings, null, lists as
    /// arrays, groups as objects).
    Row(serde_json::Map<String, serde_json::Value>),
    /// A CSV row and the header of its file.
    Csv {
        /// The column names.
        header: Arc<Vec<String>>,
        /// The row's fields.
        fields: csv::ByteRecord,
    },
}

/// An open input file.
enum Open {
    Lines(BufReader<File>),
    Parquet(ParquetRows),
    Csv {
        reader: csv::Reader<File>,
        header: Arc<Vec<String>>,
    },
}

/// Reads the records of a job's files from a position on.
pub(crate) struct RecordReader<'a> {
    files: &'a [InputFile],
    format: InputFormat,
    pos: Position,
    open: Option<Open>,
    /// Bytes of the files before the current one.
    bytes_before: u64,
}

impl<'a> RecordReader<'a> {
    /// A reader starting at `pos`.
    pub(crate) fn new(files: &'a [InputFile], format: InputFormat, pos: Position) -> Self {
        let bytes_before = files.iter().take(pos.file).map(|f| f.size).sum();
        Self {
            files,
            format,
            pos,
            open: None,
            bytes_before,
        }
    }

    /// Where reading goes on.
    pub(crate) fn position(&self) -> Position {
        self.pos
    }

    /// Bytes read so far, over all files.
    pub(crate) fn bytes_read(&self) -> u64 {
        self.bytes_before + self.pos.offset
    }

    /// The next record, or `None` at the end of the last file.
    pub(crate) fn next_record(&mut self) -> Result<Option<RawRecord>, EngineError> {
        loop {
            let Some(file) = self.files.get(self.pos.file) else {
                return Ok(None);
            };
            if self.open.is_none() {
                self.open = Some(self.open_at(file)?);
            }
            let io = |source| EngineError::Io {
                path: file.path.display().to_string(),
                source,
            };
            let record = match self.open.as_mut() {
                Some(Open::Lines(reader)) => read_line(reader, &mut self.pos).map_err(io)?,
                Some(Open::Csv { reader, header }) => {
                    read_csv(reader, header, &mut self.pos).map_err(|e| csv_error(file, e))?
                }
                Some(Open::Parquet(rows)) => rows
                    .next_row(&mut self.pos, file.size)
                    .map_err(|e| parquet_error(file, e))?,
                None => None,
            };
            match record {
                Some((body, line)) => {
                    let record = RawRecord {
                        number: self.pos.record,
                        file: self.pos.file,
                        line,
                        body,
                    };
                    self.pos.record += 1;
                    return Ok(Some(record));
                }
                None => {
                    self.bytes_before += file.size;
                    self.pos = Position {
                        file: self.pos.file + 1,
                        offset: 0,
                        line: 0,
                        record: self.pos.record,
                    };
                    self.open = None;
                }
            }
        }
    }

    /// Opens a file at the current position.
    fn open_at(&mut self, file: &InputFile) -> Result<Open, EngineError> {
        if self.format == InputFormat::Parquet {
            return ParquetRows::open(&file.path, self.pos.line)
                .map(Open::Parquet)
                .map_err(|e| parquet_error(file, e));
        }
        let path = file.path.as_path();
        let io = |source| EngineError::Io {
            path: path.display().to_string(),
            source,
        };
        let mut file = File::open(path).map_err(io)?;
        match self.format {
            InputFormat::Jsonl | InputFormat::FileList | InputFormat::Parquet => {
                file.seek(SeekFrom::Start(self.pos.offset)).map_err(io)?;
                Ok(Open::Lines(BufReader::with_capacity(64 * 1024, file)))
            }
            InputFormat::Csv => {
                let mut reader = csv::ReaderBuilder::new()
                    .has_headers(false)
                    .flexible(true)
                    .buffer_capacity(64 * 1024)
                    .from_reader(file);
                let mut first = csv::ByteRecord::new();
                let has_header = reader
                    .read_byte_record(&mut first)
                    .map_err(|e| csv_error_at(path, e))?;
                let header: Vec<String> = if has_header {
                    first
                        .iter()
                        .enumerate()
                        .map(|(i, f)| {
                            let name = String::from_utf8_lossy(f);
                            // A UTF-8 byte order mark is not part of the first name.
                            match (i, name.strip_prefix('\u{feff}')) {
                                (0, Some(stripped)) => stripped.to_string(),
                                _ => name.into_owned(),
                            }
                        })
                        .collect()
                } else {
                    Vec::new()
                };
                let after_header = reader.position().clone();
                if self.pos.offset > after_header.byte() {
                    let mut at = csv::Position::new();
                    at.set_byte(self.pos.offset)
                        .set_line(self.pos.line + 1)
                        .set_record(0);
                    reader.seek(at).map_err(|e| csv_error_at(path, e))?;
                } else {
                    self.pos.offset = after_header.byte();
                    self.pos.line = after_header.line().saturating_sub(1);
                }
                Ok(Open::Csv {
                    reader,
                    header: Arc::new(header),
                })
            }
        }
    }
}

/// The next non-blank line and its number, advancing `pos` past it (and past blank lines).
fn read_line(
    reader: &mut BufReader<File>,
    pos: &mut Position,
) -> std::io::Result<Option<(RawBody, u64)>> {
    loop {
        let mut buf = Vec::new();
        let n = reader.read_until(b'\n', &mut buf)?;
        if n == 0 {
            return Ok(None);
        }
        pos.offset += n as u64;
        pos.line += 1;
        while matches!(buf.last(), Some(b'\n' | b'\r')) {
            buf.pop();
        }
        // A UTF-8 byte order mark is not part of the first line.
        if pos.line == 1 && buf.starts_with(b"\xEF\xBB\xBF") {
            buf.drain(..3);
        }
        if !buf.iter().all(u8::is_ascii_whitespace) {
            return Ok(Some((RawBody::Line(buf), pos.line)));
        }
    }
}

/// The next CSV row and the line it starts on, advancing `pos` past it.
fn read_csv(
    reader: &mut csv::Reader<File>,
    header: &Arc<Vec<String>>,
    pos: &mut Position,
) -> csv::Result<Option<(RawBody, u64)>> {
    let mut fields = csv::ByteRecord::new();
    if !reader.read_byte_record(&mut fields)? {
        return Ok(None);
    }
    let after = reader.position();
    pos.offset = after.byte();
    pos.line = after.line().saturating_sub(1);
    let line = fields.position().map_or(pos.line, |p| p.line());
    let body = RawBody::Csv {
        header: Arc::clone(header),
        fields,
    };
    Ok(Some((body, line)))
}

/// The rows of a Parquet file, read one row group after the other with the record API.
struct ParquetRows {
    rows: parquet::record::reader::RowIter<'static>,
    /// Rows in the file.
    total: u64,
}

impl ParquetRows {
    /// Opens a file before row `row` (0-based): the row groups before the one holding it are
    /// not read, the rows of that group before it are skipped.
    fn open(path: &Path, row: u64) -> Result<Self, parquet::errors::ParquetError> {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        use parquet::file::serialized_reader::ReadOptionsBuilder;
        let file = File::open(path)?;
        let whole = SerializedFileReader::new(file.try_clone()?)?;
        let groups: Vec<u64> = whole
            .metadata()
            .row_groups()
            .iter()
            .map(|g| u64::try_from(g.num_rows()).unwrap_or(0))
            .collect();
        let total = groups.iter().sum();
        drop(whole);
        // The first group to read, and the rows before `row` in it.
        let (mut first, mut skip) = (groups.len(), 0);
        let mut before = 0u64;
        for (i, n) in groups.iter().enumerate() {
            if row < before + n {
                (first, skip) = (i, row - before);
                break;
            }
            before += n;
        }
        let options = ReadOptionsBuilder::new()
            .with_predicate(Box::new(move |_, i| i >= first))
            .build();
        let reader = SerializedFileReader::new_with_options(file, options)?;
        let mut rows = parquet::record::reader::RowIter::from_file_into(Box::new(reader));
        for _ in 0..skip {
            if let Some(Err(e)) = rows.next() {
                return Err(e);
            }
        }
        Ok(Self { rows, total })
    }

    /// The next row, advancing `pos` (its `line` counts rows; its `offset` is a share of
    /// the file's size, for progress only).
    fn next_row(
        &mut self,
        pos: &mut Position,
        size: u64,
    ) -> Result<Option<(RawBody, u64)>, parquet::errors::ParquetError> {
        let Some(row) = self.rows.next().transpose()? else {
            pos.offset = size;
            return Ok(None);
        };
        pos.line += 1;
        pos.offset = size
            .saturating_mul(pos.line)
            .checked_div(self.total)
            .unwrap_or(size);
        let columns = row
            .into_columns()
            .into_iter()
            .map(|(name, field)| (name, field.to_json_value()))
            .collect();
        Ok(Some((RawBody::Row(columns), pos.line)))
    }
}

/// The number of rows of a Parquet file, from its metadata.
pub(crate) fn parquet_rows(file: &InputFile) -> Result<u64, EngineError> {
    use parquet::file::reader::{FileReader, SerializedFileReader};
    let read = || -> Result<u64, parquet::errors::ParquetError> {
        let reader = SerializedFileReader::new(File::open(&file.path)?)?;
        Ok(u64::try_from(reader.metadata().file_metadata().num_rows()).unwrap_or(0))
    };
    read().map_err(|e| parquet_error(file, e))
}

fn parquet_error(file: &InputFile, e: parquet::errors::ParquetError) -> EngineError {
    EngineError::Io {
        path: file.name(),
        source: std::io::Error::other(format!("not a readable Parquet file: {e}")),
    }
}

fn csv_error(file: &InputFile, e: csv::Error) -> EngineError {
    csv_error_at(Path::new(&file.name()), e)
}

fn csv_error_at(path: &Path, e: csv::Error) -> EngineError {
    let path = path.display().to_string();
    match e.into_kind() {
        csv::ErrorKind::Io(source) => EngineError::Io { path, source },
        other => EngineError::Io {
            path,
            source: std::io::Error::other(format!("{other:?}")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// Two rows with a list of strings (with a null element, an empty list, a null list), a
    /// nullable string and a boolean, in two row groups.
    fn write_lists(path: &Path) {
        use parquet::data_type::{BoolType, ByteArray, ByteArrayType};
        use parquet::file::writer::SerializedFileWriter;
        let schema = parquet::schema::parser::parse_message_type(
            "message row {
                optional group tags (LIST) { repeated group list { optional binary element (UTF8); } }
                optional binary name (UTF8);
                required boolean flag;
            }",
        )
        .unwrap();
        let file = File::create(path).unwrap();
        let mut writer =
            SerializedFileWriter::new(file, Arc::new(schema), Default::default()).unwrap();
        /// One row group's values and levels.
        struct Group<'a> {
            tags: (&'a [ByteArray], &'a [i16], &'a [i16]),
            names: (&'a [ByteArray], &'a [i16]),
            flags: &'a [bool],
        }
        // Row group 1: tags ["a", null] and []; group 2: tags null.
        let groups = [
            Group {
                tags: (&["a".into()], &[3, 2, 1], &[0, 1, 0]),
                names: (&["x".into()], &[1, 0]),
                flags: &[true, false],
            },
            Group {
                tags: (&[], &[0], &[0]),
                names: (&[], &[0]),
                flags: &[true],
            },
        ];
        for g in groups {
            let mut group = writer.next_row_group().unwrap();
            let mut c = group.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(g.tags.0, Some(g.tags.1), Some(g.tags.2))
                .unwrap();
            c.close().unwrap();
            let mut c = group.next_column().unwrap().unwrap();
            c.typed::<ByteArrayType>()
                .write_batch(g.names.0, Some(g.names.1), None)
                .unwrap();
            c.close().unwrap();
            let mut c = group.next_column().unwrap().unwrap();
            c.typed::<BoolType>()
                .write_batch(g.flags, None, None)
                .unwrap();
            c.close().unwrap();
            group.close().unwrap();
        }
        writer.close().unwrap();
    }

    fn rows(files: &[InputFile], at: Position) -> Vec<(u64, u64, Value)> {
        let mut reader = RecordReader::new(files, InputFormat::Parquet, at);
        let mut out = Vec::new();
        while let Some(r) = reader.next_record().unwrap() {
            let RawBody::Row(row) = r.body else {
                panic!("not a row")
            };
            out.push((r.number, r.line, Value::Object(row)));
        }
        assert_eq!(reader.bytes_read(), files[0].size);
        out
    }

    #[test]
    fn parquet_lists_nulls_and_strings_become_json_and_rows_resume_by_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("lists.parquet");
        write_lists(&path);
        let size = std::fs::metadata(&path).unwrap().len();
        let files = [InputFile {
            path,
            size,
            url: None,
        }];
        let all = rows(&files, Position::default());
        assert_eq!(
            all,
            [
                (
                    0,
                    1,
                    json!({"tags": ["a", null], "name": "x", "flag": true})
                ),
                (1, 2, json!({"tags": [], "name": null, "flag": false})),
                (2, 3, json!({"tags": null, "name": null, "flag": true})),
            ]
        );
        // Resuming before row 1 (inside the first row group) and before row 2 (the second).
        for line in [1, 2] {
            let at = Position {
                line,
                record: line,
                ..Position::default()
            };
            assert_eq!(rows(&files, at), all[line as usize..]);
        }
        let bad = dir.path().join("bad.parquet");
        std::fs::write(&bad, "id,x\n1,2\n").unwrap();
        let files = [InputFile {
            path: bad.clone(),
            size: 9,
            url: None,
        }];
        let e = RecordReader::new(&files, InputFormat::Parquet, Position::default())
            .next_record()
            .unwrap_err();
        assert!(
            e.to_string().starts_with(&format!(
                "cannot read {}: not a readable Parquet file",
                bad.display()
            )),
            "{e}"
        );
    }
}
