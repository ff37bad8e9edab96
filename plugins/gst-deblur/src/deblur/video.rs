//! Raw video buffers to and from the library's packed RGB frames.
//!
//! Packed RGB is copied row by row; every other format goes through GStreamer's own
//! `VideoConverter`, which honours the stream's colorimetry (matrix, range, transfer).

use deblur::RgbFrame;
use gst_video::prelude::*;

/// The raw formats the element accepts and produces.
pub const FORMATS: [gst_video::VideoFormat; 7] = [
    gst_video::VideoFormat::Rgb,
    gst_video::VideoFormat::Rgba,
    gst_video::VideoFormat::Rgbx,
    gst_video::VideoFormat::Bgra,
    gst_video::VideoFormat::Bgrx,
    gst_video::VideoFormat::I420,
    gst_video::VideoFormat::Nv12,
];

/// Converts between one stream format and packed RGB, keeping the converters between frames.
#[derive(Default)]
pub struct Converter {
    cached: Option<(
        gst_video::VideoInfo,
        gst_video::VideoInfo,
        gst_video::VideoConverter,
    )>,
}

/// The packed RGB twin of `info`: same size, rate and interlacing.
fn rgb_info(info: &gst_video::VideoInfo) -> Result<gst_video::VideoInfo, gst::glib::BoolError> {
    gst_video::VideoInfo::builder(gst_video::VideoFormat::Rgb, info.width(), info.height())
        .fps(info.fps())
        .par(info.par())
        .interlace_mode(info.interlace_mode())
        .build()
}

impl Converter {
    fn converter(
        &mut self,
        from: &gst_video::VideoInfo,
        to: &gst_video::VideoInfo,
    ) -> Result<&gst_video::VideoConverter, gst::glib::BoolError> {
        let fresh = !matches!(&self.cached, Some((f, t, _)) if f == from && t == to);
        if fresh {
            let converter = gst_video::VideoConverter::new(from, to, None)?;
            self.cached = Some((from.clone(), to.clone(), converter));
        }
        Ok(&self.cached.as_ref().expect("just filled").2)
    }

    /// `buffer`, described by `info`, as packed RGB.
    pub fn buffer_to_rgb(
        &mut self,
        buffer: &gst::BufferRef,
        info: &gst_video::VideoInfo,
    ) -> Result<RgbFrame, String> {
        let frame = gst_video::VideoFrameRef::from_buffer_ref_readable(buffer, info)
            .map_err(|e| format!("cannot map the input buffer as {:?}: {e}", info.format()))?;
        let (width, height) = (info.width(), info.height());
        let row = width as usize * 3;
        let mut data = vec![0u8; row * height as usize];
        if info.format() == gst_video::VideoFormat::Rgb {
            copy_rows(
                frame.plane_data(0).map_err(|e| e.to_string())?,
                frame.plane_stride()[0] as usize,
                &mut data,
                row,
            );
        } else {
            let rgb = rgb_info(info).map_err(|e| e.to_string())?;
            let mut out = gst::Buffer::with_size(rgb.size()).map_err(|e| e.to_string())?;
            {
                let out = out.get_mut().expect("a new buffer is writable");
                let mut dest = gst_video::VideoFrameRef::from_buffer_ref_writable(out, &rgb)
                    .map_err(|e| e.to_string())?;
                self.converter(info, &rgb)
                    .map_err(|e| e.to_string())?
                    .frame_ref(&frame, &mut dest);
                copy_rows(
                    dest.plane_data(0).map_err(|e| e.to_string())?,
                    dest.plane_stride()[0] as usize,
                    &mut data,
                    row,
                );
            }
        }
        RgbFrame::new(width, height, data).map_err(|e| e.to_string())
    }

    /// `frame` as a new buffer in the format of `info` (whose size must be the frame's).
    pub fn rgb_to_buffer(
        &mut self,
        frame: &RgbFrame,
        info: &gst_video::VideoInfo,
    ) -> Result<gst::Buffer, String> {
        let rgb = rgb_info(info).map_err(|e| e.to_string())?;
        let row = frame.width() as usize * 3;
        let mut packed = gst::Buffer::with_size(rgb.size()).map_err(|e| e.to_string())?;
        {
            let packed = packed.get_mut().expect("a new buffer is writable");
            let mut dest = gst_video::VideoFrameRef::from_buffer_ref_writable(packed, &rgb)
                .map_err(|e| e.to_string())?;
            let stride = dest.plane_stride()[0] as usize;
            let plane = dest.plane_data_mut(0).map_err(|e| e.to_string())?;
            for (dst, src) in plane.chunks_mut(stride).zip(frame.data().chunks_exact(row)) {
                dst[..row].copy_from_slice(src);
            }
        }
        if info.format() == gst_video::VideoFormat::Rgb {
            return Ok(packed);
        }
        let mut out = gst::Buffer::with_size(info.size()).map_err(|e| e.to_string())?;
        {
            let src = gst_video::VideoFrameRef::from_buffer_ref_readable(packed.as_ref(), &rgb)
                .map_err(|e| e.to_string())?;
            let out = out.get_mut().expect("a new buffer is writable");
            let mut dest = gst_video::VideoFrameRef::from_buffer_ref_writable(out, info)
                .map_err(|e| e.to_string())?;
            self.converter(&rgb, info)
                .map_err(|e| e.to_string())?
                .frame_ref(&src, &mut dest);
        }
        Ok(out)
    }
}

fn copy_rows(src: &[u8], stride: usize, dst: &mut [u8], row: usize) {
    for (d, s) in dst.chunks_exact_mut(row).zip(src.chunks(stride)) {
        d.copy_from_slice(&s[..row]);
    }
}
