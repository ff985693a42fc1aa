"""Checks that framework/ is layered as its folders say.

Each folder may include headers of the folders before it in LAYERS, never of
one after it (tests may use framework/testing), and nothing in framework/
includes a plugin. The order is the
architecture: a file format knows nothing of training, the checkpoint format
knows nothing of the experiment, and so on. And every file a run reads or
writes goes through the Env (framework/core/env.h): no source but the POSIX
Env opens, writes, renames or removes a file itself.
"""
import re
import sys

LAYERS = ["core", "distributed", "formats", "model", "data", "optim", "train", "metrics", "checkpoint",
          "weights", "experiment", "testing"]
INCLUDE = re.compile(r'#include "([^"]+)"')

# Headers that must not reach, through any chain of includes, the headers
# listed: the checkpoint format, the metrics files and the stop signals need
# the loop's state (train/loop_state.h), not the loop with its communicator,
# gradient averager, optimizers and trainer.
LOOP_STACK = ("framework/distributed/", "framework/optim/", "framework/train/trainer.h",
              "framework/train/training_loop.h")
MUST_NOT_REACH = {
    "framework/train/loop_state.h": LOOP_STACK,
    "framework/checkpoint/checkpoint.h": LOOP_STACK,
    "framework/metrics/metrics_log.h": LOOP_STACK,
    "framework/metrics/training_events.h": LOOP_STACK,
    "framework/experiment/stop_signals.h": LOOP_STACK,
}


# File I/O that bypasses the Env (and so its fault injection). Queries that
# neither read nor write contents (exists, is_directory, listing) are allowed.
DIRECT_IO = re.compile(
    r"std::[io]?fstream|\bfopen\(|\bgzopen\(|(?<![\w.>:])(?:open|pread|pwrite|write|writev|"
    r"fsync|flock|unlink|rename)\(|(?:fs|filesystem)::(?:remove|remove_all|rename|"
    r"create_directory|create_directories|copy|copy_file|resize_file)\(")
ENV_IMPLEMENTATION = "framework/core/posix_env.cc"


def direct_io_problems(path, lines):
    if path.endswith(ENV_IMPLEMENTATION) or path.endswith("_test.cc"):
        return []
    problems = []
    for number, line in enumerate(lines, 1):
        code = line.split("//")[0]
        match = DIRECT_IO.search(code)
        if match:
            problems.append(f"{path}:{number}: file I/O outside the Env ({match.group(0)}); "
                            f"use framework/core/env.h")
    return problems


def includes_of(path):
    found = []
    for line in open(path):
        match = INCLUDE.match(line.strip())
        if match and match.group(1).startswith("framework/"):
            found.append(match.group(1))
    return found


def reach_problems(graph):
    """What each MUST_NOT_REACH header reaches that it must not, with the chain."""
    problems = []
    for start, forbidden in MUST_NOT_REACH.items():
        if start not in graph:
            problems.append(f"{start}: not among the sources checked")
            continue
        chains = {start: [start]}
        to_visit = [start]
        while to_visit:
            header = to_visit.pop()
            for included in graph.get(header, []):
                if included in chains:
                    continue
                chains[included] = chains[header] + [included]
                if included.startswith(forbidden):
                    problems.append(f"{start} reaches {included}: " + " -> ".join(chains[included]))
                to_visit.append(included)
    return problems


def self_test():
    """The reach check fails when the checkpoint format includes the loop again."""
    graph = {name: [] for name in MUST_NOT_REACH}
    graph["framework/checkpoint/checkpoint.h"] = ["framework/train/x.h"]
    graph["framework/train/x.h"] = ["framework/train/training_loop.h"]
    graph["framework/train/training_loop.h"] = ["framework/distributed/communicator.h"]
    found = reach_problems(graph)
    assert len(found) == 2 and "checkpoint.h -> framework/train/x.h -> " in found[0], found
    assert not reach_problems({name: [] for name in MUST_NOT_REACH})
    for bypass in ['  std::ofstream out(path);', '  const int fd = open(p.c_str(), O_RDONLY);',
                   '  fs::remove_all(dir, error);', '  if (rename(a, b) != 0) {']:
        assert direct_io_problems("framework/x/y.cc", [bypass]), bypass
    for allowed in ['  file->Append(data, size);', '  Env::Default()->RenameFile(a, b);',
                    '  fs::exists(path, error);', '  // open(2) is called by the Env',
                    '  writer.writeRecord("data.pkl", p, n);']:
        assert not direct_io_problems("framework/x/y.cc", [allowed]), allowed
    assert not direct_io_problems("framework/" + ENV_IMPLEMENTATION.split("framework/")[1],
                                  ['  open(p, O_RDONLY);'])


def main(paths):
    self_test()
    problems = []
    folders_seen = set()
    for path in paths:
        parts = path.split("/")
        folder = parts[parts.index("framework") + 1]
        folders_seen.add(folder)
        if folder not in LAYERS:
            problems.append(f"{path}: folder '{folder}' is not in the layer list")
            continue
        lines = open(path).readlines()
        problems += direct_io_problems(path, lines)
        for number, line in enumerate(lines, 1):
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
    graph = {}
    for path in paths:
        parts = path.split("/")
        graph["/".join(parts[parts.index("framework"):])] = includes_of(path)
    problems += reach_problems(graph)
    missing = set(LAYERS) - folders_seen
    if missing:
        problems.append(f"no sources seen for {sorted(missing)}: is the test's data complete?")
    for problem in problems:
        print(problem)
    print(f"{len(paths)} files checked: {0 if problems else 1} passed, {1 if problems else 0} failed")
    return 1 if problems else 0

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
