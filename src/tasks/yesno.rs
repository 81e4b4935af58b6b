//! Yes/no answers in free text.
//!
//! A span of text carries *signals*: `yes`/`true`/`no`/`false` as the first word (after fillers
//! such as "so", "well") of the span's first clause or of a clause of its own, and the coin states `heads` (yes) and `tails` (no), each
//! flipped by a negation among the four words before it ("not heads up", "is no longer heads
//! up", "isn't tails up"). A span whose signals all agree answers that way; a span with
//! disagreeing signals is ambiguous and answers nothing.

/// A yes/no answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum YesNo {
    Yes,
    No,
}

impl YesNo {
    /// `"yes"` or `"no"`.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Yes => "yes",
            Self::No => "no",
        }
    }

    fn flip(self) -> Self {
        match self {
            Self::Yes => Self::No,
            Self::No => Self::Yes,
        }
    }
}

/// What a span says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    /// Nothing yes/no-like.
    Silent,
    /// Consistent answer.
    Says(YesNo),
    /// Both yes and no.
    Ambiguous,
}

const FILLERS: &[&str] = &[
    "so",
    "then",
    "therefore",
    "thus",
    "hence",
    "well",
    "and",
    "okay",
    "ok",
    "sure",
    "answer",
    "final",
    "my",
];
const NEGATORS: &[&str] = &[
    "not", "isn't", "isnt", "wasn't", "won't", "doesn't", "aren't", "never", "longer", "cannot",
    "can't", "nor", "neither",
];

/// Lower-case words of one clause (apostrophes kept, curly ones straightened).
fn words(clause: &str) -> Vec<String> {
    clause
        .split(|c: char| !(c.is_alphanumeric() || c == '\'' || c == '\u{2019}'))
        .filter(|w| !w.is_empty())
        .map(|w| w.replace('\u{2019}', "'").to_lowercase())
        .collect()
}

/// The answer word a clause opens with, if any.
fn leading_word(words: &[String]) -> Option<YesNo> {
    let first = words.iter().position(|w| !FILLERS.contains(&w.as_str()))?;
    match words[first].as_str() {
        "yes" | "yeah" | "yep" | "true" => Some(YesNo::Yes),
        "no" | "nope" | "false" => {
            // "No one flips ...", "no longer heads up" are not answers.
            let next = words.get(first + 1).map(String::as_str);
            (!matches!(next, Some("one" | "longer" | "matter" | "flips" | "flip")))
                .then_some(YesNo::No)
        }
        _ => None,
    }
}

fn clauses(span: &str) -> impl Iterator<Item = &str> {
    span.split(|c: char| {
        matches!(
            c,
            ',' | ';' | ':' | '.' | '!' | '?' | '\n' | '(' | ')' | '-' | '\u{2014}'
        )
    })
}

/// All signals of a span, combined.
pub(crate) fn classify(span: &str) -> Signal {
    let mut found: Option<YesNo> = None;
    let mut note = |s: YesNo| -> bool {
        match found {
            Some(prev) if prev != s => false,
            _ => {
                found = Some(s);
                true
            }
        }
    };
    let mut first_clause = true;
    for clause in clauses(span) {
        let w = words(clause);
        if w.is_empty() {
            continue;
        }
        // A yes/no word answers when it opens the span or stands alone in its clause ("..., so
        // yes."), not as a determiner later on ("2 flips, no change").
        let alone = w.iter().filter(|x| !FILLERS.contains(&x.as_str())).count() == 1;
        if let Some(s) = leading_word(&w).filter(|_| first_clause || alone) {
            if !note(s) {
                return Signal::Ambiguous;
            }
        }
        first_clause = false;
        for (j, word) in w.iter().enumerate() {
            let state = match word.as_str() {
                "heads" => YesNo::Yes,
                "tails" => YesNo::No,
                _ => continue,
            };
            let negated = w[j.saturating_sub(4)..j]
                .iter()
                .any(|x| NEGATORS.contains(&x.as_str()) || x.ends_with("n't"));
            if !note(if negated { state.flip() } else { state }) {
                return Signal::Ambiguous;
            }
        }
    }
    found.map_or(Signal::Silent, Signal::Says)
}

/// A reply whose very first word is yes/no/true/false: what its first sentence says (so
/// "Yes, it is tails up" is ambiguous). `None` when the reply does not open that way.
pub(crate) fn leading_signal(text: &str) -> Option<Signal> {
    let w = clauses(text).map(words).find(|w| !w.is_empty())?;
    if FILLERS.contains(&w[0].as_str()) {
        return None;
    }
    leading_word(&w)?;
    let end = text.find(['.', '!', '?', '\n']).unwrap_or(text.len());
    Some(classify(&text[..end]))
}

/// The last statement that says yes or no: sentences after the last question in the reply (so a
/// restated question and its premises do not count), skipping the restated CoinFlip premise "A
/// coin is heads up."; the latest sentence with any signal decides, and an ambiguous one gives
/// `None`.
pub(crate) fn last_statement(text: &str) -> Option<YesNo> {
    let mut sentences: Vec<(&str, bool)> = Vec::new();
    let mut start = 0;
    for (i, c) in text.char_indices() {
        if matches!(c, '.' | '!' | '?' | '\n') {
            sentences.push((&text[start..i], c == '?'));
            start = i + c.len_utf8();
        }
    }
    sentences.push((&text[start..], false));
    let after_question = sentences
        .iter()
        .rposition(|&(_, question)| question)
        .map_or(0, |q| q + 1);
    for &(sentence, _) in sentences[after_question..].iter().rev() {
        if words(sentence) == ["a", "coin", "is", "heads", "up"] {
            continue;
        }
        match classify(sentence) {
            Signal::Silent => continue,
            Signal::Says(s) => return Some(s),
            Signal::Ambiguous => return None,
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_classify() {
        use Signal::*;
        use YesNo::*;
        let cases: &[(&str, Signal)] = &[
            ("Yes", Says(Yes)),
            ("yes.", Says(Yes)),
            ("**No**", Says(No)),
            ("No, it is tails up", Says(No)),
            ("No, the coin is not heads up", Says(No)),
            ("The coin is still heads up", Says(Yes)),
            ("it is not heads up anymore", Says(No)),
            ("it is no longer heads up", Says(No)),
            ("No it is not heads up", Says(No)),
            ("the coin isn't tails up", Says(Yes)),
            ("It's tails up", Says(No)),
            ("True", Says(Yes)),
            ("So, yes", Says(Yes)),
            ("No one flipped it, so it is heads up", Says(Yes)),
            ("Yes, it is tails up", Ambiguous),
            ("heads up or tails up", Ambiguous),
            (
                "It was flipped twice, no change, so it is heads up",
                Says(Yes),
            ),
            ("Two flips, so no", Says(No)),
            ("No it is tails up", Says(No)),
            ("Maybe", Silent),
            ("Ka flips the coin", Silent),
            ("", Silent),
        ];
        for &(span, want) in cases {
            assert_eq!(classify(span), want, "{span:?}");
        }
    }

    #[test]
    fn leading_signals() {
        use Signal::*;
        assert_eq!(leading_signal("Yes. Ka flips..."), Some(Says(YesNo::Yes)));
        assert_eq!(leading_signal("  **No**, because"), Some(Says(YesNo::No)));
        assert_eq!(
            leading_signal("Yes, it is tails up. Ka..."),
            Some(Ambiguous)
        );
        assert_eq!(leading_signal("No one flips the coin."), None);
        assert_eq!(leading_signal("Well, yes"), None);
        assert_eq!(leading_signal("The coin is heads up"), None);
    }

    #[test]
    fn last_statements() {
        let cases: &[(&str, Option<YesNo>)] = &[
            (
                "Ka flips the coin so it is tails up. Sam flips it back. So it is heads up.",
                Some(YesNo::Yes),
            ),
            (
                "A coin is heads up. Ka flips the coin. Is the coin still heads up?",
                None,
            ),
            ("A coin is heads up. Ka flips the coin.", None),
            (
                "A coin is tails up. Sherrie does not flip the coin.",
                Some(YesNo::No),
            ),
            (
                "Is the coin still heads up? The coin is tails up.",
                Some(YesNo::No),
            ),
            ("It was flipped twice. It is heads up or tails up.", None),
            ("I don't know.", None),
        ];
        for &(text, want) in cases {
            assert_eq!(last_statement(text), want, "{text:?}");
        }
    }
}
