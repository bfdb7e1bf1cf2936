//! The registry: models, endpoints, operations and batch prediction jobs as JSON documents in SQL (SQLite by
//! default, PostgreSQL for several server nodes), through sqlx's `Any` driver so one set of
//! queries serves both.

use serde_json::Value;
use sqlx::any::{AnyPoolOptions, AnyRow};
// Table names come from the closed `Table` enum, never from input: the dynamic SQL is safe.
use sqlx::{AnyPool, AssertSqlSafe, Row};

use crate::error::ApiError;

/// The resource tables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
    fn singular(self) -> &'static str {
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
/// (`projects/p/locations/l`, or the resource an operation belongs to).
const SCHEMA: [&str; 4] = [
    "CREATE TABLE IF NOT EXISTS models (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS endpoints (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS operations (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS batch_prediction_jobs (name TEXT PRIMARY KEY, parent TEXT NOT NULL, body TEXT NOT NULL, seq BIGINT NOT NULL)",
];

/// A handle on the registry database.
#[derive(Debug, Clone)]
pub struct Registry {
    pool: AnyPool,
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
        for statement in SCHEMA {
            sqlx::query(statement).execute(&pool).await?;
        }
        Ok(Self { pool })
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
        sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .bind(parent)
            .bind(body.to_string())
            .bind(seq)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Inserts a document whose name must be new.
    pub async fn create(
        &self,
        table: Table,
        name: &str,
        parent: &str,
        body: &Value,
    ) -> Result<(), ApiError> {
        if self.get(table, name).await?.is_some() {
            return Err(ApiError::AlreadyExists(format!("{name} already exists")));
        }
        self.put(table, name, parent, body).await
    }

    /// One document by name.
    pub async fn get(&self, table: Table, name: &str) -> Result<Option<Value>, ApiError> {
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

    /// Deletes a document; false when it did not exist.
    pub async fn delete(&self, table: Table, name: &str) -> Result<bool, ApiError> {
        let sql = format!("DELETE FROM {} WHERE name = $1", table.name());
        let done = sqlx::query(AssertSqlSafe(sql))
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }
}

fn body_of(row: &AnyRow) -> Result<Value, ApiError> {
    let text: String = row.try_get("body")?;
    serde_json::from_str(&text)
        .map_err(|e| ApiError::Internal(format!("registry holds invalid JSON: {e}")))
}

fn now_micros() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_micros() as i64)
        .unwrap_or(0)
}
