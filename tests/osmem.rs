//! osmem-server: an in-memory OpenSearch 3.x-compatible server from PyPI (`osmem-server==0.1.6`),
//! the second real server the Elasticsearch tests run against. `scripts/test` installs it into
//! `target/osmem/` and exports `K8SCOP_OSMEM_BIN`; [`Osmem::start`] runs one per test on a free
//! loopback port and kills it on drop.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// A running osmem-server.
pub struct Osmem {
    child: Child,
    url: String,
}

/// Where the binary is: `K8SCOP_OSMEM_BIN`, else where `scripts/test` installs it.
fn binary() -> PathBuf {
    match std::env::var_os("K8SCOP_OSMEM_BIN") {
        Some(path) => PathBuf::from(path),
        None => crate::util::root().join("target/osmem/osmem_server/bin/osmem-server"),
    }
}

impl Osmem {
    /// Starts osmem-server; panics with what to do when it is not installed.
    pub fn start() -> Osmem {
        let bin = binary();
        if !bin.is_file() {
            panic!(
                "osmem-server is not installed at {}: run scripts/test, which installs it \
                 (python3 -m pip install --target target/osmem osmem-server==0.1.6), \
                 or set K8SCOP_OSMEM_BIN to the binary",
                bin.display()
            );
        }
        let mut child = Command::new(&bin)
            .args(["-addr", "127.0.0.1:0", "-no-stdin-watch", "-parent-pid"])
            .arg(std::process::id().to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first stdout line is {"url":..}; the rest is drained so the pipe never fills.
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next());
            for _ in lines {}
        });
        let first = rx.recv_timeout(Duration::from_secs(30));
        let line = match first {
            Ok(Some(Ok(line))) => line,
            other => {
                let _ = child.kill();
                let status = child.wait().map(|s| s.to_string()).unwrap_or_default();
                panic!(
                    "osmem-server did not print its address ({other:?}); it exited with {status}"
                );
            }
        };
        let url = serde_json::from_str::<serde_json::Value>(&line)
            .ok()
            .and_then(|v| v["url"].as_str().map(str::to_string))
            .unwrap_or_else(|| panic!("osmem-server printed `{line}`, not {{\"url\":..}}"));
        Osmem { child, url }
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> &str {
        &self.url
    }
}

impl Drop for Osmem {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
