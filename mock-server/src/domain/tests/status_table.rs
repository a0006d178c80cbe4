//! The §4 table: status derivation is total and matches the reference, exhaustively and as a property.

use super::*;

/// One row of [`STATUS_TABLE`].
type StatusRow = (KeyState, Observed, Option<bool>, S, F, D);

/// §4, written out row by row from the reference: (key state, observed O, pending in another keystore
/// (`None` = either), status, flag, detail). Rows the reference leaves open are marked *inferred*.
const STATUS_TABLE: &[StatusRow] = &[
    (KeyState::PreActivation, Observed::Absent, None, S::NotPresent, F::Ok, D::PreActiveKeyIsNotPresentInKeystore),
    (KeyState::PreActivation, Observed::Active, None, S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    (KeyState::PreActivation, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    // Inferred: any copy of a pre-active key is "present".
    (
        KeyState::PreActivation,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::OutOfSync,
        D::PreActiveKeyIsPresentInKeystore,
    ),
    (KeyState::PreActivation, Observed::WrongKey, None, S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore),
    (KeyState::Active, Observed::Active, None, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore),
    (KeyState::Active, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    (KeyState::Active, Observed::Absent, None, S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    (KeyState::Active, Observed::WrongKey, None, S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore),
    // Inferred: a copy scheduled for deletion is not active.
    (
        KeyState::Active,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::OutOfSync,
        D::ActiveKeyIsNotActiveInKeystore,
    ),
    (KeyState::Deactivated, Observed::Inactive, None, S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
    (KeyState::Deactivated, Observed::Absent, None, S::NotPresent, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore),
    (
        KeyState::Deactivated,
        Observed::Active,
        None,
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    ),
    // Inferred: usable other material is still an active copy of a deactivated key.
    (
        KeyState::Deactivated,
        Observed::WrongKey,
        None,
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    ),
    // Inferred: a copy on its way to absent (acceptable for deactivated keys, §3) is unusable, so in sync.
    (
        KeyState::Deactivated,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::Ok,
        D::DeactivatedKeyIsDeactivatedInKeystore,
    ),
    (
        KeyState::Destroyed,
        Observed::PendingDestruction,
        None,
        S::PendingDestruction,
        F::Ok,
        D::DestroyedPendingKeyIsPendingDestructionInKeystore,
    ),
    (
        KeyState::Destroyed,
        Observed::Absent,
        Some(true),
        S::NotPresent,
        F::Ok,
        D::DestroyedPendingKeyIsNotPresentInKeystore,
    ),
    (KeyState::Destroyed, Observed::Absent, Some(false), S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore),
    (KeyState::Destroyed, Observed::Active, None, S::Active, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
    (KeyState::Destroyed, Observed::Inactive, None, S::NotActive, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
    (KeyState::Destroyed, Observed::WrongKey, None, S::Active, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore),
];

/// The expected (status, flag, detail) for one combination, from [`STATUS_TABLE`] and the "any" rows.
fn expected_status(
    state: KeyState,
    observed: Observed,
    reachable: bool,
    removed: bool,
    pending_elsewhere: bool,
) -> (S, F, D) {
    if removed {
        return match observed {
            Observed::Active | Observed::WrongKey => {
                (S::Active, F::OutOfSync, D::TargetKeystoreRemovedByUserContainsAnActiveKey)
            }
            _ => (S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser),
        };
    }
    if !reachable {
        return (S::Error, F::Error, D::ConnectionError);
    }
    // Inferred: the never-produced compromised states look like their non-compromised neighbours.
    let state = match state {
        KeyState::Compromised => KeyState::Deactivated,
        KeyState::DestroyedCompromised => KeyState::Destroyed,
        other => other,
    };
    let rows: Vec<_> = STATUS_TABLE
        .iter()
        .filter(|row| row.0 == state && row.1 == observed && row.2.is_none_or(|p| p == pending_elsewhere))
        .collect();
    assert_eq!(rows.len(), 1, "the expected table must have exactly one row for {state:?}/{observed:?}");
    (rows[0].3, rows[0].4, rows[0].5)
}

/// Builds a key and a keystore in the given situation and derives the entry.
struct TableCase {
    key: ManagedKey,
    keystore: Keystore,
}

impl TableCase {
    fn new(keystore_type: KeystoreType) -> Self {
        let mut fx = Fixture::new();
        let key_id = fx.key("AWS-ACTIVE", "table");
        let key = fx.record(&key_id);
        let mut keystore = fx.instance.keystore(&fx.ks("aws_prod_1")).unwrap().clone();
        keystore.keystore_type = keystore_type;
        TableCase { key, keystore }
    }

    fn derive(
        &mut self,
        state: KeyState,
        observed: Observed,
        reachable: bool,
        removed: bool,
        pending: bool,
    ) -> StatusEntry {
        self.key.state = state;
        let material = self.key.current_material().to_owned();
        let copy = |state, material: String, destruction_at| KeyCopy {
            state,
            material,
            key_id_in_keystore: "native".to_owned(),
            destruction_at,
        };
        let copies = &mut self.keystore.simulation.copies;
        copies.clear();
        let at = Timestamp::parse(START).map(|t| t.plus_seconds(DAY));
        match observed {
            Observed::Absent => None,
            Observed::Active => copies.insert(self.key.id.clone(), copy(CopyState::Active, material, None)),
            Observed::Inactive => copies.insert(self.key.id.clone(), copy(CopyState::Inactive, material, None)),
            Observed::PendingDestruction => {
                copies.insert(self.key.id.clone(), copy(CopyState::PendingDestruction, material, at))
            }
            Observed::WrongKey => {
                copies.insert(self.key.id.clone(), copy(CopyState::Active, format!("{material}-X"), None))
            }
        };
        derive_entry(&self.key, &self.keystore, reachable, pending, removed)
    }
}

#[track_caller]
fn check_table_row(
    case: &mut TableCase,
    state: KeyState,
    observed: Observed,
    reachable: bool,
    removed: bool,
    pending: bool,
) {
    let entry = case.derive(state, observed, reachable, removed, pending);
    let context =
        format!("{state:?} / {observed:?} / reachable={reachable} removed={removed} pending_elsewhere={pending}");
    let expected = expected_status(state, observed, reachable, removed, pending);
    assert_eq!((entry.status, entry.sync_flag, entry.detail), expected, "{context}");
    assert_eq!(entry.keystore_id, case.keystore.id, "{context}");
    assert_eq!(entry.instance_id.as_deref(), Some(case.key.instances[0].id.as_str()), "{context}");
    assert_eq!(entry.error.is_some(), !reachable && !removed, "error object only for connection errors: {context}");
    assert_eq!(entry.key_id_in_keystore.is_some(), observed != Observed::Absent, "{context}");
    assert_eq!(entry.destruction_policy_duration.is_some(), observed == Observed::PendingDestruction, "{context}");
    assert_eq!(entry.destruction_at.is_some(), observed == Observed::PendingDestruction, "{context}");
}

#[test]
fn status_derivation_matches_the_reference_table_for_every_combination() {
    let mut case = TableCase::new(KeystoreType::AwsKms);
    let mut checked = 0;
    for &state in KeyState::ALL {
        for observed in OBSERVED {
            for reachable in [true, false] {
                for removed in [true, false] {
                    for pending in [true, false] {
                        check_table_row(&mut case, state, observed, reachable, removed, pending);
                        checked += 1;
                    }
                }
            }
        }
    }
    assert_eq!(checked, 6 * 5 * 8);
}

#[test]
fn pending_destruction_entry_carries_the_keystore_period() {
    for (keystore_type, duration) in [
        (KeystoreType::AwsKms, "PT168H"),
        (KeystoreType::AzureKeyVault, "PT2160H"),
        (KeystoreType::GoogleKms, "PT720H"),
        (KeystoreType::IbmCloudKms, "PT720H"),
        (KeystoreType::Cca, "PT0H"),
    ] {
        let mut case = TableCase::new(keystore_type);
        let entry = case.derive(KeyState::Destroyed, Observed::PendingDestruction, true, false, false);
        assert_eq!(entry.destruction_policy_duration.as_deref(), Some(duration), "{keystore_type}");
    }
}

proptest! {
    /// The same table as a property, also over keystore types and a key that was rotated any number of
    /// times (so "the current material" moves).
    #[test]
    fn status_derivation_is_total_and_consistent_with_the_table(
        state in prop::sample::select(KeyState::ALL.to_vec()),
        observed in arb_observed(),
        reachable in any::<bool>(),
        removed in any::<bool>(),
        pending in any::<bool>(),
        keystore_type in prop::sample::select(KeystoreType::ALL.to_vec()),
        rotations in 0u32..4,
    ) {
        let mut case = TableCase::new(keystore_type);
        for n in 0..rotations {
            case.key.versions.push(KeyVersion {
                version: n + 2,
                material: format!("MATERIAL-{n}"),
                created_at: case.key.created_at,
                state: None,
            });
        }
        check_table_row(&mut case, state, observed, reachable, removed, pending);
    }
}
