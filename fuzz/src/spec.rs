//! The `spec_parser` and `spec_text_roundtrip` targets: every `from_json_str` of
//! prism-spec on arbitrary text.

use std::fmt::Debug;
use std::sync::OnceLock;

use prism_spec::{
    legacy::MetadataFormat, Examples, ExamplesOverride, Explanation, ExplanationMetadata,
    ExplanationParameters, ExplanationSpec, ExplanationSpecOverride, NearestNeighborSearchConfig,
    SpecError,
};
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::{documents, text};

/// A document type of prism-spec: parsed and validated from JSON, written as JSON.
trait Doc: Sized + PartialEq + Debug + DeserializeOwned {
    const NAME: &'static str;
    fn from_json_str(text: &str) -> Result<Self, SpecError>;
    fn from_value(value: Value) -> Result<Self, SpecError>;
    fn to_json_value(&self) -> Value;
    fn to_json_string(&self) -> String;
    fn validate(&self) -> Result<(), SpecError>;
}

macro_rules! doc {
    ($($ty:ident),+) => {$(
        impl Doc for $ty {
            const NAME: &'static str = stringify!($ty);
            fn from_json_str(text: &str) -> Result<Self, SpecError> { $ty::from_json_str(text) }
            fn from_value(value: Value) -> Result<Self, SpecError> { $ty::from_value(value) }
            fn to_json_value(&self) -> Value { $ty::to_json_value(self) }
            fn to_json_string(&self) -> String { $ty::to_json_string(self) }
            fn validate(&self) -> Result<(), SpecError> { $ty::validate(self) }
        }
    )+};
}

doc!(
    ExplanationSpec,
    ExplanationParameters,
    ExplanationMetadata,
    ExplanationSpecOverride,
    Examples,
    ExamplesOverride,
    NearestNeighborSearchConfig
);

/// Parses `text` as a `T` and checks what a parsed document promises:
/// - `from_json_str` and the validating `Deserialize` agree;
/// - errors render (`Display`, `with_prefix`) without panicking;
/// - a parsed value validates, and `to_json_value` → `from_value` gives it back equal, and
///   writing that again gives the same JSON (the crate documents parse → write → parse);
/// - with `text_round_trip`, the same through JSON text (`to_json_string` →
///   `from_json_str`), which is what a user does with a written file.
fn check<T: Doc>(text: &str, text_round_trip: bool) -> Option<T> {
    let parsed = T::from_json_str(text);
    let via_serde = serde_json::from_str::<T>(text);
    assert_eq!(
        parsed.is_ok(),
        via_serde.is_ok(),
        "{}: from_json_str and Deserialize disagree: {:?} vs {:?}",
        T::NAME,
        parsed.as_ref().err(),
        via_serde.as_ref().err().map(ToString::to_string),
    );
    let doc = match parsed {
        Ok(doc) => doc,
        Err(e) => {
            let _ = e.to_string();
            let _ = e.with_prefix("outer.");
            return None;
        }
    };
    if let Err(e) = doc.validate() {
        panic!("{}: parsed but does not validate: {e}\n{doc:?}", T::NAME);
    }
    let written = doc.to_json_value();
    let back = T::from_value(written.clone()).unwrap_or_else(|e| {
        panic!(
            "{}: the written value does not parse back: {e}\nwritten: {written}",
            T::NAME
        )
    });
    assert_eq!(
        back,
        doc,
        "{}: value round trip changed the document; written: {written}",
        T::NAME
    );
    assert_eq!(
        back.to_json_value(),
        written,
        "{}: writing is not idempotent",
        T::NAME
    );
    if text_round_trip {
        let text = doc.to_json_string();
        let back = T::from_json_str(&text).unwrap_or_else(|e| {
            panic!(
                "{}: the written text does not parse back: {e}\nwritten: {text}",
                T::NAME
            )
        });
        assert_eq!(
            back,
            doc,
            "{}: text round trip changed the document; written: {text}",
            T::NAME
        );
    }
    Some(doc)
}

/// Real model specs, merged with every parsed override.
fn fixed_specs() -> &'static [ExplanationSpec] {
    static SPECS: OnceLock<Vec<ExplanationSpec>> = OnceLock::new();
    SPECS.get_or_init(|| {
        [
            include_str!("../seeds/spec_parser/vertex_tabular_spec.json"),
            include_str!("../seeds/spec_parser/vertex_image_spec.json"),
            include_str!("../seeds/spec_parser/examples_spec.json"),
            r#"{"parameters": {"integratedGradientsAttribution": {"smoothGradConfig":
                {"featureNoiseSigma": {"noiseSigma": [{"name": "a", "sigma": 0.2}]}}}},
                "metadata": {"inputs": {"a": {}, "b": {"groupName": "g"}}}}"#,
            r#"{"parameters": {"sampledShapleyAttribution": {}}}"#,
        ]
        .iter()
        .map(|t| ExplanationSpec::from_json_str(t).expect("fixed spec parses"))
        .collect()
    })
}

/// Overrides applied to every parsed spec.
fn fixed_overrides() -> &'static [ExplanationSpecOverride] {
    static OVERRIDES: OnceLock<Vec<ExplanationSpecOverride>> = OnceLock::new();
    OVERRIDES.get_or_init(|| {
        [
            include_str!("../seeds/spec_parser/explain_override.json"),
            r#"{"parameters": {"topK": -1, "seed": "18446744073709551615"}}"#,
            r#"{"parameters": {"outputIndices": [[0, 1]]}}"#,
            r#"{"parameters": {"sampledShapleyAttribution": {"pathCount": 1}}}"#,
            r#"{"metadata": {"inputs": {"image": {"inputBaselines": [1]}, "a": {"inputBaselines": [[2]]}}}}"#,
            r#"{"examplesOverride": {"neighborCount": 3, "restrictions": [{"namespaceName": "n", "allow": ["x"]}]}}"#,
            r#"{}"#,
        ]
        .iter()
        .map(|t| ExplanationSpecOverride::from_json_str(t).expect("fixed override parses"))
        .collect()
    })
}

/// Merges `ov` into `spec`; a merged spec must validate and round-trip like a parsed one.
fn merge(spec: &ExplanationSpec, ov: &ExplanationSpecOverride) {
    match spec.apply_override(ov) {
        Ok(merged) => {
            if let Err(e) = merged.validate() {
                panic!("apply_override returned a spec that does not validate: {e}\n{merged:?}");
            }
            let written = merged.to_json_value();
            match ExplanationSpec::from_value(written.clone()) {
                Ok(back) => assert_eq!(back, merged, "merged spec round trip; written: {written}"),
                Err(e) => panic!("merged spec does not parse back: {e}\nwritten: {written}"),
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

fn run(data: &[u8], text_round_trip: bool) {
    let Some(text) = text(data) else { return };
    let spec = check::<ExplanationSpec>(text, text_round_trip);
    check::<ExplanationParameters>(text, text_round_trip);
    check::<ExplanationMetadata>(text, text_round_trip);
    let ov = check::<ExplanationSpecOverride>(text, text_round_trip);
    check::<Examples>(text, text_round_trip);
    check::<ExamplesOverride>(text, text_round_trip);
    check::<NearestNeighborSearchConfig>(text, text_round_trip);
    // The response type derives serde; compare written JSON, since NaN != NaN.
    if let Ok(e) = Explanation::from_json_str(text) {
        let written = e.to_json_value();
        match Explanation::from_value(written.clone()) {
            Ok(back) => assert_eq!(back.to_json_value(), written, "Explanation round trip"),
            Err(err) => panic!("Explanation: written value does not parse back: {err}\n{written}"),
        }
    }
    if let Ok(v) = serde_json::from_str::<Value>(text) {
        let _ = MetadataFormat::detect(&v);
    }
    if let Some(ov) = &ov {
        for s in fixed_specs() {
            merge(s, ov);
        }
    }
    if let Some(spec) = &spec {
        for ov in fixed_overrides() {
            merge(spec, ov);
        }
    }
    // Two documents in a row: a spec, then an override for it.
    if let [first, second] = documents(text, 2).as_slice() {
        if let (Ok(spec), Ok(ov)) = (
            ExplanationSpec::from_value(first.clone()),
            ExplanationSpecOverride::from_value(second.clone()),
        ) {
            merge(&spec, &ov);
        }
    }
}

/// Arbitrary bytes → UTF-8 → every parser of prism-spec; see [`check`] and [`merge`].
pub fn spec_parser(data: &[u8]) {
    run(data, false);
}

/// Like [`spec_parser`], and a parsed document must also survive a round trip through
/// JSON *text*.
pub fn spec_text_roundtrip(data: &[u8]) {
    run(data, true);
}
