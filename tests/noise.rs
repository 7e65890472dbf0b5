//! docs/rules/noise.md shows what the shipped rules raise on real benign traffic: the table there
//! is exactly what `scripts/rule-noise` measures today (PerfSPEC converted by
//! `scripts/perfspec-to-audit`, audit2rbac's demo, Elastic's pipeline samples and Falco's benign
//! traces, all from ../shared/data), the list of the rules PerfSPEC cannot exercise is the one
//! the script derives from the rules' field use, and the table of the KubeArmor, Falco and sysdig
//! rules is what they raise on the real captures of those kinds (../shared/data/kubearmor,
//! falco-alerts and sysdig). A rule change that adds noise or changes what a non-audit rule finds,
//! or that makes a rule read a field PerfSPEC lacks, fails here until the page is updated.

use std::process::Command;

use crate::util::{arg, root, shared_data};

/// The table that follows the `MARKER` line of noise.md.
fn documented_table(marker: &str) -> String {
    let path = root().join("docs/rules/noise.md");
    let page = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = page.lines().skip_while(|l| l.trim() != marker);
    assert!(
        lines.next().is_some(),
        "noise.md has no `{marker}` line before its table"
    );
    let table: Vec<&str> = lines
        .skip_while(|l| l.trim().is_empty())
        .take_while(|l| l.starts_with('|'))
        .collect();
    assert!(
        table.len() > 4,
        "noise.md's table after `{marker}` is empty"
    );
    table.join("\n") + "\n"
}

#[test]
fn the_documented_noise_is_what_the_shipped_rules_raise_on_real_benign_traffic() {
    let Some(data) = shared_data() else { return };
    let out = Command::new("python3")
        .arg(root().join("scripts/rule-noise"))
        .args([
            "--k8scop",
            env!("CARGO_BIN_EXE_k8scop"),
            "--data",
            arg(&data),
        ])
        .current_dir(root())
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run python3 (scripts/rule-noise and scripts/test need it): {e}")
        });
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "scripts/rule-noise failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Not vacuous: the PerfSPEC sample was converted and evaluated in full.
    assert!(
        stdout.contains("| events | | 16,563 | 37 | 5 | 8 |"),
        "{stdout}"
    );
    // Not vacuous either: the rules that read request bodies, user agents and source addresses
    // are named as the ones PerfSPEC cannot exercise, and pod_exec (which reads none) is not.
    let tables: Vec<&str> = stdout.split("\n\n").collect();
    let [measured, blind, other_kinds] = tables[..] else {
        panic!(
            "scripts/rule-noise printed {} tables, not three:\n{stdout}",
            tables.len()
        )
    };
    for rule in [
        "| `cluster_admin_binding` | critical | `requestObject` |",
        "| `denied_request_from_tool` | medium | `userAgent` |",
        "| `unauthenticated_request_burst` | medium | `sourceIPs` |",
    ] {
        assert!(blind.contains(rule), "{rule} missing from:\n{blind}");
    }
    assert!(!blind.contains("`pod_exec`"), "{blind}");
    // Not vacuous for the other kinds: every KubeArmor, Falco and sysdig event was read as its
    // kind and evaluated, and each kind's rules were run on their samples.
    assert!(
        other_kinds.contains("| events | | 43 | 8 | 211 | 211 | 211 |"),
        "{other_kinds}"
    );
    for rule in [
        "| `kubearmor_blocked_process` | high | 12 (12) | n/a |",
        "| `falco_warning_alert` | medium | n/a | 1 (8) | n/a |",
        "| `sysdig_icmp_to_public_address` | low | n/a | n/a | 1 (10) | 1 (10) | 1 (10) |",
    ] {
        assert!(
            other_kinds.contains(rule),
            "{rule} missing from:\n{other_kinds}"
        );
    }
    assert_eq!(
        format!("{measured}\n"),
        documented_table("<!-- scripts/rule-noise -->"),
        "docs/rules/noise.md's table differs from what scripts/rule-noise measures now: \
         update the table (and the reasons given for each rule)"
    );
    assert_eq!(
        format!("{blind}\n"),
        documented_table("<!-- scripts/rule-noise: not exercised -->"),
        "docs/rules/noise.md's list of the rules PerfSPEC cannot exercise differs from what \
         scripts/rule-noise finds now: update it"
    );
    assert_eq!(
        other_kinds,
        documented_table("<!-- scripts/rule-noise: other kinds -->"),
        "docs/rules/noise.md's table of the KubeArmor, Falco and sysdig rules differs from what \
         scripts/rule-noise measures now: update the table (and what it says the alerts are)"
    );
}
