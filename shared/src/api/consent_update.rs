//! `POST /v1/consent`: the bot records a customer's messaging consent in
//! Salesforce (for example after the customer opted out in the bot).
//! Body: `{"userID": "...", "consentStatus": "OptedOut" | "ImplicitlyOptedIn" | "ExplicitlyOptedIn" | "DoublyOptedIn"}`.

use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use serde::Deserialize;

use crate::bootstrap::{HttpFunction, Runtime};
use crate::http::{self, v1 as envelope};
use crate::model::DeskKind;
use crate::ports::Desk;
use crate::services::auth::Role;
use crate::Result;

#[derive(Deserialize)]
struct ConsentPayload {
    #[serde(rename = "userID", default)]
    user_id: String,
    #[serde(rename = "consentStatus", default)]
    consent_status: String,
}

const STATUSES: &[&str] = &["OptedOut", "ImplicitlyOptedIn", "ExplicitlyOptedIn", "DoublyOptedIn"];

pub struct Endpoint {
    gate: super::Gate,
    salesforce: Option<Box<dyn Desk>>,
}

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint {
            gate: super::Gate::from_runtime(rt).await?,
            salesforce: rt.desk(DeskKind::Salesforce).await?,
        })
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        if let Err(denied) = self.gate.authorize(&req, &[Role::Yalo]).await {
            return *denied;
        }
        let p: ConsentPayload = match serde_json::from_slice(http::body(&req)) {
            Ok(p) => p,
            Err(e) => return envelope::bad_payload(&e),
        };
        let missing: Vec<&str> = [("UserID", &p.user_id), ("ConsentStatus", &p.consent_status)]
            .into_iter()
            .filter(|(_, v)| v.is_empty())
            .map(|(k, _)| k)
            .collect();
        if !missing.is_empty() {
            return envelope::missing_fields("ConsentPayload", &missing);
        }
        if crate::model::validate_id("userID", &p.user_id).is_err() {
            return envelope::too_long("ConsentPayload", "UserID");
        }
        if !STATUSES.contains(&p.consent_status.as_str()) {
            return envelope::error(
                StatusCode::BAD_REQUEST,
                "Error validating payload : Key: 'ConsentPayload.ConsentStatus' Error:Field validation for 'ConsentStatus' failed on the 'oneof' tag",
            );
        }
        let Some(sf) = &self.salesforce else {
            return envelope::failure(&crate::Error::Config("Salesforce is not configured".into()));
        };
        match sf.consent(&p.user_id, &p.consent_status).await {
            Ok(()) => envelope::message("Consent updated successfully"),
            Err(e) if e.is_retryable() => envelope::failure(&e),
            Err(e) => {
                tracing::error!(error = %e.chain(), "consent update refused");
                envelope::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    &format!("could not update consent in salesforce : {e}"),
                )
            }
        }
    }
}
