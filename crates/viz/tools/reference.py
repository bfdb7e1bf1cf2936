"""Reference numbers for tests/viz/reference.rs, from an independent NumPy/SciPy
re-implementation of the Integrated Gradients authors' visualisation library
(VisualizationLibrary/visualization_lib.py in ankurtaly/Integrated-Gradients):
ComputeThresholdByTopPercentage, LinearTransform (low = 0), Polarity, Outlines, with
Prism's two documented changes (src/heatmap.rs): a percentile of 0 gives threshold 0,
and the OUTLINES mask is the shown pixels (m >= lo, m > 0) rather than v > 0.001.

Run from crates/viz with numpy 2.4 and scipy 1.17: `python3 tools/reference.py`.
It prints, for the PATTERN below, each pair of clip percentiles and each polarity, the
clip thresholds, the normalised values v (as integers v * 1e6, rounded, row by row) and
the OUTLINES mask as rows of '#' / '.'.
"""
import numpy as np
from scipy import ndimage

# 10 rows x 12 columns of attributions: a large positive blob with a hole, a small
# positive blob, positive specks, a negative blob touching a diagonal neighbour.
PATTERN = [
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
]
CLIPS = [(99.9, 62.0), (90.0, 0.0), (95.0, 30.0)]


def threshold(a, percentage):
    if percentage >= 100:
        return 0.0
    flat = a.flatten()
    total = np.sum(flat)
    s = np.sort(np.abs(flat))[::-1]
    cum = 100.0 * np.cumsum(s) / total
    return s[np.where(cum >= percentage)[0][0]]


def linear(a, upper, lower):
    m = threshold(a, 100 - upper)
    e = threshold(a, 100 - lower)
    t = (np.abs(a) - e) / (m - e)
    t *= np.sign(a)
    t *= t >= 0
    return m, e, np.clip(t, 0, 1), (a >= e) & (a > 0)


def outlines(shown):
    b = ndimage.binary_fill_holes(shown)
    cc, n = ndimage.label(b, structure=np.ones((3, 3)))
    total = np.sum(b[cc > 0])
    sums = sorted(
        [(np.sum(b[cc == i]), cc == i) for i in range(1, n + 1)],
        key=lambda x: x[0],
        reverse=True,
    )
    cum = np.cumsum([s for s, _ in sums])
    cut = min(np.where(cum >= 90 * total / 100)[0][0], 2)
    mask = np.zeros_like(b)
    for i in range(cut + 1):
        mask[sums[i][1]] = 1
    eroded = ndimage.binary_erosion(mask, iterations=1)
    mask[eroded] = 0
    return mask


a = np.array(PATTERN, dtype=float)
for upper, lower in CLIPS:
    for name, sel in [("positive", np.clip(a, 0, None)), ("negative", np.abs(np.clip(a, None, 0)))]:
        m, e, t, shown = linear(sel, upper, lower)
        print(f"// clip {upper}/{lower} {name}: hi {m}, lo {e}")
        print("v_times_1e6:", [int(round(x * 1e6)) for x in t.flatten()])
        print("outline:", ", ".join('"' + "".join("#" if x else "." for x in row) + '"' for row in outlines(shown)))
