//! Generated arithmetic: "What is 47 + 8?".
//!
//! Problem `i` is drawn from `Rng::derive(seed, i)` alone, so a set of 200 problems is the prefix
//! of the set of 500 with the same options. The default is a sum or difference of two 1–2 digit
//! numbers with a non-negative result: measured with the default instruction on the default
//! model (SmolLM2-135M-Instruct Q4_1, temperature 0.8, 12 problems x 8 candidates), 14.6% of
//! candidates were correct and 5 of 12 problems had a correct candidate; with two or three 2–3
//! digit numbers only 1% were (0% with "Answer with just the number."), which leaves Best-of-N
//! nothing to choose from.

use std::fmt;

use serde::{Deserialize, Serialize};

use super::error::TaskError;
use super::{IntRange, Problem};
use crate::rng::Rng;

/// The instruction placed before each question unless the spec replaces it.
pub const DEFAULT_INSTRUCTION: &str =
    "Solve the arithmetic problem. End your reply with \"The answer is\" followed by the number.";

/// How many times a problem is redrawn to get a non-negative result before a negative one is
/// accepted (the draw stays deterministic either way).
const MAX_DRAWS: usize = 64;

/// An arithmetic operation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[non_exhaustive]
pub enum ArithOp {
    /// `+`
    #[serde(rename = "+")]
    Add,
    /// `-`
    #[serde(rename = "-")]
    Sub,
    /// `×` (written `*` in specs).
    #[serde(rename = "*")]
    Mul,
}

impl ArithOp {
    /// The spec character: `+`, `-` or `*`.
    pub fn spec_char(self) -> char {
        match self {
            Self::Add => '+',
            Self::Sub => '-',
            Self::Mul => '*',
        }
    }

    /// The symbol used in questions: `+`, `-` or `×`.
    pub fn symbol(self) -> char {
        match self {
            Self::Add => '+',
            Self::Sub => '-',
            Self::Mul => '\u{00d7}',
        }
    }

    /// Parses `+`, `-` (or `−`), `*` (or `x`, `×`).
    pub fn from_char(c: char) -> Option<Self> {
        match c {
            '+' => Some(Self::Add),
            '-' | '\u{2212}' => Some(Self::Sub),
            '*' | 'x' | 'X' | '\u{00d7}' => Some(Self::Mul),
            _ => None,
        }
    }
}

impl fmt::Display for ArithOp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.symbol())
    }
}

/// Options of the arithmetic task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ArithmeticSpec {
    /// Number of problems.
    pub count: usize,
    /// Generator seed.
    pub seed: u64,
    /// Operations to draw from (uniformly, per operator slot).
    pub ops: Vec<ArithOp>,
    /// Numbers per problem (2–4).
    pub operands: IntRange,
    /// Digits per number (1–9); a 1-digit number is 1–9, a d-digit one 10^(d-1) .. 10^d - 1.
    pub digits: IntRange,
    /// Allow negative results; when false a problem is redrawn (up to 64 times) until its
    /// result is non-negative.
    pub allow_negative: bool,
    /// How the worked examples answer (the completion format's few-shot part).
    #[serde(skip_serializing_if = "super::Worked::is_line")]
    pub worked: super::Worked,
    /// Replaces the default instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

impl Default for ArithmeticSpec {
    fn default() -> Self {
        Self {
            count: 500,
            seed: 42,
            ops: vec![ArithOp::Add, ArithOp::Sub],
            operands: IntRange::new(2, 2),
            digits: IntRange::new(1, 2),
            allow_negative: false,
            worked: super::Worked::Line,
            instruction: None,
        }
    }
}

impl ArithmeticSpec {
    /// Checks the options (the ranges keep every value inside `i128`).
    pub fn validate(&self) -> Result<(), TaskError> {
        let invalid = |option, reason: String| TaskError::InvalidOption {
            task: "arithmetic",
            option,
            reason,
        };
        if self.ops.is_empty() {
            return Err(invalid("ops", "at least one operation is needed".into()));
        }
        self.operands
            .check(2, 4)
            .map_err(|r| invalid("operands", r))?;
        self.digits.check(1, 9).map_err(|r| invalid("digits", r))?;
        Ok(())
    }
}

/// One drawn expression: numbers and the operators between them.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Expr {
    numbers: Vec<i128>,
    ops: Vec<ArithOp>,
}

impl Expr {
    fn draw(spec: &ArithmeticSpec, rng: &mut Rng) -> Self {
        let n = rng.range_inclusive(spec.operands.min.into(), spec.operands.max.into());
        let mut numbers = Vec::new();
        let mut ops = Vec::new();
        for k in 0..n {
            let d = rng.range_inclusive(spec.digits.min.into(), spec.digits.max.into()) as u32;
            let lo = if d == 1 { 1 } else { 10i64.pow(d - 1) };
            let hi = 10i64.pow(d) - 1;
            numbers.push(i128::from(rng.range_inclusive(lo, hi)));
            if k > 0 {
                ops.push(spec.ops[rng.below(spec.ops.len() as u64) as usize]);
            }
        }
        Self { numbers, ops }
    }

    /// The value with the usual precedence (`×` before `+` and `-`).
    fn value(&self) -> i128 {
        let mut total = 0i128;
        let mut term = self.numbers[0];
        let mut sign = 1i128;
        for (op, &x) in self.ops.iter().zip(&self.numbers[1..]) {
            match op {
                ArithOp::Mul => term *= x,
                ArithOp::Add | ArithOp::Sub => {
                    total += sign * term;
                    sign = if *op == ArithOp::Sub { -1 } else { 1 };
                    term = x;
                }
            }
        }
        total + sign * term
    }
}

impl fmt::Display for Expr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.numbers[0])?;
        for (op, x) in self.ops.iter().zip(&self.numbers[1..]) {
            write!(f, " {op} {x}")?;
        }
        Ok(())
    }
}

/// Problem `index` of the set defined by `spec` (id `arith-<seed>-<index>`).
pub fn problem(spec: &ArithmeticSpec, index: usize) -> Result<Problem, TaskError> {
    spec.validate()?;
    Ok(draw(spec, index))
}

/// The expression of problem `index` of a validated spec.
fn draw_expr(spec: &ArithmeticSpec, index: usize) -> Expr {
    let mut rng = Rng::derive(spec.seed, index as u64);
    let mut expr = Expr::draw(spec, &mut rng);
    for _ in 1..MAX_DRAWS {
        if spec.allow_negative || expr.value() >= 0 {
            break;
        }
        expr = Expr::draw(spec, &mut rng);
    }
    expr
}

/// Problem `index` of a validated spec.
fn draw(spec: &ArithmeticSpec, index: usize) -> Problem {
    let expr = draw_expr(spec, index);
    Problem {
        id: format!("arith-{}-{index}", spec.seed),
        question: format!("What is {expr}?"),
        reference: expr.value().to_string(),
    }
}

/// Worked examples with the spec's operators and sizes, drawn with [`super::EXAMPLE_SEED`] and
/// of different shapes, answered in the spec's [`super::Worked`] style: one line, or in steps
/// before "The answer is".
pub fn examples(spec: &ArithmeticSpec) -> Vec<super::Example> {
    let mut shots = spec.clone();
    shots.seed = super::EXAMPLE_SEED;
    if shots.validate().is_err() {
        return Vec::new();
    }
    // Shape: the operators, and the most digits of a number after the first.
    let shape = |e: &Expr| {
        let digits = e.numbers[1..].iter().map(|x| x.to_string().len()).max();
        vec![format!("{:?}", e.ops), format!("{digits:?}")]
    };
    super::examples::pick_examples(|i| draw_expr(&shots, i), shape)
        .into_iter()
        .map(|expr| super::Example {
            question: format!("What is {expr}?"),
            answer: match spec.worked {
                super::Worked::Line => {
                    format!("{expr} = {v}. The answer is {v}.", v = expr.value())
                }
                super::Worked::Steps => expr.worked(),
            },
        })
        .collect()
}

/// The nonzero place-value parts of `x` from the largest (`128` gives 100, 20, 8), or `x` alone
/// when it has one part or more than three (a step per digit would not help then).
fn place_parts(x: i128) -> Vec<i128> {
    let mut parts = Vec::new();
    let mut rest = x;
    let mut unit = 1i128;
    while rest > 0 {
        let digit = rest % 10;
        if digit != 0 {
            parts.push(digit * unit);
        }
        rest /= 10;
        unit *= 10;
    }
    parts.reverse();
    if parts.len() > 3 || parts.is_empty() {
        vec![x]
    } else {
        parts
    }
}

/// How `r ± b` (`sign` 1 or -1) is worked in steps: a number of several digits by its place
/// values (`+ 38` as `+ 30 + 8`); a single digit that crosses a ten through that ten (`77 + 9`
/// as `77 + 3 + 6`, `83 - 7` as `83 - 3 - 4`); anything else (a product just computed, a
/// negative running value) in one step.
fn term_parts(r: i128, sign: i128, b: i128, as_written: bool) -> Vec<i128> {
    if !as_written {
        return vec![b];
    }
    let parts = place_parts(b);
    if parts.len() > 1 || b >= 10 || r <= 0 {
        return parts;
    }
    let ones = r % 10;
    let first = if sign > 0 { 10 - ones } else { ones };
    if ones != 0 && b > first {
        vec![first, b - first]
    } else {
        vec![b]
    }
}

/// `r ± parts...` as steps, each a sentence `r ± part = r'.`; returns the result.
fn add_steps(r: i128, sign: i128, parts: &[i128], steps: &mut Vec<String>) -> i128 {
    let symbol = if sign < 0 { '-' } else { '+' };
    let mut r = r;
    for &part in parts {
        let next = r + sign * part;
        steps.push(format!("{r} {symbol} {part} = {next}."));
        r = next;
    }
    r
}

impl Expr {
    /// The problem worked out step by step, then "The answer is V.": products first (a
    /// multi-digit factor split into its place values, then added up), then the sums and
    /// differences from left to right, each number added or subtracted by its place values.
    /// `47 + 38` gives "47 + 38 = 47 + 30 + 8. 47 + 30 = 77. 77 + 8 = 85. The answer is 85."
    fn worked(&self) -> String {
        let mut steps = Vec::new();
        // Terms of the sum with their signs, each a product of one or more numbers.
        let mut terms: Vec<(i128, Vec<i128>)> = vec![(1, vec![self.numbers[0]])];
        for (op, &x) in self.ops.iter().zip(&self.numbers[1..]) {
            match op {
                ArithOp::Mul => terms.last_mut().expect("one term").1.push(x),
                ArithOp::Add => terms.push((1, vec![x])),
                ArithOp::Sub => terms.push((-1, vec![x])),
            }
        }
        let mul = ArithOp::Mul.symbol();
        let mut values = Vec::with_capacity(terms.len());
        for (_, factors) in &terms {
            let mut p = factors[0];
            for &f in &factors[1..] {
                let parts = place_parts(f);
                if parts.len() > 1 {
                    let products: Vec<i128> = parts.iter().map(|&q| p * q).collect();
                    for (&q, &pq) in parts.iter().zip(&products) {
                        steps.push(format!("{p} {mul} {q} = {pq}."));
                    }
                    let sum: i128 = products.iter().sum();
                    let shown: Vec<String> = products.iter().map(i128::to_string).collect();
                    steps.push(format!("{} = {sum}.", shown.join(" + ")));
                    p = sum;
                } else {
                    let next = p * f;
                    steps.push(format!("{p} {mul} {f} = {next}."));
                    p = next;
                }
            }
            values.push(p);
        }
        let mut r = values[0];
        for ((sign, factors), &v) in terms.iter().zip(&values).skip(1) {
            // A number as written is split; a product just computed is not.
            let parts = term_parts(r, *sign, v, factors.len() == 1);
            if steps.is_empty() && parts.len() > 1 {
                // The first sum or difference: say how it is split first.
                let symbol = if *sign < 0 { '-' } else { '+' };
                let split: Vec<String> = parts.iter().map(i128::to_string).collect();
                steps.push(format!(
                    "{r} {symbol} {v} = {r} {symbol} {}.",
                    split.join(&format!(" {symbol} "))
                ));
            }
            r = add_steps(r, *sign, &parts, &mut steps);
        }
        debug_assert_eq!(r, self.value());
        steps.push(format!("The answer is {r}."));
        steps.join(" ")
    }
}

/// All `spec.count` problems.
pub fn generate(spec: &ArithmeticSpec) -> Result<Vec<Problem>, TaskError> {
    spec.validate()?;
    Ok((0..spec.count).map(|i| draw(spec, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_answers_go_step_by_step() {
        let e = |numbers: Vec<i128>, ops: Vec<ArithOp>| Expr { numbers, ops }.worked();
        use ArithOp::*;
        assert_eq!(
            e(vec![47, 38], vec![Add]),
            "47 + 38 = 47 + 30 + 8. 47 + 30 = 77. 77 + 8 = 85. The answer is 85."
        );
        assert_eq!(
            e(vec![47, 8], vec![Add]),
            "47 + 8 = 47 + 3 + 5. 47 + 3 = 50. 50 + 5 = 55. The answer is 55."
        );
        assert_eq!(e(vec![41, 8], vec![Add]), "41 + 8 = 49. The answer is 49.");
        assert_eq!(
            e(vec![83, 7], vec![Sub]),
            "83 - 7 = 83 - 3 - 4. 83 - 3 = 80. 80 - 4 = 76. The answer is 76."
        );
        assert_eq!(e(vec![5, 5], vec![Add]), "5 + 5 = 10. The answer is 10.");
        assert_eq!(
            e(vec![50, 20], vec![Sub]),
            "50 - 20 = 30. The answer is 30."
        );
        assert_eq!(
            e(vec![5, 37], vec![Sub]),
            "5 - 37 = 5 - 30 - 7. 5 - 30 = -25. -25 - 7 = -32. The answer is -32."
        );
        assert_eq!(
            e(vec![10, 3, 4, 2], vec![Sub, Mul, Add]),
            "3 \u{00d7} 4 = 12. 10 - 12 = -2. -2 + 2 = 0. The answer is 0."
        );
        assert_eq!(
            e(vec![6, 23], vec![Mul]),
            "6 \u{00d7} 20 = 120. 6 \u{00d7} 3 = 18. 120 + 18 = 138. The answer is 138."
        );
        assert_eq!(
            e(vec![347, 128], vec![Sub]),
            "347 - 128 = 347 - 100 - 20 - 8. 347 - 100 = 247. 247 - 20 = 227. 227 - 8 = 219. \
             The answer is 219."
        );
        // Four or more place values: one step.
        assert_eq!(
            e(vec![1234, 1], vec![Add]),
            "1234 + 1 = 1235. The answer is 1235."
        );
        assert_eq!(
            e(vec![1, 1234], vec![Add]),
            "1 + 1234 = 1235. The answer is 1235."
        );
    }

    #[test]
    fn worked_answers_end_with_the_value_for_every_shape() {
        for (seed, ops, operands, digits) in [
            (1, vec![ArithOp::Add, ArithOp::Sub], (2, 2), (1, 2)),
            (
                2,
                vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul],
                (2, 4),
                (1, 3),
            ),
            (3, vec![ArithOp::Mul], (2, 3), (1, 2)),
            (4, vec![ArithOp::Sub], (2, 4), (1, 5)),
        ] {
            let spec = ArithmeticSpec {
                seed,
                ops,
                operands: IntRange::new(operands.0, operands.1),
                digits: IntRange::new(digits.0, digits.1),
                allow_negative: true,
                ..ArithmeticSpec::default()
            };
            for i in 0..200 {
                let x = draw_expr(&spec, i);
                let w = x.worked();
                assert!(
                    w.ends_with(&format!("The answer is {}.", x.value())),
                    "{x} -> {w}"
                );
                // Every step is true arithmetic.
                for step in w.split(". ").filter(|s| s.contains('=')) {
                    let step = step.trim_end_matches('.');
                    let (lhs, rhs) = step.rsplit_once(" = ").unwrap();
                    let rhs: i128 = rhs.parse().unwrap_or_else(|_| {
                        // "a + b = a + 30 + 8": the split restates the sum.
                        eval_flat(rhs)
                    });
                    assert_eq!(eval_flat(lhs), rhs, "{x}: {step}");
                }
            }
        }
    }

    /// Evaluates "a op b op c" with the usual precedence, through the generator's own `Expr`.
    fn eval_flat(text: &str) -> i128 {
        let mut numbers = Vec::new();
        let mut ops = Vec::new();
        let mut tokens = text.split(' ');
        numbers.push(tokens.next().unwrap().parse().unwrap());
        while let (Some(op), Some(x)) = (tokens.next(), tokens.next()) {
            ops.push(ArithOp::from_char(op.chars().next().unwrap()).unwrap());
            numbers.push(x.parse().unwrap());
        }
        Expr { numbers, ops }.value()
    }

    #[test]
    fn precedence_and_rendering() {
        let e = Expr {
            numbers: vec![347, 128, 95],
            ops: vec![ArithOp::Add, ArithOp::Sub],
        };
        assert_eq!(e.to_string(), "347 + 128 - 95");
        assert_eq!(e.value(), 380);
        let e = Expr {
            numbers: vec![10, 3, 4, 2],
            ops: vec![ArithOp::Sub, ArithOp::Mul, ArithOp::Add],
        };
        assert_eq!(e.to_string(), "10 - 3 \u{00d7} 4 + 2");
        assert_eq!(e.value(), 0);
        let e = Expr {
            numbers: vec![5, 6, 7],
            ops: vec![ArithOp::Mul, ArithOp::Sub],
        };
        assert_eq!(e.value(), 23);
    }

    #[test]
    fn defaults_are_two_small_numbers() {
        let spec = ArithmeticSpec::default();
        let problems = generate(&spec).unwrap();
        assert_eq!(problems.len(), 500);
        let mut one_digit = 0;
        for p in &problems {
            let q = p
                .question
                .strip_prefix("What is ")
                .unwrap()
                .strip_suffix('?')
                .unwrap();
            let parts: Vec<&str> = q.split(' ').collect();
            assert!(parts.len() == 3, "{q}");
            for (k, part) in parts.iter().enumerate() {
                if k % 2 == 0 {
                    assert!((1..=2).contains(&part.len()), "{q}");
                    one_digit += usize::from(part.len() == 1);
                } else {
                    assert!(*part == "+" || *part == "-", "{q}");
                }
            }
            let value: i128 = p.reference.parse().unwrap();
            assert!(value >= 0, "{q} = {value}");
            // The reference is what the expression evaluates to.
            let mut total: i128 = parts[0].parse().unwrap();
            for pair in parts[1..].chunks(2) {
                let x: i128 = pair[1].parse().unwrap();
                total += if pair[0] == "+" { x } else { -x };
            }
            assert_eq!(total, value, "{q}");
        }
        assert!(
            (250..750).contains(&one_digit),
            "{one_digit} of 1000 numbers have one digit"
        );
    }

    #[test]
    fn sets_are_prefixes_and_seeded() {
        let small = ArithmeticSpec {
            count: 200,
            ..ArithmeticSpec::default()
        };
        let large = ArithmeticSpec {
            count: 500,
            ..ArithmeticSpec::default()
        };
        let a = generate(&small).unwrap();
        let b = generate(&large).unwrap();
        assert_eq!(a[..], b[..200]);
        assert_eq!(a, generate(&small).unwrap());
        let other = generate(&ArithmeticSpec {
            seed: 7,
            ..small.clone()
        })
        .unwrap();
        assert_ne!(a, other);
        assert_eq!(a[3].id, "arith-42-3");
        // Random access gives the same problem as the full set.
        assert_eq!(problem(&large, 499).unwrap(), b[499]);
        assert_eq!(other[3].id, "arith-7-3");
    }

    #[test]
    fn options_change_the_problems() {
        let spec = ArithmeticSpec {
            count: 300,
            ops: vec![ArithOp::Mul],
            operands: IntRange::new(2, 2),
            digits: IntRange::new(1, 1),
            allow_negative: true,
            ..ArithmeticSpec::default()
        };
        for p in generate(&spec).unwrap() {
            let q = p
                .question
                .strip_prefix("What is ")
                .unwrap()
                .strip_suffix('?')
                .unwrap();
            let (a, b) = q.split_once(" \u{00d7} ").unwrap();
            let (a, b): (i128, i128) = (a.parse().unwrap(), b.parse().unwrap());
            assert!((1..=9).contains(&a) && (1..=9).contains(&b));
            assert_eq!(p.reference, (a * b).to_string());
        }
        let negatives = generate(&ArithmeticSpec {
            ops: vec![ArithOp::Sub],
            allow_negative: true,
            ..ArithmeticSpec::default()
        })
        .unwrap();
        assert!(negatives.iter().any(|p| p.reference.starts_with('-')));
    }

    #[test]
    fn invalid_options_are_rejected() {
        let bad = [
            ArithmeticSpec {
                ops: vec![],
                ..ArithmeticSpec::default()
            },
            ArithmeticSpec {
                operands: IntRange::new(1, 3),
                ..ArithmeticSpec::default()
            },
            ArithmeticSpec {
                digits: IntRange::new(3, 2),
                ..ArithmeticSpec::default()
            },
            ArithmeticSpec {
                digits: IntRange::new(1, 10),
                ..ArithmeticSpec::default()
            },
        ];
        for spec in bad {
            assert!(
                matches!(generate(&spec), Err(TaskError::InvalidOption { .. })),
                "{spec:?}"
            );
            assert!(problem(&spec, 0).is_err(), "{spec:?}");
        }
    }

    #[test]
    fn largest_problems_do_not_overflow() {
        let spec = ArithmeticSpec {
            count: 50,
            ops: vec![ArithOp::Mul],
            operands: IntRange::new(4, 4),
            digits: IntRange::new(9, 9),
            ..ArithmeticSpec::default()
        };
        for p in generate(&spec).unwrap() {
            assert!(p.reference.len() >= 33, "{p:?}");
        }
    }
}
