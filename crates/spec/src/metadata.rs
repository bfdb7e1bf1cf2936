//! `ExplanationMetadata`: the model's explained inputs and output.

use serde::Serialize;
use serde_json::Value;

use crate::checks;
use crate::enums::{ColorMap, Encoding, Modality, OverlayType, Polarity, VisualizationType};
use crate::legacy;
use crate::map::OrderedMap;
use crate::parameters::Method;
use crate::path::{At, Cx, JsonPath};
use crate::reader::{self, Fields, Obj};
use crate::SpecError;

/// Default `visualization.clipPercentUpperbound`.
pub const DEFAULT_CLIP_PERCENT_UPPERBOUND: f32 = 99.9;
/// Default `visualization.clipPercentLowerbound`.
pub const DEFAULT_CLIP_PERCENT_LOWERBOUND: f32 = 62.0;

/// Metadata describing the model's inputs and output for explanation
/// (`google.cloud.aiplatform.v1.ExplanationMetadata`), also read from the legacy
/// `explainable_ai_sdk` file (see [`crate::legacy`]).
///
/// `inputs` may be empty (Vertex then explains the instance's own keys); `outputs` holds
/// at most one entry (Vertex explains exactly one output; an empty map leaves the choice to
/// the engine).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationMetadata {
    /// The explained features by name, in the file's order.
    pub inputs: OrderedMap<InputMetadata>,
    /// The explained output by name (at most one).
    pub outputs: OrderedMap<OutputMetadata>,
    /// URI of an OpenAPI schema of the `featureAttributions` (kept, not used).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_attributions_schema_uri: Option<String>,
    /// For example-based explanations: the model output (or layer) whose values are the
    /// latent space, when the model does not output embeddings directly.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latent_space_source: Option<String>,
}

impl ExplanationMetadata {
    /// Empty metadata.
    pub fn new() -> Self {
        Self::default()
    }

    /// The explained output, if the metadata names one.
    pub fn output(&self) -> Option<(&str, &OutputMetadata)> {
        self.outputs.first()
    }

    /// The name under which a feature's attribution is reported: its `groupName` if it has
    /// one, else its own name. `None` for an unknown feature.
    pub fn attribution_key<'a>(&'a self, feature: &'a str) -> Option<&'a str> {
        self.inputs
            .get(feature)
            .map(|input| input.group_name.as_deref().unwrap_or(feature))
    }

    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &[
                "inputs",
                "outputs",
                "featureAttributionsSchemaUri",
                "latentSpaceSource",
            ],
            aliases: &[],
            ignored: legacy::IGNORED_TOP_LEVEL,
        };
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExplanationMetadata {
            inputs: o
                .with("inputs", cx, |v, at, cx| {
                    parse_map(v, at, cx, InputMetadata::parse)
                })?
                .unwrap_or_default(),
            outputs: o
                .with("outputs", cx, |v, at, cx| {
                    parse_map(v, at, cx, OutputMetadata::parse)
                })?
                .unwrap_or_default(),
            feature_attributions_schema_uri: o.opt_string("featureAttributionsSchemaUri", cx)?,
            latent_space_source: o.opt_string("latentSpaceSource", cx)?,
        })
    }

    /// Checks every rule of the contract; paths are relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        let inputs = at.key("inputs");
        for (name, input) in self.inputs.iter() {
            checks::non_empty_name(name, &inputs.name(name))?;
            input.validate_at(&inputs.name(name))?;
        }
        // A group is reported under its name, so it must not collide with a feature that
        // is reported under its own (different) name.
        for (name, input) in self.inputs.iter() {
            let Some(group) = input.group_name.as_deref() else {
                continue;
            };
            if let Some(other) = self.inputs.get(group) {
                if other.group_name.as_deref().is_none_or(|g| g != group) {
                    return Err(SpecError::invalid(
                        inputs.name(name).key("groupName").as_str(),
                        format!(
                            "group {} collides with the input of that name, which is not in the group",
                            checks::quote(group)
                        ),
                    ));
                }
            }
        }
        let outputs = at.key("outputs");
        if self.outputs.len() > 1 {
            return Err(SpecError::invalid(
                outputs.as_str(),
                format!(
                    "exactly one output can be explained, got {}: {}",
                    self.outputs.len(),
                    checks::name_list(self.outputs.keys())
                ),
            ));
        }
        for (name, output) in self.outputs.iter() {
            checks::non_empty_name(name, &outputs.name(name))?;
            output.validate_at(&outputs.name(name))?;
        }
        Ok(())
    }
}

/// Reads a map field (user-chosen keys) in order.
pub(crate) fn parse_map<T>(
    v: &Value,
    at: &At,
    cx: &mut Cx,
    parse: fn(&Value, &At, &mut Cx) -> Result<T, SpecError>,
) -> Result<OrderedMap<T>, SpecError> {
    let mut out = OrderedMap::new();
    for (name, entry) in reader::map(v, at)? {
        let entry_at = at.name(name);
        // An empty message value (`"age": null`) is an empty message, as in proto3.
        let parsed = if entry.is_null() {
            parse(&Value::Object(Default::default()), &entry_at, cx)?
        } else {
            parse(entry, &entry_at, cx)?
        };
        // JSON object keys are unique, so no lookup is needed (a lookup per key made large
        // maps quadratic).
        out.push_unique(name.clone(), parsed);
    }
    Ok(out)
}

/// Metadata of one input feature (`ExplanationMetadata.InputMetadata`).
///
/// An empty object is valid: a numeric feature fed to the model input of the same name.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputMetadata {
    /// Baselines, each shaped like the input (a scalar broadcasts). Several baselines:
    /// attributions and `baselineOutputValue` are averaged over them. Empty: the engine
    /// chooses (zeros).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_baselines: Vec<Value>,
    /// The model input the feature feeds. Unset: the feature's name
    /// (see [`InputMetadata::tensor_name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub input_tensor_name: Option<String>,
    /// How the feature is encoded in its tensor. Default: IDENTITY.
    pub encoding: Encoding,
    /// The kind of data. Default: numeric.
    pub modality: Modality,
    /// Range and normalisation of the feature's values.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_value_domain: Option<FeatureValueDomain>,
    /// Sparse inputs: the tensor of indices.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub indices_tensor_name: Option<String>,
    /// Sparse inputs: the tensor of the dense shape.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dense_shape_tensor_name: Option<String>,
    /// Names of the positions of a list input; required (non-empty, unique) for
    /// BAG_OF_FEATURES, BAG_OF_FEATURES_SPARSE and INDICATOR.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub index_feature_mapping: Vec<String>,
    /// For inputs that are not differentiable (token or category ids): the tensor (e.g.
    /// an embedding output) where gradient methods attribute instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub encoded_tensor_name: Option<String>,
    /// Baselines of the encoded tensor, each shaped like it (a scalar broadcasts).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub encoded_baselines: Vec<Value>,
    /// How image attributions are drawn.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub visualization: Option<Visualization>,
    /// Features with the same group are attributed as one player, reported under the
    /// group's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_name: Option<String>,
}

impl InputMetadata {
    /// The model input this feature feeds: `input_tensor_name`, else the feature's `name`.
    pub fn tensor_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.input_tensor_name.as_deref().unwrap_or(name)
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &[
                "inputBaselines",
                "inputTensorName",
                "encoding",
                "modality",
                "featureValueDomain",
                "indicesTensorName",
                "denseShapeTensorName",
                "indexFeatureMapping",
                "encodedTensorName",
                "encodedBaselines",
                "visualization",
                "groupName",
            ],
            aliases: legacy::INPUT_ALIASES,
            ignored: legacy::IGNORED_INPUT,
        };
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(InputMetadata {
            input_baselines: o.values("inputBaselines", cx)?,
            input_tensor_name: o.opt_string("inputTensorName", cx)?,
            encoding: o.enumeration("encoding", cx)?.unwrap_or_default(),
            modality: o.enumeration("modality", cx)?.unwrap_or_default(),
            feature_value_domain: o.with("featureValueDomain", cx, FeatureValueDomain::parse)?,
            indices_tensor_name: o.opt_string("indicesTensorName", cx)?,
            dense_shape_tensor_name: o.opt_string("denseShapeTensorName", cx)?,
            index_feature_mapping: o.strings("indexFeatureMapping", cx)?,
            encoded_tensor_name: o.opt_string("encodedTensorName", cx)?,
            encoded_baselines: o.values("encodedBaselines", cx)?,
            visualization: o.with("visualization", cx, Visualization::parse)?,
            group_name: o.opt_string("groupName", cx)?,
        })
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        let mapping = at.key("indexFeatureMapping");
        if self.encoding.needs_index_feature_mapping() && self.index_feature_mapping.is_empty() {
            return Err(SpecError::missing(
                mapping.as_str(),
                format!(
                    "required (the names of the list's positions) when encoding is {}",
                    self.encoding
                ),
            ));
        }
        checks::unique_names(
            self.index_feature_mapping.iter().map(String::as_str),
            &mapping,
        )?;
        if let Some(d) = &self.feature_value_domain {
            d.validate_at(&at.key("featureValueDomain"))?;
        }
        if let Some(viz) = &self.visualization {
            viz.validate_at(&at.key("visualization"))?;
        }
        Ok(())
    }
}

/// Range and normalisation of a feature (`InputMetadata.FeatureValueDomain`; legacy
/// `domain{min, max, original_mean, original_stddev}`). Every field is optional.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureValueDomain {
    /// Smallest permissible value.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub min_value: Option<f32>,
    /// Largest permissible value (`>= min_value`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub max_value: Option<f32>,
    /// Mean of the feature before it was normalised to mean 0.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub original_mean: Option<f32>,
    /// Standard deviation of the feature before it was normalised to 1 (`>= 0`).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub original_stddev: Option<f32>,
}

impl FeatureValueDomain {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &["minValue", "maxValue", "originalMean", "originalStddev"],
            aliases: legacy::DOMAIN_ALIASES,
            ignored: &[],
        };
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(FeatureValueDomain {
            min_value: o.f32("minValue", cx)?,
            max_value: o.f32("maxValue", cx)?,
            original_mean: o.f32("originalMean", cx)?,
            original_stddev: o.f32("originalStddev", cx)?,
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        for (name, value) in [
            ("minValue", self.min_value),
            ("maxValue", self.max_value),
            ("originalMean", self.original_mean),
        ] {
            if let Some(x) = value {
                checks::finite(f64::from(x), &at.key(name))?;
            }
        }
        if let Some(s) = self.original_stddev {
            checks::non_negative(f64::from(s), &at.key("originalStddev"))?;
        }
        if let (Some(lo), Some(hi)) = (self.min_value, self.max_value) {
            if lo > hi {
                return Err(SpecError::invalid(
                    at.as_str(),
                    format!("minValue must be <= maxValue, got {lo} > {hi}"),
                ));
            }
        }
        Ok(())
    }
}

/// How image attributions are drawn (`InputMetadata.Visualization`). Every field is
/// optional; the `effective_*` methods apply the documented defaults.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Visualization {
    /// JSON `type`: PIXELS or OUTLINES. Default: OUTLINES.
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub kind: Option<VisualizationType>,
    /// Which sign to highlight. Default: POSITIVE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub polarity: Option<Polarity>,
    /// Colours. Default: PINK_GREEN for Integrated Gradients, VIRIDIS for XRAI.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub color_map: Option<ColorMap>,
    /// Attributions above this percentile are clipped, 0..=100. Default: 99.9.
    /// Legacy: `clip_above_percentile`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub clip_percent_upperbound: Option<f32>,
    /// Attributions below this percentile are not highlighted, 0..=100. Default: 62.
    /// Legacy: `clip_below_percentile`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub clip_percent_lowerbound: Option<f32>,
    /// How the image is shown under the attributions. Default: NONE.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overlay_type: Option<OverlayType>,
}

impl Visualization {
    /// The visualization type, default OUTLINES.
    pub fn effective_type(&self) -> VisualizationType {
        self.kind.unwrap_or(VisualizationType::Outlines)
    }

    /// The polarity, default POSITIVE.
    pub fn effective_polarity(&self) -> Polarity {
        self.polarity.unwrap_or(Polarity::Positive)
    }

    /// The colour map, default VIRIDIS for XRAI and PINK_GREEN otherwise.
    pub fn effective_color_map(&self, method: &Method) -> ColorMap {
        self.color_map.unwrap_or(match method {
            Method::Xrai(_) => ColorMap::Viridis,
            _ => ColorMap::PinkGreen,
        })
    }

    /// The upper clip percentile, default [`DEFAULT_CLIP_PERCENT_UPPERBOUND`].
    pub fn effective_clip_percent_upperbound(&self) -> f32 {
        self.clip_percent_upperbound
            .unwrap_or(DEFAULT_CLIP_PERCENT_UPPERBOUND)
    }

    /// The lower clip percentile, default [`DEFAULT_CLIP_PERCENT_LOWERBOUND`].
    pub fn effective_clip_percent_lowerbound(&self) -> f32 {
        self.clip_percent_lowerbound
            .unwrap_or(DEFAULT_CLIP_PERCENT_LOWERBOUND)
    }

    /// The overlay, default NONE.
    pub fn effective_overlay_type(&self) -> OverlayType {
        self.overlay_type.unwrap_or(OverlayType::None)
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &[
                "type",
                "polarity",
                "colorMap",
                "clipPercentUpperbound",
                "clipPercentLowerbound",
                "overlayType",
            ],
            aliases: legacy::VISUALIZATION_ALIASES,
            ignored: legacy::IGNORED_VISUALIZATION,
        };
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(Visualization {
            kind: o.enumeration("type", cx)?,
            polarity: o.enumeration("polarity", cx)?,
            color_map: o.enumeration("colorMap", cx)?,
            clip_percent_upperbound: o.f32("clipPercentUpperbound", cx)?,
            clip_percent_lowerbound: o.f32("clipPercentLowerbound", cx)?,
            overlay_type: o.enumeration("overlayType", cx)?,
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        for (name, value) in [
            ("clipPercentUpperbound", self.clip_percent_upperbound),
            ("clipPercentLowerbound", self.clip_percent_lowerbound),
        ] {
            if let Some(x) = value {
                if !(0.0..=100.0).contains(&x) {
                    return Err(SpecError::invalid(
                        at.key(name).as_str(),
                        format!("must be a percentile in 0..=100, got {x}"),
                    ));
                }
            }
        }
        // Checked only when both are given: a lone bound meets a default chosen per method.
        if let (Some(lo), Some(hi)) = (self.clip_percent_lowerbound, self.clip_percent_upperbound) {
            if lo >= hi {
                return Err(SpecError::invalid(
                    at.key("clipPercentLowerbound").as_str(),
                    format!("must be below clipPercentUpperbound ({hi}), got {lo}"),
                ));
            }
        }
        Ok(())
    }
}

/// Metadata of the explained output (`ExplanationMetadata.OutputMetadata`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutputMetadata {
    /// Display names of the output's positions: a (nested) array of strings shaped like
    /// the output, looked up with `Attribution.outputIndex`. Exclusive with
    /// `display_name_mapping_key`. Legacy: `index_name_mapping`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index_display_name_mapping: Option<Value>,
    /// The prediction field that holds the display names (shaped like the output).
    /// Legacy: `index_name_mapping_key`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub display_name_mapping_key: Option<String>,
    /// The model output to explain. Unset: the output's name (see
    /// [`OutputMetadata::tensor_name`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_tensor_name: Option<String>,
}

impl OutputMetadata {
    /// The model output explained: `output_tensor_name`, else the output's `name`.
    pub fn tensor_name<'a>(&'a self, name: &'a str) -> &'a str {
        self.output_tensor_name.as_deref().unwrap_or(name)
    }

    /// The display name at `index` in `index_display_name_mapping`.
    pub fn display_name(&self, index: &[usize]) -> Option<&str> {
        let mut node = self.index_display_name_mapping.as_ref()?;
        for &i in index {
            node = node.as_array()?.get(i)?;
        }
        node.as_str()
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields {
            names: &[
                "indexDisplayNameMapping",
                "displayNameMappingKey",
                "outputTensorName",
            ],
            aliases: legacy::OUTPUT_ALIASES,
            ignored: legacy::IGNORED_OUTPUT,
        };
        let o = Obj::new(v, at, &FIELDS)?;
        let mapping = o
            .with("indexDisplayNameMapping", cx, |v, at, _| {
                reader::array(v, at)?;
                Ok(v.clone())
            })?
            .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
        Ok(OutputMetadata {
            index_display_name_mapping: mapping,
            display_name_mapping_key: o.opt_string("displayNameMappingKey", cx)?,
            output_tensor_name: o.opt_string("outputTensorName", cx)?,
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if self.index_display_name_mapping.is_some() && self.display_name_mapping_key.is_some() {
            return Err(SpecError::invalid(
                at.as_str(),
                "indexDisplayNameMapping and displayNameMappingKey exclude each other (a oneof); set only one",
            ));
        }
        if let Some(mapping) = &self.index_display_name_mapping {
            let at = at.key("indexDisplayNameMapping");
            if !mapping.is_array() {
                return Err(SpecError::invalid(
                    at.as_str(),
                    format!(
                        "expected an array of names, got {}",
                        reader::describe(mapping)
                    ),
                ));
            }
            checks::ndarray_shape(mapping, &Value::is_string, "a display name (string)", &at)?;
        }
        Ok(())
    }
}
