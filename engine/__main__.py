"""Entry point of the engine bundle (yard.pyz): one zipapp, two programs.

The program is chosen by the name it was started as (a `yard` or `yardd` link or launcher),
or else by a first argument `yard` / `yardd`, as in `python3 yard.pyz yardd --config-file F`.
"""
import importlib
import os
import sys

PROGRAMS = {
    "yard": "engine.cli.main",
    "yardd": "engine.daemon",
}

USAGE = "usage: %s {yard|yardd} [ARGS...]\n"


def choose(argv):
    """(program name, its arguments) for a command line, or (None, argv) when neither names one."""
    invoked_as = os.path.basename(argv[0]) if argv else ""
    if invoked_as in PROGRAMS:
        return invoked_as, argv[1:]
    if len(argv) > 1 and argv[1] in PROGRAMS:
        return argv[1], argv[2:]
    return None, argv[1:]


def main(argv=None):
    argv = list(sys.argv if argv is None else argv)
    program, args = choose(argv)
    if program is None:
        sys.stderr.write(USAGE % (os.path.basename(argv[0]) if argv else "yard.pyz"))
        return 2
    # Each program reads sys.argv as its own, so its messages name it and not the bundle.
    sys.argv = [program] + args
    module = importlib.import_module(PROGRAMS[program])
    return module.main(args)


if __name__ == "__main__":
    sys.exit(main())
