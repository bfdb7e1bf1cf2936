//! The response types.

use prism_spec::{Attribution, Explanation, Neighbor, SpecError};
use serde_json::json;

use crate::{data, err, ok};

#[test]
fn the_documented_response() {
    let text = data("explanation_response.json");
    let e = ok(Explanation::from_json_str(&text));
    let a = &e.attributions[0];
    assert_eq!(a.baseline_output_value, 0.12);
    assert_eq!(a.instance_output_value, 0.87);
    assert_eq!(a.feature_attributions["petal"], json!([0.2, 0.24]));
    assert_eq!(a.output_index.as_deref(), Some(&[1][..]));
    assert_eq!(a.output_display_name.as_deref(), Some("versicolor"));
    assert_eq!(a.output_name, "probabilities");
    assert!(e.neighbors.is_empty());
    let written = e.to_json_value();
    let original: serde_json::Value = serde_json::from_str(&text).expect("json");
    assert_eq!(written, original);
}

#[test]
fn empty_lists_and_unset_fields_are_left_out() {
    let e = Explanation {
        attributions: vec![],
        neighbors: vec![Neighbor {
            neighbor_id: "ex-17".to_owned(),
            neighbor_distance: 0.03,
        }],
    };
    assert_eq!(
        e.to_json_value(),
        json!({"neighbors": [{"neighborId": "ex-17", "neighborDistance": 0.03}]})
    );
    let a = Attribution {
        feature_attributions: json!({"x": 1.0}),
        output_name: "y".to_owned(),
        ..Attribution::default()
    };
    assert_eq!(
        serde_json::to_value(&a).expect("serialises"),
        json!({"baselineOutputValue": 0.0, "instanceOutputValue": 0.0,
               "featureAttributions": {"x": 1.0}, "approximationError": 0.0, "outputName": "y"})
    );
    assert_eq!(Explanation::default().to_json_value(), json!({}));
    assert!(serde_json::to_value(Attribution::default())
        .expect("serialises")
        .get("featureAttributions")
        .is_none());
}

#[test]
fn snake_case_and_errors_with_paths() {
    let e = ok(Explanation::from_value(
        json!({"neighbors": [{"neighbor_id": "a", "neighbor_distance": "NaN"}]}),
    ));
    assert!(e.neighbors[0].neighbor_distance.is_nan());
    let e = err(Explanation::from_value(
        json!({"attributions": [{"outputName": "y"}, {"outputNam": "y"}]}),
    ));
    assert!(matches!(e, SpecError::UnknownField { .. }), "{e}");
    assert_eq!(e.path(), "attributions[1].outputNam");
    assert!(e.message().contains("outputNam"), "{e}");
    let e = err(Explanation::from_json_str(
        r#"{"attributions": [{"outputIndex": ["a"]}]}"#,
    ));
    assert!(e.path().starts_with("attributions[0].outputIndex"), "{e}");
}
