//! Conversions between JSON values and Rhai's `Dynamic`.
//!
//! JSON `null` becomes `()`, so that a null field and a missing one look the same to a script, as
//! they do to conditions. Going back, `()` inside an array or a map becomes `null`; at the top
//! level the caller decides (an operand treats it as missing).

use rhai::{Array, Dynamic, ImmutableString, Map};
use serde_json::{Number, Value};

/// The Rhai form of a JSON value.
pub(crate) fn json_to_dynamic(value: &Value) -> Dynamic {
    match value {
        Value::Null => Dynamic::UNIT,
        Value::Bool(b) => Dynamic::from_bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => Dynamic::from_int(i),
            // A u64 above i64::MAX, or a float.
            None => Dynamic::from_float(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => Dynamic::from(ImmutableString::from(s.as_str())),
        Value::Array(items) => Dynamic::from_array(items.iter().map(json_to_dynamic).collect()),
        Value::Object(fields) => Dynamic::from_map(
            fields
                .iter()
                .map(|(k, v)| (k.as_str().into(), json_to_dynamic(v)))
                .collect::<Map>(),
        ),
    }
}

/// The JSON form of a Rhai value, or the Rhai type name of the part that has none (a function
/// pointer, say). A float that is not finite becomes `null`, as in every JSON serialiser.
pub(crate) fn dynamic_to_json(value: &Dynamic) -> Result<Value, &'static str> {
    if value.is_unit() {
        return Ok(Value::Null);
    }
    if let Ok(b) = value.as_bool() {
        return Ok(Value::Bool(b));
    }
    if let Ok(i) = value.as_int() {
        return Ok(Value::Number(i.into()));
    }
    if let Ok(f) = value.as_float() {
        return Ok(Number::from_f64(f).map_or(Value::Null, Value::Number));
    }
    if let Ok(c) = value.as_char() {
        return Ok(Value::String(c.to_string()));
    }
    if let Ok(s) = value.as_immutable_string_ref() {
        return Ok(Value::String(s.as_str().to_owned()));
    }
    if let Ok(items) = value.as_array_ref() {
        return array_to_json(&items);
    }
    if let Ok(fields) = value.as_map_ref() {
        let mut object = serde_json::Map::with_capacity(fields.len());
        for (k, v) in fields.iter() {
            object.insert(k.to_string(), dynamic_to_json(v)?);
        }
        return Ok(Value::Object(object));
    }
    if let Ok(blob) = value.as_blob_ref() {
        return Ok(Value::Array(blob.iter().map(|b| Value::from(*b)).collect()));
    }
    Err(value.type_name())
}

fn array_to_json(items: &Array) -> Result<Value, &'static str> {
    items
        .iter()
        .map(dynamic_to_json)
        .collect::<Result<Vec<_>, _>>()
        .map(Value::Array)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_round_trips_through_rhai() {
        let value = json!({
            "verb": "create",
            "n": 3,
            "f": 1.5,
            "ok": true,
            "list": ["a", 1, {"x": [true]}],
            "empty": {},
        });
        let dynamic = json_to_dynamic(&value);
        assert!(dynamic.is_map());
        assert_eq!(dynamic_to_json(&dynamic), Ok(value));
    }

    #[test]
    fn null_becomes_unit_and_back_to_null_inside_containers() {
        assert!(json_to_dynamic(&Value::Null).is_unit());
        let value = json!({"a": null, "b": [null]});
        assert_eq!(dynamic_to_json(&json_to_dynamic(&value)), Ok(value));
    }

    #[test]
    fn large_unsigned_numbers_become_floats() {
        let dynamic = json_to_dynamic(&json!(u64::MAX));
        assert!(dynamic.is_float());
    }

    #[test]
    fn values_without_a_json_form_are_rejected() {
        let fn_ptr = Dynamic::from(rhai::FnPtr::new("f").unwrap());
        assert!(dynamic_to_json(&fn_ptr).is_err());
        let nested = Dynamic::from_array(vec![fn_ptr]);
        assert!(dynamic_to_json(&nested).is_err());
    }
}
