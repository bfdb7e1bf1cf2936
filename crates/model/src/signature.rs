//! What a model takes and gives: names, element types and shapes.

use crate::tensor::ElementType;

/// One dimension of a declared tensor shape.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Dim {
    /// A fixed size.
    Fixed(usize),
    /// A size chosen at run time, e.g. the batch. Dimensions the file leaves unnamed
    /// (skl2onnx writes `[None, F]`) are named `N` on the first axis and `unk_<i>` elsewhere.
    Symbolic(String),
}

impl std::fmt::Display for Dim {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dim::Fixed(n) => write!(f, "{n}"),
            Dim::Symbolic(s) => f.write_str(s),
        }
    }
}

/// A named model input or output.
#[derive(Debug, Clone, PartialEq)]
pub struct TensorInfo {
    /// The graph name of the tensor.
    pub name: String,
    /// Its element type.
    pub elem_type: ElementType,
    /// Its declared shape; `None` when the file declares no shape at all.
    pub shape: Option<Vec<Dim>>,
}

impl TensorInfo {
    /// The shape written like `[N, 30]`, or `[?]` when unknown.
    pub fn shape_string(&self) -> String {
        match &self.shape {
            None => "[?]".into(),
            Some(dims) => {
                let parts: Vec<String> = dims.iter().map(|d| d.to_string()).collect();
                format!("[{}]", parts.join(", "))
            }
        }
    }

    /// The per-example shape: the declared shape without its first (batch) axis, with
    /// symbolic sizes as `None`.
    pub fn example_dims(&self) -> Option<Vec<Option<usize>>> {
        let dims = self.shape.as_ref()?;
        Some(
            dims.iter()
                .skip(1)
                .map(|d| match d {
                    Dim::Fixed(n) => Some(*n),
                    Dim::Symbolic(_) => None,
                })
                .collect(),
        )
    }
}

/// Inputs and outputs of a model, in graph order.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Signature {
    /// Graph inputs that are not initializers.
    pub inputs: Vec<TensorInfo>,
    /// Graph outputs.
    pub outputs: Vec<TensorInfo>,
}

impl Signature {
    /// Position of the input with this name.
    pub fn input_index(&self, name: &str) -> Option<usize> {
        self.inputs.iter().position(|t| t.name == name)
    }

    /// Position of the output with this name.
    pub fn output_index(&self, name: &str) -> Option<usize> {
        self.outputs.iter().position(|t| t.name == name)
    }
}
