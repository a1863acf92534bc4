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
