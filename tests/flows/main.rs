//! Whole-flow tests against moto's server through the real AWS SDK.

mod api;
mod auth_matrix;
mod binaries;
mod blobs;
mod chaos;
mod custom_channel;
mod events;
mod fetch;
mod fuzz;
mod handoff;
mod iam;
mod limits;
mod pipedrive;
mod queues;
mod retention;
mod runner;
mod sandbox;
mod security;
mod store;
mod webhooks;
mod yalo_channel;
