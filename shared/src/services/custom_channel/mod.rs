//! Custom channels: any source (a web app, a scraper, a mobile app) posts
//! its customers' messages to omnibridge with the seed's custom-channel
//! contract, and gets the agents' replies back by a signed webhook. Here:
//! the channels and their customers' contacts, and their store; the
//! messages in (`inbound.rs`) and the replies out (`sender.rs`). The
//! contract's wire format is `adapters::custom_channel`.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::model::{now_millis, ContactData, ContactObject, DeskKind, EpochMillis, Participant};
use crate::ports::RecordStore;
use crate::{Error, Result};

mod inbound;
mod sender;

pub use inbound::CustomInbound;
pub use sender::CustomSender;

const CHANNEL: &str = "CUSTOMCH";
const CONTACT: &str = "CONTACT";
const CONTACT_DATA: &str = "CDATA";
const CONTACT_VALUE: &str = "CDVAL";
const REFERENCE: &str = "CCREF";

/// A custom channel: a source allowed to post messages, and where replies go.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CustomChannel {
    pub id: String,
    pub name: String,
    /// SHA-256 of the channel's token; the token itself is shown once, at creation.
    pub token_sha256: String,
    /// The HMAC-SHA256 key of the reply webhooks (the source verifies with it).
    pub signing_secret: String,
    /// Where agent replies are POSTed.
    #[serde(default)]
    pub webhook_url: Option<String>,
    /// The desk the channel's customers are handed to, and its desk channel (the desk's default when unset).
    pub desk: DeskKind,
    #[serde(default)]
    pub desk_channel: Option<String>,
    pub enabled: bool,
    #[serde(default)]
    pub deleted: bool,
    pub created_at: EpochMillis,
    /// Whose customers the channel reaches: channels of one owner share
    /// their contacts, no other channel sees them. The channel's own id
    /// unless it was created for an owner.
    #[serde(default)]
    pub owner: Option<String>,
}

/// A 24-hex object id, the form of the seed's ids.
pub fn object_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..24].to_owned()
}

fn is_object_id(s: &str) -> bool {
    s.len() == 24 && s.bytes().all(|b| b.is_ascii_hexdigit())
}

/// A secret from the OS's random source, hex.
fn random_secret() -> String {
    format!("{}{}", uuid::Uuid::new_v4().simple(), uuid::Uuid::new_v4().simple())
}

fn sha256_hex(s: &str) -> String {
    hex::encode(Sha256::digest(s.as_bytes()))
}

impl CustomChannel {
    /// A new enabled channel and its token.
    pub fn create(
        name: &str,
        webhook_url: Option<String>,
        desk: DeskKind,
        desk_channel: Option<String>,
    ) -> (Self, String) {
        let token = random_secret();
        let channel = CustomChannel {
            id: object_id(),
            name: name.to_owned(),
            token_sha256: sha256_hex(&token),
            signing_secret: random_secret(),
            webhook_url,
            desk,
            desk_channel,
            enabled: true,
            deleted: false,
            created_at: now_millis(),
            owner: None,
        };
        (channel, token)
    }

    /// The owner whose contacts the channel shares.
    pub fn owner(&self) -> &str {
        self.owner.as_deref().unwrap_or(&self.id)
    }

    fn token_matches(&self, token: &str) -> bool {
        sha256_hex(token).as_bytes().ct_eq(self.token_sha256.as_bytes()).into()
    }
}

/// A customer of the custom channels and the ways to reach them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Contact {
    pub id: String,
    /// The owner of the channels that may reach this contact.
    #[serde(default)]
    pub owner: String,
    pub name: String,
    #[serde(default)]
    pub description: Option<String>,
    pub contacts: Vec<ContactData>,
    #[serde(default)]
    pub deleted: bool,
}

impl Contact {
    /// The customer as a conversation participant (email and phone from the contact data).
    fn participant(&self) -> Result<Participant> {
        let name = if self.name.trim().is_empty() { self.id.clone() } else { self.name.clone() };
        let mut p = Participant::new(&self.id, &name)?;
        let find = |kinds: &[&str]| {
            self.contacts.iter().find(|d| kinds.contains(&d.kind.as_str())).map(|d| d.value.clone())
        };
        p.email = find(&["mail", "email"]);
        p.phone = find(&["phone", "tel"]);
        Ok(p)
    }
}

#[derive(Serialize, Deserialize)]
struct Pointer {
    contact_id: String,
}

/// The pointer key of a contact-data value, within its owner's contacts.
fn value_key(owner: &str, d: &ContactData) -> String {
    crate::ports::key_of(&[owner, &d.kind, &d.value])
}

fn refused(status: u16, code: &'static str, message: &str) -> Error {
    Error::refused(status, code, message)
}

/// The channels, contacts and dialogs of the custom channels.
#[derive(Clone, Debug)]
pub struct CustomChannels<S> {
    store: S,
}

impl<S: RecordStore> CustomChannels<S> {
    pub fn new(store: S) -> Self {
        CustomChannels { store }
    }

    pub async fn channel(&self, id: &str) -> Result<Option<CustomChannel>> {
        self.store.get_record(CHANNEL, id).await
    }

    pub async fn put_channel(&self, c: &CustomChannel) -> Result<()> {
        self.store.put_record(CHANNEL, &c.id, c).await
    }

    /// A contact of `owner`'s (another owner's contact is not found).
    pub async fn contact(&self, owner: &str, id: &str) -> Result<Option<Contact>> {
        Ok(self.store.get_record::<Contact>(CONTACT, id).await?.filter(|c| c.owner == owner))
    }

    pub async fn put_contact(&self, c: &Contact) -> Result<()> {
        self.store.put_record(CONTACT, &c.id, c).await?;
        for d in &c.contacts {
            let pointer = Pointer { contact_id: c.id.clone() };
            if let Some(id) = &d.id {
                self.store.put_record(CONTACT_DATA, id, &pointer).await?;
            }
            self.store.put_record(CONTACT_VALUE, &value_key(&c.owner, d), &pointer).await?;
        }
        Ok(())
    }

    /// The channel a request names, checked against its token.
    pub async fn authorize(&self, channel_id: &str, token: Option<&str>) -> Result<CustomChannel> {
        let channel = match self.channel(channel_id).await? {
            Some(c) if c.deleted => {
                return Err(refused(
                    403,
                    "E_CHANNEL_DELETED",
                    "channel deleted and token invalid; create a new channel",
                ))
            }
            Some(c) if token.is_some_and(|t| c.token_matches(t)) => c,
            _ => return Err(refused(401, "E_INVALID_TOKEN", "invalid token")),
        };
        if !channel.enabled {
            return Err(refused(
                403,
                "E_CHANNEL_NOT_ENABLED",
                "channel is disabled; enable it in settings",
            ));
        }
        Ok(channel)
    }

    /// `contact_object`: updates the named contact, or merges into the one
    /// that shares contact data, or creates one.
    async fn upsert_contact(&self, owner: &str, obj: &ContactObject) -> Result<Contact> {
        let data = checked_data(&obj.contacts)?;
        let Some(custom) = data.iter().find(|d| d.service == "custom") else {
            return Err(refused(
                400,
                "E_CUSTOM_CONTACTS_REQUIRED",
                "contact data with service == \"custom\" is required",
            ));
        };
        let mut contact = match obj.id.as_deref().filter(|id| !id.is_empty()) {
            Some(id) if !is_object_id(id) => {
                return Err(refused(
                    400,
                    "E_MALFORMED_CONTACT_ID",
                    "wrong or non-existent contact ID",
                ))
            }
            Some(id) => match self.contact(owner, id).await? {
                Some(c) if c.deleted => {
                    return Err(refused(404, "E_CONTACT_DELETED", "contact deleted"))
                }
                Some(c) => c,
                None => return Err(refused(404, "E_CONTACT_NOT_FOUND", "customer not found")),
            },
            None => match self.find_by_data(owner, &data).await? {
                Some(c) => c,
                None => self.new_contact(owner, custom).await?,
            },
        };
        if !obj.name.trim().is_empty() {
            contact.name = obj.name.clone();
        }
        if obj.description.is_some() {
            contact.description = obj.description.clone();
        }
        for mut d in data {
            match contact.contacts.iter_mut().find(|x| x.kind == d.kind && x.value == d.value) {
                Some(x) => {
                    x.service = d.service;
                    x.origin = d.origin;
                }
                None => {
                    d.id = Some(d.id.filter(|i| is_object_id(i)).unwrap_or_else(object_id));
                    contact.contacts.push(d);
                }
            }
        }
        self.put_contact(&contact).await?;
        Ok(contact)
    }

    /// The live contact of `owner`'s that already has one of `data`'s values (the merge).
    async fn find_by_data(&self, owner: &str, data: &[ContactData]) -> Result<Option<Contact>> {
        for d in data {
            let Some(p) =
                self.store.get_record::<Pointer>(CONTACT_VALUE, &value_key(owner, d)).await?
            else {
                continue;
            };
            if let Some(c) = self.contact(owner, &p.contact_id).await?.filter(|c| !c.deleted) {
                return Ok(Some(c));
            }
        }
        Ok(None)
    }

    /// A new contact, created by whoever claims its custom value first: a
    /// request racing another for the same new customer gets the winner's.
    async fn new_contact(&self, owner: &str, custom: &ContactData) -> Result<Contact> {
        let fresh = Contact {
            id: object_id(),
            owner: owner.to_owned(),
            name: String::new(),
            description: None,
            contacts: vec![],
            deleted: false,
        };
        let key = value_key(owner, custom);
        if self
            .store
            .put_record_if_absent(CONTACT_VALUE, &key, &Pointer { contact_id: fresh.id.clone() })
            .await?
        {
            return Ok(fresh);
        }
        let winner: Pointer =
            self.store.get_record(CONTACT_VALUE, &key).await?.ok_or_else(|| Error::Retryable {
                what: "a contact was being created at the same time; try again".into(),
                retry_after: None,
                source: None,
            })?;
        // The winner may not have written the contact yet: start from its id.
        Ok(self
            .contact(owner, &winner.contact_id)
            .await?
            .unwrap_or(Contact { id: winner.contact_id, ..fresh }))
    }

    /// `contacts_id`: contact-data items that must exist with `service == "custom"`;
    /// the fields an item gives replace the stored ones (an item may give only its `id`).
    async fn update_contact_data(&self, owner: &str, items: &[ContactData]) -> Result<Contact> {
        if items.is_empty() {
            return Err(refused(400, "E_CONTACT_INFO_REQUIRED", "contacts_id must not be empty"));
        }
        let mut current: Option<Contact> = None;
        for item in items {
            let malformed =
                || refused(400, "E_MALFORMED_CONTACT_ID", "wrong or non-existent contact ID");
            let id = item.id.clone().filter(|i| is_object_id(i)).ok_or_else(malformed)?;
            let pointer: Pointer =
                self.store.get_record(CONTACT_DATA, &id).await?.ok_or_else(malformed)?;
            let mut contact = match current.take() {
                Some(c) if c.id == pointer.contact_id => c,
                _ => self
                    .contact(owner, &pointer.contact_id)
                    .await?
                    .ok_or_else(|| refused(404, "E_CONTACT_NOT_FOUND", "customer not found"))?,
            };
            if contact.deleted {
                return Err(refused(404, "E_CONTACT_DELETED", "contact deleted"));
            }
            let existing = contact
                .contacts
                .iter_mut()
                .find(|d| d.id.as_deref() == Some(id.as_str()))
                .ok_or_else(malformed)?;
            let given = |new: &str, old: &str| {
                if new.trim().is_empty() {
                    old.to_owned()
                } else {
                    new.to_owned()
                }
            };
            let updated = ContactData {
                id: Some(id),
                value: given(&item.value, &existing.value),
                kind: given(&item.kind, &existing.kind),
                service: given(&item.service, &existing.service),
                origin: given(&item.origin, &existing.origin),
            };
            if existing.service != "custom" || updated.service != "custom" {
                return Err(refused(
                    400,
                    "E_MALFORMED_CONTACT_ID",
                    "contact data must have service == \"custom\"",
                ));
            }
            let replaced = std::mem::replace(existing, updated);
            if (&replaced.kind, &replaced.value) != (&existing.kind, &existing.value) {
                // The old value no longer finds this contact.
                self.drop_value(&contact, &replaced).await?;
            }
            current = Some(contact);
        }
        let contact =
            current.ok_or_else(|| refused(404, "E_CONTACT_NOT_FOUND", "customer not found"))?;
        self.put_contact(&contact).await?;
        Ok(contact)
    }

    /// Erases a contact and its contact data (whatever its owner); whether
    /// there was one.
    pub async fn erase_contact(&self, id: &str) -> Result<bool> {
        let Some(c) = self.store.get_record::<Contact>(CONTACT, id).await? else {
            return Ok(false);
        };
        for d in &c.contacts {
            if let Some(data_id) = &d.id {
                self.store.delete_record(CONTACT_DATA, data_id).await?;
            }
            self.drop_value(&c, d).await?;
        }
        self.store.delete_record(CONTACT, id).await?;
        Ok(true)
    }

    /// Removes the pointer from a contact-data value to `c`, if it is `c`'s.
    async fn drop_value(&self, c: &Contact, d: &ContactData) -> Result<()> {
        let key = value_key(&c.owner, d);
        if self
            .store
            .get_record::<Pointer>(CONTACT_VALUE, &key)
            .await?
            .is_some_and(|p| p.contact_id == c.id)
        {
            self.store.delete_record(CONTACT_VALUE, &key).await?;
        }
        Ok(())
    }

    /// Marks a contact deleted: later messages naming it are refused with E_CONTACT_DELETED.
    pub async fn delete_contact(&self, id: &str) -> Result<bool> {
        let Some(mut c) = self.store.get_record::<Contact>(CONTACT, id).await? else {
            return Ok(false);
        };
        c.deleted = true;
        self.store.put_record(CONTACT, id, &c).await?;
        Ok(true)
    }
}

/// Every contact-data item needs its value, type and service.
fn checked_data(items: &[ContactData]) -> Result<Vec<ContactData>> {
    items
        .iter()
        .map(|d| {
            if [&d.value, &d.kind, &d.service].iter().any(|v| v.trim().is_empty()) {
                return Err(refused(
                    400,
                    "E_CONTACTS_VALUE_REQUIRED",
                    "contact data fields must be filled in",
                ));
            }
            let mut d = d.clone();
            if d.origin.trim().is_empty() {
                d.origin = "custom".into();
            }
            Ok(d)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn when_a_token_is_checked_should_match_only_the_one_given_at_creation() {
        let (c, token) = CustomChannel::create("web", None, DeskKind::Yeahdesk, None);
        assert!(c.token_matches(&token));
        assert!(!c.token_matches("other"));
        assert!(!format!("{c:?}").contains(&token), "only the hash is kept");
        assert!(is_object_id(&c.id));
    }

    #[test]
    fn when_contact_data_lacks_a_field_should_be_refused_with_the_seeds_code() {
        let d = ContactData {
            id: None,
            value: "x".into(),
            kind: String::new(),
            service: "custom".into(),
            origin: String::new(),
        };
        assert!(matches!(
            checked_data(&[d]),
            Err(Error::Refused { code: "E_CONTACTS_VALUE_REQUIRED", .. })
        ));
    }
}
