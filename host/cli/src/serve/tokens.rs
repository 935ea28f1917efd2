//! Per-tenant credentials: the tokens file's lines (`<tenant> <sha256 hex of the
//! token> [call|deploy]`), minting a token, and checking a presented one in
//! constant time.
//!
//! A token's scope is `call` (the calls and the lock status) or `deploy` (that,
//! and the plugin and script versions). A line without a scope is `call`: the
//! files written before scopes existed hold tokens minted to call, and reading
//! them as able to deploy would hand every such token, wherever it was copied,
//! the power to replace its tenant's code. Give a tenant deploy rights by
//! minting a new token with `--scope deploy`.
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

/// What a token may do for its tenant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default, clap::ValueEnum)]
pub enum Scope {
    /// Call the tenant's plugin and read its lock status.
    #[default]
    Call,
    /// Everything `call` may, and deploy, activate and remove versions.
    Deploy,
}

impl Scope {
    fn as_str(self) -> &'static str {
        match self {
            Self::Call => "call",
            Self::Deploy => "deploy",
        }
    }
}

/// What a presented token may do for the tenant it asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Access {
    /// The token is this tenant's, with this scope; the fingerprint names it in
    /// logs and in what it deploys (the first 16 hex digits of its hash).
    Granted(Scope, Fingerprint),
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
    entries: Vec<(TenantName, [u8; 32], Scope)>,
}

/// A token's name that says nothing of the token: the first 8 bytes of its
/// SHA-256 (which the tokens file holds in full), in hex.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Fingerprint([u8; 8]);

impl std::fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&hex(&self.0))
    }
}

/// A tokens file as read: the valid entries, and the numbers of the lines that
/// are not (never their content: a line may hold a token pasted by mistake).
#[derive(Debug)]
pub(crate) struct Parsed {
    pub(crate) tokens: Tokens,
    pub(crate) malformed: Vec<usize>,
}

impl Tokens {
    /// Reads one `<tenant> <64 hex digits> [call|deploy]` per line; blank lines and lines
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
            let mut fields = line.split_whitespace();
            let parsed = (|| {
                let tenant = TenantName::new(fields.next()?).ok()?;
                let hash = parse_hash(fields.next()?)?;
                let scope = match fields.next() {
                    None | Some("call") => Scope::Call,
                    Some("deploy") => Scope::Deploy,
                    Some(_) => return None,
                };
                fields.next().is_none().then_some((tenant, hash, scope))
            })();
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
        self.add_scoped(tenant, token, Scope::Call);
    }

    /// Lets `token` act as `tenant` within `scope`.
    pub fn add_scoped(&mut self, tenant: TenantName, token: &str, scope: Scope) {
        self.entries.push((tenant, hash(token), scope));
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
        let (mut any, mut own, mut deploy) = (Choice::from(0), Choice::from(0), Choice::from(0));
        for (owner, stored, scope) in &self.entries {
            let same = stored.ct_eq(&presented);
            let mine = same & Choice::from(u8::from(owner == tenant));
            any |= same;
            own |= mine;
            deploy |= mine & Choice::from(u8::from(*scope == Scope::Deploy));
        }
        if bool::from(own) {
            let scope = if bool::from(deploy) {
                Scope::Deploy
            } else {
                Scope::Call
            };
            let mut short = [0u8; 8];
            short.copy_from_slice(&presented[..8]);
            Access::Granted(scope, Fingerprint(short))
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
pub(crate) fn mint(path: &Path, tenant: &TenantName, scope: Scope) -> anyhow::Result<String> {
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
    let line = match scope {
        // Without a scope, as before scopes: older servers read the line too.
        Scope::Call => format!("{tenant} {}", hex(&hash(&token))),
        Scope::Deploy => format!("{tenant} {} {}", hex(&hash(&token)), scope.as_str()),
    };
    writeln!(file, "{line}")
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
        let a = mint(&file, &tenant("acme"), Scope::Call).unwrap();
        let b = mint(&file, &tenant("globex"), Scope::Deploy).unwrap();
        assert_ne!(a, b);
        assert_eq!(a.len(), 4 + 64, "256 bits");
        let text = std::fs::read_to_string(&file).unwrap();
        assert!(!text.contains(&a[4..]), "the token itself is not stored");
        let parsed = Tokens::parse(&text);
        assert!(parsed.malformed.is_empty());
        let tokens = parsed.tokens;
        assert_eq!(tokens.len(), 2);
        let fingerprint = |token: &str| Fingerprint(hash(token)[..8].try_into().unwrap());
        assert_eq!(
            tokens.access(&a, &tenant("acme")),
            Access::Granted(Scope::Call, fingerprint(&a))
        );
        assert_eq!(tokens.access(&a, &tenant("globex")), Access::OtherTenant);
        assert_eq!(
            tokens.access(&b, &tenant("globex")),
            Access::Granted(Scope::Deploy, fingerprint(&b))
        );
        assert!(
            text.lines().next().unwrap().split(' ').count() == 2,
            "a call token's line is as before scopes"
        );
        assert!(text.lines().nth(1).unwrap().ends_with(" deploy"));
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
        assert!(mint(&link, &tenant("acme"), Scope::Call).is_err());
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "untouched\n");
    }

    #[test]
    fn malformed_lines_are_reported_by_number_and_the_rest_kept() {
        let good = format!("acme {}", "0".repeat(64));
        let text = format!(
            "# comment\n\nacme 00\n{good}\n../x {}\nglobex\n{good} admin\n{good} deploy x\n{good} deploy\n",
            "0".repeat(64)
        );
        let parsed = Tokens::parse(&text);
        assert_eq!(parsed.malformed, [3, 5, 6, 7, 8]);
        assert_eq!(parsed.tokens.len(), 2);
    }
}
