//! A target account's private images are not every tenant's: tenants see and
//! launch only the images the target publishes publicly, and those an admin
//! has shared with them (`skyport admin image share`).

use crate::common::{ec2_code, Database, Keys, Server};
use crate::moto::Moto;

const POLICIES: &str = r#"
[[target]]
name = "cloud"
kind = "aws"
jurisdiction = { country = "US", region = "us-east-1" }
price = { instance_hour = { "t3.micro" = 0.0104 } }

[[rule]]
name = "cost-first"
rank = ["cheapest"]
"#;

/// What the tenant sees of `image`: listed by ID, listed among the target
/// account's images, and launchable.
async fn sees(server: &Server, keys: &Keys, image: &str, owner: &str) -> (bool, bool, bool) {
    let ec2 = server.ec2(keys);
    let by_id = match ec2.describe_images().image_ids(image).send().await {
        Ok(out) => out.images().iter().any(|i| i.image_id() == Some(image)),
        Err(error) => {
            assert_eq!(ec2_code(&error), "InvalidAMIID.NotFound");
            false
        }
    };
    let by_owner = ec2
        .describe_images()
        .owners(owner)
        .send()
        .await
        .unwrap()
        .images()
        .iter()
        .any(|i| i.image_id() == Some(image));
    let launched = match ec2
        .run_instances()
        .image_id(image)
        .instance_type(aws_sdk_ec2::types::InstanceType::T3Micro)
        .min_count(1)
        .max_count(1)
        .send()
        .await
    {
        Ok(_) => true,
        Err(error) => {
            assert_eq!(ec2_code(&error), "InvalidAMIID.NotFound");
            false
        }
    };
    (by_id, by_owner, launched)
}

#[tokio::test]
async fn private_images_of_a_target_are_seen_only_where_an_admin_shared_them() {
    let cloud = Moto::start("us-east-1");
    let private = cloud
        .ec2()
        .register_image()
        .name("operators-golden-image")
        .send()
        .await
        .unwrap()
        .image_id()
        .unwrap()
        .to_string();
    let owner = cloud
        .ec2()
        .describe_images()
        .image_ids(&private)
        .send()
        .await
        .unwrap()
        .images()[0]
        .owner_id()
        .unwrap()
        .to_string();
    let public = cloud.image_ids().await.into_iter().next().unwrap();

    let policy_dir = tempfile::tempdir().unwrap();
    std::fs::write(policy_dir.path().join("policies.toml"), POLICIES).unwrap();
    let config = format!(
        "policy_dir = \"{}\"\n{}",
        policy_dir.path().display(),
        cloud.target_toml("cloud")
    );
    let server = Server::start(Database::Sqlite, Some(&config)).await;
    let alice = server.tenant("alice");
    let bob = server.tenant("bob");

    // Nobody sees the private image; everybody sees the public catalogue.
    for keys in [&alice, &bob] {
        assert_eq!(
            sees(&server, keys, &private, &owner).await,
            (false, false, false)
        );
        let ec2 = server.ec2(keys);
        let out = ec2
            .describe_images()
            .image_ids(&public)
            .send()
            .await
            .unwrap();
        assert_eq!(out.images().len(), 1);
    }
    let before = cloud.instance_ids().await.len();
    assert_eq!(before, 0, "no launch reached the target");

    // An admin shares it with Alice: she sees and launches it, Bob still does not.
    let shared = server.admin(&[
        "image", "share", &private, "--target", "cloud", "--tenant", "alice",
    ]);
    shared.unwrap();
    assert_eq!(
        sees(&server, &alice, &private, &owner).await,
        (true, true, true)
    );
    assert_eq!(
        sees(&server, &bob, &private, &owner).await,
        (false, false, false)
    );
    assert_eq!(cloud.instance_ids().await.len(), 1);
    let listed = server.admin(&["image", "shares"]).unwrap();
    assert_eq!(listed[0]["image_id"], private.as_str());
    assert_eq!(listed[0]["tenant"], "alice");
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // Sharing what the target does not hold, or on a target that does not exist, is refused.
    let missing = server.admin(&[
        "image",
        "share",
        "ami-0123456789abcdef0",
        "--target",
        "cloud",
        "--tenant",
        "bob",
    ]);
    assert!(missing.is_err());
    let nowhere = server.admin(&[
        "image",
        "share",
        &private,
        "--target",
        "elsewhere",
        "--tenant",
        "bob",
    ]);
    assert!(nowhere.is_err());

    // Taken back: hidden again.
    server
        .admin(&[
            "image", "unshare", &private, "--target", "cloud", "--tenant", "alice",
        ])
        .unwrap();
    assert!(!sees(&server, &alice, &private, &owner).await.0);
}
