//! The attachments of `postacert.eml`, each to the adapter its type calls for.
//!
//! An attachment is written to a private temporary folder and opened by type: a zip
//! is unpacked (entry, total and ratio limits) and its content dispatched again (a
//! SIL Plus export when it holds `EXPORT.TXT`, else its zips one by one, else Access
//! exports); `.xml` is a Sintesi feed or a national 1546 document by its root; `.mdb`,
//! `.accdb`, `.xlsx`, `.xls`, `.csv` go to the Access adapter. Whatever an attachment
//! gives is forwarded with the PEC provenance; a record of another CPI than the
//! sender's is rejected (`pec.cpi`); an attachment that cannot be read is one rejection
//! (`pec.attachment`), and the message goes on.

use crate::PecConfig;
use mail_parser::{MessageParser, MimeHeaders};
use silgate_core::source::{Emit, ReadSummary, Rejection, Source, SourceError, SourceItem};
use silgate_core::{Position, Provenance, SourceSystem};
use silgate_source_tabular::unzip::{self, ZipLimits};
use std::ops::ControlFlow;
use std::path::Path;

const MAX_ZIP_DEPTH: u8 = 3;

fn reject(sum: &mut ReadSummary, emit: &mut Emit<'_>, origin: &str, rule: &str, message: String) -> ControlFlow<()> {
    let prov = Provenance::new(SourceSystem::Pec, origin, Position::MimePart("attachment".into()));
    sum.emit(emit, SourceItem::Rejected(Rejection::one(prov, "attachment", rule, message)))
}

/// Loose attachments of these types are read together, as one export (a SIL Plus
/// export sent as its files, Access CSV exports, a database or a workbook).
const LOOSE: [&str; 8] = ["csv", "txt", "mdb", "accdb", "xlsx", "xlsm", "xls", "ods"];

/// Dispatches every attachment of the original message `eml`. An error is a local
/// failure (disk, temporary folder): the message must be tried again later, not
/// quarantined.
pub fn attachments(eml: &[u8], base: &str, cpi: &str, config: &PecConfig, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<(), SourceError> {
    let Some(msg) = MessageParser::default().parse(eml) else {
        let _ = reject(sum, emit, base, "pec.postacert", "postacert.eml is not a MIME message".into());
        return Ok(());
    };
    let dir = silgate_core::private::temp_dir("pec").map_err(|e| SourceError::io(base, e))?;
    let loose = dir.path().join("attachments");
    silgate_core::private::create_dir_all(&loose).map_err(|e| SourceError::io(base, e))?;
    let mut any = false;
    let mut loose_any = false;
    let mut budget = Budget { left: config.max_attachment_bytes.saturating_mul(4) };
    for (i, part) in msg.attachments().enumerate() {
        any = true;
        let name = part.attachment_name().map(sanitize).unwrap_or_else(|| format!("attachment-{}", i + 1));
        let kind = ext(Path::new(&name));
        // File names may hold personal data (CV_Nome_Cognome.xlsx): provenance names
        // attachments by position and type only.
        let origin = format!("{base}/attachment-{}.{kind}", i + 1);
        let bytes = part.contents();
        if bytes.len() as u64 > config.max_attachment_bytes {
            if reject(sum, emit, &origin, "pec.attachment-size", format!("the attachment is larger than {} MiB", config.max_attachment_bytes >> 20)).is_break() {
                return Ok(());
            }
            continue;
        }
        let flow = match kind.as_str() {
            "zip" | "xml" => {
                let path = dir.path().join(format!("{i}.{kind}"));
                silgate_core::private::write(&path, bytes).map_err(|e| SourceError::io(&origin, e))?;
                file(&path, &origin, cpi, config, 0, &mut budget, sum, emit)?
            }
            k if LOOSE.contains(&k) => {
                silgate_core::private::write(&loose.join(&name), bytes).map_err(|e| SourceError::io(&origin, e))?;
                loose_any = true;
                ControlFlow::Continue(())
            }
            _ => reject(sum, emit, &origin, "pec.attachment-type", "an attachment of a type no adapter reads (zip, xml, csv, txt, mdb, accdb, xlsx, xls)".into()),
        };
        if flow.is_break() {
            return Ok(());
        }
    }
    if loose_any {
        let origin = format!("{base}/attachments");
        let _ = folder(&loose, &origin, cpi, config, sum, emit)?;
    }
    if !any {
        let _ = reject(sum, emit, base, "pec.attachment", "the message carries no attachment".into());
    }
    Ok(())
}

/// Bytes a message's zips may still unpack to, shared by every level of nesting.
#[derive(Debug)]
struct Budget {
    left: u64,
}

/// A folder of loose files: a SIL Plus export when it holds the manifest, else Access
/// exports (CSV, a database, a workbook).
fn folder(dir: &Path, origin: &str, cpi: &str, config: &PecConfig, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
    let has_manifest = walk(dir).iter().any(|f| f.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(silgate_source_silplus::MANIFEST)));
    let opened: Result<Box<dyn Source>, SourceError> = if has_manifest {
        silgate_source_silplus::open(dir, None, config.limits).map(|s| Box::new(s) as Box<dyn Source>)
    } else {
        silgate_source_access::open(dir, None, config.limits).map(|s| Box::new(s) as Box<dyn Source>)
    };
    match opened {
        Ok(s) => forward(s, origin, cpi, sum, emit),
        Err(e @ SourceError::Io { .. }) => Err(e),
        Err(e) => Ok(reject(sum, emit, origin, "pec.attachment", format!("{e}"))),
    }
}

fn sanitize(name: &str) -> String {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    let mut clean: String = base.chars().map(|c| if c.is_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    // A file system takes 255 bytes a name: keep the start and the extension.
    if clean.len() > 200 {
        let ext = clean.rfind('.').map(|i| clean[i..].to_string()).filter(|e| e.len() <= 16).unwrap_or_default();
        let mut cut = 200 - ext.len();
        while !clean.is_char_boundary(cut) {
            cut -= 1;
        }
        clean = format!("{}{ext}", &clean[..cut]);
    }
    if clean.is_empty() || clean.starts_with('.') { format!("_{clean}") } else { clean }
}

fn ext(p: &Path) -> String {
    p.extension().map(|e| e.to_string_lossy().to_lowercase()).unwrap_or_default()
}

/// Forwards what one source gives, with PEC provenance and the CPI check.
fn forward(mut src: Box<dyn Source + '_>, origin: &str, cpi: &str, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
    let mut flow = ControlFlow::Continue(());
    let result = src.read(&mut |item| {
        flow = pass(item, origin, cpi, sum, emit);
        flow
    });
    match result {
        Ok(_) => Ok(flow),
        Err(e @ SourceError::Io { .. }) => Err(e),
        Err(e) => Ok(reject(sum, emit, origin, "pec.attachment", format!("unreadable: {e}"))),
    }
}

fn pass(item: SourceItem, origin: &str, cpi: &str, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> ControlFlow<()> {
    let rebase = |p: &mut Provenance| {
        p.system = SourceSystem::Pec;
        p.origin = origin.to_string();
    };
    match item {
        SourceItem::Record(mut rec) => {
            rebase(rec.provenance_mut());
            let theirs = rec.cpi().to_string();
            if theirs != cpi {
                let r = Rejection::one(
                    rec.provenance().clone(),
                    "DatiSistema/intermediario",
                    "pec.cpi",
                    format!("a record of CPI {theirs} sent by the address of CPI {cpi}: a CPI may only send its own records"),
                );
                return sum.emit(emit, SourceItem::Rejected(r));
            }
            sum.emit(emit, SourceItem::Record(rec))
        }
        SourceItem::Rejected(mut r) => {
            rebase(&mut r.provenance);
            sum.emit(emit, SourceItem::Rejected(r))
        }
    }
}

/// One file (an attachment, or an entry of an unpacked zip).
#[allow(clippy::too_many_arguments, reason = "the recursion carries the message's context")]
fn file(
    path: &Path,
    origin: &str,
    cpi: &str,
    config: &PecConfig,
    depth: u8,
    budget: &mut Budget,
    sum: &mut ReadSummary,
    emit: &mut Emit<'_>,
) -> Result<ControlFlow<()>, SourceError> {
    match ext(path).as_str() {
        "zip" => zip(path, origin, cpi, config, depth, budget, sum, emit),
        "xml" => xml(path, origin, cpi, config, sum, emit),
        _ => Ok(reject(sum, emit, origin, "pec.attachment-type", "an attachment of a type no adapter reads".into())),
    }
}

#[allow(clippy::too_many_arguments, reason = "the recursion carries the message's context")]
fn zip(
    path: &Path,
    origin: &str,
    cpi: &str,
    config: &PecConfig,
    depth: u8,
    budget: &mut Budget,
    sum: &mut ReadSummary,
    emit: &mut Emit<'_>,
) -> Result<ControlFlow<()>, SourceError> {
    if depth >= MAX_ZIP_DEPTH {
        return Ok(reject(sum, emit, origin, "pec.attachment", format!("zips nested deeper than {MAX_ZIP_DEPTH}")));
    }
    if budget.left == 0 {
        return Ok(reject(sum, emit, origin, "pec.attachment", "the message's zips unpack past its size budget".into()));
    }
    let limits = ZipLimits { max_entry_bytes: config.max_attachment_bytes, max_total_bytes: budget.left, ..ZipLimits::default() };
    let dir = match unzip::unpack(path, limits) {
        Ok(d) => d,
        Err(e @ SourceError::Io { .. }) => return Err(e),
        Err(e) => return Ok(reject(sum, emit, origin, "pec.attachment", format!("{e}"))),
    };
    let mut files: Vec<std::path::PathBuf> = walk(dir.path());
    files.sort();
    let unpacked: u64 = files.iter().filter_map(|f| std::fs::metadata(f).ok()).map(|m| m.len()).sum();
    budget.left = budget.left.saturating_sub(unpacked);
    let (zips, rest): (Vec<_>, Vec<_>) = files.into_iter().partition(|f| ext(f) == "zip");
    for (k, z) in zips.iter().enumerate() {
        let inner = format!("{origin}!zip-{}", k + 1);
        if zip(z, &inner, cpi, config, depth + 1, budget, sum, emit)?.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    let manifest = rest.iter().any(|f| f.file_name().is_some_and(|n| n.to_string_lossy().eq_ignore_ascii_case(silgate_source_silplus::MANIFEST)));
    let xmls: Vec<_> = rest.iter().filter(|f| ext(f) == "xml").collect();
    if !manifest {
        for (k, x) in xmls.iter().enumerate() {
            let inner = format!("{origin}!xml-{}", k + 1);
            if xml(x, &inner, cpi, config, sum, emit)?.is_break() {
                return Ok(ControlFlow::Break(()));
            }
        }
    }
    if manifest || rest.iter().any(|f| LOOSE.contains(&ext(f).as_str()) && ext(f) != "txt") {
        return folder(dir.path(), origin, cpi, config, sum, emit);
    }
    if zips.is_empty() && xmls.is_empty() {
        return Ok(reject(sum, emit, origin, "pec.attachment-type", "a zip holding nothing an adapter reads".into()));
    }
    Ok(ControlFlow::Continue(()))
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if p.file_name().is_some_and(|n| n.to_string_lossy().starts_with('.') || n == "__MACOSX") {
                continue;
            }
            if p.is_dir() { out.extend(walk(&p)) } else { out.push(p) }
        }
    }
    out
}

/// An XML attachment: a Sintesi feed or a national document, by its root.
fn xml(path: &Path, origin: &str, cpi: &str, config: &PecConfig, sum: &mut ReadSummary, emit: &mut Emit<'_>) -> Result<ControlFlow<()>, SourceError> {
    let head = {
        use std::io::Read;
        let mut h = vec![0u8; 4096];
        let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut h)).unwrap_or(0);
        h.truncate(n);
        String::from_utf8_lossy(&h).into_owned()
    };
    if head.contains("SintesiExport") {
        return match silgate_source_sintesi::open(path) {
            Ok(s) => forward(Box::new(s.with_max_event_bytes(config.limits.max_xml_event_bytes)), origin, cpi, sum, emit),
            Err(e @ SourceError::Io { .. }) => Err(e),
            Err(e) => Ok(reject(sum, emit, origin, "pec.attachment", format!("{e}"))),
        };
    }
    let bytes = std::fs::read(path).map_err(|e| SourceError::io(origin, e))?;
    let prov = Provenance::new(SourceSystem::Pec, origin, Position::Unknown);
    let (rec, issues) = silgate_std1546::read::read_document(&bytes, prov.clone());
    Ok(match rec {
        Some(r) if !silgate_core::issue::has_errors(&issues) => pass(SourceItem::Record(Box::new(r)), origin, cpi, sum, emit),
        _ => {
            let issues =
                if issues.is_empty() { vec![silgate_core::Issue::error("document", "pec.attachment", "neither a Sintesi feed nor a national 1546 document")] } else { issues };
            sum.emit(emit, SourceItem::Rejected(Rejection { provenance: prov, issues }))
        }
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn given_an_attachment_name_past_what_a_file_system_takes_it_should_be_cut_keeping_its_extension() {
        let name = format!("{}.xlsx", "è".repeat(200));
        let clean = super::sanitize(&name);
        assert!(clean.len() <= 200 && clean.ends_with(".xlsx"), "{} bytes: {clean}", clean.len());
        assert_eq!(super::sanitize("../export.zip"), "export.zip");
    }
}
