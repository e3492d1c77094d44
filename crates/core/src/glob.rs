//! Shell-style name patterns: `*` matches any run of characters (also none), `?` any one
//! character, everything else itself. Pipeline names hold no other special characters
//! (`A-Z a-z 0-9 . @ - _`), so there is nothing to escape.

/// Whether `name` matches `pattern` as a whole.
pub fn matches(pattern: &str, name: &str) -> bool {
    // Pipeline names are ASCII: their bytes are their characters, and nothing is copied.
    if pattern.is_ascii() && name.is_ascii() {
        return walk(pattern.as_bytes(), name.as_bytes());
    }
    let pattern: Vec<char> = pattern.chars().collect();
    let name: Vec<char> = name.chars().collect();
    walk(&pattern, &name)
}

/// The classic two-pointer walk: on a mismatch, let the last `*` absorb one more
/// character. Linear in practice, quadratic at worst; names are short.
fn walk<T: Copy + PartialEq + From<u8>>(pattern: &[T], name: &[T]) -> bool {
    let (any, one) = (T::from(b'*'), T::from(b'?'));
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(&c) if c == any => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == one || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((star_p, star_n)) => {
                    p = star_p + 1;
                    n = star_n + 1;
                    star = Some((star_p, star_n + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p..].iter().all(|&c| c == any)
}

/// Whether `pattern` holds a wildcard (and so needs listing to resolve).
pub fn is_pattern(pattern: &str) -> bool {
    pattern.contains(['*', '?'])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks_match_as_in_a_shell() {
        let cases = [
            ("*", "anything", true),
            ("*", "", true),
            ("payments-*", "payments-api", true),
            ("payments-*", "payments-", true),
            ("payments-*", "payment-api", false),
            ("*-prod", "web-prod", true),
            ("*-prod", "web-prod-2", false),
            ("web-?", "web-1", true),
            ("web-?", "web-12", false),
            ("a*b*c", "aXXbYYc", true),
            ("a*b*c", "aXXbYY", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
            ("**", "x", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(matches(pattern, name), expected, "{pattern} vs {name}");
        }
    }

    #[test]
    fn a_question_mark_is_one_character_whatever_its_bytes() {
        // Text that is not a pipeline name (a message's key, hostile) is matched by
        // characters, not bytes: `é` is two bytes and one character.
        for (pattern, name, expected) in [
            ("caf?", "café", true),
            ("caf??", "café", false),
            ("*é", "café", true),
            ("café", "cafe", false),
            ("c*", "çafe", false),
            ("?afe", "çafe", true),
        ] {
            assert_eq!(matches(pattern, name), expected, "{pattern} vs {name}");
        }
    }
}
