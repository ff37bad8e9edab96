//! Embeds the `deblur` GStreamer element in an application's own pipeline: a test pattern is
//! deblurred and the frames are taken back by the application through an appsink.
//!
//! ```sh
//! cargo build --release --workspace --features video
//! cargo run --release --features video --example embed_element
//! ```

use gst::prelude::*;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Finds the installed plugin, or the one cargo built beside this program.
    deblur::video::ensure_element()?;

    let pipeline = gst::parse::launch(
        "videotestsrc num-buffers=8 pattern=ball \
         ! video/x-raw,format=RGB,width=320,height=180,framerate=25/1 \
         ! deblur name=deblur steps=2 output=side-by-side \
         ! appsink name=frames sync=false",
    )?
    .downcast::<gst::Pipeline>()
    .map_err(|_| "not a pipeline")?;
    let appsink = pipeline
        .by_name("frames")
        .ok_or("no appsink")?
        .downcast::<gst_app::AppSink>()
        .map_err(|_| "not an appsink")?;

    pipeline.set_state(gst::State::Playing)?;
    let mut frames = 0;
    while let Ok(sample) = appsink.pull_sample() {
        let caps = sample.caps().ok_or("no caps")?;
        let s = caps.structure(0).ok_or("empty caps")?;
        let buffer = sample.buffer().ok_or("no buffer")?;
        println!(
            "frame {frames}: {}x{} at {}",
            s.get::<i32>("width")?,
            s.get::<i32>("height")?,
            buffer.pts().map(|t| t.to_string()).unwrap_or_default()
        );
        frames += 1;
    }
    let deblur = pipeline.by_name("deblur").ok_or("no deblur element")?;
    println!(
        "{frames} frames, {:.1} ms predictor + {:.1} ms refiner per frame",
        deblur.property::<f64>("predict-ms"),
        deblur.property::<f64>("refine-ms")
    );
    pipeline.set_state(gst::State::Null)?;
    Ok(())
}
