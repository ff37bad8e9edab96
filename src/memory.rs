//! This process's memory use, from Linux's `/proc/self/status`.

/// A `Vm*` line of `/proc/self/status`, in bytes.
fn status_bytes(field: &str) -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib * 1024)
}

/// Resident memory now.
pub fn resident() -> Option<u64> {
    status_bytes("VmRSS:")
}

/// The most resident memory since the start, or since [`reset_peak`].
pub fn peak_resident() -> Option<u64> {
    status_bytes("VmHWM:")
}

/// Restarts the peak at the current resident size (Linux 4.0+); false where not supported.
pub fn reset_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Bytes as MiB, for reports.
pub fn mib(bytes: u64) -> f64 {
    bytes as f64 / (1024.0 * 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn peak_follows_a_large_allocation_and_resets() {
        let before = resident().expect("Linux reports VmRSS");
        let block = vec![1u8; 64 << 20];
        std::hint::black_box(&block);
        assert!(peak_resident().unwrap() >= before + (60 << 20));
        drop(block);
        if reset_peak() {
            assert!(peak_resident().unwrap() < before + (60 << 20));
        }
    }
}
