"""Environment config files (``config/<env>.yaml|json``): load, merge, write, ``fab set``."""

from __future__ import annotations

import copy
import csv
import json
from pathlib import Path
from typing import Any

import yaml
from yaml.emitter import Emitter
from yaml.representer import SafeRepresenter
from yaml.resolver import Resolver
from yaml.serializer import Serializer

from sandbox.hld.errors import HldError
from sandbox.hld.yamlio import display_path, load_structured
from sandbox.limits import env_name_problem

ConfigDict = dict[str, Any]
_FIELDS = ("namespace", "injectNamespace", "config", "subcomponents", "disabled")


def config_file(folder: Path, env: str) -> Path | None:
    """The config file of ``env`` in a component folder; YAML wins over JSON."""
    for suffix in (".yaml", ".json"):
        candidate = folder / "config" / f"{env}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def normalize_config(data: Any, shown: str, where: str = "") -> ConfigDict:
    """Check a parsed config file's shape and return it with every field present."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise HldError(
            f"{where}config must be a mapping, not {type(data).__name__}",
            file=shown,
            fix="use the keys namespace, injectNamespace, config, subcomponents, disabled",
        )
    unknown = sorted(str(key) for key in data if key not in _FIELDS)
    if unknown:
        raise HldError(
            f"{where}unknown config key(s) {', '.join(unknown)}",
            file=shown,
            fix="put values under 'config:'; allowed keys: " + ", ".join(_FIELDS),
        )
    result: ConfigDict = {}
    if data.get("namespace") is not None:
        if not isinstance(data["namespace"], str):
            raise HldError(f"{where}'namespace' must be a string", file=shown)
        result["namespace"] = data["namespace"]
    for flag in ("injectNamespace", "disabled"):
        if data.get(flag) is not None:
            if not isinstance(data[flag], bool):
                raise HldError(f"{where}'{flag}' must be true or false", file=shown)
            result[flag] = data[flag]
    values = data.get("config")
    if values is not None and not isinstance(values, dict):
        raise HldError(f"{where}'config' must be a mapping", file=shown)
    result["config"] = values or {}
    subs = data.get("subcomponents")
    if subs is not None and not isinstance(subs, dict):
        raise HldError(
            f"{where}'subcomponents' must map names to configs", file=shown, fix="name: {config: ...}"
        )
    result["subcomponents"] = {
        str(name): normalize_config(sub, shown, f"{where}subcomponents.{name}: ")
        for name, sub in (subs or {}).items()
    }
    return result


def load_config(folder: Path, env: str, root: Path | None = None) -> ConfigDict:
    """Load one environment's config; a missing file is an empty config, as in Fabrikate."""
    file = config_file(folder, env)
    if file is None:
        return normalize_config({}, "")
    if not file.resolve().is_relative_to(folder.resolve()):
        # A symlink out would put another file's contents (secrets) into the manifests.
        raise HldError(
            "config file leads outside its component (a symlink pointing out?)",
            file=display_path(file, root),
            fix="make it a regular file inside the component folder",
        )
    return normalize_config(load_structured(file, root), display_path(file, root))


def _merge_values(current: Any, new: Any) -> Any:
    if isinstance(current, dict) and isinstance(new, dict):
        merged = dict(current)
        for key, value in new.items():
            merged[key] = _merge_values(merged[key], value) if key in merged else copy.deepcopy(value)
        return merged
    # Fabrikate merges without overwrite: whatever is already set stays, lists included.
    return current if current is not None else copy.deepcopy(new)


def merge_config(current: ConfigDict, new: ConfigDict) -> ConfigDict:
    """Merge ``new`` into ``current`` the way fab 0.17 does: ``current`` wins on conflicts.

    Keys only ``new`` has are added, maps merge recursively, and namespace travels with
    injectNamespace: a level without a namespace takes both from ``new``. Returns a new dict.
    """
    merged: ConfigDict = {}
    for key in set(current) | set(new):
        if key in ("namespace", "injectNamespace", "subcomponents"):
            continue
        if key in current and key in new:
            merged[key] = _merge_values(current[key], new[key])
        else:
            merged[key] = copy.deepcopy(current[key] if key in current else new[key])
    source = current if current.get("namespace") else new
    for key in ("namespace", "injectNamespace"):
        if key in source:
            merged[key] = source[key]
    subs_current = current.get("subcomponents") or {}
    subs_new = new.get("subcomponents") or {}
    if subs_current or subs_new or "subcomponents" in current or "subcomponents" in new:
        merged["subcomponents"] = {
            name: merge_config(subs_current.get(name) or {}, subs_new.get(name) or {})
            for name in list(subs_current) + [n for n in subs_new if n not in subs_current]
        }
    return merged


def environment_config(
    folder: Path, envs: list[str], passed_down: ConfigDict, root: Path | None = None
) -> ConfigDict:
    """Config of one component: parent's pass-down, then envs left to right, then common."""
    merged = copy.deepcopy(passed_down)
    for env in [*envs, "common"]:
        merged = merge_config(merged, load_config(folder, env, root))
    merged.setdefault("config", {})
    merged.setdefault("subcomponents", {})
    return merged


# --- writing, in the shape Fabrikate's Go marshallers produce ---------------------------


class _GoStyleEmitter(Emitter):
    """Quote like go-yaml: double quotes whenever a plain scalar would not do."""

    def choose_scalar_style(self) -> str:
        style = super().choose_scalar_style()
        return '"' if style == "'" else style


class _Dumper(_GoStyleEmitter, Serializer, SafeRepresenter, Resolver):
    def __init__(self, stream: Any, **kwargs: Any) -> None:
        _GoStyleEmitter.__init__(
            self,
            stream,
            canonical=kwargs.get("canonical"),
            indent=kwargs.get("indent"),
            width=kwargs.get("width"),
            allow_unicode=kwargs.get("allow_unicode"),
            line_break=kwargs.get("line_break"),
        )
        Serializer.__init__(
            self,
            encoding=kwargs.get("encoding"),
            explicit_start=kwargs.get("explicit_start"),
            explicit_end=kwargs.get("explicit_end"),
            version=kwargs.get("version"),
            tags=kwargs.get("tags"),
        )
        SafeRepresenter.__init__(
            self,
            default_style=kwargs.get("default_style"),
            default_flow_style=kwargs.get("default_flow_style"),
            sort_keys=kwargs.get("sort_keys", True),
        )
        Resolver.__init__(self)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _sorted(value[k]) for k in sorted(value, key=str)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value


def _ordered(cfg: ConfigDict) -> dict[str, Any]:
    """Struct field order and omitempty, as Fabrikate's ComponentConfig marshals."""
    out: dict[str, Any] = {}
    if cfg.get("namespace"):
        out["namespace"] = cfg["namespace"]
    if cfg.get("injectNamespace"):
        out["injectNamespace"] = True
    if cfg.get("config"):
        out["config"] = _sorted(cfg["config"])
    if cfg.get("subcomponents"):
        out["subcomponents"] = {
            name: _ordered(cfg["subcomponents"][name]) for name in sorted(cfg["subcomponents"])
        }
    if cfg.get("disabled"):
        out["disabled"] = True
    return out


def dump_config(cfg: ConfigDict, serialization: str = "yaml") -> str:
    """Serialise a config byte for byte like ``fab set`` would write it."""
    data = _ordered(cfg)
    if serialization == "json":
        text = json.dumps(data, indent=2, ensure_ascii=False)
        # Go's encoding/json escapes HTML-significant characters.
        return text.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
    if not data:
        return "{}\n"
    return yaml.dump(
        data, Dumper=_Dumper, sort_keys=False, default_flow_style=False, allow_unicode=True,
        width=1 << 30,
    )


def write_config(cfg: ConfigDict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(dump_config(cfg, "json" if path.suffix == ".json" else "yaml"), "utf-8")


# --- fab set -----------------------------------------------------------------------------


def parse_assignment(text: str) -> tuple[list[str], str]:
    """Split ``a.b."c.d"=value`` into (["a", "b", "c.d"], "value") like ``fab set``."""
    parts = text.split("=")
    fix = 'write key.path=value; quote keys that contain dots: a."b.c"=value'
    if len(parts) != 2 or not parts[0]:
        raise HldError(f"{text!r} is not a properly formatted configuration key=value pair", fix=fix)
    try:
        keys = next(csv.reader([parts[0]], delimiter=".", quotechar='"'))
    except (csv.Error, StopIteration) as exc:
        raise HldError(f"cannot read the key path in {text!r}", fix=fix) from exc
    if not keys or any(key == "" for key in keys):
        raise HldError(f"{text!r} has an empty key in its path", fix=fix)
    return keys, parts[1]


def _subconfig(cfg: ConfigDict, names: list[str], create: bool) -> ConfigDict | None:
    level = cfg
    for name in names:
        subs = level.setdefault("subcomponents", {})
        if name not in subs:
            if not create:
                return None
            subs[name] = {"config": {}, "subcomponents": {}}
        level = subs[name]
        level.setdefault("config", {})
    return level


def _has_key(values: dict[str, Any], keys: list[str]) -> bool:
    level: Any = values
    for key in keys:
        if not isinstance(level, dict) or key not in level:
            return False
        level = level[key]
    return True


def _writable_config(hld_dir: Path, env: str) -> Path:
    """The config file ``fab set`` may write for ``env``: in an existing HLD folder, never
    through a symlink, never outside the folder. Nothing is created here."""
    problem = env_name_problem(env)
    if problem:
        raise HldError(problem, fix="pass --env NAME, e.g. --env prod")
    if not hld_dir.is_dir():
        raise HldError(f"HLD folder {hld_dir} does not exist",
                       fix="pass the HLD's folder with --hld DIR (nothing was created)")
    path = config_file(hld_dir, env) or hld_dir / "config" / f"{env}.yaml"
    shown = display_path(path, hld_dir)
    if path.is_symlink() or path.parent.is_symlink():
        raise HldError(f"{shown} is a symlink; hld set does not write through symlinks",
                       file=shown, fix="replace the symlink with a regular file")
    if not path.resolve().is_relative_to(hld_dir.resolve()):
        raise HldError(f"{shown} leads outside the HLD folder", file=shown)
    return path


def set_values(
    hld_dir: Path,
    assignments: list[str],
    env: str = "common",
    subcomponent: str | None = None,
    no_new_config_keys: bool = False,
) -> Path:
    """Like ``fab set``: store each ``key.path=value`` (as a string) in config/<env>.yaml.

    ``subcomponent`` ``a.b`` targets subcomponents.a.subcomponents.b. Nothing is written
    unless every assignment is valid. Returns the config file written.
    """
    pairs = [parse_assignment(item) for item in assignments]
    path = _writable_config(Path(hld_dir), env)
    shown = display_path(path, hld_dir)
    cfg = (
        normalize_config(load_structured(path, hld_dir), shown)
        if path.is_file()
        else normalize_config({}, shown)
    )
    sub_path = subcomponent.split(".") if subcomponent else []
    for keys, value in pairs:
        dotted = ".".join(keys)
        if no_new_config_keys:
            target = _subconfig(cfg, sub_path, create=False)
            if target is None or not _has_key(target["config"], keys):
                raise HldError(
                    f"new configuration {dotted!r} was given and no_new_config_keys is on",
                    file=shown,
                    fix="set only keys that already exist, or allow new keys",
                )
        target = _subconfig(cfg, sub_path, create=True)
        assert target is not None
        level = target["config"]
        for index, key in enumerate(keys[:-1]):
            level = level.setdefault(key, {})
            if not isinstance(level, dict):
                partial = ".".join(keys[: index + 1])
                raise HldError(
                    f"config path {partial!r} points to a non-map value; cannot set {dotted!r}",
                    file=shown,
                )
        level[keys[-1]] = value
    write_config(cfg, path)
    return path
