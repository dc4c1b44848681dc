//! Typed access to a positioned YAML tree that records errors instead of stopping at the first.
//!
//! Every accessor returns `Option`: `None` means "this part is wrong, an error was recorded",
//! and the caller carries on with the next part so the user sees all mistakes at once.

use super::node::{Key, Node, Pos, Value};

/// Collects `(position, message)` pairs while a document is walked.
#[derive(Default)]
pub struct Walker {
    pub errors: Vec<(Pos, String)>,
}

/// The entries of one mapping, after unknown and duplicate keys were reported.
pub struct Fields<'n> {
    pub pos: Pos,
    entries: Vec<(&'n Key, &'n Node)>,
}

impl<'n> Fields<'n> {
    pub fn get(&self, name: &str) -> Option<&'n Node> {
        self.entries
            .iter()
            .find(|(k, _)| k.name == name)
            .map(|(_, v)| *v)
    }

    pub fn has(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

impl Walker {
    pub fn error(&mut self, pos: Pos, message: impl Into<String>) {
        self.errors.push((pos, message.into()));
    }

    /// A mapping whose keys must all be in `allowed`. `what` names it in messages.
    pub fn fields<'n>(
        &mut self,
        node: &'n Node,
        what: &str,
        allowed: &[&str],
    ) -> Option<Fields<'n>> {
        let Value::Map(entries) = &node.value else {
            self.error(
                node.pos,
                format!("{what} must be a mapping, found {}", node.value.kind()),
            );
            return None;
        };
        let mut kept: Vec<(&Key, &Node)> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            if !allowed.contains(&key.name.as_str()) {
                let expected = allowed.join(", ");
                self.error(
                    key.pos,
                    format!(
                        "unknown key `{}` in {what} (expected one of: {expected})",
                        key.name
                    ),
                );
            } else if kept.iter().any(|(k, _)| k.name == key.name) {
                self.error(key.pos, format!("duplicate key `{}` in {what}", key.name));
            } else {
                kept.push((key, value));
            }
        }
        Some(Fields {
            pos: node.pos,
            entries: kept,
        })
    }

    /// A key that must be present.
    pub fn required<'n>(
        &mut self,
        fields: &Fields<'n>,
        name: &str,
        what: &str,
    ) -> Option<&'n Node> {
        let found = fields.get(name);
        if found.is_none() {
            self.error(fields.pos, format!("missing key `{name}` in {what}"));
        }
        found
    }

    /// A non-empty scalar string.
    pub fn string(&mut self, node: &Node, what: &str) -> Option<String> {
        match &node.value {
            Value::Scalar(s) if !s.trim().is_empty() => Some(s.clone()),
            Value::Scalar(_) | Value::Null => {
                self.error(node.pos, format!("{what} must not be empty"));
                None
            }
            other => {
                self.error(
                    node.pos,
                    format!("{what} must be a string, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A scalar run through `parse`, whose error message is recorded at the node.
    pub fn parsed<T>(
        &mut self,
        node: &Node,
        what: &str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Option<T> {
        let text = self.string(node, what)?;
        parse(&text).map_err(|msg| self.error(node.pos, msg)).ok()
    }

    /// `true` or `false`.
    pub fn boolean(&mut self, node: &Node, what: &str) -> Option<bool> {
        self.parsed(node, what, |s| match s {
            "true" => Ok(true),
            "false" => Ok(false),
            other => Err(format!("{what} must be true or false, found `{other}`")),
        })
    }

    /// A whole number within `range`.
    pub fn integer(
        &mut self,
        node: &Node,
        what: &str,
        range: std::ops::RangeInclusive<u32>,
    ) -> Option<u32> {
        self.parsed(node, what, |s| {
            let n: u32 = s
                .parse()
                .map_err(|_| format!("{what} must be a whole number, found `{s}`"))?;
            if range.contains(&n) {
                Ok(n)
            } else {
                Err(format!(
                    "{what} must be between {} and {}, found {n}",
                    range.start(),
                    range.end()
                ))
            }
        })
    }

    /// A list of nodes; a single scalar is accepted as a one-element list.
    pub fn items<'n>(&mut self, node: &'n Node, what: &str) -> Option<Vec<&'n Node>> {
        match &node.value {
            Value::Seq(items) => Some(items.iter().collect()),
            Value::Scalar(_) => Some(vec![node]),
            other => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", other.kind()),
                );
                None
            }
        }
    }

    /// A list of non-empty strings, each checked.
    pub fn strings(&mut self, node: &Node, what: &str) -> Option<Vec<(Pos, String)>> {
        let items = self.items(node, what)?;
        let before = self.errors.len();
        let out: Vec<(Pos, String)> = items
            .into_iter()
            .filter_map(|item| self.string(item, what).map(|s| (item.pos, s)))
            .collect();
        (self.errors.len() == before).then_some(out)
    }

    /// A list that must be a YAML sequence (not a single scalar), e.g. the targets of a job.
    pub fn sequence<'n>(&mut self, node: &'n Node, what: &str) -> Option<&'n [Node]> {
        match &node.value {
            Value::Seq(items) => Some(items),
            Value::Null => Some(&[]),
            other => {
                self.error(
                    node.pos,
                    format!("{what} must be a list, found {}", other.kind()),
                );
                None
            }
        }
    }
}
