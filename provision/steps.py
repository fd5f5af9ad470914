"""The step file: load, validate and select the steps `provision apply` runs.

The format is documented in provision/actions/__init__.py. Everything that can be checked
without a host is checked here, and every error names the file and line.
"""
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

import yaml

from provision import actions
from provision.variables import YAML_LOADER

DEFAULT_STEPS = Path(__file__).with_name("steps.yml")
STEP_FIELDS = {"name", "action", "args", "when", "tags", "notify"}
HANDLER_FIELDS = STEP_FIELDS - {"notify"}


class StepFileError(ValueError):
    """A step file that cannot be used; the message names the file and line."""


@dataclass(frozen=True)
class Step:
    name: str
    action: actions.Action
    args: dict            # as written (templates not yet rendered), validated where literal
    when: Any = None      # None: always
    tags: tuple = ()
    notify: tuple = ()
    where: str = ""       # "file line N", for messages


@dataclass(frozen=True)
class StepFile:
    path: Path
    steps: tuple
    handlers: tuple

    @property
    def directory(self):
        return self.path.parent


class _LineDict(dict):
    line = 0


class _Loader(YAML_LOADER):
    """A safe loader whose mappings remember the line they start on."""


def _construct_mapping(loader, node):
    data = _LineDict()
    data.line = node.start_mark.line + 1
    yield data
    data.update(loader.construct_mapping(node))


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def load(path):
    """Read and validate a step file; StepFileError names what is wrong and where."""
    path = Path(path)
    try:
        document = yaml.load(path.read_text(), Loader=_Loader)
    except OSError as error:
        raise StepFileError("%s: cannot read: %s" % (path, error.strerror)) from None
    except yaml.YAMLError as error:
        raise StepFileError("%s: not valid YAML: %s" % (path, error)) from None
    if not isinstance(document, dict):
        raise StepFileError("%s: must be a mapping with `steps:` (and optionally `handlers:`)" % path)
    unknown = sorted(set(document) - {"steps", "handlers"})
    if unknown:
        raise StepFileError("%s line %d: unknown section %r (expected steps, handlers)"
                            % (path, document.line, unknown[0]))
    handlers = tuple(_entries(path, document, "handlers", HANDLER_FIELDS))
    steps = tuple(_entries(path, document, "steps", STEP_FIELDS))
    _check_notify(steps, handlers)
    _check_unique(handlers)
    return StepFile(path=path, steps=steps, handlers=handlers)


def _entries(path, document, section, fields):
    entries = document.get(section) or []
    if not isinstance(entries, list):
        raise StepFileError("%s line %d: `%s` must be a list" % (path, document.line, section))
    for entry in entries:
        if not isinstance(entry, dict):
            raise StepFileError("%s: every entry of `%s` must be a mapping, not %r" % (path, section, entry))
        yield _step(path, entry, fields)


def _step(path, entry, fields):
    where = "%s line %d" % (path, entry.line)
    unknown = sorted(set(entry) - fields)
    if unknown:
        raise StepFileError("%s: unknown field %r (expected %s)" % (where, unknown[0], ", ".join(sorted(fields))))
    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise StepFileError("%s: `name` is required" % where)
    where = "%s (step %r)" % (where, name)
    try:
        action = actions.load(entry.get("action"))
    except LookupError as error:
        raise StepFileError("%s: action: %s" % (where, error)) from None
    args = entry.get("args") or {}
    try:
        actions.validate(action.args, args, partial=True)
    except actions.ArgError as error:
        raise StepFileError("%s: %s" % (where, error)) from None
    return Step(name=name, action=action, args=dict(args), when=entry.get("when"),
                tags=_names(where, entry, "tags"), notify=_names(where, entry, "notify"), where=where)


def _names(where, entry, field_name):
    """A field holding one name or a list of names."""
    value = entry.get(field_name) or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise StepFileError("%s: `%s` must be a name or a list of names" % (where, field_name))
    return tuple(value)


def _check_notify(steps, handlers):
    known = {handler.name for handler in handlers}
    for step in steps:
        for name in step.notify:
            if name not in known:
                raise StepFileError("%s: notify: no handler named %r" % (step.where, name))


def _check_unique(handlers):
    seen = set()
    for handler in handlers:
        if handler.name in seen:
            raise StepFileError("%s: a handler with this name is already defined" % handler.where)
        seen.add(handler.name)


def select(steps, tags=None, skip_tags=None):
    """The steps --tags / --skip-tags keep: any listed tag selects, any skipped tag removes."""
    wanted = set(tags or ())
    unwanted = set(skip_tags or ())
    return [step for step in steps
            if (not wanted or wanted & set(step.tags)) and not unwanted & set(step.tags)]


def split_tags(text: Optional[str]):
    """--tags "a,b" -> ["a", "b"]."""
    return [tag.strip() for tag in (text or "").split(",") if tag.strip()]
