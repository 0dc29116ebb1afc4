//! Writing EC2 XML responses: the EC2 namespace, `requestId`, and AWS's error shape.

use std::fmt::Write;

use crate::error::Ec2Error;

/// The namespace of the EC2 API version Skyport speaks.
pub const EC2_NAMESPACE: &str = "http://ec2.amazonaws.com/doc/2016-11-15/";

/// Escapes text for element content.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Characters XML 1.0 cannot carry at all.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => {}
            c => out.push(c),
        }
    }
    out
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

    /// Opens an element.
    pub fn start(&mut self, name: &'static str) -> &mut Self {
        let _ = write!(self.out, "<{name}>");
        self.open.push(name);
        self
    }

    /// Closes the innermost open element.
    pub fn end(&mut self) -> &mut Self {
        if let Some(name) = self.open.pop() {
            let _ = write!(self.out, "</{name}>");
        }
        self
    }

    /// A leaf element with escaped text.
    pub fn leaf(&mut self, name: &str, text: impl std::fmt::Display) -> &mut Self {
        let _ = write!(self.out, "<{name}>{}</{name}>", escape(&text.to_string()));
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
}
