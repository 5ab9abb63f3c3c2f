//! The audit log on PostgreSQL: the chain append shared by the audit writer and batches, and its
//! listings.

use super::{backend, PostgresStore};
use crate::rows::{self, AUDIT_COLS, CHAIN_COLS};
use crate::{link_audit, AuditRecord, ChainHead, ChainWriter, Result, StoreError};
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{GenericClient, Statement};

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

/// The append: in ONE statement, moves the chain's head (only from where the writer left it, `$5`;
/// a new chain has no row yet) and inserts the records (`seq` from the log's sequence) only if
/// the head moved. Its parameters are [`APPEND_TYPES`].
pub(super) const APPEND: &str = "WITH moved AS (
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
             AS u(at, workspace, request_id, principal, action, target, outcome, detail, chain_seq, prev_hash, hash)
         WHERE EXISTS (SELECT 1 FROM moved)";

/// The types of [`APPEND`]'s parameters.
pub(super) const APPEND_TYPES: &[Type] = &[
    Type::TEXT,
    Type::BYTEA,
    Type::BYTEA,
    Type::INT8,
    Type::BYTEA,
    Type::INT8_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::TEXT_ARRAY,
    Type::INT8_ARRAY,
    Type::BYTEA_ARRAY,
    Type::BYTEA_ARRAY,
];

/// [`crate::Store::append_audit`] inside a caller's transaction (a change group's): links
/// `records` after `at` on `chain` and runs [`APPEND`] unprepared, one round trip. The lock it
/// takes is its chain's own row, which no other writer touches: servers on one database append
/// side by side.
pub(super) async fn append_audit_tx(
    tx: &super::pool::PgTx<'_>,
    records: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    append(&**tx, None, records, chain, at).await
}

/// The same with [`APPEND`] prepared on the connection (the audit writer's groups of reads).
pub(super) async fn append_prepared(
    client: &impl GenericClient,
    append_statement: &Statement,
    records: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    append(client, Some(append_statement), records, chain, at).await
}

async fn append(
    client: &impl GenericClient,
    prepared: Option<&Statement>,
    mut records: Vec<AuditRecord>,
    chain: &ChainWriter,
    at: &mut (u64, Vec<u8>),
) -> Result<()> {
    let crate::LinkedHead { expected, head, head_mac } = link_audit(&mut records, at, chain);
    let count = records.len() as u64;
    let mut cols = AuditColumns::with_capacity(records.len());
    for rec in records {
        cols.push(rec);
    }
    let now = tresor_model::now_millis();
    let name = chain.name();
    let params: [&(dyn ToSql + Sync); 16] = [
        &name,
        &head,
        &head_mac,
        &now,
        &expected,
        &cols.at,
        &cols.workspace,
        &cols.request_id,
        &cols.principal,
        &cols.action,
        &cols.target,
        &cols.outcome,
        &cols.detail,
        &cols.chain_seq,
        &cols.prev_hash,
        &cols.hash,
    ];
    let inserted = match prepared {
        Some(statement) => client.execute(statement, &params).await,
        None => {
            let typed: Vec<(&(dyn ToSql + Sync), Type)> =
                params.iter().zip(APPEND_TYPES).map(|(p, t)| (*p, t.clone())).collect();
            client.execute_typed(APPEND, &typed).await
        }
    }
    .map_err(backend)?;
    if inserted != count {
        return Err(StoreError::AuditAppend(format!(
            "audit chain {:?} was appended to by another writer; this writer stops using it",
            chain.name()
        )));
    }
    Ok(())
}
