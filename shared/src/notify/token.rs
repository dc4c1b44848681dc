//! [`Token`]: the only kind of runtime text a notification can carry.

use std::fmt;

/// The longest token accepted (ARNs stay well below this).
const TOKEN_MAX: usize = 256;

/// An identifier, state or code: 1 to 256 characters from ASCII letters, digits and `-_.:/+=,#`.
///
/// Resource ids, ARNs and states (`prod-aurora`, `dev-eks/app`, `asleep`, `ThrottlingException`)
/// fit; free text, e-mail addresses and most personal values do not (no spaces, no `@`), so they
/// can't reach a notification by accident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Token(String);

/// Why a string is not a [`Token`]. It never repeats the refused value, which may be personal data.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidToken {
    #[error("invalid notification token: empty")]
    Empty,
    #[error("invalid notification token: {len} characters, at most {TOKEN_MAX} allowed")]
    TooLong { len: usize },
    #[error(
        "invalid notification token: character {position} is not allowed (only ASCII letters, digits and -_.:/+=,# may appear: ids, states and codes)"
    )]
    Character { position: usize },
}

impl Token {
    /// Validates `value` as an id, state or code.
    pub fn new(value: impl Into<String>) -> Result<Self, InvalidToken> {
        let value = value.into();
        if value.is_empty() {
            return Err(InvalidToken::Empty);
        }
        if value.len() > TOKEN_MAX {
            return Err(InvalidToken::TooLong { len: value.len() });
        }
        match value.chars().position(|c| !is_token_char(c)) {
            Some(position) => Err(InvalidToken::Character { position }),
            None => Ok(Self(value)),
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_token_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.:/+=,#".contains(c)
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<&str> for Token {
    type Error = InvalidToken;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        Token::new(value)
    }
}

impl TryFrom<String> for Token {
    type Error = InvalidToken;

    fn try_from(value: String) -> Result<Self, Self::Error> {
        Token::new(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_arns_and_states_are_tokens() {
        for ok in [
            "prod-aurora",
            "dev-eks/app",
            "asleep",
            "arn:aws:rds:ap-northeast-1:123456789012:cluster:prod-aurora",
            "db.r7g.large",
            "sg-0aaa,sg-0bbb",
            "ThrottlingException",
        ] {
            assert_eq!(Token::new(ok).unwrap().as_str(), ok);
        }
    }

    #[test]
    fn free_text_and_emails_are_refused_without_echoing_them() {
        let cases = [
            (
                "taro.yamada@example.com",
                InvalidToken::Character { position: 11 },
            ),
            ("Taro Yamada", InvalidToken::Character { position: 4 }),
            ("line\nbreak", InvalidToken::Character { position: 4 }),
            ("東京", InvalidToken::Character { position: 0 }),
            ("", InvalidToken::Empty),
        ];
        for (value, expected) in cases {
            let err = Token::new(value).unwrap_err();
            assert_eq!(err, expected, "{value:?}");
            if !value.is_empty() {
                assert!(
                    !err.to_string().contains(value),
                    "error echoes the value: {err}"
                );
            }
        }
        assert_eq!(
            Token::new("a".repeat(257)).unwrap_err(),
            InvalidToken::TooLong { len: 257 }
        );
        assert!(Token::new("a".repeat(256)).is_ok());
    }
}
