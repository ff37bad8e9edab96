//! Evaluation inputs: pairs of blurry and sharp images matched by file name, or a clip given as
//! two folders of frames in name order.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use crate::error::{Error, Result};
use crate::frame::RgbFrame;

/// A blurry image and its sharp reference.
#[derive(Clone, Debug, PartialEq)]
pub struct Pair {
    /// The blurry file's name without its extension.
    pub name: String,
    /// The input.
    pub blurry: RgbFrame,
    /// The reference.
    pub sharp: RgbFrame,
}

impl Pair {
    /// The centre `size` x `size` window of both images (each side at most the image's).
    pub fn centre_crop(&self, size: u32) -> Pair {
        Pair {
            name: self.name.clone(),
            blurry: centre_crop(&self.blurry, size),
            sharp: centre_crop(&self.sharp, size),
        }
    }
}

const IMAGE_EXTENSIONS: [&str; 3] = ["png", "jpg", "jpeg"];

/// Reads a PNG or JPEG as RGB8.
pub fn read_image(path: &Path) -> Result<RgbFrame> {
    let image = image::open(path).map_err(|source| Error::Image {
        path: path.to_path_buf(),
        source,
    })?;
    Ok(image.into_rgb8().into())
}

/// The PNG and JPEG files of `dir`, sorted by file name.
pub fn image_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let io_error = |source| Error::Io {
        path: dir.to_path_buf(),
        source,
    };
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_error)? {
        let path = entry.map_err(io_error)?.path();
        let is_image = path.extension().and_then(|e| e.to_str()).is_some_and(|e| {
            IMAGE_EXTENSIONS
                .iter()
                .any(|known| e.eq_ignore_ascii_case(known))
        });
        if is_image && path.is_file() {
            files.push(path);
        }
    }
    if files.is_empty() {
        return Err(io_error(io::Error::new(
            io::ErrorKind::NotFound,
            "no PNG or JPEG images in this folder",
        )));
    }
    files.sort_by(|a, b| a.file_name().cmp(&b.file_name()));
    Ok(files)
}

fn stem(path: &Path) -> String {
    path.file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// A file of one folder without a partner in the other.
fn unmatched(file: &Path, other_dir: &Path, other_kind: &str) -> Error {
    let name = file.file_name().unwrap_or_default();
    Error::Io {
        path: other_dir.join(name),
        source: io::Error::new(
            io::ErrorKind::NotFound,
            format!(
                "no {other_kind} image matches {} (looked for the same name, or the same stem \
                 with a .png, .jpg or .jpeg extension)",
                file.display()
            ),
        ),
    }
}

/// Pairs matched by file name (or, failing that, by the name without its extension), sorted by
/// name. Every image of either folder must have its partner, of the same size.
pub fn load_pairs(blurry_dir: &Path, sharp_dir: &Path) -> Result<Vec<Pair>> {
    let blurry_files = image_files(blurry_dir)?;
    let mut sharp_by_stem: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for file in image_files(sharp_dir)? {
        sharp_by_stem.entry(stem(&file)).or_default().push(file);
    }
    let mut matched = Vec::with_capacity(blurry_files.len());
    for blurry in blurry_files {
        let candidates = sharp_by_stem.get_mut(&stem(&blurry));
        let Some(candidates) = candidates.filter(|c| !c.is_empty()) else {
            return Err(unmatched(&blurry, sharp_dir, "sharp"));
        };
        // The same file name first; else the only file with that stem.
        let position = candidates
            .iter()
            .position(|c| c.file_name() == blurry.file_name())
            .unwrap_or(0);
        let sharp = candidates.remove(position);
        matched.push((blurry, sharp));
    }
    if let Some(extra) = sharp_by_stem.values().flatten().next() {
        return Err(unmatched(extra, blurry_dir, "blurry"));
    }
    matched
        .iter()
        .map(|(blurry, sharp)| read_pair(blurry, sharp))
        .collect()
}

/// A clip's frames: the n-th blurry frame with the n-th sharp frame, both folders in name
/// order. Both folders must hold as many frames, all of one size.
pub fn load_clip(blurry_dir: &Path, sharp_dir: &Path) -> Result<Vec<Pair>> {
    let blurry_files = image_files(blurry_dir)?;
    let sharp_files = image_files(sharp_dir)?;
    if blurry_files.len() != sharp_files.len() {
        let (longer, shorter) = if blurry_files.len() > sharp_files.len() {
            (&blurry_files, &sharp_files)
        } else {
            (&sharp_files, &blurry_files)
        };
        return Err(Error::InvalidFrame {
            reason: format!(
                "the clip has {} blurry frames in {} but {} sharp frames in {}: {} has no \
                 counterpart",
                blurry_files.len(),
                blurry_dir.display(),
                sharp_files.len(),
                sharp_dir.display(),
                longer[shorter.len()].display()
            ),
        });
    }
    let frames = blurry_files
        .iter()
        .zip(&sharp_files)
        .map(|(blurry, sharp)| read_pair(blurry, sharp))
        .collect::<Result<Vec<_>>>()?;
    let size = |f: &RgbFrame| (f.width(), f.height());
    for (pair, path) in frames.iter().zip(&blurry_files).skip(1) {
        if size(&pair.blurry) != size(&frames[0].blurry) {
            return Err(Error::InvalidFrame {
                reason: format!(
                    "clip frame {} is {}x{} but the first frame, {}, is {}x{}: a clip's frames \
                     must share one size",
                    path.display(),
                    pair.blurry.width(),
                    pair.blurry.height(),
                    blurry_files[0].display(),
                    frames[0].blurry.width(),
                    frames[0].blurry.height()
                ),
            });
        }
    }
    Ok(frames)
}

fn read_pair(blurry_path: &Path, sharp_path: &Path) -> Result<Pair> {
    let blurry = read_image(blurry_path)?;
    let sharp = read_image(sharp_path)?;
    if (blurry.width(), blurry.height()) != (sharp.width(), sharp.height()) {
        return Err(Error::InvalidFrame {
            reason: format!(
                "{} is {}x{} but its sharp reference {} is {}x{}: a pair must have one size",
                blurry_path.display(),
                blurry.width(),
                blurry.height(),
                sharp_path.display(),
                sharp.width(),
                sharp.height()
            ),
        });
    }
    Ok(Pair {
        name: stem(blurry_path),
        blurry,
        sharp,
    })
}

/// The centre `size` x `size` window of `frame` (each side at most the frame's).
pub fn centre_crop(frame: &RgbFrame, size: u32) -> RgbFrame {
    let (width, height) = (size.min(frame.width()), size.min(frame.height()));
    let x = (frame.width() - width) / 2;
    let y = (frame.height() - height) / 2;
    crop(frame, x, y, width, height)
}

/// The `width` x `height` window of `frame` at (`x`, `y`), which must lie inside it.
pub fn crop(frame: &RgbFrame, x: u32, y: u32, width: u32, height: u32) -> RgbFrame {
    assert!(
        x + width <= frame.width() && y + height <= frame.height() && width > 0 && height > 0,
        "crop {width}x{height}+{x}+{y} outside a {}x{} frame",
        frame.width(),
        frame.height()
    );
    let stride = frame.width() as usize * 3;
    let (x, width) = (x as usize * 3, width as usize * 3);
    let data = frame
        .data()
        .chunks_exact(stride)
        .skip(y as usize)
        .take(height as usize)
        .flat_map(|row| &row[x..x + width])
        .copied()
        .collect();
    RgbFrame::new((width / 3) as u32, height, data).expect("the window lies inside the frame")
}
