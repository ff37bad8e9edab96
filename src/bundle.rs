//! Model bundles: a manifest and two ONNX files (see `docs/model-bundle.md`).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::frame::ValueRange;
use crate::network::NoiseLevel;
use crate::onnx::{OnnxDenoiser, OnnxPredictor, SessionOptions};
use crate::sampler::SamplingParams;

/// The manifest's file name inside a bundle directory.
pub const MANIFEST_NAME: &str = "deblur-model.json";
/// The bundle format this build reads.
pub const FORMAT_VERSION: u32 = 1;

/// The training noise schedule, as recorded by the trainer.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct TrainingSchedule {
    /// Only `"linear"` (1−α_t linear in t) is defined.
    pub kind: String,
    /// T.
    pub steps: u32,
    /// 1−α_1.
    pub start: f64,
    /// 1−α_T.
    pub end: f64,
}

/// The inference settings a model was tuned for.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq)]
pub struct DefaultSampling {
    /// Reverse steps.
    pub steps: u32,
    /// Final 1−α of the inference schedule.
    pub schedule_end: f64,
}

/// The schedules a model was tuned for: one for a single sample, one for the mean of several.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct TunedSampling {
    /// For one sample (`default_sampling`, or 4 steps to 0.5 when the manifest has none).
    pub single: DefaultSampling,
    /// For the mean of several (`averaging_sampling`, or the single-sample schedule).
    pub averaged: DefaultSampling,
}

impl TunedSampling {
    /// The tuned schedule for `samples` samples averaged.
    pub fn for_samples(&self, samples: u32) -> SamplingParams {
        let tuned = if samples > 1 {
            self.averaged
        } else {
            self.single
        };
        SamplingParams {
            steps: tuned.steps,
            schedule_end: tuned.schedule_end,
            samples,
        }
    }
}

/// `deblur-model.json`.
#[derive(Clone, Debug, Deserialize, PartialEq)]
pub struct Manifest {
    /// Must be [`FORMAT_VERSION`].
    pub format_version: u32,
    /// Short model name.
    pub name: String,
    /// Free text.
    #[serde(default)]
    pub description: String,
    /// `[lo, hi]` that bytes 0..=255 map to.
    pub value_range: [f32; 2],
    /// H and W fed to the networks must be multiples of this.
    pub pad_multiple: u32,
    /// What the denoiser's `noise_level` input carries.
    pub noise_level: NoiseLevel,
    /// The schedule the denoiser was trained with.
    pub training_schedule: TrainingSchedule,
    /// The inference settings the model was tuned for.
    #[serde(default)]
    pub default_sampling: Option<DefaultSampling>,
    /// The inference settings tuned for the mean of several samples (SA), when they differ: a
    /// schedule that gives one sample the most detail rarely gives their mean the best PSNR.
    #[serde(default)]
    pub averaging_sampling: Option<DefaultSampling>,
    /// Predictor ONNX file, relative to the manifest.
    pub predictor: String,
    /// Denoiser ONNX file, relative to the manifest.
    pub denoiser: String,
}

impl Manifest {
    fn parse(text: &str, path: &Path) -> Result<Self> {
        let invalid = |reason: String| Error::Manifest {
            path: path.to_path_buf(),
            reason,
        };
        let manifest: Manifest = serde_json::from_str(text).map_err(|e| invalid(e.to_string()))?;
        if manifest.format_version != FORMAT_VERSION {
            return Err(invalid(format!(
                "format_version is {}: expected {FORMAT_VERSION}",
                manifest.format_version
            )));
        }
        let [lo, hi] = manifest.value_range;
        if !(lo.is_finite() && hi.is_finite() && lo < hi) {
            return Err(invalid(format!(
                "value_range is [{lo}, {hi}]: expected finite [lo, hi] with lo < hi"
            )));
        }
        if !(1..=1024).contains(&manifest.pad_multiple) {
            return Err(invalid(format!(
                "pad_multiple is {}: expected 1 to 1024",
                manifest.pad_multiple
            )));
        }
        if manifest.training_schedule.kind != "linear" {
            return Err(invalid(format!(
                "training_schedule.kind is {:?}: expected \"linear\"",
                manifest.training_schedule.kind
            )));
        }
        for (field, sampling) in [
            ("default_sampling", manifest.default_sampling),
            ("averaging_sampling", manifest.averaging_sampling),
        ] {
            if let Some(d) = sampling {
                crate::schedule::Schedule::inference(d.steps.max(1), d.schedule_end)
                    .map_err(|e| invalid(format!("{field}: {e}")))?;
            }
        }
        Ok(manifest)
    }
}

/// One ONNX file of a bundle: its bytes and the name messages use for it.
#[derive(Clone, Debug)]
struct ModelFile {
    path: PathBuf,
    bytes: Arc<[u8]>,
}

impl ModelFile {
    fn read(path: PathBuf) -> Result<Self> {
        match std::fs::read(&path) {
            Ok(bytes) => Ok(ModelFile {
                path,
                bytes: bytes.into(),
            }),
            Err(source) => Err(Error::ModelFile { path, source }),
        }
    }
}

/// A loaded model bundle: manifest checked, ONNX bytes in memory, sessions not yet created.
#[derive(Clone, Debug)]
pub struct ModelBundle {
    manifest: Manifest,
    origin: String,
    predictor: ModelFile,
    denoiser: ModelFile,
}

mod embedded {
    pub const MANIFEST: &str = include_str!("../models/default/deblur-model.json");
    pub const PREDICTOR: &[u8] = include_bytes!("../models/default/predictor.onnx");
    pub const DENOISER: &[u8] = include_bytes!("../models/default/denoiser.onnx");
}

impl ModelBundle {
    /// Reads a bundle from its directory (or from the path of its manifest).
    pub fn load(path: impl AsRef<Path>) -> Result<Self> {
        let path = path.as_ref();
        let names_manifest = path.extension().is_some_and(|e| e == "json") && !path.is_dir();
        let manifest_path = if names_manifest {
            path.to_path_buf()
        } else {
            path.join(MANIFEST_NAME)
        };
        let text = std::fs::read_to_string(&manifest_path).map_err(|source| Error::ModelFile {
            path: manifest_path.clone(),
            source,
        })?;
        let manifest = Manifest::parse(&text, &manifest_path)?;
        let dir = manifest_path.parent().unwrap_or(Path::new("."));
        let predictor = ModelFile::read(dir.join(&manifest.predictor))?;
        let denoiser = ModelFile::read(dir.join(&manifest.denoiser))?;
        Ok(ModelBundle {
            origin: dir.display().to_string(),
            manifest,
            predictor,
            denoiser,
        })
    }

    /// The default model compiled into deblur.
    pub fn embedded() -> Result<Self> {
        let dir = Path::new("<embedded>");
        let manifest = Manifest::parse(embedded::MANIFEST, &dir.join(MANIFEST_NAME))?;
        Ok(ModelBundle {
            origin: format!("embedded default model ({})", manifest.name),
            predictor: ModelFile {
                path: dir.join(&manifest.predictor),
                bytes: embedded::PREDICTOR.into(),
            },
            denoiser: ModelFile {
                path: dir.join(&manifest.denoiser),
                bytes: embedded::DENOISER.into(),
            },
            manifest,
        })
    }

    /// `path`'s bundle, or the embedded default when `path` is `None` or empty.
    pub fn load_or_default(path: Option<&Path>) -> Result<Self> {
        match path {
            Some(p) if !p.as_os_str().is_empty() => Self::load(p),
            _ => Self::embedded(),
        }
    }

    /// The manifest.
    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// Where the bundle came from, for messages.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// The model's value range.
    pub fn value_range(&self) -> ValueRange {
        let [lo, hi] = self.manifest.value_range;
        ValueRange { lo, hi }
    }

    /// The multiple H and W are padded to.
    pub fn pad_multiple(&self) -> usize {
        self.manifest.pad_multiple as usize
    }

    /// The model's noise-level convention.
    pub fn noise_level(&self) -> NoiseLevel {
        self.manifest.noise_level
    }

    /// The sampling the model was tuned for (one sample), or a general default.
    pub fn default_sampling(&self) -> SamplingParams {
        self.tuned_sampling().for_samples(1)
    }

    /// The schedules the model was tuned for, with one sample and with several averaged.
    pub fn tuned_sampling(&self) -> TunedSampling {
        let single = self.manifest.default_sampling.unwrap_or(DefaultSampling {
            steps: 4,
            schedule_end: 0.5,
        });
        TunedSampling {
            single,
            averaged: self.manifest.averaging_sampling.unwrap_or(single),
        }
    }

    /// A predictor session.
    pub fn predictor(&self, options: SessionOptions) -> Result<OnnxPredictor> {
        OnnxPredictor::new(&self.predictor.bytes, &self.predictor.path, options)
    }

    /// A denoiser session.
    pub fn denoiser(&self, options: SessionOptions) -> Result<OnnxDenoiser> {
        OnnxDenoiser::new(&self.denoiser.bytes, &self.denoiser.path, options)
    }

    /// The predictor's ONNX bytes.
    pub fn predictor_bytes(&self) -> &[u8] {
        &self.predictor.bytes
    }

    /// The denoiser's ONNX bytes.
    pub fn denoiser_bytes(&self) -> &[u8] {
        &self.denoiser.bytes
    }

    /// Loads both networks once to check that they open and match the format.
    pub fn check(&self) -> Result<()> {
        self.predictor(SessionOptions::default())?;
        self.denoiser(SessionOptions::default())?;
        Ok(())
    }
}
