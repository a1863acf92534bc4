//! One module per queue worker, as [`crate::api`] has one per endpoint: each
//! builds its service from the runtime and hands it the queue's jobs. Each
//! Lambda binary wires one of them with [`crate::bootstrap::run_worker`].

pub mod salesforce_events;
pub mod to_customer;
pub mod to_desk;
