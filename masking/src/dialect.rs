//! The two SQL dialects offpeak masks: quoting, literals, and the in-database keyed hash.
//!
//! Every identifier and literal that reaches SQL text goes through [`Dialect::ident`] or
//! [`Dialect::literal`]; key material never does: the HMAC reads it from session state set with
//! bind parameters (see `key`).

/// Which SQL a database speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    Postgres,
    /// MySQL and MariaDB; sessions run with `NO_BACKSLASH_ESCAPES`.
    MySql,
}

/// Session variables (PostgreSQL custom settings / MySQL user variables) holding the key blocks.
pub const PG_IPAD: &str = "offpeak.mask_ipad";
pub const PG_OPAD: &str = "offpeak.mask_opad";
pub const PG_VERIFY: &str = "offpeak.verify_key";
/// Session-private functions returning the key blocks (defined in `pg_temp`, body without key).
pub const PG_IPAD_FN: &str = "pg_temp.offpeak_mask_ipad()";
pub const PG_OPAD_FN: &str = "pg_temp.offpeak_mask_opad()";

impl Dialect {
    /// A quoted identifier.
    pub fn ident(self, name: &str) -> String {
        match self {
            Dialect::Postgres => format!("\"{}\"", name.replace('"', "\"\"")),
            Dialect::MySql => format!("`{}`", name.replace('`', "``")),
        }
    }

    /// `schema.table`, quoted.
    pub fn table(self, schema: &str, name: &str) -> String {
        format!("{}.{}", self.ident(schema), self.ident(name))
    }

    /// A string literal. Both dialects are configured so that only `'` needs doubling.
    pub fn literal(self, text: &str) -> String {
        format!("'{}'", text.replace('\'', "''"))
    }

    /// Lowercase hex of HMAC-SHA256(salt, text of `expr`), computed by the server; NULL stays NULL.
    pub fn hmac_hex(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!(
                "encode(sha256(decode(current_setting('{PG_OPAD}'), 'hex') || \
                 sha256(decode(current_setting('{PG_IPAD}'), 'hex') || convert_to(({expr})::text, 'UTF8'))), 'hex')"
            ),
            Dialect::MySql => format!(
                "SHA2(CONCAT(@offpeak_opad, UNHEX(SHA2(CONCAT(@offpeak_ipad, CONVERT({expr} USING utf8mb4)), 256))), 256)"
            ),
        }
    }

    /// `sql` with the PostgreSQL key reads replaced by calls to the session's IMMUTABLE temporary
    /// functions (see `Db::prepare_session`), which the planner folds to constants once per
    /// statement instead of decoding the setting for every value. Used only for `ALTER TABLE`:
    /// a utility statement is never EXPLAINed, so the folded key cannot reach a logged plan
    /// (auto_explain would print constants of an UPDATE or SELECT).
    pub fn fold_keys(self, sql: &str) -> String {
        match self {
            Dialect::Postgres => sql
                .replace(
                    &format!("decode(current_setting('{PG_IPAD}'), 'hex')"),
                    PG_IPAD_FN,
                )
                .replace(
                    &format!("decode(current_setting('{PG_OPAD}'), 'hex')"),
                    PG_OPAD_FN,
                ),
            Dialect::MySql => sql.to_owned(),
        }
    }

    /// The keyed digest of an original value kept for verification (binary, 32 bytes).
    pub fn verify_digest(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!(
                "sha256(decode(current_setting('{PG_VERIFY}'), 'hex') || convert_to(({expr})::text, 'UTF8'))"
            ),
            Dialect::MySql => {
                format!("UNHEX(SHA2(CONCAT(@offpeak_vkey, CONVERT({expr} USING utf8mb4)), 256))")
            }
        }
    }

    /// PostgreSQL: `expr` is exactly `prefix`, then `run` characters of the bracket class
    /// `class`, then `suffix` (compared byte for byte); `None` for MySQL, whose comparisons follow
    /// the column's collation (often blind to case and trailing spaces), so only a whole-value
    /// regular expression is exact there.
    ///
    /// Why: PostgreSQL's regex engine costs per character. The fixed parts are one `LIKE`
    /// (`COLLATE "C"`: byte for byte) and only the run goes through the regex: the same test,
    /// about three times as fast on the 80-character e-mail pseudonyms the verification gate
    /// checks in every row.
    pub fn framed(
        self,
        expr: &str,
        prefix: &str,
        class: &str,
        run: usize,
        suffix: &str,
    ) -> Option<String> {
        if self == Dialect::MySql {
            return None;
        }
        let (p, s) = (prefix.chars().count(), suffix.chars().count());
        let mut parts = vec![format!("CHAR_LENGTH({expr}) = {}", p + run + s)];
        if p + s > 0 {
            let pattern = format!("{}%{}", like_escaped(prefix), like_escaped(suffix));
            let pattern = self.literal(&pattern);
            parts.push(format!("{expr} LIKE {pattern} COLLATE \"C\""));
        }
        let middle = format!("SUBSTR({expr}, {}, {run})", p + 1);
        parts.push(self.matches(&middle, &format!("^[{class}]+$")));
        Some(format!("({})", parts.join(" AND ")))
    }

    /// `expr` matches a regular expression, case-sensitively. PostgreSQL: as `text` (so a
    /// `citext` value is not matched case-insensitively) in the "C" collation, which gives the
    /// patterns used here (ASCII classes and literals) the same meaning and spares the locale's
    /// character tests (~15% of a 64-digit hex check).
    pub fn matches(self, expr: &str, pattern: &str) -> String {
        let pattern = self.literal(pattern);
        match self {
            Dialect::Postgres => format!("(CAST(({expr}) AS text) COLLATE \"C\") ~ {pattern}"),
            Dialect::MySql => {
                format!("(CONVERT({expr} USING utf8mb4) COLLATE utf8mb4_bin REGEXP {pattern})")
            }
        }
    }

    /// The first 8 hex digits of `hex` as a non-negative integer.
    pub fn hex8_to_int(self, hex: &str) -> String {
        match self {
            Dialect::Postgres => format!("('x' || left({hex}, 8))::bit(32)::bigint"),
            Dialect::MySql => format!("CAST(CONV(LEFT({hex}, 8), 16, 10) AS UNSIGNED)"),
        }
    }

    /// SQL text of a boolean expression counted over rows.
    pub fn count_if(self, predicate: &str) -> String {
        format!("SUM(CASE WHEN {predicate} THEN 1 ELSE 0 END)")
    }

    /// Casts an expression to text for reading results back uniformly.
    pub fn as_text(self, expr: &str) -> String {
        match self {
            Dialect::Postgres => format!("({expr})::text"),
            Dialect::MySql => format!("CAST({expr} AS CHAR)"),
        }
    }
}

/// `text` as a literal part of a `LIKE` pattern (PostgreSQL's default escape, `\\`).
fn like_escaped(text: &str) -> String {
    text.replace('\\', "\\\\")
        .replace('%', "\\%")
        .replace('_', "\\_")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identifiers_and_literals_are_quoted_for_each_dialect() {
        assert_eq!(Dialect::Postgres.ident("we\"ird"), "\"we\"\"ird\"");
        assert_eq!(Dialect::MySql.ident("we`ird"), "`we``ird`");
        assert_eq!(Dialect::Postgres.literal("O'Brien"), "'O''Brien'");
        assert_eq!(Dialect::MySql.table("db", "t"), "`db`.`t`");
    }

    #[test]
    fn folding_swaps_setting_reads_for_the_session_functions() {
        let folded = Dialect::Postgres.fold_keys(&Dialect::Postgres.hmac_hex("x"));
        assert!(
            folded.contains(PG_IPAD_FN) && folded.contains(PG_OPAD_FN),
            "{folded}"
        );
        assert!(!folded.contains("current_setting"), "{folded}");
    }

    #[test]
    fn a_framed_shape_compares_its_fixed_parts_as_bytes_and_matches_only_the_run() {
        let pg = Dialect::Postgres.framed("v", "+9_ ", "0-9", 4, "@x%y");
        assert_eq!(
            pg.as_deref(),
            Some(
                "(CHAR_LENGTH(v) = 12 AND v LIKE '+9\\_ %@x\\%y' COLLATE \"C\" \
                 AND (CAST((SUBSTR(v, 5, 4)) AS text) COLLATE \"C\") ~ '^[0-9]+$')"
            )
        );
        let bare = Dialect::Postgres.framed("v", "", "0-9a-f", 64, "").unwrap();
        assert_eq!(
            bare,
            "(CHAR_LENGTH(v) = 64 AND (CAST((SUBSTR(v, 1, 64)) AS text) COLLATE \"C\") ~ '^[0-9a-f]+$')"
        );
        assert_eq!(Dialect::MySql.framed("v", "", "0-9", 4, ""), None);
    }

    #[test]
    fn the_hmac_reads_the_key_from_session_state_not_from_sql_text() {
        let pg = Dialect::Postgres.hmac_hex("\"email\"");
        assert!(pg.contains("current_setting('offpeak.mask_ipad')"), "{pg}");
        let my = Dialect::MySql.hmac_hex("`email`");
        assert!(
            my.contains("@offpeak_ipad") && my.contains("@offpeak_opad"),
            "{my}"
        );
    }
}
