# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Skip what is already built, for ec2 targets: against moto server (EC2 over HTTP) and an sshd container.

A build looks for AMIs made from the same inputs (build hash and resolved source AMI) in the target's region and
every copy_to_regions region before it launches anything. All found: no instance, key pair or security group, and
the manifest reports the existing AMIs as reused. Otherwise (inputs changed, image_force, a copy gone) it builds.

One project and the AMIs of its first build are shared by the tests of this module (a build takes tens of seconds);
every test still gets a fresh sshd container: ssh_host, ssh_port and the key are operational keys, outside the build
hash, so a rebuild through another container has the same inputs. Moto state is not reset here: everything is looked
up by this module's own image name and key pair name, and the first build is redone if the AMIs are gone.
"""

import json

import boto3
import pytest

from conftest import AWS_ENV, Project, run_build

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

IMAGE = "amireuse"
KEY_NAME = "itest-reuse-key"
REGION, COPY_REGION = "us-east-1", "eu-west-1"
REGIONS = (REGION, COPY_REGION)
ROLE = """
- name: Write the greeting
  ansible.builtin.copy:
    content: "{{ greeting }}\\n"
    dest: /etc/greeting
    mode: "0644"
"""
ROLE_TASK = "TASK [greet : Write the greeting]"


def definition(ssh_target, greeting="hello", **extra):
    spec = {
        "image_name": IMAGE, "image_version": "1.0.0", "image_gather_facts": False,
        "image_manifest": "manifest.json",
        "image_roles": [{"role": "greet", "vars": {"greeting": greeting}}],
        "image_targets": [{
            "name": "aws", "type": "ec2", "region": REGION, "copy_to_regions": [COPY_REGION],
            "source_ami_filter": {"name": "amzn2-ami-hvm-*", "owners": ["amazon"], "most_recent": True},
            "instance_type": "t3.micro", "ssh_username": "root",
            "ssh_host": "127.0.0.1", "ssh_port": ssh_target.port,
            "ssh_keypair_name": KEY_NAME, "ssh_private_key_file": ssh_target.key,
            "allowed_cidrs": ["127.0.0.1/32"],
        }],
    }
    spec.update(extra)
    return spec


class World:
    """The module's moto clients, project, and the AMIs of the latest real build of the default definition."""

    def __init__(self, endpoint, project):
        self.endpoint = endpoint
        self.env = dict(AWS_ENV, AWS_ENDPOINT_URL=endpoint)
        self.project = project
        self.latest = None  # {"build_id", "build_hash", "amis": {region: ami}, "source_ami"}
        self._key = None

    def client(self, service, region=REGION):
        return boto3.client(service, region_name=region, endpoint_url=self.endpoint,
                            aws_access_key_id="testing", aws_secret_access_key="testing")

    def use_key(self, ssh_target):
        """Make KEY_NAME the public key of this sshd container (moto only keeps it: nothing checks it)."""
        if self._key != ssh_target.public_key:
            ec2 = self.client("ec2")
            ec2.delete_key_pair(KeyName=KEY_NAME)
            ec2.import_key_pair(KeyName=KEY_NAME, PublicKeyMaterial=ssh_target.public_key.encode())
            self._key = ssh_target.public_key

    def build(self, spec, *args):
        proc = run_build(self.project.path, spec, *args, env=self.env)
        if "--check" not in args:
            proc.manifest = json.loads((self.project.path / "manifest.json").read_text())
            proc.target = proc.manifest["targets"][0]
        return proc

    def rebuilt(self, ssh_target, spec):
        """A build that must not reuse anything: it launches an instance and makes new AMIs."""
        self.use_key(ssh_target)
        before = instances(self)
        proc = self.build(spec)
        assert proc.returncode == 0, proc.output
        assert proc.target["status"] == "succeeded" and proc.target.get("reused") is None, proc.target
        assert ROLE_TASK in proc.output
        after = instances(self)
        launched = sorted(set(after) - set(before))
        assert len(launched) == 1, "one builder instance is launched: %s" % launched
        assert launched[0][0] == REGION
        assert after[launched[0]].get("immutable.images.build-id") == proc.manifest["build_id"]
        amis = proc.target["artifact"]["amis"]
        assert set(amis) == set(REGIONS)
        for region, ami in amis.items():
            image = self.client("ec2", region).describe_images(ImageIds=[ami])["Images"][0]
            assert image["State"] == "available"
            tags = {t["Key"]: t["Value"] for t in image["Tags"]}
            assert tags["immutable.images.build-hash"] == proc.manifest["build_hash"]
            assert tags["immutable.images.base-id"] == proc.target["source_ami"]["image_id"]
            assert tags["immutable.images.kind"] == "artifact"
        return proc

    def ensure_built(self, ssh_target):
        """The AMIs of the default definition, building them first when this module has none (any more)."""
        if self.latest is None or not all(self.available(r, a) for r, a in self.latest["amis"].items()):
            proc = self.rebuilt(ssh_target, definition(ssh_target))
            self.record(proc)
        return self.latest

    def record(self, proc):
        self.latest = {"build_id": proc.manifest["build_id"], "build_hash": proc.manifest["build_hash"],
                       "amis": proc.target["artifact"]["amis"], "source_ami": proc.target["source_ami"]["image_id"]}

    def available(self, region, ami):
        images = self.client("ec2", region).describe_images(Owners=["self"])["Images"]
        return any(i["ImageId"] == ami and i["State"] == "available" for i in images)


def instances(world):
    """Every instance in every region of the build, whatever its state: {(region, id): tags}."""
    return {(region, i["InstanceId"]): {t["Key"]: t["Value"] for t in i.get("Tags") or []}
            for region in REGIONS
            for r in world.client("ec2", region).describe_instances()["Reservations"] for i in r["Instances"]}


def inventory(world):
    """What a build with nothing to do must leave as it was, per region."""
    state = {}
    for region in REGIONS:
        ec2 = world.client("ec2", region)
        state[region] = {
            "instances": sorted((i["InstanceId"], i["State"]["Name"])
                                for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]),
            "key_pairs": sorted((k["KeyPairId"], k["KeyName"]) for k in ec2.describe_key_pairs()["KeyPairs"]),
            "security_groups": sorted(g["GroupId"] for g in ec2.describe_security_groups()["SecurityGroups"]),
            "images": sorted(i["ImageId"] for i in ec2.describe_images(Owners=["self"])["Images"]),
        }
    return state


@pytest.fixture(scope="module")
def world(moto_endpoint, tmp_path_factory):
    project = Project(tmp_path_factory.mktemp("ec2-reuse-project"))
    project.role("greet", ROLE)
    return World(moto_endpoint, project)


def test_same_inputs_reuse_the_amis_and_launch_nothing(world, ssh_target):
    first = world.ensure_built(ssh_target)
    before = inventory(world)

    plan = world.build(definition(ssh_target), "--check")
    assert plan.returncode == 0, plan.output
    assert "base: %s" % first["source_ami"] in plan.output
    assert "already built by build %s" % first["build_id"] in plan.output
    for region, ami in first["amis"].items():
        assert "%s in %s" % (ami, region) in plan.output

    again = world.build(definition(ssh_target))
    assert again.returncode == 0, again.output
    assert again.manifest["status"] == "succeeded"
    assert again.manifest["build_id"] != first["build_id"]
    target = again.target
    assert target["reused"] is True and target["builder"] is None and target["status"] == "succeeded"
    assert target["artifact"]["amis"] == first["amis"]
    assert target["artifact"]["reused_from"] == first["build_id"]
    assert target["source_ami"]["image_id"] == first["source_ami"]
    assert "already built by build %s: reused" % first["build_id"] in again.output
    assert ROLE_TASK not in again.output, "no builder, so no roles"
    assert inventory(world) == before, "no instance, key pair, security group or AMI may be created"


def test_changed_inputs_and_image_force_build_again(world, ssh_target):
    first = world.ensure_built(ssh_target)

    changed = world.rebuilt(ssh_target, definition(ssh_target, greeting="changed"))
    assert changed.manifest["build_hash"] != first["build_hash"]
    changed_amis = changed.target["artifact"]["amis"]
    for region in REGIONS:
        assert changed_amis[region] != first["amis"][region]

    plan = world.build(definition(ssh_target, greeting="changed", image_force=True), "--check")
    assert plan.returncode == 0, plan.output
    assert "image_force: rebuilding" in plan.output and "already built by build" not in plan.output

    forced = world.rebuilt(ssh_target, definition(ssh_target, greeting="changed", image_force=True))
    assert forced.manifest["build_hash"] == changed.manifest["build_hash"], "image_force is not an input"
    for region in REGIONS:
        assert forced.target["artifact"]["amis"][region] not in (changed_amis[region], first["amis"][region])


def test_a_missing_copy_means_building_again(world, ssh_target):
    first = world.ensure_built(ssh_target)
    world.client("ec2", COPY_REGION).deregister_image(ImageId=first["amis"][COPY_REGION])

    plan = world.build(definition(ssh_target), "--check")
    assert plan.returncode == 0, plan.output
    assert "already built by build" not in plan.output

    proc = world.rebuilt(ssh_target, definition(ssh_target))
    amis = proc.target["artifact"]["amis"]
    assert amis[REGION] != first["amis"][REGION] and amis[COPY_REGION] != first["amis"][COPY_REGION]
    world.record(proc)


def test_a_reuse_shares_and_publishes_as_the_definition_says_now(world, ssh_target):
    first = world.ensure_built(ssh_target)
    account, parameter = "111122223333", "/images/%s/latest" % IMAGE
    spec = definition(ssh_target)
    spec["image_targets"][0].update(share_with_accounts=[account], publish_parameter=parameter)
    ssm = world.client("ssm")

    plan = world.build(spec, "--check")
    assert plan.returncode == 0, plan.output
    assert "already built by build %s" % first["build_id"] in plan.output
    for region, ami in first["amis"].items():
        assert world.client("ec2", region).describe_image_attribute(
            ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == [], "--check changes nothing"
    with pytest.raises(ssm.exceptions.ParameterNotFound):
        ssm.get_parameter(Name=parameter)

    before = inventory(world)
    again = world.build(spec)
    assert again.returncode == 0, again.output
    assert again.target["reused"] is True and again.target["artifact"]["amis"] == first["amis"]
    assert inventory(world) == before, "nothing is launched or created for a reuse"
    for region, ami in first["amis"].items():
        assert world.client("ec2", region).describe_image_attribute(
            ImageId=ami, Attribute="launchPermission")["LaunchPermissions"] == [{"UserId": account}]
    assert ssm.get_parameter(Name=parameter)["Parameter"]["Value"] == first["amis"][REGION]
    assert again.target["artifact"]["parameter"]["name"] == parameter
    assert again.manifest["build_hash"] == first["build_hash"], "sharing and publishing are not build inputs"


def test_a_source_ami_from_a_parameter_is_reused_until_the_parameter_names_another(world, ssh_target):
    """source_ami resolve:ssm: the AMI the parameter holds when the build starts (one build's publish_parameter is the
    next image's source): reused while it holds the same AMI, built again once it names another."""
    ssm, ec2 = world.client("ssm"), world.client("ec2")
    # x86_64 ones, for the target's t3.micro (moto has arm64 AMIs of both names too)
    amzn2, al2023 = (max(ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": [name]},
                                                                         {"Name": "architecture", "Values": ["x86_64"]}])["Images"],
                         key=lambda i: (i["CreationDate"], i["Name"]))["ImageId"] for name in ("amzn2-ami-hvm-*", "al2023-ami-2023*"))
    ssm.put_parameter(Name="/images/amireuse-base/latest", Value=amzn2, Type="String", DataType="aws:ec2:image",
                      Overwrite=True)
    spec = definition(ssh_target, greeting="from a parameter")
    del spec["image_targets"][0]["source_ami_filter"]
    spec["image_targets"][0]["source_ami"] = "resolve:ssm:/images/amireuse-base/latest"

    first = world.rebuilt(ssh_target, spec)
    assert first.target["source_ami"]["image_id"] == amzn2
    again = world.build(spec)
    assert again.returncode == 0, again.output
    assert again.target["reused"] is True and again.target["artifact"]["amis"] == first.target["artifact"]["amis"]

    ssm.put_parameter(Name="/images/amireuse-base/latest", Value=al2023, Type="String", DataType="aws:ec2:image",
                      Overwrite=True)
    moved = world.rebuilt(ssh_target, spec)
    assert moved.target["source_ami"]["image_id"] == al2023
    assert moved.manifest["build_hash"] == first.manifest["build_hash"], "the parameter's name is the input, not its AMI"
    assert moved.target["artifact"]["amis"][REGION] != first.target["artifact"]["amis"][REGION]
