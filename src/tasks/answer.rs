//! Answer kinds and the one extraction rule they share (documented in the parent module).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::latex::{boxed_contents, normalize_math};
use super::number::{last_number, span_number};
use super::yesno::{classify, last_statement, leading_signal, Signal};

/// What kind of final answer a task asks for; decides how answers are parsed and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[non_exhaustive]
pub enum AnswerKind {
    /// A number, compared exactly as a rational (`1,000` = `1000`, `3/4` = `0.75`).
    Number,
    /// `yes` or `no`.
    YesNo,
    /// A multiple-choice letter `A`–`E`.
    Choice,
    /// Free text, compared trimmed, case-insensitively, ignoring a trailing period.
    Exact,
    /// A MATH-style LaTeX answer, compared after normalisation (see [`AnswerKind::normalize`]).
    Math,
}

impl AnswerKind {
    /// Every kind, in a fixed order.
    pub const ALL: [Self; 5] = [
        Self::Number,
        Self::YesNo,
        Self::Choice,
        Self::Exact,
        Self::Math,
    ];

    /// The kind a free-form question asks for, read from its form: a yes-no question when the
    /// last clause of its last sentence that ends in `?` (else of its last sentence) opens with
    /// an auxiliary verb (`Is the coin still heads up?`, `After that, does Ana have more?`),
    /// else a number. Used with a head
    /// trained on several task families, where nothing else says what the question asks for;
    /// `--answer-type` overrides it.
    pub fn for_question(question: &str) -> Self {
        const AUX: &[&str] = &[
            "is", "are", "was", "were", "am", "do", "does", "did", "can", "could", "will", "would",
            "should", "shall", "has", "have", "had", "may", "might", "must", "isn't", "aren't",
            "doesn't", "don't", "didn't", "wasn't", "weren't", "won't", "can't",
        ];
        let text = question.trim();
        // Sentences, split after ., ! and ? (a decimal point has no space after it).
        let mut sentences: Vec<&str> = Vec::new();
        let mut start = 0;
        let bytes = text.as_bytes();
        for (i, &b) in bytes.iter().enumerate() {
            let end = i + 1 == bytes.len() || bytes[i + 1].is_ascii_whitespace();
            if matches!(b, b'.' | b'!' | b'?') && end {
                sentences.push(text[start..=i].trim());
                start = i + 1;
            }
        }
        if start < text.len() {
            sentences.push(text[start..].trim());
        }
        let asked = sentences
            .iter()
            .rev()
            .find(|s| s.ends_with('?'))
            .or(sentences.last());
        // The clause that asks: after the last comma ("After all that, is the coin heads up?").
        let first = asked
            .map(|s| s.rsplit(", ").next().unwrap_or(s))
            .and_then(|s| s.split_whitespace().next())
            .map(|w| {
                w.trim_matches(|c: char| !c.is_alphanumeric() && c != '\'')
                    .to_lowercase()
            });
        match first {
            Some(w) if AUX.contains(&w.as_str()) => Self::YesNo,
            _ => Self::Number,
        }
    }

    /// The name used in task specs and manifests (`number`, `yes-no`, `choice`, `exact`, `math`).
    pub fn name(self) -> &'static str {
        match self {
            Self::Number => "number",
            Self::YesNo => "yes-no",
            Self::Choice => "choice",
            Self::Exact => "exact",
            Self::Math => "math",
        }
    }

    /// The final answer stated in a candidate's `text`, normalised, or `None` when the text
    /// states none. Rules, in order; each rule is used only if it yields an answer of this
    /// kind:
    /// 1. the content of a `\boxed{...}` / `\boxed X` / `\fbox{...}`, latest first;
    /// 2. the text after an answer phrase (`answer is`, `answer:`, `answer =`, `answer
    ///    would/will/should/must be`, or `####` before a number), latest first, up to the end
    ///    of its sentence; "answer is not ..." is no phrase;
    /// 3. a kind-specific fallback: the last number in the text (number, math); a reply opening
    ///    with yes/no, else the last statement with a yes/no signal (yes-no); a reply opening
    ///    with a letter (`B)`, `(B)`, `B.`), else the last `(B)`/`B)` marker (choice); the last
    ///    non-empty line (exact). A reply opening with yes/no whose first sentence also says
    ///    the opposite is ambiguous and gives `None`.
    pub fn extract(self, text: &str) -> Option<String> {
        for content in boxed_contents(text).into_iter().rev() {
            if let Some(answer) = self.parse_span(content, true) {
                return Some(answer);
            }
        }
        for span in answer_spans(text).into_iter().rev() {
            if let Some(answer) = self.parse_span(span, false) {
                return Some(answer);
            }
        }
        match self {
            Self::Number | Self::Math => last_number(text),
            Self::YesNo => match leading_signal(text) {
                Some(Signal::Says(a)) => Some(a.as_str().to_string()),
                Some(Signal::Ambiguous) => None,
                Some(Signal::Silent) | None => last_statement(text).map(|a| a.as_str().to_string()),
            },
            Self::Choice => leading_choice(text).or_else(|| last_choice_marker(text)),
            Self::Exact => text.lines().rev().find_map(normalize_exact),
        }
    }

    /// The canonical form of a bare answer (a reference, or an answer returned by
    /// [`AnswerKind::extract`], which is already canonical): a canonical number, `yes`/`no`, a
    /// capital letter, lower-cased trimmed text, or normalised LaTeX. `None` if `answer` holds
    /// no answer of this kind.
    pub fn normalize(self, answer: &str) -> Option<String> {
        match self {
            Self::Number => span_number(answer),
            Self::YesNo => match classify(&unwrap_text(answer)) {
                Signal::Says(a) => Some(a.as_str().to_string()),
                _ => None,
            },
            Self::Choice => span_choice(answer),
            Self::Exact => normalize_exact(answer),
            Self::Math => normalize_math(answer),
        }
    }

    /// Whether `answer` equals `reference` once both are normalised; `false` if either is not an
    /// answer of this kind.
    pub fn judge(self, answer: &str, reference: &str) -> bool {
        match (self.normalize(answer), self.normalize(reference)) {
            (Some(a), Some(r)) => a == r,
            _ => false,
        }
    }

    fn parse_span(self, span: &str, boxed: bool) -> Option<String> {
        let sentence = if boxed { span } else { first_sentence(span) };
        match self {
            Self::Number => span_number(sentence),
            Self::Math => {
                if boxed {
                    normalize_math(span)
                } else {
                    normalize_math(first_math_segment(span).unwrap_or(sentence))
                }
            }
            Self::YesNo | Self::Choice | Self::Exact => self.normalize(sentence),
        }
    }
}

impl fmt::Display for AnswerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for AnswerKind {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let wanted = s.trim().to_ascii_lowercase().replace('_', "-");
        let wanted = if wanted == "yesno" {
            "yes-no".to_string()
        } else {
            wanted
        };
        Self::ALL
            .into_iter()
            .find(|k| k.name() == wanted)
            .ok_or_else(|| {
                format!(
                    "unknown answer type {s:?} (expected number, yes-no, choice, exact or math)"
                )
            })
    }
}

/// Spans that follow an explicit answer phrase, in order of appearance: each runs from just after
/// the phrase (and any `:`, `*`, `_` or whitespace) to the end of that line.
pub(crate) fn answer_spans(text: &str) -> Vec<&str> {
    let lower = text.to_ascii_lowercase();
    let b = lower.as_bytes();
    let mut spans = Vec::new();
    let mut from = 0;
    while from < b.len() {
        let next_answer = lower[from..].find("answer").map(|p| (from + p, false));
        let next_hashes = lower[from..].find("####").map(|p| (from + p, true));
        let Some((at, hashes)) = [next_answer, next_hashes].into_iter().flatten().min() else {
            break;
        };
        let span_start = if hashes {
            from = at + 4;
            // Only a GSM8K answer line (`#### 18`), not a markdown heading (`#### Step 1`).
            let rest = text[at + 4..].trim_start_matches([' ', '\t']);
            rest.starts_with(|c: char| c.is_ascii_digit() || matches!(c, '-' | '$' | '.'))
                .then_some(at + 4)
        } else {
            from = at + "answer".len();
            phrase_end(&lower, at)
        };
        if let Some(mut i) = span_start {
            while i < b.len()
                && (b[i].is_ascii_whitespace() || matches!(b[i], b':' | b'*' | b'_' | b'#'))
            {
                i += 1;
            }
            let end = text[i..].find('\n').map_or(text.len(), |e| i + e);
            spans.push(&text[i..end]);
            from = from.max(i);
        }
    }
    spans
}

/// If the word "answer" at byte `at` of the lower-cased text is followed by a connector
/// (`is`, `:`, `=`, `would be`, ...), the byte offset after the connector.
fn phrase_end(lower: &str, at: usize) -> Option<usize> {
    let b = lower.as_bytes();
    let boundary = |i: usize| b.get(i).is_none_or(|c| !c.is_ascii_alphanumeric());
    if at > 0 && b[at - 1].is_ascii_alphanumeric() {
        return None;
    }
    let mut i = at + "answer".len();
    if !boundary(i) {
        return None;
    }
    while i < b.len() && matches!(b[i], b' ' | b'\t' | b'*' | b'_') {
        i += 1;
    }
    let after = if matches!(b.get(i), Some(b':' | b'=')) {
        i + 1
    } else {
        let connector = ["is", "would be", "will be", "should be", "must be"]
            .into_iter()
            .find(|c| lower[i..].starts_with(c) && boundary(i + c.len()))?;
        i + connector.len()
    };
    // "the answer is not 5" states no answer.
    let rest = lower[after..].trim_start();
    if rest.starts_with("not ") || rest.starts_with("not\n") {
        return None;
    }
    Some(after)
}

/// The first sentence of a span: up to a `.`, `!`, `?` or `;` followed by whitespace or the end,
/// ignoring those inside `$...$`.
pub(crate) fn first_sentence(span: &str) -> &str {
    let mut in_math = false;
    let mut prev = '\0';
    let mut chars = span.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if c == '$' && prev != '\\' {
            in_math = !in_math;
        } else if !in_math && matches!(c, '.' | '!' | '?' | ';') {
            let at_break = chars.peek().is_none_or(|&(_, n)| n.is_whitespace());
            if at_break {
                return &span[..i];
            }
        }
        prev = c;
    }
    span
}

/// The inside of the first `$...$` or `\(...\)` of a span.
fn first_math_segment(span: &str) -> Option<&str> {
    if let Some(start) = span.find("\\(") {
        let rest = &span[start + 2..];
        if let Some(end) = rest.find("\\)") {
            return Some(&rest[..end]);
        }
    }
    let start = span.find('$')?;
    let rest = span[start..].trim_start_matches('$');
    let end = rest.find('$')?;
    Some(&rest[..end])
}

/// `\text{X}` / `\textbf{X}` wrapping the whole string, unwrapped.
fn unwrap_text(s: &str) -> String {
    let t = s.trim();
    for cmd in ["\\text{", "\\textbf{", "\\mathrm{", "\\mbox{"] {
        if let Some(inner) = t.strip_prefix(cmd).and_then(|r| r.strip_suffix('}')) {
            return inner.to_string();
        }
    }
    t.to_string()
}

fn is_choice_letter(c: u8) -> bool {
    (b'A'..=b'E').contains(&c)
}

/// The first standalone capital letter A–E of a span (`B`, `(B)`, `B)`, `option B`).
fn span_choice(span: &str) -> Option<String> {
    let b = span.as_bytes();
    (0..b.len())
        .find(|&i| {
            is_choice_letter(b[i])
                && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'\\'))
                && b.get(i + 1).is_none_or(|c| !c.is_ascii_alphanumeric())
        })
        .map(|i| (b[i] as char).to_string())
}

/// A reply that opens with a choice: `B`, `B)`, `(B)`, `B.`, `B:` or `B,` (after markdown).
fn leading_choice(text: &str) -> Option<String> {
    let t = text.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, '*' | '#' | '_'));
    let t = t.strip_prefix('(').unwrap_or(t);
    let b = t.as_bytes();
    let letter = *b.first()?;
    let ends = b
        .get(1)
        .is_none_or(|c| matches!(c, b')' | b'.' | b':' | b',' | b'*' | b'\n' | b'\r'));
    (is_choice_letter(letter) && ends).then(|| (letter as char).to_string())
}

/// The last `(B)` or `B)` in the text.
fn last_choice_marker(text: &str) -> Option<String> {
    let b = text.as_bytes();
    (1..b.len())
        .rev()
        .find(|&i| {
            b[i] == b')'
                && is_choice_letter(b[i - 1])
                && (i < 2 || !b[i - 2].is_ascii_alphanumeric())
        })
        .map(|i| (b[i - 1] as char).to_string())
}

/// Trimmed, unquoted, lower-cased text with single spaces and no trailing period.
fn normalize_exact(answer: &str) -> Option<String> {
    let mut t = answer.trim().to_string();
    // Peel wrappers until none is left (`**"Paris."**`, `$\text{Paris}$`).
    loop {
        let peeled = unwrap_text(
            t.trim_matches(|c: char| {
                c.is_whitespace() || matches!(c, '*' | '"' | '\'' | '`' | '_' | '$')
            })
            .trim_end_matches('.'),
        );
        if peeled == t {
            break;
        }
        t = peeled;
    }
    let t = t
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase();
    (!t.is_empty()).then_some(t)
}

#[cfg(test)]
mod question_kind_tests {
    use super::AnswerKind;

    #[test]
    fn yes_no_questions_are_told_from_number_questions() {
        for q in [
            "A coin is heads up. Ka flips the coin. Is the coin still heads up? Note that \"flip\" here means \"reverse\".",
            "Does 7 divide 91?",
            "A coin lies on the table showing tails. Otto turns it over. After all that, is the coin showing heads?",
            "  are there more apples than pears? ",
        ] {
            assert_eq!(AnswerKind::for_question(q), AnswerKind::YesNo, "{q}");
        }
        for q in [
            "What is 47 + 38?",
            "Ana has 3.5 kg of flour. How many grams is that?",
            "Compute 12 * 4.",
            "If Ana has 3 apples and is given 2, how many does she have?",
            "Subtract 18 from 73.",
            "",
        ] {
            assert_eq!(AnswerKind::for_question(q), AnswerKind::Number, "{q}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn answer_phrases_are_found() {
        let cases: &[(&str, &[&str])] = &[
            ("The answer is 42.", &["42."]),
            ("**Answer:** 42", &["42"]),
            ("**Answer**: 42\nmore", &["42"]),
            (
                "Final answer: $5$. I hope it is correct.",
                &["$5$. I hope it is correct."],
            ),
            ("The answer would be 7", &["7"]),
            ("Answer:\n\n12", &["12"]),
            ("#### 1,000", &["1,000"]),
            ("#### Step 1: add\n####-3", &["-3"]),
            ("The answer is not 5, it is 6", &[]),
            ("I answered 5. The answers are here. Answer = 3", &["3"]),
            (
                "answer is yes, the answer is no",
                &["yes, the answer is no", "no"],
            ),
            ("no phrase at all", &[]),
        ];
        for &(text, want) in cases {
            assert_eq!(answer_spans(text), want, "{text:?}");
        }
    }

    #[test]
    fn sentences_end_outside_math() {
        assert_eq!(first_sentence("3.5 apples. Then"), "3.5 apples");
        assert_eq!(first_sentence("$x. y$. z"), "$x. y$");
        assert_eq!(first_sentence("42"), "42");
        assert_eq!(first_sentence("42!"), "42");
    }

    #[test]
    fn kind_names_round_trip() {
        for k in AnswerKind::ALL {
            assert_eq!(k.name().parse::<AnswerKind>(), Ok(k));
            assert_eq!(
                serde_json::to_string(&k).unwrap(),
                format!("\"{}\"", k.name())
            );
        }
        assert_eq!("YesNo".parse::<AnswerKind>(), Ok(AnswerKind::YesNo));
        assert!("float".parse::<AnswerKind>().is_err());
    }

    #[test]
    fn choices() {
        let cases: &[(&str, Option<&str>)] = &[
            ("The answer is (B).", Some("B")),
            ("B) 42", Some("B")),
            ("(C) because it is largest", Some("C")),
            ("answer is B", Some("B")),
            ("\\boxed{\\text{(E)}}", Some("E")),
            ("Answer: option D", Some("D")),
            ("A", Some("A")),
            ("**B**", Some("B")),
            ("Looking at (A) and (D), the best is D)", Some("D")),
            ("A coin is heads up", None),
            ("Because the area is 12", None),
            ("The answer is F.", None),
        ];
        for &(text, want) in cases {
            assert_eq!(
                AnswerKind::Choice.extract(text).as_deref(),
                want,
                "{text:?}"
            );
        }
    }

    #[test]
    fn exact_answers() {
        let cases: &[(&str, Option<&str>)] = &[
            ("The answer is Paris.", Some("paris")),
            ("Answer: \"New  York\"", Some("new york")),
            ("\\boxed{\\text{Evelyn}}", Some("evelyn")),
            ("Let me think.\nParis.\n", Some("paris")),
            ("  \n ", None),
        ];
        for &(text, want) in cases {
            assert_eq!(AnswerKind::Exact.extract(text).as_deref(), want, "{text:?}");
        }
        assert!(AnswerKind::Exact.judge("PARIS.", "paris"));
        assert!(!AnswerKind::Exact.judge("Paris, France", "paris"));
    }
}
