"""The step file and the variables steps are rendered with: every error names where it is."""
import textwrap

import pytest

from provision import steps, variables


def write(tmp_path, text, name="steps.yml"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def load_error(tmp_path, text):
    path = write(tmp_path, text)
    with pytest.raises(steps.StepFileError) as error:
        steps.load(path)
    return str(error.value).replace(str(path), "FILE")


def test_a_valid_file_loads_with_its_handlers(tmp_path):
    loaded = steps.load(write(tmp_path, """
        steps:
          - name: conf
            tags: files
            action: template
            args: {src: a.j2, dest: "{{ base }}/a", mode: 0644}
            notify: reload
        handlers:
          - name: reload
            action: service
            args: {name: yard, state: restarted}
        """))
    (step,) = loaded.steps
    assert step.tags == ("files",) and step.notify == ("reload",)
    assert step.action.name == "template" and step.args["dest"] == "{{ base }}/a"
    assert loaded.handlers[0].name == "reload"
    assert loaded.directory == tmp_path


@pytest.mark.parametrize("text, message", [
    ("steps: [", "FILE: not valid YAML"),
    ("- a\n", "FILE: must be a mapping with `steps:`"),
    ("steps: []\nplays: []\n", "FILE line 1: unknown section 'plays'"),
    ("steps:\n  - action: file\n    args: {path: /x}\n", "FILE line 2: `name` is required"),
    ("steps:\n  - name: a\n    action: teleport\n", "FILE line 2 (step 'a'): action: no action 'teleport'"),
    ("steps:\n  - name: a\n    action: file\n    args: {path: /x}\n    retries: 3\n",
     "FILE line 2: unknown field 'retries'"),
    ("steps:\n  - name: a\n    action: file\n    args: {mode: '0644'}\n", "FILE line 2 (step 'a'): args.path: required"),
    ("steps:\n  - name: a\n    action: file\n    args: {path: /x, state: gone}\n",
     "FILE line 2 (step 'a'): args.state: 'gone' is not one of directory, absent, file"),
    ("steps:\n  - name: a\n    action: file\n    args: {path: /x}\n    notify: [nobody]\n",
     "FILE line 2 (step 'a'): notify: no handler named 'nobody'"),
    ("steps: []\nhandlers:\n  - {name: h, action: command, args: {cmd: x}}\n"
     "  - {name: h, action: command, args: {cmd: y}}\n", "FILE line 4 (step 'h'): a handler with this name"),
    ("steps:\n  - name: a\n    action: file\n    args: {path: /x}\n    tags: {a: 1}\n",
     "`tags` must be a name or a list of names"),
])
def test_step_file_errors_name_file_and_line(tmp_path, text, message):
    assert message in load_error(tmp_path, text)


def test_templated_arguments_wait_for_the_host(tmp_path):
    # A template where a path is expected is checked per host, once rendered.
    loaded = steps.load(write(tmp_path, "steps:\n  - {name: a, action: file, args: {path: '{{ p }}'}}\n"))
    assert loaded.steps[0].args == {"path": "{{ p }}"}


def test_missing_file():
    with pytest.raises(steps.StepFileError, match="cannot read"):
        steps.load("/nonexistent/steps.yml")


def test_tag_selection(tmp_path):
    loaded = steps.load(write(tmp_path, """
        steps:
          - {name: a, tags: [x], action: command, args: {cmd: a}}
          - {name: b, tags: [x, y], action: command, args: {cmd: b}}
          - {name: c, action: command, args: {cmd: c}}
        """))
    names = lambda selected: [s.name for s in selected]
    assert names(steps.select(loaded.steps)) == ["a", "b", "c"]
    assert names(steps.select(loaded.steps, ["y", "z"])) == ["b"]
    assert names(steps.select(loaded.steps, skip_tags=["y"])) == ["a", "c"]
    assert names(steps.select(loaded.steps, ["x"], ["y"])) == ["a"]
    assert steps.split_tags(" a, b ,,") == ["a", "b"]


# --- variables -------------------------------------------------------------------------------

def test_precedence_defaults_inventory_extra():
    scope = variables.host_variables({"a": 1, "b": 1, "c": 1}, {"b": 2, "c": 2}, {"c": 3}, {"arch": "x"})
    assert (scope["a"], scope["b"], scope["c"]) == (1, 2, 3)
    assert scope["facts"] == {"arch": "x"}


def test_variables_refer_to_variables_and_facts():
    scope = variables.host_variables(
        {"etc": "/etc/yard", "conf": "{{ etc }}/daemon.json", "deep": "{{ conf }}.bak",
         "ports": "{{ [5000, 5001] }}", "arch": "{{ facts.arch }}"}, {}, {}, {"arch": "aarch64"})
    assert scope["deep"] == "/etc/yard/daemon.json.bak"
    assert scope["ports"] == [5000, 5001]          # a lone expression keeps its type
    assert scope["arch"] == "aarch64"


def test_variable_errors_name_the_variable():
    with pytest.raises(variables.VariableError, match="variable conf: .*'etc' is undefined"):
        variables.host_variables({"conf": "{{ etc }}/x"}, {}, {}, {})
    with pytest.raises(variables.VariableError, match="cycle: a, b"):
        variables.host_variables({"a": "{{ b }}x", "b": "{{ a }}y"}, {}, {}, {})


def test_render_value_walks_lists_and_dicts():
    scope = {"n": 2, "name": "yard"}
    assert variables.render_value({"k": ["{{ name }}-{{ n }}", "{{ n }}", 7]}, scope) == {"k": ["yard-2", 2, 7]}


@pytest.mark.parametrize("when, expected", [
    (None, True), (True, True), (False, False),
    ("{{ enabled }}", True), ("{{ disabled }}", False),
    ("engine == 'yard'", True), ("engine == 'docker'", False),
    ("'registry' in group_names", False), ("{{ 'no' }}", False), ("{{ 'yes' | bool }}", True),
])
def test_when(when, expected):
    scope = {"enabled": True, "disabled": "false", "engine": "yard", "group_names": ["engines"]}
    assert variables.evaluate_when(when, scope) is expected


def test_a_lone_name_is_the_variable_itself_and_literals_stay_literals():
    value = ["a", {"b": 1}]
    scope = {"v": value, "true": "a variable called true", "not": 1}
    assert variables.render_value("{{ v }}", scope) is value
    assert variables.render_value("{{ true }}", scope) is True
    assert variables.render_value(" {{ range }}", scope) is range      # Jinja's global, not in scope
    with pytest.raises(variables.VariableError, match="'missing' is undefined"):
        variables.render_value("{{ missing }}", scope)
    with pytest.raises(variables.VariableError, match="not"):
        variables.render_value("{{ not }}", scope)


def test_when_with_an_undefined_name():
    with pytest.raises(variables.VariableError, match="'nope' is undefined"):
        variables.evaluate_when("nope == 1", {})


def test_extra_vars_forms(tmp_path):
    (tmp_path / "vars.yml").write_text("mirror: tuna\nports: [1, 2]\n")
    parsed = variables.parse_extra_vars(
        ["engine=docker selinux='permissive'", '{"epel": true}', "@%s" % (tmp_path / "vars.yml")])
    assert parsed == {"engine": "docker", "selinux": "permissive", "epel": True, "mirror": "tuna", "ports": [1, 2]}


@pytest.mark.parametrize("item, message", [
    ("novalue", "'novalue' is not KEY=VALUE"),
    ("@/nonexistent.yml", "cannot read"),
    ("{not: [valid", "not valid YAML/JSON"),
])
def test_extra_vars_errors(item, message):
    with pytest.raises(variables.VariableError, match=message):
        variables.parse_extra_vars([item])


def test_defaults_file(tmp_path):
    assert variables.load_defaults(tmp_path) == {}
    (tmp_path / "defaults.yml").write_text("- a list\n")
    with pytest.raises(variables.VariableError, match="defaults.yml: must be a mapping"):
        variables.load_defaults(tmp_path)


def test_templates_render_and_name_the_line_at_fault(tmp_path):
    (tmp_path / "templates").mkdir()
    (tmp_path / "templates" / "ok.j2").write_text(
        "{% for m in mirrors %}\n{{ m }}\n{% endfor %}\n{{ conf | to_nice_json }}\n")
    (tmp_path / "templates" / "bad.j2").write_text("line one\n{{ defined }}\n{{ missing }}\n")
    (tmp_path / "templates" / "syntax.j2").write_text("{% if %}\n")
    templates = variables.Templates(tmp_path)
    assert templates.render("ok.j2", {"mirrors": ["a", "b"], "conf": {"k": 1}}) == 'a\nb\n{\n  "k": 1\n}\n'
    with pytest.raises(variables.VariableError, match=r"template bad.j2 line 3: 'missing' is undefined"):
        templates.render("bad.j2", {"defined": 1})
    with pytest.raises(variables.VariableError, match=r"template syntax.j2 line 1: "):
        templates.render("syntax.j2", {})
    with pytest.raises(variables.VariableError, match=r"template none.j2: not found"):
        templates.render("none.j2", {})
