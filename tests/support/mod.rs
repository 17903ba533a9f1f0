//! Shared test helpers: where `../shared` is, the real binary, CI detection.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub mod server;

/// A process's exit status and both outputs, for assertion messages.
pub fn show(o: &Output) -> String {
    format!(
        "status {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The message of a panic caught from a test thread (`JoinHandle::join`'s error).
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    payload
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| payload.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default()
}

/// `../shared` next to this checkout (the corpus, docs and server installer).
pub fn shared_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared")
}

/// True when running under CI (`CI` set), where missing prerequisites are failures.
pub fn in_ci() -> bool {
    std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Skips a test (prints why) outside CI; fails it in CI.
#[macro_export]
macro_rules! require {
    ($cond:expr, $($msg:tt)+) => {
        if !$cond {
            let msg = format!($($msg)+);
            if $crate::support::in_ci() {
                panic!("required in CI: {msg}");
            }
            eprintln!("SKIPPED: {msg}");
            return;
        }
    };
}

/// Runs the real `rdbkit` binary.
pub fn rdbkit(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .output()
        .expect("run rdbkit")
}

/// Runs the real `rdbkit` binary with `stdin` piped in.
pub fn rdbkit_stdin(args: &[&str], stdin: &[u8]) -> Output {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_rdbkit"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run rdbkit");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("write stdin");
    child.wait_with_output().expect("wait for rdbkit")
}

pub fn testdata(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("testdata")
        .join(name)
}
