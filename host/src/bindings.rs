//! The one `bindgen!` of the `records:plugin/plugin` world.
//!
//! Every `store` import is trappable with [`RecordError`] as its error type: host
//! code returns `Result<T, RecordError>`, and `types::Host::convert_error` turns it
//! into the WIT `error` value the guest sees.

pub(crate) use generated::*;

mod generated {
    #![allow(missing_docs)]

    use crate::error::RecordError;

    wasmtime::component::bindgen!({
        path: "../wit",
        world: "plugin",
        imports: { default: trappable | tracing },
        trappable_error_type: {
            "records:plugin/types.error" => RecordError,
        },
    });
}
