//! Where a record database is: a SQLite file, or a schema in a PostgreSQL
//! database; and where a tenant's database is.
//!
//! A location is written the way the CLI's `--db` takes it: a `postgres://` or
//! `postgresql://` URL names PostgreSQL, anything else is a file path. A URL's
//! password is never shown: what `Display` writes is rebuilt from the URL as the
//! PostgreSQL client parses it (user, `***` for a password, hosts, ports,
//! database, `sslmode`), never cut out of the text, so no spelling of a password
//! (a `/`, `?` or `@` in it, a `password=` parameter) can slip through.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::tenant::TenantName;

/// The schema of a PostgreSQL location without a tenant.
pub const DEFAULT_SCHEMA: &str = "records_host";

/// Where a record database is.
#[derive(Clone, PartialEq, Eq)]
pub enum Location {
    /// A SQLite file; its write lock is `db.lock` beside it.
    File(PathBuf),
    /// A schema in a PostgreSQL database.
    Postgres(PgLocation),
}

/// A schema in the PostgreSQL database a URL names.
#[derive(Clone, PartialEq, Eq)]
pub struct PgLocation {
    url: String,
    /// The URL as shown: rebuilt from its parsed parts, password hidden.
    shown: String,
    schema: String,
}

impl Location {
    /// Reads `text` as `--db` does: a `postgres://` or `postgresql://` URL, or a path.
    pub fn parse(text: &str) -> Self {
        if is_postgres_url(text) {
            Self::Postgres(PgLocation {
                url: text.to_string(),
                shown: redact(text),
                schema: DEFAULT_SCHEMA.to_string(),
            })
        } else {
            Self::File(PathBuf::from(text))
        }
    }

    /// The file, for a SQLite location.
    pub fn path(&self) -> Option<&Path> {
        match self {
            Self::File(path) => Some(path),
            Self::Postgres(_) => None,
        }
    }
}

impl PgLocation {
    /// The URL, password included (to connect with; never to show).
    pub(crate) fn url(&self) -> &str {
        &self.url
    }

    /// The schema the records are in.
    pub fn schema(&self) -> &str {
        &self.schema
    }

    /// The URL with its password hidden, rebuilt from its parsed parts.
    pub fn redacted_url(&self) -> String {
        self.shown.clone()
    }

    /// The same database, `tenant`'s schema.
    pub fn for_tenant(&self, tenant: &TenantName) -> Self {
        Self {
            url: self.url.clone(),
            shown: self.shown.clone(),
            schema: tenant_schema(tenant),
        }
    }
}

impl From<&Path> for Location {
    fn from(path: &Path) -> Self {
        Self::File(path.to_path_buf())
    }
}

impl From<PathBuf> for Location {
    fn from(path: PathBuf) -> Self {
        Self::File(path)
    }
}

impl From<&PathBuf> for Location {
    fn from(path: &PathBuf) -> Self {
        Self::File(path.clone())
    }
}

impl From<&str> for Location {
    fn from(text: &str) -> Self {
        Self::parse(text)
    }
}

impl From<String> for Location {
    fn from(text: String) -> Self {
        Self::parse(&text)
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::File(path) => write!(
                f,
                "{}",
                crate::util::escape_control(&path.display().to_string())
            ),
            Self::Postgres(pg) => pg.fmt(f),
        }
    }
}

impl fmt::Display for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} (schema {})", self.redacted_url(), self.schema)
    }
}

impl fmt::Debug for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Location({self})")
    }
}

impl fmt::Debug for PgLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgLocation({self})")
    }
}

/// Where every tenant's database is: a data directory (SQLite, one file per
/// tenant under `tenants/<name>/records.db`) or a PostgreSQL database (one schema
/// per tenant).
#[derive(Clone, PartialEq, Eq, Debug)]
pub enum TenantHome {
    /// `<dir>/tenants/<name>/records.db`.
    Directory(PathBuf),
    /// The tenant's schema in this database.
    Postgres(PgLocation),
}

impl TenantHome {
    /// The location of `tenant`'s database.
    pub fn location(&self, tenant: &TenantName) -> Location {
        match self {
            Self::Directory(dir) => Location::File(tenant.database_path(dir)),
            Self::Postgres(pg) => Location::Postgres(pg.for_tenant(tenant)),
        }
    }
}

impl From<&Path> for TenantHome {
    fn from(dir: &Path) -> Self {
        Self::Directory(dir.to_path_buf())
    }
}

impl From<PathBuf> for TenantHome {
    fn from(dir: PathBuf) -> Self {
        Self::Directory(dir)
    }
}

impl From<&PathBuf> for TenantHome {
    fn from(dir: &PathBuf) -> Self {
        Self::Directory(dir.clone())
    }
}

impl From<&str> for TenantHome {
    fn from(text: &str) -> Self {
        match Location::parse(text) {
            Location::Postgres(pg) => Self::Postgres(pg),
            Location::File(dir) => Self::Directory(dir),
        }
    }
}

/// Whether `text` is a PostgreSQL URL.
pub fn is_postgres_url(text: &str) -> bool {
    text.starts_with("postgres://") || text.starts_with("postgresql://")
}

/// The longest tenant name whose schema is `rh_<name>`: the prefix and the name
/// fit PostgreSQL's identifiers of at most 63 bytes.
const SHORT_NAME: usize = 60;

/// The prefix of a short name's schema.
const SHORT_PREFIX: &str = "rh_";

/// A tenant's schema: `rh_<name>` for a name of at most 60 bytes (the mapping
/// schemas have always had), the name in ASCII uppercase for a name of 61 to 63
/// bytes. Every schema fits PostgreSQL's identifiers of at most 63 bytes, and is
/// always quoted in SQL (`sql::quote`), so its case is kept.
///
/// The mapping is injective, so no two tenants share a schema (or a lock, which
/// is the schema's):
/// - a short name's schema starts with the lowercase `rh_`, and stripping that
///   prefix gives the name back;
/// - a long name's schema holds no lowercase ASCII letter (tenant names are
///   `[a-z0-9_-]`, and uppercasing leaves digits, `_` and `-` as they are), so no
///   long name's schema is a short name's; and uppercasing is injective on
///   `[a-z0-9_-]*`: lowercasing gives the name back;
/// - [`DEFAULT_SCHEMA`] neither starts with `rh_` nor lacks lowercase letters, so
///   it is no tenant's.
///
/// [`tenant_of_schema`] is the inverse.
pub(crate) fn tenant_schema(tenant: &TenantName) -> String {
    let name = tenant.as_str();
    if name.len() <= SHORT_NAME {
        format!("{SHORT_PREFIX}{name}")
    } else {
        name.to_ascii_uppercase()
    }
}

/// The tenant whose schema is `schema`, if any: the inverse of [`tenant_schema`].
pub(crate) fn tenant_of_schema(schema: &str) -> Option<TenantName> {
    let name = match schema.strip_prefix(SHORT_PREFIX) {
        Some(name) if name.len() <= SHORT_NAME => name.to_string(),
        Some(_) => return None,
        None if schema.len() > SHORT_NAME && !schema.bytes().any(|b| b.is_ascii_lowercase()) => {
            schema.to_ascii_lowercase()
        }
        None => return None,
    };
    TenantName::new(&name).ok()
}

/// The schema that releases before this one gave the tenant whose schema is
/// `schema`, when that was another: for a name of 61 to 63 bytes,
/// `rh_<first 43 bytes>_<16 hex digits of SHA-256(name)>`. (That is also the
/// schema of a 60-byte name, which is why it was replaced; see
/// `store::postgres::legacy`.)
pub(crate) fn legacy_tenant_schema(schema: &str) -> Option<String> {
    let tenant = tenant_of_schema(schema)?;
    let name = tenant.as_str();
    if name.len() <= SHORT_NAME {
        return None;
    }
    let digest = Sha256::digest(name.as_bytes());
    let hash: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    Some(format!("{SHORT_PREFIX}{}_{hash}", &name[..43]))
}

/// `url` as shown to people: rebuilt from what the PostgreSQL client parses out
/// of it, with `***` for a password, so nothing of the text is echoed. A URL the
/// client cannot parse is not shown at all (it may hold a password the parser
/// did not recognize as one).
fn redact(url: &str) -> String {
    let scheme = url
        .split_once("://")
        .map_or("postgresql", |(scheme, _)| scheme);
    let Ok(config) = postgres::Config::from_str(url) else {
        return format!("{scheme}://(a URL that does not parse, not shown)");
    };
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
    let sslmode = match config.get_ssl_mode() {
        postgres::config::SslMode::Disable => Some("disable"),
        postgres::config::SslMode::Require => Some("require"),
        _ => None,
    };
    if let Some(mode) = sslmode {
        shown.push_str("?sslmode=");
        shown.push_str(mode);
    }
    crate::util::escape_control(&shown)
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

    #[test]
    fn urls_name_postgres_and_everything_else_is_a_path() {
        assert!(matches!(
            Location::parse("postgres://u@h/db"),
            Location::Postgres(_)
        ));
        assert!(matches!(
            Location::parse("postgresql://h/db"),
            Location::Postgres(_)
        ));
        for path in ["data/app.db", "file:x.db", "/abs/app.db", "postgres:/x"] {
            assert_eq!(Location::parse(path), Location::File(path.into()), "{path}");
        }
    }

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

    #[test]
    fn each_tenant_has_a_schema_of_its_own_that_fits_postgres() {
        let Location::Postgres(pg) = Location::parse("postgres://h/db") else {
            unreachable!("a PostgreSQL URL")
        };
        let acme = pg.for_tenant(&TenantName::new("acme").unwrap());
        assert_eq!(acme.schema(), "rh_acme");
        let long_a = TenantName::new(&format!("{}a", "x".repeat(62))).unwrap();
        let long_b = TenantName::new(&format!("{}b", "x".repeat(62))).unwrap();
        let (a, b) = (tenant_schema(&long_a), tenant_schema(&long_b));
        assert!(a.len() <= 63 && b.len() <= 63);
        assert_ne!(a, b);
    }
}

#[cfg(test)]
mod tenant_schema_tests;
