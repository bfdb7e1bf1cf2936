//! Nested JSON arrays of numbers, flattened in row-major order.

use serde_json::Value;

use crate::error::{describe, VizError};

/// A dense array read from JSON: its shape and its values in row-major order. A bare
/// number is a tensor of shape `[]` with one value.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Tensor {
    pub(crate) shape: Vec<usize>,
    pub(crate) values: Vec<f64>,
}

impl Tensor {
    /// Reads a number or a rectangular nested array of numbers. Non-finite values are
    /// refused (JSON cannot hold them, but the proto3 strings `"NaN"` are not numbers).
    pub(crate) fn from_json(value: &Value, what: &'static str) -> Result<Tensor, VizError> {
        let mut shape = Vec::new();
        let mut probe = value;
        while let Value::Array(items) = probe {
            shape.push(items.len());
            match items.first() {
                Some(first) => probe = first,
                None => break,
            }
        }
        let mut values = Vec::with_capacity(shape.iter().product());
        collect(value, &shape, what, &mut values)?;
        for (index, &v) in values.iter().enumerate() {
            if !v.is_finite() {
                return Err(VizError::NonFinite {
                    what,
                    index,
                    value: v,
                });
            }
        }
        Ok(Tensor { shape, values })
    }

    /// Drops leading axes of length 1 while more than `keep` axes remain (a batch of one).
    pub(crate) fn squeeze_leading(mut self, keep: usize) -> Tensor {
        while self.shape.len() > keep && self.shape.first() == Some(&1) {
            self.shape.remove(0);
        }
        self
    }
}

fn collect(
    value: &Value,
    shape: &[usize],
    what: &'static str,
    out: &mut Vec<f64>,
) -> Result<(), VizError> {
    match (value, shape.split_first()) {
        (Value::Array(items), Some((&len, rest))) => {
            if items.len() != len {
                return Err(VizError::Ragged { what });
            }
            items
                .iter()
                .try_for_each(|item| collect(item, rest, what, out))
        }
        (Value::Array(_), None) => Err(VizError::Ragged { what }),
        (Value::Number(n), None) => {
            out.push(n.as_f64().unwrap_or(f64::NAN));
            Ok(())
        }
        (Value::Number(_), Some(_)) => Err(VizError::Ragged { what }),
        (other, _) => Err(VizError::NotNumeric {
            what,
            found: describe(other),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn flattens_row_major() {
        let t = Tensor::from_json(&json!([[1, 2, 3], [4, 5, 6]]), "x").unwrap();
        assert_eq!(t.shape, vec![2, 3]);
        assert_eq!(t.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
        let s = Tensor::from_json(&json!(2.5), "x").unwrap();
        assert_eq!((s.shape, s.values), (vec![], vec![2.5]));
    }

    #[test]
    fn refuses_ragged_and_non_numbers() {
        assert!(matches!(
            Tensor::from_json(&json!([[1, 2], [3]]), "x"),
            Err(VizError::Ragged { .. })
        ));
        assert!(matches!(
            Tensor::from_json(&json!([[1, 2], 3]), "x"),
            Err(VizError::Ragged { .. })
        ));
        assert!(matches!(
            Tensor::from_json(&json!([1, "a"]), "x"),
            Err(VizError::NotNumeric { .. })
        ));
    }

    #[test]
    fn squeezes_a_batch_of_one() {
        let t = Tensor::from_json(&json!([[[1, 2], [3, 4]]]), "x").unwrap();
        assert_eq!(t.clone().squeeze_leading(2).shape, vec![2, 2]);
        assert_eq!(t.squeeze_leading(3).shape, vec![1, 2, 2]);
    }
}
