"""Files the lab writes come from templates/lab/, rendered with Jinja2."""
import jinja2

from provision.lab.settings import TEMPLATES

_environment = jinja2.Environment(loader=jinja2.FileSystemLoader(str(TEMPLATES)),
                                  undefined=jinja2.StrictUndefined, keep_trailing_newline=True,
                                  trim_blocks=True, lstrip_blocks=True)


def render(name, **variables):
    return _environment.get_template(name).render(**variables)


def write(path, name, mode=0o644, **variables):
    """Render template `name` into path, replacing it whole."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(render(name, **variables))
    temporary.chmod(mode)
    temporary.replace(path)
