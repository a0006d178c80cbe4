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

#[path = "../shared/lifecycle_model.rs"]
#[allow(dead_code)] // Outcome::Other and the ETag count serve the domain's test only.
mod lifecycle_model;
use lifecycle_model::{arb_op, IfMatch, Lifecycle, ModelKey, ModelRules, Op, Outcome};

fn lifecycle_from_wire(state: &str) -> Lifecycle {
    match state {
        "pre_activation" => Lifecycle::PreActive,
        "active" => Lifecycle::Active,
        "deactivated" => Lifecycle::Deactivated,
        "destroyed" => Lifecycle::Destroyed,
        other => panic!("unexpected key state {other:?}"),
    }
}

#[derive(Clone, Copy, Debug)]
struct Step {
    key: usize,
    op: Op,
    if_match: IfMatch,
}

/// What the model expects from one step under the server's default settings: the status and the key
/// afterwards. Nothing is ever pending destruction here: the default fixture's keystores destroy at once.
fn expect(key: &ModelKey, op: Op, if_match: IfMatch) -> (StatusCode, ModelKey) {
    let settings = uko_mock::domain::Settings::default();
    let rules = ModelRules {
        destroy_requires_deactivated: settings.destroy_requires_deactivated,
        sync_bumps_etag: settings.sync_bumps_etag,
    };
    let mut after = key.clone();
    let status = match after.apply(op, if_match, rules, false) {
        Outcome::Ok if matches!(op, Op::Delete { .. }) => StatusCode::NO_CONTENT,
        Outcome::Ok => StatusCode::OK,
        Outcome::PreconditionRequired => StatusCode::PRECONDITION_REQUIRED,
        Outcome::PreconditionFailed => StatusCode::PRECONDITION_FAILED,
        Outcome::InvalidState => StatusCode::CONFLICT,
        Outcome::NotFound => StatusCode::NOT_FOUND,
        Outcome::Other(other) => panic!("the model predicts no {other}"),
    };
    (status, after)
}

fn arb_step() -> impl Strategy<Value = Step> {
    // The HTTP test deletes without `force`.
    let op = arb_op(Just(false));
    let if_match = prop_oneof![6 => Just(IfMatch::Current), 2 => Just(IfMatch::Stale), 2 => Just(IfMatch::Missing)];
    (0..KEYS.len(), op, if_match).prop_map(|(key, op, if_match)| Step { key, op, if_match })
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
        let state = lifecycle_from_wire(body["state"].as_str().unwrap());
        let versions = u32::try_from(body["version"].as_u64().unwrap()).unwrap();
        model.insert(id, ModelKey { state: Some(state), etag_changes: 0, versions });
        etags.insert(id, Etags { current: key.etag(), stale: STALE_ETAG.to_owned() });
    }

    for (index, step) in steps.iter().enumerate() {
        let id = KEYS[step.key];
        let known = &etags[id];
        let if_match = match step.if_match {
            IfMatch::Current => Some(known.current.clone()),
            IfMatch::Stale => Some(known.stale.clone()),
            IfMatch::Missing | IfMatch::Wildcard => None,
        };
        let if_match = if_match.as_deref();
        let response = match step.op {
            Op::Activate => app.activate_managed_key(id, if_match).await,
            Op::Deactivate => app.deactivate_managed_key(id, if_match).await,
            Op::Destroy => app.destroy_managed_key(id, if_match).await,
            Op::Rotate => app.rotate_managed_key(id, if_match).await,
            Op::Update => app.update_managed_key(id, if_match, &json!({"description": format!("step {index}")})).await,
            Op::Sync => app.sync_managed_key(id, if_match).await,
            Op::Delete { .. } => app.delete_managed_key(id, if_match).await,
        };
        response.check_invariants();
        let (status, after) = expect(&model[id], step.op, step.if_match);
        prop_assert_eq!(response.status, status, "step {} {:?}: {}", index, step, response.text);

        if status == StatusCode::OK && step.op != Op::Sync {
            let body = response.json();
            prop_assert_eq!(Some(lifecycle_from_wire(body["state"].as_str().unwrap())), after.state, "step {}", index);
            prop_assert_eq!(body["version"].as_u64(), Some(u64::from(after.versions)), "step {}", index);
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
            None => prop_assert_eq!(response.status, StatusCode::NOT_FOUND),
            Some(state) => {
                let response = response.assert_status(StatusCode::OK);
                let body = response.json();
                prop_assert_eq!(lifecycle_from_wire(body["state"].as_str().unwrap()), state, "final state of {}", id);
                prop_assert_eq!(
                    body["version"].as_u64(),
                    Some(u64::from(model[id].versions)),
                    "final version of {}",
                    id
                );
                prop_assert_eq!(&response.etag(), &etags[id].current, "final ETag of {}", id);
                let statuses = app.get_key_distribution_status_for_keystores(id).await.json();
                for entry in statuses["status_in_keystores"].as_array().unwrap() {
                    prop_assert_eq!(&entry["keystore_sync_flag"], "ok", "operations keep {} in sync", id);
                }
            }
        }
    }
    let remaining = KEYS.iter().filter(|id| model[**id].state.is_some()).count();
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
    let key = |state| ModelKey { state, etag_changes: 0, versions: 1 };
    let current = |state, op| expect(&key(Some(state)), op, IfMatch::Current).0;
    let delete = Op::Delete { force: false };
    assert_eq!(current(Lifecycle::PreActive, Op::Destroy), StatusCode::OK, "destroy_requires_deactivated=false");
    assert_eq!(current(Lifecycle::Active, Op::Destroy), StatusCode::CONFLICT);
    assert_eq!(current(Lifecycle::Deactivated, Op::Rotate), StatusCode::CONFLICT, "rotate only active");
    assert_eq!(current(Lifecycle::Destroyed, Op::Update), StatusCode::CONFLICT);
    assert_eq!(current(Lifecycle::Destroyed, Op::Sync), StatusCode::OK);
    assert_eq!(current(Lifecycle::Active, delete), StatusCode::CONFLICT);
    assert_eq!(expect(&key(None), Op::Sync, IfMatch::Missing).0, StatusCode::NOT_FOUND);
}
