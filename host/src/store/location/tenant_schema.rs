//! Which PostgreSQL schema a tenant's records are in: a mapping from tenant names
//! to schemas that no two tenants share, its inverse, and the schema releases
//! before this one gave a long name.

use sha2::{Digest, Sha256};

use crate::tenant::TenantName;

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
/// - `DEFAULT_SCHEMA` neither starts with `rh_` nor lacks lowercase letters, so
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

#[cfg(test)]
mod tests;
