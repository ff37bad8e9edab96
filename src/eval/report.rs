//! `docs/RESULTS.md`: the tables, the perception–distortion plot, side-by-side crops and the
//! uncertainty map, with how and where they were made.

use std::fmt::Write as _;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use image::RgbImage;

use super::defaults::{averaging_default_rule, fast_default_rule};
use super::figures::{FIGURE_CROP, crops_strip, labelled_strip, pd_plot};
use super::{AveragingDefault, FastDefault, Figure, Sweep, Table};
use crate::bundle::{DefaultSampling, ModelBundle};
use crate::error::{Error, Result};
use crate::render::{self, HEAT_MAP_FULL_SCALE};
use crate::sampler::SamplingParams;

/// What the report says about the model.
#[derive(Clone, Debug, PartialEq)]
pub struct ModelInfo {
    /// Manifest name.
    pub name: String,
    /// Where it was loaded from.
    pub origin: String,
    /// Manifest description.
    pub description: String,
    /// The schedule it was tuned for.
    pub default_sampling: SamplingParams,
    /// The schedule it was tuned for with several samples averaged.
    pub averaging_sampling: DefaultSampling,
}

impl From<&ModelBundle> for ModelInfo {
    fn from(bundle: &ModelBundle) -> Self {
        ModelInfo {
            name: bundle.manifest().name.clone(),
            origin: bundle.origin().to_string(),
            description: bundle.manifest().description.clone(),
            default_sampling: bundle.default_sampling(),
            averaging_sampling: bundle.tuned_sampling().averaged,
        }
    }
}

/// Everything the report shows.
#[derive(Clone, Debug)]
pub struct Report<'a> {
    /// The model evaluated.
    pub model: ModelInfo,
    /// The photo table, and where its pairs came from.
    pub photos: Option<(&'a Table, String)>,
    /// Inputs shown side by side and with their uncertainty.
    pub figures: &'a [Figure],
    /// The clip table, and where its frames came from.
    pub clip: Option<(&'a Table, String)>,
    /// The sweep.
    pub sweep: Option<&'a Sweep>,
    /// The fast default chosen from the sweep.
    pub fast_default: Option<&'a FastDefault>,
    /// The averaging schedule chosen from the sweep.
    pub averaging_default: Option<&'a AveragingDefault>,
    /// The manifest the fast default was written to, if it was.
    pub defaults_written: Option<PathBuf>,
    /// The command that regenerates the report.
    pub command: String,
    /// The `deblur eval` command line itself, when `command` is a script that runs it.
    pub invocation: Option<String>,
    /// How the inputs were made, in Markdown, for "How this was made".
    pub note: Option<String>,
    /// When (see [`utc_now`]).
    pub date: String,
    /// Where (see [`describe_machine`]).
    pub machine: String,
    /// How long the evaluation took.
    pub elapsed: Duration,
}

/// File names, inside the images folder.
const PD_PLOT: &str = "results-pd";

/// `value` as printed in prose: shortest form, "∞" for infinity.
pub fn number(value: f64) -> String {
    match value {
        v if v == f64::INFINITY => "∞".into(),
        v if v == f64::NEG_INFINITY => "−∞".into(),
        v => format!("{v}"),
    }
}

/// `value` with `decimals` decimals, "∞" for infinity, "n/a" for NaN.
fn fixed(value: f64, decimals: usize) -> String {
    if value.is_nan() {
        "n/a".into()
    } else if value.is_infinite() {
        number(value)
    } else {
        format!("{value:.decimals$}")
    }
}

impl Report<'_> {
    /// Writes the report to `results` and its images into `images_dir`; returns every file
    /// written.
    pub fn write(&self, results: &Path, images_dir: &Path) -> Result<Vec<PathBuf>> {
        let io_error = |path: &Path| {
            let path = path.to_path_buf();
            move |source| Error::Io { path, source }
        };
        let results_dir = results
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        std::fs::create_dir_all(results_dir).map_err(io_error(results_dir))?;
        std::fs::create_dir_all(images_dir).map_err(io_error(images_dir))?;
        let link_base = relative_path(results_dir, images_dir)?;
        let link = |file: &str| link_base.join(file).to_string_lossy().replace('\\', "/");
        let mut written = Vec::new();
        let mut md = String::new();
        self.write_header(&mut md);
        if let Some((table, source)) = &self.photos {
            let _ = writeln!(md, "## Held-out photos\n");
            let _ = writeln!(
                md,
                "{source}: {} pairs at full size, scores averaged over the images.\n",
                table.names.len()
            );
            write_table(&mut md, table);
            write_per_image(&mut md, table);
        }
        if let Some((table, source)) = &self.clip {
            let _ = writeln!(md, "## Synthetic camera-motion clip\n");
            let _ = writeln!(
                md,
                "{source}: {} frames. Temporal error is averaged over the {} pairs of \
                 consecutive frames. Locked noise draws the same noise for every frame; per-frame \
                 noise draws new noise each frame, and the stochastic detail then flickers.\n",
                table.names.len(),
                table.names.len().saturating_sub(1)
            );
            write_table(&mut md, table);
        }
        if let Some(sweep) = self.sweep {
            let svg = images_dir.join(format!("{PD_PLOT}.svg"));
            let png = images_dir.join(format!("{PD_PLOT}.png"));
            pd_plot(sweep, self.fast_default).save(&svg, &png)?;
            written.extend([svg, png]);
            self.write_sweep(&mut md, sweep, &link);
        }
        if !self.figures.is_empty() {
            written.extend(self.write_figures(&mut md, images_dir, &link)?);
        }
        self.write_footer(&mut md);
        std::fs::write(results, md).map_err(io_error(results))?;
        written.insert(0, results.to_path_buf());
        Ok(written)
    }

    fn write_header(&self, md: &mut String) {
        let m = &self.model;
        let _ = writeln!(md, "# Results\n");
        let _ = writeln!(
            md,
            "Generated {} on {} by `{}` (evaluation time {}). Regenerate with the same command; \
             [how this was made](#how-this-was-made).\n",
            self.date,
            self.machine,
            self.command,
            format_duration(self.elapsed)
        );
        // The embedded model's origin already carries its name.
        if m.origin.contains(&m.name) {
            let _ = writeln!(md, "**Model:** {}.", m.origin);
        } else {
            let _ = writeln!(md, "**Model:** `{}` from `{}`.", m.name, m.origin);
        }
        if !m.description.is_empty() {
            let _ = writeln!(md, "{}", m.description);
        }
        let _ = writeln!(
            md,
            "Default schedule: {} steps, schedule end (final 1−α) {}; with several samples \
             averaged: {} steps, schedule end {}.\n",
            m.default_sampling.steps,
            number(m.default_sampling.schedule_end),
            m.averaging_sampling.steps,
            number(m.averaging_sampling.schedule_end)
        );
        let _ = writeln!(
            md,
            "Columns: PSNR and SSIM (higher is closer to the sharp image), detail ratio (1 is as \
             much fine detail as the sharp image: below 1 smoother, above 1 noisier or \
             over-sharpened) and, for the clip, temporal error (lower flickers less). See \
             [what the numbers mean](#what-the-numbers-mean).\n"
        );
    }

    fn write_sweep(&self, md: &mut String, sweep: &Sweep, link: &dyn Fn(&str) -> String) {
        let grid = &sweep.grid;
        let list = |values: Vec<String>| values.join(", ");
        let _ = writeln!(md, "## Perception–distortion sweep\n");
        let crop = sweep.crop.map_or("full-size images".to_string(), |c| {
            format!("centre crops of {c}x{c} pixels")
        });
        let _ = writeln!(
            md,
            "A schedule sweep like the paper's Appendix F, on {} images ({crop}): steps {{{}}}, schedule end \
             {{{}}}, samples averaged {{{}}}: {} settings. One predictor pass per image and one \
             batch of {} samples per (image, schedule) serve every sample count.\n",
            sweep.images.len(),
            list(grid.steps.iter().map(u32::to_string).collect()),
            list(grid.schedule_ends.iter().map(|&e| number(e)).collect()),
            list(grid.samples.iter().map(u32::to_string).collect()),
            sweep.points.len(),
            grid.batch_size()
        );
        let _ = writeln!(
            md,
            "![PSNR against detail ratio, one point per setting]({}.png)\n\n\
             [SVG version]({}.svg). Each point is one (steps, schedule end, samples) setting; \
             colour gives the number of samples averaged. Up is less distortion; towards the dashed line \
             at 1 is as much detail as the sharp images. On these crops the blurry input scores \
             PSNR {} dB, detail ratio {}; the predictor alone PSNR {} dB, detail ratio {}.\n",
            link(PD_PLOT),
            link(PD_PLOT),
            fixed(sweep.blurry.psnr, 2),
            fixed(sweep.blurry.detail_ratio, 3),
            fixed(sweep.predictor.psnr, 2),
            fixed(sweep.predictor.detail_ratio, 3)
        );
        let _ = writeln!(md, "### The fast default\n");
        let _ = writeln!(md, "Rule: {}.\n", fast_default_rule());
        match self.fast_default {
            Some(fast) => {
                let _ = writeln!(md, "Result: **{}**.", fast.summary());
            }
            None => {
                let _ = writeln!(
                    md,
                    "Result: none: the grid has no setting with at most {} steps and 1 sample.",
                    super::defaults::FAST_MAX_STEPS
                );
            }
        }
        let _ = writeln!(md, "\n### The averaging schedule\n");
        match self.averaging_default {
            Some(averaging) => {
                let _ = writeln!(
                    md,
                    "Rule: {}.\n\nResult: **{}**.",
                    averaging_default_rule(averaging.point.samples),
                    averaging.summary()
                );
            }
            None => {
                let _ = writeln!(
                    md,
                    "Result: none: the grid has no setting with at most {} steps averaging the SA \
                     row's sample count.",
                    super::defaults::FAST_MAX_STEPS
                );
            }
        }
        match &self.defaults_written {
            Some(path) => {
                let what = if self.averaging_default.is_some() {
                    "Both written"
                } else {
                    "Written"
                };
                let _ = writeln!(md, "{what} to `{}`.\n", path.display());
            }
            None => {
                let _ = writeln!(
                    md,
                    "Not written to the model (`deblur eval --write-defaults --model DIR` does).\n"
                );
            }
        }
        let _ = writeln!(
            md,
            "<details><summary>Every setting of the sweep</summary>\n\n\
             | steps | schedule end | samples | PSNR | SSIM | detail ratio |\n\
             |---:|---:|---:|---:|---:|---:|"
        );
        for p in &sweep.points {
            let _ = writeln!(
                md,
                "| {} | {} | {} | {} | {} | {} |",
                p.steps,
                number(p.schedule_end),
                p.samples,
                fixed(p.scores.psnr, 2),
                fixed(p.scores.ssim, 3),
                fixed(p.scores.detail_ratio, 3)
            );
        }
        let _ = writeln!(md, "\n</details>\n");
    }

    fn write_figures(
        &self,
        md: &mut String,
        images_dir: &Path,
        link: &dyn Fn(&str) -> String,
    ) -> Result<Vec<PathBuf>> {
        let mut written = Vec::new();
        let _ = writeln!(md, "## Side by side\n");
        let samples = self.figures[0].samples;
        let _ = writeln!(
            md,
            "The most detailed {FIGURE_CROP}x{FIGURE_CROP} window of each image (chosen on the \
             sharp image), left to right: blurry input, predictor only, one sample, the average \
             of {samples} samples, sharp.\n"
        );
        for figure in self.figures {
            let file = format!("results-crops-{}.png", file_stem(&figure.name));
            let path = images_dir.join(&file);
            save(&crops_strip(figure), &path)?;
            written.push(path);
            let _ = writeln!(
                md,
                "**{}**\n\n![{} side by side]({})\n",
                figure.name,
                figure.name,
                link(&file)
            );
        }
        let _ = writeln!(md, "## Uncertainty\n");
        let _ = writeln!(
            md,
            "As in the paper's Fig. 5: the input next to the per-pixel standard deviation across \
             {samples} samples (root mean square over the colour channels; black is 0, white {} \
             or more in model units). In the paper the samples disagree where the blur destroyed \
             detail the model has to invent (edges and texture) and agree on flat regions.\n",
            number(f64::from(HEAT_MAP_FULL_SCALE))
        );
        for figure in self.figures {
            let file = format!("results-uncertainty-{}.png", file_stem(&figure.name));
            let path = images_dir.join(&file);
            let heat = render::heat_map(&figure.uncertainty);
            save(
                &labelled_strip(&[("INPUT", &figure.blurry), ("UNCERTAINTY", &heat)]),
                &path,
            )?;
            written.push(path);
            let _ = writeln!(
                md,
                "![{} and its uncertainty]({})\n",
                figure.name,
                link(&file)
            );
        }
        Ok(written)
    }

    fn write_footer(&self, md: &mut String) {
        let _ = writeln!(md, "## What the numbers mean\n");
        let _ = writeln!(
            md,
            "- **PSNR** (dB) and **SSIM** (11x11 Gaussian window, σ 1.5): distortion against the \
             sharp image; higher is closer. Both reward the conditional mean, so averaging \
             samples raises them.\n\
             - **Detail ratio**: the mean squared Laplacian of the output's luma divided by the \
             sharp image's. 1 means as much fine detail (edges, texture) as the sharp image; \
             below 1 the output is smoother (blur left, or detail averaged away), above 1 it is \
             noisier or over-sharpened. Noise counts as detail too, so a noisy blurry input can \
             score above 1. It stands in for a perceptual measure: what the paper's \
             stochastic refinement adds over the predictor is detail, and this counts it, though \
             it cannot tell true detail from plausible invention.\n\
             - **Temporal error** (clips): the mean over pixels, channels and consecutive frame \
             pairs of |(o_t − o_t−1) − (r_t − r_t−1)| in 8-bit levels, where o is the output and \
             r the sharp reference: how much the output changes between frames beyond what the \
             scene does. 0 is no flicker.\n\
             - **Perceptual metrics**: none. LPIPS, NIQE, FID and KID, which the paper reports, \
             need pretrained network weights that cannot be downloaded on the machine this ran \
             on, so this report has no perceptual column; the detail ratio and the figures stand \
             in for it.\n\
             - The metrics are `src/metrics.rs`, identical to `training/deblur_train/metrics.py`.\n"
        );
        let _ = writeln!(md, "## How this was made\n");
        let _ = writeln!(md, "```sh\n{}\n```\n", self.command);
        if let Some(note) = &self.note {
            let _ = writeln!(md, "{note}\n");
        }
        if let Some(invocation) = &self.invocation {
            let _ = writeln!(md, "The evaluation ran as:\n\n```sh\n{invocation}\n```\n");
        }
        let _ = writeln!(
            md,
            "Run {} on {}; the evaluation itself took {}.",
            self.date,
            self.machine,
            format_duration(self.elapsed)
        );
    }
}

/// The table in the paper's form (Markdown).
fn write_table(md: &mut String, table: &Table) {
    let clip = table.rows.iter().any(|r| r.temporal_error.is_some());
    let _ = write!(
        md,
        "| | setting | PSNR ↑ | SSIM ↑ | detail ratio (1 = sharp) |"
    );
    let _ = writeln!(md, "{}", if clip { " temporal error ↓ |" } else { "" });
    let _ = writeln!(
        md,
        "|---|---|---:|---:|---:|{}",
        if clip { "---:|" } else { "" }
    );
    for row in &table.rows {
        let _ = write!(
            md,
            "| {} | {} | {} | {} | {} |",
            row.label,
            row.setting,
            fixed(row.scores.psnr, 2),
            fixed(row.scores.ssim, 3),
            fixed(row.scores.detail_ratio, 3)
        );
        match row.temporal_error {
            Some(error) => {
                let _ = writeln!(md, " {} |", fixed(error, 2));
            }
            None => md.push('\n'),
        }
    }
    md.push('\n');
}

/// PSNR per image and row, folded away.
fn write_per_image(md: &mut String, table: &Table) {
    let _ = writeln!(md, "<details><summary>PSNR per image</summary>\n");
    let _ = write!(md, "| image |");
    for row in &table.rows {
        let _ = write!(md, " {} |", row.label);
    }
    let _ = writeln!(md, "\n|---|{}", "---:|".repeat(table.rows.len()));
    for (index, name) in table.names.iter().enumerate() {
        let _ = write!(md, "| {name} |");
        for row in &table.rows {
            let _ = write!(md, " {} |", fixed(row.per_image[index].psnr, 2));
        }
        md.push('\n');
    }
    let _ = writeln!(md, "\n</details>\n");
}

fn save(image: &RgbImage, path: &Path) -> Result<()> {
    image.save(path).map_err(|source| Error::Image {
        path: path.to_path_buf(),
        source,
    })
}

/// `name` with anything but letters, digits, '-' and '_' replaced, for file names.
fn file_stem(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// The path of `target` as seen from the directory `base` (both must exist).
fn relative_path(base: &Path, target: &Path) -> Result<PathBuf> {
    let absolute = |p: &Path| {
        p.canonicalize().map_err(|source| Error::Io {
            path: p.to_path_buf(),
            source,
        })
    };
    let (base, target) = (absolute(base)?, absolute(target)?);
    let base: Vec<Component> = base.components().collect();
    let target: Vec<Component> = target.components().collect();
    let common = base.iter().zip(&target).take_while(|(a, b)| a == b).count();
    let mut relative = PathBuf::new();
    for _ in common..base.len() {
        relative.push("..");
    }
    for part in &target[common..] {
        relative.push(part);
    }
    Ok(relative)
}

/// "1h02m03s", "4m05s" or "6.1s".
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs();
    match seconds {
        0..60 => format!("{:.1}s", duration.as_secs_f64()),
        60..3600 => format!("{}m{:02}s", seconds / 60, seconds % 60),
        _ => format!(
            "{}h{:02}m{:02}s",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60
        ),
    }
}

/// The current date and time in UTC, "YYYY-MM-DD HH:MM UTC".
pub fn utc_now() -> String {
    let seconds = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let (days, time) = (seconds / 86_400, seconds % 86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let day_of_era = z.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_index = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_index + 2) / 5 + 1;
    let month = if month_index < 10 {
        month_index + 3
    } else {
        month_index - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02} {:02}:{:02} UTC",
        time / 3600,
        time / 60 % 60
    )
}

/// The CPU model, the cores this process may use and the operating system, in one line.
pub fn describe_machine() -> String {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, name)| name.trim().to_string())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let system = std::fs::read_to_string("/etc/os-release")
        .ok()
        .and_then(|release| {
            release
                .lines()
                .find_map(|l| l.strip_prefix("PRETTY_NAME="))
                .map(|name| name.trim_matches('"').to_string())
        })
        .unwrap_or_else(|| std::env::consts::OS.into());
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    format!("{cpu}, {cores} cores, {system}")
}
