//! The server's own time per request, read from its request log (`request ... ms=N`, at
//! the default log level). Beside the client's latency it tells a tail spent inside
//! dbx-server from one spent waiting for a core, the network or the bench itself.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

/// Where the log ends now: requests logged after this are read by [`request_ms_since`].
pub fn end_of(log: &Path) -> Option<u64> {
    std::fs::metadata(log).ok().map(|m| m.len())
}

/// The handler time, in whole milliseconds (truncated), of each request logged after
/// `from`; None when the log cannot be read or logs no requests (a quieter level).
pub fn request_ms_since(log: &Path, from: u64) -> Option<Vec<u64>> {
    let mut file = std::fs::File::open(log).ok()?;
    file.seek(SeekFrom::Start(from)).ok()?;
    let mut text = String::new();
    file.read_to_string(&mut text).ok()?;
    let ms: Vec<u64> = text.lines().filter_map(request_ms).collect();
    (!ms.is_empty()).then_some(ms)
}

/// `ms` of one request line of dbx-server's log.
fn request_ms(line: &str) -> Option<u64> {
    let (_, fields) = line.split_once(" request ")?;
    fields
        .split_whitespace()
        .find_map(|f| f.strip_prefix("ms="))?
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_ms_of_request_lines_only() {
        let line = "2026-12-04T20:00:00.123456Z  INFO dbx_server::http: request \
                    method=GET path=/api/v1/folders/x status=200 ms=12";
        assert_eq!(request_ms(line), Some(12));
        assert_eq!(
            request_ms("2026-12-04T20:00:00Z  INFO dbx_server: gc versions=0"),
            None
        );
        assert_eq!(request_ms("... request method=GET status=200"), None);
    }

    #[test]
    fn reads_what_was_logged_after_the_mark() {
        let dir = tempfile::tempdir().expect("dir");
        let log = dir.path().join("server.log");
        std::fs::write(&log, "x INFO a: request method=GET status=200 ms=40\n").expect("write");
        let mark = end_of(&log).expect("mark");
        assert_eq!(request_ms_since(&log, mark), None);
        let mut more = std::fs::read_to_string(&log).expect("read");
        more.push_str("y INFO a: request method=GET status=200 ms=3\nz INFO a: listening\n");
        std::fs::write(&log, more).expect("write");
        assert_eq!(request_ms_since(&log, mark), Some(vec![3]));
    }
}
