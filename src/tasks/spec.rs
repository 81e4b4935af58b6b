//! [`TaskSpec`]: which task, with which options: recorded in manifests, parsed from the command
//! line, and turned into a [`Task`] by [`TaskSpec::build`].

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use super::answer::AnswerKind;
use super::arithmetic::{self, ArithOp, ArithmeticSpec};
use super::coinflip::{self, CoinflipSpec};
use super::error::TaskError;
use super::jsonl::{self, JsonlSpec};
use super::source::FileSpec;
use super::{gsm8k, math, IntRange, Problem, Task};

/// A task and all the options that determine its problems and prompts.
///
/// Serialises as a JSON object tagged by `task`, e.g.
/// `{"task":"gsm8k","path":"../shared/datasets/gsm8k/test.jsonl","offset":0,"limit":500}`.
/// The short text form, for command lines, is `name[:key=value,...]`, e.g.
/// `arithmetic:count=200,seed=7,ops=+-*,operands=2..3,digits=2..3`,
/// `coinflip:people=3..5`, `gsm8k:path=data/test.jsonl,limit=500`,
/// `jsonl:path=q.jsonl,answer=yes-no`; a JSON object is accepted too.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum TaskSpec {
    /// Generated arithmetic ([`arithmetic`]).
    Arithmetic(ArithmeticSpec),
    /// Generated coin flips ([`coinflip`]).
    Coinflip(CoinflipSpec),
    /// GSM8K-format JSONL ([`gsm8k`]).
    Gsm8k(FileSpec),
    /// MATH-format JSONL ([`math`]).
    Math(FileSpec),
    /// Any JSONL with a declared answer type ([`jsonl`]).
    Jsonl(JsonlSpec),
}

impl TaskSpec {
    /// The task names the short form accepts.
    pub const NAMES: [&'static str; 5] = ["arithmetic", "coinflip", "gsm8k", "math", "jsonl"];

    /// The task's name (`arithmetic`, `coinflip`, `gsm8k`, `math`, `jsonl`).
    pub fn name(&self) -> &'static str {
        match self {
            Self::Arithmetic(_) => "arithmetic",
            Self::Coinflip(_) => "coinflip",
            Self::Gsm8k(_) => "gsm8k",
            Self::Math(_) => "math",
            Self::Jsonl(_) => "jsonl",
        }
    }

    /// Worked examples for few-shot prompts (the completion format for base models): generated
    /// tasks draw [`super::FEW_SHOT`] problems from their own parameters with a fixed seed, so the
    /// examples do not depend on the collection's seed or count and `ask` can rebuild them from
    /// the task recorded in a head. File-based tasks get the worked examples of their answer
    /// kind ([`super::worked_examples`]; none for math, choice and exact answers).
    pub fn examples(&self) -> Vec<super::Example> {
        match self {
            Self::Arithmetic(a) => arithmetic::examples(a),
            Self::Coinflip(c) => coinflip::examples(c),
            Self::Gsm8k(_) | Self::Math(_) | Self::Jsonl(_) => {
                super::worked_examples(Some(self.answer_kind()))
            }
        }
    }

    /// How the task's answers are parsed and compared.
    pub fn answer_kind(&self) -> AnswerKind {
        match self {
            Self::Arithmetic(_) | Self::Gsm8k(_) => AnswerKind::Number,
            Self::Coinflip(_) => AnswerKind::YesNo,
            Self::Math(_) => AnswerKind::Math,
            Self::Jsonl(j) => j.answer,
        }
    }

    /// The instruction placed before each question: the spec's own, or the task's default.
    pub fn instruction(&self) -> &str {
        let (custom, default) = match self {
            Self::Arithmetic(a) => (&a.instruction, arithmetic::DEFAULT_INSTRUCTION),
            Self::Coinflip(c) => (&c.instruction, coinflip::DEFAULT_INSTRUCTION),
            Self::Gsm8k(f) => (&f.instruction, gsm8k::DEFAULT_INSTRUCTION),
            Self::Math(f) => (&f.instruction, math::DEFAULT_INSTRUCTION),
            Self::Jsonl(j) => (&j.instruction, jsonl::default_instruction(j.answer)),
        };
        custom.as_deref().unwrap_or(default)
    }

    /// Generates or reads the problems.
    pub fn problems(&self) -> Result<Vec<Problem>, TaskError> {
        match self {
            Self::Arithmetic(a) => arithmetic::generate(a),
            Self::Coinflip(c) => coinflip::generate(c),
            Self::Gsm8k(f) => gsm8k::load(f),
            Self::Math(f) => math::load(f),
            Self::Jsonl(j) => jsonl::load(j),
        }
    }

    /// The task with its problems generated or read; errors name the file and line.
    pub fn load(&self) -> Result<BuiltTask, TaskError> {
        Ok(BuiltTask {
            spec: self.clone(),
            problems: self.problems()?,
        })
    }

    /// [`TaskSpec::load`], boxed as a trait object.
    pub fn build(&self) -> Result<Box<dyn Task>, TaskError> {
        Ok(Box::new(self.load()?))
    }

    /// The short text form, or `None` when it cannot express this spec (a custom instruction,
    /// or a path with a comma or that is not UTF-8); [`fmt::Display`] then writes JSON.
    pub fn to_short_string(&self) -> Option<String> {
        let file = |name: &str, f: &FileSpec| -> Option<String> {
            if f.instruction.is_some() {
                return None;
            }
            let mut s = format!("{name}:path={}", short_path(&f.path)?);
            push_slice(&mut s, f.offset, f.limit, f.skip_invalid);
            Some(s)
        };
        match self {
            Self::Arithmetic(a) => {
                if a.instruction.is_some() {
                    return None;
                }
                let ops: String = a.ops.iter().map(|o| o.spec_char()).collect();
                let mut s = format!(
                    "arithmetic:count={},seed={},ops={ops},operands={},digits={},negative={}",
                    a.count, a.seed, a.operands, a.digits, a.allow_negative
                );
                if !a.worked.is_line() {
                    s.push_str(&format!(",worked={}", a.worked));
                }
                Some(s)
            }
            Self::Coinflip(c) => {
                if c.instruction.is_some() {
                    return None;
                }
                let mut s = format!(
                    "coinflip:count={},seed={},people={}",
                    c.count, c.seed, c.people
                );
                if !c.worked.is_line() {
                    s.push_str(&format!(",worked={}", c.worked));
                }
                Some(s)
            }
            Self::Gsm8k(f) => file("gsm8k", f),
            Self::Math(f) => file("math", f),
            Self::Jsonl(j) => {
                let plain = |f: &str| !f.contains([',', '=']) && !f.is_empty();
                if j.instruction.is_some() || !plain(&j.question_field) || !plain(&j.answer_field) {
                    return None;
                }
                let mut s = format!(
                    "jsonl:path={},answer={},question-field={},answer-field={}",
                    short_path(&j.path)?,
                    j.answer,
                    j.question_field,
                    j.answer_field
                );
                push_slice(&mut s, j.offset, j.limit, j.skip_invalid);
                Some(s)
            }
        }
    }
}

fn short_path(path: &std::path::Path) -> Option<&str> {
    path.to_str().filter(|p| !p.contains(',') && !p.is_empty())
}

fn push_slice(s: &mut String, offset: usize, limit: Option<usize>, skip_invalid: bool) {
    s.push_str(&format!(",offset={offset}"));
    if let Some(limit) = limit {
        s.push_str(&format!(",limit={limit}"));
    }
    if skip_invalid {
        s.push_str(",skip-invalid=true");
    }
}

impl fmt::Display for TaskSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.to_short_string() {
            Some(s) => f.write_str(&s),
            None => {
                let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
                f.write_str(&json)
            }
        }
    }
}

/// `key=value` options of the short form, each of which must be used exactly once.
struct Options<'a> {
    spec: &'a str,
    pairs: Vec<(String, &'a str, bool)>,
}

impl<'a> Options<'a> {
    fn parse(spec: &'a str, text: &'a str) -> Result<Self, TaskError> {
        let mut pairs: Vec<(String, &'a str, bool)> = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (key, value) = item.split_once('=').ok_or_else(|| TaskError::Spec {
                spec: spec.to_string(),
                reason: format!("option {item:?} is not key=value"),
            })?;
            let key = key.trim().to_ascii_lowercase().replace('_', "-");
            if pairs.iter().any(|(k, _, _)| *k == key) {
                return Err(TaskError::Spec {
                    spec: spec.to_string(),
                    reason: format!("option `{key}` given twice"),
                });
            }
            pairs.push((key, value.trim(), false));
        }
        Ok(Self { spec, pairs })
    }

    fn error(&self, reason: String) -> TaskError {
        TaskError::Spec {
            spec: self.spec.to_string(),
            reason,
        }
    }

    fn raw(&mut self, key: &str) -> Option<&'a str> {
        let pair = self.pairs.iter_mut().find(|(k, _, _)| k == key)?;
        pair.2 = true;
        Some(pair.1)
    }

    fn get<T: FromStr>(&mut self, key: &str, what: &str) -> Result<Option<T>, TaskError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => v
                .parse()
                .map(Some)
                .map_err(|_| self.error(format!("`{key}={v}`: expected {what}"))),
        }
    }

    fn flag(&mut self, key: &str) -> Result<Option<bool>, TaskError> {
        match self.raw(key) {
            None => Ok(None),
            Some(v) => match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" | "on" => Ok(Some(true)),
                "false" | "no" | "0" | "off" => Ok(Some(false)),
                _ => Err(self.error(format!("`{key}={v}`: expected true or false"))),
            },
        }
    }

    fn path(&mut self) -> Result<PathBuf, TaskError> {
        self.raw("path")
            .filter(|p| !p.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| self.error("`path=...` is required".to_string()))
    }

    fn finish(self) -> Result<(), TaskError> {
        match self.pairs.iter().find(|(_, _, used)| !used) {
            Some((key, _, _)) => Err(self.error(format!("unknown option `{key}`"))),
            None => Ok(()),
        }
    }

    fn file_spec(&mut self) -> Result<FileSpec, TaskError> {
        let mut f = FileSpec::new(self.path()?);
        f.offset = self.get("offset", "a record count")?.unwrap_or(0);
        f.limit = self.get("limit", "a record count")?;
        f.skip_invalid = self.flag("skip-invalid")?.unwrap_or(false);
        Ok(f)
    }
}

impl FromStr for TaskSpec {
    type Err = TaskError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let trimmed = text.trim();
        if trimmed.starts_with('{') {
            return serde_json::from_str(trimmed).map_err(|e| TaskError::Spec {
                spec: text.to_string(),
                reason: e.to_string(),
            });
        }
        let (name, rest) = trimmed.split_once(':').unwrap_or((trimmed, ""));
        let mut opts = Options::parse(text, rest)?;
        let spec = match name.trim().to_ascii_lowercase().as_str() {
            "arithmetic" | "arith" => {
                let mut a = ArithmeticSpec::default();
                if let Some(v) = opts.get("count", "a problem count")? {
                    a.count = v;
                }
                if let Some(v) = opts.get("seed", "an unsigned integer")? {
                    a.seed = v;
                }
                if let Some(v) = opts.raw("ops") {
                    a.ops = v
                        .chars()
                        .filter(|c| !c.is_whitespace())
                        .map(ArithOp::from_char)
                        .collect::<Option<Vec<_>>>()
                        .ok_or_else(|| {
                            opts.error(format!("`ops={v}`: expected characters from + - *"))
                        })?;
                    a.ops.dedup();
                }
                if let Some(v) = opts.get("operands", "N or MIN..MAX")? {
                    a.operands = v;
                }
                if let Some(v) = opts.get("digits", "N or MIN..MAX")? {
                    a.digits = v;
                }
                if let Some(v) = opts.flag("negative")? {
                    a.allow_negative = v;
                }
                if let Some(v) = opts.get("worked", "line or steps")? {
                    a.worked = v;
                }
                Self::Arithmetic(a)
            }
            "coinflip" | "coin" => {
                let mut c = CoinflipSpec::default();
                if let Some(v) = opts.get("count", "a problem count")? {
                    c.count = v;
                }
                if let Some(v) = opts.get("seed", "an unsigned integer")? {
                    c.seed = v;
                }
                if let Some(v) = opts.get("people", "N or MIN..MAX")? {
                    c.people = v;
                }
                if let Some(v) = opts.get("worked", "line or steps")? {
                    c.worked = v;
                }
                Self::Coinflip(c)
            }
            "gsm8k" => Self::Gsm8k(opts.file_spec()?),
            "math" | "math500" => Self::Math(opts.file_spec()?),
            "jsonl" => {
                let f = opts.file_spec()?;
                let answer: AnswerKind = opts
                    .get("answer", "number, yes-no, choice, exact or math")?
                    .ok_or_else(|| opts.error("`answer=...` is required for jsonl".to_string()))?;
                let mut j = JsonlSpec::new(f.path, answer);
                j.offset = f.offset;
                j.limit = f.limit;
                j.skip_invalid = f.skip_invalid;
                if let Some(v) = opts.raw("question-field") {
                    j.question_field = v.to_string();
                }
                if let Some(v) = opts.raw("answer-field") {
                    j.answer_field = v.to_string();
                }
                Self::Jsonl(j)
            }
            other => {
                return Err(opts.error(format!(
                    "unknown task {other:?} (known: {})",
                    Self::NAMES.join(", ")
                )))
            }
        };
        opts.finish()?;
        Ok(spec)
    }
}

/// Options given beside a task spec (the command line's `--count`, `--seed`, `--dataset`,
/// `--answer-type`, `--people`). Each fills in what the spec leaves unset, whatever form the
/// spec was written in; what the spec sets itself wins.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct SpecDefaults {
    /// Problems of a generated task, or at most this many records of a file task (`limit`).
    pub count: Option<usize>,
    /// Seed of a generated task.
    pub seed: Option<u64>,
    /// File of a file task.
    pub path: Option<PathBuf>,
    /// Answer type of a `jsonl` task (`number`, `yes-no`, ...).
    pub answer: Option<String>,
    /// People per CoinFlip problem (`N` or `MIN..MAX`).
    pub people: Option<String>,
}

impl SpecDefaults {
    /// Sets [`count`](Self::count).
    #[must_use]
    pub fn with_count(mut self, count: Option<usize>) -> Self {
        self.count = count;
        self
    }

    /// Sets [`seed`](Self::seed).
    #[must_use]
    pub fn with_seed(mut self, seed: Option<u64>) -> Self {
        self.seed = seed;
        self
    }

    /// Sets [`path`](Self::path).
    #[must_use]
    pub fn with_path(mut self, path: Option<PathBuf>) -> Self {
        self.path = path;
        self
    }

    /// Sets [`answer`](Self::answer).
    #[must_use]
    pub fn with_answer(mut self, answer: Option<String>) -> Self {
        self.answer = answer;
        self
    }

    /// Sets [`people`](Self::people).
    #[must_use]
    pub fn with_people(mut self, people: Option<String>) -> Self {
        self.people = people;
        self
    }
}

impl TaskSpec {
    /// Parses `text` (the short form or JSON, as [`FromStr`]) with `defaults` merged in.
    pub fn parse_with(text: &str, defaults: &SpecDefaults) -> Result<Self, TaskError> {
        let trimmed = text.trim();
        let spec_error = |reason: String| TaskError::Spec {
            spec: text.to_string(),
            reason,
        };
        if !trimmed.starts_with('{') {
            return Self::parse_short_with(text, defaults);
        }
        // The keys the JSON spec sets itself.
        let mut value: serde_json::Value =
            serde_json::from_str(trimmed).map_err(|e| spec_error(e.to_string()))?;
        let given: Vec<String> = value
            .as_object()
            .map(|o| o.keys().cloned().collect())
            .unwrap_or_default();
        let Some(obj) = value.as_object_mut() else {
            return Err(spec_error("a JSON spec must be an object".to_string()));
        };
        let task = obj
            .get("task")
            .and_then(|t| t.as_str())
            .unwrap_or_default()
            .to_string();
        let generated = matches!(task.as_str(), "arithmetic" | "coinflip");
        let mut set = |key: &str, v: serde_json::Value| {
            if !given.iter().any(|g| g == key) {
                obj.insert(key.to_string(), v);
            }
        };
        if generated {
            if let Some(c) = defaults.count {
                set("count", c.into());
            }
            if let Some(s) = defaults.seed {
                set("seed", s.into());
            }
        } else {
            if let Some(c) = defaults.count {
                set("limit", c.into());
            }
            if let Some(p) = &defaults.path {
                let p = p
                    .to_str()
                    .ok_or_else(|| spec_error(format!("{} is not UTF-8", p.display())))?;
                set("path", p.into());
            }
            if let Some(a) = &defaults.answer {
                // Only jsonl has an answer type; elsewhere the field is refused as unknown.
                let kind: AnswerKind = a.parse().map_err(|_| TaskError::Spec {
                    spec: text.to_string(),
                    reason: format!(
                        "answer type {a:?}: expected number, yes-no, choice, exact or math"
                    ),
                })?;
                set("answer", serde_json::to_value(kind).unwrap_or_default());
            }
        }
        if let Some(p) = &defaults.people {
            if task != "coinflip" {
                return Err(spec_error(format!("people={p} applies to coinflip only")));
            }
            let range: IntRange = p
                .parse()
                .map_err(|e: String| spec_error(format!("people={p}: {e}")))?;
            set("people", serde_json::to_value(range).unwrap_or_default());
        }
        serde_json::from_value(value).map_err(|e| spec_error(e.to_string()))
    }
}

impl TaskSpec {
    /// The short form with defaults appended as options it does not set itself.
    fn parse_short_with(text: &str, defaults: &SpecDefaults) -> Result<Self, TaskError> {
        let trimmed = text.trim();
        let (name, rest) = trimmed.split_once(':').unwrap_or((trimmed, ""));
        let given: Vec<String> = Options::parse(text, rest)?
            .pairs
            .into_iter()
            .map(|(k, _, _)| k)
            .collect();
        let mut opts: Vec<String> = rest
            .split(',')
            .map(str::trim)
            .filter(|o| !o.is_empty())
            .map(String::from)
            .collect();
        let mut add = |key: &str, value: String| {
            if !given.iter().any(|g| g == key) {
                opts.push(format!("{key}={value}"));
            }
        };
        let lower = name.trim().to_ascii_lowercase();
        if matches!(lower.as_str(), "arithmetic" | "arith" | "coinflip" | "coin") {
            if let Some(c) = defaults.count {
                add("count", c.to_string());
            }
            if let Some(s) = defaults.seed {
                add("seed", s.to_string());
            }
        } else {
            if let Some(p) = &defaults.path {
                let p = p
                    .to_str()
                    .filter(|p| !p.contains(','))
                    .ok_or_else(|| TaskError::Spec {
                        spec: text.to_string(),
                        reason: format!(
                            "the path {} is not UTF-8 or holds a comma; give the spec as JSON",
                            p.display()
                        ),
                    })?;
                add("path", p.to_string());
            }
            if let Some(c) = defaults.count {
                add("limit", c.to_string());
            }
            if let Some(a) = &defaults.answer {
                add("answer", a.clone());
            }
        }
        if let Some(p) = &defaults.people {
            add("people", p.clone());
        }
        format!("{name}:{}", opts.join(",")).parse()
    }
}

/// A task built from a [`TaskSpec`]: the spec plus its problems.
#[derive(Debug, Clone)]
pub struct BuiltTask {
    spec: TaskSpec,
    problems: Vec<Problem>,
}

impl Task for BuiltTask {
    fn spec(&self) -> &TaskSpec {
        &self.spec
    }

    fn answer_kind(&self) -> AnswerKind {
        self.spec.answer_kind()
    }

    fn instruction(&self) -> &str {
        self.spec.instruction()
    }

    fn problems(&self) -> &[Problem] {
        &self.problems
    }
}

impl fmt::Display for IntRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.min == self.max {
            write!(f, "{}", self.min)
        } else {
            write!(f, "{}..{}", self.min, self.max)
        }
    }
}

impl FromStr for IntRange {
    type Err = String;

    /// `N`, `MIN..MAX`, `MIN..=MAX` or `MIN-MAX`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        let bad = || format!("expected N or MIN..MAX, got {s:?}");
        let parse = |x: &str| x.trim().parse::<u32>().map_err(|_| bad());
        let (lo, hi) = if let Some((a, b)) = s.split_once("..") {
            (a, b.strip_prefix('=').unwrap_or(b))
        } else if let Some((a, b)) = s.split_once('-') {
            (a, b)
        } else {
            (s, s)
        };
        Ok(Self::new(parse(lo)?, parse(hi)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_forms_parse() {
        let a: TaskSpec = "arithmetic:count=200,seed=7,ops=+-*,operands=2..3,digits=1-2"
            .parse()
            .unwrap();
        let TaskSpec::Arithmetic(a) = a else {
            panic!("not arithmetic")
        };
        assert_eq!((a.count, a.seed), (200, 7));
        assert_eq!(a.ops, vec![ArithOp::Add, ArithOp::Sub, ArithOp::Mul]);
        assert_eq!(a.operands, IntRange::new(2, 3));
        assert_eq!(a.digits, IntRange::new(1, 2));

        assert_eq!(
            "arithmetic".parse::<TaskSpec>().unwrap(),
            TaskSpec::Arithmetic(ArithmeticSpec::default())
        );
        assert_eq!(
            "coin:people=3".parse::<TaskSpec>().unwrap(),
            TaskSpec::Coinflip(CoinflipSpec {
                people: IntRange::new(3, 3),
                ..CoinflipSpec::default()
            })
        );
        assert_eq!(
            "gsm8k:path=/data/test.jsonl,limit=500"
                .parse::<TaskSpec>()
                .unwrap(),
            TaskSpec::Gsm8k(FileSpec::new("/data/test.jsonl").with_limit(500))
        );
        // Only the first colon separates the name, so drive letters survive.
        assert_eq!(
            "math:path=C:\\data\\m.jsonl,offset=10"
                .parse::<TaskSpec>()
                .unwrap(),
            TaskSpec::Math(FileSpec::new("C:\\data\\m.jsonl").with_offset(10))
        );
        let j: TaskSpec = "jsonl:path=q.jsonl,answer=yes-no,question_field=q"
            .parse()
            .unwrap();
        let mut want = JsonlSpec::new("q.jsonl", AnswerKind::YesNo);
        want.question_field = "q".into();
        assert_eq!(j, TaskSpec::Jsonl(want));
    }

    #[test]
    fn bad_short_forms_are_errors() {
        for bad in [
            "sudoku",
            "arithmetic:count=many",
            "arithmetic:ops=+/",
            "arithmetic:colour=red",
            "arithmetic:count",
            "arithmetic:seed=1,seed=2",
            "coinflip:people=2..x",
            "gsm8k",
            "gsm8k:limit=5",
            "jsonl:path=a.jsonl",
            "jsonl:path=a.jsonl,answer=float",
            "{\"task\":\"arithmetic\",\"colour\":1}",
            "{\"task\":\"nope\"}",
        ] {
            let got = bad.parse::<TaskSpec>();
            assert!(
                matches!(got, Err(TaskError::Spec { .. })),
                "{bad:?}: {got:?}"
            );
        }
    }

    #[test]
    fn specs_round_trip_through_text_and_json() {
        let mut custom = ArithmeticSpec {
            instruction: Some("Just the number, please.".into()),
            ..ArithmeticSpec::default()
        };
        custom.ops = vec![ArithOp::Mul];
        let mut j = JsonlSpec::new("data/x,y.jsonl", AnswerKind::Choice);
        j.limit = Some(3);
        j.skip_invalid = true;
        let specs = [
            TaskSpec::Arithmetic(ArithmeticSpec::default()),
            TaskSpec::Arithmetic(custom),
            TaskSpec::Coinflip(CoinflipSpec {
                people: IntRange::new(5, 5),
                seed: 9,
                ..CoinflipSpec::default()
            }),
            TaskSpec::Gsm8k(FileSpec::new("../shared/datasets/gsm8k/test.jsonl").with_limit(500)),
            TaskSpec::Math(FileSpec {
                skip_invalid: true,
                ..FileSpec::new("m.jsonl").with_offset(3)
            }),
            TaskSpec::Jsonl(JsonlSpec::new("q.jsonl", AnswerKind::Exact)),
            TaskSpec::Jsonl(j),
        ];
        for spec in specs {
            let text = spec.to_string();
            assert_eq!(text.parse::<TaskSpec>().unwrap(), spec, "{text}");
            let json = serde_json::to_string(&spec).unwrap();
            assert!(
                json.starts_with(&format!("{{\"task\":\"{}\"", spec.name())),
                "{json}"
            );
            assert_eq!(
                serde_json::from_str::<TaskSpec>(&json).unwrap(),
                spec,
                "{json}"
            );
        }
    }

    #[test]
    fn json_specs_fill_defaults() {
        let spec: TaskSpec = serde_json::from_str(r#"{"task":"arithmetic","count":10}"#).unwrap();
        assert_eq!(
            spec,
            TaskSpec::Arithmetic(ArithmeticSpec {
                count: 10,
                ..ArithmeticSpec::default()
            })
        );
        let spec: TaskSpec = serde_json::from_str(
            r#"{"task":"arithmetic","ops":["*"],"operands":{"min":2,"max":2}}"#,
        )
        .unwrap();
        let TaskSpec::Arithmetic(a) = spec else {
            panic!("not arithmetic")
        };
        assert_eq!(a.ops, vec![ArithOp::Mul]);
        assert_eq!(a.operands, IntRange::new(2, 2));
    }

    #[test]
    fn built_tasks_prompt_and_check() {
        let task = "arithmetic:count=3,seed=1"
            .parse::<TaskSpec>()
            .unwrap()
            .build()
            .unwrap();
        assert_eq!(task.name(), "arithmetic");
        assert_eq!(task.answer_kind(), AnswerKind::Number);
        assert_eq!(task.problems().len(), 3);
        let p = &task.problems()[0];
        let prompt = task.prompt(p);
        assert!(
            prompt.starts_with(arithmetic::DEFAULT_INSTRUCTION),
            "{prompt}"
        );
        assert!(prompt.ends_with(&p.question), "{prompt}");
        let right = format!(
            "{} = {}. The answer is {}.",
            p.question, p.reference, p.reference
        );
        let verdict = task.check(p, &right);
        assert_eq!(verdict.answer.as_deref(), Some(p.reference.as_str()));
        assert!(verdict.correct);
        let wrong = format!("The answer is {}1.", p.reference);
        assert!(!task.check(p, &wrong).correct);
        let none = task.check(p, "I cannot do this.");
        assert_eq!(none.answer, None);
        assert!(!none.correct);

        let custom: TaskSpec =
            serde_json::from_str(r#"{"task":"coinflip","count":2,"instruction":"Yes or no?"}"#)
                .unwrap();
        let task = custom.build().unwrap();
        assert_eq!(
            task.prompt(&task.problems()[1]),
            format!("Yes or no?\n\n{}", task.problems()[1].question)
        );
    }

    #[test]
    fn defaults_merge_into_every_form_and_never_override_the_spec() {
        let d = SpecDefaults::default()
            .with_count(Some(60))
            .with_seed(Some(9))
            .with_path(Some(PathBuf::from("d.jsonl")));
        // JSON: `--count` becomes the limit of a file task (this used to append `,limit=60` to
        // the JSON text, which was then refused).
        let j = TaskSpec::parse_with(r#"{"task":"jsonl","path":"q.jsonl","answer":"number"}"#, &d)
            .unwrap();
        let mut want = JsonlSpec::new("q.jsonl", AnswerKind::Number);
        want.limit = Some(60);
        assert_eq!(j, TaskSpec::Jsonl(want));
        let g = TaskSpec::parse_with(r#"{"task":"gsm8k"}"#, &d).unwrap();
        assert_eq!(g, TaskSpec::Gsm8k(FileSpec::new("d.jsonl").with_limit(60)));
        // What the spec sets wins, in either form.
        let g = TaskSpec::parse_with(r#"{"task":"gsm8k","path":"x","limit":5}"#, &d).unwrap();
        assert_eq!(g, TaskSpec::Gsm8k(FileSpec::new("x").with_limit(5)));
        let g = TaskSpec::parse_with("gsm8k:limit=5", &d).unwrap();
        assert_eq!(g, TaskSpec::Gsm8k(FileSpec::new("d.jsonl").with_limit(5)));
        // Generated tasks take count and seed.
        let a = TaskSpec::parse_with(r#"{"task":"arithmetic","seed":3}"#, &d).unwrap();
        let TaskSpec::Arithmetic(a) = a else {
            panic!("not arithmetic")
        };
        assert_eq!((a.count, a.seed), (60, 3));
        let c = TaskSpec::parse_with(
            r#"{"task":"coinflip"}"#,
            &SpecDefaults::default().with_people(Some("3..5".into())),
        )
        .unwrap();
        let TaskSpec::Coinflip(c) = c else {
            panic!("not coinflip")
        };
        assert_eq!(c.people, IntRange::new(3, 5));
        let a = TaskSpec::parse_with("arith:count=7", &d).unwrap();
        let TaskSpec::Arithmetic(a) = a else {
            panic!("not arithmetic")
        };
        assert_eq!((a.count, a.seed), (7, 9));
        // An answer type merges into a jsonl spec; people into anything else is refused.
        let j = TaskSpec::parse_with(
            r#"{"task":"jsonl","path":"q.jsonl"}"#,
            &SpecDefaults::default().with_answer(Some("yes-no".into())),
        )
        .unwrap();
        assert_eq!(j.answer_kind(), AnswerKind::YesNo);
        let e = TaskSpec::parse_with(
            r#"{"task":"arithmetic"}"#,
            &SpecDefaults::default().with_people(Some("3".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("coinflip only"), "{e}");
        // A path with a comma cannot go into the short form: said, not mangled.
        let e = TaskSpec::parse_with(
            "gsm8k",
            &SpecDefaults::default().with_path(Some("a,b.jsonl".into())),
        )
        .unwrap_err();
        assert!(e.to_string().contains("JSON"), "{e}");
        let g = TaskSpec::parse_with(
            r#"{"task":"gsm8k"}"#,
            &SpecDefaults::default().with_path(Some("a,b.jsonl".into())),
        )
        .unwrap();
        assert_eq!(g, TaskSpec::Gsm8k(FileSpec::new("a,b.jsonl")));
    }

    #[test]
    fn ranges_parse() {
        assert_eq!("3".parse::<IntRange>(), Ok(IntRange::new(3, 3)));
        assert_eq!("2..4".parse::<IntRange>(), Ok(IntRange::new(2, 4)));
        assert_eq!("2..=4".parse::<IntRange>(), Ok(IntRange::new(2, 4)));
        assert_eq!("2-4".parse::<IntRange>(), Ok(IntRange::new(2, 4)));
        assert!("-1".parse::<IntRange>().is_err());
        assert!("a..b".parse::<IntRange>().is_err());
        assert_eq!(IntRange::new(2, 4).to_string(), "2..4");
        assert_eq!(IntRange::new(3, 3).to_string(), "3");
    }
}
