//! The use cases, generic over the ports.

pub mod auth;
pub mod context;
pub mod custom_channel;
pub mod delivery;
pub mod desks;
pub mod erase;
pub mod handoff;
pub mod inbound;
pub mod media;
pub mod once;
pub mod pipedrive;
pub mod salesforce_events;
pub mod to_customer;
pub mod to_desk;
pub mod yeahdesk;
