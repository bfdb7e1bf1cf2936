//! A real PostgreSQL for tests: a throwaway cluster on a free loopback port, started once per
//! test binary and shared by its tests, each test getting a database of its own
//! ([`database`]). With `PRISM_TEST_DATABASE_URL` set (a role that may create databases),
//! the tests create their databases on that server instead.
//!
//! The cluster comes from the PostgreSQL server binaries (`initdb`, `pg_ctl`, `psql`):
//! `PRISM_TEST_PG_BIN` if set, else the newest `/usr/lib/postgresql/*/bin` (Debian's
//! `postgresql` package), else `PATH`. Without them every test that asks for a database
//! fails, saying so: a PostgreSQL test is never skipped. `initdb` refuses to run as root, so
//! as root the cluster belongs to the `postgres` user (run through `runuser`). A watcher
//! process stops the cluster and removes its folder once the test binary has exited.
// Shared by several test binaries, each using part of it.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

/// Where databases are created: `postgres://user@host:port` plus the query string, if any.
struct Server {
    /// The server URL without a database (`postgres://postgres@127.0.0.1:5433`).
    base: String,
    /// `psql`.
    psql: PathBuf,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// The URL of a new, empty PostgreSQL database for one test. Panics, naming what is
/// missing, when no PostgreSQL can be had.
pub fn database() -> String {
    let server = match SERVER.get_or_init(start) {
        Ok(s) => s,
        Err(e) => panic!("no PostgreSQL for this test: {e}"),
    };
    let name = format!(
        "prism_test_{}_{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let out = Command::new(&server.psql)
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d"])
        .arg(format!("{}/postgres", server.base))
        .args(["-c", &format!("CREATE DATABASE {name}")])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", server.psql.display()));
    check(&out, "psql CREATE DATABASE");
    format!("{}/{name}", server.base)
}

/// Runs one SQL statement with `psql` on a database [`database`] made, and returns its
/// rows: one line each, columns separated by `|`.
pub fn query(url: &str, sql: &str) -> String {
    let server = match SERVER.get() {
        Some(Ok(s)) => s,
        _ => panic!("query({url}): no database was made in this test binary"),
    };
    let out = Command::new(&server.psql)
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", server.psql.display()));
    check(&out, sql);
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn start() -> Result<Server, String> {
    if let Ok(url) = std::env::var("PRISM_TEST_DATABASE_URL") {
        let psql = find_bin("psql")?;
        // postgres://user@host:port/db?x → postgres://user@host:port (databases are added).
        let rest = url
            .split_once("://")
            .map(|(_, r)| r)
            .ok_or_else(|| format!("PRISM_TEST_DATABASE_URL={url}: not a postgres:// URL"))?;
        let authority = rest.split(['/', '?']).next().unwrap_or(rest);
        let scheme = url.split("://").next().unwrap_or("postgres");
        return Ok(Server {
            base: format!("{scheme}://{authority}"),
            psql,
        });
    }
    let initdb = find_bin("initdb")?;
    let bin = initdb.parent().map(Path::to_path_buf).unwrap_or_default();
    let (pg_ctl, psql) = (bin.join("pg_ctl"), bin.join("psql"));
    let root = is_root();
    let dir = std::env::temp_dir().join(format!(
        "prism-pg-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0)
    ));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    if root {
        let out = Command::new("chown")
            .args(["postgres:postgres"])
            .arg(&dir)
            .output()
            .map_err(|e| format!("chown: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "running as root, the cluster must belong to the `postgres` user, but chown \
                 postgres {} failed: {}",
                dir.display(),
                String::from_utf8_lossy(&out.stderr)
            ));
        }
    }
    let data = dir.join("data");
    let out = as_owner(root, &initdb)
        .arg("-D")
        .arg(&data)
        .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync"])
        .output()
        .map_err(|e| format!("running {}: {e}", initdb.display()))?;
    if !out.status.success() {
        return Err(format!(
            "initdb failed: {}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .map_err(|e| format!("finding a free port: {e}"))?;
    let options = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300",
        dir.display()
    );
    let out = as_owner(root, &pg_ctl)
        .arg("-D")
        .arg(&data)
        .args(["-o", &options, "-l"])
        .arg(dir.join("log"))
        .args(["-w", "-t", "60", "start"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("running {}: {e}", pg_ctl.display()))?;
    if !out.status.success() {
        let log = std::fs::read_to_string(dir.join("log")).unwrap_or_default();
        return Err(format!(
            "pg_ctl start failed: {}{log}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    // Once this test binary exits, stop the cluster and remove its folder.
    let runas = if root { "runuser -u postgres -- " } else { "" };
    let watcher = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; \
         {runas}'{pg_ctl}' -D '{data}' -m immediate stop >/dev/null 2>&1; rm -rf '{dir}'",
        pid = std::process::id(),
        pg_ctl = pg_ctl.display(),
        data = data.display(),
        dir = dir.display(),
    );
    Command::new("sh")
        .args(["-c", &watcher])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("starting the cluster's watcher: {e}"))?;
    Ok(Server {
        base: format!("postgres://postgres@127.0.0.1:{port}"),
        psql,
    })
}

/// A PostgreSQL program: in `PRISM_TEST_PG_BIN`, the newest `/usr/lib/postgresql/*/bin`,
/// or on `PATH`.
fn find_bin(name: &str) -> Result<PathBuf, String> {
    if let Ok(dir) = std::env::var("PRISM_TEST_PG_BIN") {
        let path = Path::new(&dir).join(name);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!("PRISM_TEST_PG_BIN={dir} has no {name}"))
        };
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let path = e.path().join("bin").join(name);
            path.is_file().then_some((version, path))
        })
        .collect();
    versions.sort();
    if let Some((_, path)) = versions.pop() {
        return Ok(path);
    }
    std::env::var_os("PATH")
        .iter()
        .flat_map(std::env::split_paths)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "the PostgreSQL program `{name}` was not found (looked in PRISM_TEST_PG_BIN, \
                 /usr/lib/postgresql/*/bin and PATH); install Debian's `postgresql` package \
                 (scripts/test.sh does) or set PRISM_TEST_DATABASE_URL to a server where \
                 the tests may create databases"
            )
        })
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A command run as the cluster's owner: `postgres` when the tests run as root.
fn as_owner(root: bool, program: &Path) -> Command {
    if root {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(program);
        c
    } else {
        Command::new(program)
    }
}

fn check(out: &Output, what: &str) {
    assert!(
        out.status.success(),
        "{what} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}
