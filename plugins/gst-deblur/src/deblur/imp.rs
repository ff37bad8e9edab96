//! The `deblur` element.
//!
//! ```sh
//! gst-launch-1.0 videotestsrc num-buffers=30 ! video/x-raw,width=320,height=180 ! deblur steps=2 \
//!     ! videoconvert ! autovideosink
//! ```
//!
//! Buffers arriving on the sink pad are converted to RGB and sent into the library's two-stage
//! pipeline (predictor thread, refiner thread); a task on the src pad takes the results, in
//! order, and pushes them. Serialized events travel in the same ordered queue as the frames, so a
//! caps change or EOS goes out only after every frame before it. A flush cancels the library
//! pipeline (interrupting the model runs in progress), takes the networks back and starts a
//! fresh pipeline with them. The model is loaded at NULL→READY, off the streaming thread.
//!
//! No lock is held while pushing, running a model, waiting on a channel or posting a message.

use std::sync::{LazyLock, Mutex, MutexGuard};
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, unbounded};
use deblur::engine::ModelSpec;
use deblur::onnx::{OnnxDenoiser, OnnxPredictor};
use deblur::pipeline::{
    self, FrameJob, FrameReceiver, FrameSender, PipelineConfig, PipelineControl,
};
use deblur::{
    FrameSettings, ModelBundle, OutputMode, RgbFrame, SamplingParams, SessionOptions, Tiling,
    TunedSampling,
};
use gst::glib;
use gst::prelude::*;
use gst::subclass::prelude::*;

use super::Provider;
use super::qos::Qos;
use super::settings::Settings;
use super::stats::Stats;
use super::video::{self, Converter};

static CAT: LazyLock<gst::DebugCategory> = LazyLock::new(|| {
    gst::DebugCategory::new(
        "deblur",
        gst::DebugColorFlags::empty(),
        Some("Deblurring by stochastic refinement"),
    )
});

/// Side of the blank frame run once at start so that the first real frame does not pay for
/// ONNX Runtime's lazy initialisation.
const WARM_UP_SIZE: u32 = 64;

/// What travels, in order, from the sink pad to the src pad task.
enum Item {
    /// A frame now in the library pipeline, with what the output needs besides the result.
    Frame {
        input: gst::Buffer,
        /// The input as RGB, kept for side-by-side output only.
        input_rgb: Option<RgbFrame>,
        mode: OutputMode,
    },
    /// New input caps: the output caps follow.
    Caps(gst::Caps),
    /// Any other serialized event.
    Event(gst::Event),
}

/// The library pipeline while data flows (PAUSED and PLAYING).
struct Running {
    sender: FrameSender,
    items: Sender<Item>,
    control: PipelineControl<OnnxPredictor, OnnxDenoiser>,
}

/// What the src pad task owns.
struct SrcContext {
    items: Receiver<Item>,
    results: FrameReceiver,
    out_caps: Option<gst::Caps>,
    out_info: Option<gst_video::VideoInfo>,
    in_caps: Option<gst::Caps>,
    converter: Converter,
}

/// The model, loaded at NULL→READY.
struct Loaded {
    spec: ModelSpec,
    /// The model's schedules; which one applies follows the `samples` property per frame.
    tuned: TunedSampling,
    /// The networks while no pipeline runs.
    networks: Option<(OnnxPredictor, OnnxDenoiser)>,
    frames_in_flight: usize,
    tiling: Tiling,
    /// The execution provider the sessions were created on (creation fails otherwise).
    provider: deblur::Provider,
}

struct State {
    loaded: Option<Loaded>,
    running: Option<Running>,
    /// Handed to the src pad task when it starts.
    pending_context: Option<SrcContext>,
    in_info: Option<gst_video::VideoInfo>,
    /// The input caps; sticky, so they outlive a flush.
    in_caps: Option<gst::Caps>,
    segment: gst::FormattedSegment<gst::ClockTime>,
    src_result: Result<gst::FlowSuccess, gst::FlowError>,
    frame_counter: u64,
    qos: Qos,
}

impl Default for State {
    fn default() -> Self {
        State {
            loaded: None,
            running: None,
            pending_context: None,
            in_info: None,
            in_caps: None,
            segment: gst::FormattedSegment::new(),
            src_result: Err(gst::FlowError::Flushing),
            frame_counter: 0,
            qos: Qos::default(),
        }
    }
}

pub struct Deblur {
    sinkpad: gst::Pad,
    srcpad: gst::Pad,
    settings: Mutex<Settings>,
    state: Mutex<State>,
    stats: Mutex<Stats>,
    /// Input to RGB; used by the chain function only, so never contended.
    input_converter: Mutex<Converter>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

#[glib::object_subclass]
impl ObjectSubclass for Deblur {
    const NAME: &'static str = "GstDeblur";
    type Type = super::Deblur;
    type ParentType = gst::Element;

    fn with_class(klass: &Self::Class) -> Self {
        let sinkpad = gst::Pad::builder_from_template(&klass.pad_template("sink").unwrap())
            .chain_function(|pad, parent, buffer| {
                Deblur::catch_panic_pad_function(
                    parent,
                    || Err(gst::FlowError::Error),
                    |imp| imp.sink_chain(pad, buffer),
                )
            })
            .event_function(|pad, parent, event| {
                Deblur::catch_panic_pad_function(parent, || false, |imp| imp.sink_event(pad, event))
            })
            .query_function(|pad, parent, query| {
                Deblur::catch_panic_pad_function(parent, || false, |imp| imp.sink_query(pad, query))
            })
            .activatemode_function(|pad, parent, mode, active| {
                Deblur::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "sink activation panicked")),
                    |imp| imp.sink_activatemode(pad, mode, active),
                )
            })
            .build();
        let srcpad = gst::Pad::builder_from_template(&klass.pad_template("src").unwrap())
            .event_function(|pad, parent, event| {
                Deblur::catch_panic_pad_function(parent, || false, |imp| imp.src_event(pad, event))
            })
            .query_function(|pad, parent, query| {
                Deblur::catch_panic_pad_function(parent, || false, |imp| imp.src_query(pad, query))
            })
            .activatemode_function(|pad, parent, mode, active| {
                Deblur::catch_panic_pad_function(
                    parent,
                    || Err(gst::loggable_error!(CAT, "src activation panicked")),
                    |imp| imp.src_activatemode(pad, mode, active),
                )
            })
            .build();
        Deblur {
            sinkpad,
            srcpad,
            settings: Mutex::new(Settings::default()),
            state: Mutex::new(State::default()),
            stats: Mutex::new(Stats::default()),
            input_converter: Mutex::new(Converter::default()),
        }
    }
}

impl ObjectImpl for Deblur {
    fn properties() -> &'static [glib::ParamSpec] {
        static PROPERTIES: LazyLock<Vec<glib::ParamSpec>> = LazyLock::new(|| {
            let mut properties = Settings::properties();
            properties.extend([
                glib::ParamSpecDouble::builder("fps")
                    .nick("Frames per second")
                    .blurb("Output rate (moving average)")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("predict-ms")
                    .nick("Predictor ms")
                    .blurb("Predictor stage time per frame (moving average)")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecDouble::builder("refine-ms")
                    .nick("Refiner ms")
                    .blurb("Refiner stage time per frame (moving average)")
                    .minimum(0.0)
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-processed")
                    .nick("Frames processed")
                    .blurb("Frames output since start")
                    .read_only()
                    .build(),
                glib::ParamSpecUInt64::builder("frames-dropped")
                    .nick("Frames dropped")
                    .blurb("Frames dropped by QoS since start")
                    .read_only()
                    .build(),
                glib::ParamSpecInt::builder("qos-steps")
                    .nick("QoS steps")
                    .blurb("Steps QoS currently allows; -1: no QoS limit")
                    .minimum(-1)
                    .read_only()
                    .build(),
                glib::ParamSpecString::builder("active-provider")
                    .nick("Active provider")
                    .blurb("The execution provider actually running")
                    .read_only()
                    .build(),
            ]);
            properties
        });
        PROPERTIES.as_ref()
    }

    fn set_property(&self, _id: usize, value: &glib::Value, pspec: &glib::ParamSpec) {
        let needs_ready = pspec.flags().contains(gst::PARAM_FLAG_MUTABLE_READY);
        if needs_ready && self.obj().current_state() > gst::State::Ready {
            gst::warning!(
                CAT,
                imp = self,
                "property `{}` can only change in the NULL or READY state; ignored",
                pspec.name()
            );
            return;
        }
        lock(&self.settings).set(pspec.name(), value);
    }

    fn property(&self, _id: usize, pspec: &glib::ParamSpec) -> glib::Value {
        let name = pspec.name();
        if let Some(value) = self.stat(name) {
            return value;
        }
        lock(&self.settings)
            .get(name)
            .unwrap_or_else(|| unreachable!("no property {name}"))
    }

    fn constructed(&self) {
        self.parent_constructed();
        let obj = self.obj();
        obj.add_pad(&self.sinkpad)
            .expect("a new element takes its pads");
        obj.add_pad(&self.srcpad)
            .expect("a new element takes its pads");
    }
}

impl GstObjectImpl for Deblur {}

impl ElementImpl for Deblur {
    fn metadata() -> Option<&'static gst::subclass::ElementMetadata> {
        static METADATA: LazyLock<gst::subclass::ElementMetadata> = LazyLock::new(|| {
            gst::subclass::ElementMetadata::new(
                "Deblur",
                "Filter/Effect/Video",
                "Deblurs video by stochastic refinement: a predictor network, then a few diffusion steps on its residual",
                "deblur developers",
            )
        });
        Some(&*METADATA)
    }

    fn pad_templates() -> &'static [gst::PadTemplate] {
        static TEMPLATES: LazyLock<Vec<gst::PadTemplate>> = LazyLock::new(|| {
            let caps = gst_video::VideoCapsBuilder::new()
                .format_list(video::FORMATS)
                .build();
            vec![
                gst::PadTemplate::new(
                    "sink",
                    gst::PadDirection::Sink,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid template"),
                gst::PadTemplate::new(
                    "src",
                    gst::PadDirection::Src,
                    gst::PadPresence::Always,
                    &caps,
                )
                .expect("valid template"),
            ]
        });
        TEMPLATES.as_ref()
    }

    fn change_state(
        &self,
        transition: gst::StateChange,
    ) -> Result<gst::StateChangeSuccess, gst::StateChangeError> {
        match transition {
            gst::StateChange::NullToReady => self.load_model()?,
            gst::StateChange::ReadyToPaused => {
                *lock(&self.stats) = Stats::default();
                self.start_pipeline().map_err(|e| {
                    gst::element_imp_error!(self, gst::CoreError::StateChange, ("{e}"));
                    gst::StateChangeError
                })?;
            }
            _ => {}
        }
        let success = self.parent_change_state(transition)?;
        match transition {
            gst::StateChange::PausedToReady => {
                self.stop_pipeline(gst::FlowError::Flushing);
                let mut state = lock(&self.state);
                state.in_info = None;
                state.in_caps = None;
                state.segment = gst::FormattedSegment::new();
                state.qos = Qos::default();
                state.frame_counter = 0;
            }
            gst::StateChange::ReadyToNull => lock(&self.state).loaded = None,
            _ => {}
        }
        Ok(success)
    }
}

impl Deblur {
    fn stat(&self, name: &str) -> Option<glib::Value> {
        let stats = lock(&self.stats);
        Some(match name {
            "fps" => stats.fps.to_value(),
            "predict-ms" => stats.predict_ms.to_value(),
            "refine-ms" => stats.refine_ms.to_value(),
            "frames-processed" => stats.processed.to_value(),
            "frames-dropped" => stats.dropped.to_value(),
            "qos-steps" => {
                drop(stats);
                let cap = lock(&self.state).qos.steps_cap();
                cap.map_or(-1, |c| c as i32).to_value()
            }
            "active-provider" => {
                drop(stats);
                let provider = lock(&self.state)
                    .loaded
                    .as_ref()
                    .map(|l| l.provider.to_string());
                provider.to_value()
            }
            _ => return None,
        })
    }

    /// Loads and checks the model, creates both sessions and warms them up.
    fn load_model(&self) -> Result<(), gst::StateChangeError> {
        let settings = lock(&self.settings).clone();
        let obj = self.obj();
        let post_progress = |kind, text: &str| {
            let _ = obj.post_message(
                gst::message::Progress::builder(kind, "load-model", text)
                    .src(&*obj)
                    .build(),
            );
        };
        post_progress(gst::ProgressType::Start, "Loading the deblur model");
        let started = Instant::now();
        match self.open_model(&settings) {
            Ok(loaded) => {
                gst::info!(CAT, imp = self, "model ready in {:?}", started.elapsed());
                lock(&self.state).loaded = Some(loaded);
                post_progress(gst::ProgressType::Complete, "Model loaded");
                Ok(())
            }
            Err(message) => {
                post_progress(gst::ProgressType::Error, "Model loading failed");
                gst::element_imp_error!(self, gst::ResourceError::OpenRead, ("{message}"));
                Err(gst::StateChangeError)
            }
        }
    }

    fn open_model(&self, settings: &Settings) -> Result<Loaded, String> {
        let tiling = Tiling::new(settings.tile_size as usize, settings.tile_overlap as usize)
            .map_err(|e| e.to_string())?;
        let model = (!settings.model.is_empty()).then(|| std::path::Path::new(&settings.model));
        let bundle = ModelBundle::load_or_default(model).map_err(|e| e.to_string())?;
        let provider = match settings.provider {
            Provider::Cpu => deblur::Provider::Cpu,
            Provider::Cuda => deblur::Provider::Cuda {
                device: settings.device_id,
            },
        };
        let tuned = bundle.tuned_sampling();
        let (predictor_threads, refiner_threads) = match settings.threads {
            // Sessions keep their threads: the split follows the steps and samples set now.
            0 => {
                let config = PipelineConfig::balanced(
                    &bundle,
                    provider,
                    settings.steps_or(tuned.for_samples(settings.samples).steps),
                    settings.samples,
                    settings.ensemble.into(),
                )
                .unwrap_or_else(|e| {
                    gst::warning!(CAT, imp = self, "splitting threads by default: {e}");
                    PipelineConfig::default()
                });
                (config.predictor.threads, config.refiner.threads)
            }
            n => (n as usize, n as usize),
        };
        let session = |threads| SessionOptions { threads, provider };
        let mut predictor = bundle
            .predictor(session(predictor_threads))
            .map_err(|e| e.to_string())?;
        let mut denoiser = bundle
            .denoiser(session(refiner_threads))
            .map_err(|e| e.to_string())?;
        let spec = ModelSpec::from(&bundle);
        let blank = RgbFrame::new(
            WARM_UP_SIZE,
            WARM_UP_SIZE,
            vec![128; (WARM_UP_SIZE * WARM_UP_SIZE * 3) as usize],
        )
        .expect("valid size");
        let warm_up = FrameSettings {
            sampling: SamplingParams {
                steps: 1,
                ..tuned.for_samples(1)
            },
            seed: 0,
            noise_mode: deblur::NoiseMode::Locked,
            extras: Default::default(),
            ensemble: deblur::SelfEnsemble::OFF,
        };
        let predicted =
            deblur::engine::predict(&mut predictor, &spec, tiling, warm_up.ensemble, &blank)
                .map_err(|e| e.to_string())?;
        deblur::engine::refine(&mut denoiser, &spec, predicted, &warm_up, 0)
            .map_err(|e| e.to_string())?;
        gst::info!(
            CAT,
            imp = self,
            "loaded {} ({predictor_threads} predictor and {refiner_threads} refiner threads)",
            bundle.origin(),
        );
        Ok(Loaded {
            spec,
            tuned,
            networks: Some((predictor, denoiser)),
            frames_in_flight: settings.frames_in_flight as usize,
            tiling,
            provider,
        })
    }

    /// Starts a library pipeline on the loaded networks and prepares the src task's context.
    fn start_pipeline(&self) -> Result<(), String> {
        let mut state = lock(&self.state);
        let loaded = state.loaded.as_mut().ok_or("no model loaded")?;
        let (predictor, denoiser) = loaded
            .networks
            .take()
            .ok_or("the networks were lost after a failure; restart the element")?;
        let config = PipelineConfig {
            frames_in_flight: loaded.frames_in_flight,
            tiling: loaded.tiling,
            ..PipelineConfig::default()
        };
        let started = pipeline::start_with(predictor, denoiser, loaded.spec, config)
            .map_err(|e| e.to_string())?;
        let (items_tx, items_rx) = unbounded();
        state.running = Some(Running {
            sender: started.sender,
            items: items_tx,
            control: started.control,
        });
        // After a flush the caps stay as they were: carry them over.
        let out_caps = self.srcpad.current_caps();
        state.pending_context = Some(SrcContext {
            items: items_rx,
            results: started.receiver,
            out_info: out_caps
                .as_ref()
                .and_then(|caps| gst_video::VideoInfo::from_caps(caps).ok()),
            out_caps,
            in_caps: state.in_caps.clone(),
            converter: Converter::default(),
        });
        state.src_result = Ok(gst::FlowSuccess::Ok);
        Ok(())
    }

    /// Cancels the library pipeline, wakes everything waiting on it (a chain blocked on a full
    /// pipeline returns `reason`) and takes the networks back. A flush overrides any earlier
    /// flow; other reasons do not override an earlier one.
    fn stop_pipeline(&self, reason: gst::FlowError) {
        let running = {
            let mut state = lock(&self.state);
            if reason == gst::FlowError::Flushing || state.src_result.is_ok() {
                state.src_result = Err(reason);
            }
            state.pending_context = None;
            state.running.take()
        };
        let Some(Running {
            sender,
            items,
            mut control,
        }) = running
        else {
            return;
        };
        control.cancel();
        drop((sender, items));
        let (predictor, denoiser) = control.join();
        let mut state = lock(&self.state);
        if let (Some(loaded), Some(p), Some(d)) = (state.loaded.as_mut(), predictor, denoiser) {
            loaded.networks = Some((p, d));
        }
    }

    fn start_task(&self) -> Result<(), glib::BoolError> {
        let Some(mut context) = lock(&self.state).pending_context.take() else {
            return Ok(());
        };
        let imp = self.ref_counted();
        self.srcpad.start_task(move || imp.src_loop(&mut context))
    }

    fn sink_activatemode(
        &self,
        pad: &gst::Pad,
        mode: gst::PadMode,
        active: bool,
    ) -> Result<(), gst::LoggableError> {
        if mode != gst::PadMode::Push {
            return Err(gst::loggable_error!(CAT, "only push mode is supported"));
        }
        if !active {
            self.stop_pipeline(gst::FlowError::Flushing);
            // Wait for the chain function to return.
            let _stream = pad.stream_lock();
        }
        Ok(())
    }

    fn src_activatemode(
        &self,
        pad: &gst::Pad,
        mode: gst::PadMode,
        active: bool,
    ) -> Result<(), gst::LoggableError> {
        if mode != gst::PadMode::Push {
            return Err(gst::loggable_error!(CAT, "only push mode is supported"));
        }
        if active {
            self.start_task()
                .map_err(|e| gst::loggable_error!(CAT, "cannot start the src task: {e}"))?;
        } else {
            self.stop_pipeline(gst::FlowError::Flushing);
            pad.stop_task()?;
        }
        Ok(())
    }

    // ----- Sink side -----

    fn sink_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        gst::log!(CAT, obj = pad, "sink event {event:?}");
        match event.view() {
            gst::EventView::FlushStart(_) => {
                let forwarded = self.srcpad.push_event(event);
                self.stop_pipeline(gst::FlowError::Flushing);
                if let Err(e) = self.srcpad.pause_task() {
                    gst::error!(CAT, imp = self, "cannot pause the src task: {e}");
                }
                return forwarded;
            }
            gst::EventView::FlushStop(_) => {
                if let Err(e) = self.srcpad.stop_task() {
                    gst::error!(CAT, imp = self, "cannot stop the src task: {e}");
                }
                {
                    let mut state = lock(&self.state);
                    state.segment = gst::FormattedSegment::new();
                    state.qos = Qos::default();
                }
                if let Err(e) = self.start_pipeline() {
                    gst::element_imp_error!(
                        self,
                        gst::CoreError::Failed,
                        ("cannot restart after a flush: {e}")
                    );
                    return false;
                }
                let forwarded = self.srcpad.push_event(event);
                if let Err(e) = self.start_task() {
                    gst::error!(CAT, imp = self, "cannot restart the src task: {e}");
                    return false;
                }
                return forwarded;
            }
            gst::EventView::Caps(c) => {
                let caps = c.caps_owned();
                let info = match gst_video::VideoInfo::from_caps(&caps) {
                    Ok(info) => info,
                    Err(e) => {
                        gst::element_imp_error!(
                            self,
                            gst::CoreError::Negotiation,
                            ("unusable caps {caps}: {e}")
                        );
                        return false;
                    }
                };
                {
                    let mut state = lock(&self.state);
                    state.in_info = Some(info);
                    state.in_caps = Some(caps.clone());
                }
                return self.enqueue(Item::Caps(caps));
            }
            gst::EventView::Segment(s) => {
                if let Some(segment) = s.segment().downcast_ref::<gst::ClockTime>() {
                    lock(&self.state).segment = segment.clone();
                }
            }
            _ => {}
        }
        if event.is_serialized() {
            self.enqueue(Item::Event(event))
        } else {
            gst::Pad::event_default(pad, Some(&*self.obj()), event)
        }
    }

    fn enqueue(&self, item: Item) -> bool {
        let items = lock(&self.state).running.as_ref().map(|r| r.items.clone());
        match items {
            Some(items) => items.send(item).is_ok(),
            None => false,
        }
    }

    /// The output caps for input `caps` in `mode`: the same, except the width of side by side.
    fn output_caps(caps: &gst::Caps, mode: OutputMode) -> gst::Caps {
        let mut out = caps.clone();
        if mode == OutputMode::SideBySide
            && let Some(s) = out.make_mut().structure_mut(0)
            && let Ok(width) = s.get::<i32>("width")
        {
            s.set("width", width * 2);
        }
        out
    }

    fn sink_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.peer_caps_any_size(&self.srcpad, q.filter_owned());
                q.set_result(&caps);
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// What the peer of `other` accepts, with any frame size (output mode may change it),
    /// within our template and `filter`.
    fn peer_caps_any_size(&self, other: &gst::Pad, filter: Option<gst::Caps>) -> gst::Caps {
        let template = other.pad_template_caps();
        let mut peer = other.peer_query_caps(Some(&template));
        {
            let peer = peer.make_mut();
            for s in peer.iter_mut() {
                s.remove_fields(["width", "height"]);
            }
        }
        let mut caps = peer.intersect(&template);
        if let Some(filter) = filter {
            caps = filter.intersect_with_mode(&caps, gst::CapsIntersectMode::First);
        }
        caps
    }

    fn sink_chain(
        &self,
        _pad: &gst::Pad,
        buffer: gst::Buffer,
    ) -> Result<gst::FlowSuccess, gst::FlowError> {
        let settings = lock(&self.settings).clone();
        let mut state = lock(&self.state);
        state.src_result?;
        let info = state.in_info.clone().ok_or(gst::FlowError::NotNegotiated)?;
        let Some(running) = state.running.as_ref() else {
            return Err(gst::FlowError::Flushing);
        };
        let (sender, items) = (running.sender.clone(), running.items.clone());
        let loaded = state.loaded.as_ref().ok_or(gst::FlowError::Flushing)?;
        let tuned = loaded.tuned.for_samples(settings.samples);
        let steps = settings.steps_or(tuned.steps);
        let Some(steps) = Self::qos_steps(&state, &settings, &buffer, steps) else {
            drop(state);
            self.drop_late_frame(&buffer);
            return Ok(gst::FlowSuccess::Ok);
        };
        let frame_index = Self::frame_index(&mut state, &buffer, &info);
        drop(state);
        let frame = lock(&self.input_converter).buffer_to_rgb(&buffer, &info);

        let frame = frame.map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Decode, ("{e}"));
            gst::FlowError::Error
        })?;
        let mode = OutputMode::from(settings.output);
        let job = FrameJob {
            frame_index,
            settings: FrameSettings {
                sampling: SamplingParams {
                    steps,
                    schedule_end: settings.schedule_end_or(tuned.schedule_end),
                    samples: settings.samples,
                },
                seed: settings.seed,
                noise_mode: settings.noise_mode.into(),
                extras: mode.extras(),
                ensemble: settings.ensemble.into(),
            },
            frame,
        };
        let input_rgb = (mode == OutputMode::SideBySide).then(|| job.frame.clone());
        if items
            .send(Item::Frame {
                input: buffer,
                input_rgb,
                mode,
            })
            .is_err()
            || sender.send(job).is_err()
        {
            // The pipeline stopped: a flush says so in src_result; otherwise a stage failed.
            return lock(&self.state).src_result.and(Err(gst::FlowError::Error));
        }
        lock(&self.state).src_result
    }

    /// The frame's index for per-frame noise: its position in the stream (from its stream time
    /// and the frame rate) when known, so that a clip cut into pieces keeps its frame numbers;
    /// otherwise a counter.
    fn frame_index(state: &mut State, buffer: &gst::BufferRef, info: &gst_video::VideoInfo) -> u64 {
        let counted = state.frame_counter;
        state.frame_counter += 1;
        let fps = info.fps();
        let stream_time = buffer
            .pts()
            .and_then(|pts| state.segment.to_stream_time(pts));
        match (stream_time, fps.numer() > 0) {
            (Some(t), true) => {
                let frames = t.nseconds() as u128 * fps.numer() as u128;
                let per = 1_000_000_000u128 * fps.denom() as u128;
                ((frames + per / 2) / per) as u64
            }
            _ => counted,
        }
    }

    /// The steps this buffer gets under QoS, or `None` to drop it.
    fn qos_steps(
        state: &State,
        settings: &Settings,
        buffer: &gst::BufferRef,
        steps: u32,
    ) -> Option<u32> {
        if !settings.qos {
            return Some(steps);
        }
        let end = buffer
            .pts()
            .map(|pts| pts + buffer.duration().unwrap_or(gst::ClockTime::ZERO))
            .and_then(|end| state.segment.to_running_time(end));
        state.qos.steps_for(steps, end)
    }

    fn drop_late_frame(&self, buffer: &gst::BufferRef) {
        let dropped = {
            let mut stats = lock(&self.stats);
            stats.dropped += 1;
            stats.dropped
        };
        let processed = lock(&self.stats).processed;
        let segment = lock(&self.state).segment.clone();
        let running_time = buffer.pts().and_then(|pts| segment.to_running_time(pts));
        let message = gst::message::Qos::builder(false)
            .running_time(running_time)
            .stream_time(buffer.pts().and_then(|pts| segment.to_stream_time(pts)))
            .timestamp(buffer.pts())
            .duration(buffer.duration())
            .stats(
                gst::GenericFormattedValue::from(gst::format::Buffers::from_u64(processed)),
                gst::GenericFormattedValue::from(gst::format::Buffers::from_u64(dropped)),
            )
            .src(&*self.obj())
            .build();
        gst::debug!(
            CAT,
            imp = self,
            "dropping a late frame at {:?} (steps already 0)",
            buffer.pts()
        );
        let _ = self.obj().post_message(message);
    }

    // ----- Src side -----

    fn src_event(&self, pad: &gst::Pad, event: gst::Event) -> bool {
        if let gst::EventView::Qos(q) = event.view() {
            let (_, proportion, diff, timestamp) = q.get();
            self.update_qos(proportion, diff, timestamp);
        }
        gst::Pad::event_default(pad, Some(&*self.obj()), event)
    }

    fn update_qos(&self, proportion: f64, diff: i64, timestamp: Option<gst::ClockTime>) {
        let settings = lock(&self.settings).clone();
        if !settings.qos {
            return;
        }
        let mut state = lock(&self.state);
        let tuned = state
            .loaded
            .as_ref()
            .map_or(0, |l| l.tuned.for_samples(settings.samples).steps);
        let steps = settings.steps_or(tuned);
        state.qos.observe(steps, proportion, diff, timestamp);
        gst::debug!(
            CAT,
            imp = self,
            "QoS proportion {proportion:.2} diff {diff}: {:?}",
            state.qos
        );
    }

    fn src_query(&self, pad: &gst::Pad, query: &mut gst::QueryRef) -> bool {
        match query.view_mut() {
            gst::QueryViewMut::Caps(q) => {
                let caps = self.peer_caps_any_size(&self.sinkpad, q.filter_owned());
                q.set_result(&caps);
                true
            }
            gst::QueryViewMut::Latency(q) => {
                let mut upstream = gst::query::Latency::new();
                if !self.sinkpad.peer_query(&mut upstream) {
                    return false;
                }
                let (live, min, max) = upstream.result();
                let (ours, compute) = self.own_latency();
                lock(&self.stats).reported(ours, compute);
                gst::debug!(
                    CAT,
                    imp = self,
                    "reporting {ours} of latency on top of upstream's {min}"
                );
                q.set(live, min + ours, max.map(|m| m + ours));
                true
            }
            _ => gst::Pad::query_default(pad, Some(&*self.obj()), query),
        }
    }

    /// Frames in flight times the frame duration, plus the measured compute per frame; and
    /// that compute.
    fn own_latency(&self) -> (gst::ClockTime, gst::ClockTime) {
        let in_flight = lock(&self.settings).frames_in_flight as u64;
        let frame = lock(&self.state).in_info.as_ref().and_then(|info| {
            let fps = info.fps();
            (fps.numer() > 0).then(|| {
                gst::ClockTime::SECOND
                    .mul_div_ceil(fps.denom() as u64, fps.numer() as u64)
                    .unwrap_or(gst::ClockTime::ZERO)
            })
        });
        let compute = lock(&self.stats).compute();
        (
            frame.unwrap_or(gst::ClockTime::ZERO) * in_flight + compute,
            compute,
        )
    }

    fn src_loop(&self, context: &mut SrcContext) {
        let Err(flow) = self.src_step(context) else {
            return;
        };
        let flushing = {
            let mut state = lock(&self.state);
            let flushing = state.src_result == Err(gst::FlowError::Flushing);
            if state.src_result.is_ok() {
                state.src_result = Err(flow);
            }
            flushing
        };
        match flow {
            gst::FlowError::Flushing | gst::FlowError::Eos => {}
            _ if flushing => {}
            gst::FlowError::NotLinked | gst::FlowError::Error | gst::FlowError::NotNegotiated => {
                gst::element_imp_error!(
                    self,
                    gst::StreamError::Failed,
                    ("Internal data stream error."),
                    ["streaming stopped, reason {flow:?}"]
                );
                let _ = self.srcpad.push_event(gst::event::Eos::new());
            }
            _ => {}
        }
        gst::debug!(CAT, imp = self, "pausing the src task: {flow:?}");
        // Nothing consumes the pipeline's output any more: stop it, so that a chain function
        // waiting for room returns instead of blocking until the next state change.
        self.stop_pipeline(flow);
        let _ = self.srcpad.pause_task();
    }

    fn src_step(&self, context: &mut SrcContext) -> Result<(), gst::FlowError> {
        let item = context.items.recv().map_err(|_| gst::FlowError::Flushing)?;
        match item {
            Item::Event(event) => {
                let eos = event.type_() == gst::EventType::Eos;
                self.srcpad.push_event(event);
                if eos {
                    return Err(gst::FlowError::Eos);
                }
                Ok(())
            }
            Item::Caps(caps) => {
                let mode = OutputMode::from(lock(&self.settings).output);
                context.in_caps = Some(caps);
                self.set_output_caps(context, mode)
            }
            Item::Frame {
                input,
                input_rgb,
                mode,
            } => self.push_frame(context, input, input_rgb, mode),
        }
    }

    fn set_output_caps(
        &self,
        context: &mut SrcContext,
        mode: OutputMode,
    ) -> Result<(), gst::FlowError> {
        let in_caps = context
            .in_caps
            .as_ref()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let caps = Self::output_caps(in_caps, mode);
        if context.out_caps.as_ref() == Some(&caps) {
            return Ok(());
        }
        let info =
            gst_video::VideoInfo::from_caps(&caps).map_err(|_| gst::FlowError::NotNegotiated)?;
        gst::debug!(CAT, imp = self, "output caps {caps}");
        if !self.srcpad.push_event(gst::event::Caps::new(&caps)) {
            return Err(
                if self.srcpad.pad_flags().contains(gst::PadFlags::FLUSHING) {
                    gst::FlowError::Flushing
                } else {
                    gst::FlowError::NotNegotiated
                },
            );
        }
        context.out_caps = Some(caps);
        context.out_info = Some(info);
        Ok(())
    }

    fn push_frame(
        &self,
        context: &mut SrcContext,
        input: gst::Buffer,
        input_rgb: Option<RgbFrame>,
        mode: OutputMode,
    ) -> Result<(), gst::FlowError> {
        let result = match context.results.recv() {
            Some(Ok(result)) => result,
            Some(Err(deblur::Error::Stage { source, .. }))
                if matches!(*source, deblur::Error::Cancelled) =>
            {
                return Err(gst::FlowError::Flushing);
            }
            Some(Err(e)) => {
                gst::element_imp_error!(self, gst::StreamError::Failed, ("deblurring failed: {e}"));
                return Err(gst::FlowError::Error);
            }
            None => return Err(gst::FlowError::Flushing),
        };
        let timings = result.deblurred.timings;
        let blank;
        let input_frame = match &input_rgb {
            Some(frame) => frame,
            None => {
                blank = RgbFrame::new(1, 1, vec![0; 3]).expect("valid size");
                &blank
            }
        };
        let image = mode.compose(input_frame, result.deblurred).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Failed, ("{e}"));
            gst::FlowError::Error
        })?;
        self.set_output_caps(context, mode)?;
        let info = context
            .out_info
            .as_ref()
            .ok_or(gst::FlowError::NotNegotiated)?;
        let mut output = context.converter.rgb_to_buffer(&image, info).map_err(|e| {
            gst::element_imp_error!(self, gst::StreamError::Encode, ("{e}"));
            gst::FlowError::Error
        })?;
        {
            let output = output.get_mut().expect("a new buffer is writable");
            output.set_pts(input.pts());
            output.set_dts(input.dts());
            output.set_duration(input.duration());
            output.set_offset(input.offset());
            output.set_offset_end(input.offset_end());
            output.set_flags(input.flags());
        }
        self.record(timings);
        self.srcpad.push(output).map(|_| ())
    }

    /// Updates the statistics; posts a new latency or a warning when they call for one.
    fn record(&self, timings: deblur::engine::StageTimings) {
        let follow = lock(&self.stats).record(
            timings.predict.as_secs_f64() * 1e3,
            timings.refine.as_secs_f64() * 1e3,
            Instant::now(),
        );
        if let Some((compute, reported)) = follow.overrun {
            gst::element_imp_warning!(
                self,
                gst::CoreError::Clock,
                ("deblurring one frame took {compute}, more than the {reported} of latency reported; lower steps or samples, or raise frames-in-flight")
            );
        }
        if follow.relatency {
            let _ = self
                .obj()
                .post_message(gst::message::Latency::builder().src(&*self.obj()).build());
        }
    }
}
