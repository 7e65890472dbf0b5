use base64::alphabet;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine as _;
use serde_json::Value;

use crate::args;
use crate::{ArgError, ArgShape, CallError, Compiled, Example, Function, Param, Spec};

/// `base64_decode(s)`
pub(crate) struct Base64Decode;

const DOCS: &str = "\
Decodes the base64 text `s` (a Secret's `data` value, say) and returns the decoded bytes as a \
UTF-8 string.

Both alphabets are accepted: the standard one (`+` and `/`, RFC 4648 section 4) and the URL-safe \
one (`-` and `_`, section 5), which JWTs use; a string that mixes them is invalid. Padding with \
`=` may be complete, partial or absent. Unused bits in the last character are ignored.

Missing when `s` is not a string, is not valid base64 (whitespace and line breaks included), or \
decodes to bytes that are not valid UTF-8 (binary data).";

const CONFIG: GeneralPurposeConfig = GeneralPurposeConfig::new()
    .with_decode_padding_mode(DecodePaddingMode::Indifferent)
    .with_decode_allow_trailing_bits(true);
const STANDARD: GeneralPurpose = GeneralPurpose::new(&alphabet::STANDARD, CONFIG);
const URL_SAFE: GeneralPurpose = GeneralPurpose::new(&alphabet::URL_SAFE, CONFIG);

/// Decodes either alphabet, with or without padding.
fn decode(text: &str) -> Option<Vec<u8>> {
    let engine = if text.contains(['-', '_']) {
        &URL_SAFE
    } else {
        &STANDARD
    };
    engine.decode(text).ok()
}

const SPEC: Spec = Spec {
    name: "base64_decode",
    params: &[Param {
        name: "s",
        ty: "string",
    }],
    returns: "string",
    docs: DOCS,
    examples: &[
        Example {
            call: r#"base64_decode("cGFzc3dvcmQ=")"#,
            args: r#"["cGFzc3dvcmQ="]"#,
            result: r#""password""#,
        },
        Example {
            call: r#"base64_decode("cGFzc3dvcmQ")"#,
            args: r#"["cGFzc3dvcmQ"]"#,
            result: r#""password""#,
        },
        Example {
            call: r#"base64_decode("eyJhbGciOiJIUzI1NiJ9")"#,
            args: r#"["eyJhbGciOiJIUzI1NiJ9"]"#,
            result: r#""{\"alg\":\"HS256\"}""#,
        },
        Example {
            call: r#"base64_decode("Pz8_")"#,
            args: r#"["Pz8_"]"#,
            result: r#""???""#,
        },
        Example {
            call: r#"base64_decode("")"#,
            args: r#"[""]"#,
            result: r#""""#,
        },
        Example {
            call: r#"base64_decode("//79")"#,
            args: r#"["//79"]"#,
            result: "null",
        },
        Example {
            call: r#"base64_decode("not base64!")"#,
            args: r#"["not base64!"]"#,
            result: "null",
        },
    ],
};

impl Function for Base64Decode {
    fn spec(&self) -> &'static Spec {
        &SPEC
    }

    fn compile(&self, _args: &[ArgShape<'_>]) -> Result<Box<dyn Compiled>, ArgError> {
        Ok(Box::new(Base64DecodeFn))
    }
}

struct Base64DecodeFn;

impl Compiled for Base64DecodeFn {
    fn call(&self, args: &[&Value]) -> Result<Option<Value>, CallError> {
        let [s] = args::exact(args)?;
        Ok(s.as_str()
            .and_then(decode)
            .and_then(|bytes| String::from_utf8(bytes).ok())
            .map(Value::String))
    }
}

#[cfg(test)]
mod tests {
    use super::decode;

    #[test]
    fn standard_alphabet_with_and_without_padding() {
        assert_eq!(decode("YQ==").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode("YQ=").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode("YQ").as_deref(), Some(&b"a"[..]));
        assert_eq!(decode("YWI=").as_deref(), Some(&b"ab"[..]));
        assert_eq!(decode("YWJj").as_deref(), Some(&b"abc"[..]));
        assert_eq!(decode("+/+/").as_deref(), Some(&[0xfb, 0xff, 0xbf][..]));
    }

    #[test]
    fn url_safe_alphabet_with_and_without_padding() {
        assert_eq!(decode("-_-_").as_deref(), Some(&[0xfb, 0xff, 0xbf][..]));
        assert_eq!(decode("-_8=").as_deref(), Some(&[0xfb, 0xff][..]));
        assert_eq!(decode("-_8").as_deref(), Some(&[0xfb, 0xff][..]));
    }

    #[test]
    fn trailing_bits_are_ignored() {
        // `YR` has non-zero bits after the 8 that make the `a`
        assert_eq!(decode("YR").as_deref(), Some(&b"a"[..]));
    }

    #[test]
    fn invalid_text_is_rejected() {
        for bad in [
            "+/-_", "YQ===", "Y", "YQ==YQ==", "YQ ==", "YQ==\n", "a b", "é", "=YQ",
        ] {
            assert_eq!(decode(bad), None, "{bad:?}");
        }
    }
}
