//! What is read in a document's text before, and beside, the YAML parser: the guards that
//! refuse a document before the parser sees it (anchors and aliases, bracket nesting,
//! secrets written into it), and where a place named by its keys stands, for the problems
//! found after parsing.

use super::Problem;

/// How deep brackets may nest (a document needs 3); refused before the parser, which
/// takes seconds over tens of thousands of levels. Indentation cannot nest that deep:
/// that many levels would not fit in a document before the parser's own limit of 128.
pub(super) const MAX_DEPTH: usize = 32;

/// What the scan refuses before the parser runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Guard {
    /// An anchor (`&name`) or alias (`*name`): none is needed, and an alias can expand a
    /// small document into a huge one.
    Anchor,
    /// Brackets nested deeper than [`MAX_DEPTH`].
    Deep,
}

/// The first thing the guards refuse, and where: outside quotes and comments, an anchor
/// or alias at the start of a value (as YAML reads one), or a bracket too deep.
pub(super) fn guards(text: &str) -> Option<(usize, usize, Guard)> {
    let mut depth = 0_usize;
    let mut quote: Option<char> = None;
    for (n, line) in text.lines().enumerate() {
        let mut before = ' ';
        let mut value_starts = true;
        for (i, c) in line.char_indices() {
            let column = || line[..i].chars().count() + 1;
            if let Some(q) = quote {
                if c == q {
                    quote = None;
                }
            } else {
                match c {
                    '"' | '\'' => quote = Some(c),
                    '#' if before.is_whitespace() => break,
                    '&' | '*'
                        if value_starts
                            && line[i + 1..]
                                .chars()
                                .next()
                                .is_some_and(|n| !n.is_whitespace()) =>
                    {
                        return Some((n + 1, column(), Guard::Anchor));
                    }
                    '[' | '{' => {
                        depth += 1;
                        if depth > MAX_DEPTH {
                            return Some((n + 1, column(), Guard::Deep));
                        }
                    }
                    ']' | '}' => depth = depth.saturating_sub(1),
                    _ => {}
                }
            }
            if !c.is_whitespace() {
                // A value starts after `[`, `{` and `,`, and after `:`, `-` and `?`
                // followed by a space.
                value_starts = matches!(c, '[' | '{' | ',')
                    || (matches!(c, ':' | '-' | '?') && line[i + 1..].starts_with(' '));
            }
            before = c;
        }
    }
    None
}

/// Text that is a secret, whatever key holds it: a Slack token, a webhook's URL, a
/// private key. Each is placed by its line and named by its key, never repeated.
pub(super) fn secrets(text: &str) -> Vec<Problem> {
    const KINDS: [(&str, &str); 10] = [
        ("xoxb-", "a Slack bot token"),
        ("xoxp-", "a Slack user token"),
        ("xoxa-", "a Slack token"),
        ("xapp-", "a Slack app token"),
        ("hooks.slack.com/", "a Slack webhook's URL"),
        ("hooks.slack-gov.com/", "a Slack webhook's URL"),
        ("webhook.office.com/", "a Teams webhook's URL"),
        ("logic.azure.com", "a Teams Workflows webhook's URL"),
        ("discord.com/api/webhooks/", "a Discord webhook's URL"),
        ("-----BEGIN", "a private key"),
    ];
    let mut problems = Vec::new();
    // A comment is part of the document: a secret there is one too.
    for (n, line) in text.lines().enumerate() {
        let Some((at, what)) = KINDS
            .iter()
            .find_map(|(mark, what)| line.find(mark).map(|at| (at, what)))
        else {
            continue;
        };
        // The key the value stands under: the word before the last `: ` ahead of it.
        let key = line[..at]
            .rfind(": ")
            .map(|colon| &line[..colon])
            .and_then(|before| before.rsplit([' ', '{', ',', '[']).next())
            .map(|k| k.trim_matches(['"', '\'']))
            .filter(|k| !k.is_empty())
            .map_or_else(String::new, |k| format!(" under {k:?}"));
        problems.push(Problem {
            line: n + 1,
            column: line.len() - line.trim_start().len() + 1,
            reason: format!(
                "this line holds what looks like {what}{key}: a document holds no secret; \
                 store it in Secrets Manager and name the secret's ARN"
            ),
        });
    }
    problems
}

/// Line and column (1-based, in characters) of byte `offset` in `bytes`.
pub(super) fn place(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.split(|b| *b == b'\n').count();
    let start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[start..]).chars().count() + 1;
    (line, column)
}

/// One step of the way to a place in a document.
#[derive(Debug, Clone, Copy)]
pub(super) enum Step<'a> {
    /// A key of the current block.
    Key(&'a str),
    /// The n-th item (`- …`) of the current block's list.
    Item(usize),
    /// Text in the current block, or on the line of the step before (`to: [a, b]`).
    Text(&'a str),
}

/// Line and column of the place `steps` lead to in a block-style document, as near as the
/// layout lets it be found (the last step found, else the document's start).
pub(super) fn locate(text: &str, steps: &[Step<'_>]) -> (usize, usize) {
    let lines: Vec<&str> = text.lines().collect();
    let indent = |line: &str| line.len() - line.trim_start().len();
    let (mut from, mut to) = (0, lines.len());
    let mut found = (1, 1);
    for step in steps {
        let hit = match step {
            Step::Key(key) => (from..to).find(|&i| {
                let content = lines[i].trim_start().trim_start_matches("- ");
                [
                    format!("{key}:"),
                    format!("\"{key}\":"),
                    format!("'{key}':"),
                ]
                .iter()
                .any(|k| content.starts_with(k.as_str()))
            }),
            Step::Item(n) => {
                let items: Vec<usize> = (from..to)
                    .filter(|&i| lines[i].trim_start().starts_with("- "))
                    .collect();
                let least = items.iter().map(|&i| indent(lines[i])).min();
                items
                    .into_iter()
                    .filter(|&i| Some(indent(lines[i])) == least)
                    .nth(*n)
            }
            // Text may stand on the line of the key before it (`to: [a, b]`).
            Step::Text(needle) => (found.0 - 1..to.max(found.0))
                .find(|&i| lines.get(i).is_some_and(|l| l.contains(needle))),
        };
        let Some(at) = hit else { break };
        let line = lines[at];
        let column = match step {
            Step::Text(needle) => line[..line.find(needle).unwrap_or(0)].chars().count() + 1,
            _ => indent(line) + 1,
        };
        found = (at + 1, column);
        // What is under it: the lines after, indented deeper (a list item's own line too,
        // as its first key stands on it).
        let first = if matches!(step, Step::Item(_)) {
            at
        } else {
            at + 1
        };
        let end = (at + 1..to)
            .find(|&i| !lines[i].trim().is_empty() && indent(lines[i]) <= indent(line))
            .unwrap_or(to);
        (from, to) = (first, end);
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_guards_read_anchors_and_brackets_as_yaml_does() {
        type Found = Option<(usize, usize, Guard)>;
        let deep = format!("a: {}{}", "[".repeat(33), "]".repeat(33));
        let wide = format!("a: [{}[1]]", "[1], ".repeat(40));
        let quoted = format!("a: \"{}\"\nb: '{}'", "[".repeat(40), "{".repeat(40));
        let cases: [(&str, Found); 14] = [
            ("a: &x 1", Some((1, 4, Guard::Anchor))),
            ("a:\n  - *x", Some((2, 5, Guard::Anchor))),
            ("a: [1, *x]", Some((1, 8, Guard::Anchor))),
            ("a: [\"x\", *y]", Some((1, 10, Guard::Anchor))),
            ("a#b: &x", Some((1, 6, Guard::Anchor))),
            ("a: \"&x\"", None),
            ("a: '*x'", None),
            ("a: b # - *x", None),
            ("a: x&y", None),
            ("a: & x", None),
            ("a: \"*-prod\"", None),
            (&deep, Some((1, 36, Guard::Deep))),
            (&wide, None),
            (&quoted, None),
        ];
        for (text, expected) in cases {
            assert_eq!(guards(text), expected, "{text}");
        }
    }

    #[test]
    fn a_secret_is_placed_by_its_line_and_named_by_its_key() {
        let found = |text: &str| {
            secrets(text)
                .into_iter()
                .map(|p| (p.line, p.column, p.reason))
                .collect::<Vec<_>>()
        };
        let [(line, column, reason)] = found("a: 1\n    secret: xoxb-123-SECRET\n")[..]
            .to_owned()
            .try_into()
            .unwrap();
        assert_eq!((line, column), (2, 5));
        assert!(
            reason
                .starts_with("this line holds what looks like a Slack bot token under \"secret\":")
        );
        assert!(!reason.contains("SECRET"));
        let [(_, column, reason)] = found("  - https://hooks.slack.com/services/T/B/x")[..]
            .to_owned()
            .try_into()
            .unwrap();
        assert_eq!(column, 3);
        assert!(
            reason.starts_with("this line holds what looks like a Slack webhook's URL: a"),
            "{reason}"
        );
        let quoted = found("{\"token\": \"xapp-1-2\"}");
        assert!(
            quoted[0].2.contains("a Slack app token under \"token\""),
            "{quoted:?}"
        );
        let minified = found("{\"a\": 1, \"url\": \"https://hooks.slack.com/x\"}");
        assert!(
            minified[0]
                .2
                .contains("a Slack webhook's URL under \"url\""),
            "{minified:?}"
        );
        assert_eq!(
            found("# see https://acme.webhook.office.com/x").len(),
            1,
            "comments too"
        );
        assert!(found("a: 1\nb: https://example.com/hooks\n").is_empty());
    }

    #[test]
    fn a_place_is_found_under_its_keys_blank_lines_and_all() {
        let text = "b: 1\na:\n\n  b: 2\n  c:\n    - x: 1\n    - y: 2\n      z: [p, q]\n";
        let cases: [(&[Step<'_>], (usize, usize)); 6] = [
            (&[Step::Key("b")], (1, 1)),
            (&[Step::Key("a"), Step::Key("b")], (4, 3)),
            (&[Step::Key("a"), Step::Key("c"), Step::Item(1)], (7, 5)),
            (
                &[
                    Step::Key("a"),
                    Step::Key("c"),
                    Step::Item(1),
                    Step::Key("z"),
                ],
                (8, 7),
            ),
            (
                &[
                    Step::Key("a"),
                    Step::Key("c"),
                    Step::Item(1),
                    Step::Key("z"),
                    Step::Text("q"),
                ],
                (8, 14),
            ),
            (&[Step::Key("a"), Step::Key("nowhere")], (2, 1)),
        ];
        for (steps, expected) in cases {
            assert_eq!(locate(text, steps), expected, "{steps:?}");
        }
        let nested = "a:\n  a: 2\n";
        assert_eq!(locate(nested, &[Step::Key("a"), Step::Key("a")]), (2, 3));
        assert_eq!(place(b"ab\ncd\xffe", 5), (2, 3));
        assert_eq!(place(b"", 0), (1, 1));
    }
}
