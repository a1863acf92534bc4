//! omnibridge's domain crate: every Lambda function and the local runner link it.
//!
//! - [`model`]: the canonical types, validated on construction, no I/O.
//! - [`ports`]: the small traits the services depend on.
//! - [`services`]: the use cases (authentication, context, queue workers).
//! - [`adapters`]: DynamoDB, S3 and SQS (and, later, one module per peer).
//! - [`api`]: one module per HTTP endpoint; each Lambda binary wires one of them.
//! - [`http`]: request/response helpers and each API family's error envelope.
//! - [`config`]: typed settings read once per cold start.
//! - [`bootstrap`]: tracing, AWS clients and the Lambda run loops.
//! - [`compose`]: the composition root, the one module naming adapters and services together.
//! - [`deadline`]: the time an invocation's work has, seen by every call.

pub mod adapters;
pub mod api;
pub mod bootstrap;
pub mod compose;
pub mod config;
pub mod deadline;
pub mod error;
pub mod http;
pub mod jwt;
pub mod model;
pub mod ports;
pub mod services;
pub mod worker;
pub mod workers;

pub use error::{Error, Result};
