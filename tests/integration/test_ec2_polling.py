# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""AWS's timing end to end, which moto does not have: a build whose instance or AMI AWS does not finish in time
fails at the stage that waited (aws_polling), saying how long it waited, and leaves nothing; a build whose security
group EC2 does not know yet right after making it (eventual consistency) waits for it and builds.

moto makes instances and AMIs ready at once and knows a group once it is made, so the build reaches moto through a
proxy on 127.0.0.1 that reports them pending (what AWS says while an instance boots or an AMI's snapshots are made),
or refuses the first calls that name a new group as AWS may. Without aws_polling reaching the modules, the build
would wait the defaults (10 minutes, an hour) instead of failing in seconds.
"""

import http.client
import http.server
import json
import re
import threading
from urllib.parse import parse_qs, urlsplit

import pytest

from conftest import run_build
from test_ec2_build import ROLE, assert_no_builder_left, ec2_target, import_key

pytestmark = [pytest.mark.docker, pytest.mark.aws, pytest.mark.slow]

# What each case reports pending, and how it appears in moto's EC2 XML.
PENDING = {
    "DescribeImages": (re.compile(r"<imageState>available</imageState>"), "<imageState>pending</imageState>"),
    "DescribeInstances": (re.compile(r"<instanceState>\s*<code>16</code>\s*<name>running</name>"),
                          "<instanceState><code>0</code><name>pending</name>"),
}


def refusal(code, message):
    """EC2's XML answer of an error."""
    return ("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Errors><Error><Code>%s</Code><Message>%s</Message>"
            "</Error></Errors><RequestID>00000000-0000-0000-0000-000000000000</RequestID></Response>" % (code, message))


# What EC2 answers a call that names a security group it does not know (yet).
NOT_FOUND = refusal("InvalidGroup.NotFound", "The security group does not exist")


class PendingProxy:
    """Forwards every request to moto; the responses of `action` say pending (PENDING) once the request that makes the
    resource (`after`) went through. .rewritten counts the responses changed. The first `times` requests of each
    action of `refuse` are answered `answer` (InvalidGroup.NotFound) instead of forwarded (.refused counts them)."""

    def __init__(self, upstream, action=None, after=None, refuse=(), times=1, answer=NOT_FOUND):
        self.upstream, self.action, self.after = urlsplit(upstream), action, after
        self.made, self.rewritten = False, 0
        self.refused = {name: 0 for name in refuse}
        self.times, self.answer = times, answer.encode("utf-8")
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                action = (parse_qs(body.decode("utf-8", "replace")).get("Action") or [None])[0]
                if proxy.refused.get(action, proxy.times) < proxy.times:
                    proxy.refused[action] += 1
                    status, headers, answer = 400, [("Content-Type", "text/xml")], proxy.answer
                else:
                    status, headers, answer = proxy.forward(self.command, self.path, dict(self.headers), body)
                if action == proxy.after:
                    proxy.made = True
                elif action == proxy.action and proxy.made:
                    pattern, pending = PENDING[action]
                    changed = pattern.sub(pending, answer.decode("utf-8"))
                    proxy.rewritten += changed != answer.decode("utf-8")
                    answer = changed.encode("utf-8")
                self.send_response(status)
                for name, value in headers:
                    if name.lower() not in ("content-length", "transfer-encoding", "connection", "server", "date"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            do_GET = do_POST

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = "http://127.0.0.1:%d" % self.server.server_port
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def forward(self, method, path, headers, body):
        connection = http.client.HTTPConnection(self.upstream.hostname, self.upstream.port, timeout=60)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.mark.parametrize("action, after, stage, waiter", [
    ("DescribeInstances", "RunInstances", "launch", "InstanceRunning"),
    ("DescribeImages", "CreateImage", "create", "ImageAvailable"),
])
def test_a_wait_that_runs_out_fails_saying_how_long_and_leaves_nothing(aws, ssh_target, project, action, after, stage,
                                                                       waiter):
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    proxy = PendingProxy(aws.endpoint, action, after)
    try:
        definition = {"image_name": "amislow", "image_version": "1.0.0", "image_gather_facts": False,
                      "image_roles": ["motd"], "image_manifest": "manifest.json",
                      "image_targets": [ec2_target(ssh_target, aws_polling={"delay_seconds": 1, "max_attempts": 3})]}
        proc = run_build(project.path, definition, env=dict(aws.env, AWS_ENDPOINT_URL=proxy.url), timeout=300)
    finally:
        proxy.close()
    assert proc.returncode != 0, proc.output
    assert proxy.rewritten >= 3
    said = "Waiter %s failed: not done after 3 polls 1 s apart (2 s); aws_polling sets how long a build waits on AWS" % waiter
    assert said in proc.output, proc.output
    assert re.search(r"target aws: failed at stage %s\b" % stage, proc.output), proc.output
    manifest = project.path / "manifest.json"  # a build that fails at launch writes none
    if manifest.exists():
        assert_no_builder_left(aws, json.loads(manifest.read_text())["build_id"])
    ec2 = aws.client("ec2")
    instances = [i for r in ec2.describe_instances()["Reservations"] for i in r["Instances"]]
    assert instances and {i["State"]["Name"] for i in instances} == {"terminated"}
    assert {k["KeyName"] for k in ec2.describe_key_pairs()["KeyPairs"]} == {"itest-key"}
    assert [g["GroupName"] for g in ec2.describe_security_groups()["SecurityGroups"]] == ["default"]
    assert ec2.describe_images(Owners=["self"])["Images"] == [], "the AMI of a failed build is removed"


def test_a_security_group_ec2_does_not_know_yet_is_waited_for(aws, ssh_target, project):
    """AWS may not know a security group for a moment after making it: the first AuthorizeSecurityGroupIngress and
    RunInstances that name the build's new group are refused with InvalidGroup.NotFound. The build waits and makes its
    AMI (before: "launching the builder failed at security group")."""
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    proxy = PendingProxy(aws.endpoint, refuse=("AuthorizeSecurityGroupIngress", "RunInstances"))
    try:
        definition = {"image_name": "amiconsistent", "image_version": "1.0.0", "image_gather_facts": False,
                      "image_roles": ["motd"], "image_manifest": "manifest.json", "image_targets": [ec2_target(ssh_target)]}
        proc = run_build(project.path, definition, env=dict(aws.env, AWS_ENDPOINT_URL=proxy.url), timeout=300)
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.output
    assert proxy.refused == {"AuthorizeSecurityGroupIngress": 1, "RunInstances": 1}
    manifest = json.loads((project.path / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert_no_builder_left(aws, manifest["build_id"])
    assert [g["GroupName"] for g in aws.client("ec2").describe_security_groups()["SecurityGroups"]] == ["default"]


def test_an_instance_profile_is_checked_first_and_waited_for_in_ec2(aws, ssh_target, project):
    """An instance profile IAM does not have is refused before anything is created. One that IAM has but EC2 does not
    know yet (made moments before the build: IAM's changes reach EC2 seconds later) is refused by RunInstances with
    InvalidParameterValue, here twice: the build tries again and makes its AMI, its builder with the profile (before:
    "launching the builder failed at run instance")."""
    import_key(aws, ssh_target)
    project.role("motd", ROLE)
    definition = {"image_name": "amiprofile", "image_version": "1.0.0", "image_gather_facts": False,
                  "image_roles": ["motd"], "image_manifest": "manifest.json",
                  "image_targets": [ec2_target(ssh_target, iam_instance_profile="image-builder")]}
    aws.start_recording()
    proc = run_build(project.path, definition, env=aws.env, timeout=300)
    assert proc.returncode != 0
    assert "iam_instance_profile image-builder: IAM has no instance profile of that name in this account" in proc.output
    assert aws.recorded("CreateSecurityGroup") == [] and aws.recorded("RunInstances") == []

    aws.client("iam").create_instance_profile(InstanceProfileName="image-builder")
    answer = refusal("InvalidParameterValue", "Value (image-builder) for parameter iamInstanceProfile.name is invalid. "
                                              "Invalid IAM Instance Profile name")
    proxy = PendingProxy(aws.endpoint, refuse=("RunInstances",), times=2, answer=answer)
    aws.start_recording()
    try:
        proc = run_build(project.path, definition, env=dict(aws.env, AWS_ENDPOINT_URL=proxy.url), timeout=300)
    finally:
        proxy.close()
    assert proc.returncode == 0, proc.output
    assert proxy.refused == {"RunInstances": 2}
    manifest = json.loads((project.path / "manifest.json").read_text())
    assert manifest["status"] == "succeeded"
    assert_no_builder_left(aws, manifest["build_id"])
    # the one RunInstances that reached EC2 (moto forgets a terminated instance's profile)
    assert [params.get("IamInstanceProfile.Name") for _region, params in aws.recorded("RunInstances")] == ["image-builder"]
