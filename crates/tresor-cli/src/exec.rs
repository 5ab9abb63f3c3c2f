//! `tresor run` and `tresor redact`: values into a process's environment, and out of its output.
//!
//! Both resolve their values in one batch, then pass bytes through a streaming
//! [`tresor_redact::Redactor`], which masks each value and its common encodings as soon as it can
//! tell, so output appears line by line (or faster) rather than at exit.

use crate::args::{RedactArgs, RunArgs};
use crate::backend::{Backend, KeyCheck};
use crate::env_names::{self, Refusal};
use crate::error::{CliError, Result};
use crate::target::Target;
use std::io::Write;
use std::process::Stdio;
use tokio::io::{AsyncRead, AsyncReadExt};
use tresor_model::{EntryKey, SecretValue};
use tresor_redact::{RedactOptions, Redactor};
use tresor_service::RenderRequest;

/// `db/password` → `DB_PASSWORD`: upper case, anything but letters and digits becomes `_`.
pub fn env_var_name(key: &str) -> String {
    let mut name: String =
        key.chars().map(|c| if c.is_ascii_alphanumeric() { c.to_ascii_uppercase() } else { '_' }).collect();
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    name
}

/// The values to inject or mask, as (environment variable name, value).
struct Resolved {
    vars: Vec<(String, SecretValue)>,
}

/// Each key with the environment variable name it becomes, as (name, key); two keys that become
/// the same name are an error.
fn names_of<S: AsRef<str>>(keys: &[S]) -> Result<Vec<(String, String)>> {
    let mut named: Vec<(String, String)> = Vec::with_capacity(keys.len());
    // Name -> index in `named`: a vault of 10,000 entries is checked in linear time.
    let mut seen: std::collections::HashMap<String, usize> = std::collections::HashMap::with_capacity(keys.len());
    for key in keys {
        let key = key.as_ref();
        let name = env_var_name(key);
        if let Some(&other) = seen.get(&name) {
            let other = &named[other].1;
            return Err(CliError::Usage(format!(
                "entries {other} and {key} both become environment variable {name}; use --env-file to name them"
            )));
        }
        seen.insert(name.clone(), named.len());
        named.push((name, key.to_owned()));
    }
    Ok(named)
}

/// Resolves the entries `--only` names in one batch; their names are checked (`check`) first.
async fn resolve_only(
    backend: &dyn Backend,
    scope: &Target,
    only: &[String],
    check: &KeyCheck<'_>,
) -> Result<Resolved> {
    for k in only {
        EntryKey::new(k.as_str())?;
    }
    let named = names_of(only)?;
    check(&only.iter().map(String::as_str).collect::<Vec<_>>())?;
    let keys: Vec<String> = named.iter().map(|(_, key)| key.clone()).collect();
    let mut values: std::collections::HashMap<String, SecretValue> =
        backend.get_many(&scope.vault_path(), &keys).await?.into_iter().collect();
    let vars = named.into_iter().filter_map(|(name, key)| values.remove(&key).map(|value| (name, value))).collect();
    Ok(Resolved { vars })
}

/// Resolves `--only`'s entries, or without it every entry of the vault, in one batch. The keys'
/// environment variable names are checked before any value is resolved: two keys may not become
/// the same name, and `check` may refuse more.
async fn resolve_keys(
    backend: &dyn Backend,
    scope: &Target,
    only: &[String],
    check: &KeyCheck<'_>,
) -> Result<Resolved> {
    if !only.is_empty() {
        return resolve_only(backend, scope, only, check).await;
    }
    let names_ok = |keys: &[&str]| names_of(keys).and_then(|_| check(keys));
    let values = backend.get_vault(&scope.vault_path(), &names_ok).await?;
    // Their names were checked above, before the values were read.
    let vars = values.into_iter().map(|(key, value)| (env_var_name(&key), value)).collect();
    Ok(Resolved { vars })
}

/// Refuses, before any value is resolved and before the command starts, every name that
/// [`env_names`] refuses and `--allow-env` does not allow: all of them in one message, each with
/// where it came from and why, and what to do. Names only, never a value.
fn refuse_names<'a>(
    program: &str,
    names: impl IntoIterator<Item = (&'a str, String)>,
    allowed: &env_names::Allowed<'_>,
) -> Result<()> {
    let (mut dangerous, mut malformed) = (Vec::new(), Vec::new());
    for (name, origin) in names {
        match allowed.check(name) {
            Ok(()) => {}
            Err(Refusal::Dangerous(why)) => dangerous.push(format!("  {name} ({origin}): {why}")),
            Err(Refusal::Malformed(why)) => malformed.push(format!("  {name:?} ({origin}): {why}")),
        }
    }
    if dangerous.is_empty() && malformed.is_empty() {
        return Ok(());
    }
    let mut message = format!("not starting {program}:");
    if !dangerous.is_empty() {
        message.push_str(
            "\nthese environment variable names change how programs load or run, so whoever may write the vault \
             could plant them to run code in this process with every value it receives:\n",
        );
        message.push_str(&dangerous.join("\n"));
        message.push_str(
            "\nAllow each one you trust with --allow-env NAME (repeatable), or pick the entries you need with \
             --only KEY (repeatable).",
        );
    }
    if !malformed.is_empty() {
        message.push_str("\nthese names cannot be environment variables:\n");
        message.push_str(&malformed.join("\n"));
        message.push_str("\nRename them in the env file.");
    }
    Err(CliError::Usage(message))
}

/// The names an env file declares, read from its own text: each reference is replaced by a neutral
/// stand-in before dotenvy reads the lines, so no value can decide them.
fn declared_names(template: &str, path: &str) -> Result<Vec<String>> {
    let parsed =
        tresor_template::Template::parse(template).map_err(|e| CliError::Usage(format!("in env file {path}: {e}")))?;
    let mut neutral = String::with_capacity(template.len());
    let mut at = 0;
    for reference in parsed.references() {
        neutral.push_str(&template[at..reference.span.start]);
        neutral.push('x');
        at = reference.span.end;
    }
    neutral.push_str(&template[at..]);
    dotenvy::from_read_iter(neutral.as_bytes())
        .map(|item| {
            item.map(|(name, _)| name)
                .map_err(|_| CliError::Usage(format!("{path} is not a valid env file (NAME=VALUE per line)")))
        })
        .collect()
}

/// An env file whose values are templates: `NAME=${secret:KEY}`, `URL=https://${secret:host}/x`.
/// Its names are checked before anything is resolved; once rendered, the file must still declare
/// exactly those names: a value that holds a line break or a quote could otherwise add a line of
/// its own (`x\nLD_PRELOAD=...`) or replace another line's value.
async fn resolve_env_file(
    backend: &dyn Backend,
    scope: &Target,
    path: &str,
    program: &str,
    allowed: &env_names::Allowed<'_>,
) -> Result<Resolved> {
    let template =
        std::fs::read_to_string(path).map_err(|e| CliError::Usage(format!("cannot read env file {path}: {e}")))?;
    let declared = declared_names(&template, path)?;
    refuse_names(program, declared.iter().map(|name| (name.as_str(), format!("in {path}"))), allowed)?;
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
    let broken = || {
        CliError::Usage(format!(
            "a value rendered into {path} breaks its NAME=VALUE lines (it holds a line break or a quote), so the \
             command would not get the variables the file declares ({}); pass such a value with --only KEY instead \
             of --env-file",
            declared.join(", ")
        ))
    };
    let mut vars = Vec::with_capacity(declared.len());
    for item in dotenvy::from_read_iter(rendered.as_bytes()) {
        let (name, value) = item.map_err(|_| broken())?;
        vars.push((name, SecretValue::from(value)));
    }
    if !vars.iter().map(|(name, _)| name).eq(declared.iter()) {
        return Err(broken());
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

pub async fn redact(backend: &dyn Backend, scope: &Target, args: RedactArgs) -> Result<i32> {
    let resolved = resolve_keys(backend, scope, &args.only, &|_: &[&str]| Ok(())).await?;
    let redactor = redactor_for(&resolved, args.min_length, &args.mask)?;
    drop(resolved);
    // Nothing else runs on this runtime meanwhile: blocking reads and writes are the fast path.
    pump_stdio(redactor).map_err(|e| match e.kind() {
        // Reading a pipe never fails with a broken pipe: writing stdout did.
        std::io::ErrorKind::BrokenPipe => CliError::StdoutClosed,
        _ => CliError::Io(format!("redacting stdin: {e}")),
    })?;
    Ok(0)
}

/// Copies stdin to stdout through `redactor`: each read is redacted and written at once, in one
/// write, so output is as prompt as the input. Reads take up to 256 KiB (a pipe hands over what
/// it holds; a file fills the buffer), writes bypass std's line buffering of stdout.
fn pump_stdio(mut redactor: Redactor) -> std::io::Result<()> {
    use std::io::Read;
    const CHUNK: usize = 256 * 1024;
    // A read at least as large as the lock's own buffer goes straight to the file descriptor.
    let mut input = std::io::stdin().lock();
    let mut output = RawStdout::new()?;
    let mut buf = vec![0u8; CHUNK];
    let mut out = Vec::with_capacity(CHUNK + CHUNK / 4);
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        out.clear();
        redactor.push(&buf[..n], &mut out);
        output.write_all(&out)?;
    }
    out.clear();
    redactor.finish(&mut out);
    output.write_all(&out)?;
    output.flush()
}

/// Stdout without std's line buffering (which splits a chunk at its last newline into two
/// writes and copies the rest): `write_all` hands a whole chunk to the file descriptor.
struct RawStdout {
    #[cfg(unix)]
    file: std::mem::ManuallyDrop<std::fs::File>,
    #[cfg(not(unix))]
    stdout: std::io::Stdout,
}

impl RawStdout {
    fn new() -> std::io::Result<Self> {
        // Whatever was printed through std's handle goes first.
        std::io::stdout().flush()?;
        #[cfg(unix)]
        {
            use std::os::fd::{AsRawFd, FromRawFd};
            // SAFETY: stdout's descriptor stays open for the life of the process, and
            // `ManuallyDrop` keeps this `File` from ever closing it.
            let file = unsafe { std::fs::File::from_raw_fd(std::io::stdout().as_raw_fd()) };
            Ok(RawStdout { file: std::mem::ManuallyDrop::new(file) })
        }
        #[cfg(not(unix))]
        Ok(RawStdout { stdout: std::io::stdout() })
    }
}

impl Write for RawStdout {
    fn write(&mut self, data: &[u8]) -> std::io::Result<usize> {
        #[cfg(unix)]
        return (&*self.file).write(data);
        #[cfg(not(unix))]
        self.stdout.write(data)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        // Nothing is buffered on unix.
        #[cfg(not(unix))]
        self.stdout.flush()?;
        Ok(())
    }
}

pub async fn run(backend: &dyn Backend, scope: &Target, args: RunArgs) -> Result<i32> {
    let (program, rest) =
        args.command.split_first().ok_or_else(|| CliError::Usage("name a command after --".into()))?;
    let allowed = env_names::Allowed::new(&args.allow_env).map_err(CliError::Usage)?;
    let resolved = match &args.env_file {
        Some(path) => resolve_env_file(backend, scope, path, program, &allowed).await?,
        None => {
            let refuse = |keys: &[&str]| {
                let named = keys.iter().map(|key| (env_var_name(key), format!("entry {key}"))).collect::<Vec<_>>();
                refuse_names(program, named.iter().map(|(name, origin)| (name.as_str(), origin.clone())), &allowed)
            };
            resolve_keys(backend, scope, &args.only, &refuse).await?
        }
    };
    let redactor = redactor_for(&resolved, args.min_length, &args.mask)?;
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(rest).stdin(Stdio::inherit()).stdout(Stdio::piped()).stderr(Stdio::piped());
    // tresor itself runs under umask 077 (see `main`); the command gets the caller's own.
    #[cfg(unix)]
    if let Some(umask) = crate::inherited_umask() {
        // SAFETY: runs in the child between fork and exec, where only async-signal-safe calls
        // are allowed; umask(2) is one, and it neither allocates nor touches shared memory.
        unsafe {
            cmd.pre_exec(move || {
                libc::umask(umask);
                Ok(())
            });
        }
    }
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
