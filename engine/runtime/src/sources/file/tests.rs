//! The file source against real files in temporary directories.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use flate2::write::GzEncoder;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::*;
use crate::shutdown::{self, ShutdownTrigger};

/// How long any single wait in these tests may take.
const PATIENCE: Duration = Duration::from_secs(5);

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "k8scop-file-{name}-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        let dir = std::env::temp_dir().join(unique);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, bytes).unwrap();
        path
    }

    fn write_gz(&self, name: &str, text: &str) -> PathBuf {
        let mut gz = GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(text.as_bytes()).unwrap();
        self.write(name, &gz.finish().unwrap())
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn spec(path: &Path) -> SourceSpec {
    SourceSpec::Path(path.to_string_lossy().into_owned())
}

fn origin(path: &Path) -> String {
    path.to_string_lossy().into_owned()
}

fn append(path: &Path, text: &str) {
    let mut file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .open(path)
        .unwrap();
    file.write_all(text.as_bytes()).unwrap();
}

/// Runs a static read to its end and returns every chunk.
async fn read_static(
    config: FileSourceConfig,
) -> (Vec<Chunk>, Result<FileSourceReport, SourceError>) {
    let (_trigger, shutdown) = shutdown::channel();
    let (tx, mut rx) = mpsc::channel(2);
    let task = tokio::spawn(run(config, tx, shutdown));
    let mut chunks = Vec::new();
    while let Some(chunk) = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .expect("chunks in time")
    {
        chunks.push(chunk);
    }
    let report = tokio::time::timeout(PATIENCE, task)
        .await
        .expect("run ends")
        .unwrap();
    (chunks, report)
}

fn lines_of(chunks: &[Chunk]) -> Vec<(String, u64, String)> {
    chunks
        .iter()
        .map(|c| match c {
            Chunk::Lines {
                origin,
                first_line,
                text,
            } => (origin.to_string(), *first_line, text.clone()),
            other => panic!("expected lines, got {other:?}"),
        })
        .collect()
}

#[tokio::test]
async fn static_read_of_several_files_in_order_with_gzip() {
    let dir = TempDir::new("static");
    let a = dir.write("a.log", b"{\"a\":1}\n{\"a\":2}\n");
    let b = dir.write_gz("b.log.gz", "{\"b\":1}\n{\"b\":2}\n");
    // gzip recognised by its magic bytes, whatever the name.
    let c = dir.write_gz("c.log", "{\"c\":1}\n");
    let config = FileSourceConfig::new(vec![spec(&a), spec(&b), spec(&c)], false);
    let (chunks, report) = read_static(config).await;
    assert_eq!(
        lines_of(&chunks),
        vec![
            (origin(&a), 1, "{\"a\":1}\n{\"a\":2}\n".into()),
            (origin(&b), 1, "{\"b\":1}\n{\"b\":2}\n".into()),
            (origin(&c), 1, "{\"c\":1}\n".into()),
        ]
    );
    assert_eq!(
        report.unwrap(),
        FileSourceReport {
            files: 3,
            bytes: 16 + 16 + 8,
            restarts: 0
        }
    );
}

#[tokio::test]
async fn line_numbers_are_counted_across_chunk_boundaries() {
    let dir = TempDir::new("chunks");
    let text: String = (1..=200).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let path = dir.write("many.log", text.as_bytes());
    let mut config = FileSourceConfig::new(vec![spec(&path)], false);
    config.chunk_size = 100;
    let (chunks, report) = read_static(config).await;
    let chunks = lines_of(&chunks);
    assert!(chunks.len() > 10, "{} chunks", chunks.len());
    let mut next_line = 1;
    for (_, first_line, text) in &chunks {
        assert_eq!(*first_line, next_line);
        assert!(text.ends_with('\n'), "a chunk ends inside a line: {text:?}");
        // The line a chunk says it starts with is the one it holds.
        assert_eq!(
            text.lines().next().unwrap(),
            format!("{{\"n\":{next_line}}}")
        );
        next_line += text.matches('\n').count() as u64;
    }
    assert_eq!(next_line, 201);
    assert_eq!(
        chunks.iter().map(|c| c.2.as_str()).collect::<String>(),
        text
    );
    assert_eq!(report.unwrap().bytes, text.len() as u64);
}

#[tokio::test]
async fn the_unterminated_last_line_is_sent_at_the_end() {
    let dir = TempDir::new("unterminated");
    let path = dir.write("a.log", b"{\"a\":1}\n{\"a\":2}");
    let (chunks, _) = read_static(FileSourceConfig::new(vec![spec(&path)], false)).await;
    let text: String = lines_of(&chunks).into_iter().map(|c| c.2).collect();
    assert_eq!(text, "{\"a\":1}\n{\"a\":2}");
}

#[tokio::test]
async fn documents_are_sent_whole() {
    let dir = TempDir::new("whole");
    let array = "[\n  {\"a\": 1},\n  {\"a\": 2}\n]\n";
    let pretty = "{\n  \"kind\": \"EventList\",\n  \"items\": []\n}\n";
    let a = dir.write("array.json", array.as_bytes());
    let b = dir.write_gz("list.json.gz", pretty);
    let mut config = FileSourceConfig::new(vec![spec(&a), spec(&b)], false);
    config.chunk_size = 8;
    let (chunks, _) = read_static(config).await;
    assert_eq!(
        chunks,
        vec![
            Chunk::Whole {
                origin: origin(&a).into(),
                text: array.into()
            },
            Chunk::Whole {
                origin: origin(&b).into(),
                text: pretty.into()
            },
        ]
    );
}

#[test]
fn globs_expand_in_name_order() {
    let dir = TempDir::new("glob");
    for name in ["b.log", "a.log", "c.txt", ".hidden.log", "a10.log"] {
        dir.write(name, b"{}\n");
    }
    std::fs::create_dir(dir.path("sub")).unwrap();
    std::fs::create_dir(dir.path("sub.log")).unwrap();
    dir.write("sub/d.log", b"{}\n");
    let files = |specs: &[SourceSpec]| -> Vec<PathBuf> {
        expand(specs)
            .unwrap()
            .into_iter()
            .map(|input| match input {
                Input::File(path) => path,
                Input::Stdin => panic!("stdin"),
            })
            .collect()
    };
    let glob = |pattern: &str| SourceSpec::Path(format!("{}/{pattern}", dir.0.display()));
    assert_eq!(
        files(&[glob("*.log")]),
        vec![dir.path("a.log"), dir.path("a10.log"), dir.path("b.log")]
    );
    assert_eq!(
        files(&[glob("?.log")]),
        vec![dir.path("a.log"), dir.path("b.log")]
    );
    assert_eq!(
        files(&[glob("[bc].*")]),
        vec![dir.path("b.log"), dir.path("c.txt")]
    );
    assert_eq!(files(&[glob("*/*.log")]), vec![dir.path("sub/d.log")]);
    assert_eq!(files(&[glob(".*.log")]), vec![dir.path(".hidden.log")]);
    // The given order first; a file named twice is read once.
    assert_eq!(
        files(&[spec(&dir.path("b.log")), glob("?.log")]),
        vec![dir.path("b.log"), dir.path("a.log")]
    );
    assert_eq!(
        expand(&[SourceSpec::Path("-".into()), SourceSpec::Stdin]).unwrap(),
        vec![Input::Stdin]
    );
}

#[test]
fn expansion_errors_name_the_path() {
    let dir = TempDir::new("errors");
    let missing = dir.path("x.log");
    let error = expand(&[spec(&missing)]).unwrap_err().to_string();
    assert_eq!(
        error,
        format!(
            "cannot read `{}`: No such file or directory",
            missing.display()
        )
    );
    let pattern = format!("{}/*.nothing", dir.0.display());
    let error = expand(&[SourceSpec::Path(pattern.clone())])
        .unwrap_err()
        .to_string();
    assert_eq!(error, format!("no file matches `{pattern}`"));
    let pattern = format!("{}/[a.log", dir.0.display());
    let error = expand(&[SourceSpec::Path(pattern.clone())])
        .unwrap_err()
        .to_string();
    assert!(
        error.starts_with(&format!("invalid glob pattern `{pattern}`: ")),
        "{error}"
    );
    let error = expand(&[spec(&dir.0)]).unwrap_err().to_string();
    assert_eq!(
        error,
        format!("cannot read `{}`: is a directory", dir.0.display())
    );
}

#[test]
fn total_size_is_known_for_plain_files_only() {
    let dir = TempDir::new("size");
    let a = dir.write("a.log", b"{}\n{}\n");
    let b = dir.write("b.log", b"{}\n");
    let gz = dir.write_gz("c.log.gz", "{}\n");
    assert_eq!(total_size(&[spec(&a), spec(&b)]), Some(9));
    assert_eq!(total_size(&[spec(&a), spec(&gz)]), None);
    assert_eq!(total_size(&[spec(&a), SourceSpec::Stdin]), None);
    assert_eq!(total_size(&[spec(&dir.path("missing.log"))]), None);
}

#[tokio::test]
async fn a_read_error_names_the_file() {
    let dir = TempDir::new("corrupt");
    let path = dir.write("broken.log.gz", b"this is not gzip at all\n");
    let (_, report) = read_static(FileSourceConfig::new(vec![spec(&path)], false)).await;
    let error = report.unwrap_err().to_string();
    assert!(
        error.starts_with(&format!("cannot read `{}`: ", path.display())),
        "{error}"
    );
}

/// A follow-mode run over `specs`, and what it sends.
struct Following {
    rx: mpsc::Receiver<Chunk>,
    trigger: ShutdownTrigger,
    task: JoinHandle<Result<FileSourceReport, SourceError>>,
}

impl Following {
    fn start(specs: Vec<SourceSpec>) -> Following {
        let (trigger, shutdown) = shutdown::channel();
        let (tx, rx) = mpsc::channel(16);
        let mut config = FileSourceConfig::new(specs, true);
        config.poll_interval = Duration::from_millis(50);
        let task = tokio::spawn(run(config, tx, shutdown));
        Following { rx, trigger, task }
    }

    async fn next(&mut self) -> Chunk {
        match tokio::time::timeout(PATIENCE, self.rx.recv()).await {
            Ok(Some(chunk)) => chunk,
            Ok(None) => panic!("the source ended: {:?}", self.task.is_finished()),
            Err(_) => panic!("nothing arrived within {PATIENCE:?}"),
        }
    }

    /// Receives line chunks until `count` lines have come; returns them with their line numbers.
    async fn lines(&mut self, count: usize) -> Vec<(String, u64, String)> {
        let mut lines = Vec::new();
        while lines.len() < count {
            match self.next().await {
                Chunk::Lines {
                    origin,
                    first_line,
                    text,
                } => {
                    assert!(text.ends_with('\n'), "a partial line was sent: {text:?}");
                    for (i, line) in text.lines().enumerate() {
                        lines.push((origin.to_string(), first_line + i as u64, line.to_owned()));
                    }
                }
                other => panic!("expected lines, got {other:?}"),
            }
        }
        assert_eq!(lines.len(), count, "{lines:?}");
        lines
    }

    async fn stop(self) -> FileSourceReport {
        self.trigger.trigger();
        let report = tokio::time::timeout(Duration::from_secs(2), self.task).await;
        report.expect("shutdown within 2 s").unwrap().unwrap()
    }
}

fn line(origin: &Path, number: u64, text: &str) -> (String, u64, String) {
    (self::origin(origin), number, text.to_owned())
}

#[tokio::test]
async fn follow_sends_appended_lines_and_holds_partial_ones() {
    let dir = TempDir::new("append");
    let path = dir.write("audit.log", b"{\"n\":1}\n");
    let mut run = Following::start(vec![spec(&path)]);
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"n\":1}")]);
    append(&path, "{\"n\":2}\n{\"n\":3}\n{\"n\":");
    assert_eq!(
        run.lines(2).await,
        vec![line(&path, 2, "{\"n\":2}"), line(&path, 3, "{\"n\":3}")]
    );
    append(&path, "4}\n");
    assert_eq!(run.lines(1).await, vec![line(&path, 4, "{\"n\":4}")]);
    let report = run.stop().await;
    assert_eq!(
        report,
        FileSourceReport {
            files: 1,
            bytes: 32,
            restarts: 0
        }
    );
}

#[tokio::test]
async fn follow_survives_rotation_by_rename_and_create() {
    let dir = TempDir::new("rotate");
    let path = dir.path("audit.log");
    let mut writer = std::fs::File::create(&path).unwrap();
    writer.write_all(b"{\"old\":1}\n").unwrap();
    let mut run = Following::start(vec![spec(&path)]);
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"old\":1}")]);
    std::fs::rename(&path, dir.path("audit.log.1")).unwrap();
    // The writer has not reopened yet: this still belongs to the old file.
    writer.write_all(b"{\"old\":2}\n").unwrap();
    dir.write("audit.log", b"{\"new\":1}\n");
    assert_eq!(run.lines(1).await, vec![line(&path, 2, "{\"old\":2}")]);
    assert_eq!(
        run.next().await,
        Chunk::Restarted {
            origin: origin(&path).into(),
            reason: "rotated".into()
        }
    );
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"new\":1}")]);
    append(&path, "{\"new\":2}\n");
    assert_eq!(run.lines(1).await, vec![line(&path, 2, "{\"new\":2}")]);
    let report = run.stop().await;
    assert_eq!((report.files, report.restarts), (2, 1));
}

#[tokio::test]
async fn follow_restarts_a_truncated_file() {
    let dir = TempDir::new("truncate");
    let path = dir.write("audit.log", b"{\"before\":1}\n{\"before\":2}\n");
    let mut run = Following::start(vec![spec(&path)]);
    assert_eq!(run.lines(2).await.len(), 2);
    // copytruncate: same file, emptied, then written again.
    let file = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    file.set_len(0).unwrap();
    drop(file);
    append(&path, "{\"after\":1}\n");
    assert_eq!(
        run.next().await,
        Chunk::Restarted {
            origin: origin(&path).into(),
            reason: "truncated".into()
        }
    );
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"after\":1}")]);
    assert_eq!(run.stop().await.restarts, 1);
}

#[tokio::test]
async fn follow_waits_for_files_that_do_not_exist_yet() {
    let dir = TempDir::new("later");
    let path = dir.path("audit.log");
    let pattern = SourceSpec::Path(format!("{}/*.jsonl", dir.0.display()));
    let mut run = Following::start(vec![spec(&path), pattern]);
    dir.write("audit.log", b"{\"a\":1}\n");
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"a\":1}")]);
    // A glob picks up files that appear later, from their start.
    let later = dir.write("later.jsonl", b"{\"b\":1}\n{\"b\":2}\n");
    assert_eq!(
        run.lines(2).await,
        vec![line(&later, 1, "{\"b\":1}"), line(&later, 2, "{\"b\":2}")]
    );
    assert_eq!(run.stop().await.files, 2);
}

#[tokio::test]
async fn a_file_renamed_into_a_followed_glob_is_not_read_twice() {
    let dir = TempDir::new("renamed");
    let path = dir.write("audit.log", b"{\"old\":1}\n");
    let mut run = Following::start(vec![SourceSpec::Path(format!(
        "{}/audit.log*",
        dir.0.display()
    ))]);
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"old\":1}")]);
    std::fs::rename(&path, dir.path("audit.log.1")).unwrap();
    dir.write("audit.log", b"{\"new\":1}\n");
    assert_eq!(
        run.next().await,
        Chunk::Restarted {
            origin: origin(&path).into(),
            reason: "rotated".into()
        }
    );
    assert_eq!(run.lines(1).await, vec![line(&path, 1, "{\"new\":1}")]);
    // Had `audit.log.1` been read again, its line would come before this one.
    append(&path, "{\"new\":2}\n");
    assert_eq!(run.lines(1).await, vec![line(&path, 2, "{\"new\":2}")]);
    run.stop().await;
}

#[tokio::test]
async fn follow_reads_documents_once_and_ends_when_nothing_can_grow() {
    let dir = TempDir::new("docs");
    let array = "[{\"a\":1}]\n";
    let path = dir.write("events.json", array.as_bytes());
    let gz = dir.write_gz("old.log.gz", "{\"z\":1}\n");
    let mut run = Following::start(vec![spec(&path), spec(&gz)]);
    assert_eq!(
        run.next().await,
        Chunk::Whole {
            origin: origin(&path).into(),
            text: array.into()
        }
    );
    assert_eq!(run.lines(1).await, vec![line(&gz, 1, "{\"z\":1}")]);
    let report = tokio::time::timeout(PATIENCE, run.task)
        .await
        .expect("the run ends by itself");
    assert_eq!(report.unwrap().unwrap().files, 2);
}

#[tokio::test]
async fn shutdown_stops_a_follow_run_promptly() {
    let dir = TempDir::new("shutdown");
    let path = dir.write("audit.log", b"{}\n");
    let mut run = Following::start(vec![spec(&path), spec(&dir.path("never.log"))]);
    run.lines(1).await;
    let report = run.stop().await;
    assert_eq!(report.files, 1);
}

#[tokio::test]
async fn shutdown_stops_a_static_run_blocked_on_a_full_channel() {
    let dir = TempDir::new("blocked");
    let text: String = (0..10_000).map(|i| format!("{{\"n\":{i}}}\n")).collect();
    let path = dir.write("big.log", text.as_bytes());
    let (trigger, shutdown) = shutdown::channel();
    let (tx, mut rx) = mpsc::channel(1);
    let mut config = FileSourceConfig::new(vec![spec(&path)], false);
    config.chunk_size = 1024;
    let task = tokio::spawn(run(config, tx, shutdown));
    // Nobody reads after the first chunk: the source waits on the full channel.
    let first = tokio::time::timeout(PATIENCE, rx.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(first.len() <= 2048);
    trigger.trigger();
    let report = tokio::time::timeout(Duration::from_secs(2), task)
        .await
        .expect("returns promptly");
    let report = report.unwrap().unwrap();
    assert!(report.bytes < text.len() as u64, "{report:?}");
}
