//! The Python SDK (`sdk/python`, import name `tresor`) against the real server: runs its pytest
//! suite, whose fixtures start this build's `tresor` (`TRESOR_BIN`) and check at the end that no
//! value the tests stored reached a server log. This side checks those logs once more. httpx and
//! pytest come from `.ci/run` (pinned); without them the test is skipped, except in CI.

use crate::common;
use std::path::Path;
use std::process::Command;

/// What every value the suite stores starts with (`VALUE_MARK` in `sdk/python/tests/conftest.py`).
const VALUE_MARK: &str = "py-sdk-value-";

/// Whether python3 with httpx and pytest is at hand; in CI it must be.
fn python_available() -> bool {
    let missing = match Command::new("python3").args(["-c", "import httpx, pytest"]).output() {
        Err(_) => "python3",
        Ok(out) if !out.status.success() => {
            "httpx and pytest for python3 (python3 -m pip install 'httpx==0.28.1' 'pytest==8.4.2'; .ci/run does it)"
        }
        Ok(_) => return true,
    };
    common::skip::skip("sdk_python::the_python_sdk_test_suite", missing);
    false
}

#[test]
fn the_python_sdk_test_suite() {
    if !python_available() {
        return;
    }
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let logs = tempfile::tempdir().unwrap();
    let mut cmd = Command::new("python3");
    common::without_tresor_env(&mut cmd);
    let out = cmd
        .args(["-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", "sdk/python/tests"])
        .current_dir(&repo)
        .env("TRESOR_BIN", common::BIN)
        .env("TRESOR_SDK_LOG_DIR", logs.path())
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "the Python SDK's tests failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().last().unwrap_or_default();
    assert!(summary.contains(" passed") && !summary.contains("skipped"), "every test must run: {summary}");

    // The suite's servers logged into `logs`: each is a server's log, and none holds a value.
    let logged: Vec<_> =
        common::files_under(logs.path()).into_iter().filter(|f| f.extension() == Some("log".as_ref())).collect();
    assert!(logged.len() >= 3, "expected the logs of the plain, rate-limited and TLS servers: {logged:?}");
    for log in logged {
        let text = std::fs::read_to_string(&log).unwrap();
        assert!(text.contains("tresor listening on"), "{} is not a server log", log.display());
        assert!(!text.contains(VALUE_MARK), "{} holds a value the SDK stored", log.display());
    }
}
