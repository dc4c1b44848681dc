//! The masked refresh end to end, one test binary: the function against moto and a real clone
//! server (`refresh`, `faults`, `handover`, `mariadb`, `overrides`, `quarantine`), the whole clone server as the unit
//! (`clone_cluster`), TLS to the clone (`clone_tls`) and a clone server that does not
//! cooperate (`timeouts`). The worlds they run in are
//! `offpeak_tests::masked_refresh_support`.

mod clone_cluster;
mod clone_tls;
mod faults;
mod handover;
mod mariadb;
mod overrides;
mod quarantine;
mod refresh;
mod rules_check;
mod timeouts;
