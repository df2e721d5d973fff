//! Tenant ids, validated as Cortex/Mimir validate `X-Scope-OrgID`.

use std::fmt;
use std::sync::Arc;

/// The tenant used for every request when multi-tenancy is off.
pub const DEFAULT_TENANT: &str = "anonymous";

/// The longest tenant id accepted.
pub const MAX_TENANT_ID_LENGTH: usize = 150;

/// A validated tenant id; cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(Arc<str>);

/// Why a tenant id was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TenantError {
    #[error("tenant id is empty")]
    Empty,
    #[error("tenant id is longer than {MAX_TENANT_ID_LENGTH} characters")]
    TooLong,
    #[error("tenant id {0:?} is not allowed")]
    Reserved(String),
    #[error("tenant id contains the unsupported character {0:?}; allowed are a-z A-Z 0-9 ! - _ . * ' ( )")]
    BadCharacter(char),
}

impl TenantId {
    /// Validates `id`: 1 to 150 characters of `a-zA-Z0-9!-_.*'()`, not `.` or `..`.
    pub fn parse(id: &str) -> Result<Self, TenantError> {
        if id.is_empty() {
            return Err(TenantError::Empty);
        }
        if id.len() > MAX_TENANT_ID_LENGTH {
            return Err(TenantError::TooLong);
        }
        if id == "." || id == ".." || id == "__sextant_cluster" {
            return Err(TenantError::Reserved(id.to_string()));
        }
        if let Some(c) = id.chars().find(|c| !is_allowed(*c)) {
            return Err(TenantError::BadCharacter(c));
        }
        Ok(TenantId(Arc::from(id)))
    }

    /// The tenant of single-tenant installs.
    pub fn default_tenant() -> Self {
        TenantId(Arc::from(DEFAULT_TENANT))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn is_allowed(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '!' | '-' | '_' | '.' | '*' | '\'' | '(' | ')')
}

impl fmt::Display for TenantId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl AsRef<str> for TenantId {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validates_ids() {
        let cases: &[(&str, bool)] = &[
            ("team-a", true),
            ("a.b_c(1)*'!", true),
            ("", false),
            (".", false),
            ("..", false),
            ("a/b", false),
            ("tenant with space", false),
        ];
        for (id, ok) in cases {
            assert_eq!(TenantId::parse(id).is_ok(), *ok, "{id:?}");
        }
        assert!(TenantId::parse(&"x".repeat(151)).is_err());
    }
}
