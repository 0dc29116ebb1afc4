//! Who owns and asks: tenants, their users and quotas, and the verified
//! caller of a request. The records live in the account layer's database;
//! every layer that checks ownership or quotas reads these types.

use serde::Serialize;

/// Per-tenant limits; `None` means unlimited.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, serde::Deserialize)]
pub struct Quotas {
    pub instances: Option<i64>,
    pub vcpus: Option<i64>,
    pub volume_gib: Option<i64>,
    pub buckets: Option<i64>,
    pub stored_bytes: Option<i64>,
}

/// A tenant: one account, one set of keys, resources across clouds.
#[derive(Debug, Clone, Serialize)]
pub struct Tenant {
    pub id: String,
    pub name: String,
    /// The 12-digit AWS-style account number shown as OwnerId.
    pub account_id: String,
    pub created_at: i64,
    pub quotas: Quotas,
}

/// What a user may do: `Admin` users of the `admin` tenant may call the admin API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Member,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Member => "member",
        }
    }

    pub fn parse(text: &str) -> Role {
        if text == "admin" {
            Role::Admin
        } else {
            Role::Member
        }
    }
}

/// A user of a tenant.
#[derive(Debug, Clone, Serialize)]
pub struct User {
    pub id: String,
    pub tenant: String,
    pub name: String,
    pub role: Role,
    pub created_at: i64,
}

/// Who is calling: the tenant and user behind a verified access key.
#[derive(Debug, Clone)]
pub struct Principal {
    pub tenant: Tenant,
    /// The user's record ID (`user-…`).
    pub user_id: String,
    pub user_name: String,
    pub role: Role,
    pub access_key_id: String,
}

impl Principal {
    /// Whether this caller may use the admin API.
    pub fn is_site_admin(&self) -> bool {
        self.role == Role::Admin
    }
}
