//! Developer tooling: the local stack (template.yaml deployed to moto, IAM
//! enforced, each function run as Lambda runs it, in this process or as the
//! real binaries), the peer sandboxes, and the admin command's logic.

pub mod bench;
pub mod dlq;
pub mod emulator;
pub mod iam;
pub mod lambda;
pub mod load;
pub mod local;
pub mod provision;
pub mod registry;
pub mod runner;
pub mod samples;
pub mod sandbox;
pub mod template;

/// A new HTTP client for the tools and tests: the compiled-in roots, never
/// the system's certificate store. One per use: a test's runtime ends with
/// the test, and pooled connections with it.
pub fn http() -> reqwest::Client {
    omnibridge::adapters::http_client::builder()
        .build()
        .expect("an HTTP client with the compiled-in roots")
}

/// Logs warnings and errors only, unless `RUST_LOG` says otherwise: for the
/// measuring commands, whose output the runner's REPORT lines would drown.
pub fn init_quiet_tracing() {
    if std::env::var_os("RUST_LOG").is_none() {
        std::env::set_var("RUST_LOG", "warn");
    }
    omnibridge::bootstrap::init_tracing();
}
