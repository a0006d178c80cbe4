//! The seeded fault plan: rules that match UKO operations and inject HTTP errors, latency, dropped
//! connections, keystore-side failures, or another writer that makes a client's ETag stale or creates and
//! deletes keys while a client walks a list.
//!
//! Decisions use the plan's own generator (seeded from the instance seed), so the same seed and the same
//! request sequence give the same faults. The plan decides and `run_command` applies it to the operation;
//! the HTTP layer carries out what happens around the answer (sleeping outside every lock, dropping the
//! connection).

use serde::{Deserialize, Serialize};

use super::clock::{Rng, Timestamp};
use super::command::{Answer, Command};
use super::error::{Error, Result};
use super::operation::Operation;
use super::precondition::IfMatch;

/// All fault rules of an instance.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FaultPlan {
    pub rules: Vec<FaultRule>,
    /// Generator for probabilistic triggers and jitter; independent of the id generator.
    pub rng: Rng,
}

impl Default for Rng {
    fn default() -> Self {
        Rng::new(0x6661_756c_7473)
    }
}

/// One rule: which requests it matches, when it fires, what it does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FaultRule {
    #[serde(default)]
    pub id: String,
    /// SDK operation name (`SyncManagedKey`); absent = every operation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation: Option<Operation>,
    /// The id in the request path (managed key, keystore, template or vault); absent = any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_id: Option<String>,
    #[serde(default)]
    pub trigger: Trigger,
    pub effect: Effect,
    /// Requests this rule matched so far.
    #[serde(default)]
    pub matched: u64,
    /// Times it fired.
    #[serde(default)]
    pub fired: u64,
}

/// When a matching rule fires.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Trigger {
    /// Every match.
    #[default]
    Always,
    /// The next `count` matches, then never.
    NextN { count: u64 },
    /// Every match after the first `count` matches.
    AfterN { count: u64 },
    /// The `count` matches after the first `skip` (`skip: 2, count: 1`: the third match only), so a
    /// fault or another writer can hit the third page of a list a client walks.
    Range { skip: u64, count: u64 },
    /// Each match with this probability (seeded).
    Probability { probability: f64 },
    /// Matches while the instance clock is in `[from, until)`.
    Window { from: Timestamp, until: Timestamp },
}

/// What a firing rule does.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Effect {
    /// Answer with a UKO-shaped error instead of running the operation.
    HttpError {
        status: u16,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        retry_after_seconds: Option<u64>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        message: Option<String>,
    },
    /// Delay the answer by `millis` plus a seeded jitter in `[0, jitter_millis]`.
    Latency {
        millis: u64,
        #[serde(default)]
        jitter_millis: u64,
    },
    /// Close the connection without an answer (the operation is not run).
    DropConnection,
    /// The operation runs, but this keystore fails to take its part (relink or destroy failure).
    KeystoreFailure { keystore_id: String },
    /// After the operation (typically GetManagedKey) answered, another writer modifies this managed
    /// key, so the ETag the client just received is stale.
    ConcurrentWriter { managed_key_id: String },
    /// After the operation answered, another writer destroys and deletes this managed key (a list a
    /// client walks by offset shifts under it).
    ConcurrentDelete { managed_key_id: String },
    /// After the operation answered, another writer creates a key from this template in this vault.
    ConcurrentCreate { vault_id: String, template_name: String, label: String },
}

/// What the plan decided for one request.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct FaultDecision {
    pub error: Option<InjectedError>,
    pub latency_millis: u64,
    pub drop_connection: bool,
    pub failing_keystores: Vec<String>,
    pub concurrent_writes: Vec<String>,
    /// Keys other writers create or delete right after the operation ([`Effect::ConcurrentDelete`],
    /// [`Effect::ConcurrentCreate`]), in rule order.
    pub concurrent_changes: Vec<Effect>,
    /// Ids of the rules that fired, for the journal.
    pub fired_rules: Vec<String>,
}

/// An injected HTTP error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InjectedError {
    pub status: u16,
    pub retry_after_seconds: Option<u64>,
    pub message: String,
}

impl FaultDecision {
    /// True when no rule fired.
    pub fn is_empty(&self) -> bool {
        self.fired_rules.is_empty()
    }

    /// A short description for the journal (`rule-1:http_error 503`).
    pub fn summary(&self) -> Option<String> {
        (!self.is_empty()).then(|| self.fired_rules.join(","))
    }
}

impl super::Instance {
    /// Runs one command under the fault plan: an injected error or a dropped connection replaces the
    /// operation (`None`); a keystore failure applies only while it runs; a concurrent writer acts right
    /// after it, so the ETag the operation just handed out is already stale.
    pub fn run_command(
        &mut self,
        command: Command,
        if_match: Option<&IfMatch>,
    ) -> (Option<Result<Answer>>, FaultDecision) {
        let now = self.clock.now();
        let decision = self.faults.evaluate(command.operation(), command.resource_id(), now);
        if decision.drop_connection || decision.error.is_some() {
            return (None, decision);
        }
        self.failing_keystores = decision.failing_keystores.clone();
        let result = self.execute(command, if_match);
        self.failing_keystores.clear();
        for managed_key_id in &decision.concurrent_writes {
            self.touch_managed_key_as_other_writer(managed_key_id);
        }
        for change in &decision.concurrent_changes {
            self.apply_other_writer(change);
        }
        (Some(result), decision)
    }

    /// Carries out what another writer does when a rule with this effect fires after an operation:
    /// touch, delete or create a key. Other effects do nothing here. Public so that a replay of a
    /// journal (uko-conformance) changes its copy exactly as the server did.
    pub fn apply_other_writer(&mut self, effect: &Effect) {
        match effect {
            Effect::ConcurrentWriter { managed_key_id } => self.touch_managed_key_as_other_writer(managed_key_id),
            Effect::ConcurrentDelete { managed_key_id } => {
                // Destroy then delete, as a console user would; without the lifecycle checks, which are
                // not what the fault is about.
                if self.managed_keys.remove(managed_key_id).is_some() {
                    self.associated_resources.retain(|r| &r.managed_key_id != managed_key_id);
                    for keystore in self.keystores.values_mut() {
                        keystore.simulation.copies.remove(managed_key_id);
                    }
                }
            }
            Effect::ConcurrentCreate { vault_id, template_name, label } => {
                let input = super::managed_keys::ManagedKeyInput {
                    template_name: Some(template_name.clone()),
                    vault: Some(super::templates::VaultReferenceInput { id: Some(vault_id.clone()) }),
                    label: Some(label.clone()),
                    description: Some("Created by another writer (fault plan)".to_owned()),
                    tags: None,
                };
                // A create the domain refuses (unknown template, label taken) simply does not happen.
                let _ = self.create_managed_key(input);
            }
            Effect::HttpError { .. }
            | Effect::Latency { .. }
            | Effect::DropConnection
            | Effect::KeystoreFailure { .. } => {}
        }
    }
}

impl FaultPlan {
    /// A plan with its own generator seeded from the instance seed.
    pub fn seeded(seed: u64) -> Self {
        FaultPlan { rules: Vec::new(), rng: Rng::new(seed ^ 0x6661_756c_7473) }
    }

    /// Adds a rule (assigning an id when it has none) after checking it; returns the id.
    pub fn add(&mut self, mut rule: FaultRule) -> Result<String> {
        rule.check()?;
        if rule.id.is_empty() {
            // Derived from the rules present, so a plan needs no counter to round-trip through a fixture.
            let highest = self.rules.iter().filter_map(|r| r.id.strip_prefix("rule-")?.parse::<u64>().ok()).max();
            rule.id = format!("rule-{}", highest.unwrap_or(0) + 1);
        }
        if self.rules.iter().any(|r| r.id == rule.id) {
            return Err(Error::Conflict { message: format!("A fault rule with id '{}' already exists", rule.id) });
        }
        let id = rule.id.clone();
        self.rules.push(rule);
        Ok(id)
    }

    /// Removes a rule; returns whether it existed.
    pub fn remove(&mut self, id: &str) -> bool {
        let before = self.rules.len();
        self.rules.retain(|r| r.id != id);
        self.rules.len() != before
    }

    /// Removes every rule; returns how many there were. The generator keeps its state.
    pub fn clear(&mut self) -> usize {
        std::mem::take(&mut self.rules).len()
    }

    /// Evaluates every rule against one request, in order, and updates their counters.
    pub fn evaluate(&mut self, operation: Operation, resource_id: Option<&str>, now: Timestamp) -> FaultDecision {
        let mut decision = FaultDecision::default();
        for rule in &mut self.rules {
            let operation_matches = rule.operation.is_none_or(|o| o == operation);
            let resource_matches = rule.resource_id.as_deref().is_none_or(|r| Some(r) == resource_id);
            if !operation_matches || !resource_matches {
                continue;
            }
            rule.matched += 1;
            let fires = match &rule.trigger {
                Trigger::Always => true,
                Trigger::NextN { count } => rule.fired < *count,
                Trigger::AfterN { count } => rule.matched > *count,
                Trigger::Range { skip, count } => rule.matched > *skip && rule.fired < *count,
                Trigger::Probability { probability } => self.rng.next_f64() < *probability,
                Trigger::Window { from, until } => *from <= now && now < *until,
            };
            if !fires {
                continue;
            }
            rule.fired += 1;
            decision.fired_rules.push(rule.id.clone());
            match &rule.effect {
                Effect::HttpError { status, retry_after_seconds, message } => {
                    if decision.error.is_none() {
                        decision.error = Some(InjectedError {
                            status: *status,
                            retry_after_seconds: *retry_after_seconds,
                            message: message.clone().unwrap_or_else(|| default_message(*status)),
                        });
                    }
                }
                Effect::Latency { millis, jitter_millis } => {
                    let jitter =
                        if *jitter_millis > 0 { self.rng.next_u64() % jitter_millis.saturating_add(1) } else { 0 };
                    decision.latency_millis = decision.latency_millis.saturating_add(millis.saturating_add(jitter));
                }
                Effect::DropConnection => decision.drop_connection = true,
                Effect::KeystoreFailure { keystore_id } => decision.failing_keystores.push(keystore_id.clone()),
                Effect::ConcurrentWriter { managed_key_id } => decision.concurrent_writes.push(managed_key_id.clone()),
                Effect::ConcurrentDelete { .. } | Effect::ConcurrentCreate { .. } => {
                    decision.concurrent_changes.push(rule.effect.clone());
                }
            }
        }
        decision
    }
}

fn default_message(status: u16) -> String {
    match status {
        429 => {
            "Too many requests: the rate limit of the instance was exceeded. Retry after the time given in Retry-After."
                .to_owned()
        }
        503 => "The service is temporarily unavailable. Try again later.".to_owned(),
        500 => "The service had an internal error. Try again later.".to_owned(),
        other => format!("Injected fault: HTTP {other}"),
    }
}

impl FaultRule {
    /// Checks the values a plan cannot carry out: a non-error status, an excessive latency, a probability
    /// outside 0..=1.
    pub fn check(&self) -> Result<()> {
        check_rule(self)
    }
}

fn check_rule(rule: &FaultRule) -> Result<()> {
    if let Effect::HttpError { status, .. } = rule.effect {
        if !(400..=599).contains(&status) {
            return Err(Error::invalid_field(
                "effect.status",
                format!("An injected error status must be 400 to 599, found {status}"),
            ));
        }
    }
    if let Effect::Latency { millis, jitter_millis } = rule.effect {
        if millis.saturating_add(jitter_millis) > 120_000 {
            return Err(Error::invalid_field("effect.millis", "An injected latency must stay under 120000 ms"));
        }
    }
    if let Trigger::Probability { probability } = rule.trigger {
        if !(0.0..=1.0).contains(&probability) {
            return Err(Error::invalid_field(
                "trigger.probability",
                format!("A probability must be within 0 and 1, found {probability}"),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::parse("2026-01-01T00:00:00Z").unwrap()
    }

    fn rule(trigger: Trigger, effect: Effect) -> FaultRule {
        FaultRule {
            id: String::new(),
            operation: Some(Operation::SyncManagedKey),
            resource_id: None,
            trigger,
            effect,
            matched: 0,
            fired: 0,
        }
    }

    #[test]
    fn next_n_fires_exactly_n_times_on_matching_operations() {
        let mut plan = FaultPlan::seeded(1);
        plan.add(rule(
            Trigger::NextN { count: 2 },
            Effect::HttpError { status: 503, retry_after_seconds: None, message: None },
        ))
        .unwrap();
        assert!(plan.evaluate(Operation::GetManagedKey, None, now()).is_empty());
        let fired: Vec<bool> =
            (0..4).map(|_| !plan.evaluate(Operation::SyncManagedKey, None, now()).is_empty()).collect();
        assert_eq!(fired, [true, true, false, false]);
    }

    #[test]
    fn after_n_fires_from_the_n_plus_first_match() {
        let mut plan = FaultPlan::seeded(1);
        plan.add(rule(Trigger::AfterN { count: 1 }, Effect::DropConnection)).unwrap();
        let fired: Vec<bool> =
            (0..3).map(|_| plan.evaluate(Operation::SyncManagedKey, None, now()).drop_connection).collect();
        assert_eq!(fired, [false, true, true]);
    }

    #[test]
    fn range_fires_on_the_matches_after_the_skipped_ones() {
        let mut plan = FaultPlan::seeded(1);
        plan.add(rule(Trigger::Range { skip: 2, count: 2 }, Effect::DropConnection)).unwrap();
        let fired: Vec<bool> =
            (0..6).map(|_| plan.evaluate(Operation::SyncManagedKey, None, now()).drop_connection).collect();
        assert_eq!(fired, [false, false, true, true, false, false]);
    }

    #[test]
    fn probability_is_reproducible_from_the_seed() {
        let run = || {
            let mut plan = FaultPlan::seeded(42);
            plan.add(rule(Trigger::Probability { probability: 0.5 }, Effect::DropConnection)).unwrap();
            (0..32).map(|_| plan.evaluate(Operation::SyncManagedKey, None, now()).drop_connection).collect::<Vec<_>>()
        };
        let first = run();
        assert_eq!(first, run());
        assert!(first.contains(&true) && first.contains(&false));
    }

    #[test]
    fn other_writers_delete_and_create_keys_after_a_list_answered() {
        use crate::fixture::Fixture;
        let fixture = Fixture::from_json(include_str!("../../../fixtures/default.json")).unwrap();
        let mut instance = fixture.into_instance("default", Some(1)).unwrap();
        let victim = instance.managed_keys.values().next().unwrap().id.clone();
        let template = instance.templates.values().next().unwrap().clone();
        let before = instance.managed_keys.len();
        for effect in [
            Effect::ConcurrentDelete { managed_key_id: victim.clone() },
            Effect::ConcurrentCreate {
                vault_id: template.vault_id.clone(),
                template_name: template.name.clone(),
                label: "created-by-other-writer".into(),
            },
        ] {
            instance
                .faults
                .add(FaultRule {
                    operation: Some(Operation::ListManagedKeys),
                    ..rule(Trigger::NextN { count: 1 }, effect)
                })
                .unwrap();
        }
        let query = Ok(Default::default());
        let (answer, decision) = instance.run_command(Command::ListManagedKeys { query }, None);
        assert!(matches!(answer, Some(Ok(_))));
        assert_eq!(decision.concurrent_changes.len(), 2);
        assert!(!instance.managed_keys.contains_key(&victim));
        assert_eq!(instance.managed_keys.len(), before);
        assert!(instance.managed_keys.values().any(|key| key.label == "created-by-other-writer"));
        // Fired once each: the next list changes nothing.
        let query = Ok(Default::default());
        let (_, decision) = instance.run_command(Command::ListManagedKeys { query }, None);
        assert!(decision.concurrent_changes.is_empty());
        assert_eq!(instance.managed_keys.len(), before);
    }

    #[test]
    fn invalid_rules_are_refused() {
        let mut plan = FaultPlan::seeded(1);
        let bad = rule(Trigger::Always, Effect::HttpError { status: 200, retry_after_seconds: None, message: None });
        assert!(matches!(plan.add(bad), Err(Error::Invalid { .. })));
        let bad = rule(Trigger::Probability { probability: 1.5 }, Effect::DropConnection);
        assert!(matches!(plan.add(bad), Err(Error::Invalid { .. })));
    }
}
