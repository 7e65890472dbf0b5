//! The command line.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "k8scop",
    version,
    about = "Turns Kubernetes audit logs into alerts people act on"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Load and compile a ruleset without running it; print every error and warning.
    ///
    /// Exit status: 0 without errors (warnings allowed), 1 when the ruleset has errors, 2 when a
    /// path cannot be read.
    Check(CheckArgs),
    /// Run a ruleset over sample events, or run its `test` blocks.
    ///
    /// Exit status: 0 when everything loaded and every test passed, 1 when a test failed, 2 when
    /// the rules or the events could not be loaded.
    TestRule(TestRuleArgs),
    /// Run a ruleset over audit logs (files, globs, stdin, Elasticsearch) and write the alerts it
    /// raises.
    ///
    /// Static runs read their inputs (or a time range) to the end; streaming runs (`-A streaming`)
    /// follow them and reload the rules when they change. Exit status: 0 when the run ended normally or after a
    /// graceful shutdown, 1 when some alerts could not be delivered, 2 when the configuration,
    /// the rules or a source could not be used.
    Run(Box<crate::run_args::RunArgs>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Human,
    Json,
}

/// Options shared by the commands that load rules.
#[derive(Debug, Args)]
pub struct RulesArgs {
    /// Rules files or directories (searched recursively for `*.rules`).
    #[arg(value_name = "RULES_PATH", default_value = "rules")]
    pub paths: Vec<PathBuf>,
    /// The aggregation window of rules without `within`, in seconds (`--max-alert-delta`).
    #[arg(
        short = 'D',
        long = "max-alert-delta",
        value_name = "SECONDS",
        default_value_t = 600.0
    )]
    pub max_alert_delta: f64,
}

#[derive(Debug, Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct TestRuleArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// Event files (JSON lines, an `EventList` or a JSON array); `-` reads standard input.
    /// Without `--events`, the ruleset's `test` blocks run.
    #[arg(long = "events", value_name = "FILE")]
    pub events: Vec<PathBuf>,
    /// Only report these rules or sequences (and, without `--events`, only their tests).
    #[arg(long = "rule", value_name = "NAME")]
    pub rules_filter: Vec<String>,
    /// Output format.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

impl RulesArgs {
    pub fn compile_options(&self) -> k8scop_engine::CompileOptions {
        k8scop_engine::CompileOptions {
            default_within_ms: (self.max_alert_delta * 1000.0).round() as i64,
            ..Default::default()
        }
    }
}
