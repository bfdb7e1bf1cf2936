//! [`ImageView`]: an instance's image value, decoded and ready to draw on.

use std::io::Cursor;

use base64::Engine as _;
use serde_json::Value;

use crate::error::{describe, VizError};
use crate::tensor::Tensor;

/// How the values of an image array are laid out, which is also the layout that
/// attributions of the same feature are read in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Layout {
    /// `[H][W]`: one grey value per pixel.
    Hw,
    /// `[H][W][C]`: channels last (also every decoded PNG or JPEG).
    Hwc {
        /// Channels per pixel, 1..=4.
        channels: usize,
    },
    /// `[C][H][W]`: channels first.
    Chw {
        /// Channels per pixel, 1..=4.
        channels: usize,
    },
}

impl Layout {
    /// Channels per pixel (1 for [`Layout::Hw`]).
    pub fn channels(self) -> usize {
        match self {
            Layout::Hw => 1,
            Layout::Hwc { channels } | Layout::Chw { channels } => channels,
        }
    }
}

/// The value range detected in an image array, and so how its values became display
/// bytes (see [`ImageView::from_value`] for the rule).
#[derive(Debug, Clone, Copy, PartialEq)]
#[non_exhaustive]
pub enum ValueRange {
    /// All values in `[0, 1]`: byte = round(255·x).
    Unit,
    /// Some value below 0, all in `[-1, 1]`: byte = round(255·(x + 1)/2).
    Signed,
    /// Some value above 1, all in `[0, 255]`: byte = round(x).
    Byte,
    /// Anything else: stretched, byte = round(255·(x − min)/(max − min)) (0 when
    /// max = min).
    Stretched {
        /// The smallest value.
        min: f64,
        /// The largest value.
        max: f64,
    },
}

impl ValueRange {
    /// Detects the range of `values` by their minimum and maximum.
    pub fn detect(values: impl IntoIterator<Item = f64>) -> ValueRange {
        let (mut min, mut max) = (f64::INFINITY, f64::NEG_INFINITY);
        for v in values {
            min = min.min(v);
            max = max.max(v);
        }
        if min >= 0.0 && max <= 1.0 {
            ValueRange::Unit
        } else if min >= -1.0 && max <= 1.0 {
            ValueRange::Signed
        } else if min >= 0.0 && max <= 255.0 {
            ValueRange::Byte
        } else {
            ValueRange::Stretched { min, max }
        }
    }

    /// Maps one value to a display byte.
    pub fn to_byte(self, x: f64) -> u8 {
        let scaled = match self {
            ValueRange::Unit => 255.0 * x,
            ValueRange::Signed => 255.0 * (x + 1.0) / 2.0,
            ValueRange::Byte => x,
            ValueRange::Stretched { min, max } if max > min => 255.0 * (x - min) / (max - min),
            ValueRange::Stretched { .. } => 0.0,
        };
        to_u8(scaled)
    }
}

/// Rounds to the nearest integer (halves away from zero) and clamps to `0..=255`.
pub(crate) fn to_u8(x: f64) -> u8 {
    if x.is_nan() {
        0
    } else {
        // In range after the clamp, so the cast is exact.
        x.round().clamp(0.0, 255.0) as u8
    }
}

/// The container an image came in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ImageSource {
    /// A nested JSON array of numbers.
    Array,
    /// `{"b64": ...}` holding a PNG.
    Png,
    /// `{"b64": ...}` holding a JPEG.
    Jpeg,
}

/// An image taken from an instance value, as 8-bit RGB for display.
///
/// Accepted values (see [`ImageView::from_value`]):
/// - nested arrays `[H][W][C]` (C = 1..=4: grey, grey + alpha, RGB, RGBA), `[H][W]`
///   (grey), or `[C][H][W]` (C ≤ 4, recognised when the last axis is longer than 4);
///   leading axes of length 1 (a batch of one) are dropped;
/// - `{"b64": "<base64 of a PNG or JPEG file>"}` (Vertex's convention for binary input).
///
/// Alpha channels are ignored; grey images are shown as grey RGB.
#[derive(Debug, Clone, PartialEq)]
pub struct ImageView {
    width: usize,
    height: usize,
    layout: Layout,
    range: ValueRange,
    source: ImageSource,
    rgb: Vec<[u8; 3]>,
}

impl ImageView {
    /// Reads an image from an instance's value.
    ///
    /// **Display range.** Arrays are mapped to bytes by the minimum and maximum of their
    /// colour values (alpha excluded), checked in this order: all in `[0, 1]` → ×255; all
    /// in `[-1, 1]` → (x + 1)/2 × 255; all in `[0, 255]` → as is; otherwise stretched
    /// from [min, max] to [0, 255]. Results are rounded to the nearest byte. So an
    /// image whose values are only 0 and 1 is read as `[0, 1]` (black and white).
    /// Decoded PNG and JPEG data is already bytes (16-bit PNG is reduced to 8 bits).
    pub fn from_value(value: &Value) -> Result<ImageView, VizError> {
        match value {
            Value::Object(map) => match map.get("b64") {
                Some(Value::String(text)) => {
                    let bytes = decode_base64(text)?;
                    ImageView::from_encoded(&bytes)
                }
                _ => Err(VizError::ImageValue {
                    found: describe(value),
                }),
            },
            Value::Array(_) => {
                let tensor = Tensor::from_json(value, "image")?.squeeze_leading(3);
                ImageView::from_array(&tensor.values, &tensor.shape)
            }
            other => Err(VizError::ImageValue {
                found: describe(other),
            }),
        }
    }

    /// Reads an image from row-major `values` of the given `shape` (rules of
    /// [`ImageView::from_value`]).
    pub fn from_array(values: &[f64], shape: &[usize]) -> Result<ImageView, VizError> {
        let (height, width, layout) = image_layout(shape)?;
        if width == 0 || height == 0 {
            return Err(VizError::EmptyImage { width, height });
        }
        if values.len() != width * height * layout.channels() {
            return Err(VizError::ImageShape {
                shape: shape.to_vec(),
            });
        }
        if let Some((index, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(VizError::NonFinite {
                what: "image",
                index,
                value,
            });
        }
        let channels = layout.channels();
        let at = |pixel: usize, c: usize| -> f64 {
            match layout {
                Layout::Hw => values[pixel],
                Layout::Hwc { .. } => values[pixel * channels + c],
                Layout::Chw { .. } => values[c * width * height + pixel],
            }
        };
        let colour_channels = if channels >= 3 { 3 } else { 1 };
        let n = width * height;
        let range = ValueRange::detect((0..n).flat_map(|p| {
            (0..colour_channels)
                .map(move |c| (p, c))
                .map(|(p, c)| at(p, c))
        }));
        let rgb = (0..n)
            .map(|p| {
                if colour_channels == 3 {
                    [
                        range.to_byte(at(p, 0)),
                        range.to_byte(at(p, 1)),
                        range.to_byte(at(p, 2)),
                    ]
                } else {
                    let g = range.to_byte(at(p, 0));
                    [g, g, g]
                }
            })
            .collect();
        Ok(ImageView {
            width,
            height,
            layout,
            range,
            source: ImageSource::Array,
            rgb,
        })
    }

    /// Decodes a PNG or JPEG file (recognised by its signature).
    pub fn from_encoded(bytes: &[u8]) -> Result<ImageView, VizError> {
        if bytes.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]) {
            decode_png(bytes)
        } else if bytes.starts_with(&[0xff, 0xd8, 0xff]) {
            decode_jpeg(bytes)
        } else {
            Err(VizError::UnknownFormat {
                head: bytes.iter().take(8).copied().collect(),
            })
        }
    }

    /// Builds an image from 8-bit RGB pixels in row-major order (`width * height` of them).
    pub fn from_rgb(width: usize, height: usize, rgb: Vec<[u8; 3]>) -> Result<ImageView, VizError> {
        if width == 0 || height == 0 {
            return Err(VizError::EmptyImage { width, height });
        }
        if rgb.len() != width * height {
            return Err(VizError::ImageShape {
                shape: vec![height, width, 3],
            });
        }
        Ok(ImageView {
            width,
            height,
            layout: Layout::Hwc { channels: 3 },
            range: ValueRange::Byte,
            source: ImageSource::Array,
            rgb,
        })
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The layout of the source array (decoded files are [`Layout::Hwc`]).
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// How source values were mapped to bytes.
    pub fn value_range(&self) -> ValueRange {
        self.range
    }

    /// Where the image came from.
    pub fn source(&self) -> ImageSource {
        self.source
    }

    /// The display colour of pixel (`x`, `y`); `None` outside the image.
    pub fn rgb(&self, x: usize, y: usize) -> Option<[u8; 3]> {
        if x < self.width && y < self.height {
            self.rgb.get(y * self.width + x).copied()
        } else {
            None
        }
    }

    /// Every pixel's display colour, row by row.
    pub fn pixels(&self) -> &[[u8; 3]] {
        &self.rgb
    }
}

/// `(height, width, layout)` of an array shape.
fn image_layout(shape: &[usize]) -> Result<(usize, usize, Layout), VizError> {
    match *shape {
        [h, w] => Ok((h, w, Layout::Hw)),
        [h, w, c] if (1..=4).contains(&c) => Ok((h, w, Layout::Hwc { channels: c })),
        [c, h, w] if (1..=4).contains(&c) && w > 4 => Ok((h, w, Layout::Chw { channels: c })),
        _ => Err(VizError::ImageShape {
            shape: shape.to_vec(),
        }),
    }
}

/// Standard base64, padded or not (Vertex clients send padded text).
fn decode_base64(text: &str) -> Result<Vec<u8>, VizError> {
    use base64::engine::{general_purpose, DecodePaddingMode, GeneralPurpose};
    const ENGINE: GeneralPurpose = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        general_purpose::PAD.with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    Ok(ENGINE.decode(text.trim())?)
}

/// The most bytes a decoded PNG or JPEG may take (64 MiB, the `png` crate's default
/// limit): about 4096 × 4096 RGBA, so a hostile header cannot make us allocate more.
pub const MAX_DECODED_BYTES: usize = 64 << 20;

fn decode_png(bytes: &[u8]) -> Result<ImageView, VizError> {
    let err = |e: png::DecodingError| VizError::Decode {
        format: "PNG",
        source: Box::new(e),
    };
    let limits = png::Limits {
        bytes: MAX_DECODED_BYTES,
    };
    let mut decoder = png::Decoder::new_with_limits(Cursor::new(bytes), limits);
    // Palette → RGB(A), grey below 8 bits → 8 bits, 16 bits → 8 bits.
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().map_err(err)?;
    let size = reader
        .output_buffer_size()
        .ok_or_else(|| err(png::DecodingError::LimitsExceeded))?;
    let mut buf = vec![0; size];
    let info = reader.next_frame(&mut buf).map_err(err)?;
    let channels = info.color_type.samples();
    let (width, height) = (info.width as usize, info.height as usize);
    from_bytes(
        &buf[..info.buffer_size()],
        width,
        height,
        channels,
        ImageSource::Png,
    )
}

fn decode_jpeg(bytes: &[u8]) -> Result<ImageView, VizError> {
    let err = |e: zune_jpeg::errors::DecodeErrors| VizError::Decode {
        format: "JPEG",
        source: Box::new(e),
    };
    let mut decoder = zune_jpeg::JpegDecoder::new(Cursor::new(bytes));
    decoder.decode_headers().map_err(err)?;
    let (width, height) = decoder.dimensions().unwrap_or((0, 0));
    if width == 0 || height == 0 {
        return Err(VizError::EmptyImage { width, height });
    }
    // At most 4 bytes a pixel (CMYK), checked before the decoder allocates.
    if width.saturating_mul(height).saturating_mul(4) > MAX_DECODED_BYTES {
        return Err(VizError::TooLarge { width, height });
    }
    let data = decoder.decode().map_err(err)?;
    let channels = data.len() / (width * height);
    from_bytes(&data, width, height, channels, ImageSource::Jpeg)
}

/// Interleaved 8-bit samples (1..=4 per pixel) to an image.
fn from_bytes(
    data: &[u8],
    width: usize,
    height: usize,
    channels: usize,
    source: ImageSource,
) -> Result<ImageView, VizError> {
    if width == 0 || height == 0 {
        return Err(VizError::EmptyImage { width, height });
    }
    if !(1..=4).contains(&channels) || data.len() < width * height * channels {
        return Err(VizError::ImageShape {
            shape: vec![height, width, channels],
        });
    }
    let rgb = data
        .chunks_exact(channels)
        .take(width * height)
        .map(|px| {
            if channels >= 3 {
                [px[0], px[1], px[2]]
            } else {
                [px[0], px[0], px[0]]
            }
        })
        .collect();
    Ok(ImageView {
        width,
        height,
        layout: Layout::Hwc { channels },
        range: ValueRange::Byte,
        source,
        rgb,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn range_rule_in_order() {
        assert_eq!(ValueRange::detect([0.0, 0.5, 1.0]), ValueRange::Unit);
        assert_eq!(ValueRange::detect([-1.0, 0.0, 1.0]), ValueRange::Signed);
        assert_eq!(ValueRange::detect([0.0, 2.0, 255.0]), ValueRange::Byte);
        assert_eq!(
            ValueRange::detect([-2.0, 300.0]),
            ValueRange::Stretched {
                min: -2.0,
                max: 300.0
            }
        );
        assert_eq!(ValueRange::Unit.to_byte(0.5), 128);
        assert_eq!(ValueRange::Signed.to_byte(0.0), 128);
        assert_eq!(ValueRange::Signed.to_byte(-1.0), 0);
        assert_eq!(ValueRange::Byte.to_byte(17.4), 17);
        let s = ValueRange::Stretched {
            min: -2.0,
            max: 300.0,
        };
        assert_eq!(s.to_byte(149.0), 128); // 255 * 151 / 302 = 127.5
        assert_eq!(s.to_byte(-2.0), 0);
    }

    #[test]
    fn chw_is_recognised_only_when_the_last_axis_is_long() {
        // [3][2][5]: last axis 5 > 4, first 3 ≤ 4 → channels first.
        let values: Vec<f64> = (0..30).map(f64::from).collect();
        let img = ImageView::from_array(&values, &[3, 2, 5]).unwrap();
        assert_eq!(img.layout(), Layout::Chw { channels: 3 });
        assert_eq!((img.width(), img.height()), (5, 2));
        // Pixel (1, 0): R = values[1], G = values[10 + 1], B = values[20 + 1] (Byte range).
        assert_eq!(img.rgb(1, 0), Some([1, 11, 21]));
        // [3][2][4]: last axis ≤ 4 → channels last.
        let img = ImageView::from_array(&values[..24], &[3, 2, 4]).unwrap();
        assert_eq!(img.layout(), Layout::Hwc { channels: 4 });
        assert!(matches!(
            ImageView::from_array(&[0.0; 50], &[5, 2, 5]),
            Err(VizError::ImageShape { .. })
        ));
    }

    #[test]
    fn refuses_other_values() {
        assert!(matches!(
            ImageView::from_value(&json!("abc")),
            Err(VizError::ImageValue { .. })
        ));
        assert!(matches!(
            ImageView::from_value(&json!({"b64": "!!!"})),
            Err(VizError::Base64(_))
        ));
        assert!(matches!(
            ImageView::from_value(&json!({"b64": "aGVsbG8="})),
            Err(VizError::UnknownFormat { .. })
        ));
        assert!(matches!(
            ImageView::from_value(&json!([[]])),
            Err(VizError::EmptyImage { .. })
        ));
    }
}
