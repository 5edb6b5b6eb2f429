//! The HTML report's timelines as inline SVG: one bar per bucket of a [`Timeline`], empty
//! buckets shaded as gaps, buckets with SKIPDATA records marked above the bars, and a
//! `<title>` on every bar (`2026-03-02 02:00: 48 records`) that a browser shows on hover.
//!
//! Only numbers, times and flowgate's own words are written here: the caller escapes any
//! label it passes. Coordinates are rounded to tenths, so the bytes are the same on every
//! machine.

use std::fmt::Write;

use crate::output::timeline::{short_time, Timeline};
use crate::text::thousands;

const WIDTH: f64 = 760.0;
const HEIGHT: f64 = 190.0;
const LEFT: f64 = 56.0;
const RIGHT: f64 = 8.0;
const TOP: f64 = 14.0;
const BOTTOM: f64 = 30.0;
/// Labels on the time axis, about.
const TIME_LABELS: usize = 6;

/// How a chart shows a bucket without records.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Empty {
    /// Shaded: time without evidence (the evidence chart).
    Gap,
    /// Left blank: nothing happened (a policy's blocked traffic).
    Blank,
}

/// One chart: `t` as bars, `marks` (same window and buckets) as marks above them. `label` is
/// the chart's accessible name, already escaped for HTML.
pub fn chart(
    t: &Timeline,
    marks: Option<&Timeline>,
    empty: Empty,
    label: &str,
    what: &str,
) -> String {
    let n = t.values.len().max(1);
    let plot_w = WIDTH - LEFT - RIGHT;
    let plot_h = HEIGHT - TOP - BOTTOM;
    let step = plot_w / n as f64;
    let top = t.max().max(1);
    let mut out = String::new();
    let _ = write!(
        out,
        "<svg class=\"timeline\" viewBox=\"0 0 {WIDTH} {HEIGHT}\" role=\"img\" aria-label=\"{label}\" data-bars=\"{}\" data-total=\"{}\">",
        t.values.len(),
        t.total()
    );
    let _ = write!(out, "<title>{label}</title>");
    for (i, &v) in t.values.iter().enumerate() {
        let x = LEFT + step * i as f64;
        let when = short_time(t.start(i));
        if v == 0 && empty == Empty::Blank {
            continue;
        }
        if v == 0 {
            let _ = write!(
                out,
                "<rect class=\"gap\" x=\"{:.1}\" y=\"{TOP:.1}\" width=\"{:.1}\" height=\"{plot_h:.1}\"><title>{when}: no {what}</title></rect>",
                x, step
            );
            continue;
        }
        let h = (plot_h * v as f64 / top as f64).max(1.0);
        let _ = write!(
            out,
            "<rect class=\"bar\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{:.1}\"><title>{when}: {} {what}</title></rect>",
            x + step * 0.1,
            TOP + plot_h - h,
            step * 0.8,
            h,
            thousands(v)
        );
    }
    if let Some(m) = marks {
        for (i, &v) in m.values.iter().enumerate().filter(|(_, &v)| v > 0) {
            let x = LEFT + step * i as f64;
            let _ = write!(
                out,
                "<rect class=\"mark\" x=\"{:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"6\"><title>{}: {} SKIPDATA</title></rect>",
                x,
                TOP - 8.0,
                step.max(2.0),
                short_time(m.start(i)),
                thousands(v)
            );
        }
    }
    // Axes: the y-axis from 0 to the highest bar, the x-axis with a few bucket starts.
    let base = TOP + plot_h;
    let _ = write!(
        out,
        "<line class=\"axis\" x1=\"{LEFT}\" y1=\"{TOP}\" x2=\"{LEFT}\" y2=\"{base}\"/><line class=\"axis\" x1=\"{LEFT}\" y1=\"{base}\" x2=\"{:.1}\" y2=\"{base}\"/>",
        WIDTH - RIGHT
    );
    let _ = write!(
        out,
        "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\">{}</text><text x=\"{:.1}\" y=\"{base:.1}\" text-anchor=\"end\">0</text>",
        LEFT - 4.0,
        TOP + 8.0,
        thousands(top),
        LEFT - 4.0
    );
    let every = n.div_ceil(TIME_LABELS).max(1);
    for i in (0..n).step_by(every) {
        let _ = write!(
            out,
            "<text x=\"{:.1}\" y=\"{:.1}\">{}</text>",
            LEFT + step * i as f64,
            base + 16.0,
            t.label(i)
        );
    }
    out.push_str("</svg>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::hours::HOUR;
    use crate::output::sample;
    use crate::report::Hours;

    #[test]
    fn a_bar_per_bucket_and_a_gap_per_empty_one() {
        let h0 = sample::T0 / HOUR;
        let hours: Hours = [(h0, 4), (h0 + 3, 2)].into_iter().collect();
        let t = Timeline::new(&hours, (h0, h0 + 4));
        let marks = Timeline::new(&[(h0 + 3, 1)].into_iter().collect(), (h0, h0 + 4));
        let svg = chart(&t, Some(&marks), Empty::Gap, "records", "records");
        let blank = chart(&t, None, Empty::Blank, "records", "records");
        assert_eq!(blank.matches("class=\"gap\"").count(), 0);
        assert_eq!(svg.matches("class=\"bar\"").count(), 2);
        assert_eq!(svg.matches("class=\"gap\"").count(), 3);
        assert_eq!(svg.matches("class=\"mark\"").count(), 1);
        assert!(
            svg.contains("<title>2026-03-02 03:00: 2 records</title>"),
            "{svg}"
        );
        assert!(svg.contains("data-bars=\"5\" data-total=\"6\""));
        // The tallest bar fills the plot.
        assert!(
            svg.contains("y=\"14.0\" width=\"111.4\" height=\"146.0\""),
            "{svg}"
        );
    }
}
