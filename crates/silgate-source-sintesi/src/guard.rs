//! The bound on what the XML parser may hold at once.
//!
//! quick-xml reads one event whole into memory: a text node up to the next `<`, a tag
//! up to its `>` (quoted attribute values may hold `>`), a comment up to `-->`, a CDATA
//! section up to `]]>`, a processing instruction up to `?>`, a declaration up to its
//! `>`. An input that never ends its event would be buffered whole. [`Guard`] sits
//! under the parser and follows the same lexical boundaries: it counts the bytes of the
//! event being read and fails the next read once they pass its limit, so memory stays
//! within it whatever the input holds (a comment or CDATA full of `<` included).

use std::io::BufRead;

/// Where the scanner is in the markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data, until a `<`.
    Text,
    /// Just after `<`.
    Open,
    /// After `<!` and `matched` bytes of `--` or `[CDATA[` (which is still possible is
    /// told by the bytes themselves).
    Bang { matched: u8, cdata: bool },
    /// Inside a tag, in a quoted value when `quote` is set.
    Tag { quote: Option<u8> },
    /// Inside `<!-- ... -->`: the `-` seen in a row before the current byte.
    Comment { dashes: u8 },
    /// Inside `<![CDATA[ ... ]]>`: the `]` seen in a row.
    CData { brackets: u8 },
    /// Inside `<? ... ?>`: whether the last byte was `?`.
    Pi { question: bool },
    /// Inside `<! ... >` (a DOCTYPE): bracket depth of an internal subset, and a quote.
    Decl { depth: u32, quote: Option<u8> },
}

const COMMENT: &[u8] = b"--";
const CDATA: &[u8] = b"[CDATA[";

/// Follows the markup byte by byte, counting the bytes of the current event.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    state: State,
    run: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Self { state: State::Text, run: 0 }
    }
}

impl Scanner {
    /// Bytes of the event being read so far.
    pub(crate) fn run(&self) -> u64 {
        self.run
    }

    /// Takes `bytes`, the next ones of the input.
    pub(crate) fn advance(&mut self, bytes: &[u8]) {
        let mut i = 0;
        while i < bytes.len() {
            // Text is most of a feed: jump to its end.
            if self.state == State::Text {
                match bytes[i..].iter().position(|b| *b == b'<') {
                    Some(at) => {
                        i += at + 1;
                        self.state = State::Open;
                        self.run = 1;
                    }
                    None => {
                        self.run += (bytes.len() - i) as u64;
                        return;
                    }
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.run += 1;
            self.state = match self.state {
                State::Text => State::Text,
                State::Open => match b {
                    b'!' => State::Bang { matched: 0, cdata: false },
                    b'?' => State::Pi { question: false },
                    b'>' => self.ended(),
                    b'"' | b'\'' => State::Tag { quote: Some(b) },
                    _ => State::Tag { quote: None },
                },
                State::Bang { matched, cdata } => {
                    let m = usize::from(matched);
                    if matched == 0 && b == b'-' {
                        State::Bang { matched: 1, cdata: false }
                    } else if matched == 0 && b == b'[' {
                        State::Bang { matched: 1, cdata: true }
                    } else if !cdata && m < COMMENT.len() && b == COMMENT[m] {
                        if m + 1 == COMMENT.len() { State::Comment { dashes: 0 } } else { State::Bang { matched: matched + 1, cdata } }
                    } else if cdata && m < CDATA.len() && b == CDATA[m] {
                        if m + 1 == CDATA.len() { State::CData { brackets: 0 } } else { State::Bang { matched: matched + 1, cdata } }
                    } else {
                        // A declaration (`<!DOCTYPE ...>`), read to its `>`.
                        self.decl(0, None, b)
                    }
                }
                State::Tag { quote: Some(q) } => State::Tag { quote: if b == q { None } else { Some(q) } },
                State::Tag { quote: None } => match b {
                    b'>' => self.ended(),
                    b'"' | b'\'' => State::Tag { quote: Some(b) },
                    _ => State::Tag { quote: None },
                },
                State::Comment { dashes } => match b {
                    b'>' if dashes >= 2 => self.ended(),
                    b'-' => State::Comment { dashes: dashes.saturating_add(1) },
                    _ => State::Comment { dashes: 0 },
                },
                State::CData { brackets } => match b {
                    b'>' if brackets >= 2 => self.ended(),
                    b']' => State::CData { brackets: brackets.saturating_add(1) },
                    _ => State::CData { brackets: 0 },
                },
                State::Pi { question } => match b {
                    b'>' if question => self.ended(),
                    _ => State::Pi { question: b == b'?' },
                },
                State::Decl { depth, quote } => self.decl(depth, quote, b),
            };
        }
    }

    /// The state after byte `b` inside a declaration.
    fn decl(&mut self, depth: u32, quote: Option<u8>, b: u8) -> State {
        match (quote, b) {
            (Some(q), _) => State::Decl { depth, quote: if b == q { None } else { Some(q) } },
            (None, b'"' | b'\'') => State::Decl { depth, quote: Some(b) },
            (None, b'[') => State::Decl { depth: depth.saturating_add(1), quote: None },
            (None, b']') => State::Decl { depth: depth.saturating_sub(1), quote: None },
            (None, b'>') if depth == 0 => self.ended(),
            (None, _) => State::Decl { depth, quote: None },
        }
    }

    /// A markup event ended: a text event starts.
    fn ended(&mut self) -> State {
        self.run = 0;
        State::Text
    }
}

/// The input under the parser: fails the next read once the event being read passes
/// `limit` bytes, and remembers that it did (`tripped`), so that the parser's error
/// can be told apart from a malformed document.
pub(crate) struct Guard<R> {
    pub(crate) inner: R,
    scan: Scanner,
    limit: u64,
    pub(crate) tripped: bool,
}

impl<R> Guard<R> {
    pub(crate) fn new(inner: R, limit: u64) -> Self {
        Self { inner, scan: Scanner::default(), limit, tripped: false }
    }
}

impl<R: BufRead> std::io::Read for Guard<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let n = {
            let buf = self.fill_buf()?;
            let n = buf.len().min(out.len());
            out[..n].copy_from_slice(&buf[..n]);
            n
        };
        self.consume(n);
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Guard<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        if self.scan.run() > self.limit {
            self.tripped = true;
            return Err(std::io::Error::other(format!("one XML event (text, tag, comment or CDATA) longer than {} MiB", self.limit >> 20)));
        }
        self.inner.fill_buf()
    }

    fn consume(&mut self, amt: usize) {
        if let Ok(buf) = self.inner.fill_buf() {
            self.scan.advance(&buf[..amt.min(buf.len())]);
        }
        self.inner.consume(amt);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The longest event `input` holds, fed in pieces of `step` bytes.
    fn longest(input: &[u8], step: usize) -> u64 {
        let mut s = Scanner::default();
        let mut most = 0;
        for chunk in input.chunks(step.max(1)) {
            for b in chunk.chunks(1) {
                s.advance(b);
                most = most.max(s.run());
            }
        }
        most
    }

    #[test]
    fn given_markup_full_of_angle_brackets_the_event_should_run_to_its_real_end() {
        let lt = "<".repeat(1000);
        let gt = ">".repeat(1000);
        for (doc, at_least) in [
            (format!("<a><!-- {lt}{gt} --></a>"), 2000),
            (format!("<a><![CDATA[{lt}{gt}]]></a>"), 2000),
            (format!("<a x=\"{gt}\" y='{gt}'>t</a>"), 2000),
            (format!("<?pi {lt}{gt} ?><a/>"), 2000),
            (format!("<!DOCTYPE a [<!ENTITY e \"{gt}\">]><a/>"), 1000),
        ] {
            let got = longest(doc.as_bytes(), 7);
            assert!(got >= at_least, "{doc:.40}: longest event {got}");
        }
    }

    #[test]
    fn given_ordinary_markup_every_event_should_end_where_it_ends() {
        let doc = b"<?xml version=\"1.0\"?><!-- c - - -> --><r a=\"1\"><![CDATA[x]]]]><b>text</b><c/></r>";
        let mut s = Scanner::default();
        s.advance(doc);
        assert_eq!((s.state, s.run()), (State::Text, 0), "back in text after the last tag");
        // A comment's `->` and a CDATA's `]]` without `>` do not end them.
        let mut s = Scanner::default();
        s.advance(b"<!-- a -> b ]]");
        assert!(matches!(s.state, State::Comment { .. }), "{:?}", s.state);
        let mut s = Scanner::default();
        s.advance(b"<![CDATA[ a ]> b -->");
        assert!(matches!(s.state, State::CData { .. }), "{:?}", s.state);
    }

    #[test]
    fn given_a_text_run_the_count_should_grow_until_the_next_tag() {
        let mut s = Scanner::default();
        s.advance(b"<a>");
        s.advance(&[b'x'; 5000]);
        assert_eq!(s.run(), 5000);
        s.advance(b"</a>");
        assert_eq!(s.run(), 0);
    }

    proptest::proptest! {
        /// However the input is cut into reads, the scanner ends in the same place.
        #[test]
        fn the_cut_of_the_reads_should_not_matter(doc in "[<>!\\[\\]CDAT?\"' a-]{0,200}", step in 1usize..17) {
            let mut whole = Scanner::default();
            whole.advance(doc.as_bytes());
            let mut cut = Scanner::default();
            for c in doc.as_bytes().chunks(step) {
                cut.advance(c);
            }
            proptest::prop_assert_eq!((whole.state, whole.run()), (cut.state, cut.run()));
        }
    }
}
