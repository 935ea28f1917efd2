//! The right to write, on either backend: the seam's view of a backend's
//! `Writer`, which only that backend's held lock hands out.

use super::{postgres, sqlite};
use crate::record_error::{RecordError, RecordId};
use crate::store::record::Record;

/// The right to write, handed out only while the database's lock is held.
pub(crate) enum Writer<'w, 'a> {
    Sqlite(&'w sqlite::Writer<'a>),
    Postgres(&'w mut postgres::Writer<'a>),
}

impl Writer<'_, '_> {
    /// The backend's writer, for the statements both write alike.
    fn writes(&mut self) -> &mut dyn Writes {
        match self {
            Self::Sqlite(w) => w,
            Self::Postgres(w) => *w,
        }
    }

    pub(crate) fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        self.writes().get(id)
    }

    pub(crate) fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        self.writes().insert(name, value)
    }

    pub(crate) fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        self.writes().update(id, value)
    }

    pub(crate) fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        self.writes().delete(id)
    }
}

/// The statements of a backend's writer, alike on both.
trait Writes {
    fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError>;
    fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError>;
    fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError>;
    fn delete(&mut self, id: RecordId) -> Result<(), RecordError>;
}

impl Writes for &sqlite::Writer<'_> {
    fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        sqlite::Writer::get(self, id)
    }

    fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        sqlite::Writer::insert(self, name, value)
    }

    fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        sqlite::Writer::update(self, id, value)
    }

    fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        sqlite::Writer::delete(self, id)
    }
}

impl Writes for postgres::Writer<'_> {
    fn get(&mut self, id: RecordId) -> Result<Option<Record>, RecordError> {
        postgres::Writer::get(self, id)
    }

    fn insert(&mut self, name: &str, value: i64) -> Result<RecordId, RecordError> {
        postgres::Writer::insert(self, name, value)
    }

    fn update(&mut self, id: RecordId, value: i64) -> Result<(), RecordError> {
        postgres::Writer::update(self, id, value)
    }

    fn delete(&mut self, id: RecordId) -> Result<(), RecordError> {
        postgres::Writer::delete(self, id)
    }
}
