//! The certificate authorities a server's certificate is checked against: a PEM
//! bundle named by `sslrootcert`, or the operating system's trust store.
//!
//! The system's store (rustls-native-certs: `/etc/ssl/certs` on Debian, and
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) rather than a bundle compiled in
//! (webpki-roots): it is the one the operator's package updates keep current
//! and the one a company adds its own CA to, and it is what `sslrootcert=system`
//! means to libpq.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A bundle larger than this is not read (the public CA bundles are ~200 KiB).
const MAX_BUNDLE: u64 = 16 << 20;

/// The certificates of the PEM bundle at `path`. A bundle decides whom to
/// trust, so it is opened without blocking (a FIFO planted there must not hang
/// the connect) and refused, as the opened file says, unless it is a regular
/// file that only its owner, this user or root, may write: anyone else who may
/// write it could add a CA of their own.
pub(super) fn from_file(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let shown = crate::display::escape_control(&path.display().to_string());
    let fail = |why: String| format!("cannot use sslrootcert {shown}: {why}");
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
    writable_by_owner_only(&meta).map_err(fail)?;
    let mut pem = Vec::new();
    file.take(MAX_BUNDLE + 1)
        .read_to_end(&mut pem)
        .map_err(|e| fail(e.to_string()))?;
    if pem.len() as u64 > MAX_BUNDLE {
        return Err(fail("larger than 16 MiB".into()));
    }
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(&pem) {
        let cert = cert.map_err(|e| fail(format!("not a PEM certificate bundle ({e})")))?;
        roots
            .add(cert)
            .map_err(|e| fail(format!("a certificate in it is not usable ({e})")))?;
    }
    if roots.is_empty() {
        return Err(fail("it holds no certificate".into()));
    }
    Ok(Arc::new(roots))
}

/// `Err` with the reason unless only the owner of a file with `meta`, this user
/// or root, may write it.
fn writable_by_owner_only(meta: &std::fs::Metadata) -> Result<(), String> {
    // SAFETY: geteuid has no preconditions and cannot fail.
    let me = unsafe { libc::geteuid() };
    if meta.uid() != me && meta.uid() != 0 {
        return Err(format!(
            "it belongs to uid {}, neither this user ({me}) nor root",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Err(format!(
            "group or others may write it (mode {:o})",
            meta.mode() & 0o7777
        ));
    }
    Ok(())
}

/// The operating system's trust store, read once per process.
pub(super) fn system() -> Result<Arc<RootCertStore>, String> {
    static SYSTEM: OnceLock<Result<Arc<RootCertStore>, String>> = OnceLock::new();
    SYSTEM
        .get_or_init(|| {
            let found = rustls_native_certs::load_native_certs();
            let mut roots = RootCertStore::empty();
            let (_, _) = roots.add_parsable_certificates(found.certs);
            if roots.is_empty() {
                let why = found
                    .errors
                    .first()
                    .map_or_else(|| "it is empty".to_string(), ToString::to_string);
                return Err(format!(
                    "cannot use the system's trust store ({why}); name a CA bundle with sslrootcert"
                ));
            }
            Ok(Arc::new(roots))
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn refused(path: &Path) -> String {
        match from_file(path) {
            Ok(_) => panic!("{} was used", path.display()),
            Err(why) => why,
        }
    }

    #[test]
    fn a_bundle_others_may_write_a_fifo_or_a_directory_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("ca.pem");
        std::fs::write(&bundle, "not even PEM\n").unwrap();
        std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o666)).unwrap();
        assert!(refused(&bundle).contains("group or others may write it (mode 666)"));
        std::fs::set_permissions(&bundle, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert!(refused(&bundle).contains("holds no certificate"));

        let fifo = dir.path().join("fifo.pem");
        let name = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        // SAFETY: mkfifo with a NUL-terminated path this test owns.
        assert_eq!(unsafe { libc::mkfifo(name.as_ptr(), 0o600) }, 0);
        assert!(refused(&fifo).contains("not a regular file"));
        assert!(refused(dir.path()).contains("not a regular file"));
    }
}
