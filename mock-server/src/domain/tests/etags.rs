//! ETags and `If-Match` (§11): every mutation checks and bumps them, reads never change them.

use super::*;

#[test]
fn update_with_stale_etag_is_precondition_failed() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let first = fx.etag(&key_id);
    let describe = |text: &str| ManagedKeyUpdate { description: Some(text.to_owned()), ..ManagedKeyUpdate::default() };
    fx.instance.update_managed_key(&key_id, Some(&super::IfMatch::parse(first.clone())), describe("one")).unwrap();
    let current = fx.etag(&key_id);
    let before = fx.record(&key_id);
    let stale = fx.instance.update_managed_key(&key_id, Some(&super::IfMatch::parse(first.clone())), describe("two"));
    assert_eq!(stale.unwrap_err(), Error::PreconditionFailed { given: first, current });
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn mutations_without_if_match_are_precondition_required() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let before = fx.record(&key_id);
    let instance = &mut fx.instance;
    assert_eq!(
        instance.change_key_state(&key_id, None, KeyAction::Deactivate).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(instance.rotate_managed_key(&key_id, None).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(
        instance.update_managed_key(&key_id, None, ManagedKeyUpdate::default()).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(
        instance.update_managed_key_from_template(&key_id, None, false).unwrap_err(),
        Error::PreconditionRequired
    );
    assert_eq!(instance.sync_managed_key(&key_id, None).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(instance.delete_managed_key(&key_id, None, true).unwrap_err(), Error::PreconditionRequired);
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn stale_etag_is_checked_before_the_state_rule() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let result =
        fx.instance.change_key_state(&key_id, Some(&super::IfMatch::parse("2020-01-01T00:00:00Z")), KeyAction::Destroy);
    assert!(matches!(result, Err(Error::PreconditionFailed { .. })), "{result:?}");
}

#[test]
fn if_match_accepts_quoted_weak_and_wildcard_forms() {
    let stamp = Timestamp::parse("2026-03-04T05:06:07.000Z").unwrap();
    for accepted in [
        "2026-03-04T05:06:07Z",
        "\"2026-03-04T05:06:07Z\"",
        "W/\"2026-03-04T05:06:07Z\"",
        " 2026-03-04T05:06:07Z ",
        "*",
    ] {
        assert_eq!(check_if_match(Some(&super::IfMatch::parse(accepted)), stamp, true), Ok(()), "{accepted}");
    }
    assert!(matches!(
        check_if_match(Some(&super::IfMatch::parse("*")), stamp, false),
        Err(Error::PreconditionFailed { .. })
    ));
    assert!(matches!(
        check_if_match(Some(&super::IfMatch::parse("2026-03-04T05:06:08Z")), stamp, true),
        Err(Error::PreconditionFailed { .. })
    ));
    assert_eq!(check_if_match(None, stamp, true), Err(Error::PreconditionRequired));
}

#[test]
fn every_mutation_gets_a_new_strictly_increasing_etag() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-PREACTIVE", "k");
    let mut etags = vec![fx.etag(&key_id)];
    fx.act(&key_id, KeyAction::Activate).unwrap();
    etags.push(fx.etag(&key_id));
    fx.rotate(&key_id).unwrap();
    etags.push(fx.etag(&key_id));
    fx.update(&key_id, ManagedKeyUpdate { description: Some("x".to_owned()), ..ManagedKeyUpdate::default() }).unwrap();
    etags.push(fx.etag(&key_id));
    let etag = fx.etag(&key_id);
    fx.instance.update_managed_key_from_template(&key_id, Some(&super::IfMatch::parse(etag.clone())), false).unwrap();
    etags.push(fx.etag(&key_id));
    fx.act(&key_id, KeyAction::Deactivate).unwrap();
    etags.push(fx.etag(&key_id));
    fx.act(&key_id, KeyAction::Destroy).unwrap();
    etags.push(fx.etag(&key_id));
    for pair in etags.windows(2) {
        assert!(pair[0] < pair[1], "{etags:?}");
    }
    for etag in &etags {
        assert!(Timestamp::parse(etag).is_some_and(|t| t.etag() == *etag), "ETag format: {etag}");
        assert!(etag.ends_with('Z') && etag.len() == 20, "{etag}");
    }
}

#[test]
fn reads_never_change_the_etag() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    fx.set_copy("aws_prod_1", &key_id, Observed::Inactive);
    let before = fx.record(&key_id);
    fx.statuses(&key_id);
    fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]).unwrap();
    fx.instance.list_key_versions_with(&key_id, &params(&[])).unwrap();
    fx.instance.keystore_status(&fx.ks("aws_prod_1")).unwrap();
    assert_eq!(fx.record(&key_id), before);
}

#[test]
fn sync_keeps_the_etag_by_default_and_bumps_it_when_configured() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let etag = fx.etag(&key_id);
    fx.sync(&key_id);
    assert_eq!(fx.etag(&key_id), etag);

    let mut fx = Fixture::with(Settings { sync_bumps_etag: true, ..Settings::default() }, 1);
    let key_id = fx.key("AWS-ACTIVE", "k");
    let etag = fx.etag(&key_id);
    fx.sync(&key_id);
    assert!(fx.etag(&key_id) > etag);
}

#[test]
fn vault_template_and_keystore_updates_check_and_bump_their_etag() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let vault_etag = fx.instance.vault(&vault_id).unwrap().updated_at.etag();
    let rename = || VaultInput { description: Some("d".to_owned()), ..VaultInput::default() };
    assert_eq!(fx.instance.update_vault(&vault_id, None, rename()).unwrap_err(), Error::PreconditionRequired);
    let updated = fx
        .instance
        .update_vault(&vault_id, Some(&super::IfMatch::parse(vault_etag.clone())), rename())
        .unwrap()
        .updated_at
        .etag();
    assert!(updated > vault_etag);
    assert!(matches!(
        fx.instance.update_vault(&vault_id, Some(&super::IfMatch::parse(vault_etag.clone())), rename()),
        Err(Error::PreconditionFailed { .. })
    ));

    let template_id = fx.template_id("AWS-ACTIVE");
    let template_etag = fx.template_etag("AWS-ACTIVE");
    let describe = || TemplateInput { description: Some("d".to_owned()), ..TemplateInput::default() };
    let updated = fx
        .instance
        .update_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone())), describe())
        .unwrap();
    assert_eq!(updated.version, 1);
    assert!(updated.updated_at.etag() > template_etag);
    assert!(matches!(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone())), describe()),
        Err(Error::PreconditionFailed { .. })
    ));

    let keystore_id = fx.ks("aws_test");
    let keystore_etag = fx.keystore_etag("aws_test");
    let describe = || KeystoreInput { description: Some("d".to_owned()), ..KeystoreInput::default() };
    let updated = fx
        .instance
        .update_keystore(&keystore_id, Some(&super::IfMatch::parse(keystore_etag.clone())), describe())
        .unwrap();
    assert!(updated.updated_at.etag() > keystore_etag);
    assert!(matches!(
        fx.instance.update_keystore(&keystore_id, Some(&super::IfMatch::parse(keystore_etag.clone())), describe()),
        Err(Error::PreconditionFailed { .. })
    ));
}
