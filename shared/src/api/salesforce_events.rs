//! `POST /v1/salesforce/events`: Salesforce's outbound platform event posted
//! over HTTPS (a Flow or Apex callout authenticated as `SALESFORCE_ROLE`);
//! the same handling as the Event Relay queue's worker.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};

use crate::bootstrap::{HttpFunction, Runtime};
use crate::compose::Aws;
use crate::http::{self, v1 as envelope};
use crate::services::auth::Role;
use crate::services::salesforce_events::AgentEvents;
use crate::Result;

pub struct Endpoint {
    gate: super::Gate,
    events: AgentEvents<Aws>,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint {
            gate: super::Gate::from_runtime(rt).await?,
            events: rt.agent_events().await?,
        })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Salesforce]).await {
            return *denied;
        }
        let event: serde_json::Value = match serde_json::from_slice(http::body(&req)) {
            Ok(v) => v,
            Err(e) => return envelope::bad_payload(&e),
        };
        match self.events.handle(&event).await {
            Ok(()) => envelope::message("event accepted"),
            Err(e @ crate::Error::Invalid { .. }) => {
                envelope::error(StatusCode::BAD_REQUEST, &format!("Invalid payload received : {e}"))
            }
            Err(e) => envelope::failure(&e),
        }
    }
}
