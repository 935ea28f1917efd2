//! The business rules of the reference plugin, as plain functions.
//!
//! Nothing here touches wit-bindgen or the host, so the rules are unit-tested
//! natively (`cargo test -p records-guest`) and the wasm glue in `lib.rs` stays thin.

/// The most bytes a record name may have after trimming.
pub const MAX_NAME_BYTES: usize = 256;

/// How many records `get-all-records` asks the store for per `scan` call: large
/// enough that a page costs one host call per few hundred records, small enough
/// that one page never holds a big share of guest memory.
pub const SCAN_PAGE: u32 = 256;

/// Trims `name` and checks it is 1 to [`MAX_NAME_BYTES`] bytes long.
///
/// # Errors
/// A message saying which rule the name broke; the plugin reports it as `invalid`.
pub fn normalize_name(name: &str) -> Result<&str, String> {
    let trimmed = name.trim();
    match trimmed.len() {
        0 => Err("name must not be empty".to_string()),
        len if len > MAX_NAME_BYTES => Err(format!(
            "name is {len} bytes, at most {MAX_NAME_BYTES} are allowed"
        )),
        _ => Ok(trimmed),
    }
}

/// Collects every item by calling `scan(after, SCAN_PAGE)` until it returns a short
/// page, passing the last id seen (`id_of`) as the next `after`.
///
/// # Errors
/// The first error `scan` returns; no partial result is returned.
pub fn collect_pages<T, E>(
    mut scan: impl FnMut(Option<i64>, u32) -> Result<Vec<T>, E>,
    id_of: impl Fn(&T) -> i64,
) -> Result<Vec<T>, E> {
    let mut all = Vec::new();
    let mut after = None;
    loop {
        let page = scan(after, SCAN_PAGE)?;
        let full = page.len() == SCAN_PAGE as usize;
        after = page.last().map(&id_of).or(after);
        all.extend(page);
        if !full {
            return Ok(all);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_trimmed() {
        assert_eq!(normalize_name("  test \n"), Ok("test"));
    }

    #[test]
    fn empty_and_blank_names_are_rejected() {
        assert!(normalize_name("").is_err());
        assert!(normalize_name(" \t\n").is_err());
    }

    #[test]
    fn name_length_limit_counts_bytes_after_trimming() {
        let max = "x".repeat(MAX_NAME_BYTES);
        assert_eq!(normalize_name(&format!(" {max} ")), Ok(max.as_str()));
        let err = normalize_name(&"x".repeat(MAX_NAME_BYTES + 1)).unwrap_err();
        assert!(err.contains("257 bytes"), "{err}");
        // 129 two-byte characters are 258 bytes.
        assert!(normalize_name(&"é".repeat(129)).is_err());
    }

    /// A fake store of ids 1..=n that records each scan call it serves.
    fn fake_scan(
        n: i64,
        calls: &mut Vec<(Option<i64>, u32)>,
    ) -> impl FnMut(Option<i64>, u32) -> Result<Vec<i64>, String> + '_ {
        move |after, limit| {
            calls.push((after, limit));
            let start = after.unwrap_or(0) + 1;
            Ok((start..=n).take(limit as usize).collect())
        }
    }

    #[test]
    fn pages_through_everything_in_order() {
        let n = i64::from(SCAN_PAGE) * 2 + 7;
        let mut calls = Vec::new();
        let all = collect_pages(fake_scan(n, &mut calls), |id| *id).unwrap();
        assert_eq!(all, (1..=n).collect::<Vec<_>>());
        let page = i64::from(SCAN_PAGE);
        assert_eq!(
            calls,
            vec![
                (None, SCAN_PAGE),
                (Some(page), SCAN_PAGE),
                (Some(2 * page), SCAN_PAGE)
            ]
        );
    }

    #[test]
    fn an_exact_multiple_of_the_page_ends_with_an_empty_page() {
        let mut calls = Vec::new();
        let all = collect_pages(fake_scan(i64::from(SCAN_PAGE), &mut calls), |id| *id).unwrap();
        assert_eq!(all.len(), SCAN_PAGE as usize);
        assert_eq!(calls.len(), 2);
    }

    #[test]
    fn scan_errors_propagate() {
        let result: Result<Vec<i64>, &str> = collect_pages(|_, _| Err("boom"), |id| *id);
        assert_eq!(result, Err("boom"));
    }
}
