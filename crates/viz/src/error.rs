//! The crate's error type.

use std::error::Error as StdError;

/// Everything that can go wrong while drawing an explanation. Every variant is caused by
/// input (an instance, an attribution or a setting), never by a bug.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VizError {
    /// A JSON value that should be a number or a nested array of numbers is not.
    #[error("{what}: expected a number or a nested array of numbers, found {found}")]
    NotNumeric {
        /// What was being read (e.g. `image`, `attributions`).
        what: &'static str,
        /// A short description of the offending JSON value.
        found: String,
    },
    /// A nested array whose rows have different lengths.
    #[error("{what}: ragged nested array (rows of different lengths)")]
    Ragged {
        /// What was being read.
        what: &'static str,
    },
    /// A value that is NaN or infinite where a finite number is needed.
    #[error("{what}: value {value} at flat index {index} is not finite")]
    NonFinite {
        /// What was being read.
        what: &'static str,
        /// Position in the flattened array.
        index: usize,
        /// The value.
        value: f64,
    },
    /// A nested array whose shape is not an image layout (`[H][W]`, `[H][W][C]` with C ≤ 4,
    /// or `[C][H][W]` with C ≤ 4).
    #[error(
        "image: shape {shape:?} is not [H][W], [H][W][C] (C <= 4) or [C][H][W] (C <= 4, W > 4)"
    )]
    ImageShape {
        /// The shape found.
        shape: Vec<usize>,
    },
    /// An image with no pixels.
    #[error("image: it has no pixels ({width}x{height})")]
    EmptyImage {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// `{"b64": ...}` whose text is not base64.
    #[error("image: b64 is not valid base64: {0}")]
    Base64(#[from] base64::DecodeError),
    /// Encoded bytes that are neither PNG nor JPEG (by their signature).
    #[error("image: encoded bytes are neither PNG nor JPEG (first bytes {head:02x?})")]
    UnknownFormat {
        /// The first bytes of the data.
        head: Vec<u8>,
    },
    /// A PNG or JPEG that could not be decoded.
    #[error("image: cannot decode the {format} data: {source}")]
    Decode {
        /// `PNG` or `JPEG`.
        format: &'static str,
        /// The decoder's error.
        #[source]
        source: Box<dyn StdError + Send + Sync>,
    },
    /// An image JSON value of the wrong kind (neither an array nor `{"b64": ...}`).
    #[error(
        "image: expected a nested array of pixel values or {{\"b64\": \"...\"}}, found {found}"
    )]
    ImageValue {
        /// A short description of the value found.
        found: String,
    },
    /// Attributions that do not fit the image they are drawn over.
    #[error(
        "attributions: {len} values (shape {shape:?}) do not fit a {width}x{height} image \
         (expected {width}x{height} values, or that many times a channel count)"
    )]
    AttributionShape {
        /// The number of attribution values.
        len: usize,
        /// The attributions' shape, when known.
        shape: Vec<usize>,
        /// Image width.
        width: usize,
        /// Image height.
        height: usize,
    },
    /// Tokens and attributions of a text feature that do not pair up.
    #[error("text: {tokens} tokens but {attributions} attributions")]
    TokenCount {
        /// Number of tokens.
        tokens: usize,
        /// Number of attributions.
        attributions: usize,
    },
    /// An image feature whose instance value is missing.
    #[error("instance: no value for image feature {feature:?}")]
    MissingInstance {
        /// The feature's name.
        feature: String,
    },
    /// An image too large to decode or encode: a side beyond `u32` for PNG output, or
    /// more than [`MAX_DECODED_BYTES`](crate::MAX_DECODED_BYTES) of decoded pixels for
    /// PNG / JPEG input.
    #[error("image: {width}x{height} pixels is too large")]
    TooLarge {
        /// Width in pixels.
        width: usize,
        /// Height in pixels.
        height: usize,
    },
    /// PNG encoding failed (e.g. a picture with no pixels).
    #[error("png: cannot encode: {0}")]
    Encode(#[source] png::EncodingError),
}

/// Describes a JSON value in a few words, for error messages.
pub(crate) fn describe(value: &serde_json::Value) -> String {
    use serde_json::Value;
    match value {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("the boolean {b}"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) if s.chars().count() > 20 => {
            let head: String = s.chars().take(20).collect();
            format!("the string {head:?}...")
        }
        Value::String(s) => format!("the string {s:?}"),
        Value::Array(a) => format!("an array of {}", a.len()),
        Value::Object(o) => {
            let keys: Vec<&str> = o.keys().map(String::as_str).take(5).collect();
            format!("an object with keys {keys:?}")
        }
    }
}
