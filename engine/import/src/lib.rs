//! Importers: other tools' detection rules translated into k8scop `.rules` files.
//!
//! - [`sigma`] reads Sigma rules (detection and correlation rules, Sigma specification v2) for the
//!   Kubernetes audit log source and writes one `.rules` file per Sigma file; what cannot be
//!   translated is reported per rule, with the reason.
//! - [`falco`] reads Falco's YAML rules (lists, macros, rules, `append`, `override`,
//!   `exceptions`) for the `k8s_audit` source and writes lists, macros and rules whose conditions
//!   read the audit event the way Falco's k8saudit and json plugins extract their `ka.*` and
//!   `jevt.*` fields; files are read in Falco's loading order. [`falco::import`] gives the files
//!   and a [`falco::Report`] of what did not translate, per item.
//! - [`elastic`] reads Elastic's detection rules (TOML) in KQL (`query`, `new_terms`), EQL and
//!   ES|QL, and maps the ECS fields of Elastic Agent's Kubernetes audit documents back to the
//!   audit event.
//! - [`write`] holds what every importer needs to write rule files: quoting strings, naming rules,
//!   spelling field paths, and condition expressions that render with the fewest parentheses.
//!
//! The crate is pure: it turns texts into texts. Reading the input files and writing the output
//! directory is the command line's job (`k8scop import`).

#![warn(missing_docs)]

pub mod elastic;
pub mod falco;
pub mod sigma;
pub mod write;
