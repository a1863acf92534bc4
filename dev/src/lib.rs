//! Developer tooling: the local runner (every route of template.yaml and the
//! queue workers in one process), moto's server as the local AWS, resource
//! provisioning, and the admin command's logic.

pub mod dlq;
pub mod emulator;
pub mod local;
pub mod provision;
pub mod registry;
pub mod runner;
pub mod sandbox;
pub mod template;
