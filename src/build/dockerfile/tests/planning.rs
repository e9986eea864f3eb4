//! Scoping, stage selection and the steps the executor receives.

use super::*;

fn base_with_env(env: &[&str]) -> BaseConfig {
    BaseConfig {
        env: env.iter().map(|s| s.to_string()).collect(),
        ..BaseConfig::default()
    }
}

#[test]
fn global_args_reach_from_lines_only_unless_redeclared() {
    let text = "ARG V=1\nARG IMG=debian:$V\nFROM $IMG\nENV A=\"[$V]\"\nARG V\nENV B=\"[$V]\"\n";
    let df = parse_ok(text);
    let inputs = inputs(&[], None);
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.bases, vec![Base::Image("debian:1".into())]);
    let stage = plan.stage(0, &BaseConfig::default()).unwrap();
    assert_eq!(env_of(&stage), ["A=[]", "B=[1]"]);
}

#[test]
fn build_args_override_defaults_globally_and_per_stage() {
    let text = "ARG IMG=debian\nFROM $IMG\nARG X=dflt\nARG IMG\nENV X=$X IMG=$IMG\n";
    let df = parse_ok(text);
    let inputs = inputs(&[("IMG", "alpine"), ("X", "given")], None);
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.bases, vec![Base::Image("alpine".into())]);
    let stage = plan.stage(0, &BaseConfig::default()).unwrap();
    assert_eq!(env_of(&stage), ["X=given", "IMG=alpine"]);
    assert!(plan.unused_build_args().is_empty());
}

#[test]
fn env_wins_over_arg_and_base_env_takes_part() {
    let plan = plan_target(
        "FROM scratch\nENV NAME=env\nARG NAME=arg\nENV SEEN=$NAME PATHX=$PATH:/opt\nRUN true\n",
        &[("NAME", "cli")],
        &base_with_env(&["PATH=/usr/bin", "NAME=base"]),
    );
    assert_eq!(
        env_of(&plan),
        [
            "PATH=/usr/bin",
            "NAME=env",
            "SEEN=env",
            "PATHX=/usr/bin:/opt"
        ]
    );
    // The ARG is shadowed by ENV, so the RUN sees ENV's value only once.
    let env = run_env(&plan.steps[3]);
    assert_eq!(env.iter().filter(|(k, _)| k == "NAME").count(), 1);
}

#[test]
fn stages_have_their_own_args_and_env() {
    let text = "FROM scratch AS one\nARG A=1\nENV E=one\nFROM scratch AS two\nENV F=\"$A$E\"\n";
    let plan = plan_target(text, &[], &BaseConfig::default());
    assert_eq!(env_of(&plan), ["F="]);
}

#[test]
fn a_stage_from_a_stage_inherits_its_env() {
    let text = "FROM scratch AS base\nENV E=one\nWORKDIR /w\nFROM base\nRUN pwd\n";
    let df = parse_ok(text);
    let inputs = inputs(&[], None);
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.bases[1], Base::Stage(0));
    let first = plan.stage(0, &BaseConfig::default()).unwrap();
    let second = plan.stage(1, &first.as_base()).unwrap();
    assert_eq!(env_of(&second), ["E=one"]);
    let Action::Run { workdir, .. } = &second.steps[0].action else {
        panic!()
    };
    assert_eq!(workdir, "/w");
}

#[test]
fn build_args_only_for_declared_predefined_and_platform() {
    let text = "ARG G\nFROM scratch\nARG S\nRUN env\n";
    let df = parse_ok(text);
    let inputs = inputs(
        &[
            ("G", "1"),
            ("S", "2"),
            ("HTTP_PROXY", "http://p"),
            ("TARGETARCH", "x"),
            ("NOPE", "3"),
            ("ALSO", "4"),
        ],
        None,
    );
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.unused_build_args(), ["ALSO", "NOPE"]);
    let stage = plan.stage(0, &BaseConfig::default()).unwrap();
    let env = run_env(&stage.steps[1]);
    // The proxy reaches RUN without a declaration; the undeclared NOPE does not.
    assert!(env.contains(&("HTTP_PROXY".into(), "http://p".into())));
    assert!(env.contains(&("S".into(), "2".into())));
    assert!(!env.iter().any(|(k, _)| k == "NOPE" || k == "G"));
}

#[test]
fn platform_args_are_automatic() {
    let text = "FROM --platform=$BUILDPLATFORM scratch AS b\nARG TARGETARCH TARGETPLATFORM BUILDOS\nENV T=$TARGETARCH P=$TARGETPLATFORM O=$BUILDOS U=$TARGETVARIANT\n";
    let df = parse_ok(text);
    let inputs = inputs(&[], None);
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.platforms, vec![Some("linux/amd64".into())]);
    let stage = plan.stage(0, &BaseConfig::default()).unwrap();
    assert_eq!(
        env_of(&stage),
        ["T=arm64", "P=linux/arm64/v8", "O=linux", "U="]
    );
}

#[test]
fn from_resolves_scratch_stages_case_insensitively_and_images() {
    let text = "FROM debian:12 AS Build\nFROM BUILD\nFROM Scratch\nFROM build AS later\n";
    let df = parse_ok(text);
    let inputs = inputs(&[], None);
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(
        plan.bases,
        vec![
            Base::Image("debian:12".into()),
            Base::Stage(0),
            Base::Scratch,
            Base::Stage(0)
        ]
    );
}

#[test]
fn target_selects_only_the_stages_it_needs() {
    let text = "FROM scratch AS unused\nFROM scratch AS tools\nFROM scratch AS assets\nFROM tools AS build\nCOPY --from=assets /a /a\nRUN --mount=type=bind,from=2,target=/m true\nFROM scratch AS final\nCOPY --from=build /x /x\nFROM scratch AS other\n";
    let df = parse_ok(text);
    let inputs = inputs(&[], Some("FINAL"));
    let plan = Plan::new(&df, &inputs).unwrap();
    assert_eq!(plan.target, 4);
    assert_eq!(plan.order, vec![1, 2, 3, 4]);
    let default_inputs = super::inputs(&[], None);
    let all = Plan::new(&df, &default_inputs).unwrap();
    assert_eq!(all.order, vec![5]);
}

#[test]
fn copy_from_an_image_or_a_variable_stage() {
    let text = "FROM scratch AS a\nFROM scratch\nARG SRC=a\nCOPY --from=$SRC /x /x\nCOPY --from=busybox:1 /bin/busybox /b\n";
    let plan = plan_target(text, &[], &BaseConfig::default());
    assert_eq!(plan.needs, vec![0]);
    let Action::Copy { from, .. } = &plan.steps[1].action else {
        panic!()
    };
    assert_eq!(from, &Some(CopyFrom::Stage(0)));
    let Action::Copy { from, .. } = &plan.steps[2].action else {
        panic!()
    };
    assert_eq!(from, &Some(CopyFrom::Image("busybox:1".into())));
}

#[test]
fn which_instructions_expand() {
    let text = "FROM scratch\nARG V=v1\nENV E=$V\nLABEL l=$V\nUSER $V\nWORKDIR /srv/$V\nWORKDIR sub/../x\nEXPOSE 8$V\nVOLUME /data/$V\nSTOPSIGNAL SIG$V\nCMD echo $V\nENTRYPOINT [\"/bin/$V\"]\nONBUILD RUN echo $V\nCOPY --chown=$V --chmod=0$V src/$V /dst/$V\n";
    let text = text
        .replace("EXPOSE 8$V", "EXPOSE 80")
        .replace("STOPSIGNAL SIG$V", "STOPSIGNAL SIGTERM")
        .replace("--chmod=0$V", "--chmod=0755");
    let plan = plan_target(&text, &[], &BaseConfig::default());
    let c = &plan.config;
    assert_eq!(c.env, ["E=v1"]);
    assert_eq!(c.labels, [("l".to_owned(), "v1".to_owned())]);
    assert_eq!(c.user.as_deref(), Some("v1"));
    assert_eq!(c.workdir.as_deref(), Some("/srv/v1/x"));
    assert_eq!(c.exposed_ports, ["80/tcp"]);
    assert_eq!(c.volumes, ["/data/v1"]);
    assert_eq!(c.stop_signal.as_deref(), Some("SIGTERM"));
    // CMD's shell form goes to the shell unexpanded; exec form is never
    // expanded; a CMD before ENTRYPOINT in the same stage stays.
    assert_eq!(
        c.cmd,
        Setting::Set(vec!["/bin/sh".into(), "-c".into(), "echo $V".into()])
    );
    assert_eq!(c.entrypoint, Setting::Set(vec!["/bin/$V".into()]));
    assert_eq!(c.onbuild, ["RUN echo $V"]);
    let Action::Copy {
        sources,
        dest,
        chown,
        chmod,
        workdir,
        ..
    } = &plan.steps.last().unwrap().action
    else {
        panic!()
    };
    assert_eq!(sources, &[CopySource::Path("src/v1".into())]);
    assert_eq!(
        (dest.as_str(), chown.as_deref(), *chmod, workdir.as_str()),
        ("/dst/v1", Some("v1"), Some(0o755), "/srv/v1/x")
    );
}

#[test]
fn cmd_then_entrypoint_keeps_cmd_and_shell_applies() {
    let plan = plan_target(
        "FROM scratch\nSHELL [\"/bin/bash\", \"-c\"]\nCMD echo hi\nENTRYPOINT [\"/e\"]\nHEALTHCHECK --retries=2 CMD check\n",
        &[],
        &BaseConfig::default(),
    );
    assert_eq!(
        plan.config.cmd,
        Setting::Set(vec!["/bin/bash".into(), "-c".into(), "echo hi".into()])
    );
    let h = plan.config.healthcheck.as_ref().unwrap();
    assert_eq!(
        (h.test.clone(), h.options.retries),
        (vec!["CMD-SHELL".to_owned(), "check".to_owned()], Some(2))
    );
}

#[test]
fn run_commands_shell_exec_heredoc_and_script() {
    let plan = plan_target(
        "FROM scratch\nRUN echo $HOME\nRUN [\"/bin/echo\", \"$HOME\"]\nRUN cat <<EOF >/f\n$X\nEOF\nRUN <<EOF\necho script\nEOF\n",
        &[],
        &BaseConfig::default(),
    );
    let cmd = |i: usize| match &plan.steps[i].action {
        Action::Run { command, .. } => command.clone(),
        other => panic!("{other:?}"),
    };
    let argv = |v: &[&str]| RunCommand::Argv(v.iter().map(|s| s.to_string()).collect());
    assert_eq!(cmd(0), argv(&["/bin/sh", "-c", "echo $HOME"]));
    assert_eq!(cmd(1), argv(&["/bin/echo", "$HOME"]));
    // RUN here-documents reach the shell as written, unexpanded.
    assert_eq!(cmd(2), argv(&["/bin/sh", "-c", "cat <<EOF >/f\n$X\nEOF"]));
    assert_eq!(
        cmd(3),
        RunCommand::Script {
            shell: vec!["/bin/sh".into(), "-c".into()],
            body: "echo script\n".into()
        }
    );
}

#[test]
fn copy_heredocs_expand_unless_quoted() {
    let plan = plan_target(
        "FROM scratch\nARG X=ex\nCOPY <<a <<'b' /d/\nv=$X '$X'\na\nv=$X\nb\n",
        &[],
        &BaseConfig::default(),
    );
    let Action::Copy { sources, .. } = &plan.steps[1].action else {
        panic!()
    };
    assert_eq!(
        sources,
        &[
            CopySource::Inline {
                name: "a".into(),
                content: "v=ex 'ex'\n".into()
            },
            CopySource::Inline {
                name: "b".into(),
                content: "v=$X\n".into()
            },
        ]
    );
}

#[test]
fn run_mounts_and_network_are_expanded() {
    let plan = plan_target(
        "FROM scratch AS dep\nFROM scratch\nARG C=/cache N=none S=dep\nRUN --mount=type=cache,target=$C --mount=type=bind,from=$S,target=/s --network=$N true\n",
        &[],
        &BaseConfig::default(),
    );
    let Action::Run {
        mounts, network, ..
    } = &plan.steps[1].action
    else {
        panic!()
    };
    assert_eq!(
        (mounts[0].target.as_deref(), mounts[0].id.as_deref()),
        (Some("/cache"), Some("/cache"))
    );
    assert_eq!(*network, Network::None);
    assert_eq!(plan.needs, vec![0]);
}

#[test]
fn cache_keys_follow_arg_values_and_heredoc_bodies_but_never_secrets() {
    let key = |text: &str, args: &[(&str, &str)]| {
        plan_target(text, args, &BaseConfig::default())
            .steps
            .last()
            .unwrap()
            .cache_key
            .clone()
    };
    let run = "FROM scratch\nARG V\nRUN --mount=type=secret,id=tok make\n";
    assert_ne!(key(run, &[("V", "1")]), key(run, &[("V", "2")]));
    assert!(key(run, &[("V", "1")]).contains("\"V=1\""));
    assert!(key(run, &[("V", "1")]).contains("id=Some(\"tok\")"));
    let doc = |body: &str| key(&format!("FROM scratch\nCOPY <<f /f\n{body}\nf\n"), &[]);
    assert_ne!(doc("one"), doc("two"));
    assert!(doc("one").contains("one"));
}
