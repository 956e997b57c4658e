//! A minimal XML writer: nested elements with attributes, two-space indentation, every
//! attribute value escaped.

use std::fmt::{self, Write};

/// Writes one XML document into a String.
#[derive(Debug)]
pub(crate) struct XmlWriter {
    out: String,
    open: Vec<&'static str>,
}

/// An attribute: a name and anything that displays as its value.
pub(crate) type Attr<'a> = (&'static str, &'a dyn fmt::Display);

impl XmlWriter {
    /// A document that starts with the XML declaration.
    pub(crate) fn new() -> XmlWriter {
        XmlWriter {
            out: String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"),
            open: Vec::new(),
        }
    }

    /// Opens `<name attr="value" ...>`; [`XmlWriter::end`] closes it.
    pub(crate) fn start(&mut self, name: &'static str, attrs: &[Attr<'_>]) {
        self.tag(name, attrs, ">");
        self.open.push(name);
    }

    /// Writes `<name attr="value" .../>`.
    pub(crate) fn empty(&mut self, name: &'static str, attrs: &[Attr<'_>]) {
        self.tag(name, attrs, "/>");
    }

    /// Closes the innermost open element.
    pub(crate) fn end(&mut self) {
        if let Some(name) = self.open.pop() {
            self.indent();
            // Writing into a String cannot fail.
            let _ = writeln!(self.out, "</{name}>");
        }
    }

    /// The document, with every open element closed.
    pub(crate) fn finish(mut self) -> String {
        while !self.open.is_empty() {
            self.end();
        }
        self.out
    }

    fn tag(&mut self, name: &str, attrs: &[Attr<'_>], close: &str) {
        self.indent();
        self.out.push('<');
        self.out.push_str(name);
        let mut value = String::new();
        for (key, display) in attrs {
            value.clear();
            // Writing into a String cannot fail.
            let _ = write!(value, "{display}");
            self.out.push(' ');
            self.out.push_str(key);
            self.out.push_str("=\"");
            escape_attribute(&value, &mut self.out);
            self.out.push('"');
        }
        self.out.push_str(close);
        self.out.push('\n');
    }

    fn indent(&mut self) {
        for _ in 0..self.open.len() {
            self.out.push_str("  ");
        }
    }
}

/// Appends `value` escaped for a double-quoted attribute: markup characters and quotes as
/// entities, whitespace that attribute normalization would fold as character references,
/// and characters XML 1.0 cannot carry at all as U+FFFD.
pub(crate) fn escape_attribute(value: &str, out: &mut String) {
    for c in value.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' => out.push_str("&#9;"),
            '\n' => out.push_str("&#10;"),
            '\r' => out.push_str("&#13;"),
            '\u{0}'..='\u{1f}' | '\u{fffe}' | '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn escaped(value: &str) -> String {
        let mut out = String::new();
        escape_attribute(value, &mut out);
        out
    }

    #[test]
    fn escapes_attribute_values() {
        assert_eq!(escaped("plain-1.0"), "plain-1.0");
        assert_eq!(escaped(r#"a&b<c>d"e'f"#), "a&amp;b&lt;c&gt;d&quot;e&apos;f");
        assert_eq!(escaped("x\ty\nz\r"), "x&#9;y&#10;z&#13;");
        assert_eq!(
            escaped("\u{0}\u{1b}\u{ffff}é漢"),
            "\u{fffd}\u{fffd}\u{fffd}é漢"
        );
        assert_eq!(escaped("&amp;"), "&amp;amp;");
    }

    #[test]
    fn writes_nested_elements() {
        let mut xml = XmlWriter::new();
        xml.start("A", &[("x", &1), ("y", &"\"q\" & <t>")]);
        xml.empty("B", &[]);
        xml.start("C", &[]);
        assert_eq!(
            xml.finish(),
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
             <A x=\"1\" y=\"&quot;q&quot; &amp; &lt;t&gt;\">\n  <B/>\n  <C>\n  </C>\n</A>\n"
        );
    }
}
