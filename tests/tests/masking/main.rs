//! The masking engine against real PostgreSQL and MariaDB, one test binary: its promise attacked
//! (`adversarial`), the in-database HMAC (`hmac`), key material kept out of server logs
//! (`logging`), a realistic schema (`realistic`), default-deny refusals (`refusal`), interrupted
//! and time-bounded runs (`resume`), the swap method (`swap`) and the verification gate
//! (`verify`). The shared schema and evidence readers are `offpeak_tests::masking_support`.

mod adversarial;
mod hmac;
mod logging;
mod realistic;
mod refusal;
mod resume;
mod swap;
mod verify;
