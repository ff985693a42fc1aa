"""The `experiment` macro: a flag file plus the plugins it uses."""

def experiment(name, flags, plugins = ["//plugins:all_plugins"]):
    """A `bazel run`-able experiment.

    `bazel run //experiments:<name> -- --flag=value` runs the framework with
    the flag file first and the command-line flags after it, so the command
    line overrides the file.

    Args:
      name: experiment name; also the default run directory runs/<name>.
      flags: the gflags flag file that declares the experiment.
      plugins: plugin libraries to link in.
    """
    native.cc_binary(
        name = name,
        args = [
            "--experiment=" + name,
            "--flagfile=$(location %s)" % flags,
        ],
        data = [flags],
        deps = ["//framework:experiment_main"] + plugins,
    )
