//! A sink that fails is named in the error, with what it was doing and why:
//! `sink file /path: cannot open for appending: ...`, `sink webhook http://host:port: ...`.

use std::net::TcpListener;

use serde_json::json;

use crate::util::{arg, k8scop_stdin, rules_dir};

const RULES: &str = r#"
rule secret_deleted {
    title    "{user.username} deleted the secret {objectRef.name}"
    severity high
    when     verb == "delete" and objectRef.resource == "secrets"
}
"#;

/// One secret deleted per user: one alert each.
fn deletions(users: &[&str]) -> String {
    users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            let at = format!("2024-05-01T12:00:0{i}.000000Z");
            let doc = json!({
                "kind": "Event",
                "apiVersion": "audit.k8s.io/v1",
                "auditID": format!("d{i}"),
                "stage": "ResponseComplete",
                "verb": "delete",
                "user": {"username": user},
                "objectRef": {"resource": "secrets", "namespace": "web", "name": "db-password"},
                "requestReceivedTimestamp": at,
                "stageTimestamp": at,
            });
            format!("{doc}\n")
        })
        .collect()
}

/// `k8scop run` over two deletions by different users, with the extra arguments.
fn run_with(extra: &[&str]) -> crate::util::Run {
    let dir = rules_dir(&[("rules/secrets.rules", RULES)]);
    let rules = dir.join("rules");
    let mut args = vec!["run", "--rules", arg(&rules), "--source", "-"];
    args.extend_from_slice(extra);
    k8scop_stdin(&args, Some(&deletions(&["alice", "bob"])))
}

#[test]
fn an_alerts_file_in_a_missing_directory_is_named_before_the_run() {
    let dir = rules_dir(&[]);
    let path = dir.join("no-such-dir").join("alerts.jsonl");
    let out = run_with(&["--alerts-file", arg(&path)]);
    assert_eq!(out.code, 2, "{out:?}");
    assert_eq!(
        out.stderr,
        format!(
            "error: sink file {}: cannot open for appending: No such file or directory (os error 2)\n",
            path.display()
        )
    );
    assert_eq!(
        out.stdout, "",
        "nothing is read before the sinks are set up"
    );
}

#[cfg(target_os = "linux")]
#[test]
fn an_alerts_file_that_cannot_be_written_is_named_with_the_alerts_it_lost() {
    // Every write to /dev/full fails with "no space left on device".
    let out = run_with(&["--alerts-file", "/dev/full", "--output", "json"]);
    assert_eq!(out.code, 1, "undelivered alerts fail the run: {out:?}");
    assert!(
        out.stderr.contains(
            "error: sink file /dev/full: cannot write: No space left on device (os error 28) \
             (2 alerts undelivered)\n"
        ),
        "{}",
        out.stderr
    );
    // The other sink, stdout, still got both alerts.
    assert_eq!(out.stdout.lines().count(), 2, "{out:?}");
}

#[test]
fn a_webhook_on_a_closed_port_is_named_by_its_origin_only() {
    // A port that was just free: nothing listens on it, so every connection is refused.
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("http://127.0.0.1:{port}/hooks/T000/s3cret");
    let out = run_with(&["--webhook", &url, "--output", "json"]);
    assert_eq!(out.code, 1, "undelivered alerts fail the run: {out:?}");
    let named = format!("error: sink webhook http://127.0.0.1:{port}: ");
    let failure = out
        .stderr
        .lines()
        .find(|l| l.starts_with(&named))
        .unwrap_or_else(|| panic!("no line starts with `{named}`:\n{}", out.stderr));
    assert!(failure.contains("gave up after 4 attempts"), "{failure}");
    assert!(failure.ends_with("undelivered)"), "{failure}");
    // The URL's path is the secret of many webhooks: it is never shown.
    assert!(!out.stderr.contains("s3cret"), "{}", out.stderr);
}
