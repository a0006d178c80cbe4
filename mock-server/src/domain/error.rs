//! Domain outcomes that are not a success. They carry no HTTP status: `web::error` owns that mapping.

use std::fmt;

/// The kind of resource an error is about; used in messages and for the 404 mapping.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ResourceKind {
    Vault,
    Template,
    Keystore,
    ManagedKey,
    Instance,
    FaultRule,
}

impl ResourceKind {
    /// The word UKO's messages use for this resource.
    pub fn noun(self) -> &'static str {
        match self {
            ResourceKind::Vault => "vault",
            ResourceKind::Template => "key template",
            ResourceKind::Keystore => "keystore",
            ResourceKind::ManagedKey => "managed key",
            ResourceKind::Instance => "instance",
            ResourceKind::FaultRule => "fault rule",
        }
    }
}

/// Where an invalid value was found, so the HTTP layer can fill `errors[].target`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// A body field, as a dot path (`key.size`, `keystores[0].group`).
    Field(String),
    /// A query parameter, by its wire name (`vault.id`, `limit`).
    Parameter(String),
    /// A request header (`If-Match`).
    Header(String),
}

/// Everything a domain operation can refuse.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// The resource addressed (by path or by reference in a body) does not exist.
    NotFound { kind: ResourceKind, id: String },
    /// A resource referenced by name in a body (CreateManagedKey's `template_name`) does not exist.
    NotFoundNamed { kind: ResourceKind, name: String },
    /// A mutation arrived without `If-Match`.
    PreconditionRequired,
    /// `If-Match` does not equal the resource's current ETag.
    PreconditionFailed { given: String, current: String },
    /// A required body field is absent.
    MissingField { field: String },
    /// A value is present but not acceptable.
    Invalid { target: Target, message: String },
    /// The action is not allowed in the resource's current state (wrong key state, archived template…).
    InvalidState { message: String },
    /// The request conflicts with other resources (non-empty vault, duplicate name, limit reached…).
    Conflict { message: String },
    /// A request rate rule refused the action (rotation more than once per hour).
    TooManyRequests { message: String, retry_after_seconds: u64 },
}

impl Error {
    /// Shorthand for an invalid body field.
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { target: Target::Field(field.into()), message: message.into() }
    }

    /// Shorthand for an invalid query parameter.
    pub fn invalid_parameter(name: impl Into<String>, message: impl Into<String>) -> Self {
        Error::Invalid { target: Target::Parameter(name.into()), message: message.into() }
    }

    /// Shorthand for a missing required body field.
    pub fn missing_field(field: impl Into<String>) -> Self {
        Error::MissingField { field: field.into() }
    }

    /// Shorthand for an unknown resource id.
    pub fn not_found(kind: ResourceKind, id: impl fmt::Display) -> Self {
        Error::NotFound { kind, id: id.to_string() }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::NotFound { kind, id } => write!(f, "The {} with id '{}' could not be found", kind.noun(), id),
            Error::NotFoundNamed { kind, name } => write!(f, "The {} named '{}' could not be found", kind.noun(), name),
            Error::PreconditionRequired => {
                f.write_str("The If-Match header is required for this operation: send the ETag of the resource you read")
            }
            Error::PreconditionFailed { given, current } => write!(
                f,
                "The resource was modified since it was read: If-Match '{given}' does not match the current ETag '{current}'; read it again and retry"
            ),
            Error::MissingField { field } => write!(f, "The {field} field is required"),
            Error::Invalid { message, .. }
            | Error::InvalidState { message }
            | Error::Conflict { message }
            | Error::TooManyRequests { message, .. } => f.write_str(message),
        }
    }
}

impl std::error::Error for Error {}

/// Result of a domain operation.
pub type Result<T, E = Error> = std::result::Result<T, E>;
