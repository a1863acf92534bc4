//! The composition root: the one module that names adapters and services
//! together. It builds the adapters from the runtime's settings and AWS
//! configuration and hands them to the services, which see only the ports.

use crate::adapters::custom_channel::{CustomChannelFormat, SignedWebhook};
use crate::adapters::dynamodb::DynamoStore;
use crate::adapters::fetch::{FetchPolicy, Fetcher};
use crate::adapters::http_client;
use crate::adapters::pipedrive::{PipedriveClient, PipedriveDesk, ProviderWire, Refresh};
use crate::adapters::s3::S3Blobs;
use crate::adapters::salesforce::events::PlatformEvents;
use crate::adapters::salesforce::SalesforceDesk;
use crate::adapters::sqs::SqsQueue;
use crate::adapters::yalo::{YaloClient, YaloWebhook};
use crate::adapters::yeahdesk::{YeahdeskClient, YeahdeskDesk, YeahdeskWebhook};
use crate::bootstrap::Runtime;
use crate::config::SecretSource;
use crate::model::{ChannelKind, DeskKind};
use crate::ports::{
    Channel, Desk, EventFormat, Ports, ProviderFormat, ReplyFormat, SourceFormat, WebhookFormat,
};
use crate::services::custom_channel::CustomSender;
use crate::services::desks::Desks;
use crate::services::media::{Media, StoredFiles};
use crate::services::salesforce_events::AgentEvents;
use crate::services::to_customer::Channels;
use crate::{Error, Result};

/// What a deployment runs on: DynamoDB, S3, SQS, the guarded fetcher and
/// the signed custom-channel webhook.
pub struct Aws;

impl Ports for Aws {
    type Store = DynamoStore;
    type Blobs = S3Blobs;
    type Queue = SqsQueue;
    type Fetch = Fetcher;
    type Webhook = SignedWebhook;
}

/// The deployment's adapter for each port, for the endpoints and workers
/// that hold services.
pub type AwsStore = <Aws as Ports>::Store;
pub type AwsQueue = <Aws as Ports>::Queue;

impl Runtime {
    /// The Salesforce desk, when the settings name an org (`None` otherwise).
    pub async fn salesforce(&self) -> Result<Option<SalesforceDesk>> {
        let key = match &self.settings.salesforce.private_key {
            SecretSource::Unset => None,
            source => Some(self.secret(source, "OMNIBRIDGE_SALESFORCE_PRIVATE_KEY").await?),
        };
        SalesforceDesk::from_settings(&self.settings, key, http_client::client()?)
    }

    /// Yalo's integrations API, when its URL and token are set (`None` otherwise).
    pub async fn yalo(&self) -> Result<Option<YaloClient>> {
        let s = &self.settings;
        match (&s.peers.yalo, &s.yalo.token) {
            (Some(_), SecretSource::Unset) | (None, _) => Ok(None),
            (Some(url), token) => {
                let token = self.secret(token, "OMNIBRIDGE_YALO_TOKEN").await?;
                Ok(Some(YaloClient::new(http_client::client()?, url, token, &s.yalo)))
            }
        }
    }

    /// The Pipedrive desk, when an access or refresh token is set (`None` otherwise).
    pub async fn pipedrive(&self) -> Result<Option<PipedriveDesk<AwsStore>>> {
        let s = &self.settings;
        let p = &s.pipedrive;
        let token = match &p.api_token {
            SecretSource::Unset => None,
            source => Some(self.secret(source, "OMNIBRIDGE_PIPEDRIVE_API_TOKEN").await?),
        };
        let refresh = match &p.refresh_token {
            SecretSource::Unset => None,
            source => Some(Refresh {
                oauth_url: s.peers.pipedrive_oauth.clone(),
                client_id: p.client_id.clone().ok_or_else(|| {
                    Error::Config(
                        "OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN needs OMNIBRIDGE_PIPEDRIVE_CLIENT_ID"
                            .into(),
                    )
                })?,
                client_secret: self
                    .secret(&p.client_secret, "OMNIBRIDGE_PIPEDRIVE_CLIENT_SECRET")
                    .await?,
                refresh_token: self.secret(source, "OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN").await?,
            }),
        };
        if token.is_none() && refresh.is_none() {
            return Ok(None);
        }
        let client =
            PipedriveClient::new(http_client::client()?, &s.peers.pipedrive, token, refresh);
        Ok(Some(PipedriveDesk::new(client, self.dynamo()?, &p.channel_id)))
    }

    /// The Yeahdesk desk, when its channel and token are set (`None` otherwise).
    pub async fn yeahdesk(&self) -> Result<Option<YeahdeskDesk<AwsStore>>> {
        let s = &self.settings;
        let (Some(channel), false) =
            (&s.yeahdesk.channel_id, matches!(s.yeahdesk.token, SecretSource::Unset))
        else {
            return Ok(None);
        };
        let token = self.secret(&s.yeahdesk.token, "OMNIBRIDGE_YEAHDESK_TOKEN").await?;
        let client = YeahdeskClient::new(http_client::client()?, &s.peers.yeahdesk, channel, token);
        Ok(Some(YeahdeskDesk::new(client, channel, self.dynamo()?)))
    }

    /// The desk of that kind, when this deployment is configured for it.
    /// A new desk is one line here.
    pub async fn desk(&self, kind: DeskKind) -> Result<Option<Box<dyn Desk>>> {
        fn boxed<D: Desk + 'static>(desk: Option<D>) -> Option<Box<dyn Desk>> {
            desk.map(|d| Box::new(d) as Box<dyn Desk>)
        }
        Ok(match kind {
            DeskKind::Salesforce => boxed(self.salesforce().await?),
            DeskKind::Pipedrive => boxed(self.pipedrive().await?),
            DeskKind::Yeahdesk => boxed(self.yeahdesk().await?),
        })
    }

    /// Every desk this deployment is configured for, and the attachments'
    /// way to them.
    pub async fn desks(&self) -> Result<Desks<Aws>> {
        let mut desks = Vec::new();
        for kind in DeskKind::ALL {
            desks.extend(self.desk(*kind).await?);
        }
        Ok(Desks::new(desks, self.media()?))
    }

    /// The channels agent messages go out on: Yalo and custom sources.
    /// A new channel is one line here.
    pub async fn channels(&self) -> Result<Channels<Aws>> {
        let webhook = SignedWebhook::new(http_client::client()?);
        let mut channels: Vec<Box<dyn Channel>> =
            vec![Box::new(CustomSender::<Aws>::new(self.dynamo()?, webhook))];
        channels.extend(self.yalo().await?.map(|y| Box::new(y) as Box<dyn Channel>));
        Ok(Channels::new(channels, self.files()?, self.dynamo()?))
    }

    /// Salesforce's agent events, with CCaaS partner routing when set.
    pub async fn agent_events(&self) -> Result<AgentEvents<Aws>> {
        let s = &self.settings.salesforce;
        let desk =
            match s.agent_work {
                Some(_) => Some(self.desk(DeskKind::Salesforce).await?.ok_or_else(|| {
                    Error::Config("agent work needs Salesforce configured".into())
                })?),
                None => None,
            };
        Ok(AgentEvents::new(self.dynamo()?, self.queue(), self.event_format(), desk))
    }

    /// The webhook format of a channel's platform.
    pub fn webhook_format(&self, channel: ChannelKind) -> Box<dyn WebhookFormat> {
        Box::new(YaloWebhook(channel))
    }

    /// The answers of Pipedrive's provider endpoints.
    pub fn provider_format(&self) -> Box<dyn ProviderFormat> {
        Box::new(ProviderWire)
    }

    /// The custom-channel message format.
    pub fn source_format(&self) -> Box<dyn SourceFormat> {
        Box::new(CustomChannelFormat)
    }

    /// Yeahdesk's webhook of agent replies.
    pub fn reply_format(&self) -> Box<dyn ReplyFormat> {
        Box::new(YeahdeskWebhook)
    }

    /// Salesforce's platform event, by the settings' field names.
    pub fn event_format(&self) -> Box<dyn EventFormat> {
        Box::new(PlatformEvents::new(self.settings.salesforce.clone()))
    }

    /// The bucket's files, as peers take them.
    pub fn files(&self) -> Result<StoredFiles<S3Blobs>> {
        Ok(StoredFiles { blobs: self.blobs()?, presign_ttl: self.settings.presign_ttl })
    }

    /// Attachments on their way to a desk: fetched under the settings'
    /// limits and kept in the bucket.
    pub fn media(&self) -> Result<Media<Aws>> {
        let s = &self.settings;
        let policy = FetchPolicy::new(s.attachment_max_bytes, s.fetch_allow_private.clone());
        Ok(Media::new(Fetcher::new(policy)?, self.files()?, self.dynamo()?))
    }
}
