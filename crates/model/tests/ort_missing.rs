//! Without its library the ONNX Runtime backend is a typed error naming what to set, never
//! a panic; tree models need no library; and a load that failed is tried again later.
//!
//! One test, alone in its binary: it changes `ORT_DYLIB_PATH`, which it needs set (to the
//! real library) to begin with, like every ort test.
#![cfg(feature = "ort")]

use std::path::Path;

use prism_model::{Backend, Model, ModelError, OnnxModel, Tensor};

fn model_bytes(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../testdata/models")
            .join(name)
            .join("model.onnx"),
    )
    .unwrap()
}

#[test]
fn a_missing_library_is_a_typed_error_and_a_later_load_works() {
    let real = std::env::var_os("ORT_DYLIB_PATH")
        .filter(|p| !p.is_empty())
        .expect("ORT_DYLIB_PATH is not set: the ort tests need ONNX Runtime's library");
    let linear = model_bytes("peer_linear");

    std::env::set_var("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so.1.31.1");
    match OnnxModel::from_bytes_with(&linear, None, Backend::Ort) {
        Err(ModelError::BackendUnavailable { backend, reason }) => {
            assert_eq!(backend, Backend::Ort);
            assert!(
                reason.contains("/nonexistent/libonnxruntime.so.1.31.1"),
                "{reason}"
            );
            assert!(reason.contains("ORT_DYLIB_PATH"), "{reason}");
        }
        other => panic!("expected BackendUnavailable, got {other:?}"),
    }
    let err = Backend::Ort.ensure_available().unwrap_err();
    assert!(
        err.to_string()
            .starts_with("the ort backend is unavailable: "),
        "{err}"
    );

    // Tree ensembles run on Prism's own evaluator: no library needed.
    let trees = OnnxModel::from_bytes_with(&model_bytes("diabetes_rf"), None, Backend::Ort)
        .expect("tree models load without ONNX Runtime");
    assert_eq!(trees.backend(), None);

    // Found again once the variable names it.
    std::env::set_var("ORT_DYLIB_PATH", &real);
    let model = OnnxModel::from_bytes_with(&linear, None, Backend::Ort).unwrap();
    let y = model
        .forward(&[Tensor::f32(vec![1, 3], vec![1.0; 3]).unwrap()])
        .unwrap();
    assert_eq!(y[0].as_f32().unwrap(), &[14.0]);
}
