//! The progress line of `translate` and `ingest` on a terminal.

use indicatif::{ProgressBar, ProgressStyle};
use std::time::Duration;

/// A progress line on stderr (drawn only when stderr is a terminal): records, rate,
/// rejects.
pub(crate) fn bar(label: &str) -> Bar {
    let pb = ProgressBar::new_spinner();
    pb.set_style(ProgressStyle::with_template("{spinner} {prefix}: {human_pos} records ({per_sec}) {msg} [{elapsed}]").unwrap_or_else(|_| ProgressStyle::default_spinner()));
    pb.set_prefix(label.to_string());
    pb.enable_steady_tick(Duration::from_millis(200));
    Bar(pb)
}

/// The bar, told by ingest as records are read.
#[derive(Debug)]
pub(crate) struct Bar(ProgressBar);

impl Bar {
    pub(crate) fn finish_and_clear(&self) {
        self.0.finish_and_clear();
    }
}

impl silgate_gateway::Progress for Bar {
    /// Updates the bar every 256 records.
    fn tick(&self, records: usize, rejected: usize) {
        if records.is_multiple_of(256) {
            self.0.set_position(records as u64);
            self.0.set_message(format!("{rejected} rejected"));
        }
    }
}
