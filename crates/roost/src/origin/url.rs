//! The fetch URL of a key: the template's text around `{key}`, with the key
//! percent-encoded between (every byte but RFC 3986's unreserved characters),
//! so any key — slashes, spaces, binary — names exactly one origin resource
//! and cannot leave the path or query it was put in.

use crate::config::OriginUrl;

/// The URL to fetch `key` from.
pub fn fetch_url(template: &OriginUrl, key: &[u8]) -> String {
    let mut url =
        String::with_capacity(template.before.len() + key.len() * 3 + template.after.len());
    url.push_str(&template.before);
    for &byte in key {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~') {
            url.push(char::from(byte));
        } else {
            const HEX: &[u8; 16] = b"0123456789ABCDEF";
            url.push('%');
            url.push(char::from(HEX[usize::from(byte >> 4)]));
            url.push(char::from(HEX[usize::from(byte & 0xF)]));
        }
    }
    url.push_str(&template.after);
    url
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_percent_encoded_between_the_template_parts() {
        let template = OriginUrl {
            before: "http://o/items/".into(),
            after: "?v=1".into(),
        };
        assert_eq!(
            fetch_url(&template, b"user:42"),
            "http://o/items/user%3A42?v=1"
        );
        assert_eq!(
            fetch_url(&template, b"a/b c?&#"),
            "http://o/items/a%2Fb%20c%3F%26%23?v=1"
        );
        assert_eq!(
            fetch_url(&template, b"Az09-._~"),
            "http://o/items/Az09-._~?v=1"
        );
        assert_eq!(
            fetch_url(&template, &[0xFF, 0x00]),
            "http://o/items/%FF%00?v=1"
        );
    }
}
