//! The exported pipelines, executed for real: the GitLab pipeline with
//! gitlab-ci-local (every job in its own copy of the checkout, state and the
//! binary handed on as artifacts, history and failed attempts in caches),
//! on a fixture whose manual actions, approval and waivers come from a
//! decisions file. Their own test binary, one scenario at a time.

#[path = "../cli/harness.rs"]
mod harness;

mod fixture;
mod github;
mod gitlab;
