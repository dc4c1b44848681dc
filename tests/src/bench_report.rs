//! BENCHMARKS.md sections written by the benchmarks themselves: each owns the text between its
//! markers (`<!-- bench:NAME -->` … `<!-- /bench:NAME -->`); everything outside them is left as
//! it is.

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
