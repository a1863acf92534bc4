//! `POST /v1/pipedrive/channels/{providerChannelId}/messages` (postMessage):
//! an agent's reply, as `multipart/form-data` (`message`, `senderId`,
//! `conversationId`, `recipientIds`, `files`). It is recorded (files to S3)
//! and queued for the customer; the answer is immediate.

use lambda_http::{Body, Request, Response};
use serde_json::json;

use super::pipedrive_provider::ProviderEndpoint;
use crate::bootstrap::{HttpFunction, Runtime};
use crate::http::{self, pipedrive as envelope};
use crate::model::now_millis;
use crate::services::pipedrive::{Posted, PostedFile};
use crate::{Error, Result};

pub struct Endpoint(ProviderEndpoint);

/// Reads the form. A part named `files` (or `files[]`) is a file, whether or not it has a file name.
async fn parse(content_type: Option<&str>, body: &[u8]) -> Result<Posted> {
    let bad = |reason: String| Error::invalid("body", reason);
    let boundary = multer::parse_boundary(content_type.unwrap_or_default())
        .map_err(|_| bad("must be multipart/form-data with a boundary".into()))?;
    let bytes = bytes::Bytes::copy_from_slice(body);
    let stream = futures::stream::once(async move { Ok::<_, std::convert::Infallible>(bytes) });
    let mut form = multer::Multipart::new(stream, boundary);
    let mut posted = Posted::default();
    while let Some(field) = form.next_field().await.map_err(|e| bad(e.to_string()))? {
        let name = field.name().unwrap_or_default().to_owned();
        if name == "files" || name.starts_with("files[") {
            let file_name = field.file_name().map(str::to_owned);
            let content_type = field
                .content_type()
                .map(std::string::ToString::to_string)
                .unwrap_or_else(|| "application/octet-stream".into());
            let bytes = field.bytes().await.map_err(|e| bad(e.to_string()))?.to_vec();
            posted.files.push(PostedFile { name: file_name, content_type, bytes });
            continue;
        }
        let text = field.text().await.map_err(|e| bad(e.to_string()))?;
        match name.as_str() {
            "message" => posted.message = text,
            "senderId" => posted.sender_id = text,
            "conversationId" => posted.conversation_id = text,
            // Our conversations have one customer: the recipients are implied.
            _ => {}
        }
    }
    Ok(posted)
}

impl HttpFunction for Endpoint {
    fn failure(err: &crate::Error) -> Response<Body> {
        crate::http::pipedrive::failure(err)
    }

    async fn build(rt: &Runtime) -> Result<Self> {
        Ok(Endpoint(ProviderEndpoint::build(rt).await?))
    }

    async fn handle(&self, req: Request) -> Response<Body> {
        let channel = match self.0.channel(&req).await {
            Ok(c) => c,
            Err(answer) => return answer,
        };
        let posted = match parse(http::header(&req, "content-type"), http::body(&req)).await {
            Ok(p) => p,
            Err(e) => return envelope::failure(&e),
        };
        match self.0.provider.post(&channel, posted, now_millis()).await {
            Ok(id) => {
                tracing::info!(message_id = %id, "Pipedrive agent message queued");
                envelope::ok(&json!({"id": id}), None)
            }
            Err(e) => envelope::failure(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn when_form_has_fields_and_files_should_read_them_all() {
        let body = "--b\r\nContent-Disposition: form-data; name=\"message\"\r\n\r\nhola\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"conversationId\"\r\n\r\nc1\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"files\"; filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\nPNG\r\n\
                    --b\r\nContent-Disposition: form-data; name=\"files\"\r\n\r\nplain\r\n--b--\r\n";
        let p = parse(Some("multipart/form-data; boundary=b"), body.as_bytes()).await.unwrap();
        assert_eq!((p.message.as_str(), p.conversation_id.as_str()), ("hola", "c1"));
        assert_eq!(p.files.len(), 2);
        assert_eq!(
            (p.files[0].name.as_deref(), p.files[0].content_type.as_str(), &p.files[0].bytes[..]),
            (Some("a.png"), "image/png", &b"PNG"[..])
        );
        assert_eq!(p.files[1].content_type, "application/octet-stream");
    }

    #[tokio::test]
    async fn when_body_is_not_multipart_should_be_invalid() {
        assert!(matches!(parse(Some("application/json"), b"{}").await, Err(Error::Invalid { .. })));
        assert!(matches!(parse(None, b"").await, Err(Error::Invalid { .. })));
    }
}
