//! Creates what template.yaml declares in the local AWS, as CloudFormation
//! would: each table with its keys, indexes and TTL, each bucket, each queue
//! with its attributes and redrive policy (dead-letter queues first), and
//! the Secrets Manager secrets the local stack's parameters point at.

use anyhow::Context;
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType, Projection,
    ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
};
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::Value;

use crate::template::{QueueSpec, Stack, TableSpec};

/// Creates the stack's tables, buckets and queues (those missing).
pub async fn create(aws: &SdkConfig, stack: &Stack) -> anyhow::Result<()> {
    let dynamo = aws_sdk_dynamodb::Client::new(aws);
    for t in &stack.tables {
        create_table(&dynamo, t).await.with_context(|| format!("creating {}", t.logical_id))?;
    }
    for b in &stack.buckets {
        create_bucket(aws, &b.name).await.with_context(|| format!("creating {}", b.logical_id))?;
    }
    let sqs = aws_sdk_sqs::Client::new(aws);
    // Dead-letter queues before the queues that name them.
    let (plain, redriven): (Vec<&QueueSpec>, Vec<&QueueSpec>) =
        stack.queues.iter().partition(|q| q.redrive.is_none());
    for q in plain.into_iter().chain(redriven) {
        create_queue(&sqs, stack, q).await.with_context(|| format!("creating {}", q.logical_id))?;
    }
    Ok(())
}

/// A Secrets Manager secret named `name` holding `value` (replaced if it
/// exists); its ARN.
pub async fn put_secret(aws: &SdkConfig, name: &str, value: &str) -> anyhow::Result<String> {
    let client = aws_sdk_secretsmanager::Client::new(aws);
    match client.create_secret().name(name).secret_string(value).send().await {
        Ok(out) => out.arn.context("a secret without an ARN"),
        Err(e) if e.as_service_error().is_some_and(aws_sdk_secretsmanager::operation::create_secret::CreateSecretError::is_resource_exists_exception) => {
            let out = client
                .put_secret_value()
                .secret_id(name)
                .secret_string(value)
                .send()
                .await
                .context("updating a secret")?;
            out.arn.context("a secret without an ARN")
        }
        Err(e) => Err(e).context(format!("creating the secret {name}")),
    }
}

fn text<'a>(v: &'a Value, key: &str) -> anyhow::Result<&'a str> {
    v.get(key).and_then(Value::as_str).with_context(|| format!("{key} is missing"))
}

fn key_schema(v: Option<&Value>) -> anyhow::Result<Vec<KeySchemaElement>> {
    v.and_then(Value::as_array)
        .context("KeySchema is missing")?
        .iter()
        .map(|k| {
            let kind = match text(k, "KeyType")? {
                "HASH" => KeyType::Hash,
                _ => KeyType::Range,
            };
            Ok(KeySchemaElement::builder()
                .attribute_name(text(k, "AttributeName")?)
                .key_type(kind)
                .build()?)
        })
        .collect()
}

async fn create_table(client: &aws_sdk_dynamodb::Client, t: &TableSpec) -> anyhow::Result<()> {
    let p = &t.properties;
    let attributes = p
        .get("AttributeDefinitions")
        .and_then(Value::as_array)
        .context("AttributeDefinitions is missing")?
        .iter()
        .map(|a| {
            let kind = match text(a, "AttributeType")? {
                "N" => ScalarAttributeType::N,
                "B" => ScalarAttributeType::B,
                _ => ScalarAttributeType::S,
            };
            Ok(AttributeDefinition::builder()
                .attribute_name(text(a, "AttributeName")?)
                .attribute_type(kind)
                .build()?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let mut create = client
        .create_table()
        .table_name(&t.name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .set_key_schema(Some(key_schema(p.get("KeySchema"))?));
    for gsi in p.get("GlobalSecondaryIndexes").and_then(Value::as_array).into_iter().flatten() {
        let projection = match gsi.pointer("/Projection/ProjectionType").and_then(Value::as_str) {
            Some("KEYS_ONLY") => ProjectionType::KeysOnly,
            Some("INCLUDE") => ProjectionType::Include,
            _ => ProjectionType::All,
        };
        create = create.global_secondary_indexes(
            GlobalSecondaryIndex::builder()
                .index_name(text(gsi, "IndexName")?)
                .set_key_schema(Some(key_schema(gsi.get("KeySchema"))?))
                .projection(
                    Projection::builder()
                        .projection_type(projection)
                        .set_non_key_attributes(
                            gsi.pointer("/Projection/NonKeyAttributes")
                                .and_then(Value::as_array)
                                .map(|a| {
                                    a.iter().filter_map(Value::as_str).map(str::to_owned).collect()
                                }),
                        )
                        .build(),
                )
                .build()?,
        );
    }
    match create.send().await {
        Ok(_) => {}
        Err(e) if e.as_service_error().is_some_and(aws_sdk_dynamodb::operation::create_table::CreateTableError::is_resource_in_use_exception) => {
            return Ok(())
        }
        Err(e) => return Err(e.into()),
    }
    if let Some(ttl) = p
        .get("TimeToLiveSpecification")
        .filter(|t| t.get("Enabled").and_then(Value::as_bool) == Some(true))
    {
        client
            .update_time_to_live()
            .table_name(&t.name)
            .time_to_live_specification(
                TimeToLiveSpecification::builder()
                    .attribute_name(text(ttl, "AttributeName")?)
                    .enabled(true)
                    .build()?,
            )
            .send()
            .await
            .context("enabling TTL")?;
    }
    Ok(())
}

async fn create_bucket(aws: &SdkConfig, bucket: &str) -> anyhow::Result<()> {
    let config = aws_sdk_s3::config::Builder::from(aws).force_path_style(true).build();
    let client = aws_sdk_s3::Client::from_conf(config);
    match client.create_bucket().bucket(bucket).send().await {
        Ok(_) => Ok(()),
        Err(e)
            if e.as_service_error().is_some_and(|s| {
                s.is_bucket_already_owned_by_you() || s.is_bucket_already_exists()
            }) =>
        {
            Ok(())
        }
        Err(e) => Err(e.into()),
    }
}

async fn create_queue(
    sqs: &aws_sdk_sqs::Client,
    stack: &Stack,
    q: &QueueSpec,
) -> anyhow::Result<()> {
    let mut create = sqs
        .create_queue()
        .queue_name(&q.name)
        .attributes(QueueAttributeName::VisibilityTimeout, q.visibility_timeout.to_string())
        .attributes(QueueAttributeName::MaximumMessageSize, q.maximum_message_size.to_string())
        .attributes(QueueAttributeName::MessageRetentionPeriod, q.retention.to_string());
    if q.fifo {
        create = create.attributes(QueueAttributeName::FifoQueue, "true");
        if q.content_based_deduplication {
            create = create.attributes(QueueAttributeName::ContentBasedDeduplication, "true");
        }
    }
    if let Some((dlq, max)) = &q.redrive {
        let target = &stack.queue(dlq)?.arn;
        let policy = serde_json::json!({ "deadLetterTargetArn": target, "maxReceiveCount": max.to_string() }).to_string();
        create = create.attributes(QueueAttributeName::RedrivePolicy, policy);
    }
    let url = create.send().await?.queue_url.context("a queue without a URL")?;
    anyhow::ensure!(url == q.url, "the emulator named {} {url}, not {}", q.logical_id, q.url);
    Ok(())
}
