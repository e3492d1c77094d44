//! The sandbox: what a template may do, and every way out of it refused at load or cut at
//! run time, in words.

use super::*;
use serde_json::json;

fn templates(source: &str) -> Result<Templates, String> {
    let mut templates = Templates::new();
    templates.add("t", source)?;
    Ok(templates)
}

fn render(source: &str, context: &serde_json::Value) -> Result<String, String> {
    templates(source)?.render("t", context)
}

#[test]
fn a_template_prints_the_context_with_ifs_loops_and_the_listed_filters() {
    let context = json!({"pipeline": "web", "changes": [
        {"what": "Build failed", "why": "exit 1"}, {"what": "Deploy waits", "why": null}]});
    let source = "{{ pipeline|upper }}: {% for c in changes %}{{ c.what }}\
        {% if c.why %} ({{ c.why|truncate(4) }}){% endif %}{% if not loop.last %}; {% endif %}\
        {% endfor %} [{{ changes|map(attribute='what')|join(', ')|length }}]";
    assert_eq!(
        render(source, &context).unwrap(),
        "WEB: Build failed (exi…); Deploy waits [26]"
    );
    assert_eq!(
        render("{{ changes|tojson }}", &context).unwrap(),
        r#"[{"what":"Build failed","why":"exit 1"},{"what":"Deploy waits","why":null}]"#
    );
    let mut two = Templates::new();
    two.add("a", "{{ pipeline }}").unwrap();
    two.add("b", "{{ pipeline|replace('w', 'W') }}").unwrap();
    assert!(two.has("a") && two.has("b") && !two.has("c"));
    assert_eq!(two.count(), 2);
    let mut parts = Templates::new();
    parts.add("x.title", "{{ pipeline }}").unwrap();
    parts.add("x.text", "{{ pipeline }}").unwrap();
    parts.add("y.text", "{{ pipeline }}").unwrap();
    assert_eq!(parts.count(), 2, "a title and a text are one template");
    assert_eq!(two.render("b", &context).unwrap(), "Web");
    assert_eq!(format!("{two:?}"), r#"["a", "b"]"#);
}

#[test]
fn pipeline_data_is_printed_never_evaluated() {
    let context = json!({"message": "{{ 7 * 7 }} {% for x in y %}loop{% endfor %} {# c #}"});
    assert_eq!(
        render("{{ message }}", &context).unwrap(),
        "{{ 7 * 7 }} {% for x in y %}loop{% endfor %} {# c #}"
    );
}

#[test]
fn what_could_grow_without_bound_is_refused_at_load() {
    for (source, expected) in [
        ("{% set a = 'x' %}{{ a }}", "line 1: {% set %} is not taken"),
        ("{% with a = 1 %}{% endwith %}", "{% with %} is not taken"),
        ("{% macro m() %}{% endmacro %}", "{% macro %} is not taken"),
        ("{% include 'other' %}", "{% include %} is not taken"),
        ("{% raw %}x{% endraw %}", "{% raw %} is not taken"),
        (
            "{% filter upper %}x{% endfilter %}",
            "{% filter %} is not taken",
        ),
        ("a\n{%- set a = 1 %}", "line 2: {% set %} is not taken"),
        ("{\"json\": 1} { {% set a = 1 %}", "{% set %} is not taken"),
        // The scan finds each tag's end past strings and comments, so nothing hides.
        ("{{ \"{%\" }}{% set a = 1 %}", "{% set %} is not taken"),
        ("{# it's #}{% set a = 1 %}", "{% set %} is not taken"),
        ("{{ \"a\\\"b\" }}{% set a = 1 %}", "{% set %} is not taken"),
        ("{{ 'a\"b' }}{% set a = 1 %}", "{% set %} is not taken"),
        ("{{ 'a'}}{% set a = 1 %}", "{% set %} is not taken"),
        ("{{ 'x' * 100000000 }}", "line 1: `*` is not taken"),
        ("{{ 2 ** 64 }}", "`*` is not taken"),
        ("{% if 'a' * 9 %}{% endif %}", "`*` is not taken"),
        ("{% for %}", "line 1: "),
        ("{{ unclosed", "line 1: "),
    ] {
        let error = templates(source).unwrap_err();
        assert!(error.contains(expected), "{source}: {error}");
    }
    let long = "x".repeat(MAX_SOURCE + 1);
    assert_eq!(
        templates(&long).unwrap_err(),
        "the template is 4097 bytes, over the 4096 a template may be"
    );
    assert!(templates(&"x".repeat(MAX_SOURCE)).is_ok());
    // A `*`, `{%` or `}}` inside a string is text.
    assert_eq!(
        render(r#"{{ "a * b }} {% set" }}{{ 'it\'s *' }}"#, &json!({})).unwrap(),
        "a * b }} {% setit's *"
    );
    assert_eq!(render("{# {% set a %} * #}ok", &json!({})).unwrap(), "ok");
    // No function, and no filter off the list: unknown when the template runs.
    for (source, expected) in [
        ("{{ range(10) }}", "range is unknown"),
        ("{{ namespace() }}", "namespace is unknown"),
        ("{{ 'x'|center(100000000) }}", "center"),
    ] {
        let error = render(source, &json!({})).unwrap_err();
        assert!(error.contains(expected), "{source}: {error}");
    }
}

#[test]
fn what_runs_too_long_or_prints_too_much_is_cut_at_run_time() {
    let many: Vec<u32> = (0..1000).collect();
    let context = json!({"many": many, "text": "x".repeat(MAX_OUTPUT / 2 + 1)});
    let forever = "{% for a in many %}{% for b in many %}{% for c in many %}.{% endfor %}{% endfor %}{% endfor %}";
    let error = render(forever, &context).unwrap_err();
    assert!(error.contains("instructions a rendering may"), "{error}");
    let error = render("{{ text }}{{ text }}", &context).unwrap_err();
    assert_eq!(error, "it prints more than the 16384 bytes a rendering may");
    assert!(render("{{ text }}", &context).is_ok());
    for source in [
        "{{ text|replace('x', 'xx') }}",
        "{{ [text, text]|join }}",
        "{{ many|join(text) }}",
    ] {
        let error = render(source, &context).unwrap_err();
        assert!(error.contains("bytes a value may be"), "{source}: {error}");
    }
    let error = render("{{ text|replace('', '-') }}", &context).unwrap_err();
    assert!(error.contains("replace of an empty string"), "{error}");
    assert_eq!(
        render("{{ 'abc'|replace('b', 'xyz') }}", &context).unwrap(),
        "axyzc"
    );
}

#[test]
fn an_undefined_value_is_an_error_naming_its_line() {
    let context = json!({"pipeline": "web", "changes": [{"what": "x"}]});
    let error = render("ok\n{{ pipline }}", &context).unwrap_err();
    assert!(error.starts_with("line 2: "), "{error}");
    assert!(render("{{ changes[0].wat }}", &context).is_err());
    assert_eq!(
        render(
            "{% if changes[0].why is defined %}y{% else %}n{% endif %}",
            &context
        )
        .unwrap(),
        "n"
    );
    assert_eq!(render("{{ missing|default('-') }}", &context).unwrap(), "-");
}

#[test]
fn truncate_cuts_to_the_characters_asked() {
    assert_eq!(truncate("héllo", Some(3)), "hé…");
    assert_eq!(truncate("héllo", Some(5)), "héllo");
    assert_eq!(truncate("ab", Some(0)), "…");
    assert_eq!(truncate(&"a".repeat(300), None).chars().count(), 255);
}

#[test]
fn a_rendering_of_exactly_the_most_bytes_is_printed() {
    let context = json!({"text": "x".repeat(MAX_OUTPUT - 1)});
    assert_eq!(render("{{ text }}!", &context).unwrap().len(), MAX_OUTPUT);
    assert!(render("{{ text }}!!", &context).is_err());
}

#[test]
fn templates_are_equal_when_their_sources_are() {
    let one = templates("{{ a }}").unwrap();
    assert_eq!(one, templates("{{ a }}").unwrap());
    assert_ne!(one, templates("{{ b }}").unwrap());
    assert_ne!(one, Templates::default());
}

#[test]
fn join_and_replace_return_exactly_the_most_bytes_and_no_more() {
    let half = "x".repeat(MAX_OUTPUT / 2);
    let context =
        json!({"halves": [half, half], "text": format!("{}b", "a".repeat(MAX_OUTPUT - 2))});
    // A value as long as a rendering may print, then nothing else printed.
    assert!(
        render(
            "{% if halves|join|length == 16384 %}ok{% endif %}",
            &context
        )
        .is_ok()
    );
    assert!(render("{{ (halves|join('-'))|length }}", &context).is_err());
    assert_eq!(
        render("{{ text|replace('b', 'cc')|length }}", &context).unwrap(),
        "16384"
    );
    assert!(render("{{ text|replace('b', 'ccc')|length }}", &context).is_err());
    assert_eq!(
        render("{{ text|replace('ab', 'c')|length }}", &context).unwrap(),
        "16382",
        "what shrinks is never refused"
    );
}

#[test]
fn replace_counts_what_each_occurrence_adds() {
    let context = json!({"one": "b", "two": "bb",
        "whole": "x".repeat(MAX_OUTPUT + 1), "half": "x".repeat(MAX_OUTPUT / 2 + 1)});
    assert!(render("{{ one|replace('b', whole)|length }}", &context).is_err());
    assert!(render("{{ two|replace('b', half)|length }}", &context).is_err());
    assert_eq!(
        render("{{ one|replace('b', half)|length }}", &context).unwrap(),
        "8193"
    );
}
