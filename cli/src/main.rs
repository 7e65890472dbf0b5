//! `k8scop`: turns Kubernetes audit logs into alerts people act on.
//!
//! `args` turns the command line into a validated configuration before anything runs; each
//! subcommand lives in `commands/`. `main` returns the exit code; errors go to stderr.

mod args;
mod commands;
mod config;
mod diagnostics;
mod events;
mod out;
mod progress;
mod run_args;
mod time;

use std::process::ExitCode;

use clap::Parser;

/// Parsing JSON allocates a map entry per key and a string per value; mimalloc's thread-local
/// free lists make that markedly cheaper than glibc's allocator (docs/PERFORMANCE.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let code = match cli.command {
        args::Command::Check(a) => commands::check::run(&a),
        args::Command::TestRule(a) => commands::test_rule::run(&a),
        args::Command::Run(a) => commands::run::run(&a),
        args::Command::Docs(args::DocsCommand::Rules(a)) => commands::docs::run(&a),
        args::Command::Import(args::ImportCommand::Sigma(a)) => commands::import::sigma(&a),
        args::Command::Import(args::ImportCommand::Falco(a)) => commands::import::falco(&a),
        args::Command::Import(args::ImportCommand::Elastic(a)) => commands::import::elastic(&a),
    };
    ExitCode::from(code)
}
