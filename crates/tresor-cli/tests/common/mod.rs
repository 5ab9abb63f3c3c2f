//! Helpers shared by the end-to-end tests: run the real `tresor` binary.
#![allow(dead_code)]

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

pub const BIN: &str = env!("CARGO_BIN_EXE_tresor");

/// The outcome of one `tresor` run.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    fn from(out: Output) -> Self {
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
        let mut cmd = Command::new(BIN);
        cmd.arg("--local").args(args).env("TRESOR_HOME", self.home.path()).env_remove("TRESOR_ROOT_KEY");
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Run {
        self.run_stdin(args, b"")
    }

    pub fn run_stdin(&self, args: &[&str], stdin: &[u8]) -> Run {
        let mut child = self
            .command(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn tresor");
        child.stdin.take().unwrap().write_all(stdin).unwrap();
        Run::from(child.wait_with_output().unwrap())
    }
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
