//! Keyset pagination shared by the listings: the `next` token is the last row's position,
//! `a:b` in URL-safe base64 (opaque to clients), and one row more than asked tells
//! whether there is a next page without a second query.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

use crate::error::{AppError, AppResult};

/// The token of position `(a, b)`.
pub fn encode(a: &str, b: &str) -> String {
    URL_SAFE_NO_PAD.encode(format!("{a}:{b}"))
}

/// The position `(a, b)` of a token; anything else is 400.
pub fn decode(token: &str) -> AppResult<(String, String)> {
    let bad = || AppError::bad_request("the 'after' token is not valid");
    let raw =
        String::from_utf8(URL_SAFE_NO_PAD.decode(token).map_err(|_| bad())?).map_err(|_| bad())?;
    let (a, b) = raw.split_once(':').ok_or_else(bad)?;
    Ok((a.to_string(), b.to_string()))
}

/// Cuts `rows` (fetched with a limit of `limit + 1`) to one page, and the token of the
/// next page when there is one.
pub fn page<T>(
    mut rows: Vec<T>,
    limit: usize,
    token: impl Fn(&T) -> String,
) -> (Vec<T>, Option<String>) {
    if rows.len() <= limit {
        return (rows, None);
    }
    rows.truncate(limit);
    let next = rows.last().map(token);
    (rows, next)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let t = encode("1", "name:with:colons");
        assert_eq!(
            decode(&t).ok(),
            Some(("1".to_string(), "name:with:colons".to_string()))
        );
        assert!(decode("%%%").is_err());
        assert!(decode(&URL_SAFE_NO_PAD.encode("no colon")).is_err());
    }

    #[test]
    fn pages_cut_at_the_limit() {
        let token = |n: &i32| n.to_string();
        assert_eq!(page(vec![1, 2], 2, token), (vec![1, 2], None));
        assert_eq!(
            page(vec![1, 2, 3], 2, token),
            (vec![1, 2], Some("2".into()))
        );
    }
}
