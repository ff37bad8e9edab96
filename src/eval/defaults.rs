//! Choosing the fast default schedule and the averaging schedule from a sweep, and writing them
//! into a bundle's manifest.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use serde_json::Value;

use super::SweepPoint;
use crate::bundle::{MANIFEST_NAME, ModelBundle};
use crate::error::{Error, Result};
use crate::schedule::Schedule;

/// The speed budget: at most this many reverse steps, one sample. The target is at least 5 fps at
/// 640x360 on 2 CPU cores; `deblur bench` there gave the element 4.7-5.1 fps at 2 steps and
/// 3.8-4.1 fps at 4 steps with the plain `small` networks (52.6 + 9.6 GFLOP a step; the shipped
/// spectral predictor is 56.4).
pub const FAST_MAX_STEPS: u32 = 2;
/// How much PSNR below the predictor alone the fast default may give up, dB.
pub const FAST_PSNR_TOLERANCE_DB: f64 = 1.0;
/// The rule, in words, for reports.
pub fn fast_default_rule() -> String {
    format!(
        "among the settings with at most {FAST_MAX_STEPS} steps and 1 sample (the speed budget: 4 \
         steps ran below 5 fps at 640x360 on 2 CPU cores, 2 steps about 5), the one whose detail \
         ratio is closest to 1 (smallest |ln ratio|) among those whose PSNR is at least the \
         predictor's minus {FAST_PSNR_TOLERANCE_DB:.1} dB; if none qualifies, the one with the \
         best PSNR"
    )
}

/// The chosen setting and why.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct FastDefault {
    /// The setting and its scores.
    pub point: SweepPoint,
    /// The predictor's PSNR minus the tolerance.
    pub psnr_floor: f64,
    /// Whether the point meets the PSNR floor (false: the best-PSNR fallback).
    pub meets_psnr_floor: bool,
    /// Settings within the speed budget that were considered.
    pub candidates: usize,
}

impl FastDefault {
    /// One line: the setting, its scores and the reason it was chosen.
    pub fn summary(&self) -> String {
        let p = &self.point;
        let why = if self.meets_psnr_floor {
            format!(
                "detail ratio closest to 1 (|ln ratio| {:.3}) of the {} fast settings with PSNR \
                 at least {:.2} dB",
                p.scores.detail_ratio.ln().abs(),
                self.candidates,
                self.psnr_floor
            )
        } else {
            format!(
                "none of the {} fast settings reaches PSNR {:.2} dB; this one has the best PSNR",
                self.candidates, self.psnr_floor
            )
        };
        format!("{}; {why}", point_words(p))
    }
}

/// A setting and its scores, in words.
fn point_words(p: &SweepPoint) -> String {
    format!(
        "{} steps, schedule end {}: PSNR {:.2} dB, SSIM {:.3}, detail ratio {:.3}",
        p.steps,
        super::report::number(p.schedule_end),
        p.scores.psnr,
        p.scores.ssim,
        p.scores.detail_ratio
    )
}

/// Ties go to fewer steps, then to the gentler schedule: cheaper and less noisy.
fn cheaper(a: &SweepPoint, b: &SweepPoint) -> Ordering {
    a.steps
        .cmp(&b.steps)
        .then(a.schedule_end.total_cmp(&b.schedule_end))
}

/// PSNR for ranking: NaN ranks last.
fn ranked_psnr(p: &SweepPoint) -> f64 {
    if p.scores.psnr.is_nan() {
        f64::NEG_INFINITY
    } else {
        p.scores.psnr
    }
}

/// The rule for the averaging schedule, in words, for `samples` averaged.
pub fn averaging_default_rule(samples: u32) -> String {
    format!(
        "among the settings with at most {FAST_MAX_STEPS} steps (the fast default's budget) and \
         {samples} samples averaged, the one with the best PSNR"
    )
}

/// The averaging schedule chosen from a sweep.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct AveragingDefault {
    /// The setting and its scores.
    pub point: SweepPoint,
    /// Settings considered.
    pub candidates: usize,
}

impl AveragingDefault {
    /// One line: the setting, its scores and the reason it was chosen.
    pub fn summary(&self) -> String {
        format!(
            "{}; the best PSNR of the {} settings averaging {} samples within the budget",
            point_words(&self.point),
            self.candidates,
            self.point.samples
        )
    }
}

/// Applies [`averaging_default_rule`] to a sweep's `points`; `None` when the grid has no
/// setting within the budget that averages `samples` samples.
pub fn choose_averaging_default(points: &[SweepPoint], samples: u32) -> Option<AveragingDefault> {
    let candidates: Vec<&SweepPoint> = points
        .iter()
        .filter(|p| p.steps >= 1 && p.steps <= FAST_MAX_STEPS && p.samples == samples)
        .collect();
    let best = candidates.iter().min_by(|a, b| {
        ranked_psnr(b)
            .total_cmp(&ranked_psnr(a))
            .then(cheaper(a, b))
    })?;
    Some(AveragingDefault {
        point: **best,
        candidates: candidates.len(),
    })
}

/// Applies [`fast_default_rule`] to a sweep's `points`, given the predictor's PSNR on the same
/// images; `None` when no point is within the speed budget.
pub fn choose_fast_default(points: &[SweepPoint], predictor_psnr: f64) -> Option<FastDefault> {
    let fast: Vec<&SweepPoint> = points
        .iter()
        .filter(|p| p.steps <= FAST_MAX_STEPS && p.samples == 1)
        .collect();
    let psnr_floor = predictor_psnr - FAST_PSNR_TOLERANCE_DB;
    let distance_from_sharp = |p: &SweepPoint| {
        let d = p.scores.detail_ratio.ln().abs();
        if d.is_nan() { f64::INFINITY } else { d }
    };
    let qualified = fast
        .iter()
        .filter(|p| p.scores.psnr >= psnr_floor)
        .min_by(|a, b| {
            distance_from_sharp(a)
                .total_cmp(&distance_from_sharp(b))
                .then(cheaper(a, b))
        });
    let (point, meets_psnr_floor) = match qualified {
        Some(point) => (point, true),
        None => (
            fast.iter().min_by(|a, b| {
                ranked_psnr(b)
                    .total_cmp(&ranked_psnr(a))
                    .then(cheaper(a, b))
            })?,
            false,
        ),
    };
    Some(FastDefault {
        point: **point,
        psnr_floor,
        meets_psnr_floor,
        candidates: fast.len(),
    })
}

/// Where a bundle path (its directory, or its manifest) keeps its manifest.
fn manifest_path(bundle: &Path) -> PathBuf {
    if bundle.extension().is_some_and(|e| e == "json") && !bundle.is_dir() {
        bundle.to_path_buf()
    } else {
        bundle.join(MANIFEST_NAME)
    }
}

/// Sets `default_sampling` in the manifest of the bundle at `bundle` (a directory or its
/// manifest), keeping every other field, and checks that the bundle still loads. Returns the
/// manifest's path.
pub fn write_default_sampling(bundle: &Path, steps: u32, schedule_end: f64) -> Result<PathBuf> {
    write_sampling(bundle, "default_sampling", steps, schedule_end)
}

/// Sets `averaging_sampling` (the schedule for `--samples` above 1) like
/// [`write_default_sampling`].
pub fn write_averaging_sampling(bundle: &Path, steps: u32, schedule_end: f64) -> Result<PathBuf> {
    write_sampling(bundle, "averaging_sampling", steps, schedule_end)
}

fn write_sampling(bundle: &Path, field: &str, steps: u32, schedule_end: f64) -> Result<PathBuf> {
    let path = manifest_path(bundle);
    Schedule::inference(steps.max(1), schedule_end)?;
    let text = std::fs::read_to_string(&path).map_err(|source| Error::ModelFile {
        path: path.clone(),
        source,
    })?;
    let invalid = |reason: String| Error::Manifest {
        path: path.clone(),
        reason,
    };
    let mut manifest: Value = serde_json::from_str(&text).map_err(|e| invalid(e.to_string()))?;
    let Some(fields) = manifest.as_object_mut() else {
        return Err(invalid("expected a JSON object at the top level".into()));
    };
    fields.insert(
        field.into(),
        serde_json::json!({ "steps": steps, "schedule_end": schedule_end }),
    );
    let mut out = String::new();
    write_ordered(&manifest, 0, &mut out);
    out.push('\n');
    // Write beside and rename, so that a failure never leaves half a manifest.
    let temporary = path.with_extension("json.tmp");
    let io_error = |source| Error::Io {
        path: path.clone(),
        source,
    };
    std::fs::write(&temporary, out).map_err(io_error)?;
    std::fs::rename(&temporary, &path).map_err(io_error)?;
    ModelBundle::load(&path)?;
    Ok(path)
}

/// The manifest's fields in the order `docs/model-bundle.md` lists them; unknown fields follow in
/// name order. (serde_json's map is sorted by name, which would reorder a hand-read file.)
const FIELD_ORDER: [&str; 16] = [
    "format_version",
    "name",
    "description",
    "value_range",
    "pad_multiple",
    "noise_level",
    "training_schedule",
    "kind",
    "steps",
    "start",
    "end",
    "default_sampling",
    "averaging_sampling",
    "schedule_end",
    "predictor",
    "denoiser",
];

/// Pretty-prints `value` with two-space indents, object fields in [`FIELD_ORDER`].
fn write_ordered(value: &Value, indent: usize, out: &mut String) {
    let pad = |level: usize| "  ".repeat(level);
    match value {
        Value::Object(fields) if !fields.is_empty() => {
            let mut names: Vec<&String> = fields.keys().collect();
            names.sort_by_key(|name| {
                FIELD_ORDER
                    .iter()
                    .position(|known| known == name)
                    .unwrap_or(FIELD_ORDER.len())
            });
            out.push_str("{\n");
            for (i, name) in names.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                out.push_str(&Value::String((*name).clone()).to_string());
                out.push_str(": ");
                write_ordered(&fields[*name], indent + 1, out);
                out.push_str(if i + 1 < names.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push('}');
        }
        Value::Array(items) if !items.is_empty() => {
            out.push_str("[\n");
            for (i, item) in items.iter().enumerate() {
                out.push_str(&pad(indent + 1));
                write_ordered(item, indent + 1, out);
                out.push_str(if i + 1 < items.len() { ",\n" } else { "\n" });
            }
            out.push_str(&pad(indent));
            out.push(']');
        }
        scalar => out.push_str(&scalar.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_output_keeps_the_documented_field_order() {
        let value: Value = serde_json::from_str(
            r#"{"denoiser":"d.onnx","name":"m","format_version":1,"zeta":[],
                "training_schedule":{"end":0.01,"kind":"linear","start":1e-6,"steps":2000}}"#,
        )
        .unwrap();
        let mut out = String::new();
        write_ordered(&value, 0, &mut out);
        let order: Vec<usize> = ["format_version", "name", "training_schedule", "kind", "end"]
            .iter()
            .chain(&["denoiser", "zeta"])
            .map(|k| out.find(&format!("\"{k}\"")).unwrap())
            .collect();
        assert!(order.windows(2).all(|w| w[0] < w[1]), "{out}");
        assert_eq!(serde_json::from_str::<Value>(&out).unwrap(), value);
    }
}
