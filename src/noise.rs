//! Gaussian noise as a pure function of (key, step, sample, channel, frame position).
//!
//! A counter-based generator rather than a stream: a tile sees exactly the noise the whole frame
//! would have at the same pixels, so tiled and untiled output agree where tiles overlap, results
//! do not depend on thread scheduling, and a frame's noise depends only on its seed and index.

use std::f32::consts::TAU;

/// How the noise of successive video frames relates.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum NoiseMode {
    /// Every frame uses the same noise: stochastic detail stays put, limiting flicker.
    #[default]
    Locked,
    /// Noise is seeded from (seed, frame index): a clip cut into segments gives the same frames
    /// as one pass, as long as frame indices continue across segments.
    PerFrame,
}

impl std::str::FromStr for NoiseMode {
    type Err = crate::Error;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "locked" => Ok(NoiseMode::Locked),
            "per-frame" => Ok(NoiseMode::PerFrame),
            other => Err(crate::Error::invalid_config(
                "noise-mode",
                other,
                "`locked` or `per-frame`",
            )),
        }
    }
}

/// SplitMix64's finaliser: a bijective 64-bit mixer with full avalanche.
#[inline]
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// The noise of one frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NoiseField {
    key: u64,
}

impl NoiseField {
    /// The noise for frame `frame_index` of a stream seeded with `seed`.
    pub fn for_frame(seed: u64, mode: NoiseMode, frame_index: u64) -> Self {
        let key = match mode {
            NoiseMode::Locked => mix(seed ^ GOLDEN),
            NoiseMode::PerFrame => mix(mix(seed ^ GOLDEN) ^ frame_index.wrapping_mul(GOLDEN)),
        };
        NoiseField { key }
    }

    /// Fills `out`, a `channels` x `height` x `width` block whose top-left pixel sits at frame
    /// position (`origin_x`, `origin_y`), with standard normal noise for reverse step `step` of
    /// sample `sample`.
    #[allow(clippy::too_many_arguments)]
    pub fn fill(
        &self,
        step: u32,
        sample: u32,
        origin_x: usize,
        origin_y: usize,
        channels: usize,
        height: usize,
        width: usize,
        out: &mut [f32],
    ) {
        assert_eq!(out.len(), channels * height * width);
        let draw = mix(self.key ^ mix((u64::from(step) << 32) | u64::from(sample)));
        for (c, plane) in out.chunks_exact_mut(height * width).enumerate() {
            let channel_key = mix(draw ^ (c as u64).wrapping_mul(GOLDEN));
            for (y, row) in plane.chunks_exact_mut(width).enumerate() {
                let row_key = mix(channel_key ^ ((origin_y + y) as u64).wrapping_mul(GOLDEN));
                fill_row(row_key, origin_x, row);
            }
        }
    }
}

/// One row: each pair of columns (2k, 2k+1) shares one Box–Muller draw from hash(row, k).
fn fill_row(row_key: u64, origin_x: usize, row: &mut [f32]) {
    const SCALE: f32 = 1.0 / (1u32 << 24) as f32;
    let mut x = origin_x;
    let mut out = row.iter_mut();
    while let Some(first) = out.next() {
        let bits = mix(row_key ^ ((x >> 1) as u64).wrapping_mul(GOLDEN));
        let u1 = ((bits >> 40) as f32 + 0.5) * SCALE;
        let u2 = ((bits & 0xff_ffff) as f32) * SCALE;
        let radius = (-2.0 * u1.ln()).sqrt();
        let (sin, cos) = (TAU * u2).sin_cos();
        if x & 1 == 0 {
            *first = radius * cos;
            if let Some(second) = out.next() {
                *second = radius * sin;
            }
            x += 2;
        } else {
            *first = radius * sin;
            x += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(field: NoiseField, ox: usize, oy: usize, h: usize, w: usize) -> Vec<f32> {
        let mut out = vec![0.0; 3 * h * w];
        field.fill(2, 1, ox, oy, 3, h, w, &mut out);
        out
    }

    #[test]
    fn noise_is_standard_normal() {
        let field = NoiseField::for_frame(7, NoiseMode::Locked, 0);
        let values = block(field, 0, 0, 200, 201);
        let n = values.len() as f64;
        let mean = values.iter().map(|&v| f64::from(v)).sum::<f64>() / n;
        let var = values
            .iter()
            .map(|&v| (f64::from(v) - mean).powi(2))
            .sum::<f64>()
            / n;
        assert!(mean.abs() < 0.01, "mean {mean}");
        assert!((var - 1.0).abs() < 0.02, "variance {var}");
        // Neighbouring pixels are uncorrelated.
        let lag: f64 = values
            .windows(2)
            .map(|p| f64::from(p[0]) * f64::from(p[1]))
            .sum::<f64>()
            / n;
        assert!(lag.abs() < 0.01, "lag-1 correlation {lag}");
    }

    #[test]
    fn a_sub_block_sees_the_same_noise_as_the_whole() {
        let field = NoiseField::for_frame(3, NoiseMode::PerFrame, 5);
        let whole = block(field, 0, 0, 40, 50);
        for (ox, oy) in [(0, 0), (1, 3), (7, 2), (13, 11)] {
            let (h, w) = (17, 23);
            let part = block(field, ox, oy, h, w);
            for c in 0..3 {
                for y in 0..h {
                    for x in 0..w {
                        assert_eq!(
                            part[(c * h + y) * w + x],
                            whole[(c * 40 + y + oy) * 50 + x + ox]
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn modes_key_frames_as_documented() {
        let locked: Vec<_> = (0..3)
            .map(|i| NoiseField::for_frame(9, NoiseMode::Locked, i))
            .collect();
        assert!(locked.iter().all(|f| *f == locked[0]));
        let per_frame: Vec<_> = (0..3)
            .map(|i| NoiseField::for_frame(9, NoiseMode::PerFrame, i))
            .collect();
        assert_ne!(per_frame[0], per_frame[1]);
        assert_eq!(
            per_frame[2],
            NoiseField::for_frame(9, NoiseMode::PerFrame, 2)
        );
        assert_ne!(
            NoiseField::for_frame(1, NoiseMode::Locked, 0),
            NoiseField::for_frame(2, NoiseMode::Locked, 0)
        );
    }
}
