//! The audit writer on its own, against a real database: two writers (two replicas) recording
//! concurrently, and the writer's connection cut while statements are in flight, keep one
//! gap-free, unbroken chain, and every acknowledged entry is stored exactly as acknowledged.

use std::collections::HashMap;

use futures_util::future::join_all;
use runtime_service::audit::{AuditWriter, NewEntry, Recorded};
use runtime_service::keys::Keys;

/// A successful `search_flights` entry for `human:ana@example.com`, invocation `inv-<i>`.
pub fn entry(i: usize) -> NewEntry {
    NewEntry {
        capability: "search_flights".into(),
        root_principal: Some("human:ana@example.com".into()),
        invocation_id: Some(format!("inv-{i:06}")),
        success: true,
        ..NewEntry::default()
    }
}

/// The whole log recomputed in SQL: `(entries, gaps, broken links, wrong hashes)`, with the
/// sequence starting at 1.
async fn check_chain(pool: &store::Pool) -> (i64, i64, i64, i64) {
    let client = pool.get().await.unwrap();
    let row = client
        .query_one(
            "SELECT count(*),
                    count(*) FILTER (WHERE sequence_number <> prev_seq + 1),
                    count(*) FILTER (WHERE previous_hash <> prev_hash),
                    count(*) FILTER (WHERE entry_hash <> 'sha256:' || encode(sha256(convert_to(canonical, 'UTF8')), 'hex'))
             FROM (SELECT sequence_number, canonical, entry_hash, previous_hash,
                          coalesce(lag(sequence_number) OVER w, 0) AS prev_seq,
                          coalesce(lag(entry_hash) OVER w, 'sha256:0') AS prev_hash
                   FROM runtime_audit_log WINDOW w AS (ORDER BY sequence_number)) AS chain",
            &[],
        )
        .await
        .unwrap();
    (row.get(0), row.get(1), row.get(2), row.get(3))
}

/// Every stored entry: sequence number → (canonical text, signature).
async fn stored(pool: &store::Pool) -> HashMap<i64, (String, String)> {
    let client = pool.get().await.unwrap();
    client
        .query(
            "SELECT sequence_number, canonical, signature FROM runtime_audit_log",
            &[],
        )
        .await
        .unwrap()
        .iter()
        .map(|row| (row.get(0), (row.get(1), row.get(2))))
        .collect()
}

/// Each acknowledged entry is stored at its sequence number with the same text and signature.
fn assert_stored_as_acknowledged(
    acknowledged: &[&Recorded],
    stored: &HashMap<i64, (String, String)>,
) {
    for recorded in acknowledged {
        let (canonical, signature) = stored.get(&recorded.sequence_number).unwrap_or_else(|| {
            panic!(
                "entry {} acknowledged, not stored",
                recorded.sequence_number
            )
        });
        assert_eq!(canonical, &recorded.canonical);
        assert_eq!(signature, &recorded.signature);
    }
}

#[actix_web::test]
async fn two_writers_recording_concurrently_keep_one_gap_free_chain() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let keys = Keys::load_or_create(&db.pool()).await.unwrap();
    let writers = [
        AuditWriter::spawn(db.pool(), keys.clone()),
        AuditWriter::spawn(db.pool(), keys),
    ];

    // Ten waves of 60 entries recorded at once, half through each writer: from the second wave
    // on, each writer finds that the other appended since its own last batch.
    let mut recorded: Vec<Recorded> = Vec::new();
    for wave in 0..10 {
        let calls = (0..60).map(|i| {
            let writer = writers[i % 2].clone();
            async move { writer.record(entry(wave * 60 + i)).await }
        });
        recorded.extend(
            join_all(calls)
                .await
                .into_iter()
                .map(|outcome| outcome.expect("every entry is recorded")),
        );
    }

    let mut sequences: Vec<i64> = recorded.iter().map(|r| r.sequence_number).collect();
    sequences.sort_unstable();
    assert_eq!(sequences, (1..=600).collect::<Vec<i64>>());
    assert_eq!(check_chain(&db.pool()).await, (600, 0, 0, 0));
    let acknowledged: Vec<&Recorded> = recorded.iter().collect();
    assert_stored_as_acknowledged(&acknowledged, &stored(&db.pool()).await);
}

#[actix_web::test]
async fn a_connection_cut_under_load_loses_no_acknowledged_entry() {
    let db = store::testing::test_database(&runtime_service::MIGRATIONS).await;
    let keys = Keys::load_or_create(&db.pool()).await.unwrap();
    let writer = AuditWriter::spawn(db.pool(), keys);
    let admin = db.pool().get().await.unwrap();

    // Ten waves of 80 entries recorded at once; during each, after 0-3 ms, the writer's
    // connections (those whose last statement touched the head) are cut once.
    let mut outcomes = Vec::new();
    let mut cuts = 0;
    for wave in 0..10 {
        let records = join_all((0..80).map(|i| {
            let writer = writer.clone();
            async move { writer.record(entry(wave * 80 + i)).await }
        }));
        let cut = async {
            tokio::time::sleep(std::time::Duration::from_millis(wave as u64 % 4)).await;
            admin
                .query_one(
                    "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid))
                     FROM pg_stat_activity
                     WHERE datname = current_database() AND pid <> pg_backend_pid()
                       AND query LIKE '%runtime_audit_head%'",
                    &[],
                )
                .await
                .unwrap()
                .get::<_, i64>(0)
        };
        let (done, cut) = futures_util::future::join(records, cut).await;
        outcomes.extend(done);
        cuts += cut;
    }
    assert!(cuts > 0, "no connection of the writer was cut");

    // Once the cuts stop, the writer records again. Each failed attempt takes a connection that
    // was cut before its end was noticed out of the pool (16 at most), so this is bounded.
    let mut after = None;
    for _ in 0..=16 {
        if let Ok(recorded) = writer.record(entry(800)).await {
            after = Some(recorded);
            break;
        }
    }
    let after = after.expect("recorded once the cuts stopped");
    let acknowledged: Vec<&Recorded> = outcomes
        .iter()
        .filter_map(|outcome| outcome.as_ref().ok())
        .chain(std::iter::once(&after))
        .collect();
    assert!(
        acknowledged.len() > 1,
        "no entry was acknowledged during the cuts"
    );
    let failed = outcomes.len() + 1 - acknowledged.len();
    let (entries, gaps, links, hashes) = check_chain(&db.pool()).await;
    assert_eq!((gaps, links, hashes), (0, 0, 0), "{entries} entries");
    // An entry whose answer was lost with its connection may be stored all the same; none that
    // was acknowledged is missing.
    assert!(
        entries >= acknowledged.len() as i64,
        "{entries} stored, {} acknowledged",
        acknowledged.len()
    );
    assert_stored_as_acknowledged(&acknowledged, &stored(&db.pool()).await);
    eprintln!(
        "{cuts} connections cut, {failed} of {} entries not acknowledged",
        outcomes.len() + 1
    );
}
