//! The calendar engine and the hours-saved totals built on it, one test binary: time semantics
//! table by table (`table`), `next_change` against `state_at` (`properties`), the weighted-time
//! integral (`savings_properties`) and the shipped schedule's weekly totals counted by hand
//! (`savings_shipped_schedule`).

mod mixed_schedule;
mod properties;
mod savings_properties;
mod savings_shipped_schedule;
mod table;
