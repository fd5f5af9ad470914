"""`provision`: the controller's command line.

    provision apply INVENTORY      prepare every host of an Ansible INI inventory
    provision inventory INVENTORY  print it as `ansible-inventory --list` does
    provision lab up|down|status   the local systemd-nspawn lab

Each verb only parses its flags and hands them to the module that owns the behaviour.
"""
import argparse
import sys

# Exit codes, as ansible-playbook's task queue manager uses them (bits, so both can show).
EXIT_OK = 0
EXIT_ERROR = 1           # bad input: inventory, flags, variables
EXIT_FAILED_HOSTS = 2
EXIT_UNREACHABLE_HOSTS = 4
EXIT_INTERRUPTED = 99    # Ctrl-C, as ansible-playbook's "user interrupted execution"


def build_parser():
    parser = argparse.ArgumentParser(prog="provision", description=__doc__.splitlines()[0])
    verbs = parser.add_subparsers(dest="verb", required=True)

    apply = verbs.add_parser(
        "apply", help="prepare the hosts of an inventory",
        epilog="exit status: 0 every host fine, 1 bad input, 2 failed hosts, 4 unreachable hosts"
               " (6: both), 99 interrupted")
    apply.add_argument("inventory", help="Ansible INI inventory file")
    apply.add_argument("--steps", metavar="FILE",
                       help="step file to apply (default provision/steps.yml)")
    apply.add_argument("-C", "--check", action="store_true", help="change nothing; say what would change")
    apply.add_argument("-D", "--diff", action="store_true", help="show file differences")
    apply.add_argument("-f", "--forks", type=int, default=20, help="hosts worked on at once (default 20)")
    apply.add_argument("-l", "--limit", help="host and group patterns, as ansible's --limit")
    apply.add_argument("-t", "--tags", help="only steps with these tags (comma-separated)")
    apply.add_argument("--skip-tags", help="skip steps with these tags (comma-separated)")
    apply.add_argument("-e", "--extra-vars", action="append", default=[], metavar="KEY=VALUE",
                       help="variables that override the inventory's")
    apply.add_argument("--report", metavar="FILE", help="write a JSON report of every step")
    apply.add_argument("--known-hosts", metavar="FILE",
                       help="known_hosts file (default ~/.ssh/known_hosts)")
    apply.add_argument("--accept-new-host-keys", action="store_true",
                       help="record keys of hosts never seen (never a changed key)")

    inventory = verbs.add_parser("inventory", help="print an inventory as ansible-inventory --list does")
    inventory.add_argument("inventory", help="Ansible INI inventory file")
    inventory.add_argument("--list", action="store_true", help="the whole inventory (the default)")
    inventory.add_argument("--host", help="one host's variables")

    lab = verbs.add_parser("lab", help="the local lab of systemd-nspawn hosts")
    lab_verbs = lab.add_subparsers(dest="lab_verb", required=True)
    up = lab_verbs.add_parser("up", help="build and boot the lab hosts")
    up.add_argument("--hosts", type=int, default=3, help="number of hosts (default 3)")
    lab_verbs.add_parser("down", help="remove every host, link, mount and rule of the lab")
    lab_verbs.add_parser("status", help="list the lab's hosts and what they hold")
    return parser


def main(argv=None):
    args = build_parser().parse_args(argv)
    if args.verb == "apply":
        # paramiko imports invoke (a tenth of a no-op run) only to run ssh_config's `Match exec`;
        # provision reads no ssh_config, so this process does without it.
        sys.modules.setdefault("invoke", None)
        from provision.runner import apply
        return apply(args)
    if args.verb == "inventory":
        from provision.inventory import main_inventory
        return main_inventory(args)
    from provision.lab.cli import main_lab
    return main_lab(args)


if __name__ == "__main__":
    sys.exit(main())
