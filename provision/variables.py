"""Variables and templating: what a host's steps and templates are rendered with.

Precedence, later wins: defaults.yml beside the step file < inventory host variables <
--extra-vars. Rendering is Jinja2 with StrictUndefined: an undefined name is an error that
names where it was used. The rules are written down in provision/actions/__init__.py.
"""
import hashlib
import json
import keyword
import re
import shlex
import traceback
from pathlib import Path

import jinja2
import yaml

from provision.actions import as_bool, is_template
from provision.memo import cache_dir, once_per_arguments

REPOSITORY_TEMPLATES = Path(__file__).resolve().parent.parent / "templates"
MAX_DEPTH = 10   # variables referring to variables: deeper than this is taken for a cycle
# libyaml's parser when PyYAML has it: the pure-Python one takes a tenth of a no-op run.
YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class VariableError(ValueError):
    """A variable or template that cannot be rendered; the message names where."""


def _bool_filter(value):
    try:
        return as_bool(value)
    except ValueError as error:
        raise jinja2.TemplateRuntimeError(str(error)) from None


def _environment(**options):
    env = jinja2.Environment(undefined=jinja2.StrictUndefined, **options)
    env.filters.update(
        bool=_bool_filter,
        to_json=lambda value, **kw: json.dumps(value, **kw),
        to_nice_json=lambda value, indent=2, **kw: json.dumps(value, indent=indent, sort_keys=True, **kw),
    )
    return env


_ARGS_ENV = _environment()
# Every host renders the same strings of the step file and defaults: each is compiled once.
_template = once_per_arguments(_ARGS_ENV.from_string)
_SINGLE_EXPRESSION = re.compile(r"\s*\{\{((?:(?!\{\{|\}\}).)*)\}\}\s*", re.S)


def load_defaults(step_dir):
    """defaults.yml beside the step file, or {} when there is none."""
    path = Path(step_dir) / "defaults.yml"
    if not path.exists():
        return {}
    try:
        data = yaml.load(path.read_text(), Loader=YAML_LOADER) or {}
    except yaml.YAMLError as error:
        raise VariableError("%s: not valid YAML: %s" % (path, error)) from None
    if not isinstance(data, dict):
        raise VariableError("%s: must be a mapping of variable names to values" % path)
    return data


def parse_extra_vars(items):
    """--extra-vars as ansible-playbook takes them: `k=v k2=v2`, a JSON/YAML mapping, or @FILE."""
    result = {}
    for item in items:
        item = item.strip()
        if item.startswith("@"):
            try:
                text = Path(item[1:]).read_text()
            except OSError as error:
                raise VariableError("--extra-vars %s: cannot read: %s" % (item, error.strerror)) from None
            result.update(_mapping_from(text, "--extra-vars " + item))
        elif item.startswith("{"):
            result.update(_mapping_from(item, "--extra-vars %s" % item))
        else:
            for word in shlex.split(item):
                name, sep, value = word.partition("=")
                if not sep or not name.isidentifier():
                    raise VariableError("--extra-vars: %r is not KEY=VALUE" % word)
                result[name] = value
    return result


def _mapping_from(text, where):
    try:
        data = yaml.load(text, Loader=YAML_LOADER)
    except yaml.YAMLError as error:
        raise VariableError("%s: not valid YAML/JSON: %s" % (where, error)) from None
    if not isinstance(data, dict):
        raise VariableError("%s: must be a mapping" % where)
    return data


def host_variables(defaults, hostvars, extra, facts):
    """Every name a host's steps see, with variables referring to variables resolved."""
    merged = {**defaults, **hostvars, **extra}
    for _ in range(MAX_DEPTH):
        scope = {**merged, "facts": facts}
        resolved = {}
        for name, value in merged.items():
            try:
                resolved[name] = render_value(value, scope)
            except VariableError as error:
                raise VariableError("variable %s: %s" % (name, error)) from None
        if resolved == merged:
            return {**resolved, "facts": facts}
        merged = resolved
    raise VariableError("variables refer to each other in a cycle: %s"
                        % ", ".join(sorted(n for n, v in merged.items() if _holds(v))))


def _holds(value):
    if isinstance(value, dict):
        return any(_holds(v) for v in value.values())
    if isinstance(value, list):
        return any(_holds(v) for v in value)
    return is_template(value)


def render_value(value, scope):
    """Render every template string inside value; a lone `{{ expr }}` keeps its type."""
    if isinstance(value, dict):
        return {key: render_value(item, scope) for key, item in value.items()}
    if isinstance(value, list):
        return [render_value(item, scope) for item in value]
    if not is_template(value):
        return value
    try:
        single = _SINGLE_EXPRESSION.fullmatch(value)
        if single:
            return _expression(single.group(1), scope)
        return _template(value).render(scope)
    except jinja2.TemplateError as error:
        raise VariableError("%s: %s" % (value.strip(), error.message or error)) from None


def _expression(text, scope):
    name = text.strip()
    if name in scope and _is_plain_name(name):
        return scope[name]   # what Jinja would return, without compiling it or making a context
    result = _compiled_expression(text)(scope)
    if isinstance(result, jinja2.Undefined):
        str(result)   # StrictUndefined raises, naming the variable
    return result


def _is_plain_name(name):
    """A name Jinja looks up as it is: not a literal (true, none) or an operator (not, in)."""
    return name.isidentifier() and not keyword.iskeyword(name) and name not in ("true", "false", "none")


@once_per_arguments
def _compiled_expression(text):
    return _ARGS_ENV.compile_expression(text, undefined_to_none=False)


def evaluate_when(when, scope):
    """A step's `when`: a template or a bare expression, read as a boolean."""
    if when is None:
        return True
    if isinstance(when, str) and not is_template(when):
        try:
            value = _expression(when, scope)
        except jinja2.TemplateError as error:
            raise VariableError("%s: %s" % (when, error.message or error)) from None
    else:
        value = render_value(when, scope)
    if isinstance(value, str):
        try:
            return as_bool(value)
        except ValueError:
            return bool(value.strip())
    return bool(value)


class Templates:
    """Template files for a step file: its own `templates/` first, then the repository's."""

    def __init__(self, step_dir):
        search = [str(Path(step_dir) / "templates"), str(REPOSITORY_TEMPLATES)]
        self.env = _environment(loader=jinja2.FileSystemLoader(search), trim_blocks=True,
                                keep_trailing_newline=True, bytecode_cache=_bytecode_cache())
        # Each file is loaded and compiled once, however many hosts render it at once.
        self._template = once_per_arguments(self.env.get_template)

    def render(self, src, scope):
        try:
            return self._template(src).render(scope)
        except jinja2.TemplateNotFound:
            raise VariableError("template %s: not found in %s"
                                % (src, " or ".join(self.env.loader.searchpath))) from None
        except jinja2.TemplateSyntaxError as error:
            raise VariableError("template %s line %s: %s" % (src, error.lineno, error.message)) from None
        except jinja2.TemplateError as error:
            raise VariableError("template %s%s: %s" % (src, _template_line(error, src), error)) from None


def _template_line(error, src):
    """' line N' of the template where rendering failed (jinja puts it in the traceback)."""
    for frame in reversed(traceback.extract_tb(error.__traceback__)):
        if frame.filename.endswith("/" + src) or frame.filename == src:
            return " line %d" % frame.lineno
    return ""


class _QuietBytecodeCache(jinja2.FileSystemBytecodeCache):
    """Jinja's cache of compiled templates, which a cache directory it cannot write only
    makes slower, never fails."""

    def dump_bytecode(self, bucket):
        try:
            super().dump_bytecode(bucket)
        except OSError:
            pass


def _bytecode_cache():
    """Compiled template files kept between runs (~/.cache/dockyard/jinja-<key>), None when there
    is no place for them. Parsing and compiling the templates took about a fifth of the
    controller's CPU in a no-op run. Jinja checks each template's source; the key covers what
    it does not check: this module, which sets up the environment, and Jinja's version."""
    key = hashlib.sha256(Path(__file__).read_bytes() + jinja2.__version__.encode()).hexdigest()[:16]
    directory = cache_dir() / ("jinja-" + key)
    try:
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError:
        return None
    return _QuietBytecodeCache(str(directory))
