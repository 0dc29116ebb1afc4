//! Raw HTTP requests for input no SDK sends: signed with Skyport's own signer.

use gateway::auth::sigv4::{sign_request_at, ClientKey};

use crate::common::{Keys, Server};

/// Sends a form-encoded EC2 POST signed at `when` (None = unsigned).
pub async fn ec2_post(
    server: &Server,
    keys: Option<&Keys>,
    body: &str,
    when: time::OffsetDateTime,
) -> (u16, String) {
    let host = format!("127.0.0.1:{}", server.port);
    let mut request = reqwest::Client::new()
        .post(format!("{}/", server.endpoint))
        .header(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8",
        )
        .body(body.to_string());
    if let Some(keys) = keys {
        let key = ClientKey {
            access_key: &keys.access_key,
            secret: &keys.secret_key,
            region: "us-east-1",
            service: "ec2",
        };
        for (name, value) in sign_request_at("POST", "/", &host, body.as_bytes(), &key, when) {
            request = request.header(name, value);
        }
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.text().await.unwrap())
}

/// Extracts `<Code>` from an EC2 error document.
pub fn code_of(xml: &str) -> &str {
    xml.split("<Code>")
        .nth(1)
        .and_then(|rest| rest.split("</Code>").next())
        .unwrap_or("")
}
