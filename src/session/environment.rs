//! The guest environment, built from scratch: the host's is never carried
//! over except for the variables named here.
//!
//! Levels, later ones winning:
//!
//! 1. baseline `PATH`, `MOZ_FAKE_NO_SANDBOX=1`, `PULSE_SERVER` (Termux);
//! 2. the image's `Env`, minus display and GPU variables;
//! 3. Android system variables (Termux, not isolated);
//! 4. `HOME`, `USER`, `LOGNAME`, `TERM`, `COLORTERM`, `HOSTNAME`;
//! 5. display variables (`--shared-display`);
//! 6. GPU variables;
//! 7. `--env`, last: an explicit request always wins, as in chroot-distro
//!    3.2 (whose `apply_user_env` runs last) and Docker. The reference
//!    README (2.4.1) listed the account and terminal variables after
//!    `--env`; 3.2 no longer does, and the differential test holds us to
//!    3.2 (issue 15).
//!
//! `--minimal` exports only `TERM`/`COLORTERM` and `--env`. On Termux (not
//! isolated, not minimal) `$PREFIX/bin` is appended to the final `PATH`.

use super::{Error, GuestUser};
use crate::env::EnvSnapshot;
use crate::termux::Termux;

/// The baseline `PATH`.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Set only by display sharing; never taken from an image.
pub const DISPLAY_VARS: [&str; 9] = [
    "DISPLAY",
    "XAUTHORITY",
    "XDG_RUNTIME_DIR",
    "WAYLAND_DISPLAY",
    "XDG_SESSION_TYPE",
    "XDG_CURRENT_DESKTOP",
    "DESKTOP_SESSION",
    "PULSE_SERVER",
    "DBUS_SESSION_BUS_ADDRESS",
];

/// Set only by GPU detection; never taken from an image.
pub const GPU_VARS: [&str; 5] = [
    "__NV_PRIME_RENDER_OFFLOAD",
    "__GLX_VENDOR_LIBRARY_NAME",
    "GALLIUM_DRIVER",
    "MESA_D3D12_DEFAULT_DEVICE_TYPE",
    "LIBGL_ALWAYS_SOFTWARE",
];

/// Android system variables passed through on Termux. [`EnvSnapshot`]
/// cannot be enumerated, so the `ANDROID_*` ones are those Android's init
/// and Termux set.
pub const ANDROID_VARS: [&str; 13] = [
    "ANDROID_ART_ROOT",
    "ANDROID_ASSETS",
    "ANDROID_DATA",
    "ANDROID_I18N_ROOT",
    "ANDROID_ROOT",
    "ANDROID_RUNTIME_ROOT",
    "ANDROID_STORAGE",
    "ANDROID_TZDATA_ROOT",
    "ANDROID_BOOTLOGO",
    "BOOTCLASSPATH",
    "DEX2OATBOOTCLASSPATH",
    "SYSTEMSERVERCLASSPATH",
    "EXTERNAL_STORAGE",
];

const DEFAULT_TERM: &str = "xterm-256color";

/// Everything the guest environment depends on, gathered by the caller.
#[derive(Debug, Clone)]
pub struct EnvInputs<'a> {
    pub host: &'a EnvSnapshot,
    /// Termux, when the host is Termux.
    pub termux: Option<&'a Termux>,
    /// The image config's `Env` (`VAR=VALUE` strings, untrusted).
    pub image_env: &'a [String],
    /// `--env` entries, already parsed by [`parse_env_arg`], in order.
    pub user_env: &'a [(String, String)],
    pub user: &'a GuestUser,
    /// `--hostname`, or the container name.
    pub hostname: &'a str,
    pub isolated: bool,
    pub minimal: bool,
    /// Display variables when `--shared-display` is active, else empty.
    pub display: Vec<(String, String)>,
    /// GPU variables when a GPU was detected, else empty.
    pub gpu: Vec<(String, String)>,
}

/// The `--env` entries `CD_ENV` holds: one `VAR=VALUE` per line, blank
/// lines and lines without `=` skipped, as chroot-distro 3.2 reads it. They
/// go before the command line's `--env`, so a `-e` of the same name wins.
pub fn cd_env_entries(raw: &str) -> Vec<String> {
    raw.lines()
        .map(str::trim)
        .filter(|l| l.contains('='))
        .map(str::to_owned)
        .collect()
}

/// Parses one `--env VAR=VALUE`. The value may be empty or contain `=`;
/// the name may not be empty or contain whitespace.
pub fn parse_env_arg(arg: &str) -> Result<(String, String), Error> {
    split_assignment(arg).ok_or_else(|| Error::InvalidEnv(arg.to_owned()))
}

fn split_assignment(s: &str) -> Option<(String, String)> {
    let (name, value) = s.split_once('=')?;
    let bad_name = name.is_empty() || name.contains(|c: char| c.is_whitespace() || c == '\0');
    if bad_name || value.contains('\0') {
        return None;
    }
    Some((name.to_owned(), value.to_owned()))
}

/// The guest environment, ordered and without duplicates. A variable keeps
/// the position where it was first set and the value of the last level
/// that set it.
pub fn build_env(inputs: &EnvInputs) -> Vec<(String, String)> {
    let mut env = Env::default();
    if inputs.minimal {
        set_terminal(&mut env, inputs.host);
        env.extend(inputs.user_env.iter().cloned());
        return env.0;
    }
    let termux = inputs.termux;
    let android = termux.filter(|_| !inputs.isolated);
    // 1. Baseline.
    env.set("PATH", DEFAULT_PATH);
    env.set("MOZ_FAKE_NO_SANDBOX", "1");
    if termux.is_some() {
        env.set("PULSE_SERVER", "127.0.0.1");
    }
    // 2. Image Env; malformed entries of the untrusted image are skipped.
    let blocked = |k: &str| DISPLAY_VARS.contains(&k) || GPU_VARS.contains(&k);
    env.extend(
        inputs
            .image_env
            .iter()
            .filter_map(|e| split_assignment(e))
            .filter(|(k, _)| !blocked(k)),
    );
    // 3. Android system variables.
    if android.is_some() {
        for key in ANDROID_VARS {
            if let Some(value) = inputs.host.get(key) {
                env.set(key, value);
            }
        }
    }
    // 4. Account and terminal.
    let user = inputs.user;
    env.set("HOME", user.home.to_string_lossy());
    env.set("USER", &user.name);
    env.set("LOGNAME", &user.name);
    set_terminal(&mut env, inputs.host);
    env.set("HOSTNAME", inputs.hostname);
    // 5. Display (never under --isolated, which binds no host sockets).
    if !inputs.isolated {
        env.extend(inputs.display.iter().cloned());
    }
    // 6. GPU.
    env.extend(inputs.gpu.iter().cloned());
    // 7. --env.
    env.extend(inputs.user_env.iter().cloned());
    if let Some(t) = android {
        let bin = t.prefix.join("bin");
        env.append_path(&bin.to_string_lossy());
    }
    env.0
}

fn set_terminal(env: &mut Env, host: &EnvSnapshot) {
    env.set("TERM", host.get("TERM").as_deref().unwrap_or(DEFAULT_TERM));
    if let Some(c) = host.get("COLORTERM") {
        env.set("COLORTERM", c);
    }
}

/// An insertion-ordered map; small enough that a linear search is fine.
#[derive(Default)]
struct Env(Vec<(String, String)>);

impl Env {
    fn set(&mut self, key: &str, value: impl AsRef<str>) {
        let value = value.as_ref().to_owned();
        match self.0.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.to_owned(), value)),
        }
    }

    fn extend(&mut self, pairs: impl IntoIterator<Item = (String, String)>) {
        for (k, v) in pairs {
            self.set(&k, v);
        }
    }

    /// Appends `dir` to `PATH` unless it is already one of its entries.
    fn append_path(&mut self, dir: &str) {
        let path = match self.0.iter().find(|(k, _)| k == "PATH") {
            Some((_, p)) if p.split(':').any(|d| d == dir) => return,
            Some((_, p)) if !p.is_empty() => format!("{p}:{dir}"),
            _ => dir.to_owned(),
        };
        self.set("PATH", path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn get<'e>(env: &'e [(String, String)], key: &str) -> Option<&'e str> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }

    fn alice() -> GuestUser {
        GuestUser {
            uid: 1000,
            gid: 1000,
            name: "alice".into(),
            home: PathBuf::from("/home/alice"),
            shell: None,
            groups: Vec::new(),
        }
    }

    struct Case {
        host: EnvSnapshot,
        termux: Option<Termux>,
        image: Vec<String>,
        user_env: Vec<(String, String)>,
        user: GuestUser,
        isolated: bool,
        minimal: bool,
        display: Vec<(String, String)>,
        gpu: Vec<(String, String)>,
    }

    impl Case {
        fn new() -> Self {
            Self {
                host: EnvSnapshot::from_pairs([("TERM", "screen"), ("SECRET", "host-only")]),
                termux: None,
                image: Vec::new(),
                user_env: Vec::new(),
                user: alice(),
                isolated: false,
                minimal: false,
                display: Vec::new(),
                gpu: Vec::new(),
            }
        }

        fn termux(mut self) -> Self {
            let host = EnvSnapshot::from_pairs([
                ("TERMUX_VERSION", "0.118"),
                ("TERMUX__PREFIX", "/data/data/com.termux/files/usr"),
                ("ANDROID_ROOT", "/system"),
                ("ANDROID_DATA", "/data"),
                ("BOOTCLASSPATH", "/apex/a.jar"),
                ("EXTERNAL_STORAGE", "/sdcard"),
                ("ANDROID_UNLISTED_SECRET", "x"),
            ]);
            self.termux = Termux::detect(&host);
            self.host = host;
            self
        }

        fn build(&self) -> Vec<(String, String)> {
            build_env(&EnvInputs {
                host: &self.host,
                termux: self.termux.as_ref(),
                image_env: &self.image,
                user_env: &self.user_env,
                user: &self.user,
                hostname: "deb",
                isolated: self.isolated,
                minimal: self.minimal,
                display: self.display.clone(),
                gpu: self.gpu.clone(),
            })
        }
    }

    #[test]
    fn plain_linux_defaults() {
        let env = Case::new().build();
        assert_eq!(
            env,
            pairs(&[
                ("PATH", DEFAULT_PATH),
                ("MOZ_FAKE_NO_SANDBOX", "1"),
                ("HOME", "/home/alice"),
                ("USER", "alice"),
                ("LOGNAME", "alice"),
                ("TERM", "screen"),
                ("HOSTNAME", "deb"),
            ])
        );
    }

    #[test]
    fn term_defaults_and_colorterm_only_when_set() {
        let mut c = Case::new();
        c.host = EnvSnapshot::from_pairs([("TERM", "")]);
        let env = c.build();
        assert_eq!(get(&env, "TERM"), Some("xterm-256color"));
        assert_eq!(get(&env, "COLORTERM"), None);
        c.host = EnvSnapshot::from_pairs([("COLORTERM", "truecolor")]);
        assert_eq!(get(&c.build(), "COLORTERM"), Some("truecolor"));
    }

    #[test]
    fn level2_image_env_overrides_baseline_but_not_display_or_gpu() {
        let mut c = Case::new();
        c.image = vec![
            "PATH=/opt/bin:/bin".into(),
            "LANG=C.UTF-8".into(),
            "EMPTY=".into(),
            "DISPLAY=:99".into(),
            "__NV_PRIME_RENDER_OFFLOAD=1".into(),
            "MALFORMED".into(),
            "=novalue".into(),
            "A=b=c".into(),
        ];
        let env = c.build();
        assert_eq!(get(&env, "PATH"), Some("/opt/bin:/bin"));
        assert_eq!(get(&env, "LANG"), Some("C.UTF-8"));
        assert_eq!(get(&env, "EMPTY"), Some(""));
        assert_eq!(get(&env, "A"), Some("b=c"));
        assert_eq!(get(&env, "DISPLAY"), None);
        assert_eq!(get(&env, "__NV_PRIME_RENDER_OFFLOAD"), None);
        assert_eq!(get(&env, "MALFORMED"), None);
        assert!(env.iter().all(|(k, _)| !k.is_empty()));
    }

    #[test]
    fn level3_android_vars_override_image_on_termux_only() {
        let mut c = Case::new().termux();
        c.image = vec!["ANDROID_ROOT=/image".into()];
        let env = c.build();
        assert_eq!(get(&env, "ANDROID_ROOT"), Some("/system"));
        assert_eq!(get(&env, "BOOTCLASSPATH"), Some("/apex/a.jar"));
        assert_eq!(get(&env, "EXTERNAL_STORAGE"), Some("/sdcard"));
        assert_eq!(get(&env, "ANDROID_UNLISTED_SECRET"), None);
        assert_eq!(get(&env, "PULSE_SERVER"), Some("127.0.0.1"));
        c.isolated = true;
        let env = c.build();
        assert_eq!(get(&env, "ANDROID_ROOT"), Some("/image"));
        assert_eq!(get(&env, "BOOTCLASSPATH"), None);
        // Not Termux: the same host variables are not passed.
        let mut linux = Case::new();
        linux.host = c.host.clone();
        assert_eq!(get(&linux.build(), "ANDROID_DATA"), None);
        assert_eq!(get(&linux.build(), "PULSE_SERVER"), None);
    }

    #[test]
    fn user_env_overrides_baseline_image_and_android() {
        let mut c = Case::new().termux();
        c.image = vec!["LANG=C".into()];
        c.user_env = pairs(&[
            ("LANG", "de_DE.UTF-8"),
            ("ANDROID_DATA", "/mine"),
            ("MOZ_FAKE_NO_SANDBOX", "0"),
            ("PATH", "/custom"),
        ]);
        let env = c.build();
        assert_eq!(get(&env, "LANG"), Some("de_DE.UTF-8"));
        assert_eq!(get(&env, "ANDROID_DATA"), Some("/mine"));
        assert_eq!(get(&env, "MOZ_FAKE_NO_SANDBOX"), Some("0"));
        // Termux's bin is appended even to a --env PATH.
        assert_eq!(
            get(&env, "PATH"),
            Some("/custom:/data/data/com.termux/files/usr/bin")
        );
    }

    #[test]
    fn user_env_wins_over_account_terminal_and_hostname() {
        let mut c = Case::new();
        c.image = vec!["HOME=/image".into(), "HOSTNAME=image".into()];
        let env = c.build();
        assert_eq!(get(&env, "HOME"), Some("/home/alice"));
        assert_eq!(get(&env, "HOSTNAME"), Some("deb"));
        c.user_env = pairs(&[
            ("HOME", "/tmp"),
            ("USER", "u"),
            ("LOGNAME", "l"),
            ("TERM", "dumb"),
            ("HOSTNAME", "mine"),
        ]);
        let env = c.build();
        assert_eq!(get(&env, "HOME"), Some("/tmp"));
        assert_eq!(get(&env, "USER"), Some("u"));
        assert_eq!(get(&env, "LOGNAME"), Some("l"));
        assert_eq!(get(&env, "TERM"), Some("dumb"));
        assert_eq!(get(&env, "HOSTNAME"), Some("mine"));
    }

    #[test]
    fn level5_display_overrides_lower_levels_and_yields_to_user_env() {
        let mut c = Case::new().termux();
        c.display = pairs(&[
            ("DISPLAY", ":0"),
            ("PULSE_SERVER", "unix:/run/user/1000/pulse/native"),
        ]);
        let env = c.build();
        assert_eq!(get(&env, "DISPLAY"), Some(":0"));
        // Display's PULSE_SERVER replaces Termux's baseline one.
        assert_eq!(
            get(&env, "PULSE_SERVER"),
            Some("unix:/run/user/1000/pulse/native")
        );
        c.user_env = pairs(&[("DISPLAY", ":5")]);
        assert_eq!(get(&c.build(), "DISPLAY"), Some(":5"));
        c.user_env.clear();
        c.isolated = true;
        assert_eq!(get(&c.build(), "DISPLAY"), None);
    }

    #[test]
    fn level6_gpu_is_set_and_yields_to_user_env() {
        let mut c = Case::new();
        c.gpu = pairs(&[
            ("__NV_PRIME_RENDER_OFFLOAD", "1"),
            ("__GLX_VENDOR_LIBRARY_NAME", "nvidia"),
        ]);
        let env = c.build();
        assert_eq!(get(&env, "__NV_PRIME_RENDER_OFFLOAD"), Some("1"));
        c.user_env = pairs(&[("__GLX_VENDOR_LIBRARY_NAME", "mesa")]);
        let env = c.build();
        assert_eq!(get(&env, "__GLX_VENDOR_LIBRARY_NAME"), Some("mesa"));
        assert_eq!(get(&env, "__NV_PRIME_RENDER_OFFLOAD"), Some("1"));
    }

    #[test]
    fn minimal_has_only_terminal_and_user_env() {
        let mut c = Case::new().termux();
        c.minimal = true;
        c.image = vec!["LANG=C".into()];
        c.user_env = pairs(&[("FOO", "bar"), ("TERM", "dumb")]);
        c.display = pairs(&[("DISPLAY", ":0")]);
        c.gpu = pairs(&[("GALLIUM_DRIVER", "d3d12")]);
        c.host.set("COLORTERM", "truecolor");
        let env = c.build();
        assert_eq!(
            env,
            pairs(&[("TERM", "dumb"), ("COLORTERM", "truecolor"), ("FOO", "bar")])
        );
    }

    #[test]
    fn cd_env_is_one_entry_per_line() {
        assert_eq!(
            cd_env_entries("A=1\n\n  B=two words \nNOEQ\nC=x=y\n"),
            ["A=1", "B=two words", "C=x=y"]
        );
        assert!(cd_env_entries("").is_empty());
    }

    #[test]
    fn termux_path_append() {
        let env = Case::new().termux().build();
        let expected = format!("{DEFAULT_PATH}:/data/data/com.termux/files/usr/bin");
        assert_eq!(get(&env, "PATH"), Some(expected.as_str()));
        // Not twice when the image already has it.
        let mut c = Case::new().termux();
        c.image = vec!["PATH=/data/data/com.termux/files/usr/bin:/bin".into()];
        assert_eq!(
            get(&c.build(), "PATH"),
            Some("/data/data/com.termux/files/usr/bin:/bin")
        );
        // Isolated: no append.
        let mut c = Case::new().termux();
        c.isolated = true;
        assert_eq!(get(&c.build(), "PATH"), Some(DEFAULT_PATH));
    }

    #[test]
    fn host_environment_is_not_carried_over() {
        let env = Case::new().build();
        assert_eq!(get(&env, "SECRET"), None);
    }

    #[test]
    fn duplicates_keep_first_position_and_last_value() {
        let mut c = Case::new();
        c.user_env = pairs(&[("X", "1"), ("Y", "2"), ("X", "3")]);
        let env = c.build();
        let keys: Vec<&str> = env.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys.iter().filter(|k| **k == "X").count(), 1);
        assert!(keys.iter().position(|k| *k == "X") < keys.iter().position(|k| *k == "Y"));
        assert_eq!(get(&env, "X"), Some("3"));
    }

    #[test]
    fn parse_env_arg_rules() {
        assert_eq!(
            parse_env_arg("A=b=c").unwrap(),
            ("A".to_string(), "b=c".to_string())
        );
        assert_eq!(
            parse_env_arg("EMPTY=").unwrap(),
            ("EMPTY".to_string(), String::new())
        );
        for bad in ["NOEQUALS", "=value", "A B=c", "", "A\0=b"] {
            assert!(
                matches!(parse_env_arg(bad), Err(Error::InvalidEnv(_))),
                "{bad:?}"
            );
        }
    }
}
