//! Keystore operations (`uko-semantics.md` §7): typed create with credential checks and the internal
//! keystore limit, update with locked identity fields, delete modes, health.

use serde::Deserialize;

use super::error::{Error, ResourceKind, Result};
use super::model::{CopyState, Keystore, KeystoreConnection, KeystoreSimulation};
use super::templates::VaultReferenceInput;
use super::types::*;
use super::{check_if_match, validate, IfMatch, Instance};

/// Body of CreateKeystore / UpdateKeystore: the flat union of every variant's fields.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct KeystoreInput {
    #[serde(rename = "type")]
    pub keystore_type: Option<KeystoreType>,
    pub vault: Option<VaultReferenceInput>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub groups: Option<Vec<String>>,
    pub tls_proxy: Option<String>,
    #[serde(flatten)]
    pub connection: KeystoreConnection,
}

/// Health of a keystore as GetKeystoreStatus reports it.
#[derive(Clone, Debug, PartialEq)]
pub struct KeystoreHealth {
    pub health_status: HealthStatus,
    pub message: String,
    pub last_heartbeat: Option<super::Timestamp>,
}

/// Required connection fields per variant (`uko-models.md` §4.3).
fn required_connection_fields(keystore_type: KeystoreType, variant: Option<IbmVariant>) -> &'static [&'static str] {
    match (keystore_type, variant) {
        (KeystoreType::AwsKms, _) => &["aws_region", "aws_access_key_id", "aws_secret_access_key"],
        (KeystoreType::AzureKeyVault, _) => &[
            "azure_service_name",
            "azure_resource_group",
            "azure_service_principal_client_id",
            "azure_service_principal_password",
            "azure_tenant",
            "azure_subscription_id",
        ],
        (KeystoreType::GoogleKms, _) => &["google_credentials"],
        (KeystoreType::IbmCloudKms, Some(IbmVariant::Internal)) => &[],
        (KeystoreType::IbmCloudKms, _) => &["ibm_api_endpoint", "ibm_iam_endpoint", "ibm_api_key", "ibm_instance_id"],
        (KeystoreType::Cca, _) => &["cca_host", "cca_port", "cca_public_key_hash"],
    }
}

/// Fields that identify the remote keystore and cannot change after connection (ARCHITECTURE.md, Decisions).
const LOCKED_FIELDS: &[&str] = &[
    "aws_region",
    "azure_service_name",
    "azure_resource_group",
    "azure_subscription_id",
    "azure_tenant",
    "google_project_id",
    "google_location",
    "google_key_ring",
    "google_private_key_id",
    "ibm_api_endpoint",
    "ibm_iam_endpoint",
    "ibm_instance_id",
    "ibm_variant",
];

impl Instance {
    /// CreateKeystore. With `dry_run` the keystore is validated and returned but not stored.
    pub fn create_keystore(&mut self, input: KeystoreInput, dry_run: bool) -> Result<Keystore> {
        let keystore_type = input.keystore_type.ok_or_else(|| Error::missing_field("type"))?;
        let vault_id = input.vault.as_ref().ok_or_else(|| Error::missing_field("vault"))?;
        let vault_id = validate::required("vault.id", &vault_id.id)?.to_owned();
        let variant = input.connection.ibm_variant;
        if keystore_type == KeystoreType::IbmCloudKms && variant.is_none() {
            return Err(Error::missing_field("ibm_variant"));
        }
        // Azure's create model is the one variant where `name` is optional: the Key Vault name stands in.
        let name = match (&input.name, keystore_type) {
            (Some(name), _) => name.clone(),
            (None, KeystoreType::AzureKeyVault) => input.connection.azure_service_name.clone().unwrap_or_default(),
            (None, _) => return Err(Error::missing_field("name")),
        };
        for field in required_connection_fields(keystore_type, variant) {
            if connection_field(&input.connection, field).is_none_or(|v| v.is_empty()) {
                return Err(Error::missing_field(*field));
            }
        }
        validate::keystore_name("name", &name)?;
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        check_connection_values(keystore_type, &input.connection)?;
        let groups = input.groups.clone().unwrap_or_else(|| vec![name.clone()]);
        validate::groups("groups", &groups)?;
        self.vault(&vault_id)?;
        let is_internal = keystore_type == KeystoreType::IbmCloudKms && variant == Some(IbmVariant::Internal);
        if is_internal && !dry_run {
            let internal_count = self.keystores.values().filter(|k| k.is_internal()).count();
            if internal_count >= self.settings.internal_keystore_limit {
                return Err(Error::Conflict {
                    message: format!(
                        "The operation on the keystore has failed. An instance can hold at most {} internal keystores.",
                        self.settings.internal_keystore_limit
                    ),
                });
            }
        }
        let mut connection = input.connection;
        if is_internal {
            connection.ibm_instance_id = Some(self.id.clone());
        }
        let location = match keystore_type {
            KeystoreType::AwsKms => connection.aws_region.clone().unwrap_or_default(),
            KeystoreType::AzureKeyVault => connection.azure_location.clone().unwrap_or_default(),
            KeystoreType::GoogleKms => connection.google_location.clone().unwrap_or_default(),
            KeystoreType::IbmCloudKms if is_internal => self.settings.region.clone(),
            KeystoreType::IbmCloudKms | KeystoreType::Cca => String::new(),
        };
        let id = self.new_id();
        let now = if dry_run { self.clock.now() } else { self.clock.stamp() };
        let keystore = Keystore {
            id: id.clone(),
            vault_id,
            name,
            description: input.description.unwrap_or_default(),
            groups,
            keystore_type,
            location,
            tls_proxy: input.tls_proxy,
            created_at: now,
            updated_at: now,
            created_by: self.settings.actor.clone(),
            updated_by: self.settings.actor.clone(),
            connection,
            simulation: KeystoreSimulation { last_heartbeat: Some(now), ..KeystoreSimulation::default() },
        };
        if !dry_run {
            self.keystores.insert(id, keystore.clone());
        }
        Ok(keystore)
    }

    /// UpdateKeystore: name, description, groups, TLS proxy and credentials; identity fields are locked.
    pub fn update_keystore(&mut self, id: &str, if_match: Option<&IfMatch>, input: KeystoreInput) -> Result<&Keystore> {
        let current = self.keystore(id)?.clone();
        check_if_match(if_match, current.updated_at, self.settings.if_match_wildcard)?;
        if input.keystore_type.is_some_and(|t| t != current.keystore_type) {
            return Err(Error::invalid_field("type", "The type of a keystore cannot be changed"));
        }
        if input.vault.as_ref().and_then(|v| v.id.as_deref()).is_some_and(|v| v != current.vault_id) {
            return Err(Error::invalid_field("vault.id", "The vault of a keystore cannot be changed"));
        }
        for field in LOCKED_FIELDS {
            let requested = connection_field(&input.connection, field);
            if requested.is_some() && requested != connection_field(&current.connection, field) {
                return Err(Error::invalid_field(
                    *field,
                    format!("The {field} field identifies the keystore and cannot be changed"),
                ));
            }
        }
        check_connection_values(current.keystore_type, &input.connection)?;
        let mut updated = current;
        if let Some(name) = input.name {
            validate::keystore_name("name", &name)?;
            updated.name = name;
        }
        if let Some(description) = input.description {
            validate::description("description", &description)?;
            updated.description = description;
        }
        if let Some(groups) = input.groups {
            validate::groups("groups", &groups)?;
            updated.groups = groups;
        }
        if input.tls_proxy.is_some() {
            updated.tls_proxy = input.tls_proxy;
        }
        merge_connection(&mut updated.connection, input.connection);
        updated.updated_at = self.clock.stamp();
        updated.updated_by = self.settings.actor.clone();
        let slot = self.keystores.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::Keystore, id))?;
        *slot = updated;
        Ok(slot)
    }

    /// DeleteKeystore with a `mode` (`uko-semantics.md` §7.4; semantics inferred, see ARCHITECTURE.md).
    pub fn delete_keystore(&mut self, id: &str, if_match: Option<&IfMatch>, mode: DeleteKeystoreMode) -> Result<()> {
        let keystore = self.keystore(id)?;
        check_if_match(if_match, keystore.updated_at, self.settings.if_match_wildcard)?;
        // Copies whose destruction period has ended are gone (reads settle them too); they must not block.
        self.settle_pending_destructions();
        let keystore = self.keystore(id)?;
        let is_internal = keystore.is_internal();
        let linked: Vec<String> = self
            .managed_keys
            .values()
            .filter(|k| k.referenced_keystores.iter().any(|r| r == id))
            .map(|k| k.id.clone())
            .collect();
        if mode == DeleteKeystoreMode::Restrict {
            let blocking =
                linked.iter().filter_map(|key_id| self.managed_keys.get(key_id)).any(|key| match key.state {
                    KeyState::Active | KeyState::Deactivated => true,
                    KeyState::Destroyed if is_internal => keystore.simulation.copies.contains_key(&key.id),
                    _ => false,
                });
            if blocking {
                return Err(Error::Conflict {
                    message: format!(
                        "The service was not able to delete keystore '{}' because it still contains some keys.",
                        keystore.name
                    ),
                });
            }
        }
        let now = self.clock.now();
        let mut removed = self.keystores.remove(id).ok_or_else(|| Error::not_found(ResourceKind::Keystore, id))?;
        match mode {
            DeleteKeystoreMode::Deactivate => {
                for copy in removed.simulation.copies.values_mut() {
                    if copy.state == CopyState::Active {
                        copy.state = CopyState::Inactive;
                    }
                }
            }
            DeleteKeystoreMode::Destroy => {
                let period = pending_destruction_seconds(removed.keystore_type);
                let at = now.plus_seconds(period);
                for (key_id, copy) in &mut removed.simulation.copies {
                    copy.state = CopyState::PendingDestruction;
                    copy.destruction_at = Some(at);
                    self.pending_destructions.note(at, id, key_id);
                }
            }
            DeleteKeystoreMode::Restrict | DeleteKeystoreMode::Disconnect => {}
        }
        for key_id in &linked {
            if let Some(key) = self.managed_keys.get_mut(key_id) {
                key.referenced_keystores.retain(|r| r != id);
                if !key.removed_keystores.iter().any(|r| r == id) {
                    key.removed_keystores.push(id.to_owned());
                }
            }
        }
        self.associated_resources.retain(|r| r.keystore_id != id);
        self.removed_keystores.insert(id.to_owned(), removed);
        Ok(())
    }

    /// GetKeystoreStatus: one health probe of the keystore.
    pub fn keystore_status(&mut self, id: &str) -> Result<KeystoreHealth> {
        self.keystore(id)?;
        let reachable = self.probe_keystore(id);
        Ok(keystore_health(self.keystore(id)?, reachable))
    }

    /// Health as a GET or a list shows it, without counting a call against the keystore.
    pub fn peek_keystore_health(&self, keystore: &Keystore) -> KeystoreHealth {
        keystore_health(keystore, self.peek_reachable(keystore))
    }
}

/// A keystore's health given whether the call to it got through. A configuration error is told apart
/// first: the call fails for it too, but the keystore did answer.
pub fn keystore_health(keystore: &Keystore, reachable: bool) -> KeystoreHealth {
    let (health_status, message) = if keystore.simulation.configuration_error {
        (
            HealthStatus::ConfigurationError,
            format!("The keystore '{}' rejected the connection data (credentials or configuration).", keystore.name),
        )
    } else if !reachable {
        (HealthStatus::NotResponding, format!("The keystore '{}' did not respond.", keystore.name))
    } else {
        (HealthStatus::Ok, "Ping executed successfully.".to_owned())
    };
    KeystoreHealth { health_status, message, last_heartbeat: keystore.simulation.last_heartbeat }
}

/// The pending-deletion window of each keystore type (`uko-semantics.md` §13), in seconds.
pub fn pending_destruction_seconds(keystore_type: KeystoreType) -> i64 {
    const DAY: i64 = 86_400;
    match keystore_type {
        KeystoreType::AwsKms => 7 * DAY,
        KeystoreType::AzureKeyVault => 90 * DAY,
        KeystoreType::GoogleKms | KeystoreType::IbmCloudKms => 30 * DAY,
        KeystoreType::Cca => 0,
    }
}

/// Reads a string-like connection field by wire name (ports and booleans rendered as text).
pub fn connection_field(connection: &KeystoreConnection, field: &str) -> Option<String> {
    let text = |value: &Option<String>| value.clone();
    match field {
        "aws_region" => text(&connection.aws_region),
        "aws_access_key_id" => text(&connection.aws_access_key_id),
        "aws_secret_access_key" => text(&connection.aws_secret_access_key),
        "azure_service_name" => text(&connection.azure_service_name),
        "azure_resource_group" => text(&connection.azure_resource_group),
        "azure_location" => text(&connection.azure_location),
        "azure_service_principal_client_id" => text(&connection.azure_service_principal_client_id),
        "azure_service_principal_password" => text(&connection.azure_service_principal_password),
        "azure_tenant" => text(&connection.azure_tenant),
        "azure_subscription_id" => text(&connection.azure_subscription_id),
        "azure_environment" => text(&connection.azure_environment),
        "google_credentials" => text(&connection.google_credentials),
        "google_location" => text(&connection.google_location),
        "google_project_id" => text(&connection.google_project_id),
        "google_private_key_id" => text(&connection.google_private_key_id),
        "google_key_ring" => text(&connection.google_key_ring),
        "ibm_api_endpoint" => text(&connection.ibm_api_endpoint),
        "ibm_iam_endpoint" => text(&connection.ibm_iam_endpoint),
        "ibm_api_key" => text(&connection.ibm_api_key),
        "ibm_instance_id" => text(&connection.ibm_instance_id),
        "ibm_variant" => connection.ibm_variant.map(|v| v.as_str().to_owned()),
        "ibm_key_ring" => text(&connection.ibm_key_ring),
        "cca_host" => text(&connection.cca_host),
        "cca_port" => connection.cca_port.map(|p| p.to_string()),
        "cca_public_key_hash" => text(&connection.cca_public_key_hash),
        _ => None,
    }
}

fn check_connection_values(keystore_type: KeystoreType, connection: &KeystoreConnection) -> Result<()> {
    const ENVIRONMENTS: &[&str] = &["azure", "azure_china", "azure_germany", "azure_us_government"];
    if let Some(environment) = &connection.azure_environment {
        if !ENVIRONMENTS.contains(&environment.as_str()) {
            return Err(Error::invalid_field(
                "azure_environment",
                format!(
                    "The azure_environment field must be one of {}, found '{environment}'",
                    ENVIRONMENTS.join(", ")
                ),
            ));
        }
    }
    if let Some(name) = &connection.azure_service_name {
        let valid = (3..=24).contains(&name.len()) && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if keystore_type == KeystoreType::AzureKeyVault && !valid {
            return Err(Error::invalid_field(
                "azure_service_name",
                format!("The azure_service_name field must be 3 to 24 letters, digits or '-', found '{name}'"),
            ));
        }
    }
    if let Some(port) = connection.cca_port {
        if !(1..=65_535).contains(&port) {
            return Err(Error::invalid_field(
                "cca_port",
                format!("The cca_port field must be between 1 and 65535, found {port}"),
            ));
        }
    }
    if let Some(ring) = &connection.ibm_key_ring {
        let valid = (2..=100).contains(&ring.len()) && ring.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
        if !valid {
            return Err(Error::invalid_field(
                "ibm_key_ring",
                format!("The ibm_key_ring field must be 2 to 100 letters, digits or '-', found '{ring}'"),
            ));
        }
    }
    if let Some(credentials) = &connection.google_credentials {
        if credentials.len() > 524_288 {
            return Err(Error::invalid_field(
                "google_credentials",
                "The google_credentials field must be at most 524288 characters",
            ));
        }
    }
    Ok(())
}

fn merge_connection(target: &mut KeystoreConnection, update: KeystoreConnection) {
    macro_rules! take {
        ($($field:ident),*) => { $(if update.$field.is_some() { target.$field = update.$field; })* };
    }
    take!(
        aws_region,
        aws_access_key_id,
        aws_secret_access_key,
        azure_service_name,
        azure_resource_group,
        azure_location,
        azure_service_principal_client_id,
        azure_service_principal_password,
        azure_tenant,
        azure_subscription_id,
        azure_environment,
        azure_variant,
        google_credentials,
        google_location,
        google_project_id,
        google_private_key_id,
        google_key_ring,
        ibm_api_endpoint,
        ibm_iam_endpoint,
        ibm_api_key,
        ibm_instance_id,
        ibm_variant,
        ibm_key_ring,
        cca_use_tls,
        cca_trusted_issuer,
        cca_host,
        cca_port,
        cca_public_key_hash
    );
}
