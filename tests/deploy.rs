//! deploy/: every flag the Dockerfile, the Kubernetes manifests and the Helm chart pass to
//! `k8scop run`, and every key of the configuration files they mount, is one `run` has; the
//! manifests' configuration starts k8scop (scripts/test validates the manifests' schema
//! separately).

use crate::run::Running;
use crate::smtp_server::SmtpServer;
use crate::util::{arg, k8scop, root, rules_dir};
use crate::webhook::{listening_url, tls_dir};

/// The `--flags` in the argument lists of `text`: YAML list items (`- --rules`) and JSON arrays
/// (`"--rules"`).
fn flags(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.trim();
        if let Some(item) = line.strip_prefix("- ") {
            let item = item.trim().trim_matches('"');
            if item.starts_with("--") {
                out.push(item.to_owned());
            }
        }
        if line.starts_with("CMD") || line.starts_with("ENTRYPOINT") {
            for word in line.split('"') {
                if word.starts_with("--") {
                    out.push(word.to_owned());
                }
            }
        }
    }
    out
}

/// The dotted keys (`listen.tls_cert`) of the k8scop configuration files embedded in `text`: the
/// block under `k8scop.yaml: |` of a ConfigMap, template lines (`{{ ... }}`) left out.
fn config_keys(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut block: Option<usize> = None;
    let mut section: Option<(usize, String)> = None;
    for line in text.lines() {
        let indent = line.len() - line.trim_start().len();
        let trimmed = line.trim();
        if trimmed.starts_with("k8scop.yaml: |") {
            block = Some(indent);
            section = None;
            continue;
        }
        let Some(base) = block else { continue };
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with("{{") {
            continue;
        }
        if indent <= base {
            block = None;
            continue;
        }
        let Some((key, _)) = trimmed.split_once(':') else {
            continue;
        };
        if !key.chars().all(|c| c.is_ascii_lowercase() || c == '_') {
            continue;
        }
        match &section {
            Some((at, name)) if indent > *at => out.push(format!("{name}.{key}")),
            _ => {
                out.push(key.to_owned());
                section = Some((indent, key.to_owned()));
            }
        }
    }
    out
}

/// The keys `k8scop run --config` allows at the top of the file (`section` empty) or in a
/// section: the list its unknown-key error gives.
fn allowed_keys(section: &str) -> Vec<String> {
    let yaml = if section.is_empty() {
        "no_such_key: 1\n".to_owned()
    } else {
        format!("{section}: {{no_such_key: 1}}\n")
    };
    let dir = rules_dir(&[("k8scop.yaml", &yaml)]);
    let run = k8scop(&["run", "--config", arg(&dir.join("k8scop.yaml"))]);
    assert_eq!(run.code, 2, "{}", run.stderr);
    let (_, expected) = run
        .stderr
        .split_once("expected one of ")
        .unwrap_or_else(|| panic!("no key list in {}", run.stderr));
    expected
        .split(", ")
        .map(|k| k.trim().trim_matches('`').to_owned())
        .collect()
}

#[test]
fn deployment_files_use_only_flags_and_config_keys_run_has() {
    let help = k8scop(&["run", "--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let top = allowed_keys("");
    let mut sections = std::collections::BTreeMap::new();
    let mut checked = 0;
    let mut unknown = Vec::new();
    for file in [
        "deploy/Dockerfile",
        "deploy/kubernetes/k8scop.yaml",
        "deploy/helm/k8scop/templates/deployment.yaml",
        "deploy/helm/k8scop/templates/config.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let found = flags(&text);
        let keys = config_keys(&text);
        assert!(
            !found.is_empty() || !keys.is_empty(),
            "{file}: flags found: {found:?}, keys: {keys:?}"
        );
        for flag in found {
            checked += 1;
            let shown = help
                .stdout
                .lines()
                .any(|l| l.split([' ', ',', '=']).any(|w| w == flag));
            if !shown {
                unknown.push(format!("{file}: {flag}"));
            }
        }
        for key in keys {
            checked += 1;
            let known = match key.split_once('.') {
                None => top.contains(&key),
                Some((section, name)) => sections
                    .entry(section.to_owned())
                    .or_insert_with(|| allowed_keys(section))
                    .iter()
                    .any(|k| k == name),
            };
            if !known {
                unknown.push(format!("{file}: config key `{key}`"));
            }
        }
    }
    assert!(
        unknown.is_empty(),
        "flags and config keys `k8scop run` does not have: {unknown:#?}"
    );
    assert!(checked >= 25, "{checked}");
}

/// The manifests' configuration file, with the container's paths and addresses replaced by the
/// test's, starts the webhook receiver (HTTPS) and the metrics server.
#[test]
fn the_manifests_configuration_starts_the_receiver_and_metrics() {
    let text = std::fs::read_to_string(root().join("deploy/kubernetes/k8scop.yaml")).unwrap();
    let (_, after) = text.split_once("k8scop.yaml: |\n").expect("the config map");
    let config: String = after
        .lines()
        .take_while(|l| l.starts_with("    ") || l.is_empty())
        .map(|l| format!("{}\n", l.get(4..).unwrap_or("")))
        .collect();
    assert!(config.contains("listen:"), "{config}");
    let tls = tls_dir();
    let config = config
        .replace("/etc/k8scop/rules", arg(&root().join("rules")))
        .replace("/etc/k8scop/tls/tls.crt", arg(&tls.join("server.pem")))
        .replace("/etc/k8scop/tls/tls.key", arg(&tls.join("server.key")))
        .replace("0.0.0.0:8443", "127.0.0.1:0")
        .replace("0.0.0.0:9090", "127.0.0.1:0");
    assert!(!config.contains("/etc/k8scop"), "{config}");
    let dir = rules_dir(&[("k8scop.yaml", &config)]);
    let mut running = Running::start(&["run", "--config", arg(&dir.join("k8scop.yaml"))]);
    let metrics = listening_url(&mut running, "metrics");
    let webhook = listening_url(&mut running, "audit webhook");
    assert!(
        webhook.starts_with("https://127.0.0.1:") && webhook.ends_with("/k8s-audit"),
        "{webhook}"
    );
    let healthz = reqwest::blocking::get(metrics.replace("/metrics", "/healthz")).unwrap();
    assert_eq!(healthz.status().as_u16(), 200);
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
    assert!(
        ended.stderr.contains("loaded the rules"),
        "{}",
        ended.stderr
    );
}

#[test]
fn config_keys_are_found_in_config_maps() {
    assert_eq!(
        config_keys(
            "data:\n  k8scop.yaml: |\n    rules: [r]\n    {{- if .x }}\n    listen:\n      \
             address: \"a\"\n      # c\n      {{- end }}\n    metrics: \"m\"\n  other: x\n"
        ),
        ["rules", "listen", "listen.address", "metrics"]
    );
}

/// The extraction above finds flags in both list styles, so a renamed flag cannot go unseen.
#[test]
fn flags_are_found_in_yaml_lists_and_dockerfile_arrays() {
    assert_eq!(
        flags(
            "args:\n  - run\n  - --rules\n  - \"--metrics\"\nCMD [\"run\", \"--listen\", \"x\"]\n"
        ),
        ["--rules", "--metrics", "--listen"]
    );
}

// ---------------------------------------------------------------------------------------------
// The chart's configuration file, rendered without helm (which cannot be installed where the
// tests run): the few template forms `templates/config.yaml` uses inside `k8scop.yaml`, as Go
// templates and Helm define them. A form it does not know fails the test, so the chart cannot
// drift into something this rendering gets wrong without notice.

use serde_json::{json, Value};

/// Go templates' truth: false, 0, "", null and empty lists and maps are false.
fn truthy(v: &Value) -> bool {
    match v {
        Value::Null => false,
        Value::Bool(b) => *b,
        Value::Number(n) => n.as_f64() != Some(0.0),
        Value::String(s) => !s.is_empty(),
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
    }
}

/// The words of a template command: quoted strings (kept with their quotes), paths, names.
fn words(command: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = command.trim();
    while !rest.is_empty() {
        if let Some(quoted) = rest.strip_prefix('"') {
            let end = quoted.find('"').expect("a closed string");
            out.push(format!("\"{}\"", &quoted[..end]));
            rest = quoted[end + 1..].trim_start();
        } else {
            let end = rest.find(' ').unwrap_or(rest.len());
            out.push(rest[..end].to_owned());
            rest = rest[end..].trim_start();
        }
    }
    out
}

/// One operand: `.Values.a.b` (from the values), `.a` (from the current `with` value), a string.
fn operand(word: &str, values: &Value, dot: &Value) -> Value {
    if let Some(text) = word.strip_prefix('"') {
        return Value::String(text.trim_end_matches('"').to_owned());
    }
    let (start, path) = match word.strip_prefix(".Values") {
        Some(path) => (values, path),
        None => (dot, word),
    };
    path.split('.')
        .filter(|p| !p.is_empty())
        .fold(start.clone(), |v, key| {
            v.get(key).cloned().unwrap_or(Value::Null)
        })
}

/// A pipeline: `and A B`, `or A B`, `not A`, `required "why" A`, or an operand, then `| quote`
/// or `| toJson`. `Err` is a `required` that failed, with its message.
fn evaluate(pipeline: &str, values: &Value, dot: &Value) -> Result<Value, String> {
    let mut stages = pipeline.split(" | ");
    let command = words(stages.next().expect("a command"));
    let args: Vec<Value> = command
        .iter()
        .skip(1)
        .map(|w| operand(w, values, dot))
        .collect();
    let mut value = match command[0].as_str() {
        "and" => args
            .iter()
            .find(|v| !truthy(v))
            .unwrap_or(&args[args.len() - 1])
            .clone(),
        "or" => args
            .iter()
            .find(|v| truthy(v))
            .unwrap_or(&args[args.len() - 1])
            .clone(),
        "not" => Value::Bool(!truthy(&args[0])),
        "required" => match truthy(&args[1]) {
            true => args[1].clone(),
            false => return Err(args[0].as_str().unwrap_or_default().to_owned()),
        },
        word if command.len() == 1 => operand(word, values, dot),
        other => panic!("a template function this rendering does not know: {other}"),
    };
    for stage in stages {
        value = match stage.trim() {
            "quote" => Value::String(serde_json::to_string(&text(&value)).unwrap()),
            "toJson" => Value::String(value.to_string()),
            other => panic!("a template function this rendering does not know: {other}"),
        };
    }
    Ok(value)
}

/// A value as a template prints it.
fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// The chart's values.yaml with `overrides` merged in (as `--set`/`-f` do).
fn chart_values(overrides: &Value) -> Value {
    fn merge(base: &mut Value, over: &Value) {
        match (base, over) {
            (Value::Object(b), Value::Object(o)) => {
                for (k, v) in o {
                    merge(b.entry(k.clone()).or_insert(Value::Null), v);
                }
            }
            (b, o) => *b = o.clone(),
        }
    }
    let text = std::fs::read_to_string(root().join("deploy/helm/k8scop/values.yaml")).unwrap();
    let mut values: Value = serde_yaml_ng::from_str(&text).unwrap();
    merge(&mut values, overrides);
    values
}

/// The `k8scop.yaml` the chart's ConfigMap holds for these values; `Err` is the chart's error.
fn render_chart_config(overrides: &Value) -> Result<String, String> {
    let values = chart_values(overrides);
    let template =
        std::fs::read_to_string(root().join("deploy/helm/k8scop/templates/config.yaml")).unwrap();
    // The checks before the ConfigMap: `{{- if COND }}{{- fail "..." }}{{- end }}`.
    let (head, body) = template
        .split_once("k8scop.yaml: |\n")
        .expect("the config file");
    let mut lines = head.lines();
    while let Some(line) = lines.next() {
        if let Some(cond) = line
            .trim()
            .strip_prefix("{{- if ")
            .and_then(|c| c.strip_suffix(" }}"))
        {
            let fail = lines.next().expect("the fail line");
            let message = fail.trim().strip_prefix("{{- fail \"").expect("a fail");
            if truthy(&evaluate(cond, &values, &values)?) {
                return Err(message.trim_end_matches("\" }}").to_owned());
            }
        }
    }
    // Frames of (rendering, the value `.` stands for).
    let mut frames = vec![(true, values.clone())];
    let mut out = String::new();
    for line in body.lines() {
        if !line.starts_with("    ") {
            break;
        }
        let trimmed = line.trim();
        let (active, dot) = frames.last().cloned().expect("a frame");
        if let Some(action) = trimmed
            .strip_prefix("{{- ")
            .and_then(|a| a.strip_suffix(" }}"))
        {
            if action == "end" {
                frames.pop();
                assert!(!frames.is_empty(), "an `end` too many");
            } else if let Some(cond) = action.strip_prefix("if ") {
                let on = active && truthy(&evaluate(cond, &values, &dot)?);
                frames.push((on, dot));
            } else if let Some(expr) = action.strip_prefix("with ") {
                let v = evaluate(expr, &values, &dot)?;
                frames.push((active && truthy(&v), v));
            } else {
                panic!("a template action this rendering does not know: {trimmed}");
            }
            continue;
        }
        if !active {
            continue;
        }
        let mut rendered = String::new();
        let mut rest = &line[4..];
        while let Some(at) = rest.find("{{ ") {
            rendered.push_str(&rest[..at]);
            let end = rest[at..].find(" }}").expect("a closed action") + at;
            rendered.push_str(&text(&evaluate(&rest[at + 3..end], &values, &dot)?));
            rest = &rest[end + 3..];
        }
        rendered.push_str(rest);
        out.push_str(&rendered);
        out.push('\n');
    }
    assert_eq!(frames.len(), 1, "an `if` or `with` without its `end`");
    Ok(out)
}

/// The container's paths and addresses replaced by the test's.
fn for_the_test(config: &str) -> String {
    let tls = tls_dir();
    config
        .replace("/etc/k8scop/rules", arg(&root().join("rules")))
        .replace("/etc/k8scop/tls/tls.crt", arg(&tls.join("server.pem")))
        .replace("/etc/k8scop/tls/tls.key", arg(&tls.join("server.key")))
        .replace("/etc/k8scop/client-ca/ca.crt", arg(&tls.join("ca.pem")))
        .replace("/etc/k8scop/smtp-ca/ca.crt", arg(&tls.join("ca.pem")))
        .replace("0.0.0.0:8443", "127.0.0.1:0")
        .replace("0.0.0.0:9090", "127.0.0.1:0")
}

#[test]
fn the_charts_default_configuration_starts_the_receiver_and_metrics() {
    let config = render_chart_config(&json!({})).unwrap();
    assert!(
        !config.contains("email:") && !config.contains("elastic:"),
        "{config}"
    );
    let config = for_the_test(&config);
    assert!(!config.contains("/etc/k8scop"), "{config}");
    let dir = rules_dir(&[("k8scop.yaml", &config)]);
    let mut running = Running::start(&["run", "--config", arg(&dir.join("k8scop.yaml"))]);
    listening_url(&mut running, "metrics");
    let webhook = listening_url(&mut running, "audit webhook");
    assert!(
        webhook.starts_with("https://127.0.0.1:") && webhook.ends_with("/k8s-audit"),
        "{webhook}"
    );
    let ended = running.terminate();
    assert_eq!(ended.code, Some(0), "{}", ended.stderr);
}

#[test]
fn the_charts_email_values_send_alerts_with_the_secrets_credentials() {
    let server = SmtpServer::start(Some(("k8scop-mailer", "chart-s3cret")));
    let email = json!({"email": {
        "server": "127.0.0.1",
        "port": server.addr.port(),
        "tls": "none",
        "from": "k8scop <k8scop@example.com>",
        "to": ["oncall@example.com", "sec@example.com"],
        "window": 1,
        "subject": "[chart]",
        "credentialsSecret": "k8scop-smtp",
    }});
    let config = render_chart_config(&email).unwrap();
    assert!(
        config.contains("\nemail:\n  host: \"127.0.0.1\"\n"),
        "{config}"
    );
    // The deployment passes the Secret's keys as the variables k8scop reads.
    let deployment =
        std::fs::read_to_string(root().join("deploy/helm/k8scop/templates/deployment.yaml"))
            .unwrap();
    for name in ["K8SCOP_SMTP_USERNAME", "K8SCOP_SMTP_PASSWORD"] {
        assert!(deployment.contains(&format!("- name: {name}\n")), "{name}");
    }
    // The rendered configuration with the file source instead of the webhook (a flag, as
    // extraArgs would add): the alerts of the sample go out as one e-mail.
    let mut values = email.clone();
    values["webhook"] = json!({"enabled": false});
    let config = for_the_test(&render_chart_config(&values).unwrap());
    let dir = rules_dir(&[("k8scop.yaml", &config)]);
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_k8scop"))
        .args(["run", "--config", arg(&dir.join("k8scop.yaml"))])
        .args(["--source", "rules/samples/attack.jsonl"])
        .current_dir(root())
        .env("K8SCOP_SMTP_USERNAME", "k8scop-mailer")
        .env("K8SCOP_SMTP_PASSWORD", "chart-s3cret")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{config}\n{stderr}");
    let delivered = server.delivered();
    assert_eq!(delivered.len(), 1, "{stderr}");
    assert_eq!(delivered[0].user.as_deref(), Some("k8scop-mailer"));
    assert_eq!(delivered[0].to, ["oncall@example.com", "sec@example.com"]);
    assert!(
        delivered[0].data.contains("Subject: [chart] "),
        "{}",
        delivered[0].data
    );

    // A private CA: `caSecret` becomes `email.ca_file`.
    let mut values = email.clone();
    values["email"]["caSecret"] = json!("smtp-ca");
    values["email"]["tls"] = json!("starttls");
    let config = render_chart_config(&values).unwrap();
    assert!(
        config.contains("  ca_file: /etc/k8scop/smtp-ca/ca.crt\n"),
        "{config}"
    );
    assert!(deployment.contains("mountPath: /etc/k8scop/smtp-ca\n"));
}

#[test]
fn the_chart_refuses_values_k8scop_would_refuse() {
    let missing_from = json!({"email": {"server": "smtp.example.com", "to": ["a@example.com"]}});
    assert_eq!(
        render_chart_config(&missing_from).unwrap_err(),
        "email.from (the sender's address) is required with email.server"
    );
    let no_recipient = json!({"email": {"server": "smtp.example.com", "from": "k@example.com"}});
    assert_eq!(
        render_chart_config(&no_recipient).unwrap_err(),
        "email.to (at least one recipient) is required with email.server"
    );
    let both_sources = json!({"elasticsearch": {"url": "https://es:9200", "pages": "k8s-*"}});
    assert!(render_chart_config(&both_sources)
        .unwrap_err()
        .contains("k8scop reads one source per run"));
    // Elasticsearch instead of the webhook is a configuration k8scop takes.
    let mut es = both_sources.clone();
    es["webhook"] = json!({"enabled": false});
    let config = render_chart_config(&es).unwrap();
    assert!(
        config.contains("elastic:\n  url: \"https://es:9200\"\n  pages: \"k8s-*\"\n"),
        "{config}"
    );
    assert!(!config.contains("listen:"), "{config}");
}
