//! Helpers shared by the end-to-end tests: run the real `tresor` binary.
#![allow(dead_code)]

pub mod pg;
pub mod skip;

use std::io::{BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tresor");

/// The `tresor` binary, without the developer's own `TRESOR_*` variables (a `TRESOR_TOKEN` or
/// `TRESOR_ENV` in the shell that runs `cargo test` must not change what a test sees). Every test
/// starts the binary through this; a test that needs a variable sets it on the command.
pub fn tresor() -> Command {
    let mut cmd = Command::new(BIN);
    without_tresor_env(&mut cmd);
    cmd
}

/// Removes every inherited `TRESOR_*` variable from what `cmd` will see.
pub fn without_tresor_env(cmd: &mut Command) {
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("TRESOR_") {
            cmd.env_remove(name);
        }
    }
}

/// Reads what `tresor serve` logged until it says where it listens (it binds port 0, so no other
/// process can take the port between choosing and binding it); gives up after `timeout`.
pub fn listening_addr(log: &Path, timeout: std::time::Duration) -> Option<String> {
    const SAYS: &str = "tresor listening on ";
    let start = std::time::Instant::now();
    while start.elapsed() < timeout {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(at) = text.find(SAYS) {
            let rest = &text[at + SAYS.len()..];
            let end = rest.find(|c: char| c.is_whitespace() || c == '\x1b').unwrap_or(rest.len());
            return Some(rest[..end].to_owned());
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    None
}

/// The lines a child writes, read on a thread so that a test waits for the next one for a bounded
/// time: a child that hangs fails the test with what it said instead of hanging `cargo test`.
pub struct LinesWithin {
    lines: std::sync::mpsc::Receiver<std::io::Result<String>>,
}

impl LinesWithin {
    pub fn new(from: impl Read + Send + 'static) -> Self {
        let (send, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(from).lines() {
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Self { lines }
    }

    /// The next line, waiting at most 20 s for it.
    pub fn next(&self) -> String {
        match self.lines.recv_timeout(std::time::Duration::from_secs(20)) {
            Ok(line) => line.expect("reading the child's output"),
            Err(e) => panic!("no line from the child within 20 s ({e})"),
        }
    }
}

/// The outcome of one `tresor` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    pub fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// Asserts success and returns stdout.
    pub fn ok(self) -> String {
        assert_eq!(self.code, 0, "expected success; stderr: {}; stdout: {}", self.stderr, self.stdout);
        self.stdout
    }

    pub fn json(self) -> serde_json::Value {
        let out = self.ok();
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    /// [`Run::fails`], with nothing on stdout.
    pub fn fails_quietly(self, code: i32, needle: &str) -> String {
        assert!(self.stdout.is_empty(), "nothing should be printed; stdout: {}; stderr: {}", self.stdout, self.stderr);
        self.fails(code, needle)
    }

    /// Asserts the exit code and that stderr mentions `needle`.
    pub fn fails(self, code: i32, needle: &str) -> String {
        assert_eq!(self.code, code, "stderr: {}; stdout: {}", self.stderr, self.stdout);
        assert!(self.stderr.contains(needle), "stderr should mention {needle:?}: {}", self.stderr);
        self.stderr
    }
}

/// A `tresor --local` with its own TRESOR_HOME.
pub struct LocalTresor {
    pub home: tempfile::TempDir,
    pub env: Vec<(String, String)>,
}

impl LocalTresor {
    pub fn new() -> Self {
        Self { home: tempfile::tempdir().unwrap(), env: Vec::new() }
    }

    pub fn home(&self) -> &Path {
        self.home.path()
    }

    pub fn with_env(mut self, k: &str, v: &str) -> Self {
        self.env.push((k.into(), v.into()));
        self
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = tresor();
        cmd.arg("--local").args(args).env("TRESOR_HOME", self.home.path());
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, b"")
    }

    /// `tresor --local set KEY` with the value on stdin, for each entry.
    pub fn set_all(&self, entries: &[(&str, &str)]) {
        for (key, value) in entries {
            self.run_stdin(&["set", key], value.as_bytes()).ok();
        }
    }

    /// Runs `tresor --local ARGS` on a terminal, typing `typed` once `prompt` shows (see
    /// [`run_on_tty`]).
    pub fn run_on_tty(&self, args: &[&str], prompt: &str, typed: &str) -> (i32, String) {
        let mut all = vec!["--local"];
        all.extend_from_slice(args);
        run_on_tty(&all, &[("TRESOR_HOME", self.home().to_str().unwrap())], prompt, typed)
    }

    /// Runs with extra environment variables for this run only.
    pub fn run_with_env(&self, args: &[&str], env: &[(&str, &str)]) -> Run {
        let mut cmd = self.command(args);
        cmd.envs(env.iter().copied());
        Run::from(cmd.stdin(Stdio::null()).output().unwrap())
    }

    /// Runs with stdout closed at its reading end, as `tresor ls | head -1` leaves it once
    /// `head` has exited.
    pub fn run_closed_stdout(&self, args: &[&str], stdin: &[u8]) -> Run {
        with_closed_stdout(self.command(args), stdin)
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tresor");
        feed_stdin(&mut child, stdin);
        Run::from(child.wait_with_output().unwrap())
    }
}

/// A local store holding the secret `db/password` (`secret`) and the variable
/// `config/max_retries` (5), and what `tresor --local ls -p` prints of it.
pub fn pretty_listing(secret: &str) -> (LocalTresor, String) {
    let t = LocalTresor::new();
    t.run_stdin(&["set", "db/password"], secret.as_bytes()).ok();
    t.run(&["set", "--var", "config/max_retries", "5"]).ok();
    let out = t.run(&["ls", "-p"]).ok();
    (t, out)
}

/// Writes `input` to the child's stdin and closes it. A CLI that refuses its arguments exits
/// before reading stdin, so a broken pipe here is the child's business, judged by its output.
pub fn feed_stdin(child: &mut std::process::Child, input: &[u8]) {
    let mut pipe = child.stdin.take().expect("stdin is piped");
    match pipe.write_all(input) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {}
        Err(e) => panic!("writing the CLI's stdin: {e}"),
    }
}

/// Runs `cmd` with `stdin` and a stdout pipe whose reading end is closed before it starts, so its
/// first write to stdout fails with a broken pipe (deterministically, unlike a real `| head`).
pub fn with_closed_stdout(mut cmd: Command, stdin: &[u8]) -> Run {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut child = cmd.stdin(Stdio::piped()).stdout(writer).stderr(Stdio::piped()).spawn().expect("spawn tresor");
    feed_stdin(&mut child, stdin);
    Run::from(child.wait_with_output().unwrap())
}

/// Every file under `dir`, recursively.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                stack.push(p);
            } else {
                out.push(p);
            }
        }
    }
    out
}

/// Asserts that no file under `dir` contains `needle`.
pub fn assert_not_in_files(dir: &Path, needle: &[u8]) {
    let files = files_under(dir);
    assert!(files.iter().any(|f| f.ends_with("tresor.db")), "no store under {}: nothing was checked", dir.display());
    for f in files {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes.windows(needle.len()).any(|w| w == needle),
            "{} contains a stored value in plaintext",
            f.display()
        );
    }
}

/// The values a test stored through one or more [`Server`]s, each with a name for it (the request
/// path and field, or the CLI's key) that a failure may print. The value itself is never printed.
#[derive(Default)]
pub struct Stored {
    values: Vec<(String, String)>,
    /// Why this test's logs may hold a stored value, when it says so ([`Server::allow_values_in_log`]).
    opted_out: Option<&'static str>,
}

/// Values shorter than this are not looked for: a `5` or a `true` appears in any log for other
/// reasons. Tests that check leaks store longer, distinctive values.
const SHORTEST_SCANNED: usize = 6;

impl Stored {
    pub fn remember(&mut self, name: String, value: &str) {
        if value.len() >= SHORTEST_SCANNED && !self.values.iter().any(|(_, v)| v == value) {
            self.values.push((name, value.to_owned()));
        }
    }

    /// Every string under a "value" field of `body`, and every string of a "values" object or
    /// array, named by `at` and its place in the document.
    pub fn remember_json(&mut self, at: &str, body: &serde_json::Value) {
        use serde_json::Value;
        match body {
            Value::Object(fields) => {
                for (field, v) in fields {
                    let here = format!("{at}/{field}");
                    match (field.as_str(), v) {
                        ("value", Value::String(text)) => self.remember(here, text),
                        ("values", Value::Object(map)) => {
                            for (name, v) in map {
                                match v {
                                    Value::String(text) => self.remember(format!("{here}/{name}"), text),
                                    other => self.remember_json(&format!("{here}/{name}"), other),
                                }
                            }
                        }
                        ("values", Value::Array(items)) => {
                            for (i, v) in items.iter().enumerate() {
                                match v {
                                    Value::String(text) => self.remember(format!("{here}/{i}"), text),
                                    other => self.remember_json(&format!("{here}/{i}"), other),
                                }
                            }
                        }
                        _ => self.remember_json(&here, v),
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    self.remember_json(&format!("{at}/{i}"), v);
                }
            }
            _ => {}
        }
    }

    /// The CLI's ways of storing a value a test can see: `set KEY` (or `put KEY`) with the value
    /// on stdin, and `set KEY=VALUE` arguments.
    pub fn remember_cli(&mut self, args: &[&str], stdin: &[u8]) {
        let Some(at) = args.iter().position(|a| matches!(*a, "set" | "put")) else { return };
        let keys: Vec<&str> = args[at + 1..].iter().copied().filter(|a| !a.starts_with('-')).collect();
        for key in &keys {
            if let Some((name, value)) = key.split_once('=') {
                self.remember(format!("cli set {name}"), value);
            }
        }
        if let (Some(key), Ok(text)) = (keys.first(), std::str::from_utf8(stdin)) {
            if !key.starts_with('@') && !key.contains('=') {
                self.remember(format!("cli set {key} (stdin)"), text.trim_end_matches('\n'));
            }
        }
    }

    /// Panics naming the first stored value that `log` holds (by its name, never its value).
    pub fn scan(&self, log: &str, whose: &str) {
        if self.opted_out.is_some() {
            return;
        }
        if let Some((name, _)) = self.values.iter().find(|(_, value)| log.contains(value.as_str())) {
            panic!("{whose} holds the value stored as {name}: a stored value reached the log");
        }
    }
}

/// A `tresor serve` process on a loopback port, with its own data directory and log file.
///
/// Every value a test stores through it (`call`, `request`, `cli`, `set_all`, or named with
/// [`Server::remember`]) is looked for in its log when it is stopped or dropped; in a cluster the
/// nodes share one list ([`Server::share_stored_with`]), so each node's log is scanned for what
/// was stored through any of them.
pub struct Server {
    pub dir: tempfile::TempDir,
    pub addr: String,
    pub token: String,
    pub log: PathBuf,
    child: std::process::Child,
    stored: std::sync::Arc<std::sync::Mutex<Stored>>,
    scanned: bool,
}

impl Server {
    /// `tresor init`, then `tresor serve` with `env` set, waiting until it listens.
    pub fn start(env: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let out = tresor().args(["init", "--json", "--data-dir"]).arg(&data).output().unwrap();
        assert!(out.status.success(), "init failed: {}", String::from_utf8_lossy(&out.stderr));
        let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let token = doc["admin_token"].as_str().unwrap().to_owned();
        Self::serve(dir, token, env, &[])
    }

    /// [`Server::start`] with webhooks allowed to `127.0.0.1:PORT` (a [`Receiver`]'s) and no
    /// management rate limit.
    pub fn allowing_webhooks_to(port: u16) -> Self {
        let allow = format!("127.0.0.1:{port}");
        Self::start(&[("TRESOR_WEBHOOK_ALLOW_HOSTS", &allow), ("TRESOR_RATE_MANAGEMENT", "0")])
    }

    /// `tresor serve` on port 0 of the loopback; the address is the one it logs.
    pub fn serve(dir: tempfile::TempDir, token: String, env: &[(&str, &str)], extra_args: &[&str]) -> Self {
        let log = dir.path().join("server.log");
        let mut cmd = tresor();
        cmd.args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
            .arg(dir.path().join("data"))
            .args(extra_args)
            .env("TRESOR_LOG", "debug")
            .env("NO_COLOR", "1")
            // 1 MiB, not the default 64, set aside for reads on a full disk: hundreds of servers
            // start in a run. The disk-full drill sets its own.
            .env("TRESOR_DISK_RESERVE_MB", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let Some(addr) = listening_addr(&log, std::time::Duration::from_secs(20)) else {
            let _ = child.kill();
            panic!("server did not start; log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        };
        Self { dir, addr, token, log, child, stored: Default::default(), scanned: false }
    }

    /// Adds a value the test stored some other way (a raw body, a file) to those its log must not
    /// hold, under `name`.
    pub fn remember(&self, name: &str, value: &str) {
        self.stored.lock().unwrap().remember(name.to_owned(), value);
    }

    /// This server's log is scanned for the values stored through `other` too, and the other way
    /// round (the nodes of one cluster).
    pub fn share_stored_with(&mut self, other: &Server) {
        self.stored = other.stored.clone();
    }

    /// For a test whose server logs a stored value on purpose: its logs are not scanned, and
    /// `reason` says why.
    pub fn allow_values_in_log(&self, reason: &'static str) {
        assert!(!reason.is_empty(), "say why the log may hold stored values");
        self.stored.lock().unwrap().opted_out = Some(reason);
    }

    /// Scans this server's log for every stored value (see the type's doc), once.
    pub fn scan_log(&mut self) {
        if std::mem::replace(&mut self.scanned, true) {
            return;
        }
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        self.stored.lock().unwrap().scan(&log, &format!("the server log {}", self.log.display()));
    }

    pub fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    /// An HTTP call with an optional token and JSON body; returns status and JSON (or Null).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<serde_json::Value>,
    ) -> (u16, serde_json::Value) {
        let bearer = token.map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = bearer.iter().map(|b| ("Authorization", b.as_str())).collect();
        let resp = self.request(method, path, &headers, body);
        let status = resp.status();
        let text = resp.into_string().unwrap();
        (status, serde_json::from_str(&text).unwrap_or(serde_json::Value::Null))
    }

    /// An HTTP call with these headers and an optional JSON body; answers any status (only a
    /// transport failure panics).
    pub fn request(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<serde_json::Value>,
    ) -> ureq::Response {
        if let Some(body) = &body {
            self.stored.lock().unwrap().remember_json(&format!("{method} {path}"), body);
        }
        let mut req = ureq::request(method, &format!("{}{path}", self.addr));
        for (k, v) in headers {
            req = req.set(k, v);
        }
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("{method} {path}: {e}"),
        }
    }

    /// The audit records `token` may read (all of them, up to 10,000).
    pub fn audit(&self, token: &str) -> Vec<serde_json::Value> {
        let (status, doc) = self.call("GET", "/api/v1/audit?limit=10000", Some(token), None);
        assert_eq!(status, 200, "{doc}");
        doc["records"].as_array().unwrap_or_else(|| panic!("{doc}")).clone()
    }

    /// Runs the CLI against this server with `token`.
    pub fn cli(&self, token: &str, args: &[&str], stdin: &[u8]) -> Run {
        self.cli_env(token, args, stdin, &[])
    }

    /// `tresor set KEY` with the value on stdin, as `token`, for each entry.
    pub fn set_all(&self, token: &str, entries: &[(&str, &str)]) {
        for (key, value) in entries {
            self.cli(token, &["set", key], value.as_bytes()).ok();
        }
    }

    /// Runs the CLI against this server with `token` and extra environment variables.
    pub fn cli_env(&self, token: &str, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Run {
        self.stored.lock().unwrap().remember_cli(args, stdin);
        let mut child = tresor()
            .args(args)
            .envs(env.iter().copied())
            .env("TRESOR_ADDR", &self.addr)
            .env("TRESOR_TOKEN", token)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        feed_stdin(&mut child, stdin);
        Run::from(child.wait_with_output().unwrap())
    }

    /// Runs the CLI against this server with stdout closed at its reading end (see
    /// [`with_closed_stdout`]).
    pub fn cli_closed_stdout(&self, token: &str, args: &[&str]) -> Run {
        let mut cmd = tresor();
        cmd.args(args).env("TRESOR_ADDR", &self.addr).env("TRESOR_TOKEN", token);
        with_closed_stdout(cmd, b"")
    }

    /// The status `/readyz` answers.
    pub fn ready(&self) -> u16 {
        match ureq::get(&format!("{}/readyz", self.addr)).call() {
            Ok(r) => r.status(),
            Err(ureq::Error::Status(code, _)) => code,
            Err(e) => panic!("readyz: {e}"),
        }
    }

    pub fn child_id(&self) -> u32 {
        self.child.id()
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// Kills the server outright (SIGKILL: no shutdown, nothing of tresor's own runs) and serves
    /// its data directory again; the new server's log replaces the old one.
    pub fn crash_and_restart(mut self, env: &[(&str, &str)]) -> Self {
        let _ = self.child.kill();
        let _ = self.child.wait();
        self.scan_log();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().unwrap());
        let (token, stored) = (self.token.clone(), self.stored.clone());
        drop(self);
        let mut next = Self::serve(dir, token, env, &[]);
        next.stored = stored;
        next
    }

    /// Sends SIGTERM and returns the exit status; then scans the log (see the type's doc).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill").args(["-TERM", &self.child.id().to_string()]).status();
        let status = self.child.wait().unwrap();
        self.scan_log();
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // A test already failing says why; a second panic while unwinding would abort instead.
        if !std::thread::panicking() {
            self.scan_log();
        }
    }
}

/// An HTTP answer as curl saw it.
pub struct Http {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Http {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// Runs a curl command line as written in a platform's documentation, through `sh -c` with
/// `env` set (so `$TB_HOST` and the like expand as in a shell), adding only `--silent --include`.
pub fn curl_sh(command: &str, env: &[(&str, &str)]) -> Http {
    let mut cmd = Command::new("sh");
    cmd.arg("-c").arg(format!("{command} --silent --show-error --include"));
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("run curl");
    assert!(out.status.success(), "curl failed: {}", String::from_utf8_lossy(&out.stderr));
    parse_http(&String::from_utf8_lossy(&out.stdout))
}

/// Splits curl's `--include` output into status, headers and body (the last response, after any
/// `100 Continue`).
pub fn parse_http(text: &str) -> Http {
    let mut rest = text;
    loop {
        let (head, body) = rest.split_once("\r\n\r\n").unwrap_or((rest, ""));
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("no HTTP status in {text:?}"));
        if status == 100 {
            rest = body;
            continue;
        }
        let headers =
            lines.filter_map(|l| l.split_once(':')).map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())).collect();
        return Http { status, headers, body: body.to_owned() };
    }
}

/// Runs `tresor` on a pseudo-terminal (through Python's `pty`), typing `typed` once `prompt` has
/// appeared. Returns the exit code and everything the terminal showed.
pub fn run_on_tty(args: &[&str], env: &[(&str, &str)], prompt: &str, typed: &str) -> (i32, String) {
    const DRIVER: &str = r#"
import os, pty, sys, json, termios, time
args, prompt, typed = json.loads(sys.argv[1]), sys.argv[2].encode(), sys.argv[3].encode()
pid, fd = pty.fork()
if pid == 0:
    os.execv(args[0], args)
seen, sent = b"", False
while True:
    try:
        chunk = os.read(fd, 4096)
    except OSError:
        break
    if not chunk:
        break
    seen += chunk
    if not sent and prompt in seen:
        # Type only once the program has turned echo off, as a person would a moment later.
        for _ in range(500):
            if not termios.tcgetattr(fd)[3] & termios.ECHO:
                break
            time.sleep(0.01)
        os.write(fd, typed + b"\r")
        sent = True
_, status = os.waitpid(pid, 0)
sys.stdout.write(seen.decode("utf-8", "replace"))
sys.exit(os.waitstatus_to_exitcode(status))
"#;
    let mut argv = vec![BIN.to_owned()];
    argv.extend(args.iter().map(|a| a.to_string()));
    let mut cmd = Command::new("python3");
    without_tresor_env(&mut cmd);
    cmd.args(["-c", DRIVER]).arg(serde_json::to_string(&argv).unwrap()).arg(prompt).arg(typed);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().expect("python3 with pty");
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A one-route HTTP server for webhook tests: records each request and answers 201 with what it
/// received (and its Authorization header echoed in `X-Echo`).
pub struct Receiver {
    pub port: u16,
    pub seen: std::sync::Arc<std::sync::Mutex<Vec<String>>>,
}

impl Receiver {
    pub fn start() -> Self {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log = seen.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let mut stream = stream.unwrap();
                let mut reader = std::io::BufReader::new(stream.try_clone().unwrap());
                let mut head = String::new();
                let mut length = 0;
                loop {
                    let mut line = String::new();
                    reader.read_line(&mut line).unwrap();
                    if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                        length = v.trim().parse().unwrap();
                    }
                    if line == "\r\n" || line.is_empty() {
                        break;
                    }
                    head.push_str(&line);
                }
                let mut body = vec![0; length];
                reader.read_exact(&mut body).unwrap();
                let request = format!("{head}\n{}", String::from_utf8_lossy(&body));
                log.lock().unwrap().push(request.clone());
                let answer = format!("you sent:\n{request}");
                write!(
                    stream,
                    "HTTP/1.1 201 Created\r\nContent-Length: {}\r\nX-Echo: {}\r\nConnection: close\r\n\r\n{answer}",
                    answer.len(),
                    head.lines().find(|l| l.to_ascii_lowercase().starts_with("authorization")).unwrap_or("")
                )
                .unwrap();
            }
        });
        Self { port, seen }
    }
}

/// The most requests a rate limit of `count` per `window` can let through in `elapsed`: its whole
/// budget at once, then one every `window / count`. A bound that holds however fast the machine
/// runs, for a test that must send at the speed the machine has.
pub fn most_allowed(count: u32, window: std::time::Duration, elapsed: std::time::Duration) -> usize {
    count as usize + (elapsed.as_secs_f64() * f64::from(count) / window.as_secs_f64()).ceil() as usize
}

/// Polls `ok` every 50 ms until it holds, failing the test after `timeout`.
pub fn wait_for(what: &str, timeout: std::time::Duration, mut ok: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !ok() {
        assert!(start.elapsed() < timeout, "{what}: not within {timeout:?}");
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

/// Creates a principal with grants and returns a token for it.
pub fn principal(s: &Server, name: &str, grants: &[(&str, &str)]) -> String {
    let admin = Some(s.token.as_str());
    assert_eq!(s.call("POST", "/api/v1/principals", admin, Some(serde_json::json!({"principal": name}))).0, 201);
    for (scope, access) in grants {
        let (status, doc) = s.call(
            "POST",
            "/api/v1/grants",
            admin,
            Some(serde_json::json!({"principal": name, "scope": scope, "access": access})),
        );
        assert_eq!(status, 201, "{doc}");
    }
    let (status, doc) =
        s.call("POST", "/api/v1/tokens", admin, Some(serde_json::json!({"principal": name, "name": "t"})));
    assert_eq!(status, 201, "{doc}");
    doc["token"].as_str().unwrap().to_owned()
}

/// What losing access looks like from one node or several: `job` (a member of `group:readers`,
/// which may read `default`) reads `db/password` through every node (so each caches the value and
/// the caller), then is removed from the group through `nodes[0]`, and is refused on every node
/// at its very next request; then the same after it is a member again and `group:readers` is
/// deleted, and after the principal itself is deleted. `nodes[0]`'s token is the admin's.
pub fn losing_access_applies_at_the_next_request(nodes: &[&Server], admin: &str) {
    use serde_json::json;
    const VALUE: &str = "/api/v1/envs/default/vaults/default/values/db/password";
    let a = Some(admin);
    let first = nodes[0];
    let ok = |status: u16, doc: &serde_json::Value| assert!(status < 300, "{doc}");
    let (status, doc) = first.call(
        "PUT",
        "/api/v1/envs/default/vaults/default/entries/db/password",
        a,
        Some(json!({"value": "warm-cache-LOSS-1"})),
    );
    ok(status, &doc);
    let member = |add: bool| {
        let (status, doc) = if add {
            first.call("POST", "/api/v1/groups/readers/members", a, Some(json!({"member": "app:job"})))
        } else {
            first.call("DELETE", "/api/v1/groups/readers/members/app:job", a, None)
        };
        ok(status, &doc);
    };
    let reads_everywhere = |token: &str| {
        for node in nodes {
            let (status, doc) = node.call("GET", VALUE, Some(token), None);
            assert_eq!((status, doc["value"].as_str()), (200, Some("warm-cache-LOSS-1")), "{doc}");
        }
    };
    let refused_everywhere = |token: &str, status: u16, why: &str| {
        for (i, node) in nodes.iter().enumerate() {
            let (got, doc) = node.call("GET", VALUE, Some(token), None);
            assert_eq!(got, status, "node {i} still served the value after {why}: {doc}");
            assert!(doc.get("value").is_none(), "{doc}");
        }
    };
    let readers = json!({"principal": "group:readers"});
    ok(first.call("POST", "/api/v1/principals", a, Some(readers.clone())).0, &readers);
    let grant = json!({"principal": "group:readers", "scope": "default", "access": "read"});
    ok(first.call("POST", "/api/v1/grants", a, Some(grant.clone())).0, &grant);
    let job = principal(first, "app:job", &[]);
    member(true);
    reads_everywhere(&job);
    member(false);
    refused_everywhere(&job, 403, "leaving the group");

    member(true);
    reads_everywhere(&job);
    ok(first.call("DELETE", "/api/v1/principals/group:readers", a, None).0, &json!("group rm"));
    refused_everywhere(&job, 403, "its group was deleted");

    ok(first.call("POST", "/api/v1/principals", a, Some(readers)).0, &json!("group again"));
    ok(first.call("POST", "/api/v1/grants", a, Some(grant)).0, &json!("grant again"));
    member(true);
    reads_everywhere(&job);
    ok(first.call("DELETE", "/api/v1/principals/app:job", a, None).0, &json!("principal rm"));
    refused_everywhere(&job, 401, "the principal was deleted");
}
