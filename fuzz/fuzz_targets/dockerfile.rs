//! The Dockerfile front end: any text parses or fails with a located
//! error, never a panic; whatever parses also plans without one, and every
//! instruction's text is a piece of the input at the line it claims.
#![no_main]

use chroot_distro::build::dockerfile::{parse, BaseConfig, BuildInputs, Plan};
use chroot_distro::oci::platform::Platform;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let df = match parse(&text, "Dockerfile") {
        Ok(df) => df,
        Err(e) => {
            let _ = e.to_string();
            return;
        }
    };
    let lines = text.lines().count().max(1);
    for stage in &df.stages {
        assert!(stage.span.line >= 1 && stage.span.line <= lines + 1);
        for ins in &stage.instructions {
            assert!(ins.span.line >= stage.span.line);
            assert!(text.contains(ins.text.as_str()), "{:?}", ins.text);
        }
    }
    let inputs = BuildInputs {
        build_args: vec![("A".into(), "x y".into()), ("HTTP_PROXY".into(), "p".into())],
        target_platform: Platform::linux("arm64", Some("v8")),
        build_platform: Platform::linux("amd64", None),
        target: None,
    };
    if let Ok(plan) = Plan::new(&df, &inputs) {
        let _ = plan.unused_build_args();
        for &i in &plan.order {
            let _ = plan.stage(i, &BaseConfig::default());
        }
    }
});
