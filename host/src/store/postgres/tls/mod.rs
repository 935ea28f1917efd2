//! TLS to PostgreSQL with libpq's meanings: which `sslmode` checks what, where
//! the trusted CAs come from, and the reason a handshake failed in plain words.
//!
//! The postgres client negotiates TLS (it sends the SSLRequest and falls back
//! under `prefer`) through tokio-postgres-rustls, which also gives it the
//! `tls-server-end-point` channel binding that `channel_binding=require` needs.
//! Who is trusted is decided here, by the rustls verifier each mode gets:
//!
//! | mode | checked |
//! | --- | --- |
//! | `disable` | no TLS |
//! | `allow`, `prefer`, `require` | nothing (encryption only), unless `sslrootcert` names a file: then as `verify-ca`, as libpq does |
//! | `verify-ca` | the chain to a trusted CA and the validity dates |
//! | `verify-full` | that, and the host name connected to |
//!
//! Without `sslrootcert`, `verify-ca` and `verify-full` trust the system's store
//! (see [`roots`]); libpq would read `~/.postgresql/root.crt` instead, which is
//! not read here: name it with `sslrootcert` to use it.

mod reason;
mod roots;
mod verify;

use std::sync::Arc;

use postgres::Config;
use postgres::config::ChannelBinding;
use rustls::ClientConfig;
use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::ServerCertVerifier;
use tokio_postgres_rustls::MakeRustlsConnect;

pub(crate) use self::reason::tls_reason;
use crate::store::location::pg_url::{RootCerts, SslMode, UrlTls, client_mode};

/// The connector for a URL's TLS settings (each one the URL leaves out taken
/// from `PGSSLMODE`, `PGSSLROOTCERT` and `PGCHANNELBINDING`, as libpq does), with
/// `config` told the mode to negotiate. The error is one line, without secrets.
pub(crate) fn connector(config: &mut Config, url: &UrlTls) -> Result<MakeRustlsConnect, String> {
    let env = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let mode = match (url.mode, env("PGSSLMODE")) {
        (Some(mode), _) => mode,
        (None, Some(text)) => SslMode::parse(&text).map_err(|e| format!("PGSSLMODE: {e}"))?,
        (None, None) => SslMode::Prefer,
    };
    config.ssl_mode(client_mode(mode));
    if !url.channel_binding
        && let Some(text) = env("PGCHANNELBINDING")
    {
        config.channel_binding(match text.as_str() {
            "disable" => ChannelBinding::Disable,
            "prefer" => ChannelBinding::Prefer,
            "require" => ChannelBinding::Require,
            _ => return Err("PGCHANNELBINDING is not one of disable, prefer, require".into()),
        });
    }
    let roots = url
        .root_certs
        .clone()
        .or_else(|| env("PGSSLROOTCERT").map(|text| RootCerts::parse(&text)));
    // ring, not aws-lc-rs: rustls 0.23.48 marks ring's provider deprecated for
    // lacking post-quantum key exchange (X25519MLKEM768), which PostgreSQL
    // servers built on OpenSSL before 3.5 do not offer either; aws-lc-rs would
    // add minutes of C build to every clean build and does not cross-compile with
    // the system compiler as ring does (the FreeBSD check of `.ci/run`).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let webpki = |roots: &RootCerts| -> Result<Arc<WebPkiServerVerifier>, String> {
        let store = match roots {
            RootCerts::System => roots::system()?,
            RootCerts::File(path) => roots::from_file(path)?,
        };
        WebPkiServerVerifier::builder_with_provider(store, provider.clone())
            .build()
            .map_err(|e| format!("cannot check certificates: {e}"))
    };
    let verifier: Arc<dyn ServerCertVerifier> = match (mode, roots) {
        (SslMode::VerifyFull, roots) => webpki(&roots.unwrap_or(RootCerts::System))?,
        (SslMode::VerifyCa, roots) => Arc::new(verify::ChainOnly(webpki(
            &roots.unwrap_or(RootCerts::System),
        )?)),
        (SslMode::Disable, _) | (_, None) => Arc::new(verify::EncryptOnly(provider.clone())),
        (weak, Some(RootCerts::System)) => {
            return Err(format!(
                "sslmode {} may not be used with sslrootcert=system (use verify-full)",
                weak.as_str()
            ));
        }
        (_, Some(file)) => Arc::new(verify::ChainOnly(webpki(&file)?)),
    };
    let tls = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("cannot set up TLS: {e}"))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(tls))
}
