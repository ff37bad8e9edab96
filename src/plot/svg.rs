//! The SVG renderer: the same layout as the PNG, with real text.

use std::fmt::Write as _;

use super::{
    CALLOUT_RADIUS, GRID, HEIGHT, LEGEND_LEFT, LEGEND_LINE, Layout, Marker, PLOT_BOTTOM, PLOT_LEFT,
    PLOT_RIGHT, PLOT_TOP, POINT_RADIUS, REFERENCE, Rgb, ScatterPlot, WIDTH,
};

/// `plot` as an SVG document with `layout`'s axes.
pub(super) fn render(plot: &ScatterPlot, layout: &Layout) -> String {
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">"#
    );
    let _ = writeln!(
        svg,
        r#"<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>"#
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="32" font-size="20" text-anchor="middle">{}</text>"#,
        WIDTH / 2,
        escape(&plot.title)
    );
    for &tick in &layout.x_axis.ticks {
        let x = layout.px(tick);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{PLOT_TOP}" x2="{x:.1}" y2="{PLOT_BOTTOM}" stroke="{}"/><text x="{x:.1}" y="{}" font-size="14" text-anchor="middle">{}</text>"#,
            GRID.hex(),
            PLOT_BOTTOM + 22.0,
            layout.x_axis.label(tick)
        );
    }
    for &tick in &layout.y_axis.ticks {
        let y = layout.py(tick);
        let _ = writeln!(
            svg,
            r#"<line x1="{PLOT_LEFT}" y1="{y:.1}" x2="{PLOT_RIGHT}" y2="{y:.1}" stroke="{}"/><text x="{}" y="{:.1}" font-size="14" text-anchor="end">{}</text>"#,
            GRID.hex(),
            PLOT_LEFT - 8.0,
            y + 5.0,
            layout.y_axis.label(tick)
        );
    }
    let _ = writeln!(
        svg,
        r#"<rect x="{PLOT_LEFT}" y="{PLOT_TOP}" width="{}" height="{}" fill="none" stroke="black"/>"#,
        PLOT_RIGHT - PLOT_LEFT,
        PLOT_BOTTOM - PLOT_TOP
    );
    let _ = writeln!(
        svg,
        r#"<text x="{}" y="{}" font-size="16" text-anchor="middle">{}</text>"#,
        (PLOT_LEFT + PLOT_RIGHT) / 2.0,
        PLOT_BOTTOM + 56.0,
        escape(&plot.x_label)
    );
    let (y_title_x, y_title_y) = (32.0, (PLOT_TOP + PLOT_BOTTOM) / 2.0);
    let _ = writeln!(
        svg,
        r#"<text x="{y_title_x}" y="{y_title_y}" font-size="16" text-anchor="middle" transform="rotate(-90 {y_title_x} {y_title_y})">{}</text>"#,
        escape(&plot.y_label)
    );
    if let Some(line) = &plot.vertical_reference {
        let x = layout.px(line.x);
        let _ = writeln!(
            svg,
            r#"<line x1="{x:.1}" y1="{PLOT_TOP}" x2="{x:.1}" y2="{PLOT_BOTTOM}" stroke="{}" stroke-dasharray="6 4"/><text x="{:.1}" y="{}" font-size="13" fill="{}">{}</text>"#,
            REFERENCE.hex(),
            x + 5.0,
            PLOT_BOTTOM - 8.0,
            REFERENCE.hex(),
            escape(&line.label)
        );
    }
    for series in &plot.series {
        for (x, y) in ScatterPlot::finite_points(series) {
            svg_marker(
                &mut svg,
                (layout.px(x), layout.py(y)),
                series.marker,
                POINT_RADIUS,
                series.colour,
                None,
            );
        }
    }
    for callout in plot.finite_callouts() {
        let (x, y) = (layout.px(callout.point.0), layout.py(callout.point.1));
        svg_marker(
            &mut svg,
            (x, y),
            callout.marker,
            CALLOUT_RADIUS,
            callout.colour,
            Some(Rgb::BLACK),
        );
        let (anchor, dx) = if x > PLOT_RIGHT - 150.0 {
            ("end", -14.0)
        } else {
            ("start", 14.0)
        };
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" font-size="14" font-weight="bold" text-anchor="{anchor}">{}</text>"#,
            x + dx,
            y - 8.0,
            escape(&callout.label)
        );
    }
    for (row, entry) in plot.legend().iter().enumerate() {
        let y = PLOT_TOP + 12.0 + row as f64 * LEGEND_LINE;
        svg_marker(
            &mut svg,
            (LEGEND_LEFT + 8.0, y),
            entry.marker,
            entry.radius.min(7.0),
            entry.colour,
            (entry.radius > POINT_RADIUS).then_some(Rgb::BLACK),
        );
        let _ = writeln!(
            svg,
            r#"<text x="{}" y="{:.1}" font-size="14">{}</text>"#,
            LEGEND_LEFT + 24.0,
            y + 5.0,
            escape(entry.label)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

fn svg_marker(
    svg: &mut String,
    (x, y): (f64, f64),
    marker: Marker,
    radius: f64,
    fill: Rgb,
    outline: Option<Rgb>,
) {
    let stroke = outline.map_or(String::from(r#"fill-opacity="0.85""#), |c| {
        format!(r#"stroke="{}" stroke-width="2""#, c.hex())
    });
    let fill = fill.hex();
    let r = radius;
    let _ = match marker {
        Marker::Circle => writeln!(
            svg,
            r#"<circle cx="{x:.1}" cy="{y:.1}" r="{r}" fill="{fill}" {stroke}/>"#
        ),
        Marker::Square => writeln!(
            svg,
            r#"<rect x="{:.1}" y="{:.1}" width="{}" height="{}" fill="{fill}" {stroke}/>"#,
            x - r * 0.85,
            y - r * 0.85,
            r * 1.7,
            r * 1.7
        ),
        Marker::Triangle => writeln!(
            svg,
            r#"<polygon points="{x:.1},{:.1} {:.1},{:.1} {:.1},{:.1}" fill="{fill}" {stroke}/>"#,
            y - r,
            x - r,
            y + 0.8 * r,
            x + r,
            y + 0.8 * r
        ),
        Marker::Diamond => writeln!(
            svg,
            r#"<polygon points="{x:.1},{:.1} {:.1},{y:.1} {x:.1},{:.1} {:.1},{y:.1}" fill="{fill}" {stroke}/>"#,
            y - r * 1.2,
            x + r * 1.2,
            y + r * 1.2,
            x - r * 1.2
        ),
    };
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}
