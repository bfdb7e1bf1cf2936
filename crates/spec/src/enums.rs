//! Every enum of the contract, with its proto numbers.
//!
//! Enums are written as their names. They are read case-insensitively by name (so the
//! legacy SDK's `"identity"`, `"bag_of_features"`, `"pink_green"` work) or by proto number
//! (Google's REST clients send integers). An `*_UNSPECIFIED` name or number reads as "not
//! set", so the field's documented default applies. Numbers are those of
//! `google/cloud/aiplatform/v1/explanation_metadata.proto` and `explanation.proto`. The
//! nearest-neighbour search enums live in a free-form `google.protobuf.Value` in Vertex and
//! have no numbers: they are read by name only.

use std::fmt;

use serde::{Serialize, Serializer};

use crate::reader::ProtoEnum;

macro_rules! proto_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident ($type_name:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $text:literal $(=> $num:literal)? ),+ $(,)?
        }
        $(unspecified = [$($un:literal),*] $(=> $unnum:literal)?;)?
        $(aliases = [$($alias:literal => $avariant:ident),*];)?
        $(default = $default:ident;)?
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every value, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The canonical name, as written in JSON.
            pub fn name(self) -> &'static str {
                match self {
                    $($name::$variant => $text,)+
                }
            }

            /// The proto enum number (`None` for values that exist only as JSON strings).
            pub fn number(self) -> Option<i32> {
                match self {
                    $($name::$variant => proto_enum!(@num $($num)?),)+
                }
            }

            /// Looks a value up by name, ignoring case; legacy SDK spellings included.
            /// `None` for unknown names and for `*_UNSPECIFIED`.
            pub fn from_name(name: &str) -> Option<Self> {
                <Self as ProtoEnum>::lookup(name).flatten()
            }
        }

        impl ProtoEnum for $name {
            const TYPE_NAME: &'static str = $type_name;

            fn all() -> &'static [Self] {
                Self::ALL
            }

            fn name(self) -> &'static str {
                $name::name(self)
            }

            fn number(self) -> Option<i32> {
                $name::number(self)
            }

            $(
                fn unspecified() -> (&'static [&'static str], Option<i32>) {
                    (&[$($un),*], proto_enum!(@num $($unnum)?))
                }
            )?

            $(
                fn aliases() -> &'static [(&'static str, Self)] {
                    &[$(($alias, $name::$avariant)),*]
                }
            )?
        }

        $(
            impl Default for $name {
                fn default() -> Self {
                    $name::$default
                }
            }
        )?

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.name())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.name())
            }
        }
    };
    (@num) => { None };
    (@num $n:literal) => { Some($n) };
}

proto_enum! {
    /// How a feature is encoded into its input tensor (`InputMetadata.encoding`).
    /// Default: [`Encoding::Identity`].
    pub enum Encoding ("InputMetadata.Encoding") {
        /// The tensor is one feature.
        Identity = "IDENTITY" => 1,
        /// Each position of a list input is a feature named by `indexFeatureMapping`.
        BagOfFeatures = "BAG_OF_FEATURES" => 2,
        /// Like bag of features; zero means the feature is absent.
        BagOfFeaturesSparse = "BAG_OF_FEATURES_SPARSE" => 3,
        /// A list of 0/1 flags, one per feature named by `indexFeatureMapping`.
        Indicator = "INDICATOR" => 4,
        /// Encoded into one 1-D embedding tensor (`encodedTensorName`).
        CombinedEmbedding = "COMBINED_EMBEDDING" => 5,
        /// Encoded into a 2-D embedding tensor, one row per element (`encodedTensorName`).
        ConcatEmbedding = "CONCAT_EMBEDDING" => 6,
    }
    unspecified = ["ENCODING_UNSPECIFIED"] => 0;
    default = Identity;
}

impl Encoding {
    /// True for the encodings whose positions are named by `indexFeatureMapping`
    /// (which they therefore require).
    pub fn needs_index_feature_mapping(self) -> bool {
        matches!(
            self,
            Encoding::BagOfFeatures | Encoding::BagOfFeaturesSparse | Encoding::Indicator
        )
    }
}

proto_enum! {
    /// The kind of data a feature holds (`InputMetadata.modality`, a string field in the
    /// proto, written lowercase). Default: [`Modality::Numeric`].
    pub enum Modality ("InputMetadata.modality") {
        /// Numbers, scalar or array.
        Numeric = "numeric",
        /// An image (height × width × channels).
        Image = "image",
        /// Text (tokens).
        Text = "text",
        /// Category values.
        Categorical = "categorical",
    }
    default = Numeric;
}

proto_enum! {
    /// How image attributions are drawn (`Visualization.type`). Default: OUTLINES.
    pub enum VisualizationType ("Visualization.Type") {
        /// Per-pixel attributions.
        Pixels = "PIXELS" => 1,
        /// Outlines around the regions of highest attribution.
        Outlines = "OUTLINES" => 2,
    }
    unspecified = ["TYPE_UNSPECIFIED"] => 0;
}

proto_enum! {
    /// Which sign of attribution is highlighted (`Visualization.polarity`). Default: POSITIVE.
    pub enum Polarity ("Visualization.Polarity") {
        /// Pixels that raised the prediction.
        Positive = "POSITIVE" => 1,
        /// Pixels that lowered the prediction.
        Negative = "NEGATIVE" => 2,
        /// Both.
        Both = "BOTH" => 3,
    }
    unspecified = ["POLARITY_UNSPECIFIED"] => 0;
}

proto_enum! {
    /// The colour scheme of the highlighted areas (`Visualization.colorMap`).
    /// Default: PINK_GREEN for Integrated Gradients, VIRIDIS for XRAI.
    pub enum ColorMap ("Visualization.ColorMap") {
        /// Positive green, negative pink.
        PinkGreen = "PINK_GREEN" => 1,
        /// Viridis: positive yellow, negative blue.
        Viridis = "VIRIDIS" => 2,
        /// Red for both signs.
        Red = "RED" => 3,
        /// Green for both signs.
        Green = "GREEN" => 4,
        /// PiYG palette.
        PinkWhiteGreen = "PINK_WHITE_GREEN" => 5,
        /// Positive green, negative red.
        RedGreen = "RED_GREEN" => 6,
    }
    unspecified = ["COLOR_MAP_UNSPECIFIED"] => 0;
}

proto_enum! {
    /// How the original image is shown under the attributions (`Visualization.overlayType`).
    /// Default: NONE. The legacy SDK's `"mask"` reads as MASK_BLACK.
    pub enum OverlayType ("Visualization.OverlayType") {
        /// Attributions only.
        None = "NONE" => 1,
        /// On top of the original image.
        Original = "ORIGINAL" => 2,
        /// On top of a grayscale copy of the image.
        Grayscale = "GRAYSCALE" => 3,
        /// Attributions mask the image, revealing the predictive parts.
        MaskBlack = "MASK_BLACK" => 4,
    }
    unspecified = ["OVERLAY_TYPE_UNSPECIFIED"] => 0;
    aliases = ["mask" => MaskBlack];
}

proto_enum! {
    /// Prism extension: the quadrature of the Integrated Gradients path integral
    /// (`integrationRule`). Default: GAUSS_LEGENDRE (what Vertex uses). With `stepCount` n,
    /// the Riemann rules evaluate the path at α = k/n for k in 0..n (LEFT), 1..=n (RIGHT,
    /// the IG paper's), (k + ½)/n (MIDDLE), or 0..=n with halved end weights (TRAPEZOID,
    /// n + 1 points).
    pub enum IntegrationRule ("IntegratedGradientsAttribution.integrationRule") {
        /// n-point Gauss–Legendre nodes and weights on [0, 1].
        GaussLegendre = "GAUSS_LEGENDRE",
        /// Left Riemann sum.
        RiemannLeft = "RIEMANN_LEFT",
        /// Right Riemann sum.
        RiemannRight = "RIEMANN_RIGHT",
        /// Midpoint Riemann sum.
        RiemannMiddle = "RIEMANN_MIDDLE",
        /// Trapezoidal rule.
        RiemannTrapezoid = "RIEMANN_TRAPEZOID",
    }
    aliases = ["RIEMANN" => RiemannRight];
    default = GaussLegendre;
}

proto_enum! {
    /// Speed / precision trade-off of example-based presets (`Presets.query`).
    /// Default: PRECISE.
    pub enum Query ("Presets.Query") {
        /// More precise neighbours, slower.
        Precise = "PRECISE" => 0,
        /// Faster, less precise neighbours.
        Fast = "FAST" => 1,
    }
    default = Precise;
}

proto_enum! {
    /// The model's modality for example-based presets (`Presets.modality`); it chooses the
    /// distance measure and the feature normalisation.
    pub enum PresetModality ("Presets.Modality") {
        /// Images.
        Image = "IMAGE" => 1,
        /// Text.
        Text = "TEXT" => 2,
        /// Tabular data.
        Tabular = "TABULAR" => 3,
    }
    unspecified = ["MODALITY_UNSPECIFIED"] => 0;
}

proto_enum! {
    /// Format of the example instances in `exampleGcsSource` (`ExampleGcsSource.dataFormat`).
    /// Default: JSONL (the only one).
    pub enum ExampleGcsSourceDataFormat ("ExampleGcsSource.DataFormat") {
        /// One JSON instance per line.
        Jsonl = "JSONL" => 1,
    }
    unspecified = ["DATA_FORMAT_UNSPECIFIED"] => 0;
    default = Jsonl;
}

proto_enum! {
    /// What the instances of an example-based explain request are
    /// (`ExamplesOverride.dataFormat`). Unset: instances.
    pub enum ExamplesOverrideDataFormat ("ExamplesOverride.DataFormat") {
        /// Model inputs, embedded by the model.
        Instances = "INSTANCES" => 1,
        /// Embeddings, used as they are.
        Embeddings = "EMBEDDINGS" => 2,
    }
    unspecified = ["DATA_FORMAT_UNSPECIFIED"] => 0;
}

proto_enum! {
    /// Distance of the nearest-neighbour index (`config.distanceMeasureType`).
    /// Default: DOT_PRODUCT_DISTANCE.
    pub enum DistanceMeasureType ("NearestNeighborSearchConfig.distanceMeasureType") {
        /// Squared Euclidean distance.
        SquaredL2 = "SQUARED_L2_DISTANCE",
        /// Manhattan distance.
        L1 = "L1_DISTANCE",
        /// The negative dot product.
        DotProduct = "DOT_PRODUCT_DISTANCE",
        /// One minus the cosine similarity.
        Cosine = "COSINE_DISTANCE",
    }
    default = DotProduct;
}

proto_enum! {
    /// Normalisation applied to every vector of the index (`config.featureNormType`).
    /// Default: NONE.
    pub enum FeatureNormType ("NearestNeighborSearchConfig.featureNormType") {
        /// Scale every vector to unit L2 norm.
        UnitL2Norm = "UNIT_L2_NORM",
        /// Leave vectors as they are.
        None = "NONE",
    }
    default = None;
}

proto_enum! {
    /// Shard size of a large index (`config.shardSize`): an index whose vectors and codes
    /// outgrow one shard of this size is split into several, searched together.
    pub enum ShardSize ("NearestNeighborSearchConfig.shardSize") {
        /// 2 GiB shards.
        Small = "SHARD_SIZE_SMALL",
        /// 20 GiB shards.
        Medium = "SHARD_SIZE_MEDIUM",
        /// 50 GiB shards.
        Large = "SHARD_SIZE_LARGE",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::At;
    use serde_json::json;

    #[test]
    fn names_any_case_and_numbers() {
        let at = At::root();
        assert_eq!(
            Encoding::read(&json!("IDENTITY"), &at),
            Ok(Some(Encoding::Identity))
        );
        assert_eq!(
            Encoding::read(&json!("bag_of_features"), &at),
            Ok(Some(Encoding::BagOfFeatures))
        );
        assert_eq!(
            Encoding::read(&json!(6), &at),
            Ok(Some(Encoding::ConcatEmbedding))
        );
        assert_eq!(Encoding::read(&json!(0), &at), Ok(None));
        assert_eq!(
            Encoding::read(&json!("encoding_unspecified"), &at),
            Ok(None)
        );
        assert_eq!(ColorMap::read(&json!(6), &at), Ok(Some(ColorMap::RedGreen)));
        assert_eq!(
            ColorMap::read(&json!(5), &at),
            Ok(Some(ColorMap::PinkWhiteGreen))
        );
        assert_eq!(
            OverlayType::read(&json!("mask"), &at),
            Ok(Some(OverlayType::MaskBlack))
        );
        assert_eq!(Query::read(&json!(0), &at), Ok(Some(Query::Precise)));
        assert_eq!(
            Modality::read(&json!("Image"), &at),
            Ok(Some(Modality::Image))
        );
    }

    #[test]
    fn unknown_values_list_the_allowed_ones() {
        let err = Encoding::read(&json!("IDENTITTY"), &At::root()).unwrap_err();
        assert!(err.message().contains("IDENTITY, BAG_OF_FEATURES"), "{err}");
        assert!(err.message().contains("0..=6"), "{err}");
        assert!(Encoding::read(&json!(7), &At::root()).is_err());
        // Modality is a string in the proto: no numbers.
        assert!(Modality::read(&json!(1), &At::root()).is_err());
        assert!(Modality::read(&json!("structured"), &At::root()).is_err());
    }

    #[test]
    fn numbers_match_the_proto() {
        assert_eq!(Encoding::BagOfFeaturesSparse.number(), Some(3));
        assert_eq!(Polarity::Both.number(), Some(3));
        assert_eq!(OverlayType::MaskBlack.number(), Some(4));
        assert_eq!(VisualizationType::Outlines.number(), Some(2));
        assert_eq!(PresetModality::Tabular.number(), Some(3));
        assert_eq!(ExamplesOverrideDataFormat::Embeddings.number(), Some(2));
        assert_eq!(DistanceMeasureType::Cosine.number(), None);
    }

    #[test]
    fn written_as_names() {
        assert_eq!(
            serde_json::to_value(Encoding::Indicator).ok(),
            Some(json!("INDICATOR"))
        );
        assert_eq!(
            serde_json::to_value(Modality::Text).ok(),
            Some(json!("text"))
        );
        assert_eq!(Encoding::from_name("indicator"), Some(Encoding::Indicator));
        assert_eq!(Encoding::from_name("ENCODING_UNSPECIFIED"), None);
    }
}
