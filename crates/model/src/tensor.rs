//! A small runtime-independent tensor: a shape plus row-major data.

use crate::error::{ModelError, Result};

/// Element types Prism exchanges with models.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ElementType {
    /// 32-bit float (also used for float16/float64 model tensors, converted at the edge).
    F32,
    /// 64-bit float.
    F64,
    /// 16-bit float.
    F16,
    /// 64-bit signed integer.
    I64,
    /// 32-bit signed integer.
    I32,
    /// 8-bit unsigned integer.
    U8,
    /// Boolean.
    Bool,
    /// UTF-8 string.
    String,
    /// Any other ONNX element type, by its ONNX `TensorProto.DataType` number.
    Other(i32),
}

impl ElementType {
    /// Maps an ONNX `TensorProto.DataType` number.
    pub fn from_onnx(code: i32) -> Self {
        match code {
            1 => Self::F32,
            2 => Self::U8,
            6 => Self::I32,
            7 => Self::I64,
            8 => Self::String,
            9 => Self::Bool,
            10 => Self::F16,
            11 => Self::F64,
            other => Self::Other(other),
        }
    }

    /// The lower-case ONNX-style name (`float32`, `int64`, …).
    pub fn name(&self) -> String {
        match self {
            Self::F32 => "float32".into(),
            Self::F64 => "float64".into(),
            Self::F16 => "float16".into(),
            Self::I64 => "int64".into(),
            Self::I32 => "int32".into(),
            Self::U8 => "uint8".into(),
            Self::Bool => "bool".into(),
            Self::String => "string".into(),
            Self::Other(code) => format!("onnx-type-{code}"),
        }
    }

    /// Whether values of this type are floating point (so attributions can move them).
    pub fn is_float(&self) -> bool {
        matches!(self, Self::F32 | Self::F64 | Self::F16)
    }
}

/// Tensor contents. Floating tensors are carried as `f32`, integer and boolean ones as `i64`.
#[derive(Debug, Clone, PartialEq)]
pub enum TensorData {
    /// Floating point values.
    F32(Vec<f32>),
    /// Integer (and boolean, as 0/1) values.
    I64(Vec<i64>),
    /// String values.
    Str(Vec<String>),
}

impl TensorData {
    /// Number of elements.
    pub fn len(&self) -> usize {
        match self {
            Self::F32(v) => v.len(),
            Self::I64(v) => v.len(),
            Self::Str(v) => v.len(),
        }
    }

    /// Whether there are no elements.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A dense row-major tensor.
#[derive(Debug, Clone, PartialEq)]
pub struct Tensor {
    /// Dimensions, outermost first.
    pub shape: Vec<usize>,
    /// Row-major elements; `data.len()` equals the product of `shape`.
    pub data: TensorData,
}

impl Tensor {
    /// A float tensor; fails when the data length does not match the shape.
    pub fn f32(shape: Vec<usize>, data: Vec<f32>) -> Result<Self> {
        Self::new(shape, TensorData::F32(data))
    }

    /// An integer tensor; fails when the data length does not match the shape.
    pub fn i64(shape: Vec<usize>, data: Vec<i64>) -> Result<Self> {
        Self::new(shape, TensorData::I64(data))
    }

    /// A tensor from parts; fails when the data length does not match the shape.
    pub fn new(shape: Vec<usize>, data: TensorData) -> Result<Self> {
        let expected: usize = shape.iter().product();
        if expected != data.len() {
            return Err(ModelError::BadInput {
                input: "<tensor>".into(),
                message: format!(
                    "shape {shape:?} needs {expected} values, got {}",
                    data.len()
                ),
            });
        }
        Ok(Self { shape, data })
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.data.len()
    }

    /// Whether the tensor has no elements.
    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// The values as `f32` (integers converted); `None` for strings.
    pub fn to_f32_vec(&self) -> Option<Vec<f32>> {
        match &self.data {
            TensorData::F32(v) => Some(v.clone()),
            TensorData::I64(v) => Some(v.iter().map(|&x| x as f32).collect()),
            TensorData::Str(_) => None,
        }
    }

    /// The float values, if this is a float tensor.
    pub fn as_f32(&self) -> Option<&[f32]> {
        match &self.data {
            TensorData::F32(v) => Some(v),
            _ => None,
        }
    }

    /// The element type this tensor carries.
    pub fn element_type(&self) -> ElementType {
        match self.data {
            TensorData::F32(_) => ElementType::F32,
            TensorData::I64(_) => ElementType::I64,
            TensorData::Str(_) => ElementType::String,
        }
    }
}
