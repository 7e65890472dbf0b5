//! The file sink (`--alerts-file`): one alert document per line (JSON lines), appended.
//!
//! The file is opened for appending and created if missing, so that a restarted k8scop adds to
//! what an earlier run wrote. Each batch is rendered into one buffer and written with one
//! `write_all` at the end of [`Sink::send`]: once `send` returns, the batch is with the operating
//! system, so a crash of k8scop loses at most the batch being written. [`Sink::flush`], called
//! at shutdown and at the end of a static run, also asks the OS to put the data on disk
//! (`fdatasync`), which a batch does not do because it would cost a disk round trip per batch.
//!
//! A write that fails part-way (a full disk) leaves a cut line at the end of the file. The
//! next batch then starts with a newline, so that the cut line stays alone on its line instead
//! of corrupting the next document, and only the alerts whose line was not completely written
//! are counted as undelivered.
//!
//! Writes happen on tokio's blocking pool, as for stdout: a slow disk or NFS mount blocks a
//! blocking thread, not a runtime worker.

use std::fs::File;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use super::{BoxFuture, Sink, SinkError, SinkFailure};
use k8scop_engine::alert::AlertUpdate;

/// Appends alert documents to a file, one per line.
#[derive(Debug)]
pub struct FileSink {
    path: PathBuf,
    /// `None` only if a write thread died with it.
    file: Option<File>,
    /// The rendered batch, reused from one batch to the next.
    buf: Vec<u8>,
    /// The file ends with a line cut short by a failed write.
    torn: bool,
}

impl FileSink {
    /// Opens `path` for appending, creating it if it does not exist (but not its directory).
    pub fn open(path: impl AsRef<Path>) -> Result<FileSink, SinkError> {
        let path = path.as_ref().to_path_buf();
        let file = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(&path)
            .map_err(|error| {
                SinkError::new(
                    sink_name(&path),
                    SinkFailure::Io {
                        action: "cannot open for appending",
                        error,
                    },
                    0,
                )
            })?;
        Ok(FileSink {
            path,
            file: Some(file),
            buf: Vec::with_capacity(64 * 1024),
            torn: false,
        })
    }

    /// The path the sink appends to.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, failure: SinkFailure, undelivered: usize) -> SinkError {
        SinkError::new(sink_name(&self.path), failure, undelivered)
    }
}

/// `file /var/log/k8scop/alerts.jsonl`.
fn sink_name(path: &Path) -> String {
    format!("file {}", path.display())
}

/// Writes all of `buf`, or as much as the writer takes before an error. Returns the number of
/// bytes written, and the error if it stopped early.
fn write_counted(out: &mut impl Write, buf: &[u8]) -> (usize, io::Result<()>) {
    let mut written = 0;
    while written < buf.len() {
        match out.write(&buf[written..]) {
            Ok(0) => return (written, Err(io::ErrorKind::WriteZero.into())),
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (written, Err(e)),
        }
    }
    (written, Ok(()))
}

/// The lines of a batch that `written` bytes completed. `repair` is the newline written first
/// to end a previous cut line: it is not an alert.
fn complete_lines(buf: &[u8], written: usize, repair: bool) -> usize {
    let newlines = memchr::memchr_iter(b'\n', &buf[..written]).count();
    newlines - usize::from(repair && written > 0)
}

impl Sink for FileSink {
    fn name(&self) -> String {
        sink_name(&self.path)
    }

    fn send<'a>(&'a mut self, updates: &'a [AlertUpdate]) -> BoxFuture<'a, Result<(), SinkError>> {
        Box::pin(async move {
            if updates.is_empty() {
                return Ok(());
            }
            let Some(mut file) = self.file.take() else {
                return Err(self.error(
                    SinkFailure::Closed("the file is no longer open"),
                    updates.len(),
                ));
            };
            let mut buf = std::mem::take(&mut self.buf);
            buf.clear();
            let repair = self.torn;
            if repair {
                buf.push(b'\n');
            }
            for update in updates {
                update.alert.doc().write_json(&mut buf);
                buf.push(b'\n');
            }
            let joined = tokio::task::spawn_blocking(move || {
                let (written, result) = write_counted(&mut file, &buf);
                (file, buf, written, result)
            })
            .await;
            let (file, buf, written, result) = match joined {
                Ok(done) => done,
                Err(e) => {
                    return Err(
                        self.error(SinkFailure::panicked("the write thread", &e), updates.len())
                    )
                }
            };
            self.file = Some(file);
            if written > 0 {
                self.torn = buf[written - 1] != b'\n';
            }
            let done = complete_lines(&buf, written, repair);
            self.buf = buf;
            result.map_err(|error| {
                self.error(
                    SinkFailure::Io {
                        action: "cannot write",
                        error,
                    },
                    updates.len() - done,
                )
            })
        })
    }

    fn flush(&mut self) -> BoxFuture<'_, Result<(), SinkError>> {
        Box::pin(async move {
            // Batches are not held back: only the disk's cache is left to flush.
            let Some(file) = self.file.take() else {
                return Ok(());
            };
            let joined = tokio::task::spawn_blocking(move || {
                let result = file.sync_data();
                (file, result)
            })
            .await;
            match joined {
                Ok((file, result)) => {
                    self.file = Some(file);
                    result.map_err(|error| {
                        self.error(
                            SinkFailure::Io {
                                action: "cannot sync to disk",
                                error,
                            },
                            0,
                        )
                    })
                }
                Err(e) => Err(self.error(SinkFailure::panicked("the sync thread", &e), 0)),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sinks::stdout::fixtures::updates;

    /// A fresh path in the temporary directory, removed when dropped.
    struct TempPath(PathBuf);

    impl TempPath {
        fn new(name: &str) -> TempPath {
            let path = std::env::temp_dir().join(format!(
                "k8scop-file-sink-{}-{name}.jsonl",
                std::process::id()
            ));
            let _ = std::fs::remove_file(&path);
            TempPath(path)
        }
    }

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }

    #[tokio::test]
    async fn appends_json_lines_and_keeps_them_across_reopen() {
        let tmp = TempPath::new("append");
        let events = updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("alice", "2024-05-01T12:01:00Z"),
            ("bob", "2024-05-01T12:02:00Z"),
        ]);

        let mut sink = FileSink::open(&tmp.0).unwrap();
        assert_eq!(sink.name(), format!("file {}", tmp.0.display()));
        sink.send(&events[..2]).await.unwrap();
        // On disk at the end of the batch, before any flush() and while the sink is open.
        let text = std::fs::read_to_string(&tmp.0).unwrap();
        assert_eq!(text.lines().count(), 2, "{text}");
        drop(sink);

        let mut sink = FileSink::open(&tmp.0).unwrap();
        sink.send(&events[2..]).await.unwrap();
        sink.flush().await.unwrap();
        drop(sink);

        let text = std::fs::read_to_string(&tmp.0).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        for (line, update) in lines.iter().zip(&events) {
            let doc: serde_json::Value = serde_json::from_str(line).unwrap();
            assert_eq!(doc, update.alert.to_json());
        }
        assert!(text.ends_with('\n'));
    }

    #[test]
    fn an_open_error_names_the_path() {
        let path = std::env::temp_dir()
            .join("k8scop-no-such-dir")
            .join("alerts.jsonl");
        let err = FileSink::open(&path).unwrap_err();
        let text = err.to_string();
        assert!(
            text.starts_with(&format!(
                "sink file {}: cannot open for appending: ",
                path.display()
            )),
            "{text}"
        );
        match err.failure {
            SinkFailure::Io { error, .. } => assert_eq!(error.kind(), io::ErrorKind::NotFound),
            other => panic!("expected an I/O failure, got {other:?}"),
        }
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn a_write_error_names_the_path_and_counts_the_batch() {
        let events = updates(&[
            ("alice", "2024-05-01T12:00:00Z"),
            ("bob", "2024-05-01T12:00:00Z"),
        ]);
        // Every write to /dev/full fails with "no space left on device".
        let mut sink = FileSink::open("/dev/full").unwrap();
        let err = sink.send(&events).await.unwrap_err();
        assert_eq!(err.undelivered, 2);
        assert!(
            err.to_string()
                .starts_with("sink file /dev/full: cannot write: No space left on device"),
            "{err}"
        );
        assert!(
            matches!(&err.failure, SinkFailure::Io { error, .. } if error.raw_os_error() == Some(28)),
            "{err:?}"
        );
    }

    /// Takes `room` bytes, then fails as a full disk does.
    struct Full {
        taken: Vec<u8>,
        room: usize,
    }

    impl Write for Full {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.taken.len() >= self.room {
                return Err(io::Error::other("disk full"));
            }
            // In small pieces, as a real writer may.
            let n = buf.len().min(self.room - self.taken.len()).min(7);
            self.taken.extend_from_slice(&buf[..n]);
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_cut_write_counts_only_the_lines_it_did_not_finish() {
        let batch = b"{\"a\":1}\n{\"b\":2}\n{\"c\":3}\n";
        let mut out = Full {
            taken: Vec::new(),
            room: 12,
        };
        let (written, result) = write_counted(&mut out, batch);
        assert_eq!(written, 12);
        assert!(result.is_err());
        assert_eq!(out.taken, &batch[..12]);
        assert_eq!(complete_lines(batch, written, false), 1);

        // The next batch repairs the cut line with a newline, which is not an alert.
        let repaired = b"\n{\"d\":4}\n";
        assert_eq!(complete_lines(repaired, 1, true), 0);
        assert_eq!(complete_lines(repaired, repaired.len(), true), 1);

        let mut out = Full {
            taken: Vec::new(),
            room: 100,
        };
        assert_eq!(write_counted(&mut out, batch).0, batch.len());
        assert_eq!(out.taken, batch);
    }
}
