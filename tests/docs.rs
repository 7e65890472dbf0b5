//! The docs are tested like code: every ```rules example of docs/ loads with `k8scop check` and its
//! `test` blocks pass with `k8scop test-rule`; every ```rules-invalid example fails with the code of
//! the diagnostics page it is on; every diagnostic code has a page, listed in the index.
//!
//! Examples are taken from docs/*.md and docs/diagnostics/*.md (docs/functions/ is generated from
//! the stdlib and tested there). Each example is written alone, as `example.rules`, into its own
//! temporary directory, so that it must be a complete ruleset.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};

use k8scop_grammar::{Code, Level};
use serde_json::Value;

/// Error codes whose page cannot show a one-file example: an unreadable file is not something a
/// `.rules` text can contain.
const NO_EXAMPLE: &[&str] = &["unreadable_file"];

fn docs_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("..")
        .join("docs")
}

/// One fenced code block of a Markdown file.
struct Block {
    file: PathBuf,
    /// The 1-based line of the opening fence.
    line: usize,
    /// The 1-based line of the closing fence.
    end: usize,
    tag: String,
    text: String,
}

impl Block {
    /// `docs/x.md:LINE`, for messages.
    fn location(&self) -> String {
        let name = self
            .file
            .strip_prefix(Path::new(env!("CARGO_MANIFEST_DIR")).join(".."))
            .unwrap_or(&self.file);
        format!("{}:{}", name.display(), self.line)
    }

    /// The docs page's line of a line of the example (both 1-based).
    fn doc_line(&self, example_line: u64) -> u64 {
        self.line as u64 + example_line
    }
}

/// The fenced blocks of a Markdown file, with their info string as the tag.
fn blocks_of(file: &Path) -> Vec<Block> {
    let text = std::fs::read_to_string(file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
    let mut blocks = Vec::new();
    let mut open: Option<Block> = None;
    for (i, line) in text.lines().enumerate() {
        let fence = line.trim_start().strip_prefix("```");
        let closes = fence.is_some_and(|rest| rest.trim().is_empty());
        if let Some(block) = open.as_mut() {
            if closes {
                block.end = i + 1;
                blocks.extend(open.take());
            } else {
                block.text.push_str(line);
                block.text.push('\n');
            }
        } else if let Some(tag) = fence {
            open = Some(Block {
                file: file.to_path_buf(),
                line: i + 1,
                end: 0,
                tag: tag.trim().to_owned(),
                text: String::new(),
            });
        }
    }
    if let Some(block) = open {
        panic!("{}: unclosed code block", block.location());
    }
    blocks
}

/// docs/*.md and docs/diagnostics/*.md, sorted.
fn doc_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in [docs_dir(), docs_dir().join("diagnostics")] {
        let entries = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("a directory entry").path();
            if path.extension().is_some_and(|e| e == "md") {
                files.push(path);
            }
        }
    }
    files.sort();
    files
}

fn all_blocks() -> Vec<Block> {
    doc_files().iter().flat_map(|f| blocks_of(f)).collect()
}

/// The diagnostic code a page of docs/diagnostics/ is about, `None` for other pages.
fn page_code(file: &Path) -> Option<Code> {
    let parent = file.parent()?.file_name()?;
    if parent != "diagnostics" {
        return None;
    }
    let slug = file.file_stem()?.to_str()?;
    Code::ALL.iter().copied().find(|c| c.slug() == slug)
}

/// A directory under the system's temporary directory, removed when dropped.
struct TempDir(PathBuf);

impl TempDir {
    /// A fresh directory holding `example`, when given, as `example.rules`.
    fn new(example: Option<&str>) -> TempDir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir = std::env::temp_dir().join(format!(
            "k8scop-docs-{}-{}-{nanos}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).expect("create a temporary directory");
        if let Some(text) = example {
            std::fs::write(dir.join("example.rules"), text).expect("write example.rules");
        }
        TempDir(dir)
    }

    fn with_example(text: &str) -> TempDir {
        TempDir::new(Some(text))
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

const BIN: &str = env!("CARGO_BIN_EXE_k8scop");

fn k8scop(args: &[&str], dir: &TempDir) -> Output {
    Command::new(BIN)
        .args(args)
        .arg(&dir.0)
        .env("NO_COLOR", "1")
        .output()
        .expect("run k8scop")
}

/// `k8scop check --format json` on one example: the exit code and the diagnostics.
fn check(block: &Block) -> (Option<i32>, Vec<Value>) {
    let dir = TempDir::with_example(&block.text);
    let out = k8scop(&["check", "--format", "json"], &dir);
    let doc: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{}: `check --format json` printed no JSON ({e}):\n{}{}",
            block.location(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    let diagnostics = doc["diagnostics"].as_array().cloned().unwrap_or_default();
    (out.status.code(), diagnostics)
}

fn codes(diagnostics: &[Value]) -> Vec<&str> {
    diagnostics
        .iter()
        .filter_map(|d| d["code"].as_str())
        .collect()
}

/// One line per diagnostic, at its line in the docs page.
fn describe(block: &Block, diagnostics: &[Value]) -> String {
    diagnostics
        .iter()
        .map(|d| {
            let line = d["line"]
                .as_u64()
                .map_or(block.line as u64, |l| block.doc_line(l));
            format!(
                "    line {line}: {} {}: {}",
                d["level"].as_str().unwrap_or("?"),
                d["code"].as_str().unwrap_or("?"),
                d["message"].as_str().unwrap_or("?")
            )
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn report(failures: &[String], what: &str) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

#[test]
fn rules_examples_load_and_their_tests_pass() {
    let blocks: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.tag == "rules")
        .collect();
    assert!(
        blocks.len() >= 40,
        "only {} ```rules examples found in docs/",
        blocks.len()
    );
    let mut failures = Vec::new();
    for block in &blocks {
        let (code, diagnostics) = check(block);
        // Examples outside the diagnostics pages show clean rules: no warning either. A page
        // about a warning shows rules that load with that warning.
        let clean = page_code(&block.file).is_none();
        let errors = diagnostics.iter().any(|d| d["level"] == "error");
        if code != Some(0) || errors || (clean && !diagnostics.is_empty()) {
            failures.push(format!(
                "{}: `k8scop check` exited with {code:?}:\n{}",
                block.location(),
                describe(block, &diagnostics)
            ));
            continue;
        }
        // Tests that read an events file need the file beside them; the example is alone.
        if block.text.contains("test \"") && !block.text.contains("events file") {
            let dir = TempDir::with_example(&block.text);
            let out = k8scop(&["test-rule"], &dir);
            if out.status.code() != Some(0) {
                failures.push(format!(
                    "{}: `k8scop test-rule` exited with {:?}:\n{}{}",
                    block.location(),
                    out.status.code(),
                    String::from_utf8_lossy(&out.stdout),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
    }
    report(
        &failures,
        "```rules examples do not load cleanly or fail their tests",
    );
}

#[test]
fn invalid_examples_fail_with_the_code_of_their_page() {
    let blocks: Vec<Block> = all_blocks()
        .into_iter()
        .filter(|b| b.tag == "rules-invalid")
        .collect();
    // Not vacuous: the error pages show at least this many.
    assert!(
        blocks.len() >= 20,
        "only {} ```rules-invalid examples found in docs/",
        blocks.len()
    );
    let mut failures = Vec::new();
    for block in &blocks {
        let (code, diagnostics) = check(block);
        if code != Some(1) {
            failures.push(format!(
                "{}: `k8scop check` exited with {code:?}, not 1:\n{}",
                block.location(),
                describe(block, &diagnostics)
            ));
            continue;
        }
        if let Some(expected) = page_code(&block.file) {
            if !codes(&diagnostics).contains(&expected.qualified().as_str()) {
                failures.push(format!(
                    "{}: no `{}` among the diagnostics:\n{}",
                    block.location(),
                    expected.qualified(),
                    describe(block, &diagnostics)
                ));
            }
        }
    }
    report(
        &failures,
        "```rules-invalid examples do not fail as their page says",
    );
}

#[test]
fn every_code_has_a_page_with_an_example() {
    let dir = docs_dir().join("diagnostics");
    let mut failures = Vec::new();
    for &code in Code::ALL {
        let page = dir.join(format!("{}.md", code.slug()));
        if !page.exists() {
            failures.push(format!("{}: no page {}", code.qualified(), page.display()));
            continue;
        }
        let text = std::fs::read_to_string(&page).expect("read the page");
        let level = code.level().as_str();
        if !text.contains(&format!("**Level:** {level}")) {
            failures.push(format!(
                "{}: the page does not say `**Level:** {level}`",
                page.display()
            ));
        }
        if NO_EXAMPLE.contains(&code.slug()) {
            continue;
        }
        let blocks = blocks_of(&page);
        match code.level() {
            // An error's example must not load; `invalid_examples_fail_with_the_code_of_their_page`
            // checks that it fails with this code.
            Level::Error => {
                if !blocks.iter().any(|b| b.tag == "rules-invalid") {
                    failures.push(format!("{}: no ```rules-invalid example", page.display()));
                }
            }
            // A warning's example loads, with the warning.
            Level::Warning => {
                let shows = blocks
                    .iter()
                    .filter(|b| b.tag == "rules")
                    .any(|b| codes(&check(b).1).contains(&code.qualified().as_str()));
                if !shows {
                    failures.push(format!(
                        "{}: no ```rules example gives `{}`",
                        page.display(),
                        code.qualified()
                    ));
                }
            }
        }
    }
    // A page for a code that does not exist would document something k8scop never says.
    for file in doc_files() {
        let in_diagnostics = file.parent() == Some(dir.as_path());
        let index = file.file_name().is_some_and(|n| n == "README.md");
        if in_diagnostics && !index && page_code(&file).is_none() {
            failures.push(format!(
                "{}: no diagnostic code of this name",
                file.display()
            ));
        }
    }
    report(&failures, "problems with the diagnostics pages");
}

#[test]
fn diagnostics_index_links_every_code() {
    let index = docs_dir().join("diagnostics").join("README.md");
    let text = std::fs::read_to_string(&index)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", index.display()));
    let missing: Vec<&str> = Code::ALL
        .iter()
        .map(|c| c.slug())
        .filter(|slug| !text.contains(&format!("]({slug}.md)")))
        .collect();
    assert!(
        missing.is_empty(),
        "{} does not link to: {missing:?}",
        index.display()
    );
}

/// The command outputs shown in the docs are what k8scop prints today.
///
/// A ```text block right after a `<!-- output -->` line starts with `$ k8scop ARGS` and shows what
/// that command prints (stdout, then stderr, without colour), run in a directory that holds the
/// page's preceding example as `example.rules`. `K8SCOP_BLESS_DOCS=1` rewrites the blocks that
/// differ with the current output, for a deliberate change of a message.
#[test]
fn documented_output_is_what_k8scop_prints() {
    let bless = std::env::var_os("K8SCOP_BLESS_DOCS").is_some();
    let mut failures = Vec::new();
    let mut compared = 0;
    for file in doc_files() {
        let text = std::fs::read_to_string(&file).expect("read the page");
        let lines: Vec<&str> = text.lines().collect();
        let blocks = blocks_of(&file);
        let mut updates: Vec<(usize, usize, String)> = Vec::new();
        for (i, block) in blocks.iter().enumerate() {
            let marked = block.line >= 2 && lines[block.line - 2].trim() == "<!-- output -->";
            if !marked {
                continue;
            }
            let command = block
                .text
                .lines()
                .next()
                .and_then(|l| l.strip_prefix("$ k8scop "));
            let Some(args) = command else {
                failures.push(format!(
                    "{}: an output block starts with `$ k8scop ARGS`",
                    block.location()
                ));
                continue;
            };
            let example = blocks[..i]
                .iter()
                .rev()
                .find(|b| b.tag.starts_with("rules"))
                .map(|b| b.text.as_str());
            compared += 1;
            let dir = TempDir::new(example);
            let out = Command::new(BIN)
                .args(args.split_whitespace())
                .current_dir(&dir.0)
                .env("NO_COLOR", "1")
                .output()
                .expect("run k8scop");
            let printed = format!(
                "{}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
            let printed: Vec<&str> = printed.lines().map(str::trim_end).collect();
            let actual = format!("$ k8scop {args}\n{}\n", printed.join("\n").trim_end());
            if actual != block.text {
                failures.push(format!(
                    "{}: k8scop now prints:\n{actual}",
                    block.location()
                ));
                updates.push((block.line, block.end, actual));
            }
        }
        if bless && !updates.is_empty() {
            let mut new: Vec<String> = lines.iter().map(|l| (*l).to_owned()).collect();
            // From the last block up, so that earlier line numbers stay valid.
            for (fence, end, actual) in updates.into_iter().rev() {
                new.splice(fence..end - 1, actual.lines().map(str::to_owned));
            }
            std::fs::write(&file, new.join("\n") + "\n").expect("rewrite the page");
        }
    }
    // Not vacuous: the pages mark at least this many outputs.
    assert!(
        compared >= 20,
        "only {compared} `<!-- output -->` blocks found in docs/"
    );
    if !bless {
        report(
            &failures,
            "documented outputs differ from what k8scop prints \
             (K8SCOP_BLESS_DOCS=1 updates them)",
        );
    }
}
