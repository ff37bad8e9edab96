//! Scatter plots written as SVG (text) and PNG (rasterised here with a 5x7 bitmap font), enough
//! for the perception–distortion plot of `deblur eval` without a plotting dependency.
//!
//! Both renderers share one [`Layout`], so the SVG and the PNG show the same axes and ticks.

mod font;
mod raster;
mod svg;

use std::path::Path;

use crate::error::{Error, Result};

/// An sRGB colour.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rgb(pub [u8; 3]);

impl Rgb {
    /// Black.
    pub const BLACK: Rgb = Rgb([0, 0, 0]);

    fn hex(self) -> String {
        let [r, g, b] = self.0;
        format!("#{r:02x}{g:02x}{b:02x}")
    }
}

/// The shape a point is drawn with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Marker {
    /// A filled disc.
    Circle,
    /// A filled square.
    Square,
    /// A filled triangle pointing up.
    Triangle,
    /// A filled square standing on a corner.
    Diamond,
}

/// Points drawn alike and named once in the legend.
#[derive(Clone, Debug, PartialEq)]
pub struct Series {
    /// Legend text.
    pub label: String,
    /// Fill colour.
    pub colour: Rgb,
    /// Shape.
    pub marker: Marker,
    /// (x, y) in data units; points with a non-finite coordinate are left out.
    pub points: Vec<(f64, f64)>,
}

/// A single point drawn larger, outlined and labelled next to itself (and in the legend).
#[derive(Clone, Debug, PartialEq)]
pub struct Callout {
    /// Text next to the point and in the legend.
    pub label: String,
    /// Fill colour.
    pub colour: Rgb,
    /// Shape.
    pub marker: Marker,
    /// (x, y) in data units; left out when not finite.
    pub point: (f64, f64),
}

/// A dashed vertical line at a meaningful x, labelled at its top.
#[derive(Clone, Debug, PartialEq)]
pub struct ReferenceLine {
    /// Where, in data units.
    pub x: f64,
    /// Text at the top of the line.
    pub label: String,
}

/// A scatter plot: series, labelled callouts and an optional vertical reference line.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct ScatterPlot {
    /// Title above the plot.
    pub title: String,
    /// Horizontal axis title.
    pub x_label: String,
    /// Vertical axis title.
    pub y_label: String,
    /// Groups of points.
    pub series: Vec<Series>,
    /// Single labelled points.
    pub callouts: Vec<Callout>,
    /// A dashed vertical line.
    pub vertical_reference: Option<ReferenceLine>,
}

/// Canvas size in pixels (SVG user units and PNG pixels alike).
pub const WIDTH: u32 = 960;
/// Canvas height.
pub const HEIGHT: u32 = 640;
const PLOT_LEFT: f64 = 110.0;
const PLOT_RIGHT: f64 = 730.0;
const PLOT_TOP: f64 = 60.0;
const PLOT_BOTTOM: f64 = 560.0;
const LEGEND_LEFT: f64 = PLOT_RIGHT + 24.0;
const LEGEND_LINE: f64 = 26.0;
const POINT_RADIUS: f64 = 5.0;
const CALLOUT_RADIUS: f64 = 8.0;
const GRID: Rgb = Rgb([225, 225, 225]);
const REFERENCE: Rgb = Rgb([120, 120, 120]);

/// One axis: its data range and tick values.
#[derive(Clone, Debug, PartialEq)]
pub struct Axis {
    /// Data value at the low end.
    pub lo: f64,
    /// Data value at the high end.
    pub hi: f64,
    /// Tick values, ascending.
    pub ticks: Vec<f64>,
    decimals: usize,
}

impl Axis {
    /// Ticks at 1, 2 or 5 times a power of ten, about `target` of them, covering `lo..=hi`.
    pub fn covering(lo: f64, hi: f64, target: usize) -> Axis {
        let (lo, hi) = if hi - lo > f64::EPSILON * hi.abs().max(1.0) {
            (lo, hi)
        } else {
            (lo - 0.5, hi + 0.5)
        };
        let raw = (hi - lo) / target.max(1) as f64;
        let magnitude = 10f64.powf(raw.log10().floor());
        let step = [1.0, 2.0, 5.0, 10.0]
            .into_iter()
            .map(|m| m * magnitude)
            .find(|&s| s >= raw)
            .unwrap_or(10.0 * magnitude);
        let first = (lo / step).floor() as i64;
        let last = (hi / step).ceil() as i64;
        let ticks: Vec<f64> = (first..=last).map(|i| i as f64 * step).collect();
        Axis {
            lo: first as f64 * step,
            hi: last as f64 * step,
            ticks,
            decimals: (-step.log10().floor()).max(0.0) as usize,
        }
    }

    /// A tick value as printed.
    pub fn label(&self, value: f64) -> String {
        // Avoid "-0.0" for a tick that is zero up to rounding.
        let value = if value.abs() < 1e-12 { 0.0 } else { value };
        format!("{value:.*}", self.decimals)
    }

    fn fraction(&self, value: f64) -> f64 {
        (value - self.lo) / (self.hi - self.lo)
    }
}

/// Where everything goes on the canvas.
#[derive(Clone, Debug, PartialEq)]
pub struct Layout {
    /// Horizontal axis.
    pub x_axis: Axis,
    /// Vertical axis.
    pub y_axis: Axis,
}

impl Layout {
    fn new(plot: &ScatterPlot) -> Layout {
        let mut xs = Vec::new();
        let mut ys = Vec::new();
        let finite = |p: &(f64, f64)| p.0.is_finite() && p.1.is_finite();
        for &(x, y) in plot
            .series
            .iter()
            .flat_map(|s| &s.points)
            .filter(|p| finite(p))
        {
            xs.push(x);
            ys.push(y);
        }
        for &(x, y) in plot.callouts.iter().map(|c| &c.point).filter(|p| finite(p)) {
            xs.push(x);
            ys.push(y);
        }
        if let Some(line) = plot.vertical_reference.as_ref().filter(|l| l.x.is_finite()) {
            xs.push(line.x);
        }
        let range = |values: &[f64]| {
            let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
            let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            if lo.is_finite() { (lo, hi) } else { (0.0, 1.0) }
        };
        // A margin so that markers at the extremes stay inside the frame, without making an
        // axis of non-negative values (ratios, dB) start below zero.
        let padded = |(lo, hi): (f64, f64)| {
            let pad = (hi - lo) * 0.04;
            let low = if lo >= 0.0 {
                (lo - pad).max(0.0)
            } else {
                lo - pad
            };
            Axis::covering(low, hi + pad, 7)
        };
        Layout {
            x_axis: padded(range(&xs)),
            y_axis: padded(range(&ys)),
        }
    }

    fn px(&self, x: f64) -> f64 {
        PLOT_LEFT + self.x_axis.fraction(x) * (PLOT_RIGHT - PLOT_LEFT)
    }

    fn py(&self, y: f64) -> f64 {
        PLOT_BOTTOM - self.y_axis.fraction(y) * (PLOT_BOTTOM - PLOT_TOP)
    }
}

/// One legend line: marker, colour, text.
struct LegendEntry<'a> {
    label: &'a str,
    colour: Rgb,
    marker: Marker,
    radius: f64,
}

impl ScatterPlot {
    /// The axes the plot is drawn with.
    pub fn layout(&self) -> Layout {
        Layout::new(self)
    }

    fn finite_points(series: &Series) -> impl Iterator<Item = (f64, f64)> + '_ {
        series
            .points
            .iter()
            .copied()
            .filter(|(x, y)| x.is_finite() && y.is_finite())
    }

    fn finite_callouts(&self) -> impl Iterator<Item = &Callout> {
        self.callouts
            .iter()
            .filter(|c| c.point.0.is_finite() && c.point.1.is_finite())
    }

    fn legend(&self) -> Vec<LegendEntry<'_>> {
        let series = self.series.iter().map(|s| LegendEntry {
            label: &s.label,
            colour: s.colour,
            marker: s.marker,
            radius: POINT_RADIUS,
        });
        let callouts = self.callouts.iter().map(|c| LegendEntry {
            label: &c.label,
            colour: c.colour,
            marker: c.marker,
            radius: CALLOUT_RADIUS,
        });
        series.chain(callouts).collect()
    }

    /// The plot as an SVG document.
    pub fn to_svg(&self) -> String {
        svg::render(self, &self.layout())
    }

    /// The plot rasterised, `WIDTH` x `HEIGHT`, text in the bitmap font (upper case).
    pub fn to_png(&self) -> image::RgbImage {
        raster::render(self, &self.layout())
    }

    /// Writes the SVG to `svg_path` and the PNG to `png_path`.
    pub fn save(&self, svg_path: &Path, png_path: &Path) -> Result<()> {
        std::fs::write(svg_path, self.to_svg()).map_err(|source| Error::Io {
            path: svg_path.to_path_buf(),
            source,
        })?;
        self.to_png().save(png_path).map_err(|source| Error::Image {
            path: png_path.to_path_buf(),
            source,
        })
    }
}

/// Writes `text` onto `image` in the bitmap font (upper case, 10x14 pixels a character) with
/// its top-left corner at (`x`, `y`); what falls outside the image is cut off.
pub fn draw_text(image: &mut image::RgbImage, x: i64, y: i64, text: &str, colour: Rgb) {
    raster::draw_text(image, x, y, text, colour);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_round_and_cover_the_range() {
        let axis = Axis::covering(0.37, 1.82, 7);
        assert_eq!(axis.ticks.first(), Some(&axis.lo));
        assert!(axis.lo <= 0.37 && axis.hi >= 1.82);
        assert_eq!(axis.label(axis.ticks[1]), "0.5");
        assert!(axis.ticks.len() <= 10);
        let flat = Axis::covering(28.0, 28.0, 5);
        assert!(flat.lo < 28.0 && flat.hi > 28.0);
        let wide = Axis::covering(21.3, 33.9, 7);
        assert_eq!(wide.label(wide.ticks[0]), "20");
    }

    #[test]
    fn non_finite_points_are_left_out() {
        let plot = ScatterPlot {
            series: vec![Series {
                label: "a".into(),
                colour: Rgb([200, 0, 0]),
                marker: Marker::Circle,
                points: vec![(1.0, f64::INFINITY), (f64::NAN, 2.0)],
            }],
            ..ScatterPlot::default()
        };
        let layout = plot.layout();
        assert!(layout.x_axis.lo.is_finite() && layout.y_axis.hi.is_finite());
        // Only the legend's marker: no point is drawn.
        assert_eq!(plot.to_svg().matches("<circle").count(), 1);
        assert_eq!(plot.to_png().dimensions(), (WIDTH, HEIGHT));
    }
}
