//! What the index stores (examples) and what a search asks and returns.

/// One indexed example: an id, its embedding and the attributes filters and crowding use.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Example {
    /// The example's id, unique within an index (Vertex's `neighborId`).
    pub id: String,
    /// The embedding; its length must equal the index's `dimensions`.
    pub vector: Vec<f32>,
    /// Token restricts (categorical attributes), e.g. `{namespace: "label", allow: ["cat"]}`.
    pub restricts: Vec<TokenRestrict>,
    /// Numeric restricts, e.g. `{namespace: "price", value: Int(100)}`.
    pub numeric_restricts: Vec<NumericRestrict>,
    /// At most `crowding_count` results of one search share a crowding tag.
    pub crowding_tag: Option<String>,
}

impl Example {
    /// An example with an id and a vector and no attributes.
    pub fn new(id: impl Into<String>, vector: Vec<f32>) -> Self {
        Example {
            id: id.into(),
            vector,
            ..Example::default()
        }
    }

    /// Adds a token restrict with the given allow tokens (builder style).
    pub fn with_tokens<I, S>(mut self, namespace: impl Into<String>, allow: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.restricts.push(TokenRestrict::allow(namespace, allow));
        self
    }

    /// Adds a numeric restrict (builder style).
    pub fn with_number(mut self, namespace: impl Into<String>, value: NumericValue) -> Self {
        self.numeric_restricts.push(NumericRestrict {
            namespace: namespace.into(),
            value,
        });
        self
    }

    /// Sets the crowding tag (builder style).
    pub fn with_crowding_tag(mut self, tag: impl Into<String>) -> Self {
        self.crowding_tag = Some(tag.into());
        self
    }
}

/// Tokens of one namespace, on an example or in a query.
///
/// On an **example**, `allow` lists the example's tokens and `deny` lists tokens for which
/// it must not be returned: a query that allows one of them in this namespace excludes it.
/// In a **query**, an example passes the namespace if it holds one of the `allow` tokens (OR
/// within a namespace; an empty `allow` lets every example pass), and fails if it holds one
/// of the `deny` tokens. Namespaces combine with AND.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TokenRestrict {
    /// The namespace, e.g. `color`.
    pub namespace: String,
    /// Allowed tokens, e.g. `red`, `blue`.
    pub allow: Vec<String>,
    /// Denied tokens.
    pub deny: Vec<String>,
}

impl TokenRestrict {
    /// A restrict with allow tokens only.
    pub fn allow<I, S>(namespace: impl Into<String>, allow: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TokenRestrict {
            namespace: namespace.into(),
            allow: allow.into_iter().map(Into::into).collect(),
            deny: Vec::new(),
        }
    }

    /// A restrict with deny tokens only.
    pub fn deny<I, S>(namespace: impl Into<String>, deny: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        TokenRestrict {
            namespace: namespace.into(),
            allow: Vec::new(),
            deny: deny.into_iter().map(Into::into).collect(),
        }
    }
}

/// A numeric attribute of an example: a namespace and one value.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericRestrict {
    /// The namespace, e.g. `price`.
    pub namespace: String,
    /// The value.
    pub value: NumericValue,
}

/// A numeric value (Vertex's `value_int`, `value_float` or `value_double`).
///
/// Two values compare numerically whatever their types: integers exactly with integers,
/// anything else as `f64`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum NumericValue {
    /// `value_int`.
    Int(i64),
    /// `value_float`.
    Float(f32),
    /// `value_double`.
    Double(f64),
}

impl NumericValue {
    pub(crate) fn compare(self, other: NumericValue) -> Option<std::cmp::Ordering> {
        match (self, other) {
            (NumericValue::Int(a), NumericValue::Int(b)) => Some(a.cmp(&b)),
            (a, b) => a.as_f64().partial_cmp(&b.as_f64()),
        }
    }

    pub(crate) fn as_f64(self) -> f64 {
        match self {
            NumericValue::Int(v) => v as f64,
            NumericValue::Float(v) => f64::from(v),
            NumericValue::Double(v) => v,
        }
    }
}

/// How a query's numeric restriction compares an example's value with its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum NumericOp {
    /// example value < query value.
    Less,
    /// example value ≤ query value.
    LessEqual,
    /// example value = query value.
    Equal,
    /// example value ≥ query value.
    GreaterEqual,
    /// example value > query value.
    Greater,
    /// example value ≠ query value.
    NotEqual,
}

/// A query's numeric restriction: examples pass if they hold a value in `namespace` for which
/// `example_value op value` holds; examples with no value in the namespace fail.
#[derive(Debug, Clone, PartialEq)]
pub struct NumericRestriction {
    /// The namespace.
    pub namespace: String,
    /// The value compared with.
    pub value: NumericValue,
    /// The comparison.
    pub op: NumericOp,
}

impl NumericRestriction {
    pub(crate) fn accepts(&self, example_value: NumericValue) -> bool {
        use std::cmp::Ordering::{Equal, Greater, Less};
        let Some(ord) = example_value.compare(self.value) else {
            return false;
        };
        match self.op {
            NumericOp::Less => ord == Less,
            NumericOp::LessEqual => ord != Greater,
            NumericOp::Equal => ord == Equal,
            NumericOp::GreaterEqual => ord != Less,
            NumericOp::Greater => ord == Greater,
            NumericOp::NotEqual => ord != Equal,
        }
    }
}

/// A nearest-neighbour search.
#[derive(Debug, Clone, PartialEq)]
pub struct Query<'a> {
    /// The query embedding (normalised by the index's feature norm before use).
    pub vector: &'a [f32],
    /// How many neighbours to return (Vertex's `neighborCount`).
    pub k: usize,
    /// Token restrictions: AND across namespaces, OR within one.
    pub restrictions: Vec<TokenRestrict>,
    /// Numeric restrictions, all of which must hold.
    pub numeric_restrictions: Vec<NumericRestriction>,
    /// At most this many results share one crowding tag (`None`: no limit).
    pub crowding_count: Option<usize>,
    /// For tree-AH: overrides the fraction of partitions searched.
    pub fraction_leaf_nodes_to_search: Option<f64>,
    /// For tree-AH: overrides how many candidates are re-ordered exactly.
    pub approximate_neighbors_count: Option<usize>,
}

impl<'a> Query<'a> {
    /// A query for the `k` nearest examples with no filter.
    pub fn new(vector: &'a [f32], k: usize) -> Self {
        Query {
            vector,
            k,
            restrictions: Vec::new(),
            numeric_restrictions: Vec::new(),
            crowding_count: None,
            fraction_leaf_nodes_to_search: None,
            approximate_neighbors_count: None,
        }
    }

    /// Adds a token restriction (builder style).
    pub fn restrict(mut self, restriction: TokenRestrict) -> Self {
        self.restrictions.push(restriction);
        self
    }

    /// Adds a numeric restriction (builder style).
    pub fn numeric(
        mut self,
        namespace: impl Into<String>,
        op: NumericOp,
        value: NumericValue,
    ) -> Self {
        self.numeric_restrictions.push(NumericRestriction {
            namespace: namespace.into(),
            value,
            op,
        });
        self
    }

    /// Limits results per crowding tag (builder style).
    pub fn crowding(mut self, count: usize) -> Self {
        self.crowding_count = Some(count);
        self
    }

    /// Overrides tree-AH's search fraction and re-ordering count (builder style).
    pub fn tuning(
        mut self,
        fraction_leaf_nodes_to_search: f64,
        approximate_neighbors_count: usize,
    ) -> Self {
        self.fraction_leaf_nodes_to_search = Some(fraction_leaf_nodes_to_search);
        self.approximate_neighbors_count = Some(approximate_neighbors_count);
        self
    }

    pub(crate) fn has_filter(&self) -> bool {
        !self.restrictions.is_empty() || !self.numeric_restrictions.is_empty()
    }
}

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Neighbor {
    /// The example's id.
    pub id: String,
    /// Its distance to the query under the index's measure (smaller is nearer).
    pub distance: f32,
}
