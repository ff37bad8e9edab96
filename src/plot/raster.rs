//! The PNG renderer: a handful of drawing primitives on an `RgbImage`, text in the 5x7 font.

use image::RgbImage;

use super::{
    CALLOUT_RADIUS, GRID, HEIGHT, LEGEND_LEFT, LEGEND_LINE, Layout, Marker, PLOT_BOTTOM, PLOT_LEFT,
    PLOT_RIGHT, PLOT_TOP, POINT_RADIUS, REFERENCE, Rgb, ScatterPlot, WIDTH, font,
};

/// Font pixels are drawn as squares of this many image pixels.
const FONT_SCALE: usize = 2;

struct Canvas<'a> {
    image: &'a mut RgbImage,
}

fn blank() -> RgbImage {
    RgbImage::from_pixel(WIDTH, HEIGHT, image::Rgb([255, 255, 255]))
}

impl Canvas<'_> {
    fn put(&mut self, x: i64, y: i64, colour: Rgb) {
        let (width, height) = self.image.dimensions();
        if (0..i64::from(width)).contains(&x) && (0..i64::from(height)).contains(&y) {
            self.image
                .put_pixel(x as u32, y as u32, image::Rgb(colour.0));
        }
    }

    fn fill_rect(&mut self, x0: i64, y0: i64, width: i64, height: i64, colour: Rgb) {
        for y in y0..y0 + height {
            for x in x0..x0 + width {
                self.put(x, y, colour);
            }
        }
    }

    /// A one-pixel line; `dash` is (pixels on, pixels off).
    fn line(&mut self, from: (f64, f64), to: (f64, f64), colour: Rgb, dash: Option<(u32, u32)>) {
        let (dx, dy) = (to.0 - from.0, to.1 - from.1);
        let steps = dx.abs().max(dy.abs()).ceil().max(1.0) as u32;
        for i in 0..=steps {
            if let Some((on, off)) = dash
                && i % (on + off) >= on
            {
                continue;
            }
            let t = f64::from(i) / f64::from(steps);
            let (x, y) = (from.0 + dx * t, from.1 + dy * t);
            self.put(x.round() as i64, y.round() as i64, colour);
        }
    }

    fn marker(
        &mut self,
        (cx, cy): (f64, f64),
        marker: Marker,
        radius: f64,
        fill: Rgb,
        outline: Option<Rgb>,
    ) {
        if let Some(outline) = outline {
            self.shape(cx, cy, marker, radius + 2.0, outline);
        }
        self.shape(cx, cy, marker, radius, fill);
    }

    fn shape(&mut self, cx: f64, cy: f64, marker: Marker, radius: f64, colour: Rgb) {
        let reach = (radius * 1.3).ceil() as i64;
        let (x0, y0) = (cx.round() as i64, cy.round() as i64);
        for y in y0 - reach..=y0 + reach {
            for x in x0 - reach..=x0 + reach {
                let (dx, dy) = (x as f64 - cx, y as f64 - cy);
                let inside = match marker {
                    Marker::Circle => dx * dx + dy * dy <= radius * radius,
                    Marker::Square => dx.abs().max(dy.abs()) <= 0.85 * radius,
                    Marker::Diamond => dx.abs() + dy.abs() <= 1.2 * radius,
                    Marker::Triangle => {
                        (-radius..=0.8 * radius).contains(&dy) && dx.abs() <= (dy + radius) / 1.8
                    }
                };
                if inside {
                    self.put(x, y, colour);
                }
            }
        }
    }

    /// `text` with its top-left corner at (`x`, `y`).
    fn text(&mut self, x: f64, y: f64, text: &str, colour: Rgb) {
        self.glyphs(text, colour, |along, across| {
            (x as i64 + along, y as i64 + across)
        });
    }

    /// `text` centred horizontally on `cx`, top at `y`.
    fn text_centred(&mut self, cx: f64, y: f64, text: &str, colour: Rgb) {
        self.text(cx - text_width(text) / 2.0, y, text, colour);
    }

    /// `text` ending at `right`, top at `y`.
    fn text_right(&mut self, right: f64, y: f64, text: &str, colour: Rgb) {
        self.text(right - text_width(text), y, text, colour);
    }

    /// `text` turned a quarter to the left (read bottom to top), centred vertically on `cy`,
    /// glyph tops at column `x`.
    fn text_up(&mut self, x: f64, cy: f64, text: &str, colour: Rgb) {
        let bottom = cy + text_width(text) / 2.0;
        self.glyphs(text, colour, |along, across| {
            (x as i64 + across, bottom as i64 - along)
        });
    }

    /// Draws every set font pixel as a square; `place` maps (offset along the text, offset
    /// across it), in image pixels, to image coordinates.
    fn glyphs(&mut self, text: &str, colour: Rgb, place: impl Fn(i64, i64) -> (i64, i64)) {
        let scale = FONT_SCALE as i64;
        for (index, c) in text.chars().enumerate() {
            for gy in 0..font::GLYPH_HEIGHT {
                for gx in 0..font::GLYPH_WIDTH {
                    if !font::pixel(c, gx, gy) {
                        continue;
                    }
                    let along = ((index * font::ADVANCE + gx) * FONT_SCALE) as i64;
                    let across = (gy * FONT_SCALE) as i64;
                    for sy in 0..scale {
                        for sx in 0..scale {
                            let (x, y) = place(along + sx, across + sy);
                            self.put(x, y, colour);
                        }
                    }
                }
            }
        }
    }
}

fn text_width(text: &str) -> f64 {
    (font::text_width(text) * FONT_SCALE) as f64
}

const TEXT_HEIGHT: f64 = (font::GLYPH_HEIGHT * FONT_SCALE) as f64;

/// Writes `text` onto `image` with its top-left corner at (`x`, `y`).
pub(super) fn draw_text(image: &mut RgbImage, x: i64, y: i64, text: &str, colour: Rgb) {
    Canvas { image }.text(x as f64, y as f64, text, colour);
}

/// Draws `plot` with `layout`'s axes.
pub(super) fn render(plot: &ScatterPlot, layout: &Layout) -> RgbImage {
    let mut image = blank();
    let mut canvas = Canvas { image: &mut image };
    let black = Rgb::BLACK;
    canvas.text_centred(f64::from(WIDTH) / 2.0, 18.0, &plot.title, black);

    for &tick in &layout.x_axis.ticks {
        let x = layout.px(tick);
        canvas.line((x, PLOT_TOP), (x, PLOT_BOTTOM), GRID, None);
        canvas.line((x, PLOT_BOTTOM), (x, PLOT_BOTTOM + 5.0), black, None);
        canvas.text_centred(x, PLOT_BOTTOM + 10.0, &layout.x_axis.label(tick), black);
    }
    for &tick in &layout.y_axis.ticks {
        let y = layout.py(tick);
        canvas.line((PLOT_LEFT, y), (PLOT_RIGHT, y), GRID, None);
        canvas.line((PLOT_LEFT - 5.0, y), (PLOT_LEFT, y), black, None);
        let label = layout.y_axis.label(tick);
        canvas.text_right(PLOT_LEFT - 9.0, y - TEXT_HEIGHT / 2.0, &label, black);
    }
    let corners = [
        (PLOT_LEFT, PLOT_TOP),
        (PLOT_RIGHT, PLOT_TOP),
        (PLOT_RIGHT, PLOT_BOTTOM),
        (PLOT_LEFT, PLOT_BOTTOM),
    ];
    for (i, &corner) in corners.iter().enumerate() {
        canvas.line(corner, corners[(i + 1) % 4], black, None);
    }
    canvas.text_centred(
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 42.0,
        &plot.x_label,
        black,
    );
    canvas.text_up(22.0, (PLOT_TOP + PLOT_BOTTOM) / 2.0, &plot.y_label, black);

    if let Some(line) = &plot.vertical_reference {
        let x = layout.px(line.x);
        canvas.line((x, PLOT_TOP), (x, PLOT_BOTTOM), REFERENCE, Some((6, 4)));
        canvas.text(
            x + 5.0,
            PLOT_BOTTOM - 6.0 - TEXT_HEIGHT,
            &line.label,
            REFERENCE,
        );
    }
    for series in &plot.series {
        for (x, y) in ScatterPlot::finite_points(series) {
            let centre = (layout.px(x), layout.py(y));
            canvas.marker(centre, series.marker, POINT_RADIUS, series.colour, None);
        }
    }
    for callout in plot.finite_callouts() {
        let (x, y) = (layout.px(callout.point.0), layout.py(callout.point.1));
        canvas.marker(
            (x, y),
            callout.marker,
            CALLOUT_RADIUS,
            callout.colour,
            Some(black),
        );
        let top = y - 8.0 - TEXT_HEIGHT;
        if x > PLOT_RIGHT - 150.0 {
            canvas.text_right(x - 14.0, top, &callout.label, black);
        } else {
            canvas.text(x + 14.0, top, &callout.label, black);
        }
    }
    for (row, entry) in plot.legend().iter().enumerate() {
        let y = PLOT_TOP + 12.0 + row as f64 * LEGEND_LINE;
        let outline = (entry.radius > POINT_RADIUS).then_some(black);
        let radius = entry.radius.min(7.0);
        canvas.marker(
            (LEGEND_LEFT + 8.0, y),
            entry.marker,
            radius,
            entry.colour,
            outline,
        );
        canvas.text(
            LEGEND_LEFT + 24.0,
            y - TEXT_HEIGHT / 2.0,
            entry.label,
            black,
        );
    }
    // A thin frame around the whole image, so it reads as one figure on a white page.
    canvas.fill_rect(0, 0, i64::from(WIDTH), 1, GRID);
    canvas.fill_rect(0, i64::from(HEIGHT) - 1, i64::from(WIDTH), 1, GRID);
    canvas.fill_rect(0, 0, 1, i64::from(HEIGHT), GRID);
    canvas.fill_rect(i64::from(WIDTH) - 1, 0, 1, i64::from(HEIGHT), GRID);
    image
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_sets_pixels_where_the_glyph_is() {
        let mut upright = blank();
        draw_text(&mut upright, 10, 10, "1", Rgb::BLACK);
        // '1' has its top pixel in column 2: image pixels 14..16, rows 10..12.
        assert_eq!(upright.get_pixel(14, 10).0, [0, 0, 0]);
        assert_eq!(upright.get_pixel(10, 10).0, [255, 255, 255]);
        let mut turned = blank();
        Canvas { image: &mut turned }.text_up(10.0, 100.0, "1", Rgb::BLACK);
        let dark = turned.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        let upright = upright.pixels().filter(|p| p.0 == [0, 0, 0]).count();
        assert_eq!(dark, upright);
    }
}
