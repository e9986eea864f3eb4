//! What registry failures mean to the user: the registry's own words from
//! an error body, kept short.

/// The registry's own words from an error body (`{"errors":[{"code",
/// "message"}]}`), else its first line, kept short.
pub(super) fn registry_message(body: &str) -> String {
    if let Ok(v) = serde_json::from_str::<serde_json::Value>(body) {
        if let Some(e) = v["errors"].get(0) {
            return format!(
                " ({}: {})",
                e["code"].as_str().unwrap_or("ERROR"),
                e["message"].as_str().unwrap_or("no message")
            );
        }
    }
    let line: String = body
        .lines()
        .next()
        .unwrap_or_default()
        .chars()
        .take(160)
        .collect();
    if line.trim().is_empty() {
        String::new()
    } else {
        format!(" ({})", line.trim())
    }
}
