//! Vaults, environments, access and audit pages: each lists what the service lets the caller
//! see, and its forms call the same service methods as the CLI and the API.

use super::entries::Where;
use super::views::{self, csrf, empty, when};
use super::{Answer, Page, Signed, UiForm};
use crate::App;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect};
use axum::routing::{get, post};
use axum::{Extension, Router};
use maud::html;
use serde::Deserialize;
use std::collections::VecDeque;
use tresor_model::{EnvName, PrincipalKind};

pub(super) fn routes() -> Router<App> {
    Router::new()
        .route("/ui/vaults", get(vaults))
        .route("/ui/vaults/create", post(create_vault))
        .route("/ui/vaults/delete", post(delete_vault))
        .route("/ui/environments", get(environments))
        .route("/ui/access", get(access))
        .route("/ui/audit", get(audit))
}

#[derive(Deserialize)]
struct EnvParam {
    #[serde(default = "default_env")]
    env: String,
}

fn default_env() -> String {
    "default".into()
}

async fn vaults(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<EnvParam>) -> Page {
    let ctx = &signed.ctx;
    let env = EnvName::new(p.env.as_str())?;
    let envs = app.svc.list_environments(ctx).await.unwrap_or_default();
    let vaults = app.svc.list_vaults(ctx, &env).await?;
    let content = html! {
        form.selectors method="get" action="/ui/vaults" {
            label { "Environment "
                select name="env" data-autosubmit {
                    @for e in &envs { option value=(e.name) selected[e.name == p.env] { (e.name) } }
                }
            }
            noscript { button type="submit" { "Show" } }
        }
        @if vaults.is_empty() {
            (empty("No vaults in this environment yet.", &format!("tresor -e {} vault create NAME", p.env)))
        } @else {
            table.entries data-testid="vaults" {
                thead { tr { th { "Vault" } th { "Entries" } th { "Created" } th { "Managed" } th { span.sr { "Actions" } } } }
                tbody {
                    @for v in &vaults {
                        tr {
                            td { a href={ "/ui/entries?" (Where { env: p.env.clone(), vault: v.name.clone() }.query("")) } { (v.name) } }
                            td { (v.entries) }
                            td { (when(v.created_at)) }
                            td { @if let Some(config) = &v.managed_by { span.badge.managed title="Changes here release the vault from its config" { "managed by config " (config) } } }
                            td {
                                form method="post" action="/ui/vaults/delete" data-confirm=(format!("Delete vault {}? Only an empty vault can be deleted.", v.name)) {
                                    (csrf(&signed))
                                    input type="hidden" name="env" value=(p.env);
                                    input type="hidden" name="vault" value=(v.name);
                                    @if v.managed_by.is_some() {
                                        label.inline { input type="checkbox" name="release" value="yes"; " release from config" }
                                    }
                                    button.danger type="submit" { "Delete" }
                                }
                            }
                        }
                    }
                }
            }
        }
        form.card.inline-form method="post" action="/ui/vaults/create" {
            (csrf(&signed))
            input type="hidden" name="env" value=(p.env);
            label { "New vault " input name="vault" required placeholder="api-keys"; }
            button.primary type="submit" { "Create vault" }
        }
    };
    Ok(views::page(&signed, "/ui/vaults", "Vaults", None, content))
}

#[derive(Deserialize)]
struct VaultForm {
    env: String,
    vault: String,
    #[serde(default)]
    release: Option<String>,
}

async fn create_vault(State(app): State<App>, UiForm(signed, f): UiForm<VaultForm>) -> Answer {
    let vault = Where { env: f.env.clone(), vault: f.vault.trim().to_owned() }.vault_path(&signed.ctx)?;
    app.svc.create_vault(&signed.ctx, &vault).await?;
    Ok(Redirect::to(&format!("/ui/vaults?env={}", vault.environment)).into_response())
}

/// Deleting a vault: refused unless it is empty (the service says why); a managed vault needs
/// the release box ticked, as the CLI asks before releasing.
async fn delete_vault(State(app): State<App>, UiForm(signed, f): UiForm<VaultForm>) -> Answer {
    let vault = Where { env: f.env.clone(), vault: f.vault.clone() }.vault_path(&signed.ctx)?;
    let ctx = signed.ctx.clone().releasing(f.release.is_some());
    app.svc.delete_vault(&ctx, &vault).await?;
    Ok(Redirect::to(&format!("/ui/vaults?env={}", vault.environment)).into_response())
}

async fn environments(State(app): State<App>, Extension(signed): Extension<Signed>) -> Page {
    let envs = app.svc.list_environments(&signed.ctx).await?;
    let content = html! {
        @if envs.is_empty() {
            (empty("No environments yet.", "tresor env create NAME [--parent PARENT]"))
        } @else {
            table.entries data-testid="environments" {
                thead { tr { th { "Environment" } th { "Parent" } th { "Created" } } }
                tbody {
                    @for e in &envs {
                        tr {
                            td { a href={ "/ui/entries?" (Where { env: e.name.clone(), vault: "default".into() }.query("")) } { (e.name) } }
                            td { @if let Some(p) = &e.parent { "branch of " (p) } }
                            td { (when(e.created_at)) }
                        }
                    }
                }
            }
        }
    };
    Ok(views::page(&signed, "/ui/environments", "Environments", None, content))
}

/// Principals, groups with their members, grants, tokens and application keys: what a caller
/// with workspace `manage` sees; others are told what they lack.
async fn access(State(app): State<App>, Extension(signed): Extension<Signed>) -> Page {
    let ctx = &signed.ctx;
    let principals = match app.svc.list_principals(ctx).await {
        Ok(p) => p,
        Err(e) => {
            let content = html! { div.empty { p { (e.to_string()) } p.muted { "Access is managed by principals holding manage on the workspace." } } };
            return Ok(views::page(&signed, "/ui/access", "Access", None, content));
        }
    };
    let grants = app.svc.list_grants(ctx).await?;
    let tokens = app.svc.list_tokens(ctx).await?;
    let app_keys = app.svc.list_app_keys(ctx).await?;
    let mut groups = Vec::new();
    for p in principals.iter().filter(|p| p.principal.kind == PrincipalKind::Group) {
        let members = app.svc.members_of(ctx, &p.principal.name).await.unwrap_or_default();
        groups.push((p.principal.name.clone(), members));
    }
    let content = html! {
        section {
            h2 { "Principals" }
            table.entries { thead { tr { th { "Principal" } th { "Created" } th { "By" } } }
                tbody { @for p in &principals { tr { td { code { (p.principal) } } td { (when(p.created_at)) } td { (p.created_by) } } } } }
        }
        section {
            h2 { "Groups" }
            @if groups.is_empty() { (empty("No groups yet.", "tresor group add NAME user:ALICE")) }
            @for (name, members) in &groups {
                p { strong { "group:" (name) } ": " (members.iter().map(|m| m.to_string()).collect::<Vec<_>>().join(", ")) }
            }
        }
        section {
            h2 { "Grants" }
            table.entries data-testid="grants" { thead { tr { th { "Principal" } th { "Access" } th { "Scope" } th { "Created" } th { "By" } } }
                tbody { @for g in &grants { tr { td { code { (g.principal) } } td { (g.access) } td { code { (g.scope) } } td { (when(g.created_at)) } td { (g.created_by) } } } } }
        }
        section {
            h2 { "Tokens" }
            table.entries { thead { tr { th { "Id" } th { "Principal" } th { "Name" } th { "Environment" } th { "Expires" } th { "Revoked" } } }
                tbody { @for t in &tokens { tr {
                    td { code { (t.id) } } td { (t.principal) } td { (t.name) }
                    td { @if let Some(e) = &t.environment { (e) } }
                    td { @if let Some(x) = t.expires_at { (when(x)) } }
                    td { @if let Some(x) = t.revoked_at { (when(x)) } }
                } } }
            }
        }
        section {
            h2 { "Application keys" }
            @if app_keys.is_empty() { (empty("No application keys yet.", "tresor app-key create app:NAME")) } @else {
                table.entries { thead { tr { th { "Id" } th { "Principal" } th { "Environment" } th { "Created" } th { "Revoked" } } }
                    tbody { @for k in &app_keys { tr {
                        td { code { (k.id) } } td { (k.principal) }
                        td { @if let Some(e) = &k.environment { (e) } }
                        td { (when(k.created_at)) }
                        td { @if let Some(x) = k.revoked_at { (when(x)) } }
                    } } }
                }
            }
        }
    };
    Ok(views::page(&signed, "/ui/access", "Access", None, content))
}

#[derive(Deserialize, Default)]
struct AuditParams {
    #[serde(default)]
    principal: String,
    #[serde(default)]
    action: String,
    #[serde(default)]
    entry: String,
    #[serde(default)]
    outcome: String,
    /// RFC 3339 or a date (`2026-12-01`).
    #[serde(default)]
    since: String,
    #[serde(default)]
    until: String,
    #[serde(default)]
    page: usize,
    #[serde(default)]
    verify: Option<String>,
}

const AUDIT_PAGE: usize = 50;

fn time_bound(text: &str, end_of_day: bool) -> Option<i64> {
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let full = if text.len() == 10 {
        format!("{text}T{}", if end_of_day { "23:59:59Z" } else { "00:00:00Z" })
    } else {
        text.to_owned()
    };
    tresor_model::parse_rfc3339(&full)
}

/// The audit log, newest first, filtered; `verify` checks the chain.
async fn audit(State(app): State<App>, Extension(signed): Extension<Signed>, Query(p): Query<AuditParams>) -> Page {
    let ctx = &signed.ctx;
    let since = time_bound(&p.since, false);
    let until = time_bound(&p.until, true);
    let keep = (p.page + 1) * AUDIT_PAGE;
    // The store pages the log oldest first; the newest `keep` matching records are kept.
    let mut newest: VecDeque<tresor_service::AuditEntry> = VecDeque::with_capacity(keep + 1);
    let mut after = 0;
    let mut total = 0usize;
    loop {
        let batch = app.svc.audit_log(ctx, after, since, 1000).await?;
        let Some(last) = batch.last() else { break };
        after = last.seq;
        let done = batch.len() < 1000;
        for r in batch {
            let matches = (p.principal.is_empty() || r.principal.contains(p.principal.trim()))
                && (p.action.is_empty() || r.action.contains(p.action.trim()))
                && (p.entry.is_empty() || r.target.contains(p.entry.trim()))
                && (p.outcome.is_empty() || r.outcome == p.outcome)
                && until.is_none_or(|u| r.at <= u);
            if matches {
                total += 1;
                newest.push_back(r);
                if newest.len() > keep {
                    newest.pop_front();
                }
            }
        }
        if done {
            break;
        }
    }
    let shown: Vec<_> = newest.iter().rev().skip(p.page * AUDIT_PAGE).take(AUDIT_PAGE).collect();
    let report = if p.verify.is_some() { Some(app.svc.audit_verify(ctx).await?) } else { None };
    let content = html! {
        form.filters method="get" action="/ui/audit" {
            label { "Principal " input name="principal" value=(p.principal); }
            label { "Action " input name="action" value=(p.action) placeholder="entry.write"; }
            label { "Entry " input name="entry" value=(p.entry) placeholder="prod/default/db"; }
            label { "Outcome "
                select name="outcome" {
                    option value="" selected[p.outcome.is_empty()] { "any" }
                    @for o in ["ok", "denied", "not_found", "invalid", "conflict", "error"] { option value=(o) selected[p.outcome == o] { (o) } }
                }
            }
            label { "Since " input name="since" value=(p.since) placeholder="2026-12-01"; }
            label { "Until " input name="until" value=(p.until) placeholder="2026-12-31"; }
            button type="submit" { "Filter" }
            button type="submit" name="verify" value="1" { "Verify the chain" }
        }
        @if let Some(r) = &report {
            @if r.ok() {
                div.toast role="status" data-testid="verify" { "The audit chain verifies: " (r.records) " records, none edited, removed, reordered or truncated." }
            } @else {
                div.error role="alert" data-testid="verify" { "The audit chain does not verify:" ul { @for problem in &r.problems { li { (problem) } } } }
            }
        }
        @if shown.is_empty() {
            (empty("No audit records match.", "tresor audit --since 1h"))
        } @else {
            table.entries data-testid="audit" {
                thead { tr { th { "#" } th { "When" } th { "Principal" } th { "Action" } th { "Target" } th { "Outcome" } } }
                tbody { @for r in &shown { tr {
                    td { (r.seq) } td { (when(r.at)) } td { (r.principal) } td { code { (r.action) } } td { code { (r.target) } }
                    td { span.outcome data-outcome=(r.outcome) { (r.outcome) } }
                } } }
            }
            nav.pager aria-label="Pages" {
                @if p.page > 0 { a href=(audit_link(&p, p.page - 1)) { "← Newer" } }
                span { (total) " matching records" }
                @if (p.page + 1) * AUDIT_PAGE < total { a href=(audit_link(&p, p.page + 1)) { "Older →" } }
            }
        }
    };
    Ok(views::page(&signed, "/ui/audit", "Audit", None, content))
}

fn audit_link(p: &AuditParams, page: usize) -> String {
    let mut q = form_urlencoded::Serializer::new(String::new());
    for (name, value) in [
        ("principal", &p.principal),
        ("action", &p.action),
        ("entry", &p.entry),
        ("outcome", &p.outcome),
        ("since", &p.since),
        ("until", &p.until),
    ] {
        if !value.is_empty() {
            q.append_pair(name, value);
        }
    }
    q.append_pair("page", &page.to_string());
    format!("/ui/audit?{}", q.finish())
}
