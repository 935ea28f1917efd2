//! The tenant-to-schema mapping: the pair that collided under the old mapping,
//! and generated names (every length, every allowed character, most of them near
//! the 60-byte boundary, each with the 60-byte name that spells its old schema).

use std::collections::HashMap;

use super::*;
use crate::store::location::DEFAULT_SCHEMA;

fn tenant(name: &str) -> TenantName {
    TenantName::new(name).unwrap()
}

/// A 62-byte name, and the 60-byte name that spells its old schema: its first 43
/// bytes, `_`, and 16 hex digits of its SHA-256.
const LONG: &str = "victim-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx";
const SPELLER: &str = "victim-xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx_a86d4803208a7865";

#[test]
fn the_long_name_and_the_name_spelling_its_old_schema_get_different_schemas() {
    let (long, speller) = (tenant(LONG), tenant(SPELLER));
    assert_eq!(
        legacy_tenant_schema(&tenant_schema(&long)).as_deref(),
        Some(format!("rh_{SPELLER}").as_str()),
        "the old mapping gave the long name the speller's schema"
    );
    assert_eq!(tenant_schema(&speller), format!("rh_{SPELLER}"));
    assert_eq!(tenant_schema(&long), LONG.to_ascii_uppercase());
    assert_ne!(tenant_schema(&long), tenant_schema(&speller));
}

#[test]
fn short_names_keep_the_schemas_they_always_had() {
    assert_eq!(tenant_schema(&tenant("acme")), "rh_acme");
    let sixty = "a".repeat(60);
    assert_eq!(tenant_schema(&tenant(&sixty)), format!("rh_{sixty}"));
    assert_eq!(legacy_tenant_schema(&format!("rh_{sixty}")), None);
}

#[test]
fn what_is_no_tenants_schema_has_no_tenant() {
    for schema in [
        DEFAULT_SCHEMA,
        "ACME",
        "rh_",
        "rh_Acme",
        "RH_ACME",
        &format!("rh_{}", "a".repeat(61)),
        &"A".repeat(60),
        &"A".repeat(64),
        &format!("{}a", "A".repeat(61)),
        &format!("_{}", "A".repeat(61)),
    ] {
        assert_eq!(tenant_of_schema(schema), None, "{schema}");
    }
}

/// SplitMix64: a seeded generator, so a failure names the same names every run.
struct Names(u64);

impl Names {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A valid name: half of them of any length, half of 58 to 63 bytes.
    fn name(&mut self) -> String {
        const FIRST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
        const REST: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789_-";
        let len = if self.next().is_multiple_of(2) {
            1 + self.below(63)
        } else {
            58 + self.below(6)
        };
        let mut name = vec![FIRST[self.below(FIRST.len())]];
        // A small alphabet for some names, so that names differ in few places.
        let rest = if self.next().is_multiple_of(4) {
            &REST[..3]
        } else {
            REST
        };
        name.extend((1..len).map(|_| rest[self.below(rest.len())]));
        String::from_utf8(name).unwrap()
    }
}

#[test]
fn generated_names_get_distinct_schemas_that_fit_and_map_back() {
    let mut rng = Names(0x5248_4C4B);
    let mut names: Vec<String> = (0..20_000).map(|_| rng.name()).collect();
    // Every name of one or two bytes, and each long name's adversary.
    const CHARS: &str = "abcdefghijklmnopqrstuvwxyz0123456789_-";
    for a in CHARS.chars().filter(char::is_ascii_alphanumeric) {
        names.push(a.to_string());
        names.extend(CHARS.chars().map(|b| format!("{a}{b}")));
    }
    let spellers: Vec<String> = names
        .iter()
        .filter_map(|name| legacy_tenant_schema(&tenant_schema(&tenant(name))))
        .map(|legacy| legacy["rh_".len()..].to_string())
        .collect();
    assert!(spellers.len() > 5_000, "{} long names", spellers.len());
    names.extend(spellers);

    let mut owner: HashMap<String, String> = HashMap::new();
    for name in &names {
        let schema = tenant_schema(&tenant(name));
        assert!(schema.len() <= 63, "{name}: {schema} is too long");
        assert!(!schema.starts_with("pg_"), "{name}: {schema} is reserved");
        assert_ne!(schema, DEFAULT_SCHEMA, "{name}");
        assert_eq!(tenant_of_schema(&schema), Some(tenant(name)), "{schema}");
        if let Some(other) = owner.insert(schema.clone(), name.clone()) {
            assert_eq!(&other, name, "two names share {schema}");
        }
    }
    let lengths: std::collections::HashSet<usize> = names.iter().map(String::len).collect();
    assert_eq!(lengths.len(), 63, "every length from 1 to 63");
}
