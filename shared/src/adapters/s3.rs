//! The S3 adapter: attachments in a private bucket, read through presigned GETs.

use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::Client;
use std::time::Duration;

use super::aws_error;
use crate::ports::{BlobStore, StoredBlob};
use crate::{Error, Result};

#[derive(Clone, Debug)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> Self {
        S3Blobs { client, bucket: bucket.into() }
    }

    pub fn client(&self) -> &Client {
        &self.client
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }
}

/// How a browser opening a presigned link shows the object: inline only
/// for media it cannot run (raster images, audio, video, PDF, plain text);
/// anything else (SVG, HTML, XML...) is downloaded, never rendered as a
/// page of the bucket's origin.
pub fn disposition(content_type: &str) -> &'static str {
    const INLINE: [&str; 6] =
        ["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf", "text/plain"];
    let t = content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    if INLINE.contains(&t.as_str()) || t.starts_with("audio/") || t.starts_with("video/") {
        "inline"
    } else {
        "attachment"
    }
}

impl BlobStore for S3Blobs {
    /// Deletes every object under `prefix`; returns how many there were.
    async fn delete_prefix(&self, prefix: &str) -> Result<usize> {
        use aws_sdk_s3::types::{Delete, ObjectIdentifier};
        let mut count = 0;
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take())
                .send()
                .await
                .map_err(|e| aws_error("S3 ListObjectsV2", e))?;
            let ids = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .map(|k| ObjectIdentifier::builder().key(k).build())
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| Error::permanent("building an S3 delete failed", Some(Box::new(e))))?;
            if !ids.is_empty() {
                count += ids.len();
                let delete =
                    Delete::builder().set_objects(Some(ids)).quiet(true).build().map_err(|e| {
                        Error::permanent("building an S3 delete failed", Some(Box::new(e)))
                    })?;
                let out = self
                    .client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(|e| aws_error("S3 DeleteObjects", e))?;
                if let Some(e) = out.errors().first() {
                    return Err(Error::Retryable {
                        what: format!(
                            "S3 did not delete {}: {}",
                            e.key().unwrap_or_default(),
                            e.code().unwrap_or_default()
                        ),
                        retry_after: None,
                        source: None,
                    });
                }
            }
            match page.next_continuation_token() {
                Some(t) => token = Some(t.to_owned()),
                None => return Ok(count),
            }
        }
    }

    async fn put_blob(&self, key: &str, bytes: Vec<u8>, content_type: &str) -> Result<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .content_disposition(disposition(content_type))
            .content_length(bytes.len() as i64)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| aws_error("S3 PutObject", e))?;
        Ok(())
    }

    async fn presign_get(&self, key: &str, ttl: Duration) -> Result<String> {
        let config = PresigningConfig::expires_in(ttl)
            .map_err(|e| Error::invalid("presign lifetime", e.to_string()))?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| aws_error("S3 presign GetObject", e))?;
        Ok(req.uri().to_string())
    }

    async fn get_blob(&self, key: &str) -> Result<StoredBlob> {
        let out =
            self.client.get_object().bucket(&self.bucket).key(key).send().await.map_err(|e| {
                if e.as_service_error()
                    .is_some_and(aws_sdk_s3::operation::get_object::GetObjectError::is_no_such_key)
                {
                    Error::NotFound(format!("attachment {key}"))
                } else {
                    aws_error("S3 GetObject", e)
                }
            })?;
        let content_type =
            out.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
        let bytes = out
            .body
            .collect()
            .await
            .map_err(|e| Error::retryable("reading an S3 object failed", e))?
            .into_bytes()
            .to_vec();
        Ok(StoredBlob { key: key.to_owned(), size: bytes.len() as u64, content_type, bytes })
    }
}

#[cfg(test)]
mod tests {
    use super::disposition;

    #[test]
    fn only_media_a_browser_cannot_run_is_shown_inline() {
        for t in [
            "image/png",
            "IMAGE/JPEG",
            "video/mp4",
            "audio/ogg; codecs=opus",
            "application/pdf",
            "text/plain; charset=utf-8",
        ] {
            assert_eq!(disposition(t), "inline", "{t}");
        }
        for t in [
            "image/svg+xml",
            "text/html",
            "application/xml",
            "application/octet-stream",
            "",
            "image/svg+xml; charset=utf-8",
        ] {
            assert_eq!(disposition(t), "attachment", "{t}");
        }
    }
}
