//! The registry on both of its databases: SQLite (a file in a temporary folder) and a real
//! PostgreSQL (see `common/postgres.rs`). Every case runs once on each.

mod common {
    pub mod postgres;
}

use std::sync::Arc;

use prism_server::{ApiError, Owned, Registry, Table};
use serde_json::{json, Value};

/// A registry on a fresh database, and what keeps that database alive.
struct Db {
    url: String,
    _dir: Option<tempfile::TempDir>,
}

impl Db {
    fn sqlite() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("registry.db").display());
        Self {
            url,
            _dir: Some(dir),
        }
    }

    fn postgres() -> Self {
        Self {
            url: common::postgres::database(),
            _dir: None,
        }
    }

    async fn connect(&self) -> Registry {
        Registry::connect(&self.url)
            .await
            .unwrap_or_else(|e| panic!("{}: {e}", self.url))
    }
}

/// Runs an `async fn(Db)` case as one test per database.
macro_rules! on_both {
    ($case:ident) => {
        mod $case {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                super::$case(super::Db::sqlite()).await;
            }

            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                super::$case(super::Db::postgres()).await;
            }
        }
    };
}

const PARENT: &str = "projects/p/locations/l";

fn model(n: u32) -> (String, Value) {
    let name = format!("{PARENT}/models/m{n}");
    let doc = json!({"name": name, "displayName": format!("model {n}")});
    (name, doc)
}

on_both!(documents_round_trip_in_creation_order);
async fn documents_round_trip_in_creation_order(db: Db) {
    let registry = db.connect().await;
    assert_eq!(registry.is_shared(), db.url.starts_with("postgres"));
    for n in [3, 1, 2] {
        let (name, doc) = model(n);
        registry
            .create(Table::Models, &name, PARENT, &doc)
            .await
            .unwrap();
    }
    let (name, mut doc) = model(1);
    assert!(matches!(
        registry.create(Table::Models, &name, PARENT, &doc).await,
        Err(ApiError::AlreadyExists(_))
    ));
    // A rewrite keeps the document's place.
    doc["displayName"] = json!("renamed");
    registry
        .put(Table::Models, &name, PARENT, &doc)
        .await
        .unwrap();
    let listed = registry.list(Table::Models, PARENT).await.unwrap();
    let names: Vec<&str> = listed.iter().map(|d| d["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [3, 1, 2].map(|n| format!("{PARENT}/models/m{n}")),
        "oldest first"
    );
    assert_eq!(listed[1]["displayName"], json!("renamed"));
    assert!(registry
        .list(Table::Models, "projects/other/locations/l")
        .await
        .unwrap()
        .is_empty());
    assert_eq!(registry.all(Table::Models).await.unwrap().len(), 3);
    assert!(registry.delete(Table::Models, &name).await.unwrap());
    assert!(!registry.delete(Table::Models, &name).await.unwrap());
    let missing = registry.get_required(Table::Models, &name).await;
    match missing {
        Err(ApiError::NotFound(m)) => assert!(m.contains(&name), "{m}"),
        other => panic!("{other:?}"),
    }

    // Everything is still there through a new connection (a restarted server).
    drop(registry);
    let again = db.connect().await;
    assert_eq!(again.all(Table::Models).await.unwrap().len(), 2);
    let (name, _) = model(2);
    assert_eq!(
        again.get(Table::Models, &name).await.unwrap().unwrap()["displayName"],
        json!("model 2")
    );
}

on_both!(concurrent_updates_from_two_nodes_lose_nothing);
async fn concurrent_updates_from_two_nodes_lose_nothing(db: Db) {
    // Two connection pools, as two server nodes have.
    let a = Arc::new(db.connect().await);
    let b = Arc::new(db.connect().await);
    let name = format!("{PARENT}/endpoints/e");
    a.create(
        Table::Endpoints,
        &name,
        PARENT,
        &json!({"name": name, "ids": []}),
    )
    .await
    .unwrap();
    let mut tasks = Vec::new();
    for i in 0..40 {
        let registry = if i % 2 == 0 { a.clone() } else { b.clone() };
        let name = name.clone();
        tasks.push(tokio::spawn(async move {
            registry
                .update(Table::Endpoints, &name, |doc| {
                    doc["ids"].as_array_mut().unwrap().push(json!(i));
                    Ok(())
                })
                .await
        }));
    }
    for t in tasks {
        assert!(t.await.unwrap().unwrap().is_some());
    }
    let doc = a.get(Table::Endpoints, &name).await.unwrap().unwrap();
    let mut ids: Vec<u64> = doc["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    ids.sort();
    assert_eq!(ids, (0..40).collect::<Vec<u64>>(), "every change kept once");

    // A change that fails leaves the document as it was; a missing document is None.
    let refused = a
        .update(Table::Endpoints, &name, |doc| {
            doc["ids"] = json!([]);
            Err::<(), _>(ApiError::FailedPrecondition("no".into()))
        })
        .await;
    assert!(matches!(refused, Err(ApiError::FailedPrecondition(_))));
    assert_eq!(
        b.get(Table::Endpoints, &name).await.unwrap().unwrap()["ids"]
            .as_array()
            .unwrap()
            .len(),
        40
    );
    let gone = b
        .update(Table::Endpoints, &format!("{name}x"), |_| Ok(()))
        .await
        .unwrap();
    assert!(gone.is_none());
}

on_both!(a_checked_delete_sees_a_change_made_after_its_check);
async fn a_checked_delete_sees_a_change_made_after_its_check(db: Db) {
    let a = db.connect().await;
    let b = Arc::new(db.connect().await);
    let (name, doc) = model(7);
    a.create(
        Table::Models,
        &name,
        PARENT,
        &json!({"doc": doc, "deployed": []}),
    )
    .await
    .unwrap();
    // The first check passes; right after it, before the delete, another node lists a
    // deployment on the model (as a deploy on another node does). The delete must see it.
    let mut checks = 0;
    let refused = a
        .delete_if(Table::Models, &name, |doc| {
            checks += 1;
            if checks == 1 {
                let (b, name) = (b.clone(), name.clone());
                std::thread::spawn(move || {
                    let rt = tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap();
                    rt.block_on(b.update(Table::Models, &name, |doc| {
                        doc["deployed"] = json!(["endpoint e"]);
                        Ok(())
                    }))
                    .unwrap()
                    .unwrap();
                })
                .join()
                .unwrap();
            }
            if doc["deployed"].as_array().is_some_and(|d| !d.is_empty()) {
                return Err(ApiError::FailedPrecondition("deployed".into()));
            }
            Ok(())
        })
        .await;
    assert!(
        matches!(refused, Err(ApiError::FailedPrecondition(_))),
        "{refused:?}"
    );
    assert_eq!(checks, 2);
    let kept = a.get(Table::Models, &name).await.unwrap().unwrap();
    assert_eq!(kept["deployed"], json!(["endpoint e"]));
    // Unchanged since its check, the document goes; a missing one is false.
    assert!(a.delete_if(Table::Models, &name, |_| Ok(())).await.unwrap());
    assert!(a.get(Table::Models, &name).await.unwrap().is_none());
    assert!(!a.delete_if(Table::Models, &name, |_| Ok(())).await.unwrap());
}

on_both!(owners_and_heartbeats);
async fn owners_and_heartbeats(db: Db) {
    let registry = db.connect().await;
    registry.heartbeat("a", 1_000).await.unwrap();
    registry.heartbeat("b", 2_000).await.unwrap();
    registry.heartbeat("a", 3_000).await.unwrap();
    registry.claim("op1", "a").await.unwrap();
    registry.claim("job1", "b").await.unwrap();
    let owned = |name: &str, node: &str, heartbeat: Option<i64>| Owned {
        name: name.into(),
        node: node.into(),
        heartbeat,
    };
    assert_eq!(
        registry.owned().await.unwrap(),
        vec![
            owned("job1", "b", Some(2_000)),
            owned("op1", "a", Some(3_000))
        ]
    );

    // A starting node claims only what nobody owns.
    assert!(!registry.claim_free("op1", "b").await.unwrap());
    assert!(registry.claim_free("job2", "b").await.unwrap());
    assert!(!registry.claim_free("job2", "a").await.unwrap());
    assert_eq!(
        registry.owner("job2").await.unwrap(),
        Some(owned("job2", "b", Some(2_000)))
    );
    registry.release("job2").await.unwrap();

    // Only the node that owns a lease can be taken over from.
    assert!(!registry.take_over("job1", "a", "c").await.unwrap());
    assert!(registry.take_over("job1", "b", "c").await.unwrap());
    assert!(!registry.take_over("job1", "b", "a").await.unwrap());
    assert_eq!(
        registry.owner("job1").await.unwrap(),
        Some(owned("job1", "c", None)),
        "c never beat: no heartbeat"
    );

    // A node gone from `nodes` leaves its leases without a heartbeat.
    registry.remove_node("a").await.unwrap();
    assert_eq!(
        registry.owner("op1").await.unwrap(),
        Some(owned("op1", "a", None))
    );
    registry.release("op1").await.unwrap();
    assert_eq!(registry.owner("op1").await.unwrap(), None);

    // Idle nodes are forgotten unless they still own something.
    registry.heartbeat("c", 1_500).await.unwrap();
    registry.remove_idle_nodes(10_000).await.unwrap();
    assert_eq!(
        registry.owner("job1").await.unwrap(),
        Some(owned("job1", "c", Some(1_500)))
    );
    registry.release("job1").await.unwrap();
    registry.remove_idle_nodes(10_000).await.unwrap();
    registry.heartbeat("d", 20_000).await.unwrap();
    registry.remove_other_nodes("d").await.unwrap();
    registry.claim("x", "b").await.unwrap();
    assert_eq!(
        registry.owned().await.unwrap(),
        vec![owned("x", "b", None)],
        "b was removed with the others"
    );
}

on_both!(nodes_starting_together_all_get_the_schema);
async fn nodes_starting_together_all_get_the_schema(db: Db) {
    let url = Arc::new(db.url.clone());
    let starts: Vec<_> = (0..6)
        .map(|_| {
            let url = url.clone();
            tokio::spawn(async move { Registry::connect(&url).await })
        })
        .collect();
    for start in starts {
        let registry = start
            .await
            .unwrap()
            .unwrap_or_else(|e| panic!("{url}: {e}"));
        assert!(registry.all(Table::Models).await.unwrap().is_empty());
    }
}

/// A SQLite registry belongs to one server process, which reads documents by name from
/// memory: every write through the handle must be seen by the next read, also with reads
/// racing the writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cached_registry_reads_its_own_writes_at_once() {
    let db = Db::sqlite();
    let cached = Arc::new(db.connect().await.with_document_cache());
    let behind = db.connect().await;
    let name = format!("{PARENT}/endpoints/e");
    let doc = |n: u64| json!({"name": name, "n": n});
    let n_of = |v: Option<Value>| v.map(|d| d["n"].as_u64().unwrap());

    cached
        .create(Table::Endpoints, &name, PARENT, &doc(1))
        .await
        .unwrap();
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(1)
    );
    // Served from memory: a write behind the handle's back is not seen ...
    behind
        .put(Table::Endpoints, &name, PARENT, &doc(99))
        .await
        .unwrap();
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(1)
    );
    // ... while every write through it is, at once.
    cached
        .put(Table::Endpoints, &name, PARENT, &doc(2))
        .await
        .unwrap();
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(2)
    );
    cached
        .update(Table::Endpoints, &name, |d| {
            d["n"] = json!(3);
            Ok(())
        })
        .await
        .unwrap();
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(3)
    );
    assert!(cached
        .delete_if(Table::Endpoints, &name, |_| Ok(()))
        .await
        .unwrap());
    assert_eq!(cached.get(Table::Endpoints, &name).await.unwrap(), None);
    cached
        .create(Table::Endpoints, &name, PARENT, &doc(4))
        .await
        .unwrap();
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(4)
    );
    assert!(cached.delete(Table::Endpoints, &name).await.unwrap());
    assert_eq!(cached.get(Table::Endpoints, &name).await.unwrap(), None);

    // Readers racing 100 writers: once the writers are done, the read is the last write.
    // (The interleaving where a read keeps a document older than a write is tested
    // directly, in the registry module's unit test.)
    cached
        .create(Table::Endpoints, &name, PARENT, &doc(0))
        .await
        .unwrap();
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..3)
        .map(|_| {
            let (cached, name, stop) = (cached.clone(), name.clone(), stop.clone());
            tokio::spawn(async move {
                let mut reads = 0u64;
                while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                    cached.get(Table::Endpoints, &name).await.unwrap();
                    reads += 1;
                    // A read from memory never waits: let the writers run.
                    tokio::task::yield_now().await;
                }
                reads
            })
        })
        .collect();
    let writers: Vec<_> = (0..100)
        .map(|_| {
            let (cached, name) = (cached.clone(), name.clone());
            tokio::spawn(async move {
                cached
                    .update(Table::Endpoints, &name, |d| {
                        d["n"] = json!(d["n"].as_u64().unwrap() + 1);
                        Ok(())
                    })
                    .await
                    .unwrap()
            })
        })
        .collect();
    for w in writers {
        assert!(w.await.unwrap().is_some());
    }
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    for r in readers {
        assert!(r.await.unwrap() > 0);
    }
    assert_eq!(
        n_of(cached.get(Table::Endpoints, &name).await.unwrap()),
        Some(100)
    );
}
