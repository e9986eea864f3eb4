//! Text → model: directives, forms, continuations, here-documents, flags.

use super::*;

fn shell(s: &str) -> CommandLine {
    CommandLine::Shell(s.into())
}

fn exec(v: &[&str]) -> CommandLine {
    CommandLine::Exec(v.iter().map(|s| s.to_string()).collect())
}

#[test]
fn directives_are_recorded_and_escape_is_honoured() {
    let df = parse_ok("# syntax=docker/dockerfile:1\n# check=skip=all\n# escape=`\nFROM scratch\nRUN echo a `\n  b\\c\n");
    assert_eq!(df.directives.syntax.as_deref(), Some("docker/dockerfile:1"));
    assert_eq!(df.directives.check.as_deref(), Some("skip=all"));
    assert_eq!(df.directives.escape, '`');
    let Kind::Run { command, .. } = &df.stages[0].instructions[0].kind else {
        panic!()
    };
    // The backtick continues the line; the backslash is an ordinary character.
    assert_eq!(command, &shell("echo a   b\\c"));
}

#[test]
fn a_directive_after_a_comment_or_twice_is_not_one() {
    let df = parse_ok("# hello\n# escape=`\nFROM scratch\n");
    assert_eq!(df.directives.escape, '\\');
    let df = parse_ok("# syntax=a\n# syntax=b\nFROM scratch\n");
    assert_eq!(df.directives.syntax, None);
}

#[test]
fn continuations_join_lines_and_drop_comments_inside() {
    let kinds = last_kinds("FROM scratch\nRUN apt-get update && \\\n# a comment\n\n    apt-get install -y x\nCMD echo \\\n  hi\n");
    assert_eq!(
        kinds,
        vec![
            Kind::Run {
                command: shell("apt-get update &&     apt-get install -y x"),
                heredocs: vec![],
                flags: RunFlags::default(),
            },
            Kind::Cmd(shell("echo   hi")),
        ]
    );
}

#[test]
fn exec_and_shell_forms() {
    let kinds = last_kinds(
        "FROM scratch\nCMD [\"/bin/app\", \"-x\"]\nENTRYPOINT /bin/app --flag\nRUN [\"echo\", \"a b\"]\nSHELL [\"/bin/bash\", \"-ec\"]\n",
    );
    assert_eq!(kinds[0], Kind::Cmd(exec(&["/bin/app", "-x"])));
    assert_eq!(kinds[1], Kind::Entrypoint(shell("/bin/app --flag")));
    let Kind::Run { command, .. } = &kinds[2] else {
        panic!()
    };
    assert_eq!(command, &exec(&["echo", "a b"]));
    assert_eq!(
        kinds[3],
        Kind::Shell(vec!["/bin/bash".into(), "-ec".into()])
    );
}

#[test]
fn stages_names_platform_and_global_args() {
    let df = parse_ok(
        "ARG BASE=debian\nARG V\nFROM --platform=$BUILDPLATFORM ${BASE}:12 AS Builder\nRUN true\nfrom scratch\nCOPY --from=builder /a /a\n",
    );
    assert_eq!(df.global_args.len(), 2);
    assert_eq!(df.stages.len(), 2);
    let s = &df.stages[0];
    assert_eq!(
        (s.index, s.name.as_deref(), s.from.as_str()),
        (0, Some("builder"), "${BASE}:12")
    );
    assert_eq!(s.platform.as_deref(), Some("$BUILDPLATFORM"));
    assert_eq!(s.span, Span { line: 3, column: 1 });
    assert_eq!(
        (df.stages[1].index, df.stages[1].name.as_deref()),
        (1, None)
    );
    assert_eq!(
        df.stages[1].instructions[0].span,
        Span { line: 6, column: 1 }
    );
}

#[test]
fn env_label_and_arg_pairs() {
    let kinds = last_kinds(
        "FROM scratch\nENV A=1 B=\"two words\" C=a\\ b\nENV LEGACY some value here\nLABEL a=b \"c d\"=e\nARG X Y=2 Z=\"q r\"\n",
    );
    let pair = |k: &str, v: &str| Pair {
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(
        kinds[0],
        Kind::Env(vec![
            pair("A", "1"),
            pair("B", "\"two words\""),
            pair("C", "a\\ b")
        ])
    );
    assert_eq!(kinds[1], Kind::Env(vec![pair("LEGACY", "some value here")]));
    assert_eq!(
        kinds[2],
        Kind::Label(vec![pair("a", "b"), pair("\"c d\"", "e")])
    );
    let decl = |n: &str, d: Option<&str>| ArgDecl {
        name: n.into(),
        default: d.map(String::from),
    };
    assert_eq!(
        kinds[3],
        Kind::Arg(vec![
            decl("X", None),
            decl("Y", Some("2")),
            decl("Z", Some("\"q r\""))
        ])
    );
}

#[test]
fn simple_instructions() {
    let kinds = last_kinds(
        "FROM scratch\nMAINTAINER Jo <jo@x>\nUSER app:app\nWORKDIR /srv\nEXPOSE 80 53/udp\nVOLUME [\"/a\", \"/b\"]\nVOLUME /c /d\nSTOPSIGNAL SIGTERM\n",
    );
    assert_eq!(
        kinds,
        vec![
            Kind::Maintainer("Jo <jo@x>".into()),
            Kind::User("app:app".into()),
            Kind::Workdir("/srv".into()),
            Kind::Expose(vec!["80".into(), "53/udp".into()]),
            Kind::Volume(vec!["/a".into(), "/b".into()]),
            Kind::Volume(vec!["/c".into(), "/d".into()]),
            Kind::Stopsignal("SIGTERM".into()),
        ]
    );
}

#[test]
fn healthcheck_forms_and_options() {
    let kinds = last_kinds(
        "FROM scratch\nHEALTHCHECK --interval=30s --timeout=1m30s --start-period=500ms --start-interval=2s --retries=3 CMD curl -f http://x/\nHEALTHCHECK NONE\nHEALTHCHECK CMD [\"/bin/check\"]\n",
    );
    let Kind::Healthcheck(Some((cmd, o))) = &kinds[0] else {
        panic!("{kinds:?}")
    };
    assert_eq!(cmd, &shell("curl -f http://x/"));
    assert_eq!(o.interval, Some(std::time::Duration::from_secs(30)));
    assert_eq!(o.timeout, Some(std::time::Duration::from_secs(90)));
    assert_eq!(o.start_period, Some(std::time::Duration::from_millis(500)));
    assert_eq!(o.start_interval, Some(std::time::Duration::from_secs(2)));
    assert_eq!(o.retries, Some(3));
    assert_eq!(kinds[1], Kind::Healthcheck(None));
    assert!(
        matches!(&kinds[2], Kind::Healthcheck(Some((CommandLine::Exec(v), _))) if v == &["/bin/check"])
    );
}

#[test]
fn onbuild_wraps_an_instruction() {
    let kinds = last_kinds("FROM scratch\nONBUILD RUN echo \\\n  hi\n");
    let Kind::Onbuild {
        trigger,
        instruction,
    } = &kinds[0]
    else {
        panic!()
    };
    assert_eq!(trigger, "RUN echo   hi");
    assert!(matches!(instruction.kind, Kind::Run { .. }));
}

#[test]
fn copy_and_add_flags() {
    let kinds = last_kinds(
        "FROM scratch\nCOPY --from=build --chown=1:2 --chmod=0644 --link --parents --exclude=*.md --exclude=tmp a b /dst/\nADD --checksum=sha256:abc --chown=app --link=false https://x/y.tgz /y\n",
    );
    let Kind::Copy {
        sources,
        dest,
        flags,
    } = &kinds[0]
    else {
        panic!()
    };
    assert_eq!(
        sources,
        &[Source::Path("a".into()), Source::Path("b".into())]
    );
    assert_eq!(dest, "/dst/");
    assert_eq!(
        flags,
        &CopyFlags {
            from: Some("build".into()),
            chown: Some("1:2".into()),
            chmod: Some("0644".into()),
            link: true,
            parents: true,
            exclude: vec!["*.md".into(), "tmp".into()],
        }
    );
    let Kind::Add { flags, .. } = &kinds[1] else {
        panic!()
    };
    assert_eq!(flags.checksum.as_deref(), Some("sha256:abc"));
    assert!(!flags.link);
}

#[test]
fn copy_heredocs_several_per_line_quoted_and_chomped() {
    let kinds = last_kinds(
        "FROM scratch\nCOPY <<one <<-'two' /dst/\nhello $X\none\n\t\tliteral $Y\n\ttwo\nRUN true\n",
    );
    let Kind::Copy { sources, .. } = &kinds[0] else {
        panic!("{kinds:?}")
    };
    let [Source::Heredoc(a), Source::Heredoc(b)] = sources.as_slice() else {
        panic!("{sources:?}")
    };
    assert_eq!(
        (a.name.as_str(), a.content().as_str(), a.expand),
        ("one", "hello $X\n", true)
    );
    assert_eq!(
        (b.name.as_str(), b.content().as_str(), b.expand, b.chomp),
        ("two", "literal $Y\n", false, true)
    );
    assert!(matches!(kinds[1], Kind::Run { .. }));
}

#[test]
fn run_heredocs_anywhere_on_the_line_and_several() {
    let df = parse_ok(
        "FROM scratch\nRUN cat <<A >/a && cat <<\"B\" >/b\nline a\nA\nline $b\nB\nRUN <<EOF\n#!/bin/sh\necho hi\nEOF\nRUN 3<<-X cat /dev/fd/3\n\tindented\n\tX\nUSER x\n",
    );
    let ins = &df.stages[0].instructions;
    assert_eq!(ins.len(), 4, "{ins:#?}");
    let Kind::Run {
        heredocs, command, ..
    } = &ins[0].kind
    else {
        panic!()
    };
    assert_eq!(command, &shell("cat <<A >/a && cat <<\"B\" >/b"));
    assert_eq!(heredocs.len(), 2);
    assert_eq!(
        (
            heredocs[0].name.as_str(),
            heredocs[0].body.as_str(),
            heredocs[0].expand
        ),
        ("A", "line a\n", true)
    );
    assert_eq!(
        (
            heredocs[1].name.as_str(),
            heredocs[1].body.as_str(),
            heredocs[1].expand
        ),
        ("B", "line $b\n", false)
    );
    assert!(ins[0].text.ends_with("line $b\nB"), "{:?}", ins[0].text);
    let Kind::Run { heredocs, .. } = &ins[1].kind else {
        panic!()
    };
    assert_eq!(heredocs[0].body, "#!/bin/sh\necho hi\n");
    let Kind::Run { heredocs, .. } = &ins[2].kind else {
        panic!()
    };
    assert_eq!(
        (heredocs[0].fd, heredocs[0].content().as_str()),
        (Some(3), "indented\n")
    );
    assert_eq!(ins[3].kind, Kind::User("x".into()));
    assert_eq!(ins[3].span.line, 14);
}

#[test]
fn run_mounts_network_and_defaults() {
    let kinds = last_kinds(
        "FROM scratch\nRUN --mount=type=cache,target=/var/cache/apt,sharing=locked,id=apt \\\n    --mount=type=secret,id=tok,required \\\n    --mount=type=ssh \\\n    --mount=type=bind,from=build,source=/out,target=/in,rw \\\n    --mount=type=tmpfs,target=/tmp,size=64m \\\n    --network=none make\n",
    );
    let Kind::Run { flags, command, .. } = &kinds[0] else {
        panic!()
    };
    assert_eq!(command, &shell("make"));
    assert_eq!(flags.network.as_deref(), Some("none"));
    let plain = |t: &str| Ok(t.to_owned());
    let m: Vec<Mount> = flags
        .mounts
        .iter()
        .map(|s| s.resolve(&plain).unwrap())
        .collect();
    assert_eq!(
        (m[0].kind, m[0].id.as_deref(), m[0].sharing, m[0].readonly),
        (MountType::Cache, Some("apt"), Sharing::Locked, false)
    );
    assert_eq!(
        (m[1].target.as_deref(), m[1].required),
        (Some("/run/secrets/tok"), true)
    );
    assert_eq!(
        (m[2].id.as_deref(), m[2].target.as_deref()),
        (Some("default"), Some("/run/buildkit/ssh_agent.0"))
    );
    assert_eq!(
        (m[3].from.as_deref(), m[3].source.as_deref(), m[3].readonly),
        (Some("build"), Some("/out"), false)
    );
    assert_eq!(m[4].size, Some(64 << 20));
}

#[test]
fn secret_mount_by_env_and_cache_id_from_target() {
    let kinds = last_kinds(
        "FROM scratch\nRUN --mount=type=secret,id=aws,env=AWS_KEY --mount=type=cache,target=/root/.cache,mode=0700,uid=1000,gid=1000 true\n",
    );
    let Kind::Run { flags, .. } = &kinds[0] else {
        panic!()
    };
    let plain = |t: &str| Ok(t.to_owned());
    let secret = flags.mounts[0].resolve(&plain).unwrap();
    assert_eq!(
        (secret.env.as_deref(), secret.target.as_deref()),
        (Some("AWS_KEY"), None)
    );
    let cache = flags.mounts[1].resolve(&plain).unwrap();
    assert_eq!(cache.id.as_deref(), Some("/root/.cache"));
    assert_eq!(
        (cache.mode, cache.uid, cache.gid),
        (Some(0o700), Some(1000), Some(1000))
    );
}

#[test]
fn instruction_text_spans_and_keywords_as_written() {
    let df = parse_ok("\u{feff}FROM scratch\n  run echo \\\n   hi\n\nCOPY a b\n");
    let ins = &df.stages[0].instructions;
    assert_eq!(
        (ins[0].span, ins[0].word.as_str()),
        (Span { line: 2, column: 3 }, "run")
    );
    assert_eq!(ins[0].text, "run echo \\\n   hi");
    assert_eq!(ins[1].span, Span { line: 5, column: 1 });
}
