"""Writes attack.jsonl beside this script: the crafted demo timeline of rules/README.md.

Half an hour of a busy cluster's background (leases, kubelets, Prometheus, cert-manager, a Helm
deploy by CI, a developer) with an attack by a leaked CI token in the middle. Deterministic:
re-running it gives the same file. Crafted by the k8scop project; no third-party content.
"""
import json, os, uuid, random
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

random.seed(20240612)
T0 = datetime(2024, 6, 12, 9, 0, 0, tzinfo=timezone.utc)
events = []

def ts(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")

KCM = "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/3968350"
KUBELET = "kubelet/v1.30.2 (linux/amd64) kubernetes/3968350"
KUBECTL_ATT = "kubectl/v1.29.3 (linux/amd64) kubernetes/6813625"
KUBECTL_DEV = "kubectl/v1.30.2 (darwin/arm64) kubernetes/3968350"
HELM = "helm/v3.14.4 (linux/amd64)"
ATTACKER = {"username": "deploy-bot", "uid": "c3f0e8a2-5b1d-4c7e-9a61-2f4d8e7b1c90", "groups": ["deployers", "system:authenticated"]}
ATT_IP = ["198.51.100.77"]

def sa(ns, name):
    return {"username": f"system:serviceaccount:{ns}:{name}", "uid": str(uuid.UUID(int=random.getrandbits(128))),
            "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"]}

def node(n):
    return {"username": f"system:node:{n}", "groups": ["system:nodes", "system:authenticated"]}

def ev(t, verb, user, ip, ua, obj, code, uri, level="Metadata", stage="ResponseComplete", dur_ms=8,
       req=None, reason=None, decision="allow", stages=None, started_ms=None, extra=None):
    """Append one event (or one per stage in `stages`) for a single request."""
    audit_id = str(uuid.UUID(int=random.getrandbits(128), version=4))
    for st in (stages or [stage]):
        e = {"kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": level, "auditID": audit_id,
             "stage": st, "requestURI": uri, "verb": verb, "user": user, "sourceIPs": ip,
             "userAgent": ua, "objectRef": obj}
        if st == "RequestReceived":
            stage_t = t
        elif st == "ResponseStarted":
            stage_t = t + timedelta(milliseconds=started_ms or dur_ms)
        else:
            stage_t = t + timedelta(milliseconds=dur_ms)
        if st != "RequestReceived":
            status = {"metadata": {}, "code": code}
            if code >= 400:
                status.update({"status": "Failure", "reason": "Forbidden" if code == 403 else "Error",
                               "message": reason or ""})
            e["responseStatus"] = status
        if req is not None and level in ("Request", "RequestResponse"):
            e["requestObject"] = req
        e["requestReceivedTimestamp"] = ts(t)
        e["stageTimestamp"] = ts(stage_t)
        if st != "RequestReceived":
            e["annotations"] = {"authorization.k8s.io/decision": decision,
                                "authorization.k8s.io/reason": (reason if decision == "allow" else "") or ""}
        if extra:
            e.update(extra)
        events.append(e)

def at(m, s=0, us=0):
    return T0 + timedelta(minutes=m, seconds=s, microseconds=us)

def ref(resource, ns=None, name=None, group=None, version="v1", sub=None):
    o = {"resource": resource}
    if ns: o["namespace"] = ns
    if name: o["name"] = name
    if group: o["apiGroup"] = group
    o["apiVersion"] = version
    if sub: o["subresource"] = sub
    return o

RBAC_KCM = 'RBAC: allowed by ClusterRoleBinding "system:kube-controller-manager" of ClusterRole "system:kube-controller-manager" to User "system:kube-controller-manager"'
NODE_AUTHZ = ""

# ---- background: leader election, node heartbeats, monitoring, controllers ----
def lease(t, user, ua, ip, ns, name):
    ev(t, "update", user, ip, ua, ref("leases", ns, name, "coordination.k8s.io"), 200,
       f"/apis/coordination.k8s.io/v1/namespaces/{ns}/leases/{name}?timeout=5s", dur_ms=4)

for m in range(0, 30, 4):
    lease(at(m, 1, 120034), {"username": "system:kube-controller-manager", "groups": ["system:authenticated"]}, KCM + "/leader-election", ["10.0.0.11"], "kube-system", "kube-controller-manager")
    lease(at(m, 2, 540211), {"username": "system:kube-scheduler", "groups": ["system:authenticated"]}, "kube-scheduler/v1.30.2 (linux/amd64) kubernetes/3968350/leader-election", ["10.0.0.11"], "kube-system", "kube-scheduler")
for m, n, ip in [(0, "worker-1", "10.0.1.11"), (1, "worker-2", "10.0.1.12"), (2, "worker-3", "10.0.1.13"),
                 (10, "worker-1", "10.0.1.11"), (14, "worker-2", "10.0.1.12"), (20, "worker-3", "10.0.1.13"), (26, "worker-1", "10.0.1.11")]:
    lease(at(m, 40, 880120), node(n), KUBELET, [ip], "kube-node-lease", n)

# Prometheus scraping (list pods, kubelet metrics through the node proxy)
PROM = sa("monitoring", "prometheus")
for m in (0, 9, 18, 27):
    ev(at(m, 15, 30111), "list", PROM, ["10.244.3.21"], "Prometheus/2.51.2", ref("pods"), 200, "/api/v1/pods?limit=500&resourceVersion=0", dur_ms=22)
    ev(at(m, 15, 90412), "get", PROM, ["10.244.3.21"], "Prometheus/2.51.2", ref("nodes", name="worker-2", sub="proxy"), 200, "/api/v1/nodes/worker-2/proxy/metrics/cadvisor", dur_ms=61)

# cert-manager's cluster-wide watch of secrets (allow-listed)
ev(at(0, 5, 1203), "watch", sa("cert-manager", "cert-manager-cainjector"), ["10.244.2.8"], "cainjector/v1.14.4 (linux/amd64) cert-manager/3f8ed3f4", ref("secrets"), 200,
   "/api/v1/secrets?allowWatchBookmarks=true&resourceVersion=918273&timeout=9m41s&timeoutSeconds=581&watch=true", dur_ms=581000)

# kubelet fetching a secret for a pod it runs (node authorizer)
ev(at(3, 12, 430022), "list", node("worker-1"), ["10.0.1.11"], KUBELET, ref("secrets", "shop", "cart-db"), 200,
   "/api/v1/namespaces/shop/secrets?fieldSelector=metadata.name%3Dcart-db&limit=500&resourceVersion=0", dur_ms=5)
# a node denied a secret it has no pod for: a single 403 from a system identity
ev(at(7, 44, 100233), "get", node("worker-3"), ["10.0.1.13"], KUBELET, ref("secrets", "payments", "stripe-api-key"), 403,
   "/api/v1/namespaces/payments/secrets/stripe-api-key", reason='secrets "stripe-api-key" is forbidden: User "system:node:worker-3" cannot get resource "secrets" in API group "" in the namespace "payments": no relationship found between node \'worker-3\' and this object', decision="forbid")

# ---- background: a CI deploy of shop/cart at 09:05 ----
CI = sa("ci", "deployer")
CI_IP = ["10.0.5.20"]
ev(at(5, 2, 110045), "list", CI, CI_IP, HELM, ref("secrets", "shop"), 200,
   "/api/v1/namespaces/shop/secrets?labelSelector=name%3Dcart%2Cowner%3Dhelm", dur_ms=9)
ev(at(5, 3, 402211), "patch", CI, CI_IP, HELM, ref("deployments", "shop", "cart", "apps"), 200,
   "/apis/apps/v1/namespaces/shop/deployments/cart?fieldManager=helm", level="Request",
   req={"spec": {"template": {"spec": {"containers": [{"name": "cart", "image": "registry.example.com/shop/cart:2.4.2"}]}}}},
   dur_ms=14)
ev(at(5, 3, 431877), "create", sa("kube-system", "deployment-controller"), ["10.0.0.11"], KCM + "/system:serviceaccount:kube-system:deployment-controller",
   ref("replicasets", "shop", "cart-6b8f9d7c5", "apps"), 201, "/apis/apps/v1/namespaces/shop/replicasets", level="Request",
   req={"kind": "ReplicaSet", "apiVersion": "apps/v1", "metadata": {"name": "cart-6b8f9d7c5", "namespace": "shop"},
        "spec": {"replicas": 1, "template": {"spec": {"containers": [{"name": "cart", "image": "registry.example.com/shop/cart:2.4.2"}]}}}}, dur_ms=9)
for i, (pod, nodename) in enumerate([("cart-6b8f9d7c5-q7x2m", "worker-1"), ("cart-6b8f9d7c5-z9k4d", "worker-3")]):
    ev(at(5, 3, 460000 + i * 30000), "create", sa("kube-system", "replicaset-controller"), ["10.0.0.11"], KCM + "/system:serviceaccount:kube-system:replicaset-controller",
       ref("pods", "shop"), 201, "/api/v1/namespaces/shop/pods", level="Request",
       req={"kind": "Pod", "apiVersion": "v1", "metadata": {"generateName": "cart-6b8f9d7c5-", "namespace": "shop",
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": "cart-6b8f9d7c5", "controller": True, "blockOwnerDeletion": True}]},
            "spec": {"serviceAccountName": "cart", "containers": [{"name": "cart", "image": "registry.example.com/shop/cart:2.4.2",
                     "securityContext": {"allowPrivilegeEscalation": False, "runAsNonRoot": True}}]}}, dur_ms=11)
    ev(at(5, 3, 520000 + i * 30000), "create", {"username": "system:kube-scheduler", "groups": ["system:authenticated"]}, ["10.0.0.11"],
       "kube-scheduler/v1.30.2 (linux/amd64) kubernetes/3968350/scheduler", ref("pods", "shop", pod, sub="binding"), 201,
       f"/api/v1/namespaces/shop/pods/{pod}/binding", dur_ms=6)
    ev(at(5, 8, 10000 + i * 700000), "patch", node(nodename), ["10.0.1.11" if nodename == "worker-1" else "10.0.1.13"], KUBELET,
       ref("pods", "shop", pod, sub="status"), 200, f"/api/v1/namespaces/shop/pods/{pod}/status", dur_ms=7)
ev(at(5, 9, 300442), "create", CI, CI_IP, HELM, ref("secrets", "shop", "sh.helm.release.v1.cart.v43"), 201,
   "/api/v1/namespaces/shop/secrets", dur_ms=10)

# a developer looking at the rollout
DEV = {"username": "dave@example.com", "groups": ["developers", "system:authenticated"]}
ev(at(7, 10, 200311), "list", DEV, ["203.0.113.7"], KUBECTL_DEV, ref("pods", "shop"), 200, "/api/v1/namespaces/shop/pods?limit=500", dur_ms=12)
ev(at(7, 21, 904512), "get", DEV, ["203.0.113.7"], KUBECTL_DEV, ref("pods", "shop", "cart-6b8f9d7c5-q7x2m", sub="log"), 200,
   "/api/v1/namespaces/shop/pods/cart-6b8f9d7c5-q7x2m/log?container=cart&tailLines=100", dur_ms=35)

# ---- the attack: a leaked static token of the old CI bot, used from outside ----
# 1. discovery, with a burst of denied requests
ev(at(11, 2, 118233), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("selfsubjectrulesreviews", group="authorization.k8s.io"), 201,
   "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews", dur_ms=3)
probes = [
    (11, 20, "list", ref("nodes"), "/api/v1/nodes?limit=500", 'nodes is forbidden: User "deploy-bot" cannot list resource "nodes" in API group "" at the cluster scope'),
    (11, 31, "list", ref("clusterrolebindings", group="rbac.authorization.k8s.io"), "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?limit=500", 'clusterrolebindings.rbac.authorization.k8s.io is forbidden: User "deploy-bot" cannot list resource "clusterrolebindings" in API group "rbac.authorization.k8s.io" at the cluster scope'),
    (11, 39, "list", ref("secrets"), "/api/v1/secrets?limit=500", 'secrets is forbidden: User "deploy-bot" cannot list resource "secrets" in API group "" at the cluster scope'),
    (11, 50, "list", ref("clusterroles", group="rbac.authorization.k8s.io"), "/apis/rbac.authorization.k8s.io/v1/clusterroles?limit=500", 'clusterroles.rbac.authorization.k8s.io is forbidden: User "deploy-bot" cannot list resource "clusterroles" in API group "rbac.authorization.k8s.io" at the cluster scope'),
    (12, 4, "list", ref("validatingwebhookconfigurations", group="admissionregistration.k8s.io"), "/apis/admissionregistration.k8s.io/v1/validatingwebhookconfigurations?limit=500", 'validatingwebhookconfigurations.admissionregistration.k8s.io is forbidden: User "deploy-bot" cannot list resource "validatingwebhookconfigurations" in API group "admissionregistration.k8s.io" at the cluster scope'),
    (12, 17, "create", ref("namespaces", name="tmp-build"), "/api/v1/namespaces", 'namespaces is forbidden: User "deploy-bot" cannot create resource "namespaces" in API group "" at the cluster scope'),
]
for m, s, verb, obj, uri, msg in probes:
    ev(at(m, s, random.randrange(1000, 999999)), verb, ATTACKER, ATT_IP, KUBECTL_ATT, obj, 403, uri, reason=msg, decision="forbid", dur_ms=2)
ev(at(12, 29, 655102), "list", ATTACKER, ATT_IP, KUBECTL_ATT, ref("namespaces"), 200, "/api/v1/namespaces?limit=500", dur_ms=6)

# 2. secret harvesting, namespace by namespace
RB = 'RBAC: allowed by RoleBinding "deploy-bot-edit/{ns}" of ClusterRole "edit" to User "deploy-bot"'
for m, s, ns in [(13, 10, "shop"), (13, 14, "payments"), (13, 19, "monitoring"), (13, 25, "ci")]:
    ev(at(m, s, random.randrange(1000, 999999)), "list", ATTACKER, ATT_IP, KUBECTL_ATT, ref("secrets", ns), 200,
       f"/api/v1/namespaces/{ns}/secrets?limit=500", reason=RB.format(ns=ns), dur_ms=15)
for m, s, ns, name in [(13, 40, "payments", "stripe-api-key"), (13, 52, "ci", "registry-push-token")]:
    ev(at(m, s, random.randrange(1000, 999999)), "get", ATTACKER, ATT_IP, KUBECTL_ATT, ref("secrets", ns, name), 200,
       f"/api/v1/namespaces/{ns}/secrets/{name}", reason=RB.format(ns=ns), dur_ms=5)

# 3. exec into the cart pod to steal its service account token, then look around
def q(*cmd, **kw):
    params = [("command", c) for c in cmd] + list(kw.items())
    return urlencode(params)
cart = "cart-6b8f9d7c5-q7x2m"
ev(at(15, 30, 204411), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("pods", "shop", cart, sub="exec"), 101,
   f"/api/v1/namespaces/shop/pods/{cart}/exec?" + q("sh", "-c", "cat /var/run/secrets/kubernetes.io/serviceaccount/token", container="cart", stderr="true", stdout="true"),
   reason=RB.format(ns="shop"), stages=["ResponseStarted", "ResponseComplete"], started_ms=48, dur_ms=1210)
ev(at(16, 11, 870345), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("pods", "shop", cart, sub="exec"), 101,
   f"/api/v1/namespaces/shop/pods/{cart}/exec?" + q("env", container="cart", stderr="true", stdout="true"),
   reason=RB.format(ns="shop"), stages=["ResponseStarted", "ResponseComplete"], started_ms=51, dur_ms=640)

# 4. persistence: a service account in kube-system bound to cluster-admin
CRB_REASON = 'RBAC: allowed by ClusterRoleBinding "deploy-bot-rbac-manager" of ClusterRole "rbac-manager" to User "deploy-bot"'
ev(at(19, 0, 312009), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("serviceaccounts", "kube-system", "node-problem-helper"), 201,
   "/api/v1/namespaces/kube-system/serviceaccounts?fieldManager=kubectl-create&fieldValidation=Strict", level="RequestResponse",
   req={"kind": "ServiceAccount", "apiVersion": "v1", "metadata": {"name": "node-problem-helper", "namespace": "kube-system"}}, reason=CRB_REASON, dur_ms=7)
ev(at(19, 20, 778120), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("clusterrolebindings", name="node-problem-helper", group="rbac.authorization.k8s.io"), 201,
   "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings?fieldManager=kubectl-create&fieldValidation=Strict", level="RequestResponse",
   req={"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "node-problem-helper"},
        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
        "subjects": [{"kind": "ServiceAccount", "name": "node-problem-helper", "namespace": "kube-system"}]}, reason=CRB_REASON, dur_ms=9)

# 5. a privileged pod in kube-system with the host's PID namespace and its root file system
POD = "node-problem-helper-x1"
ev(at(21, 5, 66210), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("pods", "kube-system", POD), 201,
   "/api/v1/namespaces/kube-system/pods?fieldManager=kubectl-client-side-apply&fieldValidation=Strict", level="Request",
   req={"kind": "Pod", "apiVersion": "v1",
        "metadata": {"name": POD, "namespace": "kube-system", "labels": {"k8s-app": "node-problem-detector"}},
        "spec": {"serviceAccountName": "node-problem-helper", "nodeName": "worker-2", "hostPID": True,
                 "tolerations": [{"operator": "Exists"}],
                 "volumes": [{"name": "host", "hostPath": {"path": "/", "type": "Directory"}}],
                 "containers": [{"name": "helper", "image": "docker.io/library/alpine:3.20",
                                 "command": ["sleep", "infinity"],
                                 "securityContext": {"privileged": True},
                                 "volumeMounts": [{"name": "host", "mountPath": "/host"}]}]}},
   reason=CRB_REASON, dur_ms=13)
ev(at(21, 9, 402188), "patch", node("worker-2"), ["10.0.1.12"], KUBELET, ref("pods", "kube-system", POD, sub="status"), 200,
   f"/api/v1/namespaces/kube-system/pods/{POD}/status", dur_ms=6)

# 6. into the node
ev(at(22, 30, 509871), "create", ATTACKER, ATT_IP, KUBECTL_ATT, ref("pods", "kube-system", POD, sub="exec"), 101,
   f"/api/v1/namespaces/kube-system/pods/{POD}/exec?" + q("chroot", "/host", "bash", container="helper", stdin="true", stdout="true", tty="true"),
   reason=CRB_REASON, stages=["ResponseStarted"], started_ms=45)

# ---- more background after the attack ----
ev(at(24, 40, 11876), "update", sa("kube-system", "clusterrole-aggregation-controller"), ["10.0.0.11"], KCM + "/system:serviceaccount:kube-system:clusterrole-aggregation-controller",
   ref("clusterroles", name="edit", group="rbac.authorization.k8s.io"), 200, "/apis/rbac.authorization.k8s.io/v1/clusterroles/edit", level="RequestResponse",
   req={"kind": "ClusterRole", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": "edit"},
        "aggregationRule": {"clusterRoleSelectors": [{"matchLabels": {"rbac.authorization.k8s.io/aggregate-to-edit": "true"}}]},
        "rules": [{"apiGroups": [""], "resources": ["pods/exec", "pods/attach", "secrets"], "verbs": ["create", "get", "list", "watch", "update", "patch", "delete"]}]},
   dur_ms=8)
ev(at(27, 31, 450912), "list", DEV, ["203.0.113.7"], KUBECTL_DEV, ref("deployments", "shop", group="apps"), 200, "/apis/apps/v1/namespaces/shop/deployments?limit=500", dur_ms=9)

# Ordered by event time (requestReceivedTimestamp, then stageTimestamp).
events.sort(key=lambda e: (e["requestReceivedTimestamp"], e["stageTimestamp"]))
with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), "attack.jsonl"), "w") as f:
    for e in events:
        f.write(json.dumps(e, separators=(",", ":")) + "\n")
print(len(events), events[0]["requestReceivedTimestamp"], events[-1]["requestReceivedTimestamp"])
