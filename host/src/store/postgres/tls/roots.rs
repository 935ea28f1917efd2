//! The certificate authorities a server's certificate is checked against: a PEM
//! bundle named by `sslrootcert`, or the operating system's trust store.
//!
//! The system's store (rustls-native-certs: `/etc/ssl/certs` on Debian, and
//! `SSL_CERT_FILE`/`SSL_CERT_DIR` when set) rather than a bundle compiled in
//! (webpki-roots): it is the one the operator's package updates keep current
//! and the one a company adds its own CA to, and it is what `sslrootcert=system`
//! means to libpq.

use std::io::Read;
use std::path::Path;
use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

/// A bundle larger than this is not read (the public CA bundles are ~200 KiB).
const MAX_BUNDLE: u64 = 16 << 20;

/// The certificates of the PEM bundle at `path`.
pub(super) fn from_file(path: &Path) -> Result<Arc<RootCertStore>, String> {
    let shown = crate::display::escape_control(&path.display().to_string());
    let fail = |why: String| format!("cannot use sslrootcert {shown}: {why}");
    let file = std::fs::File::open(path).map_err(|e| fail(e.to_string()))?;
    let meta = file.metadata().map_err(|e| fail(e.to_string()))?;
    if !meta.is_file() {
        return Err(fail("not a regular file".into()));
    }
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
