//! The tenant of a request, from `X-Scope-OrgID` when multi-tenancy is on.

use http::HeaderMap;
use sextant_model::{ErrorKind, TenantId};

use crate::error::ApiError;

/// The header carrying the tenant id, as in Cortex, Mimir, Loki and Tempo.
pub const ORG_ID_HEADER: &str = "X-Scope-OrgID";

/// Finds the tenant of a request.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TenantResolver {
    pub multitenancy_enabled: bool,
}

impl TenantResolver {
    pub fn new(multitenancy_enabled: bool) -> Self {
        TenantResolver {
            multitenancy_enabled,
        }
    }

    /// The single tenant of a write. Off: always the default tenant (the header is ignored).
    /// On: the header is required, must be valid and must name one tenant.
    pub fn resolve(&self, headers: &HeaderMap) -> Result<TenantId, ApiError> {
        if !self.multitenancy_enabled {
            return Ok(TenantId::default_tenant());
        }
        let value = header_value(headers)?;
        if value.contains('|') {
            return Err(unauthorized(format!(
                "multiple tenants in {ORG_ID_HEADER} ({value:?}) are not allowed here: send one tenant id"
            )));
        }
        parse_one(value)
    }

    /// The tenants of a read: like [`resolve`](Self::resolve), but `a|b` names several tenants
    /// (duplicates removed, order kept).
    pub fn resolve_many(&self, headers: &HeaderMap) -> Result<Vec<TenantId>, ApiError> {
        if !self.multitenancy_enabled {
            return Ok(vec![TenantId::default_tenant()]);
        }
        let mut out: Vec<TenantId> = Vec::new();
        for part in header_value(headers)?.split('|') {
            let tenant = parse_one(part)?;
            if !out.contains(&tenant) {
                out.push(tenant);
            }
        }
        Ok(out)
    }
}

fn header_value(headers: &HeaderMap) -> Result<&str, ApiError> {
    let value = headers
        .get(ORG_ID_HEADER)
        .ok_or_else(|| unauthorized(format!("no org id: set the {ORG_ID_HEADER} header")))?;
    value
        .to_str()
        .map_err(|_| unauthorized(format!("invalid {ORG_ID_HEADER} header: not visible ASCII")))
}

fn parse_one(id: &str) -> Result<TenantId, ApiError> {
    TenantId::parse(id).map_err(|e| unauthorized(format!("invalid {ORG_ID_HEADER} header: {e}")))
}

fn unauthorized(message: String) -> ApiError {
    ApiError::new(ErrorKind::Unauthorized, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(org: Option<&str>) -> HeaderMap {
        let mut h = HeaderMap::new();
        if let Some(org) = org {
            h.insert(ORG_ID_HEADER, org.parse().unwrap());
        }
        h
    }

    #[test]
    fn resolve_table() {
        // (multitenancy, header, Ok(tenant) or Err(message prefix))
        let cases: &[(bool, Option<&str>, Result<&str, &str>)] = &[
            (false, None, Ok("anonymous")),
            (false, Some("team-a"), Ok("anonymous")),
            (true, Some("team-a"), Ok("team-a")),
            (true, None, Err("no org id: set the X-Scope-OrgID header")),
            (
                true,
                Some(""),
                Err("invalid X-Scope-OrgID header: tenant id is empty"),
            ),
            (
                true,
                Some("a/b"),
                Err("invalid X-Scope-OrgID header: tenant id contains"),
            ),
            (
                true,
                Some(".."),
                Err("invalid X-Scope-OrgID header: tenant id \"..\" is not allowed"),
            ),
            (true, Some("a|b"), Err("multiple tenants in X-Scope-OrgID")),
        ];
        for (enabled, org, want) in cases {
            let got = TenantResolver::new(*enabled).resolve(&headers(*org));
            match (got, want) {
                (Ok(t), Ok(w)) => assert_eq!(t.as_str(), *w),
                (Err(e), Err(w)) => {
                    assert_eq!(e.kind, ErrorKind::Unauthorized);
                    assert!(e.message.starts_with(w), "{org:?}: {}", e.message);
                }
                (got, want) => panic!("{enabled} {org:?}: got {got:?}, want {want:?}"),
            }
        }
    }

    #[test]
    fn resolve_many_splits_on_pipe() {
        let r = TenantResolver::new(true);
        let got = r.resolve_many(&headers(Some("a|b|a"))).unwrap();
        assert_eq!(
            got.iter().map(TenantId::as_str).collect::<Vec<_>>(),
            ["a", "b"]
        );
        assert!(r.resolve_many(&headers(Some("a||b"))).is_err());
        assert!(r.resolve_many(&headers(None)).is_err());
        let off = TenantResolver::new(false)
            .resolve_many(&headers(Some("a|b")))
            .unwrap();
        assert_eq!(off, vec![TenantId::default_tenant()]);
    }
}
