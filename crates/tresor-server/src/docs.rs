//! The store's and the service's records as the native API's documents: the one place the server
//! builds them. (The model's own types convert in `tresor-api`, which both ends share; these
//! records are the server's alone, and `tresor-api` does not depend on the store.)

use tresor_api::{AppKeyDoc, AuditDoc, GrantDoc, PrincipalDoc, ScopeAccess, TokenDoc, VerifyDoc, WhoAmI};
use tresor_model::format_rfc3339;
use tresor_service::{AppKeyRecord, AuditEntry, Caller, GrantRecord, PrincipalRecord, TokenRecord, VerifyReport};

pub fn token_doc(t: TokenRecord) -> TokenDoc {
    TokenDoc {
        id: t.id,
        principal: t.principal.to_string(),
        name: t.name,
        created_at: format_rfc3339(t.created_at),
        created_by: t.created_by,
        expires_at: t.expires_at.map(format_rfc3339),
        revoked_at: t.revoked_at.map(format_rfc3339),
        environment: t.environment.map(|e| e.to_string()),
    }
}

pub fn grant_doc(g: GrantRecord) -> GrantDoc {
    GrantDoc {
        id: g.id,
        principal: g.principal.to_string(),
        scope: g.scope,
        access: g.access.to_string(),
        created_at: format_rfc3339(g.created_at),
        created_by: g.created_by,
    }
}

pub fn principal_doc(p: PrincipalRecord) -> PrincipalDoc {
    PrincipalDoc {
        principal: p.principal.to_string(),
        created_at: format_rfc3339(p.created_at),
        created_by: p.created_by,
    }
}

pub fn app_key_doc(k: AppKeyRecord) -> AppKeyDoc {
    AppKeyDoc {
        id: k.id,
        principal: k.principal.to_string(),
        created_at: format_rfc3339(k.created_at),
        created_by: k.created_by,
        revoked_at: k.revoked_at.map(format_rfc3339),
        environment: k.environment.map(|e| e.to_string()),
    }
}

pub fn audit_doc(r: AuditEntry) -> AuditDoc {
    AuditDoc {
        seq: r.seq,
        at: format_rfc3339(r.at),
        request_id: r.request_id,
        principal: r.principal,
        action: r.action,
        target: r.target,
        outcome: r.outcome,
        detail: r.detail,
    }
}

pub fn verify_doc(report: VerifyReport) -> VerifyDoc {
    VerifyDoc { ok: report.ok(), records: report.records, chains: report.chains, problems: report.problems }
}

/// Who the caller is: workspace, principal, token, binding and effective grants.
pub fn whoami(c: &Caller) -> WhoAmI {
    WhoAmI {
        workspace: c.workspace.to_string(),
        principal: c.principal.to_string(),
        token_id: c.token_id.clone(),
        environment: c.binding().map(|b| b.environment.to_string()),
        reads_through: c.binding().map_or_else(Vec::new, |b| b.parents.iter().map(ToString::to_string).collect()),
        grants: c.grants().iter().map(|(s, a)| ScopeAccess { scope: s.to_string(), access: a.to_string() }).collect(),
    }
}
