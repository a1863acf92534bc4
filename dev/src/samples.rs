//! What the sample events in `events/` refer to, put in the local stack by
//! `dev/admin samples`, so each sample does something meaningful when
//! `cargo lambda invoke` sends it to `dev/run`: the API users of the
//! authenticate sample, and, with the ids the samples carry, a WhatsApp
//! customer in a Salesforce chat (with a message for each delivery worker),
//! a Pipedrive conversation with a message, a Yeahdesk conversation and a
//! custom channel. The JWT samples carry tokens signed with the local
//! stack's key ([`crate::local::LOCAL_JWT_KEY`]), valid until 2100.

use anyhow::Context;
use omnibridge::bootstrap::Runtime;
use omnibridge::model::Sender;
use omnibridge::model::{
    now_millis, ChannelKind, Conversation, ConversationId, DeskKind, Direction, Message, MessageId,
    MessageSource, Participant,
};
use omnibridge::ports::PipedriveRecords;
use omnibridge::ports::{ConversationStore, MessageStore, UserStore};
use omnibridge::services::auth::{ApiUser, Role};
use omnibridge::services::custom_channel::{CustomChannel, CustomChannels};
use secrecy::SecretString;
use sha2::Digest;

/// The password of the sample API users `yaloUser` and `salesforceUser`.
pub const PASSWORD: &str = "sample-password-of-the-local-stack";
/// A WhatsApp customer in a Salesforce chat, their conversation, and a
/// message each way waiting for its worker.
pub const CUSTOMER: &str = "5217331175599";
pub const CONVERSATION: &str = "3f2b8c1e-6d4a-4f1e-9b7a-2c5d8e9f0a1b";
pub const TO_DESK_MESSAGE: &str = "8d9c2f0e-2b8e-5c3a-9f1d-6a7b8c9d0e1f";
pub const TO_CUSTOMER_MESSAGE: &str = "b1e5a3c7-4d2f-5e8a-8b9c-0d1e2f3a4b5c";
/// A WhatsApp customer handed to Pipedrive, and one of their messages.
pub const PIPEDRIVE_CUSTOMER: &str = "5215550001111";
pub const PIPEDRIVE_CONVERSATION: &str = "9b2f3c1e-5d7a-4e1b-8c2d-3f4a5b6c7d8e";
pub const PIPEDRIVE_MESSAGE: &str = "0c9d8e7f-6a5b-5c4d-9e3f-2a1b0c9d8e7f";
/// A WhatsApp customer handed to Yeahdesk, and their Yeahdesk dialog.
pub const YEAHDESK_CUSTOMER: &str = "5215550002222";
pub const YEAHDESK_CONVERSATION: &str = "7e3a9c5b-1f2d-4a6e-8b0c-9d4e5f6a7b8c";
pub const YEAHDESK_DIALOG: &str = "6543000000000000000000d1";
/// A custom channel and its token.
pub const CUSTOM_CHANNEL: &str = "5cc2f62000568c04afdc0c5e";
pub const CUSTOM_CHANNEL_TOKEN: &str = "sample-custom-channel-token";

fn id(s: &str) -> anyhow::Result<ConversationId> {
    Ok(ConversationId::parse(s)?)
}

/// Opens a conversation with a fixed id unless it is there.
async fn conversation(
    rt: &Runtime,
    id_text: &str,
    customer: Participant,
    bot: &str,
    desk: DeskKind,
    desk_channel: &str,
    desk_id: Option<&str>,
) -> anyhow::Result<Conversation> {
    let store = rt.dynamo()?;
    if let Some(c) = store.get_conversation(&id(id_text)?).await? {
        return Ok(c);
    }
    let mut c =
        Conversation::open(ChannelKind::Whatsapp, bot, customer, desk, desk_channel, now_millis())?;
    c.id = id(id_text)?;
    c.desk_conversation_id = desk_id.map(str::to_owned);
    store
        .open_conversation(&c)
        .await
        .with_context(|| format!("opening the sample conversation {id_text}"))?;
    Ok(c)
}

async fn message(
    rt: &Runtime,
    conv: &Conversation,
    id_text: &str,
    direction: Direction,
    source: MessageSource,
    sender: &str,
    text: &str,
) -> anyhow::Result<()> {
    let mut m = Message::received(
        conv.id.clone(),
        direction,
        source,
        &format!("sample-{id_text}"),
        sender,
        Some(text.to_owned()),
        vec![],
        now_millis(),
    )?;
    m.id = MessageId::parse(id_text)?;
    rt.dynamo()?.append_message(&m).await?;
    Ok(())
}

/// Puts what the samples refer to in the stack `rt` speaks for; says what it did.
pub async fn prepare(rt: &Runtime) -> anyhow::Result<Vec<String>> {
    let s = &rt.settings;
    let mut done = Vec::new();
    let store = rt.dynamo()?;
    for (name, role) in [("yaloUser", Role::Yalo), ("salesforceUser", Role::Salesforce)] {
        store.put_user(&ApiUser::new(name, role, &SecretString::from(PASSWORD))?, true).await?;
    }
    done.push(format!("API users yaloUser (YALO_ROLE) and salesforceUser (SALESFORCE_ROLE), password {PASSWORD:?}"));

    let sf_channel = s
        .salesforce
        .channel_address_id
        .clone()
        .context("the stack has no Salesforce channel address (SalesforceChannelAddressId)")?;
    let c = conversation(
        rt,
        CONVERSATION,
        Participant::new(CUSTOMER, "Eduardo Ochoa")?,
        "coppel-bot",
        DeskKind::Salesforce,
        &sf_channel,
        None,
    )
    .await?;
    message(
        rt,
        &c,
        TO_DESK_MESSAGE,
        Direction::Inbound,
        ChannelKind::Whatsapp.into(),
        CUSTOMER,
        "Necesito ayuda con mi pedido",
    )
    .await?;
    message(
        rt,
        &c,
        TO_CUSTOMER_MESSAGE,
        Direction::Outbound,
        DeskKind::Salesforce.into(),
        "005SB000000001",
        "Hola, soy Eva. ¿En qué te ayudo?",
    )
    .await?;
    done.push(format!("WhatsApp customer {CUSTOMER} in a Salesforce chat (conversation {CONVERSATION}), a message to the agent ({TO_DESK_MESSAGE}) and one to the customer ({TO_CUSTOMER_MESSAGE})"));

    let pd_channel = s.pipedrive.channel_id.clone();
    let p = conversation(
        rt,
        PIPEDRIVE_CONVERSATION,
        Participant::new(PIPEDRIVE_CUSTOMER, "Ana Pérez")?,
        "shop-bot",
        DeskKind::Pipedrive,
        &pd_channel,
        None,
    )
    .await?;
    message(
        rt,
        &p,
        PIPEDRIVE_MESSAGE,
        Direction::Inbound,
        ChannelKind::Whatsapp.into(),
        PIPEDRIVE_CUSTOMER,
        "¿Tienen envío a Monterrey?",
    )
    .await?;
    // As a handoff to Pipedrive does: the customer becomes a sender Pipedrive can look up.
    let sender =
        Sender { id: p.customer.id.clone(), name: p.customer.name.clone(), avatar_url: None };
    rt.dynamo()?.put_pipedrive_sender(&pd_channel, &sender).await?;
    done.push(format!("WhatsApp customer {PIPEDRIVE_CUSTOMER} on the Pipedrive channel {pd_channel} (conversation {PIPEDRIVE_CONVERSATION}, message {PIPEDRIVE_MESSAGE})"));

    let yd_channel = s
        .yeahdesk
        .channel_id
        .clone()
        .context("the stack has no Yeahdesk channel (YeahdeskChannelId)")?;
    conversation(
        rt,
        YEAHDESK_CONVERSATION,
        Participant::new(YEAHDESK_CUSTOMER, "Vasya")?,
        "help-bot",
        DeskKind::Yeahdesk,
        &yd_channel,
        Some(YEAHDESK_DIALOG),
    )
    .await?;
    done.push(format!("WhatsApp customer {YEAHDESK_CUSTOMER} in the Yeahdesk dialog {YEAHDESK_DIALOG} (conversation {YEAHDESK_CONVERSATION})"));

    let (mut channel, _) =
        CustomChannel::create("Avito (sample)", None, DeskKind::Salesforce, None);
    channel.id = CUSTOM_CHANNEL.to_owned();
    channel.token_sha256 = hex::encode(sha2::Sha256::digest(CUSTOM_CHANNEL_TOKEN.as_bytes()));
    CustomChannels::new(store).put_channel(&channel).await?;
    done.push(format!("custom channel {CUSTOM_CHANNEL} with the token {CUSTOM_CHANNEL_TOKEN:?}, handing customers to Salesforce"));
    Ok(done)
}
