//! The ONNX gradient pass against finite differences: one or more tiny graphs per op
//! (broadcasting, batch > 1, opset variants), the committed breast-cancer MLP, and the
//! errors for what the pass cannot differentiate.

#[path = "gradient/harness.rs"]
mod harness;

#[path = "gradient/ops_basic.rs"]
mod ops_basic;

#[path = "gradient/ops_shape.rs"]
mod ops_shape;

#[path = "gradient/ops_nn.rs"]
mod ops_nn;

#[path = "gradient/models.rs"]
mod models;
