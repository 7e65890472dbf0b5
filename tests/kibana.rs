//! docs/kibana/k8scop-dashboard.ndjson, the Kibana saved objects: well formed, every reference
//! resolves, and every field a panel reads is one the alerts index template maps.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::util::root;

/// The index template's fields: dotted path -> mapping type.
fn template_fields() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(root().join("docs/elasticsearch/alerts-index-template.json"))
            .unwrap();
    let template: Value = serde_json::from_str(&text).unwrap();
    fn walk(prefix: &str, properties: &Value, out: &mut BTreeMap<String, String>) {
        for (key, mapping) in properties.as_object().unwrap() {
            let path = format!("{prefix}{key}");
            match mapping.get("properties") {
                Some(children) => walk(&format!("{path}."), children, out),
                None => {
                    let ty = mapping["type"].as_str().unwrap().to_owned();
                    out.insert(path, ty);
                }
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(
        "",
        &template["template"]["mappings"]["properties"],
        &mut out,
    );
    out
}

/// Whether `field` can be aggregated or searched: a mapped field that is not `text`, or a key
/// inside a `flattened` field (`k8scop.fields.Severity`).
fn usable(field: &str, fields: &BTreeMap<String, String>) -> Result<(), String> {
    if let Some(ty) = fields.get(field) {
        return if ty == "text" {
            Err(format!(
                "`{field}` is a text field: it cannot be aggregated"
            ))
        } else {
            Ok(())
        };
    }
    let flattened = fields
        .iter()
        .any(|(path, ty)| ty == "flattened" && field.starts_with(&format!("{path}.")));
    if flattened {
        Ok(())
    } else {
        Err(format!("`{field}` is not in the alerts index template"))
    }
}

/// The field names a KQL query names (`a.b : "x" and c : *`).
fn kql_fields(query: &str) -> Vec<String> {
    query
        .split(" and ")
        .flat_map(|part| part.split(" or "))
        .filter_map(|part| part.split_once(':'))
        .map(|(field, _)| field.trim().trim_start_matches("not ").to_owned())
        .filter(|f| !f.is_empty())
        .collect()
}

#[test]
fn the_dashboard_reads_only_fields_the_alerts_index_maps() {
    let text = std::fs::read_to_string(root().join("docs/kibana/k8scop-dashboard.ndjson")).unwrap();
    let fields = template_fields();
    let objects: Vec<Value> = text
        .lines()
        .enumerate()
        .map(|(i, line)| {
            serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", i + 1))
        })
        .collect();
    let ids: BTreeSet<(String, String)> = objects
        .iter()
        .map(|o| {
            (
                o["type"].as_str().unwrap().to_owned(),
                o["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(ids.len(), objects.len(), "ids are unique");

    let mut problems = Vec::new();
    let mut checked = 0;
    for object in &objects {
        let id = object["id"].as_str().unwrap();
        let attributes = &object["attributes"];
        // Every reference names an object of the file.
        for reference in object["references"].as_array().unwrap() {
            let target = (
                reference["type"].as_str().unwrap().to_owned(),
                reference["id"].as_str().unwrap().to_owned(),
            );
            if !ids.contains(&target) {
                problems.push(format!("{id}: reference to missing {target:?}"));
            }
        }
        match object["type"].as_str().unwrap() {
            "index-pattern" => {
                let time = attributes["timeFieldName"].as_str().unwrap();
                assert_eq!(fields.get(time).map(String::as_str), Some("date"));
            }
            "visualization" => {
                let state: Value =
                    serde_json::from_str(attributes["visState"].as_str().unwrap()).unwrap();
                for agg in state["aggs"].as_array().unwrap() {
                    if let Some(field) = agg["params"]["field"].as_str() {
                        checked += 1;
                        if let Err(e) = usable(field, &fields) {
                            problems.push(format!("{id}: {e}"));
                        }
                    }
                }
            }
            "search" => {
                for column in attributes["columns"].as_array().unwrap() {
                    let column = column.as_str().unwrap();
                    checked += 1;
                    if !fields.contains_key(column) {
                        problems.push(format!("{id}: column `{column}` is not mapped"));
                    }
                }
            }
            "dashboard" => {
                let panels: Value =
                    serde_json::from_str(attributes["panelsJSON"].as_str().unwrap()).unwrap();
                let names: BTreeSet<&str> = object["references"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["name"].as_str().unwrap())
                    .collect();
                for panel in panels.as_array().unwrap() {
                    let name = panel["panelRefName"].as_str().unwrap();
                    if !names.contains(name) {
                        problems.push(format!("{id}: panel {name} has no reference"));
                    }
                }
            }
            other => problems.push(format!("{id}: unexpected object type {other}")),
        }
        // The search source's query names mapped fields too.
        if let Some(source) = attributes["kibanaSavedObjectMeta"]["searchSourceJSON"].as_str() {
            let source: Value = serde_json::from_str(source).unwrap();
            if let Some(query) = source["query"]["query"].as_str() {
                for field in kql_fields(query) {
                    checked += 1;
                    if let Err(e) = usable(&field, &fields) {
                        problems.push(format!("{id}: query: {e}"));
                    }
                }
            }
        }
    }
    assert!(problems.is_empty(), "{problems:#?}");
    assert!(checked >= 15, "the panels' fields were checked ({checked})");
}

/// The check above catches a field the template does not map.
#[test]
fn a_field_outside_the_template_is_caught() {
    let fields = template_fields();
    assert!(usable("rule.name", &fields).is_ok());
    assert!(usable("k8scop.fields.Operation", &fields).is_ok());
    assert_eq!(
        usable("kubernetes.pod", &fields),
        Err("`kubernetes.pod` is not in the alerts index template".into())
    );
    assert!(
        usable("message", &fields).is_err(),
        "text fields cannot be aggregated"
    );
    assert_eq!(
        kql_fields("k8scop.fields.Operation : * and not user.name : \"x\""),
        ["k8scop.fields.Operation", "user.name"]
    );
}

/// The KubeArmor panels select alerts tagged `kubearmor` and read `k8scop.fields.Severity`,
/// `.Type`, `.Operation` and `.Action`: every shipped KubeArmor rule carries the tag and those
/// fields, so that each of its alerts shows in all four panels.
#[test]
fn every_shipped_kubearmor_rule_feeds_the_kubearmor_panels() {
    let text = std::fs::read_to_string(root().join("rules/kubearmor.rules")).unwrap();
    let mut rules = 0;
    let mut problems = Vec::new();
    for block in text.split("\nrule ").skip(1) {
        let name = block
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned();
        let body = block.split("\n}").next().unwrap_or_default();
        rules += 1;
        let line = |key: &str| {
            body.lines()
                .map(str::trim)
                .find(|l| l.starts_with(key))
                .unwrap_or_default()
                .to_owned()
        };
        if !line("tags").contains("\"kubearmor\"") {
            problems.push(format!("{name}: no `kubearmor` tag"));
        }
        let fields = line("fields");
        for field in ["Severity", "Type", "Operation", "Action"] {
            let listed = fields
                .trim_start_matches("fields")
                .trim()
                .trim_matches(['[', ']'])
                .split(',')
                .any(|f| f.trim() == field);
            if !listed {
                problems.push(format!("{name}: `fields` lacks {field}"));
            }
        }
    }
    assert!(rules >= 5, "the KubeArmor rules were read ({rules})");
    assert!(problems.is_empty(), "{problems:#?}");
}
