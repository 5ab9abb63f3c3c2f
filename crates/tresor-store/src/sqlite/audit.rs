//! The audit log on SQLite: the chain append shared by the audit writer and batches, and its listing.

use super::{backend, query_all, SqliteStore};
use crate::rows::{self, AUDIT_COLS};
use crate::{
    link_audit, may_seal, parse_audit_head, AuditChain, AuditRecord, Result, AUDIT_HEAD_MAC_META, AUDIT_HEAD_META,
};
use rusqlite::{params, OptionalExtension, Transaction};

impl SqliteStore {
    pub(super) fn list_audit_impl(&self, after: u64, since: Option<i64>, limit: u32) -> Result<Vec<AuditRecord>> {
        let sql = format!(
            "SELECT {AUDIT_COLS} FROM audit_log WHERE seq > ?1 AND (?2 IS NULL OR at >= ?2) ORDER BY seq LIMIT ?3"
        );
        self.read_with(|c| query_all(c, &sql, params![after as i64, since, limit], rows::audit))
    }
}

/// [`crate::Store::append_audit`] inside a caller's transaction: the one chain append of this
/// backend, used by the audit writer's appends and by batches alike. The single writer
/// connection serialises them, so the chain stays one line.
pub(super) fn append_audit_tx(
    tx: &Transaction<'_>,
    mut records: Vec<AuditRecord>,
    chain: &dyn AuditChain,
) -> Result<Vec<u64>> {
    // Continue from the recorded head, not from the log's last row: if records were removed from
    // the end, new ones must not paper over the gap (verify reports it). Statements are cached:
    // an append runs for every read of a secret, and parsing its SQL anew each time showed in
    // profiles.
    let meta = |key: &str| -> Result<Option<Vec<u8>>> {
        tx.prepare_cached("SELECT value FROM meta WHERE key = ?1")
            .and_then(|mut st| st.query_row([key], |r| r.get(0)).optional())
            .map_err(backend)
    };
    let recorded = meta(AUDIT_HEAD_META)?;
    let sealable =
        may_seal(recorded.as_deref().and_then(parse_audit_head), meta(AUDIT_HEAD_MAC_META)?.as_deref(), chain);
    let (seq, prev) = match recorded.as_deref().and_then(parse_audit_head) {
        Some((seq, hash)) => (seq, hash.to_vec()),
        None => {
            let last: Option<(i64, Vec<u8>)> = tx
                .query_row("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .optional()
                .map_err(backend)?;
            last.map_or((0u64, Vec::new()), |(s, h)| (s as u64, h))
        }
    };
    let (head, head_mac) = link_audit(&mut records, seq, prev, chain);
    let mut stmt = tx
        .prepare_cached(&format!(
            "INSERT INTO audit_log ({AUDIT_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
        ))
        .map_err(backend)?;
    let mut seqs = Vec::with_capacity(records.len());
    for rec in &records {
        stmt.execute(params![
            rec.seq as i64,
            rec.at,
            rec.workspace,
            rec.request_id,
            rec.principal,
            rec.action,
            rec.target,
            rec.outcome,
            rec.detail,
            rec.prev_hash,
            rec.hash
        ])
        .map_err(backend)?;
        seqs.push(rec.seq);
    }
    drop(stmt);
    let mut upsert = tx
        .prepare_cached("INSERT INTO meta (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = ?2")
        .map_err(backend)?;
    upsert.execute(params![AUDIT_HEAD_META, head]).map_err(backend)?;
    if sealable {
        upsert.execute(params![AUDIT_HEAD_MAC_META, head_mac]).map_err(backend)?;
    }
    Ok(seqs)
}
