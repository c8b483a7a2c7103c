//! The PromQL syntax tree: the contract between the parser and the evaluator.
//!
//! The shapes follow Prometheus' `promql/parser/ast.go` so that its semantics map one to one:
//! an `offset`, `@`, `anchored` or `smoothed` written after a range selector is stored on the
//! selector's inner [`VectorSelector`], a selector written with a metric name carries an extra
//! `__name__="<name>"` matcher at the end of its matcher list, and set operators always get
//! many-to-many vector matching.
//!
//! Every node carries a [`PosRange`] (byte offsets into the query). Positions never take part in
//! equality: `PosRange`'s `PartialEq` is always `true`, so `==` on two trees compares their
//! structure only, which is what the printer round trip (`parse(print(e)) == e`) needs.

use std::fmt;

use crate::model::Matcher;

use super::functions::Function;

/// A half-open range of byte offsets `[start, end)` into the query text.
///
/// Equality deliberately ignores the offsets (any two ranges are equal), so that derived
/// `PartialEq` on the tree is structural. Compare `start`/`end` explicitly when positions matter.
#[derive(Clone, Copy, Debug, Default, Eq)]
pub struct PosRange {
    /// Offset of the first byte.
    pub start: u32,
    /// Offset one past the last byte.
    pub end: u32,
}

impl PosRange {
    /// A range from `start` to `end`.
    pub fn new(start: u32, end: u32) -> Self {
        PosRange { start, end }
    }
}

impl PartialEq for PosRange {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

/// The type an expression evaluates to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ValueType {
    /// No value (only for broken trees).
    None,
    /// A single float.
    Scalar,
    /// An instant vector.
    Vector,
    /// A range vector ("matrix").
    Matrix,
    /// A string.
    String,
}

impl ValueType {
    /// Prometheus' internal name (`scalar`, `vector`, `matrix`, `string`, `none`), used by the
    /// HTTP API's `resultType` and by a few error messages.
    pub fn name(self) -> &'static str {
        match self {
            ValueType::None => "none",
            ValueType::Scalar => "scalar",
            ValueType::Vector => "vector",
            ValueType::Matrix => "matrix",
            ValueType::String => "string",
        }
    }

    /// The documented name (`instant vector`, `range vector`, ...), used by type errors.
    pub fn documented(self) -> &'static str {
        match self {
            ValueType::Vector => "instant vector",
            ValueType::Matrix => "range vector",
            other => other.name(),
        }
    }
}

/// A PromQL expression.
#[derive(Clone, Debug, PartialEq)]
pub enum Expr {
    /// An aggregation such as `sum by (job) (x)` or `topk(3, x)`.
    Aggregate(AggregateExpr),
    /// A binary operation such as `a + on(job) b`.
    Binary(BinaryExpr),
    /// A function call such as `rate(x[5m])`.
    Call(Call),
    /// A range selector `x[5m]`.
    MatrixSelector(MatrixSelector),
    /// A subquery `expr[30m:1m]`.
    Subquery(SubqueryExpr),
    /// A number literal (`1`, `0x1f`, `Inf`; also a duration such as `5m`, in seconds).
    Number(NumberLiteral),
    /// Parentheses around an expression.
    Paren(ParenExpr),
    /// A string literal.
    String(StringLiteral),
    /// A unary `-` or `+` on a non-literal.
    Unary(UnaryExpr),
    /// An instant vector selector `x{a="b"}`.
    VectorSelector(VectorSelector),
    /// A duration expression used as a value: `step()`, `range()`, `start()`, `end()`,
    /// `min_of(a, b)`, `max_of(a, b)` (scalars, in seconds).
    Duration(DurationExpr),
}

impl Expr {
    /// The type of the value this expression evaluates to.
    pub fn value_type(&self) -> ValueType {
        match self {
            Expr::Aggregate(_) | Expr::VectorSelector(_) => ValueType::Vector,
            Expr::Binary(b) => {
                if b.lhs.value_type() == ValueType::Scalar && b.rhs.value_type() == ValueType::Scalar {
                    ValueType::Scalar
                } else {
                    ValueType::Vector
                }
            }
            Expr::Call(c) => c.func.return_type,
            Expr::MatrixSelector(_) | Expr::Subquery(_) => ValueType::Matrix,
            Expr::Number(_) | Expr::Duration(_) => ValueType::Scalar,
            Expr::Paren(p) => p.expr.value_type(),
            Expr::String(_) => ValueType::String,
            Expr::Unary(u) => u.expr.value_type(),
        }
    }

    /// The byte range of the expression in the query it was parsed from.
    pub fn pos(&self) -> PosRange {
        match self {
            Expr::Aggregate(e) => e.pos,
            Expr::Binary(e) => PosRange::new(e.lhs.pos().start, e.rhs.pos().end),
            Expr::Call(e) => e.pos,
            Expr::MatrixSelector(e) => e.pos,
            Expr::Subquery(e) => e.pos,
            Expr::Number(e) => e.pos,
            Expr::Paren(e) => e.pos,
            Expr::String(e) => e.pos,
            Expr::Unary(e) => e.pos,
            Expr::VectorSelector(e) => e.pos,
            Expr::Duration(e) => e.pos,
        }
    }
}

/// Aggregation operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AggregateOp {
    /// `sum`
    Sum,
    /// `avg`
    Avg,
    /// `count`
    Count,
    /// `min`
    Min,
    /// `max`
    Max,
    /// `group`
    Group,
    /// `stddev`
    Stddev,
    /// `stdvar`
    Stdvar,
    /// `topk` (scalar parameter)
    Topk,
    /// `bottomk` (scalar parameter)
    Bottomk,
    /// `count_values` (string parameter)
    CountValues,
    /// `quantile` (scalar parameter)
    Quantile,
    /// `limitk` (scalar parameter, experimental)
    Limitk,
    /// `limit_ratio` (scalar parameter, experimental)
    LimitRatio,
}

impl AggregateOp {
    /// The operator's lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            AggregateOp::Sum => "sum",
            AggregateOp::Avg => "avg",
            AggregateOp::Count => "count",
            AggregateOp::Min => "min",
            AggregateOp::Max => "max",
            AggregateOp::Group => "group",
            AggregateOp::Stddev => "stddev",
            AggregateOp::Stdvar => "stdvar",
            AggregateOp::Topk => "topk",
            AggregateOp::Bottomk => "bottomk",
            AggregateOp::CountValues => "count_values",
            AggregateOp::Quantile => "quantile",
            AggregateOp::Limitk => "limitk",
            AggregateOp::LimitRatio => "limit_ratio",
        }
    }

    /// Whether the operator takes a parameter before the vector (`topk(3, x)`).
    pub fn has_param(self) -> bool {
        matches!(
            self,
            AggregateOp::Topk
                | AggregateOp::Bottomk
                | AggregateOp::CountValues
                | AggregateOp::Quantile
                | AggregateOp::Limitk
                | AggregateOp::LimitRatio
        )
    }

    /// Whether the operator is experimental (needs `enable_experimental_functions`).
    pub fn is_experimental(self) -> bool {
        matches!(self, AggregateOp::Limitk | AggregateOp::LimitRatio)
    }
}

impl fmt::Display for AggregateOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An aggregation: `op [by|without (labels)] ([param,] expr)`.
#[derive(Clone, Debug, PartialEq)]
pub struct AggregateExpr {
    /// The operator.
    pub op: AggregateOp,
    /// The aggregated expression (an instant vector after type checking).
    pub expr: Box<Expr>,
    /// The parameter of `topk`, `bottomk`, `quantile`, `count_values`, `limitk`, `limit_ratio`.
    pub param: Option<Box<Expr>>,
    /// The `by`/`without` label names, in written order (empty for none).
    pub grouping: Vec<String>,
    /// `true` for `without`, `false` for `by` or no grouping clause.
    pub without: bool,
    /// Source range, from the operator to the closing parenthesis or grouping clause.
    pub pos: PosRange,
}

/// Binary operators, in Prometheus' precedence classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^` (right-associative, highest precedence)
    Pow,
    /// `atan2`
    Atan2,
    /// `</`: trims a native histogram's observations above the right-hand value.
    TrimUpper,
    /// `>/`: trims a native histogram's observations below the right-hand value.
    TrimLower,
    /// `==`
    Eql,
    /// `!=`
    Neq,
    /// `<`
    Lss,
    /// `<=`
    Lte,
    /// `>`
    Gtr,
    /// `>=`
    Gte,
    /// `and`
    And,
    /// `or`
    Or,
    /// `unless`
    Unless,
}

impl BinaryOp {
    /// The operator as written in PromQL.
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::Mod => "%",
            BinaryOp::Pow => "^",
            BinaryOp::Atan2 => "atan2",
            BinaryOp::TrimUpper => "</",
            BinaryOp::TrimLower => ">/",
            BinaryOp::Eql => "==",
            BinaryOp::Neq => "!=",
            BinaryOp::Lss => "<",
            BinaryOp::Lte => "<=",
            BinaryOp::Gtr => ">",
            BinaryOp::Gte => ">=",
            BinaryOp::And => "and",
            BinaryOp::Or => "or",
            BinaryOp::Unless => "unless",
        }
    }

    /// Binding strength: 1 (`or`) to 6 (`^`). Higher binds tighter.
    pub fn precedence(self) -> u8 {
        match self {
            BinaryOp::Or => 1,
            BinaryOp::And | BinaryOp::Unless => 2,
            BinaryOp::Eql | BinaryOp::Neq | BinaryOp::Lss | BinaryOp::Lte | BinaryOp::Gtr | BinaryOp::Gte => 3,
            BinaryOp::Add | BinaryOp::Sub => 4,
            BinaryOp::Mul
            | BinaryOp::Div
            | BinaryOp::Mod
            | BinaryOp::Atan2
            | BinaryOp::TrimUpper
            | BinaryOp::TrimLower => 5,
            BinaryOp::Pow => 6,
        }
    }

    /// Whether the operator groups to the right (`^` only).
    pub fn is_right_associative(self) -> bool {
        self == BinaryOp::Pow
    }

    /// `== != < <= > >=`.
    pub fn is_comparison(self) -> bool {
        self.precedence() == 3
    }

    /// `and or unless`.
    pub fn is_set_operator(self) -> bool {
        matches!(self, BinaryOp::And | BinaryOp::Or | BinaryOp::Unless)
    }
}

impl fmt::Display for BinaryOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How many series on each side may match one series on the other.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VectorMatchCardinality {
    /// The default for arithmetic and comparisons.
    OneToOne,
    /// `group_left`.
    ManyToOne,
    /// `group_right`.
    OneToMany,
    /// Set operators (`and`, `or`, `unless`).
    ManyToMany,
}

/// Fill values for series missing on one side (`fill`, `fill_left`, `fill_right`).
#[derive(Clone, Copy, Debug, Default)]
pub struct FillValues {
    /// Value used when the left-hand side has no match (`fill_left(v)` or `fill(v)`).
    pub lhs: Option<f64>,
    /// Value used when the right-hand side has no match (`fill_right(v)` or `fill(v)`).
    pub rhs: Option<f64>,
}

impl PartialEq for FillValues {
    fn eq(&self, other: &Self) -> bool {
        let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(x), Some(y)) => same_f64(x, y),
            (None, None) => true,
            _ => false,
        };
        same(self.lhs, other.lhs) && same(self.rhs, other.rhs)
    }
}

/// Vector matching of a binary operation between two instant vectors.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorMatching {
    /// The cardinality (set operators are always many-to-many).
    pub card: VectorMatchCardinality,
    /// The `on(...)`/`ignoring(...)` labels.
    pub matching_labels: Vec<String>,
    /// `true` for `on`, `false` for `ignoring` (or no clause, with empty labels).
    pub on: bool,
    /// The extra labels of `group_left(...)`/`group_right(...)`.
    pub include: Vec<String>,
    /// `fill` modifiers.
    pub fill: FillValues,
}

/// A binary operation.
#[derive(Clone, Debug, PartialEq)]
pub struct BinaryExpr {
    /// The operator.
    pub op: BinaryOp,
    /// Left operand.
    pub lhs: Box<Expr>,
    /// Right operand.
    pub rhs: Box<Expr>,
    /// The `bool` modifier of comparisons.
    pub return_bool: bool,
    /// Vector matching; `Some` exactly when both operands are instant vectors.
    pub matching: Option<VectorMatching>,
}

/// A function call.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    /// The function (from [`super::functions::FUNCTIONS`]).
    pub func: &'static Function,
    /// The arguments, in order.
    pub args: Vec<Expr>,
    /// Source range from the name to the closing parenthesis.
    pub pos: PosRange,
}

/// The `@` modifier.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum AtModifier {
    /// `@ <timestamp>`, in milliseconds since the epoch.
    Timestamp(i64),
    /// `@ start()`: the start of the range query (the evaluation time of an instant query).
    Start,
    /// `@ end()`: the end of the range query (the evaluation time of an instant query).
    End,
}

/// A duration that is either a constant or an expression evaluated per query.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationValue {
    /// A constant, in milliseconds (may be negative only for offsets).
    Fixed(i64),
    /// An expression such as `5m+1m` or `step()*2` (needs the step and range of the query).
    Expr(Box<DurationExpr>),
}

/// An instant vector selector.
#[derive(Clone, Debug, PartialEq)]
pub struct VectorSelector {
    /// The metric name written before the braces (empty if none).
    pub name: String,
    /// All matchers; with a `name`, the last one is `__name__="<name>"`.
    pub matchers: Vec<Matcher>,
    /// The `offset`, if any (a zero offset is stored as `None`).
    pub offset: Option<DurationValue>,
    /// The `@` modifier, if any.
    pub at: Option<AtModifier>,
    /// The `anchored` range modifier.
    pub anchored: bool,
    /// The `smoothed` range modifier.
    pub smoothed: bool,
    /// Skip the "at least one non-empty matcher" rule (set for `info()`'s second argument).
    pub bypass_empty_matcher_check: bool,
    /// Source range, including a following `offset`/`@`.
    pub pos: PosRange,
}

/// A range selector. Its `offset`, `@`, `anchored` and `smoothed` live on `selector`.
#[derive(Clone, Debug, PartialEq)]
pub struct MatrixSelector {
    /// The selected series.
    pub selector: VectorSelector,
    /// The range (`Fixed` ranges are positive).
    pub range: DurationValue,
    /// Source range, including a following `offset`/`@`.
    pub pos: PosRange,
}

/// A subquery `expr[range:step]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SubqueryExpr {
    /// The inner expression (an instant vector after type checking).
    pub expr: Box<Expr>,
    /// The range.
    pub range: DurationValue,
    /// The step; `None` means the global evaluation interval.
    pub step: Option<DurationValue>,
    /// The `offset`, if any (a zero offset is stored as `None`).
    pub offset: Option<DurationValue>,
    /// The `@` modifier, if any.
    pub at: Option<AtModifier>,
    /// Source range, including a following `offset`/`@`.
    pub pos: PosRange,
}

/// A number literal. Durations (`5m`) are numbers of seconds with `duration` set.
#[derive(Clone, Debug)]
pub struct NumberLiteral {
    /// The value.
    pub value: f64,
    /// Written as a duration (printed back as one).
    pub duration: bool,
    /// Source range (including a folded leading sign).
    pub pos: PosRange,
}

impl PartialEq for NumberLiteral {
    fn eq(&self, other: &Self) -> bool {
        same_f64(self.value, other.value) && self.duration == other.duration
    }
}

/// A string literal (unquoted).
#[derive(Clone, Debug, PartialEq)]
pub struct StringLiteral {
    /// The value, escapes resolved.
    pub value: String,
    /// Source range including the quotes.
    pub pos: PosRange,
}

/// Parentheses.
#[derive(Clone, Debug, PartialEq)]
pub struct ParenExpr {
    /// The inner expression.
    pub expr: Box<Expr>,
    /// Source range including both parentheses.
    pub pos: PosRange,
}

/// Unary operators.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UnaryOp {
    /// `-`
    Neg,
    /// `+`
    Pos,
}

/// A unary operation on a non-literal (`-1` is folded into a [`NumberLiteral`]).
#[derive(Clone, Debug, PartialEq)]
pub struct UnaryExpr {
    /// The operator.
    pub op: UnaryOp,
    /// The operand.
    pub expr: Box<Expr>,
    /// Source range from the operator to the end of the operand.
    pub pos: PosRange,
}

/// Operators of duration arithmetic.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DurationOp {
    /// `+`
    Add,
    /// `-`
    Sub,
    /// `*`
    Mul,
    /// `/`
    Div,
    /// `%`
    Mod,
    /// `^`
    Pow,
}

impl DurationOp {
    /// The operator as written.
    pub fn as_str(self) -> &'static str {
        match self {
            DurationOp::Add => "+",
            DurationOp::Sub => "-",
            DurationOp::Mul => "*",
            DurationOp::Div => "/",
            DurationOp::Mod => "%",
            DurationOp::Pow => "^",
        }
    }

    /// Binding strength with the same classes as [`BinaryOp::precedence`].
    pub fn precedence(self) -> u8 {
        match self {
            DurationOp::Add | DurationOp::Sub => 4,
            DurationOp::Mul | DurationOp::Div | DurationOp::Mod => 5,
            DurationOp::Pow => 6,
        }
    }
}

/// The shape of a duration expression. All values are in seconds.
#[derive(Clone, Debug, PartialEq)]
pub enum DurationExprKind {
    /// A number or duration literal.
    Number(NumberLiteral),
    /// `lhs op rhs`.
    Binary {
        /// The operator.
        op: DurationOp,
        /// Left operand.
        lhs: Box<DurationExpr>,
        /// Right operand.
        rhs: Box<DurationExpr>,
    },
    /// Unary minus.
    Neg(Box<DurationExpr>),
    /// `step()`: the query step (0 for instant queries).
    Step,
    /// `range()`: end minus start of the query (0 for instant queries).
    Range,
    /// `start()`: the query start time, as seconds since the epoch.
    Start,
    /// `end()`: the query end time, as seconds since the epoch.
    End,
    /// `min_of(a, b)`.
    MinOf(Box<DurationExpr>, Box<DurationExpr>),
    /// `max_of(a, b)`.
    MaxOf(Box<DurationExpr>, Box<DurationExpr>),
}

/// A duration expression (Prometheus' experimental `promql-duration-expr` feature).
#[derive(Clone, Debug)]
pub struct DurationExpr {
    /// What is computed.
    pub kind: DurationExprKind,
    /// Written in parentheses (kept so the printer reproduces them; ignored by equality).
    pub wrapped: bool,
    /// Source range.
    pub pos: PosRange,
}

impl PartialEq for DurationExpr {
    fn eq(&self, other: &Self) -> bool {
        self.kind == other.kind
    }
}

impl DurationExpr {
    /// A literal duration expression.
    pub fn number(value: f64, duration: bool, pos: PosRange) -> Self {
        DurationExpr { kind: DurationExprKind::Number(NumberLiteral { value, duration, pos }), wrapped: false, pos }
    }
}

/// Float equality that treats all NaNs as equal (the tree compares literals, not values).
fn same_f64(a: f64, b: f64) -> bool {
    a == b || (a.is_nan() && b.is_nan())
}
