//! The audit log on PostgreSQL: the chain append shared by the audit writer and batches, and its
//! listing.

use super::{backend, col, PostgresStore};
use crate::rows::{self, AUDIT_COLS};
use crate::{
    link_audit, may_seal, parse_audit_head, AuditChain, AuditRecord, Result, StoreError, AUDIT_HEAD_MAC_META,
    AUDIT_HEAD_META,
};
use tokio_postgres::types::Type;
use tokio_postgres::Transaction;

impl PostgresStore {
    pub(super) async fn list_audit_impl(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.all(
            &format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > $1 AND ($2::BIGINT IS NULL OR at >= $2)
                     ORDER BY seq LIMIT $3"
            ),
            &[&(after as i64), &since, &i64::from(limit)],
            rows::audit,
        )
        .await
    }
}

/// A batch of audit records as one array per column, for `INSERT ... SELECT * FROM UNNEST(...)`.
#[derive(Default)]
struct AuditColumns {
    seq: Vec<i64>,
    at: Vec<i64>,
    workspace: Vec<String>,
    request_id: Vec<String>,
    principal: Vec<String>,
    action: Vec<String>,
    target: Vec<String>,
    outcome: Vec<String>,
    detail: Vec<Option<String>>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl AuditColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            seq: Vec::with_capacity(n),
            at: Vec::with_capacity(n),
            workspace: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            principal: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            outcome: Vec::with_capacity(n),
            detail: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: AuditRecord) {
        self.seq.push(r.seq as i64);
        self.at.push(r.at);
        self.workspace.push(r.workspace);
        self.request_id.push(r.request_id);
        self.principal.push(r.principal);
        self.action.push(r.action);
        self.target.push(r.target);
        self.outcome.push(r.outcome);
        self.detail.push(r.detail);
        self.prev_hash.push(r.prev_hash);
        self.hash.push(r.hash);
    }
}

/// [`crate::Store::append_audit`] inside a caller's transaction: the one chain append of this
/// backend, used by the audit writer's appends and by batches alike.
///
/// The `audit_head` meta row (sequence number, 8 bytes big-endian, then hash) is the chain's lock
/// and its head at once: appenders on other connections (the audit writer, a batch, another
/// server) wait on this row lock until this transaction commits, then read the head it left, so
/// the chain stays one line. The first append creates the row (an empty placeholder until this
/// transaction overwrites it). The statements are typed, so each is one round trip (no separate
/// prepare) while the lock is held.
pub(super) async fn append_audit_tx(
    tx: &Transaction<'_>,
    mut records: Vec<AuditRecord>,
    chain: &dyn AuditChain,
) -> Result<Vec<u64>> {
    let lock = "SELECT value FROM meta WHERE key = $1 FOR UPDATE";
    let mut locked = tx.query_typed_opt(lock, &[(&AUDIT_HEAD_META, Type::TEXT)]).await.map_err(backend)?;
    if locked.is_none() {
        tx.execute_typed(
            "INSERT INTO meta (key, value) VALUES ($1, '') ON CONFLICT (key) DO NOTHING",
            &[(&AUDIT_HEAD_META, Type::TEXT)],
        )
        .await
        .map_err(backend)?;
        locked = tx.query_typed_opt(lock, &[(&AUDIT_HEAD_META, Type::TEXT)]).await.map_err(backend)?;
    }
    let stored: Vec<u8> = match &locked {
        Some(row) => col(row, 0)?,
        None => return Err(StoreError::Corrupt("the audit_head row vanished under its lock".into())),
    };
    // Read after the head's lock is held (a statement of its own, so it sees what the last
    // holder committed): only holders of that lock write the MAC.
    let mac = tx
        .query_typed_opt("SELECT value FROM meta WHERE key = $1", &[(&AUDIT_HEAD_MAC_META, Type::TEXT)])
        .await
        .map_err(backend)?
        .map(|row| col::<Vec<u8>>(&row, 0))
        .transpose()?;
    let sealable = may_seal(parse_audit_head(&stored), mac.as_deref(), chain);
    // Continue from the recorded head, not from the log's last row: if records were removed
    // from the end, new ones must not paper over the gap (verify reports it).
    let (seq, prev) = match parse_audit_head(&stored) {
        Some((seq, hash)) => (seq, hash.to_vec()),
        None => {
            // No head recorded yet: start from the log itself (empty for a new store).
            let head = tx
                .query_typed_opt("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", &[])
                .await
                .map_err(backend)?;
            match head {
                Some(r) => (col::<i64>(&r, 0)? as u64, col::<Vec<u8>>(&r, 1)?),
                None => (0, Vec::new()),
            }
        }
    };
    let (head, head_mac) = link_audit(&mut records, seq, prev, chain);
    let seqs = records.iter().map(|r| r.seq).collect();
    let mut cols = AuditColumns::with_capacity(records.len());
    for rec in records {
        cols.push(rec);
    }
    // One multi-row INSERT for the whole batch.
    tx.execute_typed(
        &format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) SELECT * FROM UNNEST($1::BIGINT[], $2::BIGINT[], $3::TEXT[], \
             $4::TEXT[], $5::TEXT[], $6::TEXT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::BYTEA[], $11::BYTEA[])"
        ),
        &[
            (&cols.seq, Type::INT8_ARRAY),
            (&cols.at, Type::INT8_ARRAY),
            (&cols.workspace, Type::TEXT_ARRAY),
            (&cols.request_id, Type::TEXT_ARRAY),
            (&cols.principal, Type::TEXT_ARRAY),
            (&cols.action, Type::TEXT_ARRAY),
            (&cols.target, Type::TEXT_ARRAY),
            (&cols.outcome, Type::TEXT_ARRAY),
            (&cols.detail, Type::TEXT_ARRAY),
            (&cols.prev_hash, Type::BYTEA_ARRAY),
            (&cols.hash, Type::BYTEA_ARRAY),
        ],
    )
    .await
    .map_err(backend)?;
    // The head and its MAC in one statement (the head row is already locked); a broken seal is
    // left broken (see `may_seal`), the head moves on.
    if sealable {
        tx.execute_typed(
            "INSERT INTO meta (key, value) VALUES ($1, $2), ($3, $4) ON CONFLICT (key) DO UPDATE SET value = EXCLUDED.value",
            &[
                (&AUDIT_HEAD_META, Type::TEXT),
                (&head, Type::BYTEA),
                (&AUDIT_HEAD_MAC_META, Type::TEXT),
                (&head_mac, Type::BYTEA),
            ],
        )
        .await
        .map_err(backend)?;
    } else {
        tx.execute_typed(
            "UPDATE meta SET value = $2 WHERE key = $1",
            &[(&AUDIT_HEAD_META, Type::TEXT), (&head, Type::BYTEA)],
        )
        .await
        .map_err(backend)?;
    }
    Ok(seqs)
}
