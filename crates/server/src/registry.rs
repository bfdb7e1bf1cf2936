//! The registry: models, endpoints, operations and batch prediction jobs as JSON documents in SQL (SQLite by
//! default, PostgreSQL for several server nodes), through sqlx's `Any` driver so one set of
//! queries serves both.
//!
//! Besides the resource tables, two tables let several server nodes share one registry:
//! `nodes` (each live server process and its last heartbeat) and `owners` (which node runs
//! each unfinished operation and batch prediction job). See [`crate::nodes`].
//!
//! Changes of a document that other nodes may change at the same time go through
//! [`Registry::update`]: a compare-and-swap on the stored text, retried on conflict.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
// Table names come from the closed `Table` enum, never from input: the dynamic SQL is safe.
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::error::ApiError;

/// The resource tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Table {
    /// `models`
    Models,
    /// `endpoints`
    Endpoints,
    /// `operations`
    Operations,
    /// `batch_prediction_jobs`
    BatchPredictionJobs,
}

impl Table {
    pub(crate) fn singular(self) -> &'static str {
        match self {
            Table::Models => "model",
            Table::Endpoints => "endpoint",
            Table::Operations => "operation",
            Table::BatchPredictionJobs => "batch prediction job",
        }
    }

    fn name(self) -> &'static str {
        match self {
            Table::Models => "models",
            Table::Endpoints => "endpoints",
            Table::Operations => "operations",
            Table::BatchPredictionJobs => "batch_prediction_jobs",
        }
    }
}

/// Schema, applied at start (idempotent). `parent` is the collection's parent name
/// (`projects/p/locations/l`, or the resource an operation belongs to); `seq` orders a
/// collection by creation. `nodes.heartbeat` is microseconds since the Unix epoch, by the
/// node's clock.
const SCHEMA: [&str; 6] = [
    "CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS endpoints (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS operations (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS batch_prediction_jobs (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS nodes (id TEXT PRIMARY KEY, heartbeat BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS owners (name TEXT PRIMARY KEY, node TEXT NOT NULL)",
];

/// Takes (and releases) the PostgreSQL advisory lock held while the schema is applied
/// (the key is arbitrary, fixed: "prism" in ASCII).
const SCHEMA_LOCK: &str = "SELECT 1 AS locked FROM (SELECT pg_advisory_lock(482854120813)) AS l";
const SCHEMA_UNLOCK: &str =
    "SELECT 1 AS unlocked FROM (SELECT pg_advisory_unlock(482854120813)) AS l";

/// How many times [`Registry::update`] retries a change that lost a race.
const UPDATE_ATTEMPTS: usize = 64;

/// An unfinished operation or job and the node that runs it, with that node's last
/// heartbeat (`None`: the node is gone from `nodes`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owned {
    /// The operation's or job's resource name.
    pub name: String,
    /// The owning node's id.
    pub node: String,
    /// The owning node's last heartbeat, microseconds since the Unix epoch.
    pub heartbeat: Option<i64>,
}

/// A handle on the registry database.
#[derive(Debug, Clone)]
pub struct Registry {
    pool: AnyPool,
    shared: bool,
    /// Documents read by name, when no other process writes the database (see
    /// [`Registry::with_document_cache`]); shared by the handle's clones.
    cache: Option<Arc<DocumentCache>>,
}

/// How many documents [`DocumentCache`] holds before it starts again from empty: a bound
/// on its memory, far above the endpoints and models a server serves at once.
const CACHED_DOCUMENTS: usize = 4096;

/// Documents by (table, name), as last read from the database. Every write through the
/// registry forgets the document it wrote, after the write; a read that raced with a
/// write keeps what it read only if no write ended while it was reading (the generation
/// tells), so the cache never holds a document older than the database's.
#[derive(Debug, Default)]
struct DocumentCache {
    inner: Mutex<CachedDocuments>,
}

#[derive(Debug, Default)]
struct CachedDocuments {
    docs: HashMap<(Table, String), Value>,
    /// Counts the writes ended.
    generation: u64,
}

impl DocumentCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, CachedDocuments> {
        // A panic elsewhere while holding the lock cannot leave the map half-changed in a
        // way that matters here: keep using it.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The cached document, or the generation to pass to [`DocumentCache::keep`].
    fn get(&self, table: Table, name: &str) -> Result<Value, u64> {
        let cached = self.lock();
        match cached.docs.get(&(table, name.to_string())) {
            Some(doc) => Ok(doc.clone()),
            None => Err(cached.generation),
        }
    }

    /// Keeps a document read from the database since `generation`, unless a write ended
    /// in between (the read may have seen the database before that write).
    fn keep(&self, table: Table, name: &str, doc: &Value, generation: u64) {
        let mut cached = self.lock();
        if cached.generation != generation {
            return;
        }
        if cached.docs.len() >= CACHED_DOCUMENTS {
            cached.docs.clear();
        }
        cached.docs.insert((table, name.to_string()), doc.clone());
    }

    /// Called after every write of a document, whether it succeeded or not.
    fn forget(&self, table: Table, name: &str) {
        let mut cached = self.lock();
        cached.generation += 1;
        cached.docs.remove(&(table, name.to_string()));
    }
}

impl Registry {
    /// Connects (creating a SQLite file if needed) and applies the schema.
    pub async fn connect(url: &str) -> Result<Self, sqlx::Error> {
        sqlx::any::install_default_drivers();
        let url = if url.starts_with("sqlite:") && !url.contains("mode=") {
            format!("{url}{}mode=rwc", if url.contains('?') { "&" } else { "?" })
        } else {
            url.to_string()
        };
        let pool = AnyPoolOptions::new()
            .max_connections(8)
            .connect(&url)
            .await?;
        let shared = url.starts_with("postgres:") || url.starts_with("postgresql:");
        // Nodes starting together on a new PostgreSQL database would race in CREATE TABLE
        // IF NOT EXISTS (a duplicate-key error in the catalog): one at a time.
        let mut conn = pool.acquire().await?;
        if shared {
            sqlx::query(SCHEMA_LOCK).execute(&mut *conn).await?;
        }
        let mut created = Ok(());
        for statement in SCHEMA {
            if let Err(e) = sqlx::query(statement).execute(&mut *conn).await {
                created = Err(e);
                break;
            }
        }
        if shared {
            sqlx::query(SCHEMA_UNLOCK).execute(&mut *conn).await?;
        }
        created?;
        drop(conn);
        Ok(Self {
            pool,
            shared,
            cache: None,
        })
    }

    /// Serves reads by name from memory until this handle (or a clone) writes the
    /// document. Only for a database no other process writes: a SQLite registry, which
    /// belongs to one server process (the server holds a lock on it to make sure). The
    /// serving path reads its endpoint on every request; from SQLite, through sqlx's
    /// worker thread, that cost about a tenth of the server's CPU under load.
    pub fn with_document_cache(mut self) -> Self {
        self.cache = Some(Arc::default());
        self
    }

    /// Runs a statement that writes the document `name` of `table`, then forgets the
    /// cached document, whether the write succeeded or not: every document write goes
    /// through here.
    async fn write<'q>(
        &self,
        table: Table,
        name: &str,
        statement: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> Result<sqlx::any::AnyQueryResult, sqlx::Error> {
        let done = statement.execute(&self.pool).await;
        if let Some(cache) = &self.cache {
            cache.forget(table, name);
        }
        done
    }

    /// Whether several server nodes may share this registry (PostgreSQL); a SQLite registry
    /// belongs to one server process at a time.
    pub fn is_shared(&self) -> bool {
        self.shared
    }

    /// Inserts or replaces a document.
    pub async fn put(
        &self,
        table: Table,
        name: &str,
        parent: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let sql = format!(
            "INSERT INTO {t} (name, parent, body, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO UPDATE SET body = excluded.body",
            t = table.name()
        );
        let seq = now_micros();
        self.write(
            table,
            name,
            sqlx::query(AssertSqlSafe(sql))
                .bind(name)
                .bind(parent)
                .bind(body.to_string())
                .bind(seq),
        )
        .await?;
        Ok(())
    }

    /// Inserts a document whose name must be new (ALREADY_EXISTS otherwise, also when
    /// another node inserts the same name at the same time).
    pub async fn create(
        &self,
        table: Table,
        name: &str,
        parent: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        let sql = format!(
            "INSERT INTO {t} (name, parent, body, seq) VALUES ($1, $2, $3, $4) \
             ON CONFLICT (name) DO NOTHING",
            t = table.name()
        );
        let done = self
            .write(
                table,
                name,
                sqlx::query(AssertSqlSafe(sql))
                    .bind(name)
                    .bind(parent)
                    .bind(body.to_string())
                    .bind(now_micros()),
            )
            .await?;
        if done.rows_affected() == 0 {
            return Err(ApiError::AlreadyExists(format!("{name} already exists")));
        }
        Ok(())
    }

    /// Reads a document, lets `change` change it, and writes it back only if nobody wrote
    /// it in between (a compare-and-swap on the stored text); on a conflict it reads again
    /// and calls `change` again. `None` when the document does not exist. An error from
    /// `change` leaves the document as it was. A change that leaves the document equal
    /// writes nothing.
    pub async fn update<T>(
        &self,
        table: Table,
        name: &str,
        mut change: impl FnMut(&mut Value) -> Result<T, ApiError>,
    ) -> Result<Option<(Value, T)>, ApiError> {
        let write = format!(
            "UPDATE {} SET body = $1 WHERE name = $2 AND body = $3",
            table.name()
        );
        for _ in 0..UPDATE_ATTEMPTS {
            let Some((old, before)) = self.stored(table, name).await? else {
                return Ok(None);
            };
            let mut doc = before.clone();
            let out = change(&mut doc)?;
            if doc == before {
                return Ok(Some((doc, out)));
            }
            let statement = sqlx::query(AssertSqlSafe(write.clone()))
                .bind(doc.to_string())
                .bind(name)
                .bind(&old);
            if self.write(table, name, statement).await?.rows_affected() > 0 {
                return Ok(Some((doc, out)));
            }
            // Another writer got there first: read its version and change that.
            tokio::task::yield_now().await;
        }
        Err(contended(table, name))
    }

    /// One document by name.
    pub async fn get(&self, table: Table, name: &str) -> Result<Option<Value>, ApiError> {
        let Some(cache) = &self.cache else {
            return self.read(table, name).await;
        };
        let generation = match cache.get(table, name) {
            Ok(doc) => return Ok(Some(doc)),
            Err(generation) => generation,
        };
        let doc = self.read(table, name).await?;
        if let Some(doc) = &doc {
            cache.keep(table, name, doc, generation);
        }
        Ok(doc)
    }

    /// One document by name, from the database.
    async fn read(&self, table: Table, name: &str) -> Result<Option<Value>, ApiError> {
        let sql = format!("SELECT body FROM {} WHERE name = $1", table.name());
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.map(|r| body_of(&r)).transpose()
    }

    /// One document by name, or NOT_FOUND naming it.
    pub async fn get_required(&self, table: Table, name: &str) -> Result<Value, ApiError> {
        self.get(table, name)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{} {name} not found", table.singular())))
    }

    /// Every document under `parent`, oldest first.
    pub async fn list(&self, table: Table, parent: &str) -> Result<Vec<Value>, ApiError> {
        let sql = format!(
            "SELECT body FROM {} WHERE parent = $1 ORDER BY seq, name",
            table.name()
        );
        let rows = sqlx::query(AssertSqlSafe(sql))
            .bind(parent)
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(body_of).collect()
    }

    /// Every document of a table, oldest first.
    pub async fn all(&self, table: Table) -> Result<Vec<Value>, ApiError> {
        let sql = format!("SELECT body FROM {} ORDER BY seq, name", table.name());
        let rows = sqlx::query(AssertSqlSafe(sql))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(body_of).collect()
    }

    /// Deletes a document if `check` accepts it as stored at the moment of deletion (a
    /// compare-and-delete on the stored text: a change written after `check` read it makes
    /// it read and check again). False when the document does not exist; an error from
    /// `check` leaves it in place.
    pub async fn delete_if(
        &self,
        table: Table,
        name: &str,
        mut check: impl FnMut(&Value) -> Result<(), ApiError>,
    ) -> Result<bool, ApiError> {
        let delete = format!("DELETE FROM {} WHERE name = $1 AND body = $2", table.name());
        for _ in 0..UPDATE_ATTEMPTS {
            let Some((old, doc)) = self.stored(table, name).await? else {
                return Ok(false);
            };
            check(&doc)?;
            let statement = sqlx::query(AssertSqlSafe(delete.clone()))
                .bind(name)
                .bind(&old);
            if self.write(table, name, statement).await?.rows_affected() > 0 {
                return Ok(true);
            }
            tokio::task::yield_now().await;
        }
        Err(contended(table, name))
    }

    /// A document as stored (the text compare-and-swap writes compare) and parsed.
    async fn stored(&self, table: Table, name: &str) -> Result<Option<(String, Value)>, ApiError> {
        let sql = format!("SELECT body FROM {} WHERE name = $1", table.name());
        let row = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let text: String = row.try_get("body")?;
        let doc = parse_body(&text)?;
        Ok(Some((text, doc)))
    }

    /// Deletes a document; false when it did not exist.
    pub async fn delete(&self, table: Table, name: &str) -> Result<bool, ApiError> {
        let sql = format!("DELETE FROM {} WHERE name = $1", table.name());
        let done = self
            .write(table, name, sqlx::query(AssertSqlSafe(sql)).bind(name))
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

/// A compare-and-swap that kept losing to other writers.
fn contended(table: Table, name: &str) -> ApiError {
    ApiError::Aborted(format!(
        "{} {name} is changed by others too often; retry",
        table.singular()
    ))
}

/// Server nodes and the leases of their work.
impl Registry {
    /// Records that `node` is alive now (`at`: microseconds since the Unix epoch).
    pub async fn heartbeat(&self, node: &str, at: i64) -> Result<(), ApiError> {
        sqlx::query(
            "INSERT INTO nodes (id, heartbeat) VALUES ($1, $2) \
             ON CONFLICT (id) DO UPDATE SET heartbeat = excluded.heartbeat",
        )
        .bind(node)
        .bind(at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Forgets a node (it stopped, or its lease expired); what it owned is then ownerless
    /// to the others.
    pub async fn remove_node(&self, node: &str) -> Result<(), ApiError> {
        sqlx::query("DELETE FROM nodes WHERE id = $1")
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets every node but `node` (a registry only one process uses, at its start).
    pub async fn remove_other_nodes(&self, node: &str) -> Result<(), ApiError> {
        sqlx::query("DELETE FROM nodes WHERE id <> $1")
            .bind(node)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Forgets every node whose last heartbeat is older than `before` and that owns
    /// nothing any more.
    pub async fn remove_idle_nodes(&self, before: i64) -> Result<(), ApiError> {
        sqlx::query(
            "DELETE FROM nodes WHERE heartbeat < $1 \
             AND NOT EXISTS (SELECT 1 FROM owners WHERE owners.node = nodes.id)",
        )
        .bind(before)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes `node` the owner of the operation or job `name`.
    pub async fn claim(&self, name: &str, node: &str) -> Result<(), ApiError> {
        sqlx::query(
            "INSERT INTO owners (name, node) VALUES ($1, $2) \
             ON CONFLICT (name) DO UPDATE SET node = excluded.node",
        )
        .bind(name)
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Makes `node` the owner of `name` if nobody owns it; false when somebody does.
    pub async fn claim_free(&self, name: &str, node: &str) -> Result<bool, ApiError> {
        let done = sqlx::query(
            "INSERT INTO owners (name, node) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(node)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() > 0)
    }

    /// Moves `name` from node `from` to node `to`; false when `from` no longer owns it
    /// (another node took it over first).
    pub async fn take_over(&self, name: &str, from: &str, to: &str) -> Result<bool, ApiError> {
        let done = sqlx::query("UPDATE owners SET node = $1 WHERE name = $2 AND node = $3")
            .bind(to)
            .bind(name)
            .bind(from)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// `name` has ended: nobody owns it any more.
    pub async fn release(&self, name: &str) -> Result<(), ApiError> {
        sqlx::query("DELETE FROM owners WHERE name = $1")
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The owner of `name`, if any, with its heartbeat.
    pub async fn owner(&self, name: &str) -> Result<Option<Owned>, ApiError> {
        let row = sqlx::query(
            "SELECT owners.name, owners.node, nodes.heartbeat FROM owners \
             LEFT JOIN nodes ON nodes.id = owners.node WHERE owners.name = $1",
        )
        .bind(name)
        .fetch_optional(&self.pool)
        .await?;
        row.as_ref().map(owned_of).transpose()
    }

    /// Every owned operation and job, with its owner's heartbeat.
    pub async fn owned(&self) -> Result<Vec<Owned>, ApiError> {
        let rows = sqlx::query(
            "SELECT owners.name, owners.node, nodes.heartbeat FROM owners \
             LEFT JOIN nodes ON nodes.id = owners.node ORDER BY owners.name",
        )
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(owned_of).collect()
    }
}

fn owned_of(row: &AnyRow) -> Result<Owned, ApiError> {
    Ok(Owned {
        name: row.try_get("name")?,
        node: row.try_get("node")?,
        heartbeat: row.try_get("heartbeat")?,
    })
}

fn body_of(row: &AnyRow) -> Result<Value, ApiError> {
    let text: String = row.try_get("body")?;
    parse_body(&text)
}

fn parse_body(text: &str) -> Result<Value, ApiError> {
    serde_json::from_str(text)
        .map_err(|e| ApiError::Internal(format!("registry holds invalid JSON: {e}")))
}

/// Microseconds since the Unix epoch, by this machine's clock.
pub fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::{DocumentCache, Table};

    #[test]
    fn a_read_that_raced_a_write_is_not_kept() {
        let cache = DocumentCache::default();
        let name = "projects/p/locations/l/endpoints/e";
        // A read misses and goes to the database; a write ends before it comes back.
        let Err(generation) = cache.get(Table::Endpoints, name) else {
            panic!("an empty cache hit");
        };
        cache.forget(Table::Endpoints, name);
        cache.keep(Table::Endpoints, name, &json!({"n": 1}), generation);
        assert!(
            cache.get(Table::Endpoints, name).is_err(),
            "kept a stale read"
        );
        // Without a write in between, the read is kept, until the next write.
        let Err(generation) = cache.get(Table::Endpoints, name) else {
            panic!("an empty cache hit");
        };
        cache.keep(Table::Endpoints, name, &json!({"n": 2}), generation);
        assert_eq!(cache.get(Table::Endpoints, name), Ok(json!({"n": 2})));
        cache.forget(Table::Endpoints, name);
        assert!(cache.get(Table::Endpoints, name).is_err());
        // Other tables and names are other documents.
        let Err(generation) = cache.get(Table::Models, name) else {
            panic!("an empty cache hit");
        };
        cache.keep(Table::Models, name, &json!({"m": 1}), generation);
        assert!(cache.get(Table::Endpoints, name).is_err());
    }
}
