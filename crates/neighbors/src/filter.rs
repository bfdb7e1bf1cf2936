//! Query filters: token restrictions, numeric restrictions, and the rows they allow.
//!
//! Semantics (Vertex AI Vector Search's):
//! - a query's token restrictions combine with AND across namespaces; within one namespace
//!   an example passes if it holds one of the `allow` tokens (OR), or if `allow` is empty;
//! - an example holding one of the query's `deny` tokens in that namespace fails;
//! - an example that *denies* a token (its own `deny` list) fails any query that allows that
//!   token in that namespace;
//! - numeric restrictions all must hold; an example passes one if it has a value in its
//!   namespace that compares as asked; an example without a value there fails.
//!
//! Filters are evaluated once per query into a set of allowed rows, from the inverted lists
//! of tokens, so a search knows exactly how many rows are allowed before it chooses how to
//! scan them.

use crate::bitset::Bitset;
use crate::example::Query;
use crate::store::{Attr, Store};

/// The live rows a query's filters allow, or `None` when the query has no filter.
pub(crate) fn allowed_rows(store: &Store, query: &Query<'_>) -> Option<Bitset> {
    if !query.has_filter() {
        return None;
    }
    let rows = store.rows();
    let mut result = store.live().clone();
    for r in &query.restrictions {
        let ns = store.strings.get(&r.namespace);
        let mut pass = if r.allow.is_empty() {
            Bitset::full(rows)
        } else {
            let mut s = Bitset::empty(rows);
            if let Some(ns) = ns {
                for t in &r.allow {
                    if let Some(tok) = store.strings.get(t) {
                        for &row in store.allow_postings.get(&(ns, tok)).into_iter().flatten() {
                            s.insert(row as usize);
                        }
                    }
                }
                for t in &r.allow {
                    if let Some(tok) = store.strings.get(t) {
                        for &row in store.deny_postings.get(&(ns, tok)).into_iter().flatten() {
                            s.remove(row as usize);
                        }
                    }
                }
            }
            s
        };
        if let Some(ns) = ns {
            for t in &r.deny {
                if let Some(tok) = store.strings.get(t) {
                    for &row in store.allow_postings.get(&(ns, tok)).into_iter().flatten() {
                        pass.remove(row as usize);
                    }
                }
            }
        }
        result.intersect(&pass);
    }
    if !query.numeric_restrictions.is_empty() {
        let namespaces: Vec<Option<u32>> = query
            .numeric_restrictions
            .iter()
            .map(|n| store.strings.get(&n.namespace))
            .collect();
        let failing: Vec<usize> = result
            .iter()
            .filter(|&row| {
                let attrs = store.attrs(row);
                !query
                    .numeric_restrictions
                    .iter()
                    .zip(&namespaces)
                    .all(|(n, ns)| {
                        ns.is_some_and(|ns| {
                            attrs.iter().any(|a| match *a {
                                Attr::Number { ns: a_ns, value } => a_ns == ns && n.accepts(value),
                                _ => false,
                            })
                        })
                    })
            })
            .collect();
        for row in failing {
            result.remove(row);
        }
    }
    Some(result)
}
