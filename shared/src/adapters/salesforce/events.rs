//! Salesforce's outbound platform event, as Event Relay delivers it through
//! EventBridge (or the seed's Pub/Sub shape, or posted over HTTPS): the
//! deprecated and Spring '24 layouts, field names from the settings.

use serde_json::{Map, Value};

use crate::config::SalesforceSettings;
use crate::model::{now_millis, AgentEvent, WorkRequest};
use crate::ports::EventFormat;
use crate::{Error, Result};

/// The org's platform event, by the field names of the settings.
pub struct PlatformEvents {
    names: SalesforceSettings,
}

impl PlatformEvents {
    pub fn new(names: SalesforceSettings) -> Self {
        PlatformEvents { names }
    }
}

impl EventFormat for PlatformEvents {
    fn read(&self, event: &Value) -> Result<AgentEvent> {
        parse(event, &self.names)
    }
}

/// A field's value: a plain string (Event Relay) or Pub/Sub's `{"string": ...}` union.
fn field<'a>(fields: &'a Map<String, Value>, name: &str) -> Option<&'a str> {
    match fields.get(name)? {
        Value::String(s) => Some(s),
        Value::Object(o) => o.get("string").and_then(Value::as_str),
        _ => None,
    }
}

/// The event's fields, wherever the transport put them.
fn fields_of<'a>(event: &'a Value, payload_field: &str) -> Option<&'a Map<String, Value>> {
    let has = |m: &&Map<String, Value>| m.contains_key(payload_field);
    // EventBridge: detail.payload holds the fields.
    if let Some(m) = event.pointer("/detail/payload").and_then(Value::as_object).filter(has) {
        return Some(m);
    }
    let payload = event.get("payload").and_then(Value::as_object)?;
    if has(&payload) {
        return Some(payload);
    }
    // The seed's shape: payload.<event name>.<fields>.
    payload.values().filter_map(Value::as_object).find(has)
}

fn parse(event: &Value, names: &SalesforceSettings) -> Result<AgentEvent> {
    let bad = |why: &str| Error::invalid("Salesforce event", why.to_owned());
    let fields = fields_of(event, &names.event_payload_field)
        .or_else(|| event.as_object().filter(|m| m.contains_key(&names.event_payload_field)))
        .ok_or_else(|| bad(&format!("no {} field", names.event_payload_field)))?;
    let payload: Value =
        serde_json::from_str(field(fields, &names.event_payload_field).unwrap_or_default())
            .map_err(|e| bad(&format!("payload field is not JSON: {e}")))?;
    match field(fields, &names.event_type_field) {
        None | Some("Interaction") => {}
        Some("RoutingRequested") => {
            let text = |k: &str| payload[k].as_str().map(str::to_owned);
            return match (text("conversationIdentifier"), text("workRecordId")) {
                (Some(conversation_identifier), Some(work_item_id)) => {
                    Ok(AgentEvent::RoutingRequested(WorkRequest {
                        conversation_identifier,
                        work_item_id,
                        routing_type: text("routingType").unwrap_or_else(|| "Initial".into()),
                        correlation: event
                            .get("id")
                            .and_then(Value::as_str)
                            .map(str::to_owned)
                            .unwrap_or_else(|| uuid::Uuid::new_v4().to_string()),
                    }))
                }
                _ => Err(bad("RoutingRequested without conversationIdentifier and workRecordId")),
            };
        }
        Some(other) => return Ok(AgentEvent::Ignored(other.to_owned())),
    }
    // Spring '24 carries the recipient inside the payload (the entry flat or under `payload`);
    // the deprecated layout has its own recipient field.
    let (recipient, entry) = match payload.get("recipient") {
        Some(r) => (r.clone(), payload.get("payload").cloned().unwrap_or_else(|| payload.clone())),
        None => {
            let r: Value = serde_json::from_str(
                field(fields, &names.event_recipient_field).unwrap_or_default(),
            )
            .map_err(|_| bad("no recipient"))?;
            (r, payload.clone())
        }
    };
    let end_user = recipient["subject"]
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| bad("recipient has no subject"))?
        .to_owned();
    let entry_type = entry["entryType"].as_str().unwrap_or_default();
    match entry_type {
        "Message" => {
            let identifier = entry["identifier"]
                .as_str()
                .or_else(|| entry.pointer("/entryPayload/id").and_then(Value::as_str))
                .ok_or_else(|| bad("message without identifier"))?
                .to_owned();
            let content = entry
                .pointer("/entryPayload/abstractMessage/staticContent")
                .cloned()
                .unwrap_or(Value::Null);
            let text = content["text"].as_str().filter(|t| !t.is_empty()).map(str::to_owned);
            let files = content["attachments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| {
                            Some((
                                f["mimeType"].as_str()?.to_owned(),
                                f["url"].as_str()?.to_owned(),
                                f["name"].as_str().unwrap_or("file").to_owned(),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default();
            let sender = entry
                .pointer("/sender/subject")
                .and_then(Value::as_str)
                .unwrap_or("agent")
                .to_owned();
            let at = entry["clientTimestamp"]
                .as_i64()
                .or(entry["transcriptedTimestamp"].as_i64())
                .unwrap_or_else(now_millis);
            Ok(AgentEvent::Message { end_user, identifier, sender, text, files, at })
        }
        "SessionStatusChanged"
            if entry.pointer("/entryPayload/sessionStatus").and_then(Value::as_str)
                == Some("Ended") =>
        {
            Ok(AgentEvent::SessionEnded { end_user })
        }
        other => Ok(AgentEvent::Ignored(other.to_owned())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn names() -> SalesforceSettings {
        crate::config::Settings::from_lookup(&crate::config::Env(|_: &str| None))
            .unwrap()
            .salesforce
    }

    #[test]
    fn when_the_seeds_deprecated_event_arrives_should_read_the_agents_message() {
        let payload = r#"{"senderDisplayName":"John Dow","identifier":"56e10dce","entryType":"Message","entryPayload":{"entryType":"Message","id":"56e10dce","abstractMessage":{"messageType":"StaticContentMessage","id":"56e10dce","staticContent":{"formatType":"Text","text":"Hi, how are you?"}},"messageReason":null},"sender":{"appType":"agent","subject":"005xx0000012345","role":"Agent"},"transcriptedTimestamp":1690344475508,"clientTimestamp":1690344475409,"clientDuration":0}"#;
        let event = json!({"replayId": "2278491", "payload": {"my__event__e": {
            "CreatedDate": 1690344475579i64, "my__event__chnlAddrIdField__c": {"string": "b0ffeafe"},
            "my__event__payloadField__c": {"string": payload},
            "my__event__recipientField__c": {"string": r#"{"appType":"custom","subject":"David Wood","role":"EndUser"}"#}}}});
        let AgentEvent::Message { end_user, text, sender, at, .. } =
            parse(&event, &names()).unwrap()
        else {
            panic!()
        };
        assert_eq!(
            (end_user.as_str(), text.as_deref(), sender.as_str(), at),
            ("David Wood", Some("Hi, how are you?"), "005xx0000012345", 1690344475409)
        );
    }

    #[test]
    fn when_a_spring_24_event_arrives_through_eventbridge_should_read_attachments_and_session_end()
    {
        let payload = json!({"channelAddressIdentifier": "b0ff", "recipient": {"appType": "custom", "subject": "David Wood", "role": "EndUser"},
            "payload": {"identifier": "80bb", "entryType": "Message", "entryPayload": {"entryType": "Message", "id": "80bb",
                "abstractMessage": {"messageType": "StaticContentMessage", "id": "80bb", "staticContent": {"formatType": "Attachments", "text": "did you get my file",
                    "attachments": [{"name": "BYO.png", "id": "4f3c", "mimeType": "image/png", "url": "https://x.test/f"}]}}}, "sender": {"subject": "005RM"}}});
        let event = json!({"detail-type": "my__event__e", "detail": {"payload": {"my__event__payloadField__c": payload.to_string(), "my__event__EventType__c": "Interaction"}}});
        let AgentEvent::Message { files, .. } = parse(&event, &names()).unwrap() else { panic!() };
        assert_eq!(files, vec![("image/png".into(), "https://x.test/f".into(), "BYO.png".into())]);
        let ended = json!({"channelAddressIdentifier": "b0ff", "recipient": {"subject": "David Wood"}, "entryType": "SessionStatusChanged",
            "entryPayload": {"entryType": "SessionStatusChanged", "sessionStatus": "Ended"}});
        let event = json!({"detail": {"payload": {"my__event__payloadField__c": ended.to_string(), "my__event__EventType__c": "Interaction"}}});
        assert_eq!(
            parse(&event, &names()).unwrap(),
            AgentEvent::SessionEnded { end_user: "David Wood".into() }
        );
        let routing = json!({"id": "ev-1", "detail": {"payload": {"my__event__payloadField__c": r#"{"conversationIdentifier":"c1","workRecordId":"0Mw1","routingType":"Initial"}"#, "my__event__EventType__c": "RoutingRequested"}}});
        assert_eq!(
            parse(&routing, &names()).unwrap(),
            AgentEvent::RoutingRequested(WorkRequest {
                conversation_identifier: "c1".into(),
                work_item_id: "0Mw1".into(),
                routing_type: "Initial".into(),
                correlation: "ev-1".into()
            })
        );
    }
}
