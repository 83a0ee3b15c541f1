//! JSON in, JSON out with serde_json; the input's sha256 with the sha2 and hex crates.
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use std::io::Read;

fn main() {
    let mut raw = String::new();
    std::io::stdin().read_to_string(&mut raw).expect("read stdin");
    let input: Value = match serde_json::from_str(&raw) {
        Ok(v) => v,
        Err(e) => {
            eprintln!("bad input: {e}");
            std::process::exit(2);
        }
    };
    let values: Vec<f64> = input["values"].as_array().map_or_else(Vec::new, |a| a.iter().filter_map(Value::as_f64).collect());
    let count = values.len();
    let sum: f64 = values.iter().sum();
    let out = json!({
        "label": input["label"].as_str().unwrap_or(""),
        "count": count,
        "sum": sum,
        "mean": if count == 0 { 0.0 } else { sum / count as f64 },
        "min": values.iter().cloned().fold(f64::INFINITY, f64::min),
        "max": values.iter().cloned().fold(f64::NEG_INFINITY, f64::max),
        "sha256": hex::encode(Sha256::digest(raw.as_bytes())),
    });
    println!("{out}");
}
