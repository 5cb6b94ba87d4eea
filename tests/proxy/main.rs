//! Deployments behind a real proxy under real traffic: nginx (the Debian
//! package) in front of `deploy-session serve` backends, driven by the
//! scripts a team copies from examples/nginx, with `load:` sending at least
//! 100 requests/s through it for the whole strategy.
//!
//! Their own test binary (cargo runs test binaries one after another), and
//! one test at a time inside it: the load and nginx's reloads then never
//! compete with the other suites for the two cores. Pauses are short and
//! the margins wide.

#[path = "../cli/harness.rs"]
mod harness;

mod nginx;
