//! What a subscription keeps: a tag filter over the consume queue's tag codes, or a SQL92
//! expression over each message's properties (`crate::sql92`), compiled once per expression
//! text and shared by every pull, pop and long poll that uses it.

use std::collections::BTreeSet;
use std::sync::Arc;

use protocol::codes::response as rs;

use super::pull::TagFilter;
use crate::error::{BrokerError, BrokerResult};
use crate::sql92::bitmap::BitSlot;
use crate::sql92::{Limits, SqlFilter};
use crate::Broker;

/// How many compiled expressions are kept; past it the cache starts over.
const SQL_CACHE_ENTRIES: usize = 4096;

/// A subscription's filter, as the store applies it.
#[derive(Debug, Clone)]
pub enum SubscriptionFilter {
    Tag(TagFilter),
    Sql(Arc<SqlFilter>),
}

impl SubscriptionFilter {
    pub fn all() -> SubscriptionFilter {
        SubscriptionFilter::Tag(TagFilter::parse(None))
    }

    /// Whether two filters keep the same messages (the same tags, or the same expression).
    pub fn same_as(&self, other: &SubscriptionFilter) -> bool {
        match (self, other) {
            (SubscriptionFilter::Tag(a), SubscriptionFilter::Tag(b)) => a == b,
            (SubscriptionFilter::Sql(a), SubscriptionFilter::Sql(b)) => Arc::ptr_eq(a, b) || a == b,
            _ => false,
        }
    }
}

impl store::MessageFilter for SubscriptionFilter {
    fn matches_tag_code(&self, tags_code: i64) -> bool {
        match self {
            SubscriptionFilter::Tag(t) => t.matches(tags_code),
            SubscriptionFilter::Sql(_) => true,
        }
    }

    fn needs_properties(&self) -> bool {
        matches!(self, SubscriptionFilter::Sql(_))
    }

    fn matches_properties(&self, properties: &str) -> bool {
        match self {
            SubscriptionFilter::Tag(_) => true,
            SubscriptionFilter::Sql(f) => f.matches_raw(properties),
        }
    }
}

/// A subscription's filter for one read, with its SQL92 expression's bit in the topic's
/// filter bitmap when it has one: entries the bitmap judges are kept or dropped without
/// reading their records.
pub(crate) struct ReadFilter<'a> {
    pub filter: &'a SubscriptionFilter,
    pub slot: Option<BitSlot>,
}

impl store::MessageFilter for ReadFilter<'_> {
    fn matches_tag_code(&self, tags_code: i64) -> bool {
        self.filter.matches_tag_code(tags_code)
    }

    fn needs_properties(&self) -> bool {
        self.filter.needs_properties()
    }

    fn matches_properties(&self, properties: &str) -> bool {
        self.filter.matches_properties(properties)
    }

    fn judge(&self, topic: &str, queue_id: i32, first: i64, entries: &[store::CqEntry], verdicts: &mut Vec<store::Verdict>) {
        match &self.slot {
            Some(slot) => slot.judge(topic, queue_id, first, entries, verdicts),
            None => self.filter.judge(topic, queue_id, first, entries, verdicts),
        }
    }
}

/// Where a subscription comes from: SQL92 over pulls (and CHECK_CLIENT_CONFIG) needs
/// `enablePropertyFilter`; POP does not, as in the Java broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    Pull,
    Pop,
}

impl Broker {
    /// The filter for a subscription's expression type and text (and a heartbeat's tag
    /// codes). SQL92 needs `enablePropertyFilter` over pulls (SYSTEM_ERROR otherwise, as Java); an
    /// expression that does not compile is SUBSCRIPTION_PARSE_FAILED with where and why.
    pub fn subscription_filter(
        &self,
        expression_type: Option<&str>,
        expression: Option<&str>,
        codes: Option<&BTreeSet<i32>>,
        via: Via,
    ) -> BrokerResult<SubscriptionFilter> {
        let kind = expression_type.unwrap_or("TAG");
        if kind.eq_ignore_ascii_case("TAG") {
            return Ok(SubscriptionFilter::Tag(match codes {
                Some(codes) => TagFilter::from_codes(codes, expression.unwrap_or("*")),
                None => TagFilter::parse(expression),
            }));
        }
        if !kind.eq_ignore_ascii_case("SQL92") {
            return Err(BrokerError::new(rs::SUBSCRIPTION_PARSE_FAILED, format!("unknown expression type `{kind}` (TAG or SQL92)")));
        }
        if via == Via::Pull && !self.config.enable_property_filter {
            return Err(BrokerError::system("The broker does not support consumer to filter message by SQL92"));
        }
        let text = expression.unwrap_or("");
        // A pop with no expression takes everything, as the Java broker's.
        if via == Via::Pop && text.trim().is_empty() {
            return Ok(SubscriptionFilter::all());
        }
        self.compiled_sql(text).map(SubscriptionFilter::Sql)
    }

    /// A read's filter: a SQL92 expression with its bit in `topic`'s filter bitmap (taken
    /// now if it has none, so the messages stored from now on are judged at dispatch).
    pub(crate) fn read_filter<'a>(&self, topic: &str, filter: &'a SubscriptionFilter) -> ReadFilter<'a> {
        let slot = match filter {
            SubscriptionFilter::Sql(sql) => self.filter_bitmaps.slot(topic, sql),
            SubscriptionFilter::Tag(_) => None,
        };
        ReadFilter { filter, slot }
    }

    fn compiled_sql(&self, text: &str) -> BrokerResult<Arc<SqlFilter>> {
        let mut cache = self.sql_filters.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(f) = cache.get(text) {
            return Ok(f.clone());
        }
        let limits = Limits { max_length: self.config.filter_expression_max_length, max_depth: self.config.filter_expression_max_depth };
        let compiled = SqlFilter::compile(text, limits)
            .map_err(|e| BrokerError::new(rs::SUBSCRIPTION_PARSE_FAILED, format!("the SQL92 expression cannot be used, {e}: {text}")))?;
        if cache.len() >= SQL_CACHE_ENTRIES {
            cache.clear();
        }
        let f = Arc::new(compiled);
        cache.insert(text.to_string(), f.clone());
        Ok(f)
    }
}
