//! The use cases, generic over the ports.

pub mod auth;
pub mod context;
pub mod delivery;
pub mod handoff;
pub mod inbound;
pub mod once;
pub mod salesforce_events;
pub mod to_customer;
pub mod to_desk;
