"""Checks that framework/ is layered as its folders say.

Each folder may include headers of the folders before it in LAYERS, never of
one after it (tests may use framework/testing), and nothing in framework/
includes a plugin. The order is the
architecture: a file format knows nothing of training, the checkpoint format
knows nothing of the experiment, and so on.
"""
import re
import sys

LAYERS = ["core", "distributed", "formats", "model", "data", "optim", "train", "metrics", "checkpoint",
          "weights", "experiment", "testing"]
INCLUDE = re.compile(r'#include "([^"]+)"')

def main(paths):
    problems = []
    folders_seen = set()
    for path in paths:
        parts = path.split("/")
        folder = parts[parts.index("framework") + 1]
        folders_seen.add(folder)
        if folder not in LAYERS:
            problems.append(f"{path}: folder '{folder}' is not in the layer list")
            continue
        for number, line in enumerate(open(path), 1):
            match = INCLUDE.match(line.strip())
            if not match:
                continue
            header = match.group(1)
            if header.startswith("plugins/"):
                problems.append(f"{path}:{number}: framework/ includes a plugin: {header}")
            if not header.startswith("framework/"):
                continue
            included = header.split("/")[1]
            if included not in LAYERS:
                problems.append(f"{path}:{number}: unknown folder in {header}")
            elif included == "testing" and path.endswith("_test.cc"):
                continue  # tests of any layer use the shared test helpers
            elif LAYERS.index(included) > LAYERS.index(folder):
                problems.append(f"{path}:{number}: framework/{folder} includes {header}, "
                                f"a folder above it")
    missing = set(LAYERS) - folders_seen
    if missing:
        problems.append(f"no sources seen for {sorted(missing)}: is the test's data complete?")
    for problem in problems:
        print(problem)
    print(f"{len(paths)} files checked: {0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
