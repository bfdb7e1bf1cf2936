//! The table of vector-Jacobian product rules, one per ONNX op type.
//!
//! A rule receives the forward node, the gradient arriving at each of its outputs and which
//! of its inputs need a gradient, emits standard ONNX nodes computing the input gradients
//! through the [`Emitter`], and returns them. Each op family registers its rules in its own
//! `register_all`; [`table`] calls them all, in one place.

use std::collections::HashMap;
use std::sync::OnceLock;

use tract_onnx::pb;

use super::emit::Emitter;
use crate::error::{ModelError, Result};
use crate::tract_backend::node_label;

mod activation;
mod conv;
mod elementwise;
mod linalg;
mod norm;
mod reduce;
mod resize;
mod shape;

/// Gradients for some inputs of a node: `(input position, gradient value name)`.
pub(crate) type InputGrads = Vec<(usize, String)>;

/// A vector-Jacobian product rule.
pub(crate) type Rule = fn(&mut Emitter<'_>, &Step<'_>) -> Result<InputGrads>;

/// The rules, by ONNX op type.
#[derive(Default)]
pub(crate) struct RuleTable(HashMap<&'static str, Rule>);

impl RuleTable {
    /// Registers `rule` for `op_type`.
    pub(crate) fn add(&mut self, op_type: &'static str, rule: Rule) {
        self.0.insert(op_type, rule);
    }

    /// The rule for `op_type`, if there is one.
    pub(crate) fn get(&self, op_type: &str) -> Option<Rule> {
        self.0.get(op_type).copied()
    }

    /// The op types that have a rule, sorted.
    pub(crate) fn op_types(&self) -> Vec<&'static str> {
        let mut ops: Vec<&'static str> = self.0.keys().copied().collect();
        ops.sort_unstable();
        ops
    }
}

/// Every rule, registered once.
pub(crate) fn table() -> &'static RuleTable {
    static TABLE: OnceLock<RuleTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = RuleTable::default();
        linalg::register_all(&mut t);
        elementwise::register_all(&mut t);
        activation::register_all(&mut t);
        shape::register_all(&mut t);
        reduce::register_all(&mut t);
        conv::register_all(&mut t);
        norm::register_all(&mut t);
        resize::register_all(&mut t);
        t
    })
}

/// One forward node being differentiated.
pub(crate) struct Step<'a> {
    /// The forward node.
    pub(crate) node: &'a pb::NodeProto,
    /// The gradient arriving at each output (`None` where nothing downstream needs it).
    pub(crate) dys: Vec<Option<String>>,
    /// Whether each input needs a gradient (it depends on a `wrt` value and is a float).
    pub(crate) wants: Vec<bool>,
}

impl Step<'_> {
    /// Input `ix`'s value name; fails when the node has no such (non-empty) input.
    pub(crate) fn input(&self, ix: usize) -> Result<&str> {
        match self.node.input.get(ix) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.unsupported(format!("input {ix} is missing"))),
        }
    }

    /// Whether input `ix` is present.
    pub(crate) fn has_input(&self, ix: usize) -> bool {
        self.node.input.get(ix).is_some_and(|s| !s.is_empty())
    }

    /// Output `ix`'s value name.
    pub(crate) fn output(&self, ix: usize) -> Result<&str> {
        match self.node.output.get(ix) {
            Some(s) if !s.is_empty() => Ok(s),
            _ => Err(self.unsupported(format!("output {ix} is missing"))),
        }
    }

    /// The gradient arriving at output 0.
    pub(crate) fn dy(&self) -> Result<&str> {
        if self.dys.iter().skip(1).any(Option::is_some) {
            return Err(
                self.unsupported("only the first output of this op can carry a gradient".into())
            );
        }
        self.dys
            .first()
            .and_then(|d| d.as_deref())
            .ok_or_else(|| self.unsupported("no gradient reaches output 0".into()))
    }

    /// Whether input `ix` needs a gradient.
    pub(crate) fn wants(&self, ix: usize) -> bool {
        self.wants.get(ix).copied().unwrap_or(false)
    }

    /// Fails when any input other than those in `ok` needs a gradient (e.g. convolution
    /// weights computed from the input).
    pub(crate) fn only_wants(&self, ok: &[usize]) -> Result<()> {
        match (0..self.wants.len()).find(|i| self.wants[*i] && !ok.contains(i)) {
            Some(i) => Err(self.unsupported(format!(
                "the gradient with respect to input {i} ('{}') is not supported",
                self.node.input[i]
            ))),
            None => Ok(()),
        }
    }

    /// A [`ModelError::GradientUnsupported`] for this node.
    pub(crate) fn unsupported(&self, reason: String) -> ModelError {
        ModelError::GradientUnsupported {
            op_type: self.node.op_type.clone(),
            node: node_label(self.node),
            reason,
        }
    }

    fn attribute(&self, name: &str) -> Option<&pb::AttributeProto> {
        self.node.attribute.iter().find(|a| a.name == name)
    }

    /// An INT attribute, or `default`.
    pub(crate) fn int(&self, name: &str, default: i64) -> i64 {
        self.attribute(name).map_or(default, |a| a.i)
    }

    /// A FLOAT attribute, or `default`.
    pub(crate) fn float(&self, name: &str, default: f32) -> f32 {
        self.attribute(name).map_or(default, |a| a.f)
    }

    /// An INTS attribute, if present.
    pub(crate) fn ints(&self, name: &str) -> Option<Vec<i64>> {
        self.attribute(name).map(|a| a.ints.clone())
    }

    /// A STRING attribute, or `default`.
    pub(crate) fn string(&self, name: &str, default: &str) -> String {
        self.attribute(name).map_or(default.to_string(), |a| {
            String::from_utf8_lossy(&a.s).into_owned()
        })
    }

    /// The node's attributes, to copy onto a recomputation of the same op.
    pub(crate) fn attributes(&self) -> Vec<pb::AttributeProto> {
        self.node.attribute.clone()
    }
}

/// Normalises a possibly negative axis against `rank`.
pub(crate) fn norm_axis(axis: i64, rank: usize) -> i64 {
    if axis < 0 {
        axis + rank as i64
    } else {
        axis
    }
}
