//! Typed settings, read once per cold start from environment variables.
//! Secret values are wrapped so that they never reach a log line.

use secrecy::SecretString;
use std::time::Duration;

use crate::{Error, Result};

/// A secret given directly or by the ARN of an AWS Secrets Manager secret.
#[derive(Clone, Debug)]
pub enum SecretSource {
    Value(SecretString),
    SecretsManager { arn: String },
    Unset,
}

/// Every setting omnibridge reads. See the README for each variable.
#[derive(Clone, Debug)]
pub struct Settings {
    /// DynamoDB table (single-table design); required by the functions that use it.
    pub table: Option<String>,
    /// S3 bucket for attachments; required by the functions that use it.
    pub bucket: Option<String>,
    pub to_desk_queue_url: Option<String>,
    pub to_desk_dlq_url: Option<String>,
    pub to_customer_queue_url: Option<String>,
    pub to_customer_dlq_url: Option<String>,
    pub salesforce_events_queue_url: Option<String>,
    pub salesforce_events_dlq_url: Option<String>,
    pub salesforce_conversation_events_queue_url: Option<String>,
    pub salesforce_conversation_events_dlq_url: Option<String>,
    /// HMAC key that signs the API's JWTs (at least 32 bytes).
    pub jwt_secret: SecretSource,
    /// What Yalo's webhooks must carry (`?secret=` in the registered URL, or
    /// `X-Hub-Signature-256` made with it); without it every webhook is refused.
    pub yalo_webhook_secret: SecretSource,
    /// The oldest webhook message taken (by the platform's timestamp); older
    /// ones, and ones dated more than a few minutes ahead, are refused.
    pub webhook_max_age: Duration,
    pub jwt_ttl: Duration,
    /// Lifetime of presigned attachment URLs.
    pub presign_ttl: Duration,
    /// How long the bot transcript is kept for handoff.
    pub context_ttl: Duration,
    /// How long idempotency records are kept (at least 7 days).
    pub idempotency_ttl: Duration,
    /// How long conversations and messages are kept (the bucket's lifecycle
    /// keeps attachments as long).
    pub retention: Duration,
    /// The `client` name written into context entries.
    pub client_name: String,
    /// Where the peers are.
    pub peers: PeerUrls,
    pub yalo: YaloSettings,
    /// omnibridge's own public base URL (what webhooks are registered with).
    pub public_url: Option<String>,
    pub salesforce: SalesforceSettings,
    /// The desk bots hand customers to.
    pub default_desk: crate::model::DeskKind,
    /// Bots that hand customers to another desk (or desk channel) than the default.
    pub desk_by_bot: Vec<BotDesk>,
    pub pipedrive: PipedriveSettings,
    pub yeahdesk: YeahdeskSettings,
    /// The largest attachment fetched and forwarded (Salesforce's limit is 25 MB).
    pub attachment_max_bytes: u64,
    /// The queues' `maxReceiveCount`: the receive that is a message's last try.
    pub max_receives: u32,
    /// Private addresses the media fetcher may reach anyway (local sandboxes only).
    pub fetch_allow_private: Vec<std::net::IpAddr>,
}

/// The Salesforce org omnibridge hands customers to (Interaction Service API).
#[derive(Clone, Debug)]
pub struct SalesforceSettings {
    /// The Connected App's consumer key (the JWT assertion's `iss`).
    pub consumer_key: Option<String>,
    /// The integration user (the assertion's `sub`).
    pub username: Option<String>,
    /// The Connected App certificate's private key, PEM.
    pub private_key: SecretSource,
    pub org_id: Option<String>,
    /// The conversation channel definition's developer name.
    pub authorization_context: Option<String>,
    pub channel_address_id: Option<String>,
    /// `channel` (the messaging channel's own routing), `queue:<queueId>`
    /// or `flow:<flowId>:<fallbackQueueId>`.
    pub routing: String,
    /// Per-bot routing that overrides `routing`: `bot=routing;bot=routing`.
    pub routing_by_bot: Option<String>,
    /// The org's outbound custom platform event field names.
    pub event_payload_field: String,
    pub event_channel_field: String,
    pub event_recipient_field: String,
    pub event_type_field: String,
    /// CCaaS partner routing: `weight:<n>` or `percentage:<p>` to answer
    /// `RoutingRequested` events with agentWork for `ccaas_agent_id`; unset: off.
    pub agent_work: Option<String>,
    pub ccaas_agent_id: Option<String>,
    /// Customer messages that opt out of / back into messaging (case-insensitive, whole message).
    pub opt_out_keywords: Vec<String>,
    pub opt_in_keywords: Vec<String>,
}

/// A bot's desk: `bot=desk` or `bot=desk:channel` in `OMNIBRIDGE_DESK_BY_BOT`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BotDesk {
    pub bot: String,
    pub desk: crate::model::DeskKind,
    /// The desk channel (Pipedrive provider channel id, Yeahdesk channel); the desk's default when unset.
    pub channel: Option<String>,
}

/// Pipedrive Messaging (Channels API): omnibridge is the provider of its channels.
#[derive(Clone, Debug)]
pub struct PipedriveSettings {
    /// The Marketplace app's client id and secret: Pipedrive's Basic auth on the provider endpoints.
    pub client_id: Option<String>,
    pub client_secret: SecretSource,
    /// OAuth access token of the installing user (Messengers integration scope).
    pub api_token: SecretSource,
    /// OAuth refresh token of the installing user: renews the access token
    /// when it expires (with the client id and secret).
    pub refresh_token: SecretSource,
    /// The provider channel id conversations are handed to unless a bot names another.
    pub channel_id: String,
}

/// Yeahdesk: a custom channel of the Yeahdesk account that agents answer in.
#[derive(Clone, Debug)]
pub struct YeahdeskSettings {
    /// The custom channel's id (the last part of its message endpoint).
    pub channel_id: Option<String>,
    /// The channel's API key (`?token=`).
    pub token: SecretSource,
    /// What Yeahdesk's webhooks to `/v1/yeahdesk/webhook` must carry (`?secret=` or `X-Omnibridge-Secret`).
    pub webhook_secret: SecretSource,
}

/// The Yalo bots omnibridge serves.
#[derive(Clone, Debug)]
pub struct YaloSettings {
    /// Bearer token of Yalo's integrations API.
    pub token: SecretSource,
    pub whatsapp_bot_id: Option<String>,
    /// The WhatsApp number registered with the webhook.
    pub whatsapp_phone: Option<String>,
    pub facebook_bot_id: Option<String>,
    /// The Facebook page id registered with the webhook.
    pub facebook_page_id: Option<String>,
    /// Path after `/api/{channel}/bots/{botId}/` that removes a webhook.
    pub remove_path: String,
}

/// Base URLs of the platforms omnibridge calls. The local runner points them
/// at the peer sandboxes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerUrls {
    /// Yalo's integrations API (per account; no default).
    pub yalo: Option<String>,
    /// Salesforce's login URL, for the OAuth JWT bearer flow (also the assertion's `aud`).
    pub salesforce_login: String,
    /// The org's Interaction Service, `https://{my-domain}.my.salesforce-scrt.com` (no default).
    pub salesforce_api: Option<String>,
    pub pipedrive: String,
    /// Pipedrive's OAuth server (token renewal).
    pub pipedrive_oauth: String,
    pub yeahdesk: String,
}

/// Reads settings through a lookup function, so tests need not touch the process environment.
pub struct Env<F: Fn(&str) -> Option<String>>(pub F);

impl<F: Fn(&str) -> Option<String>> Env<F> {
    fn text(&self, name: &str) -> Option<String> {
        (self.0)(name).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
    }

    fn text_or(&self, name: &str, default: &str) -> String {
        self.text(name).unwrap_or_else(|| default.to_owned())
    }

    /// A comma-separated list, upper-cased, empty items dropped.
    fn list(&self, name: &str, default: &str) -> Vec<String> {
        self.text_or(name, default)
            .split(',')
            .map(|k| k.trim().to_uppercase())
            .filter(|k| !k.is_empty())
            .collect()
    }

    fn seconds(&self, name: &str, default: u64, min: u64, max: u64) -> Result<Duration> {
        let Some(raw) = self.text(name) else { return Ok(Duration::from_secs(default)) };
        let secs: u64 = raw.parse().map_err(|_| {
            Error::Config(format!("{name} must be a whole number of seconds, got {raw:?}"))
        })?;
        if !(min..=max).contains(&secs) {
            return Err(Error::Config(format!(
                "{name} must be between {min} and {max} seconds, got {secs}"
            )));
        }
        Ok(Duration::from_secs(secs))
    }

    fn days(&self, name: &str, default: u64, min: u64, max: u64) -> Result<Duration> {
        let Some(raw) = self.text(name) else { return Ok(Duration::from_secs(default * DAY)) };
        let days: u64 = raw.parse().map_err(|_| {
            Error::Config(format!("{name} must be a whole number of days, got {raw:?}"))
        })?;
        if !(min..=max).contains(&days) {
            return Err(Error::Config(format!(
                "{name} must be between {min} and {max} days, got {days}"
            )));
        }
        Ok(Duration::from_secs(days * DAY))
    }

    fn secret(&self, name: &str) -> SecretSource {
        if let Some(v) = self.text(name) {
            SecretSource::Value(SecretString::from(v))
        } else if let Some(arn) = self.text(&format!("{name}_ARN")) {
            SecretSource::SecretsManager { arn }
        } else {
            SecretSource::Unset
        }
    }
}

const DAY: u64 = 24 * 3600;

/// The template's `maxReceiveCount`: with the 2 s base backoff, about
/// 10–17 minutes of retries before a message is given up.
pub const DEFAULT_MAX_RECEIVES: u32 = 10;

impl Settings {
    /// The ARNs of every secret these settings name in Secrets Manager.
    pub fn secret_arns(&self) -> Vec<&str> {
        let sources = [
            &self.jwt_secret,
            &self.yalo_webhook_secret,
            &self.yalo.token,
            &self.salesforce.private_key,
            &self.pipedrive.client_secret,
            &self.pipedrive.api_token,
            &self.pipedrive.refresh_token,
            &self.yeahdesk.token,
            &self.yeahdesk.webhook_secret,
        ];
        let mut arns: Vec<&str> = sources
            .into_iter()
            .filter_map(|s| {
                if let SecretSource::SecretsManager { arn } = s {
                    Some(arn.as_str())
                } else {
                    None
                }
            })
            .collect();
        arns.sort_unstable();
        arns.dedup();
        arns
    }

    /// Settings from the process environment.
    pub fn from_env() -> Result<Self> {
        Self::from_lookup(&Env(|k: &str| std::env::var(k).ok()))
    }

    pub fn from_lookup<F: Fn(&str) -> Option<String>>(env: &Env<F>) -> Result<Self> {
        Ok(Settings {
            table: env.text("OMNIBRIDGE_TABLE"),
            bucket: env.text("OMNIBRIDGE_BUCKET"),
            to_desk_queue_url: env.text("OMNIBRIDGE_TO_DESK_QUEUE_URL"),
            to_desk_dlq_url: env.text("OMNIBRIDGE_TO_DESK_DLQ_URL"),
            to_customer_queue_url: env.text("OMNIBRIDGE_TO_CUSTOMER_QUEUE_URL"),
            to_customer_dlq_url: env.text("OMNIBRIDGE_TO_CUSTOMER_DLQ_URL"),
            salesforce_events_queue_url: env.text("OMNIBRIDGE_SALESFORCE_EVENTS_QUEUE_URL"),
            salesforce_events_dlq_url: env.text("OMNIBRIDGE_SALESFORCE_EVENTS_DLQ_URL"),
            salesforce_conversation_events_queue_url: env
                .text("OMNIBRIDGE_SALESFORCE_CONVERSATION_EVENTS_QUEUE_URL"),
            salesforce_conversation_events_dlq_url: env
                .text("OMNIBRIDGE_SALESFORCE_CONVERSATION_EVENTS_DLQ_URL"),
            jwt_secret: env.secret("OMNIBRIDGE_JWT_SECRET"),
            yalo_webhook_secret: env.secret("OMNIBRIDGE_YALO_WEBHOOK_SECRET"),
            webhook_max_age: env.seconds(
                "OMNIBRIDGE_WEBHOOK_MAX_AGE_SECONDS",
                DAY,
                60,
                100 * 365 * DAY,
            )?,
            jwt_ttl: env.seconds("OMNIBRIDGE_JWT_TTL_SECONDS", 3600, 60, 7 * DAY)?,
            presign_ttl: env.seconds("OMNIBRIDGE_PRESIGN_TTL_SECONDS", 900, 60, 7 * DAY)?,
            context_ttl: env.seconds("OMNIBRIDGE_CONTEXT_TTL_SECONDS", DAY, 60, 7 * DAY)?,
            idempotency_ttl: env.seconds(
                "OMNIBRIDGE_IDEMPOTENCY_TTL_SECONDS",
                7 * DAY,
                7 * DAY,
                90 * DAY,
            )?,
            retention: env.days("OMNIBRIDGE_RETENTION_DAYS", 90, 7, 3650)?,
            client_name: env.text_or("OMNIBRIDGE_CLIENT_NAME", "omnibridge"),
            peers: PeerUrls {
                yalo: env.text("OMNIBRIDGE_YALO_API_URL"),
                salesforce_login: env
                    .text_or("OMNIBRIDGE_SALESFORCE_LOGIN_URL", "https://login.salesforce.com"),
                salesforce_api: env.text("OMNIBRIDGE_SALESFORCE_API_URL"),
                pipedrive: env
                    .text_or("OMNIBRIDGE_PIPEDRIVE_API_URL", "https://api.pipedrive.com/v1"),
                pipedrive_oauth: env
                    .text_or("OMNIBRIDGE_PIPEDRIVE_OAUTH_URL", "https://oauth.pipedrive.com"),
                yeahdesk: env.text_or("OMNIBRIDGE_YEAHDESK_API_URL", "https://api.yeahdesk.ru"),
            },
            yalo: YaloSettings {
                token: env.secret("OMNIBRIDGE_YALO_TOKEN"),
                whatsapp_bot_id: env.text("OMNIBRIDGE_YALO_WHATSAPP_BOT_ID"),
                whatsapp_phone: env.text("OMNIBRIDGE_YALO_WHATSAPP_PHONE"),
                facebook_bot_id: env.text("OMNIBRIDGE_YALO_FACEBOOK_BOT_ID"),
                facebook_page_id: env.text("OMNIBRIDGE_YALO_FACEBOOK_PAGE_ID"),
                remove_path: env.text_or("OMNIBRIDGE_YALO_REMOVE_PATH", "healthcheck/remove"),
            },
            public_url: env
                .text("OMNIBRIDGE_PUBLIC_URL")
                .map(|u| u.trim_end_matches('/').to_owned()),
            salesforce: SalesforceSettings {
                consumer_key: env.text("OMNIBRIDGE_SALESFORCE_CONSUMER_KEY"),
                username: env.text("OMNIBRIDGE_SALESFORCE_USERNAME"),
                private_key: env.secret("OMNIBRIDGE_SALESFORCE_PRIVATE_KEY"),
                org_id: env.text("OMNIBRIDGE_SALESFORCE_ORG_ID"),
                authorization_context: env.text("OMNIBRIDGE_SALESFORCE_AUTHORIZATION_CONTEXT"),
                channel_address_id: env.text("OMNIBRIDGE_SALESFORCE_CHANNEL_ADDRESS_ID"),
                routing: env.text_or("OMNIBRIDGE_SALESFORCE_ROUTING", "channel"),
                routing_by_bot: env.text("OMNIBRIDGE_SALESFORCE_ROUTING_BY_BOT"),
                event_payload_field: env.text_or(
                    "OMNIBRIDGE_SALESFORCE_EVENT_PAYLOAD_FIELD",
                    "my__event__payloadField__c",
                ),
                event_channel_field: env.text_or(
                    "OMNIBRIDGE_SALESFORCE_EVENT_CHANNEL_FIELD",
                    "my__event__chnlAddrIdField__c",
                ),
                event_recipient_field: env.text_or(
                    "OMNIBRIDGE_SALESFORCE_EVENT_RECIPIENT_FIELD",
                    "my__event__recipientField__c",
                ),
                event_type_field: env
                    .text_or("OMNIBRIDGE_SALESFORCE_EVENT_TYPE_FIELD", "my__event__EventType__c"),
                agent_work: env.text("OMNIBRIDGE_SALESFORCE_AGENT_WORK"),
                ccaas_agent_id: env.text("OMNIBRIDGE_SALESFORCE_CCAAS_AGENT_ID"),
                opt_out_keywords: env.list("OMNIBRIDGE_CONSENT_OPT_OUT_KEYWORDS", "STOP"),
                opt_in_keywords: env.list("OMNIBRIDGE_CONSENT_OPT_IN_KEYWORDS", "START"),
            },
            attachment_max_bytes: match env.text("OMNIBRIDGE_ATTACHMENT_MAX_BYTES") {
                None => 25 * 1024 * 1024,
                Some(v) => v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    Error::Config(format!(
                        "OMNIBRIDGE_ATTACHMENT_MAX_BYTES must be a positive number, got {v:?}"
                    ))
                })?,
            },
            max_receives: match env.text("OMNIBRIDGE_MAX_RECEIVES") {
                None => DEFAULT_MAX_RECEIVES,
                Some(v) => v.parse().ok().filter(|n| (1..=1000).contains(n)).ok_or_else(|| {
                    Error::Config(format!("OMNIBRIDGE_MAX_RECEIVES must be 1-1000, got {v:?}"))
                })?,
            },
            fetch_allow_private: env
                .list("OMNIBRIDGE_FETCH_ALLOW_PRIVATE_IPS", "")
                .iter()
                .map(|ip| {
                    ip.parse().map_err(|_| {
                        Error::Config(format!(
                            "OMNIBRIDGE_FETCH_ALLOW_PRIVATE_IPS: {ip:?} is not an IP address"
                        ))
                    })
                })
                .collect::<Result<_>>()?,
            desk_by_bot: parse_desk_by_bot(
                env.text("OMNIBRIDGE_DESK_BY_BOT").as_deref().unwrap_or(""),
            )?,
            pipedrive: PipedriveSettings {
                client_id: env.text("OMNIBRIDGE_PIPEDRIVE_CLIENT_ID"),
                client_secret: env.secret("OMNIBRIDGE_PIPEDRIVE_CLIENT_SECRET"),
                api_token: env.secret("OMNIBRIDGE_PIPEDRIVE_API_TOKEN"),
                refresh_token: env.secret("OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN"),
                channel_id: env.text_or("OMNIBRIDGE_PIPEDRIVE_CHANNEL_ID", "omnibridge"),
            },
            yeahdesk: YeahdeskSettings {
                channel_id: env.text("OMNIBRIDGE_YEAHDESK_CHANNEL_ID"),
                token: env.secret("OMNIBRIDGE_YEAHDESK_TOKEN"),
                webhook_secret: env.secret("OMNIBRIDGE_YEAHDESK_WEBHOOK_SECRET"),
            },
            default_desk: env.text_or("OMNIBRIDGE_DEFAULT_DESK", "salesforce").parse().map_err(
                |_| {
                    Error::Config(
                        "OMNIBRIDGE_DEFAULT_DESK must be salesforce, pipedrive or yeahdesk".into(),
                    )
                },
            )?,
        })
    }

    /// The desk (and desk channel, if the bot names one) a bot hands customers to.
    pub fn desk_for_bot(&self, bot: &str) -> (crate::model::DeskKind, Option<&str>) {
        match self.desk_by_bot.iter().find(|b| b.bot == bot) {
            Some(b) => (b.desk, b.channel.as_deref()),
            None => (self.default_desk, None),
        }
    }

    /// The table, or a configuration error naming the variable to set.
    pub fn table(&self) -> Result<&str> {
        self.table.as_deref().ok_or_else(|| Error::Config("OMNIBRIDGE_TABLE is not set".into()))
    }

    /// The attachments bucket, or a configuration error naming the variable to set.
    pub fn bucket(&self) -> Result<&str> {
        self.bucket.as_deref().ok_or_else(|| Error::Config("OMNIBRIDGE_BUCKET is not set".into()))
    }

    /// The URL of a queue, or a configuration error naming the variable to set.
    pub fn queue_url(&self, queue: crate::ports::QueueName) -> Result<&str> {
        use crate::ports::QueueName::*;
        let (url, var) = match queue {
            ToDesk => (&self.to_desk_queue_url, "OMNIBRIDGE_TO_DESK_QUEUE_URL"),
            ToCustomer => (&self.to_customer_queue_url, "OMNIBRIDGE_TO_CUSTOMER_QUEUE_URL"),
            SalesforceEvents => {
                (&self.salesforce_events_queue_url, "OMNIBRIDGE_SALESFORCE_EVENTS_QUEUE_URL")
            }
            SalesforceConversationEvents => (
                &self.salesforce_conversation_events_queue_url,
                "OMNIBRIDGE_SALESFORCE_CONVERSATION_EVENTS_QUEUE_URL",
            ),
        };
        url.as_deref().ok_or_else(|| Error::Config(format!("{var} is not set")))
    }

    /// The URL of a queue's dead-letter queue, if configured.
    pub fn dlq_url(&self, queue: crate::ports::QueueName) -> Option<&str> {
        use crate::ports::QueueName::*;
        match queue {
            ToDesk => self.to_desk_dlq_url.as_deref(),
            ToCustomer => self.to_customer_dlq_url.as_deref(),
            SalesforceEvents => self.salesforce_events_dlq_url.as_deref(),
            SalesforceConversationEvents => self.salesforce_conversation_events_dlq_url.as_deref(),
        }
    }
}

/// `bot=desk[:channel];bot=desk[:channel]`.
fn parse_desk_by_bot(raw: &str) -> Result<Vec<BotDesk>> {
    let bad = |item: &str| {
        Error::Config(format!(
            "OMNIBRIDGE_DESK_BY_BOT: {item:?} is not bot=desk or bot=desk:channel"
        ))
    };
    raw.split(';')
        .map(str::trim)
        .filter(|i| !i.is_empty())
        .map(|item| {
            let (bot, rest) = item.split_once('=').ok_or_else(|| bad(item))?;
            let (desk, channel) = match rest.split_once(':') {
                Some((d, c)) => (d, Some(c.trim().to_owned()).filter(|c| !c.is_empty())),
                None => (rest, None),
            };
            let desk = desk.trim().parse().map_err(|_| bad(item))?;
            if bot.trim().is_empty() {
                return Err(bad(item));
            }
            Ok(BotDesk { bot: bot.trim().to_owned(), desk, channel })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings> {
        let map: HashMap<String, String> =
            pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(&Env(move |k: &str| map.get(k).cloned()))
    }

    #[test]
    fn when_nothing_is_set_should_use_the_documented_defaults() {
        let s = settings(&[]).unwrap();
        assert_eq!(s.table, None);
        assert_eq!(s.jwt_ttl, Duration::from_secs(3600));
        assert_eq!(s.context_ttl, Duration::from_secs(DAY));
        assert_eq!(s.idempotency_ttl, Duration::from_secs(7 * DAY));
        assert_eq!(s.retention, Duration::from_secs(90 * DAY));
        assert!(matches!(s.jwt_secret, SecretSource::Unset));
        assert_eq!(s.peers.salesforce_login, "https://login.salesforce.com");
        assert_eq!(s.peers.pipedrive, "https://api.pipedrive.com/v1");
        assert_eq!(s.peers.yalo, None);
    }

    #[test]
    fn when_idempotency_ttl_is_under_seven_days_should_be_refused() {
        let err = settings(&[("OMNIBRIDGE_IDEMPOTENCY_TTL_SECONDS", "3600")]).unwrap_err();
        assert!(err.to_string().contains("OMNIBRIDGE_IDEMPOTENCY_TTL_SECONDS"));
    }

    #[test]
    fn when_secret_is_set_should_never_print_it() {
        let s = settings(&[("OMNIBRIDGE_JWT_SECRET", "super-secret-value-that-is-long-enough")])
            .unwrap();
        assert!(!format!("{s:?}").contains("super-secret"));
    }

    #[test]
    fn when_bots_name_their_desks_should_route_each_and_default_the_rest() {
        let s =
            settings(&[("OMNIBRIDGE_DESK_BY_BOT", "shop-bot=pipedrive:shop; help-bot = yeahdesk")])
                .unwrap();
        assert_eq!(s.desk_for_bot("shop-bot"), (crate::model::DeskKind::Pipedrive, Some("shop")));
        assert_eq!(s.desk_for_bot("help-bot"), (crate::model::DeskKind::Yeahdesk, None));
        assert_eq!(s.desk_for_bot("other"), (crate::model::DeskKind::Salesforce, None));
        assert!(settings(&[("OMNIBRIDGE_DESK_BY_BOT", "shop-bot=zendesk")]).is_err());
        assert!(settings(&[("OMNIBRIDGE_DESK_BY_BOT", "shop-bot")]).is_err());
    }

    #[test]
    fn when_secret_arn_is_set_should_read_it_from_secrets_manager() {
        let s = settings(&[(
            "OMNIBRIDGE_JWT_SECRET_ARN",
            "arn:aws:secretsmanager:us-east-1:1:secret:x",
        )])
        .unwrap();
        assert!(matches!(s.jwt_secret, SecretSource::SecretsManager { .. }));
    }
}
