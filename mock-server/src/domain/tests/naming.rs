//! Naming schemes (§5.2): label tags, placeholders and labels that cannot change.

use super::*;

fn scheme_template(fx: &mut Fixture, name: &str, scheme: &str) {
    let mut input = template_input(&fx.vault_id, name, KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    input.naming_scheme = Some(scheme.to_owned());
    fx.instance.create_template(input).unwrap();
}

#[test]
fn naming_scheme_label_tags() {
    // Arrange: created 2026-01-01, activation P0D, expiration P1Y → lastActiveYear 2027.
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "SCHEMED", "<APP>-<ENV>-<lay>");

    // Act
    let key_id = fx.key("SCHEMED", "AWS-production-2027");

    // Assert
    let key = fx.record(&key_id);
    let tags: Vec<(&str, &str)> = key.label_tags.iter().map(|t| (t.name.as_str(), t.value.as_str())).collect();
    assert_eq!(tags, [("APP", "AWS"), ("ENV", "production"), ("lay", "2027")]);
    assert!(!key.is_rotatable, "system placeholders make a key not rotatable");
    assert_invalid_state(fx.rotate(&key_id));
    let wrong_year = fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "SCHEMED", "AWS-production-2030"));
    assert_invalid_field(wrong_year, "label");
    let no_match = fx.instance.create_managed_key(key_input(&fx.vault_id.clone(), "SCHEMED", "nodashes"));
    assert_invalid_field(no_match, "label");
}

#[test]
fn naming_scheme_without_system_placeholders_keeps_key_rotatable() {
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "CUSTOM-ONLY", "<APP>-AES256-<ENV>");
    let key_id = fx.key("CUSTOM-ONLY", "billing-AES256-test");
    let key = fx.record(&key_id);
    assert!(key.is_rotatable);
    assert_eq!(key.label_tags.len(), 2);
    fx.rotate(&key_id).unwrap();
}

#[test]
fn naming_scheme_label_cannot_change() {
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "SCHEMED", "<APP>-<ENV>");
    let key_id = fx.key("SCHEMED", "AWS-prod");
    let rename = ManagedKeyUpdate { label: Some("AWS-test".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, rename));
    let same = ManagedKeyUpdate { label: Some("AWS-prod".to_owned()), ..ManagedKeyUpdate::default() };
    fx.update(&key_id, same).unwrap();
}

#[test]
fn label_of_key_from_literal_naming_scheme_cannot_change() {
    // Regression: "scheme-based" was derived from non-empty label_tags, so a scheme without placeholders
    // produced keys whose label could be renamed away from the scheme.
    let mut fx = Fixture::new();
    scheme_template(&mut fx, "LITERAL", "FIXED-LABEL");
    let key_id = fx.key("LITERAL", "FIXED-LABEL");
    let rename = ManagedKeyUpdate { label: Some("OTHER".to_owned()), ..ManagedKeyUpdate::default() };
    assert_invalid_state(fx.update(&key_id, rename));
    assert_eq!(fx.record(&key_id).label, "FIXED-LABEL");
}

#[test]
fn template_with_reserved_placeholder_is_invalid() {
    let mut fx = Fixture::new();
    let mut input = template_input(&fx.vault_id, "RESERVED", KeystoreType::AwsKms, "prod", InitialKeyState::Active);
    input.naming_scheme = Some("A-<seqno>".to_owned());
    assert_invalid_field(fx.instance.create_template(input), "naming_scheme");
}
