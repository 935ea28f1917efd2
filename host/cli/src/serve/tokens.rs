//! Per-tenant credentials: the tokens file's lines (`<tenant> <sha256 hex of the
//! token>`), minting a token, and checking a presented one in constant time.
//! Reading the file, which grants access and so is trusted only under rules, is
//! `token_file.rs`.
//!
//! Only hashes are stored, so the file is not a secret worth stealing; a token
//! is 256 bits from the OS, shown once when it is made.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use anyhow::Context;
use records_host::TenantName;
use sha2::{Digest, Sha256};
use subtle::{Choice, ConstantTimeEq};

/// What a presented token may do for the tenant it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The token is this tenant's.
    Granted,
    /// The token is valid, but another tenant's.
    OtherTenant,
    /// No tenant has this token.
    Unknown,
}

/// The tokens that grant access, one or more per tenant: only their SHA-256
/// hashes are kept, and a presented token is compared with every one in
/// constant time.
#[derive(Debug, Default)]
pub struct Tokens {
    entries: Vec<(TenantName, [u8; 32])>,
}

/// A tokens file as read: the valid entries, and the numbers of the lines that
/// are not (never their content: a line may hold a token pasted by mistake).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) tokens: Tokens,
    pub(crate) malformed: Vec<usize>,
}

impl Tokens {
    /// Reads one `<tenant> <64 hex digits>` per line; blank lines and lines
    /// starting with `#` are skipped. Every valid line is kept and every other
    /// one reported: a reload that meets a typo on one line still applies the
    /// rest (a removed line takes effect, whatever else is wrong).
    pub(crate) fn parse(text: &str) -> Parsed {
        let mut entries = Vec::new();
        let mut malformed = Vec::new();
        for (number, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let parsed = line.split_once(' ').and_then(|(tenant, hash)| {
                Some((TenantName::new(tenant).ok()?, parse_hash(hash.trim())?))
            });
            match parsed {
                Some(entry) => entries.push(entry),
                None => malformed.push(number + 1),
            }
        }
        Parsed {
            tokens: Self { entries },
            malformed,
        }
    }

    /// No tokens: nobody may call until some are added.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lets `token` call as `tenant` (its hash is kept, not the token).
    pub fn add(&mut self, tenant: TenantName, token: &str) {
        self.entries.push((tenant, hash(token)));
    }

    /// How many tokens there are.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `token` may do for `tenant`. Every entry is compared, in constant
    /// time, whatever matches: the time taken says nothing about which did.
    pub(crate) fn access(&self, token: &str, tenant: &TenantName) -> Access {
        let presented = hash(token);
        let (mut any, mut own) = (Choice::from(0), Choice::from(0));
        for (owner, stored) in &self.entries {
            let same = stored.ct_eq(&presented);
            any |= same;
            own |= same & Choice::from(u8::from(owner == tenant));
        }
        if bool::from(own) {
            Access::Granted
        } else if bool::from(any) {
            Access::OtherTenant
        } else {
            Access::Unknown
        }
    }
}

/// Makes a token for `tenant`, appends its hash to `path` (created with mode
/// 0600 when missing; a symbolic link there is refused, not followed, so a link
/// planted in a shared directory cannot redirect the append) and returns the
/// token, which is stored nowhere.
///
/// # Errors
/// When the OS has no randomness to give or the file cannot be written.
pub(crate) fn mint(path: &Path, tenant: &TenantName) -> anyhow::Result<String> {
    let mut secret = [0u8; 32];
    getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness from the OS: {e}"))?;
    let token = format!("rht_{}", hex(&secret));
    let mut file = OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(path)
        .with_context(|| format!("cannot open the tokens file {}", path.display()))?;
    writeln!(file, "{tenant} {}", hex(&hash(&token)))
        .with_context(|| format!("cannot write the tokens file {}", path.display()))?;
    Ok(token)
}

fn hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn parse_hash(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(name: &str) -> TenantName {
        TenantName::new(name).unwrap()
    }

    #[test]
    fn minted_tokens_grant_their_tenant_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("tokens");
        let a = mint(&file, &tenant("acme")).unwrap();
        let b = mint(&file, &tenant("globex")).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64, "256 bits");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(&a[4..]), "the token itself is not stored");
        let parsed = Tokens::parse(&text);
        assert!(parsed.malformed.is_empty());
        let tokens = parsed.tokens;
        assert_eq!(tokens.len(), 2);
        assert_eq!(tokens.access(&a, &tenant("acme")), Access::Granted);
        assert_eq!(tokens.access(&a, &tenant("globex")), Access::OtherTenant);
        assert_eq!(tokens.access(&b, &tenant("globex")), Access::Granted);
        assert_eq!(tokens.access("rht_nope", &tenant("acme")), Access::Unknown);
        assert_eq!(tokens.access("", &tenant("acme")), Access::Unknown);
    }

    #[test]
    fn a_planted_symbolic_link_is_not_appended_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("elsewhere");
        std::fs::write(&target, "untouched\n").unwrap();
        let link = dir.path().join("tokens");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(mint(&link, &tenant("acme")).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    }

    #[test]
    fn malformed_lines_are_reported_by_number_and_the_rest_kept() {
        let good = format!("acme {}", "0".repeat(64));
        let text = format!(
            "# comment\n\nacme 00\n{good}\n../x {}\nglobex\n",
            "0".repeat(64)
        );
        let parsed = Tokens::parse(&text);
        assert_eq!(parsed.malformed, [3, 5, 6]);
        assert_eq!(parsed.tokens.len(), 1);
    }
}
