//! The bodies of the service's answers, as types: the handlers serialize these
//! and the OpenAPI document (`openapi.rs`) is generated from them, so what is
//! documented is what is sent. (A call's result is any JSON: it is the
//! plugin's.)

use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, schema::SchemaType};
use utoipa::{PartialSchema, ToSchema};

use crate::text::version::VersionBody;

/// Every non-2xx answer (but a call's `err(lock-timeout)`, answered as 503 with
/// the call's result).
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ErrorBody {
    /// One line: what failed, never where (no path, host or query).
    pub(crate) error: String,
    /// The request's id, as in the `X-Request-Id` header and the server's log.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) request_id: Option<String>,
    /// With a 422 for an upload that failed its checks: which, and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) report: Option<CheckReportBody>,
}

/// The conformance checks an uploaded plugin ran (`records-host check --json`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct CheckReportBody {
    /// The plugin's name (absent for a script: a script's checks are that it
    /// compiles and links).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) plugin: Option<String>,
    /// `plugin` or `counters-plugin`; null when it could not be loaded.
    #[serde(default)]
    pub(crate) world: Option<String>,
    /// Whether every check passed.
    pub(crate) passed: bool,
    /// The checks, in the order they ran.
    pub(crate) checks: Vec<CheckBody>,
}

impl CheckReportBody {
    /// A report's JSON (`Report::to_json`); `None` when it does not parse
    /// (it always does when the host wrote it).
    pub(crate) fn parse(json: Value) -> Option<Self> {
        serde_json::from_value(json).ok()
    }
}

/// One conformance check.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub(crate) struct CheckBody {
    /// What is checked, such as `negative values round-trip`.
    pub(crate) name: String,
    /// `pass`, `fail` or `skip`.
    pub(crate) status: CheckStatus,
    /// What was seen: the values tried, or what went wrong.
    pub(crate) detail: String,
}

/// A check's outcome.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum CheckStatus {
    /// The plugin did what the contract says.
    Pass,
    /// It did not.
    Fail,
    /// Not run: what it needs failed first.
    Skip,
}

/// `GET .../plugins/{n}`: a version and its check report.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct VersionDetail {
    /// The version.
    #[serde(flatten)]
    pub(crate) version: VersionBody,
    /// Its conformance checks.
    pub(crate) report: Option<CheckReportBody>,
}

/// `POST .../{n}/activate`: the version calls now run.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct Activated {
    /// The version activated.
    pub(crate) active: u32,
}

/// `GET /v1/tenants/{tenant}/lock`: the tenant's write lock.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "state", rename_all = "lowercase")]
pub(crate) enum LockState {
    /// Nobody holds it.
    Free,
    /// Held; `holder` describes who (process, plugin, since when).
    Held {
        /// Who holds it.
        holder: String,
    },
}

/// `POST .../scripts/{script}/run`: how the script ended and what it wrote.
#[derive(Debug, Serialize, ToSchema)]
pub(crate) struct ScriptRunBody {
    /// Its exit code: 0 for `ok`, 1 for `err`, or the code it exited with.
    pub(crate) exit: i32,
    /// Its standard output (UTF-8, invalid bytes replaced), up to the output limit.
    pub(crate) stdout: String,
    /// Its standard error, likewise.
    pub(crate) stderr: String,
    /// Whether either was cut at the output limit.
    pub(crate) truncated: bool,
}

/// A component's bytes (`application/wasm`): an upload's body, a version's
/// `/wasm`. Only described, never built.
pub(crate) struct WasmBytes;

impl PartialSchema for WasmBytes {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::Type(Type::String))
            .content_media_type("application/wasm")
            .description(Some("A WebAssembly component's bytes"))
            .into()
    }
}

impl ToSchema for WasmBytes {}

/// Any JSON value: a call's result, as the plugin returned it.
pub(crate) type CallResult = Value;
