//! Normalised values and OUTLINES masks against `tools/reference.py`, an independent
//! NumPy/SciPy re-implementation (scipy.ndimage's fill_holes, label, binary_erosion) of
//! the Integrated Gradients visualisation library with Prism's documented changes.
//! The expected numbers below are that script's output, pasted.

use prism_spec::{ColorMap, OverlayType, Polarity, VisualizationType};
use prism_viz::clip_thresholds;

use crate::{draw, plain, rgb, rows, vis};

/// 10 rows × 12 columns (the script's `PATTERN`).
const PATTERN: [[i32; 12]; 10] = [
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1],
    [0, 5, 6, 7, 6, 0, 0, 0, -2, -3, 0, 0],
    [0, 6, 9, 9, 8, 4, 0, 0, -4, -6, -2, 0],
    [0, 7, 9, 0, 9, 5, 0, 0, -3, -8, -5, 0],
    [0, 6, 8, 9, 8, 4, 0, 0, 0, -2, 0, -1],
    [0, 3, 5, 6, 4, 0, 0, 0, 0, 0, -1, 0],
    [0, 0, 0, 0, 0, 0, 3, 4, 0, 0, 0, 0],
    [2, 0, 0, 0, 0, 0, 4, 6, 0, 0, 0, 0],
    [0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0],
    [0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 3],
];

struct Case {
    upper: f32,
    lower: f32,
    polarity: Polarity,
    hi: f64,
    lo: f64,
    /// round(v · 10⁶), row by row.
    v_micro: [u32; 120],
    outline: [&'static str; 10],
}

const CASES: [Case; 6] = [
    Case {
        upper: 99.9,
        lower: 62.0,
        polarity: Polarity::Positive,
        hi: 9.0,
        lo: 8.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000000,
            1000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000000, 0, 1000000, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 1000000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        outline: [
            "............",
            "............",
            "..###.......",
            "..#.#.......",
            "..###.......",
            "............",
            "............",
            "............",
            "............",
            "............",
        ],
    },
    Case {
        upper: 99.9,
        lower: 62.0,
        polarity: Polarity::Negative,
        hi: 8.0,
        lo: 5.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 333333, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000000, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0,
        ],
        outline: [
            "............",
            "............",
            ".........#..",
            ".........##.",
            "............",
            "............",
            "............",
            "............",
            "............",
            "............",
        ],
    },
    Case {
        upper: 90.0,
        lower: 0.0,
        polarity: Polarity::Positive,
        hi: 9.0,
        lo: 0.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 111111, 0, 555556, 666667, 777778, 666667, 0, 0, 0, 0,
            0, 0, 0, 0, 666667, 1000000, 1000000, 888889, 444444, 0, 0, 0, 0, 0, 0, 0, 777778,
            1000000, 0, 1000000, 555556, 0, 0, 0, 0, 0, 0, 0, 666667, 888889, 1000000, 888889,
            444444, 0, 0, 0, 0, 0, 0, 0, 333333, 555556, 666667, 444444, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 333333, 444444, 0, 0, 0, 0, 222222, 0, 0, 0, 0, 0, 444444, 666667, 0, 0, 0,
            0, 0, 0, 0, 111111, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 333333,
        ],
        outline: [
            "...........#",
            ".####.......",
            ".#...#......",
            ".#...#......",
            ".#...#......",
            ".####.......",
            "......##....",
            "......##....",
            "............",
            "............",
        ],
    },
    Case {
        upper: 90.0,
        lower: 0.0,
        polarity: Polarity::Negative,
        hi: 8.0,
        lo: 0.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 250000, 375000, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 500000, 750000, 250000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 375000, 1000000,
            625000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 250000, 0, 125000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            125000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        outline: [
            "............",
            "........##..",
            "........#.#.",
            "........#.#.",
            ".........#.#",
            "..........#.",
            "............",
            "............",
            "............",
            "............",
        ],
    },
    Case {
        upper: 95.0,
        lower: 30.0,
        polarity: Polarity::Positive,
        hi: 9.0,
        lo: 6.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 333333, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            1000000, 1000000, 666667, 0, 0, 0, 0, 0, 0, 0, 0, 333333, 1000000, 0, 1000000, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 666667, 1000000, 666667, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        outline: [
            "............",
            "..###.......",
            ".#..#.......",
            ".#..#.......",
            ".##.#.......",
            "...#........",
            "............",
            "............",
            "............",
            "............",
        ],
    },
    Case {
        upper: 95.0,
        lower: 30.0,
        polarity: Polarity::Negative,
        hi: 8.0,
        lo: 3.0,
        v_micro: [
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 200000, 600000, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1000000, 400000, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
            0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
        ],
        outline: [
            "............",
            ".........#..",
            "........##..",
            "........###.",
            "............",
            "............",
            "............",
            "............",
            "............",
            "............",
        ],
    },
];

fn attributions() -> Vec<f64> {
    PATTERN.iter().flatten().map(|&a| f64::from(a)).collect()
}

#[test]
fn thresholds_match_the_reference() {
    for case in &CASES {
        let sign = if case.polarity == Polarity::Positive {
            1.0
        } else {
            -1.0
        };
        let m: Vec<f64> = attributions().iter().map(|a| (sign * a).max(0.0)).collect();
        assert_eq!(
            clip_thresholds(&m, f64::from(case.upper), f64::from(case.lower)),
            Some((case.hi, case.lo)),
            "clip {}/{} {:?}",
            case.upper,
            case.lower,
            case.polarity
        );
    }
}

#[test]
fn normalised_values_match_the_reference() {
    // RED draws round(255 · v) in the red channel, for either sign.
    let image = plain(12, 10, [0, 0, 0]);
    for case in &CASES {
        let v = vis(
            VisualizationType::Pixels,
            case.polarity,
            ColorMap::Red,
            case.upper,
            case.lower,
            OverlayType::None,
        );
        let picture = draw(&attributions(), &image, &v);
        for (i, &micro) in case.v_micro.iter().enumerate() {
            let expected = (255.0 * f64::from(micro) / 1e6).round() as u8;
            assert_eq!(
                rgb(&picture, i % 12, i / 12),
                [expected, 0, 0],
                "pixel {i}, clip {}/{} {:?}",
                case.upper,
                case.lower,
                case.polarity
            );
        }
    }
}

#[test]
fn outlines_match_the_reference() {
    let image = plain(12, 10, [0, 0, 0]);
    for case in &CASES {
        let v = vis(
            VisualizationType::Outlines,
            case.polarity,
            ColorMap::Red,
            case.upper,
            case.lower,
            OverlayType::None,
        );
        let picture = draw(&attributions(), &image, &v);
        assert_eq!(
            rows(&picture, |c| c == [255, 0, 0]),
            case.outline,
            "clip {}/{} {:?}",
            case.upper,
            case.lower,
            case.polarity
        );
        assert!(
            rows(&picture, |c| c != [255, 0, 0] && c != [0, 0, 0])
                .iter()
                .all(|r| !r.contains('#')),
            "outlines are drawn at full strength only"
        );
    }
}
