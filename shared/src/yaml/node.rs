//! A YAML document as a tree of nodes that remember where they were written.
//!
//! The schedule parser walks this tree instead of deserialising straight into typed structs, so
//! it can keep going after the first mistake and report *every* error with its line and column.
//! Scalars keep their text: `18:30`, `2026-12-31` and `mon-fri` are all strings here, and typed
//! meaning is given later by the walker.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// Where a node was written: 1-based line and column.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Pos {
    pub line: u64,
    pub col: u64,
}

/// One YAML node with its position.
#[derive(Clone, Debug)]
pub struct Node {
    pub pos: Pos,
    pub value: Value,
}

/// The three shapes a node can have. Mapping keys keep their own positions for
/// unknown-key errors.
#[derive(Clone, Debug)]
pub enum Value {
    Null,
    Scalar(String),
    Seq(Vec<Node>),
    Map(Vec<(Key, Node)>),
}

/// A mapping key and where it was written.
#[derive(Clone, Debug)]
pub struct Key {
    pub pos: Pos,
    pub name: String,
}

impl Value {
    /// A short word for error messages: "a mapping", "a list", ...
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Null => "nothing",
            Value::Scalar(_) => "a scalar",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }
}

/// Parses a YAML document into a positioned tree. A syntax error comes back with its position.
pub fn parse(text: &str) -> Result<Node, (Pos, String)> {
    // YAML 1.2 core booleans only: `enforce: yes` is a typo to report, and a node group called
    // `no` or `007` keeps its name.
    let options = serde_saphyr::options! {
        strict_booleans: true,
        leading_zero_numbers_as_strings: true,
        underscored_numbers_as_strings: true,
    };
    match serde_saphyr::from_str_with_options::<Spanned<Value>>(text, options) {
        Ok(spanned) => Ok(Node::from(spanned)),
        Err(err) => {
            let pos = err
                .location()
                .map(|loc| Pos {
                    line: loc.line(),
                    col: loc.column(),
                })
                .unwrap_or(Pos { line: 1, col: 1 });
            Err((pos, syntax_message(&err.to_string())))
        }
    }
}

/// The parser's message without its own location prefix or source snippet, so one error stays
/// one `PATH:LINE:COL: message` line.
fn syntax_message(full: &str) -> String {
    let first = full.lines().next().unwrap_or_default().trim();
    let first = first.strip_prefix("error:").unwrap_or(first).trim();
    let bare = match first.split_once(": ") {
        Some((prefix, rest)) if prefix.starts_with("line ") => rest,
        _ => first,
    };
    format!("invalid YAML: {bare}")
}

impl From<Spanned<Value>> for Node {
    fn from(spanned: Spanned<Value>) -> Self {
        Node {
            pos: Pos {
                line: spanned.referenced.line(),
                col: spanned.referenced.column(),
            },
            value: spanned.value,
        }
    }
}

impl<'de> Deserialize<'de> for Value {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("any YAML value")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_string()))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<Value, E> {
        Ok(Value::Scalar(v.to_owned()))
    }

    fn visit_string<E: de::Error>(self, v: String) -> Result<Value, E> {
        Ok(Value::Scalar(v))
    }

    fn visit_unit<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        Value::deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element::<Spanned<Value>>()? {
            items.push(Node::from(item));
        }
        Ok(Value::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<Spanned<Value>>()? {
            let key = Node::from(key);
            let name = match key.value {
                Value::Scalar(s) => s,
                other => format!("<{}>", other.kind()),
            };
            let value = Node::from(map.next_value::<Spanned<Value>>()?);
            entries.push((Key { pos: key.pos, name }, value));
        }
        Ok(Value::Map(entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scalars_keep_their_text_and_positions() {
        let node = parse("a: 18:30\nb:\n  - mon-fri\n  - 2026-12-31\nc: 2\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!("expected a mapping")
        };
        assert_eq!(entries[0].0.name, "a");
        assert_eq!(entries[0].0.pos, Pos { line: 1, col: 1 });
        assert!(matches!(&entries[0].1.value, Value::Scalar(s) if s == "18:30"));
        assert_eq!(entries[0].1.pos, Pos { line: 1, col: 4 });
        let Value::Seq(items) = &entries[1].1.value else {
            panic!("expected a list")
        };
        assert_eq!(items[1].pos, Pos { line: 4, col: 5 });
        assert!(matches!(&items[1].value, Value::Scalar(s) if s == "2026-12-31"));
        assert!(matches!(&entries[2].1.value, Value::Scalar(s) if s == "2"));
    }

    #[test]
    fn syntax_errors_have_a_position() {
        let (pos, msg) = parse("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(pos.line >= 1, "{pos:?}");
        assert!(msg.starts_with("invalid YAML"), "{msg}");
        assert!(
            !msg.contains("line "),
            "the position is reported once, not twice: {msg}"
        );
    }

    #[test]
    fn only_yaml_1_2_booleans_are_booleans() {
        let node = parse("a: yes\nb: true\nc: 007\n").unwrap();
        let Value::Map(entries) = node.value else {
            panic!("expected a mapping")
        };
        let texts: Vec<&str> = entries
            .iter()
            .map(|(_, v)| match &v.value {
                Value::Scalar(s) => s.as_str(),
                _ => "",
            })
            .collect();
        assert_eq!(texts, ["yes", "true", "007"]);
    }
}
