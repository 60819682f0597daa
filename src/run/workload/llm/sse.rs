//! An incremental Server-Sent-Events reader for OpenAI-style streams: bytes in as they
//! arrive, complete `data:` payloads out. Hand-written because the client needs each event
//! tied to the arrival time of the bytes that completed it, and to parse without copying
//! (payloads are slices of one reused buffer).

#[derive(Default)]
pub struct SseReader {
    buf: Vec<u8>,
    /// Start of the first line not yet consumed.
    pos: usize,
    data: Vec<u8>,
}

impl SseReader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feeds bytes; calls `on_event` with each complete event's data (lines joined by '\n').
    pub fn feed(&mut self, bytes: &[u8], mut on_event: impl FnMut(&[u8])) {
        self.buf.extend_from_slice(bytes);
        while let Some(nl) = self.buf[self.pos..].iter().position(|&b| b == b'\n') {
            let end = self.pos + nl;
            let mut line = &self.buf[self.pos..end];
            if line.last() == Some(&b'\r') {
                line = &line[..line.len() - 1];
            }
            if line.is_empty() {
                if !self.data.is_empty() {
                    on_event(&self.data);
                    self.data.clear();
                }
            } else if let Some(rest) = line.strip_prefix(b"data:") {
                let rest = rest.strip_prefix(b" ").unwrap_or(rest);
                if !self.data.is_empty() {
                    self.data.push(b'\n');
                }
                self.data.extend_from_slice(rest);
            }
            // Comments (":..."), `event:`, `id:` and `retry:` lines carry nothing we use.
            self.pos = end + 1;
        }
        // Keep only the unfinished line.
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
    }

    /// An event left unterminated when the stream closed (some servers omit the blank line).
    pub fn finish(&mut self, mut on_event: impl FnMut(&[u8])) {
        if !self.buf.is_empty() {
            self.feed(b"\n", |_| {});
        }
        if !self.data.is_empty() {
            on_event(&self.data);
            self.data.clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn events(chunks: &[&[u8]]) -> Vec<String> {
        let mut r = SseReader::new();
        let mut out = Vec::new();
        for c in chunks {
            r.feed(c, |e| out.push(String::from_utf8_lossy(e).into_owned()));
        }
        r.finish(|e| out.push(String::from_utf8_lossy(e).into_owned()));
        out
    }

    #[test]
    fn events_split_anywhere_come_out_whole() {
        let stream = b"data: {\"a\":1}\n\n: keep-alive\n\ndata: {\"b\":2}\r\n\r\ndata: [DONE]\n\n";
        let whole = events(&[stream]);
        assert_eq!(whole, ["{\"a\":1}", "{\"b\":2}", "[DONE]"]);
        for cut in 1..stream.len() {
            assert_eq!(
                events(&[&stream[..cut], &stream[cut..]]),
                whole,
                "cut at {cut}"
            );
        }
        let bytewise: Vec<&[u8]> = stream.chunks(1).collect();
        assert_eq!(events(&bytewise), whole);
    }

    #[test]
    fn multi_line_data_and_a_missing_final_blank_line() {
        assert_eq!(
            events(&[b"event: x\ndata: a\ndata: b\n\ndata: tail"]),
            ["a\nb", "tail"]
        );
    }
}
