//! Bad input: one error, with file, line, column and the instruction.

use super::*;

/// (Dockerfile, expected `Display` of the error).
const CASES: &[(&str, &str)] = &[
    ("FROM scratch\nFROB x\n", "Dockerfile:2:1: unknown instruction 'FROB'"),
    ("FROM scratch\n  Bogus x\n", "Dockerfile:2:3: unknown instruction 'Bogus'"),
    ("FROM scratch\nRUN --foo=1 true\n", "Dockerfile:2:5: RUN: unknown flag '--foo'"),
    ("FROM scratch\nCOPY --frm=x a b\n", "Dockerfile:2:6: COPY: unknown flag '--frm'"),
    ("FROM --plat=x scratch\n", "Dockerfile:1:6: FROM: unknown flag '--plat'"),
    ("FROM scratch\nRUN --security=insecure true\n", "Dockerfile:2:5: RUN: RUN --security (insecure builds) is not supported"),
    ("FROM scratch\nADD --keep-git-dir=true https://x/r.git /r\n", "Dockerfile:2:5: ADD: ADD --keep-git-dir (git sources: clone, then COPY) is not supported"),
    ("FROM scratch\nRUN --network=bridge true\n", "Dockerfile:2:1: RUN: invalid value 'bridge' for '--network': expected default, none or host"),
    ("FROM scratch\nRUN --mount=type=nfs,target=/x true\n", "Dockerfile:2:5: RUN: invalid --mount: unknown type 'nfs' (bind, cache, tmpfs, secret, ssh)"),
    ("FROM scratch\nRUN --mount=type=cache true\n", "Dockerfile:2:5: RUN: invalid --mount: type=cache needs target="),
    ("FROM scratch\nRUN --mount=type=tmpfs,target=/t,from=x true\n", "Dockerfile:2:5: RUN: invalid --mount: 'from' does not apply to type=tmpfs"),
    ("FROM scratch\nRUN --mount=type=bind,target=/t,colour=red true\n", "Dockerfile:2:5: RUN: invalid --mount: unknown key 'colour'"),
    ("FROM scratch\nRUN --mount=type=cache,target=/t,mode=999 true\n", "Dockerfile:2:5: RUN: invalid --mount: mode=999: expected an octal mode such as 0644"),
    ("FROM scratch\nRUN --mount=type=secret true\n", "Dockerfile:2:5: RUN: invalid --mount: type=secret needs id= or target="),
    ("FROM scratch\nRUN --mount true\n", "Dockerfile:2:5: RUN: flag '--mount' needs a value"),
    ("FROM scratch\nCOPY --from=a --from=b x y\n", "Dockerfile:2:15: COPY: flag '--from' given twice"),
    ("FROM scratch\nCOPY --link=maybe x y\n", "Dockerfile:2:6: COPY: invalid value 'maybe' for '--link': expected true or false"),
    ("FROM scratch\nHEALTHCHECK --interval=5 CMD true\n", "Dockerfile:2:1: HEALTHCHECK: invalid value '5' for '--interval': expected a duration such as 30s, 1m30s or 500ms"),
    ("FROM scratch\nHEALTHCHECK --retries=x CMD true\n", "Dockerfile:2:1: HEALTHCHECK: invalid value 'x' for '--retries': expected a whole number"),
    ("FROM scratch\nHEALTHCHECK --interval=1s NONE\n", "Dockerfile:2:13: HEALTHCHECK: HEALTHCHECK NONE takes no options"),
    ("FROM scratch\nONBUILD FROM x\n", "Dockerfile:2:9: ONBUILD: FROM is not allowed after ONBUILD"),
    ("FROM scratch\nONBUILD MAINTAINER me\n", "Dockerfile:2:9: ONBUILD: MAINTAINER is not allowed after ONBUILD"),
    ("FROM scratch AS 1st\n", "Dockerfile:1:17: FROM: invalid stage name '1st': use a letter first, then letters, digits, '-', '_' or '.'"),
    ("FROM scratch AS a\nFROM scratch AS A\n", "Dockerfile:2:1: stage name 'a' is used twice"),
    ("FROM scratch\nENV ONLYKEY\n", "Dockerfile:2:1: ENV: ENV needs a value: ENV NAME=VALUE or ENV NAME VALUE"),
    ("FROM scratch\nENV A=1 B\n", "Dockerfile:2:1: ENV: 'B' is not of the form NAME=VALUE"),
    ("FROM scratch\nRUN cat <<EOF\nno end\n", "Dockerfile:2:5: RUN: here-document: no line 'EOF' ends the here-document"),
];

#[test]
fn every_bad_snippet_gives_its_error() {
    let mut failures = Vec::new();
    for (text, want) in CASES {
        let got = match parse(text, "Dockerfile") {
            Ok(df) => format!("parsed: {df:?}"),
            Err(e) => e.to_string(),
        };
        if got != *want {
            failures.push(format!("{text:?}\n  want {want}\n  got  {got}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn syntax_errors_of_the_crate_keep_their_position() {
    for (text, line) in [
        ("RUN true\n", 1),
        ("FROM scratch\nCOPY <<EOF /x\nbody\n", 4),
        ("FROM scratch\nSHELL /bin/sh\n", 2),
        ("", 0),
        ("# only a comment\n", 0),
    ] {
        let e = parse_err(text);
        assert!(matches!(*e.kind, ErrorKind::Syntax(_)), "{text:?}: {e:?}");
        assert_eq!(e.span.map_or(0, |s| s.line), line, "{text:?}: {e}");
        assert!(e.to_string().starts_with("Dockerfile"), "{e}");
    }
}

#[test]
fn unknown_instruction_is_typed_and_hinted() {
    let e = parse_err("FROM scratch\nCOPYY a b\n");
    assert_eq!(*e.kind, ErrorKind::UnknownInstruction("COPYY".into()));
    assert!(e.hint().is_some_and(|h| h.contains("COPY")));
}

#[test]
fn plan_errors_name_the_instruction() {
    for (text, args, want) in [
        ("FROM scratch\nRUN --mount=type=cache,target=$D true\n", &[][..], "Dockerfile:2:1: RUN: invalid --mount: target is empty"),
        ("FROM scratch\nARG M=99\nRUN --mount=type=cache,target=/c,mode=$M true\n", &[], "Dockerfile:3:1: RUN: invalid --mount: mode=99: expected an octal mode such as 0644"),
        ("FROM scratch\nARG N=bridge\nRUN --network=$N true\n", &[], "Dockerfile:3:1: RUN: invalid value 'bridge' for '--network': expected default, none or host"),
        ("FROM scratch\nCOPY --chmod=u+x a b\n", &[], "Dockerfile:2:1: COPY: invalid value 'u+x' for '--chmod': expected an octal mode such as 0755"),
        ("FROM scratch\nEXPOSE 80/icmp\n", &[], "Dockerfile:2:1: EXPOSE: invalid port '80/icmp': use PORT[/tcp|udp|sctp]"),
        ("FROM scratch\nENV A=\"${B:?B must be set}\"\n", &[], "Dockerfile:2:1: ENV: variable expansion: B: B must be set"),
        ("FROM scratch\nENV A=${B\n", &[], "Dockerfile:2:1: ENV: variable expansion: missing '}'"),
        ("FROM scratch\nUSER ${U}\n", &[], "Dockerfile:2:1: USER: USER takes one name or id, got ''"),
        ("ARG IMG\nFROM ${IMG}\n", &[], "Dockerfile:2:1: FROM: base image name is empty after expansion of '${IMG}'"),
        ("FROM scratch AS a\nCOPY --from=a x y\n", &[], "Dockerfile:2:1: COPY: 'a' refers to the stage itself or a later one"),
        ("FROM scratch\nFROM scratch\nCOPY --from=1 x y\n", &[], "Dockerfile:3:1: COPY: '1' refers to the stage itself or a later one"),
    ] {
        assert_eq!(plan_err(text, args).to_string(), want, "{text:?}");
    }
}

#[test]
fn an_unknown_target_is_an_error_without_a_line() {
    let df = parse_ok("FROM scratch AS a\n");
    let e = Plan::new(&df, &inputs(&[], Some("b"))).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile: target stage 'b' is not in the Dockerfile"
    );
}

/// Found by the fuzz target: the parsing crate reports byte offsets that
/// can fall inside a multi-byte character; slicing there used to panic.
#[test]
fn offsets_inside_multibyte_characters_do_not_panic() {
    let text = "FROM x AS build\nENV A=1 B=\"two wCOPY --from=build \\\n\n#--\0\0chmod=0644 <<one\u{fffd} /ds\u{fffd}\u{fffd}t\u{fffd}";
    let _ = parse(text, "Dockerfile");
}
