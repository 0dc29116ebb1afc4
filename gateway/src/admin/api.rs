//! Admin API routes: tenants, users, access keys, quotas.

use std::sync::Arc;

use accounts::{Accounts, Quotas, Role};
use accounts::{Image, NewImage};
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, put};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::error::admin_status;
use local_backend::networking::TenantNetworks;

/// An admin API failure, rendered as `{"error": code, "message": text}`.
pub struct AdminError(cloud::Error);

impl From<cloud::Error> for AdminError {
    fn from(error: cloud::Error) -> Self {
        AdminError(error)
    }
}

impl IntoResponse for AdminError {
    fn into_response(self) -> Response {
        let (status, body) = error_body(&self.0);
        (status, Json(body)).into_response()
    }
}

/// The admin API's error document: `{"error": code, "message": …}`, with
/// internal detail kept to the log.
fn error_body(error: &cloud::Error) -> (StatusCode, serde_json::Value) {
    let (status, code) = admin_status(error);
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        "internal error".to_string()
    } else {
        error.to_string()
    };
    (status, json!({ "error": code, "message": message }))
}

/// [`error_body`] for routes served outside axum (image uploads).
pub fn error_response(error: &cloud::Error) -> http::Response<crate::http::ResponseBody> {
    let (status, body) = error_body(error);
    crate::http::json_response(status, body)
}

type AdminResult<T> = Result<Json<T>, AdminError>;

#[derive(Deserialize)]
struct NewTenant {
    name: String,
}

#[derive(Deserialize)]
struct NewUser {
    name: String,
    #[serde(default)]
    admin: bool,
}

#[derive(Deserialize)]
struct NewKey {
    #[serde(default = "default_user")]
    user: String,
}

#[derive(Deserialize)]
struct ImageImport {
    name: String,
    /// The upload (PUT image-uploads/{upload}/…) holding the files.
    upload: String,
    cmdline: Option<String>,
    description: Option<String>,
    tenant: String,
    #[serde(default)]
    public: bool,
    architecture: String,
}

/// Turns an upload into an image (files checked, moved into place in one
/// rename) and registers it.
async fn import_image(
    State(f): State<Accounts>,
    Json(body): Json<ImageImport>,
) -> AdminResult<Image> {
    let tenant = f.tenant_by_name(&body.tenant).await?;
    let image = NewImage {
        id: cloud::ResourceKind::Image.new_id(),
        name: body.name,
        description: body.description,
        architecture: body.architecture,
        boot_mode: String::new(),
        public: body.public,
    };
    let registered = f
        .register_image_upload(&tenant, &body.upload, body.cmdline, image)
        .await?;
    Ok(Json(registered))
}

/// Remote targets' images shared with tenants (beyond the targets' public ones).
async fn list_image_shares(
    State(f): State<Accounts>,
) -> AdminResult<Vec<accounts::RemoteImageShare>> {
    Ok(Json(f.remote_image_shares().await?))
}

async fn share_image(
    State(f): State<Accounts>,
    Path((target, image, tenant)): Path<(String, String, String)>,
) -> AdminResult<serde_json::Value> {
    let tenant = f.tenant_by_name(&tenant).await?;
    f.share_remote_image(&target, &image, &tenant).await?;
    Ok(Json(
        json!({ "target": target, "image_id": image, "tenant": tenant.name }),
    ))
}

async fn unshare_image(
    State(f): State<Accounts>,
    Path((target, image, tenant)): Path<(String, String, String)>,
) -> AdminResult<serde_json::Value> {
    let tenant = f.tenant_by_name(&tenant).await?;
    f.unshare_remote_image(&target, &image, &tenant).await?;
    Ok(Json(json!({ "unshared": image })))
}

fn default_user() -> String {
    "default".into()
}

/// The admin router; callers have already been authenticated as site admins.
pub fn router(accounts: Accounts, networks: Option<Arc<TenantNetworks>>) -> Router {
    Router::new()
        .route(
            "/_skyport/admin/tenants",
            get(list_tenants).post(create_tenant),
        )
        .route(
            "/_skyport/admin/tenants/{tenant}",
            delete(delete_tenant).get(show_tenant),
        )
        .route("/_skyport/admin/tenants/{tenant}/quotas", put(set_quotas))
        .route(
            "/_skyport/admin/tenants/{tenant}/users",
            get(list_users).post(create_user),
        )
        .route(
            "/_skyport/admin/tenants/{tenant}/users/{user}",
            delete(delete_user),
        )
        .route(
            "/_skyport/admin/tenants/{tenant}/keys",
            get(list_keys).post(create_key),
        )
        .route("/_skyport/admin/keys/{key}", delete(revoke_key))
        .route("/_skyport/admin/placements/{id}", get(show_placement))
        .route("/_skyport/admin/policies", get(policy_status))
        .route("/_skyport/admin/targets", get(list_targets))
        .route("/_skyport/admin/images", axum::routing::post(import_image))
        .route("/_skyport/admin/image-shares", get(list_image_shares))
        .route(
            "/_skyport/admin/image-shares/{target}/{image}/{tenant}",
            put(share_image).delete(unshare_image),
        )
        .route("/_skyport/admin/networks/{vpc}", get(show_network))
        .layer(axum::Extension(networks))
        .with_state(accounts)
}

async fn list_tenants(State(f): State<Accounts>) -> AdminResult<Vec<accounts::Tenant>> {
    Ok(Json(f.list_tenants().await?))
}

async fn create_tenant(
    State(f): State<Accounts>,
    Json(body): Json<NewTenant>,
) -> AdminResult<accounts::Tenant> {
    Ok(Json(f.create_tenant(&body.name).await?))
}

async fn show_tenant(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
) -> AdminResult<accounts::Tenant> {
    Ok(Json(f.tenant_by_name(&tenant).await?))
}

async fn delete_tenant(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
) -> AdminResult<serde_json::Value> {
    f.delete_tenant(&tenant).await?;
    Ok(Json(json!({ "deleted": tenant })))
}

async fn set_quotas(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
    Json(quotas): Json<Quotas>,
) -> AdminResult<accounts::Tenant> {
    Ok(Json(f.set_quotas(&tenant, &quotas).await?))
}

async fn list_users(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
) -> AdminResult<Vec<accounts::User>> {
    Ok(Json(f.list_users(&tenant).await?))
}

async fn create_user(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
    Json(body): Json<NewUser>,
) -> AdminResult<accounts::User> {
    let role = if body.admin {
        Role::Admin
    } else {
        Role::Member
    };
    Ok(Json(f.create_user(&tenant, &body.name, role).await?))
}

async fn delete_user(
    State(f): State<Accounts>,
    Path((tenant, user)): Path<(String, String)>,
) -> AdminResult<serde_json::Value> {
    f.delete_user(&tenant, &user).await?;
    Ok(Json(json!({ "deleted": user })))
}

async fn list_keys(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
) -> AdminResult<Vec<accounts::AccessKeyInfo>> {
    Ok(Json(f.list_access_keys(&tenant).await?))
}

async fn create_key(
    State(f): State<Accounts>,
    Path(tenant): Path<String>,
    Json(body): Json<NewKey>,
) -> AdminResult<accounts::NewAccessKey> {
    Ok(Json(
        f.create_access_key(&tenant, &body.user, Role::Member)
            .await?,
    ))
}

async fn revoke_key(
    State(f): State<Accounts>,
    Path(key): Path<String>,
) -> AdminResult<serde_json::Value> {
    f.revoke_access_key(&key).await?;
    Ok(Json(json!({ "revoked": key })))
}

async fn show_placement(
    State(f): State<Accounts>,
    Path(id): Path<String>,
) -> AdminResult<accounts::PlacementRecord> {
    Ok(Json(f.placement_of(&id).await?))
}

/// What a VPC's data plane looks like on each host.
#[derive(Serialize)]
struct NetworkView {
    vpc: String,
    plumbing: String,
}

async fn show_network(
    State(f): State<Accounts>,
    axum::Extension(networks): axum::Extension<Option<Arc<TenantNetworks>>>,
    Path(vpc): Path<String>,
) -> AdminResult<NetworkView> {
    let networks = networks.ok_or_else(|| {
        cloud::Error::Unavailable(
            "this site builds no tenant networks (see the gateway's start-up message)".into(),
        )
    })?;
    let plan = f.network_plan().await?;
    let plumbing = if plan.vpcs.iter().any(|v| v.id == vpc) {
        networks.fabric().show(&plan, &vpc).await?
    } else if f.vpc_exists(&vpc).await? {
        "no instance of this VPC runs on this site: nothing is built for it\n".to_string()
    } else {
        return Err(cloud::Error::not_found(cloud::ResourceKind::Vpc, vpc).into());
    };
    Ok(Json(NetworkView { vpc, plumbing }))
}

async fn policy_status(State(f): State<Accounts>) -> AdminResult<accounts::PolicyStatus> {
    Ok(Json(f.placement().status()))
}

async fn list_targets(State(f): State<Accounts>) -> AdminResult<serde_json::Value> {
    let placement = f.placement();
    let mut targets =
        vec![json!({ "name": placement.local_target(), "kind": "local", "healthy": true })];
    let mut remotes: Vec<_> = placement.remotes().collect();
    remotes.sort_by(|a, b| a.name().cmp(b.name()));
    for remote in remotes {
        targets.push(json!({ "name": remote.name(), "kind": "remote", "healthy": remote.healthy(), "latency_ms": remote.latency_ms() }));
    }
    Ok(Json(json!(targets)))
}
