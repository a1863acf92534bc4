//! The SQS adapter and the worker helper against moto.

use aws_sdk_sqs::types::{MessageSystemAttributeName, QueueAttributeName};
use omnibridge::bootstrap::Runtime;
use omnibridge::model::{ConversationId, MessageId};
use omnibridge::ports::{Queue, QueueJob, QueueName};
use omnibridge::worker::process_batch;
use omnibridge::Error;
use omnibridge_tests::runtime;
use std::sync::Mutex;
use std::time::Duration;

/// Messages as the SQS event carries them.
fn to_event(messages: Vec<aws_sdk_sqs::types::Message>) -> aws_lambda_events::event::sqs::SqsEvent {
    omnibridge_dev::lambda::sqs::to_event(
        messages,
        "arn:aws:sqs:us-east-1:123456789012:q.fifo",
        "us-east-1",
    )
}

fn job(conv: &ConversationId, n: &str) -> QueueJob {
    QueueJob {
        conversation_id: conv.clone(),
        message_id: MessageId::from_source("test", n).unwrap(),
        record: None,
    }
}

async fn receive_all(rt: &Runtime, url: &str) -> Vec<aws_sdk_sqs::types::Message> {
    let sqs = rt.queue();
    let mut all = Vec::new();
    for _ in 0..5 {
        let out = sqs
            .client()
            .receive_message()
            .queue_url(url)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .message_system_attribute_names(MessageSystemAttributeName::All)
            .message_attribute_names("All")
            .send()
            .await
            .unwrap();
        let got = out.messages.unwrap_or_default();
        if got.is_empty() && !all.is_empty() {
            break;
        }
        all.extend(got);
    }
    all
}

fn job_of(m: &aws_sdk_sqs::types::Message) -> QueueJob {
    serde_json::from_str(m.body.as_deref().unwrap()).unwrap()
}

#[tokio::test]
async fn when_job_is_enqueued_twice_should_be_received_once_in_its_conversation_group() {
    let rt = runtime().await;
    let q = rt.queue();
    let conv = ConversationId::new();
    let j = job(&conv, "dup");
    q.enqueue(QueueName::ToDesk, &j).await.unwrap();
    q.enqueue(QueueName::ToDesk, &j).await.unwrap();
    let got = receive_all(&rt, rt.settings.to_desk_queue_url.as_deref().unwrap()).await;
    assert_eq!(got.len(), 1);
    assert_eq!(job_of(&got[0]), j);
    let attrs = got[0].attributes.as_ref().unwrap();
    assert_eq!(attrs[&MessageSystemAttributeName::MessageGroupId], conv.as_str());
    assert_eq!(attrs[&MessageSystemAttributeName::MessageDeduplicationId], j.message_id.as_str());
}

#[tokio::test]
async fn when_queue_url_is_not_configured_should_say_which_setting_is_missing() {
    let rt = runtime().await;
    let mut settings = rt.settings.clone();
    settings.to_customer_queue_url = None;
    let q = omnibridge::adapters::sqs::SqsQueue::new(rt.queue().client().clone(), &settings);
    let err =
        q.enqueue(QueueName::ToCustomer, &job(&ConversationId::new(), "x")).await.unwrap_err();
    assert!(matches!(err, Error::Config(_)), "{err}");
}

#[tokio::test]
async fn when_a_message_fails_should_redeliver_it_and_the_rest_of_its_group_only() {
    let rt = runtime().await;
    let url = rt.settings.to_desk_queue_url.clone().unwrap();
    let (a, b) = (ConversationId::new(), ConversationId::new());
    let jobs = [job(&a, "a1"), job(&b, "b1"), job(&a, "a2"), job(&b, "b2"), job(&a, "a3")];
    for j in &jobs {
        rt.queue().enqueue(QueueName::ToDesk, j).await.unwrap();
    }
    let received = receive_all(&rt, &url).await;
    assert_eq!(received.len(), 5);
    let event = to_event(received.clone());

    let mut policy = rt.retry_policy(QueueName::ToDesk).unwrap();
    policy.base = Duration::from_millis(500);
    let processed = Mutex::new(Vec::new());
    let failing = jobs[2].message_id.clone(); // a2
    let response = process_batch(event, Some(&policy), None, |j: QueueJob, _| {
        let processed = &processed;
        let failing = failing.clone();
        async move {
            processed.lock().unwrap().push(j.message_id.clone());
            if j.message_id == failing {
                Err(Error::Retryable {
                    what: "desk said 503".into(),
                    retry_after: None,
                    source: None,
                })
            } else {
                Ok(())
            }
        }
    })
    .await;

    let sqs_id = |n: usize| {
        received.iter().find(|m| job_of(m) == jobs[n]).and_then(|m| m.message_id.clone()).unwrap()
    };
    let failed: Vec<String> =
        response.batch_item_failures.iter().map(|f| f.item_identifier.clone()).collect();
    assert_eq!(failed, vec![sqs_id(2), sqs_id(4)], "a2 and the later a3 come back; b proceeds");
    let processed = processed.into_inner().unwrap();
    assert!(!processed.contains(&jobs[4].message_id), "a3 must not run before a2 succeeds");
    assert!(processed.contains(&jobs[3].message_id), "b2 ran");

    // Delete what succeeded, as Lambda does; a2 then a3 come back, in order.
    for m in &received {
        if !failed.contains(m.message_id.as_ref().unwrap()) {
            rt.queue()
                .client()
                .delete_message()
                .queue_url(&url)
                .receipt_handle(m.receipt_handle.clone().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let again = receive_all(&rt, &url).await;
    let again: Vec<QueueJob> = again.iter().map(job_of).collect();
    assert_eq!(again, vec![jobs[2].clone(), jobs[4].clone()]);
}

#[tokio::test]
async fn when_a_message_fails_for_good_should_dead_letter_it_and_go_on_with_its_group() {
    let rt = runtime().await;
    let url = rt.settings.to_desk_queue_url.clone().unwrap();
    let dlq = rt.settings.to_desk_dlq_url.clone().unwrap();
    let a = ConversationId::new();
    let jobs = [job(&a, "p1"), job(&a, "p2")];
    for j in &jobs {
        rt.queue().enqueue(QueueName::ToDesk, j).await.unwrap();
    }
    let received = receive_all(&rt, &url).await;
    let policy = rt.retry_policy(QueueName::ToDesk).unwrap();
    let first = jobs[0].message_id.clone();
    let response = process_batch(to_event(received), Some(&policy), None, |j: QueueJob, _| {
        let first = first.clone();
        async move {
            if j.message_id == first {
                Err(Error::permanent("desk refused the message: 400 INVALID_BODY", None))
            } else {
                Ok(())
            }
        }
    })
    .await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    let dead = receive_all(&rt, &dlq).await;
    assert_eq!(dead.len(), 1);
    assert_eq!(job_of(&dead[0]), jobs[0]);
    let reason =
        dead[0].message_attributes.as_ref().unwrap()["reason"].string_value().unwrap().to_owned();
    assert!(reason.contains("INVALID_BODY"), "{reason}");
    // The DLQ is wired as the queue's redrive target too.
    let attrs = rt
        .queue()
        .client()
        .get_queue_attributes()
        .queue_url(&url)
        .attribute_names(QueueAttributeName::RedrivePolicy)
        .send()
        .await
        .unwrap()
        .attributes
        .unwrap();
    assert!(attrs[&QueueAttributeName::RedrivePolicy].contains("\"maxReceiveCount\""));
}

#[tokio::test]
async fn when_body_is_not_a_job_should_fail_for_good_without_a_dlq_configured() {
    use aws_lambda_events::event::sqs::{SqsEvent, SqsMessage};
    let mut record = SqsMessage::default();
    record.message_id = Some("m-1".into());
    record.body = Some("not json".into());
    let mut event = SqsEvent::default();
    event.records.push(record);
    let response = process_batch(event, None, None, |_j: QueueJob, _| async { Ok(()) }).await;
    // With nowhere to dead-letter, it is left to the queue's own redrive policy.
    assert_eq!(response.batch_item_failures.len(), 1);
}

#[tokio::test]
async fn when_a_failed_message_is_delivered_again_should_fail_again_with_its_reason_and_send_nothing(
) {
    use omnibridge::model::*;
    use omnibridge::ports::{MessageStore, StatusDetail};
    use omnibridge::services::delivery::deliver;
    let rt = runtime().await;
    let store = rt.dynamo().unwrap();
    let c = open_chat(&store).await;
    let m = Message::received(
        c.id.clone(),
        Direction::Inbound,
        ChannelKind::Whatsapp,
        "wamid.failed-once",
        "5217331175599",
        Some("Hola".into()),
        vec![],
        now_millis(),
    )
    .unwrap();
    store.append_message(&m).await.unwrap();
    let reason = "Salesforce refused the message: 400 10001";
    store
        .set_message_status(
            &m.id,
            MessageStatus::Failed,
            StatusDetail { delivered_id: None, failure_reason: Some(reason.into()) },
        )
        .await
        .unwrap();

    // A redelivered job (its first dead-lettering or failure report was lost).
    let j = QueueJob::recorded(&m);
    let err = deliver(&store, &j, Direction::Inbound, false, |_, _| async {
        panic!("a failed message is not sent again")
    })
    .await
    .unwrap_err();
    assert!(!err.is_retryable(), "so the worker dead-letters it: {err}");
    assert!(err.chain().contains(reason), "{}", err.chain());
    let stored = store.get_message(&m.id).await.unwrap().unwrap();
    assert_eq!(
        (stored.status, stored.failure_reason.as_deref()),
        (MessageStatus::Failed, Some(reason))
    );
}

#[tokio::test]
async fn when_a_message_is_too_large_to_travel_in_its_job_should_record_it_first_and_queue_a_pointer(
) {
    use omnibridge::model::*;
    use omnibridge::ports::MessageStore;
    use omnibridge::services::delivery::{queue_to_record, MAX_CARRIED_JOB_BYTES};
    let rt = runtime().await;
    let store = rt.dynamo().unwrap();
    let c = open_chat(&store).await;
    let url = rt.settings.to_desk_queue_url.clone().unwrap();
    let received = |id: &str, text: String| {
        Message::received(
            c.id.clone(),
            Direction::Inbound,
            ChannelKind::Whatsapp,
            id,
            "5217331175599",
            Some(text),
            vec![],
            now_millis(),
        )
        .unwrap()
    };

    let small = received("wamid.small", "Hola".into());
    assert!(queue_to_record(&store, &rt.queue(), QueueName::ToDesk, &c.reference(), &small)
        .await
        .unwrap());
    // Control characters take six bytes each in JSON: the longest text
    // allowed would not fit in a queue message.
    let large = received("wamid.large", "\u{1}".repeat(MAX_TEXT_BYTES));
    assert!(
        serde_json::to_vec(&QueueJob::to_record(&large)).unwrap().len() > MAX_CARRIED_JOB_BYTES
    );
    assert!(queue_to_record(&store, &rt.queue(), QueueName::ToDesk, &c.reference(), &large)
        .await
        .unwrap());

    let jobs: Vec<QueueJob> = receive_all(&rt, &url).await.iter().map(job_of).collect();
    assert_eq!(jobs.len(), 2);
    assert_eq!(
        jobs[0].record.as_deref(),
        Some(&small),
        "the small message travels in its job, not yet recorded"
    );
    assert_eq!(store.get_message(&small.id).await.unwrap(), None);
    assert_eq!(
        (&jobs[1].message_id, &jobs[1].record),
        (&large.id, &None),
        "the large one is recorded first"
    );
    assert_eq!(store.get_message(&large.id).await.unwrap().unwrap().text, large.text);
}

/// A WhatsApp customer's open chat with Salesforce.
async fn open_chat(
    store: &omnibridge::adapters::dynamodb::DynamoStore,
) -> omnibridge::model::Conversation {
    use omnibridge::model::*;
    use omnibridge::ports::ConversationStore;
    let customer = Participant::new("5217331175599", "Eduardo Ochoa").unwrap();
    let c = Conversation::open(
        ChannelKind::Whatsapp,
        "coppel-bot",
        customer,
        DeskKind::Salesforce,
        "sf",
        now_millis(),
    )
    .unwrap();
    store.open_conversation(&c).await.unwrap();
    c
}
