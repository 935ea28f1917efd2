//! The right to write, on either backend: the seam's view of a backend's
//! `Writer`, which only that backend's held lock hands out.

use super::{postgres, sqlite};
use crate::error::{RecordError, RecordId};
use crate::store::record::Record;

/// The right to write, handed out only while the database's lock is held.
pub(crate) enum Writer<'w, 'a> {
    Sqlite(&'w sqlite::Writer<'a>),
    Postgres(&'w mut postgres::Writer<'a>),
}

impl Writer<'_, '_> {
    pub(crate) fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        match self {
            Self::Sqlite(w) => w.get(id),
            Self::Postgres(w) => w.get(id),
        }
    }

    pub(crate) fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        match self {
            Self::Sqlite(w) => w.insert(name, value),
            Self::Postgres(w) => w.insert(name, value),
        }
    }

    pub(crate) fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        match self {
            Self::Sqlite(w) => w.update(id, value),
            Self::Postgres(w) => w.update(id, value),
        }
    }

    pub(crate) fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        match self {
            Self::Sqlite(w) => w.delete(id),
            Self::Postgres(w) => w.delete(id),
        }
    }
}
