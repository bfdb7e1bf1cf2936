//! Lowering of recurrent ops (LSTM, GRU) into the element-wise and matrix ops they are
//! made of, unrolled over their (fixed) sequence length, so that the ordinary rules
//! differentiate them. Only the nodes on the differentiated path are lowered; the
//! unrolled nodes compute the same outputs, under the same names.
//!
//! Handled: `layout` 0, any `direction`, the default activations, optional bias, initial
//! states and (LSTM) peepholes, GRU's `linear_before_reset`. Not handled (a
//! [`ModelError::GradientUnsupported`]): custom activations, `clip`, LSTM `input_forget`,
//! `sequence_lens`, `layout` 1.

use std::collections::HashSet;

use tract_onnx::pb;

use super::emit::{attr_int, attr_ints, Emitter};
use super::facts::Facts;
use crate::error::{ModelError, Result};
use crate::tract_backend::node_label;

/// The op types lowered here.
pub(crate) const RECURRENT: [&str; 2] = ["LSTM", "GRU"];

/// `model` with every LSTM and GRU node that reads a value of `wrt` (directly or through
/// other nodes) replaced by its unrolled equivalent; `None` when there is none.
pub(crate) fn lower_recurrent(
    model: &pb::ModelProto,
    wrt: &[String],
    order: &[usize],
    taken: HashSet<String>,
) -> Result<Option<pb::ModelProto>> {
    let graph = model.graph.as_ref().expect("checked by the caller");
    let mut dep: HashSet<&str> = wrt.iter().map(String::as_str).collect();
    let mut targets = vec![];
    for &i in order {
        let node = &graph.node[i];
        if node.input.iter().any(|x| dep.contains(x.as_str())) {
            dep.extend(node.output.iter().map(String::as_str));
            let default_domain = node.domain.is_empty() || node.domain == "ai.onnx";
            if default_domain && RECURRENT.contains(&node.op_type.as_str()) {
                targets.push(i);
            }
        }
    }
    if targets.is_empty() {
        return Ok(None);
    }
    let facts = Facts::analyse(model)?;
    let opset = model
        .opset_import
        .iter()
        .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
        .map_or(1, |o| o.version);
    let mut e = Emitter::new(&facts, opset, taken);
    let mut replaced: Vec<(usize, Vec<pb::NodeProto>)> = vec![];
    for &i in &targets {
        let node = &graph.node[i];
        let before = e.node_count();
        Recurrent::new(node, &facts)?.emit(&mut e)?;
        replaced.push((i, e.nodes_since(before)));
    }
    let mut out = model.clone();
    let g = out.graph.as_mut().expect("checked by the caller");
    let mut nodes = vec![];
    for (i, node) in graph.node.iter().enumerate() {
        match replaced.iter().find(|(j, _)| *j == i) {
            Some((_, unrolled)) => nodes.extend(unrolled.iter().cloned()),
            None => nodes.push(node.clone()),
        }
    }
    g.node = nodes;
    Ok(Some(out))
}

#[derive(Clone, Copy, PartialEq)]
enum Kind {
    Lstm,
    Gru,
}

/// One recurrent node's parameters.
struct Recurrent<'a> {
    node: &'a pb::NodeProto,
    kind: Kind,
    hidden: i64,
    seq: i64,
    directions: Vec<bool>,
    linear_before_reset: bool,
}

impl<'a> Recurrent<'a> {
    fn new(node: &'a pb::NodeProto, facts: &Facts) -> Result<Self> {
        let unsupported = |reason: &str| ModelError::GradientUnsupported {
            op_type: node.op_type.clone(),
            node: node_label(node),
            reason: reason.into(),
        };
        let attr = |name: &str| node.attribute.iter().find(|a| a.name == name);
        let kind = if node.op_type == "LSTM" {
            Kind::Lstm
        } else {
            Kind::Gru
        };
        if attr("activations").is_some() || attr("clip").is_some() {
            return Err(unsupported("custom activations or clip"));
        }
        if attr("layout").is_some_and(|a| a.i != 0) {
            return Err(unsupported("layout 1"));
        }
        if attr("input_forget").is_some_and(|a| a.i != 0) {
            return Err(unsupported("input_forget"));
        }
        if node.input.get(4).is_some_and(|s| !s.is_empty()) {
            return Err(unsupported("sequence_lens"));
        }
        let x = node.input.first().ok_or_else(|| unsupported("no input"))?;
        let seq = facts.dim(x, 0)?;
        if seq < 1 {
            return Err(unsupported("an empty sequence"));
        }
        let w = node.input.get(1).ok_or_else(|| unsupported("no weights"))?;
        let gates = if kind == Kind::Lstm { 4 } else { 3 };
        let hidden = match attr("hidden_size") {
            Some(a) => a.i,
            None => facts.dim(w, 1)? / gates,
        };
        let direction = attr("direction")
            .map(|a| String::from_utf8_lossy(&a.s).into_owned())
            .unwrap_or_else(|| "forward".into());
        let directions = match direction.as_str() {
            "forward" => vec![false],
            "reverse" => vec![true],
            "bidirectional" => vec![false, true],
            _ => return Err(unsupported("unknown direction")),
        };
        Ok(Self {
            node,
            kind,
            hidden,
            seq,
            directions,
            linear_before_reset: attr("linear_before_reset").is_some_and(|a| a.i != 0),
        })
    }

    fn input(&self, ix: usize) -> Option<&str> {
        self.node
            .input
            .get(ix)
            .map(String::as_str)
            .filter(|s| !s.is_empty())
    }

    /// `x[d]` of a [num_directions, …] tensor.
    fn direction_of(e: &mut Emitter<'_>, x: &str, d: usize) -> String {
        let idx = e.const_i64_shaped(&[], &[d as i64]);
        e.op("Gather", &[x, &idx], vec![attr_int("axis", 0)])
    }

    /// Columns `k·H .. (k+1)·H` of the last axis.
    fn gate(&self, e: &mut Emitter<'_>, x: &str, k: i64, axis: i64) -> String {
        let h = self.hidden;
        e.slice(x, &[k * h], &[(k + 1) * h], &[axis], None)
    }

    fn emit(&self, e: &mut Emitter<'_>) -> Result<()> {
        let x = self.input(0).expect("checked");
        let (w, r) = (self.input(1).expect("checked"), self.input(2));
        let r = r.ok_or_else(|| ModelError::Corrupt("a recurrent node lacks R".into()))?;
        let h = self.hidden;
        let gates = if self.kind == Kind::Lstm { 4 } else { 3 };
        let (mut ys, mut hs, mut cs) = (vec![], vec![], vec![]);
        for (d, &reverse) in self.directions.iter().enumerate() {
            let wd = Self::direction_of(e, w, d);
            let wt = e.op("Transpose", &[&wd], vec![attr_ints("perm", &[1, 0])]);
            let rd = Self::direction_of(e, r, d);
            let rt = e.op("Transpose", &[&rd], vec![attr_ints("perm", &[1, 0])]);
            // X·Wᵀ (+ Wb, and for LSTM and GRU's r, z gates Rb too) for every step at once.
            let mut xw = e.op("MatMul", &[x, &wt], vec![]);
            let mut rb_h = None;
            if let Some(b) = self.input(3) {
                let bd = Self::direction_of(e, b, d);
                let wb = e.slice(&bd, &[0], &[gates * h], &[0], None);
                let rb = e.slice(&bd, &[gates * h], &[2 * gates * h], &[0], None);
                if self.kind == Kind::Gru {
                    // Rb of the hidden gate goes inside the reset product when
                    // linear_before_reset; add it separately in both cases.
                    let rb_zr = e.slice(&rb, &[0], &[2 * h], &[0], None);
                    let zero = e.zeros_like_of(&rb, x)?;
                    let zero_h = e.slice(&zero, &[0], &[h], &[0], None);
                    let rb_zr0 = e.op("Concat", &[&rb_zr, &zero_h], vec![attr_int("axis", 0)]);
                    let bias = e.add(&wb, &rb_zr0);
                    xw = e.add(&xw, &bias);
                    rb_h = Some(e.slice(&rb, &[2 * h], &[3 * h], &[0], None));
                } else {
                    let bias = e.add(&wb, &rb);
                    xw = e.add(&xw, &bias);
                }
            }
            let flat = e.const_i64(&[-1, gates * h]);
            // A missing initial state is zero: the first step then skips the terms it
            // multiplies (which also keeps zero tensors out of tract's MatMul folding).
            let mut hid: Option<String> = self.input(5).map(|v| Self::direction_of(e, v, d));
            let mut cell: Option<String> = match self.kind {
                Kind::Lstm => self.input(6).map(|v| Self::direction_of(e, v, d)),
                Kind::Gru => None,
            };
            let peep = match (self.kind, self.input(7)) {
                (Kind::Lstm, Some(p)) => {
                    let pd = Self::direction_of(e, p, d);
                    Some((
                        self.gate(e, &pd, 0, 0),
                        self.gate(e, &pd, 1, 0),
                        self.gate(e, &pd, 2, 0),
                    ))
                }
                _ => None,
            };
            let mut steps = vec![String::new(); self.seq as usize];
            let order: Vec<i64> = if reverse {
                (0..self.seq).rev().collect()
            } else {
                (0..self.seq).collect()
            };
            for &t in &order {
                let xt = e.slice(&xw, &[t], &[t + 1], &[0], None);
                let xt = e.op("Reshape", &[&xt, &flat], vec![]);
                let new_hid = match self.kind {
                    Kind::Lstm => {
                        let g = match &hid {
                            Some(hp) => {
                                let hr = e.op("MatMul", &[hp, &rt], vec![]);
                                e.add(&xt, &hr)
                            }
                            None => xt,
                        };
                        // Gate order i, o, f, c.
                        let mut i = self.gate(e, &g, 0, 1);
                        let mut o = self.gate(e, &g, 1, 1);
                        let mut f = self.gate(e, &g, 2, 1);
                        let c = self.gate(e, &g, 3, 1);
                        if let (Some((pi, _, pf)), Some(cp)) = (&peep, &cell) {
                            let a = e.mul(pi, cp);
                            i = e.add(&i, &a);
                            let b = e.mul(pf, cp);
                            f = e.add(&f, &b);
                        }
                        let i = e.op("Sigmoid", &[&i], vec![]);
                        let c = e.op("Tanh", &[&c], vec![]);
                        let ic = e.mul(&i, &c);
                        let c_new = match &cell {
                            Some(cp) => {
                                let f = e.op("Sigmoid", &[&f], vec![]);
                                let fc = e.mul(&f, cp);
                                e.add(&fc, &ic)
                            }
                            None => ic,
                        };
                        if let Some((_, po, _)) = &peep {
                            let a = e.mul(po, &c_new);
                            o = e.add(&o, &a);
                        }
                        let o = e.op("Sigmoid", &[&o], vec![]);
                        let tc = e.op("Tanh", &[&c_new], vec![]);
                        cell = Some(c_new);
                        e.mul(&o, &tc)
                    }
                    Kind::Gru => {
                        // Gate order z, r, h.
                        let rzr = e.slice(&rt, &[0], &[2 * h], &[1], None);
                        let rh = e.slice(&rt, &[2 * h], &[3 * h], &[1], None);
                        let xzr = e.slice(&xt, &[0], &[2 * h], &[1], None);
                        let zr = match &hid {
                            Some(hp) => {
                                let hzr = e.op("MatMul", &[hp, &rzr], vec![]);
                                e.add(&xzr, &hzr)
                            }
                            None => xzr,
                        };
                        let zr = e.op("Sigmoid", &[&zr], vec![]);
                        let z = self.gate(e, &zr, 0, 1);
                        let rg = self.gate(e, &zr, 1, 1);
                        let xh = self.gate(e, &xt, 2, 1);
                        // The recurrent term of the candidate, without its bias when
                        // the state is zero and the bias comes after the product.
                        let inner = match (&hid, self.linear_before_reset) {
                            (Some(hp), true) => {
                                let mut hr = e.op("MatMul", &[hp, &rh], vec![]);
                                if let Some(rb) = &rb_h {
                                    hr = e.add(&hr, rb);
                                }
                                Some(e.mul(&rg, &hr))
                            }
                            (None, true) => rb_h.as_ref().map(|rb| e.mul(&rg, rb)),
                            (Some(hp), false) => {
                                let rhid = e.mul(&rg, hp);
                                let mut hr = e.op("MatMul", &[&rhid, &rh], vec![]);
                                if let Some(rb) = &rb_h {
                                    hr = e.add(&hr, rb);
                                }
                                Some(hr)
                            }
                            (None, false) => rb_h.clone(),
                        };
                        let pre = match inner {
                            Some(inner) => e.add(&xh, &inner),
                            None => xh,
                        };
                        let cand = e.op("Tanh", &[&pre], vec![]);
                        // H = (1 - z)·h̃ + z·H_prev = h̃ + z·(H_prev - h̃)
                        match &hid {
                            Some(hp) => {
                                let diff = e.sub(hp, &cand);
                                let zd = e.mul(&z, &diff);
                                e.add(&cand, &zd)
                            }
                            None => {
                                let zc = e.mul(&z, &cand);
                                e.sub(&cand, &zc)
                            }
                        }
                    }
                };
                steps[t as usize] = new_hid.clone();
                hid = Some(new_hid);
            }
            let hid = hid.expect("at least one step");
            // Y[:, d] in time order: [seq, 1, batch, hidden].
            let step_shape = e.const_i64(&[1, 1, -1, h]);
            let parts: Vec<String> = steps
                .iter()
                .map(|s| e.op("Reshape", &[s, &step_shape], vec![]))
                .collect();
            let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
            ys.push(e.op("Concat", &refs, vec![attr_int("axis", 0)]));
            let last_shape = e.const_i64(&[1, -1, h]);
            hs.push(e.op("Reshape", &[&hid, &last_shape], vec![]));
            if let Some(c) = cell {
                cs.push(e.op("Reshape", &[&c, &last_shape], vec![]));
            }
        }
        let join = |e: &mut Emitter<'_>, parts: &[String], axis: i64| {
            if parts.len() <= 1 {
                parts.first().cloned().unwrap_or_default()
            } else {
                let refs: Vec<&str> = parts.iter().map(String::as_str).collect();
                e.op("Concat", &refs, vec![attr_int("axis", axis)])
            }
        };
        let outputs = [join(e, &ys, 1), join(e, &hs, 0), join(e, &cs, 0)];
        for (name, value) in self.node.output.iter().zip(&outputs) {
            if !name.is_empty() && !value.is_empty() {
                e.push("Identity", &[value], &[name], vec![]);
            }
        }
        Ok(())
    }
}
