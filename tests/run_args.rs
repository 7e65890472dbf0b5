//! `k8scop run`: argument and configuration errors, which stop the run before anything is read
//! (exit 2, one `error:` line on stderr, nothing on stdout).

use crate::util::{arg, k8scop, rules_dir};

/// Runs `k8scop run ARGS` and returns its stderr, checking that it failed as a usage error.
fn refused(args: &[&str]) -> String {
    let mut full = vec!["run"];
    full.extend_from_slice(args);
    let run = k8scop(&full);
    assert_eq!(run.code, 2, "{args:?}\nstderr:\n{}", run.stderr);
    assert_eq!(run.stdout, "", "{args:?}");
    run.stderr
}

#[test]
fn a_run_needs_a_source() {
    assert_eq!(
        refused(&[]),
        "error: a static run needs something to read: give `--source PATH|GLOB|-` (or `--elastic`, `--listen`)\n"
    );
    assert!(refused(&["-A", "streaming"]).starts_with("error: a streaming run needs"));
}

#[test]
fn an_incomplete_elasticsearch_run_is_refused_clearly() {
    let stderr = refused(&[
        "-E",
        "http://localhost:9200",
        "-I",
        "k8s-audit-*",
        "-i",
        "alerts",
    ]);
    assert_eq!(
        stderr,
        "error: a static run over Elasticsearch needs `--start` (`-s`), e.g. `-s now-1h` or \
         `-s 2024-01-01`\n"
    );
    // A server that is not there: the static run gives up after its retries, naming it.
    let stderr = refused(&["-E", "http://127.0.0.1:1", "-I", "k8s-*", "-s", "now-1h"]);
    assert!(
        stderr.contains("cannot use Elasticsearch: GET /: ") && stderr.contains("gave up after"),
        "{stderr}"
    );
    assert!(refused(&["--source", "a.log", "-s", "now-1h"])
        .contains("`--start` and `--end` select the events read from Elasticsearch"));
}

#[test]
fn old_time_form_end_before_start() {
    assert_eq!(
        refused(&[
            "-E",
            "http://es:9200",
            "-s",
            "2019-2-12-19-30-0",
            "-e",
            "2019-2-12-19-0-0"
        ]),
        "error: `--end` (2019-02-12T19:00:00Z) is not after `--start` (2019-02-12T19:30:00Z)\n"
    );
    assert!(refused(&["--source", "a.log", "-s", "yesterday"])
        .starts_with("error: `--start`: invalid time `yesterday`: expected `now`"));
}

#[test]
fn numbers_and_urls() {
    for delay in ["0", "-2", "inf"] {
        assert!(
            refused(&["--source", "a.log", "-d", delay]).starts_with(&format!(
                "error: `--fetch-delay {delay}`: expected a positive"
            )),
            "{delay}"
        );
    }
    assert!(refused(&["--source", "a.log", "-d", "soon"]).contains("invalid value 'soon'"));
    assert_eq!(
        refused(&["--source", "a.log", "--webhook", "ftp://hooks/services/T0/secret"]),
        "error: webhook URL `ftp://hooks/...` is not an http(s) URL (expected `https://host/path`)\n"
    );
    assert!(refused(&["--source", "a.log", "-A", "batch"]).contains("invalid value 'batch'"));
}

#[test]
fn configuration_file_errors() {
    let dir = rules_dir(&[
        (
            "unknown.yaml",
            "sources: [a.log]\nwebhook:\n  url: https://h/x\n  retries: 3\n",
        ),
        (
            "env.yaml",
            "sources: [\"${K8SCOP_TEST_UNSET_VARIABLE}/a.log\"]\n",
        ),
    ]);
    let unknown = dir.join("unknown.yaml");
    assert_eq!(
        refused(&["--config", arg(&unknown)]),
        format!(
            "error: {}:4:3: unknown key `webhook.retries`, expected one of `url`, `format`, \
             `headers`\n",
            unknown.display()
        )
    );
    assert_eq!(
        refused(&["--config", arg(&dir.join("env.yaml"))]),
        "error: config key `sources`: environment variable `K8SCOP_TEST_UNSET_VARIABLE` is not set\n"
    );
    let missing = dir.join("missing.yaml");
    assert!(refused(&["--config", arg(&missing)]).starts_with(&format!(
        "error: cannot read the configuration file `{}`: ",
        missing.display()
    )));
}

#[test]
fn help_lists_the_old_and_new_flags() {
    let run = k8scop(&["run", "--help"]);
    assert_eq!(run.code, 0, "{}", run.stderr);
    for flag in [
        "--elastic",
        "--pages",
        "--alerts",
        "--start",
        "--end",
        "--max-alert-delta",
        "--analysis",
        "--fetch-delay",
        "--rules",
        "--source",
        "--output",
        "--alerts-file",
        "--webhook",
        "--webhook-format",
        "--config",
        "--no-watch",
        "--quiet",
    ] {
        assert!(
            run.stdout.contains(flag),
            "{flag} missing from:\n{}",
            run.stdout
        );
    }
}
