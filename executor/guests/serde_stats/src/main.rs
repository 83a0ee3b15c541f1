use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::Read;

#[derive(Deserialize)]
struct Input {
    values: Vec<f64>,
    #[serde(default)]
    label: String,
}

#[derive(Serialize)]
struct Output {
    label: String,
    count: usize,
    sum: f64,
    mean: f64,
    min: f64,
    max: f64,
    sha256: String,
}

fn main() {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw).expect("read stdin");
    let input: Input = match serde_json::from_str(&raw) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bad input: {e}");
            std::process::exit(2);
        }
    };
    let count = input.values.len();
    let sum: f64 = input.values.iter().sum();
    let out = Output {
        label: input.label,
        count,
        sum,
        mean: if count == 0 { 0.0 } else { sum / count as f64 },
        min: input.values.iter().cloned().fold(f64::INFINITY, f64::min),
        max: input.values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        sha256: hex::encode(Sha256::digest(raw.as_bytes())),
    };
    println!("{}", serde_json::to_string(&out).expect("serialize"));
}
