//! One file per stdlib function, each implementing [`Function`]; [`ALL`] lists them by name.

use crate::Function;

/// How `image_repository` and `image_tag` read an image reference (a macro so that `concat!` can
/// append it to each function's own docs). Kept in step with `crate::image`.
macro_rules! image_reference_docs {
    () => {
        "\
## Image references

An image reference is `[REGISTRY/]PATH[:TAG][@DIGEST]`, read as Kubernetes and containerd read \
it (the normalization of Docker's `distribution/reference`):

- The first `/`-separated component is the registry when it contains `.` or `:` (a port), is \
`localhost`, or has an uppercase letter. Otherwise the registry is `docker.io`, and a \
one-component path there gets the prefix `library/`: `nginx` and `docker.io/nginx` are both \
`docker.io/library/nginx`, and `bitnami/redis` is `docker.io/bitnami/redis`. `index.docker.io` \
is written `docker.io`.
- The registry is a host name or a bracketed IPv6 address, with an optional `:PORT` \
(`registry:5000`, `[::1]:5000`).
- Path components are lowercase letters and digits, separated inside a component by `.`, `_`, \
`__` or a run of `-`.
- The tag follows the last `:` after the last `/`: `[A-Za-z0-9_][A-Za-z0-9_.-]*`, at most 128 \
characters. Without a `/`, `registry:5000` is the image `registry` with the tag `5000`.
- The digest is `sha256:` with 64, `sha384:` with 96 or `sha512:` with 128 lowercase hex digits.
- The normalized repository is at most 255 characters, and a bare 64-hex-digit image id is not \
a reference.

A reference that breaks any of these rules is malformed."
    };
}

mod any_of;
mod base64_decode;
mod cidr_match;
mod contains_any;
mod ends_with_any;
mod glob_match;
mod hour;
mod image_outside;
mod image_repository;
mod image_tag;
mod is_private_ip;
mod is_public_ip;
mod is_service_account;
mod is_system_user;
mod join;
mod json_get;
mod len;
mod lower;
mod parse_time;
mod pod_images;
mod regex_match;
mod service_account_name;
mod service_account_namespace;
mod split;
mod starts_with_any;
mod time_part;
mod trim;
mod upper;
mod uri_param;
mod weekday;

/// Every function, sorted by name (`tests::functions_are_sorted_and_unique` checks it).
pub(crate) static ALL: &[&dyn Function] = &[
    &base64_decode::Base64Decode,
    &cidr_match::CidrMatch,
    &contains_any::ContainsAny,
    &ends_with_any::EndsWithAny,
    &glob_match::GlobMatch,
    &hour::Hour,
    &image_outside::ImageOutside,
    &image_repository::ImageRepository,
    &image_tag::ImageTag,
    &is_private_ip::IsPrivateIp,
    &is_public_ip::IsPublicIp,
    &is_service_account::IsServiceAccount,
    &is_system_user::IsSystemUser,
    &join::Join,
    &json_get::JsonGet,
    &len::Len,
    &lower::Lower,
    &parse_time::ParseTime,
    &pod_images::PodImages,
    &regex_match::RegexMatch,
    &service_account_name::ServiceAccountName,
    &service_account_namespace::ServiceAccountNamespace,
    &split::Split,
    &starts_with_any::StartsWithAny,
    &time_part::TimePart,
    &trim::Trim,
    &upper::Upper,
    &uri_param::UriParam,
    &uri_param::UriParams,
    &weekday::Weekday,
];
