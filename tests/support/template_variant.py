"""Writes template.yaml with other parameter defaults, for scanners that read a template without its
parameters (checkov evaluates a !Ref to a parameter by its Default): `template_variant.py
template.yaml OUT Name=value ...`. Only the `Default:` line of each named parameter changes."""
import re
import sys

source, target, *settings = sys.argv[1:]
text = open(source).read()
head, rest = text.split("\nParameters:\n", 1)
parameters, tail = rest.split("\nConditions:\n", 1)
for setting in settings:
    name, value = setting.split("=", 1)
    block = re.search(rf"(?ms)^  {name}:\n(.*?)(?=^  [A-Za-z]|\Z)", parameters)
    if not block or "    Default:" not in block.group(1):
        sys.exit(f"template_variant.py: no parameter {name} with a Default")
    changed = re.sub(r"(?m)^    Default: .*$", f"    Default: {value!r}".replace("'", '"'), block.group(1), count=1)
    parameters = parameters[: block.start(1)] + changed + parameters[block.end(1):]
open(target, "w").write(head + "\nParameters:\n" + parameters + "\nConditions:\n" + tail)
