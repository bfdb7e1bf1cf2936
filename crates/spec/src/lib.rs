//! Prism's explanation contract: every JSON type that Vertex Explainable AI users already
//! write and read, with parsing and validation.
//!
//! The JSON is the proto3 JSON of the `google.cloud.aiplatform.v1` explanation messages:
//!
//! - requests and model configuration: [`ExplanationSpec`] = [`ExplanationParameters`]
//!   (one [`Method`] plus output selection) + [`ExplanationMetadata`] (the explained
//!   inputs and output), and the per-request [`ExplanationSpecOverride`], merged with
//!   [`ExplanationSpec::apply_override`];
//! - example-based explanations: [`Examples`], its index configuration
//!   [`NearestNeighborSearchConfig`], and the request's [`ExamplesOverride`];
//! - responses: [`Explanation`], [`Attribution`], [`Neighbor`].
//!
//! # Reading
//!
//! Every document type has `from_json_str` and `from_value`, which parse **and validate**,
//! and a validating `Deserialize`. The reader follows proto3 JSON and the legacy
//! `explainable_ai_sdk` metadata file ([`legacy`]):
//!
//! - fields are accepted in lowerCamelCase and snake_case;
//! - enums are read by name in any case, or by proto number; `*_UNSPECIFIED` means unset;
//! - integers may be numbers or decimal strings; `null` means unset;
//! - unknown fields are errors naming the field (a typo such as `pathCont` is caught),
//!   except the documented legacy keys that are ignored;
//! - every error is a [`SpecError`] whose path names the field as written, e.g.
//!   `parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 0`.
//!
//! # Writing
//!
//! `Serialize` (and `to_json_value`) write camelCase Vertex JSON with unset fields left
//! out, so parse → write → parse gives the same value.
//!
//! # Example
//!
//! ```
//! use prism_spec::{ExplanationSpec, Method};
//!
//! let spec = ExplanationSpec::from_json_str(r#"{
//!     "parameters": {"sampled_shapley_attribution": {"path_count": "25"}, "topK": 2},
//!     "metadata": {
//!         "inputs": {"age": {"encoding": 1}, "income": {}},
//!         "outputs": {"score": {"outputTensorName": "probabilities"}}
//!     }
//! }"#)?;
//! let Method::SampledShapley(shapley) = &spec.parameters.method else { unreachable!() };
//! assert_eq!(shapley.path_count, 25);
//! assert_eq!(spec.to_json_value()["parameters"]["sampledShapleyAttribution"]["pathCount"], 25);
//!
//! let err = ExplanationSpec::from_json_str(
//!     r#"{"parameters": {"sampledShapleyAttribution": {"pathCount": 0}}}"#,
//! ).unwrap_err();
//! assert_eq!(
//!     err.with_prefix("explanationSpec").to_string(),
//!     "explanationSpec.parameters.sampledShapleyAttribution.pathCount: must be in 1..=50, got 0",
//! );
//! # Ok::<(), prism_spec::SpecError>(())
//! ```

#![deny(missing_docs)]

mod checks;
mod document;
mod enums;
mod error;
mod examples;
mod explanation;
pub mod legacy;
mod map;
mod metadata;
mod overrides;
mod parameters;
mod path;
mod reader;
mod serial;
mod spec;

pub use enums::{
    ColorMap, DistanceMeasureType, Encoding, ExampleGcsSourceDataFormat,
    ExamplesOverrideDataFormat, FeatureNormType, IntegrationRule, Modality, OverlayType, Polarity,
    PresetModality, Query, ShardSize, VisualizationType,
};
pub use error::SpecError;
pub use examples::{
    AlgorithmConfig, BruteForceConfig, ExampleGcsSource, Examples, GcsSource, IndexConfig,
    NearestNeighborSearchConfig, Presets, TreeAhConfig, DEFAULT_FRACTION_LEAF_NODES_TO_SEARCH,
    DEFAULT_LEAF_NODE_EMBEDDING_COUNT,
};
pub use explanation::{Attribution, Explanation, Neighbor};
pub use legacy::MetadataFormat;
pub use map::OrderedMap;
pub use metadata::{
    ExplanationMetadata, FeatureValueDomain, InputMetadata, OutputMetadata, Visualization,
    DEFAULT_CLIP_PERCENT_LOWERBOUND, DEFAULT_CLIP_PERCENT_UPPERBOUND,
};
pub use overrides::{
    ExamplesOverride, ExamplesRestrictionsNamespace, ExplanationMetadataOverride,
    ExplanationParametersOverride, ExplanationSpecOverride, InputMetadataOverride, OVERRIDE_ROOT,
};
pub use parameters::{
    BlurBaselineConfig, ExplanationParameters, FeatureNoiseSigma, IntegratedGradientsAttribution,
    Method, NoiseSigmaForFeature, SampledShapleyAttribution, SmoothGradConfig, XraiAttribution,
    DEFAULT_NOISE_SIGMA, DEFAULT_NOISY_SAMPLE_COUNT, DEFAULT_PATH_COUNT, DEFAULT_STEP_COUNT,
    NOISY_SAMPLE_COUNT_RANGE, PATH_COUNT_RANGE, STEP_COUNT_RANGE,
};
pub use spec::ExplanationSpec;
