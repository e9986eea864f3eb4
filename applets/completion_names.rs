//! What the bash script clap_complete generates lacks: a fix for its state
//! names under a hyphenated program name, and container names (from
//! `list -q`, the store's own listing) where a command takes a container.

use crate::report::PROG;
use crate::table::APPLETS;
use clap::Command;

/// Positional arguments that name an existing container (`container`, as
/// `cli::container_arg` makes it; `rename`'s old name; `kill`'s target).
const CONTAINER_IDS: [&str; 3] = ["container", "old", "target"];

/// clap_complete 4 names the subcommand states of `chroot-distro`
/// `chroot__distro__subcmd__X` where it sets them and
/// `chroot__subcmd__distro__subcmd__X` where it matches them, so after
/// `chroot-distro login` nothing completes. Use the first spelling
/// everywhere.
pub fn fix_state_names(script: &str) -> String {
    let set = PROG.replace('-', "__");
    let matched = PROG.replace('-', "__subcmd__");
    script.replace(&format!("{matched}__subcmd__"), &format!("{set}__subcmd__"))
}

/// How an applet's words are completed with container names.
struct Slot {
    /// The applet's name and aliases.
    names: Vec<String>,
    /// Every positional is a container (`remove a b c`), not only the first.
    all: bool,
    /// Options followed by a value, whose value is not a positional.
    value_options: Vec<String>,
}

fn slot(cmd: &Command) -> Option<Slot> {
    let first = cmd.get_positionals().next()?;
    if !CONTAINER_IDS.contains(&first.get_id().as_str()) {
        return None;
    }
    let all = first.get_num_args().is_some_and(|n| n.max_values() > 1);
    let mut value_options = Vec::new();
    for arg in cmd.get_arguments().filter(|a| !a.is_positional()) {
        if !arg.get_action().takes_values() {
            continue;
        }
        value_options.extend(
            arg.get_short_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|c| format!("-{c}")),
        );
        value_options.extend(
            arg.get_long_and_visible_aliases()
                .into_iter()
                .flatten()
                .map(|l| format!("--{l}")),
        );
    }
    let mut names = vec![cmd.get_name().to_owned()];
    names.extend(cmd.get_visible_aliases().map(str::to_owned));
    Some(Slot {
        names,
        all,
        value_options,
    })
}

/// Bash that completes container names for `chroot-distro CMD` and the
/// `cd-CMD` links, and hands every other word to clap's functions.
/// `top` is the whole tree (its subcommands carry the aliases).
pub fn bash_names(top: &Command) -> String {
    let mut specs = String::new();
    for cmd in top.get_subcommands() {
        if let Some(s) = slot(cmd) {
            let mode = if s.all { "all" } else { "first" };
            specs.push_str(&format!(
                "        {}) echo \"{mode} {}\" ;;\n",
                s.names.join("|"),
                s.value_options.join(" ")
            ));
        }
    }
    let mut programs = vec![PROG.to_owned()];
    programs.extend(APPLETS.iter().map(|a| a.link_name()));
    format!(
        r#"
# Container names for commands that take one (added by chroot-distro).
_chroot_distro_slot() {{
    case "$1" in
{specs}        *) return 1 ;;
    esac
}}

_chroot_distro_complete() {{
    local prog=${{1##*/}} cur=${{COMP_WORDS[COMP_CWORD]}} sub= start=1 i
    if [[ $prog == {PROG} ]]; then
        for ((i = 1; i < COMP_CWORD; i++)); do
            if [[ ${{COMP_WORDS[i]}} != -* ]]; then sub=${{COMP_WORDS[i]}}; start=$((i + 1)); break; fi
        done
    else
        sub=${{prog#cd-}}
    fi
    local spec
    if [[ -n $sub && $cur != -* ]] && spec=$(_chroot_distro_slot "$sub"); then
        local mode=${{spec%% *}} value_opts=" ${{spec#* }} " seen=0 skip=false w
        for ((i = start; i < COMP_CWORD; i++)); do
            w=${{COMP_WORDS[i]}}
            if $skip; then skip=false; continue; fi
            [[ $w == -- ]] && seen=99 && break
            if [[ $w == -* ]]; then
                [[ $value_opts == *" $w "* ]] && skip=true
                continue
            fi
            seen=$((seen + 1))
        done
        if ! $skip && {{ [[ $mode == all ]] && ((seen < 99)) || ((seen == 0)); }}; then
            COMPREPLY=($(compgen -W "$({PROG} list -q 2>/dev/null)" -- "$cur"))
            return 0
        fi
    fi
    local f=_${{prog//-/__}}
    "$f" "$@"
}}

complete -F _chroot_distro_complete -o bashdefault -o default {}
"#,
        programs.join(" ")
    )
}

/// The same for fish: a condition function that says whether the word
/// being completed is a container, and one `complete` line per applet, for
/// `chroot-distro NAME|ALIAS` and for its `cd-NAME` link.
pub fn fish_names(top: &Command) -> String {
    let mut out = String::from(FISH_SLOT);
    let names = format!("-f -a \"({PROG} list -q 2>/dev/null)\"");
    for cmd in top.get_subcommands() {
        let Some(s) = slot(cmd) else { continue };
        let mode = if s.all { "all" } else { "first" };
        let test = format!(
            "__chroot_distro_container_slot {mode} {}",
            s.value_options.join(" ")
        );
        let test = test.trim_end();
        out.push_str(&format!(
            "complete -c {PROG} -n \"__fish_chroot_distro_using_subcommand {}; and {test}\" {names}\n",
            s.names.join(" ")
        ));
        out.push_str(&format!(
            "complete -c cd-{} -n \"{test}\" {names}\n",
            cmd.get_name()
        ));
    }
    out
}

/// `__chroot_distro_container_slot MODE VALUE_OPTIONS...`: true when the
/// word being completed is the command's first positional (MODE `first`)
/// or any of them (`all`), not the value of an option nor after `--`.
const FISH_SLOT: &str = r#"
# Container names for commands that take one (added by chroot-distro).
function __chroot_distro_container_slot
    set -l mode $argv[1]
    set -l value_opts $argv[2..-1]
    set -l words (commandline -opc)
    set -l n (count $words)
    set -l i 2
    if test (basename -- $words[1]) = chroot-distro
        while test $i -le $n; and string match -q -- '-*' $words[$i]
            set i (math $i + 1)
        end
        set i (math $i + 1)
    end
    set -l seen 0
    set -l skip 0
    while test $i -le $n
        set -l w $words[$i]
        set i (math $i + 1)
        if test $skip = 1
            set skip 0
            continue
        end
        test "$w" = --; and return 1
        if string match -q -- '-*' $w
            contains -- $w $value_opts; and set skip 1
            continue
        end
        set seen (math $seen + 1)
    end
    test $skip = 0; or return 1
    test $mode = all; or test $seen = 0
end
"#;
