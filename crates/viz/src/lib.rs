//! Pictures of explanations: what Vertex Explainable AI draws, from Prism's results.
//!
//! - **Images**: [`heatmap()`] draws image attributions with every option of Vertex's
//!   `Visualization` (type PIXELS / OUTLINES, polarity, the six colour maps, clip
//!   percentiles, overlays NONE / ORIGINAL / GRAYSCALE / MASK_BLACK), with the defaults of
//!   Integrated Gradients or XRAI ([`MethodDefaults`]); the [`heatmap`](mod@heatmap)
//!   module documents the exact arithmetic and where each choice comes from. [`ImageView`] reads the image from an
//!   instance value (nested arrays in any of the usual layouts and value ranges, or
//!   `{"b64": ...}` PNG / JPEG), and [`encode_png`] writes the result.
//! - **Text**: [`text_html`] shades tokens by attribution.
//! - **Tabular**: [`bar_chart_svg`] draws sorted, signed bars.
//! - [`pictures_for`] makes every picture of an [`prism_spec::Explanation`], named for
//!   files (what `prism explain --images-out DIR` writes).
//!
//! # Example
//!
//! ```
//! use prism_spec::Visualization;
//! use prism_viz::{encode_png, heatmap, ImageView, MethodDefaults};
//! use serde_json::json;
//!
//! // A 2×2 grey image (values in [0, 1]) and one attribution per pixel.
//! let image = ImageView::from_value(&json!([[0.0, 1.0], [0.5, 0.5]]))?;
//! let vis = Visualization {
//!     kind: Some(prism_spec::VisualizationType::Pixels),
//!     clip_percent_lowerbound: Some(0.0),
//!     clip_percent_upperbound: Some(100.0),
//!     ..Visualization::default()
//! };
//! let picture = heatmap(&[4.0, 2.0, 0.0, -1.0], &image, &vis, MethodDefaults::IntegratedGradients)?;
//! // PINK_GREEN, POSITIVE, overlay NONE: full green, half green, then black twice.
//! assert_eq!(picture.pixel(0, 0), Some([0, 255, 0, 255]));
//! assert_eq!(picture.pixel(1, 0), Some([0, 128, 0, 255]));
//! assert_eq!(picture.pixel(0, 1), Some([0, 0, 0, 255]));
//! assert_eq!(picture.pixel(1, 1), Some([0, 0, 0, 255]));
//! let png: Vec<u8> = encode_png(&picture)?;
//! assert!(png.starts_with(b"\x89PNG"));
//! # Ok::<(), prism_viz::VizError>(())
//! ```

#![deny(missing_docs)]

mod bars;
pub mod colormap;
mod error;
pub mod heatmap;
mod image;
mod markup;
pub mod outline;
mod pictures;
mod raster;
mod tables;
mod tensor;
mod text;

pub use bars::{bar_chart_svg, Bar, NEGATIVE_BAR, POSITIVE_BAR};
pub use colormap::attribution_color;
pub use error::VizError;
pub use heatmap::{
    clip_thresholds, heatmap, pixel_attributions, render, HeatmapOptions, MethodDefaults,
};
pub use image::{ImageSource, ImageView, Layout, ValueRange, MAX_DECODED_BYTES};
pub use markup::{escape, html_document, number};
pub use pictures::{
    image_attributions, output_label, panels, pictures_at_least, pictures_for, ImagePanel, Panel,
    Panels, TextPanel,
};
pub use raster::{encode_png, RgbaImage};
pub use text::text_html;
