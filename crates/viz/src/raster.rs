//! [`RgbaImage`], the pictures this crate draws, and PNG encoding.

use crate::error::VizError;

/// An 8-bit RGBA picture, row by row, 4 bytes per pixel (not premultiplied).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RgbaImage {
    width: usize,
    height: usize,
    data: Vec<u8>,
}

impl RgbaImage {
    /// A picture of one colour.
    pub fn filled(width: usize, height: usize, rgba: [u8; 4]) -> RgbaImage {
        RgbaImage {
            width,
            height,
            data: rgba.repeat(width * height),
        }
    }

    /// Width in pixels.
    pub fn width(&self) -> usize {
        self.width
    }

    /// Height in pixels.
    pub fn height(&self) -> usize {
        self.height
    }

    /// The pixel at (`x`, `y`); `None` outside the picture.
    pub fn pixel(&self, x: usize, y: usize) -> Option<[u8; 4]> {
        if x >= self.width || y >= self.height {
            return None;
        }
        let i = 4 * (y * self.width + x);
        Some([
            self.data[i],
            self.data[i + 1],
            self.data[i + 2],
            self.data[i + 3],
        ])
    }

    /// Sets the pixel at (`x`, `y`); does nothing outside the picture.
    pub fn set_pixel(&mut self, x: usize, y: usize, rgba: [u8; 4]) {
        if x < self.width && y < self.height {
            let i = 4 * (y * self.width + x);
            self.data[i..i + 4].copy_from_slice(&rgba);
        }
    }

    /// The picture enlarged `factor` times with nearest-neighbour sampling (crisp pixels),
    /// so that small images (28 × 28 digits) can be seen.
    pub fn upscaled(&self, factor: usize) -> RgbaImage {
        let factor = factor.max(1);
        let (w, h) = (self.width * factor, self.height * factor);
        let mut data = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let i = 4 * ((y / factor) * self.width + x / factor);
                data.extend_from_slice(&self.data[i..i + 4]);
            }
        }
        RgbaImage {
            width: w,
            height: h,
            data,
        }
    }

    /// The raw RGBA bytes, row by row.
    pub fn as_raw(&self) -> &[u8] {
        &self.data
    }
}

/// Encodes a picture as an 8-bit RGBA PNG file.
///
/// Fails only for pictures PNG cannot hold (a side of 0, or one too long for a `u32`).
pub fn encode_png(image: &RgbaImage) -> Result<Vec<u8>, VizError> {
    let too_large = || VizError::TooLarge {
        width: image.width,
        height: image.height,
    };
    let width = u32::try_from(image.width).map_err(|_| too_large())?;
    let height = u32::try_from(image.height).map_err(|_| too_large())?;
    let mut out = Vec::new();
    let mut encoder = png::Encoder::new(&mut out, width, height);
    encoder.set_color(png::ColorType::Rgba);
    encoder.set_depth(png::BitDepth::Eight);
    let mut writer = encoder.write_header().map_err(VizError::Encode)?;
    writer
        .write_image_data(&image.data)
        .map_err(VizError::Encode)?;
    writer.finish().map_err(VizError::Encode)?;
    Ok(out)
}
