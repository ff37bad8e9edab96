# Sourced by the pipeline scripts: finds the deblur plugin and gst-launch-1.0.
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
if [ -z "${GST_PLUGIN_PATH:-}" ]; then
  for dir in "$here/../target/release" "$here/../target/debug"; do
    if [ -f "$dir/libgstdeblur.so" ]; then
      export GST_PLUGIN_PATH="$dir"
      break
    fi
  done
fi
if ! gst-inspect-1.0 deblur >/dev/null 2>&1; then
  echo "the deblur element is not found: build it with 'cargo build --release --workspace', or set GST_PLUGIN_PATH" >&2
  exit 1
fi
# shellcheck disable=SC2206 # word splitting of the property list is intended
props=(${DEBLUR_PROPS:-})
