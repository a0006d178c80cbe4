//! A model test of the managed key lifecycle over real HTTP: random sequences of activate, deactivate,
//! destroy, rotate, update, sync and delete, each sent with the current, a stale or no `If-Match`, are
//! applied to the server and to a small reference model (uko-semantics.md §2.2 with the defaults of
//! `domain/managed_keys.rs`). Server and model must agree on every status code and on the final state.
//!
//! `PROPTEST_CASES` sets the number of cases (default 32); failures are persisted by proptest and can be
//! replayed with `PROPTEST_RNG_SEED`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;

/// The keys under test: one per lifecycle state of the default fixture.
const KEYS: [&str; 4] = [KEY_PRE_ACTIVE, KEY_ACTIVE, KEY_DEACTIVATED, KEY_DESTROYED];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    PreActivation,
    Active,
    Deactivated,
    Destroyed,
    /// Deleted through the API: every operation answers 404.
    Deleted,
}

impl State {
    fn from_wire(state: &str) -> State {
        match state {
            "pre_activation" => State::PreActivation,
            "active" => State::Active,
            "deactivated" => State::Deactivated,
            "destroyed" => State::Destroyed,
            other => panic!("unexpected key state {other:?}"),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Action {
    Activate,
    Deactivate,
    Destroy,
    Rotate,
    Update,
    Sync,
    Delete,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum IfMatch {
    Current,
    Stale,
    Missing,
}

#[derive(Clone, Copy, Debug)]
struct Step {
    key: usize,
    action: Action,
    if_match: IfMatch,
}

/// The reference model: per key, its state and key-material version.
#[derive(Clone, Debug, PartialEq, Eq)]
struct ModelKey {
    state: State,
    version: u64,
}

/// What the model expects from one step: the status and the key afterwards.
fn expect(key: &ModelKey, action: Action, if_match: IfMatch) -> (StatusCode, ModelKey) {
    use State::*;
    let unchanged = key.clone();
    if key.state == Deleted {
        return (StatusCode::NOT_FOUND, unchanged);
    }
    match if_match {
        IfMatch::Missing => return (StatusCode::PRECONDITION_REQUIRED, unchanged),
        IfMatch::Stale => return (StatusCode::PRECONDITION_FAILED, unchanged),
        IfMatch::Current => {}
    }
    let to = |state: State| ModelKey { state, version: key.version };
    match (action, key.state) {
        (Action::Activate, PreActivation | Deactivated) => (StatusCode::OK, to(Active)),
        (Action::Deactivate, Active) => (StatusCode::OK, to(Deactivated)),
        (Action::Destroy, PreActivation | Deactivated) => (StatusCode::OK, to(Destroyed)),
        (Action::Rotate, Active) => (StatusCode::OK, ModelKey { state: Active, version: key.version + 1 }),
        (Action::Update, PreActivation | Active | Deactivated) => (StatusCode::OK, unchanged),
        (Action::Sync, _) => (StatusCode::OK, unchanged),
        (Action::Delete, Destroyed) => (StatusCode::NO_CONTENT, to(Deleted)),
        _ => (StatusCode::CONFLICT, unchanged),
    }
}

fn arb_step() -> impl Strategy<Value = Step> {
    let action = prop_oneof![
        Just(Action::Activate),
        Just(Action::Deactivate),
        Just(Action::Destroy),
        Just(Action::Rotate),
        Just(Action::Update),
        Just(Action::Sync),
        Just(Action::Delete),
    ];
    let if_match = prop_oneof![6 => Just(IfMatch::Current), 2 => Just(IfMatch::Stale), 2 => Just(IfMatch::Missing)];
    (0..KEYS.len(), action, if_match).prop_map(|(key, action, if_match)| Step { key, action, if_match })
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|cases| cases.parse().ok()).unwrap_or(32);
    ProptestConfig { cases, ..ProptestConfig::default() }
}

/// What the test knows of each key's ETags: the current one and one that is certainly stale.
struct Etags {
    current: String,
    stale: String,
}

async fn run(steps: Vec<Step>) -> Result<(), TestCaseError> {
    let app = TestApp::spawn().await;
    let mut model = BTreeMap::new();
    let mut etags = BTreeMap::new();
    for id in KEYS {
        let key = app.get_managed_key(id).await.assert_status(StatusCode::OK);
        let body = key.json();
        let state = State::from_wire(body["state"].as_str().unwrap());
        model.insert(id, ModelKey { state, version: body["version"].as_u64().unwrap() });
        etags.insert(id, Etags { current: key.etag(), stale: STALE_ETAG.to_owned() });
    }

    for (index, step) in steps.iter().enumerate() {
        let id = KEYS[step.key];
        let known = &etags[id];
        let if_match = match step.if_match {
            IfMatch::Current => Some(known.current.clone()),
            IfMatch::Stale => Some(known.stale.clone()),
            IfMatch::Missing => None,
        };
        let if_match = if_match.as_deref();
        let response = match step.action {
            Action::Activate => app.activate_managed_key(id, if_match).await,
            Action::Deactivate => app.deactivate_managed_key(id, if_match).await,
            Action::Destroy => app.destroy_managed_key(id, if_match).await,
            Action::Rotate => app.rotate_managed_key(id, if_match).await,
            Action::Update => {
                app.update_managed_key(id, if_match, &json!({"description": format!("step {index}")})).await
            }
            Action::Sync => app.sync_managed_key(id, if_match).await,
            Action::Delete => app.delete_managed_key(id, if_match).await,
        };
        response.check_invariants();
        let (status, after) = expect(&model[id], step.action, step.if_match);
        prop_assert_eq!(response.status, status, "step {} {:?}: {}", index, step, response.text);

        if status == StatusCode::OK && step.action != Action::Sync {
            let body = response.json();
            prop_assert_eq!(State::from_wire(body["state"].as_str().unwrap()), after.state, "step {}", index);
            prop_assert_eq!(body["version"].as_u64(), Some(after.version), "step {}", index);
            let new_etag = response.etag();
            prop_assert!(new_etag > known.current, "step {}: a mutation moves the ETag forward", index);
            etags.insert(id, Etags { stale: known.current.clone(), current: new_etag });
        } else if status == StatusCode::OK {
            prop_assert_eq!(&response.etag(), &known.current, "step {}: a sync keeps the ETag", index);
        }
        model.insert(id, after);
    }

    for id in KEYS {
        let response = app.get_managed_key(id).await;
        match model[id].state {
            State::Deleted => prop_assert_eq!(response.status, StatusCode::NOT_FOUND),
            state => {
                let response = response.assert_status(StatusCode::OK);
                let body = response.json();
                prop_assert_eq!(State::from_wire(body["state"].as_str().unwrap()), state, "final state of {}", id);
                prop_assert_eq!(body["version"].as_u64(), Some(model[id].version), "final version of {}", id);
                prop_assert_eq!(&response.etag(), &etags[id].current, "final ETag of {}", id);
                let statuses = app.get_key_distribution_status_for_keystores(id).await.json();
                for entry in statuses["status_in_keystores"].as_array().unwrap() {
                    prop_assert_eq!(&entry["keystore_sync_flag"], "ok", "operations keep {} in sync", id);
                }
            }
        }
    }
    let remaining = KEYS.iter().filter(|id| model[**id].state != State::Deleted).count();
    prop_assert_eq!(app.get_vault(VAULT).await.json()["keys_count"].as_u64(), Some(remaining as u64 + 4));
    Ok(())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn server_agrees_with_the_lifecycle_model(steps in prop::collection::vec(arb_step(), 1..=20)) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a tokio runtime");
        runtime.block_on(run(steps))?;
    }
}

#[test]
fn model_follows_the_documented_defaults() {
    // The reference table itself, so a change of the model is a visible decision.
    let key = |state| ModelKey { state, version: 1 };
    let current = |state, action| expect(&key(state), action, IfMatch::Current).0;
    assert_eq!(current(State::PreActivation, Action::Destroy), StatusCode::OK, "destroy_requires_deactivated=false");
    assert_eq!(current(State::Active, Action::Destroy), StatusCode::CONFLICT);
    assert_eq!(current(State::Deactivated, Action::Rotate), StatusCode::CONFLICT, "rotate only active");
    assert_eq!(current(State::Destroyed, Action::Update), StatusCode::CONFLICT);
    assert_eq!(current(State::Destroyed, Action::Sync), StatusCode::OK);
    assert_eq!(current(State::Active, Action::Delete), StatusCode::CONFLICT);
    assert_eq!(expect(&key(State::Deleted), Action::Sync, IfMatch::Missing).0, StatusCode::NOT_FOUND);
}
