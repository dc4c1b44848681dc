//! `offpeak mask`: mask a PostgreSQL or MySQL/MariaDB database in place by the masking rules,
//! then verify it (or, with `--verify-only`, only verify). `offpeak mask scaffold` writes a
//! starting rules file instead (see `mask_scaffold`).
//!
//! Exit codes: 0 masked and verified; 2 bad input, nothing changed (rules file errors, no salt,
//! rules and live schema disagree: every finding listed as `PATH:LINE:COL: message`); 1 runtime
//! failure (database, AWS) or a failed verification. Output carries names and counts only.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use offpeak_masked_refresh::secrets::SdkSecrets;
use offpeak_masking::{
    self as masking, Budget, Db, Endpoint, MaskError, MaskReport, MaskingKey, Verification, rules,
};
use offpeak_shared::aws::AwsCtx;

use crate::failure::Failure;

#[derive(Args, Debug)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct MaskArgs {
    #[command(subcommand)]
    pub command: Option<MaskCommand>,
    /// Masking rules file (e.g. infra/masking.yaml)
    #[arg(long, value_name = "PATH", required = true)]
    pub rules: Option<PathBuf>,
    /// Database to mask in place: postgres://... or mysql://... For RDS with certificate checks add
    /// ?sslmode=verify-full&sslrootcert=CA.pem (PostgreSQL) or ?ssl-mode=VERIFY_IDENTITY&ssl-ca=CA.pem (MySQL)
    #[arg(long, value_name = "URL", required = true)]
    pub database_url: Option<String>,
    /// Run only the verification gate; change nothing
    #[arg(long)]
    pub verify_only: bool,
    /// Print the report as JSON
    #[arg(long)]
    pub json: bool,
}

#[derive(Subcommand, Debug)]
pub enum MaskCommand {
    /// Print a complete rules file for a database on stdout (sampling at most 200 rows per
    /// table); change nothing.
    #[command(long_about = crate::mask_scaffold::LONG_ABOUT)]
    Scaffold(crate::mask_scaffold::ScaffoldArgs),
}

pub async fn run(args: MaskArgs) -> Result<(), Failure> {
    if let Some(MaskCommand::Scaffold(a)) = args.command {
        return crate::mask_scaffold::run(a).await;
    }
    let (Some(rules_path), Some(url)) = (args.rules, args.database_url) else {
        return Err(Failure::BadInput(
            "offpeak mask needs --rules and --database-url".to_owned(),
        ));
    };
    let rules = rules::load(&rules_path).map_err(|e| Failure::BadInput(e.to_string()))?;
    let key = load_key(rules.salt_secret.as_deref()).await?;
    let endpoint = Endpoint::new(&url);
    let mut db = Db::connect(&url)
        .await
        .map_err(|e| Failure::Runtime(e.to_string()))?;
    let result = match args.verify_only {
        true => masking::verify(&mut db, &rules, &key)
            .await
            .map(Outcome::Verified),
        false => masking::mask_parallel(&mut db, Some(endpoint), &rules, &key, Budget::default())
            .await
            .map(Outcome::Masked),
    };
    db.close().await;
    report(result.map_err(failure)?, args.json)
}

/// The salt from `OFFPEAK_MASKING_SALT`, else from the secret the rules name, read with the SDK's
/// default configuration (standard `AWS_*` variables, endpoint overrides included), loaded only
/// when the secret is needed.
async fn load_key(secret_id: Option<&str>) -> Result<MaskingKey, Failure> {
    let read = async |id: &str| {
        let aws = AwsCtx::load().await;
        SdkSecrets::from_sdk_config(aws.sdk_config()).salt(id).await
    };
    MaskingKey::load(|name| std::env::var(name).ok(), secret_id, read)
        .await
        .map_err(|e| match MaskingKey::is_bad_input(&e) {
            true => Failure::BadInput(e.to_string()),
            false => Failure::Runtime(e.to_string()),
        })
}

enum Outcome {
    Masked(MaskReport),
    Verified(Verification),
}

fn failure(err: MaskError) -> Failure {
    match err.is_bad_input() {
        true => Failure::BadInput(err.to_string()),
        false => Failure::Runtime(err.to_string()),
    }
}

fn report(outcome: Outcome, json: bool) -> Result<(), Failure> {
    let verification = match &outcome {
        Outcome::Masked(r) => r.verification.clone(),
        Outcome::Verified(v) => Some(v.clone()),
    };
    if json {
        let value = match &outcome {
            Outcome::Masked(r) => serde_json::to_string_pretty(r),
            Outcome::Verified(v) => serde_json::to_string_pretty(v),
        };
        println!(
            "{}",
            value.map_err(|e| Failure::Runtime(format!("cannot write the report: {e}")))?
        );
    } else {
        if let Outcome::Masked(r) = &outcome {
            print_tables(r);
        }
        if let Some(v) = &verification {
            print_verification(v);
        }
    }
    match verification {
        Some(v) if v.passed => Ok(()),
        Some(_) => Err(Failure::Runtime("verification failed".to_owned())),
        None => Err(Failure::Runtime(
            "masking stopped before every table was done; run it again to resume".to_owned(),
        )),
    }
}

fn print_tables(report: &MaskReport) {
    for t in &report.tables {
        let method = t.method.as_deref().unwrap_or("-");
        let rows = t
            .rows
            .map_or_else(|| "-".to_owned(), |r| format!("{r} rows"));
        let state = if t.already_done {
            "already done"
        } else if t.done {
            "done"
        } else {
            "not done"
        };
        println!(
            "{:<28} {:<8} {:<8} {:>12}  {:>7.2}s  {state}",
            t.table, t.action, method, rows, t.seconds
        );
        if !t.columns.is_empty() {
            println!("{:<28} {}", "", t.columns.join(", "));
        }
    }
}

fn print_verification(v: &Verification) {
    let failed: Vec<_> = v.failures().collect();
    if failed.is_empty() {
        println!("verification passed: {} checks", v.checks.len());
        return;
    }
    println!(
        "verification FAILED: {} of {} checks",
        failed.len(),
        v.checks.len()
    );
    for c in failed {
        println!("  {} {}: {}", c.check, c.subject, c.detail);
    }
}
