//! The store contract (`avvio_tests::contract`, which the DynamoDB store passes too) on the
//! SQLite store, each test on a fresh file.

use avvio_sqlite::SqliteStore;
use std::sync::atomic::{AtomicU32, Ordering};

static FILES: AtomicU32 = AtomicU32::new(0);

/// A fresh store on a new file under the system's temporary directory.
async fn store() -> SqliteStore {
    let dir = std::env::temp_dir().join(format!("avvio-sqlite-contract-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let path = dir.join(format!("{}.db", FILES.fetch_add(1, Ordering::Relaxed)));
    SqliteStore::open(&path).expect("a new database opens")
}

avvio_tests::store_contract_tests!(store());

#[tokio::test]
async fn ended_runs_are_forgotten_once_their_retention_has_passed() {
    avvio_tests::retention::ended_runs_are_forgotten_once_their_retention_has_passed(&store().await).await;
}
