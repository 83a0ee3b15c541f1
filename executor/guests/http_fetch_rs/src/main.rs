//! GETs the URL on stdin with the one-file SDK (offshore.rs) and prints the status and body.
use std::io::Read;

mod offshore;

fn main() {
    let mut url = String::new();
    std::io::stdin().read_to_string(&mut url).expect("read stdin");
    match offshore::get(url.trim()) {
        Ok(resp) => println!("{}\n{}", resp.status, String::from_utf8_lossy(&resp.body)),
        Err(err) => {
            println!("error {}:{}", -err.code, err.message);
            std::process::exit(3);
        }
    }
}
