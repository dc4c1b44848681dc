//! The daily rules check: a migration is caught by day, not by a refused refresh at night.
//!
//! Invoked with `{"check": "rules"}` (the stack's second schedule, hours before the window; or
//! `offpeak run masked-refresh --check-rules`), it compares the masking rules with production's
//! catalog through the masking engine's own default-deny comparison
//! ([`offpeak_masking::audit`]) and, when anything is unclassified or the rules disagree with
//! the database in any other way, publishes **one** notification naming each unclassified
//! column (`schema.table.column`) and table. When everything is classified it stays quiet: the
//! report says so. Its report's `drifting` holds `<dev cluster>/rules` while something is
//! unclassified, so the function's `Drift` metric shows it.
//!
//! Guarantees:
//! - **Read-only, catalog only.** The session is read-only (the server refuses any write), and
//!   only catalog views are read — no row of any table. It runs as a login holding no privilege
//!   on the tables' rows (`docs/rules-check.md`: PostgreSQL needs none; MySQL/MariaDB need
//!   `REFERENCES` on the database, which reads nothing), and its tests run it so.
//! - **Names only.** The notification and the report carry table and column names, counts and
//!   the rules file's findings, never a value.
//! - A dry-run (a paused function's included) reports and publishes nothing.
//! - **Bounded on production.** The session gives up after [`CATALOG_TIME`], lock waits
//!   included: a migration holding a lock fails the check rather than queueing behind it.
//!
//! Not covered: the cluster's other databases (the night's run checks them), and on
//! MySQL/MariaDB the tables' triggers (hidden from a login without TRIGGER).
//!
//! Failure behaviour: no production login configured, an unusable secret, a connection or
//! catalog read that fails, or a publish that fails fails the invocation (the Errors alarm).

use std::path::Path;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use offpeak_masking::{Audit, Db, Endpoint, MaskError, RulesError, Unclassified};
use offpeak_shared::config::MaskedRefresh;
use offpeak_shared::event::InvocationEvent;
use offpeak_shared::notify::{Fact, Notification, Notifier, Severity, Token};
use offpeak_shared::report::Report;

use crate::error::CheckSourceError;
use crate::secret::{DatabaseUrl, url_component};
use crate::secrets::SdkSecrets;
use crate::tls::TrustRoots;
use crate::{Action, FUNCTION, Settings, TickError};

/// The longest the check's session may take on production, every statement and lock wait
/// included (the server cancels past it). Reading the catalog takes well under a second; what
/// could take longer is waiting for a lock a migration holds, and a lock request left waiting
/// queues production's own statements behind it, so the check gives up instead.
pub const CATALOG_TIME: Duration = Duration::from_secs(15);

/// What the comparison found.
#[derive(Debug)]
pub enum Outcome {
    /// Every table and column of production is classified and the rules fit it.
    Classified,
    /// The rules and production disagree (the night's run would refuse).
    Disagree(Audit),
    /// The rules file does not load.
    Rules(RulesError),
}

/// The rules at `rules` against the catalog of the database behind `url`.
pub async fn compare(rules: &Path, url: &DatabaseUrl) -> Result<Outcome, CheckSourceError> {
    let rules = match offpeak_masking::rules::load(rules) {
        Ok(r) => r,
        Err(e) => return Ok(Outcome::Rules(e)),
    };
    let endpoint = Endpoint {
        url: url.expose(),
        roots: url.roots().map(TrustRoots::pem),
    };
    let mut db: Db = endpoint.connect().await?;
    let audit = match db.bound_by(Some(Instant::now() + CATALOG_TIME)).await {
        Ok(()) => offpeak_masking::audit(&mut db, &rules).await,
        Err(e) => Err(e),
    };
    db.close().await;
    let audit = audit?;
    match audit.findings.is_empty() {
        true => Ok(Outcome::Classified),
        false => Ok(Outcome::Disagree(audit)),
    }
}

/// The production login: `OFFPEAK_SOURCE_DATABASE_URL`, else the secret the stack names.
pub async fn source(settings: &Settings, secrets: &SdkSecrets) -> Result<DatabaseUrl, TickError> {
    if let Some(url) = &settings.source_database_url {
        return Ok(url.clone());
    }
    let id = settings
        .rules_check_secret
        .as_deref()
        .ok_or(TickError::RulesCheckNoSource)?;
    let text = secrets
        .text(id)
        .await
        .map_err(|e| TickError::RulesCheckRead(e.into()))?;
    url_from_secret(text.expose(), settings.clone_roots.clone()).map_err(|why| {
        TickError::RulesCheckSecretShape {
            secret_id: id.to_owned(),
            why,
        }
    })
}

/// The verified URL of an RDS-style secret (`engine`, `host`, `port`, `username`, `password`,
/// `dbname`); the reason only when it lacks one.
pub fn url_from_secret(text: &str, roots: TrustRoots) -> Result<DatabaseUrl, &'static str> {
    let doc: serde_json::Value =
        serde_json::from_str(text).map_err(|_| "it is not a JSON document")?;
    let field = |k: &str| {
        doc.get(k)
            .and_then(|v| v.as_str())
            .filter(|v| !v.is_empty())
    };
    let scheme = match field("engine").unwrap_or("postgres") {
        e if e.contains("mysql") || e.contains("mariadb") => "mysql",
        _ => "postgres",
    };
    let host = field("host").ok_or("it has no \"host\"")?;
    let user = field("username").ok_or("it has no \"username\"")?;
    let password = field("password").ok_or("it has no \"password\"")?;
    let dbname = field("dbname").ok_or("it has no \"dbname\" (the database the rules cover)")?;
    let port = match doc.get("port") {
        Some(serde_json::Value::Number(n)) => format!(":{n}"),
        Some(serde_json::Value::String(s)) if !s.is_empty() => format!(":{s}"),
        _ => String::new(),
    };
    let url = format!(
        "{scheme}://{}:{}@{host}{port}/{}",
        url_component(user),
        url_component(password),
        url_component(dbname)
    );
    Ok(DatabaseUrl::verified(url, roots))
}

/// One check: compare, report, and notify unless all is classified or it is a dry-run.
pub async fn run(
    cfg: &MaskedRefresh,
    url: &DatabaseUrl,
    notifier: &Notifier,
    event: &InvocationEvent,
    now: DateTime<Utc>,
) -> Result<Report<Action>, TickError> {
    let outcome = compare(&cfg.rules, url)
        .await
        .map_err(TickError::RulesCheckRead)?;
    let mut report = Report::new(FUNCTION, event.instant(now), event.dry_run);
    let target = cfg.target_cluster.as_str();
    let Some(notice) = notice(cfg, &outcome) else {
        report.note(
            target,
            "rules check: every production table and column is classified",
        );
        return Ok(report);
    };
    report.drifting.push(format!("{target}/rules"));
    if let Outcome::Disagree(audit) = &outcome {
        for u in &audit.unclassified {
            report.note(target, format!("rules check: {u} is not classified"));
        }
    }
    report.note(target, "rules check: the masking rules and production disagree; tonight's refresh would refuse to start");
    if !event.dry_run {
        notifier
            .notify(&notice)
            .await
            .map_err(TickError::RulesCheckNotify)?;
    }
    Ok(report)
}

/// The one notification for `outcome`; `None` when all is classified.
pub fn notice(cfg: &MaskedRefresh, outcome: &Outcome) -> Option<Notification> {
    let base = |title| {
        Notification::new(
            Severity::Failure,
            FUNCTION,
            token(&cfg.target_cluster),
            title,
        )
        .fact("source", token(&cfg.source_cluster))
    };
    match outcome {
        Outcome::Classified => None,
        Outcome::Rules(e) => Some(
            base("masking rules do not load")
                .fact("error", Fact::error(e))
                .line("The masking rules file does not load: tonight's refresh will not start.")
                .next_step("Fix the rules file and deploy it before the refresh window."),
        ),
        Outcome::Disagree(audit) => Some(disagree(
            base("masking rules miss production columns"),
            audit,
        )),
    }
}

fn disagree(mut n: Notification, audit: &Audit) -> Notification {
    n = n
        .line("Production has tables or columns the masking rules do not classify, or the rules no longer fit it: tonight's refresh will refuse to start and development will stay as it is.")
        .fact("unclassified", audit.unclassified.len());
    for u in &audit.unclassified {
        let key = match u.column {
            Some(_) => "column",
            None => "table",
        };
        n = n.fact(key, name_token(u));
    }
    let other = audit
        .findings
        .len()
        .saturating_sub(audit.unclassified.len());
    if other > 0 {
        n = n.fact("other_findings", other).fact(
            "findings",
            Fact::error(&MaskError::Refused(audit.findings.clone())),
        );
    }
    n.next_step("Classify each name above in infra/masking.yaml (keep or mask; a new table: keep, truncate or its columns), then deploy.")
        .next_step("Check the rules locally: offpeak run masked-refresh --check-rules.")
}

fn token(id: &str) -> Token {
    Token::new(id).unwrap_or_else(|_| Token::new("invalid-id").expect("a valid literal token"))
}

/// `schema.table[.column]` as a token: a character a token does not admit (a space, say) is
/// written `#` and its UTF-8 bytes in hex, so every name stays readable and unambiguous.
fn name_token(u: &Unclassified) -> Token {
    let mut text = String::new();
    for c in u.to_string().chars() {
        match c.is_ascii_alphanumeric() || "-_.:/+=,".contains(c) {
            true => text.push(c),
            false => {
                let mut buf = [0u8; 4];
                for b in c.encode_utf8(&mut buf).bytes() {
                    text.push_str(&format!("#{b:02x}"));
                }
            }
        }
    }
    text.truncate(256);
    token(&text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use offpeak_masking::TableId;
    use offpeak_shared::config::ConfigError;

    fn cfg() -> MaskedRefresh {
        let yaml = "timezone: UTC\nmasked_refresh:\n  source_cluster: prod-aurora\n  target_cluster: dev-aurora\n  rules: masking.yaml\n  window: { days: daily, start: \"03:00\", end: \"06:00\" }\n  dev_security_groups: [sg-0bbb]\n  dev_password_secret: offpeak/dev\n";
        offpeak_shared::config::parse_str(yaml, Path::new("/tmp/schedules.yaml"))
            .unwrap()
            .masked_refresh
            .unwrap()
    }

    fn column(table: &str, column: &str) -> Unclassified {
        Unclassified {
            table: TableId {
                schema: "public".into(),
                name: table.into(),
            },
            column: Some(column.into()),
        }
    }

    fn finding(message: &str) -> ConfigError {
        ConfigError {
            path: "masking.yaml".into(),
            line: 2,
            col: 3,
            message: message.into(),
        }
    }

    #[test]
    fn one_notice_names_each_unclassified_column_and_nothing_else() {
        let audit = Audit {
            unclassified: vec![column("users", "nickname"), column("orders", "gift note")],
            findings: vec![
                finding("`users.nickname` is not classified: add it to keep or mask"),
                finding("`orders.gift note` is not classified: add it to keep or mask"),
            ],
        };
        let n = notice(&cfg(), &Outcome::Disagree(audit)).expect("a notice");
        assert_eq!(n.title, "masking rules miss production columns");
        assert_eq!(n.severity, Severity::Failure);
        assert_eq!(n.target.as_str(), "dev-aurora");
        let columns: Vec<String> = n
            .facts
            .iter()
            .filter(|(k, _)| *k == "column")
            .map(|(_, v)| v.render())
            .collect();
        assert_eq!(
            columns,
            ["public.users.nickname", "public.orders.gift#20note"]
        );
        assert!(n.facts.iter().all(|(k, _)| *k != "findings"));
        let email = n.email_text();
        assert!(email.contains("column: public.users.nickname"), "{email}");
        assert!(email.contains("unclassified: 2"), "{email}");
    }

    #[test]
    fn other_findings_are_summarised_and_all_classified_is_quiet() {
        let audit = Audit {
            unclassified: Vec::new(),
            findings: vec![finding(
                "`users.born`: strategy `email` does not fit type date",
            )],
        };
        let n = notice(&cfg(), &Outcome::Disagree(audit)).unwrap();
        let fact = |key: &str| {
            n.facts
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.render())
        };
        assert_eq!(fact("other_findings").as_deref(), Some("1"));
        assert!(fact("findings").unwrap().contains("does not fit type date"));
        assert!(notice(&cfg(), &Outcome::Classified).is_none());
    }

    #[test]
    fn the_secret_becomes_a_verified_url_and_a_missing_field_is_named() {
        let secret = r#"{"engine": "postgres", "host": "prod.cluster-ro.example", "port": 5432, "username": "offpeak_check", "password": "p@ss word", "dbname": "app"}"#;
        let url = url_from_secret(secret, TrustRoots::rds()).unwrap();
        assert_eq!(
            url.expose(),
            "postgres://offpeak_check:p%40ss%20word@prod.cluster-ro.example:5432/app"
        );
        assert!(url.roots().is_some(), "production's certificate is checked");
        let mysql = r#"{"engine": "mysql", "host": "h", "username": "u", "password": "p", "dbname": "app"}"#;
        assert!(
            url_from_secret(mysql, TrustRoots::rds())
                .unwrap()
                .expose()
                .starts_with("mysql://u:p@h/app")
        );
        let no_db = r#"{"host": "h", "username": "u", "password": "p"}"#;
        assert_eq!(
            url_from_secret(no_db, TrustRoots::rds()).unwrap_err(),
            "it has no \"dbname\" (the database the rules cover)"
        );
        assert_eq!(
            url_from_secret("plain", TrustRoots::rds()).unwrap_err(),
            "it is not a JSON document"
        );
    }
}
