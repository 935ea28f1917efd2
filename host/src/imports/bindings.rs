//! The one `bindgen!`, for the `records:plugin/counters-plugin` world (which
//! includes `plugin`, so plugins of either world link against the same imports).
//!
//! Every `store` import is trappable with [`ImportError`] as its error type: host
//! code returns `Result<T, ImportError>`, and `types::Host::convert_error` turns a
//! domain error into the WIT `error` value the guest sees, and a host bug (or the
//! call's time running out) into a trap. The `write-txn` resource is backed by
//! `crate::txn::WriteTxn` itself.

pub(crate) use generated::*;

mod generated {
    #![allow(missing_docs)]

    use crate::imports::error::ImportError;

    wasmtime::component::bindgen!({
        path: "../wit",
        world: "counters-plugin",
        imports: { default: trappable | tracing },
        trappable_error_type: {
            "records:plugin/types.error" => ImportError,
        },
        with: {
            "records:plugin/store.write-txn": crate::store::WriteTxn,
        },
    });
}
