//! CoinFlip, the symbolic task of the SWIFT paper, generated here (never downloaded: a public
//! copy appears to have inverted labels).
//!
//! "A coin is heads up. Ka flips the coin. Sherrie does not flip the coin. Is the coin still
//! heads up? Note that "flip" here means "reverse"." The answer is `yes` exactly when the number
//! of flips is even. Problem `i` is drawn from `Rng::derive(seed, i)` alone.

use serde::{Deserialize, Serialize};

use super::error::TaskError;
use super::{IntRange, Problem};
use crate::rng::Rng;

/// The instruction placed before each question unless the spec replaces it.
pub const DEFAULT_INSTRUCTION: &str = "Answer the question. Start your reply with Yes or No.";

/// The fixed list people are drawn from (distinct within a problem).
pub const NAMES: &[&str] = &[
    "Ka",
    "Sherrie",
    "Jamey",
    "Maybelle",
    "Millicent",
    "Lupe",
    "Ira",
    "Gilda",
    "Leslie",
    "Alicia",
    "Tom",
    "Priya",
    "Omar",
    "Yuki",
    "Elena",
    "Kwame",
    "Sofia",
    "Liam",
    "Mei",
    "Diego",
    "Fatima",
    "Noah",
    "Ingrid",
    "Ravi",
    "Chloe",
    "Mateo",
    "Aisha",
    "Hugo",
    "Nadia",
    "Felix",
    "Zara",
    "Tariq",
    "Greta",
    "Jonas",
    "Leila",
    "Pablo",
    "Hana",
    "Oscar",
    "Amara",
    "Viktor",
];

/// Options of the coin-flip task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CoinflipSpec {
    /// Number of problems.
    pub count: usize,
    /// Generator seed.
    pub seed: u64,
    /// People per problem, each of whom flips the coin or not with probability 1/2.
    pub people: IntRange,
    /// How the worked examples answer (the completion format's few-shot part).
    #[serde(skip_serializing_if = "super::Worked::is_line")]
    pub worked: super::Worked,
    /// Replaces the default instruction.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instruction: Option<String>,
}

impl Default for CoinflipSpec {
    fn default() -> Self {
        Self {
            count: 500,
            seed: 42,
            people: IntRange::new(2, 4),
            worked: super::Worked::Line,
            instruction: None,
        }
    }
}

impl CoinflipSpec {
    /// Checks the options.
    pub fn validate(&self) -> Result<(), TaskError> {
        self.people
            .check(1, NAMES.len() as u32)
            .map_err(|reason| TaskError::InvalidOption {
                task: "coinflip",
                option: "people",
                reason,
            })
    }
}

/// Problem `index` of the set defined by `spec` (id `coin-<seed>-<index>`).
pub fn problem(spec: &CoinflipSpec, index: usize) -> Result<Problem, TaskError> {
    spec.validate()?;
    Ok(draw(spec, index))
}

/// Problem `index` of a validated spec.
fn draw(spec: &CoinflipSpec, index: usize) -> Problem {
    let mut rng = Rng::derive(spec.seed, index as u64);
    let k = rng.range_inclusive(spec.people.min.into(), spec.people.max.into()) as usize;
    let mut order: Vec<usize> = (0..NAMES.len()).collect();
    rng.shuffle(&mut order);
    let mut question = String::from("A coin is heads up.");
    let mut flips = 0;
    for &who in &order[..k] {
        let name = NAMES[who];
        if rng.below(2) == 1 {
            flips += 1;
            question.push_str(&format!(" {name} flips the coin."));
        } else {
            question.push_str(&format!(" {name} does not flip the coin."));
        }
    }
    question.push_str(" Is the coin still heads up? Note that \"flip\" here means \"reverse\".");
    Problem {
        id: format!("coin-{}-{index}", spec.seed),
        question,
        reference: if flips % 2 == 0 { "yes" } else { "no" }.to_string(),
    }
}

/// Worked examples with the spec's numbers of people, drawn with [`super::EXAMPLE_SEED`] and of
/// different shapes, answered in the spec's [`super::Worked`] style: the answer and its reason
/// in one line, or person by person before "The answer is".
pub fn examples(spec: &CoinflipSpec) -> Vec<super::Example> {
    let mut shots = spec.clone();
    shots.seed = super::EXAMPLE_SEED;
    if shots.validate().is_err() {
        return Vec::new();
    }
    // Shape: the answer with whether some but not all people flip, as one feature.
    let shape = |p: &Problem| {
        let flips = p.question.matches(" flips the coin.").count();
        let people = p.question.matches(" the coin.").count();
        vec![(p.reference.clone(), flips > 0 && flips < people)]
    };
    super::examples::pick_examples(|i| draw(&shots, i), shape)
        .into_iter()
        .map(|p| super::Example {
            answer: match spec.worked {
                super::Worked::Line => line(&p),
                super::Worked::Steps => worked(&p.question),
            },
            question: p.question,
        })
        .collect()
}

/// The answer first, then its reason in one sentence: "Yes. The coin was flipped 2 times, an
/// even number, so it is heads up. The answer is yes."
fn line(p: &Problem) -> String {
    let flips = p.question.matches(" flips the coin.").count();
    let times = if flips == 1 { "time" } else { "times" };
    let (parity, side) = if flips % 2 == 0 {
        ("even", "heads")
    } else {
        ("odd", "tails")
    };
    let word = if p.reference == "yes" { "Yes" } else { "No" };
    format!(
        "{word}. The coin was flipped {flips} {times}, an {parity} number, so it is {side} up. The answer is {}.",
        p.reference
    )
}

/// A CoinFlip question worked out person by person: "The coin starts heads up. Ka flips it, so
/// it is tails up. Ira does not flip it, so it stays tails up. It ends tails up, so the answer
/// is no."
fn worked(question: &str) -> String {
    let mut heads = true;
    let side = |h: bool| if h { "heads" } else { "tails" };
    let mut steps = vec!["The coin starts heads up.".to_string()];
    for sentence in question.split(". ") {
        if let Some(name) = sentence.strip_suffix(" flips the coin") {
            heads = !heads;
            steps.push(format!("{name} flips it, so it is {} up.", side(heads)));
        } else if let Some(name) = sentence.strip_suffix(" does not flip the coin") {
            steps.push(format!(
                "{name} does not flip it, so it stays {} up.",
                side(heads)
            ));
        }
    }
    let answer = if heads { "yes" } else { "no" };
    steps.push(format!(
        "It ends {} up, so the answer is {answer}.",
        side(heads)
    ));
    steps.join(" ")
}

/// All `spec.count` problems.
pub fn generate(spec: &CoinflipSpec) -> Result<Vec<Problem>, TaskError> {
    spec.validate()?;
    Ok((0..spec.count).map(|i| draw(spec, i)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn worked_answers_follow_the_coin() {
        let q = "A coin is heads up. Ka flips the coin. Ira does not flip the coin. Tom flips the \
                 coin. Is the coin still heads up? Note that \"flip\" here means \"reverse\".";
        assert_eq!(
            worked(q),
            "The coin starts heads up. Ka flips it, so it is tails up. Ira does not flip it, so it \
             stays tails up. Tom flips it, so it is heads up. It ends heads up, so the answer is yes."
        );
        let spec = CoinflipSpec {
            people: IntRange::new(1, 6),
            ..CoinflipSpec::default()
        };
        for i in 0..100 {
            let p = draw(&spec, i);
            let w = worked(&p.question);
            assert!(
                w.ends_with(&format!("the answer is {}.", p.reference)),
                "{w}"
            );
            let people = p.question.matches(" the coin.").count();
            assert_eq!(w.matches(" flip").count(), people, "{w}");
        }
    }

    /// Re-derives the label from the text alone.
    fn label_from_text(question: &str) -> &'static str {
        let flips = question.matches(" flips the coin.").count();
        if flips % 2 == 0 {
            "yes"
        } else {
            "no"
        }
    }

    #[test]
    fn labels_follow_the_parity_of_flips() {
        let problems = generate(&CoinflipSpec::default()).unwrap();
        let mut yes = 0;
        for p in &problems {
            assert!(p.question.starts_with("A coin is heads up. "));
            assert!(p.question.contains("Is the coin still heads up?"));
            assert_eq!(p.reference, label_from_text(&p.question), "{}", p.question);
            let people = p.question.matches(" the coin.").count();
            assert!((2..=4).contains(&people), "{}", p.question);
            yes += usize::from(p.reference == "yes");
        }
        // Roughly balanced labels.
        assert!((200..300).contains(&yes), "{yes} yes of 500");
    }

    #[test]
    fn names_are_distinct_within_a_problem() {
        let spec = CoinflipSpec {
            people: IntRange::new(6, 6),
            ..CoinflipSpec::default()
        };
        for p in generate(&spec).unwrap() {
            let mut names: Vec<&str> = p
                .question
                .split(". ")
                .skip(1)
                .take(6)
                .map(|s| s.split(' ').next().unwrap())
                .collect();
            assert_eq!(names.len(), 6);
            assert!(names.iter().all(|n| NAMES.contains(n)), "{names:?}");
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), 6, "{}", p.question);
        }
    }

    #[test]
    fn sets_are_prefixes_and_seeded() {
        let a = generate(&CoinflipSpec {
            count: 200,
            ..CoinflipSpec::default()
        })
        .unwrap();
        let b = generate(&CoinflipSpec::default()).unwrap();
        assert_eq!(a[..], b[..200]);
        assert_eq!(a[0].id, "coin-42-0");
        assert_eq!(problem(&CoinflipSpec::default(), 321).unwrap(), b[321]);
        let c = generate(&CoinflipSpec {
            seed: 1,
            ..CoinflipSpec::default()
        })
        .unwrap();
        assert_ne!(b, c);
    }

    #[test]
    fn bad_people_ranges_are_rejected() {
        for people in [
            IntRange::new(0, 2),
            IntRange::new(3, 2),
            IntRange::new(1, 41),
        ] {
            let spec = CoinflipSpec {
                people,
                ..CoinflipSpec::default()
            };
            assert!(matches!(
                generate(&spec),
                Err(TaskError::InvalidOption { .. })
            ));
        }
    }
}
