//! `ExplanationSpec`: parameters plus metadata, as stored on a model.

use serde::Serialize;
use serde_json::Value;

use crate::checks;
use crate::metadata::ExplanationMetadata;
use crate::parameters::ExplanationParameters;
use crate::path::{At, Cx, JsonPath};
use crate::reader::{Fields, Obj};
use crate::SpecError;

/// How a model is explained (`google.cloud.aiplatform.v1.ExplanationSpec`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationSpec {
    /// The method and its settings. Required.
    pub parameters: ExplanationParameters,
    /// The explained inputs and output. Optional in Vertex v1; a model directory's
    /// `explanation_metadata.json` usually provides it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ExplanationMetadata>,
}

impl ExplanationSpec {
    /// A spec from its two parts.
    pub fn new(parameters: ExplanationParameters, metadata: Option<ExplanationMetadata>) -> Self {
        ExplanationSpec {
            parameters,
            metadata,
        }
    }

    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["parameters", "metadata"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(ExplanationSpec {
            parameters: o.required("parameters", cx, ExplanationParameters::parse)?,
            metadata: o.with("metadata", cx, ExplanationMetadata::parse)?,
        })
    }

    /// Checks every rule of the contract, including those that tie the parameters to the
    /// metadata (SmoothGrad's per-feature noise must name known features); paths are
    /// relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        let params = at.key("parameters");
        self.parameters.validate_at(&params)?;
        let Some(metadata) = &self.metadata else {
            return Ok(());
        };
        metadata.validate_at(&at.key("metadata"))?;
        // With no inputs listed, features are the instance's keys: nothing to check against.
        if metadata.inputs.is_empty() {
            return Ok(());
        }
        let method = &self.parameters.method;
        if let Some(per_feature) = method
            .smooth_grad_config()
            .and_then(|s| s.feature_noise_sigma.as_ref())
        {
            let list = params
                .key(method.name())
                .key("smoothGradConfig")
                .key("featureNoiseSigma")
                .key("noiseSigma");
            for (i, entry) in per_feature.noise_sigma.iter().enumerate() {
                let known = metadata.inputs.contains_key(&entry.name)
                    || metadata
                        .inputs
                        .values()
                        .any(|input| input.group_name.as_deref() == Some(entry.name.as_str()));
                if !known {
                    return Err(SpecError::invalid(
                        list.index(i).key("name").as_str(),
                        format!(
                            "no input or group named {} in the metadata; inputs: {}",
                            checks::quote(&entry.name),
                            checks::name_list(metadata.inputs.keys())
                        ),
                    ));
                }
            }
        }
        Ok(())
    }
}
