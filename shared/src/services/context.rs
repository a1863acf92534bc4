//! The 24-hour context as the seed shows it.

use serde::Serialize;

use crate::model::{Author, ContextEntry, EpochMillis};

/// One entry in the seed's JSON shape (field order as the seed's example).
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ContextItem<'a> {
    pub user_id: &'a str,
    pub client: &'a str,
    pub timestamp: EpochMillis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub url: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mime_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caption: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<&'a str>,
    pub from: Author,
    /// When the entry expires, RFC 3339.
    pub ttl: String,
}

impl<'a> From<&'a ContextEntry> for ContextItem<'a> {
    fn from(e: &'a ContextEntry) -> Self {
        let ttl = time::OffsetDateTime::from_unix_timestamp(e.expires_at)
            .ok()
            .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
            .unwrap_or_default();
        ContextItem {
            user_id: &e.user_id,
            client: &e.client,
            timestamp: e.timestamp,
            url: e.url.as_deref(),
            mime_type: e.mime_type.as_deref(),
            caption: e.caption.as_deref(),
            text: e.text.as_deref(),
            from: e.from,
            ttl,
        }
    }
}
