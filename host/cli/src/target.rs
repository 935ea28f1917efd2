//! Which database a command works on: `--db PATH|URL`, or a tenant's
//! (`--tenant NAME`, under `--data-dir` or in the `--db` PostgreSQL database).

use std::path::PathBuf;

use clap::Args;
use records_host::{Location, TenantName};

use crate::usage::UsageError;

/// The database when neither `--db` nor `RECORDS_HOST_DB` names one.
const DEFAULT_DB: &str = "data/app.db";

/// The data directory of tenants when `--data-dir` is not given.
const DEFAULT_DATA_DIR: &str = "data";

/// Which database: one file or PostgreSQL database (`--db`), or a tenant's
/// (`--tenant`).
#[derive(Debug, Args)]
pub(crate) struct Target {
    /// The database: a SQLite file (created, with its directories, when missing),
    /// or a PostgreSQL URL (postgres://USER:PASSWORD@HOST:PORT/DATABASE) [default:
    /// data/app.db]
    #[arg(
        long,
        value_name = "PATH|URL",
        env = "RECORDS_HOST_DB",
        hide_env_values = true
    )]
    db: Option<String>,

    /// Use this tenant's database: <DATA_DIR>/tenants/<NAME>/records.db, or with a
    /// PostgreSQL --db, the tenant's schema there (NAME: [a-z0-9][a-z0-9_-]{0,62}).
    #[arg(long, value_name = "NAME")]
    pub(crate) tenant: Option<TenantName>,

    /// Where SQLite tenant databases live [default: data]
    #[arg(long, value_name = "DIR", requires = "tenant")]
    data_dir: Option<PathBuf>,
}

impl Target {
    /// Where the database is.
    ///
    /// # Errors
    /// [`UsageError`] for a tenant with a file `--db`, or `--data-dir` with a
    /// PostgreSQL `--db`.
    pub(crate) fn location(&self) -> Result<Location, UsageError> {
        let db = self.db.as_deref().map(Location::parse);
        let Some(tenant) = &self.tenant else {
            return Ok(db.unwrap_or_else(|| Location::parse(DEFAULT_DB)));
        };
        match db {
            Some(Location::Postgres(pg)) if self.data_dir.is_none() => {
                Ok(Location::Postgres(pg.for_tenant(tenant)))
            }
            Some(Location::Postgres(_)) => Err(UsageError(
                "--data-dir is for SQLite tenants; with a PostgreSQL --db a tenant is a schema there"
                    .into(),
            )),
            Some(Location::File(_)) => Err(UsageError(
                "--tenant takes --data-dir (SQLite) or a PostgreSQL URL as --db, not a file"
                    .into(),
            )),
            None => {
                let dir = self
                    .data_dir
                    .clone()
                    .unwrap_or_else(|| PathBuf::from(DEFAULT_DATA_DIR));
                Ok(Location::File(tenant.database_path(&dir)))
            }
        }
    }
}
