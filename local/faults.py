"""Faults on demand for the local engine: AWS errors, Lambda crashes, races on aws-auth.

Each fault is armed for a number of occurrences, fires where AWS (or Kubernetes)
would, and is counted, so a test can say what it injected and check that the
service absorbed it:

- `throttle` / `fail_aws`: moto answers a matching API call with an AWS error in the
  service's own protocol (CloudFormation's `Throttling`, EKS's `ThrottlingException`,
  DynamoDB's `ProvisionedThroughputExceededException`, ...), before the call does
  anything. botocore, the ASL and the API see what they would see on AWS.
- `fail_condition`: a DynamoDB write fails its condition, as when another writer got
  there first (`ConditionalCheckFailedException`, or `TransactionCanceledException`
  with a `ConditionalCheckFailed` reason for a transaction).
- `crash_lambda`: a task's invocation dies the way a runtime does (out of memory,
  timeout); Step Functions reports that as `Lambda.Unknown`. With `after=True` the
  handler ran to the end first, so its side effects happened and only the reply was
  lost: the retry must find them and not do them twice.
- `race_aws_auth`: just before one of our writes of kube-system/aws-auth lands,
  another writer (a colleague with kubectl) adds a mapping of its own, so our write
  carries a stale resourceVersion and gets a real 409 Conflict.

Not a fault: `hold_lambda` parks a task's invocations (they never run) until `release()`,
so a load test can start many workflows and look at them without paying for their work.

`install()` after the engine started (it wraps the Lambda runtime the engine installed);
`faults.clear()` between tests.
"""

from __future__ import annotations

import fnmatch
import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

# What Step Functions names an invocation whose runtime died (out of memory, timeout, exit).
LAMBDA_CRASH = "Lambda.Unknown"
# The error each service answers a throttled call with, and its HTTP status.
THROTTLING = {
    "cloudformation": ("Throttling", "Rate exceeded", 400),
    "eks": ("ThrottlingException", "Rate exceeded", 429),
    "dynamodb": (
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
        400,
    ),
    "stepfunctions": ("ThrottlingException", "Rate exceeded", 400),
}
# A parked invocation gives up by itself after this long (below botocore's 60 s read timeout).
HOLD_SECONDS = 50
CONCURRENT_EDITOR = "arn:aws:iam::123456789012:role/concurrent-editor-{n}"


@dataclass
class AwsFault:
    service: str  # moto's service name: cloudformation, eks, dynamodb, ...
    action: str  # fnmatch pattern on the API action: CreateStack, Describe*, TransactWriteItems
    code: str
    message: str
    status: int
    times: int
    contains: str = ""  # only calls whose path or body contain this (a cluster name, a condition)
    extra: dict[str, Any] = field(default_factory=dict)  # modelled error members (CancellationReasons)


@dataclass
class LambdaFault:
    function: str  # the task's name, as in @lambda_function(name=...): the function name ends with it
    times: int
    after: bool
    contains: str = ""  # only invocations whose event contains this (a cluster name)


@dataclass
class LambdaHold:
    function: str
    contains: str
    released: threading.Event = field(default_factory=threading.Event)
    parked: int = 0


@dataclass
class KubeFault:
    cluster: str
    times: int


@dataclass(frozen=True)
class Injection:
    kind: str  # aws | lambda | kube
    target: str  # service:Action, function name, cluster
    detail: str  # the error code, or the ARN the concurrent editor mapped


@dataclass
class Faults:
    """The armed faults and what was injected so far. Thread-safe: the engine serves many threads."""

    aws: list[AwsFault] = field(default_factory=list)
    lambdas: list[LambdaFault] = field(default_factory=list)
    kube: list[KubeFault] = field(default_factory=list)
    holds: list[LambdaHold] = field(default_factory=list)
    injected: list[Injection] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    # -- arming -------------------------------------------------------------------

    def throttle(self, service: str, action: str, times: int = 1, contains: str = "") -> None:
        """The next `times` matching calls are throttled, as that service throttles."""
        code, message, status = THROTTLING[service]
        self.fail_aws(service, action, code, message, status, times, contains)

    def fail_aws(
        self,
        service: str,
        action: str,
        code: str,
        message: str,
        status: int = 400,
        times: int = 1,
        contains: str = "",
        **extra: Any,
    ) -> None:
        with self.lock:
            self.aws.append(AwsFault(service, action, code, message, status, times, contains, extra))

    def fail_condition(self, action: str, times: int = 1, contains: str = "") -> None:
        """The next `times` matching DynamoDB writes fail their condition (someone else wrote first)."""
        if action == "TransactWriteItems":
            self.fail_aws(
                "dynamodb",
                action,
                "TransactionCanceledException",
                "Transaction cancelled, please refer cancellation reasons for specific reasons "
                "[ConditionalCheckFailed, None]",
                times=times,
                contains=contains,
                CancellationReasons=[
                    {"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"},
                    {"Code": "None"},
                ],
            )
        else:
            self.fail_aws(
                "dynamodb",
                action,
                "ConditionalCheckFailedException",
                "The conditional request failed",
                times=times,
                contains=contains,
            )

    def crash_lambda(self, function: str, times: int = 1, after: bool = True, contains: str = "") -> None:
        with self.lock:
            self.lambdas.append(LambdaFault(function, times, after, contains))

    def hold_lambda(self, function: str, contains: str = "") -> None:
        """Park every matching invocation (unrun) until `release()`; it then fails as a crash would."""
        with self.lock:
            self.holds.append(LambdaHold(function, contains))

    def release(self) -> int:
        """Let parked invocations go (failed, never run); returns how many were parked."""
        with self.lock:
            holds, self.holds = self.holds, []
        for hold in holds:
            hold.released.set()
        return sum(h.parked for h in holds)

    def race_aws_auth(self, cluster: str, times: int = 1) -> None:
        with self.lock:
            self.kube.append(KubeFault(cluster, times))

    def clear(self) -> None:
        self.release()
        with self.lock:
            self.aws.clear()
            self.lambdas.clear()
            self.kube.clear()
            self.injected.clear()

    # -- reading ------------------------------------------------------------------

    def count(self, kind: str | None = None, target: str | None = None) -> int:
        with self.lock:
            return sum(
                1
                for i in self.injected
                if (kind is None or i.kind == kind) and (target is None or fnmatch.fnmatchcase(i.target, target))
            )

    def armed(self) -> int:
        """Occurrences still waiting to fire."""
        with self.lock:
            return sum(f.times for f in (*self.aws, *self.lambdas, *self.kube))

    def foreign_mappings(self) -> list[str]:
        """The ARNs the concurrent aws-auth editor mapped."""
        with self.lock:
            return [i.detail for i in self.injected if i.kind == "kube"]

    # -- firing (called from the hooks) -------------------------------------------

    def _take_aws(self, service: str, action: str, request: str) -> AwsFault | None:
        with self.lock:
            for fault in self.aws:
                if (
                    fault.times > 0
                    and fault.service == service
                    and fnmatch.fnmatchcase(action, fault.action)
                    and fault.contains in request
                ):
                    fault.times -= 1
                    self.injected.append(Injection("aws", f"{service}:{action}", fault.code))
                    return fault
            return None

    def _take_lambda(self, function_name: str, event: str) -> LambdaFault | None:
        with self.lock:
            for fault in self.lambdas:
                if fault.times > 0 and function_name.endswith(fault.function) and fault.contains in event:
                    fault.times -= 1
                    self.injected.append(Injection("lambda", fault.function, LAMBDA_CRASH))
                    return fault
            return None

    def _hold(self, function_name: str, event: str) -> LambdaHold | None:
        with self.lock:
            for hold in self.holds:
                if function_name.endswith(hold.function) and hold.contains in event:
                    hold.parked += 1
                    return hold
            return None

    def _take_kube(self, cluster: str) -> str | None:
        with self.lock:
            for fault in self.kube:
                if fault.times > 0 and fault.cluster == cluster:
                    fault.times -= 1
                    arn = CONCURRENT_EDITOR.format(n=sum(1 for i in self.injected if i.kind == "kube") + 1)
                    self.injected.append(Injection("kube", cluster, arn))
                    return arn
            return None


faults = Faults()
_installed_moto = False


def install() -> None:
    """Hook moto's responses and the Kubernetes emulator (once), and the Lambda runtime (after each engine start)."""
    global _installed_moto
    if not _installed_moto:
        _hook_moto_responses()
        _hook_kube_api()
        _installed_moto = True
    _hook_lambda_runtime()


def _request_text(response: Any) -> str:
    body = getattr(response, "body", "")
    if isinstance(body, bytes):
        body = body.decode(errors="replace")
    elif not isinstance(body, str):
        body = json.dumps(body, default=str)
    # Query-protocol services (CloudFormation) have their parameters parsed into the query string.
    query = json.dumps(getattr(response, "querystring", None) or {}, default=str)
    return f"{getattr(response, 'path', '')} {query} {body}"


def injected_error(code: str, message: str) -> Exception:
    """An error moto serialises in the protocol of the service that was called."""
    from moto.core.exceptions import ServiceException

    # Defined outside moto's packages, so moto looks the code up in the called service's model.
    class InjectedFault(ServiceException):
        pass

    return InjectedFault(code, message)


def _hook_moto_responses() -> None:
    from moto.core import errors
    from moto.core.responses import ActionResult, BaseResponse

    # Every AWS service may throttle, whether its model says so or not (CloudFormation's does not):
    # moto need not warn when it serialises one of these codes.
    errors.COMMON_ERROR_CODES.extend(
        code for code, _, _ in THROTTLING.values() if code not in errors.COMMON_ERROR_CODES
    )

    original = BaseResponse.call_action

    def call_action(self: BaseResponse) -> Any:
        service = self.boto3_service_name
        if service and faults.aws:
            action = self._get_action() or ""
            fault = faults._take_aws(service, action, _request_text(self))
            if fault is not None:
                error = injected_error(fault.code, fault.message)
                for key, value in fault.extra.items():
                    setattr(error, key, value)
                _, headers, body = self.serialized(ActionResult(error))
                headers["status"] = str(fault.status)
                return fault.status, headers, body
        return original(self)

    BaseResponse.call_action = call_action  # type: ignore[method-assign]


def _hook_lambda_runtime() -> None:
    from moto.awslambda_simple.models import LambdaSimpleBackend

    current = LambdaSimpleBackend.invoke
    if getattr(current, "__ekspress_faults__", False):
        return

    def invoke(
        self: LambdaSimpleBackend,
        function_name: str,
        qualifier: str | None,
        body: Any,
        headers: Any,
        response_headers: Any,
    ) -> Any:
        event = body.decode(errors="replace") if isinstance(body, bytes) else str(body or "")
        hold = faults._hold(function_name, event)
        if hold is not None:
            hold.released.wait(timeout=HOLD_SECONDS)
            message = "held by the test and never run"
        else:
            fault = faults._take_lambda(function_name, event)
            if fault is None:
                return current(self, function_name, qualifier, body, headers, response_headers)
            if fault.after:
                current(self, function_name, qualifier, body, headers, response_headers)
            message = "Runtime exited with error: signal: killed"
        payload = json.dumps({"errorType": LAMBDA_CRASH, "errorMessage": message}).encode()
        response_headers["x-amz-function-error"] = "Unhandled"
        response_headers["Content-Length"] = str(len(payload))
        return payload

    invoke.__ekspress_faults__ = True  # type: ignore[attr-defined]
    LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign]


def _hook_kube_api() -> None:
    from local.kube import KubeEmulator

    original_create = KubeEmulator._create
    original_replace = KubeEmulator._replace

    def _create(self: KubeEmulator, namespace: str, obj: dict[str, Any]) -> dict[str, Any]:
        _maybe_race(self, namespace, obj["metadata"]["name"])
        return original_create(self, namespace, obj)

    def _replace(self: KubeEmulator, namespace: str, name: str, obj: dict[str, Any]) -> dict[str, Any]:
        _maybe_race(self, namespace, name)
        return original_replace(self, namespace, name, obj)

    KubeEmulator._create = _create  # type: ignore[method-assign]
    KubeEmulator._replace = _replace  # type: ignore[method-assign]


def _maybe_race(emulator: Any, namespace: str, name: str) -> None:
    """If armed, another writer maps a role of its own into aws-auth first (bumping resourceVersion)."""
    if (namespace, name) != ("kube-system", "aws-auth") or not faults.kube:
        return
    arn = faults._take_kube(emulator.cluster_name)
    if arn is None:
        return
    import yaml

    entry = {"rolearn": arn, "username": arn.rsplit("/", 1)[1], "groups": ["viewers"]}
    with emulator._lock:
        current = emulator._store.get((namespace, name))
        data = dict((current or {}).get("data") or {})
        roles = yaml.safe_load(data.get("mapRoles") or "[]") or []
        data["mapRoles"] = yaml.safe_dump([*roles, entry], default_flow_style=False, sort_keys=False)
        obj = {"metadata": {"name": name}, "data": data}
        if current is None:
            created = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            stored = emulator._stored(obj, namespace, str(uuid.uuid4()), created)
        else:
            meta = current["metadata"]
            stored = emulator._stored(obj, namespace, meta["uid"], meta["creationTimestamp"])
        emulator._store[(namespace, name)] = stored
