//! Literal helpers: numbers, strings, and Go-style formatting used in error messages.

use super::super::lexer::go_quote;

/// Go's `%.10q...` shortening of long token texts in error messages.
pub(super) fn short_quote(s: &str) -> String {
    if s.chars().count() > 10 {
        let cut: String = s.chars().take(10).collect();
        format!("{}...", go_quote(&cut))
    } else {
        go_quote(s)
    }
}

/// Go's `%f` of a float (used in the `@` bounds error).
pub(super) fn go_percent_f(v: f64) -> String {
    if v.is_nan() {
        "NaN".into()
    } else if v.is_infinite() {
        if v > 0.0 { "+Inf".into() } else { "-Inf".into() }
    } else {
        format!("{v:.6}")
    }
}

/// Parses a number literal like Prometheus: as an integer with Go base prefixes (`0x1f`,
/// `0o17`, `017`, `0b1`) if possible, otherwise as a float (`1e3`, `.5`, `Inf`, `NaN`).
pub fn parse_number(text: &str) -> Result<f64, String> {
    let lower = text.to_ascii_lowercase();
    match lower.as_str() {
        "inf" | "+inf" => return Ok(f64::INFINITY),
        "-inf" => return Ok(f64::NEG_INFINITY),
        "nan" => return Ok(f64::NAN),
        _ => {}
    }
    let clean: String = lower.chars().filter(|c| *c != '_').collect();
    let int = if let Some(hex) = clean.strip_prefix("0x") {
        Some(u64::from_str_radix(hex, 16))
    } else if let Some(oct) = clean.strip_prefix("0o") {
        Some(u64::from_str_radix(oct, 8))
    } else if let Some(bin) = clean.strip_prefix("0b") {
        Some(u64::from_str_radix(bin, 2))
    } else if clean.len() > 1 && clean.starts_with('0') && clean.bytes().all(|b| b.is_ascii_digit()) {
        Some(u64::from_str_radix(&clean[1..], 8))
    } else if clean.bytes().all(|b| b.is_ascii_digit()) {
        Some(clean.parse::<u64>())
    } else {
        None
    };
    if let Some(Ok(v)) = int
        && v <= i64::MAX as u64
    {
        return Ok(v as f64);
    }
    if clean.starts_with("0x") || clean.starts_with("0o") || clean.starts_with("0b") {
        // Go's ParseFloat accepts hex only with a `p` exponent, which PromQL cannot lex.
        return match int {
            Some(Ok(v)) => Ok(v as f64),
            _ => Err(format!("error parsing number: strconv.ParseFloat: parsing {}: invalid syntax", go_quote(text))),
        };
    }
    clean
        .parse::<f64>()
        .map_err(|_| format!("error parsing number: strconv.ParseFloat: parsing {}: invalid syntax", go_quote(text)))
}

/// Unquotes a PromQL string literal (`"..."` and `'...'` with Go escapes, `` `...` `` raw).
pub fn unquote(text: &str) -> Result<String, String> {
    let bad = || format!("error unquoting string {}: invalid syntax", go_quote(text));
    let mut chars = text.chars();
    let quote = chars.next().ok_or_else(bad)?;
    if text.len() < 2 || !text.ends_with(quote) {
        return Err(bad());
    }
    let body = &text[1..text.len() - 1];
    if quote == '`' {
        return Ok(body.replace('\r', ""));
    }
    let mut out: Vec<u8> = Vec::with_capacity(body.len());
    let mut it = body.chars().peekable();
    let mut buf = [0u8; 4];
    while let Some(c) = it.next() {
        if c != '\\' {
            out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            continue;
        }
        let e = it.next().ok_or_else(bad)?;
        let simple = match e {
            'a' => Some(b'\x07'),
            'b' => Some(b'\x08'),
            'f' => Some(b'\x0c'),
            'n' => Some(b'\n'),
            'r' => Some(b'\r'),
            't' => Some(b'\t'),
            'v' => Some(b'\x0b'),
            '\\' => Some(b'\\'),
            '\'' | '"' => Some(e as u8),
            _ => None,
        };
        if let Some(b) = simple {
            out.push(b);
            continue;
        }
        let (n, radix, is_byte) = match e {
            '0'..='7' => (2, 8, true),
            'x' => (2, 16, true),
            'u' => (4, 16, false),
            'U' => (8, 16, false),
            _ => return Err(bad()),
        };
        let mut v: u32 = if e.is_digit(8) && radix == 8 { e as u32 - '0' as u32 } else { 0 };
        for _ in 0..n {
            let d = it.next().and_then(|c| c.to_digit(radix)).ok_or_else(bad)?;
            v = v.checked_mul(radix).and_then(|x| x.checked_add(d)).ok_or_else(bad)?;
        }
        if is_byte {
            out.push(u8::try_from(v).map_err(|_| bad())?);
        } else {
            let ch = char::from_u32(v).ok_or_else(bad)?;
            out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
        }
    }
    Ok(String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()))
}
