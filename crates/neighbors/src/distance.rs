//! Distance measures and feature norms, as Vertex AI Vector Search defines them.
//!
//! | [`DistanceMeasure`] | Vertex name | distance of query `q` and example `x` |
//! |---|---|---|
//! | `SquaredL2` | `SQUARED_L2_DISTANCE` | Σ (qᵢ − xᵢ)² |
//! | `L1` | `L1_DISTANCE` | Σ \|qᵢ − xᵢ\| |
//! | `DotProduct` (default) | `DOT_PRODUCT_DISTANCE` | −Σ qᵢ xᵢ |
//! | `Cosine` | `COSINE_DISTANCE` | 1 − q·x / (‖q‖ ‖x‖), and 1 when either norm is 0 |
//!
//! Smaller is nearer for all four. [`FeatureNorm::UnitL2`] (`UNIT_L2_NORM`) scales every
//! example at insertion and every query at search time to unit Euclidean length (a zero
//! vector stays zero).

use crate::simd;

/// How the distance between a query and an example is measured. Smaller is nearer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DistanceMeasure {
    /// Squared Euclidean distance.
    SquaredL2,
    /// Manhattan distance.
    L1,
    /// The negative inner product (Vertex's default).
    #[default]
    DotProduct,
    /// One minus the cosine similarity.
    Cosine,
}

impl DistanceMeasure {
    /// The name Vertex AI uses (`DOT_PRODUCT_DISTANCE`, …).
    pub fn vertex_name(self) -> &'static str {
        match self {
            DistanceMeasure::SquaredL2 => "SQUARED_L2_DISTANCE",
            DistanceMeasure::L1 => "L1_DISTANCE",
            DistanceMeasure::DotProduct => "DOT_PRODUCT_DISTANCE",
            DistanceMeasure::Cosine => "COSINE_DISTANCE",
        }
    }

    /// Parses a Vertex AI name (`SQUARED_L2_DISTANCE`, `L1_DISTANCE`, `DOT_PRODUCT_DISTANCE`,
    /// `COSINE_DISTANCE`).
    pub fn from_vertex_name(name: &str) -> Option<Self> {
        match name {
            "SQUARED_L2_DISTANCE" => Some(DistanceMeasure::SquaredL2),
            "L1_DISTANCE" => Some(DistanceMeasure::L1),
            "DOT_PRODUCT_DISTANCE" => Some(DistanceMeasure::DotProduct),
            "COSINE_DISTANCE" => Some(DistanceMeasure::Cosine),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            DistanceMeasure::SquaredL2 => 0,
            DistanceMeasure::L1 => 1,
            DistanceMeasure::DotProduct => 2,
            DistanceMeasure::Cosine => 3,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(DistanceMeasure::SquaredL2),
            1 => Some(DistanceMeasure::L1),
            2 => Some(DistanceMeasure::DotProduct),
            3 => Some(DistanceMeasure::Cosine),
            _ => None,
        }
    }

    /// The exact distance between `query` and `x`; `query_norm` is ‖query‖ (used by
    /// `Cosine` only).
    #[inline]
    pub(crate) fn exact(self, query: &[f32], query_norm: f32, x: &[f32]) -> f32 {
        match self {
            DistanceMeasure::SquaredL2 => simd::l2sq(query, x),
            DistanceMeasure::L1 => simd::l1(query, x),
            DistanceMeasure::DotProduct => -simd::dot(query, x),
            DistanceMeasure::Cosine => {
                let x_norm = simd::dot(x, x).sqrt();
                if query_norm == 0.0 || x_norm == 0.0 {
                    1.0
                } else {
                    1.0 - simd::dot(query, x) / (query_norm * x_norm)
                }
            }
        }
    }
}

/// Normalisation applied to every example at insertion and every query at search time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum FeatureNorm {
    /// Vectors are used as given (Vertex's default, `NONE`).
    #[default]
    None,
    /// Vectors are scaled to unit Euclidean length (`UNIT_L2_NORM`).
    UnitL2,
}

impl FeatureNorm {
    /// The name Vertex AI uses (`NONE`, `UNIT_L2_NORM`).
    pub fn vertex_name(self) -> &'static str {
        match self {
            FeatureNorm::None => "NONE",
            FeatureNorm::UnitL2 => "UNIT_L2_NORM",
        }
    }

    /// Parses a Vertex AI name (`NONE`, `UNIT_L2_NORM`).
    pub fn from_vertex_name(name: &str) -> Option<Self> {
        match name {
            "NONE" => Some(FeatureNorm::None),
            "UNIT_L2_NORM" => Some(FeatureNorm::UnitL2),
            _ => None,
        }
    }

    pub(crate) fn code(self) -> u8 {
        match self {
            FeatureNorm::None => 0,
            FeatureNorm::UnitL2 => 1,
        }
    }

    pub(crate) fn from_code(code: u8) -> Option<Self> {
        match code {
            0 => Some(FeatureNorm::None),
            1 => Some(FeatureNorm::UnitL2),
            _ => None,
        }
    }

    /// Applies the norm in place.
    pub(crate) fn apply(self, v: &mut [f32]) {
        if self == FeatureNorm::UnitL2 {
            normalize(v);
        }
    }
}

/// Scales `v` to unit length; a zero vector stays zero.
pub(crate) fn normalize(v: &mut [f32]) {
    let n = simd::dot(v, v).sqrt();
    if n > 0.0 {
        let inv = 1.0 / n;
        v.iter_mut().for_each(|x| *x *= inv);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_measures() {
        let q = [1.0, 2.0, 3.0];
        let x = [2.0, 0.0, -1.0];
        let qn = (14f32).sqrt();
        assert_eq!(
            DistanceMeasure::SquaredL2.exact(&q, qn, &x),
            1.0 + 4.0 + 16.0
        );
        assert_eq!(DistanceMeasure::L1.exact(&q, qn, &x), 1.0 + 2.0 + 4.0);
        assert_eq!(DistanceMeasure::DotProduct.exact(&q, qn, &x), -(2.0 - 3.0));
        let cos = -1.0 / (qn * 5f32.sqrt());
        assert!((DistanceMeasure::Cosine.exact(&q, qn, &x) - (1.0 - cos)).abs() < 1e-6);
        assert_eq!(DistanceMeasure::Cosine.exact(&q, qn, &[0.0; 3]), 1.0);
    }

    #[test]
    fn names_round_trip() {
        for m in [
            DistanceMeasure::SquaredL2,
            DistanceMeasure::L1,
            DistanceMeasure::DotProduct,
            DistanceMeasure::Cosine,
        ] {
            assert_eq!(DistanceMeasure::from_vertex_name(m.vertex_name()), Some(m));
            assert_eq!(DistanceMeasure::from_code(m.code()), Some(m));
        }
        for n in [FeatureNorm::None, FeatureNorm::UnitL2] {
            assert_eq!(FeatureNorm::from_vertex_name(n.vertex_name()), Some(n));
        }
    }

    #[test]
    fn unit_norm() {
        let mut v = [3.0, 4.0];
        FeatureNorm::UnitL2.apply(&mut v);
        assert_eq!(v, [0.6, 0.8]);
        let mut z = [0.0, 0.0];
        FeatureNorm::UnitL2.apply(&mut z);
        assert_eq!(z, [0.0, 0.0]);
    }
}
