//! The report's images: the perception–distortion plot of a sweep, the outputs side by side on
//! the most detailed window of an image, and labelled strips of panels.

use image::RgbImage;

use super::{FastDefault, Figure, Sweep, data};
use crate::frame::RgbFrame;
use crate::metrics;
use crate::plot::{self, Callout, Marker, ReferenceLine, Rgb, ScatterPlot, Series};

/// Side of the crops shown side by side.
pub const FIGURE_CROP: u32 = 192;

/// The perception–distortion plot of a sweep: PSNR against detail ratio, colour by samples
/// averaged, the blurry input and the predictor alone called out.
pub fn pd_plot(sweep: &Sweep, fast_default: Option<&FastDefault>) -> ScatterPlot {
    const PALETTE: [[u8; 3]; 10] = [
        [214, 39, 40],
        [255, 127, 14],
        [44, 160, 44],
        [31, 119, 180],
        [148, 103, 189],
        [140, 86, 75],
        [227, 119, 194],
        [127, 127, 127],
        [188, 189, 34],
        [23, 190, 207],
    ];
    let series = sweep
        .grid
        .samples
        .iter()
        .enumerate()
        .map(|(index, &samples)| Series {
            label: match samples {
                1 => "1 sample".to_string(),
                n => format!("{n} samples"),
            },
            colour: Rgb(PALETTE[index % PALETTE.len()]),
            marker: Marker::Circle,
            points: sweep
                .points
                .iter()
                .filter(|p| p.samples == samples)
                .map(|p| (p.scores.detail_ratio, p.scores.psnr))
                .collect(),
        })
        .collect();
    let mut callouts = vec![
        Callout {
            label: "Blurry input".into(),
            colour: Rgb([255, 255, 255]),
            marker: Marker::Triangle,
            point: (sweep.blurry.detail_ratio, sweep.blurry.psnr),
        },
        Callout {
            label: "Predictor only".into(),
            colour: Rgb([70, 70, 70]),
            marker: Marker::Square,
            point: (sweep.predictor.detail_ratio, sweep.predictor.psnr),
        },
    ];
    if let Some(fast) = fast_default {
        let p = &fast.point;
        callouts.push(Callout {
            label: "Fast default".into(),
            colour: Rgb([255, 215, 0]),
            marker: Marker::Diamond,
            point: (p.scores.detail_ratio, p.scores.psnr),
        });
    }
    let crop = sweep
        .crop
        .map_or(String::new(), |c| format!(", {c} px crops"));
    ScatterPlot {
        title: format!("Perception-distortion: {} images{crop}", sweep.images.len()),
        x_label: "Detail ratio (1 = as detailed as sharp)".into(),
        y_label: "PSNR (dB)".into(),
        series,
        callouts,
        vertical_reference: Some(ReferenceLine {
            x: 1.0,
            label: "Sharp".into(),
        }),
    }
}

/// Panels side by side under their labels, separated by white gutters.
pub fn labelled_strip(panels: &[(&str, &RgbFrame)]) -> RgbImage {
    const HEADER: u32 = 24;
    const GUTTER: u32 = 6;
    let height = panels.iter().map(|(_, f)| f.height()).max().unwrap_or(1);
    let width: u32 =
        panels.iter().map(|(_, f)| f.width()).sum::<u32>() + GUTTER * (panels.len() as u32 - 1);
    let mut strip = RgbImage::from_pixel(width, HEADER + height, image::Rgb([255, 255, 255]));
    let mut left = 0;
    for (label, frame) in panels {
        plot::draw_text(&mut strip, i64::from(left) + 4, 5, label, Rgb::BLACK);
        for (x, y, pixel) in image::RgbImage::from(RgbFrame::clone(frame)).enumerate_pixels() {
            strip.put_pixel(left + x, HEADER + y, *pixel);
        }
        left += frame.width() + GUTTER;
    }
    strip
}

/// Blurry | predictor | sample | SA | sharp on the most detailed window of the sharp image.
pub fn crops_strip(figure: &Figure) -> RgbImage {
    let (x, y, size) = most_detailed_window(&figure.sharp, FIGURE_CROP);
    let cut = |frame: &RgbFrame| data::crop(frame, x, y, size.0, size.1);
    let sa = format!("SA-{}", figure.samples);
    labelled_strip(&[
        ("BLURRY", &cut(&figure.blurry)),
        ("PREDICTOR", &cut(&figure.predictor)),
        ("1 SAMPLE", &cut(&figure.sample)),
        (&sa, &cut(&figure.average)),
        ("SHARP", &cut(&figure.sharp)),
    ])
}

/// The window of side `size` (clipped to the frame) with the most Laplacian energy.
fn most_detailed_window(frame: &RgbFrame, size: u32) -> (u32, u32, (u32, u32)) {
    let (w, h) = (size.min(frame.width()), size.min(frame.height()));
    let stride = (size / 4).max(1);
    let mut best = (0, 0, f64::NEG_INFINITY);
    for y in (0..=frame.height() - h).step_by(stride as usize) {
        for x in (0..=frame.width() - w).step_by(stride as usize) {
            let energy = metrics::laplacian_energy(&data::crop(frame, x, y, w, h));
            if energy > best.2 {
                best = (x, y, energy);
            }
        }
    }
    (best.0, best.1, (w, h))
}
