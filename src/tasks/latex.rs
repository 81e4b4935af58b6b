//! LaTeX answers: finding `\boxed{...}`, and the normal form used to compare MATH answers.
//!
//! The normal form is textual, plus exact arithmetic for plain numbers. It removes notation that
//! does not change the value (spacing, `\left`/`\right`, `\dfrac`, `\frac12` shorthand, units in
//! `\text{}`, degrees, dollar and percent signs, a trailing period, a `x =` prefix) and spells
//! every plain number (integer, decimal, `a/b`, `\frac{a}{b}`, mixed `1\frac{4}{5}`, also as
//! the elements of a tuple or interval) canonically. It does NOT decide symbolic equivalence:
//! `\frac{\sqrt{3}}{3}` and `\frac{1}{\sqrt{3}}`, or `2x+2` and `2(x+1)`, are different answers.

use super::number::{whole_number, Rational};

/// An argument of a LaTeX command starting at byte `i` (whitespace skipped): a braced group
/// (returns its inside), a control word such as `\pi`, or a single character. Returns the
/// argument and the byte offset after it; `None` at the end of the text or on an unbalanced
/// group.
pub(crate) fn take_arg(s: &str, mut i: usize) -> Option<(&str, usize)> {
    let b = s.as_bytes();
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    match *b.get(i)? {
        b'{' => {
            let end = matching_brace(s, i)?;
            Some((&s[i + 1..end], end + 1))
        }
        b'\\' => {
            let mut j = i + 1;
            while j < b.len() && b[j].is_ascii_alphabetic() {
                j += 1;
            }
            if j == i + 1 {
                // A control symbol such as `\{`: one character after the backslash.
                j = i + 1 + s[i + 1..].chars().next()?.len_utf8();
            }
            Some((&s[i..j], j))
        }
        b'}' => None,
        _ => {
            let c = s[i..].chars().next()?;
            Some((&s[i..i + c.len_utf8()], i + c.len_utf8()))
        }
    }
}

/// Byte offset of the `}` closing the `{` at `open`, skipping escaped braces.
fn matching_brace(s: &str, open: usize) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = open;
    while i < b.len() {
        match b[i] {
            b'\\' => i += 1,
            b'{' => depth += 1,
            b'}' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// The name of the control word at byte `i` (which holds a backslash), e.g. `frac`.
fn command_at(s: &str, i: usize) -> &str {
    let b = s.as_bytes();
    let mut j = i + 1;
    while j < b.len() && b[j].is_ascii_alphabetic() {
        j += 1;
    }
    &s[i + 1..j]
}

/// The contents of every `\boxed{...}`, `\boxed X` and `\fbox{...}` in `text`, in order of
/// appearance. Nested boxes appear both as part of the outer content and on their own.
pub(crate) fn boxed_contents(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut from = 0;
    while let Some(pos) = text[from..].find('\\') {
        let i = from + pos;
        let name = command_at(text, i);
        from = i + 1;
        if name != "boxed" && name != "fbox" {
            continue;
        }
        let after = i + 1 + name.len();
        let b = text.as_bytes();
        let mut j = after;
        while j < b.len() && b[j].is_ascii_whitespace() {
            j += 1;
        }
        if b.get(j) == Some(&b'{') {
            if let Some(end) = matching_brace(text, j) {
                out.push(&text[j + 1..end]);
            }
        } else if j > after {
            // `\boxed 5`: the argument runs to the next whitespace or `$`.
            let rest = &text[j..];
            let len = rest
                .find(|c: char| c.is_whitespace() || c == '$')
                .unwrap_or(rest.len());
            if len > 0 {
                out.push(&rest[..len]);
            }
        }
    }
    out
}

/// Replaces `\frac` of two integers by `a/b` (so the number scanner reads it); other fractions
/// are left alone. A fraction glued to a preceding digit gets a space (`1\frac{4}{5}`).
pub(crate) fn integer_fracs_to_slashes(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = s[i..].find("\\frac") {
        let at = i + pos;
        out.push_str(&s[i..at]);
        let after = at + "\\frac".len();
        let glued_letter = s.as_bytes().get(after).is_some_and(u8::is_ascii_alphabetic);
        let args = (!glued_letter)
            .then(|| take_arg(s, after))
            .flatten()
            .and_then(|(p, next)| take_arg(s, next).map(|(q, end)| (p, q, end)));
        match args.and_then(|(p, q, end)| Some((signed_int(p)?, signed_int(q)?, end))) {
            Some(((p_neg, p), (q_neg, q), end)) => {
                if out.ends_with(|c: char| c.is_ascii_digit()) {
                    out.push(' ');
                }
                if p_neg != q_neg {
                    out.push('-');
                }
                out.push_str(p);
                out.push('/');
                out.push_str(q);
                i = end;
            }
            None => {
                out.push_str("\\frac");
                i = after;
            }
        }
    }
    out.push_str(&s[i..]);
    out
}

/// `(negative, digits)` for an optionally signed integer.
fn signed_int(s: &str) -> Option<(bool, &str)> {
    let s = s.trim();
    let (neg, digits) = match s.strip_prefix('-') {
        Some(d) => (true, d.trim()),
        None => (false, s),
    };
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())).then_some((neg, digits))
}

const TEXT_COMMANDS: &[&str] = &[
    "text",
    "textbf",
    "textit",
    "textrm",
    "textsf",
    "textnormal",
    "mbox",
    "mathrm",
    "mathbf",
    "mathit",
    "mathsf",
];

/// `\text{...}` and friends: when the rest of the answer holds a digit they are units and are
/// removed (with a `^2`/`^3` right after them); otherwise they are the answer and are unwrapped.
fn handle_text_commands(s: &str) -> String {
    // (command start, end of its argument, end including a unit power, argument)
    let mut segments: Vec<(usize, usize, usize, &str)> = Vec::new();
    let mut from = 0;
    while let Some(pos) = s[from..].find('\\') {
        let i = from + pos;
        let name = command_at(s, i);
        from = i + 1;
        if !TEXT_COMMANDS.contains(&name) {
            continue;
        }
        if let Some((content, arg_end)) = take_arg(s, i + 1 + name.len()) {
            let power = ["^{2}", "^{3}", "^2", "^3"]
                .into_iter()
                .find(|p| s[arg_end..].starts_with(p))
                .map_or(0, str::len);
            segments.push((i, arg_end, arg_end + power, content));
            from = arg_end;
        }
    }
    if segments.is_empty() {
        return s.to_string();
    }
    let mut remainder = String::new();
    let mut unwrapped = String::new();
    let (mut last_r, mut last_u) = (0, 0);
    for &(start, arg_end, unit_end, content) in &segments {
        remainder.push_str(&s[last_r..start]);
        last_r = unit_end;
        unwrapped.push_str(&s[last_u..start]);
        unwrapped.push_str(content);
        last_u = arg_end;
    }
    remainder.push_str(&s[last_r..]);
    unwrapped.push_str(&s[last_u..]);
    if remainder.bytes().any(|b| b.is_ascii_digit()) {
        remainder
    } else {
        unwrapped
    }
}

/// Drops plain unit words after a number: `10 inches` -> `10`, `5 cm^2` -> `5`. Words of one
/// letter (variables) and `pi` are kept.
fn strip_unit_words(s: &str) -> String {
    let tokens: Vec<&str> = s.split_whitespace().collect();
    let is_unit = |t: &str| {
        let word = t
            .trim_end_matches(|c: char| c.is_ascii_digit())
            .trim_end_matches('^');
        word.len() >= 2 && word.chars().all(|c| c.is_ascii_alphabetic()) && word != "pi"
    };
    let mut keep = tokens.len();
    while keep > 0 && is_unit(tokens[keep - 1]) {
        keep -= 1;
    }
    if keep == tokens.len() || keep == 0 {
        return s.to_string();
    }
    let kept = &tokens[..keep];
    let ends_in_number = kept
        .last()
        .is_some_and(|t| t.ends_with(|c: char| c.is_ascii_digit() || c == '}'));
    if ends_in_number {
        kept.join(" ")
    } else {
        s.to_string()
    }
}

/// Rewrites `\frac` and `\sqrt` so that every argument is braced (`\frac12` -> `\frac{1}{2}`,
/// `\sqrt2` -> `\sqrt{2}`), recursively. Expects whitespace already removed.
fn brace_arguments(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 8);
    let mut i = 0;
    while let Some(pos) = s[i..].find('\\') {
        let at = i + pos;
        out.push_str(&s[i..at]);
        let name = command_at(s, at);
        let after = at + 1 + name.len();
        let arity = match name {
            "frac" => 2,
            "sqrt" => 1,
            _ => 0,
        };
        if arity == 0 || name.is_empty() {
            let end = if name.is_empty() {
                // Control symbol: keep the backslash and the next character together.
                at + 1 + s[at + 1..].chars().next().map_or(0, char::len_utf8)
            } else {
                after
            };
            out.push_str(&s[at..end]);
            i = end;
            continue;
        }
        out.push('\\');
        out.push_str(name);
        let mut next = after;
        if name == "sqrt" && s[next..].starts_with('[') {
            if let Some(close) = s[next..].find(']') {
                out.push_str(&s[next..=next + close]);
                next += close + 1;
            }
        }
        for _ in 0..arity {
            match take_arg(s, next) {
                Some((arg, end)) => {
                    out.push('{');
                    out.push_str(&brace_arguments(arg));
                    out.push('}');
                    next = end;
                }
                None => break,
            }
        }
        i = next;
    }
    out.push_str(&s[i..]);
    out
}

/// `^{2}` -> `^2` and `_{5}` -> `_5` for single-character scripts.
fn unbrace_single_scripts(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let chars: Vec<char> = s.chars().collect();
    let mut k = 0;
    while k < chars.len() {
        let c = chars[k];
        if (c == '^' || c == '_')
            && chars.get(k + 1) == Some(&'{')
            && chars.get(k + 3) == Some(&'}')
            && chars
                .get(k + 2)
                .is_some_and(|x| !matches!(x, '\\' | '{' | '}'))
        {
            out.push(c);
            out.push(chars[k + 2]);
            k += 4;
        } else {
            out.push(c);
            k += 1;
        }
    }
    out
}

/// Parses a whitespace-free plain number: integer, decimal, `a/b`, `\frac{a}{b}` with integer
/// parts (either may be negative), or a mixed number `N\frac{a}{b}`.
fn math_number(s: &str) -> Option<Rational> {
    if let Some(v) = whole_number(s) {
        return Some(v);
    }
    let (negative, body) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s),
    };
    let frac_at = body.find("\\frac{")?;
    let (whole, frac) = body.split_at(frac_at);
    let (p, next) = take_arg(frac, "\\frac".len())?;
    let (q, end) = take_arg(frac, next)?;
    if end != frac.len() {
        return None;
    }
    let (p_neg, p) = signed_int(p)?;
    let (q_neg, q) = signed_int(q)?;
    let mut value =
        Rational::from_decimal(false, p, "")?.checked_div(Rational::from_decimal(false, q, "")?)?;
    if !whole.is_empty() {
        if p_neg || q_neg || !whole.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        value = value.checked_add(Rational::from_decimal(false, whole, "")?)?;
    } else if p_neg != q_neg {
        value = value.neg();
    }
    Some(if negative { value.neg() } else { value })
}

/// Splits at commas that are not inside brackets or braces.
fn split_top_level_commas(s: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0i32;
    let mut start = 0;
    for (i, c) in s.char_indices() {
        match c {
            '(' | '[' | '{' => depth += 1,
            ')' | ']' | '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `1,000` / `11,111,100` written with thousands separators (and nothing else).
fn is_grouped_integer(s: &str) -> bool {
    let body = s.strip_prefix('-').unwrap_or(s);
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let groups: Vec<&str> = int.split(',').collect();
    groups.len() > 1
        && (1..=3).contains(&groups[0].len())
        && groups[1..].iter().all(|g| g.len() == 3)
        && groups.iter().all(|g| g.bytes().all(|b| b.is_ascii_digit()))
        && frac.bytes().all(|b| b.is_ascii_digit())
}

/// Canonical numbers inside a tuple, interval or plain comma list; other elements unchanged.
fn canonical_elements(s: &str) -> String {
    let (open, inner, close) = match (s.chars().next(), s.chars().last()) {
        (Some(o @ ('(' | '[')), Some(c @ (')' | ']'))) if s.len() >= 2 => {
            (o.to_string(), &s[1..s.len() - 1], c.to_string())
        }
        _ => (String::new(), s, String::new()),
    };
    let parts = split_top_level_commas(inner);
    if parts.len() < 2 {
        return s.to_string();
    }
    let parts: Vec<String> = parts
        .into_iter()
        .map(|p| math_number(p).map_or_else(|| p.to_string(), Rational::render))
        .collect();
    format!("{open}{}{close}", parts.join(","))
}

/// The normal form of a MATH-style answer (see the module docs); `None` when nothing is left.
/// One pass can expose a pattern for another (`\{,}` -> `\,`), so passes repeat until the text
/// stops changing, which makes the form idempotent.
pub(crate) fn normalize_math(answer: &str) -> Option<String> {
    let mut current = normalize_math_once(answer)?;
    for _ in 0..16 {
        match normalize_math_once(&current) {
            Some(next) if next != current => current = next,
            Some(_) => return Some(current),
            None => return None,
        }
    }
    Some(current)
}

fn normalize_math_once(answer: &str) -> Option<String> {
    let mut s = answer.trim().trim_matches('$').trim().to_string();
    // A whole answer given as `\boxed{...}`.
    if s.starts_with("\\boxed") || s.starts_with("\\fbox") {
        if let Some(inner) = boxed_contents(&s).first() {
            s = inner.to_string();
        }
    }
    for (from, to) in [
        ("\\$", ""),
        ("$", ""),
        ("\\(", ""),
        ("\\)", ""),
        ("\\[", ""),
        ("\\]", ""),
        ("\\!", ""),
        ("\\,", ""),
        ("\\;", ""),
        ("\\:", ""),
        ("\\qquad", " "),
        ("\\quad", " "),
        ("\\displaystyle", ""),
        ("~", " "),
        ("\\dfrac", "\\frac"),
        ("\\tfrac", "\\frac"),
        ("^{\\circ}", ""),
        ("^\\circ", ""),
        ("\\circ", ""),
        ("\\degree", ""),
        ("\u{00b0}", ""),
        ("\\%", ""),
        ("%", ""),
        ("{,}", ","),
        ("\u{2212}", "-"),
        ("bmatrix", "pmatrix"),
    ] {
        if s.contains(from) {
            s = s.replace(from, to);
        }
    }
    s = remove_left_right(&s);
    s = handle_text_commands(&s);
    s = strip_unit_words(s.trim());
    s.retain(|c| !c.is_whitespace());
    s = brace_arguments(&s);
    s = unbrace_single_scripts(&s);
    while s.ends_with('.') && !s.ends_with("..") {
        s.pop();
    }
    // `x = 5`, `x \in [-2, 7]`: a single-letter variable in front of the answer.
    let b = s.as_bytes();
    if b.len() > 2 && b[0].is_ascii_alphabetic() {
        if b[1] == b'=' && !s[2..].contains('=') {
            s = s[2..].to_string();
        } else if s[1..].starts_with("\\in") && !s[1..].starts_with("\\inf") {
            s = s[4..].to_string();
        }
    }
    // `(B)` / `\text{(B)}`: a multiple-choice letter.
    if s.len() == 3 && s.starts_with('(') && s.ends_with(')') {
        let letter = s.as_bytes()[1];
        if (b'A'..=b'E').contains(&letter) {
            s = (letter as char).to_string();
        }
    }
    if is_grouped_integer(&s) {
        s.retain(|c| c != ',');
    }
    if let Some(v) = math_number(&s) {
        return Some(v.render());
    }
    if s.contains(',') {
        s = canonical_elements(&s);
    }
    if s.len() >= 2 && s.chars().all(|c| c.is_ascii_alphabetic()) {
        s.make_ascii_lowercase();
    }
    (!s.is_empty()).then_some(s)
}

/// Removes `\left` and `\right` (but not `\rightarrow` and other longer words).
fn remove_left_right(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while let Some(pos) = s[i..].find('\\') {
        let at = i + pos;
        out.push_str(&s[i..at]);
        let name = command_at(s, at);
        if name == "left" || name == "right" {
            i = at + 1 + name.len();
        } else {
            out.push('\\');
            i = at + 1;
        }
    }
    out.push_str(&s[i..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boxed_contents_handle_nesting_and_bare_arguments() {
        let cases: &[(&str, &[&str])] = &[
            ("so \\boxed{42}.", &["42"]),
            (
                "\\boxed{\\frac{1}{2}} and \\boxed{3}",
                &["\\frac{1}{2}", "3"],
            ),
            ("$\\boxed 5$", &["5"]),
            ("\\fbox{7}", &["7"]),
            ("\\boxed{\\boxed{9}}", &["\\boxed{9}", "9"]),
            ("\\boxed{unclosed", &[]),
            ("\\boxedx and \\boxed", &[]),
            ("\\boxed{\\{1,2\\}}", &["\\{1,2\\}"]),
        ];
        for &(text, want) in cases {
            assert_eq!(boxed_contents(text), want, "{text:?}");
        }
    }

    #[test]
    fn integer_fractions_become_slashes() {
        assert_eq!(integer_fracs_to_slashes("\\frac{3}{4}"), "3/4");
        assert_eq!(integer_fracs_to_slashes("-\\frac12"), "-1/2");
        assert_eq!(integer_fracs_to_slashes("\\frac{-3}{8}"), "-3/8");
        assert_eq!(integer_fracs_to_slashes("1\\frac{4}{5}"), "1 4/5");
        assert_eq!(
            integer_fracs_to_slashes("\\frac{\\pi}{2}"),
            "\\frac{\\pi}{2}"
        );
        assert_eq!(integer_fracs_to_slashes("\\fraction"), "\\fraction");
    }

    #[test]
    fn equivalent_spellings_normalise_alike() {
        let same: &[(&str, &str)] = &[
            ("\\frac{1}{2}", "0.5"),
            ("\\frac{1}{2}", "1/2"),
            ("\\dfrac{1}{2}", "\\tfrac12"),
            ("\\frac 34", "0.75"),
            ("\\frac9{19}", "\\frac{9}{19}"),
            ("\\frac{270}7\\text{ degrees}", "\\frac{270}{7}"),
            ("-\\frac{3}{8}", "-0.375"),
            ("137 \\frac{1}{2}", "137.5"),
            ("1\\frac{4}{5}", "\\frac95"),
            ("10,\\!080", "10080"),
            ("11,\\! 111,\\! 111,\\! 100", "11111111100"),
            ("\\$32,\\!348", "32348"),
            ("\\$18.90", "18.9"),
            ("5.4 \\text{ cents}", "5.4"),
            ("15\\mbox{ cm}^2", "15"),
            ("864 \\mbox{ inches}^2", "864"),
            ("106^\\circ", "106"),
            ("90^{\\circ}", "90"),
            ("45\u{00b0}", "45"),
            ("50\\%", "50"),
            ("x=5", "5"),
            ("x = 5.", "5"),
            ("y = 2x + 3", "2x+3"),
            ("x \\in [-2,7]", "[-2,7]"),
            ("\\left( 3, \\frac{\\pi}{2} \\right)", "(3,\\frac{\\pi}{2})"),
            ("\\left( \\frac{3}{2}, -13 \\right)", "(1.5,-13)"),
            ("11\\sqrt2", "11\\sqrt{2}"),
            ("\\sqrt 5", "\\sqrt{5}"),
            ("\\text{(B)}", "B"),
            ("(B)", "B"),
            ("\\text{Evelyn}", "evelyn"),
            ("\\text{ east }", "East"),
            ("4210_{5}", "4210_5"),
            ("3, 5, 7", "3,5,7"),
            (
                "\\begin{bmatrix} 1 \\\\ 2 \\end{bmatrix}",
                "\\begin{pmatrix}1\\\\2\\end{pmatrix}",
            ),
            (".0000672", "0.0000672"),
            ("$\\boxed{12}$", "12"),
            ("10 inches", "10"),
            ("p - q", "p-q"),
        ];
        for &(a, b) in same {
            assert_eq!(normalize_math(a), normalize_math(b), "{a:?} vs {b:?}");
            assert!(normalize_math(a).is_some(), "{a:?}");
        }
    }

    #[test]
    fn different_answers_stay_different() {
        let different: &[(&str, &str)] = &[
            ("\\frac{1}{2}", "\\frac{1}{3}"),
            ("\\frac{\\sqrt{3}}{3}", "\\frac{1}{\\sqrt{3}}"),
            ("2x+2", "2(x+1)"),
            ("(1,234)", "1234"),
            ("-2,1", "-21"),
            ("x", "X"),
            ("12\\pi", "12"),
            ("\\cot x", "\\tan x"),
            ("(2,\\infty)", "[2,\\infty)"),
            ("5r^5", "5r^4"),
        ];
        for &(a, b) in different {
            assert_ne!(normalize_math(a), normalize_math(b), "{a:?} vs {b:?}");
        }
        assert_eq!(normalize_math("  "), None);
        assert_eq!(normalize_math("\\text{}"), None);
    }
}
