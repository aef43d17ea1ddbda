"""A local cloud controller: load balancers for a cluster's `type: LoadBalancer` Services, as the AWS cloud
provider (its service controller) makes them, in the engine's moto.

For each such Service:
- a classic ELB, or a network load balancer when annotated `service.beta.kubernetes.io/aws-load-balancer-type:
  nlb`, named `a` + the Service's uid without dashes (32 characters, as the cloud provider names it);
- internet-facing in the cluster's public subnets (tagged `kubernetes.io/role/elb`), or internal in its private
  ones (`kubernetes.io/role/internal-elb`) when annotated `service.beta.kubernetes.io/aws-load-balancer-internal`;
  one subnet per zone, the cluster's own first;
- a classic ELB gets its own security group `k8s-elb-NAME` (the ports open to the Service's
  loadBalancerSourceRanges, 0.0.0.0/0 by default); an NLB gets a TCP target group per port on its node port;
- everything tagged `kubernetes.io/cluster/CLUSTER: owned` and `kubernetes.io/service-name: NS/NAME`;
- one listener per Service port, to the port's node port;
- the load balancer's DNS name written to the Service's `status.loadBalancer.ingress[0].hostname`.

When the Service goes (or stops being a LoadBalancer) its load balancer, security group and target groups go.
A Service is acted on when it changes, not on every pass: a load balancer deleted behind the controller's back
(the cluster delete's cleanup does so) is not made again until the Service changes.
"""

from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from local.kube.objects import SERVICES, ObjectStore
from local.kube.status import ApiError

if TYPE_CHECKING:
    from collections.abc import Callable

    from local.kube.controllers import KubeControllers

log = logging.getLogger(__name__)

TYPE_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-type"
INTERNAL_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-internal"
SCHEME_ANNOTATION = "service.beta.kubernetes.io/aws-load-balancer-scheme"
SERVICE_NAME_TAG = "kubernetes.io/service-name"
PUBLIC_ROLE_TAG = "kubernetes.io/role/elb"
INTERNAL_ROLE_TAG = "kubernetes.io/role/internal-elb"


def cluster_tag(cluster: str) -> str:
    return f"kubernetes.io/cluster/{cluster}"


def load_balancer_name(uid: str) -> str:
    """The cloud provider's name for a Service's load balancer: `a` + its uid without dashes, 32 characters."""
    return ("a" + uid.replace("-", ""))[:32]


def is_nlb(service: dict[str, Any]) -> bool:
    return str((service["metadata"].get("annotations") or {}).get(TYPE_ANNOTATION, "")).lower() == "nlb"


def is_internal(service: dict[str, Any]) -> bool:
    annotations = service["metadata"].get("annotations") or {}
    return annotations.get(INTERNAL_ANNOTATION, "").lower() in ("true", "0.0.0.0/0") or (
        annotations.get(SCHEME_ANNOTATION, "") == "internal"
    )


@dataclass
class Made:
    """What was made for one Service."""

    kind: str  # "classic" or "nlb"
    name: str
    arn: str = ""
    security_group: str = ""
    target_groups: list[str] = field(default_factory=list)
    fingerprint: str = ""


class CloudController:
    """Load balancers for one cluster's LoadBalancer Services; `aws(service)` gives a boto3 client in its region."""

    def __init__(self, store: ObjectStore, cluster_name: str, aws: Callable[[str], Any]) -> None:
        self.store = store
        self.cluster_name = cluster_name
        self.aws = aws
        self.made: dict[str, Made] = {}  # by Service uid
        self.controllers: KubeControllers | None = None  # for Events, when run by them

    def __call__(self) -> None:
        self.reconcile()

    def reconcile(self) -> None:
        """Make what new or changed LoadBalancer Services need; delete what Services that went had."""
        services = {s["metadata"]["uid"]: s for s in self.store.list_of(SERVICES, None)["items"]}
        for uid, service in services.items():
            if (service.get("spec") or {}).get("type") != "LoadBalancer":
                continue
            ports = (service.get("spec") or {}).get("ports") or []
            if not ports or any(not p.get("nodePort") for p in ports):
                continue  # the service loop gives it node ports first
            fingerprint = self._fingerprint(service)
            known = self.made.get(uid)
            if known is not None and known.fingerprint == fingerprint:
                continue
            try:
                if known is not None and known.kind != ("nlb" if is_nlb(service) else "classic"):
                    self._delete(known)
                    known = None
                self._event(service, "EnsuringLoadBalancer", "Ensuring load balancer")
                made = self._ensure(service, known)
            except Exception as error:  # AWS said no: note it on the Service and try on its next change
                log.warning("load balancer for %s: %s", service["metadata"]["name"], error)
                self.made[uid] = known or Made("classic" if not is_nlb(service) else "nlb", "")
                self.made[uid].fingerprint = fingerprint
                self._event(service, "SyncLoadBalancerFailed", f"Error syncing load balancer: {error}", "Warning")
                continue
            made.fingerprint = fingerprint
            self.made[uid] = made
            self._write_hostname(service, made)
            self._event(service, "EnsuredLoadBalancer", "Ensured load balancer")
        for uid in list(self.made):
            service = services.get(uid)
            if service is None or (service.get("spec") or {}).get("type") != "LoadBalancer":
                made = self.made.pop(uid)
                if made.name:
                    try:
                        self._delete(made)
                    except Exception:  # it is already gone, or AWS refuses: the cluster delete cleans up
                        log.warning("could not delete load balancer %s", made.name, exc_info=True)
                if service is not None:
                    self._clear_hostname(service)
                    self._event(service, "DeletedLoadBalancer", "Deleted load balancer")

    # --- what a Service asks for ---

    @staticmethod
    def _fingerprint(service: dict[str, Any]) -> str:
        spec = service.get("spec") or {}
        annotations = service["metadata"].get("annotations") or {}
        return json.dumps(
            {
                "ports": spec.get("ports"),
                "sourceRanges": spec.get("loadBalancerSourceRanges"),
                "annotations": {k: v for k, v in annotations.items() if k.startswith("service.beta.kubernetes.io/")},
            },
            sort_keys=True,
        )

    def _tags(self, service: dict[str, Any]) -> list[dict[str, str]]:
        meta = service["metadata"]
        return [
            {"Key": cluster_tag(self.cluster_name), "Value": "owned"},
            {"Key": SERVICE_NAME_TAG, "Value": f"{meta['namespace']}/{meta['name']}"},
        ]

    def network(self, internal: bool) -> tuple[str, list[str]]:
        """The cluster's VPC and the subnets its load balancers go in (one per zone)."""
        described = self.aws("eks").describe_cluster(name=self.cluster_name)["cluster"]
        config = described.get("resourcesVpcConfig") or {}
        vpc_id = str(config.get("vpcId") or "")
        own = set(config.get("subnetIds") or [])
        ec2 = self.aws("ec2")
        filters = [{"Name": "vpc-id", "Values": [vpc_id]}] if vpc_id else [{"Name": "subnet-id", "Values": sorted(own)}]
        subnets = ec2.describe_subnets(Filters=filters)["Subnets"]
        if not vpc_id and subnets:
            vpc_id = subnets[0]["VpcId"]
        role = INTERNAL_ROLE_TAG if internal else PUBLIC_ROLE_TAG

        def tagged(subnet: dict[str, Any]) -> bool:
            return any(t["Key"] == role and t.get("Value") in ("1", "") for t in subnet.get("Tags") or [])

        candidates = [s for s in subnets if tagged(s)]
        if not candidates:
            public = [s for s in subnets if s["SubnetId"] in own and bool(s.get("MapPublicIpOnLaunch")) != internal]
            candidates = public or [s for s in subnets if s["SubnetId"] in own]
        if not candidates:
            raise RuntimeError(f"could not find any suitable subnets for creating the load balancer ({role})")
        by_zone: dict[str, str] = {}
        for subnet in sorted(candidates, key=lambda s: (s["SubnetId"] not in own, s["SubnetId"])):
            by_zone.setdefault(subnet["AvailabilityZone"], subnet["SubnetId"])
        return vpc_id, [by_zone[zone] for zone in sorted(by_zone)]

    # --- making and deleting ---

    def _ensure(self, service: dict[str, Any], known: Made | None) -> Made:
        internal = is_internal(service)
        vpc_id, subnets = self.network(internal)
        name = known.name if known and known.name else load_balancer_name(service["metadata"]["uid"])
        if is_nlb(service):
            return self._ensure_nlb(service, name, vpc_id, subnets, internal, known)
        return self._ensure_classic(service, name, vpc_id, subnets, internal, known)

    def _ensure_classic(
        self, service: dict[str, Any], name: str, vpc_id: str, subnets: list[str], internal: bool, known: Made | None
    ) -> Made:
        meta, spec = service["metadata"], service["spec"]
        ec2, elb = self.aws("ec2"), self.aws("elb")
        group = known.security_group if known and known.security_group else ""
        if not group:
            group = ec2.create_security_group(
                GroupName=f"k8s-elb-{name}",
                Description=f"Security group for Kubernetes ELB {name} ({meta['namespace']}/{meta['name']})",
                VpcId=vpc_id,
                TagSpecifications=[{"ResourceType": "security-group", "Tags": self._tags(service)}],
            )["GroupId"]
            ranges = spec.get("loadBalancerSourceRanges") or ["0.0.0.0/0"]
            permissions = [
                {
                    "IpProtocol": "tcp",
                    "FromPort": int(p["port"]),
                    "ToPort": int(p["port"]),
                    "IpRanges": [{"CidrIp": r} for r in ranges],
                }
                for p in spec["ports"]
            ]
            permissions.append(
                {"IpProtocol": "icmp", "FromPort": 3, "ToPort": 4, "IpRanges": [{"CidrIp": r} for r in ranges]}
            )
            ec2.authorize_security_group_ingress(GroupId=group, IpPermissions=permissions)
        listeners = [
            {
                "Protocol": "TCP",
                "LoadBalancerPort": int(p["port"]),
                "InstanceProtocol": "TCP",
                "InstancePort": int(p["nodePort"]),
            }
            for p in spec["ports"]
        ]
        if known is not None and known.name:
            current = elb.describe_load_balancers(LoadBalancerNames=[name])["LoadBalancerDescriptions"][0]
            old = [d["Listener"]["LoadBalancerPort"] for d in current.get("ListenerDescriptions") or []]
            if old:
                elb.delete_load_balancer_listeners(LoadBalancerName=name, LoadBalancerPorts=old)
            elb.create_load_balancer_listeners(LoadBalancerName=name, Listeners=listeners)
        else:
            elb.create_load_balancer(
                LoadBalancerName=name,
                Listeners=listeners,
                Subnets=subnets,
                SecurityGroups=[group],
                Scheme="internal" if internal else "internet-facing",
                Tags=self._tags(service),
            )
            first = int(spec["ports"][0]["nodePort"])
            elb.configure_health_check(
                LoadBalancerName=name,
                HealthCheck={
                    "Target": f"TCP:{first}",
                    "Interval": 10,
                    "Timeout": 5,
                    "UnhealthyThreshold": 6,
                    "HealthyThreshold": 2,
                },
            )
        return Made("classic", name, security_group=group)

    def _ensure_nlb(
        self, service: dict[str, Any], name: str, vpc_id: str, subnets: list[str], internal: bool, known: Made | None
    ) -> Made:
        meta, spec = service["metadata"], service["spec"]
        elbv2 = self.aws("elbv2")
        if known is not None and known.arn:
            arn = known.arn
            for listener in elbv2.describe_listeners(LoadBalancerArn=arn)["Listeners"]:
                elbv2.delete_listener(ListenerArn=listener["ListenerArn"])
            for group in known.target_groups:
                elbv2.delete_target_group(TargetGroupArn=group)
        else:
            arn = elbv2.create_load_balancer(
                Name=name,
                Subnets=subnets,
                Scheme="internal" if internal else "internet-facing",
                Type="network",
                Tags=self._tags(service),
            )["LoadBalancers"][0]["LoadBalancerArn"]
        groups = []
        for port in spec["ports"]:
            protocol = str(port.get("protocol", "TCP")).upper()
            suffix = load_balancer_name(f"{meta['uid']}{port['port']}{protocol}")[1:11]
            group = elbv2.create_target_group(
                Name=f"k8s-{meta['namespace'][:8]}-{meta['name'][:8]}-{suffix}",
                Protocol=protocol,
                Port=int(port["nodePort"]),
                VpcId=vpc_id,
                TargetType="instance",
                HealthCheckProtocol="TCP",
                Tags=self._tags(service),
            )["TargetGroups"][0]["TargetGroupArn"]
            groups.append(group)
            elbv2.create_listener(
                LoadBalancerArn=arn,
                Protocol=protocol,
                Port=int(port["port"]),
                DefaultActions=[{"Type": "forward", "TargetGroupArn": group}],
            )
        return Made("nlb", name, arn=arn, target_groups=groups)

    def dns_name(self, made: Made) -> str:
        if made.kind == "nlb":
            found = self.aws("elbv2").describe_load_balancers(LoadBalancerArns=[made.arn])["LoadBalancers"][0]
        else:
            found = self.aws("elb").describe_load_balancers(LoadBalancerNames=[made.name])["LoadBalancerDescriptions"][
                0
            ]
        return str(found["DNSName"])

    def _delete(self, made: Made) -> None:
        if made.kind == "nlb":
            elbv2 = self.aws("elbv2")
            if made.arn:
                _gone_ok(lambda: elbv2.delete_load_balancer(LoadBalancerArn=made.arn))
            for group in made.target_groups:
                _gone_ok(functools.partial(elbv2.delete_target_group, TargetGroupArn=group))
            return
        if made.name:
            elb = self.aws("elb")
            _gone_ok(lambda: elb.delete_load_balancer(LoadBalancerName=made.name))
        if made.security_group:
            ec2 = self.aws("ec2")
            _gone_ok(lambda: ec2.delete_security_group(GroupId=made.security_group))

    # --- the Service's status ---

    def _set_ingress(self, service: dict[str, Any], ingress: list[dict[str, str]]) -> None:
        meta = service["metadata"]
        for _ in range(5):
            try:
                current = self.store.get(SERVICES, meta["namespace"], meta["name"])
            except ApiError:
                return
            if current["metadata"]["uid"] != meta["uid"]:
                return
            status = current.setdefault("status", {})
            if (status.get("loadBalancer") or {}).get("ingress", []) == ingress:
                return
            status["loadBalancer"] = {"ingress": ingress} if ingress else {}
            try:
                self.store.replace(meta["namespace"], meta["name"], current, SERVICES)
                return
            except ApiError as error:
                if error.code != 409:
                    return

    def _write_hostname(self, service: dict[str, Any], made: Made) -> None:
        self._set_ingress(service, [{"hostname": self.dns_name(made)}])

    def _clear_hostname(self, service: dict[str, Any]) -> None:
        self._set_ingress(service, [])

    def _event(self, service: dict[str, Any], reason: str, message: str, kind: str = "Normal") -> None:
        if self.controllers is not None:
            self.controllers.event(service, SERVICES, reason, message, kind)


def _gone_ok(call: Callable[[], Any]) -> None:
    """Delete something; already gone is fine."""
    try:
        call()
    except Exception as error:
        code = str((getattr(error, "response", None) or {}).get("Error", {}).get("Code", ""))
        if code not in ("LoadBalancerNotFound", "AccessPointNotFound", "InvalidGroup.NotFound", "TargetGroupNotFound"):
            raise


def subnet_cidr_finder(aws: Callable[[str], Any]) -> Callable[[dict[str, Any]], str | None]:
    """node → the CIDR of the subnet holding its InternalIP (looked up in its zone), for the kubelet's pod addresses."""
    import ipaddress

    from local.kube.controllers import internal_ip

    def find(node: dict[str, Any]) -> str | None:
        ip = internal_ip(node)
        zone = (node["metadata"].get("labels") or {}).get("topology.kubernetes.io/zone")
        if not ip or not zone:
            return None
        address = ipaddress.ip_address(ip)
        filters = [{"Name": "availability-zone", "Values": [zone]}]
        for subnet in aws("ec2").describe_subnets(Filters=filters)["Subnets"]:
            if address in ipaddress.ip_network(subnet["CidrBlock"]):
                return str(subnet["CidrBlock"])
        return None

    return find


def controllers_for(emulator: Any, aws: Callable[[str], Any]) -> KubeControllers:
    """The control loops of an emulator, with this cloud controller among them; `aws(service)` gives a boto3 client
    of the cluster's region (made once per service here)."""
    from local.kube.controllers import KubeControllers

    clients: dict[str, Any] = {}

    def client(service: str) -> Any:
        if service not in clients:
            clients[service] = aws(service)
        return clients[service]

    cloud = CloudController(emulator.objects, emulator.cluster_name, client)
    controllers = KubeControllers(
        emulator.objects,
        lambda: emulator.nodes(),
        cluster_name=emulator.cluster_name,
        region=emulator.region,
        subnet_cidr=subnet_cidr_finder(client),
        extra=[cloud],
    )
    cloud.controllers = controllers
    return controllers
