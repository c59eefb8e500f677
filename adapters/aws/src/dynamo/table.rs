//! The calls every item family shares: creating the table, reads (consistent,
//! paginated, batched), conditional writes and transactions, reading attributes
//! back without trusting them, and mapping SDK errors onto [`StoreError`].

use super::DynamoStore;
use avvio_common::ports::StoreError;
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, SdkError};
use aws_sdk_dynamodb::operation::query::builders::QueryFluentBuilder;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, ConditionCheck, Delete, DeleteRequest, GlobalSecondaryIndex,
    KeySchemaElement, KeyType, KeysAndAttributes, Projection, ProjectionType, Put, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, Select, TableStatus, TimeToLiveSpecification,
    TransactWriteItem, Update, WriteRequest,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::{HashMap, HashSet};
use std::fmt::Display;
use std::str::FromStr;
use std::time::Duration;

pub type Item = HashMap<String, AttributeValue>;

pub const PK: &str = "pk";
pub const SK: &str = "sk";
pub const DUE_INDEX: &str = "due";
pub const DUE_PK: &str = "gsi1pk";
pub const DUE_SK: &str = "gsi1sk";
pub const RUNS_INDEX: &str = "runs";
pub const RUNS_PK: &str = "gsi2pk";
pub const RUN_SORT: &str = "gsi2sk";
pub const RUNS_BY_CONTACT_INDEX: &str = "runs_by_contact";
pub const CONTACT_RUNS_PK: &str = "gsi3pk";
pub const RUNS_BY_AUTOMATION_INDEX: &str = "runs_by_automation";
pub const AUTOMATION_RUNS_PK: &str = "gsi4pk";
pub const EXPIRES_AT: &str = "expires_at";

/// What a global secondary index copies of each item besides the keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Projected {
    All,
    KeysOnly,
    /// The keys and these attributes.
    Include(&'static [&'static str]),
}

/// A global secondary index of the table: its name, key attributes (strings) and projection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IndexSpec {
    pub name: &'static str,
    pub pk: &'static str,
    pub sk: &'static str,
    pub projected: Projected,
}

/// The sparse index of date-due items, by UTC day then instant (the clock's reads).
pub const DUE: IndexSpec = IndexSpec { name: DUE_INDEX, pk: DUE_PK, sk: DUE_SK, projected: Projected::All };
/// Every run of a workspace, by start. Keys only: a run's index keys never change, so the
/// writes of a run after its creation write no index entry; a page reads its runs by key.
pub const RUNS: IndexSpec = IndexSpec { name: RUNS_INDEX, pk: RUNS_PK, sk: RUN_SORT, projected: Projected::KeysOnly };
/// The runs of a contact, by start; with their automation's partition, to filter on.
pub const RUNS_BY_CONTACT: IndexSpec = IndexSpec {
    name: RUNS_BY_CONTACT_INDEX,
    pk: CONTACT_RUNS_PK,
    sk: RUN_SORT,
    projected: Projected::Include(&[AUTOMATION_RUNS_PK]),
};
/// The runs of an automation, by start.
pub const RUNS_BY_AUTOMATION: IndexSpec =
    IndexSpec { name: RUNS_BY_AUTOMATION_INDEX, pk: AUTOMATION_RUNS_PK, sk: RUN_SORT, projected: Projected::KeysOnly };

/// Every global secondary index of the table, as [`create_table`] and `template.yaml` make them.
pub const INDEXES: [IndexSpec; 4] = [DUE, RUNS, RUNS_BY_CONTACT, RUNS_BY_AUTOMATION];

/// Which sort keys of a partition a Query reads.
#[derive(Debug, Clone, Copy)]
pub enum SortKeys<'a> {
    /// Those starting with this (all of them when empty).
    Prefix(&'a str),
    /// Those from the first to the second, both included.
    Between(&'a str, &'a str),
}

/// DynamoDB's limits on one request.
const BATCH_GET_MAX: usize = 100;
const BATCH_WRITE_MAX: usize = 25;
pub const TRANSACTION_MAX: usize = 100;
/// How many times unprocessed batch keys are sent again before giving up.
const BATCH_ATTEMPTS: u32 = 8;

/// An item's primary key.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    pub fn new(pk: impl Into<String>, sk: impl Into<String>) -> Self {
        Self { pk: pk.into(), sk: sk.into() }
    }

    pub fn to_item(&self) -> Item {
        HashMap::from([(PK.to_string(), s(&self.pk)), (SK.to_string(), s(&self.sk))])
    }

    fn of(item: &Item) -> Option<Self> {
        match (item.get(PK), item.get(SK)) {
            (Some(AttributeValue::S(pk)), Some(AttributeValue::S(sk))) => Some(Self::new(pk, sk)),
            _ => None,
        }
    }
}

impl Display for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} / {}", self.pk, self.sk)
    }
}

/// A string attribute.
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute.
pub fn n(value: impl Display) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// A document as a JSON string attribute: simple, and it reads back exactly.
pub fn json(value: &impl Serialize) -> Result<AttributeValue, StoreError> {
    serde_json::to_string(value)
        .map(AttributeValue::S)
        .map_err(|e| StoreError::Unavailable(format!("cannot encode a document: {e}")))
}

/// An item: its key and attributes.
pub fn item<const N: usize>(key: &Key, attributes: [(&str, AttributeValue); N]) -> Item {
    let mut item = key.to_item();
    item.extend(attributes.into_iter().map(|(name, value)| (name.to_string(), value)));
    item
}

/// The key of a stored item.
pub fn key_of(item: &Item) -> Result<Key, StoreError> {
    Key::of(item).ok_or_else(|| corrupt(item, "no key"))
}

fn corrupt(item: &Item, what: impl Display) -> StoreError {
    let key = Key::of(item).map_or_else(|| "an item without a key".to_string(), |k| k.to_string());
    StoreError::Corrupt(format!("item {key}: {what}"))
}

/// A string attribute of a stored item.
pub fn get_s<'a>(item: &'a Item, name: &str) -> Result<&'a str, StoreError> {
    match item.get(name) {
        Some(AttributeValue::S(value)) => Ok(value),
        _ => Err(corrupt(item, format_args!("no string attribute `{name}`"))),
    }
}

/// A number attribute of a stored item.
pub fn get_n<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    match item.get(name) {
        Some(AttributeValue::N(value)) => {
            value.parse().map_err(|_| corrupt(item, format_args!("attribute `{name}` = {value} is out of range")))
        }
        _ => Err(corrupt(item, format_args!("no number attribute `{name}`"))),
    }
}

/// A boolean attribute of a stored item.
pub fn get_bool(item: &Item, name: &str) -> Result<bool, StoreError> {
    match item.get(name) {
        Some(AttributeValue::Bool(value)) => Ok(*value),
        _ => Err(corrupt(item, format_args!("no boolean attribute `{name}`"))),
    }
}

/// Reads a string attribute through a parser (ids, JSON documents).
pub fn get_parsed<'a, T, E: Display>(
    item: &'a Item,
    name: &str,
    parse: impl FnOnce(&'a str) -> Result<T, E>,
) -> Result<T, StoreError> {
    parse(get_s(item, name)?).map_err(|e| corrupt(item, format_args!("attribute `{name}`: {e}")))
}

/// The item's `doc` attribute, a JSON document.
pub fn get_doc<T: DeserializeOwned>(item: &Item) -> Result<T, StoreError> {
    get_parsed(item, "doc", serde_json::from_str)
}

/// A condition expression with its placeholders.
#[derive(Debug, Clone)]
pub struct Cond {
    expr: String,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Cond {
    fn raw(expr: impl Into<String>) -> Self {
        Self { expr: expr.into(), names: HashMap::new(), values: HashMap::new() }
    }

    /// The item does not exist.
    pub fn absent() -> Self {
        Self::raw(format!("attribute_not_exists({PK})"))
    }

    /// Attribute `name` holds `value`.
    pub fn equals(name: &str, value: AttributeValue) -> Self {
        let mut cond = Self::raw(format!("#{name} = :{name}"));
        cond.names.insert(format!("#{name}"), name.to_string());
        cond.values.insert(format!(":{name}"), value);
        cond
    }

    /// The item exists.
    pub fn present() -> Self {
        Self::raw(format!("attribute_exists({PK})"))
    }

    /// The item has no attribute `name`.
    pub fn missing(name: &str) -> Self {
        let mut cond = Self::raw(format!("attribute_not_exists(#{name})"));
        cond.names.insert(format!("#{name}"), name.to_string());
        cond
    }

    /// String attribute `name` does not contain `part` (true when the attribute is missing).
    pub fn lacks(name: &str, part: &str) -> Self {
        let mut cond = Self::raw(format!("NOT contains(#{name}, :{name})"));
        cond.names.insert(format!("#{name}"), name.to_string());
        cond.values.insert(format!(":{name}"), s(part));
        cond
    }

    fn join(self, op: &str, other: Self) -> Self {
        let mut joined = Self::raw(format!("({}) {op} ({})", self.expr, other.expr));
        joined.names = self.names;
        joined.names.extend(other.names);
        joined.values = self.values;
        joined.values.extend(other.values);
        joined
    }

    pub fn and(self, other: Self) -> Self {
        self.join("AND", other)
    }

    pub fn or(self, other: Self) -> Self {
        self.join("OR", other)
    }

    /// `(expression, names, values)`, with `None` for empty maps (DynamoDB refuses those).
    #[allow(clippy::type_complexity)]
    fn parts(self) -> (String, Option<HashMap<String, String>>, Option<HashMap<String, AttributeValue>>) {
        let names = (!self.names.is_empty()).then_some(self.names);
        let values = (!self.values.is_empty()).then_some(self.values);
        (self.expr, names, values)
    }
}

/// An update expression with its placeholders: numbers added to attributes (created at 0
/// when missing) and attributes set.
#[derive(Debug, Clone, Default)]
pub struct Changes {
    adds: Vec<String>,
    sets: Vec<String>,
    names: HashMap<String, String>,
    values: HashMap<String, AttributeValue>,
}

impl Changes {
    /// Adds `by` to number attribute `name`.
    pub fn add(mut self, name: &str, by: i64) -> Self {
        let i = self.names.len();
        self.adds.push(format!("#a{i} :a{i}"));
        self.names.insert(format!("#a{i}"), name.to_string());
        self.values.insert(format!(":a{i}"), n(by));
        self
    }

    /// Sets attribute `name` to `value`.
    pub fn set(mut self, name: &str, value: AttributeValue) -> Self {
        let i = self.names.len();
        self.sets.push(format!("#a{i} = :a{i}"));
        self.names.insert(format!("#a{i}"), name.to_string());
        self.values.insert(format!(":a{i}"), value);
        self
    }

    fn expression(&self) -> String {
        let mut expr = String::new();
        if !self.adds.is_empty() {
            expr = format!("ADD {}", self.adds.join(", "));
        }
        if !self.sets.is_empty() {
            expr = format!("{expr} SET {}", self.sets.join(", "));
        }
        expr.trim_start().to_string()
    }
}

/// One write of a transaction.
#[derive(Debug, Clone)]
enum Op {
    Put(Item, Option<Cond>),
    Update(Key, Changes),
    Delete(Key, Option<Cond>),
    Check(Key, Cond),
}

/// An all-or-nothing write; each operation carries a role, so a refused
/// condition names what it was about (a phrase, a number, the document…).
#[derive(Debug, Clone)]
pub struct Tx<R> {
    ops: Vec<(R, Op)>,
}

impl<R> Default for Tx<R> {
    fn default() -> Self {
        Self { ops: Vec::new() }
    }
}

impl<R> Tx<R> {
    pub fn put(&mut self, role: R, item: Item, cond: Option<Cond>) {
        self.ops.push((role, Op::Put(item, cond)));
    }

    pub fn delete(&mut self, role: R, key: Key, cond: Option<Cond>) {
        self.ops.push((role, Op::Delete(key, cond)));
    }

    /// Changes attributes of an item (created when missing), unconditionally.
    pub fn update(&mut self, role: R, key: Key, changes: Changes) {
        self.ops.push((role, Op::Update(key, changes)));
    }

    pub fn check(&mut self, role: R, key: Key, cond: Cond) {
        self.ops.push((role, Op::Check(key, cond)));
    }

    pub fn len(&self) -> usize {
        self.ops.len()
    }

    /// The items this transaction puts, without its conditions, checks and deletes.
    pub fn into_puts(self) -> Vec<Item> {
        self.ops.into_iter().filter_map(|(_, op)| if let Op::Put(item, _) = op { Some(item) } else { None }).collect()
    }
}

/// Why a transaction did not commit.
#[derive(Debug)]
pub enum TxError<R> {
    /// These operations' conditions were false; each with the item as it was, when DynamoDB returned it.
    Refused(Vec<(R, Option<Item>)>),
    Store(StoreError),
}

impl<R> From<StoreError> for TxError<R> {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// An SDK failure that is not a refused condition: throttling, 5xx, network, a missing table.
pub(super) fn unavailable<E, R>(call: &str, err: SdkError<E, R>) -> StoreError
where
    E: std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    StoreError::Unavailable(format!("DynamoDB {call} failed: {}", DisplayErrorContext(err)))
}

fn built<T>(result: Result<T, aws_sdk_dynamodb::error::BuildError>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Unavailable(format!("cannot build a DynamoDB request: {e}")))
}

/// Creates the table (on-demand billing), its global secondary indexes ([`INDEXES`]) and TTL
/// on `expires_at`, and waits until it is active.
pub async fn create_table(client: &Client, name: &str) -> Result<(), StoreError> {
    let attribute = |name: &str| {
        built(AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build())
    };
    let key = |name: &str, key_type: KeyType| {
        built(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build())
    };
    let mut attributes = vec![PK, SK];
    let mut indexes = Vec::new();
    for index in INDEXES {
        for name in [index.pk, index.sk] {
            if !attributes.contains(&name) {
                attributes.push(name);
            }
        }
        let projection = match index.projected {
            Projected::All => Projection::builder().projection_type(ProjectionType::All),
            Projected::KeysOnly => Projection::builder().projection_type(ProjectionType::KeysOnly),
            Projected::Include(names) => Projection::builder()
                .projection_type(ProjectionType::Include)
                .set_non_key_attributes(Some(names.iter().map(|n| n.to_string()).collect())),
        };
        indexes.push(built(
            GlobalSecondaryIndex::builder()
                .index_name(index.name)
                .key_schema(key(index.pk, KeyType::Hash)?)
                .key_schema(key(index.sk, KeyType::Range)?)
                .projection(projection.build())
                .build(),
        )?);
    }
    let attributes = attributes.into_iter().map(attribute).collect::<Result<Vec<_>, _>>()?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .set_attribute_definitions(Some(attributes))
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .set_global_secondary_indexes(Some(indexes))
        .send()
        .await
        .map_err(|e| unavailable("CreateTable", e))?;
    for _ in 0..120 {
        let described =
            client.describe_table().table_name(name).send().await.map_err(|e| unavailable("DescribeTable", e))?;
        if described.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            let ttl = built(TimeToLiveSpecification::builder().enabled(true).attribute_name(EXPIRES_AT).build())?;
            client
                .update_time_to_live()
                .table_name(name)
                .time_to_live_specification(ttl)
                .send()
                .await
                .map_err(|e| unavailable("UpdateTimeToLive", e))?;
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    Err(StoreError::Unavailable(format!("table {name} did not become active within a minute")))
}

impl DynamoStore {
    /// One item, read consistently.
    pub(super) async fn get(&self, key: &Key) -> Result<Option<Item>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&*self.table)
            .set_key(Some(key.to_item()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| unavailable("GetItem", e))?;
        Ok(out.item)
    }

    /// Many items, read consistently, by key (missing ones are left out).
    pub(super) async fn batch_get(
        &self,
        keys: impl IntoIterator<Item = Key>,
    ) -> Result<HashMap<Key, Item>, StoreError> {
        // DynamoDB refuses a request naming a key twice.
        let mut seen = HashSet::new();
        let wanted: Vec<Key> = keys.into_iter().filter(|k| seen.insert(k.clone())).collect();
        let mut found = HashMap::new();
        for chunk in wanted.chunks(BATCH_GET_MAX) {
            let mut pending = built(
                KeysAndAttributes::builder()
                    .set_keys(Some(chunk.iter().map(Key::to_item).collect()))
                    .consistent_read(true)
                    .build(),
            )?;
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_get_item()
                    .request_items(&*self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchGetItem", e))?;
                for item in out.responses.unwrap_or_default().remove(&*self.table).unwrap_or_default() {
                    let key = key_of(&item)?;
                    found.insert(key, item);
                }
                match out.unprocessed_keys.and_then(|mut u| u.remove(&*self.table)) {
                    Some(rest) if !rest.keys.is_empty() => {
                        if attempt + 1 >= BATCH_ATTEMPTS {
                            return Err(StoreError::Unavailable("DynamoDB BatchGetItem kept throttling".into()));
                        }
                        backoff(attempt).await;
                        pending = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(found)
    }

    /// Every item of partition `pk` whose sort key starts with `prefix`, in sort key order, read consistently.
    pub(super) async fn query_prefix(&self, pk: &str, prefix: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let (page, next) = self.sort_key_query(pk, SortKeys::Prefix(prefix), start, self.page_limit).await?;
            items.extend(page);
            start = next;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// At most `limit` items of partition `pk` among `range`, in sort key order, after sort key
    /// `after` (exclusive; it need not exist); and the sort key to go on after when more may
    /// follow. One Query, read consistently.
    pub(super) async fn query_page(
        &self,
        pk: &str,
        range: SortKeys<'_>,
        after: Option<&str>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<String>), StoreError> {
        let start = after.map(|sk| HashMap::from([(PK.to_string(), s(pk)), (SK.to_string(), s(sk))]));
        let (items, next) = self.sort_key_query(pk, range, start, Some(limit.max(1))).await?;
        let next = next.map(|key| key_of(&key).map(|k| k.sk)).transpose()?;
        Ok((items, next))
    }

    /// One consistent Query of partition `pk` for the sort keys of `range`, from `start`
    /// (exclusive), at most `limit` items: the items and the key to go on from.
    async fn sort_key_query(
        &self,
        pk: &str,
        range: SortKeys<'_>,
        start: Option<Item>,
        limit: Option<i32>,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let query = self.client.query().table_name(&*self.table).expression_attribute_names("#pk", PK);
        let query = match range {
            // DynamoDB refuses `begins_with` on an empty string: an empty prefix is the whole partition.
            SortKeys::Prefix("") => query.key_condition_expression("#pk = :pk"),
            SortKeys::Prefix(prefix) => query
                .key_condition_expression("#pk = :pk AND begins_with(#sk, :prefix)")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":prefix", s(prefix)),
            SortKeys::Between(from, to) => query
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to)),
        };
        let out = query
            .expression_attribute_values(":pk", s(pk))
            .consistent_read(true)
            .set_limit(limit)
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// One Query of `index`, newest first: the entries of partition `partition` whose sort key
    /// is below `before` (all when `None`) and, with `only = (attribute, value)`, whose
    /// (projected) attribute holds that value; from `start` (a key the previous Query
    /// returned), at most `limit` entries evaluated. The entries and the key to go on from.
    /// (Index reads are eventually consistent.)
    pub(super) async fn query_index_newest(
        &self,
        index: IndexSpec,
        partition: &str,
        before: Option<&str>,
        only: Option<(&str, &str)>,
        start: Option<Item>,
        limit: i32,
    ) -> Result<(Vec<Item>, Option<Item>), StoreError> {
        let query = self
            .client
            .query()
            .table_name(&*self.table)
            .index_name(index.name)
            .expression_attribute_names("#pk", index.pk)
            .expression_attribute_values(":pk", s(partition));
        let query = match before {
            Some(before) => query
                .key_condition_expression("#pk = :pk AND #sk < :before")
                .expression_attribute_names("#sk", index.sk)
                .expression_attribute_values(":before", s(before)),
            None => query.key_condition_expression("#pk = :pk"),
        };
        let query = keeping_only(query, only);
        let out = query
            .scan_index_forward(false)
            .limit(limit.max(1))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| unavailable("Query", e))?;
        Ok((out.items.unwrap_or_default(), out.last_evaluated_key))
    }

    /// How many entries of `index` partition `partition` there are (with `only`, as
    /// [`Self::query_index_newest`], those whose attribute holds the value): Queries with
    /// `Select=COUNT`, which return no item, each counting up to 1 MB of index entries.
    pub(super) async fn count_index(
        &self,
        index: IndexSpec,
        partition: &str,
        only: Option<(&str, &str)>,
    ) -> Result<usize, StoreError> {
        let mut count = 0usize;
        let mut start = None;
        loop {
            let query = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(index.name)
                .key_condition_expression("#pk = :pk")
                .expression_attribute_names("#pk", index.pk)
                .expression_attribute_values(":pk", s(partition))
                .select(Select::Count);
            let query = keeping_only(query, only);
            let out = query
                .set_exclusive_start_key(start)
                .set_limit(self.page_limit)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            count += usize::try_from(out.count).unwrap_or_default();
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(count);
            }
        }
    }

    /// Every item of partition `pk` whose sort key is between `from` and `to` (both included),
    /// in sort key order, read consistently.
    pub(super) async fn query_between(&self, pk: &str, from: &str, to: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&*self.table)
                .key_condition_expression("#pk = :pk AND #sk BETWEEN :from AND :to")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#sk", SK)
                .expression_attribute_values(":pk", s(pk))
                .expression_attribute_values(":from", s(from))
                .expression_attribute_values(":to", s(to))
                .consistent_read(true)
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// The `due` index entries of one day partition with a sort key below `bound`, in order.
    /// (Index reads are eventually consistent.)
    pub(super) async fn query_due(&self, day: &str, bound: &str) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&*self.table)
                .index_name(DUE_INDEX)
                .key_condition_expression("#pk = :day AND #sk < :bound")
                .expression_attribute_names("#pk", DUE_PK)
                .expression_attribute_names("#sk", DUE_SK)
                .expression_attribute_values(":day", s(day))
                .expression_attribute_values(":bound", s(bound))
                .set_limit(self.page_limit)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(|e| unavailable("Query", e))?;
            items.extend(out.items.unwrap_or_default());
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Writes an item unconditionally.
    pub(super) async fn put(&self, item: Item) -> Result<(), StoreError> {
        self.client
            .put_item()
            .table_name(&*self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(|e| unavailable("PutItem", e))?;
        Ok(())
    }

    /// Changes attributes of an item if `cond` holds; `false` when it does not.
    pub(super) async fn update_if(&self, key: &Key, changes: Changes, cond: Cond) -> Result<bool, StoreError> {
        let (expr, names, values) = cond.parts();
        let mut all_names = changes.names.clone();
        all_names.extend(names.unwrap_or_default());
        let mut all_values = changes.values.clone();
        all_values.extend(values.unwrap_or_default());
        let sent = self
            .client
            .update_item()
            .table_name(&*self.table)
            .set_key(Some(key.to_item()))
            .update_expression(changes.expression())
            .condition_expression(expr)
            .set_expression_attribute_names(Some(all_names))
            .set_expression_attribute_values(Some(all_values))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(_) => {
                    Ok(false)
                }
                other => {
                    Err(StoreError::Unavailable(format!("DynamoDB UpdateItem failed: {}", DisplayErrorContext(other))))
                }
            },
        }
    }

    pub(super) async fn delete(&self, key: &Key) -> Result<(), StoreError> {
        self.client
            .delete_item()
            .table_name(&*self.table)
            .set_key(Some(key.to_item()))
            .send()
            .await
            .map_err(|e| unavailable("DeleteItem", e))?;
        Ok(())
    }

    /// Deletes many items, 25 a request, each on its own (not atomic).
    pub(super) async fn batch_delete(&self, keys: Vec<Key>) -> Result<(), StoreError> {
        let requests = keys
            .iter()
            .map(|k| built(DeleteRequest::builder().set_key(Some(k.to_item())).build()))
            .map(|r| r.map(|d| WriteRequest::builder().delete_request(d).build()))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    /// Writes `items` unconditionally, 25 to a request.
    pub(super) async fn batch_put(&self, items: Vec<Item>) -> Result<(), StoreError> {
        let requests = items
            .into_iter()
            .map(|item| built(PutRequest::builder().set_item(Some(item)).build()))
            .map(|r| r.map(|p| WriteRequest::builder().put_request(p).build()))
            .collect::<Result<Vec<_>, _>>()?;
        self.batch_write(requests).await
    }

    async fn batch_write(&self, requests: Vec<WriteRequest>) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&*self.table, pending)
                    .send()
                    .await
                    .map_err(|e| unavailable("BatchWriteItem", e))?;
                match out.unprocessed_items.and_then(|mut u| u.remove(&*self.table)) {
                    Some(rest) if !rest.is_empty() => {
                        if attempt + 1 >= BATCH_ATTEMPTS {
                            return Err(StoreError::Unavailable("DynamoDB BatchWriteItem kept throttling".into()));
                        }
                        backoff(attempt).await;
                        pending = rest;
                    }
                    _ => break,
                }
            }
        }
        Ok(())
    }

    /// Commits `tx` atomically. A lone put runs as a conditional PutItem (half the cost of a
    /// transaction). `what` names the data in a [`StoreError::Conflict`] when a concurrent
    /// transaction got in the way.
    pub(super) async fn commit<R>(&self, tx: Tx<R>, what: &str) -> Result<(), TxError<R>> {
        let mut ops = tx.ops;
        if ops.len() > TRANSACTION_MAX {
            return Err(StoreError::Unavailable(format!("a write of {what} spans {} items", ops.len())).into());
        }
        if ops.len() == 1 && matches!(ops[0].1, Op::Put(..)) {
            let Some((role, Op::Put(item, cond))) = ops.pop() else { unreachable!("checked above") };
            return self.put_one(role, item, cond).await;
        }
        if ops.is_empty() {
            return Ok(());
        }
        let (roles, writes): (Vec<R>, Vec<Op>) = ops.into_iter().unzip();
        let writes = writes.into_iter().map(|op| self.transact_item(op)).collect::<Result<Vec<_>, _>>()?;
        let sent = self.client.transact_write_items().set_transact_items(Some(writes)).send().await;
        let err = match sent {
            Ok(_) => return Ok(()),
            Err(e) => e,
        };
        let Some(service) = err.as_service_error() else { return Err(unavailable("TransactWriteItems", err).into()) };
        if service.is_transaction_in_progress_exception() {
            return Err(StoreError::Conflict(what.to_string()).into());
        }
        let aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError::TransactionCanceledException(
            cancelled,
        ) = service
        else {
            return Err(unavailable("TransactWriteItems", err).into());
        };
        let reasons = cancelled.cancellation_reasons().to_vec();
        let mut refused = Vec::new();
        let mut conflict = false;
        for (role, reason) in roles.into_iter().zip(&reasons) {
            match reason.code() {
                Some("ConditionalCheckFailed") => refused.push((role, reason.item().cloned())),
                Some("TransactionConflict") => conflict = true,
                _ => {}
            }
        }
        if !refused.is_empty() {
            Err(TxError::Refused(refused))
        } else if conflict {
            Err(StoreError::Conflict(what.to_string()).into())
        } else {
            Err(unavailable("TransactWriteItems", err).into())
        }
    }

    async fn put_one<R>(&self, role: R, item: Item, cond: Option<Cond>) -> Result<(), TxError<R>> {
        let request = self.client.put_item().table_name(&*self.table).set_item(Some(item));
        let request = match cond {
            Some(cond) => {
                let (expr, names, values) = cond.parts();
                request
                    .condition_expression(expr)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            }
            None => request,
        };
        match request.send().await {
            Ok(_) => Ok(()),
            Err(e) => match e.into_service_error() {
                aws_sdk_dynamodb::operation::put_item::PutItemError::ConditionalCheckFailedException(failed) => {
                    Err(TxError::Refused(vec![(role, failed.item)]))
                }
                other => {
                    Err(StoreError::Unavailable(format!("DynamoDB PutItem failed: {}", DisplayErrorContext(other)))
                        .into())
                }
            },
        }
    }

    fn transact_item(&self, op: Op) -> Result<TransactWriteItem, StoreError> {
        let all_old = ReturnValuesOnConditionCheckFailure::AllOld;
        Ok(match op {
            Op::Put(item, cond) => {
                let (expr, names, values) = cond.map(Cond::parts).unzip3();
                let put = Put::builder()
                    .table_name(&*self.table)
                    .set_item(Some(item))
                    .set_condition_expression(expr)
                    .set_expression_attribute_names(names.flatten())
                    .set_expression_attribute_values(values.flatten())
                    .return_values_on_condition_check_failure(all_old);
                TransactWriteItem::builder().put(built(put.build())?).build()
            }
            Op::Delete(key, cond) => {
                let (expr, names, values) = cond.map(Cond::parts).unzip3();
                let delete = Delete::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key.to_item()))
                    .set_condition_expression(expr)
                    .set_expression_attribute_names(names.flatten())
                    .set_expression_attribute_values(values.flatten())
                    .return_values_on_condition_check_failure(all_old);
                TransactWriteItem::builder().delete(built(delete.build())?).build()
            }
            Op::Update(key, changes) => {
                let update = Update::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key.to_item()))
                    .update_expression(changes.expression())
                    .set_expression_attribute_names(Some(changes.names))
                    .set_expression_attribute_values(Some(changes.values));
                TransactWriteItem::builder().update(built(update.build())?).build()
            }
            Op::Check(key, cond) => {
                let (expr, names, values) = cond.parts();
                let check = ConditionCheck::builder()
                    .table_name(&*self.table)
                    .set_key(Some(key.to_item()))
                    .condition_expression(expr)
                    .set_expression_attribute_names(names)
                    .set_expression_attribute_values(values)
                    .return_values_on_condition_check_failure(all_old);
                TransactWriteItem::builder().condition_check(built(check.build())?).build()
            }
        })
    }
}

/// Splits an optional triple.
trait Unzip3<A, B, C> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>);
}

impl<A, B, C> Unzip3<A, B, C> for Option<(A, B, C)> {
    fn unzip3(self) -> (Option<A>, Option<B>, Option<C>) {
        match self {
            Some((a, b, c)) => (Some(a), Some(b), Some(c)),
            None => (None, None, None),
        }
    }
}

/// Waits a little longer after each attempt: 50 ms, 100 ms, … up to 2 s.
pub async fn backoff(attempt: u32) {
    let millis = 50u64.saturating_mul(1 << attempt.min(6)).min(2_000);
    tokio::time::sleep(Duration::from_millis(millis)).await;
}

/// `query` keeping only the entries whose attribute `only.0` holds `only.1` (all without).
fn keeping_only(query: QueryFluentBuilder, only: Option<(&str, &str)>) -> QueryFluentBuilder {
    match only {
        Some((name, value)) => query
            .filter_expression("#only = :only")
            .expression_attribute_names("#only", name)
            .expression_attribute_values(":only", s(value)),
        None => query,
    }
}
