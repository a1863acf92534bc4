//! Attachments on their way to a desk: fetched safely from the platform's
//! link and kept in our bucket, their keys recorded with the message.

use std::time::Duration;

use crate::model::{Attachment, Message};
use crate::ports::{BlobStore, Fetch, Files, MessageStore, Ports, StoredBlob};
use crate::{Error, Result};

/// The bucket's files as peers take them: bytes, or links that expire
/// after `presign_ttl`.
#[derive(Clone)]
pub struct StoredFiles<B> {
    pub blobs: B,
    pub presign_ttl: Duration,
}

#[async_trait::async_trait]
impl<B: BlobStore> Files for StoredFiles<B> {
    async fn read(&self, key: &str) -> Result<StoredBlob> {
        self.blobs.get_blob(key).await
    }

    async fn link(&self, key: &str) -> Result<String> {
        self.blobs.presign_get(key, self.presign_ttl).await
    }
}

/// Attachments on their way to a desk: fetched safely from the platform's
/// link (which may expire within minutes) and kept in our bucket.
pub struct Media<P: Ports> {
    fetcher: P::Fetch,
    pub files: StoredFiles<P::Blobs>,
    pub(crate) store: P::Store,
}

impl<P: Ports> Media<P> {
    pub fn new(fetcher: P::Fetch, files: StoredFiles<P::Blobs>, store: P::Store) -> Self {
        Media { fetcher, files, store }
    }

    /// The object key of attachment `i` of `m`.
    pub fn key(m: &Message, i: usize) -> String {
        format!("{}/{}/{i}", m.conversation_id, m.id)
    }

    /// Copies the attachments we do not hold yet into the bucket (a few at
    /// a time), records their keys with the message, and returns them all
    /// with keys. Those copied are recorded even when another fails, so a
    /// retry fetches only what is missing.
    pub async fn store_all(&self, m: &Message) -> Result<Vec<Attachment>> {
        use futures::stream::{self, StreamExt};
        let mut attachments = m.attachments.clone();
        let missing: Vec<usize> =
            (0..attachments.len()).filter(|i| attachments[*i].key.is_none()).collect();
        let copied: Vec<(usize, Result<Attachment>)> = stream::iter(missing)
            .map(|i| async move { (i, self.store_one(m, i).await) })
            .buffer_unordered(FETCHES_AT_ONCE)
            .collect()
            .await;
        let mut first_error = None;
        let mut changed = false;
        for (i, result) in copied {
            match result {
                Ok(a) => {
                    attachments[i] = a;
                    changed = true;
                }
                Err(e) => first_error = first_error.or(Some(e)),
            }
        }
        if changed {
            self.store.set_attachments(&m.id, &attachments).await?;
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(attachments),
        }
    }

    /// Copies attachment `i` of `m` from its link into the bucket.
    async fn store_one(&self, m: &Message, i: usize) -> Result<Attachment> {
        let mut a = m.attachments[i].clone();
        let url = a.source_url.as_deref().ok_or_else(|| {
            Error::permanent("an attachment has neither a stored copy nor a URL", None)
        })?;
        let fetched = self.fetcher.fetch(url).await?;
        let key = Self::key(m, i);
        a.size = Some(fetched.bytes.len() as u64);
        a.content_type = fetched.content_type.clone();
        self.files.blobs.put_blob(&key, fetched.bytes, &fetched.content_type).await?;
        a.key = Some(key);
        Ok(a)
    }
}

/// How many attachments of one message are fetched at once.
const FETCHES_AT_ONCE: usize = 4;
