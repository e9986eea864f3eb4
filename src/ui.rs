//! Presentation helpers shared by the applets: colour policy, sizes, tables.

use crate::env::EnvSnapshot;

/// Colours are used only on a terminal, and never when `NO_COLOR` (any
/// value, per no-color.org) or `CD_FORCE_NO_COLORS` is set.
pub fn colors_enabled(env: &EnvSnapshot, is_tty: bool) -> bool {
    is_tty && !env.is_set("NO_COLOR") && !env.is_set("CD_FORCE_NO_COLORS")
}

/// Terminal width for help and tables: the terminal's own width, else
/// `COLUMNS`, else 80.
pub fn term_width(env: &EnvSnapshot, tty_width: Option<usize>) -> usize {
    tty_width
        .or_else(|| env.get("COLUMNS")?.trim().parse().ok())
        .filter(|w| *w >= 20)
        .unwrap_or(80)
}

/// Sizes in IEC units, one decimal below 10 (`512 B`, `4.0 KiB`, `131 MiB`).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 6] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    if bytes < 1024 {
        return format!("{bytes} B");
    }
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1024.0 && unit < UNITS.len() - 1 {
        value /= 1024.0;
        unit += 1;
    }
    if value < 10.0 {
        format!("{value:.1} {}", UNITS[unit])
    } else {
        format!("{value:.0} {}", UNITS[unit])
    }
}

/// ANSI styling that collapses to plain text when colours are off.
#[derive(Debug, Clone, Copy)]
pub struct Style {
    pub color: bool,
}

impl Style {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }
    pub fn bold(&self, t: &str) -> String {
        self.paint("1", t)
    }
    pub fn red(&self, t: &str) -> String {
        self.paint("1;31", t)
    }
    pub fn yellow(&self, t: &str) -> String {
        self.paint("33", t)
    }
    pub fn green(&self, t: &str) -> String {
        self.paint("32", t)
    }
    pub fn dim(&self, t: &str) -> String {
        self.paint("2", t)
    }
}

/// Renders rows as left-aligned columns separated by two spaces; the last
/// column is not padded (so lines carry no trailing blanks).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let cols = header.len();
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (i, cell) in row.iter().enumerate().take(cols) {
            widths[i] = widths[i].max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = header.iter().map(|s| (*s).to_owned()).collect();
    for row in std::iter::once(&header).chain(rows) {
        let mut line = String::new();
        for (i, cell) in row.iter().enumerate().take(cols) {
            if i + 1 == cols {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = widths[i] - cell.chars().count() + 2;
                line.extend(std::iter::repeat_n(' ', pad));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(human_size(0), "0 B");
        assert_eq!(human_size(1023), "1023 B");
        assert_eq!(human_size(4096), "4.0 KiB");
        assert_eq!(human_size(131 * 1024 * 1024), "131 MiB");
        assert_eq!(human_size(3 * 1024 * 1024 * 1024 / 2), "1.5 GiB");
    }

    #[test]
    fn color_policy() {
        let none = EnvSnapshot::default();
        assert!(colors_enabled(&none, true));
        assert!(!colors_enabled(&none, false));
        let nc = EnvSnapshot::from_pairs([("NO_COLOR", "")]);
        assert!(!colors_enabled(&nc, true));
        let cd = EnvSnapshot::from_pairs([("CD_FORCE_NO_COLORS", "1")]);
        assert!(!colors_enabled(&cd, true));
    }

    #[test]
    fn width_fallbacks() {
        let env = EnvSnapshot::from_pairs([("COLUMNS", "132")]);
        assert_eq!(term_width(&env, Some(90)), 90);
        assert_eq!(term_width(&env, None), 132);
        assert_eq!(term_width(&EnvSnapshot::default(), None), 80);
        let bad = EnvSnapshot::from_pairs([("COLUMNS", "x")]);
        assert_eq!(term_width(&bad, None), 80);
    }

    #[test]
    fn table_layout() {
        let t = table(
            &["NAME", "SIZE", "STATUS"],
            &[vec!["deb".into(), "10 MiB".into(), "idle".into()]],
        );
        assert_eq!(t, "NAME  SIZE    STATUS\ndeb   10 MiB  idle\n");
    }
}
