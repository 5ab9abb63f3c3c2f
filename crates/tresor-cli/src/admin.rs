//! Server-only commands: tokens, principals, groups, grants, audit, whoami. They need a server
//! (TRESOR_ADDR and TRESOR_TOKEN): a local store has a single owner and nothing to delegate.

use crate::args::{AppKeyCommand, AuditCommand, GrantCommand, GroupCommand, PrincipalCommand, TokenCommand};
use crate::error::{CliError, Result};
use crate::output::{outln, print_json, print_table};
use serde::Serialize;
use serde_json::Value;
use tresor_client::Client;
use tresor_model::{format_rfc3339, now_millis};

/// A list verb's output: the items as a JSON array, or a table with `header` and a row per item.
/// The JSON goes through `serde_json::Value`, whose objects keep their keys sorted, as this output
/// has always had them.
fn show<T: Serialize>(json: bool, items: &[T], header: &[&str], row: impl Fn(&T) -> Vec<String>) -> Result<()> {
    if json {
        print_json(&serde_json::to_value(items).expect("serializable"))
    } else {
        print_table(header, &items.iter().map(row).collect::<Vec<_>>())
    }
}

/// A cell for a field that may be absent: `-` then.
fn cell(field: &Option<String>) -> String {
    field.clone().unwrap_or_else(|| "-".into())
}

/// Says how revoking the credential `id` (a token, an application key) went: `{"revoked": ID}`
/// or the sentence `human` gives, or the failure.
fn revoked(json: bool, id: &str, outcome: tresor_client::Result<()>, human: impl FnOnce() -> String) -> Result<()> {
    outcome?;
    done(json, serde_json::json!({ "revoked": id }), human())
}

/// Says a group's members changed: `{"group": GROUP, "added"|"removed": MEMBER}` or `human`.
fn membership_changed(json: bool, group: String, (change, member): (&str, String), human: String) -> Result<()> {
    let doc = serde_json::Map::from_iter([("group".to_owned(), group.into()), (change.to_owned(), member.into())]);
    done(json, Value::Object(doc), human)
}

fn done(json: bool, doc: Value, human: String) -> Result<()> {
    if json {
        print_json(&doc)
    } else {
        outln!("{human}")
    }
}

/// `--since` as RFC 3339 or an age like `30m`, `2h`, `7d`, `1h 30m` (humantime's syntax).
pub fn since_arg(s: &str) -> Result<String> {
    if tresor_model::parse_rfc3339(s).is_some() {
        return Ok(s.to_owned());
    }
    let age = humantime::parse_duration(s).map_err(|_| bad_since(s))?;
    let millis = i64::try_from(age.as_millis()).map_err(|_| bad_since(s))?;
    Ok(format_rfc3339(now_millis().saturating_sub(millis)))
}

fn bad_since(s: &str) -> CliError {
    CliError::Usage(format!(
        "--since {s:?}: give an RFC 3339 time (2024-06-21T10:00:00Z) or an age (30m, 2h, 7d, 1h 30m)"
    ))
}

pub fn audit(client: &Client, cmd: AuditCommand, json: bool) -> Result<i32> {
    match cmd {
        AuditCommand::Ls { since, limit } => {
            let since = since.as_deref().map(since_arg).transpose()?;
            let page = client.audit(0, since.as_deref(), limit)?;
            let header = ["SEQ", "AT", "PRINCIPAL", "ACTION", "TARGET", "OUTCOME", "REQUEST_ID", "DETAIL"];
            show(json, &page.records, &header, |r| {
                vec![
                    r.seq.to_string(),
                    r.at.clone(),
                    r.principal.clone(),
                    r.action.clone(),
                    r.target.clone(),
                    r.outcome.clone(),
                    r.request_id.clone(),
                    cell(&r.detail),
                ]
            })?;
            Ok(0)
        }
        AuditCommand::Verify => {
            let report = client.audit_verify()?;
            let code = if report.ok { 0 } else { 1 };
            if json {
                print_json(&report)?;
            } else if report.ok {
                outln!(
                    "audit log intact: {} records in {} chains, every chain verified",
                    report.records,
                    report.chains
                )?;
            } else {
                eprintln!("audit log damaged ({} records read):", report.records);
                for p in &report.problems {
                    eprintln!("  - {p}");
                }
            }
            Ok(code)
        }
    }
}

/// How a minted credential's binding is told: ` bound to environment ENV`, or nothing.
fn bound_note(environment: Option<&str>) -> String {
    environment.map(|env| format!(" bound to environment {env}")).unwrap_or_default()
}

pub fn token(client: &Client, cmd: TokenCommand, json: bool) -> Result<i32> {
    match cmd {
        TokenCommand::Create { principal, name, ttl, bind_env } => {
            let t = client.create_token(&principal, &name, ttl, bind_env.as_deref())?;
            if json {
                print_json(&t)?;
            } else {
                let bound = bound_note(t.info.environment.as_deref());
                outln!("token {} for {}{bound} (shown once):\n{}", t.info.id, t.info.principal, t.token)?;
            }
        }
        TokenCommand::Ls => {
            let header = ["ID", "PRINCIPAL", "NAME", "ENVIRONMENT", "CREATED_AT", "EXPIRES_AT", "REVOKED_AT"];
            show(json, &client.list_tokens()?.tokens, &header, |t| {
                vec![
                    t.id.clone(),
                    t.principal.clone(),
                    t.name.clone(),
                    cell(&t.environment),
                    t.created_at.clone(),
                    cell(&t.expires_at),
                    cell(&t.revoked_at),
                ]
            })?
        }
        TokenCommand::Revoke { id } => revoked(json, &id, client.revoke_token(&id), || format!("revoked token {id}"))?,
    }
    Ok(0)
}

pub fn principal(client: &Client, cmd: PrincipalCommand, json: bool) -> Result<i32> {
    match cmd {
        PrincipalCommand::Create { principal } => {
            client.create_principal(&principal)?;
            done(json, serde_json::json!({"created": principal}), format!("created {principal}"))?;
        }
        PrincipalCommand::Ls => {
            show(json, &client.list_principals()?.principals, &["PRINCIPAL", "CREATED_AT", "CREATED_BY"], |p| {
                vec![p.principal.clone(), p.created_at.clone(), p.created_by.clone()]
            })?
        }
        PrincipalCommand::Rm { principal } => {
            client.delete_principal(&principal)?;
            done(
                json,
                serde_json::json!({"deleted": principal}),
                format!("deleted {principal} with its grants and tokens"),
            )?;
        }
    }
    Ok(0)
}

pub fn group(client: &Client, cmd: GroupCommand, json: bool) -> Result<i32> {
    match cmd {
        GroupCommand::Add { group, member } => {
            client.add_member(&group, &member)?;
            let human = format!("added {member} to group:{group}");
            membership_changed(json, group, ("added", member), human)?;
        }
        GroupCommand::Rm { group, member } => {
            client.remove_member(&group, &member)?;
            let human = format!("removed {member} from group:{group}");
            membership_changed(json, group, ("removed", member), human)?;
        }
        GroupCommand::Ls { group } => {
            let list = client.list_members(&group)?;
            if json {
                print_json(&list.members)?;
            } else {
                for m in &list.members {
                    outln!("{m}")?;
                }
            }
        }
    }
    Ok(0)
}

pub fn grant(client: &Client, cmd: GrantCommand, json: bool) -> Result<i32> {
    match cmd {
        GrantCommand::Add { principal, scope, access } => {
            let g = client.create_grant(&principal, &scope, &access)?;
            if json {
                print_json(&g)?;
            } else {
                outln!("granted {} {} on {} (grant {})", g.principal, g.access, g.scope, g.id)?;
            }
        }
        GrantCommand::Ls => {
            let header = ["ID", "PRINCIPAL", "ACCESS", "SCOPE", "CREATED_BY"];
            show(json, &client.list_grants()?.grants, &header, |g| {
                vec![g.id.clone(), g.principal.clone(), g.access.clone(), g.scope.clone(), g.created_by.clone()]
            })?
        }
        GrantCommand::Rm { id } => {
            client.delete_grant(&id)?;
            done(json, serde_json::json!({"deleted": id}), format!("deleted grant {id}"))?;
        }
    }
    Ok(0)
}

pub fn whoami(client: &Client, json: bool) -> Result<i32> {
    let me = client.whoami()?;
    if json {
        print_json(&me)?;
    } else {
        let mut text = format!("{} in workspace {}\n", me.principal, me.workspace);
        if let Some(env) = &me.environment {
            text.push_str(&format!("token bound to environment {env}: its grants are narrowed to it\n"));
            if !me.reads_through.is_empty() {
                text.push_str(&format!("  (a branch: reads through to {})\n", me.reads_through.join(", ")));
            }
        }
        for g in &me.grants {
            text.push_str(&format!("  {} on {}\n", g.access, g.scope));
        }
        crate::output::write_out(text.as_bytes())?;
    }
    Ok(0)
}

pub fn app_key(client: &Client, cmd: AppKeyCommand, json: bool) -> Result<i32> {
    match cmd {
        AppKeyCommand::Create { principal, bind_env } => {
            let k = client.create_app_key(&principal, bind_env.as_deref())?;
            if json {
                print_json(&k)?;
            } else {
                outln!(
                    "application key for {}{} (the secret is shown once; it is stored only as a hash):\n\
                     key id:     {}\nkey secret: {}",
                    k.info.principal,
                    bound_note(k.info.environment.as_deref()),
                    k.info.id,
                    k.secret
                )?;
            }
        }
        AppKeyCommand::Ls => {
            let header = ["ID", "PRINCIPAL", "ENVIRONMENT", "CREATED_AT", "CREATED_BY", "REVOKED_AT"];
            show(json, &client.list_app_keys()?.app_keys, &header, |k| {
                vec![
                    k.id.clone(),
                    k.principal.clone(),
                    cell(&k.environment),
                    k.created_at.clone(),
                    k.created_by.clone(),
                    cell(&k.revoked_at),
                ]
            })?
        }
        AppKeyCommand::Revoke { id } => {
            let said = || format!("revoked application key {id} and its tokens");
            revoked(json, &id, client.revoke_app_key(&id), said)?
        }
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    use super::since_arg;

    /// An age is counted back from now; a time passes through; anything else names both forms.
    #[test]
    fn since_takes_a_time_or_an_age() {
        assert_eq!(since_arg("2024-06-21T10:00:00Z").unwrap(), "2024-06-21T10:00:00Z");
        for (age, millis) in [("30m", 1_800_000), ("2h", 7_200_000), ("7d", 604_800_000), ("1h 30m", 5_400_000)] {
            let before = tresor_model::now_millis();
            let since = tresor_model::parse_rfc3339(&since_arg(age).unwrap()).expect("RFC 3339");
            let after = tresor_model::now_millis();
            // RFC 3339 here has whole seconds: allow for the truncation.
            assert!(since <= after - millis && since >= before - millis - 1000, "{age}: {since}");
        }
        for bad in ["", "yesterday", "5 parsecs", "-1h"] {
            let e = since_arg(bad).unwrap_err().to_string();
            assert!(e.contains("RFC 3339") && e.contains("30m"), "{bad}: {e}");
        }
    }
}
