//! What a store import returns when it fails: a domain error the guest receives
//! as a WIT `error` value, or a trap. Its own module, since both the bindings
//! (`trappable_error_type`) and the imports (`host.rs`) name it.

use wasmtime::component::ResourceTableError;

use crate::record_error::RecordError;

/// What a store import can fail with: a domain error the guest receives as a WIT
/// `error` value, or a host bug that traps the guest.
#[derive(Debug)]
pub(crate) enum ImportError {
    Record(RecordError),
    Trap(wasmtime::Error),
}

impl From<RecordError> for ImportError {
    fn from(e: RecordError) -> Self {
        Self::Record(e)
    }
}

impl From<ResourceTableError> for ImportError {
    fn from(e: ResourceTableError) -> Self {
        Self::Trap(e.into())
    }
}
