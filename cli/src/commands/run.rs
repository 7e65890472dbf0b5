//! `k8scop run`: the arguments, the file and the environment become a validated [`RunConfig`];
//! then the sinks are built and the pipeline runs on a two-worker tokio runtime, while
//! [`Display`] shows progress and notices on stderr. Signals are the pipeline's business.
//!
//! Exit status: 0 when the run ended (at the end of the input or after a graceful shutdown) with
//! every alert delivered, 1 when some alerts could not be delivered, 2 when the configuration,
//! the ruleset or a source could not be used.

use std::sync::Arc;
use std::time::Duration;

use k8scop_engine::pipeline::{self, PipelineError, Stats};
use k8scop_engine::sinks::file::FileSink;
use k8scop_engine::sinks::stdout::{OutputFormat, StdoutSink};
use k8scop_engine::sinks::webhook::{WebhookConfig, WebhookFormat, WebhookSink};
use k8scop_engine::sinks::Sink;

use crate::commands::{EXIT_FAILED, EXIT_UNLOADABLE};
use crate::config::{FileConfig, RunConfig, SinkSpec, Terminal};
use crate::diagnostics::{self, plural};
use crate::progress::Display;
use crate::run_args::{OutputArg, RunArgs, WebhookFormatArg};

/// Tokio worker threads: the target machine has two cores.
const WORKER_THREADS: usize = 2;
/// How long tasks still running after the pipeline returned may take to notice the end.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

pub fn run(args: &RunArgs) -> u8 {
    let config = match configure(args) {
        Ok(c) => c,
        Err(message) => {
            eprintln!("error: {message}");
            return EXIT_UNLOADABLE;
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(WORKER_THREADS)
        .thread_name("k8scop-worker")
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return EXIT_UNLOADABLE;
        }
    };
    let stats = Arc::new(Stats::new());
    let mut display = Display::start(Arc::clone(&stats), config.display);
    let result = runtime.block_on(async {
        let sinks = build_sinks(&config.sinks, &display)?;
        pipeline::run(config.pipeline, sinks, stats, display.notices())
            .await
            .map_err(Failure::Pipeline)
    });
    runtime.shutdown_timeout(RUNTIME_SHUTDOWN);
    match result {
        Ok(summary) => {
            display.summary(&summary);
            if summary.undelivered > 0 {
                EXIT_FAILED
            } else {
                0
            }
        }
        Err(Failure::Sink(message)) => {
            display.print(&format!("error: {message}"));
            EXIT_UNLOADABLE
        }
        Err(Failure::Pipeline(PipelineError::Ruleset { diagnostics: list })) => {
            display.finish();
            let (errors, _) = diagnostics::print_all(&list);
            eprintln!(
                "error: the ruleset has {}",
                plural(errors, "error", "errors")
            );
            EXIT_UNLOADABLE
        }
        Err(Failure::Pipeline(e)) => {
            display.print(&format!("error: {e}"));
            EXIT_UNLOADABLE
        }
    }
}

/// Why the run did not produce a summary.
enum Failure {
    /// A sink could not be set up (an alerts file that cannot be opened, ...).
    Sink(String),
    Pipeline(PipelineError),
}

/// Reads `--config` (if any) and validates everything against the real environment and clock.
fn configure(args: &RunArgs) -> Result<RunConfig, String> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    let env = |name: &str| std::env::var(name).ok();
    RunConfig::build(args, file, &env, chrono::Utc::now(), Terminal::detect())
        .map_err(|e| e.to_string())
}

fn build_sinks(specs: &[SinkSpec], display: &Display) -> Result<Vec<Box<dyn Sink>>, Failure> {
    let mut sinks: Vec<Box<dyn Sink>> = Vec::with_capacity(specs.len());
    for spec in specs {
        let sink: Box<dyn Sink> = match spec {
            SinkSpec::Stdout { format, colour } => {
                let format = match format {
                    OutputArg::Human => OutputFormat::Human,
                    OutputArg::Json => OutputFormat::Json,
                };
                display.wrap_stdout(Box::new(StdoutSink::new(format, *colour)))
            }
            SinkSpec::File(path) => Box::new(FileSink::open(path).map_err(|e| {
                Failure::Sink(format!(
                    "cannot open the alerts file `{}`: {}",
                    path.display(),
                    e.message
                ))
            })?),
            SinkSpec::Webhook(w) => {
                let mut config = WebhookConfig::new(w.url.clone());
                config.format = match w.format {
                    WebhookFormatArg::Json => WebhookFormat::Json,
                    WebhookFormatArg::Slack => WebhookFormat::Slack,
                };
                config.headers = w.headers.clone();
                // The sink's message never quotes the URL: it may hold a secret.
                Box::new(WebhookSink::new(config).map_err(|e| Failure::Sink(e.to_string()))?)
            }
        };
        sinks.push(sink);
    }
    Ok(sinks)
}
