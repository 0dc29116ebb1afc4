//! Writing EC2 XML responses: the EC2 namespace, `requestId`, and AWS's error shape.

use std::fmt::Write;

use crate::error::Ec2Error;

/// The namespace of the EC2 API version Skyport speaks.
pub const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Bytes that `escape_into` replaces or drops.
const SPECIAL: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = !matches!(b as u8, b'\t' | b'\n' | b'\r');
        b += 1;
    }
    table[b'&' as usize] = true;
    table[b'<' as usize] = true;
    table[b'>' as usize] = true;
    table[b'"' as usize] = true;
    table[b'\'' as usize] = true;
    table
};

/// Escapes text for element content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    escape_into(&mut out, text);
    out
}

/// Appends `text` to `out`, escaped; runs of plain text are copied whole
/// (DescribeInstances writes megabytes of mostly plain text).
fn escape_into(out: &mut String, text: &str) {
    if !text.bytes().any(|b| SPECIAL[usize::from(b)]) {
        out.push_str(text);
        return;
    }
    let mut plain = 0;
    for (at, byte) in text.bytes().enumerate() {
        let replacement = match byte {
            b'&' => "&amp;",
            b'<' => "&lt;",
            b'>' => "&gt;",
            b'"' => "&quot;",
            b'\'' => "&apos;",
            // Characters XML 1.0 cannot carry at all.
            b if b < 0x20 && !matches!(b, b'\t' | b'\n' | b'\r') => "",
            _ => continue,
        };
        // Every byte matched above is ASCII, so `at` is a char boundary.
        out.push_str(&text[plain..at]);
        out.push_str(replacement);
        plain = at + 1;
    }
    out.push_str(&text[plain..]);
}

/// A `fmt::Write` that escapes what it is given into a response.
struct Escaping<'a>(&'a mut String);

impl Write for Escaping<'_> {
    fn write_str(&mut self, text: &str) -> std::fmt::Result {
        escape_into(self.0, text);
        Ok(())
    }
}

/// Builds one `<ActionResponse>` document.
pub struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

impl XmlWriter {
    /// Starts `<{action}Response xmlns=…><requestId>…</requestId>`.
    pub fn response(action: &str, request_id: &str) -> XmlWriter {
        let mut out = String::with_capacity(1024);
        let _ = write!(
            out,
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<{action}Response xmlns=\"{EC2_NAMESPACE}\"><requestId>{}</requestId>",
            escape(request_id)
        );
        XmlWriter {
            out,
            open: Vec::new(),
        }
    }

    /// A piece of a document, to be placed in one with [`XmlWriter::raw`].
    pub fn fragment() -> XmlWriter {
        XmlWriter {
            out: String::new(),
            open: Vec::new(),
        }
    }

    /// The piece written so far (open elements closed).
    pub fn into_fragment(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }

    /// Appends an already written, well-formed piece.
    pub fn raw(&mut self, piece: &str) -> &mut Self {
        self.out.push_str(piece);
        self
    }

    /// Reserves room for about `bytes` more (large listings grow in one step).
    pub fn reserve(&mut self, bytes: usize) -> &mut Self {
        self.out.reserve(bytes);
        self
    }

    fn open_tag(&mut self, name: &str) {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
    }

    fn close_tag(&mut self, name: &str) {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
    }

    /// Opens an element.
    pub fn start(&mut self, name: &'static str) -> &mut Self {
        self.open_tag(name);
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            self.close_tag(name);
        }
        self
    }

    /// A leaf element with escaped text, written without intermediate strings.
    pub fn leaf(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Self {
        self.open_tag(name);
        let _ = write!(Escaping(&mut self.out), "{text}");
        self.close_tag(name);
        self
    }

    /// A leaf element, only when the value is present.
    pub fn leaf_opt<T: std::fmt::Display>(&mut self, name: &str, value: Option<T>) -> &mut Self {
        if let Some(value) = value {
            self.leaf(name, value);
        }
        self
    }

    /// `<tagSet>` with `<item><key/><value/></item>` entries.
    pub fn tag_set(&mut self, tags: &[cloud::types::Tag]) -> &mut Self {
        self.start("tagSet");
        for tag in tags {
            self.start("item")
                .leaf("key", &tag.key)
                .leaf("value", &tag.value)
                .end();
        }
        self.end()
    }

    /// Closes everything and the response element.
    pub fn finish(mut self, action: &str) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        let _ = write!(self.out, "</{action}Response>");
        self.out
    }
}

/// The whole answer of actions that only confirm: `<return>true</return>`.
pub fn returned_true(action: &str, request_id: &str) -> String {
    let mut x = XmlWriter::response(action, request_id);
    x.leaf("return", "true");
    x.finish(action)
}

/// AWS's EC2 error document.
pub fn error_document(error: &Ec2Error, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>{}</Code><Message>{}</Message></Error></Errors><RequestID>{}</RequestID></Response>",
        escape(&error.code),
        escape(&error.message),
        escape(request_id)
    )
}

/// Formats Unix seconds as EC2's ISO 8601 timestamps (`2026-11-26T14:00:00.000Z`).
pub fn timestamp(unix: i64) -> String {
    let t =
        time::OffsetDateTime::from_unix_timestamp(unix).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    let format =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    t.format(format).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn documents_are_escaped_and_closed() {
        let mut x = XmlWriter::response("DescribeTags", "req-1");
        x.start("tagSet").start("item").leaf("key", "a<b&c");
        let doc = x.finish("DescribeTags");
        assert!(doc.contains("<key>a&lt;b&amp;c</key></item></tagSet></DescribeTagsResponse>"));
        assert!(doc.contains(EC2_NAMESPACE));
        let err = error_document(&Ec2Error::missing("KeyName"), "r");
        assert!(err.contains("<Code>MissingParameter</Code>"));
        assert!(err.contains("<RequestID>r</RequestID>"));
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    }

    #[test]
    fn escaping_keeps_text_and_drops_what_xml_cannot_carry() {
        assert_eq!(escape("plain"), "plain");
        assert_eq!(
            escape("\u{1}é<\"x\"'>&\tz\u{1f}"),
            "é&lt;&quot;x&quot;&apos;&gt;&amp;\tz"
        );
        let mut x = XmlWriter::response("A", "r");
        x.leaf("n", 42).leaf("s", "日本 & co");
        let doc = x.finish("A");
        assert!(doc.contains("<n>42</n><s>日本 &amp; co</s>"), "{doc}");
    }
}
