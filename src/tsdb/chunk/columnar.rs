//! The persisted (block) sample encoding: separate timestamp and value columns.
//!
//! One call to [`encode`] writes one *run*: a series' samples in one block, up to a few
//! thousand. The block writer concatenates runs and compresses them with zstd, so this layer
//! aims for byte-aligned, repetitive output that a general compressor shrinks well, rather
//! than for the smallest raw size:
//!
//! - timestamps are either delta-of-delta varints or residuals against a regular scrape grid
//!   (jittered scrapes give residuals of a few milliseconds), whichever is cheaper;
//! - values that are all decimals (`mantissa × 10^exp`, checked to convert back bit for bit)
//!   are stored as integer mantissa deltas or delta-of-deltas, with the few values that are
//!   not (NaN, the stale marker, ±Inf, −0) kept raw in an exceptions list;
//! - anything else falls back to the Gorilla XOR value coding.
//!
//! The byte layout is in `docs/format/columnar.md`.

use super::ChunkError;
use super::bstream::{BitReader, BitWriter};
use super::xor::{NO_WINDOW, ValueCode, read_xor_value, write_xor_value};
use crate::tsdb::varint::{ByteReader, VarintError, put_uvarint, put_varint, zigzag};

/// Timestamp scheme: first timestamp, first delta, then delta-of-deltas.
const TS_DOD: u8 = 0;
/// Timestamp scheme: first timestamp, grid step, then residuals against the grid.
const TS_GRID: u8 = 1;
/// Value scheme: decimal mantissas as deltas.
const V_DEC_DELTA: u8 = 0;
/// Value scheme: decimal mantissas as delta-of-deltas.
const V_DEC_DOD: u8 = 1;
/// Value scheme: Gorilla XOR bit stream.
const V_XOR: u8 = 2;

/// Decimal exponents stay within the range where `10^|e|` is an exact `f64`.
const MAX_EXP: i32 = 22;
/// Mantissas below this magnitude are exact as `f64`.
const EXACT_INT: f64 = 9_007_199_254_740_992.0; // 2^53
/// Powers of ten exact in `f64`.
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// Appends the encoding of `samples` (strictly increasing timestamps) to `out`.
///
/// Every `f64` bit pattern round-trips exactly. If the timestamps are not strictly increasing
/// the output is still written, but [`decode`] will reject it.
pub fn encode(samples: &[(i64, f64)], out: &mut Vec<u8>) {
    let start = out.len();
    out.push(0);
    put_uvarint(out, samples.len() as u64);
    if samples.is_empty() {
        return;
    }
    let ts = encode_timestamps(samples, out);
    let vs = encode_values(samples, out);
    if let Some(scheme) = out.get_mut(start) {
        *scheme = ts | (vs << 4);
    }
}

/// Decodes one encoded run, appending its samples to `out`. Never panics on any input.
///
/// The whole of `bytes` must be one run: trailing bytes are an error. On error `out` is left
/// as it was.
pub fn decode(bytes: &[u8], out: &mut Vec<(i64, f64)>) -> Result<(), ChunkError> {
    let orig = out.len();
    let used = decode_prefix(bytes, out)?;
    if used != bytes.len() {
        out.truncate(orig);
        return Err(ChunkError::Corrupt("trailing bytes after columnar run"));
    }
    Ok(())
}

/// Decodes the run at the start of `bytes`, appending its samples to `out`, and returns how
/// many bytes it took (runs are self-delimiting). Never panics; on error `out` is left as it
/// was.
pub fn decode_prefix(bytes: &[u8], out: &mut Vec<(i64, f64)>) -> Result<usize, ChunkError> {
    let orig = out.len();
    let mut r = ByteReader::new(bytes);
    match decode_run(&mut r, out, orig) {
        Ok(()) => Ok(r.position()),
        Err(e) => {
            out.truncate(orig);
            Err(e)
        }
    }
}

fn varint_err(what: &'static str) -> impl Fn(VarintError) -> ChunkError {
    move |e| match e {
        VarintError::Truncated => ChunkError::Truncated(what),
        VarintError::Overflow => ChunkError::Corrupt("varint overflows 64 bits"),
    }
}

fn decode_run(r: &mut ByteReader<'_>, out: &mut Vec<(i64, f64)>, orig: usize) -> Result<(), ChunkError> {
    let scheme = r.byte().ok_or(ChunkError::Truncated("columnar scheme"))?;
    let (ts_scheme, v_scheme) = (scheme & 0x0f, scheme >> 4);
    if ts_scheme > TS_GRID || v_scheme > V_XOR {
        return Err(ChunkError::Corrupt("unknown columnar scheme"));
    }
    let n = r.uvarint().map_err(varint_err("sample count"))?;
    if n == 0 {
        return Ok(());
    }
    // Every sample after the first takes at least one timestamp byte, so a count beyond the
    // input cannot be honest; checking first keeps a forged count from reserving memory.
    if n - 1 > r.remaining().len() as u64 {
        return Err(ChunkError::Truncated("columnar samples"));
    }
    let n = n as usize;
    out.reserve(n);
    decode_timestamps(r, ts_scheme, n, out)?;
    let values = out.get_mut(orig..).unwrap_or_default();
    match v_scheme {
        V_XOR => decode_xor_values(r, values),
        _ => decode_decimal_values(r, v_scheme == V_DEC_DOD, values),
    }
}

/// Bits needed for `u`, at least one: the cost model for choosing between schemes, a stand-in
/// for what an entropy coder downstream will spend.
#[inline]
fn bit_len(u: u64) -> u64 {
    u64::from(64 - (u | 1).leading_zeros())
}

// ---------------------------------------------------------------------------------------
// Timestamps.

/// Moves the grid anchor past a timestamp that landed `r` after the next grid point: by one
/// step plus as many whole steps as `r` rounds to. Encoder and decoder share this.
#[inline]
fn advance_grid(g: i64, step: i64, r: i64) -> i64 {
    // Callers guarantee step ≥ 1; clamping keeps the divisions below panic-free regardless.
    let step = step.max(1);
    // Fast path in i64 (no 128-bit division) whenever nothing overflows; the result is the
    // same as the exact computation below, which also wraps to i64 at the end.
    if let Some(shifted) = r.checked_add(step / 2) {
        let skipped = shifted.div_euclid(step);
        if let Some(jump) = skipped.checked_add(1).and_then(|k| k.checked_mul(step)) {
            return g.wrapping_add(jump);
        }
    }
    let (step, r) = (i128::from(step), i128::from(r));
    let skipped = (r + step / 2).div_euclid(step);
    // Truncating to i64 is the wrapping arithmetic both sides use.
    (i128::from(g) + (1 + skipped) * step) as i64
}

/// `a / b` rounded half up, for `a ≥ 0`, `b ≥ 1`; in 64 bits when the operands allow.
#[inline]
fn round_div(a: i128, b: i128) -> i128 {
    match (u64::try_from(a), u64::try_from(b)) {
        (Ok(a), Ok(b)) if b > 0 && a < u64::MAX / 2 => i128::from((a + b / 2) / b),
        _ => (a + b / 2) / b.max(1),
    }
}

/// The grid step for a run: the median delta refined by the average over the whole run.
/// `None` when the run is too short or irregular for a grid to make sense.
fn grid_step(samples: &[(i64, f64)]) -> Option<i64> {
    if samples.len() < 3 {
        return None;
    }
    let mut deltas: Vec<i128> = samples.windows(2).map(|w| i128::from(w[1].0) - i128::from(w[0].0)).collect();
    let mid = deltas.len() / 2;
    let median = *deltas.select_nth_unstable(mid).1;
    if median < 1 {
        return None;
    }
    let intervals: i128 = deltas.iter().map(|&d| round_div(d, median).max(1)).sum();
    let (first, last) = (samples.first()?.0, samples.last()?.0);
    let span = i128::from(last) - i128::from(first);
    let step = round_div(span, intervals);
    (step >= 1 && step <= i128::from(i64::MAX)).then_some(step as i64)
}

fn encode_timestamps(samples: &[(i64, f64)], out: &mut Vec<u8>) -> u8 {
    let Some(&(t0, _)) = samples.first() else {
        return TS_DOD;
    };
    put_varint(out, t0);
    if samples.len() == 1 {
        return TS_DOD;
    }
    let mut dod_cost = 0;
    let mut prev_delta = 0u64;
    for (i, w) in samples.windows(2).enumerate() {
        let delta = w[1].0.wrapping_sub(w[0].0) as u64;
        dod_cost += if i == 0 { bit_len(delta) } else { bit_len(zigzag(delta.wrapping_sub(prev_delta) as i64)) };
        prev_delta = delta;
    }
    if let Some(step) = grid_step(samples) {
        let mut g = t0;
        let mut grid_cost = bit_len(step as u64);
        for &(t, _) in &samples[1..] {
            let r = t.wrapping_sub(g.wrapping_add(step));
            grid_cost += bit_len(zigzag(r));
            g = advance_grid(g, step, r);
        }
        if grid_cost < dod_cost {
            put_uvarint(out, step as u64);
            let mut g = t0;
            for &(t, _) in &samples[1..] {
                let r = t.wrapping_sub(g.wrapping_add(step));
                put_varint(out, r);
                g = advance_grid(g, step, r);
            }
            return TS_GRID;
        }
    }
    let mut prev_delta = 0u64;
    for (i, w) in samples.windows(2).enumerate() {
        let delta = w[1].0.wrapping_sub(w[0].0) as u64;
        if i == 0 {
            put_uvarint(out, delta);
        } else {
            put_varint(out, delta.wrapping_sub(prev_delta) as i64);
        }
        prev_delta = delta;
    }
    TS_DOD
}

fn decode_timestamps(
    r: &mut ByteReader<'_>,
    scheme: u8,
    n: usize,
    out: &mut Vec<(i64, f64)>,
) -> Result<(), ChunkError> {
    let mut t = r.varint().map_err(varint_err("first timestamp"))?;
    out.push((t, 0.0));
    let t0 = t;
    let mut push = |out: &mut Vec<(i64, f64)>, next: i64| {
        if next <= t {
            return Err(ChunkError::Corrupt("timestamps not increasing"));
        }
        t = next;
        out.push((t, 0.0));
        Ok(())
    };
    if scheme == TS_GRID {
        let step = r.uvarint().map_err(varint_err("grid step"))?;
        if step == 0 || step > i64::MAX as u64 {
            return Err(ChunkError::Corrupt("bad grid step"));
        }
        let step = step as i64;
        let mut g = t0;
        for _ in 1..n {
            let res = r.varint().map_err(varint_err("timestamp residual"))?;
            push(out, g.wrapping_add(step).wrapping_add(res))?;
            g = advance_grid(g, step, res);
        }
    } else {
        let mut delta = 0u64;
        for i in 1..n {
            delta = if i == 1 {
                r.uvarint().map_err(varint_err("timestamp delta"))?
            } else {
                let dod = r.varint().map_err(varint_err("timestamp delta of delta"))?;
                delta.wrapping_add(dod as u64)
            };
            let prev = out.last().map_or(t0, |s| s.0);
            push(out, prev.wrapping_add(delta as i64))?;
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Values.

/// Converts `m × 10^e` to `f64` the one way both encoder and decoder do it.
#[inline]
fn from_decimal(m: i64, e: i32) -> f64 {
    let p = POW10[e.unsigned_abs().min(MAX_EXP as u32) as usize];
    if e >= 0 { m as f64 * p } else { m as f64 / p }
}

/// Finds `(m, e)` with `from_decimal(m, e)` equal to `v` bit for bit, with the fewest decimal
/// places, or `None` (non-finite, −0, or not a short decimal).
fn to_decimal(v: f64) -> Option<(i64, i32)> {
    if !v.is_finite() || (v == 0.0 && v.is_sign_negative()) {
        return None;
    }
    if v.fract() == 0.0 {
        if v.abs() < EXACT_INT {
            return Some((v as i64, 0));
        }
        for e in 1..=MAX_EXP {
            let m = v / POW10[e as usize];
            if m.fract() == 0.0 && m.abs() < EXACT_INT && from_decimal(m as i64, e).to_bits() == v.to_bits() {
                return Some((m as i64, e));
            }
        }
        return None;
    }
    for k in 1..=MAX_EXP {
        let x = (v * POW10[k as usize]).round();
        if x.abs() >= EXACT_INT {
            return None;
        }
        if from_decimal(x as i64, -k).to_bits() == v.to_bits() {
            return Some((x as i64, -k));
        }
    }
    None
}

/// A run's values as decimal mantissas with one exponent, plus raw exceptions.
struct DecimalPlan {
    exp: i32,
    /// One mantissa per sample; at exceptions, a filler that keeps the deltas small.
    mantissas: Vec<i64>,
    /// Positions and bits of values that are not decimals.
    exceptions: Vec<(usize, u64)>,
    /// Delta-of-delta mantissas rather than deltas.
    dod: bool,
    /// Estimated cost in bits (see [`bit_len`]).
    cost: u64,
}

impl DecimalPlan {
    fn build(samples: &[(i64, f64)]) -> Option<DecimalPlan> {
        let n = samples.len();
        let budget = n / 8 + 1;
        let mut decimals: Vec<Option<(i64, i32)>> = Vec::with_capacity(n);
        let mut exceptions = 0;
        for &(_, v) in samples {
            let d = to_decimal(v);
            if d.is_none() {
                exceptions += 1;
                if exceptions > budget {
                    return None;
                }
            }
            decimals.push(d);
        }
        let exp = decimals.iter().flatten().map(|d| d.1).min()?;
        let mut plan =
            DecimalPlan { exp, mantissas: Vec::with_capacity(n), exceptions: Vec::new(), dod: false, cost: 0 };
        let mut scaled: Vec<Option<i64>> = Vec::with_capacity(n);
        for (i, (d, &(_, v))) in decimals.iter().zip(samples).enumerate() {
            let m = d.and_then(|(m, e)| {
                let scale = 10i64.checked_pow(u32::try_from(e - exp).ok()?)?;
                let m = m.checked_mul(scale)?;
                (from_decimal(m, exp).to_bits() == v.to_bits()).then_some(m)
            });
            if m.is_none() {
                plan.exceptions.push((i, v.to_bits()));
            }
            scaled.push(m);
        }
        if plan.exceptions.len() > budget {
            return None;
        }
        // Exceptions repeat the previous mantissa (or the first real one, at the start).
        let mut prev = scaled.iter().flatten().next().copied().unwrap_or(0);
        for m in scaled {
            prev = m.unwrap_or(prev);
            plan.mantissas.push(prev);
        }
        let (mut delta_cost, mut dod_cost) = (0, 0);
        let mut prev_delta = 0i64;
        for (i, w) in plan.mantissas.windows(2).enumerate() {
            let delta = w[1].wrapping_sub(w[0]);
            delta_cost += bit_len(zigzag(delta));
            dod_cost += bit_len(zigzag(if i == 0 { delta } else { delta.wrapping_sub(prev_delta) }));
            prev_delta = delta;
        }
        plan.dod = dod_cost < delta_cost;
        plan.cost = delta_cost.min(dod_cost) + 80 * plan.exceptions.len() as u64;
        Some(plan)
    }

    fn write(&self, out: &mut Vec<u8>) {
        put_varint(out, i64::from(self.exp));
        let mut prev = 0i64;
        let mut prev_delta = 0i64;
        for (i, &m) in self.mantissas.iter().enumerate() {
            let delta = m.wrapping_sub(prev);
            match i {
                0 => put_varint(out, m),
                1 => put_varint(out, delta),
                _ if self.dod => put_varint(out, delta.wrapping_sub(prev_delta)),
                _ => put_varint(out, delta),
            }
            prev = m;
            prev_delta = delta;
        }
        put_uvarint(out, self.exceptions.len() as u64);
        let mut next_pos = 0;
        for &(pos, bits) in &self.exceptions {
            put_uvarint(out, (pos - next_pos) as u64);
            out.extend_from_slice(&bits.to_le_bytes());
            next_pos = pos + 1;
        }
    }
}

/// The cost in bits of the XOR value coding for the run.
fn xor_cost(samples: &[(i64, f64)]) -> u64 {
    let (mut leading, mut trailing) = (NO_WINDOW, 0u8);
    let mut cost = 64;
    for w in samples.windows(2) {
        let x = w[0].1.to_bits() ^ w[1].1.to_bits();
        let code = ValueCode::plan(x, leading, trailing);
        cost += u64::from(code.bits(leading, trailing));
        if let ValueCode::NewWindow { leading: l, trailing: t } = code {
            (leading, trailing) = (l, t);
        }
    }
    cost
}

fn encode_values(samples: &[(i64, f64)], out: &mut Vec<u8>) -> u8 {
    if let Some(plan) = DecimalPlan::build(samples)
        && plan.cost <= xor_cost(samples)
    {
        plan.write(out);
        return if plan.dod { V_DEC_DOD } else { V_DEC_DELTA };
    }
    let mut w = BitWriter::default();
    let (mut leading, mut trailing) = (NO_WINDOW, 0u8);
    let mut prev = 0u64;
    for (i, &(_, v)) in samples.iter().enumerate() {
        let bits = v.to_bits();
        if i == 0 {
            w.write_bits(out, bits, 64);
        } else {
            write_xor_value(&mut w, out, bits ^ prev, &mut leading, &mut trailing);
        }
        prev = bits;
    }
    V_XOR
}

fn decode_decimal_values(r: &mut ByteReader<'_>, dod: bool, values: &mut [(i64, f64)]) -> Result<(), ChunkError> {
    let exp = r.varint().map_err(varint_err("decimal exponent"))?;
    if !(-i64::from(MAX_EXP)..=i64::from(MAX_EXP)).contains(&exp) {
        return Err(ChunkError::Corrupt("decimal exponent out of range"));
    }
    let exp = exp as i32;
    let (mut m, mut delta) = (0i64, 0i64);
    for (i, sample) in values.iter_mut().enumerate() {
        let x = r.varint().map_err(varint_err("mantissa"))?;
        match i {
            0 => m = x,
            1 => delta = x,
            _ if dod => delta = delta.wrapping_add(x),
            _ => delta = x,
        }
        if i > 0 {
            m = m.wrapping_add(delta);
        }
        sample.1 = from_decimal(m, exp);
    }
    let count = r.uvarint().map_err(varint_err("exception count"))?;
    if count > values.len() as u64 {
        return Err(ChunkError::Corrupt("more exceptions than samples"));
    }
    let mut next_pos = 0u64;
    for _ in 0..count {
        let pos = next_pos.saturating_add(r.uvarint().map_err(varint_err("exception position"))?);
        let bits = r.u64_le().ok_or(ChunkError::Truncated("exception value"))?;
        let sample = usize::try_from(pos).ok().and_then(|p| values.get_mut(p));
        let sample = sample.ok_or(ChunkError::Corrupt("exception position out of range"))?;
        sample.1 = f64::from_bits(bits);
        next_pos = pos + 1;
    }
    Ok(())
}

fn decode_xor_values(r: &mut ByteReader<'_>, values: &mut [(i64, f64)]) -> Result<(), ChunkError> {
    let mut br = BitReader::new(r.remaining());
    let (mut leading, mut trailing) = (0u8, 0u8);
    let mut bits = 0u64;
    for (i, sample) in values.iter_mut().enumerate() {
        if i == 0 {
            bits = br.read_bits(64).ok_or(ChunkError::Truncated("first value"))?;
        } else {
            read_xor_value(&mut br, &mut bits, &mut leading, &mut trailing)?;
        }
        sample.1 = f64::from_bits(bits);
    }
    r.skip(br.position().div_ceil(8)).ok_or(ChunkError::Truncated("xor values"))
}

#[cfg(test)]
#[path = "columnar_tests.rs"]
mod tests;
