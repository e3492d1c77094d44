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
    for (n, line) in text.lines().enumerate() {
        let content = line.split(" #").next().unwrap_or(line);
        let Some((_, what)) = KINDS.iter().find(|(mark, _)| content.contains(mark)) else {
            continue;
        };
        let key = content
            .trim_start()
            .trim_start_matches("- ")
            .split(':')
            .next()
            .map(|k| k.trim().trim_matches('"'))
            .filter(|k| !k.is_empty() && !k.contains(['/', ' ']))
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
