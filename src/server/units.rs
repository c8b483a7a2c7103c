//! Byte sizes as Prometheus's flags take them (`512MB`, `1GB`: powers of 1024).

/// Parses a size like `512MB` into bytes. Units: B, KB, MB, GB, TB, PB, EB (base 1024, as
/// Prometheus's `units.Base2Bytes`); a bare number is bytes.
pub fn parse_bytes(s: &str) -> Result<u64, String> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: u64 = num.parse().map_err(|_| format!("invalid size {s:?}"))?;
    let shift = match unit.to_ascii_uppercase().as_str() {
        "" | "B" => 0,
        "KB" | "K" | "KIB" => 10,
        "MB" | "M" | "MIB" => 20,
        "GB" | "G" | "GIB" => 30,
        "TB" | "T" | "TIB" => 40,
        "PB" | "P" | "PIB" => 50,
        "EB" | "E" | "EIB" => 60,
        _ => return Err(format!("invalid size unit in {s:?}")),
    };
    n.checked_mul(1u64 << shift).ok_or_else(|| format!("size {s:?} overflows"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        let cases: &[(&str, Result<u64, ()>)] = &[
            ("0", Ok(0)),
            ("512", Ok(512)),
            ("1KB", Ok(1024)),
            ("512MB", Ok(512 << 20)),
            ("2GB", Ok(2 << 30)),
            ("1TB", Ok(1 << 40)),
            ("1XB", Err(())),
            ("MB", Err(())),
            ("-1MB", Err(())),
            ("99999999999EB", Err(())),
        ];
        for (input, want) in cases {
            assert_eq!(parse_bytes(input).map_err(|_| ()), *want, "{input}");
        }
    }
}
