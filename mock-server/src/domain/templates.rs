//! Key template operations (`uko-semantics.md` §5): create, update (version bump), archive,
//! unarchive, expose, delete when unused.

use serde::Deserialize;

use super::error::{Error, ResourceKind, Result};
use super::model::{KeyProperties, Template, TemplateKeystore};
use super::naming::NamingScheme;
use super::types::*;
use super::{check_if_match, clock::Period, validate, IfMatch, Instance};

/// `{ "id": … }` reference to a vault in request bodies.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct VaultReferenceInput {
    pub id: Option<String>,
}

/// Body of CreateKeyTemplate / UpdateKeyTemplate.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TemplateInput {
    pub vault: Option<VaultReferenceInput>,
    pub name: Option<String>,
    pub key: Option<KeyPropertiesInput>,
    pub keystores: Option<Vec<TemplateKeystoreInput>>,
    pub description: Option<String>,
    pub naming_scheme: Option<String>,
    #[serde(rename = "type")]
    pub types: Option<Vec<TemplateType>>,
    pub state: Option<TemplateState>,
}

/// Template `key` in a request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct KeyPropertiesInput {
    pub size: Option<String>,
    pub algorithm: Option<Algorithm>,
    pub activation_date: Option<String>,
    pub expiration_date: Option<String>,
    pub state: Option<InitialKeyState>,
    pub deactivate_on_rotation: Option<bool>,
}

/// Template `keystores[]` entry in a request.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct TemplateKeystoreInput {
    #[serde(rename = "type")]
    pub keystore_type: Option<KeystoreType>,
    pub group: Option<String>,
    pub naming_scheme: Option<String>,
    pub google_key_protection_level: Option<String>,
    pub google_key_purpose: Option<String>,
    pub google_kms_algorithm: Option<String>,
    pub azure_key_protection_level: Option<String>,
    pub azure_key_operations: Option<Vec<String>>,
    pub cca_usage_control: Option<String>,
    pub cca_key_type: Option<String>,
    pub cca_key_words: Option<Vec<String>>,
}

const PROTECTION_LEVELS: &[&str] = &["hsm", "software"];
const GOOGLE_PURPOSES: &[&str] = &["encrypt_decrypt", "asymmetric_decrypt", "asymmetric_sign", "mac"];
const AZURE_OPERATIONS: &[&str] = &["decrypt", "encrypt", "sign", "unwrap_key", "verify", "wrap_key"];
const CCA_USAGE: &[&str] = &["key_management_only", "signature_and_key_management", "signature_only"];
const CCA_KEY_TYPES: &[&str] = &["cipher", "data", "exporter", "importer"];
const GOOGLE_ALGORITHMS: &[&str] = &[
    "ec_sign_p256_sha256",
    "ec_sign_p384_sha384",
    "ec_sign_secp256k1_sha256",
    "google_symmetric_encryption",
    "hmac_sha256",
    "rsa_decrypt_oaep_2048_sha1",
    "rsa_decrypt_oaep_2048_sha256",
    "rsa_decrypt_oaep_3072_sha1",
    "rsa_decrypt_oaep_3072_sha256",
    "rsa_decrypt_oaep_4096_sha1",
    "rsa_decrypt_oaep_4096_sha256",
    "rsa_decrypt_oaep_4096_sha512",
    "rsa_sign_pkcs1_2048_sha256",
    "rsa_sign_pkcs1_3072_sha256",
    "rsa_sign_pkcs1_4096_sha256",
    "rsa_sign_pkcs1_4096_sha512",
    "rsa_sign_pss_2048_sha256",
    "rsa_sign_pss_3072_sha256",
    "rsa_sign_pss_4096_sha256",
    "rsa_sign_pss_4096_sha512",
    "rsa_sign_raw_pkcs1_2048",
    "rsa_sign_raw_pkcs1_3072",
    "rsa_sign_raw_pkcs1_4096",
];

impl Instance {
    /// CreateKeyTemplate.
    pub fn create_template(&mut self, input: TemplateInput) -> Result<&Template> {
        let vault_id = input.vault.as_ref().ok_or_else(|| Error::missing_field("vault"))?;
        let vault_id = validate::required("vault.id", &vault_id.id)?.to_owned();
        let name = validate::required("name", &input.name)?.to_owned();
        validate::template_name("name", &name)?;
        let key_input = input.key.ok_or_else(|| Error::missing_field("key"))?;
        let keystores_input = input.keystores.ok_or_else(|| Error::missing_field("keystores"))?;
        let key = key_properties(key_input)?;
        let keystores = template_keystores(keystores_input)?;
        if let Some(description) = &input.description {
            validate::description("description", description)?;
        }
        if let Some(scheme) = &input.naming_scheme {
            NamingScheme::parse("naming_scheme", scheme)?;
        }
        self.vault(&vault_id)?;
        self.ensure_unique_template_name(&name, None)?;
        let id = self.new_id();
        let now = self.clock.stamp();
        let template = Template {
            id: id.clone(),
            vault_id,
            version: 0,
            name,
            naming_scheme: input.naming_scheme,
            types: input.types.filter(|t| !t.is_empty()).unwrap_or_else(|| vec![TemplateType::UserDefined]),
            state: input.state.unwrap_or(TemplateState::Unarchived),
            key,
            description: input.description.unwrap_or_default(),
            keystores,
            created_at: now,
            updated_at: now,
            created_by: self.settings.actor.clone(),
            updated_by: self.settings.actor.clone(),
            managing_systems: vec![ManagingSystem::Web],
        };
        Ok(self.templates.entry(id).or_insert(template))
    }

    /// UpdateKeyTemplate: bumps `version`; refused on archived templates. Algorithm, naming scheme and
    /// keystore type cannot change.
    pub fn update_template(&mut self, id: &str, if_match: Option<&IfMatch>, input: TemplateInput) -> Result<&Template> {
        let current = self.template(id)?.clone();
        check_if_match(if_match, current.updated_at, self.settings.if_match_wildcard)?;
        if current.state == TemplateState::Archived {
            return Err(Error::InvalidState {
                message: format!("The key template '{}' is archived; unarchive it before editing", current.name),
            });
        }
        let mut updated = current.clone();
        if let Some(name) = input.name {
            validate::template_name("name", &name)?;
            self.ensure_unique_template_name(&name, Some(id))?;
            updated.name = name;
        }
        if let Some(description) = input.description {
            validate::description("description", &description)?;
            updated.description = description;
        }
        if let Some(key) = input.key {
            if key.algorithm.is_some_and(|a| a != current.key.algorithm) {
                return Err(Error::invalid_field(
                    "key.algorithm",
                    "The key.algorithm of a key template cannot be changed",
                ));
            }
            if let Some(size) = key.size {
                validate::key_size("key.size", &size)?;
                updated.key.size = size;
            }
            if let Some(period) = key.activation_date {
                check_period("key.activation_date", &period)?;
                updated.key.activation_date = period;
            }
            if let Some(period) = key.expiration_date {
                check_period("key.expiration_date", &period)?;
                updated.key.expiration_date = period;
            }
            if let Some(state) = key.state {
                updated.key.state = state;
            }
            if key.deactivate_on_rotation.is_some() {
                updated.key.deactivate_on_rotation = key.deactivate_on_rotation;
            }
        }
        if let Some(entries) = input.keystores {
            if entries.len() != 1 {
                return Err(Error::invalid_field(
                    "keystores",
                    format!("The keystores field must hold exactly 1 item, found {}", entries.len()),
                ));
            }
            for (index, entry) in entries.into_iter().enumerate() {
                let path = format!("keystores[{index}]");
                let target = updated
                    .keystores
                    .get_mut(index)
                    .ok_or_else(|| Error::invalid_field(&path, "No such keystores entry"))?;
                if entry.keystore_type.is_some_and(|t| t != target.keystore_type) {
                    return Err(Error::invalid_field(
                        format!("{path}.type"),
                        "The keystore type of a key template cannot be changed",
                    ));
                }
                if entry.naming_scheme.is_some() && entry.naming_scheme != target.naming_scheme {
                    return Err(Error::invalid_field(
                        format!("{path}.naming_scheme"),
                        "The naming scheme of a key template cannot be changed",
                    ));
                }
                let merged = merge_keystore_entry(target.clone(), entry);
                check_keystore_entry(&path, &merged)?;
                *target = merged;
            }
        }
        if input.naming_scheme.is_some() && input.naming_scheme != current.naming_scheme {
            return Err(Error::invalid_field("naming_scheme", "The naming scheme of a key template cannot be changed"));
        }
        updated.version = current.version.saturating_add(1);
        updated.updated_at = self.clock.stamp();
        updated.updated_by = self.settings.actor.clone();
        let slot = self.templates.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::Template, id))?;
        *slot = updated;
        Ok(slot)
    }

    /// ArchiveKeyTemplate.
    pub fn archive_template(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<&Template> {
        self.change_template_state(id, if_match, TemplateState::Archived)
    }

    /// UnarchiveKeyTemplate.
    pub fn unarchive_template(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<&Template> {
        self.change_template_state(id, if_match, TemplateState::Unarchived)
    }

    /// ExposeKeyTemplate: a shadow template becomes a visible user-defined one.
    pub fn expose_template(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<&Template> {
        let template = self.template(id)?;
        check_if_match(if_match, template.updated_at, self.settings.if_match_wildcard)?;
        if !template.types.contains(&TemplateType::Shadow) {
            return Err(Error::InvalidState {
                message: format!("The key template '{}' is not a shadow template and cannot be exposed", template.name),
            });
        }
        let now = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let template = self.templates.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::Template, id))?;
        template.types = vec![TemplateType::UserDefined];
        template.updated_at = now;
        template.updated_by = actor;
        Ok(template)
    }

    /// DeleteKeyTemplate: only when no managed key (destroyed ones included) was made from it.
    pub fn delete_template(&mut self, id: &str, if_match: Option<&IfMatch>) -> Result<()> {
        let template = self.template(id)?;
        check_if_match(if_match, template.updated_at, self.settings.if_match_wildcard)?;
        let keys = self.template_keys_count(id);
        if keys > 0 {
            return Err(Error::Conflict {
                message: format!(
                    "The service was not able to delete key template '{}' because {keys} managed keys were created from it; destroy and remove them first.",
                    template.name
                ),
            });
        }
        self.templates.remove(id);
        Ok(())
    }

    /// The unarchived template with this name, as CreateManagedKey's `template_name` needs it.
    pub fn template_by_name(&self, name: &str) -> Result<&Template> {
        self.templates
            .values()
            .find(|t| t.name == name)
            .ok_or_else(|| Error::NotFoundNamed { kind: ResourceKind::Template, name: name.to_owned() })
    }

    fn change_template_state(
        &mut self,
        id: &str,
        if_match: Option<&IfMatch>,
        state: TemplateState,
    ) -> Result<&Template> {
        let template = self.template(id)?;
        check_if_match(if_match, template.updated_at, self.settings.if_match_wildcard)?;
        if template.state == state {
            return Err(Error::InvalidState {
                message: format!("The key template '{}' is already {}", template.name, state),
            });
        }
        let now = self.clock.stamp();
        let actor = self.settings.actor.clone();
        let template = self.templates.get_mut(id).ok_or_else(|| Error::not_found(ResourceKind::Template, id))?;
        template.state = state;
        template.updated_at = now;
        template.updated_by = actor;
        Ok(template)
    }

    fn ensure_unique_template_name(&self, name: &str, except: Option<&str>) -> Result<()> {
        let taken = self.templates.values().any(|t| t.name == name && Some(t.id.as_str()) != except);
        if taken {
            return Err(Error::Conflict { message: format!("A key template with the name '{name}' already exists") });
        }
        Ok(())
    }
}

fn key_properties(input: KeyPropertiesInput) -> Result<KeyProperties> {
    let size = validate::required("key.size", &input.size)?.to_owned();
    validate::key_size("key.size", &size)?;
    let algorithm = input.algorithm.ok_or_else(|| Error::missing_field("key.algorithm"))?;
    let activation_date = validate::required("key.activation_date", &input.activation_date)?.to_owned();
    check_period("key.activation_date", &activation_date)?;
    let expiration_date = validate::required("key.expiration_date", &input.expiration_date)?.to_owned();
    check_period("key.expiration_date", &expiration_date)?;
    let state = input.state.ok_or_else(|| Error::missing_field("key.state"))?;
    Ok(KeyProperties {
        size,
        algorithm,
        activation_date,
        expiration_date,
        state,
        deactivate_on_rotation: input.deactivate_on_rotation,
    })
}

fn check_period(field: &str, text: &str) -> Result<()> {
    Period::parse(text).map(|_| ()).ok_or_else(|| {
        Error::invalid_field(
            field,
            format!("The {field} field must be an ISO-8601 period such as P1Y2M1W3D, found '{text}'"),
        )
    })
}

fn template_keystores(entries: Vec<TemplateKeystoreInput>) -> Result<Vec<TemplateKeystore>> {
    if entries.len() != 1 {
        return Err(Error::invalid_field(
            "keystores",
            format!("The keystores field must hold exactly 1 item, found {}", entries.len()),
        ));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let path = format!("keystores[{index}]");
            let keystore_type = entry.keystore_type.ok_or_else(|| Error::missing_field(format!("{path}.type")))?;
            let group = validate::required(&format!("{path}.group"), &entry.group)?.to_owned();
            let built = TemplateKeystore {
                keystore_type,
                group,
                naming_scheme: entry.naming_scheme,
                google_key_protection_level: entry.google_key_protection_level,
                google_key_purpose: entry.google_key_purpose,
                google_kms_algorithm: entry.google_kms_algorithm,
                azure_key_protection_level: entry.azure_key_protection_level,
                azure_key_operations: entry.azure_key_operations,
                cca_usage_control: entry.cca_usage_control,
                cca_key_type: entry.cca_key_type,
                cca_key_words: entry.cca_key_words,
            };
            check_keystore_entry(&path, &built)?;
            Ok(built)
        })
        .collect()
}

fn merge_keystore_entry(mut target: TemplateKeystore, entry: TemplateKeystoreInput) -> TemplateKeystore {
    if let Some(group) = entry.group {
        target.group = group;
    }
    macro_rules! take {
        ($($field:ident),*) => { $(if entry.$field.is_some() { target.$field = entry.$field; })* };
    }
    take!(
        google_key_protection_level,
        google_key_purpose,
        google_kms_algorithm,
        azure_key_protection_level,
        azure_key_operations,
        cca_usage_control,
        cca_key_type,
        cca_key_words
    );
    target
}

fn check_keystore_entry(path: &str, entry: &TemplateKeystore) -> Result<()> {
    validate::group_name(&format!("{path}.group"), &entry.group)?;
    if let Some(scheme) = &entry.naming_scheme {
        NamingScheme::parse(&format!("{path}.naming_scheme"), scheme)?;
    }
    let one_of = |field: &str, value: &Option<String>, allowed: &[&str]| -> Result<()> {
        match value {
            Some(v) if !allowed.contains(&v.as_str()) => Err(Error::invalid_field(
                format!("{path}.{field}"),
                format!("The {path}.{field} field must be one of {}, found '{v}'", allowed.join(", ")),
            )),
            _ => Ok(()),
        }
    };
    one_of("google_key_protection_level", &entry.google_key_protection_level, PROTECTION_LEVELS)?;
    one_of("google_key_purpose", &entry.google_key_purpose, GOOGLE_PURPOSES)?;
    one_of("google_kms_algorithm", &entry.google_kms_algorithm, GOOGLE_ALGORITHMS)?;
    one_of("azure_key_protection_level", &entry.azure_key_protection_level, PROTECTION_LEVELS)?;
    one_of("cca_usage_control", &entry.cca_usage_control, CCA_USAGE)?;
    one_of("cca_key_type", &entry.cca_key_type, CCA_KEY_TYPES)?;
    for (index, operation) in entry.azure_key_operations.iter().flatten().enumerate() {
        if !AZURE_OPERATIONS.contains(&operation.as_str()) {
            return Err(Error::invalid_field(
                format!("{path}.azure_key_operations[{index}]"),
                format!("Azure key operations must be among {}, found '{operation}'", AZURE_OPERATIONS.join(", ")),
            ));
        }
    }
    Ok(())
}
