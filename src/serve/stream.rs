//! What a streamed answer sends, and when: while candidates compete nothing but keep-alives;
//! once the answer is chosen, its text; and when pruning leaves one candidate standing (or only
//! one was sampled), that candidate's text live from then on, because it is the answer.

use crate::bon::Event;

/// Turns Best-of-N events into the text to send. See the module docs.
#[derive(Debug, Clone)]
pub struct LivePlanner {
    live_allowed: bool,
    pruned: Vec<bool>,
    texts: Vec<String>,
    live: Option<usize>,
    sent: String,
}

impl LivePlanner {
    /// A planner for `n` candidates; `live_allowed` is false when several choices are returned
    /// (they are all sent after the choice).
    pub fn new(n: usize, live_allowed: bool) -> Self {
        Self {
            live_allowed,
            pruned: vec![false; n],
            texts: vec![String::new(); n],
            live: (live_allowed && n == 1).then_some(0),
            sent: String::new(),
        }
    }

    /// The candidate streamed live, if any.
    pub fn live(&self) -> Option<usize> {
        self.live
    }

    /// Text sent so far.
    pub fn sent(&self) -> &str {
        &self.sent
    }

    /// Text to send now for `event`, if any.
    pub fn on_event(&mut self, event: &Event) -> Option<String> {
        match event {
            Event::Text { candidate, text } => {
                let c = *candidate;
                if c >= self.texts.len() {
                    return None;
                }
                self.texts[c].push_str(text);
                if self.live == Some(c) && !text.is_empty() {
                    self.sent.push_str(text);
                    return Some(text.clone());
                }
                None
            }
            Event::Pruned { candidate, .. } => {
                if let Some(p) = self.pruned.get_mut(*candidate) {
                    *p = true;
                }
                if self.live.is_some() || !self.live_allowed {
                    return None;
                }
                let mut standing = (0..self.pruned.len()).filter(|&c| !self.pruned[c]);
                match (standing.next(), standing.next()) {
                    (Some(s), None) => {
                        // The only unpruned candidate is the answer whatever the selection.
                        self.live = Some(s);
                        let text = self.texts[s].clone();
                        self.sent.push_str(&text);
                        (!text.is_empty()).then_some(text)
                    }
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// The rest of the chosen text once the answer is known (all of it unless it was live).
    pub fn finish(&mut self, chosen_text: &str) -> String {
        let rest = match chosen_text.strip_prefix(self.sent.as_str()) {
            Some(rest) => rest.to_string(),
            None => {
                // The live deltas and the final text disagree (never expected): send the final
                // text's tail past the common prefix so that the client ends with the answer.
                tracing::warn!("streamed text is not a prefix of the chosen text");
                let common = self
                    .sent
                    .char_indices()
                    .zip(chosen_text.chars())
                    .take_while(|((_, a), b)| a == b)
                    .last()
                    .map_or(0, |((i, a), _)| i + a.len_utf8());
                chosen_text[common..].to_string()
            }
        };
        self.sent.push_str(&rest);
        rest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(c: usize, t: &str) -> Event {
        Event::Text {
            candidate: c,
            text: t.into(),
        }
    }
    fn pruned(c: usize) -> Event {
        Event::Pruned {
            candidate: c,
            step: 1,
            score: 0.0,
        }
    }

    #[test]
    fn nothing_before_the_choice_then_the_whole_text() {
        let mut p = LivePlanner::new(3, true);
        assert_eq!(p.on_event(&text(0, "4")), None);
        assert_eq!(p.on_event(&text(1, "5")), None);
        assert_eq!(p.on_event(&pruned(2)), None);
        assert_eq!(p.live(), None);
        assert_eq!(p.finish("5 is it"), "5 is it");
    }

    #[test]
    fn the_last_survivor_streams_live_from_its_text_so_far() {
        let mut p = LivePlanner::new(3, true);
        p.on_event(&text(0, "The "));
        p.on_event(&text(1, "I "));
        p.on_event(&pruned(1));
        assert_eq!(p.on_event(&pruned(2)).as_deref(), Some("The "));
        assert_eq!(p.live(), Some(0));
        assert_eq!(p.on_event(&text(1, "x")), None);
        assert_eq!(p.on_event(&text(0, "answer")).as_deref(), Some("answer"));
        assert_eq!(p.finish("The answer is 5."), " is 5.");
        assert_eq!(p.sent(), "The answer is 5.");
    }

    #[test]
    fn one_candidate_is_live_from_the_start_and_several_choices_never() {
        let mut p = LivePlanner::new(1, true);
        assert_eq!(p.on_event(&text(0, "hi")).as_deref(), Some("hi"));
        assert_eq!(p.finish("hi"), "");
        let mut p = LivePlanner::new(2, false);
        p.on_event(&text(0, "a"));
        assert_eq!(p.on_event(&pruned(1)), None);
        assert_eq!(p.finish("a"), "a");
    }

    #[test]
    fn a_disagreeing_tail_is_repaired() {
        let mut p = LivePlanner::new(1, true);
        p.on_event(&text(0, "abX"));
        assert_eq!(p.finish("abc"), "c");
    }
}
