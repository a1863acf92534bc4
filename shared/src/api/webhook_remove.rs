//! `DELETE /v1/integrations/webhook/remove/{provider}`: removes omnibridge's
//! webhook with Yalo for `whatsapp` or `facebook`.

use lambda_http::{Body, Request, Response};

use super::yalo_registration::{Action, Registration};
use crate::bootstrap::{HttpFunction, Runtime};
use crate::Result;

pub struct Endpoint(Registration);

impl HttpFunction for Endpoint {
    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint(Registration::build(rt, Action::Remove).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        self.0.handle(req).await
    }
}
