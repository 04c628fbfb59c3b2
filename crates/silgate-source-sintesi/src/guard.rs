//! The bound on what the XML parser may hold at once.
//!
//! quick-xml reads one event whole into memory: a text node up to the next `<`, a tag
//! up to its `>` (quoted attribute values may hold `>`), a comment up to `-->`, a CDATA
//! section up to `]]>`, a processing instruction up to `?>`, a declaration up to its
//! `>`. An input that never ends its event would be buffered whole. [`Guard`] sits
//! under the parser and follows the same lexical boundaries, as quick-xml 0.42 draws
//! them (`reader/mod.rs`: `BangType`, `ElementParser`, `PiParser`): after `<!`, a `[`
//! starts a CDATA section (ended by the first `]]>`), a `-` a comment (ended by the
//! first `-->` whose `>` is at least six bytes past the `<`), anything else a declaration, which
//! this scanner never ends (a Sintesi feed has no DOCTYPE: the reader refuses it). It
//! counts the bytes of the event being read and fails the next read once they pass its
//! limit, so memory stays within it whatever the input holds (a comment or CDATA full
//! of `<` included). Where the two could disagree, the scanner ends an event later,
//! never earlier: it can only count more.

use std::io::BufRead;

/// Where the scanner is in the markup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Character data, until a `<`.
    Text,
    /// Just after `<`.
    Open,
    /// Just after `<!`.
    Bang,
    /// Inside a tag, in a quoted value when `quote` is set.
    Tag { quote: Option<u8> },
    /// Inside `<!- ... -->`: the `-` seen in a row, and the bytes from the `!` on.
    Comment { dashes: u8, len: u8 },
    /// Inside `<![CDATA[ ... ]]>`: the `]` seen in a row.
    CData { brackets: u8 },
    /// Inside `<? ... ?>`: whether the last byte was `?`.
    Pi { question: bool },
    /// Inside any other `<!` markup (a DOCTYPE): not ended here.
    Decl,
}

/// Follows the markup byte by byte, counting the bytes of the current event.
#[derive(Debug, Clone)]
pub(crate) struct Scanner {
    state: State,
    run: u64,
    /// The largest `run` since it was last taken (tests compare it with quick-xml's
    /// events).
    peak: u64,
}

impl Default for Scanner {
    fn default() -> Self {
        Self { state: State::Text, run: 0, peak: 0 }
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
                        self.peak = self.peak.max(self.run);
                        return;
                    }
                }
                continue;
            }
            let b = bytes[i];
            i += 1;
            self.run += 1;
            self.peak = self.peak.max(self.run);
            self.state = match self.state {
                State::Text => State::Text,
                State::Open => match b {
                    b'!' => State::Bang,
                    // quick-xml ends `<?>` at its `>`: the `?` counts.
                    b'?' => State::Pi { question: true },
                    b'>' => self.ended(),
                    b'"' | b'\'' => State::Tag { quote: Some(b) },
                    _ => State::Tag { quote: None },
                },
                State::Bang => match b {
                    b'[' => State::CData { brackets: 0 },
                    // The `!` and this `-` are two bytes of the comment.
                    b'-' => State::Comment { dashes: 1, len: 2 },
                    _ => State::Decl,
                },
                State::Tag { quote: Some(q) } => State::Tag { quote: if b == q { None } else { Some(q) } },
                State::Tag { quote: None } => match b {
                    b'>' => self.ended(),
                    b'"' | b'\'' => State::Tag { quote: Some(b) },
                    _ => State::Tag { quote: None },
                },
                State::Comment { dashes, len } => {
                    // quick-xml: a `>` after `--`, at least six bytes past the `<`
                    // (`<!---->` is the shortest comment).
                    let len = len.saturating_add(1);
                    match b {
                        b'>' if dashes >= 2 && len > 5 => self.ended(),
                        b'-' => State::Comment { dashes: dashes.saturating_add(1), len },
                        _ => State::Comment { dashes: 0, len },
                    }
                }
                State::CData { brackets } => match b {
                    b'>' if brackets >= 2 => self.ended(),
                    b']' => State::CData { brackets: brackets.saturating_add(1) },
                    _ => State::CData { brackets: 0 },
                },
                State::Pi { question } => match b {
                    b'>' if question => self.ended(),
                    _ => State::Pi { question: b == b'?' },
                },
                State::Decl => State::Decl,
            };
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
            // What quick-xml reads as one event after `<!`: a `[` or a `-` is enough.
            (format!("<r><![X>{lt}{gt}]]></r>"), 2000),
            (format!("<r><!-x>{lt}{gt}--></r>"), 2000),
            (format!("<r><!--->{lt}{gt}--></r>"), 2000),
            (format!("<!DOCTYPE a [<!-- ] -->{lt}{gt}"), 2000),
        ] {
            let got = longest(doc.as_bytes(), 7);
            assert!(got >= at_least, "{doc:.40}: longest event {got}");
        }
    }

    #[test]
    fn given_ordinary_markup_every_event_should_end_where_it_ends() {
        let doc = b"<?xml version=\"1.0\"?><!-- c - - -> --><!----><?><r a=\"1\"><![CDATA[x]]]]><![]]><b>text</b><c/></r>";
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
        /// The scanner never counts an event shorter than quick-xml reads it: for every
        /// event quick-xml returns (until its first error), the largest run the scanner
        /// saw while it was read covers the event's bytes (give or take the `<` and the
        /// byte quick-xml peeks at).
        #[test]
        fn no_event_of_quick_xml_should_be_longer_than_the_scanner_counts(doc in "(<|>|!|-|\\[|\\]|CDATA\\[|\\?|\"|'|a|/| |DOCTYPE|<!--|-->|\\]\\]>){0,80}") {
            let mut reader = quick_xml::Reader::from_reader(Guard::new(doc.as_bytes(), u64::MAX));
            let mut buf = Vec::new();
            let mut before = 0u64;
            loop {
                buf.clear();
                match reader.read_event_into(&mut buf) {
                    Ok(quick_xml::events::Event::Eof) | Err(_) => break,
                    Ok(_) => {
                        let after = reader.buffer_position();
                        let peak = std::mem::take(&mut reader.get_mut().scan.peak);
                        proptest::prop_assert!(peak + 2 >= after - before, "an event of {} bytes at {before}, the scanner's peak {peak}: {doc:?}", after - before);
                        before = after;
                    }
                }
            }
        }

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
