//! `tresor run` and `tresor redact`: values into a process's environment, and out of its output.
//!
//! Both resolve their values in one batch, then pass bytes through a streaming
//! [`tresor_redact::Redactor`], which masks each value and its common encodings as soon as it can
//! tell, so output appears line by line (or faster) rather than at exit.

use crate::args::{RedactArgs, RunArgs};
use crate::backend::Backend;
use crate::commands::Scope;
use crate::error::{CliError, Result};
use std::io::Write;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};
use tresor_model::{EntryKey, SecretValue};
use tresor_redact::{RedactOptions, Redactor};
use tresor_service::RenderRequest;
use tresor_store::ListQuery;

/// `db/password` → `DB_PASSWORD`: upper case, anything but letters and digits becomes `_`.
pub fn env_var_name(key: &str) -> String {
    let mut name: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The values to inject or mask, as (environment variable name, value), and the entry names.
struct Resolved {
    vars: Vec<(String, SecretValue)>,
}

/// All entries of the vault (or only the named ones), resolved in one batch.
async fn resolve_vault(backend: &dyn Backend, scope: &Scope, only: &[String]) -> Result<Resolved> {
    let keys: Vec<String> = if only.is_empty() {
        let mut keys = Vec::new();
        let mut query = ListQuery { prefix: String::new(), after: None, limit: 1000, include_deleted: false };
        loop {
            let page = backend.list(&scope.vault_path(), &query).await?;
            let full = page.len() == 1000;
            query.after = page.last().map(|l| l.meta.key.clone());
            keys.extend(page.into_iter().map(|l| l.meta.key));
            if !full {
                break;
            }
        }
        keys
    } else {
        for k in only {
            EntryKey::new(k.as_str())?;
        }
        only.to_vec()
    };
    let values = backend.get_many(&scope.vault_path(), &keys).await?;
    let mut vars: Vec<(String, SecretValue)> = Vec::with_capacity(keys.len());
    // The key each variable came from, to name both entries of a collision.
    let mut sources: Vec<String> = Vec::with_capacity(keys.len());
    for (key, value) in values {
        let name = env_var_name(&key);
        if let Some(i) = vars.iter().position(|(n, _)| *n == name) {
            return Err(CliError::Usage(format!(
                "entries {} and {key} both become environment variable {name}; use --env-file to name them",
                sources[i]
            )));
        }
        vars.push((name, value));
        sources.push(key);
    }
    Ok(Resolved { vars })
}

/// An env file whose values are templates: `NAME=${secret:KEY}`, `URL=https://${secret:host}/x`.
async fn resolve_env_file(backend: &dyn Backend, scope: &Scope, path: &str) -> Result<Resolved> {
    let template =
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read env file {path}: {e}")))?;
    let rendered = backend
        .render(RenderRequest {
            template,
            json: false,
            environment: scope.env.clone(),
            vault: scope.vault.clone(),
            allow: None,
            map: vec![],
        })
        .await?;
    let mut vars = Vec::new();
    for item in dotenvy::from_read_iter(rendered.as_bytes()) {
        let (name, value) =
            item.map_err(|_| CliError::Usage(format!("{path} is not a valid env file (NAME=VALUE per line)")))?;
        vars.push((name, SecretValue::from(value)));
    }
    Ok(Resolved { vars })
}

fn redactor_for(resolved: &Resolved, min_length: usize, mask: &str) -> Result<Redactor> {
    let options = RedactOptions { mask: mask.to_owned(), min_len: min_length };
    let redactor = Redactor::new(resolved.vars.iter().map(|(_, v)| v.expose()), &options)
        .map_err(|e| CliError::Io(e.to_string()))?;
    if !redactor.skipped().is_empty() {
        let names: Vec<&str> = redactor.skipped().iter().map(|&i| resolved.vars[i].0.as_str()).collect();
        eprintln!(
            "tresor: not masking {} value(s) shorter than {min_length} bytes, as they would mask ordinary text: {}",
            names.len(),
            names.join(", ")
        );
    }
    Ok(redactor)
}

/// Copies `input` to `output` through `redactor`, flushing after every read.
async fn pump(
    mut input: impl AsyncRead + Unpin,
    mut output: impl Write,
    mut redactor: Redactor,
) -> std::io::Result<()> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut out = Vec::with_capacity(64 * 1024);
    loop {
        let n = input.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        out.clear();
        redactor.push(&buf[..n], &mut out);
        output.write_all(&out)?;
        output.flush()?;
    }
    out.clear();
    redactor.finish(&mut out);
    output.write_all(&out)?;
    output.flush()
}

pub async fn redact(backend: &dyn Backend, scope: &Scope, args: RedactArgs) -> Result<i32> {
    let resolved = resolve_vault(backend, scope, &args.only).await?;
    let redactor = redactor_for(&resolved, args.min_length, &args.mask)?;
    pump(tokio::io::stdin(), std::io::stdout(), redactor).await.map_err(|e| match e.kind() {
        // Reading a pipe never fails with a broken pipe: writing stdout did.
        std::io::ErrorKind::BrokenPipe => CliError::StdoutClosed,
        _ => CliError::Io(format!("redacting stdin: {e}")),
    })?;
    Ok(0)
}

pub async fn run(backend: &dyn Backend, scope: &Scope, args: RunArgs) -> Result<i32> {
    let resolved = match &args.env_file {
        Some(path) => resolve_env_file(backend, scope, path).await?,
        None => resolve_vault(backend, scope, &args.only).await?,
    };
    let redactor = redactor_for(&resolved, args.min_length, &args.mask)?;
    let (program, rest) =
        args.command.split_first().ok_or_else(|| CliError::Usage("name a command after --".into()))?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest).stdin(Stdio::inherit()).stdout(Stdio::piped()).stderr(Stdio::piped());
    for (name, value) in &resolved.vars {
        let value = value.expose_str().ok_or_else(|| {
            CliError::Usage(format!("the value for {name} is not text and cannot be an environment variable"))
        })?;
        cmd.env(name, value);
    }
    let mut child = cmd.spawn().map_err(|e| CliError::Usage(format!("cannot start {program}: {e}")))?;
    drop(resolved);
    let stdout = child.stdout.take().expect("piped");
    let stderr = child.stderr.take().expect("piped");
    let out_task = tokio::spawn(pump(stdout, std::io::stdout(), redactor.fork()));
    let err_task = tokio::spawn(pump(stderr, std::io::stderr(), redactor));
    let status = wait_forwarding_signals(&mut child).await?;
    let _ = out_task.await;
    let _ = err_task.await;
    Ok(exit_code_of(status))
}

/// Waits for the child, passing on SIGINT, SIGTERM, SIGHUP and SIGQUIT so it can shut down its own
/// way (and its output is still redacted meanwhile).
#[cfg(unix)]
async fn wait_forwarding_signals(child: &mut tokio::process::Child) -> Result<std::process::ExitStatus> {
    use tokio::signal::unix::{signal, SignalKind};
    let pid = child.id().map(|p| p as libc::pid_t);
    let mut streams = Vec::new();
    for kind in [SignalKind::interrupt(), SignalKind::terminate(), SignalKind::hangup(), SignalKind::quit()] {
        streams.push((kind.as_raw_value(), signal(kind).map_err(|e| CliError::Io(e.to_string()))?));
    }
    loop {
        let [(s0, a), (s1, b), (s2, c), (s3, d)] = &mut streams[..] else { unreachable!("four signals") };
        let forwarded = tokio::select! {
            status = child.wait() => return status.map_err(|e| CliError::Io(format!("waiting for the command: {e}"))),
            _ = a.recv() => *s0,
            _ = b.recv() => *s1,
            _ = c.recv() => *s2,
            _ = d.recv() => *s3,
        };
        if let Some(pid) = pid {
            // SAFETY: kill(2) with a pid we spawned and a valid signal number has no memory effects.
            unsafe {
                libc::kill(pid, forwarded);
            }
        }
    }
}

#[cfg(not(unix))]
async fn wait_forwarding_signals(child: &mut tokio::process::Child) -> Result<std::process::ExitStatus> {
    child.wait().await.map_err(|e| CliError::Io(format!("waiting for the command: {e}")))
}

/// The command's exit code, or 128 + the signal that killed it, as shells report it.
fn exit_code_of(status: std::process::ExitStatus) -> i32 {
    if let Some(code) = status.code() {
        return code;
    }
    #[cfg(unix)]
    {
        use std::os::unix::process::ExitStatusExt;
        if let Some(sig) = status.signal() {
            return 128 + sig;
        }
    }
    1
}

#[cfg(test)]
mod tests {
    #[test]
    fn env_var_names() {
        assert_eq!(super::env_var_name("db/password"), "DB_PASSWORD");
        assert_eq!(super::env_var_name("pg.user"), "PG_USER");
        assert_eq!(super::env_var_name("stripe-secret-key"), "STRIPE_SECRET_KEY");
        assert_eq!(super::env_var_name("1st"), "_1ST");
    }
}
