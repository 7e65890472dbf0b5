//! `k8scop run`: the arguments, the file and the environment become a validated [`RunConfig`];
//! then the source, the sinks and the checkpoint store are built and the pipeline runs on a
//! two-worker tokio runtime, while [`Display`] shows progress and notices on stderr.
//!
//! Signals live here: SIGINT/SIGTERM start a graceful shutdown (a second one, or the shutdown
//! deadline passing, exits at once), SIGHUP forces a reload of the rules.
//!
//! Exit status: 0 when the run ended (at the end of the input or after a graceful shutdown) with
//! every alert delivered, 1 when some alerts could not be delivered, 2 when the configuration,
//! the ruleset or a source could not be used.

use std::sync::Arc;
use std::time::Duration;

use k8scop_runtime::checkpoint::elasticsearch::{EsStateConfig, EsStateStore};
use k8scop_runtime::checkpoint::CheckpointStore;
use k8scop_runtime::elastic::{EsClient, EsError};
use k8scop_runtime::metrics::{self, MetricsServer};
use k8scop_runtime::pipeline::{self, Notice, Pipeline, PipelineError, Stats};
use k8scop_runtime::server::ServerError;
use k8scop_runtime::shutdown::{self, ShutdownTrigger};
use k8scop_runtime::sinks::elasticsearch::{EsSink, EsSinkConfig};
use k8scop_runtime::sinks::email::{EmailConfig, EmailSink, EmailTls};
use k8scop_runtime::sinks::file::FileSink;
use k8scop_runtime::sinks::stdout::{OutputFormat, StdoutSink};
use k8scop_runtime::sinks::webhook::{WebhookConfig, WebhookFormat, WebhookSink};
use k8scop_runtime::sinks::{Sink, SinkError};
use k8scop_runtime::sources::elasticsearch::EsSource;
use k8scop_runtime::sources::webhook::WebhookSource;
use k8scop_runtime::sources::{FileSource, Source};
use tokio::sync::mpsc;

use crate::commands::{EXIT_FAILED, EXIT_UNLOADABLE};
use crate::config::{
    ConfigError, ElasticSetup, FileConfig, RunConfig, SinkSpec, SourceSetup, Terminal,
};
use crate::diagnostics::{self, plural};
use crate::progress::Display;
use crate::run_args::{EmailTlsArg, OutputArg, RunArgs, WebhookFormatArg};

/// Tokio worker threads: the target machine has two cores.
const WORKER_THREADS: usize = 2;
/// How long tasks still running after the pipeline returned may take to notice the end.
const RUNTIME_SHUTDOWN: Duration = Duration::from_secs(1);

pub fn run(args: &RunArgs) -> u8 {
    let config = match configure(args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("error: {e}");
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
    // The servers bind before the rules load: a busy port or a bad certificate stops the run
    // at once, with exit status 2.
    let metrics_server = match config.metrics.as_deref().map(MetricsServer::bind) {
        Some(Err(e)) => {
            eprintln!("error: metrics: {e}");
            return EXIT_UNLOADABLE;
        }
        bound => bound.and_then(Result::ok),
    };
    let stats = Arc::new(Stats::new());
    let mut display = Display::start(Arc::clone(&stats), config.display);
    let result = runtime.block_on(async {
        let notices = metrics::observing(Arc::clone(&stats), display.notices());
        let (trigger, shutdown) = shutdown::channel();
        let (metrics_stop, metrics_shutdown) = shutdown::channel();
        let metrics_server = metrics_server.map(|server| {
            notices(Notice::Listening {
                what: "metrics",
                url: server.url(),
            });
            tokio::spawn(server.run(Arc::clone(&stats), metrics_shutdown))
        });
        let (reload_tx, forced_reloads) = mpsc::channel(1);
        let signals = tokio::spawn(handle_signals(
            trigger,
            reload_tx,
            config.shutdown_deadline,
            std::sync::Arc::clone(&notices),
        ));
        let mut sinks = build_sinks(&config.sinks, &display, &notices)?;
        let (source, checkpoints): (Box<dyn Source>, Option<Box<dyn CheckpointStore>>) =
            match &config.source {
                SourceSetup::Files(files) => (Box::new(FileSource::new(files.clone())), None),
                SourceSetup::Webhook(w) => {
                    let source = WebhookSource::bind(w.clone()).map_err(Failure::Listen)?;
                    (Box::new(source), None)
                }
                SourceSetup::Elastic(setup) => {
                    let (source, sink, store) = connect_elastic(setup, &stats, &notices).await?;
                    sinks.extend(sink);
                    (source, Some(store))
                }
            };
        let result = pipeline::run(Pipeline {
            config: config.pipeline,
            source,
            sinks,
            checkpoints,
            stats,
            notices,
            shutdown,
            forced_reloads,
        })
        .await
        .map_err(Failure::Pipeline);
        signals.abort();
        // The probes answer until the very end: /readyz says 503 while the run drains.
        metrics_stop.trigger();
        if let Some(task) = metrics_server {
            let _ = task.await;
        }
        result
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
        Err(Failure::Sink(e)) => {
            display.print(&format!("error: {e}"));
            EXIT_UNLOADABLE
        }
        Err(Failure::Listen(e)) => {
            display.print(&format!("error: audit webhook: {e}"));
            EXIT_UNLOADABLE
        }
        Err(Failure::Elastic(e)) => {
            display.print(&format!("error: cannot use Elasticsearch: {e}"));
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

/// Connects to Elasticsearch and builds its source, alerts sink and checkpoint store.
async fn connect_elastic(
    setup: &ElasticSetup,
    stats: &Arc<Stats>,
    notices: &Arc<dyn Fn(Notice) + Send + Sync>,
) -> Result<
    (
        Box<dyn Source>,
        Option<Box<dyn Sink>>,
        Box<dyn CheckpointStore>,
    ),
    Failure,
> {
    let on_retry = {
        let notices = Arc::clone(notices);
        move |e: &EsError, wait: Duration| {
            notices(Notice::SourceRetry {
                source: "elasticsearch".into(),
                message: e.to_string(),
                retry_in: wait,
            })
        }
    };
    let client = EsClient::connect(&setup.server, &on_retry)
        .await
        .map_err(Failure::Elastic)?;
    notices(Notice::Connected {
        server: format!("{} at {}", client.flavor(), client.url()),
    });
    let sink: Option<Box<dyn Sink>> = match &setup.alerts {
        Some(index) => {
            let mut sink_config = EsSinkConfig::new(index.clone());
            sink_config.dead_letter = setup.dead_letter.clone();
            sink_config.events_url = setup.events_url.clone();
            let sink = EsSink::new(
                client.clone(),
                sink_config,
                Arc::clone(stats),
                Arc::clone(notices),
            )
            .await
            .map_err(Failure::Sink)?;
            Some(Box::new(sink))
        }
        None => None,
    };
    let mut store = EsStateStore::new(
        client.clone(),
        EsStateConfig {
            index: setup.state_index.clone(),
            id: setup.state_id.clone(),
            instance: setup.instance.clone(),
            lease: Duration::from_secs(60),
        },
    );
    if setup.fresh {
        store.forget_checkpoint();
    }
    let source = EsSource::new(client, setup.source.clone());
    Ok((Box::new(source), sink, Box::new(store)))
}

/// SIGINT or SIGTERM starts a graceful shutdown; a second one, or the deadline passing, exits at
/// once. SIGHUP reloads the rules (and never kills the run, its default action).
async fn handle_signals(
    trigger: ShutdownTrigger,
    reload: mpsc::Sender<()>,
    deadline: Duration,
    notices: Arc<dyn Fn(Notice) + Send + Sync>,
) {
    use tokio::signal::unix::{signal, SignalKind};
    let (Ok(mut int), Ok(mut term), Ok(mut hup)) = (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
        signal(SignalKind::hangup()),
    ) else {
        return;
    };
    loop {
        tokio::select! {
            _ = int.recv() => break,
            _ = term.recv() => break,
            _ = hup.recv() => {
                // A reload already waiting covers this one too.
                let _ = reload.try_send(());
            }
        }
    }
    notices(Notice::ShuttingDown);
    trigger.trigger();
    tokio::select! {
        _ = int.recv() => {
            eprintln!("k8scop: second signal, exiting at once");
            std::process::exit(130);
        }
        _ = term.recv() => {
            eprintln!("k8scop: second signal, exiting at once");
            std::process::exit(143);
        }
        _ = tokio::time::sleep(deadline) => {
            eprintln!("k8scop: shutdown did not finish within {} s (sinks still flushing); exiting", deadline.as_secs());
            std::process::exit(1);
        }
    }
}

/// Why the run did not produce a summary.
enum Failure {
    /// A sink could not be set up (an alerts file that cannot be opened, ...); the error names
    /// the sink.
    Sink(SinkError),
    /// The Elasticsearch server, which the source, the alerts index and the checkpoints share,
    /// cannot be used.
    Elastic(EsError),
    /// The audit webhook cannot listen (a busy port, unusable TLS files).
    Listen(ServerError),
    /// The pipeline could not start or had to stop.
    Pipeline(PipelineError),
}

/// Reads `--config` (if any) and validates everything against the real environment and clock.
fn configure(args: &RunArgs) -> Result<RunConfig, ConfigError> {
    let file = match &args.config {
        Some(path) => FileConfig::load(path)?,
        None => FileConfig::default(),
    };
    let env = |name: &str| std::env::var(name).ok();
    RunConfig::build(args, file, &env, chrono::Utc::now(), Terminal::detect())
}

fn build_sinks(
    specs: &[SinkSpec],
    display: &Display,
    notices: &Arc<dyn Fn(Notice) + Send + Sync>,
) -> Result<Vec<Box<dyn Sink>>, Failure> {
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
            SinkSpec::File(path) => Box::new(FileSink::open(path).map_err(Failure::Sink)?),
            SinkSpec::Webhook(w) => {
                let mut config = WebhookConfig::new(w.url.clone());
                config.format = match w.format {
                    WebhookFormatArg::Json => WebhookFormat::Json,
                    WebhookFormatArg::Slack => WebhookFormat::Slack,
                };
                config.headers = w.headers.clone();
                // The sink's message never quotes the URL: it may hold a secret.
                Box::new(
                    WebhookSink::new(config)
                        .map_err(Failure::Sink)?
                        .with_notices(Arc::clone(notices)),
                )
            }
            SinkSpec::Email(e) => {
                let mut config = EmailConfig::new(e.host.clone(), e.from.clone(), e.to.clone());
                config.port = e.port;
                config.tls = match e.tls {
                    EmailTlsArg::Starttls => EmailTls::StartTls,
                    EmailTlsArg::Tls => EmailTls::Tls,
                    EmailTlsArg::None => EmailTls::None,
                };
                config.ca_file = e.ca_file.clone();
                config.credentials = e.credentials.clone();
                config.subject_prefix = e.subject_prefix.clone();
                config.window = e.window;
                Box::new(EmailSink::new(config).map_err(Failure::Sink)?)
            }
        };
        sinks.push(sink);
    }
    Ok(sinks)
}
