//! The `silgate` binary: command line and wiring.
//!
//! # Layout
//!
//! - `main.rs`: the clap command tree and exit codes.
//! - [`translate`]: `silgate translate`, any source kind -> 1546 XML files plus
//!   `quarantine.jsonl`.
//! - [`validate`]: `silgate validate`, judges 1546 documents.
//! - [`demo`]: `silgate demo`, the whole path on bundled samples, in process.
//! - [`tables`]: loading code tables, with a region's overrides from a directory.
//! - [`ops`]: `run`, `ingest`, `node`, `dlq`, `audit`, `config check`, `report`,
//!   `certs`.
//! - [`progress`]: the progress bar.
//! - [`pki`]: a throwaway PKI for the demo and tests.
//!
//! The runtime is the `silgate_gateway` library; this binary parses arguments and
//! prints. `anyhow` lives here and nowhere else.

mod demo;
mod ops;
mod pki;
mod progress;
mod tables;
mod translate;
mod validate;

use silgate_gateway::SourceKind;

use clap::{Parser, Subcommand};
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
    /// `titoli.tsv`, `lingue.tsv`, `cittadinanze.tsv`, `patenti.tsv`, `contratti.tsv`,
    /// `cp2011-sixth.tsv`), in the embedded tables' format. (default: the embedded
    /// tables only)
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
        /// The kind of input: canonical-json (JSON lines), sintesi (a SintesiExport
        /// feed), silplus (a folder or zip with EXPORT.TXT), access (.mdb/.accdb, a
        /// workbook, CSV exports or a zip), pec (saved .eml envelopes, with --pec-config).
        #[arg(long, value_parser = source_kind())]
        source: SourceKind,
        /// Output directory (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The region whose communication codes are allocated for records that carry
        /// none: its name (`puglia`, `emilia-romagna`) or its code in the ministry's
        /// table (`14`; `silgate codes` lists them). Required.
        #[arg(long, value_name = "NAME|NN")]
        region: Option<String>,
        /// Table mapping for silplus / access: a TOML file, or a built-in name
        /// (`silplus-1`, `campania-1`). (default: the kind's built-in mapping)
        #[arg(long, value_name = "FILE|NAME")]
        mapping: Option<String>,
        /// For `--source pec`: a TOML file with a `[pec]` table (provider certificates,
        /// allowed senders), e.g. the gateway's config.
        #[arg(long, value_name = "FILE")]
        pec_config: Option<PathBuf>,
        /// An optional element whose code the standard cannot carry (a five-level
        /// CP2011 code): `omit` leaves it out with a warning (`warnings.jsonl`),
        /// `reject` quarantines the record. (default: omit)
        #[arg(long, value_name = "omit|reject", default_value = "omit")]
        optional_unmappable: silgate_std1546::fit::Unmappable,
        /// Input files (folders for SIL Plus exports).
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
    /// Print the JSON Schema of one canonical record (the push API body, a line of a
    /// canonical-json inbox file); `schemas/canonical-record.schema.json` is this output.
    Schema,
    /// Ingest files into the durable queue (translate, quarantine, dedup, enqueue).
    Ingest {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The kind of input (as for translate).
        #[arg(long, value_parser = source_kind(), default_value = "canonical-json")]
        source: SourceKind,
        /// Table mapping for silplus / access (a TOML file or a built-in name).
        #[arg(long, value_name = "FILE|NAME")]
        mapping: Option<String>,
        /// Input files (folders for SIL Plus exports).
        #[arg(required = true)]
        inputs: Vec<PathBuf>,
    },
    /// Run the gateway: poll the configured inboxes and deliver the queue to the node
    /// until SIGTERM (which drains in-flight work).
    Run {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Run the reference national node.
    Node {
        /// Node configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Copy the embedded default's stores (queue, dedup index, audit: one consistent
    /// instant), the region's secret, the anchor key and the quarantine into DIR, owner
    /// only, while the gateway may run.
    Backup {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A new (or empty) folder.
        dir: PathBuf,
    },
    /// Restore the stores from a backup folder (the instance must be stopped): the
    /// stores in use are set aside, what they settled since is kept, inputs read since
    /// are read again.
    Restore {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The folder `silgate backup` made.
        dir: PathBuf,
        /// When the dedup index in use is lost: the eGov progressive of the last id the
        /// node saw (ids go on above it).
        #[arg(long, value_name = "N")]
        egov_counter_floor: Option<u64>,
    },
    /// Delete the personal content past its `[retention]` days (dead letters, kept
    /// inputs), auditing each kind by count; `silgate run` does it once a day. With
    /// `--fiscal-code`, erase one person instead (the instance must be stopped).
    Purge {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Erase this person's CVs from the queue and the dedup index, and the kept
        /// inputs that name them (a later export of theirs is sent as new). `-` reads
        /// it from standard input (out of the process list and the shell's history).
        #[arg(long, value_name = "CF")]
        fiscal_code: Option<String>,
    },
    /// Records refused at ingest or by the node, kept for a replay.
    Quarantine {
        #[command(subcommand)]
        command: QuarantineCommand,
    },
    /// The dead-letter store.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// Reports from the audit log.
    Report {
        #[command(subcommand)]
        command: ReportCommand,
    },
    /// Configuration files.
    Config {
        #[command(subcommand)]
        command: ConfigCommand,
    },
    /// Write a throwaway PKI (CA, node and client certificates) for trials and tests.
    Certs {
        /// Output directory.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// The client certificate's common name: the region's eGov sender name
        /// (`region_name`), the only sender the reference node takes from it.
        #[arg(long, default_value = "REGIONE")]
        region: String,
    },
}

#[derive(Debug, Subcommand)]
enum ReportCommand {
    /// Per CPI, for the week from --since: received, delivered, rejected (top reasons),
    /// median and p95 delay from the CPI's time to the node's receipt; and the share of
    /// known CPIs that sent nothing.
    Weekly {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// The first day of the week (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: String,
        /// Only the CPIs of this ISTAT province code (3 digits, as in `CPI072006`).
        #[arg(long, value_name = "PPP")]
        province: Option<String>,
        /// csv or html.
        #[arg(long, default_value = "csv")]
        format: String,
    },
}

#[derive(Debug, Subcommand)]
enum ConfigCommand {
    /// Report every problem of a gateway configuration at once (`FILE: key: problem`);
    /// exit 1 if there is any.
    Check {
        /// Gateway configuration file.
        file: PathBuf,
        /// Do not look at the files it names (certificates, mappings): check the
        /// configuration alone, e.g. on a build machine.
        #[arg(long)]
        offline: bool,
    },
}

#[derive(Debug, Subcommand)]
enum DlqCommand {
    /// List dead letters: message id, code, CPI, time, reason.
    List {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// At most this many.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Put dead letters back in the queue (all, or those named by --id).
    Replay {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Message ids to replay (default: all).
        #[arg(long = "id", value_name = "MESSAGE_ID")]
        ids: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
enum QuarantineCommand {
    /// List the kept refusals: id, when, who refused (ingest or node), CPI, rule,
    /// field, the field as the source names it (`-` when it does not), source
    /// position, and whether a replay can judge it (tab-separated).
    List {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only this CPI's.
        #[arg(long, value_name = "CPI")]
        cpi: Option<String>,
        /// Only those whose first error has this rule (`code.unmappable`, `node.ko`).
        #[arg(long, value_name = "RULE")]
        rule: Option<String>,
        /// Only those kept on or after this day (YYYY-MM-DD, UTC).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
        /// Replayed ones too, with what their replay did.
        #[arg(long)]
        all: bool,
    },
    /// Judge kept refusals again with today's code tables and mapping, and queue the
    /// accepted ones (all of them, or those of --rule, or the one of --id).
    Replay {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Only those whose first error has this rule.
        #[arg(long, value_name = "RULE", conflicts_with = "id")]
        rule: Option<String>,
        /// Only this one (an id of `quarantine list`).
        #[arg(long, value_name = "ID")]
        id: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum AuditCommand {
    /// Walk every chain; exit 1 and name the entry if one was edited, inserted or
    /// deleted, if a delivered record lacks its story, or (with --anchors) if a chain no
    /// longer holds an anchored head.
    Verify {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// Also check the chains against the anchors in this file (`[anchor] file`, or
        /// a copy of it).
        #[arg(long, value_name = "FILE")]
        anchors: Option<PathBuf>,
    },
    /// Append the signed head of every chain to `[anchor] file` (also done every
    /// `[anchor] every_secs` inside `silgate run`).
    Anchor {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
    },
    /// Print the history of a record (message id or communication code) or of a CPI.
    Query {
        /// Gateway configuration file.
        #[arg(long, value_name = "FILE")]
        config: PathBuf,
        /// A message id or a 25-digit communication code.
        #[arg(long, value_name = "ID")]
        record: Option<String>,
        /// A CPI code.
        #[arg(long, value_name = "CODE")]
        cpi: Option<String>,
        /// From this date on (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        since: Option<String>,
    },
}

/// The `--source` values: every [`SourceKind`] by its config name.
fn source_kind() -> impl clap::builder::TypedValueParser<Value = SourceKind> {
    use clap::builder::TypedValueParser as _;
    clap::builder::PossibleValuesParser::new(SourceKind::ALL.map(SourceKind::as_str)).try_map(|s| s.parse::<SourceKind>())
}

/// Libraries whose debug and trace output carries what they move (statement
/// parameters, protocol frames, mail commands and messages, headers): never logged
/// below `info`, whatever `SILGATE_LOG` asks (a plain level, a longer target, a field
/// or a span directive), so that no level of logging prints a password, a token or a
/// record's content.
const QUIET: [&str; 12] =
    ["tokio_postgres", "postgres_protocol", "lapin", "amq_protocol", "async_imap", "imap_proto", "mail_parser", "h2", "hyper", "hyper_util", "reqwest", "rustls"];

/// Logs as JSON on stderr: what `SILGATE_LOG` (default `warn`) lets through, and, as a
/// second filter every event must also pass, nothing below `info` from [`QUIET`].
fn init_logging() {
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let wanted = tracing_subscriber::EnvFilter::try_from_env("SILGATE_LOG").unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let cap = Targets::new().with_default(LevelFilter::TRACE).with_targets(QUIET.map(|t| (t, LevelFilter::INFO)));
    let out = tracing_subscriber::fmt::layer().json().with_writer(std::io::stderr);
    if let Err(e) = tracing_subscriber::registry().with(wanted).with(cap).with(out).try_init() {
        eprintln!("silgate: logging not set up: {e}");
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging();
    let result = match cli.command {
        Command::Validate { files, judging } => validate::run(&files, &judging),
        Command::Translate { source, out, region, mapping, pec_config, optional_unmappable, inputs, judging } => translate::run(
            &translate::Request {
                source,
                out: &out,
                region: region.as_deref(),
                mapping: mapping.as_deref(),
                pec: pec_config.as_deref(),
                unmappable: optional_unmappable,
                inputs: &inputs,
            },
            &judging,
        ),
        Command::Codes => tables::list(),
        Command::Schema => record_schema().map(|s| {
            println!("{s}");
            ExitCode::SUCCESS
        }),
        Command::Config { command: ConfigCommand::Check { file, offline } } => ops::config_check(&file, offline),
        Command::Certs { out, region } => ops::certs(&out, &region),
        command => match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
            Ok(rt) => rt.block_on(async_command(command)),
            Err(e) => Err(e.into()),
        },
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("silgate: error: {e:#}");
            ExitCode::from(2)
        }
    }
}

async fn async_command(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Demo { out } => demo::run(out).await,
        Command::Ingest { config, source, mapping, inputs } => ops::ingest(&config, source, mapping.as_deref(), &inputs).await,
        Command::Run { config } => ops::run(&config).await,
        Command::Node { config } => ops::node(&config).await,
        Command::Purge { config, fiscal_code: None } => ops::purge(&config).await,
        Command::Purge { config, fiscal_code: Some(cf) } => ops::erase(&config, &cf).await,
        Command::Backup { config, dir } => ops::backup(&config, &dir).await,
        Command::Restore { config, dir, egov_counter_floor } => ops::restore(&config, &dir, egov_counter_floor).await,
        Command::Quarantine { command: QuarantineCommand::List { config, cpi, rule, since, all } } => ops::quarantine_list(&config, cpi, rule, since, all).await,
        Command::Quarantine { command: QuarantineCommand::Replay { config, rule, id } } => ops::quarantine_replay(&config, rule, id).await,
        Command::Dlq { command: DlqCommand::List { config, limit } } => ops::dlq_list(&config, limit).await,
        Command::Dlq { command: DlqCommand::Replay { config, ids } } => ops::dlq_replay(&config, &ids).await,
        Command::Audit { command: AuditCommand::Verify { config, anchors } } => ops::audit_verify(&config, anchors.as_deref()).await,
        Command::Audit { command: AuditCommand::Anchor { config } } => ops::audit_anchor(&config).await,
        Command::Audit { command: AuditCommand::Query { config, record, cpi, since } } => ops::audit_query(&config, record, cpi, since).await,
        Command::Report { command: ReportCommand::Weekly { config, since, province, format } } => ops::report_weekly(&config, &since, province.as_deref(), &format).await,
        Command::Validate { .. } | Command::Translate { .. } | Command::Codes | Command::Schema | Command::Certs { .. } | Command::Config { .. } => {
            unreachable!("handled synchronously")
        }
    }
}

/// The JSON Schema of a canonical record, derived from the model (schemars), with the
/// title and description the published file carries.
fn record_schema() -> anyhow::Result<String> {
    let mut s = serde_json::to_value(schemars::schema_for!(silgate_core::Record))?;
    s["title"] = serde_json::json!("silgate canonical record");
    s["description"] = serde_json::json!(
        "A CV (kind = cv) or a vacancy (kind = vacancy) in silgate's canonical JSON: the body of POST /v1/cvs and /v1/vacancies, one line of a canonical-json inbox file. Generated from silgate-core's model; codes are checked against the national tables on receipt, beyond what this schema can say."
    );
    Ok(serde_json::to_string_pretty(&s)?)
}
