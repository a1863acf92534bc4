//! `omnibridge-admin`: operator commands against a deployment's table (the
//! AWS credentials and region of the environment; AWS_ENDPOINT_URL for local).

use anyhow::{bail, Context};
use clap::{Parser, Subcommand};
use omnibridge::bootstrap::Runtime;
use omnibridge::ports::UserStore;
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
