#!/usr/bin/python
# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later

from __future__ import annotations

DOCUMENTATION = r"""
module: image_definition
short_description: Internal - validate an image definition and compute its build plan
version_added: 0.1.0
description:
  - A step of the build that the launch role runs; not meant to be called from other playbooks, and its options may
    change in any release (see docs/plugins.md for the public modules).
  - Reads the image definition from the C(image_*) variables (see the launch role's argument spec or
    C(docs/definition-reference.md)), checks types and then everything a type cannot say (unique target names,
    semantic version, image references, which keys fit which target type, that files and roles exist), and
    reports every problem at once, each naming its variable. Nothing is created before this passes.
  - Computes the build id (unique per run, starting with the UTC time) and the build hash (a digest
    of the definition, the files' contents and the roles' contents), and returns the normalized plan
    the launch, provision and finalize roles work from (the launch role sets it as the facts
    C(image_build_id), C(image_build_hash) and C(image_build)).
  - Writes the files archive, and the task file that runs the roles (per role, its layer lookup and its include, with
    the entry's vars, role parameters and keywords), into a private temporary directory (not in check mode).
  - This is an action plugin; it runs on the controller. Its one option says whether the builders of targets expected
    to run nothing are started.
extends_documentation_fragment:
  - immutable.images.attributes
  - immutable.images.attributes.action
attributes:
  check_mode:
    support: full
    details: Validates and plans; writes nothing.
  diff_mode:
    support: none
  idempotent:
    support: none
    details: Every run is a new build with a new build id.
  action:
    support: full
options:
  start_idle_builders:
    description:
      - V(false) when no play but the provision role's runs on the builders (C(build_image.yml), C(build_all.yml)). A
        docker target whose builder would start at its last role's cached layer, with no check to run on it, no
        squash, and that layer's package inventory recorded on this controller, then gets
        RV(build.targets[].start_builder) V(false). Its builder is created at that layer and never started; its
        artifact is committed from that layer.
      - The launch role passes its C(launch_start_idle_builders).
    type: bool
    default: true
    version_added: 0.2.0
author:
  - immutable.images maintainers (@immutable-images)
"""

EXAMPLES = r"""
- name: Validate the definition and plan the build
  immutable.images.image_definition:
  vars:
    image_name: webapp
    image_version: 1.4.2
    image_targets:
      - name: container
        type: docker
        base_image: debian:bookworm
"""

RETURN = r"""
msg:
  description: The plan, one line per target.
  returned: success
  type: str
errors:
  description: Every problem found, each naming its variable.
  returned: failure
  type: list
  elements: str
  sample: ["image_version: '1.4' is not a semantic version like 1.4.2"]
# BEGIN build (scripts/gen-plan-return)
build:
  description: The normalized build plan (the launch role sets it as the fact image_build).
  returned: success
  type: dict
  contains:
    id:
      description: Unique id of this run, starting with the UTC time.
      type: str
    hash:
      description: Short digest of the build inputs (definition, files, roles, facts and tags settings).
      type: str
    name:
      description: image_name.
      type: str
    version:
      description: image_version.
      type: str
    started:
      description: When the build started (ISO 8601, UTC).
      type: str
    started_ts:
      description: The same as a Unix time.
      type: float
    revision:
      description: The git revision of the current directory, null outside a git work tree.
      type: str
    workdir:
      description: Private temporary directory of the build (files archive, role and check task files); null in
        check mode and when nothing is built.
      type: str
    files_archive:
      description: The image_files archive, null without files or when nothing is built.
      type: str
    files_digest:
      description: Digest of the image_files' contents.
      type: str
    roles:
      description: The image roles in order.
      type: list
      elements: dict
      contains:
        name:
          description: The role as image_roles names it.
          type: str
        path:
          description: Where the role was found.
          type: str
        digest:
          description: Digest of the role's files (part of the build hash and of its layer cache key).
          type: str
    used_before_defined:
      description: 'What an image role uses (in its entry''s vars or its files) that only a later image role defines:
        variable names, and ''handler <name>''. With any, every role is loaded before the first runs, as a play
        loads its roles.'
      type: list
      elements: str
    role_tasks:
      description: The task file that runs the roles in order (per role, its layer lookup and its include), a list
        of one (empty without roles or when nothing is built).
      type: list
      elements: str
    verify_tasks:
      description: The task file of the image_verify checks that run on the builder, or null.
      type: str
    verify_runs:
      description: The run tests of image_verify, with the names of their env only.
      type: list
      elements: dict
    gather_facts:
      description: Whether facts are gathered on the builders.
      type: bool
    facts:
      description: The gather_facts arguments, null when no facts are gathered.
      type: dict
    facts_deferred:
      description: 'Whether docker builders gather the facts at the first role whose layer is not in the layer cache
        (its lookup does) instead of before the roles: when the facts are gathered, the cache is on and no role
        vars, build_env or builder-side image_verify check holds a template.'
      type: bool
    play:
      description: What decides how the roles behave besides the roles (facts, --tags, --skip-tags, the run's variables).
      type: dict
      contains:
        facts:
          description: As facts.
          type: dict
        tags:
          description: --tags, or [all].
          type: list
          elements: str
        skip_tags:
          description: --skip-tags.
          type: list
          elements: str
        vars:
          description: A scrypt digest of the extra variables, the variables the builders get from the inventory
            (and under build_all the definition file's variables) but image_*, ansible_*, awx_* and tower_*, as
            written; absent when there are none.
          type: str
        project:
          description: 'A sha256 over the project directory''s files/, templates/, vars/ and plugin directories
            (library/, filter_plugins/, ...): what a role finds there by a relative name, as from a playbook there;
            absent when the project has none of them.'
          type: str
    on_error:
      description: image_on_error.
      type: str
    manifest:
      description: Absolute path of the manifest, or null.
      type: str
    cache:
      description: image_cache.
      type: bool
    provision_only:
      description: 'Whether no play but the provision role''s runs on the builders (the launch role''s launch_start_idle_builders
        false: build_image.yml, build_all.yml). Only then is a docker artifact made from the last layer the cache
        stored instead of the builder, and may the builder stay at an earlier layer: plays of one''s own on the
        builders find them holding every role''s work, and what they change is committed.'
      type: bool
    warm_interpreter:
      description: image_warm_interpreter.
      type: bool
    controller_modules:
      description: 'Whether the build runs modules on the controller as modules (an ec2 target, a push, a save,
        a reused image''s missing tag, image_keep): launch starts the controller''s warm interpreter only then.'
      type: bool
    roles_to_run:
      description: 'Paths of the roles some builder is expected to run: those after the layers the docker builders
        start at (start_roles; every role for an ec2 target or without the layer cache). Launch builds their modules''
        payloads in advance.'
      type: list
      elements: str
    force:
      description: image_force.
      type: bool
    scanner:
      description: The vulnerability scanner found on PATH (trivy, grype), or null.
      type: str
    scan_fail_on:
      description: image_scan_fail_on.
      type: str
    definition_digest:
      description: SHA-256 of the definition's hash input (provenance).
      type: str
    target_names:
      description: Names of the selected targets.
      type: list
      elements: str
    sign:
      description: image_sign with the key's absolute path, or null when nothing is signed.
      type: dict
      contains:
        key:
          description: Absolute path of the signing key (never the key).
          type: str
        password_env:
          description: Environment variable holding the key's password.
          type: str
        builder_id:
          description: The SLSA builder id of the provenance.
          type: str
    keep:
      description: image_keep without its unset keys.
      type: dict
    targets:
      description: The selected targets to build.
      type: list
      elements: dict
      contains:
        name:
          description: Target name, unique per definition, C([a-z0-9][a-z0-9_-]*).
          type: str
        type:
          description: Kind of artifact.
          type: str
        python_interpreter:
          description: Python on the builder that runs Ansible modules. (docker) When it is V(/usr/bin/python3)
            and the base image has none there, the first Python that ansible-core's interpreter discovery finds
            on the image's PATH (C(python3.14) ... C(python3.9), C(python3)), as a play against a container of it
            would use.
          type: str
        base_image:
          description: (docker) Image the builder starts from, in any form C(docker pull) accepts.
          type: str
        pull:
          description: (docker) When to pull C(image_targets[].base_image).
          type: str
        platform:
          description: (docker) Platform of the base image and builder, for example C(linux/amd64).
          type: str
        network_mode:
          description: (docker) Network mode of the builder. V(host) lets a builder reach the host's network.
          type: str
        docker_host:
          description: (docker) Docker engine to use - V(unix:///path), V(tcp://host:port) or V(ssh://user@host).
            Defaults to E(DOCKER_HOST), then the docker CLI's current context, then the local socket. Everything
            of the target runs there (see docs/scale-out.md). A Podman service (its Docker-compatible API) is refused
            before anything is created, as its commit ignores the image configuration (see docs/docker-target.md);
            so is a current context that is not there.
          type: str
        tls:
          description: (docker) Mutual TLS with a V(tcp://) C(image_targets[].docker_host). Without it, E(DOCKER_TLS_VERIFY)
            and E(DOCKER_CERT_PATH) apply as the docker CLI reads them. Never affected by E(REQUESTS_CA_BUNDLE)
            or E(CURL_CA_BUNDLE). Paths are relative to the current directory.
          type: dict
          contains:
            ca_cert:
              description: The CA that signed the engine's certificate (PEM). Required when C(image_targets[].tls.verify)
                is true.
              type: str
            client_cert:
              description: The client certificate (PEM) the engine accepts.
              type: str
            client_key:
              description: The client certificate's private key (PEM). Its content is never shown.
              type: str
            verify:
              description: Verify the engine's certificate against C(image_targets[].tls.ca_cert).
              type: bool
            hostname:
              description: The name to check the engine's certificate for, when it is not the host of C(image_targets[].docker_host).
              type: str
        privileged:
          description: (docker) Run the builder privileged. Never done unless asked.
          type: bool
        build_volumes:
          description: (docker) Bind mounts for the builder only (C(host:container[:ro])). Their content is not
            in the image.
          type: list
          elements: str
        repository:
          description: 'docker: the repository of the local tags.'
          type: str
        tags:
          description: 'docker: the tags (a list); ec2: the tags of the AMI and snapshots (a mapping).'
          type: raw
        config:
          description: (docker) Image config written at commit time. The base image's values are kept where not
            set.
          type: dict
          contains:
            user:
              description: User (name or uid[:gid]) the image runs as.
              type: str
            workdir:
              description: Working directory.
              type: str
            cmd:
              description: Default command (exec form, the program first). A string with spaces is refused, with
                the lists it may mean (see docs/docker-target.md).
              type: list
              elements: str
            entrypoint:
              description: Entrypoint (exec form, the program first). An empty list clears the base image's entrypoint.
                A string with spaces is refused, as for C(image_targets[].config.cmd).
              type: list
              elements: str
            env:
              description: Environment variables baked into the image.
              type: dict
            expose:
              description: Exposed ports, C(8080/tcp) or C(8080).
              type: list
              elements: str
            labels:
              description: Labels. OCI labels (version, revision, created, title) are added.
              type: dict
            volumes:
              description: Volume mount points.
              type: list
              elements: str
            stop_signal:
              description: Signal that stops the container.
              type: str
            healthcheck:
              description: Health check.
              type: dict
              contains:
                test:
                  description: C(["CMD", "<program>", "<args>"...]), C(["CMD-SHELL", "<shell command>"]) or C(["NONE"]);
                    anything else is refused.
                  type: list
                  elements: str
                interval:
                  description: Time between checks, for example C(30s).
                  type: str
                timeout:
                  description: Time a check may take.
                  type: str
                start_period:
                  description: Grace period after start.
                  type: str
                retries:
                  description: Failures before unhealthy.
                  type: int
        push:
          description: (docker) Repositories to push every tag to.
          type: list
          elements: str
        save:
          description: (docker) Path of a C(docker save) tar of the result.
          type: str
        squash:
          description: (docker) Produce a single-layer image with the same config.
          type: bool
        region:
          description: (ec2) AWS region of the builder and the AMI.
          type: str
        source_ami:
          description: '(ec2) AMI id to start from, or a Systems Manager parameter that holds one, as RunInstances
            takes it (C(resolve:ssm:/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-x86_64)): the
            AMI it holds when the build starts. Mutually exclusive with C(image_targets[].source_ami_filter).'
          type: str
        source_ami_filter:
          description: (ec2) Find the source AMI (C(name), C(owners), C(architecture), C(most_recent), C(filters)).
          type: dict
        instance_type:
          description: (ec2) Instance type of the builder.
          type: str
        ssh_username:
          description: (ec2) User Ansible logs in as.
          type: str
        ami_name:
          description: (ec2) Name of the AMI. Default C(<image_name>-<image_version>-<image_build_id>); in a definition
            of several ec2 targets, C(<image_name>-<image_version>-<target name>-<image_build_id>). Two targets
            may not give the same name to AMIs in one region.
          type: str
        ami_description:
          description: (ec2) Description of the AMI.
          type: str
        imds_support:
          description: (ec2) V(v2.0) makes instances launched from the AMI (and its copies) use IMDSv2 only - the
            AMI's C(ImdsSupport) attribute (Packer's name). AWS does not let anyone unset it. The builder itself
            always runs with IMDSv2 required.
          type: str
        copy_to_regions:
          description: (ec2) Regions the AMI is copied to.
          type: list
          elements: str
        region_kms_key_ids:
          description: (ec2) The KMS key of each copy, by region (Packer's name), as a key id, alias or ARN of that
            region; V("") for that region's default EBS key. Each copy listed is made encrypted with its key. When
            given, every region of C(image_targets[].copy_to_regions) needs an entry. Needed for the copies of an
            AMI shared and encrypted with a customer key (C(image_targets[].root_volume.kms_key_id)).
          type: dict
        share_with_accounts:
          description: (ec2) Account ids given launch permission.
          type: list
          elements: str
        share_snapshots:
          description: (ec2) Also let the accounts of C(image_targets[].share_with_accounts) create volumes from
            the AMIs' snapshots, in every region - what an account needs to copy the AMI (to encrypt it with its
            own key, say), which launch permission alone does not allow. AWS offers it to accounts only.
          type: bool
        share_with_organizations:
          description: (ec2) Organization ARNs given launch permission.
          type: list
          elements: str
        share_with_ous:
          description: (ec2) Organizational unit ARNs given launch permission.
          type: list
          elements: str
        subnet_id:
          description: (ec2) Subnet of the builder. Default subnet of the default VPC when unset.
          type: str
        subnet_filter:
          description: (ec2) The builder's subnet found by filters instead of C(image_targets[].subnet_id) (Packer's
            name), so that one definition fits every account whose subnets carry the same tags. Only available subnets
            count; several matches are an error unless C(most_free) or C(random) chooses. Found before anything
            is created. Where the builder runs, not what is built - not part of the build hash.
          type: dict
          contains:
            filters:
              description: EC2 DescribeSubnets filters, name to value or list of values (C(tag:Purpose), C(vpc-id),
                ...).
              type: dict
            most_free:
              description: Of several matches, the subnet with the most free addresses.
              type: bool
            random:
              description: Of several matches, any one.
              type: bool
        iam_instance_profile:
          description: (ec2) Instance profile name or ARN of the builder. One that IAM does not have is refused
            before anything is created (when C(iam:GetInstanceProfile) is allowed); one that EC2 does not know yet,
            made moments before the build, is waited for (about a minute at most), as Packer does.
          type: str
        metadata_options:
          description: '(ec2) The builder''s instance metadata service beside IMDSv2, which the builder always requires
            (Packer''s C(metadata_options), without C(http_tokens) and C(http_endpoint)). Not in the build hash:
            the AMI''s own is C(image_targets[].imds_support).'
          type: dict
          contains:
            http_put_response_hop_limit:
              description: Network hops a metadata token may take (AWS's default 1, 1 to 64). C(2) lets a container
                that a role runs on the builder (a C(docker build), an image pulled with the instance's role) reach
                the instance's credentials.
              type: int
            instance_metadata_tags:
              description: The builder's tags in its metadata (C(/latest/meta-data/tags/instance)).
              type: bool
        run_tags:
          description: '(ec2) Tags on the builder instance, its volumes, its temporary key pair and security group,
            from the request that creates each (Packer''s C(run_tags)): for accounts whose policies require tags
            on what is created (service control policies on C(aws:RequestTag), tag policies). The AMI and its snapshots
            get C(image_targets[].tags). The build''s own tags cannot be set. Not in the build hash.'
          type: dict
        root_volume:
          description: (ec2) Root volume of the builder and so of the AMI.
          type: dict
          contains:
            size:
              description: Size in GiB.
              type: int
            type:
              description: Volume type, for example C(gp3).
              type: str
            encrypted:
              description: Encrypt the volume.
              type: bool
            kms_key_id:
              description: KMS key for encryption.
              type: str
            iops:
              description: 'Provisioned IOPS of the volume (C(gp3), C(io1), C(io2); Packer''s C(iops)). The AMI''s
                volume keeps it: instances launched from the AMI get it too.'
              type: int
            throughput:
              description: Throughput in MiB/s (C(gp3) only; Packer's C(throughput)); the default of C(gp3) is 125.
                A faster volume shortens builds that install many packages. The AMI's volume keeps it.
              type: int
        extra_volumes:
          description: (ec2) EBS volumes the builder gets besides its root volume, each kept in the AMI as a snapshot
            of what the roles left on it (separate file systems for C(/var), C(/var/log) or C(/tmp), as hardening
            benchmarks ask). Packer's C(launch_block_device_mappings) of other devices than the root; every one
            is deleted with the builder.
          type: list
          elements: dict
          contains:
            device_name:
              description: The device, C(/dev/sd[b-z]) or C(/dev/xvd[b-z]) (a letter more allowed), not the source
                AMI's root device.
              type: str
            size:
              description: Size in GiB.
              type: int
            type:
              description: Volume type, for example C(gp3).
              type: str
            encrypted:
              description: Encrypt the volume.
              type: bool
            kms_key_id:
              description: KMS key for encryption (a key of the build's region).
              type: str
            iops:
              description: Provisioned IOPS (C(gp3), C(io1), C(io2)).
              type: int
            throughput:
              description: Throughput in MiB/s (C(gp3) only).
              type: int
        allowed_cidrs:
          description: (ec2) Source CIDRs allowed to reach SSH on the temporary security group. Required unless
            C(image_targets[].security_group_ids) is given. C(0.0.0.0/0), C(::/0) (any C(/0)) are refused unless
            C(image_targets[].allow_open_ssh) is set.
          type: list
          elements: str
        allow_open_ssh:
          description: (ec2) Accept an C(image_targets[].allowed_cidrs) entry that opens SSH of the builder to every
            address (C(0.0.0.0/0) or C(::/0)). The build warns when it is used.
          type: bool
        associate_public_ip_address:
          description: (ec2) Whether the builder gets a public IP address (Packer's name), whatever its subnet's
            setting says - V(true) in a subnet that assigns none (usual outside the default VPC) for C(image_targets[].ssh_interface)
            V(public_ip), V(false) for none. Unset, the subnet decides.
          type: bool
        security_group_ids:
          description: (ec2) Existing security groups the builder gets (Packer's name), for accounts where builds
            may not create security groups; they must let the controller (or the bastion) reach the SSH port, and
            are never changed or deleted. With them, C(image_targets[].allowed_cidrs) is optional (given, a temporary
            group for it is made too).
          type: list
          elements: str
        security_group_filter:
          description: (ec2) More existing security groups, found by filters among the groups of the builder's VPC
            (Packer's name), each as one of C(image_targets[].security_group_ids); with it, C(image_targets[].allowed_cidrs)
            is optional too. Matching none is an error, before anything is created.
          type: dict
          contains:
            filters:
              description: EC2 DescribeSecurityGroups filters, name to value or list of values (C(tag:Purpose),
                C(group-name), ...).
              type: dict
        ssh_interface:
          description: (ec2) Address Ansible connects to.
          type: str
        ssh_host:
          description: (ec2) Connect to this address instead of the instance's (a forward, tests; through a bastion,
            as it resolves it).
          type: str
        ssh_port:
          description: (ec2) SSH port.
          type: int
        ssh_keypair_name:
          description: (ec2) Existing key pair; requires C(image_targets[].ssh_private_key_file). Default creates
            a temporary ED25519 key pair.
          type: str
        ssh_private_key_file:
          description: (ec2) Private key of C(image_targets[].ssh_keypair_name).
          type: str
        ssh_timeout:
          description: (ec2) Seconds to wait for SSH to answer, and then at most for the builder's first boot (cloud-init)
            to be over.
          type: int
        aws_polling:
          description: '(ec2) How the build waits on AWS (Packer''s C(aws_polling)) - the builder running, then
            stopped, the AMI and each copy available: a poll every C(image_targets[].aws_polling.delay_seconds),
            at most C(image_targets[].aws_polling.max_attempts) polls each. Without it, a poll every 15 seconds,
            up to 10 minutes for the instance and an hour for each AMI. Raise it for AMIs of large volumes, whose
            snapshots take longer. Not in the build hash.'
          type: dict
          contains:
            delay_seconds:
              description: Seconds between two polls (0 or more).
              type: int
            max_attempts:
              description: Polls of each wait before the build fails (1 or more). Without it, 40 for the instance
                and 240 for each AMI.
              type: int
        ssh_bastion_host:
          description: (ec2) Reach the builder through this bastion (jump) host, for the wait for C(image_targets[].ssh_port)
            (made from the bastion) and every task (OpenSSH's C(ssh -W) as the connection's ProxyCommand). Its C(sshd)
            must allow TCP forwarding; its host key is checked as Ansible's C(host_key_checking) says.
          type: str
        ssh_bastion_port:
          description: (ec2) SSH port of C(image_targets[].ssh_bastion_host).
          type: int
        ssh_bastion_username:
          description: (ec2) User on C(image_targets[].ssh_bastion_host); default what C(ssh) takes (C(~/.ssh/config),
            else the controller's user).
          type: str
        ssh_bastion_private_key_file:
          description: (ec2) Private key for C(image_targets[].ssh_bastion_host); default what C(ssh) takes (C(~/.ssh/config),
            the agent, C(~/.ssh/id_*)).
          type: str
        watchdog_timeout:
          description: (ec2) The builder's dead man's switch - the instance (launched with shutdown behaviour V(terminate))
            shuts itself down, and so terminates, once no SSH session of the controller has been open for this many
            seconds. Ansible holds one for the whole build; set it above the longest time this builder waits for
            the other targets' tasks. V(0) turns the watchdog off.
          type: int
        spot:
          description: (ec2) Launch the builder as a spot instance.
          type: bool
        scrub:
          description: (ec2) Remove the temporary key, SSH host keys, cloud-init state, history and logs before
            imaging.
          type: bool
        force_deregister:
          description: (ec2) Deregister an existing AMI of the same name (and delete its snapshots) first.
          type: bool
        deprecate_after:
          description: (ec2) Deprecate the AMI after this long (C(90d)) or at this date (C(2027-01-01)).
          type: str
        publish_parameter:
          description: (ec2) SSM parameter name that receives the AMI id in the build region.
          type: str
        definition_index:
          description: Index of the target in image_targets (where no_log places read build_env, user_data, registry_auth
            and base_image_auth from).
          type: int
        build_env:
          description: Names of the build_env variables (their values stay in the definition).
          type: list
          elements: str
        user_data:
          description: Whether the definition gives user_data (its value stays in the definition).
          type: bool
        selected:
          description: Whether image_only selects the target.
          type: bool
        builder_name:
          description: Name of the builder (container or instance) of this build.
          type: str
        host:
          description: Inventory name of the builder, <image_name>-<target name>.
          type: str
        labels:
          description: Labels of the builder and of everything else this build creates.
          type: dict
        artifact_labels:
          description: Labels of the artifact (build labels and OCI annotations).
          type: dict
        image_refs:
          description: 'docker: repository:tag of every local tag.'
          type: list
          elements: str
        push_refs:
          description: 'docker: every reference pushed (each push repository with each tag).'
          type: list
          elements: str
        registry_auth:
          description: 'docker: whether the definition gives registry credentials (they stay there).'
          type: bool
        base_image_auth:
          description: 'docker: whether the definition gives credentials for the base image''s registry (they stay
            there).'
          type: bool
        remote_engine:
          description: 'docker: whether the engine is remote (tcp://, ssh://).'
          type: bool
        engine_pool:
          description: 'docker target of image_engines: the engines that answered, placed at launch.'
          type: list
          elements: dict
          contains:
            docker_host:
              description: The engine's address, null for the default engine.
              type: str
            tls:
              description: Its TLS settings (paths absolute), null without TLS.
              type: dict
        base:
          description: 'The base the artifact is built from: image id (docker) or AMI id (ec2), when known.'
          type: str
        reuse:
          description: The artifact already built from the same inputs (reuse instead of a build), else null.
          type: dict
        reuse_note:
          description: Why the artifact was or was not reused.
          type: str
        python_note:
          description: 'docker: what the plan found of the target''s Python in the base image, when it is not there:
            the Python ansible-core''s interpreter discovery finds there instead (then python_interpreter), or none.'
          type: str
        platform_note:
          description: 'docker: when the base image is of another architecture than its engine, that the builder
            runs only where the engine emulates it; else none.'
          type: str
        start_layer:
          description: 'docker, layer cache: the layer of the cache its builder starts from (image id), the deepest
            one its lookups are expected to find; null: the base image. A guess: the lookups decide.'
          type: str
        start_roles:
          description: 'docker, layer cache: how many roles, in order, start_layer holds.'
          type: int
        start_key:
          description: 'docker, layer cache: the cache key of start_layer (that of its last role).'
          type: str
        idle:
          description: 'docker: whether nothing is expected to run on the builder (start_layer holds every role''s
            layer, no check runs on it, no squash). Its session then starts only if a step needs it, not as soon
            as the builder runs.'
          type: bool
        start_builder:
          description: 'docker: false when the builder is created at start_layer and never started: the target is
            idle, the layer''s package inventory is recorded on this controller, and the launch role''s launch_start_idle_builders
            is false (build_image.yml, build_all.yml). Its artifact is committed from that layer, and no play runs
            on it.'
          type: bool
        sbom_path:
          description: Where the target's CycloneDX SBOM is written.
          type: str
        builder:
          description: 'Set by launch on the builder''s image_target: what it learned about the builder (container
            id, name, image id; instance id, address, key).'
          type: dict
    engines:
      description: Every engine a builder can be on (launch narrows it to those the builders are on).
      type: list
      elements: dict
      contains:
        docker_host:
          description: The engine's address, null for the default engine.
          type: str
        tls:
          description: Its TLS settings (paths absolute), null without TLS.
          type: dict
    engines_fixed:
      description: The engines of the targets outside image_engines.
      type: list
      elements: dict
      contains:
        docker_host:
          description: The engine's address, null for the default engine.
          type: str
        tls:
          description: Its TLS settings (paths absolute), null without TLS.
          type: dict
    engine_notes:
      description: Why engines of image_engines were skipped.
      type: list
      elements: str
    reused_targets:
      description: The selected targets whose artifact already exists. Each has the keys of RV(build.targets).
      type: list
      elements: dict
    base_id_label:
      description: The label (docker) or tag (ec2) that records the base's id on the artifact.
      type: str
    skipped_targets:
      description: Names of the targets image_only does not select.
      type: list
      elements: str
    guard_pid:
      description: 'Set by launch: the process id of the build guard.'
      type: int
    controller_env:
      description: 'Set by launch: the environment that sends the controller-side modules of the launch and finalize
        roles to the controller''s warm interpreter ({} without one).'
      type: dict
# END build
"""
