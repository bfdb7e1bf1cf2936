//! Reading images (layouts, value ranges, b64 PNG / JPEG) and writing PNG.

use base64::Engine as _;
use prism_viz::{encode_png, ImageSource, ImageView, Layout, RgbaImage, ValueRange, VizError};
use serde_json::json;

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn hwc_in_unit_range() {
    let img = ImageView::from_value(&json!([[[0.0, 0.5, 1.0], [1.0, 1.0, 1.0]]])).expect("ok");
    assert_eq!(img.layout(), Layout::Hwc { channels: 3 });
    assert_eq!(img.value_range(), ValueRange::Unit);
    assert_eq!((img.width(), img.height()), (2, 1));
    // 0.5 × 255 = 127.5 → 128.
    assert_eq!(img.pixels(), &[[0, 128, 255], [255, 255, 255]]);
}

#[test]
fn hwc_in_byte_range() {
    let img = ImageView::from_value(&json!([[[0, 128, 255]], [[10, 20, 30]]])).expect("ok");
    assert_eq!(img.value_range(), ValueRange::Byte);
    assert_eq!((img.width(), img.height()), (1, 2));
    assert_eq!(img.pixels(), &[[0, 128, 255], [10, 20, 30]]);
}

#[test]
fn hwc_in_signed_range() {
    let img = ImageView::from_value(&json!([[[-1.0, 0.0, 1.0], [-0.5, 0.5, 0.2]]])).expect("ok");
    assert_eq!(img.value_range(), ValueRange::Signed);
    // (x + 1)/2 × 255: 0, 127.5 → 128, 255, 63.75 → 64, 191.25 → 191, 153.
    assert_eq!(img.pixels(), &[[0, 128, 255], [64, 191, 153]]);
}

#[test]
fn other_ranges_are_stretched() {
    let img = ImageView::from_value(&json!([[-10, 0], [10, 20]])).expect("ok");
    assert_eq!(
        img.value_range(),
        ValueRange::Stretched {
            min: -10.0,
            max: 20.0
        }
    );
    assert_eq!(img.layout(), Layout::Hw);
    // (x + 10)/30 × 255: 0, 85, 170, 255; grey.
    assert_eq!(
        img.pixels(),
        &[[0, 0, 0], [85, 85, 85], [170, 170, 170], [255, 255, 255]]
    );
}

#[test]
fn grey_channel_and_alpha_are_handled() {
    // [H][W][1]: grey; [H][W][4]: alpha ignored, also for the range (alpha 255 would
    // otherwise make the [0, 1] colours look like bytes).
    let grey = ImageView::from_value(&json!([[[0.0], [1.0]]])).expect("ok");
    assert_eq!(grey.pixels(), &[[0, 0, 0], [255, 255, 255]]);
    let rgba = ImageView::from_value(&json!([[[0.0, 0.2, 1.0, 255]]])).expect("ok");
    assert_eq!(rgba.value_range(), ValueRange::Unit);
    assert_eq!(rgba.pixels(), &[[0, 51, 255]]);
}

#[test]
fn channels_first_and_a_batch_of_one() {
    // [1][3][1][5] → [3][1][5]: channels first because the last axis (5) exceeds 4.
    let img = ImageView::from_value(&json!([[
        [[0, 1, 2, 3, 4]],
        [[10, 11, 12, 13, 14]],
        [[20, 21, 22, 23, 24]]
    ]]))
    .expect("ok");
    assert_eq!(img.layout(), Layout::Chw { channels: 3 });
    assert_eq!((img.width(), img.height()), (5, 1));
    assert_eq!(img.rgb(4, 0), Some([4, 14, 24]));
    assert_eq!(img.rgb(5, 0), None);
}

#[test]
fn bad_arrays_are_errors_not_panics() {
    for bad in [
        json!(vec![[[1, 2, 3, 4, 5, 6]]; 5]), // [5][1][6]: 6 channels last or 5 first
        json!([[1, 2], [3]]),                 // ragged
        json!([1, 2, 3]),                     // one dimension
        json!([[[[1, 2], [3, 4]]], [[[1, 2], [3, 4]]]]), // a batch of two
        json!([["a", "b"]]),
        json!({"bytes": "x"}),
        json!(null),
    ] {
        assert!(ImageView::from_value(&bad).is_err(), "{bad}");
    }
    assert!(matches!(
        ImageView::from_value(&json!({"b64": b64(b"GIF89a....")})),
        Err(VizError::UnknownFormat { .. })
    ));
    assert!(matches!(
        ImageView::from_value(&json!({"b64": b64(b"\x89PNG\r\n\x1a\nbroken")})),
        Err(VizError::Decode { format: "PNG", .. })
    ));
}

fn sample_picture() -> RgbaImage {
    let mut p = RgbaImage::filled(3, 2, [0, 0, 0, 255]);
    p.set_pixel(0, 0, [255, 0, 0, 255]);
    p.set_pixel(1, 0, [0, 255, 0, 255]);
    p.set_pixel(2, 0, [0, 0, 255, 128]);
    p.set_pixel(0, 1, [1, 2, 3, 255]);
    p.set_pixel(2, 1, [250, 251, 252, 0]);
    p
}

#[test]
fn png_round_trip() {
    let picture = sample_picture();
    let bytes = encode_png(&picture).expect("encodes");
    let mut decoder = png::Decoder::new(std::io::Cursor::new(&bytes));
    decoder.set_transformations(png::Transformations::IDENTITY);
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("small")];
    let info = reader.next_frame(&mut buf).expect("a frame");
    assert_eq!((info.width, info.height), (3, 2));
    assert_eq!(info.color_type, png::ColorType::Rgba);
    assert_eq!(info.bit_depth, png::BitDepth::Eight);
    assert_eq!(&buf[..info.buffer_size()], picture.as_raw());
}

#[test]
fn b64_png_input() {
    let bytes = encode_png(&sample_picture()).expect("encodes");
    let img = ImageView::from_value(&json!({ "b64": b64(&bytes) })).expect("decodes");
    assert_eq!(img.source(), ImageSource::Png);
    assert_eq!(img.layout(), Layout::Hwc { channels: 4 });
    assert_eq!(
        img.pixels(),
        &[
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [1, 2, 3],
            [0, 0, 0],
            [250, 251, 252]
        ]
    );
    // Unpadded base64 is accepted too.
    let unpadded = b64(&bytes).trim_end_matches('=').to_string();
    assert_eq!(
        ImageView::from_value(&json!({ "b64": unpadded })).expect("decodes"),
        img
    );
}

/// A 3 × 2 palette PNG from Pillow 13 (`Image.new("P", (3, 2))`, palette red, green,
/// blue, (10, 20, 30), indices 0 1 2 / 3 2 1, `save(..., optimize=True)`).
const PALETTE_PNG: &str = "iVBORw0KGgoAAAANSUhEUgAAAAMAAAACAgMAAADgGo6JAAAADFBMVEX/AAAA/wAAAP8KFB4iiCkEAAAADElEQVR42mOQYHgCAAEwAP1oMM/fAAAAAElFTkSuQmCC";

/// A 3 × 1 16-bit grey PNG from Pillow 13 (mode `I;16`, values 0, 65535, 32896).
const GREY16_PNG: &str =
    "iVBORw0KGgoAAAANSUhEUgAAAAMAAAABEAAAAABuG5crAAAAD0lEQVR4nGNkYPj/v7ERAAiKAwIXCQOuAAAAAElFTkSuQmCC";

#[test]
fn palette_and_16_bit_pngs() {
    let pal = ImageView::from_value(&json!({ "b64": PALETTE_PNG })).expect("decodes");
    assert_eq!((pal.width(), pal.height()), (3, 2));
    assert_eq!(
        pal.pixels(),
        &[
            [255, 0, 0],
            [0, 255, 0],
            [0, 0, 255],
            [10, 20, 30],
            [0, 0, 255],
            [0, 255, 0]
        ]
    );
    let grey = ImageView::from_value(&json!({ "b64": GREY16_PNG })).expect("decodes");
    // 16 → 8 bits keeps the high byte: 0, 255, 32896 >> 8 = 128.
    assert_eq!(
        grey.pixels(),
        &[[0, 0, 0], [255, 255, 255], [128, 128, 128]]
    );
}

/// A 16 × 8 JPEG from Pillow 13 (quality 95, no chroma subsampling): the left half
/// (200, 30, 40), the right half (20, 60, 220).
const JPEG: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/2wBDAQICAgICAgUDAwUKBwYHCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgoKCgr/wAARCAAIABADAREAAhEBAxEB/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/8QAHwEAAwEBAQEBAQEBAQAAAAAAAAECAwQFBgcICQoL/8QAtREAAgECBAQDBAcFBAQAAQJ3AAECAxEEBSExBhJBUQdhcRMiMoEIFEKRobHBCSMzUvAVYnLRChYkNOEl8RcYGRomJygpKjU2Nzg5OkNERUZHSElKU1RVVldYWVpjZGVmZ2hpanN0dXZ3eHl6goOEhYaHiImKkpOUlZaXmJmaoqOkpaanqKmqsrO0tba3uLm6wsPExcbHyMnK0tPU1dbX2Nna4uPk5ebn6Onq8vP09fb3+Pn6/9oADAMBAAIRAxEAPwD5Hr8fP9UDz+v9vD/Cs//Z";

/// An 8 × 8 grey JPEG from Pillow 13 (mode `L`, value 100, quality 95).
const GREY_JPEG: &str = "/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAIBAQEBAQIBAQECAgICAgQDAgICAgUEBAMEBgUGBgYFBgYGBwkIBgcJBwYGCAsICQoKCgoKBggLDAsKDAkKCgr/wAALCAAIAAgBAREA/8QAHwAAAQUBAQEBAQEAAAAAAAAAAAECAwQFBgcICQoL/8QAtRAAAgEDAwIEAwUFBAQAAAF9AQIDAAQRBRIhMUEGE1FhByJxFDKBkaEII0KxwRVS0fAkM2JyggkKFhcYGRolJicoKSo0NTY3ODk6Q0RFRkdISUpTVFVWV1hZWmNkZWZnaGlqc3R1dnd4eXqDhIWGh4iJipKTlJWWl5iZmqKjpKWmp6ipqrKztLW2t7i5usLDxMXGx8jJytLT1NXW19jZ2uHi4+Tl5ufo6erx8vP09fb3+Pn6/9oACAEBAAA/APD6/9k=";

fn close(a: [u8; 3], b: [u8; 3], tolerance: u8) -> bool {
    a.iter().zip(b).all(|(&x, y)| x.abs_diff(y) <= tolerance)
}

#[test]
fn b64_jpeg_input() {
    let img = ImageView::from_value(&json!({ "b64": JPEG })).expect("decodes");
    assert_eq!(img.source(), ImageSource::Jpeg);
    assert_eq!((img.width(), img.height()), (16, 8));
    assert_eq!(img.layout(), Layout::Hwc { channels: 3 });
    // JPEG is lossy: within 12 levels of the encoded colours, away from the seam.
    for y in 0..8 {
        for x in [0, 3, 5] {
            let px = img.rgb(x, y).expect("inside");
            assert!(close(px, [200, 30, 40], 12), "({x}, {y}) = {px:?}");
        }
        for x in [10, 12, 15] {
            let px = img.rgb(x, y).expect("inside");
            assert!(close(px, [20, 60, 220], 12), "({x}, {y}) = {px:?}");
        }
    }
    let grey = ImageView::from_value(&json!({ "b64": GREY_JPEG })).expect("decodes");
    assert_eq!((grey.width(), grey.height()), (8, 8));
    assert!(grey.pixels().iter().all(|&p| close(p, [100, 100, 100], 2)));
}

#[test]
fn a_jpeg_header_claiming_a_huge_image_is_refused_before_decoding() {
    let mut bytes = base64::engine::general_purpose::STANDARD
        .decode(JPEG)
        .expect("base64");
    // SOF0 (FF C0): length (2 bytes), precision (1), height (2), width (2).
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xff, 0xc0])
        .expect("a baseline JPEG");
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x13, 0x88, 0x13, 0x88]); // 5000 × 5000
    assert!(matches!(
        ImageView::from_value(&json!({ "b64": b64(&bytes) })),
        Err(VizError::TooLarge {
            width: 5000,
            height: 5000
        })
    ));
}

#[test]
fn attributions_must_fit_and_be_finite() {
    use prism_spec::Visualization;
    use prism_viz::{heatmap, render, HeatmapOptions, MethodDefaults};
    let image = crate::plain(2, 2, [0, 0, 0]);
    let ig = MethodDefaults::IntegratedGradients;
    let vis = Visualization::default();
    assert!(matches!(
        heatmap(&[1.0; 5], &image, &vis, ig),
        Err(VizError::AttributionShape { len: 5, .. })
    ));
    assert!(matches!(
        heatmap(&[1.0, f64::NAN, 0.0, 0.0], &image, &vis, ig),
        Err(VizError::NonFinite { index: 1, .. })
    ));
    let options = HeatmapOptions::resolve(&vis, ig);
    assert!(matches!(
        render(&[1.0; 3], &image, &options),
        Err(VizError::AttributionShape { len: 3, .. })
    ));
    assert!(matches!(
        render(&[1.0, 1.0, f64::INFINITY, 1.0], &image, &options),
        Err(VizError::NonFinite { index: 2, .. })
    ));
}
