//! A document's templates: text a team writes to shape its messages, run in a sandbox
//! (minijinja, the maintained Jinja engine for Rust) that gives a message what it needs and
//! nothing that can grow without bound.
//!
//! - **Statements**: `if`/`elif`/`else`/`endif` and `for`/`endfor` (over the context's
//!   lists), and comments. `set`, `with`, macros, includes, `raw` and filter blocks are
//!   refused at load, so no value outlives its expression and nothing is built up across
//!   statements.
//! - **No `*`**: one multiplication repeats a string to 100 MB.
//! - **Filters and tests from a list**, each bounded in what it returns; no function (no
//!   `range`, no `namespace`).
//! - **Strict about undefined values**: a misspelt field is an error, never an empty
//!   string.
//! - **Fuel and room**: a rendering may run [`FUEL`] instructions and print
//!   [`MAX_OUTPUT`] bytes; a loop over loops runs out of one, a long one out of the other.
//!
//! Every failure is an error the caller answers by sending the built-in message instead.
//! Pipeline data is data: a value is printed, never read as a template, so a commit message
//! holding `{{ … }}` prints those characters. The caller escapes the context's values for
//! where the text goes; the template's own text is not escaped (mentions come from its
//! author, never from a pipeline).

use std::fmt;

use minijinja::value::Value;
use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior};

/// The most a template's source may be.
pub const MAX_SOURCE: usize = 4 * 1024;

/// The most a rendering may print, and the most a filter may return.
pub const MAX_OUTPUT: usize = 16 * 1024;

/// Instructions a rendering may run: a hundred changes with a dozen fields each take
/// about 5,000.
pub const FUEL: u64 = 50_000;

/// The statements a template may hold.
const STATEMENTS: [&str; 6] = ["if", "elif", "else", "endif", "for", "endfor"];

/// A document's templates, compiled.
#[derive(Clone)]
pub struct Templates {
    environment: Environment<'static>,
    /// The sources by name, in the order added (for equality and for the explanation).
    sources: Vec<(String, String)>,
}

impl fmt::Debug for Templates {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.sources.iter().map(|(name, _)| name))
            .finish()
    }
}

impl PartialEq for Templates {
    fn eq(&self, other: &Self) -> bool {
        self.sources == other.sources
    }
}

impl Eq for Templates {}

impl Default for Templates {
    fn default() -> Self {
        Self::new()
    }
}

impl Templates {
    /// No template yet, and the sandbox's rules in place.
    pub fn new() -> Self {
        let mut environment = Environment::empty();
        environment.set_undefined_behavior(UndefinedBehavior::Strict);
        environment.set_fuel(Some(FUEL));
        environment.set_recursion_limit(64);
        filters(&mut environment);
        tests(&mut environment);
        Self {
            environment,
            sources: Vec::new(),
        }
    }

    /// Compiles `source` as the template `name`; refused, in words with its line, when it
    /// breaks a rule of the sandbox or the syntax.
    pub fn add(&mut self, name: &str, source: &str) -> Result<(), String> {
        check(source)?;
        self.environment
            .add_template_owned(name.to_owned(), source.to_owned())
            .map_err(|error| describe(&error))?;
        self.sources.push((name.to_owned(), source.to_owned()));
        Ok(())
    }

    /// How many templates there are, a document's `NAME.title` and `NAME.text` one.
    pub fn count(&self) -> usize {
        let mut names: Vec<&str> = self
            .sources
            .iter()
            .map(|(name, _)| name.rsplit_once('.').map_or(name.as_str(), |(n, _)| n))
            .collect();
        names.dedup();
        names.len()
    }

    /// Whether a template is named `name`.
    pub fn has(&self, name: &str) -> bool {
        self.sources.iter().any(|(n, _)| n == name)
    }

    /// `name` rendered with `context` (whose values the caller escaped for where the text
    /// goes), within the fuel and the room.
    pub fn render(&self, name: &str, context: &serde_json::Value) -> Result<String, String> {
        let template = self
            .environment
            .get_template(name)
            .map_err(|error| describe(&error))?;
        let mut out = Bounded(Vec::new());
        template
            .render_captured_to(Value::from_serialize(context), &mut out)
            .map_err(|error| match error.kind() {
                ErrorKind::WriteFailure => {
                    format!("it prints more than the {MAX_OUTPUT} bytes a rendering may")
                }
                _ => describe(&error),
            })?;
        String::from_utf8(out.0).map_err(|_| "it printed text that is not UTF-8".to_owned())
    }
}

/// minijinja's error in words: what, and on which line of the template.
fn describe(error: &Error) -> String {
    let what = match error.kind() {
        ErrorKind::OutOfFuel => {
            format!("it runs more than the {FUEL} instructions a rendering may")
        }
        _ => error
            .detail()
            .map_or_else(|| error.kind().to_string(), ToOwned::to_owned),
    };
    match error.line() {
        Some(line) => format!("line {line}: {what}"),
        None => what,
    }
}

/// A writer that takes [`MAX_OUTPUT`] bytes and refuses the next.
struct Bounded(Vec<u8>);

impl std::io::Write for Bounded {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        if self.0.len() + bytes.len() > MAX_OUTPUT {
            return Err(std::io::Error::other("the rendering is too long"));
        }
        self.0.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The sandbox's rules a parser does not check: the size, the statements, no `*`.
fn check(source: &str) -> Result<(), String> {
    if source.len() > MAX_SOURCE {
        return Err(format!(
            "the template is {} bytes, over the {MAX_SOURCE} a template may be",
            source.len()
        ));
    }
    for tag in tags(source) {
        let line = source[..tag.at].matches('\n').count() + 1;
        if tag.statement {
            let word: String = tag
                .body
                .trim_start_matches(['-', '+', '~'])
                .trim_start()
                .chars()
                .take_while(char::is_ascii_alphanumeric)
                .collect();
            if !STATEMENTS.contains(&word.as_str()) {
                return Err(format!(
                    "line {line}: {{% {word} %}} is not taken: a template's statements are \
                     if, elif, else, endif, for and endfor"
                ));
            }
        }
        if outside_strings(tag.body).contains('*') {
            return Err(format!(
                "line {line}: `*` is not taken in a template (it repeats a string without bound)"
            ));
        }
    }
    Ok(())
}

/// A `{{ … }}` or `{% … %}` of a template: where it starts, and what is between its marks.
struct Tag<'a> {
    at: usize,
    statement: bool,
    body: &'a str,
}

/// The template's expression and statement tags, comments skipped. An unclosed tag is
/// left to the parser, which places it.
fn tags(source: &str) -> Vec<Tag<'_>> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(open) = source[rest..].find('{').map(|i| rest + i) {
        let close = match source[open + 1..].chars().next() {
            Some('{') => "}}",
            Some('%') => "%}",
            Some('#') => "#}",
            _ => {
                rest = open + 1;
                continue;
            }
        };
        let start = open + 2;
        let Some(length) = end_of_tag(&source[start..], close) else {
            break;
        };
        if close != "#}" {
            found.push(Tag {
                at: open,
                statement: close == "%}",
                body: &source[start..start + length],
            });
        }
        rest = start + length + 2;
    }
    found
}

/// Where `close` ends a tag whose body starts `body`, string literals skipped (a `}}` in a
/// string does not close it); comments end at their first `#}`.
fn end_of_tag(body: &str, close: &str) -> Option<usize> {
    if close == "#}" {
        return body.find(close);
    }
    let bytes = body.as_bytes();
    let mut quote = None;
    let mut i = 0;
    while i < bytes.len() {
        match (quote, bytes[i]) {
            (Some(_), b'\\') => i += 1,
            (Some(q), c) if c == q => quote = None,
            (None, c @ (b'"' | b'\'')) => quote = Some(c),
            (None, _) if body[i..].starts_with(close) => return Some(i),
            _ => {}
        }
        i += 1;
    }
    None
}

/// A tag's body with its string literals blanked.
fn outside_strings(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut quote = None;
    let mut escaped = false;
    for c in body.chars() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if c == '\\' {
                    escaped = true;
                } else if c == q {
                    quote = None;
                }
                out.push(' ');
            }
            None if c == '"' || c == '\'' => {
                quote = Some(c);
                out.push(' ');
            }
            None => out.push(c),
        }
    }
    out
}

/// The filters a template may use: minijinja's own where what they return is no longer
/// than what they are given, and bounded versions of those that can grow.
fn filters(environment: &mut Environment<'static>) {
    use minijinja::filters as f;
    environment.add_filter("lower", f::lower);
    environment.add_filter("upper", f::upper);
    environment.add_filter("title", f::title);
    environment.add_filter("capitalize", f::capitalize);
    environment.add_filter("trim", f::trim);
    environment.add_filter("length", f::length);
    environment.add_filter("count", f::length);
    environment.add_filter("first", f::first);
    environment.add_filter("last", f::last);
    environment.add_filter("default", f::default);
    environment.add_filter("d", f::default);
    environment.add_filter("round", f::round);
    environment.add_filter("int", f::int);
    environment.add_filter("abs", f::abs);
    environment.add_filter("list", f::list);
    environment.add_filter("reverse", f::reverse);
    environment.add_filter("sort", f::sort);
    environment.add_filter("unique", f::unique);
    environment.add_filter("lines", f::lines);
    environment.add_filter("map", f::map);
    environment.add_filter("select", f::select);
    environment.add_filter("reject", f::reject);
    environment.add_filter("selectattr", f::selectattr);
    environment.add_filter("rejectattr", f::rejectattr);
    environment.add_filter("tojson", f::tojson);
    environment.add_filter("join", join);
    environment.add_filter("replace", replace);
    environment.add_filter("truncate", truncate);
}

/// The tests a template may use.
fn tests(environment: &mut Environment<'static>) {
    use minijinja::tests as t;
    environment.add_test("defined", t::is_defined);
    environment.add_test("undefined", t::is_undefined);
    environment.add_test("none", t::is_none);
    environment.add_test("string", t::is_string);
    environment.add_test("number", t::is_number);
    environment.add_test("eq", t::is_eq);
    environment.add_test("ne", t::is_ne);
    environment.add_test("in", t::is_in);
    environment.add_test("startingwith", t::is_startingwith);
    environment.add_test("endingwith", t::is_endingwith);
}

fn too_long() -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("the result would be over the {MAX_OUTPUT} bytes a value may be"),
    )
}

/// `values|join(separator)`, at most [`MAX_OUTPUT`] bytes.
fn join(values: &Value, separator: Option<String>) -> Result<String, Error> {
    let separator = separator.unwrap_or_default();
    let mut out = String::new();
    for (i, value) in values.try_iter()?.enumerate() {
        if i > 0 {
            out.push_str(&separator);
        }
        out.push_str(&value.to_string());
        if out.len() > MAX_OUTPUT {
            return Err(too_long());
        }
    }
    Ok(out)
}

/// `text|replace(from, to)`, at most [`MAX_OUTPUT`] bytes; `from` may not be empty (it
/// would put `to` between every two characters).
fn replace(text: &str, from: &str, to: &str) -> Result<String, Error> {
    if from.is_empty() {
        return Err(Error::new(
            ErrorKind::InvalidOperation,
            "replace of an empty string",
        ));
    }
    let grows = to.len().saturating_sub(from.len());
    if text.len() + text.matches(from).count() * grows > MAX_OUTPUT {
        return Err(too_long());
    }
    Ok(text.replace(from, to))
}

/// `text|truncate(length)`: at most `length` characters (255 if not given), the last one
/// `…` when the text was longer.
fn truncate(text: &str, length: Option<usize>) -> String {
    let length = length.unwrap_or(255).max(1);
    if text.chars().count() <= length {
        return text.to_owned();
    }
    let mut out: String = text.chars().take(length - 1).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests;
