"""What reading an exported bundle needs, without torch: the manifest's file name and an ONNX
Runtime session set up like the Rust runtime's (fixed intra-op threads, no spinning)."""

from __future__ import annotations

from pathlib import Path

MANIFEST = "deblur-model.json"


def ort_session(path: Path, threads: int = 1):
    import onnxruntime as ort

    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])
