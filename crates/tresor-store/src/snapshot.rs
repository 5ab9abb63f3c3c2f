//! Backups: a [`Snapshot`] is every row of every table that holds data, as typed records that do
//! not depend on the backend, so a snapshot taken from SQLite restores into PostgreSQL and back.
//!
//! Nothing in a snapshot is plaintext: values are the sealed bytes of `entry_versions`, data keys
//! and the audit MAC key are wrapped by the root key, tokens and application keys are hashes. The
//! root key itself is never in the store, so it is never in a snapshot: a restored store is read
//! with the same root key as its source.
//!
//! # File format
//!
//! One JSON document (UTF-8), written by [`Snapshot::to_json`] and read by [`Snapshot::from_json`]:
//!
//! ```json
//! {
//!   "header": {"format": 3, "tresor_version": "0.1.0", "created_at": 1718965677123,
//!              "created": "2024-06-21T10:27:57Z", "source_backend": "sqlite", "schema_version": 7},
//!   "tables": {
//!     "meta": [{"key": "audit_mac_key", "value": "<base64>"}, ...],
//!     "workspaces": [...], "data_keys": [...], "environments": [...], "vaults": [...],
//!     "entries": [...], "entry_versions": [...], "principals": [...], "group_members": [...],
//!     "tokens": [...], "grants": [...], "audit_log": [...], "audit_chains": [...], "app_keys": [...]
//!   }
//! }
//! ```
//!
//! Each table is a list of objects whose fields are the table's columns (see the `*Row` types), in
//! primary-key order; byte columns are standard base64 (with padding); timestamps are Unix
//! milliseconds. `format` changes only when this layout does; a reader refuses a newer `format`
//! and reads every older one. `schema_version` is the newest migration applied to the source
//! store; a store refuses to import a snapshot from a newer schema than it knows.
//!
//! Formats:
//! - 3: `audit_log` rows carry `chain` and `chain_seq`, and the chains' heads are in `audit_chains`
//!   (migration 10), no longer in `meta` (`audit_head`, `audit_head_mac`).
//! - 2: `tokens` and `app_keys` rows carry `environment`, the environment the credential is bound
//!   to (`null`: not bound; migration 7).
//! - 1: as 2 without `environment`; read as unbound credentials.

use crate::{Result, StoreError};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

/// The version of the file layout this tresor writes and the newest it reads (it reads every
/// older one too; see the module docs).
pub const SNAPSHOT_FORMAT: u32 = 3;

/// A consistent copy of a whole store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub header: SnapshotHeader,
    pub tables: SnapshotTables,
}

/// Where and when a snapshot was taken.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotHeader {
    /// [`SNAPSHOT_FORMAT`] of the writer.
    pub format: u32,
    /// The tresor version that wrote it.
    pub tresor_version: String,
    /// Unix milliseconds when the snapshot's transaction began (about).
    pub created_at: i64,
    /// The same instant in RFC 3339, for people reading the file.
    pub created: String,
    /// `sqlite` or `postgres`.
    pub source_backend: String,
    /// The newest migration applied to the source store.
    pub schema_version: i64,
}

impl SnapshotHeader {
    /// A header for a snapshot taken now from `backend` at `schema_version`.
    pub(crate) fn new(backend: &str, schema_version: i64) -> Self {
        let now = tresor_model::now_millis();
        Self {
            format: SNAPSHOT_FORMAT,
            tresor_version: env!("CARGO_PKG_VERSION").to_owned(),
            created_at: now,
            created: tresor_model::format_rfc3339(now),
            source_backend: backend.to_owned(),
            schema_version,
        }
    }
}

/// Bytes, written as base64 in a snapshot. `Debug` shows only the length: they are sealed or
/// wrapped, but a log has no use for them.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct Bytes(pub Vec<u8>);

impl std::fmt::Debug for Bytes {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Bytes({} bytes)", self.0.len())
    }
}

impl Serialize for Bytes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map(Bytes).map_err(serde::de::Error::custom)
    }
}

/// One column value as the backends read and write it. The typed rows convert to and from these
/// so that each backend has one generic reader and writer instead of one per table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Cell {
    Null,
    Int(i64),
    Text(String),
    Bytes(Vec<u8>),
}

/// A Rust type a column converts to and from.
trait Column: Sized {
    fn to_cell(&self) -> Cell;
    fn from_cell(cell: Cell) -> Option<Self>;
}

/// A type stored as exactly one kind of cell.
macro_rules! column_as {
    ($ty:ty, $cell:ident) => {
        impl Column for $ty {
            fn to_cell(&self) -> Cell {
                Cell::$cell(<$ty>::to_owned(self))
            }
            fn from_cell(cell: Cell) -> Option<Self> {
                match cell {
                    Cell::$cell(v) => Some(v),
                    _ => None,
                }
            }
        }
    };
}
column_as!(i64, Int);
column_as!(String, Text);

impl Column for Bytes {
    fn to_cell(&self) -> Cell {
        Cell::Bytes(self.0.clone())
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        match cell {
            Cell::Bytes(b) => Some(Bytes(b)),
            // SQLite keeps what it was given; a blob column written as text is still bytes.
            Cell::Text(s) => Some(Bytes(s.into_bytes())),
            _ => None,
        }
    }
}

impl<T: Column> Column for Option<T> {
    fn to_cell(&self) -> Cell {
        self.as_ref().map_or(Cell::Null, T::to_cell)
    }
    fn from_cell(cell: Cell) -> Option<Self> {
        match cell {
            Cell::Null => Some(None),
            other => T::from_cell(other).map(Some),
        }
    }
}

/// A table as the backends see it: its name, its columns in order, and its primary key (the order
/// rows are exported in, identical on both backends since text compares bytewise on both).
#[derive(Debug)]
pub(crate) struct TableDef {
    pub name: &'static str,
    pub columns: &'static [&'static str],
    pub key: &'static str,
}

impl TableDef {
    pub fn select_all(&self) -> String {
        format!("SELECT {} FROM {} ORDER BY {}", self.columns.join(", "), self.name, self.key)
    }
}

/// Defines a row type per table, its [`TableDef`] and its conversions to and from cells, and
/// [`SnapshotTables`] holding them all.
macro_rules! snapshot_tables {
    ($( $(#[$doc:meta])* $row:ident $table:ident key $key:literal { $($col:ident : $ty:ty),+ $(,)? } )+) => {
        $(
            $(#[$doc])*
            #[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
            #[serde(deny_unknown_fields)]
            pub struct $row { $(pub $col: $ty),+ }

            impl $row {
                pub(crate) const DEF: TableDef =
                    TableDef { name: stringify!($table), columns: &[$(stringify!($col)),+], key: $key };

                fn to_cells(&self) -> Vec<Cell> {
                    vec![$(Column::to_cell(&self.$col)),+]
                }

                fn from_cells(cells: Vec<Cell>) -> Result<Self> {
                    let mut cells = cells.into_iter();
                    Ok(Self {
                        $($col: {
                            let cell = cells.next().ok_or_else(|| {
                                StoreError::Corrupt(format!("{}: too few columns", stringify!($table)))
                            })?;
                            <$ty as Column>::from_cell(cell).ok_or_else(|| {
                                StoreError::Corrupt(format!(
                                    "{}.{}: unexpected type (not {})",
                                    stringify!($table), stringify!($col), stringify!($ty)
                                ))
                            })?
                        }),+
                    })
                }
            }
        )+

        /// Every table that holds data, each in primary-key order. Not exported: the migration
        /// bookkeeping (`schema_migrations`, recorded as the header's `schema_version`) and
        /// PostgreSQL's change counter (`change_seq`), which belong to the target store.
        #[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct SnapshotTables {
            $(pub $table: Vec<$row>,)+
        }

        /// The tables in an order that satisfies foreign keys when inserting.
        pub(crate) const TABLES: &[TableDef] = &[$($row::DEF),+];

        impl SnapshotTables {
            /// Builds the typed tables from each table's rows as a backend read them.
            pub(crate) fn from_cells(mut read: impl FnMut(&TableDef) -> Result<Vec<Vec<Cell>>>) -> Result<Self> {
                Ok(Self {
                    $($table: read(&$row::DEF)?.into_iter().map($row::from_cells).collect::<Result<_>>()?,)+
                })
            }

            /// Each table (in [`TABLES`] order) with its rows as cells, for a backend to insert.
            pub(crate) fn to_cells(&self) -> Vec<(&'static TableDef, Vec<Vec<Cell>>)> {
                vec![$((&$row::DEF, self.$table.iter().map($row::to_cells).collect())),+]
            }

            /// Rows per table, for messages.
            pub fn counts(&self) -> Vec<(&'static str, usize)> {
                vec![$((stringify!($table), self.$table.len())),+]
            }
        }
    };
}

snapshot_tables! {
    /// `meta`: process-wide settings, among them the wrapped audit MAC key and the audit head.
    MetaRow meta key "key" { key: String, value: Bytes }
    WorkspaceRow workspaces key "name" { name: String, current_key_generation: i64, created_at: i64 }
    /// A workspace's data key of one generation, wrapped by the root key.
    DataKeyRow data_keys key "workspace, generation" {
        workspace: String, generation: i64, wrapped: Bytes, created_at: i64,
    }
    EnvironmentRow environments key "workspace, name" {
        workspace: String, name: String, parent: Option<String>, created_at: i64,
    }
    VaultRow vaults key "workspace, environment, name" {
        workspace: String, environment: String, name: String, created_at: i64,
        managed_by: Option<String>, managed_at: Option<i64>,
    }
    /// An entry's current state; `tags` is the stored JSON text.
    EntryRow entries key "workspace, environment, vault, key" {
        workspace: String, environment: String, vault: String, key: String, kind: String, version: i64,
        created_at: i64, updated_at: i64, edited_by: String, description: Option<String>, tags: String,
        expires_at: Option<i64>, deleted_at: Option<i64>,
    }
    /// One kept version; `sealed` is the AEAD output, never the value.
    EntryVersionRow entry_versions key "workspace, environment, vault, key, version" {
        workspace: String, environment: String, vault: String, key: String, version: i64, kind: String,
        sealed: Bytes, created_at: i64, edited_by: String, deleted_at: Option<i64>, destroyed_at: Option<i64>,
    }
    PrincipalRow principals key "workspace, kind, name" {
        workspace: String, kind: String, name: String, created_at: i64, created_by: String,
    }
    GroupMemberRow group_members key "workspace, group_name, member_kind, member_name" {
        workspace: String, group_name: String, member_kind: String, member_name: String,
    }
    /// A token's id and the SHA-256 of its secret part.
    TokenRow tokens key "id" {
        id: String, workspace: String, principal_kind: String, principal_name: String, name: String,
        hash: Bytes, created_at: i64, created_by: String, expires_at: Option<i64>, revoked_at: Option<i64>,
        environment: Option<String>,
    }
    GrantRow grants key "id" {
        id: String, workspace: String, principal_kind: String, principal_name: String, scope: String,
        access: String, created_at: i64, created_by: String,
    }
    /// An audit record with its chain links, copied as is so the chain verifies after a restore.
    AuditRow audit_log key "seq" {
        seq: i64, at: i64, workspace: String, request_id: String, principal: String, action: String,
        target: String, outcome: String, detail: Option<String>, chain: String, chain_seq: i64, prev_hash: Bytes,
        hash: Bytes,
    }
    /// An audit chain's recorded head and its MAC (migration 10).
    AuditChainRow audit_chains key "chain" {
        chain: String, head: Bytes, head_mac: Option<Bytes>, started_at: i64, updated_at: i64,
    }
    /// An application key's id and the SHA-256 of its secret.
    AppKeyRow app_keys key "id" {
        id: String, workspace: String, principal_kind: String, principal_name: String, hash: Bytes,
        created_at: i64, created_by: String, revoked_at: Option<i64>, environment: Option<String>,
    }
}

impl Snapshot {
    /// The file form: one JSON document.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a snapshot always serializes")
    }

    /// Reads a file written by [`Self::to_json`], of this format or an older one. The header is
    /// checked first, so a file from a newer tresor is refused as such rather than as a parse
    /// error.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        #[derive(Deserialize)]
        struct Probe {
            header: ProbeHeader,
        }
        #[derive(Deserialize)]
        struct ProbeHeader {
            format: u32,
            #[serde(default)]
            tresor_version: String,
        }
        let invalid = |e: serde_json::Error| {
            StoreError::InvalidSnapshot(format!("not a complete tresor backup (truncated or damaged?): {e}"))
        };
        let probe: Probe = serde_json::from_slice(bytes).map_err(invalid)?;
        if probe.header.format < SNAPSHOT_FORMAT {
            let mut doc: serde_json::Value = serde_json::from_slice(bytes).map_err(invalid)?;
            if probe.header.format == 1 {
                upgrade_from_format_1(&mut doc);
            }
            upgrade_from_format_2(&mut doc);
            return serde_json::from_value(doc).map_err(invalid);
        }
        if probe.header.format != SNAPSHOT_FORMAT {
            let newer = probe.header.format > SNAPSHOT_FORMAT;
            return Err(StoreError::InvalidSnapshot(format!(
                "the backup is in format {} (written by tresor {}), {} this tresor reads ({SNAPSHOT_FORMAT}){}",
                probe.header.format,
                if probe.header.tresor_version.is_empty() { "?" } else { &probe.header.tresor_version },
                if newer { "newer than the format" } else { "not the format" },
                if newer { "; restore it with that version of tresor or a newer one" } else { "" },
            )));
        }
        serde_json::from_slice(bytes).map_err(invalid)
    }

    /// The check every backend makes before importing: the snapshot's schema is one this tresor
    /// knows (`newest` is the newest migration of the target).
    pub(crate) fn check_schema(&self, newest: i64) -> Result<()> {
        if self.header.schema_version > newest {
            return Err(StoreError::InvalidSnapshot(format!(
                "the backup is from schema version {}, newer than this tresor knows ({newest}); upgrade tresor to restore it",
                self.header.schema_version
            )));
        }
        Ok(())
    }
}

/// Format 1 (before migration 7) had no `environment` on tokens and application keys: each of
/// them was unbound, which format 2 writes as `null`. Rows that are not objects are left for the
/// typed parse to refuse.
fn upgrade_from_format_1(doc: &mut serde_json::Value) {
    for table in ["tokens", "app_keys"] {
        if let Some(rows) = doc.pointer_mut(&format!("/tables/{table}")).and_then(|t| t.as_array_mut()) {
            for row in rows.iter_mut().filter_map(|r| r.as_object_mut()) {
                row.entry("environment").or_insert(serde_json::Value::Null);
            }
        }
    }
}

/// Format 2 (before migration 10) had one audit chain: its records become the chain `""` (each
/// record's place in it is its `seq`), and its head and the head's MAC move from `meta` to
/// `audit_chains`, as the migration moves them.
fn upgrade_from_format_2(doc: &mut serde_json::Value) {
    use serde_json::Value;
    if let Some(rows) = doc.pointer_mut("/tables/audit_log").and_then(|t| t.as_array_mut()) {
        for row in rows.iter_mut().filter_map(|r| r.as_object_mut()) {
            let seq = row.get("seq").cloned().unwrap_or(Value::Null);
            row.entry("chain").or_insert(Value::String(String::new()));
            row.entry("chain_seq").or_insert(seq);
        }
    }
    let Some(tables) = doc.pointer_mut("/tables").and_then(|t| t.as_object_mut()) else { return };
    let mut take = |key: &str| -> Option<Value> {
        let meta = tables.get_mut("meta")?.as_array_mut()?;
        let at = meta.iter().position(|r| r.get("key").and_then(Value::as_str) == Some(key))?;
        meta.remove(at).get("value").cloned()
    };
    let (head, mac) = (take("audit_head"), take("audit_head_mac"));
    let mut chains = Vec::new();
    // The empty head is PostgreSQL's placeholder before the first record: no chain.
    if let Some(head) = head.filter(|h| h.as_str().is_some_and(|h| !h.is_empty())) {
        chains.push(serde_json::json!({
            "chain": "", "head": head, "head_mac": mac, "started_at": 0, "updated_at": 0,
        }));
    }
    tables.entry("audit_chains").or_insert(Value::Array(chains));
}

/// The refusal of an import into a store that already holds rows in `tables`.
pub(crate) fn not_empty(tables: &[&str]) -> StoreError {
    StoreError::NotEmpty(format!(
        "restore needs an empty store, and this one already holds rows in {}; restore into a new database or data \
         directory (and do not run `tresor init` or `tresor serve` on it first)",
        tables.join(", ")
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Snapshot {
        let mut tables = SnapshotTables::default();
        tables.meta.push(MetaRow { key: "audit_mac_key".into(), value: Bytes(vec![0, 1, 2, 255]) });
        tables.environments.push(EnvironmentRow {
            workspace: "default".into(),
            name: "feature-x".into(),
            parent: Some("prod".into()),
            created_at: 5,
        });
        Snapshot { header: SnapshotHeader::new("sqlite", 4), tables }
    }

    #[test]
    fn round_trips_through_json_with_bytes_as_base64() {
        let snap = sample();
        let json = snap.to_json();
        let text = String::from_utf8(json.clone()).unwrap();
        assert!(text.contains(r#""value":"AAEC/w==""#), "{text}");
        assert_eq!(Snapshot::from_json(&json).unwrap(), snap);
    }

    #[test]
    fn cells_convert_both_ways_and_check_types() {
        let row = sample().tables.environments[0].clone();
        let cells = row.to_cells();
        assert_eq!(cells[2], Cell::Text("prod".into()));
        assert_eq!(EnvironmentRow::from_cells(cells).unwrap(), row);
        let wrong = vec![Cell::Text("default".into()), Cell::Text("x".into()), Cell::Null, Cell::Text("5".into())];
        let err = EnvironmentRow::from_cells(wrong).unwrap_err().to_string();
        assert!(err.contains("environments.created_at"), "{err}");
        assert_eq!(TABLES.first().unwrap().name, "meta");
        assert_eq!(EntryRow::DEF.columns.len(), 13);
    }

    #[test]
    fn refuses_truncated_newer_and_unknown_files() {
        let json = sample().to_json();
        let err = Snapshot::from_json(&json[..json.len() / 2]).unwrap_err();
        assert!(matches!(err, StoreError::InvalidSnapshot(ref m) if m.contains("truncated")), "{err}");

        let mut newer: serde_json::Value = serde_json::from_slice(&json).unwrap();
        newer["header"]["format"] = (SNAPSHOT_FORMAT + 1).into();
        newer["tables"] = serde_json::json!({"something": "else"});
        let err = Snapshot::from_json(&serde_json::to_vec(&newer).unwrap()).unwrap_err().to_string();
        assert!(
            err.contains("newer than the format") && err.contains(&format!("format {}", SNAPSHOT_FORMAT + 1)),
            "{err}"
        );

        let mut extra: serde_json::Value = serde_json::from_slice(&json).unwrap();
        extra["tables"]["surprise"] = serde_json::json!([]);
        assert!(Snapshot::from_json(&serde_json::to_vec(&extra).unwrap()).is_err(), "unknown tables are refused");

        assert!(Snapshot::from_json(b"").is_err());
        assert!(Snapshot::from_json(b"{\"header\": 1}").is_err());
    }

    /// A format 1 file (before credentials could be bound to an environment) reads as unbound
    /// tokens and application keys; the rest is as written.
    #[test]
    fn format_1_reads_as_unbound_credentials() {
        let mut doc: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        doc["header"]["format"] = 1.into();
        doc["tables"]["tokens"] = serde_json::json!([{
            "id": "t1", "workspace": "default", "principal_kind": "app", "principal_name": "worker", "name": "ci",
            "hash": "AAEC", "created_at": 5, "created_by": "user:owner", "expires_at": null, "revoked_at": null
        }]);
        doc["tables"]["app_keys"] = serde_json::json!([{
            "id": "k1", "workspace": "default", "principal_kind": "app", "principal_name": "worker",
            "hash": "AAEC", "created_at": 5, "created_by": "user:owner", "revoked_at": 9
        }]);
        let snap = Snapshot::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
        assert_eq!(snap.header.format, 1);
        assert_eq!(snap.tables.tokens[0].environment, None);
        assert_eq!(snap.tables.tokens[0].hash, Bytes(vec![0, 1, 2]));
        assert_eq!(snap.tables.app_keys[0].environment, None);
        assert_eq!(snap.tables.app_keys[0].revoked_at, Some(9));
        assert_eq!(snap.tables.environments, sample().tables.environments);
    }

    /// A format 2 file (one audit chain, its head in `meta`) reads as the chain `""`: each record's
    /// place is its number, and the head and its MAC are that chain's row of `audit_chains`.
    #[test]
    fn format_2_reads_as_the_chain_before_chains() {
        let mut doc: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        doc["header"]["format"] = 2.into();
        let tables = doc["tables"].as_object_mut().unwrap();
        tables.remove("audit_chains");
        tables["meta"].as_array_mut().unwrap().extend([
            serde_json::json!({"key": "audit_head", "value": "AAAAAAAAAAcBAg=="}),
            serde_json::json!({"key": "audit_head_mac", "value": "CQk="}),
        ]);
        tables["audit_log"] = serde_json::json!([{
            "seq": 7, "at": 5, "workspace": "default", "request_id": "r", "principal": "user:owner",
            "action": "entry.read", "target": "a", "outcome": "ok", "detail": null, "prev_hash": "", "hash": "AQI="
        }]);
        let snap = Snapshot::from_json(&serde_json::to_vec(&doc).unwrap()).unwrap();
        let record = &snap.tables.audit_log[0];
        assert_eq!((record.chain.as_str(), record.chain_seq, record.seq), ("", 7, 7));
        let chain = &snap.tables.audit_chains[0];
        assert_eq!(chain.chain, "");
        assert_eq!(crate::parse_chain_head(&chain.head.0), Some((7, &[1u8, 2][..])));
        assert_eq!(chain.head_mac, Some(Bytes(vec![9, 9])));
        assert_eq!(snap.tables.meta, sample().tables.meta, "the head rows left meta");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let mut snap = sample();
        assert!(snap.check_schema(4).is_ok());
        snap.header.schema_version = 5;
        let err = snap.check_schema(4).unwrap_err().to_string();
        assert!(err.contains("schema version 5") && err.contains("upgrade tresor"), "{err}");
    }

    /// Generated snapshots over every table. The rows are built through the same cell conversion
    /// the backends use, with each column's accepted cell kinds found by probing `from_cells`, so
    /// a table or column added later is generated without touching this test.
    mod properties {
        use super::*;
        use proptest::prelude::*;

        #[derive(Debug, Clone, Copy, PartialEq)]
        enum Kind {
            Null,
            Int,
            Text,
            Bytes,
        }

        fn probe_cell(kind: Kind) -> Cell {
            match kind {
                Kind::Null => Cell::Null,
                Kind::Int => Cell::Int(0),
                Kind::Text => Cell::Text(String::new()),
                Kind::Bytes => Cell::Bytes(vec![]),
            }
        }

        /// Whether `row` converts, or else fails on a column after `column`.
        fn accepted_up_to(def: &TableDef, column: usize, row: Vec<Cell>) -> bool {
            let mut row = Some(row);
            let result = SnapshotTables::from_cells(|d| {
                Ok(if d.name == def.name { row.take().into_iter().collect() } else { vec![] })
            });
            match result {
                Ok(_) => true,
                Err(e) => !e.to_string().contains(&format!("{}.{}:", def.name, def.columns[column])),
            }
        }

        /// For each table, for each column, the cell kinds its type accepts.
        fn column_kinds() -> Vec<Vec<Vec<Kind>>> {
            TABLES
                .iter()
                .map(|def| {
                    let mut chosen: Vec<Vec<Kind>> = vec![];
                    for column in 0..def.columns.len() {
                        let accepted: Vec<Kind> = [Kind::Null, Kind::Int, Kind::Text, Kind::Bytes]
                            .into_iter()
                            .filter(|&kind| {
                                let mut row: Vec<Cell> = chosen.iter().map(|k| probe_cell(k[0])).collect();
                                row.push(probe_cell(kind));
                                row.extend((column + 1..def.columns.len()).map(|_| Cell::Null));
                                accepted_up_to(def, column, row)
                            })
                            .collect();
                        assert!(!accepted.is_empty(), "{}.{} accepts no cell", def.name, def.columns[column]);
                        chosen.push(accepted);
                    }
                    chosen
                })
                .collect()
        }

        /// The probe finds what the row types say (so the generator covers nullable columns,
        /// both spellings of bytes and every table).
        #[test]
        fn the_probe_finds_each_columns_kinds() {
            let kinds = column_kinds();
            assert_eq!(kinds.len(), TABLES.len());
            let of = |table: &str, column: &str| {
                let t = TABLES.iter().position(|d| d.name == table).unwrap();
                let c = TABLES[t].columns.iter().position(|c| *c == column).unwrap();
                kinds[t][c].clone()
            };
            assert_eq!(of("meta", "value"), [Kind::Text, Kind::Bytes]);
            assert_eq!(of("entries", "deleted_at"), [Kind::Null, Kind::Int]);
            assert_eq!(of("environments", "parent"), [Kind::Null, Kind::Text]);
            assert_eq!(of("audit_log", "seq"), [Kind::Int]);
            assert_eq!(of("tokens", "environment"), [Kind::Null, Kind::Text]);
        }

        fn cell(kinds: Vec<Kind>) -> BoxedStrategy<Cell> {
            proptest::sample::select(kinds)
                .prop_flat_map(|kind| match kind {
                    Kind::Null => Just(Cell::Null).boxed(),
                    Kind::Int => any::<i64>().prop_map(Cell::Int).boxed(),
                    Kind::Text => any::<String>().prop_map(Cell::Text).boxed(),
                    Kind::Bytes => proptest::collection::vec(any::<u8>(), 0..40).prop_map(Cell::Bytes).boxed(),
                })
                .boxed()
        }

        fn snapshot() -> impl Strategy<Value = Snapshot> {
            let tables: Vec<_> = column_kinds()
                .into_iter()
                .map(|columns| {
                    let row: Vec<BoxedStrategy<Cell>> = columns.into_iter().map(cell).collect();
                    proptest::collection::vec(row, 0..3)
                })
                .collect();
            let header = (any::<String>(), any::<i64>(), any::<String>(), any::<String>(), any::<i64>());
            (tables, header).prop_map(
                |(mut tables, (tresor_version, created_at, created, source_backend, schema_version))| {
                    let tables = SnapshotTables::from_cells(|def| {
                        let at = TABLES.iter().position(|t| t.name == def.name).unwrap();
                        Ok(std::mem::take(&mut tables[at]))
                    })
                    .expect("generated cells are of accepted kinds");
                    let header = SnapshotHeader {
                        format: SNAPSHOT_FORMAT,
                        tresor_version,
                        created_at,
                        created,
                        source_backend,
                        schema_version,
                    };
                    Snapshot { header, tables }
                },
            )
        }

        /// Offsets of `{ } [ ] : ,` outside strings: deleting any of them breaks the document
        /// (rows are objects, never arrays of numbers, so no deletion can join two values).
        fn structural_offsets(json: &[u8]) -> Vec<usize> {
            let (mut in_string, mut escaped) = (false, false);
            let mut found = vec![];
            for (i, &b) in json.iter().enumerate() {
                if in_string {
                    match (escaped, b) {
                        (true, _) => escaped = false,
                        (false, b'\\') => escaped = true,
                        (false, b'"') => in_string = false,
                        _ => {}
                    }
                } else if b == b'"' {
                    in_string = true;
                } else if b"{}[]:,".contains(&b) {
                    found.push(i);
                }
            }
            found
        }

        proptest! {
            #![proptest_config(ProptestConfig::with_cases(128))]

            #[test]
            fn a_snapshot_reads_back_equal(snap in snapshot()) {
                let json = snap.to_json();
                prop_assert_eq!(Snapshot::from_json(&json).unwrap(), snap);
            }

            #[test]
            fn a_truncated_snapshot_is_refused(snap in snapshot(), cut in any::<prop::sample::Index>()) {
                let json = snap.to_json();
                let short = &json[..cut.index(json.len())];
                let err = Snapshot::from_json(short).unwrap_err();
                prop_assert!(matches!(err, StoreError::InvalidSnapshot(ref m) if m.contains("truncated or damaged")), "{}", err);
            }

            #[test]
            fn a_snapshot_missing_a_structural_character_is_refused(snap in snapshot(), pick in any::<prop::sample::Index>()) {
                let mut json = snap.to_json();
                let offsets = structural_offsets(&json);
                json.remove(offsets[pick.index(offsets.len())]);
                let err = Snapshot::from_json(&json).unwrap_err();
                prop_assert!(matches!(err, StoreError::InvalidSnapshot(_)), "{}", err);
            }

            /// Any byte changed anywhere: an error or a snapshot, never a panic; a snapshot read
            /// from damaged bytes still writes and reads back as itself.
            #[test]
            fn an_altered_snapshot_never_panics(snap in snapshot(), at in any::<prop::sample::Index>(), byte in any::<u8>()) {
                let mut json = snap.to_json();
                let at = at.index(json.len());
                json[at] = byte;
                match Snapshot::from_json(&json) {
                    Ok(read) => prop_assert_eq!(Snapshot::from_json(&read.to_json()).unwrap(), read),
                    Err(e) => prop_assert!(matches!(e, StoreError::InvalidSnapshot(_)), "{}", e),
                }
            }
        }
    }
}
