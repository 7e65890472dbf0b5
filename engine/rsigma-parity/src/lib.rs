//! k8scop and rsigma side by side: the same Sigma rules (k8scop's translated by `k8scop import
//! sigma`, rsigma's read as they are) over the same audit events.
//!
//! - [`Pair::load`] imports the Sigma files for k8scop and loads them into an rsigma
//!   [`rsigma_eval::Engine`]; [`Pair::detections`] gives, for one event, the rules each engine
//!   says match, by k8scop rule name, so that the two sets can be compared.
//! - [`decode`] reads events as every k8scop command does (shippers' wrappers unwrapped), whole:
//!   rsigma is given the same document k8scop evaluates.
//!
//! The crate is a workspace member outside the default members, so that building k8scop never
//! builds rsigma; its test (`tests/parity.rs`) is part of `scripts/test`, and its example
//! `bench` is the side-by-side benchmark of docs/PERFORMANCE.md.

#![warn(missing_docs)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use k8scop_engine::decode::Decoder;
use k8scop_engine::{Engine, Event, Output, Ruleset};
use k8scop_grammar::SourceFile;
use serde_json::Value;

/// One Sigma file: its path (for messages) and text.
pub type SigmaFile = (String, String);

/// The same Sigma rules in both engines.
pub struct Pair {
    /// The k8scop ruleset the import wrote.
    pub ruleset: Arc<Ruleset>,
    /// The `.rules` files the import wrote, by name.
    pub rules_files: Vec<(String, String)>,
    /// rsigma, with the Sigma rules as they are.
    pub rsigma: rsigma_eval::Engine,
    /// The k8scop rule name of each Sigma rule id (the first, for a `temporal` correlation
    /// imported as several sequences).
    pub names_by_id: HashMap<String, String>,
    /// The Sigma rule id of each k8scop rule or sequence the import wrote.
    pub ids_by_name: HashMap<String, String>,
}

impl Pair {
    /// Imports `files` for k8scop and loads them into rsigma; every rule must translate and
    /// every translation compile without error.
    pub fn load(files: &[SigmaFile]) -> Result<Pair, String> {
        let inputs: Vec<k8scop_import::sigma::Input<'_>> = files
            .iter()
            .map(|(path, text)| k8scop_import::sigma::Input { path, text })
            .collect();
        let import = k8scop_import::sigma::import(&inputs);
        if let Some(e) = import.errors.first() {
            return Err(format!("import: {e}"));
        }
        let mut names_by_id = HashMap::new();
        let mut ids_by_name = HashMap::new();
        for report in &import.rules {
            match (&report.outcome, &report.id) {
                (k8scop_import::sigma::Outcome::Imported(names), Some(id)) => {
                    names_by_id.insert(id.clone(), names[0].clone());
                    for name in names {
                        ids_by_name.insert(name.clone(), id.clone());
                    }
                }
                (k8scop_import::sigma::Outcome::Skipped(reason), _) => {
                    return Err(format!("{} was not imported: {reason}", report.title))
                }
                _ => return Err(format!("{} has no id to compare by", report.title)),
            }
        }
        let sources: Vec<Arc<SourceFile>> = import
            .files
            .iter()
            .map(|f| SourceFile::new(f.name.clone(), f.text.clone()))
            .collect();
        let compiled = k8scop_engine::loader::load_sources(sources, &Default::default());
        let errors: Vec<String> = compiled
            .diagnostics
            .iter()
            .filter(|d| d.is_error())
            .map(|d| format!("{d:?}"))
            .collect();
        let ruleset = compiled
            .ruleset
            .filter(|_| errors.is_empty())
            .ok_or_else(|| format!("the imported rules do not compile: {errors:#?}"))?;

        let mut rsigma = rsigma_eval::Engine::new();
        for (path, text) in files {
            let collection = rsigma_parser::parse_sigma_yaml(text)
                .map_err(|e| format!("rsigma cannot parse {path}: {e}"))?;
            rsigma
                .add_collection(&collection)
                .map_err(|e| format!("rsigma cannot load {path}: {e}"))?;
        }
        Ok(Pair {
            ruleset: Arc::new(ruleset),
            rules_files: import.files.into_iter().map(|f| (f.name, f.text)).collect(),
            rsigma,
            names_by_id,
            ids_by_name,
        })
    }

    /// A k8scop engine for the imported rules that records which rules each event matches.
    pub fn engine(&self) -> Engine {
        let mut engine = Engine::new(Arc::clone(&self.ruleset));
        engine.record_matches(true);
        engine
    }

    /// The rules each engine says `event` matches: (k8scop, rsigma), by k8scop rule name.
    pub fn detections(
        &self,
        engine: &mut Engine,
        event: &Event,
        value: &Value,
    ) -> (BTreeSet<String>, BTreeSet<String>) {
        let mut out = Output::default();
        engine.process(event, &mut out);
        let k8scop = out
            .matches
            .iter()
            .map(|m| m.detection.to_string())
            .collect();
        let rsigma = self
            .rsigma
            .evaluate(&rsigma_eval::JsonEvent::borrow(value))
            .iter()
            .map(|r| {
                let id = r.header.rule_id.clone().unwrap_or_default();
                self.names_by_id.get(&id).cloned().unwrap_or(id)
            })
            .collect();
        (k8scop, rsigma)
    }
}

/// The events of `text` as k8scop decodes them (whole documents, wrappers unwrapped), each with
/// the document rsigma is given.
pub fn decode(ruleset: &Ruleset, origin: &str, text: &str) -> Vec<(Event, Value)> {
    let decoded = Decoder::without_projection(ruleset).decode_text(&Arc::from(origin), text);
    decoded
        .events
        .into_iter()
        .map(|e| {
            let v = e.to_value();
            (e, v)
        })
        .collect()
}

/// The command line of the crate's examples (`bench`, `decode_sigma`):
/// `EVENTS.jsonl [RUNS] [SIGMA_DIR]`.
pub struct ExampleArgs {
    /// The JSON-lines file of events.
    pub events: String,
    /// How many times to run.
    pub runs: usize,
    /// The Sigma rules: every `.yml`/`.yaml` file of this directory, by default the SigmaHQ
    /// Kubernetes audit rules in ../shared/data/sigma-k8s.
    pub sigma_dir: std::path::PathBuf,
}

impl ExampleArgs {
    /// Reads the process's arguments; `name` is the example's, for the usage message.
    pub fn parse(name: &str, default_runs: usize) -> Result<ExampleArgs, String> {
        let args: Vec<String> = std::env::args().skip(1).collect();
        let events = args
            .first()
            .ok_or(format!("usage: {name} EVENTS.jsonl [RUNS] [SIGMA_DIR]"))?
            .clone();
        let runs = match args.get(1) {
            Some(r) => r
                .parse()
                .map_err(|_| format!("`{r}` is not a number of runs"))?,
            None => default_runs,
        };
        let sigma_dir = match args.get(2) {
            Some(d) => d.into(),
            None => std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../../shared/data/sigma-k8s"),
        };
        Ok(ExampleArgs {
            events,
            runs,
            sigma_dir,
        })
    }

    /// The Sigma files of [`ExampleArgs::sigma_dir`], sorted by path.
    pub fn sigma_files(&self) -> Result<Vec<SigmaFile>, String> {
        let dir = &self.sigma_dir;
        let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir(dir)
            .map_err(|e| format!("{}: {e}", dir.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
            .collect();
        paths.sort();
        paths
            .into_iter()
            .map(|p| {
                let text =
                    std::fs::read_to_string(&p).map_err(|e| format!("{}: {e}", p.display()))?;
                Ok((p.display().to_string(), text))
            })
            .collect()
    }
}

/// `text` in pieces of about `size` bytes, each ending at the end of a line: the chunks
/// `k8scop run` reads a file in.
pub fn chunks(text: &str, size: usize) -> impl Iterator<Item = &str> {
    let mut rest = text;
    std::iter::from_fn(move || {
        if rest.is_empty() {
            return None;
        }
        let end = if rest.len() <= size {
            rest.len()
        } else {
            rest[size..].find('\n').map_or(rest.len(), |i| size + i + 1)
        };
        let (chunk, tail) = rest.split_at(end);
        rest = tail;
        Some(chunk)
    })
}

/// The CPU time of the calling thread in nanoseconds (Linux, `/proc/thread-self/schedstat`),
/// `None` elsewhere: time spent waiting for a core on a loaded machine does not inflate it.
pub fn thread_cpu_ns() -> Option<u64> {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").ok()?;
    stat.split_whitespace().next()?.parse().ok()
}
