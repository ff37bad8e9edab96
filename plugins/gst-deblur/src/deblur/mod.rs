//! The `deblur` element and its property enums.

use gst::glib;
use gst::prelude::*;

mod imp;
mod qos;
mod settings;
mod stats;
mod video;

glib::wrapper! {
    /// Deblurs raw video by stochastic refinement.
    pub struct Deblur(ObjectSubclass<imp::Deblur>) @extends gst::Element, gst::Object;
}

/// How the noise of successive frames relates (`noise-mode`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDeblurNoiseMode")]
pub enum NoiseMode {
    /// The same noise for every frame: stochastic detail stays put, no flicker.
    #[default]
    #[enum_value(
        name = "Locked: the same noise for every frame (least flicker)",
        nick = "locked"
    )]
    Locked,
    /// Noise seeded by (seed, frame number): segments give the same frames as one pass.
    #[enum_value(
        name = "Per-frame: noise seeded by seed and frame number",
        nick = "per-frame"
    )]
    PerFrame,
}

/// Execution provider (`provider`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDeblurProvider")]
pub enum Provider {
    /// ONNX Runtime on the CPU.
    #[default]
    #[enum_value(name = "CPU", nick = "cpu")]
    Cpu,
    /// ONNX Runtime's CUDA provider (fails at start when not available: no silent fallback).
    #[enum_value(name = "CUDA (NVIDIA GPU)", nick = "cuda")]
    Cuda,
}

/// What the element outputs (`output`).
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDeblurOutput")]
pub enum Output {
    /// The deblurred frame.
    #[default]
    #[enum_value(name = "Deblurred frame", nick = "deblurred")]
    Deblurred,
    /// The predictor's estimate alone.
    #[enum_value(name = "Predictor estimate only", nick = "predictor")]
    Predictor,
    /// Heat map of the per-pixel spread across samples (use samples > 1).
    #[enum_value(
        name = "Uncertainty heat map (spread across samples)",
        nick = "uncertainty"
    )]
    Uncertainty,
    /// Input and output side by side (twice the width).
    #[enum_value(name = "Input and output side by side", nick = "side-by-side")]
    SideBySide,
}

/// Orientations the predictor averages over (`ensemble`): the library's self-ensemble.
#[derive(Debug, Eq, PartialEq, Ord, PartialOrd, Hash, Clone, Copy, Default, glib::Enum)]
#[repr(u32)]
#[enum_type(name = "GstDeblurEnsemble")]
pub enum Ensemble {
    /// One predictor run on the frame as it is.
    #[default]
    #[enum_value(name = "Off: one predictor run", nick = "off")]
    Off = 1,
    /// The frame and its mirror image.
    #[enum_value(
        name = "The frame and its mirror image (2 predictor runs)",
        nick = "mirror"
    )]
    Mirror = 2,
    /// Also upside down, mirrored and not.
    #[enum_value(name = "Mirrored and upside down (4 predictor runs)", nick = "flips")]
    Flips = 4,
    /// All eight flips and quarter turns.
    #[enum_value(name = "All flips and quarter turns (8 predictor runs)", nick = "all")]
    All = 8,
}

impl From<Ensemble> for deblur::SelfEnsemble {
    fn from(ensemble: Ensemble) -> Self {
        deblur::SelfEnsemble::new(ensemble as u32).expect("every variant is a valid size")
    }
}

impl From<Output> for deblur::OutputMode {
    fn from(output: Output) -> Self {
        match output {
            Output::Deblurred => deblur::OutputMode::Deblurred,
            Output::Predictor => deblur::OutputMode::Predictor,
            Output::Uncertainty => deblur::OutputMode::Uncertainty,
            Output::SideBySide => deblur::OutputMode::SideBySide,
        }
    }
}

impl From<NoiseMode> for deblur::NoiseMode {
    fn from(mode: NoiseMode) -> Self {
        match mode {
            NoiseMode::Locked => deblur::NoiseMode::Locked,
            NoiseMode::PerFrame => deblur::NoiseMode::PerFrame,
        }
    }
}

/// Registers the element with `plugin`.
pub fn register(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    NoiseMode::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Provider::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Output::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    Ensemble::static_type().mark_as_plugin_api(gst::PluginAPIFlags::empty());
    gst::Element::register(
        Some(plugin),
        "deblur",
        gst::Rank::NONE,
        Deblur::static_type(),
    )
}
