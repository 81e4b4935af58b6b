//! Exact numbers: finding numbers in free text, and one canonical spelling per value.
//!
//! Values are exact rationals (`i128` numerator and denominator), so `3/4`, `0.75` and
//! `\frac{3}{4}` are the same value and `0.1 + 0.2`-style float noise cannot arise. The canonical
//! spelling is an integer (`-12`), a terminating decimal without trailing zeros (`0.75`, `18.9`),
//! or `p/q` in lowest terms when the decimal does not terminate (`1/3`). A number too large for
//! `i128` keeps its digits (commas and redundant zeros removed) and compares as text.

use super::latex;

/// An exact rational number in lowest terms with a positive denominator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Rational {
    num: i128,
    den: i128,
}

fn gcd(a: i128, b: i128) -> i128 {
    let (mut a, mut b) = (a.unsigned_abs(), b.unsigned_abs());
    while b != 0 {
        (a, b) = (b, a % b);
    }
    // Both inputs fit in i128 and are not i128::MIN (callers never build it), so neither does a.
    i128::try_from(a).unwrap_or(1)
}

impl Rational {
    /// `num / den` reduced; `None` for a zero denominator or on overflow.
    pub(crate) fn new(num: i128, den: i128) -> Option<Self> {
        if den == 0 || num == i128::MIN || den == i128::MIN {
            return None;
        }
        let g = gcd(num, den).max(1);
        let (mut num, mut den) = (num / g, den / g);
        if den < 0 {
            num = -num;
            den = -den;
        }
        Some(Self { num, den })
    }

    /// The value of a decimal numeral with the given integer and fraction digits (ASCII digits
    /// only, either may be empty); `None` on overflow.
    pub(crate) fn from_decimal(
        negative: bool,
        int_digits: &str,
        frac_digits: &str,
    ) -> Option<Self> {
        let mut num: i128 = 0;
        let mut den: i128 = 1;
        for b in int_digits.bytes().chain(frac_digits.bytes()) {
            if !b.is_ascii_digit() {
                return None;
            }
            num = num.checked_mul(10)?.checked_add(i128::from(b - b'0'))?;
        }
        for _ in 0..frac_digits.len() {
            den = den.checked_mul(10)?;
        }
        if negative {
            num = -num;
        }
        Self::new(num, den)
    }

    /// `self + other`, `None` on overflow.
    pub(crate) fn checked_add(self, other: Self) -> Option<Self> {
        let num = self
            .num
            .checked_mul(other.den)?
            .checked_add(other.num.checked_mul(self.den)?)?;
        Self::new(num, self.den.checked_mul(other.den)?)
    }

    /// `self / other`, `None` on overflow or division by zero.
    pub(crate) fn checked_div(self, other: Self) -> Option<Self> {
        Self::new(
            self.num.checked_mul(other.den)?,
            self.den.checked_mul(other.num)?,
        )
    }

    /// `-self`.
    pub(crate) fn neg(self) -> Self {
        // num != i128::MIN by construction.
        Self {
            num: -self.num,
            den: self.den,
        }
    }

    /// The canonical spelling (see the module docs).
    pub(crate) fn render(self) -> String {
        if self.den == 1 {
            return self.num.to_string();
        }
        let mut rest = self.den;
        let (mut twos, mut fives) = (0u32, 0u32);
        while rest % 2 == 0 {
            rest /= 2;
            twos += 1;
        }
        while rest % 5 == 0 {
            rest /= 5;
            fives += 1;
        }
        if rest == 1 {
            let places = twos.max(fives);
            let scaled = 10i128
                .checked_pow(places)
                .and_then(|p| self.num.checked_mul(p / self.den));
            if let Some(scaled) = scaled {
                let digits = scaled.unsigned_abs().to_string();
                let places = places as usize;
                let padded = format!("{digits:0>width$}", width = places + 1);
                let (int, frac) = padded.split_at(padded.len() - places);
                let sign = if scaled < 0 { "-" } else { "" };
                return format!("{sign}{int}.{frac}");
            }
        }
        format!("{}/{}", self.num, self.den)
    }
}

/// A number found in text: its byte range in the scanned string and its canonical spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct NumberToken {
    /// Byte offset of the first character (the sign, if any).
    pub start: usize,
    /// Byte offset one past the last character.
    pub end: usize,
    /// Canonical spelling of the value.
    pub canonical: String,
}

/// Canonical spelling of a decimal numeral that did not fit an `i128`.
fn render_digits(negative: bool, int_digits: &str, frac_digits: &str) -> String {
    let int = int_digits.trim_start_matches('0');
    let frac = frac_digits.trim_end_matches('0');
    let int = if int.is_empty() { "0" } else { int };
    let body = if frac.is_empty() {
        int.to_string()
    } else {
        format!("{int}.{frac}")
    };
    if negative && body != "0" {
        format!("-{body}")
    } else {
        body
    }
}

/// Whether a `-` at byte `i` (followed by a digit) is a sign rather than a minus operator: it is
/// a sign at the start, after an opening bracket, `=`, `$`, `*`, `:` or similar, or after a space
/// that follows a word ("is -5"); it is an operator right after a letter or digit (`x-5`, `10-5`)
/// or when the nearest earlier non-space character is a digit or a closing bracket (`10 - 5`).
fn minus_is_sign(b: &[u8], i: usize) -> bool {
    if i == 0 {
        return true;
    }
    let prev = b[i - 1];
    if prev.is_ascii_alphanumeric() || matches!(prev, b')' | b']' | b'}' | b'.' | b'_' | b'^') {
        return false;
    }
    if prev.is_ascii_whitespace() {
        let nearest = b[..i].iter().rev().find(|c| !c.is_ascii_whitespace());
        return !matches!(nearest, Some(c) if c.is_ascii_digit() || matches!(c, b')' | b']' | b'}'));
    }
    true
}

fn digit_at(b: &[u8], i: usize) -> bool {
    b.get(i).is_some_and(u8::is_ascii_digit)
}

/// Every number in `s`, in order. `s` should already have passed through [`clean_for_numbers`].
///
/// A number is an optional sign, digits with optional comma thousands groups (`1,000,000`; a
/// group is exactly three digits not followed by another digit), an optional decimal part
/// (`3.5`, `.5`; a period not followed by a digit ends a sentence, not a number), or a simple
/// fraction of integers `a/b`. Digits glued to a preceding letter, `_` or `^`, or followed by `_`
/// (`x2`, the `2` of `10^2`, `204_5`), are not numbers.
pub(crate) fn scan_numbers(s: &str) -> Vec<NumberToken> {
    let b = s.as_bytes();
    let n = b.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = b[i];
        let prev_is_digit = i > 0 && b[i - 1].is_ascii_digit();
        let starts_digit = c.is_ascii_digit();
        let starts_dot = c == b'.' && digit_at(b, i + 1) && !prev_is_digit;
        let starts_sign = c == b'-'
            && (digit_at(b, i + 1) || (b.get(i + 1) == Some(&b'.') && digit_at(b, i + 2)))
            && minus_is_sign(b, i);
        if !(starts_digit || starts_dot || starts_sign) {
            i += 1;
            continue;
        }
        let start = i;
        let glued = starts_digit
            && i > 0
            && (b[i - 1].is_ascii_alphabetic() || matches!(b[i - 1], b'_' | b'^'));
        let negative = starts_sign;
        if negative {
            i += 1;
        }
        let int_start = i;
        while digit_at(b, i) {
            i += 1;
        }
        let mut int_digits = s[int_start..i].to_string();
        let mut grouped = false;
        if (1..=3).contains(&int_digits.len()) {
            while b.get(i) == Some(&b',')
                && digit_at(b, i + 1)
                && digit_at(b, i + 2)
                && digit_at(b, i + 3)
                && !digit_at(b, i + 4)
            {
                int_digits.push_str(&s[i + 1..i + 4]);
                i += 4;
                grouped = true;
            }
        }
        let mut frac_digits = "";
        if b.get(i) == Some(&b'.') && digit_at(b, i + 1) {
            let frac_start = i + 1;
            i += 1;
            while digit_at(b, i) {
                i += 1;
            }
            frac_digits = &s[frac_start..i];
        }
        // `204_5` is a base-5 numeral and `x2`, `10^2` are symbols, not quantities.
        if glued || b.get(i) == Some(&b'_') {
            continue;
        }
        let mut canonical = None;
        if !grouped && frac_digits.is_empty() && b.get(i) == Some(&b'/') && digit_at(b, i + 1) {
            let den_start = i + 1;
            let mut j = den_start;
            while digit_at(b, j) {
                j += 1;
            }
            let den_digits = &s[den_start..j];
            let value = Rational::from_decimal(negative, &int_digits, "")
                .zip(Rational::from_decimal(false, den_digits, ""))
                .and_then(|(p, q)| p.checked_div(q));
            if let Some(v) = value {
                canonical = Some(v.render());
                i = j;
            }
        }
        let canonical = canonical.unwrap_or_else(|| {
            Rational::from_decimal(negative, &int_digits, frac_digits)
                .map(Rational::render)
                .unwrap_or_else(|| render_digits(negative, &int_digits, frac_digits))
        });
        out.push(NumberToken {
            start,
            end: i,
            canonical,
        });
    }
    out
}

/// Rewrites the LaTeX and Unicode that hide numbers into plain text: `−` to `-`, `\frac{a}{b}`
/// (also `\dfrac`, `\tfrac`, `\frac12`) of integers to `a/b`, thin spaces `\!` `\,` removed,
/// `{,}` to `,`, `\$` and `\%` unescaped, `\left` / `\right` dropped.
pub(crate) fn clean_for_numbers(text: &str) -> String {
    let mut s = text.replace(['\u{2212}', '\u{2013}'], "-");
    for (from, to) in [
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", " "),
        ("{,}", ","),
        ("\\$", "$"),
        ("\\%", "%"),
        ("\\left", ""),
        ("\\right", ""),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    if s.contains("\\frac") {
        s = latex::integer_fracs_to_slashes(&s);
    }
    s
}

/// The operator or relation between two adjacent numbers of an expression chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gap {
    Equals,
    Operator,
    Other,
}

fn classify_gap(gap: &str) -> Gap {
    let g: String = gap
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '$')
        .collect();
    match g.as_str() {
        "=" | "\u{2248}" | "\\approx" | "==" => Gap::Equals,
        "+" | "-" | "*" | "x" | "X" | "\u{00d7}" | "/" | "\u{00f7}" | "\\times" | "\\cdot"
        | "\u{00b7}" | "\\div" => Gap::Operator,
        _ => Gap::Other,
    }
}

/// The number a short answer span states: its first number, or, when that number starts an
/// expression (`347 + 128 - 95 = 380`, `347 + 128 = 475, 475 - 95 = 380`), the number after the
/// span's last `=`. An expression with no `=` (`5 + 3`) states no number.
pub(crate) fn span_number(span: &str) -> Option<String> {
    let s = clean_for_numbers(span);
    let tokens = scan_numbers(&s);
    let first = tokens.first()?;
    let gap = |pair: &[NumberToken]| classify_gap(&s[pair[0].end..pair[1].start]);
    let starts_expression = tokens.len() > 1 && gap(&tokens[..2]) != Gap::Other;
    if !starts_expression {
        return Some(first.canonical.clone());
    }
    tokens
        .windows(2)
        .rfind(|pair| gap(pair) == Gap::Equals)
        .map(|pair| pair[1].canonical.clone())
}

/// The last number anywhere in `text`.
pub(crate) fn last_number(text: &str) -> Option<String> {
    let s = clean_for_numbers(text);
    scan_numbers(&s).pop().map(|t| t.canonical)
}

/// Parses `s` as exactly one number (surrounding whitespace allowed) and returns it.
pub(crate) fn whole_number(s: &str) -> Option<Rational> {
    let s = s.trim();
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    if body.is_empty() {
        return None;
    }
    if let Some((p, q)) = body.split_once('/') {
        let p = Rational::from_decimal(false, all_digits(p)?, "")?;
        let q = Rational::from_decimal(false, all_digits(q)?, "")?;
        let v = p.checked_div(q)?;
        return Some(if negative { v.neg() } else { v });
    }
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    Rational::from_decimal(
        negative,
        all_digits_or_empty(int)?,
        all_digits_or_empty(frac)?,
    )
}

fn all_digits(s: &str) -> Option<&str> {
    (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())).then_some(s)
}

fn all_digits_or_empty(s: &str) -> Option<&str> {
    s.bytes().all(|b| b.is_ascii_digit()).then_some(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rationals_render_canonically() {
        let cases: &[(i128, i128, &str)] = &[
            (3, 4, "0.75"),
            (6, 8, "0.75"),
            (-1, 2, "-0.5"),
            (1, -2, "-0.5"),
            (1, 3, "1/3"),
            (-2, 6, "-1/3"),
            (10, 5, "2"),
            (0, 7, "0"),
            (1, 80, "0.0125"),
            (672, 10_000_000, "0.0000672"),
            (275, 2, "137.5"),
        ];
        for &(p, q, want) in cases {
            assert_eq!(Rational::new(p, q).unwrap().render(), want, "{p}/{q}");
        }
        assert!(Rational::new(1, 0).is_none());
    }

    #[test]
    fn scanner_finds_numbers_in_prose() {
        let cases: &[(&str, &[&str])] = &[
            ("She has 1,000 apples and 25 pears.", &["1000", "25"]),
            ("The total is $1,450,000.", &["1450000"]),
            ("It costs $3.50, so 3.0 each", &["3.5", "3"]),
            ("10 - 5 = 5", &["10", "5", "5"]),
            ("10-5 is -5, x-3", &["10", "5", "-5", "3"]),
            ("= -12", &["-12"]),
            ("(-3, 4)", &["-3", "4"]),
            ("3/4 of it", &["0.75"]),
            ("1/3 cup", &["1/3"]),
            ("a list: 1,2,3", &["1", "2", "3"]),
            ("x2 + 204_5 + 10^2", &["10"]),
            ("value .5 then 5.", &["0.5", "5"]),
            ("007 and 1.250", &["7", "1.25"]),
            ("1,2345", &["1", "2345"]),
            (
                "123456789012345678901234567890123456789012",
                &["123456789012345678901234567890123456789012"],
            ),
        ];
        for &(text, want) in cases {
            let got: Vec<String> = scan_numbers(&clean_for_numbers(text))
                .into_iter()
                .map(|t| t.canonical)
                .collect();
            assert_eq!(got, want, "{text:?}");
        }
    }

    #[test]
    fn answer_spans_state_one_number() {
        let cases: &[(&str, Option<&str>)] = &[
            ("42.", Some("42")),
            ("**42**", Some("42")),
            ("$1,000", Some("1000")),
            ("347 + 128 - 95 = 380", Some("380")),
            ("12 \\times 3 = 36 apples", Some("36")),
            ("347 + 128 = 475, 475 - 95 = 380", Some("380")),
            ("380 (because 5 = 5)", Some("380")),
            ("5 + 3", None),
            ("that 7 people came, then 9", Some("7")),
            ("\\frac{3}{4}", Some("0.75")),
            ("-\\dfrac{1}{3}", Some("-1/3")),
            ("10,\\!080", Some("10080")),
            ("\u{2212}7", Some("-7")),
            ("no digits", None),
        ];
        for &(span, want) in cases {
            assert_eq!(span_number(span).as_deref(), want, "{span:?}");
        }
    }

    #[test]
    fn whole_numbers_parse_exactly_one_number() {
        assert_eq!(
            whole_number("3/4").map(Rational::render).as_deref(),
            Some("0.75")
        );
        assert_eq!(
            whole_number("-0.50").map(Rational::render).as_deref(),
            Some("-0.5")
        );
        assert_eq!(
            whole_number(".5").map(Rational::render).as_deref(),
            Some("0.5")
        );
        assert_eq!(
            whole_number("5.").map(Rational::render).as_deref(),
            Some("5")
        );
        for bad in ["", "-", ".", "1/0", "1/", "a", "1.2.3", "3 4"] {
            assert!(whole_number(bad).is_none(), "{bad:?}");
        }
    }
}
