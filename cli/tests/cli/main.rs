//! The `offpeak` binary as users run it, one test binary: its command-line contract and exit codes
//! (`contract`), `offpeak mask` and `mask scaffold` against real PostgreSQL and MariaDB (`mask`,
//! `mask_scaffold`), `state init` (`state_init`), ticks, overrides and status against moto
//! (`tick`) and `timeline --state` (`timeline_state`).

mod contract;
mod mask;
mod mask_scaffold;
mod state_init;
mod tick;
mod timeline_state;
