//! Field constraints of `uko-semantics.md` §13 (names, lengths, patterns), checked before any change.
//!
//! Every check names the field it refused so the HTTP layer can fill `errors[].target`.

use super::error::{Error, Result};

/// Checks a template name: 1–30 characters, `^[A-Za-z][A-Za-z0-9-]*$`.
pub fn template_name(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 30)?;
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphabetic());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(Error::invalid_field(
            field,
            format!(
                "The {field} field must start with a letter and contain only letters, digits and '-', found '{value}'"
            ),
        ));
    }
    Ok(())
}

/// Checks a managed key label: 1–255 characters of `A-Za-z0-9._ /-`.
pub fn key_label(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 255)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric() || "._ /-".contains(c)) {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field may contain only letters, digits, '.', '_', ' ', '/' and '-', found '{value}'"),
        ));
    }
    Ok(())
}

/// Checks a vault name: 1–100 characters, `^[A-Za-z0-9#@!$%'_-][A-Za-z0-9#@!$% '_-]*$`.
pub fn vault_name(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 100)?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "#@!$%'_-".contains(c);
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(allowed);
    if !first_ok || !chars.all(|c| allowed(c) || c == ' ') {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field may contain only letters, digits, spaces and #@!$%'_- and must not start with a space, found '{value}'"),
        ));
    }
    Ok(())
}

/// Checks a keystore name: 1–100 characters, `^[A-Za-z0-9][A-Za-z0-9 .-_]*$`. Both readings of `.-_`
/// are accepted (the range from `.` to `_`, and the three characters), so no name IBM accepts is refused.
pub fn keystore_name(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 100)?;
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok = chars.all(|c| c.is_ascii_alphanumeric() || c == ' ' || c == '-' || ('.'..='_').contains(&c));
    if !first_ok || !rest_ok {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field must start with a letter or digit and contain only letters, digits, spaces and .-_, found '{value}'"),
        ));
    }
    Ok(())
}

/// Checks a keystore group name: 1–200 characters, `^[A-Za-z0-9][A-Za-z0-9-_ ]*$`.
pub fn group_name(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 200)?;
    let mut chars = value.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    if !first_ok || !chars.all(|c| c.is_ascii_alphanumeric() || "-_ ".contains(c)) {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field must start with a letter or digit and contain only letters, digits, '-', '_' and spaces, found '{value}'"),
        ));
    }
    Ok(())
}

/// Checks a description: at most 200 characters.
pub fn description(field: &str, value: &str) -> Result<()> {
    length(field, value, 0, 200)
}

/// Checks a key or template size string: 1–100 characters of letters and digits.
pub fn key_size(field: &str, value: &str) -> Result<()> {
    length(field, value, 1, 100)?;
    if !value.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field must contain only letters and digits, found '{value}'"),
        ));
    }
    Ok(())
}

/// Checks that a string's length (in characters) lies in `min..=max`.
pub fn length(field: &str, value: &str, min: usize, max: usize) -> Result<()> {
    let count = value.chars().count();
    if count < min || count > max {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field must be between {min} and {max} characters long, found {count}"),
        ));
    }
    Ok(())
}

/// Checks that a required string is present and returns it.
pub fn required<'a>(field: &str, value: &'a Option<String>) -> Result<&'a str> {
    value.as_deref().ok_or_else(|| Error::missing_field(field))
}

/// Checks a keystore group list: 1–128 valid group names.
pub fn groups(field: &str, groups: &[String]) -> Result<()> {
    if groups.is_empty() || groups.len() > 128 {
        return Err(Error::invalid_field(
            field,
            format!("The {field} field must hold between 1 and 128 groups, found {}", groups.len()),
        ));
    }
    for (index, group) in groups.iter().enumerate() {
        group_name(&format!("{field}[{index}]"), group)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_the_reference_patterns() {
        assert!(template_name("name", "AWS-TEMPLATE-1").is_ok());
        assert!(template_name("name", "1abc").is_err());
        assert!(template_name("name", &"a".repeat(31)).is_err());
        assert!(key_label("label", "AWS-production-2029").is_ok());
        assert!(key_label("label", "bad*label").is_err());
        assert!(vault_name("name", "My vault #1").is_ok());
        assert!(vault_name("name", " leading").is_err());
        assert!(keystore_name("name", "AWS KMS Keystore 335").is_ok());
        assert!(keystore_name("name", "-dash").is_err());
        assert!(group_name("groups[0]", "Production-AWS-DE").is_ok());
        assert!(group_name("groups[0]", "_x").is_err());
    }
}
