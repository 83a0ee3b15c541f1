//! offshore.rs - guest HTTP for NEAR Offshore WASI preview-1 guests (Rust, std only).
//! One file: copy it into `src/` and add `mod offshore;`. The host enforces the request's
//! `http_hosts`, `max_http_calls` and `max_http_kb`, https only, public addresses only, a time cap
//! per call; calls are metered, billed and recorded for replay (requests as hashes only).
//!
//! ```ignore
//! let resp = offshore::get("https://api.example.com/price")?;
//! println!("{} {}", resp.status, String::from_utf8_lossy(&resp.body));
//! ```
#![allow(dead_code)]

#[link(wasm_import_module = "offshore")]
extern "C" {
    fn http_request(m: *const u8, ml: i32, u: *const u8, ul: i32, h: *const u8, hl: i32, b: *const u8, bl: i32) -> i32;
    fn http_status(handle: i32) -> i32;
    fn http_headers(handle: i32, buf: *mut u8, cap: i32) -> i32;
    fn http_body_len(handle: i32) -> i32;
    fn http_body_read(handle: i32, buf: *mut u8, cap: i32) -> i32;
    fn http_error(buf: *mut u8, cap: i32) -> i32;
    fn http_close(handle: i32) -> i32;
}

/// A failed call: the negative code (see offshore.h: -2 denied, -3 budget, -4 timeout, ...) and
/// the host's message (never the URL).
#[derive(Debug)]
pub struct Error {
    pub code: i32,
    pub message: String,
}

pub struct Response {
    pub status: u16,
    /// `name: value` lines, names lowercase.
    pub headers: String,
    pub body: Vec<u8>,
}

/// One request. `headers` are `Name: value` lines separated by `\n`.
pub fn request(method: &str, url: &str, headers: &str, body: &[u8]) -> Result<Response, Error> {
    unsafe {
        let h = http_request(
            method.as_ptr(), method.len() as i32, url.as_ptr(), url.len() as i32,
            headers.as_ptr(), headers.len() as i32, body.as_ptr(), body.len() as i32,
        );
        if h < 0 {
            let mut buf = vec![0u8; 512];
            let n = http_error(buf.as_mut_ptr(), buf.len() as i32).max(0) as usize;
            buf.truncate(n.min(512));
            return Err(Error { code: h, message: String::from_utf8_lossy(&buf).into_owned() });
        }
        let status = http_status(h) as u16;
        let hn = http_headers(h, std::ptr::null_mut(), 0).max(0) as usize;
        let mut head = vec![0u8; hn];
        http_headers(h, head.as_mut_ptr(), hn as i32);
        let len = http_body_len(h).max(0) as usize;
        let mut body = vec![0u8; len];
        let mut got = 0usize;
        while got < len {
            let n = http_body_read(h, body.as_mut_ptr().add(got), (len - got) as i32);
            if n <= 0 {
                break;
            }
            got += n as usize;
        }
        body.truncate(got);
        http_close(h);
        Ok(Response { status, headers: String::from_utf8_lossy(&head).into_owned(), body })
    }
}

/// GET `url`.
pub fn get(url: &str) -> Result<Response, Error> {
    request("GET", url, "", b"")
}
