//! Hot reload of the rules: watch the rules, compile a change off the hot path, and publish the
//! new ruleset only when it compiles (Vector's `ReloadOutcome::RolledBack` otherwise).
//!
//! Changes are noticed through `notify` on the rules paths (recursive, so editors that save by
//! rename and Kubernetes ConfigMap volumes, whose `..data` symlink is swapped atomically, are both
//! seen) and through forced reloads (the CLI's SIGHUP). Bursts of events are debounced, and a reload
//! whose files are byte-for-byte unchanged is skipped, so that reading the rules never triggers
//! another reload.

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use notify::{EventKind, RecursiveMode, Watcher};
use tokio::sync::mpsc;

use crate::pipeline::{Notice, Stats};
use crate::shutdown::Shutdown;
use k8scop_engine::compile::CompileOptions;
use k8scop_engine::decode::Decoder;
use k8scop_engine::ruleset::Ruleset;

/// How long the watcher waits for a burst of file events to settle.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// A compiled ruleset and the decoder built for it, published together: events decoded for one
/// ruleset are evaluated by that ruleset.
pub struct Generation {
    /// The compiled rules.
    pub ruleset: Arc<Ruleset>,
    /// The decoder that projects events onto the fields these rules use.
    pub decoder: Arc<Decoder>,
    /// The ruleset's compile warnings, shown when it takes over.
    pub warnings: Vec<k8scop_grammar::Diagnostic>,
    /// A hash of every rules file's path and content.
    pub fingerprint: u64,
}

/// Loads and compiles the rules; `Err` carries every diagnostic when there are errors.
pub fn load(
    paths: &[PathBuf],
    options: &CompileOptions,
) -> Result<Generation, Vec<k8scop_grammar::Diagnostic>> {
    let fingerprint = fingerprint(paths);
    let compiled = match k8scop_engine::loader::load(paths, options) {
        Ok(c) => c,
        Err(e) => {
            let d = k8scop_grammar::Diagnostic::new(
                k8scop_grammar::Code::UnreadableFile,
                e.to_string(),
            );
            return Err(vec![d]);
        }
    };
    match compiled.ruleset {
        Some(ruleset) => Ok(Generation {
            decoder: Arc::new(Decoder::new(&ruleset)),
            ruleset: Arc::new(ruleset),
            warnings: compiled.diagnostics,
            fingerprint,
        }),
        None => Err(compiled.diagnostics),
    }
}

/// A hash of the rules files (paths and contents): unchanged rules are not reloaded.
fn fingerprint(paths: &[PathBuf]) -> u64 {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    if let Ok(files) = k8scop_engine::loader::discover(paths) {
        for file in files {
            file.hash(&mut hasher);
            std::fs::read(&file).unwrap_or_default().hash(&mut hasher);
        }
    }
    hasher.finish()
}

/// Watches the rules until shutdown and publishes each ruleset that compiles on `publish`.
/// `current` is the fingerprint of the ruleset already running. A message on `forced_reloads`
/// (the CLI sends one on SIGHUP) reloads even when the files look unchanged.
// The watcher task's inputs are each used once; a struct for them would only be unpacked here.
#[allow(clippy::too_many_arguments)]
pub async fn watch(
    paths: Vec<PathBuf>,
    options: CompileOptions,
    mut current: u64,
    publish: mpsc::Sender<Arc<Generation>>,
    stats: Arc<Stats>,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
    mut forced_reloads: mpsc::Receiver<()>,
    mut shutdown: Shutdown,
) {
    let (tx, mut changes) = mpsc::channel::<()>(16);
    let watcher_tx = tx.clone();
    let watcher = notify::recommended_watcher(move |event: notify::Result<notify::Event>| {
        let relevant = match event {
            Ok(e) => matches!(
                e.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            ),
            Err(_) => true,
        };
        if relevant {
            let _ = watcher_tx.try_send(());
        }
    });
    // The watcher must live as long as this task.
    let _watcher = match watcher {
        Ok(mut w) => {
            for path in &paths {
                // A file is watched through its directory: an editor that saves by rename
                // replaces the file's inode, and a watch on the old inode would go quiet.
                let target = if path.is_file() {
                    path.parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .unwrap_or(std::path::Path::new("."))
                } else {
                    path.as_path()
                };
                let mode = if path.is_file() {
                    RecursiveMode::NonRecursive
                } else {
                    RecursiveMode::Recursive
                };
                if let Err(e) = w.watch(target, mode) {
                    notices(Notice::ReloadFailed {
                        diagnostics: vec![k8scop_grammar::Diagnostic::new(
                            k8scop_grammar::Code::UnreadableFile,
                            format!(
                                "cannot watch `{}` for changes: {e}; send SIGHUP to reload",
                                target.display()
                            ),
                        )],
                    });
                }
            }
            Some(w)
        }
        Err(_) => None,
    };
    loop {
        let forced = tokio::select! {
            biased;
            _ = shutdown.requested() => return,
            Some(()) = changes.recv() => false,
            Some(()) = forced_reloads.recv() => true,
        };
        // Debounce: let a burst of events (an editor's rename dance, a ConfigMap swap) settle.
        tokio::time::sleep(DEBOUNCE).await;
        while changes.try_recv().is_ok() {}
        let (paths2, options2) = (paths.clone(), options.clone());
        let Ok(new_fingerprint) = tokio::task::spawn_blocking(move || fingerprint(&paths2)).await
        else {
            continue;
        };
        if new_fingerprint == current && !forced {
            continue;
        }
        let paths3 = paths.clone();
        let outcome = match tokio::task::spawn_blocking(move || load(&paths3, &options2)).await {
            Ok(outcome) => outcome,
            Err(_) => continue,
        };
        match outcome {
            Ok(generation) => {
                current = generation.fingerprint;
                if publish.send(Arc::new(generation)).await.is_err() {
                    return;
                }
            }
            Err(diagnostics) => {
                current = new_fingerprint;
                stats
                    .reload_failures
                    .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                notices(Notice::ReloadFailed { diagnostics });
            }
        }
    }
}
