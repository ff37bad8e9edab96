//! The element's settings: defaults, property specifications, and reading and writing them.

use gst::glib;
use gst::prelude::*;

use super::{Ensemble, NoiseMode, Output, Provider};

pub const DEFAULT_MODEL: &str = "";
pub const DEFAULT_STEPS: i32 = -1;
pub const DEFAULT_SCHEDULE_END: f64 = -1.0;
pub const DEFAULT_SAMPLES: u32 = 1;
pub const DEFAULT_SEED: u64 = 0;
pub const DEFAULT_DEVICE_ID: i32 = 0;
pub const DEFAULT_THREADS: u32 = 0;
pub const DEFAULT_FRAMES_IN_FLIGHT: u32 = 2;
pub const DEFAULT_TILE_SIZE: u32 = deblur::Tiling::DEFAULT_TILE_SIZE as u32;
pub const DEFAULT_TILE_OVERLAP: u32 = deblur::Tiling::DEFAULT_OVERLAP as u32;
pub const DEFAULT_QOS: bool = true;

/// User settings, copied out under the lock and used after it is released.
#[derive(Debug, Clone)]
pub struct Settings {
    pub model: String,
    pub steps: i32,
    pub schedule_end: f64,
    pub samples: u32,
    pub seed: u64,
    pub noise_mode: NoiseMode,
    pub ensemble: Ensemble,
    pub provider: Provider,
    pub device_id: i32,
    pub threads: u32,
    pub frames_in_flight: u32,
    pub tile_size: u32,
    pub tile_overlap: u32,
    pub output: Output,
    pub qos: bool,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            model: DEFAULT_MODEL.into(),
            steps: DEFAULT_STEPS,
            schedule_end: DEFAULT_SCHEDULE_END,
            samples: DEFAULT_SAMPLES,
            seed: DEFAULT_SEED,
            noise_mode: NoiseMode::default(),
            ensemble: Ensemble::default(),
            provider: Provider::default(),
            device_id: DEFAULT_DEVICE_ID,
            threads: DEFAULT_THREADS,
            frames_in_flight: DEFAULT_FRAMES_IN_FLIGHT,
            tile_size: DEFAULT_TILE_SIZE,
            tile_overlap: DEFAULT_TILE_OVERLAP,
            output: Output::default(),
            qos: DEFAULT_QOS,
        }
    }
}

impl Settings {
    /// The writable properties.
    pub fn properties() -> Vec<glib::ParamSpec> {
        vec![
                glib::ParamSpecString::builder("model")
                    .nick("Model")
                    .blurb("Model bundle directory (or its deblur-model.json); empty: the embedded default model")
                    .default_value(Some(DEFAULT_MODEL))
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("steps")
                    .nick("Steps")
                    .blurb("Reverse diffusion steps; 0: predictor only; -1: the model's tuned default")
                    .minimum(-1)
                    .maximum(deblur::schedule::Schedule::MAX_STEPS as i32)
                    .default_value(DEFAULT_STEPS)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecDouble::builder("schedule-end")
                    .nick("Schedule end")
                    .blurb("Final 1-alpha of the inference schedule (linear from 1e-6); -1: the model's tuned default")
                    .minimum(-1.0)
                    .maximum(0.999)
                    .default_value(DEFAULT_SCHEDULE_END)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt::builder("samples")
                    .nick("Samples")
                    .blurb("Samples averaged per frame (sample averaging: higher PSNR, less stochastic detail); above 1, steps=-1 and schedule-end=-1 take the model's averaging schedule")
                    .minimum(1)
                    .maximum(deblur::SamplingParams::MAX_SAMPLES)
                    .default_value(DEFAULT_SAMPLES)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecUInt64::builder("seed")
                    .nick("Seed")
                    .blurb("Noise seed; the same seed gives the same output")
                    .default_value(DEFAULT_SEED)
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("noise-mode", NoiseMode::default())
                    .nick("Noise mode")
                    .blurb("How the noise of successive frames relates")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("ensemble", Ensemble::default())
                    .nick("Self-ensemble")
                    .blurb("Average the predictor over flips and quarter turns of the frame (1, 2, 4 or 8 orientations): higher PSNR at that many predictor runs a frame; QoS does not lower it")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("provider", Provider::default())
                    .nick("Provider")
                    .blurb("ONNX Runtime execution provider; a provider that is not available fails the start")
                    .mutable_ready()
                    .build(),
                glib::ParamSpecInt::builder("device-id")
                    .nick("Device ID")
                    .blurb("GPU index for the cuda provider")
                    .minimum(0)
                    .maximum(63)
                    .default_value(DEFAULT_DEVICE_ID)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("threads")
                    .nick("Threads")
                    .blurb("ONNX Runtime threads per stage; 0: on the CPU split by each stage's work at the steps, samples and ensemble set when the model loads, under CUDA half the cores each")
                    .maximum(256)
                    .default_value(DEFAULT_THREADS)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("frames-in-flight")
                    .nick("Frames in flight")
                    .blurb("Frames queued at the entrance and at the exit of the stage pipeline")
                    .minimum(1)
                    .maximum(16)
                    .default_value(DEFAULT_FRAMES_IN_FLIGHT)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("tile-size")
                    .nick("Tile size")
                    .blurb("Largest tile side in pixels; larger frames are cut into overlapping tiles")
                    .minimum(64)
                    .maximum(16384)
                    .default_value(DEFAULT_TILE_SIZE)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecUInt::builder("tile-overlap")
                    .nick("Tile overlap")
                    .blurb("Pixels shared by neighbouring tiles (at most half the tile size)")
                    .maximum(8192)
                    .default_value(DEFAULT_TILE_OVERLAP)
                    .mutable_ready()
                    .build(),
                glib::ParamSpecEnum::builder_with_default("output", Output::default())
                    .nick("Output")
                    .blurb("What the element outputs")
                    .mutable_playing()
                    .build(),
                glib::ParamSpecBoolean::builder("qos")
                    .nick("QoS")
                    .blurb("When downstream reports lateness, lower the steps of late frames down to predictor only, then drop frames")
                    .default_value(DEFAULT_QOS)
                    .mutable_playing()
                    .build(),
        ]
    }

    /// Sets property `name` (type-checked by GObject already).
    pub fn set(&mut self, name: &str, value: &glib::Value) {
        let settings = self;
        match name {
            "model" => {
                settings.model = value
                    .get::<Option<String>>()
                    .ok()
                    .flatten()
                    .unwrap_or_default()
            }
            "steps" => settings.steps = value.get().expect("type checked upstream"),
            "schedule-end" => settings.schedule_end = value.get().expect("type checked upstream"),
            "samples" => settings.samples = value.get().expect("type checked upstream"),
            "seed" => settings.seed = value.get().expect("type checked upstream"),
            "noise-mode" => settings.noise_mode = value.get().expect("type checked upstream"),
            "ensemble" => settings.ensemble = value.get().expect("type checked upstream"),
            "provider" => settings.provider = value.get().expect("type checked upstream"),
            "device-id" => settings.device_id = value.get().expect("type checked upstream"),
            "threads" => settings.threads = value.get().expect("type checked upstream"),
            "frames-in-flight" => {
                settings.frames_in_flight = value.get().expect("type checked upstream")
            }
            "tile-size" => settings.tile_size = value.get().expect("type checked upstream"),
            "tile-overlap" => settings.tile_overlap = value.get().expect("type checked upstream"),
            "output" => settings.output = value.get().expect("type checked upstream"),
            "qos" => settings.qos = value.get().expect("type checked upstream"),
            other => unreachable!("no writable property {other}"),
        }
    }

    /// Property `name`, if it is a setting.
    pub fn get(&self, name: &str) -> Option<glib::Value> {
        let settings = self;
        Some(match name {
            "model" => settings.model.to_value(),
            "steps" => settings.steps.to_value(),
            "schedule-end" => settings.schedule_end.to_value(),
            "samples" => settings.samples.to_value(),
            "seed" => settings.seed.to_value(),
            "noise-mode" => settings.noise_mode.to_value(),
            "ensemble" => settings.ensemble.to_value(),
            "provider" => settings.provider.to_value(),
            "device-id" => settings.device_id.to_value(),
            "threads" => settings.threads.to_value(),
            "frames-in-flight" => settings.frames_in_flight.to_value(),
            "tile-size" => settings.tile_size.to_value(),
            "tile-overlap" => settings.tile_overlap.to_value(),
            "output" => settings.output.to_value(),
            "qos" => settings.qos.to_value(),
            _ => return None,
        })
    }

    /// The steps to use: the property, or the model's tuned default when it is -1.
    pub fn steps_or(&self, tuned: u32) -> u32 {
        u32::try_from(self.steps).unwrap_or(tuned)
    }

    /// The schedule end to use: the property, or the model's tuned default when negative.
    pub fn schedule_end_or(&self, tuned: f64) -> f64 {
        if self.schedule_end < 0.0 {
            tuned
        } else {
            self.schedule_end
        }
    }
}
