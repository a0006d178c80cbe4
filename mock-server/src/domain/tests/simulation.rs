//! Keystore divergence and sync (§3, §4, §6): unreachable and misconfigured keystores, repairs, idempotence.

use super::*;

#[test]
fn deactivated_key_missing_in_keystore_is_in_sync() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    fx.set_copy("aws_prod_1", &key_id, Observed::Absent);
    let entry = fx.entry(&key_id, "aws_prod_1");
    assert_entry(&entry, S::NotPresent, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
    assert_eq!(entry.key_id_in_keystore, None);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
}

#[test]
fn unreachable_keystore_keeps_its_old_copy_and_reports_connection_error() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Active);
    let entry = fx.entry(&key_id, "aws_prod_2");
    assert_entry(&entry, S::Error, F::Error, D::ConnectionError);
    let error = entry.error.unwrap();
    assert_eq!((error.status_code, error.code), (503, "keystore_connection_error"));
    assert!(error.message.contains("aws_prod_2"), "{}", error.message);

    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(
        &fx.entry(&key_id, "aws_prod_2"),
        S::Active,
        F::OutOfSync,
        D::DeactivatedKeyIsNotDeactivatedInKeystore,
    );
}

#[test]
fn keystore_unreachable_for_some_calls_recovers_after_them() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_reachability("aws_prod_1", Reachability::UnreachableForCalls { remaining: 2 });
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Ok);
}

#[test]
fn keystore_unreachable_until_a_time_recovers_with_the_clock() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let until = fx.instance.clock.now.plus_seconds(60);
    fx.set_reachability("aws_prod_1", Reachability::UnreachableUntil { until });
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Error);
    fx.instance.clock.advance(60);
    assert_eq!(fx.entry(&key_id, "aws_prod_1").sync_flag, F::Ok);
}

#[test]
fn keystore_with_configuration_error_reports_configuration_error_health() {
    // Regression: GetKeystoreStatus said `not_responding` for a reachable keystore with bad credentials,
    // while the list filter (`peek_health`) said `configuration_error`.
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_1");
    fx.instance.keystores.get_mut(&keystore_id).unwrap().simulation.configuration_error = true;
    let health = fx.instance.keystore_status(&keystore_id).unwrap();
    assert_eq!(health.health_status, HealthStatus::ConfigurationError);
    let listed = fx.instance.list_keystores_with(&params(&[("status.health_status", "configuration_error")])).unwrap();
    assert_eq!(listed.ids, [keystore_id.as_str()]);
    let entry = fx.entry(&key_id, "aws_prod_1");
    assert_entry(&entry, S::Error, F::Error, D::ConnectionError);
    assert!(entry.error.unwrap().message.contains("configuration"));

    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    let health = fx.instance.keystore_status(&fx.ks("aws_prod_2")).unwrap();
    assert_eq!(health.health_status, HealthStatus::NotResponding);
    let health = fx.instance.keystore_status(&fx.ks("aws_test")).unwrap();
    assert_eq!((health.health_status, health.message.as_str()), (HealthStatus::Ok, "Ping executed successfully."));
}

#[test]
fn sync_repairs_reachable_keystores_and_leaves_unreachable_in_error() {
    // Arrange: drift in one reachable keystore and in one unreachable keystore.
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    fx.set_copy("aws_prod_2", &key_id, Observed::Absent);
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    let etag = fx.etag(&key_id);
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::NotActive, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);

    // Act
    let entries = fx.sync(&key_id);

    // Assert
    assert_eq!(entries.len(), 2);
    assert_entry(&entries[0], S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    assert_entry(&entries[1], S::Error, F::Error, D::ConnectionError);
    assert!(entries[1].error.is_some());
    assert_eq!(fx.copy("aws_prod_2", &key_id), None, "an unreachable keystore is not touched");
    assert_eq!(fx.etag(&key_id), etag);
    assert_eq!(fx.statuses(&key_id), entries, "GET after sync shows what sync returned");

    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotPresent, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    let entries = fx.sync(&key_id);
    assert!(entries.iter().all(|e| e.sync_flag == F::Ok), "{entries:?}");
}

#[test]
fn sync_replaces_wrong_key_material() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::WrongKey);
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    fx.sync(&key_id);
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().material, fx.record(&key_id).current_material());
    assert_entry(&fx.entry(&key_id, "aws_prod_1"), S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
}

#[test]
fn rotation_while_keystore_unreachable_leaves_old_material_until_sync() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let native_before = fx.copy("aws_prod_2", &key_id).unwrap().key_id_in_keystore;
    fx.set_reachability("aws_prod_2", Reachability::Unreachable);
    fx.rotate(&key_id).unwrap();
    fx.set_reachability("aws_prod_2", Reachability::Reachable);
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::WrongKey, F::OutOfSync, D::ActiveKeyIsNotActiveInKeystore);
    fx.sync(&key_id);
    let copy = fx.copy("aws_prod_2", &key_id).unwrap();
    assert_eq!(copy.material, fx.record(&key_id).current_material());
    assert_ne!(copy.key_id_in_keystore, native_before);
}

#[test]
fn sync_removes_copies_of_pre_active_and_destroyed_keys() {
    let mut fx = Fixture::new();
    let pre_active = fx.key("AWS-PREACTIVE", "p");
    let destroyed = fx.key("AWS-ACTIVE", "d");
    fx.destroy(&destroyed);
    fx.set_copy("aws_prod_1", &pre_active, Observed::Active);
    fx.set_copy("aws_prod_1", &destroyed, Observed::Inactive);
    assert_entry(&fx.entry(&pre_active, "aws_prod_1"), S::Active, F::OutOfSync, D::PreActiveKeyIsPresentInKeystore);
    assert_entry(&fx.entry(&destroyed, "aws_prod_1"), S::NotActive, F::OutOfSync, D::DestroyedKeyIsPresentInKeystore);
    fx.sync(&pre_active);
    fx.sync(&destroyed);
    assert_eq!(fx.copy("aws_prod_1", &pre_active), None);
    assert_eq!(fx.copy("aws_prod_1", &destroyed), None);
}

#[test]
fn sync_is_idempotent_and_leaves_other_keys_untouched() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let other = fx.key("AWS-ACTIVE", "other");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    fx.set_copy("aws_prod_1", &other, Observed::Inactive);
    let other_before = fx.record(&other);
    let first = fx.sync(&key_id);
    let copies_after_first = fx.instance.keystores.clone();
    let second = fx.sync(&key_id);
    assert_eq!(first, second);
    for (id, keystore) in &fx.instance.keystores {
        assert_eq!(keystore.simulation.copies, copies_after_first[id].simulation.copies);
    }
    assert_eq!(fx.copy("aws_prod_1", &other).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.record(&other), other_before);
}

#[test]
fn sync_with_stale_etag_is_precondition_failed_and_repairs_nothing() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let stale = fx.etag(&key_id);
    fx.update(&key_id, ManagedKeyUpdate { description: Some("x".to_owned()), ..ManagedKeyUpdate::default() }).unwrap();
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    let result = fx.instance.sync_managed_key(&key_id, Some(&super::IfMatch::parse(stale.clone())));
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })), "{result:?}");
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Inactive);
}
