//! Container image references, parsed as Kubernetes and containerd do (the `distribution/reference`
//! Go package: `ParseNormalizedNamed`, then the implicit `latest` tag of `TagNameOnly`).
//!
//! `[REGISTRY/]PATH[:TAG][@DIGEST]`, where:
//!
//! - the first `/`-separated component is the registry when it contains `.` or `:`, is `localhost`,
//!   or has an uppercase letter; otherwise the registry is `docker.io`, and a single-component path
//!   on `docker.io` gets the prefix `library/` (`nginx` is `docker.io/library/nginx`).
//!   `index.docker.io` is spelled `docker.io`.
//! - the registry is a host name (components of letters, digits and inner `-`, joined by `.`) or
//!   an IPv6 address in brackets, with an optional `:PORT`.
//! - each path component is lowercase letters and digits, separated inside a component by one `.`,
//!   one or two `_`, or a run of `-`.
//! - the tag is `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 128 characters.
//! - the digest is `sha256:` with 64, `sha384:` with 96 or `sha512:` with 128 lowercase hex digits.
//! - the normalized name (registry and path) is at most 255 characters, and a bare 64-digit hex
//!   string (an image id) is not a reference.

/// A parsed, normalized image reference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ImageRef<'a> {
    /// `docker.io/library/nginx`, `registry:5000/ns/img`
    pub(crate) repository: String,
    /// The tag as written, if any.
    pub(crate) tag: Option<&'a str>,
    /// `sha256:...`, if any.
    pub(crate) digest: Option<&'a str>,
}

impl ImageRef<'_> {
    /// The tag a container runtime pulls: the written tag, else `latest` unless the reference is
    /// pinned by digest only.
    pub(crate) fn effective_tag(&self) -> Option<&str> {
        match (self.tag, self.digest) {
            (Some(tag), _) => Some(tag),
            (None, Some(_)) => None,
            (None, None) => Some("latest"),
        }
    }
}

const DEFAULT_REGISTRY: &str = "docker.io";
const LEGACY_DEFAULT_REGISTRY: &str = "index.docker.io";
const NAME_TOTAL_LENGTH_MAX: usize = 255;
const TAG_LENGTH_MAX: usize = 128;

/// Parses a reference; `None` when it is malformed.
pub(crate) fn parse(image: &str) -> Option<ImageRef<'_>> {
    if image.len() == 64 && is_lower_hex(image) {
        return None;
    }
    let (name_and_tag, digest) = match image.split_once('@') {
        Some((name_and_tag, digest)) => (name_and_tag, Some(digest)),
        None => (image, None),
    };
    if let Some(digest) = digest {
        if !is_valid_digest(digest) {
            return None;
        }
    }
    // A tag is what follows the last `:` after the last `/` (a `:` before it is a port).
    let last_slash = name_and_tag.rfind('/');
    let (name, tag) = match name_and_tag.rfind(':') {
        Some(colon) if last_slash.is_none_or(|slash| colon > slash) => {
            (&name_and_tag[..colon], Some(&name_and_tag[colon + 1..]))
        }
        _ => (name_and_tag, None),
    };
    if let Some(tag) = tag {
        if !is_valid_tag(tag) {
            return None;
        }
    }

    let (registry, path) = match name.split_once('/') {
        Some((first, rest))
            if first.contains(['.', ':'])
                || first == "localhost"
                || first.bytes().any(|b| b.is_ascii_uppercase()) =>
        {
            (first, rest)
        }
        _ => (DEFAULT_REGISTRY, name),
    };
    let registry = if registry == LEGACY_DEFAULT_REGISTRY {
        DEFAULT_REGISTRY
    } else {
        registry
    };
    if !is_valid_registry(registry) || !path.split('/').all(is_valid_path_component) {
        return None;
    }
    let repository = if registry == DEFAULT_REGISTRY && !path.contains('/') {
        format!("{registry}/library/{path}")
    } else {
        format!("{registry}/{path}")
    };
    if repository.len() > NAME_TOTAL_LENGTH_MAX {
        return None;
    }
    Some(ImageRef {
        repository,
        tag,
        digest,
    })
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn is_valid_digest(digest: &str) -> bool {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return false;
    };
    let len = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return false,
    };
    hex.len() == len && is_lower_hex(hex)
}

fn is_valid_tag(tag: &str) -> bool {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let bytes = tag.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= TAG_LENGTH_MAX
        && word(bytes[0])
        && bytes.iter().all(|&b| word(b) || b == b'.' || b == b'-')
}

/// `[a-z0-9]+((\.|_|__|-+)[a-z0-9]+)*`
fn is_valid_path_component(component: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = component.as_bytes();
    let mut i = 0;
    loop {
        // an alphanumeric run
        let start = i;
        while i < bytes.len() && alnum(bytes[i]) {
            i += 1;
        }
        if i == start {
            return false;
        }
        if i == bytes.len() {
            return true;
        }
        // a separator
        let start = i;
        while i < bytes.len() && matches!(bytes[i], b'.' | b'_' | b'-') {
            i += 1;
        }
        let separator = &component[start..i];
        let valid = matches!(separator, "." | "_" | "__") || separator.bytes().all(|b| b == b'-');
        if !valid {
            return false;
        }
    }
}

/// `host[:port]`, host a domain name or a bracketed IPv6 address.
fn is_valid_registry(registry: &str) -> bool {
    let (host_valid, port) = match registry.strip_prefix('[') {
        Some(bracketed) => match bracketed.split_once(']') {
            Some((address, after)) => (
                !address.is_empty() && address.bytes().all(|b| b.is_ascii_hexdigit() || b == b':'),
                after,
            ),
            None => return false,
        },
        None => {
            let (host, port) = match registry.find(':') {
                Some(colon) => registry.split_at(colon),
                None => (registry, ""),
            };
            (host.split('.').all(is_valid_domain_label), port)
        }
    };
    // `port` is empty or `:` followed by digits.
    let port_valid = port.is_empty()
        || port
            .strip_prefix(':')
            .is_some_and(|digits| !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()));
    host_valid && port_valid
}

/// `[A-Za-z0-9]` or `[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9]`
fn is_valid_domain_label(label: &str) -> bool {
    let bytes = label.as_bytes();
    match (bytes.first(), bytes.last()) {
        (Some(first), Some(last)) => {
            first.is_ascii_alphanumeric()
                && last.is_ascii_alphanumeric()
                && bytes
                    .iter()
                    .all(|&b| b.is_ascii_alphanumeric() || b == b'-')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA: &str = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

    /// (repository, effective tag, digest) or None.
    fn parts(image: &str) -> Option<(String, Option<String>, Option<String>)> {
        parse(image).map(|r| {
            (
                r.repository.clone(),
                r.effective_tag().map(str::to_owned),
                r.digest.map(str::to_owned),
            )
        })
    }

    fn repo_tag(image: &str) -> (String, Option<String>) {
        let (repo, tag, _) = parts(image).unwrap_or_else(|| panic!("{image} should parse"));
        (repo, tag)
    }

    #[test]
    fn docker_hub_short_names_are_normalized() {
        assert_eq!(
            repo_tag("nginx"),
            ("docker.io/library/nginx".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("nginx:1.25"),
            ("docker.io/library/nginx".into(), Some("1.25".into()))
        );
        assert_eq!(
            repo_tag("bitnami/redis:7"),
            ("docker.io/bitnami/redis".into(), Some("7".into()))
        );
        assert_eq!(
            repo_tag("docker.io/nginx"),
            ("docker.io/library/nginx".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("index.docker.io/nginx"),
            ("docker.io/library/nginx".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("docker.io/library/nginx:stable"),
            ("docker.io/library/nginx".into(), Some("stable".into()))
        );
        assert_eq!(
            repo_tag("library/nginx"),
            ("docker.io/library/nginx".into(), Some("latest".into()))
        );
    }

    #[test]
    fn registries_are_recognized() {
        assert_eq!(
            repo_tag("gcr.io/ns/img:1.2"),
            ("gcr.io/ns/img".into(), Some("1.2".into()))
        );
        assert_eq!(
            repo_tag("gcr.io/img"),
            ("gcr.io/img".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("registry:5000/ns/img:1.2"),
            ("registry:5000/ns/img".into(), Some("1.2".into()))
        );
        assert_eq!(
            repo_tag("registry:5000/img"),
            ("registry:5000/img".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("localhost/img"),
            ("localhost/img".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("localhost:5000/a/b:c"),
            ("localhost:5000/a/b".into(), Some("c".into()))
        );
        assert_eq!(
            repo_tag("[::1]:5000/img:v1"),
            ("[::1]:5000/img".into(), Some("v1".into()))
        );
        assert_eq!(
            repo_tag("[fe80::1]/img"),
            ("[fe80::1]/img".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("Registry/img"),
            ("Registry/img".into(), Some("latest".into()))
        );
        assert_eq!(
            repo_tag("123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app:v3"),
            (
                "123456789012.dkr.ecr.eu-west-1.amazonaws.com/team/app".into(),
                Some("v3".into())
            )
        );
        // Without a `/`, `registry:5000` is an image named `registry` with the tag `5000`.
        assert_eq!(
            repo_tag("registry:5000"),
            ("docker.io/library/registry".into(), Some("5000".into()))
        );
        // A first component without `.`, `:` or uppercase is a Docker Hub namespace.
        assert_eq!(
            repo_tag("myregistry/img"),
            ("docker.io/myregistry/img".into(), Some("latest".into()))
        );
    }

    #[test]
    fn digests() {
        let pinned = format!("nginx@{SHA}");
        assert_eq!(
            parts(&pinned),
            Some(("docker.io/library/nginx".into(), None, Some(SHA.into())))
        );
        let both = format!("gcr.io/ns/img:1.2@{SHA}");
        assert_eq!(
            parts(&both),
            Some(("gcr.io/ns/img".into(), Some("1.2".into()), Some(SHA.into())))
        );
        let port = format!("registry:5000/img@{SHA}");
        assert_eq!(
            parts(&port),
            Some(("registry:5000/img".into(), None, Some(SHA.into())))
        );
        let sha512 = format!("img@sha512:{}", "a".repeat(128));
        assert!(parse(&sha512).is_some());
    }

    #[test]
    fn path_components() {
        for good in [
            "a",
            "a.b",
            "a_b",
            "a__b",
            "a-b",
            "a---b",
            "a1.b2_c3-d4",
            "0",
        ] {
            assert!(is_valid_path_component(good), "{good}");
        }
        for bad in [
            "", "A", "a..b", "a___b", "a._b", "-a", "a-", ".a", "a.", "a_", "a b", "é",
        ] {
            assert!(!is_valid_path_component(bad), "{bad:?}");
        }
    }

    #[test]
    fn malformed_references_are_rejected() {
        let short_digest = "nginx@sha256:abc".to_string();
        let upper_digest = format!("nginx@{}", SHA.to_uppercase().replace("SHA256", "sha256"));
        let md5 = format!("nginx@md5:{}", "a".repeat(32));
        let long_tag = format!("nginx:{}", "t".repeat(129));
        let long_name = format!("gcr.io/{}", "a".repeat(250));
        let id = "0123456789abcdef".repeat(4);
        let cases = [
            "",
            " nginx",
            "nginx ",
            "Nginx",
            "foo/Bar",
            "nginx:",
            ":tag",
            "nginx@",
            "@sha256:x",
            "/img",
            "img/",
            "gcr.io/",
            "a//b",
            "img:t:t",
            "gcr.io/img:-t",
            "gcr.io/img:t/x",
            "-gcr.io/img",
            "gcr-.io/img",
            "gcr..io/img",
            "registry:/img",
            "registry:x1/img",
            "[::1/img",
            "[]/img",
            "[::1]x/img",
            "ns/img@sha256:",
            "img@@",
            &short_digest,
            &upper_digest,
            &md5,
            &long_tag,
            &long_name,
            &id,
        ];
        for bad in cases {
            assert_eq!(parse(bad), None, "{bad:?} should be malformed");
        }
        assert!(parse(&format!("nginx:{}", "t".repeat(128))).is_some());
        assert!(parse(&"0123456789abcdef".repeat(4)[..63]).is_some());
    }
}
