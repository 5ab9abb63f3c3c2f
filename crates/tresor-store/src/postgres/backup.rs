//! Export and import of whole-store snapshots on PostgreSQL.

use super::pool::PgTx;
use super::{backend, PostgresStore};
use crate::snapshot::{not_empty, Cell, TableDef, TABLES};
use crate::{Result, Snapshot, SnapshotHeader, SnapshotTables, StoreError};
use std::collections::HashMap;
use tokio_postgres::types::private::BytesMut;
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::{IsolationLevel, Row};

/// Rows per INSERT statement: one round trip carries many rows, well under PostgreSQL's limit of
/// 65535 parameters per statement.
const ROWS_PER_INSERT: usize = 500;

impl ToSql for Cell {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut BytesMut,
    ) -> std::result::Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        // Each variant checks that the column's type is one it can be written as.
        match self {
            Cell::Null => Ok(IsNull::Yes),
            Cell::Int(i) => i.to_sql_checked(ty, out),
            Cell::Text(s) => s.to_sql_checked(ty, out),
            Cell::Bytes(b) => b.to_sql_checked(ty, out),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

fn cells_of(row: &Row, table: &str) -> Result<Vec<Cell>> {
    let corrupt = |i: usize, e: tokio_postgres::Error| {
        StoreError::Corrupt(format!("{table} column {i}: {}", super::pg_message(&e)))
    };
    (0..row.len())
        .map(|i| {
            let ty = row.columns()[i].type_();
            let cell = if *ty == Type::INT8 {
                row.try_get::<_, Option<i64>>(i).map_err(|e| corrupt(i, e))?.map(Cell::Int)
            } else if *ty == Type::TEXT {
                row.try_get::<_, Option<String>>(i).map_err(|e| corrupt(i, e))?.map(Cell::Text)
            } else if *ty == Type::BYTEA {
                row.try_get::<_, Option<Vec<u8>>>(i).map_err(|e| corrupt(i, e))?.map(Cell::Bytes)
            } else {
                return Err(StoreError::Corrupt(format!("{table} column {i}: unexpected type {ty}")));
            };
            Ok(cell.unwrap_or(Cell::Null))
        })
        .collect()
}

async fn schema_version(tx: &tokio_postgres::Transaction<'_>) -> Result<i64> {
    let row = tx.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await.map_err(backend)?;
    super::col(&row, 0)
}

async fn insert_rows(tx: &PgTx<'_>, def: &TableDef, rows: &[Vec<Cell>]) -> Result<()> {
    let width = def.columns.len();
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        let values: Vec<String> = (0..chunk.len())
            .map(|r| {
                let params: Vec<String> = (1..=width).map(|c| format!("${}", r * width + c)).collect();
                format!("({})", params.join(", "))
            })
            .collect();
        let sql = format!("INSERT INTO {} ({}) VALUES {}", def.name, def.columns.join(", "), values.join(", "));
        let params: Vec<&(dyn ToSql + Sync)> = chunk.iter().flatten().map(|c| c as &(dyn ToSql + Sync)).collect();
        tx.execute(&sql, &params)
            .await
            .map_err(|e| StoreError::Backend(format!("restoring rows of {}: {}", def.name, super::pg_message(&e))))?;
    }
    Ok(())
}

impl PostgresStore {
    pub(super) async fn export_snapshot_impl(&self) -> Result<Snapshot> {
        let mut conn = self.conn().await?;
        // One snapshot for every statement of the transaction: the copy is consistent while other
        // connections and servers keep committing, and it blocks none of them.
        let tx = conn
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .await
            .map_err(backend)?;
        let header = SnapshotHeader::new("postgres", schema_version(&tx).await?);
        let mut read = HashMap::new();
        for def in TABLES {
            let rows = tx.query(&def.select_all(), &[]).await.map_err(backend)?;
            let cells = rows.iter().map(|r| cells_of(r, def.name)).collect::<Result<Vec<_>>>()?;
            read.insert(def.name, cells);
        }
        tx.commit().await.map_err(backend)?;
        let tables = SnapshotTables::from_cells(|def| Ok(read.remove(def.name).unwrap_or_default()))?;
        Ok(Snapshot { header, tables })
    }

    pub(super) async fn import_snapshot_impl(&self, snapshot: &Snapshot) -> Result<()> {
        let mut conn = self.conn().await?;
        let tx = conn.transaction().await.map_err(backend)?;
        // A server starting on this database meanwhile waits here, then finds the restored audit
        // key and workspace instead of creating its own.
        tx.batch_execute("LOCK TABLE meta, workspaces IN EXCLUSIVE MODE").await.map_err(backend)?;
        snapshot.check_schema(schema_version(&tx).await?)?;
        let mut used = Vec::new();
        for def in TABLES {
            let row =
                tx.query_one(&format!("SELECT EXISTS (SELECT 1 FROM {})", def.name), &[]).await.map_err(backend)?;
            if super::col::<bool>(&row, 0)? {
                used.push(def.name);
            }
        }
        if !used.is_empty() {
            return Err(not_empty(&used));
        }
        for (def, rows) in snapshot.tables.to_cells() {
            insert_rows(&tx, def, &rows).await?;
        }
        // The records came with their numbers: new ones continue after them.
        tx.batch_execute("SELECT setval('audit_log_seq', COALESCE((SELECT max(seq) FROM audit_log), 0) + 1, false)")
            .await
            .map_err(backend)?;
        tx.commit().await.map_err(backend)
    }
}
