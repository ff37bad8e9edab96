//! GStreamer plugin `deblur`: the `deblur` element, video deblurring by stochastic refinement.
//!
//! The element only adapts GStreamer (caps, pads, properties, events, queries) to the `deblur`
//! library's two-stage pipeline; see `src/deblur/imp.rs`.

use gst::glib;

pub mod deblur;

fn plugin_init(plugin: &gst::Plugin) -> Result<(), glib::BoolError> {
    deblur::register(plugin)
}

gst::plugin_define!(
    deblur,
    env!("CARGO_PKG_DESCRIPTION"),
    plugin_init,
    concat!(env!("CARGO_PKG_VERSION"), "-", env!("COMMIT_ID")),
    "MIT/X11",
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_NAME"),
    env!("CARGO_PKG_REPOSITORY"),
    env!("BUILD_REL_DATE")
);
