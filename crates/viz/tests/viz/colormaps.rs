//! Each colour map's endpoints and midpoints, as exact bytes: through
//! `attribution_color`, and through a whole heatmap of a ramp.

use prism_spec::{ColorMap, Polarity};
use prism_viz::attribution_color;

use crate::{all_rgb, draw, pixels, plain};

fn c(map: ColorMap, polarity: Polarity, value: f64) -> [u8; 3] {
    attribution_color(map, polarity, value)
}

#[test]
fn pink_green() {
    let p = Polarity::Both;
    assert_eq!(c(ColorMap::PinkGreen, p, 1.0), [0, 255, 0]);
    // 127.5 rounds up.
    assert_eq!(c(ColorMap::PinkGreen, p, 0.5), [0, 128, 0]);
    assert_eq!(c(ColorMap::PinkGreen, p, -1.0), [255, 105, 180]);
    // 0.5 × (255, 105, 180) = (127.5, 52.5, 90).
    assert_eq!(c(ColorMap::PinkGreen, p, -0.5), [128, 53, 90]);
    assert_eq!(c(ColorMap::PinkGreen, p, 0.0), [0, 0, 0]);
}

#[test]
fn red_green() {
    let p = Polarity::Both;
    assert_eq!(c(ColorMap::RedGreen, p, 1.0), [0, 255, 0]);
    assert_eq!(c(ColorMap::RedGreen, p, 0.5), [0, 128, 0]);
    assert_eq!(c(ColorMap::RedGreen, p, -1.0), [255, 0, 0]);
    assert_eq!(c(ColorMap::RedGreen, p, -0.25), [64, 0, 0]);
}

#[test]
fn red_and_green_ignore_the_sign() {
    for p in [Polarity::Positive, Polarity::Negative, Polarity::Both] {
        assert_eq!(c(ColorMap::Red, p, 1.0), [255, 0, 0]);
        assert_eq!(c(ColorMap::Red, p, -1.0), [255, 0, 0]);
        assert_eq!(c(ColorMap::Red, p, -0.5), [128, 0, 0]);
        assert_eq!(c(ColorMap::Green, p, -1.0), [0, 255, 0]);
        assert_eq!(c(ColorMap::Green, p, 0.5), [0, 128, 0]);
    }
}

#[test]
fn viridis_is_matplotlibs_table() {
    // matplotlib 3.11.2: viridis(i, bytes=True) for i = 0, 64, 128, 192, 255.
    let p = Polarity::Positive;
    assert_eq!(c(ColorMap::Viridis, p, 0.0), [68, 1, 84]);
    assert_eq!(c(ColorMap::Viridis, p, 0.25), [58, 82, 139]);
    assert_eq!(c(ColorMap::Viridis, p, 0.5), [32, 144, 140]);
    assert_eq!(c(ColorMap::Viridis, p, 0.75), [94, 201, 97]);
    assert_eq!(c(ColorMap::Viridis, p, 1.0), [253, 231, 36]);
    // One polarity: the magnitude runs the whole map, whatever the sign.
    assert_eq!(
        c(ColorMap::Viridis, Polarity::Negative, -1.0),
        [253, 231, 36]
    );
    assert_eq!(
        c(ColorMap::Viridis, Polarity::Negative, -0.5),
        [32, 144, 140]
    );
    // BOTH: negative towards blue, positive towards yellow, zero in the middle.
    let b = Polarity::Both;
    assert_eq!(c(ColorMap::Viridis, b, -1.0), [68, 1, 84]);
    assert_eq!(c(ColorMap::Viridis, b, -0.5), [58, 82, 139]);
    assert_eq!(c(ColorMap::Viridis, b, 0.0), [32, 144, 140]);
    assert_eq!(c(ColorMap::Viridis, b, 0.5), [94, 201, 97]);
    assert_eq!(c(ColorMap::Viridis, b, 1.0), [253, 231, 36]);
}

#[test]
fn pink_white_green_is_matplotlibs_piyg() {
    // matplotlib 3.11.2: PiYG(i, bytes=True) for i = 0, 64, 128, 192, 255; the same for
    // every polarity (the map is diverging).
    for p in [Polarity::Positive, Polarity::Negative, Polarity::Both] {
        assert_eq!(c(ColorMap::PinkWhiteGreen, p, -1.0), [142, 1, 82]);
        assert_eq!(c(ColorMap::PinkWhiteGreen, p, -0.5), [231, 151, 196]);
        assert_eq!(c(ColorMap::PinkWhiteGreen, p, 0.0), [246, 246, 246]);
        assert_eq!(c(ColorMap::PinkWhiteGreen, p, 0.5), [153, 205, 97]);
        assert_eq!(c(ColorMap::PinkWhiteGreen, p, 1.0), [39, 100, 25]);
    }
}

#[test]
fn each_map_over_a_whole_ramp() {
    // Attributions −4, −2, 0, 2, 4 with clipping at the maximum and nothing dropped:
    // |a| = 4 → v = 1, |a| = 2 → v = 0.5, 0 → not shown (black).
    let image = plain(5, 1, [9, 9, 9]);
    let a = [-4.0, -2.0, 0.0, 2.0, 4.0];
    let both = |map| all_rgb(&draw(&a, &image, &pixels(Polarity::Both, map)));
    let k = [0, 0, 0];
    assert_eq!(
        both(ColorMap::PinkGreen),
        vec![[255, 105, 180], [128, 53, 90], k, [0, 128, 0], [0, 255, 0]]
    );
    assert_eq!(
        both(ColorMap::RedGreen),
        vec![[255, 0, 0], [128, 0, 0], k, [0, 128, 0], [0, 255, 0]]
    );
    assert_eq!(
        both(ColorMap::Red),
        vec![[255, 0, 0], [128, 0, 0], k, [128, 0, 0], [255, 0, 0]]
    );
    assert_eq!(
        both(ColorMap::Green),
        vec![[0, 255, 0], [0, 128, 0], k, [0, 128, 0], [0, 255, 0]]
    );
    assert_eq!(
        both(ColorMap::Viridis),
        vec![[68, 1, 84], [58, 82, 139], k, [94, 201, 97], [253, 231, 36]]
    );
    assert_eq!(
        both(ColorMap::PinkWhiteGreen),
        vec![
            [142, 1, 82],
            [231, 151, 196],
            k,
            [153, 205, 97],
            [39, 100, 25]
        ]
    );
    // POSITIVE viridis: v = 0.5 → entry 128, v = 1 → entry 255; negatives not shown.
    assert_eq!(
        all_rgb(&draw(
            &a,
            &image,
            &pixels(Polarity::Positive, ColorMap::Viridis)
        )),
        vec![k, k, k, [32, 144, 140], [253, 231, 36]]
    );
}
