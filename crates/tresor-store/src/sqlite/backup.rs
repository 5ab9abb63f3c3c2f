//! Export and import of whole-store snapshots on SQLite.

use super::{backend, SqliteStore};
use crate::snapshot::{not_empty, Cell, TableDef, TABLES};
use crate::{Result, Snapshot, SnapshotHeader, SnapshotTables, StoreError};
use rusqlite::types::{ToSqlOutput, Value, ValueRef};
use rusqlite::Connection;

fn schema_version(c: &Connection) -> Result<i64> {
    c.query_row("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", [], |r| r.get(0)).map_err(backend)
}

fn read_table(c: &Connection, def: &TableDef) -> Result<Vec<Vec<Cell>>> {
    let mut stmt = c.prepare(&def.select_all()).map_err(backend)?;
    let width = def.columns.len();
    let rows = stmt
        .query_map([], |r| (0..width).map(|i| r.get::<_, Value>(i)).collect::<rusqlite::Result<Vec<_>>>())
        .map_err(backend)?;
    let mut out = Vec::new();
    for row in rows {
        let cells = row
            .map_err(backend)?
            .into_iter()
            .map(|v| match v {
                Value::Null => Ok(Cell::Null),
                Value::Integer(i) => Ok(Cell::Int(i)),
                Value::Text(s) => Ok(Cell::Text(s)),
                Value::Blob(b) => Ok(Cell::Bytes(b)),
                Value::Real(_) => Err(StoreError::Corrupt(format!("{}: a REAL value where none belongs", def.name))),
            })
            .collect::<Result<Vec<_>>>()?;
        out.push(cells);
    }
    Ok(out)
}

impl rusqlite::ToSql for Cell {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        Ok(ToSqlOutput::Borrowed(match self {
            Cell::Null => ValueRef::Null,
            Cell::Int(i) => ValueRef::Integer(*i),
            Cell::Text(s) => ValueRef::Text(s.as_bytes()),
            Cell::Bytes(b) => ValueRef::Blob(b),
        }))
    }
}

impl SqliteStore {
    pub(super) fn export_snapshot_impl(&self) -> Result<Snapshot> {
        self.read_with(|c| {
            // A deferred transaction: its first read fixes the WAL snapshot every later read sees,
            // so the copy is consistent while the writer keeps committing.
            let tx = c.unchecked_transaction().map_err(backend)?;
            let header = SnapshotHeader::new("sqlite", schema_version(&tx)?);
            let tables = SnapshotTables::from_cells(|def| read_table(&tx, def))?;
            Ok(Snapshot { header, tables })
        })
    }

    pub(super) fn import_snapshot_impl(&self, snapshot: &Snapshot) -> Result<()> {
        self.write(|tx| {
            snapshot.check_schema(schema_version(tx)?)?;
            let mut used = Vec::new();
            for def in TABLES {
                let any: bool = tx
                    .query_row(&format!("SELECT EXISTS (SELECT 1 FROM {})", def.name), [], |r| r.get(0))
                    .map_err(backend)?;
                if any {
                    used.push(def.name);
                }
            }
            if !used.is_empty() {
                return Err(not_empty(&used));
            }
            for (def, rows) in snapshot.tables.to_cells() {
                let placeholders: Vec<String> = (1..=def.columns.len()).map(|i| format!("?{i}")).collect();
                let mut stmt = tx
                    .prepare(&format!(
                        "INSERT INTO {} ({}) VALUES ({})",
                        def.name,
                        def.columns.join(", "),
                        placeholders.join(", ")
                    ))
                    .map_err(backend)?;
                for row in rows {
                    stmt.execute(rusqlite::params_from_iter(&row))
                        .map_err(|e| StoreError::Backend(format!("restoring a row of {}: {e}", def.name)))?;
                }
            }
            Ok(())
        })
    }
}
