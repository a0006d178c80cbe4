//! Creation, distribution and the key lifecycle (§1, §2, §3): state actions, rotation, update, delete and pending destruction.

use super::*;

#[test]
fn create_distributes_to_every_keystore_of_the_template_group() {
    // Arrange: a second vault whose AWS keystore is also in group `prod` must not receive the key.
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let foreign = keystore_input(&other_vault, "aws_prod_elsewhere", KeystoreType::AwsKms, &["prod"]);
    let foreign_id = fx.instance.create_keystore(foreign, false).unwrap().id;

    // Act
    let key_id = fx.key("AWS-ACTIVE", "payments-key");

    // Assert
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::Active);
    assert_eq!(key.referenced_keystores, [fx.ks("aws_prod_1"), fx.ks("aws_prod_2")]);
    assert_eq!(key.instances.len(), 1);
    assert_eq!(key.instances[0].keystore.keystore_type, KeystoreType::AwsKms);
    assert_eq!(key.instances[0].keystore.group, "prod");
    assert_eq!(key.instances[0].label_in_keystore, "payments-key");
    assert_eq!(key.version_number(), 1);
    for name in ["aws_prod_1", "aws_prod_2"] {
        let copy = fx.copy(name, &key_id).unwrap();
        assert_eq!(copy.state, CopyState::Active);
        assert_eq!(copy.material, key.current_material());
        assert!(copy.key_id_in_keystore.starts_with("arn:aws:kms:us-east-1:"), "{}", copy.key_id_in_keystore);
    }
    for name in ["aws_test", "azure_prod", "internal_prod", "google_prod", "cca_prod"] {
        assert_eq!(fx.copy(name, &key_id), None, "{name}");
    }
    assert!(fx.instance.keystores[&foreign_id].simulation.copies.is_empty());
    let statuses = fx.statuses(&key_id);
    assert_eq!(statuses.len(), 2);
    for entry in &statuses {
        assert_entry(entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
        assert_eq!(entry.instance_id.as_deref(), Some(key.instances[0].id.as_str()));
        assert!(entry.key_id_in_keystore.is_some());
    }
}

#[test]
fn create_from_pre_activation_template_installs_nothing() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "later");
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::PreActivation);
    assert_eq!(key.referenced_keystores.len(), 2);
    assert_eq!(fx.copy("aws_prod_1", &key_id), None);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::PreActiveKeyIsNotPresentInKeystore);
        assert_eq!(entry.key_id_in_keystore, None);
    }
}

#[test]
fn create_for_a_group_without_keystores_references_none() {
    let mut fx = Fixture::new();
    let input = template_input(&fx.vault_id, "EMPTY-GROUP", KeystoreType::AwsKms, "nobody", InitialKeyState::Active);
    fx.instance.create_template(input).unwrap();
    let key_id = fx.key("EMPTY-GROUP", "lonely");
    assert!(fx.record(&key_id).referenced_keystores.is_empty());
    assert!(fx.statuses(&key_id).is_empty());
}

#[test]
fn create_computes_planned_dates_from_template_periods() {
    let mut fx = Fixture::new();
    let mut input = template_input(&fx.vault_id, "PLANNED", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    let key = input.key.as_mut().unwrap();
    key.activation_date = Some("P5Y1M1W2D".to_owned());
    key.expiration_date = Some("P1Y2M1W4D".to_owned());
    fx.instance.create_template(input).unwrap();
    let key_id = fx.key("PLANNED", "planned");
    let key = fx.record(&key_id);
    assert_eq!(key.activation_date.map(clock::format_date).as_deref(), Some("2031-02-10"));
    assert_eq!(key.expiration_date.map(clock::format_date).as_deref(), Some("2032-04-21"));
    // Planning only: the key is active although activation lies years ahead.
    assert_eq!(key.state, KeyState::Active);
}

#[test]
fn create_counts_keys_in_vault_and_template() {
    let mut fx = Fixture::new();
    fx.key("AWS-ACTIVE", "one");
    fx.key("AWS-ACTIVE", "two");
    fx.key("AWS-PREACTIVE", "three");
    assert_eq!(fx.instance.vault_keys_count(&fx.vault_id), 3);
    assert_eq!(fx.instance.template_keys_count(&fx.template_id("AWS-ACTIVE")), 2);
    assert_eq!(fx.instance.vault_templates_count(&fx.vault_id), TEMPLATES.len());
    assert_eq!(fx.instance.vault_keystores_count(&fx.vault_id), KEYSTORES.len());
}

#[test]
fn create_with_missing_or_unknown_references_is_refused() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut no_label = key_input(&vault_id, "AWS-ACTIVE", "x");
    no_label.label = None;
    assert_eq!(fx.instance.create_managed_key(no_label).unwrap_err(), Error::missing_field("label"));
    let mut no_template = key_input(&vault_id, "AWS-ACTIVE", "x");
    no_template.template_name = None;
    assert_eq!(fx.instance.create_managed_key(no_template).unwrap_err(), Error::missing_field("template_name"));
    let unknown_template = fx.instance.create_managed_key(key_input(&vault_id, "NOPE", "x"));
    assert!(matches!(unknown_template, Err(Error::NotFoundNamed { kind: ResourceKind::Template, .. })));
    let unknown_vault = fx.instance.create_managed_key(key_input("no-such-vault", "AWS-ACTIVE", "x"));
    assert!(matches!(unknown_vault, Err(Error::NotFound { kind: ResourceKind::Vault, .. })));
    let bad_label = fx.instance.create_managed_key(key_input(&vault_id, "AWS-ACTIVE", "bad*label"));
    assert_invalid_field(bad_label, "label");
    assert!(fx.instance.managed_keys.is_empty());
}

#[test]
fn create_with_template_of_another_vault_is_not_found() {
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let result = fx.instance.create_managed_key(key_input(&other_vault, "AWS-ACTIVE", "x"));
    assert!(matches!(result, Err(Error::NotFound { kind: ResourceKind::Template, .. })), "{result:?}");
}

#[test]
fn create_with_archived_template_is_invalid_state() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert_invalid_state(fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "AWS-ACTIVE", "x")));
}

#[test]
fn create_beyond_managed_key_limit_is_conflict() {
    let settings = Settings { managed_key_limit: 2, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    fx.key("AWS-ACTIVE", "one");
    fx.key("AWS-ACTIVE", "two");
    assert_conflict(fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "AWS-ACTIVE", "three")));
}

#[test]
fn keystore_joining_the_group_receives_existing_keys_only_on_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let joined = keystore_input(&fx.vault_id, "aws_prod_3", KeystoreType::AwsKms, &["prod"]);
    let joined_id = fx.instance.create_keystore(joined, false).unwrap().id;
    assert_eq!(fx.record(&key_id).referenced_keystores.len(), 2, "creating a keystore pushes no key to it");

    let etag = fx.etag(&key_id);
    let preview = fx
        .instance
        .update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), true)
        .unwrap();
    assert!(preview.referenced_keystores.contains(&joined_id));
    assert_eq!(fx.etag(&key_id), etag, "a dry run persists nothing");
    assert_eq!(fx.record(&key_id).referenced_keystores.len(), 2);

    let updated = fx
        .instance
        .update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false)
        .unwrap();
    assert_ne!(updated.updated_at.etag(), etag);
    assert_eq!(updated.referenced_keystores.len(), 3);
    let copy = fx.instance.keystores[&joined_id].simulation.copies.get(&key_id).cloned().unwrap();
    assert_eq!(copy.state, CopyState::Active);
}

#[test]
fn keystore_leaving_the_group_is_deactivated_and_unlinked_on_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let keystore_id = fx.ks("aws_prod_2");
    let etag = fx.keystore_etag("aws_prod_2");
    let groups = KeystoreInput { groups: Some(vec!["shared".to_owned()]), ..KeystoreInput::default() };
    fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(etag.clone())), groups).unwrap();
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    assert_eq!(fx.record(&key_id).referenced_keystores, [fx.ks("aws_prod_1")]);
    assert_eq!(fx.copy("aws_prod_2", &key_id).unwrap().state, CopyState::Inactive);
    assert_eq!(fx.statuses(&key_id).len(), 1);
}

#[test]
fn template_update_makes_keys_unaligned_until_update_from_template() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Aligned);
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let input = TemplateInput { description: Some("v1".to_owned()), ..TemplateInput::default() };
    fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), input).unwrap();
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Unaligned);
    let listed = fx.list_keys(&[("template.alignment_status", "unaligned")]).unwrap();
    assert_eq!(listed.ids, [key_id.as_str()]);
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    assert_eq!(fx.record(&key_id).template_version, 1);
    assert_eq!(fx.instance.alignment_status(&fx.record(&key_id)), AlignmentStatus::Aligned);
}

#[test]
fn update_from_archived_template_or_of_destroyed_key_is_invalid_state() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let destroyed = fx.key("AWS-PREACTIVE", "d");
    fx.destroy(&destroyed);
    let etag = fx.etag(&destroyed);
    assert_invalid_state(fx.instance.update_managed_key_from_template(
        &destroyed,
        Some(&super::IfMatch::parse(etag.clone())),
        false,
    ));
    let template_id = fx.template_id("AWS-ACTIVE");
    let template_etag = fx.template_etag("AWS-ACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone()))).unwrap();
    let etag = fx.etag(&key_id);
    assert_invalid_state(fx.instance.update_managed_key_from_template(
        &key_id,
        Some(&super::IfMatch::parse(etag.clone())),
        false,
    ));
}

// ---------------------------------------------------------------------------------------------------
// Lifecycle (§2)
// ---------------------------------------------------------------------------------------------------

/// Applies a refused action and checks the key record did not change.
#[track_caller]
fn check_refused(fx: &mut Fixture, key_id: &str, action: KeyAction) {
    let before = fx.record(key_id);
    assert_invalid_state(fx.act(key_id, action));
    assert_eq!(fx.record(key_id), before, "a refused {action:?} changed the key");
}

#[test]
fn destroy_of_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Destroy);
    assert_eq!(fx.copy("aws_prod_1", &key_id).unwrap().state, CopyState::Active);
}

#[test]
fn activate_of_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Activate);
}

#[test]
fn deactivate_of_pre_active_or_deactivated_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Deactivate);
    fx.act(&key_id, KeyAction::Activate).unwrap();
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    check_refused(&mut fx, &key_id, KeyAction::Deactivate);
}

#[test]
fn destroyed_key_refuses_every_state_action_update_and_rotation() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    for action in [KeyAction::Activate, KeyAction::Deactivate, KeyAction::Destroy] {
        check_refused(&mut fx, &key_id, action);
    }
    assert_invalid_state(fx.rotate(&key_id));
    let update = ManagedKeyUpdate { description: Some("late".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, update));
}

#[test]
fn pre_active_key_activates_and_is_installed_everywhere() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    fx.act(&key_id, KeyAction::Activate).unwrap();
    assert_eq!(fx.record(&key_id).state, KeyState::Active);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
}

#[test]
fn deactivate_then_reactivate_moves_every_copy() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    let key = fx.record(&key_id);
    assert_eq!(key.state, KeyState::Deactivated);
    assert_eq!(key.deactivated_at, Some(key.updated_at));
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotActive, F::Ok, D::DeactivatedKeyIsDeactivatedInKeystore);
    }
    fx.act(&key_id, KeyAction::Activate).unwrap();
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
}

#[test]
fn destroy_of_pre_active_key_is_allowed_by_default() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    assert_eq!(fx.record(&key_id).state, KeyState::Destroyed);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore);
    }
}

#[test]
fn destroy_of_pre_active_key_is_refused_when_destroy_requires_deactivated() {
    let settings = Settings { destroy_requires_deactivated: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-PREACTIVE", "k");
    check_refused(&mut fx, &key_id, KeyAction::Destroy);
}

#[test]
fn destroy_within_minimum_deactivated_period_is_refused() {
    let settings = Settings { min_deactivated_before_destroy_seconds: 4 * 3600, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    fx.instance.clock.advance(4 * 3600 - 1);
    match fx.act(&key_id, KeyAction::Destroy) {
        Err(Error::InvalidState { message }) => {
            assert!(message.contains("deactivated within the last 4 hours"), "{message}")
        }
        other => panic!("expected the 4-hour rule, found {other:?}"),
    }
    fx.instance.clock.advance(1);
    fx.act(&key_id, KeyAction::Destroy).unwrap();
}

#[test]
fn destroy_of_key_protected_by_retention_policy_is_conflict() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.instance.associated_resources.push(AssociatedResource {
        id: "crn%3Abucket".to_owned(),
        managed_key_id: key_id.clone(),
        keystore_id: fx.ks("aws_prod_1"),
        name: "bucket".to_owned(),
        resource_type: "com_ibm_cloud_kms_registration".to_owned(),
        registration: KmsRegistration {
            prevents_key_deletion: true,
            service_name: "cos".to_owned(),
            service_instance_name: "cos-1".to_owned(),
            crn: "crn:bucket".to_owned(),
            description: String::new(),
        },
    });
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    let before = fx.record(&key_id);
    assert_conflict(fx.act(&key_id, KeyAction::Destroy));
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn rotation_adds_version_and_changes_material() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let native_before = fx.copy("aws_prod_1", &key_id).unwrap().key_id_in_keystore;

    fx.rotate(&key_id).unwrap();

    let after = fx.record(&key_id);
    assert_eq!(after.version_number(), 2);
    assert_eq!(after.versions.len(), 2);
    assert_ne!(after.current_material(), before.current_material());
    assert_eq!(after.versions[0].material, before.current_material(), "the previous version is kept");
    assert_eq!(after.versions[0].state, Some(KeyState::Active), "AWS keeps older versions usable");
    assert_eq!(after.rotated_at, Some(after.updated_at));
    assert!(after.updated_at > before.updated_at);
    assert_eq!(after.state, KeyState::Active);
    let copy = fx.copy("aws_prod_1", &key_id).unwrap();
    assert_eq!(copy.material, after.current_material());
    assert_ne!(copy.key_id_in_keystore, native_before, "AWS creates a new native key on rotation");
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::Active, F::Ok, D::ActiveKeyIsActiveInKeystore);
    }
    let (total, _, versions) = fx.instance.list_key_versions_with(&key_id, &params(&[])).unwrap();
    assert_eq!((total, versions), (2, vec![2, 1]));
}

#[test]
fn rotation_on_ibm_cloud_kms_deactivates_previous_version() {
    let mut fx = Fixture::new();
    let key_id = fx.key("INTERNAL-ACTIVE", "k");
    fx.rotate(&key_id).unwrap();
    assert_eq!(fx.record(&key_id).versions[0].state, Some(KeyState::Deactivated));
    let only_deactivated = params(&[("state", "deactivated")]);
    let (total, _, versions) = fx.instance.list_key_versions_with(&key_id, &only_deactivated).unwrap();
    assert_eq!((total, versions), (1, vec![1]));
}

#[test]
fn rotation_of_deactivated_key_is_refused_unless_external_rotation_is_enabled() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    assert_invalid_state(fx.rotate(&key_id));

    let settings = Settings { rotate_deactivated_external: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let aws = fx.key("AWS-ACTIVE", "aws");
    let internal = fx.key("INTERNAL-ACTIVE", "internal");
    fx.act(&aws, KeyAction::Deactivate).unwrap();
    fx.act(&internal, KeyAction::Deactivate).unwrap();
    fx.rotate(&aws).unwrap();
    assert_eq!(fx.record(&aws).state, KeyState::Deactivated);
    assert_invalid_state(fx.rotate(&internal));
}

#[test]
fn rotation_of_pre_active_key_is_refused() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    assert_invalid_state(fx.rotate(&key_id));
}

#[test]
fn rotation_within_minimum_interval_is_too_many_requests() {
    let settings = Settings { min_rotation_interval_seconds: 3600, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.rotate(&key_id).unwrap();
    let result = fx.rotate(&key_id);
    assert!(
        matches!(result, Err(Error::TooManyRequests { retry_after_seconds: 3600, .. })),
        "expected a 3600 s retry, found {result:?}"
    );
    fx.instance.clock.advance(3600);
    fx.rotate(&key_id).unwrap();
    assert_eq!(fx.record(&key_id).version_number(), 3);
}

#[test]
fn update_changes_fields_and_renames_every_instance() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "old-name");
    let update = ManagedKeyUpdate {
        label: Some("new-name".to_owned()),
        description: Some("rotated yearly".to_owned()),
        activation_date: Some("2026-02-01".to_owned()),
        expiration_date: Some("2030-02-01".to_owned()),
        tags: Some(vec![Tag { name: "team".to_owned(), value: "payments".to_owned() }]),
    };
    fx.update(&key_id, update).unwrap();
    let key = fx.record(&key_id);
    assert_eq!(key.label, "new-name");
    assert!(key.instances.iter().all(|i| i.label_in_keystore == "new-name"));
    assert_eq!(key.description, "rotated yearly");
    assert_eq!(key.activation_date.map(clock::format_date).as_deref(), Some("2026-02-01"));
    assert_eq!(key.expiration_date.map(clock::format_date).as_deref(), Some("2030-02-01"));
    assert_eq!(key.tags.len(), 1);
}

#[test]
fn update_with_expiration_before_activation_is_invalid() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let earlier = ManagedKeyUpdate { expiration_date: Some("2025-06-01".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, earlier), "expiration_date");
    let both = ManagedKeyUpdate {
        activation_date: Some("2027-01-01".to_owned()),
        expiration_date: Some("2026-12-31".to_owned()),
        ..ManagedKeyUpdate::default()
    };
    assert_invalid_field(fx.update(&key_id, both), "expiration_date");
    let late_activation =
        ManagedKeyUpdate { activation_date: Some("2028-01-01".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, late_activation), "expiration_date");
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn update_with_malformed_values_is_invalid() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let date = ManagedKeyUpdate { activation_date: Some("2026-1-1".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, date), "activation_date");
    let label = ManagedKeyUpdate { label: Some("x".repeat(256)), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, label), "label");
    let description = ManagedKeyUpdate { description: Some("d".repeat(201)), ..ManagedKeyUpdate::default() };
    assert_invalid_field(fx.update(&key_id, description), "description");
}

#[test]
fn delete_of_key_that_is_not_destroyed_is_invalid_state() {
    let mut fx = Fixture::new();
    let pre_active = fx.key("AWS-PREACTIVE", "p");
    let active = fx.key("AWS-ACTIVE", "a");
    let deactivated = fx.key("AWS-ACTIVE", "d");
    fx.act(&deactivated, KeyAction::Deactivate).unwrap();
    for key_id in [&pre_active, &active, &deactivated] {
        assert_invalid_state(fx.delete(key_id, false));
        assert_invalid_state(fx.delete(key_id, true));
    }
    assert_eq!(fx.instance.managed_keys.len(), 3);
}

#[test]
fn delete_of_destroyed_key_removes_it_and_its_counts() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.key("AWS-ACTIVE", "stays");
    fx.destroy(&key_id);
    fx.delete(&key_id, false).unwrap();
    assert!(matches!(fx.instance.managed_key(&key_id), Err(Error::NotFound { kind: ResourceKind::ManagedKey, .. })));
    assert_eq!(fx.instance.vault_keys_count(&fx.vault_id), 1);
    assert_eq!(fx.instance.template_keys_count(&fx.template_id("AWS-ACTIVE")), 1);
    assert!(!fx.list_keys(&[]).unwrap().ids.contains(&key_id));
    let gone = fx.instance.change_key_state(&key_id, None, KeyAction::Activate);
    assert!(matches!(gone, Err(Error::NotFound { .. })), "not found wins over a missing If-Match: {gone:?}");
}

#[test]
fn destroy_with_pending_destruction_keeps_copies_until_the_period_ends() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    let destroyed_at = fx.instance.clock.now;
    let copy = fx.copy("aws_prod_1", &key_id).unwrap();
    assert_eq!(copy.state, CopyState::PendingDestruction);
    assert_eq!(copy.destruction_at, Some(destroyed_at.plus_seconds(7 * DAY)));
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::PendingDestruction, F::Ok, D::DestroyedPendingKeyIsPendingDestructionInKeystore);
        assert_eq!(entry.destruction_policy_duration.as_deref(), Some("PT168H"));
    }
    assert_eq!(fx.instance.key_material_present(&fx.record(&key_id)), ["repository"]);

    fx.instance.clock.advance(7 * DAY);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore);
    }
    assert_eq!(fx.copy("aws_prod_1", &key_id), None);
}

#[test]
fn destroyed_key_still_pending_elsewhere_reports_pending_detail() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    fx.set_copy("aws_prod_2", &key_id, Observed::Absent);
    assert_entry(
        &fx.entry(&key_id, "aws_prod_1"),
        S::PendingDestruction,
        F::Ok,
        D::DestroyedPendingKeyIsPendingDestructionInKeystore,
    );
    assert_entry(&fx.entry(&key_id, "aws_prod_2"), S::NotPresent, F::Ok, D::DestroyedPendingKeyIsNotPresentInKeystore);
}

#[test]
fn delete_while_pending_destruction_needs_force() {
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    assert_invalid_state(fx.delete(&key_id, false));
    fx.delete(&key_id, true).unwrap();
    assert!(fx.instance.managed_key(&key_id).is_err());
}

#[test]
fn delete_after_the_destruction_period_has_ended_needs_no_force() {
    // Regression: delete looked at copies whose destruction period had already ended (only reads settled
    // them), so a key shown as `destroyed_key_is_not_present_in_keystore` could not be deleted.
    let settings = Settings { pending_destruction: true, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    fx.instance.clock.advance(7 * DAY);
    fx.delete(&key_id, false).unwrap();
}

#[test]
fn realistic_profile_allows_destroy_from_pre_activation() {
    // IBM's docs (key states, roles, deleting keys) and Terraform's provider allow it; only the 4-hour wait
    // applies, and only to deactivated keys.
    let settings = Settings { profile: Profile::Realistic, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-PREACTIVE", "k");
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    assert_eq!(fx.record(&key_id).state, KeyState::Destroyed);
}

#[test]
fn realistic_profile_keeps_copies_pending_destruction_for_each_keystore_types_period() {
    let settings = Settings { profile: Profile::Realistic, ..Settings::default() };
    let mut fx = Fixture::with(settings, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    fx.instance.clock.advance(4 * 3600);
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    let destroyed_at = fx.instance.clock.now;
    let copy = fx.copy("aws_prod_1", &key_id).unwrap();
    assert_eq!(copy.state, CopyState::PendingDestruction);
    assert_eq!(copy.destruction_at, Some(destroyed_at.plus_seconds(7 * DAY)), "AWS KMS: 7 days");
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::PendingDestruction, F::Ok, D::DestroyedPendingKeyIsPendingDestructionInKeystore);
    }
    assert_invalid_state(fx.delete(&key_id, false));
    fx.instance.clock.advance(7 * DAY);
    for entry in fx.statuses(&key_id) {
        assert_entry(&entry, S::NotPresent, F::Ok, D::DestroyedKeyIsNotPresentInKeystore);
    }
    assert_eq!(fx.copy("aws_prod_1", &key_id), None, "gone once the period ended");
    fx.delete(&key_id, false).unwrap();

    // Each keystore type keeps its own period (IBM's docs on deleting keys).
    for (keystore_type, days) in [
        (KeystoreType::AwsKms, 7),
        (KeystoreType::AzureKeyVault, 90),
        (KeystoreType::GoogleKms, 30),
        (KeystoreType::IbmCloudKms, 30),
    ] {
        assert_eq!(
            crate::domain::keystores::pending_destruction_seconds(keystore_type),
            days * DAY,
            "{keystore_type:?}"
        );
    }
}

#[test]
fn permissive_profile_removes_copies_at_destroy() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.destroy(&key_id);
    assert_eq!(fx.copy("aws_prod_1", &key_id), None);
}
