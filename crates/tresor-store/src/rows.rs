//! Row mapping written once for both backends: the columns each record is read from, in order, how
//! the record is built from them, and (for the records written as whole rows) its row of values. A
//! backend implements [`Columns`] on its row type (the one place its column types are read), and
//! its queries select the `*_COLS` lists given here. [`Record`] describes the records with an id in
//! a workspace, which each backend reads, inserts and revokes with one set of statements.

use crate::snapshot::Cell;
use crate::{
    AppKeyRecord, AuditRecord, ChainHead, GrantRecord, PrincipalRecord, Result, SealedVersion, StoreError, TokenRecord,
    VersionState,
};
use tresor_model::{
    Access, EntryKind, EntryMeta, EnvInfo, EnvName, PrincipalKind, PrincipalRef, Tag, VaultInfo, VaultPath,
    VersionMeta, WorkspaceName,
};

/// A result row as the mappers read it: column `i` as an integer, text or bytes, `None` for NULL.
/// A column of another type is a [`StoreError::Corrupt`] row.
pub(crate) trait Columns {
    fn int(&self, i: usize) -> Result<Option<i64>>;
    fn text(&self, i: usize) -> Result<Option<String>>;
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>>;
}

/// A record that has an id and belongs to a workspace: a token, a grant, an application key. Each
/// backend reads, inserts and revokes all of them with one set of statements over this
/// description.
pub(crate) trait Record: Sized + Send + Sync + 'static {
    const TABLE: &'static str;
    const COLS: &'static str;
    /// What one is called in messages (`token t-1`).
    const WHAT: &'static str;
    fn from_row(r: &dyn Columns) -> Result<Self>;
    /// Its row, in `COLS` order.
    fn values(&self) -> Vec<Cell>;
    fn id(&self) -> &str;
    /// Named in PostgreSQL's message for a row whose workspace is missing (SQLite's foreign
    /// keys answer that themselves).
    #[cfg_attr(not(feature = "postgres"), allow(dead_code))]
    fn workspace(&self) -> &WorkspaceName;
}

macro_rules! record {
    ($ty:ty, $table:literal, $cols:ident, $what:literal, $from:ident, $values:ident) => {
        impl Record for $ty {
            const TABLE: &'static str = $table;
            const COLS: &'static str = $cols;
            const WHAT: &'static str = $what;
            fn from_row(r: &dyn Columns) -> Result<Self> {
                $from(r)
            }
            fn values(&self) -> Vec<Cell> {
                $values(self)
            }
            fn id(&self) -> &str {
                &self.id
            }
            fn workspace(&self) -> &WorkspaceName {
                &self.workspace
            }
        }
    };
}
record!(TokenRecord, "tokens", TOKEN_COLS, "token", token, token_values);
record!(GrantRecord, "grants", GRANT_COLS, "grant", grant, grant_values);
record!(AppKeyRecord, "app_keys", APP_KEY_COLS, "application key", app_key, app_key_values);

/// Builds a record from a row: one of the mappers below.
pub(crate) type Mapper<T> = fn(&dyn Columns) -> Result<T>;

/// A Rust type read from one column.
trait Get: Sized {
    fn get(r: &dyn Columns, i: usize) -> Result<Self>;
}

macro_rules! get_as {
    ($ty:ty, $read:ident) => {
        impl Get for Option<$ty> {
            fn get(r: &dyn Columns, i: usize) -> Result<Self> {
                r.$read(i)
            }
        }
        impl Get for $ty {
            fn get(r: &dyn Columns, i: usize) -> Result<Self> {
                r.$read(i)?.ok_or_else(|| StoreError::Corrupt(format!("column {i} is NULL")))
            }
        }
    };
}
get_as!(i64, int);
get_as!(String, text);
get_as!(Vec<u8>, bytes);

impl Get for u64 {
    fn get(r: &dyn Columns, i: usize) -> Result<Self> {
        Ok(i64::get(r, i)? as u64)
    }
}

fn get<T: Get>(r: &dyn Columns, i: usize) -> Result<T> {
    T::get(r, i)
}

fn corrupt(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(e.to_string())
}

fn kind_at(r: &dyn Columns, i: usize) -> Result<EntryKind> {
    crate::rules::parse_kind(&get::<String>(r, i)?).map_err(StoreError::Corrupt)
}

/// A principal stored as two columns, its kind at `i` and its name after it.
fn principal_at(r: &dyn Columns, i: usize) -> Result<PrincipalRef> {
    let kind: PrincipalKind = crate::rules::parse_principal_kind(&get::<String>(r, i)?).map_err(StoreError::Corrupt)?;
    Ok(PrincipalRef { kind, name: get(r, i + 1)? })
}

fn workspace_at(r: &dyn Columns, i: usize) -> Result<WorkspaceName> {
    WorkspaceName::new(get::<String>(r, i)?).map_err(corrupt)
}

/// A nullable environment column (a token's or an application key's binding).
fn env_at(r: &dyn Columns, i: usize) -> Result<Option<EnvName>> {
    get::<Option<String>>(r, i)?.map(|e| EnvName::new(e).map_err(corrupt)).transpose()
}

/// `SELECT workspace, generation, wrapped FROM data_keys`: [`crate::Store::list_data_keys`]'s rows.
pub(crate) const DATA_KEY_COLS: &str = "workspace, generation, wrapped";

pub(crate) fn data_key(r: &dyn Columns) -> Result<(WorkspaceName, crate::WrappedKey)> {
    let generation = u32::try_from(get::<i64>(r, 1)?).map_err(corrupt)?;
    Ok((workspace_at(r, 0)?, crate::WrappedKey { generation, wrapped: get(r, 2)? }))
}

/// [`crate::Store::versions_not_on`]'s rows.
pub(crate) const STALE_VERSION_COLS: &str = "workspace, environment, vault, key, version, kind, sealed";

pub(crate) fn stale_version(r: &dyn Columns) -> Result<crate::StaleVersion> {
    let vault = VaultPath {
        workspace: workspace_at(r, 0)?,
        environment: EnvName::new(get::<String>(r, 1)?).map_err(corrupt)?,
        vault: tresor_model::VaultName::new(get::<String>(r, 2)?).map_err(corrupt)?,
    };
    let path = vault.entry(tresor_model::EntryKey::new(get::<String>(r, 3)?).map_err(corrupt)?);
    Ok(crate::StaleVersion { path, version: get(r, 4)?, kind: kind_at(r, 5)?, sealed: get(r, 6)? })
}

/// [`crate::Store::count_by_generation`]'s rows: the 4 generation bytes of the sealed layout and a count.
pub(crate) fn generation_count(r: &dyn Columns) -> Result<(u32, u64)> {
    let bytes: Vec<u8> = get(r, 0)?;
    let generation = u32::from_be_bytes(bytes.as_slice().try_into().map_err(|_| corrupt("sealed value header"))?);
    Ok((generation, get(r, 1)?))
}

pub(crate) const ENTRY_COLS: &str =
    "key, kind, version, created_at, updated_at, edited_by, description, tags, expires_at, deleted_at";

pub(crate) fn entry(r: &dyn Columns) -> Result<EntryMeta> {
    let tags: String = get(r, 7)?;
    Ok(EntryMeta {
        key: get(r, 0)?,
        kind: kind_at(r, 1)?,
        version: get(r, 2)?,
        created_at: get(r, 3)?,
        updated_at: get(r, 4)?,
        edited_by: get(r, 5)?,
        description: get(r, 6)?,
        tags: serde_json::from_str::<Vec<Tag>>(&tags).map_err(|e| StoreError::Corrupt(format!("tags: {e}")))?,
        expires_at: get(r, 8)?,
        deleted_at: get(r, 9)?,
    })
}

/// `version, kind, created_at, edited_by` of `entry_versions`.
pub(crate) fn version(r: &dyn Columns) -> Result<VersionMeta> {
    Ok(VersionMeta { version: get(r, 0)?, kind: kind_at(r, 1)?, created_at: get(r, 2)?, edited_by: get(r, 3)? })
}

/// A version's metadata (as [`version`]), then its `sealed` bytes, `value_mac`, `deleted_at` and
/// `destroyed_at`.
pub(crate) fn sealed(r: &dyn Columns) -> Result<SealedVersion> {
    let state = VersionState { deleted_at: get(r, 6)?, destroyed_at: get(r, 7)? };
    Ok(SealedVersion { meta: version(r)?, sealed: get(r, 4)?, value_mac: get(r, 5)?, state })
}

/// An entry's [`ENTRY_COLS`] (from `entries e`) and its current version's columns as [`sealed`]
/// reads them (from `entry_versions v`), written once for [`ENTRY_AND_CURRENT_COLS`] and
/// [`CURRENT_COLS`].
macro_rules! entry_and_current_cols {
    () => {
        "e.key, e.kind, e.version, e.created_at, e.updated_at, e.edited_by, e.description, e.tags, \
         e.expires_at, e.deleted_at, v.version, v.kind, v.created_at, v.edited_by, v.sealed, v.value_mac, \
         v.deleted_at, v.destroyed_at"
    };
}

/// An entry and its current version: what [`crate::Store::read_vault_current`] selects.
pub(crate) const ENTRY_AND_CURRENT_COLS: &str = entry_and_current_cols!();

/// The position of the key asked for (from 0, in the list given), then
/// [`ENTRY_AND_CURRENT_COLS`]: what [`crate::Store::read_current_many`] selects, each backend
/// naming the position from its list of keys (`wanted.position`).
pub(crate) const CURRENT_COLS: &str = concat!("wanted.position, ", entry_and_current_cols!());

/// A row of [`ENTRY_AND_CURRENT_COLS`]: the entry and its current sealed version.
pub(crate) fn entry_and_current(r: &dyn Columns) -> Result<(EntryMeta, SealedVersion)> {
    Ok((entry(r)?, sealed(&Shifted { row: r, by: 10 })?))
}

/// A row of [`CURRENT_COLS`]: the position asked for, the entry and its current sealed version.
pub(crate) fn current(r: &dyn Columns) -> Result<(u64, (EntryMeta, SealedVersion))> {
    let position: u64 = get(r, 0)?;
    Ok((position, entry_and_current(&Shifted { row: r, by: 1 })?))
}

/// Rows of [`current`] put at the position asked for, `None` where a key has no row: both
/// backends answer [`crate::Store::read_current_many`] through it. A key given twice has a row
/// at each of its positions, so nothing is looked up or copied here.
pub(crate) fn at_positions(
    asked: usize,
    found: Vec<(u64, (EntryMeta, SealedVersion))>,
) -> Result<Vec<Option<(EntryMeta, SealedVersion)>>> {
    let mut out: Vec<Option<_>> = (0..asked).map(|_| None).collect();
    for (position, row) in found {
        let slot = usize::try_from(position).ok().and_then(|p| out.get_mut(p));
        *slot.ok_or_else(|| corrupt(format!("a row for key {position} of {asked} asked for")))? = Some(row);
    }
    Ok(out)
}

/// A row read from column `by` on, so that one mapper reads the second record of a joined row.
struct Shifted<'a> {
    row: &'a dyn Columns,
    by: usize,
}

impl Columns for Shifted<'_> {
    fn int(&self, i: usize) -> Result<Option<i64>> {
        self.row.int(i + self.by)
    }
    fn text(&self, i: usize) -> Result<Option<String>> {
        self.row.text(i + self.by)
    }
    fn bytes(&self, i: usize) -> Result<Option<Vec<u8>>> {
        self.row.bytes(i + self.by)
    }
}

/// `version, deleted_at, destroyed_at` of `entry_versions`.
pub(crate) fn version_state(r: &dyn Columns) -> Result<(u64, VersionState)> {
    Ok((get(r, 0)?, VersionState { deleted_at: get(r, 1)?, destroyed_at: get(r, 2)? }))
}

/// `name, parent, created_at` of `environments`.
pub(crate) fn environment(r: &dyn Columns) -> Result<EnvInfo> {
    Ok(EnvInfo { name: get(r, 0)?, parent: get(r, 1)?, created_at: get(r, 2)? })
}

/// A vault's `name, environment, created_at, managed_by, managed_at` and its count of live entries.
pub(crate) fn vault(r: &dyn Columns) -> Result<VaultInfo> {
    Ok(VaultInfo {
        name: get(r, 0)?,
        environment: get(r, 1)?,
        created_at: get(r, 2)?,
        managed_by: get(r, 3)?,
        managed_at: get(r, 4)?,
        entries: get(r, 5)?,
    })
}

/// `kind, name, created_at, created_by` of `principals`.
pub(crate) fn principal(r: &dyn Columns) -> Result<PrincipalRecord> {
    Ok(PrincipalRecord { principal: principal_at(r, 0)?, created_at: get(r, 2)?, created_by: get(r, 3)? })
}

/// `member_kind, member_name` of `group_members`.
pub(crate) fn member(r: &dyn Columns) -> Result<PrincipalRef> {
    principal_at(r, 0)
}

/// The one text column of a row.
pub(crate) fn single_text(r: &dyn Columns) -> Result<String> {
    get(r, 0)
}

fn text(s: &str) -> Cell {
    Cell::Text(s.to_owned())
}

pub(crate) const TOKEN_COLS: &str =
    "id, workspace, principal_kind, principal_name, name, hash, created_at, created_by, \
     expires_at, revoked_at, environment";

pub(crate) fn token(r: &dyn Columns) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: get(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2)?,
        name: get(r, 4)?,
        hash: get(r, 5)?,
        created_at: get(r, 6)?,
        created_by: get(r, 7)?,
        expires_at: get(r, 8)?,
        revoked_at: get(r, 9)?,
        environment: env_at(r, 10)?,
    })
}

/// A token's row, in [`TOKEN_COLS`] order.
pub(crate) fn token_values(t: &TokenRecord) -> Vec<Cell> {
    let (p, env) = (&t.principal, t.environment.as_ref().map(EnvName::as_str));
    vec![
        text(&t.id),
        text(t.workspace.as_str()),
        text(p.kind.as_str()),
        text(&p.name),
        text(&t.name),
        Cell::Bytes(t.hash.clone()),
        Cell::Int(t.created_at),
        text(&t.created_by),
        t.expires_at.map_or(Cell::Null, Cell::Int),
        t.revoked_at.map_or(Cell::Null, Cell::Int),
        env.map_or(Cell::Null, text),
    ]
}

pub(crate) const GRANT_COLS: &str =
    "id, workspace, principal_kind, principal_name, scope, access, created_at, created_by";

pub(crate) fn grant(r: &dyn Columns) -> Result<GrantRecord> {
    Ok(GrantRecord {
        id: get(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2)?,
        scope: get(r, 4)?,
        access: get::<String>(r, 5)?.parse::<Access>().map_err(StoreError::Corrupt)?,
        created_at: get(r, 6)?,
        created_by: get(r, 7)?,
    })
}

/// A grant's row, in [`GRANT_COLS`] order.
pub(crate) fn grant_values(g: &GrantRecord) -> Vec<Cell> {
    let p = &g.principal;
    vec![
        text(&g.id),
        text(g.workspace.as_str()),
        text(p.kind.as_str()),
        text(&p.name),
        text(&g.scope),
        text(g.access.as_str()),
        Cell::Int(g.created_at),
        text(&g.created_by),
    ]
}

pub(crate) const APP_KEY_COLS: &str =
    "id, workspace, principal_kind, principal_name, hash, created_at, created_by, revoked_at, environment";

pub(crate) fn app_key(r: &dyn Columns) -> Result<AppKeyRecord> {
    Ok(AppKeyRecord {
        id: get(r, 0)?,
        workspace: workspace_at(r, 1)?,
        principal: principal_at(r, 2)?,
        hash: get(r, 4)?,
        created_at: get(r, 5)?,
        created_by: get(r, 6)?,
        revoked_at: get(r, 7)?,
        environment: env_at(r, 8)?,
    })
}

/// An application key's row, in [`APP_KEY_COLS`] order.
pub(crate) fn app_key_values(k: &AppKeyRecord) -> Vec<Cell> {
    let (p, env) = (&k.principal, k.environment.as_ref().map(EnvName::as_str));
    vec![
        text(&k.id),
        text(k.workspace.as_str()),
        text(p.kind.as_str()),
        text(&p.name),
        Cell::Bytes(k.hash.clone()),
        Cell::Int(k.created_at),
        text(&k.created_by),
        k.revoked_at.map_or(Cell::Null, Cell::Int),
        env.map_or(Cell::Null, text),
    ]
}

pub(crate) const AUDIT_COLS: &str =
    "seq, at, workspace, request_id, principal, action, target, outcome, detail, chain, chain_seq, prev_hash, hash";

pub(crate) fn audit(r: &dyn Columns) -> Result<AuditRecord> {
    Ok(AuditRecord {
        seq: get(r, 0)?,
        at: get(r, 1)?,
        workspace: get(r, 2)?,
        request_id: get(r, 3)?,
        principal: get(r, 4)?,
        action: get(r, 5)?,
        target: get(r, 6)?,
        outcome: get(r, 7)?,
        detail: get(r, 8)?,
        chain: get(r, 9)?,
        chain_seq: get(r, 10)?,
        prev_hash: get(r, 11)?,
        hash: get(r, 12)?,
    })
}

pub(crate) const CHAIN_COLS: &str = "chain, head, head_mac, started_at, updated_at";

/// A row of `audit_chains`, in [`CHAIN_COLS`] order. A head too short to hold a place and a hash
/// (written by hand) is read as an empty chain, which `audit verify` reports.
pub(crate) fn chain_head(r: &dyn Columns) -> Result<ChainHead> {
    let head: Vec<u8> = get(r, 1)?;
    let (seq, hash) = crate::parse_chain_head(&head).map_or((0, Vec::new()), |(s, h)| (s, h.to_vec()));
    Ok(ChainHead { chain: get(r, 0)?, seq, hash, head_mac: get(r, 2)?, started_at: get(r, 3)?, updated_at: get(r, 4)? })
}
