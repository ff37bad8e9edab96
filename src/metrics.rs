//! Image quality measures, defined exactly as `training/deblur_train/metrics.py` defines them so
//! that the model card and `deblur eval` report the same numbers.

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

fn same_size(a: &RgbFrame, b: &RgbFrame) -> Result<()> {
    if (a.width(), a.height()) == (b.width(), b.height()) {
        Ok(())
    } else {
        Err(Error::InvalidFrame {
            reason: format!(
                "cannot compare a {}x{} image with a {}x{} reference",
                a.width(),
                a.height(),
                b.width(),
                b.height()
            ),
        })
    }
}

/// Peak signal-to-noise ratio in dB over all channels (infinite for identical images).
pub fn psnr(image: &RgbFrame, reference: &RgbFrame) -> Result<f64> {
    same_size(image, reference)?;
    let squared: f64 = image
        .data()
        .iter()
        .zip(reference.data())
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum();
    let mse = squared / image.data().len() as f64;
    Ok(if mse == 0.0 {
        f64::INFINITY
    } else {
        10.0 * (255.0f64 * 255.0 / mse).log10()
    })
}

/// One channel as a float plane.
struct Plane {
    width: usize,
    height: usize,
    values: Vec<f64>,
}

impl Plane {
    fn channel(frame: &RgbFrame, channel: usize) -> Plane {
        Plane {
            width: frame.width() as usize,
            height: frame.height() as usize,
            values: frame
                .data()
                .chunks_exact(3)
                .map(|p| f64::from(p[channel]))
                .collect(),
        }
    }

    fn luma(frame: &RgbFrame) -> Plane {
        Plane {
            width: frame.width() as usize,
            height: frame.height() as usize,
            values: frame
                .data()
                .chunks_exact(3)
                .map(|p| {
                    f64::from(p[0]) * 0.299 + f64::from(p[1]) * 0.587 + f64::from(p[2]) * 0.114
                })
                .collect(),
        }
    }

    fn map(&self, f: impl Fn(f64) -> f64) -> Plane {
        Plane {
            width: self.width,
            height: self.height,
            values: self.values.iter().map(|&v| f(v)).collect(),
        }
    }

    fn zip(&self, other: &Plane, f: impl Fn(f64, f64) -> f64) -> Plane {
        Plane {
            width: self.width,
            height: self.height,
            values: self
                .values
                .iter()
                .zip(&other.values)
                .map(|(&a, &b)| f(a, b))
                .collect(),
        }
    }

    /// scipy.ndimage.gaussian_filter(sigma=1.5, truncate=3.5, mode="reflect") on both axes.
    fn gaussian(&self) -> Plane {
        const SIGMA: f64 = 1.5;
        let radius = (3.5 * SIGMA + 0.5) as isize;
        let mut kernel: Vec<f64> = (-radius..=radius)
            .map(|i| (-0.5 * (i as f64 / SIGMA).powi(2)).exp())
            .collect();
        let total: f64 = kernel.iter().sum();
        kernel.iter_mut().for_each(|k| *k /= total);
        // scipy's "reflect" repeats the edge sample: (d c b a | a b c d | d c b a).
        let index = |i: isize, len: usize| -> usize {
            let len = len as isize;
            let period = 2 * len;
            let m = i.rem_euclid(period);
            (if m < len { m } else { period - 1 - m }) as usize
        };
        let (w, h) = (self.width, self.height);
        let mut rows = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                rows[y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| {
                        c * self.values[y * w + index(x as isize + k as isize - radius, w)]
                    })
                    .sum();
            }
        }
        let mut out = vec![0.0; w * h];
        for y in 0..h {
            for x in 0..w {
                out[y * w + x] = kernel
                    .iter()
                    .enumerate()
                    .map(|(k, &c)| c * rows[index(y as isize + k as isize - radius, h) * w + x])
                    .sum();
            }
        }
        Plane {
            width: w,
            height: h,
            values: out,
        }
    }
}

/// Structural similarity (Wang et al. 2004): 11x11 Gaussian window, σ 1.5, averaged over the
/// pixels at least 5 from the border and over the channels.
pub fn ssim(image: &RgbFrame, reference: &RgbFrame) -> Result<f64> {
    same_size(image, reference)?;
    let (c1, c2) = ((0.01f64 * 255.0).powi(2), (0.03f64 * 255.0).powi(2));
    let (w, h) = (image.width() as usize, image.height() as usize);
    if w <= 10 || h <= 10 {
        return Err(Error::InvalidFrame {
            reason: format!("SSIM needs images larger than 10x10, got {w}x{h}"),
        });
    }
    let mut total = 0.0;
    for channel in 0..3 {
        let x = Plane::channel(image, channel);
        let y = Plane::channel(reference, channel);
        let (mx, my) = (x.gaussian(), y.gaussian());
        let sxx = x.map(|v| v * v).gaussian().zip(&mx, |a, m| a - m * m);
        let syy = y.map(|v| v * v).gaussian().zip(&my, |a, m| a - m * m);
        let sxy = x.zip(&y, |a, b| a * b).gaussian();
        let mut sum = 0.0;
        for row in 5..h - 5 {
            for col in 5..w - 5 {
                let i = row * w + col;
                let (a, b) = (mx.values[i], my.values[i]);
                let cov = sxy.values[i] - a * b;
                sum += ((2.0 * a * b + c1) * (2.0 * cov + c2))
                    / ((a * a + b * b + c1) * (sxx.values[i] + syy.values[i] + c2));
            }
        }
        total += sum / ((w - 10) * (h - 10)) as f64;
    }
    Ok(total / 3.0)
}

/// Mean squared Laplacian of the luma, away from the border: edges and fine texture.
pub fn laplacian_energy(image: &RgbFrame) -> f64 {
    let luma = Plane::luma(image);
    let (w, h) = (luma.width, luma.height);
    if w < 3 || h < 3 {
        return 0.0;
    }
    let v = &luma.values;
    let mut sum = 0.0;
    for y in 1..h - 1 {
        for x in 1..w - 1 {
            let i = y * w + x;
            let laplacian = v[i - 1] + v[i + 1] + v[i - w] + v[i + w] - 4.0 * v[i];
            sum += laplacian * laplacian;
        }
    }
    sum / ((w - 2) * (h - 2)) as f64
}

/// Laplacian energy of `image` over that of `reference`: 1 is as sharp as the reference,
/// below 1 smoother (over-smoothed), above 1 noisier or over-sharpened.
pub fn detail_ratio(image: &RgbFrame, reference: &RgbFrame) -> Result<f64> {
    same_size(image, reference)?;
    Ok(laplacian_energy(image) / laplacian_energy(reference))
}

/// Flicker against the reference: mean |(o_t − o_{t−1}) − (r_t − r_{t−1})| over pixels and
/// channels, in 8-bit levels. 0 when the output changes exactly as the reference does.
pub fn temporal_error(
    output: &RgbFrame,
    previous_output: &RgbFrame,
    reference: &RgbFrame,
    previous_reference: &RgbFrame,
) -> Result<f64> {
    for frame in [previous_output, reference, previous_reference] {
        same_size(output, frame)?;
    }
    let n = output.data().len() as f64;
    let sum: f64 = output
        .data()
        .iter()
        .zip(previous_output.data())
        .zip(reference.data().iter().zip(previous_reference.data()))
        .map(|((&o, &po), (&r, &pr))| {
            ((f64::from(o) - f64::from(po)) - (f64::from(r) - f64::from(pr))).abs()
        })
        .sum();
    Ok(sum / n)
}
