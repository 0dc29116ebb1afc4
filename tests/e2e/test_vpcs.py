"""Tenant networks through boto3 and the aws CLI: VPCs, subnets, internet
gateways, route tables and elastic IPs, with AWS's shapes and error codes.

The data plane (bridges, segments, NAT) is exercised elsewhere; these tests
prove the API and the records it keeps."""

from __future__ import annotations

import ipaddress
import json
import subprocess

import pytest
from botocore.exceptions import ClientError

from conftest import error_code, make_client, unique
from helpers import tags_dict


def _code(call, *args, **kwargs) -> str:
    with pytest.raises(ClientError) as ei:
        call(*args, **kwargs)
    return error_code(ei.value)


@pytest.fixture
def vpc(ec2):
    """A fresh VPC, deleted (with what the test left in it) afterwards."""
    created = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]
    yield created
    vpc_id = created["VpcId"]
    for subnet in ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]:
        ec2.delete_subnet(SubnetId=subnet["SubnetId"])
    for igw in ec2.describe_internet_gateways(
            Filters=[{"Name": "attachment.vpc-id", "Values": [vpc_id]}])["InternetGateways"]:
        ec2.detach_internet_gateway(InternetGatewayId=igw["InternetGatewayId"], VpcId=vpc_id)
        ec2.delete_internet_gateway(InternetGatewayId=igw["InternetGatewayId"])
    for table in ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]:
        if not any(a.get("Main") for a in table["Associations"]):
            for assoc in table["Associations"]:
                ec2.disassociate_route_table(AssociationId=assoc["RouteTableAssociationId"])
            ec2.delete_route_table(RouteTableId=table["RouteTableId"])
    ec2.delete_vpc(VpcId=vpc_id)


def test_every_tenant_has_a_default_vpc_with_a_subnet_per_zone(ec2, ec2_b):
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]]
    defaults = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(defaults) == 1
    default = defaults[0]
    assert default["CidrBlock"] == "172.31.0.0/16" and default["State"] == "available"
    assert default["IsDefault"] is True
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [default["VpcId"]]},
                                            {"Name": "default-for-az", "Values": ["true"]}])["Subnets"]
    assert sorted(s["AvailabilityZone"] for s in subnets) == sorted(zones)
    for subnet in subnets:
        assert ipaddress.ip_network(subnet["CidrBlock"]).subnet_of(ipaddress.ip_network("172.31.0.0/16"))
        assert subnet["MapPublicIpOnLaunch"] is True
        assert subnet["AvailableIpAddressCount"] == 4096 - 5
    # It reaches the internet: an attached gateway and a default route through it.
    igws = ec2.describe_internet_gateways(
        Filters=[{"Name": "attachment.vpc-id", "Values": [default["VpcId"]]}])["InternetGateways"]
    assert len(igws) == 1
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [default["VpcId"]]},
                                              {"Name": "association.main", "Values": ["true"]}])["RouteTables"]
    assert len(main) == 1
    routes = {r["DestinationCidrBlock"]: r for r in main[0]["Routes"]}
    assert routes["172.31.0.0/16"]["GatewayId"] == "local"
    assert routes["0.0.0.0/0"]["GatewayId"] == igws[0]["InternetGatewayId"]
    assert routes["0.0.0.0/0"]["State"] == "active"
    # The default VPC's default group is the one names refer to.
    group = ec2.describe_security_groups(GroupNames=["default"])["SecurityGroups"][0]
    assert group["VpcId"] == default["VpcId"]
    # Tenants have their own default VPC, invisible to each other.
    other = ec2_b.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"]
    assert len(other) == 1 and other[0]["VpcId"] != default["VpcId"]
    assert _code(ec2_b.describe_vpcs, VpcIds=[default["VpcId"]]) == "InvalidVpcID.NotFound"


def test_create_vpc_validates_and_brings_a_main_table_and_default_group(ec2, vpc):
    vpc_id = vpc["VpcId"]
    assert vpc_id.startswith("vpc-") and vpc["CidrBlock"] == "10.20.0.0/16"
    assert vpc["IsDefault"] is False
    assert vpc["CidrBlockAssociationSet"][0]["CidrBlockState"]["State"] == "associated"
    tables = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"]
    assert len(tables) == 1 and tables[0]["Associations"][0]["Main"] is True
    assert [(r["DestinationCidrBlock"], r["GatewayId"]) for r in tables[0]["Routes"]] == \
        [("10.20.0.0/16", "local")]
    groups = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["SecurityGroups"]
    assert [g["GroupName"] for g in groups] == ["default"]
    # Same group name in two VPCs is fine; twice in one is not.
    named = unique("web")
    ec2.create_security_group(GroupName=named, Description="web", VpcId=vpc_id)
    ec2.create_security_group(GroupName=named, Description="web")
    assert _code(ec2.create_security_group, GroupName=named, Description="web",
                 VpcId=vpc_id) == "InvalidGroup.Duplicate"
    assert _code(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    for group in ec2.describe_security_groups(
            Filters=[{"Name": "group-name", "Values": [named]}])["SecurityGroups"]:
        ec2.delete_security_group(GroupId=group["GroupId"])

    assert _code(ec2.create_vpc, CidrBlock="10.0.0.0/8") == "InvalidVpc.Range"
    assert _code(ec2.create_vpc, CidrBlock="10.0.0.0/29") == "InvalidVpc.Range"
    assert _code(ec2.create_vpc, CidrBlock="10.0.0.1/16") == "InvalidParameterValue"
    assert _code(ec2.create_vpc, CidrBlock="banana") == "InvalidParameterValue"
    assert _code(ec2.describe_vpcs, VpcIds=["vpc-0123456789abcdef0"]) == "InvalidVpcID.NotFound"
    assert _code(ec2.delete_vpc, VpcId="vpc-0123456789abcdef0") == "InvalidVpcID.NotFound"


def test_subnets_stay_inside_their_vpc_and_apart(ec2, vpc):
    vpc_id = vpc["VpcId"]
    zone = ec2.describe_availability_zones()["AvailabilityZones"][0]["ZoneName"]
    a = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.1.0/24", AvailabilityZone=zone,
                          TagSpecifications=[{"ResourceType": "subnet",
                                              "Tags": [{"Key": "Name", "Value": "a"}]}])["Subnet"]
    assert a["SubnetId"].startswith("subnet-") and a["VpcId"] == vpc_id
    assert a["AvailableIpAddressCount"] == 251 and a["AvailabilityZone"] == zone
    assert a["MapPublicIpOnLaunch"] is False and a["DefaultForAz"] is False
    assert tags_dict(a["Tags"]) == {"Name": "a"}
    b = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/28")["Subnet"]
    assert b["AvailableIpAddressCount"] == 11

    assert _code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.20.1.128/25") == "InvalidSubnet.Conflict"
    assert _code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.20.0.0/16") == "InvalidSubnet.Conflict"
    assert _code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.99.0.0/24") == "InvalidSubnet.Range"
    assert _code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.20.3.0/29") == "InvalidSubnet.Range"
    assert _code(ec2.create_subnet, VpcId=vpc_id, CidrBlock="10.20.4.0/24",
                 AvailabilityZone="mars-1a") == "InvalidParameterValue"
    assert _code(ec2.create_subnet, VpcId="vpc-0123456789abcdef0",
                 CidrBlock="10.20.4.0/24") == "InvalidVpcID.NotFound"

    listed = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]
    assert sorted(s["CidrBlock"] for s in listed) == ["10.20.1.0/24", "10.20.2.0/28"]
    assert [s["SubnetId"] for s in ec2.describe_subnets(
        Filters=[{"Name": "tag:Name", "Values": ["a"]}, {"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"]] \
        == [a["SubnetId"]]
    assert _code(ec2.describe_subnets, SubnetIds=["subnet-0123456789abcdef0"]) == "InvalidSubnetID.NotFound"
    ec2.modify_subnet_attribute(SubnetId=b["SubnetId"], MapPublicIpOnLaunch={"Value": True})
    assert ec2.describe_subnets(SubnetIds=[b["SubnetId"]])["Subnets"][0]["MapPublicIpOnLaunch"] is True

    assert _code(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    ec2.delete_subnet(SubnetId=b["SubnetId"])
    assert _code(ec2.delete_subnet, SubnetId=b["SubnetId"]) == "InvalidSubnetID.NotFound"
    # A freed block can be used again.
    ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.2.0/28")


def test_internet_gateway_attachment_and_routes(ec2, vpc):
    vpc_id = vpc["VpcId"]
    igw = ec2.create_internet_gateway()["InternetGateway"]
    igw_id = igw["InternetGatewayId"]
    assert igw_id.startswith("igw-") and igw["Attachments"] == []
    table = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["RouteTables"][0]
    table_id = table["RouteTableId"]
    # Routing through a gateway of another network is refused.
    assert _code(ec2.create_route, RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                 GatewayId=igw_id) == "InvalidParameterValue"
    ec2.attach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    attached = ec2.describe_internet_gateways(InternetGatewayIds=[igw_id])["InternetGateways"][0]
    assert attached["Attachments"] == [{"State": "available", "VpcId": vpc_id}]
    assert _code(ec2.attach_internet_gateway, InternetGatewayId=igw_id,
                 VpcId=vpc_id) == "Resource.AlreadyAssociated"
    second = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    assert _code(ec2.attach_internet_gateway, InternetGatewayId=second,
                 VpcId=vpc_id) == "Resource.AlreadyAssociated"
    ec2.delete_internet_gateway(InternetGatewayId=second)

    ec2.create_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0", GatewayId=igw_id)
    assert _code(ec2.create_route, RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0",
                 GatewayId=igw_id) == "RouteAlreadyExists"
    routes = {r["DestinationCidrBlock"]: r for r in ec2.describe_route_tables(
        RouteTableIds=[table_id])["RouteTables"][0]["Routes"]}
    assert routes["0.0.0.0/0"] == {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": igw_id,
                                   "Origin": "CreateRoute", "State": "active"}
    assert _code(ec2.delete_internet_gateway, InternetGatewayId=igw_id) == "DependencyViolation"
    assert _code(ec2.delete_vpc, VpcId=vpc_id) == "DependencyViolation"
    # Detached, the route remains as a blackhole, as on AWS.
    ec2.detach_internet_gateway(InternetGatewayId=igw_id, VpcId=vpc_id)
    assert _code(ec2.detach_internet_gateway, InternetGatewayId=igw_id,
                 VpcId=vpc_id) == "Gateway.NotAttached"
    routes = {r["DestinationCidrBlock"]: r for r in ec2.describe_route_tables(
        RouteTableIds=[table_id])["RouteTables"][0]["Routes"]}
    assert routes["0.0.0.0/0"]["State"] == "blackhole"
    ec2.delete_route(RouteTableId=table_id, DestinationCidrBlock="0.0.0.0/0")
    assert _code(ec2.delete_route, RouteTableId=table_id,
                 DestinationCidrBlock="0.0.0.0/0") == "InvalidRoute.NotFound"
    assert _code(ec2.delete_route, RouteTableId=table_id,
                 DestinationCidrBlock="10.20.0.0/16") == "InvalidParameterValue"
    ec2.delete_internet_gateway(InternetGatewayId=igw_id)
    assert _code(ec2.describe_internet_gateways,
                 InternetGatewayIds=[igw_id]) == "InvalidInternetGatewayID.NotFound"


def test_route_table_associations(ec2, vpc):
    vpc_id = vpc["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.8.0/24")["Subnet"]["SubnetId"]
    table = ec2.create_route_table(VpcId=vpc_id)["RouteTable"]
    table_id = table["RouteTableId"]
    assert table["Associations"] == [] and table["Routes"][0]["GatewayId"] == "local"
    association = ec2.associate_route_table(RouteTableId=table_id, SubnetId=subnet)
    assert association["AssociationState"]["State"] == "associated"
    assert _code(ec2.associate_route_table, RouteTableId=table_id,
                 SubnetId=subnet) == "Resource.AlreadyAssociated"
    found = ec2.describe_route_tables(
        Filters=[{"Name": "association.subnet-id", "Values": [subnet]}])["RouteTables"]
    assert [t["RouteTableId"] for t in found] == [table_id]
    assert _code(ec2.delete_route_table, RouteTableId=table_id) == "DependencyViolation"
    main = ec2.describe_route_tables(Filters=[{"Name": "vpc-id", "Values": [vpc_id]},
                                              {"Name": "association.main", "Values": ["true"]}])
    assert _code(ec2.delete_route_table,
                 RouteTableId=main["RouteTables"][0]["RouteTableId"]) == "DependencyViolation"
    ec2.disassociate_route_table(AssociationId=association["AssociationId"])
    assert _code(ec2.disassociate_route_table,
                 AssociationId=association["AssociationId"]) == "InvalidAssociationID.NotFound"
    ec2.delete_route_table(RouteTableId=table_id)
    assert _code(ec2.describe_route_tables, RouteTableIds=[table_id]) == "InvalidRouteTableID.NotFound"


def test_network_resources_are_tenant_private(ec2, ec2_b, vpc):
    vpc_id = vpc["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.9.0/24")["Subnet"]["SubnetId"]
    assert vpc_id not in {v["VpcId"] for v in ec2_b.describe_vpcs()["Vpcs"]}
    assert subnet not in {s["SubnetId"] for s in ec2_b.describe_subnets()["Subnets"]}
    assert _code(ec2_b.describe_subnets, SubnetIds=[subnet]) == "InvalidSubnetID.NotFound"
    assert _code(ec2_b.delete_subnet, SubnetId=subnet) == "InvalidSubnetID.NotFound"
    assert _code(ec2_b.delete_vpc, VpcId=vpc_id) == "InvalidVpcID.NotFound"
    assert _code(ec2_b.create_subnet, VpcId=vpc_id, CidrBlock="10.20.10.0/24") == "InvalidVpcID.NotFound"
    assert _code(ec2_b.create_tags, Resources=[vpc_id],
                 Tags=[{"Key": "k", "Value": "v"}]) == "InvalidVpcID.NotFound"
    # The other tenant may use the very same blocks: VPCs are private address spaces.
    theirs = ec2_b.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
    their_subnet = ec2_b.create_subnet(VpcId=theirs, CidrBlock="10.20.9.0/24")["Subnet"]["SubnetId"]
    ec2_b.delete_subnet(SubnetId=their_subnet)
    ec2_b.delete_vpc(VpcId=theirs)


def test_tags_and_pagination_on_vpcs(ec2):
    created = [ec2.create_vpc(CidrBlock=f"10.{30 + i}.0.0/16",
                              TagSpecifications=[{"ResourceType": "vpc",
                                                  "Tags": [{"Key": "batch", "Value": "p"}]}])["Vpc"]["VpcId"]
               for i in range(6)]
    try:
        seen, token = [], None
        while True:
            kwargs = {"Filters": [{"Name": "tag:batch", "Values": ["p"]}], "MaxResults": 5}
            if token:
                kwargs["NextToken"] = token
            page = ec2.describe_vpcs(**kwargs)
            seen += [v["VpcId"] for v in page["Vpcs"]]
            token = page.get("NextToken")
            if not token:
                break
        assert sorted(seen) == sorted(created)
        ec2.create_tags(Resources=[created[0]], Tags=[{"Key": "Name", "Value": "first"}])
        found = ec2.describe_vpcs(Filters=[{"Name": "tag:Name", "Values": ["first"]}])["Vpcs"]
        assert [v["VpcId"] for v in found] == [created[0]]
        described = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [created[0]]}])["Tags"]
        assert {(t["Key"], t["ResourceType"]) for t in described} == {("batch", "vpc"), ("Name", "vpc")}
    finally:
        for vpc_id in created:
            ec2.delete_vpc(VpcId=vpc_id)
    assert not ec2.describe_vpcs(Filters=[{"Name": "tag:batch", "Values": ["p"]}])["Vpcs"]


def test_the_aws_cli_builds_a_network(aws_env, ec2):
    def aws(*args):
        out = subprocess.run(["aws", "--profile", "skyport", "--output", "json", "ec2", *args],
                             env=aws_env, capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout) if out.stdout.strip() else {}

    vpc_id = aws("create-vpc", "--cidr-block", "10.40.0.0/16")["Vpc"]["VpcId"]
    subnet = aws("create-subnet", "--vpc-id", vpc_id, "--cidr-block", "10.40.1.0/24")["Subnet"]["SubnetId"]
    igw = aws("create-internet-gateway")["InternetGateway"]["InternetGatewayId"]
    aws("attach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
    table = aws("describe-route-tables", "--filters", f"Name=vpc-id,Values={vpc_id}")["RouteTables"][0]
    aws("create-route", "--route-table-id", table["RouteTableId"], "--destination-cidr-block", "0.0.0.0/0",
        "--gateway-id", igw)
    shown = aws("describe-route-tables", "--route-table-ids", table["RouteTableId"])["RouteTables"][0]
    assert {r["DestinationCidrBlock"] for r in shown["Routes"]} == {"10.40.0.0/16", "0.0.0.0/0"}
    assert aws("describe-subnets", "--subnet-ids", subnet)["Subnets"][0]["VpcId"] == vpc_id
    aws("delete-route", "--route-table-id", table["RouteTableId"], "--destination-cidr-block", "0.0.0.0/0")
    aws("detach-internet-gateway", "--internet-gateway-id", igw, "--vpc-id", vpc_id)
    aws("delete-internet-gateway", "--internet-gateway-id", igw)
    aws("delete-subnet", "--subnet-id", subnet)
    aws("delete-vpc", "--vpc-id", vpc_id)


@pytest.fixture
def pool_server(server_factory, tmp_path):
    config = tmp_path / "skyport.toml"
    config.write_text('[network]\npublic_pool = "203.0.113.0/29"\n')
    return server_factory(config=config)


def test_elastic_ips_come_from_the_pool_and_run_out(pool_server):
    from conftest import Creds
    ec2 = make_client(pool_server, "ec2", Creds(pool_server.admin_access_key, pool_server.admin_secret_key))
    # A /29 holds 8 addresses: network, broadcast and the site's router are
    # never handed out (default VPCs' routers take one only at their first launch).
    allocated = [ec2.allocate_address(Domain="vpc") for _ in range(5)]
    ips = [a["PublicIp"] for a in allocated]
    assert ips == [f"203.0.113.{n}" for n in range(2, 7)]
    assert all(a["AllocationId"].startswith("eipalloc-") and a["Domain"] == "vpc" for a in allocated)
    assert _code(ec2.allocate_address, Domain="vpc") == "InsufficientAddressCapacity"
    listed = ec2.describe_addresses()["Addresses"]
    assert sorted(a["PublicIp"] for a in listed) == sorted(ips)
    one = ec2.describe_addresses(AllocationIds=[allocated[1]["AllocationId"]])["Addresses"]
    assert [a["PublicIp"] for a in one] == [ips[1]]
    assert [a["AllocationId"] for a in ec2.describe_addresses(PublicIps=[ips[2]])["Addresses"]] == \
        [allocated[2]["AllocationId"]]
    assert _code(ec2.describe_addresses, AllocationIds=["eipalloc-0123456789abcdef0"]) == \
        "InvalidAllocationID.NotFound"
    # Addresses are not instances' until associated; an instance that is not
    # on this site's networks cannot take one.
    assert _code(ec2.associate_address, AllocationId=allocated[0]["AllocationId"],
                 InstanceId="i-0123456789abcdef0") == "InvalidInstanceID.NotFound"
    assert _code(ec2.disassociate_address,
                 AssociationId="eipassoc-0123456789abcdef0") == "InvalidAssociationID.NotFound"
    ec2.release_address(AllocationId=allocated[0]["AllocationId"])
    assert _code(ec2.release_address, AllocationId=allocated[0]["AllocationId"]) == \
        "InvalidAllocationID.NotFound"
    # The freed address is handed out again.
    assert ec2.allocate_address(Domain="vpc")["PublicIp"] == ips[0]


def test_default_pool_and_no_pool(ec2, server_factory, tmp_path):
    # Out of the box: elastic IPs from 203.0.113.0/24 (docs/networking.md).
    address = ec2.allocate_address(Domain="vpc")
    assert ipaddress.ip_address(address["PublicIp"]) in ipaddress.ip_network("203.0.113.0/24")
    ec2.release_address(AllocationId=address["AllocationId"])
    # An empty pool means none.
    config = tmp_path / "no-pool.toml"
    config.write_text('[network]\npublic_pool = ""\n')
    srv = server_factory(config=config)
    from conftest import Creds
    bare = make_client(srv, "ec2", Creds(srv.admin_access_key, srv.admin_secret_key))
    assert _code(bare.allocate_address, Domain="vpc") == "InsufficientAddressCapacity"
