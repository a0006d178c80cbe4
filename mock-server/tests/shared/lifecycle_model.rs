//! The managed-key lifecycle of uko-semantics.md §2.2 (with the mock's defaults and the switchable rules
//! of `Settings`) as a small reference model, shared by the domain's state-machine test
//! (`src/domain/tests/state_machine.rs`) and the HTTP model test (`tests/api/model.rs`): one table of
//! transitions for both layers to agree with. (A subdirectory of `tests/`, so cargo does not build it as a
//! test of its own.)

use proptest::prelude::*;

/// Which `If-Match` a step sends.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum IfMatch {
    Current,
    Stale,
    Missing,
    Wildcard,
}

/// A managed-key operation that takes `If-Match`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Op {
    Activate,
    Deactivate,
    Destroy,
    Rotate,
    Update,
    Sync,
    Delete { force: bool },
}

/// The outcome kinds the model predicts; anything else is a failure of the test.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    PreconditionRequired,
    PreconditionFailed,
    InvalidState,
    NotFound,
    Other(String),
}

/// §2 as a plain enum; `None` in [`ModelKey::state`] means deleted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Lifecycle {
    PreActive,
    Active,
    Deactivated,
    Destroyed,
}

#[derive(Clone, Debug)]
pub(crate) struct ModelKey {
    pub state: Option<Lifecycle>,
    /// How many times the ETag changed since creation.
    pub etag_changes: usize,
    /// Key-material versions.
    pub versions: u32,
}

#[derive(Clone, Copy, Debug)]
pub(crate) struct ModelRules {
    pub destroy_requires_deactivated: bool,
    pub sync_bumps_etag: bool,
}

impl ModelKey {
    pub(crate) fn new(active: bool) -> Self {
        let state = if active { Lifecycle::Active } else { Lifecycle::PreActive };
        ModelKey { state: Some(state), etag_changes: 0, versions: 1 }
    }

    /// §2.2 with the mock's defaults. `pending` says whether a copy is still pending destruction (guard
    /// 2.4c), the one fact the model takes from the simulation.
    pub(crate) fn apply(&mut self, op: Op, if_match: IfMatch, rules: ModelRules, pending: bool) -> Outcome {
        use Lifecycle::*;
        let Some(state) = self.state else {
            return Outcome::NotFound;
        };
        match if_match {
            IfMatch::Missing => return Outcome::PreconditionRequired,
            IfMatch::Stale => return Outcome::PreconditionFailed,
            IfMatch::Current | IfMatch::Wildcard => {}
        }
        let next = match (op, state) {
            (Op::Activate, PreActive | Deactivated) => Some(Active),
            (Op::Deactivate, Active) => Some(Deactivated),
            (Op::Destroy, Deactivated) => Some(Destroyed),
            (Op::Destroy, PreActive) if !rules.destroy_requires_deactivated => Some(Destroyed),
            (Op::Rotate, Active) => Some(Active),
            (Op::Update, PreActive | Active | Deactivated) => Some(state),
            (Op::Sync, _) => Some(state),
            (Op::Delete { force }, Destroyed) if force || !pending => None,
            _ => return Outcome::InvalidState,
        };
        match op {
            Op::Delete { .. } => self.state = None,
            Op::Sync => self.etag_changes += usize::from(rules.sync_bumps_etag),
            _ => {
                self.state = next;
                self.etag_changes += 1;
                self.versions += u32::from(op == Op::Rotate);
            }
        }
        Outcome::Ok
    }
}

/// Every operation, uniformly; `force` decides the deletes' `force` flag.
pub(crate) fn arb_op(force: impl Strategy<Value = bool> + 'static) -> impl Strategy<Value = Op> {
    prop_oneof![
        Just(Op::Activate),
        Just(Op::Deactivate),
        Just(Op::Destroy),
        Just(Op::Rotate),
        Just(Op::Update),
        Just(Op::Sync),
        force.prop_map(|force| Op::Delete { force }),
    ]
}
