//! The audit log on PostgreSQL: the chain append shared by the audit writer and batches, and its
//! listings.

use super::{backend, PostgresStore};
use crate::rows::{self, AUDIT_COLS, CHAIN_COLS};
use crate::{link_audit, AuditRecord, ChainHead, ChainWriter, Result, StoreError};
use tokio_postgres::types::Type;
use tokio_postgres::GenericClient;

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

    pub(super) async fn list_audit_desc_impl(&self, before: Option<u64>, limit: u32) -> Result<Vec<AuditRecord>> {
        self.all(
            &format!(
                "SELECT {AUDIT_COLS} FROM audit_log WHERE ($1::BIGINT IS NULL OR seq < $1) ORDER BY seq DESC LIMIT $2"
            ),
            &[&before.map(|b| b as i64), &i64::from(limit)],
            rows::audit,
        )
        .await
    }

    pub(super) async fn audit_chains_impl(&self) -> Result<Vec<ChainHead>> {
        self.all(&format!("SELECT {CHAIN_COLS} FROM audit_chains ORDER BY chain"), &[], rows::chain_head).await
    }
}

/// A batch of audit records as one array per column, for `INSERT ... SELECT * FROM UNNEST(...)`.
#[derive(Default)]
struct AuditColumns {
    at: Vec<i64>,
    workspace: Vec<String>,
    request_id: Vec<String>,
    principal: Vec<String>,
    action: Vec<String>,
    target: Vec<String>,
    outcome: Vec<String>,
    detail: Vec<Option<String>>,
    chain_seq: Vec<i64>,
    prev_hash: Vec<Vec<u8>>,
    hash: Vec<Vec<u8>>,
}

impl AuditColumns {
    fn with_capacity(n: usize) -> Self {
        Self {
            at: Vec::with_capacity(n),
            workspace: Vec::with_capacity(n),
            request_id: Vec::with_capacity(n),
            principal: Vec::with_capacity(n),
            action: Vec::with_capacity(n),
            target: Vec::with_capacity(n),
            outcome: Vec::with_capacity(n),
            detail: Vec::with_capacity(n),
            chain_seq: Vec::with_capacity(n),
            prev_hash: Vec::with_capacity(n),
            hash: Vec::with_capacity(n),
        }
    }

    fn push(&mut self, r: AuditRecord) {
        self.at.push(r.at);
        self.workspace.push(r.workspace);
        self.request_id.push(r.request_id);
        self.principal.push(r.principal);
        self.action.push(r.action);
        self.target.push(r.target);
        self.outcome.push(r.outcome);
        self.detail.push(r.detail);
        self.chain_seq.push(r.chain_seq as i64);
        self.prev_hash.push(r.prev_hash);
        self.hash.push(r.hash);
    }
}

/// [`crate::Store::append_audit`] on `client` (a caller's transaction, or a connection inside a
/// transaction it pipelines): links `records` after `at` on `chain`, and in ONE statement moves
/// the chain's head (only from where this writer left it: a new chain has no row yet) and inserts
/// the records (`seq` from the log's sequence) only if the head moved. One round trip, and no
/// lock but the chain's own row, which no other writer touches: servers on one database append
/// side by side.
pub(super) async fn append_audit_tx(
    client: &impl GenericClient,
    mut records: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    let expected = if at.0 == 0 { Vec::new() } else { crate::encode_chain_head(at.0, &at.1) };
    let (head, head_mac) = link_audit(&mut records, at, chain);
    let count = records.len() as u64;
    let mut cols = AuditColumns::with_capacity(records.len());
    for rec in records {
        cols.push(rec);
    }
    let now = tresor_model::now_millis();
    let inserted = client
        .execute_typed(
            "WITH moved AS (
                 INSERT INTO audit_chains (chain, head, head_mac, started_at, updated_at) VALUES ($1, $2, $3, $4, $4)
                 ON CONFLICT (chain) DO UPDATE SET head = EXCLUDED.head, head_mac = EXCLUDED.head_mac,
                     updated_at = EXCLUDED.updated_at
                 WHERE audit_chains.head = $5
                 RETURNING 1)
             INSERT INTO audit_log (at, workspace, request_id, principal, action, target, outcome, detail, chain,
                     chain_seq, prev_hash, hash)
                 SELECT u.at, u.workspace, u.request_id, u.principal, u.action, u.target, u.outcome, u.detail, $1,
                     u.chain_seq, u.prev_hash, u.hash
                 FROM UNNEST($6::BIGINT[], $7::TEXT[], $8::TEXT[], $9::TEXT[], $10::TEXT[], $11::TEXT[], $12::TEXT[],
                     $13::TEXT[], $14::BIGINT[], $15::BYTEA[], $16::BYTEA[])
                     AS u(at, workspace, request_id, principal, action, target, outcome, detail, chain_seq, prev_hash,
                         hash)
                 WHERE EXISTS (SELECT 1 FROM moved)",
            &[
                (&chain.name(), Type::TEXT),
                (&head, Type::BYTEA),
                (&head_mac, Type::BYTEA),
                (&now, Type::INT8),
                (&expected, Type::BYTEA),
                (&cols.at, Type::INT8_ARRAY),
                (&cols.workspace, Type::TEXT_ARRAY),
                (&cols.request_id, Type::TEXT_ARRAY),
                (&cols.principal, Type::TEXT_ARRAY),
                (&cols.action, Type::TEXT_ARRAY),
                (&cols.target, Type::TEXT_ARRAY),
                (&cols.outcome, Type::TEXT_ARRAY),
                (&cols.detail, Type::TEXT_ARRAY),
                (&cols.chain_seq, Type::INT8_ARRAY),
                (&cols.prev_hash, Type::BYTEA_ARRAY),
                (&cols.hash, Type::BYTEA_ARRAY),
            ],
        )
        .await
        .map_err(backend)?;
    if inserted != count {
        return Err(StoreError::AuditAppend(format!(
            "audit chain {:?} was appended to by another writer; this writer stops using it",
            chain.name()
        )));
    }
    Ok(())
}
