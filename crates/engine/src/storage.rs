//! Files and objects behind one URL: local paths, `file://`, `s3://bucket/key` and
//! `gs://bucket/key`, for batch inputs and outputs and for model artifacts.
//!
//! A [`Location`] is a parsed URL: a local path, or an object in a bucket of an object
//! store (through the `object_store` crate). It reads, lists (with glob patterns, or
//! everything below a folder or prefix: [`Location::list_below`],
//! [`Location::download_below`] for a model artifact folder), downloads and uploads; writes are atomic (an object appears whole or not at all; a local
//! file is written beside its name and renamed over it).
//!
//! **Credentials and endpoints** come from the environment, as the clouds' own tools read
//! them (`object_store`'s `from_env` builders):
//!
//! - S3: `AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_SESSION_TOKEN`, `AWS_REGION`
//!   (or `AWS_DEFAULT_REGION`), `AWS_ENDPOINT_URL` (an S3-compatible server: MinIO, Ceph,
//!   moto), `AWS_ALLOW_HTTP=true` for a plain-HTTP endpoint, `AWS_SKIP_SIGNATURE=true` for
//!   public buckets; web identity (`AWS_WEB_IDENTITY_TOKEN_FILE` + `AWS_ROLE_ARN`) and ECS
//!   or EKS container credentials work too. With none of these, the EC2 instance metadata
//!   service is asked, unless `AWS_EC2_METADATA_DISABLED=true`: then the URL is refused
//!   with [`StorageError::NoCredentials`].
//! - GCS: `GOOGLE_SERVICE_ACCOUNT` (or `GOOGLE_SERVICE_ACCOUNT_PATH`, a key file),
//!   `GOOGLE_SERVICE_ACCOUNT_KEY` (the key's JSON), `GOOGLE_APPLICATION_CREDENTIALS`, or
//!   gcloud's application default credentials; else the GCE metadata server, unless
//!   `NO_GCE_CHECK=true`. A service account key may carry `gcs_base_url` and
//!   `disable_oauth: true` to reach an emulator.
//!
//! One client is built per bucket and kept for the process. The blocking methods run on a
//! small runtime of this module's own and must not be called from async code (use
//! `spawn_blocking`); the `*_async` ones run on the caller's runtime.
//!
//! ```no_run
//! use prism_engine::storage::Location;
//!
//! for object in Location::expand("s3://bucket/in/*.jsonl")? {
//!     println!("{} ({} bytes)", object.location.url(), object.size);
//! }
//! let bytes = Location::parse("gs://bucket/models/m/model.onnx")?.read()?;
//! Location::parse("s3://bucket/out/done.json")?.write(b"{}".to_vec())?;
//! # Ok::<(), prism_engine::storage::StorageError>(())
//! ```

use std::collections::HashMap;
use std::future::Future;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use futures_util::StreamExt;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, ObjectStoreExt, PutPayload};

/// What went wrong reading or writing a [`Location`]; every variant names the URL.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StorageError {
    /// The URL cannot name a file or an object.
    #[error("{url}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// No credentials for the store were found in the environment.
    #[error("{url}: no credentials for {store}: {hint}")]
    NoCredentials {
        /// The URL.
        url: String,
        /// `S3` or `GCS`.
        store: &'static str,
        /// The environment variables to set.
        hint: &'static str,
    },
    /// The store's client cannot be built from the environment (a bad key file, region…).
    #[error("{url}: cannot connect to {store}: {message}")]
    Config {
        /// The URL.
        url: String,
        /// `S3` or `GCS`.
        store: &'static str,
        /// The client's reason.
        message: String,
    },
    /// The file or object does not exist.
    #[error("{url}: not found")]
    NotFound {
        /// The URL.
        url: String,
    },
    /// A glob pattern matched no file or object.
    #[error("no file or object matches {pattern}")]
    NoMatch {
        /// The pattern.
        pattern: String,
    },
    /// The store refused the request (access denied, missing bucket, …) or could not be
    /// reached.
    #[error("{url}: {message}")]
    Store {
        /// The URL.
        url: String,
        /// The store's answer, with a hint where one is known.
        message: String,
    },
    /// A local file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The local path.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// A file or object: a local path or an object in a bucket.
#[derive(Clone)]
pub struct Location {
    url: String,
    place: Place,
}

#[derive(Clone)]
enum Place {
    Local(PathBuf),
    Remote {
        store: Arc<dyn ObjectStore>,
        /// `s3://bucket` or `gs://bucket`, without a slash.
        root: String,
        key: String,
    },
}

impl std::fmt::Debug for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Location").field(&self.url).finish()
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.url)
    }
}

impl PartialEq for Location {
    fn eq(&self, other: &Self) -> bool {
        self.url == other.url
    }
}

/// An object found by [`Location::expand`], and its size.
#[derive(Debug, Clone, PartialEq)]
pub struct Found {
    /// The file or object.
    pub location: Location,
    /// Its size in bytes.
    pub size: u64,
}

/// Whether a URL or path holds glob characters (`*`, `?`, `[`).
pub fn is_pattern(url: &str) -> bool {
    url.contains(['*', '?', '['])
}

/// Whether a URL names an object store (`s3://`, `gs://`) rather than the local disk.
pub fn is_remote(url: &str) -> bool {
    url.starts_with("s3://") || url.starts_with("gs://")
}

impl Location {
    /// Parses a local path, a `file://` URL (`file:///abs/path`), `s3://bucket/key` or
    /// `gs://bucket/key`. The bucket's client is built here (once per bucket), so missing
    /// credentials are found here; nothing is sent to the store.
    pub fn parse(url: &str) -> Result<Self, StorageError> {
        let invalid = |reason: &str| StorageError::InvalidUrl {
            url: url.to_string(),
            reason: reason.to_string(),
        };
        if let Some(rest) = url.strip_prefix("file://") {
            let path = match rest.strip_prefix("localhost") {
                Some(p) if p.starts_with('/') => p,
                _ if rest.starts_with('/') => rest,
                _ => {
                    return Err(invalid(
                        "a file:// URL must name an absolute local path (file:///path)",
                    ))
                }
            };
            return Ok(Self {
                url: url.to_string(),
                place: Place::Local(PathBuf::from(path)),
            });
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return Ok(Self {
                url: url.to_string(),
                place: Place::Local(PathBuf::from(url)),
            });
        };
        let kind = match scheme {
            "s3" => StoreKind::S3,
            "gs" => StoreKind::Gcs,
            _ => {
                return Err(invalid(
                    "only local paths, file://, s3:// and gs:// URLs are supported",
                ))
            }
        };
        let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            return Err(invalid("the URL names no bucket"));
        }
        if key.split('/').any(|s| s == "." || s == "..") {
            return Err(invalid("an object key cannot hold . or .. segments"));
        }
        let store = client(kind, bucket, url)?;
        Ok(Self {
            url: url.to_string(),
            place: Place::Remote {
                store,
                root: format!("{scheme}://{bucket}"),
                key: key.to_string(),
            },
        })
    }

    /// The URL (or path) as given or built.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The local path, for a local path or `file://` URL.
    pub fn local_path(&self) -> Option<&Path> {
        match &self.place {
            Place::Local(p) => Some(p),
            Place::Remote { .. } => None,
        }
    }

    /// Whether this is an object in a store (not a local file).
    pub fn is_remote(&self) -> bool {
        matches!(self.place, Place::Remote { .. })
    }

    /// The location `name` below this one (`name` may hold slashes): a child of a folder
    /// or prefix.
    pub fn join(&self, name: &str) -> Self {
        let name = name.trim_start_matches('/');
        match &self.place {
            Place::Local(p) => {
                let path = p.join(name);
                let url = if self.url.starts_with("file://") {
                    format!("{}/{name}", self.url.trim_end_matches('/'))
                } else {
                    path.display().to_string()
                };
                Self {
                    url,
                    place: Place::Local(path),
                }
            }
            Place::Remote { store, root, key } => {
                let key = match key.trim_end_matches('/') {
                    "" => name.to_string(),
                    k => format!("{k}/{name}"),
                };
                Self {
                    url: format!("{root}/{key}"),
                    place: Place::Remote {
                        store: Arc::clone(store),
                        root: root.clone(),
                        key,
                    },
                }
            }
        }
    }

    /// The folder or prefix this location is in (itself at the root).
    pub fn parent(&self) -> Self {
        match &self.place {
            Place::Local(p) => {
                let parent = p.parent().unwrap_or(Path::new("")).to_path_buf();
                let url = match self.url.strip_prefix("file://") {
                    Some(_) => match self.url.rsplit_once('/') {
                        Some((head, _)) if head.len() > "file://".len() => head.to_string(),
                        _ => "file:///".to_string(),
                    },
                    None => parent.display().to_string(),
                };
                Self {
                    url,
                    place: Place::Local(parent),
                }
            }
            Place::Remote { store, root, key } => {
                let key = key
                    .trim_end_matches('/')
                    .rsplit_once('/')
                    .map_or("", |(head, _)| head)
                    .to_string();
                let url = if key.is_empty() {
                    root.clone()
                } else {
                    format!("{root}/{key}")
                };
                Self {
                    url,
                    place: Place::Remote {
                        store: Arc::clone(store),
                        root: root.clone(),
                        key,
                    },
                }
            }
        }
    }

    /// The files or objects a URL names: itself (which must exist), or, for a glob pattern
    /// (`*`, `?`, `[...]`; `*` does not cross `/`), every match sorted by name. A pattern
    /// that matches nothing is [`StorageError::NoMatch`].
    pub fn expand(url: &str) -> Result<Vec<Found>, StorageError> {
        block_on(Self::expand_async(url))
    }

    /// [`Location::expand`] on the caller's runtime.
    pub async fn expand_async(url: &str) -> Result<Vec<Found>, StorageError> {
        let location = Self::parse(url)?;
        if !is_pattern(url) {
            let size = location.size_async().await?;
            return Ok(vec![Found { location, size }]);
        }
        let found = match &location.place {
            Place::Local(path) => expand_local(url, path)?,
            Place::Remote { store, root, key } => {
                let pattern = glob::Pattern::new(key).map_err(|e| StorageError::InvalidUrl {
                    url: url.to_string(),
                    reason: format!("bad glob pattern: {e}"),
                })?;
                let options = glob::MatchOptions {
                    require_literal_separator: true,
                    ..glob::MatchOptions::new()
                };
                // List below the last folder before the first wildcard.
                let literal = &key[..key.find(['*', '?', '[']).unwrap_or(key.len())];
                let prefix = literal.rsplit_once('/').map_or("", |(head, _)| head);
                let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
                let mut listing = store.list(prefix.as_ref());
                let mut found = Vec::new();
                while let Some(meta) = listing.next().await {
                    let meta = meta.map_err(|e| store_error(&location.parent().url, e))?;
                    let name = meta.location.as_ref();
                    if pattern.matches_with(name, options) {
                        found.push(Found {
                            location: location.with_key(root, name),
                            size: meta.size,
                        });
                    }
                }
                found.sort_by(|a, b| a.location.url.cmp(&b.location.url));
                found
            }
        };
        if found.is_empty() {
            return Err(StorageError::NoMatch {
                pattern: url.to_string(),
            });
        }
        Ok(found)
    }

    /// Every file or object below this folder or prefix, at any depth, sorted by name:
    /// the parts of a model artifact folder, for instance. Nothing below is
    /// [`StorageError::NoMatch`].
    pub fn list_below(&self) -> Result<Vec<Found>, StorageError> {
        block_on(self.list_below_async())
    }

    /// [`Location::list_below`] on the caller's runtime.
    pub async fn list_below_async(&self) -> Result<Vec<Found>, StorageError> {
        let mut found = Vec::new();
        match &self.place {
            Place::Local(dir) => {
                let mut stack = vec![dir.clone()];
                while let Some(d) = stack.pop() {
                    let entries = std::fs::read_dir(&d).map_err(|e| self.io_error(&d, e))?;
                    for entry in entries {
                        let entry = entry.map_err(|e| self.io_error(&d, e))?;
                        let path = entry.path();
                        let meta = entry.metadata().map_err(|e| self.io_error(&path, e))?;
                        if meta.is_dir() {
                            stack.push(path);
                        } else if meta.is_file() {
                            let relative = path.strip_prefix(dir).unwrap_or(&path);
                            let location = self.join(&relative.to_string_lossy());
                            found.push(Found {
                                location,
                                size: meta.len(),
                            });
                        }
                    }
                }
            }
            Place::Remote { store, root, key } => {
                let prefix = key.trim_end_matches('/');
                let prefix = (!prefix.is_empty()).then(|| ObjectPath::from(prefix));
                let mut listing = store.list(prefix.as_ref());
                while let Some(meta) = listing.next().await {
                    let meta = meta.map_err(|e| store_error(&self.url, e))?;
                    found.push(Found {
                        location: self.with_key(root, meta.location.as_ref()),
                        size: meta.size,
                    });
                }
            }
        }
        if found.is_empty() {
            return Err(StorageError::NoMatch {
                pattern: format!("{}/**", self.url.trim_end_matches('/')),
            });
        }
        found.sort_by(|a, b| a.location.url.cmp(&b.location.url));
        Ok(found)
    }

    /// Copies every file or object below this folder or prefix into the local folder
    /// `dest`, keeping their relative paths (each file whole, as [`Location::download`]);
    /// returns the local paths written.
    pub fn download_below(&self, dest: &Path) -> Result<Vec<PathBuf>, StorageError> {
        let below = self.list_below()?;
        let base = self.url.trim_end_matches('/').len() + 1;
        let mut written = Vec::with_capacity(below.len());
        for f in below {
            let relative = f.location.url.get(base..).unwrap_or_default();
            if relative.is_empty() || relative.split('/').any(|s| s == ".." || s.is_empty()) {
                return Err(StorageError::InvalidUrl {
                    url: f.location.url.clone(),
                    reason: "cannot be copied below a local folder".into(),
                });
            }
            let path = dest.join(relative);
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|source| StorageError::Io {
                    path: dir.display().to_string(),
                    source,
                })?;
            }
            f.location.download(&path)?;
            written.push(path);
        }
        Ok(written)
    }

    fn with_key(&self, root: &str, key: &str) -> Self {
        match &self.place {
            Place::Remote { store, .. } => Self {
                url: format!("{root}/{key}"),
                place: Place::Remote {
                    store: Arc::clone(store),
                    root: root.to_string(),
                    key: key.to_string(),
                },
            },
            Place::Local(_) => self.clone(),
        }
    }

    /// The size of the file or object, in bytes.
    pub fn size(&self) -> Result<u64, StorageError> {
        block_on(self.size_async())
    }

    /// [`Location::size`] on the caller's runtime.
    pub async fn size_async(&self) -> Result<u64, StorageError> {
        match &self.place {
            Place::Local(path) => {
                let meta = std::fs::metadata(path).map_err(|e| self.io_error(path, e))?;
                if !meta.is_file() {
                    return Err(StorageError::InvalidUrl {
                        url: self.url.clone(),
                        reason: "not a file".into(),
                    });
                }
                Ok(meta.len())
            }
            Place::Remote { store, key, .. } => {
                let meta = store
                    .head(&object_path(&self.url, key)?)
                    .await
                    .map_err(|e| store_error(&self.url, e))?;
                Ok(meta.size)
            }
        }
    }

    /// The whole file or object.
    pub fn read(&self) -> Result<Vec<u8>, StorageError> {
        block_on(self.read_async())
    }

    /// [`Location::read`] on the caller's runtime.
    pub async fn read_async(&self) -> Result<Vec<u8>, StorageError> {
        match &self.place {
            Place::Local(path) => std::fs::read(path).map_err(|e| self.io_error(path, e)),
            Place::Remote { store, key, .. } => {
                let got = store
                    .get(&object_path(&self.url, key)?)
                    .await
                    .map_err(|e| store_error(&self.url, e))?;
                let bytes = got.bytes().await.map_err(|e| store_error(&self.url, e))?;
                Ok(bytes.to_vec())
            }
        }
    }

    /// Copies the file or object to the local file `dest`, streamed (a temporary file
    /// beside `dest`, renamed over it when complete); returns its size.
    pub fn download(&self, dest: &Path) -> Result<u64, StorageError> {
        block_on(self.download_async(dest))
    }

    /// [`Location::download`] on the caller's runtime.
    pub async fn download_async(&self, dest: &Path) -> Result<u64, StorageError> {
        let temp = temp_beside(dest);
        let io = |p: &Path| {
            let path = p.display().to_string();
            move |source| StorageError::Io { path, source }
        };
        let mut file = std::io::BufWriter::new(std::fs::File::create(&temp).map_err(io(&temp))?);
        let mut size = 0u64;
        match &self.place {
            Place::Local(path) => {
                let mut source = std::fs::File::open(path).map_err(|e| self.io_error(path, e))?;
                size = std::io::copy(&mut source, &mut file).map_err(io(&temp))?;
            }
            Place::Remote { store, key, .. } => {
                let got = store
                    .get(&object_path(&self.url, key)?)
                    .await
                    .map_err(|e| store_error(&self.url, e))?;
                let mut stream = got.into_stream();
                while let Some(chunk) = stream.next().await {
                    let chunk = chunk.map_err(|e| store_error(&self.url, e))?;
                    file.write_all(&chunk).map_err(io(&temp))?;
                    size += chunk.len() as u64;
                }
            }
        }
        let file = file.into_inner().map_err(|e| io(&temp)(e.into_error()))?;
        file.sync_all().map_err(io(&temp))?;
        drop(file);
        std::fs::rename(&temp, dest).map_err(io(dest))?;
        Ok(size)
    }

    /// Writes `bytes` as the whole file or object, atomically.
    pub fn write(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
        block_on(self.write_async(bytes))
    }

    /// [`Location::write`] on the caller's runtime.
    pub async fn write_async(&self, bytes: Vec<u8>) -> Result<(), StorageError> {
        match &self.place {
            Place::Local(path) => write_local(path, |f| f.write_all(&bytes)),
            Place::Remote { store, key, .. } => {
                store
                    .put(&object_path(&self.url, key)?, PutPayload::from(bytes))
                    .await
                    .map_err(|e| match e {
                        // A write finds no object missing: 404 is the bucket (GCS and S3
                        // name it NoSuchBucket in the body, which emulators may leave out).
                        object_store::Error::NotFound { .. } => StorageError::Store {
                            url: self.url.clone(),
                            message: format!("the bucket does not exist: {e}"),
                        },
                        e => store_error(&self.url, e),
                    })?;
                Ok(())
            }
        }
    }

    /// Copies the local file `source` to this location, streamed and atomically: a large
    /// file goes up as a multipart upload, which the store shows only once complete.
    pub fn upload(&self, source: &Path) -> Result<(), StorageError> {
        block_on(self.upload_async(source))
    }

    /// [`Location::upload`] on the caller's runtime.
    pub async fn upload_async(&self, source: &Path) -> Result<(), StorageError> {
        let io = |source_error| StorageError::Io {
            path: source.display().to_string(),
            source: source_error,
        };
        match &self.place {
            Place::Local(path) => {
                let mut from = std::fs::File::open(source).map_err(io)?;
                write_local(path, |f| std::io::copy(&mut from, f).map(|_| ()))
            }
            Place::Remote { store, key, .. } => {
                use std::io::Read;
                use tokio::io::AsyncWriteExt;
                let path = object_path(&self.url, key)?;
                let mut writer = object_store::buffered::BufWriter::new(Arc::clone(store), path);
                let mut from = std::fs::File::open(source).map_err(io)?;
                let mut buf = vec![0u8; 1 << 20];
                let written = async {
                    loop {
                        let n = from.read(&mut buf)?;
                        if n == 0 {
                            break;
                        }
                        writer.write_all(&buf[..n]).await?;
                    }
                    Ok::<_, std::io::Error>(())
                }
                .await;
                let result = match written {
                    // A multipart upload already started is cleaned up.
                    Err(e) => {
                        let _ = writer.abort().await;
                        Err(e)
                    }
                    // Once shut down, the writer cannot be aborted (BufWriter::abort
                    // panics): a failed shutdown has nothing left to clean up here (a
                    // single put failed, or the multipart completion aborted itself).
                    Ok(()) => writer.shutdown().await,
                };
                result.map_err(|e| StorageError::Store {
                    url: self.url.clone(),
                    message: format!("upload of {} failed: {e}", source.display()),
                })
            }
        }
    }

    fn io_error(&self, path: &Path, source: std::io::Error) -> StorageError {
        if source.kind() == std::io::ErrorKind::NotFound {
            StorageError::NotFound {
                url: self.url.clone(),
            }
        } else {
            StorageError::Io {
                path: path.display().to_string(),
                source,
            }
        }
    }
}

/// Local matches of a glob pattern, sorted (files only).
fn expand_local(url: &str, path: &Path) -> Result<Vec<Found>, StorageError> {
    let text = path.to_string_lossy();
    let paths = glob::glob(&text).map_err(|e| StorageError::InvalidUrl {
        url: url.to_string(),
        reason: format!("bad glob pattern: {e}"),
    })?;
    let mut found = Vec::new();
    for entry in paths {
        let p = entry.map_err(|e| StorageError::Io {
            path: e.path().display().to_string(),
            source: e.into(),
        })?;
        let meta = std::fs::metadata(&p).map_err(|source| StorageError::Io {
            path: p.display().to_string(),
            source,
        })?;
        if meta.is_file() {
            let url = if url.starts_with("file://") {
                format!("file://{}", p.display())
            } else {
                p.display().to_string()
            };
            found.push(Found {
                location: Location {
                    url,
                    place: Place::Local(p),
                },
                size: meta.len(),
            });
        }
    }
    found.sort_by(|a, b| a.location.local_path().cmp(&b.location.local_path()));
    Ok(found)
}

/// Writes a local file atomically: a temporary file beside it, fsync, rename.
fn write_local(
    path: &Path,
    fill: impl FnOnce(&mut std::fs::File) -> std::io::Result<()>,
) -> Result<(), StorageError> {
    let io = |p: &Path| {
        let path = p.display().to_string();
        move |source| StorageError::Io { path, source }
    };
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(io(dir))?;
    }
    let temp = temp_beside(path);
    let mut file = std::fs::File::create(&temp).map_err(io(&temp))?;
    fill(&mut file).map_err(io(&temp))?;
    file.sync_all().map_err(io(&temp))?;
    drop(file);
    std::fs::rename(&temp, path).map_err(io(path))
}

/// A temporary name beside `path`, unique to this process and call (two threads of a
/// process may download the same object at once).
fn temp_beside(path: &Path) -> PathBuf {
    static COUNTER: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = COUNTER.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(format!(".{}-{n}.tmp", std::process::id()));
    path.with_file_name(name)
}

fn object_path(url: &str, key: &str) -> Result<ObjectPath, StorageError> {
    if key.is_empty() || key.ends_with('/') {
        return Err(StorageError::InvalidUrl {
            url: url.to_string(),
            reason: "names a bucket or prefix, not an object".into(),
        });
    }
    ObjectPath::parse(key).map_err(|e| StorageError::InvalidUrl {
        url: url.to_string(),
        reason: format!("not a valid object key: {e}"),
    })
}

/// An object store's error, named by URL, with a hint for the common causes.
fn store_error(url: &str, e: object_store::Error) -> StorageError {
    let text = e.to_string();
    match e {
        object_store::Error::NotFound { .. } if !text.contains("NoSuchBucket") => {
            StorageError::NotFound {
                url: url.to_string(),
            }
        }
        _ => {
            let hint = if text.contains("NoSuchBucket") || text.contains("bucket does not exist") {
                "the bucket does not exist: "
            } else if text.contains("403") || text.contains("AccessDenied") {
                "access denied (check the credentials and the bucket's permissions): "
            } else if text.contains("401") || text.contains("InvalidAccessKeyId") {
                "the credentials were refused: "
            } else if text.contains("error sending request") || text.contains("connect") {
                "the store cannot be reached (check AWS_ENDPOINT_URL / the network): "
            } else {
                ""
            };
            StorageError::Store {
                url: url.to_string(),
                message: format!("{hint}{text}"),
            }
        }
    }
}

/// The clients built so far, by store and bucket.
type Clients = HashMap<(StoreKind, String), Arc<dyn ObjectStore>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum StoreKind {
    S3,
    Gcs,
}

/// The client of a bucket, built from the environment the first time it is needed.
fn client(kind: StoreKind, bucket: &str, url: &str) -> Result<Arc<dyn ObjectStore>, StorageError> {
    static CLIENTS: OnceLock<Mutex<Clients>> = OnceLock::new();
    let clients = CLIENTS.get_or_init(Mutex::default);
    let key = (kind, bucket.to_string());
    if let Some(c) = clients.lock().ok().and_then(|c| c.get(&key).cloned()) {
        return Ok(c);
    }
    let built: Arc<dyn ObjectStore> = match kind {
        StoreKind::S3 => Arc::new(s3_client(bucket, url)?),
        StoreKind::Gcs => Arc::new(gcs_client(bucket, url)?),
    };
    if let Ok(mut c) = clients.lock() {
        c.insert(key, Arc::clone(&built));
    }
    Ok(built)
}

fn env_is_true(name: &str) -> bool {
    std::env::var(name).is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

fn env_is_set(name: &str) -> bool {
    std::env::var_os(name).is_some_and(|v| !v.is_empty())
}

fn s3_client(bucket: &str, url: &str) -> Result<object_store::aws::AmazonS3, StorageError> {
    use object_store::aws::AmazonS3Builder;
    let explicit = [
        "AWS_ACCESS_KEY_ID",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ]
    .iter()
    .any(|v| env_is_set(v))
        || env_is_true("AWS_SKIP_SIGNATURE");
    if !explicit && env_is_true("AWS_EC2_METADATA_DISABLED") {
        return Err(StorageError::NoCredentials {
            url: url.to_string(),
            store: "S3",
            hint: "set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or web identity or \
                   container credentials, or AWS_SKIP_SIGNATURE=true for a public bucket)",
        });
    }
    let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
    // AWS_ENDPOINT_URL is the AWS tools' name; object_store reads AWS_ENDPOINT too.
    if let Ok(endpoint) = std::env::var("AWS_ENDPOINT_URL_S3").or(std::env::var("AWS_ENDPOINT_URL"))
    {
        builder = builder.with_endpoint(endpoint);
    }
    builder.build().map_err(|e| StorageError::Config {
        url: url.to_string(),
        store: "S3",
        message: e.to_string(),
    })
}

fn gcs_client(
    bucket: &str,
    url: &str,
) -> Result<object_store::gcp::GoogleCloudStorage, StorageError> {
    use object_store::gcp::GoogleCloudStorageBuilder;
    let adc = std::env::var_os("HOME").is_some_and(|home| {
        Path::new(&home)
            .join(".config/gcloud/application_default_credentials.json")
            .is_file()
    });
    let explicit = [
        "GOOGLE_SERVICE_ACCOUNT",
        "GOOGLE_SERVICE_ACCOUNT_PATH",
        "GOOGLE_SERVICE_ACCOUNT_KEY",
        "GOOGLE_APPLICATION_CREDENTIALS",
        "SERVICE_ACCOUNT",
    ]
    .iter()
    .any(|v| env_is_set(v))
        || adc;
    if !explicit && env_is_true("NO_GCE_CHECK") {
        return Err(StorageError::NoCredentials {
            url: url.to_string(),
            store: "GCS",
            hint: "set GOOGLE_SERVICE_ACCOUNT (a key file), GOOGLE_SERVICE_ACCOUNT_KEY (its \
                   JSON) or GOOGLE_APPLICATION_CREDENTIALS, or run `gcloud auth \
                   application-default login`",
        });
    }
    GoogleCloudStorageBuilder::from_env()
        .with_bucket_name(bucket)
        .build()
        .map_err(|e| StorageError::Config {
            url: url.to_string(),
            store: "GCS",
            message: e.to_string(),
        })
}

/// Runs a future to its end on this module's runtime (two I/O threads, started when
/// first needed).
fn block_on<F: Future>(future: F) -> F::Output {
    static RUNTIME: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    let runtime = RUNTIME.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("prism-storage")
            .enable_all()
            .build()
            .expect("the storage runtime starts (threads and an I/O driver); this is a bug")
    });
    runtime.block_on(future)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_local_paths_and_file_urls() {
        let l = Location::parse("file:///a/b.jsonl").unwrap();
        assert_eq!(l.local_path(), Some(Path::new("/a/b.jsonl")));
        assert_eq!(l.parent().url(), "file:///a");
        assert_eq!(l.parent().join("c").url(), "file:///a/c");
        let l = Location::parse("file://localhost/x").unwrap();
        assert_eq!(l.local_path(), Some(Path::new("/x")));
        let e = Location::parse("file://a/b").unwrap_err();
        assert!(e.to_string().contains("absolute"), "{e}");
        let e = Location::parse("http://x/y").unwrap_err();
        assert!(
            e.to_string().starts_with("http://x/y: only local paths"),
            "{e}"
        );
        let l = Location::parse("rel/in.csv").unwrap();
        assert_eq!(l.local_path(), Some(Path::new("rel/in.csv")));
        assert!(!l.is_remote());
    }

    #[test]
    fn local_globs_sort_and_name_the_pattern_when_empty() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["b.jsonl", "a.jsonl", "c.csv"] {
            std::fs::write(dir.path().join(name), name).unwrap();
        }
        let pattern = format!("file://{}/*.jsonl", dir.path().display());
        let found = Location::expand(&pattern).unwrap();
        let names: Vec<&str> = found.iter().map(|f| f.location.url()).collect();
        assert_eq!(
            names,
            [
                format!("file://{}/a.jsonl", dir.path().display()),
                format!("file://{}/b.jsonl", dir.path().display())
            ]
        );
        assert_eq!(found[0].size, 7);
        let none = format!("{}/*.parquet", dir.path().display());
        let e = Location::expand(&none).unwrap_err();
        assert_eq!(e.to_string(), format!("no file or object matches {none}"));
        let missing = dir.path().join("nope.jsonl").display().to_string();
        let e = Location::expand(&missing).unwrap_err();
        assert_eq!(e.to_string(), format!("{missing}: not found"));
    }

    #[test]
    fn local_writes_uploads_and_downloads_are_whole() {
        let dir = tempfile::tempdir().unwrap();
        let out = Location::parse(&format!("file://{}/deep/out", dir.path().display())).unwrap();
        let f = out.join("x.json");
        f.write(b"{\"a\":1}".to_vec()).unwrap();
        assert_eq!(f.read().unwrap(), b"{\"a\":1}");
        let copy = dir.path().join("copy");
        assert_eq!(f.download(&copy).unwrap(), 7);
        out.join("y").upload(&copy).unwrap();
        assert_eq!(out.join("y").read().unwrap(), b"{\"a\":1}");
        let leftovers: Vec<_> = std::fs::read_dir(dir.path().join("deep/out"))
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .filter(|n| n.ends_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    fn remote_keys_join_and_split() {
        // An in-memory store stands in for a bucket: the key handling is what is tested.
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let l = Location {
            url: "s3://b/out".into(),
            place: Place::Remote {
                store,
                root: "s3://b".into(),
                key: "out".into(),
            },
        };
        let f = l.join("job/results");
        assert_eq!(f.url(), "s3://b/out/job/results");
        assert_eq!(f.parent().url(), "s3://b/out/job");
        assert_eq!(l.parent().url(), "s3://b");
        assert!(f.is_remote());
        f.write(b"abc".to_vec()).unwrap();
        assert_eq!(f.read().unwrap(), b"abc");
        assert_eq!(f.size().unwrap(), 3);
        let e = l.parent().read().unwrap_err();
        assert!(e.to_string().contains("not an object"), "{e}");
    }

    /// A store that refuses every request with 403 (an S3 client against a local socket),
    /// as a bucket that cannot be written is when a run ends.
    fn refusing_store() -> Location {
        use std::io::{BufRead, BufReader, Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { break };
                let mut reader = BufReader::new(stream);
                // The request is read whole before the answer, so that the client sees it.
                let mut length = 0usize;
                loop {
                    let mut line = String::new();
                    if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                        break;
                    }
                    if let Some((name, value)) = line.split_once(':') {
                        if name.eq_ignore_ascii_case("content-length") {
                            length = value.trim().parse().unwrap_or(0);
                        }
                    }
                }
                let _ = reader
                    .by_ref()
                    .take(length as u64)
                    .read_to_end(&mut Vec::new());
                let _ = reader.get_mut().write_all(
                    b"HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                );
            }
        });
        let store = object_store::aws::AmazonS3Builder::new()
            .with_bucket_name("b")
            .with_region("us-east-1")
            .with_endpoint(endpoint)
            .with_allow_http(true)
            .with_access_key_id("k")
            .with_secret_access_key("s")
            .with_retry(object_store::RetryConfig {
                max_retries: 0,
                ..Default::default()
            })
            .build()
            .unwrap();
        Location {
            url: "s3://b/out".into(),
            place: Place::Remote {
                store: Arc::new(store),
                root: "s3://b".into(),
                key: "out".into(),
            },
        }
    }

    #[test]
    fn uploads_refused_by_the_store_are_errors_naming_the_url() {
        let dir = tempfile::tempdir().unwrap();
        let out = refusing_store();
        // A small file goes up as one put when the writer shuts down, a large one as a
        // multipart upload started while writing: both failures are errors (a failed
        // shutdown once made the clean-up panic: "Already shut down").
        for (name, size) in [("small", 10usize), ("large", 11 << 20)] {
            let path = dir.path().join(name);
            std::fs::write(&path, vec![b'x'; size]).unwrap();
            let e = out.join(name).upload(&path).unwrap_err();
            let text = e.to_string();
            assert!(text.starts_with(&format!("s3://b/out/{name}: ")), "{text}");
            assert!(text.contains("upload of") && text.contains("403"), "{text}");
        }
        // A whole write fails the same way, with the hint.
        let e = out.join("w").write(b"abc".to_vec()).unwrap_err();
        assert!(e.to_string().contains("access denied"), "{e}");
    }

    #[test]
    fn folders_and_prefixes_list_and_download_below() {
        let store: Arc<dyn ObjectStore> = Arc::new(object_store::memory::InMemory::new());
        let bucket = Location {
            url: "gs://b".into(),
            place: Place::Remote {
                store,
                root: "gs://b".into(),
                key: String::new(),
            },
        };
        for (name, bytes) in [
            ("models/m/model.onnx", "onnx"),
            ("models/m/examples/examples.index", "index"),
            ("models/mm/model.onnx", "other"),
        ] {
            bucket.join(name).write(bytes.as_bytes().to_vec()).unwrap();
        }
        let model = bucket.join("models/m/");
        let names: Vec<String> = model
            .list_below()
            .unwrap()
            .iter()
            .map(|f| f.location.url().to_string())
            .collect();
        assert_eq!(
            names,
            [
                "gs://b/models/m/examples/examples.index",
                "gs://b/models/m/model.onnx"
            ]
        );
        let dir = tempfile::tempdir().unwrap();
        let written = model.download_below(&dir.path().join("m")).unwrap();
        assert_eq!(written.len(), 2);
        let index = std::fs::read(dir.path().join("m/examples/examples.index")).unwrap();
        assert_eq!(index, b"index");
        // The local folder lists the same way, and a copy of it too.
        let local = Location::parse(&dir.path().join("m").display().to_string()).unwrap();
        let sizes: Vec<u64> = local.list_below().unwrap().iter().map(|f| f.size).collect();
        assert_eq!(sizes, [5, 4]);
        local.download_below(&dir.path().join("copy")).unwrap();
        assert_eq!(
            std::fs::read(dir.path().join("copy/model.onnx")).unwrap(),
            b"onnx"
        );
        let e = bucket.join("models/none").list_below().unwrap_err();
        assert_eq!(
            e.to_string(),
            "no file or object matches gs://b/models/none/**"
        );
    }
}
