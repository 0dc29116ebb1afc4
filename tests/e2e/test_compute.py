"""Local compute end to end: real QEMU guests (TCG) on the local libvirt,
driven with boto3 and the aws CLI only.

The test image (scripts/build-test-image.sh) prints markers on its serial
console: its DHCP address, and what the metadata service told it (instance
id, public key, sha256 of the user-data). scripts/test.sh starts libvirtd and
builds the image, and points SKYPORT_TEST_IMAGE_DIR at it.
"""

import base64
import hashlib
import os
import random
import re
import subprocess
import threading
import time
from pathlib import Path

import pytest

from conftest import AdminCli, Creds, error_code, make_client, unique

GUEST_TIMEOUT = 90


def image_dir() -> Path:
    value = os.environ.get("SKYPORT_TEST_IMAGE_DIR")
    assert value, ("SKYPORT_TEST_IMAGE_DIR is not set: run the suite through scripts/test.sh, "
                   "which starts libvirtd and builds the test image")
    return Path(value)


# The site's flat libvirt network (tenant networks off): test_tenant_networks.py
# covers instances on VPC subnets.
COMPUTE_CONFIG = (
    "[network]\n"
    "enabled = false\n"
    "[compute]\n"
    'network = "skyport-e2e"\n'
    'bridge = "skye2e0"\n'
    'cidr = "10.252.9.0/24"\n'
    "nat = false\n"
    "metadata_port = 18776\n"
    "stop_timeout_secs = 30\n"
)


def site_domains() -> list[str]:
    """Domains on this suite's instance network, running or not."""
    names = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"],
                           capture_output=True, text=True, check=True).stdout.split()
    mine = []
    for name in names:
        xml = subprocess.run(["virsh", "-c", "qemu:///system", "dumpxml", name],
                             capture_output=True, text=True).stdout
        if "network='skyport-e2e'" in xml:
            mine.append(name)
    return mine


def virsh(*args: str) -> None:
    subprocess.run(["virsh", "-q", "-c", "qemu:///system", *args], capture_output=True)


@pytest.fixture(scope="module", autouse=True)
def fresh_test_network():
    """This suite's network starts empty: no domains, no leases dnsmasq
    remembers from an earlier run (it offers an address only to its last holder)."""
    for name in site_domains():
        virsh("destroy", name)
        virsh("undefine", name)
    virsh("net-destroy", "skyport-e2e")
    virsh("net-undefine", "skyport-e2e")
    Path("/var/lib/libvirt/dnsmasq/skye2e0.status").unlink(missing_ok=True)
    yield


def import_test_image(admin: AdminCli, *extra: str) -> str:
    images = image_dir()
    return admin.json("image", "import", "--name", unique("guest"),
                      "--kernel", str(images / "vmlinuz"), "--initrd", str(images / "initrd.cpio.gz"),
                      *extra)["id"]


@pytest.fixture
def compute_server(server_factory, tmp_path):
    # An isolated network of its own: guests reach only the host (metadata).
    config = tmp_path / "compute.toml"
    config.write_text(COMPUTE_CONFIG)
    srv = server_factory(config=config, compute=True)
    assert "local compute: libvirt" in srv.stdout_text, srv.logs()
    return srv


def console(ec2, instance_id: str) -> str:
    output = ec2.get_console_output(InstanceId=instance_id).get("Output", "")
    try:
        return base64.b64decode(output, validate=True).decode(errors="replace")
    except Exception:
        return output


def wait_console(ec2, instance_id: str, marker: str, count: int = 1) -> str:
    deadline = time.monotonic() + GUEST_TIMEOUT
    text = ""
    while time.monotonic() < deadline:
        text = console(ec2, instance_id)
        if text.count(marker) >= count:
            return text
        time.sleep(0.5)
    raise AssertionError(f"{marker} (x{count}) never appeared on {instance_id}'s console:\n{text}")


def waiter(ec2, name: str, instance_id: str):
    ec2.get_waiter(name).wait(InstanceIds=[instance_id], WaiterConfig={"Delay": 1, "MaxAttempts": GUEST_TIMEOUT})


def test_a_vm_boots_gets_its_metadata_stops_starts_reboots_and_terminates(compute_server):
    admin = AdminCli(compute_server)
    image_id = import_test_image(admin, "--cmdline", "console=ttyS0 quiet panic=-1", "--public")
    assert re.fullmatch(r"ami-[0-9a-f]{17}", image_id)

    creds = admin.new_tenant_with_key("compute")
    ec2 = make_client(compute_server, "ec2", creds)
    described = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert [i["ImageId"] for i in described] == [image_id]
    assert described[0]["State"] == "available" and described[0]["Public"] is True
    with pytest.raises(Exception) as missing:
        ec2.describe_images(ImageIds=["ami-00000000000000000"])
    assert error_code(missing.value) == "InvalidAMIID.NotFound"

    public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHgn3U/KjNpLbp6Gyn3hZ2xPGL1M9Z9b3cn0PfL1xOyK e2e"
    ec2.import_key_pair(KeyName="e2e", PublicKeyMaterial=public_key.encode())
    user_data = b"#!/bin/sh\necho hello from skyport\n"
    reservation = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                    KeyName="e2e", UserData=user_data.decode(),
                                    TagSpecifications=[{"ResourceType": "instance",
                                                        "Tags": [{"Key": "Name", "Value": "e2e-vm"}]}])
    instance = reservation["Instances"][0]
    instance_id = instance["InstanceId"]
    assert re.fullmatch(r"i-[0-9a-f]{17}", instance_id)
    assert instance["State"]["Name"] == "pending"
    private_ip = instance["PrivateIpAddress"]
    assert private_ip.startswith("10.252.9.")
    try:
        waiter(ec2, "instance_running", instance_id)
        text = wait_console(ec2, instance_id, "SKYPORT-GUEST-DONE")
        assert f"SKYPORT-GUEST-IP {private_ip}" in text, text
        assert f"SKYPORT-INSTANCE-ID {instance_id}" in text, text
        assert f"SKYPORT-USERDATA-SHA256 {hashlib.sha256(user_data).hexdigest()}" in text, text
        assert f"SKYPORT-PUBLIC-KEY {public_key}" in text, text
        assert "SKYPORT-METADATA-IMDSV2 yes" in text, text

        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert described["State"]["Name"] == "running"
        assert described["PrivateIpAddress"] == private_ip
        assert described["ImageId"] == image_id and described["KeyName"] == "e2e"
        assert {"Key": "Name", "Value": "e2e-vm"} in described["Tags"]
        by_filter = ec2.describe_instances(Filters=[{"Name": "private-ip-address", "Values": [private_ip]}])
        assert [i["InstanceId"] for r in by_filter["Reservations"] for i in r["Instances"]] == [instance_id]

        # Another tenant sees nothing and can touch nothing.
        other = make_client(compute_server, "ec2", admin.new_tenant_with_key("other"))
        for call in (lambda: other.describe_instances(InstanceIds=[instance_id]),
                     lambda: other.stop_instances(InstanceIds=[instance_id]),
                     lambda: other.get_console_output(InstanceId=instance_id)):
            with pytest.raises(Exception) as refused:
                call()
            assert error_code(refused.value) == "InvalidInstanceID.NotFound"

        # Stop: a clean ACPI shutdown the guest sees.
        stopped = ec2.stop_instances(InstanceIds=[instance_id])["StoppingInstances"][0]
        assert stopped["PreviousState"]["Name"] == "running"
        waiter(ec2, "instance_stopped", instance_id)
        assert "SKYPORT-GUEST-POWEROFF" in console(ec2, instance_id)
        stopped = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert stopped["StateReason"]["Code"] == "Client.UserInitiatedShutdown"

        # Attributes: user data as launched; the type changes while stopped.
        attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")
        assert base64.b64decode(attribute["UserData"]["Value"]) == user_data
        ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.micro"})
        attribute = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="instanceType")
        assert attribute["InstanceType"]["Value"] == "t3.micro"
        # As on EC2, this action's blob is the base64 text of the user data.
        new_user_data = b"#!/bin/sh\necho second boot\n"
        ec2.modify_instance_attribute(InstanceId=instance_id,
                                      UserData={"Value": base64.b64encode(new_user_data)})

        ec2.start_instances(InstanceIds=[instance_id])
        waiter(ec2, "instance_running", instance_id)
        text = wait_console(ec2, instance_id, "SKYPORT-GUEST-DONE", 2)
        assert f"SKYPORT-USERDATA-SHA256 {hashlib.sha256(new_user_data).hexdigest()}" in text, text
        with pytest.raises(Exception) as running:
            ec2.modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.small"})
        assert error_code(running.value) == "IncorrectInstanceState"
        described = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        assert described["InstanceType"] == "t3.micro" and "StateReason" not in described
        [domain] = site_domains()
        info = subprocess.run(["virsh", "-c", "qemu:///system", "dominfo", domain],
                              capture_output=True, text=True, check=True).stdout
        assert re.search(r"Max memory:\s+1048576 KiB", info), info

        ec2.reboot_instances(InstanceIds=[instance_id])
        text = wait_console(ec2, instance_id, "SKYPORT-GUEST-DONE", 3)
        assert text.count("SKYPORT-GUEST-POWEROFF") == 2, text
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
    waiter(ec2, "instance_terminated", instance_id)
    # The domain is gone with its disk and lease: none of this site's domains remain.
    assert site_domains() == []


def test_run_instances_refuses_unknown_images_and_types(compute_server):
    admin = AdminCli(compute_server)
    ec2 = make_client(compute_server, "ec2", admin.new_tenant_with_key("refuse"))
    with pytest.raises(Exception) as missing:
        ec2.run_instances(ImageId="ami-0123456789abcdef0", InstanceType="t3.nano", MinCount=1, MaxCount=1)
    assert error_code(missing.value) == "InvalidAMIID.NotFound"
    image_id = import_test_image(admin)
    # A private image of the admin tenant is invisible to other tenants.
    with pytest.raises(Exception) as hidden:
        ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1)
    assert error_code(hidden.value) == "InvalidAMIID.NotFound"
    admin_ec2 = make_client(compute_server, "ec2", Creds(compute_server.admin_access_key,
                                                         compute_server.admin_secret_key, "admin"))
    with pytest.raises(Exception) as bad_type:
        admin_ec2.run_instances(ImageId=image_id, InstanceType="x9.huge", MinCount=1, MaxCount=1)
    assert error_code(bad_type.value) == "InvalidParameterValue"
    admin_ec2.deregister_image(ImageId=image_id)
    with pytest.raises(Exception) as gone:
        admin_ec2.describe_images(ImageIds=[image_id])
    assert error_code(gone.value) == "InvalidAMIID.NotFound"


def test_kill_9_during_run_instances_leaves_no_orphan_and_no_ghost(server_factory, tmp_path):
    # Reconcile at start and every second; an unrecorded domain is an orphan
    # once 3 s old (a launch records its instances well within that).
    config = tmp_path / "reconcile.toml"
    config.write_text("reconcile_interval_secs = 1\norphan_grace_secs = 3\n" + COMPUTE_CONFIG)
    srv = server_factory(config=config, compute=True)
    data_dir, database_url = srv.data_dir, srv.database_url
    admin = AdminCli(srv)
    image_id = import_test_image(admin, "--public")
    creds = admin.new_tenant_with_key("crash")

    def live_instances(server) -> list[str]:
        ec2 = make_client(server, "ec2", creds)
        reservations = ec2.describe_instances()["Reservations"]
        return [i["InstanceId"] for r in reservations for i in r["Instances"]
                if i["State"]["Name"] != "terminated"]

    for round_ in range(3):
        ec2 = make_client(srv, "ec2", creds)
        launch = threading.Thread(target=lambda: _swallow(lambda: ec2.run_instances(
            ImageId=image_id, InstanceType="t3.nano", MinCount=2, MaxCount=2)))
        launch.start()
        time.sleep(random.uniform(0.05, 1.2))
        srv.proc.kill()
        srv.proc.wait(timeout=10)
        launch.join(timeout=30)
        srv = server_factory(data_dir=data_dir, database_url=database_url, config=config, compute=True)
        # Converged: every domain of the site is a live instance the tenant sees, and back.
        deadline = time.monotonic() + 30
        while True:
            domains, live = site_domains(), live_instances(srv)
            if len(domains) == len(live):
                break
            assert time.monotonic() < deadline, (
                f"round {round_}: {len(domains)} domains {domains} vs {len(live)} live instances {live}\n{srv.logs()}")
            time.sleep(0.5)
        if live:
            make_client(srv, "ec2", creds).terminate_instances(InstanceIds=live)
        assert site_domains() == [], site_domains()

    # A ghost: the domain vanishes behind Skyport's back; the record follows.
    ec2 = make_client(srv, "ec2", creds)
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    [domain] = site_domains()
    for command in ("destroy", "undefine"):
        subprocess.run(["virsh", "-q", "-c", "qemu:///system", command, domain], capture_output=True)
    deadline = time.monotonic() + 15
    while True:
        instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        if instance["State"]["Name"] == "terminated":
            break
        assert time.monotonic() < deadline, instance
        time.sleep(0.5)
    assert instance["StateReason"]["Code"] == "Server.InternalError"


def _swallow(call):
    try:
        call()
    except Exception:  # the gateway is killed mid-request: any outcome is fine here
        pass


def test_register_image_from_a_disk_in_s3(compute_server, tmp_path):
    admin = AdminCli(compute_server)
    creds = admin.new_tenant_with_key("register")
    ec2 = make_client(compute_server, "ec2", creds)
    s3 = make_client(compute_server, "s3", creds)
    disk = tmp_path / "disk.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    bucket = unique("images")
    s3.create_bucket(Bucket=bucket)
    s3.upload_file(str(disk), bucket, "disks/root.qcow2")
    s3.put_object(Bucket=bucket, Key="not-a-disk.txt", Body=b"hello")

    image_id = ec2.register_image(Name="from-s3", ImageLocation=f"{bucket}/disks/root.qcow2",
                                  Description="empty qcow2")["ImageId"]
    [image] = ec2.describe_images(ImageIds=[image_id])["Images"]
    assert image["RootDeviceType"] == "ebs" and image["Public"] is False
    assert image["Name"] == "from-s3" and image["Description"] == "empty qcow2"
    # The image holds its own copy: the object can go.
    s3.delete_object(Bucket=bucket, Key="disks/root.qcow2")

    # A disk image boots from a copy-on-write clone (this one has no OS: it
    # runs in the firmware, which is all this needs).
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1,
                                    MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        waiter(ec2, "instance_running", instance_id)
        [domain] = site_domains()
        overlay = next(compute_server.data_dir.glob(f"instances/{domain}/root.qcow2"))
        info = subprocess.run(["qemu-img", "info", "-U", "--output=json", str(overlay)],
                              capture_output=True, text=True, check=True).stdout
        assert f"images/{image_id}/disk" in info, info
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
    waiter(ec2, "instance_terminated", instance_id)

    for location, code in ((f"{bucket}/missing.qcow2", "InvalidParameterValue"),
                           (f"{bucket}/not-a-disk.txt", "InvalidParameterValue"),
                           ("no-slash", "InvalidParameterValue")):
        with pytest.raises(Exception) as refused:
            ec2.register_image(Name=unique("bad"), ImageLocation=location)
        assert error_code(refused.value) == code, location
    # Another tenant's bucket is not a source.
    other = make_client(compute_server, "ec2", admin.new_tenant_with_key("thief"))
    s3.put_object(Bucket=bucket, Key="again.qcow2", Body=disk.read_bytes())
    with pytest.raises(Exception) as stolen:
        other.register_image(Name="stolen", ImageLocation=f"{bucket}/again.qcow2")
    assert error_code(stolen.value) == "InvalidParameterValue"
    ec2.deregister_image(ImageId=image_id)


def test_a_guest_that_powers_itself_off_is_stopped_at_once(server_factory, tmp_path):
    # No background sync for an hour: only libvirt's lifecycle event can tell
    # Skyport that the guest went away (a settled instance is served from its record).
    config = tmp_path / "events.toml"
    config.write_text("instance_sync_secs = 3600\n" + COMPUTE_CONFIG)
    srv = server_factory(config=config, compute=True)
    admin = AdminCli(srv)
    image_id = import_test_image(admin, "--public")
    ec2 = make_client(srv, "ec2", admin.new_tenant_with_key("events"))
    # The guest runs its user-data after the metadata markers: it powers off.
    instance_id = ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=1, MaxCount=1,
                                    UserData="#!/bin/sh\nsync\npoweroff -f\n")["Instances"][0]["InstanceId"]
    try:
        waiter(ec2, "instance_running", instance_id)
        wait_console(ec2, instance_id, "SKYPORT-USERDATA-SHA256")
        deadline = time.monotonic() + 30
        while True:
            instance = ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
            if instance["State"]["Name"] == "stopped":
                break
            assert time.monotonic() < deadline, instance["State"]
            time.sleep(0.5)
        assert instance["StateReason"]["Code"] == "Client.InstanceInitiatedShutdown"
        # It starts again as any stopped instance does.
        ec2.start_instances(InstanceIds=[instance_id])
        waiter(ec2, "instance_running", instance_id)
    finally:
        ec2.terminate_instances(InstanceIds=[instance_id])
    waiter(ec2, "instance_terminated", instance_id)
    assert site_domains() == []
