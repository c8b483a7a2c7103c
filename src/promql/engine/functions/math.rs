//! Element-wise arithmetic on instant vectors: `abs`, `ceil`, `floor`, `exp`, `sqrt`, `ln`,
//! `log2`, `log10`, trigonometric and hyperbolic functions, `deg`, `rad`, `sgn`, `round`,
//! `clamp`, `clamp_min`, `clamp_max`, and the scalar `pi`. All drop the metric name.

use super::{Arg, FnCtx, FnError, out_sample, scalar_arg, vector_arg};
use crate::model::Labels;
use crate::promql::engine::value::Sample;
use std::sync::Arc;

/// Applies `f` to every sample of argument 0.
fn map(args: &[Arg<'_>], ctx: &FnCtx<'_>, out: &mut Vec<Sample>, f: impl Fn(f64) -> f64) -> Result<(), FnError> {
    for s in vector_arg(args, 0)? {
        out.push(out_sample(&s.metric, ctx, f(s.f), true));
    }
    Ok(())
}

macro_rules! simple {
    ($($name:ident => $f:expr, $doc:literal;)*) => {$(
        #[doc = $doc]
        pub(super) fn $name(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
            map(args, ctx, out, $f)
        }
    )*};
}

simple! {
    abs => f64::abs, "`abs(v)`: the absolute value.";
    ceil => f64::ceil, "`ceil(v)`: rounded up to an integer.";
    floor => f64::floor, "`floor(v)`: rounded down to an integer.";
    exp => f64::exp, "`exp(v)`: e to the power of the value.";
    sqrt => f64::sqrt, "`sqrt(v)`: the square root.";
    ln => f64::ln, "`ln(v)`: the natural logarithm.";
    log2 => f64::log2, "`log2(v)`: the binary logarithm.";
    log10 => f64::log10, "`log10(v)`: the decimal logarithm.";
    sin => f64::sin, "`sin(v)`: the sine (radians).";
    cos => f64::cos, "`cos(v)`: the cosine (radians).";
    tan => f64::tan, "`tan(v)`: the tangent (radians).";
    asin => f64::asin, "`asin(v)`: the arcsine.";
    acos => f64::acos, "`acos(v)`: the arccosine.";
    atan => f64::atan, "`atan(v)`: the arctangent.";
    sinh => f64::sinh, "`sinh(v)`: the hyperbolic sine.";
    cosh => f64::cosh, "`cosh(v)`: the hyperbolic cosine.";
    tanh => f64::tanh, "`tanh(v)`: the hyperbolic tangent.";
    asinh => f64::asinh, "`asinh(v)`: the inverse hyperbolic sine.";
    acosh => f64::acosh, "`acosh(v)`: the inverse hyperbolic cosine.";
    atanh => f64::atanh, "`atanh(v)`: the inverse hyperbolic tangent.";
    rad => |v| v * std::f64::consts::PI / 180.0, "`rad(v)`: degrees to radians.";
    deg => |v| v * 180.0 / std::f64::consts::PI, "`deg(v)`: radians to degrees.";
    sgn => sign, "`sgn(v)`: -1, 1, or the value itself for zeros and NaN.";
}

fn sign(v: f64) -> f64 {
    if v < 0.0 {
        -1.0
    } else if v > 0.0 {
        1.0
    } else {
        v
    }
}

/// `round(v, to_nearest=1)`: rounded to the nearest multiple of `to_nearest`, ties up, computed
/// as upstream through the inverse (`floor(v * (1/n) + 0.5) / (1/n)`).
pub(super) fn round(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let to_nearest = if args.len() >= 2 { scalar_arg(args, 1)? } else { 1.0 };
    let inv = 1.0 / to_nearest;
    map(args, ctx, out, |v| (v * inv + 0.5).floor() / inv)
}

/// Clamps every value into `[lo, hi]`; nothing at all when `hi < lo`.
fn clamp_into(args: &[Arg<'_>], ctx: &FnCtx<'_>, out: &mut Vec<Sample>, lo: f64, hi: f64) -> Result<(), FnError> {
    if hi < lo {
        return Ok(());
    }
    // Go's `math.Max(lo, math.Min(hi, v))`: NaN anywhere gives NaN.
    map(args, ctx, out, |v| go_max(lo, go_min(hi, v)))
}

fn go_max(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.max(b) }
}

fn go_min(a: f64, b: f64) -> f64 {
    if a.is_nan() || b.is_nan() { f64::NAN } else { a.min(b) }
}

/// `clamp(v, min, max)`.
pub(super) fn clamp(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let (lo, hi) = (scalar_arg(args, 1)?, scalar_arg(args, 2)?);
    clamp_into(args, ctx, out, lo, hi)
}

/// `clamp_min(v, min)`.
pub(super) fn clamp_min(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let lo = scalar_arg(args, 1)?;
    clamp_into(args, ctx, out, lo, f64::INFINITY)
}

/// `clamp_max(v, max)`.
pub(super) fn clamp_max(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    let hi = scalar_arg(args, 1)?;
    clamp_into(args, ctx, out, f64::NEG_INFINITY, hi)
}

/// `pi()`: a scalar, returned as one sample without labels.
pub(super) fn pi(_args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    out.push(Sample { metric: Arc::new(Labels::default()), t: ctx.ts, f: std::f64::consts::PI, drop_name: false });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Arg;
    use super::super::test_util::*;

    fn run(query: &str, values: &[f64], scalars: &[f64]) -> Vec<f64> {
        let m = metric(&[("__name__", "m")]);
        let v: Vec<_> = values.iter().map(|f| sample(&m, 0, *f)).collect();
        let mut args = vec![Arg::Vector(&v)];
        args.extend(scalars.iter().map(|s| Arg::Scalar(*s)));
        let o = call(query, &args, Opts::default());
        assert!(o.samples().iter().all(|s| s.drop_name), "{query} drops the name");
        o.samples().iter().map(|s| s.f).collect()
    }

    fn same(got: &[f64], want: &[f64]) -> bool {
        got.len() == want.len()
            && got.iter().zip(want).all(|(g, w)| g == w || (g.is_nan() && w.is_nan()) || (g - w).abs() < 1e-12)
    }

    #[test]
    #[allow(clippy::type_complexity)]
    fn element_wise_functions() {
        let nan = f64::NAN;
        let inf = f64::INFINITY;
        let cases: &[(&str, &[f64], &[f64], &[f64])] = &[
            ("abs(m)", &[-1.5, 2.0, nan], &[], &[1.5, 2.0, nan]),
            ("ceil(m)", &[-1.5, 1.2], &[], &[-1.0, 2.0]),
            ("floor(m)", &[-1.5, 1.2], &[], &[-2.0, 1.0]),
            ("exp(m)", &[0.0, 1.0], &[], &[1.0, std::f64::consts::E]),
            ("sqrt(m)", &[4.0, -1.0], &[], &[2.0, nan]),
            ("ln(m)", &[1.0, 0.0, -1.0], &[], &[0.0, -inf, nan]),
            ("log2(m)", &[8.0], &[], &[3.0]),
            ("log10(m)", &[1000.0], &[], &[3.0]),
            ("sgn(m)", &[-3.0, 0.0, 4.0, nan], &[], &[-1.0, 0.0, 1.0, nan]),
            ("deg(m)", &[std::f64::consts::PI], &[], &[180.0]),
            ("rad(m)", &[180.0], &[], &[std::f64::consts::PI]),
            ("cos(m)", &[0.0], &[], &[1.0]),
            ("atanh(m)", &[0.0, 1.0], &[], &[0.0, inf]),
            // functions.test "Tests for round()": ties go up, also for negatives.
            ("round(m)", &[0.5, -0.5, 1.5, -1.5, 2.4], &[], &[1.0, 0.0, 2.0, -1.0, 2.0]),
            ("round(m, 5)", &[12.0, 13.0, -12.0], &[5.0], &[10.0, 15.0, -10.0]),
            ("round(m, 0.1)", &[0.15, 3.14149], &[0.1], &[0.2, 3.1]),
            ("clamp(m, 0, 10)", &[-1.0, 5.0, 11.0, nan], &[0.0, 10.0], &[0.0, 5.0, 10.0, nan]),
            ("clamp(m, 10, 0)", &[1.0], &[10.0, 0.0], &[]),
            ("clamp_min(m, 2)", &[1.0, 3.0], &[2.0], &[2.0, 3.0]),
            ("clamp_max(m, 2)", &[1.0, 3.0], &[2.0], &[1.0, 2.0]),
        ];
        for (q, input, scalars, want) in cases {
            let got = run(q, input, scalars);
            assert!(same(&got, want), "{q}: got {got:?}, want {want:?}");
        }
    }

    #[test]
    fn pi_is_a_scalar_sample() {
        let o = call("pi()", &[], Opts::default());
        assert_eq!(o.value(), std::f64::consts::PI);
        assert!(o.samples()[0].metric.is_empty());
    }
}
