//! Wire types: how the domain's views (`domain::view`) look on the UKO v4 API, byte for byte.
//!
//! Field names, order, string-vs-number (`size` is a string), always-present arrays and masked secrets
//! (`""`, Azure password `"***"`) all live here. Optional fields are omitted rather than `null`.

use serde::Serialize;

use crate::domain::clock::Rfc3339Millis;
use crate::domain::keystores::KeystoreHealth;
use crate::domain::view::{KeyView, KeystoreName, KeystoreView, ResourceView, StatusView, TemplateView, VaultView};
use crate::domain::{self, KeystoreType, Timestamp};

/// `{ "href": … }`.
#[derive(Serialize)]
pub(super) struct Href {
    pub href: String,
}

/// A list envelope (all five list models share it); the items go under `items_name`.
pub(super) struct ListEnvelope<T> {
    pub items_name: &'static str,
    pub items: Vec<T>,
    pub total_count: usize,
    pub limit: usize,
    pub offset: usize,
    pub first: Href,
    pub last: Href,
    pub previous: Option<Href>,
    pub next: Option<Href>,
}

impl<T: Serialize> Serialize for ListEnvelope<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut map = serializer.serialize_map(None)?;
        map.serialize_entry("total_count", &self.total_count)?;
        map.serialize_entry("limit", &self.limit)?;
        map.serialize_entry("offset", &self.offset)?;
        map.serialize_entry("first", &self.first)?;
        map.serialize_entry("last", &self.last)?;
        if let Some(previous) = &self.previous {
            map.serialize_entry("previous", previous)?;
        }
        if let Some(next) = &self.next {
            map.serialize_entry("next", next)?;
        }
        map.serialize_entry(self.items_name, &self.items)?;
        map.end()
    }
}

#[derive(Serialize)]
pub(super) struct VaultReference<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub href: Link<'a>,
}

#[derive(Serialize)]
pub(super) struct VaultBody<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub description: &'a str,
    pub created_at: Rfc3339Millis,
    pub updated_at: Rfc3339Millis,
    pub created_by: &'a str,
    pub updated_by: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovery_key_label: Option<&'a str>,
    pub href: Link<'a>,
    pub keys_count: usize,
    pub key_templates_count: usize,
    pub keystores_count: usize,
}

#[derive(Serialize)]
pub(super) struct TemplateReference<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub types: Vec<&'static str>,
    pub alignment_status: &'static str,
    pub href: Link<'a>,
}

#[derive(Serialize)]
pub(super) struct TemplateBody<'a> {
    pub vault: VaultReference<'a>,
    pub id: &'a str,
    pub version: u32,
    pub name: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_scheme: Option<&'a str>,
    #[serde(rename = "type")]
    pub types: Vec<&'static str>,
    pub state: &'static str,
    pub keys_count: usize,
    pub key: KeyPropertiesBody<'a>,
    pub description: &'a str,
    pub created_at: Rfc3339Millis,
    pub updated_at: Rfc3339Millis,
    pub created_by: &'a str,
    pub updated_by: &'a str,
    pub keystores: Vec<TemplateKeystoreBody<'a>>,
    pub href: Link<'a>,
    pub managing_systems: Vec<&'static str>,
}

#[derive(Serialize)]
pub(super) struct KeyPropertiesBody<'a> {
    pub size: &'a str,
    pub algorithm: &'static str,
    pub activation_date: &'a str,
    pub expiration_date: &'a str,
    pub state: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deactivate_on_rotation: Option<bool>,
}

#[derive(Serialize)]
pub(super) struct TemplateKeystoreBody<'a> {
    pub group: &'a str,
    #[serde(rename = "type")]
    pub keystore_type: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub naming_scheme: Option<&'a str>,
    #[serde(flatten)]
    pub properties: KeystorePropertiesBody<'a>,
}

/// The type-specific key properties a template's keystore entry carries, copied into each key instance.
#[derive(Serialize)]
pub(super) struct KeystorePropertiesBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_key_protection_level: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_key_purpose: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_kms_algorithm: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_key_protection_level: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_key_operations: Option<&'a [String]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_usage_control: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_key_type: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_key_words: Option<&'a [String]>,
}

impl<'a> KeystorePropertiesBody<'a> {
    fn of(entry: &'a domain::TemplateKeystore) -> Self {
        KeystorePropertiesBody {
            google_key_protection_level: entry.google_key_protection_level.as_deref(),
            google_key_purpose: entry.google_key_purpose.as_deref(),
            google_kms_algorithm: entry.google_kms_algorithm.as_deref(),
            azure_key_protection_level: entry.azure_key_protection_level.as_deref(),
            azure_key_operations: entry.azure_key_operations.as_deref(),
            cca_usage_control: entry.cca_usage_control.as_deref(),
            cca_key_type: entry.cca_key_type.as_deref(),
            cca_key_words: entry.cca_key_words.as_deref(),
        }
    }
}

#[derive(Serialize)]
pub(super) struct KeystoreStatusBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub last_heartbeat: Option<Rfc3339Millis>,
    pub health_status: &'static str,
    pub message: String,
}

/// The flat union keystore model; only the fields of the keystore's own type are emitted.
#[derive(Serialize)]
pub(super) struct KeystoreBody<'a> {
    pub vault: VaultReference<'a>,
    pub id: &'a str,
    pub name: &'a str,
    pub location: &'a str,
    pub description: &'a str,
    pub groups: &'a [String],
    #[serde(rename = "type")]
    pub keystore_type: &'static str,
    pub created_at: Rfc3339Millis,
    pub updated_at: Rfc3339Millis,
    pub created_by: &'a str,
    pub updated_by: &'a str,
    pub href: Link<'a>,
    pub status: KeystoreStatusBody,
    pub tls_proxy: &'a str,
    #[serde(flatten)]
    pub connection: ConnectionBody<'a>,
}

/// Type-specific keystore fields with secrets masked.
#[derive(Serialize, Default)]
pub(super) struct ConnectionBody<'a> {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_region: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_access_key_id: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub aws_secret_access_key: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_name: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_resource_group: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_principal_client_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_service_principal_password: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_subscription_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_environment: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub azure_variant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_credentials: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_location: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_project_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_private_key_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub google_key_ring: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_api_endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_iam_endpoint: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_api_key: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_instance_id: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_variant: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ibm_key_ring: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_use_tls: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_trusted_issuer: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_host: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_port: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cca_public_key_hash: Option<&'a str>,
}

#[derive(Serialize)]
pub(super) struct TargetKeystoreReference<'a> {
    pub id: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub keystore_type: &'static str,
    pub href: Link<'a>,
}

#[derive(Serialize)]
pub(super) struct TagBody<'a> {
    pub name: &'a str,
    pub value: &'a str,
}

#[derive(Serialize)]
pub(super) struct VerificationPattern {
    pub method: &'static str,
    pub value: String,
}

#[derive(Serialize)]
pub(super) struct InstanceInKeystore<'a> {
    pub group: &'a str,
    #[serde(rename = "type")]
    pub keystore_type: &'static str,
}

#[derive(Serialize)]
pub(super) struct KeyInstanceBody<'a> {
    pub id: &'a str,
    pub label_in_keystore: &'a str,
    #[serde(rename = "type")]
    pub instance_type: &'static str,
    pub keystore: InstanceInKeystore<'a>,
    #[serde(flatten)]
    pub properties: KeystorePropertiesBody<'a>,
}

#[derive(Serialize)]
pub(super) struct InstanceReference<'a> {
    pub id: &'a str,
}

#[derive(Serialize)]
pub(super) struct EmbeddedApiError {
    pub status_code: u16,
    pub trace: String,
    pub errors: [EmbeddedErrorModel; 1],
}

#[derive(Serialize)]
pub(super) struct EmbeddedErrorModel {
    pub code: &'static str,
    pub message: String,
    pub more_info: &'static str,
}

#[derive(Serialize)]
pub(super) struct StatusInKeystoreBody<'a> {
    pub keystore: TargetKeystoreReference<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance: Option<InstanceReference<'a>>,
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destruction_policy_duration: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub destruction_at: Option<Rfc3339Millis>,
    pub keystore_sync_flag: &'static str,
    pub keystore_sync_flag_detail: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<EmbeddedApiError>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub key_id_in_keystore: Option<&'a str>,
}

/// `{ "status_in_keystores": [...] }`.
#[derive(Serialize)]
pub(super) struct StatusInKeystoresBody<'a> {
    pub status_in_keystores: Vec<StatusInKeystoreBody<'a>>,
}

#[derive(Serialize)]
pub(super) struct ManagedKeyBody<'a> {
    pub id: &'a str,
    pub vault: VaultReference<'a>,
    pub template: TemplateReference<'a>,
    pub version: u32,
    pub description: &'a str,
    pub label: &'a str,
    pub state: &'static str,
    pub key_material_present: &'a [&'static str],
    pub size: &'a str,
    pub algorithm: &'static str,
    pub verification_patterns: Vec<VerificationPattern>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub activation_date: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expiration_date: Option<String>,
    pub label_tags: Vec<TagBody<'a>>,
    pub tags: Vec<TagBody<'a>>,
    pub is_rotatable: bool,
    pub created_at: Rfc3339Millis,
    pub updated_at: Rfc3339Millis,
    pub created_by: &'a str,
    pub updated_by: &'a str,
    pub referenced_keystores: Vec<TargetKeystoreReference<'a>>,
    pub instances: Vec<KeyInstanceBody<'a>>,
    pub href: Link<'a>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotated_at: Option<Rfc3339Millis>,
    pub status_in_keystores: Vec<StatusInKeystoreBody<'a>>,
    pub deactivate_on_rotation: bool,
    pub managing_systems: Vec<&'static str>,
}

#[derive(Serialize)]
pub(super) struct AssociatedResourceBody<'a> {
    pub id: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub vault: Option<VaultReference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub managed_key: Option<ManagedKeyReference<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub referenced_keystore: Option<TargetKeystoreReference<'a>>,
    pub key_id_in_keystore: &'a str,
    pub name: &'a str,
    #[serde(rename = "type")]
    pub resource_type: &'a str,
    pub com_ibm_cloud_kms_registration: RegistrationBody<'a>,
}

#[derive(Serialize)]
pub(super) struct ManagedKeyReference<'a> {
    pub id: &'a str,
    pub label: &'a str,
    pub href: Link<'a>,
}

#[derive(Serialize)]
pub(super) struct RegistrationBody<'a> {
    pub prevents_key_deletion: bool,
    pub service_name: &'a str,
    pub service_instance_name: &'a str,
    pub crn: &'a str,
    pub description: &'a str,
}

/// Builds absolute hrefs under one API root.
#[derive(Clone, Debug)]
pub(super) struct Links<'a> {
    pub api_base: &'a str,
}

impl<'a> Links<'a> {
    pub(super) fn vault(&self, id: &'a str) -> Link<'a> {
        Link { api_base: self.api_base, collection: "vaults", id }
    }
    pub(super) fn template(&self, id: &'a str) -> Link<'a> {
        Link { api_base: self.api_base, collection: "templates", id }
    }
    pub(super) fn keystore(&self, id: &'a str) -> Link<'a> {
        Link { api_base: self.api_base, collection: "keystores", id }
    }
    pub(super) fn managed_key(&self, id: &'a str) -> Link<'a> {
        Link { api_base: self.api_base, collection: "managed_keys", id }
    }
}

/// An `href` (`{api_base}/{collection}/{id}`), written straight into the body that shows it: a body
/// carries up to a dozen, and a `String` each was a good part of rendering one.
#[derive(Clone, Copy, Debug)]
pub(super) struct Link<'a> {
    api_base: &'a str,
    collection: &'static str,
    id: &'a str,
}

impl std::fmt::Display for Link<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.api_base)?;
        f.write_str("/")?;
        f.write_str(self.collection)?;
        f.write_str("/")?;
        f.write_str(self.id)
    }
}

impl Serialize for Link<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

fn time(timestamp: Timestamp) -> Rfc3339Millis {
    timestamp.rfc3339_millis()
}

fn vault_reference<'a>(id: &'a str, name: &'a str, links: &Links<'a>) -> VaultReference<'a> {
    VaultReference { id, name, href: links.vault(id) }
}

fn keystore_reference<'a>(keystore: &'a KeystoreName, links: &Links<'a>) -> TargetKeystoreReference<'a> {
    TargetKeystoreReference {
        id: &keystore.id,
        name: &keystore.name,
        keystore_type: keystore.keystore_type.as_str(),
        href: links.keystore(&keystore.id),
    }
}

/// Renders a vault with its counters.
pub(super) fn vault<'a>(view: &'a VaultView, links: &Links<'a>) -> VaultBody<'a> {
    let vault = &view.vault;
    VaultBody {
        id: &vault.id,
        name: &vault.name,
        description: &vault.description,
        created_at: time(vault.created_at),
        updated_at: time(vault.updated_at),
        created_by: &vault.created_by,
        updated_by: &vault.updated_by,
        recovery_key_label: vault.recovery_key_label.as_deref(),
        href: links.vault(&vault.id),
        keys_count: view.keys_count,
        key_templates_count: view.key_templates_count,
        keystores_count: view.keystores_count,
    }
}

fn template_keystore(entry: &domain::TemplateKeystore) -> TemplateKeystoreBody<'_> {
    TemplateKeystoreBody {
        group: &entry.group,
        keystore_type: entry.keystore_type.as_str(),
        naming_scheme: entry.naming_scheme.as_deref(),
        properties: KeystorePropertiesBody::of(entry),
    }
}

/// Renders a key template.
pub(super) fn template<'a>(view: &'a TemplateView, links: &Links<'a>) -> TemplateBody<'a> {
    let template = &view.template;
    TemplateBody {
        vault: vault_reference(&template.vault_id, &view.vault_name, links),
        id: &template.id,
        version: template.version,
        name: &template.name,
        naming_scheme: template.naming_scheme.as_deref(),
        types: template.types.iter().map(|t| t.as_str()).collect(),
        state: template.state.as_str(),
        keys_count: view.keys_count,
        key: KeyPropertiesBody {
            size: &template.key.size,
            algorithm: template.key.algorithm.as_str(),
            activation_date: &template.key.activation_date,
            expiration_date: &template.key.expiration_date,
            state: template.key.state.as_str(),
            deactivate_on_rotation: template.key.deactivate_on_rotation,
        },
        description: &template.description,
        created_at: time(template.created_at),
        updated_at: time(template.updated_at),
        created_by: &template.created_by,
        updated_by: &template.updated_by,
        keystores: template.keystores.iter().map(template_keystore).collect(),
        href: links.template(&template.id),
        managing_systems: template.managing_systems.iter().map(|m| m.as_str()).collect(),
    }
}

/// Renders a keystore with its embedded health.
pub(super) fn keystore<'a>(view: &'a KeystoreView, links: &Links<'a>) -> KeystoreBody<'a> {
    let keystore = &view.keystore;
    let c = &keystore.connection;
    let connection = match keystore.keystore_type {
        KeystoreType::AwsKms => ConnectionBody {
            aws_region: Some(c.aws_region.as_deref().unwrap_or("")),
            aws_access_key_id: Some(""),
            aws_secret_access_key: Some(""),
            ..ConnectionBody::default()
        },
        KeystoreType::AzureKeyVault => ConnectionBody {
            azure_service_name: Some(c.azure_service_name.as_deref().unwrap_or("")),
            azure_resource_group: Some(c.azure_resource_group.as_deref().unwrap_or("")),
            azure_location: Some(c.azure_location.as_deref().unwrap_or("")),
            azure_service_principal_client_id: Some(c.azure_service_principal_client_id.as_deref().unwrap_or("")),
            azure_service_principal_password: Some("***"),
            azure_tenant: Some(c.azure_tenant.as_deref().unwrap_or("")),
            azure_subscription_id: Some(c.azure_subscription_id.as_deref().unwrap_or("")),
            azure_environment: Some(c.azure_environment.as_deref().unwrap_or("azure")),
            azure_variant: c.azure_variant.as_deref(),
            ..ConnectionBody::default()
        },
        KeystoreType::GoogleKms => ConnectionBody {
            google_credentials: Some(""),
            google_location: Some(c.google_location.as_deref().unwrap_or("")),
            google_project_id: c.google_project_id.as_deref(),
            google_private_key_id: c.google_private_key_id.as_deref(),
            google_key_ring: Some(c.google_key_ring.as_deref().unwrap_or("")),
            ..ConnectionBody::default()
        },
        KeystoreType::IbmCloudKms => ConnectionBody {
            ibm_api_endpoint: Some(c.ibm_api_endpoint.as_deref().unwrap_or("")),
            ibm_iam_endpoint: Some(c.ibm_iam_endpoint.as_deref().unwrap_or("")),
            ibm_api_key: Some(""),
            ibm_instance_id: Some(c.ibm_instance_id.as_deref().unwrap_or("")),
            ibm_variant: c.ibm_variant.map(|v| v.as_str()),
            ibm_key_ring: c.ibm_key_ring.as_deref(),
            ..ConnectionBody::default()
        },
        KeystoreType::Cca => ConnectionBody {
            cca_use_tls: Some(c.cca_use_tls.unwrap_or(false)),
            cca_trusted_issuer: c.cca_trusted_issuer.as_deref(),
            cca_host: Some(c.cca_host.as_deref().unwrap_or("")),
            cca_port: Some(c.cca_port.unwrap_or(0)),
            cca_public_key_hash: Some(c.cca_public_key_hash.as_deref().unwrap_or("")),
            ..ConnectionBody::default()
        },
    };
    KeystoreBody {
        vault: vault_reference(&keystore.vault_id, &view.vault_name, links),
        id: &keystore.id,
        name: &keystore.name,
        location: &keystore.location,
        description: &keystore.description,
        groups: &keystore.groups,
        keystore_type: keystore.keystore_type.as_str(),
        created_at: time(keystore.created_at),
        updated_at: time(keystore.updated_at),
        created_by: &keystore.created_by,
        updated_by: &keystore.updated_by,
        href: links.keystore(&keystore.id),
        status: keystore_status(&view.health),
        tls_proxy: keystore.tls_proxy.as_deref().unwrap_or(""),
        connection,
    }
}

/// Renders a keystore health (GetKeystoreStatus and the embedded `status`).
pub(super) fn keystore_status(health: &KeystoreHealth) -> KeystoreStatusBody {
    KeystoreStatusBody {
        last_heartbeat: health.last_heartbeat.map(time),
        health_status: health.health_status.as_str(),
        message: health.message.clone(),
    }
}

/// Renders `status_in_keystores` entries; `trace` fills the embedded errors.
pub(super) fn status_entries<'a>(
    statuses: &'a [StatusView],
    links: &Links<'a>,
    trace: &str,
) -> Vec<StatusInKeystoreBody<'a>> {
    statuses
        .iter()
        .map(|StatusView { entry, keystore }| StatusInKeystoreBody {
            keystore: TargetKeystoreReference {
                id: &entry.keystore_id,
                name: keystore.as_ref().map(|k| k.name.as_str()).unwrap_or_default(),
                keystore_type: keystore.as_ref().map(|k| k.keystore_type.as_str()).unwrap_or("ibm_cloud_kms"),
                href: links.keystore(&entry.keystore_id),
            },
            instance: entry.instance_id.as_deref().map(|id| InstanceReference { id }),
            status: entry.status.as_str(),
            destruction_policy_duration: entry.destruction_policy_duration.as_deref(),
            destruction_at: entry.destruction_at.map(time),
            keystore_sync_flag: entry.sync_flag.as_str(),
            keystore_sync_flag_detail: entry.detail.as_str(),
            error: entry.error.as_ref().map(|failure| EmbeddedApiError {
                status_code: failure.status_code,
                trace: trace.to_owned(),
                errors: [EmbeddedErrorModel {
                    code: failure.code,
                    message: failure.message.clone(),
                    more_info: crate::web::error::MORE_INFO,
                }],
            }),
            key_id_in_keystore: entry.key_id_in_keystore.as_deref(),
        })
        .collect()
}

/// Renders a managed key, or one version of it for an entry of the versions list.
pub(super) fn managed_key<'a>(view: &'a KeyView, links: &Links<'a>, trace: &str) -> ManagedKeyBody<'a> {
    let key = &*view.key;
    let current = key.current_version();
    let version = view.version.and_then(|n| key.versions.iter().find(|v| v.version == n));
    let shown = version.or(current);
    let state = match version {
        Some(v) if Some(v.version) != current.map(|c| c.version) => v.state.unwrap_or(key.state),
        _ => key.state,
    };
    let material = shown.map(|v| v.material.as_str()).unwrap_or("");
    ManagedKeyBody {
        id: &key.id,
        vault: vault_reference(&key.vault_id, &view.vault_name, links),
        template: TemplateReference {
            id: &key.template_id,
            name: view.template.as_ref().map(|t| t.name.as_str()).unwrap_or(""),
            types: view.template.as_ref().map(|t| t.types.iter().map(|ty| ty.as_str()).collect()).unwrap_or_default(),
            alignment_status: view.alignment_status.as_str(),
            href: links.template(&key.template_id),
        },
        version: shown.map(|v| v.version).unwrap_or(1),
        description: &key.description,
        label: &key.label,
        state: state.as_str(),
        key_material_present: &view.key_material_present,
        size: &key.size,
        algorithm: key.algorithm.as_str(),
        verification_patterns: vec![verification_pattern(key.algorithm, material)],
        activation_date: key.activation_date.map(domain::clock::format_date),
        expiration_date: key.expiration_date.map(domain::clock::format_date),
        label_tags: key.label_tags.iter().map(|t| TagBody { name: &t.name, value: &t.value }).collect(),
        tags: key.tags.iter().map(|t| TagBody { name: &t.name, value: &t.value }).collect(),
        is_rotatable: key.is_rotatable,
        // A version entry shows when its material was created; the key itself keeps its creation time
        // (the one `created_at` filters and sorting use), also after a rotation.
        created_at: time(version.map(|v| v.created_at).unwrap_or(key.created_at)),
        updated_at: time(key.updated_at),
        created_by: &key.created_by,
        updated_by: &key.updated_by,
        referenced_keystores: view.referenced_keystores.iter().map(|k| keystore_reference(k, links)).collect(),
        instances: key
            .instances
            .iter()
            .map(|i| KeyInstanceBody {
                id: &i.id,
                label_in_keystore: &i.label_in_keystore,
                instance_type: i.instance_type.as_str(),
                keystore: InstanceInKeystore {
                    group: &i.keystore.group,
                    keystore_type: i.keystore.keystore_type.as_str(),
                },
                properties: KeystorePropertiesBody::of(&i.keystore),
            })
            .collect(),
        href: links.managed_key(&key.id),
        rotated_at: key.rotated_at.map(time),
        status_in_keystores: status_entries(&view.statuses, links, trace),
        deactivate_on_rotation: key.deactivate_on_rotation,
        managing_systems: key.managing_systems.iter().map(|m| m.as_str()).collect(),
    }
}

/// The key check value: `ENC-ZERO` (6 hex digits) for symmetric keys, `PUB-HASH-SHA-1` (40) for key pairs.
fn verification_pattern(algorithm: domain::Algorithm, material: &str) -> VerificationPattern {
    use domain::Algorithm::*;
    let repeated: String = material.chars().cycle().take(40).collect();
    match algorithm {
        Aes | Des | Hmac => VerificationPattern { method: "ENC-ZERO", value: repeated.chars().take(6).collect() },
        Rsa | Ec | Dilithium => VerificationPattern { method: "PUB-HASH-SHA-1", value: repeated },
    }
}

/// Renders one associated resource.
pub(super) fn associated_resource<'a>(view: &'a ResourceView, links: &Links<'a>) -> AssociatedResourceBody<'a> {
    let resource = &view.resource;
    AssociatedResourceBody {
        id: &resource.id,
        vault: view.key.as_ref().map(|k| vault_reference(&k.vault_id, &k.vault_name, links)),
        managed_key: view.key.as_ref().map(|k| ManagedKeyReference {
            id: &k.id,
            label: &k.label,
            href: links.managed_key(&k.id),
        }),
        referenced_keystore: view.keystore.as_ref().map(|k| keystore_reference(k, links)),
        key_id_in_keystore: &view.key_id_in_keystore,
        name: &resource.name,
        resource_type: &resource.resource_type,
        com_ibm_cloud_kms_registration: RegistrationBody {
            prevents_key_deletion: resource.registration.prevents_key_deletion,
            service_name: &resource.registration.service_name,
            service_instance_name: &resource.registration.service_instance_name,
            crn: &resource.registration.crn,
            description: &resource.registration.description,
        },
    }
}
