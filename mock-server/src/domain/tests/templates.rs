//! Templates (§5): delete and archive rules, validation, versions and immutable fields.

use super::*;

#[test]
fn template_delete_is_refused_while_keys_reference_it_even_destroyed_ones() {
    let mut fx = Fixture::new();
    let key_id = fx.key("AWS-ACTIVE", "k");
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    assert_conflict(fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.destroy(&key_id);
    assert_conflict(fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.delete(&key_id, false).unwrap();
    fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(fx.instance.template(&template_id).is_err());
    assert_eq!(fx.instance.vault_templates_count(&fx.vault_id), TEMPLATES.len() - 1);
}

#[test]
fn archived_template_can_be_deleted() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    let archived = fx
        .instance
        .archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_eq!(
        fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))),
        Err(Error::PreconditionFailed { given: etag, current: archived.clone() })
    );
    fx.instance.delete_template(&template_id, Some(&super::IfMatch::parse(archived.clone()))).unwrap();
}

#[test]
fn duplicate_template_name_is_conflict() {
    let mut fx = Fixture::new();
    let other_vault = fx.instance.create_vault(vault_input("Other")).unwrap().id.clone();
    let input = template_input(&other_vault, "AWS-ACTIVE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert_conflict(fx.instance.create_template(input));
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    let rename = TemplateInput { name: Some("AWS-ACTIVE".to_owned()), ..TemplateInput::default() };
    assert_conflict(fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), rename));
}

#[test]
fn template_create_validates_its_body() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let mut two = template_input(&vault_id, "TWO", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    two.keystores.as_mut().unwrap().push(TemplateKeystoreInput {
        keystore_type: Some(KeystoreType::AzureKeyVault),
        group: Some("prod".to_owned()),
        ..TemplateKeystoreInput::default()
    });
    assert_invalid_field(fx.instance.create_template(two), "keystores");
    let mut none = template_input(&vault_id, "NONE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    none.keystores = Some(Vec::new());
    assert_invalid_field(fx.instance.create_template(none), "keystores");
    let bad_name =
        template_input(&vault_id, "1-starts-with-digit", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert_invalid_field(fx.instance.create_template(bad_name), "name");
    let mut bad_period = template_input(&vault_id, "PERIOD", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    bad_period.key.as_mut().unwrap().expiration_date = Some("1Y".to_owned());
    assert_invalid_field(fx.instance.create_template(bad_period), "key.expiration_date");
    let mut no_state = template_input(&vault_id, "NOSTATE", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    no_state.key.as_mut().unwrap().state = None;
    assert_eq!(fx.instance.create_template(no_state).unwrap_err(), Error::missing_field("key.state"));
    let unknown_vault = template_input("nope", "ORPHAN", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    assert!(matches!(
        fx.instance.create_template(unknown_vault),
        Err(Error::NotFound { kind: ResourceKind::Vault, .. })
    ));
}

#[test]
fn new_template_starts_at_version_zero_unarchived_and_user_defined() {
    let fx = Fixture::new();
    let template = fx.instance.template_by_name("AWS-ACTIVE").unwrap();
    assert_eq!(template.version, 0);
    assert_eq!(template.state, TemplateState::Unarchived);
    assert_eq!(template.types, [TemplateType::UserDefined]);
    assert_eq!(template.description, "");
}

#[test]
fn template_algorithm_keystore_type_and_naming_scheme_are_immutable() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let algorithm = TemplateInput {
        key: Some(KeyPropertiesInput { algorithm: Some(Algorithm::Rsa), ..KeyPropertiesInput::default() }),
        ..TemplateInput::default()
    };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), algorithm),
        "key.algorithm",
    );
    let retype = TemplateInput {
        keystores: Some(vec![TemplateKeystoreInput {
            keystore_type: Some(KeystoreType::GoogleKms),
            ..TemplateKeystoreInput::default()
        }]),
        ..TemplateInput::default()
    };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), retype),
        "keystores[0].type",
    );
    let scheme = TemplateInput { naming_scheme: Some("<A>".to_owned()), ..TemplateInput::default() };
    assert_invalid_field(
        fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), scheme),
        "naming_scheme",
    );
    assert_eq!(fx.instance.template(&template_id).unwrap().version, 0);
}

#[test]
fn template_group_change_redirects_new_keys() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let regroup = TemplateInput {
        keystores: Some(vec![TemplateKeystoreInput {
            group: Some("test".to_owned()),
            ..TemplateKeystoreInput::default()
        }]),
        ..TemplateInput::default()
    };
    fx.instance.update_template(&template_id, Some(&super::IfMatch::parse(etag.clone())), regroup).unwrap();
    let key_id = fx.key("AWS-ACTIVE", "k");
    assert_eq!(fx.record(&key_id).referenced_keystores, [fx.ks("aws_test")]);
}

#[test]
fn archived_template_refuses_updates_and_a_second_archive() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    let etag = fx
        .instance
        .archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_invalid_state(fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    let describe = TemplateInput { description: Some("x".to_owned()), ..TemplateInput::default() };
    assert_invalid_state(fx.instance.update_template(
        &template_id,
        Some(&super::IfMatch::parse(etag.clone())),
        describe,
    ));
    let etag = fx
        .instance
        .unarchive_template(&template_id, Some(&super::IfMatch::parse(etag.clone())))
        .unwrap()
        .updated_at
        .etag();
    assert_invalid_state(fx.instance.unarchive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    fx.key("AWS-ACTIVE", "k");
}

#[test]
fn only_shadow_templates_can_be_exposed() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-ACTIVE");
    let etag = fx.template_etag("AWS-ACTIVE");
    assert_invalid_state(fx.instance.expose_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))));
    let mut shadow = template_input(&fx.vault_id, "SHADOW", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    shadow.types = Some(vec![TemplateType::Shadow]);
    let shadow = fx.instance.create_template(shadow).unwrap();
    let (id, etag) = (shadow.id.clone(), shadow.updated_at.etag());
    let exposed = fx.instance.expose_template(&id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert_eq!(exposed.types, [TemplateType::UserDefined]);
    assert!(exposed.updated_at.etag() > etag);
}
