//! Calendar functions in UTC: `year`, `month`, `day_of_month`, `day_of_year`, `day_of_week`,
//! `days_in_month`, `hour`, `minute`. Each takes an optional vector of Unix times in seconds;
//! without it, the step time is used and the result is one sample without labels.

use super::{Arg, FnCtx, FnError, out_sample, vector_arg};
use crate::model::Labels;
use crate::promql::engine::value::Sample;
use std::sync::Arc;

/// A UTC calendar date and time of day.
#[derive(Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: u32,
    day: u32,
    hour: u32,
    minute: u32,
    /// Days since 1970-01-01.
    days: i64,
}

/// The civil date of `secs` seconds after the Unix epoch (proleptic Gregorian calendar).
fn civil(secs: i64) -> Civil {
    let days = secs.div_euclid(86_400);
    let sod = secs.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil, with eras of 400 years starting on March 1st.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    Civil { year, month, day, hour: (sod / 3600) as u32, minute: (sod % 3600 / 60) as u32, days }
}

fn is_leap(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in(year: i64, month: u32) -> u32 {
    match month {
        2 if is_leap(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn day_of_year_of(c: &Civil) -> u32 {
    (1..c.month).map(|m| days_in(c.year, m)).sum::<u32>() + c.day
}

/// Evaluates `f` on the argument's values (seconds, truncated towards zero as Go's `int64()`)
/// or, without an argument, on the step time.
fn date_fn(args: &[Arg<'_>], ctx: &FnCtx<'_>, out: &mut Vec<Sample>, f: fn(&Civil) -> f64) -> Result<(), FnError> {
    if args.is_empty() {
        // Go's integer division truncates towards zero, as Rust's does.
        let c = civil(ctx.ts / 1000);
        out.push(Sample { metric: Arc::new(Labels::default()), t: ctx.ts, f: f(&c), drop_name: false });
        return Ok(());
    }
    for s in vector_arg(args, 0)? {
        // `as` saturates (and maps NaN to 0) where Go's conversion is undefined.
        let c = civil(s.f as i64);
        out.push(out_sample(&s.metric, ctx, f(&c), true));
    }
    Ok(())
}

macro_rules! date_functions {
    ($($name:ident => $f:expr, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub(super) fn $name(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
            date_fn(args, ctx, out, $f)
        }
    )*};
}

date_functions! {
    year => |c| c.year as f64, "`year(v=vector(time()))`: the year.";
    month => |c| f64::from(c.month), "`month(v=vector(time()))`: the month, 1 to 12.";
    day_of_month => |c| f64::from(c.day), "`day_of_month(v=vector(time()))`: 1 to 31.";
    day_of_year => |c| f64::from(day_of_year_of(c)), "`day_of_year(v=vector(time()))`: 1 to 366.";
    day_of_week => |c| (c.days + 4).rem_euclid(7) as f64, "`day_of_week(v=vector(time()))`: 0 (Sunday) to 6.";
    days_in_month => |c| f64::from(days_in(c.year, c.month)), "`days_in_month(v=vector(time()))`: 28 to 31.";
    hour => |c| f64::from(c.hour), "`hour(v=vector(time()))`: 0 to 23.";
    minute => |c| f64::from(c.minute), "`minute(v=vector(time()))`: 0 to 59.";
}

#[cfg(test)]
mod tests {
    use super::super::Arg;
    use super::super::test_util::*;
    use super::*;

    #[test]
    fn civil_dates() {
        let cases = [
            (0, (1970, 1, 1, 0, 0)),
            (1_136_239_445, (2006, 1, 2, 22, 4)),
            (1_230_767_999, (2008, 12, 31, 23, 59)),
            (1_230_768_000, (2009, 1, 1, 0, 0)),
            (1_456_790_399, (2016, 2, 29, 23, 59)),
            (1_456_790_400, (2016, 3, 1, 0, 0)),
            (-1, (1969, 12, 31, 23, 59)),
            (951_782_400, (2000, 2, 29, 0, 0)),
        ];
        for (secs, (y, mo, d, h, mi)) in cases {
            let c = civil(secs);
            assert_eq!((c.year, c.month, c.day, c.hour, c.minute), (y, mo, d, h, mi), "{secs}");
        }
    }

    #[test]
    fn date_functions_match_the_scripts() {
        // functions.test "Tests for time functions" (all at 0m; the argument is in seconds).
        let cases: &[(&str, Option<f64>, f64)] = &[
            ("year()", None, 1970.0),
            ("year(vector(1136239445))", Some(1_136_239_445.0), 2006.0),
            ("month()", None, 1.0),
            ("day_of_month(vector(1136239445))", Some(1_136_239_445.0), 2.0),
            ("day_of_year(vector(1136239445))", Some(1_136_239_445.0), 2.0),
            ("day_of_week()", None, 4.0),
            ("day_of_week(vector(1136239445))", Some(1_136_239_445.0), 1.0),
            ("hour(vector(1136239445))", Some(1_136_239_445.0), 22.0),
            ("minute(vector(1136239445))", Some(1_136_239_445.0), 4.0),
            ("day_of_year(vector(1483191420))", Some(1_483_191_420.0), 366.0),
            ("day_of_year(vector(1672493820))", Some(1_672_493_820.0), 365.0),
            ("days_in_month(vector(1454284800))", Some(1_454_284_800.0), 29.0),
            ("days_in_month(vector(1485907200))", Some(1_485_907_200.0), 28.0),
        ];
        let m = metric(&[("__name__", "x")]);
        for (q, arg, want) in cases {
            let v: Vec<_> = arg.iter().map(|f| sample(&m, 0, *f)).collect();
            let args: Vec<Arg> = if arg.is_some() { vec![Arg::Vector(&v)] } else { vec![] };
            let o = call(q, &args, Opts::default());
            assert_eq!(o.value(), *want, "{q}");
            assert_eq!(o.samples()[0].drop_name, arg.is_some(), "{q}");
        }
    }
}
