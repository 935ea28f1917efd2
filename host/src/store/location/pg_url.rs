//! A PostgreSQL URL read as libpq reads it. The postgres client parses most of
//! it, but of the TLS settings it knows only `sslmode` `disable`, `prefer` and
//! `require`: it refuses `verify-ca`, `verify-full` and `sslrootcert`, which are
//! what a managed service's connection string carries. So those two parameters
//! are taken out of the query here (split exactly where the client splits it),
//! and the rest goes to the client's parser.

use std::path::PathBuf;
use std::str::FromStr;

use percent_encoding::percent_decode_str;

/// libpq's `sslmode`, all six of them.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum SslMode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it (libpq tries without first; both end up
    /// taking whichever the server accepts).
    Allow,
    /// TLS if the server offers it, else without (libpq's default).
    Prefer,
    /// TLS or no connection; the certificate is not checked (unless a root
    /// certificate file is named, as libpq does: then it is `verify-ca`).
    Require,
    /// TLS with a certificate issued by a trusted CA, any host name.
    VerifyCa,
    /// TLS with a certificate issued by a trusted CA for the host connected to.
    VerifyFull,
}

impl SslMode {
    /// Reads libpq's spelling of a mode.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        Ok(match text {
            "disable" => Self::Disable,
            "allow" => Self::Allow,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode {:?} is not one of disable, allow, prefer, require, verify-ca, verify-full",
                    crate::display::escape_control(other)
                ));
            }
        })
    }

    /// libpq's spelling.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Allow => "allow",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }
}

/// Which certificate authorities a server's certificate is checked against.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum RootCerts {
    /// The operating system's trust store (`sslrootcert=system`).
    System,
    /// A PEM bundle.
    File(PathBuf),
}

impl RootCerts {
    /// Reads `sslrootcert`'s value: `system`, or a path.
    pub(crate) fn parse(text: &str) -> Self {
        if text == "system" {
            Self::System
        } else {
            Self::File(PathBuf::from(text))
        }
    }
}

/// The TLS settings a URL names itself (each one it leaves out may come from
/// the environment when connecting).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct UrlTls {
    pub(crate) mode: Option<SslMode>,
    pub(crate) root_certs: Option<RootCerts>,
    /// Whether the URL sets `channel_binding` (else `PGCHANNELBINDING` may).
    pub(crate) channel_binding: bool,
}

/// A URL as the client parses it, and the TLS settings taken out first.
pub(crate) struct PgUrl {
    pub(crate) config: postgres::Config,
    pub(crate) tls: UrlTls,
}

/// Why a URL does not parse, without any of its text (it may hold a password).
#[derive(Debug)]
pub(crate) enum UrlError {
    /// The client's parser refused it; its words (which never quote a value).
    Client(postgres::Error),
    /// A TLS setting this module reads is wrong.
    Tls(String),
}

impl std::fmt::Display for UrlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Client(e) => write!(f, "{e}"),
            Self::Tls(text) => f.write_str(text),
        }
    }
}

/// Parses `url` as libpq would: `sslmode` (all six) and `sslrootcert` here, the
/// rest by the postgres client.
pub(crate) fn parse(url: &str) -> Result<PgUrl, UrlError> {
    let (rest, tls) = split_tls(url)?;
    let mut config = postgres::Config::from_str(&rest).map_err(UrlError::Client)?;
    if let Some(mode) = tls.mode {
        config.ssl_mode(client_mode(mode));
    }
    Ok(PgUrl { config, tls })
}

/// The mode the client is told: it negotiates TLS; who is trusted is ours.
pub(crate) fn client_mode(mode: SslMode) -> postgres::config::SslMode {
    match mode {
        SslMode::Disable => postgres::config::SslMode::Disable,
        SslMode::Allow | SslMode::Prefer => postgres::config::SslMode::Prefer,
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
            postgres::config::SslMode::Require
        }
    }
}

/// `url` without `sslmode` and `sslrootcert`, and their values. The query is
/// found where the client finds it: after the first `@` when there is one
/// (everything before it is user info, which may hold `?`), at the first `?`.
fn split_tls(url: &str) -> Result<(String, UrlTls), UrlError> {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    let from = url[after_scheme..]
        .find('@')
        .map_or(after_scheme, |at| after_scheme + at + 1);
    let Some(q) = url[from..].find('?').map(|i| from + i) else {
        return Ok((url.to_string(), UrlTls::default()));
    };
    let mut tls = UrlTls::default();
    let mut kept = Vec::new();
    for pair in url[q + 1..].split('&') {
        let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
        let decode = |text: &str| {
            percent_decode_str(text)
                .decode_utf8()
                .map(|text| text.into_owned())
                .map_err(|_| UrlError::Tls("a URL parameter is not UTF-8".into()))
        };
        match decode(key)?.as_str() {
            "sslmode" => tls.mode = Some(SslMode::parse(&decode(value)?).map_err(UrlError::Tls)?),
            "sslrootcert" => tls.root_certs = Some(RootCerts::parse(&decode(value)?)),
            "channel_binding" => {
                tls.channel_binding = true;
                kept.push(pair);
            }
            _ => kept.push(pair),
        }
    }
    let mut rest = url[..q].to_string();
    if !kept.is_empty() {
        rest.push('?');
        rest.push_str(&kept.join("&"));
    }
    Ok((rest, tls))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verify_modes_and_root_certs_are_taken_out_and_the_rest_parses() {
        let url = parse(
            "postgres://u:p@db.example.com:5433/app?sslmode=verify-full&sslrootcert=%2Fetc%2Frds.pem&application_name=x",
        )
        .unwrap();
        assert_eq!(url.tls.mode, Some(SslMode::VerifyFull));
        assert_eq!(
            url.tls.root_certs,
            Some(RootCerts::File(PathBuf::from("/etc/rds.pem")))
        );
        assert_eq!(
            url.config.get_ssl_mode(),
            postgres::config::SslMode::Require
        );
        assert_eq!(url.config.get_dbname(), Some("app"));
        assert_eq!(url.config.get_application_name(), Some("x"));
        assert_eq!(url.config.get_password(), Some(&b"p"[..]));
    }

    #[test]
    fn a_question_mark_in_the_password_does_not_start_the_query() {
        let url = parse("postgres://u:pa?ss@h/d?sslmode=verify-ca").unwrap();
        assert_eq!(url.config.get_password(), Some(&b"pa?ss"[..]));
        assert_eq!(url.tls.mode, Some(SslMode::VerifyCa));
        let url = parse("postgres://u:pa?sslmode=disable@h/d").unwrap();
        assert_eq!(url.tls.mode, None, "a password is not a parameter");
        assert_eq!(url.config.get_password(), Some(&b"pa?sslmode=disable"[..]));
    }

    #[test]
    fn each_mode_maps_to_what_the_client_negotiates() {
        for (text, client) in [
            ("disable", postgres::config::SslMode::Disable),
            ("allow", postgres::config::SslMode::Prefer),
            ("prefer", postgres::config::SslMode::Prefer),
            ("require", postgres::config::SslMode::Require),
            ("verify-ca", postgres::config::SslMode::Require),
            ("verify-full", postgres::config::SslMode::Require),
        ] {
            let url = parse(&format!("postgresql://h/d?sslmode={text}")).unwrap();
            assert_eq!(url.tls.mode.map(SslMode::as_str), Some(text));
            assert_eq!(url.config.get_ssl_mode(), client, "{text}");
        }
    }

    #[test]
    fn a_wrong_mode_is_named_and_channel_binding_stays_with_the_client() {
        let e = parse("postgres://h/d?sslmode=verify").err().unwrap();
        assert!(e.to_string().contains("\"verify\" is not one of"), "{e}");
        let url = parse("postgres://h/d?channel_binding=require&sslrootcert=system").unwrap();
        assert!(url.tls.channel_binding);
        assert_eq!(url.tls.root_certs, Some(RootCerts::System));
        assert_eq!(
            url.config.get_channel_binding(),
            postgres::config::ChannelBinding::Require
        );
        assert!(parse("postgres://h/d?channel_binding=sometimes").is_err());
    }
}
