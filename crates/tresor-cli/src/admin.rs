//! Server-only commands: tokens, principals, groups, grants, audit, whoami. They need a server
//! (TRESOR_ADDR and TRESOR_TOKEN): a local store has a single owner and nothing to delegate.

use crate::args::{AppKeyCommand, AuditCommand, GrantCommand, GroupCommand, PrincipalCommand, TokenCommand};
use crate::error::{CliError, Result};
use crate::output::{outln, print_json, print_table};
use serde_json::Value;
use tresor_client::Client;
use tresor_model::{format_rfc3339, now_millis};

fn rows(doc: &Value, list: &str, cols: &[&str]) -> Vec<Vec<String>> {
    doc[list]
        .as_array()
        .map(|items| {
            items
                .iter()
                .map(|item| {
                    cols.iter()
                        .map(|c| match &item[*c] {
                            Value::String(s) => s.clone(),
                            Value::Null => "-".into(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect()
        })
        .unwrap_or_default()
}

fn show(json: bool, doc: Value, list: &str, cols: &[&str]) -> Result<()> {
    if json {
        print_json(&doc[list])
    } else {
        let header: Vec<String> = cols.iter().map(|c| c.to_uppercase()).collect();
        print_table(&header.iter().map(String::as_str).collect::<Vec<_>>(), &rows(&doc, list, cols))
    }
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
            let doc = client.audit(0, since.as_deref(), limit)?;
            show(
                json,
                doc,
                "records",
                &["seq", "at", "principal", "action", "target", "outcome", "request_id", "detail"],
            )?;
            Ok(0)
        }
        AuditCommand::Verify => {
            let report = client.audit_verify()?;
            let code = if report.ok { 0 } else { 1 };
            if json {
                print_json(&report)?;
            } else if report.ok {
                outln!("audit log intact: {} records, chain verified", report.records)?;
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
        TokenCommand::Ls => show(
            json,
            client.list_tokens()?,
            "tokens",
            &["id", "principal", "name", "environment", "created_at", "expires_at", "revoked_at"],
        )?,
        TokenCommand::Revoke { id } => {
            client.revoke_token(&id)?;
            done(json, serde_json::json!({"revoked": id}), format!("revoked token {id}"))?;
        }
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
            show(json, client.list_principals()?, "principals", &["principal", "created_at", "created_by"])?
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
            done(
                json,
                serde_json::json!({"group": group, "added": member}),
                format!("added {member} to group:{group}"),
            )?;
        }
        GroupCommand::Rm { group, member } => {
            client.remove_member(&group, &member)?;
            done(
                json,
                serde_json::json!({"group": group, "removed": member}),
                format!("removed {member} from group:{group}"),
            )?;
        }
        GroupCommand::Ls { group } => {
            let doc = client.list_members_doc(&group)?;
            if json {
                print_json(&doc["members"])?;
            } else {
                for m in doc["members"].as_array().into_iter().flatten() {
                    outln!("{}", m.as_str().unwrap_or_default())?;
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
            show(json, client.list_grants()?, "grants", &["id", "principal", "access", "scope", "created_by"])?
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
        AppKeyCommand::Ls => show(
            json,
            client.list_app_keys()?,
            "app_keys",
            &["id", "principal", "environment", "created_at", "created_by", "revoked_at"],
        )?,
        AppKeyCommand::Revoke { id } => {
            client.revoke_app_key(&id)?;
            done(json, serde_json::json!({"revoked": id}), format!("revoked application key {id} and its tokens"))?;
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
