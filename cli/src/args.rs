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
    /// Generate reference documentation from the ruleset.
    #[command(subcommand)]
    Docs(DocsCommand),
    /// Translate other tools' detection rules into k8scop `.rules` files.
    #[command(subcommand)]
    Import(ImportCommand),
}

#[derive(Debug, Subcommand)]
pub enum ImportCommand {
    /// Sigma rules for the Kubernetes audit log (detection and correlation rules) into one
    /// `.rules` file per Sigma file.
    ///
    /// Every rule is reported: imported under which name, or skipped and why. `k8scop check
    /// DIR` then warns about the imported rules that can never match a real audit event.
    /// Exit status: 0 when every rule was imported, 1 when some were skipped or a file is not
    /// valid Sigma (the others are still written), 2 when an input cannot be read or the
    /// output cannot be written.
    Sigma(ImportRulesArgs),
    /// Falco's YAML rules for Kubernetes audit events (the k8saudit plugin's `ka.*` and the json
    /// plugin's `jevt.*` fields) as readable, editable `.rules` files.
    ///
    /// Files are read in order, as Falco loads them: later ones append to, override or replace
    /// what earlier ones define. What does not translate is listed on stderr (and as a comment in
    /// the generated file); the rest is imported. Exit status: 0 when everything was imported, 1
    /// when some items were not, 2 when a file cannot be read or parsed or `--out` cannot be
    /// written.
    Falco(ImportFalcoArgs),
    /// Elastic's detection rules for Kubernetes audit logs (TOML files; `query` and `new_terms`
    /// rules in KQL, EQL rules, ES|QL rules of `WHERE` and `STATS ... BY`) into one `.rules` file
    /// per rule.
    ///
    /// The fields of Elastic Agent's documents (`kubernetes.audit.*`, `user.name`, `source.ip`,
    /// `user_agent.original`, ...) are read from the audit event, so the rules run on raw audit
    /// logs as well as on Elastic Agent's documents. Every rule is reported: imported under which
    /// name, or skipped and why. Exit status: 0 when every rule
    /// was imported, 1 when some were skipped or a file is not an Elastic rule (the others are
    /// still written), 2 when an input cannot be read or the output cannot be written.
    Elastic(ImportRulesArgs),
}

/// The arguments of the importers that write one `.rules` file per input (Sigma, Elastic).
#[derive(Debug, Args)]
pub struct ImportRulesArgs {
    /// Rule files, or directories searched recursively for them (Sigma: `*.yml` and `*.yaml`;
    /// Elastic: `*.toml`).
    #[arg(value_name = "FILE", required = true)]
    pub inputs: Vec<PathBuf>,
    /// The directory the `.rules` files are written to (created when missing; files of the
    /// same names are replaced).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output format of the report.
    #[arg(long, value_enum, default_value_t = Format::Human)]
    pub format: Format,
}

#[derive(Debug, Args)]
pub struct ImportFalcoArgs {
    /// Falco rules files (YAML), in loading order.
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// The directory to write the `.rules` files to (created when missing).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Report only the first matching rule per event, in Falco's rule order (Falco's default);
    /// without it, every rule reports every event it matches.
    #[arg(long)]
    pub first_match: bool,
}

#[derive(Debug, Subcommand)]
pub enum DocsCommand {
    /// One Markdown page per rule and sequence, and an index, generated from the `.rules` files.
    ///
    /// Pages start with a "Generated by" line; pages without it are never overwritten, generated
    /// pages of rules that no longer exist are removed. With `--check`, nothing is written: the
    /// exit status is 1 when the pages in `--out` differ from what would be written. Exit status:
    /// 0 when the pages were written (or are current), 1 when `--check` finds them outdated, 2
    /// when the rules cannot be loaded or the pages cannot be read or written.
    Rules(DocsRulesArgs),
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
pub struct DocsRulesArgs {
    #[command(flatten)]
    pub rules: RulesArgs,
    /// The directory of the pages (`docs/rules` in the k8scop repository).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Write nothing; exit 1 when the pages in `--out` are not what would be written.
    #[arg(long)]
    pub check: bool,
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
