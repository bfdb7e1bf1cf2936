//! `ExplanationSpecOverride`: per-request changes to a model's spec, and how they merge.

use serde::Serialize;
use serde_json::Value;

use crate::checks;
use crate::enums::ExamplesOverrideDataFormat;
use crate::map::OrderedMap;
use crate::metadata::parse_map;
use crate::parameters::{
    read_method, read_selection, validate_selection, Method, PARAMETER_FIELDS,
};
use crate::path::{At, Cx, JsonPath};
use crate::reader::{self, Fields, Obj};
use crate::spec::ExplanationSpec;
use crate::SpecError;

/// The root of the paths of [`ExplanationSpec::apply_override`]'s errors.
pub const OVERRIDE_ROOT: &str = "explanationSpecOverride";

/// Per-request changes to a model's spec (`google.cloud.aiplatform.v1.ExplanationSpecOverride`,
/// the `explanationSpecOverride` of an explain request). Merged with
/// [`ExplanationSpec::apply_override`].
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationSpecOverride {
    /// New parameters; the method itself cannot change.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub parameters: Option<ExplanationParametersOverride>,
    /// New baselines for named inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ExplanationMetadataOverride>,
    /// Query options of example-based explanations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub examples_override: Option<ExamplesOverride>,
}

/// The `parameters` of an override: the `ExplanationParameters` message, except that the
/// method may be left out (keeping the model's).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationParametersOverride {
    /// The method's new settings; it must be the model's method.
    #[serde(flatten)]
    pub method: Option<Method>,
    /// New `topK` (replaces the model's output selection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// New `outputIndices` (replaces the model's output selection).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_indices: Option<Value>,
    /// New seed (Prism extension).
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::u64_as_string"
    )]
    pub seed: Option<u64>,
}

/// The `metadata` of an override (`ExplanationMetadataOverride`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationMetadataOverride {
    /// New settings per input name; every name must be an input of the model's metadata.
    pub inputs: OrderedMap<InputMetadataOverride>,
}

/// New settings of one input (`ExplanationMetadataOverride.InputMetadataOverride`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InputMetadataOverride {
    /// Replaces the input's `inputBaselines`; empty leaves them as they are.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub input_baselines: Vec<Value>,
}

/// Query options of example-based explanations (`ExamplesOverride`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamplesOverride {
    /// Neighbours to return, `>= 1`. Unset: the spec's `neighborCount`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub neighbor_count: Option<i32>,
    /// At most this many neighbours may share one crowding tag, `>= 1`. Unset: no limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub crowding_count: Option<i32>,
    /// Filters on the examples' `restricts` namespaces.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub restrictions: Vec<ExamplesRestrictionsNamespace>,
    /// Return the instances' embeddings instead of neighbours.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub return_embeddings: bool,
    /// Whether the request's instances are model inputs or embeddings. Unset: instances.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub data_format: Option<ExamplesOverrideDataFormat>,
}

/// A filter on one namespace of the examples' restricts (`ExamplesRestrictionsNamespace`):
/// a neighbour passes when its tags in the namespace meet `allow` and miss `deny`.
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExamplesRestrictionsNamespace {
    /// The namespace (`restricts[].namespace` of the dataset lines).
    pub namespace_name: String,
    /// Tags a neighbour must have one of (empty: no condition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub allow: Vec<String>,
    /// Tags a neighbour must not have.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub deny: Vec<String>,
}

impl ExplanationSpecOverride {
    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["parameters", "metadata", "examplesOverride"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExplanationSpecOverride {
            parameters: o.with("parameters", cx, ExplanationParametersOverride::parse)?,
            metadata: o.with("metadata", cx, ExplanationMetadataOverride::parse)?,
            examples_override: o.with("examplesOverride", cx, ExamplesOverride::parse)?,
        })
    }

    /// Checks the override on its own (ranges, exclusive fields); paths are relative to
    /// this object. Whether it fits a model is checked by [`ExplanationSpec::apply_override`].
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if let Some(p) = &self.parameters {
            let at = at.key("parameters");
            if let Some(m) = &p.method {
                m.validate_at(&at)?;
            }
            validate_selection(p.top_k, p.output_indices.as_ref(), &at)?;
        }
        if let Some(m) = &self.metadata {
            let inputs = at.key("metadata").key("inputs");
            for name in m.inputs.keys() {
                checks::non_empty_name(name, &inputs.name(name))?;
            }
        }
        if let Some(e) = &self.examples_override {
            e.validate_at(&at.key("examplesOverride"))?;
        }
        Ok(())
    }
}

impl ExplanationParametersOverride {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        let o = Obj::new(v, at, &PARAMETER_FIELDS)?;
        let method = read_method(&o, cx)?;
        let s = read_selection(&o, cx)?;
        Ok(ExplanationParametersOverride {
            method,
            top_k: s.top_k,
            output_indices: s.output_indices,
            seed: s.seed,
        })
    }
}

impl ExplanationMetadataOverride {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["inputs"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExplanationMetadataOverride {
            inputs: o
                .with("inputs", cx, |v, at, cx| {
                    parse_map(v, at, cx, InputMetadataOverride::parse)
                })?
                .unwrap_or_default(),
        })
    }
}

impl InputMetadataOverride {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["inputBaselines"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(InputMetadataOverride {
            input_baselines: o.values("inputBaselines", cx)?,
        })
    }
}

impl ExamplesOverride {
    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&[
            "neighborCount",
            "crowdingCount",
            "restrictions",
            "returnEmbeddings",
            "dataFormat",
        ]);
        let o = Obj::new(v, at, &FIELDS)?;
        let restrictions = o
            .with("restrictions", cx, |v, at, cx| {
                reader::array(v, at)?
                    .iter()
                    .enumerate()
                    .map(|(i, e)| ExamplesRestrictionsNamespace::parse(e, &at.index(i), cx))
                    .collect::<Result<Vec<_>, _>>()
            })?
            .unwrap_or_default();
        Ok(ExamplesOverride {
            neighbor_count: o.i32("neighborCount", cx)?,
            crowding_count: o.i32("crowdingCount", cx)?,
            restrictions,
            return_embeddings: o.bool("returnEmbeddings", cx)?.unwrap_or(false),
            data_format: o.enumeration("dataFormat", cx)?,
        })
    }

    /// Checks the ranges; paths are relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if let Some(n) = self.neighbor_count {
            checks::at_least(i64::from(n), 1, &at.key("neighborCount"))?;
        }
        if let Some(n) = self.crowding_count {
            checks::at_least(i64::from(n), 1, &at.key("crowdingCount"))?;
        }
        for (i, r) in self.restrictions.iter().enumerate() {
            checks::non_empty_name(
                &r.namespace_name,
                &at.key("restrictions").index(i).key("namespaceName"),
            )?;
        }
        Ok(())
    }
}

impl ExamplesRestrictionsNamespace {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["namespaceName", "allow", "deny"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExamplesRestrictionsNamespace {
            namespace_name: o.required("namespaceName", cx, reader::string)?,
            allow: o.strings("allow", cx)?,
            deny: o.strings("deny", cx)?,
        })
    }
}

impl ExplanationSpec {
    /// The spec one explain request runs with: this (the model's) spec with `ov` merged in.
    ///
    /// - `parameters`: the method cannot change. When the override names the method, its
    ///   settings replace the model's (the whole method object, as in Vertex); when it
    ///   leaves the method out, the model's settings stay. If the override sets `topK` or
    ///   `outputIndices`, the two together replace the model's output selection (so an
    ///   override's `topK` clears the model's `outputIndices` and vice versa); `seed`
    ///   replaces the model's when set.
    /// - `metadata.inputs.<name>.inputBaselines` replaces that input's baselines (an empty
    ///   list keeps them); every name must be an input of the model's metadata.
    /// - `examplesOverride` is not part of the spec (the caller reads it from the override);
    ///   it is only checked to belong to an example-based model.
    ///
    /// Errors are rooted at [`OVERRIDE_ROOT`] (`explanationSpecOverride.parameters: …`),
    /// since the model's spec was already valid.
    pub fn apply_override(
        &self,
        ov: &ExplanationSpecOverride,
    ) -> Result<ExplanationSpec, SpecError> {
        let root = JsonPath::from_str(OVERRIDE_ROOT);
        ov.validate_at(&root)?;
        let mut out = self.clone();
        if let Some(p) = &ov.parameters {
            if let Some(method) = &p.method {
                if !method.same_kind(&self.parameters.method) {
                    return Err(SpecError::invalid(
                        root.key("parameters").as_str(),
                        format!(
                            "the explanation method cannot be changed per request: the model uses {}, the override sets {}",
                            self.parameters.method.name(),
                            method.name()
                        ),
                    ));
                }
                out.parameters.method = method.clone();
            }
            if p.top_k.is_some() || p.output_indices.is_some() {
                out.parameters.top_k = p.top_k;
                out.parameters.output_indices = p.output_indices.clone();
            }
            if p.seed.is_some() {
                out.parameters.seed = p.seed;
            }
        }
        if let Some(m) = &ov.metadata {
            let at = root.key("metadata");
            if !m.inputs.is_empty() {
                let Some(metadata) = out.metadata.as_mut() else {
                    return Err(SpecError::invalid(
                        at.as_str(),
                        "the model's explanation spec has no metadata whose inputs could be overridden",
                    ));
                };
                let known = checks::name_list(metadata.inputs.keys());
                for (name, input_ov) in m.inputs.iter() {
                    let Some(input) = metadata.inputs.get_mut(name) else {
                        return Err(SpecError::invalid(
                            at.key("inputs").name(name).as_str(),
                            format!(
                                "no input named {} in the model's explanation metadata; inputs: {known}",
                                checks::quote(name)
                            ),
                        ));
                    };
                    if !input_ov.input_baselines.is_empty() {
                        input.input_baselines = input_ov.input_baselines.clone();
                    }
                }
            }
        }
        if ov.examples_override.is_some() && !matches!(out.parameters.method, Method::Examples(_)) {
            return Err(SpecError::invalid(
                root.key("examplesOverride").as_str(),
                format!(
                    "only example-based models take examplesOverride; this model uses {}",
                    out.parameters.method.name()
                ),
            ));
        }
        out.validate_at(&root)?;
        Ok(out)
    }
}
