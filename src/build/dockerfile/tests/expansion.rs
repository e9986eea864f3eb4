//! Docker's expansion rules, one table.

use super::super::expand::{self, Scope};

fn vars() -> Vec<(String, Option<String>)> {
    [
        ("A", Some("alpha")),
        ("E", Some("")),
        ("S", Some("x  y")),
        ("P", Some("dir/sub/file.tar.gz")),
        ("D", None),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.map(str::to_owned)))
    .collect()
}

#[test]
fn words_expand_like_docker() {
    let vars = vars();
    let scope = Scope(&vars);
    for (input, want) in [
        ("$A", "alpha"),
        ("${A}", "alpha"),
        ("pre${A}post", "prealphapost"),
        ("$A-$A", "alpha-alpha"),
        ("$UNSET", ""),
        ("${UNSET:-dflt}", "dflt"),
        ("${E:-dflt}", "dflt"),
        ("${E-dflt}", ""),
        ("${UNSET-dflt}", "dflt"),
        ("${D-declared-unset}", "declared-unset"),
        ("${A:+set}", "set"),
        ("${E:+set}", ""),
        ("${E+set}", "set"),
        ("${UNSET+set}", ""),
        ("${UNSET:-${A}}", "alpha"),
        ("${UNSET:-\"a b\"}", "a b"),
        ("${A:?msg}", "alpha"),
        ("${P#*/}", "sub/file.tar.gz"),
        ("${P##*/}", "file.tar.gz"),
        ("${P%.*}", "dir/sub/file.tar"),
        ("${P%%.*}", "dir/sub/file"),
        ("'$A'", "$A"),
        ("\"$A\"", "alpha"),
        ("\"a\\\"b\"", "a\"b"),
        ("\"a\\xb\"", "a\\xb"),
        ("\\$A", "$A"),
        ("a\\ b", "a b"),
        ("$", "$"),
        ("a$", "a$"),
        ("$1", ""),
        ("${S}", "x  y"),
    ] {
        assert_eq!(
            expand::word(input, &scope, '\\').as_deref(),
            Ok(want),
            "{input}"
        );
    }
}

#[test]
fn the_escape_directive_changes_the_escape() {
    let vars = vars();
    let scope = Scope(&vars);
    assert_eq!(expand::word("`$A", &scope, '`').as_deref(), Ok("$A"));
    assert_eq!(
        expand::word("C:\\$A", &scope, '`').as_deref(),
        Ok("C:\\alpha")
    );
}

#[test]
fn bad_substitutions_are_errors() {
    let vars = vars();
    let scope = Scope(&vars);
    for (input, want) in [
        ("${A", "missing '}'"),
        ("${}", "bad substitution"),
        ("${:-x}", "bad substitution"),
        ("${A:=x}", "unsupported modifier ':=' in ${A:=…}"),
        ("${A/x/y}", "unsupported modifier '/' in ${A/…}"),
        ("${UNSET:?}", "UNSET: is not allowed to be unset"),
        ("${E:?}", "E: is not allowed to be empty"),
        ("'open", "missing closing single quote"),
        ("\"open", "missing closing double quote"),
    ] {
        assert_eq!(
            expand::word(input, &scope, '\\'),
            Err(want.to_owned()),
            "{input}"
        );
    }
}

#[test]
fn words_split_outside_quotes_and_on_expanded_blanks() {
    let vars = vars();
    let scope = Scope(&vars);
    assert_eq!(
        expand::words("80 \"a b\" $S ''", &scope, '\\').unwrap(),
        ["80", "a b", "x", "y", ""]
    );
}

#[test]
fn heredoc_bodies_keep_quotes() {
    let vars = vars();
    assert_eq!(
        expand::heredoc("say '$A' \"${A}\" \\$A\n", &Scope(&vars)).unwrap(),
        "say 'alpha' \"alpha\" $A\n"
    );
}

#[test]
fn patterns_full_of_stars_stay_fast() {
    let long = "a".repeat(300);
    let vars = vec![("L".to_owned(), Some(long))];
    let pattern = format!("${{L##{}b}}", "*".repeat(50));
    let start = std::time::Instant::now();
    assert_eq!(
        expand::word(&pattern, &Scope(&vars), '\\').unwrap().len(),
        300
    );
    assert!(start.elapsed() < std::time::Duration::from_secs(5));
}
