//! Gaussian noise as a pure function of (key, step, sample, channel, frame position).
//!
//! A counter-based generator rather than a stream: a tile sees exactly the noise the whole frame
//! would have at the same pixels, so tiled and untiled output agree where tiles overlap, results
//! do not depend on thread scheduling, and a frame's noise depends only on its seed and index.

use std::sync::OnceLock;

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

/// Standard normal quantiles at the centres of 2^16 equal-probability bins, scaled to unit
/// variance: a 16-bit uniform indexes a normal draw (tails end at ±4.2σ, which diffusion noise
/// does not miss). Four draws per 64-bit hash make noise nearly free next to the networks.
fn normal_table() -> &'static [f32; 1 << 16] {
    static TABLE: OnceLock<Box<[f32; 1 << 16]>> = OnceLock::new();
    TABLE.get_or_init(|| {
        let n = 1usize << 16;
        let quantiles: Vec<f64> = (0..n)
            .map(|i| inverse_normal_cdf((i as f64 + 0.5) / n as f64))
            .collect();
        let variance = quantiles.iter().map(|q| q * q).sum::<f64>() / n as f64;
        let scale = variance.sqrt().recip();
        let mut table = Box::new([0.0f32; 1 << 16]);
        for (t, q) in table.iter_mut().zip(&quantiles) {
            *t = (q * scale) as f32;
        }
        table
    })
}

/// Φ⁻¹(p) by Acklam's rational approximation (relative error below 1.2e-9).
fn inverse_normal_cdf(p: f64) -> f64 {
    const A: [f64; 6] = [
        -3.969_683_028_665_376e1,
        2.209_460_984_245_205e2,
        -2.759_285_104_469_687e2,
        1.383_577_518_672_69e2,
        -3.066_479_806_614_716e1,
        2.506_628_277_459_239,
    ];
    const B: [f64; 5] = [
        -5.447_609_879_822_406e1,
        1.615_858_368_580_409e2,
        -1.556_989_798_598_866e2,
        6.680_131_188_771_972e1,
        -1.328_068_155_288_572e1,
    ];
    const C: [f64; 6] = [
        -7.784_894_002_430_293e-3,
        -3.223_964_580_411_365e-1,
        -2.400_758_277_161_838,
        -2.549_732_539_343_734,
        4.374_664_141_464_968,
        2.938_163_982_698_783,
    ];
    const D: [f64; 4] = [
        7.784_695_709_041_462e-3,
        3.224_671_290_700_398e-1,
        2.445_134_137_142_996,
        3.754_408_661_907_416,
    ];
    const LOW: f64 = 0.024_25;
    let tail = |q: f64| {
        (((((C[0] * q + C[1]) * q + C[2]) * q + C[3]) * q + C[4]) * q + C[5])
            / ((((D[0] * q + D[1]) * q + D[2]) * q + D[3]) * q + 1.0)
    };
    if p < LOW {
        tail((-2.0 * p.ln()).sqrt())
    } else if p > 1.0 - LOW {
        -tail((-2.0 * (1.0 - p).ln()).sqrt())
    } else {
        let q = p - 0.5;
        let r = q * q;
        (((((A[0] * r + A[1]) * r + A[2]) * r + A[3]) * r + A[4]) * r + A[5]) * q
            / (((((B[0] * r + B[1]) * r + B[2]) * r + B[3]) * r + B[4]) * r + 1.0)
    }
}

/// One row: each group of four columns (4k .. 4k+3) takes the four 16-bit lanes of
/// hash(row, k).
fn fill_row(row_key: u64, origin_x: usize, row: &mut [f32]) {
    let table = normal_table();
    let mut x = origin_x;
    let mut out = row.iter_mut().peekable();
    while out.peek().is_some() {
        let bits = mix(row_key ^ ((x >> 2) as u64).wrapping_mul(GOLDEN));
        for lane in (x & 3)..4 {
            let Some(value) = out.next() else {
                return;
            };
            *value = table[((bits >> (16 * lane)) & 0xffff) as usize];
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
    fn the_table_follows_the_normal_distribution() {
        let table = normal_table();
        assert!((inverse_normal_cdf(0.975) - 1.959_963_985).abs() < 1e-8);
        assert!((inverse_normal_cdf(0.001) + 3.090_232_306).abs() < 1e-8);
        // Sorted, symmetric, with a sensible tail.
        assert!(table.windows(2).all(|w| w[0] < w[1]));
        assert!((table[0] + table[65535]).abs() < 1e-6);
        assert!(table[65535] > 4.0 && table[65535] < 4.5);
        // About 68.3% of the mass within one standard deviation.
        let within = table.iter().filter(|v| v.abs() < 1.0).count() as f64 / 65536.0;
        assert!((within - 0.6827).abs() < 0.002, "{within}");
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
