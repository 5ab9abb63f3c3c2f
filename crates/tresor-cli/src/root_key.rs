//! Where the root key comes from: its providers.
//!
//! - **file**: `root.key` in the data directory, or `TRESOR_ROOT_KEY` (base64 or hex). The default,
//!   and what a store without a provider record uses (every store made before providers).
//! - **passphrase**: Argon2id over a passphrase read from `--passphrase-file`, `--passphrase-fd` or a
//!   terminal prompt (never an argument: arguments are visible to every user in `ps`). The salt and
//!   the parameters are stored with the store, so every node and every later start derives the same key.
//! - **command**: `--root-key-command CMD` is run by `sh -c` with `TRESOR_ROOT_KEY_OP=get` and prints
//!   the key on stdout (a secret manager's or an HSM's CLI holds it).
//! - **command-unwrap**: the same command is handed a wrapped key instead: at init it is run with
//!   `TRESOR_ROOT_KEY_OP=wrap` and a fresh key on stdin, and prints that key wrapped (by a KMS); the
//!   wrapped text is stored with the store; every start runs it with `TRESOR_ROOT_KEY_OP=unwrap` and
//!   the wrapped text on stdin, and it prints the key. The store never holds the key in the clear.
//!
//! `tresor init` chooses the provider and records it in the store (meta row
//! [`PROVIDER_META`], not secret). The command itself is never stored: whoever may write the database
//! must not be able to choose what the server runs.

use crate::args::{RootKeyArgs, RootKeyProvider};
use crate::error::{CliError, Result};
use crate::local::KEY_FILE;
use base64::{engine::general_purpose::STANDARD as B64, Engine};
use serde::{Deserialize, Serialize};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};
use tresor_crypto::{PassphraseParams, RootKey};
use tresor_store::Store;
use zeroize::Zeroizing;

/// The meta row that records a store's root-key provider (absent: the key file).
pub const PROVIDER_META: &str = tresor_service::ROOT_KEY_PROVIDER_META;

/// The environment variable that tells the root-key command what to do: `get`, `wrap` or `unwrap`.
pub const COMMAND_OP_VAR: &str = "TRESOR_ROOT_KEY_OP";

/// Most bytes read from a root-key command's stdout or a passphrase source: a key or a wrapped
/// key is far shorter; more is a mistake (the wrong command), not something to keep reading.
const MAX_INPUT: u64 = 64 * 1024;

/// A store's provider as recorded in its meta row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "provider", rename_all = "kebab-case")]
pub enum Provider {
    File,
    Passphrase { kdf: String, memory_kib: u32, iterations: u32, parallelism: u32, salt: String },
    Command,
    CommandUnwrap { wrapped: String },
}

impl Provider {
    /// The provider's name, as `init --root-key-provider` spells it.
    pub fn name(&self) -> &'static str {
        match self {
            Provider::File => "file",
            Provider::Passphrase { .. } => "passphrase",
            Provider::Command => "command",
            Provider::CommandUnwrap { .. } => "command-unwrap",
        }
    }

    fn encode(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a provider record serializes")
    }

    fn decode(bytes: &[u8]) -> Result<Self> {
        serde_json::from_slice(bytes).map_err(|e| {
            CliError::Usage(format!(
                "the store's root-key provider record ({PROVIDER_META}) is not one this tresor knows ({e}); use the \
                 tresor version that initialised the store, or a newer one"
            ))
        })
    }

    fn passphrase_params(&self) -> Result<PassphraseParams> {
        let Provider::Passphrase { kdf, memory_kib, iterations, parallelism, salt } = self else {
            unreachable!("only called on a passphrase provider")
        };
        if kdf != "argon2id" {
            return Err(CliError::Usage(format!(
                "the store's passphrase is derived with {kdf:?}, which this tresor does not know; use a newer tresor"
            )));
        }
        let salt = B64
            .decode(salt)
            .map_err(|_| CliError::Usage(format!("the store's passphrase salt ({PROVIDER_META}) is not base64")))?;
        Ok(PassphraseParams { memory_kib: *memory_kib, iterations: *iterations, parallelism: *parallelism, salt })
    }

    fn passphrase(params: &PassphraseParams) -> Self {
        Provider::Passphrase {
            kdf: "argon2id".into(),
            memory_kib: params.memory_kib,
            iterations: params.iterations,
            parallelism: params.parallelism,
            salt: B64.encode(&params.salt),
        }
    }
}

/// The provider a store uses: its record, or the key file when it has none.
pub async fn provider_of(store: &dyn Store) -> Result<Option<Provider>> {
    match store.get_meta(PROVIDER_META).await.map_err(|e| CliError::Service(e.into()))? {
        Some(bytes) => Ok(Some(Provider::decode(&bytes)?)),
        None => Ok(None),
    }
}

/// The provider recorded among `meta` rows (a backup's), the key file when none is.
pub fn provider_in<'a>(mut meta: impl Iterator<Item = (&'a str, &'a [u8])>) -> Result<Provider> {
    match meta.find(|(key, _)| *key == PROVIDER_META) {
        Some((_, value)) => Provider::decode(value),
        None => Ok(Provider::File),
    }
}

/// The root key of the store, and where it came from. A new store (`store_exists` false and no
/// provider recorded) gets the provider `keys` asks for, recorded before anything else is written.
pub async fn load(
    dir: &Path,
    store: &dyn Store,
    store_exists: bool,
    keys: &RootKeyArgs,
) -> Result<(RootKey, Provider)> {
    let recorded = provider_of(store).await?;
    let provider = match recorded {
        Some(p) => p,
        None if store_exists => Provider::File,
        None => return create(dir, store, keys).await,
    };
    if let Some(asked) = keys.root_key_provider {
        if asked.name() != provider.name() {
            return Err(CliError::Usage(format!(
                "this store's root key comes from the {} provider; --root-key-provider chooses one only for a new \
                 store (to move to another, use `tresor key rotate-root`)",
                provider.name()
            )));
        }
    }
    Ok((open(dir, &provider, keys, true)?, provider))
}

/// How a running server reads the root key again after a rotation by another process (see
/// `tresor_service::RootReload`): the same sources as at its start, never a prompt.
pub fn reload(dir: &Path, keys: &RootKeyArgs) -> tresor_service::RootReload {
    let (dir, keys) = (dir.to_owned(), keys.clone());
    std::sync::Arc::new(move |record: Option<Vec<u8>>| {
        let provider = match record {
            Some(bytes) => Provider::decode(&bytes).map_err(|e| e.to_string())?,
            None => Provider::File,
        };
        open(&dir, &provider, &keys, false).map_err(|e| e.to_string())
    })
}

/// The key of an existing store from its provider; a terminal is prompted for a passphrase only
/// when `may_prompt`.
fn open(dir: &Path, provider: &Provider, keys: &RootKeyArgs, may_prompt: bool) -> Result<RootKey> {
    match provider {
        Provider::File => read_key_file(dir),
        Provider::Passphrase { .. } => {
            let params = provider.passphrase_params()?;
            if !may_prompt && keys.passphrase_file.is_none() {
                return Err(CliError::Usage(
                    "the passphrase was given on a terminal or a file descriptor, which cannot be read again".into(),
                ));
            }
            let passphrase = read_passphrase(keys, false)?;
            RootKey::from_passphrase(&passphrase, &params).map_err(|e| CliError::Usage(e.to_string()))
        }
        Provider::Command => key_from_command(&command_of(keys)?, "get", None),
        Provider::CommandUnwrap { wrapped } => key_from_command(&command_of(keys)?, "unwrap", Some(wrapped.as_bytes())),
    }
}

/// Today's key: `TRESOR_ROOT_KEY`, else the key file. An existing store without either is an error,
/// never a new key.
fn read_key_file(dir: &Path) -> Result<RootKey> {
    if let Ok(encoded) = std::env::var("TRESOR_ROOT_KEY") {
        return RootKey::from_encoded(&encoded).map_err(|e| CliError::Usage(format!("TRESOR_ROOT_KEY: {e}")));
    }
    let key_path = dir.join(KEY_FILE);
    if key_path.exists() {
        return RootKey::read_file(&key_path).map_err(|e| CliError::Service(e.into()));
    }
    Err(CliError::Usage(format!(
        "the store has no root key: {} holds no key file ({KEY_FILE}) and TRESOR_ROOT_KEY is unset; restore the key \
         file from your backup (the store's values cannot be read without it)",
        dir.display()
    )))
}

/// The provider for a new store: the one asked for, else the one the given sources imply (a
/// command, a passphrase), else the key file.
fn choose(keys: &RootKeyArgs) -> RootKeyProvider {
    if let Some(asked) = keys.root_key_provider {
        return asked;
    }
    if keys.root_key_command.is_some() {
        RootKeyProvider::Command
    } else if keys.passphrase_file.is_some() || keys.passphrase_fd.is_some() {
        RootKeyProvider::Passphrase
    } else {
        RootKeyProvider::File
    }
}

/// Makes the root key of a new store and records its provider (first writer wins: another node
/// initialising the same database at once may have recorded its own, which is then used).
async fn create(dir: &Path, store: &dyn Store, keys: &RootKeyArgs) -> Result<(RootKey, Provider)> {
    let choice = choose(keys);
    let (key, provider) = if choice == RootKeyProvider::File
        && (std::env::var_os("TRESOR_ROOT_KEY").is_some() || dir.join(KEY_FILE).exists())
    {
        (read_key_file(dir)?, Provider::File)
    } else {
        make_key(keys, choice, &dir.join(KEY_FILE))?
    };
    if provider == Provider::File {
        // No record: a store opened by the key file stays readable by every tresor version.
        return Ok((key, provider));
    }
    let stored = store.init_meta(PROVIDER_META, &provider.encode()).await.map_err(|e| CliError::Service(e.into()))?;
    let stored = Provider::decode(&stored)?;
    if stored == provider {
        Ok((key, provider))
    } else {
        Ok((open(dir, &stored, keys, true)?, stored))
    }
}

/// A new root key from the provider `choice` (for a new store, or a rotation): a new random key
/// written to `key_file` (which must not exist), one derived from a new passphrase with a fresh
/// salt, the key a command prints, or a new random key a command wraps.
pub fn make_key(keys: &RootKeyArgs, choice: RootKeyProvider, key_file: &Path) -> Result<(RootKey, Provider)> {
    Ok(match choice {
        RootKeyProvider::File => {
            (RootKey::write_new_file(key_file).map_err(|e| CliError::Service(e.into()))?, Provider::File)
        }
        RootKeyProvider::Passphrase => {
            let params = PassphraseParams::recommended().map_err(|e| CliError::Service(e.into()))?;
            let passphrase = read_passphrase(keys, true)?;
            let key = RootKey::from_passphrase(&passphrase, &params).map_err(|e| CliError::Usage(e.to_string()))?;
            (key, Provider::passphrase(&params))
        }
        RootKeyProvider::Command => (key_from_command(&command_of(keys)?, "get", None)?, Provider::Command),
        RootKeyProvider::CommandUnwrap => {
            let command = command_of(keys)?;
            let fresh = RootKey::generate_encoded().map_err(|e| CliError::Service(e.into()))?;
            let wrapped = wrap_with_command(&command, fresh.as_bytes())?;
            // The key is used as the command will give it back, so a command that cannot unwrap
            // what it wrapped fails now, not at the next start.
            let key = key_from_command(&command, "unwrap", Some(wrapped.as_bytes()))?;
            let same = RootKey::from_encoded(&fresh).map_err(|e| CliError::Service(e.into()))?;
            check_same_key(&key, &same)?;
            (key, Provider::CommandUnwrap { wrapped })
        }
    })
}

/// The bytes of a provider record (for a rotation's change of it).
pub fn record_of(provider: &Provider) -> Vec<u8> {
    provider.encode()
}

/// Fails unless `a` and `b` are the same key (each wraps what the other unwraps).
fn check_same_key(a: &RootKey, b: &RootKey) -> Result<()> {
    let probe = tresor_crypto::DataKey::generate(1).map_err(|e| CliError::Service(e.into()))?;
    let wrapped = a.wrap("probe", &probe).map_err(|e| CliError::Service(e.into()))?;
    b.unwrap("probe", &wrapped).map(|_| ()).map_err(|_| {
        CliError::Usage(
            "the root-key command's unwrap (TRESOR_ROOT_KEY_OP=unwrap) did not give back the key its wrap was given; \
             fix the command before initialising"
                .into(),
        )
    })
}

/// The root-key command as the operator gave it, and how long it may take.
struct KeyCommand<'a> {
    line: &'a str,
    timeout: Duration,
}

fn command_of(keys: &RootKeyArgs) -> Result<KeyCommand<'_>> {
    let line = keys.root_key_command.as_deref().filter(|c| !c.trim().is_empty()).ok_or_else(|| {
        CliError::Usage(
            "this store's root key comes from a command: pass --root-key-command 'CMD ...' (or set \
             TRESOR_ROOT_KEY_COMMAND)"
                .into(),
        )
    })?;
    Ok(KeyCommand { line, timeout: Duration::from_secs(keys.root_key_command_timeout) })
}

/// Runs the root-key command with `op`, `input` on its stdin, and returns what it printed (at most
/// [`MAX_INPUT`] bytes, kept in a zeroizing buffer). Its stderr is the operator's: passed through.
/// Errors name the operation and the exit status, never the output (it may be a key). A command
/// that has not exited and closed its stdout within its timeout is killed: a KMS that never
/// answers must not hang a server's start (or a rotation) for ever.
fn run_command(command: &KeyCommand<'_>, op: &str, input: Option<&[u8]>) -> Result<Zeroizing<Vec<u8>>> {
    let failed = |what: String| {
        CliError::Usage(format!("the root-key command ({COMMAND_OP_VAR}={op}) {what}; see its messages above"))
    };
    let deadline = Instant::now() + command.timeout;
    let mut child = Command::new("sh")
        .arg("-c")
        .arg(command.line)
        .env(COMMAND_OP_VAR, op)
        .env_remove("TRESOR_ROOT_KEY")
        .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .map_err(|e| failed(format!("could not be started: {e}")))?;
    if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
        // A command that exits without reading its input closes the pipe; its exit status says why.
        // The input (a key, a wrapped key) is far smaller than a pipe's buffer: this never blocks.
        let _ = stdin.write_all(input).and_then(|()| stdin.write_all(b"\n"));
    }
    // The output is read on a thread of its own so that the wait can give up: a command (or a
    // process it started) that keeps stdout open would block a read here for ever.
    let (sent, output) = std::sync::mpsc::channel();
    if let Some(stdout) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut out = Zeroizing::new(Vec::new());
            let _ = sent.send(stdout.take(MAX_INPUT + 1).read_to_end(&mut out).map(|_| out));
        });
    }
    let timed_out = |child: &mut std::process::Child| {
        let _ = child.kill();
        let _ = child.wait();
        failed(format!(
            "did not finish within {} s and was stopped (raise --root-key-command-timeout if it needs longer)",
            command.timeout.as_secs()
        ))
    };
    let out = match output.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
        Ok(read) => read.map_err(|e| failed(format!("could not be read: {e}")))?,
        Err(_) => return Err(timed_out(&mut child)),
    };
    let status = loop {
        match child.try_wait().map_err(|e| failed(format!("could not be waited for: {e}")))? {
            Some(status) => break status,
            None if Instant::now() >= deadline => return Err(timed_out(&mut child)),
            None => std::thread::sleep(Duration::from_millis(5)),
        }
    };
    if !status.success() {
        return Err(failed(format!("failed ({status})")));
    }
    if out.len() as u64 > MAX_INPUT {
        return Err(failed(format!("printed more than {MAX_INPUT} bytes, more than any key")));
    }
    Ok(out)
}

/// The key the command prints (base64 or hex, as a key file holds it).
fn key_from_command(command: &KeyCommand<'_>, op: &str, input: Option<&[u8]>) -> Result<RootKey> {
    let out = run_command(command, op, input)?;
    let text = std::str::from_utf8(&out).map_err(|_| {
        CliError::Usage(format!("the root-key command ({COMMAND_OP_VAR}={op}) printed something that is not text"))
    })?;
    RootKey::from_encoded(text).map_err(|e| {
        CliError::Usage(format!("the root-key command ({COMMAND_OP_VAR}={op}) did not print a root key: {e}"))
    })
}

/// The wrapped form of `key` the command prints for `TRESOR_ROOT_KEY_OP=wrap`: one line of text
/// (a KMS ciphertext in base64, say), stored with the store.
fn wrap_with_command(command: &KeyCommand<'_>, key: &[u8]) -> Result<String> {
    let out = run_command(command, "wrap", Some(key))?;
    let text = std::str::from_utf8(&out).map(str::trim).unwrap_or_default();
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(CliError::Usage(format!(
            "the root-key command ({COMMAND_OP_VAR}=wrap) must print the wrapped key as one word of printable text \
             (base64, say); it printed {} bytes that are not",
            out.len()
        )));
    }
    if text.len() >= 32 && RootKey::from_encoded(text).is_ok() && text.as_bytes() == key.trim_ascii() {
        return Err(CliError::Usage(format!(
            "the root-key command ({COMMAND_OP_VAR}=wrap) printed the key it was given, unwrapped; it must print it \
             wrapped (or use --root-key-provider command)"
        )));
    }
    Ok(text.to_owned())
}

/// The passphrase from `--passphrase-file`, `--passphrase-fd` or a terminal prompt (asked twice
/// for a new store), minus one trailing newline.
fn read_passphrase(keys: &RootKeyArgs, new: bool) -> Result<Zeroizing<Vec<u8>>> {
    let from_path = |path: &Path, shown: &str| -> Result<Zeroizing<Vec<u8>>> {
        let mut buf = Zeroizing::new(Vec::new());
        std::fs::File::open(path)
            .and_then(|f| f.take(MAX_INPUT).read_to_end(&mut buf))
            .map_err(|e| CliError::Usage(format!("cannot read the passphrase from {shown}: {e}")))?;
        Ok(buf)
    };
    let mut passphrase = if let Some(path) = &keys.passphrase_file {
        from_path(path, &path.display().to_string())?
    } else if let Some(fd) = keys.passphrase_fd {
        // /dev/fd/N opens the descriptor the caller handed down without unsafe code.
        from_path(&PathBuf::from(format!("/dev/fd/{fd}")), &format!("file descriptor {fd}"))?
    } else if std::io::stdin().is_terminal() {
        let prompt = |text: &str| {
            rpassword::prompt_password(text)
                .map(|typed| Zeroizing::new(typed.into_bytes()))
                .map_err(|e| CliError::Io(format!("reading the passphrase from the terminal: {e}")))
        };
        let typed = prompt("Root key passphrase (input hidden): ")?;
        if new && *prompt("Repeat the passphrase: ")? != *typed {
            return Err(CliError::Usage("the two passphrases differ; nothing was created".into()));
        }
        typed
    } else {
        return Err(CliError::Usage(
            "this store's root key is derived from a passphrase: give it with --passphrase-file PATH, \
             --passphrase-fd N (TRESOR_PASSPHRASE_FILE, TRESOR_PASSPHRASE_FD) or type it on a terminal; never as an \
             argument"
                .into(),
        ));
    };
    if passphrase.ends_with(b"\n") {
        passphrase.pop();
        if passphrase.ends_with(b"\r") {
            passphrase.pop();
        }
    }
    Ok(passphrase)
}

/// What to tell an operator whose key does not open the store.
pub fn wrong_key_hint(provider: &Provider) -> String {
    match provider {
        Provider::File => format!(
            "the key in TRESOR_ROOT_KEY or {KEY_FILE} is not the one this store was initialised (or last rotated) \
             with; restore the right key file from your backup"
        ),
        Provider::Passphrase { .. } => "the passphrase is wrong".into(),
        Provider::Command => "the root-key command printed another key than the one this store was initialised (or \
                               last rotated) with"
            .into(),
        Provider::CommandUnwrap { .. } => "the root-key command unwrapped the stored key to another key than this \
                                           store's"
            .into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn provider_records_round_trip_and_name_themselves() {
        let params = PassphraseParams { memory_kib: 8, iterations: 1, parallelism: 1, salt: vec![1, 2, 3] };
        for p in [
            Provider::File,
            Provider::passphrase(&params),
            Provider::Command,
            Provider::CommandUnwrap { wrapped: "abc".into() },
        ] {
            assert_eq!(Provider::decode(&p.encode()).unwrap(), p);
        }
        let text = String::from_utf8(Provider::passphrase(&params).encode()).unwrap();
        assert!(text.contains(r#""provider":"passphrase""#) && text.contains(r#""salt":"AQID""#), "{text}");
        assert_eq!(Provider::passphrase(&params).passphrase_params().unwrap(), params);
        let e = Provider::decode(br#"{"provider":"tpm"}"#).unwrap_err().to_string();
        assert!(e.contains("not one this tresor knows"), "{e}");
    }

    #[test]
    fn a_command_that_fails_or_prints_no_key_is_named_without_its_output() {
        let e = key_from_command(&cmd("echo not-a-key-0d3f; exit 3"), "get", None).unwrap_err().to_string();
        assert!(e.contains("failed") && e.contains("TRESOR_ROOT_KEY_OP=get"), "{e}");
        assert!(!e.contains("not-a-key-0d3f"), "{e}");
        let e = key_from_command(&cmd("echo not-a-key-0d3f"), "get", None).unwrap_err().to_string();
        assert!(e.contains("did not print a root key") && !e.contains("not-a-key-0d3f"), "{e}");
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        assert!(
            key_from_command(&cmd(&format!("test \"$TRESOR_ROOT_KEY_OP\" = get && echo {key}")), "get", None).is_ok()
        );
        // The input reaches the command's stdin.
        assert!(key_from_command(&cmd("cat"), "unwrap", Some(key.as_bytes())).is_ok());
    }

    fn cmd(line: &str) -> KeyCommand<'_> {
        KeyCommand { line, timeout: Duration::from_secs(60) }
    }

    #[test]
    fn a_command_that_does_not_finish_in_time_is_stopped() {
        let key = "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
        fn slow(line: &str) -> KeyCommand<'_> {
            KeyCommand { line, timeout: Duration::from_secs(1) }
        }
        // Silent, and printing the key but not exiting: both stopped at the timeout, not waited for.
        for line in ["sleep 30".to_owned(), format!("echo {key}; sleep 30")] {
            let e = key_from_command(&slow(&line), "get", None).unwrap_err().to_string();
            assert!(e.contains("did not finish within 1 s") && e.contains("--root-key-command-timeout"), "{e}");
            assert!(!e.contains(key), "{e}");
        }
        // A process left behind holding stdout open: the same.
        let e = key_from_command(&slow("sleep 30 & echo x"), "get", None).unwrap_err().to_string();
        assert!(e.contains("did not finish within 1 s"), "{e}");
    }

    #[test]
    fn a_wrap_command_must_print_one_word_that_is_not_the_key() {
        let key = RootKey::generate_encoded().unwrap();
        let e = wrap_with_command(&cmd("cat"), key.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("unwrapped"), "{e}");
        let e = wrap_with_command(&cmd("printf 'a b'"), key.as_bytes()).unwrap_err().to_string();
        assert!(e.contains("one word"), "{e}");
        assert_eq!(wrap_with_command(&cmd("read k; echo wrapped-${#k}"), key.as_bytes()).unwrap(), "wrapped-44");
    }
}
