//! Continuation tokens of both APIs (EC2's NextToken, S3's
//! ContinuationToken): the last key a page returned, in URL-safe base64, so
//! the next page starts after it and stays correct when items come and go.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The token of a page whose last item has `last_key`.
pub fn token(last_key: &str) -> String {
    URL_SAFE_NO_PAD.encode(last_key)
}

/// The last key a token names; `None` when it is not one of ours.
pub fn last_key(token: &str) -> Option<String> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_token_names_its_key_and_garbage_names_none() {
        for key in ["", "a", "ünïcode/key with spaces", "sg-0123"] {
            assert_eq!(last_key(&token(key)).as_deref(), Some(key));
        }
        assert_eq!(last_key("not base64!"), None);
        assert_eq!(last_key(&URL_SAFE_NO_PAD.encode([0xff, 0xfe])), None);
    }
}
