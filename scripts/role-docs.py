#!/usr/bin/env python3
"""Keep each role's documentation in step with its argument specs.

    scripts/role-docs.py           print the README's role-variable tables (markdown), from meta/argument_specs.yml
    scripts/role-docs.py --check   fail if README.md's tables differ from that, or if a role's defaults/main.yml
                                   and its argument specs do not list the same variables with the same defaults

make lint runs the check; after changing a role's inputs, run scripts/role-docs.py --write to update README.md.
"""

import argparse
import re
import sys
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parent.parent
ROLES = ("rabbitmq", "redis", "celery_worker")
BEGIN, END = "<!-- BEGIN role-variables (scripts/role-docs.py --write) -->", "<!-- END role-variables -->"


def spec_of(role):
    return yaml.safe_load((REPO / "roles" / role / "meta" / "argument_specs.yml").read_text())["argument_specs"]["main"]


def text(description):
    """A description as one line, with Ansible's C(code) markup as markdown code."""
    joined = " ".join(description) if isinstance(description, list) else str(description)
    return re.sub(r"\bC\(([^)]*)\)", r"`\1`", joined)


def cell(value):
    return str(value).replace("|", "\\|").replace("\n", " ")


def default_of(name, option):
    if option.get("required"):
        return "**required**" + (" (secret)" if option.get("no_log") else "")
    if "default" not in option:
        return "computed (see defaults/main.yml)"
    value = option["default"]
    return f"`{cell(yaml.safe_dump(value, default_flow_style=True, width=1000).strip().removesuffix('...').strip())}`"


def type_of(option):
    kind = option.get("type", "str")
    if "elements" in option:
        kind = f"{kind} of {option['elements']}"
    if "choices" in option:
        kind += ": " + ", ".join(f"`{choice}`" for choice in option["choices"])
    return kind


def suboptions(option):
    if not option.get("options"):
        return ""
    parts = [
        f"`{name}` ({type_of(sub)}): {text(sub.get('description', ''))}" for name, sub in option["options"].items()
    ]
    return "<br>" + "<br>".join(cell(part) for part in parts)


def tables():
    out = []
    for role in ROLES:
        spec = spec_of(role)
        out += [f"### {role}", "", text(spec.get("description", spec.get("short_description", ""))), ""]
        out += ["| variable | type | default | meaning |", "|---|---|---|---|"]
        for name, option in spec["options"].items():
            meaning = cell(text(option.get("description", ""))) + suboptions(option)
            out.append(f"| `{name}` | {cell(type_of(option))} | {default_of(name, option)} | {meaning} |")
        out.append("")
    return "\n".join(out)


def defaults_problems():
    problems = []
    for role in ROLES:
        options = spec_of(role)["options"]
        defaults = yaml.safe_load((REPO / "roles" / role / "defaults" / "main.yml").read_text()) or {}
        for name in sorted(set(options) - set(defaults)):
            if not options[name].get("required"):
                problems.append(f"{role}: {name} is in meta/argument_specs.yml but not in defaults/main.yml")
        for name in sorted(set(defaults) - set(options)):
            problems.append(f"{role}: {name} is in defaults/main.yml but not in meta/argument_specs.yml")
        for name in sorted(set(options) & set(defaults)):
            spec_default = options[name].get("default")
            literal = not (isinstance(defaults[name], str) and "{{" in defaults[name])
            if literal and "default" in options[name] and spec_default != defaults[name]:
                problems.append(
                    f"{role}: {name} defaults to {defaults[name]!r} in defaults/main.yml "
                    f"but to {spec_default!r} in meta/argument_specs.yml"
                )
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--check", action="store_true", help="check README.md and defaults/main.yml")
    group.add_argument("--write", action="store_true", help="rewrite the tables in README.md")
    options = parser.parse_args()

    generated = f"{BEGIN}\n\n{tables()}\n{END}"
    readme_path = REPO / "README.md"
    readme = readme_path.read_text()
    if not options.check and not options.write:
        print(tables())
        return
    start, end = readme.find(BEGIN), readme.find(END)
    if start < 0 or end < 0:
        sys.exit(f"role-docs: README.md lacks the markers {BEGIN!r} ... {END!r}")
    current = readme[start : end + len(END)]
    if options.write:
        readme_path.write_text(readme.replace(current, generated))
        return
    problems = defaults_problems()
    if current != generated:
        problems.append("README.md's role-variable tables are out of date: run scripts/role-docs.py --write")
    if problems:
        sys.exit("role-docs:\n  " + "\n  ".join(problems))
    print("role-docs: README.md and defaults/main.yml agree with the argument specs")


if __name__ == "__main__":
    main()
