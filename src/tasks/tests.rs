//! Checker tables with realistic small-model outputs, file handling, and checks against the
//! shared GSM8K and MATH-500 copies (skipped with a note when `../shared/datasets` is absent).

use std::io::Write;
use std::path::{Path, PathBuf};

use super::*;
use crate::prompt::{ChatMessage, PromptFormat};

/// (candidate text, expected extracted answer, expected correct)
type Row<'a> = (&'a str, Option<&'a str>, bool);

fn run_table(kind: AnswerKind, reference: &str, rows: &[Row<'_>]) {
    for &(text, answer, correct) in rows {
        let got = kind.extract(text);
        assert_eq!(got.as_deref(), answer, "{kind} extract from {text:?}");
        let judged = got.as_deref().is_some_and(|a| kind.judge(a, reference));
        assert_eq!(
            judged, correct,
            "{kind} judge {got:?} vs {reference:?} from {text:?}"
        );
    }
}

#[test]
fn arithmetic_outputs() {
    // What is 347 + 128 - 95?
    let rows: &[Row<'_>] = &[
        ("The answer is 380.", Some("380"), true),
        ("347 + 128 - 95 = 380", Some("380"), true),
        ("**380**", Some("380"), true),
        ("\\boxed{380}", Some("380"), true),
        ("The final answer is $\\boxed{380}$", Some("380"), true),
        ("= 380", Some("380"), true),
        ("380 apples", Some("380"), true),
        ("The answer is 380.0", Some("380"), true),
        ("The answer is 347 + 128 - 95 = 380.", Some("380"), true),
        (
            "Sure! Let's calculate: 347 + 128 - 95. The answer is 380!",
            Some("380"),
            true,
        ),
        (
            "First, 347 + 128 = 475. Then 475 - 95 = 380. The answer is 380.",
            Some("380"),
            true,
        ),
        (
            "To solve this, we add 347 and 128 to get 475, and then subtract 95 to get 380. \
             So, the answer is: 380",
            Some("380"),
            true,
        ),
        (
            "**Answer:** 380\n\nExplanation: 347 + 128 = 475",
            Some("380"),
            true,
        ),
        (
            "347 + 128 = 475\n475 - 95 = 370\nThe answer is 370.",
            Some("370"),
            false,
        ),
        ("The answer is 1,380", Some("1380"), false),
        ("The result is -380", Some("-380"), false),
        // The explicit phrase wins over a later correction: rule 2 before rule 3.
        (
            "The answer is 475. Wait, 475 - 95 = 380.",
            Some("475"),
            false,
        ),
        // Only restating the question: the last number is 95.
        ("347 + 128 - 95", Some("95"), false),
        ("The answer is 5 + 3", Some("3"), false),
        ("The answer is three hundred eighty.", None, false),
        ("I'm sorry, I can't help with that.", None, false),
        ("", None, false),
    ];
    run_table(AnswerKind::Number, "380", rows);
}

#[test]
fn coinflip_outputs() {
    let yes: &[Row<'_>] = &[
        ("Yes", Some("yes"), true),
        ("yes.", Some("yes"), true),
        ("**Yes**, the coin is still heads up.", Some("yes"), true),
        ("The coin is still heads up.", Some("yes"), true),
        ("Heads up", Some("yes"), true),
        ("The answer is yes.", Some("yes"), true),
        ("\\boxed{\\text{Yes}}", Some("yes"), true),
        (
            "No one flips the coin, so it is still heads up.",
            Some("yes"),
            true,
        ),
        (
            "Ka flips the coin, so it is tails up. Sherrie flips the coin, so it is heads up \
             again. The coin was flipped 2 times, which is even, so it is still heads up.",
            Some("yes"),
            true,
        ),
        ("Is the coin still heads up? Yes, it is.", Some("yes"), true),
        (
            "It was flipped twice, no change, so it is still heads up.",
            Some("yes"),
            true,
        ),
        ("Answer: The coin is still heads up.", Some("yes"), true),
        ("No, it is tails up.", Some("no"), false),
        ("No, the coin is not heads up.", Some("no"), false),
        ("The coin is no longer heads up.", Some("no"), false),
        ("Answer: No", Some("no"), false),
        ("\\boxed{No}", Some("no"), false),
        ("Tails.", Some("no"), false),
        (
            "Since Ka flips the coin and Sherrie does not flip the coin, the coin is no longer \
             heads up.",
            Some("no"),
            false,
        ),
        (
            "Ka flipped it once, so it's now tails. Therefore, no.",
            Some("no"),
            false,
        ),
        (
            "Ka flips the coin. The coin is now tails up. Sherrie does not flip the coin. The \
             coin is still tails up.",
            Some("no"),
            false,
        ),
        // Ambiguous or no answer.
        ("Yes, it is tails up.", None, false),
        ("The coin is heads up or tails up.", None, false),
        (
            "A coin is heads up. Ka flips the coin. Sherrie does not flip the coin. Is the coin \
             still heads up?",
            None,
            false,
        ),
        ("Maybe.", None, false),
        ("I am not sure what you mean.", None, false),
        ("", None, false),
    ];
    run_table(AnswerKind::YesNo, "yes", yes);
    // The same texts against a "no" reference flip every parsed verdict.
    let flipped: Vec<Row<'_>> = yes
        .iter()
        .map(|&(t, a, _)| (t, a, a == Some("no")))
        .collect();
    run_table(AnswerKind::YesNo, "no", &flipped);
}

/// Verbatim replies of SmolLM2-135M-Instruct (Q4_1, temperature 0.8, top-k 40, top-p 0.95,
/// seed 42, `swift-bon sample`) to this crate's default arithmetic and CoinFlip prompts, with
/// what the documented rule makes of them.
#[test]
fn smollm2_135m_replies() {
    // "What is 347 + 128 - 95?" (380): the model got none of 16 right; every extraction
    // follows the rule (phrase first, else the last number).
    let arithmetic: &[Row<'_>] = &[
        ("When you multiply 347 by 128 and add 95, you're creating a positive addition: 347 + 128 = 554 and then multiplying by 128 to get 992. Since both 347 and 128 have a sum of 992, there's no remainder. This is because you're subtracting only 1 more when you add 128 and 128. So the answer is actually the opposite of your initial answer, which is 992.\n\nThe final answer must be the negative of 992. Since you can't have a fraction of the original number, we consider it as 992.", Some("992"), false),
        ("The answer is: 132.", Some("132"), false),
        ("347 + 128 - 95 = 347 - 128 + 95 = 425", Some("425"), false),
        ("To solve this arithmetic problem, we need to first calculate 347 + 128 and then subtract 95 from that result. \n\nWe start by adding 347 and 128, which results in 425, and then we subtract 425 from 95 to get 131. Therefore, 347 + 128 is 455.\n\nNow, we subtract 131 from 95, which gives us 102. So, the answer is 347 + 128 - 102 = 95.\n\nThe answer is 95.", Some("95"), false),
        ("107", Some("107"), false),
        ("347 + 128 - 95 = 243\n\nThe answer is 243.", Some("243"), false),
        ("347 + 128 - 95 = 493\nThe answer is 493.", Some("493"), false),
        ("To solve this arithmetic problem, we need to find the difference of two numbers, which is 128, and add it to 347.\n\nThe answer is 128 + 347 = 521.\n\nI will just type in the code I mentioned earlier.", Some("521"), false),
        ("347 + 128 - 95 is 565 - 95 = 127.\n\nThe answer is 127.", Some("127"), false),
        ("To solve the equation 347 + 128 - 95, we need to follow the order of operations: parentheses first and then add:\n\n347 + 128 - 95 = 347 - 95 = 142 - 95 = 23 - 95 = -4\n\nTo find the answer for the equation, subtract 142 from the result:\n\n-4 = 142 - 142 = 1\n\nThe answer is 1.", Some("1"), false),
    ];
    run_table(AnswerKind::Number, "380", arithmetic);
    // "What is 47 + 18?" (65). The last row shows a limit of the last-number fallback: the
    // model's correct "= 65" is followed by a restated "47 + 18".
    let easy: &[Row<'_>] = &[
        ("12\n", Some("12"), false),
        (
            "A math problem is: 47 + 18 = 19\n\nThe answer is 19",
            Some("19"),
            false,
        ),
        ("47 + 18 = 65\n\nThe answer is 47.", Some("47"), false),
        ("47 + 18 = 65.", Some("65"), true),
        ("47 + 18 = 65\n", Some("65"), true),
        ("47 + 18 = 22 Answer = 42", Some("42"), false),
        ("47 + 18 = 65\n\nNo, it is not 47 + 18.", Some("18"), false),
    ];
    run_table(AnswerKind::Number, "65", easy);
    // "A coin is heads up. Ka flips the coin. Sherrie does not flip the coin. Is the coin still
    // heads up? ..." (no).
    let coin: &[Row<'_>] = &[
        ("YES, \nYes, Sherrie does not flip the coin.", Some("yes"), false),
        ("A coin is tails up. Sherrie does not flip the coin.", Some("no"), true),
        ("No.", Some("no"), true),
        ("The coin is flipped.\n\nYes.\n\nThe answer is Yes.", Some("yes"), false),
        ("The coin is still heads up.", Some("yes"), false),
        ("I think I have a valid answer to this scenario. The \"flip\" in this context refers to the coin flip, but it's actually the flip of the coin itself. So, the coin is flipped again, but now it's heads up. The flip of the coin is a separate event that happens to the coin, but it's the flip of the coin itself that is the coin's state at that moment, which is heads up.", Some("yes"), false),
        ("No", Some("no"), true),
        ("The coin is now flipped again, and Sherrie does flip the coin again. This continues indefinitely, with no end in sight to flip again. The coin is still heads up.", Some("yes"), false),
        ("The coin is flipped. To answer the question, I need to know what Sherrie is doing. Let's break it down:\n\n* Sherrie is flip a coin. This is an action of flipping the coin.\n* The question asks what Sherrie is doing.\n* The answer is \"flip.\" So, Sherrie is flip a coin.\n* I need to know what Sherrie is doing. So, I need to know what \"flip\" means. So, I need to know what the question is asking. So, the answer is \"flip.\"", None, false),
        ("The answer is no.", Some("no"), true),
        ("Yes.\n\nThis answer is the one provided above.", Some("yes"), false),
    ];
    run_table(AnswerKind::YesNo, "no", coin);
}

#[test]
fn coinflip_task_judges_generated_labels() {
    let task = TaskSpec::Coinflip(CoinflipSpec {
        count: 50,
        ..CoinflipSpec::default()
    })
    .build()
    .unwrap();
    for p in task.problems() {
        let (right, wrong) = if p.reference == "yes" {
            ("Yes, it is still heads up.", "No, it is tails up.")
        } else {
            ("No, it is tails up.", "Yes, it is still heads up.")
        };
        assert!(task.check(p, right).correct, "{p:?}");
        assert!(!task.check(p, wrong).correct, "{p:?}");
        // Echoing the problem back answers nothing.
        assert_eq!(task.check(p, &p.question).answer, None, "{p:?}");
    }
}

#[test]
fn gsm8k_outputs() {
    // Janet's ducks: 18.
    let ducks: &[Row<'_>] = &[
        (
            "Janet sells 16 - 3 - 4 = 9 eggs. She makes 9 * $2 = $18 every day.\n#### 18",
            Some("18"),
            true,
        ),
        ("She makes $18 every day.", Some("18"), true),
        ("The answer is $18.", Some("18"), true),
        ("The answer is: \\boxed{18}", Some("18"), true),
        ("\\boxed{\\$18.00}", Some("18"), true),
        ("\\boxed{18 \\text{ dollars}}", Some("18"), true),
        (
            "She makes 9 * 2 = 18 dollars per day. So the answer is 18 dollars.",
            Some("18"),
            true,
        ),
        ("16 - 3 - 4 = 9 eggs\n9 x 2 = 18", Some("18"), true),
        ("The answer is 9.", Some("9"), false),
        ("Janet makes 18.5 dollars.", Some("18.5"), false),
        ("I don't know.", None, false),
    ];
    run_table(AnswerKind::Number, "18", ducks);
    // Josh's house: 70,000.
    let house: &[Row<'_>] = &[
        ("He made a profit of $70,000.", Some("70000"), true),
        ("profit is $70,000.00", Some("70000"), true),
        ("\\boxed{70,000}", Some("70000"), true),
        ("\\boxed{70{,}000}", Some("70000"), true),
        ("The answer is 70k.", Some("70"), false),
        ("The answer is 70 000.", Some("70"), false),
        (
            "He made 200,000 - 130,000 = $70,000 profit.",
            Some("70000"),
            true,
        ),
    ];
    run_table(AnswerKind::Number, "70,000", house);
    let negative: &[Row<'_>] = &[
        ("The answer is -10", Some("-10"), true),
        (
            "The temperature fell to \u{2212}10 degrees.",
            Some("-10"),
            true,
        ),
        ("The answer is 10", Some("10"), false),
        ("5 - 15 = -10", Some("-10"), true),
    ];
    run_table(AnswerKind::Number, "-10", negative);
    let fractions: &[Row<'_>] = &[
        ("The answer is 3/4.", Some("0.75"), true),
        ("\\boxed{\\frac{3}{4}}", Some("0.75"), true),
        ("That is 0.750 of the cake.", Some("0.75"), true),
        ("The answer is 75%.", Some("75"), false),
    ];
    run_table(AnswerKind::Number, "0.75", fractions);
    assert!(AnswerKind::Number.judge("3.0", "3"));
    assert!(AnswerKind::Number.judge("1,000", "1000"));
    assert!(AnswerKind::Number.judge("$1,000.", "1000"));
    assert!(AnswerKind::Number.judge("25%", "25"));
    assert!(AnswerKind::Number.judge("1/3", "2/6"));
    assert!(!AnswerKind::Number.judge("0.33", "1/3"));
    assert!(!AnswerKind::Number.judge("", "0"));
}

#[test]
fn math_outputs() {
    let half: &[Row<'_>] = &[
        (
            "So the probability is $\\boxed{\\frac12}$.",
            Some("0.5"),
            true,
        ),
        ("\\boxed{0.5}", Some("0.5"), true),
        ("The answer is $\\frac{1}{2}$.", Some("0.5"), true),
        ("\\boxed{1/2}", Some("0.5"), true),
        ("\\boxed{\\dfrac{1}{2}}", Some("0.5"), true),
        ("\\boxed{\\frac{2}{4}}", Some("0.5"), true),
        (
            "First $\\boxed{3}$, then finally $\\boxed{\\frac{1}{2}}$",
            Some("0.5"),
            true,
        ),
        ("\\boxed{\\frac{1}{3}}", Some("1/3"), false),
        ("I think the answer involves a circle.", None, false),
        ("\\boxed{}", None, false),
    ];
    run_table(AnswerKind::Math, "\\frac{1}{2}", half);
    let cases: &[(&str, &str, bool)] = &[
        (
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            "\\boxed{(3, \\frac{\\pi}{2})}",
            true,
        ),
        (
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            "\\boxed{(3, \\dfrac\\pi2)}",
            true,
        ),
        // Not implemented: symbolic equivalence.
        (
            "\\left( 3, \\frac{\\pi}{2} \\right)",
            "\\boxed{(3,\\pi/2)}",
            false,
        ),
        ("10,\\!080", "\\boxed{10080}", true),
        ("10,\\!080", "The answer is $10,080$.", true),
        ("90^\\circ", "\\boxed{90^\\circ}", true),
        ("90^\\circ", "\\boxed{90}", true),
        ("90^\\circ", "The angle is $90$ degrees.", true),
        ("x=5", "\\boxed{5}", true),
        ("x=5", "\\boxed{x = 5}", true),
        ("\\text{(C)}", "\\boxed{C}", true),
        ("\\text{(C)}", "\\boxed{(C)}", true),
        ("\\text{(C)}", "\\boxed{\\text{(D)}}", false),
        ("\\$18.90", "\\boxed{18.90}", true),
        ("\\$18.90", "\\boxed{\\$18.9}", true),
        ("5.4 \\text{ cents}", "\\boxed{5.4}", true),
        ("\\sqrt{5}", "\\boxed{\\sqrt5}", true),
        ("\\sqrt{5}", "\\boxed{\\sqrt{6}}", false),
        ("p - q", "\\boxed{p-q}", true),
        ("p - q", "\\boxed{q - p}", false),
        ("(-\\infty, 0]", "$\\boxed{(-\\infty,0]}$", true),
        ("\\frac{14}{3}", "\\boxed{4\\frac{2}{3}}", true),
        ("\\text{Evelyn}", "\\boxed{\\text{Evelyn}}", true),
        ("\\text{Evelyn}", "\\boxed{Evelyn}", true),
        ("\\text{Evelyn}", "\\boxed{Navin}", false),
        (
            "\\begin{pmatrix} -1 \\\\ 2 \\end{pmatrix}",
            "\\boxed{\\begin{pmatrix}-1\\\\2\\end{pmatrix}}",
            true,
        ),
        (
            "\\left( \\frac{3}{2}, -13 \\right)",
            "\\boxed{(1.5, -13)}",
            true,
        ),
        ("3, 5, 7", "\\boxed{3,5,7}", true),
        ("3, 5, 7", "\\boxed{3,5}", false),
        (
            "12",
            "Final Answer: The final answer is $12$. I hope it is correct.",
            true,
        ),
        ("12", "The area is 12 square units.", true),
        ("12", "The answer is 13.", false),
    ];
    for &(reference, text, correct) in cases {
        let answer = AnswerKind::Math.extract(text);
        let judged = answer
            .as_deref()
            .is_some_and(|a| AnswerKind::Math.judge(a, reference));
        assert_eq!(judged, correct, "{text:?} -> {answer:?} vs {reference:?}");
    }
}

#[test]
fn jsonl_kinds() {
    let choice: &[Row<'_>] = &[
        ("The answer is (B).", Some("B"), true),
        ("B) 42 apples", Some("B"), true),
        ("\\boxed{B}", Some("B"), true),
        ("Answer: B", Some("B"), true),
        (
            "Looking at the options, (A) is too small and (B) fits.",
            Some("B"),
            true,
        ),
        ("The answer is C.", Some("C"), false),
        ("I would choose the second one.", None, false),
    ];
    run_table(AnswerKind::Choice, "(B)", choice);
    let exact: &[Row<'_>] = &[
        ("The answer is Paris.", Some("paris"), true),
        ("\\boxed{PARIS}", Some("paris"), true),
        ("It is the capital.\nParis", Some("paris"), true),
        ("The answer is Lyon.", Some("lyon"), false),
    ];
    run_table(AnswerKind::Exact, "Paris.", exact);
}

/// A temporary JSONL file with the given lines.
fn temp_jsonl(lines: &[&str]) -> tempfile::NamedTempFile {
    let mut f = tempfile::Builder::new()
        .suffix(".jsonl")
        .tempfile()
        .unwrap();
    for line in lines {
        writeln!(f, "{line}").unwrap();
    }
    f.flush().unwrap();
    f
}

#[test]
fn jsonl_task_reads_any_file() {
    let f = temp_jsonl(&[
        r#"{"question": "Is 7 prime?", "answer": true}"#,
        "",
        r#"{"question": "Is 8 prime?", "answer": "No"}"#,
        r#"{"question": "Is 9 prime?", "answer": false, "extra": 1}"#,
    ]);
    let spec = TaskSpec::Jsonl(JsonlSpec::new(f.path(), AnswerKind::YesNo));
    let task = spec.build().unwrap();
    let refs: Vec<&str> = task
        .problems()
        .iter()
        .map(|p| p.reference.as_str())
        .collect();
    assert_eq!(refs, ["yes", "No", "no"]);
    let stem = f.path().file_stem().unwrap().to_str().unwrap().to_string();
    let stem: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    // Blank lines are not records: the third problem is record 2 (line 4).
    assert_eq!(task.problems()[2].id, format!("jsonl-{stem}-2"));
    assert!(task.check(&task.problems()[1], "No, 8 = 2 x 4.").correct);
    assert!(task
        .prompt(&task.problems()[0])
        .contains("Start your reply with Yes or No"));

    let numbers = temp_jsonl(&[
        r#"{"q": "2+2?", "a": 4}"#,
        r#"{"q": "Half of 3?", "a": "1.5"}"#,
    ]);
    let mut spec = JsonlSpec::new(numbers.path(), AnswerKind::Number);
    spec.question_field = "q".into();
    spec.answer_field = "a".into();
    let task = TaskSpec::Jsonl(spec).build().unwrap();
    assert!(task.check(&task.problems()[0], "2 + 2 = 4").correct);
    assert!(task.check(&task.problems()[1], "It is 3/2.").correct);
}

#[test]
fn offset_and_limit_take_a_slice() {
    let lines: Vec<String> = (0..10)
        .map(|i| format!("{{\"question\": \"q{i}\", \"answer\": \"step\\n#### {i}\"}}"))
        .collect();
    let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
    let f = temp_jsonl(&refs);
    let all = gsm8k::load(&FileSpec::new(f.path())).unwrap();
    assert_eq!(all.len(), 10);
    let slice = gsm8k::load(&FileSpec::new(f.path()).with_offset(3).with_limit(4)).unwrap();
    assert_eq!(slice, all[3..7]);
    assert!(slice[0].id.ends_with("-3"), "{}", slice[0].id);
    let tail = gsm8k::load(&FileSpec::new(f.path()).with_offset(8).with_limit(100)).unwrap();
    assert_eq!(tail, all[8..]);
    let err = gsm8k::load(&FileSpec::new(f.path()).with_offset(10)).unwrap_err();
    assert!(
        matches!(
            err,
            TaskError::NoProblems {
                available: 10,
                offset: 10,
                ..
            }
        ),
        "{err}"
    );
    let err = gsm8k::load(&FileSpec::new(f.path()).with_limit(0)).unwrap_err();
    assert!(matches!(err, TaskError::NoProblems { .. }), "{err}");
}

#[test]
fn bad_files_give_typed_errors_with_line_numbers() {
    let good = "{\"question\": \"q\", \"answer\": \"x\\n#### 5\"}";
    let cases: &[(&[&str], &str, usize)] = &[
        (&[good, "{not json"], "InvalidJson", 2),
        (&[good, "", "[1, 2]"], "InvalidJson", 3),
        (&["{\"answer\": \"#### 5\"}"], "MissingField:question", 1),
        (&[good, r#"{"question": "q"}"#], "MissingField:answer", 2),
        (
            &["{\"question\": 3, \"answer\": \"#### 5\"}"],
            "WrongType:question",
            1,
        ),
        (
            &[good, good, r#"{"question": "q", "answer": "5"}"#],
            "NoAnswerMarker",
            3,
        ),
        (
            &["{\"question\": \"q\", \"answer\": \"#### five\"}"],
            "BadReference",
            1,
        ),
    ];
    for &(lines, what, want_line) in cases {
        let f = temp_jsonl(lines);
        let err = gsm8k::load(&FileSpec::new(f.path())).unwrap_err();
        let (kind, line) = match &err {
            TaskError::InvalidJson { line, .. } => ("InvalidJson".to_string(), *line),
            TaskError::MissingField { line, field, .. } => (format!("MissingField:{field}"), *line),
            TaskError::WrongType { line, field, .. } => (format!("WrongType:{field}"), *line),
            TaskError::NoAnswerMarker { line, .. } => ("NoAnswerMarker".to_string(), *line),
            TaskError::BadReference { line, .. } => ("BadReference".to_string(), *line),
            other => panic!("unexpected error {other}"),
        };
        assert_eq!((kind.as_str(), line), (what, want_line), "{err}");
        let message = err.to_string();
        let location = format!("{}:{want_line}:", f.path().display());
        assert!(message.starts_with(&location), "{message}");
    }

    // Not UTF-8.
    let mut f = tempfile::NamedTempFile::new().unwrap();
    f.write_all(b"{\"question\": \"\xff\", \"answer\": \"#### 1\"}\n")
        .unwrap();
    let err = gsm8k::load(&FileSpec::new(f.path())).unwrap_err();
    assert!(matches!(err, TaskError::NotUtf8 { line: 1, .. }), "{err}");

    // Missing file.
    let missing = Path::new("/nonexistent/swift-bon/test.jsonl");
    let err = gsm8k::load(&FileSpec::new(missing)).unwrap_err();
    assert!(matches!(err, TaskError::Io { .. }), "{err}");
    assert!(err
        .to_string()
        .contains("/nonexistent/swift-bon/test.jsonl"));

    // MATH and JSONL records are validated too.
    let f = temp_jsonl(&[r#"{"problem": "p", "answer": "  "}"#]);
    let err = math::load(&FileSpec::new(f.path())).unwrap_err();
    assert!(
        matches!(err, TaskError::BadReference { line: 1, .. }),
        "{err}"
    );
    let f = temp_jsonl(&[r#"{"question": "q", "answer": "maybe"}"#]);
    let err = jsonl::load(&JsonlSpec::new(f.path(), AnswerKind::YesNo)).unwrap_err();
    assert!(
        matches!(err, TaskError::BadReference { line: 1, .. }),
        "{err}"
    );
    let f = temp_jsonl(&[r#"{"question": "q", "answer": [1]}"#]);
    let err = jsonl::load(&JsonlSpec::new(f.path(), AnswerKind::Number)).unwrap_err();
    assert!(matches!(err, TaskError::WrongType { line: 1, .. }), "{err}");
}

#[test]
fn skip_invalid_keeps_going_and_keeps_ids() {
    let f = temp_jsonl(&[
        "\u{feff}{\"question\": \"a\", \"answer\": \"#### 1\"}",
        "oops",
        "{\"question\": \"c\", \"answer\": \"#### 3\"}",
    ]);
    let spec = FileSpec {
        skip_invalid: true,
        ..FileSpec::new(f.path())
    };
    let problems = gsm8k::load(&spec).unwrap();
    assert_eq!(problems.len(), 2);
    assert!(problems[0].id.ends_with("-0") && problems[1].id.ends_with("-2"));
    assert_eq!(problems[1].reference, "3");
    assert!(gsm8k::load(&FileSpec::new(f.path())).is_err());
}

#[test]
fn math_records_fall_back_to_the_solution_box() {
    let f = temp_jsonl(&[
        r#"{"problem": "p", "solution": "so $\\boxed{\\frac{1}{2}}$."}"#,
        r#"{"question": "q", "answer": "7"}"#,
    ]);
    let problems = math::load(&FileSpec::new(f.path())).unwrap();
    assert_eq!(problems[0].reference, "\\frac{1}{2}");
    assert_eq!(problems[1].question, "q");
    let f = temp_jsonl(&[r#"{"problem": "p", "solution": "no box"}"#]);
    assert!(matches!(
        math::load(&FileSpec::new(f.path())),
        Err(TaskError::BadReference { .. })
    ));
}

/// `../shared/datasets/<rel>` beside the checkout, where CI and every developer machine have it.
/// A missing file fails the test (it used to print SKIPPED and pass, which proved nothing).
fn shared_dataset(rel: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../shared/datasets")
        .join(rel);
    assert!(
        path.is_file(),
        "{} not found: these tests read the shared datasets, which lie beside the checkout as \
         ../shared/datasets (see its README.md)",
        path.display()
    );
    path
}

#[test]
fn every_gsm8k_reference_is_a_number_and_its_solution_is_judged_correct() {
    for rel in ["gsm8k/test.jsonl", "gsm8k/train.jsonl"] {
        let path = shared_dataset(rel);
        let problems = gsm8k::load(&FileSpec::new(&path)).unwrap();
        assert!(problems.len() > 1000, "{rel}: {}", problems.len());
        // The solutions are well-formed model outputs: they end in `#### N`.
        let raw = std::fs::read_to_string(&path).unwrap();
        for (line, p) in raw.lines().zip(&problems) {
            let record: serde_json::Value = serde_json::from_str(line).unwrap();
            let solution = record["answer"].as_str().unwrap();
            let reference = gsm8k::reference_number(solution).unwrap();
            assert_eq!(reference, p.reference);
            assert!(!reference.contains(','), "{reference}");
            assert!(AnswerKind::Number.normalize(&p.reference).is_some());
            let verdict = TaskSpec::Gsm8k(FileSpec::new(&path))
                .answer_kind()
                .extract(solution);
            assert_eq!(verdict.as_deref(), Some(p.reference.as_str()), "{}", p.id);
            // A wrong number is judged wrong.
            let wrong = format!("The answer is {}1.", p.reference);
            assert!(!AnswerKind::Number
                .judge(&AnswerKind::Number.extract(&wrong).unwrap(), &p.reference));
        }
    }
    {
        let path = shared_dataset("gsm8k/test.jsonl");
        let spec: TaskSpec = format!("gsm8k:path={},limit=500", path.display())
            .parse()
            .unwrap();
        let task = spec.build().unwrap();
        assert_eq!(task.problems().len(), 500);
        assert_eq!(task.problems()[0].id, "gsm8k-test-0");
        assert_eq!(task.problems()[0].reference, "18");
        // Commas in references: `#### 1,450,000` is line 612.
        assert_eq!(
            gsm8k::load(&FileSpec::new(&path).with_offset(611).with_limit(1)).unwrap()[0].reference,
            "1450000"
        );
    }
}

/// A different answer: the first digit bumped, or `+1` appended when there is no digit.
fn perturb(answer: &str) -> String {
    match answer.find(|c: char| c.is_ascii_digit()) {
        Some(i) => {
            let d = answer.as_bytes()[i] - b'0';
            format!("{}{}{}", &answer[..i], (d + 1) % 10, &answer[i + 1..])
        }
        None => format!("{answer}+1"),
    }
}

#[test]
fn math500_answers_judge_themselves_and_reject_perturbations() {
    let path = shared_dataset("math500/test.jsonl");
    let task = TaskSpec::Math(FileSpec::new(&path)).build().unwrap();
    let problems = task.problems();
    assert_eq!(problems.len(), 500);
    let raw = std::fs::read_to_string(&path).unwrap();
    let (mut rejected, mut solution_agrees) = (0usize, 0usize);
    let mut disagreements = Vec::new();
    for (line, p) in raw.lines().zip(problems) {
        // Fed back as \boxed{<answer>}, every reference is correct against itself.
        let boxed = format!("The final answer is $\\boxed{{{}}}$.", p.reference);
        let verdict = task.check(p, &boxed);
        assert!(
            verdict.correct,
            "{}: {:?} -> {:?}",
            p.id, p.reference, verdict.answer
        );
        // Normalisation is idempotent.
        let normal = verdict.answer.unwrap();
        assert_eq!(
            AnswerKind::Math.normalize(&normal).as_deref(),
            Some(normal.as_str()),
            "{}",
            p.id
        );
        // A perturbed answer is wrong.
        let perturbed = format!("\\boxed{{{}}}", perturb(&p.reference));
        if !task.check(p, &perturbed).correct {
            rejected += 1;
        } else {
            eprintln!(
                "perturbation accepted: {:?} vs {:?}",
                perturbed, p.reference
            );
        }
        // The worked solution, read as a model output, reaches the reference.
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        let solution = record["solution"].as_str().unwrap();
        if task.check(p, solution).correct {
            solution_agrees += 1;
        } else {
            disagreements.push(format!(
                "{}: {:?} vs {:?}",
                p.id,
                task.extract(solution),
                p.reference
            ));
        }
    }
    eprintln!("MATH-500: {rejected}/500 perturbations rejected, {solution_agrees}/500 solutions judged correct");
    for d in &disagreements {
        eprintln!("  solution disagrees: {d}");
    }
    assert!(rejected >= 495, "{rejected}/500 perturbations rejected");
    assert!(
        solution_agrees >= 480,
        "{solution_agrees}/500 solutions judged correct"
    );
}

#[test]
fn extraction_never_panics_on_odd_text() {
    // Fragments chosen to stress byte slicing and brace matching: multibyte characters next to
    // markers, unbalanced groups, lone backslashes and signs, huge numbers.
    const FRAGMENTS: &[&str] = &[
        "\\boxed{",
        "\\boxed ",
        "\\fbox",
        "}",
        "{",
        "\\",
        "\\frac",
        "\\frac{",
        "\\sqrt",
        "\\text{",
        "\\left(",
        "\\right",
        "$",
        "$$",
        "\\(",
        "\\)",
        "####",
        "answer",
        "Answer:",
        " is ",
        " not ",
        "-",
        "\u{2212}",
        ".",
        ",",
        "/",
        "=",
        "+",
        "\u{00d7}",
        "^",
        "_",
        "(",
        ")",
        "[",
        "]",
        "*",
        "yes",
        "No",
        "heads",
        "tails",
        "?",
        "!",
        "\n",
        " ",
        "é",
        "\u{1f600}",
        "中",
        "\u{feff}",
        "0",
        "7",
        "1,000",
        "3/4",
        ".5",
        "99999999999999999999999999999999999999999999",
        "x=",
        "\\in",
        "(B)",
        "C)",
        "\\%",
        "\\$",
        "^\\circ",
        "{,}",
        "\\!",
        "A coin is heads up.",
    ];
    let mut rng = crate::rng::Rng::new(2024);
    for _ in 0..20_000 {
        let len = rng.below(12) as usize;
        let text: String = (0..len)
            .map(|_| FRAGMENTS[rng.below(FRAGMENTS.len() as u64) as usize])
            .collect();
        for kind in AnswerKind::ALL {
            if let Some(answer) = kind.extract(&text) {
                assert!(!answer.is_empty(), "{kind} {text:?}");
                // Extracted answers are canonical: normalising again changes nothing.
                assert_eq!(
                    kind.normalize(&answer).as_deref(),
                    Some(answer.as_str()),
                    "{kind} {text:?}"
                );
                assert!(kind.judge(&answer, &answer), "{kind} {text:?}");
            }
            let _ = kind.judge(&text, "0");
        }
    }
}

#[test]
fn worked_examples_are_right_by_the_tasks_own_checker() {
    for text in [
        "arithmetic:count=5,seed=1",
        "arithmetic:count=5,seed=2,ops=+-*,operands=3,digits=2..3",
        "coinflip:count=5,seed=1",
        "coinflip:count=5,seed=1,people=1..6",
        "arithmetic:count=5,seed=1,worked=steps",
        "arithmetic:count=5,seed=2,ops=+-*,operands=2..4,digits=1..3,worked=steps",
        "coinflip:count=5,seed=1,people=1..6,worked=steps",
    ] {
        let spec: TaskSpec = text.parse().unwrap();
        let task = spec.build().unwrap();
        let shots = spec.examples();
        assert_eq!(shots.len(), FEW_SHOT, "{text}");
        for e in &shots {
            let p = Problem {
                id: "shot".into(),
                question: e.question.clone(),
                reference: reference_of(&spec, &e.question),
            };
            let v = task.check(&p, &e.answer);
            assert!(v.correct, "{text}: {e:?} -> {v:?}");
        }
        // Independent of the collection's seed and count.
        let other: TaskSpec = text
            .replace("count=5,seed=", "count=9,seed=7")
            .parse()
            .unwrap();
        assert_eq!(other.examples(), shots, "{text}");
    }
    // File tasks get the worked examples of their answer kind.
    let gsm: TaskSpec = "gsm8k:path=no-such-file.jsonl".parse().unwrap();
    assert_eq!(gsm.examples(), worked_examples(Some(AnswerKind::Number)));
    assert_eq!(gsm.examples().len(), FEW_SHOT);
}

/// The reference of a generated question, recomputed independently of the generator.
fn reference_of(spec: &TaskSpec, question: &str) -> String {
    match spec {
        TaskSpec::Arithmetic(_) => {
            let expr = question
                .trim_start_matches("What is ")
                .trim_end_matches('?');
            // Left to right with * before + and -.
            let tokens: Vec<&str> = expr.split_whitespace().collect();
            let mut terms: Vec<(i64, i64)> = vec![(1, tokens[0].parse().unwrap())];
            for pair in tokens[1..].chunks(2) {
                let x: i64 = pair[1].parse().unwrap();
                match pair[0] {
                    "*" | "\u{00d7}" => terms.last_mut().unwrap().1 *= x,
                    "+" => terms.push((1, x)),
                    "-" | "\u{2212}" => terms.push((-1, x)),
                    op => panic!("operator {op}"),
                }
            }
            terms.iter().map(|(s, v)| s * v).sum::<i64>().to_string()
        }
        TaskSpec::Coinflip(_) => {
            let flips = question.matches(" flips the coin.").count();
            if flips % 2 == 0 { "yes" } else { "no" }.into()
        }
        _ => unreachable!(),
    }
}

#[test]
fn prompt_messages_match_the_task_prompt_for_chat_and_add_shots_for_completion() {
    let spec: TaskSpec = "arithmetic:count=2,seed=3".parse().unwrap();
    let task = spec.build().unwrap();
    let p = &task.problems()[1];
    let chat = task.messages(p, PromptFormat::Chat);
    assert_eq!(chat, vec![ChatMessage::user(task.prompt(p))]);
    let comp = task.messages(p, PromptFormat::Completion);
    assert_eq!(comp.len(), 2 + 2 * FEW_SHOT);
    assert_eq!(comp[0], ChatMessage::system(task.instruction()));
    assert_eq!(comp.last().unwrap(), &ChatMessage::user(&p.question));
    assert_eq!(comp[1].role, "user");
    assert_eq!(comp[2].role, "assistant");
    // Without an instruction there is no system paragraph.
    let bare = prompt_messages(None, &[], "Q?", PromptFormat::Completion);
    assert_eq!(bare, vec![ChatMessage::user("Q?")]);
}

#[test]
fn worked_examples_differ_in_shape_and_reason_in_steps_when_asked() {
    // The default: one line each.
    let arith: TaskSpec = "arithmetic".parse().unwrap();
    for e in arith.examples() {
        assert_eq!(e.answer.matches(" = ").count(), 1, "{e:?}");
    }
    let coin: TaskSpec = "coinflip".parse().unwrap();
    for e in coin.examples() {
        assert!(
            e.answer.starts_with("Yes. ") || e.answer.starts_with("No. "),
            "{e:?}"
        );
    }
    // Steps, in the text form and in JSON.
    let arith: TaskSpec = "arithmetic:worked=steps".parse().unwrap();
    assert_eq!(
        arith.to_short_string().unwrap(),
        "arithmetic:count=500,seed=42,ops=+-,operands=2,digits=1..2,negative=false,worked=steps"
    );
    let json: TaskSpec = r#"{"task":"arithmetic","worked":"steps"}"#.parse().unwrap();
    assert_eq!(json, arith);
    let err = "arithmetic:worked=long"
        .parse::<TaskSpec>()
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("worked=long") && err.contains("line or steps"),
        "{err}"
    );
    let shots = arith.examples();
    assert!(
        shots.iter().any(|e| e.question.contains(" + ")),
        "{shots:?}"
    );
    assert!(
        shots.iter().any(|e| e.question.contains(" - ")),
        "{shots:?}"
    );
    // Some answer takes several steps before "The answer is".
    assert!(
        shots.iter().any(|e| e.answer.matches(" = ").count() >= 3),
        "{shots:?}"
    );
    let coin: TaskSpec = "coinflip:worked=steps".parse().unwrap();
    let shots = coin.examples();
    let answers: Vec<bool> = shots.iter().map(|e| e.answer.ends_with("yes.")).collect();
    assert!(
        answers.contains(&true) && answers.contains(&false),
        "{shots:?}"
    );
    for e in &shots {
        assert!(e.answer.starts_with("The coin starts heads up."), "{e:?}");
    }
}
