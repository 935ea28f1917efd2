//! A PostgreSQL URL as people see it: rebuilt from what the client parses out of
//! it, password hidden. Cutting the password out of the text, as before, missed
//! passwords holding `/` or `?`, which the client accepts (it takes everything up
//! to the first `@` as the user info).

/// `url` as shown to people: rebuilt from what the PostgreSQL client parses out
/// of it, with `***` for a password, so nothing of the text is echoed. A URL the
/// client cannot parse is not shown at all (it may hold a password the parser
/// did not recognize as one).
pub(super) fn redact(url: &str) -> String {
    let scheme = url
        .split_once("://")
        .map_or("postgresql", |(scheme, _)| scheme);
    let Ok(parsed) = super::pg_url::parse(url) else {
        return format!("{scheme}://(a URL that does not parse, not shown)");
    };
    let config = parsed.config;
    let mut shown = format!("{scheme}://");
    if let Some(user) = config.get_user() {
        shown.push_str(&encode(user));
        if config.get_password().is_some() {
            shown.push_str(":***");
        }
        shown.push('@');
    } else if config.get_password().is_some() {
        shown.push_str(":***@");
    }
    let ports = config.get_ports();
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, host)| {
            let name = match host {
                postgres::config::Host::Tcp(name) if name.contains(':') => format!("[{name}]"),
                postgres::config::Host::Tcp(name) => encode(name),
                postgres::config::Host::Unix(path) => encode(&path.to_string_lossy()),
            };
            // One port for every host, or one each.
            match ports.get(i).or(ports.first().filter(|_| ports.len() == 1)) {
                Some(port) => format!("{name}:{port}"),
                None => name,
            }
        })
        .collect();
    shown.push_str(&hosts.join(","));
    if let Some(db) = config.get_dbname() {
        shown.push('/');
        shown.push_str(&encode(db));
    }
    if let Some(mode) = parsed.tls.mode {
        shown.push_str("?sslmode=");
        shown.push_str(mode.as_str());
    }
    crate::display::escape_control(&shown)
}

/// `text` percent-encoded where a URL's parts would be ambiguous.
fn encode(text: &str) -> String {
    text.chars()
        .map(|c| match c {
            '%' | '@' | '/' | '?' | '#' | ':' | ',' | '&' | '=' | ' ' => {
                format!("%{:02X}", u32::from(c))
            }
            c => c.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::location::Location;

    #[test]
    fn passwords_are_never_shown() {
        let shown =
            Location::parse("postgresql://alice:s3cr3t@db.example:5432/app?sslmode=disable")
                .to_string();
        assert_eq!(
            shown,
            "postgresql://alice:***@db.example:5432/app?sslmode=disable (schema records_host)"
        );
        assert!(!format!("{:?}", Location::parse("postgres://a:pw@h/d")).contains("pw"));
        assert_eq!(redact("postgres://a@h/d"), "postgres://a@h:5432/d");
        assert_eq!(
            redact("postgres://h/d?user=u&password=x&sslmode=disable"),
            "postgres://u:***@h:5432/d?sslmode=disable"
        );
    }

    /// The client takes everything up to the first `@` as the user info, so a
    /// password may hold `/` and `?` (the server accepts such a login); a
    /// redaction that ended the authority at the first `/` or `?` printed it.
    #[test]
    fn passwords_with_url_delimiters_are_never_shown() {
        for (url, secret) in [
            ("postgres://alice:pa/ss@db.example:5432/app", "pa/ss"),
            ("postgres://alice:pa?ss@db.example/app", "pa?ss"),
            (
                "postgresql://alice:a/b?c=d&e@db.example/app?sslmode=disable",
                "a/b?c",
            ),
            ("postgres://alice:s3cret%40x@h/app", "s3cret"),
            ("postgres://h/app?password=pa/ss?x&user=alice", "pa/ss"),
        ] {
            let location = Location::parse(url);
            for shown in [location.to_string(), format!("{location:?}")] {
                assert!(!shown.contains(secret), "{url}: {shown}");
                assert!(shown.contains("alice:***@"), "{url}: {shown}");
            }
        }
        assert_eq!(
            redact("postgres://alice:pa/ss@db.example:5432/app"),
            "postgres://alice:***@db.example:5432/app"
        );
        let unparsable = redact("postgres://alice:secret@h:notaport/app");
        assert!(!unparsable.contains("secret"), "{unparsable}");
    }
}
