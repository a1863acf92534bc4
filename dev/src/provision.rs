//! Creates what template.yaml declares (table with TTL, bucket, FIFO queues
//! with DLQs) in the local AWS, when missing.

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection, ProjectionType,
    ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use omnibridge::adapters::dynamodb::{GSI1, TTL_ATTRIBUTE};
use omnibridge::config::Settings;

/// Names of the local resources; `prefix` keeps test runs apart.
pub fn local_names(settings: &mut Settings, prefix: &str) {
    settings.table = format!("{prefix}{}", settings.table);
    settings.bucket = format!("{prefix}{}", settings.bucket);
}

/// Ensures the table, bucket and queues exist and fills the queue URLs into `settings`.
pub async fn ensure(aws: &SdkConfig, settings: &mut Settings, visibility_timeout_secs: u32) -> anyhow::Result<()> {
    ensure_table(&aws_sdk_dynamodb::Client::new(aws), &settings.table).await?;
    ensure_bucket(aws, &settings.bucket).await?;
    let sqs = aws_sdk_sqs::Client::new(aws);
    let base = settings.table.clone();
    let (q, dlq) = ensure_queue(&sqs, &format!("{base}-to-desk"), visibility_timeout_secs).await?;
    settings.to_desk_queue_url = Some(q);
    settings.to_desk_dlq_url = Some(dlq);
    let (q, dlq) = ensure_queue(&sqs, &format!("{base}-to-customer"), visibility_timeout_secs).await?;
    settings.to_customer_queue_url = Some(q);
    settings.to_customer_dlq_url = Some(dlq);
    let (q, dlq) = ensure_queue(&sqs, &format!("{base}-salesforce-events"), visibility_timeout_secs).await?;
    settings.salesforce_events_queue_url = Some(q);
    settings.salesforce_events_dlq_url = Some(dlq);
    Ok(())
}

fn key(name: &str, kind: KeyType) -> anyhow::Result<KeySchemaElement> {
    Ok(KeySchemaElement::builder().attribute_name(name).key_type(kind).build()?)
}

fn string_attr(name: &str) -> anyhow::Result<AttributeDefinition> {
    Ok(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build()?)
}

async fn ensure_table(client: &aws_sdk_dynamodb::Client, table: &str) -> anyhow::Result<()> {
    let res = client
        .create_table()
        .table_name(table)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(
            ["PK", "SK", "GSI1PK", "GSI1SK"].iter().map(|n| string_attr(n)).collect::<anyhow::Result<_>>()?,
        ))
        .key_schema(key("PK", KeyType::Hash)?)
        .key_schema(key("SK", KeyType::Range)?)
        .global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(GSI1)
                .key_schema(key("GSI1PK", KeyType::Hash)?)
                .key_schema(key("GSI1SK", KeyType::Range)?)
                .projection(Projection::builder().projection_type(ProjectionType::All).build())
                .build()?,
        )
        .send()
        .await;
    match res {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(|s| s.is_resource_in_use_exception()) => return Ok(()),
        Err(e) => return Err(e).context(format!("creating table {table}")),
    }
    client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(
            TimeToLiveSpecification::builder().attribute_name(TTL_ATTRIBUTE).enabled(true).build()?,
        )
        .send()
        .await
        .context("enabling TTL")?;
    Ok(())
}

async fn ensure_bucket(aws: &SdkConfig, bucket: &str) -> anyhow::Result<()> {
    let config = aws_sdk_s3::config::Builder::from(aws).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(config);
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()) =>
        {
            Ok(())
        }
        Err(e) => Err(e).context(format!("creating bucket {bucket}")),
    }
}

/// A FIFO queue and its FIFO DLQ (after 5 receives); returns their URLs.
async fn ensure_queue(sqs: &aws_sdk_sqs::Client, name: &str, visibility: u32) -> anyhow::Result<(String, String)> {
    let dlq = sqs
        .create_queue()
        .queue_name(format!("{name}-dlq.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::MessageRetentionPeriod, "1209600")
        .send()
        .await
        .context("creating a DLQ")?
        .queue_url
        .context("DLQ URL")?;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await?
        .attributes
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .context("DLQ ARN")?;
    let redrive = serde_json::json!({ "deadLetterTargetArn": dlq_arn, "maxReceiveCount": omnibridge::worker::DEFAULT_MAX_RECEIVES.to_string() }).to_string();
    let queue = sqs
        .create_queue()
        .queue_name(format!("{name}.fifo"))
        .attributes(QueueAttributeName::FifoQueue, "true")
        .attributes(QueueAttributeName::VisibilityTimeout, visibility.to_string())
        .attributes(QueueAttributeName::RedrivePolicy, redrive)
        .send()
        .await
        .context("creating a queue")?
        .queue_url
        .context("queue URL")?;
    Ok((queue, dlq))
}
