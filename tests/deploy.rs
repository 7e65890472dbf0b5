//! deploy/: every flag the Dockerfile, the Kubernetes manifests and the Helm chart pass to
//! `k8scop run` is one `run` has (scripts/test validates the manifests' schema separately).

use crate::util::{k8scop, root};

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

#[test]
fn deployment_files_pass_only_flags_run_has() {
    let help = k8scop(&["run", "--help"]);
    assert_eq!(help.code, 0, "{}", help.stderr);
    let mut checked = 0;
    let mut unknown = Vec::new();
    for file in [
        "deploy/Dockerfile",
        "deploy/kubernetes/k8scop.yaml",
        "deploy/helm/k8scop/templates/deployment.yaml",
    ] {
        let text = std::fs::read_to_string(root().join(file)).unwrap();
        let found = flags(&text);
        assert!(found.len() >= 3, "{file}: flags found: {found:?}");
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
    }
    assert!(
        unknown.is_empty(),
        "flags `k8scop run` does not have: {unknown:#?}"
    );
    assert!(checked >= 20, "{checked}");
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
