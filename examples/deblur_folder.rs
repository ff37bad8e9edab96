//! Deblurs every PNG/JPEG image of a folder through the two-stage pipeline, the way a video is
//! processed: frames go in on one thread and come out, in order, on another.
//!
//! ```sh
//! cargo run --release --example deblur_folder -- IN_DIR OUT_DIR
//! ```

use std::path::{Path, PathBuf};

use deblur::pipeline::{self, FrameJob, PipelineConfig};
use deblur::{Extras, FrameSettings, ModelBundle, NoiseMode, SelfEnsemble};

type Result<T> = std::result::Result<T, Box<dyn std::error::Error + Send + Sync>>;

fn images_in(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.extension()
                .and_then(|e| e.to_str())
                .is_some_and(|e| ["png", "jpg", "jpeg"].contains(&e.to_ascii_lowercase().as_str()))
        })
        .collect();
    paths.sort();
    Ok(paths)
}

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, input, output] = args.as_slice() else {
        eprintln!("usage: deblur_folder IN_DIR OUT_DIR");
        std::process::exit(2);
    };
    let (input, output) = (Path::new(input), Path::new(output));
    std::fs::create_dir_all(output)?;
    let paths = images_in(input)?;

    let bundle = ModelBundle::embedded()?;
    let settings = FrameSettings {
        sampling: bundle.default_sampling(),
        seed: 0,
        noise_mode: NoiseMode::Locked,
        ensemble: SelfEnsemble::OFF,
        extras: Extras::default(),
    };
    let (sender, receiver) = pipeline::start(&bundle, PipelineConfig::default())?;

    // Decode and send on one thread while results are written on this one.
    let to_send = paths.clone();
    let feeder = std::thread::spawn(move || -> Result<()> {
        for (index, path) in to_send.iter().enumerate() {
            let image = image::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
            sender.send(FrameJob {
                frame_index: index as u64,
                frame: image.into_rgb8().into(),
                settings,
            })?;
        }
        Ok(())
    });

    for result in receiver {
        let result = result?;
        let source = &paths[result.frame_index as usize];
        let target = output.join(source.file_name().expect("listed files have names"));
        let image: image::RgbImage = result.deblurred.image.into();
        image
            .save(&target)
            .map_err(|e| format!("{}: {e}", target.display()))?;
        println!(
            "{} ({} ms predict, {} ms refine)",
            target.display(),
            result.deblurred.timings.predict.as_millis(),
            result.deblurred.timings.refine.as_millis()
        );
    }
    feeder.join().expect("the feeder thread does not panic")
}
