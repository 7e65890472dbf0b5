//! k8scop's integration tests: one test binary (as in ripgrep) that runs the built `k8scop`.

// Running the built binary and making temporary rule directories.
mod util;
// `k8scop check`: diagnostics for every kind of error, exit codes, JSON output.
mod check;
// `k8scop test-rule`: test blocks, event reports, JSON shape, malformed input, stdin.
mod test_rule;
// The Falco audit traces in ../shared/data all load through `test-rule` without crashing.
mod falco_traces;
// `k8scop import falco`: Falco's rules import, pass check, and give Falco's results on its traces.
mod import_falco;
// docs/rules/coverage.md: every Falco, Sigma and Elastic rule mapped; Falco's traces fire what it says.
mod coverage;
// docs/rules/noise.md: the measured alerts of the shipped rules on real benign traffic.
mod noise;
// Event kinds: the shipped rules over the KubeArmor, Falco and sysdig samples; check per kind.
mod kinds;
// `k8scop import sigma`: SigmaHQ's Kubernetes rules imported, checked and run.
mod import_sigma;
// `k8scop import elastic`: Elastic's KQL rules import, pass check, and fire on raw and Elastic Agent events.
mod import_elastic;
// `k8scop docs rules`: the generated rule reference is current; --check catches stale pages.
mod docs_rules;
// `run`, `test-rule --events` and test blocks see the same events: every shape, the samples.
mod parity;
// Every rule example in docs/ compiles; every diagnostic code has its page.
mod docs;
// `k8scop run`: argument and configuration errors (exit 2) before anything is read.
mod run_args;
// `k8scop run` end to end: static alerts and ids, streaming, hot reload, rotation, shutdown.
mod run;
// A failing sink (an alerts file, a webhook) is named in the error, with what it lost.
mod sink_errors;
// An Elasticsearch-compatible HTTP server with fault injection, for the Elasticsearch source and sink.
mod es_server;
// The test server against its contract: endpoints, faults, PIT snapshots, paging, auth.
mod es_server_tests;
// osmem-server (PyPI), the OpenSearch-compatible server the Elasticsearch tests also run against.
mod osmem;
// The same paging queries against the test server and osmem-server (and a real cluster): same hits.
mod es_crosscheck;
// `run -E`: the Elasticsearch source, alerts sink and checkpoints against osmem-server and the test server.
mod elastic;
// docs/kibana: the saved objects read only fields the alerts index template maps.
mod kibana;
// `run --listen`: the audit webhook (EventList bodies, limits, 429, HTTPS, client certificates) and `--metrics`.
mod webhook;
// deploy/: the Dockerfile, manifests and Helm chart pass only flags `k8scop run` has.
mod deploy;
// A small SMTP server on loopback (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, scripted failures).
mod smtp_server;
// `run` with `email:`: one e-mail per window, auth from the environment, retries, failures.
mod email;
