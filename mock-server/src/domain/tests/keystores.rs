//! Keystores (§7): removal and tombstones, delete modes, limits, validation and locked fields.

use super::*;

#[test]
fn removed_keystore_leaves_tombstone_entry() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let key_etag = fx.etag(&key_id);
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");

    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Disconnect)
        .unwrap();

    let key = fx.record(&key_id);
    assert_eq!(key.referenced_keystores, [fx.ks("aws_prod_1")]);
    assert_eq!(key.removed_keystores, [keystore_id.as_str()]);
    assert_eq!(key.updated_at.etag(), key_etag, "keystore removal does not bump the key's ETag");
    assert!(fx.instance.keystore(&keystore_id).is_err());
    assert!(fx.instance.keystore_or_removed(&keystore_id).is_some());
    assert!(!fx.instance.list_keystores_with(&params(&[])).unwrap().ids.contains(&keystore_id));
    assert_eq!(fx.instance.vault_keystores_count(&fx.vault_id), KEYSTORES.len() - 1);
    let statuses = fx.statuses(&key_id);
    assert_eq!(statuses.len(), 2);
    let tombstone = statuses.iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_entry(tombstone, S::Active, F::OutOfSync, D::TargetKeystoreRemovedByUserContainsAnActiveKey);

    // Sync leaves a removed keystore alone: UKO no longer manages it.
    let entries = fx.sync(&key_id);
    let tombstone = entries.iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_eq!(tombstone.detail, D::TargetKeystoreRemovedByUserContainsAnActiveKey);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Active);
}

#[test]
fn keystore_deleted_in_deactivate_mode_leaves_removed_by_user_entry() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Deactivate)
        .unwrap();
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Inactive);
    let tombstone = fx.statuses(&key_id).into_iter().find(|e| e.keystore_id == keystore_id).unwrap();
    assert_entry(&tombstone, S::NotPresent, F::OutOfSync, D::TargetKeystoreRemovedByUser);
}

#[test]
fn keystore_deleted_in_destroy_mode_schedules_destruction_of_its_copies() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Destroy)
        .unwrap();
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::PendingDestruction);
    fx.instance.clock.advance(7 * DAY);
    fx.statuses(&key_id);
    assert_eq!(fx.copy("aws_prod_2", &key_id), None);
}

#[test]
fn keystore_delete_in_restrict_mode_is_refused_while_active_or_deactivated_keys_use_it() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_1");
    let etag = fx.keystore_etag("aws_prod_1");
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    fx.key("AWS-PREACTIVE", "p");
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
    assert!(fx.instance.keystore(&keystore_id).is_err());
}

#[test]
fn internal_keystore_delete_is_refused_while_a_destroyed_key_is_pending_there() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("INTERNAL-ACTIVE", "k");
    fx.destroy(&key_id);
    let keystore_id = fx.ks("internal_prod");
    let etag = fx.keystore_etag("internal_prod");
    assert_conflict(fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse(etag.clone())),
        DeleteKeystoreMode::Restrict,
    ));
    fx.instance.clock.advance(30 * DAY);
    fx.instance
        .delete_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
}

#[test]
fn keystore_delete_checks_if_match() {
    let mut fx = Fixture::new();
    let keystore_id = fx.ks("aws_test");
    let result = fx.instance.delete_keystore(&keystore_id, None, DeleteKeystoreMode::Restrict);
    assert_eq!(result, Err(Error::PreconditionRequired));
    let result = fx.instance.delete_keystore(
        &keystore_id,
        Some(&super::IfMatch::parse("2020-01-01T00:00:00Z")),
        DeleteKeystoreMode::Restrict,
    );
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })));
    assert!(fx.instance.keystore(&keystore_id).is_ok());
}

#[test]
fn internal_keystore_limit_is_fifty_per_instance() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let internal = |n: usize| keystore_input(&vault_id, &format!("internal_{n}"), KeystoreType::IbmCloudKms, &["g"]);
    let mut ids = Vec::new();
    for n in 0..50 {
        ids.push(instance.create_keystore(internal(n), false).unwrap().id);
    }
    match instance.create_keystore(internal(50), false) {
        Err(Error::Conflict { message }) => {
            assert!(message.starts_with("The operation on the keystore has failed."), "{message}")
        }
        other => panic!("expected the 51st internal keystore to be refused, found {other:?}"),
    }
    assert!(instance.create_keystore(internal(50), true).is_ok(), "a dry run stores nothing, so it is not limited");
    assert_eq!(instance.keystores.len(), 50);
    instance.create_keystore(keystore_input(&vault_id, "external", KeystoreType::AwsKms, &["g"]), false).unwrap();
    let etag = instance.keystore(&ids[0]).unwrap().updated_at.etag();
    instance
        .delete_keystore(&ids[0], Some(&super::IfMatch::parse(etag.clone())), DeleteKeystoreMode::Restrict)
        .unwrap();
    instance.create_keystore(internal(51), false).unwrap();
}

#[test]
fn internal_keystore_limit_is_configurable() {
    let mut instance = instance_with(Settings { internal_keystore_limit: 1, ..Settings::default() }, 1);
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    instance.create_keystore(keystore_input(&vault_id, "one", KeystoreType::IbmCloudKms, &["g"]), false).unwrap();
    let second = instance.create_keystore(keystore_input(&vault_id, "two", KeystoreType::IbmCloudKms, &["g"]), false);
    assert_conflict(second);
}

#[test]
fn keystore_create_validates_type_specific_fields() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut no_secret = keystore_input(&vault_id, "aws_x", KeystoreType::AwsKms, &["g"]);
    no_secret.connection.aws_secret_access_key = None;
    assert_eq!(
        fx.instance.create_keystore(no_secret, false).unwrap_err(),
        Error::missing_field("aws_secret_access_key")
    );
    let mut no_variant = keystore_input(&vault_id, "ibm_x", KeystoreType::IbmCloudKms, &["g"]);
    no_variant.connection.ibm_variant = None;
    assert_eq!(fx.instance.create_keystore(no_variant, false).unwrap_err(), Error::missing_field("ibm_variant"));
    let mut bad_port = keystore_input(&vault_id, "cca_x", KeystoreType::Cca, &["g"]);
    bad_port.connection.cca_port = Some(70_000);
    assert_invalid_field(fx.instance.create_keystore(bad_port, false), "cca_port");
    let bad_group = keystore_input(&vault_id, "aws_y", KeystoreType::AwsKms, &["_bad"]);
    assert_invalid_field(fx.instance.create_keystore(bad_group, false), "groups[0]");
    let unknown_vault = keystore_input("no-such-vault", "aws_z", KeystoreType::AwsKms, &["g"]);
    assert!(matches!(fx.instance.create_keystore(unknown_vault, false), Err(Error::NotFound { .. })));
    assert_eq!(fx.instance.keystores.len(), KEYSTORES.len());
}

#[test]
fn keystore_without_groups_gets_its_name_as_group_and_internal_ones_the_region() {
    let mut fx = Fixture::new();
    let mut input = keystore_input(&fx.vault_id, "lonely", KeystoreType::IbmCloudKms, &[]);
    input.groups = None;
    let keystore = fx.instance.create_keystore(input, false).unwrap();
    assert_eq!(keystore.groups, ["lonely"]);
    assert_eq!(keystore.location, "us-south");
    assert!(keystore.is_internal());
    assert_eq!(keystore.connection.ibm_instance_id.as_deref(), Some("test"));
}

#[test]
fn keystore_dry_run_stores_nothing() {
    let mut fx = Fixture::new();
    let clock_before = fx.instance.clock.clone();
    let input = keystore_input(&fx.vault_id, "trial", KeystoreType::AwsKms, &["prod"]);
    let keystore = fx.instance.create_keystore(input, true).unwrap();
    assert!(fx.instance.keystore(&keystore.id).is_err());
    assert_eq!(fx.instance.clock.last_stamp, clock_before.last_stamp);
}

#[test]
fn keystore_identity_fields_are_locked_and_credentials_editable() {
    let mut fx = Fixture::new();
    let keystore_id = fx.ks("aws_test");
    let etag = fx.keystore_etag("aws_test");
    let region = KeystoreInput {
        connection: KeystoreConnection { aws_region: Some("eu-west-1".to_owned()), ..KeystoreConnection::default() },
        ..KeystoreInput::default()
    };
    assert_invalid_field(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), region),
        "aws_region",
    );
    let retype = KeystoreInput { keystore_type: Some(KeystoreType::GoogleKms), ..KeystoreInput::default() };
    assert_invalid_field(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), retype),
        "type",
    );
    let secret = KeystoreInput {
        connection: KeystoreConnection {
            aws_secret_access_key: Some("rotated".to_owned()),
            ..KeystoreConnection::default()
        },
        ..KeystoreInput::default()
    };
    let updated =
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), secret).unwrap();
    assert_eq!(updated.connection.aws_secret_access_key.as_deref(), Some("rotated"));
    assert_eq!(updated.connection.aws_region.as_deref(), Some("us-east-1"));
}
