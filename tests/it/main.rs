//! End-to-end tests: the real `silgate` binary on real files, and repository tidiness.
//!
//! One integration binary (matklad's advice): every end-to-end test lives here.

mod adapters;
mod api;
mod cli;
mod dashboard;
mod delivery;
mod deploy;
mod generate;
mod pec;
mod roundtrip;
mod runtime;
mod scale;
mod schemas;
mod tidy;
