//! Running the built `k8scop` binary, and temporary rule directories.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};

/// What one run of the binary gave.
#[derive(Debug)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// stdout parsed as one JSON document.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| {
            panic!(
                "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
                self.stdout, self.stderr
            )
        })
    }
}

/// The workspace root (where README.md and rules/ are).
pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("cli/ has a parent")
        .to_path_buf()
}

/// The third-party data: `$K8SCOP_SHARED_DATA` when set, else `../shared/data` next to this
/// checkout (where CI has it).
///
/// When it is missing, a test that needs it must not pass without doing its work: under
/// `CI=true`, or when `K8SCOP_SHARED_DATA` names it, this panics (the test fails, saying what is
/// missing); elsewhere it prints `SKIPPED` with the reason to the test's output and returns
/// `None`, and the test returns.
pub fn shared_data() -> Option<PathBuf> {
    let (dir, named_by) = match std::env::var_os("K8SCOP_SHARED_DATA") {
        Some(dir) => (PathBuf::from(dir), "K8SCOP_SHARED_DATA"),
        None => (
            root().join("../shared/data"),
            "the default, next to the checkout",
        ),
    };
    if dir.is_dir() {
        return Some(dir);
    }
    let problem = format!(
        "the third-party test data is missing: {} ({named_by}) is not a directory; \
         set K8SCOP_SHARED_DATA to where it is",
        dir.display()
    );
    // Named on purpose, or in CI: the data must be there.
    if named_by == "K8SCOP_SHARED_DATA" || std::env::var("CI").is_ok_and(|v| v == "true") {
        panic!("{problem} (with CI=true or K8SCOP_SHARED_DATA set, a test that needs it fails rather than skip)");
    }
    eprintln!("SKIPPED: {problem}");
    None
}

/// Runs `k8scop ARGS` in the workspace root.
pub fn k8scop(args: &[&str]) -> Run {
    k8scop_stdin(args, None)
}

/// Runs `k8scop ARGS` with `stdin` as standard input.
pub fn k8scop_stdin(args: &[&str], stdin: Option<&str>) -> Run {
    let mut child = Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the k8scop binary runs");
    if let Some(text) = stdin {
        let mut pipe = child.stdin.take().expect("stdin is piped");
        pipe.write_all(text.as_bytes()).expect("write stdin");
    }
    let out = child.wait_with_output().expect("k8scop finishes");
    Run {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// A fresh directory under the target dir, with `files` (relative path, content) written in it.
pub fn rules_dir(files: &[(&str, &str)]) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let dir = std::env::temp_dir().join(format!("k8scop-test-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("a file has a parent")).expect("mkdir");
        std::fs::write(&path, content).expect("write fixture");
    }
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

/// A path as a `&str` argument.
pub fn arg(path: &Path) -> &str {
    path.to_str().expect("test paths are UTF-8")
}
