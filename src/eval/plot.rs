//! Accuracy-vs-k plots of a [`Report`], as SVG or PNG.
//!
//! SVG text is written as `<text>` elements in the generic `sans-serif` family, so an SVG needs no
//! font file. PNG text is rasterised here, which needs a TrueType/OpenType font: no font ships
//! with the crate; one is loaded at run time from [`PlotOptions::font`] or else from the first of
//! [`FONT_PATHS`] that exists. The title and the legend are laid out by this module with a fixed
//! character-width estimate, because plotters' own caption and legend measure text through the
//! font and would fail for SVG when no font is registered.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use plotters::backend::{BitMapBackend, SVGBackend};
use plotters::coord::ranged1d::{KeyPointHint, NoDefaultFormatting, Ranged, ValueFormatter};
use plotters::coord::Shift;
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::report::Report;

/// Well-known locations of a sans-serif TrueType font (Debian/Ubuntu, Fedora, Arch, macOS,
/// Windows), tried in order for PNG output. On Debian: `apt-get install fonts-dejavu-core`.
pub const FONT_PATHS: &[&str] = &[
    "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu/DejaVuSans.ttf",
    "/usr/share/fonts/TTF/DejaVuSans.ttf",
    "/usr/share/fonts/dejavu-sans-fonts/DejaVuSans.ttf",
    "/usr/share/fonts/truetype/liberation/LiberationSans-Regular.ttf",
    "/usr/share/fonts/liberation-sans/LiberationSans-Regular.ttf",
    "/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/noto/NotoSans-Regular.ttf",
    "/usr/share/fonts/truetype/freefont/FreeSans.ttf",
    "/System/Library/Fonts/Supplemental/Arial.ttf",
    "/Library/Fonts/Arial.ttf",
    "C:\\Windows\\Fonts\\arial.ttf",
];

/// The font family every text element uses (registered under this name for PNG).
const FAMILY: &str = "sans-serif";

/// Errors writing a plot.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PlotError {
    /// The file name does not end in `.svg` or `.png`.
    #[error("cannot tell the image format of {path:?}: use a file name ending in .svg or .png")]
    Format {
        /// The path given.
        path: PathBuf,
    },
    /// PNG output needs a font and none of the known locations has one.
    #[error(
        "PNG output needs a TrueType/OpenType font and none was found (tried {}); \
         install one (Debian: apt-get install fonts-dejavu-core), name one explicitly, \
         or write an SVG, which needs no font",
        tried.join(", ")
    )]
    NoFont {
        /// Paths tried.
        tried: Vec<String>,
    },
    /// The font file could not be used.
    #[error("cannot use font {path:?}: {reason}")]
    Font {
        /// The font file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
    /// The report has no row to plot.
    #[error("the report has no k with data to plot")]
    Empty,
    /// Drawing or writing the image failed.
    #[error("cannot write plot {path:?}: {reason}")]
    Draw {
        /// The output file.
        path: PathBuf,
        /// What went wrong.
        reason: String,
    },
}

/// Which accuracy to plot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PlotMetric {
    /// The expectation over random k-subsets ([`super::Cell::expected`]).
    #[default]
    Expected,
    /// The first-k accuracy ([`super::Cell::first_k`]).
    FirstK,
}

/// How to draw a plot.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PlotOptions {
    /// Which accuracy to plot.
    pub metric: PlotMetric,
    /// Title; a default naming the metric when `None`.
    pub title: Option<String>,
    /// Image size in pixels.
    pub size: (u32, u32),
    /// Font file for PNG text; the first of [`FONT_PATHS`] that exists when `None`.
    pub font: Option<PathBuf>,
}

impl Default for PlotOptions {
    fn default() -> Self {
        Self {
            metric: PlotMetric::Expected,
            title: None,
            size: (960, 600),
            font: None,
        }
    }
}

impl PlotOptions {
    /// Plot `metric`.
    #[must_use]
    pub fn with_metric(mut self, metric: PlotMetric) -> Self {
        self.metric = metric;
        self
    }

    /// Use `title`.
    #[must_use]
    pub fn with_title(mut self, title: impl Into<String>) -> Self {
        self.title = Some(title.into());
        self
    }

    /// Draw a `width` x `height` pixel image.
    #[must_use]
    pub fn with_size(mut self, width: u32, height: u32) -> Self {
        self.size = (width, height);
        self
    }

    /// Use the font file at `path` for PNG text.
    #[must_use]
    pub fn with_font(mut self, path: impl Into<PathBuf>) -> Self {
        self.font = Some(path.into());
        self
    }
}

/// The first of [`FONT_PATHS`] that is a file.
pub fn find_system_font() -> Option<PathBuf> {
    FONT_PATHS.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// The font file registered with plotters in this process, if any.
static REGISTERED_FONT: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Registers the font for PNG text (once per distinct file: plotters keeps fonts for the life of
/// the process, so the file's bytes are intentionally leaked).
fn ensure_font(explicit: Option<&Path>) -> Result<(), PlotError> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => find_system_font().ok_or_else(|| PlotError::NoFont {
            tried: FONT_PATHS.iter().map(|s| (*s).to_owned()).collect(),
        })?,
    };
    let mut registered = REGISTERED_FONT.lock().unwrap_or_else(|e| e.into_inner());
    if registered.as_deref() == Some(path.as_path()) {
        return Ok(());
    }
    let bytes = std::fs::read(&path).map_err(|e| PlotError::Font {
        path: path.clone(),
        reason: e.to_string(),
    })?;
    let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
    plotters::style::register_font(FAMILY, FontStyle::Normal, bytes).map_err(|_| {
        PlotError::Font {
            path: path.clone(),
            reason: "not a TrueType/OpenType font".to_owned(),
        }
    })?;
    *registered = Some(path);
    Ok(())
}

/// Line colours; `random` and `oracle` (the bounds) are drawn dashed in grey and black instead.
pub(crate) const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(23, 190, 207),
    RGBColor(188, 189, 34),
    RGBColor(31, 31, 140),
];

/// How one selector is drawn.
struct Look {
    color: RGBColor,
    dashed: bool,
    /// 0 circle, 1 triangle, 2 square.
    marker: usize,
}

fn looks(report: &Report) -> Vec<Look> {
    let mut next = 0;
    report
        .selectors
        .iter()
        .map(|s| match s.kind.as_str() {
            "random" => Look {
                color: RGBColor(140, 140, 140),
                dashed: true,
                marker: 0,
            },
            "oracle" => Look {
                color: RGBColor(0, 0, 0),
                dashed: true,
                marker: 0,
            },
            _ => {
                let look = Look {
                    color: PALETTE[next % PALETTE.len()],
                    dashed: false,
                    marker: (next / PALETTE.len()) % 3,
                };
                next += 1;
                look
            }
        })
        .collect()
}

/// Draws one marker centred at `at` (in the area's coordinates).
fn marker<DB: DrawingBackend, CT: CoordTranslate>(
    area: &DrawingArea<DB, CT>,
    at: CT::From,
    look: &Look,
) -> Result<(), String> {
    let style = look.color.filled();
    let r = 4;
    let res = match look.marker {
        0 => area.draw(&(EmptyElement::at(at) + Circle::new((0, 0), r, style))),
        1 => area.draw(&(EmptyElement::at(at) + TriangleMarker::new((0, 0), r + 1, style))),
        _ => area.draw(&(EmptyElement::at(at) + Rectangle::new([(-r, -r), (r, r)], style))),
    };
    res.map_err(|e| e.to_string())
}

/// Writes the accuracy-vs-k plot of `report` to `path`: SVG or PNG by the file's extension,
/// x axis log2(k) with a tick at every k of the report, one line with markers per selector,
/// legend on the right. The file is replaced atomically.
pub fn plot(report: &Report, path: &Path, options: &PlotOptions) -> Result<(), PlotError> {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    let draw_err = |reason: String| PlotError::Draw {
        path: path.to_path_buf(),
        reason,
    };
    if report.rows.is_empty() {
        return Err(PlotError::Empty);
    }
    match ext.as_deref() {
        Some("svg") => {
            let mut svg = String::new();
            {
                let root = SVGBackend::with_string(&mut svg, options.size).into_drawing_area();
                draw(&root, report, options).map_err(draw_err)?;
            }
            crate::fsutil::write_atomic(path, svg.as_bytes()).map_err(|e| draw_err(e.to_string()))
        }
        Some("png") => {
            ensure_font(options.font.as_deref())?;
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            std::fs::create_dir_all(dir).map_err(|e| draw_err(e.to_string()))?;
            // The encoder picks the format from the extension, so the temporary file keeps it.
            let tmp = crate::fsutil::new_file_builder()
                .prefix(".plot.")
                .suffix(".png")
                .tempfile_in(dir)
                .map_err(|e| draw_err(e.to_string()))?;
            {
                let root = BitMapBackend::new(tmp.path(), options.size).into_drawing_area();
                draw(&root, report, options).map_err(draw_err)?;
            }
            tmp.persist(path)
                .map_err(|e| draw_err(e.error.to_string()))?;
            Ok(())
        }
        _ => Err(PlotError::Format {
            path: path.to_path_buf(),
        }),
    }
}

/// The x axis: log2(k) mapped linearly, with a bold tick (labelled k) at every k of the report.
struct Log2Axis {
    lo: f64,
    hi: f64,
    ticks: Vec<f64>,
}

impl Ranged for Log2Axis {
    type FormatOption = NoDefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let t = (value - self.lo) / (self.hi - self.lo);
        limit.0 + (t * f64::from(limit.1 - limit.0)).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() {
            Vec::new()
        } else {
            self.ticks.clone()
        }
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.lo..self.hi
    }
}

impl ValueFormatter<f64> for Log2Axis {
    fn format(value: &f64) -> String {
        format!("{}", value.exp2().round())
    }
}

/// Generous advance of one character of a sans-serif font, as a fraction of the rendered font
/// size (plotters renders a style of size s at s / 1.24 pixels per em, in both backends).
const CHAR_WIDTH: f64 = 0.6 / 1.24;

fn draw<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    report: &Report,
    options: &PlotOptions,
) -> Result<(), String> {
    let e = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
    root.fill(&WHITE).map_err(e)?;
    let width = options.size.0;
    let (title_px, label_px, legend_px) = (24.0, 17.0, 17.0);

    let title = options.title.clone().unwrap_or_else(|| {
        match options.metric {
            PlotMetric::Expected => "Best-of-k accuracy (expected over random k-subsets)",
            PlotMetric::FirstK => "Best-of-k accuracy (first k candidates)",
        }
        .to_owned()
    });
    let title_h = (title_px * 2.0) as u32;
    let title_style =
        TextStyle::from((FAMILY, title_px).into_font()).pos(Pos::new(HPos::Center, VPos::Center));
    root.draw(&Text::new(
        title,
        ((width / 2) as i32, (title_h / 2) as i32),
        title_style,
    ))
    .map_err(e)?;

    let longest = report
        .selectors
        .iter()
        .map(|s| s.name.chars().count())
        .max()
        .unwrap_or(0);
    let legend_w = ((longest as f64 * CHAR_WIDTH * legend_px) as u32 + 60).min(width / 2);
    let body = root.margin(title_h, 0, 0, 0);
    let (chart_area, legend_area) = body.split_horizontally(width.saturating_sub(legend_w));

    let value = |c: &super::Cell| match options.metric {
        PlotMetric::Expected => c.expected,
        PlotMetric::FirstK => c.first_k,
    };
    let xs: Vec<f64> = report.rows.iter().map(|r| (r.k as f64).log2()).collect();
    let (mut lo, mut hi) = report
        .rows
        .iter()
        .flat_map(|r| r.cells.iter().map(value))
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| {
            (lo.min(v), hi.max(v))
        });
    let pad = ((hi - lo) * 0.08).max(0.02);
    lo = (lo - pad).max(0.0);
    hi = (hi + pad).min(1.0);
    let x_max = xs.last().copied().unwrap_or(0.0);
    let x_pad = (x_max * 0.04).max(0.15);

    let mut chart = ChartBuilder::on(&chart_area)
        .margin_left(10)
        .margin_right(20)
        .margin_bottom(10)
        .x_label_area_size(48)
        .y_label_area_size(64)
        .build_cartesian_2d(
            Log2Axis {
                lo: -x_pad,
                hi: x_max + x_pad,
                ticks: xs.clone(),
            },
            lo..hi,
        )
        .map_err(e)?;
    let label_font = (FAMILY, label_px).into_font();
    chart
        .configure_mesh()
        .x_desc("k (candidates per pick, log2 scale)")
        .y_desc("accuracy")
        .y_label_formatter(&|y| format!("{y:.2}"))
        .label_style(label_font.clone())
        .axis_desc_style(label_font)
        .light_line_style(WHITE.mix(0.0))
        .bold_line_style(BLACK.mix(0.12))
        .draw()
        .map_err(e)?;

    let styles = looks(report);
    // The dashed bounds (random, oracle) go last so that curves on them do not hide them.
    let mut order: Vec<usize> = (0..styles.len()).collect();
    order.sort_by_key(|&s| styles[s].dashed);
    for s in order {
        let look = &styles[s];
        let points: Vec<(f64, f64)> = report
            .rows
            .iter()
            .zip(&xs)
            .map(|(r, &x)| (x, value(&r.cells[s])))
            .collect();
        let line = look.color.stroke_width(2);
        if look.dashed {
            chart
                .draw_series(DashedLineSeries::new(points.clone(), 8, 5, line))
                .map_err(e)?;
        } else {
            chart
                .draw_series(LineSeries::new(points.clone(), line))
                .map_err(e)?;
        }
        for &p in &points {
            marker(chart.plotting_area(), p, look)?;
        }
    }

    // Legend: one entry per selector, top-aligned with the plotting area.
    let text_style =
        TextStyle::from((FAMILY, legend_px).into_font()).pos(Pos::new(HPos::Left, VPos::Center));
    let line_h = (legend_px * 1.6) as i32;
    let top = 16;
    for (s, (info, look)) in report.selectors.iter().zip(&styles).enumerate() {
        let y = top + s as i32 * line_h;
        let (x0, x1) = (4, 34);
        let style = look.color.stroke_width(2);
        if look.dashed {
            legend_area
                .draw(&PathElement::new(vec![(x0, y), (x0 + 10, y)], style))
                .map_err(e)?;
            legend_area
                .draw(&PathElement::new(vec![(x1 - 10, y), (x1, y)], style))
                .map_err(e)?;
        } else {
            legend_area
                .draw(&PathElement::new(vec![(x0, y), (x1, y)], style))
                .map_err(e)?;
        }
        marker(&legend_area, ((x0 + x1) / 2, y), look)?;
        legend_area
            .draw(&Text::new(
                info.name.clone(),
                (x1 + 8, y),
                text_style.clone(),
            ))
            .map_err(e)?;
    }
    root.present().map_err(e)?;
    Ok(())
}
