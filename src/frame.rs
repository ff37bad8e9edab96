//! RGB8 frames and their conversion to and from model tensors, with reflect padding.

use crate::error::{Error, Result};
use crate::tensor::Tensor;

/// An interleaved 8-bit RGB frame, rows packed without padding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RgbFrame {
    width: u32,
    height: u32,
    data: Vec<u8>,
}

impl RgbFrame {
    /// Wraps packed RGB8 `data` of `width` x `height` pixels.
    pub fn new(width: u32, height: u32, data: Vec<u8>) -> Result<Self> {
        if width == 0 || height == 0 {
            return Err(Error::InvalidFrame {
                reason: format!("size {width}x{height}: expected at least 1x1"),
            });
        }
        let expected = width as usize * height as usize * 3;
        if data.len() != expected {
            return Err(Error::InvalidFrame {
                reason: format!(
                    "{} bytes of pixel data for {width}x{height} RGB8: expected {expected}",
                    data.len()
                ),
            });
        }
        Ok(RgbFrame {
            width,
            height,
            data,
        })
    }

    /// Frame width in pixels.
    pub fn width(&self) -> u32 {
        self.width
    }

    /// Frame height in pixels.
    pub fn height(&self) -> u32 {
        self.height
    }

    /// Packed RGB8 bytes.
    pub fn data(&self) -> &[u8] {
        &self.data
    }

    /// The packed RGB8 bytes, consuming the frame.
    pub fn into_data(self) -> Vec<u8> {
        self.data
    }

    /// The whole frame as a region.
    pub fn region(&self) -> Region {
        Region {
            x: 0,
            y: 0,
            width: self.width as usize,
            height: self.height as usize,
        }
    }
}

impl From<image::RgbImage> for RgbFrame {
    fn from(image: image::RgbImage) -> Self {
        let (width, height) = image.dimensions();
        RgbFrame {
            width,
            height,
            data: image.into_raw(),
        }
    }
}

impl From<RgbFrame> for image::RgbImage {
    fn from(frame: RgbFrame) -> Self {
        image::RgbImage::from_raw(frame.width, frame.height, frame.data)
            .expect("RgbFrame always holds width * height * 3 bytes")
    }
}

/// A rectangle of a frame, in pixels.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Region {
    /// Left column.
    pub x: usize,
    /// Top row.
    pub y: usize,
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
}

/// The float range that 0..=255 maps to, as the model was trained.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct ValueRange {
    /// Value of a 0 byte.
    pub lo: f32,
    /// Value of a 255 byte.
    pub hi: f32,
}

impl ValueRange {
    /// Byte to model value.
    #[inline]
    pub fn from_byte(self, byte: u8) -> f32 {
        self.lo + f32::from(byte) * ((self.hi - self.lo) / 255.0)
    }

    /// Model value to byte, rounded and clamped.
    #[inline]
    pub fn to_byte(self, value: f32) -> u8 {
        let scaled = (value - self.lo) * (255.0 / (self.hi - self.lo));
        scaled.round().clamp(0.0, 255.0) as u8
    }

    /// Width of the range (the largest possible |residual|).
    pub fn span(self) -> f32 {
        self.hi - self.lo
    }
}

/// Index into `0..len` for a possibly out-of-range `index`, mirroring at the edges without
/// repeating the edge pixel (like `numpy.pad(mode="reflect")`), any number of times over.
#[inline]
pub fn reflect_index(index: usize, len: usize) -> usize {
    if len == 1 {
        return 0;
    }
    let period = 2 * (len - 1);
    let m = index % period;
    if m < len { m } else { period - m }
}

/// `value` rounded up to a multiple of `multiple`.
pub fn round_up(value: usize, multiple: usize) -> usize {
    value.div_ceil(multiple) * multiple
}

/// Converts `region` of `frame` to a 1x3xHxW tensor in `range`, reflect-padded on the right and
/// bottom so that H and W are multiples of `multiple`. Padding only at the far edges keeps tensor
/// coordinates equal to frame coordinates minus the region's origin.
pub fn region_to_tensor(
    frame: &RgbFrame,
    region: Region,
    range: ValueRange,
    multiple: usize,
) -> Tensor {
    let padded_w = round_up(region.width, multiple);
    let padded_h = round_up(region.height, multiple);
    let mut tensor = Tensor::zeros(1, 3, padded_h, padded_w);
    let plane = padded_h * padded_w;
    let stride = frame.width as usize * 3;
    let lut: Vec<f32> = (0..=255u8).map(|b| range.from_byte(b)).collect();
    let columns: Vec<usize> = (0..padded_w)
        .map(|x| (region.x + reflect_index(x, region.width)) * 3)
        .collect();
    let out = tensor.data_mut();
    for y in 0..padded_h {
        let row = &frame.data[(region.y + reflect_index(y, region.height)) * stride..][..stride];
        for (x, &column) in columns.iter().enumerate() {
            let at = y * padded_w + x;
            out[at] = lut[row[column] as usize];
            out[plane + at] = lut[row[column + 1] as usize];
            out[2 * plane + at] = lut[row[column + 2] as usize];
        }
    }
    tensor
}

/// Converts a 1x3xHxW tensor in `range` to a frame of the same size.
pub fn tensor_to_frame(tensor: &Tensor, range: ValueRange) -> RgbFrame {
    let [n, c, h, w] = tensor.shape();
    assert!(
        n == 1 && c == 3,
        "tensor_to_frame needs a 1x3xHxW tensor, got {n}x{c}x{h}x{w}"
    );
    let plane = h * w;
    let data = tensor.data();
    let mut bytes = Vec::with_capacity(plane * 3);
    for at in 0..plane {
        bytes.push(range.to_byte(data[at]));
        bytes.push(range.to_byte(data[plane + at]));
        bytes.push(range.to_byte(data[2 * plane + at]));
    }
    RgbFrame {
        width: w as u32,
        height: h as u32,
        data: bytes,
    }
}

/// The top-left `height` x `width` window of every plane of a tensor.
pub fn crop(tensor: &Tensor, width: usize, height: usize) -> Tensor {
    let [n, c, h, w] = tensor.shape();
    assert!(
        width <= w && height <= h,
        "crop {width}x{height} exceeds tensor {w}x{h}"
    );
    if width == w && height == h {
        return tensor.clone();
    }
    let mut out = Vec::with_capacity(n * c * height * width);
    for plane in tensor.data().chunks_exact(h * w) {
        for row in plane.chunks_exact(w).take(height) {
            out.extend_from_slice(&row[..width]);
        }
    }
    Tensor::from_vec(n, c, height, width, out)
}
