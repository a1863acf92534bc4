//! `omnibridge-admin`: operator commands against a deployment's table (the
//! AWS credentials and region of the environment; AWS_ENDPOINT_URL for local).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use omnibridge::bootstrap::Runtime;
use omnibridge::model::ChannelKind;
use omnibridge::model::{PipedriveChannel, Template};
use omnibridge::ports::PipedriveRecords;
use omnibridge::ports::UserStore;
use omnibridge::services::auth::{ApiUser, Role};
use omnibridge::services::erase::erase_customer;
use secrecy::SecretString;
use std::io::{IsTerminal, Read};

#[derive(Parser)]
#[command(about = "omnibridge operator commands (table from OMNIBRIDGE_TABLE)")]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// API users of the /v1 endpoints.
    User {
        #[command(subcommand)]
        action: UserAction,
    },
    /// Dead-letter queues: what could not be delivered, and redrive.
    Dlq {
        #[command(subcommand)]
        action: DlqAction,
    },
    /// Pipedrive channels omnibridge provides.
    Pipedrive {
        #[command(subcommand)]
        action: PipedriveAction,
    },
    /// Custom channels: sources that post their customers' messages to omnibridge.
    CustomChannel {
        #[command(subcommand)]
        action: CustomChannelAction,
    },
    /// Puts what the sample events in events/ refer to in a local stack (for `cargo lambda invoke`).
    Samples,
    /// Erases one customer (a data-protection request): their conversations on the channel,
    /// messages, attachments, 24-hour context and, on a custom channel, the contact. Prints
    /// what was erased. The desks' and platforms' copies are theirs to erase.
    EraseCustomer {
        /// whatsapp, facebook or custom
        #[arg(long)]
        channel: String,
        /// The customer's id on the channel (WhatsApp number, Messenger user id, contact id).
        #[arg(long)]
        customer: String,
    },
}

#[derive(Subcommand)]
enum CustomChannelAction {
    /// Creates a channel; prints its id, its token and the key its reply webhooks are signed with (shown once).
    Create {
        #[arg(long)]
        name: String,
        /// Where agent replies are POSTed.
        #[arg(long)]
        webhook_url: Option<String>,
        /// salesforce, pipedrive or yeahdesk (default: OMNIBRIDGE_DEFAULT_DESK)
        #[arg(long)]
        desk: Option<String>,
        /// The desk channel (a Pipedrive provider channel id); the desk's default when absent.
        #[arg(long)]
        desk_channel: Option<String>,
        /// Channels created for one owner share their contacts (a customer writing through
        /// two of them is one contact); without it the channel's contacts are its own.
        #[arg(long)]
        owner: Option<String>,
    },
    /// Sets or changes the webhook URL.
    Webhook {
        #[arg(long)]
        id: String,
        #[arg(long)]
        url: String,
    },
    /// Refuses the channel's messages with E_CHANNEL_NOT_ENABLED (or, with --enable, takes them again).
    Disable {
        #[arg(long)]
        id: String,
        #[arg(long)]
        enable: bool,
    },
    /// Deletes the channel: its token stops working (E_CHANNEL_DELETED).
    Delete {
        #[arg(long)]
        id: String,
    },
    /// Prints the channel's record (the token only as its hash).
    Show {
        #[arg(long)]
        id: String,
    },
    /// Marks a contact deleted: messages naming it get E_CONTACT_DELETED.
    DeleteContact {
        #[arg(long)]
        id: String,
    },
}

#[derive(Subcommand)]
enum PipedriveAction {
    /// Registers a channel with Pipedrive (POST /channels) and records it; again after a delete registers it anew.
    Register {
        /// Our id for the channel (provider_channel_id); bots hand off to OMNIBRIDGE_PIPEDRIVE_CHANNEL_ID.
        #[arg(long)]
        channel: String,
        #[arg(long)]
        name: String,
        /// whatsapp, facebook or other
        #[arg(long, default_value = "whatsapp")]
        provider_type: String,
        #[arg(long)]
        template_support: bool,
        #[arg(long)]
        avatar_url: Option<String>,
    },
    /// Sets the channel's approved templates from a JSON file: [{id, name, content, language}].
    Templates {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        file: std::path::PathBuf,
    },
    /// Refuses Pipedrive's calls for the channel with ACCOUNT_SUSPENDED (or lifts that).
    Suspend {
        #[arg(long)]
        channel: String,
        #[arg(long)]
        lift: bool,
    },
    /// Prints the channel's record.
    Show {
        #[arg(long)]
        channel: String,
    },
}

#[derive(Subcommand)]
enum DlqAction {
    /// Lists what sits in a DLQ (conversation, message, reason), one JSON line each; nothing is consumed.
    List {
        /// to-desk, to-customer or salesforce-events
        #[arg(long, default_value = "to-desk")]
        queue: String,
    },
    /// Sends dead letters back to their queue, to be delivered once, in order.
    Redrive {
        #[arg(long, default_value = "to-desk")]
        queue: String,
        /// Only these (message ids or SQS message ids); all when none is given.
        #[arg(long = "id")]
        ids: Vec<String>,
    },
}

#[derive(Subcommand)]
enum UserAction {
    /// Creates a user. The password is read from standard input (or asked twice on a terminal).
    Create {
        #[arg(long)]
        username: String,
        /// YALO_ROLE (handoff, context, webhooks) or SALESFORCE_ROLE (token check only).
        #[arg(long)]
        role: String,
        /// Replace the user's role and password if the user exists.
        #[arg(long)]
        replace: bool,
    },
    /// Deletes a user; their tokens stop working when they expire.
    Delete {
        #[arg(long)]
        username: String,
    },
}

fn read_password() -> anyhow::Result<SecretString> {
    if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("password: ")?;
        let second = rpassword::prompt_password("again: ")?;
        if first != second {
            bail!("the passwords differ");
        }
        Ok(SecretString::from(first))
    } else {
        let mut buf = String::new();
        std::io::stdin().read_to_string(&mut buf).context("reading the password from stdin")?;
        Ok(SecretString::from(buf.trim_end_matches(['\r', '\n']).to_owned()))
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let rt = Runtime::load().await?;
    let store = rt.dynamo()?;
    match args.command {
        Command::User { action: UserAction::Create { username, role, replace } } => {
            let role: Role = role.parse()?;
            let user = ApiUser::new(&username, role, &read_password()?)?;
            let created = store.put_user(&user, replace).await?;
            println!(
                "{} user {} with role {role}",
                if created { "created" } else { "replaced" },
                user.username
            );
        }
        Command::Dlq { action: DlqAction::List { queue } } => {
            let q = omnibridge_dev::dlq::queue_by_name(&queue)?;
            let letters = omnibridge_dev::dlq::list(&rt, q).await?;
            for l in &letters {
                println!("{}", omnibridge_dev::dlq::to_line(l));
            }
            eprintln!("{} dead letter(s) in the {queue} DLQ", letters.len());
        }
        Command::Dlq { action: DlqAction::Redrive { queue, ids } } => {
            let q = omnibridge_dev::dlq::queue_by_name(&queue)?;
            let done = omnibridge_dev::dlq::redrive(&rt, q, &ids).await?;
            eprintln!("redrove {} dead letter(s) to the {queue} queue", done.len());
        }
        Command::Samples => {
            for line in omnibridge_dev::samples::prepare(&rt).await? {
                println!("{line}");
            }
        }
        Command::EraseCustomer { channel, customer } => {
            let channel: ChannelKind =
                channel.parse().map_err(|e| anyhow::anyhow!("--channel: {e}"))?;
            let erased = erase_customer(&rt.dynamo()?, &rt.blobs()?, channel, &customer).await?;
            println!("{}", serde_json::to_string(&erased)?);
        }
        Command::Pipedrive { action } => pipedrive(&rt, action).await?,
        Command::CustomChannel { action } => custom_channel(&rt, action).await?,
        Command::User { action: UserAction::Delete { username } } => {
            if store.delete_user(&username).await? {
                println!("deleted user {username}");
            } else {
                bail!("no user {username}");
            }
        }
    }
    Ok(())
}

async fn pipedrive(rt: &Runtime, action: PipedriveAction) -> anyhow::Result<()> {
    let store = rt.dynamo()?;
    let existing = |id: &str| {
        let store = store.clone();
        let id = id.to_owned();
        async move {
            store
                .pipedrive_channel(&id)
                .await?
                .with_context(|| format!("no Pipedrive channel {id}"))
        }
    };
    match action {
        PipedriveAction::Register {
            channel,
            name,
            provider_type,
            template_support,
            avatar_url,
        } => {
            let desk = rt.pipedrive().await?.context("set OMNIBRIDGE_PIPEDRIVE_API_TOKEN or OMNIBRIDGE_PIPEDRIVE_REFRESH_TOKEN (or their _ARN) to call Pipedrive")?;
            let mut c = match store.pipedrive_channel(&channel).await? {
                Some(mut c) => {
                    (c.name, c.provider_type) = (name, provider_type);
                    c
                }
                None => PipedriveChannel::new(&channel, &name, &provider_type)?,
            };
            c.template_support = template_support;
            c.avatar_url = avatar_url;
            let c = desk.register_channel(c).await?;
            println!(
                "registered channel {} (Pipedrive id {})",
                c.provider_channel_id,
                c.pipedrive_id.unwrap_or_default()
            );
        }
        PipedriveAction::Templates { channel, file } => {
            let mut c = existing(&channel).await?;
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("reading {}", file.display()))?;
            c.templates = serde_json::from_str::<Vec<Template>>(&text)
                .context("templates must be [{id, name, content, language}]")?;
            store.put_pipedrive_channel(&c).await?;
            println!("channel {channel} has {} template(s)", c.templates.len());
        }
        PipedriveAction::Suspend { channel, lift } => {
            let mut c = existing(&channel).await?;
            c.suspended = !lift;
            store.put_pipedrive_channel(&c).await?;
            println!("channel {channel} is {}", if lift { "active" } else { "suspended" });
        }
        PipedriveAction::Show { channel } => {
            println!("{}", serde_json::to_string_pretty(&existing(&channel).await?)?);
        }
    }
    Ok(())
}

async fn custom_channel(rt: &Runtime, action: CustomChannelAction) -> anyhow::Result<()> {
    use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
    let registry = CustomChannels::new(rt.dynamo()?);
    let existing = |id: &str| {
        let registry = registry.clone();
        let id = id.to_owned();
        async move { registry.channel(&id).await?.with_context(|| format!("no custom channel {id}")) }
    };
    match action {
        CustomChannelAction::Create { name, webhook_url, desk, desk_channel, owner } => {
            let desk = match desk {
                Some(d) => d.parse()?,
                None => rt.settings.default_desk,
            };
            let (mut channel, token) =
                CustomChannel::create(&name, webhook_url, desk, desk_channel);
            channel.owner = owner;
            registry.put_channel(&channel).await?;
            println!("channel id:      {}", channel.id);
            println!(
                "endpoint:        POST <api>/api/custom-channel/message/{}?token={token}",
                channel.id
            );
            println!("token:           {token}");
            println!("signing secret:  {}", channel.signing_secret);
            eprintln!(
                "keep the token and the signing secret now: the token is stored only as a hash"
            );
        }
        CustomChannelAction::Webhook { id, url } => {
            let mut c = existing(&id).await?;
            c.webhook_url = Some(url);
            registry.put_channel(&c).await?;
            println!("channel {id} replies go to {}", c.webhook_url.unwrap_or_default());
        }
        CustomChannelAction::Disable { id, enable } => {
            let mut c = existing(&id).await?;
            c.enabled = enable;
            registry.put_channel(&c).await?;
            println!("channel {id} is {}", if enable { "enabled" } else { "disabled" });
        }
        CustomChannelAction::Delete { id } => {
            let mut c = existing(&id).await?;
            c.deleted = true;
            registry.put_channel(&c).await?;
            println!("channel {id} is deleted");
        }
        CustomChannelAction::Show { id } => {
            let mut c = existing(&id).await?;
            c.signing_secret = "[REDACTED]".into();
            println!("{}", serde_json::to_string_pretty(&c)?);
        }
        CustomChannelAction::DeleteContact { id } => {
            if !registry.delete_contact(&id).await? {
                bail!("no contact {id}");
            }
            println!("contact {id} is deleted");
        }
    }
    Ok(())
}
