//! Why a TLS connection failed, in the words an operator acts on: the rustls
//! error is found in the client's error chain and named (unknown issuer, wrong
//! host name, expired), rather than shown as a Rust enum's debug text.

use rustls::{CertificateError, Error as TlsError};

/// The plain reason for `e` when it is a TLS failure, else `None`.
pub(crate) fn tls_reason(e: &postgres::Error) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(next) = cause {
        if let Some(tls) = next.downcast_ref::<TlsError>() {
            return Some(describe(tls));
        }
        // tokio-rustls hands rustls's error over inside an io::Error, whose
        // `source()` skips the error it wraps.
        if let Some(tls) = next
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<TlsError>())
        {
            return Some(describe(tls));
        }
        if next.to_string() == "server does not support TLS" {
            return Some(
                "the server does not offer TLS, and the sslmode asks for it (require, verify-ca or verify-full)"
                    .into(),
            );
        }
        cause = next.source();
    }
    None
}

/// `e` in plain words.
fn describe(e: &TlsError) -> String {
    let cert = match e {
        TlsError::InvalidCertificate(cert) => cert,
        other => return format!("the TLS handshake failed: {other}"),
    };
    let why = match cert {
        CertificateError::UnknownIssuer => {
            "unknown issuer: it was not issued by a CA in sslrootcert (or, without one, the system's trust store)".to_string()
        }
        CertificateError::NotValidForName => "wrong host name: it is not issued for the host connected to".to_string(),
        CertificateError::NotValidForNameContext { expected, presented } => format!(
            "wrong host name: it is for {}, not {}",
            if presented.is_empty() {
                "no name".to_string()
            } else {
                presented.iter().map(|name| bare(name)).collect::<Vec<_>>().join(", ")
            },
            expected.to_str()
        ),
        CertificateError::Expired | CertificateError::ExpiredContext { .. } => {
            "expired".to_string()
        }
        CertificateError::NotValidYet | CertificateError::NotValidYetContext { .. } => {
            "not valid yet".to_string()
        }
        other => format!("{other:?}"),
    };
    crate::display::escape_control(&format!("the server's certificate does not verify: {why}"))
}

/// `localhost` from rustls's `DnsName("localhost")` (an address likewise).
fn bare(name: &str) -> &str {
    name.trim_start_matches(|c: char| c.is_ascii_alphabetic())
        .trim_start_matches('(')
        .trim_end_matches(')')
        .trim_matches('"')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_certificate_failure_is_named_in_words() {
        let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
        let cases = [
            (CertificateError::UnknownIssuer, "unknown issuer"),
            (
                CertificateError::NotValidForNameContext {
                    expected: name.to_owned(),
                    presented: vec![r#"DnsName("localhost")"#.into()],
                },
                "wrong host name: it is for localhost, not 127.0.0.1",
            ),
            (CertificateError::Expired, "expired"),
            (CertificateError::NotValidYet, "not valid yet"),
        ];
        for (error, words) in cases {
            let text = describe(&TlsError::InvalidCertificate(error));
            assert!(
                text.starts_with("the server's certificate does not verify: ")
                    && text.contains(words),
                "{text}"
            );
        }
    }
}
