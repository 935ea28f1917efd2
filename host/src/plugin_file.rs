//! Reading a plugin file (one given on the command line, or a stored version):
//! a regular file, of bounded size. A leaf: the runtime and the store read them.
//!
//! A path given as a plugin may name anything: `/dev/zero` would be read without
//! end, a FIFO would block, a multi-gigabyte file would be read into memory whole.
//! So the file is opened without blocking, must be a regular file no larger than
//! the limit, and is read no further than the limit even if it grows meanwhile.

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use sha2::{Digest, Sha256};

/// The largest plugin file read unless configured otherwise: far above the 18 MB
/// of a componentize-py component.
pub const DEFAULT_MAX_PLUGIN_SIZE: u64 = 256 << 20;

/// The bytes of the plugin file at `path`, at most `max` of them.
///
/// # Errors
/// A one-line reason when it cannot be opened, is not a regular file, or is larger
/// than `max`.
pub(crate) fn read_plugin(path: &Path, max: u64) -> Result<Vec<u8>, String> {
    let shown = crate::display::escape_control(&path.display().to_string());
    let file = OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| format!("reading {shown}: {e}"))?;
    let meta = file
        .metadata()
        .map_err(|e| format!("reading {shown}: {e}"))?;
    if !meta.is_file() {
        return Err(format!("{shown} is not a regular file"));
    }
    let too_large = || {
        format!(
            "{shown} is larger than the {} MiB plugin size limit",
            max.div_ceil(1 << 20)
        )
    };
    if meta.len() > max {
        return Err(too_large());
    }
    let mut wasm = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(max.saturating_add(1))
        .read_to_end(&mut wasm)
        .map_err(|e| format!("reading {shown}: {e}"))?;
    if wasm.len() as u64 > max {
        return Err(too_large());
    }
    Ok(wasm)
}

/// The SHA-256 of `bytes` in lowercase hex: a plugin's content address.
pub(crate) fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn devices_directories_and_oversized_files_are_refused() {
        assert_eq!(
            read_plugin(Path::new("/dev/zero"), 1 << 20).unwrap_err(),
            "/dev/zero is not a regular file"
        );
        let dir = tempfile::tempdir().unwrap();
        assert!(
            read_plugin(dir.path(), 1 << 20)
                .unwrap_err()
                .ends_with("is not a regular file")
        );
        let big = dir.path().join("big.wasm");
        std::fs::write(&big, vec![0u8; (1 << 20) + 1]).unwrap();
        assert!(
            read_plugin(&big, 1 << 20)
                .unwrap_err()
                .ends_with("is larger than the 1 MiB plugin size limit")
        );
        assert_eq!(read_plugin(&big, 2 << 20).unwrap().len(), (1 << 20) + 1);
    }
}
