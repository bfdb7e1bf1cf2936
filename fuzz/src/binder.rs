//! The `instance_binder` and `binder_metadata` targets: prism-attribution's `Binder` on
//! fuzzed instances and fuzzed metadata.

use std::sync::OnceLock;

use prism_attribution::{Binder, BoundInstance, ExplainPlan};
use prism_model::{Dim, ElementType, Signature, TensorInfo};
use prism_spec::{ExplanationMetadata, ExplanationParameters, ExplanationSpec, Method};
use serde_json::{json, Value};

use crate::{documents, text};

/// One realistic setup: a metadata document (`None`: no metadata) and the signature of a
/// model it fits.
pub struct BinderCase {
    /// Short name, for messages.
    pub name: &'static str,
    /// The metadata JSON, or `None` to bind without metadata.
    pub metadata: Option<&'static str>,
    /// The model inputs: name, element type, per-example dims (`None`: symbolic);
    /// `None` dims: the model declares no shape at all.
    pub inputs: &'static [(&'static str, ElementType, Option<&'static [Option<usize>]>)],
}

const F32: ElementType = ElementType::F32;
const I64: ElementType = ElementType::I64;

/// The setups `instance_binder` picks from by its first byte (and `binder_metadata`
/// takes the signatures of).
pub const BINDER_CASES: &[BinderCase] = &[
    BinderCase {
        name: "named",
        metadata: Some(
            r#"{"inputs": {"x": {"inputTensorName": "x", "indexFeatureMapping": ["x0", "x1", "x2"],
                "inputBaselines": [[10, 20, 10]]}}, "outputs": {"y": {}}}"#,
        ),
        inputs: &[("x", F32, Some(&[Some(3)]))],
    },
    BinderCase {
        name: "multi_input_group",
        metadata: Some(
            r#"{"inputs": {
                "numeric": {"indexFeatureMapping": ["a", "b", "c"], "inputBaselines": [[0, 0, 0]]},
                "extra": {"indexFeatureMapping": ["d", "e"], "inputBaselines": [[0, 0]], "groupName": "extra_group"}},
              "outputs": {"y": {"indexDisplayNameMapping": ["low", "mid", "high"]}}}"#,
        ),
        inputs: &[
            ("numeric", F32, Some(&[Some(3)])),
            ("extra", F32, Some(&[Some(2)])),
        ],
    },
    BinderCase {
        name: "list_feature",
        metadata: Some(
            r#"{"inputs": {"vec": {"inputTensorName": "vec:0", "inputBaselines": [[0, 0, 0, 0]]}}}"#,
        ),
        inputs: &[("vec", F32, Some(&[Some(4)]))],
    },
    BinderCase {
        name: "packed_scalars",
        metadata: Some(
            r#"{"inputs": {"age": {"inputTensorName": "input"},
                "bmi": {"inputTensorName": "input", "inputBaselines": [25.6]},
                "bp": {"inputTensorName": "input", "inputBaselines": [[93]]}}}"#,
        ),
        inputs: &[("input", F32, Some(&[Some(3)]))],
    },
    BinderCase {
        name: "baselines_symbolic",
        metadata: Some(
            r#"{"inputs": {"x": {"indexFeatureMapping": ["x0", "x1", "x2"],
                "inputBaselines": [[1, 2, 3], 0.5, [[1], [2], [3]]]}}}"#,
        ),
        inputs: &[("x", F32, Some(&[None]))],
    },
    BinderCase {
        name: "image_symbolic",
        metadata: Some(
            r#"{"inputs": {"image": {"inputTensorName": "pixels", "modality": "image",
                "inputBaselines": [0, 255]}}}"#,
        ),
        inputs: &[("pixels", F32, Some(&[None, None, Some(3)]))],
    },
    BinderCase {
        name: "matrix_fixed",
        metadata: Some(r#"{"inputs": {"m": {"inputBaselines": [[[1, 2, 3], [4, 5, 6]], 7]}}}"#),
        inputs: &[("m", F32, Some(&[Some(2), Some(3)]))],
    },
    BinderCase {
        name: "no_metadata",
        metadata: None,
        inputs: &[("a", F32, Some(&[Some(2)])), ("b", F32, Some(&[]))],
    },
    BinderCase {
        name: "outputs_only",
        metadata: Some(r#"{"outputs": {"y": {"outputTensorName": "y:0"}}}"#),
        inputs: &[("x", F32, Some(&[Some(3)])), ("z", F32, Some(&[None]))],
    },
    BinderCase {
        name: "int_packed",
        metadata: Some(
            r#"{"inputs": {"user": {"inputTensorName": "ids", "modality": "categorical"},
                "item": {"inputTensorName": "ids", "modality": "categorical", "inputBaselines": [7]}}}"#,
        ),
        inputs: &[("ids", I64, Some(&[Some(2)]))],
    },
    BinderCase {
        name: "group_across_tensors",
        metadata: Some(
            r#"{"inputs": {
                "p": {"inputTensorName": "t", "groupName": "pq"},
                "q": {"inputTensorName": "t", "groupName": "pq"},
                "r": {"inputTensorName": "t"},
                "u": {"indexFeatureMapping": ["u0", "u1"], "groupName": "pq"}}}"#,
        ),
        inputs: &[("t", F32, Some(&[Some(3)])), ("u", F32, Some(&[Some(2)]))],
    },
    BinderCase {
        name: "no_declared_shape",
        metadata: Some(r#"{"inputs": {"x": {"inputBaselines": [[0, 0]]}}}"#),
        inputs: &[("x", F32, None)],
    },
    BinderCase {
        name: "several_baselines_mixed",
        metadata: Some(
            r#"{"inputs": {
                "s": {"indexFeatureMapping": ["s0", "s1"], "inputBaselines": [[0, 1], [2, 3]]},
                "v": {"inputBaselines": [[0, 0, 0]]}}}"#,
        ),
        inputs: &[("s", F32, Some(&[None])), ("v", F32, Some(&[None]))],
    },
];

fn signature(case: &BinderCase) -> Signature {
    let info = |name: &str, elem_type, dims: Option<&[Option<usize>]>| TensorInfo {
        name: name.to_owned(),
        elem_type,
        shape: dims.map(|d| {
            std::iter::once(Dim::Symbolic("N".into()))
                .chain(d.iter().enumerate().map(|(i, d)| match d {
                    Some(n) => Dim::Fixed(*n),
                    None => Dim::Symbolic(format!("d{i}")),
                }))
                .collect()
        }),
    };
    Signature {
        inputs: case
            .inputs
            .iter()
            .map(|(name, elem, dims)| info(name, *elem, *dims))
            .collect(),
        outputs: vec![info("y", F32, Some(&[Some(3)]))],
    }
}

struct Prepared {
    signature: Signature,
    binder: Binder,
}

fn prepared() -> &'static [Prepared] {
    static CASES: OnceLock<Vec<Prepared>> = OnceLock::new();
    CASES.get_or_init(|| {
        BINDER_CASES
            .iter()
            .map(|case| {
                let signature = signature(case);
                let metadata = case.metadata.map(|m| {
                    ExplanationMetadata::from_json_str(m)
                        .unwrap_or_else(|e| panic!("case {}: metadata: {e}", case.name))
                });
                let binder = Binder::new(metadata.as_ref(), &signature)
                    .unwrap_or_else(|e| panic!("case {}: Binder::new: {e}", case.name));
                Prepared { signature, binder }
            })
            .collect()
    })
}

/// Product of a shape, `None` on overflow (the harness must not panic itself).
fn size(shape: &[usize]) -> Option<usize> {
    shape.iter().try_fold(1usize, |acc, &d| acc.checked_mul(d))
}

fn check_shapes(what: &str, bound: &BoundInstance, tensors: usize) {
    assert_eq!(
        bound.values.len(),
        tensors,
        "{what}: one value list per model input"
    );
    assert_eq!(
        bound.shapes.len(),
        tensors,
        "{what}: one shape per model input"
    );
    for (t, (values, shape)) in bound.values.iter().zip(&bound.shapes).enumerate() {
        assert_eq!(
            size(shape),
            Some(values.len()),
            "{what}: input {t} has shape {shape:?} but {} values",
            values.len()
        );
        if let Some(bad) = values.iter().find(|v| !v.is_finite()) {
            panic!("{what}: input {t} holds the non-finite value {bad}");
        }
    }
}

/// Every leaf of an `unbind` result must be the number `want`.
fn check_leaves(v: &Value, path: &str, want: f64) {
    match v {
        Value::Number(n) => assert_eq!(n.as_f64(), Some(want), "unbind: {path} is {n}"),
        Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                check_leaves(item, &format!("{path}[{i}]"), want);
            }
        }
        Value::Object(map) => {
            for (k, item) in map {
                check_leaves(item, &format!("{path}.{k}"), want);
            }
        }
        other => panic!("unbind: {path} is {other}, expected a number"),
    }
}

/// The sum of the numbers in `v`.
fn leaf_sum(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap_or(f64::NAN),
        Value::Array(items) => items.iter().map(leaf_sum).sum(),
        Value::Object(map) => map.values().map(leaf_sum).sum(),
        _ => f64::NAN,
    }
}

/// Binds `instance` and, when that works, runs everything a request runs on the result,
/// checking sizes, the players' tiling of the inputs, and `unbind`'s shape.
pub(crate) fn exercise(binder: &Binder, instance: &Value) {
    let tensors = binder.tensor_names().len();
    let _ = binder.feature_names();
    let bound = match binder.bind(instance) {
        Ok(b) => b,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    check_shapes("bind", &bound, tensors);
    let rows = |b: &BoundInstance| vec![b.values.clone()];
    if let Err(e) = binder.tensors_for(&bound.shapes, &rows(&bound)) {
        panic!("tensors_for rejects a bound instance: {e}\n{bound:?}");
    }

    let players = binder.players(&bound);
    let mut owner: Vec<Vec<Option<usize>>> =
        bound.values.iter().map(|v| vec![None; v.len()]).collect();
    for (p, player) in players.iter().enumerate() {
        assert!(!player.positions.is_empty(), "player {p} has no positions");
        for &(t, i) in &player.positions {
            let slot = owner
                .get_mut(t)
                .and_then(|o| o.get_mut(i))
                .unwrap_or_else(|| panic!("player {p} has position ({t}, {i}) outside the inputs"));
            if let Some(q) = slot {
                panic!("position ({t}, {i}) belongs to players {q} and {p}");
            }
            *slot = Some(p);
        }
    }
    for (t, o) in owner.iter().enumerate() {
        if let Some(i) = o.iter().position(Option::is_none) {
            panic!("position ({t}, {i}) belongs to no player; players: {players:?}");
        }
    }

    let attributions = binder.unbind(&bound, &vec![0.0; players.len()]);
    assert!(attributions.is_object(), "unbind must give an object");
    check_leaves(&attributions, "featureAttributions", 0.0);

    // Every player is reported exactly once (a group once, under its name), so with
    // distinct per-player values the reported numbers sum to the players' total; a key
    // written twice loses one player's attribution.
    let distinct: Vec<f64> = (1..=players.len()).map(|p| p as f64).collect();
    let reported = binder.unbind(&bound, &distinct);
    let total: f64 = distinct.iter().sum();
    let sum = leaf_sum(&reported);
    assert!(
        sum == total,
        "unbind reports {sum} in all, the {} players hold {total}: some attribution is \
         lost or reported twice\nfeatureAttributions: {reported}",
        players.len()
    );

    match binder.baselines(&bound) {
        Ok(baselines) => {
            assert_eq!(
                baselines.len(),
                binder.baseline_count(),
                "baselines: one per baseline_count"
            );
            for b in &baselines {
                check_shapes("baseline", b, tensors);
                assert_eq!(b.shapes, bound.shapes, "baseline shaped like the instance");
                if let Err(e) = binder.tensors_for(&b.shapes, &rows(b)) {
                    panic!("tensors_for rejects a baseline: {e}");
                }
            }
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
}

/// First byte: one of [`BINDER_CASES`]; the rest: a JSON instance for its binder.
pub fn instance_binder(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let cases = prepared();
    let case = &cases[pick as usize % cases.len()];
    let Some(text) = text(rest) else { return };
    let Ok(instance) = serde_json::from_str::<Value>(text) else {
        return;
    };
    exercise(&case.binder, &instance);
}

/// Instances made from a binder's own feature names: every name → 1.0, and every
/// name → a list, so fuzzed metadata is exercised even without a fuzzed instance.
fn synthetic_instances(binder: &Binder) -> Vec<Value> {
    let names = binder.feature_names();
    let scalars: serde_json::Map<String, Value> =
        names.iter().map(|n| (n.clone(), json!(1.0))).collect();
    let lists: serde_json::Map<String, Value> = names
        .iter()
        .map(|n| (n.clone(), json!([1.0, 2.0])))
        .collect();
    vec![
        Value::Object(scalars),
        Value::Object(lists),
        json!([1.0, 2.0, 3.0]),
    ]
}

/// First byte: the signature of one of [`BINDER_CASES`]; the rest: a metadata JSON
/// document, optionally followed by an instance document. `Binder::new` (and
/// `ExplainPlan::new`) must not panic; a binder that builds is exercised like in
/// [`instance_binder`].
pub fn binder_metadata(data: &[u8]) {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let cases = prepared();
    let signature = &cases[pick as usize % cases.len()].signature;
    let Some(text) = text(rest) else { return };
    let docs = documents(text, 2);
    let Some(first) = docs.first() else { return };
    let Ok(metadata) = ExplanationMetadata::from_value(first.clone()) else {
        return;
    };
    let spec = ExplanationSpec::new(
        ExplanationParameters::new(Method::SampledShapley(Default::default())),
        Some(metadata.clone()),
    );
    if let Err(e) = ExplainPlan::new(&spec, signature) {
        let _ = e.to_string();
    }
    let binder = match Binder::new(Some(&metadata), signature) {
        Ok(b) => b,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    for instance in synthetic_instances(&binder) {
        exercise(&binder, &instance);
    }
    if let Some(instance) = docs.get(1) {
        exercise(&binder, instance);
    }
}
