//! The masking rules as typed values: what the rules file says, with the position of each entry
//! so that disagreements with the live schema can point back at the line to fix.

use offpeak_shared::yaml::Pos;

/// Default rows per chunk for tables masked in primary-key ranges.
pub const DEFAULT_CHUNK_ROWS: u64 = 50_000;
/// Default size up to which a PostgreSQL table is masked by one rewrite instead of in chunks.
pub const DEFAULT_REWRITE_MAX_ROWS: u64 = 5_000_000;
/// Default sessions filling a PostgreSQL table copied by the `swap` method (0 turns it off).
pub const DEFAULT_SWAP_WORKERS: u64 = 4;
/// Most sessions a swap fill may use.
pub const MAX_SWAP_WORKERS: u64 = 16;

/// A whole rules file.
#[derive(Clone, Debug, PartialEq)]
pub struct Rules {
    /// Where the rules came from, for `PATH:LINE:COL` messages.
    pub path: String,
    /// Secrets Manager id of the HMAC salt; `OFFPEAK_MASKING_SALT` takes precedence when set.
    pub salt_secret: Option<String>,
    pub chunk_rows: u64,
    pub rewrite_max_rows: u64,
    /// Sessions filling a table copied by the PostgreSQL `swap` method; 0 turns the method off.
    pub swap_workers: u64,
    /// Position of the `tables:` key, where findings about unlisted tables point.
    pub tables_pos: Pos,
    pub tables: Vec<TableRule>,
    /// The other databases (schemas) of the clone's server (`databases:`).
    pub databases: DatabaseRules,
    /// The server's logins (`logins:`).
    pub logins: LoginRules,
}

/// What happens to the databases (PostgreSQL) / schemas (MySQL) of the server other than the one
/// the rules cover (see `cluster`). Any database neither covered nor listed refuses the run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct DatabaseRules {
    /// Position of the `databases:` key, where findings about unlisted databases point.
    pub pos: Option<Pos>,
    /// Dropped from the clone before verification.
    pub drop: Vec<Named>,
}

/// Which logins stay usable in the clone (see `cluster`). Every other login is disabled; the
/// connecting user and the engine's built-in accounts are never changed.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LoginRules {
    pub pos: Option<Pos>,
    /// Stay enabled, re-keyed with a password nobody knows. A MySQL entry `user` keeps the
    /// accounts of that user on every host; `user@host` keeps one account.
    pub keep: Vec<Named>,
}

/// A name in the rules and where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Named {
    pub pos: Pos,
    pub name: String,
}

/// Databases (PostgreSQL) and schemas (MySQL) that belong to the engine or to RDS: never checked
/// against the rules, never dropped.
pub const SYSTEM_DATABASES: &[&str] = &[
    "template0",
    "template1",
    "rdsadmin",
    "mysql",
    "information_schema",
    "performance_schema",
    "sys",
];

/// Logins that belong to the engine or to RDS (either engine's): offpeak never changes them, and
/// the master user could not (`rdsadmin` is RDS's own superuser).
pub fn builtin_login(name: &str) -> bool {
    name.starts_with("pg_")
        || name.starts_with("rds")
        || name.starts_with("mysql.")
        || name.starts_with("AWS_")
        || name == "mariadb.sys"
}

/// What to do with one table.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRule {
    pub pos: Pos,
    /// `schema.table` or `table` (the default schema), as written.
    pub name: String,
    pub action: TableAction,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TableAction {
    /// Every row deleted.
    Truncate,
    /// Each column either kept or masked; together they must name every column.
    Columns(Vec<ColumnRule>),
}

#[derive(Clone, Debug, PartialEq)]
pub struct ColumnRule {
    pub pos: Pos,
    pub name: String,
    /// `None`: keep.
    pub mask: Option<Strategy>,
}

/// How a masked value is computed. Every strategy keeps SQL NULL as NULL.
#[derive(Clone, Debug, PartialEq)]
pub enum Strategy {
    /// Keyed-hash pseudonym: lowercase hex of HMAC-SHA256(salt, value), first `length` digits.
    Hash {
        length: u8,
    },
    /// `<64 hex digits of the HMAC>@example.invalid`: unique whenever the inputs are.
    Email,
    /// `Person <10 uppercase hex digits of the HMAC>`.
    Name,
    /// `+999 <9 digits from the HMAC>` (+999 is not an assigned country code).
    Phone,
    /// Keep the first and last characters, star the rest; short values are starred whole.
    Redact {
        keep_first: u8,
        keep_last: u8,
    },
    Null,
    /// A constant (cast to the column's type).
    Value(String),
    /// Truncate a date or timestamp to the first instant of its month or year.
    Generalize(DatePart),
    /// Shift a date or timestamp by 1..=`days` days, either way, derived from the HMAC.
    Noise {
        days: u16,
    },
    /// Mask a JSON document: listed paths by their strategies, every other value by `others`,
    /// every key the rules do not spell out by `keys` (see `crate::json`).
    Json(JsonRules),
    /// A raw SQL expression; `{column}` stands for the (quoted) input.
    Sql {
        sql: String,
        unique: bool,
    },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DatePart {
    Month,
    Year,
}

/// Most paths one JSON column may list (each is a bit of a 64-bit mask in the database).
pub const MAX_JSON_PATHS: usize = 60;

/// The `json` strategy: no value of a document is left unclassified.
#[derive(Clone, Debug, PartialEq)]
pub struct JsonRules {
    /// Listed paths; no two overlap.
    pub paths: Vec<JsonPathRule>,
    /// What happens to every scalar value no listed path reaches, whatever the document's shape.
    pub others: JsonOthers,
    /// What happens to every object key the listed paths do not spell out.
    pub keys: JsonKeys,
}

/// `others:` (required): the rule for every value no listed path reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonOthers {
    /// Replaced by JSON null.
    Null,
    /// Replaced by the 64-hex-digit keyed hash of its text (a JSON string).
    Hash,
    /// Kept as it is: an explicit, visible choice.
    Keep,
}

/// `keys:`: the rule for object keys the listed paths do not spell out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum JsonKeys {
    Keep,
    /// Replaced by the 64-hex-digit keyed hash of the key (e-mails used as keys, ...).
    Hash,
}

impl JsonOthers {
    pub fn name(self) -> &'static str {
        match self {
            JsonOthers::Null => "null",
            JsonOthers::Hash => "hash",
            JsonOthers::Keep => "keep",
        }
    }
}

impl JsonKeys {
    pub fn name(self) -> &'static str {
        match self {
            JsonKeys::Keep => "keep",
            JsonKeys::Hash => "hash",
        }
    }
}

impl JsonRules {
    /// Every value kept but the listed ones, and every path a fixed one (no wildcard): the
    /// document can be masked by setting each listed path, without walking it.
    pub fn fixed_paths_only(&self) -> bool {
        self.others == JsonOthers::Keep
            && self.keys == JsonKeys::Keep
            && self
                .paths
                .iter()
                .all(|p| p.segments.iter().all(|s| !s.is_wildcard()))
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct JsonPathRule {
    pub pos: Pos,
    /// As written, e.g. `address.street`, `$.phones[0]` or `$.contacts[*].phone`.
    pub text: String,
    pub segments: Vec<JsonSegment>,
    /// `None`: kept. Never `Json` (no nesting), `Generalize` or `Noise`.
    pub strategy: Option<Strategy>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum JsonSegment {
    /// `.name`: the member `name` of an object.
    Key(String),
    /// `[n]`: element `n` of an array.
    Index(u32),
    /// `.*`: every member of an object.
    AnyKey,
    /// `[*]`: every element of an array.
    AnyIndex,
}

impl JsonSegment {
    pub fn is_wildcard(&self) -> bool {
        matches!(self, JsonSegment::AnyKey | JsonSegment::AnyIndex)
    }

    /// Whether some position matches both.
    fn meets(&self, other: &JsonSegment) -> bool {
        use JsonSegment::{AnyIndex, AnyKey, Index, Key};
        match (self, other) {
            (Key(a), Key(b)) => a == b,
            (Index(a), Index(b)) => a == b,
            (Key(k), Index(i)) | (Index(i), Key(k)) => *k == i.to_string(),
            (AnyKey, Key(_) | AnyKey) | (Key(_), AnyKey) => true,
            (AnyIndex, Index(_) | AnyIndex) | (Index(_), AnyIndex) => true,
            (AnyKey, _) | (_, AnyKey) | (AnyIndex, _) | (_, AnyIndex) => false,
        }
    }
}

impl Strategy {
    /// The name used in the rules file and in messages.
    pub fn name(&self) -> &'static str {
        match self {
            Strategy::Hash { .. } => "hash",
            Strategy::Email => "email",
            Strategy::Name => "name",
            Strategy::Phone => "phone",
            Strategy::Redact { .. } => "redact",
            Strategy::Null => "null",
            Strategy::Value(_) => "value",
            Strategy::Generalize(_) => "generalize",
            Strategy::Noise { .. } => "noise",
            Strategy::Json(_) => "json",
            Strategy::Sql { .. } => "sql",
        }
    }

    /// Writes a text derived from the original text (a keyed pseudonym or a redaction): it fits
    /// only a text column, and its originals are sampled to check they are gone.
    pub fn derives_text(&self) -> bool {
        matches!(
            self,
            Strategy::Hash { .. }
                | Strategy::Email
                | Strategy::Name
                | Strategy::Phone
                | Strategy::Redact { .. }
        )
    }

    /// Distinct inputs give distinct outputs, so a unique index over the column stays valid.
    /// `null` counts: NULLs never collide in a unique index (unless it says NULLS NOT DISTINCT,
    /// which the caller checks).
    pub fn keeps_unique(&self) -> bool {
        match self {
            Strategy::Hash { length } => usize::from(*length) == HASH_HEX_LEN,
            Strategy::Email | Strategy::Null => true,
            Strategy::Sql { unique, .. } => *unique,
            _ => false,
        }
    }

    /// Longest text the strategy produces, when it produces text of a known bound.
    pub fn output_chars(&self) -> Option<usize> {
        match self {
            Strategy::Hash { length } => Some(usize::from(*length)),
            Strategy::Email => Some(HASH_HEX_LEN + EMAIL_DOMAIN.len()),
            Strategy::Name => Some(NAME_PREFIX.len() + NAME_HEX_LEN),
            Strategy::Phone => Some(PHONE_PREFIX.len() + PHONE_DIGITS),
            Strategy::Value(v) => Some(v.chars().count()),
            _ => None,
        }
    }
}

/// Hex digits in a full HMAC-SHA256.
pub const HASH_HEX_LEN: usize = 64;
/// The reserved domain every masked e-mail address ends with (RFC 2606).
pub const EMAIL_DOMAIN: &str = "@example.invalid";
pub const NAME_PREFIX: &str = "Person ";
pub const NAME_HEX_LEN: usize = 10;
pub const PHONE_PREFIX: &str = "+999 ";
pub const PHONE_DIGITS: usize = 9;

impl JsonPathRule {
    /// True when `self` lies at or under `other` (or the reverse): masking one would rewrite the
    /// other's input.
    pub fn overlaps(&self, other: &JsonPathRule) -> bool {
        self.segments
            .iter()
            .zip(&other.segments)
            .all(|(a, b)| a.meets(b))
    }
}
