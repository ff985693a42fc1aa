"""`plugin_library`: a plugin built as a shared object, for --plugins."""

def plugin_library(name, srcs, copts = [], **kwargs):
    """Builds lib<name>.so from `srcs` against the framework's headers only.

    The object links no copy of the framework: its registrations and calls
    reach the binary that loads it (experiment binaries export their symbols).

    Args:
      name: the library is lib<name>.so.
      srcs: the plugin's sources, each with its REGISTER_* lines.
      copts: extra compiler options.
      **kwargs: passed to cc_binary (visibility, testonly...).
    """
    native.cc_binary(
        name = "lib%s.so" % name,
        srcs = srcs,
        copts = copts,
        linkshared = 1,
        deps = ["//framework:plugin_api"],
        **kwargs
    )
