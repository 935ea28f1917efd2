//! Where a record database is: a SQLite file, or a schema in a PostgreSQL
//! database; and where a tenant's database is.
//!
//! A location is written the way the CLI's `--db` takes it: a `postgres://` or
//! `postgresql://` URL names PostgreSQL, anything else is a file path. A URL's
//! password is never shown: what `Display` writes is rebuilt from the URL as the
//! PostgreSQL client parses it (user, `***` for a password, hosts, ports,
//! database, `sslmode`), never cut out of the text, so no spelling of a password
//! (a `/`, `?` or `@` in it, a `password=` parameter) can slip through.

pub(crate) mod pg_url;
mod redact;
mod tenant_schema;

use std::fmt;
use std::path::{Path, PathBuf};

use self::redact::redact;
pub(crate) use self::tenant_schema::{legacy_tenant_schema, tenant_schema};
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

    /// Whether the URL itself carries a password (else one comes from
    /// `PGPASSWORD` or the password file, `PGPASSFILE` or `~/.pgpass`, when
    /// connecting).
    pub fn carries_password(&self) -> bool {
        pg_url::parse(&self.url).is_ok_and(|url| url.config.get_password().is_some())
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
                crate::display::escape_control(&path.display().to_string())
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
