"""A fake kubectl for the backend tests: keeps objects in $FAKE_KUBECTL_DIR and answers
like kubectl does, for the few verbs the backend uses."""
import json
import os
import sys
import time

import yaml

STATE = os.environ["FAKE_KUBECTL_DIR"]
argv = sys.argv[1:]
stdin = sys.stdin.read() if "-" in argv else ""
with open(os.path.join(STATE, "calls.jsonl"), "a") as fh:
    fh.write(json.dumps({"argv": argv, "stdin": stdin}) + "\n")
if os.environ.get("FAKE_KUBECTL_SLEEP"):
    time.sleep(float(os.environ["FAKE_KUBECTL_SLEEP"]))
if os.environ.get("FAKE_KUBECTL_REFUSE"):
    sys.exit("The connection to the server 127.0.0.1:6443 was refused - did you specify "
             "the right host or port?")

KINDS = {"Namespace": ("namespaces", ""), "ConfigMap": ("configmaps", ""),
         "Secret": ("secrets", ""), "Service": ("services", ""),
         "Deployment": ("deployments", "apps"), "ReplicaSet": ("replicasets", "apps"),
         "Pod": ("pods", ""), "Event": ("events", "")}
RESOURCE = {r: k for k, (r, _) in KINDS.items()}
RESOURCE |= {k: k for k in KINDS} | {k.lower(): k for k in KINDS}
SERVER = ("uid", "resourceVersion", "creationTimestamp", "generation")

opts, pos, i = {}, [], 0
while i < len(argv):
    a = argv[i]
    if a in ("--context", "--kubeconfig", "-n", "-l", "-f", "-o"):
        opts[a] = argv[i + 1]
        i += 2
        continue
    if a.startswith("--"):
        k, _, v = a.partition("=")
        opts[k] = v or True
    elif a == "-A":
        opts[a] = True
    else:
        pos.append(a)
    i += 1
if opts.get("--context") != "fake":
    sys.exit("Error in configuration: context was not found for specified context: "
             + str(opts.get("--context")))



def context_namespace(path, context):
    """The context's own namespace, as kubectl reads it from the kubeconfig: where an
    object without a namespace, or a command without -n, lands."""
    try:
        config = yaml.safe_load(open(path)) or {}
    except (OSError, yaml.YAMLError):
        return "default"
    for entry in config.get("contexts") or []:
        if entry.get("name") == context:
            return (entry.get("context") or {}).get("namespace") or "default"
    return "default"


CONTEXT_NS = context_namespace(opts.get("--kubeconfig") or os.environ.get("KUBECONFIG", ""),
                               opts.get("--context"))
db_path = os.path.join(STATE, "objects.json")
db = json.load(open(db_path))
objects = db["objects"]

def key(o):
    m = o.get("metadata") or {}
    ns = "" if o.get("kind") == "Namespace" else m.get("namespace") or CONTEXT_NS
    return f'{o.get("kind")}/{ns}/{m.get("name")}'

def strip(o):
    o = json.loads(json.dumps(o))
    for f in SERVER:
        o.get("metadata", {}).pop(f, None)
    o.pop("status", None)
    return o

def lst(items):
    return {"apiVersion": "v1", "kind": "List", "items": items, "metadata": {}}

def res(o):
    r, group = KINDS[o["kind"]]
    return f"{r}.{group}" if group else r

def check(o, creating_ns):
    kind, m = o.get("kind"), o.get("metadata") or {}
    if kind not in KINDS:
        return (f'error: resource mapping not found for name: "{m.get("name")}" namespace: '
                f'"{m.get("namespace", "")}" from "STDIN": no matches for kind "{kind}" in '
                f'version "{o.get("apiVersion")}"')
    ns = m.get("namespace") or CONTEXT_NS
    if kind != "Namespace" and f"Namespace//{ns}" not in objects and ns not in creating_ns:
        return ('Error from server (NotFound): error when creating "STDIN": '
                f'namespaces "{ns}" not found')
    if int((o.get("spec") or {}).get("replicas", 1)) < 0:
        return (f'Error from server (Invalid): error when creating "STDIN": {kind}.apps '
                f'"{m["name"]}" is invalid: spec.replicas: Invalid value: -1: must be greater '
                "than or equal to 0")
    return None

out, errors = [], []
verb = pos[0]
docs = [d for d in yaml.safe_load_all(stdin) if d] if stdin else []
if verb in ("apply", "create"):
    dry = opts.get("--dry-run") == "server"
    creating = set()
    for doc in docs:
        err = check(doc, creating)
        if err:
            errors.append(err)
            continue
        if doc["kind"] == "Namespace":
            creating.add(doc["metadata"]["name"])
        k, old = key(doc), objects.get(key(doc))
        if verb == "create" and old is not None:
            errors.append(f'Error from server (AlreadyExists): error when creating "STDIN": '
                          f'{res(doc)} "{doc["metadata"]["name"]}" already exists')
            continue
        new = json.loads(json.dumps(doc))
        if doc["kind"] != "Namespace":  # the server fills in where the object went
            new["metadata"]["namespace"] = k.split("/")[1]
        if old is None:
            db["rv"] += 1
            new["metadata"].update(uid=f"uid-{db['rv']}", resourceVersion=str(db["rv"]),
                                   creationTimestamp="2026-01-01T00:00:00Z")
            new["status"] = {}
        elif strip(old) == strip(new):
            new = old
        else:
            db["rv"] += 0 if dry else 1
            meta = {f: old["metadata"][f] for f in SERVER if f in old["metadata"]}
            new["metadata"].update(meta, resourceVersion=str(db["rv"]))
            new["status"] = old.get("status", {})
        if not dry:
            objects[k] = new
        out.append(new)
elif verb == "get" and opts.get("--raw"):
    print(json.dumps({"gitVersion": "v1.30.0-fake"}))
elif verb == "get" and "-f" in opts:
    for doc in docs:
        if doc.get("kind") not in KINDS:
            errors.append(check(doc, set()))
        elif key(doc) in objects:
            out.append(objects[key(doc)])
elif verb in ("get", "delete"):
    kinds = []
    for r in pos[1].split(","):
        if r not in RESOURCE:
            sys.exit(f'error: the server doesn\'t have a resource type "{r}"')
        kinds.append(RESOURCE[r])
    ns = opts.get("-n", CONTEXT_NS)
    if len(pos) > 2:
        found = objects.get(f'{kinds[0]}/{"" if kinds[0] == "Namespace" else ns}/{pos[2]}')
        if verb == "delete" and found:
            del objects[key(found)]
            print(f'{res(found)} "{pos[2]}" deleted')
        elif found:
            out.append(found)
    elif kinds == ["Event"]:
        out = json.load(open(os.path.join(STATE, "events.json")))["items"]
    else:
        want = dict(p.split("=") for p in opts["-l"].split(",")) if "-l" in opts else {}
        for kind in kinds:
            for k, o in sorted(objects.items()):
                labels = o["metadata"].get("labels") or {}
                in_ns = "-A" in opts or kind == "Namespace" or k.split("/")[1] == ns
                if k.startswith(kind + "/") and in_ns and all(
                        labels.get(a) == b for a, b in want.items()):
                    out.append(o)
json.dump(db, open(db_path, "w"))
if verb == "create":  # kubectl create prints one document per object
    print("\n".join(json.dumps(o, indent=2) for o in out))
elif opts.get("-o") == "json" and (out or "--ignore-not-found" not in opts):
    print(json.dumps(out[0] if len(out) == 1 and len(docs) < 2 and len(pos) > 2 else lst(out)))
elif verb == "apply" and not errors:
    for o in out:
        print(f'{res(o)}/{o["metadata"]["name"]} serverside-applied')
for err in errors:
    print(err, file=sys.stderr)
sys.exit(1 if errors else 0)
