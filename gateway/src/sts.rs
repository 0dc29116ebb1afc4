//! AWS STS on the one port: `GetCallerIdentity`, which Ansible's amazon.aws,
//! Terraform's AWS provider and many scripts call first to learn who they
//! are. Requests are recognised by their SigV4 credential scope (`…/sts/…`).

use accounts::Principal;
use bytes::Bytes;
use http::{Response, StatusCode};

use crate::ec2::xml::escape;
use crate::error::StsError;
use crate::http::{text_response, ResponseBody};
use crate::query_call::QueryCall;
use crate::server::Gateway;

/// STS's XML namespace.
const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// The only API version STS has.
const VERSION: &str = "2011-06-15";

/// STS on the shared port: authenticated like EC2, answered in STS's XML.
pub(crate) async fn serve(
    gateway: &Gateway,
    parts: &http::request::Parts,
    query: Vec<(String, String)>,
    body: Bytes,
    form: Vec<(String, String)>,
    request_id: &str,
) -> (String, Response<ResponseBody>) {
    let call = QueryCall::new(&query, form);
    let action = call.action.clone();
    let result = async {
        let Some(principal) = call.admit(gateway, parts, &query, &body, "sts").await? else {
            return Err(StsError::sender("Throttling", "Rate exceeded"));
        };
        dispatch(&principal, &call.all, request_id)
    }
    .await;
    let label = if action == "GetCallerIdentity" {
        action
    } else {
        "unknown".into()
    };
    match result {
        Ok(xml) => (label, text_response(StatusCode::OK, "text/xml", xml)),
        Err(error) => {
            if error.status.is_server_error() {
                tracing::warn!(code = %error.code, "sts request failed");
            } else {
                tracing::info!(code = %error.code, message = %error.message, "sts request refused");
            }
            let xml = error_document(&error, request_id);
            (label, text_response(error.status, "text/xml", xml))
        }
    }
}

/// Answers one STS action for an authenticated caller.
pub fn dispatch(
    principal: &Principal,
    params: &[(String, String)],
    request_id: &str,
) -> Result<String, StsError> {
    let get = |name: &str| {
        params
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let action = get("Action").unwrap_or_default();
    if action.is_empty() {
        return Err(StsError::sender(
            "MissingAction",
            "The request must contain the parameter Action",
        ));
    }
    let version = get("Version").unwrap_or(VERSION);
    match action {
        "GetCallerIdentity" if version == VERSION => Ok(get_caller_identity(principal, request_id)),
        other => Err(StsError::sender(
            "InvalidAction",
            format!("Could not find operation {other} for version {version}"),
        )),
    }
}

/// The IAM-style user ID of a Skyport user: `AIDA` and the record's hex digits,
/// upper case (stable for the user's life).
pub fn user_id(principal: &Principal) -> String {
    let digits = principal
        .user_id
        .rsplit('-')
        .next()
        .unwrap_or_default()
        .to_ascii_uppercase();
    format!("AIDA{digits}")
}

/// The caller's ARN: the tenant's account and the user's name.
pub fn user_arn(principal: &Principal) -> String {
    format!(
        "arn:aws:iam::{}:user/{}",
        principal.tenant.account_id, principal.user_name
    )
}

fn get_caller_identity(principal: &Principal, request_id: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<GetCallerIdentityResponse xmlns=\"{NAMESPACE}\">\
         <GetCallerIdentityResult><Arn>{}</Arn><UserId>{}</UserId><Account>{}</Account></GetCallerIdentityResult>\
         <ResponseMetadata><RequestId>{}</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
        escape(&user_arn(principal)),
        escape(&user_id(principal)),
        escape(&principal.tenant.account_id),
        escape(request_id)
    )
}

/// STS's error document.
pub fn error_document(error: &StsError, request_id: &str) -> String {
    let kind = if error.status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ErrorResponse xmlns=\"{NAMESPACE}\"><Error><Type>{kind}</Type>\
         <Code>{}</Code><Message>{}</Message></Error><RequestId>{}</RequestId></ErrorResponse>",
        escape(&error.code),
        escape(&error.message),
        escape(request_id)
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use accounts::{Role, Tenant};

    fn principal() -> Principal {
        Principal {
            tenant: Tenant {
                id: "tenant-1".into(),
                name: "team-a".into(),
                account_id: "123456789012".into(),
                created_at: 0,
                quotas: Default::default(),
            },
            user_id: "user-0123456789abcdef0".into(),
            user_name: "alice".into(),
            role: Role::Member,
            access_key_id: "AKIA".into(),
        }
    }

    fn params(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn caller_identity_names_account_user_and_arn() {
        let xml = dispatch(
            &principal(),
            &params(&[("Action", "GetCallerIdentity"), ("Version", "2011-06-15")]),
            "req-1",
        )
        .unwrap();
        assert!(
            xml.contains("<Arn>arn:aws:iam::123456789012:user/alice</Arn>"),
            "{xml}"
        );
        assert!(
            xml.contains("<UserId>AIDA0123456789ABCDEF0</UserId>"),
            "{xml}"
        );
        assert!(xml.contains("<Account>123456789012</Account>"), "{xml}");
        assert!(xml.contains("<RequestId>req-1</RequestId>"), "{xml}");
    }

    #[test]
    fn unknown_actions_and_versions_are_invalid_actions() {
        for pairs in [
            vec![("Action", "AssumeRole"), ("Version", "2011-06-15")],
            vec![("Action", "GetCallerIdentity"), ("Version", "2010-01-01")],
        ] {
            let error = dispatch(&principal(), &params(&pairs), "r").unwrap_err();
            assert_eq!(error.code, "InvalidAction");
            assert_eq!(error.status, http::StatusCode::BAD_REQUEST);
            let xml = error_document(&error, "r");
            assert!(
                xml.contains("<Type>Sender</Type><Code>InvalidAction</Code>"),
                "{xml}"
            );
        }
    }
}
