//! Binding: named features in JSON instances ⇄ model input tensors.
//!
//! Rules (the Vertex metadata contract, made precise):
//! - Each metadata input is one feature, keyed by its name. It feeds the model input named by
//!   `inputTensorName` (default: the feature name; a TensorFlow-style `:0` suffix is ignored).
//! - A feature with `indexFeatureMapping` covers that many consecutive positions of its tensor,
//!   one named scalar each. An instance gives them either as top-level keys
//!   (`{"mean radius": 14.1, …}`) or as one list under the feature name.
//! - A feature without a mapping that is alone on its tensor fills the whole per-example tensor
//!   (a scalar or nested list); several such features on one tensor are scalars packed along
//!   the tensor in metadata order.
//! - Players (the units Shapley permutes) are the named positions and the elements of list
//!   features; all features sharing a `groupName` form ONE player, reported under the group name.
//! - Baselines: `inputBaselines` (a value shaped like the feature, or a scalar that broadcasts);
//!   several baselines are explained separately and averaged. Default: zeros.
//! - Without metadata inputs, every model input is one feature named after its tensor.

use std::collections::HashMap;

use prism_model::{ElementType, Signature, Tensor};
use prism_spec::{Encoding, ExplanationMetadata, Modality};
use serde_json::{Map, Value};

use crate::error::{AttributionError, Result};

/// How a feature lays out in its tensor.
#[derive(Debug, Clone, PartialEq)]
enum FeatureKind {
    /// Positions named by `indexFeatureMapping`.
    Named(Vec<String>),
    /// One scalar packed beside other features.
    Scalar,
    /// The whole per-example tensor (scalar or nested list).
    Whole,
}

#[derive(Debug, Clone)]
struct FeatureBinding {
    name: String,
    tensor: usize,
    offset: usize,
    kind: FeatureKind,
    group: Option<String>,
    /// `inputBaselines` (empty: zeros), each read once as flat values, or why it cannot
    /// be read: (field path, message).
    baselines: Vec<std::result::Result<Vec<f64>, (String, String)>>,
    modality: Modality,
    /// `encodedTensorName`, for gradient methods on ids.
    encoded_tensor: Option<String>,
    /// `encodedBaselines`.
    encoded_baselines: Vec<Value>,
    /// `featureValueDomain` min and max: where decoded image bytes 0..=255 map to.
    domain: (f64, f64),
}

#[derive(Debug, Clone)]
struct TensorSlot {
    name: String,
    elem: ElementType,
    /// Per-example shape when every dimension after the batch is fixed.
    fixed_shape: Option<Vec<usize>>,
}

/// The binding of one metadata to one model signature, checked once at load time.
#[derive(Debug, Clone)]
pub struct Binder {
    tensors: Vec<TensorSlot>,
    features: Vec<FeatureBinding>,
    baseline_count: usize,
    /// Every key an instance object may use (feature names and mapped names).
    known_keys: std::collections::HashSet<String>,
}

/// How an instance gave one feature, so attributions come back in the same shape.
#[derive(Debug, Clone, PartialEq)]
enum Given {
    /// Named positions as top-level keys.
    Keys,
    /// A value under the feature name (scalar when `shape` is empty).
    Value { shape: Vec<usize> },
}

/// One instance turned into per-example tensor values.
#[derive(Debug, Clone)]
pub struct BoundInstance {
    /// Flat per-example values of each model input, in signature order.
    pub values: Vec<Vec<f64>>,
    /// Per-example shape of each model input.
    pub shapes: Vec<Vec<usize>>,
    given: Vec<Given>,
}

impl BoundInstance {
    /// The same instance with more tensors after its model inputs (values of intermediate
    /// tensors, such as embeddings, that a path method moves along).
    pub fn extended(&self, values: Vec<Vec<f64>>, shapes: Vec<Vec<usize>>) -> BoundInstance {
        let mut out = self.clone();
        out.values.extend(values);
        out.shapes.extend(shapes);
        out
    }
}

/// A unit of attribution: the tensor positions that switch together.
#[derive(Debug, Clone, PartialEq)]
pub struct Player {
    /// `(model input index, flat per-example position)` pairs.
    pub positions: Vec<(usize, usize)>,
}

impl Binder {
    /// Checks `metadata` against `signature` and prepares the binding.
    pub fn new(metadata: Option<&ExplanationMetadata>, signature: &Signature) -> Result<Self> {
        let tensors: Vec<TensorSlot> = signature
            .inputs
            .iter()
            .map(|info| TensorSlot {
                name: info.name.clone(),
                elem: info.elem_type,
                fixed_shape: info
                    .example_dims()
                    .and_then(|dims| dims.into_iter().collect::<Option<Vec<usize>>>()),
            })
            .collect();
        let mut features = Vec::new();
        let described = metadata.map(|m| !m.inputs.is_empty()).unwrap_or(false);
        if let (Some(meta), true) = (metadata, described) {
            for (name, input) in meta.inputs.iter() {
                let path = format!("metadata.inputs.{name}");
                let tensor_name = input.input_tensor_name.as_deref().unwrap_or(name);
                let tensor = find_tensor(&tensors, tensor_name).ok_or_else(|| {
                    let field = if input.input_tensor_name.is_some() {
                        format!("{path}.inputTensorName")
                    } else {
                        path.clone()
                    };
                    AttributionError::metadata(
                        field,
                        format!(
                            "no model input named '{tensor_name}'; the model's inputs are {}",
                            names(&tensors)
                        ),
                    )
                })?;
                let kind = match input.encoding {
                    Encoding::BagOfFeaturesSparse => {
                        return Err(AttributionError::metadata(
                            format!("{path}.encoding"),
                            "BAG_OF_FEATURES_SPARSE is not supported yet",
                        ))
                    }
                    _ if !input.index_feature_mapping.is_empty() => {
                        FeatureKind::Named(input.index_feature_mapping.clone())
                    }
                    _ => FeatureKind::Whole,
                };
                features.push(FeatureBinding {
                    name: name.to_string(),
                    tensor,
                    offset: 0,
                    kind,
                    group: input.group_name.clone(),
                    baselines: read_baselines(name, &input.input_baselines),
                    modality: input.modality,
                    encoded_tensor: input.encoded_tensor_name.clone(),
                    encoded_baselines: input.encoded_baselines.clone(),
                    domain: input.feature_value_domain.as_ref().map_or((0.0, 1.0), |d| {
                        (
                            d.min_value.map_or(0.0, f64::from),
                            d.max_value.map_or(1.0, f64::from),
                        )
                    }),
                });
            }
        } else {
            for (ix, t) in tensors.iter().enumerate() {
                features.push(FeatureBinding {
                    name: t.name.clone(),
                    tensor: ix,
                    offset: 0,
                    kind: FeatureKind::Whole,
                    group: None,
                    baselines: Vec::new(),
                    modality: Modality::Numeric,
                    encoded_tensor: None,
                    encoded_baselines: Vec::new(),
                    domain: (0.0, 1.0),
                });
            }
        }
        layout_tensors(&tensors, &mut features)?;
        let mut binder = Self {
            tensors,
            features,
            baseline_count: 1,
            known_keys: Default::default(),
        };
        binder.known_keys = binder.feature_names().into_iter().collect();
        binder
            .known_keys
            .extend(binder.features.iter().map(|f| f.name.clone()));
        binder.baseline_count = binder.check_baselines()?;
        binder.check_names()?;
        Ok(binder)
    }

    /// How many baselines each instance is explained against.
    pub fn baseline_count(&self) -> usize {
        self.baseline_count
    }

    /// Whether model input `t` takes floats (integer inputs hold ids and cannot be
    /// differentiated).
    pub fn tensor_is_float(&self, t: usize) -> bool {
        self.tensors[t].elem.is_float()
    }

    /// Whether a feature of model input `t` has the image modality.
    pub fn tensor_is_image(&self, t: usize) -> bool {
        self.features
            .iter()
            .any(|f| f.tensor == t && f.modality == Modality::Image)
    }

    /// The metadata names of the features on model input `t`, with their
    /// `encodedTensorName`, in metadata order.
    pub fn tensor_features(&self, t: usize) -> Vec<(&str, Option<&str>)> {
        self.features
            .iter()
            .filter(|f| f.tensor == t)
            .map(|f| (f.name.as_str(), f.encoded_tensor.as_deref()))
            .collect()
    }

    /// The `encodedBaselines` of feature `name` (empty when none are given).
    pub fn encoded_baselines(&self, name: &str) -> &[Value] {
        self.features
            .iter()
            .find(|f| f.name == name)
            .map_or(&[], |f| f.encoded_baselines.as_slice())
    }

    /// Whether `name` is a feature (metadata input) name.
    pub fn has_feature(&self, name: &str) -> bool {
        self.features.iter().any(|f| f.name == name)
    }

    /// The `(model input, flat position)` pairs of feature `name` in `instance`.
    pub fn feature_positions(&self, instance: &BoundInstance, name: &str) -> Vec<(usize, usize)> {
        self.features
            .iter()
            .filter(|f| f.name == name)
            .flat_map(|f| {
                let len = feature_len(f, &instance.shapes[f.tensor]);
                (0..len).map(move |i| (f.tensor, f.offset + i))
            })
            .collect()
    }

    /// Names of the model inputs, in signature order.
    pub fn tensor_names(&self) -> Vec<&str> {
        self.tensors.iter().map(|t| t.name.as_str()).collect()
    }

    /// Feature names as instances may use them (metadata names and mapped names).
    pub fn feature_names(&self) -> Vec<String> {
        let mut out = Vec::new();
        for f in &self.features {
            match &f.kind {
                FeatureKind::Named(names) => out.extend(names.iter().cloned()),
                _ => out.push(f.name.clone()),
            }
        }
        out
    }

    /// Turns a JSON instance into tensor values.
    pub fn bind(&self, instance: &Value) -> Result<BoundInstance> {
        let mut values: Vec<Vec<f64>> = Vec::with_capacity(self.tensors.len());
        let mut shapes = Vec::with_capacity(self.tensors.len());
        let mut given = vec![Given::Keys; self.features.len()];
        // `{"b64": ...}` for a one-input model is the value itself (an encoded image).
        let bare_image = self.features.len() == 1
            && instance
                .as_object()
                .is_some_and(|m| m.len() == 1 && m.contains_key("b64"));
        let object = match instance {
            Value::Object(map) if !bare_image => Some(map),
            _ => None,
        };
        if object.is_none() && self.features.len() != 1 {
            return Err(AttributionError::instance(
                "",
                format!(
                    "expected a JSON object of named features ({}), got {}",
                    self.feature_names().join(", "),
                    kind_of(instance)
                ),
            ));
        }
        if let Some(map) = object {
            self.reject_unknown_keys(map)?;
        }
        for (t_ix, slot) in self.tensors.iter().enumerate() {
            let mut flat = Vec::new();
            let mut shape = slot.fixed_shape.clone();
            for (f_ix, f) in self
                .features
                .iter()
                .enumerate()
                .filter(|(_, f)| f.tensor == t_ix)
            {
                let value = match object {
                    Some(map) => map.get(&f.name),
                    None => Some(instance),
                };
                let encoded = value
                    .and_then(|v| v.get("b64"))
                    .filter(|_| f.kind == FeatureKind::Whole);
                let (vals, how) = if let Some(b64) = encoded {
                    decode_image(f, slot, b64)?
                } else {
                    match object {
                        Some(map) => read_feature(f, map)?,
                        None => {
                            let mut single = Map::new();
                            single.insert(f.name.clone(), instance.clone());
                            read_feature(f, &single)?
                        }
                    }
                };
                if let (FeatureKind::Whole, Given::Value { shape: s }) = (&f.kind, &how) {
                    check_whole_shape(f, slot, s)?;
                    shape = Some(s.clone());
                }
                flat.extend(vals);
                given[f_ix] = how;
            }
            let shape = shape.unwrap_or_else(|| vec![flat.len()]);
            if shape.iter().product::<usize>() != flat.len() {
                return Err(AttributionError::instance(
                    &slot.name,
                    format!(
                        "model input '{}' needs {} values per example, the instance gives {}",
                        slot.name,
                        shape.iter().product::<usize>(),
                        flat.len()
                    ),
                ));
            }
            if !slot.elem.is_float() {
                if let Some(bad) = flat.iter().find(|v| v.fract() != 0.0) {
                    return Err(AttributionError::instance(
                        &slot.name,
                        format!("model input '{}' takes integers, got {bad}", slot.name),
                    ));
                }
            }
            values.push(flat);
            shapes.push(shape);
        }
        Ok(BoundInstance {
            values,
            shapes,
            given,
        })
    }

    /// The baselines for `instance`, each shaped like it (`baseline_count` of them).
    pub fn baselines(&self, instance: &BoundInstance) -> Result<Vec<BoundInstance>> {
        (0..self.baseline_count)
            .map(|k| {
                let mut values = Vec::with_capacity(self.tensors.len());
                for (t_ix, shape) in instance.shapes.iter().enumerate() {
                    let mut flat = Vec::new();
                    for f in self.features.iter().filter(|f| f.tensor == t_ix) {
                        let len = feature_len(f, shape);
                        flat.extend(baseline_values(f, k, len)?);
                    }
                    values.push(flat);
                }
                Ok(BoundInstance {
                    values,
                    shapes: instance.shapes.clone(),
                    given: instance.given.clone(),
                })
            })
            .collect()
    }

    /// The players of `instance`, in a stable order, with the name each reports under.
    pub fn players(&self, instance: &BoundInstance) -> Vec<Player> {
        self.player_map(instance).0
    }

    /// Players plus, per feature, the player of each of its elements.
    fn player_map(&self, instance: &BoundInstance) -> (Vec<Player>, Vec<Vec<usize>>) {
        let mut players: Vec<Player> = Vec::new();
        let mut groups: HashMap<&str, usize> = HashMap::new();
        let mut of_feature = Vec::with_capacity(self.features.len());
        for f in &self.features {
            let len = feature_len(f, &instance.shapes[f.tensor]);
            let mut elems = Vec::with_capacity(len);
            for i in 0..len {
                let pos = (f.tensor, f.offset + i);
                let ix = match &f.group {
                    Some(g) => *groups.entry(g.as_str()).or_insert_with(|| {
                        players.push(Player { positions: vec![] });
                        players.len() - 1
                    }),
                    None => {
                        players.push(Player { positions: vec![] });
                        players.len() - 1
                    }
                };
                players[ix].positions.push(pos);
                elems.push(ix);
            }
            of_feature.push(elems);
        }
        (players, of_feature)
    }

    /// Builds `featureAttributions` shaped like the instance from per-player values.
    pub fn unbind(&self, instance: &BoundInstance, per_player: &[f64]) -> Value {
        let (_, of_feature) = self.player_map(instance);
        let mut out = Map::new();
        for (f_ix, f) in self.features.iter().enumerate() {
            let elems = &of_feature[f_ix];
            if let Some(g) = &f.group {
                if let Some(&p) = elems.first() {
                    out.insert(g.clone(), number(per_player[p]));
                }
                continue;
            }
            match (&f.kind, &instance.given[f_ix]) {
                (FeatureKind::Named(names), Given::Keys) => {
                    for (name, &p) in names.iter().zip(elems) {
                        out.insert(name.clone(), number(per_player[p]));
                    }
                }
                (_, Given::Value { shape }) => {
                    let flat: Vec<f64> = elems.iter().map(|&p| per_player[p]).collect();
                    out.insert(f.name.clone(), nest(&flat, shape));
                }
                (_, Given::Keys) => {
                    let flat: Vec<f64> = elems.iter().map(|&p| per_player[p]).collect();
                    out.insert(f.name.clone(), nest(&flat, &[]));
                }
            }
        }
        Value::Object(out)
    }

    /// The instance whose binding is one example's tensor `values` (per model input, flat,
    /// with per-example `shapes`): the inverse of [`Binder::bind`], for callers that hold
    /// tensors (the Open Inference Protocol) rather than named features. Named positions
    /// come back as top-level keys, whole features as (nested) lists, packed scalars as
    /// numbers.
    pub fn instance_from_values(&self, values: &[Vec<f64>], shapes: &[Vec<usize>]) -> Value {
        let mut out = Map::new();
        for f in &self.features {
            let (Some(flat), Some(shape)) = (values.get(f.tensor), shapes.get(f.tensor)) else {
                continue;
            };
            let len = feature_len(f, shape);
            let Some(part) = flat.get(f.offset..f.offset + len) else {
                continue;
            };
            match &f.kind {
                FeatureKind::Named(names) => {
                    for (name, &v) in names.iter().zip(part) {
                        out.insert(name.clone(), number(v));
                    }
                }
                FeatureKind::Scalar => {
                    out.insert(f.name.clone(), number(part[0]));
                }
                FeatureKind::Whole => {
                    out.insert(f.name.clone(), nest(part, shape));
                }
            }
        }
        Value::Object(out)
    }

    /// Builds model input tensors for a batch of rows.
    pub fn tensors_for(&self, shapes: &[Vec<usize>], rows: &crate::Rows) -> Result<Vec<Tensor>> {
        let mut out = Vec::with_capacity(self.tensors.len());
        for (t_ix, slot) in self.tensors.iter().enumerate() {
            let mut shape = vec![rows.len()];
            shape.extend(&shapes[t_ix]);
            let values = rows.tensor(t_ix);
            let tensor = if slot.elem.is_float() {
                Tensor::f32(shape, values.iter().map(|&v| v as f32).collect())
            } else {
                Tensor::i64(shape, values.iter().map(|&v| v as i64).collect())
            };
            out.push(tensor?);
        }
        Ok(out)
    }

    fn reject_unknown_keys(&self, map: &Map<String, Value>) -> Result<()> {
        for key in map.keys() {
            if !self.known_keys.contains(key) {
                return Err(AttributionError::instance(
                    key,
                    format!(
                        "unknown feature; the metadata names {}",
                        self.feature_names().join(", ")
                    ),
                ));
            }
        }
        Ok(())
    }

    /// Parses every baseline whose shape is known now, so a bad one fails at load time.
    /// Returns how many baselines instances are explained against.
    fn check_baselines(&self) -> Result<usize> {
        let mut count = 1;
        let mut counted_by: Option<&str> = None;
        for f in &self.features {
            let n = f.baselines.len();
            if n > 1 {
                if count > 1 && n != count {
                    return Err(AttributionError::metadata(
                        format!("metadata.inputs.{}.inputBaselines", f.name),
                        format!(
                            "has {n} baselines but '{}' has {count}; features with several \
                             baselines must have the same number",
                            counted_by.unwrap_or("")
                        ),
                    ));
                }
                count = n;
                counted_by = Some(&f.name);
            }
            if let Some(shape) = &self.tensors[f.tensor].fixed_shape {
                let len = feature_len(f, shape);
                for k in 0..n {
                    baseline_values(f, k, len)?;
                }
            }
        }
        Ok(count)
    }

    fn check_names(&self) -> Result<()> {
        let mut seen: HashMap<String, String> = HashMap::new();
        for f in &self.features {
            let names = match &f.kind {
                FeatureKind::Named(n) => n.clone(),
                _ => vec![f.name.clone()],
            };
            for n in names {
                if let Some(prev) = seen.insert(n.clone(), f.name.clone()) {
                    if prev != f.name || matches!(f.kind, FeatureKind::Named(_)) {
                        return Err(AttributionError::metadata(
                            format!("metadata.inputs.{}", f.name),
                            format!("feature name '{n}' is used twice (also by '{prev}')"),
                        ));
                    }
                }
            }
        }
        // A group reports under its name: no feature outside the group may report under it.
        let groups: std::collections::HashSet<&str> = self
            .features
            .iter()
            .filter_map(|f| f.group.as_deref())
            .collect();
        for f in self.features.iter().filter(|f| f.group.is_none()) {
            let mut reported = vec![f.name.as_str()];
            if let FeatureKind::Named(names) = &f.kind {
                reported.extend(names.iter().map(String::as_str));
            }
            if let Some(clash) = reported.into_iter().find(|n| groups.contains(n)) {
                return Err(AttributionError::metadata(
                    format!("metadata.inputs.{}", f.name),
                    format!(
                        "'{clash}' is both a group name and a feature of '{}'",
                        f.name
                    ),
                ));
            }
        }
        Ok(())
    }
}

fn find_tensor(tensors: &[TensorSlot], name: &str) -> Option<usize> {
    tensors.iter().position(|t| t.name == name).or_else(|| {
        let trimmed = name.strip_suffix(":0")?;
        tensors.iter().position(|t| t.name == trimmed)
    })
}

fn names(tensors: &[TensorSlot]) -> String {
    tensors
        .iter()
        .map(|t| format!("'{}'", t.name))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Assigns offsets and kinds so the features of each tensor tile it exactly.
fn layout_tensors(tensors: &[TensorSlot], features: &mut [FeatureBinding]) -> Result<()> {
    for (t_ix, slot) in tensors.iter().enumerate() {
        let on_tensor: Vec<usize> = (0..features.len())
            .filter(|&i| features[i].tensor == t_ix)
            .collect();
        if on_tensor.is_empty() {
            return Err(AttributionError::metadata(
                "metadata.inputs",
                format!(
                    "model input '{}' is not fed by any metadata input",
                    slot.name
                ),
            ));
        }
        let alone = on_tensor.len() == 1;
        let mut offset = 0;
        for &i in &on_tensor {
            let f = &mut features[i];
            if f.kind == FeatureKind::Whole && !alone {
                f.kind = FeatureKind::Scalar;
            }
            f.offset = offset;
            offset += match &f.kind {
                FeatureKind::Named(n) => n.len(),
                FeatureKind::Scalar => 1,
                FeatureKind::Whole => slot
                    .fixed_shape
                    .as_ref()
                    .map(|s| s.iter().product())
                    .unwrap_or(0),
            };
        }
        let packed = !alone || !matches!(features[on_tensor[0]].kind, FeatureKind::Whole);
        if let (Some(shape), true) = (&slot.fixed_shape, packed) {
            let size: usize = shape.iter().product();
            if offset != size {
                let list: Vec<&str> = on_tensor
                    .iter()
                    .map(|&i| features[i].name.as_str())
                    .collect();
                return Err(AttributionError::metadata(
                    format!("metadata.inputs.{}", features[on_tensor[0]].name),
                    format!(
                        "the features on model input '{}' ({}) cover {offset} values, but it \
                         takes {size} per example",
                        slot.name,
                        list.join(", ")
                    ),
                ));
            }
        }
    }
    Ok(())
}

fn feature_len(f: &FeatureBinding, tensor_shape: &[usize]) -> usize {
    match &f.kind {
        FeatureKind::Named(n) => n.len(),
        FeatureKind::Scalar => 1,
        FeatureKind::Whole => tensor_shape.iter().product(),
    }
}

fn check_whole_shape(f: &FeatureBinding, slot: &TensorSlot, shape: &[usize]) -> Result<()> {
    if let Some(fixed) = &slot.fixed_shape {
        let same = fixed.as_slice() == shape
            || fixed.iter().product::<usize>() == shape.iter().product::<usize>()
                && shape.len() <= 1;
        if !same {
            return Err(AttributionError::instance(
                &f.name,
                format!(
                    "expected a value of shape {fixed:?} for model input '{}', got shape {shape:?}",
                    slot.name
                ),
            ));
        }
    }
    Ok(())
}

/// Reads a feature from an instance object.
fn read_feature(f: &FeatureBinding, map: &Map<String, Value>) -> Result<(Vec<f64>, Given)> {
    if let Some(v) = map.get(&f.name) {
        let (shape, vals) = read_value(&f.name, v)?;
        let want = match &f.kind {
            FeatureKind::Named(n) => Some(n.len()),
            FeatureKind::Scalar => Some(1),
            FeatureKind::Whole => None,
        };
        if let Some(want) = want {
            if vals.len() != want {
                return Err(AttributionError::instance(
                    &f.name,
                    format!("expected {want} value(s), got {}", vals.len()),
                ));
            }
        }
        return Ok((vals, Given::Value { shape }));
    }
    match &f.kind {
        FeatureKind::Named(names) => {
            let mut vals = Vec::with_capacity(names.len());
            for n in names {
                let v = map.get(n).ok_or_else(|| {
                    AttributionError::instance(n, format!("missing feature (part of '{}')", f.name))
                })?;
                vals.push(scalar(n, v)?);
            }
            Ok((vals, Given::Keys))
        }
        _ => Err(AttributionError::instance(&f.name, "missing feature")),
    }
}

/// An image given as `{"b64": "<PNG or JPEG bytes>"}`, decoded into the model input's
/// per-example shape: `[H, W]`, `[H, W, C]` or `[C, H, W]` with C = 1 (luma) or 3 (RGB);
/// resized bilinearly when its size differs; byte values 0..=255 mapped linearly onto the
/// feature's `featureValueDomain` [minValue, maxValue] (default [0, 1]).
fn decode_image(f: &FeatureBinding, slot: &TensorSlot, b64: &Value) -> Result<(Vec<f64>, Given)> {
    let bad = |m: String| AttributionError::instance(&f.name, m);
    let shape = slot.fixed_shape.clone().ok_or_else(|| {
        bad(format!(
            "a b64 image needs model input '{}' to have a fixed shape",
            slot.name
        ))
    })?;
    let (h, w, c, channels_first) = match shape[..] {
        [h, w] => (h, w, 1, false),
        [h, w, c] if c == 1 || c == 3 => (h, w, c, false),
        [c, h, w] if c == 1 || c == 3 => (h, w, c, true),
        _ => {
            return Err(bad(format!(
                "a b64 image cannot fill model input '{}' of shape {shape:?}",
                slot.name
            )))
        }
    };
    let view = prism_viz::ImageView::from_value(&serde_json::json!({ "b64": b64 }))
        .map_err(|e| bad(format!("b64 image: {e}")))?;
    let (sw, sh) = (view.width(), view.height());
    let mut rgb: Vec<f64> = Vec::with_capacity(sw * sh * 3);
    for p in view.pixels() {
        rgb.extend(p.iter().map(|&b| f64::from(b)));
    }
    if (sh, sw) != (h, w) {
        rgb = crate::segment::resize_bilinear(&rgb, (sh, sw, 3), (h, w));
    }
    let (lo, hi) = f.domain;
    let scale = |b: f64| lo + (hi - lo) * b / 255.0;
    let mut out = vec![0f64; h * w * c];
    for y in 0..h {
        for x in 0..w {
            let px = &rgb[(y * w + x) * 3..(y * w + x) * 3 + 3];
            let values: Vec<f64> = if c == 1 {
                // ITU-R BT.601 luma.
                vec![0.299 * px[0] + 0.587 * px[1] + 0.114 * px[2]]
            } else {
                px.to_vec()
            };
            for (ch, v) in values.into_iter().enumerate() {
                let at = if channels_first {
                    (ch * h + y) * w + x
                } else {
                    (y * w + x) * c + ch
                };
                out[at] = scale(v);
            }
        }
    }
    Ok((out, Given::Value { shape }))
}

/// A JSON number or nested array of numbers → (shape, flat values).
fn read_value(path: &str, v: &Value) -> Result<(Vec<usize>, Vec<f64>)> {
    match v {
        Value::Array(items) => {
            let mut shape: Option<Vec<usize>> = None;
            let mut flat = Vec::new();
            for (i, item) in items.iter().enumerate() {
                let (s, vals) = read_value(&format!("{path}[{i}]"), item)?;
                match &shape {
                    None => shape = Some(s),
                    Some(prev) if *prev != s => {
                        return Err(AttributionError::instance(
                            format!("{path}[{i}]"),
                            format!("ragged array: shape {s:?} differs from {prev:?}"),
                        ))
                    }
                    Some(_) => {}
                }
                flat.extend(vals);
            }
            let mut full = vec![items.len()];
            full.extend(shape.unwrap_or_default());
            Ok((full, flat))
        }
        other => Ok((vec![], vec![scalar(path, other)?])),
    }
}

fn scalar(path: &str, v: &Value) -> Result<f64> {
    match v.as_f64() {
        Some(x) if x.is_finite() => Ok(x),
        _ => Err(AttributionError::instance(
            path,
            format!("expected a number, got {}", kind_of(v)),
        )),
    }
}

fn kind_of(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

/// Baseline `k` of a feature as `len` flat values (zeros by default; one baseline is used
/// for every k; a scalar broadcasts).
fn baseline_values(f: &FeatureBinding, k: usize, len: usize) -> Result<Vec<f64>> {
    let Some(read) = f.baselines.get(k).or_else(|| f.baselines.first()) else {
        return Ok(vec![0.0; len]);
    };
    let vals = match read {
        Ok(vals) => vals,
        Err((path, message)) => return Err(AttributionError::metadata(path, message.clone())),
    };
    let ix = if f.baselines.len() > 1 { k } else { 0 };
    let path = || format!("metadata.inputs.{}.inputBaselines[{ix}]", f.name);
    match vals.len() {
        n if n == len => Ok(vals.clone()),
        1 => Ok(vec![vals[0]; len]),
        n => Err(AttributionError::metadata(
            path(),
            format!("has {n} values, the feature has {len} (give {len} values or one scalar)"),
        )),
    }
}

/// Reads a feature's `inputBaselines` once, at binding time (they are used for every
/// instance).
fn read_baselines(
    feature: &str,
    raw: &[Value],
) -> Vec<std::result::Result<Vec<f64>, (String, String)>> {
    raw.iter()
        .enumerate()
        .map(|(ix, v)| {
            let path = format!("metadata.inputs.{feature}.inputBaselines[{ix}]");
            match read_value(&path, v) {
                Ok((_, vals)) => Ok(vals),
                Err(AttributionError::Instance { message, .. }) => Err((path, message)),
                Err(other) => Err((path, other.to_string())),
            }
        })
        .collect()
}

fn number(x: f64) -> Value {
    serde_json::Number::from_f64(x)
        .map(Value::Number)
        .unwrap_or(Value::Null)
}

/// Nests flat values into arrays of `shape` (a scalar when `shape` is empty).
fn nest(flat: &[f64], shape: &[usize]) -> Value {
    match shape.split_first() {
        None => flat.first().map(|&x| number(x)).unwrap_or(Value::Null),
        Some((&n, rest)) => {
            let inner: usize = rest.iter().product();
            Value::Array(
                (0..n)
                    .map(|i| nest(&flat[i * inner..(i + 1) * inner], rest))
                    .collect(),
            )
        }
    }
}
