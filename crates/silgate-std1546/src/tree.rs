//! A small element tree read with quick-xml: enough to map a 1546 document (a few KiB)
//! to the canonical model with exact paths and line numbers. Only elements and their
//! text are kept; namespaces are resolved to URIs.

use quick_xml::NsReader;
use quick_xml::events::Event;
use quick_xml::name::ResolveResult;

/// One element.
#[derive(Debug, Clone, Default)]
pub(crate) struct Element {
    /// Local name.
    pub(crate) name: String,
    /// Namespace URI, if any.
    pub(crate) ns: Option<String>,
    /// Concatenated text content (unescaped).
    pub(crate) text: String,
    /// Child elements in document order.
    pub(crate) children: Vec<Element>,
    /// 1-based line of the start tag.
    pub(crate) line: usize,
    /// Attributes by local name (unescaped), namespace declarations excluded.
    pub(crate) attrs: Vec<(String, String)>,
}

impl Element {
    /// The value of the attribute with this local name.
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.attrs.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

/// Why a document is not well-formed XML.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Malformed {
    pub(crate) line: usize,
    pub(crate) message: String,
}

fn line_at(input: &[u8], pos: u64, cache: &mut (usize, usize)) -> usize {
    let pos = usize::try_from(pos).unwrap_or(usize::MAX).min(input.len());
    if pos < cache.0 {
        *cache = (0, 1);
    }
    cache.1 += input[cache.0..pos].iter().filter(|&&b| b == b'\n').count();
    cache.0 = pos;
    cache.1
}

/// Deepest nesting accepted: a 1546 document is 5 levels deep; anything far deeper is
/// hostile (it would exhaust the stack of the recursive walks).
const MAX_DEPTH: usize = 32;

/// Parses `input` into its root element.
pub(crate) fn parse(input: &[u8]) -> Result<Element, Malformed> {
    let text = std::str::from_utf8(input).map_err(|e| Malformed { line: line_at(input, e.valid_up_to() as u64, &mut (0, 1)), message: "document is not valid UTF-8".into() })?;
    let mut reader = NsReader::from_str(text);
    reader.config_mut().trim_text(false);
    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    let mut cache = (0usize, 1usize);
    loop {
        let before = reader.buffer_position();
        let ev = reader.read_resolved_event();
        let is_empty = matches!(ev, Ok((_, Event::Empty(_))));
        let err_line = |cache: &mut (usize, usize), pos: u64| line_at(input, pos, cache);
        match ev {
            Err(e) => {
                let pos = reader.error_position();
                return Err(Malformed { line: err_line(&mut cache, pos), message: format!("malformed xml: {e}") });
            }
            Ok((ns, Event::Start(s))) | Ok((ns, Event::Empty(s))) if root.is_none() => {
                let mut attrs = Vec::new();
                for a in s.attributes() {
                    let a = a.map_err(|e| Malformed { line: line_at(input, before, &mut cache), message: format!("malformed attribute: {e}") })?;
                    if a.key.as_namespace_binding().is_some() {
                        continue;
                    }
                    let v = a
                        .normalized_value(quick_xml::XmlVersion::Implicit1_0)
                        .map_err(|e| Malformed { line: line_at(input, before, &mut cache), message: format!("malformed attribute value: {e}") })?;
                    attrs.push((a.key.local_name().as_ref().to_string(), v.into_owned()));
                }
                let el = Element {
                    attrs,
                    name: s.local_name().as_ref().to_string(),
                    ns: match ns {
                        ResolveResult::Bound(n) => Some(n.as_ref().to_string()),
                        _ => None,
                    },
                    text: String::new(),
                    children: Vec::new(),
                    line: line_at(input, before, &mut cache) + count_leading_newlines(input, before),
                };
                if is_empty {
                    match stack.last_mut() {
                        Some(parent) => parent.children.push(el),
                        None => root = Some(el),
                    }
                } else {
                    if stack.len() >= MAX_DEPTH {
                        return Err(Malformed { line: el.line, message: format!("elements nested deeper than {MAX_DEPTH} levels") });
                    }
                    stack.push(el);
                }
            }
            Ok((_, Event::Start(_))) | Ok((_, Event::Empty(_))) => {
                return Err(Malformed { line: line_at(input, before, &mut cache), message: "content after the root element".into() });
            }
            Ok((_, Event::End(_))) => {
                let Some(el) = stack.pop() else {
                    return Err(Malformed { line: line_at(input, before, &mut cache), message: "unbalanced end tag".into() });
                };
                match stack.last_mut() {
                    Some(parent) => parent.children.push(el),
                    None => root = Some(el),
                }
            }
            Ok((_, Event::Text(t))) => {
                if let Some(cur) = stack.last_mut() {
                    // Text events hold no references (those come as GeneralRef);
                    // xml10_content normalises line ends as XML 1.0 says.
                    cur.text.push_str(&t.xml10_content());
                }
            }
            Ok((_, Event::GeneralRef(r))) => {
                if let Some(cur) = stack.last_mut() {
                    let name = r.xml10_content();
                    let resolved = match r.resolve_char_ref() {
                        Ok(Some(c)) => c.to_string(),
                        _ => quick_xml::escape::resolve_predefined_entity(&name)
                            .map(str::to_string)
                            .ok_or_else(|| Malformed { line: line_at(input, before, &mut cache), message: format!("unknown entity '&{name};'") })?,
                    };
                    cur.text.push_str(&resolved);
                }
            }
            Ok((_, Event::CData(c))) => {
                if let Some(cur) = stack.last_mut() {
                    cur.text.push_str(&c.xml10_content());
                }
            }
            Ok((_, Event::Eof)) => break,
            Ok(_) => {}
        }
    }
    if !stack.is_empty() {
        return Err(Malformed { line: line_at(input, input.len() as u64, &mut cache), message: "document ends inside an element".into() });
    }
    root.ok_or(Malformed { line: 1, message: "no root element".into() })
}

/// quick-xml reports the position before any whitespace that precedes a tag; count it.
fn count_leading_newlines(input: &[u8], pos: u64) -> usize {
    let start = usize::try_from(pos).unwrap_or(usize::MAX).min(input.len());
    input[start..].iter().take_while(|b| b.is_ascii_whitespace()).filter(|&&b| b == b'\n').count()
}
