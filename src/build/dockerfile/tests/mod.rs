//! Tables of Dockerfile snippets and what they must give.

mod errors;
mod expansion;
mod parsing;
mod planning;

use super::*;
use crate::oci::platform::Platform;

fn parse_ok(text: &str) -> Dockerfile {
    match parse(text, "Dockerfile") {
        Ok(df) => df,
        Err(e) => panic!("{text:?} did not parse: {e}"),
    }
}

fn parse_err(text: &str) -> DockerfileError {
    match parse(text, "Dockerfile") {
        Ok(df) => panic!("{text:?} parsed: {df:?}"),
        Err(e) => e,
    }
}

/// The instructions of the last stage.
fn last_kinds(text: &str) -> Vec<Kind> {
    let df = parse_ok(text);
    let stage = df.stages.last().expect("a stage");
    stage.instructions.iter().map(|i| i.kind.clone()).collect()
}

fn inputs(build_args: &[(&str, &str)], target: Option<&str>) -> BuildInputs {
    BuildInputs {
        build_args: build_args
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        target_platform: Platform::linux("arm64", Some("v8")),
        build_platform: Platform::linux("amd64", None),
        target: target.map(str::to_owned),
    }
}

/// The target stage planned over `base`, with `args`.
fn plan_target(text: &str, args: &[(&str, &str)], base: &BaseConfig) -> StagePlan {
    let df = parse_ok(text);
    let inputs = inputs(args, None);
    let plan = Plan::new(&df, &inputs).unwrap_or_else(|e| panic!("plan: {e}"));
    plan.stage(plan.target, base)
        .unwrap_or_else(|e| panic!("stage: {e}"))
}

fn plan_err(text: &str, args: &[(&str, &str)]) -> DockerfileError {
    let df = parse_ok(text);
    let inputs = inputs(args, None);
    let plan = match Plan::new(&df, &inputs) {
        Ok(p) => p,
        Err(e) => return e,
    };
    match plan.stage(plan.target, &BaseConfig::default()) {
        Ok(s) => panic!("{text:?} planned: {s:?}"),
        Err(e) => e,
    }
}

fn env_of(plan: &StagePlan) -> Vec<String> {
    plan.env.clone()
}

fn run_env(step: &Step) -> Vec<(String, String)> {
    match &step.action {
        Action::Run { env, .. } => env.clone(),
        other => panic!("not a RUN: {other:?}"),
    }
}
