"""The Python baseline for offpeak's cold-start benchmark (`make bench`, BENCHMARKS.md).

What a scheduler Lambda in the style of AWS Instance Scheduler runs: boto3 clients built once at
import, then per invocation a read of the kill switch (offpeak's two pause items, as the Rust
function's gate reads them), one state read from DynamoDB, the same describe calls the offpeak Rust
function makes for the same schedule, and each target's local time in its zone. It plans nothing
and writes nothing, so it does less work than the function it is compared with.

Served by the AWS Lambda Python Runtime Interface Client, exactly as Lambda's Python runtime does:

    python -m awslambdaric handler.aurora_replicas

The targets mirror infra/schedules.yaml. The benchmark counts every AWS request both sides make on
the wire and prints the two counts side by side, so a drift between this file and the schedule
shows up in BENCHMARKS.md.
"""

import os
from datetime import datetime, timezone
from zoneinfo import ZoneInfo

import boto3

# Built once per cold start, as Lambda handlers do: clients are reused by warm invocations.
RDS = boto3.client("rds")
EKS = boto3.client("eks")
AUTOSCALING = boto3.client("autoscaling")
DYNAMODB = boto3.client("dynamodb")
STATE_TABLE = os.environ["OFFPEAK_STATE_TABLE"]

AURORA_CLUSTERS = {"prod-aurora": "Asia/Tokyo", "prod-aurora-us": "America/New_York"}
EKS_TARGETS = [
    # (cluster, zone, node groups or None for every node group, self-managed groups)
    ("dev-eks", "Asia/Tokyo", ["app", "batch"], ["dev-legacy"]),
    ("sandbox-eks", "Europe/London", None, []),
]
MASKED_REFRESH = {"source": "prod-aurora", "target": "dev-aurora", "zone": "Asia/Tokyo"}


def aurora_replicas(event, context):
    """Peak replicas: the clusters and their instances, in one describe of each kind."""
    _paused("aurora-replicas")
    at = _instant(event)
    clusters = list(AURORA_CLUSTERS)
    state = _state(clusters)
    described = _clusters(clusters)
    instances = _instances(clusters)
    targets = []
    for cluster, zone in AURORA_CLUSTERS.items():
        members = [i for i in instances if i["DBClusterIdentifier"] == cluster]
        targets.append(
            {
                "cluster": cluster,
                "local_time": at.astimezone(ZoneInfo(zone)).isoformat(),
                "status": described.get(cluster, {}).get("Status", "missing"),
                "instances": len(members),
                "remembered": cluster in state,
            }
        )
    return _report("aurora-replicas", event, at, targets)


def eks_nodegroups(event, context):
    """Node group sleep: each node group described, then their Auto Scaling groups together."""
    _paused("eks-nodegroups")
    at = _instant(event)
    groups, asg_names, ids = [], [], []
    for cluster, zone, nodegroups, self_managed in EKS_TARGETS:
        names = nodegroups
        if names is None:
            names = EKS.list_nodegroups(clusterName=cluster)["nodegroups"]
        for name in names:
            nodegroup = EKS.describe_nodegroup(clusterName=cluster, nodegroupName=name)["nodegroup"]
            asgs = nodegroup.get("resources", {}).get("autoScalingGroups", [])
            asg_names.extend(a["name"] for a in asgs)
            groups.append((f"{cluster}/{name}", zone, nodegroup["scalingConfig"]))
            ids.append(f"{cluster}/{name}")
        asg_names.extend(self_managed)
        ids.extend(f"{cluster}/{g}" for g in self_managed)
    state = _state(ids)
    described = AUTOSCALING.describe_auto_scaling_groups(AutoScalingGroupNames=asg_names)
    sizes = {g["AutoScalingGroupName"]: g["DesiredCapacity"] for g in described["AutoScalingGroups"]}
    targets = [
        {
            "target": target,
            "local_time": at.astimezone(ZoneInfo(zone)).isoformat(),
            "desired": scaling.get("desiredSize"),
            "remembered": target in state,
        }
        for target, zone, scaling in groups
    ]
    return _report("eks-nodegroups", event, at, targets, auto_scaling_groups=sizes)


def masked_refresh(event, context):
    """Nightly masked refresh: where the source and the development cluster stand."""
    _paused("masked-refresh")
    at = _instant(event)
    clusters = [MASKED_REFRESH["source"], MASKED_REFRESH["target"]]
    state = _state(["masked-refresh"])
    described = _clusters(clusters)
    instances = _instances(clusters)
    targets = [
        {
            "cluster": cluster,
            "local_time": at.astimezone(ZoneInfo(MASKED_REFRESH["zone"])).isoformat(),
            "status": described.get(cluster, {}).get("Status", "missing"),
            "instances": sum(1 for i in instances if i["DBClusterIdentifier"] == cluster),
        }
        for cluster in clusters
    ]
    return _report("masked-refresh", event, at, targets, remembered="masked-refresh" in state)


def _instant(event):
    at = event.get("at")
    return datetime.fromisoformat(at) if at else datetime.now(timezone.utc)


def _paused(function):
    """The kill switch: offpeak/pause/all and offpeak/pause/<function>, in one BatchGetItem."""
    return bool(_state(["offpeak/pause/all", f"offpeak/pause/{function}"]))


def _state(targets):
    """One BatchGetItem for up to 100 targets (the benchmark's schedules have fewer)."""
    keys = [{"target": {"S": t}} for t in dict.fromkeys(targets)]
    answer = DYNAMODB.batch_get_item(
        RequestItems={STATE_TABLE: {"Keys": keys, "ConsistentRead": True}}
    )
    return {item["target"]["S"]: item for item in answer["Responses"].get(STATE_TABLE, [])}


def _by_cluster(clusters):
    return [{"Name": "db-cluster-id", "Values": clusters}]


def _clusters(clusters):
    answer = RDS.describe_db_clusters(Filters=_by_cluster(clusters))
    return {c["DBClusterIdentifier"]: c for c in answer["DBClusters"]}


def _instances(clusters):
    pages = RDS.get_paginator("describe_db_instances").paginate(Filters=_by_cluster(clusters))
    return [i for page in pages for i in page["DBInstances"]]


def _report(function, event, at, targets, **extra):
    return {
        "function": function,
        "dry_run": bool(event.get("dry_run", False)),
        "at": at.astimezone(timezone.utc).isoformat(),
        "targets": targets,
        **extra,
    }
