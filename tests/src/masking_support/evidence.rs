//! Where an original value could still be found after masking, looked at from outside the engine:
//! a full dump by the server's own dump tool, the planner statistics read as a superuser, and
//! the bytes of a relation's files.
//!
//! Each function returns the places that hold a marker, so a failing assertion names them
//! (never more than a short excerpt around the marker).

use std::process::Command;

use crate::TestDb;

use super::Pool;

/// Lines of `text` holding any of `markers`, trimmed to a short excerpt around the first one.
pub fn lines_with(text: &str, markers: &[&str]) -> Vec<String> {
    text.lines()
        .filter_map(|line| {
            let at = markers.iter().filter_map(|m| line.find(m)).min()?;
            let mut start = at.saturating_sub(40);
            while !line.is_char_boundary(start) {
                start -= 1;
            }
            let mut end = (at + 60).min(line.len());
            while !line.is_char_boundary(end) {
                end += 1;
            }
            Some(line[start..end].to_owned())
        })
        .collect()
}

/// `pg_dump` of the whole database (schema and data, offpeak's bookkeeping included), plus the
/// rows of every populated materialized view (a dump holds their query, not their rows).
pub async fn pg_dump(db: &TestDb, admin: &Pool) -> String {
    let out = Command::new("pg_dump")
        .args(["--no-owner", "--dbname", &db.url])
        .output()
        .expect("pg_dump runs");
    assert!(
        out.status.success(),
        "pg_dump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut dump = String::from_utf8_lossy(&out.stdout).into_owned();
    let views = admin
        .texts(
            "SELECT format('%I.%I', schemaname, matviewname) FROM pg_matviews \
             WHERE ispopulated ORDER BY 1",
        )
        .await;
    for view in views.into_iter().filter_map(|r| r[0].clone()) {
        for row in admin.texts(&format!("SELECT v::text FROM {view} v")).await {
            dump.push_str(&format!("\n{view}: {}", row[0].clone().unwrap_or_default()));
        }
    }
    dump
}

/// Every statistics row of the database as text, read as a superuser: `pg_statistic` (tables,
/// inheritance trees, indexes, materialized views; every slot), and extended statistics with
/// their expressions. `admin` must be a superuser session on the database.
pub async fn pg_statistics(admin: &Pool) -> String {
    let mut out = String::new();
    let slots: Vec<String> = (1..=5)
        .map(|n| format!("COALESCE(s.stavalues{n}::text, '')"))
        .collect();
    let sql = format!(
        "SELECT s.starelid::regclass::text || '.' || s.staattnum || CASE WHEN s.stainherit THEN ' (inherited) ' ELSE ' ' END \
                || concat_ws(' ', {}) FROM pg_statistic s ORDER BY 1",
        slots.join(", ")
    );
    for sql in [
        sql.as_str(),
        "SELECT statistics_name || ' ' || COALESCE(most_common_vals::text, '') FROM pg_stats_ext",
        "SELECT statistics_name || ' ' || expr || ' ' || COALESCE(most_common_vals::text, '') || ' ' \
         || COALESCE(histogram_bounds::text, '') FROM pg_stats_ext_exprs",
    ] {
        for row in admin.texts(sql).await {
            out.push_str(&format!("{}\n", row[0].clone().unwrap_or_default()));
        }
    }
    out
}

/// Rows of `pg_statistic` (any slot, inherited or not) and of extended statistics belonging to
/// `relations` (regclass names) or to their indexes and statistics objects.
pub async fn pg_statistics_rows(admin: &Pool, relations: &[&str]) -> i64 {
    let list: Vec<String> = relations
        .iter()
        .map(|r| format!("'{r}'::regclass"))
        .collect();
    let list = list.join(", ");
    admin
        .count(&format!(
            "SELECT (SELECT count(*) FROM pg_statistic WHERE starelid IN ({list}) \
                 OR starelid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ({list}))) \
             + (SELECT count(*) FROM pg_statistic_ext_data d JOIN pg_statistic_ext x ON x.oid = d.stxoid \
                WHERE x.stxrelid IN ({list}))"
        ))
        .await
}

/// PostgreSQL, on a server this process owns (it checkpoints): the files of `relation`, its
/// TOAST table and index, and its indexes, as the server reads them from disk after a
/// checkpoint, searched for `markers`. Returns `file: excerpt` per hit. `admin`: a superuser.
pub async fn pg_file_hits(admin: &Pool, relation: &str, markers: &[&str]) -> Vec<String> {
    admin.exec("CHECKPOINT").await;
    let files = admin
        .texts(&format!(
            "SELECT pg_relation_filepath(c.oid) FROM pg_class c WHERE c.oid = '{relation}'::regclass \
               OR c.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = '{relation}'::regclass) \
               OR c.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid IN ('{relation}'::regclass, \
                   (SELECT reltoastrelid FROM pg_class WHERE oid = '{relation}'::regclass)))"
        ))
        .await;
    let mut hits = Vec::new();
    for file in files.into_iter().filter_map(|r| r[0].clone()) {
        // Segments of 1 GB each: the test relations fit in the first, but read on to be sure.
        for segment in 0..4 {
            let path = match segment {
                0 => file.clone(),
                n => format!("{file}.{n}"),
            };
            let bytes = admin
                .texts(&format!(
                    "SELECT encode(pg_read_binary_file('{path}', 0, s.size, true), 'escape') \
                     FROM pg_stat_file('{path}', true) s WHERE s.size IS NOT NULL"
                ))
                .await;
            let Some(Some(text)) = bytes.into_iter().next().map(|r| r[0].clone()) else {
                break;
            };
            hits.extend(
                lines_with(&text.replace('\n', " "), markers)
                    .into_iter()
                    .map(|e| format!("{path}: {e}")),
            );
        }
    }
    hits
}

/// PostgreSQL, on a server this process owns (it checkpoints): every file of the database's
/// directory (every relation: tables, TOAST, indexes, the catalogs and their statistics)
/// searched for `markers`. Returns `relation (file)` per file that holds one.
pub async fn pg_database_file_hits(admin: &Pool, markers: &[&str]) -> Vec<String> {
    admin.exec("CHECKPOINT").await;
    let list: Vec<String> = markers.iter().map(|m| format!("'{m}'")).collect();
    let rows = admin
        .texts(&format!(
            "WITH dir AS (SELECT 'base/' || oid AS d FROM pg_database WHERE datname = current_database()), \
             files AS (SELECT d || '/' || f AS path, f FROM dir, pg_ls_dir(dir.d) f WHERE f ~ '^[0-9]+(\\.[0-9]+)?$') \
             SELECT COALESCE(pg_filenode_relation(0, split_part(f, '.', 1)::oid)::text, '?') || ' (' || path || ')' \
             FROM files, pg_stat_file(path, true) s \
             WHERE s.size IS NOT NULL AND EXISTS (SELECT 1 FROM unnest(ARRAY[{}]) m \
                 WHERE position(convert_to(m, 'UTF8') IN pg_read_binary_file(path, 0, s.size, true)) > 0) \
             ORDER BY 1",
            list.join(", ")
        ))
        .await;
    rows.into_iter().filter_map(|r| r[0].clone()).collect()
}

/// PostgreSQL: blocks of `relation`, its TOAST table and its indexes whose current image (read
/// through the buffer manager with pageinspect, so what a checkpoint would write) holds one of
/// `markers`. `admin`: a superuser.
pub async fn pg_page_hits(admin: &Pool, relation: &str, markers: &[&str]) -> i64 {
    admin
        .exec("CREATE EXTENSION IF NOT EXISTS pageinspect")
        .await;
    let list: Vec<String> = markers.iter().map(|m| format!("'{m}'")).collect();
    admin
        .count(&format!(
            "SELECT count(*) FROM (SELECT r.oid, generate_series(0, pg_relation_size(r.oid) / 8192 - 1) AS blk \
               FROM pg_class r WHERE r.oid = '{relation}'::regclass \
                 OR r.oid = (SELECT reltoastrelid FROM pg_class WHERE oid = '{relation}'::regclass) \
                 OR r.oid IN (SELECT indexrelid FROM pg_index WHERE indrelid = '{relation}'::regclass)) b, \
             unnest(ARRAY[{}]) m \
             WHERE position(convert_to(m, 'UTF8') IN get_raw_page(b.oid::regclass::text, b.blk::int)) > 0",
            list.join(", ")
        ))
        .await
}

/// `mysqldump` of the whole database (schema, data and triggers).
pub fn mysql_dump(db: &TestDb) -> String {
    let (user, host, port) = mysql_parts(&db.url);
    let out = Command::new("mysqldump")
        .args([
            "--protocol=tcp",
            "--host",
            &host,
            "--port",
            &port,
            "--user",
            &user,
            "--skip-extended-insert",
            "--routines",
            "--triggers",
            &db.name,
        ])
        .output()
        .expect("mysqldump runs");
    assert!(
        out.status.success(),
        "mysqldump: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `user`, `host`, `port` of a `mysql://user@host:port/db` URL without a password (the test
/// servers' root has none).
fn mysql_parts(url: &str) -> (String, String, String) {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let (user, rest) = rest.split_once('@').unwrap_or(("root", rest));
    let host_port = rest.split(['/', '?']).next().unwrap_or(rest);
    let (host, port) = host_port.split_once(':').unwrap_or((host_port, "3306"));
    (user.to_owned(), host.to_owned(), port.to_owned())
}

/// MariaDB's engine-independent statistics of the database (`mysql.column_stats`: min, max and
/// histogram per column), as text.
pub async fn mysql_statistics(pool: &Pool) -> String {
    let rows = pool
        .texts(
            "SELECT CONCAT_WS(' ', table_name, column_name, min_value, max_value, HEX(histogram)) \
             FROM mysql.column_stats WHERE db_name = DATABASE()",
        )
        .await;
    rows.into_iter()
        .map(|r| r[0].clone().unwrap_or_default() + "\n")
        .collect()
}

/// MariaDB/MySQL on this machine: the bytes of `table`'s `.ibd` file once its pages are flushed
/// (`FLUSH TABLES ... FOR EXPORT`, on a session of its own: the lock is the session's), searched
/// for `markers`. The test process must be able to read the server's data directory (the
/// harness runs as root, or owns its throwaway server).
pub async fn mysql_file_hits(db: &TestDb, table: &str, markers: &[&str]) -> Vec<String> {
    use sqlx::{Connection, Executor, MySqlConnection, Row};
    let mut conn = MySqlConnection::connect(&db.url).await.expect("connect");
    conn.execute(format!("FLUSH TABLES `{table}` FOR EXPORT").as_str())
        .await
        .expect("flush the table");
    let dir: String = sqlx::query("SELECT CAST(CONCAT(@@datadir, DATABASE()) AS CHAR)")
        .fetch_one(&mut conn)
        .await
        .expect("datadir")
        .get(0);
    let path = format!("{dir}/{table}.ibd");
    let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("read {path}: {e}"));
    conn.execute("UNLOCK TABLES").await.expect("unlock");
    let _ = conn.close().await;
    let text = String::from_utf8_lossy(&bytes).replace('\n', " ");
    lines_with(&text, markers)
        .into_iter()
        .map(|e| format!("{path}: {e}"))
        .collect()
}
