//! Writes a gallery of heatmaps of a synthetic image, one PNG per option value, to look at:
//! `cargo run -p prism-viz --example gallery -- OUT_DIR`.

use std::error::Error;
use std::path::PathBuf;

use prism_spec::{ColorMap, OverlayType, Polarity, Visualization, VisualizationType};
use prism_viz::{encode_png, heatmap, ImageView, MethodDefaults};

fn main() -> Result<(), Box<dyn Error>> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "gallery".into()));
    std::fs::create_dir_all(&dir)?;
    let (w, h) = (96usize, 64usize);
    // A colourful gradient image, values in [0, 1], [H][W][3].
    let pixels: Vec<f64> = (0..w * h)
        .flat_map(|i| {
            let (x, y) = ((i % w) as f64 / w as f64, (i / w) as f64 / h as f64);
            [x, y, 1.0 - x * y]
        })
        .collect();
    let image = ImageView::from_array(&pixels, &[h, w, 3])?;
    // A positive blob, a weaker negative blob, and some noise.
    let attributions: Vec<f64> = (0..w * h)
        .map(|i| {
            let (x, y) = ((i % w) as f64, (i / w) as f64);
            let blob =
                |cx: f64, cy: f64, r: f64| (-((x - cx).powi(2) + (y - cy).powi(2)) / (r * r)).exp();
            2.0 * blob(30.0, 30.0, 12.0) - blob(70.0, 40.0, 10.0)
                + 0.05 * ((x * 7.0 + y * 3.0).sin())
        })
        .collect();
    let base = Visualization::default();
    let write = |name: &str, vis: Visualization, method| -> Result<(), Box<dyn Error>> {
        let png = encode_png(&heatmap(&attributions, &image, &vis, method)?)?;
        std::fs::write(dir.join(format!("{name}.png")), png)?;
        Ok(())
    };
    let ig = MethodDefaults::IntegratedGradients;
    write("ig-defaults", base.clone(), ig)?;
    write("xrai-defaults", base.clone(), MethodDefaults::Xrai)?;
    for overlay in OverlayType::ALL {
        for kind in VisualizationType::ALL {
            let vis = Visualization {
                kind: Some(*kind),
                polarity: Some(Polarity::Both),
                overlay_type: Some(*overlay),
                clip_percent_lowerbound: Some(10.0),
                ..base.clone()
            };
            write(&format!("{kind}-{overlay}").to_lowercase(), vis, ig)?;
        }
    }
    for map in ColorMap::ALL {
        let vis = Visualization {
            kind: Some(VisualizationType::Pixels),
            polarity: Some(Polarity::Both),
            color_map: Some(*map),
            clip_percent_lowerbound: Some(10.0),
            ..base.clone()
        };
        write(&format!("map-{map}").to_lowercase(), vis, ig)?;
    }
    println!("wrote the gallery to {}", dir.display());
    Ok(())
}
