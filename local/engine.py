"""The embedded AWS for a laptop: moto on loopback, running our real state machine.

`LocalEngine.start()`:
1. starts moto's server on 127.0.0.1 (a free port) with Step Functions execution on
   and docker-less Lambda, whose `invoke` runs our handlers in this process;
2. registers CloudFormation models for EKS, the stack timing/fault layer, CloudFormation's
   quotas (local/cfn_quotas.py) and the account's (local/account_quotas.py);
3. points this process at it through the standard variables (`AWS_ENDPOINT_URL`,
   credentials, region) — `chalicelib` has no local-mode branches;
4. deploys what infra/ deploys on AWS: the table, the artifacts bucket, one Lambda function per Chalice
   `@lambda_function`, and the state machines from `statemachine/*.asl.json` with
   the same `${...FunctionArn}` substitutions.
"""

from __future__ import annotations

import functools
import io
import json
import logging
import os
import threading
import urllib.request
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from chalicelib.aws.clients import reset_default_clients
from chalicelib.aws.store import TABLE_DEFINITION, TTL_ATTRIBUTE
from chalicelib.model import naming, settings

ROOT = Path(__file__).resolve().parent.parent
STATEMACHINE_DIR = ROOT / "statemachine"
STAGE = "local"
ACCOUNT_ID = "123456789012"
ACCESS_KEY = "testing"
SECRET_KEY = "testing"
# What moto's STS answers GetCallerIdentity with for keys it did not issue.
CREATOR_ARN = f"arn:aws:sts::{ACCOUNT_ID}:user/moto"
SLACK_SECRET_NAME = "ekspress/local/slack-signing-secret"
# Where templates over CloudFormation's TemplateBody limit go (infra/template.yaml's ArtifactsBucket).
ARTIFACTS_BUCKET = f"ekspress-{STAGE}-artifacts-{ACCOUNT_ID}"
LOCAL_SLACK_SIGNING_SECRET = "local-slack-signing-secret"
LOCAL_IDENTITY_KEY = "local-identity-key"
# The settings `deploy()` configures every function with: those infra/template.yaml gives them
# (its Globals, and the stage's in .chalice/config.json) but the stack role and the Kubernetes
# roles, which the fast deploy does not create (empty: the caller's own credentials, no entries).
FUNCTION_SETTINGS = (
    settings.ENV_TABLE_NAME,
    settings.ENV_POLL_SCALE,
    settings.ENV_SLACK_SECRET_ID,
    settings.ENV_ARTIFACTS_BUCKET,
    settings.ENV_SLACK_WORKER_FUNCTION,
    settings.ENV_POOL_FILL_FUNCTION,
    *settings.STATE_MACHINE_ENV.values(),
)


def cluster_regions() -> list[str]:
    """Every region EKS is in: a forwarder where no cluster is made costs nothing, and the regions a
    guardrail allows can change while the engine runs (tests set them per test)."""
    return shared_session().get_available_regions("eks")


@functools.cache
def shared_session() -> Any:
    """One boto3 session for the engine's own lookups of botocore's data (regions, partitions): a new
    session parses botocore's endpoint data again."""
    import boto3

    return boto3.session.Session()


def share_sessions() -> None:
    """moto's EKS checks each role ARN's partition with a new boto3 session, parsing botocore's endpoint
    data on every cluster and node group it creates: it gets the engine's session instead."""
    from moto.eks import utils

    from local import botocore_data

    utils.Session = shared_session
    botocore_data.install()


def _tiny_zip() -> bytes:
    # moto stores a code package; the in-process runtime never runs it.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("README.txt", "Handlers run in-process from the working tree.\n")
    return buf.getvalue()


def function_config(name: str) -> Any:
    """A function's settings as Chalice deploys them from .chalice/config.json (memory, timeout)."""
    from chalice.config import Config

    return Config(chalice_stage=STAGE, function_name=name, config_from_disk=_chalice_config())


@functools.cache
def _chalice_config() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return loaded


def state_machine_definition(file: str, substitutions: dict[str, str]) -> str:
    """The ASL file with `${Key}` placeholders filled, as DefinitionSubstitutions does."""
    text = (STATEMACHINE_DIR / file).read_text()
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    if "${" in text:
        missing = sorted({part.split("}")[0] for part in text.split("${")[1:]})
        raise ValueError(f"{file}: no value for {', '.join(missing)}")
    json.loads(text)
    return text


def _quick_stop_server() -> type:
    from moto import backends
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
    from moto.server import ThreadedMotoServer
    from werkzeug.serving import make_server

    services = frozenset(backends.list_of_moto_modules())

    class Dispatcher(DomainDispatcherApplication):  # type: ignore[misc]
        """moto's dispatcher, knowing its services once: its own lists moto's package folder on every request."""

        def get_backend_for_host(self, host: str | None) -> Any:
            if host is None or host == "moto_api" or host in services:
                return host
            return next((name for name, url in self.backend_url_patterns if url.match(f"http://{host}")), None)

    class QuickStopServer(ThreadedMotoServer):  # type: ignore[misc]
        """moto's threaded server, whose loop notices a stop within 50 ms rather than 500 (every engine stops)."""

        def _server_entry(self) -> None:
            app = Dispatcher(create_backend_app)
            self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
            self._server_ready_event.set()
            self._server.serve_forever(poll_interval=0.05)

    return QuickStopServer


def build_validators() -> None:
    """Build every model's validator now, before the engine's threads could race to build one.

    The service's models build theirs on first use (`defer_build`: a Lambda cold start builds only what
    it validates), and pydantic's first build is not thread-safe. Lambda runs one request per
    environment at a time; this engine runs every function on threads of one process.
    """
    from pydantic import BaseModel

    import app  # noqa: F401  (every model the service has)

    todo: list[type[BaseModel]] = list(BaseModel.__subclasses__())
    while todo:
        model = todo.pop()
        todo.extend(model.__subclasses__())
        if model.__module__.startswith("chalicelib.") and not model.__pydantic_complete__:
            model.model_rebuild()


# How long a new engine waits for moto to reset its back ends (see `start`).
RESET_TIMEOUT_SECONDS = 120


@dataclass
class LocalEngine:
    region: str = "us-west-2"
    cluster_seconds: float = 0.0
    nodegroup_seconds: float = 0.0
    poll_scale: float = 0.01
    table_name: str = "ekspress-local"
    slack_signing_secret: str = LOCAL_SLACK_SIGNING_SECRET
    identity_key: str = LOCAL_IDENTITY_KEY
    endpoint: str = ""
    outputs: dict[str, str] = field(default_factory=dict)
    # Credentials the Kubernetes emulators accept: access key → secret, and → caller ARN.
    # The engine's own key is the cluster creator (EKS makes the creator an admin).
    secrets: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY: SECRET_KEY})
    identities: dict[str, str] = field(default_factory=lambda: {ACCESS_KEY: CREATOR_ARN})
    emulators: dict[tuple[str, str], Any] = field(default_factory=dict)
    # A `make package` build folder: deploy it as an operator would (`aws cloudformation
    # package` + `deploy`) instead of creating the resources one by one.
    package_dir: Path | None = None
    stack_name: str = f"ekspress-{STAGE}"
    # `make run`: the local developer may grant system:masters on their own clusters (EKSPRESS_MASTERS_ALLOWED).
    local_developer_admin: bool = False
    _replaced_masters: bool = False
    _server: Any = None
    _stack_events_poller: Any = None
    _replaced_env: dict[str, str | None] = field(default_factory=dict)
    # One client per service and region for this engine's endpoint (botocore builds each in ~10 ms).
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def start(self) -> LocalEngine:
        build_validators()
        share_sessions()
        from moto.core.config import default_user_config

        from chalicelib.aws.identity import LOCAL_DEFAULT_CALLER
        from local import (
            account_quotas,
            asg_models,
            asl_validation,
            audit,
            cfn_quotas,
            ddb_atomic,
            ec2_models,
            eks_images,
            eks_models,
            fargate_models,
            identity_provider_models,
            keypair_models,
            lambda_runtime,
            podidentity_models,
            sam,
            stack_events,
            stack_timing,
        )

        default_user_config["stepfunctions"] = {"execute_state_machine": True}
        default_user_config["lambda"] = {"use_docker": False}
        eks_models.register()
        identity_provider_models.register()
        podidentity_models.register()
        fargate_models.register()
        keypair_models.register()
        ddb_atomic.install()
        ec2_models.install()
        eks_images.install()
        asg_models.install()
        lambda_runtime.install()
        audit.install()
        sam.install()
        stack_timing.install()
        stack_events.install()
        asl_validation.install()
        cfn_quotas.install()
        account_quotas.install()
        stack_timing.behaviour.cluster_seconds = self.cluster_seconds
        stack_timing.behaviour.nodegroup_seconds = self.nodegroup_seconds

        # moto's server logs every request through werkzeug; the engine's own output is enough.
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        # Its Step Functions interpreter logs each failed state with a dump of the whole
        # state tree; the execution history (and our record) already say what failed.
        logging.getLogger("moto.stepfunctions.parser").setLevel(logging.CRITICAL)
        self._server = _quick_stop_server()(ip_address="127.0.0.1", port=0, verbose=False)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # moto's back ends live in this process, shared by every engine and mock_aws:
        # a new engine starts from an empty AWS. The reset builds every back end an earlier engine
        # used again (EC2's loads its images, per region): on a loaded machine that takes seconds.
        reset = urllib.request.Request(f"{self.endpoint}/moto-api/reset", method="POST")
        urllib.request.urlopen(reset, timeout=RESET_TIMEOUT_SECONDS)
        os.environ.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint,
                "MOTO_PORT": str(port),  # moto's Step Functions calls Lambda back through this port
                "AWS_ACCESS_KEY_ID": ACCESS_KEY,
                "AWS_SECRET_ACCESS_KEY": SECRET_KEY,
                "AWS_DEFAULT_REGION": self.region,
                "AWS_REGION": self.region,
                settings.ENV_TABLE_NAME: self.table_name,
                settings.ENV_POLL_SCALE: str(self.poll_scale),
                # Callers are named by a header signed with this key (there is no API Gateway here).
                settings.ENV_LOCAL_IDENTITY_KEY: self.identity_key,
            }
        )
        # The local developer (every unsigned request: chalicelib.aws.identity) may map identities to
        # system:masters on their own clusters, unless the variable says otherwise. A package deploys
        # with its template's settings, as on AWS.
        if self.local_developer_admin and self.package_dir is None and settings.ENV_MASTERS_ALLOWED not in os.environ:
            os.environ[settings.ENV_MASTERS_ALLOWED] = LOCAL_DEFAULT_CALLER
            self._replaced_masters = True
        for unset in ("AWS_PROFILE", "AWS_SESSION_TOKEN"):
            os.environ.pop(unset, None)
        eks_models.cluster_created_hooks.append(self._attach_kubernetes)
        eks_models.cluster_deleted_hooks.append(self._detach_kubernetes)
        self._refresh()
        try:
            if self.package_dir is not None:
                self.deploy_package(self.package_dir)
            else:
                self.deploy()
        except BaseException:
            # A half-started engine must not leave its settings or server to later tests.
            self.stop()
            raise
        return self

    def _attach_kubernetes(self, cluster: Any, region: str) -> None:
        """Give a new EKS cluster a live Kubernetes API: endpoint and CA from its own emulator."""
        from local import eks_models
        from local.cloud_controller import controllers_for
        from local.kube import KubeEmulator
        from local.nodes import nodes_of

        emulator = KubeEmulator(
            cluster.name,
            region,
            sts_hosts={urlsplit(self.endpoint).netloc, f"sts.{region}.amazonaws.com"},
            secrets=self.secrets,
            identities=self.identities,
            creator_arn=CREATOR_ARN,
            access_entries=lambda: list(eks_models.access_entries_of(ACCOUNT_ID, region, cluster.name).values()),
            authentication_mode=lambda: (getattr(cluster, "access_config", None) or {}).get(
                "authenticationMode", "CONFIG_MAP"
            ),
            nodes=lambda: nodes_of(cluster, region),
            # Deployments, scheduling, pods, endpoints, and load balancers for LoadBalancer Services in this engine.
            controllers=lambda kube: controllers_for(kube, lambda service: self.client(service, region)),
            service_cidr=(getattr(cluster, "kubernetes_network_config", None) or {}).get("serviceIpv4Cidr"),
            # The service and kubectl run outside the cluster's VPC: they reach only a public endpoint.
            reachable=lambda: bool((cluster.resources_vpc_config or {}).get("endpointPublicAccess", True)),
        )
        emulator.start()
        # Self-managed nodes join only if aws-auth maps their role (local/selfmanaged_nodes.py).
        cluster.kube_aws_auth = lambda: emulator.objects.configmap_data("kube-system", "aws-auth")
        cluster.endpoint = emulator.endpoint
        cluster.certificate_authority = {"data": emulator.ca_data}
        self.emulators[(region, cluster.name)] = emulator

    def _detach_kubernetes(self, cluster: Any, region: str) -> None:
        emulator = self.emulators.pop((region, cluster.name), None)
        if emulator is not None:
            emulator.stop()

    def emulator(self, cluster: str, region: str) -> Any:
        return self.emulators[(region, cluster)]

    def _refresh(self) -> None:
        settings.get_settings.cache_clear()
        reset_default_clients()

    def client(self, service: str, region: str | None = None) -> Any:
        """A client of this engine's AWS (clients are thread-safe; one per service and region is kept)."""
        import boto3

        key = (service, region or self.region)
        with self._clients_lock:
            if key not in self._clients:
                self._clients[key] = boto3.client(service, region_name=key[1], endpoint_url=self.endpoint)
            return self._clients[key]

    def deploy(self) -> None:
        """Create the table, functions and state machine exactly as infra/ names them."""
        from moto.utilities.utils import get_partition

        from app import app

        ddb = self.client("dynamodb")
        ddb.create_table(TableName=self.table_name, **TABLE_DEFINITION)
        ddb.update_time_to_live(
            TableName=self.table_name, TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE}
        )
        # The Slack signing secret, where a deployment keeps it (local tools sign with it).
        self.client("secretsmanager").create_secret(Name=SLACK_SECRET_NAME, SecretString=self.slack_signing_secret)
        os.environ[settings.ENV_SLACK_SECRET_ID] = SLACK_SECRET_NAME
        # us-east-1 is S3's default location and must not be named as a constraint.
        where = {} if self.region == "us-east-1" else {"CreateBucketConfiguration": {"LocationConstraint": self.region}}
        self.client("s3").create_bucket(Bucket=ARTIFACTS_BUCKET, **where)
        os.environ[settings.ENV_ARTIFACTS_BUCKET] = ARTIFACTS_BUCKET
        role = self.client("iam").create_role(
            RoleName="ekspress-local-role",
            AssumeRolePolicyDocument=json.dumps(
                {
                    "Version": "2012-10-17",
                    "Statement": [
                        {
                            "Effect": "Allow",
                            "Principal": {"Service": ["lambda.amazonaws.com", "states.amazonaws.com"]},
                            "Action": "sts:AssumeRole",
                        }
                    ],
                }
            ),
        )["Role"]["Arn"]
        # The functions know the state machines by name, as infra/template.yaml wires them: the
        # machines reference the functions, so no ARN can come back the other way.
        machines = {stem: f"ekspress-{STAGE}-{stem.replace('_', '-')}" for stem in settings.STATE_MACHINE_ENV}
        prefix = f"arn:{get_partition(self.region)}:states:{self.region}:{ACCOUNT_ID}:stateMachine:"
        for stem, env_name in settings.STATE_MACHINE_ENV.items():
            os.environ[env_name] = prefix + machines[stem]
        # Slack commands that take longer than Slack waits are handed to this function (slack_routes.py).
        os.environ[settings.ENV_SLACK_WORKER_FUNCTION] = naming.lambda_function_name(
            app.app_name, STAGE, naming.SLACK_WORKER
        )
        # A claim invokes the pools' fill to start its replacement (operations/pools.py).
        os.environ[settings.ENV_POOL_FILL_FUNCTION] = naming.lambda_function_name(app.app_name, STAGE, naming.POOL_FILL)
        lam = self.client("lambda")
        env = {k: os.environ[k] for k in FUNCTION_SETTINGS}
        substitutions: dict[str, str] = {}
        # The tasks, and the schedules' functions too (no rule runs those here: `make run` calls them on a
        # timer); a claim invokes the pools' fill by name.
        functions = [(fn.name, fn.handler_string) for fn in app.pure_lambda_functions]
        functions += [(source.name, source.handler_string) for source in app.event_sources]
        for name, handler in functions:
            config = function_config(name)
            deployed = naming.lambda_function_name(app.app_name, STAGE, name)
            created = lam.create_function(
                FunctionName=deployed,
                Runtime="python3.12",
                Role=role,
                Handler=handler,
                Code={"ZipFile": _tiny_zip()},
                Timeout=config.lambda_timeout,
                MemorySize=config.lambda_memory_size,
                Environment={"Variables": env},
            )
            if config.reserved_concurrency is not None:  # as Chalice's package sets it
                lam.put_function_concurrency(
                    FunctionName=deployed, ReservedConcurrentExecutions=config.reserved_concurrency
                )
            substitutions[naming.function_arn_placeholder(name)] = created["FunctionArn"]
        sfn = self.client("stepfunctions")
        self.outputs = {"table": self.table_name, **substitutions}
        for stem, env_name in settings.STATE_MACHINE_ENV.items():
            arn = sfn.create_state_machine(
                name=machines[stem],
                definition=state_machine_definition(f"{stem}.asl.json", substitutions),
                roleArn=role,
            )["stateMachineArn"]
            if arn != os.environ[env_name]:
                raise RuntimeError(f"state machine {arn}: the functions look for {os.environ[env_name]}")
            self.outputs[stem] = arn
        # CloudFormation's stack status events reach the stack_events function through the rule and
        # queue infra/template.yaml declares (local/stack_events.py).
        from local import stack_events

        queue = stack_events.deploy(
            self.client,
            self.stack_name,
            naming.lambda_function_name(app.app_name, STAGE, "stack_events"),
            self.region,
            ACCOUNT_ID,
        )
        self._deliver_stack_events(queue)
        self._refresh()

    def _deliver_stack_events(self, queue_url: str) -> None:
        from local import stack_events

        # Every region a cluster may be made in forwards its stacks' events home.
        stack_events.deploy_forwarders(self.client, self.stack_name, self.region, cluster_regions(), ACCOUNT_ID)
        self.outputs["StackEventsQueueUrl"] = queue_url
        stack_events.start()
        self._stack_events_poller = stack_events.QueuePoller(self.client, queue_url)
        self._stack_events_poller.start()

    def deploy_package(self, build: Path) -> None:
        """Deploy a `make package` build with the standard tools, then run as its API handler would.

        The same two commands `make deploy` runs against AWS, against this engine; its
        CloudFormation runs the SAM transform (local/sam.py). Afterwards this process
        takes the API handler's environment from the deployed function, and the Lambda
        runtime checks every task function's environment against it.
        """
        import subprocess
        import sys

        from local import lambda_runtime

        bucket = f"{self.stack_name}-artifacts"
        self.client("s3").create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": self.region})
        aws = str(Path(sys.executable).with_name("aws"))
        packaged = build / "packaged.yaml"
        for command in (
            ["cloudformation", "package", "--template-file", str(build / "sam.yaml"), "--s3-bucket", bucket,
             "--output-template-file", str(packaged)],
            ["cloudformation", "deploy", "--template-file", str(packaged), "--stack-name", self.stack_name,
             "--s3-bucket", bucket, "--capabilities", "CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        ):  # fmt: skip
            done = subprocess.run([aws, *command], capture_output=True, text=True, env=dict(os.environ))
            if done.returncode != 0:
                raise RuntimeError(f"aws {' '.join(command[:2])} failed: {done.stderr.strip()[-2000:]}")
        cfn = self.client("cloudformation")
        stack = cfn.describe_stacks(StackName=self.stack_name)["Stacks"][0]
        if stack["StackStatus"] not in ("CREATE_COMPLETE", "UPDATE_COMPLETE"):
            raise RuntimeError(f"stack {self.stack_name} is {stack['StackStatus']}: {stack.get('StackStatusReason')}")
        self.outputs = {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
        function = self.outputs["APIHandlerName"]  # Chalice's output
        environment = self.client("lambda").get_function_configuration(FunctionName=function)["Environment"]
        self._replaced_env = {k: os.environ.get(k) for k in environment["Variables"]}
        os.environ.update(environment["Variables"])
        # The operator puts the Slack app's signing secret into the secret the stack made.
        secret = self.outputs["SlackSigningSecretArn"]
        self.client("secretsmanager").put_secret_value(SecretId=secret, SecretString=self.slack_signing_secret)
        lambda_runtime.strict_environment = True
        self._refresh()
        self._deliver_stack_events(self.outputs["StackEventsQueueUrl"])

    def stop(self) -> None:
        from local import eks_models, stack_events

        with self._clients_lock:
            self._clients.clear()

        if self._stack_events_poller is not None:
            self._stack_events_poller.stop()
            self._stack_events_poller = None
        stack_events.stop()

        for hooks, hook in (
            (eks_models.cluster_created_hooks, self._attach_kubernetes),
            (eks_models.cluster_deleted_hooks, self._detach_kubernetes),
        ):
            if hook in hooks:
                hooks.remove(hook)
        # Workflows still running may attach one more emulator meanwhile: take them one at a time.
        while self.emulators:
            _, emulator = self.emulators.popitem()
            emulator.stop()
        if self._replaced_masters:
            os.environ.pop(settings.ENV_MASTERS_ALLOWED, None)
            self._replaced_masters = False
        if self.package_dir is not None:
            from local import lambda_runtime

            lambda_runtime.strict_environment = False
            # The deployment's settings must not outlive it in this process.
            for key, value in self._replaced_env.items():
                if value is None:
                    os.environ.pop(key, None)
                else:
                    os.environ[key] = value
            self._refresh()
        if self._server is not None:
            self._server.stop()
            self._server = None
