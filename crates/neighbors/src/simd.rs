//! The hot loops: float distance kernels and the 4-bit lookup-table scan.
//!
//! This is one of the two modules of the crate allowed to use `unsafe` (the other is
//! `mapped`). Every function here has a portable version written with plain loops and, on
//! x86-64, an AVX2 (+FMA) version chosen at run time with `is_x86_feature_detected!`. The
//! public-in-crate functions are safe: they check lengths, detect the CPU's features and only
//! then call the `#[target_feature]` versions.
//!
//! # The 4-bit scan layout
//! Product-quantised codes are stored in blocks of 32 vectors ([`BLOCK`]). A vector has
//! `m` codes of 4 bits (`m` even), one per sub-space; a block holds `m / 2` groups of 32
//! bytes, one per pair of sub-spaces `(2p, 2p + 1)`:
//!
//! ```text
//! group p, byte i      (i < 16): code[2p]   of vector i (low nibble) | code[2p]   of vector i + 16 (high nibble)
//! group p, byte 16 + i (i < 16): code[2p+1] of vector i (low nibble) | code[2p+1] of vector i + 16 (high nibble)
//! ```
//!
//! The per-query lookup table holds `m × 16` bytes, 16 entries per sub-space in sub-space
//! order, so the 32 table bytes of pair `p` sit in one 256-bit register: its low 128-bit lane
//! is sub-space `2p`'s table and its high lane sub-space `2p + 1`'s. One `vpshufb` of the
//! register by the low nibbles of a group looks up 16 vectors in both sub-spaces at once, a
//! second by the high nibbles the other 16 (the trick of faiss's fast-scan and ScaNN).
//! Sums are kept in 16-bit lanes: the caller keeps every table entry at most
//! `u16::MAX / m`, so no sum overflows.
#![allow(unsafe_code)]

/// Vectors per block of 4-bit codes.
pub(crate) const BLOCK: usize = 32;

#[cfg(target_arch = "x86_64")]
fn has_avx2_fma() -> bool {
    std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma")
}

#[cfg(target_arch = "x86_64")]
fn has_avx2() -> bool {
    std::arch::is_x86_feature_detected!("avx2")
}

/// Inner product of two equally long slices.
#[inline]
pub(crate) fn dot(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: the CPU supports AVX2 and FMA (checked just above), and both slices have
        // length `n`, which is all `dot_avx2` reads.
        return unsafe { x86::dot_avx2(a, b) };
    }
    dot_portable(a, b)
}

/// Inner products of `x` with four equally long slices at once (one load of `x` serves
/// four products, which makes k-means assignment about twice as fast as four `dot`s).
#[inline]
pub(crate) fn dot4(x: &[f32], c: [&[f32]; 4]) -> [f32; 4] {
    let n = c.iter().fold(x.len(), |n, c| n.min(c.len()));
    let x = &x[..n];
    let c = [&c[0][..n], &c[1][..n], &c[2][..n], &c[3][..n]];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        // SAFETY: AVX-512F is present (checked above); all five slices have length `n`.
        return unsafe { x86::dot4_avx512(x, c) };
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present (checked above); all five slices have length `n`.
        return unsafe { x86::dot4_avx2(x, c) };
    }
    [
        dot_portable(x, c[0]),
        dot_portable(x, c[1]),
        dot_portable(x, c[2]),
        dot_portable(x, c[3]),
    ]
}

/// Inner products of four queries with three rows (`out[i][j] = q[i]·x[j]`): each loaded
/// float serves several products and twelve independent sums keep both FMA units busy, so
/// a batched exact scan is bound by arithmetic rather than by cache bandwidth.
#[inline]
pub(crate) fn dot_4x3(q: [&[f32]; 4], x: [&[f32]; 3]) -> [[f32; 3]; 4] {
    let n = q.iter().chain(&x).fold(usize::MAX, |n, v| n.min(v.len()));
    let q = [&q[0][..n], &q[1][..n], &q[2][..n], &q[3][..n]];
    let x = [&x[0][..n], &x[1][..n], &x[2][..n]];
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present (checked above); all seven slices have length `n`.
        return unsafe { x86::dot_4x3_avx2(q, x) };
    }
    let mut out = [[0f32; 3]; 4];
    for (o, q) in out.iter_mut().zip(q) {
        *o = [
            dot_portable(q, x[0]),
            dot_portable(q, x[1]),
            dot_portable(q, x[2]),
        ];
    }
    out
}

/// Queries per panel of the batched exact scan ([`panel_dots`]): 32 where the CPU has
/// AVX-512F (two 16-float registers per dimension), 16 otherwise (two 8-float registers).
pub(crate) fn panel_width() -> usize {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512f") {
        return 32;
    }
    16
}

/// Lays `queries` out for [`panel_dots`]: panel after panel of `width` queries, each
/// dimension-major (`panel[d * width + j]` is component `d` of the panel's query `j`), zero
/// where the last panel has fewer queries.
pub(crate) fn pack_panels(queries: &[&[f32]], dims: usize, width: usize) -> Vec<f32> {
    let panels = queries.len().div_ceil(width.max(1));
    let mut out = vec![0f32; panels * width * dims];
    for (i, q) in queries.iter().enumerate() {
        let (p, j) = (i / width, i % width);
        let panel = &mut out[p * width * dims..(p + 1) * width * dims];
        for (d, &v) in q.iter().enumerate().take(dims) {
            panel[d * width + j] = v;
        }
    }
    out
}

/// Inner products of every row of `rows` (`dims` floats each, row after row) with every
/// query of one panel laid out by [`pack_panels`]: `out[r * width + j] = rows[r] · query j`.
///
/// This is a matrix product's register-blocked micro-kernel (as in BLAS `sgemm`): each step
/// loads one dimension of the panel's queries into two registers, broadcasts that dimension
/// of 6 rows (AVX2, 16 queries) or 8 rows (AVX-512, 32 queries), and issues 12 or 16
/// independent FMAs, with no horizontal sums, so the scan runs near the FMA units' peak.
/// Sums run over dimensions in order, one product at a time.
pub(crate) fn panel_dots(panel: &[f32], width: usize, rows: &[f32], dims: usize, out: &mut [f32]) {
    if dims == 0 || width == 0 {
        out.fill(0.0);
        return;
    }
    let n = (rows.len() / dims).min(out.len() / width);
    let rows = &rows[..n * dims];
    let out = &mut out[..n * width];
    let panel = &panel[..dims * width];
    #[cfg(target_arch = "x86_64")]
    {
        if width == 32 && std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: AVX-512F is present (checked just above); `panel` holds `dims × 32`
            // floats, `rows` `n × dims` and `out` `n × 32`, which is all the kernel touches.
            unsafe { x86::panel_dots_avx512(panel, rows, dims, out) };
            return;
        }
        if width == 16 && has_avx2_fma() {
            // SAFETY: AVX2 and FMA are present; `panel` holds `dims × 16` floats, `rows`
            // `n × dims` and `out` `n × 16`, which is all the kernel touches.
            unsafe { x86::panel_dots_avx2(panel, rows, dims, out) };
            return;
        }
    }
    panel_dots_portable(panel, width, rows, dims, out);
}

/// Portable version of [`panel_dots`] (same order of summation: dimension by dimension).
pub(crate) fn panel_dots_portable(
    panel: &[f32],
    width: usize,
    rows: &[f32],
    dims: usize,
    out: &mut [f32],
) {
    for (x, o) in rows.chunks_exact(dims).zip(out.chunks_exact_mut(width)) {
        o.fill(0.0);
        for (&v, p) in x.iter().zip(panel.chunks_exact(width)) {
            for (o, &q) in o.iter_mut().zip(p) {
                *o = v.mul_add(q, *o);
            }
        }
    }
}

/// Decodes one row of scalar-quantised bytes: `out[d] = min[d] + scale[d] × codes[d]`.
#[inline]
pub(crate) fn decode_u8(codes: &[u8], min: &[f32], scale: &[f32], out: &mut [f32]) {
    let n = codes.len().min(min.len()).min(scale.len()).min(out.len());
    let (codes, min, scale, out) = (&codes[..n], &min[..n], &scale[..n], &mut out[..n]);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present (checked above); all four slices have length `n`.
        unsafe { x86::decode_u8_avx2(codes, min, scale, out) };
        return;
    }
    for (((o, &c), &lo), &s) in out.iter_mut().zip(codes).zip(min).zip(scale) {
        *o = lo + s * f32::from(c);
    }
}

/// Asks the CPU to start loading the first cache lines of `data` (a hint that never faults;
/// nothing happens on other architectures). The hardware prefetcher streams the rest of a
/// row once its start is requested.
#[inline]
pub(crate) fn prefetch(data: &[f32]) {
    #[cfg(target_arch = "x86_64")]
    for line in data.chunks(16).take(4) {
        // SAFETY: `_mm_prefetch` is a cache hint: it reads nothing architecturally and
        // cannot fault; the pointer comes from a live slice. SSE is in the x86-64 baseline.
        unsafe {
            std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                line.as_ptr().cast::<i8>(),
            )
        };
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Asks the CPU to start loading every cache line of `data` (a hint that never faults;
/// nothing happens on other architectures): re-ordering's candidate rows, fetched all at
/// once before the first is read, so that their loads overlap.
#[inline]
pub(crate) fn prefetch_all<T>(data: &[T]) {
    #[cfg(target_arch = "x86_64")]
    {
        let start = data.as_ptr().cast::<i8>();
        for offset in (0..std::mem::size_of_val(data)).step_by(64) {
            // SAFETY: `_mm_prefetch` is a cache hint: it reads nothing architecturally and
            // cannot fault; the address lies inside a live slice. SSE is in the x86-64
            // baseline.
            unsafe {
                std::arch::x86_64::_mm_prefetch::<{ std::arch::x86_64::_MM_HINT_T0 }>(
                    start.wrapping_add(offset),
                )
            };
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = data;
}

/// Sixteen lookup-table entries to bytes: `out[j] = round((t[j] − lo) × inv)`, capped at
/// `max_entry` (at most 255) and floored at 0 (a NaN reads as `max_entry`). Plain loops the compiler
/// vectorises: the clamp keeps every value in `0..=255`, so the truncation can skip Rust's
/// saturating conversion, which does not vectorise.
#[inline]
pub(crate) fn quantize16(t: &[f32; 16], lo: f32, inv: f32, max_entry: f32, out: &mut [u8; 16]) {
    let max_entry = max_entry.clamp(0.0, 255.0);
    let mut clamped = [0f32; 16];
    for (c, &v) in clamped.iter_mut().zip(t) {
        // Adding 0.5 and truncating rounds to nearest (the value is non-negative).
        let x = (v - lo) * inv + 0.5;
        let x = if x < max_entry { x } else { max_entry };
        *c = if x > 0.0 { x } else { 0.0 };
    }
    for (o, &c) in out.iter_mut().zip(&clamped) {
        // SAFETY: `c` is finite and in 0..=255 (clamped just above; a NaN fails the first
        // comparison and becomes `max_entry`), so it truncates to an `i32` that fits in a
        // `u8`.
        *o = unsafe { c.to_int_unchecked::<i32>() } as u8;
    }
}

/// Squared Euclidean distance of two equally long slices.
#[inline]
pub(crate) fn l2sq(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 and FMA are present (checked above); both slices have length `n`.
        return unsafe { x86::l2sq_avx2(a, b) };
    }
    l2sq_portable(a, b)
}

/// Manhattan distance of two equally long slices.
#[inline]
pub(crate) fn l1(a: &[f32], b: &[f32]) -> f32 {
    let n = a.len().min(b.len());
    let (a, b) = (&a[..n], &b[..n]);
    #[cfg(target_arch = "x86_64")]
    if has_avx2_fma() {
        // SAFETY: AVX2 is present (checked above); both slices have length `n`.
        return unsafe { x86::l1_avx2(a, b) };
    }
    l1_portable(a, b)
}

/// Portable inner product: 8 independent accumulators, which compilers vectorise.
pub(crate) fn dot_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += x[i] * y[i];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Portable squared Euclidean distance.
pub(crate) fn l2sq_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y) * (x - y))
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            let d = x[i] - y[i];
            acc[i] += d * d;
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Portable Manhattan distance.
pub(crate) fn l1_portable(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 8];
    let ca = a.chunks_exact(8);
    let cb = b.chunks_exact(8);
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| (x - y).abs())
        .sum();
    for (x, y) in ca.zip(cb) {
        for i in 0..8 {
            acc[i] += (x[i] - y[i]).abs();
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Scores whole blocks of 4-bit codes against a quantised lookup table.
///
/// `codes` holds `out.len() / BLOCK` blocks of `m / 2 × 32` bytes laid out as the module doc
/// says, `lut` holds `m × 16` entries; `out[j]` receives the sum of vector `j`'s table
/// entries. Lengths that do not fit are a bug of the caller and are trimmed, never read
/// past.
pub(crate) fn scan_blocks(codes: &[u8], lut: &[u8], m: usize, out: &mut [u16]) {
    let pairs = m / 2;
    let block_bytes = pairs * BLOCK;
    if block_bytes == 0 || lut.len() < m * 16 {
        out.fill(0);
        return;
    }
    let blocks = (codes.len() / block_bytes).min(out.len() / BLOCK);
    let codes = &codes[..blocks * block_bytes];
    let out = &mut out[..blocks * BLOCK];
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx512bw") {
        // SAFETY: AVX-512BW (and so AVX2) is present (checked above); the lengths are as
        // for `scan_avx2` below, which is all `scan_avx512` reads and writes.
        unsafe { x86::scan_avx512(codes, lut, pairs, out) };
        return;
    }
    #[cfg(target_arch = "x86_64")]
    if has_avx2() {
        // SAFETY: AVX2 is present (checked above). `codes` holds exactly `blocks` blocks of
        // `pairs * 32` bytes, `lut` at least `pairs * 32` bytes and `out` exactly
        // `blocks * 32` entries, which is all `scan_avx2` reads and writes.
        unsafe { x86::scan_avx2(codes, lut, pairs, out) };
        return;
    }
    scan_blocks_portable(codes, lut, m, out);
}

/// Bit `j` is set where `sums[j] <= bound`, for the 32 sums of one block (fewer sums leave
/// the high bits clear): lets the tree-AH scan skip, 32 codes at a time, those that cannot
/// enter the candidates.
#[inline]
pub(crate) fn block_mask(sums: &[u16], bound: u16) -> u32 {
    #[cfg(target_arch = "x86_64")]
    if sums.len() == BLOCK && has_avx2() {
        // SAFETY: AVX2 is present (checked above) and `sums` holds 32 entries, all the
        // function reads.
        return unsafe { x86::block_mask_avx2(sums, bound) };
    }
    sums.iter()
        .take(BLOCK)
        .enumerate()
        .fold(0, |m, (j, &s)| m | (u32::from(s <= bound) << j))
}

/// Portable version of [`scan_blocks`], also the reference its SIMD version is tested with.
pub(crate) fn scan_blocks_portable(codes: &[u8], lut: &[u8], m: usize, out: &mut [u16]) {
    let pairs = m / 2;
    let block_bytes = pairs * BLOCK;
    if block_bytes == 0 {
        return;
    }
    for (block, out) in codes
        .chunks_exact(block_bytes)
        .zip(out.chunks_exact_mut(BLOCK))
    {
        out.fill(0);
        for p in 0..pairs {
            let group = &block[p * 32..p * 32 + 32];
            let t0 = &lut[2 * p * 16..2 * p * 16 + 16];
            let t1 = &lut[(2 * p + 1) * 16..(2 * p + 1) * 16 + 16];
            for i in 0..16 {
                let (b0, b1) = (group[i], group[16 + i]);
                out[i] += u16::from(t0[usize::from(b0 & 15)]) + u16::from(t1[usize::from(b1 & 15)]);
                out[16 + i] +=
                    u16::from(t0[usize::from(b0 >> 4)]) + u16::from(t1[usize::from(b1 >> 4)]);
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {

    use std::arch::x86_64::*;

    #[inline]
    #[target_feature(enable = "avx2,fma")]
    fn hsum256(v: __m256) -> f32 {
        let lo = _mm256_castps256_ps128(v);
        let hi = _mm256_extractf128_ps(v, 1);
        let s = _mm_add_ps(lo, hi);
        let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
        let s = _mm_add_ss(s, _mm_shuffle_ps(s, s, 1));
        _mm_cvtss_f32(s)
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 <= i + 32 <= n, so both 8-float loads are in bounds.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    )
                };
                *acc = _mm256_fmadd_ps(x, y, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_fmadd_ps(x, y, acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum256(s);
        for j in i..n {
            total += a[j] * b[j];
        }
        total
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and every `c[i]` must be as long as `x`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot4_avx2(x: &[f32], c: [&[f32]; 4]) -> [f32; 4] {
        let n = x.len();
        let px = x.as_ptr();
        let pc = [c[0].as_ptr(), c[1].as_ptr(), c[2].as_ptr(), c[3].as_ptr()];
        let mut acc = [_mm256_setzero_ps(); 8];
        let mut i = 0;
        while i + 16 <= n {
            // SAFETY: i + 16 <= n, the length of `x` and of every `c[j]`.
            unsafe {
                let x0 = _mm256_loadu_ps(px.add(i));
                let x1 = _mm256_loadu_ps(px.add(i + 8));
                for j in 0..4 {
                    acc[j] = _mm256_fmadd_ps(x0, _mm256_loadu_ps(pc[j].add(i)), acc[j]);
                    acc[4 + j] = _mm256_fmadd_ps(x1, _mm256_loadu_ps(pc[j].add(i + 8)), acc[4 + j]);
                }
            }
            i += 16;
        }
        let mut out = [0f32; 4];
        for j in 0..4 {
            out[j] = hsum256(_mm256_add_ps(acc[j], acc[4 + j]));
            for t in i..n {
                out[j] += x[t] * c[j][t];
            }
        }
        out
    }

    /// [`dot4_avx2`] with 16-float registers.
    ///
    /// # Safety
    /// The CPU must support AVX-512F, and every `c[i]` must be as long as `x`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn dot4_avx512(x: &[f32], c: [&[f32]; 4]) -> [f32; 4] {
        let n = x.len();
        let px = x.as_ptr();
        let pc = [c[0].as_ptr(), c[1].as_ptr(), c[2].as_ptr(), c[3].as_ptr()];
        let mut acc = [_mm512_setzero_ps(); 8];
        let mut i = 0;
        while i + 32 <= n {
            // SAFETY: i + 32 <= n, the length of `x` and of every `c[j]`.
            unsafe {
                let x0 = _mm512_loadu_ps(px.add(i));
                let x1 = _mm512_loadu_ps(px.add(i + 16));
                for j in 0..4 {
                    acc[j] = _mm512_fmadd_ps(x0, _mm512_loadu_ps(pc[j].add(i)), acc[j]);
                    acc[4 + j] =
                        _mm512_fmadd_ps(x1, _mm512_loadu_ps(pc[j].add(i + 16)), acc[4 + j]);
                }
            }
            i += 32;
        }
        let mut out = [0f32; 4];
        for j in 0..4 {
            out[j] = _mm512_reduce_add_ps(_mm512_add_ps(acc[j], acc[4 + j]));
            for t in i..n {
                out[j] += x[t] * c[j][t];
            }
        }
        out
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and all seven slices must have one length.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn dot_4x3_avx2(q: [&[f32]; 4], x: [&[f32]; 3]) -> [[f32; 3]; 4] {
        let n = x[0].len();
        let pq = [q[0].as_ptr(), q[1].as_ptr(), q[2].as_ptr(), q[3].as_ptr()];
        let px = [x[0].as_ptr(), x[1].as_ptr(), x[2].as_ptr()];
        let mut acc = [[_mm256_setzero_ps(); 3]; 4];
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n, the length of every slice.
            unsafe {
                let x0 = _mm256_loadu_ps(px[0].add(i));
                let x1 = _mm256_loadu_ps(px[1].add(i));
                let x2 = _mm256_loadu_ps(px[2].add(i));
                for (acc, pq) in acc.iter_mut().zip(pq) {
                    let qv = _mm256_loadu_ps(pq.add(i));
                    acc[0] = _mm256_fmadd_ps(qv, x0, acc[0]);
                    acc[1] = _mm256_fmadd_ps(qv, x1, acc[1]);
                    acc[2] = _mm256_fmadd_ps(qv, x2, acc[2]);
                }
            }
            i += 8;
        }
        let mut out = [[0f32; 3]; 4];
        for (a, (acc, q)) in out.iter_mut().zip(acc.iter().zip(q)) {
            for j in 0..3 {
                a[j] = hsum256(acc[j]);
                for t in i..n {
                    a[j] += q[t] * x[j][t];
                }
            }
        }
        out
    }

    /// `R` rows (`rows` holds them back to back) against a panel of 16 queries.
    ///
    /// # Safety
    /// The CPU must support AVX2 and FMA; `panel` must hold `dims × 16` floats, `rows`
    /// `R × dims` and `out` `R × 16`.
    #[inline]
    #[target_feature(enable = "avx2,fma")]
    unsafe fn panel_rows_avx2<const R: usize>(
        panel: *const f32,
        rows: *const f32,
        dims: usize,
        out: *mut f32,
    ) {
        let mut acc = [[_mm256_setzero_ps(); 2]; R];
        for d in 0..dims {
            // SAFETY: d < dims, so the panel reads end at dims × 16 and the row reads at
            // (R − 1) × dims + dims, within the lengths the caller guarantees.
            unsafe {
                let p0 = _mm256_loadu_ps(panel.add(d * 16));
                let p1 = _mm256_loadu_ps(panel.add(d * 16 + 8));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm256_broadcast_ss(&*rows.add(r * dims + d));
                    acc[0] = _mm256_fmadd_ps(p0, x, acc[0]);
                    acc[1] = _mm256_fmadd_ps(p1, x, acc[1]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: out holds R × 16 floats.
            unsafe {
                _mm256_storeu_ps(out.add(r * 16), acc[0]);
                _mm256_storeu_ps(out.add(r * 16 + 8), acc[1]);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA; `panel.len() >= dims × 16`, `rows.len()` is a
    /// multiple `n × dims` of `dims` and `out.len() == n × 16`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn panel_dots_avx2(
        panel: &[f32],
        rows: &[f32],
        dims: usize,
        out: &mut [f32],
    ) {
        const R: usize = 6;
        let n = rows.len() / dims;
        let (pp, pr, po) = (panel.as_ptr(), rows.as_ptr(), out.as_mut_ptr());
        let mut r = 0;
        while r + R <= n {
            // SAFETY: rows r..r + R exist (r + R <= n), so the kernel reads within `rows`
            // and writes within `out`; the panel holds dims × 16 floats.
            unsafe { panel_rows_avx2::<R>(pp, pr.add(r * dims), dims, po.add(r * 16)) };
            r += R;
        }
        // SAFETY: rows r..n exist (fewer than R), so the kernel for n − r rows reads within
        // `rows` and writes within `out`; the panel holds dims × 16 floats.
        unsafe {
            let (x, o) = (pr.add(r * dims), po.add(r * 16));
            match n - r {
                1 => panel_rows_avx2::<1>(pp, x, dims, o),
                2 => panel_rows_avx2::<2>(pp, x, dims, o),
                3 => panel_rows_avx2::<3>(pp, x, dims, o),
                4 => panel_rows_avx2::<4>(pp, x, dims, o),
                5 => panel_rows_avx2::<5>(pp, x, dims, o),
                _ => {}
            }
        }
    }

    /// `R` rows against a panel of 32 queries.
    ///
    /// # Safety
    /// The CPU must support AVX-512F; `panel` must hold `dims × 32` floats, `rows`
    /// `R × dims` and `out` `R × 32`.
    #[inline]
    #[target_feature(enable = "avx512f")]
    unsafe fn panel_rows_avx512<const R: usize>(
        panel: *const f32,
        rows: *const f32,
        dims: usize,
        out: *mut f32,
    ) {
        let mut acc = [[_mm512_setzero_ps(); 2]; R];
        for d in 0..dims {
            // SAFETY: d < dims, so every read is within the lengths the caller guarantees.
            unsafe {
                let p0 = _mm512_loadu_ps(panel.add(d * 32));
                let p1 = _mm512_loadu_ps(panel.add(d * 32 + 16));
                for (r, acc) in acc.iter_mut().enumerate() {
                    let x = _mm512_set1_ps(*rows.add(r * dims + d));
                    acc[0] = _mm512_fmadd_ps(p0, x, acc[0]);
                    acc[1] = _mm512_fmadd_ps(p1, x, acc[1]);
                }
            }
        }
        for (r, acc) in acc.iter().enumerate() {
            // SAFETY: out holds R × 32 floats.
            unsafe {
                _mm512_storeu_ps(out.add(r * 32), acc[0]);
                _mm512_storeu_ps(out.add(r * 32 + 16), acc[1]);
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX-512F; `panel.len() >= dims × 32`, `rows.len()` is a multiple
    /// `n × dims` of `dims` and `out.len() == n × 32`.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn panel_dots_avx512(
        panel: &[f32],
        rows: &[f32],
        dims: usize,
        out: &mut [f32],
    ) {
        const R: usize = 8;
        let n = rows.len() / dims;
        let (pp, pr, po) = (panel.as_ptr(), rows.as_ptr(), out.as_mut_ptr());
        let mut r = 0;
        while r + R <= n {
            // SAFETY: rows r..r + R exist (r + R <= n), so the kernel reads within `rows`
            // and writes within `out`; the panel holds dims × 32 floats.
            unsafe { panel_rows_avx512::<R>(pp, pr.add(r * dims), dims, po.add(r * 32)) };
            r += R;
        }
        // SAFETY: rows r..n exist (fewer than R), so the kernel for n − r rows reads within
        // `rows` and writes within `out`; the panel holds dims × 32 floats.
        unsafe {
            let (x, o) = (pr.add(r * dims), po.add(r * 32));
            match n - r {
                1 => panel_rows_avx512::<1>(pp, x, dims, o),
                2 => panel_rows_avx512::<2>(pp, x, dims, o),
                3 => panel_rows_avx512::<3>(pp, x, dims, o),
                4 => panel_rows_avx512::<4>(pp, x, dims, o),
                5 => panel_rows_avx512::<5>(pp, x, dims, o),
                6 => panel_rows_avx512::<6>(pp, x, dims, o),
                7 => panel_rows_avx512::<7>(pp, x, dims, o),
                _ => {}
            }
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and all four slices must have one length.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn decode_u8_avx2(codes: &[u8], min: &[f32], scale: &[f32], out: &mut [f32]) {
        let n = codes.len();
        let (pc, pm, ps, po) = (
            codes.as_ptr(),
            min.as_ptr(),
            scale.as_ptr(),
            out.as_mut_ptr(),
        );
        let mut i = 0;
        while i + 8 <= n {
            // SAFETY: i + 8 <= n, the length of every slice.
            unsafe {
                let c = _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(_mm_loadl_epi64(
                    pc.add(i).cast::<__m128i>(),
                )));
                let v = _mm256_fmadd_ps(_mm256_loadu_ps(ps.add(i)), c, _mm256_loadu_ps(pm.add(i)));
                _mm256_storeu_ps(po.add(i), v);
            }
            i += 8;
        }
        for j in i..n {
            out[j] = scale[j].mul_add(f32::from(codes[j]), min[j]);
        }
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn l2sq_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 <= i + 32 <= n.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    )
                };
                let d = _mm256_sub_ps(x, y);
                *acc = _mm256_fmadd_ps(d, d, *acc);
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            let d = _mm256_sub_ps(x, y);
            acc[0] = _mm256_fmadd_ps(d, d, acc[0]);
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum256(s);
        for j in i..n {
            let d = a[j] - b[j];
            total += d * d;
        }
        total
    }

    /// # Safety
    /// The CPU must support AVX2 and FMA, and `a.len() == b.len()`.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn l1_avx2(a: &[f32], b: &[f32]) -> f32 {
        let n = a.len();
        let (pa, pb) = (a.as_ptr(), b.as_ptr());
        let sign = _mm256_set1_ps(-0.0);
        let mut acc = [_mm256_setzero_ps(); 4];
        let mut i = 0;
        while i + 32 <= n {
            for (k, acc) in acc.iter_mut().enumerate() {
                // SAFETY: i + 8k + 8 <= i + 32 <= n.
                let (x, y) = unsafe {
                    (
                        _mm256_loadu_ps(pa.add(i + 8 * k)),
                        _mm256_loadu_ps(pb.add(i + 8 * k)),
                    )
                };
                *acc = _mm256_add_ps(*acc, _mm256_andnot_ps(sign, _mm256_sub_ps(x, y)));
            }
            i += 32;
        }
        while i + 8 <= n {
            // SAFETY: i + 8 <= n.
            let (x, y) = unsafe { (_mm256_loadu_ps(pa.add(i)), _mm256_loadu_ps(pb.add(i))) };
            acc[0] = _mm256_add_ps(acc[0], _mm256_andnot_ps(sign, _mm256_sub_ps(x, y)));
            i += 8;
        }
        let s = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
        let mut total = hsum256(s);
        for j in i..n {
            total += (a[j] - b[j]).abs();
        }
        total
    }

    /// # Safety
    /// The CPU must support AVX2; `codes.len()` must be a multiple of `pairs * 32`,
    /// `lut.len() >= pairs * 32` and `out.len() == codes.len() / (pairs * 32) * 32`.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn scan_avx2(codes: &[u8], lut: &[u8], pairs: usize, out: &mut [u16]) {
        let block_bytes = pairs * 32;
        let mask = _mm256_set1_epi8(0x0f);
        let pl = lut.as_ptr();
        for (block, out) in codes
            .chunks_exact(block_bytes)
            .zip(out.chunks_exact_mut(32))
        {
            let pc = block.as_ptr();
            let mut lo_even = _mm256_setzero_si256();
            let mut lo_odd = _mm256_setzero_si256();
            let mut hi_even = _mm256_setzero_si256();
            let mut hi_odd = _mm256_setzero_si256();
            for p in 0..pairs {
                // SAFETY: p * 32 + 32 <= block_bytes = block.len() and <= lut.len().
                let (c, t) = unsafe {
                    (
                        _mm256_loadu_si256(pc.add(p * 32).cast::<__m256i>()),
                        _mm256_loadu_si256(pl.add(p * 32).cast::<__m256i>()),
                    )
                };
                let lo = _mm256_and_si256(c, mask);
                let hi = _mm256_and_si256(_mm256_srli_epi16(c, 4), mask);
                let r_lo = _mm256_shuffle_epi8(t, lo);
                let r_hi = _mm256_shuffle_epi8(t, hi);
                // Adding the bytes as 16-bit words sums even bytes plus 256 × odd bytes;
                // the odd bytes are also summed on their own and taken out at the end.
                lo_even = _mm256_add_epi16(lo_even, r_lo);
                lo_odd = _mm256_add_epi16(lo_odd, _mm256_srli_epi16(r_lo, 8));
                hi_even = _mm256_add_epi16(hi_even, r_hi);
                hi_odd = _mm256_add_epi16(hi_odd, _mm256_srli_epi16(r_hi, 8));
            }
            // SAFETY: AVX2 is present (the caller's guarantee); `out` has 32 entries.
            unsafe { finish_block(lo_even, lo_odd, hi_even, hi_odd, out) };
        }
    }

    /// Turns a block's four accumulators (see `scan_avx2`) into its 32 sums.
    ///
    /// # Safety
    /// The CPU must support AVX2, and `out` must have 32 entries.
    #[inline]
    #[target_feature(enable = "avx2")]
    unsafe fn finish_block(
        lo_even: __m256i,
        lo_odd: __m256i,
        hi_even: __m256i,
        hi_odd: __m256i,
        out: &mut [u16],
    ) {
        let lo_even = _mm256_sub_epi16(lo_even, _mm256_slli_epi16(lo_odd, 8));
        let hi_even = _mm256_sub_epi16(hi_even, _mm256_slli_epi16(hi_odd, 8));
        // Lane 0 holds sub-space 2p's sums, lane 1 sub-space 2p+1's, for the same vectors.
        let fold =
            |v: __m256i| _mm_add_epi16(_mm256_castsi256_si128(v), _mm256_extracti128_si256(v, 1));
        let (le, lo_, he, ho) = (fold(lo_even), fold(lo_odd), fold(hi_even), fold(hi_odd));
        let po = out[..32].as_mut_ptr();
        // SAFETY: `out` has 32 u16 entries; the four 8-entry stores cover 0..32.
        unsafe {
            _mm_storeu_si128(po.cast::<__m128i>(), _mm_unpacklo_epi16(le, lo_));
            _mm_storeu_si128(po.add(8).cast::<__m128i>(), _mm_unpackhi_epi16(le, lo_));
            _mm_storeu_si128(po.add(16).cast::<__m128i>(), _mm_unpacklo_epi16(he, ho));
            _mm_storeu_si128(po.add(24).cast::<__m128i>(), _mm_unpackhi_epi16(he, ho));
        }
    }

    /// [`scan_avx2`] two pairs of sub-spaces at a time: a 512-bit shuffle looks up four
    /// 16-entry tables (sub-spaces 2p … 2p + 3) in its four 128-bit lanes, and the two
    /// 256-bit halves of the accumulators are added before the AVX2 epilogue.
    ///
    /// # Safety
    /// As for [`scan_avx2`], with AVX-512BW instead of AVX2.
    #[target_feature(enable = "avx512bw")]
    pub(super) unsafe fn scan_avx512(codes: &[u8], lut: &[u8], pairs: usize, out: &mut [u16]) {
        let block_bytes = pairs * 32;
        let mask = _mm512_set1_epi8(0x0f);
        let mask256 = _mm256_set1_epi8(0x0f);
        let pl = lut.as_ptr();
        for (block, out) in codes
            .chunks_exact(block_bytes)
            .zip(out.chunks_exact_mut(32))
        {
            let pc = block.as_ptr();
            let mut acc = [_mm512_setzero_si512(); 4];
            let mut p = 0;
            while p + 2 <= pairs {
                // SAFETY: p * 32 + 64 <= block_bytes = block.len() and <= lut.len().
                let (c, t) = unsafe {
                    (
                        _mm512_loadu_si512(pc.add(p * 32).cast()),
                        _mm512_loadu_si512(pl.add(p * 32).cast()),
                    )
                };
                let lo = _mm512_and_si512(c, mask);
                let hi = _mm512_and_si512(_mm512_srli_epi16(c, 4), mask);
                let r_lo = _mm512_shuffle_epi8(t, lo);
                let r_hi = _mm512_shuffle_epi8(t, hi);
                acc[0] = _mm512_add_epi16(acc[0], r_lo);
                acc[1] = _mm512_add_epi16(acc[1], _mm512_srli_epi16(r_lo, 8));
                acc[2] = _mm512_add_epi16(acc[2], r_hi);
                acc[3] = _mm512_add_epi16(acc[3], _mm512_srli_epi16(r_hi, 8));
                p += 2;
            }
            let half = |v: __m512i| {
                _mm256_add_epi16(_mm512_castsi512_si256(v), _mm512_extracti64x4_epi64(v, 1))
            };
            let mut h = [half(acc[0]), half(acc[1]), half(acc[2]), half(acc[3])];
            if p < pairs {
                // SAFETY: p * 32 + 32 <= block_bytes and <= lut.len().
                let (c, t) = unsafe {
                    (
                        _mm256_loadu_si256(pc.add(p * 32).cast::<__m256i>()),
                        _mm256_loadu_si256(pl.add(p * 32).cast::<__m256i>()),
                    )
                };
                let r_lo = _mm256_shuffle_epi8(t, _mm256_and_si256(c, mask256));
                let r_hi =
                    _mm256_shuffle_epi8(t, _mm256_and_si256(_mm256_srli_epi16(c, 4), mask256));
                h[0] = _mm256_add_epi16(h[0], r_lo);
                h[1] = _mm256_add_epi16(h[1], _mm256_srli_epi16(r_lo, 8));
                h[2] = _mm256_add_epi16(h[2], r_hi);
                h[3] = _mm256_add_epi16(h[3], _mm256_srli_epi16(r_hi, 8));
            }
            // SAFETY: AVX2 is implied by AVX-512BW; `out` has 32 entries.
            unsafe { finish_block(h[0], h[1], h[2], h[3], out) };
        }
    }

    /// # Safety
    /// The CPU must support AVX2, and `sums` must hold 32 entries.
    #[target_feature(enable = "avx2")]
    pub(super) unsafe fn block_mask_avx2(sums: &[u16], bound: u16) -> u32 {
        let b = _mm256_set1_epi16(bound as i16);
        let p = sums.as_ptr().cast::<__m256i>();
        // SAFETY: `sums` holds 32 u16 = two 256-bit loads.
        let (x0, x1) = unsafe { (_mm256_loadu_si256(p), _mm256_loadu_si256(p.add(1))) };
        // Unsigned x <= b exactly where min(x, b) == x.
        let c0 = _mm256_cmpeq_epi16(_mm256_min_epu16(x0, b), x0);
        let c1 = _mm256_cmpeq_epi16(_mm256_min_epu16(x1, b), x1);
        // Pack the 16-bit masks to bytes (lane-interleaved), restore the order, take bits.
        let packed = _mm256_permute4x64_epi64(_mm256_packs_epi16(c0, c1), 0b11_01_10_00);
        _mm256_movemask_epi8(packed) as u32
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;

    #[test]
    fn float_kernels_match_portable() {
        let mut rng = ChaCha8Rng::seed_from_u64(7);
        for n in [0, 1, 7, 8, 31, 32, 33, 100, 384] {
            let a: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let b: Vec<f32> = (0..n).map(|_| rng.random_range(-1.0..1.0)).collect();
            let tol = 1e-4 * (n as f32 + 1.0);
            assert!((dot(&a, &b) - dot_portable(&a, &b)).abs() < tol);
            assert!((l2sq(&a, &b) - l2sq_portable(&a, &b)).abs() < tol);
            assert!((l1(&a, &b) - l1_portable(&a, &b)).abs() < tol);
            let naive: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
            assert!((dot(&a, &b) - naive).abs() < tol);
            let four = dot4(&a, [&b, &a, &b, &a]);
            assert!((four[0] - naive).abs() < tol && (four[2] - naive).abs() < tol);
            assert!((four[1] - dot_portable(&a, &a)).abs() < tol);
            let codes: Vec<u8> = (0..n).map(|i| (i * 37 % 256) as u8).collect();
            let mut decoded = vec![0f32; n];
            decode_u8(&codes, &a, &b, &mut decoded);
            for i in 0..n {
                assert!((decoded[i] - (a[i] + b[i] * f32::from(codes[i]))).abs() < 1e-3);
            }
            let grid = dot_4x3([&a, &b, &a, &b], [&b, &a, &b]);
            assert!((grid[0][0] - naive).abs() < tol && (grid[3][1] - naive).abs() < tol);
            assert!((grid[2][1] - dot_portable(&a, &a)).abs() < tol);
            assert!((grid[1][2] - dot_portable(&b, &b)).abs() < tol);
        }
    }

    #[test]
    fn panel_kernels_match_portable() {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        for width in [16usize, 32] {
            for dims in [1usize, 7, 21, 384] {
                for n in [1usize, 5, 6, 7, 8, 9, 17] {
                    let qs: Vec<Vec<f32>> = (0..width - 3)
                        .map(|_| (0..dims).map(|_| rng.random_range(-1.0..1.0)).collect())
                        .collect();
                    let refs: Vec<&[f32]> = qs.iter().map(Vec::as_slice).collect();
                    let panel = pack_panels(&refs, dims, width);
                    let rows: Vec<f32> =
                        (0..n * dims).map(|_| rng.random_range(-1.0..1.0)).collect();
                    let mut fast = vec![0f32; n * width];
                    let mut slow = vec![0f32; n * width];
                    panel_dots(&panel, width, &rows, dims, &mut fast);
                    panel_dots_portable(&panel, width, &rows, dims, &mut slow);
                    for (r, x) in rows.chunks_exact(dims).enumerate() {
                        for j in 0..width {
                            let want = if j < qs.len() {
                                dot_portable(&qs[j], x)
                            } else {
                                0.0
                            };
                            let tol = 1e-4 * (dims as f32 + 1.0);
                            assert!(
                                (fast[r * width + j] - want).abs() < tol,
                                "{width} {dims} {n}"
                            );
                            assert!((slow[r * width + j] - want).abs() < tol);
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn scan_matches_portable() {
        let mut rng = ChaCha8Rng::seed_from_u64(9);
        for m in [2usize, 4, 6, 8, 10, 192, 194] {
            let blocks = 3;
            let codes: Vec<u8> = (0..blocks * m / 2 * BLOCK).map(|_| rng.random()).collect();
            let max = (u16::MAX as usize / m).min(255) as u8;
            let lut: Vec<u8> = (0..m * 16).map(|_| rng.random_range(0..=max)).collect();
            let mut fast = vec![0u16; blocks * BLOCK];
            let mut slow = vec![0u16; blocks * BLOCK];
            scan_blocks(&codes, &lut, m, &mut fast);
            scan_blocks_portable(&codes, &lut, m, &mut slow);
            assert_eq!(fast, slow, "m = {m}");
            for bound in [0u16, 1, 700, 3000, u16::MAX] {
                for sums in slow.chunks(BLOCK) {
                    let want = sums
                        .iter()
                        .enumerate()
                        .fold(0u32, |a, (j, &s)| a | (u32::from(s <= bound) << j));
                    assert_eq!(block_mask(sums, bound), want, "bound {bound}");
                }
            }
        }
    }
}
