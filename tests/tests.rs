//! k8scop integration tests: one binary.
