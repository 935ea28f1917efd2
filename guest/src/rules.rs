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

/// `value + delta`, or why it cannot be stored.
///
/// # Errors
/// When the sum overflows a signed 64-bit value.
pub fn incremented(value: i64, delta: i64) -> Result<i64, String> {
    value
        .checked_add(delta)
        .ok_or_else(|| format!("{value} + {delta} does not fit in a 64-bit value"))
}

/// The source's and target's values after moving `amount` from one to the other.
///
/// # Errors
/// When source and target are the same record, `amount` is negative, the source
/// would go negative, or the target would overflow.
pub fn transferred(
    (source_id, source): (i64, i64),
    (target_id, target): (i64, i64),
    amount: i64,
) -> Result<(i64, i64), String> {
    if source_id == target_id {
        return Err(format!(
            "source and target are the same record ({source_id})"
        ));
    }
    if amount < 0 {
        return Err(format!("amount must not be negative, got {amount}"));
    }
    let remaining = source
        .checked_sub(amount)
        .filter(|left| *left >= 0)
        .ok_or_else(|| {
            format!("record {source_id} has {source}, cannot move {amount} out of it")
        })?;
    let received = target
        .checked_add(amount)
        .ok_or_else(|| format!("record {target_id} would overflow"))?;
    Ok((remaining, received))
}

/// One line of the importer's CSV input: `name,value`. Blank lines and lines
/// starting with `#` carry nothing (`Ok(None)`). The value is what follows the last
/// comma, so names may contain commas.
///
/// # Errors
/// When the line has no comma, the value is not a 64-bit integer, or the name
/// breaks [`normalize_name`].
pub fn parse_csv_line(line: &str) -> Result<Option<(&str, i64)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let (name, value) = line
        .rsplit_once(',')
        .ok_or_else(|| format!("expected name,value, got {line:?}"))?;
    let value = value
        .trim()
        .parse()
        .map_err(|_| format!("value {:?} is not a 64-bit integer", value.trim()))?;
    Ok(Some((normalize_name(name)?, value)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_lines_parse_into_names_and_values() {
        assert_eq!(parse_csv_line("apples, 3"), Ok(Some(("apples", 3))));
        assert_eq!(parse_csv_line("  a, b ,-7 "), Ok(Some(("a, b", -7))));
        assert_eq!(parse_csv_line(""), Ok(None));
        assert_eq!(parse_csv_line("# comment,1"), Ok(None));
        assert!(parse_csv_line("no comma").is_err());
        assert!(parse_csv_line("x,1.5").is_err());
        assert!(parse_csv_line(" ,1").is_err());
        assert!(parse_csv_line("x,99999999999999999999").is_err());
    }

    #[test]
    fn increments_add_and_refuse_overflow() {
        assert_eq!(incremented(41, 1), Ok(42));
        assert_eq!(incremented(5, -7), Ok(-2));
        assert!(incremented(i64::MAX, 1).is_err());
        assert!(incremented(i64::MIN, -1).is_err());
    }

    #[test]
    fn transfers_move_value_without_making_the_source_negative() {
        assert_eq!(transferred((1, 10), (2, 5), 10), Ok((0, 15)));
        assert_eq!(transferred((1, 10), (2, 5), 0), Ok((10, 5)));
        let err = transferred((1, 10), (2, 5), 11).unwrap_err();
        assert!(err.contains("cannot move 11"), "{err}");
        assert!(transferred((1, 10), (2, 5), -1).is_err());
        assert!(transferred((3, 10), (3, 10), 1).is_err());
        assert!(transferred((1, 10), (2, i64::MAX), 1).is_err());
        // A source that is already negative cannot give anything.
        assert!(transferred((1, -5), (2, 0), 1).is_err());
    }

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
