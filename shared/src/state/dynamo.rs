//! [`DynamoStateStore`]: the state store on a DynamoDB table.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::error::ProvideErrorMetadata;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, KeysAndAttributes,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableStatus, TransactWriteItem,
    Update,
};

use super::item::{self, DOC, Item, LEASE_HOLDER, LEASE_UNTIL, TARGET, VERSION};
use super::{ClaimOutcome, ClaimWrite, DeleteOutcome, PutOutcome, Record, StateError, StateStore};

/// BatchGetItem reads at most this many keys per call.
const BATCH_GET_MAX_KEYS: usize = 100;
/// Calls per chunk of keys before unprocessed keys become an error (1 call + retries).
const BATCH_GET_ATTEMPTS: u32 = 5;
/// First backoff before re-reading unprocessed keys; doubles on each retry.
const BATCH_GET_BACKOFF: Duration = Duration::from_millis(50);
/// How long `create_table_if_missing` waits for the table to become ACTIVE.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);
const ACTIVE_POLL: Duration = Duration::from_secs(1);

/// The DynamoDB error code of a failed condition expression.
const CONDITION_FAILED: &str = "ConditionalCheckFailedException";

/// The state store on the DynamoDB table `table`. Cheap to clone.
#[derive(Debug, Clone)]
pub struct DynamoStateStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

fn condition_failed(err: &impl ProvideErrorMetadata) -> bool {
    err.code() == Some(CONDITION_FAILED)
}

fn boxed(err: impl Into<aws_sdk_dynamodb::Error>) -> Box<aws_sdk_dynamodb::Error> {
    Box::new(err.into())
}

impl DynamoStateStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// A store whose client is built from `sdk` (endpoint, region and credentials included).
    pub fn from_sdk_config(sdk: &SdkConfig, table: impl Into<String>) -> Self {
        Self::new(aws_sdk_dynamodb::Client::new(sdk), table)
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.table
    }

    /// Creates the table (on-demand billing, key `target`) unless it exists, then waits until it
    /// is ACTIVE. Returns whether this call created it; a concurrent creator counts as "exists".
    pub async fn create_table_if_missing(&self) -> Result<bool, StateError> {
        let created = match self.table_status().await? {
            Some(_) => false,
            None => self.create_table().await?,
        };
        self.wait_until_active().await?;
        Ok(created)
    }

    /// The table's status, or `None` when it does not exist.
    async fn table_status(&self) -> Result<Option<TableStatus>, StateError> {
        match self
            .client
            .describe_table()
            .table_name(&self.table)
            .send()
            .await
        {
            Ok(out) => Ok(Some(
                out.table()
                    .and_then(|t| t.table_status().cloned())
                    .unwrap_or(TableStatus::Creating),
            )),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_not_found_exception()) =>
            {
                Ok(None)
            }
            Err(e) => Err(StateError::DescribeTable {
                table: self.table.clone(),
                source: boxed(e),
            }),
        }
    }

    async fn create_table(&self) -> Result<bool, StateError> {
        let build = |source| StateError::BuildRequest {
            table: self.table.clone(),
            source,
        };
        let key = KeySchemaElement::builder()
            .attribute_name(TARGET)
            .key_type(KeyType::Hash)
            .build()
            .map_err(build)?;
        let attribute = AttributeDefinition::builder()
            .attribute_name(TARGET)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(build)?;
        let request = self
            .client
            .create_table()
            .table_name(&self.table)
            .key_schema(key)
            .attribute_definitions(attribute)
            .billing_mode(BillingMode::PayPerRequest);
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_resource_in_use_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StateError::CreateTable {
                table: self.table.clone(),
                source: boxed(e),
            }),
        }
    }

    async fn wait_until_active(&self) -> Result<(), StateError> {
        let polls = ACTIVE_WAIT.as_secs() / ACTIVE_POLL.as_secs();
        let mut status = None;
        for poll in 0..=polls {
            if poll > 0 {
                tokio::time::sleep(ACTIVE_POLL).await;
            }
            status = self.table_status().await?;
            if status == Some(TableStatus::Active) {
                return Ok(());
            }
        }
        let status = status.map_or_else(|| "missing".to_owned(), |s| s.as_str().to_owned());
        Err(StateError::TableNotActive {
            table: self.table.clone(),
            status,
            waited_secs: ACTIVE_WAIT.as_secs(),
        })
    }

    /// Reads one chunk of at most 100 distinct keys, re-requesting unprocessed keys with backoff.
    async fn get_chunk(
        &self,
        targets: &[&str],
        out: &mut HashMap<String, Record>,
    ) -> Result<(), StateError> {
        let keys: Vec<Item> = targets.iter().map(|t| item::key(t)).collect();
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(true)
            .build()
            .map_err(|source| StateError::BuildRequest {
                table: self.table.clone(),
                source,
            })?;
        for attempt in 0..BATCH_GET_ATTEMPTS {
            if attempt > 0 {
                tokio::time::sleep(BATCH_GET_BACKOFF * 2u32.pow(attempt - 1)).await;
            }
            match self.batch_get(pending, targets.len(), out).await? {
                Some(unprocessed) => pending = unprocessed,
                None => return Ok(()),
            }
        }
        let remaining = targets.len() - targets.iter().filter(|t| out.contains_key(**t)).count();
        Err(StateError::Unprocessed {
            table: self.table.clone(),
            remaining,
            attempts: BATCH_GET_ATTEMPTS,
        })
    }

    /// One BatchGetItem call; returns the keys DynamoDB left unprocessed, if any.
    async fn batch_get(
        &self,
        request: KeysAndAttributes,
        count: usize,
        out: &mut HashMap<String, Record>,
    ) -> Result<Option<KeysAndAttributes>, StateError> {
        let response = self
            .client
            .batch_get_item()
            .request_items(&self.table, request)
            .send()
            .await
            .map_err(|e| StateError::GetMany {
                table: self.table.clone(),
                count,
                source: boxed(e),
            })?;
        let items = response
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        for found in &items {
            if let Some(record) = item::decode(&self.table, found)? {
                out.insert(record.target.clone(), record);
            }
        }
        let unprocessed = response
            .unprocessed_keys
            .and_then(|mut u| u.remove(&self.table));
        Ok(unprocessed.filter(|k| !k.keys().is_empty()))
    }

    /// Why a claim's condition failed, from the item as it was (`old`, which DynamoDB returns
    /// with the failure) or, when the failure carries none, from a read of it now.
    async fn why_not_claimed(
        &self,
        target: &str,
        expected_version: Option<u64>,
        old: Option<&Item>,
    ) -> Result<ClaimOutcome, StateError> {
        let stored = match old {
            Some(old) => item::decode(&self.table, old)?.map(|r| r.version),
            None => self
                .get_many(&[target])
                .await?
                .remove(target)
                .map(|r| r.version),
        };
        Ok(match stored == expected_version {
            true => ClaimOutcome::Leased,
            false => ClaimOutcome::Moved,
        })
    }

    /// One lease release, as an action of a transaction: the condition of `release_lease`.
    fn release_item(&self, target: &str, holder: &str) -> Result<TransactWriteItem, StateError> {
        let update = Update::builder()
            .table_name(&self.table)
            .set_key(Some(item::key(target)))
            .update_expression("REMOVE #holder, #until")
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", LEASE_HOLDER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .build()
            .map_err(|source| StateError::BuildRequest {
                table: self.table.clone(),
                source,
            })?;
        Ok(TransactWriteItem::builder().update(update).build())
    }

    fn update(
        &self,
        target: &str,
    ) -> aws_sdk_dynamodb::operation::update_item::builders::UpdateItemFluentBuilder {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(item::key(target)))
    }
}

impl StateStore for DynamoStateStore {
    async fn get_many<T: AsRef<str> + Sync>(
        &self,
        targets: &[T],
    ) -> Result<HashMap<String, Record>, StateError> {
        // BatchGetItem rejects duplicate keys, and a tick may name a target twice.
        let distinct: Vec<&str> = targets
            .iter()
            .map(|t| t.as_ref())
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let mut out = HashMap::with_capacity(distinct.len());
        for chunk in distinct.chunks(BATCH_GET_MAX_KEYS) {
            self.get_chunk(chunk, &mut out).await?;
        }
        Ok(out)
    }

    async fn put(
        &self,
        target: &str,
        doc: &serde_json::Value,
        expected_version: Option<u64>,
    ) -> Result<PutOutcome, StateError> {
        let (condition, next) = match expected_version {
            None => ("attribute_not_exists(#version)", 1),
            Some(v) => ("#version = :expected", v + 1),
        };
        let mut request = self
            .update(target)
            .update_expression("SET #doc = :doc, #version = :next")
            .condition_expression(condition)
            .expression_attribute_names("#doc", DOC)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":doc", AttributeValue::S(doc.to_string()))
            .expression_attribute_values(":next", item::number(next));
        if let Some(v) = expected_version {
            request = request.expression_attribute_values(":expected", item::number(v));
        }
        match request.send().await {
            Ok(_) => Ok(PutOutcome::Written { version: next }),
            Err(e) if condition_failed(&e) => Ok(PutOutcome::Conflict),
            Err(e) => Err(StateError::Put {
                table: self.table.clone(),
                target: target.to_owned(),
                source: boxed(e),
            }),
        }
    }

    async fn delete(
        &self,
        target: &str,
        expected_version: u64,
    ) -> Result<DeleteOutcome, StateError> {
        let request = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(item::key(target)))
            .condition_expression("attribute_not_exists(#target) OR #version = :expected")
            .expression_attribute_names("#target", TARGET)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":expected", item::number(expected_version));
        match request.send().await {
            Ok(_) => Ok(DeleteOutcome::Deleted),
            Err(e) if condition_failed(&e) => Ok(DeleteOutcome::Conflict),
            Err(e) => Err(StateError::Delete {
                table: self.table.clone(),
                target: target.to_owned(),
                source: boxed(e),
            }),
        }
    }

    async fn claim_write(&self, claim: &ClaimWrite<'_>) -> Result<ClaimOutcome, StateError> {
        let (target, holder, expected_version, doc, now, ttl) = claim.parts();
        let version_holds = match expected_version {
            None => "attribute_not_exists(#version)",
            Some(_) => "#version = :expected",
        };
        let condition = format!(
            "{version_holds} AND (attribute_not_exists(#until) OR #until <= :now OR #holder = :holder)"
        );
        let mut request = self
            .update(target)
            .condition_expression(condition)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .expression_attribute_names("#holder", LEASE_HOLDER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_names("#version", VERSION)
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()))
            .expression_attribute_values(":now", item::millis(now));
        if let Some(v) = expected_version {
            request = request.expression_attribute_values(":expected", item::number(v));
        }
        // A lease that would end at `now` is none: a settle removes the stored one instead.
        let leased = ttl > chrono::Duration::zero();
        let mut set = Vec::new();
        if leased {
            set.push("#holder = :holder, #until = :until");
            request = request.expression_attribute_values(":until", item::millis(now + ttl));
        }
        let mut version = expected_version;
        if let Some(doc) = doc {
            let next = expected_version.map_or(1, |v| v + 1);
            set.push("#doc = :doc, #version = :next");
            request = request
                .expression_attribute_names("#doc", DOC)
                .expression_attribute_values(":doc", AttributeValue::S(doc.to_string()))
                .expression_attribute_values(":next", item::number(next));
            version = Some(next);
        }
        let mut update = match set.is_empty() {
            true => String::new(),
            false => format!("SET {} ", set.join(", ")),
        };
        if !leased {
            update.push_str("REMOVE #holder, #until");
        }
        match request.update_expression(update.trim_end()).send().await {
            Ok(_) => Ok(ClaimOutcome::Claimed { version }),
            Err(e) => match e.as_service_error() {
                Some(UpdateItemError::ConditionalCheckFailedException(failed)) => {
                    self.why_not_claimed(target, expected_version, failed.item())
                        .await
                }
                _ => Err(StateError::Claim {
                    table: self.table.clone(),
                    target: target.to_owned(),
                    source: boxed(e),
                }),
            },
        }
    }

    async fn release_lease(&self, target: &str, holder: &str) -> Result<bool, StateError> {
        let request = self
            .update(target)
            .update_expression("REMOVE #holder, #until")
            .condition_expression("#holder = :holder")
            .expression_attribute_names("#holder", LEASE_HOLDER)
            .expression_attribute_names("#until", LEASE_UNTIL)
            .expression_attribute_values(":holder", AttributeValue::S(holder.to_owned()));
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e) if condition_failed(&e) => Ok(false),
            Err(e) => Err(StateError::ReleaseLease {
                table: self.table.clone(),
                target: target.to_owned(),
                source: boxed(e),
            }),
        }
    }

    async fn release_leases(&self, leases: &[(&str, &str)]) -> Result<bool, StateError> {
        let items = leases
            .iter()
            .map(|(target, holder)| self.release_item(target, holder))
            .collect::<Result<Vec<_>, _>>()?;
        let request = self
            .client
            .transact_write_items()
            .set_transact_items(Some(items));
        match request.send().await {
            Ok(_) => Ok(true),
            // Cancelled as a whole: a condition failed, or another write to one of the targets
            // was under way. Nothing was released.
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_transaction_canceled_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(StateError::ReleaseLeases {
                table: self.table.clone(),
                count: leases.len(),
                source: boxed(e),
            }),
        }
    }
}

/// Exact wire cases moto can't produce (it never returns unprocessed keys or a CREATING table).
#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::Client;
    use aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemOutput;
    use aws_sdk_dynamodb::operation::create_table::CreateTableOutput;
    use aws_sdk_dynamodb::operation::describe_table::{DescribeTableError, DescribeTableOutput};
    use aws_sdk_dynamodb::types::TableDescription;
    use aws_sdk_dynamodb::types::error::ResourceNotFoundException;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};

    const TABLE: &str = "offpeak-state";

    fn stored(target: &str) -> Item {
        let mut found = item::key(target);
        found.insert(VERSION.into(), item::number(1));
        found.insert(
            DOC.into(),
            AttributeValue::S(format!(r#"{{"t":"{target}"}}"#)),
        );
        found
    }

    fn keys_of(targets: &[&str]) -> KeysAndAttributes {
        let keys = targets.iter().map(|t| item::key(t)).collect();
        KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .build()
            .unwrap()
    }

    fn requested(
        input: &aws_sdk_dynamodb::operation::batch_get_item::BatchGetItemInput,
    ) -> Vec<String> {
        let keys = input
            .request_items()
            .and_then(|r| r.get(TABLE))
            .map(|k| k.keys().to_vec());
        let mut targets: Vec<String> = keys
            .unwrap_or_default()
            .iter()
            .filter_map(|k| k.get(TARGET).and_then(|v| v.as_s().ok()).cloned())
            .collect();
        targets.sort();
        targets
    }

    #[tokio::test]
    async fn unprocessed_keys_are_requested_again_and_only_they() {
        // GIVEN DynamoDB answers the first call with one item and two unprocessed keys
        let first = mock!(Client::batch_get_item)
            .match_requests(|r| requested(r) == ["a", "b", "c"])
            .then_output(|| {
                BatchGetItemOutput::builder()
                    .responses(TABLE, vec![stored("a")])
                    .unprocessed_keys(TABLE, keys_of(&["b", "c"]))
                    .build()
            });
        let retry = mock!(Client::batch_get_item)
            .match_requests(|r| requested(r) == ["b", "c"])
            .then_output(|| {
                BatchGetItemOutput::builder()
                    .responses(TABLE, vec![stored("b"), stored("c")])
                    .build()
            });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, [&first, &retry]);

        // WHEN a tick reads the three targets
        let records = DynamoStateStore::new(client, TABLE)
            .get_many(&["c", "a", "b"])
            .await
            .unwrap();

        // THEN the second call asks for the two unprocessed keys only, and all three records arrive
        assert_eq!((first.num_calls(), retry.num_calls()), (1, 1));
        let mut found: Vec<_> = records.keys().cloned().collect();
        found.sort();
        assert_eq!(found, ["a", "b", "c"]);
        assert_eq!(records["b"].doc, serde_json::json!({"t": "b"}));
    }

    #[tokio::test]
    async fn keys_left_unprocessed_become_an_error_after_bounded_attempts() {
        // GIVEN DynamoDB never processes one of two keys
        let throttled = mock!(Client::batch_get_item).then_compute_output(|r| {
            let found: Vec<Item> = requested(r)
                .iter()
                .filter(|t| *t == "a")
                .map(|t| stored(t))
                .collect();
            BatchGetItemOutput::builder()
                .responses(TABLE, found)
                .unprocessed_keys(TABLE, keys_of(&["b"]))
                .build()
        });
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&throttled]);

        // WHEN a tick reads both
        let err = DynamoStateStore::new(client, TABLE)
            .get_many(&["a", "b"])
            .await
            .unwrap_err();

        // THEN it gives up after five calls, naming what is left
        assert_eq!(throttled.num_calls(), BATCH_GET_ATTEMPTS as usize);
        assert!(
            matches!(
                err,
                StateError::Unprocessed {
                    remaining: 1,
                    attempts: 5,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(
            err.to_string()
                .contains("table offpeak-state: 1 key(s) still unprocessed"),
            "{err}"
        );
    }

    #[tokio::test]
    async fn create_waits_until_the_new_table_is_active() {
        // GIVEN a missing table that is CREATING once created, then ACTIVE
        let status = |s: TableStatus| {
            DescribeTableOutput::builder()
                .table(TableDescription::builder().table_status(s).build())
                .build()
        };
        let describe = mock!(Client::describe_table)
            .sequence()
            .error(|| {
                DescribeTableError::ResourceNotFoundException(
                    ResourceNotFoundException::builder()
                        .message("missing")
                        .build(),
                )
            })
            .output(move || status(TableStatus::Creating))
            .output(move || status(TableStatus::Active))
            .build();
        let create =
            mock!(Client::create_table).then_output(|| CreateTableOutput::builder().build());
        let client = mock_client!(aws_sdk_dynamodb, RuleMode::MatchAny, [&describe, &create]);

        // WHEN the table is created if missing
        let created = DynamoStateStore::new(client, TABLE)
            .create_table_if_missing()
            .await
            .unwrap();

        // THEN it was created once and the call returned only after ACTIVE
        assert!(created);
        assert_eq!((create.num_calls(), describe.num_calls()), (1, 3));
    }
}
