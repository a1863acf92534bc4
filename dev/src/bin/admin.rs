//! `omnibridge-admin`: operator commands against a deployment's table (the
//! AWS credentials and region of the environment; AWS_ENDPOINT_URL for local).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use omnibridge::bootstrap::Runtime;
use omnibridge::ports::UserStore;
use omnibridge::services::pipedrive::{PipedriveChannel, Registry, Template};
use omnibridge::services::auth::{ApiUser, Role};
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
    let store = rt.dynamo();
    match args.command {
        Command::User { action: UserAction::Create { username, role, replace } } => {
            let role: Role = role.parse()?;
            let user = ApiUser::new(&username, role, &read_password()?)?;
            let created = store.put_user(&user, replace).await?;
            println!("{} user {} with role {role}", if created { "created" } else { "replaced" }, user.username);
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
        Command::Pipedrive { action } => pipedrive(&rt, action).await?,
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
    let registry = Registry::new(rt.dynamo());
    let existing = |id: &str| {
        let registry = registry.clone();
        let id = id.to_owned();
        async move { registry.channel(&id).await?.with_context(|| format!("no Pipedrive channel {id}")) }
    };
    match action {
        PipedriveAction::Register { channel, name, provider_type, template_support, avatar_url } => {
            let desk = rt.pipedrive().await?.context("set OMNIBRIDGE_PIPEDRIVE_API_TOKEN (or _ARN) to call Pipedrive")?;
            let mut c = match registry.channel(&channel).await? {
                Some(mut c) => {
                    (c.name, c.provider_type) = (name, provider_type);
                    c
                }
                None => PipedriveChannel::new(&channel, &name, &provider_type)?,
            };
            c.template_support = template_support;
            c.avatar_url = avatar_url;
            let c = desk.register_channel(c).await?;
            println!("registered channel {} (Pipedrive id {})", c.provider_channel_id, c.pipedrive_id.unwrap_or_default());
        }
        PipedriveAction::Templates { channel, file } => {
            let mut c = existing(&channel).await?;
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            c.templates = serde_json::from_str::<Vec<Template>>(&text).context("templates must be [{id, name, content, language}]")?;
            registry.put_channel(&c).await?;
            println!("channel {channel} has {} template(s)", c.templates.len());
        }
        PipedriveAction::Suspend { channel, lift } => {
            let mut c = existing(&channel).await?;
            c.suspended = !lift;
            registry.put_channel(&c).await?;
            println!("channel {channel} is {}", if lift { "active" } else { "suspended" });
        }
        PipedriveAction::Show { channel } => {
            println!("{}", serde_json::to_string_pretty(&existing(&channel).await?)?);
        }
    }
    Ok(())
}
