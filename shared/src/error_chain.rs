//! One line for an error and its causes, for reports, logs and exit messages.

/// `error: cause: root cause`, skipping a cause whose text the outer message already contains
/// (the SDK's errors often repeat their source).
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        let next = c.to_string();
        if !text.contains(&next) {
            text = format!("{text}: {next}");
        }
        cause = c.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("outer {id}")]
    struct Outer {
        id: &'static str,
        #[source]
        source: std::io::Error,
    }

    #[test]
    fn joins_causes_and_skips_repeats() {
        let err = Outer {
            id: "x",
            source: std::io::Error::other("root"),
        };
        assert_eq!(chain(&err), "outer x: root");
        let repeated = Outer {
            id: "root",
            source: std::io::Error::other("root"),
        };
        assert_eq!(
            chain(&repeated),
            "outer root",
            "a cause already in the message is not repeated"
        );
    }
}
