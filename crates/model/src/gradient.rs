//! The ONNX gradient pass (work in progress).
