//! deploy/: every flag the Dockerfile, the Kubernetes manifests and the Helm chart pass to
//! `k8scop run`, and every key of the configuration files they mount, is one `run` has; the
//! manifests' configuration starts k8scop (scripts/test validates the manifests' schema
//! separately).

use crate::run::Running;
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
