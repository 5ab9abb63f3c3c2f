//! Principals, groups, tokens and grants: who may do what. All of it needs `manage` on the whole
//! workspace, and every change is audited.

use crate::auth::{mint_token, parse_token, Binding, Caller, Ctx, MintedToken};
use crate::auth_failures::{Credential, Origin};
use crate::cache::CachedCaller;
use crate::{Result, Service, ServiceError};
use std::sync::Arc;
use tresor_crypto::ct_eq;
use tresor_model::{now_millis, Access, EnvName, PrincipalKind, PrincipalRef, Scope, WorkspaceName};
use tresor_store::{BatchOp, GrantRecord, Membership, NewPrincipal, PrincipalRecord, StoreError, TokenRecord};

/// The principal that `tresor init` creates and whose token it prints.
pub const OWNER: &str = "owner";

pub(crate) fn new_id() -> Result<String> {
    Ok(tresor_crypto::random_token_bytes::<8>()?.iter().map(|b| format!("{b:02x}")).collect())
}

/// Why a presented token was refused, and the workspace of the token its id names, if one does
/// (the failure is recorded there; a failure naming no token is server-level).
struct Refused {
    error: ServiceError,
    workspace: Option<WorkspaceName>,
}

impl Refused {
    fn naming(workspace: &WorkspaceName, error: ServiceError) -> Self {
        Self { error, workspace: Some(workspace.clone()) }
    }

    fn unattributed(error: impl Into<ServiceError>) -> Self {
        Self { error: error.into(), workspace: None }
    }
}

/// How the audit log names a minted credential: its id, its principal and its binding.
pub(crate) fn minted_target(id: &str, principal: &PrincipalRef, environment: Option<&EnvName>) -> String {
    match environment {
        Some(env) => format!("token {id} of {principal} bound to environment {env}"),
        None => format!("token {id} of {principal}"),
    }
}

impl Service {
    /// [`Service::authenticate_from`] for a request made in process (no peer address, no client
    /// request id): tests and local tools.
    pub async fn authenticate(&self, token: &str, request_id: &str) -> Result<Arc<Caller>> {
        self.authenticate_from(token, &Origin::new(request_id)).await
    }

    /// Turns a presented token into a caller. Unknown, malformed, revoked and expired tokens are
    /// refused and audited (aggregated per source and interval, see `auth_failures.rs`); the
    /// answer never echoes the token.
    ///
    /// Every request starts here, so this is also where a server sharing its store brings its
    /// caches up to the other servers' writes.
    pub async fn authenticate_from(&self, token: &str, origin: &Origin) -> Result<Arc<Caller>> {
        if let Some(coherence) = &self.coherence {
            coherence.sync(self.store.as_ref(), &self.cache).await?;
        }
        let (id, hash) = match parse_token(token) {
            Ok(parsed) => parsed,
            Err(e) => {
                self.audit_auth_failure(origin, Credential::Token, "(malformed)", None, &e).await?;
                return Err(e);
            }
        };
        match self.authenticate_parsed(&id, &hash).await {
            Ok(caller) => Ok(caller),
            Err(Refused { error, workspace }) => {
                self.audit_auth_failure(origin, Credential::Token, &id, workspace.as_ref(), &error).await?;
                Err(error)
            }
        }
    }

    async fn authenticate_parsed(&self, id: &str, hash: &[u8; 32]) -> std::result::Result<Arc<Caller>, Refused> {
        let unknown = || ServiceError::Unauthenticated("the token is not valid: unknown token".into());
        let expired = || ServiceError::Expired("the token has expired; ask for a new one".into());
        let now = now_millis();
        if let Some(cached) = self.cache.caller(id) {
            let workspace = &cached.caller.workspace;
            if !ct_eq(&cached.hash, hash) {
                return Err(Refused::naming(workspace, unknown()));
            }
            if matches!(cached.expires_at, Some(t) if t <= now) {
                return Err(Refused::naming(workspace, expired()));
            }
            return Ok(cached.caller.clone());
        }
        let generation = self.cache.access_generation();
        let record = self
            .store
            .get_token(id)
            .await
            .map_err(Refused::unattributed)?
            .ok_or_else(|| Refused::unattributed(unknown()))?;
        let workspace = &record.workspace;
        if !ct_eq(&record.hash, hash) {
            return Err(Refused::naming(workspace, unknown()));
        }
        if record.revoked_at.is_some() {
            return Err(Refused::naming(workspace, ServiceError::Unauthenticated("the token has been revoked".into())));
        }
        if matches!(record.expires_at, Some(t) if t <= now) {
            return Err(Refused::naming(workspace, expired()));
        }
        let caller = Arc::new(self.caller_for(&record).await.map_err(|e| Refused::naming(workspace, e))?);
        self.cache.put_caller(
            id,
            CachedCaller { caller: caller.clone(), hash: *hash, expires_at: record.expires_at },
            generation,
        );
        Ok(caller)
    }

    /// The caller a token stands for, with its principal's effective grants, narrowed to the
    /// token's environment if it is bound to one.
    async fn caller_for(&self, token: &TokenRecord) -> Result<Caller> {
        let grants = self.effective_grants(&token.workspace, &token.principal).await?;
        let caller = Caller::new(
            token.workspace.clone(),
            token.principal.clone(),
            Some(token.id.clone()),
            Some(token.name.clone()),
            grants,
        );
        Ok(match &token.environment {
            None => caller,
            Some(env) => caller.bound_to(self.binding_of(&token.workspace, env).await?),
        })
    }

    /// An environment as a binding: with its parents, which a branch reads through to.
    async fn binding_of(&self, ws: &WorkspaceName, env: &EnvName) -> Result<Binding> {
        let chain = self.env_chain(ws, env).await?;
        Ok(Binding { environment: env.clone(), parents: chain.iter().skip(1).cloned().collect() })
    }

    /// What a new credential (a token, an application key) may be bound to: an environment that
    /// exists, and for a caller that is bound itself only its own environment, so that delegation
    /// stays bounded (a bound token never mints an unbound one, nor one bound elsewhere).
    pub(crate) async fn require_may_bind(&self, ctx: &Ctx, env: Option<&EnvName>, minting: &str) -> Result<()> {
        if let Some(mine) = ctx.caller.binding() {
            if env != Some(&mine.environment) {
                return Err(ServiceError::Denied(format!(
                    "a token bound to environment {} cannot create {minting} {}: a bound token acts in its \
                     environment only, and so would everything it mints; ask a principal with an unbound token",
                    mine.environment,
                    match env {
                        None => "that is unbound".to_owned(),
                        Some(other) => format!("bound to environment {other}"),
                    },
                )));
            }
        }
        if let Some(env) = env {
            self.require_environment(&ctx.caller.workspace, env).await?;
        }
        Ok(())
    }

    /// A principal's effective grants: its own and (for users and applications) its groups'.
    async fn effective_grants(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<Vec<(Scope, Access)>> {
        let mut holders = vec![p.clone()];
        if p.kind != PrincipalKind::Group {
            for group in self.store.groups_of(ws, p).await? {
                holders.push(PrincipalRef { kind: PrincipalKind::Group, name: group });
            }
        }
        let mut grants = Vec::new();
        for g in self.store.grants_for(ws, &holders).await? {
            let scope: Scope = g.scope.parse().map_err(|e| ServiceError::Storage(format!("grant {}: {e}", g.id)))?;
            grants.push((scope, g.access));
        }
        Ok(grants)
    }

    /// Refuses to hand `p`'s power to someone else (a membership in group `p`, a token or an
    /// application key of `p`) unless the caller holds every one of `p`'s grants itself:
    /// delegation is bounded by what the caller holds, so `manage` never turns into `read`.
    async fn require_holds_all_of(&self, ctx: &Ctx, p: &PrincipalRef, doing: &str) -> Result<()> {
        let grants = self.effective_grants(&ctx.caller.workspace, p).await?;
        match ctx.caller.lacks_any(&grants) {
            None => Ok(()),
            Some((scope, access)) => Err(ServiceError::Denied(format!(
                "{} cannot {doing}: {p} holds {access} on {scope}, which {} does not hold itself \
                 (delegation is bounded by the caller's own grants); ask a principal holding it",
                ctx.caller.principal, ctx.caller.principal
            ))),
        }
    }

    /// Creates the workspace owner (admin and read on everything) and a first token for it, as
    /// `tresor init` does. Returns the token text, to be shown once.
    pub async fn init_owner(&self, workspace: &WorkspaceName, token_name: &str) -> Result<MintedToken> {
        self.bootstrap(workspace).await?;
        let owner = PrincipalRef { kind: PrincipalKind::User, name: OWNER.into() };
        let system = Ctx::new(Arc::new(Caller::owner(workspace.clone(), "system")), "init");
        match self
            .store
            .create_principal(&NewPrincipal {
                workspace: workspace.clone(),
                principal: owner.clone(),
                by: "system".into(),
                now: now_millis(),
            })
            .await
        {
            Ok(()) => {
                for access in [Access::Admin, Access::Read] {
                    self.create_grant(&system, &owner, &Scope::all(), access).await?;
                }
            }
            Err(StoreError::AlreadyExists(_)) => {}
            Err(e) => return Err(e.into()),
        }
        let (_, minted) = self.create_token(&system, &owner, token_name, None, None).await?;
        Ok(minted)
    }

    pub async fn create_principal(&self, ctx: &Ctx, p: &PrincipalRef) -> Result<()> {
        self.audited_change(ctx, "principal.create", p, async {
            self.require_workspace(ctx, Access::Manage, "create principals")?;
            let op = BatchOp::CreatePrincipal(NewPrincipal {
                workspace: ctx.caller.workspace.clone(),
                principal: p.clone(),
                by: ctx.caller.label().to_owned(),
                now: now_millis(),
            });
            Ok(self.commit(vec![op], vec![Self::change_record(ctx, "principal.create", p)]).await?)
        })
        .await
    }

    pub async fn list_principals(&self, ctx: &Ctx) -> Result<Vec<PrincipalRecord>> {
        self.manage_listing(ctx, "principal.list", "list principals", self.store.list_principals(&ctx.caller.workspace))
            .await
    }

    /// Deletes a principal with its memberships, grants and tokens.
    pub async fn delete_principal(&self, ctx: &Ctx, p: &PrincipalRef) -> Result<()> {
        self.audited_change(ctx, "principal.delete", p, async {
            self.require_workspace(ctx, Access::Manage, "delete principals")?;
            if p.kind == PrincipalKind::User && p.name == OWNER {
                return Err(ServiceError::InvalidInput(format!(
                    "{p} is the workspace owner created by `tresor init` and cannot be deleted"
                )));
            }
            let op = BatchOp::DeletePrincipal { workspace: ctx.caller.workspace.clone(), principal: p.clone() };
            Ok(self.commit_access(op, Self::change_record(ctx, "principal.delete", p)).await?)
        })
        .await
    }

    async fn require_principal(&self, ws: &WorkspaceName, p: &PrincipalRef) -> Result<()> {
        if self.store.principal_exists(ws, p).await? {
            Ok(())
        } else {
            Err(ServiceError::NotFound(format!(
                "principal {p} does not exist; create it with `tresor principal create {p}`"
            )))
        }
    }

    /// Commits one change of `group`'s members (`step` makes the batch step: add or remove) with
    /// its record, whose target is `group:GROUP MEMBER`.
    async fn commit_membership(
        &self,
        ctx: &Ctx,
        action: &str,
        group: &str,
        member: &PrincipalRef,
        step: fn(Membership) -> BatchOp,
    ) -> Result<()> {
        let membership =
            Membership { workspace: ctx.caller.workspace.clone(), group: group.into(), member: member.clone() };
        let record = Self::change_record(ctx, action, format!("group:{group} {member}"));
        Ok(self.commit_access(step(membership), record).await?)
    }

    pub async fn add_member(&self, ctx: &Ctx, group: &str, member: &PrincipalRef) -> Result<()> {
        let group_ref = PrincipalRef::new(PrincipalKind::Group, group)?;
        self.audited_change(ctx, "group.add", format!("{group_ref} {member}"), async {
            self.require_workspace(ctx, Access::Manage, "change group membership")?;
            if member.kind == PrincipalKind::Group {
                return Err(ServiceError::InvalidInput("groups hold users and applications, not other groups".into()));
            }
            self.require_principal(&ctx.caller.workspace, &group_ref).await?;
            self.require_principal(&ctx.caller.workspace, member).await?;
            self.require_holds_all_of(ctx, &group_ref, &format!("add {member} to {group_ref}")).await?;
            self.commit_membership(ctx, "group.add", group, member, BatchOp::AddMember).await
        })
        .await
    }

    pub async fn remove_member(&self, ctx: &Ctx, group: &str, member: &PrincipalRef) -> Result<()> {
        self.audited_change(ctx, "group.remove", format!("group:{group} {member}"), async {
            self.require_workspace(ctx, Access::Manage, "change group membership")?;
            self.commit_membership(ctx, "group.remove", group, member, BatchOp::RemoveMember).await
        })
        .await
    }

    pub async fn members_of(&self, ctx: &Ctx, group: &str) -> Result<Vec<PrincipalRef>> {
        let group_ref = PrincipalRef::new(PrincipalKind::Group, group)?;
        self.audited(ctx, "group.members", group_ref, async {
            self.require_workspace(ctx, Access::Manage, "list group members")?;
            Ok(self.store.members_of(&ctx.caller.workspace, group).await?)
        })
        .await
    }

    /// Mints a token for a principal. `ttl_seconds` makes it expire; `environment` binds it (see
    /// [`Caller::bound_to`]). The token text is in the returned [`MintedToken`] and nowhere else.
    pub async fn create_token(
        &self,
        ctx: &Ctx,
        principal: &PrincipalRef,
        name: &str,
        ttl_seconds: Option<u64>,
        environment: Option<&EnvName>,
    ) -> Result<(TokenRecord, MintedToken)> {
        self.audited_change(ctx, "token.create", format!("token of {principal}"), async {
            self.require_may_bind(ctx, environment, "a token").await?;
            self.require_workspace(ctx, Access::Manage, "create tokens")?;
            if name.is_empty() || name.len() > crate::MAX_TOKEN_NAME_LEN || name.chars().any(char::is_control) {
                return Err(ServiceError::InvalidInput(format!(
                    "a token name must be 1 to {} bytes of printable characters",
                    crate::MAX_TOKEN_NAME_LEN
                )));
            }
            if principal.kind == PrincipalKind::Group {
                return Err(ServiceError::InvalidInput("tokens belong to users and applications, not groups".into()));
            }
            let ws = &ctx.caller.workspace;
            self.require_principal(ws, principal).await?;
            self.require_may_mint_for(ctx, principal, "create a token").await?;
            let now = now_millis();
            let minted = mint_token()?;
            let record = TokenRecord {
                id: minted.id.clone(),
                workspace: ws.clone(),
                principal: principal.clone(),
                name: name.to_owned(),
                hash: minted.hash.to_vec(),
                created_at: now,
                created_by: ctx.caller.label().to_owned(),
                expires_at: ttl_seconds.map(|s| now.saturating_add((s as i64).saturating_mul(1000))),
                revoked_at: None,
                environment: environment.cloned(),
            };
            let audit = Self::change_record(ctx, "token.create", minted_target(&record.id, principal, environment));
            self.commit(vec![BatchOp::InsertToken(record.clone())], vec![audit]).await?;
            Ok((record, minted))
        })
        .await
    }

    /// Who may be given a credential (a token, an application key) of `principal`: the caller
    /// itself; an application whose every grant the caller holds; another user only by the
    /// workspace owner (a token of a user acts as that user in the audit log).
    pub(crate) async fn require_may_mint_for(&self, ctx: &Ctx, principal: &PrincipalRef, doing: &str) -> Result<()> {
        if *principal == ctx.caller.principal {
            return Ok(());
        }
        match principal.kind {
            PrincipalKind::User if !ctx.caller.is_owner() => Err(ServiceError::Denied(format!(
                "{} cannot {doing} for {principal}: only the workspace owner mints credentials for other users; \
                 {principal} can create its own",
                ctx.caller.principal
            ))),
            _ => self.require_holds_all_of(ctx, principal, &format!("{doing} for {principal}")).await,
        }
    }

    pub async fn list_tokens(&self, ctx: &Ctx) -> Result<Vec<TokenRecord>> {
        self.manage_listing(ctx, "token.list", "list tokens", self.store.list_tokens(&ctx.caller.workspace)).await
    }

    /// Revokes a token: at once, on this node, for every later request. A caller may always revoke
    /// its own token; other tokens need `manage`.
    pub async fn revoke_token(&self, ctx: &Ctx, id: &str) -> Result<()> {
        self.audited_change(ctx, "token.revoke", format!("token {id}"), async {
            if ctx.caller.token_id.as_deref() != Some(id) {
                self.require_workspace(ctx, Access::Manage, "revoke other principals' tokens")?;
            }
            let op = BatchOp::RevokeToken { workspace: ctx.caller.workspace.clone(), id: id.into(), now: now_millis() };
            Ok(self.commit_access(op, Self::change_record(ctx, "token.revoke", format!("token {id}"))).await?)
        })
        .await
    }

    /// Grants `access` on `scope` to a principal.
    pub async fn create_grant(
        &self,
        ctx: &Ctx,
        principal: &PrincipalRef,
        scope: &Scope,
        access: Access,
    ) -> Result<GrantRecord> {
        self.audited_change(ctx, "grant.create", format!("{principal} {access} {scope}"), async {
            self.require_workspace(ctx, Access::Manage, "change grants")?;
            Self::require_may_grant(ctx, access, scope)?;
            let ws = &ctx.caller.workspace;
            self.require_principal(ws, principal).await?;
            let grant = GrantRecord {
                id: new_id()?,
                workspace: ws.clone(),
                principal: principal.clone(),
                scope: scope.to_string(),
                access,
                created_at: now_millis(),
                created_by: ctx.caller.label().to_owned(),
            };
            let record = Self::change_record(ctx, "grant.create", format!("{principal} {access} {scope}"));
            self.commit_access(BatchOp::InsertGrant(grant.clone()), record).await?;
            Ok(grant)
        })
        .await
    }

    /// Nobody grants an access on a scope that their own grants do not cover with that access.
    pub(crate) fn require_may_grant(ctx: &Ctx, access: Access, scope: &Scope) -> Result<()> {
        if ctx.caller.holds(access, scope) {
            return Ok(());
        }
        Err(ServiceError::Denied(format!(
            "{} cannot grant {access} on {scope}: its own grants do not include {access} on all of {scope} \
             (delegation is bounded by the caller's own grants); ask a principal holding it",
            ctx.caller.principal
        )))
    }

    pub async fn list_grants(&self, ctx: &Ctx) -> Result<Vec<GrantRecord>> {
        self.manage_listing(ctx, "grant.list", "list grants", self.store.list_grants(&ctx.caller.workspace)).await
    }

    pub async fn delete_grant(&self, ctx: &Ctx, id: &str) -> Result<GrantRecord> {
        self.audited_change(ctx, "grant.delete", format!("grant {id}"), async {
            self.require_workspace(ctx, Access::Manage, "change grants")?;
            let ws = &ctx.caller.workspace;
            // Read first: the record names what the grant gave, and is written with the deletion.
            let grant = self.store.list_grants(ws).await?.into_iter().find(|g| g.id == id);
            let grant = grant.ok_or_else(|| StoreError::NotFound(format!("grant {id}")))?;
            let target = format!("grant {id}: {} {} {}", grant.principal, grant.access, grant.scope);
            let op = BatchOp::DeleteGrant { workspace: ws.clone(), id: id.into() };
            self.commit_access(op, Self::change_record(ctx, "grant.delete", target)).await?;
            Ok(grant)
        })
        .await
    }
}
