//! `ExplanationParameters`: which method explains the model, and its settings.

use serde::Serialize;
use serde_json::Value;

use crate::checks;
use crate::enums::IntegrationRule;
use crate::examples::Examples;
use crate::path::{At, Cx, JsonPath};
use crate::reader::{self, Fields, Obj};
use crate::SpecError;

/// Default `sampledShapleyAttribution.pathCount` when the object is given without it
/// (the explainable_ai_sdk default).
pub const DEFAULT_PATH_COUNT: u32 = 10;
/// Default `stepCount` of Integrated Gradients and XRAI.
pub const DEFAULT_STEP_COUNT: u32 = 50;
/// Default `smoothGradConfig.noisySampleCount`.
pub const DEFAULT_NOISY_SAMPLE_COUNT: u32 = 3;
/// Default noise sigma of SmoothGrad (`noiseSigma`, and `sigma` of a per-feature entry).
pub const DEFAULT_NOISE_SIGMA: f32 = 0.1;
/// Valid `pathCount` values.
pub const PATH_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=50;
/// Valid `stepCount` values.
pub const STEP_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=100;
/// Valid `noisySampleCount` values.
pub const NOISY_SAMPLE_COUNT_RANGE: std::ops::RangeInclusive<u32> = 1..=50;

/// Parameters that configure explaining a model's predictions
/// (`google.cloud.aiplatform.v1.ExplanationParameters`).
///
/// JSON: exactly one of the method keys `sampledShapleyAttribution`,
/// `integratedGradientsAttribution`, `xraiAttribution`, `examples`, plus the optional
/// `topK`, `outputIndices` and `seed`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExplanationParameters {
    /// The explanation method and its settings.
    #[serde(flatten)]
    pub method: Method,
    /// Explain the `topK` highest outputs (sorted by `instanceOutputValue`, descending);
    /// `-1` explains every output. Unset together with `output_indices`: explain the argmax.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub top_k: Option<i32>,
    /// Explain exactly these outputs, in this order: a JSON array of indices for a rank-1
    /// output (`[0, 3]`), of index arrays for higher ranks (`[[0, 1], [2, 0]]`).
    /// An empty array reads as unset. Exclusive with `top_k`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_indices: Option<Value>,
    /// Prism extension: the seed of every random choice (Shapley permutations, SmoothGrad
    /// noise), so that one request always gives the same numbers. Unset: a fixed default
    /// seed chosen by the engine. Read from a number or a decimal string, written as a
    /// string (proto3 JSON's form for 64-bit integers). Vertex has no such field.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::u64_as_string"
    )]
    pub seed: Option<u64>,
}

/// The explanation method: the `oneof method` of `ExplanationParameters`.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub enum Method {
    /// Sampled Shapley: random feature permutations (`sampledShapleyAttribution`).
    #[serde(rename = "sampledShapleyAttribution")]
    SampledShapley(SampledShapleyAttribution),
    /// Integrated Gradients (`integratedGradientsAttribution`).
    #[serde(rename = "integratedGradientsAttribution")]
    IntegratedGradients(IntegratedGradientsAttribution),
    /// XRAI: Integrated Gradients redistributed over image regions (`xraiAttribution`).
    #[serde(rename = "xraiAttribution")]
    Xrai(XraiAttribution),
    /// Example-based explanations: nearest neighbours in the latent space (`examples`).
    #[serde(rename = "examples")]
    Examples(Examples),
}

/// The JSON keys of the methods, in proto order.
pub(crate) const METHOD_KEYS: [&str; 4] = [
    "sampledShapleyAttribution",
    "integratedGradientsAttribution",
    "xraiAttribution",
    "examples",
];

impl Method {
    /// The method's JSON key (`sampledShapleyAttribution`, …), for messages.
    pub fn name(&self) -> &'static str {
        match self {
            Method::SampledShapley(_) => METHOD_KEYS[0],
            Method::IntegratedGradients(_) => METHOD_KEYS[1],
            Method::Xrai(_) => METHOD_KEYS[2],
            Method::Examples(_) => METHOD_KEYS[3],
        }
    }

    /// True when both are the same method, whatever their settings.
    pub fn same_kind(&self, other: &Method) -> bool {
        self.name() == other.name()
    }

    /// True for the feature-attribution methods (every method but `examples`).
    pub fn is_attribution(&self) -> bool {
        !matches!(self, Method::Examples(_))
    }

    /// True for the methods that need gradients (Integrated Gradients and XRAI).
    pub fn needs_gradients(&self) -> bool {
        matches!(self, Method::IntegratedGradients(_) | Method::Xrai(_))
    }

    /// The SmoothGrad settings of Integrated Gradients or XRAI.
    pub fn smooth_grad_config(&self) -> Option<&SmoothGradConfig> {
        match self {
            Method::IntegratedGradients(m) => m.smooth_grad_config.as_ref(),
            Method::Xrai(m) => m.smooth_grad_config.as_ref(),
            _ => None,
        }
    }

    /// The blur baseline settings of Integrated Gradients or XRAI.
    pub fn blur_baseline_config(&self) -> Option<&BlurBaselineConfig> {
        match self {
            Method::IntegratedGradients(m) => m.blur_baseline_config.as_ref(),
            Method::Xrai(m) => m.blur_baseline_config.as_ref(),
            _ => None,
        }
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        let at = at.key(self.name());
        match self {
            Method::SampledShapley(m) => m.validate_at(&at),
            Method::IntegratedGradients(m) => validate_gradient_method(
                m.step_count,
                &m.smooth_grad_config,
                &m.blur_baseline_config,
                &at,
            ),
            Method::Xrai(m) => validate_gradient_method(
                m.step_count,
                &m.smooth_grad_config,
                &m.blur_baseline_config,
                &at,
            ),
            Method::Examples(m) => m.validate_at(&at),
        }
    }
}

/// Sampled Shapley settings (`SampledShapleyAttribution`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SampledShapleyAttribution {
    /// Number of feature permutations sampled, 1..=50. Default (key absent):
    /// [`DEFAULT_PATH_COUNT`].
    pub path_count: u32,
}

impl Default for SampledShapleyAttribution {
    fn default() -> Self {
        SampledShapleyAttribution {
            path_count: DEFAULT_PATH_COUNT,
        }
    }
}

impl SampledShapleyAttribution {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["pathCount"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(SampledShapleyAttribution {
            path_count: o
                .count(
                    "pathCount",
                    cx,
                    *PATH_COUNT_RANGE.start(),
                    *PATH_COUNT_RANGE.end(),
                )?
                .unwrap_or(DEFAULT_PATH_COUNT),
        })
    }

    fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        range(self.path_count, &PATH_COUNT_RANGE, &at.key("pathCount"))
    }
}

/// Integrated Gradients settings (`IntegratedGradientsAttribution`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IntegratedGradientsAttribution {
    /// Steps of the path integral, 1..=100. Default: [`DEFAULT_STEP_COUNT`].
    pub step_count: u32,
    /// SmoothGrad: average the gradients of noisy copies of each path point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth_grad_config: Option<SmoothGradConfig>,
    /// Blur IG: the path runs from a blurred copy of the image to the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blur_baseline_config: Option<BlurBaselineConfig>,
    /// Prism extension: the quadrature rule of the path integral (Gauss–Legendre unless set).
    #[serde(skip_serializing_if = "is_default_rule")]
    pub integration_rule: IntegrationRule,
}

impl Default for IntegratedGradientsAttribution {
    fn default() -> Self {
        IntegratedGradientsAttribution {
            step_count: DEFAULT_STEP_COUNT,
            smooth_grad_config: None,
            blur_baseline_config: None,
            integration_rule: IntegrationRule::GaussLegendre,
        }
    }
}

/// XRAI settings (`XraiAttribution`); images only. Same fields as Integrated Gradients,
/// which XRAI runs first.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct XraiAttribution {
    /// Steps of the path integral, 1..=100. Default: [`DEFAULT_STEP_COUNT`].
    pub step_count: u32,
    /// SmoothGrad: average the gradients of noisy copies of each path point.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub smooth_grad_config: Option<SmoothGradConfig>,
    /// Blur IG: the path runs from a blurred copy of the image to the image.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub blur_baseline_config: Option<BlurBaselineConfig>,
    /// Prism extension: the quadrature rule of the path integral (Gauss–Legendre unless set).
    #[serde(skip_serializing_if = "is_default_rule")]
    pub integration_rule: IntegrationRule,
}

impl Default for XraiAttribution {
    fn default() -> Self {
        XraiAttribution {
            step_count: DEFAULT_STEP_COUNT,
            smooth_grad_config: None,
            blur_baseline_config: None,
            integration_rule: IntegrationRule::GaussLegendre,
        }
    }
}

type GradientFields = (
    u32,
    Option<SmoothGradConfig>,
    Option<BlurBaselineConfig>,
    IntegrationRule,
);

fn is_default_rule(rule: &IntegrationRule) -> bool {
    *rule == IntegrationRule::GaussLegendre
}

fn parse_gradient_method(v: &Value, at: &At, cx: &mut Cx) -> Result<GradientFields, SpecError> {
    static FIELDS: Fields = Fields::plain(&[
        "stepCount",
        "smoothGradConfig",
        "blurBaselineConfig",
        "integrationRule",
    ]);
    let o = Obj::new(v, at, &FIELDS)?;
    let step_count = o
        .count(
            "stepCount",
            cx,
            *STEP_COUNT_RANGE.start(),
            *STEP_COUNT_RANGE.end(),
        )?
        .unwrap_or(DEFAULT_STEP_COUNT);
    let smooth = o.with("smoothGradConfig", cx, SmoothGradConfig::parse)?;
    let blur = o
        .with("blurBaselineConfig", cx, BlurBaselineConfig::parse)?
        .flatten();
    let rule = o.enumeration("integrationRule", cx)?.unwrap_or_default();
    Ok((step_count, smooth, blur, rule))
}

fn validate_gradient_method(
    step_count: u32,
    smooth: &Option<SmoothGradConfig>,
    blur: &Option<BlurBaselineConfig>,
    at: &JsonPath,
) -> Result<(), SpecError> {
    range(step_count, &STEP_COUNT_RANGE, &at.key("stepCount"))?;
    if let Some(s) = smooth {
        s.validate_at(&at.key("smoothGradConfig"))?;
    }
    if let Some(b) = blur {
        checks::positive(
            f64::from(b.max_blur_sigma),
            &at.key("blurBaselineConfig").key("maxBlurSigma"),
        )?;
    }
    Ok(())
}

/// SmoothGrad settings (`SmoothGradConfig`): Gaussian noise is added to the inputs and
/// the gradients of the noisy copies averaged.
///
/// `noise_sigma` and `feature_noise_sigma` exclude each other (a proto oneof). With
/// neither, every feature gets [`DEFAULT_NOISE_SIGMA`].
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SmoothGradConfig {
    /// One noise standard deviation for every feature (Vertex advises 10-20% of the
    /// features' standard deviation, for normalised features). `>= 0`.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::serial::opt_f32_decimal"
    )]
    pub noise_sigma: Option<f32>,
    /// A noise standard deviation per named feature; features not listed get no noise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub feature_noise_sigma: Option<FeatureNoiseSigma>,
    /// Noisy samples per path point, 1..=50. Default: [`DEFAULT_NOISY_SAMPLE_COUNT`].
    pub noisy_sample_count: u32,
}

impl Default for SmoothGradConfig {
    fn default() -> Self {
        SmoothGradConfig {
            noise_sigma: None,
            feature_noise_sigma: None,
            noisy_sample_count: DEFAULT_NOISY_SAMPLE_COUNT,
        }
    }
}

impl SmoothGradConfig {
    /// The noise standard deviation for `feature`: its own entry under
    /// `feature_noise_sigma` (`None` = no noise when that list is given and the feature is
    /// not in it), else `noise_sigma`, else [`DEFAULT_NOISE_SIGMA`].
    pub fn sigma_for(&self, feature: &str) -> Option<f32> {
        match &self.feature_noise_sigma {
            Some(per_feature) => per_feature
                .noise_sigma
                .iter()
                .find(|f| f.name == feature)
                .map(|f| f.sigma),
            None => Some(self.noise_sigma.unwrap_or(DEFAULT_NOISE_SIGMA)),
        }
    }

    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields =
            Fields::plain(&["noiseSigma", "featureNoiseSigma", "noisySampleCount"]);
        let o = Obj::new(v, at, &FIELDS)?;
        if o.has("noiseSigma") && o.has("featureNoiseSigma") {
            return Err(SpecError::invalid(
                at.written(),
                "noiseSigma and featureNoiseSigma exclude each other (a oneof); set only one",
            ));
        }
        Ok(SmoothGradConfig {
            noise_sigma: o.f32("noiseSigma", cx)?,
            feature_noise_sigma: o.with("featureNoiseSigma", cx, FeatureNoiseSigma::parse)?,
            noisy_sample_count: o
                .count(
                    "noisySampleCount",
                    cx,
                    *NOISY_SAMPLE_COUNT_RANGE.start(),
                    *NOISY_SAMPLE_COUNT_RANGE.end(),
                )?
                .unwrap_or(DEFAULT_NOISY_SAMPLE_COUNT),
        })
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        if self.noise_sigma.is_some() && self.feature_noise_sigma.is_some() {
            return Err(SpecError::invalid(
                at.as_str(),
                "noiseSigma and featureNoiseSigma exclude each other (a oneof); set only one",
            ));
        }
        if let Some(s) = self.noise_sigma {
            checks::non_negative(f64::from(s), &at.key("noiseSigma"))?;
        }
        if let Some(f) = &self.feature_noise_sigma {
            let list = at.key("featureNoiseSigma").key("noiseSigma");
            checks::unique_names(f.noise_sigma.iter().map(|e| e.name.as_str()), &list)
                .map_err(|e| append_name_field(e, &list))?;
            for (i, entry) in f.noise_sigma.iter().enumerate() {
                checks::non_negative(f64::from(entry.sigma), &list.index(i).key("sigma"))?;
            }
        }
        range(
            self.noisy_sample_count,
            &NOISY_SAMPLE_COUNT_RANGE,
            &at.key("noisySampleCount"),
        )
    }
}

/// `unique_names` reports `…noiseSigma[i]`; the name lives in `…noiseSigma[i].name`.
fn append_name_field(err: SpecError, list: &JsonPath) -> SpecError {
    if err.path().starts_with(list.as_str()) && err.path() != list.as_str() {
        let path = format!("{}.name", err.path());
        SpecError::invalid(path, err.message())
    } else {
        err
    }
}

/// Per-feature SmoothGrad noise (`FeatureNoiseSigma`).
#[derive(Debug, Clone, PartialEq, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureNoiseSigma {
    /// One entry per feature that gets noise.
    pub noise_sigma: Vec<NoiseSigmaForFeature>,
}

impl FeatureNoiseSigma {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["noiseSigma"]);
        let o = Obj::new(v, at, &FIELDS)?;
        let noise_sigma = o
            .with("noiseSigma", cx, |v, at, cx| {
                reader::array(v, at)?
                    .iter()
                    .enumerate()
                    .map(|(i, e)| NoiseSigmaForFeature::parse(e, &at.index(i), cx))
                    .collect::<Result<Vec<_>, _>>()
            })?
            .unwrap_or_default();
        Ok(FeatureNoiseSigma { noise_sigma })
    }
}

/// The noise of one feature (`FeatureNoiseSigma.NoiseSigmaForFeature`).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct NoiseSigmaForFeature {
    /// The feature: a key of `ExplanationMetadata.inputs` (or a group name).
    pub name: String,
    /// Noise standard deviation for this feature, `>= 0`. Default:
    /// [`DEFAULT_NOISE_SIGMA`].
    #[serde(serialize_with = "crate::serial::f32_decimal")]
    pub sigma: f32,
}

impl NoiseSigmaForFeature {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        static FIELDS: Fields = Fields::plain(&["name", "sigma"]);
        let o = Obj::new(v, at, &FIELDS)?;
        Ok(NoiseSigmaForFeature {
            name: o.required("name", cx, reader::string)?,
            sigma: o.f32("sigma", cx)?.unwrap_or(DEFAULT_NOISE_SIGMA),
        })
    }
}

/// Blur IG settings (`BlurBaselineConfig`).
///
/// The proto says an unset (zero) `maxBlurSigma` means the ordinary zero baseline, so
/// `{}` and `{"maxBlurSigma": 0}` read as no blur config at all.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BlurBaselineConfig {
    /// Standard deviation of the Gaussian blur at the start of the path (height and width
    /// alike), `> 0`.
    #[serde(serialize_with = "crate::serial::f32_decimal")]
    pub max_blur_sigma: f32,
}

impl BlurBaselineConfig {
    fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Option<Self>, SpecError> {
        static FIELDS: Fields = Fields::plain(&["maxBlurSigma"]);
        let o = Obj::new(v, at, &FIELDS)?;
        match o.with("maxBlurSigma", cx, |v, at, _| {
            reader::float(v, at).map(|x| (x, at.clone()))
        })? {
            None => Ok(None),
            Some((0.0, _)) => Ok(None),
            Some((x, at)) if !x.is_finite() || x < 0.0 => Err(SpecError::invalid(
                at.written(),
                format!("must be a finite number > 0, got {x}"),
            )),
            Some((x, _)) => Ok(Some(BlurBaselineConfig {
                max_blur_sigma: x as f32,
            })),
        }
    }
}

fn range(
    value: u32,
    range: &std::ops::RangeInclusive<u32>,
    at: &JsonPath,
) -> Result<(), SpecError> {
    checks::count_in(
        i64::from(value),
        i64::from(*range.start()),
        i64::from(*range.end()),
        at,
    )
}

/// Reads the `oneof method` keys of a parameters object: `Ok(None)` when none is set,
/// an error naming the object when more than one is.
pub(crate) fn read_method(o: &Obj<'_>, cx: &mut Cx) -> Result<Option<Method>, SpecError> {
    let present: Vec<&str> = METHOD_KEYS.iter().copied().filter(|k| o.has(k)).collect();
    if present.len() > 1 {
        return Err(SpecError::invalid(
            o.at().written(),
            format!(
                "exactly one explanation method may be set, got {}",
                present.join(" and ")
            ),
        ));
    }
    if let Some(m) = o.with(
        "sampledShapleyAttribution",
        cx,
        SampledShapleyAttribution::parse,
    )? {
        return Ok(Some(Method::SampledShapley(m)));
    }
    if let Some((step_count, smooth_grad_config, blur_baseline_config, integration_rule)) =
        o.with("integratedGradientsAttribution", cx, parse_gradient_method)?
    {
        return Ok(Some(Method::IntegratedGradients(
            IntegratedGradientsAttribution {
                step_count,
                smooth_grad_config,
                blur_baseline_config,
                integration_rule,
            },
        )));
    }
    if let Some((step_count, smooth_grad_config, blur_baseline_config, integration_rule)) =
        o.with("xraiAttribution", cx, parse_gradient_method)?
    {
        return Ok(Some(Method::Xrai(XraiAttribution {
            step_count,
            smooth_grad_config,
            blur_baseline_config,
            integration_rule,
        })));
    }
    if let Some(m) = o.with("examples", cx, Examples::parse)? {
        return Ok(Some(Method::Examples(m)));
    }
    Ok(None)
}

/// The fields of `ExplanationParameters` (shared with the override, which has the same
/// message).
pub(crate) static PARAMETER_FIELDS: Fields = Fields::plain(&[
    "sampledShapleyAttribution",
    "integratedGradientsAttribution",
    "xraiAttribution",
    "examples",
    "topK",
    "outputIndices",
    "seed",
]);

/// The output-selection fields of a parameters object.
pub(crate) struct Selection {
    pub(crate) top_k: Option<i32>,
    pub(crate) output_indices: Option<Value>,
    pub(crate) seed: Option<u64>,
}

pub(crate) fn read_selection(o: &Obj<'_>, cx: &mut Cx) -> Result<Selection, SpecError> {
    let top_k = o.i32("topK", cx)?;
    let output_indices = o
        .with("outputIndices", cx, |v, at, _| {
            reader::array(v, at)?;
            Ok(v.clone())
        })?
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()));
    let seed = o.u64("seed", cx)?;
    Ok(Selection {
        top_k,
        output_indices,
        seed,
    })
}

/// Validates `topK` / `outputIndices` of a parameters object at `at`.
pub(crate) fn validate_selection(
    top_k: Option<i32>,
    output_indices: Option<&Value>,
    at: &JsonPath,
) -> Result<(), SpecError> {
    if top_k.is_some() && output_indices.is_some() {
        return Err(SpecError::invalid(
            at.as_str(),
            "topK and outputIndices exclude each other; set only one",
        ));
    }
    if let Some(k) = top_k {
        if k != -1 && k < 1 {
            return Err(SpecError::invalid(
                at.key("topK").as_str(),
                format!("must be -1 (every output) or >= 1, got {k}"),
            ));
        }
    }
    if let Some(indices) = output_indices {
        let at = at.key("outputIndices");
        if !indices.is_array() {
            return Err(SpecError::invalid(
                at.as_str(),
                format!("expected an array, got {}", reader::describe(indices)),
            ));
        }
        checks::ndarray_shape(
            indices,
            &checks::is_index,
            "a non-negative integer index",
            &at,
        )?;
    }
    Ok(())
}

impl ExplanationParameters {
    /// Parameters with `method` and nothing else set.
    pub fn new(method: Method) -> Self {
        ExplanationParameters {
            method,
            top_k: None,
            output_indices: None,
            seed: None,
        }
    }

    pub(crate) fn parse(v: &Value, at: &At, cx: &mut Cx) -> Result<Self, SpecError> {
        let o = Obj::new(v, at, &PARAMETER_FIELDS)?;
        let Some(method) = read_method(&o, cx)? else {
            return Err(SpecError::missing(
                at.written(),
                format!(
                    "exactly one explanation method must be set: {}",
                    METHOD_KEYS.join(", ")
                ),
            ));
        };
        let s = read_selection(&o, cx)?;
        Ok(ExplanationParameters {
            method,
            top_k: s.top_k,
            output_indices: s.output_indices,
            seed: s.seed,
        })
    }

    /// Checks every rule of the contract; paths are relative to this object.
    pub fn validate(&self) -> Result<(), SpecError> {
        self.validate_at(&JsonPath::root())
    }

    pub(crate) fn validate_at(&self, at: &JsonPath) -> Result<(), SpecError> {
        self.method.validate_at(at)?;
        validate_selection(self.top_k, self.output_indices.as_ref(), at)
    }
}
