//! The TypeScript SDK (`sdk/typescript`, `@tresor/sdk`): its own test suite, `npm test` (tsc, then
//! Node's test runner against real servers of this binary, and `tresor codegen typescript` checked
//! with `tsc --noEmit`), run as a child with `TRESOR_BIN` set to the binary under test. The suite
//! scans the servers' logs for every value it stored. `.ci/run` installs its dev dependencies
//! (`npm ci` in sdk/typescript).

use crate::common;
use std::path::Path;
use std::process::Command;

#[test]
fn the_typescript_sdk_suite_passes() {
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/typescript");
    let missing = if Command::new("node").arg("--version").output().is_err() {
        Some("Node.js")
    } else if !sdk.join("node_modules/typescript").exists() {
        Some("the SDK's dev dependencies (npm ci in sdk/typescript; .ci/run does it)")
    } else {
        None
    };
    if let Some(what) = missing {
        common::skip::skip("sdk_typescript::the_typescript_sdk_suite_passes", what);
        return;
    }
    let mut npm = Command::new("npm");
    common::without_tresor_env(&mut npm);
    let out = npm
        .args(["test", "--silent"])
        .current_dir(&sdk)
        .env("TRESOR_BIN", env!("CARGO_BIN_EXE_tresor"))
        .env("NO_COLOR", "1")
        .output()
        .unwrap();
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "npm test in sdk/typescript failed:\n{stdout}\n{stderr}");
    // The runner's summary (`# pass N` in TAP, `ℹ pass N` in the spec reporter): tests ran, none failed.
    let count = |what: &str| {
        stdout.lines().find_map(|l| {
            l.split_once(what).and_then(|(lead, n)| lead.ends_with(' ').then(|| n.trim().parse::<u32>().ok())?)
        })
    };
    assert!(count("pass ").is_some_and(|n| n > 0) && count("fail ") == Some(0), "the suite ran no test:\n{stdout}");
}
