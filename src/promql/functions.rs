//! The function table: every PromQL function Prometheus 3.x knows, with its signature.
//!
//! Argument checking follows Prometheus: with `variadic == 0` the call must have exactly
//! `arg_types.len()` arguments; with `variadic > 0` the last entry of `arg_types` may be left out
//! or repeated up to `variadic` times in all; with `variadic < 0` the last entry may be left out or
//! repeated without limit. Extra arguments are checked against the last entry.

use super::ast::ValueType;

/// A PromQL function's signature.
#[derive(Debug, PartialEq, Eq)]
pub struct Function {
    /// The name as written in queries.
    pub name: &'static str,
    /// Argument types, in order.
    pub arg_types: &'static [ValueType],
    /// How the last argument may repeat (see the module documentation).
    pub variadic: i32,
    /// The type of the result.
    pub return_type: ValueType,
    /// Needs `--enable-feature=promql-experimental-functions`.
    pub experimental: bool,
}

const fn f(
    name: &'static str,
    arg_types: &'static [ValueType],
    variadic: i32,
    return_type: ValueType,
    experimental: bool,
) -> Function {
    Function { name, arg_types, variadic, return_type, experimental }
}

/// All functions, sorted by name.
pub static FUNCTIONS: &[Function] = &[
    f("abs", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("absent", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("absent_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("acos", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("acosh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("asin", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("asinh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("atan", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("atanh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("avg_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("ceil", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("changes", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("clamp", &[ValueType::Vector, ValueType::Scalar, ValueType::Scalar], 0, ValueType::Vector, false),
    f("clamp_max", &[ValueType::Vector, ValueType::Scalar], 0, ValueType::Vector, false),
    f("clamp_min", &[ValueType::Vector, ValueType::Scalar], 0, ValueType::Vector, false),
    f("cos", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("cosh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("count_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("day_of_month", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("day_of_week", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("day_of_year", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("days_in_month", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("deg", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("delta", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("deriv", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f(
        "double_exponential_smoothing",
        &[ValueType::Matrix, ValueType::Scalar, ValueType::Scalar],
        0,
        ValueType::Vector,
        true,
    ),
    f("exp", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("first_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("floor", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_avg", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_count", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_fraction", &[ValueType::Scalar, ValueType::Scalar, ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_quantile", &[ValueType::Scalar, ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_quantiles", &[ValueType::Vector, ValueType::String, ValueType::Scalar], -1, ValueType::Vector, true),
    f("histogram_stddev", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_stdvar", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("histogram_sum", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("hour", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("idelta", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("increase", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("info", &[ValueType::Vector, ValueType::Vector], 1, ValueType::Vector, true),
    f("irate", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f(
        "label_join",
        &[ValueType::Vector, ValueType::String, ValueType::String, ValueType::String],
        -1,
        ValueType::Vector,
        false,
    ),
    f(
        "label_replace",
        &[ValueType::Vector, ValueType::String, ValueType::String, ValueType::String, ValueType::String],
        0,
        ValueType::Vector,
        false,
    ),
    f("last_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("ln", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("log10", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("log2", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("mad_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("max_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("min_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("minute", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("month", &[ValueType::Vector], 1, ValueType::Vector, false),
    f("pi", &[], 0, ValueType::Scalar, false),
    f("predict_linear", &[ValueType::Matrix, ValueType::Scalar], 0, ValueType::Vector, false),
    f("present_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("quantile_over_time", &[ValueType::Scalar, ValueType::Matrix], 0, ValueType::Vector, false),
    f("rad", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("rate", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("resets", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("round", &[ValueType::Vector, ValueType::Scalar], 1, ValueType::Vector, false),
    f("scalar", &[ValueType::Vector], 0, ValueType::Scalar, false),
    f("sgn", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("sin", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("sinh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("sort", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("sort_by_label", &[ValueType::Vector, ValueType::String], -1, ValueType::Vector, true),
    f("sort_by_label_desc", &[ValueType::Vector, ValueType::String], -1, ValueType::Vector, true),
    f("sort_desc", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("sqrt", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("start_timestamp", &[ValueType::Vector], 0, ValueType::Vector, true),
    f("stddev_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("stdvar_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("sum_over_time", &[ValueType::Matrix], 0, ValueType::Vector, false),
    f("tan", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("tanh", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("time", &[], 0, ValueType::Scalar, false),
    f("timestamp", &[ValueType::Vector], 0, ValueType::Vector, false),
    f("ts_of_first_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("ts_of_last_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("ts_of_max_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("ts_of_min_over_time", &[ValueType::Matrix], 0, ValueType::Vector, true),
    f("vector", &[ValueType::Scalar], 0, ValueType::Vector, false),
    f("year", &[ValueType::Vector], 1, ValueType::Vector, false),
];

/// Looks a function up by its exact (case-sensitive) name.
pub fn get_function(name: &str) -> Option<&'static Function> {
    FUNCTIONS.binary_search_by(|f| f.name.cmp(name)).ok().map(|i| &FUNCTIONS[i])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_unique() {
        for w in FUNCTIONS.windows(2) {
            assert!(w[0].name < w[1].name, "{} !< {}", w[0].name, w[1].name);
        }
    }

    #[test]
    fn lookup() {
        let rate = get_function("rate").unwrap();
        assert_eq!(rate.arg_types, &[ValueType::Matrix]);
        assert_eq!(rate.return_type, ValueType::Vector);
        assert!(get_function("holt_winters").is_none(), "removed in Prometheus 3.0");
        assert!(get_function("Rate").is_none(), "names are case-sensitive");
        assert!(get_function("sort_by_label").unwrap().experimental);
        assert_eq!(get_function("label_join").unwrap().variadic, -1);
        assert_eq!(get_function("time").unwrap().return_type, ValueType::Scalar);
    }
}
