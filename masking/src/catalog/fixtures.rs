//! Catalog pieces for unit tests: the shapes the tests of several modules build their tables from.

use super::{Column, ColumnKind, UniqueIndex};

/// A column of `kind`, its SQL type named after the kind.
pub(crate) fn col(name: &str, kind: ColumnKind, nullable: bool) -> Column {
    Column {
        name: name.into(),
        sql_type: format!("{kind:?}").to_lowercase(),
        kind,
        nullable,
        ..Column::default()
    }
}

/// A plain unique index over one column (for an expression key, override `key_defs`).
pub(crate) fn unique(name: &str, column: &str) -> UniqueIndex {
    UniqueIndex {
        name: name.into(),
        columns: vec![column.into()],
        key_defs: vec![column.into()],
        ..UniqueIndex::default()
    }
}
