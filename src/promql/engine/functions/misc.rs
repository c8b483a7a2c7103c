//! `timestamp` and the experimental `start_timestamp`.

use super::{Arg, FnCtx, FnError, out_sample, vector_arg};
use crate::promql::engine::value::Sample;

/// `timestamp(v)`: each sample's own timestamp in seconds (for samples straight from a
/// selector, the time of the stored sample; otherwise the step time).
pub(super) fn timestamp(args: &[Arg<'_>], ctx: &mut FnCtx<'_>, out: &mut Vec<Sample>) -> Result<(), FnError> {
    for s in vector_arg(args, 0)? {
        out.push(out_sample(&s.metric, ctx, s.t as f64 / 1000.0, true));
    }
    Ok(())
}

/// `start_timestamp(v)`: the start (creation) time of each sample. Samples carry no start
/// times here (as upstream for any argument that is not a plain selector), so the result is
/// always empty.
pub(super) fn start_timestamp(args: &[Arg<'_>], _ctx: &mut FnCtx<'_>, _out: &mut Vec<Sample>) -> Result<(), FnError> {
    vector_arg(args, 0)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::Arg;
    use super::super::test_util::*;

    #[test]
    fn timestamp_uses_the_sample_time() {
        // functions.test "Tests for vector, time and timestamp": at 5s the sample is from 0s.
        let m = metric(&[("__name__", "metric")]);
        let v = [sample(&m, 0, 1.0), sample(&m, 10_000, 1.0)];
        let o = call("timestamp(metric)", &[Arg::Vector(&v)], Opts { ts: 15_000, ..Opts::default() });
        let got: Vec<(f64, bool, i64)> = o.samples().iter().map(|s| (s.f, s.drop_name, s.t)).collect();
        assert_eq!(got, vec![(0.0, true, 15_000), (10.0, true, 15_000)]);
    }

    #[test]
    fn start_timestamp_is_empty_without_start_times() {
        let m = metric(&[("__name__", "series")]);
        let v = [sample(&m, 0, 1.0)];
        assert!(call("start_timestamp(series)", &[Arg::Vector(&v)], Opts::default()).is_empty());
    }
}
