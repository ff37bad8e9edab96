//! Recorded footage through the `deblur` GStreamer element (feature `video`).
//!
//! The input is demuxed and parsed by `parsebin`. The video stream is decoded, deblurred by the
//! element, encoded with x264 and muxed again; audio streams go into the new file as they came,
//! parsed but not decoded. Stopping early (Ctrl-C) sends EOS, so the file is finished properly.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gst::prelude::*;

use crate::ensemble::SelfEnsemble;
use crate::error::{Error, Result};
use crate::noise::NoiseMode;
use crate::render::OutputMode;

fn video_error(reason: impl Into<String>) -> Error {
    Error::Video {
        reason: reason.into(),
    }
}

/// The plugin's file name, as cargo builds it next to the `deblur` binary.
const PLUGIN_FILE: &str = "libgstdeblur.so";

/// Initialises GStreamer and makes sure the `deblur` element can be created: from the
/// registry (an installed plugin or `GST_PLUGIN_PATH`), or else from the plugin built beside
/// this executable.
pub fn ensure_element() -> Result<()> {
    gst::init().map_err(|e| video_error(format!("cannot initialise GStreamer: {e}")))?;
    if gst::ElementFactory::find("deblur").is_some() {
        return Ok(());
    }
    let beside = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf));
    let candidates: Vec<PathBuf> = beside
        .iter()
        .flat_map(|dir| [dir.join(PLUGIN_FILE), dir.join("..").join(PLUGIN_FILE)])
        .collect();
    for candidate in &candidates {
        if candidate.exists() {
            let plugin = gst::Plugin::load_file(candidate)
                .map_err(|e| video_error(format!("cannot load {}: {e}", candidate.display())))?;
            gst::Registry::get().add_plugin(&plugin).map_err(|e| {
                video_error(format!("cannot register {}: {e}", candidate.display()))
            })?;
            return Ok(());
        }
    }
    Err(video_error(format!(
        "the `deblur` GStreamer element is not installed and {PLUGIN_FILE} is not beside this \
         executable (looked in {}); build it with `cargo build --release --workspace`, or set \
         GST_PLUGIN_PATH to the folder that holds it",
        candidates
            .iter()
            .map(|c| c.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// Element settings for a transcode; `None` keeps the element's default.
#[derive(Clone, Debug, Default)]
pub struct ElementSettings {
    /// Model bundle directory.
    pub model: Option<PathBuf>,
    /// Reverse diffusion steps.
    pub steps: Option<u32>,
    /// Final 1−α of the schedule.
    pub schedule_end: Option<f64>,
    /// Samples averaged.
    pub samples: Option<u32>,
    /// Noise seed.
    pub seed: Option<u64>,
    /// Noise across frames.
    pub noise_mode: Option<NoiseMode>,
    /// What is written.
    pub output: Option<OutputMode>,
    /// ONNX Runtime threads per stage.
    pub threads: Option<u32>,
    /// Orientations the predictor averages over.
    pub ensemble: Option<SelfEnsemble>,
}

impl ElementSettings {
    /// Creates a configured `deblur` element.
    pub fn element(&self) -> Result<gst::Element> {
        let element = gst::ElementFactory::make("deblur")
            .build()
            .map_err(|e| video_error(format!("cannot create the deblur element: {e}")))?;
        if let Some(model) = &self.model {
            element.set_property("model", model.to_string_lossy().as_ref());
        }
        if let Some(steps) = self.steps {
            element.set_property("steps", steps as i32);
        }
        if let Some(end) = self.schedule_end {
            element.set_property("schedule-end", end);
        }
        if let Some(samples) = self.samples {
            element.set_property("samples", samples);
        }
        if let Some(seed) = self.seed {
            element.set_property("seed", seed);
        }
        if let Some(threads) = self.threads {
            element.set_property("threads", threads);
        }
        if let Some(ensemble) = self.ensemble {
            // The element's enum takes its values, 1 2 4 8, as well as its nicks.
            element.set_property_from_str("ensemble", &ensemble.to_string());
        }
        if let Some(mode) = self.noise_mode {
            let nick = match mode {
                NoiseMode::Locked => "locked",
                NoiseMode::PerFrame => "per-frame",
            };
            element.set_property_from_str("noise-mode", nick);
        }
        if let Some(output) = self.output {
            let nick = match output {
                OutputMode::Deblurred => "deblurred",
                OutputMode::Predictor => "predictor",
                OutputMode::Uncertainty => "uncertainty",
                OutputMode::SideBySide => "side-by-side",
            };
            element.set_property_from_str("output", nick);
        }
        Ok(element)
    }
}

/// Where a transcode stands.
#[derive(Clone, Copy, Debug, Default)]
pub struct Progress {
    /// Stream time of the last frame written.
    pub position: Option<gst::ClockTime>,
    /// The input's duration, when known.
    pub duration: Option<gst::ClockTime>,
    /// Frames deblurred.
    pub frames: u64,
    /// Frames per second since the start.
    pub fps: f64,
    /// Wall time since the start.
    pub elapsed: Duration,
}

impl Progress {
    /// Fraction done, when the duration is known.
    pub fn fraction(&self) -> Option<f64> {
        match (self.position, self.duration) {
            (Some(p), Some(d)) if d > gst::ClockTime::ZERO => {
                Some((p.nseconds() as f64 / d.nseconds() as f64).min(1.0))
            }
            _ => None,
        }
    }

    /// Estimated time left, from the rate so far.
    pub fn eta(&self) -> Option<Duration> {
        let fraction = self.fraction()?;
        (fraction > 0.0).then(|| self.elapsed.mul_f64((1.0 - fraction) / fraction))
    }
}

/// The muxer for an output file name.
fn muxer_for(output: &Path) -> Result<&'static str> {
    let extension = output
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("mp4") | Some("m4v") => Ok("mp4mux"),
        Some("mov") => Ok("qtmux"),
        Some("mkv") => Ok("matroskamux"),
        _ => Err(video_error(format!(
            "cannot tell the container of {}: expected a name ending in .mp4, .mov or .mkv",
            output.display()
        ))),
    }
}

fn make(factory: &str) -> Result<gst::Element> {
    gst::ElementFactory::make(factory).build().map_err(|_| {
        video_error(format!(
            "GStreamer element `{factory}` is missing: run scripts/setup.sh (it installs \
             gstreamer1.0-plugins-base, -good, -ugly and -libav)"
        ))
    })
}

/// A file-to-file deblurring pipeline.
pub struct Transcode {
    pipeline: gst::Pipeline,
    deblur: gst::Element,
    last_position: Arc<Mutex<Option<gst::ClockTime>>>,
    link_error: Arc<Mutex<Option<String>>>,
}

impl Transcode {
    /// Builds the pipeline from `input` to `output`, with a `deblur` element set up by
    /// `settings` and x264 at constant quality `quantizer` (lower is better, 18 is near
    /// transparent).
    pub fn new(
        input: &Path,
        output: &Path,
        settings: &ElementSettings,
        quantizer: u32,
    ) -> Result<Self> {
        ensure_element()?;
        if !input.is_file() {
            return Err(video_error(format!(
                "no such input file: {}",
                input.display()
            )));
        }
        let muxer = muxer_for(output)?;
        let pipeline = gst::Pipeline::new();
        let source = make("filesrc")?;
        source.set_property("location", input.to_string_lossy().as_ref());
        let parse = make("parsebin")?;
        let mux = make(muxer)?;
        let sink = make("filesink")?;
        sink.set_property("location", output.to_string_lossy().as_ref());
        pipeline
            .add_many([&source, &parse, &mux, &sink])
            .map_err(|e| video_error(e.to_string()))?;
        gst::Element::link_many([&source, &parse])
            .and_then(|_| gst::Element::link_many([&mux, &sink]))
            .map_err(|e| video_error(format!("cannot link the file elements: {e}")))?;

        let deblur = settings.element()?;
        // 4:2:0, which every player decodes (x264 would otherwise pick 4:4:4 for RGB input).
        let yuv420 = make("capsfilter")?;
        yuv420.set_property(
            "caps",
            gst::Caps::builder("video/x-raw")
                .field("format", "I420")
                .build(),
        );
        let encode = make("x264enc")?;
        encode.set_property("quantizer", quantizer);
        encode.set_property_from_str("pass", "quant");
        encode.set_property_from_str("speed-preset", "faster");
        // Without B-frames the muxed timestamps start where the input's did.
        encode.set_property("bframes", 0u32);
        let video_branch = [
            make("queue")?,
            make("decodebin")?,
            make("videoconvert")?,
            deblur.clone(),
            make("videoconvert")?,
            yuv420,
            encode,
            make("queue")?,
        ];

        let last_position = Arc::new(Mutex::new(None));
        let position = last_position.clone();
        deblur
            .static_pad("src")
            .expect("deblur has a src pad")
            .add_probe(gst::PadProbeType::BUFFER, move |_, info| {
                if let Some(buffer) = info.buffer() {
                    *position.lock().unwrap_or_else(|e| e.into_inner()) = buffer.pts();
                }
                gst::PadProbeReturn::Ok
            });

        let link_error: Arc<Mutex<Option<String>>> = Arc::default();
        let failure = link_error.clone();
        let weak_pipeline = pipeline.downgrade();
        let video_taken = AtomicBool::new(false);
        let video_branch = Mutex::new(Some(video_branch));
        parse.connect_pad_added(move |_, pad| {
            let Some(pipeline) = weak_pipeline.upgrade() else {
                return;
            };
            let caps = pad.current_caps().unwrap_or_else(|| pad.query_caps(None));
            let kind = caps
                .structure(0)
                .map(|s| s.name().to_string())
                .unwrap_or_default();
            let outcome = if kind.starts_with("video/") && !video_taken.swap(true, Ordering::SeqCst)
            {
                let branch = video_branch.lock().ok().and_then(|mut b| b.take());
                branch
                    .ok_or_else(|| "video branch already used".to_string())
                    .and_then(|branch| link_video(&pipeline, pad, branch, &mux))
            } else if kind.starts_with("audio/") {
                link_audio(&pipeline, pad, &mux, &caps)
            } else {
                link_discard(&pipeline, pad)
            };
            if let Err(e) = outcome {
                *failure.lock().unwrap_or_else(|e| e.into_inner()) = Some(e);
                if let Some(bus) = pipeline.bus() {
                    let _ = bus.post(gst::message::Application::new(gst::Structure::new_empty(
                        "deblur-link-failed",
                    )));
                }
            }
        });

        Ok(Transcode {
            pipeline,
            deblur,
            last_position,
            link_error,
        })
    }

    /// Runs to the end, calling `progress` about four times a second. When `stop` becomes
    /// true, the input is ended early and the output file still finished properly.
    pub fn run(&self, stop: &AtomicBool, mut progress: impl FnMut(&Progress)) -> Result<Progress> {
        let bus = self.pipeline.bus().expect("a pipeline has a bus");
        self.pipeline
            .set_state(gst::State::Playing)
            .map_err(|_| self.first_error(&bus, "the pipeline failed to start"))?;
        let started = Instant::now();
        let mut stopping = false;
        let outcome = loop {
            let report = self.progress(started);
            if stop.load(Ordering::SeqCst) && !stopping {
                stopping = true;
                self.pipeline.send_event(gst::event::Eos::new());
            }
            let Some(message) = bus.timed_pop(gst::ClockTime::from_mseconds(250)) else {
                progress(&report);
                continue;
            };
            match message.view() {
                gst::MessageView::Eos(_) => break Ok(report),
                gst::MessageView::Error(e) => {
                    break Err(video_error(format!(
                        "{} (from {})",
                        e.error(),
                        e.src()
                            .map(|s| s.path_string().to_string())
                            .unwrap_or_default()
                    )));
                }
                gst::MessageView::Application(_) => {
                    let reason = self
                        .link_error
                        .lock()
                        .unwrap_or_else(|e| e.into_inner())
                        .take()
                        .unwrap_or_default();
                    break Err(video_error(reason));
                }
                _ => {}
            }
        };
        let _ = self.pipeline.set_state(gst::State::Null);
        let mut report = outcome?;
        report.frames = self.deblur.property::<u64>("frames-processed");
        Ok(report)
    }

    fn progress(&self, started: Instant) -> Progress {
        let elapsed = started.elapsed();
        let frames = self.deblur.property::<u64>("frames-processed");
        Progress {
            position: *self.last_position.lock().unwrap_or_else(|e| e.into_inner()),
            duration: self.pipeline.query_duration::<gst::ClockTime>(),
            frames,
            fps: frames as f64 / elapsed.as_secs_f64().max(1e-3),
            elapsed,
        }
    }

    fn first_error(&self, bus: &gst::Bus, fallback: &str) -> Error {
        let _ = self.pipeline.set_state(gst::State::Null);
        let message = bus
            .timed_pop_filtered(gst::ClockTime::from_seconds(1), &[gst::MessageType::Error])
            .and_then(|m| match m.view() {
                gst::MessageView::Error(e) => Some(e.error().to_string()),
                _ => None,
            });
        video_error(message.unwrap_or_else(|| fallback.to_string()))
    }
}

fn link_video(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    branch: [gst::Element; 8],
    mux: &gst::Element,
) -> std::result::Result<(), String> {
    pipeline.add_many(&branch).map_err(|e| e.to_string())?;
    let [
        queue,
        decode,
        convert_in,
        deblur,
        convert_out,
        yuv420,
        encode,
        queue_out,
    ] = &branch;
    gst::Element::link_many([convert_in, deblur, convert_out, yuv420, encode, queue_out])
        .map_err(|e| format!("cannot link the video chain: {e}"))?;
    queue.link(decode).map_err(|e| e.to_string())?;
    let convert_in = convert_in.clone();
    decode.connect_pad_added(move |_, decoded| {
        if let Some(sink) = convert_in.static_pad("sink")
            && !sink.is_linked()
            && let Err(e) = decoded.link(&sink)
        {
            gst::warning!(gst::CAT_DEFAULT, "cannot link the decoded video: {e}");
        }
    });
    let mux_pad = mux
        .request_pad_simple("video_%u")
        .ok_or("the muxer takes no video stream")?;
    queue_out
        .static_pad("src")
        .expect("queue has a src pad")
        .link(&mux_pad)
        .map_err(|e| format!("cannot link the encoded video to the muxer: {e:?}"))?;
    pad.link(&queue.static_pad("sink").expect("queue has a sink pad"))
        .map_err(|e| format!("cannot link the video stream: {e:?}"))?;
    for element in &branch {
        element
            .sync_state_with_parent()
            .map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn link_audio(
    pipeline: &gst::Pipeline,
    pad: &gst::Pad,
    mux: &gst::Element,
    caps: &gst::Caps,
) -> std::result::Result<(), String> {
    let queue = make("queue").map_err(|e| e.to_string())?;
    pipeline.add(&queue).map_err(|e| e.to_string())?;
    let mux_pad = mux.request_pad_simple("audio_%u").ok_or_else(|| {
        format!("the output container takes no audio track; the input has {caps}")
    })?;
    queue
        .static_pad("src")
        .expect("queue has a src pad")
        .link(&mux_pad)
        .map_err(|_| {
            format!(
                "the audio track ({caps}) cannot go into this container untouched; write a .mkv instead"
            )
        })?;
    pad.link(&queue.static_pad("sink").expect("queue has a sink pad"))
        .map_err(|e| format!("cannot link the audio stream: {e:?}"))?;
    queue.sync_state_with_parent().map_err(|e| e.to_string())?;
    Ok(())
}

fn link_discard(pipeline: &gst::Pipeline, pad: &gst::Pad) -> std::result::Result<(), String> {
    let sink = make("fakesink").map_err(|e| e.to_string())?;
    sink.set_property("async", false);
    pipeline.add(&sink).map_err(|e| e.to_string())?;
    pad.link(&sink.static_pad("sink").expect("fakesink has a sink pad"))
        .map_err(|e| format!("{e:?}"))?;
    sink.sync_state_with_parent().map_err(|e| e.to_string())?;
    Ok(())
}
