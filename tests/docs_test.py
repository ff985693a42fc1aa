"""The docs cannot drift from the code: every fenced shell command in README.md
and docs/*.md that starts with tools/bazel, bazel-bin/ or tools/torchrun names
targets that exist (read from the packages' BUILD files, no build needed) and
flags that its binary knows (from the binary's --helpfull, or --help for
//tools:plot).

Usage: docs_test.py --build=PKG=BUILD_FILE... --binary=LABEL=PATH... PAGE.md...
Run with --self_test_misspelt_flag to see it fail on a page with a misspelt
flag (the sh_test does both).
"""
import os
import re
import subprocess
import sys

PREFIXES = ("tools/bazel", "bazel-bin/", "tools/torchrun")
LABEL = re.compile(r"^//([A-Za-z0-9_/.-]*)(?::([A-Za-z0-9_.+-]+))?$")
FLAG = re.compile(r"^--?(no)?([A-Za-z_][A-Za-z0-9_]*)(=.*)?$")
# Bazel's own and torchrun's options come before the target or binary.
KNOWN_NAMES_OF = {}


def commands(page):
    """(line number, command) of each shell command the page's fences hold."""
    found, fence, pending, start = [], None, "", 0
    for number, line in enumerate(open(page, encoding="utf-8"), 1):
        stripped = line.strip()
        if stripped.startswith("```"):
            fence = None if fence is not None else stripped[3:].strip()
            continue
        if fence not in ("sh", "bash", "shell", ""):
            continue
        if not pending:
            start = number
        text = re.sub(r"\s+#.*$", "", stripped) if not stripped.startswith("#") else ""
        if text.endswith("\\"):
            pending += text[:-1] + " "
            continue
        text, pending = pending + text, ""
        if text.startswith(("$ ", "# ")):
            text = text[2:]
        text = re.sub(r"^(\w+=\S+\s+)+", "", text)  # VAR=value prefixes
        if text.startswith(PREFIXES):
            found.append((start, text))
    return found


def declared_targets(build_file):
    text = open(build_file, encoding="utf-8").read()
    names = set(re.findall(r'\bname\s*=\s*"([^"]+)"', text))
    for files in re.findall(r"exports_files\(\s*\[([^\]]*)\]", text):
        names.update(re.findall(r'"([^"]+)"', files))
    return names


def helpfull_names(path):
    if path not in KNOWN_NAMES_OF:
        args = ["--help"] if path.endswith((".sh", "plot")) else ["--helpfull"]
        out = subprocess.run([path] + args, capture_output=True, text=True, timeout=60)
        text = out.stdout + out.stderr
        KNOWN_NAMES_OF[path] = set(re.findall(r"(?:^|\s)--?([A-Za-z_][A-Za-z0-9_]*)", text))
    return KNOWN_NAMES_OF[path]


def check_command(command, builds, binaries, package_root):
    """Problems of one command: unknown targets, binaries or flags."""
    problems = []
    words = command.split()
    target_of_flags = None
    flags = []
    if words[0].startswith("bazel-bin/"):
        path = words[0][len("bazel-bin/"):]
        package, _, name = path.rpartition("/")
        label = f"//{package}:{name}"
        problems += check_label(label, builds, package_root)
        target_of_flags, flags = label, words[1:]
    elif words[0] == "tools/torchrun":
        binary = next((w for w in words[1:] if w.startswith("bazel-bin/")), None)
        if binary is not None:
            rest = words[words.index(binary):]
            return check_command(" ".join(rest), builds, binaries, package_root)
    else:  # tools/bazel
        if "--" in words:
            flags = words[words.index("--") + 1:]
            words = words[:words.index("--")]
        labels = [w for w in words if w.startswith("//")]
        for label in labels:
            problems += check_label(label, builds, package_root)
        if "run" in words and labels:
            target_of_flags = labels[0]
    if target_of_flags is not None and flags:
        binary = binaries.get(target_of_flags)
        if binary is None and target_of_flags.startswith("//experiments:"):
            binary = binaries.get("//experiments:train")
        if binary is not None:
            known = helpfull_names(binary)
            for word in flags:
                match = FLAG.match(word)
                if not match:
                    continue
                name = match.group(2)
                if name not in known and not (match.group(1) and "no" + name in known):
                    problems.append(f"{target_of_flags} has no flag --{match.group(1) or ''}{name}")
    return problems


def check_label(label, builds, package_root):
    if label.endswith("/...") or label == "//...":
        package = label[2:-4].rstrip("/")
        return [] if package == "" or package in builds else [f"no package {package} for {label}"]
    match = LABEL.match(label)
    if not match:
        return [f"not a label: {label}"]
    package, name = match.group(1), match.group(2) or match.group(1).rsplit("/", 1)[-1]
    if package not in builds:
        return [f"no package //{package} (for {label})"]
    if name in ("all", "*") or name in declared_targets(builds[package]):
        return []
    if name.startswith("lib") and name.endswith(".so") and \
            name[3:-3] in declared_targets(builds[package]):
        return []  # plugin_library(name) builds lib<name>.so
    return [f"//{package} declares no target '{name}' (for {label})"]


def check_pages(pages, builds, binaries):
    problems, count = [], 0
    for page in pages:
        for number, command in commands(page):
            count += 1
            for problem in check_command(command, builds, binaries, None):
                problems.append(f"{page}:{number}: {problem}: {command}")
    return problems, count


def main(argv):
    builds, binaries, pages = {}, {}, []
    self_test = False
    for arg in argv:
        if arg.startswith("--build="):
            package, _, path = arg[len("--build="):].partition("=")
            builds[package] = path
        elif arg.startswith("--binary="):
            label, _, path = arg[len("--binary="):].partition("=")
            binaries[label] = path
        elif arg == "--self_test_misspelt_flag":
            self_test = True
        else:
            pages.append(arg)
    problems, count = check_pages(pages, builds, binaries)
    for problem in problems:
        print(problem)
    print(f"{count} commands checked in {len(pages)} pages")
    failed = 1 if problems else 0
    if self_test:
        # A page with a misspelt flag and an unknown target must fail.
        bad = os.path.join(os.environ.get("TEST_TMPDIR", "/tmp"), "misspelt.md")
        with open(bad, "w") as out:
            out.write("```sh\ntools/bazel run //experiments:lenet -- --epoch=3\n"
                      "tools/bazel run //tools:ckpt_tool -- list runs/lenet\n```\n")
        found, _ = check_pages([bad], builds, binaries)
        print("self test, a misspelt page:", found)
        ok = (any("has no flag --epoch" in p for p in found) and
              any("declares no target 'ckpt_tool'" in p for p in found) and len(found) == 2)
        if not ok:
            print("FAIL: the check did not catch the misspelt flag and target")
            failed += 1
        print(f"{1 if ok else 0} passed, {0 if ok else 1} failed (self test)")
    print(f"{1 - min(failed, 1)} passed, {min(failed, 1)} failed")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
