//! Tests over every function: the examples hold, the list is sorted, the examples say what their
//! call says. Each function's own edge cases are tested beside it.

use serde_json::Value;

use crate::docs::{parse_call, CallArg};
use crate::{all, lookup, ArgShape, Example, Function};

fn args_of(f: &dyn Function, example: &Example) -> Vec<Value> {
    match serde_json::from_str(example.args) {
        Ok(Value::Array(args)) => args,
        other => panic!(
            "{}: the args of `{}` are not a JSON array: {other:?}",
            f.name(),
            example.call
        ),
    }
}

fn result_of(f: &dyn Function, example: &Example) -> Option<Value> {
    match serde_json::from_str(example.result) {
        Ok(Value::Null) => None,
        Ok(value) => Some(value),
        Err(err) => panic!(
            "{}: the result of `{}` is not JSON: {err}",
            f.name(),
            example.call
        ),
    }
}

#[test]
fn examples_hold() {
    let mut failures = Vec::new();
    for f in all() {
        for example in f.examples() {
            let args = args_of(*f, example);
            let expected = result_of(*f, example);
            let values: Vec<&Value> = args.iter().collect();
            let shapes = [
                (
                    "constant",
                    args.iter().map(ArgShape::Const).collect::<Vec<_>>(),
                ),
                ("dynamic", args.iter().map(|_| ArgShape::Dynamic).collect()),
            ];
            for (kind, shape) in shapes {
                let actual = match f.compile(&shape) {
                    Ok(compiled) => compiled.call(&values),
                    Err(err) => {
                        failures.push(format!(
                            "`{}` with {kind} arguments: argument {} rejected: {}",
                            example.call, err.index, err.message
                        ));
                        continue;
                    }
                };
                if actual != Ok(expected.clone()) {
                    failures.push(format!(
                        "`{}` with {kind} arguments: expected {}, got {actual:?}",
                        example.call, example.result
                    ));
                }
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn example_calls_match_their_arguments() {
    for f in all() {
        for example in f.examples() {
            let (name, call_args) = parse_call(example.call)
                .unwrap_or_else(|e| panic!("`{}` does not parse: {e}", example.call));
            assert_eq!(name, f.name(), "`{}` calls another function", example.call);
            let args = args_of(*f, example);
            assert_eq!(
                call_args.len(),
                args.len(),
                "`{}`: the call and the args differ in number",
                example.call
            );
            assert_eq!(
                args.len(),
                f.params().len(),
                "`{}`: wrong number of arguments",
                example.call
            );
            for (written, value) in call_args.iter().zip(&args) {
                if let CallArg::Literal(literal) = written {
                    assert_eq!(
                        literal, value,
                        "`{}`: the call's literal and the args differ",
                        example.call
                    );
                }
            }
        }
    }
}

#[test]
fn functions_are_sorted_and_unique() {
    let names: Vec<&str> = all().iter().map(|f| f.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    sorted.dedup();
    assert_eq!(names, sorted);
}

#[test]
fn the_specified_functions_exist_with_their_arity() {
    let specified = [
        ("lower", 1),
        ("upper", 1),
        ("len", 1),
        ("split", 2),
        ("join", 2),
        ("starts_with_any", 2),
        ("regex_match", 2),
        ("glob_match", 2),
        ("cidr_match", 2),
        ("is_private_ip", 1),
        ("base64_decode", 1),
        ("image_repository", 1),
        ("image_tag", 1),
        ("is_system_user", 1),
        ("is_service_account", 1),
        ("service_account_namespace", 1),
        ("parse_time", 1),
        ("hour", 1),
        ("weekday", 1),
        ("json_get", 2),
    ];
    for (name, arity) in specified {
        let f = lookup(name).unwrap_or_else(|| panic!("`{name}` is missing"));
        assert_eq!(f.params().len(), arity, "{name}");
    }
    assert!(lookup("no_such_function").is_none());
}

#[test]
fn every_function_is_documented_with_examples_and_an_edge_case() {
    for f in all() {
        let name = f.name();
        assert!(
            name.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_'),
            "{name}"
        );
        assert!(!f.docs().trim().is_empty(), "{name} has no docs");
        assert!(
            f.docs().contains("Missing"),
            "{name}: the docs do not say when the result is missing"
        );
        assert!(!f.returns().is_empty(), "{name}");
        assert!(f.examples().len() >= 3, "{name} has fewer than 3 examples");
        assert!(
            f.examples().iter().any(|e| e.result.trim() == "null"),
            "{name} has no example with a missing result"
        );
        let mut params: Vec<&str> = f.params().iter().map(|p| p.name).collect();
        params.sort_unstable();
        params.dedup();
        assert_eq!(params.len(), f.params().len(), "{name} repeats a parameter");
    }
}

#[test]
fn null_arguments_give_missing_results() {
    let null = Value::Null;
    for f in all() {
        let shapes: Vec<ArgShape<'_>> = f.params().iter().map(|_| ArgShape::Dynamic).collect();
        let compiled = f
            .compile(&shapes)
            .unwrap_or_else(|e| panic!("{}: dynamic arguments rejected: {e:?}", f.name()));
        let args: Vec<&Value> = f.params().iter().map(|_| &null).collect();
        assert_eq!(compiled.call(&args), Ok(None), "{}", f.name());
    }
}

#[test]
fn a_wrong_number_of_arguments_is_a_call_error_not_a_panic() {
    let value = Value::String("x".into());
    for f in all() {
        let shapes: Vec<ArgShape<'_>> = f.params().iter().map(|_| ArgShape::Dynamic).collect();
        let compiled = f.compile(&shapes).expect("dynamic arguments compile");
        let too_many: Vec<&Value> = (0..=f.params().len()).map(|_| &value).collect();
        assert!(compiled.call(&too_many).is_err(), "{}", f.name());
        assert!(compiled.call(&[]).is_err(), "{}", f.name());
    }
}

#[test]
fn compiling_with_fewer_shapes_than_params_does_not_panic() {
    for f in all() {
        assert!(f.compile(&[]).is_ok(), "{}", f.name());
    }
}
