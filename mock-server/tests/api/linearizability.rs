//! A linearizability checker for the history of one managed key, against a compare-and-set model.
//!
//! A history is a list of operations, each with the instant it was invoked, the instant its answer came
//! back (or none: a timeout, whose effect is unknown) and what it answered. The checker searches, in the
//! manner of Wing and Gong with Lowe's memoisation, for a total order that respects real time (an operation
//! that returned before another was invoked comes first) and in which every answer is the one the model
//! gives. Operations with an unknown outcome may take effect at any point after their invocation, or never.
//!
//! The model is the key as a compare-and-set register: its ETag, its state and its description. Writes
//! carry the ETag their client read (`If-Match`); the server checks it before the state rule, so a stale
//! ETag is a 412 whatever the state, and a current one on a refused transition a 409.

use std::collections::HashSet;

/// The key's state as far as the race test uses it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum KeyState {
    Active,
    Deactivated,
}

/// The compare-and-set model. `etag: None` means unknown (after a write whose answer was lost); any
/// `If-Match` then matches and the next read tells the value.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Model {
    pub etag: Option<String>,
    pub state: KeyState,
    pub description: String,
}

/// What a client asked.
#[derive(Clone, Debug)]
pub enum Call {
    Read,
    UpdateDescription { if_match: String, description: String },
    Activate { if_match: String },
    Deactivate { if_match: String },
    Sync { if_match: String },
}

/// What came back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 200 with the key (reads and writes) or, for a sync, with the key's ETag in `etag`.
    Ok { etag: String, state: Option<KeyState>, description: Option<String> },
    /// 412: the `If-Match` was stale.
    PreconditionFailed,
    /// 409: the transition is not allowed in the current state.
    Conflict,
    /// No answer (timeout, dropped connection): it may or may not have taken effect.
    Unknown,
}

/// One operation of the history. Times are in any monotonic unit (nanoseconds since the run began).
#[derive(Clone, Debug)]
pub struct Operation {
    pub client: usize,
    pub call: Call,
    pub outcome: Outcome,
    pub invoked: u64,
    /// `None` for [`Outcome::Unknown`].
    pub returned: Option<u64>,
}

/// Why a history is not linearizable (or could not be decided within the step budget).
#[derive(Debug)]
pub struct Violation(pub String);

/// Most search steps before the checker gives up (a correct history needs about one step per operation).
pub const STEP_BUDGET: u64 = 5_000_000;

/// Finds a linearization of `history` from `initial`; returns the operations' indexes in that order.
pub fn check(history: &[Operation], initial: Model) -> Result<Vec<usize>, Violation> {
    let mut search = Search { history, seen: HashSet::new(), steps: 0, order: Vec::new() };
    let done = vec![false; history.len()];
    match search.explore(&done, &initial) {
        Ok(true) => Ok(search.order.into_iter().rev().collect()),
        Ok(false) => Err(Violation(describe_failure(history))),
        Err(Violation(reason)) => Err(Violation(format!("{reason}; {}", describe_failure(history)))),
    }
}

/// The model's answer to `call` in `model`: the next model, or `None` when `outcome` cannot happen there.
pub fn step(model: &Model, call: &Call, outcome: &Outcome) -> Option<Model> {
    let matches = |if_match: &str| model.etag.as_deref().is_none_or(|etag| etag == if_match);
    match (call, outcome) {
        (_, Outcome::Unknown) => Some(unknown_effect(model, call)),
        (Call::Read, Outcome::Ok { etag, state, description }) => {
            let same_etag = model.etag.as_deref().is_none_or(|known| known == etag);
            let same = same_etag && *state == Some(model.state) && description.as_deref() == Some(&model.description);
            same.then(|| Model { etag: Some(etag.clone()), ..model.clone() })
        }
        (Call::UpdateDescription { if_match, description }, Outcome::Ok { etag, state, description: answered }) => {
            let fresh = model.etag.as_deref() != Some(etag.as_str());
            let ok =
                matches(if_match) && fresh && *state == Some(model.state) && answered.as_ref() == Some(description);
            ok.then(|| Model { etag: Some(etag.clone()), state: model.state, description: description.clone() })
        }
        (Call::Activate { if_match }, Outcome::Ok { etag, state, .. }) => {
            transition(model, matches(if_match), KeyState::Deactivated, KeyState::Active, etag, *state)
        }
        (Call::Deactivate { if_match }, Outcome::Ok { etag, state, .. }) => {
            transition(model, matches(if_match), KeyState::Active, KeyState::Deactivated, etag, *state)
        }
        (Call::Activate { if_match }, Outcome::Conflict) => {
            (matches(if_match) && model.state == KeyState::Active).then(|| model.clone())
        }
        (Call::Deactivate { if_match }, Outcome::Conflict) => {
            (matches(if_match) && model.state == KeyState::Deactivated).then(|| model.clone())
        }
        (Call::Sync { if_match }, Outcome::Ok { etag, .. }) => {
            // A sync changes no key field, and answers with the key's current ETag.
            (matches(if_match) && model.etag.as_deref().is_none_or(|known| known == etag))
                .then(|| Model { etag: Some(etag.clone()), ..model.clone() })
        }
        (
            Call::UpdateDescription { if_match, .. }
            | Call::Activate { if_match }
            | Call::Deactivate { if_match }
            | Call::Sync { if_match },
            Outcome::PreconditionFailed,
        ) => model.etag.as_deref().is_some_and(|etag| etag != if_match).then(|| model.clone()),
        _ => None,
    }
}

fn transition(
    model: &Model,
    etag_matches: bool,
    from: KeyState,
    to: KeyState,
    etag: &str,
    answered: Option<KeyState>,
) -> Option<Model> {
    let fresh = model.etag.as_deref() != Some(etag);
    (etag_matches && model.state == from && answered == Some(to) && fresh).then(|| Model {
        etag: Some(etag.to_owned()),
        state: to,
        description: model.description.clone(),
    })
}

/// A lost answer: if the write took effect the ETag is now unknown (and so, for a transition, is nothing
/// else, since the target state is fixed).
fn unknown_effect(model: &Model, call: &Call) -> Model {
    match call {
        Call::Read | Call::Sync { .. } => model.clone(),
        Call::UpdateDescription { description, .. } => {
            Model { etag: None, state: model.state, description: description.clone() }
        }
        Call::Activate { .. } => Model { etag: None, state: KeyState::Active, ..model.clone() },
        Call::Deactivate { .. } => Model { etag: None, state: KeyState::Deactivated, ..model.clone() },
    }
}

struct Search<'a> {
    history: &'a [Operation],
    /// (done set, model) pairs already explored without success (Lowe's cache).
    seen: HashSet<(Vec<u64>, Model)>,
    steps: u64,
    /// The linearization found, last operation first.
    order: Vec<usize>,
}

impl Search<'_> {
    fn explore(&mut self, done: &[bool], model: &Model) -> Result<bool, Violation> {
        // Finished when every operation with an answer is placed; unknown ones may never have happened.
        if self.history.iter().zip(done).all(|(op, done)| *done || op.returned.is_none()) {
            return Ok(true);
        }
        if !self.seen.insert((bits(done), model.clone())) {
            return Ok(false);
        }
        self.steps += 1;
        if self.steps > STEP_BUDGET {
            return Err(Violation(format!("undecided after {STEP_BUDGET} search steps")));
        }
        // An operation may come next only if no pending operation returned before it was invoked.
        let horizon = self
            .history
            .iter()
            .zip(done)
            .filter(|(_, done)| !**done)
            .filter_map(|(op, _)| op.returned)
            .min()
            .unwrap_or(u64::MAX);
        let mut candidates: Vec<usize> =
            (0..self.history.len()).filter(|&i| !done[i] && self.history[i].invoked <= horizon).collect();
        // Earliest answer first: for a server that serialises under a lock, the true order.
        candidates.sort_by_key(|&i| self.history[i].returned.unwrap_or(u64::MAX));
        // An operation that leaves the model as it is (a read of a known ETag, a sync, a 412, a 409) and
        // fits now can always go first: moving it forward in any linearization keeps that linearization
        // valid. Placing it without trying the alternatives keeps the search linear on correct histories.
        let neutral = candidates.iter().copied().find_map(|index| {
            let op = &self.history[index];
            step(model, &op.call, &op.outcome).filter(|next| next == model).map(|next| (index, next))
        });
        if let Some((index, next)) = neutral {
            let mut after = done.to_vec();
            after[index] = true;
            let found = self.explore(&after, &next)?;
            if found {
                self.order.push(index);
            }
            return Ok(found);
        }
        for index in candidates {
            let op = &self.history[index];
            if let Some(next) = step(model, &op.call, &op.outcome) {
                let mut after = done.to_vec();
                after[index] = true;
                if self.explore(&after, &next)? {
                    self.order.push(index);
                    return Ok(true);
                }
            }
        }
        Ok(false)
    }
}

fn bits(done: &[bool]) -> Vec<u64> {
    let mut words = vec![0u64; done.len().div_ceil(64)];
    for (index, _) in done.iter().enumerate().filter(|(_, done)| **done) {
        words[index / 64] |= 1 << (index % 64);
    }
    words
}

fn describe_failure(history: &[Operation]) -> String {
    let mut lines = vec![format!("no linearization of {} operations; the history:", history.len())];
    let mut sorted: Vec<&Operation> = history.iter().collect();
    sorted.sort_by_key(|op| op.invoked);
    for op in sorted.iter().take(200) {
        lines.push(format!(
            "  [{:>12} .. {:>12}] client {:>2}: {:?} -> {:?}",
            op.invoked,
            op.returned.map_or("?".to_owned(), |t| t.to_string()),
            op.client,
            op.call,
            op.outcome
        ));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn initial() -> Model {
        Model { etag: Some("e0".into()), state: KeyState::Active, description: "d0".into() }
    }

    fn update(client: usize, if_match: &str, description: &str, outcome: Outcome, at: (u64, u64)) -> Operation {
        Operation {
            client,
            call: Call::UpdateDescription { if_match: if_match.into(), description: description.into() },
            outcome,
            invoked: at.0,
            returned: Some(at.1),
        }
    }

    fn written(etag: &str, description: &str) -> Outcome {
        Outcome::Ok { etag: etag.into(), state: Some(KeyState::Active), description: Some(description.into()) }
    }

    fn read(client: usize, etag: &str, description: &str, at: (u64, u64)) -> Operation {
        Operation { client, call: Call::Read, outcome: written(etag, description), invoked: at.0, returned: Some(at.1) }
    }

    #[test]
    fn overlapping_updates_with_one_winner_are_linearizable() {
        let history = vec![
            update(1, "e0", "one", written("e1", "one"), (0, 10)),
            update(2, "e0", "two", Outcome::PreconditionFailed, (1, 9)),
            read(3, "e1", "one", (11, 12)),
        ];
        let order = check(&history, initial()).unwrap();
        assert_eq!(order.len(), 3);
    }

    #[test]
    fn a_lost_update_is_caught() {
        // Both writers sent the same ETag and both were told they won: one update was lost.
        let history = vec![
            update(1, "e0", "one", written("e1", "one"), (0, 10)),
            update(2, "e0", "two", written("e2", "two"), (1, 9)),
        ];
        assert!(check(&history, initial()).is_err());
    }

    #[test]
    fn a_stale_read_after_a_completed_write_is_caught() {
        let history = vec![update(1, "e0", "one", written("e1", "one"), (0, 10)), read(2, "e0", "d0", (11, 12))];
        assert!(check(&history, initial()).is_err());
    }

    #[test]
    fn a_reused_etag_is_caught() {
        let history = vec![
            update(1, "e0", "one", written("e1", "one"), (0, 10)),
            update(2, "e1", "two", written("e1", "two"), (11, 20)),
        ];
        assert!(check(&history, initial()).is_err());
    }

    #[test]
    fn a_refused_transition_must_match_the_state() {
        let conflict = Operation {
            client: 1,
            call: Call::Activate { if_match: "e0".into() },
            outcome: Outcome::Conflict,
            invoked: 0,
            returned: Some(1),
        };
        assert!(check(std::slice::from_ref(&conflict), initial()).is_ok(), "active keys refuse activation");
        let deactivated = Model { state: KeyState::Deactivated, ..initial() };
        assert!(check(&[conflict], deactivated).is_err(), "a deactivated key accepts activation");
    }

    #[test]
    fn a_write_with_a_lost_answer_may_or_may_not_have_happened() {
        let lost = Operation {
            client: 1,
            call: Call::UpdateDescription { if_match: "e0".into(), description: "one".into() },
            outcome: Outcome::Unknown,
            invoked: 0,
            returned: None,
        };
        let took_effect = vec![lost.clone(), read(2, "e9", "one", (5, 6))];
        let did_not = vec![lost, read(2, "e0", "d0", (5, 6))];
        assert!(check(&took_effect, initial()).is_ok());
        assert!(check(&did_not, initial()).is_ok());
    }
}
