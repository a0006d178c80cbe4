//! Vaults (§8): delete rules, `If-Match` and name validation.

use super::*;

#[test]
fn vault_delete_is_refused_while_it_holds_keystores_or_keys() {
    let mut fx = Fixture::new();
    let vault_id = fx.vault_id.clone();
    let etag = fx.instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_conflict(fx.instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))));
    assert!(fx.instance.vault(&vault_id).is_ok());
}

#[test]
fn vault_delete_is_refused_while_unarchived_templates_remain_and_takes_archived_ones_along() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let template = instance
        .create_template(template_input(&vault_id, "T", KeystoreType::AwsKms, "g", InitialKeyState::Active))
        .unwrap();
    let (template_id, template_etag) = (template.id.clone(), template.updated_at.etag());
    let etag = instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_conflict(instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))));
    instance.archive_template(&template_id, Some(&super::IfMatch::parse(template_etag.clone()))).unwrap();
    instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(instance.vault(&vault_id).is_err());
    assert!(instance.template(&template_id).is_err(), "archived templates go with their vault");
}

#[test]
fn empty_vault_delete_checks_if_match_and_succeeds() {
    let mut instance = instance();
    let vault_id = instance.create_vault(vault_input("v")).unwrap().id.clone();
    let etag = instance.vault(&vault_id).unwrap().updated_at.etag();
    assert_eq!(instance.delete_vault(&vault_id, None), Err(Error::PreconditionRequired));
    assert!(matches!(
        instance.delete_vault(&vault_id, Some(&super::IfMatch::parse("2020-01-01T00:00:00Z"))),
        Err(Error::PreconditionFailed { .. })
    ));
    instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    assert!(matches!(
        instance.delete_vault(&vault_id, Some(&super::IfMatch::parse(etag.clone()))),
        Err(Error::NotFound { kind: ResourceKind::Vault, .. })
    ));
}

#[test]
fn vault_create_validates_name() {
    let mut instance = instance();
    assert_eq!(instance.create_vault(VaultInput::default()).unwrap_err(), Error::missing_field("name"));
    assert_invalid_field(instance.create_vault(vault_input(" leading space")), "name");
    assert_invalid_field(instance.create_vault(vault_input(&"v".repeat(101))), "name");
    let vault = instance.create_vault(vault_input("Payments #1")).unwrap();
    assert_eq!(vault.created_at, vault.updated_at);
    assert_eq!(vault.created_at.etag(), START);
}
