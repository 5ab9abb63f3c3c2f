//! The Secret Keys Manager: entries of one vault of one environment, in a Secrets and a
//! Variables tab, as a `/` hierarchy; Add New, Edit, Delete (with undo), Purge, History and
//! Restore. Every action is a service call with the signed-in caller's rights.

use super::views::{self, csrf, empty, when};
use super::{Answer, Page, Signed, UiError, UiForm};
use crate::App;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::{html, Markup};
use serde::Deserialize;
use std::collections::BTreeSet;
use tresor_model::{
    Access, EntryKey, EntryKind, EntryMeta, EntryPath, EnvName, PrincipalKind, PrincipalRef, Scope, SecretValue, Tag,
    VaultName, VaultPath,
};
use tresor_service::{Ctx, ErrorKind, Listed, ServiceError, SetEntry};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/ui/entries", get(list))
        .route("/ui/entries/new", get(new_form).post(create))
        .route("/ui/entries/edit", get(edit_form).post(update))
        .route("/ui/entries/delete", post(delete))
        .route("/ui/entries/undelete", post(undelete))
        .route("/ui/entries/purge", post(purge))
        .route("/ui/entries/history", get(history))
        .route("/ui/entries/restore", post(restore))
}

/// Rows per page of a listing.
const PAGE_SIZE: usize = 100;

/// Where a page acts: an environment and a vault (both `default` unless chosen).
#[derive(Deserialize, Clone)]
pub(super) struct Where {
    #[serde(default = "default_name")]
    pub env: String,
    #[serde(default = "default_name")]
    pub vault: String,
}

fn default_name() -> String {
    "default".into()
}

/// The forms and queries that name a place carry `env` and `vault` fields of their own (serde's
/// `flatten` would read every other field of a form as text, numbers included).
macro_rules! located {
    ($($t:ty),*) => {$(
        impl $t {
            fn at(&self) -> Where {
                Where { env: self.env.clone(), vault: self.vault.clone() }
            }
        }
    )*};
}
located!(ListParams, EntryForm, NewParams, KeyParams, KeyForm, RestoreForm);

impl Where {
    pub fn vault_path(&self, ctx: &Ctx) -> Result<VaultPath, UiError> {
        Ok(VaultPath {
            workspace: ctx.caller.workspace.clone(),
            environment: EnvName::new(self.env.as_str())?,
            vault: VaultName::new(self.vault.as_str())?,
        })
    }

    fn entry(&self, ctx: &Ctx, key: &str) -> Result<EntryPath, UiError> {
        Ok(self.vault_path(ctx)?.entry(EntryKey::new(key)?))
    }

    /// This place's query string, with `extra` (already encoded) appended.
    pub fn query(&self, extra: &str) -> String {
        let mut q = form_urlencoded::Serializer::new(String::new());
        q.append_pair("env", &self.env).append_pair("vault", &self.vault);
        let q = q.finish();
        if extra.is_empty() {
            q
        } else {
            format!("{q}&{extra}")
        }
    }
}

fn pair(name: &str, value: &str) -> String {
    form_urlencoded::Serializer::new(String::new()).append_pair(name, value).finish()
}

#[derive(Deserialize)]
struct ListParams {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    /// `secrets` (default), `variables` or `deleted`.
    #[serde(default)]
    tab: String,
    /// The folder shown: keys under this prefix (ends in `/`, or empty for the top).
    #[serde(default)]
    prefix: String,
    /// Only keys containing this.
    #[serde(default)]
    q: String,
    #[serde(default)]
    page: usize,
    /// Set after a delete: offers to undo it.
    #[serde(default)]
    deleted: Option<String>,
    /// Set after a save: says so.
    #[serde(default)]
    saved: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Tab {
    Secrets,
    Variables,
    Deleted,
}

impl Tab {
    fn parse(s: &str) -> Tab {
        match s {
            "variables" => Tab::Variables,
            "deleted" => Tab::Deleted,
            _ => Tab::Secrets,
        }
    }
    fn name(self) -> &'static str {
        match self {
            Tab::Secrets => "secrets",
            Tab::Variables => "variables",
            Tab::Deleted => "deleted",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Tab::Secrets => "Secrets",
            Tab::Variables => "Variables",
            Tab::Deleted => "Deleted",
        }
    }
    fn shows(self, meta: &EntryMeta) -> bool {
        match self {
            Tab::Secrets => meta.deleted_at.is_none() && meta.kind == EntryKind::Secret,
            Tab::Variables => meta.deleted_at.is_none() && meta.kind == EntryKind::Variable,
            Tab::Deleted => meta.deleted_at.is_some(),
        }
    }
}

/// A row of the listing: a folder (the next `/` segment under the prefix) or an entry.
enum Row<'a> {
    Folder { name: String, count: usize },
    Entry(&'a Listed),
}

/// The environment and vault selectors (a GET form: changing one reloads the page). They are a
/// convenience: when a listing fails, the selector shows just the place at hand, and the page's
/// own call reports the problem.
async fn selectors(app: &App, ctx: &Ctx, at: &Where, tab: Tab) -> Markup {
    let envs = app.svc.list_environments(ctx).await.unwrap_or_default();
    let vaults = match EnvName::new(at.env.as_str()) {
        Ok(env) => app.svc.list_vaults(ctx, &env).await.unwrap_or_default(),
        Err(_) => vec![],
    };
    html! {
        form.selectors method="get" action="/ui/entries" {
            input type="hidden" name="tab" value=(tab.name());
            label { "Environment "
                select name="env" data-autosubmit {
                    @if !envs.iter().any(|e| e.name == at.env) { option selected { (at.env) } }
                    @for e in &envs {
                        option value=(e.name) selected[e.name == at.env] {
                            (e.name) @if let Some(p) = &e.parent { " (branch of " (p) ")" }
                        }
                    }
                }
            }
            label { "Vault "
                select name="vault" data-autosubmit {
                    @if !vaults.iter().any(|v| v.name == at.vault) { option selected { (at.vault) } }
                    @for v in &vaults {
                        option value=(v.name) selected[v.name == at.vault] {
                            (v.name) @if v.managed_by.is_some() { " (managed)" }
                        }
                    }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
    }
}

async fn list(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<ListParams>) -> Page {
    let ctx = &signed.ctx;
    let vault = p.at().vault_path(ctx)?;
    let tab = Tab::parse(&p.tab);
    let prefix = p.prefix.trim_start_matches('/').to_owned();
    let listed = match app.svc.list_all(ctx, &vault, &prefix, tab == Tab::Deleted).await {
        Ok(listed) => listed,
        Err(e) if e.kind() == ErrorKind::NotFound => vec![],
        Err(e) => return Err(e.into()),
    };
    let needle = p.q.trim();
    let mut rows: Vec<Row> = Vec::new();
    let mut folders: std::collections::BTreeMap<String, usize> = Default::default();
    for l in listed.iter().filter(|l| tab.shows(&l.meta)) {
        let rest = &l.meta.key[prefix.len()..];
        if !needle.is_empty() {
            // A search looks through every folder below this one.
            if l.meta.key.contains(needle) {
                rows.push(Row::Entry(l));
            }
            continue;
        }
        match rest.split_once('/') {
            Some((folder, _)) => *folders.entry(format!("{prefix}{folder}/")).or_default() += 1,
            None => rows.push(Row::Entry(l)),
        }
    }
    let mut all: Vec<Row> = folders.into_iter().map(|(name, count)| Row::Folder { name, count }).collect();
    all.extend(rows);
    let pages = all.len().div_ceil(PAGE_SIZE).max(1);
    let page = p.page.min(pages - 1);
    let shown = all.iter().skip(page * PAGE_SIZE).take(PAGE_SIZE);
    // The folders down to this one, each with the prefix that opens it.
    let crumbs: Vec<(&str, String)> = prefix
        .split_inclusive('/')
        .scan(String::new(), |acc, part| {
            acc.push_str(part);
            Some((part.trim_end_matches('/'), acc.clone()))
        })
        .filter(|(part, _)| !part.is_empty())
        .collect();
    let here = |extra: &str| format!("/ui/entries?{}", p.at().query(&format!("tab={}&{extra}", tab.name())));
    let add = html! { a.button.primary href={ "/ui/entries/new?" (p.at().query(&format!("kind={}", if tab == Tab::Variables { "variable" } else { "secret" }))) } { "Add New" } };
    let content = html! {
        (selectors(&app, ctx, &p.at(), tab).await)
        @if let Some(key) = &p.deleted {
            div.toast role="status" {
                "Deleted " code { (key) } ". "
                form.inline method="post" action="/ui/entries/undelete" {
                    (csrf(&signed))
                    input type="hidden" name="env" value=(p.at().env);
                    input type="hidden" name="vault" value=(p.at().vault);
                    input type="hidden" name="key" value=(key);
                    button.link type="submit" { "Undo" }
                }
            }
        }
        @if let Some(key) = &p.saved { div.toast role="status" { "Saved " code { (key) } "." } }
        nav.tabs aria-label="Kinds" {
            @for t in [Tab::Secrets, Tab::Variables, Tab::Deleted] {
                a href=(format!("/ui/entries?{}", p.at().query(&format!("tab={}", t.name())))) aria-current=[(t == tab).then_some("page")] { (t.label()) }
            }
        }
        div.toolbar {
            nav.crumbs aria-label="Folder" {
                a href=(here("")) { (p.at().vault) }
                @for (part, up_to) in &crumbs {
                    " / " a href=(here(&pair("prefix", up_to))) { (part) }
                }
            }
            form.search method="get" action="/ui/entries" role="search" {
                input type="hidden" name="env" value=(p.at().env);
                input type="hidden" name="vault" value=(p.at().vault);
                input type="hidden" name="tab" value=(tab.name());
                input type="hidden" name="prefix" value=(prefix);
                input #filter type="search" name="q" value=(p.q) placeholder="Filter keys (type to filter, Enter to search every folder)" aria-label="Filter keys";
            }
        }
        @if all.is_empty() {
            @match tab {
                Tab::Secrets => (empty("No secrets here yet.", &format!("tresor -e {} -v {} set KEY", p.at().env, p.at().vault))),
                Tab::Variables => (empty("No variables here yet.", &format!("tresor -e {} -v {} set KEY --variable", p.at().env, p.at().vault))),
                Tab::Deleted => (empty("Nothing deleted here.", &format!("tresor -e {} -v {} ls --deleted", p.at().env, p.at().vault))),
            }
        } @else {
            table.entries data-testid="entries" {
                thead { tr {
                    th { "Key" }
                    @if tab == Tab::Variables { th { "Value" } }
                    th { "Version" } th { "Updated" } th { "By" } th { span.sr { "Actions" } }
                } }
                tbody {
                    @for row in shown {
                        @match row {
                            Row::Folder { name, count } => tr.folder {
                                td colspan="6" { a href=(here(&pair("prefix", name))) { "📁 " (name.trim_end_matches('/').rsplit('/').next().unwrap_or(name)) "/" } " " span.muted { "(" (count) ")" } }
                            },
                            Row::Entry(l) => (entry_row(&signed, &p.at(), tab, l)),
                        }
                    }
                }
            }
            @if pages > 1 {
                nav.pager aria-label="Pages" {
                    @if page > 0 { a href=(here(&format!("{}&{}&page={}", pair("prefix", &prefix), pair("q", &p.q), page - 1))) { "← Previous" } }
                    span { "Page " (page + 1) " of " (pages) " (" (all.len()) " rows)" }
                    @if page + 1 < pages { a href=(here(&format!("{}&{}&page={}", pair("prefix", &prefix), pair("q", &p.q), page + 1))) { "Next →" } }
                }
            }
        }
    };
    Ok(views::page(&signed, "/ui/entries", "Secret Keys Manager", Some(add), content))
}

/// One entry's row, with its menu (Edit, History, Copy reference, Delete; Undelete and Purge in
/// the Deleted view). The menu opens on right-click, the context-menu key, Shift+F10 or the ⋯
/// button. A secret's row carries no value.
fn entry_row(signed: &Signed, at: &Where, tab: Tab, l: &Listed) -> Markup {
    let m = &l.meta;
    let reference = format!("tresor://{}/{}/{}", at.env, at.vault, m.key);
    let key_q = at.query(&pair("key", &m.key));
    let inherited = l.environment != at.env;
    html! {
        tr.entry tabindex="0" data-key=(m.key) {
            td.key {
                code { (m.key) }
                @if inherited { " " span.badge title="Read through from the parent environment" { "from " (l.environment) } }
                @if let Some(d) = &m.description { div.muted { (d) } }
            }
            @if tab == Tab::Variables {
                td.value { @if let Some(v) = &l.variable_value { code { (String::from_utf8_lossy(v.expose())) } } }
            }
            td { "v" (m.version) }
            td { (when(m.updated_at)) }
            td { (m.edited_by) }
            td.actions {
                button.menu-button type="button" aria-haspopup="menu" aria-expanded="false" aria-label={ "Actions for " (m.key) } { "⋯" }
                div.menu role="menu" hidden {
                    @if tab == Tab::Deleted {
                        form method="post" action="/ui/entries/undelete" {
                            (csrf(signed)) (hidden_where(at)) input type="hidden" name="key" value=(m.key);
                            button role="menuitem" type="submit" { "Undelete" }
                        }
                        a role="menuitem" href={ "/ui/entries/history?" (key_q) } { "History" }
                        form method="post" action="/ui/entries/purge" data-confirm-key=(m.key) {
                            (csrf(signed)) (hidden_where(at)) input type="hidden" name="key" value=(m.key);
                            input type="hidden" name="confirm" value="";
                            button.danger role="menuitem" type="submit" { "Purge…" }
                        }
                    } @else {
                        a role="menuitem" href={ "/ui/entries/edit?" (key_q) } { "Edit" }
                        a role="menuitem" href={ "/ui/entries/history?" (key_q) } { "History" }
                        button role="menuitem" type="button" data-copy=(reference) { "Copy reference" }
                        form method="post" action="/ui/entries/delete" data-confirm=(format!("Delete {}? You can undo it.", m.key)) {
                            (csrf(signed)) (hidden_where(at)) input type="hidden" name="key" value=(m.key);
                            button.danger role="menuitem" type="submit" { "Delete" }
                        }
                    }
                }
            }
        }
    }
}

fn hidden_where(at: &Where) -> Markup {
    html! {
        input type="hidden" name="env" value=(at.env);
        input type="hidden" name="vault" value=(at.vault);
    }
}

/// The fields of Add New and Edit.
#[derive(Deserialize, Default)]
struct EntryForm {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    value: Option<String>,
    #[serde(default)]
    description: String,
    /// `k=v` pairs, comma-separated.
    #[serde(default)]
    tags: String,
    /// Groups that may read / write this entry, comma-separated.
    #[serde(default)]
    read_groups: String,
    #[serde(default)]
    write_groups: String,
    /// Edit: the version the page showed (check-and-set).
    #[serde(default)]
    version: Option<u64>,
    /// The user confirmed releasing a vault managed by a declarative config.
    #[serde(default)]
    release: Option<String>,
    /// Set when the form showed the entry's group grants, so the fields replace them.
    #[serde(default)]
    groups_shown: Option<String>,
}

impl Drop for EntryForm {
    fn drop(&mut self) {
        if let Some(v) = self.value.as_mut() {
            zeroize::Zeroize::zeroize(v);
        }
    }
}

/// What went wrong with a form, next to the field it concerns.
#[derive(Default)]
struct FieldErrors {
    key: Option<String>,
    value: Option<String>,
    tags: Option<String>,
    groups: Option<String>,
    form: Option<String>,
}

impl FieldErrors {
    fn from_service(e: &ServiceError) -> Self {
        let text = e.to_string();
        match e {
            ServiceError::InvalidName(_) => FieldErrors { key: Some(text), ..Default::default() },
            ServiceError::ValueTooLarge { .. } => FieldErrors { value: Some(text), ..Default::default() },
            ServiceError::Managed { vault, config, .. } => FieldErrors {
                form: Some(format!(
                    "Vault {vault} is managed by config {config}. Tick \"Release the vault from its config\" to change it here; \
                     the next `tresor apply` of {config} asks before taking it back."
                )),
                ..Default::default()
            },
            _ => FieldErrors { form: Some(text), ..Default::default() },
        }
    }
}

#[derive(Deserialize)]
struct NewParams {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    #[serde(default)]
    kind: String,
}

async fn managed_by(app: &App, ctx: &Ctx, at: &Where) -> Option<String> {
    let env = EnvName::new(at.env.as_str()).ok()?;
    app.svc.list_vaults(ctx, &env).await.ok()?.into_iter().find(|v| v.name == at.vault)?.managed_by
}

async fn new_form(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<NewParams>) -> Page {
    let mut form = EntryForm::default();
    (form.env, form.vault, form.kind) = (p.env.clone(), p.vault.clone(), p.kind.clone());
    let managed = managed_by(&app, &signed.ctx, &p.at()).await;
    Ok(entry_form_page(&signed, &p.at(), &form, None, &FieldErrors::default(), managed.as_deref()))
}

/// Add New and Edit: the same form; `existing` is the entry being edited.
fn entry_form_page(
    signed: &Signed,
    at: &Where,
    form: &EntryForm,
    existing: Option<&EntryMeta>,
    errors: &FieldErrors,
    managed: Option<&str>,
) -> Markup {
    let secret = existing.map_or(form.kind != "variable", |m| m.kind == EntryKind::Secret);
    let (action, title) = match existing {
        Some(m) => ("/ui/entries/edit", format!("Edit {}", m.key)),
        None => ("/ui/entries/new", "Add New".to_owned()),
    };
    let error = |e: &Option<String>, id: &str| html! { @if let Some(e) = e { p.error id=(id) role="alert" { (e) } } };
    let content = html! {
        form.card.entry-form method="post" action=(action) {
            (csrf(signed))
            @if let Some(e) = &errors.form { p.error role="alert" data-testid="form-error" { (e) } }
            @if let Some(config) = managed {
                div.warning role="note" {
                    p { "Vault " strong { (at.vault) } " is managed by config " strong { (config) } ". Changing it here releases it from the config." }
                    label { input type="checkbox" name="release" value="yes"; " Release the vault from its config" }
                }
            }
            label { "Environment "
                input name="env" value=(at.env) required readonly[existing.is_some()];
            }
            label { "Vault " input name="vault" value=(at.vault) required readonly[existing.is_some()]; }
            label { "Key "
                input name="key" value=(existing.map_or(form.key.as_str(), |m| m.key.as_str())) required
                    readonly[existing.is_some()] placeholder="db/password" autocomplete="off" aria-describedby="key-error";
            }
            (error(&errors.key, "key-error"))
            @if let Some(m) = existing {
                input type="hidden" name="kind" value=(m.kind.as_str());
                input type="hidden" name="version" value=(m.version);
                p.muted { "Kind: " (m.kind) " · version " (m.version) " · last changed by " (m.edited_by) }
            } @else {
                fieldset.kind {
                    legend { "Kind" }
                    label { input type="radio" name="kind" value="secret" checked[secret]; " Secret (never shown again)" }
                    label { input type="radio" name="kind" value="variable" checked[!secret]; " Variable (plain configuration, shown)" }
                }
            }
            label { "Value "
                @if secret {
                    @if existing.is_some() {
                        textarea.secret name="value" rows="3" autocomplete="off" spellcheck="false" placeholder="Leave empty to keep the current value" aria-describedby="value-error" {}
                    } @else {
                        textarea.secret name="value" rows="3" autocomplete="off" spellcheck="false" required aria-describedby="value-error" {}
                    }
                } @else {
                    textarea name="value" rows="3" spellcheck="false" aria-describedby="value-error" { (form.value.as_deref().unwrap_or("")) }
                }
            }
            (error(&errors.value, "value-error"))
            label { "Description " input name="description" value=(existing.and_then(|m| m.description.as_deref()).unwrap_or(&form.description)); }
            label { "Tags " input name="tags" value=(existing.map(|m| tags_text(&m.tags)).unwrap_or_else(|| form.tags.clone())) placeholder="team=data, tier=1" aria-describedby="tags-error"; }
            (error(&errors.tags, "tags-error"))
            fieldset {
                legend { "Group permissions on this entry" }
                label { "Groups that may read " input name="read_groups" value=(form.read_groups) placeholder="analysts, etl" aria-describedby="groups-error"; }
                label { "Groups that may write " input name="write_groups" value=(form.write_groups) placeholder="platform" aria-describedby="groups-error"; }
                @if form.groups_shown.is_some() { input type="hidden" name="groups_shown" value="1"; }
                (error(&errors.groups, "groups-error"))
            }
            div.buttons {
                button.primary type="submit" { "Save" }
                a.button href={ "/ui/entries?" (at.query(&format!("tab={}", if secret { "secrets" } else { "variables" }))) } { "Cancel" }
            }
        }
    };
    views::page(signed, "/ui/entries", &title, None, content)
}

fn tags_text(tags: &[Tag]) -> String {
    tags.iter().map(|t| format!("{}={}", t.key, t.value)).collect::<Vec<_>>().join(", ")
}

fn parse_tags(text: &str) -> Result<Vec<Tag>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .map(|t| match t.split_once('=') {
            Some((k, v)) if !k.trim().is_empty() => Ok(Tag { key: k.trim().into(), value: v.trim().into() }),
            _ => Err(format!("tag \"{t}\" is not KEY=VALUE; write tags as team=data, tier=1")),
        })
        .collect()
}

fn groups(text: &str) -> BTreeSet<String> {
    text.split(',')
        .map(str::trim)
        .filter(|g| !g.is_empty())
        .map(|g| g.trim_start_matches("group:").to_owned())
        .collect()
}

async fn create(State(app): State<App>, UiForm(signed, form): UiForm<EntryForm>) -> Answer {
    save(app, signed, form, false).await
}

async fn update(State(app): State<App>, UiForm(signed, form): UiForm<EntryForm>) -> Answer {
    save(app, signed, form, true).await
}

/// Add New and Edit's Save: writes the value (Edit: check-and-set on the version the page
/// showed; an empty secret field keeps the value and changes only the rest), then grants the
/// groups. Errors come back next to their field, with what was typed kept (but never a secret).
async fn save(app: App, signed: Signed, mut form: EntryForm, editing: bool) -> Answer {
    let at = form.at();
    let ctx = signed.ctx.clone().releasing(form.release.is_some());
    let kind = if form.kind == "variable" { EntryKind::Variable } else { EntryKind::Secret };
    // The form again with its errors; whether the vault is managed is asked only then.
    let again = async |form: &EntryForm, existing: Option<&EntryMeta>, errors: FieldErrors| {
        let managed = managed_by(&app, &ctx, &at).await;
        Ok((
            StatusCode::UNPROCESSABLE_ENTITY,
            entry_form_page(&signed, &at, form, existing, &errors, managed.as_deref()),
        )
            .into_response())
    };
    let path = match at.entry(&ctx, form.key.trim()) {
        Ok(p) => p,
        Err(_) => {
            let e = EntryKey::new(form.key.trim()).err().map(|e| e.to_string());
            let errors = FieldErrors { key: e.or(Some("a key is required".into())), ..Default::default() };
            return again(&form, None, errors).await;
        }
    };
    let tags = match parse_tags(&form.tags) {
        Ok(t) => t,
        Err(e) => return again(&form, None, FieldErrors { tags: Some(e), ..Default::default() }).await,
    };
    let existing = if editing { Some(app.svc.describe(&ctx, &path).await?) } else { None };
    if kind == EntryKind::Secret {
        // Never send a secret back to the browser, even the one just typed.
        form.value = form.value.take().filter(|v| !v.is_empty());
    }
    let description = Some(form.description.trim().to_owned()).filter(|d| !d.is_empty());
    let written = match (form.value.as_deref(), &existing) {
        (None, Some(m)) => {
            // Keep the value: tags only (the service changes them without a new version),
            // still against the version the page showed. A description is part of a version,
            // so changing it needs the value again, which the page does not have.
            if form.version.is_some_and(|v| v != m.version) {
                Err(conflict(m))
            } else if description != m.description {
                let errors = FieldErrors {
                    value: Some(
                        "Changing the description writes a new version: enter the value again (it is never shown)."
                            .into(),
                    ),
                    ..Default::default()
                };
                return again(&form, existing.as_ref(), errors).await;
            } else {
                app.svc.update_tags(&ctx, &path, &tags, &removed_tags(&m.tags, &tags)).await.map(|_| m.clone())
            }
        }
        (None, None) => {
            let errors = FieldErrors { value: Some("a value is required".into()), ..Default::default() };
            return again(&form, None, errors).await;
        }
        (Some(value), _) => {
            let req = SetEntry {
                expected_version: if editing { form.version } else { Some(0) },
                description,
                tags: Some(tags),
                ..SetEntry::new(path.clone(), kind, SecretValue::from(value.to_owned()))
            };
            match (app.svc.set(&ctx, req).await, &existing) {
                // The version the page showed is stale: say who changed the entry since.
                (Err(ServiceError::Conflict(_)), Some(_)) => match app.svc.describe(&ctx, &path).await {
                    Ok(now) => Err(conflict(&now)),
                    Err(e) => Err(e),
                },
                (outcome, _) => outcome,
            }
        }
    };
    let written = match written {
        Ok(m) => m,
        Err(e) => {
            let e = match e {
                ServiceError::Conflict(_) if !editing => ServiceError::Conflict(format!(
                    "{} already exists in this vault; open it from the list to edit it",
                    path.key
                )),
                e => e,
            };
            return again(&form, existing.as_ref(), FieldErrors::from_service(&e)).await;
        }
    };
    if let Err(e) = grant_groups(&app, &ctx, &path, &form).await {
        return again(&form, Some(&written), FieldErrors { groups: Some(e.to_string()), ..Default::default() }).await;
    }
    let tab = if written.kind == EntryKind::Variable { "variables" } else { "secrets" };
    Ok(Redirect::to(&format!("/ui/entries?{}", at.query(&format!("tab={tab}&{}", pair("saved", &written.key)))))
        .into_response())
}

/// The tags an edit drops.
fn removed_tags(before: &[Tag], after: &[Tag]) -> Vec<Tag> {
    before.iter().filter(|t| !after.iter().any(|a| a.key == t.key)).cloned().collect()
}

fn conflict(m: &EntryMeta) -> ServiceError {
    ServiceError::Conflict(format!(
        "{} was changed while you edited it: it is now at version {}, by {}. Reload to see the current version, then edit again.",
        m.key, m.version, m.edited_by
    ))
}

/// Grants `read`/`write` on exactly this entry to the groups named, unless they hold it. When
/// the form showed the entry's group grants (Edit, for a caller who may list grants), a group
/// taken out of a field loses that grant: the fields are the entry's group permissions.
async fn grant_groups(app: &App, ctx: &Ctx, path: &EntryPath, form: &EntryForm) -> Result<(), ServiceError> {
    let wanted: Vec<(String, Access)> = groups(&form.read_groups)
        .into_iter()
        .map(|g| (g, Access::Read))
        .chain(groups(&form.write_groups).into_iter().map(|g| (g, Access::Write)))
        .collect();
    let replacing = form.groups_shown.is_some();
    if wanted.is_empty() && !replacing {
        return Ok(());
    }
    let scope: Scope = path.scope_text().parse()?;
    let held = app.svc.list_grants(ctx).await?;
    let on_entry = |g: &&tresor_service::GrantRecord| {
        g.scope == scope.to_string()
            && g.principal.kind == PrincipalKind::Group
            && matches!(g.access, Access::Read | Access::Write)
    };
    for (group, access) in &wanted {
        let principal: PrincipalRef = format!("group:{group}").parse()?;
        if !held.iter().filter(on_entry).any(|g| g.principal == principal && g.access == *access) {
            app.svc.create_grant(ctx, &principal, &scope, *access).await?;
        }
    }
    if replacing {
        for g in held.iter().filter(on_entry) {
            if !wanted.iter().any(|(group, access)| *group == g.principal.name && *access == g.access) {
                app.svc.delete_grant(ctx, &g.id).await?;
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct KeyParams {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    key: String,
}

async fn edit_form(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<KeyParams>) -> Page {
    let path = p.at().entry(&signed.ctx, &p.key)?;
    let meta = app.svc.describe(&signed.ctx, &path).await?;
    let mut form = EntryForm::default();
    (form.env, form.vault) = (p.env.clone(), p.vault.clone());
    if meta.kind == EntryKind::Variable {
        let resolved = app.svc.get(&signed.ctx, &path, None).await?;
        form.value = Some(String::from_utf8_lossy(resolved.value.expose()).into_owned());
    }
    if let Some((read, write)) = entry_groups(&app, &signed.ctx, &path).await {
        (form.read_groups, form.write_groups, form.groups_shown) = (read, write, Some("1".into()));
    }
    let managed = managed_by(&app, &signed.ctx, &p.at()).await;
    Ok(entry_form_page(&signed, &p.at(), &form, Some(&meta), &FieldErrors::default(), managed.as_deref()))
}

/// The groups granted read and write on exactly this entry (shown in Edit), when the caller may
/// list grants; `None` otherwise (the fields then only add grants).
async fn entry_groups(app: &App, ctx: &Ctx, path: &EntryPath) -> Option<(String, String)> {
    let scope = path.scope_text();
    let grants = app.svc.list_grants(ctx).await.ok()?;
    let of = |access: Access| {
        grants
            .iter()
            .filter(|g| g.scope == scope && g.access == access && g.principal.kind == PrincipalKind::Group)
            .map(|g| g.principal.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    };
    Some((of(Access::Read), of(Access::Write)))
}

#[derive(Deserialize)]
struct KeyForm {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    key: String,
    #[serde(default)]
    confirm: String,
}

async fn delete(State(app): State<App>, UiForm(signed, f): UiForm<KeyForm>) -> Answer {
    let path = f.at().entry(&signed.ctx, &f.key)?;
    app.svc.delete(&signed.ctx, &path).await?;
    Ok(Redirect::to(&format!("/ui/entries?{}", f.at().query(&pair("deleted", &f.key)))).into_response())
}

async fn undelete(State(app): State<App>, UiForm(signed, f): UiForm<KeyForm>) -> Answer {
    let path = f.at().entry(&signed.ctx, &f.key)?;
    let m = app.svc.undelete(&signed.ctx, &path).await?;
    let tab = if m.kind == EntryKind::Variable { "variables" } else { "secrets" };
    Ok(Redirect::to(&format!("/ui/entries?{}", f.at().query(&format!("tab={tab}&{}", pair("saved", &f.key)))))
        .into_response())
}

/// Purge removes an entry for good: the form must repeat the key (typed by the user).
async fn purge(State(app): State<App>, UiForm(signed, f): UiForm<KeyForm>) -> Answer {
    if f.confirm != f.key {
        return Err(UiError::bad(format!(
            "Purging removes {} and every version for good: type the key exactly to confirm.",
            f.key
        )));
    }
    let path = f.at().entry(&signed.ctx, &f.key)?;
    app.svc.purge(&signed.ctx, &path).await?;
    Ok(Redirect::to(&format!("/ui/entries?{}", f.at().query("tab=deleted"))).into_response())
}

async fn history(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<KeyParams>) -> Page {
    let ctx = &signed.ctx;
    let path = p.at().entry(ctx, &p.key)?;
    let meta = app.svc.describe(ctx, &path).await?;
    let versions = app.svc.history(ctx, &path).await?;
    let mut rows = Vec::with_capacity(versions.len());
    for v in &versions {
        // A variable's old values are shown (variables are visible to their readers); a
        // secret's never are.
        let value = if v.kind == EntryKind::Variable {
            app.svc
                .get(ctx, &path, Some(v.version))
                .await
                .ok()
                .map(|r| String::from_utf8_lossy(r.value.expose()).into_owned())
        } else {
            None
        };
        rows.push((v, value));
    }
    let content = html! {
        p { a href={ "/ui/entries?" (p.at().query("")) } { "← Back to " (p.at().vault) } }
        table.entries data-testid="history" {
            thead { tr { th { "Version" } th { "Kind" } th { "When" } th { "By" } th { "Value" } th { span.sr { "Actions" } } } }
            tbody {
                @for (v, value) in &rows {
                    tr {
                        td { "v" (v.version) @if v.version == meta.version { " " span.badge { "current" } } }
                        td { (v.kind) }
                        td { (when(v.created_at)) }
                        td { (v.edited_by) }
                        td { @match value { Some(text) => code { (text) }, None => span.muted { @if v.kind == EntryKind::Secret { "hidden (secret)" } } } }
                        td {
                            @if v.version != meta.version && meta.deleted_at.is_none() {
                                form method="post" action="/ui/entries/restore" {
                                    (csrf(&signed)) (hidden_where(&p.at()))
                                    input type="hidden" name="key" value=(p.key);
                                    input type="hidden" name="version" value=(v.version);
                                    button type="submit" { "Restore" }
                                }
                            }
                        }
                    }
                }
            }
        }
    };
    Ok(views::page(&signed, "/ui/entries", &format!("History of {}", p.key), None, content))
}

#[derive(Deserialize)]
struct RestoreForm {
    #[serde(default = "default_name")]
    env: String,
    #[serde(default = "default_name")]
    vault: String,
    key: String,
    version: u64,
}

async fn restore(State(app): State<App>, UiForm(signed, f): UiForm<RestoreForm>) -> Answer {
    let path = f.at().entry(&signed.ctx, &f.key)?;
    let m = app.svc.restore(&signed.ctx, &path, f.version).await?;
    Ok(Redirect::to(&format!("/ui/entries/history?{}", f.at().query(&pair("key", &m.key)))).into_response())
}
