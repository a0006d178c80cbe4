//! The closed vocabularies of UKO v4 (reference `uko-models.md` §9) as Rust enums.
//!
//! Each enum knows its exact wire spelling (`as_str`) and parses it back (`parse`); serde uses the same
//! spelling so fixture files read like API bodies. Nothing here knows about HTTP.

use serde::{Deserialize, Serialize};

/// Declares a string enum with its wire spellings, `as_str`, `parse` and `ALL`.
macro_rules! wire_enum {
    ($(#[$meta:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum $name {
            $(#[serde(rename = $text)] $variant),+
        }

        impl $name {
            /// Every value, in the reference's order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            /// The exact spelling used on the wire.
            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }

            /// Parses the exact wire spelling; anything else is `None`.
            pub fn parse(text: &str) -> Option<Self> {
                match text { $($text => Some($name::$variant),)+ _ => None }
            }

            /// The allowed spellings joined for error messages.
            pub fn expected() -> String {
                Self::ALL.iter().map(|v| v.as_str()).collect::<Vec<_>>().join(", ")
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

wire_enum!(
    /// Target keystore type (§9.1).
    KeystoreType {
        AwsKms => "aws_kms",
        AzureKeyVault => "azure_key_vault",
        Cca => "cca",
        GoogleKms => "google_kms",
        IbmCloudKms => "ibm_cloud_kms",
    }
);

wire_enum!(
    /// Variant of an `ibm_cloud_kms` keystore (§9.2); `internal` is the HPCS instance's own KMS.
    IbmVariant { Hpcs => "hpcs", Internal => "internal", KeyProtect => "key_protect" }
);

wire_enum!(
    /// Managed key lifecycle state (§9.3). The two compromised states are never produced.
    KeyState {
        PreActivation => "pre_activation",
        Active => "active",
        Deactivated => "deactivated",
        Destroyed => "destroyed",
        Compromised => "compromised",
        DestroyedCompromised => "destroyed_compromised",
    }
);

wire_enum!(
    /// Initial state a template gives its keys (§9.4).
    InitialKeyState { Active => "active", PreActivation => "pre_activation" }
);

wire_enum!(
    /// Key algorithm (§9.5).
    Algorithm { Aes => "aes", Des => "des", Dilithium => "dilithium", Ec => "ec", Hmac => "hmac", Rsa => "rsa" }
);

wire_enum!(
    /// Template origin (§9.12).
    TemplateType { UserDefined => "user_defined", Shadow => "shadow", System => "system" }
);

wire_enum!(
    /// Template archive state (§9.12).
    TemplateState { Archived => "archived", Unarchived => "unarchived" }
);

wire_enum!(
    /// Health of a keystore connection (§9.15).
    HealthStatus {
        Ok => "ok",
        NotResponding => "not_responding",
        ConfigurationError => "configuration_error",
        PendingCheck => "pending_check",
    }
);

wire_enum!(
    /// `status` of a key inside one keystore (§9.14).
    StatusInKeystoreStatus {
        Active => "active",
        Error => "error",
        NotActive => "not_active",
        NotPresent => "not_present",
        WrongKey => "wrong_key",
        PendingDestruction => "pending_destruction",
        Unknown => "unknown",
    }
);

wire_enum!(
    /// `keystore_sync_flag` (§9.14).
    SyncFlag { Ok => "ok", OutOfSync => "out_of_sync", Error => "error", VerifyingSync => "verifying_sync" }
);

wire_enum!(
    /// `keystore_sync_flag_detail`: the 14 values of `uko-models.md` §5.5.
    SyncFlagDetail {
        PreActiveKeyIsNotPresentInKeystore => "pre_active_key_is_not_present_in_keystore",
        PreActiveKeyIsPresentInKeystore => "pre_active_key_is_present_in_keystore",
        ActiveKeyIsActiveInKeystore => "active_key_is_active_in_keystore",
        ActiveKeyIsNotActiveInKeystore => "active_key_is_not_active_in_keystore",
        DeactivatedKeyIsDeactivatedInKeystore => "deactivated_key_is_deactivated_in_keystore",
        DeactivatedKeyIsNotDeactivatedInKeystore => "deactivated_key_is_not_deactivated_in_keystore",
        DestroyedKeyIsNotPresentInKeystore => "destroyed_key_is_not_present_in_keystore",
        DestroyedKeyIsPresentInKeystore => "destroyed_key_is_present_in_keystore",
        DestroyedPendingKeyIsPendingDestructionInKeystore => "destroyed_pending_key_is_pending_destruction_in_keystore",
        DestroyedPendingKeyIsNotPresentInKeystore => "destroyed_pending_key_is_not_present_in_keystore",
        TargetKeystoreRemovedByUser => "target_keystore_removed_by_user",
        TargetKeystoreRemovedByUserContainsAnActiveKey => "target_keystore_removed_by_user_contains_an_active_key",
        ConnectionError => "connection_error",
        Unknown => "unknown",
    }
);

wire_enum!(
    /// `mode` of DeleteKeystore (§9.16); semantics in `uko-semantics.md` §7.4.
    DeleteKeystoreMode { Restrict => "restrict", Deactivate => "deactivate", Destroy => "destroy", Disconnect => "disconnect" }
);

wire_enum!(
    /// `managing_systems` (§9.13).
    ManagingSystem { Web => "web", Workstation => "workstation" }
);

wire_enum!(
    /// Key instance type (§9.6).
    KeyInstanceType { KeyPair => "key_pair", PrivateKey => "private_key", PublicKey => "public_key", SecretKey => "secret_key" }
);

wire_enum!(
    /// Template alignment of a key (§9.17, 4.13+).
    AlignmentStatus { Aligned => "aligned", Unaligned => "unaligned" }
);

impl KeyState {
    /// Integer used by IBM's docs (Pre-active 0, Active 1, Deactivated 3, Destroyed 5); used for sorting.
    pub fn ordinal(self) -> u8 {
        match self {
            KeyState::PreActivation => 0,
            KeyState::Active => 1,
            KeyState::Compromised => 2,
            KeyState::Deactivated => 3,
            KeyState::DestroyedCompromised => 4,
            KeyState::Destroyed => 5,
        }
    }
}

impl From<InitialKeyState> for KeyState {
    fn from(state: InitialKeyState) -> Self {
        match state {
            InitialKeyState::Active => KeyState::Active,
            InitialKeyState::PreActivation => KeyState::PreActivation,
        }
    }
}
