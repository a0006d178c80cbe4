//! List queries (uko-api-v4.md §7): paging, filters, sorting and each list's own parameters.

use super::*;

/// The `offset` of the next page, as the HTTP layer's `next` link carries it.
fn next_offset(listing: &Listing) -> Option<usize> {
    let next = listing.page.offset + listing.page.limit;
    (next < listing.total_count).then_some(next)
}

/// Five keys: labels a..e, created in that order, in several states.
fn listing_fixture() -> (Fixture, Vec<String>) {
    let mut fx = Fixture::new();
    let a = fx.key("AWS-ACTIVE", "alpha");
    let b = fx.key("AWS-PREACTIVE", "bravo");
    let c = fx.key("AWS-ACTIVE", "charlie");
    let d = fx.key("INTERNAL-ACTIVE", "delta");
    let e = fx.key("AWS-ACTIVE", "echo");
    fx.act(&c, KeyAction::Deactivate).unwrap();
    fx.destroy(&e);
    (fx, vec![a, b, c, d, e])
}

#[test]
fn list_limit_must_lie_between_one_and_a_thousand() {
    let (fx, _) = listing_fixture();
    for bad in ["0", "1001", "-1", "ten", ""] {
        assert_invalid_parameter(fx.list_keys(&[("limit", bad)]), "limit");
    }
    assert_invalid_parameter(fx.list_keys(&[("offset", "-1")]), "offset");
    assert_eq!(fx.list_keys(&[]).unwrap().page, query::Page { limit: 20, offset: 0 });
    assert_eq!(fx.list_keys(&[("limit", "1000")]).unwrap().page.limit, 1000);
    let one = fx.list_keys(&[("limit", "1")]).unwrap();
    assert_eq!((one.ids.len(), one.total_count), (1, 5));
}

#[test]
fn listing_next_offset_walks_every_page_once() {
    let (fx, keys) = listing_fixture();
    let everything = fx.list_keys(&[("sort", "label")]).unwrap();
    assert_eq!(everything.ids, keys);
    assert_eq!(next_offset(&everything), None);

    let mut seen = Vec::new();
    let mut offset = Some(0);
    let mut pages = 0;
    while let Some(current) = offset {
        let offset_text = current.to_string();
        let page = fx.list_keys(&[("sort", "label"), ("limit", "2"), ("offset", offset_text.as_str())]).unwrap();
        assert_eq!(page.total_count, 5);
        assert!(page.ids.len() <= 2);
        seen.extend(page.ids.clone());
        offset = next_offset(&page);
        pages += 1;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen, keys);

    let beyond = fx.list_keys(&[("offset", "5")]).unwrap();
    assert_eq!((beyond.ids.len(), beyond.total_count, next_offset(&beyond)), (0, 5, None));
}

#[test]
fn list_filters_are_anded_and_their_values_ored() {
    let (fx, keys) = listing_fixture();
    let active_or_deactivated = fx.list_keys(&[("state", "active,deactivated"), ("sort", "label")]).unwrap();
    assert_eq!(active_or_deactivated.ids, [keys[0].clone(), keys[2].clone(), keys[3].clone()]);
    let repeated = fx.list_keys(&[("state", "active"), ("state", "deactivated"), ("sort", "label")]).unwrap();
    assert_eq!(repeated.ids, active_or_deactivated.ids);
    let with_prefix = fx.list_keys(&[("state", "active,deactivated"), ("label", "ch")]).unwrap();
    assert_eq!(with_prefix.ids, [keys[2].clone()]);
    let internal = fx.list_keys(&[("instances[].keystore.type", "ibm_cloud_kms")]).unwrap();
    assert_eq!(internal.ids, [keys[3].clone()]);
    let by_template = fx.list_keys(&[("template.name", "AWS-PRE")]).unwrap();
    assert_eq!(by_template.ids, [keys[1].clone()]);
    let by_vault = fx.list_keys(&[("vault.id", "elsewhere")]).unwrap();
    assert_eq!(by_vault.total_count, 0);
    let compromised = fx.list_keys(&[("state", "compromised")]).unwrap();
    assert_eq!(compromised.total_count, 0, "compromised is accepted as a filter value");
    assert_invalid_parameter(fx.list_keys(&[("state", "gone")]), "state");
    assert_invalid_parameter(fx.list_keys(&[("algorithm", "rot13")]), "algorithm");
}

#[test]
fn list_sorts_by_field_and_reverses_with_minus() {
    let (fx, keys) = listing_fixture();
    let by_label_desc = fx.list_keys(&[("sort", "-label")]).unwrap();
    let mut reversed = keys.clone();
    reversed.reverse();
    assert_eq!(by_label_desc.ids, reversed);
    // Default sort is -updated_at: the last changed key comes first (echo was destroyed last).
    let default = fx.list_keys(&[]).unwrap();
    assert_eq!(default.ids[0], keys[4]);
    let by_state = fx.list_keys(&[("sort", "state,label")]).unwrap();
    assert_eq!(by_state.ids, [&keys[1], &keys[0], &keys[3], &keys[2], &keys[4]].map(String::clone));
    assert_invalid_parameter(fx.list_keys(&[("sort", "colour")]), "sort");
}

#[test]
fn list_date_filter_combinations_are_refused() {
    let (fx, keys) = listing_fixture();
    let combined = fx.list_keys(&[("expiration_date_min", "2026-01-01"), ("deactivation_date_max", "2030-01-01")]);
    assert_invalid_parameter(combined, "deactivation_date");
    let exact_and_range = fx.list_keys(&[("activation_date", "2026-01-01"), ("activation_date_min", "2025-01-01")]);
    assert_invalid_parameter(exact_and_range, "activation_date");
    assert_invalid_parameter(fx.list_keys(&[("created_at_min", "2026-1-1")]), "created_at_min");
    let size = fx.list_keys(&[("size", "256"), ("size_min", "128")]);
    assert_invalid_parameter(size, "size");
    let types = fx.list_keys(&[("referenced_keystores[].type", "aws_kms"), ("instances[].keystore.type", "aws_kms")]);
    assert_invalid_parameter(types, "referenced_keystores[].type");
    // Each alone works: every key expires on 2027-01-01.
    assert_eq!(fx.list_keys(&[("expiration_date", "2027-01-01")]).unwrap().total_count, keys.len());
    assert_eq!(fx.list_keys(&[("deactivation_date_min", "2027-01-02")]).unwrap().total_count, 0);
    assert_eq!(fx.list_keys(&[("size_min", "256"), ("size_max", "256")]).unwrap().total_count, keys.len());
}

#[test]
fn keystore_scope_lists_pre_active_and_active_keys_by_default() {
    let (fx, keys) = listing_fixture();
    let keystore_id = fx.ks("aws_prod_1");
    let scope = KeyListScope::Keystore(&keystore_id);
    let default = fx.instance.list_managed_keys_with(&params(&[("sort", "label")]), scope).unwrap();
    assert_eq!(default.ids, [keys[0].clone(), keys[1].clone()]);
    let all =
        fx.instance.list_managed_keys_with(&params(&[("state", "deactivated,destroyed"), ("sort", "label")]), scope);
    assert_eq!(all.unwrap().ids, [keys[2].clone(), keys[4].clone()]);
    let unknown = fx.instance.list_managed_keys_with(&params(&[]), KeyListScope::Keystore("nope"));
    assert!(matches!(unknown, Err(Error::NotFound { kind: ResourceKind::Keystore, .. })));
}

#[test]
fn sync_flag_filter_finds_out_of_sync_keys_without_contacting_keystores() {
    let (mut fx, keys) = listing_fixture();
    fx.set_copy("aws_prod_1", &keys[0], Observed::Inactive);
    let keystore_id = fx.ks("aws_prod_2");
    fx.set_reachability("aws_prod_2", Reachability::UnreachableForCalls { remaining: 1 });
    let out_of_sync = fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "out_of_sync")]).unwrap();
    assert_eq!(out_of_sync.ids, [keys[0].clone()]);
    let errors = fx.list_keys(&[("status_in_keystores[].keystore_sync_flag", "error")]).unwrap();
    assert_eq!(errors.total_count, 4, "every AWS key shows the failing keystore as an error");
    assert_eq!(
        fx.instance.keystores[&keystore_id].simulation.reachability,
        Reachability::UnreachableForCalls { remaining: 1 },
        "lists do not count as calls"
    );
}

#[test]
fn keystore_list_filters_by_group_type_and_vault() {
    let fx = Fixture::new();
    let list = |pairs: &[(&str, &str)]| fx.instance.list_keystores_with(&params(pairs));
    assert_eq!(list(&[("group", "shared")]).unwrap().ids, [fx.ks("aws_prod_2")]);
    assert_eq!(list(&[("groups[]", "test,shared")]).unwrap().total_count, 2);
    assert_invalid_parameter(list(&[("group", "prod"), ("groups[]", "test")]), "group");
    assert_eq!(list(&[("type", "aws_kms")]).unwrap().total_count, 3);
    assert_eq!(list(&[("vault.id", fx.vault_id.as_str())]).unwrap().total_count, KEYSTORES.len());
    let sorted = list(&[("sort", "name"), ("limit", "2")]).unwrap();
    assert_eq!(sorted.ids, [fx.ks("aws_prod_1"), fx.ks("aws_prod_2")]);
    assert_invalid_parameter(list(&[("type", "vault")]), "type");
}

#[test]
fn template_and_vault_lists_filter_and_sort() {
    let mut fx = Fixture::new();
    let template_id = fx.template_id("AWS-PREACTIVE");
    let etag = fx.template_etag("AWS-PREACTIVE");
    fx.instance.archive_template(&template_id, Some(&super::IfMatch::parse(etag.clone()))).unwrap();
    let templates = |pairs: &[(&str, &str)]| fx.instance.list_templates_with(&params(pairs));
    assert_eq!(templates(&[("state", "archived")]).unwrap().ids, [template_id.as_str()]);
    assert_eq!(templates(&[("name", "AWS")]).unwrap().total_count, 2);
    assert_eq!(templates(&[("keystores[].type", "cca")]).unwrap().total_count, 1);
    assert_eq!(templates(&[("type[]", "shadow")]).unwrap().total_count, 0);
    assert_eq!(templates(&[("sort", "-updated_at"), ("limit", "1")]).unwrap().ids, [template_id]);
    let vaults = fx.instance.list_vaults_with(&params(&[("name", "Pay")])).unwrap();
    assert_eq!(vaults.ids, [fx.vault_id.clone()]);
    assert_eq!(fx.instance.list_vaults_with(&params(&[("name", "Zed")])).unwrap().total_count, 0);
}
