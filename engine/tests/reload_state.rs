//! Hot reload keeps the state of rules that did not change, and only those: a rule whose macro,
//! list or step rule changed starts afresh (issue 3, "Hot reload").

use k8scop_engine::event::Event;
use k8scop_engine::{Engine, Output};
use serde_json::json;

mod common;
use common::ruleset;

const BEFORE: &str = r#"
list readers = ["get", "list"]
macro secrets = objectRef.resource == "secrets"
rule uses_macro { when secrets and verb in readers  threshold count >= 2 within 1h by user.username }
rule independent { when verb == "delete"  threshold count >= 2 within 1h by user.username }
sequence seq { by user.username  within 1h  steps uses_macro -> independent }
"#;

fn event(verb: &str, minute: u32) -> Event {
    Event::classify(
        json!({"verb": verb, "user": {"username": "u"}, "objectRef": {"resource": "secrets"},
               "requestReceivedTimestamp": format!("2024-05-01T12:{minute:02}:00Z")}),
        "t:1",
    )
    .unwrap()
}

#[test]
fn editing_a_macro_resets_the_rules_that_use_it_and_keeps_the_others() {
    let mut engine = Engine::new(ruleset(BEFORE));
    let mut out = Output::default();
    engine.process(&event("get", 0), &mut out);
    engine.process(&event("delete", 1), &mut out);
    // Each threshold holds one match of two.
    let after = BEFORE.replace(
        r#"objectRef.resource == "secrets""#,
        r#"objectRef.resource in ["secrets", "configmaps"]"#,
    );
    let kept = engine.replace_ruleset(ruleset(&after));
    let kept: Vec<&str> = kept.iter().map(|k| &**k).collect();
    assert_eq!(
        kept,
        vec!["independent"],
        "only the rule that does not use the macro keeps its state"
    );
    engine.process(&event("get", 2), &mut out);
    engine.process(&event("delete", 3), &mut out);
    let stats = engine.stats();
    let hits = |name: &str| stats.iter().find(|(d, _)| &*d.name == name).unwrap().1.hits;
    // `independent` kept its first match, so its second is a hit; `uses_macro` started afresh.
    assert_eq!(hits("independent"), 1);
    assert_eq!(hits("uses_macro"), 0);
}

#[test]
fn an_unchanged_ruleset_keeps_everything() {
    let mut engine = Engine::new(ruleset(BEFORE));
    let kept = engine.replace_ruleset(ruleset(BEFORE));
    assert_eq!(kept.len(), 3);
    let changed_list = BEFORE.replace(r#"["get", "list"]"#, r#"["get", "list", "watch"]"#);
    let kept = engine.replace_ruleset(ruleset(&changed_list));
    let kept: Vec<&str> = kept.iter().map(|k| &**k).collect();
    // The sequence's step rule changed (its list did), so the sequence starts afresh too.
    assert_eq!(kept, vec!["independent"]);
}
