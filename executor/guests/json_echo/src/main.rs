//! Echoes its input document: the smallest useful Rust guest (std only, no crates).
use std::io::{Read, Write};

fn main() {
    let mut input = Vec::new();
    std::io::stdin().read_to_end(&mut input).expect("read stdin");
    let trimmed = input.trim_ascii_end_compat();
    if trimmed.is_empty() {
        eprintln!("json_echo: empty input");
        std::process::exit(2);
    }
    std::io::stdout().write_all(trimmed).expect("write stdout");
}

trait TrimEnd {
    fn trim_ascii_end_compat(&self) -> &[u8];
}

impl TrimEnd for Vec<u8> {
    fn trim_ascii_end_compat(&self) -> &[u8] {
        let mut end = self.len();
        while end > 0 && self[end - 1].is_ascii_whitespace() {
            end -= 1;
        }
        &self[..end]
    }
}
