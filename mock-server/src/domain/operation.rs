//! The 35 UKO v4 operations by their SDK operation names, used by the journal and the fault plan.

use serde::{Deserialize, Serialize};

/// Declares the operation enum with its SDK names.
macro_rules! operations {
    ($($variant:ident => $mutates:literal),+ $(,)?) => {
        /// A UKO v4 operation (the SDK's `operationId`).
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
        pub enum Operation {
            $($variant),+
        }

        impl Operation {
            /// Every operation, in the reference's order.
            pub const ALL: &'static [Operation] = &[$(Operation::$variant),+];

            /// The SDK name, e.g. `SyncManagedKey`.
            pub fn name(self) -> &'static str {
                match self { $(Operation::$variant => stringify!($variant)),+ }
            }

            /// Parses an SDK name.
            pub fn parse(name: &str) -> Option<Operation> {
                match name { $(stringify!($variant) => Some(Operation::$variant),)+ _ => None }
            }

            /// True for the 17 operations that change state and require `If-Match` (plus the 4 creates).
            pub fn mutates(self) -> bool {
                match self { $(Operation::$variant => $mutates),+ }
            }
        }
    };
}

operations! {
    ListManagedKeys => false,
    CreateManagedKey => true,
    DeleteManagedKey => true,
    GetManagedKey => false,
    UpdateManagedKey => true,
    ListAssociatedResourcesForManagedKey => false,
    ListManagedKeyVersions => false,
    GetKeyDistributionStatusForKeystores => false,
    UpdateManagedKeyFromTemplate => true,
    ActivateManagedKey => true,
    DeactivateManagedKey => true,
    DestroyManagedKey => true,
    SyncManagedKey => true,
    RotateManagedKey => true,
    ListKeyTemplates => false,
    CreateKeyTemplate => true,
    DeleteKeyTemplate => true,
    GetKeyTemplate => false,
    UpdateKeyTemplate => true,
    ArchiveKeyTemplate => true,
    UnarchiveKeyTemplate => true,
    ExposeKeyTemplate => true,
    ListKeystores => false,
    CreateKeystore => true,
    DeleteKeystore => true,
    GetKeystore => false,
    UpdateKeystore => true,
    ListAssociatedResourcesForTargetKeystore => false,
    GetKeystoreStatus => false,
    ListManagedKeysFromKeystore => false,
    ListVaults => false,
    CreateVault => true,
    DeleteVault => true,
    GetVault => false,
    UpdateVault => true,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::Operation;

    #[test]
    fn there_are_35_operations_and_21_mutations() {
        assert_eq!(Operation::ALL.len(), 35);
        assert_eq!(Operation::ALL.iter().filter(|o| o.mutates()).count(), 21);
        assert_eq!(Operation::parse("SyncManagedKey"), Some(Operation::SyncManagedKey));
    }
}
