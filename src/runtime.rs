//! Finding and loading the ONNX Runtime shared library.
//!
//! `ort` is built with `load-dynamic` and would panic on first use if the library were missing,
//! so deblur loads it itself, in this order, and reports every place it looked:
//! 1. `ORT_DYLIB_PATH`, when set (an explicit choice: no fallback when it is wrong);
//! 2. next to the executable (`libonnxruntime.so.1.31.1`), for relocated installs;
//! 3. the checkout's `.ort/lib/`, where `scripts/setup.sh` puts it;
//! 4. the system's library search path.

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use crate::error::{Error, Result};

/// The library file name deblur is built and tested against.
pub const LIBRARY_NAME: &str = "libonnxruntime.so.1.31.1";

/// Where the loaded library came from.
#[derive(Clone, Debug)]
pub struct RuntimeInfo {
    /// The path given to the loader.
    pub path: PathBuf,
    /// How it was found.
    pub found_by: &'static str,
    /// The library's version string.
    pub version: String,
}

static RUNTIME: OnceLock<
    std::result::Result<(RuntimeInfo, ort::environment::Environment), String>,
> = OnceLock::new();

/// The project-local folder `scripts/setup.sh` installs into.
pub fn project_library_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join(".ort")
        .join("lib")
}

fn candidates() -> Vec<(PathBuf, &'static str)> {
    if let Some(explicit) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return vec![(PathBuf::from(explicit), "ORT_DYLIB_PATH")];
    }
    let mut found = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(Path::to_path_buf))
    {
        found.push((dir.join(LIBRARY_NAME), "next to the executable"));
    }
    found.push((
        project_library_dir().join(LIBRARY_NAME),
        "the project-local copy",
    ));
    found.push((PathBuf::from(LIBRARY_NAME), "the system library path"));
    found.push((
        PathBuf::from("libonnxruntime.so"),
        "the system library path",
    ));
    found
}

fn load() -> std::result::Result<(RuntimeInfo, ort::environment::Environment), String> {
    let mut tried = Vec::new();
    for (path, found_by) in candidates() {
        // A bare file name goes to the system loader; a path must exist.
        if path.components().count() > 1 && !path.exists() {
            tried.push(format!("{} ({found_by}): no such file", path.display()));
            continue;
        }
        match ort::init_from(&path) {
            Ok(builder) => {
                let environment = builder
                    .with_name("deblur")
                    .with_telemetry(false)
                    .build()
                    .map_err(|e| format!("{} loaded but failed to start: {e}", path.display()))?;
                let info = RuntimeInfo {
                    version: library_version(&path),
                    path,
                    found_by,
                };
                tracing::debug!(path = %info.path.display(), version = %info.version, found_by, "loaded ONNX Runtime");
                return Ok((info, environment));
            }
            Err(e) => tried.push(format!("{} ({found_by}): {e}", path.display())),
        }
    }
    Err(tried.join("; "))
}

/// The version string of the library at `path`, asked through `OrtGetApiBase`.
fn library_version(path: &Path) -> String {
    type GetApiBase = unsafe extern "C" fn() -> *const ort::sys::OrtApiBase;
    // SAFETY: `path` was just loaded successfully by ort as an ONNX Runtime library, which
    // exports `OrtGetApiBase` returning a static table whose `GetVersionString` returns a static
    // NUL-terminated string. Opening it again only bumps the loader's reference count.
    unsafe {
        let Ok(library) = libloading::Library::new(path) else {
            return "unknown".into();
        };
        let Ok(get_api_base) = library.get::<GetApiBase>(b"OrtGetApiBase") else {
            return "unknown".into();
        };
        let base = get_api_base();
        if base.is_null() {
            return "unknown".into();
        }
        let version = ((*base).GetVersionString)();
        std::ffi::CStr::from_ptr(version)
            .to_string_lossy()
            .into_owned()
    }
}

fn loaded() -> Result<&'static (RuntimeInfo, ort::environment::Environment)> {
    RUNTIME
        .get_or_init(load)
        .as_ref()
        .map_err(|tried| Error::RuntimeNotFound {
            tried: tried.clone(),
        })
}

/// Loads ONNX Runtime once per process (later calls return the first outcome).
pub fn runtime() -> Result<&'static RuntimeInfo> {
    loaded().map(|(info, _)| info)
}

/// The process-wide ONNX Runtime environment.
pub(crate) fn environment() -> Result<&'static ort::environment::Environment> {
    loaded().map(|(_, environment)| environment)
}
