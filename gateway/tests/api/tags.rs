//! CreateTags, DeleteTags, DescribeTags with filters and pagination.

use aws_sdk_ec2::types::{Filter, Tag};

use crate::common::{ec2_code, on_both_databases};

fn tag(key: &str, value: &str) -> Tag {
    Tag::builder().key(key).value(value).build()
}

#[tokio::test]
async fn tags_filters_and_pages() {
    on_both_databases(|server| async move {
        let ec2 = server.ec2(&server.admin_keys());
        let a = ec2
            .create_security_group()
            .group_name("a")
            .description("a")
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        let b = ec2
            .create_security_group()
            .group_name("b")
            .description("b")
            .send()
            .await
            .unwrap()
            .group_id
            .unwrap();
        let key = ec2
            .create_key_pair()
            .key_name("k")
            .key_type(aws_sdk_ec2::types::KeyType::Ed25519)
            .send()
            .await
            .unwrap()
            .key_pair_id
            .unwrap();

        ec2.create_tags()
            .resources(&a)
            .resources(&b)
            .tags(tag("env", "prod"))
            .tags(tag("Name", "web-1"))
            .send()
            .await
            .unwrap();
        ec2.create_tags()
            .resources(&key)
            .tags(tag("env", "dev"))
            .send()
            .await
            .unwrap();
        // Overwrite keeps one value per key.
        ec2.create_tags()
            .resources(&b)
            .tags(tag("Name", "web-2"))
            .send()
            .await
            .unwrap();

        let all = ec2.describe_tags().send().await.unwrap();
        assert_eq!(all.tags().len(), 5);
        let prod = ec2
            .describe_tags()
            .filters(Filter::builder().name("value").values("prod").build())
            .send()
            .await
            .unwrap();
        assert_eq!(prod.tags().len(), 2);
        let names = ec2
            .describe_tags()
            .filters(Filter::builder().name("key").values("Name").build())
            .filters(Filter::builder().name("value").values("web-?").build())
            .send()
            .await
            .unwrap();
        let mut values: Vec<_> = names.tags().iter().filter_map(|t| t.value()).collect();
        values.sort();
        assert_eq!(values, ["web-1", "web-2"]);
        let pairs = ec2
            .describe_tags()
            .filters(
                Filter::builder()
                    .name("resource-type")
                    .values("key-pair")
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(pairs.tags().len(), 1);
        assert_eq!(pairs.tags()[0].resource_id(), Some(key.as_str()));

        let groups = ec2
            .describe_security_groups()
            .filters(Filter::builder().name("tag:Name").values("web-*").build())
            .filters(Filter::builder().name("tag-key").values("env").build())
            .send()
            .await
            .unwrap();
        assert_eq!(groups.security_groups().len(), 2);

        let page = ec2.describe_tags().max_results(5).send().await.unwrap();
        assert_eq!(page.tags().len(), 5);
        assert!(page.next_token().is_none());

        ec2.delete_tags()
            .resources(&a)
            .tags(Tag::builder().key("env").value("not-this").build())
            .send()
            .await
            .unwrap();
        ec2.delete_tags()
            .resources(&b)
            .tags(Tag::builder().key("env").build())
            .send()
            .await
            .unwrap();
        let left = ec2
            .describe_tags()
            .filters(Filter::builder().name("key").values("env").build())
            .send()
            .await
            .unwrap();
        assert_eq!(
            left.tags().len(),
            2,
            "value-qualified delete only removes matching values"
        );

        let reserved = ec2
            .create_tags()
            .resources(&a)
            .tags(tag("aws:secret", "x"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&reserved), "InvalidParameterValue");
        let missing = ec2
            .create_tags()
            .resources("sg-0123456789abcdef0")
            .tags(tag("x", "y"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&missing), "InvalidGroup.NotFound");
        let malformed = ec2
            .create_tags()
            .resources("nonsense")
            .tags(tag("x", "y"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&malformed), "InvalidID");
        let bad_filter = ec2
            .describe_tags()
            .filters(Filter::builder().name("colour").values("x").build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&bad_filter), "InvalidParameterValue");
    })
    .await;
}

/// Where a resource was placed is a system tag, `aws:skyport:placement`:
/// shown and filterable, but the user can neither write nor delete it, and
/// deleting all of a resource's tags leaves it.
#[tokio::test]
async fn the_placement_tag_is_a_system_tag() {
    let site = crate::placement::site().await;
    let ec2 = site.server.ec2(&site.server.admin_keys());
    let allocation = ec2
        .allocate_address()
        .domain(aws_sdk_ec2::types::DomainType::Vpc)
        .send()
        .await
        .unwrap()
        .allocation_id
        .unwrap();
    let tags_of = || async {
        let listed = ec2
            .describe_addresses()
            .allocation_ids(&allocation)
            .send()
            .await
            .unwrap();
        listed.addresses()[0]
            .tags()
            .iter()
            .map(|t| (t.key().unwrap().to_string(), t.value().unwrap().to_string()))
            .collect::<Vec<_>>()
    };
    // The policies pick the cloud; the tag says which.
    let shown = tags_of().await;
    assert_eq!(shown.len(), 1, "{shown:?}");
    let system = shown[0].clone();
    assert_eq!(system.0, "aws:skyport:placement");
    assert!(
        ["aws-tokyo", "aws-virginia"].contains(&system.1.as_str()),
        "{system:?}"
    );
    let filtered = ec2
        .describe_addresses()
        .filters(
            Filter::builder()
                .name("tag:aws:skyport:placement")
                .values(&system.1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(filtered.addresses().len(), 1);

    for key in ["aws:skyport:placement", "AWS:mine", "skyport:placement"] {
        let refused = ec2
            .create_tags()
            .resources(&allocation)
            .tags(tag(key, "elsewhere"))
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&refused), "InvalidParameterValue", "{key}");
        let refused = ec2
            .delete_tags()
            .resources(&allocation)
            .tags(Tag::builder().key(key).build())
            .send()
            .await
            .unwrap_err();
        assert_eq!(ec2_code(&refused), "InvalidParameterValue", "{key}");
    }
    ec2.create_tags()
        .resources(&allocation)
        .tags(tag("team", "blue"))
        .send()
        .await
        .unwrap();
    // Removing every tag (no Tag list) removes the user's only.
    ec2.delete_tags()
        .resources(&allocation)
        .send()
        .await
        .unwrap();
    assert_eq!(tags_of().await, [system]);
}
