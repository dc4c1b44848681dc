//! What the benchmarks share: the BENCHMARKS.md sections they write themselves (each owns the
//! text between its markers, `<!-- bench:NAME -->` … `<!-- /bench:NAME -->`; everything outside
//! them is left as it is), and the facts about the machine each report states.

use std::path::Path;

/// Replaces the body of section `name` in `file`, appending the section when it is missing.
pub fn write_section(file: &Path, name: &str, body: &str) {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    std::fs::write(file, replace_section(&text, name, body))
        .unwrap_or_else(|e| panic!("{}: {e}", file.display()));
}

/// `text` with the body of section `name` replaced (the section appended when it is missing).
pub fn replace_section(text: &str, name: &str, body: &str) -> String {
    let (open, close) = (
        format!("<!-- bench:{name} -->"),
        format!("<!-- /bench:{name} -->"),
    );
    let section = format!("{open}\n{body}{close}");
    match (text.find(&open), text.find(&close)) {
        (Some(start), Some(end)) if start < end => {
            format!("{}{section}{}", &text[..start], &text[end + close.len()..])
        }
        _ => format!("{}\n{section}\n", text.trim_end()),
    }
}

/// The 1-minute load average (`/proc/loadavg`), `?` where there is none: benchmarks print it
/// before and after their runs, since this machine is shared.
pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".to_owned())
}

/// The whole number in environment variable `name` (`_` separators allowed), else `default`.
pub fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.replace('_', "").parse().ok())
        .unwrap_or(default)
}

/// The server's `version()` up to its build platform, e.g. `PostgreSQL 15.20 (Debian ...)`.
pub async fn server_version(url: &str) -> String {
    use sqlx::{Connection, Executor, Row};
    let mut conn = sqlx::PgConnection::connect(url)
        .await
        .unwrap_or_else(|e| panic!("connect for version(): {e}"));
    let version: String = conn
        .fetch_one("SELECT version()")
        .await
        .unwrap_or_else(|e| panic!("SELECT version(): {e}"))
        .get(0);
    conn.close().await.ok();
    version.split(" on ").next().unwrap_or(&version).to_owned()
}

/// `target/<profile>`: a benchmark's executable lives in its `deps/`.
pub fn profile_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("benchmark executable");
    exe.parent()
        .and_then(Path::parent)
        .expect("target/<profile>/deps/<bench>")
        .to_owned()
}

/// Runs a benchmark's `main` future on a multi-threaded runtime.
pub fn block_on(bench: impl std::future::Future<Output = ()>) {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("runtime")
        .block_on(bench);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_text_between_the_markers_changes() {
        let text = "# B\n\nbefore\n<!-- bench:x -->\nold\n<!-- /bench:x -->\nafter\n";
        assert_eq!(
            replace_section(text, "x", "new\n"),
            "# B\n\nbefore\n<!-- bench:x -->\nnew\n<!-- /bench:x -->\nafter\n"
        );
    }

    #[test]
    fn a_missing_section_is_appended() {
        assert_eq!(
            replace_section("# B\n\n", "y", "body\n"),
            "# B\n<!-- bench:y -->\nbody\n<!-- /bench:y -->\n"
        );
    }
}
