//! The `silgate` binary: command line and wiring.
//!
//! # Layout
//!
//! - `main.rs`: the clap command tree and exit codes.
//! - [`translate`]: `silgate translate`, any source kind -> 1546 XML files plus
//!   `quarantine.jsonl`.
//! - [`validate`]: `silgate validate`, judges 1546 documents.
//! - [`demo`]: `silgate demo`, the whole current path on bundled samples.
//! - [`tables`]: loading code tables, with a region's overrides from a directory.
//!
//! Only the binary reads files or the environment; the library crates get bytes and
//! values. `anyhow` lives here and nowhere else.

mod demo;
mod tables;
mod translate;
mod validate;

use clap::{Parser, Subcommand, ValueEnum};
use std::path::PathBuf;
use std::process::ExitCode;

/// silgate: CVs and vacancies of the CPIs, to the national node, in the standard of
/// decreto direttoriale 1546/2011.
#[derive(Debug, Parser)]
#[command(name = "silgate", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Options shared by the commands that judge records.
#[derive(Debug, clap::Args)]
struct Judging {
    /// Directory of code-table overrides (`belfiore.tsv`, `ateco2007.tsv`, `cp2011.tsv`,
    /// `titoli.tsv`, `lingue.tsv`, `cittadinanze.tsv`, `patenti.tsv`, `contratti.tsv`),
    /// in the embedded tables' format. (default: the embedded tables only)
    #[arg(long, value_name = "DIR")]
    code_tables: Option<PathBuf>,
    /// The date against which "still in use" and "in the future" are judged,
    /// YYYY-MM-DD. (default: today)
    #[arg(long, value_name = "DATE")]
    today: Option<String>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Judge 1546 XML documents: prints `FILE: PATH: RULE: message` per issue; exit 1
    /// if any document is invalid.
    Validate {
        /// Documents (Candidatura or Vacancy).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        #[command(flatten)]
        judging: Judging,
    },
    /// Translate source records into one 1546 XML file per accepted record in DIR, and
    /// one line per rejected record in DIR/quarantine.jsonl.
    Translate {
        /// The kind of input.
        #[arg(long, value_enum)]
        source: SourceKind,
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// ISTAT region code (two digits) used to allocate communication codes for
        /// records that carry none.
        #[arg(long, value_name = "NN")]
        region: Option<String>,
        /// Input files.
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
        #[command(flatten)]
        judging: Judging,
    },
    /// Run the whole current path on the bundled samples: translate, quarantine,
    /// re-validate every document written, and print what happened.
    Demo {
        /// Where to write the documents. (default: a `silgate-demo` folder in the
        /// system's temporary directory, emptied first)
        #[arg(long, value_name = "DIR")]
        out: Option<PathBuf>,
    },
    /// List the embedded code tables with their source, licence and completeness.
    Codes,
}

/// Kinds of input `translate` reads. Adapters add theirs here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SourceKind {
    /// The canonical model as JSON, one record per line.
    CanonicalJson,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Validate { files, judging } => validate::run(&files, &judging),
        Command::Translate { source, out, region, inputs, judging } => translate::run(source, &out, region.as_deref(), &inputs, &judging),
        Command::Demo { out } => demo::run(out),
        Command::Codes => tables::list(),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("silgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}
